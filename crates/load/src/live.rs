//! Live metrics while a run is going, for a Prometheus scrape (`--metrics-listen`). Updated by
//! the aggregator task only, read by the HTTP handler; kept in a `prometheus-client` registry
//! and rendered by `perfbed_http::metrics`.
//!
//! Exposed (prefix `perfbed_load_`): `iterations_total{outcome}`, `rejections_total{code}`,
//! `in_flight`, `target_rate`, `e2e_latency_seconds{quantile}` (the last full second),
//! `committed_total{corridor}`, `phase_seconds{phase,corridor}` histograms.

use perfbed_http::metrics::Registry;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuantileLabel {
    quantile: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CorridorLabel {
    corridor: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: &'static str,
    corridor: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// A corridor's committed counter and, once observed, its phase histograms.
type CorridorHandles = (Counter, [Option<Histogram>; 4]);

const LIVE_PHASES: [&str; 4] = ["e2e", "lookup", "quote", "transfer"];

/// Upper bounds (seconds) of the latency histograms.
const BOUNDS: [f64; 14] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0,
];

fn phase_histogram() -> Histogram {
    Histogram::new(BOUNDS)
}

/// The outcomes, in `iterations_total`'s label order.
const OUTCOMES: [&str; 6] = [
    "committed",
    "rejected",
    "timed_out",
    "failed_after_send",
    "not_sent",
    "lost",
];

/// Counters and gauges of the current run.
#[derive(Debug)]
pub struct LiveMetrics {
    registry: Registry,
    arrivals: Counter,
    /// `iterations_total` by outcome, in [`OUTCOMES`] order.
    outcomes: [Counter; 6],
    rejections: Family<CodeLabel, Counter>,
    in_flight: Gauge,
    target_rate: Gauge<f64, AtomicU64>,
    /// p95, p99 of the last full second (s).
    last: [Gauge<f64, AtomicU64>; 2],
    committed: Family<CorridorLabel, Counter>,
    phases: HistogramFamily<PhaseLabel>,
    /// Per corridor (by index): its committed counter and phase histograms, looked up once.
    corridors: Mutex<Vec<Option<CorridorHandles>>>,
}

impl Default for LiveMetrics {
    fn default() -> Self {
        LiveMetrics::new()
    }
}

impl LiveMetrics {
    /// Registers every metric under the `perfbed_load_` prefix.
    pub fn new() -> LiveMetrics {
        let mut registry = Registry::with_prefix("perfbed_load");
        let iterations = Family::<OutcomeLabel, Counter>::default();
        let outcomes =
            OUTCOMES.map(|outcome| iterations.get_or_create(&OutcomeLabel { outcome }).clone());
        let rejections = Family::<CodeLabel, Counter>::default();
        let in_flight = Gauge::default();
        let target_rate = Gauge::<f64, AtomicU64>::default();
        let quantiles = Family::<QuantileLabel, Gauge<f64, AtomicU64>>::default();
        let last = ["0.95", "0.99"]
            .map(|quantile| quantiles.get_or_create(&QuantileLabel { quantile }).clone());
        let committed = Family::<CorridorLabel, Counter>::default();
        let phases: HistogramFamily<PhaseLabel> = Family::new_with_constructor(phase_histogram);
        registry.register("iterations", "Finished iterations by outcome", iterations);
        registry.register(
            "rejections",
            "Rejections by FSPIOP error code",
            rejections.clone(),
        );
        registry.register("in_flight", "Iterations in flight", in_flight.clone());
        registry.register(
            "target_rate",
            "Scheduled arrivals per second now",
            target_rate.clone(),
        );
        registry.register(
            "e2e_latency_seconds",
            "End-to-end latency of the last full second (from intended start)",
            quantiles,
        );
        registry.register(
            "committed",
            "Committed iterations by corridor",
            committed.clone(),
        );
        registry.register(
            "phase_seconds",
            "Latency of committed iterations by phase (e2e from the intended start; lookup, quote, transfer from each request's send) and corridor",
            phases.clone(),
        );
        LiveMetrics {
            registry,
            arrivals: Counter::default(),
            outcomes,
            rejections,
            in_flight,
            target_rate,
            last,
            committed,
            phases,
            corridors: Mutex::default(),
        }
    }

    pub(crate) fn outcome(&self, o: &crate::Outcome) {
        self.arrivals.inc();
        let i = match o {
            crate::Outcome::Committed => 0,
            crate::Outcome::Rejected(code) => {
                // A quote would end the label value early in the text format.
                let code = code.replace('"', "'");
                self.rejections.get_or_create(&CodeLabel { code }).inc();
                1
            }
            crate::Outcome::TimedOut => 2,
            crate::Outcome::FailedAfterSend(_) => 3,
            crate::Outcome::NotSent(_) => 4,
            crate::Outcome::Lost(_) => 5,
        };
        self.outcomes[i].inc();
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
        let (committed, histograms) = all[s.corridor].get_or_insert_with(|| {
            let c = CorridorLabel {
                corridor: corridor.to_owned(),
            };
            (self.committed.get_or_create(&c).clone(), Default::default())
        });
        committed.inc();
        let phases = [Some(s.e2e), s.phases[0], s.phases[1], s.phases[2]];
        for ((h, phase), d) in histograms.iter_mut().zip(LIVE_PHASES).zip(phases) {
            let Some(d) = d else { continue };
            // A phase's series appears with its first observation, as before.
            h.get_or_insert_with(|| {
                let label = PhaseLabel {
                    phase,
                    corridor: corridor.to_owned(),
                };
                self.phases.get_or_create(&label).clone()
            })
            .observe(d.as_secs_f64());
        }
    }

    pub(crate) fn second(&self, in_flight: usize, target_rate: f64, p95_us: u64, p99_us: u64) {
        self.in_flight
            .set(i64::try_from(in_flight).unwrap_or(i64::MAX));
        self.target_rate.set(target_rate);
        self.last[0].set(p95_us as f64 / 1e6);
        self.last[1].set(p99_us as f64 / 1e6);
    }

    /// Prometheus exposition (OpenMetrics text).
    pub fn render(&self) -> String {
        perfbed_http::metrics::encode(&self.registry)
    }

    /// Iterations finished so far.
    pub fn finished(&self) -> u64 {
        self.arrivals.get()
    }
}

#[cfg(test)]
mod tests {
    use super::LiveMetrics;
    use crate::{Outcome, Sample};
    use std::time::Duration;

    fn committed(corridor: usize, e2e_ms: u64, transfer_ms: Option<u64>) -> Sample {
        let mut s = Sample::started(0, Duration::ZERO, corridor);
        s.outcome = Outcome::Committed;
        s.e2e = Duration::from_millis(e2e_ms);
        s.phases[2] = transfer_ms.map(Duration::from_millis);
        s
    }

    #[test]
    fn the_scrape_says_what_was_fed_in() {
        let m = LiveMetrics::new();
        for o in [
            Outcome::Committed,
            Outcome::Committed,
            Outcome::Rejected("4200".into()),
            Outcome::Rejected("say \"x\"".into()),
            Outcome::TimedOut,
            Outcome::NotSent("refused".into()),
        ] {
            m.outcome(&o);
        }
        m.sample(&committed(1, 3, Some(2)), "a-b");
        m.sample(&committed(1, 40, None), "a-b");
        m.sample(&Sample::started(0, Duration::ZERO, 0), "never");
        m.second(7, 12.5, 3_000, 40_000);
        let text = m.render();
        let has = |line: &str| text.lines().any(|l| l == line);
        for line in [
            "perfbed_load_iterations_total{outcome=\"committed\"} 2",
            "perfbed_load_iterations_total{outcome=\"rejected\"} 2",
            "perfbed_load_iterations_total{outcome=\"timed_out\"} 1",
            "perfbed_load_iterations_total{outcome=\"failed_after_send\"} 0",
            "perfbed_load_iterations_total{outcome=\"not_sent\"} 1",
            "perfbed_load_iterations_total{outcome=\"lost\"} 0",
            "perfbed_load_rejections_total{code=\"4200\"} 1",
            "perfbed_load_rejections_total{code=\"say 'x'\"} 1",
            "perfbed_load_in_flight 7",
            "perfbed_load_target_rate 12.5",
            "perfbed_load_e2e_latency_seconds{quantile=\"0.95\"} 0.003",
            "perfbed_load_e2e_latency_seconds{quantile=\"0.99\"} 0.04",
            "perfbed_load_committed_total{corridor=\"a-b\"} 2",
            "perfbed_load_phase_seconds_count{phase=\"e2e\",corridor=\"a-b\"} 2",
            "perfbed_load_phase_seconds_bucket{le=\"0.005\",phase=\"e2e\",corridor=\"a-b\"} 1",
            "perfbed_load_phase_seconds_bucket{le=\"0.05\",phase=\"e2e\",corridor=\"a-b\"} 2",
            "perfbed_load_phase_seconds_count{phase=\"transfer\",corridor=\"a-b\"} 1",
            "# TYPE perfbed_load_phase_seconds histogram",
        ] {
            assert!(has(line), "{line} missing:\n{text}");
        }
        // A phase never observed has no series; a corridor with no commit has none either.
        assert!(!text.contains("phase=\"lookup\""), "{text}");
        assert!(!text.contains("never"), "{text}");
        assert_eq!(m.finished(), 6);
    }
}
