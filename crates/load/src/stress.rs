//! Stress to failure: raise the rate stage by stage until a stop rule fires, report the
//! breaking point and what broke first (rule, error code, phase, corridor), then offer a low
//! rate again and report whether the system recovered.

use serde::{Deserialize, Deserializer, Serialize};
use std::sync::Arc;
use std::time::Duration;

use crate::report::Report;
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

/// One stage's headline numbers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StageResult {
    /// Offered rate.
    pub rate: f64,
    /// Committed per second inside the stage's window.
    pub achieved_tps: f64,
    /// Committed share, percent.
    pub success_rate: f64,
    /// End-to-end p99, ms.
    pub p99_ms: f64,
    /// Stop rules that fired.
    pub broken_by: Vec<String>,
}

/// The stress run's verdict.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StressReport {
    /// Scenario name.
    pub scenario: String,
    /// Each stage, in order.
    pub stages: Vec<StageResult>,
    /// The highest rate that passed every stop rule (None: even the first stage broke).
    pub breaking_point_tps: Option<f64>,
    /// The rate at which a rule first fired (None: reached max_rate unbroken).
    pub broke_at_tps: Option<f64>,
    /// Which rules fired first.
    pub broke_by: Vec<String>,
    /// Most frequent error code of the breaking stage.
    pub first_error: Option<String>,
    /// Phase with the worst p99 in the breaking stage.
    pub slowest_phase: Option<String>,
    /// Corridor with the worst p99 in the breaking stage.
    pub slowest_corridor: Option<String>,
    /// Recovery stage: rate and whether it passed the stop rules again.
    pub recovery: Option<StageResult>,
    /// Whether the system recovered (the recovery stage broke no rule).
    pub recovered: Option<bool>,
    /// Full reports of every stage.
    pub stage_reports: Vec<Report>,
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
    s
}

fn judge(plan: &StressPlan, rate: f64, r: &Report) -> StageResult {
    let mut broken_by = Vec::new();
    let failed_pct = 100.0 - r.success_rate;
    if failed_pct > plan.max_error_pct {
        broken_by.push(format!(
            "error rate {failed_pct:.2} % > {} %",
            plan.max_error_pct
        ));
    }
    if r.latency_ms.e2e.p99 > plan.max_p99_ms || (r.latency_ms.e2e.count == 0 && r.arrivals > 0) {
        broken_by.push(format!(
            "p99 {:.1} ms > {} ms",
            r.latency_ms.e2e.p99, plan.max_p99_ms
        ));
    }
    let ratio = if rate > 0.0 {
        r.achieved_tps / rate
    } else {
        1.0
    };
    if ratio < plan.min_achieved_ratio {
        broken_by.push(format!(
            "achieved {:.1}/s < {:.0} % of {rate}/s",
            r.achieved_tps,
            plan.min_achieved_ratio * 100.0
        ));
    }
    if r.timed_out > 0 {
        broken_by.push(format!("{} timeouts", r.timed_out));
    }
    StageResult {
        rate,
        achieved_tps: r.achieved_tps,
        success_rate: r.success_rate,
        p99_ms: r.latency_ms.e2e.p99,
        broken_by,
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

/// [`run`], also updating `live` metrics.
pub async fn run_with(
    base: &Scenario,
    plan: &StressPlan,
    payers: Payers,
    progress: Option<Arc<dyn Progress>>,
    live: Option<Arc<crate::live::LiveMetrics>>,
) -> StressReport {
    let mut out = StressReport {
        scenario: base.name.clone(),
        stages: Vec::new(),
        breaking_point_tps: None,
        broke_at_tps: None,
        broke_by: Vec::new(),
        first_error: None,
        slowest_phase: None,
        slowest_corridor: None,
        recovery: None,
        recovered: None,
        stage_reports: Vec::new(),
    };
    for rate in plan.rates() {
        if let Some(p) = &progress {
            p.tick(&format!(
                "stress: stage at {rate}/s for {:?}",
                plan.step_duration
            ));
        }
        let report = crate::run(
            &stage_scenario(base, rate, plan.step_duration),
            payers.clone(),
            progress.clone(),
        )
        .await;
        let verdict = judge(plan, rate, &report);
        let broken = !verdict.broken_by.is_empty();
        if broken {
            out.broke_at_tps = Some(rate);
            out.broke_by = verdict.broken_by.clone();
            out.first_error = report
                .errors_by_code
                .iter()
                .max_by_key(|(_, n)| **n)
                .map(|(k, _)| k.clone());
            let l = &report.latency_ms;
            out.slowest_phase = [
                ("lookup", l.lookup.p99),
                ("quote", l.quote.p99),
                ("transfer", l.transfer.p99),
            ]
            .into_iter()
            .filter(|(_, p)| *p > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(n, _)| n.to_owned());
            out.slowest_corridor = report
                .corridors
                .iter()
                .max_by(|a, b| a.e2e.p99.total_cmp(&b.e2e.p99))
                .map(|c| c.corridor.clone());
        } else {
            out.breaking_point_tps = Some(rate);
        }
        out.stages.push(verdict);
        out.stage_reports.push(report);
        if broken {
            break;
        }
    }
    if out.broke_at_tps.is_some() {
        let rate = plan.recovery_rate.unwrap_or(plan.start_rate);
        let duration = plan.recovery_duration.unwrap_or(plan.step_duration);
        if let Some(p) = &progress {
            p.tick(&format!("stress: recovery stage at {rate}/s"));
        }
        // Let queues drain before judging recovery.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let report = crate::run_with(
            &stage_scenario(base, rate, duration),
            payers,
            progress,
            live,
        )
        .await;
        let verdict = judge(plan, rate, &report);
        out.recovered = Some(verdict.broken_by.is_empty());
        out.recovery = Some(verdict);
        out.stage_reports.push(report);
    }
    out
}

impl StressReport {
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
            m.push_str(&format!("First error: `{e}`. "));
        }
        if let Some(p) = &self.slowest_phase {
            m.push_str(&format!("Slowest phase: {p}. "));
        }
        if let Some(c) = &self.slowest_corridor {
            m.push_str(&format!("Slowest corridor: {c}."));
        }
        m.push_str("\n\n| Stage rate /s | achieved /s | success % | p99 ms | broke by |\n|---:|---:|---:|---:|---|\n");
        for s in self.stages.iter().chain(self.recovery.iter()) {
            m.push_str(&format!(
                "| {} | {:.1} | {:.2} | {:.1} | {} |\n",
                s.rate,
                s.achieved_tps,
                s.success_rate,
                s.p99_ms,
                s.broken_by.join("; ")
            ));
        }
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
