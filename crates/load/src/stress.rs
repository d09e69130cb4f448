//! Stress to failure: raise the rate stage by stage until a stop rule fires, report the
//! breaking point and what broke first (rule, error code, phase, corridor), then offer a low
//! rate again and report whether the system recovered.

use serde::{Deserialize, Deserializer, Serialize};
use std::sync::Arc;
use std::time::Duration;

use crate::report::{Recorder, Report};
use crate::scenario::{Scenario, Stage, Thresholds};
use crate::{Payers, Progress};

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| serde::de::Error::custom(format!("'{s}': {e}")))
}

/// The `[stress]` table of a scenario.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StressPlan {
    /// Rate of the first stage.
    pub start_rate: f64,
    /// Added per stage.
    pub step: f64,
    /// Length of each stage.
    #[serde(deserialize_with = "duration")]
    pub step_duration: Duration,
    /// Never offer more than this.
    pub max_rate: f64,
    /// Stop when more than this share of a stage fails, percent.
    #[serde(default = "one")]
    pub max_error_pct: f64,
    /// Stop when a stage's end-to-end p99 exceeds this, ms.
    #[serde(default = "five_hundred")]
    pub max_p99_ms: f64,
    /// Stop when a stage achieves less than this share of its rate.
    #[serde(default = "ninety")]
    pub min_achieved_ratio: f64,
    /// Rate of the recovery stage.
    pub recovery_rate: Option<f64>,
    /// Length of the recovery stage (default: one step).
    #[serde(default, deserialize_with = "opt_duration")]
    pub recovery_duration: Option<Duration>,
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}
fn one() -> f64 {
    1.0
}
fn five_hundred() -> f64 {
    500.0
}
fn ninety() -> f64 {
    0.9
}

impl StressPlan {
    /// Checks values.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.start_rate > 0.0 && self.step > 0.0 && self.max_rate >= self.start_rate) {
            return Err("stress: start_rate > 0, step > 0 and max_rate ≥ start_rate".into());
        }
        if self.step_duration < Duration::from_secs(2) {
            return Err("stress: step_duration must be at least 2s".into());
        }
        Ok(())
    }

    /// The stop rules, as the report keeps them (a merge judges the replicas' sum with them).
    pub fn rules(&self) -> StopRules {
        StopRules {
            max_error_pct: self.max_error_pct,
            max_p99_ms: self.max_p99_ms,
            min_achieved_ratio: self.min_achieved_ratio,
        }
    }

    /// The rates of the ramp.
    pub fn rates(&self) -> Vec<f64> {
        let mut v = Vec::new();
        let mut r = self.start_rate;
        while r <= self.max_rate + 1e-9 {
            v.push(r);
            r += self.step;
        }
        v
    }
}

/// The stop rules a stage is judged by (from [`StressPlan`]).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct StopRules {
    /// More than this share of a stage failed, percent.
    pub max_error_pct: f64,
    /// A stage's end-to-end p99 above this, ms.
    pub max_p99_ms: f64,
    /// A stage achieved less than this share of what it was offered (its share of the rate).
    pub min_achieved_ratio: f64,
}

fn whole() -> f64 {
    1.0
}

/// One stage's headline numbers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StageResult {
    /// Offered rate.
    pub rate: f64,
    /// Arrivals the scheduler started in this stage.
    #[serde(default)]
    pub arrivals: u64,
    /// The share of `rate` these results' replicas offered, and are judged against: 1/N for
    /// one replica of N, the replicas' sum (1) for a merged run.
    #[serde(default = "whole")]
    pub share: f64,
    /// Committed per second inside the stage's window.
    pub achieved_tps: f64,
    /// Committed share, percent.
    pub success_rate: f64,
    /// End-to-end p99 of every arrival that ended at the switch, ms.
    pub p99_ms: f64,
    /// Stop rules that fired.
    pub broken_by: Vec<String>,
    /// The ramp stopped during this stage (it came after the stage that broke, and ran while
    /// that one's last arrivals ended): partial, not judged for the breaking point.
    #[serde(default)]
    pub interrupted: bool,
}

