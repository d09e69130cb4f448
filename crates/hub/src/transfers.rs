//! `/transfers`: prepare, fulfil, reject and state queries against the ledger.

use axum::body::Bytes;
use fspiop::error::ErrorCode;
use fspiop::models::{TransferState, TransfersPost, TransfersPut};
use http::{HeaderMap, Method};
use perfbed_http::fspiop::FspiopError;
use std::hash::BuildHasher;
use std::sync::Arc;

use crate::ledger::{self, Prepared};
use crate::outbound::Callback;
use crate::Hub;

fn now_datetime() -> fspiop::types::DateTime {
    fspiop::types::DateTime::from_offset_date_time(time::OffsetDateTime::now_utc())
}

fn api_state(s: ledger::State) -> TransferState {
    match s {
        ledger::State::Reserved => TransferState::Reserved,
        ledger::State::Committed => TransferState::Committed,
        ledger::State::Aborted | ledger::State::Expired => TransferState::Aborted,
    }
}

/// `PUT /transfers/{ID}` from the hub with a transfer's current state (answers to
/// `GET /transfers` and to duplicates of finished transfers).
fn state_message(t: &ledger::Transfer) -> TransfersPut {
    TransfersPut {
        completed_timestamp: t
            .completed
            .as_deref()
            .and_then(|c| fspiop::types::DateTime::parse(c).ok()),
        extension_list: None,
        fulfilment: t
            .fulfilment
            .as_deref()
            .and_then(|f| fspiop::types::IlpFulfilment::parse(f).ok()),
        transfer_state: api_state(t.state),
    }
}

/// `GET /transfers/{ID}`: the transfer's state, to its payer or payee only.
pub(crate) fn get(hub: &Arc<Hub>, source: &str, id: &str) {
    let vars = vec![("transferId", id.to_owned())];
    match hub
        .ledger
        .transfer(id)
        .filter(|t| t.payer == source || t.payee == source)
    {
        Some(t) => {
            let put = hub.own_put_body(&state_message(&t));
            hub.notify_bytes(
                source,
                "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
                vars,
                Method::PUT,
                "transfers",
                put,
            );
        }
        None => hub.error_callback(
            source,
            "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
            vars,
            String::new(),
            "transfers",
            ErrorCode::TransferIdNotFound,
            "",
        ),
    }
}

/// `POST /transfers`: validate, duplicates, liquidity/NDC, reserve, forward to the payee.
pub(crate) fn prepare(
    hub: &Arc<Hub>,
    source: &str,
    h: &HeaderMap,
    body: Bytes,
) -> Result<(), FspiopError> {
    let arrived = std::time::Instant::now();
    let t: TransfersPost = hub.read_prepare(source, &body)?;
    let queued = hub.config.latency.queue.sample(&mut rand::rng());
    if queued.is_zero() {
        let ok = record_prepare(hub, source, h, body, t);
        hub.stats.transfer_prepare.observe(arrived, ok);
    } else {
        // Accepted (202) now; the ledger sees it only after the queue.
        let (hub2, source, h) = (hub.clone(), source.to_owned(), h.clone());
        hub.tracker.spawn(async move {
            tokio::time::sleep(queued).await;
            let ok = record_prepare(&hub2, &source, &h, body, t);
            hub2.stats.transfer_prepare.observe(arrived, ok);
        });
    }
    Ok(())
}

/// A validated prepare reaches the ledger: duplicates, liquidity/NDC, reserve, forward.
/// Whether it was reserved and forwarded.
fn record_prepare(
    hub: &Arc<Hub>,
    source: &str,
    h: &HeaderMap,
    body: Bytes,
    t: TransfersPost,
) -> bool {
    let id = t.transfer_id.as_str().to_owned();
    let vars = vec![("transferId", id.clone())];
    if hub.config.reject_prepares > 0.0 && rand::random::<f64>() < hub.config.reject_prepares {
        hub.error_callback(
            source,
            "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
            vars,
            String::new(),
            "transfers",
            ErrorCode::InternalServerError,
            "injected failure",
        );
        return false;
    }
    let result = hub.ledger.prepare(
        &id,
        source,
        t.payer_fsp.as_str(),
        t.payee_fsp.as_str(),
        ledger::units(&t.amount.amount),
        t.condition.as_str(),
        t.expiration.to_offset_date_time(),
        hub.body_hasher.hash_one(&body[..]),
    );
    match result {
        Ok(Prepared::Reserved) => {
            let payee = t.payee_fsp.as_str();
            let forward = Callback {
                to: payee.to_owned(),
                endpoint: "FSPIOP_CALLBACK_URL_TRANSFER_POST",
                vars: vec![],
                suffix: String::new(),
                method: Method::POST,
                headers: Hub::forwarded_headers(h, &Method::POST, Some(payee)),
                body,
            };
            if let Some(url) = hub.callback_url(&forward) {
                hub.send_to(url, forward);
                true
            } else {
                // Nowhere to send it: abort at once and tell the payer.
                let _ = hub.ledger.abort(&id, payee);
                hub.error_callback(
                    source,
                    "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
                    vars,
                    String::new(),
                    "transfers",
                    ErrorCode::DestinationCommunicationError,
                    "no TRANSFER_POST endpoint for the payee",
                );
                false
            }
        }
        Ok(Prepared::DuplicateInFlight) => false,
        Ok(Prepared::DuplicateFinished(_)) => {
            if let Some(rec) = hub.ledger.transfer(&id) {
                let put = hub.own_put_body(&state_message(&rec));
                hub.notify_bytes(
                    source,
                    "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
                    vars,
                    Method::PUT,
                    "transfers",
                    put,
                );
            }
            false
        }
        Err(r) => {
            hub.error_callback(
                source,
                "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
                vars,
                String::new(),
                "transfers",
                r.code,
                &r.reason,
            );
            false
        }
    }
}

