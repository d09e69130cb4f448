//! The JWS profile through its public API: sign/verify for both algorithms, every key format,
//! the reference validator's checks, raw vs strict verification, the key directory.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use fspiop::json::canonicalize;
use fspiop::jws::{
    self, generate_pem, Alg, JwsError, KeyStore, SignInput, SigningKey, VerifyInput, VerifyMode,
    VerifyingKey,
};
use fspiop::ErrorCode;
use openssl::pkey::PKey;
use std::sync::OnceLock;

const BODY: &str = r#"{"amount":{"amount":"100","currency":"XXX"},"payeeFsp":"perffsp5","payerFsp":"perffsp1","transferId":"b51ec534-ee48-4575-b6a9-ead2955b8069"}"#;
const DATE: &str = "Tue, 01 Jul 2025 10:00:00 GMT";

fn keys(alg: Alg) -> &'static (String, String) {
    static RSA: OnceLock<(String, String)> = OnceLock::new();
    static EC: OnceLock<(String, String)> = OnceLock::new();
    match alg {
        Alg::RS256 => RSA.get_or_init(|| generate_pem(Alg::RS256).unwrap()),
        Alg::ES256 => EC.get_or_init(|| generate_pem(Alg::ES256).unwrap()),
    }
}

fn store_for(alg: Alg, fsp: &str) -> KeyStore {
    let (private, public) = keys(alg);
    let mut store = KeyStore::new();
    store.insert_signing(fsp, SigningKey::from_pem(private.as_bytes()).unwrap());
    store.insert_verifying(fsp, VerifyingKey::from_pem(public.as_bytes()).unwrap());
    store
}

struct Signed {
    signature: String,
    destination: Option<&'static str>,
    date: Option<&'static str>,
    body: String,
}

impl Signed {
    fn input(&self) -> VerifyInput<'_> {
        VerifyInput {
            source: Some("perffsp1"),
            destination: self.destination,
            date: self.date,
            uri: Some("/transfers"),
            http_method: Some("POST"),
            signature: Some(&self.signature),
            body: self.body.as_bytes(),
        }
    }
}

fn sign(
    store: &KeyStore,
    body: &str,
    destination: Option<&'static str>,
    date: Option<&'static str>,
) -> Signed {
    let signature = jws::sign(
        store.signing("perffsp1").unwrap(),
        &SignInput {
            method: "POST",
            uri: "/transfers",
            source: "perffsp1",
            destination,
            date,
            body: body.as_bytes(),
        },
    )
    .unwrap();
    Signed {
        signature,
        destination,
        date,
        body: body.to_owned(),
    }
}

#[test]
fn both_algorithms_sign_and_verify_with_and_without_optional_headers() {
    for alg in [Alg::RS256, Alg::ES256] {
        let store = store_for(alg, "perffsp1");
        assert_eq!(store.signing("perffsp1").unwrap().alg(), alg);
        for (dest, date) in [
            (Some("perffsp5"), Some(DATE)),
            (None, None),
            (Some("perffsp5"), None),
            (None, Some(DATE)),
        ] {
            let s = sign(&store, BODY, dest, date);
            let protected = jws::SignatureHeader::parse(&s.signature)
                .unwrap()
                .protected()
                .unwrap();
            assert_eq!(protected.alg, alg.as_str());
            assert_eq!(protected.destination.as_deref(), dest);
            assert_eq!(protected.date.as_deref(), date);
            assert_eq!(
                jws::verify(&store, &s.input(), VerifyMode::Raw),
                Ok(()),
                "{alg} {dest:?} {date:?}"
            );
            assert_eq!(jws::verify(&store, &s.input(), VerifyMode::Strict), Ok(()));
        }
    }
}

#[test]
fn es256_signatures_are_raw_r_s() {
    let store = store_for(Alg::ES256, "perffsp1");
    let s = sign(&store, BODY, None, None);
    let header = jws::SignatureHeader::parse(&s.signature).unwrap();
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.signature)
        .unwrap();
    assert_eq!(raw.len(), 64, "JOSE ES256 is r||s, not DER");
}

