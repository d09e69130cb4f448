//! RS256 sign/verify cost per provider, one thread, thread CPU time. Prints one JSON line per
//! measurement. TLS: handshakes per second (in memory) and bulk AES-GCM throughput for rustls
//! with the ring and aws-lc-rs providers.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn time_per_op(min: Duration, mut op: impl FnMut()) -> (f64, u64) {
    for _ in 0..10 {
        op();
    }
    let t0 = thread_cpu();
    let mut n = 0u64;
    while thread_cpu() - t0 < min {
        for _ in 0..10 {
            op();
        }
        n += 10;
    }
    ((thread_cpu() - t0).as_secs_f64() * 1e6 / n as f64, n)
}

fn report(provider: &str, op: &str, us: f64, n: u64) {
    println!(
        "{{\"provider\":\"{provider}\",\"op\":\"{op}\",\"us\":{us:.2},\"per_s\":{:.0},\"n\":{n}}}",
        1e6 / us
    );
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let min = Duration::from_secs_f64(secs);
    // The project's key: RSA-2048, e = 65537, generated as perfbed does (openssl), PKCS#8.
    let rsa = openssl::rsa::Rsa::generate(2048).expect("rsa");
    let pkey = openssl::pkey::PKey::from_rsa(rsa).expect("pkey");
    let pkcs8 = pkey.private_key_to_pkcs8().expect("pkcs8");
    let spki_der = pkey.public_key_to_der().expect("spki");
    let pkcs1_pub = pkey.rsa().expect("rsa").public_key_to_der_pkcs1().expect("pkcs1");
    let input: Vec<u8> = (0..720u32).map(|i| b'A' + (i % 26) as u8).collect();
    let ossl = format!("openssl {}", openssl::version::version());

    // OpenSSL (whichever this binary links).
    {
        use openssl::hash::MessageDigest;
        use openssl::sign::{Signer, Verifier};
        let sig = {
            let mut s = Signer::new(MessageDigest::sha256(), &pkey).expect("signer");
            s.update(&input).expect("update");
            s.sign_to_vec().expect("sign")
        };
        let (us, n) = time_per_op(min, || {
            let mut s = Signer::new(MessageDigest::sha256(), &pkey).expect("signer");
            s.update(&input).expect("update");
            std::hint::black_box(s.sign_to_vec().expect("sign"));
        });
        report(&ossl, "rs256_sign", us, n);
        let (us, n) = time_per_op(min / 2, || {
            let mut v = Verifier::new(MessageDigest::sha256(), &pkey).expect("verifier");
            v.update(&input).expect("update");
            assert!(v.verify(&sig).expect("verify"));
        });
        report(&ossl, "rs256_verify", us, n);
    }
    // Only the system-OpenSSL build runs the others (one sitting, one binary each).
    if cfg!(feature = "vendored") {
        return;
    }
    // aws-lc-rs.
    {
        use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair, UnparsedPublicKey};
        let kp = RsaKeyPair::from_pkcs8(&pkcs8).expect("aws-lc key");
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut sig = vec![0u8; kp.public_modulus_len()];
        let (us, n) = time_per_op(min, || {
            kp.sign(&signature::RSA_PKCS1_SHA256, &rng, &input, &mut sig)
                .expect("sign");
        });
        report("aws-lc-rs", "rs256_sign", us, n);
        let _ = kp.public_key();
        let pk = UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &pkcs1_pub);
        let (us, n) = time_per_op(min / 2, || {
            pk.verify(&input, &sig).expect("verify");
        });
        report("aws-lc-rs", "rs256_verify", us, n);
    }
    // ring.
    {
        use ring::signature::{self, RsaKeyPair, UnparsedPublicKey};
        let kp = RsaKeyPair::from_pkcs8(&pkcs8).expect("ring key");
        let rng = ring::rand::SystemRandom::new();
        let mut sig = vec![0u8; kp.public().modulus_len()];
        let (us, n) = time_per_op(min, || {
            kp.sign(&signature::RSA_PKCS1_SHA256, &rng, &input, &mut sig)
                .expect("sign");
        });
        report("ring", "rs256_sign", us, n);
        let pk = UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &pkcs1_pub);
        let (us, n) = time_per_op(min / 2, || {
            pk.verify(&input, &sig).expect("verify");
        });
        report("ring", "rs256_verify", us, n);
    }
    let _ = spki_der;
    tls(min);
}

