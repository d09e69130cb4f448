//! The outbound HTTP client: HTTP/1.1 keep-alive connections pooled per origin, rustls
//! (optionally mTLS) for `https://` URLs, plain HTTP otherwise, and a per-request timeout.
//!
//! It is a thin pool over hyper's own HTTP/1.1 connections (`hyper::client::conn::http1`): a
//! request takes an idle connection of its origin (or opens one), is sent in origin form with a
//! `Host` header, and gives the connection back once the whole response has been read. A request
//! that a pooled connection closed before it was written is retried once on a new connection.
//! One that was written and then lost (reset, closed before the answer) is resent once, on a
//! fresh connection, only when it is a `PUT` or `PATCH`: FSPIOP callbacks are idempotent, while
//! a `POST` (a prepare, a quote request) is never resent and stays "failed after send".
//!
//! Idle connections are given up before the server closes them. Node's http server (under
//! every hapi service of Mojaloop) closes a keep-alive connection idle for its
//! `keepAliveTimeout` (5 s; Node 20 waits one more second) and says so in `Keep-Alive:
//! timeout=5`; a busy event loop fires those timers late, and a request written on such a
//! connection in the meantime is reset unread. So a connection is reused only while it has
//! been idle less than the server's `timeout=N` minus a second (at least N/2), or
//! [`DEFAULT_IDLE`] (4 s) when the server gives no `Keep-Alive` header.
//!
//! Every error says whether the request may have reached the server ([`ClientError::sent`]):
//! a request is "sent" from the moment it is handed to a connection, because from then on the
//! server may have read it, even if the answer never comes. Callers count the two apart (a
//! load driver's "not sent" must mean the switch never saw the request).
//! This is what every hub callback, simulator callback and driver request goes through, so it is
//! kept lean: one lock, no task per request.

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How the client behaves.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// TLS for `https://` URLs (with a client certificate for mTLS). Without it, `https://`
    /// URLs use the platform's… nothing: they fail, so misconfiguration is loud.
    pub tls: Option<Arc<ClientConfig>>,
    /// Whole-request timeout (connect, send, response head and body).
    pub timeout: Duration,
    /// Idle keep-alive connections kept per origin.
    pub max_idle_per_host: usize,
    /// Requests in flight at once (so connections); more wait for a slot within their
    /// timeout. The real hub's HTTP agent keeps 512 sockets.
    pub max_in_flight: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            tls: None,
            timeout: Duration::from_secs(20),
            max_idle_per_host: 512,
            max_in_flight: 512,
        }
    }
}

/// Why a request did not get a response, and whether it may have reached the server
/// ([`ClientError::sent`]).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request never left: bad URL, no connection (refused, unreachable, TLS handshake
    /// failed), or a pooled connection closed before the request was written and the retry
    /// failed before writing too.
    #[error("not sent: {0}")]
    NotSent(String),
    /// The request was handed to a connection, then the connection was reset or closed, or the
    /// response was malformed, before a whole response arrived. The server may have read it.
    #[error("failed after the request was sent: {0}")]
    FailedAfterSend(String),
    /// The timeout ran out while connecting or waiting for a connection slot: never left.
    #[error("not sent: timed out after {0:?} before a connection took the request")]
    ConnectTimeout(Duration),
    /// The timeout ran out after the request was handed to a connection: it may have reached
    /// the server, which did not answer in time.
    #[error("timed out after {0:?} waiting for the response (the request was sent)")]
    Timeout(Duration),
    /// The URL is `https://` but no TLS is configured: never left.
    #[error("not sent: https URL but no TLS configured (give a CA for outbound TLS)")]
    NoTls,
}

impl ClientError {
    /// What happened, without the kind (`not sent`, `failed after …`) that the variant already
    /// says: what an outcome keyed by its kind carries (`not sent: connect to …`, not
    /// `not sent: not sent: connect to …`).
    pub fn reason(&self) -> String {
        match self {
            ClientError::NotSent(r) | ClientError::FailedAfterSend(r) => r.clone(),
            ClientError::ConnectTimeout(d) => {
                format!("timed out after {d:?} before a connection took the request")
            }
            ClientError::Timeout(d) => {
                format!("timed out after {d:?} waiting for the response")
            }
            ClientError::NoTls => {
                "https URL but no TLS configured (give a CA for outbound TLS)".into()
            }
        }
    }

    /// Whether the request may have reached the server: it was handed to a connection before
    /// the failure. `false` means it certainly did not leave this process.
    pub fn sent(&self) -> bool {
        matches!(
            self,
            ClientError::FailedAfterSend(_) | ClientError::Timeout(_)
        )
    }
}

/// How long an idle connection is reused when the server does not say (`Keep-Alive:
/// timeout=N`): below the 5 s after which Node's http server, and so every hapi service of
/// Mojaloop, closes idle keep-alive connections.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(4);

