//! `perfbed local`: the whole testbed in one process — hub emulator, one perffsp simulator per
//! FSP, onboarding and MSISDN registration through the real admin APIs, the scenario, the
//! report, the cross-check against the hub's ledger — then everything stops. The work is in
//! the `testbed` crate; this is its command line.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use load::{Flow, Scenario};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum Security {
    /// mTLS on every connection and JWS RS256 on every request with a body, keys made for the run.
    Full,
    /// Plain HTTP, no signatures.
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum FlowArg {
    /// Lookup → quote → transfer.
    P2p,
    /// Quote → transfer.
    QuoteTransfer,
    /// Transfer only.
    Transfer,
}

/// Run the whole testbed locally: hub emulator + 8 simulators + load + report.
///
/// Without a scenario file: a short smoke run (50 transfers/s for 20 s, P2P, seed corridors
/// 40 % 1→5, 25 % 2→6, 20 % 3→7, 15 % 4→8, seed thresholds). Flags override the file.
/// Results: OUT/<scenario>-<timestamp>/report.json, report.md and report.html (stress.* for a
/// scenario with [stress]); the last line printed is a one-line summary; the exit code is 1 when
/// a threshold fails.
///
/// Examples:
///   perfbed local
///   perfbed local --rate 200 --duration 60s --flow transfer
///   perfbed local scenarios/baseline-100tps.toml --security none
#[derive(Debug, Args)]
pub(crate) struct LocalArgs {
    /// Scenario file (TOML); default: the built-in smoke run.
    scenario: Option<PathBuf>,
    /// Constant arrival rate per second (replaces the file's stages). The file's warm-up and
    /// cool-down stay when they fit the run; otherwise the defaults (a tenth of the run, at most
    /// 5 s each) replace them, and a note says so.
    #[arg(long)]
    rate: Option<f64>,
    /// Run length, e.g. 30s, 5m (with --rate, or alone to stretch a constant scenario).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Flow.
    #[arg(long, value_enum)]
    flow: Option<FlowArg>,
    /// Security of every connection.
    #[arg(long, value_enum, default_value = "full")]
    security: Security,
    /// API spoken: `fspiop`, or `iso20022` (ISO 20022 bodies and media types, version 2.0,
    /// ULID ids, ILP v4; what a switch runs with API_TYPE=iso20022).
    /// The hub emulator and every simulator speak it. Wins over the scenario's `api`.
    #[arg(long, value_enum, env = "PERFBED_API")]
    api: Option<crate::api_arg::ApiArg>,
    /// Where results go.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// No progress lines.
    #[arg(long, short)]
    quiet: bool,
    /// Serve Prometheus metrics of the run at ADDR/metrics while it runs.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Emulate a slower switch: latency added at every hub stage (5ms, uniform:2ms:20ms,
    /// lognormal:10ms:0.5).
    #[arg(long, value_name = "SPEC")]
    hub_latency: Option<hub::Latency>,
    /// Run id (1–64 of [A-Za-z0-9._-]); every transfer id starts with its 8-hex tag, which
    /// is how the cross-check finds this run's transfers in the ledger. Default: random.
    #[arg(long, env = "PERFBED_RUN_ID")]
    run_id: Option<String>,
    /// Do not cross-check the driver's counts against the hub's ledger (a disagreement
    /// otherwise fails the run).
    #[arg(long)]
    no_crosscheck: bool,
    /// Emulate slower DFSPs: latency the payee simulators add before answering lookups,
    /// quotes and transfers (same forms as --hub-latency). The report's "Where the time goes"
    /// puts it in the simulator column, --hub-latency in the switch columns.
    #[arg(long, value_name = "SPEC")]
    payee_latency: Option<sim::Latency>,
    /// Also write JUnit XML here, for CI: one test case per threshold, one for the accounting
    /// and one for the cross-check (a stress run: the recovery instead of thresholds).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

/// The scenario to run, and what the flags changed in it that the user should know (the
/// file's warm-up and cool-down replaced, say).
fn scenario_from(args: &LocalArgs) -> Result<(Scenario, Vec<String>)> {
    let mut notes = Vec::new();
    let mut s = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Scenario::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => Scenario::constant("smoke", Flow::P2p, 50.0, Duration::from_secs(20)),
    };
    if let Some(f) = args.flow {
        s.flow = match f {
            FlowArg::P2p => Flow::P2p,
            FlowArg::QuoteTransfer => Flow::QuoteTransfer,
            FlowArg::Transfer => Flow::Transfer,
        };
    }
    if args.rate.is_some() || args.duration.is_some() {
        let rate = args.rate.unwrap_or_else(|| s.peak_rate());
        let duration = args.duration.unwrap_or_else(|| s.total());
        let base = Scenario::constant(&s.name, s.flow, rate, duration);
        if let Some(path) = &args.scenario {
            // The file's trims stay when they fit the new length; otherwise the default trims
            // replace them, and the user is told.
            if s.warmup + s.cooldown < duration {
                notes.push(format!(
                    "--rate/--duration replace the stages of {}; its warm-up {:?} and cool-down {:?} are kept",
                    path.display(),
                    s.warmup,
                    s.cooldown
                ));
            } else {
                notes.push(format!(
                    "--rate/--duration replace the stages of {}; its warm-up {:?} and cool-down {:?} do not fit a {duration:?} run, so the headline window trims {:?} and {:?} instead",
                    path.display(),
                    s.warmup,
                    s.cooldown,
                    base.warmup,
                    base.cooldown
                ));
                s.warmup = base.warmup;
                s.cooldown = base.cooldown;
            }
            s.description = format!("{} (the file's stages replaced)", base.description);
        } else {
            s.warmup = base.warmup;
            s.cooldown = base.cooldown;
            s.description = base.description;
        }
        s.stages = base.stages;
    }
    s.api = Some(crate::api_arg::effective(args.api, s.api));
    s.validate().map_err(|e| anyhow::anyhow!("scenario: {e}"))?;
    Ok((s, notes))
}

