//! Routers, listeners and the expiry sweep's timer.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::StatusCode;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::admin;
use crate::dispatch::fspiop_request;
use crate::metrics::metrics;
use crate::Hub;

/// The router: FSPIOP at `/`, admin APIs under `/admin`, `/oracle`, `/als-admin`.
pub fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .nest("/admin", admin::central_ledger_router())
        .nest("/oracle", admin::oracle_router())
        .nest("/als-admin", admin::als_admin_router())
        .fallback(fspiop_request)
        .with_state(hub)
}

async fn health(State(hub): State<Arc<Hub>>) -> Response {
    // `time` (Unix ms) lets `perfbed preflight` measure clock skew to the switch.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({ "status": "OK", "time": now + hub.config.clock_offset_ms })),
    )
        .into_response()
}

/// Which ports the hub listens on.
#[derive(Debug, Clone)]
pub enum Layout {
    /// One port: FSPIOP at `/`, admin APIs under `/admin`, `/oracle`, `/als-admin`.
    Single(SocketAddr),
    /// The real services' ports (+ `offset`), each API at its root: ml-api-adapter 3000,
    /// central-ledger admin 3001, quoting-service 3002, oracle 3003 (the real oracle's default
    /// is 3000, taken here by the adapter), ALS admin 4001, ALS 4002.
    Services {
        /// Address to bind on.
        host: std::net::IpAddr,
        /// Added to every port.
        offset: u16,
    },
}

/// The services of [`Layout::Services`]: name, port, router.
pub fn service_routers(hub: &Arc<Hub>) -> Vec<(&'static str, u16, Router)> {
    let fspiop = || {
        Router::new()
            .route("/health", get(health))
            .route("/metrics", get(metrics))
            .fallback(fspiop_request)
            .with_state(hub.clone())
    };
    let api = |r: Router<Arc<Hub>>| r.with_state(hub.clone());
    vec![
        ("ml-api-adapter", 3000, fspiop()),
        (
            "central-ledger admin",
            3001,
            api(admin::central_ledger_router()),
        ),
        ("quoting-service", 3002, fspiop()),
        ("oracle", 3003, api(admin::oracle_router())),
        ("ALS admin", 4001, api(admin::als_admin_router())),
        ("account-lookup-service", 4002, fspiop()),
    ]
}

/// A running hub.
#[derive(Debug)]
pub struct Running {
    /// Where it listens (the first service's address in the services layout).
    pub addr: SocketAddr,
    /// Every listener: service name and address.
    pub addrs: Vec<(&'static str, SocketAddr)>,
    hub: Arc<Hub>,
    stop: CancellationToken,
    servers: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// The hub (ledger, oracle, stats).
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Stops serving and the sweep, then waits for callbacks in flight (at most `drain`).
    pub async fn shutdown(self, drain: Duration) {
        self.stop.cancel();
        for s in self.servers {
            let _ = s.await;
        }
        self.hub.tracker.close();
        let _ = tokio::time::timeout(drain, self.hub.tracker.wait()).await;
    }
}

/// Binds `listen` and serves the hub on one port, with the expiry sweep running every
/// `sweep_every`.
pub async fn start(
    hub: Arc<Hub>,
    listen: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<Running> {
    start_layout(hub, Layout::Single(listen), tls).await
}

/// Serves the hub in a [`Layout`].
pub async fn start_layout(
    hub: Arc<Hub>,
    layout: Layout,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<Running> {
    let apps: Vec<(&'static str, SocketAddr, Router)> = match layout {
        Layout::Single(addr) => vec![("hub", addr, router(hub.clone()))],
        Layout::Services { host, offset } => service_routers(&hub)
            .into_iter()
            .map(|(name, port, r)| (name, SocketAddr::new(host, port.saturating_add(offset)), r))
            .collect(),
    };
    let stop = CancellationToken::new();
    let mut servers = Vec::new();
    let mut addrs = Vec::new();
    for (name, addr, app) in apps {
        let (listener, bound) = perfbed_http::server::bind(addr)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("{name} on {addr}: {e}")))?;
        let (token, tls) = (stop.clone(), tls.clone());
        let handshakes = hub.tls_accepted.clone();
        servers.push(tokio::spawn(async move {
            perfbed_http::server::serve_counted(
                listener,
                app,
                tls,
                token.cancelled_owned(),
                Duration::from_secs(5),
                handshakes,
            )
            .await
        }));
        addrs.push((name, bound));
    }
    let sweeper = hub.clone();
    let token = stop.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(sweeper.config.sweep_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => { sweeper.sweep(); }
                () = token.cancelled() => break,
            }
        }
    });
    Ok(Running {
        addr: addrs[0].1,
        addrs,
        hub,
        stop,
        servers,
    })
}
