//! Hot-path costs of the protocol core. Numbers and the machine they came from: docs/benchmarks.md.
//!
//! `cargo bench -p fspiop` (add `-- rs256` etc. to filter).

#![allow(clippy::unwrap_used)] // benchmark setup
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use fspiop::ilp::{IlpSecret, IlpVersion, TransactionObject};
use fspiop::json::{canonicalize, to_canonical_vec};
use fspiop::jws::{
    self, Alg, KeyStore, SignInput, SigningKey, VerifyInput, VerifyMode, VerifyingKey,
};
use fspiop::models::{Money, Party, PartyIdInfo, QuotesPost, TransfersPost};
use fspiop::types::{CorrelationId, DateTime, FspId};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use ring::rand::SystemRandom;
use ring::signature::{self as rsig, KeyPair};

const INPUT: &[u8] = b"eyJhbGciOiJSUzI1NiIsIkZTUElPUC1VUkkiOiIvdHJhbnNmZXJzIiwiRlNQSU9QLUhUVFAtTWV0aG9kIjoiUE9TVCIsIkZTUElPUC1Tb3VyY2UiOiJwYXllcmZzcCJ9.eyJhbW91bnQiOnsiYW1vdW50IjoiMTAwIiwiY3VycmVuY3kiOiJYWFgifSwiY29uZGl0aW9uIjoiZ2FQNUxrWm12Y1F0VllMcmpNMERUdWNnVUJfUFU4b3lmQzcweU02Mk9jWSJ9";

fn rsa_keys() -> PKey<openssl::pkey::Private> {
    PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap()
}

fn ec_keys() -> PKey<openssl::pkey::Private> {
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap()
}

fn signatures(c: &mut Criterion) {
    let rng = SystemRandom::new();
    for (alg, pkey) in [(Alg::RS256, rsa_keys()), (Alg::ES256, ec_keys())] {
        let name = alg.as_str().to_lowercase();
        let pem = pkey.private_key_to_pem_pkcs8().unwrap();
        let public_pem = pkey.public_key_to_pem().unwrap();
        let pkcs8 = pkey.private_key_to_pkcs8().unwrap();

        // What the product uses: josekit/OpenSSL for RS256, ring for ES256.
        let ours = SigningKey::from_pem(&pem).unwrap();
        let ours_pub = VerifyingKey::from_pem(&public_pem).unwrap();
        let sig = ours.sign_raw(INPUT).unwrap();
        c.bench_function(&format!("{name}_sign_perfbed"), |b| {
            b.iter(|| ours.sign_raw(black_box(INPUT)).unwrap())
        });
        c.bench_function(&format!("{name}_verify_perfbed"), |b| {
            b.iter(|| assert!(ours_pub.verify_raw(black_box(INPUT), &sig)))
        });

        // The openssl crate directly, signer re-created per call (the issue's planning measurement).
        c.bench_function(&format!("{name}_sign_openssl_direct"), |b| {
            b.iter(|| {
                let mut s = openssl::sign::Signer::new(MessageDigest::sha256(), &pkey).unwrap();
                s.update(black_box(INPUT)).unwrap();
                s.sign_to_vec().unwrap()
            })
        });

        // ring.
        match alg {
            Alg::RS256 => {
                let kp = rsig::RsaKeyPair::from_pkcs8(&pkcs8).unwrap();
                let mut out = vec![0u8; kp.public().modulus_len()];
                c.bench_function("rs256_sign_ring", |b| {
                    b.iter(|| {
                        kp.sign(&rsig::RSA_PKCS1_SHA256, &rng, black_box(INPUT), &mut out)
                            .unwrap()
                    })
                });
                let public = pkey.rsa().unwrap().public_key_to_der_pkcs1().unwrap();
                let v = rsig::UnparsedPublicKey::new(&rsig::RSA_PKCS1_2048_8192_SHA256, public);
                c.bench_function("rs256_verify_ring", |b| {
                    b.iter(|| v.verify(black_box(INPUT), &sig).unwrap())
                });
            }
            Alg::ES256 => {
                let kp = rsig::EcdsaKeyPair::from_pkcs8(
                    &rsig::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &pkcs8,
                    &rng,
                )
                .unwrap();
                c.bench_function("es256_sign_ring", |b| {
                    b.iter(|| kp.sign(&rng, black_box(INPUT)).unwrap())
                });
                let v = rsig::UnparsedPublicKey::new(
                    &rsig::ECDSA_P256_SHA256_FIXED,
                    kp.public_key().as_ref().to_vec(),
                );
                c.bench_function("es256_verify_ring", |b| {
                    b.iter(|| v.verify(black_box(INPUT), &sig).unwrap())
                });
            }
        }
    }
}

fn transaction() -> TransactionObject {
    let money = Money::parse("100", "XXX").unwrap();
    let mut payee = Party::with_id(PartyIdInfo::msisdn("perffsp5", "254705000001").unwrap());
    payee.name = Some("Perf Party".into());
    let quote = QuotesPost::p2p(
        CorrelationId::v4_from_bytes([1; 16]),
        CorrelationId::v4_from_bytes([2; 16]),
        Party::with_id(PartyIdInfo::msisdn("perffsp1", "254701000001").unwrap()),
        payee,
        money.clone(),
    );
    TransactionObject::from_quote(
        &quote,
        &money,
        &DateTime::parse("2030-01-01T00:00:00.000Z").unwrap(),
        None,
    )
}

