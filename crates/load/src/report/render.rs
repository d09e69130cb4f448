//! The Markdown summary (the HTML report is in `html.rs`), both from the one model.

use super::Report;

impl Report {
    /// The end-of-test summary.
    pub fn to_markdown(&self) -> String {
        let mut m = String::new();
        let verdict = self.verdict();
        m.push_str(&format!(
            "# perfbed report — {} ({}) — {verdict}\n\n",
            self.scenario, self.flow
        ));
        m.push_str(&format!("Started {}, {:.0} s scheduled; headline numbers over the steady-state window {:.0}–{:.0} s.\n\n", self.started, self.duration_s, self.method.window_s[0], self.method.window_s[1]));
        m.push_str("| Arrivals (scheduler, whole run) | Committed (whole run) | Rejected | Timed out | Failed after send | Not sent | Lost | Late starts (>10 ms) | Target TPS (window) | Achieved TPS (window) | Success (window) |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        m.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.2} % |\n\n",
            self.arrivals,
            self.committed,
            self.rejected,
            self.timed_out,
            self.failed_after_send,
            self.not_sent,
            self.lost,
            self.late_arrivals,
            self.target_tps,
            self.achieved_tps,
            self.success_rate
        ));
        m.push_str(&format!("{}\n\n", self.window_note()));
        m.push_str(&format!("{}\n\n", self.accounting_line()));
        let failures = self.failures();
        if !failures.is_empty() {
            m.push_str("**Why this run did not pass:**\n\n");
            for f in &failures {
                m.push_str(&format!("- {f}\n"));
            }
            m.push('\n');
        }
        if let Some(e) = &self.environment {
            m.push_str(&format!("{}.\n\n", e.line()));
        }
        if let Some(o) = &self.operations {
            m.push_str(&format!("{}.\n\n", o.line()));
        }
        match &self.crosscheck {
            Some(c) => m.push_str(&format!(
                "{} (transfer ids `{}…`; switch states: {}).\n\n",
                c.summary,
                c.prefix,
                c.switch_by_state
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            None => m.push_str(&format!("{}.\n\n", self.crosscheck_line())),
        }
        if let Some(ids) = self.crosscheck.as_ref().and_then(|c| c.ids.as_ref()) {
            m.push_str(&ids_markdown(ids));
        }
        if let Some(r) = &self.reconciliation {
            m.push_str(&format!(
                "## Reconciliation\n\nWhat the switch ({}) did with the transfers the driver stopped waiting for, asked after the run (waited {:.1} s for it to settle them{}).\n\n| Timed out or failed after send | before the transfer | transfer asked | later committed | aborted | expired | still in flight | unknown |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n| {} | {} | {} | {} | {} | {} | {} | {} |\n\n",
                r.source, r.waited_s, ended_clause(&r.ended), r.uncertain, r.before_transfer, r.asked, r.committed, r.aborted, r.expired, r.in_flight, r.unknown
            ));
        }
        m.push_str(&clocks_markdown(&self.clocks));
        if self.lost > 0 {
            m.push_str(&format!(
                "**{} iterations were LOST (the driver itself failed: see the errors table). This is a perfbed bug; please report it.**\n\n",
                self.lost
            ));
        }
        if self.late_callbacks > 0 {
            m.push_str(&format!(
                "{} callbacks came after their request had given up (late; none completed another request).\n\n",
                self.late_callbacks
            ));
        }
        if let Some(sims) = &self.simulators {
            m.push_str(&format!("{}.\n\n", sims.line()));
        }
        if self.callbacks_failed > 0 {
            m.push_str(&format!(
                "**{} callbacks failed**: the simulators could not deliver them to the hub, even after sending each again while it went unanswered (refused, or unanswered through every retry: the simulator's log says why). This is the testbed's own loss, not the switch's: each left a flow waiting on the switch.\n\n",
                self.callbacks_failed
            ));
        }
        for n in &self.notes {
            m.push_str(&format!("- {n}\n"));
        }
        m.push_str("Latency of every arrival that ended at the switch (committed, rejected, timed out — at its timeout —, failed after send); thresholds judge these. Committed arrivals alone are marked (committed).\n\n");
        m.push_str("| Latency (ms) | count | p50 | p90 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|\n");
        let l = &self.latency_ms;
        let c = &self.latency_committed_ms;
        for (name, p, all) in [
            ("driver start lag (scheduling)", &self.start_lag_ms, None),
            ("end to end (from intended start)", &l.e2e, None),
            ("end to end (committed)", &c.e2e, Some(&l.e2e)),
            ("end to end (from actual start)", &l.e2e_raw, None),
            ("lookup", &l.lookup, None),
            ("lookup (committed)", &c.lookup, Some(&l.lookup)),
            ("quote", &l.quote, None),
            ("quote (committed)", &c.quote, Some(&l.quote)),
            ("transfer", &l.transfer, None),
            ("transfer (committed)", &c.transfer, Some(&l.transfer)),
        ] {
            // A committed-only row that equals the all-outcomes row says nothing new.
            if p.count > 0 && all.is_none_or(|a| a != p) {
                m.push_str(&format!(
                    "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
                    p.count, p.p50, p.p90, p.p95, p.p99, p.max
                ));
            }
        }
        m.push_str("\n| Corridor | weight | arrivals | committed | p95 ms | p99 ms |\n|---|---:|---:|---:|---:|---:|\n");
        for c in &self.corridors {
            m.push_str(&format!(
                "| {} | {} | {} | {} | {:.1} | {:.1} |\n",
                c.corridor, c.weight, c.arrivals, c.committed, c.e2e.p95, c.e2e.p99
            ));
        }
        if let Some(c) = &self.cost {
            match c.per_million {
                Some(p) => m.push_str(&format!(
                    "\nCost: {p:.2} {} per million transfers at {:.1} TPS (cluster {:.2} {}/h: {}).\n",
                    c.currency, c.tps, c.hourly, c.currency, c.basis
                )),
                None => m.push_str("\nCost: nothing committed, no cost per transfer.\n"),
            }
        }
        if let Some(sw) = &self.switch {
            m.push_str("\n## Switch-side evidence\n\n");
            if let Some(k) = &sw.kafka {
                m.push_str(&format!(
                    "{}: {}; gate **{}**{}{}.\n\n",
                    k.basis_line(),
                    k.ratios_line(),
                    k.verdict(),
                    if self.kafka_gate {
                        " (part of the verdict)"
                    } else {
                        " (evidence only: kafka_gate = true in [thresholds] makes it part of the verdict)"
                    },
                    k.max_lag
                        .map_or(String::new(), |l| format!("; worst consumer lag {l}"))
                ));
            }
            if !sw.positions.is_empty() {
                m.push_str("| FSP | position before → after | NDC headroom before → after | liquidity before → after |\n|---|---:|---:|---:|\n");
                for p in &sw.positions {
                    m.push_str(&format!(
                        "| {} | {} → {} | {} → {} | {} → {} |\n",
                        p.fsp,
                        p.before[0],
                        p.after[0],
                        p.before[1],
                        p.after[1],
                        p.before[2],
                        p.after[2]
                    ));
                }
            }
            for n in &sw.notes {
                m.push_str(&format!("\n- {n}"));
            }
            m.push('\n');
        }
        if !self.attribution.is_empty() {
            m.push_str("\n## Where the time goes\n\n");
            if let Some(t) = self
                .attribution
                .iter()
                .find(|a| a.corridor == "all" && a.phase == "transfer")
            {
                m.push_str(&format!(
                    "The switch added {:.1} ms p95 on the transfer leg ({:.1} ms in, {:.1} ms out); the payee simulators took {:.1} ms p95.\n\n",
                    t.switch_ms.p95, t.switch_in_ms.p95, t.switch_out_ms.p95, t.simulator_ms.p95
                ));
            }
            m.push_str("| Phase | corridor | count | switch in p50 / p95 | simulator p50 / p95 | switch out p50 / p95 | switch total p95 |\n|---|---|---:|---:|---:|---:|---:|\n");
            for a in &self.attribution {
                m.push_str(&format!(
                    "| {} | {} | {} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} |\n",
                    a.phase,
                    a.corridor,
                    a.switch_in_ms.count,
                    a.switch_in_ms.p50,
                    a.switch_in_ms.p95,
                    a.simulator_ms.p50,
                    a.simulator_ms.p95,
                    a.switch_out_ms.p50,
                    a.switch_out_ms.p95,
                    a.switch_ms.p95
                ));
            }
        }
        if let Some(sm) = &self.switch_metrics {
            m.push_str("\n## The switch's own view\n\n");
            m.push_str(&sm.intro());
            m.push_str("\n\n");
            if !sm.legs.is_empty() {
                m.push_str("| Leg | service | perfbed phase | count | vs driver committed | success | p50 | p95 | p99 | bucket edges | source |\n|---|---|---|---:|---:|---|---:|---:|---:|---|---|\n");
                for l in &sm.legs {
                    m.push_str(&format!(
                        "| `{}` ({}) | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                        l.name,
                        if l.what.is_empty() {
                            &l.verified
                        } else {
                            &l.what
                        },
                        l.service,
                        l.phase,
                        l.count,
                        sm.versus_driver(l),
                        l.success_text(),
                        l.pct_text("p50", l.p50_ms),
                        l.pct_text("p95", l.p95_ms),
                        l.pct_text("p99", l.p99_ms),
                        l.edges_text(),
                        l.source
                    ));
                }
            }
            for n in &sm.notes {
                m.push_str(&format!("\n- {n}"));
            }
            m.push('\n');
        }
        if !self.errors_by_code.is_empty() {
            m.push_str("\n| Error | count |\n|---|---:|\n");
            for (code, n) in &self.errors_by_code {
                m.push_str(&format!("| {code} | {n} |\n"));
            }
        }
        if !self.thresholds.is_empty() {
            m.push_str("\n| Threshold | limit | value | |\n|---|---:|---:|---|\n");
            for t in &self.thresholds {
                m.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    t.name,
                    t.limit,
                    t.value_text(),
                    match (t.ok, t.no_data) {
                        (true, _) => "ok",
                        (false, true) => "**FAILED: no data**",
                        (false, false) => "**FAILED**",
                    }
                ));
            }
        }
        m
    }

    /// One line: the scheduler's count against the outcomes.
    pub fn accounting_line(&self) -> String {
        if self.adds_up() {
            format!(
                "Accounting adds up: the scheduler started {} arrivals; {} ended as exactly one outcome.",
                self.arrivals,
                self.outcomes()
            )
        } else {
            format!(
                "ACCOUNTING FAILED: the scheduler started {} arrivals but {} outcomes were recorded ({} unaccounted).",
                self.arrivals,
                self.outcomes(),
                self.arrivals as i128 - self.outcomes() as i128
            )
        }
    }
}

