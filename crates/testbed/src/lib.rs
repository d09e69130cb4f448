//! # testbed — what the perfbed commands do
//!
//! The orchestration behind `perfbed local`, `run`, `suite`, `preflight` and `bench`, as a
//! library: the CLI keeps its clap structs and makes one call each.
//!
//! - [`execute()`]: the one execution path — a scenario's stages or its stress ramp, switch
//!   evidence around it, the cross-check against the switch's ledger, results on disk.
//! - [`env`]: the local testbed (hub emulator + 8 simulators, onboarded and seeded).
//! - [`watch`]: Kafka and positions around a run on a real Mojaloop.
//! - [`results`], [`metrics`]: result folders and the live Prometheus endpoint.
#![forbid(unsafe_code)]

pub mod env;
pub mod execute;
pub mod metrics;
pub mod results;
pub mod watch;

pub use env::{EnvOptions, LocalEnv, Security};
pub use execute::{execute, Ledger, Options, Outcome, Target};
