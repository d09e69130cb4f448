//! The hub emulator through its real interfaces: onboarding over the central-ledger admin API
//! paths, parties in the oracle over its REST API, and two perffsp simulators (payer perffsp1,
//! payee perffsp5) driving lookup → quote → transfer through it, JWS on everywhere.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use bytes::Bytes;
use fspiop::jws::{generate_pem, Alg, KeyStore, SigningKey, VerifyMode, VerifyingKey};
use fspiop::models::*;
use fspiop::testbed::msisdn;
use fspiop::types::*;
use hub::{Hub, HubConfig};
use perfbed_http::{ClientOptions, HttpClient};
use serde_json::{json, Value};
use sim::{FlowError, RejectRule, Sim, SimConfig, Stage};
use std::sync::Arc;
use std::time::Duration;

const FSPS: [&str; 3] = ["perffsp1", "perffsp5", "perffsp6"];

struct Keys(Vec<(String, String, String)>);

impl Keys {
    fn new() -> Keys {
        Keys(
            FSPS.iter()
                .map(|f| {
                    let (private, public) = generate_pem(Alg::RS256).unwrap();
                    ((*f).to_owned(), private, public)
                })
                .collect(),
        )
    }

    fn store(&self, signing: &[&str]) -> KeyStore {
        let mut s = KeyStore::new();
        for (f, private, public) in &self.0 {
            s.insert_verifying(f, VerifyingKey::from_pem(public.as_bytes()).unwrap());
            if signing.contains(&f.as_str()) {
                s.insert_signing(f, SigningKey::from_pem(private.as_bytes()).unwrap());
            }
        }
        s
    }
}

async fn call(method: http::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let c = HttpClient::new(ClientOptions::default());
    let mut b = http::Request::builder().method(method).uri(url);
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    let bytes = body
        .map(|v| serde_json::to_vec(&v).unwrap())
        .unwrap_or_default();
    let resp = c
        .send(
            b.body(http_body_util::Full::new(Bytes::from(bytes)))
                .unwrap(),
        )
        .await
        .unwrap();
    let v = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
    (resp.status().as_u16(), v)
}

/// A `/metrics` scrape's text.
async fn scrape(url: &str) -> String {
    let c = HttpClient::new(ClientOptions::default());
    let r = c
        .send(http::Request::get(url).body(Default::default()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        perfbed_http::metrics::CONTENT_TYPE
    );
    String::from_utf8(r.body().to_vec()).unwrap()
}

/// Onboards an FSP the way `perfbed onboard` will: the order of reference §7.1.
/// The hub's own accounts and a settlement model for XXX, as onboarding creates them.
async fn hub_accounts(admin: &str) {
    use http::Method;
    for t in ["HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"] {
        let (s, v) = call(
            Method::POST,
            format!("{admin}/participants/Hub/accounts"),
            Some(json!({ "type": t, "currency": "XXX" })),
        )
        .await;
        assert_eq!(s, 201, "{v}");
    }
    let (s, _) = call(Method::POST, format!("{admin}/settlementModels"), Some(json!({ "name": "DEFERREDNETXXX", "settlementGranularity": "NET", "settlementInterchange": "MULTILATERAL", "settlementDelay": "DEFERRED", "currency": "XXX", "requireLiquidityCheck": true, "ledgerAccountType": "POSITION", "autoPositionReset": true, "settlementAccountType": "SETTLEMENT" }))).await;
    assert_eq!(s, 201);
}

async fn onboard(admin: &str, fsp: &str, sim_url: &str, ndc: u64, funds: &str) {
    use http::Method;
    let (s, v) = call(
        Method::POST,
        format!("{admin}/participants"),
        Some(json!({ "name": fsp, "currency": "XXX" })),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = call(Method::POST, format!("{admin}/participants/{fsp}/initialPositionAndLimits"), Some(json!({ "currency": "XXX", "limit": { "type": "NET_DEBIT_CAP", "value": ndc }, "initialPosition": 0 }))).await;
    assert_eq!(s, 201, "{v}");
    let endpoints = [
        (
            "FSPIOP_CALLBACK_URL_PARTIES_GET",
            format!("{sim_url}/parties/{{{{partyIdType}}}}/{{{{partyIdentifier}}}}"),
        ),
        (
            "FSPIOP_CALLBACK_URL_PARTIES_PUT",
            format!("{sim_url}/parties/{{{{partyIdType}}}}/{{{{partyIdentifier}}}}"),
        ),
        (
            "FSPIOP_CALLBACK_URL_PARTIES_PUT_ERROR",
            format!("{sim_url}/parties/{{{{partyIdType}}}}/{{{{partyIdentifier}}}}/error"),
        ),
        ("FSPIOP_CALLBACK_URL_QUOTES", sim_url.to_owned()),
        (
            "FSPIOP_CALLBACK_URL_TRANSFER_POST",
            format!("{sim_url}/transfers"),
        ),
        (
            "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
            format!("{sim_url}/transfers/{{{{transferId}}}}"),
        ),
        (
            "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
            format!("{sim_url}/transfers/{{{{transferId}}}}/error"),
        ),
    ];
    for (t, v) in endpoints {
        let (s, _) = call(
            Method::POST,
            format!("{admin}/participants/{fsp}/endpoints"),
            Some(json!({ "type": t, "value": v })),
        )
        .await;
        assert_eq!(s, 201);
    }
    let (_, accounts) = call(
        Method::GET,
        format!("{admin}/participants/{fsp}/accounts"),
        None,
    )
    .await;
    let settlement = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["ledgerAccountType"] == "SETTLEMENT")
        .unwrap()["id"]
        .clone();
    let (s, _) = call(Method::POST, format!("{admin}/participants/{fsp}/accounts/{settlement}"), Some(json!({
        "transferId": format!("{fsp}-funds"), "externalReference": "perf", "action": "recordFundsIn", "reason": "perf",
        "amount": { "amount": funds, "currency": "XXX" } }))).await;
    assert_eq!(s, 202);
    // Asynchronous: poll until visible.
    let want = -funds.parse::<f64>().unwrap();
    for _ in 0..100 {
        let (_, accounts) = call(
            Method::GET,
            format!("{admin}/participants/{fsp}/accounts"),
            None,
        )
        .await;
        let v = accounts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["ledgerAccountType"] == "SETTLEMENT")
            .unwrap()["value"]
            .as_f64()
            .unwrap();
        if v == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("funds-in for {fsp} never became visible");
}

fn quote_request(payee_msisdn: &str, amount: &str) -> QuotesPost {
    QuotesPost::p2p(
        CorrelationId::v4_from_bytes(rand_id()),
        CorrelationId::v4_from_bytes(rand_id()),
        Party::with_id(PartyIdInfo::msisdn("perffsp1", &msisdn(1, 1)).unwrap()),
        Party::with_id(PartyIdInfo::msisdn("perffsp5", payee_msisdn).unwrap()),
        Money::parse(amount, "XXX").unwrap(),
    )
}

fn rand_id() -> [u8; 16] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&N.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    b[8..].copy_from_slice(&(std::process::id() as u64).to_be_bytes());
    b
}

