//! Inline SVG charts and HTML pieces for the self-contained reports (`html.rs`, the stress page
//! and `report compare`): no script is needed to draw them and nothing is fetched.

/// HTML-escapes text and attribute values.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One line: a value per x (None: a gap).
#[derive(Debug)]
pub(crate) struct Line {
    pub name: String,
    pub color: &'static str,
    pub values: Vec<Option<f64>>,
    /// Dots at each value (few points, or points that are not a continuation).
    pub dots: bool,
    pub dashed: bool,
}

impl Line {
    pub fn new(name: &str, color: &'static str, values: Vec<Option<f64>>) -> Line {
        Line {
            name: name.to_owned(),
            color,
            values,
            dots: false,
            dashed: false,
        }
    }

    /// Every value present.
    pub fn all(name: &str, color: &'static str, values: impl IntoIterator<Item = f64>) -> Line {
        Line::new(name, color, values.into_iter().map(Some).collect())
    }

    pub fn dots(mut self) -> Line {
        self.dots = true;
        self
    }

    pub fn dashed(mut self) -> Line {
        self.dashed = true;
        self
    }
}

/// A filled area between two series (a percentile band).
#[derive(Debug)]
pub(crate) struct Band {
    pub name: String,
    pub color: &'static str,
    pub low: Vec<Option<f64>>,
    pub high: Vec<Option<f64>>,
}

/// A vertical marker at an x index, labelled.
#[derive(Debug)]
pub(crate) struct Mark {
    pub at: usize,
    pub label: String,
    pub color: &'static str,
}

/// A horizontal line at a value, labelled (a threshold).
#[derive(Debug)]
pub(crate) struct Limit {
    pub value: f64,
    pub label: String,
    pub color: &'static str,
}

/// A line chart over labelled x positions.
#[derive(Debug, Default)]
pub(crate) struct Chart {
    pub title: String,
    pub unit: String,
    pub x: Vec<String>,
    pub lines: Vec<Line>,
    pub bands: Vec<Band>,
    pub marks: Vec<Mark>,
    pub limits: Vec<Limit>,
}

/// A round axis maximum ≥ `v` and its tick step (1, 2, 2.5 or 5 × 10^k; at most 5 ticks).
fn nice(v: f64) -> (f64, f64) {
    let v = if v > 0.0 && v.is_finite() { v } else { 1.0 };
    let raw = v / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| s * 4.0 >= v * 0.999)
        .unwrap_or(10.0 * mag);
    ((v / step).ceil() * step, step)
}

fn tick(v: f64, step: f64) -> String {
    let decimals = (0..6)
        .find(|d| {
            let scaled = step * 10f64.powi(*d);
            (scaled - scaled.round()).abs() < 1e-6
        })
        .unwrap_or(6) as usize;
    format!("{v:.decimals$}")
}

impl Chart {
    pub fn new(title: &str, unit: &str, x: Vec<String>) -> Chart {
        Chart {
            title: title.to_owned(),
            unit: unit.to_owned(),
            x,
            ..Chart::default()
        }
    }

