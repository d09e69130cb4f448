//! `perfbed sim`: run perffsp simulators from flags (a behaviours file is optional).

use anyhow::{bail, Context, Result};
use clap::Args;
use fspiop::jws::VerifyMode;
use sim::{BehaviourFile, Sim, SimConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Run perffsp DFSP simulators.
///
/// One process serves every --fsp given, routing requests by FSPIOP-Destination and signing as
/// that FSP. Payee: GET /parties, POST /quotes, POST /transfers are answered with signed
/// callbacks to the hub. Numbers: the i-th MSISDN of perffspN is 2547 + N (2 digits) + i
/// (6 digits), e.g. perffsp5 → 254705000001; other numbers get 3204.
///
/// Examples:
///   perfbed sim --fsp perffsp5 --fsp perffsp6 --hub http://localhost:3000 --no-jws
///   perfbed pki --out ./pki && perfbed sim --fsp perffsp5 --hub https://hub:443 --keys ./pki \
///       --tls-cert ./pki/tls/server.pem --tls-key ./pki/tls/server.key \
///       --tls-client-ca ./pki/tls/ca.pem --outbound-ca ./pki/tls/ca.pem \
///       --client-cert ./pki/tls/perffsp5.pem --client-key ./pki/tls/perffsp5.key
#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// FSP id to serve (repeatable, or comma-separated).
    #[arg(
        long = "fsp",
        value_name = "ID",
        required = true,
        value_delimiter = ',',
        env = "PERFBED_FSPS"
    )]
    fsps: Vec<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4000", env = "PERFBED_LISTEN")]
    listen: SocketAddr,
    #[command(flatten)]
    hub: crate::tls_args::HubUrlArgs,
    /// The hub's FSP id (its own error and confirmation messages may come unsigned).
    #[arg(long, default_value = "Hub")]
    hub_id: String,
    #[command(flatten)]
    jws: crate::tls_args::JwsArgs,
    #[command(flatten)]
    server_tls: crate::tls_args::ServerTlsArgs,
    #[command(flatten)]
    client_tls: crate::tls_args::ClientTlsArgs,
    /// Behaviours per FSP (TOML: [default] and [fsp.<id>] tables; see docs/sim.md).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Secret for ILP fulfilments; every replica of a payee must share it.
    #[arg(
        long,
        env = "PERFBED_ILP_SECRET",
        default_value = sim::config::TEST_ILP_SECRET,
        hide_default_value = true
    )]
    ilp_secret: String,
    /// Most callbacks in flight; beyond that requests are refused with 503/2003.
    #[arg(long, default_value_t = 10_000)]
    max_in_flight: usize,
    /// Timeout of each outbound HTTP request.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    http_timeout: Duration,
    /// API spoken: `fspiop`, or `iso20022` (ISO 20022 bodies and media types, version 2.0,
    /// ULID ids, ILP v4; what a switch runs with API_TYPE=iso20022). In ISO mode the simulator takes only ISO media types and
    /// bodies, answers with acmt.024/pacs.082/pacs.002, and refuses ilp_version = "v1".
    #[arg(long, value_enum, default_value = "fspiop", env = "PERFBED_API")]
    api: crate::api_arg::ApiArg,
}

pub(crate) fn run(args: SimArgs) -> Result<()> {
    crate::init_logging("info");
    let mut config = SimConfig::new(&args.fsps, &args.hub.hub);
    config.hub = args.hub.urls();
    config.hub_id = args.hub_id.clone();
    config.ilp_secret = args.ilp_secret.clone();
    config.max_in_flight = args.max_in_flight;
    config.http_timeout = args.http_timeout;
    config.api = args.api.into();
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let file =
            BehaviourFile::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        file.apply(&mut config)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    let keys = args.jws.apply(&mut config)?;
    let server_tls = args.server_tls.load()?;
    let client_tls = args.client_tls.load()?;
    if client_tls.is_none()
        && [
            &config.hub.parties,
            &config.hub.quotes,
            &config.hub.transfers,
        ]
        .iter()
        .any(|u| u.starts_with("https://"))
    {
        bail!("an https:// hub URL needs --outbound-ca (the CA that signed the hub's certificate)");
    }
    let summary = describe(&config, &args);
    let sim = Sim::new(config, keys, client_tls)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let stop = perfbed_http::server::shutdown_signal();
        let running = sim::start(sim, args.listen, server_tls).await?;
        let scheme = args.server_tls.scheme();
        eprintln!("perffsp listening on {scheme}://{} — {summary}", running.addr);
        eprintln!("health: {scheme}://{}/health, metrics: {scheme}://{}/metrics; Ctrl-C or SIGTERM to stop", running.addr, running.addr);
        stop.await;
        eprintln!("stopping: draining callbacks in flight …");
        let sim = running.sim().clone();
        running.shutdown(Duration::from_secs(10)).await;
        let (sent, failed) = sim.metrics().callback_totals();
        eprintln!(
            "stopped: {sent} callbacks sent, {failed} failed, {} shed, {} JWS failures",
            sim.metrics().shed_total(),
            sim.metrics().jws_failure_total()
        );
        Ok::<(), anyhow::Error>(())
    })
}

fn describe(config: &SimConfig, args: &SimArgs) -> String {
    let fsps: Vec<&str> = config.fsps.keys().map(String::as_str).collect();
    let jws = if config.jws {
        let mode = match config.verify_mode {
            VerifyMode::Raw => "raw",
            VerifyMode::Strict => "strict",
        };
        format!("JWS on ({mode} verification)")
    } else {
        "JWS off".into()
    };
    let mtls = args.server_tls.describe();
    format!(
        "serving {} → hub {}; API {}; {jws}; {mtls}",
        fsps.join(", "),
        config.hub.transfers,
        config.api,
    )
}
