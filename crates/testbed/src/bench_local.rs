//! `perfbed bench local`: how close the whole local testbed (hub emulator + 8 simulators + the
//! driver, one process) comes to its crypto bound.
//!
//! 1. Times RS256 signing and verifying on one thread with one of the run's own keys (the
//!    RSA-2048 keys the local testbed makes), in thread CPU time.
//! 2. Per case (flow × security), runs a short ladder of constant-rate steps against one local
//!    testbed and finds the **knee**: the highest offered rate whose step has p99 < 500 ms,
//!    ≥ 99.5 % committed, achieved ≥ 99 % of the target and adds up.
//! 3. States, per case, the CPU per committed transfer at the knee (the process's getrusage over
//!    the step), the **crypto floor** per transfer (signatures × sign cost + verifications ×
//!    verify cost) and the **share of the bound**: knee / (cores / floor).
//! 4. Times one HTTP exchange through perfbed's own client and server per security level
//!    ([`crate::exchange`]) and states the **transport floor** (exchanges per transfer × that
//!    cost) and the share of the crypto + transport bound: knee / (cores / (crypto floor +
//!    transport floor)) — how much of what a testbed of real HTTPS exchanges could carry.
//!
//! The ladder: start at `start_share` of the bound (full security) or at a per-core guess (no
//! security), double (capped near the capacity the step's CPU per transfer predicts) while steps
//! pass, drop to 90 % of the achieved rate when one fails, then bisect between the highest pass
//! and the lowest failure until they are within `precision`.
//!
//! `--overload D` then offers 2× the knee for D and the knee's half for a while after, and
//! reports the throughput held, the peak RSS and how long recovery took.

use anyhow::{bail, Context, Result};
use fspiop::jws::{SigningKey, VerifyingKey};
use load::{Flow, Report, Scenario};
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{LocalEnv, Security};

/// RSA signatures made per transfer of each flow with full security (JWS on every request with
/// a body; GETs and the hub's own unsigned confirmations carry none). Counted from the code:
///
/// * lookup: the payee's `PUT /parties` — 1 signature; verified by the hub and by the payer: 2.
/// * quote: the payer's `POST /quotes` and the payee's `PUT /quotes` — 2; each verified by the
///   hub and by its recipient: 4.
/// * transfer: the payer's `POST /transfers` and the payee's `PUT /transfers` — 2; each verified
///   by the hub and its recipient: 4. The hub's confirmation `PUT` to the payee is its own
///   message; the local hub has no signing key, so it is unsigned and not verified.
pub fn jws_ops(flow: Flow) -> (u32, u32) {
    match flow {
        Flow::P2p => (5, 10),
        Flow::QuoteTransfer => (4, 8),
        Flow::Transfer => (2, 4),
        Flow::Ping => (0, 0),
    }
}

/// One case of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// The flow.
    pub flow: Flow,
    /// The security.
    pub security: Security,
}

impl Case {
    /// `p2p-full`, `transfer-none`, …
    pub fn name(&self) -> String {
        format!(
            "{}-{}",
            self.flow.as_str(),
            match self.security {
                Security::Full => "full",
                Security::None => "none",
            }
        )
    }

    /// Parses `p2p-full`, `transfer-none`, `quote-transfer-full`.
    pub fn parse(s: &str) -> Result<Case, String> {
        let (flow, sec) = s
            .rsplit_once('-')
            .ok_or_else(|| format!("case '{s}': write FLOW-SECURITY, e.g. p2p-full"))?;
        let flow = match flow {
            "p2p" => Flow::P2p,
            "transfer" => Flow::Transfer,
            "quote-transfer" | "quote_transfer" => Flow::QuoteTransfer,
            _ => {
                return Err(format!(
                    "case '{s}': the flow is one of p2p, quote-transfer, transfer"
                ))
            }
        };
        let security = match sec {
            "full" => Security::Full,
            "none" => Security::None,
            _ => return Err(format!("case '{s}': the security is full or none")),
        };
        Ok(Case { flow, security })
    }
}

/// The benchmark's knobs.
#[derive(Debug, Clone)]
pub struct BenchLocalOptions {
    /// Cases, in order (grouped by security when run).
    pub cases: Vec<Case>,
    /// Pin the whole process to this many CPUs (the first ones it may use); `None`: all.
    pub cores: Option<usize>,
    /// Length of each step (the report's window excludes a 10 % warm-up and cool-down).
    pub step: Duration,
    /// Stop bisecting when the lowest failure is within this fraction above the highest pass.
    pub precision: f64,
    /// At most this many steps per case.
    pub max_steps: usize,
    /// First rate, as a share of the crypto bound (full security).
    pub start_share: f64,
    /// First rate per core without security (no crypto bound to start from), by flow: p2p.
    pub start_none_per_core: f64,
    /// Explicit first rate for every case (overrides the two above).
    pub start_rate: Option<f64>,
    /// Offer 2× the knee for this long after each case's ladder (then half the knee).
    pub overload: Option<Duration>,
    /// Results: `DIR/bench-local.json`, `DIR/bench-local.txt` and every step's report.
    pub out: PathBuf,
    /// Also write the JSON here.
    pub json: Option<PathBuf>,
    /// No progress lines.
    pub quiet: bool,
    /// FSPIOP or ISO 20022 mode, for every part of the testbed.
    pub api: fspiop::iso::Api,
}

