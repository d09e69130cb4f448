//! ISO 20022 mode of perffsp through its real interface: HTTP on port 0, a test hub that
//! records and forwards, keys generated per run. Bodies are checked with the `fspiop::iso`
//! views (the switch's field rules), signatures verified strictly; negative cases in ISO form.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use fspiop::headers::{self, Version};
use fspiop::ilp::IlpVersion;
use fspiop::iso::{self, Api};
use fspiop::jws::{
    self, generate_pem, Alg, KeyStore, SigningKey, VerifyInput, VerifyMode, VerifyingKey,
};
use fspiop::models::*;
use fspiop::testbed::msisdn;
use fspiop::types::*;
use http::{HeaderMap, Method, StatusCode};
use perfbed_http::fspiop::Outbound;
use perfbed_http::{ClientOptions, HttpClient};
use serde_json::{json, Value};
use sim::{FlowError, Sim, SimConfig};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;

// ---------------------------------------------------------------------------------------------
// Keys (generated once per test binary)

struct Pair {
    private: String,
    public: String,
}

fn pair(fsp: &str) -> &'static Pair {
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

fn store(signing: &[&str], verifying: &[&str]) -> KeyStore {
    let mut s = KeyStore::new();
    for f in signing {
        s.insert_signing(f, SigningKey::from_pem(pair(f).private.as_bytes()).unwrap());
    }
    for f in verifying {
        s.insert_verifying(
            f,
            VerifyingKey::from_pem(pair(f).public.as_bytes()).unwrap(),
        );
    }
    s
}

const ALL: [&str; 4] = ["perffsp1", "perffsp2", "perffsp5", "perffsp6"];

// ---------------------------------------------------------------------------------------------
// Test hub: records every request; forwards to simulators when routes are given.

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A rewrite the hub applies to requests it forwards (a misbehaving switch).
type Tamper = Arc<Mutex<Option<fn(&mut Seen)>>>;

#[derive(Clone)]
struct HubState {
    tx: mpsc::UnboundedSender<Seen>,
    routes: Arc<Mutex<HashMap<String, String>>>,
    client: HttpClient,
    tamper: Tamper,
}

struct TestHub {
    url: String,
    rx: mpsc::UnboundedReceiver<Seen>,
    routes: Arc<Mutex<HashMap<String, String>>>,
    #[allow(dead_code)] // the same test hub as sim.rs; no tampering here
    tamper: Tamper,
}

