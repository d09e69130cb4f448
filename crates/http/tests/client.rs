//! The outbound client against raw TCP servers that record what reaches the wire: connection
//! reuse, origin-form requests with `Host`, no resend of a written request, a fresh connection
//! when the pooled one was closed, refusals and timeouts — and for every failure, whether the
//! request may have reached the server (`ClientError::sent`).
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use perfbed_http::{ClientError, ClientOptions, HttpClient, Retry};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a server does after reading a request.
#[derive(Clone, Copy)]
enum Reply {
    /// `200 ok`, keep the connection.
    Ok,
    /// `200 ok` with this `Keep-Alive` header, keep the connection.
    OkKeepAlive(&'static str),
    /// Reset the connection after reading the server's first request; answer `200 ok` to
    /// every later one.
    ResetFirst,
    /// `200 ok`, then close the connection a moment later (no `Connection: close`).
    OkThenClose,
    /// Close without answering.
    Hangup,
    /// Reset the connection (RST) without answering.
    Reset,
    /// Never answer.
    Silent,
    /// `503` to the server's first request, `200 ok` to every later one.
    UnavailableFirst,
    /// `400` to every request.
    BadRequest,
}

#[derive(Default)]
struct Seen {
    connections: usize,
    /// Request head (request line and headers) and body, per request.
    requests: Vec<(String, Vec<u8>)>,
}

async fn server(reply: Reply) -> (SocketAddr, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            s.lock().unwrap().connections += 1;
            tokio::spawn(serve(tcp, reply, s.clone()));
        }
    });
    (addr, seen)
}

async fn serve(mut tcp: TcpStream, reply: Reply, seen: Arc<Mutex<Seen>>) {
    let mut buf = Vec::new();
    loop {
        // Read one request: head up to the blank line, then content-length bytes.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let len = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 4096];
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);
        let first = {
            let mut seen = seen.lock().unwrap();
            seen.requests.push((head, body));
            seen.requests.len() == 1
        };
        match reply {
            Reply::OkKeepAlive(keep) => {
                let answer =
                    format!("HTTP/1.1 200 OK\r\nkeep-alive: {keep}\r\ncontent-length: 2\r\n\r\nok");
                let _ = tcp.write_all(answer.as_bytes()).await;
            }
            Reply::ResetFirst if first => {
                let _ = socket2::SockRef::from(&tcp).set_linger(Some(Duration::ZERO));
                return;
            }
            Reply::Ok | Reply::OkThenClose | Reply::ResetFirst => {
                let _ = tcp
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                if matches!(reply, Reply::OkThenClose) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    return;
                }
            }
            Reply::Hangup => return,
            Reply::Reset => {
                let _ = socket2::SockRef::from(&tcp).set_linger(Some(Duration::ZERO));
                return;
            }
            Reply::Silent => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Reply::UnavailableFirst | Reply::BadRequest => {
                let answer: &[u8] = match reply {
                    Reply::UnavailableFirst if first => {
                        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
                    }
                    Reply::BadRequest => b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
                    _ => b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
                };
                let _ = tcp.write_all(answer).await;
            }
        }
    }
}

fn request(method: Method, url: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

fn client(timeout: Duration) -> HttpClient {
    HttpClient::new(ClientOptions {
        timeout,
        ..ClientOptions::default()
    })
}

#[tokio::test]
async fn sequential_requests_share_one_connection_in_origin_form_with_host() {
    let (addr, seen) = server(Reply::Ok).await;
    let c = client(Duration::from_secs(5));
    for i in 0..3 {
        let url = format!("http://{addr}/transfers/t{i}?x=1");
        let resp = c
            .send(request(Method::PUT, &url, "{\"a\":1}"))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(&resp.body()[..], b"ok");
    }
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.connections, 1,
        "keep-alive: one connection for all three"
    );
    assert_eq!(seen.requests.len(), 3);
    let (head, body) = &seen.requests[2];
    assert!(
        head.starts_with("PUT /transfers/t2?x=1 HTTP/1.1\r\n"),
        "origin form: {head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("\r\nhost: {addr}\r\n")),
        "Host header: {head}"
    );
    assert_eq!(body, b"{\"a\":1}");
    assert_eq!(c.idle_connections(), 1);
}

