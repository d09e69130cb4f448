//! # hub — the hub emulator
//!
//! An in-memory stand-in for a Mojaloop switch, as far as a DFSP can observe it (reference
//! §9.5): ALS + oracle (`/parties`, `/participants`), quoting-service pass-through (`/quotes`),
//! ml-api-adapter + central-ledger (`/transfers`: validation, duplicates, liquidity and NDC,
//! positions, fulfilment check, expiry, confirmations), and the admin APIs with the real
//! services' paths and bodies, so onboarding tools work unchanged against both.
//!
//! One port, paths as the real services have them, admin APIs under prefixes:
//! FSPIOP at `/`, central-ledger admin at `/admin`, the oracle at `/oracle`, ALS admin at
//! `/als-admin`. Callbacks go to each participant's registered endpoint templates, rendered as
//! the hub renders them. It never parses `ilpPacket`.
//!
//! * [`ledger`] — positions and the transfer state machine, without I/O.
//! * [`admin`] — central-ledger admin, ALS admin and oracle REST APIs.
#![forbid(unsafe_code)]

pub mod admin;
pub mod ledger;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use fspiop::error::{ErrorCode, ErrorInformationObject};
use fspiop::headers::{self, Version};
use fspiop::json::to_canonical_vec;
use fspiop::jws::{KeyStore, VerifyMode};
use fspiop::models::{
    ParticipantsIdPut, ParticipantsPost, ParticipantsTypeIdPost, ParticipantsTypeIdPut,
    PartyResult, TransferState, TransfersPost, TransfersPut,
};
use fspiop::types::FspId;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use http_body_util::Full;
use ledger::HashMap;
use perfbed_http::fspiop::{check_inbound, parse_body, FspiopError, JwsPolicy};
pub use perfbed_http::latency::Latency;
use perfbed_http::{ClientOptions, HttpClient};
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ledger::{Ledger, Prepared};

/// Hub emulator settings.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// The hub's own FSP id (`Hub`).
    pub hub_id: String,
    /// Version of hub-generated messages (errors, confirmations).
    pub version: Version,
    /// Send the payee a `PUT /transfers/{ID}` confirmation after commit (ml-api-adapter's
    /// `SEND_TRANSFER_CONFIRMATION_TO_PAYEE`, default true).
    pub confirm_to_payee: bool,
    /// How often the expiry sweep runs (the real hub: every 15 s).
    pub sweep_every: Duration,
    /// How long finished transfers are kept for duplicate detection.
    pub retention: Duration,
    /// Verify JWS on incoming requests with a body (off by default, like the hub).
    pub jws: Option<(Arc<KeyStore>, VerifyMode)>,
    /// Timeout of each callback.
    pub http_timeout: Duration,
    /// Emulated processing latency per stage, added before the hub sends on.
    pub latency: StageLatency,
    /// Share of callbacks silently dropped (0.0–1.0): a switch that loses messages.
    pub drop_callbacks: f64,
    /// Share of prepares refused with 2001 before anything is reserved (0.0–1.0).
    pub reject_prepares: f64,
    /// A switch whose clock is off: added to the time `/health` reports (ms; for trying
    /// `perfbed preflight`'s skew check).
    pub clock_offset_ms: i64,
    /// Most callbacks in flight (queued or sending); beyond that, requests that start new
    /// work (`GET`, `POST`) are shed at once with 503/2003 instead of queueing callbacks
    /// that would only time out. Answers (`PUT`, `PATCH`) always pass: they finish work.
    pub max_callbacks_in_flight: usize,
}

/// Added latency per stage of the switch (what a slow real hub would add).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageLatency {
    /// ALS: before `GET /parties` goes on to the payee and `PUT /parties` back to the payer.
    pub lookup: Latency,
    /// Quoting-service: before quotes go on, both directions.
    pub quote: Latency,
    /// Before the prepare goes on to the payee.
    pub prepare: Latency,
    /// Before the fulfil (or an error) goes on to the payer, and confirmations to the payee.
    pub fulfil: Latency,
}

impl StageLatency {
    /// The same latency for every stage.
    pub fn all(l: Latency) -> StageLatency {
        StageLatency {
            lookup: l.clone(),
            quote: l.clone(),
            prepare: l.clone(),
            fulfil: l,
        }
    }

    fn for_endpoint(&self, endpoint: &str) -> &Latency {
        if endpoint.contains("PARTIES") || endpoint.contains("PARTICIPANT") {
            &self.lookup
        } else if endpoint.contains("QUOTES") {
            &self.quote
        } else if endpoint.ends_with("TRANSFER_POST") {
            &self.prepare
        } else {
            &self.fulfil
        }
    }
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            hub_id: "Hub".into(),
            version: Version::V1_1,
            confirm_to_payee: true,
            sweep_every: Duration::from_secs(15),
            retention: Duration::from_secs(300),
            jws: None,
            http_timeout: Duration::from_secs(20),
            latency: StageLatency::default(),
            drop_callbacks: 0.0,
            reject_prepares: 0.0,
            clock_offset_ms: 0,
            max_callbacks_in_flight: 10_000,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Callbacks delivered (2xx).
    pub callbacks_ok: AtomicU64,
    /// Callbacks that failed or had no endpoint.
    pub callbacks_failed: AtomicU64,
    /// Requests refused synchronously.
    pub sync_errors: AtomicU64,
    /// Callbacks dropped on purpose (`drop_callbacks`).
    pub callbacks_dropped: AtomicU64,
    /// Callbacks in flight now (queued for a connection or sending).
    pub callbacks_in_flight: AtomicU64,
    /// Requests shed with 503/2003 because `max_callbacks_in_flight` callbacks were in flight.
    pub shed: AtomicU64,
}

