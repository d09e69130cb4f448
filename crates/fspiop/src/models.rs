//! FSPIOP v1.1 request and callback bodies (with the v2.0 additions a P2P flow can meet).
//!
//! Field names are the API's exactly. Fields are **declared in sorted order of their JSON
//! names** so that serde's output is canonical JSON (see [`crate::json`]); the test
//! `every_model_serializes_canonically` holds each type to that. Element types validate on
//! deserialization, so a body that parses is well-formed.

use serde::{Deserialize, Serialize};

use crate::error::ErrorInformation;
use crate::json::Canonical;
use crate::types::{
    Amount, CorrelationId, Currency, DateTime, ElementError, FspId, IlpCondition, IlpFulfilment,
    IlpPacketString, PartyIdentifier,
};

macro_rules! canonical {
    ($($t:ty),* $(,)?) => { $( impl Canonical for $t {} )* };
}

/// One `key`/`value` extension (key 1–32, value 1–128 characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// Extension key.
    pub key: String,
    /// Extension value.
    pub value: String,
}

/// `extensionList`: 1–16 extensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawExtensionList")]
pub struct ExtensionList {
    /// The extensions.
    pub extension: Vec<Extension>,
}

#[derive(Deserialize)]
struct RawExtensionList {
    extension: Vec<Extension>,
}

impl TryFrom<RawExtensionList> for ExtensionList {
    type Error = ElementError;
    fn try_from(raw: RawExtensionList) -> Result<Self, ElementError> {
        let bad = |reason| ElementError {
            element: "ExtensionList",
            reason,
        };
        if raw.extension.is_empty() || raw.extension.len() > 16 {
            return Err(bad("must hold 1 to 16 extensions"));
        }
        for e in &raw.extension {
            if !(1..=32).contains(&e.key.chars().count()) {
                return Err(bad("key must be 1 to 32 characters"));
            }
            if !(1..=128).contains(&e.value.chars().count()) {
                return Err(bad("value must be 1 to 128 characters"));
            }
        }
        Ok(ExtensionList {
            extension: raw.extension,
        })
    }
}

/// `Money`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Amount, e.g. `"100"`.
    pub amount: Amount,
    /// ISO 4217 currency.
    pub currency: Currency,
}

impl Money {
    /// Validated money, e.g. `Money::parse("100", "XXX")`.
    pub fn parse(amount: &str, currency: &str) -> Result<Money, ElementError> {
        Ok(Money {
            amount: Amount::parse(amount)?,
            currency: Currency::parse(currency)?,
        })
    }
}

/// `PartyIdType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum PartyIdType {
    Msisdn,
    Email,
    PersonalId,
    Business,
    Device,
    AccountId,
    Iban,
    Alias,
    /// v2.0 (third-party API).
    Consent,
    /// v2.0 (third-party API).
    ThirdPartyLink,
}

impl PartyIdType {
    /// The wire name, as used in paths (`/parties/MSISDN/…`).
    pub const fn as_str(self) -> &'static str {
        match self {
            PartyIdType::Msisdn => "MSISDN",
            PartyIdType::Email => "EMAIL",
            PartyIdType::PersonalId => "PERSONAL_ID",
            PartyIdType::Business => "BUSINESS",
            PartyIdType::Device => "DEVICE",
            PartyIdType::AccountId => "ACCOUNT_ID",
            PartyIdType::Iban => "IBAN",
            PartyIdType::Alias => "ALIAS",
            PartyIdType::Consent => "CONSENT",
            PartyIdType::ThirdPartyLink => "THIRD_PARTY_LINK",
        }
    }

    /// Parses a path segment.
    pub fn from_path(s: &str) -> Option<PartyIdType> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

/// `PartyIdInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartyIdInfo {
    /// Optional extensions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension_list: Option<ExtensionList>,
    /// The FSP that holds the party, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsp_id: Option<FspId>,
    /// Identifier type.
    pub party_id_type: PartyIdType,
    /// Identifier value, e.g. an MSISDN.
    pub party_identifier: PartyIdentifier,
    /// Sub-id or type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party_sub_id_or_type: Option<PartyIdentifier>,
}

impl PartyIdInfo {
    /// An MSISDN held by `fsp`.
    pub fn msisdn(fsp: &str, number: &str) -> Result<PartyIdInfo, ElementError> {
        Ok(PartyIdInfo {
            extension_list: None,
            fsp_id: Some(FspId::parse(fsp)?),
            party_id_type: PartyIdType::Msisdn,
            party_identifier: PartyIdentifier::parse(number)?,
            party_sub_id_or_type: None,
        })
    }
}

