//! `perfbed run`: offer a scenario's load to any hub — a real Mojaloop or `perfbed hub` — from
//! in-process payer simulators, then write the report.

use anyhow::{Context, Result};
use clap::Args;
use load::Scenario;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Run a scenario against a hub.
///
/// Starts a perffsp simulator for the scenario's payer FSPs (listening on --listen: the hub's
/// callback endpoints for those payers must point there), then offers the scenario's load
/// through the hub to the payees (your perffsp simulators, onboarded and with their numbers
/// registered: see `perfbed onboard` and `perfbed msisdn seed`). Writes
/// OUT/<scenario>-<timestamp>/report.{json,md,html}; exit code 1 when a threshold fails.
///
/// Example (hub emulator and payee simulators already running and onboarded):
///   perfbed run scenarios/baseline-100tps.toml --hub http://127.0.0.1:3000 --listen 127.0.0.1:4001 --no-jws
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Scenario file (TOML), e.g. scenarios/target-1000tps.toml.
    scenario: PathBuf,
    #[command(flatten)]
    hub: crate::tls_args::HubUrlArgs,
    /// Where the payer simulators listen for callbacks.
    #[arg(long, default_value = "127.0.0.1:4001")]
    listen: SocketAddr,
    #[command(flatten)]
    jws: crate::tls_args::JwsArgs,
    /// The payees' ILP secret (needed for `flow = "transfer"`, where the driver builds packets).
    #[arg(
        long,
        env = "PERFBED_ILP_SECRET",
        default_value = sim::config::TEST_ILP_SECRET,
        hide_default_value = true
    )]
    ilp_secret: String,
    #[command(flatten)]
    server_tls: crate::tls_args::ServerTlsArgs,
    #[command(flatten)]
    client_tls: crate::tls_args::ClientTlsArgs,
    /// Where results go.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// No progress lines.
    #[arg(long, short)]
    quiet: bool,
    /// Serve Prometheus metrics of the run at ADDR/metrics while it runs.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Distributed run: this driver is replica I of N (e.g. `0/3`; in a Kubernetes Indexed Job
    /// `$(JOB_COMPLETION_INDEX)/3`). It runs the arrivals whose index ≡ I (mod N), stamps its
    /// ids with I, looks up only its slice of the numbers, and relays callbacks that belong to
    /// another replica to it. Merge the replicas' results with `perfbed report merge`.
    #[arg(long, value_name = "I/N", env = "PERFBED_REPLICA", requires = "peers")]
    replica: Option<String>,
    /// Every replica's callback base URL, in index order: a template with `{i}` (e.g.
    /// `http://perfbed-load-{i}.perfbed-load:4001`) or a comma-separated list.
    #[arg(long, value_name = "URLS", env = "PERFBED_PEERS", requires = "replica")]
    peers: Option<String>,
    /// Testbed file of the switch (admin API, Kafka): the report then carries switch-side
    /// evidence — Kafka counts, validity ratios and lag over the steady-state window, and every
    /// FSP's position and headroom before and after.
    #[arg(long, short = 't', value_name = "FILE", env = "PERFBED_TESTBED")]
    testbed: Option<PathBuf>,
    /// Distributed run: keep relaying peers' callbacks this long after this replica's own
    /// iterations have ended.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "3s")]
    linger: Duration,
}

fn parse_replica(spec: &str, peers: &str) -> Result<sim::Replicas> {
    let bad = || anyhow::anyhow!("--replica wants I/N with 0 ≤ I < N, e.g. 0/3 (got '{spec}')");
    let (i, n) = spec.split_once('/').ok_or_else(bad)?;
    let (i, n): (u16, u16) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    sim::Replicas::new(i, n, sim::Replicas::peers_from(peers, n))
        .map_err(|e| anyhow::anyhow!("--peers: {e}"))
}

pub(crate) fn run(args: RunArgs) -> Result<bool> {
    crate::init_logging("warn");
    let text = std::fs::read_to_string(&args.scenario)
        .with_context(|| format!("cannot read {}", args.scenario.display()))?;
    let scenario =
        Scenario::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", args.scenario.display()))?;
    let mut payers: Vec<String> = scenario.corridors.iter().map(|c| c.payer.clone()).collect();
    payers.sort();
    payers.dedup();
    let mut config = sim::SimConfig::new(&payers, &args.hub.hub);
    config.hub = args.hub.urls();
    config.replicas = match (&args.replica, &args.peers) {
        (Some(r), Some(p)) => Some(parse_replica(r, p)?),
        _ => None,
    };
    let replica = config.replicas.clone();
    config.ilp_secret = args.ilp_secret.clone();
    let keys = args.jws.apply(&mut config)?;
    let server_tls = args.server_tls.load()?;
    let client_tls = args.client_tls.load()?;
    let sim = sim::Sim::new(config, keys, client_tls)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let running = sim::start(sim, args.listen, server_tls).await?;
        if !args.quiet {
            eprintln!(
                "perfbed run: {} — {}; payers {} listening on {}://{}; hub {}",
                scenario.name,
                scenario.description,
                payers.join(", "),
                args.server_tls.scheme(),
                running.addr,
                args.hub.hub
            );
        }
        let progress: Option<Arc<dyn load::Progress>> = if args.quiet {
            None
        } else {
            Some(Arc::new(load::Stderr))
        };
        let mut drivers = load::Payers::new(&[running.sim().clone()], &args.ilp_secret);
        if let Some(r) = &replica {
            drivers = drivers.replica(r.clone());
        }
        // Live metrics for a Prometheus scrape while the run goes (--metrics-listen).
        let live = Arc::new(load::live::LiveMetrics::default());
        let _metrics = match args.metrics_listen {
            Some(addr) => Some(crate::local::serve_metrics(addr, live.clone()).await?),
            None => None,
        };
        let testbed = match &args.testbed {
            Some(p) => Some(ops::Testbed::load(p).map_err(|e| anyhow::anyhow!(e))?),
            None => None,
        };
        let watch = testbed.as_ref().map(|t| SwitchWatch::start(t, &scenario));
        let before = match &watch {
            Some(w) => w.positions().await,
            None => Ok(Vec::new()),
        };
        let mut report = load::run_with(&scenario, drivers, progress, Some(live)).await;
        if let Some(w) = watch {
            report.switch = Some(w.finish(before).await);
        }
        let name = match &replica {
            Some(r) => {
                // Peers may still be waiting for callbacks that land here.
                tokio::time::sleep(args.linger).await;
                if !args.quiet {
                    eprintln!(
                        "replica {}/{}: relayed {} callbacks to their owners",
                        r.index,
                        r.count,
                        running.sim().metrics().relayed_total()
                    );
                }
                format!("{}-replica{}", scenario.name, r.index)
            }
            None => scenario.name.clone(),
        };
        running.shutdown(Duration::from_secs(5)).await;
        crate::local::write_report(&args.out, &name, &report)?;
        Ok(report.passed)
    })
}

