//! `perfbed report merge`: N driver replicas' results into one report with one verdict.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

/// Merge the results of driver replicas that ran the same scenario at the same time into one
/// report: counts and rates add up, latency percentiles come from the merged HDR histograms
/// (exact), thresholds are judged again on the whole. Exit code 1 when a threshold fails.
///
/// Example: perfbed report merge results/target-1000tps-* --out results/merged
#[derive(Debug, Args)]
pub(crate) struct MergeArgs {
    /// Result folders (each with report.json and histograms.json).
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Where the merged report goes.
    #[arg(long, default_value = "results")]
    out: PathBuf,
}

pub(crate) fn merge(args: MergeArgs) -> Result<bool> {
    let mut parts = Vec::new();
    for d in &args.dirs {
        let json = std::fs::read(d.join("report.json"))
            .with_context(|| format!("cannot read {}/report.json", d.display()))?;
        let mut report: load::Report = serde_json::from_slice(&json)
            .with_context(|| format!("{}/report.json is not a perfbed report", d.display()))?;
        let hist = std::fs::read(d.join("histograms.json"))
            .with_context(|| format!("cannot read {}/histograms.json", d.display()))?;
        report.histograms = load::histograms::HistogramSet::from_json(&hist)
            .with_context(|| format!("{}/histograms.json", d.display()))?;
        parts.push(report);
    }
    let merged = load::report::merge(&parts).map_err(|e| anyhow::anyhow!("cannot merge: {e}"))?;
    let name = format!("{}-merged", merged.scenario);
    crate::local::write_report(&args.out, &name, &merged)?;
    println!(
        "merged {} replicas: {} arrivals, accounting {}",
        merged.replicas,
        merged.arrivals,
        if merged.adds_up() {
            "adds up"
        } else {
            "DOES NOT ADD UP"
        }
    );
    Ok(merged.passed)
}
