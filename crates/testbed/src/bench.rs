//! The hub benchmark: what one core of the hub emulator carries (`perfbed bench hub`).
//!
//! The hub runs on its own thread (one single-threaded Tokio runtime) pinned to one CPU; a lean
//! load peer runs on another thread pinned to the next CPU. The peer plays the payer (sends
//! `POST /transfers`, counts the `PUT /transfers/{id}` the hub forwards) and the payee (answers
//! the forwarded prepare with `202`, then sends its `PUT /transfers/{id}` fulfilment), with a
//! fixed number of transfers in flight (closed loop: a commit lets the next prepare go). Every
//! message crosses real HTTP/1.1 keep-alive connections on loopback and goes through the hub's
//! full path: header checks, body parse, duplicate check, liquidity/NDC, reserve, fulfilment
//! check, commit, forward and notify (JWS validation off, as the issue's benchmark says).
//!
//! The numbers come from the threads' own CPU clocks over the measurement window, so the hub's
//! CPU-µs per transfer is exact even when the peer, not the hub, is the limit.

use anyhow::{bail, Context, Result};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{post, put};
use axum::Router;
use fspiop::headers::Version;
use fspiop::ilp::{IlpSecret, IlpVersion, TransactionObject};
use fspiop::json::to_canonical_vec;
use fspiop::models::{Money, Party, PartyIdInfo, QuotesPost, TransfersPost};
use fspiop::types::{CorrelationId, DateTime, FspId};
use nix::sched::{sched_setaffinity, CpuSet};
use nix::time::{clock_gettime, ClockId};
use perfbed_http::{ClientOptions, HttpClient, Outbound};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// The benchmark's knobs.
#[derive(Debug, Clone)]
pub struct BenchHubOptions {
    /// Measurement window (after the warm-up).
    pub duration: Duration,
    /// Warm-up before the window (connections opened, allocator and caches warm).
    pub warmup: Duration,
    /// Transfers in flight at once (at least 1).
    pub in_flight: usize,
    /// CPU for the hub thread; the peer takes the next one.
    pub hub_cpu: usize,
    /// Send the payee its confirmation `PUT` (one exchange more per transfer).
    pub confirm_to_payee: bool,
    /// Print the result as JSON instead of a table.
    pub json: bool,
}

/// A request for a thread's CPU time, answered on that thread.
type CpuProbe = mpsc::UnboundedSender<oneshot::Sender<Duration>>;

fn thread_cpu() -> Duration {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

/// Pins the calling thread to `cpu`; `false` when that is not possible.
fn pin(cpu: usize) -> bool {
    let mut set = CpuSet::new();
    set.set(cpu).is_ok() && sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).is_ok()
}

/// Answers CPU probes from inside the runtime of the thread to be measured.
fn serve_probes(mut rx: mpsc::UnboundedReceiver<oneshot::Sender<Duration>>) {
    tokio::spawn(async move {
        while let Some(reply) = rx.recv().await {
            let _ = reply.send(thread_cpu());
        }
    });
}

async fn probe(p: &CpuProbe) -> Duration {
    let (tx, rx) = oneshot::channel();
    if p.send(tx).is_err() {
        return Duration::ZERO;
    }
    rx.await.unwrap_or_default()
}

/// What the peer counts.
#[derive(Default)]
struct Counters {
    committed: AtomicU64,
    payer_errors: AtomicU64,
    confirmations: AtomicU64,
    payee_errors: AtomicU64,
    fulfils_refused: AtomicU64,
    prepares_refused: AtomicU64,
}

struct Peer {
    hub: String,
    client: HttpClient,
    counters: Counters,
    slots: Semaphore,
    /// The payee's fulfilment, the same for every transfer (one condition).
    fulfil_body: Bytes,
}

impl Peer {
    /// Sends an FSPIOP request `(source, destination)` to the hub; `true` when it answers
    /// `expect`.
    async fn send(
        &self,
        method: Method,
        url: String,
        (source, destination): (&str, &str),
        body: Option<Bytes>,
        expect: StatusCode,
    ) -> bool {
        let out = Outbound {
            method,
            url,
            version: Version::V1_1,
            source: source.into(),
            destination: Some(destination.into()),
            body,
            extra: Vec::new(),
        };
        match out.build(None) {
            Ok(req) => matches!(self.client.send(req).await, Ok(r) if r.status() == expect),
            Err(_) => false,
        }
    }
}

const PAYER: &str = "benchpayer";
const PAYEE: &str = "benchpayee";

