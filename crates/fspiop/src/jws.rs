//! The Mojaloop JWS profile (`FSPIOP-Signature`, reference §5): detached compact JWS over the
//! body, a protected header that binds the FSPIOP routing headers, RS256 and ES256.
//!
//! * Sign the canonical body bytes and send exactly those bytes ([`sign`]).
//! * Verify with [`verify`]: [`VerifyMode::Raw`] checks the bytes as received (what JWS means,
//!   and what accepts every sender); [`VerifyMode::Strict`] re-serializes the body with sorted
//!   keys first, as the reference validator does, so users can reproduce what a stock DFSP or
//!   hub would reject. Checks run in the reference validator's order; every failure is 3105.
//! * Keys: PEM (RSA PKCS#1/PKCS#8, EC SEC1/PKCS#8 private; SPKI public or X.509 certificate),
//!   collected by FSP id in a [`KeyStore`] that reads the hub's directory layout.
//!
//! Backends chosen by measurement (`docs/benchmarks.md`): RS256 on OpenSSL through `josekit`
//! (2.2× faster than `ring` at signing, the testbed's largest cost), ES256 on `ring` (1.4×
//! faster signing and 1.3× faster verifying than OpenSSL).

use base64::Engine;
use josekit::jws::alg::rsassa::{RsassaJwsSigner, RsassaJwsVerifier};
use josekit::jws::{JwsSigner, JwsVerifier, RS256};
use openssl::pkey::{Id, PKey};
use ring::rand::SystemRandom;
use ring::signature::{self as ring_sig, EcdsaKeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use crate::error::ErrorCode;
use crate::json::canonicalize;

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The algorithms the reference validator accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (Mojaloop's default), keys ≥ 2048 bits.
    RS256,
    /// ECDSA P-256 with SHA-256, signature as raw `r‖s`.
    ES256,
}

impl Alg {
    /// The `alg` header value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
        }
    }

    fn parse(s: &str) -> Option<Alg> {
        match s {
            "RS256" => Some(Alg::RS256),
            "ES256" => Some(Alg::ES256),
            _ => None,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not a PEM key or certificate we can read.
    #[error("not a readable PEM key: {0}")]
    Pem(String),
    /// RSA below 2048 bits, an EC curve other than P-256, or another key type.
    #[error("unsupported key: {0}")]
    Unsupported(&'static str),
    /// Reading a key directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A key file in a directory is bad.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// What is wrong with it.
        source: Box<KeyError>,
    },
}

fn alg_of(pkey_id: Id, bits: u32, ec_ok: bool) -> Result<Alg, KeyError> {
    match pkey_id {
        Id::RSA if bits >= 2048 => Ok(Alg::RS256),
        Id::RSA => Err(KeyError::Unsupported(
            "RSA keys must have at least 2048 bits",
        )),
        Id::EC if ec_ok => Ok(Alg::ES256),
        Id::EC => Err(KeyError::Unsupported("EC keys must be on P-256")),
        _ => Err(KeyError::Unsupported("only RSA and EC P-256 keys")),
    }
}

fn is_p256<T: openssl::pkey::HasPublic>(pkey: &PKey<T>) -> bool {
    pkey.ec_key()
        .ok()
        .and_then(|k| k.group().curve_name())
        .is_some_and(|n| n == openssl::nid::Nid::X9_62_PRIME256V1)
}

enum Signer {
    Rsa(RsassaJwsSigner),
    Ec(EcdsaKeyPair, SystemRandom),
}

/// A private key for signing as one FSP.
pub struct SigningKey {
    alg: Alg,
    signer: Signer,
    /// Signatures made with this key (counted, not estimated: `perfbed bench local` and the
    /// reports divide by it).
    uses: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.alg)
    }
}

