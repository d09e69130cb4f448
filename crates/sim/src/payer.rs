//! The payer role: start a lookup, quote or transfer as one of the served FSPs and await its
//! callback. Used by the load driver in the same process.

use axum::body::Bytes;
use fspiop::error::{ErrorCode, ErrorInformationObject};
use fspiop::json::to_canonical_vec;
use fspiop::models::{
    PartiesPut, PartyIdType, QuotesPost, QuotesPut, TransferState, TransfersPost, TransfersPut,
};
use http::{Method, StatusCode};
use perfbed_http::fspiop::{parse_body, FspiopError, Outbound};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::payee::Ctx;
use crate::pending::Delivered;
use crate::{Callback, Sim};

/// A callback's receipt, with the phase's split from its trace stamps.
fn delivered(ctx: &Ctx) -> Delivered {
    Delivered {
        at: ctx.received,
        split: ctx
            .tracestate
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .and_then(crate::trace::Stamps::parse)
            .and_then(|st| st.split(ctx.received_wall)),
    }
}

/// Something wrong with a callback: never counted as success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Anomaly {
    /// The callback's signature did not verify (answered 3105).
    JwsInvalid,
    /// The callback was malformed (bad headers or body).
    InvalidCallback,
    /// `sha256(fulfilment) != condition`.
    FulfilmentMismatch,
    /// `PUT /transfers` reached the payer in a state other than `COMMITTED`.
    UnexpectedState,
}

impl Anomaly {
    /// Metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Anomaly::JwsInvalid => "jws_invalid",
            Anomaly::InvalidCallback => "invalid_callback",
            Anomaly::FulfilmentMismatch => "fulfilment_mismatch",
            Anomaly::UnexpectedState => "unexpected_state",
        }
    }
}

/// How a payer step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// The hub answered the request synchronously with an error.
    #[error("hub refused the request: HTTP {status} {code:?}")]
    Sync {
        /// HTTP status.
        status: u16,
        /// `errorCode` of the body, if it had one.
        code: Option<String>,
    },
    /// The request could not be sent (connection, TLS, timeout of the HTTP call).
    #[error("send failed: {0}")]
    Send(String),
    /// An error callback: from the payee or from `Hub`.
    #[error("rejected with {code} by {source_fsp}")]
    Rejected {
        /// The `errorCode`.
        code: String,
        /// Who sent it.
        source_fsp: String,
    },
    /// No callback within the timeout.
    #[error("timed out")]
    Timeout,
    /// A callback arrived but was wrong.
    #[error("anomaly: {}", .0.as_str())]
    Anomaly(Anomaly),
}

impl FlowError {
    /// The FSPIOP error code it carries, if any.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            FlowError::Rejected { code, .. } => ErrorCode::parse(code),
            FlowError::Sync { code, .. } => code.as_deref().and_then(ErrorCode::parse),
            _ => None,
        }
    }
}

/// A callback's content and when it reached the replica that received it (after a relay:
/// the first replica's receipt time, so latency is not stretched by the relay hop).
#[derive(Debug, Clone)]
pub struct Received<T> {
    /// The callback's content.
    pub value: T,
    /// When it arrived.
    pub at: Instant,
    /// Where the time went (switch in, simulator, switch out), when the payee stamped it.
    pub split: Option<crate::trace::Split>,
}

