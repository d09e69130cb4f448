//! FSPIOP error codes (API Definition v1.1 §7.6), the hub's HTTP status mapping, and the
//! `errorInformation` body every synchronous error and every `/error` callback carries.
//!
//! This is the one place where an error becomes wire data: the HTTP layer turns any of our typed
//! errors into an [`ErrorCode`] plus a detail string and calls [`ErrorInformation::new`].

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::models::ExtensionList;

macro_rules! error_codes {
    ($( $variant:ident = $code:literal, $name:literal; )*) => {
        /// An FSPIOP error code from the API's defined table.
        ///
        /// Scheme-specific codes (xx40–xx99) are carried as [`ErrorCode::Other`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $( #[doc = $name] $variant, )*
            /// A code outside the defined table (e.g. a scheme-specific one).
            Other(u16),
        }

        impl ErrorCode {
            /// Every code the API defines, in numeric order.
            pub const DEFINED: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            /// The four-digit number.
            pub const fn code(self) -> u16 {
                match self { $( ErrorCode::$variant => $code, )* ErrorCode::Other(c) => c }
            }

            /// The API's name for the code, used as the default `errorDescription`.
            pub const fn name(self) -> &'static str {
                match self { $( ErrorCode::$variant => $name, )* ErrorCode::Other(_) => "Scheme-specific error" }
            }

            /// The code for a number; numbers outside the defined table become `Other`.
            pub const fn from_code(code: u16) -> ErrorCode {
                match code { $( $code => ErrorCode::$variant, )* c => ErrorCode::Other(c) }
            }
        }
    };
}

error_codes! {
    CommunicationError = 1000, "Communication error";
    DestinationCommunicationError = 1001, "Destination communication error";
    GenericServerError = 2000, "Generic server error";
    InternalServerError = 2001, "Internal server error";
    NotImplemented = 2002, "Not implemented";
    ServiceCurrentlyUnavailable = 2003, "Service currently unavailable";
    ServerTimedOut = 2004, "Server timed out";
    ServerBusy = 2005, "Server busy";
    GenericClientError = 3000, "Generic client error";
    UnacceptableVersion = 3001, "Unacceptable version requested";
    UnknownUri = 3002, "Unknown URI";
    AddPartyInformationError = 3003, "Add Party information error";
    GenericValidationError = 3100, "Generic validation error";
    MalformedSyntax = 3101, "Malformed syntax";
    MissingMandatoryElement = 3102, "Missing mandatory element";
    TooManyElements = 3103, "Too many elements";
    TooLargePayload = 3104, "Too large payload";
    InvalidSignature = 3105, "Invalid signature";
    ModifiedRequest = 3106, "Modified request";
    MissingMandatoryExtension = 3107, "Missing mandatory extension parameter";
    GenericIdNotFound = 3200, "Generic ID not found";
    DestinationFspError = 3201, "Destination FSP Error";
    PayerFspIdNotFound = 3202, "Payer FSP ID not found";
    PayeeFspIdNotFound = 3203, "Payee FSP ID not found";
    PartyNotFound = 3204, "Party not found";
    QuoteIdNotFound = 3205, "Quote ID not found";
    TransactionRequestIdNotFound = 3206, "Transaction request ID not found";
    TransactionIdNotFound = 3207, "Transaction ID not found";
    TransferIdNotFound = 3208, "Transfer ID not found";
    BulkQuoteIdNotFound = 3209, "Bulk quote ID not found";
    BulkTransferIdNotFound = 3210, "Bulk transfer ID not found";
    GenericExpiredError = 3300, "Generic expired error";
    TransactionRequestExpired = 3301, "Transaction request expired";
    QuoteExpired = 3302, "Quote expired";
    TransferExpired = 3303, "Transfer expired";
    GenericPayerError = 4000, "Generic Payer error";
    PayerFspInsufficientLiquidity = 4001, "Payer FSP insufficient liquidity";
    GenericPayerRejection = 4100, "Generic Payer rejection";
    PayerRejectedTransactionRequest = 4101, "Payer rejected transaction request";
    PayerFspUnsupportedTransactionType = 4102, "Payer FSP unsupported transaction type";
    PayerUnsupportedCurrency = 4103, "Payer unsupported currency";
    PayerLimitError = 4200, "Payer limit error";
    PayerPermissionError = 4300, "Payer permission error";
    GenericPayerBlockedError = 4400, "Generic Payer blocked error";
    GenericPayeeError = 5000, "Generic Payee error";
    PayeeFspInsufficientLiquidity = 5001, "Payee FSP insufficient liquidity";
    GenericPayeeRejection = 5100, "Generic Payee rejection";
    PayeeRejectedQuote = 5101, "Payee rejected quote";
    PayeeFspUnsupportedTransactionType = 5102, "Payee FSP unsupported transaction type";
    PayeeFspRejectedQuote = 5103, "Payee FSP rejected quote";
    PayeeRejectedTransaction = 5104, "Payee rejected transaction";
    PayeeFspRejectedTransaction = 5105, "Payee FSP rejected transaction";
    PayeeUnsupportedCurrency = 5106, "Payee unsupported currency";
    PayeeLimitError = 5200, "Payee limit error";
    PayeePermissionError = 5300, "Payee permission error";
    GenericPayeeBlockedError = 5400, "Generic Payee blocked error";
}

