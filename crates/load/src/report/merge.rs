//! Merging the reports of driver replicas into the report of the run: counts and rates add up,
//! latencies come from the merged histograms (exact), thresholds are judged again on the whole
//! with the same table. What cannot be one run is refused, naming the culprits: parts of
//! different runs or scenarios, a replica present twice, a replica missing, replicas that did
//! not measure the same time (their steady-state windows overlap less than [`MIN_OVERLAP`]).

use std::collections::BTreeMap;

use super::{
    attribution_from, hist_or_empty, judge, latencies_from, percentiles, Report, ALL, COMMITTED,
};

/// The least share of the longer window that every two replicas' steady-state windows must
/// have in common: below it their rates were offered at different times and do not add up.
pub const MIN_OVERLAP: f64 = 0.9;

/// What a merge asks of its parts beyond being replicas of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checks {
    /// Every replica of the run is there.
    pub every_replica: bool,
    /// Their windows overlap by [`MIN_OVERLAP`] at least.
    pub overlap: bool,
}

impl Checks {
    /// Both.
    pub const ALL: Checks = Checks {
        every_replica: true,
        overlap: true,
    };
}

/// Merges the reports of the replicas of one run (each with its `histograms` loaded). The
/// timeline's per-second percentiles (p50, p95, p99, each phase's p95) are the worst
/// replica's (an upper bound; per-second histograms are not kept).
pub fn merge(parts: &[Report]) -> Result<Report, String> {
    merge_with(parts, Checks::ALL)
}

