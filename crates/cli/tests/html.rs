//! The reports as people and CI read them: `report.html` and `stress.html` rendered in headless
//! Chromium (every section there, every chart drawn, no script error), `--junit` parsed as XML,
//! `report compare` of two real runs.
//!
//! Chromium is a prerequisite (scripts/test installs Debian's `chromium`; `PERFBED_CHROMIUM`
//! names another binary): without it these tests fail, they do not skip.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn perfbed() -> Command {
    Command::new(env!("CARGO_BIN_EXE_perfbed"))
}

/// The headings of report.html's sections, in order (the report promises all of them, always).
const SECTIONS: [&str; 14] = [
    "Accounting and cross-check",
    "Throughput",
    "Latency over time",
    "Phase latency over time",
    "Errors over time",
    "Latency",
    "Where the time goes",
    "The switch's own view",
    "Corridors",
    "Errors by code",
    "Thresholds",
    "Switch-side evidence",
    "Cost",
    "Method",
];

/// The page after Chromium loaded it and ran its script, and Chromium's log.
fn render(page: &Path) -> (String, String) {
    let chromium = std::env::var("PERFBED_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.canonicalize().unwrap().display()))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {chromium} ({e}): install Debian's chromium (scripts/test does) or set PERFBED_CHROMIUM")
        });
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success() && dom.contains("</html>"), "{log}");
    (dom, log)
}

/// `data-NAME` on the rendered `<body>`.
fn body_attr(dom: &str, name: &str) -> Option<u32> {
    let key = format!("{name}=\"");
    let body = &dom[dom.find("<body")?..];
    let body = &body[..body.find('>')?];
    let at = body.find(&key)? + key.len();
    body[at..].split('"').next()?.parse().ok()
}

/// Every chart the page has was drawn (the page's own script counts them), and no script
/// failed.
fn assert_charts_drawn(dom: &str, log: &str, at_least: u32) {
    let charts = body_attr(dom, "data-charts")
        .unwrap_or_else(|| panic!("the page's script did not run: {log}"));
    assert!(charts >= at_least, "{charts} charts");
    assert_eq!(body_attr(dom, "data-charts-drawn"), Some(charts), "{log}");
    assert!(!log.contains("Uncaught"), "a script error: {log}");
}

/// (test cases, failures, skipped, test case names) of a JUnit file, by an XML parser.
fn junit(path: &Path) -> (usize, usize, usize, Vec<String>) {
    use quick_xml::events::Event;
    let xml = std::fs::read_to_string(path).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failures, mut skipped, mut names) = (0, 0, 0, Vec::new());
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                b"testcase" => {
                    cases += 1;
                    let name = e
                        .try_get_attribute("name")
                        .unwrap()
                        .unwrap()
                        .unescape_value()
                        .unwrap()
                        .into_owned();
                    names.push(name);
                }
                b"failure" => failures += 1,
                b"skipped" => skipped += 1,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    (cases, failures, skipped, names)
}

