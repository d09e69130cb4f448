//! Scenario files (TOML): what load to offer, through which corridors, and what counts as a
//! pass. See `scenarios/*.toml` for commented examples.

use serde::{Deserialize, Deserializer};
use std::time::Duration;

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| serde::de::Error::custom(format!("'{s}': {e}")))
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    duration(d)
}

/// Which FSPIOP steps one iteration runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    /// Lookup → quote → transfer.
    P2p,
    /// Quote → transfer.
    QuoteTransfer,
    /// Transfer only (the driver builds the ILP packet with the payee's shared secret).
    Transfer,
    /// A plain `GET ping_url` per arrival: the driver alone, to measure its own capacity.
    Ping,
}

impl Flow {
    /// Name as in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::P2p => "p2p",
            Flow::QuoteTransfer => "quote-transfer",
            Flow::Transfer => "transfer",
            Flow::Ping => "ping",
        }
    }
}

/// One stage of the arrival schedule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Arrivals per second at the end of the stage.
    pub rate: f64,
    /// How long it lasts.
    #[serde(deserialize_with = "duration")]
    pub duration: Duration,
    /// Ramp linearly from the previous stage's rate (else constant at `rate`).
    #[serde(default)]
    pub ramp: bool,
}

/// A payer → payee corridor and its share of the arrivals.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Corridor {
    /// Payer FSP.
    pub payer: String,
    /// Payee FSP.
    pub payee: String,
    /// Relative weight.
    pub weight: f64,
}

impl Corridor {
    /// `payer→payee`.
    pub fn name(&self) -> String {
        format!("{}→{}", self.payer, self.payee)
    }
}

/// The seed's default corridors (phase 07): 40 % 1→5, 25 % 2→6, 20 % 3→7, 15 % 4→8.
pub fn default_corridors() -> Vec<Corridor> {
    [(1, 5, 40.0), (2, 6, 25.0), (3, 7, 20.0), (4, 8, 15.0)]
        .into_iter()
        .map(|(a, b, w)| Corridor {
            payer: format!("perffsp{a}"),
            payee: format!("perffsp{b}"),
            weight: w,
        })
        .collect()
}

/// Pass/fail limits, checked over the steady-state window.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Minimum share of committed transfers, percent (seed: 99.5).
    pub success_rate: Option<f64>,
    /// Maximum end-to-end p95, ms (seed: 300).
    pub p95_ms: Option<f64>,
    /// Maximum end-to-end p99, ms (seed: 500).
    pub p99_ms: Option<f64>,
    /// Minimum achieved rate as a share of the target rate (e.g. 0.99).
    pub achieved_ratio: Option<f64>,
    /// The switch's Kafka validity gate (fulfil/prepare ≈ 1, notification/prepare ≈ 2, …, read
    /// with `perfbed run --testbed FILE` whose hub has `kafka`) is part of the verdict: a gate
    /// that fails, or that could not be read, fails the run. Default: evidence only.
    #[serde(default)]
    pub kafka_gate: bool,
}

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in result folder names.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// Steps per iteration.
    #[serde(default = "default_flow")]
    pub flow: Flow,
    /// The API the run speaks: `fspiop` or `iso20022` (ISO 20022 bodies, ULID ids, ILP v4).
    /// Absent: FSPIOP, unless the command line says `--api`, which wins over the file.
    #[serde(default)]
    pub api: Option<fspiop::iso::Api>,
    /// Arrival schedule.
    pub stages: Vec<Stage>,
    /// Trimmed from the start of the headline numbers.
    #[serde(default, deserialize_with = "opt_duration")]
    pub warmup: Duration,
    /// Trimmed from the end of the headline numbers.
    #[serde(default, deserialize_with = "opt_duration")]
    pub cooldown: Duration,
    /// Corridors (default: the seed's).
    #[serde(default = "default_corridors")]
    pub corridors: Vec<Corridor>,
    /// Smallest amount (whole units).
    #[serde(default = "one")]
    pub amount_min: u64,
    /// Largest amount (whole units).
    #[serde(default = "hundred")]
    pub amount_max: u64,
    /// Currency.
    #[serde(default = "xxx")]
    pub currency: String,
    /// Payee numbers used per FSP (indexes 0..n of the FSP's range).
    #[serde(default = "thousand")]
    pub msisdns_per_fsp: u32,
    /// Timeout of each step.
    #[serde(default = "thirty_s", deserialize_with = "duration")]
    pub timeout: Duration,
    /// How long after it is made a transfer expires (its `expiration`): until then, plus the
    /// switch's expiry sweep (central-ledger's timeout handler runs every 15 s), the switch
    /// may still commit a transfer the driver stopped waiting for. A step `timeout` shorter
    /// than this leaves such transfers; the run reconciles them afterwards.
    #[serde(default = "sixty_s", deserialize_with = "duration")]
    pub transfer_expiry: Duration,
    /// Iterations in flight at most; arrivals beyond are counted as not sent at once (never
    /// queued). Default: sized from the scenario's own latency limit, see
    /// [`Scenario::in_flight_budget`].
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    /// Pass/fail limits. Without a `[thresholds]` table the seed's success criterion applies
    /// (`success_rate = 99.5`), so a run whose transfers fail never reads as passed; an empty
    /// `[thresholds]` table judges nothing.
    #[serde(default = "default_thresholds")]
    pub thresholds: Thresholds,
    /// With `flow = "ping"`: the URL each arrival GETs.
    #[serde(default)]
    pub ping_url: Option<String>,
    /// Stress to failure: when present, the stages are replaced by a ramp until a stop rule fires.
    #[serde(default)]
    pub stress: Option<crate::stress::StressPlan>,
    /// What the system under test costs to run: the report states the cost per million
    /// transfers at the achieved rate.
    #[serde(default)]
    pub cost: Option<CostModel>,
    /// The switch's own histograms per leg (sources in the testbed file or on the command
    /// line): `required = true` fails the run when they could not be read.
    #[serde(default)]
    pub switch_metrics: SwitchMetricsWanted,
}

