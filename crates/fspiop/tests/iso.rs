//! ISO 20022 mode against the reference examples (`tests/iso20022/`, made by the Mojaloop
//! transformer library 2.10.0 and sdk-standard-components from FSPIOP messages; see
//! `reference/iso20022/gen.js`): every builder reproduces the library's ISO body for the same
//! FSPIOP message, every view reads the ISO body back into the FSPIOP message, and the payee's
//! ILP v4 packet built from the view of the ISO POST /quotes is the SDK's, byte for byte.

use fspiop::error::ErrorInformation;
use fspiop::ilp::{IlpSecret, IlpVersion, TransactionObject};
use fspiop::iso::{self, Api, Stamp};
use fspiop::models::{
    PartiesPut, QuotesPost, QuotesPut, TransferState, TransfersPatch, TransfersPost, TransfersPut,
};
use fspiop::types::{CorrelationId, DateTime};
use serde_json::{json, Value};

fn example(name: &str) -> Value {
    let path = format!("{}/tests/iso20022/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(&path).expect("example file")).expect("example JSON")
}

fn pair(n: &str) -> (Value, Value) {
    (
        example(&format!("{n}.fspiop.json")),
        example(&format!("{n}.iso.json")),
    )
}

/// The example's own generated values, so the whole tree must match.
fn stamp_of(iso: &Value) -> Stamp {
    let hdr = iso
        .get("GrpHdr")
        .or_else(|| iso.get("Assgnmt"))
        .expect("a header");
    let s = |v: &Value| v.as_str().expect("string").to_owned();
    Stamp {
        msg_id: CorrelationId::parse(s(&hdr["MsgId"])).expect("ULID"),
        orgnl_id: iso
            .pointer("/Rpt/OrgnlId")
            .map(|v| CorrelationId::parse(s(v)).expect("ULID"))
            .unwrap_or_else(|| iso::ulid(0, 1)),
        now: DateTime::parse(s(&hdr["CreDtTm"])).expect("datetime"),
    }
}

fn from<T: serde::de::DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone()).expect("FSPIOP body")
}

fn src_dst(f: &Value) -> (&str, &str) {
    (
        f["headers"]["fspiop-source"].as_str().expect("source"),
        f["headers"]["fspiop-destination"]
            .as_str()
            .expect("destination"),
    )
}

#[test]
fn builders_reproduce_the_library_output() {
    let (f, i) = pair("01-partiesPut");
    let (s, d) = src_dst(&f);
    assert_eq!(
        iso::parties_put(&from::<PartiesPut>(&f["body"]), s, d, &stamp_of(&i)),
        i
    );

    let (f, i) = pair("02-partiesPutError");
    let (s, d) = src_dst(&f);
    let code = f["body"]["errorInformation"]["errorCode"]
        .as_str()
        .expect("code");
    assert_eq!(iso::parties_error(code, s, d, &stamp_of(&i)), i);

    let (f, post) = pair("03-quotesPost");
    assert_eq!(
        iso::quotes_post(&from::<QuotesPost>(&f["body"]), &stamp_of(&post)),
        post
    );

    let (f, put) = pair("04-quotesPut");
    let id = f["params"]["ID"].as_str().expect("id");
    assert_eq!(
        iso::quotes_put(&from::<QuotesPut>(&f["body"]), id, &post, &stamp_of(&put)),
        put
    );
    // No fee: no ChrgsInf.
    let mut no_fee: QuotesPut = from(&f["body"]);
    no_fee.payee_fsp_fee = None;
    let built = iso::quotes_put(&no_fee, id, &post, &stamp_of(&put));
    assert!(built.pointer("/CdtTrfTxInf/ChrgsInf").is_none());

    for n in ["05-quotesPutError", "10-transfersPutError"] {
        let (f, i) = pair(n);
        let info: ErrorInformation = from(&f["body"]["errorInformation"]);
        assert_eq!(iso::pacs_error(&info, &stamp_of(&i)), i, "{n}");
    }

    let (f, i) = pair("06-transfersPost");
    assert_eq!(
        iso::transfers_post(&from::<TransfersPost>(&f["body"]), &put, &stamp_of(&i)),
        i
    );

    for n in ["07-transfersPutCommitted", "08-transfersPutReserved"] {
        let (f, i) = pair(n);
        assert_eq!(
            iso::transfers_put(&from::<TransfersPut>(&f["body"]), &stamp_of(&i)),
            i,
            "{n}"
        );
    }

    let (f, i) = pair("09-transfersPatch");
    assert_eq!(
        iso::transfers_patch(&from::<TransfersPatch>(&f["body"]), &stamp_of(&i)),
        i
    );
}

