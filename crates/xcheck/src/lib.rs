//! # xcheck — the Mojaloop reference library as a test oracle
//!
//! Runs `node/oracle.js`, which calls `@mojaloop/sdk-standard-components` (the JWS and ILP code
//! of the Mojaloop SDK, testing toolkit and hub) exactly as its users do; for ISO 20022 mode also
//! `@mojaloop/ml-schema-transformer-lib` (the FSPIOP ⇄ ISO facades the switch and the SDK use)
//! and `@mojaloop/central-services-shared` (its `OpenapiBackend` on the switch's own ISO OpenAPI
//! files in `specs/`, and the header check). Loading those specs takes seconds: batch the ops of
//! a test into one call. Test-only: crates use
//! it as a dev-dependency. The npm packages live in `node/node_modules`, installed by
//! `scripts/test` (`npm ci --prefix crates/xcheck/node`). A missing library fails the test.
#![forbid(unsafe_code)]

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

/// The folder holding `oracle.js` and `node_modules`.
pub fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node")
}

/// Runs the ops through the reference library; one result per op (`Err` = it threw).
///
/// Ops are JSON objects with an `op` name and its arguments; see `node/oracle.js`.
///
/// # Panics
/// When Node or the library is missing, or the oracle itself fails: the cross-check cannot run,
/// which is a test failure, never a skip.
pub fn oracle(ops: &[Value]) -> Vec<Result<Value, String>> {
    let dir = node_dir();
    let sdk = dir.join("node_modules/@mojaloop/sdk-standard-components");
    assert!(
        sdk.is_dir(),
        "the reference library is not installed at {}: run `npm ci --prefix crates/xcheck/node` \
         (scripts/test does it)",
        sdk.display()
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let input = tmp.path().join("in.json");
    let output = tmp.path().join("out.json");
    let request = serde_json::to_vec(&json!({ "ops": ops })).expect("JSON");
    std::fs::write(&input, request).expect("write oracle input");
    let run = Command::new("node")
        .arg(dir.join("oracle.js"))
        .arg(&input)
        .arg(&output)
        .current_dir(&dir)
        .output()
        .expect("`node` must be on PATH for the reference cross-check");
    assert!(
        run.status.success(),
        "oracle.js failed: {}\n{}",
        String::from_utf8_lossy(&run.stderr),
        String::from_utf8_lossy(&run.stdout)
    );
    let out: Value = serde_json::from_slice(&std::fs::read(&output).expect("oracle output"))
        .expect("oracle JSON");
    let results = out["results"].as_array().expect("results array");
    assert_eq!(results.len(), ops.len(), "one result per op");
    results
        .iter()
        .map(|r| {
            if r["ok"] == json!(true) {
                Ok(r["value"].clone())
            } else {
                Err(r["error"].as_str().unwrap_or("?").to_owned())
            }
        })
        .collect()
}
