//! The aggregator and the report: HDR histograms (µs, 3 significant digits) per phase, end to
//! end and per corridor over the steady-state window; a per-second timeline; accounting that
//! adds up; thresholds; JSON and Markdown from one model.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::scenario::Scenario;
use crate::Sample;

/// How one arrival ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Committed (fulfilment checked).
    Committed,
    /// Rejected, by FSPIOP error code (or `anomaly:<kind>`, `HTTP <status>`).
    Rejected(String),
    /// No answer within the step timeout.
    TimedOut,
    /// Never sent (driver saturated, send failure).
    NotSent(String),
}

/// An iteration starting later than this counts as late.
pub const LATE: Duration = Duration::from_millis(10);

fn hist() -> Histogram<u64> {
    // 1 µs .. 1 h, 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

fn us(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, 3_600_000_000)
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th.
    pub p90: f64,
    /// 95th.
    pub p95: f64,
    /// 99th.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
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

/// Latencies by phase.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Latencies {
    /// End to end from the intended start (coordinated-omission corrected).
    pub e2e: Percentiles,
    /// End to end from the actual start.
    pub e2e_raw: Percentiles,
    /// `GET /parties` → `PUT /parties`.
    pub lookup: Percentiles,
    /// `POST /quotes` → `PUT /quotes`.
    pub quote: Percentiles,
    /// `POST /transfers` → `PUT /transfers`.
    pub transfer: Percentiles,
}

/// One phase's time, split between the switch and the payee simulator (from the trace
/// stamps: payer sent, payee received, payee's callback sent, payer received).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Attribution {
    /// `lookup`, `quote` or `transfer`.
    pub phase: String,
    /// `payer→payee`, or `all`.
    pub corridor: String,
    /// The request through the switch to the payee.
    pub switch_in_ms: Percentiles,
    /// Inside the payee simulator (receipt to callback sent).
    pub simulator_ms: Percentiles,
    /// The callback through the switch back to the payer.
    pub switch_out_ms: Percentiles,
    /// Both switch legs of each phase.
    pub switch_ms: Percentiles,
}

const PHASES: [&str; 3] = ["lookup", "quote", "transfer"];
const PARTS: [&str; 4] = ["switch_in", "simulator", "switch_out", "switch"];

fn attr_key(corridor: &str, phase: &str, part: &str) -> String {
    format!("attr:{corridor}:{phase}:{part}")
}

/// The attribution table from a histogram set (so replicas' merged histograms give it exactly).
fn attribution_from(
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

/// What the switch showed during the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SwitchEvidence {
    /// Kafka over the steady-state window.
    pub kafka: Option<KafkaEvidence>,
    /// Per FSP, before and after the run.
    pub positions: Vec<PositionChange>,
    /// What could not be collected, and why.
    pub notes: Vec<String>,
}

/// Message counts and validity ratios on the Mojaloop topics, and the worst consumer lag.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KafkaEvidence {
    /// Window length, seconds.
    pub window_s: f64,
    /// Messages per topic in the window.
    pub counts: BTreeMap<String, u64>,
    /// Ratio name → (measured, expected, within tolerance).
    pub ratios: Vec<(String, Option<f64>, f64, bool)>,
    /// Every ratio within tolerance and enough prepares.
    pub pass: bool,
    /// Largest consumer-group lag at the end (messages).
    pub max_lag: Option<i64>,
}

/// One FSP's position, NDC headroom and liquidity before and after.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PositionChange {
    /// FSP.
    pub fsp: String,
    /// [position, NDC headroom, liquidity headroom] before (decimal strings).
    pub before: [String; 3],
    /// The same after.
    pub after: [String; 3],
}

/// What a million transfers cost on the system under test.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cost {
    /// Currency of the prices.
    pub currency: String,
    /// Price of the cluster per hour.
    pub hourly: f64,
    /// Committed transfers per second the price is spread over (achieved in the window).
    pub tps: f64,
    /// hourly / (tps × 3600) × 1,000,000 (null when nothing committed).
    pub per_million: Option<f64>,
    /// The nodes, as `count × name at price`.
    pub basis: String,
}

fn cost_of(model: &crate::scenario::CostModel, tps: f64) -> Cost {
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

/// One corridor's numbers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CorridorReport {
    /// `payer→payee`.
    pub corridor: String,
    /// Configured weight.
    pub weight: f64,
    /// Arrivals in the corridor (whole run).
    pub arrivals: u64,
    /// Committed (whole run).
    pub committed: u64,
    /// End-to-end latency (steady state).
    pub e2e: Percentiles,
}

