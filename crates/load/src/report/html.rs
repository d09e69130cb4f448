//! The self-contained HTML reports: one file each, inline SVG, no external resource. The run's
//! report tells everything `report.md` tells (accounting, cross-check, notes, latency of all
//! outcomes and of committed ones, where the time goes, corridors, errors by code, thresholds,
//! switch evidence, cost) plus charts over time: throughput, percentile bands (p50/p95/p99 per
//! second), each phase's p95, failures by kind. The stress page charts the ramp: offered
//! against achieved and p99 per stage, the breaking point and the recovery marked.

use super::svg::{esc, page, stacked_bars, table, Band, Bar, Chart, Limit, Line, Mark};
use super::{KafkaEvidence, Percentiles, Report, PHASES};
use crate::stress::StressReport;

/// The sections of a run's HTML report, in order (id, heading): every one is always there,
/// saying "none" when it has nothing.
pub const SECTIONS: [(&str, &str); 14] = [
    ("accounting", "Accounting and cross-check"),
    ("throughput", "Throughput"),
    ("latency-time", "Latency over time"),
    ("phases-time", "Phase latency over time"),
    ("errors-time", "Errors over time"),
    ("latency", "Latency"),
    ("attribution", "Where the time goes"),
    ("switch-metrics", "The switch's own view"),
    ("corridors", "Corridors"),
    ("errors", "Errors by code"),
    ("thresholds", "Thresholds"),
    ("switch", "Switch-side evidence"),
    ("cost", "Cost"),
    ("method", "Method"),
];

/// The sections of the stress page.
pub const STRESS_SECTIONS: [(&str, &str); 6] = [
    ("verdict", "Breaking point"),
    ("ramp", "Ramp"),
    ("p99", "p99 per stage"),
    ("stages", "Stages"),
    ("accounting", "Accounting and cross-check"),
    ("stage-reports", "Stage reports"),
];

const BLUE: &str = "#2c6fbb";
const GREEN: &str = "#1b7f3b";
const RED: &str = "#c0392b";
const GREY: &str = "#888";
const ORANGE: &str = "#d68910";
const PURPLE: &str = "#7d3c98";

fn section(id: &str, sections: &[(&str, &str)], body: &str) -> String {
    let heading = sections
        .iter()
        .find(|(i, _)| *i == id)
        .map_or(id, |(_, h)| h);
    format!(
        r#"<section id="{id}"><h2>{}</h2>{body}</section>"#,
        esc(heading)
    )
}

fn nav(sections: &[(&str, &str)]) -> String {
    let links: String = sections
        .iter()
        .map(|(id, h)| format!("<a href=\"#{id}\">{}</a>", esc(h)))
        .collect();
    format!("<nav>{links}</nav>")
}

fn p(text: &str) -> String {
    format!("<p>{}</p>", esc(text))
}

