//! `/participants` (the ALS and its oracle): lookups, registrations, bulk registrations.

use axum::body::Bytes;
use fspiop::error::ErrorCode;
use fspiop::json::to_canonical_vec;
use fspiop::models::{
    ParticipantsIdPut, ParticipantsPost, ParticipantsTypeIdPost, ParticipantsTypeIdPut, PartyResult,
};
use fspiop::types::FspId;
use http::Method;
use perfbed_http::fspiop::{parse_body, FspiopError};

use crate::dispatch::{party_vars, Inbound};
use crate::outbound::Callback;

/// `GET /participants/{Type}/{ID}`: the oracle answers.
pub(crate) fn get(cx: &Inbound<'_>, t: &str, id: &str) {
    let (hub, source) = (cx.hub, &cx.source);
    let vars = party_vars(t, id, None);
    if let Some(why) = hub.als_oracle_missing(t, None) {
        return put_error(hub, source, vars, ErrorCode::AddPartyInformationError, &why);
    }
    match hub.oracle_get(t, id) {
        Some(fsp) => {
            let put = ParticipantsTypeIdPut {
                fsp_id: FspId::parse(fsp).ok(),
            };
            hub.notify(
                source,
                "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT",
                vars,
                Method::PUT,
                "participants",
                &put,
            );
        }
        None => put_error(hub, source, vars, ErrorCode::PartyNotFound, ""),
    }
}

/// `POST /participants/{Type}/{ID}`: registers the sender in the oracle.
pub(crate) fn post(cx: &Inbound<'_>, t: &str, id: &str, body: &Bytes) -> Result<(), FspiopError> {
    let (hub, source) = (cx.hub, &cx.source);
    let req: ParticipantsTypeIdPost = parse_body(body)?;
    let vars = party_vars(t, id, None);
    if let Some(why) = hub.als_oracle_missing(t, req.currency.as_ref().map(|c| c.as_str())) {
        put_error(hub, source, vars, ErrorCode::AddPartyInformationError, &why);
    } else if req.fsp_id.as_str() != source {
        put_error(
            hub,
            source,
            vars,
            ErrorCode::AddPartyInformationError,
            "fspId must equal FSPIOP-Source",
        );
    } else {
        hub.oracle_set(t, id, req.fsp_id.as_str());
        let put = ParticipantsTypeIdPut {
            fsp_id: Some(req.fsp_id),
        };
        hub.notify(
            source,
            "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT",
            vars,
            Method::PUT,
            "participants",
            &put,
        );
    }
    Ok(())
}

/// `POST /participants`: bulk registration; each party is accepted only for the sender.
pub(crate) fn post_bulk(cx: &Inbound<'_>, body: &Bytes) -> Result<(), FspiopError> {
    let (hub, source) = (cx.hub, &cx.source);
    let req: ParticipantsPost = parse_body(body)?;
    req.check()?;
    // The real ALS asks the oracle of each id type (for the request's currency, when it names
    // one); without one the whole request fails, by error callback.
    let currency = req.currency.as_ref().map(|c| c.as_str().to_owned());
    let missing = req
        .party_list
        .iter()
        .find_map(|p| hub.als_oracle_missing(p.party_id_type.as_str(), currency.as_deref()));
    if let Some(why) = missing {
        hub.error_callback(
            source,
            "FSPIOP_CALLBACK_URL_PARTICIPANT_BATCH_PUT_ERROR",
            vec![("requestId", req.request_id.into_string())],
            String::new(),
            "participants",
            ErrorCode::AddPartyInformationError,
            &why,
        );
        return Ok(());
    }
    let party_list = req
        .party_list
        .into_iter()
        .map(|p| {
            let ok = p.fsp_id.as_ref().is_some_and(|f| f.as_str() == source);
            if ok {
                hub.oracle_set(
                    p.party_id_type.as_str(),
                    p.party_identifier.as_str(),
                    source,
                );
            }
            PartyResult {
                error_information: (!ok).then(|| {
                    fspiop::ErrorInformation::new(
                        ErrorCode::PartyNotFound,
                        Some("fspId must equal FSPIOP-Source"),
                    )
                }),
                party_id: p,
            }
        })
        .collect();
    let put = ParticipantsIdPut {
        currency: req.currency,
        party_list,
    };
    hub.send(Callback {
        to: source.clone(),
        endpoint: "FSPIOP_CALLBACK_URL_PARTICIPANT_BATCH_PUT",
        vars: vec![("requestId", req.request_id.into_string())],
        suffix: String::new(),
        method: Method::PUT,
        headers: hub.own_headers("participants", source),
        body: Bytes::from(to_canonical_vec(&put)),
    });
    Ok(())
}

/// The oracle's error callback for `/participants/{Type}/{ID}` (PUT …/error to the sender).
fn put_error(
    hub: &std::sync::Arc<crate::Hub>,
    source: &str,
    vars: Vec<(&'static str, String)>,
    code: ErrorCode,
    why: &str,
) {
    hub.error_callback(
        source,
        "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT_ERROR",
        vars,
        String::new(),
        "participants",
        code,
        why,
    );
}