/// `[switch_metrics]` of a scenario.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchMetricsWanted {
    /// The run fails when no source is given, a source cannot be read, or no leg was found.
    /// Default: the section is evidence only, a note says what is missing.
    #[serde(default)]
    pub required: bool,
}

/// Node prices of the cluster under test.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostModel {
    /// The nodes: kind, how many, price per node-hour (any currency; `currency` names it).
    pub nodes: Vec<NodePrice>,
    /// Currency of the prices.
    #[serde(default = "usd")]
    pub currency: String,
}

/// One kind of node.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodePrice {
    /// E.g. `m5.2xlarge`.
    pub name: String,
    /// How many.
    pub count: u32,
    /// Price of one node for one hour.
    pub hourly: f64,
}

impl CostModel {
    /// Price of the whole cluster for one hour.
    pub fn hourly(&self) -> f64 {
        self.nodes
            .iter()
            .map(|n| f64::from(n.count) * n.hourly)
            .sum()
    }
}

fn usd() -> String {
    "USD".into()
}

fn default_flow() -> Flow {
    Flow::P2p
}
fn one() -> u64 {
    1
}
fn hundred() -> u64 {
    100
}
fn xxx() -> String {
    "XXX".into()
}
fn thousand() -> u32 {
    1000
}
fn thirty_s() -> Duration {
    Duration::from_secs(30)
}
fn sixty_s() -> Duration {
    Duration::from_secs(60)
}
fn default_thresholds() -> Thresholds {
    Thresholds {
        success_rate: Some(99.5),
        ..Thresholds::default()
    }
}

/// Smallest default in-flight budget: low rates with bursty latency keep room.
pub const MIN_IN_FLIGHT_BUDGET: usize = 256;
/// Largest default in-flight budget.
pub const MAX_IN_FLIGHT_BUDGET: usize = 100_000;
/// Latency allowed per in-flight iteration when the scenario sets no p99/p95 limit, s.
const UNLIMITED_LATENCY_S: f64 = 5.0;

impl Scenario {
    /// Parses and checks a scenario file's text.
    pub fn parse(text: &str) -> Result<Scenario, String> {
        let s: Scenario = toml::from_str(text).map_err(|e| e.to_string())?;
        s.validate()?;
        Ok(s)
    }