/// rustls in memory: full mTLS handshakes (ECDSA P-256 certs, as perfbed's test PKI) and
/// 16 KB records, per provider.
fn tls(min: Duration) {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let srv_key = rcgen::KeyPair::generate().expect("key");
    let srv = rcgen::CertificateParams::new(vec!["localhost".into()])
        .expect("params")
        .signed_by(&srv_key, &ca, &ca_key)
        .expect("srv");
    let cli_key = rcgen::KeyPair::generate().expect("key");
    let cli = rcgen::CertificateParams::new(vec!["client".into()])
        .expect("params")
        .signed_by(&cli_key, &ca, &ca_key)
        .expect("cli");
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let der = |c: &rcgen::Certificate| CertificateDer::from(c.der().to_vec());
    let key = |k: &rcgen::KeyPair| PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(k.serialize_der()));
    for (name, provider) in [
        ("ring", Arc::new(rustls::crypto::ring::default_provider())),
        (
            "aws-lc-rs",
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        ),
    ] {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der(&ca)).expect("root");
        let roots = Arc::new(roots);
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .expect("verifier");
        let server = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_client_cert_verifier(verifier)
                .with_single_cert(vec![der(&srv), der(&ca)], key(&srv_key))
                .expect("server"),
        );
        let client = Arc::new(
            rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots)
                .with_client_auth_cert(vec![der(&cli), der(&ca)], key(&cli_key))
                .expect("client"),
        );
        let connect = || {
            let mut c = rustls::ClientConnection::new(client.clone(), "localhost".try_into().expect("name"))
                .expect("client conn");
            let mut s = rustls::ServerConnection::new(server.clone()).expect("server conn");
            pump(&mut c, &mut s);
            (c, s)
        };
        let (us, n) = time_per_op(min, || {
            std::hint::black_box(connect());
        });
        report(&format!("rustls+{name}"), "mtls_handshake_both_sides", us, n);
        let (mut c, mut s) = connect();
        let chunk = vec![7u8; 16 * 1024];
        let mut sink = vec![0u8; 64 * 1024];
        let (us, n) = time_per_op(min, || {
            c.writer().write_all(&chunk).expect("write");
            let mut buf = Vec::new();
            c.write_tls(&mut buf).expect("tls");
            let mut rd = &buf[..];
            while !rd.is_empty() {
                s.read_tls(&mut rd).expect("read tls");
                s.process_new_packets().expect("process");
            }
            let mut got = 0;
            while got < chunk.len() {
                got += s.reader().read(&mut sink).expect("read");
            }
        });
        report(
            &format!("rustls+{name}"),
            "record_16k_encrypt_decrypt",
            us,
            n,
        );
        println!(
            "{{\"provider\":\"rustls+{name}\",\"op\":\"bulk_mb_s\",\"value\":{:.0}}}",
            16.0 * 1024.0 / us
        );
    }
}

fn pump(c: &mut rustls::ClientConnection, s: &mut rustls::ServerConnection) {
    let mut buf = Vec::new();
    for _ in 0..20 {
        if !c.is_handshaking() && !s.is_handshaking() {
            break;
        }
        buf.clear();
        while c.wants_write() {
            c.write_tls(&mut buf).expect("c write");
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            s.read_tls(&mut rd).expect("s read");
            s.process_new_packets().expect("s process");
        }
        buf.clear();
        while s.wants_write() {
            s.write_tls(&mut buf).expect("s write");
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            c.read_tls(&mut rd).expect("c read");
            c.process_new_packets().expect("c process");
        }
    }
}
