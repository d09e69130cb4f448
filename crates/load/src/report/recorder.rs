//! Samples in, a [`Report`] out. The recorder counts outcomes; it never counts arrivals: the
//! scheduler does, and [`Recorder::finish`] takes that count, so the accounting identity
//! compares two independent tallies.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

use super::{
    attr_key, attribution_from, cost_of, hist, judge, latencies_from, percentiles, us,
    CorridorReport, Method, Outcome, Report, RunInfo, Second, Window, ALL, COMMITTED, LATE, PARTS,
    PHASES,
};
use crate::scenario::Scenario;
use crate::Sample;

/// End to end, end to end raw, and the three phases.
type Five = [Histogram<u64>; 5];

fn five() -> Five {
    [hist(), hist(), hist(), hist(), hist()]
}

const FIVE: [&str; 5] = ["e2e", "e2e_raw", "lookup", "quote", "transfer"];

/// Resolution of the completion times kept for the shifted throughput window.
const SLOT: Duration = Duration::from_millis(10);

/// Collects samples; turns them into a [`Report`].
#[derive(Debug)]
pub struct Recorder {
    scenario: Scenario,
    started: time::OffsetDateTime,
    window: (Duration, Duration),
    /// Every arrival that ended at the switch, and committed ones only.
    all: Five,
    committed: Five,
    /// Per corridor: arrivals, committed, e2e (all outcomes).
    corridors: Vec<(u64, u64, Histogram<u64>)>,
    /// Per second of intended start: committed, not committed, e2e (all outcomes).
    seconds: Vec<(u64, u64, Option<Histogram<u32>>)>,
    /// Per second of intended start: the failures split, and the phases (all outcomes).
    seconds_more: Vec<SecondMore>,
    /// By [`Outcome::class`] order: committed, rejected, timed out, failed after send, not
    /// sent, lost.
    counts: [u64; 6],
    window_arrivals: u64,
    window_committed: u64,
    /// Commits that completed inside the window (throughput), whatever their arrival time.
    window_completions: u64,
    /// Commits by completion time, per [`SLOT`] since the start (any arrival): the window's
    /// completions shifted by the latency are counted from these at the end.
    completed: Vec<u32>,
    late: u64,
    lag: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    /// Attribution histograms: slot 0 all corridors, slot i + 1 corridor i; [phase][part].
    attr: Vec<[[Option<Histogram<u64>>; 4]; 3]>,
    /// This driver's share of the scenario's rate (1/N for one of N replicas).
    share: f64,
    /// Transfers of arrivals that timed out or failed after send in the transfer step.
    uncertain: Vec<super::UncertainTransfer>,
}

/// More of one second: rejected, timed out, and each phase's histogram (made when first used:
/// a transfer-only flow has no lookup).
#[derive(Debug, Clone, Default)]
struct SecondMore {
    rejected: u64,
    timed_out: u64,
    phases: [Option<Histogram<u32>>; 3],
}

/// A per-second phase histogram: 1 µs .. 1 h at 2 significant digits with 32-bit counters,
/// ~13 KB (a 3-digit, 64-bit one is ~188 KB, and a run keeps three per second of its length).
/// A chart's p95 needs no finer resolution.
pub(super) fn second_hist() -> Histogram<u32> {
    Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid bounds")
}

fn slot(o: &Outcome) -> usize {
    match o {
        Outcome::Committed => 0,
        Outcome::Rejected(_) => 1,
        Outcome::TimedOut => 2,
        Outcome::FailedAfterSend(_) => 3,
        Outcome::NotSent(_) => 4,
        Outcome::Lost(_) => 5,
    }
}

