//! Helpers shared by the CLI test files (`mod common;` in each).

#![allow(dead_code, clippy::unwrap_used)] // each test file uses its own subset; a panic is the report

/// A local run exits 0, or 1 when only speed thresholds failed (e2e p95/p99, achieved ratio):
/// speed belongs to the benchmarks, and a busy 2-core machine running a debug build is slow
/// (and a 5 s window at 20/s counts ±1 commit, 1 % of the ratio). Accounting, the cross-check
/// and the success rate must hold.
pub fn ok_but_for_speed(run: &std::process::Output, report: &serde_json::Value) {
    let why = || {
        format!(
            "exit {:?}\n{}\n{}",
            run.status,
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        )
    };
    match run.status.code() {
        Some(0) => assert_eq!(report["passed"], true, "{}", why()),
        Some(1) => {
            let failed: Vec<&str> = report["thresholds"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["ok"] == false)
                .map(|t| t["name"].as_str().unwrap())
                .collect();
            assert!(
                !failed.is_empty()
                    && failed
                        .iter()
                        .all(|n| n.starts_with("e2e_p") || *n == "achieved_ratio"),
                "{failed:?}: {}",
                why()
            );
        }
        _ => panic!("{}", why()),
    }
}
