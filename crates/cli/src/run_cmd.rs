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
/// OUT/<scenario>-<timestamp>/report.{json,md,html} (stress.{json,md,html} for a scenario with
/// [stress]); the last line printed is a one-line summary; exit code 1 when a threshold fails.
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
    /// API spoken: `fspiop`, or `iso20022` (ISO 20022 bodies and media types, version 2.0,
    /// ULID ids, ILP v4; what a switch runs with API_TYPE=iso20022).
    /// Wins over the scenario's `api`; the hub must speak the same.
    #[arg(long, value_enum, env = "PERFBED_API")]
    api: Option<crate::api_arg::ApiArg>,
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
    /// Start the load at this time, waiting for it after the payer simulators listen: RFC 3339
    /// (`2026-03-01T12:00:00Z`) or Unix seconds (`1772366400`). Give every replica of a
    /// distributed run the same time, so they offer their shares together (`report merge`
    /// refuses replicas whose measured windows overlap less than 90 %). A time already past
    /// starts at once (the report notes by how much, beyond a second).
    #[arg(long, value_name = "TIME", env = "PERFBED_START_AT", value_parser = parse_start_at)]
    start_at: Option<std::time::SystemTime>,
    /// Testbed file of the switch (admin API, Kafka): the report then carries switch-side
    /// evidence, read after the switch drained (Kafka lag 0, or the last expiry plus the
    /// ledger's timeout sweep) — the Kafka messages of this run's transfers (matched by the
    /// run's id prefix) from its start, their validity ratios and the lag, and every FSP's
    /// position and headroom before and after.
    #[arg(long, short = 't', value_name = "FILE", env = "PERFBED_TESTBED")]
    testbed: Option<PathBuf>,
    /// The switch's own histograms per leg in the report: scrape this `/metrics` endpoint
    /// during the run, given as SERVICE=URL (`central-ledger=http://cl-handlers:3001/metrics`;
    /// repeat for each service). Added to the testbed file's [switch_metrics] endpoints.
    #[arg(long, value_name = "SERVICE=URL", value_parser = parse_endpoint)]
    metrics_endpoint: Vec<ops::testbed::MetricsEndpoint>,
    /// The switch's own histograms per leg from this Prometheus server's HTTP API
    /// (`http://prometheus:9090`), asked after the run over its window. Wins over the testbed
    /// file's [switch_metrics] prometheus.
    #[arg(long, value_name = "URL", value_parser = parse_prometheus)]
    prometheus: Option<String>,
    /// Run id (1–64 of [A-Za-z0-9._-]), shared by every replica of one run: reports carry it
    /// (`report merge` refuses mixed runs) and every transfer id starts with its 8-hex tag,
    /// which is how the cross-check finds this run's transfers in the ledger and the Kafka
    /// gate its messages on the topics (the tag is FNV-1a of the id: the same id, the same
    /// prefix). Required with --replica; default: random.
    #[arg(long, env = "PERFBED_RUN_ID")]
    run_id: Option<String>,
    /// The real central-ledger's database (mysql://user:pass@host:3306/central_ledger): the
    /// cross-check and the reconciliation ask it. Wins over the testbed file's ledger_db;
    /// without either, the hub emulator's admin API is asked.
    #[arg(long, value_name = "URL", env = "PERFBED_LEDGER_DB")]
    ledger_db: Option<String>,
    /// Do not cross-check the driver's counts against the switch's ledger (the testbed's
    /// ledger_db, or the hub emulator's admin API). A disagreement otherwise fails the run.
    #[arg(long)]
    no_crosscheck: bool,
    /// Distributed run: keep relaying peers' callbacks this long after this replica's own
    /// iterations have ended.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "3s")]
    linger: Duration,
    /// Distributed run: the largest uncertainty accepted of a peer replica's clock offset.
    /// Each replica measures every peer's clock on the relay link (repeated request/response
    /// exchanges; the uncertainty is half the best round trip) and converts the receipt times
    /// of the callbacks the peer relays to it with that offset, so clock offsets between nodes
    /// do not move latency. The run fails when a peer relayed callbacks and its offset was never
    /// measured or was more uncertain than this; the report lists every offset measured.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "20ms")]
    max_clock_uncertainty: Duration,
    /// TEST ONLY: shift this driver's simulator wall clock by this many milliseconds (may be
    /// negative): how tests run replicas whose clocks disagree. Never use it in a real run.
    #[arg(
        long,
        hide = true,
        env = "PERFBED_TEST_CLOCK_SHIFT_MS",
        allow_hyphen_values = true,
        default_value_t = 0
    )]
    test_clock_shift_ms: i64,
    /// Also write JUnit XML here, for CI: one test case per threshold, one for the accounting
    /// and one for the cross-check (a stress run: the recovery instead of thresholds).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

