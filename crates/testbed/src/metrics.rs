//! Live Prometheus metrics of a run (`--metrics-listen`).

use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::Duration;

/// Stops the metrics server when dropped.
#[derive(Debug)]
pub struct MetricsServer(tokio_util::sync::CancellationToken);

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

pub async fn serve_metrics(
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
                    [(
                        http::header::CONTENT_TYPE,
                        perfbed_http::metrics::CONTENT_TYPE,
                    )],
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
