//! `perfbed preflight`: the seed's system-ready check as one command — a checklist that says
//! what to fix, exit 1 when anything would spoil the run. The work is in `testbed::preflight`;
//! this is its command line.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Check that a run can start: the services it will use answer (hub, account-lookup-service,
/// quoting-service, admin API, oracle), every FSP is onboarded with the endpoints a P2P flow
/// needs pointing at its simulator (which answers), the ALS finds a payee's number through
/// the oracle it has for MSISDN (`GET /participants/MSISDN/{n}` on the ALS, answered to the
/// payee's simulator), a sample of each payee's numbers resolves, the payers' NDC and
/// liquidity headroom cover the planned run (rate × duration × mean amount, from the
/// scenario), simulators answer with JWS as expected, and the clocks of driver, simulators and
/// hub agree within --max-skew (the hub refuses `completedTimestamp` more than 200 ms in the
/// future; a hub whose /health gives no time is read from its HTTP Date header, ±0.5 s).
///
/// Prints a checklist; exit 1 with what to fix when something fails.
///
/// Examples:
///   perfbed preflight scenarios/target-1000tps.toml --testbed testbed.toml --hub http://moja-ml-api-adapter-service.mojaloop
///   perfbed preflight scenarios/smoke.toml --testbed local.toml --hub http://127.0.0.1:3000
#[derive(Debug, Args)]
pub(crate) struct PreflightArgs {
    /// The scenario about to run (for headroom and which FSPs are payers and payees).
    scenario: Option<PathBuf>,
    /// Testbed file: FSPs, callbacks, admin API, oracle (or its database).
    #[arg(long, short = 't', value_name = "FILE", env = "PERFBED_TESTBED")]
    testbed: PathBuf,
    /// The hub's FSPIOP base URL (its /health must answer).
    #[arg(long, value_name = "URL", env = "PERFBED_HUB")]
    hub: String,
    /// The account-lookup-service's FSPIOP URL, as the run gets it (default: the testbed
    /// file's hub.als, else --hub).
    #[arg(long, value_name = "URL")]
    hub_parties: Option<String>,
    /// The quoting-service's URL, as the run gets it (default: --hub).
    #[arg(long, value_name = "URL")]
    hub_quotes: Option<String>,
    /// Largest clock difference allowed between this machine and hub or simulators.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "200ms")]
    max_skew: Duration,
    /// Numbers sampled per payee.
    #[arg(long, default_value_t = 3)]
    sample: u32,
    /// Expect simulators with JWS on (`--no-jws-expected` for a run without signatures).
    #[arg(long)]
    no_jws_expected: bool,
    /// The API the run will speak, `fspiop` or `iso20022`: every payee simulator must speak
    /// it (default: the scenario's `api`, else fspiop).
    #[arg(long, value_enum, env = "PERFBED_API")]
    api: Option<crate::api_arg::ApiArg>,
}

pub(crate) fn run(args: PreflightArgs) -> Result<bool> {
    let options = testbed::preflight::PreflightOptions {
        scenario: args.scenario,
        testbed: args.testbed,
        hub: args.hub,
        max_skew: args.max_skew,
        sample: args.sample,
        jws_expected: !args.no_jws_expected,
        als: args.hub_parties,
        quotes: args.hub_quotes,
        api: args.api.map(Into::into),
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(testbed::preflight::run(&options))
}
