//! FSPIOP over HTTP: the one place errors become wire responses, the inbound check (headers, then
//! JWS) every FSPIOP server runs, and outbound request building with signing.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use fspiop::error::{ErrorCode, ErrorInformation, ErrorInformationObject};
use fspiop::headers::{self, HeaderError, RequestHeaders, Version};
use fspiop::iso::Api;
use fspiop::jws::{self, JwsError, KeyStore, SignInput, SigningKey, VerifyInput, VerifyMode};
use fspiop::types::ElementError;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::Full;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// An FSPIOP error on its way to the wire: HTTP status from the code (the hub's mapping) and an
/// `errorInformation` body. Internals never leak: the detail is what the caller chose to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FspiopError {
    /// The body's error.
    pub info: ErrorInformation,
}

impl FspiopError {
    /// An error with an optional detail appended to the code's name.
    pub fn new(code: ErrorCode, detail: impl AsRef<str>) -> FspiopError {
        let d = detail.as_ref();
        FspiopError {
            info: ErrorInformation::new(code, (!d.is_empty()).then_some(d)),
        }
    }

    /// The error code.
    pub fn code(&self) -> ErrorCode {
        self.info.code().unwrap_or(ErrorCode::GenericServerError)
    }

    /// HTTP status for a synchronous answer.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code().http_status()).unwrap_or(StatusCode::BAD_REQUEST)
    }

    /// The `{"errorInformation":…}` body bytes.
    pub fn body(&self) -> Vec<u8> {
        self.info.clone().into_object().to_bytes()
    }
}

impl std::fmt::Display for FspiopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}",
            self.info.error_code, self.info.error_description
        )
    }
}

impl std::error::Error for FspiopError {}

impl IntoResponse for FspiopError {
    fn into_response(self) -> Response {
        (
            self.status(),
            [(http::header::CONTENT_TYPE, "application/json")],
            self.body(),
        )
            .into_response()
    }
}

impl From<HeaderError> for FspiopError {
    fn from(e: HeaderError) -> Self {
        FspiopError {
            info: e.to_error_information(),
        }
    }
}

impl From<JwsError> for FspiopError {
    fn from(e: JwsError) -> Self {
        FspiopError::new(e.code(), e.to_string())
    }
}

impl From<ElementError> for FspiopError {
    fn from(e: ElementError) -> Self {
        FspiopError::new(e.code(), e.to_string())
    }
}

impl From<fspiop::iso::IsoError> for FspiopError {
    fn from(e: fspiop::iso::IsoError) -> Self {
        FspiopError {
            info: e.to_error_information(),
        }
    }
}

impl From<ErrorInformationObject> for FspiopError {
    fn from(e: ErrorInformationObject) -> Self {
        FspiopError {
            info: e.error_information,
        }
    }
}

/// Parses and validates a JSON body: a missing field is 3102, anything else malformed 3100.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FspiopError> {
    serde_json::from_slice(body).map_err(|e| {
        let msg = e.to_string();
        let code = if msg.starts_with("missing field") {
            ErrorCode::MissingMandatoryElement
        } else {
            ErrorCode::GenericValidationError
        };
        // serde's message names the field and position; strip the position for readability.
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        FspiopError::new(code, msg)
    })
}

/// What an FSPIOP server does about signatures on requests with a body.
#[derive(Debug, Clone)]
pub struct JwsPolicy {
    /// Public keys by FSP id.
    pub keys: Arc<KeyStore>,
    /// Raw (JWS semantics) or strict (the reference validator's re-serialization).
    pub mode: VerifyMode,
    /// The hub's FSP id (`FSPIOP-Source` of its own messages: errors, confirmations).
    pub hub_id: String,
    /// Whether the hub signs its own messages (Mojaloop's `JWS_SIGN`; off by default). When it
    /// does, a message from `hub_id` must carry a signature that verifies with the hub's key,
    /// like any FSP's. When it does not, an unsigned message from `hub_id` is accepted, and a
    /// signed one is verified if there is a key for `hub_id`, else accepted as if unsigned (a
    /// signature nobody can check adds nothing; refusing it would only refuse what the same
    /// message without it gets through). Every other source must always sign.
    pub hub_signs: bool,
}

