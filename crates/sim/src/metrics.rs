//! Prometheus metrics of the simulator (`GET /metrics`, OpenMetrics text through
//! `perfbed_http::metrics`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::OnceLock;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 100 µs … ~3.3 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// All counters and histograms; cheap to update from any task.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteStatus, Counter>,
    handling: HistogramFamily<Route>,
    callbacks_sent: Family<Route, Counter>,
    callbacks_failed: Family<Route, Counter>,
    callback_latency: HistogramFamily<Route>,
    callbacks_retried: Counter,
    jws_failures: Counter,
    hub_jws_failures: Counter,
    shed: Counter,
    relayed: Counter,
    relay_headers_dropped: Counter,
    late_callbacks: Counter,
    anomalies: Family<Kind, Counter>,
    /// Handles of the per-route series, taken from the families on first use (so a route's
    /// series appear in `/metrics` exactly when they would without the cache): a family lookup
    /// hashes the label set under a lock, twice per request and twice per callback.
    by_route: [RouteHandles; ROUTES.len()],
}

/// Cached handles of one route's series (`OnceLock`: created on first use).
#[derive(Debug, Default)]
struct RouteHandles {
    /// `requests{status=200}` and `requests{status=202}`, the usual answers.
    ok: [OnceLock<Counter>; 2],
    handling: OnceLock<Histogram>,
    sent: OnceLock<Counter>,
    failed: OnceLock<Counter>,
    latency: OnceLock<Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric under the `perffsp_` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("perffsp");
        let requests = Family::<RouteStatus, Counter>::default();
        let handling: HistogramFamily<Route> = Family::new_with_constructor(latency_histogram);
        let callbacks_sent = Family::<Route, Counter>::default();
        let callbacks_failed = Family::<Route, Counter>::default();
        let callback_latency: HistogramFamily<Route> =
            Family::new_with_constructor(latency_histogram);
        let callbacks_retried = Counter::default();
        let jws_failures = Counter::default();
        let hub_jws_failures = Counter::default();
        let shed = Counter::default();
        let relayed = Counter::default();
        let relay_headers_dropped = Counter::default();
        let late_callbacks = Counter::default();
        let anomalies = Family::<Kind, Counter>::default();
        registry.register(
            "requests",
            "Inbound FSPIOP requests by route and HTTP status",
            requests.clone(),
        );
        registry.register(
            "handling_seconds",
            "Time to answer an inbound request",
            handling.clone(),
        );
        registry.register(
            "callbacks_sent",
            "Callbacks the hub accepted",
            callbacks_sent.clone(),
        );
        registry.register(
            "callbacks_failed",
            "Callbacks that failed or were refused",
            callbacks_failed.clone(),
        );
        registry.register(
            "callback_seconds",
            "Round trip of a callback to the hub",
            callback_latency.clone(),
        );
        registry.register(
            "callbacks_retried",
            "Callback attempts beyond the first (not delivered at once: sent again)",
            callbacks_retried.clone(),
        );
        registry.register(
            "jws_failures",
            "Inbound requests refused for their signature (3105)",
            jws_failures.clone(),
        );
        registry.register(
            "hub_jws_failures",
            "Messages from the hub (errors, commit confirmations, PATCH) refused for their signature (3105): the hub does not sign as this simulator expects",
            hub_jws_failures.clone(),
        );
        registry.register(
            "shed",
            "Requests refused with 503/2003 because too many callbacks were in flight",
            shed.clone(),
        );
        registry.register(
            "relayed",
            "Payer callbacks relayed to the driver replica that owns them",
            relayed.clone(),
        );
        registry.register(
            "relay_headers_dropped",
            "Relay receipt-time headers ignored because they did not come from a peer replica",
            relay_headers_dropped.clone(),
        );
        registry.register(
            "late_callbacks",
            "Payer callbacks that answered a request whose flow had already given up",
            late_callbacks.clone(),
        );
        registry.register(
            "payer_anomalies",
            "Payer-side anomalies by kind (never counted as success)",
            anomalies.clone(),
        );
        Metrics {
            registry,
            requests,
            handling,
            callbacks_sent,
            callbacks_failed,
            callback_latency,
            callbacks_retried,
            jws_failures,
            hub_jws_failures,
            shed,
            relayed,
            relay_headers_dropped,
            late_callbacks,
            anomalies,
            by_route: Default::default(),
        }
    }

    fn handles(&self, route: &str) -> Option<&RouteHandles> {
        ROUTES
            .iter()
            .position(|r| *r == route)
            .map(|i| &self.by_route[i])
    }

    /// One inbound request answered.
    pub fn request(&self, route: &'static str, status: u16, took: Duration) {
        let took = took.as_secs_f64();
        let Some(h) = self.handles(route) else {
            self.requests
                .get_or_create(&RouteStatus { route, status })
                .inc();
            self.handling.get_or_create(&Route { route }).observe(took);
            return;
        };
        let requests = |status| {
            self.requests
                .get_or_create(&RouteStatus { route, status })
                .clone()
        };
        match status {
            200 => h.ok[0].get_or_init(|| requests(200)).inc(),
            202 => h.ok[1].get_or_init(|| requests(202)).inc(),
            _ => requests(status).inc(),
        };
        h.handling
            .get_or_init(|| self.handling.get_or_create(&Route { route }).clone())
            .observe(took);
    }

    /// One callback finished.
    pub fn callback(&self, route: &'static str, ok: bool, took: Duration) {
        let r = Route { route };
        let took = took.as_secs_f64();
        let Some(h) = self.handles(route) else {
            if ok {
                self.callbacks_sent.get_or_create(&r).inc();
            } else {
                self.callbacks_failed.get_or_create(&r).inc();
            }
            self.callback_latency.get_or_create(&r).observe(took);
            return;
        };
        if ok {
            h.sent
                .get_or_init(|| self.callbacks_sent.get_or_create(&r).clone())
                .inc();
        } else {
            h.failed
                .get_or_init(|| self.callbacks_failed.get_or_create(&r).clone())
                .inc();
        }
        h.latency
            .get_or_init(|| self.callback_latency.get_or_create(&r).clone())
            .observe(took);
    }

    /// `n` callback attempts beyond the first.
    pub fn callback_retries(&self, n: u32) {
        if n > 0 {
            self.callbacks_retried.inc_by(u64::from(n));
        }
    }

    /// Callback attempts beyond the first so far.
    pub fn callbacks_retried_total(&self) -> u64 {
        self.callbacks_retried.get()
    }

    /// One signature refused.
    pub fn jws_failure(&self) {
        self.jws_failures.inc();
    }

    /// One message from the hub refused for its signature (also a [`Metrics::jws_failure`]).
    pub fn hub_jws_failure(&self) {
        self.hub_jws_failures.inc();
    }

    /// One request shed.
    pub fn shed(&self) {
        self.shed.inc();
    }

    /// One callback relayed to the replica that owns it.
    pub fn relayed(&self) {
        self.relayed.inc();
    }

    /// Callbacks relayed so far.
    pub fn relayed_total(&self) -> u64 {
        self.relayed.get()
    }

    /// One relay receipt-time header ignored (not from a peer replica).
    pub fn relay_header_dropped(&self) {
        self.relay_headers_dropped.inc();
    }

    /// Relay receipt-time headers ignored so far.
    pub fn relay_headers_dropped_total(&self) -> u64 {
        self.relay_headers_dropped.get()
    }

    /// One callback for a request whose flow had already given up.
    pub fn late_callback(&self) {
        self.late_callbacks.inc();
    }

    /// Late callbacks so far (they completed nothing).
    pub fn late_callbacks_total(&self) -> u64 {
        self.late_callbacks.get()
    }

    /// One payer anomaly.
    pub fn anomaly(&self, kind: &'static str) {
        self.anomalies.get_or_create(&Kind { kind }).inc();
    }

    /// Callbacks sent / failed so far, over all routes.
    pub fn callback_totals(&self) -> (u64, u64) {
        let sum = |f: &Family<Route, Counter>| -> u64 {
            ROUTES
                .iter()
                .map(|route| f.get_or_create(&Route { route }).get())
                .sum()
        };
        (sum(&self.callbacks_sent), sum(&self.callbacks_failed))
    }

    /// Shed requests so far.
    pub fn shed_total(&self) -> u64 {
        self.shed.get()
    }

    /// JWS failures so far.
    pub fn jws_failure_total(&self) -> u64 {
        self.jws_failures.get()
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        perfbed_http::metrics::encode(&self.registry)
    }
}

/// Every route label the simulator uses.
pub const ROUTES: &[&str] = &[
    "parties_get",
    "parties_put",
    "parties_error",
    "participants_put",
    "quotes_post",
    "quotes_put",
    "quotes_error",
    "transfers_post",
    "transfers_put",
    "transfers_patch",
    "transfers_error",
    "unknown",
];