/// The measured result.
#[derive(Debug, serde::Serialize)]
struct Outcome {
    window_s: f64,
    in_flight: usize,
    pinned: bool,
    committed: u64,
    committed_per_s: f64,
    /// Prepares sent over the whole run (warm-up and drain included).
    total_sent: u64,
    /// Of those, committed (the rest are in `errors`).
    total_committed: u64,
    errors: u64,
    hub_cpu_share: f64,
    hub_cpu_us_per_transfer: f64,
    transfers_per_s_per_hub_core: f64,
    peer_cpu_share: f64,
    limit: &'static str,
}

/// Runs the benchmark and prints its result (a table, or JSON); an error when no transfer
/// committed in the window or any failed. Synchronous: the hub and the peer each get a thread
/// with its own single-threaded runtime, pinned to its CPU.
pub fn bench_hub(opts: &BenchHubOptions) -> Result<()> {
    if opts.in_flight == 0 {
        bail!("--in-flight must be at least 1");
    }
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let pinned = cpus >= 2;
    let (hub_cpu, peer_cpu) = (opts.hub_cpu, (opts.hub_cpu + 1) % cpus.max(1));
    if pinned && opts.hub_cpu >= cpus {
        bail!(
            "--hub-cpu {} but this machine has CPUs 0..{}",
            opts.hub_cpu,
            cpus - 1
        );
    }
    if !pinned {
        eprintln!(
            "warning: one CPU only; the hub and the peer share it (numbers are a lower bound)"
        );
    }

    // The hub thread.
    let (addr_tx, addr_rx) = std::sync::mpsc::channel::<std::io::Result<(SocketAddr, CpuProbe)>>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let config = hub::HubConfig {
        confirm_to_payee: opts.confirm_to_payee,
        ..hub::HubConfig::default()
    };
    let hub_thread = std::thread::Builder::new()
        .name("bench-hub".into())
        .spawn(move || {
            if pinned && !pin(hub_cpu) {
                eprintln!("warning: could not pin the hub to CPU {hub_cpu}");
            }
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return drop(addr_tx.send(Err(e))),
            };
            rt.block_on(async move {
                let hub = hub::Hub::new(config, None);
                let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
                match hub::start(hub, listen, None).await {
                    Ok(running) => {
                        let (ptx, prx) = mpsc::unbounded_channel();
                        serve_probes(prx);
                        let _ = addr_tx.send(Ok((running.addr, ptx)));
                        let _ = stop_rx.await;
                        running.shutdown(Duration::from_secs(2)).await;
                    }
                    Err(e) => drop(addr_tx.send(Err(e))),
                }
            });
        })
        .context("cannot start the hub thread")?;
    let (hub_addr, hub_probe) = addr_rx
        .recv()
        .context("the hub thread ended early")?
        .context("cannot start the hub emulator")?;

    // The peer thread runs the benchmark and returns the outcome.
    let (duration, warmup, in_flight) = (opts.duration, opts.warmup, opts.in_flight);
    let peer_thread = std::thread::Builder::new()
        .name("bench-peer".into())
        .spawn(move || -> Result<Outcome> {
            if pinned && !pin(peer_cpu) {
                eprintln!("warning: could not pin the peer to CPU {peer_cpu}");
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the peer's runtime")?;
            rt.block_on(run_peer(
                hub_addr, hub_probe, duration, warmup, in_flight, pinned,
            ))
        })
        .context("cannot start the peer thread")?;
    let outcome = peer_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the peer thread panicked"))??;
    let _ = stop_tx.send(());
    let _ = hub_thread.join();

    if opts.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        print_outcome(&outcome, hub_cpu, peer_cpu);
    }
    if outcome.committed == 0 {
        bail!("no transfer committed in the window");
    }
    if outcome.errors > 0 {
        bail!("{} transfers failed (see the table)", outcome.errors);
    }
    Ok(())
}

fn print_outcome(o: &Outcome, hub_cpu: usize, peer_cpu: usize) {
    let pin = if o.pinned {
        format!("hub on CPU {hub_cpu}, load peer on CPU {peer_cpu}")
    } else {
        "not pinned".to_owned()
    };
    println!(
        "perfbed bench hub — transfer flow, JWS off, {} in flight, {:.1} s window ({pin})",
        o.in_flight, o.window_s
    );
    println!(
        "  committed                  {:>10} ({:.0}/s), errors {}",
        o.committed, o.committed_per_s, o.errors
    );
    println!(
        "  hub thread CPU             {:>9.1} % of a core",
        100.0 * o.hub_cpu_share
    );
    println!(
        "  hub CPU-µs per transfer    {:>10.1}",
        o.hub_cpu_us_per_transfer
    );
    println!(
        "  transfers/s per hub core   {:>10.0}",
        o.transfers_per_s_per_hub_core
    );
    println!(
        "  load peer CPU              {:>9.1} % of a core",
        100.0 * o.peer_cpu_share
    );
    println!("  limit                      {}", o.limit);
}

