//! Suites: the seed's progression (baseline 100 → scale 500 → target 1000 → endurance 2 h →
//! stress to failure), or a suite file's stages, run in order with gates — a stage runs only if
//! the one before passed — position resets between stages, one suite report (suite.md,
//! suite.json) and resume after an interruption or a failed gate. What `perfbed suite` does.

use crate::{EnvOptions, LocalEnv, Security};
use anyhow::{anyhow, bail, Context, Result};
use fspiop::jws::{KeyStore, VerifyMode};
use load::Scenario;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The seed's suite, built in (the scenarios/ files of the same names).
const SEED_SUITE: [(&str, &str); 5] = [
    (
        "baseline-100tps",
        include_str!("../../../scenarios/baseline-100tps.toml"),
    ),
    (
        "scale-500tps",
        include_str!("../../../scenarios/scale-500tps.toml"),
    ),
    (
        "target-1000tps",
        include_str!("../../../scenarios/target-1000tps.toml"),
    ),
    (
        "endurance-1000tps-2h",
        include_str!("../../../scenarios/endurance-1000tps-2h.toml"),
    ),
    (
        "stress-to-failure",
        include_str!("../../../scenarios/stress-to-failure.toml"),
    ),
];

/// What a suite runs, against what, and where its results go.
#[derive(Debug)]
pub struct SuiteOptions {
    /// Suite file (TOML: `name`, `reset_positions`, `[[stage]] scenario = "x.toml"` relative to
    /// it); `None`: the seed's suite, built in.
    pub suite: Option<PathBuf>,
    /// Run against the local testbed (hub emulator + 8 simulators in this process).
    pub local: bool,
    /// Security of the local testbed.
    pub security: Security,
    /// Run against a hub instead (a real Mojaloop or `perfbed hub`).
    pub hub: Option<HubOptions>,
    /// Scale of every duration (stages, warm-up, cool-down, stress steps); positive.
    pub time_scale: f64,
    /// Scale of every rate (stages and stress ramp); positive.
    pub rate_scale: f64,
    /// Testbed file of the switch: every stage's report then carries switch-side evidence.
    pub testbed: Option<PathBuf>,
    /// Reset positions between stages (also when the suite file asks for it).
    pub reset_positions: bool,
    /// Where a new suite's folder goes: `out/suite-<name>-<timestamp>/`.
    pub out: PathBuf,
    /// Resume the suite in this folder instead: every stage that has not passed runs again.
    pub resume: Option<PathBuf>,
    /// No progress lines.
    pub quiet: bool,
    /// FSPIOP or ISO 20022 for every stage (wins over the scenarios' `api`); `None`: the
    /// scenarios' own, which must agree.
    pub api: Option<fspiop::iso::Api>,
    /// Write JUnit XML here: one test case per stage (and per seed criterion beyond "all
    /// stages passed").
    pub junit: Option<PathBuf>,
}

/// The load goes through a hub: the payers are simulators in this process, the payees the
/// user's simulators, onboarded and seeded.
#[derive(Debug)]
pub struct HubOptions {
    /// The hub's FSPIOP base URL.
    pub url: String,
    /// Where the payers listen for callbacks.
    pub listen: SocketAddr,
    /// Admin API for position resets between stages.
    pub admin: Option<String>,
    /// The payers' JWS keys and mode.
    pub jws: Jws,
    /// Outbound TLS to the hub.
    pub client_tls: Option<Arc<rustls::ClientConfig>>,
    /// Inbound TLS of the payers' callback listener.
    pub server_tls: Option<Arc<rustls::ServerConfig>>,
    /// The payees' ILP secret (for `flow = "transfer"` stages, where the driver builds packets).
    pub ilp_secret: String,
}

/// JWS of simulators, loaded: what [`sim::SimConfig`] and [`sim::Sim::new`] take.
#[derive(Debug, Default)]
pub struct Jws {
    /// Sign outgoing requests and verify incoming ones ([`sim::SimConfig::jws`]).
    pub on: bool,
    /// How incoming signatures are verified.
    pub verify_mode: VerifyMode,
    /// Private keys of the FSPs served, public keys of peers.
    pub keys: KeyStore,
}

