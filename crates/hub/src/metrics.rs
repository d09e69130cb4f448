//! `/metrics`: the hub's counters and the ledger's state, through `prometheus-client`
//! (see `perfbed_http::metrics`).
//!
//! Exposed (prefix `perfbed_hub_`): `transfers_total{state}`, `transfers_in_flight`,
//! `transfers_held`, `position{fsp}`, `callbacks_total{outcome="ok"|"failed"}`,
//! `callbacks_in_flight`, `callbacks_retried_total`, `requests_accepted_total` (FSPIOP requests from DFSPs answered 2xx),
//! `shed_total` (requests refused with 503/2003 at the callback limit). The ledger's
//! numbers are read at scrape time (a [`Collector`]); the callback counters are atomic adds.

use axum::extract::State;
use axum::response::Response;
use perfbed_http::metrics::Registry;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use std::sync::{Arc, Weak};

use crate::Hub;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
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