async fn run_peer(
    hub_addr: SocketAddr,
    hub_probe: CpuProbe,
    duration: Duration,
    warmup: Duration,
    in_flight: usize,
    pinned: bool,
) -> Result<Outcome> {
    // The peer's callback server.
    let (listener, peer_addr) = perfbed_http::server::bind(([127, 0, 0, 1], 0).into())
        .await
        .context("cannot bind the peer's callback port")?;

    // One prepare body template (a real ILP v4 packet and its condition); only the transfer id
    // changes. The hub checks sha256(fulfilment) == condition, so the payee answers every
    // transfer with the same fulfilment.
    let money = Money::parse("1", "XXX").context("amount")?;
    let expiration =
        DateTime::from_offset_date_time(time::OffsetDateTime::now_utc() + time::Duration::hours(1));
    let party = |fsp: &str, n: u8| {
        PartyIdInfo::msisdn(fsp, &fspiop::testbed::msisdn(n, 0)).map(Party::with_id)
    };
    let quote = QuotesPost::p2p(
        CorrelationId::v4_from_bytes(rand::random()),
        CorrelationId::v4_from_bytes(rand::random()),
        party(PAYER, 1).context("payer party")?,
        party(PAYEE, 5).context("payee party")?,
        money.clone(),
    );
    let tx = TransactionObject::from_quote(&quote, &money, &expiration, None);
    let ilp = IlpSecret::new(b"perfbed-bench")
        .build(IlpVersion::V4, &tx)
        .context("cannot build the ILP packet")?;
    let template = TransfersPost {
        amount: money,
        condition: ilp.condition,
        expiration,
        extension_list: None,
        ilp_packet: ilp.packet,
        payee_fsp: FspId::parse(PAYEE).context("fsp id")?,
        payer_fsp: FspId::parse(PAYER).context("fsp id")?,
        transfer_id: quote.transaction_id.clone(),
    };
    let fulfil_body = Bytes::from(format!(
        r#"{{"completedTimestamp":"{}","fulfilment":"{}","transferState":"COMMITTED"}}"#,
        DateTime::from_offset_date_time(time::OffsetDateTime::now_utc()).as_str(),
        ilp.fulfilment.as_str()
    ));

    let hub = format!("http://{hub_addr}");
    let peer = Arc::new(Peer {
        hub: hub.clone(),
        client: HttpClient::new(ClientOptions {
            max_in_flight: 4 * in_flight.max(128),
            ..ClientOptions::default()
        }),
        counters: Counters::default(),
        slots: Semaphore::new(0),
        fulfil_body,
    });
    let app = Router::new()
        .route("/payee/transfers", post(payee_prepare))
        .route("/payee/transfers/{id}", put(payee_confirmation))
        .route("/payee/transfers/{id}/error", put(payee_error))
        .route("/payer/transfers/{id}", put(payer_notification))
        .route("/payer/transfers/{id}/error", put(payer_error))
        .with_state(peer.clone());
    let (stop_server_tx, stop_server_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(perfbed_http::server::serve(
        listener,
        app,
        None,
        async {
            let _ = stop_server_rx.await;
        },
        Duration::from_secs(2),
    ));

    // Onboard the two FSPs with the hub's admin API, callbacks to this peer.
    let admin = ops::Admin::plain(&format!("{hub}/admin"));
    let onboarding = ops::Onboarding {
        currency: "XXX".into(),
        ndc: 1_000_000_000_000,
        funds: 1_000_000_000_000,
        dfsps: [PAYER, PAYEE]
            .iter()
            .map(|name| ops::Dfsp {
                name: (*name).to_owned(),
                callback_base: format!(
                    "http://{peer_addr}/{}",
                    if *name == PAYER { "payer" } else { "payee" }
                ),
            })
            .collect(),
    };
    ops::onboard(&admin, &onboarding)
        .await
        .context("cannot onboard the benchmark FSPs into the hub")?;

    // The closed loop: a slot per transfer in flight; a commit or a failure frees it.
    let stop = Arc::new(AtomicBool::new(false));
    let prefix: [u8; 8] = rand::random();
    let sent = Arc::new(AtomicU64::new(0));
    peer.slots.add_permits(in_flight);
    let driver = {
        let (peer, stop, sent) = (peer.clone(), stop.clone(), sent.clone());
        tokio::spawn(async move {
            let mut n: u64 = 0;
            loop {
                let Ok(slot) = peer.slots.acquire().await else {
                    break;
                };
                slot.forget();
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                n += 1;
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&prefix);
                id[8..].copy_from_slice(&n.to_be_bytes());
                let mut t = template.clone();
                t.transfer_id = CorrelationId::v4_from_bytes(id);
                let body = Bytes::from(to_canonical_vec(&t));
                sent.fetch_add(1, Ordering::Relaxed);
                let peer = peer.clone();
                tokio::spawn(async move {
                    let url = format!("{}/transfers", peer.hub);
                    let ok = peer
                        .send(
                            Method::POST,
                            url,
                            (PAYER, PAYEE),
                            Some(body),
                            StatusCode::ACCEPTED,
                        )
                        .await;
                    if !ok {
                        peer.counters
                            .prepares_refused
                            .fetch_add(1, Ordering::Relaxed);
                        peer.slots.add_permits(1);
                    }
                });
            }
        })
    };

    // The window's edges: peer CPU, hub CPU, commits, time.
    let edge = || async {
        (
            thread_cpu(),
            probe(&hub_probe).await,
            peer.counters.committed.load(Ordering::Relaxed),
            Instant::now(),
        )
    };
    tokio::time::sleep(warmup).await;
    let (p0, h0, c0, t0) = edge().await;
    tokio::time::sleep(duration).await;
    let (p1, h1, c1, t1) = edge().await;

    // Stop sending, let what is in flight finish, then check every transfer ended.
    stop.store(true, Ordering::Relaxed);
    peer.slots.add_permits(1);
    let _ = driver.await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let c = &peer.counters;
    let ended = || {
        c.committed.load(Ordering::Relaxed)
            + c.payer_errors.load(Ordering::Relaxed)
            + c.prepares_refused.load(Ordering::Relaxed)
    };
    while ended() < sent.load(Ordering::Relaxed) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let unfinished = sent.load(Ordering::Relaxed).saturating_sub(ended());
    let _ = stop_server_tx.send(());
    let _ = server.await;

    let window = t1.duration_since(t0).as_secs_f64();
    let committed = c1 - c0;
    let hub_cpu = (h1.saturating_sub(h0)).as_secs_f64();
    let peer_cpu = (p1.saturating_sub(p0)).as_secs_f64();
    let us = if committed > 0 {
        hub_cpu * 1e6 / committed as f64
    } else {
        0.0
    };
    let hub_share = hub_cpu / window;
    let peer_share = peer_cpu / window;
    let errors = c.payer_errors.load(Ordering::Relaxed)
        + c.payee_errors.load(Ordering::Relaxed)
        + c.prepares_refused.load(Ordering::Relaxed)
        + c.fulfils_refused.load(Ordering::Relaxed)
        + unfinished;
    Ok(Outcome {
        window_s: window,
        in_flight,
        pinned,
        committed,
        committed_per_s: committed as f64 / window,
        total_sent: sent.load(Ordering::Relaxed),
        total_committed: c.committed.load(Ordering::Relaxed),
        errors,
        hub_cpu_share: hub_share,
        hub_cpu_us_per_transfer: us,
        transfers_per_s_per_hub_core: if us > 0.0 { 1e6 / us } else { 0.0 },
        peer_cpu_share: peer_share,
        limit: if hub_share >= 0.95 {
            "the hub (its core is saturated)"
        } else if peer_share >= 0.95 {
            "the load peer (its core is saturated); the hub's figure per core is from its CPU time"
        } else {
            "neither core saturated (raise --in-flight)"
        },
    })
}

