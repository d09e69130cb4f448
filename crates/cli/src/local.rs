//! `perfbed local`: the whole testbed in one process — hub emulator, one perffsp simulator per
//! FSP, onboarding and MSISDN registration through the real admin APIs, the scenario, the
//! report — then everything stops.

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use fspiop::jws::{generate_pem, Alg, KeyStore, SigningKey, VerifyMode, VerifyingKey};
use load::{Flow, Scenario};
use perfbed_http::tls::{client_config, generate_test_pki, server_config, TestPki};
use perfbed_http::{ClientOptions, HttpClient};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum Security {
    /// mTLS on every connection and JWS RS256 on every request with a body, keys made for the run.
    Full,
    /// Plain HTTP, no signatures.
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum FlowArg {
    /// Lookup → quote → transfer.
    P2p,
    /// Quote → transfer.
    QuoteTransfer,
    /// Transfer only.
    Transfer,
}

/// Run the whole testbed locally: hub emulator + 8 simulators + load + report.
///
/// Without a scenario file: a short smoke run (50 transfers/s for 20 s, P2P, seed corridors
/// 40 % 1→5, 25 % 2→6, 20 % 3→7, 15 % 4→8, seed thresholds). Flags override the file.
/// Results: OUT/<scenario>-<timestamp>/report.json, report.md and report.html; the exit code is 1 when a
/// threshold fails.
///
/// Examples:
///   perfbed local
///   perfbed local --rate 200 --duration 60s --flow transfer
///   perfbed local scenarios/baseline-100tps.toml --security none
#[derive(Debug, Args)]
pub(crate) struct LocalArgs {
    /// Scenario file (TOML); default: the built-in smoke run.
    scenario: Option<PathBuf>,
    /// Constant arrival rate per second (replaces the file's stages).
    #[arg(long)]
    rate: Option<f64>,
    /// Run length, e.g. 30s, 5m (with --rate, or alone to stretch a constant scenario).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Flow.
    #[arg(long, value_enum)]
    flow: Option<FlowArg>,
    /// Security of every connection.
    #[arg(long, value_enum, default_value = "full")]
    security: Security,
    /// Where results go.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// No progress lines.
    #[arg(long, short)]
    quiet: bool,
    /// Serve Prometheus metrics of the run at ADDR/metrics while it runs.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Emulate a slower switch: latency added at every hub stage (5ms, uniform:2ms:20ms,
    /// lognormal:10ms:0.5).
    #[arg(long, value_name = "SPEC")]
    hub_latency: Option<hub::Latency>,
    /// Emulate slower DFSPs: latency the payee simulators add before answering lookups,
    /// quotes and transfers (same forms as --hub-latency). The report's "Where the time goes"
    /// puts it in the simulator column, --hub-latency in the switch columns.
    #[arg(long, value_name = "SPEC")]
    payee_latency: Option<sim::Latency>,
}

fn scenario_from(args: &LocalArgs) -> Result<Scenario> {
    let mut s = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Scenario::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => Scenario::constant("smoke", Flow::P2p, 50.0, Duration::from_secs(20)),
    };
    if let Some(f) = args.flow {
        s.flow = match f {
            FlowArg::P2p => Flow::P2p,
            FlowArg::QuoteTransfer => Flow::QuoteTransfer,
            FlowArg::Transfer => Flow::Transfer,
        };
    }
    if args.rate.is_some() || args.duration.is_some() {
        let rate = args.rate.unwrap_or_else(|| s.peak_rate());
        let duration = args.duration.unwrap_or_else(|| s.total());
        let base = Scenario::constant(&s.name, s.flow, rate, duration);
        s.stages = base.stages;
        s.warmup = base.warmup;
        s.cooldown = base.cooldown;
    }
    s.validate().map_err(|e| anyhow::anyhow!("scenario: {e}"))?;
    Ok(s)
}

struct Pki {
    tls: TestPki,
    keys: Vec<(String, String, String)>,
}