impl TestHub {
    async fn start() -> TestHub {
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

    fn route(&self, fsp: &str, url: &str) {
        self.routes
            .lock()
            .unwrap()
            .insert(fsp.to_owned(), url.to_owned());
    }

    async fn next(&mut self) -> Seen {
        tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("no request reached the hub within 10 s")
            .unwrap()
    }

    async fn nothing_within(&mut self, d: Duration) {
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

async fn start_iso(fsps: &[&str], hub: &str, edit: impl FnOnce(&mut SimConfig)) -> sim::Running {
    let fsps: Vec<String> = fsps.iter().map(|s| (*s).to_owned()).collect();
    let mut config = SimConfig::new(&fsps, hub);
    config.jws = true;
    config.verify_mode = VerifyMode::Strict;
    config.api = Api::Iso20022;
    edit(&mut config);
    let served: Vec<&str> = fsps.iter().map(String::as_str).collect();
    let sim = Sim::new(config, store(&served, &ALL), None).unwrap();
    sim::start(sim, "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap()
}

fn client() -> HttpClient {
    HttpClient::new(ClientOptions::default())
}

/// Sends a request as `source` with the production request builder: ISO media types unless
/// `fspiop_media`, signed unless `sign` is false.
async fn send(
    source: &str,
    dest: Option<&str>,
    method: Method,
    url: String,
    body: Option<Vec<u8>>,
    iso_media: bool,
) -> (StatusCode, Value) {
    let key = SigningKey::from_pem(pair(source).private.as_bytes()).unwrap();
    let out = Outbound {
        method,
        url,
        version: Version::V1_1,
        source: source.to_owned(),
        destination: dest.map(str::to_owned),
        body: body.map(Bytes::from),
        extra: vec![],
    };
    let out = if iso_media { out.iso() } else { out };
    let resp = client().send(out.build(Some(&key)).unwrap()).await.unwrap();
    let status = resp.status();
    let body = resp.into_body();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn verify_strict(seen: &Seen, signer: &str) -> Result<(), jws::JwsError> {
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

fn assert_iso_callback(seen: &Seen, resource: &str, source: &str, dest: &str) {
    assert_eq!(seen.header("fspiop-source"), Some(source));
    assert_eq!(seen.header("fspiop-destination"), Some(dest));
    assert_eq!(
        seen.header("content-type"),
        Some(iso::content_type(resource).as_str())
    );
    assert!(headers::parse_date(seen.header("date").unwrap()).is_some());
    verify_strict(seen, source).unwrap();
    assert!(
        fspiop::json::is_canonical(&seen.body),
        "sent as canonical JSON (what the reference validator re-serialises)"
    );
}

fn ulid() -> CorrelationId {
    iso::ulid(1_800_000_000_000, rand::random::<u128>())
}

fn stamp() -> iso::Stamp {
    iso::Stamp {
        msg_id: ulid(),
        orgnl_id: ulid(),
        now: DateTime::from_offset_date_time(time::OffsetDateTime::now_utc()),
    }
}

fn quote_request(payee_msisdn: &str, amount: &str) -> QuotesPost {
    QuotesPost::p2p(
        ulid(),
        ulid(),
        Party::with_id(PartyIdInfo::msisdn("perffsp1", &msisdn(1, 7)).unwrap()),
        Party::with_id(PartyIdInfo::msisdn("perffsp5", payee_msisdn).unwrap()),
        Money::parse(amount, "XXX").unwrap(),
    )
}

fn expiration() -> DateTime {
    DateTime::from_offset_date_time(time::OffsetDateTime::now_utc() + time::Duration::seconds(30))
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn iso_payee_answers_lookup_quote_transfer_with_signed_iso_callbacks() {
    let mut hub = TestHub::start().await;
    let sim = start_iso(&["perffsp5"], &hub.url, |c| {
        c.fsps.get_mut("perffsp5").unwrap().quote_fee = Some(Amount::parse("1").unwrap());
    })
    .await;
    let base = format!("http://{}", sim.addr);
    let number = msisdn(5, 42);

    // Lookup → acmt.024.
    let (status, _) = send(
        "perffsp1",
        Some("perffsp5"),
        Method::GET,
        format!("{base}/parties/MSISDN/{number}"),
        None,
        true,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let put = hub.next().await;
    assert_eq!(put.path, format!("/parties/MSISDN/{number}"));
    assert_iso_callback(&put, "parties", "perffsp5", "perffsp1");
    let v = put.json();
    assert_eq!(
        v["Assgnmt"]["Assgnr"]["Agt"]["FinInstnId"]["Othr"]["Id"],
        "perffsp5"
    );
    assert_eq!(
        v["Assgnmt"]["Assgne"]["Agt"]["FinInstnId"]["Othr"]["Id"],
        "perffsp1"
    );
    assert!(iso::is_ulid(v["Rpt"]["OrgnlId"].as_str().unwrap()));
    let party = iso::parties_put_view(&v).unwrap().party;
    assert_eq!(party.party_id_info.party_identifier.as_str(), number);
    assert_eq!(party.party_id_info.fsp_id.unwrap().as_str(), "perffsp5");

    // Quote: pacs.081 → pacs.082 with the POST's parties, agents and ChrgBr.
    let q = quote_request(&number, "50");
    let post = iso::quotes_post(&q, &stamp());
    let (status, _) = send(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/quotes"),
        Some(iso::to_bytes(&post)),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let put = hub.next().await;
    assert_eq!(put.path, format!("/quotes/{}", q.quote_id));
    assert_iso_callback(&put, "quotes", "perffsp5", "perffsp1");
    let qv = put.json();
    for k in ["Dbtr", "DbtrAgt", "Cdtr", "CdtrAgt", "ChrgBr"] {
        assert_eq!(qv["CdtTrfTxInf"][k], post["CdtTrfTxInf"][k], "{k} copied");
    }
    assert_eq!(qv["CdtTrfTxInf"]["PmtId"]["TxId"], q.quote_id.as_str());
    assert_eq!(qv["GrpHdr"]["NbOfTxs"], "1");
    let quote = iso::quotes_put_view(&qv).unwrap();
    assert_eq!(quote.payee_fsp_fee.as_ref().unwrap().amount.as_str(), "1");
    assert_eq!(
        quote.payee_receive_amount.as_ref().unwrap().amount.as_str(),
        "49"
    );
    assert_eq!(
        qv["CdtTrfTxInf"]["ChrgsInf"]["Agt"],
        post["CdtTrfTxInf"]["CdtrAgt"]
    );

    // Transfer: pacs.008 built from the pacs.082 as received → pacs.002 COMM.
    let t = TransfersPost::from_quote(&q, &quote, q.transaction_id.clone(), expiration()).unwrap();
    let body = iso::transfers_post(&t, &qv, &stamp());
    let (status, _) = send(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/transfers"),
        Some(iso::to_bytes(&body)),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let put = hub.next().await;
    assert_eq!(put.path, format!("/transfers/{}", t.transfer_id));
    assert_iso_callback(&put, "transfers", "perffsp5", "perffsp1");
    let done = iso::transfers_put_view(&put.json()).unwrap();
    assert_eq!(done.transfer_state, TransferState::Committed);
    assert!(done.fulfilment.as_ref().unwrap().fulfils(&t.condition));
    let ts = done
        .completed_timestamp
        .clone()
        .unwrap()
        .to_offset_date_time();
    let now = time::OffsetDateTime::now_utc();
    assert!(
        ts <= now && ts >= now - time::Duration::seconds(10),
        "PrcgDt is now"
    );

    // The hub's PATCH (ISO) is accepted; an FSPIOP-bodied PATCH is not.
    let url = format!("{base}/transfers/{}", t.transfer_id);
    let patch = TransfersPatch {
        completed_timestamp: done.completed_timestamp.clone().unwrap(),
        extension_list: None,
        transfer_state: TransferState::Committed,
    };
    let (status, _) = send(
        "perffsp1",
        Some("perffsp5"),
        Method::PATCH,
        url.clone(),
        Some(iso::to_bytes(&iso::transfers_patch(&patch, &stamp()))),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) = send(
        "perffsp1",
        Some("perffsp5"),
        Method::PATCH,
        url,
        Some(fspiop::json::to_canonical_vec(&patch)),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    sim.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn iso_payee_refuses_what_the_switch_refuses() {
    let mut hub = TestHub::start().await;
    let sim = start_iso(&["perffsp5"], &hub.url, |_| {}).await;
    let base = format!("http://{}", sim.addr);
    let number = msisdn(5, 43);
    let q = quote_request(&number, "10");
    let post = iso::quotes_post(&q, &stamp());
    let code = |v: &Value| {
        v["errorInformation"]["errorCode"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };

    // An FSPIOP media type to an ISO payee: 3101, no callback.
    let (status, err) = send(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/quotes"),
        Some(iso::to_bytes(&post)),
        false,
    )
    .await;
    assert_eq!(
        (status, code(&err).as_str()),
        (StatusCode::BAD_REQUEST, "3101"),
        "{err}"
    );

    // An FSPIOP body with ISO media types: refused (3102 missing GrpHdr).
    let (status, err) = send(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/quotes"),
        Some(fspiop::json::to_canonical_vec(&q)),
        true,
    )
    .await;
    assert_eq!(
        (status, code(&err).as_str()),
        (StatusCode::BAD_REQUEST, "3102"),
        "{err}"
    );

    // A UUID where the switch wants a ULID: 3100.
    let mut uuid = post.clone();
    uuid["CdtTrfTxInf"]["PmtId"]["TxId"] = json!("b51ec534-ee48-4575-b6a9-ead2955b8069");
    let (status, err) = send(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/quotes"),
        Some(iso::to_bytes(&uuid)),
        true,
    )
    .await;
    assert_eq!(
        (status, code(&err).as_str()),
        (StatusCode::BAD_REQUEST, "3100"),
        "{err}"
    );
    assert!(err.to_string().contains("TxId"), "{err}");

    // A signed body tampered with after signing: 3105 and no callback (no fulfilment).
    let key = SigningKey::from_pem(pair("perffsp1").private.as_bytes()).unwrap();
    let mut req = Outbound {
        method: Method::POST,
        url: format!("{base}/quotes"),
        version: Version::V2_0,
        source: "perffsp1".into(),
        destination: Some("perffsp5".into()),
        body: Some(Bytes::from(iso::to_bytes(&post))),
        extra: vec![],
    }
    .iso()
    .build(Some(&key))
    .unwrap();
    let tampered = String::from_utf8(iso::to_bytes(&post))
        .unwrap()
        .replace("\"10\"", "\"11\"");
    *req.body_mut() = http_body_util::Full::new(Bytes::from(tampered));
    let resp = client().send(req).await.unwrap();
    let err: Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(
        (resp.status(), code(&err).as_str()),
        (StatusCode::BAD_REQUEST, "3105"),
        "{err}"
    );

    // ISO media type with version 1.1: the ISO payee speaks 2.0 only.
    let req = Outbound {
        method: Method::POST,
        url: format!("{base}/quotes"),
        version: Version::V1_1,
        source: "perffsp1".into(),
        destination: Some("perffsp5".into()),
        body: Some(Bytes::from(iso::to_bytes(&post))),
        extra: vec![
            (
                http::header::CONTENT_TYPE,
                "application/vnd.interoperability.iso20022.quotes+json;version=1.1"
                    .parse()
                    .unwrap(),
            ),
            (http::header::ACCEPT, iso::accept("quotes").parse().unwrap()),
        ],
    }
    .build(Some(&key))
    .unwrap();
    let resp = client().send(req).await.unwrap();
    let err: Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(code(&err), "3001", "{err}");
    hub.nothing_within(Duration::from_millis(300)).await;

    // An unknown number: 3204 as acmt.024 with the code in Rpt.Rsn.Cd.
    let unknown = msisdn(5, 2_000_000);
    let (status, _) = send(
        "perffsp1",
        Some("perffsp5"),
        Method::GET,
        format!("{base}/parties/MSISDN/{unknown}"),
        None,
        true,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let put = hub.next().await;
    assert_eq!(put.path, format!("/parties/MSISDN/{unknown}/error"));
    assert_iso_callback(&put, "parties", "perffsp5", "perffsp1");
    let v = put.json();
    assert_eq!(v["Rpt"]["Rsn"]["Cd"], "3204");
    assert_eq!(v["Rpt"]["Vrfctn"], false);
    assert_eq!(iso::parties_error_view(&v).unwrap().error_code, "3204");

    // A transfer whose packet's condition was swapped: 3100 pacs.002 error, no fulfilment.
    let (status, _) = send(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/quotes"),
        Some(iso::to_bytes(&post)),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let qv = hub.next().await.json();
    let quote = iso::quotes_put_view(&qv).unwrap();
    let mut t =
        TransfersPost::from_quote(&q, &quote, q.transaction_id.clone(), expiration()).unwrap();
    t.amount = Money::parse("11", "XXX").unwrap();
    let (status, _) = send(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/transfers"),
        Some(iso::to_bytes(&iso::transfers_post(&t, &qv, &stamp()))),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let put = hub.next().await;
    assert_eq!(put.path, format!("/transfers/{}/error", t.transfer_id));
    let v = put.json();
    assert!(v["TxInfAndSts"].get("ExctnConf").is_none());
    assert_eq!(iso::pacs_error_view(&v).unwrap().error_code, "3100");
    sim.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn iso_payer_runs_the_flow_through_a_hub_and_reserved_gets_patched() {
    let mut hub = TestHub::start().await;
    let payer = start_iso(&["perffsp1"], &hub.url, |_| {}).await;
    let payee = start_iso(&["perffsp5"], &hub.url, |c| {
        c.fsps.get_mut("perffsp5").unwrap().range_size = 100;
    })
    .await;
    hub.route("perffsp1", &format!("http://{}", payer.addr));
    hub.route("perffsp5", &format!("http://{}", payee.addr));
    let sim = payer.sim().clone();
    let t = Duration::from_secs(5);

    let party = sim
        .lookup("perffsp1", PartyIdType::Msisdn, &msisdn(5, 17), t)
        .await
        .unwrap();
    assert_eq!(
        party.party.party_id_info.fsp_id.clone().unwrap().as_str(),
        "perffsp5"
    );
    let q = quote_request(&msisdn(5, 17), "50");
    let quote = sim.quote("perffsp1", "perffsp5", &q, t).await.unwrap();
    let context = quote.iso.clone().expect("ISO mode keeps the PUT /quotes");
    let tr = TransfersPost::from_quote(&q, &quote, q.transaction_id.clone(), expiration()).unwrap();
    let done = sim
        .transfer_after("perffsp1", &tr, Some(&context), t)
        .await
        .unwrap();
    assert_eq!(done.transfer_state, TransferState::Committed);
    // What the payer sent: pacs.081 and pacs.008 with ISO media types, ULIDs.
    let mut seen = Vec::new();
    while let Ok(s) = hub.rx.try_recv() {
        seen.push(s);
    }
    let post = seen
        .iter()
        .find(|s| s.method == Method::POST && s.path == "/transfers")
        .unwrap();
    assert_eq!(
        post.header("content-type"),
        Some(iso::content_type("transfers").as_str())
    );
    assert_eq!(
        post.header("accept"),
        Some(iso::accept("transfers").as_str())
    );
    verify_strict(post, "perffsp1").unwrap();
    let pv = post.json();
    assert_eq!(pv["CdtTrfTxInf"]["Dbtr"], context["CdtTrfTxInf"]["Dbtr"]);
    assert_eq!(iso::transfers_post_view(&pv).unwrap(), tr);

    // Unknown number: the payee's acmt.024 3204 reaches the payer as a rejection.
    let err = sim
        .lookup("perffsp1", PartyIdType::Msisdn, &msisdn(5, 500), t)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FlowError::Rejected { ref code, .. } if code == "3204"),
        "{err:?}"
    );
    payer.shutdown(Duration::from_secs(1)).await;
    payee.shutdown(Duration::from_secs(1)).await;

    // RESERVED: the payee answers RESV.
    let mut hub = TestHub::start().await;
    let payee = start_iso(&["perffsp5"], &hub.url, |c| {
        c.fsps.get_mut("perffsp5").unwrap().answer_reserved = true;
    })
    .await;
    let base = format!("http://{}", payee.addr);
    let q = quote_request(&msisdn(5, 3), "5");
    let (status, _) = send(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/quotes"),
        Some(iso::to_bytes(&iso::quotes_post(&q, &stamp()))),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let qv = hub.next().await.json();
    let quote = iso::quotes_put_view(&qv).unwrap();
    let tr = TransfersPost::from_quote(&q, &quote, q.transaction_id.clone(), expiration()).unwrap();
    let (status, _) = send(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/transfers"),
        Some(iso::to_bytes(&iso::transfers_post(&tr, &qv, &stamp()))),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let v = hub.next().await.json();
    assert_eq!(v["TxInfAndSts"]["TxSts"], "RESV");
    assert!(iso::transfers_put_view(&v)
        .unwrap()
        .fulfilment
        .unwrap()
        .fulfils(&tr.condition));
    payee.shutdown(Duration::from_secs(1)).await;
}

#[test]
fn ilp_v1_with_iso_is_refused_at_start() {
    let mut config = SimConfig::new(&["perffsp5".to_owned()], "http://127.0.0.1:1");
    config.api = Api::Iso20022;
    config.fsps.get_mut("perffsp5").unwrap().ilp_version = IlpVersion::V1;
    let err = Sim::new(config, KeyStore::new(), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("ILP v4") && err.contains("perffsp5"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// The reference libraries (one oracle call: the switch's specs load once)

/// One ISO message perffsp sent, with what the reference must make of it.
struct Kind {
    name: &'static str,
    resource: &'static str,
    /// The lib's facade name (`put`, `putError`, `post`, `patch`).
    facade: &'static str,
    seen: Seen,
    /// The lib's `$context` for FSPIOP → ISO.
    context: Option<Value>,
    /// Signed (everything but PUT /parties, as the SDK defaults).
    signer: Option<&'static str>,
    /// The FSPIOP message perffsp sends for the same inputs in FSPIOP mode (a twin simulator
    /// in FSPIOP mode answered the same requests, or the payer's own FSPIOP model).
    twin: Value,
}

/// Drops what depends on the moment (expiration, packet and condition built from it,
/// timestamps, a fulfilment over that packet); those are checked separately.
fn stable(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        for k in [
            "expiration",
            "ilpPacket",
            "condition",
            "completedTimestamp",
            "fulfilment",
            "extensionList",
        ] {
            o.remove(k);
        }
    }
    v
}

fn headers_json(s: &Seen) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in &s.headers {
        m.insert(k.as_str().to_owned(), json!(v.to_str().unwrap()));
    }
    Value::Object(m)
}

/// Drops the generated values (MsgId, CreDtTm, OrgnlId) for comparing with the library.
fn strip_generated(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        if let Value::Object(m) = v {
            m.remove("MsgId");
            m.remove("CreDtTm");
            m.remove("OrgnlId");
            m.values_mut().for_each(walk);
        }
    }
    walk(&mut v);
    v
}

/// perffsp5: a fee, rejects transfers above 900 (5105) and quotes to one number (5100);
/// perffsp6: no fee, answers RESERVED.
fn behaviours(c: &mut SimConfig) {
    let b = c.fsps.get_mut("perffsp5").unwrap();
    b.quote_fee = Some(Amount::parse("1").unwrap());
    b.reject = vec![
        sim::RejectRule {
            on: sim::Stage::Transfer,
            code: 5105,
            amount_above: Some(Amount::parse("900").unwrap()),
            msisdns: vec![],
            rate: None,
        },
        sim::RejectRule {
            on: sim::Stage::Quote,
            code: 5100,
            amount_above: None,
            msisdns: vec![msisdn(5, 66)],
            rate: None,
        },
    ];
    c.fsps.get_mut("perffsp6").unwrap().answer_reserved = true;
}

#[tokio::test]
async fn the_reference_libraries_accept_and_agree_with_every_iso_message_perffsp_sends() {
    let mut hub = TestHub::start().await;
    let sim = start_iso(&["perffsp5", "perffsp6"], &hub.url, behaviours).await;
    let base = format!("http://{}", sim.addr);
    // The twin: the same FSPs and behaviours in FSPIOP mode, asked the same things.
    let mut twin_hub = TestHub::start().await;
    let twin = start_iso(&["perffsp5", "perffsp6"], &twin_hub.url, |c| {
        behaviours(c);
        c.api = Api::Fspiop;
    })
    .await;
    let twin_base = format!("http://{}", twin.addr);
    let mut kinds: Vec<Kind> = Vec::new();
    let get = |b: &str, fsp: &'static str, number: String, iso_media: bool| {
        send(
            "perffsp1",
            Some(fsp),
            Method::GET,
            format!("{b}/parties/MSISDN/{number}"),
            None,
            iso_media,
        )
    };
    let post = |b: &str, fsp: &'static str, path: &'static str, body: Vec<u8>, iso_media: bool| {
        send(
            "perffsp1",
            Some(fsp),
            Method::POST,
            format!("{b}{path}"),
            Some(body),
            iso_media,
        )
    };

    // PUT /parties and its error.
    for (number, name, facade) in [
        (msisdn(5, 1), "PUT /parties", "put"),
        (msisdn(5, 2_000_000), "PUT /parties error", "putError"),
    ] {
        get(&base, "perffsp5", number.clone(), true).await;
        get(&twin_base, "perffsp5", number, false).await;
        let s = hub.next().await;
        kinds.push(Kind {
            name,
            resource: "parties",
            facade,
            context: None,
            signer: Some("perffsp5"),
            twin: twin_hub.next().await.json(),
            seen: s,
        });
    }

    // Quotes with and without fee, transfers (5105 error, RESERVED), the same to the twin.
    let mut reserved_fulfilment = None;
    let mut no_fee_put = None;
    for (fsp, n, amount) in [("perffsp5", 5u8, "950"), ("perffsp6", 6u8, "12.5")] {
        let mut q = quote_request(&msisdn(n, 2), amount);
        q.payee.party_id_info.fsp_id = Some(FspId::parse(fsp).unwrap());
        let qpost = iso::quotes_post(&q, &stamp());
        post(&base, fsp, "/quotes", iso::to_bytes(&qpost), true).await;
        post(
            &twin_base,
            fsp,
            "/quotes",
            fspiop::json::to_canonical_vec(&q),
            false,
        )
        .await;
        let s = hub.next().await;
        let twin_quote = twin_hub.next().await.json();
        let view = iso::quotes_put_view(&s.json()).unwrap();
        let put_iso = s.json();
        if fsp == "perffsp6" {
            no_fee_put = Some(view.clone());
        }
        kinds.push(Kind {
            name: if fsp == "perffsp5" {
                "PUT /quotes (fee)"
            } else {
                "PUT /quotes (no fee)"
            },
            resource: "quotes",
            facade: "put",
            context: Some(json!({ "isoPostQuote": qpost })),
            signer: Some(fsp),
            twin: twin_quote.clone(),
            seen: s,
        });
        let t =
            TransfersPost::from_quote(&q, &view, q.transaction_id.clone(), expiration()).unwrap();
        let twin_t = TransfersPost::from_quote(
            &q,
            &serde_json::from_value(twin_quote).unwrap(),
            q.transaction_id.clone(),
            expiration(),
        )
        .unwrap();
        post(
            &base,
            fsp,
            "/transfers",
            iso::to_bytes(&iso::transfers_post(&t, &put_iso, &stamp())),
            true,
        )
        .await;
        post(
            &twin_base,
            fsp,
            "/transfers",
            fspiop::json::to_canonical_vec(&twin_t),
            false,
        )
        .await;
        let s = hub.next().await;
        let (name, facade) = if fsp == "perffsp5" {
            ("PUT /transfers error (5105)", "putError")
        } else {
            let put = iso::transfers_put_view(&s.json()).unwrap();
            reserved_fulfilment = put.fulfilment.clone();
            ("PUT /transfers (RESERVED)", "put")
        };
        kinds.push(Kind {
            name,
            resource: "transfers",
            facade,
            context: None,
            signer: Some(fsp),
            twin: twin_hub.next().await.json(),
            seen: s,
        });
    }
    // A committed transfer from perffsp5 (under the limit).
    let q = quote_request(&msisdn(5, 3), "7");
    post(
        &base,
        "perffsp5",
        "/quotes",
        iso::to_bytes(&iso::quotes_post(&q, &stamp())),
        true,
    )
    .await;
    post(
        &twin_base,
        "perffsp5",
        "/quotes",
        fspiop::json::to_canonical_vec(&q),
        false,
    )
    .await;
    let put_iso = hub.next().await.json();
    let twin_quote: QuotesPut = serde_json::from_slice(&twin_hub.next().await.body).unwrap();
    let view = iso::quotes_put_view(&put_iso).unwrap();
    let t = TransfersPost::from_quote(&q, &view, q.transaction_id.clone(), expiration()).unwrap();
    let twin_t =
        TransfersPost::from_quote(&q, &twin_quote, q.transaction_id.clone(), expiration()).unwrap();
    post(
        &base,
        "perffsp5",
        "/transfers",
        iso::to_bytes(&iso::transfers_post(&t, &put_iso, &stamp())),
        true,
    )
    .await;
    post(
        &twin_base,
        "perffsp5",
        "/transfers",
        fspiop::json::to_canonical_vec(&twin_t),
        false,
    )
    .await;
    let s = hub.next().await;
    kinds.push(Kind {
        name: "PUT /transfers (COMMITTED)",
        resource: "transfers",
        facade: "put",
        context: None,
        signer: Some("perffsp5"),
        twin: twin_hub.next().await.json(),
        seen: s,
    });
    // A quote error.
    let q66 = quote_request(&msisdn(5, 66), "3");
    post(
        &base,
        "perffsp5",
        "/quotes",
        iso::to_bytes(&iso::quotes_post(&q66, &stamp())),
        true,
    )
    .await;
    post(
        &twin_base,
        "perffsp5",
        "/quotes",
        fspiop::json::to_canonical_vec(&q66),
        false,
    )
    .await;
    let s = hub.next().await;
    kinds.push(Kind {
        name: "PUT /quotes error (5100)",
        resource: "quotes",
        facade: "putError",
        context: None,
        signer: Some("perffsp5"),
        twin: twin_hub.next().await.json(),
        seen: s,
    });

    // What the payer side sends: POST /quotes and POST /transfers, through a payer simulator;
    // their FSPIOP counterparts are the payer's own FSPIOP models.
    let payer = start_iso(&["perffsp1"], &hub.url, |_| {}).await;
    hub.route("perffsp1", &format!("http://{}", payer.addr));
    hub.route("perffsp5", &base);
    let p = payer.sim().clone();
    let q = quote_request(&msisdn(5, 4), "20");
    let quote = p
        .quote("perffsp1", "perffsp5", &q, Duration::from_secs(5))
        .await
        .unwrap();
    let ctx = quote.iso.clone().unwrap();
    let t = TransfersPost::from_quote(&q, &quote, q.transaction_id.clone(), expiration()).unwrap();
    p.transfer_after("perffsp1", &t, Some(&ctx), Duration::from_secs(5))
        .await
        .unwrap();
    let mut payer_seen = Vec::new();
    while payer_seen.len() < 4 {
        payer_seen.push(hub.next().await);
    }
    let qs = payer_seen
        .iter()
        .find(|s| s.method == Method::POST && s.path == "/quotes")
        .unwrap()
        .clone();
    // The lib's ISO→FSPIOP never carries initiatorType (it guesses BUSINESS, reference §2.2).
    let mut q_twin = serde_json::to_value(&q).unwrap();
    q_twin["transactionType"]["initiatorType"] = json!("BUSINESS");
    kinds.push(Kind {
        name: "POST /quotes",
        resource: "quotes",
        facade: "post",
        context: None,
        signer: Some("perffsp1"),
        twin: q_twin,
        seen: qs,
    });
    let ts = payer_seen
        .iter()
        .find(|s| s.method == Method::POST && s.path == "/transfers")
        .unwrap()
        .clone();
    kinds.push(Kind {
        name: "POST /transfers",
        resource: "transfers",
        facade: "post",
        context: Some(json!({ "isoPostQuoteResponse": ctx.as_ref() })),
        signer: Some("perffsp1"),
        twin: serde_json::to_value(&t).unwrap(),
        seen: ts,
    });

    // ---- One oracle call for all of it.
    let mut ops = Vec::new();
    for k in &kinds {
        let method = k.seen.method.as_str().to_lowercase();
        ops.push(json!({ "op": "iso_switch_validate", "resource": k.resource, "method": method, "path": k.seen.path, "headers": headers_json(&k.seen), "body": k.seen.json() }));
        ops.push(json!({ "op": "iso_to_fspiop", "resource": k.resource, "facade": k.facade, "body": k.seen.json(), "headers": headers_json(&k.seen) }));
        let id = k
            .seen
            .path
            .trim_end_matches("/error")
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        let params = if k.resource == "parties" {
            json!({ "Type": "MSISDN", "ID": id })
        } else {
            json!({ "ID": id })
        };
        // The lib's ISO for the FSPIOP message perffsp's ISO body was built from (its own view
        // of it; for the payer's messages, the FSPIOP model itself).
        let fspiop_source = match k.name {
            "POST /quotes" => serde_json::to_value(&q).unwrap(),
            "POST /transfers" => k.twin.clone(),
            _ => {
                let b = k.seen.json();
                match (k.resource, k.facade) {
                    ("parties", "put") => {
                        serde_json::to_value(iso::parties_put_view(&b).unwrap()).unwrap()
                    }
                    ("parties", _) => {
                        json!({ "errorInformation": iso::parties_error_view(&b).unwrap() })
                    }
                    ("quotes", "put") => {
                        serde_json::to_value(iso::quotes_put_view(&b).unwrap()).unwrap()
                    }
                    ("transfers", "put") => {
                        serde_json::to_value(iso::transfers_put_view(&b).unwrap()).unwrap()
                    }
                    _ => json!({ "errorInformation": iso::pacs_error_view(&b).unwrap() }),
                }
            }
        };
        ops.push(json!({ "op": "fspiop_to_iso", "resource": k.resource, "facade": k.facade, "body": fspiop_source, "headers": { "fspiop-source": k.seen.header("fspiop-source"), "fspiop-destination": k.seen.header("fspiop-destination") }, "params": params, "context": k.context }));
        let signer = k.signer.unwrap();
        ops.push(json!({ "op": "jws_validate", "keys": { signer: pair(signer).public }, "headers": headers_json(&k.seen), "body": k.seen.json() }));
        ops.push(json!({ "op": "iso_headers", "resource": k.resource, "contentType": k.seen.header("content-type"), "accept": k.seen.header("accept") }));
    }
    // The reference signer signs an ISO body: perffsp's ISO payee must accept it.
    let lib_quote = iso::quotes_post(&quote_request(&msisdn(5, 9), "4"), &stamp());
    ops.push(json!({ "op": "jws_sign", "key": pair("perffsp1").private, "method": "POST", "url": format!("{base}/quotes"),
        "headers": { "content-type": iso::content_type("quotes"), "accept": iso::accept("quotes"), "date": headers::fmt_date(std::time::SystemTime::now()), "fspiop-source": "perffsp1", "fspiop-destination": "perffsp5" },
        "body": lib_quote }));
    // A message the lib builds from perffsp's FSPIOP quote request, for perffsp's payee.
    let lq = quote_request(&msisdn(5, 10), "30");
    ops.push(json!({ "op": "fspiop_to_iso", "resource": "quotes", "facade": "post", "body": lq }));
    let results = xcheck::oracle(&ops);
    let per = 5;
    for (k, r) in kinds.iter().zip(results.chunks(per)) {
        let v = r[0].as_ref().unwrap();
        assert_eq!(
            v["valid"],
            true,
            "{}: the switch's OpenAPI refuses it: {}\n{}",
            k.name,
            v["errors"],
            k.seen.json()
        );
        let back = r[1]
            .as_ref()
            .unwrap_or_else(|e| panic!("{}: ISO→FSPIOP failed: {e}", k.name));
        let (mut ours, mut theirs) = (stable(k.twin.clone()), stable(back.clone()));
        // The lib regenerates a parties error's description from the code's category.
        if k.name == "PUT /parties error" {
            ours["errorInformation"]["errorDescription"] = Value::Null;
            theirs["errorInformation"]["errorDescription"] = Value::Null;
        }
        if let Some(e) = theirs
            .get_mut("errorInformation")
            .and_then(Value::as_object_mut)
        {
            e.remove("extensionList");
        }
        assert_eq!(
            theirs, ours,
            "{}: the lib's FSPIOP for perffsp's ISO message differs from perffsp's FSPIOP message",
            k.name
        );
        // What `stable` dropped: the lib's condition comes from the packet; fulfilments fulfil.
        if k.name == "POST /transfers" {
            assert_eq!(
                back["condition"], k.twin["condition"],
                "condition from the packet"
            );
            assert_eq!(back["ilpPacket"], k.twin["ilpPacket"]);
            assert_eq!(back["expiration"], k.twin["expiration"]);
        }
        if k.name == "PUT /quotes (no fee)" {
            let f = reserved_fulfilment.clone().unwrap();
            assert_eq!(
                back["condition"],
                f.condition().as_str(),
                "the lib's condition for perffsp's packet is sha256 of perffsp's fulfilment"
            );
            assert_eq!(
                back["ilpPacket"],
                no_fee_put.as_ref().unwrap().ilp_packet.as_str()
            );
        }
        if k.resource == "transfers" && k.facade == "put" {
            assert!(
                back["fulfilment"].is_string() && back["completedTimestamp"].is_string(),
                "{back}"
            );
        }
        let fresh = r[2]
            .as_ref()
            .unwrap_or_else(|e| panic!("{}: FSPIOP→ISO failed: {e}", k.name));
        assert_eq!(
            strip_generated(fresh.clone()),
            strip_generated(k.seen.json()),
            "{}: the lib builds a different ISO body from the FSPIOP message",
            k.name
        );
        assert!(
            r[3].is_ok(),
            "{}: the reference JWS validator refuses perffsp's signature: {:?}",
            k.name,
            r[3]
        );
        let h = r[4].as_ref().unwrap();
        assert_eq!(h["contentType"], true, "{}: Content-Type", k.name);
        assert!(h["accept"] != false, "{}: Accept", k.name);
    }
    let tail = &results[kinds.len() * per..];
    // Reference-signed ISO body → perffsp's payee accepts it (202) and answers.
    let signed = tail[0].as_ref().unwrap();
    let mut req = http::Request::builder()
        .method(Method::POST)
        .uri(format!("{base}/quotes"));
    for (k, v) in signed["headers"].as_object().unwrap() {
        req = req.header(k.as_str(), v.as_str().unwrap());
    }
    // What the reference signed: the body serialised canonically (its signer's
    // safe-stable-stringify), the bytes a DFSP sends.
    let body = match &signed["body"] {
        Value::String(text) => text.clone().into_bytes(),
        v => iso::to_bytes(v),
    };
    let resp = client()
        .send(
            req.body(http_body_util::Full::new(Bytes::from(body)))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED, "{:?}", resp.body());
    let s = hub.next().await;
    assert!(
        s.path.starts_with("/quotes/") && !s.path.ends_with("/error"),
        "{}",
        s.path
    );
    // The lib's own pacs.081 from an FSPIOP quote request → perffsp answers a valid pacs.082;
    // the lib's pacs.008 built on it → perffsp commits with a fulfilment that fulfils; the
    // lib's PATCH is accepted.
    let lib_post = tail[1].as_ref().unwrap().clone();
    let (status, err) = post(&base, "perffsp5", "/quotes", iso::to_bytes(&lib_post), true).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{err}");
    let put_iso = hub.next().await.json();
    let qv = iso::quotes_put_view(&put_iso).unwrap();
    let t = TransfersPost::from_quote(&lq, &qv, lq.transaction_id.clone(), expiration()).unwrap();
    let patch = TransfersPatch {
        completed_timestamp: DateTime::from_offset_date_time(time::OffsetDateTime::now_utc()),
        extension_list: None,
        transfer_state: TransferState::Committed,
    };
    let more = xcheck::oracle(&[
        json!({ "op": "fspiop_to_iso", "resource": "transfers", "facade": "post", "body": t, "context": { "isoPostQuoteResponse": put_iso } }),
        json!({ "op": "fspiop_to_iso", "resource": "transfers", "facade": "patch", "body": patch, "params": { "ID": t.transfer_id.as_str() } }),
    ]);
    let lib_transfer = more[0].as_ref().unwrap().clone();
    let (status, err) = post(
        &base,
        "perffsp5",
        "/transfers",
        iso::to_bytes(&lib_transfer),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{err}");
    let done = iso::transfers_put_view(&hub.next().await.json()).unwrap();
    assert_eq!(done.transfer_state, TransferState::Committed);
    assert!(done.fulfilment.unwrap().fulfils(&t.condition));
    let lib_patch = more[1].as_ref().unwrap();
    assert_eq!(
        strip_generated(lib_patch.clone()),
        strip_generated(iso::transfers_patch(&patch, &stamp())),
        "perffsp's PATCH builder (the hub emulator's) is the lib's"
    );
    let (status, err) = send(
        "perffsp1",
        Some("perffsp5"),
        Method::PATCH,
        format!("{base}/transfers/{}", t.transfer_id),
        Some(iso::to_bytes(lib_patch)),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the lib's PATCH is accepted: {err}");
    payer.shutdown(Duration::from_secs(1)).await;
    twin.shutdown(Duration::from_secs(1)).await;
    sim.shutdown(Duration::from_secs(1)).await;
}
