//! perfbed's server says how long it keeps an idle connection (`Keep-Alive: timeout=30`), and
//! perfbed's client reads that as keeping the pooled connection 29 s instead of its 4 s default
//! (a burst's extra connections otherwise expire and the next burst handshakes new ones).

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use axum::routing::get;
use bytes::Bytes;
use http_body_util::Full;
use perfbed_http::{ClientOptions, HttpClient};
use std::time::Duration;

#[tokio::test]
async fn responses_advertise_the_idle_timeout_and_the_client_keeps_connections_for_it() {
    let (listener, addr) = perfbed_http::server::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let app = axum::Router::new().route("/health", get(|| async { "ok" }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(perfbed_http::server::serve(
        listener,
        app,
        None,
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(1),
    ));
    let client = HttpClient::new(ClientOptions::default());
    let get = || {
        http::Request::get(format!("http://{addr}/health"))
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let resp = client.send(get()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let keep_alive = resp.headers().get("keep-alive").unwrap().to_str().unwrap();
    assert_eq!(
        keep_alive,
        format!("timeout={}", perfbed_http::server::IDLE_TIMEOUT.as_secs())
    );
    assert_eq!(
        perfbed_http::client::idle_limit(resp.headers()),
        perfbed_http::server::IDLE_TIMEOUT - Duration::from_secs(1)
    );
    assert_eq!(client.idle_connections(), 1);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