impl Pki {
    fn new(fsps: &[String]) -> Result<Pki> {
        let mut clients = fsps.to_vec();
        clients.push("hub".into());
        let tls = generate_test_pki(&["localhost".into(), "127.0.0.1".into()], &clients)?;
        let keys = fsps
            .iter()
            .map(|f| generate_pem(Alg::RS256).map(|(private, public)| (f.clone(), private, public)))
            .collect::<Result<_, _>>()?;
        Ok(Pki { tls, keys })
    }

    fn store(&self, signing: Option<&str>) -> Result<KeyStore> {
        let mut s = KeyStore::new();
        for (f, private, public) in &self.keys {
            s.insert_verifying(f, VerifyingKey::from_pem(public.as_bytes())?);
            if signing == Some(f.as_str()) {
                s.insert_signing(f, SigningKey::from_pem(private.as_bytes())?);
            }
        }
        Ok(s)
    }

    fn server(&self) -> Result<Arc<rustls::ServerConfig>> {
        let t = &self.tls;
        Ok(server_config(
            t.server.cert.as_bytes(),
            t.server.key.as_bytes(),
            Some(t.ca.cert.as_bytes()),
        )?)
    }

    fn client(&self, who: &str) -> Result<Arc<rustls::ClientConfig>> {
        let pair = &self
            .tls
            .clients
            .iter()
            .find(|(n, _)| n == who)
            .context("no client certificate")?
            .1;
        Ok(client_config(
            self.tls.ca.cert.as_bytes(),
            Some((pair.cert.as_bytes(), pair.key.as_bytes())),
        )?)
    }
}

const ILP_SECRET: &str = "perfbed-local-ilp-secret";

pub(crate) fn run(args: LocalArgs) -> Result<bool> {
    crate::init_logging("warn");
    let scenario = scenario_from(&args)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(local(args, scenario))
}

/// The local testbed: hub emulator, one simulator per FSP (perffsp1..8), onboarded, with the
/// payees' numbers registered. Shared by `perfbed local` and `perfbed suite --local`.
pub(crate) struct LocalEnv {
    hub: hub::Running,
    sims: Vec<sim::Running>,
    /// Admin API client (TLS when the security is full).
    pub admin: ops::Admin,
}

/// How to build a [`LocalEnv`].
pub(crate) struct EnvOptions {
    pub security: Security,
    pub hub_latency: Option<hub::Latency>,
    pub payee_latency: Option<sim::Latency>,
    pub quiet: bool,
}