impl Jws {
    /// Sets JWS in `config`; the keys for [`sim::Sim::new`].
    pub fn apply(self, config: &mut sim::SimConfig) -> KeyStore {
        config.jws = self.on;
        config.verify_mode = self.verify_mode;
        self.keys
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    name: String,
    #[serde(default)]
    reset_positions: bool,
    #[serde(rename = "stage")]
    stages: Vec<StageEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageEntry {
    scenario: PathBuf,
}

/// What is known of a suite, saved after every stage (suite.json).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SuiteState {
    name: String,
    started: String,
    time_scale: f64,
    rate_scale: f64,
    reset_positions: bool,
    stages: Vec<StageState>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Status {
    Pending,
    Running,
    Passed,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StageState {
    name: String,
    /// The scenario as run (saved in the suite folder: scenarios/NN-name.toml).
    scenario: String,
    status: Status,
    /// Result folder, relative to the suite folder.
    dir: Option<String>,
    target_tps: Option<f64>,
    achieved_tps: Option<f64>,
    success_rate: Option<f64>,
    p95_ms: Option<f64>,
    p99_ms: Option<f64>,
    accounting_adds_up: Option<bool>,
    breaking_point_tps: Option<f64>,
    broke_at_tps: Option<f64>,
    recovered: Option<bool>,
    note: Option<String>,
}

fn scale(mut s: Scenario, t: f64, r: f64) -> Scenario {
    let d = |x: Duration| Duration::from_secs_f64((x.as_secs_f64() * t).max(0.001));
    for st in &mut s.stages {
        st.duration = d(st.duration);
        st.rate *= r;
    }
    s.warmup = Duration::from_secs_f64(s.warmup.as_secs_f64() * t);
    s.cooldown = Duration::from_secs_f64(s.cooldown.as_secs_f64() * t);
    if let Some(p) = &mut s.stress {
        p.start_rate *= r;
        p.step *= r;
        p.max_rate *= r;
        // A stress step needs a window to judge: at least 2 s, whatever the scale.
        let two = Duration::from_secs(2);
        p.step_duration = d(p.step_duration).max(two);
        p.recovery_rate = p.recovery_rate.map(|x| x * r);
        p.recovery_duration = p.recovery_duration.map(|x| d(x).max(two));
    }
    s
}

fn save(dir: &Path, state: &SuiteState) -> Result<()> {
    crate::results::write_atomic(&dir.join("suite.json"), &serde_json::to_vec_pretty(state)?)?;
    std::fs::write(dir.join("suite.md"), markdown(state))?;
    Ok(())
}

/// A new suite folder with its scenarios (scaled) saved, or the one being resumed.
fn prepare(opts: &SuiteOptions) -> Result<(PathBuf, SuiteState)> {
    if let Some(dir) = &opts.resume {
        let text = std::fs::read(dir.join("suite.json"))
            .with_context(|| format!("{} is not a suite folder (no suite.json)", dir.display()))?;
        let state: SuiteState = serde_json::from_slice(&text)
            .with_context(|| format!("{}/suite.json is not a perfbed suite", dir.display()))?;
        return Ok((dir.clone(), state));
    }
    let (name, reset, scenarios): (String, bool, Vec<(String, String)>) = match &opts.suite {
        None => (
            "seed".into(),
            false,
            SEED_SUITE
                .iter()
                .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
                .collect(),
        ),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let f: SuiteFile =
                toml::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            if f.stages.is_empty() {
                bail!("{}: no [[stage]]", path.display());
            }
            let base = path.parent().unwrap_or(Path::new("."));
            let mut v = Vec::new();
            for st in &f.stages {
                let p = base.join(&st.scenario);
                let t = std::fs::read_to_string(&p)
                    .with_context(|| format!("cannot read stage scenario {}", p.display()))?;
                v.push((
                    st.scenario
                        .file_stem()
                        .map_or("stage".into(), |s| s.to_string_lossy().into_owned()),
                    t,
                ));
            }
            (f.name, f.reset_positions, v)
        }
    };
    let dir = opts
        .out
        .join(format!("suite-{name}-{}", crate::results::timestamp()));
    std::fs::create_dir_all(dir.join("scenarios"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let mut stages = Vec::new();
    for (i, (stage, text)) in scenarios.iter().enumerate() {
        let sc = Scenario::parse(text).map_err(|e| anyhow!("stage {stage}: {e}"))?;
        let scaled = scale(sc, opts.time_scale, opts.rate_scale);
        scaled
            .validate()
            .map_err(|e| anyhow!("stage {stage} after scaling: {e}"))?;
        let file = format!("scenarios/{:02}-{stage}.toml", i + 1);
        // The scaled scenario is what runs: keep the original text plus the scaling, so a
        // resumed suite runs exactly the same.
        std::fs::write(dir.join(&file), text)?;
        stages.push(StageState {
            name: stage.clone(),
            scenario: file,
            status: Status::Pending,
            dir: None,
            target_tps: None,
            achieved_tps: None,
            success_rate: None,
            p95_ms: None,
            p99_ms: None,
            accounting_adds_up: None,
            breaking_point_tps: None,
            broke_at_tps: None,
            recovered: None,
            note: None,
        });
    }
    let state = SuiteState {
        name,
        started: fspiop::types::DateTime::from_offset_date_time(time::OffsetDateTime::now_utc())
            .into_string(),
        time_scale: opts.time_scale,
        rate_scale: opts.rate_scale,
        reset_positions: reset || opts.reset_positions,
        stages,
    };
    save(&dir, &state)?;
    Ok((dir, state))
}

fn load_stage(dir: &Path, st: &StageState, state: &SuiteState) -> Result<Scenario> {
    let text = std::fs::read_to_string(dir.join(&st.scenario))
        .with_context(|| format!("cannot read {}", dir.join(&st.scenario).display()))?;
    let sc = Scenario::parse(&text).map_err(|e| anyhow!("{}: {e}", st.scenario))?;
    Ok(scale(sc, state.time_scale, state.rate_scale))
}

/// Where the load goes.
enum Load {
    Local(LocalEnv),
    Hub {
        running: sim::Running,
        admin: Option<ops::Admin>,
        ilp_secret: String,
        /// The headroom the FSPs had when the suite started: what resets restore.
        start: Option<ops::positions::Target>,
    },
}

impl Load {
    /// The hub emulator's counted operations, when it runs in this process.
    fn hub_operations(
        &self,
    ) -> Option<std::sync::Arc<dyn Fn() -> load::report::Counted + Send + Sync>> {
        match self {
            Load::Local(env) => Some(env.hub_operations()),
            Load::Hub { .. } => None,
        }
    }

    fn payers(&self) -> load::Payers {
        match self {
            Load::Local(env) => env.payers(),
            Load::Hub {
                running,
                ilp_secret,
                ..
            } => load::Payers::new(&[running.sim().clone()], ilp_secret),
        }
    }

    /// The security the stages run with, as reports state it.
    fn security(&self) -> String {
        match self {
            Load::Local(env) => env.security().describe().into(),
            Load::Hub { running, .. } => {
                if running.sim().config().jws {
                    "JWS (hub's TLS as configured)".into()
                } else {
                    "no JWS (hub's TLS as configured)".into()
                }
            }
        }
    }

    /// Where the cross-check asks.
    fn ledger(&self, testbed: Option<&ops::Testbed>) -> crate::Ledger {
        match self {
            Load::Local(env) => crate::Ledger::Emulator(env.admin.clone()),
            Load::Hub { admin, .. } => crate::Ledger::choose(testbed, admin.clone()),
        }
    }

    async fn reset(&self, fsps: &[String], currency: &str) -> Result<usize> {
        let (admin, target) = match self {
            Load::Local(env) => (
                &env.admin,
                ops::positions::Target {
                    ndc: ops::Money::units(crate::env::LOCAL_NDC as i64),
                    funds: ops::Money::units(crate::env::LOCAL_FUNDS as i64),
                },
            ),
            Load::Hub {
                admin: Some(a),
                start: Some(t),
                ..
            } => (a, *t),
            Load::Hub { .. } => bail!("--reset-positions needs --admin"),
        };
        let changes = ops::positions::reset_api(
            admin,
            fsps,
            currency,
            target,
            false,
            Duration::from_millis(500),
        )
        .await?;
        Ok(changes.len())
    }

    async fn stop(self) {
        match self {
            Load::Local(env) => {
                env.stop().await;
            }
            Load::Hub { running, .. } => running.shutdown(Duration::from_secs(5)).await,
        }
    }
}

/// Runs a suite (or resumes one): prints the suite report and where it is; `Ok(true)` when every
/// stage passed and the seed's success criteria are met.
pub async fn run(mut opts: SuiteOptions) -> Result<bool> {
    if !opts.local && opts.hub.is_none() && opts.resume.is_none() {
        bail!(
            "where does the load go? --local (the emulator testbed in this process) or --hub URL"
        );
    }
    if !(opts.time_scale > 0.0 && opts.rate_scale > 0.0) {
        bail!("--time-scale and --rate-scale must be positive");
    }
    let (dir, mut state) = prepare(&opts)?;
    let scenarios: Vec<Scenario> = state
        .stages
        .iter()
        .map(|st| load_stage(&dir, st, &state))
        .collect::<Result<_>>()?;
    if !opts.quiet {
        eprintln!(
            "perfbed suite '{}' in {} ({} stages, time ×{}, rate ×{})",
            state.name,
            dir.display(),
            state.stages.len(),
            state.time_scale,
            state.rate_scale
        );
    }
    let api = match opts.api {
        Some(a) => a,
        None => {
            let mut apis: Vec<fspiop::iso::Api> = scenarios
                .iter()
                .map(|s| s.api.unwrap_or_default())
                .collect();
            apis.dedup();
            if apis.len() > 1 {
                anyhow::bail!(
                    "the suite's scenarios mix APIs (fspiop and iso20022): one testbed speaks \
                     one; give --api"
                );
            }
            apis.first().copied().unwrap_or_default()
        }
    };
    let target = match opts.hub.take() {
        Some(hub) => {
            let mut payers: Vec<String> = scenarios
                .iter()
                .flat_map(|s| s.corridors.iter().map(|c| c.payer.clone()))
                .collect();
            payers.sort();
            payers.dedup();
            let mut config = sim::SimConfig::new(&payers, &hub.url);
            config.ilp_secret = hub.ilp_secret.clone();
            config.api = api;
            let keys = hub.jws.apply(&mut config);
            let s = sim::Sim::new(config, keys, hub.client_tls)?;
            let admin = hub.admin.as_deref().map(ops::Admin::plain);
            // Resets give back the headroom the FSPs have now (the smallest of them).
            let start = match &admin {
                Some(a) if state.reset_positions => {
                    let mut fsps: Vec<String> = scenarios.iter().flat_map(Scenario::fsps).collect();
                    fsps.sort();
                    fsps.dedup();
                    let currency = scenarios
                        .first()
                        .map_or("XXX".into(), |s| s.currency.clone());
                    let now = ops::positions::show_api(a, &fsps, &currency).await?;
                    Some(ops::positions::Target {
                        ndc: now
                            .iter()
                            .filter_map(|p| p.ndc_headroom())
                            .min()
                            .unwrap_or_default(),
                        funds: now.iter().map(|p| p.liquidity()).min().unwrap_or_default(),
                    })
                }
                _ => None,
            };
            Load::Hub {
                start,
                running: sim::start(s, hub.listen, hub.server_tls).await?,
                admin,
                ilp_secret: hub.ilp_secret,
            }
        }
        None => Load::Local(
            LocalEnv::start(
                &EnvOptions {
                    security: opts.security,
                    hub_latency: None,
                    payee_latency: None,
                    quiet: opts.quiet,
                    api,
                },
                &scenarios.iter().collect::<Vec<_>>(),
            )
            .await?,
        ),
    };
    let result = stages(&opts, &dir, &mut state, &scenarios, &target).await;
    target.stop().await;
    result?;
    let md = markdown(&state);
    println!("{md}");
    println!("suite report: {}", dir.join("suite.md").display());
    let line = summary(&state);
    if let Some(path) = &opts.junit {
        crate::junit::write(
            path,
            &crate::junit::xml(
                &format!("perfbed.suite.{}", state.name),
                &junit_cases(&state),
                &line,
            ),
        )?;
    }
    println!("{line}");
    Ok(verdict(&state).0)
}

/// One line for a CI log.
fn summary(s: &SuiteState) -> String {
    let (ok, _) = verdict(s);
    let passed = s
        .stages
        .iter()
        .filter(|st| st.status == Status::Passed)
        .count();
    let mut line = format!(
        "perfbed: suite {} {} — {passed}/{} stages passed",
        s.name,
        if ok { "PASSED" } else { "NOT PASSED" },
        s.stages.len()
    );
    for st in s.stages.iter().filter(|st| st.status != Status::Passed) {
        line.push_str(&format!(
            "; {} {}{}",
            st.name,
            format!("{:?}", st.status).to_lowercase(),
            st.note
                .as_ref()
                .map_or(String::new(), |n| format!(" ({n})"))
        ));
    }
    line
}

/// One JUnit test case per stage, then each seed criterion beyond "every stage passed".
fn junit_cases(s: &SuiteState) -> Vec<crate::junit::Case> {
    use crate::junit::Case;
    let mut cases: Vec<Case> = s
        .stages
        .iter()
        .enumerate()
        .map(|(i, st)| {
            let name = format!("stage {:02} {}", i + 1, st.name);
            let note = st.note.clone().unwrap_or_default();
            match st.status {
                Status::Passed => Case::check(name, true, ""),
                Status::Failed => Case::check(
                    name,
                    false,
                    if note.is_empty() {
                        "failed".to_owned()
                    } else {
                        note
                    },
                ),
                Status::Skipped => Case::skip(name, note),
                Status::Pending => Case::skip(name, "not run"),
                Status::Running => Case::skip(name, "interrupted"),
            }
        })
        .collect();
    for (criterion, met, evidence) in verdict(s).1.into_iter().skip(1) {
        cases.push(Case::check(
            format!("criterion: {criterion}"),
            met,
            evidence,
        ));
    }
    cases
}

/// Each stage of the suite in `dir` (its suite.json) by name, with the folder of its results
/// (report.json, or stress.json for a stress stage); `None` for a stage that has not run.
pub fn stage_results(dir: &Path) -> Result<Vec<(String, Option<PathBuf>)>> {
    let text = std::fs::read(dir.join("suite.json"))
        .with_context(|| format!("{} is not a suite folder (no suite.json)", dir.display()))?;
    let state: SuiteState = serde_json::from_slice(&text)
        .with_context(|| format!("{}/suite.json is not a perfbed suite", dir.display()))?;
    Ok(state
        .stages
        .into_iter()
        .map(|st| {
            let folder = st.dir.map(|d| {
                let d = d.strip_suffix("/stress.md").unwrap_or(&d).to_owned();
                dir.join(d)
            });
            (st.name, folder)
        })
        .collect())
}

async fn stages(
    opts: &SuiteOptions,
    dir: &Path,
    state: &mut SuiteState,
    scenarios: &[Scenario],
    target: &Load,
) -> Result<()> {
    let progress: Option<Arc<dyn load::Progress>> = if opts.quiet {
        None
    } else {
        Some(Arc::new(load::Stderr))
    };
    let testbed = match &opts.testbed {
        Some(p) => Some(ops::Testbed::load(p).map_err(|e| anyhow!(e))?),
        None => None,
    };
    let mut gate_closed = false;
    let mut ran_before = false;
    for (i, sc) in scenarios.iter().enumerate() {
        if state.stages[i].status == Status::Passed {
            continue;
        }
        if gate_closed {
            state.stages[i].status = Status::Skipped;
            state.stages[i].note = Some("the stage before did not pass".into());
            save(dir, state)?;
            continue;
        }
        if state.reset_positions && (ran_before || i > 0) {
            let fsps: Vec<String> = sc.fsps();
            let n = target
                .reset(&fsps, &sc.currency)
                .await
                .context("positions reset")?;
            if !opts.quiet {
                eprintln!(
                    "positions reset before {}: {n} changes",
                    state.stages[i].name
                );
            }
        }
        ran_before = true;
        state.stages[i].status = Status::Running;
        save(dir, state)?;
        if !opts.quiet {
            eprintln!(
                "stage {}/{}: {} ({:.0} s)",
                i + 1,
                scenarios.len(),
                state.stages[i].name,
                sc.stress.as_ref().map_or(sc.total().as_secs_f64(), |p| {
                    p.step_duration.as_secs_f64() * (p.max_rate / p.step.max(1e-9)).ceil()
                })
            );
        }
        let stage_dir = dir.join(format!("{:02}", i + 1));
        let st = &mut state.stages[i];
        let run = crate::Target {
            payers: target.payers(),
            ledger: target.ledger(testbed.as_ref()),
            testbed: testbed.clone(),
        };
        let options = crate::Options {
            progress: progress.clone(),
            live: None,
            crosscheck: true,
            name: None,
            security: Some(target.security()),
            hub_operations: target.hub_operations(),
            hub_metrics: None,
            metrics_sources: Default::default(),
            start_at: None,
        };
        let outcome = crate::execute(sc, &run, &stage_dir, &options).await?;
        st.accounting_adds_up = Some(outcome.adds_up());
        st.status = if outcome.passed() {
            Status::Passed
        } else {
            Status::Failed
        };
        let mut notes: Vec<String> = Vec::new();
        if !outcome.crosscheck_ok() {
            notes.push(outcome.crosscheck_line());
        }
        if let Some(report) = &outcome.report {
            st.target_tps = Some(report.target_tps);
            st.achieved_tps = Some(report.achieved_tps);
            st.success_rate = Some(report.success_rate);
            st.p95_ms = Some(report.latency_ms.e2e.p95);
            st.p99_ms = Some(report.latency_ms.e2e.p99);
            notes.extend(report.evidence_failures());
            notes.extend(
                report
                    .thresholds
                    .iter()
                    .filter_map(load::report::Threshold::failure),
            );
            if let Some(k) = report.switch.as_ref().and_then(|s| s.kafka.as_ref()) {
                notes.push(format!("kafka gate {}", k.verdict()));
            }
        }
        if let (Some(stress), Some(plan)) = (&outcome.stress, &sc.stress) {
            st.breaking_point_tps = stress.breaking_point_tps;
            st.broke_at_tps = stress.broke_at_tps;
            st.recovered = stress.recovered;
            notes.push(match stress.broke_at_tps {
                Some(r) => format!(
                    "broke at {r:.0} TPS by {}; recovered: {}",
                    stress.broke_by.join(", "),
                    stress
                        .recovered
                        .map_or("not checked", |r| if r { "yes" } else { "NO" })
                ),
                None => format!("reached {:.0} TPS unbroken", plan.max_rate),
            });
        }
        st.note = (!notes.is_empty()).then(|| notes.join("; "));
        let folder = outcome
            .dir
            .strip_prefix(dir)
            .unwrap_or(&outcome.dir)
            .to_string_lossy()
            .into_owned();
        st.dir = Some(if outcome.stress.is_some() {
            format!("{folder}/stress.md")
        } else {
            folder
        });
        if st.status != Status::Passed {
            gate_closed = true;
        }
        save(dir, state)?;
    }
    Ok(())
}

/// (everything passed, the seed's overall criteria as (criterion, met, evidence)).
fn verdict(s: &SuiteState) -> (bool, Vec<(String, bool, String)>) {
    let all = s.stages.iter().all(|st| st.status == Status::Passed);
    let mut c = vec![(
        "All stages completed and passed their thresholds".to_owned(),
        all,
        format!(
            "{}/{} passed",
            s.stages
                .iter()
                .filter(|st| st.status == Status::Passed)
                .count(),
            s.stages.len()
        ),
    )];
    if let Some(st) = s.stages.iter().find(|st| st.name.starts_with("scale")) {
        let ratio = match (st.achieved_tps, st.target_tps) {
            (Some(a), Some(t)) if t > 0.0 => a / t,
            _ => 0.0,
        };
        c.push((
            "Performance scales linearly (achieved ≥ 95 % of target at the scale stage)".into(),
            ratio >= 0.95,
            format!("{:.1} %", ratio * 100.0),
        ));
    }
    if let Some(st) = s.stages.iter().find(|st| st.name.starts_with("endurance")) {
        c.push((
            "Target rate sustained for the whole endurance stage".into(),
            st.status == Status::Passed,
            format!("{:?}", st.status).to_lowercase(),
        ));
    }
    if let Some(st) = s.stages.iter().find(|st| {
        st.breaking_point_tps.is_some() || st.broke_at_tps.is_some() || st.recovered.is_some()
    }) {
        c.push((
            "Breaking point identified (stress)".into(),
            st.broke_at_tps.is_some(),
            st.note.clone().unwrap_or_default(),
        ));
        c.push((
            "Clean recovery after stress".into(),
            st.recovered == Some(true),
            st.recovered.map_or("not checked".into(), |r| {
                if r { "recovered" } else { "did not recover" }.to_owned()
            }),
        ));
    }
    let met = c.iter().all(|x| x.1);
    (all && met, c)
}

fn markdown(s: &SuiteState) -> String {
    let f = |v: Option<f64>, d: usize| v.map_or("–".to_owned(), |v| format!("{v:.d$}"));
    let mut m = format!(
        "# perfbed suite — {} — {}\n\nStarted {}; durations ×{}, rates ×{}{}.\n\n",
        s.name,
        if verdict(s).0 { "PASSED" } else { "NOT PASSED" },
        s.started,
        s.time_scale,
        s.rate_scale,
        if s.reset_positions {
            "; positions reset between stages"
        } else {
            ""
        }
    );
    m.push_str("| # | Stage | status | target TPS | achieved TPS | success % | p95 ms | p99 ms | accounting | notes | report |\n|---:|---|---|---:|---:|---:|---:|---:|---|---|---|\n");
    for (i, st) in s.stages.iter().enumerate() {
        m.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            i + 1,
            st.name,
            format!("{:?}", st.status).to_lowercase(),
            f(st.target_tps, 1),
            f(st.achieved_tps, 1),
            f(st.success_rate, 2),
            f(st.p95_ms, 1),
            f(st.p99_ms, 1),
            st.accounting_adds_up
                .map_or("–", |a| if a { "adds up" } else { "DOES NOT ADD UP" }),
            st.note.clone().unwrap_or_default(),
            st.dir.clone().unwrap_or_default()
        ));
    }
    m.push_str("\n| Success criterion (seed) | met | evidence |\n|---|---|---|\n");
    for (name, ok, ev) in verdict(s).1 {
        m.push_str(&format!(
            "| {name} | {} | {ev} |\n",
            if ok { "yes" } else { "**no**" }
        ));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_suite_is_built_in_and_shrinks_to_valid_scenarios() {
        assert_eq!(SEED_SUITE.len(), 5);
        for (name, text) in SEED_SUITE {
            let s = Scenario::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let full = s.total();
            let small = scale(s, 0.01, 0.1);
            small
                .validate()
                .unwrap_or_else(|e| panic!("{name} scaled: {e}"));
            assert!(small.total() <= full, "{name}");
            if let Some(p) = &small.stress {
                assert!(p.step_duration >= Duration::from_secs(2), "{name}");
            }
        }
    }
}
