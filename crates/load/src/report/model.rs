//! The report model: what `report.json` holds (schema: `docs/report.schema.json`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How one arrival ended: exactly one of these, for every arrival the scheduler started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Committed (fulfilment checked).
    Committed,
    /// Rejected, by FSPIOP error code (or `anomaly:<kind>`, `HTTP <status>`).
    Rejected(String),
    /// The request was accepted but no answer came within the step timeout.
    TimedOut,
    /// The request left (or may have left) but no valid answer came back: the connection was
    /// reset after the request was written, or the HTTP response never came. The switch may
    /// have acted on it.
    FailedAfterSend(String),
    /// The request never left: no connection, admission limit, nothing to send.
    NotSent(String),
    /// The iteration itself died (`panic`, `cancelled`): a driver bug, shown loudly.
    Lost(String),
}

impl Outcome {
    /// The outcome class, as the report's counters name it.
    pub fn class(&self) -> &'static str {
        match self {
            Outcome::Committed => "committed",
            Outcome::Rejected(_) => "rejected",
            Outcome::TimedOut => "timed_out",
            Outcome::FailedAfterSend(_) => "failed_after_send",
            Outcome::NotSent(_) => "not_sent",
            Outcome::Lost(_) => "lost",
        }
    }

    /// Whether the arrival reached the system under test and ended there (its latency is part
    /// of the all-outcomes distribution): committed, rejected, timed out, failed after send.
    pub fn ended_at_switch(&self) -> bool {
        matches!(
            self,
            Outcome::Committed
                | Outcome::Rejected(_)
                | Outcome::TimedOut
                | Outcome::FailedAfterSend(_)
        )
    }
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th.
    pub p90: f64,
    /// 95th.
    pub p95: f64,
    /// 99th.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// Latencies by phase.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Latencies {
    /// End to end from the intended start (coordinated-omission corrected).
    pub e2e: Percentiles,
    /// End to end from the actual start.
    pub e2e_raw: Percentiles,
    /// `GET /parties` → `PUT /parties`.
    pub lookup: Percentiles,
    /// `POST /quotes` → `PUT /quotes`.
    pub quote: Percentiles,
    /// `POST /transfers` → `PUT /transfers`.
    pub transfer: Percentiles,
}

/// One phase's time, split between the switch and the payee simulator (from the trace
/// stamps: payer sent, payee received, payee's callback sent, payer received).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Attribution {
    /// `lookup`, `quote` or `transfer`.
    pub phase: String,
    /// `payer→payee`, or `all`.
    pub corridor: String,
    /// The request through the switch to the payee.
    pub switch_in_ms: Percentiles,
    /// Inside the payee simulator (receipt to callback sent).
    pub simulator_ms: Percentiles,
    /// The callback through the switch back to the payer.
    pub switch_out_ms: Percentiles,
    /// Both switch legs of each phase.
    pub switch_ms: Percentiles,
}

/// What the switch showed during the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SwitchEvidence {
    /// Kafka: the run's transfers' messages from the run's start until the switch drained
    /// after the run (see `notes`).
    pub kafka: Option<KafkaEvidence>,
    /// Per FSP, before and after the run.
    pub positions: Vec<PositionChange>,
    /// What could not be collected, and why.
    pub notes: Vec<String>,
}

/// The switch's own histograms per leg over the steady-state window (`switch_metrics` in
/// report.json): what its services measured themselves, beside perfbed's attribution.
/// Percentiles come from bucket counts: each is the upper edge (`le`) of the bucket where its
/// rank falls, an upper bound at bucket resolution.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SwitchMetrics {
    /// The window asked for, seconds from the run's start (the report's steady-state window).
    pub window_s: [f64; 2],
    /// Where the numbers came from, and the snapshots used as the window's ends.
    pub sources: Vec<MetricsSource>,
    /// One row per histogram found (known legs, and the testbed's `extra`), per source.
    pub legs: Vec<SwitchLeg>,
    /// The driver's committed transfers of the window (arrivals inside it), for comparison.
    pub driver_committed: u64,
    /// What was missing or odd: sources not read, known legs not exposed, resets, series
    /// that appeared or vanished.
    pub notes: Vec<String>,
    /// The scenario requires the legs (`[switch_metrics] required = true`).
    #[serde(default)]
    pub required: bool,
    /// Whether the section holds what a requiring scenario needs: every source read and at
    /// least one leg found.
    #[serde(default)]
    pub complete: bool,
}

/// One source of switch metrics.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MetricsSource {
    /// `scrape` (perfbed read the endpoint during the run) or `prometheus` (its HTTP API,
    /// asked after the run).
    pub kind: String,
    /// The service, as the testbed names it (`prometheus` for a Prometheus server).
    pub service: String,
    /// The URL read.
    pub url: String,
    /// The snapshot used as the window's start, seconds from the run's start (for
    /// Prometheus: the oldest sample its answer held there); `None`: none could be read.
    pub start_s: Option<f64>,
    /// The snapshot used as the window's end (for Prometheus: the newest sample).
    pub end_s: Option<f64>,
    /// Snapshots inside the window that the legs were added up over.
    pub snapshots: u32,
    /// Snapshots that failed.
    pub failed: u32,
    /// Why nothing came from it, when so.
    #[serde(default)]
    pub error: Option<String>,
}

/// One leg over the window.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SwitchLeg {
    /// The histogram's full name (`moja_cl_transfer_prepare`).
    pub name: String,
    /// The service that exposes it.
    pub service: String,
    /// The source's URL (the same leg from two sources is two rows).
    pub source: String,
    /// What the leg is (known legs; empty for extra ones).
    pub what: String,
    /// perfbed's phase and side it belongs to (`transfer · switch in`).
    pub phase: String,
    /// `running` (checked on the running service), `source` (read from its code) or
    /// `extra` (named in the testbed).
    pub verified: String,
    /// Observations inside the window.
    pub count: u64,
    /// Observations by the `success` label (`true`, `false`; `-` without one).
    pub success: BTreeMap<String, u64>,
    /// Percentiles in ms: upper bounds at bucket resolution; `None` without observations or
    /// when the rank falls beyond the last finite edge (`beyond` then names it).
    pub p50_ms: Option<f64>,
    /// 95th.
    pub p95_ms: Option<f64>,
    /// 99th.
    pub p99_ms: Option<f64>,
    /// The percentiles whose rank fell beyond the last finite edge (`p99`, …).
    #[serde(default)]
    pub beyond: Vec<String>,
    /// The finite bucket edges used, ms.
    pub bucket_edges_ms: Vec<f64>,
    /// Series counted from zero because their counts went down (a restart).
    pub resets: usize,
    /// Series first seen inside the window (counted from zero).
    pub appeared: usize,
    /// Series gone before the window's end.
    pub vanished: usize,
}

