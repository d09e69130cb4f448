//! The [`Hub`] itself: configuration, ledger, oracle, outbound client, counters.

use fspiop::headers;
use http::HeaderValue;
use perfbed_http::fspiop::JwsPolicy;
use perfbed_http::{ClientOptions, HttpClient};
use std::sync::{Arc, RwLock};
use tokio_util::task::TaskTracker;

use crate::admin;
use crate::config::HubConfig;
use crate::ledger::{HashMap, Ledger};
use crate::metrics::Stats;

/// The hub emulator.
pub struct Hub {
    pub(crate) config: HubConfig,
    /// The ledger.
    pub ledger: Ledger,
    /// The oracle: `(type, id)` → FSP.
    pub(crate) oracle: RwLock<HashMap<(String, String), String>>,
    /// Admin-side state (hub accounts, settlement models, oracles, funds-out reservations).
    pub(crate) admin: admin::AdminState,
    pub(crate) client: HttpClient,
    pub(crate) jws_policy: Option<JwsPolicy>,
    pub(crate) tracker: TaskTracker,
    /// Duplicate detection's body hash (foldhash's quality variant: 64 bits, seeded per
    /// process; ~10× cheaper than SipHash on a 1 KB prepare).
    pub(crate) body_hasher: foldhash::quality::RandomState,
    /// Counters.
    pub stats: Stats,
    /// What `/metrics` exposes (the counters above and the ledger).
    pub(crate) registry: perfbed_http::metrics::Registry,
    /// `FSPIOP-Source` and `Content-Type` values of the hub's own messages, built once.
    pub(crate) own_source: HeaderValue,
    pub(crate) own_content_types: [(&'static str, HeaderValue); 4],
    /// TLS handshakes its servers accepted (its client counts its own).
    pub(crate) tls_accepted: Arc<std::sync::atomic::AtomicU64>,
    /// The ALS's participant-endpoint cache (see [`HubConfig::als_endpoint_cache`]):
    /// The ALS's participant-endpoint cache.
    pub(crate) als_endpoints: std::sync::Mutex<HashMap<String, CachedEndpoints>>,
}

/// What the ALS read of one FSP's endpoints, and when: (read at, its endpoints as type and
/// template).
pub(crate) type CachedEndpoints = (std::time::Instant, Vec<(String, String)>);

/// The resources the hub sends messages about.
const OWN_RESOURCES: [&str; 4] = ["parties", "participants", "quotes", "transfers"];

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("hub_id", &self.config.hub_id)
            .finish()
    }
}

impl Hub {
    /// Its `/metrics` text now (what a scrape answers), for a reader in the same process.
    pub fn metrics_text(&self) -> String {
        perfbed_http::metrics::encode(&self.registry)
    }

    /// JWS signatures the hub checked (and made) so far, `(signs, verifies)`: counted on its
    /// own key store as they are used; `(0, 0)` without JWS.
    pub fn jws_operations(&self) -> (u64, u64) {
        self.jws_policy
            .as_ref()
            .map_or((0, 0), |p| p.keys.operations())
    }

    /// TLS handshakes so far, `(accepted by its servers, made by its client)`.
    pub fn tls_handshakes(&self) -> (u64, u64) {
        (
            self.tls_accepted.load(std::sync::atomic::Ordering::Relaxed),
            self.client.tls_handshakes(),
        )
    }

    /// Builds the hub.
    pub fn new(config: HubConfig, client_tls: Option<Arc<rustls::ClientConfig>>) -> Arc<Hub> {
        let jws_policy = config
            .jws
            .as_ref()
            .map(|(keys, mode)| JwsPolicy::new(keys.clone(), *mode, config.hub_id.clone()));
        let stats = Stats::default();
        Arc::new_cyclic(|hub| Hub {
            ledger: Ledger::new(config.retention),
            oracle: RwLock::default(),
            admin: admin::AdminState::default(),
            client: HttpClient::new(ClientOptions {
                tls: client_tls,
                timeout: config.http_timeout,
                ..ClientOptions::default()
            }),
            jws_policy,
            tracker: TaskTracker::new(),
            body_hasher: foldhash::quality::RandomState::default(),
            tls_accepted: Arc::default(),
            als_endpoints: std::sync::Mutex::default(),
            registry: crate::metrics::registry(&stats, hub.clone()),
            stats,
            own_source: HeaderValue::from_str(&config.hub_id)
                .unwrap_or_else(|_| HeaderValue::from_static("Hub")),
            own_content_types: OWN_RESOURCES.map(|r| {
                let v = match config.api {
                    fspiop::iso::Api::Fspiop => headers::content_type(r, config.version),
                    fspiop::iso::Api::Iso20022 => fspiop::iso::content_type(r),
                };
                (
                    r,
                    HeaderValue::from_str(&v).expect("content types are ASCII"),
                )
            }),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// Registers a party in the oracle.
    pub fn oracle_set(&self, id_type: &str, id: &str, fsp: &str) {
        self.oracle
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert((id_type.to_owned(), id.to_owned()), fsp.to_owned());
    }

    /// Looks a party up in the oracle.
    pub fn oracle_get(&self, id_type: &str, id: &str) -> Option<String> {
        self.oracle
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(id_type.to_owned(), id.to_owned()))
            .cloned()
    }

    /// Removes a party from the oracle.
    pub fn oracle_remove(&self, id_type: &str, id: &str) -> bool {
        self.oracle
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(id_type.to_owned(), id.to_owned()))
            .is_some()
    }

    /// Parties registered in the oracle.
    pub fn oracle_len(&self) -> usize {
        self.oracle.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}
