//! Unit tests of the recorder, the judge and the merge.
use super::*;
use crate::report::merge::merge;
use crate::scenario::{Flow, Scenario};
use crate::Sample;
use std::time::Duration;

fn sample(i: u64) -> Sample {
    let outcome = match i % 17 {
        0 => Outcome::Rejected("5105".into()),
        1 => Outcome::TimedOut,
        2 => Outcome::NotSent("x".into()),
        3 => Outcome::FailedAfterSend("reset".into()),
        _ => Outcome::Committed,
    };
    let ms = |v: u64| Duration::from_micros(v * 137 % 90_000 + 500);
    Sample {
        index: i,
        intended: Duration::from_millis(i * 10),
        start_lag: Duration::from_micros(i % 900),
        corridor: (i % 4) as usize,
        outcome,
        e2e: ms(i) + Duration::from_millis(1),
        e2e_raw: ms(i),
        phases: [Some(ms(i / 3)), Some(ms(i / 5)), Some(ms(i / 7))],
        splits: [
            None,
            Some(sim::trace::Split {
                switch_in: ms(i / 11),
                simulator: ms(i / 13),
                switch_out: ms(i / 17),
            }),
            Some(sim::trace::Split {
                switch_in: ms(i / 2),
                simulator: ms(i / 19),
                switch_out: ms(i / 23),
            }),
        ],
        uncertain: None,
    }
}

#[test]
fn verdict_says_when_nothing_was_judged() {
    // A scenario file without `[thresholds]` gets the seed's success criterion.
    let text = "name = \"v\"\nstages = [{ rate = 100, duration = \"10s\" }]\n";
    let judged = Scenario::parse(text).unwrap();
    let unjudged = Scenario::parse(&format!("{text}[thresholds]\n")).unwrap();
    let report = |scenario: &Scenario, rejected: bool| {
        let mut r = Recorder::new(scenario, time::OffsetDateTime::UNIX_EPOCH);
        for i in 0..1000 {
            let mut s = sample(i);
            if rejected {
                s.outcome = Outcome::Rejected("4001".into());
            }
            r.record(&s);
        }
        r.finish(1000)
    };
    let failed = report(&judged, true);
    assert!(!failed.passed);
    assert_eq!(failed.verdict(), "FAILED");
    assert!(failed
        .to_markdown()
        .starts_with("# perfbed report — v (p2p) — FAILED"));
    let open = report(&unjudged, false);
    assert!(open.thresholds.is_empty());
    assert_eq!(open.verdict(), "NO THRESHOLDS");
    assert!(open.ok());
    assert!(open.to_html().contains("NO THRESHOLDS"));
    // Without thresholds, a run that committed nothing still proved nothing: it fails.
    let nothing = report(&unjudged, true);
    assert_eq!(nothing.verdict(), "FAILED");
    assert!(!nothing.passed && !nothing.ok());
    assert_eq!(
        nothing.failures(),
        ["nothing committed: 1000 arrivals, 0 committed (is the switch up and onboarded?)"]
    );
}

#[test]
fn cost_per_million_follows_the_achieved_rate() {
    let mut scenario = Scenario::constant("c", Flow::P2p, 100.0, Duration::from_secs(10));
    scenario.cost = Some(crate::scenario::CostModel {
        nodes: vec![
            crate::scenario::NodePrice {
                name: "m5.2xlarge".into(),
                count: 10,
                hourly: 0.384,
            },
            crate::scenario::NodePrice {
                name: "c5.2xlarge".into(),
                count: 5,
                hourly: 0.34,
            },
        ],
        currency: "USD".into(),
    });
    let mut r = Recorder::new(&scenario, time::OffsetDateTime::UNIX_EPOCH);
    for i in 0..1000 {
        let mut s = sample(i);
        s.outcome = Outcome::Committed;
        r.record(&s);
    }
    let report = r.finish(1000);
    let c = report.cost.clone().unwrap();
    assert!((c.hourly - 5.54).abs() < 1e-9, "{c:?}");
    let want = 5.54 / (report.achieved_tps * 3600.0) * 1e6;
    assert!((c.per_million.unwrap() - want).abs() < 1e-9);
    assert!(report.to_markdown().contains("per million transfers"));
    let merged = merge(&replicas(&[report.clone(), report.clone()])).unwrap();
    let m = merged.cost.unwrap();
    assert!(
        (m.per_million.unwrap() - c.per_million.unwrap() / 2.0).abs() < 1e-9,
        "twice the transfers on the same cluster"
    );
}