/// The longest an idle connection is kept, whatever the server allows.
const MAX_IDLE: Duration = Duration::from_secs(90);

/// How long a connection may idle before its next request, from the response's `Keep-Alive`
/// header (`timeout=N`, seconds): a second less than the server's N, so that a request never
/// races the server's own close (at least N/2: `timeout=1` gives 0.5 s; `timeout=0` none),
/// or [`DEFAULT_IDLE`] when the header is absent or says nothing about a timeout.
pub fn idle_limit(headers: &http::HeaderMap) -> Duration {
    let timeout = headers
        .get_all("keep-alive")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|param| {
            let (k, v) = param.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("timeout")
                .then(|| v.trim().trim_matches('"').parse::<u64>().ok())?
        });
    match timeout {
        None => DEFAULT_IDLE,
        Some(n) => {
            let n = Duration::from_secs(n).min(MAX_IDLE);
            n.saturating_sub(Duration::from_secs(1)).max(n / 2)
        }
    }
}

/// Whether a request may be sent again after it was written and lost: FSPIOP callbacks
/// (`PUT`, `PATCH`) are idempotent; a `POST` is not.
fn resendable(method: &http::Method) -> bool {
    *method == http::Method::PUT || *method == http::Method::PATCH
}

/// A copy of a request about to be sent, kept to send it once more if it is lost after
/// being written (only for [`resendable`] methods).
fn copy(req: &Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let mut c = Request::new(req.body().clone());
    *c.method_mut() = req.method().clone();
    *c.uri_mut() = req.uri().clone();
    *c.version_mut() = req.version();
    *c.headers_mut() = req.headers().clone();
    c
}

/// How a callback is retried when it could not be delivered ([`HttpClient::deliver`]): a busy
/// or starved machine makes perfbed slow, never lossy.
///
/// A request is sent again, after a backoff that doubles from `backoff`, while attempts are
/// left and the failure leaves it safe to: it never left (no connection, no slot within the
/// timeout), or the receiver shed it unread (HTTP 503), or it is an idempotent `PUT`/`PATCH`
/// (every FSPIOP callback) whose answer did not come. A `POST` that may have reached the
/// server, and every other answer (a refusal is a refusal), end the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all (1: no retry).
    pub attempts: u32,
    /// Wait before the second attempt; doubled before each later one.
    pub backoff: Duration,
}

impl Default for Retry {
    /// 4 attempts, 0.5 s, 1 s and 2 s apart.
    fn default() -> Self {
        Retry {
            attempts: 4,
            backoff: Duration::from_millis(500),
        }
    }
}

/// What became of a delivery ([`HttpClient::deliver`]): the last attempt's result, and how many
/// attempts it took.
#[derive(Debug)]
pub struct Delivery {
    /// The last attempt's answer or error.
    pub result: Result<Response<Bytes>, ClientError>,
    /// Attempts made (1 when the first one settled it).
    pub attempts: u32,
}

impl Delivery {
    /// Delivered: a 2xx answer.
    pub fn ok(&self) -> bool {
        matches!(&self.result, Ok(r) if r.status().is_success())
    }
}

/// Whether a failed attempt may be made again (see [`Retry`]).
fn retryable(method: &http::Method, result: &Result<Response<Bytes>, ClientError>) -> bool {
    match result {
        Ok(r) => r.status() == http::StatusCode::SERVICE_UNAVAILABLE,
        Err(ClientError::NoTls) => false,
        Err(e) => !e.sent() || resendable(method),
    }
}