/// The stress run's verdict.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StressReport {
    /// Scenario name.
    pub scenario: String,
    /// Each stage of the ramp, in order.
    pub stages: Vec<StageResult>,
    /// The highest rate that passed every stop rule (None: even the first stage broke).
    pub breaking_point_tps: Option<f64>,
    /// The rate at which a rule first fired (None: reached max_rate unbroken).
    pub broke_at_tps: Option<f64>,
    /// Which rules fired first.
    pub broke_by: Vec<String>,
    /// The first error of the ramp, by the time it happened.
    pub first_error: Option<String>,
    /// When it happened, seconds from the ramp's start.
    #[serde(default)]
    pub first_error_at_s: Option<f64>,
    /// The most frequent error of the breaking stage.
    #[serde(default)]
    pub most_frequent_error: Option<String>,
    /// Phase with the worst p99 in the breaking stage.
    pub slowest_phase: Option<String>,
    /// Corridor with the worst p99 in the breaking stage.
    pub slowest_corridor: Option<String>,
    /// Recovery stage: rate and whether it passed the stop rules again.
    pub recovery: Option<StageResult>,
    /// Whether the system recovered (the recovery stage broke no rule).
    pub recovered: Option<bool>,
    /// Full reports of every stage (ramp stages, then recovery).
    pub stage_reports: Vec<Report>,
    /// The stop rules every stage was judged by (absent in reports from before them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<StopRules>,
    /// What the verdict leaves out or could not judge (a merge's stages that not every replica
    /// ran, a recovery run at different times).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The driver's counts over every stage against the switch's ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crosscheck: Option<crate::report::CrossCheck>,
    /// Why there is no cross-check, when there is none (a `failed` one fails the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_crosscheck: Option<crate::report::NoCrossCheck>,
    /// What became of each arrival of the ramp and the recovery, one byte each: what the
    /// cross-check compares id by id (in memory, and `outcomes.bin` beside the results).
    #[serde(skip)]
    pub outcomes: Option<crate::ids::Outcomes>,
    /// JWS signs and verifies and TLS handshakes over the whole ramp and recovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<crate::report::Operations>,
}

fn stage_scenario(base: &Scenario, rate: f64, duration: Duration) -> Scenario {
    let mut s = base.clone();
    s.stages = vec![Stage {
        rate,
        duration,
        ramp: false,
    }];
    let trim = (duration / 10).min(Duration::from_secs(5));
    s.warmup = trim;
    s.cooldown = trim;
    s.thresholds = Thresholds::default();
    s.stress = None;
    s
}

/// Judges one stage's report by the stop rules. `share` is the part of `rate` the report's
/// replicas offered (1/N for one replica of N): the achieved rate is held against that, never
/// against the whole stage rate.
fn judge(rules: &StopRules, rate: f64, share: f64, r: &Report) -> StageResult {
    let mut broken_by = Vec::new();
    let failed_pct = 100.0 - r.success_rate;
    if failed_pct > rules.max_error_pct {
        broken_by.push(format!(
            "error rate {failed_pct:.2} % > {} %",
            rules.max_error_pct
        ));
    }
    if r.latency_ms.e2e.p99 > rules.max_p99_ms || (r.latency_ms.e2e.count == 0 && r.arrivals > 0) {
        broken_by.push(format!(
            "p99 {:.1} ms > {} ms",
            r.latency_ms.e2e.p99, rules.max_p99_ms
        ));
    }
    let offered = rate * share;
    let ratio = if offered > 0.0 {
        r.achieved_tps / offered
    } else {
        1.0
    };
    if ratio < rules.min_achieved_ratio {
        let of = if (share - 1.0).abs() < 1e-9 {
            format!("{rate}/s")
        } else {
            format!("{offered:.1}/s (this share, {:.3} of {rate}/s)", share)
        };
        broken_by.push(format!(
            "achieved {:.1}/s < {:.0} % of {of}",
            r.achieved_tps,
            rules.min_achieved_ratio * 100.0
        ));
    }
    if r.timed_out + r.failed_after_send > 0 {
        broken_by.push(format!(
            "{} timeouts, {} failed after send",
            r.timed_out, r.failed_after_send
        ));
    }
    if r.lost > 0 {
        broken_by.push(format!("{} iterations lost (driver failure)", r.lost));
    }
    StageResult {
        rate,
        arrivals: r.arrivals,
        share,
        achieved_tps: r.achieved_tps,
        success_rate: r.success_rate,
        p99_ms: r.latency_ms.e2e.p99,
        broken_by,
        interrupted: false,
    }
}