/// One second of the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Second {
    /// Seconds since the start.
    pub second: u64,
    /// Target rate.
    pub target_rate: f64,
    /// Arrivals scheduled in this second.
    pub started: u64,
    /// Of those, committed.
    pub committed: u64,
    /// Of those, not committed.
    pub failed: u64,
    /// p95 end-to-end latency of those committed, ms.
    pub p95_ms: f64,
}

/// One threshold's verdict.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Threshold {
    /// Name.
    pub name: String,
    /// Limit.
    pub limit: f64,
    /// Measured.
    pub value: f64,
    /// Met?
    pub ok: bool,
}

/// Raw counts of the steady-state window (what rates and success are computed from, and what
/// merging replicas adds up).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Window {
    /// Arrivals scheduled inside the window.
    pub arrivals: u64,
    /// Of those, committed.
    pub committed: u64,
    /// Commits completed inside the window (any arrival time).
    pub completions: u64,
    /// Window length, seconds.
    pub seconds: f64,
}

/// How the numbers were made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Method {
    /// Steady-state window (seconds from the start) the headline numbers cover.
    pub window_s: [f64; 2],
    /// What latency means.
    pub correction: String,
    /// Histogram resolution.
    pub histograms: String,
}

/// The report (schema: `docs/report.schema.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Flow.
    pub flow: String,
    /// Start, RFC 3339.
    pub started: String,
    /// Scheduled length, seconds.
    pub duration_s: f64,
    /// Arrivals scheduled (whole run).
    pub arrivals: u64,
    /// Committed.
    pub committed: u64,
    /// Rejected (by code in `errors_by_code`).
    pub rejected: u64,
    /// Timed out.
    pub timed_out: u64,
    /// Not sent.
    pub not_sent: u64,
    /// Arrivals started more than 10 ms after their intended time (the driver fell behind).
    pub late_arrivals: u64,
    /// How late iterations started (whole run): the driver's own scheduling lag. Tokio's timer
    /// has 1 ms resolution, so up to ~1 ms is the clock, not the driver.
    pub start_lag_ms: Percentiles,
    /// Target rate over the window (arrivals / window length).
    pub target_tps: f64,
    /// Commits completed per second inside the window (throughput; a backlog does not count).
    pub achieved_tps: f64,
    /// Committed / arrivals over the window, percent.
    pub success_rate: f64,
    /// Latencies over the window.
    pub latency_ms: Latencies,
    /// Rejections and failures by code (whole run).
    pub errors_by_code: BTreeMap<String, u64>,
    /// Per corridor.
    pub corridors: Vec<CorridorReport>,
    /// Per second.
    pub timeline: Vec<Second>,
    /// Where the time goes: each phase split into switch and simulator time, over all
    /// corridors and per corridor (traced phases of committed iterations in the window).
    #[serde(default)]
    pub attribution: Vec<Attribution>,
    /// Threshold verdicts.
    pub thresholds: Vec<Threshold>,
    /// All thresholds met.
    pub passed: bool,
    /// Method.
    pub method: Method,
    /// Raw window counts.
    pub window: Window,
    /// The window's histograms, for `histograms.json` (not part of report.json).
    #[serde(skip)]
    pub histograms: crate::histograms::HistogramSet,
    /// Replicas merged into this report (1 for a single run).
    #[serde(default = "one_replica")]
    pub replicas: u32,
    /// Cost per million transfers at the achieved rate, when the scenario gives node prices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    /// Evidence from the switch itself (real Mojaloop): Kafka counts and lag over the window,
    /// positions before and after. Informational: it does not change the verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch: Option<SwitchEvidence>,
}

fn one_replica() -> u32 {
    1
}

/// Collects samples; turns them into a [`Report`].
#[derive(Debug)]
pub struct Recorder {
    scenario: Scenario,
    started: time::OffsetDateTime,
    window: (Duration, Duration),
    e2e: Histogram<u64>,
    e2e_raw: Histogram<u64>,
    phases: [Histogram<u64>; 3],
    corridors: Vec<(u64, u64, Histogram<u64>)>,
    seconds: Vec<(u64, u64, Histogram<u64>)>,
    counts: [u64; 4],
    window_arrivals: u64,
    window_committed: u64,
    /// Commits that completed inside the window (throughput), whatever their arrival time.
    window_completions: u64,
    late: u64,
    lag: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    /// Attribution histograms: slot 0 all corridors, slot i + 1 corridor i; [phase][part].
    attr: Vec<[[Option<Histogram<u64>>; 4]; 3]>,
}