impl Default for BenchLocalOptions {
    fn default() -> Self {
        BenchLocalOptions {
            cases: vec![
                Case {
                    flow: Flow::P2p,
                    security: Security::Full,
                },
                Case {
                    flow: Flow::Transfer,
                    security: Security::Full,
                },
                Case {
                    flow: Flow::P2p,
                    security: Security::None,
                },
                Case {
                    flow: Flow::Transfer,
                    security: Security::None,
                },
            ],
            cores: None,
            step: Duration::from_secs(6),
            precision: 0.05,
            max_steps: 7,
            start_share: 0.6,
            start_none_per_core: 800.0,
            start_rate: None,
            overload: None,
            out: PathBuf::from("results"),
            json: None,
            quiet: false,
            api: fspiop::iso::Api::Fspiop,
        }
    }
}

/// The machine the benchmark ran on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    /// `model name` of /proc/cpuinfo.
    pub cpu_model: String,
    /// CPUs this process ran on.
    pub cpus: Vec<usize>,
    /// Their count: the `cores` of the bound.
    pub cores: usize,
    /// Whether `--cores` pinned the process.
    pub pinned: bool,
    /// The CPU has AVX-512 IFMA (what newer RSA code paths use).
    pub avx512ifma: bool,
    /// Load average (1 min) when the benchmark started: other work on the machine.
    pub loadavg_start: Option<f64>,
}

/// The crypto costs measured in this sitting.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Crypto {
    /// The key: `RSA-2048 (RS256), the run's own`.
    pub key: String,
    /// What signs (`OpenSSL 3.0.x via josekit`).
    pub provider: String,
    /// Thread CPU-µs per RS256 signature.
    pub sign_us: f64,
    /// Thread CPU-µs per RS256 verification.
    pub verify_us: f64,
    /// Signatures timed.
    pub signs: u64,
    /// Verifications timed.
    pub verifies: u64,
}

/// One step of a ladder, as its report states it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Step {
    /// Offered rate, arrivals/s.
    pub rate: f64,
    /// Met every knee criterion.
    pub passed: bool,
    /// Why not, when not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    /// The report's `achieved_tps`.
    pub achieved_tps: f64,
    /// The report's `target_tps`.
    pub target_tps: f64,
    /// The report's `success_rate`, percent.
    pub success_rate: f64,
    /// The report's e2e p99, ms.
    pub p99_ms: f64,
    /// Arrivals (how many ended not sent, at the driver's in-flight limit: `not_sent`).
    pub arrivals: u64,
    /// Arrivals not sent.
    pub not_sent: u64,
    /// The process's CPU per committed transfer over the step, ms.
    pub cpu_ms_per_transfer: Option<f64>,
    /// JWS signs and verifies (the hub's verifies apart) and TLS handshakes counted over the
    /// step, per committed transfer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<load::report::PerTransfer>,
    /// The step's report.json.
    pub report: PathBuf,
}

/// What 2× the knee did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Overload {
    /// Offered during the overload, arrivals/s.
    pub offered: f64,
    /// How long.
    pub duration_s: f64,
    /// Commits per second over the overload (by arrival second, after its first 5 s).
    pub held_tps: f64,
    /// `held_tps` / the knee step's achieved rate.
    pub held_share_of_knee: f64,
    /// Peak resident memory of the process during the run, MB (sampled every 100 ms).
    pub rss_peak_mb: f64,
    /// Resident memory before the run, MB.
    pub rss_before_mb: f64,
    /// Seconds from the rate drop to the first second whose arrivals were ≥ 99 % committed
    /// with p99 < 500 ms (none: it never recovered within the low stage).
    pub recovery_s: Option<f64>,
    /// Arrivals, committed, not sent, other outcomes: the accounting.
    pub arrivals: u64,
    /// Committed.
    pub committed: u64,
    /// Not sent (the driver's in-flight limit shed them).
    pub not_sent: u64,
    /// Every arrival counted once.
    pub adds_up: bool,
    /// The report.
    pub report: PathBuf,
}

