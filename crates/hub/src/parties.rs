//! `/parties` (the ALS): lookups go to the oracle's FSP (or `FSPIOP-Destination`), answers
//! go back to the requester.

use axum::body::Bytes;
use fspiop::error::ErrorCode;
use perfbed_http::fspiop::FspiopError;

use fspiop::route::PartyPath;

use crate::dispatch::{party_vars, Inbound};

/// `GET /parties/{Type}/{ID}[/{SubId}]`.
pub(crate) fn get(mut cx: Inbound<'_>, p: PartyPath<'_>, body: Bytes) {
    let (t, id, sub) = (p.id_type, p.id, p.sub_id);
    let hub = cx.hub;
    let vars = party_vars(t, id, sub);
    let to = cx.destination.take().or_else(|| hub.oracle_get(t, id));
    let error_ep = if sub.is_some() {
        "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT_ERROR"
    } else {
        "FSPIOP_CALLBACK_URL_PARTIES_PUT_ERROR"
    };
    match to.filter(|d| cx.known(d)) {
        Some(to) => {
            let ep = if sub.is_some() {
                "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_GET"
            } else {
                "FSPIOP_CALLBACK_URL_PARTIES_GET"
            };
            cx.forward(&to, ep, vars, String::new(), body);
        }
        None => hub.error_callback(
            &cx.source,
            error_ep,
            vars,
            String::new(),
            "parties",
            ErrorCode::PartyNotFound,
            "",
        ),
    }
}

/// `PUT /parties/{Type}/{ID}[/{SubId}][/error]`: forwarded to `FSPIOP-Destination`.
pub(crate) fn put(
    mut cx: Inbound<'_>,
    p: PartyPath<'_>,
    error: bool,
    body: Bytes,
) -> Result<(), FspiopError> {
    let (t, id, sub) = (p.id_type, p.id, p.sub_id);
    let to = cx.require_destination()?;
    let ep = match (sub.is_some(), error) {
        (false, false) => "FSPIOP_CALLBACK_URL_PARTIES_PUT",
        (false, true) => "FSPIOP_CALLBACK_URL_PARTIES_PUT_ERROR",
        (true, false) => "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT",
        (true, true) => "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT_ERROR",
    };
    cx.forward(&to, ep, party_vars(t, id, sub), String::new(), body);
    Ok(())
}