/// The aggregator of a continuous ramp: every sample goes to the stage of its intended start;
/// a stage is judged as soon as all its arrivals have ended, while later stages keep running;
/// the first broken stage stops the scheduler.
struct Ramp<'a> {
    plan: &'a StressPlan,
    /// This driver's share of each stage's rate.
    share: f64,
    rates: Vec<f64>,
    /// The whole ramp (progress, live metrics).
    whole: Recorder,
    /// Per stage: its recorder until judged.
    stages: Vec<Option<Recorder>>,
    ended: Vec<u64>,
    judged: usize,
    results: Vec<Option<(StageResult, Report)>>,
    broke: Option<usize>,
    first_error: Option<(Duration, String)>,
}

impl Ramp<'_> {
    fn stage_of(&self, intended: Duration) -> usize {
        let k = (intended.as_secs_f64() / self.plan.step_duration.as_secs_f64()) as usize;
        k.min(self.rates.len() - 1)
    }

    /// Judges stage `k` with its final arrival count.
    fn close(&mut self, k: usize, arrivals: u64) {
        if let Some(rec) = self.stages[k].take() {
            let report = rec.finish(arrivals);
            let mut result = judge(&self.plan.rules(), self.rates[k], self.share, &report);
            if self.broke.is_some_and(|b| b < k) {
                result.interrupted = true;
            }
            if self.broke.is_none() && !result.broken_by.is_empty() {
                self.broke = Some(k);
            }
            self.results[k] = Some((result, report));
        }
    }
}

impl crate::Observer for Ramp<'_> {
    fn record(&mut self, s: &crate::Sample, tally: &crate::Tally) {
        self.whole.record(s);
        if s.outcome != crate::Outcome::Committed {
            let at = s.intended + s.e2e;
            if self.first_error.as_ref().is_none_or(|(t, _)| at < *t) {
                let what = match &s.outcome {
                    crate::Outcome::Rejected(c) => c.clone(),
                    crate::Outcome::TimedOut => "timeout".into(),
                    crate::Outcome::FailedAfterSend(w) => format!("failed after send: {w}"),
                    crate::Outcome::NotSent(w) => format!("not sent: {w}"),
                    crate::Outcome::Lost(w) => format!("LOST: {w}"),
                    crate::Outcome::Committed => unreachable!("filtered above"),
                };
                self.first_error = Some((at, what));
            }
        }
        let k = self.stage_of(s.intended);
        let mut local = s.clone();
        local.intended = s
            .intended
            .saturating_sub(self.plan.step_duration * k as u32);
        if let Some(r) = &mut self.stages[k] {
            r.record(&local);
        }
        self.ended[k] += 1;
        while self.judged < self.rates.len() {
            let k = self.judged;
            let (started, done) = tally.stage(k);
            if !(done && self.ended[k] == started) {
                break;
            }
            if started > 0 {
                self.close(k, started);
            }
            self.judged += 1;
            if self.broke.is_some() {
                tally.stop();
            }
        }
    }

    fn progress(
        &self,
        elapsed: Duration,
        tally: &crate::Tally,
        in_flight: usize,
        oldest: Option<Duration>,
    ) -> String {
        self.whole.progress_line(
            elapsed,
            self.whole.total(),
            tally.started(),
            in_flight,
            oldest,
        )
    }

    fn last_second_us(&self, elapsed: Duration) -> (u64, u64) {
        self.whole.last_second_us(elapsed)
    }
}

/// Runs the ramp, then the recovery stage.
pub async fn run(
    base: &Scenario,
    plan: &StressPlan,
    payers: Payers,
    progress: Option<Arc<dyn Progress>>,
) -> StressReport {
    run_with(base, plan, payers, progress, None).await
}

