//! The outbound HTTP client: hyper with a keep-alive connection pool per destination host,
//! rustls (optionally mTLS) for `https://` URLs, plain HTTP otherwise, and a per-request timeout.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::ClientConfig;
use std::sync::Arc;
use std::time::Duration;

/// How the client behaves.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// TLS for `https://` URLs (with a client certificate for mTLS). Without it, `https://`
    /// URLs use the platform's… nothing: they fail, so misconfiguration is loud.
    pub tls: Option<Arc<ClientConfig>>,
    /// Whole-request timeout (connect, send, response head and body).
    pub timeout: Duration,
    /// Idle keep-alive connections kept per host.
    pub max_idle_per_host: usize,
    /// Requests in flight at once (so connections); more wait for a slot within their
    /// timeout. The real hub's HTTP agent keeps 512 sockets.
    pub max_in_flight: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            tls: None,
            timeout: Duration::from_secs(20),
            max_idle_per_host: 512,
            max_in_flight: 512,
        }
    }
}

/// Why a request did not get a response.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No response within the timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Connecting, TLS or HTTP failed.
    #[error("request failed: {0}")]
    Http(String),
    /// The URL is `https://` but no TLS is configured.
    #[error("https URL but no TLS configured (give a CA for outbound TLS)")]
    NoTls,
}

/// A cloneable, pooled HTTP/1.1 client.
#[derive(Clone, Debug)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
    tls: bool,
    slots: Arc<tokio::sync::Semaphore>,
}

impl HttpClient {
    /// Builds the client.
    pub fn new(options: ClientOptions) -> HttpClient {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        http.set_keepalive(Some(Duration::from_secs(60)));
        let tls = options.tls.is_some();
        let config = options.tls.unwrap_or_else(|| {
            // Never used for https (send refuses first); the connector wants some config.
            Arc::new(
                ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
            )
        });
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*config).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(options.max_idle_per_host)
            .build(connector);
        HttpClient {
            inner,
            timeout: options.timeout,
            tls,
            slots: Arc::new(tokio::sync::Semaphore::new(options.max_in_flight.max(1))),
        }
    }

    /// Sends a request and reads the whole response body.
    pub async fn send(&self, req: Request<Full<Bytes>>) -> Result<Response<Bytes>, ClientError> {
        if !self.tls && req.uri().scheme_str() == Some("https") {
            return Err(ClientError::NoTls);
        }
        let work = async {
            let _slot = self
                .slots
                .acquire()
                .await
                .map_err(|_| ClientError::Http("client closed".into()))?;
            let resp = self
                .inner
                .request(req)
                .await
                .map_err(|e| ClientError::Http(error_chain(&e)))?;
            let (parts, body) = resp.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| ClientError::Http(e.to_string()))?
                .to_bytes();
            Ok(Response::from_parts(parts, body))
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))?
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
