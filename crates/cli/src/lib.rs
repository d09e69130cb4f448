//! # perfbed — the command line
//!
//! A thin layer: [`Cli`] (clap) describes every subcommand and flag, [`run`] dispatches to the
//! crates that do the work. The commands that orchestrate — `local`, `run`, `suite`,
//! `preflight`, `bench hub` — turn their flags into the `testbed` crate's options (files named,
//! keys and TLS loaded here) and make one call into it; `sim`, `hub`, `onboard`, `msisdn`,
//! `positions`, `kafka` and `pki` call `sim`, `hub`, `ops` and `perfbed-http` directly.
#![forbid(unsafe_code)]

mod api_arg;
mod bench_cmd;
mod hub_cmd;
mod local;
mod ops_cmd;
mod pki;
mod preflight_cmd;
mod report_cmd;
mod run_cmd;
mod sim_cmd;
mod suite_cmd;
mod tls_args;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// perfbed — a performance testbed for Mojaloop switches.
///
/// Fast FSPIOP DFSP simulators that sign and validate every callback (JWS, mTLS, ILP), plus the
/// tools around a load test. Run `perfbed <command> --help` for each command.
#[derive(Debug, Parser)]
#[command(
    name = "perfbed",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole testbed locally: hub emulator + 8 simulators + load + report.
    Local(Box<local::LocalArgs>),
    /// Run a scenario against a hub (a real Mojaloop or `perfbed hub`).
    Run(Box<run_cmd::RunArgs>),
    /// Is everything ready for a run? Hub, onboarding, simulators, numbers, headroom, clocks.
    Preflight(Box<preflight_cmd::PreflightArgs>),
    /// The whole suite with gates: baseline → scale → target → endurance → stress, one report.
    Suite(Box<suite_cmd::SuiteArgs>),
    /// Onboard DFSPs into a hub's central-ledger (idempotent).
    Onboard(ops_cmd::OnboardArgs),
    /// Reports: merge the results of N driver replicas (`report merge`), compare runs against
    /// a baseline (`report compare`).
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// MSISDN pre-registration: `msisdn seed` (SQL, oracle REST or ALS) and `msisdn check`.
    Msisdn {
        #[command(subcommand)]
        command: MsisdnCommand,
    },
    /// Positions, settlement balances and NDC: `positions show` and `positions reset`.
    Positions {
        #[command(subcommand)]
        command: PositionsCommand,
    },
    /// Kafka evidence of a run: `kafka gate` (message-count ratios), `kafka lag`, `snapshot`,
    /// `create-topics`.
    Kafka {
        #[command(subcommand)]
        command: KafkaCommand,
    },
    /// Run perffsp DFSP simulators (payee and payer roles) for one or more FSP ids.
    Sim(Box<sim_cmd::SimArgs>),
    /// Run the hub emulator: an in-memory Mojaloop switch with the real admin APIs.
    Hub(Box<hub_cmd::HubArgs>),
    /// Make TEST-ONLY JWS keys and mTLS certificates for a test scheme.
    Pki(pki::PkiArgs),
    /// Benchmarks that print numbers: `bench hub` (the hub emulator's capacity on one core),
    /// `bench local` (the local testbed's knee against its crypto bound).
    Bench {
        #[command(subcommand)]
        command: bench_cmd::BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// Merge replicas' results into one report (exact percentiles, one verdict).
    Merge(report_cmd::MergeArgs),
    /// Compare runs (or suites, stage by stage) against a baseline: better, worse, or within
    /// noise, per metric.
    Compare(report_cmd::CompareArgs),
}

#[derive(Debug, Subcommand)]
enum MsisdnCommand {
    /// Register perffsp MSISDN ranges (idempotent, resumable).
    Seed(ops_cmd::SeedArgs),
    /// Sample the mapping through the same path.
    Check(ops_cmd::CheckArgs),
}

#[derive(Debug, Subcommand)]
enum PositionsCommand {
    /// A table per FSP: position, reserved, settlement, NDC and headroom.
    Show(ops_cmd::ShowArgs),
    /// Back to the configured values (admin API or one SQL transaction).
    Reset(ops_cmd::ResetArgs),
}

#[derive(Debug, Subcommand)]
enum KafkaCommand {
    /// Message-count ratios over a window → pass/fail.
    Gate(ops_cmd::GateArgs),
    /// Consumer-group lag per topic and partition.
    Lag(ops_cmd::LagArgs),
    /// Save high watermarks, for `gate --since`.
    Snapshot(ops_cmd::SnapshotArgs),
    /// Create the Mojaloop topics (brokers that do not auto-create).
    CreateTopics(ops_cmd::CreateTopicsArgs),
}

/// Runs the parsed command line; errors are printed as `error: …` with what to fix.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Local(args) => match local::run(*args) {
            Ok(true) => return ExitCode::SUCCESS,
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
        Command::Sim(args) => sim_cmd::run(*args),
        Command::Run(args) => match run_cmd::run(*args) {
            Ok(true) => return ExitCode::SUCCESS,
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
        Command::Report {
            command: ReportCommand::Merge(args),
        } => match report_cmd::merge(args) {
            Ok(true) => return ExitCode::SUCCESS,
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
        Command::Report {
            command: ReportCommand::Compare(args),
        } => report_cmd::compare(args),
        Command::Preflight(args) => verdict(preflight_cmd::run(*args)),
        Command::Suite(args) => verdict(suite_cmd::run(*args)),
        Command::Onboard(args) => ops_cmd::onboard(args),
        Command::Msisdn { command } => match command {
            MsisdnCommand::Seed(args) => ops_cmd::seed(args),
            MsisdnCommand::Check(args) => verdict(ops_cmd::check(args)),
        },
        Command::Positions { command } => match command {
            PositionsCommand::Show(args) => ops_cmd::show(args),
            PositionsCommand::Reset(args) => ops_cmd::reset(args),
        },
        Command::Kafka { command } => match command {
            KafkaCommand::Gate(args) => verdict(ops_cmd::gate(args)),
            KafkaCommand::Lag(args) => verdict(ops_cmd::lag(args)),
            KafkaCommand::Snapshot(args) => ops_cmd::snapshot(args),
            KafkaCommand::CreateTopics(args) => ops_cmd::create_topics(args),
        },
        Command::Hub(args) => hub_cmd::run(*args),
        Command::Pki(args) => pki::run(args),
        Command::Bench { command } => bench_cmd::bench(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// A pass/fail command: fail exits 1 (errors still exit 2).
fn verdict(r: anyhow::Result<bool>) -> anyhow::Result<()> {
    match r {
        Ok(true) => Ok(()),
        Ok(false) => std::process::exit(1),
        Err(e) => Err(e),
    }
}

/// Logs to stderr; `RUST_LOG` overrides the default level.
pub(crate) fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