/// The `q` quantile of `h` in ms (0 when empty).
fn ms_at<T: hdrhistogram::Counter>(h: &Histogram<T>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1000.0
    }
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
            all: five(),
            committed: five(),
            corridors: scenario.corridors.iter().map(|_| (0, 0, hist())).collect(),
            // Made on a second's first sample, at 2 significant digits: a 2 h run allocating
            // 3-digit u64 histograms for every second up front took 1.4 GB before it began.
            seconds: (0..secs).map(|_| (0, 0, None)).collect(),
            seconds_more: vec![SecondMore::default(); secs],
            counts: [0; 6],
            window_arrivals: 0,
            window_committed: 0,
            window_completions: 0,
            completed: Vec::new(),
            late: 0,
            lag: hist(),
            errors: BTreeMap::new(),
            attr: vec![Default::default(); scenario.corridors.len() + 1],
            share: 1.0,
            uncertain: Vec::new(),
        }
    }

    /// This driver offers `share` of the scenario's rate (one of several replicas): its
    /// timeline's target rate is its own share, so merged replicas add up to the scenario's.
    pub fn share(mut self, share: f64) -> Recorder {
        self.share = share;
        self
    }

    /// The scenario's scheduled length.
    pub fn total(&self) -> Duration {
        self.scenario.total()
    }

    /// Outcomes recorded so far.
    pub fn ended(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Adds one sample.
    pub fn record(&mut self, s: &Sample) {
        let in_window = s.intended >= self.window.0 && s.intended < self.window.1;
        let committed = s.outcome == Outcome::Committed;
        let error = match &s.outcome {
            Outcome::Committed => None,
            Outcome::Rejected(code) => Some(code.clone()),
            Outcome::TimedOut => Some("timeout".into()),
            Outcome::FailedAfterSend(why) => Some(format!("failed after send: {why}")),
            Outcome::NotSent(why) => Some(format!("not sent: {why}")),
            Outcome::Lost(why) => Some(format!("LOST: {why}")),
        };
        if let Some(e) = error {
            *self.errors.entry(e).or_default() += 1;
        }
        if let Some(u) = &s.uncertain {
            self.uncertain.push(u.clone());
        }
        self.counts[slot(&s.outcome)] += 1;
        let ended_at_switch = s.outcome.ended_at_switch();
        if s.start_lag > LATE {
            self.late += 1;
        }
        if ended_at_switch {
            let _ = self.lag.record(us(s.start_lag));
        }
        let second = (s.intended.as_secs() as usize).min(self.seconds.len() - 1);
        let sec = &mut self.seconds[second];
        if committed {
            sec.0 += 1;
        } else {
            sec.1 += 1;
        }
        if ended_at_switch {
            let _ = sec.2.get_or_insert_with(second_hist).record(us(s.e2e));
        }
        let more = &mut self.seconds_more[second];
        match s.outcome {
            Outcome::Rejected(_) => more.rejected += 1,
            Outcome::TimedOut => more.timed_out += 1,
            _ => {}
        }
        if ended_at_switch {
            for (h, d) in more.phases.iter_mut().zip(s.phases) {
                if let Some(d) = d {
                    let _ = h.get_or_insert_with(second_hist).record(us(d));
                }
            }
        }
        let completed_at = s.intended + s.e2e;
        if committed && completed_at >= self.window.0 && completed_at < self.window.1 {
            self.window_completions += 1;
        }
        if committed {
            let slot = (completed_at.as_nanos() / SLOT.as_nanos()) as usize;
            if slot >= self.completed.len() {
                self.completed.resize(slot + 1, 0);
            }
            self.completed[slot] += 1;
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
        }
        if !ended_at_switch {
            return;
        }
        let _ = corridor.2.record(us(s.e2e));
        let values = [
            Some(s.e2e),
            Some(s.e2e_raw),
            s.phases[0],
            s.phases[1],
            s.phases[2],
        ];
        let populations: &mut [&mut Five] = if committed {
            &mut [&mut self.all, &mut self.committed]
        } else {
            &mut [&mut self.all]
        };
        for set in populations.iter_mut() {
            for (h, v) in set.iter_mut().zip(values) {
                if let Some(d) = v {
                    let _ = h.record(us(d));
                }
            }
        }
        if !committed {
            return;
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

    /// p95 and p99 (µs) of the last full second's ended iterations (all outcomes).
    pub fn last_second_us(&self, elapsed: Duration) -> (u64, u64) {
        self.seconds
            .get((elapsed.as_secs() as usize).saturating_sub(2))
            .and_then(|s| s.2.as_ref())
            .filter(|h| !h.is_empty())
            .map_or((0, 0), |h| {
                (h.value_at_quantile(0.95), h.value_at_quantile(0.99))
            })
    }

    /// One progress line; `started` is the scheduler's count so far, `oldest` the age of the
    /// oldest iteration in flight. What is happening now, by completion time: against a slow
    /// switch the arrivals of a few seconds ago have not ended, so a line about them says
    /// nothing; the commits of the last second, what is in flight and for how long, do.
    pub fn progress_line(
        &self,
        elapsed: Duration,
        total: Duration,
        started: u64,
        in_flight: usize,
        oldest: Option<Duration>,
    ) -> String {
        let recent =
            self.completed_between(elapsed.saturating_sub(Duration::from_secs(1)), elapsed);
        let oldest = match oldest {
            Some(age) => format!(", oldest {:.1} s", age.as_secs_f64()),
            None => String::new(),
        };
        format!(
            "[{:>4}s/{}s] started {started}, committed {} / ended {} | in flight {in_flight}{oldest} | committed in the last second {recent:.0} | late {}",
            elapsed.as_secs(),
            total.as_secs(),
            self.counts[0],
            self.ended(),
            self.late
        )
    }

    /// Commits completed in `[from, to)`, the slots at both ends counted in proportion.
    fn completed_between(&self, from: Duration, to: Duration) -> f64 {
        let slot = SLOT.as_secs_f64();
        let (from, to) = (from.as_secs_f64() / slot, to.as_secs_f64() / slot);
        self.completed
            .iter()
            .enumerate()
            // A fold from +0.0: `sum()` of f64 starts at -0.0, and an empty window would
            // print as "-0.0/s".
            .fold(0.0, |acc, (i, n)| {
                let (a, b) = (i as f64, i as f64 + 1.0);
                let overlap = (b.min(to) - a.max(from)).max(0.0);
                acc + f64::from(*n) * overlap
            })
    }

    /// The report; `scheduled` is how many arrivals the scheduler started (its own count).
    pub fn finish(self, scheduled: u64) -> Report {
        let s = &self.scenario;
        let window_len = (self.window.1 - self.window.0).as_secs_f64().max(1e-9);
        let success_rate = if self.window_arrivals == 0 {
            0.0
        } else {
            100.0 * self.window_committed as f64 / self.window_arrivals as f64
        };
        // Throughput over a window as long as the steady state, shifted by the median latency
        // of its committed arrivals: in a steady system it sees exactly the completions of the
        // window's arrivals, so a warm-up shorter than the latency cannot bias it; in a
        // saturated one, completions at the system's capacity, so a backlog that commits late
        // does not read as full throughput.
        let committed_e2e = &self.committed[0];
        // To whole slots, so that the window's ends fall on slot boundaries.
        let shift = if committed_e2e.is_empty() {
            Duration::ZERO
        } else {
            let median = committed_e2e.value_at_quantile(0.5) as f64 / 1e6;
            SLOT.mul_f64((median / SLOT.as_secs_f64()).round())
        };
        let shifted = self.completed_between(self.window.0 + shift, self.window.1 + shift);
        let achieved = shifted / window_len;
        let completion = self.window_completions as f64 / window_len;
        let target = self.window_arrivals as f64 / window_len;
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
            .zip(&self.seconds_more)
            .map(|((i, (ok, bad, h)), more)| Second {
                second: i as u64,
                target_rate: self.share
                    * crate::schedule::rate_at(&s.stages, Duration::from_secs(i as u64)),
                started: ok + bad,
                committed: *ok,
                failed: *bad,
                p95_ms: h.as_ref().map_or(0.0, |h| ms_at(h, 0.95)),
                p50_ms: h.as_ref().map_or(0.0, |h| ms_at(h, 0.5)),
                p99_ms: h.as_ref().map_or(0.0, |h| ms_at(h, 0.99)),
                rejected: more.rejected,
                timed_out: more.timed_out,
                phase_p95_ms: PHASES
                    .iter()
                    .zip(&more.phases)
                    .filter_map(|(p, h)| h.as_ref().map(|h| ((*p).to_owned(), ms_at(h, 0.95))))
                    .collect(),
            })
            .collect();
        let mut set = crate::histograms::HistogramSet::default();
        for (prefix, hs) in [(ALL, &self.all), (COMMITTED, &self.committed)] {
            for (name, h) in FIVE.iter().zip(hs) {
                set.by_name.insert(format!("{prefix}{name}"), h.clone());
            }
        }
        set.by_name.insert("start_lag".into(), self.lag.clone());
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
        let mut report = Report {
            run: RunInfo {
                id: String::new(),
                tag: String::new(),
                replica_count: 1,
                replica_indices: vec![0],
                target_share: self.share * s.peak_rate(),
            },
            window: Window {
                arrivals: self.window_arrivals,
                committed: self.window_committed,
                completions: self.window_completions,
                completions_shifted: shifted,
                shift_s: shift.as_secs_f64(),
                seconds: window_len,
            },
            replicas: 1,
            cost: s.cost.as_ref().map(|m| cost_of(m, achieved)),
            switch: None,
            switch_metrics: None,
            crosscheck: None,
            no_crosscheck: None,
            kafka_gate: s.thresholds.kafka_gate,
            environment: None,
            operations: None,
            reconciliation: None,
            simulators: None,
            uncertain_transfers: Vec::new(),
            outcomes: None,
            in_flight_budget: None,
            in_flight_limit_low: None,
            in_flight_peak: None,
            notes: Vec::new(),
            clocks: Vec::new(),
            latency_ms: latencies_from(&set, ALL),
            latency_committed_ms: latencies_from(&set, COMMITTED),
            histograms: set,
            scenario: s.name.clone(),
            flow: s.flow.as_str().into(),
            started: fspiop::types::DateTime::from_offset_date_time(self.started).into_string(),
            duration_s: s.total().as_secs_f64(),
            arrivals: scheduled,
            committed: self.counts[0],
            rejected: self.counts[1],
            timed_out: self.counts[2],
            failed_after_send: self.counts[3],
            not_sent: self.counts[4],
            lost: self.counts[5],
            late_callbacks: 0,
            callbacks_failed: 0,
            late_arrivals: self.late,
            start_lag_ms: percentiles(&self.lag),
            target_tps: target,
            achieved_tps: achieved,
            completion_tps: completion,
            success_rate,
            errors_by_code: self.errors,
            corridors,
            timeline,
            attribution,
            thresholds: Vec::new(),
            passed: true,
            method: Method {
                window_s: [self.window.0.as_secs_f64(), self.window.1.as_secs_f64()],
                correction: "open model; e2e measured from each arrival's intended start (coordinated-omission corrected), e2e_raw from its actual start; phases from each request's send to its callback or failure. latency_ms covers every arrival that ended at the switch (committed, rejected, timed out at its timeout, failed after send); latency_committed_ms committed ones only; thresholds judge latency_ms".into(),
                histograms: "HDR, microseconds, 3 significant digits".into(),
            },
        };
        if let Some(note) = warmup_note(s.warmup, &report) {
            report.notes.push(note);
        }
        if !self.uncertain.is_empty() {
            report.notes.extend(s.expiry_warning());
        }
        report.uncertain_transfers = self.uncertain;
        report.thresholds = judge::judge(&report, &judge::limits(&s.thresholds))
            .expect("the scenario's threshold names are in the table");
        report.settle_passed();
        report
    }
}

/// A note when the warm-up is shorter than the median end-to-end latency: the window's
/// completions then lag its arrivals, and only `achieved_tps` (its window shifted by the
/// latency) reads the served share right.
pub(crate) fn warmup_note(warmup: Duration, r: &Report) -> Option<String> {
    let p50 = if r.latency_committed_ms.e2e.count > 0 {
        r.latency_committed_ms.e2e.p50
    } else {
        r.latency_ms.e2e.p50
    };
    let warmup_ms = warmup.as_secs_f64() * 1000.0;
    (p50 > warmup_ms).then(|| {
        format!(
            "warm-up {:.1} s is shorter than the median end-to-end latency ({:.1} s): commits completed inside the window ({:.1}/s) lag its arrivals; achieved TPS ({:.1}/s) counts completions over the window shifted by that latency and is not biased by it. A warm-up of a few times the latency gives steadier numbers.",
            warmup_ms / 1000.0,
            p50 / 1000.0,
            r.completion_tps,
            r.achieved_tps
        )
    })
}