impl<T> std::ops::Deref for Received<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl Sim {
    async fn request(
        self: &Arc<Self>,
        payer: &str,
        key: String,
        out: Outbound,
        timeout: Duration,
    ) -> Result<(Callback, Delivered), FlowError> {
        if !self.serves(payer) {
            return Err(FlowError::Send(format!(
                "this simulator does not serve payer '{payer}'"
            )));
        }
        let (token, rx) = self.pending.register(key.clone(), payer);
        let work = async {
            let resp = self.send(out).await?;
            let status = resp.status();
            if status != StatusCode::ACCEPTED && status != StatusCode::OK {
                let code = serde_json::from_slice::<ErrorInformationObject>(resp.body())
                    .ok()
                    .map(|e| e.error_information.error_code);
                return Err(FlowError::Sync {
                    status: status.as_u16(),
                    code,
                });
            }
            rx.await.map_err(|_| FlowError::Timeout)
        };
        let result = match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(FlowError::Timeout),
        };
        if result.is_err() {
            self.pending.cancel(&key, token);
        }
        result
    }

    fn payer_out(
        &self,
        payer: &str,
        method: Method,
        resource: &str,
        path: String,
        destination: Option<&str>,
        body: Option<Bytes>,
    ) -> Outbound {
        Outbound {
            method,
            url: format!("{}{}", self.config.hub.for_resource(resource), path),
            version: self.config.version,
            source: payer.to_owned(),
            destination: destination.map(str::to_owned),
            body,
            // Latency attribution: a trace per request, stamped with its send time as it leaves.
            extra: vec![
                (
                    http::HeaderName::from_static(crate::trace::TRACEPARENT),
                    http::HeaderValue::from_str(&crate::trace::new_traceparent())
                        .expect("hex is a valid header value"),
                ),
                (
                    http::HeaderName::from_static(crate::trace::TRACESTATE),
                    // A placeholder: `Sim::send` stamps the real send time.
                    http::HeaderValue::from_static("perfbed=s:0"),
                ),
            ],
        }
    }

    /// `GET /parties/{Type}/{ID}` as `payer`; the party, or why not.
    pub async fn lookup(
        self: &Arc<Self>,
        payer: &str,
        id_type: PartyIdType,
        id: &str,
        timeout: Duration,
    ) -> Result<Received<PartiesPut>, FlowError> {
        let id_path = format!("{}/{id}", id_type.as_str());
        let out = self.payer_out(
            payer,
            Method::GET,
            "parties",
            format!("/parties/{id_path}"),
            None,
            None,
        );
        match self
            .request(payer, format!("p:{id_path}"), out, timeout)
            .await?
        {
            (Callback::Party(p), d) => Ok(Received {
                value: *p,
                at: d.at,
                split: d.split,
            }),
            (other, _) => Err(unexpected(other)),
        }
    }

    /// `POST /quotes` as `payer` to `payee_fsp`; the quote response, or why not.
    pub async fn quote(
        self: &Arc<Self>,
        payer: &str,
        payee_fsp: &str,
        req: &QuotesPost,
        timeout: Duration,
    ) -> Result<Received<QuotesPut>, FlowError> {
        let body = Bytes::from(to_canonical_vec(req));
        let out = self.payer_out(
            payer,
            Method::POST,
            "quotes",
            "/quotes".into(),
            Some(payee_fsp),
            Some(body),
        );
        match self
            .request(payer, format!("q:{}", req.quote_id), out, timeout)
            .await?
        {
            (Callback::Quote(q), d) => Ok(Received {
                value: *q,
                at: d.at,
                split: d.split,
            }),
            (other, _) => Err(unexpected(other)),
        }
    }

    /// `POST /transfers` as `payer`; the committed transfer (fulfilment checked against the
    /// condition), or why not.
    pub async fn transfer(
        self: &Arc<Self>,
        payer: &str,
        req: &TransfersPost,
        timeout: Duration,
    ) -> Result<Received<TransfersPut>, FlowError> {
        let body = Bytes::from(to_canonical_vec(req));
        let out = self.payer_out(
            payer,
            Method::POST,
            "transfers",
            "/transfers".into(),
            Some(req.payee_fsp.as_str()),
            Some(body),
        );
        match self
            .request(payer, format!("t:{}", req.transfer_id), out, timeout)
            .await?
        {
            (Callback::Transfer(t), d) => {
                if t.transfer_state != TransferState::Committed {
                    self.metrics.anomaly(Anomaly::UnexpectedState.as_str());
                    return Err(FlowError::Anomaly(Anomaly::UnexpectedState));
                }
                if !t
                    .fulfilment
                    .as_ref()
                    .is_some_and(|f| f.fulfils(&req.condition))
                {
                    self.metrics.anomaly(Anomaly::FulfilmentMismatch.as_str());
                    return Err(FlowError::Anomaly(Anomaly::FulfilmentMismatch));
                }
                Ok(Received {
                    value: *t,
                    at: d.at,
                    split: d.split,
                })
            }
            (other, _) => Err(unexpected(other)),
        }
    }
}

