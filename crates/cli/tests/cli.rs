//! The `perfbed` binary as users run it: `pki` writes the key layout, `sim` starts from flags
//! alone with those keys, answers `/health`, and stops cleanly on SIGTERM.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

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
    assert!(String::from_utf8_lossy(&out.stderr).contains("--hub-ca"));
    let out = perfbed()
        .args(["sim", "--hub", "http://hub"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "--fsp is required");
}

/// A minimal HTTP/1.1 GET over std (the test needs no HTTP client dependency).
fn ureq_get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}