fn muted(text: &str) -> String {
    format!(r#"<p class="muted">{}</p>"#, esc(text))
}

/// The paragraph of a run without a cross-check: rightly not run (`ok`), or one that could
/// run and failed to ask the switch.
fn no_crosscheck(ok: bool, line: &str) -> String {
    let label = if ok {
        "not cross-checked"
    } else {
        "CROSS-CHECK FAILED"
    };
    format!("<p>{} {}</p>", badge(label, ok), esc(line))
}

fn badge(text: &str, ok: bool) -> String {
    format!(
        r#"<span class="v {}">{}</span>"#,
        if ok { "ok" } else { "bad" },
        esc(text)
    )
}

fn ms(v: f64) -> String {
    format!("{v:.1}")
}

fn percentile_rows(rows: &[(&str, &Percentiles)]) -> Vec<Vec<String>> {
    rows.iter()
        .filter(|(_, p)| p.count > 0)
        .map(|(n, p)| {
            vec![
                (*n).to_owned(),
                p.count.to_string(),
                ms(p.p50),
                ms(p.p90),
                ms(p.p95),
                ms(p.p99),
                ms(p.max),
            ]
        })
        .collect()
}

const PERCENTILE_HEAD: [&str; 7] = ["", "count", "p50", "p90", "p95", "p99", "max"];

/// A per-second latency: `None` when nothing ended at the switch that second (a recorded
/// latency is at least 1 µs, so 0 means empty).
fn present(v: f64) -> Option<f64> {
    (v > 0.0).then_some(v)
}

impl Report {
    /// The HTML report (one file, no external resources).
    pub fn to_html(&self) -> String {
        let verdict = self.verdict();
        let ok = verdict == "PASSED" || verdict == "NO THRESHOLDS";
        let mut body = format!(
            "<h1>perfbed report — {} ({}) {}</h1>",
            esc(&self.scenario),
            esc(&self.flow),
            badge(verdict, ok)
        );
        body.push_str(&p(&format!(
            "Run {}{}, started {}, {:.0} s scheduled. Headline numbers over the steady-state window {:.1}–{:.1} s.",
            if self.run.id.is_empty() { "(no id)" } else { &self.run.id },
            if self.replicas > 1 {
                format!(" ({} driver replicas merged)", self.replicas)
            } else {
                String::new()
            },
            self.started,
            self.duration_s,
            self.method.window_s[0],
            self.method.window_s[1]
        )));
        body.push_str(&nav(&SECTIONS));
        let s = |id: &str, b: String| section(id, &SECTIONS, &b);
        body.push_str(&s("accounting", self.html_accounting()));
        body.push_str(&s("throughput", self.html_throughput()));
        body.push_str(&s("latency-time", self.html_latency_time()));
        body.push_str(&s("phases-time", self.html_phases_time()));
        body.push_str(&s("errors-time", self.html_errors_time()));
        body.push_str(&s("latency", self.html_latency()));
        body.push_str(&s("attribution", self.html_attribution()));
        body.push_str(&s("switch-metrics", self.html_switch_metrics()));
        body.push_str(&s("corridors", self.html_corridors()));
        body.push_str(&s("errors", self.html_errors()));
        body.push_str(&s("thresholds", self.html_thresholds()));
        body.push_str(&s("switch", self.html_switch()));
        body.push_str(&s("cost", self.html_cost()));
        body.push_str(&s("method", self.html_method()));
        page(&format!("perfbed — {}", self.scenario), &body)
    }

    fn html_accounting(&self) -> String {
        let mut b = table(
            &[
                "Arrivals (scheduler, whole run)",
                "Committed (whole run)",
                "Rejected",
                "Timed out",
                "Failed after send",
                "Not sent",
                "Lost",
                "Late starts (>10 ms)",
                "Target TPS (window)",
                "Achieved TPS (window)",
                "Success (window)",
            ],
            &[vec![
                self.arrivals.to_string(),
                self.committed.to_string(),
                self.rejected.to_string(),
                self.timed_out.to_string(),
                self.failed_after_send.to_string(),
                self.not_sent.to_string(),
                self.lost.to_string(),
                self.late_arrivals.to_string(),
                format!("{:.1}", self.target_tps),
                format!("{:.1}", self.achieved_tps),
                format!("{:.2} %", self.success_rate),
            ]],
        );
        b.push_str(&format!(
            "<p>{} {}</p>",
            badge(
                if self.adds_up() {
                    "adds up"
                } else {
                    "ACCOUNTING FAILED"
                },
                self.adds_up()
            ),
            esc(&self.accounting_line())
        ));
        match &self.crosscheck {
            Some(c) => b.push_str(&format!(
                "<p>{} {} (transfer ids <code>{}…</code>; switch states: {}).</p>",
                badge(if c.agrees { "agrees" } else { "DISAGREES" }, c.agrees),
                esc(&c.summary),
                esc(&c.prefix),
                esc(&c
                    .switch_by_state
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", "))
            )),
            None => b.push_str(&no_crosscheck(
                self.crosscheck_ok(),
                &self.crosscheck_line(),
            )),
        }
        let failures = self.failures();
        if !failures.is_empty() {
            b.push_str("<h3>Why this run did not pass</h3><ul>");
            for f in &failures {
                b.push_str(&format!("<li>{}</li>", esc(f)));
            }
            b.push_str("</ul>");
        }
        if self.lost > 0 {
            b.push_str(&format!(
                "<p><strong>{} iterations were LOST (the driver itself failed: see the errors table). This is a perfbed bug; please report it.</strong></p>",
                self.lost
            ));
        }
        if self.late_callbacks > 0 {
            b.push_str(&p(&format!(
                "{} callbacks came after their request had given up (late; none completed another request).",
                self.late_callbacks
            )));
        }
        if let Some(sims) = &self.simulators {
            b.push_str(&p(&format!("{}.", sims.line())));
        }
        if self.callbacks_failed > 0 {
            b.push_str(&format!(
                "<p><strong>{} callbacks failed</strong>: the simulators could not deliver them to the hub (refused, reset or unanswered; the simulator's log says why). Each left a flow waiting on the switch.</p>",
                self.callbacks_failed
            ));
        }
        b.push_str(&p(&self.window_note()));
        if !self.clocks.is_empty() {
            b.push_str("<h3>Clocks of the driver replicas</h3>");
            b.push_str(&p("A callback relayed between replicas carries the relaying replica's receipt time; its owner converts it with the relaying replica's clock as it measured it on the relay link (best of repeated exchanges, ± half that exchange's round trip). Offset: the peer's clock minus the replica's."));
            let ms = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.2}"));
            let rows: Vec<Vec<String>> = self
                .clocks
                .iter()
                .flat_map(|c| {
                    c.peers.iter().map(move |q| {
                        vec![
                            c.replica.to_string(),
                            q.peer.to_string(),
                            q.offset_ms.map_or("unknown".into(), |o| format!("{o:+.2}")),
                            ms(q.uncertainty_ms),
                            q.samples.to_string(),
                            q.failures.to_string(),
                            q.relayed.to_string(),
                            q.unconverted.to_string(),
                            q.before_send.to_string(),
                            ms(q.worst_used_ms),
                            format!("{:.1}", c.max_uncertainty_ms),
                        ]
                    })
                })
                .collect();
            b.push_str(&table(
                &[
                    "Replica",
                    "peer",
                    "offset ms",
                    "± ms",
                    "samples",
                    "failed",
                    "relayed callbacks",
                    "unconverted",
                    "before send",
                    "worst ± used ms",
                    "bound ± ms",
                ],
                &rows,
            ));
        }
        if let Some(r) = &self.reconciliation {
            b.push_str(&format!(
                "<h3>Reconciliation</h3><p>What the switch ({}) did with the transfers the driver stopped waiting for, asked after the run (waited {:.1} s for it to settle them{}).</p>",
                esc(&r.source),
                r.waited_s,
                esc(&crate::report::render::ended_clause(&r.ended))
            ));
            b.push_str(&table(
                &[
                    "Timed out or failed after send",
                    "before the transfer",
                    "transfer asked",
                    "later committed",
                    "aborted",
                    "expired",
                    "still in flight",
                    "unknown",
                ],
                &[[
                    r.uncertain,
                    r.before_transfer,
                    r.asked,
                    r.committed,
                    r.aborted,
                    r.expired,
                    r.in_flight,
                    r.unknown,
                ]
                .iter()
                .map(u64::to_string)
                .collect()],
            ));
        }
        if self.notes.is_empty() {
            b.push_str(&muted("Notes: none."));
        } else {
            b.push_str("<h3>Notes</h3><ul>");
            for n in &self.notes {
                b.push_str(&format!("<li>{}</li>", esc(n)));
            }
            b.push_str("</ul>");
        }
        b
    }

    fn x_seconds(&self) -> Vec<String> {
        self.timeline
            .iter()
            .map(|s| format!("{}s", s.second))
            .collect()
    }

    /// The steady-state window's edges on a timeline chart.
    fn window_marks(&self) -> Vec<Mark> {
        let at = |t: f64| self.timeline.iter().position(|s| s.second as f64 >= t);
        let [w0, w1] = self.method.window_s;
        let mut marks = Vec::new();
        if let Some(i) = at(w0).filter(|_| w0 > 0.0) {
            marks.push(Mark {
                at: i,
                label: "window".into(),
                color: GREY,
            });
        }
        if let Some(i) = at(w1).filter(|_| w1 < self.duration_s) {
            marks.push(Mark {
                at: i,
                label: "end of window".into(),
                color: GREY,
            });
        }
        marks
    }

    fn html_throughput(&self) -> String {
        let t = &self.timeline;
        let mut c = Chart::new(
            "Transfers per second (by intended start)",
            "per second",
            self.x_seconds(),
        );
        c.lines
            .push(Line::all("target", GREY, t.iter().map(|s| s.target_rate)).dashed());
        c.lines.push(Line::all(
            "started",
            BLUE,
            t.iter().map(|s| s.started as f64),
        ));
        c.lines.push(Line::all(
            "committed",
            GREEN,
            t.iter().map(|s| s.committed as f64),
        ));
        c.lines
            .push(Line::all("failed", RED, t.iter().map(|s| s.failed as f64)));
        c.marks = self.window_marks();
        c.render()
    }

    fn html_latency_time(&self) -> String {
        let t = &self.timeline;
        let series = |f: fn(&super::Second) -> f64| -> Vec<Option<f64>> {
            t.iter().map(|s| present(f(s))).collect()
        };
        let (p50, p95, p99) = (
            series(|s| s.p50_ms),
            series(|s| s.p95_ms),
            series(|s| s.p99_ms),
        );
        let mut c = Chart::new(
            "End-to-end latency per second: p50, p95, p99 (all outcomes)",
            "ms",
            self.x_seconds(),
        );
        c.bands.push(Band {
            name: "p50–p95".into(),
            color: BLUE,
            low: p50.clone(),
            high: p95.clone(),
        });
        c.bands.push(Band {
            name: "p95–p99".into(),
            color: ORANGE,
            low: p95.clone(),
            high: p99.clone(),
        });
        c.lines.push(Line::new("p50", GREEN, p50));
        c.lines.push(Line::new("p95", BLUE, p95));
        c.lines.push(Line::new("p99", ORANGE, p99));
        for th in &self.thresholds {
            if th.name == "e2e_p95_ms" || th.name == "e2e_p99_ms" {
                c.limits.push(Limit {
                    value: th.limit,
                    label: format!(
                        "{} limit (whole window)",
                        th.name.trim_start_matches("e2e_").trim_end_matches("_ms")
                    ),
                    color: RED,
                });
            }
        }
        c.marks = self.window_marks();
        let mut b = c.render();
        b.push_str(&muted("Per second of intended start; the band between lines is the spread. Thresholds judge the whole window's percentiles, not each second's."));
        b
    }

    fn html_phases_time(&self) -> String {
        let colors = [PURPLE, ORANGE, BLUE];
        let mut c = Chart::new(
            "p95 of each phase per second (all outcomes)",
            "ms",
            self.x_seconds(),
        );
        for (phase, color) in PHASES.iter().zip(colors) {
            let v: Vec<Option<f64>> = self
                .timeline
                .iter()
                .map(|s| s.phase_p95_ms.get(*phase).copied())
                .collect();
            if v.iter().any(Option::is_some) {
                c.lines.push(Line::new(phase, color, v));
            }
        }
        if c.lines.is_empty() {
            return muted("No phase was timed per second in this run (older report, or a flow without phases).");
        }
        c.marks = self.window_marks();
        c.render()
    }

    fn html_errors_time(&self) -> String {
        let t = &self.timeline;
        let mut c = Chart::new(
            "Failed arrivals per second, by kind (by intended start)",
            "per second",
            self.x_seconds(),
        );
        c.lines.push(Line::all(
            "rejected",
            RED,
            t.iter().map(|s| s.rejected as f64),
        ));
        c.lines.push(Line::all(
            "timed out",
            ORANGE,
            t.iter().map(|s| s.timed_out as f64),
        ));
        c.lines.push(Line::all(
            "other (failed after send, not sent, lost)",
            PURPLE,
            t.iter()
                .map(|s| s.failed.saturating_sub(s.rejected + s.timed_out) as f64),
        ));
        c.marks = self.window_marks();
        let mut b = c.render();
        let failed: u64 = t.iter().map(|s| s.failed).sum();
        if failed == 0 {
            b.push_str(&muted("No arrival failed."));
        }
        b
    }

    fn html_latency(&self) -> String {
        let l = &self.latency_ms;
        let c = &self.latency_committed_ms;
        let mut b = p("Every arrival that ended at the switch (committed, rejected, timed out — at its timeout —, failed after send); thresholds judge these.");
        b.push_str("<h3>All outcomes (ms)</h3>");
        b.push_str(&table(
            &PERCENTILE_HEAD,
            &percentile_rows(&[
                ("end to end (from intended start)", &l.e2e),
                ("end to end (from actual start)", &l.e2e_raw),
                ("lookup", &l.lookup),
                ("quote", &l.quote),
                ("transfer", &l.transfer),
                ("driver start lag (scheduling)", &self.start_lag_ms),
            ]),
        ));
        b.push_str("<h3>Committed only (ms)</h3>");
        let rows = percentile_rows(&[
            ("end to end (from intended start)", &c.e2e),
            ("end to end (from actual start)", &c.e2e_raw),
            ("lookup", &c.lookup),
            ("quote", &c.quote),
            ("transfer", &c.transfer),
        ]);
        if rows.is_empty() {
            b.push_str(&muted("Nothing committed in the window."));
        } else {
            b.push_str(&table(&PERCENTILE_HEAD, &rows));
        }
        b
    }

    fn html_attribution(&self) -> String {
        if self.attribution.is_empty() {
            return muted("No traced phases: the switch did not carry the trace headers, or nothing committed in the window.");
        }
        let mut b = String::new();
        if let Some(t) = self
            .attribution
            .iter()
            .find(|a| a.corridor == "all" && a.phase == "transfer")
        {
            b.push_str(&p(&format!(
                "The switch added {:.1} ms p95 on the transfer leg ({:.1} ms in, {:.1} ms out); the payee simulators took {:.1} ms p95.",
                t.switch_ms.p95, t.switch_in_ms.p95, t.switch_out_ms.p95, t.simulator_ms.p95
            )));
        }
        let bars: Vec<Bar<'_>> = self
            .attribution
            .iter()
            .filter(|a| a.corridor == "all")
            .map(|a| {
                (
                    a.phase.clone(),
                    vec![
                        ("switch in", BLUE, a.switch_in_ms.p50),
                        ("simulator", GREEN, a.simulator_ms.p50),
                        ("switch out", ORANGE, a.switch_out_ms.p50),
                    ],
                )
            })
            .collect();
        b.push_str(&stacked_bars(
            "Each phase's median split: switch in, payee simulator, switch out (all corridors)",
            "ms",
            &bars,
        ));
        let rows: Vec<Vec<String>> = self
            .attribution
            .iter()
            .map(|a| {
                let pair = |p: &Percentiles| format!("{:.1} / {:.1}", p.p50, p.p95);
                vec![
                    a.phase.clone(),
                    a.corridor.clone(),
                    a.switch_in_ms.count.to_string(),
                    pair(&a.switch_in_ms),
                    pair(&a.simulator_ms),
                    pair(&a.switch_out_ms),
                    pair(&a.switch_ms),
                ]
            })
            .collect();
        b.push_str(&table(
            &[
                "Phase",
                "corridor",
                "count",
                "switch in p50 / p95",
                "simulator p50 / p95",
                "switch out p50 / p95",
                "switch total p50 / p95",
            ],
            &rows,
        ));
        b
    }

    fn html_corridors(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .corridors
            .iter()
            .map(|c| {
                vec![
                    c.corridor.clone(),
                    c.weight.to_string(),
                    c.arrivals.to_string(),
                    c.committed.to_string(),
                    ms(c.e2e.p50),
                    ms(c.e2e.p95),
                    ms(c.e2e.p99),
                ]
            })
            .collect();
        table(
            &[
                "Corridor",
                "weight",
                "arrivals",
                "committed",
                "p50 ms",
                "p95 ms",
                "p99 ms",
            ],
            &rows,
        )
    }

    fn html_errors(&self) -> String {
        if self.errors_by_code.is_empty() {
            return muted("No errors.");
        }
        let rows: Vec<Vec<String>> = self
            .errors_by_code
            .iter()
            .map(|(k, v)| vec![k.clone(), v.to_string()])
            .collect();
        table(&["Error (FSPIOP code or kind)", "count"], &rows)
    }

    fn html_thresholds(&self) -> String {
        if self.thresholds.is_empty() {
            return muted("No thresholds set: nothing was judged.");
        }
        let rows: Vec<Vec<String>> = self
            .thresholds
            .iter()
            .map(|t| {
                vec![
                    t.name.clone(),
                    t.limit.to_string(),
                    t.value_text(),
                    match (t.ok, t.no_data) {
                        (true, _) => "ok".into(),
                        (false, true) => "FAILED: no data".into(),
                        (false, false) => "FAILED".into(),
                    },
                ]
            })
            .collect();
        table(&["Threshold", "limit", "value", ""], &rows)
    }

    fn html_switch_metrics(&self) -> String {
        let Some(sm) = &self.switch_metrics else {
            return muted("No switch metrics: give the switch's /metrics endpoints or its Prometheus ([switch_metrics] in the testbed file, or perfbed run --metrics-endpoint / --prometheus) for its own latency per leg.");
        };
        let mut b = p(&sm.intro());
        if sm.legs.is_empty() {
            b.push_str(&muted("No leg found."));
        } else {
            let rows: Vec<Vec<String>> = sm
                .legs
                .iter()
                .map(|l| {
                    vec![
                        l.name.clone(),
                        l.what.clone(),
                        l.service.clone(),
                        l.phase.clone(),
                        l.count.to_string(),
                        sm.versus_driver(l),
                        l.success_text(),
                        l.pct_text("p50", l.p50_ms),
                        l.pct_text("p95", l.p95_ms),
                        l.pct_text("p99", l.p99_ms),
                        l.edges_text(),
                        format!("{} ({})", l.source, l.verified),
                    ]
                })
                .collect();
            b.push_str(&table(
                &[
                    "Leg",
                    "what",
                    "service",
                    "perfbed phase",
                    "count",
                    "vs driver committed",
                    "success",
                    "p50",
                    "p95",
                    "p99",
                    "bucket edges",
                    "source (checked)",
                ],
                &rows,
            ));
        }
        if !sm.notes.is_empty() {
            b.push_str("<ul>");
            for n in &sm.notes {
                b.push_str(&format!("<li>{}</li>", esc(n)));
            }
            b.push_str("</ul>");
        }
        b
    }

    fn html_switch(&self) -> String {
        let Some(sw) = &self.switch else {
            return muted("No switch-side evidence: give the switch's testbed file (perfbed run --testbed FILE) for Kafka counts, ratios and lag, and positions before and after.");
        };
        let mut b = String::new();
        match &sw.kafka {
            Some(k) => {
                b.push_str(&format!(
                    "<h3>Kafka {}</h3>",
                    badge(&format!("gate {}", k.verdict()), k.pass && k.judged())
                ));
                b.push_str(&p(&format!("{}.", k.basis_line())));
                if !k.judged() {
                    b.push_str(&p(&k.ratios_line()));
                }
                let rows: Vec<Vec<String>> = k
                    .ratios
                    .iter()
                    .map(|(n, v, e, ok)| {
                        vec![
                            n.clone(),
                            v.map_or("n/a".into(), |v| format!("{v:.3}")),
                            format!("{e:.1}"),
                            KafkaEvidence::ratio_verdict(*v, *ok).into(),
                        ]
                    })
                    .collect();
                b.push_str(&table(&["Ratio", "measured", "expected", ""], &rows));
                match &k.by_transfer {
                    Some(bt) => {
                        let rows: Vec<Vec<String>> = bt
                            .read
                            .iter()
                            .map(|(t, n)| {
                                vec![
                                    t.clone(),
                                    n.to_string(),
                                    k.counts.get(t).copied().unwrap_or(0).to_string(),
                                ]
                            })
                            .collect();
                        b.push_str(&table(&["Topic", "messages read", "this run's"], &rows));
                    }
                    None => {
                        let rows: Vec<Vec<String>> = k
                            .counts
                            .iter()
                            .map(|(t, n)| vec![t.clone(), n.to_string()])
                            .collect();
                        b.push_str(&table(&["Topic", "messages in the window"], &rows));
                    }
                }
                if let Some(l) = k.max_lag {
                    b.push_str(&p(&format!("Worst consumer-group lag at the end: {l}.")));
                }
            }
            None => b.push_str(&muted("No Kafka evidence.")),
        }
        if sw.positions.is_empty() {
            b.push_str(&muted("No positions."));
        } else {
            b.push_str("<h3>Positions</h3>");
            let rows: Vec<Vec<String>> = sw
                .positions
                .iter()
                .map(|p| {
                    vec![
                        p.fsp.clone(),
                        format!("{} → {}", p.before[0], p.after[0]),
                        format!("{} → {}", p.before[1], p.after[1]),
                        format!("{} → {}", p.before[2], p.after[2]),
                    ]
                })
                .collect();
            b.push_str(&table(
                &[
                    "FSP",
                    "position before → after",
                    "NDC headroom before → after",
                    "liquidity before → after",
                ],
                &rows,
            ));
        }
        if !sw.notes.is_empty() {
            b.push_str("<ul>");
            for n in &sw.notes {
                b.push_str(&format!("<li>{}</li>", esc(n)));
            }
            b.push_str("</ul>");
        }
        b
    }

    fn html_cost(&self) -> String {
        match &self.cost {
            None => muted("No [cost] table in the scenario: no cost per transfer."),
            Some(c) => match c.per_million {
                Some(pm) => p(&format!(
                    "{pm:.2} {} per million transfers at {:.1} TPS (cluster {:.2} {}/h: {}).",
                    c.currency, c.tps, c.hourly, c.currency, c.basis
                )),
                None => p("Nothing committed: no cost per transfer."),
            },
        }
    }

    fn html_method(&self) -> String {
        let mut b = p(&format!(
            "Steady-state window {:.1}–{:.1} s ({:.1} s). {}. Histograms: {}.",
            self.method.window_s[0],
            self.method.window_s[1],
            self.window.seconds,
            self.method.correction,
            self.method.histograms
        ));
        b.push_str(&p(&format!(
            "Run id {} (transfer ids start with {}); driver replica(s) {} of a {}-replica run; this report's share of the target rate {:.1}/s. Per-second percentiles of merged replicas are the worst replica's (an upper bound).",
            if self.run.id.is_empty() { "–" } else { &self.run.id },
            if self.run.tag.is_empty() { "–" } else { &self.run.tag },
            self.run
                .replica_indices
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            self.run.replica_count,
            self.run.target_share
        )));
        if let Some(e) = &self.environment {
            b.push_str(&p(&format!("{}.", e.line())));
        }
        b
    }
}