/// Switch-side evidence collected around a run (real Mojaloop): Kafka high watermarks at the
/// window's start and end (and lag at the end), positions before and after.
pub(crate) struct SwitchWatch {
    admin: Option<ops::Admin>,
    fsps: Vec<String>,
    currency: String,
    kafka: Option<tokio::task::JoinHandle<Result<load::report::KafkaEvidence, String>>>,
}

fn money3(p: &ops::positions::FspPosition) -> [String; 3] {
    [
        p.position.value.to_string(),
        p.ndc_headroom().map_or("-".into(), |m| m.to_string()),
        p.liquidity().to_string(),
    ]
}

impl SwitchWatch {
    pub(crate) fn start(t: &ops::Testbed, s: &Scenario) -> SwitchWatch {
        let mut fsps: Vec<String> = s.fsps();
        fsps.sort();
        fsps.dedup();
        let kafka = t.hub.kafka.clone().map(|brokers| {
            let (warmup, end) = (s.warmup, s.total().saturating_sub(s.cooldown));
            tokio::spawn(async move {
                let topics = ops::kafka::MOJALOOP_TOPICS;
                let timeout = Duration::from_secs(10);
                let snap = |b: String| {
                    tokio::task::spawn_blocking(move || ops::kafka::snapshot(&b, topics, timeout))
                };
                let started = tokio::time::Instant::now();
                tokio::time::sleep_until(started + warmup).await;
                let first = snap(brokers.clone())
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                tokio::time::sleep_until(started + end).await;
                let last = snap(brokers.clone())
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                let g = ops::kafka::gate(&first, &last, &ops::kafka::default_ratios(), 0.05, 1);
                let b2 = brokers.clone();
                let lag =
                    tokio::task::spawn_blocking(move || ops::kafka::lag(&b2, &[], topics, timeout))
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .and_then(|rows| rows.iter().map(|r| r.lag).max());
                Ok(load::report::KafkaEvidence {
                    window_s: g.window_s,
                    counts: g.counts,
                    ratios: g
                        .ratios
                        .into_iter()
                        .map(|(r, v, ok)| (r.name, v, r.expect, ok))
                        .collect(),
                    pass: g.pass,
                    max_lag: lag,
                })
            })
        });
        SwitchWatch {
            admin: t.hub.admin.as_deref().map(ops::Admin::plain),
            fsps,
            currency: s.currency.clone(),
            kafka,
        }
    }

    pub(crate) async fn positions(&self) -> Result<Vec<ops::positions::FspPosition>, String> {
        match &self.admin {
            Some(a) => ops::positions::show_api(a, &self.fsps, &self.currency)
                .await
                .map_err(|e| e.to_string()),
            None => Err("no hub.admin in the testbed: positions not collected".into()),
        }
    }

    pub(crate) async fn finish(
        self,
        before: Result<Vec<ops::positions::FspPosition>, String>,
    ) -> load::report::SwitchEvidence {
        let mut ev = load::report::SwitchEvidence::default();
        match (before, self.positions().await) {
            (Ok(b), Ok(a)) => {
                ev.positions = b
                    .iter()
                    .zip(&a)
                    .map(|(b, a)| load::report::PositionChange {
                        fsp: b.fsp.clone(),
                        before: money3(b),
                        after: money3(a),
                    })
                    .collect();
            }
            (Err(e), _) | (_, Err(e)) => ev.notes.push(format!("positions: {e}")),
        }
        match self.kafka {
            Some(task) => match task.await {
                Ok(Ok(k)) => ev.kafka = Some(k),
                Ok(Err(e)) => ev.notes.push(format!("kafka: {e}")),
                Err(e) => ev.notes.push(format!("kafka: {e}")),
            },
            None => ev
                .notes
                .push("no hub.kafka in the testbed: Kafka not watched".into()),
        }
        ev
    }
}
