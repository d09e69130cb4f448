//! `perfbed bench hub`: what one core of the hub emulator carries; `perfbed bench local`: how
//! close the local testbed comes to its crypto bound. The work is in `testbed::bench` and
//! `testbed::bench_local`; this is their command line.

use anyhow::Result;
use clap::Args;

/// `perfbed bench …`
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// The hub emulator's capacity on one core: transfer flow (prepare → forward → fulfil →
    /// notify → confirm), JWS off, closed loop; prints committed transfers/s and the hub's
    /// CPU-µs per transfer.
    Hub(BenchHubArgs),
    /// The local testbed (hub emulator + 8 simulators + driver, one process) against its crypto
    /// bound: times RS256 sign/verify with the run's own key, finds each case's knee (highest
    /// rate with p99 < 500 ms, >= 99.5 % committed, achieved >= 99 %) with a short ladder of
    /// constant-rate steps, and prints knee, CPU per transfer, crypto floor per transfer and the
    /// share of the bound (knee / (cores / floor)), as a table and JSON.
    Local(BenchLocalArgs),
}

/// `perfbed bench local`
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  perfbed bench local\n  perfbed bench local --cores 2 --cases p2p-full --json p2p.json\n  \
perfbed bench local --quick --cases p2p-full,transfer-full --overload 60s\n\n\
Results: OUT/bench-local-<timestamp>/bench-local.{json,txt} and one report JSON per step.\n\
Read 'share of bound' as knee / (cores / crypto floor): 100 % would mean nothing but RSA costs CPU.\n\
The transport floor is the flow's HTTP exchanges (p2p 13, transfer 5) x one exchange timed through\n\
perfbed's own client and server in the same sitting; 'share of it' is knee / (cores / (crypto + transport floor)).\n\
Run it on a quiet machine: other work on the cores lowers the knee."
)]
pub struct BenchLocalArgs {
    /// Cases, comma-separated FLOW-SECURITY: p2p-full, transfer-full, quote-transfer-full,
    /// p2p-none, transfer-none, …
    #[arg(long, value_delimiter = ',', default_value = "p2p-full,transfer-full,p2p-none,transfer-none",
          value_parser = parse_case)]
    cases: Vec<testbed::bench_local::Case>,
    /// The API every part of the testbed speaks: fspiop (default) or iso20022 (ISO 20022 mode;
    /// compare the two modes' CPU per transfer in one sitting by running both).
    #[arg(long, value_enum, default_value = "fspiop")]
    api: crate::api_arg::ApiArg,
    /// Pin the whole process to the first N CPUs it may use (default: all, unpinned).
    #[arg(long, value_name = "N")]
    cores: Option<usize>,
    /// Length of each step (a 10 % warm-up and cool-down are inside it).
    #[arg(long, default_value = "6s")]
    step: humantime::Duration,
    /// A faster, coarser ladder: 3 s steps (unless --step), stop within 15 %, at most 4 steps.
    #[arg(long)]
    quick: bool,
    /// Stop bisecting when the lowest failing rate is within this fraction of the highest
    /// passing one.
    #[arg(long, value_name = "FRACTION")]
    precision: Option<f64>,
    /// At most this many steps per case.
    #[arg(long, value_name = "N")]
    max_steps: Option<usize>,
    /// First rate of every case (default: 60 % of the crypto bound with full security, 800/s
    /// per core for p2p and 2,000/s per core for transfer without).
    #[arg(long, value_name = "RATE")]
    start: Option<f64>,
    /// First rate as a share of the crypto bound (full security).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.6)]
    start_share: f64,
    /// After each case's ladder, offer 2x its knee for this long, then half the knee for 15 s:
    /// prints the throughput held, the peak RSS and the recovery time.
    #[arg(long, value_name = "DURATION")]
    overload: Option<humantime::Duration>,
    /// Where results go.
    #[arg(long, default_value = "results")]
    out: std::path::PathBuf,
    /// Also write the JSON result here.
    #[arg(long, value_name = "FILE")]
    json: Option<std::path::PathBuf>,
    /// No progress lines.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_case(s: &str) -> Result<testbed::bench_local::Case, String> {
    testbed::bench_local::Case::parse(s)
}

/// `perfbed bench hub`
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  perfbed bench hub --duration 20s --in-flight 512\n\n\
The hub gets CPU --hub-cpu, the load peer the next CPU (on a 1-CPU machine nothing is pinned).\n\
Read 'hub CPU-µs per transfer': it is measured, whoever is the limit; 'transfers/s per hub core'\n\
is 1,000,000 divided by it. When the hub thread is below ~95 % of its core the peer was the limit."
)]
pub struct BenchHubArgs {
    /// Measurement window (after the warm-up).
    #[arg(long, default_value = "10s")]
    duration: humantime::Duration,
    /// Warm-up before the window (connections opened, allocator and caches warm).
    #[arg(long, default_value = "2s")]
    warmup: humantime::Duration,
    /// Transfers in flight at once.
    #[arg(long, default_value_t = 256)]
    in_flight: usize,
    /// CPU for the hub thread; the peer takes the next one.
    #[arg(long, default_value_t = 0)]
    hub_cpu: usize,
    /// Do not send the payee its confirmation `PUT` (one exchange fewer per transfer).
    #[arg(long)]
    no_confirm_to_payee: bool,
    /// Print the result as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `perfbed bench …`.
pub fn bench(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Hub(args) => testbed::bench::bench_hub(&testbed::bench::BenchHubOptions {
            duration: *args.duration,
            warmup: *args.warmup,
            in_flight: args.in_flight,
            hub_cpu: args.hub_cpu,
            confirm_to_payee: !args.no_confirm_to_payee,
            json: args.json,
        }),
        BenchCommand::Local(args) => bench_local(args),
    }
}

fn bench_local(args: BenchLocalArgs) -> Result<()> {
    use anyhow::Context;
    crate::init_logging("warn");
    let defaults = testbed::bench_local::BenchLocalOptions::default();
    let quick_step = std::time::Duration::from_secs(3);
    let step_given = *args.step != std::time::Duration::from_secs(6);
    let o = testbed::bench_local::BenchLocalOptions {
        cases: args.cases,
        cores: args.cores,
        step: if args.quick && !step_given {
            quick_step
        } else {
            *args.step
        },
        precision: args
            .precision
            .unwrap_or(if args.quick { 0.15 } else { defaults.precision }),
        max_steps: args
            .max_steps
            .unwrap_or(if args.quick { 4 } else { defaults.max_steps })
            .max(1),
        start_share: args.start_share,
        start_rate: args.start,
        overload: args.overload.map(|d| *d),
        out: args.out,
        json: args.json,
        quiet: args.quiet,
        api: args.api.into(),
        ..defaults
    };
    if !(o.precision > 0.0 && o.start_share > 0.0) {
        anyhow::bail!("--precision and --start-share must be above 0");
    }
    // Pin before the runtime starts its threads: they inherit this thread's CPU set, and the
    // runtime sizes itself from it.
    let pinned = match o.cores {
        Some(n) => Some(testbed::bench_local::pin_process(n)?),
        None => None,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let result = runtime.block_on(testbed::bench_local::bench_local(&o, pinned))?;
    println!("{}", result.to_text());
    Ok(())
}