impl From<Security> for testbed::Security {
    fn from(s: Security) -> testbed::Security {
        match s {
            Security::Full => testbed::Security::Full,
            Security::None => testbed::Security::None,
        }
    }
}

pub(crate) fn run(args: LocalArgs) -> Result<bool> {
    crate::init_logging("warn");
    let (scenario, notes) = scenario_from(&args)?;
    // Not progress: said even with --quiet.
    for n in notes {
        eprintln!("note: {n}");
    }
    let run_id = crate::run_cmd::run_id(args.run_id.as_deref())?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(local(args, scenario, run_id))
}

async fn local(args: LocalArgs, scenario: Scenario, run_id: load::RunId) -> Result<bool> {
    let full = args.security == Security::Full;
    let api = scenario.api.unwrap_or_default();
    if !args.quiet {
        let prefix = match api {
            fspiop::iso::Api::Fspiop => run_id.prefix(),
            fspiop::iso::Api::Iso20022 => fspiop::iso::ulid_prefix(run_id.tag),
        };
        eprintln!(
            "perfbed local: {} — {} ({}), API {api}, security {}, run {} (transfer ids {}…)",
            scenario.name,
            scenario.description,
            scenario.flow.as_str(),
            if full {
                "full (mTLS + JWS RS256)"
            } else {
                "none"
            },
            run_id.id,
            prefix
        );
    }
    let env = testbed::LocalEnv::start(
        &testbed::EnvOptions {
            security: args.security.into(),
            hub_latency: args.hub_latency.clone(),
            payee_latency: args.payee_latency.clone(),
            quiet: args.quiet,
            api,
        },
        &[&scenario],
    )
    .await?;
    if !args.quiet {
        eprintln!("running {:.0} s …", scenario.total().as_secs_f64());
    }
    let live = Arc::new(load::live::LiveMetrics::default());
    let _metrics = match args.metrics_listen {
        Some(addr) => Some(testbed::metrics::serve_metrics(addr, live.clone()).await?),
        None => None,
    };
    let target = testbed::Target {
        payers: env.payers().run_id(run_id),
        ledger: testbed::Ledger::Emulator(env.admin.clone()),
        testbed: None,
    };
    let options = testbed::Options {
        progress: (!args.quiet).then(|| Arc::new(load::Stderr) as Arc<dyn load::Progress>),
        live: Some(live),
        crosscheck: !args.no_crosscheck,
        name: None,
        security: Some(testbed::Security::from(args.security).describe().into()),
        hub_operations: Some(env.hub_operations()),
        hub_metrics: Some(env.hub_metrics()),
        metrics_sources: Default::default(),
        start_at: None,
    };
    let outcome = testbed::execute(&scenario, &target, &args.out, &options).await;
    let hub_counts = env.stop().await;
    let outcome = outcome?;
    println!(
        "hub ledger: {} prepared, {} committed, {} aborted, {} expired",
        hub_counts.prepared, hub_counts.committed, hub_counts.aborted, hub_counts.expired,
    );
    // Counted where they happen (each simulator's and the hub's keys and TLS handshakes; in
    // report.json as `operations`), beside the count `bench local` derives from the flows.
    let operations = outcome
        .report
        .as_ref()
        .and_then(|r| r.operations.as_ref())
        .or_else(|| outcome.stress.as_ref().and_then(|s| s.operations.as_ref()));
    if let Some(o) = operations {
        let (a_signs, a_verifies) = testbed::bench_local::jws_ops(scenario.flow);
        println!(
            "{}; analytic JWS per {} transfer{}: {a_signs} + {a_verifies}",
            o.line(),
            scenario.flow.as_str(),
            if full { "" } else { " with full security" }
        );
    }
    if let Some(path) = &args.junit {
        testbed::junit::write_outcome(path, &outcome)?;
    }
    // Last: the one line a CI log shows.
    println!("{}", outcome.summary());
    Ok(outcome.passed())
}