impl JwsPolicy {
    /// A policy where the hub signs exactly when `keys` hold a public key for `hub_id`.
    pub fn new(keys: Arc<KeyStore>, mode: VerifyMode, hub_id: String) -> JwsPolicy {
        let hub_signs = keys.verifying(&hub_id).is_some();
        JwsPolicy {
            keys,
            mode,
            hub_id,
            hub_signs,
        }
    }
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Checks an inbound FSPIOP request: the header set (3001/3101/3102), then for requests with a
/// body the `FSPIOP-Signature` (3105) when a JWS policy is given.
pub fn check_inbound<'a>(
    method: &Method,
    path: &str,
    h: &'a HeaderMap,
    body: &[u8],
    jws_policy: Option<&JwsPolicy>,
) -> Result<RequestHeaders<'a>, FspiopError> {
    check_inbound_api(method, path, h, body, jws_policy, Api::Fspiop)
}

/// [`check_inbound`] for either API: in ISO 20022 mode the media types must be the
/// `…iso20022.{res}+json` ones. The signature check is the same (it covers the body bytes).
pub fn check_inbound_api<'a>(
    method: &Method,
    path: &str,
    h: &'a HeaderMap,
    body: &[u8],
    jws_policy: Option<&JwsPolicy>,
    api: Api,
) -> Result<RequestHeaders<'a>, FspiopError> {
    let resource = headers::resource_of(path);
    let parsed = headers::validate_api(method, resource, h, api)?;
    if let Some(policy) = jws_policy {
        if !body.is_empty() {
            if parsed.source == policy.hub_id && !policy.hub_signs {
                let checkable = policy.keys.verifying(&policy.hub_id).is_some();
                if parsed.signature.is_none() || !checkable {
                    return Ok(parsed);
                }
            }
            if parsed.signature.is_none() {
                if parsed.source == policy.hub_id {
                    return Err(FspiopError::new(
                        ErrorCode::InvalidSignature,
                        format!(
                            "FSPIOP-Signature header missing: '{}' signs its messages \
                             (a public key for it is configured)",
                            policy.hub_id
                        ),
                    ));
                }
                return Err(JwsError::MissingHeader("FSPIOP-Signature").into());
            }
            let input = VerifyInput {
                source: Some(parsed.source),
                destination: parsed.destination,
                date: Some(parsed.date),
                uri: header_str(h, headers::FSPIOP_URI),
                http_method: header_str(h, headers::FSPIOP_HTTP_METHOD),
                signature: parsed.signature,
                body,
            };
            jws::verify(&policy.keys, &input, policy.mode)?;
        }
    }
    Ok(parsed)
}

/// An outgoing FSPIOP request.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// Method.
    pub method: Method,
    /// Full URL, e.g. `http://hub:3000/transfers/…`.
    pub url: String,
    /// Version for `Content-Type` (and the major for `Accept`).
    pub version: Version,
    /// `FSPIOP-Source`.
    pub source: String,
    /// `FSPIOP-Destination`, if any.
    pub destination: Option<String>,
    /// Body bytes (compact, sorted keys), if any.
    pub body: Option<Bytes>,
    /// Extra headers (e.g. `traceparent`).
    pub extra: Vec<(HeaderName, HeaderValue)>,
}

/// Builds an outgoing request from an [`Outbound`] (cannot fail for valid ids and URLs).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The URL or a header value is not valid.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Signing failed.
    #[error(transparent)]
    Jws(#[from] JwsError),
}

/// `Date: now`, from the system clock (cached per second per thread by
/// [`headers::date_header`]).
pub fn date_now() -> http::HeaderValue {
    headers::date_header(std::time::SystemTime::now())
}