fn unexpected(cb: Callback) -> FlowError {
    match cb {
        Callback::Error { info, source } => FlowError::Rejected {
            code: info.error_code,
            source_fsp: source,
        },
        Callback::Invalid(a) => FlowError::Anomaly(a),
        // A key only ever receives its own callback type.
        _ => FlowError::Anomaly(Anomaly::InvalidCallback),
    }
}

/// Parses a callback body; a malformed one is refused and its waiter told so.
fn parse_callback<T: serde::de::DeserializeOwned>(
    sim: &Sim,
    key: &str,
    ctx: &Ctx,
    body: &[u8],
) -> Result<T, FspiopError> {
    parse_body(body).inspect_err(|_| {
        if sim.pending.resolve(
            key,
            ctx.destination.as_deref(),
            &Callback::Invalid(Anomaly::InvalidCallback),
            Delivered::at(ctx.received),
        ) > 0
        {
            sim.metrics.anomaly(Anomaly::InvalidCallback.as_str());
        }
    })
}

fn deliver(sim: &Sim, key: &str, ctx: &Ctx, cb: Callback) -> Result<StatusCode, FspiopError> {
    if sim
        .pending
        .resolve(key, ctx.destination.as_deref(), &cb, delivered(ctx))
        == 0
        && ctx.source != sim.config.hub_id
    {
        // Nobody waits: a late callback after a timeout, or one for another replica.
        sim.metrics.anomaly("unsolicited");
    }
    Ok(StatusCode::OK)
}

/// `PUT /parties/…`.
pub(crate) fn on_party(
    sim: &Arc<Sim>,
    ctx: &Ctx,
    id_path: &str,
    body: &[u8],
) -> Result<StatusCode, FspiopError> {
    let key = format!("p:{id_path}");
    let p: PartiesPut = parse_callback(sim, &key, ctx, body)?;
    deliver(sim, &key, ctx, Callback::Party(Box::new(p)))
}

/// `PUT /quotes/{ID}`.
pub(crate) fn on_quote(
    sim: &Arc<Sim>,
    ctx: &Ctx,
    id: &str,
    body: &[u8],
) -> Result<StatusCode, FspiopError> {
    let key = format!("q:{id}");
    let q: QuotesPut = parse_callback(sim, &key, ctx, body)?;
    deliver(sim, &key, ctx, Callback::Quote(Box::new(q)))
}

/// `PUT /transfers/{ID}`: to a payer (resolves its flow), or the hub's confirmation to a payee.
pub(crate) fn on_transfer(
    sim: &Arc<Sim>,
    ctx: &Ctx,
    id: &str,
    body: &[u8],
) -> Result<StatusCode, FspiopError> {
    let key = format!("t:{id}");
    let t: TransfersPut = parse_callback(sim, &key, ctx, body)?;
    if let Err(e) = t.check() {
        let _ = parse_callback::<()>(sim, &key, ctx, b"");
        return Err(e.into());
    }
    deliver(sim, &key, ctx, Callback::Transfer(Box::new(t)))
}

/// `PUT …/error`.
pub(crate) fn on_error(
    sim: &Arc<Sim>,
    ctx: &Ctx,
    key: &str,
    body: &[u8],
) -> Result<StatusCode, FspiopError> {
    let e: ErrorInformationObject = parse_callback(sim, key, ctx, body)?;
    deliver(
        sim,
        key,
        ctx,
        Callback::Error {
            info: e.error_information,
            source: ctx.source.clone(),
        },
    )
}
