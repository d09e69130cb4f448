//! Overload without collapse, on a machine made busy on purpose: offered far more than the
//! local testbed (full security, so RSA bounds it) can carry, while a CPU hog spins on every
//! core, the driver keeps at most its in-flight budget in the system, cuts its limit below the
//! budget while the latency of what it sent stays high, and ends every other arrival at once as
//! not sent; every arrival ends as exactly one outcome; the testbed gets slow but loses
//! nothing (no timeout, no callback given up by the hub or the simulators, the hub's ledger
//! agrees); and once the backlog drained, the low rate after the overload succeeds.
//! Accounting, bounds and ordering, never speed: how long the drain takes is not judged.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use load::scenario::Stage;
use load::{Flow, Scenario};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One spinning thread per core until dropped: the busy laptop the suite must pass on.
struct CpuHog {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl CpuHog {
    fn on_every_core() -> CpuHog {
        let stop = Arc::new(AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (0..cores)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(1),
                        );
                    }
                })
            })
            .collect();
        CpuHog { stop, threads }
    }
}

impl Drop for CpuHog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_overload_on_a_busy_machine_is_held_at_the_budget_loses_nothing_and_the_low_rate_after_it_succeeds(
) {
    // 5,000/s for 2 s: far above what 2 cores carry with mTLS + JWS RS256 on every message
    // (~1,000 transfers/s in a release build on the fastest VM measured; this is a debug build
    // sharing the cores with a hog), then 20/s for 20 s.
    let overload_s = 2;
    let low_s = 20;
    let mut sc = Scenario::constant(
        "overload",
        Flow::Transfer,
        5000.0,
        Duration::from_secs(overload_s),
    );
    sc.stages.push(Stage {
        rate: 20.0,
        duration: Duration::from_secs(low_s),
        ramp: false,
    });
    // A tight latency limit: the budget is Little's law on it (5,000/s × 2 × 60 ms = 600),
    // and the adaptive limit cuts while the median is above 30 ms, which the overload cannot keep.
    sc.thresholds.p95_ms = None;
    sc.thresholds.p99_ms = Some(60.0);
    // Slow is allowed, lossy is not: the driver waits as long as the transfers live.
    sc.timeout = sc.transfer_expiry;
    let budget = sc.in_flight_budget();
    assert_eq!(budget, 600);

    let hog = CpuHog::on_every_core();
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

    // The payer simulators' own gauge of flows waiting for a callback, sampled while it runs,
    // and when the overload's backlog had drained: the first sample after the overload stage
    // with no more flows waiting than the low stage keeps in flight (ms since the run began).
    let peak_waiting = Arc::new(AtomicUsize::new(0));
    let drained_ms = Arc::new(AtomicU64::new(u64::MAX));
    let done = Arc::new(AtomicBool::new(false));
    let began = Instant::now();
    let sampler = {
        let (env, peak, drained, done) = (
            env.clone(),
            peak_waiting.clone(),
            drained_ms.clone(),
            done.clone(),
        );
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let waiting = env.payers_waiting();
                peak.fetch_max(waiting, Ordering::Relaxed);
                let t = began.elapsed();
                if t > Duration::from_secs(overload_s) && waiting <= 20 {
                    drained.fetch_min(t.as_millis() as u64, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let report = load::run_with(&sc, env.payers(), None, None).await;
    done.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    drop(hog);

    // Every arrival of the schedule, each in exactly one outcome.
    let expected = 5000 * overload_s + 20 * low_s;
    assert_eq!(report.arrivals, expected, "{:?}", report.notes);
    assert!(report.adds_up(), "accounting: {report:?}");
    assert_eq!(report.lost, 0);
    // Slow, never lossy: every transfer the driver sent ended committed, at the hub too, and
    // no callback was given up by the hub or the simulators.
    assert_eq!(
        (report.timed_out, report.failed_after_send, report.rejected),
        (0, 0, 0),
        "{:?}",
        report.errors_by_code
    );
    // The callbacks still owed (the payees' confirmations) finish before the hub is read.
    let deadline = Instant::now() + Duration::from_secs(120);
    while env.hub().stats.callbacks_in_flight.get() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = &env.hub().stats;
    assert_eq!(
        (stats.callbacks_failed.get(), report.callbacks_failed, env.payers().callbacks_failed()),
        (0, 0, 0),
        "callbacks given up (hub, this run's simulators, all simulators); retried: hub {}, simulators {}",
        stats.callbacks_retried.get(),
        env.payers().callbacks_retried()
    );
    let hub = env.hub().ledger.counts();
    assert_eq!(hub.committed, report.committed, "{hub:?}");
    assert_eq!(hub.prepared, report.committed, "{hub:?}");
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
            .all(|k| k.contains("in-flight limit")),
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
    // Recovery: once the backlog drained, the low stage's arrivals (from the next whole
    // second on) committed. On a machine so busy that the drain outlasted the low stage (seen
    // with three compilers beside the suite: drained at 25.1 s of a 22 s schedule), nothing of
    // the low stage is left to judge: the same testbed then carries the low rate on a run of
    // its own, which must commit as well — slow recovery is allowed, no recovery is not.
    let drained = drained_ms.load(Ordering::Relaxed);
    assert!(
        drained < u64::MAX,
        "the payers never got back to 20 flows waiting"
    );
    let from = drained / 1000 + 1;
    let (started, committed) = report
        .timeline
        .iter()
        .filter(|s| s.second > overload_s && s.second >= from)
        .fold((0, 0), |(a, c), s| (a + s.started, c + s.committed));
    let (started, committed, when) = if started >= 40 {
        (
            started,
            committed,
            format!("after the backlog drained at {drained} ms"),
        )
    } else {
        let mut after = Scenario::constant("after", Flow::Transfer, 20.0, Duration::from_secs(3));
        after.thresholds = sc.thresholds.clone();
        after.timeout = sc.timeout;
        let r = load::run_with(&after, env.payers(), None, None).await;
        assert!(r.adds_up(), "accounting of the run after: {r:?}");
        (
            r.arrivals,
            r.committed,
            format!(
                "on a run of their own (only {started} low-stage arrivals after the backlog drained at {drained} ms)"
            ),
        )
    };
    assert!(started >= 40, "only {started} low-rate arrivals {when}");
    assert!(
        committed * 100 >= started * 99,
        "only {committed} of {started} low-rate arrivals committed {when}: {:?}",
        report.errors_by_code
    );
}