/// `PartyComplexName`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct PartyComplexName {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
}

/// `PartyPersonalInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct PartyPersonalInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complex_name: Option<PartyComplexName>,
    /// `yyyy-MM-dd`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
}

/// `Party`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Party {
    /// Merchant category code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_classification_code: Option<String>,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Who the party is.
    pub party_id_info: PartyIdInfo,
    /// Personal details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personal_info: Option<PartyPersonalInfo>,
    /// v2.0: currencies the party can receive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supported_currencies: Option<Vec<Currency>>,
}

impl Party {
    /// A party known by its id only (no name or personal details).
    pub fn with_id(party_id_info: PartyIdInfo) -> Party {
        Party {
            merchant_classification_code: None,
            name: None,
            party_id_info,
            personal_info: None,
            supported_currencies: None,
        }
    }
}

/// Body of `PUT /parties/{Type}/{ID}[/{SubId}]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartiesPut {
    /// The party.
    pub party: Party,
}

/// `AmountType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum AmountType {
    Send,
    Receive,
}

/// `TransactionScenario`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum TransactionScenario {
    Deposit,
    Withdrawal,
    Transfer,
    Payment,
    Refund,
}

/// `TransactionInitiator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum TransactionInitiator {
    Payer,
    Payee,
}

/// `TransactionInitiatorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum TransactionInitiatorType {
    Consumer,
    Agent,
    Business,
    Device,
}

/// `Refund`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Refund {
    pub original_transaction_id: CorrelationId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_reason: Option<String>,
}

/// `TransactionType`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TransactionType {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance_of_payments: Option<String>,
    pub initiator: TransactionInitiator,
    pub initiator_type: TransactionInitiatorType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_info: Option<Refund>,
    pub scenario: TransactionScenario,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_scenario: Option<String>,
}

impl TransactionType {
    /// The P2P transfer initiated by a consumer payer.
    pub fn p2p() -> Self {
        TransactionType {
            balance_of_payments: None,
            initiator: TransactionInitiator::Payer,
            initiator_type: TransactionInitiatorType::Consumer,
            refund_info: None,
            scenario: TransactionScenario::Transfer,
            sub_scenario: None,
        }
    }
}

/// `GeoCode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct GeoCode {
    pub latitude: String,
    pub longitude: String,
}

/// Body of `POST /quotes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct QuotesPost {
    pub amount: Money,
    pub amount_type: AmountType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<DateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension_list: Option<ExtensionList>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fees: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geo_code: Option<GeoCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub payee: Party,
    pub payer: Party,
    pub quote_id: CorrelationId,
    pub transaction_id: CorrelationId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_request_id: Option<CorrelationId>,
    pub transaction_type: TransactionType,
}

impl QuotesPost {
    /// A P2P quote request: consumer payer, `SEND` amount, nothing optional.
    pub fn p2p(
        quote_id: CorrelationId,
        transaction_id: CorrelationId,
        payer: Party,
        payee: Party,
        amount: Money,
    ) -> QuotesPost {
        QuotesPost {
            amount,
            amount_type: AmountType::Send,
            expiration: None,
            extension_list: None,
            fees: None,
            geo_code: None,
            note: None,
            payee,
            payer,
            quote_id,
            transaction_id,
            transaction_request_id: None,
            transaction_type: TransactionType::p2p(),
        }
    }
}

/// Body of `PUT /quotes/{ID}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct QuotesPut {
    pub condition: IlpCondition,
    pub expiration: DateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension_list: Option<ExtensionList>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geo_code: Option<GeoCode>,
    pub ilp_packet: IlpPacketString,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payee_fsp_commission: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payee_fsp_fee: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payee_receive_amount: Option<Money>,
    pub transfer_amount: Money,
}

/// Body of `POST /transfers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TransfersPost {
    pub amount: Money,
    pub condition: IlpCondition,
    pub expiration: DateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension_list: Option<ExtensionList>,
    pub ilp_packet: IlpPacketString,
    pub payee_fsp: FspId,
    pub payer_fsp: FspId,
    pub transfer_id: CorrelationId,
}