impl SwitchLeg {
    /// A percentile as the report shows it: `≤ 50 ms` (the bucket's upper edge), `> 5000 ms`
    /// (beyond the last finite edge), `no data`.
    pub fn pct_text(&self, name: &str, v: Option<f64>) -> String {
        match v {
            Some(ms) => format!("≤ {}", fmt_ms(ms)),
            None if self.beyond.iter().any(|b| b == name) => format!(
                "> {}",
                self.bucket_edges_ms
                    .last()
                    .map_or("?".into(), |e| fmt_ms(*e))
            ),
            None => "no data".into(),
        }
    }

    /// `true 10, false 1`.
    pub fn success_text(&self) -> String {
        self.success
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The edges in one line: `10, 50, 100, 500, 1000, 2000, 5000 ms`.
    pub fn edges_text(&self) -> String {
        let e: Vec<String> = self.bucket_edges_ms.iter().map(|e| fmt_ms(*e)).collect();
        format!("{} ms", e.join(", ").replace(" ms", ""))
    }
}

/// `0.25 ms`, `10 ms`, `5000 ms`: as few digits as the edge needs.
pub fn fmt_ms(ms: f64) -> String {
    let t = format!("{ms:.3}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    format!("{t} ms")
}

impl SwitchMetrics {
    /// The section's introduction: window, snapshots, what the percentiles are.
    pub fn intro(&self) -> String {
        let srcs: Vec<String> = self
            .sources
            .iter()
            .map(|s| match (&s.error, s.start_s, s.end_s) {
                (Some(e), _, _) => format!("{} {} ({}): not read: {e}", s.kind, s.url, s.service),
                (None, Some(a), Some(b)) => format!(
                    "{} {} ({}): snapshots at {a:.2} s and {b:.2} s used as the window's ends, {} snapshots added up{}",
                    s.kind,
                    s.url,
                    s.service,
                    s.snapshots,
                    if s.failed > 0 {
                        format!(", {} failed", s.failed)
                    } else {
                        String::new()
                    }
                ),
                _ => format!("{} {} ({}): no snapshot in the window", s.kind, s.url, s.service),
            })
            .collect();
        format!(
            "What the switch's services measured themselves (their Prometheus histograms), over the steady-state window {:.1}–{:.1} s; the driver committed {} transfers of that window. Percentiles are read off bucket counts: each is the upper edge of the bucket where its rank falls, an upper bound at bucket resolution (the edges are listed per leg). Sources: {}.",
            self.window_s[0],
            self.window_s[1],
            self.driver_committed,
            srcs.join("; ")
        )
    }

    /// The switch's count against the driver's committed count: `1.00×`.
    pub fn versus_driver(&self, l: &SwitchLeg) -> String {
        if self.driver_committed == 0 {
            "n/a".into()
        } else {
            format!("{:.2}×", l.count as f64 / self.driver_committed as f64)
        }
    }

    /// Why a run that requires the legs fails, if it does.
    pub fn failure(&self) -> Option<String> {
        (self.required && !self.complete).then(|| {
            format!(
                "switch metrics required ([switch_metrics] required = true) but incomplete: {}",
                if self.notes.is_empty() {
                    "no leg found".to_owned()
                } else {
                    self.notes.join("; ")
                }
            )
        })
    }
}

/// Message counts and validity ratios on the Mojaloop topics, and the worst consumer lag.
///
/// Counted by transfer (`by_transfer` present): the messages on the transfer topics from the
/// run's start until the switch drained whose transfer id is one of the run's; the ratios judge
/// those only, so other traffic on the topics and the fulfils of warm-up prepares do not move
/// them. Older reports (and `perfbed kafka gate`) count every message over a time window.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KafkaEvidence {
    /// How long the messages were counted, seconds (run's start, or the steady-state window's
    /// start, until the switch drained).
    pub window_s: f64,
    /// Messages per topic: the run's transfers' when counted by transfer, else all in the window.
    pub counts: BTreeMap<String, u64>,
    /// Ratio name → (measured, expected, within tolerance).
    pub ratios: Vec<(String, Option<f64>, f64, bool)>,
    /// Every ratio within tolerance and enough prepares.
    pub pass: bool,
    /// Largest consumer-group lag at the end (messages).
    pub max_lag: Option<i64>,
    /// Counted by transfer: what was read, and how the run's messages were told apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_transfer: Option<KafkaByTransfer>,
}

/// How the run's messages were found on the topics (see [`KafkaEvidence`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KafkaByTransfer {
    /// The run's transfer-id prefix (its run tag) the messages were matched by.
    pub prefix: String,
    /// Every message read on the transfer topics, per topic (the run's and any other).
    pub read: BTreeMap<String, u64>,
    /// Every partition was read up to the offsets taken once the switch drained (false: the
    /// reading stopped at its bound and the counts are short).
    pub complete: bool,
}