impl LocalEnv {
    /// Starts everything and registers `msisdns` numbers for every payee of `scenarios`.
    pub async fn start(o: &EnvOptions, scenarios: &[&Scenario]) -> Result<LocalEnv> {
        let fsps: Vec<String> = (1..=8).map(fspiop::testbed::fsp_id).collect();
        for sc in scenarios {
            for f in sc.fsps() {
                if !fsps.contains(&f) {
                    bail!("the scenario '{}' uses '{f}', but the local testbed runs perffsp1..perffsp8", sc.name);
                }
            }
        }
        let full = o.security == Security::Full;
        let pki = if full { Some(Pki::new(&fsps)?) } else { None };
        let scheme = if full { "https" } else { "http" };

        // Hub.
        let hub_config = hub::HubConfig {
            sweep_every: Duration::from_secs(1),
            latency: hub::StageLatency::all(o.hub_latency.clone().unwrap_or_default()),
            jws: match &pki {
                Some(p) => Some((Arc::new(p.store(None)?), VerifyMode::Strict)),
                None => None,
            },
            ..hub::HubConfig::default()
        };
        let hub_tls_out = pki.as_ref().map(|p| p.client("hub")).transpose()?;
        let hub_tls_in = pki.as_ref().map(Pki::server).transpose()?;
        let hub = hub::start(
            hub::Hub::new(hub_config, hub_tls_out),
            "127.0.0.1:0".parse()?,
            hub_tls_in,
        )
        .await
        .context("cannot start the hub emulator")?;
        let hub_url = format!("{scheme}://127.0.0.1:{}", hub.addr.port());

        // Simulators, one per FSP.
        let mut sims = Vec::new();
        for f in &fsps {
            let mut c = sim::SimConfig::new(std::slice::from_ref(f), &hub_url);
            c.jws = full;
            c.verify_mode = VerifyMode::Strict;
            c.ilp_secret = ILP_SECRET.into();
            if let Some(l) = &o.payee_latency {
                for b in c.fsps.values_mut() {
                    b.lookup_latency = l.clone();
                    b.quote_latency = l.clone();
                    b.transfer_latency = l.clone();
                }
            }
            let keys = match &pki {
                Some(p) => p.store(Some(f))?,
                None => KeyStore::new(),
            };
            let out = pki.as_ref().map(|p| p.client(f)).transpose()?;
            let inbound = pki.as_ref().map(Pki::server).transpose()?;
            let s = sim::Sim::new(c, keys, out)?;
            sims.push(sim::start(s, "127.0.0.1:0".parse()?, inbound).await?);
        }
        let say = |m: &str| {
            if !o.quiet {
                eprintln!("{m}");
            }
        };
        say(&format!(
            "started hub emulator at {hub_url} and {} simulators",
            sims.len()
        ));

        // Onboarding and MSISDNs through the admin APIs.
        let admin_client = HttpClient::new(ClientOptions {
            tls: pki.as_ref().map(|p| p.client("hub")).transpose()?,
            ..ClientOptions::default()
        });
        let admin = ops::Admin::new(&format!("{hub_url}/admin"), admin_client.clone());
        let currency = scenarios
            .first()
            .map_or("XXX".to_owned(), |s| s.currency.clone());
        let onboarding = ops::Onboarding {
            currency: currency.clone(),
            ndc: LOCAL_NDC,
            funds: LOCAL_FUNDS,
            dfsps: fsps
                .iter()
                .zip(&sims)
                .map(|(f, s)| ops::Dfsp {
                    name: f.clone(),
                    callback_base: format!("{scheme}://127.0.0.1:{}", s.addr.port()),
                })
                .collect(),
        };
        let report = ops::onboard(&admin, &onboarding)
            .await
            .context("onboarding failed")?;
        let oracle = ops::Admin::new(&format!("{hub_url}/oracle"), admin_client);
        let mut wanted: std::collections::BTreeMap<String, u32> = Default::default();
        for sc in scenarios {
            for c in &sc.corridors {
                let n = wanted.entry(c.payee.clone()).or_default();
                *n = (*n).max(sc.msisdns_per_fsp);
            }
        }
        let mut registered = 0;
        for (payee, count) in &wanted {
            let range = ops::msisdn::Range::of(payee, *count)?;
            let done =
                ops::msisdn::seed_oracle(&oracle, &range, &currency, &Default::default()).await?;
            registered += done.written + done.skipped;
        }
        say(&format!(
            "onboarded {} DFSPs ({} changes), registered {registered} MSISDNs",
            fsps.len(),
            report.changed.len(),
        ));
        Ok(LocalEnv { hub, sims, admin })
    }

    /// Every simulator as a payer.
    pub fn payers(&self) -> load::Payers {
        load::Payers::new(
            &self
                .sims
                .iter()
                .map(|s| s.sim().clone())
                .collect::<Vec<_>>(),
            ILP_SECRET,
        )
    }

    /// Stops everything; the hub ledger's counts.
    pub async fn stop(self) -> hub::ledger::Counts {
        for s in self.sims {
            s.shutdown(Duration::from_secs(5)).await;
        }
        let counts = self.hub.hub().ledger.counts();
        self.hub.shutdown(Duration::from_secs(5)).await;
        counts
    }
}

/// NDC and funds of the local testbed's DFSPs: large enough that positions never limit a run.
pub(crate) const LOCAL_NDC: u64 = 1_000_000_000;
/// See [`LOCAL_NDC`].
pub(crate) const LOCAL_FUNDS: u64 = 10_000_000_000;

