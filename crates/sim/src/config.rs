//! Simulator configuration: which FSPs one process serves, where the hub is, security, and the
//! behaviour of each FSP (parties, fees, rejections, latency, errors, RESERVED vs COMMITTED).
//!
//! Everything has a default, so `perfbed sim --fsp perffsp5 --hub URL` runs; a TOML file
//! (`--config`) sets behaviours per FSP. See `docs/sim.md` for a commented example.

use fspiop::error::ErrorCode;
use fspiop::ilp::IlpVersion;
use fspiop::jws::VerifyMode;
use fspiop::testbed;
use fspiop::types::Amount;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Base URLs of the hub services the simulator calls back. One URL serves all by default; a
/// real Mojaloop has one per service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubUrls {
    /// ALS: `/parties`, `/participants`.
    pub parties: String,
    /// quoting-service: `/quotes`.
    pub quotes: String,
    /// ml-api-adapter: `/transfers`.
    pub transfers: String,
}

impl HubUrls {
    /// The same base URL for every service (hub emulator, or a gateway routing by path).
    pub fn single(base: &str) -> HubUrls {
        let base = base.trim_end_matches('/').to_owned();
        HubUrls {
            parties: base.clone(),
            quotes: base.clone(),
            transfers: base,
        }
    }

    /// The base URL for a resource (`parties`/`participants`, `quotes`, `transfers`).
    pub fn for_resource(&self, resource: &str) -> &str {
        match resource {
            "quotes" => &self.quotes,
            "transfers" => &self.transfers,
            _ => &self.parties,
        }
    }
}

pub use perfbed_http::latency::Latency;

/// Which payee step a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// `POST /quotes`.
    Quote,
    /// `POST /transfers`.
    Transfer,
}

/// Reject a quote or transfer: by amount, by payee MSISDN, or at random.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectRule {
    /// Which step.
    pub on: Stage,
    /// Error code sent in the `/error` callback (e.g. 5101/5103 quotes, 5104/5105 transfers).
    pub code: u16,
    /// Applies when the amount is strictly above this.
    #[serde(default)]
    pub amount_above: Option<Amount>,
    /// Applies to these payee MSISDNs.
    #[serde(default)]
    pub msisdns: Vec<String>,
    /// Applies to this share of requests at random (0.0–1.0).
    #[serde(default)]
    pub rate: Option<f64>,
}

/// Behaviour of one simulated FSP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Behaviour {
    /// How many numbers of the FSP's default range exist (index < this).
    pub range_size: u32,
    /// Index ranges `[from, to]` (inclusive) inside the range that answer 3204 anyway.
    pub unknown: Vec<[u32; 2]>,
    /// Party names: `{first}`/`{last}` templates; `{i}` is the number's index.
    pub first_name: String,
    /// Last-name template.
    pub last_name: String,
    /// Payee FSP fee added to quotes, as an amount in the quote's currency.
    pub quote_fee: Option<Amount>,
    /// Rejection rules, checked in order.
    pub reject: Vec<RejectRule>,
    /// Added latency before answering lookups.
    pub lookup_latency: Latency,
    /// Added latency before answering quotes.
    pub quote_latency: Latency,
    /// Added latency before answering transfers.
    pub transfer_latency: Latency,
    /// Answer `RESERVED` (the hub then commits and PATCHes) instead of `COMMITTED`.
    pub answer_reserved: bool,
    /// ILP packet format in quote responses.
    pub ilp_version: IlpVersion,
    /// Check that an incoming transfer's ILP packet matches it (payer, payee, amount, condition).
    pub check_ilp: bool,
    /// A fault for tests: send every callback twice (the same message), as a payee whose
    /// retry logic misfires does. The switch must answer the second as a duplicate and the
    /// payer must count the transfer once.
    pub answer_twice: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            range_size: testbed::DEFAULT_RANGE_SIZE,
            unknown: Vec::new(),
            first_name: "Perf".into(),
            last_name: "User {i}".into(),
            quote_fee: None,
            reject: Vec::new(),
            lookup_latency: Latency::None,
            quote_latency: Latency::None,
            transfer_latency: Latency::None,
            answer_reserved: false,
            ilp_version: IlpVersion::V4,
            check_ilp: true,
            answer_twice: false,
        }
    }
}

