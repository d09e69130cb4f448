//! The aggregator and the report: HDR histograms (µs, 3 significant digits) per phase, end to
//! end and per corridor over the steady-state window; a per-second timeline; accounting whose
//! two sides come from different places (the scheduler counts arrivals, the recorder counts
//! outcomes); thresholds; JSON, Markdown and HTML from one model.
//!
//! - [`model`]: the report's types (`report.json`).
//! - [`recorder`]: samples in, a [`Report`] out.
//! - [`judge`]: the one threshold table, used by [`Recorder::finish`] and [`merge()`].
//! - [`merge`](mod@merge): replicas' reports into one, refusing what cannot be one run.
//! - [`compare`](mod@compare): two or more runs (or suites, stage by stage) side by side, with
//!   a verdict per metric: better, worse or within noise.
//! - `render`, `html`, `svg`: Markdown and HTML (inline SVG charts, nothing fetched).

pub mod compare;
mod html;
pub mod judge;
pub mod merge;
pub mod model;
pub mod recorder;
pub(crate) mod render;
mod svg;

pub use merge::merge;
pub use model::*;
pub use recorder::Recorder;

use hdrhistogram::Histogram;
use std::time::Duration;

/// An iteration starting later than this counts as late.
pub const LATE: Duration = Duration::from_millis(10);

pub(crate) fn hist() -> Histogram<u64> {
    // 1 µs .. 1 h, 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

pub(crate) fn us(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, 3_600_000_000)
}

pub(crate) fn percentiles(h: &Histogram<u64>) -> Percentiles {
    let ms = |q: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(q) as f64 / 1000.0
        }
    };
    Percentiles {
        count: h.len(),
        p50: ms(0.5),
        p90: ms(0.9),
        p95: ms(0.95),
        p99: ms(0.99),
        max: if h.is_empty() {
            0.0
        } else {
            h.max() as f64 / 1000.0
        },
    }
}

pub(crate) fn hist_or_empty(set: &crate::histograms::HistogramSet, name: &str) -> Histogram<u64> {
    set.by_name.get(name).cloned().unwrap_or_else(hist)
}

/// Histogram names of the latency populations: all arrivals that ended at the switch (no
/// prefix), and committed ones only (`committed:`).
pub(crate) const ALL: &str = "";
/// See [`ALL`].
pub(crate) const COMMITTED: &str = "committed:";

/// The latencies of one population from a histogram set.
pub(crate) fn latencies_from(set: &crate::histograms::HistogramSet, prefix: &str) -> Latencies {
    let p = |name: &str| percentiles(&hist_or_empty(set, &format!("{prefix}{name}")));
    Latencies {
        e2e: p("e2e"),
        e2e_raw: p("e2e_raw"),
        lookup: p("lookup"),
        quote: p("quote"),
        transfer: p("transfer"),
    }
}

pub(crate) const PHASES: [&str; 3] = ["lookup", "quote", "transfer"];
pub(crate) const PARTS: [&str; 4] = ["switch_in", "simulator", "switch_out", "switch"];

pub(crate) fn attr_key(corridor: &str, phase: &str, part: &str) -> String {
    format!("attr:{corridor}:{phase}:{part}")
}

/// The attribution table from a histogram set (so replicas' merged histograms give it exactly).
pub(crate) fn attribution_from(
    set: &crate::histograms::HistogramSet,
    corridors: &[String],
) -> Vec<Attribution> {
    let mut out = Vec::new();
    for corridor in std::iter::once("all".to_owned()).chain(corridors.iter().cloned()) {
        for phase in PHASES {
            let p =
                |part: &str| percentiles(&hist_or_empty(set, &attr_key(&corridor, phase, part)));
            let switch_in_ms = p("switch_in");
            if switch_in_ms.count == 0 {
                continue;
            }
            out.push(Attribution {
                phase: phase.into(),
                corridor: corridor.clone(),
                switch_in_ms,
                simulator_ms: p("simulator"),
                switch_out_ms: p("switch_out"),
                switch_ms: p("switch"),
            });
        }
    }
    out
}

pub(crate) fn cost_of(model: &crate::scenario::CostModel, tps: f64) -> Cost {
    let hourly = model.hourly();
    Cost {
        currency: model.currency.clone(),
        hourly,
        tps,
        per_million: (tps > 0.0).then(|| hourly / (tps * 3600.0) * 1_000_000.0),
        basis: model
            .nodes
            .iter()
            .map(|n| format!("{} × {} at {}/h", n.count, n.name, n.hourly))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests;
