//! Every known-answer vector in `fspiop-test-vectors.json` passes.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use fspiop::ilp::{IlpPacket, IlpSecret, IlpVersion, TransactionObject, ILP_ADDRESS};
use fspiop::json::{canonicalize, to_canonical_vec};
use fspiop::jws::{self, KeyStore, VerifyInput, VerifyMode, VerifyingKey};
use fspiop::types::{IlpCondition, IlpFulfilment, IlpPacketString};
use serde_json::Value;
use std::path::PathBuf;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn vectors() -> Value {
    let text = std::fs::read_to_string(data("fspiop-test-vectors.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("vector lacks {ptr}"))
}

/// The digests of the reference files (`tests/data/reference.sha256`, as `sha256sum` writes
/// them), recorded when they were copied from `shared/reference/specs/testdata`.
fn recorded_digests() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(data("reference.sha256")).unwrap();
    let pairs: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (digest, name) = l
                .split_once("  ")
                .unwrap_or_else(|| panic!("reference.sha256: not `DIGEST  NAME`: {l}"));
            (name.to_owned(), digest.to_owned())
        })
        .collect();
    assert_eq!(pairs.len(), 2, "reference.sha256 lists {pairs:?}");
    pairs
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The copies are the reference's bytes: always against the recorded digests, and against
/// the team's `shared/` folder itself when it sits beside the clone (a CI clone has none: it
/// says so, and the recorded digests still guard the copies).
#[test]
fn copies_match_the_reference() {
    let shared =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/specs/testdata");
    let have_shared = shared.is_dir();
    if !have_shared {
        eprintln!(
            "{} is absent: the copies are checked against tests/data/reference.sha256 only",
            shared.display()
        );
    }
    for (name, digest) in recorded_digests() {
        let copy = std::fs::read(data(&name)).unwrap();
        assert_eq!(
            sha256_hex(&copy),
            digest,
            "tests/data/{name} is not the recorded reference file"
        );
        if have_shared {
            assert_eq!(
                sha256_hex(&std::fs::read(shared.join(&name)).unwrap()),
                digest,
                "shared/reference/specs/testdata/{name} changed: copy it into tests/data and record its digest"
            );
        }
    }
}

#[test]
fn ilp_v4_sdk_algorithm() {
    let v = vectors();
    let v = &v["ilp_v4_sdk_algorithm"];
    let tx_json = s(v, "/transactionObjectJson_sorted_compact");
    let tx: TransactionObject = serde_json::from_str(tx_json).unwrap();
    // Our model serializes to exactly the SDK's bytes.
    assert_eq!(to_canonical_vec(&tx), tx_json.as_bytes());

    let out = IlpSecret::new(s(v, "/secret").as_bytes())
        .build(IlpVersion::V4, &tx)
        .unwrap();
    assert_eq!(out.fulfilment.as_str(), s(v, "/fulfilment"));
    assert_eq!(out.condition.as_str(), s(v, "/condition"));
    assert_eq!(out.packet.as_str(), s(v, "/ilpPacket"));

    // Decoding gives the documented fields.
    let bytes = out.packet.decode().unwrap();
    assert_eq!(
        bytes.len() as u64,
        v["decoded"]["total_length"].as_u64().unwrap()
    );
    assert_eq!(hex(&bytes[1..4]), s(v, "/decoded/length_prefix_hex"));
    let IlpPacket::V4(p) = IlpPacket::decode(&bytes).unwrap() else {
        panic!("not v4")
    };
    assert_eq!(p.amount, v["decoded"]["amount_uint64"].as_u64().unwrap());
    assert_eq!(&p.expires_at, s(v, "/decoded/expiresAt").as_bytes());
    assert_eq!(p.destination, ILP_ADDRESS);
    assert_eq!(p.execution_condition, out.condition.to_bytes());
    assert_eq!(p.encode(), bytes, "re-encoding is identical");

    // The payee re-derives the fulfilment from the packet alone.
    let secret = IlpSecret::new(b"test");
    assert_eq!(secret.fulfil(&out.packet).unwrap(), out.fulfilment);
    assert!(out.fulfilment.fulfils(&out.condition));
}

