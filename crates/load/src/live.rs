//! Live metrics while a run is going, for a Prometheus scrape (`--metrics-listen`). Updated by
//! the aggregator task only, read by the HTTP handler.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Counters and gauges of the current run.
#[derive(Debug, Default)]
pub struct LiveMetrics {
    arrivals: AtomicU64,
    committed: AtomicU64,
    rejected: AtomicU64,
    timed_out: AtomicU64,
    failed_after_send: AtomicU64,
    not_sent: AtomicU64,
    lost: AtomicU64,
    in_flight: AtomicU64,
    target_rate_milli: AtomicU64,
    last_p95_us: AtomicU64,
    last_p99_us: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    /// Per corridor (by index): its name, committed count, and per phase (e2e, lookup, quote,
    /// transfer) cumulative bucket counts, sum (s) and count of committed iterations.
    corridors: Mutex<Vec<(String, u64, [Buckets; 4])>>,
}

const LIVE_PHASES: [&str; 4] = ["e2e", "lookup", "quote", "transfer"];

/// Upper bounds (seconds) of the latency histograms.
const BOUNDS: [f64; 14] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Buckets {
    counts: [u64; 14],
    sum: f64,
    count: u64,
}

impl Buckets {
    fn record(&mut self, d: std::time::Duration) {
        let s = d.as_secs_f64();
        for (c, b) in self.counts.iter_mut().zip(BOUNDS) {
            if s <= b {
                *c += 1;
            }
        }
        self.sum += s;
        self.count += 1;
    }
}

impl LiveMetrics {
    pub(crate) fn outcome(&self, o: &crate::Outcome) {
        self.arrivals.fetch_add(1, Ordering::Relaxed);
        let c = match o {
            crate::Outcome::Committed => &self.committed,
            crate::Outcome::Rejected(code) => {
                *self
                    .errors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(code.clone())
                    .or_default() += 1;
                &self.rejected
            }
            crate::Outcome::TimedOut => &self.timed_out,
            crate::Outcome::FailedAfterSend(_) => &self.failed_after_send,
            crate::Outcome::NotSent(_) => &self.not_sent,
            crate::Outcome::Lost(_) => &self.lost,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// A committed iteration's latencies, by phase and corridor.
    pub(crate) fn sample(&self, s: &crate::Sample, corridor: &str) {
        if s.outcome != crate::Outcome::Committed {
            return;
        }
        let mut all = self.corridors.lock().unwrap_or_else(|e| e.into_inner());
        if all.len() <= s.corridor {
            all.resize_with(s.corridor + 1, Default::default);
        }
        let c = &mut all[s.corridor];
        if c.0.is_empty() {
            c.0 = corridor.to_owned();
        }
        c.1 += 1;
        let phases = [Some(s.e2e), s.phases[0], s.phases[1], s.phases[2]];
        for (b, d) in c.2.iter_mut().zip(phases) {
            if let Some(d) = d {
                b.record(d);
            }
        }
    }

    pub(crate) fn second(&self, in_flight: usize, target_rate: f64, p95_us: u64, p99_us: u64) {
        self.in_flight.store(in_flight as u64, Ordering::Relaxed);
        self.target_rate_milli
            .store((target_rate * 1000.0) as u64, Ordering::Relaxed);
        self.last_p95_us.store(p95_us, Ordering::Relaxed);
        self.last_p99_us.store(p99_us, Ordering::Relaxed);
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, lines: Vec<(String, String)>| {
            out.push_str(&format!(
                "# HELP perfbed_load_{name} {help}\n# TYPE perfbed_load_{name} {kind}\n"
            ));
            for (labels, v) in lines {
                out.push_str(&format!("perfbed_load_{name}{labels} {v}\n"));
            }
        };
        metric(
            "iterations_total",
            "counter",
            "Finished iterations by outcome",
            vec![
                (
                    "{outcome=\"committed\"}".into(),
                    g(&self.committed).to_string(),
                ),
                (
                    "{outcome=\"rejected\"}".into(),
                    g(&self.rejected).to_string(),
                ),
                (
                    "{outcome=\"timed_out\"}".into(),
                    g(&self.timed_out).to_string(),
                ),
                (
                    "{outcome=\"failed_after_send\"}".into(),
                    g(&self.failed_after_send).to_string(),
                ),
                (
                    "{outcome=\"not_sent\"}".into(),
                    g(&self.not_sent).to_string(),
                ),
                ("{outcome=\"lost\"}".into(), g(&self.lost).to_string()),
            ],
        );
        let errors = self
            .errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        metric(
            "rejections_total",
            "counter",
            "Rejections by FSPIOP error code",
            errors
                .into_iter()
                .map(|(k, v)| {
                    (
                        format!("{{code=\"{}\"}}", k.replace('"', "'")),
                        v.to_string(),
                    )
                })
                .collect(),
        );
        metric(
            "in_flight",
            "gauge",
            "Iterations in flight",
            vec![(String::new(), g(&self.in_flight).to_string())],
        );
        metric(
            "target_rate",
            "gauge",
            "Scheduled arrivals per second now",
            vec![(
                String::new(),
                format!("{:.3}", g(&self.target_rate_milli) as f64 / 1000.0),
            )],
        );
        metric(
            "e2e_latency_seconds",
            "gauge",
            "End-to-end latency of the last full second (from intended start)",
            vec![
                (
                    "{quantile=\"0.95\"}".into(),
                    format!("{:.6}", g(&self.last_p95_us) as f64 / 1e6),
                ),
                (
                    "{quantile=\"0.99\"}".into(),
                    format!("{:.6}", g(&self.last_p99_us) as f64 / 1e6),
                ),
            ],
        );
        let corridors: Vec<(String, u64, [Buckets; 4])> = self
            .corridors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|c| !c.0.is_empty())
            .cloned()
            .collect();
        metric(
            "committed_total",
            "counter",
            "Committed iterations by corridor",
            corridors
                .iter()
                .map(|(c, n, _)| (format!("{{corridor=\"{c}\"}}"), n.to_string()))
                .collect(),
        );
        let mut lines = Vec::new();
        let latency = corridors.iter().flat_map(|(corridor, _, buckets)| {
            LIVE_PHASES
                .iter()
                .zip(buckets)
                .filter(|(_, b)| b.count > 0)
                .map(move |(phase, b)| (phase, corridor, b))
        });
        for (phase, corridor, b) in latency {
            let l = format!("phase=\"{phase}\",corridor=\"{corridor}\"");
            for (c, bound) in b.counts.iter().zip(BOUNDS) {
                lines.push((format!("_bucket{{{l},le=\"{bound}\"}}"), c.to_string()));
            }
            lines.push((format!("_bucket{{{l},le=\"+Inf\"}}"), b.count.to_string()));
            lines.push((format!("_sum{{{l}}}"), format!("{:.6}", b.sum)));
            lines.push((format!("_count{{{l}}}"), b.count.to_string()));
        }
        metric(
            "phase_seconds",
            "histogram",
            "Latency of committed iterations by phase (e2e from the intended start; lookup, quote, transfer from each request's send) and corridor",
            lines,
        );
        out
    }

    /// Iterations finished so far.
    pub fn finished(&self) -> u64 {
        self.arrivals.load(Ordering::Relaxed)
    }
}