impl Recorder {
    /// A recorder for a scenario starting now.
    pub fn new(scenario: &Scenario, started: time::OffsetDateTime) -> Recorder {
        let total = scenario.total();
        let secs = total.as_secs() as usize + 1;
        Recorder {
            scenario: scenario.clone(),
            started,
            window: (scenario.warmup, total.saturating_sub(scenario.cooldown)),
            e2e: hist(),
            e2e_raw: hist(),
            phases: [hist(), hist(), hist()],
            corridors: scenario.corridors.iter().map(|_| (0, 0, hist())).collect(),
            seconds: (0..secs).map(|_| (0, 0, hist())).collect(),
            counts: [0; 4],
            window_arrivals: 0,
            window_committed: 0,
            window_completions: 0,
            late: 0,
            lag: hist(),
            errors: BTreeMap::new(),
            attr: vec![Default::default(); scenario.corridors.len() + 1],
        }
    }

    /// Adds one sample.
    pub fn record(&mut self, s: &Sample) {
        let in_window = s.intended >= self.window.0 && s.intended < self.window.1;
        let committed = s.outcome == Outcome::Committed;
        let slot = match &s.outcome {
            Outcome::Committed => 0,
            Outcome::Rejected(code) => {
                *self.errors.entry(code.clone()).or_default() += 1;
                1
            }
            Outcome::TimedOut => {
                *self.errors.entry("timeout".into()).or_default() += 1;
                2
            }
            Outcome::NotSent(why) => {
                *self.errors.entry(format!("not sent: {why}")).or_default() += 1;
                3
            }
        };
        self.counts[slot] += 1;
        if s.start_lag > LATE {
            self.late += 1;
        }
        if !matches!(s.outcome, Outcome::NotSent(_)) {
            let _ = self.lag.record(us(s.start_lag));
        }
        let second = (s.intended.as_secs() as usize).min(self.seconds.len() - 1);
        let sec = &mut self.seconds[second];
        if committed {
            sec.0 += 1;
            let _ = sec.2.record(us(s.e2e));
        } else {
            sec.1 += 1;
        }
        let completed_at = s.intended + s.e2e;
        if committed && completed_at >= self.window.0 && completed_at < self.window.1 {
            self.window_completions += 1;
        }
        let corridor = &mut self.corridors[s.corridor];
        corridor.0 += 1;
        if committed {
            corridor.1 += 1;
        }
        if !in_window {
            return;
        }
        self.window_arrivals += 1;
        if committed {
            self.window_committed += 1;
            let _ = self.e2e.record(us(s.e2e));
            let _ = self.e2e_raw.record(us(s.e2e_raw));
            let _ = corridor.2.record(us(s.e2e));
            for (h, p) in self.phases.iter_mut().zip(s.phases) {
                if let Some(d) = p {
                    let _ = h.record(us(d));
                }
            }
            for (phase, split) in s.splits.iter().enumerate() {
                let Some(x) = split else { continue };
                let parts = [
                    x.switch_in,
                    x.simulator,
                    x.switch_out,
                    x.switch_in + x.switch_out,
                ];
                for slot in [0, s.corridor + 1] {
                    for (h, d) in self.attr[slot][phase].iter_mut().zip(parts) {
                        let _ = h.get_or_insert_with(hist).record(us(d));
                    }
                }
            }
        }
    }

    /// p95 and p99 (µs) of the last full second's committed iterations.
    pub fn last_second_us(&self, elapsed: Duration) -> (u64, u64) {
        self.seconds
            .get((elapsed.as_secs() as usize).saturating_sub(2))
            .filter(|s| !s.2.is_empty())
            .map_or((0, 0), |s| {
                (s.2.value_at_quantile(0.95), s.2.value_at_quantile(0.99))
            })
    }

    /// One progress line.
    pub fn progress_line(&self, elapsed: Duration, total: Duration, in_flight: usize) -> String {
        let done: u64 = self.counts.iter().sum();
        let recent = self
            .seconds
            .get((elapsed.as_secs() as usize).saturating_sub(2))
            .map(|s| (s.0, s.1, s.2.value_at_quantile(0.95) as f64 / 1000.0));
        let (ok, bad, p95) = recent.unwrap_or((0, 0, 0.0));
        format!(
            "[{:>4}s/{}s] committed {} / done {} | last second: {ok} ok, {bad} failed, p95 {p95:.1} ms | in flight {in_flight} | late {}",
            elapsed.as_secs(),
            total.as_secs(),
            self.counts[0],
            done,
            self.late
        )
    }

