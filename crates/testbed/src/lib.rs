//! # testbed — what the perfbed commands do
//!
//! The orchestration behind `perfbed local`, `run`, `suite`, `preflight` and `bench`, as a
//! library: the CLI keeps its clap structs and makes one call each.
//!
//! - [`execute()`]: the one execution path — a scenario's stages or its stress ramp, switch
//!   evidence around it, the cross-check against the switch's ledger, results on disk.
//! - [`env`](mod@env): the local testbed (hub emulator + 8 simulators, onboarded and seeded).
//! - [`watch`]: Kafka and positions around a run on a real Mojaloop, the "after" side read once
//!   the switch drained.
//! - [`switch_metrics`](mod@switch_metrics): the switch's own histograms per leg over the
//!   window (its `/metrics` scraped, or its Prometheus asked).
//! - [`reconcile`](mod@reconcile): what became of the transfers the driver stopped waiting for.
//! - [`simulators`]: every simulator's refusals and failures over a run.
//! - [`suite`]: suites of stages with gates, position resets, one suite report, resume.
//! - [`preflight`]: the system-ready checklist before a run.
//! - [`bench`](mod@bench): the hub emulator's capacity on one core (`bench hub`).
//! - [`bench_local`]: the local testbed's knee against its crypto bound (`bench local`).
//! - [`results`], [`metrics`]: result folders and the live Prometheus endpoint.
//! - [`junit`]: JUnit XML of a run or a suite, for CI.
//!
//! Each command's entry point takes a plain options struct (no clap here) with files already
//! named and keys and TLS configurations already loaded; the async ones run on the caller's
//! runtime.
#![forbid(unsafe_code)]

pub mod bench;
pub mod bench_local;
pub mod env;
pub mod exchange;
pub mod execute;
pub mod junit;
pub mod metrics;
pub mod preflight;
pub mod reconcile;
pub mod results;
pub mod simulators;
pub mod suite;
pub mod switch_metrics;
pub mod watch;

pub use env::{EnvOptions, LocalEnv, Security};
pub use execute::{crosscheck, execute, Ledger, Options, Outcome, Target};