/// Counts a callback in flight until dropped (sent, failed, or cancelled by shutdown).
struct InFlight(Arc<Hub>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .stats
            .callbacks_in_flight
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// The hub emulator.
pub struct Hub {
    config: HubConfig,
    /// The ledger.
    pub ledger: Ledger,
    /// The oracle: `(type, id)` → FSP.
    oracle: RwLock<HashMap<(String, String), String>>,
    /// Admin-side state (hub accounts, settlement models, oracles, funds-out reservations).
    pub(crate) admin: admin::AdminState,
    client: HttpClient,
    jws_policy: Option<JwsPolicy>,
    tracker: TaskTracker,
    /// Duplicate detection's body hash (foldhash's quality variant: 64 bits, seeded per
    /// process; ~10× cheaper than SipHash on a 1 KB prepare).
    body_hasher: foldhash::quality::RandomState,
    /// Counters.
    pub stats: Stats,
    /// `FSPIOP-Source` and `Content-Type` values of the hub's own messages, built once.
    own_source: HeaderValue,
    own_content_types: [(&'static str, HeaderValue); 4],
}

const SOURCE_HEADER: HeaderName = HeaderName::from_static("fspiop-source");
const DESTINATION_HEADER: HeaderName = HeaderName::from_static("fspiop-destination");

/// The resources the hub sends messages about.
const OWN_RESOURCES: [&str; 4] = ["parties", "participants", "quotes", "transfers"];

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("hub_id", &self.config.hub_id)
            .finish()
    }
}

fn now_datetime() -> fspiop::types::DateTime {
    fspiop::types::DateTime::from_offset_date_time(time::OffsetDateTime::now_utc())
}

/// Renders an endpoint template as the hub does (Mustache, reference §7.2): each `{{name}}` is
/// replaced by its value in `vars`, or by nothing when it has none, as Mustache renders a
/// missing variable; an unclosed `{{` stays as written. One pass, one allocation.
fn render_template(template: &str, vars: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 48);
    let mut rest = template;
    // A `char` search is a memchr; a `&str` pattern builds a two-way searcher per call.
    while let Some(open) = find_pair(rest, b'{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        match find_pair(after, b'}') {
            Some(close) => {
                let name = &after[..close];
                if let Some((_, v)) = vars.iter().find(|(k, _)| *k == name.trim()) {
                    out.push_str(v);
                }
                rest = &after[close + 2..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Where `cc` (e.g. `{{`) first occurs in `s`.
fn find_pair(s: &str, c: u8) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(i) = s[from..].find(c as char) {
        let at = from + i;
        if b.get(at + 1) == Some(&c) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// An outgoing callback: to whom, which endpoint, what.
struct Callback {
    to: String,
    endpoint: &'static str,
    vars: Vec<(&'static str, String)>,
    suffix: String,
    method: Method,
    /// Headers to send (forwarded ones, or the hub's own).
    headers: HeaderMap,
    body: Bytes,
}

impl Hub {
    /// Builds the hub.
    pub fn new(config: HubConfig, client_tls: Option<Arc<rustls::ClientConfig>>) -> Arc<Hub> {
        let jws_policy = config
            .jws
            .as_ref()
            .map(|(keys, mode)| JwsPolicy::new(keys.clone(), *mode, config.hub_id.clone()));
        Arc::new(Hub {
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
            stats: Stats::default(),
            own_source: HeaderValue::from_str(&config.hub_id)
                .unwrap_or_else(|_| HeaderValue::from_static("Hub")),
            own_content_types: OWN_RESOURCES.map(|r| {
                let v = headers::content_type(r, config.version);
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

    /// Renders a participant's endpoint template as the hub does (`{{transferId}}`, …).
    fn endpoint_url(&self, fsp: &str, kind: &str, vars: &[(&str, String)]) -> Option<String> {
        let template = self.ledger.participant(fsp)?.endpoint(kind)?;
        Some(render_template(&template, vars))
    }

    /// Headers of a message the hub itself sends.
    fn own_headers(&self, resource: &str, destination: &str) -> HeaderMap {
        let mut h = HeaderMap::with_capacity(8);
        let content_type = match self.own_content_types.iter().find(|(r, _)| *r == resource) {
            Some((_, v)) => Some(v.clone()),
            None => {
                HeaderValue::from_str(&headers::content_type(resource, self.config.version)).ok()
            }
        };
        if let Some(v) = content_type {
            h.insert(http::header::CONTENT_TYPE, v);
        }
        h.insert(http::header::DATE, headers::date_now());
        h.insert(SOURCE_HEADER, self.own_source.clone());
        if let Ok(v) = HeaderValue::from_str(destination) {
            h.insert(DESTINATION_HEADER, v);
        }
        h
    }

    /// Headers kept when forwarding a DFSP's message (its body and signature stay intact).
    fn forwarded_headers(h: &HeaderMap, method: &Method, destination: Option<&str>) -> HeaderMap {
        // One pass over what came in (a handful of headers) instead of a hashed lookup per name
        // kept; the first value of a repeated header wins, as `HeaderMap::get` would give it.
        let strip_accept = method == Method::PUT || method == Method::PATCH;
        let mut out = HeaderMap::with_capacity(16);
        for (name, value) in h {
            let keep = match name.as_str() {
                // The hub strips Accept when forwarding callbacks.
                "accept" => !strip_accept,
                "content-type" | "date" | "fspiop-source" | "fspiop-destination"
                | "fspiop-signature" | "fspiop-uri" | "fspiop-http-method"
                | "fspiop-encryption" | "traceparent" | "tracestate" => true,
                _ => false,
            };
            if keep {
                out.entry(name).or_insert_with(|| value.clone());
            }
        }
        if let Some(d) = destination.and_then(|d| HeaderValue::from_str(d).ok()) {
            out.insert(DESTINATION_HEADER, d);
        }
        out
    }

    /// An error message from the hub itself (unsigned, `FSPIOP-Source: Hub`).
    #[allow(clippy::too_many_arguments)] // one flat call per error path reads best
    fn error_callback(
        self: &Arc<Self>,
        to: &str,
        endpoint: &'static str,
        vars: Vec<(&'static str, String)>,
        suffix: String,
        resource: &str,
        code: ErrorCode,
        detail: &str,
    ) {
        let body = ErrorInformationObject::new(code, (!detail.is_empty()).then_some(detail));
        self.send(Callback {
            to: to.to_owned(),
            endpoint,
            vars,
            suffix,
            method: Method::PUT,
            headers: self.own_headers(resource, to),
            body: Bytes::from(body.to_bytes()),
        });
    }

    /// A message from the hub itself (not an error): confirmations, lookups answered by ALS,
    /// state answers.
    fn notify<T: fspiop::json::Canonical>(
        self: &Arc<Self>,
        to: &str,
        endpoint: &'static str,
        vars: Vec<(&'static str, String)>,
        method: Method,
        resource: &str,
        body: &T,
    ) {
        self.send(Callback {
            to: to.to_owned(),
            endpoint,
            vars,
            suffix: String::new(),
            method,
            headers: self.own_headers(resource, to),
            body: Bytes::from(to_canonical_vec(body)),
        });
    }

    /// Sends a callback in the background. A missing endpoint or a failed delivery is counted
    /// (the hub does not retry).
    fn send(self: &Arc<Self>, cb: Callback) {
        match self.callback_url(&cb) {
            Some(url) => self.send_to(url, cb),
            None => {
                tracing::debug!(to = %cb.to, endpoint = cb.endpoint, "no endpoint registered");
                self.stats.callbacks_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Where a callback goes: the recipient's endpoint template, rendered, plus the suffix.
    fn callback_url(&self, cb: &Callback) -> Option<String> {
        let base = self.endpoint_url(&cb.to, cb.endpoint, &cb.vars)?;
        Some(if cb.suffix.is_empty() {
            base
        } else {
            base + &cb.suffix
        })
    }

    /// Sends a callback to `url` in the background (see [`Hub::send`]).
    fn send_to(self: &Arc<Self>, url: String, cb: Callback) {
        if self.config.drop_callbacks > 0.0 && rand::random::<f64>() < self.config.drop_callbacks {
            self.stats.callbacks_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let delay = self
            .config
            .latency
            .for_endpoint(cb.endpoint)
            .sample(&mut rand::rng());
        let mut req = http::Request::builder().method(cb.method).uri(&url);
        if let Some(h) = req.headers_mut() {
            *h = cb.headers;
        }
        let Ok(req) = req.body(Full::new(cb.body)) else {
            self.stats.callbacks_failed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        self.stats
            .callbacks_in_flight
            .fetch_add(1, Ordering::Relaxed);
        let counted = InFlight(self.clone());
        self.tracker.spawn(async move {
            let hub = &counted.0;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let ok = matches!(hub.client.send(req).await, Ok(r) if r.status().is_success());
            let counter = if ok {
                &hub.stats.callbacks_ok
            } else {
                &hub.stats.callbacks_failed
            };
            counter.fetch_add(1, Ordering::Relaxed);
            if !ok {
                tracing::debug!(%url, "callback failed");
            }
        });
    }

    /// The expiry sweep: expired reserved transfers get 3303 to payer and payee.
    pub fn sweep(self: &Arc<Self>) -> usize {
        let expired = self.ledger.sweep();
        for (id, t) in &expired {
            for to in [&t.payer, &t.payee] {
                self.error_callback(
                    to,
                    "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
                    vec![("transferId", id.clone())],
                    String::new(),
                    "transfers",
                    ErrorCode::TransferExpired,
                    "",
                );
            }
        }
        expired.len()
    }
}

/// What an FSPIOP path asks for.
#[derive(Debug)]
enum Target {
    PartiesGet {
        t: String,
        id: String,
        sub: Option<String>,
    },
    PartiesPut {
        t: String,
        id: String,
        sub: Option<String>,
        error: bool,
    },
    ParticipantsGet {
        t: String,
        id: String,
    },
    ParticipantsPost {
        t: String,
        id: String,
    },
    ParticipantsBulk,
    ParticipantsPut,
    QuotesPost,
    QuotesPut {
        id: String,
        error: bool,
    },
    TransfersPost,
    TransfersGet {
        id: String,
    },
    TransfersPut {
        id: String,
    },
    TransfersError {
        id: String,
    },
}

fn parse_target(method: &Method, path: &str) -> Result<Target, FspiopError> {
    let s: Vec<&str> = path.trim_matches('/').split('/').collect();
    let o = |x: &str| x.to_owned();
    Ok(match (method, s.as_slice()) {
        (&Method::GET, ["parties", t, id]) => Target::PartiesGet {
            t: o(t),
            id: o(id),
            sub: None,
        },
        (&Method::GET, ["parties", t, id, sub]) => Target::PartiesGet {
            t: o(t),
            id: o(id),
            sub: Some(o(sub)),
        },
        (&Method::PUT, ["parties", t, id, "error"]) => Target::PartiesPut {
            t: o(t),
            id: o(id),
            sub: None,
            error: true,
        },
        (&Method::PUT, ["parties", t, id, sub, "error"]) => Target::PartiesPut {
            t: o(t),
            id: o(id),
            sub: Some(o(sub)),
            error: true,
        },
        (&Method::PUT, ["parties", t, id]) => Target::PartiesPut {
            t: o(t),
            id: o(id),
            sub: None,
            error: false,
        },
        (&Method::PUT, ["parties", t, id, sub]) => Target::PartiesPut {
            t: o(t),
            id: o(id),
            sub: Some(o(sub)),
            error: false,
        },
        (&Method::GET, ["participants", t, id]) => Target::ParticipantsGet { t: o(t), id: o(id) },
        (&Method::POST, ["participants", t, id]) => Target::ParticipantsPost { t: o(t), id: o(id) },
        (&Method::POST, ["participants"]) => Target::ParticipantsBulk,
        (&Method::PUT, ["participants", ..]) => Target::ParticipantsPut,
        (&Method::POST, ["quotes"]) => Target::QuotesPost,
        (&Method::PUT, ["quotes", id]) => Target::QuotesPut {
            id: o(id),
            error: false,
        },
        (&Method::PUT, ["quotes", id, "error"]) => Target::QuotesPut {
            id: o(id),
            error: true,
        },
        (&Method::POST, ["transfers"]) => Target::TransfersPost,
        (&Method::GET, ["transfers", id]) => Target::TransfersGet { id: o(id) },
        (&Method::PUT, ["transfers", id]) => Target::TransfersPut { id: o(id) },
        (&Method::PUT, ["transfers", id, "error"]) => Target::TransfersError { id: o(id) },
        (_, ["parties" | "participants" | "quotes" | "transfers", ..]) => {
            return Err(FspiopError::new(
                ErrorCode::GenericClientError,
                format!("method {method} not allowed on {path}"),
            ))
        }
        _ => {
            return Err(FspiopError::new(
                ErrorCode::UnknownUri,
                format!("{method} {path}"),
            ))
        }
    })
}

/// The router: FSPIOP at `/`, admin APIs under `/admin`, `/oracle`, `/als-admin`.
pub fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .nest("/admin", admin::central_ledger_router())
        .nest("/oracle", admin::oracle_router())
        .nest("/als-admin", admin::als_admin_router())
        .fallback(fspiop_request)
        .with_state(hub)
}

async fn health(State(hub): State<Arc<Hub>>) -> Response {
    // `time` (Unix ms) lets `perfbed preflight` measure clock skew to the switch.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({ "status": "OK", "time": now + hub.config.clock_offset_ms })),
    )
        .into_response()
}

async fn metrics(State(hub): State<Arc<Hub>>) -> Response {
    let c = hub.ledger.counts();
    let (held, in_flight) = hub.ledger.held();
    let mut out = String::new();
    let mut line = |name: &str, help: &str, kind: &str, samples: Vec<(String, String)>| {
        out.push_str(&format!(
            "# HELP perfbed_hub_{name} {help}\n# TYPE perfbed_hub_{name} {kind}\n"
        ));
        for (labels, v) in samples {
            out.push_str(&format!("perfbed_hub_{name}{labels} {v}\n"));
        }
    };
    line(
        "transfers_total",
        "Transfers by final or current state",
        "counter",
        vec![
            ("{state=\"prepared\"}".into(), c.prepared.to_string()),
            ("{state=\"committed\"}".into(), c.committed.to_string()),
            ("{state=\"aborted\"}".into(), c.aborted.to_string()),
            ("{state=\"expired\"}".into(), c.expired.to_string()),
        ],
    );
    line(
        "transfers_in_flight",
        "Reserved transfers waiting for the payee",
        "gauge",
        vec![(String::new(), in_flight.to_string())],
    );
    line(
        "transfers_held",
        "Transfers in memory (in flight + retention window)",
        "gauge",
        vec![(String::new(), held.to_string())],
    );
    line(
        "position",
        "Position per participant",
        "gauge",
        hub.ledger
            .participants()
            .iter()
            .map(|p| {
                (
                    format!("{{fsp=\"{}\"}}", p.name),
                    ledger::format_units(p.account().position),
                )
            })
            .collect(),
    );
    line(
        "callbacks_total",
        "Callbacks by outcome",
        "counter",
        vec![
            (
                "{outcome=\"ok\"}".into(),
                hub.stats.callbacks_ok.load(Ordering::Relaxed).to_string(),
            ),
            (
                "{outcome=\"failed\"}".into(),
                hub.stats
                    .callbacks_failed
                    .load(Ordering::Relaxed)
                    .to_string(),
            ),
        ],
    );
    (
        StatusCode::OK,
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        out,
    )
        .into_response()
}

async fn fspiop_request(
    State(hub): State<Arc<Hub>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Shed new work early while the callbacks already owed are at the limit.
    if (method == Method::GET || method == Method::POST)
        && hub.stats.callbacks_in_flight.load(Ordering::Relaxed)
            >= hub.config.max_callbacks_in_flight as u64
    {
        hub.stats.shed.fetch_add(1, Ordering::Relaxed);
        hub.stats.sync_errors.fetch_add(1, Ordering::Relaxed);
        return FspiopError::new(
            ErrorCode::ServiceCurrentlyUnavailable,
            "too many callbacks in flight",
        )
        .into_response();
    }
    let result = parse_target(&method, uri.path())
        .and_then(|t| handle(&hub, t, &method, uri.path(), &headers, body));
    match result {
        Ok(status) => status.into_response(),
        Err(e) => {
            hub.stats.sync_errors.fetch_add(1, Ordering::Relaxed);
            e.into_response()
        }
    }
}

fn handle(
    hub: &Arc<Hub>,
    target: Target,
    method: &Method,
    path: &str,
    h: &HeaderMap,
    body: Bytes,
) -> Result<StatusCode, FspiopError> {
    let parsed = check_inbound(method, path, h, &body, hub.jws_policy.as_ref())?;
    let source = parsed.source.to_owned();
    let destination = parsed.destination.map(str::to_owned);
    if source != hub.config.hub_id
        && !hub
            .ledger
            .participant(&source)
            .is_some_and(|p| p.is_active())
    {
        return Err(FspiopError::new(
            ErrorCode::GenericIdNotFound,
            format!("FSPIOP-Source '{source}' is not an active participant"),
        ));
    }
    // As the real services answer: PUT 200, POST/GET 202 — except the ALS's bulk
    // `POST /participants`, which answers 200 (account-lookup-service 17.x,
    // `src/api/participants.js`; its own API definition says 202).
    let accepted = if *method == Method::PUT || matches!(target, Target::ParticipantsBulk) {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let forward = |to: &str,
                   endpoint: &'static str,
                   vars: Vec<(&'static str, String)>,
                   suffix: String,
                   body: Bytes| {
        hub.send(Callback {
            to: to.to_owned(),
            endpoint,
            vars,
            suffix,
            method: method.clone(),
            headers: Hub::forwarded_headers(h, method, Some(to)),
            body,
        });
    };
    let known = |fsp: &str| hub.ledger.participant(fsp).is_some();
    match target {
        Target::PartiesGet { t, id, sub } => {
            let vars = party_vars(&t, &id, sub.as_deref());
            let to = destination.or_else(|| hub.oracle_get(&t, &id));
            let error_ep = if sub.is_some() {
                "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT_ERROR"
            } else {
                "FSPIOP_CALLBACK_URL_PARTIES_PUT_ERROR"
            };
            match to.filter(|d| known(d)) {
                Some(to) => {
                    let ep = if sub.is_some() {
                        "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_GET"
                    } else {
                        "FSPIOP_CALLBACK_URL_PARTIES_GET"
                    };
                    forward(&to, ep, vars, String::new(), body);
                }
                None => hub.error_callback(
                    &source,
                    error_ep,
                    vars,
                    String::new(),
                    "parties",
                    ErrorCode::PartyNotFound,
                    "",
                ),
            }
        }
        Target::PartiesPut { t, id, sub, error } => {
            let to = require_destination(destination, &known)?;
            let ep = match (sub.is_some(), error) {
                (false, false) => "FSPIOP_CALLBACK_URL_PARTIES_PUT",
                (false, true) => "FSPIOP_CALLBACK_URL_PARTIES_PUT_ERROR",
                (true, false) => "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT",
                (true, true) => "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT_ERROR",
            };
            forward(
                &to,
                ep,
                party_vars(&t, &id, sub.as_deref()),
                String::new(),
                body,
            );
        }
        Target::ParticipantsGet { t, id } => {
            let vars = party_vars(&t, &id, None);
            match hub.oracle_get(&t, &id) {
                Some(fsp) => {
                    let put = ParticipantsTypeIdPut {
                        fsp_id: FspId::parse(fsp).ok(),
                    };
                    hub.notify(
                        &source,
                        "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT",
                        vars,
                        Method::PUT,
                        "participants",
                        &put,
                    );
                }
                None => hub.error_callback(
                    &source,
                    "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT_ERROR",
                    vars,
                    String::new(),
                    "participants",
                    ErrorCode::PartyNotFound,
                    "",
                ),
            }
        }
        Target::ParticipantsPost { t, id } => {
            let req: ParticipantsTypeIdPost = parse_body(&body)?;
            let vars = party_vars(&t, &id, None);
            if req.fsp_id.as_str() != source {
                hub.error_callback(
                    &source,
                    "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT_ERROR",
                    vars,
                    String::new(),
                    "participants",
                    ErrorCode::AddPartyInformationError,
                    "fspId must equal FSPIOP-Source",
                );
            } else {
                hub.oracle_set(&t, &id, req.fsp_id.as_str());
                let put = ParticipantsTypeIdPut {
                    fsp_id: Some(req.fsp_id),
                };
                hub.notify(
                    &source,
                    "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT",
                    vars,
                    Method::PUT,
                    "participants",
                    &put,
                );
            }
        }
        Target::ParticipantsBulk => {
            let req: ParticipantsPost = parse_body(&body)?;
            req.check()?;
            let party_list = req
                .party_list
                .into_iter()
                .map(|p| {
                    let ok = p.fsp_id.as_ref().is_some_and(|f| f.as_str() == source);
                    if ok {
                        hub.oracle_set(
                            p.party_id_type.as_str(),
                            p.party_identifier.as_str(),
                            &source,
                        );
                    }
                    PartyResult {
                        error_information: (!ok).then(|| {
                            fspiop::ErrorInformation::new(
                                ErrorCode::PartyNotFound,
                                Some("fspId must equal FSPIOP-Source"),
                            )
                        }),
                        party_id: p,
                    }
                })
                .collect();
            let put = ParticipantsIdPut {
                currency: req.currency,
                party_list,
            };
            hub.send(Callback {
                to: source.clone(),
                endpoint: "FSPIOP_CALLBACK_URL_PARTICIPANT_BATCH_PUT",
                vars: vec![("requestId", req.request_id.into_string())],
                suffix: String::new(),
                method: Method::PUT,
                headers: hub.own_headers("participants", &source),
                body: Bytes::from(to_canonical_vec(&put)),
            });
        }
        Target::ParticipantsPut => {}
        Target::QuotesPost => match destination.filter(|d| known(d)) {
            Some(to) => forward(
                &to,
                "FSPIOP_CALLBACK_URL_QUOTES",
                vec![],
                "/quotes".into(),
                body,
            ),
            None => {
                let id = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["quoteId"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                hub.error_callback(
                    &source,
                    "FSPIOP_CALLBACK_URL_QUOTES",
                    vec![],
                    format!("/quotes/{id}/error"),
                    "quotes",
                    ErrorCode::DestinationFspError,
                    "unknown or missing FSPIOP-Destination",
                );
            }
        },
        Target::QuotesPut { id, error } => {
            let to = require_destination(destination, &known)?;
            let suffix = if error {
                format!("/quotes/{id}/error")
            } else {
                format!("/quotes/{id}")
            };
            forward(&to, "FSPIOP_CALLBACK_URL_QUOTES", vec![], suffix, body);
        }
        Target::TransfersPost => prepare(hub, &source, h, body)?,
        Target::TransfersPut { id } => fulfil(hub, &source, &id, h, body)?,
        Target::TransfersError { id } => reject(hub, &source, &id, h, body)?,
        Target::TransfersGet { id } => {
            let vars = vec![("transferId", id.clone())];
            match hub
                .ledger
                .transfer(&id)
                .filter(|t| t.payer == source || t.payee == source)
            {
                Some(t) => {
                    let put = state_message(&t);
                    hub.notify(
                        &source,
                        "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
                        vars,
                        Method::PUT,
                        "transfers",
                        &put,
                    );
                }
                None => hub.error_callback(
                    &source,
                    "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
                    vars,
                    String::new(),
                    "transfers",
                    ErrorCode::TransferIdNotFound,
                    "",
                ),
            }
        }
    }
    Ok(accepted)
}

fn api_state(s: ledger::State) -> TransferState {
    match s {
        ledger::State::Reserved => TransferState::Reserved,
        ledger::State::Committed => TransferState::Committed,
        ledger::State::Aborted | ledger::State::Expired => TransferState::Aborted,
    }
}

/// `PUT /transfers/{ID}` from the hub with a transfer's current state (answers to
/// `GET /transfers` and to duplicates of finished transfers).
fn state_message(t: &ledger::Transfer) -> TransfersPut {
    TransfersPut {
        completed_timestamp: t
            .completed
            .as_deref()
            .and_then(|c| fspiop::types::DateTime::parse(c).ok()),
        extension_list: None,
        fulfilment: t
            .fulfilment
            .as_deref()
            .and_then(|f| fspiop::types::IlpFulfilment::parse(f).ok()),
        transfer_state: api_state(t.state),
    }
}

fn party_vars(t: &str, id: &str, sub: Option<&str>) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("partyIdType", t.to_owned()),
        ("partyIdentifier", id.to_owned()),
    ];
    if let Some(s) = sub {
        v.push(("partySubIdOrType", s.to_owned()));
    }
    v
}

fn require_destination(
    destination: Option<String>,
    known: &impl Fn(&str) -> bool,
) -> Result<String, FspiopError> {
    match destination {
        Some(d) if known(&d) => Ok(d),
        Some(d) => Err(FspiopError::new(
            ErrorCode::DestinationFspError,
            format!("unknown FSPIOP-Destination '{d}'"),
        )),
        None => Err(FspiopError::new(
            ErrorCode::MissingMandatoryElement,
            "FSPIOP-Destination is required",
        )),
    }
}

/// `POST /transfers`: validate, duplicates, liquidity/NDC, reserve, forward to the payee.
fn prepare(hub: &Arc<Hub>, source: &str, h: &HeaderMap, body: Bytes) -> Result<(), FspiopError> {
    let t: TransfersPost = parse_body(&body)?;
    let id = t.transfer_id.as_str().to_owned();
    let vars = vec![("transferId", id.clone())];
    if hub.config.reject_prepares > 0.0 && rand::random::<f64>() < hub.config.reject_prepares {
        hub.error_callback(
            source,
            "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
            vars,
            String::new(),
            "transfers",
            ErrorCode::InternalServerError,
            "injected failure",
        );
        return Ok(());
    }
    let result = hub.ledger.prepare(
        &id,
        source,
        t.payer_fsp.as_str(),
        t.payee_fsp.as_str(),
        ledger::units(&t.amount.amount),
        t.condition.as_str(),
        t.expiration.to_offset_date_time(),
        hub.body_hasher.hash_one(&body[..]),
    );
    match result {
        Ok(Prepared::Reserved) => {
            let payee = t.payee_fsp.as_str();
            let forward = Callback {
                to: payee.to_owned(),
                endpoint: "FSPIOP_CALLBACK_URL_TRANSFER_POST",
                vars: vec![],
                suffix: String::new(),
                method: Method::POST,
                headers: Hub::forwarded_headers(h, &Method::POST, Some(payee)),
                body,
            };
            if let Some(url) = hub.callback_url(&forward) {
                hub.send_to(url, forward);
            } else {
                // Nowhere to send it: abort at once and tell the payer.
                let _ = hub.ledger.abort(&id, payee);
                hub.error_callback(
                    source,
                    "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
                    vars,
                    String::new(),
                    "transfers",
                    ErrorCode::DestinationCommunicationError,
                    "no TRANSFER_POST endpoint for the payee",
                );
            }
        }
        Ok(Prepared::DuplicateInFlight) => {}
        Ok(Prepared::DuplicateFinished(_)) => {
            if let Some(rec) = hub.ledger.transfer(&id) {
                let put = state_message(&rec);
                hub.notify(
                    source,
                    "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
                    vars,
                    Method::PUT,
                    "transfers",
                    &put,
                );
            }
        }
        Err(r) => hub.error_callback(
            source,
            "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
            vars,
            String::new(),
            "transfers",
            r.code,
            &r.reason,
        ),
    }
    Ok(())
}

/// `PUT /transfers/{ID}` from the payee: fulfil check and commit, notify payer and payee.
fn fulfil(
    hub: &Arc<Hub>,
    source: &str,
    id: &str,
    h: &HeaderMap,
    body: Bytes,
) -> Result<(), FspiopError> {
    let put: TransfersPut = parse_body(&body)?;
    put.check()?;
    let vars = vec![("transferId", id.to_owned())];
    let Some(rec) = hub.ledger.transfer(id) else {
        hub.error_callback(
            source,
            "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
            vars,
            String::new(),
            "transfers",
            ErrorCode::TransferIdNotFound,
            "",
        );
        return Ok(());
    };
    if put.transfer_state != TransferState::Committed
        && put.transfer_state != TransferState::Reserved
    {
        return Err(FspiopError::new(
            ErrorCode::GenericValidationError,
            "transferState must be COMMITTED or RESERVED (use /error to reject)",
        ));
    }
    let Some(f) = put.fulfilment.as_ref() else {
        return Err(FspiopError::new(
            ErrorCode::MissingMandatoryElement,
            "fulfilment",
        ));
    };
    let completed = put.completed_timestamp.clone().unwrap_or_else(now_datetime);
    match hub
        .ledger
        .fulfil(id, source, f, Some(completed.as_str().to_owned()))
    {
        Ok((ledger::Fulfilled::AlreadyCommitted, _)) => {}
        Ok((ledger::Fulfilled::Committed, t)) => {
            let payer = t.payer.as_str();
            if put.transfer_state == TransferState::Reserved {
                // Commit notification (reference §1.5): PUT COMMITTED to the payer, PATCH to the payee.
                let to_payer = TransfersPut {
                    completed_timestamp: Some(completed.clone()),
                    extension_list: None,
                    fulfilment: put.fulfilment.clone(),
                    transfer_state: TransferState::Committed,
                };
                hub.notify(
                    payer,
                    "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
                    vars.clone(),
                    Method::PUT,
                    "transfers",
                    &to_payer,
                );
                let patch = fspiop::models::TransfersPatch {
                    completed_timestamp: completed,
                    extension_list: None,
                    transfer_state: TransferState::Committed,
                };
                hub.notify(
                    source,
                    "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
                    vars,
                    Method::PATCH,
                    "transfers",
                    &patch,
                );
            } else {
                hub.send(Callback {
                    to: payer.to_owned(),
                    endpoint: "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
                    vars: vars.clone(),
                    suffix: String::new(),
                    method: Method::PUT,
                    headers: Hub::forwarded_headers(h, &Method::PUT, Some(payer)),
                    body: body.clone(),
                });
                if hub.config.confirm_to_payee {
                    hub.send(Callback {
                        to: source.to_owned(),
                        endpoint: "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
                        vars,
                        suffix: String::new(),
                        method: Method::PUT,
                        headers: hub.own_headers("transfers", source),
                        body,
                    });
                }
            }
        }
        Err(r) => {
            // Invalid or late fulfil: the transfer is aborted; both sides hear why. Anything
            // else (wrong source, unknown state) goes back to the sender only.
            let both =
                matches!(r.code, ErrorCode::TransferExpired) || r.reason == "invalid fulfilment";
            hub.error_callback(
                source,
                "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
                vars.clone(),
                String::new(),
                "transfers",
                r.code,
                &r.reason,
            );
            if both {
                hub.error_callback(
                    &rec.payer,
                    "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
                    vars,
                    String::new(),
                    "transfers",
                    r.code,
                    &r.reason,
                );
            }
        }
    }
    Ok(())
}

/// `PUT /transfers/{ID}/error` from the payee: abort, forward the error to the payer.
fn reject(
    hub: &Arc<Hub>,
    source: &str,
    id: &str,
    h: &HeaderMap,
    body: Bytes,
) -> Result<(), FspiopError> {
    let err: ErrorInformationObject = parse_body(&body)?;
    let vars = vec![("transferId", id.to_owned())];
    match hub.ledger.abort(id, source) {
        Ok(t) => {
            let defined = err
                .error_information
                .code()
                .is_some_and(ErrorCode::is_defined);
            let (headers, body) = if defined {
                (
                    Hub::forwarded_headers(h, &Method::PUT, Some(&t.payer)),
                    body,
                )
            } else {
                // A code outside the API's table is replaced by 3100 (reference §6).
                let body = ErrorInformationObject::new(
                    ErrorCode::GenericValidationError,
                    Some("payee sent an undefined error code"),
                );
                (
                    hub.own_headers("transfers", &t.payer),
                    Bytes::from(body.to_bytes()),
                )
            };
            hub.send(Callback {
                to: t.payer.clone(),
                endpoint: "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
                vars,
                suffix: String::new(),
                method: Method::PUT,
                headers,
                body,
            });
        }
        Err(r) => hub.error_callback(
            source,
            "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
            vars,
            String::new(),
            "transfers",
            r.code,
            &r.reason,
        ),
    }
    Ok(())
}

/// Which ports the hub listens on.
#[derive(Debug, Clone)]
pub enum Layout {
    /// One port: FSPIOP at `/`, admin APIs under `/admin`, `/oracle`, `/als-admin`.
    Single(SocketAddr),
    /// The real services' ports (+ `offset`), each API at its root: ml-api-adapter 3000,
    /// central-ledger admin 3001, quoting-service 3002, oracle 3003 (the real oracle's default
    /// is 3000, taken here by the adapter), ALS admin 4001, ALS 4002.
    Services {
        /// Address to bind on.
        host: std::net::IpAddr,
        /// Added to every port.
        offset: u16,
    },
}

/// The services of [`Layout::Services`]: name, port, router.
pub fn service_routers(hub: &Arc<Hub>) -> Vec<(&'static str, u16, Router)> {
    let fspiop = || {
        Router::new()
            .route("/health", get(health))
            .route("/metrics", get(metrics))
            .fallback(fspiop_request)
            .with_state(hub.clone())
    };
    let api = |r: Router<Arc<Hub>>| r.with_state(hub.clone());
    vec![
        ("ml-api-adapter", 3000, fspiop()),
        (
            "central-ledger admin",
            3001,
            api(admin::central_ledger_router()),
        ),
        ("quoting-service", 3002, fspiop()),
        ("oracle", 3003, api(admin::oracle_router())),
        ("ALS admin", 4001, api(admin::als_admin_router())),
        ("account-lookup-service", 4002, fspiop()),
    ]
}

/// A running hub.
#[derive(Debug)]
pub struct Running {
    /// Where it listens (the first service's address in the services layout).
    pub addr: SocketAddr,
    /// Every listener: service name and address.
    pub addrs: Vec<(&'static str, SocketAddr)>,
    hub: Arc<Hub>,
    stop: CancellationToken,
    servers: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// The hub (ledger, oracle, stats).
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Stops serving and the sweep, then waits for callbacks in flight (at most `drain`).
    pub async fn shutdown(self, drain: Duration) {
        self.stop.cancel();
        for s in self.servers {
            let _ = s.await;
        }
        self.hub.tracker.close();
        let _ = tokio::time::timeout(drain, self.hub.tracker.wait()).await;
    }
}

/// Binds `listen` and serves the hub on one port, with the expiry sweep running every
/// `sweep_every`.
pub async fn start(
    hub: Arc<Hub>,
    listen: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<Running> {
    start_layout(hub, Layout::Single(listen), tls).await
}

/// Serves the hub in a [`Layout`].
pub async fn start_layout(
    hub: Arc<Hub>,
    layout: Layout,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<Running> {
    let apps: Vec<(&'static str, SocketAddr, Router)> = match layout {
        Layout::Single(addr) => vec![("hub", addr, router(hub.clone()))],
        Layout::Services { host, offset } => service_routers(&hub)
            .into_iter()
            .map(|(name, port, r)| (name, SocketAddr::new(host, port.saturating_add(offset)), r))
            .collect(),
    };
    let stop = CancellationToken::new();
    let mut servers = Vec::new();
    let mut addrs = Vec::new();
    for (name, addr, app) in apps {
        let (listener, bound) = perfbed_http::server::bind(addr)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("{name} on {addr}: {e}")))?;
        let (token, tls) = (stop.clone(), tls.clone());
        servers.push(tokio::spawn(async move {
            perfbed_http::server::serve(
                listener,
                app,
                tls,
                token.cancelled_owned(),
                Duration::from_secs(5),
            )
            .await
        }));
        addrs.push((name, bound));
    }
    let sweeper = hub.clone();
    let token = stop.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(sweeper.config.sweep_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => { sweeper.sweep(); }
                () = token.cancelled() => break,
            }
        }
    });
    Ok(Running {
        addr: addrs[0].1,
        addrs,
        hub,
        stop,
        servers,
    })
}

#[cfg(test)]
mod tests {
    use super::{render_template, Hub};
    use http::{HeaderMap, HeaderName, HeaderValue, Method};

    #[test]
    fn forwarding_keeps_the_fspiop_headers_and_strips_the_rest() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("host", "hub:3000"),
            ("content-length", "12"),
            (
                "content-type",
                "application/vnd.interoperability.transfers+json;version=1.1",
            ),
            (
                "accept",
                "application/vnd.interoperability.transfers+json;version=1",
            ),
            ("date", "Mon, 23 Nov 2026 18:00:00 GMT"),
            ("fspiop-source", "perffsp5"),
            ("fspiop-destination", "perffsp1"),
            ("fspiop-signature", "{\"signature\":\"x\"}"),
            ("traceparent", "00-first-01"),
            ("traceparent", "00-second-01"),
            ("x-forwarded-for", "10.0.0.1"),
        ] {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let put = Hub::forwarded_headers(&h, &Method::PUT, Some("perffsp2"));
        let names: Vec<&str> = put.keys().map(HeaderName::as_str).collect();
        assert_eq!(put.len(), 6, "{names:?}");
        for gone in ["host", "content-length", "accept", "x-forwarded-for"] {
            assert!(!put.contains_key(gone), "{gone} forwarded");
        }
        assert_eq!(put["fspiop-destination"], "perffsp2");
        assert_eq!(put["fspiop-signature"], "{\"signature\":\"x\"}");
        assert_eq!(put.get_all("traceparent").iter().count(), 1);
        assert_eq!(put["traceparent"], "00-first-01");
        let post = Hub::forwarded_headers(&h, &Method::POST, None);
        assert!(post.contains_key("accept"), "Accept stays on requests");
        assert_eq!(post["fspiop-destination"], "perffsp1");
    }

    #[test]
    fn templates_render_like_mustache() {
        let vars = [
            ("partyIdType", "MSISDN".to_owned()),
            ("partyIdentifier", "2551000".to_owned()),
        ];
        assert_eq!(
            render_template(
                "http://s/parties/{{partyIdType}}/{{partyIdentifier}}/error",
                &vars
            ),
            "http://s/parties/MSISDN/2551000/error"
        );
        // A name without a value renders as nothing, as in Mustache; spaces inside are allowed.
        assert_eq!(
            render_template("http://s/transfers/{{transferId}}/x", &vars),
            "http://s/transfers//x"
        );
        assert_eq!(render_template("{{ partyIdType }}", &vars), "MSISDN");
        assert_eq!(render_template("http://s/a{{b", &vars), "http://s/a{{b");
        assert_eq!(render_template("", &vars), "");
        // Single braces are text; the first `}}` closes.
        assert_eq!(
            render_template("http://s/{x}/{{partyIdType}}}/{", &vars),
            "http://s/{x}/MSISDN}/{"
        );
        assert_eq!(
            render_template("{{partyIdType}}{{partyIdType}}", &vars),
            "MSISDNMSISDN"
        );
    }
}