impl KafkaEvidence {
    /// How one ratio reads: `ok`, `FAIL`, or `not judged` when its topics carried nothing (a
    /// ratio of nothing proves nothing, so it never reads `ok`).
    pub fn ratio_verdict(measured: Option<f64>, ok: bool) -> &'static str {
        match (measured, ok) {
            (_, false) => "FAIL",
            (None, true) => "not judged (its topic carried nothing)",
            (Some(_), true) => "ok",
        }
    }

    /// Whether the gate judged anything: counted by transfer, no prepare of the run on the
    /// topics leaves it not judged (a ratio of nothing proves nothing, and is no failure of the
    /// switch's either: the run's own verdict says what became of its transfers).
    pub fn judged(&self) -> bool {
        self.by_transfer.is_none()
            || self
                .counts
                .get("topic-transfer-prepare")
                .copied()
                .unwrap_or(0)
                > 0
    }

    /// The gate's verdict in a word: `PASS`, `FAIL` or `not judged`.
    pub fn verdict(&self) -> &'static str {
        match (self.judged(), self.pass) {
            (false, _) => "not judged",
            (true, true) => "PASS",
            (true, false) => "FAIL",
        }
    }

    /// What was counted, in one sentence: by transfer, how many messages were read and how many
    /// were the run's; else the window.
    pub fn basis_line(&self) -> String {
        match &self.by_transfer {
            Some(b) => {
                let read: u64 = b.read.values().sum();
                let run: u64 = self.counts.values().sum();
                format!(
                    "Kafka by transfer over {:.0} s (the run's start until the switch drained): {read} messages read on the transfer topics, {run} of them this run's (transfer ids starting {}){}",
                    self.window_s,
                    b.prefix,
                    if b.complete {
                        ""
                    } else {
                        "; the reading stopped before the end offsets: the counts are short"
                    }
                )
            }
            None => format!("Kafka over {:.0} s", self.window_s),
        }
    }

    /// The ratios in one line: `fulfil/prepare 1.000 (expect 1.0) ok, …`.
    pub fn ratios_line(&self) -> String {
        if !self.judged() {
            return "not judged: none of this run's prepares on topic-transfer-prepare".into();
        }
        self.ratios
            .iter()
            .map(|(n, v, e, ok)| {
                format!(
                    "{n} {} (expect {e:.1}) {}",
                    v.map_or("n/a".into(), |v| format!("{v:.3}")),
                    KafkaEvidence::ratio_verdict(*v, *ok)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One FSP's position, NDC headroom and liquidity before and after.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PositionChange {
    /// FSP.
    pub fsp: String,
    /// [position, NDC headroom, liquidity headroom] before (decimal strings).
    pub before: [String; 3],
    /// The same after.
    pub after: [String; 3],
}

/// What a million transfers cost on the system under test.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cost {
    /// Currency of the prices.
    pub currency: String,
    /// Price of the cluster per hour.
    pub hourly: f64,
    /// Committed transfers per second the price is spread over (achieved in the window).
    pub tps: f64,
    /// hourly / (tps × 3600) × 1,000,000 (null when nothing committed).
    pub per_million: Option<f64>,
    /// The nodes, as `count × name at price`.
    pub basis: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CorridorReport {
    /// `payer→payee`.
    pub corridor: String,
    /// Configured weight.
    pub weight: f64,
    /// Arrivals in the corridor (whole run).
    pub arrivals: u64,
    /// Committed (whole run).
    pub committed: u64,
    /// End-to-end latency (steady state).
    pub e2e: Percentiles,
}

/// One second of the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Second {
    /// Seconds since the start.
    pub second: u64,
    /// Target rate.
    pub target_rate: f64,
    /// Arrivals scheduled in this second.
    pub started: u64,
    /// Of those, committed.
    pub committed: u64,
    /// Of those, not committed.
    pub failed: u64,
    /// p95 end-to-end latency of those that ended at the switch (all outcomes), ms.
    pub p95_ms: f64,
    /// Median, the same population, ms.
    #[serde(default)]
    pub p50_ms: f64,
    /// p99, the same population, ms.
    #[serde(default)]
    pub p99_ms: f64,
    /// Of the failed: rejected (by the switch, the payee, or an HTTP status).
    #[serde(default)]
    pub rejected: u64,
    /// Of the failed: accepted, then no answer within the timeout.
    #[serde(default)]
    pub timed_out: u64,
    /// p95 of each phase (`lookup`, `quote`, `transfer`) of these arrivals (all outcomes), ms,
    /// at 2 significant digits (per-second histograms are kept small); a phase nobody reached
    /// in this second is absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phase_p95_ms: BTreeMap<String, f64>,
}

/// One threshold's verdict.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Threshold {
    /// Name.
    pub name: String,
    /// Limit.
    pub limit: f64,
    /// Measured.
    pub value: f64,
    /// Met? Never when there was nothing to measure (`no_data`).
    pub ok: bool,
    /// Nothing to measure: no latency sample, no arrival in the window. The value then reads 0
    /// and proves nothing, so the threshold fails.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_data: bool,
}

impl Threshold {
    /// The measured value, or `no data`.
    pub fn value_text(&self) -> String {
        if self.no_data {
            "no data".into()
        } else {
            format!("{:.2}", self.value)
        }
    }

    /// Why it failed, in one line (`None` when met).
    pub fn failure(&self) -> Option<String> {
        let higher = self.name == "success_rate_pct" || self.name == "achieved_ratio";
        match (self.ok, self.no_data) {
            (true, _) => None,
            (false, true) => Some(format!(
                "{}: no data (nothing was measured, limit {})",
                self.name, self.limit
            )),
            (false, false) => Some(format!(
                "{} {:.2} {} limit {}",
                self.name,
                self.value,
                if higher { "<" } else { ">" },
                self.limit
            )),
        }
    }
}

/// Raw counts of the steady-state window (what rates and success are computed from, and what
/// merging replicas adds up).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Window {
    /// Arrivals scheduled inside the window.
    pub arrivals: u64,
    /// Of those, committed.
    pub committed: u64,
    /// Commits completed inside the window (any arrival time).
    pub completions: u64,
    /// Commits completed inside the window shifted by `shift_s` (any arrival time; the slots
    /// at its ends, 10 ms each, counted in proportion): `achieved_tps` × `seconds`.
    #[serde(default)]
    pub completions_shifted: f64,
    /// The shift: median end-to-end latency of the window's committed arrivals, seconds.
    #[serde(default)]
    pub shift_s: f64,
    /// Window length, seconds.
    pub seconds: f64,
}

/// How the numbers were made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Method {
    /// Steady-state window (seconds from the start) the headline numbers cover.
    pub window_s: [f64; 2],
    /// What latency means.
    pub correction: String,
    /// Histogram resolution.
    pub histograms: String,
}

