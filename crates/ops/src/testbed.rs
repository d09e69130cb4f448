//! The testbed file: one description of a scheme (FSPs, currency, NDC, funds, numbers, where the
//! hub's services and databases are) shared by `onboard`, `msisdn`, `positions` and `kafka`.
//!
//! ```toml
//! currency = "XXX"
//! ndc = 10000000          # NET_DEBIT_CAP per DFSP
//! funds = 100000000       # settlement funds per DFSP (funds-in)
//! msisdns = 100000        # numbers per DFSP (index 0..msisdns of the perffsp scheme)
//!
//! [hub]
//! admin = "http://central-ledger:3001"
//! oracle = "http://als-msisdn-oracle:3000"
//! als = "http://account-lookup-service:4002"
//! ledger_db = "mysql://root@mysql:3306/central_ledger"
//! oracle_db = "mysql://root@mysql:3306/oracle_msisdn"
//! kafka = "kafka:9092"
//! signs = false           # the hub signs its own messages (ml-api-adapter JWS_SIGN)
//!
//! [[dfsp]]
//! id = "perffsp1"
//! callback = "http://perffsp1:4001"
//!
//! [switch_metrics]        # the switch's own histograms per leg, in the report
//! prometheus = "http://prometheus:9090"   # or/and scrape the services directly:
//! interval = "2s"         # how often perfbed scrapes the endpoints during the run
//! extra = ["moja_cl_domain_position"]     # histograms beyond the known legs
//! [[switch_metrics.endpoint]]
//! service = "central-ledger"
//! url = "http://central-ledger-handlers:3001/metrics"
//! ```

use serde::Deserialize;
use std::path::Path;

/// A whole testbed.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Testbed {
    /// Currency of every account.
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Net debit cap per DFSP.
    #[serde(default = "default_ndc")]
    pub ndc: u64,
    /// Settlement funds per DFSP.
    #[serde(default = "default_funds")]
    pub funds: u64,
    /// Numbers per DFSP.
    #[serde(default = "default_msisdns")]
    pub msisdns: u32,
    /// Where the hub is.
    #[serde(default)]
    pub hub: HubAddresses,
    /// The DFSPs.
    #[serde(default, rename = "dfsp")]
    pub dfsps: Vec<TestbedDfsp>,
    /// Where the switch's own histograms come from (none: the report has no per-leg section).
    #[serde(default)]
    pub switch_metrics: SwitchMetricsSources,
}

/// Where the switch's Prometheus histograms come from: `/metrics` endpoints perfbed scrapes
/// during the run, a Prometheus server's HTTP API asked afterwards, or both (the report then
/// shows each source's legs, for the same window).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SwitchMetricsSources {
    /// Services' `/metrics` endpoints.
    #[serde(default, rename = "endpoint")]
    pub endpoints: Vec<MetricsEndpoint>,
    /// A Prometheus server's base URL (`http://prometheus:9090`).
    pub prometheus: Option<String>,
    /// How often the endpoints are scraped (and the Prometheus query's step); default 2 s.
    #[serde(default, with = "humantime_opt")]
    pub interval: Option<std::time::Duration>,
    /// Histograms to show beyond the known legs, by full name (`moja_cl_domain_position`).
    #[serde(default)]
    pub extra: Vec<String>,
}

impl SwitchMetricsSources {
    /// Whether any source is given.
    pub fn any(&self) -> bool {
        !self.endpoints.is_empty() || self.prometheus.is_some()
    }
}

/// One service's `/metrics` endpoint.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricsEndpoint {
    /// The service (`central-ledger`, `ml-api-adapter`, …): its known legs are expected there.
    pub service: String,
    /// The full URL (`http://central-ledger-handlers:3001/metrics`).
    pub url: String,
}

mod humantime_opt {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<std::time::Duration>, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_duration(&s)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(format!("'{s}': a duration must be more than 0")),
        Err(e) => Err(format!("'{s}' is not a duration (500ms, 2s, 1m): {e}")),
    }
}

/// Addresses of the hub's services (any may be absent; the command that needs one says so).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HubAddresses {
    /// central-ledger admin API (`…/admin` on the emulator).
    pub admin: Option<String>,
    /// Oracle REST API (`…/oracle` on the emulator).
    pub oracle: Option<String>,
    /// ALS FSPIOP API (the emulator's FSPIOP base).
    pub als: Option<String>,
    /// ALS admin API (account-lookup-service's admin port, 4001; `…/als-admin` on the
    /// emulator): preflight reads its oracles (`GET /oracles`) to check one serves MSISDN in
    /// the testbed's currency.
    pub als_admin: Option<String>,
    /// central_ledger database URL (`mysql://user:password@host:port/schema`).
    pub ledger_db: Option<String>,
    /// MSISDN oracle database URL.
    pub oracle_db: Option<String>,
    /// Kafka bootstrap servers.
    pub kafka: Option<String>,
    /// Whether the hub signs the messages it originates (ml-api-adapter `JWS_SIGN`): then every
    /// simulator needs the hub's public key (`Hub.pem` in its keys), and preflight checks they
    /// have it; `false`: none may expect a signature.
    pub signs: Option<bool>,
}

