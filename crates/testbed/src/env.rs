//! The local testbed: the hub emulator, one perffsp simulator per FSP (perffsp1..8), onboarded
//! and with the payees' numbers registered through the real admin APIs — what `perfbed local`
//! and `perfbed suite --local` run against.

use anyhow::{bail, Context, Result};
use fspiop::jws::{generate_pem, Alg, KeyStore, SigningKey, VerifyMode, VerifyingKey};
use load::Scenario;
use perfbed_http::tls::{client_config, generate_test_pki, server_config, TestPki};
use perfbed_http::{ClientOptions, HttpClient};
use std::sync::Arc;
use std::time::Duration;

/// Security of every connection of the local testbed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// mTLS on every connection and JWS RS256 on every request with a body, keys made for the run.
    Full,
    /// Plain HTTP, no signatures.
    None,
}

impl Security {
    /// As reports state it.
    pub fn describe(self) -> &'static str {
        match self {
            Security::Full => "full (mTLS + JWS RS256)",
            Security::None => "none",
        }
    }
}

struct Pki {
    tls: TestPki,
    keys: Vec<(String, String, String)>,
}

impl Pki {
    fn new(fsps: &[String]) -> Result<Pki> {
        let mut clients = fsps.to_vec();
        clients.push("hub".into());
        let tls = generate_test_pki(&["localhost".into(), "127.0.0.1".into()], &clients)?;
        let keys = fsps
            .iter()
            .map(|f| generate_pem(Alg::RS256).map(|(private, public)| (f.clone(), private, public)))
            .collect::<Result<_, _>>()?;
        Ok(Pki { tls, keys })
    }

    fn store(&self, signing: Option<&str>) -> Result<KeyStore> {
        let mut s = KeyStore::new();
        for (f, private, public) in &self.keys {
            s.insert_verifying(f, VerifyingKey::from_pem(public.as_bytes())?);
            if signing == Some(f.as_str()) {
                s.insert_signing(f, SigningKey::from_pem(private.as_bytes())?);
            }
        }
        Ok(s)
    }

    fn server(&self) -> Result<Arc<rustls::ServerConfig>> {
        let t = &self.tls;
        Ok(server_config(
            t.server.cert.as_bytes(),
            t.server.key.as_bytes(),
            Some(t.ca.cert.as_bytes()),
        )?)
    }

    fn client(&self, who: &str) -> Result<Arc<rustls::ClientConfig>> {
        let pair = &self
            .tls
            .clients
            .iter()
            .find(|(n, _)| n == who)
            .context("no client certificate")?
            .1;
        Ok(client_config(
            self.tls.ca.cert.as_bytes(),
            Some((pair.cert.as_bytes(), pair.key.as_bytes())),
        )?)
    }
}

/// The local testbed's ILP secret (TEST-ONLY).
pub const ILP_SECRET: &str = "perfbed-local-ilp-secret";

/// The local testbed: hub emulator, one simulator per FSP (perffsp1..8), onboarded, with the
/// payees' numbers registered. Shared by `perfbed local` and `perfbed suite --local`.
#[allow(missing_debug_implementations)] // holds running servers
pub struct LocalEnv {
    hub: hub::Running,
    sims: Vec<sim::Running>,
    /// Admin API client (TLS when the security is full).
    pub admin: ops::Admin,
    security: Security,
    /// The first FSP's JWS key pair (PEM private, public), when the security is full.
    jws_key: Option<(String, String)>,
}

/// How to build a [`LocalEnv`].
#[derive(Debug, Clone)]
pub struct EnvOptions {
    /// mTLS + JWS, or plain.
    pub security: Security,
    /// Latency the hub emulator adds at every stage.
    pub hub_latency: Option<hub::Latency>,
    /// Latency the payee simulators add before answering.
    pub payee_latency: Option<sim::Latency>,
    /// No progress lines.
    pub quiet: bool,
    /// FSPIOP or ISO 20022: the hub emulator and every simulator speak it.
    pub api: fspiop::iso::Api,
}