    /// The report.
    pub fn finish(self) -> Report {
        let s = &self.scenario;
        let window_len = (self.window.1 - self.window.0).as_secs_f64().max(1e-9);
        let arrivals: u64 = self.counts.iter().sum();
        let success_rate = if self.window_arrivals == 0 {
            0.0
        } else {
            100.0 * self.window_committed as f64 / self.window_arrivals as f64
        };
        let achieved = self.window_completions as f64 / window_len;
        let target = self.window_arrivals as f64 / window_len;
        let latency = Latencies {
            e2e: percentiles(&self.e2e),
            e2e_raw: percentiles(&self.e2e_raw),
            lookup: percentiles(&self.phases[0]),
            quote: percentiles(&self.phases[1]),
            transfer: percentiles(&self.phases[2]),
        };
        let t = &s.thresholds;
        let mut thresholds = Vec::new();
        let mut check = |name: &str, limit: Option<f64>, value: f64, higher_is_better: bool| {
            if let Some(limit) = limit {
                let ok = if higher_is_better {
                    value >= limit
                } else {
                    value <= limit
                };
                thresholds.push(Threshold {
                    name: name.into(),
                    limit,
                    value,
                    ok,
                });
            }
        };
        check("success_rate_pct", t.success_rate, success_rate, true);
        check("e2e_p95_ms", t.p95_ms, latency.e2e.p95, false);
        check("e2e_p99_ms", t.p99_ms, latency.e2e.p99, false);
        check(
            "achieved_ratio",
            t.achieved_ratio,
            if target > 0.0 { achieved / target } else { 0.0 },
            true,
        );
        let passed = thresholds.iter().all(|t| t.ok);
        let corridors = s
            .corridors
            .iter()
            .zip(&self.corridors)
            .map(|(c, (n, ok, h))| CorridorReport {
                corridor: c.name(),
                weight: c.weight,
                arrivals: *n,
                committed: *ok,
                e2e: percentiles(h),
            })
            .collect();
        let timeline = self
            .seconds
            .iter()
            .enumerate()
            .take(s.total().as_secs().max(1) as usize)
            .map(|(i, (ok, bad, h))| Second {
                second: i as u64,
                target_rate: crate::schedule::rate_at(&s.stages, Duration::from_secs(i as u64)),
                started: ok + bad,
                committed: *ok,
                failed: *bad,
                p95_ms: if h.is_empty() {
                    0.0
                } else {
                    h.value_at_quantile(0.95) as f64 / 1000.0
                },
            })
            .collect();
        let mut set = crate::histograms::HistogramSet::default();
        for (name, h) in [
            ("e2e", &self.e2e),
            ("e2e_raw", &self.e2e_raw),
            ("lookup", &self.phases[0]),
            ("quote", &self.phases[1]),
            ("transfer", &self.phases[2]),
            ("start_lag", &self.lag),
        ] {
            set.by_name.insert(name.into(), h.clone());
        }
        for (c, (_, _, h)) in s.corridors.iter().zip(&self.corridors) {
            set.by_name
                .insert(format!("corridor:{}", c.name()), h.clone());
        }
        let names: Vec<String> = s.corridors.iter().map(|c| c.name()).collect();
        for (slot, phases) in self.attr.iter().enumerate() {
            let corridor = if slot == 0 {
                "all"
            } else {
                names[slot - 1].as_str()
            };
            for (phase, parts) in PHASES.iter().zip(phases) {
                for (part, h) in PARTS.iter().zip(parts) {
                    if let Some(h) = h {
                        set.by_name
                            .insert(attr_key(corridor, phase, part), h.clone());
                    }
                }
            }
        }
        let attribution = attribution_from(&set, &names);
        Report {
            window: Window { arrivals: self.window_arrivals, committed: self.window_committed, completions: self.window_completions, seconds: window_len },
            replicas: 1,
            cost: s.cost.as_ref().map(|m| cost_of(m, achieved)),
            switch: None,
            histograms: set,
            scenario: s.name.clone(),
            flow: s.flow.as_str().into(),
            started: fspiop::types::DateTime::from_offset_date_time(self.started).into_string(),
            duration_s: s.total().as_secs_f64(),
            arrivals,
            committed: self.counts[0],
            rejected: self.counts[1],
            timed_out: self.counts[2],
            not_sent: self.counts[3],
            late_arrivals: self.late,
            start_lag_ms: percentiles(&self.lag),
            target_tps: target,
            achieved_tps: achieved,
            success_rate,
            latency_ms: latency,
            errors_by_code: self.errors,
            corridors,
            timeline,
            attribution,
            thresholds,
            passed,
            method: Method {
                window_s: [self.window.0.as_secs_f64(), self.window.1.as_secs_f64()],
                correction: "open model; e2e measured from each arrival's intended start (coordinated-omission corrected), e2e_raw from its actual start; phases from each request's send to its callback".into(),
                histograms: "HDR, microseconds, 3 significant digits".into(),
            },
        }
    }
}