/// `PUT /transfers/{ID}` from the payee: fulfil check and commit, notify payer and payee.
pub(crate) fn fulfil(
    hub: &Arc<Hub>,
    source: &str,
    id: &str,
    h: &HeaderMap,
    body: Bytes,
) -> Result<(), FspiopError> {
    let arrived = std::time::Instant::now();
    let committed = commit(hub, source, id, h, body)?;
    hub.stats.transfer_fulfil.observe(arrived, committed);
    Ok(())
}

/// A fulfil's check and commit; whether it committed the transfer now.
fn commit(
    hub: &Arc<Hub>,
    source: &str,
    id: &str,
    h: &HeaderMap,
    body: Bytes,
) -> Result<bool, FspiopError> {
    let put: TransfersPut = hub.read_fulfil(&body)?;
    put.check()?;
    let vars = vec![("transferId", id.to_owned())];
    let Some(rec) = hub.ledger.transfer(id) else {
        hub.error_callback(
            source,
            "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
            vars,
            String::new(),
            "transfers",
            ErrorCode::TransferIdNotFound,
            "",
        );
        return Ok(false);
    };
    if put.transfer_state != TransferState::Committed
        && put.transfer_state != TransferState::Reserved
    {
        return Err(FspiopError::new(
            ErrorCode::GenericValidationError,
            "transferState must be COMMITTED or RESERVED (use /error to reject)",
        ));
    }
    let Some(f) = put.fulfilment.as_ref() else {
        return Err(FspiopError::new(
            ErrorCode::MissingMandatoryElement,
            "fulfilment",
        ));
    };
    let completed = put.completed_timestamp.clone().unwrap_or_else(now_datetime);
    match hub
        .ledger
        .fulfil(id, source, f, Some(completed.as_str().to_owned()))
    {
        Ok((ledger::Fulfilled::AlreadyCommitted, _)) => Ok(false),
        Ok((ledger::Fulfilled::Committed, t)) => {
            let payer = t.payer.as_str();
            if put.transfer_state == TransferState::Reserved {
                // Commit notification (reference §1.5): PUT COMMITTED to the payer, PATCH to the payee.
                let to_payer = TransfersPut {
                    completed_timestamp: Some(completed.clone()),
                    extension_list: None,
                    fulfilment: put.fulfilment.clone(),
                    transfer_state: TransferState::Committed,
                };
                hub.notify_bytes(
                    payer,
                    "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
                    vars.clone(),
                    Method::PUT,
                    "transfers",
                    hub.own_put_body(&to_payer),
                );
                let patch = fspiop::models::TransfersPatch {
                    completed_timestamp: completed,
                    extension_list: None,
                    transfer_state: TransferState::Committed,
                };
                hub.notify_bytes(
                    source,
                    "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
                    vars,
                    Method::PATCH,
                    "transfers",
                    hub.own_patch_body(&patch),
                );
            } else {
                hub.send(Callback {
                    to: payer.to_owned(),
                    endpoint: "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
                    vars: vars.clone(),
                    suffix: String::new(),
                    method: Method::PUT,
                    headers: Hub::forwarded_headers(h, &Method::PUT, Some(payer)),
                    body: body.clone(),
                });
                if hub.config.confirm_to_payee {
                    hub.send(Callback {
                        to: source.to_owned(),
                        endpoint: "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
                        vars,
                        suffix: String::new(),
                        method: Method::PUT,
                        headers: hub.own_headers("transfers", source),
                        body,
                    });
                }
            }
            Ok(true)
        }
        Err(r) => {
            // Invalid or late fulfil: the transfer is aborted; both sides hear why. Anything
            // else (wrong source, unknown state) goes back to the sender only.
            let both =
                matches!(r.code, ErrorCode::TransferExpired) || r.reason == "invalid fulfilment";
            hub.error_callback(
                source,
                "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
                vars.clone(),
                String::new(),
                "transfers",
                r.code,
                &r.reason,
            );
            if both {
                hub.error_callback(
                    &rec.payer,
                    "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
                    vars,
                    String::new(),
                    "transfers",
                    r.code,
                    &r.reason,
                );
            }
            Ok(false)
        }
    }
}

/// `PUT /transfers/{ID}/error` from the payee: abort, forward the error to the payer.
pub(crate) fn reject(
    hub: &Arc<Hub>,
    source: &str,
    id: &str,
    h: &HeaderMap,
    body: Bytes,
) -> Result<(), FspiopError> {
    let err = hub.read_error(&body)?;
    let vars = vec![("transferId", id.to_owned())];
    match hub.ledger.abort(id, source) {
        Ok(t) => {
            let defined = err.code().is_some_and(ErrorCode::is_defined);
            let (headers, body) = if defined {
                (
                    Hub::forwarded_headers(h, &Method::PUT, Some(&t.payer)),
                    body,
                )
            } else {
                // A code outside the API's table is replaced by 3100 (reference §6).
                let body = hub.own_error_body(
                    "transfers",
                    &t.payer,
                    ErrorCode::GenericValidationError,
                    "payee sent an undefined error code",
                );
                (hub.own_headers("transfers", &t.payer), body)
            };
            hub.send(Callback {
                to: t.payer.clone(),
                endpoint: "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
                vars,
                suffix: String::new(),
                method: Method::PUT,
                headers,
                body,
            });
        }
        Err(r) => hub.error_callback(
            source,
            "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
            vars,
            String::new(),
            "transfers",
            r.code,
            &r.reason,
        ),
    }
    Ok(())
}