    /// A constant-rate scenario from flags alone.
    pub fn constant(name: &str, flow: Flow, rate: f64, duration: Duration) -> Scenario {
        let trim = (duration / 10).min(Duration::from_secs(5));
        Scenario {
            name: name.into(),
            description: format!("{rate}/s for {duration:?}, {}", flow.as_str()),
            flow,
            api: None,
            stages: vec![Stage {
                rate,
                duration,
                ramp: false,
            }],
            warmup: trim,
            cooldown: trim,
            corridors: default_corridors(),
            amount_min: 1,
            amount_max: 100,
            currency: "XXX".into(),
            msisdns_per_fsp: 1000,
            timeout: Duration::from_secs(30),
            transfer_expiry: Duration::from_secs(60),
            max_in_flight: None,
            thresholds: Thresholds {
                success_rate: Some(99.5),
                p95_ms: Some(300.0),
                p99_ms: Some(500.0),
                achieved_ratio: Some(0.99),
                kafka_gate: false,
            },
            stress: None,
            ping_url: None,
            cost: None,
            switch_metrics: SwitchMetricsWanted::default(),
        }
    }

    /// Checks values, naming the field to fix.
    pub fn validate(&self) -> Result<(), String> {
        if self.stages.is_empty() {
            return Err("stages: at least one stage is needed".into());
        }
        if self
            .stages
            .iter()
            .any(|s| !(s.rate.is_finite() && s.rate >= 0.0) || s.duration.is_zero())
        {
            return Err("stages: rate must be ≥ 0 and duration > 0".into());
        }
        if self.corridors.is_empty()
            || self
                .corridors
                .iter()
                .any(|c| !c.weight.is_finite() || c.weight <= 0.0)
        {
            return Err("corridors: at least one, each with weight > 0".into());
        }
        for c in &self.corridors {
            if fspiop::testbed::fsp_index(&c.payee).is_none() {
                return Err(format!("corridors: payee '{}' must be perffspN (its numbers come from the perffsp scheme)", c.payee));
            }
            if c.payer == c.payee {
                return Err(format!("corridors: payer and payee are both '{}'", c.payer));
            }
        }
        if self.amount_min == 0 || self.amount_max < self.amount_min {
            return Err("amount_min must be ≥ 1 and amount_max ≥ amount_min".into());
        }
        if self.msisdns_per_fsp == 0 || self.msisdns_per_fsp > fspiop::testbed::DEFAULT_RANGE_SIZE {
            return Err("msisdns_per_fsp must be 1..=1000000".into());
        }
        if self.transfer_expiry < Duration::from_secs(1) {
            return Err("transfer_expiry must be at least 1s".into());
        }
        if self.warmup + self.cooldown >= self.total() {
            return Err("warmup + cooldown must be shorter than the run".into());
        }
        fspiop::types::Currency::parse(self.currency.as_str())
            .map_err(|e| format!("currency: {e}"))?;
        if self.flow == Flow::Ping
            && self
                .ping_url
                .as_deref()
                .is_none_or(|u| !u.starts_with("http"))
        {
            return Err("flow = \"ping\" needs ping_url = \"http://…\"".into());
        }
        if let Some(p) = &self.stress {
            p.validate()?;
        }
        Ok(())
    }

    /// A warning when the step timeout is shorter than the transfers' expiry: an arrival the
    /// driver reports timed out may then still commit on the switch.
    pub fn expiry_warning(&self) -> Option<String> {
        (self.flow != Flow::Ping && self.timeout < self.transfer_expiry).then(|| {
            format!(
                "the step timeout ({}) is shorter than transfer_expiry ({}): a transfer the driver gave up on may still commit on the switch until it expires; the reconciliation after the run says what became of each",
                humantime::format_duration(self.timeout),
                humantime::format_duration(self.transfer_expiry)
            )
        })
    }

