//! perffsp through its real interface: HTTP on port 0, a test hub that records (and optionally
//! forwards) every request, keys generated per run. Callback bodies are validated against the
//! FSPIOP v1.1 OpenAPI schemas; signatures verified strictly (as the reference validator does)
//! and, in one test, by the reference library itself.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

mod common;

use axum::body::Bytes;
use common::{client, outbound, pair, signing_key, start_sim, store, verify_strict, Seen, TestHub};
use fspiop::headers::{self, Version};
use fspiop::ilp::{IlpPacket, IlpSecret, IlpVersion, TransactionObject};
use fspiop::jws::{self, KeyStore, VerifyMode};
use fspiop::models::*;
use fspiop::testbed::msisdn;
use fspiop::types::*;
use http::{Method, StatusCode};
use perfbed_http::fspiop::Outbound;
use perfbed_http::{ClientOptions, HttpClient};
use serde_json::{json, Value};
use sim::{Behaviour, FlowError, Latency, RejectRule, Sim, SimConfig, Stage};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Helpers

/// Sends a signed FSPIOP request as `source` (the production request builder).
async fn send_as(
    source: &str,
    dest: Option<&str>,
    method: Method,
    url: String,
    body: Option<Vec<u8>>,
    sign: bool,
) -> (StatusCode, Bytes) {
    let key = signing_key(source);
    let req = outbound(source, dest, method, url, body)
        .build(sign.then_some(&key))
        .unwrap();
    let resp = client().send(req).await.unwrap();
    (resp.status(), resp.into_body())
}

/// Validates a body against a schema of the FSPIOP v1.1 OpenAPI definition.
fn assert_schema(schema: &str, body: &Value) {
    static SPEC: OnceLock<Value> = OnceLock::new();
    let spec = SPEC.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/specs/fspiop-v1.1-openapi3.yaml"
        );
        let yaml: Value = serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        yaml
    });
    let root = json!({
        "$schema": "http://json-schema.org/draft-04/schema#",
        "$ref": format!("#/components/schemas/{schema}"),
        "components": spec["components"],
    });
    let validator = jsonschema::draft4::new(&root).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{schema} invalid: {errors:?}\n{body}");
}

fn quote_request(payer: &str, payee: &str, payee_msisdn: &str, amount: &str) -> QuotesPost {
    QuotesPost::p2p(
        CorrelationId::v4_from_bytes(rand_bytes()),
        CorrelationId::v4_from_bytes(rand_bytes()),
        Party::with_id(PartyIdInfo::msisdn(payer, &msisdn(1, 7)).unwrap()),
        Party::with_id(PartyIdInfo::msisdn(payee, payee_msisdn).unwrap()),
        Money::parse(amount, "XXX").unwrap(),
    )
}

fn rand_bytes() -> [u8; 16] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&n.to_be_bytes());
    b[8..].copy_from_slice(&t.to_be_bytes());
    b
}

fn transfer_from(q: &QuotesPost, put: &QuotesPut) -> TransfersPost {
    let expiration = DateTime::from_offset_date_time(
        time::OffsetDateTime::now_utc() + time::Duration::seconds(30),
    );
    TransfersPost::from_quote(q, put, q.transaction_id.clone(), expiration).unwrap()
}