#[tokio::test]
async fn concurrent_requests_open_connections_and_pool_them() {
    let (addr, seen) = server(Reply::Ok).await;
    let c = client(Duration::from_secs(5));
    let url = format!("http://{addr}/x");
    let all = (0..40).map(|_| {
        let c = c.clone();
        let url = url.clone();
        tokio::spawn(async move { c.send(request(Method::POST, &url, "{}")).await })
    });
    for r in futures_join(all).await {
        assert_eq!(r.unwrap().status(), 200);
    }
    let opened = seen.lock().unwrap().connections;
    assert!((1..=40).contains(&opened), "{opened} connections");
    assert_eq!(seen.lock().unwrap().requests.len(), 40);
    assert_eq!(c.idle_connections(), opened);
    // A second round reuses what the first opened.
    for _ in 0..10 {
        c.send(request(Method::POST, &url, "{}")).await.unwrap();
    }
    assert_eq!(seen.lock().unwrap().connections, opened);
}

async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_connection_the_server_closed_is_not_reused() {
    let (addr, seen) = server(Reply::OkThenClose).await;
    let c = client(Duration::from_secs(5));
    let url = format!("http://{addr}/x");
    c.send(request(Method::POST, &url, "{}")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await; // the server has closed it
    let resp = c.send(request(Method::POST, &url, "{}")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.connections, 2);
    assert_eq!(
        seen.requests.len(),
        2,
        "each request reached the server once"
    );
}

#[tokio::test]
async fn a_written_request_is_never_resent() {
    let (addr, seen) = server(Reply::Hangup).await;
    let c = client(Duration::from_secs(5));
    let err = c
        .send(request(
            Method::POST,
            &format!("http://{addr}/transfers"),
            "{}",
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::FailedAfterSend(_)), "{err:?}");
    assert!(err.sent(), "the server read it: {err}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(seen.lock().unwrap().requests.len(), 1, "not resent");
    assert_eq!(c.idle_connections(), 0);
}

#[tokio::test]
async fn a_reset_after_the_server_read_the_request_counts_as_sent() {
    let (addr, seen) = server(Reply::Reset).await;
    let c = client(Duration::from_secs(5));
    let err = c
        .send(request(
            Method::POST,
            &format!("http://{addr}/transfers"),
            "{\"a\":1}",
        ))
        .await
        .unwrap_err();
    assert!(err.sent(), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("failed after the request was sent"),
        "{err}"
    );
    assert_eq!(seen.lock().unwrap().requests.len(), 1);
}

#[tokio::test]
async fn a_callback_lost_after_it_was_written_goes_once_more_on_a_fresh_connection() {
    // PUT and PATCH (FSPIOP callbacks) are idempotent: sent once more, on a new connection.
    for method in [Method::PUT, Method::PATCH] {
        let (addr, seen) = server(Reply::ResetFirst).await;
        let c = client(Duration::from_secs(5));
        let resp = c
            .send(request(
                method.clone(),
                &format!("http://{addr}/transfers/t1"),
                "{}",
            ))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{method}");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.requests.len(), 2, "{method}: sent twice");
        assert_eq!(
            seen.connections, 2,
            "{method}: the second on a fresh connection"
        );
    }
    // Once more only: a callback reset twice fails, as sent.
    let (addr, seen) = server(Reply::Reset).await;
    let err = client(Duration::from_secs(5))
        .send(request(
            Method::PUT,
            &format!("http://{addr}/transfers/t1"),
            "{}",
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::FailedAfterSend(_)), "{err:?}");
    assert!(err.sent());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        seen.lock().unwrap().requests.len(),
        2,
        "sent twice, not more"
    );
    // A POST (a prepare) is never resent: it stays failed after send.
    let (addr, seen) = server(Reply::ResetFirst).await;
    let err = client(Duration::from_secs(5))
        .send(request(
            Method::POST,
            &format!("http://{addr}/transfers"),
            "{}",
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::FailedAfterSend(_)), "{err:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        seen.lock().unwrap().requests.len(),
        1,
        "a POST is not resent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_given_up_before_the_server_closes_them() {
    // (Keep-Alive header, idle gap, connections expected): `timeout=N` keeps a connection for
    // N − 1 s (at least N/2), no header for 4 s.
    let cases = [
        (Some("timeout=2"), 1_200, 2),
        (Some("timeout=2"), 600, 1),
        (Some("timeout=10, max=1000"), 4_500, 1),
        (Some("timeout=1"), 700, 2),
        (None, 4_200, 2),
        (None, 3_000, 1),
    ];
    let tasks: Vec<_> = cases
        .into_iter()
        .map(|(header, gap, want)| {
            tokio::spawn(async move {
                let reply = header.map_or(Reply::Ok, Reply::OkKeepAlive);
                let (addr, seen) = server(reply).await;
                let c = client(Duration::from_secs(5));
                let url = format!("http://{addr}/x");
                c.send(request(Method::PUT, &url, "{}")).await.unwrap();
                tokio::time::sleep(Duration::from_millis(gap)).await;
                c.send(request(Method::PUT, &url, "{}")).await.unwrap();
                let got = seen.lock().unwrap().connections;
                (header, gap, want, got)
            })
        })
        .collect();
    for (header, gap, want, got) in futures_join(tasks.into_iter()).await {
        assert_eq!(got, want, "Keep-Alive {header:?}, idle {gap} ms");
    }
}

#[test]
fn the_idle_limit_comes_from_the_keep_alive_header() {
    let limit = |v: Option<&str>| {
        let mut h = http::HeaderMap::new();
        if let Some(v) = v {
            h.insert("keep-alive", v.parse().unwrap());
        }
        perfbed_http::client::idle_limit(&h)
    };
    let s = Duration::from_secs;
    assert_eq!(limit(None), s(4), "Node's 5 s, less a second");
    assert_eq!(limit(Some("timeout=5")), s(4));
    assert_eq!(limit(Some("max=100, timeout=30")), s(29));
    assert_eq!(limit(Some("timeout=1")), Duration::from_millis(500));
    assert_eq!(limit(Some("timeout=0")), Duration::ZERO, "not reused");
    assert_eq!(limit(Some("TIMEOUT = 2")), s(1));
    assert_eq!(limit(Some("timeout=3600")), s(89), "at most 90 s");
    assert_eq!(limit(Some("max=5")), s(4), "no timeout given: the default");
    assert_eq!(limit(Some("timeout=soon")), s(4));
}

#[tokio::test]
async fn no_answer_is_a_timeout() {
    let (addr, _seen) = server(Reply::Silent).await;
    let c = client(Duration::from_millis(200));
    let err = c
        .send(request(Method::GET, &format!("http://{addr}/x"), ""))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Timeout(_)), "{err:?}");
    assert!(err.sent(), "the server holds the request: {err}");
}

