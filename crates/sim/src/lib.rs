//! # sim — perffsp, the FSPIOP DFSP simulator
//!
//! One process serves any number of FSP identities. Each inbound request is routed by
//! `FSPIOP-Destination` (then by the payee in the body or the MSISDN's owner) and answered as
//! that FSP, signing with that FSP's key.
//!
//! * **Payee** ([`payee`]): `GET /parties` → `PUT /parties` (or 3204), `POST /quotes` →
//!   `PUT /quotes` with ILP packet and condition, `POST /transfers` → ILP check →
//!   `PUT /transfers` `COMMITTED` with the fulfilment. Stateless: the fulfilment is re-derived
//!   from the packet, so any replica answers any request and memory does not grow.
//! * **Payer** ([`Sim::lookup`], [`Sim::quote`], [`Sim::transfer`]): the load driver starts a
//!   step and awaits its callback, an error callback (from the payee or the hub), or a timeout.
//!   Callbacks are JWS-verified and fulfilments checked; anomalies are counted, never success.
//! * Synchronous errors are answered like the hub answers them: HTTP 4xx with
//!   `errorInformation`, and no callback. Overload is shed with 503/2003.
//!
//! * `PUT /participants/…` (the ALS's answers to a lookup of who owns a number) are kept, the
//!   last [`PARTICIPANT_ANSWERS`], and handed out once each by
//!   `GET /perfbed/participants/{Type}/{ID}` — how `perfbed preflight` sees the ALS and its
//!   oracle answer (the ALS sends the answer to the asking FSP's endpoint, this simulator).
//!
//! [`start`] binds a listener and serves; [`router`] gives the axum `Router` for tests.
#![forbid(unsafe_code)]

pub mod clock;
pub mod config;
mod iso;
pub mod metrics;
pub mod payee;
mod payer;
mod pending;
pub mod trace;

pub use config::Replicas;
pub use config::{Behaviour, BehaviourFile, HubUrls, Latency, RejectRule, SimConfig, Stage};
pub use payer::{Anomaly, FlowError, Received};

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use fspiop::error::{ErrorCode, ErrorInformation};
use fspiop::ilp::IlpSecret;
use fspiop::jws::KeyStore;
use fspiop::models::{PartiesPut, QuotesPut, TransfersPatch, TransfersPut};
use fspiop::route::{self, Route, RouteError};
use http::{HeaderMap, Method, StatusCode, Uri};
use perfbed_http::fspiop::{check_inbound_api, FspiopError, JwsPolicy, Outbound};
use perfbed_http::{ClientOptions, HttpClient};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::Metrics;
use crate::pending::Pending;

/// A callback a payer flow receives.
#[derive(Debug, Clone)]
pub enum Callback {
    /// `PUT /parties/…`.
    Party(Box<PartiesPut>),
    /// `PUT /quotes/{ID}`.
    Quote(Box<QuotesPut>),
    /// `PUT /quotes/{ID}` in ISO 20022 mode: the FSPIOP view and the pacs.082 as received.
    IsoQuote(Box<QuotesPut>, Arc<serde_json::Value>),
    /// `PUT /transfers/{ID}`.
    Transfer(Box<TransfersPut>),
    /// `PUT …/error`, with the sender (`FSPIOP-Source`).
    Error {
        /// The error.
        info: ErrorInformation,
        /// Who sent it (`Hub` or the payee).
        source: String,
    },
    /// The callback arrived but was refused (bad signature, bad body).
    Invalid(Anomaly),
}

/// The simulator: configuration, keys, HTTP client and state shared by every request.
pub struct Sim {
    config: SimConfig,
    keys: Arc<KeyStore>,
    jws_policy: Option<JwsPolicy>,
    client: HttpClient,
    secret: IlpSecret,
    /// Authenticates relays between replicas (derived from the ILP secret).
    relay_key: ring::hmac::Key,
    /// This simulator's wall clock (shifted only in tests).
    wall: clock::WallClock,
    /// A replica's measurements of its peers' clocks (see [`clock`]).
    clocks: Option<clock::PeerClocks>,
    permits: Arc<Semaphore>,
    tracker: TaskTracker,
    pending: Pending,
    metrics: Metrics,
    /// Callbacks that failed, for the warn log's rate limit (the metric counts them by route).
    callbacks_failed: std::sync::atomic::AtomicU64,
    /// Requests refused for their signature, for the warn log's rate limit.
    jws_refused: std::sync::atomic::AtomicU64,
    /// The latest `PUT /participants/…` answers: (path without `/error`, error?, body).
    participant_answers:
        std::sync::Mutex<std::collections::VecDeque<(String, bool, serde_json::Value)>>,
    /// TLS handshakes its server accepted (its client counts its own).
    tls_accepted: Arc<std::sync::atomic::AtomicU64>,
}

/// How many `PUT /participants/…` answers a simulator keeps for
/// `GET /perfbed/participants/{Type}/{ID}`.
pub const PARTICIPANT_ANSWERS: usize = 64;

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("fsps", &self.config.fsps.keys().collect::<Vec<_>>())
            .field("hub", &self.config.hub)
            .field("jws", &self.config.jws)
            .finish()
    }
}

