//! # load — the load driver
//!
//! Offers the load a [`Scenario`] describes, as an **open model**: arrivals follow the schedule
//! ([`schedule::arrivals`]) whatever the system under test does. Each arrival runs one flow
//! (lookup → quote → transfer, quote → transfer, or transfer) through the payer API of the
//! perffsp simulators, and ends as exactly one of committed, rejected (by FSPIOP error code),
//! timed out, or not sent — the counts always add up to the arrivals.
//!
//! Latency is measured from the **intended** start (coordinated-omission corrected) and from the
//! actual start; both are reported. Arrivals the driver could not start on time are counted as
//! late; arrivals beyond the in-flight limit end at once as not sent, so an overloaded system
//! keeps working at its capacity instead of drowning in queued work. The limit
//! ([`admission`]) starts at the budget ([`Scenario::in_flight_budget`]: Little's law on the
//! scenario's latency limit, or `max_in_flight`) and drops while the median latency of what
//! the driver sent stays above half the p99 limit. Results flow over a channel to one
//! aggregator ([`report::Recorder`]): the hot path takes no shared lock.
#![forbid(unsafe_code)]

pub mod admission;
pub mod histograms;
pub mod ids;

pub mod live;
pub mod report;
pub mod scenario;
pub mod schedule;
pub mod stress;
pub mod timer;

pub use report::{Outcome, Report};
pub use scenario::{Flow, Scenario};
pub use sim::{Latency, RejectRule, SimConfig};

use fspiop::ilp::{IlpSecret, IlpVersion, TransactionObject};
use fspiop::iso::Api;
use fspiop::models::{Money, Party, PartyIdInfo, PartyIdType, QuotesPost, TransfersPost};
use fspiop::types::DateTime;
use sim::{FlowError, Sim};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What one iteration produced.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Arrival index.
    pub index: u64,
    /// Intended start, offset from the run's start.
    pub intended: Duration,
    /// How late the iteration actually started.
    pub start_lag: Duration,
    /// Corridor index.
    pub corridor: usize,
    /// How it ended.
    pub outcome: Outcome,
    /// End to end from the intended start.
    pub e2e: Duration,
    /// End to end from the actual start.
    pub e2e_raw: Duration,
    /// Lookup, quote, transfer durations (raw), when run.
    pub phases: [Option<Duration>; 3],
    /// Where each phase's time went (switch in, simulator, switch out), when traced.
    pub splits: [Option<sim::trace::Split>; 3],
    /// The transfer, when the arrival timed out or failed after send in the transfer step:
    /// the switch may have it, and the run asks it afterwards.
    pub uncertain: Option<report::UncertainTransfer>,
}

impl Sample {
    /// An arrival the scheduler has just started: until its iteration fills it in, it reads as
    /// lost (what a guard reports if the iteration dies).
    fn started(index: u64, intended: Duration, corridor: usize) -> Sample {
        Sample {
            index,
            intended,
            start_lag: Duration::ZERO,
            corridor,
            outcome: Outcome::Lost("never ended".into()),
            e2e: Duration::ZERO,
            e2e_raw: Duration::ZERO,
            phases: [None; 3],
            splits: [None; 3],
            uncertain: None,
        }
    }
}

/// Where the payers live: one simulator per payer FSP (or one serving several).
#[derive(Debug, Clone)]
pub struct Payers {
    sims: HashMap<String, Arc<Sim>>,
    /// Client for `ping` flows.
    http: perfbed_http::HttpClient,
    /// The payees' ILP secret, for `transfer`-only flows (the driver builds the packet).
    pub ilp_secret: String,
    /// Distributed run: this driver is replica `index` of `count` (peers unused here).
    pub replica: Option<sim::Replicas>,
    /// The run: its id goes in the report, its tag starts every transfer id.
    pub run: RunId,
    /// This driver's nonce in its ids ([`ids::IdSpace`]): two runs with the same run id
    /// still make different ids.
    nonce: u32,
    /// Distributed run: the largest uncertainty of a peer's clock offset with which relayed
    /// callbacks' receipt times may be converted; beyond it the report fails the run.
    pub max_clock_uncertainty: Duration,
}

/// The default bound on a peer replica's clock-offset uncertainty (half the best round trip on
/// the relay link): far above a cluster network's (well under a millisecond), far below the
/// latencies judged (hundreds of milliseconds).
pub const DEFAULT_MAX_CLOCK_UNCERTAINTY: Duration = Duration::from_millis(20);

/// A run's identity, shared by all its replicas. Its tag (4 bytes, derived from the id) is the
/// first 8 hex digits of every transfer id the run makes, so the switch's ledger can be asked
/// about exactly this run's transfers (`transferId LIKE 'tag%'`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunId {
    /// The id as given (`--run-id`) or made up.
    pub id: String,
    /// Its tag.
    pub tag: [u8; 4],
}

impl RunId {
    /// A run id given by the user: 1–64 characters of `[A-Za-z0-9._-]`.
    pub fn new(id: &str) -> Result<RunId, String> {
        let ok = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok {
            return Err(format!(
                "run id '{id}': use 1 to 64 letters, digits, '.', '_' or '-'"
            ));
        }
        // FNV-1a, 32 bits: stable across processes and versions (every replica must derive
        // the same tag from the same id).
        let mut h: u32 = 0x811c_9dc5;
        for b in id.bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        Ok(RunId {
            id: id.to_owned(),
            tag: h.to_be_bytes(),
        })
    }

