//! Flag groups shared by several commands: inbound and outbound TLS (`sim`, `hub`, `run`),
//! hub URLs and JWS keys (`sim`, `run`).

use anyhow::Result;
use clap::Args;
use perfbed_http::tls::{ClientTlsFiles, ServerTlsFiles};
use std::path::PathBuf;
use std::sync::Arc;

/// Inbound TLS: a server certificate, and a client CA for mTLS.
#[derive(Debug, Args)]
pub(crate) struct ServerTlsArgs {
    /// Server certificate (PEM) for inbound TLS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM) for inbound TLS.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA (PEM) that client certificates must chain to: turns on mTLS for inbound requests.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
}

impl ServerTlsArgs {
    /// The rustls configuration, if TLS is asked for.
    pub fn load(&self) -> Result<Option<Arc<rustls::ServerConfig>>> {
        Ok(match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(
                ServerTlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                    client_ca: self.tls_client_ca.clone(),
                }
                .load()?,
            ),
            _ => None,
        })
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// How inbound connections are secured, for the start banner.
    pub fn describe(&self) -> &'static str {
        match (&self.tls_cert, &self.tls_client_ca) {
            (Some(_), Some(_)) => "mTLS inbound",
            (Some(_), None) => "TLS inbound",
            _ => "plain HTTP inbound",
        }
    }
}

/// Outbound TLS for https:// URLs: the CA to trust and a client certificate for mTLS.
#[derive(Debug, Args)]
pub(crate) struct ClientTlsArgs {
    /// CA (PEM) to trust for https:// URLs this process calls (the hub, or callback endpoints).
    #[arg(long, value_name = "FILE", visible_aliases = ["hub-ca", "callback-ca"])]
    pub outbound_ca: Option<PathBuf>,
    /// Client certificate (PEM) presented on outbound calls (mTLS).
    #[arg(long, value_name = "FILE", requires_all = ["client_key", "outbound_ca"])]
    pub client_cert: Option<PathBuf>,
    /// Client private key (PEM).
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

impl ClientTlsArgs {
    /// The rustls configuration, if a CA was given.
    pub fn load(&self) -> Result<Option<Arc<rustls::ClientConfig>>> {
        Ok(match &self.outbound_ca {
            Some(ca) => Some(
                ClientTlsFiles {
                    ca: ca.clone(),
                    identity: self.client_cert.clone().zip(self.client_key.clone()),
                }
                .load()?,
            ),
            None => None,
        })
    }

    /// A client for an admin API (central-ledger admin, oracle) at `base`, with this TLS: an
    /// `https://` admin API behind a private CA, and a client certificate where it wants mTLS.
    pub fn admin(&self, base: &str) -> Result<ops::Admin> {
        Ok(ops::Admin::new(base, self.client()?))
    }

    /// An HTTP client with this TLS and the default options otherwise.
    pub fn client(&self) -> Result<perfbed_http::HttpClient> {
        Ok(perfbed_http::HttpClient::new(perfbed_http::ClientOptions {
            tls: self.load()?,
            ..perfbed_http::ClientOptions::default()
        }))
    }
}

/// Where the hub is: one base URL, or one per service.
#[derive(Debug, Args)]
pub(crate) struct HubUrlArgs {
    /// Base URL of the hub for everything (one gateway, or the hub emulator).
    #[arg(long, value_name = "URL", env = "PERFBED_HUB")]
    pub hub: String,
    /// Override for /parties and /participants (a real Mojaloop's account-lookup-service).
    #[arg(long, value_name = "URL")]
    pub hub_parties: Option<String>,
    /// Override for /quotes (quoting-service).
    #[arg(long, value_name = "URL")]
    pub hub_quotes: Option<String>,
    /// Override for /transfers (ml-api-adapter).
    #[arg(long, value_name = "URL")]
    pub hub_transfers: Option<String>,
}

impl HubUrlArgs {
    /// The URLs per service.
    pub fn urls(&self) -> sim::HubUrls {
        let base = sim::HubUrls::single(&self.hub);
        sim::HubUrls {
            parties: self.hub_parties.clone().unwrap_or(base.parties),
            quotes: self.hub_quotes.clone().unwrap_or(base.quotes),
            transfers: self.hub_transfers.clone().unwrap_or(base.transfers),
        }
    }
}

/// How incoming signatures are verified.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum VerifyArg {
    /// Verify over the body bytes as received (JWS semantics; accepts every correct sender).
    Raw,
    /// Re-serialize the body with sorted keys first, exactly like the Mojaloop reference
    /// validator (rejects senders that sign unsorted JSON, e.g. testing toolkit 18.13).
    Strict,
}

impl VerifyArg {
    /// The library's mode.
    pub fn mode(self) -> fspiop::jws::VerifyMode {
        match self {
            VerifyArg::Raw => fspiop::jws::VerifyMode::Raw,
            VerifyArg::Strict => fspiop::jws::VerifyMode::Strict,
        }
    }
}

/// JWS keys for simulators.
#[derive(Debug, Args)]
pub(crate) struct JwsArgs {
    /// JWS keys: <fsp>.key private keys of the FSPs served, <fsp>.pem public keys of peers.
    /// With keys, outgoing requests are signed (RS256 for RSA keys, ES256 for EC) and incoming
    /// signed requests are verified.
    #[arg(long, value_name = "DIR", env = "PERFBED_KEYS")]
    pub keys: Option<PathBuf>,
    /// Turn JWS signing and verification off even when --keys is given.
    #[arg(long)]
    pub no_jws: bool,
    /// How incoming signatures are verified.
    #[arg(long, value_enum, default_value = "raw")]
    pub jws_verify: VerifyArg,
    /// The hub's JWS public key (PEM), for a hub that signs its own messages (JWS_SIGN). With
    /// it, or with <hub id>.pem in --keys, messages from the hub must be signed and verify;
    /// without, the hub's own messages are accepted unsigned.
    #[arg(long, value_name = "FILE", requires = "keys")]
    pub hub_key: Option<PathBuf>,
}

impl JwsArgs {
    /// Loads the keys (and the hub's, under `config.hub_id`: set it first) and turns JWS on in
    /// `config` when there are any.
    pub fn apply(&self, config: &mut sim::SimConfig) -> anyhow::Result<fspiop::jws::KeyStore> {
        Ok(self.load(&config.hub_id)?.apply(config))
    }

    /// The keys (the hub's, from --hub-key, under `hub_id`), and JWS on when there are any:
    /// for a simulator configured later.
    pub fn load(&self, hub_id: &str) -> anyhow::Result<testbed::suite::Jws> {
        use anyhow::Context;
        let keys = match (&self.keys, self.no_jws) {
            (Some(dir), false) => {
                let mut keys = perfbed_http::keys::load_dir(dir)
                    .with_context(|| format!("cannot load JWS keys from {}", dir.display()))?;
                if let Some(file) = &self.hub_key {
                    let pem = std::fs::read(file)
                        .with_context(|| format!("cannot read {}", file.display()))?;
                    let key = fspiop::jws::VerifyingKey::from_pem(&pem)
                        .with_context(|| format!("--hub-key {}", file.display()))?;
                    keys.insert_verifying(hub_id, key);
                }
                Some(keys)
            }
            _ => None,
        };
        Ok(testbed::suite::Jws {
            on: keys.is_some(),
            verify_mode: self.jws_verify.mode(),
            keys: keys.unwrap_or_default(),
        })
    }
}
