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