#[test]
fn ilp_v4_perf_harness_fixed_packet() {
    let v = vectors();
    let v = &v["ilp_v4_perf_harness"];
    let packet = IlpPacketString::parse(s(v, "/ilpPacket")).unwrap();
    let condition = IlpCondition::parse(s(v, "/condition")).unwrap();
    let fulfilment = IlpFulfilment::parse(s(v, "/fulfilment")).unwrap();
    assert!(fulfilment.fulfils(&condition));
    let decoded = IlpPacket::from_wire(&packet).unwrap();
    let IlpPacket::V4(p) = &decoded else {
        panic!("not v4")
    };
    assert_eq!(p.amount, v["decoded"]["amount_uint64"].as_u64().unwrap());
    assert_eq!(&p.expires_at, s(v, "/decoded/expiresAt").as_bytes());
    assert_eq!(p.destination, s(v, "/decoded/destination"));
    assert_eq!(p.execution_condition, condition.to_bytes());
    // Insertion-order JSON from an older SDK, carried as is.
    let tx = decoded.transaction_json().unwrap();
    assert_eq!(tx, s(v, "/decoded/transactionObjectJson").as_bytes());
    assert_ne!(
        canonicalize(&tx).unwrap(),
        tx,
        "this packet's JSON is not sorted"
    );
    assert_eq!(IlpPacketString::encode(&p.encode()), packet);
}

#[test]
fn jws_rs256_known_answer() {
    let v = vectors();
    let v = &v["jws_rs256"];
    let h = &v["request"]["headers"];
    let body = s(v, "/request/body");
    let header = jws::SignatureHeader::parse(s(h, "/FSPIOP-Signature")).unwrap();
    assert_eq!(header.protected_header, s(v, "/protectedHeader"));
    assert_eq!(header.signature, s(v, "/signature"));
    let protected = header.protected().unwrap();
    assert_eq!(
        serde_json::to_string(&protected).unwrap(),
        s(v, "/protectedHeaderJson"),
        "we build the protected header in the SDK's field order"
    );

    let mut store = KeyStore::new();
    let pem = std::fs::read(data("sdk-test-jws-public-key.pem")).unwrap();
    store.insert_verifying("payerfsp", VerifyingKey::from_pem(&pem).unwrap());
    let input = VerifyInput {
        source: Some(s(h, "/FSPIOP-Source")),
        destination: Some(s(h, "/FSPIOP-Destination")),
        date: Some(s(h, "/Date")),
        uri: Some(s(h, "/FSPIOP-URI")),
        http_method: Some(s(h, "/FSPIOP-HTTP-Method")),
        signature: Some(s(h, "/FSPIOP-Signature")),
        body: body.as_bytes(),
    };
    assert_eq!(jws::verify(&store, &input, VerifyMode::Raw), Ok(()));
    assert_eq!(jws::verify(&store, &input, VerifyMode::Strict), Ok(()));

    // The same body with another key order: JWS over the bytes fails (different bytes),
    // strict re-serialization restores the signed bytes and passes — this body was signed sorted.
    let reordered = reorder(body);
    assert_ne!(reordered, body);
    let moved = VerifyInput {
        body: reordered.as_bytes(),
        ..input
    };
    assert_eq!(
        jws::verify(&store, &moved, VerifyMode::Raw),
        Err(jws::JwsError::BadSignature)
    );
    assert_eq!(jws::verify(&store, &moved, VerifyMode::Strict), Ok(()));
}

/// Reverses the top-level key order of a JSON object.
fn reorder(body: &str) -> String {
    let v: serde_json::Map<String, Value> = serde_json::from_str(body).unwrap();
    let mut keys: Vec<&String> = v.keys().collect();
    keys.sort();
    keys.reverse();
    let parts: Vec<String> = keys
        .iter()
        .map(|k| {
            format!(
                "{}:{}",
                serde_json::to_string(k).unwrap(),
                String::from_utf8(canonicalize(v[k.as_str()].to_string().as_bytes()).unwrap())
                    .unwrap()
            )
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
