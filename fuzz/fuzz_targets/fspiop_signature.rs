//! `FSPIOP-Signature` parsing and verification never panic, whatever the header and body.
#![no_main]
use fspiop::jws::{self, Alg, KeyStore, SignatureHeader, VerifyInput, VerifyMode, VerifyingKey};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn store() -> &'static KeyStore {
    static STORE: OnceLock<KeyStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let mut s = KeyStore::new();
        for (fsp, alg) in [("rsa", Alg::RS256), ("ec", Alg::ES256)] {
            let (_, public) = jws::generate_pem(alg).expect("keygen");
            s.insert_verifying(fsp, VerifyingKey::from_pem(public.as_bytes()).expect("key"));
        }
        s
    })
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (header, body) = data.split_at(split);
    let header = String::from_utf8_lossy(header);
    if let Ok(h) = SignatureHeader::parse(&header) {
        let _ = h.protected();
    }
    for source in ["rsa", "ec"] {
        let input = VerifyInput {
            source: Some(source),
            destination: None,
            date: None,
            uri: Some("/transfers"),
            http_method: Some("POST"),
            signature: Some(&header),
            body,
        };
        let _ = jws::verify(store(), &input, VerifyMode::Raw);
        let _ = jws::verify(store(), &input, VerifyMode::Strict);
    }
});
