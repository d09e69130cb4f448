//! ISO 20022 mode of the emulator (`api = iso20022`), as the switch runs it with
//! `API_TYPE=iso20022` (reference §5): only the `…iso20022.{res}+json` media types; every ISO
//! body validated against the switch's required fields and formats ([`fspiop::iso`]); transfer
//! id, FSPs, amount, expiration and the condition (decoded from the ILP v4 packet) read from the
//! pacs.008 for the ledger, which stays FSPIOP; DFSP messages forwarded with their original
//! bytes and headers; the hub's own messages (errors, 3303 expiries, the PATCH after `RESV`,
//! state answers) built as ISO acmt.024 / pacs.002 with version 2.0.

use axum::body::Bytes;
use fspiop::error::{ErrorCode, ErrorInformation};
use fspiop::iso::{self, Api};
use fspiop::json::to_canonical_vec;
use fspiop::models::{TransfersPatch, TransfersPost, TransfersPut};
use fspiop::route::Route;
use perfbed_http::fspiop::{iso_stamp, parse_body, FspiopError};

use crate::Hub;

/// Validates the ISO body of a request the switch's services validate (ALS, quoting-service,
/// ml-api-adapter) before the handlers run. POST and PUT /transfers are read (and so checked)
/// by their handlers.
pub(crate) fn validate(route: &Route<'_>, body: &[u8]) -> Result<(), FspiopError> {
    let check = |f: fn(&serde_json::Value) -> Result<(), iso::IsoError>| {
        let v = iso::parse(body)?;
        f(&v).map_err(FspiopError::from)
    };
    match route {
        Route::PartiesPut(_) => check(|v| iso::parties_put_view(v).map(drop)),
        Route::PartiesError(_) => check(|v| iso::parties_error_view(v).map(drop)),
        Route::QuotesPost => check(|v| iso::quotes_post_view(v).map(drop)),
        Route::QuotesPut { id } => {
            let v = iso::parse(body)?;
            iso::quotes_put_view(&v)?;
            if iso::tx_id(&v) != Some(*id) {
                return Err(FspiopError::new(
                    ErrorCode::GenericValidationError,
                    "CdtTrfTxInf.PmtId.TxId differs from the quote id in the URL",
                ));
            }
            Ok(())
        }
        Route::QuotesError { .. } => check(|v| iso::pacs_error_view(v).map(drop)),
        _ => Ok(()),
    }
}

impl Hub {
    /// The API this hub speaks.
    pub(crate) fn api(&self) -> Api {
        self.config.api
    }

    /// `POST /transfers` as the ledger needs it. In ISO mode: the pacs.008 checked, the
    /// condition decoded from its packet, and `FSPIOP-Source` required to be the debtor agent
    /// (central-ledger's `validateFspiopSourceMatchesPayer`).
    pub(crate) fn read_prepare(
        &self,
        source: &str,
        body: &[u8],
    ) -> Result<TransfersPost, FspiopError> {
        match self.api() {
            Api::Fspiop => parse_body(body),
            Api::Iso20022 => {
                let t = iso::transfers_post_view(&iso::parse(body)?)?;
                if t.payer_fsp.as_str() != source {
                    return Err(FspiopError::new(
                        ErrorCode::GenericValidationError,
                        format!(
                            "FSPIOP-Source '{source}' is not the debtor agent \
                             (CdtTrfTxInf.DbtrAgt.FinInstnId.Othr.Id '{}')",
                            t.payer_fsp
                        ),
                    ));
                }
                Ok(t)
            }
        }
    }

    /// `PUT /transfers/{ID}` from the payee. In ISO mode `PrcgDt.DtTm` must be now: not in the
    /// future (200 ms of clock slack) nor older than 5 minutes (ml-api-adapter's validator
    /// refuses both).
    pub(crate) fn read_fulfil(&self, body: &[u8]) -> Result<TransfersPut, FspiopError> {
        match self.api() {
            Api::Fspiop => parse_body(body),
            Api::Iso20022 => {
                let put = iso::transfers_put_view(&iso::parse(body)?)?;
                if let Some(t) = &put.completed_timestamp {
                    let t = t.to_offset_date_time();
                    let now = time::OffsetDateTime::now_utc();
                    if t > now + time::Duration::milliseconds(200)
                        || t < now - time::Duration::minutes(5)
                    {
                        return Err(FspiopError::new(
                            ErrorCode::GenericValidationError,
                            "TxInfAndSts.PrcgDt.DtTm must be the current time",
                        ));
                    }
                }
                Ok(put)
            }
        }
    }

    /// `PUT /transfers/{ID}/error` from the payee: its error.
    pub(crate) fn read_error(&self, body: &[u8]) -> Result<ErrorInformation, FspiopError> {
        match self.api() {
            Api::Fspiop => {
                let e: fspiop::error::ErrorInformationObject = parse_body(body)?;
                Ok(e.error_information)
            }
            Api::Iso20022 => Ok(iso::pacs_error_view(&iso::parse(body)?)?),
        }
    }

    /// The body of an error the hub itself sends to `to` about `resource`.
    pub(crate) fn own_error_body(
        &self,
        resource: &str,
        to: &str,
        code: ErrorCode,
        detail: &str,
    ) -> Bytes {
        let info = ErrorInformation::new(code, (!detail.is_empty()).then_some(detail));
        match self.api() {
            Api::Fspiop => Bytes::from(info.into_object().to_bytes()),
            Api::Iso20022 if resource == "parties" => Bytes::from(iso::to_bytes(
                &iso::parties_error(&info.error_code, &self.config.hub_id, to, &iso_stamp()),
            )),
            Api::Iso20022 => Bytes::from(iso::to_bytes(&iso::pacs_error(&info, &iso_stamp()))),
        }
    }

    /// The body of a `PUT /transfers/{ID}` the hub itself sends (state answers, the commit
    /// notice to the payer after `RESERVED`).
    pub(crate) fn own_put_body(&self, put: &TransfersPut) -> Bytes {
        match self.api() {
            Api::Fspiop => Bytes::from(to_canonical_vec(put)),
            Api::Iso20022 => Bytes::from(iso::to_bytes(&iso::transfers_put(put, &iso_stamp()))),
        }
    }

    /// The body of the `PATCH /transfers/{ID}` to the payee after `RESERVED`.
    pub(crate) fn own_patch_body(&self, patch: &TransfersPatch) -> Bytes {
        match self.api() {
            Api::Fspiop => Bytes::from(to_canonical_vec(patch)),
            Api::Iso20022 => Bytes::from(iso::to_bytes(&iso::transfers_patch(patch, &iso_stamp()))),
        }
    }
}

/// The quote id of a POST /quotes body, either format (for a 3201 error back to the payer).
pub(crate) fn quote_id(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v["quoteId"]
                .as_str()
                .or_else(|| iso::tx_id(&v))
                .map(str::to_owned)
        })
        .unwrap_or_default()
}
