//! One execution path for every command that offers load (`local`, `run`, `suite`): a scenario
//! runs its stages or its stress ramp, the switch is watched around it, the transfers the driver
//! stopped waiting for are reconciled with the switch's ledger, the switch's "after" side is
//! read once it drained, the driver's counts are cross-checked against the ledger, and the
//! results are written.

use anyhow::Result;
use load::report::CrossCheck;
use load::stress::StressReport;
use load::{Report, Scenario};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::watch::SwitchWatch;

/// Where the switch's own account of the run's transfers comes from.
#[derive(Debug, Clone)]
pub enum Ledger {
    /// The hub emulator's admin API (`GET /admin/perfbed/transfers?prefix=`).
    Emulator(ops::Admin),
    /// The real central-ledger's database (`ledger_db` of the testbed file).
    Sql(String),
    /// Ask this admin API; a hub that is not the emulator answers 404, and then there is no
    /// cross-check (said in the report).
    Probe(ops::Admin),
    /// No cross-check, and why.
    None(String),
}

impl Ledger {
    /// From a testbed file (SQL when it has `ledger_db`), else probing `admin` when given.
    pub fn choose(testbed: Option<&ops::Testbed>, admin: Option<ops::Admin>) -> Ledger {
        match (testbed.and_then(|t| t.hub.ledger_db.clone()), admin) {
            (Some(db), _) => Ledger::Sql(db),
            (None, Some(a)) => Ledger::Probe(a),
            (None, None) => {
                Ledger::None("no ledger to ask (give a testbed file with ledger_db)".into())
            }
        }
    }