impl TransfersPost {
    /// The transfer that follows a quote (reference §3.2): amount = `transferAmount`, packet and
    /// condition from the quote response, FSPs from the quote's parties; `None` when a party
    /// has no `fspId`.
    pub fn from_quote(
        quote: &QuotesPost,
        response: &QuotesPut,
        transfer_id: CorrelationId,
        expiration: DateTime,
    ) -> Option<TransfersPost> {
        Some(TransfersPost {
            amount: response.transfer_amount.clone(),
            condition: response.condition.clone(),
            expiration,
            extension_list: None,
            ilp_packet: response.ilp_packet.clone(),
            payee_fsp: quote.payee.party_id_info.fsp_id.clone()?,
            payer_fsp: quote.payer.party_id_info.fsp_id.clone()?,
            transfer_id,
        })
    }
}

/// `TransferState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum TransferState {
    Received,
    Reserved,
    Committed,
    Aborted,
}

/// Body of `PUT /transfers/{ID}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TransfersPut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_timestamp: Option<DateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension_list: Option<ExtensionList>,
    /// Mandatory when the state is `COMMITTED` or `RESERVED` (see [`TransfersPut::check`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fulfilment: Option<IlpFulfilment>,
    pub transfer_state: TransferState,
}

impl TransfersPut {
    /// Cross-field rule: a fulfilment is present when committing or reserving.
    pub fn check(&self) -> Result<(), ElementError> {
        let needs = matches!(
            self.transfer_state,
            TransferState::Committed | TransferState::Reserved
        );
        if needs && self.fulfilment.is_none() {
            return Err(ElementError {
                element: "fulfilment",
                reason: "required when transferState is COMMITTED or RESERVED",
            });
        }
        Ok(())
    }
}

/// Body of `PATCH /transfers/{ID}` (hub → payee, after a `RESERVED` answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TransfersPatch {
    pub completed_timestamp: DateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension_list: Option<ExtensionList>,
    pub transfer_state: TransferState,
}

/// Body of `POST /participants/{Type}/{ID}[/{SubId}]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ParticipantsTypeIdPost {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension_list: Option<ExtensionList>,
    pub fsp_id: FspId,
}

/// Body of `PUT /participants/{Type}/{ID}[/{SubId}]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantsTypeIdPut {
    /// The FSP that holds the party.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsp_id: Option<FspId>,
}

/// Largest `partyList` of a bulk `POST /participants`.
pub const MAX_BULK_PARTIES: usize = 10_000;

/// Body of the bulk `POST /participants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ParticipantsPost {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    pub party_list: Vec<PartyIdInfo>,
    pub request_id: CorrelationId,
}

impl ParticipantsPost {
    /// `partyList` holds 1 to 10 000 parties.
    pub fn check(&self) -> Result<(), ElementError> {
        if self.party_list.is_empty() || self.party_list.len() > MAX_BULK_PARTIES {
            return Err(ElementError {
                element: "partyList",
                reason: "must hold 1 to 10000 parties",
            });
        }
        Ok(())
    }
}

/// One entry of the bulk participants callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct PartyResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_information: Option<ErrorInformation>,
    pub party_id: PartyIdInfo,
}

/// Body of `PUT /participants/{requestId}` (bulk callback).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ParticipantsIdPut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    pub party_list: Vec<PartyResult>,
}

canonical!(
    Extension,
    ExtensionList,
    Money,
    PartyIdInfo,
    PartyComplexName,
    PartyPersonalInfo,
    Party,
    PartiesPut,
    TransactionType,
    GeoCode,
    QuotesPost,
    QuotesPut,
    TransfersPost,
    TransfersPut,
    TransfersPatch,
    ParticipantsTypeIdPost,
    ParticipantsTypeIdPut,
    ParticipantsPost,
    PartyResult,
    ParticipantsIdPut,
    crate::error::ErrorInformation,
    crate::error::ErrorInformationObject,
);

#[cfg(test)]
pub(crate) mod samples {
    //! Fully populated instances (every optional field set), for canonical-order tests.
    use super::*;

    pub fn money(a: &str) -> Money {
        Money {
            amount: Amount::parse(a).unwrap(),
            currency: Currency::parse("XXX").unwrap(),
        }
    }

    pub fn ext() -> ExtensionList {
        ExtensionList {
            extension: vec![Extension {
                key: "k".into(),
                value: "v".into(),
            }],
        }
    }

