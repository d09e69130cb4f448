//! `perfbed hub`: run the hub emulator.

use anyhow::{Context, Result};
use clap::Args;
use fspiop::jws::VerifyMode;
use hub::{Hub, HubConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::tls_args::VerifyArg;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum LayoutArg {
    /// One port.
    Single,
    /// The real services' ports.
    Services,
}

/// Run the hub emulator: an in-memory Mojaloop switch.
///
/// One port serves FSPIOP (/parties, /participants, /quotes, /transfers) and, with the real
/// services' paths, the central-ledger admin API under /admin, the MSISDN oracle under /oracle
/// and the ALS admin API under /als-admin. Onboard participants through /admin (hub accounts,
/// settlement model, participants, initialPositionAndLimits, endpoints, funds-in), register
/// numbers through /oracle or FSPIOP POST /participants, then point DFSPs at it.
///
/// Example: perfbed hub --listen 127.0.0.1:3000
#[derive(Debug, Args)]
pub(crate) struct HubArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000", env = "PERFBED_HUB_LISTEN")]
    listen: SocketAddr,
    /// Port layout: `single` (everything on --listen, admin APIs under /admin, /oracle,
    /// /als-admin) or `services` (the real services' ports: adapter 3000, central-ledger admin
    /// 3001, quoting 3002, oracle 3003, ALS admin 4001, ALS 4002, each API at its root).
    #[arg(long, value_enum, default_value = "single")]
    layout: LayoutArg,
    /// With --layout services: added to every port (e.g. 10000 → adapter on 13000).
    #[arg(long, default_value_t = 0)]
    port_offset: u16,
    /// The hub's FSP id (Source of its own messages).
    #[arg(long, default_value = "Hub")]
    hub_id: String,
    /// Verify JWS on incoming requests with a body, with the <fsp>.pem public keys in DIR
    /// (off by default, like the real hub).
    #[arg(long, value_name = "DIR")]
    keys: Option<PathBuf>,
    /// How signatures are verified with --keys.
    #[arg(long, value_enum, default_value = "strict")]
    jws_verify: VerifyArg,
    /// API spoken: `fspiop`, or `iso20022` (ISO 20022 bodies and media types, version 2.0,
    /// ULID ids, ILP v4; what a switch runs with API_TYPE=iso20022). In ISO mode the emulator takes only ISO media types
    /// on /parties, /quotes and /transfers, validates the bodies as the switch does, reads the
    /// condition from the ILP v4 packet and sends its own errors, expiries and PATCH as ISO.
    #[arg(long, value_enum, default_value = "fspiop", env = "PERFBED_API")]
    api: crate::api_arg::ApiArg,
    /// How often the expiry sweep runs (the real hub: 15 s).
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    sweep: Duration,
    /// How long finished transfers are kept for duplicate detection.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    retention: Duration,
    /// Do not send the payee a PUT /transfers confirmation after commit.
    #[arg(long)]
    no_confirm_to_payee: bool,
    /// Emulated processing latency, STAGE=SPEC (repeatable). Stages: lookup, quote, prepare,
    /// fulfil, all (those four), and queue: before a prepare reaches the ledger at all (the
    /// Kafka topic in front of central-ledger's prepare handler; the ledger does not know the
    /// transfer meanwhile). SPEC: 5ms, uniform:2ms:20ms, lognormal:10ms:0.5 (median, sigma).
    #[arg(long = "latency", value_name = "STAGE=SPEC")]
    latency: Vec<String>,
    /// Share of callbacks to drop silently (0–1).
    #[arg(long, default_value_t = 0.0)]
    drop_callbacks: f64,
    /// Share of prepares to refuse with 2001 (0–1).
    #[arg(long, default_value_t = 0.0)]
    reject_prepares: f64,
    /// Emulate a switch whose clock is off by this many milliseconds (negative: behind), as
    /// its `/health` reports it — for trying `perfbed preflight`'s clock-skew check.
    #[arg(
        long,
        default_value_t = 0,
        allow_hyphen_values = true,
        value_name = "MS"
    )]
    clock_offset_ms: i64,
    /// Keep the ALS's oracles as the real account-lookup-service does: only oracles registered
    /// through the ALS admin API (POST /als-admin/oracles, or /oracles on the ALS admin port)
    /// serve lookups and registrations of their id type, and a bulk POST /participants with a
    /// currency needs an oracle registered for that currency too (else error 3003 "Oracle
    /// type:MSISDN not found"). Without it the built-in oracle serves every type and currency.
    #[arg(long)]
    als_oracles: bool,
    /// Let the ALS keep each participant's endpoints this long once read, as the real
    /// account-lookup-service does (about 3m): its callbacks go to the cached address, even
    /// after the FSP was onboarded again. Default: no cache.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    als_endpoint_cache: Option<Duration>,
    /// Most callbacks in flight at once (queued, delayed by --latency, or sending); beyond
    /// that, new requests (GET, POST) are shed at once with 503/2003: a switch with a capacity.
    /// With --latency it makes a breaking point that depends on the rate alone (callbacks in
    /// flight ≈ callbacks per second × delay).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    max_callbacks_in_flight: usize,
    #[command(flatten)]
    server_tls: crate::tls_args::ServerTlsArgs,
    #[command(flatten)]
    client_tls: crate::tls_args::ClientTlsArgs,
}

