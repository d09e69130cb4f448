//! `perfbed`: parse the command line, run the subcommand. Everything else lives in the crates.
#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    perfbed::run(perfbed::Cli::parse())
}