/// The FSPIOP body minus what ISO 20022 does not carry.
fn without(mut v: Value, pointers: &[&str]) -> Value {
    for p in pointers {
        let (parent, key) = p.rsplit_once('/').expect("pointer");
        if let Some(o) = v.pointer_mut(parent).and_then(Value::as_object_mut) {
            o.remove(key);
        }
    }
    v
}

#[test]
fn views_read_back_the_fspiop_message() {
    let (f, i) = pair("01-partiesPut");
    let view = iso::parties_put_view(&i).expect("valid acmt.024");
    assert_eq!(
        serde_json::to_value(view).expect("json"),
        without(f["body"].clone(), &["/party/personalInfo/dateOfBirth"])
    );

    let (_, i) = pair("02-partiesPutError");
    let e = iso::parties_error_view(&i).expect("valid acmt.024 error");
    assert_eq!(e.error_code, "3204");

    // The payee's view of the POST /quotes is the library's (ilp-v4.json).
    let (_, post) = pair("03-quotesPost");
    let view = iso::quotes_post_view(&post).expect("valid pacs.081");
    let ilp = example("ilp-v4.json");
    assert_eq!(
        serde_json::to_value(&view).expect("json"),
        without(ilp["payeeViewOfQuoteRequest"].clone(), &["/extensionList"])
    );

    let (f, put) = pair("04-quotesPut");
    let view = iso::quotes_put_view(&put).expect("valid pacs.082");
    assert_eq!(
        serde_json::to_value(&view).expect("json"),
        without(f["body"].clone(), &["/payeeFspCommission"]),
        "condition decoded from the packet"
    );

    for n in ["05-quotesPutError", "10-transfersPutError"] {
        let (f, i) = pair(n);
        let e = iso::pacs_error_view(&i).expect("valid pacs.002 error");
        assert_eq!(
            serde_json::to_value(e).expect("json"),
            f["body"]["errorInformation"],
            "{n}"
        );
    }

    let (f, i) = pair("06-transfersPost");
    let view = iso::transfers_post_view(&i).expect("valid pacs.008");
    assert_eq!(serde_json::to_value(&view).expect("json"), f["body"]);

    for n in ["07-transfersPutCommitted", "08-transfersPutReserved"] {
        let (f, i) = pair(n);
        let view = iso::transfers_put_view(&i).expect("valid pacs.002");
        assert_eq!(serde_json::to_value(view).expect("json"), f["body"], "{n}");
    }
    let (f, i) = pair("09-transfersPatch");
    let view = iso::transfers_patch_view(&i).expect("valid pacs.002");
    assert_eq!(serde_json::to_value(view).expect("json"), f["body"]);
}

#[test]
fn the_payee_packet_from_the_iso_view_is_the_sdks() {
    let (_, post) = pair("03-quotesPost");
    let view = iso::quotes_post_view(&post).expect("valid pacs.081");
    let ilp = example("ilp-v4.json");
    let expiration = DateTime::parse("2030-01-01T00:01:00.000Z").expect("datetime");
    let tx = TransactionObject::from_quote(&view, &view.amount, &expiration, None);
    let out = IlpSecret::new(b"perfbed-ilp-secret")
        .build(IlpVersion::V4, &tx)
        .expect("packet");
    assert_eq!(out.packet.as_str(), ilp["ilpPacket"]);
    assert_eq!(out.condition.as_str(), ilp["condition"]);
    assert_eq!(out.fulfilment.as_str(), ilp["fulfilment"]);
}

