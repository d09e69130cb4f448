//! The transport floor: what one HTTP exchange costs through perfbed's own client and server
//! (hyper HTTP/1.1 keep-alive over loopback TCP, rustls mTLS with full security), measured in
//! this process, in this sitting, with no FSPIOP work on either side.
//!
//! A transfer of the local testbed is several such exchanges (requests to the hub and the
//! hub's callbacks, [`exchanges`]), so `exchanges × cost` is CPU a transfer spends before any
//! parsing, checking, signing or bookkeeping: with the crypto floor, the bound no testbed made of
//! real HTTPS exchanges can pass (`perfbed bench local` states the share of both bounds).
//!
//! The request has the shape of an FSPIOP callback: a `PUT` with the FSPIOP headers (and an
//! `FSPIOP-Signature`-sized header with full security) and a 1,000-byte JSON body; the answer is
//! an empty `200`, as the hub and the simulators answer. 32 requests are kept in flight (closed
//! loop), client and server on one thread of their own; the cost is that thread's CPU (user +
//! system, so both ends and the kernel's loopback TCP) over the exchanges completed in a timed
//! window, the cheapest of three.

use anyhow::{Context, Result};
use axum::body::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use load::Flow;
use perfbed_http::client::{ClientOptions, HttpClient};
use perfbed_http::tls::{client_config, generate_test_pki, server_config};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// HTTP exchanges (a request and its response) per transfer of each flow in the local testbed,
/// counted from the code:
///
/// * lookup: `GET /parties` payer → hub → payee, `PUT /parties` payee → hub → payer: 4;
/// * quote: `POST /quotes` and `PUT /quotes` the same way: 4;
/// * transfer: `POST /transfers` and `PUT /transfers` the same way, and the hub's confirmation
///   `PUT /transfers` to the payee: 5.
///
/// `perfbed bench local`'s test checks the hub's side of it (requests in + callbacks out per
/// committed transfer) against the hub's own counters.
pub const fn exchanges(flow: Flow) -> u32 {
    match flow {
        Flow::P2p => 13,
        Flow::QuoteTransfer => 9,
        Flow::Transfer => 5,
        Flow::Ping => 1,
    }
}

/// Of [`exchanges`], those whose request the hub receives (the DFSPs' requests); the rest are
/// the hub's callbacks.
pub const fn hub_inbound(flow: Flow) -> u32 {
    match flow {
        Flow::P2p => 6,
        Flow::QuoteTransfer => 4,
        Flow::Transfer => 2,
        Flow::Ping => 1,
    }
}

/// One exchange's cost, as measured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Transport {
    /// `full` (mTLS) or `none` (plain HTTP).
    pub security: String,
    /// CPU-µs per exchange, both ends and the kernel, on one thread.
    pub us_per_exchange: f64,
    /// Exchanges in the window that gave the figure.
    pub exchanges: u64,
    /// Requests kept in flight.
    pub in_flight: usize,
    /// Request body bytes.
    pub body_bytes: usize,
}

impl Transport {
    /// `mTLS` or `plain HTTP`, for the printed lines.
    pub fn label(&self) -> &'static str {
        if self.security == "full" {
            "mTLS"
        } else {
            "plain HTTP"
        }
    }
}

const IN_FLIGHT: usize = 32;
const BODY_BYTES: usize = 1_000;
const WINDOWS: u32 = 3;

/// Times exchanges for `timed` (after a short warm-up; the cheapest of three equal windows)
/// with mTLS when `tls`, plain HTTP otherwise.
///
/// Both ends run on one thread of their own (a single-threaded runtime), and the cost is that
/// thread's CPU time, its system calls included: on the multi-threaded runtime the figure
/// moved 26–42 µs from call to call with the placement of the client's and the server's tasks
/// (cross-thread wake-ups), while the testbed's own CPU per transfer did not move. One thread
/// is the floor: what an exchange costs with no cross-thread traffic at all.
pub async fn time_exchange(tls: bool, timed: Duration) -> Result<Transport> {
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the timing runtime")?
            .block_on(time_on_this_thread(tls, timed))
    })
    .await
    .context("the timing thread died")?
}

