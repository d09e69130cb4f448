//! `perfbed`: parse the command line, run the subcommand. Everything else lives in the crates.
#![forbid(unsafe_code)]

use clap::Parser;

/// mimalloc instead of glibc malloc: the simulator's hot path allocates per request, and glibc
/// malloc/free were 18 % of the payee's CPU in a profile (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Load tests hold many connections: use the hard limit on open files, not the 1024 default.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    perfbed::run(perfbed::Cli::parse())
}