fn transfer_from(q: &QuotesPost, put: &QuotesPut, expires_in: time::Duration) -> TransfersPost {
    let expiration = DateTime::from_offset_date_time(time::OffsetDateTime::now_utc() + expires_in);
    TransfersPost::from_quote(q, put, q.transaction_id.clone(), expiration).unwrap()
}

struct Bed {
    hub: hub::Running,
    payer: sim::Running,
    payee: sim::Running,
    admin: String,
    keys: Keys,
}

async fn bed(ndc: u64, funds: &str, payee_edit: impl FnOnce(&mut SimConfig)) -> Bed {
    bed_with(ndc, funds, payee_edit, |_| {}).await
}

async fn bed_with(
    ndc: u64,
    funds: &str,
    payee_edit: impl FnOnce(&mut SimConfig),
    hub_edit: impl FnOnce(&mut HubConfig),
) -> Bed {
    let keys = Keys::new();
    let mut config = HubConfig {
        sweep_every: Duration::from_millis(100),
        jws: Some((Arc::new(keys.store(&[])), VerifyMode::Strict)),
        ..HubConfig::default()
    };
    hub_edit(&mut config);
    // The simulators speak what the hub speaks.
    let api = config.api;
    let hub = hub::start(Hub::new(config, None), "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let base = format!("http://{}", hub.addr);
    let admin = format!("{base}/admin");
    let start_sim = |fsp: &str, edit: Box<dyn FnOnce(&mut SimConfig)>| {
        let mut c = SimConfig::new(&[fsp.to_owned()], &base);
        c.jws = true;
        c.verify_mode = VerifyMode::Strict;
        c.api = api;
        edit(&mut c);
        let sim = Sim::new(c, keys.store(&[fsp]), None).unwrap();
        sim::start(sim, "127.0.0.1:0".parse().unwrap(), None)
    };
    let payer = start_sim("perffsp1", Box::new(|_| {})).await.unwrap();
    let payee = start_sim("perffsp5", Box::new(payee_edit)).await.unwrap();
    use http::Method;
    hub_accounts(&admin).await;
    onboard(
        &admin,
        "perffsp1",
        &format!("http://{}", payer.addr),
        ndc,
        funds,
    )
    .await;
    onboard(
        &admin,
        "perffsp5",
        &format!("http://{}", payee.addr),
        ndc,
        funds,
    )
    .await;
    for i in 0..20 {
        let (s, _) = call(
            Method::POST,
            format!("{base}/oracle/participants/MSISDN/{}", msisdn(5, i)),
            Some(json!({ "fspId": "perffsp5", "currency": "XXX" })),
        )
        .await;
        assert_eq!(s, 201);
    }
    Bed {
        hub,
        payer,
        payee,
        admin,
        keys,
    }
}

async fn position(admin: &str, fsp: &str) -> f64 {
    let (_, v) = call(
        http::Method::GET,
        format!("{admin}/participants/{fsp}/positions?currency=XXX"),
        None,
    )
    .await;
    v["value"].as_f64().unwrap()
}

#[tokio::test]
async fn p2p_through_the_hub_moves_positions_and_conserves_value() {
    let bed = bed(10_000, "100000", |_| {}).await;
    let sim = bed.payer.sim().clone();
    let t = Duration::from_secs(5);
    let party = sim
        .lookup("perffsp1", PartyIdType::Msisdn, &msisdn(5, 3), t)
        .await
        .unwrap();
    assert_eq!(
        party.party.party_id_info.fsp_id.clone().unwrap().as_str(),
        "perffsp5"
    );
    let q = quote_request(&msisdn(5, 3), "250.5");
    let quote = sim.quote("perffsp1", "perffsp5", &q, t).await.unwrap();
    let done = sim
        .transfer(
            "perffsp1",
            &transfer_from(&q, &quote, time::Duration::seconds(30)),
            t,
        )
        .await
        .unwrap();
    assert_eq!(done.transfer_state, TransferState::Committed);
    assert_eq!(position(&bed.admin, "perffsp1").await, 250.5);
    assert_eq!(position(&bed.admin, "perffsp5").await, -250.5);
    assert_eq!(bed.hub.hub().ledger.conservation(), (0, 0));
    // The payee got the hub's confirmation (a PUT from Hub) — delivered, not refused.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = &bed.hub.hub().stats;
    assert_eq!(stats.callbacks_failed.get(), 0);
    assert_eq!(bed.payee.sim().metrics().jws_failure_total(), 0);

    // Unknown party: 3204 from Hub.
    let err = sim
        .lookup("perffsp1", PartyIdType::Msisdn, &msisdn(5, 999), t)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FlowError::Rejected { ref code, ref source_fsp } if code == "3204" && source_fsp == "Hub"),
        "{err:?}"
    );

    // Duplicate with a different body → 3106; same body after commit → the result again.
    let mut changed = transfer_from(&q, &quote, time::Duration::seconds(30));
    changed.amount.amount = Amount::parse("1").unwrap();
    let err = sim.transfer("perffsp1", &changed, t).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(fspiop::ErrorCode::ModifiedRequest),
        "{err:?}"
    );

    // Over the NDC: 4200 from Hub, positions untouched.
    let q = quote_request(&msisdn(5, 4), "20000");
    let quote = sim.quote("perffsp1", "perffsp5", &q, t).await.unwrap();
    let err = sim
        .transfer(
            "perffsp1",
            &transfer_from(&q, &quote, time::Duration::seconds(30)),
            t,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(fspiop::ErrorCode::PayerLimitError),
        "{err:?}"
    );
    assert_eq!(position(&bed.admin, "perffsp1").await, 250.5);

    // Re-onboarding is refused the way central-ledger refuses it.
    let (s, v) = call(
        http::Method::POST,
        format!("{}/participants", bed.admin),
        Some(json!({ "name": "perffsp1", "currency": "XXX" })),
    )
    .await;
    assert_eq!(
        (s, v["errorInformation"]["errorCode"].as_str()),
        (400, Some("3003"))
    );
    let (s, v) = call(http::Method::POST, format!("{}/participants/perffsp1/initialPositionAndLimits", bed.admin), Some(json!({ "currency": "XXX", "limit": { "type": "NET_DEBIT_CAP", "value": 1 }, "initialPosition": 0 }))).await;
    assert_eq!(
        (s, v["errorInformation"]["errorCode"].as_str()),
        (500, Some("2001"))
    );
    let counts = bed.hub.hub().ledger.counts();
    assert_eq!(
        counts.prepared,
        counts.committed + counts.aborted + counts.expired
    );
    // `/metrics` says what the ledger and the counters say.
    let text = scrape(&format!("http://{}/metrics", bed.hub.addr)).await;
    let ok = bed.hub.hub().stats.callbacks_ok.get();
    assert!(ok >= 6, "{ok} callbacks delivered");
    for line in [
        format!(
            "perfbed_hub_transfers_total{{state=\"committed\"}} {}",
            counts.committed
        ),
        format!(
            "perfbed_hub_transfers_total{{state=\"prepared\"}} {}",
            counts.prepared
        ),
        "perfbed_hub_transfers_in_flight 0".to_owned(),
        format!("perfbed_hub_callbacks_total{{outcome=\"ok\"}} {ok}"),
        "perfbed_hub_callbacks_total{outcome=\"failed\"} 0".to_owned(),
        "perfbed_hub_position{fsp=\"perffsp1\"} 250.5".to_owned(),
        "perfbed_hub_position{fsp=\"perffsp5\"} -250.5".to_owned(),
        "# TYPE perfbed_hub_transfers counter".to_owned(),
        "# TYPE perfbed_hub_position gauge".to_owned(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    bed.payer.shutdown(Duration::from_secs(1)).await;
    bed.payee.shutdown(Duration::from_secs(1)).await;
    bed.hub.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn payee_rejection_reserved_answers_and_expiry() {
    let bed = bed(10_000, "100000", |c| {
        let b = c.fsps.get_mut("perffsp5").unwrap();
        b.reject = vec![RejectRule {
            on: Stage::Transfer,
            code: 5105,
            amount_above: Some(Amount::parse("900").unwrap()),
            msisdns: vec![],
            rate: None,
        }];
        b.transfer_latency = sim::Latency::Fixed { ms: 1500.0 };
        b.answer_reserved = true;
    })
    .await;
    let sim = bed.payer.sim().clone();
    let t = Duration::from_secs(5);

    // Payee rejects: the payer gets 5105 from the payee, the position is reverted.
    let q = quote_request(&msisdn(5, 5), "950");
    let quote = sim.quote("perffsp1", "perffsp5", &q, t).await.unwrap();
    let err = sim
        .transfer(
            "perffsp1",
            &transfer_from(&q, &quote, time::Duration::seconds(30)),
            t,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, FlowError::Rejected { ref code, ref source_fsp } if code == "5105" && source_fsp == "perffsp5"),
        "{err:?}"
    );
    assert_eq!(position(&bed.admin, "perffsp1").await, 0.0);

    // RESERVED answer: the hub commits and tells the payer COMMITTED.
    let q = quote_request(&msisdn(5, 6), "10");
    let quote = sim.quote("perffsp1", "perffsp5", &q, t).await.unwrap();
    let done = sim
        .transfer(
            "perffsp1",
            &transfer_from(&q, &quote, time::Duration::seconds(30)),
            t,
        )
        .await
        .unwrap();
    assert_eq!(done.transfer_state, TransferState::Committed);
    assert_eq!(position(&bed.admin, "perffsp5").await, -10.0);

    // Expires before the (1.5 s late) payee answers: 3303 from Hub to the payer, reverted.
    let q = quote_request(&msisdn(5, 7), "20");
    let quote = sim.quote("perffsp1", "perffsp5", &q, t).await.unwrap();
    let err = sim
        .transfer(
            "perffsp1",
            &transfer_from(&q, &quote, time::Duration::milliseconds(500)),
            t,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, FlowError::Rejected { ref code, ref source_fsp } if code == "3303" && source_fsp == "Hub"),
        "{err:?}"
    );
    assert_eq!(position(&bed.admin, "perffsp1").await, 10.0);
    tokio::time::sleep(Duration::from_millis(1500)).await; // the late fulfil arrives and is refused
    let (p, f) = bed.hub.hub().ledger.conservation();
    assert_eq!(p, f);
    let c = bed.hub.hub().ledger.counts();
    assert_eq!(
        (c.prepared, c.committed, c.aborted, c.expired),
        (3, 1, 1, 1)
    );
    bed.payer.shutdown(Duration::from_secs(1)).await;
    bed.payee.shutdown(Duration::from_secs(1)).await;
    bed.hub.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn admin_api_contract() {
    let hub = hub::start(
        Hub::new(HubConfig::default(), None),
        "127.0.0.1:0".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let admin = format!("http://{}/admin", hub.addr);
    use http::Method;
    // Participant creation needs both hub accounts and a settlement model first.
    let (s, v) = call(
        Method::POST,
        format!("{admin}/participants"),
        Some(json!({ "name": "perffsp1", "currency": "XXX" })),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    for t in ["HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"] {
        call(
            Method::POST,
            format!("{admin}/participants/Hub/accounts"),
            Some(json!({ "type": t, "currency": "XXX" })),
        )
        .await;
    }
    let (s, _) = call(
        Method::POST,
        format!("{admin}/participants/Hub/accounts"),
        Some(json!({ "type": "HUB_RECONCILIATION", "currency": "XXX" })),
    )
    .await;
    assert_eq!(s, 400, "duplicate hub account");
    call(
        Method::POST,
        format!("{admin}/settlementModels"),
        Some(json!({ "name": "DEFAULT" })),
    )
    .await;
    let (s, p) = call(
        Method::POST,
        format!("{admin}/participants"),
        Some(json!({ "name": "perffsp1", "currency": "XXX" })),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(p["isActive"], 0);
    let (s, _) = call(
        Method::POST,
        format!("{admin}/participants"),
        Some(json!({ "name": "perf-fsp", "currency": "XXX" })),
    )
    .await;
    assert_eq!(s, 400, "names are alphanumeric");
    let (_, accounts) = call(
        Method::GET,
        format!("{admin}/participants/perffsp1/accounts"),
        None,
    )
    .await;
    assert_eq!(
        accounts,
        json!([]),
        "no accounts before initialPositionAndLimits"
    );
    call(Method::POST, format!("{admin}/participants/perffsp1/initialPositionAndLimits"), Some(json!({ "currency": "XXX", "limit": { "type": "NET_DEBIT_CAP", "value": 5000 }, "initialPosition": 0 }))).await;
    let (_, p) = call(Method::GET, format!("{admin}/participants/perffsp1"), None).await;
    assert_eq!(p["isActive"], 1);
    let (s, l) = call(Method::PUT, format!("{admin}/participants/perffsp1/limits"), Some(json!({ "currency": "XXX", "limit": { "type": "NET_DEBIT_CAP", "value": 7000, "alarmPercentage": 20 } }))).await;
    assert_eq!(s, 200, "{l}");
    let (_, limits) = call(
        Method::GET,
        format!("{admin}/participants/perffsp1/limits"),
        None,
    )
    .await;
    assert_eq!(limits[0]["limit"]["value"], 7000.0);
    let (_, accounts) = call(
        Method::GET,
        format!("{admin}/participants/perffsp1/accounts"),
        None,
    )
    .await;
    let settlement = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["ledgerAccountType"] == "SETTLEMENT")
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let funds = |action: &str, id: &str, amount: &str| json!({ "transferId": id, "externalReference": "x", "action": action, "reason": "r", "amount": { "amount": amount, "currency": "XXX" } });
    call(
        Method::POST,
        format!("{admin}/participants/perffsp1/accounts/{settlement}"),
        Some(funds("recordFundsIn", "in1", "1000")),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (s, _) = call(
        Method::POST,
        format!("{admin}/participants/perffsp1/accounts/{settlement}"),
        Some(funds("recordFundsOutPrepareReserve", "out1", "400")),
    )
    .await;
    assert_eq!(s, 202);
    let (s, _) = call(
        Method::PUT,
        format!("{admin}/participants/perffsp1/accounts/{settlement}/transfers/out1"),
        Some(json!({ "action": "recordFundsOutAbort", "reason": "r" })),
    )
    .await;
    assert_eq!(s, 202);
    let (s, _) = call(
        Method::POST,
        format!("{admin}/participants/perffsp1/accounts/{settlement}"),
        Some(funds("recordFundsOutPrepareReserve", "out2", "5000")),
    )
    .await;
    assert_eq!(s, 400, "cannot withdraw more than deposited");
    let (_, accounts) = call(
        Method::GET,
        format!("{admin}/participants/perffsp1/accounts"),
        None,
    )
    .await;
    let v = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["ledgerAccountType"] == "SETTLEMENT")
        .unwrap()["value"]
        .as_f64()
        .unwrap();
    assert_eq!(v, -1000.0);
    // Oracle and ALS admin.
    let base = format!("http://{}", hub.addr);
    let (s, _) = call(Method::POST, format!("{base}/oracle/participants"), Some(json!({ "requestId": "r", "partyList": [{ "partyIdType": "MSISDN", "partyIdentifier": "254701000001", "fspId": "perffsp1" }], "currency": "XXX" }))).await;
    assert_eq!(s, 201);
    let (_, v) = call(
        Method::GET,
        format!("{base}/oracle/participants/MSISDN/254701000001"),
        None,
    )
    .await;
    assert_eq!(v, json!({ "partyList": [{ "fspId": "perffsp1" }] }));
    let (_, v) = call(
        Method::GET,
        format!("{base}/oracle/participants/MSISDN/254701000002"),
        None,
    )
    .await;
    assert_eq!(v, json!({ "partyList": [] }));
    let (s, _) = call(Method::POST, format!("{base}/als-admin/oracles"), Some(json!({ "oracleIdType": "MSISDN", "endpoint": { "value": "http://oracle", "endpointType": "URL" }, "currency": "XXX", "isDefault": true }))).await;
    assert_eq!(s, 201);
    let (_, metrics) = {
        let c = HttpClient::new(ClientOptions::default());
        let r = c
            .send(
                http::Request::get(format!("{base}/metrics"))
                    .body(Default::default())
                    .unwrap(),
            )
            .await
            .unwrap();
        (r.status(), String::from_utf8(r.body().to_vec()).unwrap())
    };
    assert!(
        metrics.contains("perfbed_hub_transfers_total{state=\"committed\"} 0"),
        "{metrics}"
    );
    hub.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn emulation_knobs_delay_drop_and_reject() {
    let t = Duration::from_secs(5);
    // 300 ms of added prepare latency shows up in the payer's transfer time.
    let bed = bed_with(
        10_000,
        "100000",
        |_| {},
        |h| h.latency.prepare = hub::Latency::Fixed { ms: 300.0 },
    )
    .await;
    let sim = bed.payer.sim().clone();
    let q = quote_request(&msisdn(5, 8), "5");
    let quote = sim.quote("perffsp1", "perffsp5", &q, t).await.unwrap();
    let started = std::time::Instant::now();
    sim.transfer(
        "perffsp1",
        &transfer_from(&q, &quote, time::Duration::seconds(30)),
        t,
    )
    .await
    .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    bed.payer.shutdown(Duration::from_secs(1)).await;
    bed.payee.shutdown(Duration::from_secs(1)).await;
    bed.hub.shutdown(Duration::from_secs(1)).await;

    // Every prepare refused: 2001 from Hub, nothing reserved.
    let bed = bed_with(10_000, "100000", |_| {}, |h| h.reject_prepares = 1.0).await;
    let sim = bed.payer.sim().clone();
    let q = quote_request(&msisdn(5, 9), "5");
    let quote = sim.quote("perffsp1", "perffsp5", &q, t).await.unwrap();
    let err = sim
        .transfer(
            "perffsp1",
            &transfer_from(&q, &quote, time::Duration::seconds(30)),
            t,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, FlowError::Rejected { ref code, ref source_fsp } if code == "2001" && source_fsp == "Hub"),
        "{err:?}"
    );
    assert_eq!(bed.hub.hub().ledger.counts().prepared, 0);
    bed.payer.shutdown(Duration::from_secs(1)).await;
    bed.payee.shutdown(Duration::from_secs(1)).await;
    bed.hub.shutdown(Duration::from_secs(1)).await;

    // Every callback dropped: the payer times out, the hub counts the drops.
    let bed = bed_with(10_000, "100000", |_| {}, |h| h.drop_callbacks = 1.0).await;
    let err = bed
        .payer
        .sim()
        .lookup(
            "perffsp1",
            PartyIdType::Msisdn,
            &msisdn(5, 3),
            Duration::from_millis(500),
        )
        .await
        .unwrap_err();
    assert_eq!(err, FlowError::Timeout);
    assert!(bed.hub.hub().stats.callbacks_dropped.get() >= 1);
    bed.payer.shutdown(Duration::from_secs(1)).await;
    bed.payee.shutdown(Duration::from_secs(1)).await;
    bed.hub.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn services_layout_serves_each_api_at_its_real_port() {
    // Offset the real ports so the test does not collide with anything on the machine.
    let offset = 20_000 + (std::process::id() % 5_000) as u16;
    let hub = hub::start_layout(
        Hub::new(HubConfig::default(), None),
        hub::Layout::Services {
            host: "127.0.0.1".parse().unwrap(),
            offset,
        },
        None,
    )
    .await
    .unwrap();
    let names: Vec<&str> = hub.addrs.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "ml-api-adapter",
            "central-ledger admin",
            "quoting-service",
            "oracle",
            "ALS admin",
            "account-lookup-service"
        ]
    );
    let port = |p: u16| format!("http://127.0.0.1:{}", p + offset);
    // central-ledger admin at its root, as a real one.
    let (s, _) = call(
        http::Method::POST,
        format!("{}/participants/Hub/accounts", port(3001)),
        Some(json!({ "type": "HUB_RECONCILIATION", "currency": "XXX" })),
    )
    .await;
    assert_eq!(s, 201);
    let (s, v) = call(
        http::Method::GET,
        format!("{}/oracle-nope", port(3001)),
        None,
    )
    .await;
    assert_eq!(s, 404, "{v}");
    // The oracle at its root.
    let (s, _) = call(
        http::Method::POST,
        format!("{}/participants/MSISDN/254705000001", port(3003)),
        Some(json!({ "fspId": "perffsp5" })),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(
        hub.hub().oracle_get("MSISDN", "254705000001").as_deref(),
        Some("perffsp5")
    );
    // FSPIOP on the adapter, quoting and ALS ports: header validation answers.
    for p in [3000, 3002, 4002] {
        let (s, v) = call(
            http::Method::GET,
            format!("{}/parties/MSISDN/1", port(p)),
            None,
        )
        .await;
        assert_eq!(
            (s, v["errorInformation"]["errorCode"].as_str()),
            (400, Some("3102")),
            "port {p}"
        );
    }
    let (s, _) = call(http::Method::GET, format!("{}/oracles", port(4001)), None).await;
    assert_eq!(s, 200);
    hub.shutdown(Duration::from_secs(1)).await;
}

/// A transfer id whose first 4 bytes are a run tag.
fn tagged(tag: [u8; 4]) -> CorrelationId {
    let mut b = rand_id();
    b[..4].copy_from_slice(&tag);
    CorrelationId::v4_from_bytes(b)
}

/// Quote then transfer through the hub, with a tagged transfer id.
async fn tagged_transfer(
    sim: &Arc<Sim>,
    tag: [u8; 4],
    amount: &str,
    expires_in: time::Duration,
) -> Result<TransferState, FlowError> {
    let t = Duration::from_secs(5);
    let q = quote_request(&msisdn(5, 8), amount);
    let quote = sim.quote("perffsp1", "perffsp5", &q, t).await?;
    let expiration = DateTime::from_offset_date_time(time::OffsetDateTime::now_utc() + expires_in);
    let tr = TransfersPost::from_quote(&q, &quote, tagged(tag), expiration).unwrap();
    sim.transfer("perffsp1", &tr, t)
        .await
        .map(|put| put.transfer_state)
}

#[tokio::test]
async fn the_admin_route_counts_a_runs_transfers_by_central_ledger_state() {
    let bed = bed_with(
        10_000,
        "100000",
        |c| {
            let b = c.fsps.get_mut("perffsp5").unwrap();
            b.reject = vec![RejectRule {
                on: Stage::Transfer,
                code: 5105,
                amount_above: Some(Amount::parse("900").unwrap()),
                msisdns: vec![],
                rate: None,
            }];
            b.transfer_latency = sim::Latency::Fixed { ms: 600.0 };
        },
        // Finished transfers are forgotten after 300 ms: the route must still count them.
        |h| h.retention = Duration::from_millis(300),
    )
    .await;
    let sim = bed.payer.sim().clone();
    let (run, other) = ([0x7e, 0x57, 0xa6, 0x00], [0x7e, 0x57, 0xa6, 0x01]);
    let minute = time::Duration::minutes(1);
    let (c1, c2, rejected, expired, over_ndc, elsewhere) = tokio::join!(
        tagged_transfer(&sim, run, "10", minute),
        tagged_transfer(&sim, run, "11", minute),
        tagged_transfer(&sim, run, "950", minute),
        // The payee answers after 600 ms: too late.
        tagged_transfer(&sim, run, "12", time::Duration::milliseconds(300)),
        tagged_transfer(&sim, run, "20000", minute),
        tagged_transfer(&sim, other, "13", minute),
    );
    assert_eq!(c1.unwrap(), TransferState::Committed);
    assert_eq!(c2.unwrap(), TransferState::Committed);
    assert_eq!(elsewhere.unwrap(), TransferState::Committed);
    let code = |r: Result<TransferState, FlowError>| r.unwrap_err().code().map(|c| c.code());
    assert_eq!(code(rejected), Some(5105));
    assert_eq!(code(expired), Some(3303));
    assert_eq!(code(over_ndc), Some(4200));
    // One still in flight: prepared in the ledger itself, nobody will fulfil it.
    let ledger = &bed.hub.hub().ledger;
    let in_flight = tagged(run);
    let condition = "GIxd5xcohkmnnXolpTv_OxwpyaH__Oiq49JTvCo8pyA";
    let later = time::OffsetDateTime::now_utc() + minute;
    ledger
        .prepare(
            in_flight.as_str(),
            "perffsp1",
            "perffsp1",
            "perffsp5",
            1,
            condition,
            later,
            1,
        )
        .unwrap();
    // Wait until everything finished has left the retention window (the late fulfil too).
    let started = std::time::Instant::now();
    while ledger.held() != (1, 1) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            ledger.held()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let get = |q: &str| {
        call(
            http::Method::GET,
            format!("{}/perfbed/transfers{q}", bed.admin),
            None,
        )
    };
    let (s, v) = get("?prefix=7e57a600").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({ "prefix": "7e57a600", "total": 6, "byState": {
            "COMMITTED": 2, "ABORTED_ERROR": 1, "EXPIRED_RESERVED": 1, "ABORTED_REJECTED": 1, "RESERVED": 1 } })
    );
    let (s, v) = get("?prefix=7e57a601").await;
    assert_eq!(
        (s, v),
        (
            200,
            json!({ "prefix": "7e57a601", "total": 1, "byState": { "COMMITTED": 1 } })
        )
    );
    let (s, v) = get("?prefix=0badcafe").await;
    assert_eq!(
        (s, v),
        (
            200,
            json!({ "prefix": "0badcafe", "total": 0, "byState": {} })
        )
    );
    assert_eq!(
        ledger.states_by_prefix("7e57a6").values().sum::<u64>(),
        7,
        "in process, any prefix"
    );
    for bad in [
        "",
        "?prefix=",
        "?prefix=7e57a6",
        "?prefix=7E57A600",
        "?prefix=7e57a60g",
        "?prefix=7e57a6000",
        "?prefix=7e57a600&prefix=7e57a601",
        "?run=7e57a600",
    ] {
        let (s, v) = get(bad).await;
        assert_eq!(
            (s, v["errorInformation"]["errorCode"].as_str()),
            (400, Some("3100")),
            "{bad}: {v}"
        );
    }
    bed.payer.shutdown(Duration::from_secs(1)).await;
    bed.payee.shutdown(Duration::from_secs(1)).await;
    bed.hub.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn admin_amounts_are_exact_decimals_in_range_for_the_currency() {
    use http::Method;
    let hub = hub::start(
        Hub::new(HubConfig::default(), None),
        "127.0.0.1:0".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let admin = format!("http://{}/admin", hub.addr);
    for t in ["HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"] {
        call(
            Method::POST,
            format!("{admin}/participants/Hub/accounts"),
            Some(json!({ "type": t, "currency": "USD" })),
        )
        .await;
    }
    call(
        Method::POST,
        format!("{admin}/settlementModels"),
        Some(json!({ "name": "DEFAULT" })),
    )
    .await;
    let (s, v) = call(
        Method::POST,
        format!("{admin}/participants"),
        Some(json!({ "name": "perffsp1", "currency": "USD" })),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let init = |value: Value| {
        let admin = admin.clone();
        async move {
            call(
                Method::POST,
                format!("{admin}/participants/perffsp1/initialPositionAndLimits"),
                Some(json!({ "currency": "USD", "limit": { "type": "NET_DEBIT_CAP", "value": value }, "initialPosition": 0 })),
            )
            .await
        }
    };
    // USD has 2 decimals; the ledger keeps 14 integer digits.
    let refused = [
        (json!("1e300"), "not a decimal amount"),
        (json!(1e300), "out of range"),
        (json!(-5), "must not be negative"),
        (json!("-5"), "must not be negative"),
        (
            json!("12.345"),
            "has 3 decimals; USD amounts have at most 2",
        ),
        (json!(12.345), "has 3 decimals"),
        (json!("123456789012345"), "out of range"),
        (json!("+5"), "not a decimal amount"),
        (json!(" 5"), "not a decimal amount"),
        (json!("5."), "not a decimal amount"),
        (json!(true), "not an amount"),
    ];
    for (value, why) in &refused {
        let (s, v) = init(value.clone()).await;
        assert_eq!(s, 400, "{value}: {v}");
        assert_eq!(v["errorInformation"]["errorCode"], "3100", "{value}: {v}");
        let description = v["errorInformation"]["errorDescription"].as_str().unwrap();
        assert!(
            description.contains("limit.value") && description.contains(why),
            "{value}: {description}"
        );
    }
    let (s, v) = init(json!("12345678901234.50")).await;
    assert_eq!(s, 201, "the largest amount the ledger keeps: {v}");
    let (_, limits) = call(
        Method::GET,
        format!("{admin}/participants/perffsp1/limits"),
        None,
    )
    .await;
    assert_eq!(limits[0]["limit"]["value"], 12345678901234.5);
    // The same checks on the other admin amounts.
    let limit = |value: Value| json!({ "currency": "USD", "limit": { "type": "NET_DEBIT_CAP", "value": value } });
    let (s, v) = call(
        Method::PUT,
        format!("{admin}/participants/perffsp1/limits"),
        Some(limit(json!(1e300))),
    )
    .await;
    assert_eq!(
        (s, v["errorInformation"]["errorCode"].clone()),
        (400, json!("3100")),
        "{v}"
    );
    let (s, v) = call(
        Method::PUT,
        format!("{admin}/participants/perffsp1/limits"),
        Some(limit(json!(2500.25))),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["limit"]["value"], 2500.25);
    let (_, accounts) = call(
        Method::GET,
        format!("{admin}/participants/perffsp1/accounts"),
        None,
    )
    .await;
    let settlement = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["ledgerAccountType"] == "SETTLEMENT")
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let funds = |amount: Value| json!({ "transferId": "in1", "externalReference": "x", "action": "recordFundsIn", "reason": "r", "amount": { "amount": amount, "currency": "USD" } });
    for bad in [
        json!("1e300"),
        json!(1e300),
        json!("0.001"),
        json!("-5"),
        json!("0"),
    ] {
        let (s, v) = call(
            Method::POST,
            format!("{admin}/participants/perffsp1/accounts/{settlement}"),
            Some(funds(bad.clone())),
        )
        .await;
        assert_eq!(
            (s, v["errorInformation"]["errorCode"].clone()),
            (400, json!("3100")),
            "{bad}: {v}"
        );
    }
    let (s, v) = call(
        Method::POST,
        format!("{admin}/participants/perffsp1/accounts/{settlement}"),
        Some(funds(json!("100.10"))),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    hub.shutdown(Duration::from_secs(1)).await;
}

/// Paths the hub does not serve get the route parser's code before any header check: 3002
/// for an unknown resource, 3000 for a method it does not take (PATCH is the hub's own
/// notification, never taken).
#[tokio::test]
async fn bad_paths_get_3002_or_3000_before_any_check() {
    let hub = hub::start(
        Hub::new(HubConfig::default(), None),
        "127.0.0.1:0".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let base = format!("http://{}", hub.addr);
    let cases = [
        (http::Method::GET, "/nothing/here", "3002"),
        (http::Method::POST, "/", "3002"),
        (http::Method::DELETE, "/quotes/q1", "3000"),
        (http::Method::PUT, "/transfers/t1/x", "3000"),
        (http::Method::PATCH, "/transfers/t1", "3000"),
        (http::Method::GET, "/parties/MSISDN", "3000"),
    ];
    for (method, path, code) in cases {
        let (s, v) = call(method.clone(), format!("{base}{path}"), None).await;
        assert!((400..500).contains(&s), "{method} {path}: {s}");
        assert_eq!(
            v["errorInformation"]["errorCode"].as_str(),
            Some(code),
            "{method} {path}: {v}"
        );
    }
    // A served route with no FSPIOP headers gets the header check's code instead.
    let (_, v) = call(http::Method::GET, format!("{base}/transfers/t1"), None).await;
    assert_eq!(v["errorInformation"]["errorCode"], "3102", "{v}");
    hub.shutdown(Duration::from_secs(1)).await;
}

fn ulid_quote(payee_msisdn: &str, amount: &str) -> QuotesPost {
    let id = || fspiop::iso::ulid(1_800_000_000_000, rand::random::<u128>());
    QuotesPost::p2p(
        id(),
        id(),
        Party::with_id(PartyIdInfo::msisdn("perffsp1", &msisdn(1, 1)).unwrap()),
        Party::with_id(PartyIdInfo::msisdn("perffsp5", payee_msisdn).unwrap()),
        Money::parse(amount, "XXX").unwrap(),
    )
}

#[tokio::test]
async fn iso20022_mode_runs_the_flow_rejections_reserved_and_expiry_and_refuses_bad_messages() {
    use fspiop::iso::{self, Api};
    let bed = bed_with(
        10_000,
        "100000",
        |c| {
            let b = c.fsps.get_mut("perffsp5").unwrap();
            b.reject = vec![RejectRule {
                on: Stage::Transfer,
                code: 5105,
                amount_above: Some(Amount::parse("900").unwrap()),
                msisdns: vec![],
                rate: None,
            }];
            b.answer_reserved = true;
        },
        |h| h.api = Api::Iso20022,
    )
    .await;
    let sim = bed.payer.sim().clone();
    let t = Duration::from_secs(5);

    // Lookup, quote, transfer through the ISO hub; the payee answers RESV, the hub commits,
    // sends the payer its own ISO PUT (COMM) and the payee an ISO PATCH.
    let party = sim
        .lookup("perffsp1", PartyIdType::Msisdn, &msisdn(5, 3), t)
        .await
        .unwrap();
    assert_eq!(
        party.party.party_id_info.fsp_id.clone().unwrap().as_str(),
        "perffsp5"
    );
    let q = ulid_quote(&msisdn(5, 3), "10");
    let quote = sim.quote("perffsp1", "perffsp5", &q, t).await.unwrap();
    let ctx = quote.iso.clone().unwrap();
    let tr = transfer_from(&q, &quote, time::Duration::seconds(30));
    let done = sim
        .transfer_after("perffsp1", &tr, Some(&ctx), t)
        .await
        .unwrap();
    assert_eq!(done.transfer_state, TransferState::Committed);
    assert!(done.fulfilment.as_ref().unwrap().fulfils(&tr.condition));
    assert_eq!(position(&bed.admin, "perffsp5").await, -10.0);

    // The payee's pacs.002 rejection reaches the payer; the position is reverted.
    let q = ulid_quote(&msisdn(5, 4), "950");
    let quote = sim.quote("perffsp1", "perffsp5", &q, t).await.unwrap();
    let ctx = quote.iso.clone().unwrap();
    let err = sim
        .transfer_after(
            "perffsp1",
            &transfer_from(&q, &quote, time::Duration::seconds(30)),
            Some(&ctx),
            t,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, FlowError::Rejected { ref code, ref source_fsp } if code == "5105" && source_fsp == "perffsp5"),
        "{err:?}"
    );
    assert_eq!(position(&bed.admin, "perffsp1").await, 10.0);

    // Unknown party from the hub's own ALS: acmt.024 3204 from Hub.
    let err = sim
        .lookup("perffsp1", PartyIdType::Msisdn, &msisdn(5, 999), t)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FlowError::Rejected { ref code, ref source_fsp } if code == "3204" && source_fsp == "Hub"),
        "{err:?}"
    );

    // Direct requests as perffsp1, signed: what the ISO switch refuses.
    let key = SigningKey::from_pem(
        bed.keys
            .0
            .iter()
            .find(|k| k.0 == "perffsp1")
            .unwrap()
            .1
            .as_bytes(),
    )
    .unwrap();
    let base = format!("http://{}", bed.hub.addr);
    let send = |body: Vec<u8>, source: &'static str, iso_media: bool| {
        let out = perfbed_http::Outbound {
            method: http::Method::POST,
            url: format!("{base}/transfers"),
            version: fspiop::headers::Version::V1_1,
            source: source.to_owned(),
            destination: Some("perffsp5".into()),
            body: Some(Bytes::from(body)),
            extra: vec![],
        };
        let out = if iso_media { out.iso() } else { out };
        let req = out.build(Some(&key)).unwrap();
        async move {
            let r = HttpClient::new(ClientOptions::default())
                .send(req)
                .await
                .unwrap();
            let v: Value = serde_json::from_slice(r.body()).unwrap_or(Value::Null);
            (
                r.status().as_u16(),
                v["errorInformation"]["errorCode"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                v,
            )
        }
    };
    let q = ulid_quote(&msisdn(5, 5), "5");
    let quote = sim.quote("perffsp1", "perffsp5", &q, t).await.unwrap();
    let ctx = quote.iso.clone().unwrap();
    let tr = transfer_from(&q, &quote, time::Duration::seconds(30));
    let stamp = iso::Stamp {
        msg_id: fspiop::iso::ulid(1, 2),
        orgnl_id: fspiop::iso::ulid(1, 3),
        now: DateTime::from_offset_date_time(time::OffsetDateTime::now_utc()),
    };
    let good = iso::transfers_post(&tr, &ctx, &stamp);
    // FSPIOP media type: 3101.
    let (status, code, v) = send(iso::to_bytes(&good), "perffsp1", false).await;
    assert_eq!((status, code.as_str()), (400, "3101"), "{v}");
    // FSPIOP body with ISO media types: 3102 (GrpHdr missing).
    let (status, code, v) = send(fspiop::json::to_canonical_vec(&tr), "perffsp1", true).await;
    assert_eq!((status, code.as_str()), (400, "3102"), "{v}");
    // A UUID TxId: 3100.
    let mut uuid = good.clone();
    uuid["CdtTrfTxInf"]["PmtId"]["TxId"] = json!("b51ec534-ee48-4575-b6a9-ead2955b8069");
    let (status, code, v) = send(iso::to_bytes(&uuid), "perffsp1", true).await;
    assert_eq!((status, code.as_str()), (400, "3100"), "{v}");
    // FSPIOP-Source other than the debtor agent: refused.
    let mut other = good.clone();
    other["CdtTrfTxInf"]["DbtrAgt"]["FinInstnId"]["Othr"]["Id"] = json!("perffsp6");
    let (status, code, v) = send(iso::to_bytes(&other), "perffsp1", true).await;
    assert_eq!((status, code.as_str()), (400, "3100"), "{v}");
    assert!(v.to_string().contains("debtor agent"), "{v}");
    // A payee's PUT with a processing time in the future: 3100.
    let payee_key = SigningKey::from_pem(
        bed.keys
            .0
            .iter()
            .find(|k| k.0 == "perffsp5")
            .unwrap()
            .1
            .as_bytes(),
    )
    .unwrap();
    let future = TransfersPut {
        completed_timestamp: Some(DateTime::parse("2030-01-01T00:00:00.000Z").unwrap()),
        extension_list: None,
        fulfilment: Some(IlpFulfilment::from_bytes(&[7; 32])),
        transfer_state: TransferState::Committed,
    };
    let req = perfbed_http::Outbound {
        method: http::Method::PUT,
        url: format!("{base}/transfers/{}", tr.transfer_id),
        version: fspiop::headers::Version::V1_1,
        source: "perffsp5".into(),
        destination: Some("perffsp1".into()),
        body: Some(Bytes::from(iso::to_bytes(&iso::transfers_put(
            &future, &stamp,
        )))),
        extra: vec![],
    }
    .iso()
    .build(Some(&payee_key))
    .unwrap();
    let r = HttpClient::new(ClientOptions::default())
        .send(req)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            v["errorInformation"]["errorCode"].as_str()
        ),
        (400, Some("3100")),
        "{v}"
    );
    // The good one goes through (202) and commits.
    let (status, _, v) = send(iso::to_bytes(&good), "perffsp1", true).await;
    assert_eq!(status, 202, "{v}");

    // Expiry: 3303 from Hub, as pacs.002, reaches the payer.
    let bed2 = bed_with(
        10_000,
        "100000",
        |c| {
            c.fsps.get_mut("perffsp5").unwrap().transfer_latency =
                sim::Latency::Fixed { ms: 1500.0 };
        },
        |h| h.api = Api::Iso20022,
    )
    .await;
    let sim2 = bed2.payer.sim().clone();
    let q = ulid_quote(&msisdn(5, 7), "20");
    let quote = sim2.quote("perffsp1", "perffsp5", &q, t).await.unwrap();
    let ctx = quote.iso.clone().unwrap();
    let err = sim2
        .transfer_after(
            "perffsp1",
            &transfer_from(&q, &quote, time::Duration::milliseconds(500)),
            Some(&ctx),
            t,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, FlowError::Rejected { ref code, ref source_fsp } if code == "3303" && source_fsp == "Hub"),
        "{err:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c = bed.hub.hub().ledger.counts();
    assert_eq!((c.prepared, c.committed, c.aborted), (3, 2, 1), "{c:?}");
    assert_eq!(
        bed.hub.hub().stats.callbacks_failed.get(),
        0,
        "every ISO callback (PATCH included) was accepted"
    );
    for b in [bed, bed2] {
        b.payer.shutdown(Duration::from_secs(1)).await;
        b.payee.shutdown(Duration::from_secs(1)).await;
        b.hub.shutdown(Duration::from_secs(1)).await;
    }
}

/// A payer whose listener is not up yet when the hub owes it a callback: the hub sends the
/// callback again until it is (slow, never lossy), and counts the attempts beyond the first.
#[tokio::test]
async fn a_callback_to_a_receiver_that_comes_up_late_is_delivered_by_a_retry() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hub = hub::start(
        Hub::new(
            HubConfig {
                callback_retry: perfbed_http::Retry {
                    attempts: 8,
                    backoff: Duration::from_millis(50),
                },
                ..HubConfig::default()
            },
            None,
        ),
        "127.0.0.1:0".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let base = format!("http://{}", hub.addr);
    // A port nothing listens on yet.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    hub_accounts(&format!("{base}/admin")).await;
    onboard(
        &format!("{base}/admin"),
        "perffsp1",
        &format!("http://127.0.0.1:{port}"),
        1_000,
        "1000",
    )
    .await;
    // A lookup of a number no oracle knows: the hub owes perffsp1 a `PUT /parties/…/error`.
    let req = http::Request::builder()
        .method(http::Method::GET)
        .uri(format!("{base}/parties/MSISDN/254799999999"))
        .header("fspiop-source", "perffsp1")
        .header("date", perfbed_http::fspiop::date_now())
        .header(
            "accept",
            "application/vnd.interoperability.parties+json;version=1.1",
        )
        .header(
            "content-type",
            "application/vnd.interoperability.parties+json;version=1.1",
        )
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let resp = HttpClient::new(ClientOptions::default())
        .send(req)
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{:?}", resp.body());
    // The payer comes up a while later and answers 200 to what it reads.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let (mut tcp, _) = tokio::time::timeout(Duration::from_secs(30), listener.accept())
        .await
        .expect("the hub never came back with its callback")
        .unwrap();
    let mut buf = Vec::new();
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut chunk = [0u8; 4096];
        let n = tcp.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before a whole request head");
        buf.extend_from_slice(&chunk[..n]);
    }
    tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    let head = String::from_utf8_lossy(&buf).into_owned();
    assert!(
        head.starts_with("PUT /parties/MSISDN/254799999999/error "),
        "{head}"
    );
    let stats = &hub.hub().stats;
    for _ in 0..500 {
        if stats.callbacks_ok.get() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stats.callbacks_ok.get(), 1);
    assert_eq!(stats.callbacks_failed.get(), 0);
    assert!(
        stats.callbacks_retried.get() >= 1,
        "delivered without a retry, though nothing listened at first"
    );
    hub.shutdown(Duration::from_secs(1)).await;
}