/// One case's result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CaseResult {
    /// `p2p-full`, …
    pub case: String,
    /// Flow.
    pub flow: String,
    /// `full` or `none`.
    pub security: String,
    /// RS256 signatures per transfer, from the flow ([`jws_ops`]: analytic).
    pub signatures: u32,
    /// RS256 verifications per transfer, from the flow ([`jws_ops`]: analytic).
    pub verifications: u32,
    /// Signs, verifies (the hub's apart) and TLS handshakes counted per committed transfer
    /// at the knee (the last step when none passed): what the floor divides by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<load::report::PerTransfer>,
    /// CPU-ms of RSA per transfer (0 without security): the measured counts × the timed
    /// sign and verify, or the analytic counts before anything was measured.
    pub floor_ms: f64,
    /// The same floor from the analytic counts.
    #[serde(default)]
    pub analytic_floor_ms: f64,
    /// cores / floor, transfers/s (none without security).
    pub bound_tps: Option<f64>,
    /// The highest passing offered rate (none: no step passed).
    pub knee_tps: Option<f64>,
    /// The knee step's CPU per committed transfer, ms.
    pub cpu_ms_per_transfer: Option<f64>,
    /// knee / bound.
    pub share_of_bound: Option<f64>,
    /// floor / CPU per transfer: the share of the CPU that is RSA.
    pub crypto_share_of_cpu: Option<f64>,
    /// HTTP exchanges per transfer ([`crate::exchange::exchanges`]).
    #[serde(default)]
    pub exchanges: u32,
    /// exchanges × the transport floor's cost per exchange at this security, ms.
    #[serde(default)]
    pub transport_floor_ms: f64,
    /// cores / (crypto floor + transport floor), transfers/s: what a testbed of real HTTP(S)
    /// exchanges with nothing else to do would carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_with_transport_tps: Option<f64>,
    /// knee / `bound_with_transport_tps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_of_bound_with_transport: Option<f64>,
    /// Every step, in the order run.
    pub steps: Vec<Step>,
    /// `--overload`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overload: Option<Overload>,
}

/// The whole result (`bench-local.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BenchLocal {
    /// perfbed version.
    pub version: String,
    /// Start, RFC 3339.
    pub started: String,
    /// The knee's criteria.
    pub criteria: String,
    /// Step length, s.
    pub step_s: f64,
    /// The machine.
    pub machine: Machine,
    /// RSA costs (none when no case had full security).
    pub crypto: Option<Crypto>,
    /// One HTTP exchange's cost through perfbed's client and server, per security measured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transport: Vec<crate::exchange::Transport>,
    /// Per case.
    pub cases: Vec<CaseResult>,
    /// Wall time of the whole benchmark, s.
    pub wall_s: f64,
    /// The API the testbed spoke: `fspiop` or `iso20022`.
    #[serde(default = "fspiop_api")]
    pub api: String,
}

fn fspiop_api() -> String {
    fspiop::iso::Api::Fspiop.as_str().to_owned()
}

/// The knee's criteria.
pub const CRITERIA: &str =
    "p99 < 500 ms, >= 99.5 % committed, achieved >= 99 % of target, accounting adds up, the hub's ledger agrees";

/// Judges a step's report by the knee's criteria: `None` when it passes, else why not.
pub fn judge(r: &Report) -> Option<String> {
    let achieved = if r.target_tps > 0.0 {
        r.achieved_tps / r.target_tps
    } else {
        0.0
    };
    let mut why = Vec::new();
    if !r.adds_up() {
        why.push("accounting".to_owned());
    }
    match &r.crosscheck {
        Some(c) if c.agrees => {}
        Some(_) => why.push("cross-check with the hub's ledger failed".to_owned()),
        None => why.push("no cross-check with the hub's ledger".to_owned()),
    }
    // NaN fails every criterion: each is written as "passes", negated.
    let p99_ok = r.latency_ms.e2e.p99 < 500.0;
    let success_ok = r.success_rate >= 99.5;
    let achieved_ok = achieved >= 0.99;
    if !p99_ok {
        why.push(format!("p99 {:.0} ms", r.latency_ms.e2e.p99));
    }
    if !success_ok {
        why.push(format!("{:.2} % committed", r.success_rate));
    }
    if !achieved_ok {
        why.push(format!("achieved {:.1} %", achieved * 100.0));
    }
    (!why.is_empty()).then(|| why.join(", "))
}

/// Pins this thread — and every thread it starts afterwards — to the first `n` CPUs it may
/// use; returns them. Call before the async runtime starts.
pub fn pin_process(n: usize) -> Result<Vec<usize>> {
    let allowed = allowed_cpus()?;
    if n == 0 || n > allowed.len() {
        bail!(
            "--cores {n}: this process may use {} CPU(s) ({:?}); give 1 to {}",
            allowed.len(),
            allowed,
            allowed.len()
        );
    }
    let chosen: Vec<usize> = allowed.into_iter().take(n).collect();
    let mut set = CpuSet::new();
    for c in &chosen {
        set.set(*c).context("CPU index out of range")?;
    }
    sched_setaffinity(Pid::from_raw(0), &set).context("sched_setaffinity failed")?;
    Ok(chosen)
}

/// The CPUs this thread may run on.
pub fn allowed_cpus() -> Result<Vec<usize>> {
    let set = sched_getaffinity(Pid::from_raw(0)).context("sched_getaffinity failed")?;
    Ok((0..CpuSet::count())
        .filter(|c| set.is_set(*c).unwrap_or(false))
        .collect())
}