#[tokio::test]
async fn a_timeout_before_a_connection_took_the_request_is_not_sent() {
    // One connection slot, held by a request the server never answers: the second request
    // times out waiting for the slot, before anything of it was written.
    let (addr, seen) = server(Reply::Silent).await;
    let c = HttpClient::new(ClientOptions {
        timeout: Duration::from_millis(300),
        max_in_flight: 1,
        ..ClientOptions::default()
    });
    let url = format!("http://{addr}/x");
    let first = {
        let (c, url) = (c.clone(), url.clone());
        tokio::spawn(async move { c.send(request(Method::POST, &url, "{}")).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = c
        .send_within(
            request(Method::POST, &url, "{}"),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::ConnectTimeout(_)), "{err:?}");
    assert!(!err.sent(), "{err}");
    assert!(err.to_string().starts_with("not sent"), "{err}");
    let first = first.await.unwrap().unwrap_err();
    assert!(first.sent(), "{first:?}");
    assert_eq!(
        seen.lock().unwrap().requests.len(),
        1,
        "only the first left"
    );
}

#[tokio::test]
async fn refusals_say_what_is_wrong() {
    let c = client(Duration::from_secs(5));
    let err = c
        .send(request(Method::GET, "https://127.0.0.1:1/x", ""))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::NoTls), "{err:?}");
    assert!(!err.sent());
    let err = c.send(request(Method::GET, "/x", "")).await.unwrap_err();
    assert!(err.to_string().contains("absolute"), "{err}");
    assert!(!err.sent());
    // Nobody listens on a port we just freed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = c
        .send(request(
            Method::GET,
            &format!("http://127.0.0.1:{port}/x"),
            "",
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("connect to 127.0.0.1"), "{err}");
    assert!(matches!(err, ClientError::NotSent(_)), "{err:?}");
    assert!(!err.sent(), "nobody listens: it never left");
}

/// Retries: fast enough for a test (10 ms, 20 ms, …).
const RETRY: Retry = Retry {
    attempts: 3,
    backoff: Duration::from_millis(10),
};

/// Delivers one `method` request to a server that answers as `reply`, with a client whose
/// timeout is `timeout`: what became of it, and the requests the server read (after a pause
/// in which a wrongly resent one would have arrived).
async fn deliver_to(
    reply: Reply,
    method: Method,
    timeout: Duration,
) -> (perfbed_http::Delivery, usize) {
    let (addr, seen) = server(reply).await;
    let d = client(timeout)
        .deliver(request(method, &format!("http://{addr}/x"), "{}"), RETRY)
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let n = seen.lock().unwrap().requests.len();
    (d, n)
}

#[tokio::test]
async fn an_unanswered_callback_is_delivered_again_and_the_attempts_are_counted() {
    let (d, seen) = deliver_to(Reply::Silent, Method::PUT, Duration::from_millis(100)).await;
    assert!(!d.ok());
    assert_eq!(d.attempts, 3, "{d:?}");
    assert!(matches!(d.result, Err(ClientError::Timeout(_))), "{d:?}");
    assert_eq!(seen, 3, "one PUT per attempt");
}

#[tokio::test]
async fn a_post_that_may_have_arrived_is_never_delivered_twice() {
    let (d, seen) = deliver_to(Reply::Silent, Method::POST, Duration::from_millis(100)).await;
    assert_eq!(d.attempts, 1, "{d:?}");
    assert!(d.result.unwrap_err().sent());
    assert_eq!(seen, 1);
}

#[tokio::test]
async fn a_receiver_that_shed_the_request_gets_it_again_even_a_post() {
    let (d, seen) = deliver_to(
        Reply::UnavailableFirst,
        Method::POST,
        Duration::from_secs(5),
    )
    .await;
    assert!(d.ok(), "{d:?}");
    assert_eq!(d.attempts, 2);
    assert_eq!(seen, 2);
}

#[tokio::test]
async fn a_refusal_is_not_retried() {
    let (d, seen) = deliver_to(Reply::BadRequest, Method::PUT, Duration::from_secs(5)).await;
    assert!(!d.ok());
    assert_eq!(d.attempts, 1);
    assert_eq!(d.result.unwrap().status(), 400);
    assert_eq!(seen, 1);
}

#[tokio::test]
async fn a_receiver_that_comes_up_late_gets_the_callback() {
    // Nothing listens on the port at first: not sent, so safe to send again, even a POST.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = client(Duration::from_secs(5));
    let url = format!("http://127.0.0.1:{port}/x");
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(15)).await;
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let (tcp, _) = listener.accept().await.unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        serve(tcp, Reply::Ok, seen.clone()).await;
        let n = seen.lock().unwrap().requests.len();
        n
    });
    let d = c
        .deliver(
            request(Method::POST, &url, "{}"),
            Retry {
                attempts: 8,
                backoff: Duration::from_millis(10),
            },
        )
        .await;
    assert!(d.ok(), "{d:?}");
    assert!(d.attempts >= 2, "the first attempt found nobody: {d:?}");
    drop(c);
    assert_eq!(late.await.unwrap(), 1, "delivered once");
}
