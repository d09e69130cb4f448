//! Every arrival is counted exactly once — committed, rejected by code, timed out or not sent —
//! also when payees reject, answer too late, and when the hub dies mid-run. Real hub emulator,
//! real simulators, onboarding through the admin API.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use load::scenario::{Corridor, Stage};
use load::{Flow, Payers, Scenario};
use sim::{Latency, RejectRule, SimConfig, Stage as SimStage};
use std::time::Duration;

const SECRET: &str = "accounting-secret";

struct Bed {
    hub: hub::Running,
    sims: Vec<sim::Running>,
}

async fn bed() -> Bed {
    bed_with(|_| {}).await
}

async fn bed_with(edit: impl FnOnce(&mut hub::HubConfig)) -> Bed {
    let mut config = hub::HubConfig {
        sweep_every: Duration::from_millis(200),
        ..hub::HubConfig::default()
    };
    edit(&mut config);
    let hub = hub::start(
        hub::Hub::new(config, None),
        "127.0.0.1:0".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let url = format!("http://{}", hub.addr);
    let mut sims = Vec::new();
    for f in ["perffsp1", "perffsp5", "perffsp6"] {
        let mut c = SimConfig::new(&[f.to_owned()], &url);
        c.ilp_secret = SECRET.into();
        let b = c.fsps.get_mut(f).unwrap();
        if f == "perffsp5" {
            b.reject = vec![RejectRule {
                on: SimStage::Transfer,
                code: 5105,
                amount_above: None,
                msisdns: vec![],
                rate: Some(0.3),
            }];
        }
        if f == "perffsp6" {
            b.transfer_latency = Latency::Fixed { ms: 2500.0 };
        }
        let s = sim::Sim::new(c, fspiop::jws::KeyStore::new(), None).unwrap();
        sims.push(
            sim::start(s, "127.0.0.1:0".parse().unwrap(), None)
                .await
                .unwrap(),
        );
    }
    let admin = ops::Admin::plain(&format!("{url}/admin"));
    let onboarding = ops::Onboarding {
        currency: "XXX".into(),
        ndc: 1_000_000,
        funds: 1_000_000,
        dfsps: ["perffsp1", "perffsp5", "perffsp6"]
            .iter()
            .zip(&sims)
            .map(|(f, s)| ops::Dfsp {
                name: (*f).into(),
                callback_base: format!("http://{}", s.addr),
            })
            .collect(),
    };
    ops::onboard(&admin, &onboarding).await.unwrap();
    // A second run changes nothing.
    assert!(ops::onboard(&admin, &onboarding)
        .await
        .unwrap()
        .changed
        .is_empty());
    let oracle = ops::Admin::plain(&format!("{url}/oracle"));
    for f in ["perffsp5", "perffsp6"] {
        let range = ops::msisdn::Range::of(f, 50).unwrap();
        ops::msisdn::seed_oracle(&oracle, &range, "XXX", &Default::default())
            .await
            .unwrap();
    }
    Bed { hub, sims }
}

fn scenario(rate: f64, secs: u64) -> Scenario {
    let mut s = Scenario::constant("accounting", Flow::P2p, rate, Duration::from_secs(secs));
    s.stages = vec![Stage {
        rate,
        duration: Duration::from_secs(secs),
        ramp: false,
    }];
    s.corridors = vec![
        Corridor {
            payer: "perffsp1".into(),
            payee: "perffsp5".into(),
            weight: 1.0,
        },
        Corridor {
            payer: "perffsp1".into(),
            payee: "perffsp6".into(),
            weight: 1.0,
        },
    ];
    s.msisdns_per_fsp = 50;
    s.timeout = Duration::from_secs(1);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_and_timeouts_add_up() {
    let bed = bed().await;
    let payers = Payers::new(&[bed.sims[0].sim().clone()], SECRET);
    let report = load::run(&scenario(40.0, 3), payers, None).await;
    assert_eq!(report.arrivals, 120);
    assert!(report.adds_up(), "{report:?}");
    let slow = &report.corridors[1];
    assert_eq!(
        slow.committed, 0,
        "perffsp6 answers after the payer's timeout"
    );
    assert_eq!(report.timed_out, slow.arrivals);
    let rejected = report.errors_by_code.get("5105").copied().unwrap_or(0);
    assert_eq!(report.rejected, rejected);
    let fast = &report.corridors[0];
    assert_eq!(fast.committed + rejected, fast.arrivals);
    assert!(
        rejected > fast.arrivals / 10 && rejected < fast.arrivals * 6 / 10,
        "30 % ± noise: {rejected} of {}",
        fast.arrivals
    );
    assert!(!report.passed, "success threshold cannot hold");
    for s in bed.sims {
        s.shutdown(Duration::from_secs(1)).await;
    }
    bed.hub.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_that_dies_mid_run_loses_nothing() {
    let bed = bed().await;
    let payers = Payers::new(&[bed.sims[0].sim().clone()], SECRET);
    let mut s = scenario(40.0, 4);
    s.corridors.truncate(1);
    let run = tokio::spawn(async move { load::run(&s, payers, None).await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    bed.hub.shutdown(Duration::from_millis(100)).await;
    let report = run.await.unwrap();
    assert_eq!(report.arrivals, 160);
    assert!(report.adds_up(), "{report:?}");
    assert!(report.committed > 0, "some committed before the hub died");
    assert!(
        report.not_sent > 0,
        "later arrivals could not be sent: {:?}",
        report.errors_by_code
    );
    for s in bed.sims {
        s.shutdown(Duration::from_secs(1)).await;
    }
}

#[test]
fn every_shipped_scenario_parses() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let s = Scenario::parse(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                format!("{}.toml", s.name),
                path.file_name().unwrap().to_string_lossy(),
                "name matches the file"
            );
            n += 1;
        }
    }
    assert!(
        n >= 7,
        "smoke, baseline, scale, target, endurance, stress, hot-payer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_finds_the_breaking_rule_and_checks_recovery() {
    let bed = bed().await;
    let payers = Payers::new(&[bed.sims[0].sim().clone()], SECRET);
    let mut s = scenario(20.0, 2);
    s.corridors.truncate(1); // perffsp5 rejects 30 % of transfers with 5105
    let plan = load::stress::StressPlan {
        start_rate: 20.0,
        step: 20.0,
        step_duration: Duration::from_secs(2),
        max_rate: 100.0,
        max_error_pct: 1.0,
        max_p99_ms: 500.0,
        min_achieved_ratio: 0.5,
        // Enough arrivals that a 30 % random rejection cannot miss them all (0.7^64 ≈ 1e-10).
        recovery_rate: Some(20.0),
        recovery_duration: Some(Duration::from_secs(4)),
    };
    let r = load::stress::run(&s, &plan, payers, None).await;
    assert!(!r.stages[0].interrupted);
    assert!(
        r.stages.len() >= 2 && r.stages[1..].iter().all(|s| s.interrupted),
        "the next stage started on schedule before the first was judged: {:?}",
        r.stages
    );
    assert_eq!(r.broke_at_tps, Some(20.0));
    assert_eq!(r.breaking_point_tps, None);
    assert!(r.broke_by[0].starts_with("error rate"), "{:?}", r.broke_by);
    assert_eq!(r.first_error.as_deref(), Some("5105"));
    assert_eq!(r.most_frequent_error.as_deref(), Some("5105"));
    assert!(
        r.first_error_at_s.unwrap() < 2.5,
        "{:?}",
        r.first_error_at_s
    );
    // Every stage's arrivals come from the scheduler's per-stage count: 40 in the first.
    assert_eq!(r.stages[0].arrivals, 40);
    assert_eq!(
        r.recovered,
        Some(false),
        "the rejections persist at any rate"
    );
    assert!(r.stage_reports.iter().all(load::Report::adds_up));
    assert!(r.to_markdown().contains("did not recover"));
    // Issue 25, item 4: an interrupted stage shows the rate it was offered and what arrived
    // and was achieved in it, as its own report says.
    let md = r.to_markdown();
    let second = &r.stage_reports[1];
    assert!(
        md.contains(&format!(
            "| 40 offered (interrupted: {:.1}/s arrived, {:.1}/s achieved) | {} |",
            second.target_tps, second.achieved_tps, r.stages[1].arrivals
        )),
        "{md}"
    );
    for s in bed.sims {
        s.shutdown(Duration::from_secs(1)).await;
    }
    bed.hub.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_stages_run_back_to_back_and_live_metrics_cover_the_ramp() {
    let bed = bed().await;
    let payers = Payers::new(&[bed.sims[0].sim().clone()], SECRET);
    let mut s = scenario(10.0, 2);
    s.corridors.truncate(1);
    s.corridors[0].payee = "perffsp6".into(); // answers transfers after 2.5 s
    s.timeout = Duration::from_secs(5);
    let plan = load::stress::StressPlan {
        start_rate: 10.0,
        step: 5.0,
        step_duration: Duration::from_secs(2),
        max_rate: 20.0,
        max_error_pct: 1.0,
        max_p99_ms: 10_000.0,
        min_achieved_ratio: 0.0,
        recovery_rate: None,
        recovery_duration: None,
    };
    let live = std::sync::Arc::new(load::live::LiveMetrics::default());
    // The payer's own gauge of flows waiting, sampled while the ramp runs.
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (sim, peak, done) = (bed.sims[0].sim().clone(), peak.clone(), done.clone());
        tokio::spawn(async move {
            use std::sync::atomic::Ordering::Relaxed;
            while !done.load(Relaxed) {
                peak.fetch_max(sim.waiting(), Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let r = load::stress::run_with(&s, &plan, payers, None, Some(live.clone())).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    sampler.await.unwrap();
    assert_eq!(r.broke_at_tps, None, "{r:?}");
    assert_eq!(r.breaking_point_tps, Some(20.0));
    let arrivals: Vec<u64> = r.stages.iter().map(|s| s.arrivals).collect();
    assert_eq!(arrivals, vec![20, 30, 40]);
    assert!(r.stage_reports.iter().all(load::Report::adds_up));
    assert_eq!(
        live.finished(),
        90,
        "the ramp's arrivals are in the live metrics"
    );
    // Back to back, judged by overlap, not by time: every transfer waits at least the payee's
    // 2.5 s, longer than a stage, so a stage that began without waiting for the one before it
    // to drain had both in flight at once — more flows waiting than the largest stage's 40
    // arrivals. A ramp that drained between stages never has more than one stage in flight.
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        peak > 40,
        "at most {peak} flows waited at once: the stages did not overlap"
    );
    for s in bed.sims {
        s.shutdown(Duration::from_secs(1)).await;
    }
    bed.hub.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_that_drops_callbacks_loses_nothing() {
    let bed = bed_with(|h| h.drop_callbacks = 0.05).await;
    let payers = Payers::new(&[bed.sims[0].sim().clone()], SECRET);
    let mut s = scenario(40.0, 3);
    s.corridors.truncate(1);
    s.corridors[0].payee = "perffsp5".into();
    let report = load::run(&s, payers, None).await;
    assert_eq!(report.arrivals, 120);
    assert!(report.adds_up(), "{report:?}");
    let dropped = bed.hub.hub().stats.callbacks_dropped.get();
    assert!(dropped > 0, "5 % of ~10 callbacks per transfer");
    assert!(
        report.timed_out > 0,
        "a dropped callback leaves its payer waiting: {:?}",
        report.errors_by_code
    );
    assert_eq!(report.committed + report.rejected + report.timed_out, 120);
    for s in bed.sims {
        s.shutdown(Duration::from_secs(1)).await;
    }
    bed.hub.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ping_flow_measures_the_driver_alone() {
    let hub = hub::start(
        hub::Hub::new(hub::HubConfig::default(), None),
        "127.0.0.1:0".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let mut s = scenario(200.0, 2);
    s.flow = Flow::Ping;
    s.ping_url = Some(format!("http://{}/health", hub.addr));
    s.validate().unwrap();
    let report = load::run(&s, Payers::new(&[], SECRET), None).await;
    assert_eq!((report.arrivals, report.committed), (400, 400));
    assert!(report.latency_ms.e2e.p50 > 0.0);
    let mut bad = s.clone();
    bad.ping_url = None;
    assert!(bad.validate().unwrap_err().contains("ping_url"));
    hub.shutdown(Duration::from_secs(1)).await;
}
