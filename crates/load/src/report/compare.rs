//! Runs side by side (`perfbed report compare`): two or more reports — or suites, stage by stage
//! by stage name — with each metric's delta against the first (the baseline) and a verdict:
//! better, worse, or within noise.
//!
//! What counts as noise is a stated rule per kind of metric (see [`RULES`]):
//!
//! - latency percentiles: the HDR histograms hold 3 significant digits, so two values within
//!   0.1 % of each other may be the same measurement; on top of that a change must exceed 5 %
//!   of the baseline and 1 ms (tokio's timer resolution, which every intended start carries)
//!   to count;
//! - rates (achieved TPS, breaking point) and cost per million: 2 % of the baseline;
//! - success rate: 0.1 percentage point;
//! - yes/no facts (recovered): any change counts.
//!
//! These rules say whether a difference is larger than the instrument's resolution and a
//! chosen minimum effect, not whether it would repeat: one run each is one sample each.

use serde::{Deserialize, Serialize};

use super::svg::{esc, page};
use super::Report;
use crate::stress::StressReport;

/// HDR histograms with 3 significant digits: values within this relative difference may be
/// the same bucket.
pub const HDR_RESOLUTION: f64 = 0.001;
/// A latency must change by more than this share of the baseline to count.
pub const LATENCY_MIN_CHANGE: f64 = 0.05;
/// … and by more than this many milliseconds (tokio's timer resolution).
pub const LATENCY_MIN_MS: f64 = 1.0;
/// A rate (TPS) or a cost must change by more than this share of the baseline to count.
pub const RATE_MIN_CHANGE: f64 = 0.02;
/// The success rate must change by more than this many percentage points to count.
pub const SUCCESS_MIN_POINTS: f64 = 0.1;

/// The rules, as the outputs state them.
pub const RULES: [&str; 4] = [
    "latency (ms): within noise when |Δ| ≤ the largest of 0.1 % (the HDR histograms' 3 significant digits), 5 % of the baseline, and 1 ms (tokio's timer resolution)",
    "rates (TPS) and cost per million: within noise when |Δ| ≤ 2 % of the baseline",
    "success rate: within noise when |Δ| ≤ 0.1 percentage point",
    "yes/no (recovered): any change counts; rows marked – are context, not judged",
];

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "–".into()
    } else {
        s.to_owned()
    }
}

/// One run's results: a load run's report, or a stress run's.
#[derive(Debug, Clone)]
pub enum Run {
    /// `report.json`.
    Load(Box<Report>),
    /// `stress.json`.
    Stress(Box<StressReport>),
}

impl Run {
    fn scenario(&self) -> &str {
        match self {
            Run::Load(r) => &r.scenario,
            Run::Stress(s) => &s.scenario,
        }
    }

    fn flow(&self) -> String {
        match self {
            Run::Load(r) => r.flow.clone(),
            Run::Stress(s) => s
                .stage_reports
                .first()
                .map_or("stress".into(), |r| format!("{}, stress", r.flow)),
        }
    }

    fn header(&self) -> Header {
        match self {
            Run::Load(r) => Header {
                scenario: r.scenario.clone(),
                flow: r.flow.clone(),
                run_id: r.run.id.clone(),
                started: r.started.clone(),
                duration_s: r.duration_s,
                replicas: r.replicas,
                verdict: r.verdict().to_owned(),
                api: r
                    .environment
                    .as_ref()
                    .map_or(String::new(), |e| e.api.clone()),
                security: r
                    .environment
                    .as_ref()
                    .map_or(String::new(), |e| e.security.clone()),
            },
            Run::Stress(s) => {
                let first = s.stage_reports.first();
                Header {
                    scenario: s.scenario.clone(),
                    flow: self.flow(),
                    run_id: first.map_or(String::new(), |r| r.run.id.clone()),
                    started: first.map_or(String::new(), |r| r.started.clone()),
                    duration_s: s.stage_reports.iter().map(|r| r.duration_s).sum(),
                    replicas: first.map_or(1, |r| r.replicas),
                    verdict: match s.recovered {
                        Some(true) => "recovered".into(),
                        Some(false) => "DID NOT RECOVER".into(),
                        None => "recovery not checked".into(),
                    },
                    api: first
                        .and_then(|r| r.environment.as_ref())
                        .map_or(String::new(), |e| e.api.clone()),
                    security: first
                        .and_then(|r| r.environment.as_ref())
                        .map_or(String::new(), |e| e.security.clone()),
                }
            }
        }
    }
}

/// What is compared: one run, or a suite's stages by name (a stage that did not run: `None`).
#[derive(Debug, Clone)]
pub enum Body {
    /// One run.
    Run(Run),
    /// A suite: (stage name, its results).
    Suite(Vec<(String, Option<Run>)>),
}