fn cpu_model() -> (String, bool) {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = text
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".into(), |(_, v)| v.trim().to_owned());
    (model, text.contains("avx512ifma"))
}

fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Resident memory of this process, MB.
pub fn rss_mb() -> f64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn process_cpu_s() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_SELF).map_or(0.0, |u| {
        let t = |v: nix::sys::time::TimeVal| v.tv_sec() as f64 + v.tv_usec() as f64 / 1e6;
        t(u.user_time()) + t(u.system_time())
    })
}

/// This thread's CPU time (user + system), s.
pub(crate) fn thread_cpu_s() -> f64 {
    thread_cpu().as_secs_f64()
}

fn thread_cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

/// Times RS256 sign and verify with the PEM key pair, in this thread's CPU time: at least
/// `sign_for` of signing and `verify_for` of verifying, over a signing input the size of a
/// signed `PUT /transfers` (header + body, base64url).
pub fn time_rs256(
    private_pem: &str,
    public_pem: &str,
    sign_for: Duration,
    verify_for: Duration,
) -> Result<Crypto> {
    let signer = SigningKey::from_pem(private_pem.as_bytes()).context("signing key")?;
    let verifier = VerifyingKey::from_pem(public_pem.as_bytes()).context("verifying key")?;
    // ~ the size of a PUT /transfers signing input: 330 B protected header + 200 B body, base64.
    let input: Vec<u8> = (0..720u32).map(|i| b'A' + (i % 26) as u8).collect();
    let sig = signer.sign_raw(&input).context("signing failed")?;
    if !verifier.verify_raw(&input, &sig) {
        bail!("the run's key pair does not verify its own signature");
    }
    for _ in 0..20 {
        let _ = signer.sign_raw(&input);
    }
    let t0 = thread_cpu();
    let mut signs = 0u64;
    while thread_cpu() - t0 < sign_for {
        for _ in 0..10 {
            std::hint::black_box(signer.sign_raw(&input).context("signing failed")?);
        }
        signs += 10;
    }
    let sign_us = (thread_cpu() - t0).as_secs_f64() * 1e6 / signs as f64;
    let t0 = thread_cpu();
    let mut verifies = 0u64;
    while thread_cpu() - t0 < verify_for {
        for _ in 0..50 {
            if !verifier.verify_raw(std::hint::black_box(&input), &sig) {
                bail!("verification failed");
            }
        }
        verifies += 50;
    }
    let verify_us = (thread_cpu() - t0).as_secs_f64() * 1e6 / verifies as f64;
    Ok(Crypto {
        key: "RSA-2048 (RS256), one of the run's own keys".into(),
        provider: format!("josekit -> {}", openssl_version()),
        sign_us,
        verify_us,
        signs,
        verifies,
    })
}

fn openssl_version() -> String {
    openssl::version::version().to_owned()
}

fn say(quiet: bool, line: &str) {
    if !quiet {
        eprintln!("{line}");
    }
}