    pub fn id_info(fsp: &str, msisdn: &str) -> PartyIdInfo {
        PartyIdInfo {
            extension_list: Some(ext()),
            fsp_id: Some(FspId::parse(fsp).unwrap()),
            party_id_type: PartyIdType::Msisdn,
            party_identifier: PartyIdentifier::parse(msisdn).unwrap(),
            party_sub_id_or_type: Some(PartyIdentifier::parse("sub").unwrap()),
        }
    }

    pub fn party(fsp: &str, msisdn: &str) -> Party {
        Party {
            merchant_classification_code: Some("1234".into()),
            name: Some("Ada Lovelace".into()),
            party_id_info: id_info(fsp, msisdn),
            personal_info: Some(PartyPersonalInfo {
                complex_name: Some(PartyComplexName {
                    first_name: Some("Ada".into()),
                    last_name: Some("Lovelace".into()),
                    middle_name: Some("A".into()),
                }),
                date_of_birth: Some("1815-12-10".into()),
            }),
            supported_currencies: Some(vec![Currency::parse("XXX").unwrap()]),
        }
    }

    pub fn id(n: u8) -> CorrelationId {
        CorrelationId::v4_from_bytes([n; 16])
    }

    pub fn dt() -> DateTime {
        DateTime::parse("2030-01-01T00:00:00.000Z").unwrap()
    }

    pub fn quotes_post() -> QuotesPost {
        QuotesPost {
            amount: money("100"),
            amount_type: AmountType::Send,
            expiration: Some(dt()),
            extension_list: Some(ext()),
            fees: Some(money("1")),
            geo_code: Some(GeoCode {
                latitude: "1".into(),
                longitude: "2".into(),
            }),
            note: Some("note".into()),
            payee: party("perffsp5", "254705000001"),
            payer: party("perffsp1", "254701000001"),
            quote_id: id(1),
            transaction_id: id(2),
            transaction_request_id: Some(id(3)),
            transaction_type: TransactionType {
                balance_of_payments: Some("123".into()),
                refund_info: Some(Refund {
                    original_transaction_id: id(4),
                    refund_reason: Some("r".into()),
                }),
                sub_scenario: Some("LOCALLY_DEFINED".into()),
                ..TransactionType::p2p()
            },
        }
    }

    pub fn condition() -> IlpCondition {
        IlpCondition::parse("GIxd5xcohkmnnXolpTv_OxwpyaH__Oiq49JTvCo8pyA").unwrap()
    }

    pub fn fulfilment() -> IlpFulfilment {
        IlpFulfilment::parse("V-IalzIzy-zxy0SrlY1Ku2OE9aS4KgGZ0W-Zq5_BeC0").unwrap()
    }

