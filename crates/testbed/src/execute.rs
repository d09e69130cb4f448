//! One execution path for every command that offers load (`local`, `run`, `suite`): a scenario
//! runs its stages or its stress ramp, the switch is watched around it, the transfers the driver
//! stopped waiting for are reconciled with the switch's ledger, the switch's "after" side is
//! read once it drained, the driver's counts are cross-checked against the ledger, and the
//! results are written.

use anyhow::Result;
use load::report::{CrossCheck, NoCrossCheck, NoCrossCheckKind};
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
    /// The hub emulator's own counted operations, when it runs in this process (`perfbed
    /// local`): the report shows them beside the simulators'.
    pub hub_operations: Option<Arc<dyn Fn() -> load::report::Counted + Send + Sync>>,
    /// The hub emulator's `/metrics` text, when it runs in this process (`perfbed local`):
    /// its legs are the report's switch metrics when the testbed names no other source.
    pub hub_metrics: Option<Arc<dyn Fn() -> String + Send + Sync>>,
    /// Switch-metrics sources from the command line, added to the testbed file's (its
    /// Prometheus replaced when one is given here).
    pub metrics_sources: ops::testbed::SwitchMetricsSources,
    /// Start the load at this wall-clock time (`--start-at`): the replicas of a distributed
    /// run wait for one time, so they offer their shares together.
    pub start_at: Option<std::time::SystemTime>,
}