/// [`run`], also updating `live` metrics (the whole ramp and the recovery).
pub async fn run_with(
    base: &Scenario,
    plan: &StressPlan,
    payers: Payers,
    progress: Option<Arc<dyn Progress>>,
    live: Option<Arc<crate::live::LiveMetrics>>,
) -> StressReport {
    let rates = plan.rates();
    let mut ramp_scenario = base.clone();
    ramp_scenario.stages = rates
        .iter()
        .map(|r| Stage {
            rate: *r,
            duration: plan.step_duration,
            ramp: false,
        })
        .collect();
    ramp_scenario.warmup = Duration::ZERO;
    ramp_scenario.cooldown = Duration::ZERO;
    ramp_scenario.thresholds = Thresholds::default();
    ramp_scenario.stress = None;
    let payers = Arc::new(payers);
    let share = payers
        .replica
        .as_ref()
        .map_or(1.0, |r| 1.0 / f64::from(r.count));
    let now = time::OffsetDateTime::now_utc();
    let mut ramp = Ramp {
        plan,
        share,
        whole: Recorder::new(&ramp_scenario, now).share(share),
        stages: rates
            .iter()
            .map(|r| {
                Some(Recorder::new(&stage_scenario(base, *r, plan.step_duration), now).share(share))
            })
            .collect(),
        ended: vec![0; rates.len()],
        judged: 0,
        results: vec![None; rates.len()],
        broke: None,
        first_error: None,
        rates,
    };
    if let Some(p) = &progress {
        p.tick(&format!(
            "stress: continuous ramp {} → {}/s, {:?} per stage; it stops at the first stage that breaks a rule",
            plan.start_rate, plan.max_rate, plan.step_duration
        ));
    }
    let tally = Arc::new(crate::Tally::new(ramp.rates.len()));
    let driven = crate::drive(
        Arc::new(ramp_scenario.clone()),
        payers.clone(),
        progress.clone(),
        live.clone(),
        &mut ramp,
        tally.clone(),
        0,
    )
    .await;
    // Stages the scheduler stopped in (or never reached) are closed with their final counts.
    for k in ramp.judged..ramp.rates.len() {
        let (started, _) = tally.stage(k);
        if started > 0 {
            ramp.close(k, started);
        }
    }
    let mut out = StressReport::empty(&base.name, plan.rules());
    out.first_error_at_s = ramp.first_error.as_ref().map(|(t, _)| t.as_secs_f64());
    out.first_error = ramp.first_error.take().map(|(_, e)| e);
    out.outcomes = Some(driven.outcomes);
    let run_info = payers.run_info(base.peak_rate() * share);
    let stages = ramp
        .results
        .into_iter()
        .map(|slot| {
            slot.map(|(result, mut report)| {
                report.run = run_info.clone();
                report.notes.extend(driven.notes.iter().cloned());
                (result, report)
            })
        })
        .collect();
    out.verdict(stages, ramp.broke);
    if out.broke_at_tps.is_some() {
        let rate = plan.recovery_rate.unwrap_or(plan.start_rate);
        let duration = plan.recovery_duration.unwrap_or(plan.step_duration);
        if let Some(p) = &progress {
            p.tick(&format!("stress: recovery stage at {rate}/s"));
        }
        // Let the switch's queues drain before judging recovery.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let payers = Arc::try_unwrap(payers).unwrap_or_else(|p| (*p).clone());
        // Its indices go on after the ramp's: the same payers, so the same ids otherwise.
        let mut report = crate::run_from(
            &stage_scenario(base, rate, duration),
            payers,
            progress,
            live,
            driven.next_index,
        )
        .await;
        if let (Some(all), Some(recovery)) = (&mut out.outcomes, report.outcomes.take()) {
            all.absorb(&recovery);
        }
        let verdict = judge(&plan.rules(), rate, share, &report);
        out.recovered = Some(verdict.broken_by.is_empty());
        out.recovery = Some(verdict);
        out.stage_reports.push(report);
    }
    out
}