#[test]
fn the_validators_checks_fail_with_3105() {
    let store = store_for(Alg::RS256, "perffsp1");
    let good = sign(&store, BODY, Some("perffsp5"), Some(DATE));
    let check = |input: VerifyInput<'_>| jws::verify(&store, &input, VerifyMode::Raw);
    let base = good.input();

    let cases: Vec<(VerifyInput<'_>, JwsError)> = vec![
        (VerifyInput { body: b"", ..base }, JwsError::NoBody),
        (
            VerifyInput {
                source: None,
                ..base
            },
            JwsError::MissingSource,
        ),
        (
            VerifyInput {
                source: Some("nobody"),
                ..base
            },
            JwsError::UnknownKey("nobody".into()),
        ),
        (
            VerifyInput { uri: None, ..base },
            JwsError::MissingHeader("FSPIOP-URI"),
        ),
        (
            VerifyInput {
                http_method: None,
                ..base
            },
            JwsError::MissingHeader("FSPIOP-HTTP-Method"),
        ),
        (
            VerifyInput {
                signature: None,
                ..base
            },
            JwsError::MissingHeader("FSPIOP-Signature"),
        ),
        (
            VerifyInput {
                signature: Some("not json"),
                ..base
            },
            JwsError::BadSignatureHeader,
        ),
        (
            VerifyInput {
                signature: Some(r#"{"protectedHeader":"!!","signature":"x"}"#),
                ..base
            },
            JwsError::BadProtectedHeader,
        ),
        (
            VerifyInput {
                body: br#"{"amount":{"amount":"101","currency":"XXX"}}"#,
                ..base
            },
            JwsError::BadSignature,
        ),
        (
            VerifyInput {
                uri: Some("/transfers/x"),
                ..base
            },
            JwsError::Mismatch("FSPIOP-URI"),
        ),
        (
            VerifyInput {
                http_method: Some("PUT"),
                ..base
            },
            JwsError::Mismatch("FSPIOP-HTTP-Method"),
        ),
        (
            VerifyInput { date: None, ..base },
            JwsError::Mismatch("Date"),
        ),
        (
            VerifyInput {
                date: Some("Wed, 02 Jul 2025 10:00:00 GMT"),
                ..base
            },
            JwsError::Mismatch("Date"),
        ),
        (
            VerifyInput {
                destination: None,
                ..base
            },
            JwsError::Mismatch("FSPIOP-Destination"),
        ),
        (
            VerifyInput {
                destination: Some("perffsp6"),
                ..base
            },
            JwsError::Mismatch("FSPIOP-Destination"),
        ),
    ];
    for (input, expected) in cases {
        let err = check(input).unwrap_err();
        assert_eq!(err, expected);
        assert_eq!(err.code(), ErrorCode::InvalidSignature);
    }

    // A destination header added to a request signed without one.
    let no_dest = sign(&store, BODY, None, None);
    assert_eq!(
        check(VerifyInput {
            destination: Some("perffsp5"),
            ..no_dest.input()
        }),
        Err(JwsError::Mismatch("FSPIOP-Destination"))
    );

    // Source spoofing: perffsp2's key signs, but the request claims perffsp1.
    let mut other = store_for(Alg::RS256, "perffsp2");
    other.insert_signing(
        "perffsp1",
        SigningKey::from_pem(generate_pem(Alg::RS256).unwrap().0.as_bytes()).unwrap(),
    );
    let spoofed = sign(&other, BODY, None, None);
    assert_eq!(check(spoofed.input()), Err(JwsError::BadSignature));
}

#[test]
fn alg_must_be_allowed_and_match_the_key() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let store = store_for(Alg::RS256, "perffsp1");
    let s = sign(&store, BODY, None, None);
    let header = jws::SignatureHeader::parse(&s.signature).unwrap();
    for (alg, expected) in [
        ("none", JwsError::BadAlg("none".into())),
        ("PS256", JwsError::BadAlg("PS256".into())),
        (
            "ES256",
            JwsError::KeyTypeMismatch {
                alg: Alg::ES256,
                source_fsp: "perffsp1".into(),
            },
        ),
    ] {
        let forged = format!(
            r#"{{"alg":"{alg}","FSPIOP-URI":"/transfers","FSPIOP-HTTP-Method":"POST","FSPIOP-Source":"perffsp1"}}"#
        );
        let value = format!(
            r#"{{"protectedHeader":"{}","signature":"{}"}}"#,
            b64.encode(forged),
            header.signature
        );
        let input = VerifyInput {
            signature: Some(&value),
            ..s.input()
        };
        assert_eq!(jws::verify(&store, &input, VerifyMode::Raw), Err(expected));
    }
}

#[test]
fn raw_and_strict_modes_differ_exactly_on_key_order() {
    // Like the testing toolkit 18.13: signed over the bytes in the order it was given.
    let unsorted = r#"{"transferId":"b51ec534-ee48-4575-b6a9-ead2955b8069","amount":{"currency":"XXX","amount":"100"}}"#;
    assert_ne!(
        canonicalize(unsorted.as_bytes()).unwrap(),
        unsorted.as_bytes()
    );
    for alg in [Alg::RS256, Alg::ES256] {
        let store = store_for(alg, "perffsp1");
        let s = sign(&store, unsorted, None, None);
        assert_eq!(jws::verify(&store, &s.input(), VerifyMode::Raw), Ok(()));
        assert_eq!(
            jws::verify(&store, &s.input(), VerifyMode::Strict),
            Err(JwsError::BadSignature)
        );
        let not_json = sign(&store, "plain text", None, None);
        assert_eq!(
            jws::verify(&store, &not_json.input(), VerifyMode::Raw),
            Ok(())
        );
        assert_eq!(
            jws::verify(&store, &not_json.input(), VerifyMode::Strict),
            Err(JwsError::BodyNotJson)
        );
    }
}