fn parse_prometheus(url: &str) -> Result<String, String> {
    if url.starts_with("http://") {
        Ok(url.to_owned())
    } else {
        Err(format!(
            "'{url}': give the Prometheus server's plain http:// base URL (http://prometheus:9090)"
        ))
    }
}

fn parse_endpoint(spec: &str) -> Result<ops::testbed::MetricsEndpoint, String> {
    match spec.split_once('=') {
        Some((service, url)) if !service.is_empty() && url.starts_with("http://") => {
            Ok(ops::testbed::MetricsEndpoint {
                service: service.to_owned(),
                url: url.to_owned(),
            })
        }
        _ => Err(format!(
            "'{spec}': give SERVICE=URL with a plain http:// URL (central-ledger=http://cl-handlers:3001/metrics)"
        )),
    }
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

/// `--start-at`: RFC 3339, or Unix seconds (a fraction allowed).
fn parse_start_at(s: &str) -> Result<std::time::SystemTime, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        if !(secs.is_finite() && secs >= 0.0) {
            return Err(format!("'{s}': Unix seconds must be ≥ 0"));
        }
        return std::time::UNIX_EPOCH
            .checked_add(Duration::from_secs_f64(secs))
            .ok_or_else(|| format!("'{s}': too far in the future"));
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            format!("'{s}': neither Unix seconds nor RFC 3339 (2026-03-01T12:00:00Z): {e}")
        })?;
    Ok(std::time::SystemTime::from(t))
}

/// The run id given, or a random one.
pub(crate) fn run_id(given: Option<&str>) -> Result<load::RunId> {
    match given {
        Some(id) => load::RunId::new(id).map_err(|e| anyhow::anyhow!("--run-id: {e}")),
        None => Ok(load::RunId::random()),
    }
}

