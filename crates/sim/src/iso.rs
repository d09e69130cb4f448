//! ISO 20022 mode of the simulator (`api = iso20022`): the wire side only. Inbound ISO bodies
//! are validated as the switch validates them and read into the FSPIOP models
//! ([`fspiop::iso`] views); the payee and payer logic stays the FSPIOP one; outbound bodies are
//! built as ISO from the FSPIOP models plus the ISO message they answer (the POST /quotes as
//! received for PUT /quotes, the PUT /quotes as received for POST /transfers). The payee stays
//! stateless: the fulfilment is re-derived from the ILP v4 packet.

use axum::body::Bytes;
use fspiop::error::{ErrorCode, ErrorInformation};
use fspiop::iso::{self, Api};
use fspiop::json::to_canonical_vec;
use fspiop::models::{
    PartiesPut, QuotesPost, QuotesPut, TransfersPatch, TransfersPost, TransfersPut,
};
use perfbed_http::fspiop::{iso_stamp, parse_body, FspiopError};
use serde_json::Value;

fn bytes(v: &Value) -> Bytes {
    Bytes::from(iso::to_bytes(v))
}

/// Parses an ISO body as JSON (3100 when it is not).
pub(crate) fn parse_value(body: &[u8]) -> Result<Value, FspiopError> {
    Ok(iso::parse(body)?)
}

/// `POST /quotes` as the payee reads it: the FSPIOP view, and in ISO mode the body as received
/// (the context of the answer).
pub(crate) fn quote_request(
    api: Api,
    body: &[u8],
) -> Result<(QuotesPost, Option<Value>), FspiopError> {
    match api {
        Api::Fspiop => Ok((parse_body(body)?, None)),
        Api::Iso20022 => {
            let v = parse_value(body)?;
            Ok((iso::quotes_post_view(&v)?, Some(v)))
        }
    }
}

/// `POST /transfers` as the payee reads it.
pub(crate) fn transfer_request(api: Api, body: &[u8]) -> Result<TransfersPost, FspiopError> {
    match api {
        Api::Fspiop => parse_body(body),
        Api::Iso20022 => Ok(iso::transfers_post_view(&parse_value(body)?)?),
    }
}

/// `PATCH /transfers/{ID}` as the payee reads it.
pub(crate) fn transfer_patch(api: Api, body: &[u8]) -> Result<TransfersPatch, FspiopError> {
    match api {
        Api::Fspiop => parse_body(body),
        Api::Iso20022 => Ok(iso::transfers_patch_view(&parse_value(body)?)?),
    }
}

/// The `PUT /parties` body from `fsp` to `destination`.
pub(crate) fn party_body(api: Api, put: &PartiesPut, fsp: &str, destination: &str) -> Bytes {
    match api {
        Api::Fspiop => Bytes::from(to_canonical_vec(put)),
        Api::Iso20022 => bytes(&iso::parties_put(put, fsp, destination, &iso_stamp())),
    }
}

/// The `PUT /quotes/{ID}` body; in ISO mode `post` is the POST /quotes as received.
pub(crate) fn quote_body(api: Api, put: &QuotesPut, quote_id: &str, post: Option<&Value>) -> Bytes {
    match (api, post) {
        (Api::Iso20022, Some(post)) => bytes(&iso::quotes_put(put, quote_id, post, &iso_stamp())),
        _ => Bytes::from(to_canonical_vec(put)),
    }
}

/// The `PUT /transfers/{ID}` body.
pub(crate) fn transfer_body(api: Api, put: &TransfersPut) -> Bytes {
    match api {
        Api::Fspiop => Bytes::from(to_canonical_vec(put)),
        Api::Iso20022 => bytes(&iso::transfers_put(put, &iso_stamp())),
    }
}

/// An error callback body: FSPIOP `errorInformation`, or ISO acmt.024 (parties: the code in
/// `Rpt.Rsn.Cd`) / pacs.002 (quotes, transfers).
pub(crate) fn error_body(
    api: Api,
    resource: &str,
    code: ErrorCode,
    detail: &str,
    fsp: &str,
    destination: &str,
) -> Bytes {
    let info = ErrorInformation::new(code, (!detail.is_empty()).then_some(detail));
    match api {
        Api::Fspiop => Bytes::from(info.into_object().to_bytes()),
        Api::Iso20022 if resource == "parties" => bytes(&iso::parties_error(
            &info.error_code,
            fsp,
            destination,
            &iso_stamp(),
        )),
        Api::Iso20022 => bytes(&iso::pacs_error(&info, &iso_stamp())),
    }
}

/// The `POST /quotes` body the payer sends.
pub(crate) fn quote_post_body(api: Api, req: &QuotesPost) -> Bytes {
    match api {
        Api::Fspiop => Bytes::from(to_canonical_vec(req)),
        Api::Iso20022 => bytes(&iso::quotes_post(req, &iso_stamp())),
    }
}

/// The `POST /transfers` body the payer sends; in ISO mode built from `context` (the PUT
/// /quotes as received) or, for a transfer without a quote, from the packet's parties.
pub(crate) fn transfer_post_body(
    api: Api,
    req: &TransfersPost,
    context: Option<&Value>,
) -> Result<Bytes, String> {
    match api {
        Api::Fspiop => Ok(Bytes::from(to_canonical_vec(req))),
        Api::Iso20022 => {
            let own;
            let ctx = match context {
                Some(c) => c,
                None => {
                    own = iso::quote_context_from_packet(&req.ilp_packet)
                        .map_err(|e| e.to_string())?;
                    &own
                }
            };
            Ok(bytes(&iso::transfers_post(req, ctx, &iso_stamp())))
        }
    }
}