async fn payee_prepare(State(peer): State<Arc<Peer>>, body: Bytes) -> StatusCode {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Id {
        transfer_id: String,
    }
    let Ok(Id { transfer_id }) = serde_json::from_slice::<Id>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    tokio::spawn(async move {
        let url = format!("{}/transfers/{transfer_id}", peer.hub);
        let body = Some(peer.fulfil_body.clone());
        let ok = peer
            .send(Method::PUT, url, (PAYEE, PAYER), body, StatusCode::OK)
            .await;
        if !ok {
            peer.counters
                .fulfils_refused
                .fetch_add(1, Ordering::Relaxed);
        }
    });
    StatusCode::ACCEPTED
}

async fn payee_confirmation(State(peer): State<Arc<Peer>>, _id: Path<String>) -> StatusCode {
    peer.counters.confirmations.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK
}

async fn payee_error(State(peer): State<Arc<Peer>>, _id: Path<String>) -> StatusCode {
    peer.counters.payee_errors.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK
}

async fn payer_notification(
    State(peer): State<Arc<Peer>>,
    _id: Path<String>,
    body: Bytes,
) -> StatusCode {
    let committed = body.windows(9).any(|w| w == b"COMMITTED");
    let counter = if committed {
        &peer.counters.committed
    } else {
        &peer.counters.payer_errors
    };
    counter.fetch_add(1, Ordering::Relaxed);
    peer.slots.add_permits(1);
    StatusCode::OK
}

async fn payer_error(State(peer): State<Arc<Peer>>, _id: Path<String>) -> StatusCode {
    peer.counters.payer_errors.fetch_add(1, Ordering::Relaxed);
    peer.slots.add_permits(1);
    StatusCode::OK
}
