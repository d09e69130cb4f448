//! `/quotes` (quoting-service pass-through): forwarded to `FSPIOP-Destination`.

use axum::body::Bytes;
use fspiop::error::ErrorCode;
use perfbed_http::fspiop::FspiopError;

use crate::dispatch::Inbound;

/// `POST /quotes`: forwarded, or 3201 back to the payer when the destination is unknown.
pub(crate) fn post(mut cx: Inbound<'_>, body: Bytes) {
    match cx.destination.take().filter(|d| cx.known(d)) {
        Some(to) => cx.forward(
            &to,
            "FSPIOP_CALLBACK_URL_QUOTES",
            vec![],
            "/quotes".into(),
            body,
        ),
        None => {
            let id = crate::iso::quote_id(&body);
            cx.hub.error_callback(
                &cx.source,
                "FSPIOP_CALLBACK_URL_QUOTES",
                vec![],
                format!("/quotes/{id}/error"),
                "quotes",
                ErrorCode::DestinationFspError,
                "unknown or missing FSPIOP-Destination",
            );
        }
    }
}

/// `PUT /quotes/{ID}[/error]`.
pub(crate) fn put(
    mut cx: Inbound<'_>,
    id: &str,
    error: bool,
    body: Bytes,
) -> Result<(), FspiopError> {
    let to = cx.require_destination()?;
    let suffix = if error {
        format!("/quotes/{id}/error")
    } else {
        format!("/quotes/{id}")
    };
    cx.forward(&to, "FSPIOP_CALLBACK_URL_QUOTES", vec![], suffix, body);
    Ok(())
}