pub(crate) fn run(args: HubArgs) -> Result<()> {
    crate::init_logging("info");
    let jws = match &args.keys {
        Some(dir) => {
            let keys = perfbed_http::keys::load_dir(dir)
                .with_context(|| format!("cannot load JWS keys from {}", dir.display()))?;
            let mode = match args.jws_verify {
                VerifyArg::Raw => VerifyMode::Raw,
                VerifyArg::Strict => VerifyMode::Strict,
            };
            Some((Arc::new(keys), mode))
        }
        None => None,
    };
    let mut latency = hub::StageLatency::default();
    for item in &args.latency {
        let (stage, spec) = item.split_once('=').with_context(|| {
            format!("--latency wants STAGE=SPEC, e.g. prepare=5ms (got '{item}')")
        })?;
        let l: hub::Latency = spec
            .parse()
            .map_err(|e| anyhow::anyhow!("--latency {stage}: {e}"))?;
        match stage {
            "lookup" => latency.lookup = l,
            "quote" => latency.quote = l,
            "prepare" => latency.prepare = l,
            "fulfil" => latency.fulfil = l,
            "queue" => latency.queue = l,
            "all" => {
                latency = hub::StageLatency {
                    queue: latency.queue,
                    ..hub::StageLatency::all(l)
                }
            }
            other => anyhow::bail!(
                "--latency: unknown stage '{other}' (lookup, quote, prepare, fulfil, queue, all)"
            ),
        }
    }
    for (name, v) in [
        ("--drop-callbacks", args.drop_callbacks),
        ("--reject-prepares", args.reject_prepares),
    ] {
        if !(0.0..=1.0).contains(&v) {
            anyhow::bail!("{name} is a share between 0 and 1 (got {v})");
        }
    }
    if args.max_callbacks_in_flight == 0 {
        anyhow::bail!("--max-callbacks-in-flight must be at least 1 (0 would shed every request)");
    }
    let config = HubConfig {
        latency,
        drop_callbacks: args.drop_callbacks,
        reject_prepares: args.reject_prepares,
        clock_offset_ms: args.clock_offset_ms,
        hub_id: args.hub_id.clone(),
        confirm_to_payee: !args.no_confirm_to_payee,
        sweep_every: args.sweep,
        retention: args.retention,
        jws,
        api: args.api.into(),
        als_oracles: args.als_oracles,
        als_endpoint_cache: args.als_endpoint_cache.unwrap_or_default(),
        max_callbacks_in_flight: args.max_callbacks_in_flight,
        ..HubConfig::default()
    };
    let server_tls = args.server_tls.load()?;
    let client_tls = args.client_tls.load()?;
    let hub = Hub::new(config, client_tls);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let stop = perfbed_http::server::shutdown_signal();
        let layout = match args.layout {
            LayoutArg::Single => hub::Layout::Single(args.listen),
            LayoutArg::Services => hub::Layout::Services { host: args.listen.ip(), offset: args.port_offset },
        };
        let running = hub::start_layout(hub, layout, server_tls).await.context("cannot start the hub emulator")?;
        let scheme = args.server_tls.scheme();
        let base = format!("{scheme}://{}", running.addr);
        if running.addrs.len() == 1 {
            eprintln!("hub emulator listening on {base} — FSPIOP at {base}/, central-ledger admin at {base}/admin, oracle at {base}/oracle, ALS admin at {base}/als-admin");
        } else {
            let list: Vec<String> = running.addrs.iter().map(|(n, a)| format!("{n} {scheme}://{a}")).collect();
            eprintln!("hub emulator listening on {base} — services: {}", list.join(", "));
        }
        eprintln!("JWS validation {}; expiry sweep every {:?}; Ctrl-C or SIGTERM to stop", if args.keys.is_some() { "on" } else { "off" }, args.sweep);
        stop.await;
        let hub = running.hub().clone();
        running.shutdown(Duration::from_secs(10)).await;
        let c = hub.ledger.counts();
        eprintln!("stopped: {} transfers prepared, {} committed, {} aborted, {} expired", c.prepared, c.committed, c.aborted, c.expired);
        Ok::<(), anyhow::Error>(())
    })
}