/// What can stop the simulator from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A configuration value is wrong.
    #[error("{0}")]
    Config(String),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl Sim {
    /// Builds the simulator. With `config.jws`, every served FSP needs a private key in `keys`.
    pub fn new(
        config: SimConfig,
        keys: KeyStore,
        client_tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Arc<Sim>, StartError> {
        if config.fsps.is_empty() {
            return Err(StartError::Config(
                "no FSP to serve: give at least one --fsp".into(),
            ));
        }
        for (fsp, b) in &config.fsps {
            b.validate(fsp).map_err(StartError::Config)?;
            if config.api.is_iso() {
                fspiop::iso::require_ilp_v4(b.ilp_version)
                    .map_err(|e| StartError::Config(format!("{fsp}: {e}")))?;
            }
            if config.jws && keys.signing(fsp).is_none() {
                return Err(StartError::Config(format!(
                    "JWS is on but there is no private key for {fsp}: put {fsp}.key in the keys directory \
                     (`perfbed pki` makes one) or pass --no-jws"
                )));
            }
        }
        for url in [
            &config.hub.parties,
            &config.hub.quotes,
            &config.hub.transfers,
        ] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(StartError::Config(format!(
                    "hub URL '{url}' must start with http:// or https://"
                )));
            }
        }
        let keys = Arc::new(keys);
        // The hub signs its own messages exactly when its public key is configured (`Hub.pem`
        // in the keys directory, or `--hub-key`): then they must be signed and verify.
        let jws_policy = config
            .jws
            .then(|| JwsPolicy::new(keys.clone(), config.verify_mode, config.hub_id.clone()));
        let client = HttpClient::new(ClientOptions {
            tls: client_tls,
            timeout: config.http_timeout,
            ..ClientOptions::default()
        });
        Ok(Arc::new(Sim {
            secret: IlpSecret::new(config.ilp_secret.as_bytes()),
            relay_key: relay_key(&config.ilp_secret),
            wall: clock::WallClock {
                shift_ns: config.test_clock_shift_ns,
            },
            clocks: config
                .replicas
                .as_ref()
                .map(|r| clock::PeerClocks::new(r.index, r.count)),
            permits: Arc::new(Semaphore::new(config.max_in_flight)),
            jws_policy,
            client,
            keys,
            tracker: TaskTracker::new(),
            pending: Pending::default(),
            metrics: Metrics::new(),
            callbacks_failed: Default::default(),
            jws_refused: Default::default(),
            participant_answers: Default::default(),
            tls_accepted: Default::default(),
            config,
        }))
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// This simulator's wall clock.
    pub fn wall(&self) -> clock::WallClock {
        self.wall
    }

    /// A replica's peers' clocks as measured so far, and the relayed callbacks converted with
    /// them (`None` when this simulator is no replica).
    pub fn peer_clocks(&self) -> Option<Vec<clock::PeerClock>> {
        self.clocks.as_ref().map(clock::PeerClocks::snapshot)
    }

    /// JWS signatures this simulator made and checked so far, `(signs, verifies)`: counted on
    /// its own keys as they are used.
    pub fn jws_operations(&self) -> (u64, u64) {
        self.keys.operations()
    }

    /// TLS handshakes so far, `(accepted by its server, made by its client)`: each new mTLS
    /// connection costs one on each side (an RSA or ECDSA signature and verifications).
    pub fn tls_handshakes(&self) -> (u64, u64) {
        (
            self.tls_accepted.load(std::sync::atomic::Ordering::Relaxed),
            self.client.tls_handshakes(),
        )
    }

    /// Whether the hub's own messages must be signed: JWS is on and the key store holds a
    /// public key for the hub id. Otherwise unsigned messages from the hub are accepted.
    pub fn hub_signs(&self) -> bool {
        self.jws_policy.as_ref().is_some_and(|p| p.hub_signs)
    }

    /// Payer flows waiting for a callback right now.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// Callbacks in flight right now.
    pub fn callbacks_in_flight(&self) -> usize {
        self.config.max_in_flight - self.permits.available_permits()
    }

    /// Counts a refused callback: an anomaly of the flow it failed, or a late one.
    fn count_invalid(&self, resolved: pending::Resolved, kind: Anomaly) {
        match resolved {
            pending::Resolved::Delivered => self.metrics.anomaly(kind.as_str()),
            pending::Resolved::Late => self.metrics.late_callback(),
            pending::Resolved::Nobody => {}
        }
    }

    fn serves(&self, fsp: &str) -> bool {
        self.config.fsps.contains_key(fsp)
    }

    /// Sends one FSPIOP request as `source` (signed when JWS is on) and returns the response,
    /// within `timeout` (the client's own timeout applies when shorter). A failure says whether
    /// the request may have left ([`FlowError::FailedAfterSend`]) or not
    /// ([`FlowError::NotSent`]).
    async fn send(
        &self,
        out: Outbound,
        timeout: Duration,
    ) -> Result<http::Response<Bytes>, FlowError> {
        let req = self.signed_request(out)?;
        self.client
            .send_within(req, timeout)
            .await
            .map_err(|e| match e.sent() {
                true => FlowError::FailedAfterSend(e.reason()),
                false => FlowError::NotSent(e.reason()),
            })
    }

    /// The HTTP request for `out`, signed as its source when JWS is on, stamped with its send
    /// time.
    fn signed_request(
        &self,
        out: Outbound,
    ) -> Result<http::Request<http_body_util::Full<Bytes>>, FlowError> {
        let signer =
            if self.config.jws {
                Some(self.keys.signing(&out.source).ok_or_else(|| {
                    FlowError::NotSent(format!("no signing key for {}", out.source))
                })?)
            } else {
                None
            };
        let mut req = out
            .build(signer)
            .map_err(|e| FlowError::NotSent(e.to_string()))?;
        // The request leaves now, signed: its send time goes into our tracestate entry (not a
        // signed header), so signing counts as simulator time, not switch time.
        stamp_sent(req.headers_mut(), self.wall.now_us());
        Ok(req)
    }

    /// Sends a callback in the background, holding `permit` until it is done.
    fn spawn_callback(
        self: &Arc<Self>,
        permit: OwnedSemaphorePermit,
        route: &'static str,
        delay: Duration,
        out: Outbound,
    ) {
        let sim = self.clone();
        self.tracker.spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let started = Instant::now();
            let url = out.url.clone();
            // Sent again while undelivered, as `callback_retry` allows: a starved machine
            // makes the simulator slow, never lossy.
            let result = match sim.signed_request(out) {
                Ok(req) => {
                    let d = sim.client.deliver(req, sim.config.callback_retry).await;
                    sim.metrics.callback_retries(d.attempts.saturating_sub(1));
                    d.result.map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            let ok = match result {
                Ok(resp) if resp.status().is_success() => true,
                Ok(resp) => {
                    let why = format!(
                        "refused with HTTP {}: {}",
                        resp.status().as_u16(),
                        String::from_utf8_lossy(resp.body())
                    );
                    sim.callback_failed(route, &url, &why);
                    false
                }
                Err(e) => {
                    sim.callback_failed(route, &url, &e.to_string());
                    false
                }
            };
            sim.metrics.callback(route, ok, started.elapsed());
            drop(permit);
        });
    }

    /// Counts a request refused for its signature (3105) and logs it at warn level,
    /// rate-limited like [`Sim::callback_failed`]: a refused hub message says what to fix, since
    /// the hub's confirmations are never answered by anyone who would notice.
    fn jws_refused(&self, headers: &HeaderMap, method: &Method, uri: &Uri, why: &str) {
        const EACH: u64 = 5;
        self.metrics.jws_failure();
        let source = headers
            .get(fspiop::headers::FSPIOP_SOURCE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?");
        let from_hub = source == self.config.hub_id;
        if from_hub {
            self.metrics.hub_jws_failure();
        }
        let n = self
            .jws_refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let fix = if from_hub && self.hub_signs() {
            format!(
                "; this simulator has {hub}'s public key, so it wants {hub}'s messages signed: with a hub that does not sign (ml-api-adapter JWS_SIGN off) remove {hub}.pem from its keys (and say `[hub] signs = false` in the testbed file), else give it the key the hub signs with",
                hub = self.config.hub_id
            )
        } else {
            String::new()
        };
        if n <= EACH || n.is_power_of_two() {
            tracing::warn!(
                %method,
                %uri,
                source,
                "{n} request(s) refused for their signature so far (the latest: {why}){fix}"
            );
        }
    }

    /// Logs a failed callback at warn level, rate-limited: the first few each with its URL and
    /// reason, then one line at every power of two with the count so far. The metric
    /// (`perffsp_callbacks_failed_total`) and the run report's `callbacks_failed` count them
    /// all.
    fn callback_failed(&self, route: &'static str, url: &str, why: &str) {
        const EACH: u64 = 5;
        let n = self
            .callbacks_failed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        if n <= EACH {
            tracing::warn!(route, %url, "callback failed: {why}");
        } else if n.is_power_of_two() {
            tracing::warn!(
                route,
                %url,
                "{n} callbacks failed so far (the latest: {why}); logging only every power of two from here"
            );
        }
    }

    /// The `answer_twice` fault: the same callback once more, a little after the first.
    fn spawn_callback_twice(self: &Arc<Self>, route: &'static str, delay: Duration, out: Outbound) {
        let sim = self.clone();
        self.tracker.spawn(async move {
            tokio::time::sleep(delay + Duration::from_millis(20)).await;
            let ok = matches!(
                sim.send(out, sim.config.http_timeout).await,
                Ok(resp) if resp.status().is_success()
            );
            sim.metrics.callback(route, ok, Duration::ZERO);
        });
    }

    fn try_permit(&self) -> Result<OwnedSemaphorePermit, FspiopError> {
        self.permits.clone().try_acquire_owned().map_err(|_| {
            self.metrics.shed();
            FspiopError::new(
                ErrorCode::ServiceCurrentlyUnavailable,
                "too many callbacks in flight",
            )
        })
    }
}

/// The axum router: `/health`, `/metrics`, and every FSPIOP route.
pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .route("/perfbed/participants/{t}/{id}", get(participant_answer))
        .route(clock::CLOCK_PATH, get(clock_answer))
        .fallback(fspiop_request)
        .with_state(sim)
}