/// [`merge`], asking only `checks` of the parts (a stress merge's stage that not every
/// replica ran).
pub fn merge_with(parts: &[Report], checks: Checks) -> Result<Report, String> {
    let first = parts.first().ok_or("nothing to merge")?;
    check_one_run(parts, checks.every_replica)?;
    if checks.overlap {
        check_overlap(parts)?;
    }
    let mut set = crate::histograms::HistogramSet::default();
    let mut out = first.clone();
    for (i, p) in parts.iter().enumerate() {
        set.merge(&p.histograms).map_err(|e| e.to_string())?;
        if i == 0 {
            continue;
        }
        out.replicas += p.replicas;
        out.run.replica_indices.extend(&p.run.replica_indices);
        out.run.target_share += p.run.target_share;
        out.started = out.started.clone().min(p.started.clone());
        out.arrivals += p.arrivals;
        out.committed += p.committed;
        out.rejected += p.rejected;
        out.timed_out += p.timed_out;
        out.failed_after_send += p.failed_after_send;
        out.not_sent += p.not_sent;
        out.lost += p.lost;
        out.late_callbacks += p.late_callbacks;
        out.callbacks_failed += p.callbacks_failed;
        out.late_arrivals += p.late_arrivals;
        out.window.arrivals += p.window.arrivals;
        out.window.committed += p.window.committed;
        out.window.completions += p.window.completions;
        out.window.completions_shifted += p.window.completions_shifted;
        // Each replica shifted by its own median; the merged window states the largest.
        out.window.shift_s = out.window.shift_s.max(p.window.shift_s);
        out.notes.extend(p.notes.iter().cloned());
        // Each replica measured its own peers: all of them are kept, and judged.
        out.clocks.extend(p.clocks.iter().cloned());
        // Each replica keeps its own budget: the run's is their sum, and the sum of their
        // peaks bounds the run's.
        let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        out.in_flight_budget = add(out.in_flight_budget, p.in_flight_budget);
        out.in_flight_limit_low = add(out.in_flight_limit_low, p.in_flight_limit_low);
        out.in_flight_peak = add(out.in_flight_peak, p.in_flight_peak);
        for (k, v) in &p.errors_by_code {
            *out.errors_by_code.entry(k.clone()).or_default() += v;
        }
        for c in &p.corridors {
            match out.corridors.iter_mut().find(|x| x.corridor == c.corridor) {
                Some(x) => {
                    x.arrivals += c.arrivals;
                    x.committed += c.committed;
                }
                None => out.corridors.push(c.clone()),
            }
        }
        for s in &p.timeline {
            match out.timeline.iter_mut().find(|x| x.second == s.second) {
                Some(x) => {
                    // Each replica records its own share of the target rate.
                    x.target_rate += s.target_rate;
                    x.started += s.started;
                    x.committed += s.committed;
                    x.failed += s.failed;
                    x.p95_ms = x.p95_ms.max(s.p95_ms);
                    x.p50_ms = x.p50_ms.max(s.p50_ms);
                    x.p99_ms = x.p99_ms.max(s.p99_ms);
                    x.rejected += s.rejected;
                    x.timed_out += s.timed_out;
                    for (phase, p95) in &s.phase_p95_ms {
                        let v = x.phase_p95_ms.entry(phase.clone()).or_default();
                        *v = v.max(*p95);
                    }
                }
                None => out.timeline.push(s.clone()),
            }
        }
    }
    out.run.replica_indices.sort_unstable();
    out.clocks.sort_by_key(|c| c.replica);
    // A per-replica cross-check does not hold for the whole; the caller checks the merged run.
    out.crosscheck = None;
    out.no_crosscheck = None;
    // Per transfer, so the replicas' reconciliations add up (when each has one).
    out.reconciliation = parts
        .iter()
        .map(|p| p.reconciliation.clone())
        .reduce(|a, b| Some(a?.add(&b?)))
        .flatten();
    // Each replica's simulators, side by side (a refusal anywhere fails the merged run too).
    out.simulators = parts
        .iter()
        .filter_map(|p| p.simulators.clone())
        .reduce(|a, b| a.add(&b));
    // The switch's legs are the switch's own totals, the same whichever replica read them:
    // the first replica's that has them, against the merged driver count.
    out.switch_metrics = parts.iter().find_map(|p| p.switch_metrics.clone());
    if let Some(m) = &mut out.switch_metrics {
        m.driver_committed = out.window.committed;
        m.notes.push(format!(
            "read by one of the {} replicas: the switch's legs count every replica's traffic, compared here with the merged driver count",
            parts.len()
        ));
    }
    let w = &out.window;
    let secs = w.seconds.max(1e-9);
    out.target_tps = w.arrivals as f64 / secs;
    out.achieved_tps = w.completions_shifted / secs;
    out.completion_tps = w.completions as f64 / secs;
    if let Some(c) = &mut out.cost {
        // The same cluster carried every replica's load.
        c.tps = out.achieved_tps;
        c.per_million = (c.tps > 0.0).then(|| c.hourly / (c.tps * 3600.0) * 1_000_000.0);
    }
    out.success_rate = if w.arrivals == 0 {
        0.0
    } else {
        100.0 * w.committed as f64 / w.arrivals as f64
    };
    out.latency_ms = latencies_from(&set, ALL);
    out.latency_committed_ms = latencies_from(&set, COMMITTED);
    out.start_lag_ms = percentiles(&hist_or_empty(&set, "start_lag"));
    for c in &mut out.corridors {
        c.e2e = percentiles(&hist_or_empty(&set, &format!("corridor:{}", c.corridor)));
    }
    let names: Vec<String> = out.corridors.iter().map(|c| c.corridor.clone()).collect();
    out.attribution = attribution_from(&set, &names);
    let limits: Vec<(String, f64)> = out
        .thresholds
        .iter()
        .map(|t| (t.name.clone(), t.limit))
        .collect();
    out.thresholds = judge::judge(&out, &limits)?;
    out.settle_passed();
    out.histograms = set;
    Ok(out)
}

/// The replicas a part holds, for messages: `2`, or `0+1` for a merged part.
fn replicas_of(p: &Report) -> String {
    p.run
        .replica_indices
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join("+")
}