async fn time_on_this_thread(tls: bool, timed: Duration) -> Result<Transport> {
    let (server_tls, client_tls) = if tls {
        let pki =
            generate_test_pki(&["127.0.0.1".into()], &["perffsp1".into()]).context("test PKI")?;
        let client = &pki.clients[0].1;
        (
            Some(server_config(
                pki.server.cert.as_bytes(),
                pki.server.key.as_bytes(),
                Some(pki.ca.cert.as_bytes()),
            )?),
            Some(client_config(
                pki.ca.cert.as_bytes(),
                Some((client.cert.as_bytes(), client.key.as_bytes())),
            )?),
        )
    } else {
        (None, None)
    };
    let app = axum::Router::new().route(
        "/transfers/{id}",
        axum::routing::put(|body: Bytes| async move {
            std::hint::black_box(body.len());
            StatusCode::OK
        }),
    );
    let (listener, addr) = perfbed_http::server::bind("127.0.0.1:0".parse()?).await?;
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(perfbed_http::server::serve(
        listener,
        app,
        server_tls,
        stop.clone().cancelled_owned(),
        Duration::from_secs(1),
    ));
    let client = HttpClient::new(ClientOptions {
        tls: client_tls,
        timeout: Duration::from_secs(10),
        ..ClientOptions::default()
    });
    let url = format!(
        "{}://{addr}/transfers/0e3fb0a2-8e0c-4c68-9b4c-2a5f6a1e2f3d",
        if tls { "https" } else { "http" }
    );
    let body = Bytes::from(format!(
        "{{\"fulfilment\":\"{}\",\"completedTimestamp\":\"2026-11-26T12:00:00.000Z\",\"transferState\":\"COMMITTED\",\"extensionList\":{{\"extension\":[{{\"key\":\"pad\",\"value\":\"{}\"}}]}}}}",
        "A".repeat(43),
        "x".repeat(BODY_BYTES - 180)
    ));
    let signature = tls.then(|| {
        format!(
            "{{\"signature\":\"{}\",\"protectedHeader\":\"{}\"}}",
            "s".repeat(342),
            "p".repeat(330)
        )
    });
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let mut tasks = Vec::new();
    for _ in 0..IN_FLIGHT {
        let (client, url, body, signature) =
            (client.clone(), url.clone(), body.clone(), signature.clone());
        let (done, failed, running) = (done.clone(), failed.clone(), running.clone());
        tasks.push(tokio::spawn(async move {
            while running.load(Ordering::Relaxed) {
                let mut req = Request::builder()
                    .method(Method::PUT)
                    .uri(url.as_str())
                    .header(
                        "content-type",
                        "application/vnd.interoperability.transfers+json;version=1.1",
                    )
                    .header(
                        "accept",
                        "application/vnd.interoperability.transfers+json;version=1",
                    )
                    .header("date", "Thu, 26 Nov 2026 12:00:00 GMT")
                    .header("fspiop-source", "perffsp5")
                    .header("fspiop-destination", "perffsp1")
                    .header(
                        "fspiop-uri",
                        "/transfers/0e3fb0a2-8e0c-4c68-9b4c-2a5f6a1e2f3d",
                    )
                    .header("fspiop-http-method", "PUT")
                    .header(
                        "traceparent",
                        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                    );
                if let Some(s) = &signature {
                    req = req.header("fspiop-signature", s.as_str());
                }
                let Ok(req) = req.body(Full::new(body.clone())) else {
                    failed.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                match client.send(req).await {
                    Ok(r) if r.status() == StatusCode::OK => done.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The floor: the cheapest of three windows (a window that a neighbour's burst or a
    // scheduler hiccup slowed is not what an exchange costs).
    let mut best: Option<(f64, u64)> = None;
    for _ in 0..WINDOWS {
        let (cpu0, n0) = (
            crate::bench_local::thread_cpu_s(),
            done.load(Ordering::Relaxed),
        );
        tokio::time::sleep(timed / WINDOWS).await;
        let (cpu1, n1) = (
            crate::bench_local::thread_cpu_s(),
            done.load(Ordering::Relaxed),
        );
        let n = n1 - n0;
        if n > 0 {
            let us = (cpu1 - cpu0) * 1e6 / n as f64;
            if best.is_none_or(|(b, _)| us < b) {
                best = Some((us, n));
            }
        }
    }
    running.store(false, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    // Its pooled connections close with it, so the server drains at once instead of waiting
    // out its drain timeout for them.
    drop(client);
    stop.cancel();
    let _ = server.await;
    let failed = failed.load(Ordering::Relaxed);
    anyhow::ensure!(failed == 0, "{failed} timing exchanges failed");
    let Some((us_per_exchange, n)) = best else {
        anyhow::bail!("no exchange completed in {timed:?}");
    };
    Ok(Transport {
        security: if tls { "full" } else { "none" }.into(),
        us_per_exchange,
        exchanges: n,
        in_flight: IN_FLIGHT,
        body_bytes: body.len(),
    })
}
