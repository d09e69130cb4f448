//! The fault suite: a hub killed mid-run, a payee that stops answering, a payee that answers
//! twice. In each, the accounting identity holds (the scheduler's count against the outcomes)
//! and the cross-check reports what the switch's own ledger saw. Real hub emulator, real
//! simulators, onboarding and numbers through the admin APIs, through `testbed::execute` — the
//! path `perfbed local`, `run` and `suite` take.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use load::scenario::{Corridor, Stage};
use load::{Flow, Payers, Scenario};
use sim::SimConfig;
use std::time::Duration;

const SECRET: &str = "faults-secret";

struct Bed {
    hub: hub::Running,
    admin: ops::Admin,
    payer: sim::Running,
    payee: sim::Running,
}

async fn bed(payee: impl FnOnce(&mut sim::Behaviour)) -> Bed {
    bed_with(payee, None).await
}

/// [`bed`], the payee sending its callbacks to `payee_hub` instead of the hub when given.
async fn bed_with(payee: impl FnOnce(&mut sim::Behaviour), payee_hub: Option<&str>) -> Bed {
    let hub = hub::start(
        hub::Hub::new(
            hub::HubConfig {
                sweep_every: Duration::from_millis(200),
                ..hub::HubConfig::default()
            },
            None,
        ),
        "127.0.0.1:0".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let url = format!("http://{}", hub.addr);
    let start = |f: &str, hub: &str, edit: Option<&mut dyn FnMut(&mut sim::Behaviour)>| {
        let mut c = SimConfig::new(&[f.to_owned()], hub);
        c.ilp_secret = SECRET.into();
        if let Some(edit) = edit {
            edit(c.fsps.get_mut(f).unwrap());
        }
        sim::Sim::new(c, fspiop::jws::KeyStore::new(), None).unwrap()
    };
    let payer = sim::start(
        start("perffsp1", &url, None),
        "127.0.0.1:0".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let mut payee_edit = Some(payee);
    let mut edit = |b: &mut sim::Behaviour| {
        if let Some(f) = payee_edit.take() {
            f(b);
        }
    };
    let payee = sim::start(
        start("perffsp5", payee_hub.unwrap_or(&url), Some(&mut edit)),
        "127.0.0.1:0".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let admin = ops::Admin::plain(&format!("{url}/admin"));
    ops::onboard(
        &admin,
        &ops::Onboarding {
            currency: "XXX".into(),
            ndc: 1_000_000,
            funds: 1_000_000,
            dfsps: vec![
                ops::Dfsp {
                    name: "perffsp1".into(),
                    callback_base: format!("http://{}", payer.addr),
                },
                ops::Dfsp {
                    name: "perffsp5".into(),
                    callback_base: format!("http://{}", payee.addr),
                },
            ],
        },
    )
    .await
    .unwrap();
    let oracle = ops::Admin::plain(&format!("{url}/oracle"));
    let range = ops::msisdn::Range::of("perffsp5", 50).unwrap();
    ops::msisdn::seed_oracle(&oracle, &range, "XXX", &Default::default())
        .await
        .unwrap();
    Bed {
        hub,
        admin,
        payer,
        payee,
    }
}

fn scenario(rate: f64, secs: u64) -> Scenario {
    let mut s = Scenario::constant("faults", Flow::P2p, rate, Duration::from_secs(secs));
    s.stages = vec![Stage {
        rate,
        duration: Duration::from_secs(secs),
        ramp: false,
    }];
    s.corridors = vec![Corridor {
        payer: "perffsp1".into(),
        payee: "perffsp5".into(),
        weight: 1.0,
    }];
    s.msisdns_per_fsp = 50;
    s.timeout = Duration::from_secs(2);
    s
}

fn target(bed: &Bed) -> testbed::Target {
    testbed::Target {
        payers: Payers::new(&[bed.payer.sim().clone()], SECRET),
        ledger: testbed::Ledger::Emulator(bed.admin.clone()),
        testbed: None,
    }
}

fn options() -> testbed::Options {
    testbed::Options {
        crosscheck: true,
        ..testbed::Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payee_that_stops_answering() {
    let bed = bed(|_| {}).await;
    let t = target(&bed);
    let out = tempfile::tempdir().unwrap();
    let s = scenario(30.0, 4);
    let run = {
        let s = s.clone();
        let dir = out.path().to_owned();
        tokio::spawn(async move { testbed::execute(&s, &t, &dir, &options()).await })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    bed.payee.shutdown(Duration::from_millis(100)).await;
    let outcome = run.await.unwrap().unwrap();
    let r = outcome.report.as_ref().unwrap();
    // The schedule: 30/s for 4 s.
    assert_eq!(r.arrivals, 120);
    assert!(r.adds_up(), "{}", r.accounting_line());
    assert!(
        r.committed > 0 && r.committed < 120,
        "{:?}",
        r.errors_by_code
    );
    let c = r.crosscheck.as_ref().expect("the hub was asked");
    assert_eq!(c.source, "hub emulator");
    assert_eq!(c.driver_committed, r.committed);
    assert!(c.agrees, "{}", c.summary);
    // What the switch saw: only the committed ones committed, the rest prepared and then not.
    assert_eq!(c.switch_committed, r.committed, "{:?}", c.switch_by_state);
    assert!(
        outcome.passed() == r.passed,
        "only the thresholds decide: accounting and cross-check hold"
    );
    bed.payer.shutdown(Duration::from_secs(1)).await;
    bed.hub.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payee_whose_callbacks_cannot_reach_the_hub() {
    // Nothing listens on port 9: every callback of the payee fails (connection refused).
    let bed = bed_with(|_| {}, Some("http://127.0.0.1:9")).await;
    let t = testbed::Target {
        payers: Payers::new(&[bed.payer.sim().clone(), bed.payee.sim().clone()], SECRET),
        ..target(&bed)
    };
    let out = tempfile::tempdir().unwrap();
    let outcome = testbed::execute(&scenario(10.0, 2), &t, out.path(), &options())
        .await
        .unwrap();
    let r = outcome.report.as_ref().unwrap();
    assert_eq!(r.arrivals, 20);
    assert!(r.adds_up(), "{}", r.accounting_line());
    // Each lookup's PUT /parties failed, so each flow timed out waiting for it: the report
    // says why, without debug logging.
    assert_eq!(r.timed_out, 20, "{:?}", r.errors_by_code);
    assert_eq!(r.callbacks_failed, 20);
    assert!(
        r.to_markdown().contains("**20 callbacks failed**"),
        "{}",
        r.to_markdown()
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["callbacks_failed"], 20);
    bed.payer.shutdown(Duration::from_secs(1)).await;
    bed.payee.shutdown(Duration::from_secs(1)).await;
    bed.hub.shutdown(Duration::from_secs(1)).await;
}

/// A run whose transfers the payee answers only after the driver's timeout (`payee_ms`): what
/// became of them on the switch is asked after the run.
async fn late_payee(payee_ms: f64) -> (Bed, testbed::Outcome, tempfile::TempDir) {
    let bed = bed(move |b| b.transfer_latency = load::Latency::Fixed { ms: payee_ms }).await;
    let t = target(&bed);
    let out = tempfile::tempdir().unwrap();
    let mut s = scenario(5.0, 2);
    s.timeout = Duration::from_secs(1);
    s.transfer_expiry = Duration::from_secs(3);
    let outcome = testbed::execute(&s, &t, out.path(), &options())
        .await
        .unwrap();
    (bed, outcome, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_that_timed_out_and_then_committed_are_reconciled() {
    // The payee fulfils 2 s after the prepare: after the driver's 1 s timeout, before the 3 s
    // expiry. The switch commits every one; the driver saw none.
    let (bed, outcome, _out) = late_payee(2_000.0).await;
    let r = outcome.report.as_ref().unwrap();
    assert_eq!(
        (r.arrivals, r.timed_out),
        (10, 10),
        "{:?}",
        r.errors_by_code
    );
    let rec = r.reconciliation.as_ref().expect("reconciled");
    assert_eq!(
        (
            rec.uncertain,
            rec.asked,
            rec.committed,
            rec.aborted,
            rec.expired,
            rec.in_flight,
            rec.unknown
        ),
        (10, 10, 10, 0, 0, 0, 0),
        "{}",
        rec.summary
    );
    assert_eq!(rec.source, "hub emulator");
    let c = r.crosscheck.as_ref().unwrap();
    assert_eq!(c.switch_committed, 10);
    assert!(c.agrees, "{}", c.summary);
    // Why: the timeout is shorter than the expiry — said in the report.
    assert!(
        r.notes
            .iter()
            .any(|n| n.starts_with("the step timeout (1s) is shorter than transfer_expiry (3s)")),
        "{:?}",
        r.notes
    );
    let md = r.to_markdown();
    assert!(
        md.contains("## Reconciliation") && md.contains("| 10 | 0 | 10 | 10 | 0 | 0 | 0 | 0 |"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["reconciliation"]["committed"], 10);
    bed.payer.shutdown(Duration::from_secs(1)).await;
    bed.payee.shutdown(Duration::from_secs(1)).await;
    bed.hub.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_that_timed_out_and_then_expired_are_reconciled() {
    // The payee answers 30 s later: the switch expires every transfer at 3 s; the
    // reconciliation waits for that (not for the payee).
    let started = std::time::Instant::now();
    let (bed, outcome, _out) = late_payee(30_000.0).await;
    let r = outcome.report.as_ref().unwrap();
    assert_eq!(
        (r.arrivals, r.timed_out),
        (10, 10),
        "{:?}",
        r.errors_by_code
    );
    let rec = r.reconciliation.as_ref().expect("reconciled");
    assert_eq!(
        (rec.asked, rec.committed, rec.expired, rec.in_flight),
        (10, 0, 10, 0),
        "{}",
        rec.summary
    );
    assert!(rec.waited_s > 0.5 && rec.waited_s < 5.0, "{}", rec.summary);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(r.crosscheck.as_ref().unwrap().switch_committed, 0);
    bed.payer.shutdown(Duration::from_secs(1)).await;
    bed.payee.shutdown(Duration::from_millis(100)).await;
    bed.hub.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_killed_mid_run() {
    let bed = bed(|_| {}).await;
    let t = target(&bed);
    let out = tempfile::tempdir().unwrap();
    let s = scenario(30.0, 4);
    let run = {
        let dir = out.path().to_owned();
        tokio::spawn(async move { testbed::execute(&s, &t, &dir, &options()).await })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    bed.hub.shutdown(Duration::from_millis(100)).await;
    let outcome = run.await.unwrap().unwrap();
    let r = outcome.report.as_ref().unwrap();
    assert_eq!(r.arrivals, 120);
    assert!(r.adds_up(), "{}", r.accounting_line());
    assert!(r.committed > 0, "some committed before the hub died");
    assert!(
        r.not_sent > 0,
        "later arrivals found no hub: {:?}",
        r.errors_by_code
    );
    // A dead switch cannot be asked: the report says so instead of inventing agreement, and
    // since it could have been asked, the run fails with the reason and the fix.
    assert!(r.crosscheck.is_none());
    let why = r
        .no_crosscheck
        .as_ref()
        .expect("why there is no cross-check");
    assert_eq!(why.kind, load::report::NoCrossCheckKind::Failed, "{why:?}");
    assert!(
        why.reason
            .starts_with("could not ask the hub emulator's ledger at")
            && why.reason.contains("--no-crosscheck"),
        "{why:?}"
    );
    assert_eq!(r.verdict(), "CROSS-CHECK FAILED");
    assert!(!outcome.passed(), "{}", outcome.summary());
    assert!(
        outcome
            .summary()
            .contains("CROSS-CHECK FAILED: could not ask"),
        "{}",
        outcome.summary()
    );
    let junit = testbed::junit::cases(&outcome);
    let case = junit.iter().find(|c| c.name == "cross-check").unwrap();
    assert!(case.failure.is_some() && case.skipped.is_none(), "{case:?}");
    // The result folder is complete.
    assert!(outcome.dir.join("histograms.json").is_file());
    bed.payer.shutdown(Duration::from_secs(1)).await;
    bed.payee.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payee_that_answers_twice() {
    let bed = bed(|b| b.answer_twice = true).await;
    let t = target(&bed);
    let out = tempfile::tempdir().unwrap();
    let outcome = testbed::execute(&scenario(20.0, 3), &t, out.path(), &options())
        .await
        .unwrap();
    let r = outcome.report.as_ref().unwrap();
    assert_eq!(r.arrivals, 60);
    assert!(r.adds_up(), "{}", r.accounting_line());
    // Every transfer counted once, and the switch committed each exactly once.
    assert_eq!(r.committed, 60, "{:?}", r.errors_by_code);
    let c = r.crosscheck.as_ref().unwrap();
    assert!(c.agrees, "{}", c.summary);
    assert_eq!(
        c.switch_by_state.values().sum::<u64>(),
        60,
        "{:?}",
        c.switch_by_state
    );
    // The payee really did answer twice: 60 lookups, 60 quotes, 60 transfers, each answered
    // twice (whether the hub took the second or refused it as a duplicate).
    // Read once the payee has drained its last duplicates.
    let payee = bed.payee.sim().clone();
    bed.payee.shutdown(Duration::from_secs(2)).await;
    let (ok, failed) = payee.metrics().callback_totals();
    assert_eq!(ok + failed, 360, "ok {ok}, failed {failed}");
    bed.payer.shutdown(Duration::from_secs(1)).await;
    bed.hub.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_that_disagrees_fails_the_run() {
    let bed = bed(|_| {}).await;
    // The cross-check asks a second, idle hub emulator: it saw none of this run's transfers.
    let other = hub::start(
        hub::Hub::new(hub::HubConfig::default(), None),
        "127.0.0.1:0".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let mut t = target(&bed);
    t.ledger =
        testbed::Ledger::Emulator(ops::Admin::plain(&format!("http://{}/admin", other.addr)));
    let out = tempfile::tempdir().unwrap();
    let outcome = testbed::execute(&scenario(20.0, 2), &t, out.path(), &options())
        .await
        .unwrap();
    let r = outcome.report.as_ref().unwrap();
    assert_eq!(r.committed, 40, "{:?}", r.errors_by_code);
    assert!(r.adds_up());
    let c = r.crosscheck.as_ref().unwrap();
    assert!(!c.agrees);
    // Id by id: every one of the driver's 40 committed ids is absent on the idle hub.
    assert!(
        c.summary.starts_with("CROSS-CHECK FAILED: 40 ids differ")
            && c.summary.contains("driver 40 committed"),
        "{}",
        c.summary
    );
    assert_eq!(r.verdict(), "CROSS-CHECK FAILED");
    assert!(!outcome.passed(), "a disagreement fails the run");
    let md = std::fs::read_to_string(outcome.dir.join("report.md")).unwrap();
    assert!(md.contains("CROSS-CHECK FAILED"), "{md}");
    other.shutdown(Duration::from_secs(1)).await;
    bed.payer.shutdown(Duration::from_secs(1)).await;
    bed.payee.shutdown(Duration::from_secs(1)).await;
    bed.hub.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_metrics_that_cannot_be_read_are_said_and_fail_only_a_run_that_requires_them() {
    let bed = bed(|_| {}).await;
    let out = tempfile::tempdir().unwrap();
    // A live /metrics without any known leg (a simulator's), one where nothing listens, and
    // a Prometheus where nothing listens.
    let options = || testbed::Options {
        metrics_sources: ops::testbed::SwitchMetricsSources {
            endpoints: vec![
                ops::testbed::MetricsEndpoint {
                    service: "central-ledger".into(),
                    url: format!("http://{}/metrics", bed.payer.addr),
                },
                ops::testbed::MetricsEndpoint {
                    service: "ml-api-adapter".into(),
                    url: "http://127.0.0.1:9/metrics".into(),
                },
            ],
            prometheus: Some("http://127.0.0.1:9".into()),
            interval: Some(Duration::from_millis(500)),
            extra: vec![],
        },
        ..options()
    };
    let mut s = scenario(10.0, 2);
    let outcome = testbed::execute(&s, &target(&bed), out.path(), &options())
        .await
        .unwrap();
    let r = outcome.report.as_ref().unwrap();
    let m = r
        .switch_metrics
        .as_ref()
        .expect("the section is there, saying why it is empty");
    assert!(m.legs.is_empty() && !m.complete, "{m:?}");
    let notes = m.notes.join("\n");
    for said in [
        "moja_cl_transfer_prepare: not exposed by http://127.0.0.1:",
        "http://127.0.0.1:9/metrics (ml-api-adapter):",
        "scrapes failed",
        "prometheus http://127.0.0.1:9: not read",
        "no leg found",
    ] {
        assert!(notes.contains(said), "{said} in:\n{notes}");
    }
    assert!(r.to_markdown().contains("## The switch's own view"));
    assert!(
        !r.failures().iter().any(|f| f.contains("switch metrics")),
        "evidence only: {:?}",
        r.failures()
    );
    // The same, required by the scenario: the run fails and says why.
    s.switch_metrics.required = true;
    let outcome = testbed::execute(&s, &target(&bed), out.path(), &options())
        .await
        .unwrap();
    let r = outcome.report.as_ref().unwrap();
    assert!(!r.passed);
    assert!(
        r.failures().iter().any(|f| f.starts_with(
            "switch metrics required ([switch_metrics] required = true) but incomplete"
        )),
        "{:?}",
        r.failures()
    );
    bed.payer.shutdown(Duration::from_secs(1)).await;
    bed.payee.shutdown(Duration::from_secs(1)).await;
    bed.hub.shutdown(Duration::from_secs(1)).await;
}