/// Fresh generated values for an ISO 20022 message: `MsgId` and `OrgnlId` ULIDs (now + 80
/// random bits), `CreDtTm` now (the protocol core takes them as input).
pub fn iso_stamp() -> fspiop::iso::Stamp {
    let now = time::OffsetDateTime::now_utc();
    let ms = u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    fspiop::iso::Stamp {
        msg_id: fspiop::iso::ulid(ms, rand::random::<u128>()),
        orgnl_id: fspiop::iso::ulid(ms, rand::random::<u128>()),
        now: fspiop::types::DateTime::from_offset_date_time(now),
    }
}

impl Outbound {
    /// Switches the request to ISO 20022 media types: `Content-Type`
    /// `…iso20022.{res}+json;version=2.0`, and on GET/POST/DELETE `Accept` `…;version=2`
    /// (the body must already be the ISO body).
    pub fn iso(mut self) -> Outbound {
        let path_start = self.url.find("://").map(|i| i + 3).unwrap_or(0);
        let path = self.url[path_start..]
            .find('/')
            .map(|i| &self.url[path_start + i..])
            .unwrap_or("/");
        let resource = headers::resource_of(jws::fspiop_uri(path).unwrap_or(path)).to_owned();
        self.version = fspiop::iso::VERSION;
        if let Ok(v) = HeaderValue::from_str(&fspiop::iso::content_type(&resource)) {
            self.extra.push((http::header::CONTENT_TYPE, v));
        }
        if matches!(self.method, Method::GET | Method::POST | Method::DELETE) {
            if let Ok(v) = HeaderValue::from_str(&fspiop::iso::accept(&resource)) {
                self.extra.push((http::header::ACCEPT, v));
            }
        }
        self
    }

    /// The request with FSPIOP headers, signed with `signer` when given and there is a body.
    pub fn build(self, signer: Option<&SigningKey>) -> Result<Request<Full<Bytes>>, BuildError> {
        let invalid = |e: &dyn std::fmt::Display| BuildError::Invalid(e.to_string());
        let path_start = self.url.find("://").map(|i| i + 3).unwrap_or(0);
        let path = self.url[path_start..]
            .find('/')
            .map(|i| &self.url[path_start + i..])
            .unwrap_or("/");
        let resource = headers::resource_of(jws::fspiop_uri(path).unwrap_or(path));
        let date_value = date_now();
        let date = date_value.to_str().unwrap_or_default();
        // An ISO 20022 request brings its own media types in `extra` (see `Outbound::iso`).
        let given = |name: &HeaderName| self.extra.iter().any(|(k, _)| k == name);
        let (own_ct, own_accept) = (
            given(&http::header::CONTENT_TYPE),
            given(&http::header::ACCEPT),
        );
        let mut b = Request::builder()
            .method(self.method.clone())
            .uri(&self.url)
            .header(http::header::DATE, date_value.clone())
            .header(headers::FSPIOP_SOURCE, &self.source);
        if !own_ct {
            b = b.header(
                http::header::CONTENT_TYPE,
                headers::content_type(resource, self.version),
            );
        }
        if !own_accept && matches!(self.method, Method::GET | Method::POST | Method::DELETE) {
            b = b.header(
                http::header::ACCEPT,
                headers::accept(resource, self.version.major),
            );
        }
        if let Some(d) = &self.destination {
            b = b.header(headers::FSPIOP_DESTINATION, d);
        }
        for (k, v) in self.extra {
            b = b.header(k, v);
        }
        if let (Some(key), Some(body)) = (signer, &self.body) {
            let uri = jws::fspiop_uri(path).unwrap_or(path);
            let signature = jws::sign(
                key,
                &SignInput {
                    method: self.method.as_str(),
                    uri,
                    source: &self.source,
                    destination: self.destination.as_deref(),
                    date: Some(date),
                    body,
                },
            )?;
            b = b
                .header(headers::FSPIOP_URI, uri)
                .header(headers::FSPIOP_HTTP_METHOD, self.method.as_str())
                .header(headers::FSPIOP_SIGNATURE, signature);
        }
        b.body(Full::new(self.body.unwrap_or_default()))
            .map_err(|e| invalid(&e))
    }
}