/// The report (schema: `docs/report.schema.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Flow.
    pub flow: String,
    /// Start, RFC 3339.
    pub started: String,
    /// Scheduled length, seconds.
    pub duration_s: f64,
    /// Which run this is, and which replica of it.
    #[serde(default)]
    pub run: RunInfo,
    /// Arrivals the scheduler started (whole run), counted by the scheduler itself: the
    /// independent side of the accounting identity.
    pub arrivals: u64,
    /// Committed.
    pub committed: u64,
    /// Rejected (by code in `errors_by_code`).
    pub rejected: u64,
    /// Accepted, then no answer within the timeout.
    pub timed_out: u64,
    /// Sent (or possibly sent), then no valid answer: reset after writing, no HTTP response.
    #[serde(default)]
    pub failed_after_send: u64,
    /// Never left the driver.
    pub not_sent: u64,
    /// Iterations that died (panic, cancelled): a driver bug.
    #[serde(default)]
    pub lost: u64,
    /// Callbacks that came after their request had given up (counted by the payer
    /// simulators; such an answer never completes a newer request).
    #[serde(default)]
    pub late_callbacks: u64,
    /// Callbacks this driver's simulators could not deliver to the hub (refused, reset, no
    /// answer), counted when the run ended: each leaves a flow of the switch waiting. Only
    /// simulators in the driver's process count (a payee simulator run separately logs and
    /// exports its own: `perffsp_callbacks_failed_total`).
    #[serde(default)]
    pub callbacks_failed: u64,
    /// Arrivals started more than 10 ms after their intended time (the driver fell behind).
    pub late_arrivals: u64,
    /// How late iterations started (whole run): the driver's own scheduling lag. Tokio's timer
    /// has 1 ms resolution, so up to ~1 ms is the clock, not the driver.
    pub start_lag_ms: Percentiles,
    /// Target rate over the window (arrivals / window length).
    pub target_tps: f64,
    /// Commits completed per second over a window as long as the steady-state window, shifted
    /// by the median end-to-end latency of its committed arrivals (`window.shift_s`): in a
    /// steady system those are the completions of the window's own arrivals, so a warm-up
    /// shorter than the latency cannot bias `achieved_tps / target_tps` low; in a saturated
    /// one they come at the system's capacity, so a backlog that commits late does not read as
    /// full throughput either.
    pub achieved_tps: f64,
    /// Commits completed per second inside the window, whatever their arrival time (the
    /// throughput the system showed while the window lasted; `window.completions`).
    #[serde(default)]
    pub completion_tps: f64,
    /// Committed / arrivals over the window, percent.
    pub success_rate: f64,
    /// Latencies over the window, of EVERY arrival that ended at the switch (committed,
    /// rejected, timed out — entering at its timeout —, failed after send): no survivor bias.
    /// Thresholds judge this distribution.
    pub latency_ms: Latencies,
    /// The same, committed arrivals only.
    #[serde(default)]
    pub latency_committed_ms: Latencies,
    /// Rejections and failures by code (whole run).
    pub errors_by_code: BTreeMap<String, u64>,
    /// Per corridor.
    pub corridors: Vec<CorridorReport>,
    /// Per second.
    pub timeline: Vec<Second>,
    /// Where the time goes: each phase split into switch and simulator time, over all
    /// corridors and per corridor (traced phases of committed iterations in the window).
    #[serde(default)]
    pub attribution: Vec<Attribution>,
    /// Threshold verdicts.
    pub thresholds: Vec<Threshold>,
    /// All thresholds met.
    pub passed: bool,
    /// Method.
    pub method: Method,
    /// Raw window counts.
    pub window: Window,
    /// The window's histograms, for `histograms.json` (not part of report.json).
    #[serde(skip)]
    pub histograms: crate::histograms::HistogramSet,
    /// Replicas merged into this report (1 for a single run).
    #[serde(default = "one_replica")]
    pub replicas: u32,
    /// Cost per million transfers at the achieved rate, when the scenario gives node prices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    /// Evidence from the switch itself (real Mojaloop): Kafka counts and lag over the window,
    /// positions before and after. Informational: it does not change the verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch: Option<SwitchEvidence>,
    /// The switch's own histograms per leg over the window (testbed `[switch_metrics]`, or
    /// the hub emulator's under `perfbed local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch_metrics: Option<SwitchMetrics>,
    /// The driver's counts against the switch's own ledger. A disagreement fails the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crosscheck: Option<CrossCheck>,
    /// Why there is no cross-check, when there is none: turned off, nothing to ask, left to
    /// the merge, or — failing the run — the switch could be asked and asking failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_crosscheck: Option<NoCrossCheck>,
    /// How the run ran: API mode, security, the perfbed process's CPU (what `report compare`
    /// puts side by side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// RSA/ECDSA work counted where it happens over the run (JWS signs and verifies, TLS
    /// handshakes), for dividing by the committed transfers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<Operations>,
    /// What became, on the switch, of the transfers the driver stopped waiting for (asked
    /// after the run, once the switch settled them or a bounded wait ended). Informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciliation: Option<Reconciliation>,
    /// What the simulators refused (their answers ≥ 400, signatures among them) and failed to
    /// deliver over the run, each simulator read where it runs: a hub message refused for
    /// its signature fails the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulators: Option<Simulators>,
    /// The transfers of arrivals that timed out or failed after send in the transfer step:
    /// what the reconciliation asks about (in memory only).
    #[serde(skip)]
    pub uncertain_transfers: Vec<UncertainTransfer>,
    /// What became of each arrival, one byte each: what the cross-check compares id by id
    /// (in memory, and `outcomes.bin` beside `report.json`).
    #[serde(skip)]
    pub outcomes: Option<crate::ids::Outcomes>,
    /// The driver's in-flight budget: arrivals beyond it ended at once as not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_budget: Option<u64>,
    /// The most iterations the driver had in flight at once (never above the budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_peak: Option<u64>,
    /// The lowest the driver's adaptive in-flight limit went: below the budget only when the
    /// median latency of what it sent stayed above its target (the system was queueing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_limit_low: Option<u64>,
    /// The scenario makes the switch's Kafka gate part of the verdict (`[thresholds]
    /// kafka_gate = true`): without Kafka evidence, or with a gate that failed, the run fails.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kafka_gate: bool,
    /// What went wrong in the driver itself (a scheduler that died, lost iterations).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Distributed runs: each replica's measurements of its peers' clocks, with which the
    /// receipt times of callbacks relayed between replicas were converted (one entry per
    /// replica; a merged report keeps them all). Unknown or too uncertain offsets of a peer
    /// that relayed callbacks fail the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clocks: Vec<ReplicaClocks>,
}

/// What one driver replica measured of its peers' clocks on the relay link (request/response,
/// NTP-style, repeated; see `sim::clock`), and the relayed callbacks it converted with them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReplicaClocks {
    /// The replica that measured.
    pub replica: u32,
    /// The largest conversion uncertainty it accepts, ms (`perfbed run
    /// --max-clock-uncertainty`): beyond it the latency of relayed callbacks is not known well
    /// enough and the run fails.
    pub max_uncertainty_ms: f64,
    /// Every peer, by index.
    pub peers: Vec<PeerClock>,
}

/// One peer's clock as a replica measured it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PeerClock {
    /// The peer's replica index.
    pub peer: u32,
    /// The peer's clock minus this replica's at the end of the run, ms (best exchange of the
    /// last minute); null when never measured.
    pub offset_ms: Option<f64>,
    /// What that offset can be wrong by: half the best exchange's round trip, ms.
    pub uncertainty_ms: Option<f64>,
    /// Exchanges answered (over the replica's life).
    pub samples: u64,
    /// Exchanges that failed (no answer, not a replica of this run).
    pub failures: u64,
    /// Callbacks the peer relayed to this replica during the run whose receipt times were
    /// converted with its clock.
    pub relayed: u64,
    /// Callbacks it relayed before its clock was measured: timed on arrival here (the relay
    /// hop counted in).
    pub unconverted: u64,
    /// Relayed callbacks whose converted receipt fell before their request was sent (by more
    /// than the conversion's uncertainty): impossible with a right conversion; fails the run.
    pub before_send: u64,
    /// The worst uncertainty of a conversion made during the run, ms (null: none made).
    pub worst_used_ms: Option<f64>,
}

