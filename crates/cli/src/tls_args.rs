//! TLS flags shared by the server commands (`sim`, `hub`).

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
}
