//! Results on disk: one folder per run, `report.{json,md,html}` and `histograms.json` (written
//! last and atomically: a folder with it is complete), `stress.{json,md,html}` and
//! `stress-histograms.json` (last and atomically) for stress runs.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// `YYYYMMDD-HHMMSS` (UTC), for result folder names.
pub fn timestamp() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Writes `path` whole or not at all (a temporary file beside it, then a rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Creates OUT/<name>-<timestamp>/.
pub fn result_dir(out: &Path, name: &str) -> Result<PathBuf> {
    let dir = out.join(format!("{name}-{}", timestamp()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Writes DIR/outcomes.bin: the driver's outcome of each arrival, one byte each, which `report
/// merge` compares with the switch id by id.
fn write_outcomes(dir: &Path, outcomes: Option<&load::ids::Outcomes>) -> Result<()> {
    if let Some(o) = outcomes {
        let path = dir.join(load::ids::FILE);
        o.write(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Writes DIR/report.{json,md,html}, outcomes.bin and histograms.json, and prints the Markdown
/// summary.
pub fn write_report(dir: &Path, report: &load::Report) -> Result<()> {
    std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(report)?)?;
    write_outcomes(dir, report.outcomes.as_ref())?;
    let md = report.to_markdown();
    std::fs::write(dir.join("report.md"), &md)?;
    std::fs::write(dir.join("report.html"), report.to_html())?;
    // Last, and atomically: a folder with histograms.json is a complete result (report merge
    // --wait relies on it).
    write_atomic(&dir.join("histograms.json"), &report.histograms.to_json())?;

    println!("{md}");
    println!("report: {}", dir.join("report.html").display());
    Ok(())
}

/// A stress result's stage histograms, beside stress.json.
pub const STRESS_HISTOGRAMS: &str = "stress-histograms.json";

/// Writes DIR/stress.{json,md,html} (the stage reports are inside stress.json), and prints the
/// stress summary.
pub fn write_stress(dir: &Path, stress: &load::stress::StressReport) -> Result<()> {
    std::fs::write(dir.join("stress.json"), serde_json::to_vec_pretty(stress)?)?;
    write_outcomes(dir, stress.outcomes.as_ref())?;
    let md = stress.to_markdown();
    std::fs::write(dir.join("stress.md"), &md)?;
    std::fs::write(dir.join("stress.html"), stress.to_html())?;
    // Last, and atomically: every stage report's histograms, in order, so `report merge`
    // merges the replicas' stages exactly; a folder with it is a complete stress result.
    write_atomic(
        &dir.join(STRESS_HISTOGRAMS),
        &load::histograms::to_json_list(stress.stage_reports.iter().map(|r| &r.histograms)),
    )?;
    println!("{md}");
    println!("stress report: {}", dir.join("stress.json").display());
    println!("stress page: {}", dir.join("stress.html").display());
    Ok(())
}
