//! Scaffolding shared by the sim test binaries (`sim.rs`, `iso.rs`): keys generated once per
//! test binary, a test hub that records every request and forwards to simulators, and the
//! helpers both use.

// Each test binary compiles this module on its own and uses only part of it (iso.rs never
// tampers with forwarded requests), so items one binary leaves unused are not dead code.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use fspiop::headers::Version;
use fspiop::jws::{
    self, generate_pem, Alg, KeyStore, SigningKey, VerifyInput, VerifyMode, VerifyingKey,
};
use http::{HeaderMap, Method, StatusCode};
use perfbed_http::fspiop::Outbound;
use perfbed_http::{ClientOptions, HttpClient};
use serde_json::Value;
use sim::SimConfig;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;

// ---------------------------------------------------------------------------------------------
// Keys (generated once per test binary)

pub struct Pair {
    pub private: String,
    pub public: String,
}

pub fn pair(fsp: &str) -> &'static Pair {
    static KEYS: OnceLock<Mutex<HashMap<String, &'static Pair>>> = OnceLock::new();
    let mut m = KEYS.get_or_init(Default::default).lock().unwrap();
    m.entry(fsp.to_owned()).or_insert_with(|| {
        let alg = if fsp == "perffsp6" {
            Alg::ES256
        } else {
            Alg::RS256
        };
        let (private, public) = generate_pem(alg).unwrap();
        Box::leak(Box::new(Pair { private, public }))
    })
}

pub fn store(signing: &[&str], verifying: &[&str]) -> KeyStore {
    let mut s = KeyStore::new();
    for f in signing {
        s.insert_signing(f, signing_key(f));
    }
    for f in verifying {
        s.insert_verifying(
            f,
            VerifyingKey::from_pem(pair(f).public.as_bytes()).unwrap(),
        );
    }
    s
}

/// `fsp`'s generated signing key.
pub fn signing_key(fsp: &str) -> SigningKey {
    SigningKey::from_pem(pair(fsp).private.as_bytes()).unwrap()
}

pub const ALL: [&str; 4] = ["perffsp1", "perffsp2", "perffsp5", "perffsp6"];

// ---------------------------------------------------------------------------------------------
// Test hub: records every request; forwards to simulators when routes are given.

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A rewrite the hub applies to requests it forwards (a misbehaving switch).
pub type Tamper = Arc<Mutex<Option<fn(&mut Seen)>>>;

#[derive(Clone)]
pub struct HubState {
    tx: mpsc::UnboundedSender<Seen>,
    routes: Arc<Mutex<HashMap<String, String>>>,
    client: HttpClient,
    tamper: Tamper,
}

pub struct TestHub {
    pub url: String,
    pub rx: mpsc::UnboundedReceiver<Seen>,
    pub routes: Arc<Mutex<HashMap<String, String>>>,
    pub tamper: Tamper,
}

impl TestHub {
    pub async fn start() -> TestHub {
        let (tx, rx) = mpsc::unbounded_channel();
        let state = HubState {
            tx,
            routes: Arc::default(),
            client: HttpClient::new(ClientOptions::default()),
            tamper: Arc::default(),
        };
        let (routes, tamper) = (state.routes.clone(), state.tamper.clone());
        let app = axum::Router::new().fallback(hub_handler).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        TestHub {
            url: format!("http://{addr}"),
            rx,
            routes,
            tamper,
        }
    }

    pub fn route(&self, fsp: &str, url: &str) {
        self.routes
            .lock()
            .unwrap()
            .insert(fsp.to_owned(), url.to_owned());
    }

    pub async fn next(&mut self) -> Seen {
        tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("no request reached the hub within 10 s")
            .unwrap()
    }

    pub async fn nothing_within(&mut self, d: Duration) {
        if let Ok(Some(s)) = tokio::time::timeout(d, self.rx.recv()).await {
            panic!("unexpected request at the hub: {} {}", s.method, s.path);
        }
    }
}

async fn hub_handler(
    State(s): State<HubState>,
    method: Method,
    uri: http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let mut seen = Seen {
        method: method.clone(),
        path: uri.path().to_owned(),
        headers,
        body,
    };
    let _ = s.tx.send(seen.clone());
    // Forward like the hub: by FSPIOP-Destination, or to the MSISDN's owner for GET /parties.
    let dest = seen
        .header("fspiop-destination")
        .map(str::to_owned)
        .or_else(|| {
            let id = seen.path.rsplit('/').next()?;
            fspiop::testbed::msisdn_owner(id).map(|(n, _)| fspiop::testbed::fsp_id(n))
        });
    let target = dest.and_then(|d| s.routes.lock().unwrap().get(&d).cloned());
    if let Some(base) = target {
        if let Some(f) = *s.tamper.lock().unwrap() {
            f(&mut seen);
        }
        let mut req = http::Request::builder()
            .method(method.clone())
            .uri(format!("{base}{}", seen.path));
        for (k, v) in &seen.headers {
            if k != http::header::HOST && k != http::header::CONTENT_LENGTH {
                req = req.header(k, v);
            }
        }
        let req = req
            .body(http_body_util::Full::new(seen.body.clone()))
            .unwrap();
        let client = s.client.clone();
        tokio::spawn(async move {
            let _ = client.send(req).await;
        });
    }
    if method == Method::PUT || method == Method::PATCH {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

pub fn client() -> HttpClient {
    HttpClient::new(ClientOptions::default())
}

pub fn verify_strict(seen: &Seen, signer: &str) -> Result<(), jws::JwsError> {
    let keys = store(&[], &[signer]);
    jws::verify(
        &keys,
        &VerifyInput {
            source: seen.header("fspiop-source"),
            destination: seen.header("fspiop-destination"),
            date: seen.header("date"),
            uri: seen.header("fspiop-uri"),
            http_method: seen.header("fspiop-http-method"),
            signature: seen.header("fspiop-signature"),
            body: &seen.body,
        },
        VerifyMode::Strict,
    )
}

/// Starts a simulator for `fsps` (strict signature checks; signing and keys for every FSP
/// when `jws`) that calls back through `hub`, after `edit` has had its say on the config.
pub async fn start_sim(
    fsps: &[&str],
    hub: &str,
    jws: bool,
    edit: impl FnOnce(&mut SimConfig),
) -> sim::Running {
    let fsps: Vec<String> = fsps.iter().map(|s| (*s).to_owned()).collect();
    let mut config = SimConfig::new(&fsps, hub);
    config.jws = jws;
    config.verify_mode = VerifyMode::Strict;
    edit(&mut config);
    let served: Vec<&str> = fsps.iter().map(String::as_str).collect();
    let keys = if jws {
        store(&served, &ALL)
    } else {
        KeyStore::new()
    };
    let sim = sim::Sim::new(config, keys, None).unwrap();
    sim::start(sim, "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap()
}

/// A v1.1 request from `source`, as the production request builder takes it.
pub fn outbound(
    source: &str,
    dest: Option<&str>,
    method: Method,
    url: String,
    body: Option<Vec<u8>>,
) -> Outbound {
    Outbound {
        method,
        url,
        version: Version::V1_1,
        source: source.to_owned(),
        destination: dest.map(str::to_owned),
        body: body.map(Bytes::from),
        extra: vec![],
    }
}
