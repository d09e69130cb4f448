//! `perfbed report merge`: N driver replicas' results into one report with one verdict;
//! `perfbed report compare`: runs side by side against a baseline.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

/// Merge the results of driver replicas that ran the same scenario at the same time into one
/// report: counts and rates add up, latency percentiles come from the merged HDR histograms
/// (exact), thresholds are judged again on the whole. Exit code 1 when a threshold fails.
///
/// Stress runs merge too: stage by stage, each stage judged again on the replicas' sum (their
/// shares add up to the stage rate), by the same stop rules.
///
/// Refused, naming the culprits: parts of different runs or scenarios, a replica present twice
/// or missing, and replicas whose steady-state windows overlap less than 90 % (they ran at
/// different times, so their rates do not add up: start them with `perfbed run --start-at`).
///
/// Each DIR is a result folder or a folder holding them (searched 3 levels deep; earlier
/// `*-merged` results are skipped). In a cluster the collector waits for every replica:
/// `--expect N --wait 2h`.
///
/// Examples:
///   perfbed report merge results/target-1000tps-replica* --out results/merged
///   perfbed report merge /results/run-7 --expect 4 --wait 3h --out /results/run-7/merged
#[derive(Debug, Args)]
pub(crate) struct MergeArgs {
    /// Result folders (each with report.json and histograms.json), or folders holding them.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Where the merged report goes.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// How many replica results there must be (error if more; wait for them with --wait).
    #[arg(long, value_name = "N")]
    expect: Option<usize>,
    /// With --expect: wait this long for the replicas to finish writing.
    #[arg(long, value_parser = humantime::parse_duration, requires = "expect")]
    wait: Option<std::time::Duration>,
    /// Cross-check the merged run against the switch: the testbed file's ledger_db (SQL on
    /// central_ledger), or its hub.admin when that is the hub emulator. A disagreement fails
    /// the merge (exit 1). Replicas leave the cross-check to the merge.
    #[arg(long, short = 't', value_name = "FILE", env = "PERFBED_TESTBED")]
    testbed: Option<PathBuf>,
    /// Cross-check against a real central-ledger's database (mysql://…/central_ledger).
    #[arg(
        long,
        value_name = "URL",
        env = "PERFBED_LEDGER_DB",
        conflicts_with = "testbed"
    )]
    ledger_db: Option<String>,
    /// Cross-check against a hub emulator's admin API (e.g. http://hub:3000/admin).
    #[arg(long, value_name = "URL", conflicts_with_all = ["testbed", "ledger_db"])]
    hub_admin: Option<String>,
    /// TLS for an https:// admin API (--hub-admin, or the testbed's hub.admin).
    #[command(flatten)]
    tls: crate::tls_args::ClientTlsArgs,
}

/// A result folder: a run's (report.json and histograms.json) or a stress run's (stress.json
/// and its stage histograms); the histograms are written last, atomically.
fn is_result(d: &std::path::Path) -> bool {
    (d.join("report.json").is_file() && d.join("histograms.json").is_file())
        || (d.join("stress.json").is_file()
            && d.join(testbed::results::STRESS_HISTOGRAMS).is_file())
}

/// Result folders under `roots` ([`is_result`]).
fn find_results(roots: &[PathBuf], out: &std::path::Path) -> Vec<PathBuf> {
    fn walk(d: &std::path::Path, depth: u32, out: &std::path::Path, found: &mut Vec<PathBuf>) {
        if is_result(d) {
            let merged = d
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains("-merged-"));
            if !merged {
                found.push(d.to_owned());
            }
            return;
        }
        if depth == 0 {
            return;
        }
        let Ok(entries) = std::fs::read_dir(d) else {
            return;
        };
        let mut subs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        subs.sort();
        for s in subs {
            if s == out {
                continue;
            }
            walk(&s, depth - 1, out, found);
        }
    }
    let mut found = Vec::new();
    for r in roots {
        walk(r, 3, out, &mut found);
    }
    // Not deduplicated: a folder named twice counts twice, as asked.
    found
}