#[test]
fn merge_of_replica_reports_equals_the_report_of_the_whole() {
    let scenario = Scenario::constant("m", Flow::P2p, 100.0, Duration::from_secs(10));
    let t0 = time::OffsetDateTime::UNIX_EPOCH;
    let mut whole = Recorder::new(&scenario, t0);
    let mut parts = [
        Recorder::new(&scenario, t0),
        Recorder::new(&scenario, t0),
        Recorder::new(&scenario, t0),
    ];
    for i in 0..1000 {
        let s = sample(i);
        whole.record(&s);
        parts[(i % 3) as usize].record(&s);
    }
    let whole = whole.finish(1000);
    let scheduled = [334, 333, 333];
    let parts: Vec<Report> = replicas(
        &parts
            .into_iter()
            .zip(scheduled)
            .map(|(p, n)| p.finish(n))
            .collect::<Vec<_>>(),
    );
    let merged = merge(&parts).unwrap();
    assert_eq!(merged.replicas, 3);
    assert!(merged.switch_metrics.is_none());
    // The switch's legs (one replica read them) are compared with the merged driver count.
    let mut with_legs = parts.clone();
    with_legs[1].switch_metrics = Some(crate::report::SwitchMetrics {
        driver_committed: with_legs[1].window.committed,
        ..Default::default()
    });
    let m = merge(&with_legs).unwrap().switch_metrics.unwrap();
    assert_eq!(m.driver_committed, whole.window.committed);
    assert!(
        m.notes[0].contains("one of the 3 replicas"),
        "{:?}",
        m.notes
    );
    assert!(!whole.attribution.is_empty());
    assert_eq!(
        merged.attribution, whole.attribution,
        "attribution merges exactly"
    );
    assert!(
        whole.attribution.iter().all(|a| a.phase != "lookup"),
        "untraced phase left out"
    );
    assert_eq!(
        (
            merged.arrivals,
            merged.committed,
            merged.rejected,
            merged.timed_out,
            merged.not_sent
        ),
        (
            whole.arrivals,
            whole.committed,
            whole.rejected,
            whole.timed_out,
            whole.not_sent
        )
    );
    assert!(merged.adds_up());
    assert_eq!(merged.latency_ms, whole.latency_ms);
    assert_eq!(merged.start_lag_ms, whole.start_lag_ms);
    assert_eq!(merged.corridors, whole.corridors);
    assert_eq!(merged.errors_by_code, whole.errors_by_code);
    let counts = |w: &Window| (w.arrivals, w.committed, w.completions, w.seconds);
    assert_eq!(counts(&merged.window), counts(&whole.window));
    assert!((merged.success_rate - whole.success_rate).abs() < 1e-9);
    // Each replica shifts its throughput window by its own median latency: close to the
    // whole's, not exact.
    assert!(
        (merged.achieved_tps - whole.achieved_tps).abs() <= 0.01 * whole.achieved_tps,
        "{} vs {}",
        merged.achieved_tps,
        whole.achieved_tps
    );
    assert_eq!(merged.thresholds, whole.thresholds);
    assert_eq!(merged.passed, whole.passed);
    assert_eq!(merged.latency_committed_ms, whole.latency_committed_ms);
    for (i, (m, w)) in merged.timeline.iter().zip(&whole.timeline).enumerate() {
        assert_eq!(
            (m.started, m.committed, m.failed),
            (w.started, w.committed, w.failed)
        );
        // The merged second's p95 is the worst replica's, which bounds the whole's from above.
        let worst = parts
            .iter()
            .map(|p| p.timeline[i].p95_ms)
            .fold(0.0, f64::max);
        assert_eq!(m.p95_ms, worst);
        assert!(m.p95_ms >= w.p95_ms, "second {i}: {m:?} vs {w:?}");
    }
    // Through the files, as `perfbed report merge` reads them.
    let reread: Vec<Report> = parts
        .iter()
        .map(|p| {
            let mut r: Report = serde_json::from_slice(&serde_json::to_vec(p).unwrap()).unwrap();
            r.histograms =
                crate::histograms::HistogramSet::from_json(&p.histograms.to_json()).unwrap();
            r
        })
        .collect();
    assert_eq!(merge(&reread).unwrap().latency_ms, whole.latency_ms);
    let mut other = parts.to_vec();
    other[1].scenario = "different".into();
    assert!(merge(&other).unwrap_err().contains("ran 'different'"));
}

/// Gives reports the identity of replicas 0..n of one run.
fn replicas(parts: &[Report]) -> Vec<Report> {
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut p = p.clone();
            p.run = RunInfo {
                id: "run-1".into(),
                tag: "0badcafe".into(),
                replica_count: parts.len() as u32,
                replica_indices: vec![i as u32],
                target_share: 100.0 / parts.len() as f64,
            };
            p
        })
        .collect()
}