pub(crate) fn run(args: RunArgs) -> Result<bool> {
    crate::init_logging("warn");
    if args.replica.is_some() && args.run_id.is_none() {
        anyhow::bail!(
            "--replica needs --run-id (the same for every replica of the run, e.g. the Job's name), so their reports can be merged"
        );
    }
    let run_id = run_id(args.run_id.as_deref())?;
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
    config.test_clock_shift_ns = args.test_clock_shift_ms.saturating_mul(1_000_000);
    config.ilp_secret = args.ilp_secret.clone();
    config.api = crate::api_arg::effective(args.api, scenario.api);
    let keys = args.jws.apply(&mut config)?;
    let security = format!(
        "{}, {}",
        if config.jws { "JWS" } else { "no JWS" },
        args.server_tls.describe()
    );
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
        let mut drivers =
            load::Payers::new(&[running.sim().clone()], &args.ilp_secret).run_id(run_id);
        if let Some(r) = &replica {
            drivers = drivers
                .replica(r.clone())
                .max_clock_uncertainty(args.max_clock_uncertainty);
        }
        // Live metrics for a Prometheus scrape while the run goes (--metrics-listen).
        let live = Arc::new(load::live::LiveMetrics::default());
        let _metrics = match args.metrics_listen {
            Some(addr) => Some(testbed::metrics::serve_metrics(addr, live.clone()).await?),
            None => None,
        };
        let mut testbed = match &args.testbed {
            Some(p) => Some(ops::Testbed::load(p).map_err(|e| anyhow::anyhow!(e))?),
            None => None,
        };
        if let (Some(t), Some(db)) = (&mut testbed, &args.ledger_db) {
            t.hub.ledger_db = Some(db.clone());
        }
        // The hub emulator serves its admin API under the FSPIOP address; a real switch
        // answers 404 there, and then only a testbed's ledger_db gives a cross-check.
        let admin = testbed
            .as_ref()
            .and_then(|t| t.hub.admin.clone())
            .unwrap_or_else(|| format!("{}/admin", args.hub.hub.trim_end_matches('/')));
        let target = testbed::Target {
            payers: drivers,
            ledger: match (&testbed, &args.ledger_db) {
                (None, Some(db)) => testbed::Ledger::Sql(db.clone()),
                _ => testbed::Ledger::choose(testbed.as_ref(), Some(args.client_tls.admin(&admin)?)),
            },
            testbed,
        };
        let name = match &replica {
            Some(r) => format!("{}-replica{}", scenario.name, r.index),
            None => scenario.name.clone(),
        };
        let options = testbed::Options {
            progress,
            live: Some(live),
            crosscheck: !args.no_crosscheck,
            name: Some(name),
            security: Some(security),
            hub_operations: None,
            hub_metrics: None,
            metrics_sources: ops::testbed::SwitchMetricsSources {
                endpoints: args.metrics_endpoint.clone(),
                prometheus: args.prometheus.clone(),
                ..Default::default()
            },
            start_at: args.start_at,
        };
        let outcome = testbed::execute(&scenario, &target, &args.out, &options).await;
        if let Some(r) = &replica {
            // Peers may still be waiting for callbacks that land here.
            tokio::time::sleep(args.linger).await;
            if !args.quiet {
                eprintln!(
                    "replica {}/{}: relayed {} callbacks to their owners",
                    r.index,
                    r.count,
                    running.sim().metrics().relayed_total()
                );
                // What this replica measured of its peers' clocks (the report has the same,
                // counted over the run).
                for p in running.sim().peer_clocks().unwrap_or_default() {
                    eprintln!(
                        "replica {}/{}: clock of replica {}: {}, {} exchanges ({} failed); {} callbacks it relayed here converted with it, {} before it was measured, {} before their request was sent",
                        r.index,
                        r.count,
                        p.peer,
                        match (p.offset_ns, p.uncertainty_ns) {
                            (Some(o), Some(u)) => format!(
                                "offset {:+.3} ms ±{:.3}",
                                o as f64 / 1e6,
                                u as f64 / 1e6
                            ),
                            _ => "offset unknown".into(),
                        },
                        p.samples,
                        p.failures,
                        p.relayed,
                        p.unconverted,
                        p.before_send
                    );
                }
            }
        }
        running.shutdown(Duration::from_secs(5)).await;
        let outcome = outcome?;
        if let Some(path) = &args.junit {
            testbed::junit::write_outcome(path, &outcome)?;
        }
        // Last: the one line a CI log shows.
        println!("{}", outcome.summary());
        Ok(outcome.passed())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_at_reads_rfc3339_and_unix_seconds_alike() {
        let unix = parse_start_at("1772366400").unwrap();
        assert_eq!(parse_start_at("2026-03-01T12:00:00Z").unwrap(), unix);
        assert_eq!(parse_start_at("2026-03-01T14:00:00+02:00").unwrap(), unix);
        assert_eq!(
            parse_start_at("1772366400.5").unwrap(),
            unix + Duration::from_millis(500)
        );
        for bad in ["", "tomorrow", "-1", "2026-03-01 12:00"] {
            assert!(parse_start_at(bad).is_err(), "{bad}");
        }
    }
}