impl ReplicaClocks {
    /// Why these clocks make the run's latencies unknown, one line each (empty: they do not).
    pub fn failures(&self) -> Vec<String> {
        let r = self.replica;
        let mut out = Vec::new();
        for p in &self.peers {
            if p.before_send > 0 {
                out.push(format!(
                    "replica {r}: {} callbacks relayed by replica {} were converted to before their request was sent: the clock offset measured ({}) is wrong (a clock stepped during the run?), so their latency is unknown",
                    p.before_send,
                    p.peer,
                    p.offset_text()
                ));
            }
            if p.unconverted > 0 && p.offset_ms.is_none() {
                out.push(format!(
                    "replica {r}: replica {} relayed {} callbacks but its clock offset was never measured ({} exchanges failed): their latency is unknown; every replica must reach every other at its --peers URL",
                    p.peer, p.unconverted, p.failures
                ));
            }
            if let Some(w) = p.worst_used_ms.filter(|w| *w > self.max_uncertainty_ms) {
                out.push(format!(
                    "replica {r}: replica {}'s clock offset was known only to ±{w:.1} ms when its {} relayed callbacks were converted, more than the bound ±{:.1} ms (--max-clock-uncertainty): their latency is uncertain by that much",
                    p.peer, p.relayed, self.max_uncertainty_ms
                ));
            }
        }
        out
    }
}

impl PeerClock {
    /// `+2000.1 ms ±0.2` or `unknown`.
    pub fn offset_text(&self) -> String {
        match (self.offset_ms, self.uncertainty_ms) {
            (Some(o), Some(u)) => format!("{o:+.1} ms ±{u:.1}"),
            _ => "unknown".into(),
        }
    }
}

/// Expensive operations of one part of the testbed, counted where they happen.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counted {
    /// JWS signatures made.
    pub jws_signs: u64,
    /// JWS signatures verified.
    pub jws_verifies: u64,
    /// TLS handshakes completed, server and client side.
    pub tls_handshakes: u64,
}

impl Counted {
    /// What was counted since `before` (counters only grow).
    pub fn since(&self, before: &Counted) -> Counted {
        Counted {
            jws_signs: self.jws_signs.saturating_sub(before.jws_signs),
            jws_verifies: self.jws_verifies.saturating_sub(before.jws_verifies),
            tls_handshakes: self.tls_handshakes.saturating_sub(before.tls_handshakes),
        }
    }

    fn plus(&self, o: &Counted) -> Counted {
        Counted {
            jws_signs: self.jws_signs + o.jws_signs,
            jws_verifies: self.jws_verifies + o.jws_verifies,
            tls_handshakes: self.tls_handshakes + o.tls_handshakes,
        }
    }
}

/// The run's counted operations, and per committed transfer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Operations {
    /// The simulators in this process: the payers (the driver's flows run in them), and in
    /// `perfbed local` the payees too.
    pub simulators: Counted,
    /// The hub emulator, when it runs in this process (`perfbed local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<Counted>,
    /// Committed transfers of the run (what the per-transfer numbers divide by).
    pub committed: u64,
    /// Simulators and hub together, per committed transfer (absent when nothing committed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_committed: Option<PerTransfer>,
}

/// Operations per committed transfer.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct PerTransfer {
    /// JWS signatures.
    pub jws_signs: f64,
    /// JWS verifications (the hub's included).
    pub jws_verifies: f64,
    /// Of those, the hub emulator's verifications (absent without the hub in the process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_jws_verifies: Option<f64>,
    /// TLS handshakes.
    pub tls_handshakes: f64,
}

impl Operations {
    /// From what the simulators and the hub (when counted) did over the run.
    pub fn new(simulators: Counted, hub: Option<Counted>, committed: u64) -> Operations {
        let all = hub.map_or(simulators, |h| simulators.plus(&h));
        let per = |n: u64| n as f64 / committed as f64;
        Operations {
            simulators,
            hub,
            committed,
            per_committed: (committed > 0).then(|| PerTransfer {
                jws_signs: per(all.jws_signs),
                jws_verifies: per(all.jws_verifies),
                hub_jws_verifies: hub.map(|h| per(h.jws_verifies)),
                tls_handshakes: per(all.tls_handshakes),
            }),
        }
    }

    /// One line for report.md and the terminal.
    pub fn line(&self) -> String {
        let all = self
            .hub
            .map_or(self.simulators, |h| self.simulators.plus(&h));
        let whose = if self.hub.is_some() {
            "simulators and hub emulator"
        } else {
            "this process's simulators (the hub's own are not counted here)"
        };
        let mut line = format!(
            "Counted ({whose}): {} JWS signs, {} verifies, {} TLS handshakes",
            all.jws_signs, all.jws_verifies, all.tls_handshakes
        );
        if let Some(h) = &self.hub {
            line.push_str(&format!(
                " (the hub emulator: {} verifies, {} signs, {} TLS handshakes)",
                h.jws_verifies, h.jws_signs, h.tls_handshakes
            ));
        }
        if let Some(p) = &self.per_committed {
            line.push_str(&format!(
                "; per committed transfer ({}): {:.2} signs + {:.2} verifies{}, {:.3} TLS handshakes",
                self.committed,
                p.jws_signs,
                p.jws_verifies,
                p.hub_jws_verifies
                    .map_or(String::new(), |h| format!(" (hub {h:.2})")),
                p.tls_handshakes
            ));
        }
        line
    }
}

/// How a run ran.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Environment {
    /// The API mode spoken: `fspiop` or `iso20022`.
    pub api: String,
    /// Security of the connections, e.g. `full (mTLS + JWS RS256)`, `none`, `JWS`.
    pub security: String,
    /// CPU cores this process could use.
    pub cores: usize,
    /// CPU time of the perfbed process over the run, seconds: the driver's (and in `perfbed
    /// local`, the hub emulator's and the simulators' too).
    pub cpu_s: f64,
    /// `cpu_s` per committed transfer, milliseconds (null when nothing committed).
    pub cpu_ms_per_transfer: Option<f64>,
}

impl Environment {
    /// One line for the reports.
    pub fn line(&self) -> String {
        format!(
            "API {}, security {}; the perfbed process used {:.1} CPU-s on {} core(s){}",
            self.api,
            self.security,
            self.cpu_s,
            self.cores,
            self.cpu_ms_per_transfer.map_or(String::new(), |m| format!(
                ", {m:.2} CPU-ms per committed transfer"
            ))
        )
    }
}

/// Which run a report belongs to (shared by the replicas of one run) and which replicas it
/// holds: `report merge` refuses duplicates, missing indices and mixed runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunInfo {
    /// The run id (`--run-id`, or made up for a single run).
    pub id: String,
    /// 8 hex digits derived from the id: every transfer id of the run starts with them, so the
    /// switch's ledger can be asked about exactly this run's transfers.
    pub tag: String,
    /// How many replicas the run has (1 for a single driver).
    pub replica_count: u32,
    /// The replica indices this report holds (one for a replica's own report).
    pub replica_indices: Vec<u32>,
    /// Arrivals per second this report's replicas were meant to offer at the peak (their share
    /// of the scenario's rate).
    pub target_share: f64,
}