impl StressReport {
    /// The stress page (one file, no external resources): the ramp, the breaking point and the
    /// recovery.
    pub fn to_html(&self) -> String {
        let (headline, ok) = match (self.breaking_point_tps, self.broke_at_tps) {
            (Some(bp), Some(bad)) => (format!("breaking point {bp}/s, broke at {bad}/s"), true),
            (None, Some(bad)) => (format!("broke at the first stage ({bad}/s)"), false),
            (Some(bp), None) => (format!("did not break up to {bp}/s"), true),
            (None, None) => ("no stage ran".to_owned(), false),
        };
        let recovered = self.recovered != Some(false);
        let mut body = format!(
            "<h1>perfbed stress to failure — {} {} {}</h1>",
            esc(&self.scenario),
            badge(&headline, ok),
            match self.recovered {
                Some(true) => badge("recovered", true),
                Some(false) => badge("DID NOT RECOVER", false),
                None => String::new(),
            }
        );
        body.push_str(&nav(&STRESS_SECTIONS));
        let s = |id: &str, b: String| section(id, &STRESS_SECTIONS, &b);
        body.push_str(&s("verdict", self.html_verdict(recovered)));
        // x: each ramp stage, then the recovery stage.
        let mut x: Vec<String> = self
            .stages
            .iter()
            .map(|st| {
                format!(
                    "{}/s{}",
                    st.rate,
                    if st.interrupted { " (int.)" } else { "" }
                )
            })
            .collect();
        let n = self.stages.len();
        if let Some(r) = &self.recovery {
            x.push(format!("recovery {}/s", r.rate));
        }
        let ramp = |f: fn(&crate::stress::StageResult) -> f64| -> Vec<Option<f64>> {
            self.stages
                .iter()
                .map(|st| Some(f(st)))
                .chain(self.recovery.iter().map(|_| None))
                .collect()
        };
        let recovery = |f: fn(&crate::stress::StageResult) -> f64| -> Vec<Option<f64>> {
            std::iter::repeat_n(None, n)
                .chain(self.recovery.iter().map(|r| Some(f(r))))
                .collect()
        };
        let marks = self.marks();
        let mut c = Chart::new(
            "Offered against achieved, per stage",
            "transfers per second",
            x.clone(),
        );
        c.lines
            .push(Line::new("offered", GREY, ramp(|s| s.rate)).dashed().dots());
        c.lines
            .push(Line::new("achieved", GREEN, ramp(|s| s.achieved_tps)).dots());
        if self.recovery.is_some() {
            c.lines
                .push(Line::new("recovery offered", GREY, recovery(|s| s.rate)).dots());
            c.lines
                .push(Line::new("recovery achieved", BLUE, recovery(|s| s.achieved_tps)).dots());
        }
        c.marks = marks;
        body.push_str(&s("ramp", c.render()));
        let mut c = Chart::new("End-to-end p99 per stage (all outcomes)", "ms", x.clone());
        c.lines
            .push(Line::new("p99", ORANGE, ramp(|s| s.p99_ms)).dots());
        c.lines
            .push(Line::new("failed %", RED, ramp(|s| 100.0 - s.success_rate)).dots());
        if self.recovery.is_some() {
            c.lines
                .push(Line::new("recovery p99", BLUE, recovery(|s| s.p99_ms)).dots());
        }
        c.marks = self.marks();
        let mut b = c.render();
        b.push_str(&muted(
            "failed % is on the same axis as p99 (per cent, not ms).",
        ));
        body.push_str(&s("p99", b));
        let rows: Vec<Vec<String>> = self
            .stages
            .iter()
            .map(|st| (st, ""))
            .chain(self.recovery.iter().map(|r| (r, " (recovery)")))
            .map(|(st, what)| {
                vec![
                    format!(
                        "{}{what}{}",
                        st.rate,
                        if st.interrupted { " (interrupted)" } else { "" }
                    ),
                    st.arrivals.to_string(),
                    format!("{:.1}", st.achieved_tps),
                    format!("{:.2}", st.success_rate),
                    ms(st.p99_ms),
                    st.broken_by.join("; "),
                ]
            })
            .collect();
        let mut b = p("Stages run back to back (the next starts on schedule while the previous one's last arrivals end); each arrival counts in the stage of its intended start.");
        b.push_str(&table(
            &[
                "Stage rate /s",
                "arrivals",
                "achieved /s",
                "success %",
                "p99 ms",
                "broke by",
            ],
            &rows,
        ));
        body.push_str(&s("stages", b));
        let adds_up = self.adds_up();
        let mut b = format!(
            "<p>{} {}</p>",
            badge(
                if adds_up {
                    "adds up"
                } else {
                    "ACCOUNTING FAILED"
                },
                adds_up
            ),
            esc(&format!(
                "{} arrivals started by the scheduler over every stage, each ended as exactly one outcome in its stage.",
                self.stage_reports.iter().map(|r| r.arrivals).sum::<u64>()
            ))
        );
        match &self.crosscheck {
            Some(c) => b.push_str(&format!(
                "<p>{} {}</p>",
                badge(if c.agrees { "agrees" } else { "DISAGREES" }, c.agrees),
                esc(&c.summary)
            )),
            None => b.push_str(&no_crosscheck(
                self.crosscheck_ok(),
                &self.crosscheck_line(),
            )),
        }
        let notes: Vec<&String> = self
            .stage_reports
            .iter()
            .flat_map(|r| r.notes.iter())
            .collect();
        if !notes.is_empty() {
            b.push_str("<ul>");
            for n in notes {
                b.push_str(&format!("<li>{}</li>", esc(n)));
            }
            b.push_str("</ul>");
        }
        body.push_str(&s("accounting", b));
        let rows: Vec<Vec<String>> = self
            .stage_reports
            .iter()
            .enumerate()
            .map(|(k, r)| {
                vec![
                    match (self.stages.get(k), &self.recovery) {
                        (Some(st), _) => format!("{}/s", st.rate),
                        (None, Some(rec)) => format!("recovery {}/s", rec.rate),
                        (None, None) => format!("stage {}", k + 1),
                    },
                    r.arrivals.to_string(),
                    r.committed.to_string(),
                    r.rejected.to_string(),
                    (r.timed_out + r.failed_after_send).to_string(),
                    ms(r.latency_ms.e2e.p50),
                    ms(r.latency_ms.e2e.p95),
                    ms(r.latency_ms.e2e.p99),
                    r.errors_by_code
                        .iter()
                        .max_by_key(|(_, n)| **n)
                        .map_or(String::new(), |(c, n)| format!("{c} ×{n}")),
                ]
            })
            .collect();
        body.push_str(&s(
            "stage-reports",
            table(
                &[
                    "Stage",
                    "arrivals",
                    "committed",
                    "rejected",
                    "timed out / failed after send",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "most frequent error",
                ],
                &rows,
            ),
        ));
        page(&format!("perfbed stress — {}", self.scenario), &body)
    }

