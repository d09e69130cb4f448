//! The `perfbed` binary as users run it: `pki` writes the key layout, `sim` starts from flags
//! alone with those keys, answers `/health`, and stops cleanly on SIGTERM.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn perfbed() -> Command {
    Command::new(env!("CARGO_BIN_EXE_perfbed"))
}

#[test]
fn pki_then_sim_with_keys_health_and_graceful_stop() {
    let dir = tempfile::tempdir().unwrap();
    let out = perfbed()
        .args(["pki", "--out"])
        .arg(dir.path())
        .args(["--fsp", "perffsp5,perffsp1", "--alg", "es256"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "perffsp5.key",
        "perffsp5.pem",
        "perffsp1.pem",
        "tls/ca.pem",
        "tls/server.pem",
        "tls/server.key",
        "tls/perffsp5.pem",
        "README.txt",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    assert!(std::fs::read_to_string(dir.path().join("README.txt"))
        .unwrap()
        .contains("TEST ONLY"));
    let cert = std::fs::read_to_string(dir.path().join("tls/perffsp5.pem")).unwrap();
    assert!(cert.contains("BEGIN CERTIFICATE"));
    // Refuses to overwrite without --force.
    let again = perfbed()
        .args(["pki", "--out"])
        .arg(dir.path())
        .args(["--fsp", "perffsp5"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let mut child = perfbed()
        .args([
            "sim",
            "--fsp",
            "perffsp5",
            "--hub",
            "http://127.0.0.1:9",
            "--listen",
            "127.0.0.1:0",
            "--keys",
        ])
        .arg(dir.path())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = Instant::now();
    let addr = loop {
        let line = lines.next().expect("sim exited early").unwrap();
        if let Some(rest) = line.strip_prefix("perffsp listening on http://") {
            assert!(line.contains("JWS on"), "{line}");
            break rest.split_whitespace().next().unwrap().to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no start banner"
        );
    };
    let health = ureq_get(&format!("http://{addr}/health"));
    assert!(health.contains("\"status\":\"OK\""), "{health}");
    assert!(health.contains("perffsp5"), "{health}");

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.starts_with("stopped:")), "{rest:?}");
}

#[test]
fn sim_explains_missing_keys_and_bad_urls() {
    let dir = tempfile::tempdir().unwrap();
    let out = perfbed()
        .args([
            "sim",
            "--fsp",
            "perffsp5",
            "--hub",
            "http://127.0.0.1:9",
            "--listen",
            "127.0.0.1:0",
            "--keys",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no private key for perffsp5") && err.contains("perfbed pki"),
        "{err}"
    );

    let out = perfbed()
        .args(["sim", "--fsp", "perffsp5", "--hub", "hub:3000", "--no-jws"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("must start with http://"));
    let out = perfbed()
        .args([
            "sim",
            "--fsp",
            "perffsp5",
            "--hub",
            "https://hub",
            "--no-jws",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--outbound-ca"));
    let out = perfbed()
        .args(["sim", "--hub", "http://hub"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "--fsp is required");
}

#[test]
fn a_simulator_whose_callbacks_fail_says_so_without_debug_logging() {
    // The hub is not there (nothing listens on port 9): every callback fails.
    let mut child = perfbed()
        .args([
            "sim",
            "--fsp",
            "perffsp5",
            "--hub",
            "http://127.0.0.1:9",
            "--listen",
            "127.0.0.1:0",
            "--no-jws",
        ])
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut reader = BufReader::new(child.stderr.take().unwrap()).lines();
    let banner = reader
        .find(|l| {
            l.as_ref()
                .is_ok_and(|l| l.starts_with("perffsp listening on http://"))
        })
        .expect("no banner")
        .unwrap();
    let addr = banner
        .strip_prefix("perffsp listening on http://")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let sink = lines.clone();
    std::thread::spawn(move || {
        for l in reader.map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
    let child = Proc(child);
    let lookups = 9;
    for i in 0..lookups {
        let (status, body) = http(
            "GET",
            &format!("http://{addr}/parties/MSISDN/25470500000{i}"),
            &[
                (
                    "accept",
                    "application/vnd.interoperability.parties+json;version=1",
                ),
                (
                    "content-type",
                    "application/vnd.interoperability.parties+json;version=1.1",
                ),
                ("date", "Tue, 01 Jul 2025 10:00:00 GMT"),
                ("fspiop-source", "perffsp1"),
            ],
            "",
        );
        assert_eq!(status, 202, "{body}");
    }
    // Counted in the metrics, and logged at warn level: the first five each, then the count
    // at every power of two (8 of 9 here).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = lines.lock().unwrap().join("\n");
        let each = text.matches("callback failed: not sent").count();
        if each == 5 && text.contains("8 callbacks failed so far") {
            assert!(
                text.lines()
                    .filter(|l| l.contains("callback"))
                    .all(|l| l.contains("WARN")),
                "{text}"
            );
            assert!(
                text.contains("http://127.0.0.1:9/parties/MSISDN/"),
                "{text}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "expected 5 warnings and a count:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let counted = format!("perffsp_callbacks_failed_total{{route=\"parties_put\"}} {lookups}");
    loop {
        let metrics = ureq_get(&format!("http://{addr}/metrics"));
        if metrics.contains(&counted) {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(child);
}

/// A minimal HTTP/1.1 request over std (the test needs no HTTP client dependency).
fn http(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    let mut req = format!(
        "{method} /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    (
        status,
        out.split_once("\r\n\r\n")
            .map(|x| x.1.to_owned())
            .unwrap_or_default(),
    )
}

fn ureq_get(url: &str) -> String {
    http("GET", url, &[], "").1
}

/// `perfbed hub` (with `hub_args`) and a payee simulator for perffsp5 pointed at it, no JWS:
/// (hub process, hub URL, simulator process, simulator address).
fn hub_and_payee(hub_args: &[&str]) -> (Proc, String, Proc, String) {
    let mut args = vec!["hub", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(hub_args);
    let (hub_p, hub) = serve(&args, "hub emulator listening on ");
    let (payee_p, payee) = serve(
        &[
            "sim",
            "--fsp",
            "perffsp5",
            "--hub",
            &hub,
            "--listen",
            "127.0.0.1:0",
            "--no-jws",
        ],
        "perffsp listening on http://",
    );
    (hub_p, hub, payee_p, payee)
}

/// Onboards perffsp1 (callbacks to `payer_callback`) and perffsp5 (the simulator at `payee`) on
/// the emulator at `hub`, and registers perffsp5's first `count` numbers.
fn onboard_and_seed(hub: &str, payer_callback: &str, payee: &str, count: u32) {
    let onboard = perfbed()
        .args(["onboard", "--admin", &format!("{hub}/admin")])
        .args(["--dfsp", &format!("perffsp1={payer_callback}")])
        .args(["--dfsp", &format!("perffsp5=http://{payee}")])
        .output()
        .unwrap();
    assert!(
        onboard.status.success(),
        "{}",
        String::from_utf8_lossy(&onboard.stderr)
    );
    let count = count.to_string();
    let seed = perfbed()
        .args(["msisdn", "seed", "--oracle", &format!("{hub}/oracle")])
        .args(["--fsp", "perffsp5", "--count", &count])
        .output()
        .unwrap();
    assert!(
        seed.status.success(),
        "{}",
        String::from_utf8_lossy(&seed.stderr)
    );
}

struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a perfbed server command and returns it with the address from its banner.
fn serve(args: &[&str], banner: &str) -> (Proc, String) {
    let mut child = perfbed()
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines
        .find(|l| l.as_ref().is_ok_and(|l| l.starts_with(banner)))
        .expect("no banner")
        .unwrap();
    std::thread::spawn(move || lines.for_each(drop));
    let addr = line
        .strip_prefix(banner)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    (Proc(child), addr)
}

#[test]
fn hub_and_two_simulators_complete_a_lookup_by_hand() {
    let (_hub, hub) = serve(
        &["hub", "--listen", "127.0.0.1:0"],
        "hub emulator listening on ",
    );
    let hub_url = hub.clone();
    let (_payer, payer) = serve(
        &[
            "sim",
            "--fsp",
            "perffsp1",
            "--hub",
            &hub_url,
            "--listen",
            "127.0.0.1:0",
            "--no-jws",
        ],
        "perffsp listening on http://",
    );
    let (_payee, payee) = serve(
        &[
            "sim",
            "--fsp",
            "perffsp5",
            "--hub",
            &hub_url,
            "--listen",
            "127.0.0.1:0",
            "--no-jws",
        ],
        "perffsp listening on http://",
    );
    let admin = format!("{hub}/admin");
    let json = [("content-type", "application/json")];
    for t in ["HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"] {
        let (s, b) = http(
            "POST",
            &format!("{admin}/participants/Hub/accounts"),
            &json,
            &format!(r#"{{"type":"{t}","currency":"XXX"}}"#),
        );
        assert_eq!(s, 201, "{b}");
    }
    assert_eq!(
        http(
            "POST",
            &format!("{admin}/settlementModels"),
            &json,
            r#"{"name":"DEFAULT"}"#
        )
        .0,
        201
    );
    for (fsp, addr) in [("perffsp1", &payer), ("perffsp5", &payee)] {
        assert_eq!(
            http(
                "POST",
                &format!("{admin}/participants"),
                &json,
                &format!(r#"{{"name":"{fsp}","currency":"XXX"}}"#)
            )
            .0,
            201
        );
        let init = r#"{"currency":"XXX","limit":{"type":"NET_DEBIT_CAP","value":1000000},"initialPosition":0}"#;
        assert_eq!(
            http(
                "POST",
                &format!("{admin}/participants/{fsp}/initialPositionAndLimits"),
                &json,
                init
            )
            .0,
            201
        );
        for (t, v) in [
            (
                "FSPIOP_CALLBACK_URL_PARTIES_GET",
                format!("http://{addr}/parties/{{{{partyIdType}}}}/{{{{partyIdentifier}}}}"),
            ),
            (
                "FSPIOP_CALLBACK_URL_PARTIES_PUT",
                format!("http://{addr}/parties/{{{{partyIdType}}}}/{{{{partyIdentifier}}}}"),
            ),
        ] {
            let (s, _) = http(
                "POST",
                &format!("{admin}/participants/{fsp}/endpoints"),
                &json,
                &format!(r#"{{"type":"{t}","value":"{v}"}}"#),
            );
            assert_eq!(s, 201);
        }
    }
    assert_eq!(
        http(
            "POST",
            &format!("{hub}/oracle/participants/MSISDN/254705000001"),
            &json,
            r#"{"fspId":"perffsp5","currency":"XXX"}"#
        )
        .0,
        201
    );
    // By hand, as perffsp1: GET /parties through the hub.
    let (s, b) = http(
        "GET",
        &format!("{hub}/parties/MSISDN/254705000001"),
        &[
            (
                "accept",
                "application/vnd.interoperability.parties+json;version=1",
            ),
            (
                "content-type",
                "application/vnd.interoperability.parties+json;version=1.1",
            ),
            ("date", "Tue, 01 Jul 2025 10:00:00 GMT"),
            ("fspiop-source", "perffsp1"),
        ],
        "",
    );
    assert_eq!(s, 202, "{b}");
    // The payee answered through the hub; the payer simulator received PUT /parties.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = ureq_get(&format!("http://{payer}/metrics"));
        if metrics.contains("perffsp_requests_total{route=\"parties_put\",status=\"200\"} 1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the payer never got PUT /parties:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn local_runs_the_whole_testbed_with_security_on_and_writes_a_valid_report() {
    let out = tempfile::tempdir().unwrap();
    let run = perfbed()
        .args([
            "local",
            "--rate",
            "20",
            "--duration",
            "6s",
            "--quiet",
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("Accounting adds up: the scheduler started 120 arrivals; 120 ended")
            && stdout.contains("cross-check agrees: driver 120 committed, hub emulator 120")
            // Counted where they happen: 120 P2P transfers sign 5 and verify 10 times each,
            // the hub 5 of the verifies.
            && stdout.contains("Counted (simulators and hub emulator): 600 JWS signs, 1200 verifies, ")
            && stdout.contains("(the hub emulator: 600 verifies, 0 signs, ")
            && stdout.contains("per committed transfer (120): 5.00 signs + 10.00 verifies (hub 5.00), ")
            && stdout.contains("; analytic JWS per p2p transfer: 5 + 10"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let dir = std::fs::read_dir(out.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    common::ok_but_for_speed(&run, &report);
    assert!(dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("smoke-"));
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/report.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft7::new(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(report["arrivals"], 120);
    assert_eq!(report["committed"], 120, "{report}");
    let tag = report["run"]["tag"].as_str().unwrap();
    assert_eq!(report["crosscheck"]["prefix"], tag);
    assert_eq!(report["crosscheck"]["switch_by_state"]["COMMITTED"], 120);
    assert_eq!(report["crosscheck"]["agrees"], true);
    // Issue 23, item 4: the counts in report.json, the hub's apart; mTLS handshakes counted on
    // both sides of each new connection.
    let ops = &report["operations"];
    assert_eq!(ops["committed"], 120, "{ops}");
    assert_eq!(ops["simulators"]["jws_signs"], 600, "{ops}");
    assert_eq!(ops["simulators"]["jws_verifies"], 600, "{ops}");
    assert_eq!(ops["hub"]["jws_verifies"], 600, "{ops}");
    assert_eq!(ops["hub"]["jws_signs"], 0, "{ops}");
    for part in ["simulators", "hub"] {
        assert!(ops[part]["tls_handshakes"].as_u64().unwrap() > 0, "{ops}");
    }
    assert_eq!(ops["per_committed"]["hub_jws_verifies"], 5.0, "{ops}");
    assert!(
        std::fs::read_to_string(dir.join("report.md"))
            .unwrap()
            .contains("per committed transfer (120): 5.00 signs + 10.00 verifies (hub 5.00)"),
        "report.md"
    );
    assert!(dir.join("report.md").is_file());
    let hist = std::fs::read_to_string(dir.join("histograms.json")).unwrap();
    assert!(
        hist.contains("\"e2e\"") && hist.contains("corridor:perffsp1→perffsp5"),
        "{hist}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("<svg")
            && html.contains(report["passed"].as_bool().map_or("", |p| if p {
                "PASSED"
            } else {
                "FAILED"
            }))
            && !html.contains("http://")
            && !html.contains("https://"),
        "self-contained"
    );
    // The same run's folder twice is not two replicas: merge refuses it.
    let merged_out = tempfile::tempdir().unwrap();
    let merge = perfbed()
        .args(["report", "merge"])
        .arg(&dir)
        .arg(&dir)
        .arg("--out")
        .arg(merged_out.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&merge.stderr);
    assert_eq!(merge.status.code(), Some(2), "{text}");
    assert!(text.contains("replica 0 appears twice"), "{text}");
    // The report of one run merges alone, unchanged in its counts.
    let merge = perfbed()
        .args(["report", "merge"])
        .arg(&dir)
        .arg("--out")
        .arg(merged_out.path())
        .output()
        .unwrap();
    let mdir = std::fs::read_dir(merged_out.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let merged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(mdir.join("report.json")).unwrap()).unwrap();
    assert!(
        validator.is_valid(&merged),
        "{}",
        String::from_utf8_lossy(&merge.stderr)
    );
    assert_eq!(merged["committed"], 120);
    assert_eq!(
        merged["latency_ms"]["e2e"]["p99"],
        report["latency_ms"]["e2e"]["p99"]
    );
    // The schema is strict: an unknown field is refused.
    let mut extra = report.clone();
    extra["surprise"] = serde_json::json!(1);
    assert!(!validator.is_valid(&extra));
}

#[test]
fn local_explains_bad_flags() {
    let run = perfbed()
        .args(["local", "--rate", "-5", "--quiet"])
        .output()
        .unwrap();
    assert!(!run.status.success());
    let run = perfbed()
        .args(["local", "/nonexistent.toml", "--quiet"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&run.stderr).contains("cannot read /nonexistent.toml"));
}

#[test]
fn run_against_a_separate_hub_after_onboard_and_msisdn_seed() {
    let (_hub, hub, _payee, payee) = hub_and_payee(&["--sweep", "1s"]);
    // The payer simulators of `perfbed run` listen on a port chosen here.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let payer_url = format!("http://127.0.0.1:{port}");
    let admin = format!("{hub}/admin");
    let onboard = |extra: &[&str]| {
        perfbed()
            .args([
                "onboard",
                "--admin",
                &admin,
                "--dfsp",
                &format!("perffsp1={payer_url}"),
                "--dfsp",
                &format!("perffsp5=http://{payee}"),
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let dry = onboard(&["--dry-run"]);
    assert!(String::from_utf8_lossy(&dry.stdout).contains("FSPIOP_CALLBACK_URL_TRANSFER_POST"));
    let first = onboard(&[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("onboarded 2 DFSPs"));
    let second = onboard(&[]);
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("nothing to change"),
        "idempotent"
    );
    // `perfbed msisdn SUB` for perffsp5's first 50 numbers through the hub's oracle.
    let msisdn = |sub: &str, extra: &[&str]| {
        perfbed()
            .args(["msisdn", sub, "--oracle", &format!("{hub}/oracle")])
            .args(["--fsp", "perffsp5", "--count", "50"])
            .args(extra)
            .output()
            .unwrap()
    };
    let seed_oracle = || msisdn("seed", &[]);
    let seed = seed_oracle();
    assert!(
        String::from_utf8_lossy(&seed.stdout).contains(
            "perffsp5: 50 numbers (254705000000 … 254705000049): 50 written, 0 already there"
        ),
        "{}",
        String::from_utf8_lossy(&seed.stderr)
    );
    let again = seed_oracle();
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 written, 50 already there"));
    let check = msisdn("check", &["--sample", "10"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("perffsp5: ok: 10/10"));

    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("two.toml");
    std::fs::write(
        &scenario,
        "name = \"two\"\nflow = \"p2p\"\nmsisdns_per_fsp = 50\nwarmup = \"1s\"\nstages = [{ rate = 20, duration = \"3s\" }]\n\
         corridors = [{ payer = \"perffsp1\", payee = \"perffsp5\", weight = 1 }]\n[thresholds]\nsuccess_rate = 99.5\n",
    )
    .unwrap();
    // `perfbed run SCENARIO` against the hub, payers on `port`, results under `out`.
    let run_scenario = |scenario: &std::path::Path, out: &std::path::Path| {
        perfbed()
            .args(["run"])
            .arg(scenario)
            .args([
                "--hub",
                &hub,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--no-jws",
                "--quiet",
                "--out",
            ])
            .arg(out)
            .output()
            .unwrap()
    };
    let run = run_scenario(&scenario, dir.path());
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("| 60 | 60 | 0 | 0 | 0 |"),
        "60 arrivals, 60 committed:\n{stdout}"
    );
    // The hub is the emulator: its own ledger is asked about this run's transfers.
    assert!(
        stdout.contains("cross-check agrees: driver 60 committed, hub emulator 60"),
        "{stdout}"
    );
    ids_are_compared_one_by_one(&hub, &only_result(dir.path()));

    // Positions moved by the run; an admin-API reset gives back the configured headroom.
    let positions = |args: &[&str]| {
        let out = perfbed()
            .args(["positions"])
            .args(args)
            .args(["--admin", &admin, "--fsp", "perffsp1,perffsp5"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let rows = |text: &str| -> Vec<serde_json::Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let before = rows(&positions(&["show", "--json"]));
    let moved: f64 = before[0]["position"].as_str().unwrap().parse().unwrap();
    assert!(
        moved > 0.0,
        "the payer owes the hub after 60 transfers: {before:?}"
    );
    assert_eq!(
        before[1]["position"].as_str().unwrap(),
        format!("-{}", before[0]["position"].as_str().unwrap())
    );
    assert!(positions(&["show"]).contains("liquidity headroom"));
    let dry = positions(&["reset", "--dry-run"]);
    assert!(
        dry.contains("would change perffsp1: settlement -100000000 -> "),
        "{dry}"
    );
    assert_eq!(
        rows(&positions(&["show", "--json"])),
        before,
        "a dry run changes nothing"
    );
    let reset = positions(&["reset"]);
    assert!(reset.contains("reset 2 FSPs (4 changes)"), "{reset}");
    for r in rows(&positions(&["show", "--json"])) {
        assert_eq!(r["liquidityHeadroom"], "100000000", "{r}");
        assert_eq!(r["ndcHeadroom"], "10000000", "{r}");
    }
    assert!(positions(&["reset"]).contains("nothing to change"));

    // A scenario with [stress] through `perfbed run` is a stress run, as under `local`.
    let stress = dir.path().join("ramp.toml");
    std::fs::write(
        &stress,
        "name = \"ramp\"\nflow = \"p2p\"\nmsisdns_per_fsp = 50\nstages = [{ rate = 1, duration = \"1s\" }]\n\
         corridors = [{ payer = \"perffsp1\", payee = \"perffsp5\", weight = 1 }]\n\
         [stress]\nstart_rate = 10\nstep = 10\nstep_duration = \"2s\"\nmax_rate = 20\n",
    )
    .unwrap();
    let out = dir.path().join("stress-out");
    let run = run_scenario(&stress, &out);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let folder = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("stress.json")).unwrap())
            .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert!(folder.join("stress.md").is_file());
    assert!(!folder.join("report.json").exists(), "not a plain run");
    let arrivals: Vec<u64> = json["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["arrivals"].as_u64().unwrap())
        .collect();
    assert_eq!(arrivals, vec![20, 40], "{stdout}");
    assert_eq!(json["crosscheck"]["agrees"], true, "{stdout}");
    assert!(
        stdout.contains("perfbed stress to failure — ramp"),
        "{stdout}"
    );
}

/// Issue 23, item 3: the cross-check compares the run's transfers id by id. `result` is a
/// run of 60 committed arrivals against the emulator at `hub`. The emulator's own list of the
/// run's ids is the independent side: the report's comparison must cover exactly those ids;
/// then the driver's outcomes file is edited the way the issue describes — one committed
/// arrival turned rejected, and one arrival the driver never made added as committed, so the
/// counts still agree (60 and 60) — and `report merge` against the same hub must fail, naming
/// the two ids with their states on each side.
fn ids_are_compared_one_by_one(hub: &str, result: &std::path::Path) {
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(result.join("report.json")).unwrap()).unwrap();
    let tag = report["run"]["tag"].as_str().unwrap().to_owned();
    let ids = &report["crosscheck"]["ids"];
    assert_eq!(ids["switch_ids"], 60, "{ids}");
    assert_eq!(ids["driver_committed"], 60, "{ids}");
    assert_eq!(ids["switch_committed"], 60, "{ids}");
    assert_eq!(ids["mismatches"], 0, "{ids}");
    assert_eq!(ids["equal"], true, "{ids}");
    // The hub's own list, in two pages.
    let page = |after: Option<&str>| -> serde_json::Value {
        let mut url = format!("{hub}/admin/perfbed/transfers/ids?prefix={tag}&limit=40");
        if let Some(a) = after {
            url.push_str(&format!("&after={a}"));
        }
        serde_json::from_str(&ureq_get(&url)).unwrap()
    };
    let first = page(None);
    let next = first["next"].as_str().unwrap().to_owned();
    let second = page(Some(&next));
    assert!(second["next"].is_null(), "{second}");
    let on_hub: Vec<(String, String)> = [&first, &second]
        .iter()
        .flat_map(|p| p["transfers"].as_array().unwrap().clone())
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                t["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(on_hub.len(), 60);
    assert!(on_hub.windows(2).all(|w| w[0].0 < w[1].0), "in id order");
    assert!(on_hub
        .iter()
        .all(|(id, s)| id.starts_with(&tag) && s == "COMMITTED"));

    // The outcomes file: a 29-byte header (magic, tag, nonce, API, stamp, replicas, length),
    // then one byte per arrival (1 committed, 3 rejected).
    let mut bytes = std::fs::read(result.join("outcomes.bin")).unwrap();
    assert_eq!(&bytes[..8], b"PBOUTC01");
    assert_eq!(bytes.len(), 29 + 60);
    assert!(bytes[29..].iter().all(|b| *b == 1), "60 committed");
    let part = tempfile::tempdir().unwrap();
    for f in ["report.json", "histograms.json"] {
        std::fs::copy(result.join(f), part.path().join(f)).unwrap();
    }
    let merge = |bytes: &[u8]| {
        std::fs::write(part.path().join("outcomes.bin"), bytes).unwrap();
        let out = tempfile::tempdir().unwrap();
        let o = perfbed()
            .args(["report", "merge"])
            .arg(part.path())
            .args(["--hub-admin", &format!("{hub}/admin"), "--out"])
            .arg(out.path())
            .output()
            .unwrap();
        let folder = only_result(out.path());
        let mut merged: serde_json::Value =
            serde_json::from_slice(&std::fs::read(folder.join("report.json")).unwrap()).unwrap();
        merged["__md"] = std::fs::read_to_string(folder.join("report.md"))
            .unwrap()
            .into();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            merged,
        )
    };
    let (code, said, merged) = merge(&bytes);
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(merged["crosscheck"]["ids"]["equal"], true, "{said}");
    // Arrival 7 rejected; arrival 60 (never made) committed: 60 committed by count still.
    bytes[29 + 7] = 3;
    bytes.push(1);
    bytes[21..29].copy_from_slice(&61u64.to_be_bytes());
    let (code, said, merged) = merge(&bytes);
    assert_eq!(code, Some(1), "{said}");
    let c = &merged["crosscheck"];
    assert_eq!(c["driver_committed"], 60, "the counts alone agree: {c}");
    assert_eq!(c["switch_committed"], 60, "{c}");
    assert_eq!(c["agrees"], false, "{c}");
    assert_eq!(c["ids"]["mismatches"], 2, "{c}");
    let switch_side = c["ids"]["switch_side"].as_array().unwrap();
    let driver_side = c["ids"]["driver_side"].as_array().unwrap();
    assert_eq!((switch_side.len(), driver_side.len()), (1, 1), "{c}");
    // The switch committed it, the driver says rejected: one of the hub's ids.
    let rejected = switch_side[0]["id"].as_str().unwrap();
    assert!(on_hub.iter().any(|(id, _)| id == rejected), "{c}");
    assert_eq!(switch_side[0]["driver"], "rejected");
    assert_eq!(switch_side[0]["switch"], "COMMITTED");
    // The driver says committed, the switch has no such transfer: not one of the hub's ids,
    // but one of this run's.
    let missing = driver_side[0]["id"].as_str().unwrap();
    assert!(missing.starts_with(&tag), "{c}");
    assert!(on_hub.iter().all(|(id, _)| id != missing), "{c}");
    assert_eq!(driver_side[0]["switch"], "absent");
    assert!(
        said.contains("CROSS-CHECK FAILED: 2 ids differ")
            && said.contains(rejected)
            && said.contains(missing),
        "{said}"
    );
    let md = &merged["__md"];
    assert!(
        md.as_str()
            .unwrap()
            .contains(&format!("| `{rejected}` | rejected | COMMITTED |"))
            && md
                .as_str()
                .unwrap()
                .contains(&format!("| `{missing}` | committed | absent |")),
        "{md}"
    );
}

/// A hub emulator (started with `hub_args`) and `fsp` onboarded with a free loopback address
/// as its callback base, for `msisdn --via als` to listen on: the ALS answers bulk
/// registrations with PUT /participants/{requestId} to the FSP's PARTICIPANT_BATCH_PUT endpoint.
/// Returns the hub (keep it alive), its URL and the listen address.
fn hub_with_als_listener(hub_args: &[&str], fsp: &str) -> (Proc, String, String) {
    let (proc, hub) = serve(hub_args, "hub emulator listening on ");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let out = perfbed()
        .args(["onboard", "--admin", &format!("{hub}/admin")])
        .args(["--dfsp", &format!("{fsp}=http://{listen}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (proc, hub, listen)
}

/// `perfbed msisdn CMD --via als` against `hub`, listening on `listen`, for `fsp`'s first
/// `count` numbers: exit code, stdout, stderr.
fn msisdn_via_als(
    hub: &str,
    listen: &str,
    fsp: &str,
    cmd: &str,
    count: &str,
    extra: &[&str],
) -> (Option<i32>, String, String) {
    let out = perfbed()
        .env_remove("PERFBED_API")
        .args(["msisdn", cmd, "--via", "als", "--als", hub])
        .args(["--callback-listen", listen, "--fsp", fsp, "--count", count])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn msisdn_seed_and_check_through_the_als_with_its_callbacks() {
    let (_hub, hub, listen) =
        hub_with_als_listener(&["hub", "--listen", "127.0.0.1:0"], "perffsp6");
    let via_als = |cmd: &str, count: &str, extra: &[&str]| {
        msisdn_via_als(&hub, &listen, "perffsp6", cmd, count, extra)
    };
    // The emulator answers the bulk POST /participants with 200, as the real ALS does (its API
    // definition says 202): seeding accepts any 2xx.
    let (code, first, err) = via_als("seed", "25000", &[]);
    assert_eq!(code, Some(0), "{first}{err}");
    assert!(
        first.contains("perffsp6: 25000 numbers (254706000000 … 254706024999): 25000 written, 0 already there, 0 refused"),
        "{first}"
    );
    let (_, again, _) = via_als("seed", "25000", &[]);
    assert!(again.contains("0 written, 25000 already there"), "{again}");
    let (code, check, err) = via_als("check", "25000", &["--sample", "20"]);
    assert_eq!(code, Some(0), "{check}{err}");
    assert!(check.contains("perffsp6: ok: 20/20"), "{check}");
    // Numbers past the seeded range are missing: check says so and fails.
    let (code, check, _) = via_als("check", "30000", &["--sample", "3"]);
    assert_eq!(code, Some(1), "{check}");
    assert!(check.contains("missing: 254706029999"), "{check}");
    // The callback listener stays on loopback unless told otherwise.
    let help = perfbed()
        .args(["msisdn", "seed", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("[default: 127.0.0.1:4099]"), "{help}");
}

/// Issue 25, item 5: an ALS with oracles per currency (the emulator's `--als-oracles`, as the
/// real account-lookup-service keeps them) answers perfbed's bulk registration, which names
/// the currency, with 3003 "Oracle type:MSISDN not found" by error callback until an oracle
/// for MSISDN in that currency is registered — one without a currency is not enough. The seed
/// error names the callback, the listener, the FSPIOP code and the oracle to register; no HTTP
/// status 0.
#[test]
fn msisdn_seed_through_the_als_says_which_oracle_to_register() {
    let (_hub, hub, listen) = hub_with_als_listener(
        &["hub", "--listen", "127.0.0.1:0", "--als-oracles"],
        "perffsp6",
    );
    let seed = || msisdn_via_als(&hub, &listen, "perffsp6", "seed", "20", &[]);
    let refused = |why: &str| {
        let (code, out, err) = seed();
        assert_ne!(code, Some(0), "{why}: {out}{err}");
        for want in [
            "POST ",
            "as perffsp6 (20 numbers, currency XXX)",
            "FSPIOP error 3003 \"Add Party information error - Oracle type:MSISDN not found\"",
            "/error at the listener ",
            listen.as_str(),
            "POST /oracles on the ALS admin API",
            "\"oracleIdType\": \"MSISDN\"",
            "\"currency\": \"XXX\"",
        ] {
            assert!(err.contains(want), "{why}: no {want:?} in: {err}");
        }
        assert!(!err.contains("answered 0"), "{err}");
    };
    refused("no oracle at all");
    let register = |body: &str| {
        let (status, text) = http(
            "POST",
            &format!("{hub}/als-admin/oracles"),
            &[("content-type", "application/json")],
            body,
        );
        assert_eq!(status, 201, "{text}");
    };
    let oracle = format!("{hub}/oracle");
    register(&format!(
        r#"{{"oracleIdType":"MSISDN","endpoint":{{"value":"{oracle}","endpointType":"URL"}},"isDefault":true}}"#
    ));
    refused("an MSISDN oracle without a currency");
    register(&format!(
        r#"{{"oracleIdType":"MSISDN","endpoint":{{"value":"{oracle}","endpointType":"URL"}},"currency":"XXX","isDefault":true}}"#
    ));
    let (code, out, err) = seed();
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("20 written"), "{out}");
}

/// Issue 25, item 5: `msisdn seed --via als --keys DIR` signs each request with the FSP's key
/// (as `perfbed sim --keys`), so an ALS that validates signatures takes it; unsigned, it is
/// refused with 3105 and seed names the fix.
#[test]
fn msisdn_seed_through_a_validating_als_signs_with_keys() {
    let keys = tempfile::tempdir().unwrap();
    let pki = perfbed()
        .args(["pki", "--out"])
        .arg(keys.path())
        .args(["--fsp", "perffsp6", "--force"])
        .output()
        .unwrap();
    assert!(
        pki.status.success(),
        "{}",
        String::from_utf8_lossy(&pki.stderr)
    );
    let k = keys.path().to_str().unwrap();
    let (_hub, hub, listen) =
        hub_with_als_listener(&["hub", "--listen", "127.0.0.1:0", "--keys", k], "perffsp6");
    let (code, out, err) = msisdn_via_als(&hub, &listen, "perffsp6", "seed", "20", &[]);
    assert_ne!(code, Some(0), "unsigned and accepted: {out}{err}");
    assert!(
        err.contains("FSPIOP error 3105") && err.contains("give --keys DIR with perffsp6.key"),
        "{err}"
    );
    let (code, out, err) = msisdn_via_als(&hub, &listen, "perffsp6", "seed", "20", &["--keys", k]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("20 written"), "{out}");
    let (code, out, err) = msisdn_via_als(
        &hub,
        &listen,
        "perffsp6",
        "check",
        "20",
        &["--keys", k, "--sample", "3"],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let help = perfbed()
        .args(["msisdn", "seed", "--help"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("--keys <DIR>"),
        "the flag is documented"
    );
}

/// Issue 25, item 5: preflight checks that the ALS has an oracle for MSISDN in the testbed's
/// currency (`hub.als_admin`), and tells the ALS's endpoint cache apart from wrong onboarding
/// when the ALS's answer does not reach the payee's simulator: after seeding through the ALS
/// with a temporary listener and onboarding again, the hub has the right endpoint and the ALS
/// a cached one (the emulator's `--als-endpoint-cache`, as the real ALS keeps them ~3 min).
#[test]
fn preflight_checks_the_als_oracle_and_tells_its_endpoint_cache_from_wrong_onboarding() {
    let (_hub, hub, _payee, payee) =
        hub_and_payee(&["--als-oracles", "--als-endpoint-cache", "10m"]);
    let listen = format!("127.0.0.1:{}", closed_port());
    let dir = tempfile::tempdir().unwrap();
    let write_testbed = |name: &str, als_admin: &str| {
        let p = dir.path().join(name);
        std::fs::write(
            &p,
            format!(
                "msisdns = 20\n[hub]\nadmin = \"{hub}/admin\"\noracle = \"{hub}/oracle\"\nals_admin = \"{als_admin}\"\n\
                 [[dfsp]]\nid = \"perffsp1\"\ncallback = \"http://127.0.0.1:9\"\n\
                 [[dfsp]]\nid = \"perffsp5\"\ncallback = \"http://{payee}\"\n"
            ),
        )
        .unwrap();
        p.to_str().unwrap().to_owned()
    };
    let t = write_testbed("testbed.toml", &format!("{hub}/als-admin"));
    let run = |args: &[&str]| {
        let o = perfbed().args(args).output().unwrap();
        (
            o.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    };
    let preflight = |t: &str| {
        run(&[
            "preflight",
            "--testbed",
            t,
            "--hub",
            &hub,
            "--no-jws-expected",
        ])
    };
    let register = |hub: &str, currency: &str| {
        let (status, text) = http(
            "POST",
            &format!("{hub}/als-admin/oracles"),
            &[("content-type", "application/json")],
            &format!(
                r#"{{"oracleIdType":"MSISDN","endpoint":{{"value":"{hub}/oracle","endpointType":"URL"}},{currency}"isDefault":true}}"#
            ),
        );
        assert_eq!(status, 201, "{text}");
    };
    // Seeding through the ALS, with perffsp5's endpoints at a temporary listener. (A lookup
    // before it would have made the ALS cache the simulator's endpoints, and the seeding's
    // answers would have gone there: the real ALS does the same.)
    register(&hub, r#""currency":"XXX","#);
    let onboard_at = |url: &str| {
        run(&[
            "onboard",
            "--admin",
            &format!("{hub}/admin"),
            "--dfsp",
            "perffsp1=http://127.0.0.1:9",
            "--dfsp",
            &format!("perffsp5={url}"),
        ])
    };
    assert_eq!(onboard_at(&format!("http://{listen}")).0, Some(0));
    let (code, out, err) = msisdn_via_als(&hub, &listen, "perffsp5", "seed", "20", &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    // Onboarded back to the simulator: the hub is right, the ALS's cache is not.
    assert_eq!(run(&["onboard", "--testbed", &t]).0, Some(0));
    let (code, out) = preflight(&t);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("ok    ALS has an oracle for MSISDN in XXX"),
        "{out}"
    );
    assert!(
        out.contains("ok    perffsp5 onboarded, every P2P endpoint set"),
        "{out}"
    );
    assert!(
        out.contains("no answer reached perffsp5's simulator")
            && out.contains("the ALS still uses the endpoint it cached")
            && out.contains("onboarding again does not help"),
        "{out}"
    );
    // Onboarded wrongly: the hub itself points elsewhere, and preflight says to onboard.
    assert_eq!(onboard_at("http://127.0.0.1:9").0, Some(0));
    let (code, out) = preflight(&t);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("not at its simulator")
            && out.contains("onboard perffsp5 with its simulator as callback")
            && !out.contains("the ALS still uses the endpoint it cached"),
        "{out}"
    );
    // An ALS without an oracle for MSISDN, then with one without a currency: preflight says
    // which to register.
    let (_bare, bare) = serve(
        &["hub", "--listen", "127.0.0.1:0", "--als-oracles"],
        "hub emulator listening on ",
    );
    let t2 = write_testbed("bare.toml", &format!("{bare}/als-admin"));
    let (code, out) = preflight(&t2);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("FAIL  ALS has an oracle for MSISDN in XXX")
            && out.contains("none for MSISDN at all")
            && out.contains("\"currency\": \"XXX\""),
        "{out}"
    );
    register(&bare, "");
    let (_, out) = preflight(&t2);
    assert!(
        out.contains("MSISDN oracles only for no currency")
            && out.contains("fails with 3003")
            && out.contains(&format!("POST {bare}/als-admin/oracles")),
        "{out}"
    );
}

/// An ALS in ISO 20022 mode (`API_TYPE=iso20022`) refuses the FSPIOP media types on every
/// resource, participants included: `msisdn seed --via als --api iso20022` sends the ISO ones
/// (the participants bodies are the same in both modes), and without `--api` the emulator
/// refuses the registration with 3101 and seed says so.
#[test]
fn msisdn_seed_through_an_iso20022_als() {
    let (_hub, hub, listen) = hub_with_als_listener(
        &["hub", "--listen", "127.0.0.1:0", "--api", "iso20022"],
        "perffsp7",
    );
    // The helper clears PERFBED_API, so the first call speaks FSPIOP.
    let seed = |extra: &[&str]| msisdn_via_als(&hub, &listen, "perffsp7", "seed", "50", extra);
    let (code, out, err) = seed(&[]);
    assert_ne!(
        code,
        Some(0),
        "FSPIOP media types accepted by an ISO ALS: {out}{err}"
    );
    assert!(err.contains("3101"), "{out}{err}");
    let (code, out, err) = seed(&["--api", "iso20022"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("perffsp7: 50 numbers (254707000000 … 254707000049): 50 written"),
        "{out}"
    );
}

/// A TCP round-robin balancer, per connection, like a Kubernetes Service in front of pods.
fn round_robin(backends: Vec<String>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(client) = conn else { continue };
            let Ok(server) = std::net::TcpStream::connect(&backends[n % backends.len()]) else {
                continue;
            };
            let pipe = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            };
            pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
            pipe(server, client);
        }
    });
    addr
}

/// Driver replicas on ephemeral ports, whose callbacks reach them through ONE address that
/// spreads connections over them (like a Kubernetes Service in front of pods).
struct Replicas {
    addrs: Vec<String>,
    service: String,
    /// Per replica: its simulator's wall clock shifted by this many ms (the hidden test-only
    /// `--test-clock-shift-ms`, through its environment variable).
    clock_shift_ms: Vec<i64>,
}

impl Replicas {
    fn new(n: usize) -> Replicas {
        let addrs: Vec<String> = (0..n)
            .map(|_| {
                let p = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port();
                format!("127.0.0.1:{p}")
            })
            .collect();
        let service = round_robin(addrs.clone());
        Replicas {
            addrs,
            service,
            clock_shift_ms: vec![0; n],
        }
    }

    /// Runs `scenario` on every replica (run id `id`, each waiting for `start_at`, Unix
    /// seconds) with results under OUT/r<i>; every replica must pass. Their result folders
    /// (named `<name>-replica<i>-…`) and the callbacks they relayed, in all.
    fn run(
        &self,
        hub: &str,
        scenario: &std::path::Path,
        name: &str,
        id: &str,
        start_at: u64,
        out: &std::path::Path,
    ) -> (Vec<std::path::PathBuf>, u64) {
        let n = self.addrs.len();
        let peers = self
            .addrs
            .iter()
            .map(|r| format!("http://{r}"))
            .collect::<Vec<_>>()
            .join(",");
        let children: Vec<_> = (0..n)
            .map(|i| {
                perfbed()
                    .args(["run"])
                    .arg(scenario)
                    .args(["--hub", hub, "--listen", &self.addrs[i], "--no-jws"])
                    .args([
                        "--run-id",
                        id,
                        "--replica",
                        &format!("{i}/{n}"),
                        "--peers",
                        &peers,
                        "--linger",
                        "2s",
                        "--start-at",
                        &start_at.to_string(),
                        // The bound on a peer clock's uncertainty for a test machine that may
                        // be loaded (a cluster's round trips are far below the 20 ms default).
                        "--max-clock-uncertainty",
                        "250ms",
                    ])
                    .env(
                        "PERFBED_TEST_CLOCK_SHIFT_MS",
                        self.clock_shift_ms[i].to_string(),
                    )
                    .arg("--out")
                    .arg(out.join(format!("r{i}")))
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut relayed = 0u64;
        let mut result_dirs = Vec::new();
        for (i, c) in children.into_iter().enumerate() {
            let ran = c.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&ran.stderr);
            assert!(
                ran.status.success(),
                "replica {i}: {}\n{stderr}",
                String::from_utf8_lossy(&ran.stdout)
            );
            let line = stderr
                .lines()
                .find(|l| l.starts_with(&format!("replica {i}/{n}: relayed ")))
                .unwrap_or_else(|| panic!("{stderr}"));
            relayed += line
                .split_whitespace()
                .nth(3)
                .unwrap()
                .parse::<u64>()
                .unwrap();
            let sub = only_result(&out.join(format!("r{i}")));
            assert!(
                sub.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{name}-replica{i}-")),
                "{}",
                sub.display()
            );
            result_dirs.push(sub);
        }
        (result_dirs, relayed)
    }
}

/// A start time a few seconds ahead, Unix seconds: every replica waits for it.
fn start_soon() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 4
}

/// A report's `started`, Unix seconds.
fn started_s(report: &serde_json::Value) -> f64 {
    let t = time::OffsetDateTime::parse(
        report["started"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    t.unix_timestamp_nanos() as f64 / 1e9
}

#[test]
fn three_driver_replicas_behind_one_address_merge_into_one_exact_report() {
    let (_hub, hub, _payee, payee) = hub_and_payee(&[]);
    let replicas = Replicas::new(3);
    onboard_and_seed(&hub, &format!("http://{}", replicas.service), &payee, 90);

    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("dist.toml");
    std::fs::write(
        &scenario,
        "name = \"dist\"\nflow = \"p2p\"\nmsisdns_per_fsp = 90\nwarmup = \"1s\"\nstages = [{ rate = 40, duration = \"4s\" }]\n\
         corridors = [{ payer = \"perffsp1\", payee = \"perffsp5\", weight = 1 }]\n[thresholds]\nsuccess_rate = 99.5\n",
    )
    .unwrap();
    let start_at = start_soon();
    let (result_dirs, relayed) =
        replicas.run(&hub, &scenario, "dist", "dist-1", start_at, dir.path());
    let report = |d: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(d.join("report.json")).unwrap()).unwrap()
    };
    for (i, d) in result_dirs.iter().enumerate() {
        let r = report(d);
        // Arrival indexes ≡ i (mod 3) of 160: 54, 53, 53.
        assert_eq!(r["committed"], [54, 53, 53][i], "replica {i}: {r}");
        // Every replica waited for the start time (--start-at) before it began.
        assert!(
            started_s(&r) >= start_at as f64,
            "replica {i} started at {} before --start-at {start_at}",
            r["started"]
        );
    }
    assert!(
        relayed > 0,
        "callbacks landed on the wrong replica and were relayed"
    );

    let merged_out = dir.path().join("merged");
    let merge = perfbed()
        .args(["report", "merge"])
        // The parent of the replicas' folders, as a collector in a cluster sees it.
        .arg(dir.path())
        .args(["--expect", "3", "--wait", "10s"])
        .args(["--hub-admin", &format!("{hub}/admin")])
        .arg("--out")
        .arg(&merged_out)
        .output()
        .unwrap();
    assert!(
        merge.status.success(),
        "{}",
        String::from_utf8_lossy(&merge.stderr)
    );
    // The merged run, cross-checked against the hub's ledger by its run tag.
    let said = String::from_utf8_lossy(&merge.stdout);
    assert!(
        said.contains("cross-check agrees: driver 160 committed, hub emulator 160"),
        "{said}"
    );
    let merged_dir = std::fs::read_dir(&merged_out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(merged_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(m["replicas"], 3);
    assert_eq!(m["run"]["id"], "dist-1");
    // Id by id over the union of the three replicas' outcomes (issue 23, item 3): the hub's
    // 160 transfers are the drivers' 160 committed, none of another run.
    let ids = &m["crosscheck"]["ids"];
    assert_eq!(
        (
            &ids["switch_ids"],
            &ids["driver_committed"],
            &ids["other_ids"],
            &ids["equal"]
        ),
        (
            &serde_json::json!(160),
            &serde_json::json!(160),
            &serde_json::json!(0),
            &serde_json::json!(true)
        ),
        "{ids}"
    );
    assert_eq!(m["run"]["replica_indices"], serde_json::json!([0, 1, 2]));
    assert_eq!(
        m["committed"], 160,
        "every arrival of the whole schedule, exactly once: {m}"
    );
    // The schedule has 160 arrivals: the replicas' schedulers started exactly those.
    assert_eq!(m["arrivals"], 160);
    // Each replica's timeline carries its own third of the target: they add up to 40/s.
    let second = &m["timeline"][1];
    assert!(
        (second["target_rate"].as_f64().unwrap() - 40.0).abs() < 1e-6,
        "{second}"
    );
    // One replica's folder twice (a retried pod) and another missing: refused, named.
    let twice = perfbed()
        .args(["report", "merge"])
        .arg(&result_dirs[0])
        .arg(&result_dirs[1])
        .arg(&result_dirs[1])
        .arg("--out")
        .arg(dir.path().join("bad"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&twice.stderr);
    assert_eq!(twice.status.code(), Some(2), "{err}");
    assert!(err.contains("replica 1 appears twice"), "{err}");
    let missing = perfbed()
        .args(["report", "merge"])
        .arg(&result_dirs[0])
        .arg(&result_dirs[2])
        .arg("--out")
        .arg(dir.path().join("bad"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("missing replica(s) 1"), "{err}");
    assert_eq!(m["passed"], true);
    // The merged histograms are the union of the replicas': same count, same extremes.
    let hist = |d: &std::path::Path| {
        load::histograms::HistogramSet::from_json(
            &std::fs::read(d.join("histograms.json")).unwrap(),
        )
        .unwrap()
        .by_name
        .remove("e2e")
        .unwrap()
    };
    let parts: Vec<_> = result_dirs.iter().map(|d| hist(d)).collect();
    let whole = hist(&merged_dir);
    assert_eq!(whole.len(), parts.iter().map(|h| h.len()).sum::<u64>());
    assert_eq!(whole.max(), parts.iter().map(|h| h.max()).max().unwrap());
    assert_eq!(whole.min(), parts.iter().map(|h| h.min()).min().unwrap());
    let mut union = parts[0].clone();
    union.add(&parts[1]).unwrap();
    union.add(&parts[2]).unwrap();
    assert_eq!(whole.value_at_quantile(0.99), union.value_at_quantile(0.99));

    // Replicas that ran at different times do not add up (issue 24): replica 2's result
    // moved later by a share of its window is refused below 90 % overlap, naming the pairs
    // and by how much; moved by 5 % it still merges.
    let r2 = report(&result_dirs[2]);
    let w = &r2["method"]["window_s"];
    let window = w[1].as_f64().unwrap() - w[0].as_f64().unwrap();
    let shifted = |share: f64| {
        let to = dir.path().join(format!("shifted-{share}"));
        std::fs::create_dir_all(&to).unwrap();
        for f in ["histograms.json", "outcomes.bin"] {
            std::fs::copy(result_dirs[2].join(f), to.join(f)).unwrap();
        }
        let mut r = r2.clone();
        let t = time::OffsetDateTime::parse(
            r["started"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
            + Duration::from_secs_f64(window * share);
        r["started"] = serde_json::json!(t
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap());
        std::fs::write(to.join("report.json"), serde_json::to_vec(&r).unwrap()).unwrap();
        perfbed()
            .args(["report", "merge"])
            .arg(&result_dirs[0])
            .arg(&result_dirs[1])
            .arg(&to)
            .arg("--out")
            .arg(dir.path().join(format!("merged-{share}")))
            .output()
            .unwrap()
    };
    let apart = shifted(0.5);
    let err = String::from_utf8_lossy(&apart.stderr);
    assert_eq!(apart.status.code(), Some(2), "{err}");
    assert!(
        err.contains("measured windows overlap less than 90 %"),
        "{err}"
    );
    for pair in ["replicas 0 and 2 overlap", "replicas 1 and 2 overlap"] {
        assert!(err.contains(pair), "{pair}: {err}");
    }
    assert!(!err.contains("replicas 0 and 1 overlap"), "{err}");
    // How much: 0 and 2 share about half the window (the replicas' own starts differ by
    // little after waiting for one start time).
    let pct: f64 = err
        .split("replicas 0 and 2 overlap ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!((30.0..70.0).contains(&pct), "{err}");
    let near = shifted(0.05);
    assert!(
        near.status.success(),
        "{}",
        String::from_utf8_lossy(&near.stderr)
    );
}

/// Issue 24, clocks: three replicas, replica 1's clock 2 s ahead of the others'. Callbacks
/// relayed between replicas carry the relaying replica's receipt time; each replica measures
/// its peers' clocks on the relay link and converts with them, so (1) every replica measures
/// replica 1's offset as +2 s (replica 1 the others' as −2 s) within the uncertainty it
/// states, (2) callbacks were relayed into replica 1 and converted, (3) no converted receipt
/// falls before its request was sent and no replica's end-to-end median is off by the 2 s
/// (taken as replica 1's own clock, the others' receipt times would make its callbacks 2 s
/// early: before their requests, latency 0), (4) each report and the merged one state the
/// offsets, and a merged run whose offsets are unknown or too uncertain fails.
#[test]
fn three_driver_replicas_one_clock_2s_ahead_measure_and_correct_the_offset() {
    let (_hub, hub, _payee, payee) = hub_and_payee(&[]);
    let mut replicas = Replicas::new(3);
    replicas.clock_shift_ms[1] = 2000;
    onboard_and_seed(&hub, &format!("http://{}", replicas.service), &payee, 90);
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("clocks.toml");
    std::fs::write(
        &scenario,
        "name = \"clocks\"\nflow = \"p2p\"\nmsisdns_per_fsp = 90\nwarmup = \"1s\"\nstages = [{ rate = 40, duration = \"4s\" }]\n\
         corridors = [{ payer = \"perffsp1\", payee = \"perffsp5\", weight = 1 }]\n[thresholds]\nsuccess_rate = 99.5\n",
    )
    .unwrap();
    // Every replica must pass: Replicas::run asserts it.
    let (result_dirs, relayed) = replicas.run(
        &hub,
        &scenario,
        "clocks",
        "clocks-1",
        start_soon(),
        dir.path(),
    );
    assert!(relayed > 0, "nothing was relayed");
    let report = |d: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(d.join("report.json")).unwrap()).unwrap()
    };
    let mut into_shifted = 0;
    for (i, d) in result_dirs.iter().enumerate() {
        let r = report(d);
        let clocks = r["clocks"].as_array().unwrap_or_else(|| panic!("{r}"));
        assert_eq!(clocks.len(), 1, "{r}");
        let c = &clocks[0];
        assert_eq!(c["replica"], i, "{c}");
        assert_eq!(c["max_uncertainty_ms"], 250.0, "{c}");
        let peers = c["peers"].as_array().unwrap();
        let expect: Vec<usize> = (0..3).filter(|p| *p != i).collect();
        assert_eq!(
            peers
                .iter()
                .map(|p| p["peer"].as_u64().unwrap() as usize)
                .collect::<Vec<_>>(),
            expect,
            "{c}"
        );
        for p in peers {
            let peer = p["peer"].as_u64().unwrap() as usize;
            let truth = (replicas.clock_shift_ms[peer] - replicas.clock_shift_ms[i]) as f64;
            let offset = p["offset_ms"].as_f64().unwrap_or_else(|| panic!("{p}"));
            let u = p["uncertainty_ms"].as_f64().unwrap();
            // Within the stated uncertainty (plus the two clock reads' gap, well under 1 ms).
            assert!(
                (offset - truth).abs() <= u + 1.0,
                "replica {i} measured replica {peer}'s clock at {offset} ms ±{u}, truly {truth}: {p}"
            );
            assert!(p["samples"].as_u64().unwrap() > 0, "{p}");
            assert_eq!(p["before_send"], 0, "replica {i}: {p}");
            if peer != 1 && i == 1 {
                into_shifted += p["relayed"].as_u64().unwrap();
            }
        }
        let e2e = &r["latency_ms"]["e2e"];
        let p50 = e2e["p50"].as_f64().unwrap();
        // Not moved by the 2 s either way: above zero (callbacks taken 2 s early make 0),
        // far below 2 s (one taken 2 s late).
        assert!(p50 > 0.0 && p50 < 1000.0, "replica {i}: e2e {e2e}");
        // No latency at the histograms' floor (1 µs): a phase is HTTP messages through a hub,
        // never that fast; a callback taken as received before its request left is clamped
        // to it.
        let set = load::histograms::HistogramSet::from_json(
            &std::fs::read(d.join("histograms.json")).unwrap(),
        )
        .unwrap();
        for name in ["e2e", "lookup", "quote", "transfer"] {
            let h = &set.by_name[name];
            assert!(
                !h.is_empty() && h.min() > 1,
                "replica {i}: {name} min {} µs",
                h.min()
            );
        }
        assert_eq!(r["passed"], true, "replica {i}: {r}");
        let md = std::fs::read_to_string(d.join("report.md")).unwrap();
        assert!(md.contains("## Clocks of the driver replicas"), "{md}");
    }
    assert!(
        into_shifted > 0,
        "no callback was relayed into the replica whose clock is ahead: nothing tested"
    );
    // The merged report keeps every replica's clocks and says them.
    let merged_out = dir.path().join("merged");
    let merge = |parts: &[&std::path::Path], out: &std::path::Path| {
        perfbed()
            .args(["report", "merge"])
            .args(parts)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    };
    let parts: Vec<&std::path::Path> = result_dirs.iter().map(|d| d.as_path()).collect();
    let ran = merge(&parts, &merged_out);
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let merged_dir = only_result(&merged_out);
    let m = report(&merged_dir);
    // The schema knows the clocks (additional properties are refused).
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/report.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft7::new(&schema).unwrap();
    for r in [report(&result_dirs[1]), m.clone()] {
        let errors: Vec<String> = validator
            .iter_errors(&r)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
    assert_eq!(
        m["clocks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["replica"].clone())
            .collect::<Vec<_>>(),
        vec![
            serde_json::json!(0),
            serde_json::json!(1),
            serde_json::json!(2)
        ]
    );
    let md = std::fs::read_to_string(merged_dir.join("report.md")).unwrap();
    let rows = md
        .lines()
        .skip_while(|l| !l.starts_with("| Replica | peer | offset ms"))
        .take_while(|l| l.starts_with('|'))
        .count();
    // Header, separator, and each replica's two peers.
    assert_eq!(rows, 2 + 6, "{md}");
    let offset = m["clocks"][0]["peers"][0]["offset_ms"].as_f64().unwrap();
    assert!(md.contains(&format!("| 0 | 1 | {offset:+.2} |")), "{md}");
    // A replica whose peer's offset was too uncertain, or never measured though it relayed:
    // the merged run fails, saying why.
    let r2 = report(&result_dirs[2]);
    for (what, edit, says) in [
        (
            "uncertain",
            serde_json::json!({ "worst_used_ms": 300.0, "relayed": 5 }),
            "more than the bound ±250.0 ms (--max-clock-uncertainty)",
        ),
        (
            "unknown",
            serde_json::json!({ "offset_ms": null, "uncertainty_ms": null, "worst_used_ms": null, "relayed": 0, "unconverted": 5 }),
            "relayed 5 callbacks but its clock offset was never measured",
        ),
    ] {
        let to = dir.path().join(what);
        std::fs::create_dir_all(&to).unwrap();
        for f in ["histograms.json", "outcomes.bin"] {
            std::fs::copy(result_dirs[2].join(f), to.join(f)).unwrap();
        }
        let mut r = r2.clone();
        for (k, v) in edit.as_object().unwrap() {
            r["clocks"][0]["peers"][0][k] = v.clone();
        }
        std::fs::write(to.join("report.json"), serde_json::to_vec(&r).unwrap()).unwrap();
        let out = dir.path().join(format!("merged-{what}"));
        let ran = merge(&[parts[0], parts[1], &to], &out);
        let said = String::from_utf8_lossy(&ran.stdout);
        assert_eq!(ran.status.code(), Some(1), "{what}: {said}");
        assert!(said.contains(says), "{what}: {said}");
        assert_eq!(report(&only_result(&out))["passed"], false, "{what}");
    }
}

/// Issue 24: a stress ramp run by three replicas. Each replica offers a third of every
/// stage's rate and is judged against that third (judged against the whole rate, its
/// achieved/rate is about 1/3, below `min_achieved_ratio` = 0.5, and the first stage would
/// break); the merged stress report judges the sum — shares adding up to the whole rate —
/// stage by stage, and the merged run's transfers are the hub's.
#[test]
fn three_driver_replicas_run_one_stress_ramp_judged_per_share_and_merged_on_the_sum() {
    let (_hub, hub, _payee, payee) = hub_and_payee(&[]);
    let replicas = Replicas::new(3);
    onboard_and_seed(&hub, &format!("http://{}", replicas.service), &payee, 90);
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("dstress.toml");
    std::fs::write(
        &scenario,
        "name = \"dstress\"\nflow = \"p2p\"\nmsisdns_per_fsp = 90\nstages = [{ rate = 1, duration = \"1s\" }]\n\
         corridors = [{ payer = \"perffsp1\", payee = \"perffsp5\", weight = 1 }]\n\
         [stress]\nstart_rate = 30\nstep = 30\nstep_duration = \"4s\"\nmax_rate = 60\n\
         min_achieved_ratio = 0.5\nmax_p99_ms = 5000\n",
    )
    .unwrap();
    let start_at = start_soon();
    let (result_dirs, _) = replicas.run(
        &hub,
        &scenario,
        "dstress",
        "dstress-1",
        start_at,
        dir.path(),
    );
    let stress = |d: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(d.join("stress.json")).unwrap()).unwrap()
    };
    let parts: Vec<serde_json::Value> = result_dirs.iter().map(|d| stress(d)).collect();
    for (i, p) in parts.iter().enumerate() {
        let stages = p["stages"].as_array().unwrap();
        assert_eq!(stages.len(), 2, "replica {i}: {p}");
        for s in stages {
            assert!(
                (s["share"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9,
                "{s}"
            );
            assert!(
                !s["broken_by"].to_string().contains("achieved"),
                "replica {i} judged against more than its share: {s}"
            );
        }
        for r in p["stage_reports"].as_array().unwrap() {
            assert!(
                started_s(r) >= start_at as f64,
                "replica {i}: {}",
                r["started"]
            );
        }
    }
    let merged_out = dir.path().join("merged");
    let merge = perfbed()
        .args(["report", "merge"])
        .arg(dir.path())
        .args(["--expect", "3", "--wait", "10s"])
        .args(["--hub-admin", &format!("{hub}/admin")])
        .arg("--out")
        .arg(&merged_out)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&merge.stdout);
    assert!(
        merge.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&merge.stderr)
    );
    assert!(
        said.contains("merged 3 replicas of stress run dstress-1"),
        "{said}"
    );
    assert!(said.contains("cross-check agrees"), "{said}");
    let m = stress(&only_result(&merged_out));
    let stages = m["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 2, "{m}");
    for (k, s) in stages.iter().enumerate() {
        // Judged on the sum: the shares add up to the whole stage rate …
        assert!((s["share"].as_f64().unwrap() - 1.0).abs() < 1e-9, "{s}");
        // … and so do the counts and the achieved rates.
        let sum = |f: &str| -> f64 {
            parts
                .iter()
                .map(|p| p["stages"][k][f].as_f64().unwrap())
                .sum()
        };
        assert_eq!(s["arrivals"].as_f64().unwrap(), sum("arrivals"), "{s}");
        assert!(
            (s["achieved_tps"].as_f64().unwrap() - sum("achieved_tps")).abs() < 1e-6,
            "{s}"
        );
        assert!(!s["broken_by"].to_string().contains("achieved"), "{s}");
        assert_eq!(m["stage_reports"][k]["replicas"], 3);
    }
    // Merging the replicas' stress results refuses a replica missing, as for a plain run.
    let missing = perfbed()
        .args(["report", "merge"])
        .arg(&result_dirs[0])
        .arg(&result_dirs[2])
        .arg("--out")
        .arg(dir.path().join("bad"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("missing replica(s) 1"), "{err}");
}

#[test]
fn the_report_says_where_the_time_goes_switch_versus_simulators() {
    let dir = tempfile::tempdir().unwrap();
    let out = perfbed()
        .args([
            "local",
            "--rate",
            "20",
            "--duration",
            "5s",
            "--security",
            "none",
            "--quiet",
        ])
        .args(["--hub-latency", "20ms", "--payee-latency", "5ms", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("## Where the time goes"), "{stdout}");
    assert!(stdout.contains("The switch added "), "{stdout}");
    let run = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).unwrap()).unwrap();
    common::ok_but_for_speed(&out, &r);
    let attr = r["attribution"].as_array().unwrap();
    for phase in ["lookup", "quote", "transfer"] {
        let a = attr
            .iter()
            .find(|a| a["phase"] == phase && a["corridor"] == "all")
            .unwrap_or_else(|| panic!("{phase}: {attr:?}"));
        let p50 = |k: &str| a[k]["p50"].as_f64().unwrap();
        // 20 ms of hub latency on each leg lands in the switch columns …
        assert!((20.0..35.0).contains(&p50("switch_in_ms")), "{phase}: {a}");
        assert!((20.0..35.0).contains(&p50("switch_out_ms")), "{phase}: {a}");
        // … and 5 ms of payee latency in the simulator column, none of the switch's.
        assert!((5.0..15.0).contains(&p50("simulator_ms")), "{phase}: {a}");
        // The parts add back up to the phase as the driver measured it.
        let whole = r["latency_committed_ms"][phase]["p50"].as_f64().unwrap();
        let parts = p50("switch_in_ms") + p50("simulator_ms") + p50("switch_out_ms");
        assert!((whole - parts).abs() < 3.0, "{phase}: {whole} vs {parts}");
        assert_eq!(
            a["switch_in_ms"]["count"], r["latency_committed_ms"][phase]["count"],
            "every committed phase traced"
        );
    }
    assert!(
        attr.iter().any(|a| a["corridor"] == "perffsp1→perffsp5"),
        "per corridor too"
    );
}

#[test]
fn suite_gates_stages_resets_positions_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let stage = |name: &str, extra: &str| {
        std::fs::write(
            dir.path().join(format!("{name}.toml")),
            format!(
                "name = \"{name}\"\nflow = \"p2p\"\nmsisdns_per_fsp = 50\nwarmup = \"500ms\"\ncooldown = \"500ms\"\n\
                 stages = [{{ rate = 10, duration = \"3s\" }}]\n\
                 corridors = [{{ payer = \"perffsp1\", payee = \"perffsp5\", weight = 1 }}]\n[thresholds]\nsuccess_rate = 99.5\n{extra}"
            ),
        )
        .unwrap();
    };
    stage("s1", "");
    stage("s2", "p99_ms = 0.001\n"); // cannot pass
    stage("s3", "");
    let suite = dir.path().join("suite.toml");
    std::fs::write(
        &suite,
        "name = \"gated\"\nreset_positions = true\n[[stage]]\nscenario = \"s1.toml\"\n[[stage]]\nscenario = \"s2.toml\"\n[[stage]]\nscenario = \"s3.toml\"\n",
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let junit = dir.path().join("junit.xml");
    let first = perfbed()
        .args(["suite"])
        .arg(&suite)
        .args(["--local", "--security", "none", "--out"])
        .arg(&out_dir)
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&first.stdout);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.lines().last().unwrap().starts_with(
            "perfbed: suite gated NOT PASSED — 1/3 stages passed; s2 failed (e2e_p99_ms"
        ),
        "the one-line summary comes last: {stdout}"
    );
    // JUnit: one test case per stage; the failed one says why, the gated one is skipped.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut cases: Vec<(String, &str)> = Vec::new();
    loop {
        use quick_xml::events::Event;
        match reader.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) => {
                let attr = |k: &str| {
                    e.try_get_attribute(k)
                        .unwrap()
                        .map(|a| a.unescape_value().unwrap().into_owned())
                };
                match e.name().as_ref() {
                    b"testcase" => cases.push((attr("name").unwrap(), "passed")),
                    b"failure" => {
                        assert!(attr("message").unwrap().contains("e2e_p99_ms"), "{xml}");
                        cases.last_mut().unwrap().1 = "failed";
                    }
                    b"skipped" => cases.last_mut().unwrap().1 = "skipped",
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(
        cases,
        [
            ("stage 01 s1".to_owned(), "passed"),
            ("stage 02 s2".to_owned(), "failed"),
            ("stage 03 s3".to_owned(), "skipped"),
        ],
        "{xml}"
    );
    assert!(stderr.contains("positions reset before s2"), "{stderr}");
    let suite_dir = std::fs::read_dir(&out_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(suite_dir.join("suite.json")).unwrap()).unwrap();
    let status: Vec<&str> = state["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        status,
        ["passed", "failed", "skipped"],
        "the gate stops the suite"
    );
    assert!(
        stdout.contains("e2e_p99_ms"),
        "the failed threshold is named: {stdout}"
    );
    let md = std::fs::read_to_string(suite_dir.join("suite.md")).unwrap();
    assert!(
        md.contains("NOT PASSED") && md.contains("| 3 | s3 | skipped |"),
        "{md}"
    );

    // Fix the stage as saved in the suite folder, then resume: s1 is not run again.
    let saved = suite_dir.join("scenarios/02-s2.toml");
    let text = std::fs::read_to_string(&saved)
        .unwrap()
        .replace("p99_ms = 0.001\n", "");
    std::fs::write(&saved, text).unwrap();
    let s1_runs = || std::fs::read_dir(suite_dir.join("01")).unwrap().count();
    assert_eq!(s1_runs(), 1);
    let resumed = perfbed()
        .args(["suite", "--local", "--security", "none", "--resume"])
        .arg(&suite_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert!(
        resumed.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert!(
        stdout.contains("# perfbed suite — gated — PASSED"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| All stages completed and passed their thresholds | yes | 3/3 passed |"),
        "{stdout}"
    );
    assert_eq!(s1_runs(), 1, "a passed stage is not run again");
    assert_eq!(
        std::fs::read_dir(suite_dir.join("02")).unwrap().count(),
        2,
        "s2 ran again"
    );
    // Suites compare stage by stage; a suite against itself changes nothing.
    let cmp = perfbed()
        .args(["report", "compare"])
        .arg(&suite_dir)
        .arg(&suite_dir)
        .output()
        .unwrap();
    let md = String::from_utf8_lossy(&cmp.stdout);
    assert!(
        cmp.status.success(),
        "{md}{}",
        String::from_utf8_lossy(&cmp.stderr)
    );
    for stage in ["s1", "s2", "s3"] {
        assert!(md.contains(&format!("## Stage {stage}\n")), "{md}");
    }
    assert!(md.contains(": 0 worse, 0 better, "), "{md}");
}

/// A Node http server answering `GET /health` with `{"status":"OK"}` and no time, its `Date`
/// header `offset_ms` ahead of the clock (404 to anything else): (the process, its URL).
fn node_health(offset_ms: i64) -> (Proc, String) {
    let script = r#"
const http = require('http');
const offset = Number(process.argv[1]);
const server = http.createServer((req, res) => {
  if (req.url !== '/health') { res.statusCode = 404; res.end(); return; }
  res.sendDate = false;
  res.setHeader('date', new Date(Date.now() + offset).toUTCString());
  res.setHeader('content-type', 'application/json');
  res.end('{"status":"OK"}');
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
"#;
    let mut child = Command::new("node")
        .args(["-e", script, &offset_ms.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("node (Node.js) is needed for this test");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().to_owned();
    (Proc(child), format!("http://127.0.0.1:{port}"))
}

#[test]
fn preflight_passes_a_ready_testbed_and_catches_each_misconfiguration() {
    let (_hub, hub, _payee, payee) = hub_and_payee(&[]);
    let dir = tempfile::tempdir().unwrap();
    let testbed = dir.path().join("testbed.toml");
    let write_testbed = |extra: &str| {
        std::fs::write(
            &testbed,
            format!(
                "msisdns = 50\n[hub]\nadmin = \"{hub}/admin\"\noracle = \"{hub}/oracle\"\n\
                 [[dfsp]]\nid = \"perffsp1\"\ncallback = \"http://127.0.0.1:9\"\n\
                 [[dfsp]]\nid = \"perffsp5\"\ncallback = \"http://{payee}\"\n{extra}"
            ),
        )
        .unwrap();
    };
    write_testbed("");
    let t = testbed.to_str().unwrap();
    assert!(perfbed()
        .args(["onboard", "--testbed", t])
        .output()
        .unwrap()
        .status
        .success());
    assert!(perfbed()
        .args([
            "msisdn",
            "seed",
            "--testbed",
            t,
            "--via",
            "oracle",
            "--fsp",
            "perffsp5"
        ])
        .output()
        .unwrap()
        .status
        .success());
    let scenario = |name: &str, extra: &str| {
        let p = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &p,
            format!(
                "name = \"{name}\"\nflow = \"p2p\"\nmsisdns_per_fsp = 50\nstages = [{{ rate = 20, duration = \"3s\" }}]\n\
                 corridors = [{{ payer = \"perffsp1\", payee = \"perffsp5\", weight = 1 }}]\n{extra}"
            ),
        )
        .unwrap();
        p
    };
    let ok_run = scenario("ok", "");
    let preflight_with = |scenario: &std::path::Path, hub_url: &str, extra: &[&str]| {
        let out = perfbed()
            .arg("preflight")
            .arg(scenario)
            .args(["--testbed", t, "--hub", hub_url, "--no-jws-expected"])
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let preflight =
        |scenario: &std::path::Path, hub_url: &str| preflight_with(scenario, hub_url, &[]);
    let (code, text) = preflight(&ok_run, &hub);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("preflight: ready"), "{text}");
    assert!(
        text.contains("ok    perffsp5: 3/3 sampled numbers resolve to it"),
        "{text}"
    );
    assert!(text.contains("ok    hub clock within"), "{text}");
    // A lookup through the ALS (here the emulator: no hub.als, no --hub-parties), answered to
    // the payee's simulator: the ALS has an oracle for MSISDN that knows the number.
    assert!(
        text.contains(&format!(
            "ok    ALS finds MSISDN 254705000000 through its oracle (GET {hub}/participants/MSISDN/254705000000 as perffsp5): perffsp5"
        )),
        "{text}"
    );

    // The ALS and the quoting-service the run will use, when they are elsewhere and down.
    let (code, text) = preflight_with(&ok_run, &hub, &["--hub-parties", "http://127.0.0.1:9"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("FAIL  account-lookup-service answers (http://127.0.0.1:9/health: ")
            && text.contains("→ start it, or fix its address (--hub-parties, or hub.als in the testbed file): every lookup goes there"),
        "{text}"
    );
    assert!(
        !text.contains("ALS finds"),
        "no lookup through a dead ALS: {text}"
    );
    let (code, text) = preflight_with(&ok_run, &hub, &["--hub-quotes", "http://127.0.0.1:9"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("FAIL  quoting-service answers (http://127.0.0.1:9/health: "),
        "{text}"
    );
    // A hub whose /health has no time (like ml-api-adapter's): its Date header gives the clock.
    let (_node, node) = node_health(0);
    let (code, text) = preflight_with(&ok_run, &node, &["--hub-parties", &hub]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(
            "ok    hub clock within 200ms of this machine's, from its Date header, ±0.5 s (skew "
        ),
        "{text}"
    );
    let (_node, node) = node_health(5_000);
    let (code, text) = preflight_with(&ok_run, &node, &["--hub-parties", &hub]);
    assert_eq!(code, Some(1), "{text}");
    let skew: f64 = text
        .split(
            "FAIL  hub clock within 200ms of this machine's, from its Date header, ±0.5 s (skew +",
        )
        .nth(1)
        .and_then(|rest| rest.split(" ms)").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no failed clock check from the Date header: {text}"));
    assert!((4_000.0..=6_000.0).contains(&skew), "{skew} ms: {text}");

    // An unreachable hub.
    let (code, text) = preflight(&ok_run, "http://127.0.0.1:9");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("FAIL  hub FSPIOP API answers"), "{text}");

    // Too little headroom: 60 transfers of 1,000,000 against an NDC of 10,000,000.
    let big = scenario("big", "amount_min = 1000000\namount_max = 1000000\n");
    let (code, text) = preflight(&big, &hub);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(
            "FAIL  perffsp1: headroom 10000000 XXX covers the run's ~60 transfers ≈ 60000000"
        ),
        "{text}"
    );
    assert!(text.contains("perfbed positions reset"), "{text}");

    // Numbers beyond the seeded range.
    let more = dir.path().join("more.toml");
    std::fs::write(
        &more,
        std::fs::read_to_string(&ok_run)
            .unwrap()
            .replace("msisdns_per_fsp = 50", "msisdns_per_fsp = 80"),
    )
    .unwrap();
    let (code, text) = preflight(&more, &hub);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("FAIL  perffsp5: 2/3 sampled numbers resolve"),
        "{text}"
    );
    assert!(text.contains("perfbed msisdn seed"), "{text}");

    // An FSP created without its endpoints.
    let (status, _) = http(
        "POST",
        &format!("{hub}/admin/participants"),
        &[("content-type", "application/json")],
        r#"{"name":"perffsp3","currency":"XXX"}"#,
    );
    assert_eq!(status, 201);
    write_testbed("[[dfsp]]\nid = \"perffsp3\"\ncallback = \"http://127.0.0.1:9\"\n");
    let (code, text) = preflight(&ok_run, &hub);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("FAIL  perffsp3"), "{text}");
    write_testbed("");

    // A hub whose clock is 5 s ahead.
    let (_skewed, skewed) = serve(
        &[
            "hub",
            "--listen",
            "127.0.0.1:0",
            "--clock-offset-ms",
            "5000",
        ],
        "hub emulator listening on ",
    );
    let (code, text) = preflight(&ok_run, &skewed);
    assert_eq!(code, Some(1), "{text}");
    // The skew is measured against the request's midpoint: 5000 ms give or take the round trip.
    let skew: f64 = text
        .split("FAIL  hub clock within 200ms of this machine's (skew +")
        .nth(1)
        .and_then(|rest| rest.split(" ms)").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no failed clock check with a positive skew: {text}"));
    assert!((4_900.0..=5_100.0).contains(&skew), "{skew} ms: {text}");

    // The testbed says whether the hub signs (ml-api-adapter JWS_SIGN); the payee's simulator
    // was started without the hub's key, so it accepts an unsigned hub and refuses nothing.
    let with_hub_line = |line: &str| {
        let text = std::fs::read_to_string(&testbed).unwrap();
        std::fs::write(
            &testbed,
            text.replacen("[hub]\n", &format!("[hub]\n{line}\n"), 1),
        )
        .unwrap();
    };
    write_testbed("");
    with_hub_line("signs = false");
    let (code, text) = preflight(&ok_run, &hub);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("ok    perffsp5: simulator does not require the hub's signature (testbed: the hub does not sign)"),
        "{text}"
    );
    write_testbed("");
    with_hub_line("signs = true");
    let (code, text) = preflight(&ok_run, &hub);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("FAIL  perffsp5: simulator does not require the hub's signature (testbed: the hub signs)")
            && text.contains("Hub.pem in its --keys directory"),
        "{text}"
    );
}

#[test]
fn every_metric_the_grafana_dashboard_queries_is_exposed() {
    let dashboard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../charts/perfbed/dashboards/perfbed-overview.json"
    ))
    .unwrap();
    let d: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let mut names = std::collections::BTreeSet::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            let e = t["expr"].as_str().unwrap();
            for (i, _) in e.match_indices("perf") {
                let n: String = e[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                names.insert(n);
            }
        }
    }
    assert!(names.len() >= 12, "{names:?}");

    let (_hub, hub, _payee, payee) = hub_and_payee(&[]);
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port, metrics_port) = (free(), free());
    onboard_and_seed(&hub, &format!("http://127.0.0.1:{port}"), &payee, 20);
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("m.toml");
    std::fs::write(
        &scenario,
        "name = \"m\"\nflow = \"p2p\"\nmsisdns_per_fsp = 20\nstages = [{ rate = 20, duration = \"6s\" }]\n\
         corridors = [{ payer = \"perffsp1\", payee = \"perffsp5\", weight = 1 }]\n",
    )
    .unwrap();
    let run = Proc(
        perfbed()
            .arg("run")
            .arg(&scenario)
            .args([
                "--hub",
                &hub,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--no-jws",
                "--quiet",
            ])
            .args([
                "--metrics-listen",
                &format!("127.0.0.1:{metrics_port}"),
                "--out",
            ])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let driver = loop {
        std::thread::sleep(Duration::from_millis(300));
        let text = std::net::TcpStream::connect(("127.0.0.1", metrics_port))
            .ok()
            .map(|_| ureq_get(&format!("http://127.0.0.1:{metrics_port}/metrics")))
            .unwrap_or_default();
        if text.contains("perfbed_load_phase_seconds_count{phase=\"transfer\"") {
            break text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no driver metrics: {text}"
        );
    };
    drop(run);
    let sims = ureq_get(&format!("http://{payee}/metrics"));
    for n in &names {
        let base = n
            .trim_end_matches("_total")
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        assert!(
            driver.contains(n.as_str())
                || sims.contains(n.as_str())
                // Declared, with no sample yet (a family without members).
                || driver.contains(&format!("# TYPE {base} "))
                || sims.contains(&format!("# TYPE {base} ")),
            "the dashboard queries {n}, which nothing exposes"
        );
    }
}

#[test]
fn suite_runs_against_a_separate_hub_with_resets_through_its_admin_api() {
    let (_hub, hub, _payee, payee) = hub_and_payee(&[]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    onboard_and_seed(&hub, &format!("http://127.0.0.1:{port}"), &payee, 30);
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        std::fs::write(
            dir.path().join(format!("{name}.toml")),
            format!(
                "name = \"{name}\"\nflow = \"p2p\"\nmsisdns_per_fsp = 30\nwarmup = \"500ms\"\ncooldown = \"500ms\"\n\
                 stages = [{{ rate = 10, duration = \"3s\" }}]\ncorridors = [{{ payer = \"perffsp1\", payee = \"perffsp5\", weight = 1 }}]\n"
            ),
        )
        .unwrap();
    }
    let suite = dir.path().join("suite.toml");
    std::fs::write(
        &suite,
        "name = \"remote\"\nreset_positions = true\n[[stage]]\nscenario = \"a.toml\"\n[[stage]]\nscenario = \"b.toml\"\n",
    )
    .unwrap();
    let testbed = dir.path().join("testbed.toml");
    std::fs::write(&testbed, format!("[hub]\nadmin = \"{hub}/admin\"\n")).unwrap();
    let out = perfbed()
        .arg("suite")
        .arg(&suite)
        .args([
            "--hub",
            &hub,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--no-jws",
        ])
        .arg("--testbed")
        .arg(&testbed)
        .args(["--admin", &format!("{hub}/admin"), "--out"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("| 2 | b | passed |"), "{stdout}");
    // Each stage's report carries the switch's positions before and after (no Kafka here).
    let suite_dir = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let stage_a = std::fs::read_dir(suite_dir.join("01"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let rep: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stage_a.join("report.json")).unwrap()).unwrap();
    let moved = &rep["switch"]["positions"][0];
    assert_eq!(moved["before"][0], "0", "{rep}");
    assert_ne!(moved["after"][0], "0", "{rep}");
    assert!(
        rep["switch"]["notes"][0]
            .as_str()
            .unwrap()
            .contains("no hub.kafka"),
        "{rep}"
    );
    // The reset before b gave perffsp1 its starting headroom back.
    assert!(stderr.contains("positions reset before b: "), "{stderr}");
    let shown = perfbed()
        .args([
            "positions",
            "show",
            "--json",
            "--admin",
            &format!("{hub}/admin"),
            "--fsp",
            "perffsp1",
        ])
        .output()
        .unwrap();
    let row: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let num = |k: &str| row[k].as_str().unwrap().parse::<f64>().unwrap();
    // Reset before b: liquidity back to 100,000,000, then b used some of it. Without the reset
    // it would be 100,000,000 − position (a and b); a creeping reset would exceed 100,000,000.
    assert!(num("position") > 0.0, "{row}");
    assert!(num("liquidityHeadroom") < 100_000_000.0, "{row}");
    assert!(
        num("liquidityHeadroom") > 100_000_000.0 - num("position"),
        "{row}"
    );
}

#[test]
fn bench_hub_drives_committed_transfers_through_the_hub_and_prints_its_cost() {
    let out = perfbed()
        .args([
            "bench",
            "hub",
            "--duration",
            "1s",
            "--warmup",
            "300ms",
            "--in-flight",
            "32",
            "--json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench hub failed: {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let committed = v["committed"].as_u64().unwrap();
    assert!(committed > 0, "{v}");
    assert_eq!(v["errors"], 0, "{v}");
    // The hub's CPU time was measured on its one thread: positive, and at most the window's
    // wall time (one thread cannot use more than one core), checked against the committed
    // count and the window — numbers the CPU clock does not derive.
    let us = v["hub_cpu_us_per_transfer"].as_f64().unwrap();
    let window = v["window_s"].as_f64().unwrap();
    assert!(us > 0.0, "{v}");
    assert!(
        us * committed as f64 <= window * 1e6 * 1.02,
        "hub CPU {us} µs × {committed} transfers exceeds one core over {window} s: {v}"
    );
    let share = v["hub_cpu_share"].as_f64().unwrap();
    assert!(share > 0.0 && share <= 1.02, "{v}");

    // Bad input is refused with a message saying what to fix.
    let out = perfbed()
        .args(["bench", "hub", "--in-flight", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--in-flight"));
}

#[test]
fn local_in_iso20022_mode_with_full_security_commits_every_arrival_and_the_hub_agrees() {
    let out = tempfile::tempdir().unwrap();
    let run = perfbed()
        .args([
            "local",
            "--api",
            "iso20022",
            "--security",
            "full",
            "--rate",
            "10",
            "--duration",
            "5s",
            "--quiet",
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("Accounting adds up: the scheduler started 50 arrivals; 50 ended")
            && stdout.contains("cross-check agrees: driver 50 committed, hub emulator 50"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let dir = std::fs::read_dir(out.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    common::ok_but_for_speed(&run, &report);
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/report.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft7::new(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(report["environment"]["api"], "iso20022");
    assert!(
        report["environment"]["security"]
            .as_str()
            .unwrap()
            .starts_with("full"),
        "{report}"
    );
    assert_eq!(report["arrivals"], 50);
    assert_eq!(report["committed"], 50, "{report}");
    // Every phase is timed in ISO mode as in FSPIOP mode: as many samples as end-to-end.
    let e2e = report["latency_ms"]["e2e"]["count"].as_u64().unwrap();
    assert!(e2e > 0);
    for phase in ["lookup", "quote", "transfer"] {
        assert_eq!(
            report["latency_ms"][phase]["count"].as_u64(),
            Some(e2e),
            "{phase}: {}",
            report["latency_ms"]
        );
    }
    // The ledger was asked by the ULID prefix of the run's tag (ISO ids are ULIDs).
    let prefix = report["crosscheck"]["prefix"].as_str().unwrap();
    assert_eq!(prefix.len(), 7, "{prefix}");
    assert!(prefix
        .bytes()
        .all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b)));
    assert_eq!(report["crosscheck"]["switch_by_state"]["COMMITTED"], 50);
    assert_eq!(report["crosscheck"]["agrees"], true);
    // A schema of a different api is refused.
    let mut other = report.clone();
    other["environment"]["api"] = serde_json::json!("iso");
    assert!(!validator.is_valid(&other));
}

#[test]
fn api_flags_explain_themselves() {
    for cmd in ["sim", "hub", "run", "local", "suite", "preflight"] {
        let help = perfbed().args([cmd, "--help"]).output().unwrap();
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(
            text.contains("--api") && text.contains("iso20022"),
            "{cmd} --help:\n{text}"
        );
    }
    let bad = perfbed()
        .args(["local", "--api", "iso", "--quiet"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let text = String::from_utf8_lossy(&bad.stderr);
    assert!(
        text.contains("fspiop") && text.contains("iso20022"),
        "{text}"
    );
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The only result folder under `out`.
fn only_result(out: &std::path::Path) -> std::path::PathBuf {
    let mut dirs: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

#[test]
fn a_run_against_a_hub_that_is_down_proves_nothing_and_fails_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("only-latency.toml");
    std::fs::write(
        &scenario,
        "name = \"only-latency\"\nflow = \"p2p\"\nstages = [{ rate = 10, duration = \"2s\" }]\n\
         corridors = [{ payer = \"perffsp1\", payee = \"perffsp5\", weight = 1 }]\n\
         [thresholds]\np95_ms = 300\np99_ms = 500\n",
    )
    .unwrap();
    let hub = format!("http://127.0.0.1:{}", closed_port());
    let run = |extra: &[&str], out: &std::path::Path| {
        let junit = out.join("junit.xml");
        let o = perfbed()
            .arg("run")
            .arg(&scenario)
            .args([
                "--hub",
                &hub,
                "--listen",
                "127.0.0.1:0",
                "--no-jws",
                "--quiet",
            ])
            .args(extra)
            .arg("--out")
            .arg(out)
            .arg("--junit")
            .arg(&junit)
            .output()
            .unwrap();
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let summary = String::from_utf8_lossy(&o.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned();
        (
            o.status.code(),
            summary,
            text,
            std::fs::read_to_string(junit).unwrap(),
        )
    };
    let out = dir.path().join("checked");
    let (code, summary, text, junit) = run(&[], &out);
    assert_eq!(code, Some(1), "{text}");
    // Latency limits with no samples fail as "no data"; nothing committed fails the run.
    assert!(
        summary.starts_with("perfbed: only-latency CROSS-CHECK FAILED — 20 arrivals, 0 committed over the run; steady window 0–2 s: 0.0/s achieved, success 0.00 %, p95 no data, p99 no data;"),
        "{summary}"
    );
    assert!(
        summary.contains("e2e_p95_ms: no data") && summary.contains("e2e_p99_ms: no data"),
        "{summary}"
    );
    assert!(
        summary.contains("nothing committed: 20 arrivals"),
        "{summary}"
    );
    assert!(!text.contains("-0.0"), "{text}");
    // The switch could have been asked: the reason and the fix, never a quiet note.
    assert!(
        summary.contains(&format!(
            "CROSS-CHECK FAILED: could not ask the hub's admin API at {hub}/admin"
        )) && summary.contains("--no-crosscheck"),
        "{summary}"
    );
    assert!(
        junit.contains(r#"<testcase classname="perfbed.only-latency" name="cross-check">"#)
            && junit.contains("<failure message=\"CROSS-CHECK FAILED: could not ask"),
        "{junit}"
    );
    assert!(!junit.contains("<skipped"), "{junit}");
    assert!(
        junit.contains("e2e_p95_ms: no data") && junit.contains("nothing committed"),
        "{junit}"
    );
    let result = only_result(&out);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(result.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["passed"], false);
    assert_eq!(report["thresholds"][0]["no_data"], true, "{report}");
    assert_eq!(report["no_crosscheck"]["kind"], "failed", "{report}");
    let md = std::fs::read_to_string(result.join("report.md")).unwrap();
    assert!(
        md.contains("| e2e_p95_ms | 300 | no data | **FAILED: no data** |"),
        "{md}"
    );
    // Issue 25, item 4: which numbers are the whole run's and which the window's, and no
    // latency shift made up from nothing.
    assert!(
        md.contains("| Arrivals (scheduler, whole run) | Committed (whole run) |")
            && md.contains("| Success (window) |")
            && md.contains("Counts cover the whole run; Target TPS, Achieved TPS and Success cover the steady-state window 0–2 s (0 of its 20 arrivals committed)"),
        "{md}"
    );
    assert!(
        md.contains("shifted by the median latency of its committed arrivals (no data: no arrival of the window committed")
            && !md.contains("(0.00 s)"),
        "{md}"
    );
    // The kind of an outcome is said once: `not sent: connect to …`.
    assert!(md.contains("| not sent: connect to 127.0.0.1:"), "{md}");
    assert!(!md.contains("not sent: not sent"), "{md}");

    // --no-crosscheck turns the cross-check off, and every output says so; the run still fails.
    let out = dir.path().join("off");
    let (code, summary, text, junit) = run(&["--no-crosscheck"], &out);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        summary.starts_with("perfbed: only-latency FAILED")
            && summary.contains("not cross-checked: --no-crosscheck"),
        "{summary}"
    );
    assert!(
        junit.contains("<skipped message=\"not cross-checked: --no-crosscheck"),
        "{junit}"
    );
    let result = only_result(&out);
    let md = std::fs::read_to_string(result.join("report.md")).unwrap();
    assert!(md.contains("not cross-checked: --no-crosscheck"), "{md}");
    let html = std::fs::read_to_string(result.join("report.html")).unwrap();
    assert!(html.contains("not cross-checked: --no-crosscheck"), "html");
}

#[test]
fn local_says_what_it_runs_and_what_its_flags_replaced() {
    let out = tempfile::tempdir().unwrap();
    let local = |args: &[&str]| {
        perfbed()
            .arg("local")
            .args(args)
            .args(["--security", "none", "--out"])
            .arg(out.path())
            .output()
            .unwrap()
    };
    // The built-in smoke run, shortened: the banner says what runs, not the defaults.
    let run = local(&["--rate", "20", "--duration", "2s", "--run-id", "announce"]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("perfbed local: smoke — 20/s for 2s, p2p (p2p)"),
        "{err}"
    );
    assert!(!err.contains("50/s"), "{err}");
    // A file's warm-up and cool-down that do not fit the new length are replaced, and said so.
    let baseline = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/baseline-100tps.toml"
    );
    let run = local(&[baseline, "--rate", "20", "--duration", "2s", "--quiet"]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("its warm-up 30s and cool-down 30s do not fit a 2s run, so the headline window trims 200ms and 200ms instead"),
        "{err}"
    );
}

#[test]
fn merge_judges_lost_iterations_the_kafka_gate_and_ledgers_it_cannot_ask() {
    let out = tempfile::tempdir().unwrap();
    let run = perfbed()
        .args([
            "local",
            "--rate",
            "10",
            "--duration",
            "2s",
            "--security",
            "none",
        ])
        .args(["--quiet", "--run-id", "merge-verdicts", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("cross-check agrees: driver 20 committed"),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let result = only_result(out.path());
    let original: serde_json::Value =
        serde_json::from_slice(&std::fs::read(result.join("report.json")).unwrap()).unwrap();
    // `report merge DIR` with report.json replaced by `edit(original)`; (exit code, stdout).
    let merge = |edit: &dyn Fn(&mut serde_json::Value), extra: &[&str]| {
        let part = tempfile::tempdir().unwrap();
        let mut r = original.clone();
        // Speed is the benchmarks' business (a busy machine may miss a latency limit): with no
        // thresholds the merged verdict rests on what this test changes.
        r["thresholds"] = serde_json::json!([]);
        edit(&mut r);
        std::fs::write(part.path().join("report.json"), r.to_string()).unwrap();
        std::fs::copy(
            result.join("histograms.json"),
            part.path().join("histograms.json"),
        )
        .unwrap();
        let merged = tempfile::tempdir().unwrap();
        let o = perfbed()
            .args(["report", "merge"])
            .arg(part.path())
            .args(extra)
            .arg("--out")
            .arg(merged.path())
            .output()
            .unwrap();
        let md = std::fs::read_dir(merged.path())
            .unwrap()
            .next()
            .map(|d| std::fs::read_to_string(d.unwrap().path().join("report.md")).unwrap())
            .unwrap_or_default();
        (
            o.status.code(),
            format!(
                "{}\n{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            md,
        )
    };
    let nothing = |_: &mut serde_json::Value| {};
    // Without a ledger the merge says "not cross-checked"; the run passes on its own numbers
    // (speed aside: a busy machine may miss the p99 limit).
    let (code, text, md) = merge(&nothing, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("not cross-checked: no ledger given to the merge")
            && md.contains("— NO THRESHOLDS"),
        "{text}"
    );
    // A lost iteration fails the run, naming its cause.
    let lost = |r: &mut serde_json::Value| {
        r["arrivals"] = serde_json::json!(r["arrivals"].as_u64().unwrap() + 1);
        r["lost"] = serde_json::json!(1);
        r["errors_by_code"]["LOST: panic"] = serde_json::json!(1);
    };
    let (code, text, md) = merge(&lost, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("not passed: 1 iterations lost (LOST: panic × 1)"),
        "{text}"
    );
    assert!(
        md.contains("— FAILED") && md.contains("- 1 iterations lost"),
        "{md}"
    );
    // The Kafka gate, when the scenario asks for it, is part of the verdict; a ratio whose
    // topic carried nothing reads "not judged", never "ok".
    let kafka = |pass: bool| {
        move |r: &mut serde_json::Value| {
            r["kafka_gate"] = serde_json::json!(true);
            r["switch"] = serde_json::json!({
                "kafka": {
                    "window_s": 2.0,
                    "counts": { "topic-transfer-prepare": 20, "topic-transfer-fulfil": 20,
                                "topic-notification-event": if pass { 40 } else { 20 } },
                    "ratios": [["fulfil/prepare", 1.0, 1.0, true],
                               ["notification/prepare", if pass { 2.0 } else { 1.0 }, 2.0, pass],
                               ["position-batch/prepare", null, 2.0, true]],
                    "pass": pass,
                    "max_lag": 0
                },
                "positions": [],
                "notes": []
            });
        }
    };
    let (code, text, md) = merge(&kafka(true), &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        md.contains(
            "position-batch/prepare n/a (expect 2.0) not judged (its topic carried nothing)"
        ) && md.contains("fulfil/prepare 1.000 (expect 1.0) ok")
            && md.contains("(part of the verdict)"),
        "{md}"
    );
    assert!(!text.contains("Kafka gate"), "{text}");
    let (code, text, _) = merge(&kafka(false), &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("not passed: Kafka gate FAILED"), "{text}");
    let no_kafka = |r: &mut serde_json::Value| r["kafka_gate"] = serde_json::json!(true);
    let (code, text, _) = merge(&no_kafka, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("not passed: Kafka gate: no data"), "{text}");
    // Ledgers that could be asked and could not: the merge fails with the reason and the fix.
    let admin = format!("http://127.0.0.1:{}/admin", closed_port());
    let (code, text, _) = merge(&nothing, &["--hub-admin", &admin]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "CROSS-CHECK FAILED: could not ask the hub emulator's ledger at {admin}"
        )),
        "{text}"
    );
    let db = format!(
        "mysql://perfbed:wrong@127.0.0.1:{}/central_ledger",
        closed_port()
    );
    let (code, text, _) = merge(&nothing, &["--ledger-db", &db]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("CROSS-CHECK FAILED: could not read the central_ledger database")
            && text.contains("check ledger_db"),
        "{text}"
    );
}

#[test]
fn pki_writes_private_keys_0600_and_never_through_an_existing_file_or_link() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    let pki = |force: bool| {
        let mut c = perfbed();
        c.args(["pki", "--out"])
            .arg(&out)
            .args(["--fsp", "perffsp1"]);
        if force {
            c.arg("--force");
        }
        c.output().unwrap()
    };
    let first = pki(false);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let mode = |p: &str| {
        std::fs::symlink_metadata(out.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    for key in [
        "perffsp1.key",
        "tls/ca.key",
        "tls/server.key",
        "tls/perffsp1.key",
    ] {
        assert_eq!(mode(key), 0o600, "{key}");
    }
    for public in ["perffsp1.pem", "tls/ca.pem", "tls/perffsp1.pem"] {
        assert_eq!(mode(public), 0o644, "{public}");
    }
    // A link planted where a key goes is never written through, with or without --force.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::remove_file(out.join("perffsp1.key")).unwrap();
    std::os::unix::fs::symlink(&victim, out.join("perffsp1.key")).unwrap();
    let refused = pki(false);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("exists; pass --force"));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let forced = pki(true);
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let meta = std::fs::symlink_metadata(out.join("perffsp1.key")).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the link was replaced by a file"
    );
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

/// `perfbed run` of a one-corridor scenario (perffsp1 → perffsp5; `body` adds the rest: name,
/// flow, stages, …) against `hub`, payers on `port`, results under `out`, with `extra` flags.
fn run_one_corridor(
    hub: &str,
    port: u16,
    out: &std::path::Path,
    body: &str,
    extra: &[&str],
) -> std::process::Output {
    let scenario = out.join("scenario.toml");
    std::fs::write(
        &scenario,
        format!(
            "{body}\nmsisdns_per_fsp = 10\ncorridors = [{{ payer = \"perffsp1\", payee = \"perffsp5\", weight = 1 }}]\n"
        ),
    )
    .unwrap();
    perfbed()
        .args(["run"])
        .arg(&scenario)
        .args(["--hub", hub, "--listen", &format!("127.0.0.1:{port}")])
        .args(["--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// Issue 25, item 1: a switch whose prepares sit in Kafka before its ledger sees them. The
/// driver times out (1 s) long before the ledger knows the transfers (the hub's `queue`
/// latency, 5 s); the reconciliation must keep waiting for those unknown ids, as for in-flight
/// ones, and find them committed — and say that every transfer being final ended the wait.
#[test]
fn reconciliation_waits_for_transfers_the_ledger_does_not_know_yet() {
    let (_hub, hub, _payee, payee) = hub_and_payee(&["--sweep", "1s", "--latency", "queue=5s"]);
    let port = closed_port();
    onboard_and_seed(&hub, &format!("http://127.0.0.1:{port}"), &payee, 10);
    let dir = tempfile::tempdir().unwrap();
    let run = run_one_corridor(
        &hub,
        port,
        dir.path(),
        "name = \"queued\"\nflow = \"transfer\"\ntimeout = \"1s\"\ntransfer_expiry = \"20s\"\n\
         stages = [{ rate = 5, duration = \"2s\" }]",
        &["--no-jws", "--quiet"],
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(only_result(dir.path()).join("report.json")).unwrap(),
    )
    .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(
        (report["arrivals"].as_u64(), report["timed_out"].as_u64()),
        (Some(10), Some(10)),
        "every arrival timed out before its prepare left the queue: {stdout}"
    );
    let rec = &report["reconciliation"];
    assert_eq!(
        (
            rec["asked"].as_u64(),
            rec["committed"].as_u64(),
            rec["in_flight"].as_u64(),
            rec["unknown"].as_u64()
        ),
        (Some(10), Some(10), Some(0), Some(0)),
        "{rec}"
    );
    let ended = rec["ended"].as_str().unwrap();
    assert!(
        ended.starts_with("every transfer was final after "),
        "{rec}"
    );
    let md = std::fs::read_to_string(only_result(dir.path()).join("report.md")).unwrap();
    assert!(
        md.contains("; the wait ended: every transfer was final after "),
        "{md}"
    );
    assert!(
        stdout.contains("cross-check agrees"),
        "the ledger's 10 commits are the driver's reconciled ones: {stdout}"
    );
}

/// Issue 25, item 2: against a slow switch (every prepare held 3 s before the hub sends it on)
/// the progress lines say what is happening — how many iterations are in flight and for how
/// long the oldest has been, and the commits of the last second by completion time — instead
/// of "0 ok, 0 failed" about arrivals that have not ended yet.
#[test]
fn progress_lines_show_a_slow_switch_working() {
    let (_hub, hub, _payee, payee) = hub_and_payee(&["--latency", "prepare=3s"]);
    let port = closed_port();
    onboard_and_seed(&hub, &format!("http://127.0.0.1:{port}"), &payee, 10);
    let dir = tempfile::tempdir().unwrap();
    let run = run_one_corridor(
        &hub,
        port,
        dir.path(),
        "name = \"slow\"\nflow = \"transfer\"\ntimeout = \"20s\"\nstages = [{ rate = 5, duration = \"4s\" }]",
        &["--no-jws"],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with('[')).collect();
    // `… | in flight N[, oldest X s] | committed in the last second M | …`
    let field = |line: &str, name: &str| -> Option<String> {
        line.split(" | ")
            .find_map(|part| part.strip_prefix(name))
            .map(str::to_owned)
    };
    let mut busy = 0;
    let mut committed_seen = 0.0;
    for line in &lines {
        let flight = field(line, "in flight ").unwrap_or_else(|| panic!("{line}"));
        let (n, oldest) = match flight.split_once(", oldest ") {
            Some((n, age)) => (n.parse::<u64>().unwrap(), Some(age.to_owned())),
            None => (flight.parse::<u64>().unwrap(), None),
        };
        // The oldest iteration's age is said exactly when something is in flight.
        assert_eq!(n > 0, oldest.is_some(), "{line}");
        if let Some(age) = oldest {
            let secs: f64 = age.strip_suffix(" s").unwrap().parse().unwrap();
            assert!(secs >= 0.0, "{line}");
            busy += 1;
        }
        let recent =
            field(line, "committed in the last second ").unwrap_or_else(|| panic!("{line}"));
        committed_seen += recent.parse::<f64>().unwrap();
    }
    assert!(busy > 0, "the switch held iterations in flight: {stderr}");
    assert!(
        committed_seen > 0.0,
        "commits completed while the lines were printed, and some line says so: {stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(only_result(dir.path()).join("report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["committed"], 20, "{stderr}");
}

/// Issue 25, item 3: the simulators expect the hub to sign (Hub.pem in their keys) and the
/// hub emulator does not sign its confirmations. The payee simulator, a separate `perfbed sim`,
/// refuses every commit confirmation (3105) while every payer flow commits: the run must read
/// the payee's counters at the URL of the testbed file, fail naming the fix, and the simulator
/// must say so in its log. Without the testbed file, the report says it could not read it.
#[test]
fn a_hub_that_does_not_sign_fails_the_run_when_the_simulators_expect_it_to() {
    let keys = tempfile::tempdir().unwrap();
    let pki = perfbed()
        .args(["pki", "--out"])
        .arg(keys.path())
        .args(["--fsp", "perffsp1,perffsp5,Hub", "--force"])
        .output()
        .unwrap();
    assert!(
        pki.status.success(),
        "{}",
        String::from_utf8_lossy(&pki.stderr)
    );
    let keys_dir = keys.path().to_str().unwrap();
    let (_hub_p, hub) = serve(
        &["hub", "--listen", "127.0.0.1:0"],
        "hub emulator listening on ",
    );
    // The payee, its log kept.
    let mut child = perfbed()
        .args([
            "sim",
            "--fsp",
            "perffsp5",
            "--hub",
            &hub,
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--keys", keys_dir])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let banner = "perffsp listening on http://";
    let line = lines
        .find(|l| l.as_ref().is_ok_and(|l| l.starts_with(banner)))
        .expect("no banner")
        .unwrap();
    let payee = line[banner.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let _payee_p = Proc(child);
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    {
        let log = log.clone();
        std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                log.lock().unwrap().push(l);
            }
        });
    }
    let port = closed_port();
    onboard_and_seed(&hub, &format!("http://127.0.0.1:{port}"), &payee, 10);
    let dir = tempfile::tempdir().unwrap();
    let testbed = dir.path().join("testbed.toml");
    std::fs::write(
        &testbed,
        format!(
            "[hub]\nadmin = \"{hub}/admin\"\n[[dfsp]]\nid = \"perffsp1\"\ncallback = \"http://127.0.0.1:{port}\"\n[[dfsp]]\nid = \"perffsp5\"\ncallback = \"http://{payee}\"\n"
        ),
    )
    .unwrap();
    let body =
        "name = \"unsigned\"\nflow = \"transfer\"\nstages = [{ rate = 5, duration = \"2s\" }]";
    let with_file = dir.path().join("with");
    std::fs::create_dir(&with_file).unwrap();
    let run = run_one_corridor(
        &hub,
        port,
        &with_file,
        body,
        &[
            "--keys",
            keys_dir,
            "--quiet",
            "--testbed",
            testbed.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(only_result(&with_file).join("report.json")).unwrap(),
    )
    .unwrap_or_else(|e| panic!("{e}: {stdout}{}", String::from_utf8_lossy(&run.stderr)));
    assert_eq!(
        report["committed"], 10,
        "every payer flow committed: {stdout}"
    );
    assert_eq!(run.status.code(), Some(1), "{stdout}");
    let last = stdout.lines().last().unwrap();
    assert!(
        last.contains("the simulators refused 10 messages from the hub for their signature")
            && last.contains("Hub.pem")
            && last.contains("[hub] signs = false"),
        "{last}"
    );
    let rows = report["simulators"]["read"].as_array().unwrap();
    let payee_row = rows
        .iter()
        .find(|r| r["name"] == format!("http://{payee}"))
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(
        (
            payee_row["hub_jws_failures"].as_u64(),
            payee_row["jws_failures"].as_u64()
        ),
        (Some(10), Some(10)),
        "{payee_row}"
    );
    assert!(payee_row["refused"].as_u64().unwrap() >= 10, "{payee_row}");
    assert!(
        rows.iter()
            .any(|r| r["name"] == "in-process (perffsp1)" && r["hub_jws_failures"] == 0),
        "{rows:?}"
    );
    let md = std::fs::read_to_string(only_result(&with_file).join("report.md")).unwrap();
    assert!(
        md.contains("the simulators refused 10 messages from the hub"),
        "{md}"
    );
    // The simulator said it, in its log, with the fix.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let said = log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("refused for their signature") && l.contains("remove Hub.pem"));
        if said {
            break;
        }
        assert!(Instant::now() < deadline, "{:?}", log.lock().unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
    // A stress run says the same in its stress.md, and fails.
    let ramp = dir.path().join("ramp");
    std::fs::create_dir(&ramp).unwrap();
    let ramp_toml = dir.path().join("ramp.toml");
    std::fs::write(
        &ramp_toml,
        "name = \"ramp\"\nflow = \"transfer\"\nstages = [{ rate = 1, duration = \"1s\" }]\n\
         msisdns_per_fsp = 10\ncorridors = [{ payer = \"perffsp1\", payee = \"perffsp5\", weight = 1 }]\n\
         [stress]\nstart_rate = 5\nstep = 5\nstep_duration = \"2s\"\nmax_rate = 5\n",
    )
    .unwrap();
    let run = perfbed()
        .arg("run")
        .arg(&ramp_toml)
        .args(["--hub", &hub, "--listen", &format!("127.0.0.1:{port}")])
        .args(["--out"])
        .arg(&ramp)
        .args(["--keys", keys_dir, "--quiet", "--testbed"])
        .arg(&testbed)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let md = std::fs::read_to_string(only_result(&ramp).join("stress.md"))
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert!(
        md.contains(
            "**FAILED: the simulators refused 10 messages from the hub for their signature"
        ) && md.contains("[hub] signs = false"),
        "{md}"
    );
    // Without the testbed file nobody knows where the payee runs: the report says so.
    let without = dir.path().join("without");
    std::fs::create_dir(&without).unwrap();
    let run = run_one_corridor(&hub, port, &without, body, &["--keys", keys_dir, "--quiet"]);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(only_result(&without).join("report.json")).unwrap())
            .unwrap();
    let not_read = report["simulators"]["not_read"][0]
        .as_str()
        .unwrap_or_default();
    assert!(
        not_read.contains("perffsp5") && not_read.contains("--testbed"),
        "{}: {report}",
        String::from_utf8_lossy(&run.stdout)
    );
}

/// Issue 25, item 4: `kafka create-topics` makes quoting-service's topics too (its quotes, FX
/// quotes and bulk quotes topics, post/put/get), beside central-ledger's.
#[test]
fn kafka_create_topics_covers_the_quoting_service() {
    let out = perfbed()
        .args(["kafka", "create-topics", "--dry-run"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let topics: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    for t in [
        "topic-transfer-prepare",
        "topic-notification-event",
        "topic-quotes-post",
        "topic-quotes-put",
        "topic-quotes-get",
        "topic-fx-quotes-post",
        "topic-fx-quotes-put",
        "topic-fx-quotes-get",
        "topic-bulkquotes-post",
        "topic-bulkquotes-put",
        "topic-bulkquotes-get",
    ] {
        assert!(topics.iter().any(|x| x == t), "{t} missing: {topics:?}");
    }
}

/// Issue 25, item 4: `perfbed run --ledger-db URL` cross-checks against that database, not
/// the hub's admin API: with a database that is not there, the run says it could not read
/// the central_ledger database (and never prints the password).
#[test]
fn run_takes_the_ledger_database_from_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!(
        "mysql://perfbed:s3cret@127.0.0.1:{}/central_ledger",
        closed_port()
    );
    let hub = format!("http://127.0.0.1:{}", closed_port());
    let run = run_one_corridor(
        &hub,
        closed_port(),
        dir.path(),
        "name = \"ledger-flag\"\nflow = \"transfer\"\nstages = [{ rate = 5, duration = \"1s\" }]",
        &["--no-jws", "--quiet", "--ledger-db", &db],
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    let summary = stdout.lines().last().unwrap_or_default();
    assert_eq!(run.status.code(), Some(1), "{stdout}");
    assert!(
        summary.contains("CROSS-CHECK FAILED: could not read the central_ledger database"),
        "{summary}"
    );
    assert!(!stdout.contains("s3cret"), "{stdout}");
}

#[test]
fn local_shows_the_hub_emulator_s_own_legs_counting_exactly_the_window_s_transfers() {
    // Load only in the middle of the window (quiet at both ends: 1 s of nothing before,
    // 1.5 s after), so every transfer of the run is prepared and fulfilled inside it: the
    // emulator's legs must count exactly the driver's committed transfers, no boundary slack.
    let out = tempfile::tempdir().unwrap();
    let scenario = out.path().join("legs.toml");
    std::fs::write(
        &scenario,
        "name = \"legs\"\nflow = \"transfer\"\nwarmup = \"500ms\"\ncooldown = \"500ms\"\n\
         stages = [{ rate = 0, duration = \"1s\" }, { rate = 20, duration = \"2s\" }, { rate = 0, duration = \"1500ms\" }]\n\
         corridors = [{ payer = \"perffsp1\", payee = \"perffsp5\", weight = 1 }]\n[thresholds]\n",
    )
    .unwrap();
    let res = out.path().join("res");
    let run = perfbed()
        .arg("local")
        .arg(&scenario)
        .args(["--security", "none", "--quiet", "--out"])
        .arg(&res)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let dir = only_result(&res);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    // The driver's side: 20/s for 2 s, all inside the window, all committed.
    assert_eq!(report["arrivals"], 40, "{report}");
    assert_eq!(report["window"]["committed"], 40);
    let sm = &report["switch_metrics"];
    assert_eq!(sm["driver_committed"], 40, "{sm}");
    assert_eq!(sm["sources"][0]["service"], "hub-emulator", "{sm}");
    // The window's ends were scraped where the window is (0.5 s and 4.0 s after the start).
    let (a, b) = (
        sm["sources"][0]["start_s"].as_f64().unwrap(),
        sm["sources"][0]["end_s"].as_f64().unwrap(),
    );
    assert!((0.5..0.9).contains(&a) && (4.0..4.4).contains(&b), "{sm}");
    let start = std::fs::read_to_string(dir.join("switch-metrics/hub-emulator-start.txt")).unwrap();
    let end = std::fs::read_to_string(dir.join("switch-metrics/hub-emulator-end.txt")).unwrap();
    for name in [
        "perfbed_hub_transfer_prepare",
        "perfbed_hub_transfer_fulfil",
    ] {
        let leg = sm["legs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {sm}"));
        assert_eq!(leg["count"], 40, "{leg}");
        assert_eq!(leg["success"]["true"], 40, "{leg}");
        assert_eq!(
            leg["phase"].as_str().unwrap().split(' ').next(),
            Some("transfer")
        );
        // Recomputed from the raw scrapes with this test's own parse.
        common::RawLeg::between(&start, &end, name).check(leg);
        assert_eq!(leg["bucket_edges_ms"][0], 0.1, "{leg}");
    }
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("## The switch's own view") && md.contains("upper bound at bucket resolution"),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("perfbed_hub_transfer_fulfil"));
}

#[test]
fn run_reads_a_separate_hub_s_legs_from_its_metrics_and_through_prometheus_alike() {
    // A fresh emulator has no leg histogram until its first prepare: Prometheus then holds
    // nothing at the window's start, and the legs must count from zero there, not from the
    // first step where the histogram exists.
    let (_hub_p, hub, _payee_p, payee) = hub_and_payee(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (prom_p, prom) = common::prometheus(hub.trim_start_matches("http://"), dir.path());
    let _prom_p = Proc(prom_p);
    common::wait_scraped(&prom);
    let port = closed_port();
    onboard_and_seed(&hub, &format!("http://127.0.0.1:{port}"), &payee, 10);
    let scenario = dir.path().join("legs.toml");
    std::fs::write(
        &scenario,
        "name = \"legs\"\nflow = \"transfer\"\nwarmup = \"1s\"\ncooldown = \"1s\"\n\
         stages = [{ rate = 0, duration = \"1500ms\" }, { rate = 10, duration = \"3s\" }, { rate = 0, duration = \"2s\" }]\n\
         corridors = [{ payer = \"perffsp1\", payee = \"perffsp5\", weight = 1 }]\n[thresholds]\n\
         [switch_metrics]\nrequired = true\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = perfbed()
        .arg("run")
        .arg(&scenario)
        .args([
            "--hub",
            &hub,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--no-jws",
            "--quiet",
        ])
        .args(["--metrics-endpoint", &format!("hub-emulator={hub}/metrics")])
        .args(["--prometheus", &prom, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let res = only_result(&out);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(res.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["window"]["committed"], 30, "{report}");
    let sm = &report["switch_metrics"];
    assert_eq!(sm["complete"], true, "{sm}");
    for name in [
        "perfbed_hub_transfer_prepare",
        "perfbed_hub_transfer_fulfil",
    ] {
        let of = |source: &str| {
            sm["legs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["name"] == name && l["source"] == source)
                .unwrap_or_else(|| panic!("{name} from {source} in {sm}"))
                .clone()
        };
        let (scraped, asked) = (of(&format!("{hub}/metrics")), of(&prom));
        assert_eq!(scraped["count"], 30, "{scraped}");
        for k in [
            "count",
            "success",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "bucket_edges_ms",
        ] {
            assert_eq!(
                asked[k], scraped[k],
                "{k}: prometheus {asked} vs scrape {scraped}"
            );
        }
    }
    // Flags are checked before anything runs.
    let bad = perfbed()
        .args(["run", "--metrics-endpoint", "central-ledger"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("give SERVICE=URL"));
    let bad = perfbed()
        .args(["run", "--prometheus", "prometheus:9090"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("plain http:// base URL"));
}

/// `--max-callbacks-in-flight`: a switch with a capacity. One lookup whose callback the hub
/// holds (lookup latency 3 s) fills a capacity of 1, so the next request is shed at once with
/// 503 / 2003 and counted; once the callback went out, requests pass again. 0 is refused.
#[test]
fn hub_sheds_new_requests_while_its_callback_capacity_is_full() {
    let (_hub, hub, _payee, payee) =
        hub_and_payee(&["--latency", "lookup=3s", "--max-callbacks-in-flight", "1"]);
    onboard_and_seed(&hub, "http://127.0.0.1:9", &payee, 2);
    let lookup = |n: &str| {
        http(
            "GET",
            &format!("{hub}/parties/MSISDN/{n}"),
            &[
                (
                    "accept",
                    "application/vnd.interoperability.parties+json;version=1",
                ),
                (
                    "content-type",
                    "application/vnd.interoperability.parties+json;version=1.1",
                ),
                ("date", "Tue, 01 Jul 2025 10:00:00 GMT"),
                ("fspiop-source", "perffsp1"),
            ],
            "",
        )
    };
    // perffsp5's first number (seeded above): the lookup goes on to the payee, held 3 s.
    let first = fspiop::testbed::msisdn(5, 0);
    let (s, b) = lookup(&first);
    assert_eq!(s, 202, "{b}");
    let (s, b) = lookup(&first);
    assert_eq!(s, 503, "a second request while 1 callback is held: {b}");
    assert!(b.contains("\"2003\""), "{b}");
    let metrics = ureq_get(&format!("{hub}/metrics"));
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("shed") && l.trim_end().ends_with(" 1")),
        "the shed request is not counted:\n{metrics}"
    );
    // The held callback goes out after 3 s; then the capacity is free again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, b) = lookup(&first);
        if s == 202 {
            break;
        }
        assert_eq!(s, 503, "{b}");
        assert!(Instant::now() < deadline, "still shedding after 10 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = perfbed()
        .args([
            "hub",
            "--listen",
            "127.0.0.1:0",
            "--max-callbacks-in-flight",
            "0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--max-callbacks-in-flight must be at least 1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The ops commands against an https admin API and oracle that want a client certificate (the
/// hub emulator with mTLS, certificates from `perfbed pki`): without TLS options, or with the
/// CA but no client certificate, they fail; with `--outbound-ca`, `--client-cert` and
/// `--client-key` onboarding, seeding and reading positions work.
#[test]
fn ops_commands_reach_an_mtls_admin_api_with_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let out = perfbed()
        .args(["pki", "--out"])
        .arg(&pki)
        .args(["--fsp", "perffsp1,perffsp5"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = |f: &str| pki.join(f).display().to_string();
    let (_hub, hub) = serve(
        &[
            "hub",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            &p("tls/server.pem"),
            "--tls-key",
            &p("tls/server.key"),
            "--tls-client-ca",
            &p("tls/ca.pem"),
        ],
        "hub emulator listening on ",
    );
    assert!(hub.starts_with("https://"), "{hub}");
    let admin = format!("{hub}/admin");
    let onboard = |tls: &[String]| {
        perfbed()
            .args(["onboard", "--admin", &admin])
            .args(["--dfsp", "perffsp1=https://127.0.0.1:9"])
            .args(["--dfsp", "perffsp5=https://127.0.0.1:9"])
            .args(tls)
            .output()
            .unwrap()
    };
    let ca = vec!["--outbound-ca".to_owned(), p("tls/ca.pem")];
    let mut full = ca.clone();
    full.extend([
        "--client-cert".to_owned(),
        p("tls/perffsp1.pem"),
        "--client-key".to_owned(),
        p("tls/perffsp1.key"),
    ]);
    for (what, tls) in [
        ("no TLS options", vec![]),
        ("the CA but no client certificate", ca),
    ] {
        let out = onboard(&tls);
        assert!(
            !out.status.success(),
            "onboarding with {what} passed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no answer"),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = onboard(&full);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("onboarded 2 DFSPs"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = perfbed()
        .args([
            "msisdn",
            "seed",
            "--via",
            "oracle",
            "--oracle",
            &format!("{hub}/oracle"),
        ])
        .args(["--fsp", "perffsp5", "--count", "3"])
        .args(&full)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = perfbed()
        .args([
            "positions",
            "show",
            "--admin",
            &admin,
            "--fsp",
            "perffsp1,perffsp5",
        ])
        .args(&full)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("perffsp5"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