#[test]
fn accounting_compares_the_schedulers_count_with_the_outcomes() {
    let scenario = Scenario::constant("a", Flow::P2p, 100.0, Duration::from_secs(10));
    let mut r = Recorder::new(&scenario, time::OffsetDateTime::UNIX_EPOCH);
    for i in 0..1000 {
        r.record(&sample(i));
    }
    let whole = r.finish(1000);
    assert!(whole.adds_up());
    assert!(whole.failed_after_send > 0 && whole.not_sent > 0 && whole.timed_out > 0);
    // One outcome missing: the scheduler started 1000, only 999 ended.
    let mut r = Recorder::new(&scenario, time::OffsetDateTime::UNIX_EPOCH);
    for i in 0..999 {
        r.record(&sample(i));
    }
    let short = r.finish(1000);
    assert!(!short.adds_up());
    assert_eq!(short.verdict(), "ACCOUNTING FAILED");
    assert!(short
        .to_markdown()
        .contains("ACCOUNTING FAILED: the scheduler started 1000 arrivals but 999"));
    // A lost iteration is an outcome, shown loudly, never a hole.
    let mut r = Recorder::new(&scenario, time::OffsetDateTime::UNIX_EPOCH);
    let mut lost = sample(5);
    lost.outcome = Outcome::Lost("panic".into());
    r.record(&lost);
    let one = r.finish(1);
    assert!(one.adds_up());
    assert_eq!(one.lost, 1);
    assert!(one.to_markdown().contains("LOST"));
}

#[test]
fn timeouts_and_rejections_are_in_the_headline_percentiles() {
    let scenario = Scenario::constant("s", Flow::P2p, 100.0, Duration::from_secs(10));
    let mut r = Recorder::new(&scenario, time::OffsetDateTime::UNIX_EPOCH);
    // 95 fast commits and 5 arrivals that time out after 30 s, inside the window.
    for i in 0..100u64 {
        let mut s = sample(i + 200);
        s.intended = Duration::from_millis(2000 + i * 10);
        if i % 20 == 0 {
            s.outcome = Outcome::TimedOut;
            s.e2e = Duration::from_secs(30);
            s.phases = [Some(Duration::from_secs(30)), None, None];
        } else {
            s.outcome = Outcome::Committed;
            s.e2e = Duration::from_millis(20);
        }
        r.record(&s);
    }
    let rep = r.finish(100);
    assert_eq!(rep.latency_ms.e2e.count, 100);
    assert_eq!(rep.latency_committed_ms.e2e.count, 95);
    assert!(
        rep.latency_ms.e2e.p99 >= 29_000.0,
        "{:?}",
        rep.latency_ms.e2e
    );
    assert!(rep.latency_committed_ms.e2e.p99 < 100.0);
    assert!(rep.latency_ms.lookup.p99 >= 29_000.0);
    let p99 = rep
        .thresholds
        .iter()
        .find(|t| t.name == "e2e_p99_ms")
        .unwrap();
    assert!(!p99.ok, "the threshold judges all outcomes: {p99:?}");
}

#[test]
fn merge_refuses_what_cannot_be_one_run() {
    let scenario = Scenario::constant("m", Flow::P2p, 100.0, Duration::from_secs(10));
    let part = |k: u64| {
        let mut r = Recorder::new(&scenario, time::OffsetDateTime::UNIX_EPOCH);
        for i in (k..300).step_by(3) {
            r.record(&sample(i));
        }
        r.finish(100)
    };
    let three = replicas(&[part(0), part(1), part(2)]);
    let merged = merge(&three).unwrap();
    assert_eq!(merged.run.replica_indices, vec![0, 1, 2]);
    assert!((merged.run.target_share - 100.0).abs() < 1e-9);
    // The same replica's folder twice (a retried pod) and one missing.
    let twice = vec![three[0].clone(), three[1].clone(), three[1].clone()];
    let e = merge(&twice).unwrap_err();
    assert!(e.contains("replica 1 appears twice"), "{e}");
    let e = merge(&three[..2]).unwrap_err();
    assert!(e.contains("missing replica(s) 2"), "{e}");
    let mut mixed = three.clone();
    mixed[2].run.id = "run-2".into();
    let e = merge(&mixed).unwrap_err();
    assert!(e.contains("mixed runs"), "{e}");
    let mut old = three.clone();
    old[0].run.id = String::new();
    assert!(merge(&old).unwrap_err().contains("no run id"));
}

