//! rustls configurations for FSPIOP mTLS, and a test PKI generator (`perfbed pki`).
//!
//! Inbound: a server certificate, and optionally a client CA — then every client must present a
//! certificate that CA signed. Outbound: the server CA to trust, and optionally a client
//! certificate. All crypto runs on rustls' `ring` provider; HTTP/1.1 only (what the hub speaks).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A TLS configuration problem, naming the file or setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no usable PEM certificate or key.
    #[error("{what}: {detail}")]
    Pem {
        /// Which input.
        what: String,
        /// What is wrong.
        detail: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built.
    #[error("client CA: {0}")]
    Verifier(String),
    /// Generating test certificates failed.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem {
            what: what.to_owned(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what: what.to_owned(),
            detail: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

fn key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsError::Pem {
        what: what.to_owned(),
        detail: e.to_string(),
    })
}

fn roots(pem: &[u8], what: &str) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for c in certs(pem, what)? {
        store.add(c).map_err(TlsError::Rustls)?;
    }
    Ok(store)
}

/// Files for serving TLS: certificate chain and key, and the CA that client certificates must
/// chain to (mTLS) when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// PEM CA for client certificates; `None` = server-side TLS only.
    pub client_ca: Option<PathBuf>,
}

impl ServerTlsFiles {
    /// Reads the files and builds the rustls configuration.
    pub fn load(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let ca = self.client_ca.as_deref().map(read).transpose()?;
        server_config(&read(&self.cert)?, &read(&self.key)?, ca.as_deref())
    }
}

/// Server configuration from PEM bytes; with `client_ca`, client certificates are required.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: Option<&[u8]>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match client_ca_pem {
        Some(ca) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(ca, "client CA")?),
                provider(),
            )
            .build()
            .map_err(|e| TlsError::Verifier(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(
        certs(cert_pem, "server certificate")?,
        key(key_pem, "server key")?,
    )?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Files for calling out over TLS: the CA to trust, and a client certificate for mTLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTlsFiles {
    /// PEM CA that server certificates must chain to.
    pub ca: PathBuf,
    /// PEM client certificate and key, for mTLS.
    pub identity: Option<(PathBuf, PathBuf)>,
}

impl ClientTlsFiles {
    /// Reads the files and builds the rustls configuration.
    pub fn load(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let identity = match &self.identity {
            Some((c, k)) => Some((read(c)?, read(k)?)),
            None => None,
        };
        client_config(
            &read(&self.ca)?,
            identity.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
        )
    }
}

/// Client configuration from PEM bytes.
pub fn client_config(
    ca_pem: &[u8],
    identity: Option<(&[u8], &[u8])>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_pem, "server CA")?);
    // No ALPN here: the HTTP client asks for http/1.1 when none is set.
    let config = match identity {
        Some((cert, k)) => builder
            .with_client_auth_cert(certs(cert, "client certificate")?, key(k, "client key")?)?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// A generated certificate and its key, PEM.
#[derive(Debug, Clone)]
pub struct PemPair {
    /// Certificate.
    pub cert: String,
    /// Private key (PKCS#8).
    pub key: String,
}

/// A test PKI: one CA, one server certificate, one client certificate per FSP.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA (signs everything below).
    pub ca: PemPair,
    /// Server certificate for the given names (SANs).
    pub server: PemPair,
    /// `(fsp id, client certificate)`.
    pub clients: Vec<(String, PemPair)>,
}

/// Every subject says so: these certificates are for tests only.
pub const TEST_ONLY: &str = "perfbed TEST ONLY";

/// Generates a test PKI. `server_names` become the server certificate's SANs (DNS names or IP
/// addresses); `fsps` each get a client certificate with the FSP id as common name.
pub fn generate_test_pki(server_names: &[String], fsps: &[String]) -> Result<TestPki, TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{TEST_ONLY} CA"));
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;

    let leaf = |cn: String,
                sans: Vec<String>,
                usage: ExtendedKeyUsagePurpose|
     -> Result<PemPair, TlsError> {
        let mut p = CertificateParams::new(sans)?;
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![usage];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let k = KeyPair::generate()?;
        let c = p.signed_by(&k, &ca_cert, &ca_key)?;
        Ok(PemPair {
            cert: c.pem(),
            key: k.serialize_pem(),
        })
    };
    let server = leaf(
        format!("{TEST_ONLY} server"),
        server_names.to_vec(),
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let clients = fsps
        .iter()
        .map(|f| {
            Ok((
                f.clone(),
                leaf(
                    format!("{f} ({TEST_ONLY})"),
                    vec![f.clone()],
                    ExtendedKeyUsagePurpose::ClientAuth,
                )?,
            ))
        })
        .collect::<Result<_, TlsError>>()?;
    Ok(TestPki {
        ca: PemPair {
            cert: ca_cert.pem(),
            key: ca_key.serialize_pem(),
        },
        server,
        clients,
    })
}