impl ErrorCode {
    /// Whether the code is in the API's defined table (not scheme-specific).
    pub const fn is_defined(self) -> bool {
        !matches!(self, ErrorCode::Other(_))
    }

    /// The HTTP status the hub answers a synchronous error with (central-services-error-handling):
    /// 1xxx → 503; 2xxx → 500 (2002 → 501, 2003 → 503); 3xxx/4xxx/5xxx → 400, except
    /// 3001 → 406 and 3002 → 404.
    pub const fn http_status(self) -> u16 {
        match self.code() {
            2002 => 501,
            2003 => 503,
            3001 => 406,
            3002 => 404,
            1000..=1999 => 503,
            2000..=2999 => 500,
            _ => 400,
        }
    }

    /// The code as the four-character string used on the wire.
    pub fn as_wire(self) -> String {
        format!("{:04}", self.code())
    }

    /// Parses a wire `errorCode` (`^[1-9]\d{3}$`).
    pub fn parse(s: &str) -> Option<ErrorCode> {
        let b = s.as_bytes();
        if b.len() != 4 || !(b'1'..=b'9').contains(&b[0]) || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        s.parse::<u16>().ok().map(ErrorCode::from_code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04} {}", self.code(), self.name())
    }
}

/// `errorInformation` (fields in sorted order, so serde emits canonical JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInformation {
    /// Four-digit code, e.g. `"3204"`.
    pub error_code: String,
    /// Human-readable description (1–128 characters on the wire).
    pub error_description: String,
    /// Optional extensions, e.g. `cause`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension_list: Option<ExtensionList>,
}

/// The body of a synchronous error response and of every `PUT …/error` callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInformationObject {
    /// The error.
    pub error_information: ErrorInformation,
}

/// Longest `errorDescription` the API allows.
pub const MAX_DESCRIPTION: usize = 128;

impl ErrorInformation {
    /// `errorDescription` is the code's name, followed by ` - detail` when a detail is given, as
    /// the hub writes it (`"Generic validation error - …"`), cut to 128 characters.
    pub fn new(code: ErrorCode, detail: Option<&str>) -> Self {
        let mut description = code.name().to_owned();
        if let Some(detail) = detail.filter(|d| !d.is_empty()) {
            description.push_str(" - ");
            description.push_str(detail);
        }
        if description.chars().count() > MAX_DESCRIPTION {
            description = description.chars().take(MAX_DESCRIPTION).collect();
        }
        ErrorInformation {
            error_code: code.as_wire(),
            error_description: description,
            extension_list: None,
        }
    }

