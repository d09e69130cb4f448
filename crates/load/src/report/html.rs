//! The self-contained HTML report: the same model as JSON and Markdown, with inline SVG charts
//! (TPS and p95 latency over time) and no external resources.

use crate::report::Report;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A line chart of several series over the same x (seconds).
fn chart(title: &str, unit: &str, series: &[(&str, &str, Vec<f64>)]) -> String {
    let (w, h, left, bottom, top) = (860.0, 260.0, 60.0, 30.0, 24.0);
    let n = series.iter().map(|s| s.2.len()).max().unwrap_or(0).max(2);
    let ymax = series
        .iter()
        .flat_map(|s| s.2.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.1;
    let x = |i: usize| left + (w - left - 10.0) * i as f64 / (n - 1) as f64;
    let y = |v: f64| top + (h - top - bottom) * (1.0 - v / ymax);
    let mut svg = format!(
        r#"<svg viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="{t}"><text x="{left}" y="16" class="t">{t}</text>"#,
        t = esc(title)
    );
    for k in 0..=4 {
        let v = ymax * k as f64 / 4.0;
        svg.push_str(&format!(r#"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" class="g"/><text x="{}" y="{:.1}" class="a" text-anchor="end">{v:.0}</text>"#, w - 10.0, left - 6.0, y(v) + 4.0, y = y(v)));
    }
    for k in 0..=5 {
        let i = (n - 1) * k / 5;
        svg.push_str(&format!(
            r#"<text x="{:.1}" y="{}" class="a" text-anchor="middle">{i}s</text>"#,
            x(i),
            h - 10.0
        ));
    }
    let mut legend_x = w - 10.0 - 150.0 * series.len() as f64;
    for (name, color, values) in series {
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        svg.push_str(&format!(
            r#"<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{}"/>"#,
            points.join(" ")
        ));
        svg.push_str(&format!(r#"<rect x="{legend_x}" y="7" width="12" height="4" fill="{color}"/><text x="{}" y="14" class="a">{} ({unit})</text>"#, legend_x + 16.0, esc(name)));
        legend_x += 150.0;
    }
    svg.push_str("</svg>");
    svg
}

fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = String::from("<table><tr>");
    for h in head {
        t.push_str(&format!("<th>{}</th>", esc(h)));
    }
    t.push_str("</tr>");
    for r in rows {
        t.push_str("<tr>");
        for c in r {
            t.push_str(&format!("<td>{}</td>", esc(c)));
        }
        t.push_str("</tr>");
    }
    t.push_str("</table>");
    t
}

impl Report {
    /// The HTML report (one file, no external resources).
    pub fn to_html(&self) -> String {
        let verdict = self.verdict();
        let t = &self.timeline;
        let tps = chart(
            "Transfers per second",
            "/s",
            &[
                ("target", "#888", t.iter().map(|s| s.target_rate).collect()),
                (
                    "committed",
                    "#1b7f3b",
                    t.iter().map(|s| s.committed as f64).collect(),
                ),
                (
                    "failed",
                    "#c0392b",
                    t.iter().map(|s| s.failed as f64).collect(),
                ),
            ],
        );
        let lat = chart(
            "End-to-end p95 latency per second",
            "ms",
            &[("p95", "#2c6fbb", t.iter().map(|s| s.p95_ms).collect())],
        );
        let l = &self.latency_ms;
        let c = &self.latency_committed_ms;
        let lat_rows: Vec<Vec<String>> = [
            ("driver start lag", &self.start_lag_ms),
            ("end to end (intended start, all outcomes)", &l.e2e),
            ("end to end (committed only)", &c.e2e),
            ("end to end (actual start)", &l.e2e_raw),
            ("lookup", &l.lookup),
            ("quote", &l.quote),
            ("transfer", &l.transfer),
        ]
        .iter()
        .filter(|(_, p)| p.count > 0)
        .map(|(n, p)| {
            vec![
                n.to_string(),
                p.count.to_string(),
                format!("{:.1}", p.p50),
                format!("{:.1}", p.p90),
                format!("{:.1}", p.p95),
                format!("{:.1}", p.p99),
                format!("{:.1}", p.max),
            ]
        })
        .collect();
        let corridor_rows: Vec<Vec<String>> = self
            .corridors
            .iter()
            .map(|c| {
                vec![
                    c.corridor.clone(),
                    c.weight.to_string(),
                    c.arrivals.to_string(),
                    c.committed.to_string(),
                    format!("{:.1}", c.e2e.p95),
                    format!("{:.1}", c.e2e.p99),
                ]
            })
            .collect();
        let error_rows: Vec<Vec<String>> = self
            .errors_by_code
            .iter()
            .map(|(k, v)| vec![k.clone(), v.to_string()])
            .collect();
        let threshold_rows: Vec<Vec<String>> = self
            .thresholds
            .iter()
            .map(|t| {
                vec![
                    t.name.clone(),
                    t.limit.to_string(),
                    format!("{:.2}", t.value),
                    if t.ok { "ok".into() } else { "FAILED".into() },
                ]
            })
            .collect();
        format!(
            r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>perfbed — {name}</title>
<style>body{{font:14px/1.45 system-ui,sans-serif;max-width:900px;margin:24px auto;color:#222}}h1{{font-size:20px}}
.v{{padding:2px 8px;border-radius:4px;color:#fff;background:{color}}}table{{border-collapse:collapse;margin:10px 0 18px}}
td,th{{border:1px solid #ddd;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}
svg .g{{stroke:#eee}} svg .a{{font-size:11px;fill:#666}} svg .t{{font-size:13px;font-weight:600}}</style></head><body>
<h1>perfbed report — {name} ({flow}) <span class="v">{verdict}</span></h1>
<p>Started {started}, {dur:.0} s scheduled. Headline numbers over the steady-state window {w0:.0}–{w1:.0} s. {method}.</p>
{summary}<p>{accounting}</p>{crosscheck}{notes}{tps}{lat}<h2>Latency (ms)</h2>{lat_table}<h2>Corridors</h2>{corridors}{errors}{thresholds}</body></html>
"#,
            name = esc(&self.scenario),
            flow = esc(&self.flow),
            color = if verdict == "PASSED" || verdict == "NO THRESHOLDS" {
                "#1b7f3b"
            } else {
                "#c0392b"
            },
            accounting = esc(&self.accounting_line()),
            crosscheck = self
                .crosscheck
                .as_ref()
                .map_or(String::new(), |c| format!("<p>{}</p>", esc(&c.summary))),
            notes = if self.notes.is_empty() {
                String::new()
            } else {
                format!(
                    "<ul>{}</ul>",
                    self.notes
                        .iter()
                        .map(|n| format!("<li>{}</li>", esc(n)))
                        .collect::<String>()
                )
            },
            started = esc(&self.started),
            dur = self.duration_s,
            w0 = self.method.window_s[0],
            w1 = self.method.window_s[1],
            method = esc(&self.method.correction),
            summary = table(
                &[
                    "Arrivals",
                    "Committed",
                    "Rejected",
                    "Timed out",
                    "Failed after send",
                    "Not sent",
                    "Lost",
                    "Late (>10 ms)",
                    "Target TPS",
                    "Achieved TPS",
                    "Success"
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
                    format!("{:.2} %", self.success_rate)
                ]]
            ),
            lat_table = table(&["", "count", "p50", "p90", "p95", "p99", "max"], &lat_rows),
            corridors = table(
                &[
                    "Corridor",
                    "weight",
                    "arrivals",
                    "committed",
                    "p95 ms",
                    "p99 ms"
                ],
                &corridor_rows
            ),
            errors = if error_rows.is_empty() {
                String::new()
            } else {
                format!("<h2>Errors</h2>{}", table(&["Error", "count"], &error_rows))
            },
            thresholds = if threshold_rows.is_empty() {
                String::new()
            } else {
                format!(
                    "<h2>Thresholds</h2>{}",
                    table(&["Threshold", "limit", "value", ""], &threshold_rows)
                )
            },
        )
    }
}