impl SigningKey {
    /// From a PEM private key: RSA (PKCS#1 or PKCS#8) → RS256, EC P-256 (SEC1 or PKCS#8) → ES256.
    pub fn from_pem(pem: &[u8]) -> Result<SigningKey, KeyError> {
        let pkey = PKey::private_key_from_pem(pem).map_err(|e| KeyError::Pem(e.to_string()))?;
        let alg = alg_of(pkey.id(), pkey.bits(), is_p256(&pkey))?;
        // josekit reads DER; PKCS#8 covers both key types.
        let der = pkey
            .private_key_to_pkcs8()
            .map_err(|e| KeyError::Pem(e.to_string()))?;
        let signer = match alg {
            Alg::RS256 => Signer::Rsa(
                RS256
                    .signer_from_der(&der)
                    .map_err(|e| KeyError::Pem(e.to_string()))?,
            ),
            Alg::ES256 => {
                let rng = SystemRandom::new();
                let pair = EcdsaKeyPair::from_pkcs8(
                    &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &der,
                    &rng,
                )
                .map_err(|e| KeyError::Pem(e.to_string()))?;
                Signer::Ec(pair, rng)
            }
        };
        Ok(SigningKey {
            alg,
            signer,
            uses: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// Raw JWS signature over `input` (`r‖s` for ES256).
    pub fn sign_raw(&self, input: &[u8]) -> Result<Vec<u8>, JwsError> {
        self.uses.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match &self.signer {
            Signer::Rsa(s) => s.sign(input).map_err(|e| JwsError::Signing(e.to_string())),
            Signer::Ec(pair, rng) => pair
                .sign(rng, input)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| JwsError::Signing("ECDSA signing failed".into())),
        }
    }
}

enum Verifier {
    Rsa(RsassaJwsVerifier),
    /// Uncompressed P-256 point.
    Ec(UnparsedPublicKey<Vec<u8>>),
}

/// A public key for verifying one FSP's signatures.
pub struct VerifyingKey {
    alg: Alg,
    verifier: Verifier,
    /// Signatures checked with this key.
    uses: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({})", self.alg)
    }
}

impl VerifyingKey {
    /// From a PEM SPKI public key (`PUBLIC KEY`), PKCS#1 RSA public key or X.509 certificate.
    pub fn from_pem(pem: &[u8]) -> Result<VerifyingKey, KeyError> {
        let text = String::from_utf8_lossy(pem);
        let pkey = if text.contains("BEGIN CERTIFICATE") {
            openssl::x509::X509::from_pem(pem)
                .and_then(|c| c.public_key())
                .map_err(|e| KeyError::Pem(e.to_string()))?
        } else if text.contains("BEGIN RSA PUBLIC KEY") {
            openssl::rsa::Rsa::public_key_from_pem_pkcs1(pem)
                .and_then(PKey::from_rsa)
                .map_err(|e| KeyError::Pem(e.to_string()))?
        } else {
            PKey::public_key_from_pem(pem).map_err(|e| KeyError::Pem(e.to_string()))?
        };
        let alg = alg_of(pkey.id(), pkey.bits(), is_p256(&pkey))?;
        let err = |e: openssl::error::ErrorStack| KeyError::Pem(e.to_string());
        let verifier = match alg {
            Alg::RS256 => Verifier::Rsa(
                RS256
                    .verifier_from_der(&pkey.public_key_to_der().map_err(err)?)
                    .map_err(|e| KeyError::Pem(e.to_string()))?,
            ),
            Alg::ES256 => {
                let ec = pkey.ec_key().map_err(err)?;
                let mut ctx = openssl::bn::BigNumContext::new().map_err(err)?;
                let point = ec
                    .public_key()
                    .to_bytes(
                        ec.group(),
                        openssl::ec::PointConversionForm::UNCOMPRESSED,
                        &mut ctx,
                    )
                    .map_err(err)?;
                Verifier::Ec(UnparsedPublicKey::new(
                    &ring_sig::ECDSA_P256_SHA256_FIXED,
                    point,
                ))
            }
        };
        Ok(VerifyingKey {
            alg,
            verifier,
            uses: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The algorithm this key verifies.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// Checks a raw signature over `input`.
    pub fn verify_raw(&self, input: &[u8], signature: &[u8]) -> bool {
        self.uses.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match &self.verifier {
            Verifier::Rsa(v) => v.verify(input, signature).is_ok(),
            Verifier::Ec(key) => key.verify(input, signature).is_ok(),
        }
    }
}

/// A freshly generated key pair as PEM text: `(private, public)`.
///
/// The private key is written the way the Mojaloop SDK reads it: RSA-2048 as PKCS#8
/// (`BEGIN PRIVATE KEY`), EC P-256 as SEC1 (`BEGIN EC PRIVATE KEY`, which is how the SDK
/// recognises ES256). The public key is SPKI (`BEGIN PUBLIC KEY`), the hub's format.
pub fn generate_pem(alg: Alg) -> Result<(String, String), KeyError> {
    let err = |e: openssl::error::ErrorStack| KeyError::Pem(e.to_string());
    let (private, public) = match alg {
        Alg::RS256 => {
            let pkey =
                PKey::from_rsa(openssl::rsa::Rsa::generate(2048).map_err(err)?).map_err(err)?;
            (
                pkey.private_key_to_pem_pkcs8().map_err(err)?,
                pkey.public_key_to_pem().map_err(err)?,
            )
        }
        Alg::ES256 => {
            let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                .map_err(err)?;
            let ec = openssl::ec::EcKey::generate(&group).map_err(err)?;
            let private = ec.private_key_to_pem().map_err(err)?;
            (
                private,
                PKey::from_ec_key(ec)
                    .map_err(err)?
                    .public_key_to_pem()
                    .map_err(err)?,
            )
        }
    };
    let text = |v: Vec<u8>| String::from_utf8(v).map_err(|e| KeyError::Pem(e.to_string()));
    Ok((text(private)?, text(public)?))
}

/// `(fspId, "pem" | "key")` of a key file's path in the hub's layout, or `None` for any
/// other file.
pub fn key_file_name(path: &str) -> Option<(&str, &str)> {
    let path = Path::new(path);
    let stem = path.file_stem()?.to_str()?;
    let ext = path.extension()?.to_str()?;
    matches!(ext, "pem" | "key").then_some((stem, ext))
}

/// Keys by FSP id: public keys of peers, private keys of the FSPs this process signs as.
#[derive(Debug, Default)]
pub struct KeyStore {
    verifying: HashMap<String, VerifyingKey>,
    signing: HashMap<String, SigningKey>,
}

impl KeyStore {
    /// An empty store.
    pub fn new() -> KeyStore {
        KeyStore::default()
    }

    /// A store from key files in the hub's layout, already read: `(path, bytes)` pairs where
    /// `<fspId>.pem` is a public key or certificate (as in `JWS_VERIFICATION_KEYS_DIRECTORY`)
    /// and `<fspId>.key` a private key. Other names are ignored; a later file for the same FSP
    /// replaces an earlier one. Reading the directory is the caller's (`perfbed_http::keys`):
    /// this crate does no I/O. Errors name the file's `path`.
    pub fn from_pem_files<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<KeyStore, KeyError> {
        let mut store = KeyStore::new();
        for (path, pem) in files {
            let Some((stem, ext)) = key_file_name(path) else {
                continue;
            };
            let wrap = |source| KeyError::File {
                path: path.to_owned(),
                source: Box::new(source),
            };
            if ext == "pem" {
                store.insert_verifying(stem, VerifyingKey::from_pem(pem).map_err(wrap)?);
            } else {
                store.insert_signing(stem, SigningKey::from_pem(pem).map_err(wrap)?);
            }
        }
        Ok(store)
    }

    /// Adds or replaces a peer's public key.
    pub fn insert_verifying(&mut self, fsp: &str, key: VerifyingKey) {
        self.verifying.insert(fsp.to_owned(), key);
    }

    /// Adds or replaces a private key to sign as `fsp`.
    pub fn insert_signing(&mut self, fsp: &str, key: SigningKey) {
        self.signing.insert(fsp.to_owned(), key);
    }

    /// The public key of `fsp`.
    pub fn verifying(&self, fsp: &str) -> Option<&VerifyingKey> {
        self.verifying.get(fsp)
    }

    /// The private key to sign as `fsp`.
    pub fn signing(&self, fsp: &str) -> Option<&SigningKey> {
        self.signing.get(fsp)
    }

    /// Signatures made and signatures checked with this store's keys so far (`(signs,
    /// verifies)`): each process part — a simulator, the hub emulator — has its own store, so
    /// these are its own operations, counted as they happen.
    pub fn operations(&self) -> (u64, u64) {
        let n = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        (
            self.signing.values().map(|k| n(&k.uses)).sum(),
            self.verifying.values().map(|k| n(&k.uses)).sum(),
        )
    }

    /// FSP ids with a public key, sorted.
    pub fn verifying_ids(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.verifying.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// FSP ids with a private key, sorted.
    pub fn signing_ids(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.signing.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

/// The protected header, serialized in the order the SDK builds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedHeader {
    /// `RS256` or `ES256`.
    pub alg: String,
    /// = `FSPIOP-URI` header.
    #[serde(rename = "FSPIOP-URI", skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// = `FSPIOP-HTTP-Method` header.
    #[serde(rename = "FSPIOP-HTTP-Method", skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    /// = `FSPIOP-Source` header.
    #[serde(rename = "FSPIOP-Source", skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// = `FSPIOP-Destination` header, iff that header is sent.
    #[serde(rename = "FSPIOP-Destination", skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// = `Date` header, when sent.
    #[serde(rename = "Date", skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
}

/// The `FSPIOP-Signature` header value: `{"protectedHeader":"…","signature":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureHeader {
    /// base64url of the protected header JSON.
    pub protected_header: String,
    /// base64url of the signature.
    pub signature: String,
}

impl SignatureHeader {
    /// Parses the header value (a JSON object with two strings; other members are ignored).
    pub fn parse(s: &str) -> Result<SignatureHeader, JwsError> {
        serde_json::from_str(s).map_err(|_| JwsError::BadSignatureHeader)
    }

    /// The header value (keys sorted, compact, as the SDK emits it).
    pub fn to_header_value(&self) -> String {
        serde_json::to_string(self).expect("two strings serialize")
    }

    /// Decodes the protected header.
    pub fn protected(&self) -> Result<ProtectedHeader, JwsError> {
        let bytes = B64URL
            .decode(&self.protected_header)
            .map_err(|_| JwsError::BadProtectedHeader)?;
        serde_json::from_slice(&bytes).map_err(|_| JwsError::BadProtectedHeader)
    }
}

/// Why a signature could not be made or did not verify. Every verification failure is 3105.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// There is no body to verify (only POST/PUT/PATCH are signed).
    #[error("no body to verify")]
    NoBody,
    /// `FSPIOP-Source` is missing.
    #[error("FSPIOP-Source header missing")]
    MissingSource,
    /// No public key for the source.
    #[error("no public key for '{0}'")]
    UnknownKey(String),
    /// One of `FSPIOP-URI`, `FSPIOP-HTTP-Method`, `FSPIOP-Signature` is missing.
    #[error("{0} header missing")]
    MissingHeader(&'static str),
    /// `FSPIOP-Signature` is not the expected JSON.
    #[error("FSPIOP-Signature is not valid JSON with protectedHeader and signature")]
    BadSignatureHeader,
    /// The protected header does not decode to a JSON object.
    #[error("protected header is not base64url JSON")]
    BadProtectedHeader,
    /// `alg` missing or not RS256/ES256.
    #[error("alg '{0}' not allowed (RS256 or ES256)")]
    BadAlg(String),
    /// `alg` does not match the source's key type.
    #[error("alg {alg} does not match the key type of '{source_fsp}'")]
    KeyTypeMismatch {
        /// Claimed algorithm.
        alg: Alg,
        /// The FSP whose key was used.
        source_fsp: String,
    },
    /// The body is not JSON (strict mode re-serializes it).
    #[error("body is not JSON")]
    BodyNotJson,
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// A protected header field is missing.
    #[error("protected header lacks {0}")]
    ProtectedMissing(&'static str),
    /// A protected header field differs from the HTTP header (or is present on one side only).
    #[error("{0} in the protected header does not match the HTTP header")]
    Mismatch(&'static str),
    /// No private key to sign as this FSP.
    #[error("no signing key for '{0}'")]
    NoSigningKey(String),
    /// The crypto library failed to sign.
    #[error("signing failed: {0}")]
    Signing(String),
}

impl JwsError {
    /// The FSPIOP code: 3105 for every verification failure, 2001 for our own signing failures.
    pub fn code(&self) -> ErrorCode {
        match self {
            JwsError::NoSigningKey(_) | JwsError::Signing(_) => ErrorCode::InternalServerError,
            _ => ErrorCode::InvalidSignature,
        }
    }
}

/// Cuts a URL or path at its last resource segment, as the SDK derives `FSPIOP-URI`
/// (`https://hub/prefix/parties/MSISDN/1` → `/parties/MSISDN/1`; the query is kept).
pub fn fspiop_uri(url: &str) -> Option<&str> {
    const RESOURCES: [&str; 13] = [
        "participants",
        "parties",
        "quotes",
        "bulkQuotes",
        "transfers",
        "bulkTransfers",
        "transactionRequests",
        "thirdpartyRequests",
        "authorizations",
        "consents",
        "consentRequests",
        "fxQuotes",
        "fxTransfers",
    ];
    let mut best = None;
    for (i, _) in url.match_indices('/') {
        let rest = &url[i + 1..];
        let hit = RESOURCES.iter().any(|r| {
            rest.strip_prefix(r)
                .is_some_and(|after| after.is_empty() || after.starts_with('/'))
        });
        if hit {
            best = Some(i);
        }
    }
    best.map(|i| &url[i..])
}

/// What is signed: the routing headers and the exact body bytes that will be sent.
#[derive(Debug, Clone, Copy)]
pub struct SignInput<'a> {
    /// HTTP method, upper case.
    pub method: &'a str,
    /// `FSPIOP-URI` value (path from the resource segment on).
    pub uri: &'a str,
    /// `FSPIOP-Source`.
    pub source: &'a str,
    /// `FSPIOP-Destination`, iff the header is sent.
    pub destination: Option<&'a str>,
    /// `Date`, iff the header is sent.
    pub date: Option<&'a str>,
    /// Body bytes (send compact JSON with sorted keys; see [`crate::json`]).
    pub body: &'a [u8],
}

/// Signs a request; returns the `FSPIOP-Signature` header value. The request must also carry
/// `FSPIOP-URI` and `FSPIOP-HTTP-Method` headers equal to `input.uri` and `input.method`.
pub fn sign(key: &SigningKey, input: &SignInput<'_>) -> Result<String, JwsError> {
    let header = ProtectedHeader {
        alg: key.alg().as_str().to_owned(),
        uri: Some(input.uri.to_owned()),
        http_method: Some(input.method.to_owned()),
        source: Some(input.source.to_owned()),
        destination: input.destination.map(str::to_owned),
        date: input.date.map(str::to_owned),
    };
    let header_json = serde_json::to_vec(&header).expect("strings serialize");
    let protected = B64URL.encode(header_json);
    let mut signing_input =
        String::with_capacity(protected.len() + 1 + input.body.len() * 4 / 3 + 4);
    signing_input.push_str(&protected);
    signing_input.push('.');
    B64URL.encode_string(input.body, &mut signing_input);
    let sig = key.sign_raw(signing_input.as_bytes())?;
    Ok(SignatureHeader {
        protected_header: protected,
        signature: B64URL.encode(sig),
    }
    .to_header_value())
}

/// How the body is turned into the JWS payload when verifying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    /// Over the body bytes as received (JWS semantics; accepts every correct sender).
    #[default]
    Raw,
    /// Over the body re-serialized compact with sorted keys, like the reference validator.
    Strict,
}

/// The parts of a received request that verification looks at (header values as received).
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyInput<'a> {
    /// `FSPIOP-Source`.
    pub source: Option<&'a str>,
    /// `FSPIOP-Destination`.
    pub destination: Option<&'a str>,
    /// `Date`.
    pub date: Option<&'a str>,
    /// `FSPIOP-URI`.
    pub uri: Option<&'a str>,
    /// `FSPIOP-HTTP-Method`.
    pub http_method: Option<&'a str>,
    /// `FSPIOP-Signature`.
    pub signature: Option<&'a str>,
    /// The body bytes.
    pub body: &'a [u8],
}

fn nonempty(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.is_empty())
}

/// Verifies a request's `FSPIOP-Signature`, in the reference validator's order (§5.3).
pub fn verify(store: &KeyStore, input: &VerifyInput<'_>, mode: VerifyMode) -> Result<(), JwsError> {
    // 1. body, source, key
    if input.body.is_empty() {
        return Err(JwsError::NoBody);
    }
    let source = nonempty(input.source).ok_or(JwsError::MissingSource)?;
    let key = store
        .verifying(source)
        .ok_or_else(|| JwsError::UnknownKey(source.to_owned()))?;
    // 2. signature headers
    let uri = nonempty(input.uri).ok_or(JwsError::MissingHeader("FSPIOP-URI"))?;
    let method =
        nonempty(input.http_method).ok_or(JwsError::MissingHeader("FSPIOP-HTTP-Method"))?;
    let sig_header =
        nonempty(input.signature).ok_or(JwsError::MissingHeader("FSPIOP-Signature"))?;
    // 3. the signature itself
    let sig = SignatureHeader::parse(sig_header)?;
    let protected = sig.protected()?;
    let alg = Alg::parse(&protected.alg).ok_or_else(|| JwsError::BadAlg(protected.alg.clone()))?;
    if alg != key.alg() {
        return Err(JwsError::KeyTypeMismatch {
            alg,
            source_fsp: source.to_owned(),
        });
    }
    let signature = B64URL
        .decode(&sig.signature)
        .map_err(|_| JwsError::BadSignature)?;
    let canonical;
    let payload = match mode {
        VerifyMode::Raw => input.body,
        VerifyMode::Strict => {
            canonical = canonicalize(input.body).map_err(|_| JwsError::BodyNotJson)?;
            &canonical
        }
    };
    let mut signing_input =
        String::with_capacity(sig.protected_header.len() + 1 + payload.len() * 4 / 3 + 4);
    signing_input.push_str(&sig.protected_header);
    signing_input.push('.');
    B64URL.encode_string(payload, &mut signing_input);
    if !key.verify_raw(signing_input.as_bytes(), &signature) {
        return Err(JwsError::BadSignature);
    }
    // 4. protected header vs HTTP headers
    let p_uri =
        nonempty(protected.uri.as_deref()).ok_or(JwsError::ProtectedMissing("FSPIOP-URI"))?;
    if p_uri != uri {
        return Err(JwsError::Mismatch("FSPIOP-URI"));
    }
    let p_method = nonempty(protected.http_method.as_deref())
        .ok_or(JwsError::ProtectedMissing("FSPIOP-HTTP-Method"))?;
    if p_method != method {
        return Err(JwsError::Mismatch("FSPIOP-HTTP-Method"));
    }
    let p_source =
        nonempty(protected.source.as_deref()).ok_or(JwsError::ProtectedMissing("FSPIOP-Source"))?;
    if p_source != source {
        return Err(JwsError::Mismatch("FSPIOP-Source"));
    }
    if let Some(p_date) = nonempty(protected.date.as_deref()) {
        if nonempty(input.date) != Some(p_date) {
            return Err(JwsError::Mismatch("Date"));
        }
    }
    let destination = nonempty(input.destination);
    if destination != nonempty(protected.destination.as_deref()) {
        return Err(JwsError::Mismatch("FSPIOP-Destination"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fspiop_uri_cuts_at_the_last_resource() {
        assert_eq!(
            fspiop_uri("http://hub.example/transfers"),
            Some("/transfers")
        );
        assert_eq!(
            fspiop_uri("https://hub/prefix/parties/MSISDN/1"),
            Some("/parties/MSISDN/1")
        );
        assert_eq!(fspiop_uri("/quotes/abc/error"), Some("/quotes/abc/error"));
        assert_eq!(
            fspiop_uri("http://h/transfers/x/parties/MSISDN/2?y=1"),
            Some("/parties/MSISDN/2?y=1")
        );
        assert_eq!(fspiop_uri("http://h/partiesX"), None);
        assert_eq!(fspiop_uri("http://h/other"), None);
    }
}
