//! `/metrics`: the hub's counters and the ledger's state, through `prometheus-client`
//! (see `perfbed_http::metrics`).
//!
//! Exposed (prefix `perfbed_hub_`): `transfers_total{state}`, `transfers_in_flight`,
//! `transfers_held`, `position{fsp}`, `callbacks_total{outcome="ok"|"failed"}`,
//! `callbacks_in_flight`, `callbacks_retried_total`, `requests_accepted_total` (FSPIOP requests from DFSPs answered 2xx),
//! `shed_total` (requests refused with 503/2003 at the callback limit). The ledger's
//! numbers are read at scrape time (a [`Collector`]); the callback counters are atomic adds.
//!
//! Its own legs, as the real services expose theirs (histograms in seconds, label `success`,
//! so perfbed's switch-metrics section reads them like central-ledger's):
//! `transfer_prepare` (a prepare from its arrival to the reservation and the forward queued,
//! any configured queue latency included) and `transfer_fulfil` (a fulfil from its arrival to
//! the commit and the notifications queued). Buckets: [`LEG_BUCKETS`].

use axum::extract::State;
use axum::response::Response;
use perfbed_http::metrics::Registry;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use std::sync::{Arc, Weak};

use crate::Hub;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Success {
    success: &'static str,
}

/// Bucket edges of the hub's legs, seconds: 100 µs to 5 s (the emulator works in
/// microseconds unless latency is configured).
pub const LEG_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

fn leg_histogram() -> Histogram {
    Histogram::new(LEG_BUCKETS)
}

/// One leg's histogram by outcome. A label set appears at its first observation (as with the
/// real services' prom-client), and its handle is kept then, so later observations are the
/// histogram's own update only (no label lookup).
#[derive(Debug)]
pub struct Leg {
    family: Family<Success, Histogram, fn() -> Histogram>,
    ok: std::sync::OnceLock<Histogram>,
    failed: std::sync::OnceLock<Histogram>,
}

impl Default for Leg {
    fn default() -> Self {
        Leg {
            family: Family::new_with_constructor(leg_histogram),
            ok: std::sync::OnceLock::new(),
            failed: std::sync::OnceLock::new(),
        }
    }
}

impl Leg {
    /// Observes one handling that began at `since`.
    pub fn observe(&self, since: std::time::Instant, success: bool) {
        let (cell, success) = if success {
            (&self.ok, "true")
        } else {
            (&self.failed, "false")
        };
        cell.get_or_init(|| self.family.get_or_create(&Success { success }).clone())
            .observe(since.elapsed().as_secs_f64());
    }
}

/// Counters of the hub's own work; each is an atomic add.
#[derive(Debug)]
pub struct Stats {
    /// Callbacks delivered (2xx): `callbacks_total{outcome="ok"}`.
    pub callbacks_ok: Counter,
    /// Callbacks that failed or had no endpoint, after their retries:
    /// `callbacks_total{outcome="failed"}`.
    pub callbacks_failed: Counter,
    /// Attempts beyond the first that callbacks needed: `callbacks_retried_total`.
    pub callbacks_retried: Counter,
    /// FSPIOP requests from DFSPs that the hub accepted (answered 2xx): `requests_accepted_total`.
    pub requests_accepted: Counter,
    /// Requests refused synchronously (not exported).
    pub sync_errors: Counter,
    /// Callbacks dropped on purpose (`drop_callbacks`; not exported).
    pub callbacks_dropped: Counter,
    /// Callbacks in flight now (queued for a connection or sending): `callbacks_in_flight`.
    pub callbacks_in_flight: Gauge,
    /// Requests shed with 503/2003 because `max_callbacks_in_flight` callbacks were in
    /// flight: `shed_total`.
    pub shed: Counter,
    /// Prepares handled: `transfer_prepare` (seconds, by `success`).
    pub transfer_prepare: Arc<Leg>,
    /// Fulfils handled: `transfer_fulfil` (seconds, by `success`).
    pub transfer_fulfil: Arc<Leg>,
    callbacks: Family<Outcome, Counter>,
}

impl Default for Stats {
    fn default() -> Self {
        let callbacks = Family::<Outcome, Counter>::default();
        let handle = |outcome| callbacks.get_or_create(&Outcome { outcome }).clone();
        Stats {
            callbacks_ok: handle("ok"),
            callbacks_failed: handle("failed"),
            callbacks_retried: Counter::default(),
            requests_accepted: Counter::default(),
            sync_errors: Counter::default(),
            callbacks_dropped: Counter::default(),
            callbacks_in_flight: Gauge::default(),
            shed: Counter::default(),
            transfer_prepare: Arc::default(),
            transfer_fulfil: Arc::default(),
            callbacks,
        }
    }
}

/// The hub's registry: the callback counters and the ledger, read through `hub` at each scrape.
pub(crate) fn registry(stats: &Stats, hub: Weak<Hub>) -> Registry {
    let mut r = Registry::with_prefix("perfbed_hub");
    r.register_collector(Box::new(LedgerCollector(hub)));
    r.register("callbacks", "Callbacks by outcome", stats.callbacks.clone());
    r.register(
        "callbacks_in_flight",
        "Callbacks queued or sending",
        stats.callbacks_in_flight.clone(),
    );
    r.register(
        "callbacks_retried",
        "Callback attempts beyond the first (not delivered at once: sent again)",
        stats.callbacks_retried.clone(),
    );
    r.register(
        "requests_accepted",
        "FSPIOP requests from DFSPs accepted (answered 2xx)",
        stats.requests_accepted.clone(),
    );
    r.register(
        "transfer_prepare",
        "A prepare from its arrival to the reservation and the forward queued, seconds",
        stats.transfer_prepare.family.clone(),
    );
    r.register(
        "transfer_fulfil",
        "A fulfil from its arrival to the commit and the notifications queued, seconds",
        stats.transfer_fulfil.family.clone(),
    );
    r.register(
        "shed",
        "Requests refused with 503/2003 while the callback limit was reached",
        stats.shed.clone(),
    );
    r
}

/// The ledger's counts, in-flight and held transfers and positions, read at scrape time.
#[derive(Debug)]
struct LedgerCollector(Weak<Hub>);

impl Collector for LedgerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(hub) = self.0.upgrade() else {
            return Ok(());
        };
        let c = hub.ledger.counts();
        let (held, in_flight) = hub.ledger.held();
        let counters = [
            ("prepared", c.prepared),
            ("committed", c.committed),
            ("aborted", c.aborted),
            ("expired", c.expired),
        ];
        let mut family = encoder.encode_descriptor(
            "transfers",
            "Transfers by final or current state",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (state, n) in counters {
            ConstCounter::new(n).encode(family.encode_family(&[("state", state)])?)?;
        }
        for (name, help, v) in [
            (
                "transfers_in_flight",
                "Reserved transfers waiting for the payee",
                in_flight,
            ),
            (
                "transfers_held",
                "Transfers in memory (in flight + retention window)",
                held,
            ),
        ] {
            let g = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        let mut family = encoder.encode_descriptor(
            "position",
            "Position per participant",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for p in hub.ledger.participants() {
            // Units have 4 decimals; an f64 holds any realistic position exactly enough.
            let v = p.account().position as f64 / 10_000.0;
            ConstGauge::new(v).encode(family.encode_family(&[("fsp", p.name.as_str())])?)?;
        }
        Ok(())
    }
}

pub(crate) async fn metrics(State(hub): State<Arc<Hub>>) -> Response {
    perfbed_http::metrics::response(&hub.registry)
}