impl LocalEnv {
    /// Starts everything and registers `msisdns` numbers for every payee of `scenarios`.
    pub async fn start(o: &EnvOptions, scenarios: &[&Scenario]) -> Result<LocalEnv> {
        let fsps: Vec<String> = (1..=8).map(fspiop::testbed::fsp_id).collect();
        for sc in scenarios {
            for f in sc.fsps() {
                if !fsps.contains(&f) {
                    bail!("the scenario '{}' uses '{f}', but the local testbed runs perffsp1..perffsp8", sc.name);
                }
            }
        }
        let full = o.security == Security::Full;
        let pki = if full { Some(Pki::new(&fsps)?) } else { None };
        let scheme = if full { "https" } else { "http" };

        // Hub.
        let hub_config = hub::HubConfig {
            sweep_every: Duration::from_secs(1),
            latency: hub::StageLatency::all(o.hub_latency.clone().unwrap_or_default()),
            jws: match &pki {
                Some(p) => Some((Arc::new(p.store(None)?), VerifyMode::Strict)),
                None => None,
            },
            api: o.api,
            ..hub::HubConfig::default()
        };
        let hub_tls_out = pki.as_ref().map(|p| p.client("hub")).transpose()?;
        let hub_tls_in = pki.as_ref().map(Pki::server).transpose()?;
        let hub = hub::start(
            hub::Hub::new(hub_config, hub_tls_out),
            "127.0.0.1:0".parse()?,
            hub_tls_in,
        )
        .await
        .context("cannot start the hub emulator")?;
        let hub_url = format!("{scheme}://127.0.0.1:{}", hub.addr.port());

        // Simulators, one per FSP.
        let mut sims = Vec::new();
        for f in &fsps {
            let mut c = sim::SimConfig::new(std::slice::from_ref(f), &hub_url);
            c.jws = full;
            c.verify_mode = VerifyMode::Strict;
            c.ilp_secret = ILP_SECRET.into();
            c.api = o.api;
            if let Some(l) = &o.payee_latency {
                for b in c.fsps.values_mut() {
                    b.lookup_latency = l.clone();
                    b.quote_latency = l.clone();
                    b.transfer_latency = l.clone();
                }
            }
            let keys = match &pki {
                Some(p) => p.store(Some(f))?,
                None => KeyStore::new(),
            };
            let out = pki.as_ref().map(|p| p.client(f)).transpose()?;
            let inbound = pki.as_ref().map(Pki::server).transpose()?;
            let s = sim::Sim::new(c, keys, out)?;
            sims.push(sim::start(s, "127.0.0.1:0".parse()?, inbound).await?);
        }
        let say = |m: &str| {
            if !o.quiet {
                eprintln!("{m}");
            }
        };
        say(&format!(
            "started hub emulator at {hub_url} and {} simulators",
            sims.len()
        ));

        // Onboarding and MSISDNs through the admin APIs.
        let admin_client = HttpClient::new(ClientOptions {
            tls: pki.as_ref().map(|p| p.client("hub")).transpose()?,
            ..ClientOptions::default()
        });
        let admin = ops::Admin::new(&format!("{hub_url}/admin"), admin_client.clone());
        let currency = scenarios
            .first()
            .map_or("XXX".to_owned(), |s| s.currency.clone());
        let onboarding = ops::Onboarding {
            currency: currency.clone(),
            ndc: LOCAL_NDC,
            funds: LOCAL_FUNDS,
            dfsps: fsps
                .iter()
                .zip(&sims)
                .map(|(f, s)| ops::Dfsp {
                    name: f.clone(),
                    callback_base: format!("{scheme}://127.0.0.1:{}", s.addr.port()),
                })
                .collect(),
        };
        let report = ops::onboard(&admin, &onboarding)
            .await
            .context("onboarding failed")?;
        let oracle = ops::Admin::new(&format!("{hub_url}/oracle"), admin_client);
        let mut wanted: std::collections::BTreeMap<String, u32> = Default::default();
        for sc in scenarios {
            for c in &sc.corridors {
                let n = wanted.entry(c.payee.clone()).or_default();
                *n = (*n).max(sc.msisdns_per_fsp);
            }
        }
        let mut registered = 0;
        for (payee, count) in &wanted {
            let range = ops::msisdn::Range::of(payee, *count)?;
            let done =
                ops::msisdn::seed_oracle(&oracle, &range, &currency, &Default::default()).await?;
            registered += done.written + done.skipped;
        }
        say(&format!(
            "onboarded {} DFSPs ({} changes), registered {registered} MSISDNs",
            fsps.len(),
            report.changed.len(),
        ));
        let jws_key = pki
            .as_ref()
            .and_then(|p| p.keys.first())
            .map(|(_, private, public)| (private.clone(), public.clone()));
        Ok(LocalEnv {
            hub,
            sims,
            admin,
            security: o.security,
            jws_key,
        })
    }