/// Merges the stress reports of the replicas of one run (their stage reports with histograms
/// loaded): stage by stage, each stage's reports merge exactly ([`crate::report::merge`]:
/// one run, every replica, windows that overlap) and the sum is judged again by the same stop
/// rules against the whole stage rate (the replicas' shares added up). A stage that not every
/// replica ran (their ramps stopped at different stages) is merged for the accounting, marked
/// interrupted and not judged; so is a recovery that not every replica ran.
pub fn merge(parts: &[StressReport]) -> Result<StressReport, String> {
    use crate::report::merge::{check_one_run, merge_with, Checks};
    let first = parts.first().ok_or("nothing to merge")?;
    let rules = first.rules.ok_or(
        "part 0 carries no stop rules (made by an older perfbed): cannot judge the replicas' sum",
    )?;
    for (i, p) in parts.iter().enumerate() {
        if p.rules != Some(rules) {
            return Err(format!(
                "part {i} was judged by other stop rules than part 0: {:?} against {rules:?}",
                p.rules
            ));
        }
        if p.stages.is_empty() {
            return Err(format!("part {i}: no stage ran"));
        }
    }
    // One run, every replica of it: asked of the first stage every replica ran.
    let firsts: Vec<Report> = parts.iter().map(|p| p.stage_reports[0].clone()).collect();
    check_one_run(&firsts, true)?;
    let indices = |with: &[&StressReport]| {
        with.iter()
            .flat_map(|p| p.stage_reports[0].run.replica_indices.iter())
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = StressReport::empty(&first.scenario, rules);
    if let Some((at, e)) = parts
        .iter()
        .filter_map(|p| Some((p.first_error_at_s?, p.first_error.clone()?)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
    {
        out.first_error_at_s = Some(at);
        out.first_error = Some(e);
    }
    let longest = parts.iter().map(|p| p.stages.len()).max().unwrap_or(0);
    let mut stages = Vec::new();
    let mut broke = None;
    for k in 0..longest {
        let with: Vec<&StressReport> = parts.iter().filter(|p| p.stages.len() > k).collect();
        let rate = with[0].stages[k].rate;
        if let Some(p) = with.iter().find(|p| p.stages[k].rate != rate) {
            return Err(format!(
                "stage {k}: one replica ran it at {rate}/s, another at {}/s: not one ramp",
                p.stages[k].rate
            ));
        }
        let every = with.len() == parts.len();
        let reports: Vec<Report> = with.iter().map(|p| p.stage_reports[k].clone()).collect();
        let report = merge_with(
            &reports,
            Checks {
                every_replica: every,
                overlap: every,
            },
        )
        .map_err(|e| format!("stage at {rate}/s: {e}"))?;
        let share = with.iter().map(|p| p.stages[k].share).sum();
        let mut result = judge(&rules, rate, share, &report);
        if every {
            if broke.is_none() && !result.broken_by.is_empty() {
                broke = Some(k);
            }
        } else {
            result.interrupted = true;
            out.notes.push(format!(
                "the stage at {rate}/s ran on replica(s) {} only (the others' ramps had stopped): merged for the accounting, not judged",
                indices(&with)
            ));
        }
        stages.push(Some((result, report)));
    }
    out.verdict(stages, broke);
    let with: Vec<&StressReport> = parts.iter().filter(|p| p.recovery.is_some()).collect();
    if let Some(r0) = with.first().and_then(|p| p.recovery.as_ref()) {
        let rate = r0.rate;
        let every = with.len() == parts.len();
        let reports: Vec<Report> = with
            .iter()
            .filter_map(|p| p.stage_reports.get(p.stages.len()).cloned())
            .collect();
        if reports.len() != with.len() {
            return Err("a part has a recovery verdict and no recovery stage report".into());
        }
        let loose = Checks {
            every_replica: false,
            overlap: false,
        };
        let strict = if every {
            merge_with(&reports, Checks::ALL)
                .map_err(|e| format!("the recovery stages cannot be judged as one: {e}"))
        } else {
            Err(format!(
                "the recovery stage ran on replica(s) {} only: merged for the accounting, not judged",
                indices(&with)
            ))
        };
        let (report, judged) = match strict {
            Ok(r) => (r, true),
            Err(why) => {
                out.notes.push(why);
                (merge_with(&reports, loose)?, false)
            }
        };
        let share = with
            .iter()
            .filter_map(|p| p.recovery.as_ref())
            .map(|r| r.share)
            .sum();
        let mut verdict = judge(&rules, rate, share, &report);
        if judged {
            out.recovered = Some(verdict.broken_by.is_empty());
        } else {
            verdict.interrupted = true;
        }
        out.recovery = Some(verdict);
        out.stage_reports.push(report);
    }
    if out.broke_at_tps.is_none() && parts.iter().any(|p| p.broke_at_tps.is_some()) {
        out.notes.push(format!(
            "no stage every replica ran broke a rule on the sum, but the ramps of replica(s) {} stopped at a stage that broke on their share",
            indices(&parts.iter().filter(|p| p.broke_at_tps.is_some()).collect::<Vec<_>>())
        ));
    }
    Ok(out)
}

impl StressReport {
    /// A report with no stage yet.
    fn empty(scenario: &str, rules: StopRules) -> StressReport {
        StressReport {
            scenario: scenario.to_owned(),
            stages: Vec::new(),
            breaking_point_tps: None,
            broke_at_tps: None,
            broke_by: Vec::new(),
            first_error: None,
            first_error_at_s: None,
            most_frequent_error: None,
            slowest_phase: None,
            slowest_corridor: None,
            recovery: None,
            recovered: None,
            stage_reports: Vec::new(),
            rules: Some(rules),
            notes: Vec::new(),
            crosscheck: None,
            no_crosscheck: None,
            outcomes: None,
            operations: None,
        }
    }

    /// Takes the judged ramp stages (in order; `None` for a stage that never started) and
    /// `broke`, the first stage that broke a rule: the breaking point, where and by what it
    /// broke, and the stages after it marked interrupted.
    fn verdict(&mut self, stages: Vec<Option<(StageResult, Report)>>, broke: Option<usize>) {
        for (k, slot) in stages.into_iter().enumerate() {
            let Some((mut result, report)) = slot else {
                continue;
            };
            if broke == Some(k) {
                self.broke_at_tps = Some(result.rate);
                self.broke_by = result.broken_by.clone();
                self.most_frequent_error = report
                    .errors_by_code
                    .iter()
                    .max_by_key(|(_, n)| **n)
                    .map(|(k, _)| k.clone());
                let l = &report.latency_ms;
                self.slowest_phase = [
                    ("lookup", l.lookup.p99),
                    ("quote", l.quote.p99),
                    ("transfer", l.transfer.p99),
                ]
                .into_iter()
                .filter(|(_, p)| *p > 0.0)
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(n, _)| n.to_owned());
                self.slowest_corridor = report
                    .corridors
                    .iter()
                    .max_by(|a, b| a.e2e.p99.total_cmp(&b.e2e.p99))
                    .map(|c| c.corridor.clone());
            } else if broke.is_none_or(|b| k < b)
                && result.broken_by.is_empty()
                && !result.interrupted
            {
                self.breaking_point_tps = Some(result.rate);
            }
            if broke.is_some_and(|b| k > b) {
                result.interrupted = true;
            }
            self.stages.push(result);
            self.stage_reports.push(report);
        }
    }

    /// Every stage's accounting adds up.
    pub fn adds_up(&self) -> bool {
        self.stage_reports.iter().all(Report::adds_up)
    }

    /// Committed over every stage.
    pub fn committed(&self) -> u64 {
        self.stage_reports.iter().map(|r| r.committed).sum()
    }

    /// Uncertain (timed out, failed after send, lost) over every stage.
    pub fn uncertain(&self) -> u64 {
        self.stage_reports.iter().map(Report::uncertain).sum()
    }

    /// The cross-check in one line: its summary, or why there is none.
    pub fn crosscheck_line(&self) -> String {
        crate::report::model::crosscheck_line(self.crosscheck.as_ref(), self.no_crosscheck.as_ref())
    }

    /// Whether the cross-check, when there is one, agrees, and none that could run failed to.
    pub fn crosscheck_ok(&self) -> bool {
        self.crosscheck.as_ref().is_none_or(|c| c.agrees)
            && self.no_crosscheck.as_ref().is_none_or(|n| !n.fails())
    }

    /// Markdown summary.
    pub fn to_markdown(&self) -> String {
        let mut m = format!("# perfbed stress to failure — {}\n\n", self.scenario);
        match (self.breaking_point_tps, self.broke_at_tps) {
            (Some(ok), Some(bad)) => m.push_str(&format!(
                "**Breaking point: {ok}/s** (last stage that held); broke at {bad}/s by: {}.\n\n",
                self.broke_by.join("; ")
            )),
            (None, Some(bad)) => m.push_str(&format!(
                "**Broke at the first stage ({bad}/s)** by: {}.\n\n",
                self.broke_by.join("; ")
            )),
            (Some(ok), None) => {
                m.push_str(&format!("**Did not break** up to {ok}/s (max_rate).\n\n"))
            }
            (None, None) => m.push_str("No stage ran.\n\n"),
        }
        if let Some(e) = &self.first_error {
            m.push_str(&format!(
                "First error: `{e}`{}. ",
                self.first_error_at_s
                    .map_or(String::new(), |t| format!(" at {t:.1} s"))
            ));
        }
        if let Some(e) = &self.most_frequent_error {
            m.push_str(&format!(
                "Most frequent error of the breaking stage: `{e}`. "
            ));
        }
        if let Some(p) = &self.slowest_phase {
            m.push_str(&format!("Slowest phase: {p}. "));
        }
        if let Some(c) = &self.slowest_corridor {
            m.push_str(&format!("Slowest corridor: {c}."));
        }
        m.push_str("\n\nStages run back to back (the next starts on schedule while the previous one's last arrivals end); each arrival counts in the stage of its intended start.\n\n| Stage rate /s | arrivals | achieved /s | success % | p99 ms | broke by |\n|---:|---:|---:|---:|---:|---|\n");
        for (k, s) in self.stages.iter().chain(self.recovery.iter()).enumerate() {
            m.push_str(&format!(
                "| {}{} | {} | {:.1} | {:.2} | {:.1} | {} |\n",
                s.rate,
                if s.interrupted {
                    // Its arrivals stopped part-way: the rate it was offered is not what
                    // arrived, which its own report shows as its target.
                    match self.stage_reports.get(k) {
                        Some(r) => format!(
                            " offered (interrupted: {:.1}/s arrived, {:.1}/s achieved)",
                            r.target_tps, r.achieved_tps
                        ),
                        None => " (interrupted)".to_owned(),
                    }
                } else {
                    String::new()
                },
                s.arrivals,
                s.achieved_tps,
                s.success_rate,
                s.p99_ms,
                s.broken_by.join("; ")
            ));
        }
        m.push_str(&format!("\n{}.\n", self.crosscheck_line()));
        // What the simulators refused or failed to deliver (read once, after the last stage:
        // its report holds them), and the run's failure when the hub's confirmations were
        // refused for their signature, as report.md shows them.
        if let Some(sims) = self
            .stage_reports
            .iter()
            .rev()
            .find_map(|r| r.simulators.as_ref())
        {
            m.push_str(&format!("\n{}.\n", sims.line()));
            if let Some(f) = sims.failure() {
                m.push_str(&format!("\n**FAILED: {f}.**\n"));
            }
        }
        if let Some(o) = &self.operations {
            m.push_str(&format!("\n{}.\n", o.line()));
        }
        if let Some(ids) = self.crosscheck.as_ref().and_then(|c| c.ids.as_ref()) {
            m.push('\n');
            m.push_str(&crate::report::render::ids_markdown(ids));
        }
        for n in &self.notes {
            m.push_str(&format!("\nNote: {n}.\n"));
        }
        let adds_up = self.stage_reports.iter().all(Report::adds_up);
        m.push_str(&format!(
            "\nAccounting {}: {} arrivals started by the scheduler, each ended as exactly one outcome in its stage.\n",
            if adds_up { "adds up" } else { "FAILED" },
            self.stage_reports.iter().map(|r| r.arrivals).sum::<u64>()
        ));
        if let Some(r) = self.recovered {
            m.push_str(&format!(
                "\nRecovery at {}/s: {}.\n",
                self.recovery.as_ref().map_or(0.0, |s| s.rate),
                if r {
                    "**recovered**"
                } else {
                    "**did not recover**"
                }
            ));
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_rates_and_validation() {
        let p = StressPlan {
            start_rate: 100.0,
            step: 100.0,
            step_duration: Duration::from_secs(10),
            max_rate: 450.0,
            max_error_pct: 1.0,
            max_p99_ms: 500.0,
            min_achieved_ratio: 0.9,
            recovery_rate: None,
            recovery_duration: None,
        };
        assert_eq!(p.rates(), vec![100.0, 200.0, 300.0, 400.0]);
        assert!(p.validate().is_ok());
        assert!(StressPlan {
            step: 0.0,
            ..p.clone()
        }
        .validate()
        .is_err());
        assert!(StressPlan {
            step_duration: Duration::from_secs(1),
            ..p
        }
        .validate()
        .is_err());
    }
}