fn ilp(c: &mut Criterion) {
    let secret = IlpSecret::new(b"perfbed");
    let tx = transaction();
    c.bench_function("ilp_v4_build_packet_condition_fulfilment", |b| {
        b.iter(|| secret.build(IlpVersion::V4, black_box(&tx)).unwrap())
    });
    let out = secret.build(IlpVersion::V4, &tx).unwrap();
    c.bench_function("ilp_v4_fulfil_from_packet", |b| {
        b.iter(|| secret.fulfil(black_box(&out.packet)).unwrap())
    });
    c.bench_function("ilp_fulfilment_matches_condition", |b| {
        b.iter(|| assert!(black_box(&out.fulfilment).fulfils(&out.condition)))
    });
    c.bench_function("ilp_v1_build_packet_condition_fulfilment", |b| {
        b.iter(|| secret.build(IlpVersion::V1, black_box(&tx)).unwrap())
    });
}

fn transfer() -> TransfersPost {
    let out = IlpSecret::new(b"perfbed")
        .build(IlpVersion::V4, &transaction())
        .unwrap();
    TransfersPost {
        amount: Money::parse("100", "XXX").unwrap(),
        condition: out.condition,
        expiration: DateTime::parse("2030-01-01T00:00:00.000Z").unwrap(),
        extension_list: None,
        ilp_packet: out.packet,
        payee_fsp: FspId::parse("perffsp5").unwrap(),
        payer_fsp: FspId::parse("perffsp1").unwrap(),
        transfer_id: CorrelationId::v4_from_bytes([3; 16]),
    }
}

fn json(c: &mut Criterion) {
    let t = transfer();
    let bytes = to_canonical_vec(&t);
    c.bench_function("canonical_serialize_transfers_post", |b| {
        b.iter(|| to_canonical_vec(black_box(&t)))
    });
    c.bench_function("canonicalize_any_json_transfers_post", |b| {
        b.iter(|| canonicalize(black_box(&bytes)).unwrap())
    });
    c.bench_function("parse_validate_transfers_post", |b| {
        b.iter(|| serde_json::from_slice::<TransfersPost>(black_box(&bytes)).unwrap())
    });
}

fn jws_profile(c: &mut Criterion) {
    let (private, public) = jws::generate_pem(Alg::RS256).unwrap();
    let mut store = KeyStore::new();
    store.insert_signing(
        "perffsp5",
        SigningKey::from_pem(private.as_bytes()).unwrap(),
    );
    store.insert_verifying(
        "perffsp5",
        VerifyingKey::from_pem(public.as_bytes()).unwrap(),
    );
    let body = br#"{"completedTimestamp":"2025-07-01T10:00:01.123Z","fulfilment":"Oko1gkYPQvE9KfDvyIRmcHLsexacJwejIQGqf00PFwI","transferState":"COMMITTED"}"#;
    let input = SignInput {
        method: "PUT",
        uri: "/transfers/b51ec534-ee48-4575-b6a9-ead2955b8069",
        source: "perffsp5",
        destination: Some("perffsp1"),
        date: Some("Tue, 01 Jul 2025 10:00:00 GMT"),
        body,
    };
    let key = store.signing("perffsp5").unwrap();
    c.bench_function("fspiop_signature_rs256_sign_put_transfers", |b| {
        b.iter(|| jws::sign(key, black_box(&input)).unwrap())
    });
    let sig = jws::sign(key, &input).unwrap();
    let v = VerifyInput {
        source: Some("perffsp5"),
        destination: Some("perffsp1"),
        date: input.date,
        uri: Some(input.uri),
        http_method: Some("PUT"),
        signature: Some(&sig),
        body,
    };
    c.bench_function("fspiop_signature_rs256_verify_raw", |b| {
        b.iter(|| jws::verify(&store, black_box(&v), VerifyMode::Raw).unwrap())
    });
    c.bench_function("fspiop_signature_rs256_verify_strict", |b| {
        b.iter(|| jws::verify(&store, black_box(&v), VerifyMode::Strict).unwrap())
    });
}

/// The route parser against what the simulator and the hub each did before: split into a
/// `Vec` and copy the ids into `String`s.
fn route(c: &mut Criterion) {
    use fspiop::route;
    use http::Method;
    let mut g = c.benchmark_group("route");
    let cases = [
        (
            Method::PUT,
            "/transfers/0f7c2f8a-7a3d-4e6b-9d57-2b8f0c1a9e21",
        ),
        (Method::PUT, "/parties/MSISDN/25510000001/error"),
        (Method::POST, "/transfers"),
    ];
    g.bench_function("fspiop_route_parse", |b| {
        b.iter(|| {
            for (m, p) in &cases {
                black_box(route::parse(m, black_box(p)).map(|r| r.name()).ok());
            }
        })
    });
    g.bench_function("before_vec_and_strings", |b| {
        b.iter(|| {
            for (m, p) in &cases {
                let segs: Vec<&str> = black_box(p).trim_matches('/').split('/').collect();
                let owned: Vec<String> = match (m, segs.as_slice()) {
                    (_, [_, rest @ ..]) => rest.iter().map(|s| (*s).to_owned()).collect(),
                    _ => Vec::new(),
                };
                black_box(owned);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, signatures, ilp, json, jws_profile, route);
criterion_main!(benches);
