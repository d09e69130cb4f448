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
    not_sent: AtomicU64,
    in_flight: AtomicU64,
    target_rate_milli: AtomicU64,
    last_p95_us: AtomicU64,
    last_p99_us: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    /// (phase, corridor) → cumulative bucket counts, sum (s), count; committed iterations.
    latency: Mutex<BTreeMap<(&'static str, String), Buckets>>,
    /// corridor → committed.
    by_corridor: Mutex<BTreeMap<String, u64>>,
}

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
            crate::Outcome::NotSent(_) => &self.not_sent,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// A committed iteration's latencies, by phase and corridor.
    pub(crate) fn sample(&self, s: &crate::Sample, corridor: &str) {
        if s.outcome != crate::Outcome::Committed {
            return;
        }
        *self
            .by_corridor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(corridor.to_owned())
            .or_default() += 1;
        let mut l = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let phases = [
            ("lookup", s.phases[0]),
            ("quote", s.phases[1]),
            ("transfer", s.phases[2]),
        ];
        for (phase, d) in std::iter::once(("e2e", Some(s.e2e))).chain(phases) {
            if let Some(d) = d {
                l.entry((phase, corridor.to_owned())).or_default().record(d);
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
                    "{outcome=\"not_sent\"}".into(),
                    g(&self.not_sent).to_string(),
                ),
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
        let by_corridor = self
            .by_corridor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        metric(
            "committed_total",
            "counter",
            "Committed iterations by corridor",
            by_corridor
                .into_iter()
                .map(|(c, n)| (format!("{{corridor=\"{c}\"}}"), n.to_string()))
                .collect(),
        );
        let latency = self
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut lines = Vec::new();
        for ((phase, corridor), b) in &latency {
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