fn set(mut v: Value, pointer: &str, x: Value) -> Value {
    *v.pointer_mut(pointer).expect("pointer exists") = x;
    v
}

fn remove(v: Value, pointer: &str) -> Value {
    without(v, &[pointer])
}

#[test]
fn views_refuse_what_the_switch_refuses() {
    let (_, post) = pair("06-transfersPost");
    let bad = |v: Value| iso::transfers_post_view(&v).expect_err("refused");
    // A UUID TxId, a datetime without milliseconds, "01", "COMMITTED"-style enums, a missing
    // Dbtr, a wrong settlement method.
    let e = bad(set(
        post.clone(),
        "/CdtTrfTxInf/PmtId/TxId",
        json!("b51ec534-ee48-4575-b6a9-ead2955b8069"),
    ));
    assert_eq!(e.path, "CdtTrfTxInf.PmtId.TxId");
    let e = bad(set(
        post.clone(),
        "/GrpHdr/CreDtTm",
        json!("2026-11-26T11:33:58Z"),
    ));
    assert_eq!(e.path, "GrpHdr.CreDtTm");
    let e = bad(set(
        post.clone(),
        "/CdtTrfTxInf/IntrBkSttlmAmt/ActiveCurrencyAndAmount",
        json!("01"),
    ));
    assert_eq!(e.path, "CdtTrfTxInf.IntrBkSttlmAmt.ActiveCurrencyAndAmount");
    let e = bad(set(post.clone(), "/CdtTrfTxInf/ChrgBr", json!("CREDIT")));
    assert_eq!(e.path, "CdtTrfTxInf.ChrgBr");
    let e = bad(remove(post.clone(), "/CdtTrfTxInf/Dbtr"));
    assert_eq!(
        (e.path.as_str(), e.code.code()),
        ("CdtTrfTxInf.Dbtr.Id", 3102)
    );
    let e = bad(set(
        post.clone(),
        "/GrpHdr/SttlmInf/SttlmMtd",
        json!("INDA"),
    ));
    assert_eq!(e.path, "GrpHdr.SttlmInf.SttlmMtd");
    let e = bad(set(
        post.clone(),
        "/CdtTrfTxInf/IntrBkSttlmAmt/Ccy",
        json!("ZZZ"),
    ));
    assert_eq!(e.path, "CdtTrfTxInf.IntrBkSttlmAmt.Ccy");
    // NbOfTxs as a number passes (the switch coerces).
    assert!(iso::transfers_post_view(&set(post.clone(), "/GrpHdr/NbOfTxs", json!(1))).is_ok());
    // An ILP v1 packet is refused with a clear reason.
    let (_, qpost) = pair("03-quotesPost");
    let view = iso::quotes_post_view(&qpost).expect("valid pacs.081");
    let expiration = DateTime::parse("2030-01-01T00:01:00.000Z").expect("datetime");
    let tx = TransactionObject::from_quote(&view, &view.amount, &expiration, None);
    let v1 = IlpSecret::new(b"s")
        .build(IlpVersion::V1, &tx)
        .expect("v1 packet")
        .packet;
    let e = bad(set(
        post.clone(),
        "/CdtTrfTxInf/VrfctnOfTerms/IlpV4PrepPacket",
        json!(v1.as_str()),
    ));
    assert!(e.reason.contains("ILP v1"), "{e}");

    let (_, put) = pair("07-transfersPutCommitted");
    let bad = |v: Value| iso::transfers_put_view(&v).expect_err("refused");
    let e = bad(set(put.clone(), "/TxInfAndSts/TxSts", json!("COMMITTED")));
    assert_eq!(e.path, "TxInfAndSts.TxSts");
    let padded = format!("{}=", put["TxInfAndSts"]["ExctnConf"].as_str().expect("s"));
    let e = bad(set(put.clone(), "/TxInfAndSts/ExctnConf", json!(padded)));
    assert_eq!(e.path, "TxInfAndSts.ExctnConf");
    let e = bad(remove(put.clone(), "/TxInfAndSts/ExctnConf"));
    assert_eq!(e.path, "TxInfAndSts.ExctnConf", "COMM needs a fulfilment");
    let e = bad(remove(put, "/GrpHdr/MsgId"));
    assert_eq!(e.code.code(), 3102);

    let (_, i) = pair("02-partiesPutError");
    let e = iso::parties_error_view(&remove(i, "/Rpt/Rsn/Cd")).expect_err("no code");
    assert_eq!(e.path, "Rpt.Rsn.Cd");
}

