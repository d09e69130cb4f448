//! `/metrics`: the hub's counters in the Prometheus text format.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::ledger;
use crate::Hub;

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
}

pub(crate) async fn metrics(State(hub): State<Arc<Hub>>) -> Response {
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