impl Behaviour {
    /// Checks values a TOML file could get wrong, naming the field.
    pub fn validate(&self, fsp: &str) -> Result<(), String> {
        if self.range_size == 0 || self.range_size > testbed::DEFAULT_RANGE_SIZE {
            return Err(format!("{fsp}: range_size must be 1..=1000000"));
        }
        for (name, l) in [
            ("lookup_latency", &self.lookup_latency),
            ("quote_latency", &self.quote_latency),
            ("transfer_latency", &self.transfer_latency),
        ] {
            l.validate().map_err(|e| format!("{fsp}.{name}: {e}"))?;
        }
        for r in &self.reject {
            if !ErrorCode::from_code(r.code).is_defined() && !(1000..=5999).contains(&r.code) {
                return Err(format!(
                    "{fsp}: reject code {} is not an FSPIOP error code",
                    r.code
                ));
            }
            if r.rate.is_some_and(|x| !(0.0..=1.0).contains(&x)) {
                return Err(format!("{fsp}: reject rate must be between 0 and 1"));
            }
            if r.amount_above.is_none() && r.msisdns.is_empty() && r.rate.is_none() {
                return Err(format!(
                    "{fsp}: a reject rule needs amount_above, msisdns or rate"
                ));
            }
        }
        Ok(())
    }
}

/// The whole simulator configuration.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// FSP ids served by this process, with their behaviour.
    pub fsps: BTreeMap<String, Behaviour>,
    /// Where callbacks and payer requests go.
    pub hub: HubUrls,
    /// The hub's FSP id (sender of unsigned hub-originated messages).
    pub hub_id: String,
    /// Sign outgoing requests and verify incoming ones.
    pub jws: bool,
    /// How incoming signatures are verified.
    pub verify_mode: VerifyMode,
    /// Secret for ILP fulfilments (every replica must share it).
    pub ilp_secret: String,
    /// FSPIOP version of requests the payer starts.
    pub version: fspiop::headers::Version,
    /// FSPIOP or ISO 20022 bodies and media types (ISO: version 2.0, ULID ids, ILP v4).
    pub api: fspiop::iso::Api,
    /// Most callbacks in flight; beyond that requests are shed with 503/2003.
    pub max_in_flight: usize,
    /// Timeout of each outbound HTTP request (each attempt of a callback).
    pub http_timeout: Duration,
    /// How an undelivered callback is sent again (see [`perfbed_http::Retry`]).
    pub callback_retry: perfbed_http::Retry,
    /// This process is one of several driver replicas behind one address (distributed load).
    /// Replicas authenticate the callbacks they relay to each other with `ilp_secret`.
    pub replicas: Option<Replicas>,
    /// TEST ONLY: shifts this simulator's wall clock (trace stamps, relay receipt times, the
    /// clock its peers measure, `/health`'s time) by this many nanoseconds, so a test can run
    /// replicas whose clocks disagree (`perfbed run --test-clock-shift`). Zero otherwise.
    pub test_clock_shift_ns: i64,
}

/// Replica `index` of `count`, each owning a disjoint slice of ids and numbers; a payer callback
/// that lands on the wrong replica is relayed to its owner (`peers[owner]`) with its receipt time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replicas {
    /// This replica, 0-based.
    pub index: u16,
    /// How many.
    pub count: u16,
    /// Base URL of every replica's simulator, by index.
    pub peers: Vec<String>,
}

/// The ILP secret used when none is given: TEST-ONLY, known to everyone. Every replica of a
/// payee must share the real one (`--ilp-secret` / `PERFBED_ILP_SECRET`).
pub const TEST_ILP_SECRET: &str = "perfbed-test-ilp-secret";

/// Header carrying a relayed callback's receipt time (Unix nanoseconds) to its owner. It
/// backdates the callback's receipt, so it is honoured only with a valid [`RELAY_MAC`] and only
/// by a replica (`replicas` configured); otherwise it is dropped and counted
/// (`perffsp_relay_headers_dropped_total`).
pub const RELAYED_AT: &str = "x-perfbed-relayed-at";

