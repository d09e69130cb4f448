//! Serving an axum `Router` over plain TCP or (m)TLS, HTTP/1.1 keep-alive, with graceful
//! shutdown: on the shutdown signal the listener closes, open connections finish the request
//! they are on, and `serve` returns once they are gone (or after `drain_timeout`).

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How long a keep-alive connection may idle between requests before this server closes it
/// (hyper's header-read timeout, which runs while a connection waits for its next request).
/// Every response says so (`Keep-Alive: timeout=30`), so perfbed's own client keeps idle
/// connections for 29 s instead of its 4 s default for servers that say nothing: with 4 s, the
/// connections a burst opened expired and the next burst opened new ones — 67 new mTLS
/// connections/s at 200 P2P transfers/s in `perfbed local`, each a full handshake.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

static KEEP_ALIVE: http::HeaderValue = http::HeaderValue::from_static("timeout=30");

async fn keep_alive(mut resp: axum::response::Response) -> axum::response::Response {
    resp.headers_mut().insert(
        http::header::HeaderName::from_static("keep-alive"),
        KEEP_ALIVE.clone(),
    );
    resp
}

/// Serves `app` on `listener` until `shutdown` completes, then drains open connections for at
/// most `drain_timeout`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send,
    drain_timeout: Duration,
) -> std::io::Result<()> {
    let handshakes = Arc::default();
    serve_counted(listener, app, tls, shutdown, drain_timeout, handshakes).await
}

/// [`serve`], counting each TLS handshake it completes in `handshakes` (what a run reports per
/// committed transfer: with keep-alive, close to none).
pub async fn serve_counted(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send,
    drain_timeout: Duration,
    handshakes: Arc<std::sync::atomic::AtomicU64>,
) -> std::io::Result<()> {
    let acceptor = tls.map(TlsAcceptor::from);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let app = app.layer(axum::middleware::map_response(keep_alive));
    let mut builder = http1::Builder::new();
    builder
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(IDLE_TIMEOUT);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        let handshakes = handshakes.clone();
        tokio::spawn(async move {
            let result = match acceptor {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(tcp), service);
                    watcher.watch(conn).await
                }
                Some(acceptor) => match acceptor.accept(tcp).await {
                    Ok(stream) => {
                        handshakes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let conn = builder.serve_connection(TokioIo::new(stream), service);
                        watcher.watch(conn).await
                    }
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake refused");
                        return;
                    }
                },
            };
            if let Err(e) = result {
                tracing::trace!(%peer, error = %e, "connection closed with error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {drain_timeout:?}; closing");
    }
    Ok(())
}

/// Binds `addr` (use port 0 in tests) and returns the listener and the address it got.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Resolves when the process gets SIGINT (Ctrl-C) or SIGTERM.
///
/// The handlers are registered when this function is called, not when the future is first
/// polled: call it before announcing readiness, or a signal sent right after the announcement
/// would kill the process with the default action instead of shutting it down gracefully.
/// Must be called inside a Tokio runtime.
pub fn shutdown_signal() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => Box::pin(async move {
                tokio::select! {
                    _ = int.recv() => {},
                    _ = term.recv() => {},
                }
            }),
            _ => Box::pin(async {
                let _ = tokio::signal::ctrl_c().await;
            }),
        }
    }
    #[cfg(not(unix))]
    {
        Box::pin(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