/// One input, with the label the outputs show.
#[derive(Debug, Clone)]
pub struct Subject {
    /// E.g. the result folder's name.
    pub label: String,
    /// Its results.
    pub body: Body,
}

/// How a metric is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A latency percentile, ms.
    Latency,
    /// A rate or a cost.
    Rate,
    /// A percentage (success rate).
    Percent,
    /// Yes (1) or no (0).
    Flag,
    /// Context, not judged (the target rate).
    Info,
}

/// A run's metric against the baseline's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Changed beyond noise, the good way.
    Better,
    /// Changed beyond noise, the bad way.
    Worse,
    /// Not beyond the noise rule.
    WithinNoise,
    /// The baseline itself, or a context row.
    NotJudged,
    /// This run or the baseline lacks the metric.
    Missing,
}

impl Verdict {
    /// As the outputs say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::WithinNoise => "within noise",
            Verdict::NotJudged => "–",
            Verdict::Missing => "n/a",
        }
    }
}

/// Judges `value` against `base` by the rule of `kind`.
pub fn judge(kind: Kind, higher_is_better: bool, base: Option<f64>, value: Option<f64>) -> Verdict {
    let (Some(a), Some(b)) = (base, value) else {
        return Verdict::Missing;
    };
    let noise = match kind {
        Kind::Latency => (HDR_RESOLUTION * a.abs().max(b.abs()))
            .max(LATENCY_MIN_CHANGE * a.abs())
            .max(LATENCY_MIN_MS),
        Kind::Rate => RATE_MIN_CHANGE * a.abs(),
        Kind::Percent => SUCCESS_MIN_POINTS,
        Kind::Flag => 0.5,
        Kind::Info => return Verdict::NotJudged,
    };
    let d = b - a;
    if d.abs() <= noise {
        Verdict::WithinNoise
    } else if (d > 0.0) == higher_is_better {
        Verdict::Better
    } else {
        Verdict::Worse
    }
}

/// One run's value of a metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// The value (None: the run lacks it).
    pub value: Option<f64>,
    /// value − baseline.
    pub delta: Option<f64>,
    /// The delta in per cent of the baseline (None when the baseline is 0).
    pub delta_pct: Option<f64>,
    /// Against the baseline.
    pub verdict: Verdict,
}

/// One metric across the runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// E.g. `e2e p95`.
    pub metric: String,
    /// `ms`, `/s`, `%`, a currency.
    pub unit: String,
    /// How it is judged.
    pub kind: Kind,
    /// Whether more is better.
    pub higher_is_better: bool,
    /// One per run, the baseline first.
    pub cells: Vec<Cell>,
}

/// What a run was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Scenario name.
    pub scenario: String,
    /// Flow (`, stress` for a stress run).
    pub flow: String,
    /// `run.id`.
    pub run_id: String,
    /// Start, RFC 3339.
    pub started: String,
    /// Scheduled length, seconds.
    pub duration_s: f64,
    /// Driver replicas merged.
    pub replicas: u32,
    /// The run's own verdict.
    pub verdict: String,
    /// API mode (`fspiop`), when the report says.
    #[serde(default)]
    pub api: String,
    /// Security, when the report says.
    #[serde(default)]
    pub security: String,
}

/// The runs of one comparison: the whole runs, or one stage of suites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// The suite stage (None: single runs).
    pub stage: Option<String>,
    /// One per input (None: the stage did not run there).
    pub runs: Vec<Option<Header>>,
    /// The metrics.
    pub rows: Vec<Row>,
    /// What could not be compared, and why.
    pub notes: Vec<String>,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The inputs' labels, the baseline first.
    pub labels: Vec<String>,
    /// One table (single runs) or one per stage (suites).
    pub tables: Vec<Table>,
    /// How verdicts are made.
    pub rules: Vec<String>,
    /// Scenario differences compared anyway (`--force`).
    pub forced: Vec<String>,
}

/// Counts of verdicts for one input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Better.
    pub better: usize,
    /// Worse.
    pub worse: usize,
    /// Within noise.
    pub within_noise: usize,
}

struct Metric {
    name: String,
    unit: String,
    kind: Kind,
    higher: bool,
    value: Option<f64>,
}

fn metric(name: &str, unit: &str, kind: Kind, higher: bool, value: Option<f64>) -> Metric {
    Metric {
        name: name.to_owned(),
        unit: unit.to_owned(),
        kind,
        higher,
        value,
    }
}

