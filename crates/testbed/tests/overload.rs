//! Overload without collapse: offered far more than the local testbed (full security, so RSA
//! bounds it) can carry, the driver keeps at most its in-flight budget in the system, cuts its
//! limit below the budget while the latency of what it sent stays high, and ends every other
//! arrival at once as not sent; every arrival ends as exactly one outcome; and the
//! low rate after the overload succeeds. Accounting and bounds, not speed.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use load::scenario::Stage;
use load::{Flow, Scenario};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn an_overload_is_held_at_the_in_flight_budget_and_the_low_rate_after_it_succeeds() {
    // 5,000/s for 2 s: far above what 2 cores carry with mTLS + JWS RS256 on every message
    // (~1,000 transfers/s in a release build on the fastest VM measured), then 20/s for 6 s.
    let overload_s = 2;
    let mut sc = Scenario::constant(
        "overload",
        Flow::Transfer,
        5000.0,
        Duration::from_secs(overload_s),
    );
    sc.stages.push(Stage {
        rate: 20.0,
        duration: Duration::from_secs(6),
        ramp: false,
    });
    // A tight latency limit: the budget is Little's law on it (5,000/s × 2 × 60 ms = 600),
    // and the adaptive limit cuts while the median is above 30 ms, which the overload cannot keep.
    sc.thresholds.p95_ms = None;
    sc.thresholds.p99_ms = Some(60.0);
    sc.timeout = Duration::from_secs(20);
    let budget = sc.in_flight_budget();
    assert_eq!(budget, 600);

    let env = testbed::LocalEnv::start(
        &testbed::EnvOptions {
            security: testbed::Security::Full,
            hub_latency: None,
            payee_latency: None,
            quiet: true,
            api: fspiop::iso::Api::Fspiop,
        },
        &[&sc],
    )
    .await
    .unwrap();
    let env = Arc::new(env);

    // The payer simulators' own gauge of flows waiting for a callback, sampled while it runs.
    let peak_waiting = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (env, peak, done) = (env.clone(), peak_waiting.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(env.payers_waiting(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let report = load::run_with(&sc, env.payers(), None, None).await;
    done.store(true, Ordering::Relaxed);
    sampler.await.unwrap();

    // Every arrival of the schedule, each in exactly one outcome.
    let expected = 5000 * overload_s + 20 * 6;
    assert_eq!(report.arrivals, expected, "{:?}", report.notes);
    assert!(report.adds_up(), "accounting: {report:?}");
    assert_eq!(report.lost, 0);
    // The overload was real: the budget shed arrivals at once.
    assert!(
        report.not_sent > 0,
        "nothing was shed: {:?}",
        report.errors_by_code
    );
    assert!(
        report
            .errors_by_code
            .keys()
            .any(|k| k.contains("in-flight limit")),
        "{:?}",
        report.errors_by_code
    );
    // Bounded: the driver's own peak and the simulators' gauge.
    assert_eq!(report.in_flight_budget, Some(budget as u64));
    let peak = report.in_flight_peak.unwrap();
    assert!(
        peak > 0 && peak <= budget as u64,
        "driver peak {peak} > {budget}"
    );
    // The limit followed the latency: cut below the budget while the testbed queued, never
    // below its floor.
    let low = report.in_flight_limit_low.unwrap();
    assert!(
        (load::admission::FLOOR as u64..budget as u64).contains(&low),
        "the limit went no lower than {low} (budget {budget})"
    );
    // …and the report says why arrivals were not sent.
    assert!(
        report.notes.iter().any(|n| n.contains(&format!(
            "in-flight limit went down to {low} (budget {budget})"
        ))),
        "{:?}",
        report.notes
    );
    let waiting = peak_waiting.load(Ordering::Relaxed);
    assert!(
        waiting > 0 && waiting <= budget,
        "payers had {waiting} flows waiting, budget {budget}"
    );
    // Recovery: the arrivals of the low stage after its first second committed.
    let (started, committed) = report
        .timeline
        .iter()
        .filter(|s| s.second > overload_s)
        .fold((0, 0), |(a, c), s| (a + s.started, c + s.committed));
    assert!(
        started >= 90,
        "{started} low-stage arrivals in the timeline"
    );
    assert!(
        committed * 100 >= started * 99,
        "after the overload only {committed} of {started} committed: {:?}",
        report.errors_by_code
    );
    // The hub's ledger agrees with the driver on what committed.
    let hub = env.hub().ledger.counts();
    assert!(hub.committed >= report.committed, "{hub:?}");
}