    fn html_verdict(&self, recovered: bool) -> String {
        let mut b = String::new();
        b.push_str(&p(&match (self.breaking_point_tps, self.broke_at_tps) {
            (Some(ok), Some(bad)) => format!(
                "Breaking point: {ok}/s (the last stage that held); broke at {bad}/s by: {}.",
                self.broke_by.join("; ")
            ),
            (None, Some(bad)) => format!(
                "Broke at the first stage ({bad}/s) by: {}.",
                self.broke_by.join("; ")
            ),
            (Some(ok), None) => format!("Did not break up to {ok}/s (max_rate)."),
            (None, None) => "No stage ran.".to_owned(),
        }));
        let mut facts = Vec::new();
        if let Some(e) = &self.first_error {
            facts.push(format!(
                "First error: {e}{}",
                self.first_error_at_s
                    .map_or(String::new(), |t| format!(" at {t:.1} s"))
            ));
        }
        if let Some(e) = &self.most_frequent_error {
            facts.push(format!("Most frequent error of the breaking stage: {e}"));
        }
        if let Some(ph) = &self.slowest_phase {
            facts.push(format!("Slowest phase: {ph}"));
        }
        if let Some(c) = &self.slowest_corridor {
            facts.push(format!("Slowest corridor: {c}"));
        }
        if !facts.is_empty() {
            b.push_str("<ul>");
            for f in facts {
                b.push_str(&format!("<li>{}</li>", esc(&f)));
            }
            b.push_str("</ul>");
        }
        if let (Some(r), Some(rec)) = (&self.recovery, self.recovered) {
            b.push_str(&format!(
                "<p>Recovery at {}/s: {}</p>",
                r.rate,
                badge(if rec { "recovered" } else { "did not recover" }, recovered)
            ));
        }
        b
    }