fn metrics(run: &Run) -> Vec<Metric> {
    let mut m = Vec::new();
    match run {
        Run::Load(r) => {
            m.push(metric(
                "target TPS",
                "/s",
                Kind::Info,
                true,
                Some(r.target_tps),
            ));
            m.push(metric(
                "achieved TPS",
                "/s",
                Kind::Rate,
                true,
                Some(r.achieved_tps),
            ));
            m.push(metric(
                "success",
                "%",
                Kind::Percent,
                true,
                Some(r.success_rate),
            ));
            let l = &r.latency_ms;
            for (name, p) in [
                ("e2e", &l.e2e),
                ("lookup", &l.lookup),
                ("quote", &l.quote),
                ("transfer", &l.transfer),
            ] {
                let v = |x: f64| (p.count > 0).then_some(x);
                m.push(metric(
                    &format!("{name} p50"),
                    "ms",
                    Kind::Latency,
                    false,
                    v(p.p50),
                ));
                m.push(metric(
                    &format!("{name} p95"),
                    "ms",
                    Kind::Latency,
                    false,
                    v(p.p95),
                ));
                m.push(metric(
                    &format!("{name} p99"),
                    "ms",
                    Kind::Latency,
                    false,
                    v(p.p99),
                ));
            }
            for phase in super::PHASES {
                let a = r
                    .attribution
                    .iter()
                    .find(|a| a.corridor == "all" && a.phase == phase);
                m.push(metric(
                    &format!("{phase}: switch p95 (in + out)"),
                    "ms",
                    Kind::Latency,
                    false,
                    a.map(|a| a.switch_ms.p95),
                ));
            }
            // The switch's own legs (first source per leg): count, and p95/p99 as the upper
            // edges of their buckets.
            let mut seen = std::collections::BTreeSet::new();
            for l in r.switch_metrics.iter().flat_map(|s| &s.legs) {
                if !seen.insert(l.name.as_str()) {
                    continue;
                }
                m.push(metric(
                    &format!("switch leg {}: count", l.name),
                    "",
                    Kind::Info,
                    true,
                    Some(l.count as f64),
                ));
                for (q, v) in [("p95", l.p95_ms), ("p99", l.p99_ms)] {
                    m.push(metric(
                        &format!("switch leg {}: {q} (bucket upper edge)", l.name),
                        "ms",
                        Kind::Latency,
                        false,
                        v,
                    ));
                }
            }
            m.push(metric(
                "CPU per committed transfer (perfbed process)",
                "ms",
                Kind::Rate,
                false,
                r.environment.as_ref().and_then(|e| e.cpu_ms_per_transfer),
            ));
            let cost = r.cost.as_ref();
            m.push(metric(
                "cost per million",
                cost.map_or("", |c| c.currency.as_str()),
                Kind::Rate,
                false,
                cost.and_then(|c| c.per_million),
            ));
        }
        Run::Stress(s) => {
            m.push(metric(
                "breaking point",
                "/s",
                Kind::Rate,
                true,
                s.breaking_point_tps,
            ));
            m.push(metric("broke at", "/s", Kind::Rate, true, s.broke_at_tps));
            m.push(metric(
                "peak achieved TPS",
                "/s",
                Kind::Rate,
                true,
                s.stages.iter().map(|st| st.achieved_tps).reduce(f64::max),
            ));
            m.push(metric(
                "recovered",
                "",
                Kind::Flag,
                true,
                s.recovered.map(|r| if r { 1.0 } else { 0.0 }),
            ));
        }
    }
    m
}

/// One table from the runs of one comparison (the baseline first).
fn table(stage: Option<String>, runs: &[Option<&Run>]) -> Table {
    let per_run: Vec<Vec<Metric>> = runs
        .iter()
        .map(|r| r.map_or_else(Vec::new, metrics))
        .collect();
    let mut rows: Vec<Row> = Vec::new();
    for ms in &per_run {
        for m in ms {
            if !rows.iter().any(|r| r.metric == m.name) {
                rows.push(Row {
                    metric: m.name.clone(),
                    unit: m.unit.clone(),
                    kind: m.kind,
                    higher_is_better: m.higher,
                    cells: Vec::new(),
                });
            }
        }
    }
    for row in &mut rows {
        let values: Vec<Option<f64>> = per_run
            .iter()
            .map(|ms| {
                ms.iter()
                    .find(|m| m.name == row.metric)
                    .and_then(|m| m.value)
            })
            .collect();
        if row.unit.is_empty() {
            // A cost's currency, from whichever run has one.
            if let Some(u) = per_run
                .iter()
                .flatten()
                .find(|m| m.name == row.metric && !m.unit.is_empty())
            {
                row.unit = u.unit.clone();
            }
        }
        let base = values[0];
        row.cells = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let delta = base.zip(*v).map(|(a, b)| b - a);
                Cell {
                    value: *v,
                    delta: if i == 0 { None } else { delta },
                    delta_pct: if i == 0 {
                        None
                    } else {
                        delta
                            .zip(base)
                            .and_then(|(d, a)| (a != 0.0).then(|| 100.0 * d / a))
                    },
                    verdict: if i == 0 {
                        Verdict::NotJudged
                    } else {
                        judge(row.kind, row.higher_is_better, base, *v)
                    },
                }
            })
            .collect();
    }
    // Rows nobody has (a flow without lookups, no cost model) say nothing.
    rows.retain(|r| r.cells.iter().any(|c| c.value.is_some()));
    Table {
        stage,
        runs: runs.iter().map(|r| r.map(Run::header)).collect(),
        rows,
        notes: Vec::new(),
    }
}