/// The driver's outcome counts against what the switch recorded for the same transfer ids
/// (those starting with the run tag).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CrossCheck {
    /// Where the switch's numbers come from (`hub emulator`, `central_ledger SQL`).
    pub source: String,
    /// The transfer-id prefix asked about.
    pub prefix: String,
    /// Driver: committed.
    pub driver_committed: u64,
    /// Driver: arrivals whose fate it cannot know (timed out, failed after send, lost): the
    /// switch may have committed them.
    pub driver_uncertain: u64,
    /// Switch: transfers of this run by final state.
    pub switch_by_state: BTreeMap<String, u64>,
    /// Switch: committed.
    pub switch_committed: u64,
    /// Agreement. Id by id when [`CrossCheck::ids`] is there: every transfer the driver saw
    /// committed is committed on the switch, and none it knows did not commit is. From the
    /// counts alone (a merge of reports without their outcomes): the switch committed at
    /// least the driver's committed and no more than those plus the uncertain.
    pub agrees: bool,
    /// One line: agreement or the difference.
    pub summary: String,
    /// The id-by-id comparison (absent in reports from before it, and when the driver's
    /// outcomes were not at hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<crate::ids::IdComparison>,
}

impl CrossCheck {
    /// Compares the driver's counts with the switch's: `driver_committed`, and
    /// `driver_uncertain` — timed out, failed after send, lost — whose fate it cannot know.
    pub fn judge(
        source: &str,
        prefix: &str,
        driver_committed: u64,
        driver_uncertain: u64,
        switch_by_state: BTreeMap<String, u64>,
    ) -> CrossCheck {
        // A settled transfer was committed first.
        let switch_committed = ["COMMITTED", "SETTLED"]
            .iter()
            .filter_map(|k| switch_by_state.get(*k))
            .sum::<u64>();
        let agrees = switch_committed >= driver_committed
            && switch_committed <= driver_committed + driver_uncertain;
        let summary = if agrees && switch_committed == driver_committed {
            format!("cross-check agrees: driver {driver_committed} committed, {source} {switch_committed}")
        } else if agrees {
            format!(
                "cross-check agrees: driver {driver_committed} committed, {source} {switch_committed} ({} of the driver's {driver_uncertain} timed-out or failed arrivals committed on the switch)",
                switch_committed - driver_committed
            )
        } else {
            format!(
                "CROSS-CHECK FAILED: driver {driver_committed} committed ({driver_uncertain} uncertain), {source} {switch_committed}"
            )
        };
        CrossCheck {
            source: source.to_owned(),
            prefix: prefix.to_owned(),
            driver_committed,
            driver_uncertain,
            switch_by_state,
            switch_committed,
            agrees,
            summary,
            ids: None,
        }
    }

    /// The verdict from the id-by-id comparison `ids`; the counts stay as a summary.
    pub fn with_ids(mut self, ids: crate::ids::IdComparison) -> CrossCheck {
        let counts = format!(
            "counts: driver {} committed ({} uncertain), {} {}",
            self.driver_committed, self.driver_uncertain, self.source, self.switch_committed
        );
        let first = |v: &[crate::ids::IdMismatch], what: fn(&crate::ids::IdMismatch) -> &str| {
            v.iter()
                .take(3)
                .map(|m| format!("{} ({})", m.id, what(m)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        self.agrees = ids.mismatches == 0;
        self.summary = if !self.agrees {
            let mut parts = vec![format!("CROSS-CHECK FAILED: {} ids differ", ids.mismatches)];
            if !ids.driver_side.is_empty() {
                parts.push(format!(
                    "driver committed, {} not: {}",
                    self.source,
                    first(&ids.driver_side, |m| &m.switch)
                ));
            }
            if !ids.switch_side.is_empty() {
                parts.push(format!(
                    "{} committed, driver not: {}",
                    self.source,
                    first(&ids.switch_side, |m| &m.driver)
                ));
            }
            format!("{}; {counts}", parts.join("; "))
        } else if ids.equal {
            format!(
                "cross-check agrees: driver {} committed, {} {}; id by id: the same {} transfers committed on both sides",
                self.driver_committed, self.source, self.switch_committed, ids.driver_committed
            )
        } else {
            format!(
                "cross-check agrees: driver {} committed, {} {}; id by id: the driver's {} committed transfers are committed on the switch, which also committed {} of {} unresolved uncertain ones",
                self.driver_committed,
                self.source,
                self.switch_committed,
                ids.driver_committed,
                ids.unresolved_committed,
                ids.unresolved
            )
        };
        self.ids = Some(ids);
        self
    }
}

/// Why a run has no cross-check.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NoCrossCheckKind {
    /// `--no-crosscheck`: every output says "not cross-checked".
    Off,
    /// Nothing can be asked: the hub is not the emulator and no ledger database was given.
    Unavailable,
    /// One replica of several: the merge cross-checks the whole run.
    Deferred,
    /// The switch could be asked and asking failed (unreachable, refused, an SQL error): the
    /// run fails, since its numbers were not checked although they could have been.
    Failed,
}

/// Why a run has no cross-check, and what to do about it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NoCrossCheck {
    /// Which case.
    pub kind: NoCrossCheckKind,
    /// Why, and the fix.
    pub reason: String,
}

impl NoCrossCheck {
    /// One case with its reason.
    pub fn new(kind: NoCrossCheckKind, reason: impl Into<String>) -> NoCrossCheck {
        NoCrossCheck {
            kind,
            reason: reason.into(),
        }
    }

    /// `--no-crosscheck`.
    pub fn off() -> NoCrossCheck {
        NoCrossCheck::new(
            NoCrossCheckKind::Off,
            "--no-crosscheck: the driver's counts were not checked against the switch",
        )
    }

    /// Whether it fails the run.
    pub fn fails(&self) -> bool {
        self.kind == NoCrossCheckKind::Failed
    }

    /// One line for every output: `not cross-checked: …`, or `CROSS-CHECK FAILED: …`.
    pub fn line(&self) -> String {
        if self.fails() {
            format!("CROSS-CHECK FAILED: {}", self.reason)
        } else {
            format!("not cross-checked: {}", self.reason)
        }
    }
}

/// The cross-check's one line for a report: its summary, why there is none, or plainly "not
/// cross-checked".
pub fn crosscheck_line(c: Option<&CrossCheck>, none: Option<&NoCrossCheck>) -> String {
    match (c, none) {
        (Some(c), _) => c.summary.clone(),
        (None, Some(n)) => n.line(),
        (None, None) => "not cross-checked".into(),
    }
}

/// Every simulator's refusals and failures over a run (in-process ones from their counters,
/// separate `perfbed sim` processes from their `/metrics`), and the ones that could not be
/// read, with why.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Simulators {
    /// One row per simulator read.
    pub read: Vec<SimulatorCounts>,
    /// Simulators that could not be read, one line each (e.g. no URL known for them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_read: Vec<String>,
}

