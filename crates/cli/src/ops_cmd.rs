//! `perfbed onboard` and `perfbed msisdn seed`: the ops library from the command line.

use anyhow::{bail, Context, Result};
use clap::Args;

/// Onboard DFSPs into a hub's central-ledger (idempotent; a second run changes nothing).
///
/// In order (reference §7.1): hub accounts, settlement model, participants, initial position
/// and NDC, every callback endpoint a P2P flow needs (templates under the given base URL),
/// funds-in — polled until visible.
///
/// Examples:
///   perfbed onboard --admin http://central-ledger:3001 --dfsp perffsp1=http://sims:4001 --dfsp perffsp5=http://sims:4005
///   perfbed onboard --admin http://127.0.0.1:3000/admin --dfsp perffsp1=http://127.0.0.1:4001 --dry-run
#[derive(Debug, Args)]
pub(crate) struct OnboardArgs {
    /// central-ledger admin API base URL (`…/admin` for the hub emulator).
    #[arg(long, value_name = "URL", env = "PERFBED_ADMIN")]
    admin: String,
    /// DFSP and its callback base URL, as ID=URL (repeatable).
    #[arg(long = "dfsp", value_name = "ID=URL", required = true)]
    dfsps: Vec<String>,
    /// Currency.
    #[arg(long, default_value = "XXX")]
    currency: String,
    /// Net debit cap per DFSP.
    #[arg(long, default_value_t = 10_000_000)]
    ndc: u64,
    /// Settlement funds per DFSP.
    #[arg(long, default_value_t = 100_000_000)]
    funds: u64,
    /// Print the plan, change nothing.
    #[arg(long)]
    dry_run: bool,
}

pub(crate) fn onboard(args: OnboardArgs) -> Result<()> {
    let mut dfsps = Vec::new();
    for d in &args.dfsps {
        let Some((name, url)) = d.split_once('=') else {
            bail!("--dfsp wants ID=URL, e.g. perffsp1=http://sims:4001 (got '{d}')");
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!("--dfsp {name}: callback URL '{url}' must start with http:// or https://");
        }
        dfsps.push(ops::Dfsp {
            name: name.to_owned(),
            callback_base: url.trim_end_matches('/').to_owned(),
        });
    }
    let plan = ops::Onboarding {
        currency: args.currency.clone(),
        ndc: args.ndc,
        funds: args.funds,
        dfsps,
    };
    if args.dry_run {
        println!(
            "would onboard into {} ({}, NDC {}, funds {}):",
            args.admin, plan.currency, plan.ndc, plan.funds
        );
        for d in &plan.dfsps {
            println!(
                "  {}: participant, initialPositionAndLimits, funds-in, endpoints:",
                d.name
            );
            for (t, v) in ops::endpoint_templates(&d.callback_base) {
                println!("    {t} = {v}");
            }
        }
        return Ok(());
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let report = runtime
        .block_on(ops::onboard(&ops::Admin::plain(&args.admin), &plan))
        .context("onboarding failed")?;
    if report.changed.is_empty() {
        println!("nothing to change: already onboarded");
    } else {
        for c in &report.changed {
            println!("{c}");
        }
        println!(
            "onboarded {} DFSPs ({} changes)",
            plan.dfsps.len(),
            report.changed.len()
        );
    }
    Ok(())
}

/// Register MSISDNs of the perffsp scheme in an oracle (REST API, bulk, idempotent).
///
/// The i-th number of perffspN is 2547 + N (2 digits) + i (6 digits).
///
/// Example: perfbed msisdn seed --oracle http://127.0.0.1:3000/oracle --fsp perffsp5 --count 100000
#[derive(Debug, Args)]
pub(crate) struct SeedArgs {
    /// Oracle REST API base URL (`…/oracle` for the hub emulator).
    #[arg(long, value_name = "URL")]
    oracle: String,
    /// FSPs whose ranges to register (repeatable, or comma-separated).
    #[arg(
        long = "fsp",
        value_name = "ID",
        value_delimiter = ',',
        required = true
    )]
    fsps: Vec<String>,
    /// Numbers per FSP (indexes 0..count).
    #[arg(long, default_value_t = 1000)]
    count: u32,
    /// Currency.
    #[arg(long, default_value = "XXX")]
    currency: String,
}

pub(crate) fn seed(args: SeedArgs) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let oracle = ops::Admin::plain(&args.oracle);
    for f in &args.fsps {
        let Some(n) = fspiop::testbed::fsp_index(f) else {
            bail!("'{f}' is not a perffspN id: its numbers come from the perffsp scheme");
        };
        if args.count > fspiop::testbed::DEFAULT_RANGE_SIZE {
            bail!("--count is at most 1000000 per FSP");
        }
        let numbers: Vec<String> = (0..args.count)
            .map(|i| fspiop::testbed::msisdn(n, i))
            .collect();
        let started = std::time::Instant::now();
        let done = runtime
            .block_on(ops::register_msisdns(&oracle, f, &args.currency, &numbers))
            .with_context(|| format!("registering {f}'s numbers failed"))?;
        println!(
            "{f}: registered {done} numbers ({} … {}) in {:.1} s",
            numbers[0],
            numbers[numbers.len() - 1],
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