fn only_folder(out: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n{}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A short local run without security; exit 0, or 1 when only latency thresholds failed (a
/// busy machine running a debug build is slow).
fn local(out: &Path, extra: &[&str]) -> (Output, PathBuf, serde_json::Value) {
    let security: &[&str] = if extra.contains(&"--security") {
        &[]
    } else {
        &["--security", "none"]
    };
    let run = perfbed()
        .args(["local"])
        .args(security)
        .args(["--rate", "20", "--duration"])
        .args(["5s", "--quiet", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    let dir = only_folder(out);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap())
            .unwrap_or_else(|e| panic!("{e}: {}", text(&run)));
    common::ok_but_for_speed(&run, &report);
    (run, dir, report)
}

#[test]
fn the_html_report_renders_every_section_and_chart_and_junit_counts_the_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let xml = tmp.path().join("ci/junit.xml");
    let junit_arg = xml.to_str().unwrap().to_owned();
    let (run, dir, report) = local(&out, &["--junit", &junit_arg]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("perfbed: smoke ") && last.contains("accounting adds up"),
        "the one-line summary comes last: {stdout}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("src="),
        "self-contained: nothing to fetch"
    );
    let (dom, log) = render(&dir.join("report.html"));
    for h in SECTIONS {
        assert!(
            dom.contains(&format!("<h2>{h}</h2>")),
            "{h} missing:\n{dom}"
        );
    }
    // Throughput, percentile bands, phases, errors, and where the time goes.
    assert_charts_drawn(&dom, &log, 5);
    assert!(dom.contains(
        &report["crosscheck"]["summary"]
            .as_str()
            .unwrap()
            .to_string()
    ));

    // JUnit: a test case per threshold, one for the accounting, one for the evidence (lost
    // iterations, nothing committed), one for the cross-check.
    let thresholds = report["thresholds"].as_array().unwrap();
    let failed = thresholds.iter().filter(|t| t["ok"] == false).count();
    let (cases, failures, skipped, names) = junit(&xml);
    assert_eq!(cases, thresholds.len() + 3, "{names:?}");
    assert!(names.iter().any(|n| n == "evidence"), "{names:?}");
    assert_eq!((failures, skipped), (failed, 0), "{names:?}");
    assert!(names.iter().any(|n| n == "accounting"), "{names:?}");
    assert!(names.iter().any(|n| n == "cross-check"), "{names:?}");
    assert!(
        names.iter().any(|n| n == "threshold e2e_p99_ms"),
        "{names:?}"
    );
}

#[test]
fn the_stress_page_renders_the_ramp_with_its_marks() {
    let tmp = tempfile::tempdir().unwrap();
    // p99 under 0.5 ms is impossible through the emulator: the first stage breaks, and so
    // does the recovery stage.
    let scenario = tmp.path().join("ramp.toml");
    std::fs::write(
        &scenario,
        "name = \"ramp\"\nflow = \"p2p\"\nmsisdns_per_fsp = 50\nstages = [{ rate = 1, duration = \"1s\" }]\n\
         corridors = [{ payer = \"perffsp1\", payee = \"perffsp5\", weight = 1 }]\n\
         [stress]\nstart_rate = 10\nstep = 10\nstep_duration = \"2s\"\nmax_rate = 20\nmax_p99_ms = 0.5\n\
         recovery_rate = 5\nrecovery_duration = \"2s\"\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    let xml = tmp.path().join("junit.xml");
    let run = perfbed()
        .arg("local")
        .arg(&scenario)
        .args(["--security", "none", "--quiet", "--out"])
        .arg(&out)
        .arg("--junit")
        .arg(&xml)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(1),
        "did not recover: {}",
        text(&run)
    );
    let dir = only_folder(&out);
    let (dom, log) = render(&dir.join("stress.html"));
    for h in [
        "Breaking point",
        "Ramp",
        "p99 per stage",
        "Stages",
        "Accounting and cross-check",
        "Stage reports",
    ] {
        assert!(
            dom.contains(&format!("<h2>{h}</h2>")),
            "{h} missing:\n{dom}"
        );
    }
    assert_charts_drawn(&dom, &log, 2);
    assert!(dom.contains("broke at 10/s</text>"), "{dom}");
    assert!(
        dom.contains("recovery 5/s: did not recover</text>"),
        "{dom}"
    );
    let (cases, failures, skipped, names) = junit(&xml);
    assert_eq!((cases, failures, skipped), (3, 1, 0), "{names:?}");
    assert_eq!(names, ["stress recovery", "accounting", "cross-check"]);
}

#[test]
fn compare_judges_the_slower_of_two_real_runs_worse() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, fast, _) = local(&tmp.path().join("fast"), &[]);
    // Two security modes side by side: the full one also with a slower hub.
    let (_, slow, _) = local(
        &tmp.path().join("slow"),
        &["--hub-latency", "20ms", "--security", "full"],
    );
    let json = tmp.path().join("compare.json");
    let page = tmp.path().join("compare.html");
    let cmp = perfbed()
        .args(["report", "compare"])
        .arg(&fast)
        .arg(&slow)
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&page)
        .output()
        .unwrap();
    assert!(cmp.status.success(), "{}", text(&cmp));
    let md = String::from_utf8_lossy(&cmp.stdout);
    let row = md
        .lines()
        .find(|l| l.starts_with("| e2e p50 (ms) |"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(row.ends_with("| **worse** |"), "{row}");
    // What each run was: mode and security, and what it cost in CPU.
    assert!(
        md.contains("| security | none | full (mTLS + JWS RS256) |"),
        "{md}"
    );
    assert!(md.contains("| mode | fspiop | fspiop |"), "{md}");
    let cpu = md
        .lines()
        .find(|l| l.starts_with("| CPU per committed transfer (perfbed process) (ms) |"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(!cpu.contains("| – |"), "both runs measured: {cpu}");
    assert!(
        md.contains("5 % of the baseline"),
        "the rule is stated: {md}"
    );
    let c: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = c["tables"][0]["rows"].as_array().unwrap();
    let verdict = |metric: &str| {
        rows.iter().find(|r| r["metric"] == metric).unwrap()["cells"][1]["verdict"].clone()
    };
    assert_eq!(verdict("e2e p50"), "worse");
    assert_eq!(verdict("transfer: switch p95 (in + out)"), "worse");
    assert_eq!(verdict("success"), "within_noise");
    let (dom, log) = render(&page);
    assert!(dom.contains(r#"<td class="worse">worse</td>"#), "{dom}");
    assert_eq!(
        body_attr(&dom, "data-charts"),
        Some(0),
        "no charts, script ran: {log}"
    );
    assert!(!log.contains("Uncaught"), "{log}");

    // A run of another scenario is refused, naming both; --force compares anyway.
    let other = tmp.path().join("other.json");
    let mut r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(slow.join("report.json")).unwrap()).unwrap();
    r["scenario"] = "baseline-100tps".into();
    std::fs::write(&other, serde_json::to_vec(&r).unwrap()).unwrap();
    let refused = perfbed()
        .args(["report", "compare"])
        .arg(&fast)
        .arg(&other)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(
        err.contains("ran 'smoke' (p2p)") && err.contains("ran 'baseline-100tps' (p2p)"),
        "{err}"
    );
    let forced = perfbed()
        .args(["report", "compare", "--force"])
        .arg(&fast)
        .arg(&other)
        .output()
        .unwrap();
    assert!(forced.status.success(), "{}", text(&forced));
    assert!(String::from_utf8_lossy(&forced.stdout).contains("compared anyway (--force)"));
}