    /// Total scheduled time.
    pub fn total(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// The highest rate of the schedule.
    /// The driver's in-flight budget: `max_in_flight` when the file sets it, else Little's law
    /// with the latency the scenario allows — peak rate × 2 × its p99 limit (or p95; 5 s
    /// without either) — within [`MIN_IN_FLIGHT_BUDGET`]..[`MAX_IN_FLIGHT_BUDGET`]. A system
    /// that meets the limit needs about rate × latency in flight, so the budget never refuses
    /// an arrival such a system would have served in time; one that is overloaded keeps at
    /// most this many iterations (and their connections, callbacks and memory) in the
    /// system, works at its capacity with latency ≈ budget / capacity, and the rest of the
    /// arrivals end at once as not sent instead of queueing until they time out.
    pub fn in_flight_budget(&self) -> usize {
        if let Some(n) = self.max_in_flight {
            return n.max(1);
        }
        let latency_s = self
            .thresholds
            .p99_ms
            .or(self.thresholds.p95_ms)
            .map_or(UNLIMITED_LATENCY_S, |ms| 2.0 * ms / 1000.0);
        let n = (self.peak_rate() * latency_s).ceil();
        if n.is_finite() {
            (n as usize).clamp(MIN_IN_FLIGHT_BUDGET, MAX_IN_FLIGHT_BUDGET)
        } else {
            MAX_IN_FLIGHT_BUDGET
        }
    }

    /// The median latency above which the driver's adaptive in-flight limit drops
    /// ([`crate::admission`]): half the p99 limit (the p95 limit without one; 5 s without
    /// either). A run whose median stays there misses its p99 limit anyway, so the limit never
    /// binds in a run that would otherwise pass.
    pub fn latency_target(&self) -> Duration {
        let ms = self
            .thresholds
            .p99_ms
            .or(self.thresholds.p95_ms)
            .unwrap_or(UNLIMITED_LATENCY_S * 1000.0);
        Duration::from_secs_f64((ms / 2.0).max(1.0) / 1000.0)
    }

    /// The highest rate of any stage.
    pub fn peak_rate(&self) -> f64 {
        self.stages.iter().map(|s| s.rate).fold(0.0, f64::max)
    }

    /// FSPs the scenario uses (payers and payees), sorted.
    pub fn fsps(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .corridors
            .iter()
            .flat_map(|c| [c.payer.clone(), c.payee.clone()])
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_in_flight_budget_is_littles_law_on_the_latency_limit_within_bounds() {
        let mut s = Scenario::constant("b", Flow::P2p, 1000.0, Duration::from_secs(10));
        // p99 limit 500 ms: rate × 2 × 0.5 s.
        assert_eq!(s.in_flight_budget(), 1000);
        s.stages.push(Stage {
            rate: 3000.0,
            duration: Duration::from_secs(5),
            ramp: true,
        });
        assert_eq!(s.in_flight_budget(), 3000, "the peak rate sizes it");
        s.thresholds.p99_ms = None;
        assert_eq!(s.in_flight_budget(), 1800, "p95 300 ms when no p99");
        s.thresholds.p95_ms = None;
        assert_eq!(s.in_flight_budget(), 15_000, "5 s without a latency limit");
        s.stages = vec![Stage {
            rate: 1.0,
            duration: Duration::from_secs(5),
            ramp: false,
        }];
        assert_eq!(s.in_flight_budget(), MIN_IN_FLIGHT_BUDGET);
        s.stages[0].rate = 1e9;
        assert_eq!(s.in_flight_budget(), MAX_IN_FLIGHT_BUDGET);
        s.max_in_flight = Some(77);
        assert_eq!(s.in_flight_budget(), 77, "the file's own value wins");
        let parsed = Scenario::parse(
            "name = \"x\"\nstages = [{ rate = 10, duration = \"1s\" }]\nmax_in_flight = 5\n",
        )
        .unwrap();
        assert_eq!(parsed.in_flight_budget(), 5);
    }

    #[test]
    fn parses_a_scenario_file() {
        let s = Scenario::parse(
            r#"
name = "baseline"
flow = "p2p"
warmup = "30s"
cooldown = "10s"
stages = [{ rate = 100, duration = "5m" }]
corridors = [{ payer = "perffsp1", payee = "perffsp5", weight = 1 }]
[thresholds]
success_rate = 99.5
p95_ms = 300
"#,
        )
        .unwrap();
        assert_eq!(s.total(), Duration::from_secs(300));
        assert_eq!(s.corridors.len(), 1);
        assert_eq!(s.thresholds.p95_ms, Some(300.0));
        let bare =
            Scenario::parse("name = \"x\"\nstages = [{ rate = 1, duration = \"1s\" }]").unwrap();
        assert_eq!(bare.thresholds, default_thresholds());
        assert_eq!(bare.thresholds.success_rate, Some(99.5));
        assert!(Scenario::parse("name = \"x\"\nstages = []")
            .unwrap_err()
            .contains("stages"));
        assert!(Scenario::parse(
            "name = \"x\"\nstages = [{ rate = 1, duration = \"1s\" }]\nbogus = 1"
        )
        .is_err());
        assert!(
            Scenario::parse("name = \"x\"\nstages = [{ rate = 1, duration = \"ten\" }]")
                .unwrap_err()
                .contains("ten")
        );
        assert_eq!(
            default_corridors().iter().map(|c| c.weight).sum::<f64>(),
            100.0
        );
    }
}
