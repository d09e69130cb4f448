//! The one threshold table: how each threshold's value is read off a report and which way is
//! better. [`Recorder::finish`](super::Recorder::finish) judges a run with it, and
//! [`merge()`](super::merge()) judges the merged whole again with the same rules.

use super::{Report, Threshold};
use crate::scenario::Thresholds;

type Read = fn(&Report) -> f64;
type Measured = fn(&Report) -> bool;

/// (name, higher is better, value, whether there is anything to judge). A value read off an
/// empty population (an empty histogram reads 0 ms, an empty window 0 %) is no evidence: the
/// threshold fails as "no data".
const TABLE: [(&str, bool, Read, Measured); 4] = [
    (
        "success_rate_pct",
        true,
        |r| r.success_rate,
        |r| r.window.arrivals > 0,
    ),
    (
        "e2e_p95_ms",
        false,
        |r| r.latency_ms.e2e.p95,
        |r| r.latency_ms.e2e.count > 0,
    ),
    (
        "e2e_p99_ms",
        false,
        |r| r.latency_ms.e2e.p99,
        |r| r.latency_ms.e2e.count > 0,
    ),
    (
        "achieved_ratio",
        true,
        |r| {
            if r.target_tps > 0.0 {
                r.achieved_tps / r.target_tps
            } else {
                0.0
            }
        },
        |r| r.target_tps > 0.0,
    ),
];

/// The limits a scenario sets, by threshold name.
pub fn limits(t: &Thresholds) -> Vec<(String, f64)> {
    [
        ("success_rate_pct", t.success_rate),
        ("e2e_p95_ms", t.p95_ms),
        ("e2e_p99_ms", t.p99_ms),
        ("achieved_ratio", t.achieved_ratio),
    ]
    .into_iter()
    .filter_map(|(n, l)| l.map(|l| (n.to_owned(), l)))
    .collect()
}

/// Judges `report` against `limits`; a limit with an unknown name is an error.
pub fn judge(report: &Report, limits: &[(String, f64)]) -> Result<Vec<Threshold>, String> {
    limits
        .iter()
        .map(|(name, limit)| {
            let (_, higher, read, measured) = TABLE
                .iter()
                .find(|(n, ..)| n == name)
                .ok_or_else(|| format!("unknown threshold '{name}'"))?;
            let value = read(report);
            let no_data = !measured(report);
            Ok(Threshold {
                name: name.clone(),
                limit: *limit,
                value,
                ok: !no_data
                    && if *higher {
                        value >= *limit
                    } else {
                        value <= *limit
                    },
                no_data,
            })
        })
        .collect()
}