impl HttpClient {
    /// Sends `req` as a callback: [`HttpClient::send`], then again as [`Retry`] allows while it
    /// was not delivered.
    pub async fn deliver(&self, mut req: Request<Full<Bytes>>, retry: Retry) -> Delivery {
        let mut attempts = 1;
        let mut backoff = retry.backoff;
        loop {
            let method = req.method().clone();
            let spare = (attempts < retry.attempts).then(|| copy(&req));
            let result = self.send(req).await;
            let failed = !matches!(&result, Ok(r) if r.status().is_success());
            match spare {
                Some(spare) if failed && retryable(&method, &result) => {
                    tracing::debug!(attempt = attempts, "callback not delivered; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                    attempts += 1;
                    req = spare;
                }
                _ => return Delivery { result, attempts },
            }
        }
    }
}

/// Where connections go: scheme and authority (`http://host:port`).
#[derive(Debug, Clone)]
struct Origin {
    https: bool,
    authority: Authority,
}

type Sender = SendRequest<Full<Bytes>>;
/// Idle connections by authority as written in the URL, one map for `http` and one for
/// `https` (a `str` key hashes and compares in a few instructions; `Authority` does both
/// case-insensitively, byte by byte, and that was 3 % of the hub's instructions).
/// Each idle connection with the instant it must not be used after.
type Idle = [HashMap<Box<str>, Vec<(Sender, Instant)>, foldhash::fast::RandomState>; 2];

/// A cloneable, pooled HTTP/1.1 client.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    idle: Mutex<Idle>,
    tls: Option<TlsConnector>,
    timeout: Duration,
    max_idle_per_host: usize,
    slots: tokio::sync::Semaphore,
    /// TLS handshakes completed (new connections to `https` origins).
    handshakes: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("tls", &self.inner.tls.is_some())
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// TLS handshakes this client (and its clones) completed so far: one per new connection to
    /// an `https` origin.
    pub fn tls_handshakes(&self) -> u64 {
        self.inner
            .handshakes
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Builds the client.
    pub fn new(options: ClientOptions) -> HttpClient {
        let tls = options.tls.map(|config| {
            let mut config = (*config).clone();
            if config.alpn_protocols.is_empty() {
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
            }
            TlsConnector::from(Arc::new(config))
        });
        HttpClient {
            inner: Arc::new(Inner {
                idle: Mutex::new(Idle::default()),
                tls,
                timeout: options.timeout,
                max_idle_per_host: options.max_idle_per_host,
                slots: tokio::sync::Semaphore::new(options.max_in_flight.max(1)),
                handshakes: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Sends a request (absolute URI: `http://host:port/path`) and reads the whole response
    /// body, within the client's timeout.
    pub async fn send(&self, req: Request<Full<Bytes>>) -> Result<Response<Bytes>, ClientError> {
        self.send_within(req, self.inner.timeout).await
    }

    /// [`HttpClient::send`] with a shorter timeout for this request (the client's own timeout
    /// still applies when it is shorter): a caller with its own deadline learns whether the
    /// request left before the deadline passed.
    pub async fn send_within(
        &self,
        req: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<Response<Bytes>, ClientError> {
        let origin = origin_of(req.uri())?;
        if origin.https && self.inner.tls.is_none() {
            return Err(ClientError::NoTls);
        }
        let timeout = timeout.min(self.inner.timeout);
        // Set once the request is handed to a connection: a timeout after that may have left.
        let handed = AtomicBool::new(false);
        // Boxed: the request's state machine is several KB, and callers spawn a task per
        // request; a task moves its future a few times, so a small future is cheaper than one
        // allocation less (callgrind: −6 % of the hub's instructions per transfer).
        let result =
            tokio::time::timeout(timeout, Box::pin(self.inner.send(origin, req, &handed))).await;
        match result {
            Ok(r) => r,
            Err(_) if handed.load(Ordering::Relaxed) => Err(ClientError::Timeout(timeout)),
            Err(_) => Err(ClientError::ConnectTimeout(timeout)),
        }
    }

    /// Idle pooled connections (all origins); for tests and diagnostics.
    pub fn idle_connections(&self) -> usize {
        self.inner
            .lock()
            .iter()
            .flat_map(|m| m.values())
            .map(Vec::len)
            .sum()
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `req`; sets `handed` while a connection holds the request (a timeout then means
    /// it may have left).
    async fn send(
        &self,
        origin: Origin,
        req: Request<Full<Bytes>>,
        handed: &AtomicBool,
    ) -> Result<Response<Bytes>, ClientError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| ClientError::NotSent("client closed".into()))?;
        let mut req = into_origin_form(req, &origin.authority)?;
        // A callback lost after it was written goes once more, on a fresh connection.
        let mut again = resendable(req.method()).then(|| copy(&req));
        // Set once a copy went out: the request has been written once already, so whatever
        // happens to the copy, it may have reached the server.
        let mut resent = false;
        let lost = |resent: bool, why: String| {
            if resent {
                ClientError::FailedAfterSend(format!(
                    "{why} (resending a request lost after it was written)"
                ))
            } else {
                ClientError::NotSent(why)
            }
        };
        loop {
            let pooled = if resent { None } else { self.checkout(&origin) };
            let (mut conn, pooled) = match pooled {
                Some(conn) => (conn, true),
                None => match self.connect(&origin).await {
                    Ok(conn) => (conn, false),
                    Err(e) if resent => return Err(lost(true, e.to_string())),
                    Err(e) => return Err(e),
                },
            };
            if let Err(e) = conn.ready().await {
                if pooled {
                    continue; // closed while idle: take another
                }
                return Err(lost(resent, error_chain(&e)));
            }
            handed.store(true, Ordering::Relaxed);
            match conn.try_send_request(req).await {
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map_err(|e| ClientError::FailedAfterSend(error_chain(&e)))?
                        .to_bytes();
                    let keep = idle_limit(&parts.headers);
                    self.checkin(origin, conn, keep);
                    return Ok(Response::from_parts(parts, body));
                }
                Err(mut e) => match e.take_message() {
                    // Not written: the pooled connection was closing; another one gets it.
                    Some(unsent) if pooled => {
                        handed.store(false, Ordering::Relaxed);
                        req = unsent;
                    }
                    // Not written, on a fresh connection: it never left (unless it is the copy
                    // of one that had).
                    Some(_) => {
                        handed.store(resent, Ordering::Relaxed);
                        return Err(lost(resent, error_chain(e.error())));
                    }
                    // Written, then lost: an idempotent callback goes once more.
                    None => match again.take() {
                        Some(copy) => {
                            tracing::debug!(error = %error_chain(e.error()), "request lost after it was written: sending it once more on a fresh connection");
                            req = copy;
                            resent = true;
                        }
                        None => return Err(ClientError::FailedAfterSend(error_chain(e.error()))),
                    },
                },
            }
        }
    }

    /// An idle connection to `origin` that is still open and has idled less than its limit,
    /// most recently used first.
    fn checkout(&self, origin: &Origin) -> Option<Sender> {
        let mut idle = self.lock();
        let conns = idle[usize::from(origin.https)].get_mut(origin.authority.as_str())?;
        let now = Instant::now();
        while let Some((conn, until)) = conns.pop() {
            if !conn.is_closed() && now < until {
                return Some(conn);
            }
        }
        None
    }

    /// Pools `conn` for at most `keep` of idling ([`idle_limit`]).
    fn checkin(&self, origin: Origin, conn: Sender, keep: Duration) {
        if conn.is_closed() || self.max_idle_per_host == 0 || keep.is_zero() {
            return;
        }
        let now = Instant::now();
        let until = now + keep;
        let mut idle = self.lock();
        let map = &mut idle[usize::from(origin.https)];
        let Some(conns) = map.get_mut(origin.authority.as_str()) else {
            map.insert(origin.authority.as_str().into(), vec![(conn, until)]);
            return;
        };
        // The oldest sit at the front: drop the expired once the oldest is.
        if conns.first().is_some_and(|(_, until)| *until <= now) {
            conns.retain(|(c, until)| !c.is_closed() && *until > now);
        }
        if conns.len() < self.max_idle_per_host {
            conns.push((conn, until));
        }
    }

    async fn connect(&self, origin: &Origin) -> Result<Sender, ClientError> {
        let host = origin.authority.host();
        let port = origin
            .authority
            .port_u16()
            .unwrap_or(if origin.https { 443 } else { 80 });
        // `[::1]` in a URL is `::1` to the resolver.
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let tcp = TcpStream::connect((bare, port))
            .await
            .map_err(|e| ClientError::NotSent(format!("connect to {host}:{port}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let sock = socket2::SockRef::from(&tcp);
        let _ = sock
            .set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(Duration::from_secs(60)));
        let sender = if origin.https {
            let tls = self.tls.as_ref().ok_or(ClientError::NoTls)?;
            let name = ServerName::try_from(bare.to_owned())
                .map_err(|e| ClientError::NotSent(format!("server name {bare}: {e}")))?;
            let stream = tls
                .connect(name, tcp)
                .await
                .map_err(|e| ClientError::NotSent(format!("TLS with {host}:{port}: {e}")))?;
            self.handshakes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            handshake(TokioIo::new(stream)).await?
        } else {
            handshake(TokioIo::new(tcp)).await?
        };
        Ok(sender)
    }
}

/// Starts HTTP/1.1 on a connected stream; the connection runs as its own task until closed.
async fn handshake<T>(io: T) -> Result<Sender, ClientError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| ClientError::NotSent(error_chain(&e)))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::trace!(error = %e, "outbound connection closed with error");
        }
    });
    Ok(sender)
}

fn origin_of(uri: &Uri) -> Result<Origin, ClientError> {
    let https = match uri.scheme() {
        Some(s) if *s == Scheme::HTTPS => true,
        Some(s) if *s == Scheme::HTTP => false,
        _ => {
            return Err(ClientError::NotSent(format!(
                "{uri}: need an absolute http:// or https:// URL"
            )))
        }
    };
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| ClientError::NotSent(format!("{uri}: no host")))?;
    Ok(Origin { https, authority })
}

/// `http://host:port/p?q` → `/p?q` with `Host: host:port` (what HTTP/1.1 servers expect).
fn into_origin_form(
    mut req: Request<Full<Bytes>>,
    authority: &Authority,
) -> Result<Request<Full<Bytes>>, ClientError> {
    let path = req
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
    *req.uri_mut() = Uri::from(path);
    if !req.headers().contains_key(http::header::HOST) {
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|e| ClientError::NotSent(format!("host {authority}: {e}")))?;
        req.headers_mut().insert(http::header::HOST, host);
    }
    Ok(req)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