async fn local(args: LocalArgs, scenario: Scenario) -> Result<bool> {
    let full = args.security == Security::Full;
    if !args.quiet {
        eprintln!(
            "perfbed local: {} — {} ({}), security {}",
            scenario.name,
            scenario.description,
            scenario.flow.as_str(),
            if full {
                "full (mTLS + JWS RS256)"
            } else {
                "none"
            }
        );
    }
    let env = LocalEnv::start(
        &EnvOptions {
            security: args.security,
            hub_latency: args.hub_latency.clone(),
            payee_latency: args.payee_latency.clone(),
            quiet: args.quiet,
        },
        &[&scenario],
    )
    .await?;
    if !args.quiet {
        eprintln!("running {:.0} s …", scenario.total().as_secs_f64());
    }
    let progress: Option<Arc<dyn load::Progress>> = if args.quiet {
        None
    } else {
        Some(Arc::new(load::Stderr))
    };
    let outcome = execute(
        &scenario,
        env.payers(),
        progress,
        &args.out,
        args.metrics_listen,
    )
    .await;
    let hub_counts = env.stop().await;

    let (passed, adds_up) = outcome?;
    println!(
        "hub ledger: {} prepared, {} committed, {} aborted, {} expired; accounting {}",
        hub_counts.prepared,
        hub_counts.committed,
        hub_counts.aborted,
        hub_counts.expired,
        if adds_up {
            "adds up"
        } else {
            "DOES NOT ADD UP"
        }
    );
    Ok(passed)
}

/// Runs a scenario (or its stress ramp) and writes the results; `(passed, accounting adds up)`.
pub(crate) async fn execute(
    scenario: &Scenario,
    payers: load::Payers,
    progress: Option<Arc<dyn load::Progress>>,
    out: &std::path::Path,
    metrics_listen: Option<std::net::SocketAddr>,
) -> Result<(bool, bool)> {
    let live = Arc::new(load::live::LiveMetrics::default());
    let _server = match metrics_listen {
        Some(addr) => Some(serve_metrics(addr, live.clone()).await?),
        None => None,
    };
    let live = Some(live);
    match &scenario.stress {
        None => {
            let report = load::run_with(scenario, payers, progress, live).await;
            write_report(out, &scenario.name, &report)?;
            Ok((report.passed, report.adds_up()))
        }
        Some(plan) => {
            let stress = load::stress::run_with(scenario, plan, payers, progress, live).await;
            let dir = result_dir(out, &scenario.name)?;
            std::fs::write(dir.join("stress.json"), serde_json::to_vec_pretty(&stress)?)?;
            let md = stress.to_markdown();
            std::fs::write(dir.join("stress.md"), &md)?;
            println!("{md}");
            println!("stress report: {}", dir.join("stress.json").display());
            let adds_up = stress.stage_reports.iter().all(load::Report::adds_up);
            Ok((stress.recovered != Some(false), adds_up))
        }
    }
}

/// Stops the metrics server when dropped.
pub(crate) struct MetricsServer(tokio_util::sync::CancellationToken);

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

pub(crate) async fn serve_metrics(
    addr: std::net::SocketAddr,
    live: Arc<load::live::LiveMetrics>,
) -> Result<MetricsServer> {
    let (listener, bound) = perfbed_http::server::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for metrics"))?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let live = live.clone();
            async move {
                (
                    [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    live.render(),
                )
            }
        }),
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        perfbed_http::server::serve(
            listener,
            app,
            None,
            token.cancelled_owned(),
            Duration::from_secs(1),
        )
        .await
    });
    eprintln!("metrics: http://{bound}/metrics");
    Ok(MetricsServer(stop))
}

/// `YYYYMMDD-HHMMSS` (UTC), for result folder names.
pub(crate) fn timestamp() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Writes `path` whole or not at all (a temporary file beside it, then a rename).
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn result_dir(out: &std::path::Path, name: &str) -> Result<PathBuf> {
    let dir = out.join(format!("{name}-{}", timestamp()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Writes OUT/<name>-<timestamp>/report.{json,md,html} and prints the Markdown summary.
pub(crate) fn write_report(out: &std::path::Path, name: &str, report: &load::Report) -> Result<()> {
    let dir = result_dir(out, name)?;
    std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(report)?)?;
    let md = report.to_markdown();
    std::fs::write(dir.join("report.md"), &md)?;
    std::fs::write(dir.join("report.html"), report.to_html())?;
    // Last, and atomically: a folder with histograms.json is a complete result (report merge
    // --wait relies on it).
    write_atomic(&dir.join("histograms.json"), &report.histograms.to_json())?;

    println!("{md}");
    println!("report: {}", dir.join("report.html").display());
    Ok(())
}