    pub fn transfers_post() -> TransfersPost {
        TransfersPost {
            amount: money("100"),
            condition: condition(),
            expiration: dt(),
            extension_list: Some(ext()),
            ilp_packet: IlpPacketString::parse("DIICwwAAAAAAD0JA").unwrap(),
            payee_fsp: FspId::parse("perffsp5").unwrap(),
            payer_fsp: FspId::parse("perffsp1").unwrap(),
            transfer_id: id(5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::samples::*;
    use super::*;
    use crate::error::{ErrorCode, ErrorInformationObject};
    use crate::json::{canonicalize, to_canonical_vec};

    fn assert_canonical<T: Canonical + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug>(
        v: &T,
    ) {
        let bytes = to_canonical_vec(v);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(
            canonicalize(&bytes).unwrap(),
            bytes,
            "not canonical: {text}"
        );
        let back: T = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(&back, v, "round trip of {text}");
    }

    #[test]
    fn every_model_serializes_canonically() {
        assert_canonical(&quotes_post());
        assert_canonical(&PartiesPut {
            party: party("perffsp5", "254705000001"),
        });
        assert_canonical(&QuotesPut {
            condition: condition(),
            expiration: dt(),
            extension_list: Some(ext()),
            geo_code: Some(GeoCode {
                latitude: "1".into(),
                longitude: "2".into(),
            }),
            ilp_packet: IlpPacketString::parse("DIIC").unwrap(),
            payee_fsp_commission: Some(money("1")),
            payee_fsp_fee: Some(money("2")),
            payee_receive_amount: Some(money("3")),
            transfer_amount: money("100"),
        });
        assert_canonical(&transfers_post());
        assert_canonical(&TransfersPut {
            completed_timestamp: Some(dt()),
            extension_list: Some(ext()),
            fulfilment: Some(fulfilment()),
            transfer_state: TransferState::Committed,
        });
        assert_canonical(&TransfersPatch {
            completed_timestamp: dt(),
            extension_list: Some(ext()),
            transfer_state: TransferState::Committed,
        });
        assert_canonical(&ParticipantsTypeIdPost {
            currency: Some(Currency::parse("XXX").unwrap()),
            extension_list: Some(ext()),
            fsp_id: FspId::parse("perffsp2").unwrap(),
        });
        assert_canonical(&ParticipantsTypeIdPut {
            fsp_id: Some(FspId::parse("perffsp2").unwrap()),
        });
        assert_canonical(&ParticipantsPost {
            currency: Some(Currency::parse("XXX").unwrap()),
            party_list: vec![id_info("perffsp2", "254702000000")],
            request_id: id(9),
        });
        assert_canonical(&ParticipantsIdPut {
            currency: Some(Currency::parse("XXX").unwrap()),
            party_list: vec![PartyResult {
                error_information: Some(
                    ErrorInformation::new(ErrorCode::PartyNotFound, None).with_extension("a", "b"),
                ),
                party_id: id_info("perffsp2", "254702000000"),
            }],
        });
        assert_canonical(&ErrorInformationObject::new(
            ErrorCode::PayerLimitError,
            Some("x"),
        ));
    }

    #[test]
    fn reference_examples_parse() {
        let put: PartiesPut = serde_json::from_str(
            r#"{"party":{"partyIdInfo":{"partyIdType":"MSISDN","partyIdentifier":"27713803912","fspId":"payeefsp"},"name":"Justin Pierre"}}"#,
        )
        .unwrap();
        assert_eq!(put.party.name.as_deref(), Some("Justin Pierre"));
        let q: QuotesPost = serde_json::from_str(
            r#"{"quoteId":"7c23e80c-d078-4077-8263-2c047876fcf6","transactionId":"85feac2f-39b2-491b-817e-4a03203d4f14",
 "payee":{"partyIdInfo":{"partyIdType":"MSISDN","partyIdentifier":"27713803912","fspId":"payeefsp"}},
 "payer":{"partyIdInfo":{"partyIdType":"MSISDN","partyIdentifier":"44123456789","fspId":"payerfsp"}},
 "amountType":"SEND","amount":{"currency":"XXX","amount":"100"},
 "transactionType":{"scenario":"TRANSFER","initiator":"PAYER","initiatorType":"CONSUMER"}}"#,
        )
        .unwrap();
        assert_eq!(q.amount.amount.as_str(), "100");
        let t: TransfersPut = serde_json::from_str(
            r#"{"transferState":"COMMITTED","fulfilment":"Oko1gkYPQvE9KfDvyIRmcHLsexacJwejIQGqf00PFwI","completedTimestamp":"2025-07-01T10:00:01.123Z"}"#,
        )
        .unwrap();
        assert!(t.check().is_ok());
    }

    #[test]
    fn invalid_elements_are_rejected_when_parsing() {
        let bad_amount =
            r#"{"transferState":"COMMITTED","completedTimestamp":"2025-07-01T10:00:01Z"}"#;
        assert!(serde_json::from_str::<TransfersPut>(bad_amount).is_err());
        let no_fulfilment: TransfersPut =
            serde_json::from_str(r#"{"transferState":"RESERVED"}"#).unwrap();
        assert!(no_fulfilment.check().is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount":"5.0","currency":"XXX"}"#).is_err());
        assert!(serde_json::from_str::<ExtensionList>(r#"{"extension":[]}"#).is_err());
        assert!(serde_json::from_str::<PartyIdInfo>(
            r#"{"partyIdType":"PHONE","partyIdentifier":"1"}"#
        )
        .is_err());
        let empty = ParticipantsPost {
            currency: None,
            party_list: vec![],
            request_id: id(1),
        };
        assert!(empty.check().is_err());
    }

    #[test]
    fn party_id_type_paths() {
        assert_eq!(PartyIdType::from_path("MSISDN"), Some(PartyIdType::Msisdn));
        assert_eq!(
            PartyIdType::from_path("PERSONAL_ID"),
            Some(PartyIdType::PersonalId)
        );
        assert_eq!(PartyIdType::PersonalId.as_str(), "PERSONAL_ID");
        assert_eq!(PartyIdType::from_path("msisdn"), None);
    }
}
