//! Benchmark helper for `scripts/bench-payee`: writes a wrk Lua script that POSTs one signed
//! `POST /transfers` (perffsp1 → perffsp5, ILP built with the simulator's secret) over and over
//! — the payee is stateless, so the same request can be answered any number of times — and
//! prints the crypto bound measured on this core: 1 / (RS256 verify + RS256 sign).
//!
//! `cargo run --release -p sim --example payee_load -- KEYS_DIR OUT.lua [--no-jws] [--iso]`
//!
//! `--iso`: the same transfer as an ISO 20022 pacs.008 with ULID ids and the ISO media types,
//! for a payee started with `--api iso20022`.

#![allow(clippy::unwrap_used)] // a benchmark helper: a panic is the report

use fspiop::headers::{self, Version};
use fspiop::ilp::{IlpSecret, IlpVersion, TransactionObject};
use fspiop::jws::{self, KeyStore, SignInput};
use fspiop::models::*;
use fspiop::testbed::msisdn;
use fspiop::types::*;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (keys_dir, out) = (&args[1], &args[2]);
    let sign = !args.iter().any(|a| a == "--no-jws");
    let iso_mode = args.iter().any(|a| a == "--iso");
    let id = |b: u8| {
        if iso_mode {
            fspiop::iso::ulid_from_u128(u128::from(b))
        } else {
            CorrelationId::v4_from_bytes([b; 16])
        }
    };
    let keys = perfbed_http::keys::load_dir(std::path::Path::new(keys_dir)).unwrap();
    let money = Money::parse("100", "XXX").unwrap();
    let quote = QuotesPost::p2p(
        id(1),
        id(2),
        Party::with_id(PartyIdInfo::msisdn("perffsp1", &msisdn(1, 1)).unwrap()),
        Party::with_id(PartyIdInfo::msisdn("perffsp5", &msisdn(5, 1)).unwrap()),
        money.clone(),
    );
    let expiration = DateTime::parse("2030-01-01T00:00:00.000Z").unwrap();
    // In ISO mode the payee's packet is built over its view of the pacs.081 (as the SDK's).
    let quote_iso = fspiop::iso::quotes_post(&quote, &stamp(&expiration));
    let quote = if iso_mode {
        fspiop::iso::quotes_post_view(&quote_iso).unwrap()
    } else {
        quote
    };
    let tx = TransactionObject::from_quote(&quote, &money, &expiration, None);
    let ilp = IlpSecret::new(b"perfbed-test-ilp-secret")
        .build(IlpVersion::V4, &tx)
        .unwrap();
    let transfer = TransfersPost {
        amount: money,
        condition: ilp.condition,
        expiration: expiration.clone(),
        extension_list: None,
        ilp_packet: ilp.packet,
        payee_fsp: FspId::parse("perffsp5").unwrap(),
        payer_fsp: FspId::parse("perffsp1").unwrap(),
        transfer_id: id(3),
    };
    let (body, content_type, accept) = if iso_mode {
        let put = QuotesPut {
            condition: transfer.condition.clone(),
            expiration: transfer.expiration.clone(),
            extension_list: None,
            geo_code: None,
            ilp_packet: transfer.ilp_packet.clone(),
            payee_fsp_commission: None,
            payee_fsp_fee: None,
            payee_receive_amount: None,
            transfer_amount: transfer.amount.clone(),
        };
        let put_iso = fspiop::iso::quotes_put(
            &put,
            quote.quote_id.as_str(),
            &quote_iso,
            &stamp(&expiration),
        );
        (
            fspiop::iso::to_bytes(&fspiop::iso::transfers_post(
                &transfer,
                &put_iso,
                &stamp(&expiration),
            )),
            fspiop::iso::content_type("transfers"),
            fspiop::iso::accept("transfers"),
        )
    } else {
        (
            fspiop::json::to_canonical_vec(&transfer),
            headers::content_type("transfers", Version::V1_1),
            headers::accept("transfers", 1),
        )
    };
    let date = headers::fmt_date(std::time::SystemTime::now());
    let mut h = vec![
        ("Content-Type".to_owned(), content_type),
        ("Accept".to_owned(), accept),
        ("Date".to_owned(), date.clone()),
        ("FSPIOP-Source".to_owned(), "perffsp1".to_owned()),
        ("FSPIOP-Destination".to_owned(), "perffsp5".to_owned()),
    ];
    if sign {
        let sig = jws::sign(
            keys.signing("perffsp1").unwrap(),
            &SignInput {
                method: "POST",
                uri: "/transfers",
                source: "perffsp1",
                destination: Some("perffsp5"),
                date: Some(&date),
                body: &body,
            },
        )
        .unwrap();
        h.push(("FSPIOP-URI".into(), "/transfers".into()));
        h.push(("FSPIOP-HTTP-Method".into(), "POST".into()));
        h.push(("FSPIOP-Signature".into(), sig));
    }
    let lua_str = |s: &str| format!("{s:?}");
    let mut lua = String::from("wrk.method = \"POST\"\n");
    lua.push_str(&format!(
        "wrk.body = {}\n",
        lua_str(std::str::from_utf8(&body).unwrap())
    ));
    for (k, v) in &h {
        lua.push_str(&format!("wrk.headers[{}] = {}\n", lua_str(k), lua_str(v)));
    }
    std::fs::write(out, lua).unwrap();

    // Crypto bound on this core: what the payee must do per transfer with JWS on.
    let payee = keys.signing("perffsp5").unwrap();
    let verifier = {
        let mut s = KeyStore::new();
        s.insert_verifying(
            "perffsp1",
            fspiop::jws::VerifyingKey::from_pem(
                &std::fs::read(format!("{keys_dir}/perffsp1.pem")).unwrap(),
            )
            .unwrap(),
        );
        s
    };
    let sig = jws::sign(
        keys.signing("perffsp1").unwrap(),
        &SignInput {
            method: "POST",
            uri: "/transfers",
            source: "perffsp1",
            destination: None,
            date: None,
            body: &body,
        },
    )
    .unwrap();
    let input = jws::VerifyInput {
        source: Some("perffsp1"),
        uri: Some("/transfers"),
        http_method: Some("POST"),
        signature: Some(&sig),
        body: &body,
        ..Default::default()
    };
    let n = 400;
    let t = Instant::now();
    for _ in 0..n {
        jws::verify(&verifier, &input, jws::VerifyMode::Raw).unwrap();
        payee.sign_raw(&body).unwrap();
    }
    let per = t.elapsed().as_secs_f64() / f64::from(n);
    println!(
        "crypto_us_per_transfer={:.1} crypto_bound_per_s={:.0}",
        per * 1e6,
        1.0 / per
    );
}

/// Fixed generated values (the request is replayed as is).
fn stamp(now: &DateTime) -> fspiop::iso::Stamp {
    fspiop::iso::Stamp {
        msg_id: fspiop::iso::ulid_from_u128(10),
        orgnl_id: fspiop::iso::ulid_from_u128(11),
        now: now.clone(),
    }
}