/// Checks that the runs of one table are of one scenario (name and flow) and of one kind;
/// with `force`, a different scenario is noted instead of refused.
fn check(
    stage: Option<&str>,
    labels: &[&str],
    runs: &[Option<&Run>],
    force: bool,
    forced: &mut Vec<String>,
) -> Result<(), String> {
    let present: Vec<(&str, &Run)> = labels
        .iter()
        .zip(runs)
        .filter_map(|(l, r)| r.map(|r| (*l, r)))
        .collect();
    let Some((l0, r0)) = present.first() else {
        return Ok(());
    };
    let at = stage.map_or(String::new(), |s| format!(" (stage {s})"));
    for (l, r) in &present[1..] {
        if matches!(r0, Run::Stress(_)) != matches!(r, Run::Stress(_)) {
            return Err(format!(
                "{l0} is {} and {l} is {}{at}: a stress ramp and a load run have no metric in common",
                kind_of(r0),
                kind_of(r)
            ));
        }
        if r.scenario() != r0.scenario() || r.flow() != r0.flow() {
            let what = format!(
                "{l0} ran '{}' ({}), {l} ran '{}' ({}){at}",
                r0.scenario(),
                r0.flow(),
                r.scenario(),
                r.flow()
            );
            if !force {
                return Err(format!(
                    "different scenarios: {what}; compare runs of one scenario, or add --force"
                ));
            }
            forced.push(what);
        }
    }
    Ok(())
}

fn kind_of(r: &Run) -> &'static str {
    match r {
        Run::Load(_) => "a load run",
        Run::Stress(_) => "a stress run",
    }
}