#[test]
fn ulids_and_media_types() {
    let id = iso::ulid(1_700_000_000_000, 0x1234);
    assert!(iso::is_ulid(id.as_str()), "{id}");
    assert_eq!(
        iso::ulid_bits(id.as_str()).map(|b| b & 0xffff),
        Some(0x1234)
    );
    assert!(
        !iso::is_ulid("01JBVM13SQYP507JB1DYBZVCMI"),
        "I is not Crockford"
    );
    assert!(!iso::is_ulid("01jbvm13sqyp507jb1dybzvcmf"), "lower case");
    assert!(!iso::is_ulid("b51ec534-ee48-4575-b6a9-ead2955b8069"));
    // Known ULID ↔ bits (ulid spec: 0 → 26 zeros; max → 7ZZ…Z).
    assert_eq!(
        iso::ulid_from_u128(0).as_str(),
        "00000000000000000000000000"
    );
    assert_eq!(
        iso::ulid_from_u128(u128::MAX).as_str(),
        "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
    );
    // A run tag stamped into the top bits gives a common 7-character prefix.
    let tag = [0x1a, 0x2b, 0x3c, 0x4d];
    let p = iso::ulid_prefix(tag);
    for low in [0u128, 1, u128::from(u64::MAX), (1u128 << 95) - 1] {
        let bits = (u128::from(u32::from_be_bytes(tag)) << 96) | low;
        assert!(iso::ulid_from_u128(bits).as_str().starts_with(&p));
    }

    assert_eq!(
        iso::content_type("transfers"),
        "application/vnd.interoperability.iso20022.transfers+json;version=2.0"
    );
    use fspiop::headers::{parse_accept_api, parse_content_type_api, Acceptable, Version};
    let r = "quotes";
    let ct = |s: &str| parse_content_type_api(s, r, Api::Iso20022);
    assert_eq!(
        ct("application/vnd.interoperability.iso20022.quotes+json;version=2.0"),
        Some(Version::V2_0)
    );
    assert_eq!(
        ct("application/vnd.interoperability.iso20022.quotes+json ; version=1.1"),
        Some(Version::V1_1)
    );
    assert_eq!(
        ct("application/vnd.interoperability.quotes+json;version=1.1"),
        None
    );
    assert_eq!(
        ct("application/vnd.interoperability.iso20022.quotes+json;version=2"),
        None
    );
    assert_eq!(
        parse_content_type_api(
            "application/vnd.interoperability.iso20022.quotes+json;version=2.0",
            r,
            Api::Fspiop
        ),
        None
    );
    assert_eq!(
        parse_accept_api(&iso::accept(r), r, Api::Iso20022),
        Some(vec![Acceptable::Major(2)])
    );
    assert_eq!("iso20022".parse::<Api>(), Ok(Api::Iso20022), "CLI spelling");
    assert!("iso".parse::<Api>().is_err());
}

#[test]
fn transfer_state_codes() {
    for (s, c) in [
        (TransferState::Committed, "COMM"),
        (TransferState::Reserved, "RESV"),
        (TransferState::Received, "RECV"),
        (TransferState::Aborted, "ABOR"),
    ] {
        assert_eq!(iso::tx_sts(s), c);
    }
}