/// A part's steady-state window, seconds since the Unix epoch.
fn window_of(p: &Report, i: usize) -> Result<(f64, f64), String> {
    let t = time::OffsetDateTime::parse(&p.started, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("part {i}: start '{}' is not RFC 3339: {e}", p.started))?;
    let t0 = t.unix_timestamp_nanos() as f64 / 1e9;
    Ok((t0 + p.method.window_s[0], t0 + p.method.window_s[1]))
}

/// Refuses replicas that measured different times: every two steady-state windows must share
/// [`MIN_OVERLAP`] of the longer one. Names every pair below it, and by how much.
pub fn check_overlap(parts: &[Report]) -> Result<(), String> {
    let windows = parts
        .iter()
        .enumerate()
        .map(|(i, p)| window_of(p, i))
        .collect::<Result<Vec<_>, _>>()?;
    let mut short = Vec::new();
    for i in 0..parts.len() {
        for j in i + 1..parts.len() {
            let (a, b) = (windows[i], windows[j]);
            let longer = (a.1 - a.0).max(b.1 - b.0);
            if longer <= 0.0 {
                continue;
            }
            let common = (a.1.min(b.1) - a.0.max(b.0)).max(0.0);
            let overlap = common / longer;
            if overlap < MIN_OVERLAP {
                let (early, late, by) = if b.0 >= a.0 {
                    (i, j, b.0 - a.0)
                } else {
                    (j, i, a.0 - b.0)
                };
                short.push(format!(
                    "replicas {} and {} overlap {:.1} % of {longer:.1} s: replica {}'s window began {by:.1} s after replica {}'s",
                    replicas_of(&parts[i]),
                    replicas_of(&parts[j]),
                    overlap * 100.0,
                    replicas_of(&parts[late]),
                    replicas_of(&parts[early]),
                ));
            }
        }
    }
    if short.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the replicas' measured windows overlap less than {:.0} %, so their rates do not add up: {}; start every replica at one time (perfbed run --start-at)",
            MIN_OVERLAP * 100.0,
            short.join("; ")
        ))
    }
}

/// Refuses parts that cannot be the replicas of one run (with `every`: of the whole run).
pub(crate) fn check_one_run(parts: &[Report], every: bool) -> Result<(), String> {
    let first = &parts[0];
    if first.run.id.is_empty() {
        return Err("part 0 carries no run id (made by an older perfbed): cannot tell which run it belongs to".into());
    }
    let mut seen: BTreeMap<u32, usize> = BTreeMap::new();
    for (i, p) in parts.iter().enumerate() {
        if p.run.id != first.run.id {
            return Err(format!(
                "part {i} belongs to run '{}', part 0 to run '{}': mixed runs",
                p.run.id, first.run.id
            ));
        }
        if p.scenario != first.scenario || p.flow != first.flow {
            return Err(format!(
                "part {i} ran '{}' ({}), not '{}' ({})",
                p.scenario, p.flow, first.scenario, first.flow
            ));
        }
        if p.run.replica_count != first.run.replica_count {
            return Err(format!(
                "part {i} says the run has {} replicas, part 0 says {}",
                p.run.replica_count, first.run.replica_count
            ));
        }
        for r in &p.run.replica_indices {
            if let Some(j) = seen.insert(*r, i) {
                return Err(format!(
                    "replica {r} appears twice (parts {j} and {i}): the same replica's results merged twice"
                ));
            }
        }
    }
    let missing: Vec<String> = (0..first.run.replica_count)
        .filter(|r| !seen.contains_key(r))
        .map(|r| r.to_string())
        .collect();
    if every && !missing.is_empty() {
        return Err(format!(
            "run '{}' has {} replicas; missing replica(s) {}",
            first.run.id,
            first.run.replica_count,
            missing.join(", ")
        ));
    }
    if let Some(r) = seen.keys().find(|r| **r >= first.run.replica_count) {
        return Err(format!(
            "replica index {r} is out of range for {} replicas",
            first.run.replica_count
        ));
    }
    Ok(())
}