/// Compares `subjects` against the first. Single runs give one table; suites one table per
/// stage, matched by stage name (the baseline's order, then stages only others have). Refuses
/// fewer than two subjects, suites mixed with single runs, stress mixed with load, and runs of
/// different scenarios (name or flow) unless `force`.
pub fn compare(subjects: &[Subject], force: bool) -> Result<Comparison, String> {
    if subjects.len() < 2 {
        return Err("compare needs at least two reports (the first is the baseline)".into());
    }
    let labels: Vec<&str> = subjects.iter().map(|s| s.label.as_str()).collect();
    let mut forced = Vec::new();
    let mut tables = Vec::new();
    let suites = subjects
        .iter()
        .filter(|s| matches!(s.body, Body::Suite(_)))
        .count();
    if suites == 0 {
        let runs: Vec<Option<&Run>> = subjects
            .iter()
            .map(|s| match &s.body {
                Body::Run(r) => Some(r),
                Body::Suite(_) => None,
            })
            .collect();
        check(None, &labels, &runs, force, &mut forced)?;
        tables.push(table(None, &runs));
    } else if suites < subjects.len() {
        let (suite, single) = (
            subjects.iter().find(|s| matches!(s.body, Body::Suite(_))),
            subjects.iter().find(|s| matches!(s.body, Body::Run(_))),
        );
        return Err(format!(
            "{} is a suite and {} a single run: compare suites with suites (stage by stage) or runs with runs",
            suite.map_or("", |s| s.label.as_str()),
            single.map_or("", |s| s.label.as_str())
        ));
    } else {
        let stages_of = |s: &Subject| -> Vec<(String, Option<Run>)> {
            match &s.body {
                Body::Suite(st) => st.clone(),
                Body::Run(_) => Vec::new(),
            }
        };
        let all: Vec<Vec<(String, Option<Run>)>> = subjects.iter().map(stages_of).collect();
        let mut names: Vec<String> = Vec::new();
        for st in &all {
            for (n, _) in st {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
        }
        for name in names {
            let runs: Vec<Option<&Run>> = all
                .iter()
                .map(|st| {
                    st.iter()
                        .find(|(n, _)| *n == name)
                        .and_then(|(_, r)| r.as_ref())
                })
                .collect();
            check(Some(&name), &labels, &runs, force, &mut forced)?;
            let mut t = table(Some(name.clone()), &runs);
            for (i, (st, label)) in all.iter().zip(&labels).enumerate() {
                match st.iter().find(|(n, _)| *n == name) {
                    None => t.notes.push(format!("{label} has no stage {name}")),
                    Some((_, None)) => t.notes.push(format!(
                        "{label}: stage {name} did not run (skipped or pending){}",
                        if i == 0 {
                            ": nothing to compare against"
                        } else {
                            ""
                        }
                    )),
                    Some(_) => {}
                }
            }
            tables.push(t);
        }
    }
    Ok(Comparison {
        labels: subjects.iter().map(|s| s.label.clone()).collect(),
        tables,
        rules: RULES.iter().map(|r| (*r).to_owned()).collect(),
        forced,
    })
}

fn decimals(row: &Row) -> usize {
    match row.kind {
        Kind::Percent => 2,
        Kind::Rate if row.metric.starts_with("cost") => 2,
        _ => 1,
    }
}

fn value(row: &Row, v: Option<f64>) -> String {
    match (row.kind, v) {
        (_, None) => "n/a".into(),
        (Kind::Flag, Some(v)) => if v >= 0.5 { "yes" } else { "no" }.into(),
        (_, Some(v)) => format!("{v:.d$}", d = decimals(row)),
    }
}

fn delta(row: &Row, c: &Cell) -> String {
    let Some(d) = c.delta else {
        return String::new();
    };
    match row.kind {
        Kind::Flag => String::new(),
        Kind::Percent => format!("{d:+.2} pp"),
        _ => match c.delta_pct {
            Some(p) => format!("{d:+.dec$} ({p:+.1} %)", dec = decimals(row)),
            None => format!("{d:+.dec$}", dec = decimals(row)),
        },
    }
}

fn metric_name(row: &Row) -> String {
    if row.unit.is_empty() {
        row.metric.clone()
    } else {
        format!("{} ({})", row.metric, row.unit)
    }
}

impl Comparison {
    /// Verdict counts of input `i` over every table.
    pub fn tally(&self, i: usize) -> Tally {
        let mut t = Tally::default();
        for row in self.tables.iter().flat_map(|t| &t.rows) {
            match row.cells.get(i).map(|c| c.verdict) {
                Some(Verdict::Better) => t.better += 1,
                Some(Verdict::Worse) => t.worse += 1,
                Some(Verdict::WithinNoise) => t.within_noise += 1,
                _ => {}
            }
        }
        t
    }

    /// The row of `metric` in the first table (single runs) or the stage's.
    pub fn row(&self, stage: Option<&str>, metric: &str) -> Option<&Row> {
        self.tables
            .iter()
            .find(|t| t.stage.as_deref() == stage)?
            .rows
            .iter()
            .find(|r| r.metric == metric)
    }

    fn header_rows(&self, t: &Table) -> Vec<(&'static str, Vec<String>)> {
        let f = |g: fn(&Header) -> String| -> Vec<String> {
            t.runs
                .iter()
                .map(|h| h.as_ref().map_or("–".into(), g))
                .collect()
        };
        vec![
            ("scenario", f(|h| format!("{} ({})", h.scenario, h.flow))),
            (
                "run",
                f(|h| {
                    if h.run_id.is_empty() {
                        "–".into()
                    } else {
                        h.run_id.clone()
                    }
                }),
            ),
            ("started", f(|h| h.started.clone())),
            ("mode", f(|h| or_dash(&h.api))),
            ("security", f(|h| or_dash(&h.security))),
            ("scheduled", f(|h| format!("{:.0} s", h.duration_s))),
            ("replicas", f(|h| h.replicas.to_string())),
            ("verdict", f(|h| h.verdict.clone())),
        ]
    }

    fn title(&self) -> String {
        format!(
            "perfbed compare — {} against the baseline {}",
            self.labels[1..].join(", "),
            self.labels[0]
        )
    }

    fn tally_line(&self) -> String {
        (1..self.labels.len())
            .map(|i| {
                let t = self.tally(i);
                format!(
                    "{}: {} worse, {} better, {} within noise",
                    self.labels[i], t.worse, t.better, t.within_noise
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Markdown (what `report compare` prints).
    pub fn to_markdown(&self) -> String {
        let cell = |s: &str| s.replace('|', "\\|");
        let mut m = format!("# {}\n\n", self.title());
        m.push_str(&format!("{}.\n\n", self.tally_line()));
        for f in &self.forced {
            m.push_str(&format!(
                "**Different scenarios, compared anyway (--force)**: {f}.\n\n"
            ));
        }
        for t in &self.tables {
            if let Some(s) = &t.stage {
                m.push_str(&format!("## Stage {s}\n\n"));
            }
            m.push('|');
            for (i, l) in self.labels.iter().enumerate() {
                m.push_str(&format!(
                    " | {}{}",
                    cell(l),
                    if i == 0 { " (baseline)" } else { "" }
                ));
            }
            m.push_str(" |\n|---|");
            m.push_str(&"---|".repeat(self.labels.len()));
            m.push('\n');
            for (name, values) in self.header_rows(t) {
                m.push_str(&format!("| {name} |"));
                for v in values {
                    m.push_str(&format!(" {} |", cell(&v)));
                }
                m.push('\n');
            }
            m.push_str("\n| Metric | ");
            m.push_str(&cell(&self.labels[0]));
            for l in &self.labels[1..] {
                m.push_str(&format!(" | {} | Δ | verdict", cell(l)));
            }
            m.push_str(" |\n|---|---:|");
            m.push_str(&"---:|---:|---|".repeat(self.labels.len() - 1));
            m.push('\n');
            for row in &t.rows {
                m.push_str(&format!(
                    "| {} | {}",
                    metric_name(row),
                    value(row, row.cells[0].value)
                ));
                for c in &row.cells[1..] {
                    let v = match c.verdict {
                        Verdict::Worse => "**worse**".to_owned(),
                        x => x.as_str().to_owned(),
                    };
                    m.push_str(&format!(
                        " | {} | {} | {v}",
                        value(row, c.value),
                        delta(row, c)
                    ));
                }
                m.push_str(" |\n");
            }
            if !t.notes.is_empty() {
                m.push('\n');
            }
            for n in &t.notes {
                m.push_str(&format!("- {n}\n"));
            }
            m.push('\n');
        }
        m.push_str("Noise rules (one run each is one sample each: these say whether a difference exceeds the instrument's resolution and a minimum effect, not whether it would repeat):\n\n");
        for r in &self.rules {
            m.push_str(&format!("- {r}\n"));
        }
        m
    }

    /// A self-contained HTML page (no external resource).
    pub fn to_html(&self) -> String {
        let mut b = format!(
            "<h1>{}</h1><p>{}.</p>",
            esc(&self.title()),
            esc(&self.tally_line())
        );
        for f in &self.forced {
            b.push_str(&format!(
                "<p class=\"worse\">Different scenarios, compared anyway (--force): {}.</p>",
                esc(f)
            ));
        }
        for t in &self.tables {
            if let Some(s) = &t.stage {
                b.push_str(&format!("<h2>Stage {}</h2>", esc(s)));
            }
            b.push_str("<table><tr><th></th>");
            for (i, l) in self.labels.iter().enumerate() {
                b.push_str(&format!(
                    "<th>{}{}</th>",
                    esc(l),
                    if i == 0 { " (baseline)" } else { "" }
                ));
            }
            b.push_str("</tr>");
            for (name, values) in self.header_rows(t) {
                b.push_str(&format!("<tr><td>{name}</td>"));
                for v in values {
                    b.push_str(&format!("<td>{}</td>", esc(&v)));
                }
                b.push_str("</tr>");
            }
            b.push_str("</table><table><tr><th>Metric</th>");
            b.push_str(&format!("<th>{}</th>", esc(&self.labels[0])));
            for l in &self.labels[1..] {
                b.push_str(&format!("<th>{}</th><th>Δ</th><th>verdict</th>", esc(l)));
            }
            b.push_str("</tr>");
            for row in &t.rows {
                b.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td>",
                    esc(&metric_name(row)),
                    esc(&value(row, row.cells[0].value))
                ));
                for c in &row.cells[1..] {
                    let class = match c.verdict {
                        Verdict::Better => "better",
                        Verdict::Worse => "worse",
                        _ => "muted",
                    };
                    b.push_str(&format!(
                        "<td>{}</td><td>{}</td><td class=\"{class}\">{}</td>",
                        esc(&value(row, c.value)),
                        esc(&delta(row, c)),
                        c.verdict.as_str()
                    ));
                }
                b.push_str("</tr>");
            }
            b.push_str("</table>");
            if !t.notes.is_empty() {
                b.push_str("<ul>");
                for n in &t.notes {
                    b.push_str(&format!("<li>{}</li>", esc(n)));
                }
                b.push_str("</ul>");
            }
        }
        b.push_str("<h2>Noise rules</h2><p>One run each is one sample each: these say whether a difference exceeds the instrument's resolution and a minimum effect, not whether it would repeat.</p><ul>");
        for r in &self.rules {
            b.push_str(&format!("<li>{}</li>", esc(r)));
        }
        b.push_str("</ul>");
        page(&self.title(), &b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Outcome, Recorder};
    use crate::scenario::{Flow, Scenario};
    use crate::stress::StageResult;
    use std::time::Duration;

    /// A report of `n` committed transfers at `ms` each.
    fn report(name: &str, ms: u64) -> Report {
        let scenario = Scenario::constant(name, Flow::P2p, 100.0, Duration::from_secs(10));
        let mut r = Recorder::new(&scenario, time::OffsetDateTime::UNIX_EPOCH);
        for i in 0..1000u64 {
            let e2e = Duration::from_millis(ms);
            r.record(&crate::Sample {
                index: i,
                intended: Duration::from_millis(i * 10),
                start_lag: Duration::ZERO,
                corridor: 0,
                outcome: Outcome::Committed,
                e2e,
                e2e_raw: e2e,
                phases: [None, Some(e2e / 2), Some(e2e / 2)],
                splits: [None, None, None],
                uncertain: None,
            });
        }
        r.finish(1000)
    }

    fn run(label: &str, r: Report) -> Subject {
        Subject {
            label: label.into(),
            body: Body::Run(Run::Load(Box::new(r))),
        }
    }

    #[test]
    fn noise_rules_per_kind() {
        use Verdict::*;
        let lat = |a, b| judge(Kind::Latency, false, Some(a), Some(b));
        assert_eq!(lat(100.0, 104.9), WithinNoise, "under 5 %");
        assert_eq!(lat(100.0, 105.1), Worse);
        assert_eq!(lat(100.0, 94.0), Better);
        assert_eq!(lat(2.0, 2.9), WithinNoise, "under 1 ms");
        assert_eq!(lat(2.0, 3.2), Worse);
        let rate = |a, b| judge(Kind::Rate, true, Some(a), Some(b));
        assert_eq!(rate(1000.0, 981.0), WithinNoise);
        assert_eq!(rate(1000.0, 979.0), Worse);
        assert_eq!(rate(1000.0, 1021.0), Better);
        assert_eq!(rate(0.0, 1.0), Better);
        let cost = |a, b| judge(Kind::Rate, false, Some(a), Some(b));
        assert_eq!(cost(0.41, 0.45), Worse);
        let pct = |a, b| judge(Kind::Percent, true, Some(a), Some(b));
        assert_eq!(pct(100.0, 99.95), WithinNoise);
        assert_eq!(pct(100.0, 99.8), Worse);
        assert_eq!(judge(Kind::Flag, true, Some(1.0), Some(0.0)), Worse);
        assert_eq!(judge(Kind::Flag, true, Some(1.0), Some(1.0)), WithinNoise);
        assert_eq!(judge(Kind::Info, true, Some(1.0), Some(9.0)), NotJudged);
        assert_eq!(judge(Kind::Latency, false, None, Some(9.0)), Missing);
    }

    #[test]
    fn a_slower_run_is_worse_on_latency_and_the_same_rate_within_noise() {
        let c = compare(
            &[run("fast", report("s", 10)), run("slow", report("s", 40))],
            false,
        )
        .unwrap();
        let v = |m: &str| c.row(None, m).unwrap().cells[1].verdict;
        assert_eq!(v("e2e p50"), Verdict::Worse);
        assert_eq!(v("e2e p99"), Verdict::Worse);
        assert_eq!(v("transfer p95"), Verdict::Worse);
        assert_eq!(v("achieved TPS"), Verdict::WithinNoise);
        assert_eq!(v("success"), Verdict::WithinNoise);
        assert_eq!(v("target TPS"), Verdict::NotJudged);
        let p50 = c.row(None, "e2e p50").unwrap();
        assert_eq!(p50.cells[0].verdict, Verdict::NotJudged, "the baseline");
        let d = p50.cells[1].delta.unwrap();
        assert!((d - 30.0).abs() < 0.1, "{d}");
        assert!(c.row(None, "lookup p50").is_none(), "no run had lookups");
        assert!(c.row(None, "cost per million").is_none());
        assert_eq!(c.tally(1).better, 0);
        assert!(c.tally(1).worse >= 9, "{:?}", c.tally(1));
        // Reversed, the same difference is better.
        let r = compare(
            &[run("slow", report("s", 40)), run("fast", report("s", 10))],
            false,
        )
        .unwrap();
        assert_eq!(
            r.row(None, "e2e p50").unwrap().cells[1].verdict,
            Verdict::Better
        );
        let md = c.to_markdown();
        assert!(
            md.contains("| e2e p50 (ms) | 10.0 | 40.0 | +30.0 (+300.0 %) | **worse** |"),
            "{md}"
        );
        assert!(
            md.contains("slow: ") && md.contains(" worse, 0 better"),
            "{md}"
        );
        assert!(
            md.contains("5 % of the baseline") && md.contains("0.1 %"),
            "{md}"
        );
        let html = c.to_html();
        assert!(html.contains(r#"<td class="worse">worse</td>"#));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    #[test]
    fn the_switch_s_own_legs_are_compared_by_their_bucket_edges() {
        let with_leg = |p95: f64, p99: Option<f64>| {
            let mut r = report("s", 10);
            r.switch_metrics = Some(crate::report::SwitchMetrics {
                legs: vec![crate::report::SwitchLeg {
                    name: "moja_cl_transfer_prepare".into(),
                    count: 100,
                    p95_ms: Some(p95),
                    p99_ms: p99,
                    ..Default::default()
                }],
                ..Default::default()
            });
            r
        };
        let c = compare(
            &[
                run("a", with_leg(50.0, Some(5000.0))),
                run("b", with_leg(500.0, None)),
            ],
            false,
        )
        .unwrap();
        let row = |m: &str| c.row(None, m).unwrap();
        let p95 = row("switch leg moja_cl_transfer_prepare: p95 (bucket upper edge)");
        assert_eq!(p95.cells[1].verdict, Verdict::Worse);
        assert_eq!(p95.cells[1].value, Some(500.0));
        let n = row("switch leg moja_cl_transfer_prepare: count");
        assert_eq!(n.cells[1].verdict, Verdict::NotJudged);
        let p99 = row("switch leg moja_cl_transfer_prepare: p99 (bucket upper edge)");
        assert_eq!(
            p99.cells[1].verdict,
            Verdict::Missing,
            "beyond the edges: no number"
        );
        assert!(c
            .to_markdown()
            .contains("switch leg moja_cl_transfer_prepare: p95"));
        // A run without the section has no such rows.
        let c = compare(
            &[run("a", report("s", 10)), run("b", report("s", 10))],
            false,
        )
        .unwrap();
        assert!(c
            .row(None, "switch leg moja_cl_transfer_prepare: count")
            .is_none());
    }

    #[test]
    fn different_scenarios_are_refused_unless_forced() {
        let subjects = [run("a", report("one", 10)), run("b", report("two", 10))];
        let e = compare(&subjects, false).unwrap_err();
        assert!(
            e.contains("a ran 'one' (p2p), b ran 'two' (p2p)") && e.contains("--force"),
            "{e}"
        );
        let c = compare(&subjects, true).unwrap();
        assert_eq!(c.forced.len(), 1);
        assert!(c.to_markdown().contains("compared anyway"));
        assert!(
            compare(&subjects[..1], false).is_err(),
            "one is not a comparison"
        );
        let mut other_flow = report("one", 10);
        other_flow.flow = "transfer".into();
        let e = compare(&[run("a", report("one", 10)), run("b", other_flow)], false).unwrap_err();
        assert!(e.contains("(transfer)"), "{e}");
    }

    fn stress(bp: f64, recovered: bool) -> Run {
        let st = |rate: f64| StageResult {
            rate,
            arrivals: 10,
            share: 1.0,
            achieved_tps: rate,
            success_rate: 100.0,
            p99_ms: 5.0,
            broken_by: Vec::new(),
            interrupted: false,
        };
        Run::Stress(Box::new(StressReport {
            scenario: "stress".into(),
            stages: vec![st(100.0), st(bp)],
            breaking_point_tps: Some(bp),
            broke_at_tps: Some(bp + 100.0),
            broke_by: Vec::new(),
            first_error: None,
            first_error_at_s: None,
            most_frequent_error: None,
            slowest_phase: None,
            slowest_corridor: None,
            recovery: Some(st(100.0)),
            recovered: Some(recovered),
            stage_reports: Vec::new(),
            rules: None,
            notes: Vec::new(),
            crosscheck: None,
            no_crosscheck: None,
            outcomes: None,
            operations: None,
        }))
    }

    #[test]
    fn suites_compare_stage_by_stage_by_name() {
        let a = Subject {
            label: "a".into(),
            body: Body::Suite(vec![
                ("base".into(), Some(Run::Load(Box::new(report("base", 10))))),
                ("stress".into(), Some(stress(500.0, true))),
            ]),
        };
        let b = Subject {
            label: "b".into(),
            body: Body::Suite(vec![
                ("stress".into(), Some(stress(300.0, false))),
                ("base".into(), Some(Run::Load(Box::new(report("base", 10))))),
                ("extra".into(), None),
            ]),
        };
        let c = compare(&[a.clone(), b], false).unwrap();
        let stages: Vec<Option<&str>> = c.tables.iter().map(|t| t.stage.as_deref()).collect();
        assert_eq!(stages, [Some("base"), Some("stress"), Some("extra")]);
        let v = |s, m| c.row(Some(s), m).unwrap().cells[1].verdict;
        assert_eq!(v("base", "e2e p50"), Verdict::WithinNoise);
        assert_eq!(v("stress", "breaking point"), Verdict::Worse);
        assert_eq!(v("stress", "recovered"), Verdict::Worse);
        let extra = &c.tables[2];
        assert!(extra.rows.is_empty() && extra.notes.len() == 2, "{extra:?}");
        assert!(c.to_markdown().contains("## Stage stress"));
        // A stage that is a stress run in one suite and a load run in the other.
        let b = Subject {
            label: "b".into(),
            body: Body::Suite(vec![(
                "stress".into(),
                Some(Run::Load(Box::new(report("stress", 10)))),
            )]),
        };
        let e = compare(&[a.clone(), b], false).unwrap_err();
        assert!(
            e.contains("a is a stress run and b is a load run (stage stress)"),
            "{e}"
        );
        let e = compare(&[a, run("r", report("base", 10))], false).unwrap_err();
        assert!(e.contains("a is a suite and r a single run"), "{e}");
    }
}
