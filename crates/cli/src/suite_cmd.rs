//! `perfbed suite`: the seed's progression (baseline 100 → scale 500 → target 1000 → endurance
//! 2 h → stress to failure) as one command, with gates, position resets between stages, one
//! suite report, and `--resume` after an interruption or a failed gate. The work is in
//! `testbed::suite`; this is its command line.

use crate::local::Security;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

/// Run a suite of scenarios with gates: a stage runs only if the one before passed its
/// thresholds; positions are reset between stages when asked; a stress stage (a scenario with
/// [stress]) finds the breaking point and checks recovery. One suite report (suite.md,
/// suite.json) links the stage reports and ends with the seed's success criteria; the last line
/// printed is a one-line summary.
///
/// Without a suite file: the seed's suite, built in — baseline-100tps, scale-500tps,
/// target-1000tps, endurance-1000tps-2h, stress-to-failure (4.5 h). On the emulator, shrink it:
/// --time-scale 0.01 --rate-scale 0.1 runs it in ~4 minutes (stress steps stay ≥ 2 s).
///
/// Suite file (TOML): name = "mine", reset_positions = true, then [[stage]] scenario = "x.toml"
/// (paths relative to the suite file), in order.
///
/// Resume: --resume OUT/suite-…/ runs again every stage that has not passed, in order, with the
/// scenarios saved in that folder (an interrupted stage starts over).
///
/// Examples:
///   perfbed suite --local --time-scale 0.01 --rate-scale 0.1
///   perfbed suite my-suite.toml --local --security none
///   perfbed suite --resume results/suite-seed-20261123-140000
#[derive(Debug, Args)]
pub(crate) struct SuiteArgs {
    /// Suite file (TOML); default: the seed's suite, built in.
    suite: Option<PathBuf>,
    /// Run against the local testbed: hub emulator + 8 simulators in this process.
    #[arg(long)]
    local: bool,
    /// Security of the local testbed.
    #[arg(long, value_enum, default_value = "full")]
    security: Security,
    /// API of every stage: `fspiop`, or `iso20022` (ISO 20022 bodies and media types, ULID
    /// ids, ILP v4). Wins over the scenarios' `api`; without it they must agree. Run the same
    /// suite in both modes and compare them with `perfbed report compare`.
    #[arg(long, value_enum, env = "PERFBED_API")]
    api: Option<crate::api_arg::ApiArg>,
    /// Against a hub (a real Mojaloop or `perfbed hub`): its FSPIOP base URL; the payers listen
    /// on --listen and the payees are your simulators, onboarded and seeded.
    #[arg(long, value_name = "URL", conflicts_with = "local")]
    hub: Option<String>,
    /// Where the payers listen for callbacks (with --hub).
    #[arg(long, default_value = "127.0.0.1:4001")]
    listen: std::net::SocketAddr,
    /// Admin API for position resets between stages (with --hub; the local testbed has its own).
    #[arg(long, value_name = "URL")]
    admin: Option<String>,
    /// With --hub: JWS keys of the payers (and peers' public keys), as for `perfbed run`.
    #[command(flatten)]
    jws: crate::tls_args::JwsArgs,
    /// With --hub: inbound TLS of the payers' callback listener.
    #[command(flatten)]
    server_tls: crate::tls_args::ServerTlsArgs,
    /// With --hub: outbound TLS to the hub.
    #[command(flatten)]
    client_tls: crate::tls_args::ClientTlsArgs,
    /// With --hub: the payees' ILP secret (for `flow = "transfer"` stages).
    #[arg(
        long,
        env = "PERFBED_ILP_SECRET",
        default_value = sim::config::TEST_ILP_SECRET,
        hide_default_value = true
    )]
    ilp_secret: String,
    /// Scale every duration (stages, warm-up, cool-down, stress steps), e.g. 0.01.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Scale every rate (stages and stress ramp), e.g. 0.2 for a laptop.
    #[arg(long, default_value_t = 1.0)]
    rate_scale: f64,
    /// Testbed file of the switch (admin API, Kafka): every stage's report then carries
    /// switch-side evidence (Kafka counts, ratios and lag over its window; positions before and
    /// after), and the suite table shows each stage's Kafka gate.
    #[arg(long, short = 't', value_name = "FILE", env = "PERFBED_TESTBED")]
    testbed: Option<PathBuf>,
    /// Reset positions between stages (through the admin API; headroom back to the start).
    #[arg(long)]
    reset_positions: bool,
    /// Where results go: OUT/suite-<name>-<timestamp>/.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Resume the suite in this folder.
    #[arg(long, value_name = "DIR", conflicts_with = "suite")]
    resume: Option<PathBuf>,
    /// No progress lines.
    #[arg(long, short)]
    quiet: bool,
    /// Also write JUnit XML here, for CI: one test case per stage (failed with its note), and
    /// one per seed success criterion beyond "all stages passed".
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

pub(crate) fn run(args: SuiteArgs) -> Result<bool> {
    crate::init_logging("warn");
    let hub = match &args.hub {
        Some(url) => Some(testbed::suite::HubOptions {
            url: url.clone(),
            listen: args.listen,
            admin: args.admin.clone(),
            jws: args.jws.load("Hub")?,
            client_tls: args.client_tls.load()?,
            server_tls: args.server_tls.load()?,
            ilp_secret: args.ilp_secret,
        }),
        None => None,
    };
    let options = testbed::suite::SuiteOptions {
        suite: args.suite,
        local: args.local,
        security: args.security.into(),
        hub,
        time_scale: args.time_scale,
        rate_scale: args.rate_scale,
        testbed: args.testbed,
        reset_positions: args.reset_positions,
        out: args.out,
        resume: args.resume,
        quiet: args.quiet,
        api: args.api.map(Into::into),
        junit: args.junit,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(testbed::suite::run(options))
}