    /// A fresh random id (a single driver that was given none).
    pub fn random() -> RunId {
        let bytes: [u8; 4] = rand::random();
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        RunId::new(&id).expect("hex is a valid run id")
    }

    /// The tag as 8 lowercase hex digits: the transfer-id prefix.
    pub fn prefix(&self) -> String {
        self.tag.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Payers {
    /// Payers from simulators; each FSP a simulator serves is a payer.
    pub fn new(sims: &[Arc<Sim>], ilp_secret: &str) -> Payers {
        let mut map = HashMap::new();
        for s in sims {
            for f in s.config().fsps.keys() {
                map.insert(f.clone(), s.clone());
            }
        }
        let http = perfbed_http::HttpClient::new(perfbed_http::ClientOptions {
            max_in_flight: 4096,
            ..perfbed_http::ClientOptions::default()
        });
        Payers {
            sims: map,
            ilp_secret: ilp_secret.to_owned(),
            http,
            replica: None,
            run: RunId::random(),
            nonce: ids::IdSpace::random_nonce(),
            max_clock_uncertainty: DEFAULT_MAX_CLOCK_UNCERTAINTY,
        }
    }

    /// This driver belongs to run `run` (replicas of one run share it).
    pub fn run_id(mut self, run: RunId) -> Payers {
        self.run = run;
        self
    }

    /// The report's run identity; `target_share` is this driver's peak rate.
    pub fn run_info(&self, target_share: f64) -> report::RunInfo {
        report::RunInfo {
            id: self.run.id.clone(),
            tag: self.run.prefix(),
            replica_count: self.replica.as_ref().map_or(1, |r| u32::from(r.count)),
            replica_indices: vec![self.replica.as_ref().map_or(0, |r| u32::from(r.index))],
            target_share,
        }
    }

    /// Late callbacks counted by the payer simulators so far (answers that came after their
    /// request had given up).
    pub fn late_callbacks(&self) -> u64 {
        self.sum_over_sims(|s| s.metrics().late_callbacks_total())
    }

    /// Callbacks these simulators failed to deliver so far (refused by the hub, or no HTTP
    /// answer): the payee side of a flow that then times out at the payer.
    pub fn callbacks_failed(&self) -> u64 {
        self.sum_over_sims(|s| s.metrics().callback_totals().1)
    }

    /// Callback attempts beyond the first that these simulators needed so far (a callback not
    /// delivered at once is sent again).
    pub fn callbacks_retried(&self) -> u64 {
        self.sum_over_sims(|s| s.metrics().callbacks_retried_total())
    }

    /// JWS signs and verifies and TLS handshakes of these simulators so far (the driver's
    /// flows run in them).
    pub fn operations(&self) -> report::Counted {
        let (mut c, mut seen) = (report::Counted::default(), Vec::new());
        for s in self.sims.values() {
            if seen.contains(&Arc::as_ptr(s)) {
                continue;
            }
            seen.push(Arc::as_ptr(s));
            let (signs, verifies) = s.jws_operations();
            let (accepted, made) = s.tls_handshakes();
            c.jws_signs += signs;
            c.jws_verifies += verifies;
            c.tls_handshakes += accepted + made;
        }
        c
    }

    /// Waits until these simulators have no callback in flight (delivered, or failed after its
    /// retries), at most `bound`; returns how many are still in flight.
    pub async fn settle_callbacks(&self, bound: Duration) -> u64 {
        let deadline = Instant::now() + bound;
        loop {
            let n = self.sum_over_sims(|s| s.callbacks_in_flight() as u64);
            if n == 0 || Instant::now() >= deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Each simulator once: the FSPs it serves (sorted, joined with `, `) and its metrics
    /// text, as its `/metrics` would answer.
    pub fn simulator_metrics(&self) -> Vec<(String, String)> {
        let mut by_sim: Vec<(*const Sim, Vec<&str>, &Arc<Sim>)> = Vec::new();
        for (fsp, s) in &self.sims {
            let p = Arc::as_ptr(s);
            match by_sim.iter_mut().find(|(q, _, _)| *q == p) {
                Some((_, fsps, _)) => fsps.push(fsp),
                None => by_sim.push((p, vec![fsp], s)),
            }
        }
        let mut out: Vec<(String, String)> = by_sim
            .into_iter()
            .map(|(_, mut fsps, s)| {
                fsps.sort_unstable();
                (fsps.join(", "), s.metrics().render())
            })
            .collect();
        out.sort();
        out
    }

    /// Whether one of these simulators serves `fsp`.
    pub fn serves(&self, fsp: &str) -> bool {
        self.sims.contains_key(fsp)
    }

    /// `count` summed over the simulators, each once (one may serve several FSPs).
    fn sum_over_sims(&self, count: impl Fn(&Sim) -> u64) -> u64 {
        let mut seen: Vec<*const Sim> = Vec::new();
        let mut total = 0;
        for s in self.sims.values() {
            let p = Arc::as_ptr(s);
            if !seen.contains(&p) {
                seen.push(p);
                total += count(s);
            }
        }
        total
    }

    /// This driver is one of `count` replicas sharing the scenario: it runs the arrivals whose
    /// index ≡ `index` (mod `count`), stamps its ids with `index` and looks up only its slice of
    /// each payee's numbers, so callbacks relayed between replicas find their owner.
    pub fn replica(mut self, r: sim::Replicas) -> Payers {
        self.replica = Some(r);
        self
    }

    /// Distributed run: the largest clock-offset uncertainty accepted for relayed callbacks
    /// (default [`DEFAULT_MAX_CLOCK_UNCERTAINTY`]).
    pub fn max_clock_uncertainty(mut self, bound: Duration) -> Payers {
        self.max_clock_uncertainty = bound;
        self
    }

    /// The peers' clocks as this replica's simulator measured them so far (`None`: not a
    /// replica).
    pub fn peer_clocks(&self) -> Option<Vec<sim::clock::PeerClock>> {
        self.replica.as_ref()?;
        self.sims.values().find_map(|s| s.peer_clocks())
    }

    /// The report's clock section: the offsets now, the relayed callbacks counted since
    /// `before` (the same simulator's [`Payers::peer_clocks`] at the start).
    pub fn clocks_report(&self, before: &[sim::clock::PeerClock]) -> Option<report::ReplicaClocks> {
        let r = self.replica.as_ref()?;
        let now = self.peer_clocks()?;
        let ms = |ns: u64| ns as f64 / 1e6;
        let peers = now
            .iter()
            .map(|p| {
                let b = before.iter().find(|b| b.peer == p.peer);
                let since =
                    |f: fn(&sim::clock::PeerClock) -> u64| f(p).saturating_sub(b.map_or(0, f));
                report::PeerClock {
                    peer: u32::from(p.peer),
                    offset_ms: p.offset_ns.map(|o| o as f64 / 1e6),
                    uncertainty_ms: p.uncertainty_ns.map(ms),
                    samples: p.samples,
                    failures: p.failures,
                    relayed: since(|c| c.relayed),
                    unconverted: since(|c| c.unconverted),
                    before_send: since(|c| c.before_send),
                    worst_used_ms: p.worst_used_ns.map(ms),
                }
            })
            .collect();
        Some(report::ReplicaClocks {
            replica: u32::from(r.index),
            max_uncertainty_ms: self.max_clock_uncertainty.as_secs_f64() * 1e3,
            peers,
        })
    }

    /// How this driver makes its ids: run tag, nonce, arrival index, replica stamp (see
    /// [`ids`]), so each arrival's transfer id can be rebuilt after the run.
    pub fn id_space(&self) -> ids::IdSpace {
        ids::IdSpace {
            tag: self.run.tag,
            nonce: self.nonce,
            api: self.api(),
            stamp: self.replica.as_ref().map_or(0, |r| r.index),
        }
    }

    /// An empty outcomes table for this driver's arrivals.
    pub fn outcomes(&self) -> ids::Outcomes {
        ids::Outcomes::new(
            self.id_space(),
            self.replica.as_ref().map_or(1, |r| r.count),
        )
    }

    /// The API the payer simulators speak (all of them speak the same).
    pub fn api(&self) -> Api {
        self.sims
            .values()
            .next()
            .map_or(Api::Fspiop, |s| s.config().api)
    }

    /// The prefix every transfer id of this run starts with: the run tag as 8 hex digits
    /// (UUIDs), or as the 7-character ULID prefix in ISO 20022 mode.
    pub fn id_prefix(&self) -> String {
        self.id_space().prefix()
    }

    fn get(&self, fsp: &str) -> Option<&Arc<Sim>> {
        self.sims.get(fsp)
    }
}

/// Live progress, printed once a second.
pub trait Progress: Send + Sync {
    /// One line of progress.
    fn tick(&self, line: &str);
}

/// Progress to stderr: one line redrawn in place on a terminal, a plain line per second
/// otherwise (logs, CI).
#[derive(Debug)]
pub struct Stderr;

impl Progress for Stderr {
    fn tick(&self, line: &str) {
        use std::io::{IsTerminal, Write};
        let mut err = std::io::stderr().lock();
        if err.is_terminal() {
            // Stage announcements start with a word; progress lines with '['.
            if line.starts_with('[') {
                let _ = write!(err, "\r\x1b[2K{line}");
            } else {
                let _ = writeln!(err, "\r\x1b[2K{line}");
            }
            let _ = err.flush();
        } else {
            let _ = writeln!(err, "{line}");
        }
    }
}

/// A cheap deterministic mix of an index (corridor, number and amount choice).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn pick_corridor(weights: &[f64], index: u64) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = (mix(index) as f64 / u64::MAX as f64) * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// One `GET` for the `ping` flow.
async fn ping(scenario: &Scenario, payers: &Payers) -> Outcome {
    let url = scenario.ping_url.as_deref().unwrap_or_default();
    let Ok(req) = http::Request::get(url).body(http_body_util::Full::new(bytes::Bytes::new()))
    else {
        return Outcome::NotSent(format!("bad ping_url {url}"));
    };
    match payers.http.send(req).await {
        Ok(r) if r.status().is_success() => Outcome::Committed,
        Ok(r) => Outcome::Rejected(format!("HTTP {}", r.status().as_u16())),
        // No HTTP answer to a request that left: it may have been served.
        Err(e) if e.sent() => Outcome::FailedAfterSend(e.reason()),
        Err(e) => Outcome::NotSent(e.reason()),
    }
}

/// Runs one iteration.
/// Per phase: its duration, and its split when traced.
type Phases = ([Option<Duration>; 3], [Option<sim::trace::Split>; 3]);

/// How one iteration ended: its outcome, its phases, when its last callback arrived, and its
/// transfer when the switch may have it although the driver does not know its fate.
type Ended = (
    Outcome,
    Phases,
    Option<Instant>,
    Option<report::UncertainTransfer>,
);

/// Runs one iteration: how it ended, its phases, when its last callback arrived, and its
/// transfer when it timed out or failed after send in the transfer step.
async fn iteration(scenario: &Scenario, payers: &Payers, index: u64, corridor: usize) -> Ended {
    if scenario.flow == Flow::Ping {
        return (
            ping(scenario, payers).await,
            ([None; 3], [None; 3]),
            None,
            None,
        );
    }
    let c = &scenario.corridors[corridor];
    let mut phases = [None; 3];
    let mut splits = [None; 3];
    let Some(sim) = payers.get(&c.payer) else {
        return (
            Outcome::NotSent(format!("no simulator serves payer {}", c.payer)),
            (phases, splits),
            None,
            None,
        );
    };
    let payee_n = fspiop::testbed::fsp_index(&c.payee).unwrap_or(0);
    let r = mix(index ^ 0x5555);
    let number = match &payers.replica {
        Some(rep) => rep.number_index(r, scenario.msisdns_per_fsp),
        None => (r % u64::from(scenario.msisdns_per_fsp)) as u32,
    };
    let msisdn = fspiop::testbed::msisdn(payee_n, number);
    let span = scenario.amount_max - scenario.amount_min + 1;
    let amount = (scenario.amount_min + (r >> 20) % span).to_string();
    let t = scenario.timeout;
    let (Ok(money), Ok(payer_id), Ok(payee_id), Ok(payer_fsp), Ok(payee_fsp)) = (
        Money::parse(&amount, &scenario.currency),
        PartyIdInfo::msisdn(
            &c.payer,
            &fspiop::testbed::msisdn(fspiop::testbed::fsp_index(&c.payer).unwrap_or(1), 0),
        ),
        PartyIdInfo::msisdn(&c.payee, &msisdn),
        fspiop::types::FspId::parse(c.payer.as_str()),
        fspiop::types::FspId::parse(c.payee.as_str()),
    ) else {
        return (
            Outcome::NotSent("invalid scenario values".into()),
            (phases, splits),
            None,
            None,
        );
    };
    let space = payers.id_space();
    let quote = QuotesPost::p2p(
        space.id(ids::KIND_QUOTE, index),
        space.id(ids::KIND_TRANSFER, index),
        Party::with_id(payer_id),
        Party::with_id(payee_id),
        money.clone(),
    );
    let expires = Instant::now() + scenario.transfer_expiry;
    let expiration =
        DateTime::from_offset_date_time(time::OffsetDateTime::now_utc() + scenario.transfer_expiry);
    let fail = |e: FlowError| match e {
        FlowError::Timeout => Outcome::TimedOut,
        FlowError::NotSent(reason) => Outcome::NotSent(reason),
        FlowError::FailedAfterSend(reason) => Outcome::FailedAfterSend(reason),
        FlowError::Rejected { code, .. } => Outcome::Rejected(code),
        FlowError::Sync { code, status } => {
            Outcome::Rejected(code.unwrap_or_else(|| format!("HTTP {status}")))
        }
        FlowError::Anomaly(a) => Outcome::Rejected(format!("anomaly:{}", a.as_str())),
    };
    if scenario.flow == Flow::P2p {
        let started = Instant::now();
        match sim.lookup(&c.payer, PartyIdType::Msisdn, &msisdn, t).await {
            Ok(p) => {
                phases[0] = Some(p.at.saturating_duration_since(started));
                splits[0] = p.split;
            }
            Err(e) => {
                // A failed phase lasted until its failure: it belongs in the distribution.
                phases[0] = Some(started.elapsed());
                return (fail(e), (phases, splits), None, None);
            }
        }
    }
    // ISO 20022 mode: the PUT /quotes as received, the context of the POST /transfers.
    let mut quote_context = None;
    let transfer = if scenario.flow == Flow::Transfer {
        let tx = TransactionObject::from_quote(&quote, &money, &expiration, None);
        let Ok(ilp) = IlpSecret::new(payers.ilp_secret.as_bytes()).build(IlpVersion::V4, &tx)
        else {
            return (
                Outcome::NotSent("cannot build the ILP packet".into()),
                (phases, splits),
                None,
                None,
            );
        };
        TransfersPost {
            amount: money,
            condition: ilp.condition,
            expiration,
            extension_list: None,
            ilp_packet: ilp.packet,
            payee_fsp,
            payer_fsp,
            transfer_id: quote.transaction_id.clone(),
        }
    } else {
        let started = Instant::now();
        let response = match sim.quote(&c.payer, &c.payee, &quote, t).await {
            Ok(r) => r,
            Err(e) => {
                phases[1] = Some(started.elapsed());
                return (fail(e), (phases, splits), None, None);
            }
        };
        phases[1] = Some(response.at.saturating_duration_since(started));
        splits[1] = response.split;
        quote_context = response.iso.clone();
        match TransfersPost::from_quote(&quote, &response, quote.transaction_id.clone(), expiration)
        {
            Some(t) => t,
            None => {
                return (
                    Outcome::NotSent("quote parties lack fspId".into()),
                    (phases, splits),
                    None,
                    None,
                )
            }
        }
    };
    let started = Instant::now();
    match sim
        .transfer_after(&c.payer, &transfer, quote_context.as_deref(), t)
        .await
    {
        Ok(done) => {
            phases[2] = Some(done.at.saturating_duration_since(started));
            splits[2] = done.split;
            (Outcome::Committed, (phases, splits), Some(done.at), None)
        }
        Err(e) => {
            phases[2] = Some(started.elapsed());
            let outcome = fail(e);
            // The switch may have this transfer: the run asks it afterwards.
            let uncertain = matches!(outcome, Outcome::TimedOut | Outcome::FailedAfterSend(_))
                .then(|| report::UncertainTransfer {
                    id: transfer.transfer_id.as_str().to_owned(),
                    expires,
                });
            (outcome, (phases, splits), None, uncertain)
        }
    }
}

/// How long the end of a run waits for the simulators' callbacks still being sent again
/// (the default retries of a refused connection take 3.5 s).
const CALLBACK_SETTLE: Duration = Duration::from_secs(10);

/// The scheduler's shortest sleep: bounds its wake-ups to 2,000/s at any rate (each wake-up
/// starts a batch; fewer, larger batches cost the driver less per arrival) and the start lag
/// it adds to 0.5 ms. Measured on 2 vCPUs: 250 µs cost more CPU per arrival and held lower
/// rates (docs/benchmarks.md).
const SCHEDULER_QUANTUM: Duration = Duration::from_micros(500);

/// What the scheduler counted, read by the aggregator: the independent side of the accounting.
#[derive(Debug)]
pub struct Tally {
    /// Arrivals started (this replica's), all stages.
    started: AtomicU64,
    /// Arrivals started per stage of the scenario.
    per_stage: Vec<AtomicU64>,
    /// The stage the scheduler is in (every earlier stage has all its arrivals started).
    stage: AtomicUsize,
    /// The scheduler has started its last arrival (or was stopped).
    finished: AtomicBool,
    /// Set by whoever wants no more arrivals (a stress ramp that broke).
    stop: AtomicBool,
}

impl Tally {
    fn new(stages: usize) -> Tally {
        Tally {
            started: AtomicU64::new(0),
            per_stage: (0..stages).map(|_| AtomicU64::new(0)).collect(),
            stage: AtomicUsize::new(0),
            finished: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        }
    }

    /// Arrivals started so far.
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Acquire)
    }

    /// Arrivals started in `stage` so far, and whether that count is final.
    pub fn stage(&self, stage: usize) -> (u64, bool) {
        let n = self
            .per_stage
            .get(stage)
            .map_or(0, |c| c.load(Ordering::Acquire));
        let done =
            self.finished.load(Ordering::Acquire) || self.stage.load(Ordering::Acquire) > stage;
        (n, done)
    }

    /// Asks the scheduler to start no more arrivals.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Receives every sample as it ends (the aggregator's side of a run).
pub(crate) trait Observer {
    /// One arrival ended.
    fn record(&mut self, s: &Sample, tally: &Tally);
    /// One progress line; `oldest` is how long the oldest iteration in flight has been going
    /// (from its intended start).
    fn progress(
        &self,
        elapsed: Duration,
        tally: &Tally,
        in_flight: usize,
        oldest: Option<Duration>,
    ) -> String;
    /// p95 and p99 (µs) of the last full second.
    fn last_second_us(&self, elapsed: Duration) -> (u64, u64);
}

impl Observer for report::Recorder {
    fn record(&mut self, s: &Sample, _: &Tally) {
        report::Recorder::record(self, s);
    }
    fn progress(
        &self,
        elapsed: Duration,
        tally: &Tally,
        in_flight: usize,
        oldest: Option<Duration>,
    ) -> String {
        self.progress_line(elapsed, self.total(), tally.started(), in_flight, oldest)
    }
    fn last_second_us(&self, elapsed: Duration) -> (u64, u64) {
        report::Recorder::last_second_us(self, elapsed)
    }
}

/// How a drive ended.
pub(crate) struct Driven {
    /// The scheduler's count.
    pub started: u64,
    /// What went wrong in the driver itself.
    pub notes: Vec<String>,
    /// The in-flight budget the scheduler kept to.
    pub in_flight_budget: u64,
    /// The most iterations it had in flight at once.
    pub in_flight_peak: u64,
    /// The lowest the adaptive limit went (the budget when it never bound).
    pub in_flight_limit_low: u64,
    /// What became of each arrival (one byte each).
    pub outcomes: ids::Outcomes,
    /// The index the next drive of the same payers starts at (its ids must not repeat).
    pub next_index: u64,
}

/// The oldest iteration still in flight, from the aggregator's side alone: arrivals start in
/// index order, so the lowest index of this driver's that has not ended is the oldest one
/// going; its intended start comes from walking the same schedule as the scheduler, one
/// arrival per index passed (constant work per arrival, no shared state with the hot path).
struct Oldest {
    /// The lowest index of ours not known to have ended, and its intended start.
    next: u64,
    offset: Option<Duration>,
    arrivals: schedule::Arrivals,
    /// Indices above `next` that ended already.
    ended: std::collections::BTreeSet<u64>,
    /// (index, count) of this replica: indices that are not ours never end here.
    replica: Option<(u64, u64)>,
}

impl Oldest {
    fn new(stages: &[scenario::Stage], first: u64, replica: Option<(u64, u64)>) -> Oldest {
        let mut arrivals = schedule::Arrivals::new(stages);
        let offset = arrivals.next();
        let mut o = Oldest {
            next: first,
            offset,
            arrivals,
            ended: std::collections::BTreeSet::new(),
            replica,
        };
        o.skip_others();
        o
    }

    fn ours(&self, index: u64) -> bool {
        self.replica.is_none_or(|(i, n)| index % n == i)
    }

    fn step(&mut self) {
        self.next += 1;
        self.offset = self.arrivals.next();
    }

    fn skip_others(&mut self) {
        while self.offset.is_some() && !self.ours(self.next) {
            self.step();
        }
    }

    /// Arrival `index` ended.
    fn ended(&mut self, index: u64) {
        if index != self.next {
            if index > self.next {
                self.ended.insert(index);
            }
            return;
        }
        loop {
            self.step();
            self.skip_others();
            if self.offset.is_none() || !self.ended.remove(&self.next) {
                break;
            }
        }
    }

    /// How long the oldest iteration in flight has been going at `elapsed`, when some are.
    fn age(&self, elapsed: Duration, in_flight: usize) -> Option<Duration> {
        if in_flight == 0 {
            return None;
        }
        self.offset.map(|o| elapsed.saturating_sub(o))
    }
}

/// An iteration in flight. Its sample is sent when it ends; if the iteration dies instead (a
/// panic unwinds its task, or the runtime drops it), the drop sends it as [`Outcome::Lost`],
/// so every started arrival ends as exactly one outcome.
struct Flight {
    sample: Option<Sample>,
    tx: mpsc::UnboundedSender<Sample>,
    in_flight: Arc<AtomicUsize>,
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(mut s) = self.sample.take() {
            s.outcome = Outcome::Lost(if std::thread::panicking() {
                "panic".into()
            } else {
                "cancelled".into()
            });
            let _ = self.tx.send(s);
        }
    }
}

/// Offers the scenario's schedule (open model) and hands every ended arrival to `observer`;
/// returns when the last one has ended. Arrival indices (and so ids) start at `first`.
pub(crate) async fn drive(
    scenario: Arc<Scenario>,
    payers: Arc<Payers>,
    progress: Option<Arc<dyn Progress>>,
    live: Option<Arc<live::LiveMetrics>>,
    observer: &mut (dyn Observer + Send),
    tally: Arc<Tally>,
    first: u64,
) -> Driven {
    let mut outcomes = payers.outcomes();
    let next_index = Arc::new(AtomicU64::new(first));
    let weights: Vec<f64> = scenario.corridors.iter().map(|c| c.weight).collect();
    let (tx, mut rx) = mpsc::unbounded_channel::<Sample>();
    let in_flight = Arc::new(AtomicUsize::new(0));
    // The most iterations in flight at once (the scheduler's own count, checked against the
    // budget by the tests).
    let peak = Arc::new(AtomicUsize::new(0));
    let budget = scenario.in_flight_budget();
    let limit = Arc::new(admission::Limit::new(budget));
    let mut controller = admission::Controller::new(
        budget,
        scenario.latency_target(),
        scenario.max_in_flight.is_none(),
        Instant::now(),
    );
    let start = tokio::time::Instant::now() + Duration::from_millis(20);

    // The scheduler: sleeps until the next intended start on a sub-millisecond timer (Tokio's
    // own has 1 ms ticks), but at least `SCHEDULER_QUANTUM` after its last wake-up, then spawns
    // every arrival that is due: at high rates it wakes a few thousand times a second and
    // starts batches. It never waits for responses (open model). It counts what it starts.
    let scheduler = {
        let (scenario, payers, in_flight, tx, tally, peak, limit, next_index) = (
            scenario.clone(),
            payers.clone(),
            in_flight.clone(),
            tx.clone(),
            tally.clone(),
            peak.clone(),
            limit.clone(),
            next_index.clone(),
        );
        tokio::spawn(async move {
            let timer = timer::PreciseTimer::new();
            let mut woke = tokio::time::Instant::now();
            let mut offsets = schedule::Arrivals::new(&scenario.stages);
            let mut i = first;
            while let Some(offset) = offsets.next() {
                let index = i;
                i += 1;
                next_index.store(i, Ordering::Release);
                let intended = start + offset;
                if intended > tokio::time::Instant::now() {
                    timer
                        .sleep_until(intended.max(woke + SCHEDULER_QUANTUM))
                        .await;
                    woke = tokio::time::Instant::now();
                }
                if tally.stop.load(Ordering::Acquire) {
                    break;
                }
                let stage = offsets.stage();
                tally.stage.store(stage, Ordering::Release);
                if let Some(r) = &payers.replica {
                    if index % u64::from(r.count) != u64::from(r.index) {
                        continue;
                    }
                }
                // Counted before anything can fail: an arrival is started the moment the
                // scheduler takes it.
                if let Some(c) = tally.per_stage.get(stage) {
                    c.fetch_add(1, Ordering::AcqRel);
                }
                tally.started.fetch_add(1, Ordering::AcqRel);
                let corridor = pick_corridor(&weights, index);
                let sample = Sample::started(index, offset, corridor);
                // Admission control: beyond the limit (the budget, or less while the target
                // is queueing: see `admission`) an arrival ends at once as not sent, never
                // queued (a queue would only grow while the system is overloaded).
                if in_flight.load(Ordering::Relaxed) >= limit.get() {
                    limit.refused();
                    let _ = tx.send(Sample {
                        outcome: Outcome::NotSent("driver at its in-flight limit".into()),
                        ..sample
                    });
                    continue;
                }
                let now_flying = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                peak.fetch_max(now_flying, Ordering::Relaxed);
                let mut flight = Flight {
                    sample: Some(sample),
                    tx: tx.clone(),
                    in_flight: in_flight.clone(),
                };
                let (scenario, payers) = (scenario.clone(), payers.clone());
                tokio::spawn(async move {
                    let actual = tokio::time::Instant::now();
                    // Boxed: an iteration's state machine is several KB, and a task moves
                    // its future on spawn and again on completion; boxed, that is a pointer.
                    let (outcome, (phases, splits), last, uncertain) =
                        Box::pin(iteration(&scenario, &payers, index, corridor)).await;
                    let end =
                        last.map_or_else(tokio::time::Instant::now, tokio::time::Instant::from_std);
                    if let Some(mut s) = flight.sample.take() {
                        s.start_lag = actual.saturating_duration_since(intended);
                        s.outcome = outcome;
                        s.e2e = end.saturating_duration_since(intended);
                        s.e2e_raw = end.saturating_duration_since(actual);
                        s.phases = phases;
                        s.splits = splits;
                        s.uncertain = uncertain;
                        let _ = flight.tx.send(s);
                    }
                });
            }
            tally.finished.store(true, Ordering::Release);
        })
    };
    drop(tx);

    let mut oldest = Oldest::new(
        &scenario.stages,
        first,
        payers
            .replica
            .as_ref()
            .map(|r| (u64::from(r.index), u64::from(r.count))),
    );
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    loop {
        tokio::select! {
            sample = rx.recv() => match sample {
                Some(s) => {
                    if !matches!(s.outcome, Outcome::NotSent(_)) {
                        let started = start.into_std() + s.intended + s.start_lag;
                        controller.ended(
                            &limit,
                            started,
                            s.e2e_raw,
                            in_flight.load(Ordering::Relaxed),
                            Instant::now(),
                        );
                    }
                    if let Some(l) = &live {
                        l.outcome(&s.outcome);
                        l.sample(&s, &scenario.corridors[s.corridor].name());
                    }
                    outcomes.set(s.index, ids::Fate::of(&s));
                    oldest.ended(s.index);
                    observer.record(&s, &tally);
                }
                None => break,
            },
            _ = tick.tick() => {
                let elapsed = start.elapsed();
                let flying = in_flight.load(Ordering::Relaxed);
                if let Some(l) = &live {
                    let (p95, p99) = observer.last_second_us(elapsed);
                    let share = payers.replica.as_ref().map_or(1.0, |r| 1.0 / f64::from(r.count));
                    l.second(flying, share * schedule::rate_at(&scenario.stages, elapsed), p95, p99);
                }
                if let Some(p) = &progress {
                    p.tick(&observer.progress(elapsed, &tally, flying, oldest.age(elapsed, flying)));
                }
            }
        }
    }
    let mut notes = Vec::new();
    if let Err(e) = scheduler.await {
        notes.push(format!(
            "THE SCHEDULER DIED ({}) after starting {} arrivals: the run stopped early",
            if e.is_panic() { "panic" } else { "cancelled" },
            tally.started()
        ));
    }
    Driven {
        started: tally.started(),
        notes,
        in_flight_budget: budget as u64,
        in_flight_peak: peak.load(Ordering::Relaxed) as u64,
        in_flight_limit_low: controller.low() as u64,
        outcomes,
        next_index: next_index.load(Ordering::Acquire),
    }
}

/// Runs a scenario against the payers; returns the report when the last iteration has ended.
pub async fn run(
    scenario: &Scenario,
    payers: Payers,
    progress: Option<Arc<dyn Progress>>,
) -> Report {
    run_with(scenario, payers, progress, None).await
}

/// [`run`], also updating `live` metrics (for a Prometheus endpoint) as results arrive.
pub async fn run_with(
    scenario: &Scenario,
    payers: Payers,
    progress: Option<Arc<dyn Progress>>,
    live: Option<Arc<live::LiveMetrics>>,
) -> Report {
    run_from(scenario, payers, progress, live, 0).await
}

/// [`run_with`], its arrival indices (and so its ids) starting at `first`: a later drive of
/// the same payers (a stress run's recovery stage) must not repeat the ids of an earlier one.
pub(crate) async fn run_from(
    scenario: &Scenario,
    payers: Payers,
    progress: Option<Arc<dyn Progress>>,
    live: Option<Arc<live::LiveMetrics>>,
    first: u64,
) -> Report {
    let scenario = Arc::new(scenario.clone());
    let payers = Arc::new(payers);
    let started_wall = time::OffsetDateTime::now_utc();
    let share = payers
        .replica
        .as_ref()
        .map_or(1.0, |r| 1.0 / f64::from(r.count));
    let mut recorder = report::Recorder::new(&scenario, started_wall).share(share);
    let tally = Arc::new(Tally::new(scenario.stages.len()));
    let late_before = payers.late_callbacks();
    let failed_before = payers.callbacks_failed();
    let clocks_before = payers.peer_clocks().unwrap_or_default();
    let driven = drive(
        scenario.clone(),
        payers.clone(),
        progress,
        live,
        &mut recorder,
        tally,
        first,
    )
    .await;
    let mut report = recorder.finish(driven.started);
    report.outcomes = Some(driven.outcomes);
    report.notes.extend(driven.notes);
    report.in_flight_budget = Some(driven.in_flight_budget);
    report.in_flight_peak = Some(driven.in_flight_peak);
    report.in_flight_limit_low = Some(driven.in_flight_limit_low);
    if driven.in_flight_limit_low < driven.in_flight_budget {
        report.notes.push(format!(
            "the system under test was queueing: the driver's in-flight limit went down to {} (budget {}) while the median latency of what it sent stayed above {} ms (half the p99 limit); arrivals beyond the limit ended as not sent",
            driven.in_flight_limit_low,
            driven.in_flight_budget,
            scenario.latency_target().as_millis()
        ));
    }
    report.run = payers.run_info(scenario.peak_rate() * share);
    // A callback the simulators are still sending again (see `callback_retry`) ends
    // delivered or failed shortly: count it either way, within a bound.
    let still = payers.settle_callbacks(CALLBACK_SETTLE).await;
    if still > 0 {
        report.notes.push(format!(
            "{still} simulator callbacks were still being sent again {} s after the run ended: not counted as delivered or failed",
            CALLBACK_SETTLE.as_secs()
        ));
    }
    report.late_callbacks = payers.late_callbacks() - late_before;
    report.callbacks_failed = payers.callbacks_failed() - failed_before;
    report.clocks = payers.clocks_report(&clocks_before).into_iter().collect();
    report.settle_passed();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank(index: u64) -> Sample {
        Sample::started(index, Duration::ZERO, 0)
    }

    #[test]
    fn the_oldest_in_flight_is_the_lowest_index_not_ended_whatever_the_order_they_end_in() {
        // 10/s for 1 s, indices starting at 100: arrival 100 + k is intended at a[k].
        let stages = Scenario::constant("t", Flow::Transfer, 10.0, Duration::from_secs(1)).stages;
        let a = schedule::arrivals(&stages);
        assert_eq!(a.len(), 10);
        let mut o = Oldest::new(&stages, 100, None);
        let at = Duration::from_secs(2);
        assert_eq!(o.age(at, 0), None, "nothing in flight, no age");
        assert_eq!(o.age(at, 3), Some(at - a[0]));
        o.ended(102);
        o.ended(101);
        assert_eq!(o.age(at, 3), Some(at - a[0]), "100 still going");
        o.ended(100);
        // 100, 101 and 102 ended: 103 is the oldest.
        assert_eq!(o.age(at, 3), Some(at - a[3]));
        for i in 103..110 {
            o.ended(i);
        }
        assert_eq!(o.age(at, 1), None, "every arrival ended");
        // Replica 1 of 3 owns 1, 4, 7: the others never end here and are skipped.
        let mut r = Oldest::new(&stages, 0, Some((1, 3)));
        assert_eq!(r.age(at, 1), Some(at - a[1]));
        r.ended(1);
        assert_eq!(r.age(at, 1), Some(at - a[4]));
    }

    #[tokio::test]
    async fn an_iteration_that_panics_or_is_dropped_is_counted_lost() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let in_flight = Arc::new(AtomicUsize::new(2));
        let flight = |i| Flight {
            sample: Some(blank(i)),
            tx: tx.clone(),
            in_flight: in_flight.clone(),
        };
        let f = flight(1);
        let task = tokio::spawn(async move {
            let _held = f;
            panic!("a bug in an iteration");
        });
        assert!(task.await.unwrap_err().is_panic());
        drop(flight(2));
        drop(tx);
        let mut got = Vec::new();
        while let Some(s) = rx.recv().await {
            got.push((s.index, s.outcome));
        }
        assert_eq!(
            got,
            vec![
                (1, Outcome::Lost("panic".into())),
                (2, Outcome::Lost("cancelled".into()))
            ]
        );
        assert_eq!(in_flight.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn corridor_choice_follows_the_weights() {
        let w = [40.0, 25.0, 20.0, 15.0];
        let mut counts = [0u32; 4];
        for i in 0..100_000 {
            counts[pick_corridor(&w, i)] += 1;
        }
        for (c, w) in counts.iter().zip(w) {
            let share = f64::from(*c) / 1000.0;
            assert!((share - w).abs() < 1.0, "{counts:?}");
        }
    }
}
