//! The payer role: start a lookup, quote or transfer as one of the served FSPs and await its
//! callback. Used by the load driver in the same process.

use axum::body::Bytes;
use fspiop::error::{ErrorCode, ErrorInformationObject};
use fspiop::iso::Api;
use fspiop::models::{
    PartiesPut, PartyIdType, QuotesPost, QuotesPut, TransferState, TransfersPost, TransfersPut,
};
use http::{Method, StatusCode};
use perfbed_http::fspiop::{parse_body, FspiopError, Outbound};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::payee::Ctx;
use crate::pending::{Delivered, Resolved};
use crate::{Callback, Sim};

/// A callback's receipt, with the phase's split from its trace stamps.
fn delivered(ctx: &Ctx) -> Delivered {
    Delivered {
        at: ctx.received,
        relayed: ctx.relayed,
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
    /// The request never left this process (no signing key, no connection, connect refused,
    /// TLS handshake failed, a timeout before a connection took it): the switch never saw it.
    #[error("not sent: {0}")]
    NotSent(String),
    /// The request was handed to a connection, then failed before an HTTP response arrived
    /// (reset, closed, or no response within the flow's time): the switch may have seen it.
    #[error("failed after send: {0}")]
    FailedAfterSend(String),
    /// An error callback: from the payee or from `Hub`.
    #[error("rejected with {code} by {source_fsp}")]
    Rejected {
        /// The `errorCode`.
        code: String,
        /// Who sent it.
        source_fsp: String,
    },
    /// The request was accepted (`202`/`200`) but no callback came within the flow timeout.
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
    /// ISO 20022 mode: the callback's ISO body as received (a PUT /quotes is the context of
    /// the POST /transfers that follows); `None` in FSPIOP mode.
    pub iso: Option<Arc<serde_json::Value>>,
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
            return Err(FlowError::NotSent(format!(
                "this simulator does not serve payer '{payer}'"
            )));
        }
        let trace = out
            .extra
            .iter()
            .find(|(k, _)| k.as_str() == crate::trace::TRACEPARENT)
            .and_then(|(_, v)| v.to_str().ok())
            .and_then(crate::trace::trace_id);
        let deadline = tokio::time::Instant::now() + timeout;
        let (token, mut rx) = self.pending.register(key.clone(), payer, trace);
        // Nothing can answer the request before this: a relayed answer converted to earlier
        // shows a wrong clock conversion.
        let sent = Instant::now();
        // The HTTP call gets what is left of the flow's time, so that a timeout says whether
        // the request had left.
        let resp = match self.send(out, timeout).await {
            Ok(resp) => resp,
            Err(e) => {
                // The switch took it and answered even though the HTTP exchange failed.
                if let Ok(answer) = rx.try_recv() {
                    self.check_relayed(&answer.1, sent);
                    return Ok(answer);
                }
                let may_come = matches!(e, FlowError::FailedAfterSend(_));
                self.pending.give_up(&key, token, may_come);
                return Err(e);
            }
        };
        let status = resp.status();
        // Any 2xx: the real services deviate from the API definition only in the code (the
        // ALS answers its bulk POST with 200).
        if !status.is_success() {
            // Refused synchronously: no callback will come.
            self.pending.give_up(&key, token, false);
            let code = serde_json::from_slice::<ErrorInformationObject>(resp.body())
                .ok()
                .map(|e| e.error_information.error_code);
            return Err(FlowError::Sync {
                status: status.as_u16(),
                code,
            });
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(answer)) => {
                self.check_relayed(&answer.1, sent);
                Ok(answer)
            }
            _ => {
                // Accepted, so its answer may still come: it must not complete a later request.
                self.pending.give_up(&key, token, true);
                Err(FlowError::Timeout)
            }
        }
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
        let out = Outbound {
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
        };
        if self.config.api.is_iso() {
            out.iso()
        } else {
            out
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
                iso: None,
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
        let body = crate::iso::quote_post_body(self.config.api, req);
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
                iso: None,
            }),
            (Callback::IsoQuote(q, v), d) => Ok(Received {
                value: *q,
                at: d.at,
                split: d.split,
                iso: Some(v),
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
        self.transfer_after(payer, req, None, timeout).await
    }

    /// [`Sim::transfer`] after a quote: in ISO 20022 mode the pacs.008 is built from `quote`,
    /// the PUT /quotes as received ([`Received::iso`]); without it (a transfer without a
    /// quote) from the packet's parties. FSPIOP mode ignores it.
    pub async fn transfer_after(
        self: &Arc<Self>,
        payer: &str,
        req: &TransfersPost,
        quote: Option<&serde_json::Value>,
        timeout: Duration,
    ) -> Result<Received<TransfersPut>, FlowError> {
        let body = crate::iso::transfer_post_body(self.config.api, req, quote)
            .map_err(FlowError::NotSent)?;
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
                    iso: None,
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

/// The trace id a callback carries (its `traceparent`), which names the request it answers.
fn trace_of(ctx: &Ctx) -> Option<u128> {
    ctx.traceparent
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .and_then(crate::trace::trace_id)
}

/// Parses a callback body; a malformed one is refused and its waiter told so.
fn parse_callback<T: serde::de::DeserializeOwned>(
    sim: &Sim,
    key: &str,
    ctx: &Ctx,
    body: &[u8],
) -> Result<T, FspiopError> {
    parse_body(body).inspect_err(|_| invalid_callback(sim, key, ctx))
}

/// A malformed callback: its waiter is told so, and it is counted.
fn invalid_callback(sim: &Sim, key: &str, ctx: &Ctx) {
    let resolved = sim.pending.resolve(
        key,
        ctx.destination.as_deref(),
        trace_of(ctx),
        &Callback::Invalid(Anomaly::InvalidCallback),
        Delivered::at(ctx.received),
    );
    sim.count_invalid(resolved, Anomaly::InvalidCallback);
}

/// Parses an ISO callback body with `view`; a malformed one is refused and its waiter told so.
fn parse_iso_callback<T>(
    sim: &Sim,
    key: &str,
    ctx: &Ctx,
    body: &[u8],
    view: impl FnOnce(serde_json::Value) -> Result<T, FspiopError>,
) -> Result<T, FspiopError> {
    crate::iso::parse_value(body)
        .and_then(view)
        .inspect_err(|_| invalid_callback(sim, key, ctx))
}

fn deliver(sim: &Sim, key: &str, ctx: &Ctx, cb: Callback) -> Result<StatusCode, FspiopError> {
    let resolved = sim.pending.resolve(
        key,
        ctx.destination.as_deref(),
        trace_of(ctx),
        &cb,
        delivered(ctx),
    );
    match resolved {
        Resolved::Delivered => {}
        // The answer to a request whose flow already gave up.
        Resolved::Late => sim.metrics.late_callback(),
        // Nobody waits: a hub confirmation to a payee, or a callback nobody asked for.
        Resolved::Nobody if ctx.source != sim.config.hub_id => {
            sim.metrics.anomaly("unsolicited");
        }
        Resolved::Nobody => {}
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
    let p: PartiesPut = match sim.config.api {
        Api::Fspiop => parse_callback(sim, &key, ctx, body)?,
        Api::Iso20022 => parse_iso_callback(sim, &key, ctx, body, |v| {
            Ok(fspiop::iso::parties_put_view(&v)?)
        })?,
    };
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
    if sim.config.api.is_iso() {
        let (q, v) = parse_iso_callback(sim, &key, ctx, body, |v| {
            let q = fspiop::iso::quotes_put_view(&v)?;
            if fspiop::iso::tx_id(&v) != Some(id) {
                return Err(FspiopError::new(
                    ErrorCode::GenericValidationError,
                    "CdtTrfTxInf.PmtId.TxId differs from the quote id in the URL",
                ));
            }
            Ok((q, v))
        })?;
        return deliver(sim, &key, ctx, Callback::IsoQuote(Box::new(q), Arc::new(v)));
    }
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
    let t: TransfersPut = match sim.config.api {
        Api::Fspiop => parse_callback(sim, &key, ctx, body)?,
        // The view checks the fulfilment's presence for COMM/RESV too.
        Api::Iso20022 => parse_iso_callback(sim, &key, ctx, body, |v| {
            Ok(fspiop::iso::transfers_put_view(&v)?)
        })?,
    };
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
    let info = match sim.config.api {
        Api::Fspiop => {
            let e: ErrorInformationObject = parse_callback(sim, key, ctx, body)?;
            e.error_information
        }
        Api::Iso20022 if key.starts_with("p:") => parse_iso_callback(sim, key, ctx, body, |v| {
            Ok(fspiop::iso::parties_error_view(&v)?)
        })?,
        Api::Iso20022 => parse_iso_callback(sim, key, ctx, body, |v| {
            Ok(fspiop::iso::pacs_error_view(&v)?)
        })?,
    };
    deliver(
        sim,
        key,
        ctx,
        Callback::Error {
            info,
            source: ctx.source.clone(),
        },
    )
}
