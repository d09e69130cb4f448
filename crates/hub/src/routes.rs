//! Which FSPIOP resource a request asks for.

use fspiop::error::ErrorCode;
use http::Method;
use perfbed_http::fspiop::FspiopError;

/// What an FSPIOP path asks for.
#[derive(Debug)]
pub(crate) enum Target {
    PartiesGet {
        t: String,
        id: String,
        sub: Option<String>,
    },
    PartiesPut {
        t: String,
        id: String,
        sub: Option<String>,
        error: bool,
    },
    ParticipantsGet {
        t: String,
        id: String,
    },
    ParticipantsPost {
        t: String,
        id: String,
    },
    ParticipantsBulk,
    ParticipantsPut,
    QuotesPost,
    QuotesPut {
        id: String,
        error: bool,
    },
    TransfersPost,
    TransfersGet {
        id: String,
    },
    TransfersPut {
        id: String,
    },
    TransfersError {
        id: String,
    },
}

pub(crate) fn parse_target(method: &Method, path: &str) -> Result<Target, FspiopError> {
    let s: Vec<&str> = path.trim_matches('/').split('/').collect();
    let o = |x: &str| x.to_owned();
    Ok(match (method, s.as_slice()) {
        (&Method::GET, ["parties", t, id]) => Target::PartiesGet {
            t: o(t),
            id: o(id),
            sub: None,
        },
        (&Method::GET, ["parties", t, id, sub]) => Target::PartiesGet {
            t: o(t),
            id: o(id),
            sub: Some(o(sub)),
        },
        (&Method::PUT, ["parties", t, id, "error"]) => Target::PartiesPut {
            t: o(t),
            id: o(id),
            sub: None,
            error: true,
        },
        (&Method::PUT, ["parties", t, id, sub, "error"]) => Target::PartiesPut {
            t: o(t),
            id: o(id),
            sub: Some(o(sub)),
            error: true,
        },
        (&Method::PUT, ["parties", t, id]) => Target::PartiesPut {
            t: o(t),
            id: o(id),
            sub: None,
            error: false,
        },
        (&Method::PUT, ["parties", t, id, sub]) => Target::PartiesPut {
            t: o(t),
            id: o(id),
            sub: Some(o(sub)),
            error: false,
        },
        (&Method::GET, ["participants", t, id]) => Target::ParticipantsGet { t: o(t), id: o(id) },
        (&Method::POST, ["participants", t, id]) => Target::ParticipantsPost { t: o(t), id: o(id) },
        (&Method::POST, ["participants"]) => Target::ParticipantsBulk,
        (&Method::PUT, ["participants", ..]) => Target::ParticipantsPut,
        (&Method::POST, ["quotes"]) => Target::QuotesPost,
        (&Method::PUT, ["quotes", id]) => Target::QuotesPut {
            id: o(id),
            error: false,
        },
        (&Method::PUT, ["quotes", id, "error"]) => Target::QuotesPut {
            id: o(id),
            error: true,
        },
        (&Method::POST, ["transfers"]) => Target::TransfersPost,
        (&Method::GET, ["transfers", id]) => Target::TransfersGet { id: o(id) },
        (&Method::PUT, ["transfers", id]) => Target::TransfersPut { id: o(id) },
        (&Method::PUT, ["transfers", id, "error"]) => Target::TransfersError { id: o(id) },
        (_, ["parties" | "participants" | "quotes" | "transfers", ..]) => {
            return Err(FspiopError::new(
                ErrorCode::GenericClientError,
                format!("method {method} not allowed on {path}"),
            ))
        }
        _ => {
            return Err(FspiopError::new(
                ErrorCode::UnknownUri,
                format!("{method} {path}"),
            ))
        }
    })
}