/// One DFSP of the testbed.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TestbedDfsp {
    /// FSP id.
    pub id: String,
    /// Callback base URL (the simulator serving it).
    #[serde(default)]
    pub callback: Option<String>,
    /// Numbers for this DFSP (overrides the testbed's `msisdns`).
    #[serde(default)]
    pub msisdns: Option<u32>,
}

fn default_currency() -> String {
    "XXX".into()
}
fn default_ndc() -> u64 {
    10_000_000
}
fn default_funds() -> u64 {
    100_000_000
}
fn default_msisdns() -> u32 {
    1000
}

impl Default for Testbed {
    fn default() -> Self {
        Testbed {
            currency: default_currency(),
            ndc: default_ndc(),
            funds: default_funds(),
            msisdns: default_msisdns(),
            hub: HubAddresses::default(),
            dfsps: Vec::new(),
            switch_metrics: SwitchMetricsSources::default(),
        }
    }
}

impl Testbed {
    /// Parses and checks a testbed file's text.
    pub fn parse(text: &str) -> Result<Testbed, String> {
        let t: Testbed = toml::from_str(text).map_err(|e| e.to_string())?;
        t.validate()?;
        Ok(t)
    }

    /// Reads a testbed file.
    pub fn load(path: &Path) -> Result<Testbed, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read testbed file {}: {e}", path.display()))?;
        Testbed::parse(&text).map_err(|e| format!("testbed file {}: {e}", path.display()))
    }

    /// Checks ids, currency and URLs.
    pub fn validate(&self) -> Result<(), String> {
        if self.currency.parse::<fspiop::types::Currency>().is_err() {
            return Err(format!(
                "currency '{}' is not an ISO 4217 code (e.g. XXX, USD)",
                self.currency
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for d in &self.dfsps {
            if d.id.parse::<fspiop::types::FspId>().is_err() {
                return Err(format!("dfsp id '{}' is not a valid FSP id", d.id));
            }
            if !seen.insert(d.id.as_str()) {
                return Err(format!("dfsp '{}' is listed twice", d.id));
            }
            if let Some(u) = &d.callback {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(format!(
                        "dfsp '{}': callback '{u}' must start with http:// or https://",
                        d.id
                    ));
                }
            }
        }
        let m = &self.switch_metrics;
        for u in m.endpoints.iter().map(|e| &e.url).chain(&m.prometheus) {
            if !u.starts_with("http://") {
                return Err(format!(
                    "switch_metrics: '{u}' must start with http:// (plain HTTP, like Prometheus scrapes)"
                ));
            }
        }
        Ok(())
    }

    /// The DFSP ids, in file order.
    pub fn ids(&self) -> Vec<String> {
        self.dfsps.iter().map(|d| d.id.clone()).collect()
    }

    /// Numbers for `dfsp`.
    pub fn msisdns_of(&self, dfsp: &TestbedDfsp) -> u32 {
        dfsp.msisdns.unwrap_or(self.msisdns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let text = include_str!("testbed.rs")
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| l.trim_start_matches("//!").trim_start())
            .collect::<Vec<_>>()
            .join("\n");
        let t = Testbed::parse(&text).unwrap();
        assert_eq!(t.dfsps.len(), 1);
        assert_eq!(t.hub.kafka.as_deref(), Some("kafka:9092"));
        assert_eq!(t.msisdns, 100_000);
        let m = &t.switch_metrics;
        assert_eq!(m.endpoints[0].service, "central-ledger");
        assert_eq!(m.interval, Some(std::time::Duration::from_secs(2)));
        assert_eq!(m.extra, ["moja_cl_domain_position"]);
    }

    #[test]
    fn the_shipped_example_parses() {
        let t = Testbed::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testbeds/example.toml"
        )))
        .unwrap();
        assert_eq!(t.dfsps.len(), 8);
        assert_eq!(t.msisdns_of(&t.dfsps[7]), 1_000_000);
        assert_eq!(t.msisdns_of(&t.dfsps[0]), 100_000);
    }

    #[test]
    fn says_what_is_wrong() {
        let e = Testbed::parse("currency = \"XX\"").unwrap_err();
        assert!(e.contains("ISO 4217"), "{e}");
        let e = Testbed::parse("[[dfsp]]\nid = \"a\"\n[[dfsp]]\nid = \"a\"").unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let e = Testbed::parse("[[dfsp]]\nid = \"a\"\ncallback = \"ftp://x\"").unwrap_err();
        assert!(e.contains("http://"), "{e}");
        let e = Testbed::parse("[switch_metrics]\nprometheus = \"prom:9090\"").unwrap_err();
        assert!(e.contains("http://"), "{e}");
        let e = Testbed::parse("[switch_metrics]\ninterval = \"2 fortnights\"").unwrap_err();
        assert!(e.contains("duration"), "{e}");
        let e = Testbed::parse("ndcc = 1").unwrap_err();
        assert!(e.contains("ndcc"), "{e}");
    }
}