async fn health(State(sim): State<Arc<Sim>>) -> Response {
    let body = serde_json::json!({
        "status": "OK",
        "fsps": sim.config.fsps.keys().collect::<Vec<_>>(),
        "jws": sim.config.jws,
        "api": sim.config.api.as_str(),
        "hubSigns": sim.hub_signs(),
        "callbacksInFlight": sim.callbacks_in_flight(),
        // Unix ms: `perfbed preflight` measures clock skew with it.
        "time": sim.wall.now_us() / 1000,
        "payerWaiting": sim.waiting(),
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// `GET /perfbed/participants/{Type}/{ID}`: the latest `PUT /participants/{Type}/{ID}` (or its
/// `/error`) this simulator received, once: `{"error": false, "body": {"fspId": …}}`; 404 when
/// none arrived since the last time it was asked.
async fn participant_answer(
    State(sim): State<Arc<Sim>>,
    axum::extract::Path((t, id)): axum::extract::Path<(String, String)>,
) -> Response {
    let path = format!("/participants/{t}/{id}");
    let mut answers = sim
        .participant_answers
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    match answers.iter().rposition(|(p, _, _)| *p == path) {
        Some(i) => {
            let (_, error, body) = answers.remove(i).unwrap_or_default();
            answers.retain(|(p, _, _)| *p != path);
            let answer = serde_json::json!({ "error": error, "body": body });
            (StatusCode::OK, axum::Json(answer)).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /perfbed/clock?n=NONCE` (hex), for a peer replica measuring this one's clock
/// ([`clock`]): `{"replica": I, "unixNs": "…", "mac": "…"}`, the MAC (hex HMAC-SHA256 with the
/// relay key) over the nonce, this replica's index and the time, so the peer knows a replica
/// of its run answered. 404 when this simulator is no replica.
async fn clock_answer(State(sim): State<Arc<Sim>>, uri: Uri) -> Response {
    let Some(r) = sim.config.replicas.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let nonce = uri
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("n=")))
        .filter(|n| !n.is_empty() && n.len() <= 64 && n.bytes().all(|b| b.is_ascii_hexdigit()));
    let Some(nonce) = nonce else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let at = sim.wall.now_ns().to_string();
    let mac = relay_mac(&sim.relay_key, &clock::clock_mac_input(nonce, r.index, &at));
    let body = serde_json::json!({ "replica": r.index, "unixNs": at, "mac": mac });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// How long one clock exchange with a peer may take.
const CLOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// One clock exchange with replica `peer` ([`clock`]).
async fn measure_clock(sim: &Sim, r: &Replicas, peer: u16) -> Result<clock::Sample, String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        replica: u16,
        #[serde(rename = "unixNs")]
        unix_ns: String,
        mac: String,
    }
    let nonce = format!("{:032x}", rand::random::<u128>());
    let url = format!(
        "{}{}?n={nonce}",
        r.peers[usize::from(peer)],
        clock::CLOCK_PATH
    );
    let req = http::Request::get(&url)
        .body(http_body_util::Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let t0_wall = sim.wall.now_ns();
    let t0 = Instant::now();
    let resp = sim
        .client
        .send_within(req, CLOCK_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let t3 = Instant::now();
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status().as_u16()));
    }
    let a: Answer = serde_json::from_slice(resp.body()).map_err(|e| e.to_string())?;
    if a.replica != peer {
        return Err(format!("answered as replica {}", a.replica));
    }
    let tag = from_hex(&a.mac).ok_or("malformed MAC")?;
    ring::hmac::verify(
        &sim.relay_key,
        &clock::clock_mac_input(&nonce, peer, &a.unix_ns),
        &tag,
    )
    .map_err(|_| "its MAC does not verify: not a replica of this run (another --ilp-secret?)")?;
    let peer_ns = a.unix_ns.parse::<i128>().map_err(|e| e.to_string())?;
    Ok(clock::Sample::new(t0, t0_wall, t3, peer_ns))
}

/// Measures every peer replica's clock, again and again ([`clock`]), until `stop`.
async fn sample_peer_clocks(sim: Arc<Sim>, stop: CancellationToken) {
    let (Some(r), Some(clocks)) = (sim.config.replicas.as_ref(), sim.clocks.as_ref()) else {
        return;
    };
    loop {
        let round = async {
            let mut fast = false;
            for peer in (0..r.count).filter(|p| *p != r.index) {
                match measure_clock(&sim, r, peer).await {
                    Ok(s) => clocks.record(peer, s),
                    Err(why) => {
                        clocks.failed(peer);
                        tracing::debug!(peer, "clock exchange failed: {why}");
                    }
                }
                fast |= clocks.samples(peer) < clock::FAST_SAMPLES;
            }
            tokio::time::sleep(if fast { clock::FAST } else { clock::SLOW }).await;
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = round => {}
        }
    }
}

async fn metrics_text(State(sim): State<Arc<Sim>>) -> Response {
    (
        StatusCode::OK,
        [(
            http::header::CONTENT_TYPE,
            perfbed_http::metrics::CONTENT_TYPE,
        )],
        sim.metrics.render(),
    )
        .into_response()
}

/// The route of an FSPIOP request, if the simulator serves it: a payee's requests and a
/// payer's callbacks. The hub's own routes (lookups in the oracle, `GET /transfers`) get 3000.
fn served_route<'a>(method: &'a Method, path: &'a str) -> Result<Route<'a>, FspiopError> {
    let refuse = |e: RouteError<'_>| FspiopError::new(e.code(), e.to_string());
    match route::parse(method, path).map_err(refuse)? {
        Route::ParticipantsGet { .. }
        | Route::ParticipantsPost { .. }
        | Route::ParticipantsBulk
        | Route::TransfersGet { .. } => Err(refuse(RouteError::method_not_allowed(method, path))),
        r => Ok(r),
    }
}

/// The pending-flow key a callback resolves, for payer callbacks.
fn pending_key(route: &Route<'_>) -> Option<String> {
    match route {
        Route::PartiesPut(p) | Route::PartiesError(p) => Some(format!("p:{}", p.id_path)),
        Route::QuotesPut { id } | Route::QuotesError { id } => Some(format!("q:{id}")),
        Route::TransfersPut { id } | Route::TransfersError { id } => Some(format!("t:{id}")),
        _ => None,
    }
}

async fn fspiop_request(
    State(sim): State<Arc<Sim>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let (route, result) = match served_route(&method, uri.path()) {
        Err(e) => ("unknown", Err(e)),
        Ok(target) => {
            let route = target.name();
            let relayed = relayed_at(&sim, &method, uri.path(), &headers, &body);
            let arrival = sim.arrival(relayed, started);
            let relay_to = match relayed {
                Some(_) => None, // relayed here by its owner's peer: ours
                None => relay_target(&sim, &target),
            };
            match relay_to {
                Some(owner) => {
                    relay(&sim, owner, &method, &uri, &headers, body);
                    ("relayed", Ok(StatusCode::OK))
                }
                None => (
                    route,
                    handle(&sim, target, &method, uri.path(), &headers, body, arrival),
                ),
            }
        }
    };
    let response = match result {
        Ok(status) => status.into_response(),
        Err(e) => {
            if e.code() == ErrorCode::InvalidSignature {
                sim.jws_refused(&headers, &method, &uri, &e.to_string());
            }
            tracing::debug!(%method, %uri, error = %e, "refused");
            e.into_response()
        }
    };
    sim.metrics
        .request(route, response.status().as_u16(), started.elapsed());
    response
}

/// The key replicas authenticate relays with: HMAC-SHA256 keyed with the ILP secret over a
/// fixed label. Derived, not the secret itself, because the payee publishes HMACs under the
/// secret (fulfilments) of messages the payer chooses; those messages are base64 text, which
/// the label (it has spaces) can never be.
fn relay_key(ilp_secret: &str) -> ring::hmac::Key {
    let secret = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, ilp_secret.as_bytes());
    let derived = ring::hmac::sign(&secret, b"perfbed relay receipt time v1");
    ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref())
}

/// What a relay MAC covers: method, path, receipt time, relaying replica and body.
fn relay_mac_input(
    method: &Method,
    path: &str,
    relayed_at: &str,
    relayed_by: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(
        method.as_str().len() + path.len() + relayed_at.len() + relayed_by.len() + 4,
    );
    for part in [
        method.as_str().as_bytes(),
        path.as_bytes(),
        relayed_at.as_bytes(),
        relayed_by.as_bytes(),
    ] {
        m.extend_from_slice(part);
        m.push(b'\n');
    }
    m.extend_from_slice(body);
    m
}

fn relay_mac(key: &ring::hmac::Key, input: &[u8]) -> String {
    ring::hmac::sign(key, input)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The first replica's receipt time (Unix ns, on its clock) of a callback relayed here by a
/// peer replica, and that replica's index. A receipt-time header from anyone else — no
/// replicas configured, no or a wrong MAC, no or a bad relaying index — is dropped (counted),
/// and the callback counts as received now.
fn relayed_at(
    sim: &Sim,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<(i128, u16)> {
    let value = headers.get(config::RELAYED_AT)?;
    let by = headers
        .get(config::RELAYED_BY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let from_peer = sim.config.replicas.is_some()
        && value.to_str().ok().is_some_and(|at| {
            headers
                .get(config::RELAY_MAC)
                .and_then(|v| v.to_str().ok())
                .and_then(from_hex)
                .is_some_and(|tag| {
                    let input = relay_mac_input(method, path, at, by, body);
                    ring::hmac::verify(&sim.relay_key, &input, &tag).is_ok()
                })
        });
    let nanos = value.to_str().ok().and_then(|v| v.parse::<i128>().ok());
    let peer = by.parse::<u16>().ok().filter(|p| {
        sim.config
            .replicas
            .as_ref()
            .is_some_and(|r| *p < r.count && *p != r.index)
    });
    match (from_peer, nanos, peer) {
        (true, Some(n), Some(p)) => Some((n, p)),
        _ => {
            sim.metrics.relay_header_dropped();
            tracing::debug!(path, "relay receipt time dropped: not from a peer replica");
            None
        }
    }
}

/// When a request arrived.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    /// The instant.
    at: Instant,
    /// The same moment on this simulator's wall clock, Unix µs (latency attribution).
    wall_us: u64,
    /// Relayed by this peer, converted with this uncertainty.
    relayed: Option<(u16, Duration)>,
}

impl Sim {
    /// When a request arrived: `now`, or for a callback relayed by a peer replica
    /// ([`relayed_at`]) the first replica's receipt time, converted from the relaying
    /// replica's clock to this one's with the clock measured on the relay link ([`clock`]).
    /// A relay from a peer whose clock was never measured counts as arriving now, relay hop
    /// included (counted: [`clock::PeerClock::unconverted`]).
    fn arrival(&self, relayed: Option<(i128, u16)>, now: Instant) -> Arrival {
        let wall_us = self.wall.now_us();
        let here = Arrival {
            at: now,
            wall_us,
            relayed: None,
        };
        let (Some((peer_ns, peer)), Some(clocks)) = (relayed, self.clocks.as_ref()) else {
            return here;
        };
        match clocks.convert(peer, peer_ns, now) {
            Some((at, u)) => Arrival {
                at,
                wall_us: wall_us.saturating_sub(now.duration_since(at).as_micros() as u64),
                relayed: Some((peer, u)),
            },
            None => here,
        }
    }

    /// A relayed callback answered a request sent at `sent`: its converted receipt time
    /// cannot be earlier by more than the conversion's uncertainty; if it is, the clock
    /// conversion is wrong (counted, and the run's report refuses it).
    pub(crate) fn check_relayed(&self, delivered: &pending::Delivered, sent: Instant) {
        if let (Some((peer, u)), Some(clocks)) = (delivered.relayed, self.clocks.as_ref()) {
            if delivered.at + u < sent {
                clocks.before_send(peer);
            }
        }
    }
}

/// The replica a payer callback belongs to, when it is not this one.
fn relay_target(sim: &Sim, target: &Route<'_>) -> Option<u16> {
    let r = sim.config.replicas.as_ref()?;
    let owner = r.owner_of_key(&pending_key(target)?)?;
    (owner != r.index).then_some(owner)
}

/// Forwards a callback, unchanged (signature included), to the replica that owns it, stamped
/// with its receipt time.
fn relay(sim: &Arc<Sim>, owner: u16, method: &Method, uri: &Uri, headers: &HeaderMap, body: Bytes) {
    let Some(r) = sim.config.replicas.as_ref() else {
        return;
    };
    let url = format!("{}{}", r.peers[owner as usize], uri.path());
    let nanos = sim.wall.now_ns();
    let mut b = http::Request::builder().method(method.clone()).uri(&url);
    for (k, v) in headers {
        if !matches!(
            k.as_str(),
            "host"
                | "content-length"
                | "connection"
                | "transfer-encoding"
                | config::RELAYED_AT
                | config::RELAYED_BY
                | config::RELAY_MAC
        ) {
            b = b.header(k, v);
        }
    }
    let at = nanos.to_string();
    let by = r.index.to_string();
    let mac = relay_mac(
        &sim.relay_key,
        &relay_mac_input(method, uri.path(), &at, &by, &body),
    );
    let Ok(req) = b
        .header(config::RELAYED_AT, at)
        .header(config::RELAYED_BY, by)
        .header(config::RELAY_MAC, mac)
        .body(http_body_util::Full::new(body))
    else {
        return;
    };
    sim.metrics.relayed();
    let task = sim.clone();
    sim.tracker.spawn(async move {
        let sim = task;
        match sim.client.send(req).await {
            Ok(resp) if resp.status().is_success() => {}
            Ok(resp) => tracing::warn!(%url, status = %resp.status(), "relayed callback refused"),
            Err(e) => tracing::warn!(%url, error = %e, "relay failed"),
        }
    });
}

fn handle(
    sim: &Arc<Sim>,
    target: Route<'_>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: Bytes,
    arrival: Arrival,
) -> Result<StatusCode, FspiopError> {
    let received = arrival.at;
    // In ISO mode every route takes the ISO media types (as the switch's per-service header
    // check); `/participants` bodies stay FSPIOP (there is no ISO message for them).
    let api = sim.config.api;
    let checked = check_inbound_api(method, path, headers, &body, sim.jws_policy.as_ref(), api)
        .and_then(|p| {
            // The ISO payee speaks version 2.0 only.
            if api.is_iso() && p.version != fspiop::iso::VERSION {
                return Err(FspiopError::new(
                    ErrorCode::UnacceptableVersion,
                    "ISO 20022 mode takes version=2.0 only",
                ));
            }
            Ok(p)
        });
    let parsed = match checked {
        Ok(p) => p,
        Err(e) => {
            // A payer flow waiting on this callback learns why it will never succeed.
            if let Some(key) = pending_key(&target) {
                let dest = headers
                    .get(fspiop::headers::FSPIOP_DESTINATION)
                    .and_then(|v| v.to_str().ok());
                let kind = if e.code() == ErrorCode::InvalidSignature {
                    Anomaly::JwsInvalid
                } else {
                    Anomaly::InvalidCallback
                };
                let trace = headers
                    .get(trace::TRACEPARENT)
                    .and_then(|v| v.to_str().ok())
                    .and_then(trace::trace_id);
                let resolved = sim.pending.resolve(
                    &key,
                    dest,
                    trace,
                    &Callback::Invalid(kind),
                    pending::Delivered::at(received),
                );
                sim.count_invalid(resolved, kind);
            }
            return Err(e);
        }
    };
    let source = parsed.source.to_owned();
    let destination = parsed.destination.map(str::to_owned);
    let version = parsed.version;
    if let Some(d) = &destination {
        if !sim.serves(d) && d != &sim.config.hub_id {
            return Err(FspiopError::new(
                ErrorCode::DestinationFspError,
                format!("this simulator does not serve '{d}'"),
            ));
        }
    }
    let ctx = payee::Ctx {
        source,
        destination,
        version,
        received,
        received_wall: arrival.wall_us,
        relayed: arrival.relayed,
        traceparent: headers.get(trace::TRACEPARENT).cloned(),
        tracestate: headers.get(trace::TRACESTATE).cloned(),
    };
    match target {
        Route::PartiesGet(p) => payee::lookup(sim, ctx, p.id_path),
        Route::QuotesPost => payee::quote(sim, ctx, &body),
        Route::TransfersPost => payee::transfer(sim, ctx, &body),
        Route::TransfersPatch { .. } => {
            let _: TransfersPatch = iso::transfer_patch(api, &body)?;
            Ok(StatusCode::OK)
        }
        Route::ParticipantsPut => {
            let (path, error) = match path.strip_suffix("/error") {
                Some(p) => (p, true),
                None => (path, false),
            };
            let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            let mut answers = sim
                .participant_answers
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if answers.len() >= PARTICIPANT_ANSWERS {
                answers.pop_front();
            }
            answers.push_back((path.to_owned(), error, body));
            Ok(StatusCode::OK)
        }
        Route::PartiesPut(p) => payer::on_party(sim, &ctx, p.id_path, &body),
        Route::PartiesError(p) => payer::on_error(sim, &ctx, &format!("p:{}", p.id_path), &body),
        Route::QuotesPut { id } => payer::on_quote(sim, &ctx, id, &body),
        Route::QuotesError { id } => payer::on_error(sim, &ctx, &format!("q:{id}"), &body),
        Route::TransfersPut { id } => payer::on_transfer(sim, &ctx, id, &body),
        Route::TransfersError { id } => payer::on_error(sim, &ctx, &format!("t:{id}"), &body),
        // Refused before the checks (`served_route`); kept so the match stays total.
        Route::ParticipantsGet { .. }
        | Route::ParticipantsPost { .. }
        | Route::ParticipantsBulk
        | Route::TransfersGet { .. } => {
            let e = RouteError::method_not_allowed(method, path);
            Err(FspiopError::new(e.code(), e.to_string()))
        }
    }
}

/// A request leaving: a payer request's send time (`s`), or a payee callback's (`c`), goes
/// into our `tracestate` entry.
fn stamp_sent(headers: &mut HeaderMap, now_us: u64) {
    let Some(v) = headers.get_mut(trace::TRACESTATE) else {
        return;
    };
    let Some(mut st) = v.to_str().ok().and_then(trace::Stamps::parse) else {
        return;
    };
    match (st.payee_in, st.payee_out) {
        (None, _) => st.sent = now_us,
        (Some(_), None) => st.payee_out = Some(now_us),
        (Some(_), Some(_)) => return,
    }
    if let Ok(nv) = st.merge_into(v.to_str().ok()).parse() {
        *v = nv;
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    sim: Arc<Sim>,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// The simulator (payer API, metrics).
    pub fn sim(&self) -> &Arc<Sim> {
        &self.sim
    }

    /// Stops accepting, lets open requests finish, then waits for callbacks still in flight
    /// (at most `drain`).
    pub async fn shutdown(self, drain: Duration) {
        self.stop.cancel();
        let _ = self.server.await;
        self.sim.tracker.close();
        if tokio::time::timeout(drain, self.sim.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("callbacks still in flight after {drain:?}");
        }
    }
}

/// Binds `listen` and serves the simulator (with TLS when `server_tls` is given).
pub async fn start(
    sim: Arc<Sim>,
    listen: SocketAddr,
    server_tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<Running, StartError> {
    let (listener, addr) =
        perfbed_http::server::bind(listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: listen,
                source,
            })?;
    let stop = CancellationToken::new();
    if sim.clocks.is_some() {
        sim.tracker
            .spawn(sample_peer_clocks(sim.clone(), stop.clone()));
    }
    let app = router(sim.clone());
    let token = stop.clone();
    let handshakes = sim.tls_accepted.clone();
    let server = tokio::spawn(async move {
        perfbed_http::server::serve_counted(
            listener,
            app,
            server_tls,
            token.cancelled_owned(),
            Duration::from_secs(5),
            handshakes,
        )
        .await
    });
    Ok(Running {
        addr,
        sim,
        stop,
        server,
    })
}

#[cfg(test)]
mod relay_tests {
    use super::*;

    #[test]
    fn a_relayed_callback_keeps_its_first_receipt_time_on_the_owners_clock() {
        // This replica's clock is 2 s behind; peer 1 measured 3 ms round trip.
        let mut c = SimConfig::new(&["perffsp1".into()], "http://hub");
        c.replicas = Some(Replicas::new(0, 2, vec!["http://a".into(), "http://b".into()]).unwrap());
        c.test_clock_shift_ns = -2_000_000_000;
        let sim = Sim::new(c, KeyStore::new(), None).unwrap();
        let now = Instant::now();
        let here = sim.arrival(None, now);
        assert_eq!((here.at, here.relayed), (now, None), "not relayed: now");
        // Not measured yet: received now, counted.
        let own_t0 = sim.wall().now_ns() - 500_000_000;
        // The peer's clock is exactly 2 s ahead of this one.
        let peer_now = own_t0 + 500_000_000 + 2_000_000_000;
        let early = sim.arrival(Some((peer_now, 1)), now);
        assert_eq!((early.at, early.relayed), (now, None));
        let t0 = now - Duration::from_millis(500);
        let sample = clock::Sample::new(
            t0,
            own_t0,
            t0 + Duration::from_millis(3),
            peer_now - 500_000_000 + 1_500_000,
        );
        sim.clocks.as_ref().unwrap().record(1, sample);
        // The peer received it 50 ms before `now` (its clock): 50 ms before `now` here.
        let before = sim.wall().now_us();
        let relayed = sim.arrival(Some((peer_now - 50_000_000, 1)), now);
        let after = sim.wall().now_us();
        let (peer, u) = relayed.relayed.unwrap();
        assert_eq!((peer, u), (1, Duration::from_micros(1500)));
        assert_eq!(now.duration_since(relayed.at), Duration::from_millis(50));
        // On this replica's wall clock (2 s behind the peer's): 50 ms before it was read.
        assert!(
            (before - 50_000..=after - 50_000).contains(&relayed.wall_us),
            "{before} {} {after}",
            relayed.wall_us
        );
        let p = &sim.peer_clocks().unwrap()[0];
        assert_eq!((p.relayed, p.unconverted), (1, 1));
        assert_eq!(p.offset_ns, Some(2_000_000_000));
        assert_eq!(p.uncertainty_ns, Some(1_500_000));
    }

    fn sim(replicas: bool, secret: &str) -> Arc<Sim> {
        let mut c = SimConfig::new(&["perffsp1".into()], "http://hub");
        c.ilp_secret = secret.into();
        if replicas {
            c.replicas =
                Some(Replicas::new(0, 2, vec!["http://a".into(), "http://b".into()]).unwrap());
        }
        Sim::new(c, KeyStore::new(), None).unwrap()
    }

    fn relay_headers(secret: &str, path: &str, at: &str, body: &[u8]) -> HeaderMap {
        let mac = relay_mac(
            &relay_key(secret),
            &relay_mac_input(&Method::PUT, path, at, "1", body),
        );
        let mut h = HeaderMap::new();
        h.insert(config::RELAYED_AT, at.parse().unwrap());
        h.insert(config::RELAYED_BY, "1".parse().unwrap());
        h.insert(config::RELAY_MAC, mac.parse().unwrap());
        h
    }

    #[test]
    fn only_a_peer_replica_can_backdate_a_callback() {
        let (path, body) = ("/parties/MSISDN/254705000001", b"{}".as_slice());
        let peer = sim(true, "shared");
        let h = relay_headers("shared", path, "1000", body);
        assert_eq!(
            relayed_at(&peer, &Method::PUT, path, &h, body),
            Some((1000, 1))
        );
        assert_eq!(peer.metrics.relay_headers_dropped_total(), 0);
        // Another secret, another path, another body, another time, no MAC: dropped.
        let other = relay_headers("other", path, "1000", body);
        assert_eq!(relayed_at(&peer, &Method::PUT, path, &other, body), None);
        assert_eq!(
            relayed_at(&peer, &Method::PUT, "/parties/MSISDN/2", &h, body),
            None
        );
        assert_eq!(relayed_at(&peer, &Method::PUT, path, &h, b"{ }"), None);
        let mut later = h.clone();
        later.insert(config::RELAYED_AT, "999".parse().unwrap());
        assert_eq!(relayed_at(&peer, &Method::PUT, path, &later, body), None);
        let mut bare = h.clone();
        bare.remove(config::RELAY_MAC);
        assert_eq!(relayed_at(&peer, &Method::PUT, path, &bare, body), None);
        // Another relaying replica than the MAC covers.
        let mut by = h.clone();
        by.insert(config::RELAYED_BY, "0".parse().unwrap());
        assert_eq!(relayed_at(&peer, &Method::PUT, path, &by, body), None);
        assert_eq!(peer.metrics.relay_headers_dropped_total(), 6);
        // Without replicas no relay is expected: even a valid MAC is dropped.
        let alone = sim(false, "shared");
        assert_eq!(relayed_at(&alone, &Method::PUT, path, &h, body), None);
        assert_eq!(alone.metrics.relay_headers_dropped_total(), 1);
        // No header, nothing to drop.
        assert_eq!(
            relayed_at(&alone, &Method::PUT, path, &HeaderMap::new(), body),
            None
        );
        assert_eq!(alone.metrics.relay_headers_dropped_total(), 1);
    }
}