    /// The switch's transfers whose ids start with `prefix`, by final state, with where the
    /// numbers come from; `Ok(None)` when this ledger cannot be asked (not the emulator, no
    /// database), `Err` when asking failed.
    pub async fn states(
        &self,
        prefix: &str,
    ) -> Result<Option<(String, BTreeMap<String, u64>)>, String> {
        let to_pair = |s: ops::crosscheck::LedgerStates| (s.source, s.by_state);
        match self {
            Ledger::Emulator(admin) => {
                match ops::crosscheck::emulator_states(admin, prefix).await {
                    Ok(Some(s)) => Ok(Some(to_pair(s))),
                    Ok(None) => {
                        Err("the hub emulator's admin API has no /perfbed/transfers".into())
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            Ledger::Probe(admin) => ops::crosscheck::emulator_states(admin, prefix)
                .await
                .map(|o| o.map(to_pair))
                .map_err(|e| e.to_string()),
            Ledger::Sql(db) => ops::crosscheck::ledger_states_sql(db, prefix)
                .await
                .map(|s| Some(to_pair(s)))
                .map_err(|e| e.to_string()),
            Ledger::None(_) => Ok(None),
        }
    }
}

/// What the load runs against.
#[derive(Debug)]
pub struct Target {
    /// The payers (simulators in this process).
    pub payers: load::Payers,
    /// Where the cross-check asks.
    pub ledger: Ledger,
    /// The switch's testbed file: Kafka and positions around the run.
    pub testbed: Option<ops::Testbed>,
}

/// How to execute.
#[derive(Default)]
pub struct Options {
    /// Progress lines.
    pub progress: Option<Arc<dyn load::Progress>>,
    /// Live metrics (`--metrics-listen`).
    pub live: Option<Arc<load::live::LiveMetrics>>,
    /// Cross-check the driver against the switch (`--no-crosscheck` turns it off).
    pub crosscheck: bool,
    /// Result folder name: OUT/<name>-<timestamp>/.
    pub name: Option<String>,
    /// Security of the connections, as the report states it (`full (mTLS + JWS RS256)`,
    /// `none`, …).
    pub security: Option<String>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("crosscheck", &self.crosscheck)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a scenario produced.
#[derive(Debug)]
pub struct Outcome {
    /// Its result folder.
    pub dir: PathBuf,
    /// The report (a scenario with stages).
    pub report: Option<Report>,
    /// The stress report (a scenario with `[stress]`).
    pub stress: Option<StressReport>,
}

impl Outcome {
    /// Every arrival accounted for: the scheduler's counts against the outcomes.
    pub fn adds_up(&self) -> bool {
        self.report.as_ref().is_none_or(Report::adds_up)
            && self.stress.as_ref().is_none_or(StressReport::adds_up)
    }

    /// The cross-check, when there was one.
    pub fn crosscheck(&self) -> Option<&CrossCheck> {
        match (&self.report, &self.stress) {
            (Some(r), _) => r.crosscheck.as_ref(),
            (None, Some(s)) => s.crosscheck.as_ref(),
            (None, None) => None,
        }
    }

    /// Thresholds met (stress: recovered), accounting adds up, and the cross-check agrees.
    pub fn passed(&self) -> bool {
        let judged = match (&self.report, &self.stress) {
            (Some(r), _) => r.passed,
            (None, Some(s)) => s.recovered != Some(false),
            (None, None) => false,
        };
        judged && self.adds_up() && self.crosscheck().is_none_or(|c| c.agrees)
    }

    /// One line for a CI log.
    pub fn summary(&self) -> String {
        let check = self
            .crosscheck()
            .map_or("no cross-check".to_owned(), |c| c.summary.clone());
        match (&self.report, &self.stress) {
            (Some(r), _) => format!(
                "perfbed: {} {} — {} arrivals, {} committed, {:.1}/s achieved, p95 {:.1} ms, p99 {:.1} ms; accounting {}; {check}",
                r.scenario,
                r.verdict(),
                r.arrivals,
                r.committed,
                r.achieved_tps,
                r.latency_ms.e2e.p95,
                r.latency_ms.e2e.p99,
                if r.adds_up() { "adds up" } else { "FAILED" },
            ),
            (None, Some(s)) => format!(
                "perfbed: {} stress — breaking point {}, recovered {}; accounting {}; {check}",
                s.scenario,
                s.breaking_point_tps
                    .map_or("none".into(), |b| format!("{b}/s")),
                s.recovered.map_or("n/a", |r| if r { "yes" } else { "NO" }),
                if s.adds_up() { "adds up" } else { "FAILED" },
            ),
            (None, None) => "perfbed: nothing ran".into(),
        }
    }
}

/// CPU time this process has used, seconds (user + system).
fn process_cpu_s() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_SELF).map_or(0.0, |u| {
        let t = |v: nix::sys::time::TimeVal| v.tv_sec() as f64 + v.tv_usec() as f64 / 1e6;
        t(u.user_time()) + t(u.system_time())
    })
}

/// The cross-check of a driver's counts against `ledger` for the run tagged `prefix`, or the
/// note that says why there is none.
pub async fn crosscheck(
    ledger: &Ledger,
    prefix: &str,
    committed: u64,
    uncertain: u64,
) -> Result<CrossCheck, String> {
    match ledger.states(prefix).await {
        Ok(Some((source, states))) => Ok(CrossCheck::judge(
            &source, prefix, committed, uncertain, states,
        )),
        Ok(None) => Err(match ledger {
            Ledger::None(why) => format!("no cross-check: {why}"),
            _ => "no cross-check: the hub is not the emulator and no ledger_db was given".into(),
        }),
        Err(e) => Err(format!("cross-check failed to ask the switch: {e}")),
    }
}

/// Runs `scenario` against `target` — its stages, or its stress ramp when it has `[stress]` —
/// and writes the results under `out`.
pub async fn execute(
    scenario: &Scenario,
    target: &Target,
    out: &Path,
    options: &Options,
) -> Result<Outcome> {
    let name = options
        .name
        .clone()
        .unwrap_or_else(|| scenario.name.clone());
    let payers = target.payers.clone();
    let prefix = payers.id_prefix();
    let api = payers.api();
    let replica = payers.replica.is_some();
    let watch = target
        .testbed
        .as_ref()
        .map(|t| SwitchWatch::start(t, scenario));
    let before = match &watch {
        Some(w) => w.positions().await,
        None => Ok(Vec::new()),
    };
    let progress = options.progress.clone();
    let live = options.live.clone();
    if let (Some(p), Some(w)) = (&options.progress, scenario.expiry_warning()) {
        p.tick(&format!("note: {w}"));
    }
    let cpu_before = process_cpu_s();
    let (mut report, mut stress) = match &scenario.stress {
        None => (
            Some(load::run_with(scenario, payers, progress, live).await),
            None,
        ),
        Some(plan) => (
            None,
            Some(load::stress::run_with(scenario, plan, payers, progress, live).await),
        ),
    };
    // What became of the transfers the driver stopped waiting for; waiting for the switch to
    // settle them is also most of its drain.
    if options.crosscheck && scenario.flow != load::Flow::Ping {
        if let Some(r) = &mut report {
            match crate::reconcile::reconcile(&target.ledger, r).await {
                Ok(done) => r.reconciliation = done,
                Err(e) => r
                    .notes
                    .push(format!("reconciliation failed to ask the switch: {e}")),
            }
        }
    }
    if let Some(mut w) = watch {
        w.drain(crate::watch::DRAIN_WAIT).await;
        let evidence = w.finish(before).await;
        if let Some(r) = &mut report {
            r.switch = Some(evidence);
        } else if let Some(s) = &mut stress {
            if let Some(last) = s.stage_reports.last_mut() {
                last.switch = Some(evidence);
            }
        }
    }
    let (committed, uncertain) = match (&report, &stress) {
        (Some(r), _) => (r.committed, r.uncertain()),
        (None, Some(s)) => (s.committed(), s.uncertain()),
        (None, None) => (0, 0),
    };
    if options.crosscheck && scenario.flow != load::Flow::Ping {
        let note = if replica {
            Err("one replica of several: the cross-check belongs to the merged report (perfbed report merge --testbed FILE or --hub-admin URL)".to_owned())
        } else {
            crosscheck(&target.ledger, &prefix, committed, uncertain).await
        };
        match (note, &mut report, &mut stress) {
            (Ok(c), Some(r), _) => r.crosscheck = Some(c),
            (Ok(c), None, Some(s)) => s.crosscheck = Some(c),
            (Err(n), Some(r), _) => r.notes.push(n),
            (Err(n), None, Some(s)) => {
                if let Some(first) = s.stage_reports.first_mut() {
                    first.notes.push(n);
                }
            }
            _ => {}
        }
    }
    let cpu_s = process_cpu_s() - cpu_before;
    let environment = load::report::Environment {
        api: api.as_str().into(),
        security: options.security.clone().unwrap_or_else(|| "unknown".into()),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        cpu_s,
        cpu_ms_per_transfer: (committed > 0).then(|| cpu_s * 1000.0 / committed as f64),
    };
    if let Some(r) = &mut report {
        r.environment = Some(environment);
    } else if let Some(s) = &mut stress {
        for r in &mut s.stage_reports {
            r.environment = Some(environment.clone());
        }
    }
    let dir = crate::results::result_dir(out, &name)?;
    if let Some(r) = &report {
        crate::results::write_report(&dir, r)?;
    }
    if let Some(s) = &stress {
        crate::results::write_stress(&dir, s)?;
    }
    Ok(Outcome {
        dir,
        report,
        stress,
    })
}