    /// The breaking point, where it broke, and the recovery, on the ramp's x axis.
    fn marks(&self) -> Vec<Mark> {
        let at = |rate: f64| {
            self.stages
                .iter()
                .position(|s| (s.rate - rate).abs() < 1e-9 && !s.interrupted)
        };
        let mut marks = Vec::new();
        if let Some(i) = self.breaking_point_tps.and_then(at) {
            marks.push(Mark {
                at: i,
                label: format!("breaking point {}/s", self.stages[i].rate),
                color: GREEN,
            });
        }
        if let Some(i) = self.broke_at_tps.and_then(at) {
            marks.push(Mark {
                at: i,
                label: format!("broke at {}/s", self.stages[i].rate),
                color: RED,
            });
        }
        if let (Some(r), Some(ok)) = (&self.recovery, self.recovered) {
            marks.push(Mark {
                at: self.stages.len(),
                label: format!(
                    "recovery {}/s: {}",
                    r.rate,
                    if ok { "recovered" } else { "did not recover" }
                ),
                color: if ok { BLUE } else { RED },
            });
        }
        marks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stress::StageResult;

    fn stage(rate: f64, achieved: f64, p99: f64, broken: &[&str]) -> StageResult {
        StageResult {
            rate,
            arrivals: (rate * 4.0) as u64,
            share: 1.0,
            achieved_tps: achieved,
            success_rate: 100.0,
            p99_ms: p99,
            broken_by: broken.iter().map(|s| (*s).to_owned()).collect(),
            interrupted: false,
        }
    }

    /// A report with every part filled: switch evidence, cost, cross-check, notes, errors.
    fn full_report() -> Report {
        use crate::report::{
            CrossCheck, KafkaEvidence, MetricsSource, Outcome, PositionChange, Recorder,
            SwitchEvidence, SwitchLeg, SwitchMetrics,
        };
        use std::time::Duration;
        let text = "name = \"full\"\nstages = [{ rate = 100, duration = \"10s\" }]\n\
                    [thresholds]\np95_ms = 30\n\
                    [cost]\ncurrency = \"USD\"\nnodes = [{ name = \"m5\", count = 2, hourly = 0.5 }]\n";
        let scenario = crate::Scenario::parse(text).unwrap();
        let mut r = Recorder::new(&scenario, time::OffsetDateTime::UNIX_EPOCH);
        for i in 0..1000u64 {
            let e2e = Duration::from_millis(5 + i % 40);
            let split = sim::trace::Split {
                switch_in: e2e / 8,
                simulator: e2e / 8,
                switch_out: e2e / 8,
            };
            r.record(&crate::Sample {
                index: i,
                intended: Duration::from_millis(i * 10),
                start_lag: Duration::from_micros(200),
                corridor: (i % 4) as usize,
                outcome: match i % 50 {
                    0 => Outcome::Rejected("3100".into()),
                    1 => Outcome::TimedOut,
                    _ => Outcome::Committed,
                },
                e2e,
                e2e_raw: e2e,
                phases: [Some(e2e / 3), Some(e2e / 3), Some(e2e / 3)],
                splits: [Some(split), Some(split), Some(split)],
                uncertain: None,
            });
        }
        let mut report = r.finish(1000);
        report.notes.push("a note & more".into());
        report.callbacks_failed = 7;
        report.reconciliation = Some(crate::report::Reconciliation::new(
            "hub emulator",
            12,
            [5, 1, 3, 0, 1],
            Duration::from_secs(4),
        ));
        report.crosscheck = Some(CrossCheck::judge(
            "hub emulator",
            "0badcafe",
            report.committed,
            report.uncertain(),
            [("COMMITTED".to_owned(), report.committed)].into(),
        ));
        report.switch = Some(SwitchEvidence {
            kafka: Some(KafkaEvidence {
                window_s: 8.0,
                counts: [("topic-transfer-prepare".to_owned(), 800)].into(),
                ratios: vec![("fulfil/prepare".into(), Some(0.998), 1.0, true)],
                pass: true,
                max_lag: Some(3),
                by_transfer: None,
            }),
            positions: vec![PositionChange {
                fsp: "perffsp1".into(),
                before: ["0".into(), "1000".into(), "1000".into()],
                after: ["10".into(), "990".into(), "990".into()],
            }],
            notes: vec!["lag sampled once".into()],
        });
        report.switch_metrics = Some(SwitchMetrics {
            window_s: [1.0, 9.0],
            sources: vec![MetricsSource {
                kind: "scrape".into(),
                service: "central-ledger".into(),
                url: "central-ledger:3001/metrics".into(),
                start_s: Some(1.01),
                end_s: Some(9.02),
                snapshots: 5,
                failed: 0,
                error: None,
            }],
            legs: vec![SwitchLeg {
                name: "moja_cl_transfer_prepare".into(),
                service: "central-ledger".into(),
                source: "central-ledger:3001/metrics".into(),
                what: "prepare handler".into(),
                phase: "transfer · switch in".into(),
                verified: "running".into(),
                count: 800,
                success: [("true".to_owned(), 799), ("false".to_owned(), 1)].into(),
                p50_ms: Some(50.0),
                p95_ms: Some(500.0),
                p99_ms: None,
                beyond: vec!["p99".into()],
                bucket_edges_ms: vec![10.0, 50.0, 100.0, 500.0, 1000.0, 2000.0, 5000.0],
                resets: 0,
                appeared: 1,
                vanished: 0,
            }],
            driver_committed: 800,
            notes: vec!["moja_cl_transfer_fulfil: not exposed".into()],
            required: false,
            complete: true,
        });
        report
    }

    #[test]
    fn the_report_page_has_every_section_and_what_the_markdown_says() {
        let r = full_report();
        let html = r.to_html();
        for (id, h) in SECTIONS {
            assert!(
                html.contains(&format!(r#"<section id="{id}"><h2>{h}</h2>"#)),
                "{h}"
            );
        }
        let md = r.to_markdown();
        let facts = [
            r.accounting_line(),
            r.crosscheck.as_ref().unwrap().summary.clone(),
            "a note &amp; more".into(),
            "The switch added".into(),
            "fulfil/prepare".into(),
            "0.998".into(),
            "perffsp1".into(),
            "0 → 10".into(),
            "lag sampled once".into(),
            "per million transfers".into(),
            "3100".into(),
            "timeout".into(),
            "e2e_p95_ms".into(),
            "perffsp2→perffsp6".into(),
            "7 callbacks failed".into(),
            "commits completed inside the window itself".into(),
            "Reconciliation".into(),
            "later committed".into(),
            "moja_cl_transfer_prepare".into(),
            "≤ 50 ms".into(),
            "> 5000 ms".into(),
            "10, 50, 100, 500, 1000, 2000, 5000 ms".into(),
            "an upper bound at bucket resolution".into(),
            "false 1, true 799".into(),
            "1.00×".into(),
            "moja_cl_transfer_fulfil: not exposed".into(),
        ];
        for f in &facts {
            let plain = f.replace("&amp;", "&");
            assert!(md.contains(&plain), "the markdown says {plain}");
            assert!(html.contains(&esc(&plain)), "the HTML says {plain}");
        }
        // Charts: throughput, percentile bands, phases, errors, the attribution bars.
        assert_eq!(html.matches(r#"<svg class="chart""#).count(), 5);
        assert!(
            html.contains("p50–p95") && html.contains("p95–p99"),
            "bands"
        );
        assert!(html.contains("p95 limit (whole window)"));
        for phase in ["lookup", "quote", "transfer"] {
            assert!(html.contains(&format!("<title>{phase}</title>")), "{phase}");
        }
        assert!(
            html.contains("<title>rejected</title>") && html.contains("<title>timed out</title>")
        );
        assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("src="));
        // Nothing to show is said, not hidden.
        let bare = {
            let mut b = r.clone();
            b.switch = None;
            b.cost = None;
            b.crosscheck = None;
            b.notes.clear();
            b.errors_by_code.clear();
            b.thresholds.clear();
            b.attribution.clear();
            b
        };
        let html = bare.to_html();
        for (id, h) in SECTIONS {
            assert!(
                html.contains(&format!(r#"<section id="{id}"><h2>{h}</h2>"#)),
                "{h}"
            );
        }
        for said in [
            "No switch-side evidence",
            "No [cost] table",
            "not cross-checked",
            "No errors.",
            "No thresholds set",
            "No traced phases",
        ] {
            assert!(html.contains(&esc(said)), "{said}");
        }
    }

    #[test]
    fn the_stress_page_marks_the_breaking_point_and_the_recovery() {
        let report = StressReport {
            scenario: "ramp <1>".into(),
            stages: vec![
                stage(100.0, 100.0, 5.0, &[]),
                stage(200.0, 199.0, 9.0, &[]),
                stage(300.0, 240.0, 900.0, &["p99 900.0 ms > 500 ms"]),
            ],
            breaking_point_tps: Some(200.0),
            broke_at_tps: Some(300.0),
            broke_by: vec!["p99 900.0 ms > 500 ms".into()],
            first_error: Some("timeout".into()),
            first_error_at_s: Some(9.5),
            most_frequent_error: Some("timeout".into()),
            slowest_phase: Some("transfer".into()),
            slowest_corridor: None,
            recovery: Some(stage(100.0, 100.0, 4.0, &[])),
            recovered: Some(true),
            stage_reports: Vec::new(),
            rules: None,
            notes: Vec::new(),
            crosscheck: None,
            no_crosscheck: None,
            outcomes: None,
            operations: None,
        };
        let html = report.to_html();
        for (_, h) in STRESS_SECTIONS {
            assert!(html.contains(&format!("<h2>{h}</h2>")), "{h}");
        }
        assert_eq!(html.matches("breaking point 200/s</text>").count(), 2);
        assert_eq!(html.matches("broke at 300/s</text>").count(), 2);
        assert_eq!(
            html.matches("recovery 100/s: recovered</text>").count(),
            2,
            "{html}"
        );
        assert!(html.contains("ramp &lt;1&gt;") && !html.contains("ramp <1>"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        let bad = StressReport {
            recovered: Some(false),
            ..report
        };
        assert!(bad.to_html().contains("DID NOT RECOVER"));
    }
}