    /// Adds one extension (e.g. `cause`), keeping the list within the API's limits
    /// (16 items, key ≤ 32 and value ≤ 128 characters; longer ones are cut).
    pub fn with_extension(mut self, key: &str, value: &str) -> Self {
        let list = self.extension_list.get_or_insert_with(|| ExtensionList {
            extension: Vec::new(),
        });
        if list.extension.len() < 16 {
            list.extension.push(crate::models::Extension {
                key: key.chars().take(32).collect(),
                value: value.chars().take(128).collect(),
            });
        }
        self
    }

    /// The parsed code (`Other` for scheme-specific ones); `None` if the string is not a code.
    pub fn code(&self) -> Option<ErrorCode> {
        ErrorCode::parse(&self.error_code)
    }

    /// Wraps it into the `{"errorInformation": …}` body.
    pub fn into_object(self) -> ErrorInformationObject {
        ErrorInformationObject {
            error_information: self,
        }
    }
}

impl ErrorInformationObject {
    /// Shorthand for `ErrorInformation::new(code, detail).into_object()`.
    pub fn new(code: ErrorCode, detail: Option<&str>) -> Self {
        ErrorInformation::new(code, detail).into_object()
    }

    /// Canonical JSON bytes (compact, keys sorted) of the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::json::to_canonical_vec(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping_follows_the_hub() {
        assert_eq!(ErrorCode::CommunicationError.http_status(), 503);
        assert_eq!(ErrorCode::InternalServerError.http_status(), 500);
        assert_eq!(ErrorCode::NotImplemented.http_status(), 501);
        assert_eq!(ErrorCode::ServiceCurrentlyUnavailable.http_status(), 503);
        assert_eq!(ErrorCode::UnacceptableVersion.http_status(), 406);
        assert_eq!(ErrorCode::UnknownUri.http_status(), 404);
        assert_eq!(ErrorCode::InvalidSignature.http_status(), 400);
        assert_eq!(ErrorCode::PayerLimitError.http_status(), 400);
        assert_eq!(ErrorCode::PayeeFspRejectedTransaction.http_status(), 400);
    }

    #[test]
    fn codes_round_trip_and_are_sorted() {
        let codes: Vec<u16> = ErrorCode::DEFINED.iter().map(|c| c.code()).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted, "table must be sorted and unique");
        for c in ErrorCode::DEFINED {
            assert_eq!(ErrorCode::from_code(c.code()), *c);
            assert_eq!(ErrorCode::parse(&c.as_wire()), Some(*c));
        }
        assert_eq!(ErrorCode::parse("3140"), Some(ErrorCode::Other(3140)));
        for bad in ["", "0100", "31000", "31a0", " 3100", "-310"] {
            assert_eq!(ErrorCode::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn body_is_what_the_hub_sends() {
        let body = ErrorInformationObject::new(ErrorCode::PartyNotFound, None);
        assert_eq!(
            String::from_utf8(body.to_bytes()).unwrap(),
            r#"{"errorInformation":{"errorCode":"3204","errorDescription":"Party not found"}}"#
        );
        let body = ErrorInformation::new(ErrorCode::GenericValidationError, Some("amount"))
            .with_extension("cause", "x")
            .into_object();
        assert_eq!(
            String::from_utf8(body.to_bytes()).unwrap(),
            r#"{"errorInformation":{"errorCode":"3100","errorDescription":"Generic validation error - amount","extensionList":{"extension":[{"key":"cause","value":"x"}]}}}"#
        );
        let long = "x".repeat(500);
        let info = ErrorInformation::new(ErrorCode::GenericValidationError, Some(&long));
        assert_eq!(info.error_description.chars().count(), MAX_DESCRIPTION);
    }
}