#[test]
fn every_pem_format_loads() {
    let rsa = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let rsa_pkcs1 = rsa.rsa().unwrap().private_key_to_pem().unwrap();
    assert!(String::from_utf8_lossy(&rsa_pkcs1).contains("BEGIN RSA PRIVATE KEY"));
    let rsa_pkcs8 = rsa.private_key_to_pem_pkcs8().unwrap();
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    let ec = PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap();
    let ec_sec1 = ec.ec_key().unwrap().private_key_to_pem().unwrap();
    let ec_pkcs8 = ec.private_key_to_pem_pkcs8().unwrap();
    for (pem, alg) in [
        (&rsa_pkcs1, Alg::RS256),
        (&rsa_pkcs8, Alg::RS256),
        (&ec_sec1, Alg::ES256),
        (&ec_pkcs8, Alg::ES256),
    ] {
        assert_eq!(SigningKey::from_pem(pem).unwrap().alg(), alg);
    }
    let rsa_spki = rsa.public_key_to_pem().unwrap();
    let rsa_pub_pkcs1 = rsa.rsa().unwrap().public_key_to_pem_pkcs1().unwrap();
    let ec_spki = ec.public_key_to_pem().unwrap();
    let cert = self_signed(&rsa);
    for (pem, alg) in [
        (&rsa_spki, Alg::RS256),
        (&rsa_pub_pkcs1, Alg::RS256),
        (&ec_spki, Alg::ES256),
        (&cert, Alg::RS256),
    ] {
        assert_eq!(VerifyingKey::from_pem(pem).unwrap().alg(), alg);
    }
    // A certificate verifies what its key signed.
    let signer = SigningKey::from_pem(&rsa_pkcs1).unwrap();
    let sig = signer.sign_raw(b"abc").unwrap();
    assert!(VerifyingKey::from_pem(&cert)
        .unwrap()
        .verify_raw(b"abc", &sig));

    // Rejected: small RSA, other curves, garbage.
    let small = PKey::from_rsa(openssl::rsa::Rsa::generate(1024).unwrap()).unwrap();
    assert!(matches!(
        SigningKey::from_pem(&small.private_key_to_pem_pkcs8().unwrap()),
        Err(jws::KeyError::Unsupported(_))
    ));
    assert!(matches!(
        VerifyingKey::from_pem(&small.public_key_to_pem().unwrap()),
        Err(jws::KeyError::Unsupported(_))
    ));
    let p384 = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::SECP384R1).unwrap();
    let p384 = PKey::from_ec_key(openssl::ec::EcKey::generate(&p384).unwrap()).unwrap();
    assert!(matches!(
        SigningKey::from_pem(&p384.private_key_to_pem_pkcs8().unwrap()),
        Err(jws::KeyError::Unsupported(_))
    ));
    assert!(matches!(
        SigningKey::from_pem(b"-----BEGIN NOTHING-----"),
        Err(jws::KeyError::Pem(_))
    ));
}

fn self_signed(key: &PKey<openssl::pkey::Private>) -> Vec<u8> {
    let mut name = openssl::x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "perffsp1 TEST ONLY")
        .unwrap();
    let name = name.build();
    let mut b = openssl::x509::X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    b.sign(key, openssl::hash::MessageDigest::sha256()).unwrap();
    b.build().to_pem().unwrap()
}

#[test]
fn key_files_in_the_hubs_layout() {
    let (rsa_priv, rsa_pub) = keys(Alg::RS256);
    let (ec_priv, ec_pub) = keys(Alg::ES256);
    let files = [
        ("dir/perffsp1.key", rsa_priv.as_bytes()),
        ("dir/perffsp1.pem", rsa_pub.as_bytes()),
        ("dir/perffsp2.key", ec_priv.as_bytes()),
        ("dir/perffsp2.pem", ec_pub.as_bytes()),
        ("dir/perffsp3.pem", rsa_pub.as_bytes()),
        ("dir/README.md", b"ignored".as_slice()),
        ("dir/noext", b"ignored".as_slice()),
    ];
    let store = KeyStore::from_pem_files(files).unwrap();
    assert_eq!(store.signing_ids(), ["perffsp1", "perffsp2"]);
    assert_eq!(store.verifying_ids(), ["perffsp1", "perffsp2", "perffsp3"]);
    assert_eq!(store.signing("perffsp2").unwrap().alg(), Alg::ES256);
    assert_eq!(
        fspiop::jws::key_file_name("a/b/perffsp9.key"),
        Some(("perffsp9", "key"))
    );
    assert_eq!(fspiop::jws::key_file_name("perffsp9.crt"), None);

    let err = KeyStore::from_pem_files([("dir/broken.pem", b"nope".as_slice())])
        .unwrap_err()
        .to_string();
    assert!(err.contains("dir/broken.pem"), "{err}");
}
