//! The FSPIOP entry point: parse the route, check the request (headers, signature, source),
//! then hand it to the resource's handler.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use fspiop::error::ErrorCode;
use fspiop::route::{self, Route, RouteError};
use http::{HeaderMap, Method, StatusCode, Uri};
use perfbed_http::fspiop::{check_inbound_api, FspiopError};
use std::sync::Arc;

use crate::outbound::Callback;
use crate::{participants, parties, quotes, transfers, Hub};

pub(crate) async fn fspiop_request(
    State(hub): State<Arc<Hub>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Shed new work early while the callbacks already owed are at the limit.
    if (method == Method::GET || method == Method::POST)
        && usize::try_from(hub.stats.callbacks_in_flight.get()).unwrap_or(0)
            >= hub.config.max_callbacks_in_flight
    {
        hub.stats.shed.inc();
        hub.stats.sync_errors.inc();
        return FspiopError::new(
            ErrorCode::ServiceCurrentlyUnavailable,
            "too many callbacks in flight",
        )
        .into_response();
    }
    let path = uri.path();
    let result = route::parse(&method, path)
        .and_then(|r| match r {
            // The hub sends PATCH (commit notifications); it does not take one.
            Route::TransfersPatch { .. } => Err(RouteError::method_not_allowed(&method, path)),
            r => Ok(r),
        })
        .map_err(|e| FspiopError::new(e.code(), e.to_string()))
        .and_then(|r| handle(&hub, r, &method, path, &headers, body));
    match result {
        Ok(status) => {
            if status.is_success() {
                hub.stats.requests_accepted.inc();
            }
            status.into_response()
        }
        Err(e) => {
            hub.stats.sync_errors.inc();
            e.into_response()
        }
    }
}

/// A checked inbound request, as the resource handlers see it.
pub(crate) struct Inbound<'a> {
    pub(crate) hub: &'a Arc<Hub>,
    pub(crate) method: &'a Method,
    pub(crate) headers: &'a HeaderMap,
    /// `FSPIOP-Source`, an active participant (or the hub itself).
    pub(crate) source: String,
    /// `FSPIOP-Destination`, if given (handlers take it).
    pub(crate) destination: Option<String>,
}

impl Inbound<'_> {
    /// Forwards the DFSP's message (body and signature intact) to `to`.
    pub(crate) fn forward(
        &self,
        to: &str,
        endpoint: &'static str,
        vars: Vec<(&'static str, String)>,
        suffix: String,
        body: Bytes,
    ) {
        self.hub.send(Callback {
            to: to.to_owned(),
            endpoint,
            vars,
            suffix,
            method: self.method.clone(),
            headers: Hub::forwarded_headers(self.headers, self.method, Some(to)),
            body,
        });
    }

    /// Whether `fsp` is a registered participant.
    pub(crate) fn known(&self, fsp: &str) -> bool {
        self.hub.ledger.participant(fsp).is_some()
    }

    /// The `FSPIOP-Destination`, which must be a known participant.
    pub(crate) fn require_destination(&mut self) -> Result<String, FspiopError> {
        match self.destination.take() {
            Some(d) if self.known(&d) => Ok(d),
            Some(d) => Err(FspiopError::new(
                ErrorCode::DestinationFspError,
                format!("unknown FSPIOP-Destination '{d}'"),
            )),
            None => Err(FspiopError::new(
                ErrorCode::MissingMandatoryElement,
                "FSPIOP-Destination is required",
            )),
        }
    }
}

fn handle(
    hub: &Arc<Hub>,
    target: Route<'_>,
    method: &Method,
    path: &str,
    h: &HeaderMap,
    body: Bytes,
) -> Result<StatusCode, FspiopError> {
    let parsed = check_inbound_api(method, path, h, &body, hub.jws_policy.as_ref(), hub.api())?;
    let source = parsed.source.to_owned();
    let destination = parsed.destination.map(str::to_owned);
    if source != hub.config.hub_id
        && !hub
            .ledger
            .participant(&source)
            .is_some_and(|p| p.is_active())
    {
        return Err(FspiopError::new(
            ErrorCode::GenericIdNotFound,
            format!("FSPIOP-Source '{source}' is not an active participant"),
        ));
    }
    if hub.api().is_iso() {
        crate::iso::validate(&target, &body)?;
    }
    // As the real services answer: PUT 200, POST/GET 202 — except the ALS's bulk
    // `POST /participants`, which answers 200 (account-lookup-service 17.x,
    // `src/api/participants.js`; its own API definition says 202).
    let accepted = if *method == Method::PUT || matches!(target, Route::ParticipantsBulk) {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let cx = Inbound {
        hub,
        method,
        headers: h,
        source,
        destination,
    };
    match target {
        Route::PartiesGet(p) => parties::get(cx, p, body),
        Route::PartiesPut(p) => parties::put(cx, p, false, body)?,
        Route::PartiesError(p) => parties::put(cx, p, true, body)?,
        Route::ParticipantsGet { id_type, id } => participants::get(&cx, id_type, id),
        Route::ParticipantsPost { id_type, id } => participants::post(&cx, id_type, id, &body)?,
        Route::ParticipantsBulk => participants::post_bulk(&cx, &body)?,
        Route::ParticipantsPut => {}
        Route::QuotesPost => quotes::post(cx, body),
        Route::QuotesPut { id } => quotes::put(cx, id, false, body)?,
        Route::QuotesError { id } => quotes::put(cx, id, true, body)?,
        Route::TransfersPost => transfers::prepare(hub, &cx.source, h, body)?,
        Route::TransfersPut { id } => transfers::fulfil(hub, &cx.source, id, h, body)?,
        Route::TransfersError { id } => transfers::reject(hub, &cx.source, id, h, body)?,
        Route::TransfersGet { id } => transfers::get(hub, &cx.source, id),
        // Refused before the checks (see `fspiop_request`); kept so the match stays total.
        Route::TransfersPatch { .. } => {
            let e = RouteError::method_not_allowed(method, path);
            return Err(FspiopError::new(e.code(), e.to_string()));
        }
    }
    Ok(accepted)
}

/// The template variables of a party path.
pub(crate) fn party_vars(t: &str, id: &str, sub: Option<&str>) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("partyIdType", t.to_owned()),
        ("partyIdentifier", id.to_owned()),
    ];
    if let Some(s) = sub {
        v.push(("partySubIdOrType", s.to_owned()));
    }
    v
}