#[test]
fn crosscheck_agrees_only_within_what_the_driver_cannot_know() {
    let scenario = Scenario::constant("c", Flow::P2p, 100.0, Duration::from_secs(10));
    let mut r = Recorder::new(&scenario, time::OffsetDateTime::UNIX_EPOCH);
    for i in 0..170 {
        r.record(&sample(i));
    }
    let rep = r.finish(170);
    let uncertain = rep.timed_out + rep.failed_after_send + rep.lost;
    assert!(uncertain > 0);
    let states = |n: u64| [("COMMITTED".to_owned(), n)].into_iter().collect();
    let c = CrossCheck::judge(
        "hub emulator",
        "0badcafe",
        rep.committed,
        rep.uncertain(),
        states(rep.committed),
    );
    assert!(c.agrees && c.summary.starts_with("cross-check agrees"));
    let c = CrossCheck::judge(
        "hub emulator",
        "0badcafe",
        rep.committed,
        rep.uncertain(),
        states(rep.committed + uncertain),
    );
    assert!(c.agrees);
    let c = CrossCheck::judge(
        "hub emulator",
        "0badcafe",
        rep.committed,
        rep.uncertain(),
        states(rep.committed - 1),
    );
    assert!(!c.agrees);
    assert!(c.summary.starts_with(&format!(
        "CROSS-CHECK FAILED: driver {} committed",
        rep.committed
    )));
    let c = CrossCheck::judge(
        "ledger",
        "0badcafe",
        rep.committed,
        rep.uncertain(),
        states(rep.committed + uncertain + 1),
    );
    assert!(!c.agrees);
    let mut failed = rep.clone();
    failed.crosscheck = Some(c);
    assert_eq!(failed.verdict(), "CROSS-CHECK FAILED");
}

#[test]
fn the_timeline_has_percentile_bands_phases_and_failures_per_second() {
    let scenario = Scenario::constant("t", Flow::P2p, 100.0, Duration::from_secs(10));
    let t0 = time::OffsetDateTime::UNIX_EPOCH;
    let mut r = Recorder::new(&scenario, t0);
    let mut parts = [Recorder::new(&scenario, t0), Recorder::new(&scenario, t0)];
    // Second 3 by hand: 100 arrivals, latencies 1..=100 ms, lookup = e2e / 2, 3 rejected,
    // 2 timed out (at 100 ms: the timeout), 1 not sent (no latency).
    // The per-second histograms (e2e and phases) keep 2 significant digits and are made on a
    // second's first sample: a run keeps up to four per second of its length, so they must stay
    // small (a 3-digit u64 one has 23 552 counters; a 2 h run took 1.4 GB before it began).
    let mut e2e_of_second_3 = super::recorder::second_hist();
    assert!(e2e_of_second_3.distinct_values() <= 4096);
    let mut lookup_of_second_3 = super::recorder::second_hist();
    assert!(lookup_of_second_3.distinct_values() <= 4096);
    for i in 0..100u64 {
        let mut s = sample(i);
        s.intended = Duration::from_millis(3000 + i * 10);
        s.e2e = Duration::from_millis(i + 1);
        s.phases = [Some(s.e2e / 2), None, Some(s.e2e / 4)];
        s.outcome = match i {
            0..=2 => Outcome::Rejected("3100".into()),
            3 | 4 => Outcome::TimedOut,
            5 => Outcome::NotSent("x".into()),
            _ => Outcome::Committed,
        };
        if i != 5 {
            e2e_of_second_3.record(us(s.e2e)).unwrap();
            lookup_of_second_3.record(us(s.e2e / 2)).unwrap();
        }
        r.record(&s);
        parts[(i % 2) as usize].record(&s);
    }
    let rep = r.finish(100);
    let s3 = rep.timeline.iter().find(|s| s.second == 3).unwrap();
    fn ms<T: hdrhistogram::Counter>(h: &Histogram<T>, q: f64) -> f64 {
        h.value_at_quantile(q) as f64 / 1000.0
    }
    assert_eq!((s3.started, s3.committed, s3.failed), (100, 94, 6));
    assert_eq!((s3.rejected, s3.timed_out), (3, 2));
    assert_eq!(s3.p50_ms, ms(&e2e_of_second_3, 0.5));
    assert_eq!(s3.p95_ms, ms(&e2e_of_second_3, 0.95));
    assert_eq!(s3.p99_ms, ms(&e2e_of_second_3, 0.99));
    assert!(s3.p50_ms < s3.p95_ms && s3.p95_ms < s3.p99_ms, "{s3:?}");
    assert_eq!(s3.phase_p95_ms["lookup"], ms(&lookup_of_second_3, 0.95));
    assert!(s3.phase_p95_ms.contains_key("transfer"));
    assert!(
        !s3.phase_p95_ms.contains_key("quote"),
        "a phase nobody reached is absent, not 0"
    );
    let quiet = rep.timeline.iter().find(|s| s.second == 5).unwrap();
    assert_eq!((quiet.started, quiet.p99_ms), (0, 0.0));
    assert!(quiet.phase_p95_ms.is_empty());
    // Replicas: counts add up; per-second percentiles are the worst replica's.
    let reports: Vec<Report> = parts.into_iter().map(|p| p.finish(50)).collect();
    let worst = |f: fn(&Second) -> f64| {
        reports
            .iter()
            .map(|r| f(&r.timeline[3]))
            .fold(0.0, f64::max)
    };
    let merged = merge(&replicas(&reports)).unwrap();
    let m3 = &merged.timeline[3];
    assert_eq!((m3.rejected, m3.timed_out, m3.failed), (3, 2, 6));
    assert_eq!(m3.p50_ms, worst(|s| s.p50_ms));
    assert_eq!(m3.p99_ms, worst(|s| s.p99_ms));
    assert_eq!(
        m3.phase_p95_ms["lookup"],
        worst(|s| s.phase_p95_ms["lookup"])
    );
}