impl Report {
    /// Whether every arrival is accounted for exactly once.
    pub fn adds_up(&self) -> bool {
        self.committed + self.rejected + self.timed_out + self.not_sent == self.arrivals
    }

    /// PASSED / FAILED against the thresholds, or NO THRESHOLDS when none was set.
    pub fn verdict(&self) -> &'static str {
        match (self.thresholds.is_empty(), self.passed) {
            (true, _) => "NO THRESHOLDS",
            (false, true) => "PASSED",
            (false, false) => "FAILED",
        }
    }

    /// The end-of-test summary.
    pub fn to_markdown(&self) -> String {
        let mut m = String::new();
        let verdict = self.verdict();
        m.push_str(&format!(
            "# perfbed report — {} ({}) — {verdict}\n\n",
            self.scenario, self.flow
        ));
        m.push_str(&format!("Started {}, {:.0} s scheduled; headline numbers over the steady-state window {:.0}–{:.0} s.\n\n", self.started, self.duration_s, self.method.window_s[0], self.method.window_s[1]));
        m.push_str("| Arrivals | Committed | Rejected | Timed out | Not sent | Late starts (>10 ms) | Target TPS | Achieved TPS | Success |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        m.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.2} % |\n\n",
            self.arrivals,
            self.committed,
            self.rejected,
            self.timed_out,
            self.not_sent,
            self.late_arrivals,
            self.target_tps,
            self.achieved_tps,
            self.success_rate
        ));
        m.push_str("| Latency (ms) | count | p50 | p90 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|\n");
        let l = &self.latency_ms;
        for (name, p) in [
            ("driver start lag (scheduling)", &self.start_lag_ms),
            ("end to end (from intended start)", &l.e2e),
            ("end to end (from actual start)", &l.e2e_raw),
            ("lookup", &l.lookup),
            ("quote", &l.quote),
            ("transfer", &l.transfer),
        ] {
            if p.count > 0 {
                m.push_str(&format!(
                    "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
                    p.count, p.p50, p.p90, p.p95, p.p99, p.max
                ));
            }
        }
        m.push_str("\n| Corridor | weight | arrivals | committed | p95 ms | p99 ms |\n|---|---:|---:|---:|---:|---:|\n");
        for c in &self.corridors {
            m.push_str(&format!(
                "| {} | {} | {} | {} | {:.1} | {:.1} |\n",
                c.corridor, c.weight, c.arrivals, c.committed, c.e2e.p95, c.e2e.p99
            ));
        }
        if let Some(c) = &self.cost {
            match c.per_million {
                Some(p) => m.push_str(&format!(
                    "\nCost: {p:.2} {} per million transfers at {:.1} TPS (cluster {:.2} {}/h: {}).\n",
                    c.currency, c.tps, c.hourly, c.currency, c.basis
                )),
                None => m.push_str("\nCost: nothing committed, no cost per transfer.\n"),
            }
        }
        if let Some(sw) = &self.switch {
            m.push_str("\n## Switch-side evidence\n\n");
            if let Some(k) = &sw.kafka {
                m.push_str(&format!(
                    "Kafka over {:.0} s: {}; gate **{}**{}.\n\n",
                    k.window_s,
                    k.ratios
                        .iter()
                        .map(|(n, v, e, ok)| format!(
                            "{n} {} (expect {e:.1}{})",
                            v.map_or("n/a".into(), |v| format!("{v:.3}")),
                            if *ok { "" } else { ", FAIL" }
                        ))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if k.pass { "PASS" } else { "FAIL" },
                    k.max_lag
                        .map_or(String::new(), |l| format!("; worst consumer lag {l}"))
                ));
            }
            if !sw.positions.is_empty() {
                m.push_str("| FSP | position before → after | NDC headroom before → after | liquidity before → after |\n|---|---:|---:|---:|\n");
                for p in &sw.positions {
                    m.push_str(&format!(
                        "| {} | {} → {} | {} → {} | {} → {} |\n",
                        p.fsp,
                        p.before[0],
                        p.after[0],
                        p.before[1],
                        p.after[1],
                        p.before[2],
                        p.after[2]
                    ));
                }
            }
            for n in &sw.notes {
                m.push_str(&format!("\n- {n}"));
            }
            m.push('\n');
        }
        if !self.attribution.is_empty() {
            m.push_str("\n## Where the time goes\n\n");
            if let Some(t) = self
                .attribution
                .iter()
                .find(|a| a.corridor == "all" && a.phase == "transfer")
            {
                m.push_str(&format!(
                    "The switch added {:.1} ms p95 on the transfer leg ({:.1} ms in, {:.1} ms out); the payee simulators took {:.1} ms p95.\n\n",
                    t.switch_ms.p95, t.switch_in_ms.p95, t.switch_out_ms.p95, t.simulator_ms.p95
                ));
            }
            m.push_str("| Phase | corridor | count | switch in p50 / p95 | simulator p50 / p95 | switch out p50 / p95 | switch total p95 |\n|---|---|---:|---:|---:|---:|---:|\n");
            for a in &self.attribution {
                m.push_str(&format!(
                    "| {} | {} | {} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} |\n",
                    a.phase,
                    a.corridor,
                    a.switch_in_ms.count,
                    a.switch_in_ms.p50,
                    a.switch_in_ms.p95,
                    a.simulator_ms.p50,
                    a.simulator_ms.p95,
                    a.switch_out_ms.p50,
                    a.switch_out_ms.p95,
                    a.switch_ms.p95
                ));
            }
        }
        if !self.errors_by_code.is_empty() {
            m.push_str("\n| Error | count |\n|---|---:|\n");
            for (code, n) in &self.errors_by_code {
                m.push_str(&format!("| {code} | {n} |\n"));
            }
        }
        if !self.thresholds.is_empty() {
            m.push_str("\n| Threshold | limit | value | |\n|---|---:|---:|---|\n");
            for t in &self.thresholds {
                m.push_str(&format!(
                    "| {} | {} | {:.2} | {} |\n",
                    t.name,
                    t.limit,
                    t.value,
                    if t.ok { "ok" } else { "**FAILED**" }
                ));
            }
        }
        m
    }
}