/// Waits until `at` (wall clock); a note when it had already passed by more than a second
/// (this driver came late and started at once: the merge measures by how much the replicas'
/// windows then overlap).
async fn wait_until(
    at: std::time::SystemTime,
    progress: Option<&Arc<dyn load::Progress>>,
) -> Option<String> {
    match at.duration_since(std::time::SystemTime::now()) {
        Ok(left) => {
            if let Some(p) = progress {
                p.tick(&format!(
                    "waiting {:.1} s for the start time (--start-at)",
                    left.as_secs_f64()
                ));
            }
            tokio::time::sleep(left).await;
            None
        }
        Err(e) if e.duration() > std::time::Duration::from_secs(1) => Some(format!(
            "this driver reached its start time (--start-at) {:.1} s after it had passed, and started at once",
            e.duration().as_secs_f64()
        )),
        Err(_) => None,
    }
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

    /// Why there was no cross-check, when there was none.
    pub fn no_crosscheck(&self) -> Option<&NoCrossCheck> {
        match (&self.report, &self.stress) {
            (Some(r), _) => r.no_crosscheck.as_ref(),
            (None, Some(s)) => s.no_crosscheck.as_ref(),
            (None, None) => None,
        }
    }

    /// The cross-check in one line: its summary, `not cross-checked: …`, or `CROSS-CHECK
    /// FAILED: …` when it could have run and did not.
    pub fn crosscheck_line(&self) -> String {
        load::report::crosscheck_line(self.crosscheck(), self.no_crosscheck())
    }

    /// Whether the cross-check agrees, or was rightly not run (off, nothing to ask, left to
    /// the merge).
    pub fn crosscheck_ok(&self) -> bool {
        self.crosscheck().is_none_or(|c| c.agrees)
            && self.no_crosscheck().is_none_or(|n| !n.fails())
    }

    /// The run passes: a plain run's [`Report::ok`] (accounting, cross-check, no lost
    /// iteration, something committed, every threshold met); a stress run recovered (or did
    /// not break), adds up and its cross-check holds.
    pub fn passed(&self) -> bool {
        match (&self.report, &self.stress) {
            (Some(r), _) => r.ok(),
            (None, Some(s)) => {
                s.recovered != Some(false)
                    && s.adds_up()
                    && self.crosscheck_ok()
                    && s.stage_reports.iter().all(|r| {
                        r.kafka_failure().is_none()
                            && r.simulators
                                .as_ref()
                                .and_then(load::report::Simulators::failure)
                                .is_none()
                    })
            }
            (None, None) => false,
        }
    }

    /// One line for a CI log.
    pub fn summary(&self) -> String {
        let check = self.crosscheck_line();
        match (&self.report, &self.stress) {
            (Some(r), _) => {
                let mut line = format!(
                    "perfbed: {} {} — {} arrivals, {} committed over the run; steady window {:.0}–{:.0} s: {:.1}/s achieved, success {:.2} %, p95 {}, p99 {}; accounting {}; {check}",
                    r.scenario,
                    r.verdict(),
                    r.arrivals,
                    r.committed,
                    r.method.window_s[0],
                    r.method.window_s[1],
                    r.achieved_tps,
                    r.success_rate,
                    ms_or_no_data(r.latency_ms.e2e.count, r.latency_ms.e2e.p95),
                    ms_or_no_data(r.latency_ms.e2e.count, r.latency_ms.e2e.p99),
                    if r.adds_up() { "adds up" } else { "FAILED" },
                );
                // The other reasons it did not pass (the accounting and the cross-check are
                // on the line already).
                let more: Vec<String> = r
                    .evidence_failures()
                    .into_iter()
                    .chain(
                        r.thresholds
                            .iter()
                            .filter_map(load::report::Threshold::failure),
                    )
                    .collect();
                if !more.is_empty() {
                    line.push_str(&format!("; {}", more.join("; ")));
                }
                line
            }
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

/// A latency for the summary line: `12.3 ms`, or `no data` when nothing was measured.
fn ms_or_no_data(count: u64, ms: f64) -> String {
    if count == 0 {
        "no data".into()
    } else {
        format!("{ms:.1} ms")
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

/// Pages of the emulator's id-by-id route (a page of 100,000 is ~6 MB of JSON).
const EMULATOR_PAGE: usize = 100_000;
/// Pages of the central_ledger query (keyset on the primary key).
const SQL_PAGE: usize = 10_000;

impl Ledger {
    /// Holds every transfer of the run tagged `prefix` against the drivers' `outcomes`, id by
    /// id, page by page; `Ok(None)` when this ledger cannot list transfers.
    pub async fn compare_ids(
        &self,
        prefix: &str,
        outcomes: Vec<load::ids::Outcomes>,
    ) -> Result<Option<load::ids::IdComparison>, String> {
        use ops::crosscheck::Settled;
        let mut check = load::ids::IdCheck::new(outcomes);
        let mut each = |id: &str, state: &str| {
            check.feed(id, state, Settled::of(state) == Some(Settled::Committed));
        };
        let listed = match self {
            Ledger::Emulator(admin) | Ledger::Probe(admin) => {
                ops::crosscheck::each_transfer_emulator(admin, prefix, EMULATOR_PAGE, &mut each)
                    .await
                    .map_err(|e| e.to_string())?
            }
            Ledger::Sql(db) => Some(
                ops::crosscheck::each_transfer_sql(db, prefix, SQL_PAGE, &mut each)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
            Ledger::None(_) => None,
        };
        Ok(listed.map(|_| check.finish()))
    }
}

/// The cross-check of a driver against `ledger` for the run tagged `prefix`, or why there is
/// none: [`NoCrossCheckKind::Unavailable`] when the ledger cannot be asked at all,
/// [`NoCrossCheckKind::Failed`] (the run fails) when it could be and asking failed — with the
/// reason and the fix. With the drivers' `outcomes` (one table per replica) it compares id by
/// id, and the counts stay as a summary; without (reports from before), by counts.
pub async fn crosscheck(
    ledger: &Ledger,
    prefix: &str,
    committed: u64,
    uncertain: u64,
    outcomes: Vec<load::ids::Outcomes>,
) -> Result<CrossCheck, NoCrossCheck> {
    let failed = |e: String| NoCrossCheck::new(NoCrossCheckKind::Failed, ledger.failed_because(&e));
    match ledger.states(prefix).await {
        Ok(Some((source, states))) => {
            let counts = CrossCheck::judge(&source, prefix, committed, uncertain, states);
            if outcomes.is_empty() {
                return Ok(counts);
            }
            match ledger.compare_ids(prefix, outcomes).await {
                Ok(Some(ids)) => Ok(counts.with_ids(ids)),
                Ok(None) => Err(failed(
                    "it answered by counts but cannot list its transfers id by id".into(),
                )),
                Err(e) => Err(failed(e)),
            }
        }
        Ok(None) => Err(NoCrossCheck::new(
            NoCrossCheckKind::Unavailable,
            match ledger {
                Ledger::None(why) => why.clone(),
                _ => "the hub is not the emulator and no ledger_db was given (give --testbed FILE with ledger_db to cross-check a real Mojaloop)".into(),
            },
        )),
        Err(e) => Err(failed(e)),
    }
}

impl Ledger {
    /// Why asking this ledger failed, and what to do about it.
    pub fn failed_because(&self, error: &str) -> String {
        let off = "or pass --no-crosscheck to run without it (every output then says \"not cross-checked\")";
        match self {
            Ledger::Emulator(a) => format!(
                "could not ask the hub emulator's ledger at {}: {error}. Fix: keep the hub running until the run has ended and check its admin URL, {off}",
                a.base()
            ),
            Ledger::Probe(a) => format!(
                "could not ask the hub's admin API at {}: {error}. Fix: start the hub (or correct --hub / the testbed's hub.admin), give --testbed FILE with ledger_db for a real Mojaloop, {off}",
                a.base()
            ),
            Ledger::Sql(_) => format!(
                "could not read the central_ledger database: {error}. Fix: check ledger_db (host, port, user, password, database) and that the database is reachable from here, {off}"
            ),
            Ledger::None(why) => format!("{why}: {error}"),
        }
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
    let watch = match &target.testbed {
        Some(t) => Some(SwitchWatch::start(t, scenario, &prefix).await),
        None => None,
    };
    let before = match &watch {
        Some(w) => w.positions().await,
        None => Ok(Vec::new()),
    };
    let progress = options.progress.clone();
    let live = options.live.clone();
    if let (Some(p), Some(w)) = (&options.progress, scenario.expiry_warning()) {
        p.tick(&format!("note: {w}"));
    }
    let late = match options.start_at {
        Some(at) => wait_until(at, options.progress.as_ref()).await,
        None => None,
    };
    let cpu_before = process_cpu_s();
    let sims_before = target.payers.operations();
    let sim_watch =
        crate::simulators::SimWatch::start(&target.payers, scenario, target.testbed.as_ref()).await;
    let hub_before = options.hub_operations.as_ref().map(|f| f());
    let mut stress_note = None;
    let metrics_watch = {
        use crate::switch_metrics::{Endpoint, MetricsWatch, Reader, Sources};
        let mut sources = target
            .testbed
            .as_ref()
            .map(|t| t.switch_metrics.clone())
            .unwrap_or_default();
        sources
            .endpoints
            .extend(options.metrics_sources.endpoints.iter().cloned());
        if let Some(p) = &options.metrics_sources.prometheus {
            sources.prometheus = Some(p.clone());
        }
        let mut sources = Sources::from_testbed(&sources);
        if !sources.any() {
            if let Some(f) = &options.hub_metrics {
                sources.endpoints.push(Endpoint {
                    service: "hub-emulator".into(),
                    url: "in-process /metrics".into(),
                    reader: Reader::InProcess(f.clone()),
                });
            }
        }
        let wanted = sources.any() || scenario.switch_metrics.required;
        if wanted && scenario.stress.is_some() {
            stress_note = Some("switch metrics: not collected for a stress ramp (its stages have no one steady-state window); run a scenario with stages for the switch's legs".to_owned());
        }
        (wanted && scenario.stress.is_none()).then(|| MetricsWatch::start(sources, scenario))
    };
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
    // The last transfer was made by now: it expires within transfer_expiry, and the ledger's
    // sweep records it after that (the switch's drain waits at most that long).
    let settled_by = std::time::Instant::now()
        + (scenario.transfer_expiry + crate::reconcile::SWEEP_MARGIN).min(crate::watch::DRAIN_WAIT);
    // What became of the transfers the driver stopped waiting for; waiting for the switch to
    // settle them is also most of its drain.
    if options.crosscheck && scenario.flow != load::Flow::Ping {
        if let Some(r) = &mut report {
            match crate::reconcile::reconcile(&target.ledger, r).await {
                // The uncertain transfers it resolved are in `r.outcomes` now.
                Ok(done) => r.reconciliation = done,
                Err(e) => r
                    .notes
                    .push(format!("reconciliation failed to ask the switch: {e}")),
            }
        }
    }
    if let Some(mut w) = watch {
        w.drain(settled_by).await;
        let evidence = w.finish(before).await;
        if let Some(r) = &mut report {
            r.switch = Some(evidence);
        } else if let Some(s) = &mut stress {
            if let Some(last) = s.stage_reports.last_mut() {
                last.switch = Some(evidence);
            }
        }
    }
    if let (Some(note), Some(s)) = (stress_note, &mut stress) {
        s.notes.push(note);
    }
    if let Some(note) = late {
        if let Some(r) = &mut report {
            r.notes.push(note);
        } else if let Some(s) = &mut stress {
            s.notes.push(note);
        }
    }
    // What the simulators refused or failed to deliver, read after the switch drained (a hub
    // confirmation refused for its signature fails the run: see `Report::evidence_failures`).
    let simulators = sim_watch.finish(&target.payers).await;
    if let Some(r) = &mut report {
        r.simulators = Some(simulators);
    } else if let Some(s) = &mut stress {
        if let Some(last) = s.stage_reports.last_mut() {
            last.simulators = Some(simulators);
        }
    }
    // The Kafka gate, when the scenario asks for it, is judged on what the switch showed: in
    // a stress run, on the last stage (the one the evidence belongs to).
    if let Some(r) = &mut report {
        r.settle_passed();
    } else if let Some(s) = &mut stress {
        let last = s.stage_reports.len().saturating_sub(1);
        for (k, r) in s.stage_reports.iter_mut().enumerate() {
            r.kafka_gate = scenario.thresholds.kafka_gate && k == last;
            r.settle_passed();
        }
    }
    let (committed, uncertain) = match (&report, &stress) {
        (Some(r), _) => (r.committed, r.uncertain()),
        (None, Some(s)) => (s.committed(), s.uncertain()),
        (None, None) => (0, 0),
    };
    let outcomes: Vec<load::ids::Outcomes> = match (&report, &stress) {
        (Some(r), _) => r.outcomes.iter().cloned().collect(),
        (None, Some(s)) => s.outcomes.iter().cloned().collect(),
        (None, None) => Vec::new(),
    };
    {
        let checked = if !options.crosscheck {
            Err(NoCrossCheck::off())
        } else if scenario.flow == load::Flow::Ping {
            Err(NoCrossCheck::new(
                NoCrossCheckKind::Unavailable,
                "the ping flow makes no transfers",
            ))
        } else if replica {
            Err(NoCrossCheck::new(
                NoCrossCheckKind::Deferred,
                "one replica of several: the cross-check belongs to the merged report (perfbed report merge --testbed FILE, --ledger-db URL or --hub-admin URL)",
            ))
        } else {
            crosscheck(&target.ledger, &prefix, committed, uncertain, outcomes).await
        };
        match (checked, &mut report, &mut stress) {
            (Ok(c), Some(r), _) => r.crosscheck = Some(c),
            (Ok(c), None, Some(s)) => s.crosscheck = Some(c),
            (Err(n), Some(r), _) => r.no_crosscheck = Some(n),
            (Err(n), None, Some(s)) => s.no_crosscheck = Some(n),
            _ => {}
        }
    }
    // Counted over the run (its reconciliation and cross-check send nothing signed).
    let operations = load::report::Operations::new(
        target.payers.operations().since(&sims_before),
        options
            .hub_operations
            .as_ref()
            .zip(hub_before)
            .map(|(f, before)| f().since(&before)),
        committed,
    );
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
        r.operations = Some(operations);
    } else if let Some(s) = &mut stress {
        for r in &mut s.stage_reports {
            r.environment = Some(environment.clone());
        }
        s.operations = Some(operations);
    }
    let dir = crate::results::result_dir(out, &name)?;
    if let (Some(w), Some(r)) = (metrics_watch, &mut report) {
        let m = w.finish(r, Some(&dir.join("switch-metrics"))).await;
        r.switch_metrics = Some(m);
        r.settle_passed();
    }
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