/// Runs one constant-rate step (or a staged overload) and writes its report.
async fn run_step(
    env: &LocalEnv,
    scenario: &Scenario,
    dir: &Path,
    file: &str,
) -> Result<(Report, PathBuf)> {
    let run = load::RunId::random();
    let payers = env.payers().run_id(run);
    // FSPIOP ids start with the run's hex tag, ISO 20022 ULIDs with its base-32 form.
    let prefix = payers.id_prefix();
    let cpu_before = process_cpu_s();
    let sims_before = payers.operations();
    let counters = payers.clone();
    let hub_ops = env.hub_operations();
    let hub_before = hub_ops();
    let mut report = load::run_with(scenario, payers, None, None).await;
    let cpu_s = process_cpu_s() - cpu_before;
    report.operations = Some(load::report::Operations::new(
        counters.operations().since(&sims_before),
        Some(hub_ops().since(&hub_before)),
        report.committed,
    ));
    let ledger = crate::Ledger::Emulator(env.admin.clone());
    let outcomes = report.outcomes.iter().cloned().collect();
    match crate::crosscheck(
        &ledger,
        &prefix,
        report.committed,
        report.uncertain(),
        outcomes,
    )
    .await
    {
        Ok(c) => report.crosscheck = Some(c),
        Err(n) => report.no_crosscheck = Some(n),
    }
    report.environment = Some(load::report::Environment {
        api: env.payers().api().as_str().into(),
        security: env.security().describe().into(),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        cpu_s,
        cpu_ms_per_transfer: (report.committed > 0)
            .then(|| cpu_s * 1000.0 / report.committed as f64),
    });
    let path = dir.join(file);
    crate::results::write_atomic(&path, &serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok((report, path))
}

fn round_rate(r: f64) -> f64 {
    // Two significant digits below 1000, three above: rates people can read and repeat.
    let r = r.max(1.0);
    let digits = if r >= 1000.0 { 3 } else { 2 };
    let scale = 10f64.powi(r.log10().floor() as i32 + 1 - digits);
    ((r / scale).round() * scale).max(1.0)
}

/// The ladder of one case.
struct Ladder {
    lo: Option<f64>,
    hi: Option<f64>,
    tried: Vec<f64>,
}

impl Ladder {
    /// The next rate, or `None` when the knee is found (or nothing new is left to try).
    fn next(&self, o: &BenchLocalOptions, last: &Step, cores: usize) -> Option<f64> {
        let capacity = last
            .cpu_ms_per_transfer
            .filter(|c| *c > 0.0)
            .map(|c| cores as f64 * 1000.0 / c);
        let candidate = match (self.lo, self.hi) {
            (Some(lo), Some(hi)) => {
                if hi <= lo * (1.0 + o.precision) {
                    return None;
                }
                (lo * hi).sqrt()
            }
            (Some(lo), None) => {
                // Passed: aim at the capacity the CPU per transfer predicts, at most doubling.
                let aim = capacity.map_or(lo * 2.0, |c| c * 0.97);
                aim.clamp(lo * 1.15, lo * 2.0)
            }
            (None, Some(hi)) => (last.achieved_tps * 0.9).clamp(hi * 0.3, hi * 0.9),
            (None, None) => return None,
        };
        let r = round_rate(candidate);
        let fresh = !self.tried.iter().any(|t| (t - r).abs() < 0.5)
            && self.lo.is_none_or(|lo| r > lo)
            && self.hi.is_none_or(|hi| r < hi);
        fresh.then_some(r)
    }
}

/// Runs the benchmark; the caller has pinned the process (see [`pin_process`]) and runs this on
/// its async runtime.
pub async fn bench_local(o: &BenchLocalOptions, pinned: Option<Vec<usize>>) -> Result<BenchLocal> {
    let wall = Instant::now();
    let started = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let cpus = match &pinned {
        Some(c) => c.clone(),
        None => allowed_cpus()?,
    };
    let cores = cpus.len();
    let (cpu_model, avx512ifma) = cpu_model();
    let machine = Machine {
        cpu_model,
        cpus,
        cores,
        pinned: pinned.is_some(),
        avx512ifma,
        loadavg_start: loadavg(),
    };
    let dir = crate::results::result_dir(&o.out, "bench-local")?;
    say(
        o.quiet,
        &format!(
            "bench local: {} core(s) {:?} of {}{}; steps of {:.0} s; results in {}",
            machine.cores,
            machine.cpus,
            machine.cpu_model,
            if machine.pinned { ", pinned" } else { "" },
            o.step.as_secs_f64(),
            dir.display()
        ),
    );
    let mut crypto: Option<Crypto> = None;
    let mut transport = Vec::new();
    let mut results = Vec::new();
    // One local testbed per security level, shared by that level's cases.
    for security in [Security::Full, Security::None] {
        let cases: Vec<Case> = o
            .cases
            .iter()
            .copied()
            .filter(|c| c.security == security)
            .collect();
        if cases.is_empty() {
            continue;
        }
        let probe = Scenario::constant("bench-local", Flow::P2p, 1.0, Duration::from_secs(1));
        let env = LocalEnv::start(
            &crate::EnvOptions {
                security,
                hub_latency: None,
                payee_latency: None,
                quiet: true,
                api: o.api,
            },
            &[&probe],
        )
        .await?;
        if let (Some((private, public)), None) = (env.jws_key_pem(), &crypto) {
            let (private, public) = (private.to_owned(), public.to_owned());
            let c = tokio::task::spawn_blocking(move || {
                time_rs256(
                    &private,
                    &public,
                    Duration::from_millis(600),
                    Duration::from_millis(300),
                )
            })
            .await
            .context("the timing thread died")??;
            say(
                o.quiet,
                &format!(
                    "RS256 with the run's key ({}): sign {:.1} µs, verify {:.1} µs (thread CPU)",
                    c.provider, c.sign_us, c.verify_us
                ),
            );
            crypto = Some(c);
        }
        let t =
            crate::exchange::time_exchange(security == Security::Full, Duration::from_millis(1500))
                .await
                .context("timing one HTTP exchange")?;
        say(
            o.quiet,
            &format!(
                "one HTTP exchange ({}, perfbed's client and server on one thread, {} in flight): {:.1} CPU-µs, both ends and the kernel",
                t.label(),
                t.in_flight,
                t.us_per_exchange
            ),
        );
        let per_exchange_us = t.us_per_exchange;
        transport.push(t);
        for case in cases {
            let r = run_case(o, &env, case, crypto.as_ref(), per_exchange_us, cores, &dir).await;
            match r {
                Ok(r) => results.push(r),
                Err(e) => {
                    env.stop().await;
                    return Err(e);
                }
            }
        }
        env.stop().await;
    }
    let result = BenchLocal {
        version: env!("CARGO_PKG_VERSION").into(),
        started,
        criteria: CRITERIA.into(),
        step_s: o.step.as_secs_f64(),
        machine,
        crypto,
        transport,
        cases: results,
        wall_s: wall.elapsed().as_secs_f64(),
        api: o.api.as_str().into(),
    };
    let json = serde_json::to_vec_pretty(&result)?;
    crate::results::write_atomic(&dir.join("bench-local.json"), &json)?;
    std::fs::write(dir.join("bench-local.txt"), result.to_text())?;
    if let Some(path) = &o.json {
        std::fs::write(path, &json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(result)
}

async fn run_case(
    o: &BenchLocalOptions,
    env: &LocalEnv,
    case: Case,
    crypto: Option<&Crypto>,
    per_exchange_us: f64,
    cores: usize,
    dir: &Path,
) -> Result<CaseResult> {
    let name = case.name();
    let (signatures, verifications) = match case.security {
        Security::Full => jws_ops(case.flow),
        Security::None => (0, 0),
    };
    let floor_ms = crypto.map_or(0.0, |c| {
        (f64::from(signatures) * c.sign_us + f64::from(verifications) * c.verify_us) / 1000.0
    });
    let bound_tps = (floor_ms > 0.0).then(|| cores as f64 * 1000.0 / floor_ms);
    let exchanges = crate::exchange::exchanges(case.flow);
    let transport_floor_ms = f64::from(exchanges) * per_exchange_us / 1000.0;
    let per_core_none = match case.flow {
        Flow::P2p => o.start_none_per_core,
        _ => o.start_none_per_core * 2.5,
    };
    let mut rate = round_rate(o.start_rate.unwrap_or(match bound_tps {
        Some(b) => b * o.start_share,
        None => cores as f64 * per_core_none,
    }));
    say(
        o.quiet,
        &format!(
            "[{name}] {}start {rate}/s",
            bound_tps.map_or(String::new(), |b| format!(
                "crypto floor {floor_ms:.3} ms ({signatures} signs + {verifications} verifies), bound {b:.0}/s; "
            ))
        ),
    );
    let mut ladder = Ladder {
        lo: None,
        hi: None,
        tried: Vec::new(),
    };
    let mut steps: Vec<Step> = Vec::new();
    loop {
        let scenario = Scenario::constant(&format!("bench-{name}"), case.flow, rate, o.step);
        let file = format!("{name}-step{:02}-{rate}.json", steps.len() + 1);
        let (report, path) = run_step(env, &scenario, dir, &file).await?;
        let failed = judge(&report);
        let step = Step {
            rate,
            passed: failed.is_none(),
            failed,
            achieved_tps: report.achieved_tps,
            target_tps: report.target_tps,
            success_rate: report.success_rate,
            p99_ms: report.latency_ms.e2e.p99,
            arrivals: report.arrivals,
            not_sent: report.not_sent,
            cpu_ms_per_transfer: report
                .environment
                .as_ref()
                .and_then(|e| e.cpu_ms_per_transfer),
            operations: report.operations.as_ref().and_then(|o| o.per_committed),
            report: path,
        };
        say(
            o.quiet,
            &format!(
                "[{name}] step {}: {rate}/s → {} (achieved {:.1}/s, {:.2} % committed, p99 {:.1} ms, {} CPU-ms/transfer)",
                steps.len() + 1,
                step.failed.as_deref().map_or("pass".to_owned(), |w| format!("fail: {w}")),
                step.achieved_tps,
                step.success_rate,
                step.p99_ms,
                step.cpu_ms_per_transfer.map_or("-".into(), |c| format!("{c:.3}")),
            ),
        );
        ladder.tried.push(rate);
        if step.passed {
            ladder.lo = Some(ladder.lo.map_or(rate, |l: f64| l.max(rate)));
        } else {
            ladder.hi = Some(ladder.hi.map_or(rate, |h: f64| h.min(rate)));
        }
        let next = ladder.next(o, &step, cores);
        steps.push(step);
        match next {
            Some(r) if steps.len() < o.max_steps => rate = r,
            _ => break,
        }
        // Let the previous step's callbacks and connections settle.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let knee_step = steps
        .iter()
        .filter(|s| s.passed)
        .max_by(|a, b| a.rate.total_cmp(&b.rate));
    let knee_tps = knee_step.map(|s| s.rate);
    let cpu_ms_per_transfer = knee_step.and_then(|s| s.cpu_ms_per_transfer);
    // The floor from what was counted (the knee step, else the last), not from the flow's
    // description: a flow that signs more than it says shows here.
    let measured = knee_step.or(steps.last()).and_then(|s| s.operations);
    let analytic_floor_ms = floor_ms;
    let floor_ms = match (crypto, measured) {
        (Some(c), Some(m)) if case.security == Security::Full => {
            (m.jws_signs * c.sign_us + m.jws_verifies * c.verify_us) / 1000.0
        }
        _ => floor_ms,
    };
    let bound_tps = (floor_ms > 0.0).then(|| cores as f64 * 1000.0 / floor_ms);
    let bound_with_transport_tps = (floor_ms + transport_floor_ms > 0.0)
        .then(|| cores as f64 * 1000.0 / (floor_ms + transport_floor_ms));
    let share_of_bound = knee_tps.zip(bound_tps).map(|(k, b)| k / b);
    let share_of_bound_with_transport = knee_tps.zip(bound_with_transport_tps).map(|(k, b)| k / b);
    let crypto_share_of_cpu = cpu_ms_per_transfer
        .filter(|_| floor_ms > 0.0)
        .map(|c| floor_ms / c);
    say(
        o.quiet,
        &format!(
            "[{name}] knee {}{}",
            knee_tps.map_or("none (no step passed)".into(), |k| format!("{k}/s")),
            share_of_bound.map_or(String::new(), |s| format!(
                ", {:.1} % of the crypto bound",
                s * 100.0
            ))
        ),
    );
    let overload = match (o.overload, knee_step) {
        (Some(d), Some(k)) => Some(overload(o, env, case, k, d, dir).await?),
        _ => None,
    };
    Ok(CaseResult {
        case: name,
        flow: case.flow.as_str().into(),
        security: match case.security {
            Security::Full => "full".into(),
            Security::None => "none".into(),
        },
        signatures,
        verifications,
        measured,
        floor_ms,
        analytic_floor_ms,
        bound_tps,
        knee_tps,
        cpu_ms_per_transfer,
        share_of_bound,
        crypto_share_of_cpu,
        exchanges,
        transport_floor_ms,
        bound_with_transport_tps,
        share_of_bound_with_transport,
        steps,
        overload,
    })
}

/// Offers 2× the knee for `d`, then half the knee for 15 s.
async fn overload(
    o: &BenchLocalOptions,
    env: &LocalEnv,
    case: Case,
    knee: &Step,
    d: Duration,
    dir: &Path,
) -> Result<Overload> {
    let name = case.name();
    let offered = round_rate(knee.rate * 2.0);
    let low = round_rate(knee.rate / 2.0);
    let low_for = Duration::from_secs(15);
    let mut scenario = Scenario::constant(&format!("overload-{name}"), case.flow, offered, d);
    scenario.stages.push(load::scenario::Stage {
        rate: low,
        duration: low_for,
        ramp: false,
    });
    scenario.cooldown = Duration::ZERO;
    say(
        o.quiet,
        &format!(
            "[{name}] overload: {offered}/s for {:.0} s, then {low}/s for {:.0} s",
            d.as_secs_f64(),
            low_for.as_secs_f64()
        ),
    );
    let rss_before_mb = rss_mb();
    let peak = Arc::new(AtomicU64::new(rss_before_mb.to_bits()));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let now = rss_mb();
                if now > f64::from_bits(peak.load(Ordering::Relaxed)) {
                    peak.store(now.to_bits(), Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let file = format!("{name}-overload-{offered}.json");
    let result = run_step(env, &scenario, dir, &file).await;
    done.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let (report, path) = result?;
    let rss_peak_mb = f64::from_bits(peak.load(Ordering::Relaxed));
    let over_s = d.as_secs();
    let held: Vec<u64> = report
        .timeline
        .iter()
        .filter(|s| s.second >= 5.min(over_s / 2) && s.second < over_s)
        .map(|s| s.committed)
        .collect();
    let held_tps = if held.is_empty() {
        0.0
    } else {
        held.iter().sum::<u64>() as f64 / held.len() as f64
    };
    let recovery_s = report
        .timeline
        .iter()
        .filter(|s| s.second >= over_s && s.started > 0)
        .find(|s| s.committed as f64 >= 0.99 * s.started as f64 && s.p99_ms < 500.0)
        .map(|s| (s.second - over_s) as f64);
    let r = Overload {
        offered,
        duration_s: d.as_secs_f64(),
        held_tps,
        held_share_of_knee: if knee.achieved_tps > 0.0 {
            held_tps / knee.achieved_tps
        } else {
            0.0
        },
        rss_peak_mb,
        rss_before_mb,
        recovery_s,
        arrivals: report.arrivals,
        committed: report.committed,
        not_sent: report.not_sent,
        adds_up: report.adds_up(),
        report: path,
    };
    say(
        o.quiet,
        &format!(
            "[{name}] overload: held {:.0}/s ({:.1} % of the knee's {:.0}/s), RSS {:.0} → peak {:.0} MB, recovered {}, {} arrivals: {} committed, {} not sent, accounting {}",
            r.held_tps,
            r.held_share_of_knee * 100.0,
            knee.achieved_tps,
            r.rss_before_mb,
            r.rss_peak_mb,
            r.recovery_s.map_or("never".into(), |s| format!("after {s:.0} s")),
            r.arrivals,
            r.committed,
            r.not_sent,
            if r.adds_up { "adds up" } else { "FAILED" }
        ),
    );
    Ok(r)
}

impl BenchLocal {
    /// The text table.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        s += &format!(
            "perfbed bench local {} ({}) — {} core(s) {:?}{} of {} (AVX-512 IFMA: {}), load {} at start, {:.0} s\n",
            self.version,
            self.api,
            m.cores,
            m.cpus,
            if m.pinned { " pinned" } else { "" },
            m.cpu_model,
            if m.avx512ifma { "yes" } else { "no" },
            m.loadavg_start.map_or("?".into(), |l| format!("{l:.2}")),
            self.wall_s,
        );
        if let Some(c) = &self.crypto {
            s += &format!(
                "RS256 ({}; {}): sign {:.1} µs, verify {:.1} µs per operation (thread CPU, {} / {} ops)\n",
                c.key, c.provider, c.sign_us, c.verify_us, c.signs, c.verifies
            );
        }
        for t in &self.transport {
            s += &format!(
                "one HTTP exchange ({}): {:.1} CPU-µs, both ends and the kernel (perfbed's client and server on one thread, {} in flight, {} B body)\n",
                t.label(),
                t.us_per_exchange,
                t.in_flight,
                t.body_bytes
            );
        }
        s += &format!("knee = highest offered rate with {}\n\n", self.criteria);
        s += "| case | knee /s | CPU-ms per transfer | crypto floor ms (signs+verifies) | bound /s | share of bound | RSA share of CPU | transport floor ms (exchanges) | crypto+transport bound /s | share of it | steps |\n";
        s += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
        for c in &self.cases {
            let steps: Vec<String> = c
                .steps
                .iter()
                .map(|st| format!("{}{}", st.rate, if st.passed { "✓" } else { "✗" }))
                .collect();
            s += &format!(
                "| {} | {} | {} | {} | {} | {} | {} | {:.3} ({}) | {} | {} | {} |\n",
                c.case,
                c.knee_tps.map_or("none".into(), |k| format!("{k}")),
                c.cpu_ms_per_transfer
                    .map_or("-".into(), |v| format!("{v:.3}")),
                match (&c.measured, c.floor_ms > 0.0) {
                    (Some(m), true) => format!(
                        "{:.3} ({:.2}+{:.2} counted, hub {:.2} of the verifies, {:.3} TLS; {}+{} analytic)",
                        c.floor_ms,
                        m.jws_signs,
                        m.jws_verifies,
                        m.hub_jws_verifies.unwrap_or(0.0),
                        m.tls_handshakes,
                        c.signatures,
                        c.verifications
                    ),
                    (None, true) => {
                        format!("{:.3} ({}+{} analytic)", c.floor_ms, c.signatures, c.verifications)
                    }
                    _ => "-".into(),
                },
                c.bound_tps.map_or("-".into(), |b| format!("{b:.0}")),
                c.share_of_bound
                    .map_or("-".into(), |v| format!("{:.1} %", v * 100.0)),
                c.crypto_share_of_cpu
                    .map_or("-".into(), |v| format!("{:.0} %", v * 100.0)),
                c.transport_floor_ms,
                c.exchanges,
                c.bound_with_transport_tps
                    .map_or("-".into(), |b| format!("{b:.0}")),
                c.share_of_bound_with_transport
                    .map_or("-".into(), |v| format!("{:.1} %", v * 100.0)),
                steps.join(" ")
            );
        }
        for c in &self.cases {
            if let Some(ov) = &c.overload {
                s += &format!(
                    "\noverload {}: offered {}/s for {:.0} s (2× the knee): held {:.0}/s = {:.1} % of the knee's achieved rate; RSS {:.0} → peak {:.0} MB; recovery {}; {} arrivals = {} committed + {} not sent + {} other; accounting {}\n",
                    c.case,
                    ov.offered,
                    ov.duration_s,
                    ov.held_tps,
                    ov.held_share_of_knee * 100.0,
                    ov.rss_before_mb,
                    ov.rss_peak_mb,
                    ov.recovery_s.map_or("none within the low stage".into(), |r| format!("{r:.0} s after the drop")),
                    ov.arrivals,
                    ov.committed,
                    ov.not_sent,
                    ov.arrivals.saturating_sub(ov.committed + ov.not_sent),
                    if ov.adds_up { "adds up" } else { "FAILED" },
                );
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_parse_and_name_round_trip() {
        for s in ["p2p-full", "transfer-none", "quote-transfer-full"] {
            assert_eq!(Case::parse(s).expect("valid").name(), s);
        }
        assert!(Case::parse("p2p").is_err());
        assert!(Case::parse("p2p-half").is_err());
        assert!(Case::parse("ping-full").is_err());
    }

    #[test]
    fn rates_round_to_readable_numbers() {
        assert_eq!(round_rate(437.0), 440.0);
        assert_eq!(round_rate(1234.0), 1230.0);
        assert_eq!(round_rate(0.2), 1.0);
        assert_eq!(round_rate(96.0), 96.0);
    }
}