fn hist_or_empty(set: &crate::histograms::HistogramSet, name: &str) -> Histogram<u64> {
    set.by_name.get(name).cloned().unwrap_or_else(hist)
}

/// Merges the reports of replicas that ran the same scenario at the same time (each with its
/// `histograms` loaded): counts and rates add up, latencies come from the merged histograms
/// (exact), thresholds are judged again on the whole. The timeline's per-second p95 is the
/// worst replica's (an upper bound; per-second histograms are not kept).
pub fn merge(parts: &[Report]) -> Result<Report, String> {
    let first = parts.first().ok_or("nothing to merge")?;
    let mut set = crate::histograms::HistogramSet::default();
    let mut out = first.clone();
    out.replicas = 0;
    for (i, p) in parts.iter().enumerate() {
        if p.scenario != first.scenario || p.flow != first.flow {
            return Err(format!(
                "part {i} ran '{}' ({}), not '{}' ({})",
                p.scenario, p.flow, first.scenario, first.flow
            ));
        }
        set.merge(&p.histograms).map_err(|e| e.to_string())?;
        if i == 0 {
            out.replicas = p.replicas;
            continue;
        }
        out.replicas += p.replicas;
        out.started = out.started.clone().min(p.started.clone());
        out.arrivals += p.arrivals;
        out.committed += p.committed;
        out.rejected += p.rejected;
        out.timed_out += p.timed_out;
        out.not_sent += p.not_sent;
        out.late_arrivals += p.late_arrivals;
        out.window.arrivals += p.window.arrivals;
        out.window.committed += p.window.committed;
        out.window.completions += p.window.completions;
        for (k, v) in &p.errors_by_code {
            *out.errors_by_code.entry(k.clone()).or_default() += v;
        }
        for c in &p.corridors {
            match out.corridors.iter_mut().find(|x| x.corridor == c.corridor) {
                Some(x) => {
                    x.arrivals += c.arrivals;
                    x.committed += c.committed;
                }
                None => out.corridors.push(c.clone()),
            }
        }
        for s in &p.timeline {
            match out.timeline.iter_mut().find(|x| x.second == s.second) {
                Some(x) => {
                    x.target_rate += s.target_rate;
                    x.started += s.started;
                    x.committed += s.committed;
                    x.failed += s.failed;
                    x.p95_ms = x.p95_ms.max(s.p95_ms);
                }
                None => out.timeline.push(s.clone()),
            }
        }
    }
    let w = &out.window;
    let secs = w.seconds.max(1e-9);
    out.target_tps = w.arrivals as f64 / secs;
    out.achieved_tps = w.completions as f64 / secs;
    if let Some(c) = &mut out.cost {
        // The same cluster carried every replica's load.
        c.tps = out.achieved_tps;
        c.per_million = (c.tps > 0.0).then(|| c.hourly / (c.tps * 3600.0) * 1_000_000.0);
    }
    out.success_rate = if w.arrivals == 0 {
        0.0
    } else {
        100.0 * w.committed as f64 / w.arrivals as f64
    };
    out.latency_ms = Latencies {
        e2e: percentiles(&hist_or_empty(&set, "e2e")),
        e2e_raw: percentiles(&hist_or_empty(&set, "e2e_raw")),
        lookup: percentiles(&hist_or_empty(&set, "lookup")),
        quote: percentiles(&hist_or_empty(&set, "quote")),
        transfer: percentiles(&hist_or_empty(&set, "transfer")),
    };
    out.start_lag_ms = percentiles(&hist_or_empty(&set, "start_lag"));
    for c in &mut out.corridors {
        c.e2e = percentiles(&hist_or_empty(&set, &format!("corridor:{}", c.corridor)));
    }
    let names: Vec<String> = out.corridors.iter().map(|c| c.corridor.clone()).collect();
    out.attribution = attribution_from(&set, &names);
    for t in &mut out.thresholds {
        let (value, higher) = match t.name.as_str() {
            "success_rate_pct" => (out.success_rate, true),
            "e2e_p95_ms" => (out.latency_ms.e2e.p95, false),
            "e2e_p99_ms" => (out.latency_ms.e2e.p99, false),
            "achieved_ratio" => (
                if out.target_tps > 0.0 {
                    out.achieved_tps / out.target_tps
                } else {
                    0.0
                },
                true,
            ),
            _ => (t.value, true),
        };
        t.value = value;
        t.ok = if higher {
            value >= t.limit
        } else {
            value <= t.limit
        };
    }
    out.passed = out.thresholds.iter().all(|t| t.ok);
    out.histograms = set;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Flow, Scenario};
    use crate::Sample;

    fn sample(i: u64) -> Sample {
        let outcome = match i % 17 {
            0 => Outcome::Rejected("5105".into()),
            1 => Outcome::TimedOut,
            2 => Outcome::NotSent("x".into()),
            _ => Outcome::Committed,
        };
        let ms = |v: u64| Duration::from_micros(v * 137 % 90_000 + 500);
        Sample {
            index: i,
            intended: Duration::from_millis(i * 10),
            start_lag: Duration::from_micros(i % 900),
            corridor: (i % 4) as usize,
            outcome,
            e2e: ms(i) + Duration::from_millis(1),
            e2e_raw: ms(i),
            phases: [Some(ms(i / 3)), Some(ms(i / 5)), Some(ms(i / 7))],
            splits: [
                None,
                Some(sim::trace::Split {
                    switch_in: ms(i / 11),
                    simulator: ms(i / 13),
                    switch_out: ms(i / 17),
                }),
                Some(sim::trace::Split {
                    switch_in: ms(i / 2),
                    simulator: ms(i / 19),
                    switch_out: ms(i / 23),
                }),
            ],
        }
    }

    #[test]
    fn verdict_says_when_nothing_was_judged() {
        // A scenario file without `[thresholds]` gets the seed's success criterion.
        let text = "name = \"v\"\nstages = [{ rate = 100, duration = \"10s\" }]\n";
        let judged = Scenario::parse(text).unwrap();
        let unjudged = Scenario::parse(&format!("{text}[thresholds]\n")).unwrap();
        let report = |scenario: &Scenario| {
            let mut r = Recorder::new(scenario, time::OffsetDateTime::UNIX_EPOCH);
            for i in 0..1000 {
                let mut s = sample(i);
                s.outcome = Outcome::Rejected("4001".into());
                r.record(&s);
            }
            r.finish()
        };
        let failed = report(&judged);
        assert!(!failed.passed);
        assert_eq!(failed.verdict(), "FAILED");
        assert!(failed
            .to_markdown()
            .starts_with("# perfbed report — v (p2p) — FAILED"));
        let open = report(&unjudged);
        assert!(open.thresholds.is_empty());
        assert_eq!(open.verdict(), "NO THRESHOLDS");
        assert!(open.to_html().contains("NO THRESHOLDS"));
    }

    #[test]
    fn cost_per_million_follows_the_achieved_rate() {
        let mut scenario = Scenario::constant("c", Flow::P2p, 100.0, Duration::from_secs(10));
        scenario.cost = Some(crate::scenario::CostModel {
            nodes: vec![
                crate::scenario::NodePrice {
                    name: "m5.2xlarge".into(),
                    count: 10,
                    hourly: 0.384,
                },
                crate::scenario::NodePrice {
                    name: "c5.2xlarge".into(),
                    count: 5,
                    hourly: 0.34,
                },
            ],
            currency: "USD".into(),
        });
        let mut r = Recorder::new(&scenario, time::OffsetDateTime::UNIX_EPOCH);
        for i in 0..1000 {
            let mut s = sample(i);
            s.outcome = Outcome::Committed;
            r.record(&s);
        }
        let report = r.finish();
        let c = report.cost.clone().unwrap();
        assert!((c.hourly - 5.54).abs() < 1e-9, "{c:?}");
        let want = 5.54 / (report.achieved_tps * 3600.0) * 1e6;
        assert!((c.per_million.unwrap() - want).abs() < 1e-9);
        assert!(report.to_markdown().contains("per million transfers"));
        let merged = merge(&[report.clone(), report.clone()]).unwrap();
        let m = merged.cost.unwrap();
        assert!(
            (m.per_million.unwrap() - c.per_million.unwrap() / 2.0).abs() < 1e-9,
            "twice the transfers on the same cluster"
        );
    }

    #[test]
    fn merge_of_replica_reports_equals_the_report_of_the_whole() {
        let scenario = Scenario::constant("m", Flow::P2p, 100.0, Duration::from_secs(10));
        let t0 = time::OffsetDateTime::UNIX_EPOCH;
        let mut whole = Recorder::new(&scenario, t0);
        let mut parts = [
            Recorder::new(&scenario, t0),
            Recorder::new(&scenario, t0),
            Recorder::new(&scenario, t0),
        ];
        for i in 0..1000 {
            let s = sample(i);
            whole.record(&s);
            parts[(i % 3) as usize].record(&s);
        }
        let whole = whole.finish();
        let parts: Vec<Report> = parts.into_iter().map(Recorder::finish).collect();
        let merged = merge(&parts).unwrap();
        assert_eq!(merged.replicas, 3);
        assert!(!whole.attribution.is_empty());
        assert_eq!(
            merged.attribution, whole.attribution,
            "attribution merges exactly"
        );
        assert!(
            whole.attribution.iter().all(|a| a.phase != "lookup"),
            "untraced phase left out"
        );
        assert_eq!(
            (
                merged.arrivals,
                merged.committed,
                merged.rejected,
                merged.timed_out,
                merged.not_sent
            ),
            (
                whole.arrivals,
                whole.committed,
                whole.rejected,
                whole.timed_out,
                whole.not_sent
            )
        );
        assert!(merged.adds_up());
        assert_eq!(merged.latency_ms, whole.latency_ms);
        assert_eq!(merged.start_lag_ms, whole.start_lag_ms);
        assert_eq!(merged.corridors, whole.corridors);
        assert_eq!(merged.errors_by_code, whole.errors_by_code);
        assert_eq!(merged.window, whole.window);
        assert!((merged.success_rate - whole.success_rate).abs() < 1e-9);
        assert!((merged.achieved_tps - whole.achieved_tps).abs() < 1e-9);
        assert_eq!(merged.thresholds, whole.thresholds);
        assert_eq!(merged.passed, whole.passed);
        for (m, w) in merged.timeline.iter().zip(&whole.timeline) {
            assert_eq!(
                (m.started, m.committed, m.failed),
                (w.started, w.committed, w.failed)
            );
            assert!(m.p95_ms <= w.p95_ms.max(m.p95_ms)); // an upper bound per second
        }
        // Through the files, as `perfbed report merge` reads them.
        let reread: Vec<Report> = parts
            .iter()
            .map(|p| {
                let mut r: Report =
                    serde_json::from_slice(&serde_json::to_vec(p).unwrap()).unwrap();
                r.histograms =
                    crate::histograms::HistogramSet::from_json(&p.histograms.to_json()).unwrap();
                r
            })
            .collect();
        assert_eq!(merge(&reread).unwrap().latency_ms, whole.latency_ms);
        let mut other = parts[1].clone();
        other.scenario = "different".into();
        assert!(merge(&[parts[0].clone(), other]).is_err());
    }
}
