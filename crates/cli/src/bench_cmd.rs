//! `perfbed bench hub`: what one core of the hub emulator carries. The work is in
//! `testbed::bench`; this is its command line.

use anyhow::Result;
use clap::Args;

/// `perfbed bench …`
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// The hub emulator's capacity on one core: transfer flow (prepare → forward → fulfil →
    /// notify → confirm), JWS off, closed loop; prints committed transfers/s and the hub's
    /// CPU-µs per transfer.
    Hub(BenchHubArgs),
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
    }
}