/// One simulator's counts over the run (differences of its counters, end minus start).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SimulatorCounts {
    /// Which: `in-process (perffsp1, …)` or the URL it was read from.
    pub name: String,
    /// Requests it answered with a status ≥ 400 (`perffsp_requests_total`).
    pub refused: u64,
    /// Of those, refused for their signature (`perffsp_jws_failures_total`).
    pub jws_failures: u64,
    /// Of those, messages from the hub (`perffsp_hub_jws_failures_total`): the hub does not
    /// sign as the simulator expects.
    pub hub_jws_failures: u64,
    /// Callbacks it could not deliver (`perffsp_callbacks_failed_total`).
    pub callbacks_failed: u64,
}

impl SimulatorCounts {
    /// The counts in a simulator's Prometheus text (`GET /metrics`); series it does not
    /// have read as 0.
    pub fn from_metrics(name: &str, text: &str) -> SimulatorCounts {
        let mut c = SimulatorCounts {
            name: name.to_owned(),
            ..SimulatorCounts::default()
        };
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(v) = value.trim().parse::<f64>() else {
                continue;
            };
            let v = v as u64;
            let (metric, labels) = series.split_once('{').unwrap_or((series, ""));
            match metric {
                "perffsp_requests_total" => {
                    let status = labels
                        .split(',')
                        .find_map(|l| l.trim().strip_prefix("status=\""))
                        .and_then(|s| {
                            s.trim_end_matches('}')
                                .trim_end_matches('"')
                                .parse::<u16>()
                                .ok()
                        });
                    if status.is_some_and(|s| s >= 400) {
                        c.refused += v;
                    }
                }
                "perffsp_jws_failures_total" => c.jws_failures += v,
                "perffsp_hub_jws_failures_total" => c.hub_jws_failures += v,
                "perffsp_callbacks_failed_total" => c.callbacks_failed += v,
                _ => {}
            }
        }
        c
    }

    /// These counts since `before` (the same simulator read at the start of the run).
    pub fn since(&self, before: &SimulatorCounts) -> SimulatorCounts {
        SimulatorCounts {
            name: self.name.clone(),
            refused: self.refused.saturating_sub(before.refused),
            jws_failures: self.jws_failures.saturating_sub(before.jws_failures),
            hub_jws_failures: self
                .hub_jws_failures
                .saturating_sub(before.hub_jws_failures),
            callbacks_failed: self
                .callbacks_failed
                .saturating_sub(before.callbacks_failed),
        }
    }
}

impl Simulators {
    /// Both replicas' simulators.
    pub fn add(&self, o: &Simulators) -> Simulators {
        Simulators {
            read: self.read.iter().chain(&o.read).cloned().collect(),
            not_read: self.not_read.iter().chain(&o.not_read).cloned().collect(),
        }
    }

    /// Hub messages refused for their signature, over every simulator read.
    pub fn hub_jws_failures(&self) -> u64 {
        self.read.iter().map(|c| c.hub_jws_failures).sum()
    }

    /// One line: the totals, and the simulators not read.
    pub fn line(&self) -> String {
        let sum = |f: fn(&SimulatorCounts) -> u64| self.read.iter().map(f).sum::<u64>();
        let mut line = format!(
            "simulators ({} read): {} requests refused ({} for their signature, {} of them from the hub), {} callbacks failed",
            self.read.len(),
            sum(|c| c.refused),
            sum(|c| c.jws_failures),
            sum(|c| c.hub_jws_failures),
            sum(|c| c.callbacks_failed)
        );
        for n in &self.not_read {
            line.push_str(&format!("; not read: {n}"));
        }
        line
    }

    /// Why the run fails because of the simulators: hub messages refused for their signature
    /// (the payees never got the hub's word on their transfers), with the fix.
    pub fn failure(&self) -> Option<String> {
        let n = self.hub_jws_failures();
        (n > 0).then(|| {
            let who: Vec<&str> = self
                .read
                .iter()
                .filter(|c| c.hub_jws_failures > 0)
                .map(|c| c.name.as_str())
                .collect();
            format!(
                "the simulators refused {n} messages from the hub for their signature ({}): the hub does not sign as they expect — a hub that does not sign (ml-api-adapter JWS_SIGN off) needs Hub.pem removed from the simulators' keys and `[hub] signs = false` in the testbed file; a hub that signs needs its public key as Hub.pem in the simulators' keys",
                who.join(", ")
            )
        })
    }
}

/// A transfer whose fate the driver does not know: its arrival timed out, or failed after the
/// prepare was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UncertainTransfer {
    /// Its transfer id.
    pub id: String,
    /// When it expires (its `expiration`): the switch settles it by then, plus its sweep.
    pub expires: std::time::Instant,
}

/// What became of the arrivals the driver could not know the fate of (timed out, failed after
/// send, lost), from the switch's ledger after the run. Arrivals that ended so before the
/// transfer step had no transfer to ask about.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reconciliation {
    /// Where the states come from (`hub emulator`, `central_ledger SQL`).
    pub source: String,
    /// Uncertain arrivals in all (timed out + failed after send + lost).
    pub uncertain: u64,
    /// Of those, ended before the transfer step (lookup, quote) or lost: no transfer to ask.
    pub before_transfer: u64,
    /// Transfers asked about (uncertain in the transfer step).
    pub asked: u64,
    /// Committed by the switch after the driver stopped waiting.
    pub committed: u64,
    /// Aborted (rejected, an error).
    pub aborted: u64,
    /// Expired (the switch's timeout handler).
    pub expired: u64,
    /// Still in flight on the switch when the wait ended.
    pub in_flight: u64,
    /// Unknown to the switch (never reached it, or forgotten).
    pub unknown: u64,
    /// How long perfbed waited for the switch to settle them, seconds.
    pub waited_s: f64,
    /// What ended the wait: every transfer final, or the last expiration plus the switch's
    /// sweep passed (with how many were still in flight or unknown then).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ended: String,
    /// One line.
    pub summary: String,
}

impl Reconciliation {
    /// The reconciliation of two replicas' transfers together.
    pub fn add(&self, o: &Reconciliation) -> Reconciliation {
        let source = if self.source == o.source {
            self.source.clone()
        } else {
            format!("{}, {}", self.source, o.source)
        };
        Reconciliation::new(
            &source,
            self.uncertain + o.uncertain,
            [
                self.committed + o.committed,
                self.aborted + o.aborted,
                self.expired + o.expired,
                self.in_flight + o.in_flight,
                self.unknown + o.unknown,
            ],
            std::time::Duration::from_secs_f64(self.waited_s.max(o.waited_s)),
        )
        .ended(&if self.ended == o.ended || o.ended.is_empty() {
            self.ended.clone()
        } else if self.ended.is_empty() {
            o.ended.clone()
        } else {
            format!("{}; {}", self.ended, o.ended)
        })
    }

    /// The same, saying what ended the wait (also at the end of the summary).
    pub fn ended(mut self, why: &str) -> Reconciliation {
        if !why.is_empty() {
            self.summary = format!("{}; the wait ended: {why}", self.summary);
        }
        self.ended = why.to_owned();
        self
    }

