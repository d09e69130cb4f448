//! ISO 20022 mode of perffsp through its real interface: HTTP on port 0, a test hub that
//! records and forwards, keys generated per run. Bodies are checked with the `fspiop::iso`
//! views (the switch's field rules), signatures verified strictly; negative cases in ISO form.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

mod common;

use axum::body::Bytes;
use common::{client, outbound, pair, signing_key, start_sim, verify_strict, Seen, TestHub};
use fspiop::headers::{self, Version};
use fspiop::ilp::IlpVersion;
use fspiop::iso::{self, Api};
use fspiop::jws::KeyStore;
use fspiop::models::*;
use fspiop::testbed::msisdn;
use fspiop::types::*;
use http::{Method, StatusCode};
use perfbed_http::fspiop::Outbound;
use serde_json::{json, Value};
use sim::{FlowError, Sim, SimConfig};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Helpers

async fn start_iso(fsps: &[&str], hub: &str, edit: impl FnOnce(&mut SimConfig)) -> sim::Running {
    start_sim(fsps, hub, true, |c| {
        c.api = Api::Iso20022;
        edit(c);
    })
    .await
}

/// Sends a signed request as `source` with the production request builder: ISO media types
/// unless `iso_media` is false.
async fn send(
    source: &str,
    dest: Option<&str>,
    method: Method,
    url: String,
    body: Option<Vec<u8>>,
    iso_media: bool,
) -> (StatusCode, Value) {
    let key = signing_key(source);
    let out = outbound(source, dest, method, url, body);
    let out = if iso_media { out.iso() } else { out };
    let resp = client().send(out.build(Some(&key)).unwrap()).await.unwrap();
    let status = resp.status();
    let body = resp.into_body();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// POSTs as perffsp1 (the payer) with the production request builder (ISO media types unless `iso_media`).
async fn post_as_payer(
    base: &str,
    fsp: &str,
    path: &str,
    body: Vec<u8>,
    iso_media: bool,
) -> (StatusCode, Value) {
    send(
        "perffsp1",
        Some(fsp),
        Method::POST,
        format!("{base}{path}"),
        Some(body),
        iso_media,
    )
    .await
}

/// GET /parties/MSISDN/`number` as perffsp1 (ISO media types unless `iso_media`).
async fn get_party(base: &str, fsp: &str, number: &str, iso_media: bool) -> (StatusCode, Value) {
    send(
        "perffsp1",
        Some(fsp),
        Method::GET,
        format!("{base}/parties/MSISDN/{number}"),
        None,
        iso_media,
    )
    .await
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
    let (status, _) = get_party(&base, "perffsp5", &number, true).await;
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
    let (status, _) = post_as_payer(&base, "perffsp5", "/quotes", iso::to_bytes(&post), true).await;
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
    let (status, _) =
        post_as_payer(&base, "perffsp5", "/transfers", iso::to_bytes(&body), true).await;
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
    let (status, err) =
        post_as_payer(&base, "perffsp5", "/quotes", iso::to_bytes(&post), false).await;
    assert_eq!(
        (status, code(&err).as_str()),
        (StatusCode::BAD_REQUEST, "3101"),
        "{err}"
    );

    // An FSPIOP body with ISO media types: refused (3102 missing GrpHdr).
    let (status, err) = post_as_payer(
        &base,
        "perffsp5",
        "/quotes",
        fspiop::json::to_canonical_vec(&q),
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
    let (status, err) =
        post_as_payer(&base, "perffsp5", "/quotes", iso::to_bytes(&uuid), true).await;
    assert_eq!(
        (status, code(&err).as_str()),
        (StatusCode::BAD_REQUEST, "3100"),
        "{err}"
    );
    assert!(err.to_string().contains("TxId"), "{err}");

    // A signed body tampered with after signing: 3105 and no callback (no fulfilment).
    let key = signing_key("perffsp1");
    let mut req = Outbound {
        version: Version::V2_0,
        ..outbound(
            "perffsp1",
            Some("perffsp5"),
            Method::POST,
            format!("{base}/quotes"),
            Some(iso::to_bytes(&post)),
        )
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
    let (status, _) = get_party(&base, "perffsp5", &unknown, true).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let put = hub.next().await;
    assert_eq!(put.path, format!("/parties/MSISDN/{unknown}/error"));
    assert_iso_callback(&put, "parties", "perffsp5", "perffsp1");
    let v = put.json();
    assert_eq!(v["Rpt"]["Rsn"]["Cd"], "3204");
    assert_eq!(v["Rpt"]["Vrfctn"], false);
    assert_eq!(iso::parties_error_view(&v).unwrap().error_code, "3204");

    // A transfer whose packet's condition was swapped: 3100 pacs.002 error, no fulfilment.
    let (status, _) = post_as_payer(&base, "perffsp5", "/quotes", iso::to_bytes(&post), true).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let qv = hub.next().await.json();
    let quote = iso::quotes_put_view(&qv).unwrap();
    let mut t =
        TransfersPost::from_quote(&q, &quote, q.transaction_id.clone(), expiration()).unwrap();
    t.amount = Money::parse("11", "XXX").unwrap();
    let (status, _) = post_as_payer(
        &base,
        "perffsp5",
        "/transfers",
        iso::to_bytes(&iso::transfers_post(&t, &qv, &stamp())),
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
    let (status, _) = post_as_payer(
        &base,
        "perffsp5",
        "/quotes",
        iso::to_bytes(&iso::quotes_post(&q, &stamp())),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let qv = hub.next().await.json();
    let quote = iso::quotes_put_view(&qv).unwrap();
    let tr = TransfersPost::from_quote(&q, &quote, q.transaction_id.clone(), expiration()).unwrap();
    let (status, _) = post_as_payer(
        &base,
        "perffsp5",
        "/transfers",
        iso::to_bytes(&iso::transfers_post(&tr, &qv, &stamp())),
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

/// Asks the ISO simulator (`bases[0]`) and its FSPIOP twin (`bases[1]`) the same GET /parties.
async fn get_both(bases: [&str; 2], fsp: &str, number: &str) {
    get_party(bases[0], fsp, number, true).await;
    get_party(bases[1], fsp, number, false).await;
}

/// The same POST to both: the ISO body to the ISO simulator, the FSPIOP body to the twin.
async fn post_both(
    bases: [&str; 2],
    fsp: &str,
    path: &str,
    iso_body: Vec<u8>,
    fspiop_body: Vec<u8>,
) {
    post_as_payer(bases[0], fsp, path, iso_body, true).await;
    post_as_payer(bases[1], fsp, path, fspiop_body, false).await;
}

/// POST /transfers for a quote both answered: to the ISO simulator built from its ISO answer
/// (`put_iso`), to the twin from the twin's FSPIOP answer.
async fn transfer_both(
    bases: [&str; 2],
    fsp: &str,
    q: &QuotesPost,
    put_iso: &Value,
    twin_quote: &QuotesPut,
) {
    let view = iso::quotes_put_view(put_iso).unwrap();
    let t = TransfersPost::from_quote(q, &view, q.transaction_id.clone(), expiration()).unwrap();
    let twin_t =
        TransfersPost::from_quote(q, twin_quote, q.transaction_id.clone(), expiration()).unwrap();
    post_both(
        bases,
        fsp,
        "/transfers",
        iso::to_bytes(&iso::transfers_post(&t, put_iso, &stamp())),
        fspiop::json::to_canonical_vec(&twin_t),
    )
    .await;
}

/// The next callback at the hub, with its twin's counterpart from the twin hub (no context).
async fn next_kind(
    hub: &mut TestHub,
    twin_hub: &mut TestHub,
    name: &'static str,
    resource: &'static str,
    facade: &'static str,
    signer: &'static str,
) -> Kind {
    let seen = hub.next().await;
    Kind {
        name,
        resource,
        facade,
        context: None,
        signer: Some(signer),
        twin: twin_hub.next().await.json(),
        seen,
    }
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
    let bases = [base.as_str(), twin_base.as_str()];
    let mut kinds: Vec<Kind> = Vec::new();

    // PUT /parties and its error.
    for (number, name, facade) in [
        (msisdn(5, 1), "PUT /parties", "put"),
        (msisdn(5, 2_000_000), "PUT /parties error", "putError"),
    ] {
        get_both(bases, "perffsp5", &number).await;
        kinds.push(next_kind(&mut hub, &mut twin_hub, name, "parties", facade, "perffsp5").await);
    }

    // Quotes with and without fee, transfers (5105 error, RESERVED), the same to the twin.
    let mut reserved_fulfilment = None;
    let mut no_fee_put = None;
    for (fsp, n, amount) in [("perffsp5", 5u8, "950"), ("perffsp6", 6u8, "12.5")] {
        let mut q = quote_request(&msisdn(n, 2), amount);
        q.payee.party_id_info.fsp_id = Some(FspId::parse(fsp).unwrap());
        let qpost = iso::quotes_post(&q, &stamp());
        post_both(
            bases,
            fsp,
            "/quotes",
            iso::to_bytes(&qpost),
            fspiop::json::to_canonical_vec(&q),
        )
        .await;
        let name = if fsp == "perffsp5" {
            "PUT /quotes (fee)"
        } else {
            "PUT /quotes (no fee)"
        };
        let quote = next_kind(&mut hub, &mut twin_hub, name, "quotes", "put", fsp).await;
        let put_iso = quote.seen.json();
        if fsp == "perffsp6" {
            no_fee_put = Some(iso::quotes_put_view(&put_iso).unwrap());
        }
        let twin_quote: QuotesPut = serde_json::from_value(quote.twin.clone()).unwrap();
        kinds.push(Kind {
            context: Some(json!({ "isoPostQuote": qpost })),
            ..quote
        });
        transfer_both(bases, fsp, &q, &put_iso, &twin_quote).await;
        let transfer = if fsp == "perffsp5" {
            let name = "PUT /transfers error (5105)";
            next_kind(&mut hub, &mut twin_hub, name, "transfers", "putError", fsp).await
        } else {
            let name = "PUT /transfers (RESERVED)";
            let k = next_kind(&mut hub, &mut twin_hub, name, "transfers", "put", fsp).await;
            reserved_fulfilment = iso::transfers_put_view(&k.seen.json()).unwrap().fulfilment;
            k
        };
        kinds.push(transfer);
    }
    // A committed transfer from perffsp5 (under the limit).
    let q = quote_request(&msisdn(5, 3), "7");
    post_both(
        bases,
        "perffsp5",
        "/quotes",
        iso::to_bytes(&iso::quotes_post(&q, &stamp())),
        fspiop::json::to_canonical_vec(&q),
    )
    .await;
    let put_iso = hub.next().await.json();
    let twin_quote: QuotesPut = serde_json::from_slice(&twin_hub.next().await.body).unwrap();
    transfer_both(bases, "perffsp5", &q, &put_iso, &twin_quote).await;
    let name = "PUT /transfers (COMMITTED)";
    kinds.push(
        next_kind(
            &mut hub,
            &mut twin_hub,
            name,
            "transfers",
            "put",
            "perffsp5",
        )
        .await,
    );
    // A quote error.
    let q66 = quote_request(&msisdn(5, 66), "3");
    post_both(
        bases,
        "perffsp5",
        "/quotes",
        iso::to_bytes(&iso::quotes_post(&q66, &stamp())),
        fspiop::json::to_canonical_vec(&q66),
    )
    .await;
    let name = "PUT /quotes error (5100)";
    kinds.push(
        next_kind(
            &mut hub,
            &mut twin_hub,
            name,
            "quotes",
            "putError",
            "perffsp5",
        )
        .await,
    );

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
    let (status, err) =
        post_as_payer(&base, "perffsp5", "/quotes", iso::to_bytes(&lib_post), true).await;
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
    let (status, err) = post_as_payer(
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