fn assert_callback_headers(seen: &Seen, resource: &str, source: &str, dest: &str) {
    assert_eq!(seen.header("fspiop-source"), Some(source));
    assert_eq!(seen.header("fspiop-destination"), Some(dest));
    let ct = seen.header("content-type").unwrap();
    assert_eq!(
        headers::parse_content_type(ct, resource),
        Some(Version::V1_1),
        "{ct}"
    );
    assert!(headers::parse_date(seen.header("date").unwrap()).is_some());
    assert!(
        seen.header("accept").is_none(),
        "PUT callbacks carry no Accept"
    );
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn payee_answers_the_p2p_flow_with_signed_schema_valid_callbacks() {
    let mut hub = TestHub::start().await;
    let sim = start_sim(&["perffsp5"], &hub.url, true, |_| {}).await;
    let base = format!("http://{}", sim.addr);

    // Lookup.
    let number = msisdn(5, 42);
    let (status, body) = send_as(
        "perffsp1",
        Some("perffsp5"),
        Method::GET,
        format!("{base}/parties/MSISDN/{number}"),
        None,
        true,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(body.is_empty(), "2xx answers have an empty body");
    let put = hub.next().await;
    assert_eq!(
        (put.method.clone(), put.path.as_str()),
        (Method::PUT, format!("/parties/MSISDN/{number}").as_str())
    );
    assert_callback_headers(&put, "parties", "perffsp5", "perffsp1");
    verify_strict(&put, "perffsp5").unwrap();
    assert_schema("PartiesTypeIDPutResponse", &put.json());
    assert_eq!(put.json()["party"]["partyIdInfo"]["fspId"], "perffsp5");

    // Quote.
    let q = quote_request("perffsp1", "perffsp5", &number, "123.45");
    let (status, _) = send_as(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/quotes"),
        Some(fspiop::json::to_canonical_vec(&q)),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let put = hub.next().await;
    assert_eq!(put.path, format!("/quotes/{}", q.quote_id));
    assert_callback_headers(&put, "quotes", "perffsp5", "perffsp1");
    verify_strict(&put, "perffsp5").unwrap();
    assert_schema("QuotesIDPutResponse", &put.json());
    let quote: QuotesPut = serde_json::from_slice(&put.body).unwrap();
    let IlpPacket::V4(p) = IlpPacket::from_wire(&quote.ilp_packet).unwrap() else {
        panic!("v4 expected")
    };
    assert_eq!(p.amount, 1_234_500, "123.45 XXX in 4 minor units");
    let tx: TransactionObject = IlpPacket::V4(p).transaction().unwrap();
    assert_eq!(tx.quote_id, q.quote_id);
    assert_eq!(tx.payee.party_id_info.party_identifier.as_str(), number);

    // Transfer.
    let t = transfer_from(&q, &quote);
    let (status, _) = send_as(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/transfers"),
        Some(fspiop::json::to_canonical_vec(&t)),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let put = hub.next().await;
    assert_eq!(put.path, format!("/transfers/{}", t.transfer_id));
    assert_callback_headers(&put, "transfers", "perffsp5", "perffsp1");
    verify_strict(&put, "perffsp5").unwrap();
    assert_schema("TransfersIDPutResponse", &put.json());
    let done: TransfersPut = serde_json::from_slice(&put.body).unwrap();
    assert_eq!(done.transfer_state, TransferState::Committed);
    assert!(done.fulfilment.as_ref().unwrap().fulfils(&t.condition));
    // The hub's window: not later than now + 200 ms, not earlier than now − 300 s.
    let ts = done
        .completed_timestamp
        .clone()
        .unwrap()
        .to_offset_date_time();
    let now = time::OffsetDateTime::now_utc();
    assert!(
        ts <= now + time::Duration::milliseconds(200) && ts >= now - time::Duration::seconds(300)
    );

    // Hub confirmation and PATCH are accepted.
    let confirm = TransfersPut {
        fulfilment: done.fulfilment.clone(),
        ..done.clone()
    };
    let url = format!("{base}/transfers/{}", t.transfer_id);
    let (status, _) = send_as(
        "perffsp1",
        Some("perffsp5"),
        Method::PUT,
        url.clone(),
        Some(fspiop::json::to_canonical_vec(&confirm)),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let patch = TransfersPatch {
        completed_timestamp: done.completed_timestamp.clone().unwrap(),
        extension_list: None,
        transfer_state: TransferState::Committed,
    };
    let (status, _) = send_as(
        "perffsp1",
        Some("perffsp5"),
        Method::PATCH,
        url,
        Some(fspiop::json::to_canonical_vec(&patch)),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    sim.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn synchronous_errors_get_the_hubs_codes_and_no_callback() {
    let mut hub = TestHub::start().await;
    let sim = start_sim(&["perffsp5"], &hub.url, true, |_| {}).await;
    let base = format!("http://{}", sim.addr);
    let q = quote_request("perffsp1", "perffsp5", &msisdn(5, 1), "10");
    let good = fspiop::json::to_canonical_vec(&q);

    // Tampered body: signed, then changed on the way.
    let key = signing_key("perffsp1");
    let req = outbound(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/quotes"),
        Some(good.clone()),
    )
    .build(Some(&key))
    .unwrap();
    let (parts, _) = req.into_parts();
    let tampered = String::from_utf8(good.clone())
        .unwrap()
        .replace("\"10\"", "\"11\"");
    let resp = client()
        .send(http::Request::from_parts(
            parts,
            http_body_util::Full::new(Bytes::from(tampered)),
        ))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let err: Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(err["errorInformation"]["errorCode"], "3105");
    assert_schema("ErrorInformationObject", &err);

    // Unsigned request from a DFSP while JWS is on.
    let (status, body) = send_as(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/quotes"),
        Some(good.clone()),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["errorInformation"]["errorCode"],
        "3105"
    );

    // Header problems, with a raw request.
    let raw = |drop: &'static str, set: Option<(&'static str, &'static str)>| {
        let base = base.clone();
        async move {
            let mut b = http::Request::builder()
                .method(Method::GET)
                .uri(format!("{base}/parties/MSISDN/{}", msisdn(5, 1)));
            let mut h = vec![
                (
                    "content-type",
                    "application/vnd.interoperability.parties+json;version=1.1",
                ),
                (
                    "accept",
                    "application/vnd.interoperability.parties+json;version=1",
                ),
                ("date", "Tue, 01 Jul 2025 10:00:00 GMT"),
                ("fspiop-source", "perffsp1"),
            ];
            h.retain(|(k, _)| *k != drop);
            if let Some((k, v)) = set {
                h.retain(|(x, _)| *x != k);
                h.push((k, v));
            }
            for (k, v) in h {
                b = b.header(k, v);
            }
            let resp = client()
                .send(b.body(http_body_util::Full::new(Bytes::new())).unwrap())
                .await
                .unwrap();
            let v: Value = serde_json::from_slice(resp.body()).unwrap();
            (
                resp.status().as_u16(),
                v["errorInformation"]["errorCode"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        }
    };
    assert_eq!(raw("date", None).await, (400, "3102".into()));
    assert_eq!(raw("accept", None).await, (400, "3102".into()));
    assert_eq!(raw("fspiop-source", None).await, (400, "3102".into()));
    assert_eq!(
        raw("", Some(("date", "yesterday"))).await,
        (400, "3101".into())
    );
    assert_eq!(
        raw(
            "",
            Some((
                "content-type",
                "application/vnd.interoperability.parties+json;version=9.0"
            ))
        )
        .await,
        (406, "3001".into())
    );
    assert_eq!(
        raw("", Some(("fspiop-destination", "perffsp9"))).await,
        (400, "3201".into())
    );

    // Body problems (signed, so only the body is wrong).
    let (status, body) = send_as(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/quotes"),
        Some(br#"{"quoteId":"x"}"#.to_vec()),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let code =
        serde_json::from_slice::<Value>(&body).unwrap()["errorInformation"]["errorCode"].clone();
    assert!(code == "3100" || code == "3102", "{code}");
    let (status, _) = send_as(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/nothing"),
        Some(b"{}".to_vec()),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    hub.nothing_within(Duration::from_millis(300)).await;
    assert!(sim.sim().metrics().jws_failure_total() >= 2);
    sim.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn unknown_numbers_and_rejection_rules_give_error_callbacks() {
    let mut hub = TestHub::start().await;
    let sim = start_sim(&["perffsp5"], &hub.url, true, |c| {
        let b = c.fsps.get_mut("perffsp5").unwrap();
        b.range_size = 1000;
        b.reject = vec![
            RejectRule {
                on: Stage::Transfer,
                code: 5105,
                amount_above: Some(Amount::parse("1000").unwrap()),
                msisdns: vec![],
                rate: None,
            },
            RejectRule {
                on: Stage::Quote,
                code: 5101,
                amount_above: None,
                msisdns: vec![msisdn(5, 13)],
                rate: None,
            },
        ];
    })
    .await;
    let base = format!("http://{}", sim.addr);
    for number in [msisdn(5, 5000), msisdn(6, 1), "27713803912".to_owned()] {
        let (status, _) = send_as(
            "perffsp1",
            Some("perffsp5"),
            Method::GET,
            format!("{base}/parties/MSISDN/{number}"),
            None,
            true,
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let err = hub.next().await;
        assert_eq!(err.path, format!("/parties/MSISDN/{number}/error"));
        verify_strict(&err, "perffsp5").unwrap();
        assert_schema("ErrorInformationObject", &err.json());
        assert_eq!(err.json()["errorInformation"]["errorCode"], "3204");
    }
    // Quote rejected by MSISDN.
    let q = quote_request("perffsp1", "perffsp5", &msisdn(5, 13), "10");
    send_as(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/quotes"),
        Some(fspiop::json::to_canonical_vec(&q)),
        true,
    )
    .await;
    let err = hub.next().await;
    assert_eq!(err.path, format!("/quotes/{}/error", q.quote_id));
    assert_eq!(err.json()["errorInformation"]["errorCode"], "5101");
    // Transfer over the amount limit.
    let q = quote_request("perffsp1", "perffsp5", &msisdn(5, 14), "1000.5");
    send_as(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/quotes"),
        Some(fspiop::json::to_canonical_vec(&q)),
        true,
    )
    .await;
    let quote: QuotesPut = serde_json::from_slice(&hub.next().await.body).unwrap();
    let t = transfer_from(&q, &quote);
    send_as(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/transfers"),
        Some(fspiop::json::to_canonical_vec(&t)),
        true,
    )
    .await;
    let err = hub.next().await;
    assert_eq!(err.path, format!("/transfers/{}/error", t.transfer_id));
    assert_eq!(err.json()["errorInformation"]["errorCode"], "5105");
    // A transfer whose condition is not the packet's: no fulfilment, error 3100.
    let mut forged = transfer_from(&q, &quote);
    forged.amount.amount = Amount::parse("5").unwrap();
    forged.condition = IlpCondition::parse("GIxd5xcohkmnnXolpTv_OxwpyaH__Oiq49JTvCo8pyA").unwrap();
    send_as(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/transfers"),
        Some(fspiop::json::to_canonical_vec(&forged)),
        true,
    )
    .await;
    let err = hub.next().await;
    assert!(err.path.ends_with("/error"));
    assert_eq!(err.json()["errorInformation"]["errorCode"], "3100");
    sim.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn one_process_signs_each_fsps_callbacks_with_its_own_key() {
    let mut hub = TestHub::start().await;
    let sim = start_sim(&["perffsp5", "perffsp6"], &hub.url, true, |c| {
        c.fsps.get_mut("perffsp6").unwrap().ilp_version = IlpVersion::V1;
    })
    .await;
    let base = format!("http://{}", sim.addr);
    for (fsp, n) in [("perffsp5", 5u8), ("perffsp6", 6u8)] {
        let q = quote_request("perffsp1", fsp, &msisdn(n, 3), "77");
        send_as(
            "perffsp1",
            Some(fsp),
            Method::POST,
            format!("{base}/quotes"),
            Some(fspiop::json::to_canonical_vec(&q)),
            true,
        )
        .await;
        let put = hub.next().await;
        assert_eq!(put.header("fspiop-source"), Some(fsp));
        verify_strict(&put, fsp).unwrap();
        let other = if fsp == "perffsp5" {
            "perffsp6"
        } else {
            "perffsp5"
        };
        let mut spoof = put.clone();
        spoof
            .headers
            .insert("fspiop-source", other.parse().unwrap());
        assert!(
            verify_strict(&spoof, other).is_err(),
            "{fsp}'s callback must not verify with {other}'s key"
        );
        let quote: QuotesPut = serde_json::from_slice(&put.body).unwrap();
        let version = IlpPacket::from_wire(&quote.ilp_packet).unwrap().version();
        assert_eq!(
            version,
            if n == 6 {
                IlpVersion::V1
            } else {
                IlpVersion::V4
            }
        );
        let alg = jws::SignatureHeader::parse(put.header("fspiop-signature").unwrap())
            .unwrap()
            .protected()
            .unwrap()
            .alg;
        assert_eq!(alg, if n == 6 { "ES256" } else { "RS256" });
        // Lookup without a destination is routed by the number's owner.
        send_as(
            "perffsp1",
            None,
            Method::GET,
            format!("{base}/parties/MSISDN/{}", msisdn(n, 9)),
            None,
            true,
        )
        .await;
        let put = hub.next().await;
        assert_eq!(put.header("fspiop-source"), Some(fsp));
    }
    sim.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn payer_api_runs_lookup_quote_transfer_through_a_hub() {
    let mut hub = TestHub::start().await;
    let payer = start_sim(&["perffsp1"], &hub.url, true, |_| {}).await;
    let payee = start_sim(&["perffsp5"], &hub.url, true, |c| {
        let b = c.fsps.get_mut("perffsp5").unwrap();
        b.quote_fee = Some(Amount::parse("1").unwrap());
        b.range_size = 100;
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
    let q = quote_request("perffsp1", "perffsp5", &msisdn(5, 17), "50");
    let quote = sim.quote("perffsp1", "perffsp5", &q, t).await.unwrap();
    assert_eq!(quote.payee_fsp_fee.as_ref().unwrap().amount.as_str(), "1");
    assert_eq!(
        quote.payee_receive_amount.as_ref().unwrap().amount.as_str(),
        "49"
    );
    let done = sim
        .transfer("perffsp1", &transfer_from(&q, &quote), t)
        .await
        .unwrap();
    assert_eq!(done.transfer_state, TransferState::Committed);

    // Unknown number (beyond the payee's range): its 3204 reaches the payer as a rejection.
    let err = sim
        .lookup("perffsp1", PartyIdType::Msisdn, &msisdn(5, 500), t)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FlowError::Rejected { ref code, ref source_fsp } if code == "3204" && source_fsp == "perffsp5"),
        "{err:?}"
    );

    // A hub that rewrites the payee's signed PUT /transfers (COMMITTED → RESERVED): the
    // signature no longer verifies → JwsInvalid. (A correctly signed wrong fulfilment or state
    // is `a_correctly_signed_transfer_callback_with_a_wrong_fulfilment_or_state_is_an_anomaly`.)
    fn flip(seen: &mut Seen) {
        if seen.method == Method::PUT && seen.path.starts_with("/transfers/") {
            let text = String::from_utf8(seen.body.to_vec())
                .unwrap()
                .replace("COMMITTED", "RESERVED");
            seen.body = Bytes::from(text);
        }
    }
    *hub.tamper.lock().unwrap() = Some(flip);
    let q = quote_request("perffsp1", "perffsp5", &msisdn(5, 18), "20");
    let quote = sim.quote("perffsp1", "perffsp5", &q, t).await.unwrap();
    let err = sim
        .transfer("perffsp1", &transfer_from(&q, &quote), t)
        .await
        .unwrap_err();
    assert_eq!(err, FlowError::Anomaly(sim::Anomaly::JwsInvalid));
    *hub.tamper.lock().unwrap() = None;

    // Nobody answers: the payer times out and forgets the flow.
    hub.routes.lock().unwrap().clear();
    let err = sim
        .lookup(
            "perffsp1",
            PartyIdType::Msisdn,
            &msisdn(5, 19),
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
    assert_eq!(err, FlowError::Timeout);
    assert_eq!(sim.waiting(), 0);
    while hub.rx.try_recv().is_ok() {}
    payer.shutdown(Duration::from_secs(1)).await;
    payee.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn overload_is_shed_and_shutdown_drains_callbacks() {
    let mut hub = TestHub::start().await;
    let sim = start_sim(&["perffsp5"], &hub.url, false, |c| {
        c.max_in_flight = 1;
        c.fsps.get_mut("perffsp5").unwrap().lookup_latency = Latency::Fixed { ms: 400.0 };
    })
    .await;
    let base = format!("http://{}", sim.addr);
    let url = format!("{base}/parties/MSISDN/{}", msisdn(5, 1));
    let (first, _) = send_as("perffsp1", None, Method::GET, url.clone(), None, false).await;
    assert_eq!(first, StatusCode::ACCEPTED);
    let (second, body) = send_as("perffsp1", None, Method::GET, url, None, false).await;
    assert_eq!(second, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["errorInformation"]["errorCode"],
        "2003"
    );
    assert_eq!(sim.sim().metrics().shed_total(), 1);

    // Health and metrics.
    let health = client()
        .send(
            http::Request::get(format!("{base}/health"))
                .body(Default::default())
                .unwrap(),
        )
        .await
        .unwrap();
    let h: Value = serde_json::from_slice(health.body()).unwrap();
    assert_eq!(h["status"], "OK");
    assert_eq!(h["callbacksInFlight"], 1);
    let metrics = client()
        .send(
            http::Request::get(format!("{base}/metrics"))
                .body(Default::default())
                .unwrap(),
        )
        .await
        .unwrap();
    let text = String::from_utf8(metrics.body().to_vec()).unwrap();
    assert!(
        text.contains("perffsp_requests_total{route=\"parties_get\",status=\"202\"} 1"),
        "{text}"
    );
    assert!(text.contains("perffsp_shed_total 1"), "{text}");

    // Shut down while the delayed callback is pending: it is still delivered.
    let s = sim.sim().clone();
    sim.shutdown(Duration::from_secs(5)).await;
    let put = hub.next().await;
    assert_eq!(put.method, Method::PUT);
    assert_eq!(s.metrics().callback_totals(), (1, 0));
}

#[tokio::test]
async fn answer_reserved_behaviour() {
    let mut hub = TestHub::start().await;
    let sim = start_sim(&["perffsp5"], &hub.url, false, |c| {
        c.fsps.insert(
            "perffsp5".into(),
            Behaviour {
                answer_reserved: true,
                ..Behaviour::default()
            },
        );
    })
    .await;
    let base = format!("http://{}", sim.addr);
    let q = quote_request("perffsp1", "perffsp5", &msisdn(5, 2), "3");
    send_as(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/quotes"),
        Some(fspiop::json::to_canonical_vec(&q)),
        false,
    )
    .await;
    let quote: QuotesPut = serde_json::from_slice(&hub.next().await.body).unwrap();
    let t = transfer_from(&q, &quote);
    send_as(
        "perffsp1",
        Some("perffsp5"),
        Method::POST,
        format!("{base}/transfers"),
        Some(fspiop::json::to_canonical_vec(&t)),
        false,
    )
    .await;
    let put = hub.next().await;
    assert_schema("TransfersIDPutResponse", &put.json());
    assert_eq!(put.json()["transferState"], "RESERVED");
    // The payee's ILP secret is all it needs: another simulator with the same secret agrees.
    let again = IlpSecret::new(b"perfbed-test-ilp-secret")
        .fulfil(&t.ilp_packet)
        .unwrap();
    assert_eq!(put.json()["fulfilment"], json!(again));
    sim.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn mtls_refuses_clients_without_a_certificate_from_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = perfbed_http::tls::generate_test_pki(
        &["127.0.0.1".into(), "localhost".into()],
        &["perffsp1".into()],
    )
    .unwrap();
    let other =
        perfbed_http::tls::generate_test_pki(&["127.0.0.1".into()], &["perffsp1".into()]).unwrap();
    let server = perfbed_http::tls::server_config(
        pki.server.cert.as_bytes(),
        pki.server.key.as_bytes(),
        Some(pki.ca.cert.as_bytes()),
    )
    .unwrap();
    let hub = TestHub::start().await;
    let config = SimConfig::new(&["perffsp5".into()], &hub.url);
    let sim = Sim::new(config, KeyStore::new(), None).unwrap();
    let running = sim::start(
        sim,
        "127.0.0.1:0".parse::<SocketAddr>().unwrap(),
        Some(server),
    )
    .await
    .unwrap();
    let url = format!("https://localhost:{}/health", running.addr.port());
    let get = |tls| {
        let url = url.clone();
        async move {
            let c = HttpClient::new(ClientOptions {
                tls: Some(tls),
                timeout: Duration::from_secs(5),
                ..ClientOptions::default()
            });
            c.send(http::Request::get(url).body(Default::default()).unwrap())
                .await
        }
    };
    let (_, client_pair) = &pki.clients[0];
    let ok = perfbed_http::tls::client_config(
        pki.ca.cert.as_bytes(),
        Some((client_pair.cert.as_bytes(), client_pair.key.as_bytes())),
    )
    .unwrap();
    assert_eq!(get(ok).await.unwrap().status(), StatusCode::OK);
    let no_cert = perfbed_http::tls::client_config(pki.ca.cert.as_bytes(), None).unwrap();
    assert!(
        get(no_cert).await.is_err(),
        "a client without a certificate is refused"
    );
    let (_, wrong_pair) = &other.clients[0];
    let wrong_ca = perfbed_http::tls::client_config(
        pki.ca.cert.as_bytes(),
        Some((wrong_pair.cert.as_bytes(), wrong_pair.key.as_bytes())),
    )
    .unwrap();
    assert!(
        get(wrong_ca).await.is_err(),
        "a client certificate from another CA is refused"
    );
    let distrust = perfbed_http::tls::client_config(
        other.ca.cert.as_bytes(),
        Some((client_pair.cert.as_bytes(), client_pair.key.as_bytes())),
    )
    .unwrap();
    assert!(
        get(distrust).await.is_err(),
        "the client refuses a server from an unknown CA"
    );
    let _ = dir;
    running.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn the_reference_library_accepts_every_callback() {
    let mut hub = TestHub::start().await;
    let sim = start_sim(&["perffsp5", "perffsp6"], &hub.url, true, |_| {}).await;
    let base = format!("http://{}", sim.addr);
    let mut seen = Vec::new();
    let mut transfers = Vec::new();
    for (fsp, n) in [("perffsp5", 5u8), ("perffsp6", 6u8)] {
        send_as(
            "perffsp1",
            Some(fsp),
            Method::GET,
            format!("{base}/parties/MSISDN/{}", msisdn(n, 1)),
            None,
            true,
        )
        .await;
        seen.push((fsp, hub.next().await));
        send_as(
            "perffsp1",
            Some(fsp),
            Method::GET,
            format!("{base}/parties/MSISDN/{}", msisdn(n + 1, 1)),
            None,
            true,
        )
        .await;
        seen.push((fsp, hub.next().await)); // 3204 error callback
        let q = quote_request("perffsp1", fsp, &msisdn(n, 2), "12.5");
        send_as(
            "perffsp1",
            Some(fsp),
            Method::POST,
            format!("{base}/quotes"),
            Some(fspiop::json::to_canonical_vec(&q)),
            true,
        )
        .await;
        let put = hub.next().await;
        let quote: QuotesPut = serde_json::from_slice(&put.body).unwrap();
        seen.push((fsp, put));
        let t = transfer_from(&q, &quote);
        send_as(
            "perffsp1",
            Some(fsp),
            Method::POST,
            format!("{base}/transfers"),
            Some(fspiop::json::to_canonical_vec(&t)),
            true,
        )
        .await;
        let put = hub.next().await;
        transfers.push((t, put.json()["fulfilment"].clone()));
        seen.push((fsp, put));
    }
    let mut ops = Vec::new();
    for (fsp, s) in &seen {
        let mut headers = serde_json::Map::new();
        for (k, v) in &s.headers {
            headers.insert(k.as_str().to_owned(), json!(v.to_str().unwrap()));
        }
        ops.push(json!({
            "op": "jws_validate",
            "keys": { *fsp: pair(fsp).public },
            "headers": headers,
            "body": s.json(),
        }));
    }
    for (t, fulfilment) in &transfers {
        ops.push(json!({ "op": "ilp_validate_transfer", "version": "v4", "transfer": t }));
        ops.push(json!({ "op": "ilp_calculate_fulfil", "version": "v4", "secret": "perfbed-test-ilp-secret", "packet": t.ilp_packet }));
        ops.push(json!({ "op": "ilp_validate_fulfil", "fulfilment": fulfilment, "condition": t.condition }));
    }
    let results = xcheck::oracle(&ops);
    let (jws_results, ilp_results) = results.split_at(seen.len());
    for ((fsp, s), r) in seen.iter().zip(jws_results) {
        assert!(
            r.is_ok(),
            "reference validator refused {fsp}'s {} {}: {r:?}",
            s.method,
            s.path
        );
    }
    for ((_, fulfilment), r) in transfers.iter().zip(ilp_results.chunks(3)) {
        assert_eq!(r[0], Ok(json!(true)), "packet matches transfer");
        assert_eq!(
            r[1].as_ref().unwrap(),
            fulfilment,
            "the SDK derives the fulfilment we sent"
        );
        assert_eq!(r[2], Ok(json!(true)));
    }
    sim.shutdown(Duration::from_secs(1)).await;
}

// ---------------------------------------------------------------------------------------------
// "Not sent" means the request never left; late answers complete nothing.

/// A hub that accepts the connection, reads one whole request and drops the connection
/// without answering.
async fn hub_that_hangs_up() -> (String, Arc<Mutex<usize>>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let read = Arc::new(Mutex::new(0usize));
    let r = read.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let r = r.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() >= i + 4 + len {
                            *r.lock().unwrap() += 1;
                            return; // drops the connection: no response
                        }
                    }
                    match tcp.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), read)
}

#[tokio::test]
async fn a_request_the_hub_read_and_dropped_failed_after_send_and_its_late_answer_completes_nothing(
) {
    let (url, read) = hub_that_hangs_up().await;
    let payer = start_sim(&["perffsp1"], &url, false, |_| {}).await;
    let sim = payer.sim().clone();
    let q = quote_request("perffsp1", "perffsp5", &msisdn(5, 1), "10");
    let err = sim
        .quote("perffsp1", "perffsp5", &q, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, FlowError::FailedAfterSend(_)), "{err:?}");
    assert_eq!(*read.lock().unwrap(), 1, "the hub read the whole request");
    assert_eq!(sim.waiting(), 0);
    // The switch had the request: its answer may still come, and is then late.
    let (status, _) = send_as(
        "perffsp5",
        Some("perffsp1"),
        Method::PUT,
        format!("http://{}/quotes/{}/error", payer.addr, q.quote_id),
        Some(br#"{"errorInformation":{"errorCode":"5101","errorDescription":"late"}}"#.to_vec()),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sim.metrics().late_callbacks_total(), 1);
    payer.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_request_to_a_hub_nobody_listens_on_was_not_sent() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let payer = start_sim(
        &["perffsp1"],
        &format!("http://127.0.0.1:{port}"),
        false,
        |_| {},
    )
    .await;
    let sim = payer.sim().clone();
    let err = sim
        .lookup(
            "perffsp1",
            PartyIdType::Msisdn,
            &msisdn(5, 1),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, FlowError::NotSent(_)), "{err:?}");
    assert_eq!(sim.waiting(), 0);
    // Nothing left behind: an answer for that number would be nobody's, not a late one.
    payer.shutdown(Duration::from_secs(1)).await;
}

/// Sends the payee's `PUT /parties/MSISDN/{number}` answer (party name `name`) to the payer,
/// carrying `traceparent` when given (a payee that echoes the request's trace).
async fn answer_lookup(payer: SocketAddr, number: &str, name: &str, traceparent: Option<&str>) {
    let extra: Vec<(&str, String)> = traceparent
        .map(|t| vec![("traceparent", t.to_owned())])
        .unwrap_or_default();
    answer_lookup_with(payer, number, name, &extra).await;
}

/// [`answer_lookup`] with extra headers.
async fn answer_lookup_with(payer: SocketAddr, number: &str, name: &str, extra: &[(&str, String)]) {
    let body = json!({ "party": {
        "name": name,
        "partyIdInfo": { "partyIdType": "MSISDN", "partyIdentifier": number, "fspId": "perffsp5" },
    }});
    let extra = extra
        .iter()
        .map(|(k, v)| {
            (
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect();
    let req = Outbound {
        method: Method::PUT,
        url: format!("http://{payer}/parties/MSISDN/{number}"),
        version: Version::V1_1,
        source: "perffsp5".into(),
        destination: Some("perffsp1".into()),
        body: Some(Bytes::from(serde_json::to_vec(&body).unwrap())),
        extra,
    }
    .build(None)
    .unwrap();
    let resp = client().send(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

type LookupTask = tokio::task::JoinHandle<Result<sim::Received<PartiesPut>, FlowError>>;

fn spawn_lookup(sim: &Arc<Sim>, number: &str, timeout: Duration) -> LookupTask {
    let (sim, number) = (sim.clone(), number.to_owned());
    tokio::spawn(async move {
        sim.lookup("perffsp1", PartyIdType::Msisdn, &number, timeout)
            .await
    })
}

fn party_name(r: Result<sim::Received<PartiesPut>, FlowError>) -> String {
    r.unwrap().party.name.clone().unwrap()
}

#[tokio::test]
async fn a_late_lookup_answer_never_completes_a_newer_lookup_of_the_same_number() {
    // The hub records the lookups; the test answers them as the payee would, in order, without
    // a trace id (a payee or switch that does not carry trace context).
    let mut hub = TestHub::start().await;
    let payer = start_sim(&["perffsp1"], &hub.url, false, |_| {}).await;
    let sim = payer.sim().clone();
    let number = msisdn(5, 21);

    let first = spawn_lookup(&sim, &number, Duration::from_millis(300));
    hub.next().await;
    assert_eq!(first.await.unwrap().unwrap_err(), FlowError::Timeout);
    let second = spawn_lookup(&sim, &number, Duration::from_secs(5));
    hub.next().await;
    // The first lookup's answer arrives late, while the second waits.
    answer_lookup(payer.addr, &number, "first", None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !second.is_finished(),
        "the late answer completed the newer lookup"
    );
    answer_lookup(payer.addr, &number, "second", None).await;
    assert_eq!(party_name(second.await.unwrap()), "second");
    assert_eq!(sim.metrics().late_callbacks_total(), 1);

    // A late answer and no answer of its own: the newer lookup times out.
    let third = spawn_lookup(&sim, &number, Duration::from_millis(300));
    hub.next().await;
    assert_eq!(third.await.unwrap().unwrap_err(), FlowError::Timeout);
    let fourth = spawn_lookup(&sim, &number, Duration::from_millis(600));
    hub.next().await;
    answer_lookup(payer.addr, &number, "third", None).await;
    assert_eq!(fourth.await.unwrap().unwrap_err(), FlowError::Timeout);
    assert_eq!(sim.metrics().late_callbacks_total(), 2);
    let metrics = client()
        .send(
            http::Request::get(format!("http://{}/metrics", payer.addr))
                .body(Default::default())
                .unwrap(),
        )
        .await
        .unwrap();
    let text = String::from_utf8(metrics.body().to_vec()).unwrap();
    assert!(text.contains("perffsp_late_callbacks_total 2"), "{text}");
    payer.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_lookup_answer_carrying_the_requests_trace_goes_to_that_lookup_in_any_order() {
    let mut hub = TestHub::start().await;
    let payer = start_sim(&["perffsp1"], &hub.url, false, |_| {}).await;
    let sim = payer.sim().clone();
    let number = msisdn(5, 22);

    let first = spawn_lookup(&sim, &number, Duration::from_millis(300));
    let trace1 = hub.next().await.header("traceparent").unwrap().to_owned();
    assert_eq!(first.await.unwrap().unwrap_err(), FlowError::Timeout);
    let second = spawn_lookup(&sim, &number, Duration::from_secs(5));
    let trace2 = hub.next().await.header("traceparent").unwrap().to_owned();
    // Out of order: the second lookup's own answer first, then the first's, late.
    answer_lookup(payer.addr, &number, "second", Some(&trace2)).await;
    assert_eq!(party_name(second.await.unwrap()), "second");
    answer_lookup(payer.addr, &number, "first", Some(&trace1)).await;
    assert_eq!(sim.metrics().late_callbacks_total(), 1);
    payer.shutdown(Duration::from_secs(1)).await;
}

// ---------------------------------------------------------------------------------------------
// Trust boundaries: a hub that signs, relay receipt times.

/// A payer (perffsp1, JWS on) whose key store holds `verifying`'s public keys.
async fn payer_with_keys(hub: &str, verifying: &[&str]) -> sim::Running {
    let mut config = SimConfig::new(&["perffsp1".to_owned()], hub);
    config.jws = true;
    config.verify_mode = VerifyMode::Strict;
    let sim = Sim::new(config, store(&["perffsp1"], verifying), None).unwrap();
    sim::start(sim, "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap()
}

/// The hub's `3204` for a lookup, sent to the payer as `Hub`: signed with the hub's key, with
/// `signer`'s key (a forgery), or unsigned.
async fn hub_says_not_found(payer: SocketAddr, number: &str, signer: Option<&str>) -> (u16, Value) {
    let key = signer.map(signing_key);
    let req = Outbound {
        method: Method::PUT,
        url: format!("http://{payer}/parties/MSISDN/{number}/error"),
        version: Version::V1_1,
        source: "Hub".into(),
        destination: Some("perffsp1".into()),
        body: Some(Bytes::from_static(
            br#"{"errorInformation":{"errorCode":"3204","errorDescription":"Party not found"}}"#,
        )),
        extra: vec![],
    }
    .build(key.as_ref())
    .unwrap();
    let resp = client().send(req).await.unwrap();
    let body = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
    (resp.status().as_u16(), body)
}

#[tokio::test]
async fn with_the_hubs_key_configured_hub_messages_must_be_signed_and_verify() {
    let mut hub = TestHub::start().await;
    let payer = payer_with_keys(&hub.url, &["perffsp5", "Hub"]).await;
    let sim = payer.sim().clone();
    assert!(sim.hub_signs());
    let t = Duration::from_secs(5);

    // Unsigned: refused (3105), and the waiting lookup learns why.
    let number = msisdn(5, 31);
    let lookup = spawn_lookup(&sim, &number, t);
    hub.next().await;
    let (status, body) = hub_says_not_found(payer.addr, &number, None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errorInformation"]["errorCode"], "3105", "{body}");
    let description = body["errorInformation"]["errorDescription"]
        .as_str()
        .unwrap();
    assert!(
        description.contains("'Hub' signs its messages"),
        "{description}"
    );
    assert_eq!(
        lookup.await.unwrap().unwrap_err(),
        FlowError::Anomaly(sim::Anomaly::JwsInvalid)
    );

    // Signed by someone else's key under the hub's name: refused.
    let lookup = spawn_lookup(&sim, &number, t);
    hub.next().await;
    let (status, body) = hub_says_not_found(payer.addr, &number, Some("perffsp5")).await;
    assert_eq!(
        (status, body["errorInformation"]["errorCode"].clone()),
        (400, json!("3105"))
    );
    assert_eq!(
        lookup.await.unwrap().unwrap_err(),
        FlowError::Anomaly(sim::Anomaly::JwsInvalid)
    );

    // Signed with the hub's key: accepted, the lookup is rejected by the hub.
    let lookup = spawn_lookup(&sim, &number, t);
    hub.next().await;
    let (status, body) = hub_says_not_found(payer.addr, &number, Some("Hub")).await;
    assert_eq!(status, 200, "{body}");
    let err = lookup.await.unwrap().unwrap_err();
    assert!(
        matches!(err, FlowError::Rejected { ref code, ref source_fsp } if code == "3204" && source_fsp == "Hub"),
        "{err:?}"
    );
    assert_eq!(sim.metrics().jws_failure_total(), 2);
    payer.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn without_a_hub_key_the_hubs_own_messages_are_accepted_unsigned() {
    let mut hub = TestHub::start().await;
    let payer = payer_with_keys(&hub.url, &["perffsp5"]).await;
    let sim = payer.sim().clone();
    assert!(!sim.hub_signs());
    let number = msisdn(5, 32);
    // Unsigned, or signed with a key nobody configured: both accepted as the hub's word.
    for signer in [None, Some("Hub")] {
        let lookup = spawn_lookup(&sim, &number, Duration::from_secs(5));
        hub.next().await;
        let (status, body) = hub_says_not_found(payer.addr, &number, signer).await;
        assert_eq!(status, 200, "{signer:?}: {body}");
        let err = lookup.await.unwrap().unwrap_err();
        assert!(
            matches!(err, FlowError::Rejected { ref code, ref source_fsp } if code == "3204" && source_fsp == "Hub"),
            "{signer:?}: {err:?}"
        );
    }
    // Any other source still has to sign.
    let (status, body) = send_as(
        "perffsp5",
        Some("perffsp1"),
        Method::PUT,
        format!("http://{}/parties/MSISDN/{number}/error", payer.addr),
        Some(br#"{"errorInformation":{"errorCode":"3204","errorDescription":"x"}}"#.to_vec()),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["errorInformation"]["errorCode"],
        "3105"
    );
    payer.shutdown(Duration::from_secs(1)).await;
}

fn replicas(index: u16, peers: [&str; 2]) -> Option<sim::Replicas> {
    Some(sim::Replicas::new(index, 2, peers.iter().map(|p| (*p).to_owned()).collect()).unwrap())
}

#[tokio::test]
async fn relay_receipt_times_are_honoured_only_from_peer_replicas() {
    let mut hub = TestHub::start().await;
    const NOWHERE: &str = "http://127.0.0.1:9";
    // B is replica 1 of 2; A (replica 0) relays B's callbacks to it.
    let b = start_sim(&["perffsp1"], &hub.url, false, |c| {
        c.replicas = replicas(1, [NOWHERE, NOWHERE]);
    })
    .await;
    let b_url = format!("http://{}", b.addr);
    let a = start_sim(&["perffsp1"], &hub.url, false, |c| {
        c.replicas = replicas(0, [NOWHERE, &b_url]);
    })
    .await;
    let number = msisdn(5, 1); // index 1: replica 1's number
    let t = Duration::from_secs(5);

    // The answer lands on A, which relays it to B with its receipt time: honoured.
    let lookup = spawn_lookup(b.sim(), &number, t);
    hub.next().await;
    answer_lookup(a.addr, &number, "via A", None).await;
    assert_eq!(party_name(lookup.await.unwrap()), "via A");
    assert_eq!(a.sim().metrics().relayed_total(), 1);
    assert_eq!(b.sim().metrics().relay_headers_dropped_total(), 0);

    // Straight to B, claiming to have arrived 10 s ago: without a MAC, or with a wrong one,
    // the claim is dropped (counted) and the callback counts as received now.
    let ten_s_ago = (std::time::SystemTime::now() - Duration::from_secs(10))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        .to_string();
    let forged_mac = "00".repeat(32);
    let forgeries: [Vec<(&str, String)>; 2] = [
        vec![("x-perfbed-relayed-at", ten_s_ago.clone())],
        vec![
            ("x-perfbed-relayed-at", ten_s_ago.clone()),
            ("x-perfbed-relay-mac", forged_mac),
        ],
    ];
    for (i, extra) in forgeries.iter().enumerate() {
        let started = std::time::Instant::now();
        let lookup = spawn_lookup(b.sim(), &number, t);
        hub.next().await;
        answer_lookup_with(b.addr, &number, "forged", extra).await;
        let got = lookup.await.unwrap().unwrap();
        assert!(got.at >= started, "forgery {i}: receipt backdated");
        assert_eq!(
            b.sim().metrics().relay_headers_dropped_total(),
            i as u64 + 1
        );
    }

    // C runs alone (no replicas): even a genuine relay's receipt time is dropped.
    let c = start_sim(&["perffsp1"], &hub.url, false, |_| {}).await;
    let c_url = format!("http://{}", c.addr);
    let a2 = start_sim(&["perffsp1"], &hub.url, false, |c| {
        c.replicas = replicas(0, [NOWHERE, &c_url]);
    })
    .await;
    let lookup = spawn_lookup(c.sim(), &number, t);
    hub.next().await;
    answer_lookup(a2.addr, &number, "via A2", None).await;
    assert_eq!(party_name(lookup.await.unwrap()), "via A2");
    assert_eq!(a2.sim().metrics().relayed_total(), 1);
    assert_eq!(c.sim().metrics().relay_headers_dropped_total(), 1);
    let metrics = client()
        .send(
            http::Request::get(format!("{c_url}/metrics"))
                .body(Default::default())
                .unwrap(),
        )
        .await
        .unwrap();
    let text = String::from_utf8(metrics.body().to_vec()).unwrap();
    assert!(
        text.contains("perffsp_relay_headers_dropped_total 1"),
        "{text}"
    );
    for s in [a, a2, b, c] {
        s.shutdown(Duration::from_secs(1)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// A payee that signs what it sends, and sends the wrong thing.

#[tokio::test]
async fn a_correctly_signed_transfer_callback_with_a_wrong_fulfilment_or_state_is_an_anomaly() {
    let mut hub = TestHub::start().await;
    let payer = start_sim(&["perffsp1"], &hub.url, true, |_| {}).await;
    let payee = start_sim(&["perffsp5"], &hub.url, true, |_| {}).await;
    hub.route("perffsp1", &format!("http://{}", payer.addr));
    hub.route("perffsp5", &format!("http://{}", payee.addr));
    let sim = payer.sim().clone();
    let t = Duration::from_secs(5);
    // Real quotes from the payee; then the payee stops answering and the test answers each
    // transfer itself, signed with the payee's key.
    let mut transfers = Vec::new();
    for i in 0..4 {
        let q = quote_request("perffsp1", "perffsp5", &msisdn(5, 40 + i), "10");
        let quote = sim.quote("perffsp1", "perffsp5", &q, t).await.unwrap();
        transfers.push(transfer_from(&q, &quote));
    }
    hub.routes.lock().unwrap().remove("perffsp5");
    while hub.rx.try_recv().is_ok() {}
    let right = |t: &TransfersPost| {
        IlpSecret::new(b"perfbed-test-ilp-secret")
            .fulfil(&t.ilp_packet)
            .unwrap()
    };
    let wrong = |t: &TransfersPost| {
        IlpSecret::new(b"another secret")
            .fulfil(&t.ilp_packet)
            .unwrap()
    };
    let put = |state: TransferState, fulfilment: Option<IlpFulfilment>| TransfersPut {
        completed_timestamp: Some(DateTime::from_offset_date_time(
            time::OffsetDateTime::now_utc(),
        )),
        extension_list: None,
        fulfilment,
        transfer_state: state,
    };
    let cases = [
        (
            "committed with another fulfilment",
            put(TransferState::Committed, Some(wrong(&transfers[0]))),
            FlowError::Anomaly(sim::Anomaly::FulfilmentMismatch),
        ),
        (
            "reserved, with the right fulfilment",
            put(TransferState::Reserved, Some(right(&transfers[1]))),
            FlowError::Anomaly(sim::Anomaly::UnexpectedState),
        ),
        (
            "aborted without an error",
            put(TransferState::Aborted, None),
            FlowError::Anomaly(sim::Anomaly::UnexpectedState),
        ),
        (
            "received",
            put(TransferState::Received, None),
            FlowError::Anomaly(sim::Anomaly::UnexpectedState),
        ),
    ];
    // The cases differ from a success only in what they say, not in their signature.
    assert_ne!(right(&transfers[0]), wrong(&transfers[0]));
    for ((what, body, expected), tr) in cases.into_iter().zip(&transfers) {
        let flow = {
            let (sim, tr) = (sim.clone(), tr.clone());
            tokio::spawn(async move { sim.transfer("perffsp1", &tr, t).await })
        };
        let post = hub.next().await;
        assert_eq!(post.path, "/transfers", "{what}");
        let (status, answer) = send_as(
            "perffsp5",
            Some("perffsp1"),
            Method::PUT,
            format!("http://{}/transfers/{}", payer.addr, tr.transfer_id),
            Some(fspiop::json::to_canonical_vec(&body)),
            true,
        )
        .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{what}: signed and well-formed: {answer:?}"
        );
        let result = flow.await.unwrap();
        assert_eq!(result.unwrap_err(), expected, "{what}: never committed");
    }
    let metrics = client()
        .send(
            http::Request::get(format!("http://{}/metrics", payer.addr))
                .body(Default::default())
                .unwrap(),
        )
        .await
        .unwrap();
    let text = String::from_utf8(metrics.body().to_vec()).unwrap();
    for line in [
        "perffsp_payer_anomalies_total{kind=\"fulfilment_mismatch\"} 1",
        "perffsp_payer_anomalies_total{kind=\"unexpected_state\"} 3",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    assert_eq!(
        sim.metrics().jws_failure_total(),
        0,
        "every signature verified"
    );
    payer.shutdown(Duration::from_secs(1)).await;
    payee.shutdown(Duration::from_secs(1)).await;
}

/// Paths the simulator does not serve get the route parser's code before any header or
/// signature check: 3002 for an unknown resource, 3000 for a method (or a hub-only route) it
/// does not take.
#[tokio::test]
async fn bad_paths_get_3002_or_3000_before_any_check() {
    let sim = start_sim(&["perffsp5"], "http://127.0.0.1:9", true, |_| {}).await;
    let base = format!("http://{}", sim.addr);
    let cases = [
        (Method::GET, "/nothing/here", "3002"),
        (Method::POST, "/", "3002"),
        (Method::DELETE, "/quotes/q1", "3000"),
        (Method::PUT, "/transfers/t1/x", "3000"),
        (Method::GET, "/transfers/t1", "3000"),
        (Method::GET, "/participants/MSISDN/1", "3000"),
        (Method::POST, "/participants", "3000"),
    ];
    for (method, path, code) in cases {
        let req = http::Request::builder()
            .method(method.clone())
            .uri(format!("{base}{path}"))
            .body(http_body_util::Full::new(Bytes::new()))
            .unwrap();
        let resp = client().send(req).await.unwrap();
        assert!(resp.status().is_client_error(), "{method} {path}");
        let err: Value = serde_json::from_slice(resp.body()).unwrap();
        assert_eq!(
            err["errorInformation"]["errorCode"], code,
            "{method} {path}"
        );
        assert_schema("ErrorInformationObject", &err);
    }
    sim.shutdown(Duration::from_secs(1)).await;
}