    /// The chart as `<svg class="chart">`; series elements carry class `s` (the report's
    /// rendering check looks for them).
    pub fn render(&self) -> String {
        let (w, h, left, right, bottom, top) = (860.0, 280.0, 64.0, 12.0, 30.0, 44.0);
        let n = self.x.len().max(2);
        let values = self
            .lines
            .iter()
            .flat_map(|l| l.values.iter())
            .chain(self.bands.iter().flat_map(|b| b.high.iter()))
            .flatten()
            .copied()
            .chain(self.limits.iter().map(|l| l.value));
        let (ymax, step) = nice(values.fold(0.0f64, f64::max) * 1.05);
        let x = |i: usize| left + (w - left - right) * i as f64 / (n - 1) as f64;
        let y = |v: f64| top + (h - top - bottom) * (1.0 - v / ymax);
        let mut svg = format!(
            r#"<svg class="chart" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="{t}"><title>{t}</title><text x="{left}" y="16" class="t">{t}</text>"#,
            t = esc(&self.title)
        );
        let mut v = 0.0;
        while v <= ymax * 1.0001 {
            svg.push_str(&format!(
                r#"<line x1="{left}" x2="{}" y1="{yv:.1}" y2="{yv:.1}" class="g"/><text x="{}" y="{:.1}" class="a" text-anchor="end">{}</text>"#,
                w - right,
                left - 6.0,
                y(v) + 4.0,
                tick(v, step),
                yv = y(v)
            ));
            v += step;
        }
        svg.push_str(&format!(
            r#"<text x="12" y="{:.1}" class="a" transform="rotate(-90 12 {:.1})" text-anchor="middle">{}</text>"#,
            (top + h - bottom) / 2.0,
            (top + h - bottom) / 2.0,
            esc(&self.unit)
        ));
        // x labels: all of them when few, else about six.
        let every = if self.x.len() <= 12 {
            1
        } else {
            self.x.len().div_ceil(6)
        };
        for (i, label) in self.x.iter().enumerate() {
            if i % every == 0 || i + 1 == self.x.len() && self.x.len() <= 12 {
                svg.push_str(&format!(
                    r#"<text x="{:.1}" y="{}" class="a" text-anchor="middle">{}</text>"#,
                    x(i),
                    h - 10.0,
                    esc(label)
                ));
            }
        }
        for b in &self.bands {
            // One polygon per run of seconds where both edges are known.
            for run in runs(b.low.iter().zip(&b.high).map(|(l, h)| l.zip(*h))) {
                let mut pts: Vec<String> = run
                    .iter()
                    .map(|(i, (_, hi))| format!("{:.1},{:.1}", x(*i), y(*hi)))
                    .collect();
                pts.extend(
                    run.iter()
                        .rev()
                        .map(|(i, (lo, _))| format!("{:.1},{:.1}", x(*i), y(*lo))),
                );
                svg.push_str(&format!(
                    r#"<polygon class="s" fill="{}" fill-opacity="0.28" stroke="none" points="{}"><title>{}</title></polygon>"#,
                    b.color,
                    pts.join(" "),
                    esc(&b.name)
                ));
            }
        }
        for l in &self.limits {
            svg.push_str(&format!(
                r#"<line x1="{left}" x2="{}" y1="{yv:.1}" y2="{yv:.1}" stroke="{c}" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" class="a" text-anchor="end" fill="{c}">{}</text>"#,
                w - right,
                w - right - 2.0,
                y(l.value) - 4.0,
                esc(&l.label),
                yv = y(l.value),
                c = l.color
            ));
        }
        for m in &self.marks {
            let xm = x(m.at.min(n - 1));
            // Labels near the right edge go to the left of their line.
            let (tx, anchor) = if xm + 7.0 * m.label.chars().count() as f64 > w - right {
                (xm - 4.0, "end")
            } else {
                (xm + 4.0, "start")
            };
            svg.push_str(&format!(
                r#"<line x1="{xm:.1}" x2="{xm:.1}" y1="{top}" y2="{}" stroke="{c}" stroke-width="1.5" stroke-dasharray="4 3"/><text x="{tx:.1}" y="{}" class="m" fill="{c}" text-anchor="{anchor}">{}</text>"#,
                h - bottom,
                top + 12.0,
                esc(&m.label),
                c = m.color
            ));
        }
        for l in &self.lines {
            let dash = if l.dashed {
                r#" stroke-dasharray="5 3""#
            } else {
                ""
            };
            for run in runs(l.values.iter().copied()) {
                if run.len() > 1 {
                    let pts: Vec<String> = run
                        .iter()
                        .map(|(i, v)| format!("{:.1},{:.1}", x(*i), y(*v)))
                        .collect();
                    svg.push_str(&format!(
                        r#"<polyline class="s" fill="none" stroke="{}" stroke-width="1.8"{dash} points="{}"><title>{}</title></polyline>"#,
                        l.color,
                        pts.join(" "),
                        esc(&l.name)
                    ));
                }
                if l.dots || run.len() == 1 {
                    for (i, v) in &run {
                        svg.push_str(&format!(
                            r#"<circle class="s" cx="{:.1}" cy="{:.1}" r="3.5" fill="{}"><title>{} at {}: {v:.1} {}</title></circle>"#,
                            x(*i),
                            y(*v),
                            l.color,
                            esc(&l.name),
                            esc(self.x.get(*i).map_or("", String::as_str)),
                            esc(&self.unit)
                        ));
                    }
                }
            }
        }
        // Legend, in one row under the title.
        let mut lx = left;
        let legend = self
            .bands
            .iter()
            .map(|b| (b.name.as_str(), b.color, true))
            .chain(self.lines.iter().map(|l| (l.name.as_str(), l.color, false)));
        for (name, color, band) in legend {
            let hgt = if band { 10 } else { 4 };
            svg.push_str(&format!(
                r#"<rect x="{lx}" y="{}" width="14" height="{hgt}" fill="{color}"{}/><text x="{}" y="35" class="a">{}</text>"#,
                if band { 26 } else { 29 },
                if band { r#" fill-opacity="0.28""# } else { "" },
                lx + 18.0,
                esc(name)
            ));
            lx += 26.0 + 6.5 * name.chars().count() as f64;
        }
        svg.push_str("</svg>");
        svg
    }
}

/// One stacked bar: its label and its parts (name, colour, value).
pub(crate) type Bar<'a> = (String, Vec<(&'a str, &'static str, f64)>);

/// Horizontal stacked bars, one per row: each part's value laid end to end (e.g. a phase's
/// p50 split into switch in, simulator, switch out).
pub(crate) fn stacked_bars(title: &str, unit: &str, rows: &[Bar<'_>]) -> String {
    let (w, left, right, row_h, top) = (860.0, 150.0, 70.0, 26.0, 48.0);
    let h = top + row_h * rows.len() as f64 + 10.0;
    let total = |parts: &[(&str, &str, f64)]| parts.iter().map(|p| p.2).sum::<f64>();
    let max = rows
        .iter()
        .map(|(_, p)| total(p))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let scale = (w - left - right) / max;
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="{t}"><title>{t}</title><text x="{left}" y="16" class="t">{t}</text>"#,
        t = esc(title)
    );
    let mut legend: Vec<(&str, &str)> = Vec::new();
    for (k, (label, parts)) in rows.iter().enumerate() {
        let y = top + row_h * k as f64;
        svg.push_str(&format!(
            r#"<text x="{}" y="{:.1}" class="a" text-anchor="end">{}</text>"#,
            left - 8.0,
            y + 15.0,
            esc(label)
        ));
        let mut x = left;
        for (name, color, v) in parts {
            if !legend.iter().any(|(n, _)| n == name) {
                legend.push((name, color));
            }
            let bw = (v * scale).max(0.0);
            svg.push_str(&format!(
                r#"<rect class="s" x="{x:.1}" y="{:.1}" width="{:.1}" height="{}" fill="{color}"><title>{}: {v:.1} {}</title></rect>"#,
                y + 3.0,
                bw.max(0.5),
                row_h - 8.0,
                esc(name),
                esc(unit)
            ));
            x += bw;
        }
        svg.push_str(&format!(
            r#"<text x="{:.1}" y="{:.1}" class="a">{:.1} {}</text>"#,
            x + 6.0,
            y + 15.0,
            total(parts),
            esc(unit)
        ));
    }
    let mut lx = left;
    for (name, color) in legend {
        svg.push_str(&format!(
            r#"<rect x="{lx}" y="26" width="14" height="10" fill="{color}"/><text x="{}" y="35" class="a">{}</text>"#,
            lx + 18.0,
            esc(name)
        ));
        lx += 26.0 + 6.5 * name.chars().count() as f64;
    }
    svg.push_str("</svg>");
    svg
}

/// Runs of consecutive present values, with their indices.
fn runs<T: Copy>(values: impl Iterator<Item = Option<T>>) -> Vec<Vec<(usize, T)>> {
    let mut out: Vec<Vec<(usize, T)>> = Vec::new();
    let mut cur = Vec::new();
    for (i, v) in values.enumerate() {
        match v {
            Some(v) => cur.push((i, v)),
            None if !cur.is_empty() => out.push(std::mem::take(&mut cur)),
            None => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A table; cells are escaped.
pub(crate) fn table(head: &[&str], rows: &[Vec<String>]) -> String {
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

/// The page around `body`: styles inline, and one inline script that checks the charts drew
/// (`data-charts` on `<body>`: how many; `data-charts-drawn`: how many have a visible size and
/// visible series). Nothing is fetched.
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{}</title>
<style>body{{font:14px/1.45 system-ui,sans-serif;max-width:920px;margin:24px auto;padding:0 12px;color:#222}}
h1{{font-size:20px}}h2{{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}}h3{{font-size:15px}}
.v{{padding:2px 8px;border-radius:4px;color:#fff}}.ok{{background:#1b7f3b}}.bad{{background:#c0392b}}
table{{border-collapse:collapse;margin:10px 0 18px}}td,th{{border:1px solid #ddd;padding:4px 8px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}.muted{{color:#777}}.worse{{color:#c0392b;font-weight:600}}
.better{{color:#1b7f3b;font-weight:600}}nav a{{margin-right:10px}}
svg .g{{stroke:#eee}} svg .a{{font-size:11px;fill:#666}} svg .t{{font-size:13px;font-weight:600}} svg .m{{font-size:11px}}</style></head>
<body>{body}<script>(function(){{var c=document.querySelectorAll('svg.chart'),ok=0;for(var i=0;i<c.length;i++){{var r=c[i].getBoundingClientRect(),s=c[i].querySelectorAll('.s'),drawn=s.length>0;for(var j=0;j<s.length;j++){{var b=s[j].getBBox();if(!(b.width>0||b.height>0))drawn=false;}}if(r.width>0&&r.height>0&&drawn)ok++;}}document.body.setAttribute('data-charts',String(c.length));document.body.setAttribute('data-charts-drawn',String(ok));}})();</script></body></html>
"#,
        esc(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maxima_are_round_and_cover_the_data() {
        for (v, max, step) in [
            (1.0, 1.0, 0.25),
            (3.3, 4.0, 1.0),
            (97.0, 100.0, 25.0),
            (101.0, 150.0, 50.0),
            (0.0, 1.0, 0.25),
            (1234.0, 1500.0, 500.0),
        ] {
            let (m, s) = nice(v);
            assert!(m >= v, "{v}: {m}");
            assert!(
                (m - max).abs() < 1e-9 && (s - step).abs() < 1e-9,
                "{v}: {m} {s}"
            );
        }
        assert_eq!(tick(0.5, 0.25), "0.50");
        assert_eq!(tick(200.0, 50.0), "200");
    }

    #[test]
    fn gaps_split_lines_and_bands() {
        let r = runs([Some(1), Some(2), None, None, Some(5)].into_iter());
        assert_eq!(r, vec![vec![(0, 1), (1, 2)], vec![(4, 5)]]);
        let mut c = Chart::new("t & <b>", "ms", (0..5).map(|i| format!("{i}s")).collect());
        c.lines.push(Line::new(
            "p99",
            "#000",
            vec![Some(1.0), Some(2.0), None, None, Some(5.0)],
        ));
        c.bands.push(Band {
            name: "p50–p99".into(),
            color: "#00f",
            low: vec![Some(0.5); 5],
            high: vec![Some(1.0), None, Some(2.0), Some(2.0), Some(3.0)],
        });
        let svg = c.render();
        assert_eq!(svg.matches("<polyline").count(), 1, "{svg}");
        assert_eq!(svg.matches("<circle").count(), 1, "a lone point is a dot");
        assert_eq!(svg.matches("<polygon").count(), 2, "{svg}");
        assert!(svg.contains("t &amp; &lt;b&gt;") && !svg.contains("<b>"));
    }
}