#[test]
fn a_warm_up_shorter_than_the_latency_does_not_bias_the_achieved_ratio() {
    // 30/s for 10 s, every arrival committed 3.5 s after its intended start, 2 s warm-up: the
    // window [2 s, 10 s) holds 240 arrivals, all committed, but only 195 commits complete
    // inside it.
    let mut scenario = Scenario::constant("w", Flow::P2p, 30.0, Duration::from_secs(10));
    scenario.warmup = Duration::from_secs(2);
    scenario.cooldown = Duration::ZERO;
    let mut r = Recorder::new(&scenario, time::OffsetDateTime::UNIX_EPOCH);
    for i in 0..300u64 {
        let mut s = sample(i);
        s.intended = Duration::from_secs_f64(i as f64 / 30.0);
        s.outcome = Outcome::Committed;
        s.e2e = Duration::from_millis(3500);
        s.e2e_raw = s.e2e;
        r.record(&s);
    }
    let report = r.finish(300);
    assert_eq!((report.committed, report.window.arrivals), (300, 240));
    let ratio =
        |r: &Report| judge::judge(r, &[("achieved_ratio".to_owned(), 0.99)]).unwrap()[0].value;
    assert_eq!(ratio(&report), 1.0);
    let achieved = report
        .thresholds
        .iter()
        .find(|t| t.name == "achieved_ratio");
    assert!(achieved.is_some_and(|t| t.ok), "{:?}", report.thresholds);
    assert_eq!(report.window.completions, 195);
    assert_eq!(report.window.shift_s, 3.5, "{:?}", report.window);
    assert!((report.completion_tps - 195.0 / 8.0).abs() < 1e-9);
    // The report says why the two differ.
    assert!(
        report.notes.iter().any(|n| n
            .starts_with("warm-up 2.0 s is shorter than the median end-to-end latency (3.5 s)")),
        "{:?}",
        report.notes
    );
    // Merged replicas count the same way.
    let merged = merge(&replicas(std::slice::from_ref(&report))).unwrap();
    assert_eq!(ratio(&merged), 1.0);
    // A saturated system: 30/s offered, commits at 20/s, a backlog that all commits late.
    // Throughput is what it is (2/3), not the share of arrivals that committed in the end.
    let mut r = Recorder::new(&scenario, time::OffsetDateTime::UNIX_EPOCH);
    for i in 0..300u64 {
        let mut s = sample(i);
        s.intended = Duration::from_secs_f64(i as f64 / 30.0);
        s.outcome = Outcome::Committed;
        s.e2e = Duration::from_secs_f64(i as f64 / 20.0 + 0.1) - s.intended;
        r.record(&s);
    }
    let saturated = r.finish(300);
    assert_eq!(saturated.success_rate, 100.0);
    assert!(
        (ratio(&saturated) - 2.0 / 3.0).abs() < 0.01,
        "{}",
        ratio(&saturated)
    );
    // A warm-up longer than the latency: no note.
    scenario.warmup = Duration::from_secs(4);
    let mut r = Recorder::new(&scenario, time::OffsetDateTime::UNIX_EPOCH);
    for i in 0..300u64 {
        let mut s = sample(i);
        s.intended = Duration::from_secs_f64(i as f64 / 30.0);
        s.outcome = Outcome::Committed;
        s.e2e = Duration::from_millis(3500);
        r.record(&s);
    }
    assert!(r.finish(300).notes.is_empty());
}