    /// From the switch's answer: `uncertain` arrivals, of which `asked` had a transfer, and how
    /// those ended — `[committed, aborted, expired, in flight, unknown]`.
    pub fn new(
        source: &str,
        uncertain: u64,
        [committed, aborted, expired, in_flight, unknown]: [u64; 5],
        waited: std::time::Duration,
    ) -> Reconciliation {
        let asked = committed + aborted + expired + in_flight + unknown;
        let summary = format!(
            "{uncertain} arrivals timed out or failed after send; of the {asked} whose transfer the switch may have ({source}, after waiting {:.0} s): {committed} later committed, {aborted} aborted, {expired} expired, {in_flight} still in flight, {unknown} unknown",
            waited.as_secs_f64()
        );
        Reconciliation {
            source: source.to_owned(),
            uncertain,
            before_transfer: uncertain.saturating_sub(asked),
            asked,
            committed,
            aborted,
            expired,
            in_flight,
            unknown,
            waited_s: waited.as_secs_f64(),
            ended: String::new(),
            summary,
        }
    }
}

fn one_replica() -> u32 {
    1
}

impl Report {
    /// Whether every arrival the scheduler started ended as exactly one outcome: the
    /// scheduler's own count against the sum of the outcome counters.
    pub fn adds_up(&self) -> bool {
        self.outcomes() == self.arrivals
    }

    /// The sum of the outcome counters.
    pub fn outcomes(&self) -> u64 {
        self.committed
            + self.rejected
            + self.timed_out
            + self.failed_after_send
            + self.not_sent
            + self.lost
    }

    /// Arrivals the driver cannot know the fate of: timed out, failed after send, lost.
    pub fn uncertain(&self) -> u64 {
        self.timed_out + self.failed_after_send + self.lost
    }

    /// Whether the cross-check, when there is one, agrees, and none that could run failed to.
    pub fn crosscheck_ok(&self) -> bool {
        self.crosscheck.as_ref().is_none_or(|c| c.agrees)
            && self.no_crosscheck.as_ref().is_none_or(|n| !n.fails())
    }

    /// The cross-check in one line: its summary, or why there is none.
    pub fn crosscheck_line(&self) -> String {
        crosscheck_line(self.crosscheck.as_ref(), self.no_crosscheck.as_ref())
    }

    /// What keeps a run from passing whatever its thresholds say: iterations that died (the
    /// driver failed, so its numbers are incomplete), a failed Kafka gate the scenario asks
    /// for, clock offsets of peer replicas unknown or too uncertain for the relayed callbacks
    /// converted with them, hub messages the simulators refused for their signature, and a run
    /// whose arrivals committed nothing (nothing was proved). Empty when none.
    pub fn evidence_failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.lost > 0 {
            let causes: Vec<String> = self
                .errors_by_code
                .iter()
                .filter(|(k, _)| k.starts_with("LOST"))
                .map(|(k, n)| format!("{k} × {n}"))
                .collect();
            out.push(format!(
                "{} iterations lost ({}): the driver itself failed, its numbers are incomplete",
                self.lost,
                if causes.is_empty() {
                    "cause not recorded".into()
                } else {
                    causes.join(", ")
                }
            ));
        }
        out.extend(self.kafka_failure());
        out.extend(self.clocks.iter().flat_map(ReplicaClocks::failures));
        out.extend(self.simulators.as_ref().and_then(Simulators::failure));
        out.extend(
            self.switch_metrics
                .as_ref()
                .and_then(SwitchMetrics::failure),
        );
        if self.arrivals > 0 && self.committed == 0 {
            out.push(format!(
                "nothing committed: {} arrivals, 0 committed (is the switch up and onboarded?)",
                self.arrivals
            ));
        }
        out
    }

    /// Why the Kafka gate fails the run, when the scenario makes it part of the verdict.
    pub fn kafka_failure(&self) -> Option<String> {
        if !self.kafka_gate {
            return None;
        }
        match self.switch.as_ref().and_then(|s| s.kafka.as_ref()) {
            Some(k) if k.pass && k.judged() => None,
            Some(k) if !k.judged() => Some(format!(
                "Kafka gate: no data — none of this run's prepares (transfer ids starting {}) reached topic-transfer-prepare, so there is nothing to judge ({} messages read on the transfer topics)",
                k.by_transfer.as_ref().map_or("?", |b| b.prefix.as_str()),
                k.by_transfer.as_ref().map_or(0, |b| b.read.values().sum::<u64>())
            )),
            Some(k) => Some(format!(
                "Kafka gate FAILED ({}, at least one prepare): {}",
                if k.counts.get("topic-transfer-prepare").copied().unwrap_or(0) == 0 {
                    "no prepare counted"
                } else {
                    "a ratio out of tolerance"
                },
                k.ratios_line()
            )),
            None => Some(format!(
                "Kafka gate: no data — the scenario makes it part of the verdict (kafka_gate = true) but the switch's Kafka was not read{}: give --testbed FILE whose hub has kafka",
                self.switch
                    .as_ref()
                    .and_then(|s| s.notes.iter().find(|n| n.to_lowercase().contains("kafka")))
                    .map_or(String::new(), |n| format!(" ({n})"))
            )),
        }
    }

    /// Sets `passed`: every threshold met and no evidence failure (lost iterations, nothing
    /// committed, a Kafka gate the scenario asks for).
    pub fn settle_passed(&mut self) {
        self.passed = self.thresholds.iter().all(|t| t.ok) && self.evidence_failures().is_empty();
    }

    /// Every reason the run does not pass, one line each (empty: it passes): the accounting,
    /// the cross-check, lost iterations, nothing committed, each failed threshold.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.adds_up() {
            out.push(self.accounting_line());
        }
        if !self.crosscheck_ok() {
            out.push(self.crosscheck_line());
        }
        out.extend(self.evidence_failures());
        out.extend(self.thresholds.iter().filter_map(Threshold::failure));
        out
    }

    /// Whether the run passes: the accounting adds up, the cross-check (when there is one)
    /// agrees, no iteration was lost, something committed, and every threshold is met.
    pub fn ok(&self) -> bool {
        self.failures().is_empty()
    }

    /// PASSED / FAILED against the thresholds, or NO THRESHOLDS when none was set; a failed
    /// cross-check or broken accounting overrides both, and lost iterations or a run that
    /// committed nothing read FAILED (`failures` says why).
    pub fn verdict(&self) -> &'static str {
        if !self.adds_up() {
            return "ACCOUNTING FAILED";
        }
        if !self.crosscheck_ok() {
            return "CROSS-CHECK FAILED";
        }
        if !self.evidence_failures().is_empty() {
            return "FAILED";
        }
        match (self.thresholds.is_empty(), self.passed) {
            (true, _) => "NO THRESHOLDS",
            (false, true) => "PASSED",
            (false, false) => "FAILED",
        }
    }
}
