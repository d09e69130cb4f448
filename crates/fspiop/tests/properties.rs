//! Property tests: encode→decode round trips, canonical JSON stable under key order, decoders
//! and parsers total on arbitrary input (an error, never a panic).

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use fspiop::headers;
use fspiop::ilp::{IlpPacket, IlpPaymentV1, IlpPrepare, IlpSecret};
use fspiop::json::{canonicalize, write_canonical};
use fspiop::jws::SignatureHeader;
use fspiop::types::{Amount, IlpPacketString};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("\\PC{0,8}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// Writes `v` with every object's keys in the order given by `seed` (not sorted).
fn write_shuffled(v: &Value, seed: u64, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by_key(|(k, _)| {
                let mut h = seed ^ 0x9e37_79b9_7f4a_7c15;
                for b in k.bytes() {
                    h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
                }
                h
            });
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(" , ");
                }
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push_str(" : ");
                write_shuffled(v, seed.rotate_left(7), out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push_str("[ ");
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_shuffled(v, seed, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn canonical_json_is_stable_under_key_order_and_whitespace(v in json_value(), seed in any::<u64>()) {
        let mut canonical = Vec::new();
        write_canonical(&v, &mut canonical);
        let mut shuffled = String::new();
        write_shuffled(&v, seed, &mut shuffled);
        prop_assert_eq!(canonicalize(shuffled.as_bytes()).unwrap(), canonical.clone());
        // Idempotent.
        prop_assert_eq!(canonicalize(&canonical).unwrap(), canonical);
    }

    #[test]
    fn prepare_round_trips(amount in any::<u64>(), ms in 0u64..(10_000 * 365 * 86_400_000u64 / 2),
                           cond in any::<[u8; 32]>(), dest in "[a-z][a-z0-9.~_-]{0,40}",
                           data in prop::collection::vec(any::<u8>(), 0..2000)) {
        let t = time::OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(ms as i64);
        let expires = fspiop::types::DateTime::from_offset_date_time(t).to_ilp_expires_at();
        let p = IlpPrepare { amount, expires_at: expires, execution_condition: cond, destination: dest, data };
        let bytes = p.encode();
        prop_assert_eq!(IlpPrepare::decode(&bytes).unwrap(), p.clone());
        prop_assert_eq!(IlpPacket::decode(&bytes).unwrap(), IlpPacket::V4(p));
    }

    #[test]
    fn v1_round_trips(amount in any::<u64>(), account in "g\\.[a-z0-9.]{1,60}",
                      data in prop::collection::vec(any::<u8>(), 0..2000)) {
        let p = IlpPaymentV1 { amount, account, data };
        let bytes = p.encode();
        prop_assert_eq!(IlpPaymentV1::decode(&bytes).unwrap(), p);
    }

    #[test]
    fn decoders_are_total(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = IlpPacket::decode(&bytes);
        let _ = IlpPrepare::decode(&bytes);
        let _ = IlpPaymentV1::decode(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = canonicalize(&bytes);
        let _ = SignatureHeader::parse(&text).and_then(|h| h.protected());
        let _ = headers::parse_content_type(&text, "transfers");
        let _ = headers::parse_accept(&text, "transfers");
        let _ = headers::parse_date(&text);
        if let Ok(p) = IlpPacketString::parse(text.into_owned()) {
            let _ = IlpSecret::new(b"s").fulfil(&p);
        }
    }

    #[test]
    fn mutated_packets_never_panic(seed in any::<[u8; 32]>(), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let p = IlpPrepare {
            amount: 1,
            expires_at: *b"20300101000000000",
            execution_condition: seed,
            destination: "g.mojaloop".into(),
            data: vec![b'x'; 200],
        };
        let mut bytes = p.encode();
        for (i, b) in flips {
            let n = bytes.len();
            bytes[i % n] = b;
        }
        let _ = IlpPacket::decode(&bytes);
    }

    #[test]
    fn amounts_and_minor_units_round_trip(minor in 0u64..1_000_000_000_000_000, mu in 0u8..=4) {
        let a = Amount::from_minor_units(minor, mu).unwrap();
        prop_assert_eq!(a.to_minor_units(mu).unwrap(), minor);
        prop_assert_eq!(Amount::parse(a.as_str()).unwrap(), a);
    }
}