pub(crate) fn merge(args: MergeArgs) -> Result<bool> {
    let started = std::time::Instant::now();
    let dirs = loop {
        let found = find_results(&args.dirs, &args.out);
        match args.expect {
            None if found.is_empty() => anyhow::bail!(
                "no results (report.json + histograms.json) under {}",
                args.dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => break found,
            Some(n) if found.len() == n => break found,
            Some(n) if found.len() > n => anyhow::bail!(
                "{} results found, {n} expected: {}",
                found.len(),
                found
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some(n) => {
                let waited = started.elapsed();
                match args.wait {
                    Some(w) if waited < w => {
                        eprintln!(
                            "waiting for results: {}/{n} after {}s",
                            found.len(),
                            waited.as_secs()
                        );
                        std::thread::sleep(std::time::Duration::from_secs(5).min(w - waited));
                    }
                    _ => anyhow::bail!(
                        "{} results of {n} expected (add --wait to wait for the rest)",
                        found.len()
                    ),
                }
            }
        }
    };
    let mut parts = Vec::new();
    let mut stress_parts = Vec::new();
    // Each replica's outcome of each arrival, for the id-by-id cross-check: all of them, or
    // (results from before outcomes.bin) none, and the merge compares counts.
    let mut outcomes = Vec::new();
    let mut without_outcomes = Vec::new();
    for d in &dirs {
        let file = d.join(load::ids::FILE);
        if file.exists() {
            outcomes.push(
                load::ids::Outcomes::read(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?,
            );
        } else {
            without_outcomes.push(d.display().to_string());
        }
        if d.join("report.json").is_file() {
            parts.push(read_part(d)?);
        } else {
            stress_parts.push(read_stress_part(d)?);
        }
    }
    eprintln!(
        "merging {} results: {}",
        dirs.len(),
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !parts.is_empty() && !stress_parts.is_empty() {
        anyhow::bail!(
            "cannot merge: {} results are stress runs and {} are not",
            stress_parts.len(),
            parts.len()
        );
    }
    let ledger = match (&args.testbed, &args.ledger_db, &args.hub_admin) {
        (Some(p), _, _) => {
            let t = ops::Testbed::load(p).map_err(|e| anyhow::anyhow!(e))?;
            let admin = t
                .hub
                .admin
                .as_deref()
                .map(|a| args.tls.admin(a))
                .transpose()?;
            Some(testbed::Ledger::choose(Some(&t), admin))
        }
        (None, Some(db), _) => Some(testbed::Ledger::Sql(db.clone())),
        (None, None, Some(url)) => Some(testbed::Ledger::Emulator(args.tls.admin(url)?)),
        (None, None, None) => None,
    };
    let check = Check {
        ledger,
        outcomes,
        without_outcomes,
    };
    if !stress_parts.is_empty() {
        return merge_stress(&args, &stress_parts, check);
    }
    let mut merged =
        load::report::merge(&parts).map_err(|e| anyhow::anyhow!("cannot merge: {e}"))?;
    let (crosscheck, none, note) =
        check.run(&merged.run.tag, merged.committed, merged.uncertain())?;
    merged.crosscheck = crosscheck;
    merged.no_crosscheck = none;
    merged.notes.extend(note);
    expect(
        args.expect,
        merged.run.replica_indices.len(),
        merged.run.replica_count,
    )?;
    let name = format!("{}-merged", merged.scenario);
    let dir = testbed::results::result_dir(&args.out, &name)?;
    testbed::results::write_report(&dir, &merged)?;
    println!(
        "merged {} replicas of run {}: {} arrivals; {}",
        merged.run.replica_indices.len(),
        merged.run.id,
        merged.arrivals,
        merged.accounting_line()
    );
    println!("{}", merged.crosscheck_line());
    for f in merged.failures() {
        println!("not passed: {f}");
    }
    Ok(merged.ok())
}

/// One replica's report.json with its histograms.
fn read_part(d: &std::path::Path) -> Result<load::Report> {
    let json = std::fs::read(d.join("report.json"))
        .with_context(|| format!("cannot read {}/report.json", d.display()))?;
    let mut report: load::Report = serde_json::from_slice(&json)
        .with_context(|| format!("{}/report.json is not a perfbed report", d.display()))?;
    let hist = std::fs::read(d.join("histograms.json"))
        .with_context(|| format!("cannot read {}/histograms.json", d.display()))?;
    report.histograms = load::histograms::HistogramSet::from_json(&hist)
        .with_context(|| format!("{}/histograms.json", d.display()))?;
    Ok(report)
}

/// One replica's stress.json with every stage report's histograms.
fn read_stress_part(d: &std::path::Path) -> Result<load::stress::StressReport> {
    let json = std::fs::read(d.join("stress.json"))
        .with_context(|| format!("cannot read {}/stress.json", d.display()))?;
    let mut stress: load::stress::StressReport = serde_json::from_slice(&json)
        .with_context(|| format!("{}/stress.json is not a perfbed stress report", d.display()))?;
    let file = d.join(testbed::results::STRESS_HISTOGRAMS);
    let hist = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let sets =
        load::histograms::from_json_list(&hist).with_context(|| format!("{}", file.display()))?;
    if sets.len() != stress.stage_reports.len() {
        anyhow::bail!(
            "{}: {} histogram sets for {} stage reports",
            file.display(),
            sets.len(),
            stress.stage_reports.len()
        );
    }
    for (r, h) in stress.stage_reports.iter_mut().zip(sets) {
        r.histograms = h;
    }
    Ok(stress)
}

/// `--expect N`: the merge holds N distinct replicas of an N-replica run.
fn expect(n: Option<usize>, distinct: usize, count: u32) -> Result<()> {
    match n {
        Some(n) if distinct != n || count as usize != n => anyhow::bail!(
            "--expect {n}: the results hold {distinct} distinct replicas of a {count}-replica run"
        ),
        _ => Ok(()),
    }
}

/// The merged run's cross-check: where to ask, and the replicas' outcomes.
struct Check {
    ledger: Option<testbed::Ledger>,
    outcomes: Vec<load::ids::Outcomes>,
    without_outcomes: Vec<String>,
}

impl Check {
    /// Asks the ledger about the run's transfers (`tag`: the run's tag, for counts only):
    /// the cross-check or why there is none, and a note for the report.
    fn run(
        self,
        tag: &str,
        committed: u64,
        uncertain: u64,
    ) -> Result<(
        Option<load::report::CrossCheck>,
        Option<load::report::NoCrossCheck>,
        Option<String>,
    )> {
        let Some(ledger) = self.ledger else {
            return Ok((
                None,
                Some(load::report::NoCrossCheck::new(
                    load::report::NoCrossCheckKind::Unavailable,
                    "no ledger given to the merge (--testbed FILE, --ledger-db URL or --hub-admin URL)",
                )),
                None,
            ));
        };
        let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        let (mut outcomes, mut note) = (self.outcomes, None);
        if !self.without_outcomes.is_empty() {
            note = Some(format!(
                "cross-checked by counts only: no {} in {}",
                load::ids::FILE,
                self.without_outcomes.join(", ")
            ));
            outcomes.clear();
        }
        // ISO 20022 ids start with the tag's ULID form, not its hex.
        let prefix = outcomes
            .first()
            .map_or_else(|| tag.to_owned(), |o| o.space.prefix());
        Ok(
            match runtime.block_on(testbed::crosscheck(
                &ledger, &prefix, committed, uncertain, outcomes,
            )) {
                Ok(c) => (Some(c), None, note),
                Err(n) => (None, Some(n), note),
            },
        )
    }
}

/// The stress runs of the replicas into one: stage by stage, judged again on the sum.
fn merge_stress(
    args: &MergeArgs,
    parts: &[load::stress::StressReport],
    check: Check,
) -> Result<bool> {
    let mut merged =
        load::stress::merge(parts).map_err(|e| anyhow::anyhow!("cannot merge: {e}"))?;
    let run = merged
        .stage_reports
        .first()
        .map(|r| r.run.clone())
        .context("the merged stress run has no stage")?;
    let (crosscheck, none, note) = check.run(&run.tag, merged.committed(), merged.uncertain())?;
    merged.crosscheck = crosscheck;
    merged.no_crosscheck = none;
    merged.notes.extend(note);
    expect(args.expect, run.replica_indices.len(), run.replica_count)?;
    let name = format!("{}-merged", merged.scenario);
    let dir = testbed::results::result_dir(&args.out, &name)?;
    testbed::results::write_stress(&dir, &merged)?;
    let adds_up = merged.adds_up();
    println!(
        "merged {} replicas of stress run {}: breaking point {}, recovered {}; accounting {}",
        run.replica_indices.len(),
        run.id,
        merged
            .breaking_point_tps
            .map_or("none".into(), |b| format!("{b}/s")),
        merged
            .recovered
            .map_or("n/a", |r| if r { "yes" } else { "NO" }),
        if adds_up { "adds up" } else { "FAILED" }
    );
    println!("{}", merged.crosscheck_line());
    Ok(merged.recovered != Some(false) && adds_up && merged.crosscheck_ok())
}

/// Compare two or more runs side by side, against the first (the baseline).
///
/// Each argument is a result folder (report.json, or stress.json for a stress run), a
/// report.json file, or a suite folder (suite.json): suites are compared stage by stage, by
/// stage name. For each run: scenario, flow, run id, start, verdict; then achieved TPS,
/// success %, p50/p95/p99 end to end and per phase, the switch's share of each phase
/// (attribution: switch p95, in + out), cost per million when the scenario has a [cost] table;
/// a stress run: breaking point, where it broke, peak achieved TPS, recovery. Each metric gets
/// its delta against the baseline and a verdict: better, worse, or within noise.
///
/// Noise rules (one run each is one sample each: these say whether a difference exceeds the
/// instrument's resolution and a minimum effect, not whether it would repeat):
///   - latency: within noise when |Δ| ≤ the largest of 0.1 % (the HDR histograms keep 3
///     significant digits), 5 % of the baseline, and 1 ms (tokio's timer resolution);
///   - rates (TPS) and cost per million: |Δ| ≤ 2 % of the baseline;
///   - success rate: |Δ| ≤ 0.1 percentage point;
///   - recovered (yes/no): any change counts.
///
/// Runs of different scenarios (name or flow) are refused, naming both, unless --force.
/// Markdown goes to stdout; --json and --html write the same comparison to files.
///
/// Examples:
///   perfbed report compare results/smoke-20261123-140000 results/smoke-20261124-090000
///   perfbed report compare results/suite-seed-A results/suite-seed-B --html compare.html
#[derive(Debug, Args)]
pub(crate) struct CompareArgs {
    /// Result folders, report.json files or suite folders; the first is the baseline.
    #[arg(required = true, num_args = 2.., value_name = "RESULT")]
    results: Vec<PathBuf>,
    /// Compare runs of different scenarios anyway (the outputs say so).
    #[arg(long)]
    force: bool,
    /// Also write the comparison as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also write the comparison as a self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

/// One run's results in `path`: a folder with report.json or stress.json, or a report.json.
fn load_run(path: &std::path::Path) -> Result<load::report::compare::Run> {
    use load::report::compare::Run;
    let read = |p: &std::path::Path| {
        std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
    };
    if path.is_file() {
        let r: load::Report = serde_json::from_slice(&read(path)?)
            .with_context(|| format!("{} is not a perfbed report", path.display()))?;
        return Ok(Run::Load(Box::new(r)));
    }
    let report = path.join("report.json");
    let stress = path.join("stress.json");
    if report.is_file() {
        let r: load::Report = serde_json::from_slice(&read(&report)?)
            .with_context(|| format!("{} is not a perfbed report", report.display()))?;
        Ok(Run::Load(Box::new(r)))
    } else if stress.is_file() {
        let s: load::stress::StressReport = serde_json::from_slice(&read(&stress)?)
            .with_context(|| format!("{} is not a perfbed stress report", stress.display()))?;
        Ok(Run::Stress(Box::new(s)))
    } else {
        anyhow::bail!(
            "{}: no report.json, stress.json or suite.json there",
            path.display()
        )
    }
}

/// Labels for the outputs: each folder's name, or the whole path where names repeat.
fn labels(paths: &[PathBuf]) -> Vec<String> {
    let name = |p: &PathBuf| {
        let p = if p.is_file() {
            p.parent().unwrap_or(p)
        } else {
            p.as_path()
        };
        p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    let short: Vec<String> = paths.iter().map(name).collect();
    short
        .iter()
        .zip(paths)
        .map(|(s, p)| {
            if short.iter().filter(|x| *x == s).count() > 1 {
                p.display().to_string()
            } else {
                s.clone()
            }
        })
        .collect()
}

pub(crate) fn compare(args: CompareArgs) -> Result<()> {
    use load::report::compare::{Body, Subject};
    let mut subjects = Vec::new();
    for (path, label) in args.results.iter().zip(labels(&args.results)) {
        let body = if path.join("suite.json").is_file() {
            let mut stages = Vec::new();
            for (name, dir) in testbed::suite::stage_results(path)? {
                let run = match dir {
                    Some(d) => Some(load_run(&d)?),
                    None => None,
                };
                stages.push((name, run));
            }
            Body::Suite(stages)
        } else {
            Body::Run(load_run(path)?)
        };
        subjects.push(Subject { label, body });
    }
    let comparison = load::report::compare::compare(&subjects, args.force)
        .map_err(|e| anyhow::anyhow!("cannot compare: {e}"))?;
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_vec_pretty(&comparison)?)
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    if let Some(p) = &args.html {
        std::fs::write(p, comparison.to_html())
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    print!("{}", comparison.to_markdown());
    Ok(())
}
