//! The outbound client against a real Node http server with Node's default keep-alive
//! behaviour — what every hapi service of Mojaloop runs on (reference: real-switch.md): idle
//! connections closed by the server, `Keep-Alive: timeout=5`, and under load keep-alive timers
//! that fire late and reset requests written in the meantime. Requests spaced past and around
//! the idle timeout must all succeed. Needs `node` on the PATH (it fails, never skips, without).

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use perfbed_http::{ClientOptions, HttpClient};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The Node server; killed when dropped.
struct Node {
    child: Child,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn node() -> Node {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/server.js");
    let mut child = Command::new("node")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `node {script}` ({e}): install Node.js"));
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().unwrap();
    Node {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

fn request(method: Method, url: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(
            b"{\"transferState\":\"COMMITTED\"}",
        )))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_spaced_around_nodes_keep_alive_timeout_all_succeed() {
    let node = node();
    // Each client holds one connection, idle for its gap before its next request: below the
    // client's limit (3 s), just past the advertised timeout (5.05 s), and around Node's real
    // close (6 s) while the server's event loop is blocked from 5.6 s to 6.5 s — so keep-alive
    // timers due at 6 s fire late, after requests were written on those connections.
    let gaps_ms = [3_000, 4_500, 5_050, 5_500, 5_800, 5_950, 6_050, 6_200];
    let mut clients = Vec::new();
    for (i, gap) in gaps_ms.iter().enumerate() {
        let c = HttpClient::new(ClientOptions::default());
        let method = if i % 2 == 0 {
            Method::POST
        } else {
            Method::PUT
        };
        let url = format!("{}/transfers/{i}", node.base);
        let resp = c.send(request(method.clone(), &url)).await.unwrap();
        assert_eq!(
            resp.headers()
                .get("keep-alive")
                .map(|v| v.to_str().unwrap()),
            Some("timeout=5"),
            "Node's default"
        );
        clients.push((c, method, url, Duration::from_millis(*gap)));
    }
    let idle_since = tokio::time::Instant::now();
    let blocker = {
        let url = format!("{}/block?ms=900", node.base);
        tokio::spawn(async move {
            tokio::time::sleep_until(idle_since + Duration::from_millis(5_600)).await;
            HttpClient::new(ClientOptions::default())
                .send(request(Method::POST, &url))
                .await
        })
    };
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|(c, method, url, gap)| {
            tokio::spawn(async move {
                tokio::time::sleep_until(idle_since + gap).await;
                let second = c.send(request(method.clone(), &url)).await;
                // And at once again: a connection the server just used is reused.
                let third = c.send(request(method.clone(), &url)).await;
                (
                    gap,
                    method,
                    second.map(|r| r.status()),
                    third.map(|r| r.status()),
                )
            })
        })
        .collect();
    let mut failed = Vec::new();
    for t in tasks {
        let (gap, method, second, third) = t.await.unwrap();
        for (which, r) in [("after the gap", second), ("right after", third)] {
            match r {
                Ok(s) if s.is_success() => {}
                other => failed.push(format!("{method} {which} {gap:?} idle: {other:?}")),
            }
        }
    }
    assert!(blocker.await.unwrap().is_ok());
    assert!(failed.is_empty(), "failed: {failed:#?}");

    // Every request reached Node exactly once; connections: one per client at first, a fresh
    // one after each gap of 4 s or more (the client's limit, `timeout=5` minus a second), the
    // immediate third request on the same connection, the blocker's, and this one.
    let seen = HttpClient::new(ClientOptions::default())
        .send(request(Method::GET, &format!("{}/seen", node.base)))
        .await
        .unwrap();
    let seen: serde_json::Value = serde_json::from_slice(seen.body()).unwrap();
    for i in 0..gaps_ms.len() {
        let method = if i % 2 == 0 { "POST" } else { "PUT" };
        assert_eq!(
            seen["requests"][format!("{method} /transfers/{i}")],
            3,
            "{seen}"
        );
    }
    let fresh_after_gap = gaps_ms.iter().filter(|g| **g >= 4_000).count();
    assert_eq!(
        seen["connections"],
        gaps_ms.len() + fresh_after_gap + 2,
        "{seen}"
    );
}