/// Header proving a relay came from a peer replica: hex HMAC-SHA256 over the method, path,
/// [`RELAYED_AT`] and [`RELAYED_BY`] values and body, keyed with a key derived from the ILP secret every replica
/// shares (`--ilp-secret`).
pub const RELAY_MAC: &str = "x-perfbed-relay-mac";

/// Header naming the replica (its index) that relayed a callback: whose clock its
/// [`RELAYED_AT`] is on (see [`crate::clock`]). Covered by [`RELAY_MAC`].
pub const RELAYED_BY: &str = "x-perfbed-relayed-by";

impl Replicas {
    /// Checks the index, count and peers.
    pub fn new(index: u16, count: u16, peers: Vec<String>) -> Result<Replicas, String> {
        if count == 0 || index >= count {
            return Err(format!(
                "replica {index}/{count}: the index must be below the count"
            ));
        }
        if peers.len() != count as usize {
            return Err(format!(
                "{count} replicas need {count} peer URLs (got {})",
                peers.len()
            ));
        }
        Ok(Replicas {
            index,
            count,
            peers: peers
                .into_iter()
                .map(|p| p.trim_end_matches('/').to_owned())
                .collect(),
        })
    }

    /// Peers from a template with `{i}` (e.g. `http://load-{i}.load:4000`) or a comma list.
    pub fn peers_from(spec: &str, count: u16) -> Vec<String> {
        if spec.contains("{i}") {
            (0..count)
                .map(|i| spec.replace("{i}", &i.to_string()))
                .collect()
        } else {
            spec.split(',').map(|s| s.trim().to_owned()).collect()
        }
    }

    /// The replica that made an id: its index sits in the id's last 16 bits (see
    /// [`Replicas::stamp`]).
    pub fn owner_of_id(&self, id: &str) -> Option<u16> {
        // ISO 20022 mode: a ULID, whose low 16 bits are the stamp.
        if let Some(bits) = fspiop::iso::ulid_bits(id) {
            return Some((bits & 0xffff) as u16 % self.count);
        }
        let tail = id.get(id.len().checked_sub(4)?..)?;
        u16::from_str_radix(tail, 16).ok().map(|v| v % self.count)
    }

    /// The replica a pending key belongs to: ids by their stamp, numbers by their index.
    pub fn owner_of_key(&self, key: &str) -> Option<u16> {
        let (kind, rest) = key.split_once(':')?;
        match kind {
            "t" | "q" => self.owner_of_id(rest),
            "p" => {
                let number = rest.split('/').nth(1)?;
                let (_, i) = fspiop::testbed::msisdn_owner(number)?;
                Some((i % u32::from(self.count)) as u16)
            }
            _ => None,
        }
    }

    /// Random id bytes stamped with this replica's index.
    pub fn stamp(&self, mut bytes: [u8; 16]) -> [u8; 16] {
        bytes[14..16].copy_from_slice(&self.index.to_be_bytes());
        bytes
    }

    /// Number indexes this replica uses among `0..per_fsp`: `index, index + count, …`; the
    /// `r`-th of them.
    pub fn number_index(&self, r: u64, per_fsp: u32) -> u32 {
        let mine = (per_fsp.saturating_sub(u32::from(self.index)))
            .div_ceil(u32::from(self.count))
            .max(1);
        u32::from(self.index) + u32::from(self.count) * (r % u64::from(mine)) as u32
    }
}

impl SimConfig {
    /// Defaults for the given FSPs and hub URL.
    pub fn new(fsps: &[String], hub: &str) -> SimConfig {
        SimConfig {
            fsps: fsps
                .iter()
                .map(|f| (f.clone(), Behaviour::default()))
                .collect(),
            hub: HubUrls::single(hub),
            hub_id: "Hub".into(),
            jws: false,
            verify_mode: VerifyMode::Raw,
            ilp_secret: TEST_ILP_SECRET.into(),
            version: fspiop::headers::Version::V1_1,
            api: fspiop::iso::Api::Fspiop,
            max_in_flight: 10_000,
            http_timeout: Duration::from_secs(20),
            callback_retry: perfbed_http::Retry::default(),
            replicas: None,
            test_clock_shift_ns: 0,
        }
    }
}

/// A behaviours file: `[fsp.perffsp5]` tables with [`Behaviour`] fields, and `[default]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviourFile {
    /// Applies to every FSP not listed under `fsp`.
    #[serde(default)]
    pub default: Option<Behaviour>,
    /// Per FSP.
    #[serde(default)]
    pub fsp: BTreeMap<String, Behaviour>,
}