/// The id-by-id comparison: a line of numbers, and the first mismatched ids of each side.
pub(crate) fn ids_markdown(ids: &crate::ids::IdComparison) -> String {
    let mut m = format!(
        "Id by id: {} of this run's transfers on the switch ({} committed), the driver's committed set {}, {} uncertain unresolved ({} of them committed on the switch), {} ids with the run's prefix from another run; {} mismatches.\n\n",
        ids.switch_ids,
        ids.switch_committed,
        ids.driver_committed,
        ids.unresolved,
        ids.unresolved_committed,
        ids.other_ids,
        ids.mismatches
    );
    for (title, side) in [
        ("Driver committed, switch not", &ids.driver_side),
        ("Switch committed, driver not", &ids.switch_side),
    ] {
        if side.is_empty() {
            continue;
        }
        m.push_str(&format!(
            "{title} (first {}):\n\n| Transfer id | driver | switch |\n|---|---|---|\n",
            side.len()
        ));
        for x in side {
            m.push_str(&format!("| `{}` | {} | {} |\n", x.id, x.driver, x.switch));
        }
        m.push('\n');
    }
    m
}

/// The clocks section of a distributed run: each replica's measurements of its peers.
pub(crate) fn clocks_markdown(clocks: &[super::ReplicaClocks]) -> String {
    if clocks.is_empty() {
        return String::new();
    }
    let ms = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.2}"));
    let mut m = String::from(
        "## Clocks of the driver replicas\n\nA callback relayed between replicas carries the relaying replica's receipt time; its owner converts it with the relaying replica's clock as it measured it on the relay link (best of repeated exchanges, ± half that exchange's round trip). Offset: the peer's clock minus the replica's.\n\n| Replica | peer | offset ms | ± ms | samples | failed | relayed callbacks | unconverted | before send | worst ± used ms | bound ± ms |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for c in clocks {
        for p in &c.peers {
            m.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |\n",
                c.replica,
                p.peer,
                p.offset_ms.map_or("unknown".into(), |o| format!("{o:+.2}")),
                ms(p.uncertainty_ms),
                p.samples,
                p.failures,
                p.relayed,
                p.unconverted,
                p.before_send,
                ms(p.worst_used_ms),
                c.max_uncertainty_ms
            ));
        }
    }
    m.push('\n');
    m
}

/// `; the wait ended: WHY` after a reconciliation's wait, nothing for an older report.
pub(crate) fn ended_clause(ended: &str) -> String {
    if ended.is_empty() {
        String::new()
    } else {
        format!("; the wait ended: {ended}")
    }
}

impl Report {
    /// What the counts and the rates cover: the counts the whole run, the rates and the
    /// success rate the steady-state window; and how achieved TPS was shifted (no shift, and
    /// "no data", when no arrival of the window committed).
    pub fn window_note(&self) -> String {
        let [from, to] = self.method.window_s;
        let shift = if self.window.committed == 0 {
            "no data: no arrival of the window committed, so the window is not shifted".to_owned()
        } else {
            format!("{:.2} s", self.window.shift_s)
        };
        format!(
            "Counts cover the whole run; Target TPS, Achieved TPS and Success cover the steady-state window {from:.0}–{to:.0} s ({} of its {} arrivals committed). Achieved TPS counts commits completed over the window shifted by the median latency of its committed arrivals ({shift}); commits completed inside the window itself: {:.1}/s.",
            self.window.committed, self.window.arrivals, self.completion_tps
        )
    }
}