    /// The security every connection runs with.
    pub fn security(&self) -> Security {
        self.security
    }

    /// One of the run's own JWS key pairs (PEM private, public; RSA-2048 for RS256), when the
    /// security is full: what `bench local` times signing and verifying with.
    pub fn jws_key_pem(&self) -> Option<(&str, &str)> {
        self.jws_key
            .as_ref()
            .map(|(private, public)| (private.as_str(), public.as_str()))
    }

    /// The hub emulator (its stats and gauges).
    pub fn hub(&self) -> &std::sync::Arc<hub::Hub> {
        self.hub.hub()
    }

    /// Payer flows waiting for a callback right now, summed over the simulators: the
    /// simulators' own count of the driver's iterations in flight.
    pub fn payers_waiting(&self) -> usize {
        self.sims.iter().map(|s| s.sim().waiting()).sum()
    }

    /// JWS operations counted so far, `(signs, verifies)`: the simulators' (payers, payees and
    /// so the driver's) and the hub emulator's, each on its own keys.
    pub fn jws_operations(&self) -> JwsOperations {
        let sims = self
            .sims
            .iter()
            .map(|s| s.sim().jws_operations())
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        JwsOperations {
            simulators: sims,
            hub: self.hub().jws_operations(),
        }
    }

    /// TLS handshakes of the simulators so far, `(accepted by their servers, made by their
    /// clients)`, summed.
    pub fn sims_tls_handshakes(&self) -> (u64, u64) {
        self.sims
            .iter()
            .map(|s| s.sim().tls_handshakes())
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    /// The hub emulator's counted operations (JWS signs and verifies on its keys, TLS
    /// handshakes of its servers and client), as [`crate::Options::hub_operations`] reads them.
    pub fn hub_operations(
        &self,
    ) -> std::sync::Arc<dyn Fn() -> load::report::Counted + Send + Sync> {
        let hub = self.hub().clone();
        std::sync::Arc::new(move || {
            let (jws_signs, jws_verifies) = hub.jws_operations();
            let (accepted, made) = hub.tls_handshakes();
            load::report::Counted {
                jws_signs,
                jws_verifies,
                tls_handshakes: accepted + made,
            }
        })
    }

    /// The hub emulator's `/metrics` text, read in this process (its legs for the report's
    /// switch-metrics section: [`crate::Options::hub_metrics`]).
    pub fn hub_metrics(&self) -> std::sync::Arc<dyn Fn() -> String + Send + Sync> {
        let hub = self.hub().clone();
        std::sync::Arc::new(move || hub.metrics_text())
    }

    /// Every simulator as a payer.
    pub fn payers(&self) -> load::Payers {
        load::Payers::new(
            &self
                .sims
                .iter()
                .map(|s| s.sim().clone())
                .collect::<Vec<_>>(),
            ILP_SECRET,
        )
    }

    /// Stops everything; the hub ledger's counts.
    pub async fn stop(self) -> hub::ledger::Counts {
        for s in self.sims {
            s.shutdown(Duration::from_secs(5)).await;
        }
        let counts = self.hub.hub().ledger.counts();
        self.hub.shutdown(Duration::from_secs(5)).await;
        counts
    }
}

/// JWS signs and verifies, counted where they happen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JwsOperations {
    /// The simulators' `(signs, verifies)` (payers and payees; the driver's flows run in them).
    pub simulators: (u64, u64),
    /// The hub emulator's `(signs, verifies)`.
    pub hub: (u64, u64),
}

impl JwsOperations {
    /// Everything counted since `before`: `(signs, verifies)` over every part.
    pub fn since(&self, before: &JwsOperations) -> (u64, u64) {
        (
            self.simulators.0 + self.hub.0 - before.simulators.0 - before.hub.0,
            self.simulators.1 + self.hub.1 - before.simulators.1 - before.hub.1,
        )
    }
}

/// NDC and funds of the local testbed's DFSPs: large enough that positions never limit a run.
pub const LOCAL_NDC: u64 = 1_000_000_000;
/// See [`LOCAL_NDC`].
pub const LOCAL_FUNDS: u64 = 10_000_000_000;