impl BehaviourFile {
    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<BehaviourFile, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Applies the file to a configuration: listed FSPs get their table, others the default.
    pub fn apply(&self, config: &mut SimConfig) -> Result<(), String> {
        for name in self.fsp.keys() {
            if !config.fsps.contains_key(name) {
                return Err(format!(
                    "behaviour for '{name}', which this process does not serve (add --fsp {name})"
                ));
            }
        }
        for (name, b) in config.fsps.iter_mut() {
            if let Some(x) = self.fsp.get(name).or(self.default.as_ref()) {
                *b = x.clone();
            }
            b.validate(name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviour_file_parses_and_applies() {
        let text = r#"
[default]
first_name = "Test"

[fsp.perffsp5]
range_size = 1000
unknown = [[900, 999]]
quote_fee = "1.5"
answer_reserved = true
ilp_version = "v1"
transfer_latency = { dist = "lognormal", median_ms = 5.0, sigma = 0.5 }
reject = [{ on = "transfer", code = 5105, amount_above = "1000" }]
"#;
        let file = BehaviourFile::parse(text).unwrap();
        let mut c = SimConfig::new(&["perffsp5".into(), "perffsp6".into()], "http://hub");
        file.apply(&mut c).unwrap();
        let b5 = &c.fsps["perffsp5"];
        assert_eq!(b5.range_size, 1000);
        assert!(b5.answer_reserved);
        assert_eq!(b5.ilp_version, IlpVersion::V1);
        assert_eq!(b5.reject[0].code, 5105);
        assert_eq!(c.fsps["perffsp6"].first_name, "Test");

        assert!(
            BehaviourFile::parse("[fsp.perffsp5]\nrange = 1").is_err(),
            "unknown field"
        );
        let other = BehaviourFile::parse("[fsp.perffsp9]\n").unwrap();
        assert!(other.apply(&mut c).unwrap_err().contains("--fsp perffsp9"));
        let bad =
            BehaviourFile::parse("[fsp.perffsp5]\nreject = [{ on = \"quote\", code = 5101 }]")
                .unwrap();
        assert!(bad
            .apply(&mut c)
            .unwrap_err()
            .contains("needs amount_above"));
    }
}

#[cfg(test)]
mod replica_tests {
    use super::*;

    #[test]
    fn ids_and_numbers_partition_between_replicas() {
        let peers = Replicas::peers_from("http://load-{i}.load:4001/", 3);
        assert_eq!(peers[2], "http://load-2.load:4001/");
        let reps: Vec<Replicas> = (0..3)
            .map(|i| Replicas::new(i, 3, peers.clone()).unwrap())
            .collect();
        assert_eq!(reps[0].peers[2], "http://load-2.load:4001");
        for r in &reps {
            // Ids a replica makes come back to it, whatever the random part.
            for seed in 0u8..50 {
                let id = fspiop::types::CorrelationId::v4_from_bytes(r.stamp([seed; 16]));
                assert_eq!(reps[0].owner_of_key(&format!("t:{id}")), Some(r.index));
                assert_eq!(reps[1].owner_of_key(&format!("q:{id}")), Some(r.index));
            }
        }
        // Number slices are disjoint, cover the range, and their lookups come back to the owner.
        let mut seen = std::collections::HashSet::new();
        for r in &reps {
            for k in 0..1000u64 {
                let i = r.number_index(k, 100);
                assert!(i < 100, "{i}");
                assert_eq!(i % 3, u32::from(r.index));
                seen.insert(i);
                let key = format!("p:MSISDN/{}", fspiop::testbed::msisdn(5, i));
                assert_eq!(reps[2].owner_of_key(&key), Some(r.index));
            }
        }
        assert_eq!(seen.len(), 100, "every number is used by some replica");
        assert!(Replicas::new(3, 3, peers.clone()).is_err());
        assert!(Replicas::new(0, 2, peers).is_err(), "2 replicas, 3 peers");
        assert_eq!(
            Replicas::peers_from("http://a:1, http://b:2", 2),
            ["http://a:1", "http://b:2"]
        );
    }
}
