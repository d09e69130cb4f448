//! ISO 20022 mode ("FSPIOP v2.0 ISO 20022"): the same resources, methods and headers as FSPIOP,
//! with ISO 20022 JSON bodies and `application/vnd.interoperability.iso20022.{res}+json` media
//! types (protocol reference: `reference/iso20022/README.md`).
//!
//! The bodies are handled as JSON trees ([`serde_json::Value`]): the builders write what the
//! Mojaloop transformer library (`ml-schema-transformer-lib`, the switch's and the SDK's) writes
//! for the same FSPIOP message, and the views read an ISO body back into the FSPIOP models the
//! way the library's `FSPIOPISO20022` facades do, so the simulator, the hub emulator and the
//! driver keep their FSPIOP logic and change only at the wire.
//!
//! | FSPIOP | ISO message | builder | view |
//! |---|---|---|---|
//! | `PUT /parties` | acmt.024 | [`parties_put`] | [`parties_put_view`] |
//! | `PUT /parties/…/error` | acmt.024 (`Vrfctn:false`, `Rsn.Cd`) | [`parties_error`] | [`parties_error_view`] |
//! | `POST /quotes` | pacs.081 | [`quotes_post`] | [`quotes_post_view`] |
//! | `PUT /quotes/{ID}` | pacs.082 (context: the POST as received) | [`quotes_put`] | [`quotes_put_view`] |
//! | `POST /transfers` | pacs.008 (context: the PUT /quotes as received) | [`transfers_post`] | [`transfers_post_view`] |
//! | `PUT /transfers/{ID}` | pacs.002 | [`transfers_put`] | [`transfers_put_view`] |
//! | `PATCH /transfers/{ID}` | pacs.002 | [`transfers_patch`] | [`transfers_patch_view`] |
//! | `PUT /quotes|transfers/…/error` | pacs.002 (`StsRsnInf`) | [`pacs_error`] | [`pacs_error_view`] |
//!
//! Every view first checks what the switch's OpenAPI files require and the formats it enforces
//! (ULID ids, datetimes with exactly three fractional digits, amount strings, currency, enums,
//! base64url); a violation is an [`IsoError`] with the FSPIOP code the switch answers (3100,
//! 3102). The condition travels only inside the ILP v4 packet (`VrfctnOfTerms.IlpV4PrepPacket`):
//! the views decode it from there, and refuse an ILP v1 packet as the switch's transform does.
//!
//! Pure: generated values (`MsgId`, `CreDtTm`, parties `OrgnlId`) are passed in ([`Stamp`]).
//! Signatures cover the canonical bytes ([`to_bytes`]: compact, keys sorted), as the SDK's.

use serde_json::{json, Map, Value};

use crate::error::{ErrorCode, ErrorInformation};
use crate::ilp::{IlpPacket, IlpVersion};
use crate::models::{
    AmountType, Money, PartiesPut, Party, PartyComplexName, PartyIdInfo, PartyIdType,
    PartyPersonalInfo, QuotesPost, QuotesPut, Refund, TransactionInitiator,
    TransactionInitiatorType, TransactionScenario, TransactionType, TransferState, TransfersPatch,
    TransfersPost, TransfersPut,
};
use crate::types::{
    Amount, CorrelationId, Currency, DateTime, FspId, IlpCondition, IlpFulfilment, IlpPacketString,
    PartyIdentifier,
};

// ---------------------------------------------------------------------------------------------
// API switch

/// Which body format and media types a perfbed component speaks.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// FSPIOP JSON bodies, `application/vnd.interoperability.{res}+json` (v1.1 by default).
    #[default]
    Fspiop,
    /// ISO 20022 JSON bodies, `application/vnd.interoperability.iso20022.{res}+json;version=2.0`.
    Iso20022,
}

impl Api {
    /// `fspiop` or `iso20022`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Api::Fspiop => "fspiop",
            Api::Iso20022 => "iso20022",
        }
    }

    /// Whether this is ISO 20022 mode.
    pub const fn is_iso(self) -> bool {
        matches!(self, Api::Iso20022)
    }
}

impl std::fmt::Display for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Api {
    type Err = String;
    fn from_str(s: &str) -> Result<Api, String> {
        match s {
            "fspiop" => Ok(Api::Fspiop),
            "iso20022" => Ok(Api::Iso20022),
            other => Err(format!("unknown api '{other}': use 'fspiop' or 'iso20022'")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Media types

/// The version every ISO body perfbed sends is labelled with (the SDK's default).
pub const VERSION: crate::headers::Version = crate::headers::Version::V2_0;

/// `application/vnd.interoperability.iso20022.{resource}+json;version=2.0`.
pub fn content_type(resource: &str) -> String {
    format!("application/vnd.interoperability.iso20022.{resource}+json;version=2.0")
}

/// `Accept` for a request: `application/vnd.interoperability.iso20022.{resource}+json;version=2`.
pub fn accept(resource: &str) -> String {
    format!("application/vnd.interoperability.iso20022.{resource}+json;version=2")
}

// ---------------------------------------------------------------------------------------------
// ULIDs

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Whether `s` matches the switch's ULID pattern `^[0-9A-HJKMNP-TV-Z]{26}$`.
pub fn is_ulid(s: &str) -> bool {
    s.len() == 26 && s.bytes().all(|c| CROCKFORD.contains(&c))
}

/// The ULID text of 128 bits (Crockford base32, 26 characters, as the `ulid` crate writes it).
pub fn ulid_from_u128(bits: u128) -> CorrelationId {
    let s = ulid::Ulid(bits).to_string();
    CorrelationId::parse(s).expect("a ULID is a valid CorrelationId")
}

/// A ULID from a millisecond timestamp and 80 random bits (the usual layout).
pub fn ulid(ms: u64, random: u128) -> CorrelationId {
    ulid_from_u128(ulid::Ulid::from_parts(ms, random).0)
}

/// The 128 bits of a ULID text; `None` when it is not one.
pub fn ulid_bits(s: &str) -> Option<u128> {
    if !is_ulid(s) {
        return None;
    }
    ulid::Ulid::from_string(s).ok().map(|u| u.0)
}

/// Whether `s` is a run's ULID id prefix ([`ulid_prefix`]): 7 Crockford base32 characters.
pub fn is_ulid_prefix(s: &str) -> bool {
    s.len() == 7 && s.bytes().all(|c| CROCKFORD.contains(&c))
}

/// The ULID prefix shared by every id whose top 33 bits are `tag` followed by a zero bit (how
/// the driver stamps its run tag into ids): 7 characters.
pub fn ulid_prefix(tag: [u8; 4]) -> String {
    let bits = u128::from(u32::from_be_bytes(tag)) << 96;
    ulid_from_u128(bits).as_str()[..7].to_owned()
}

// ---------------------------------------------------------------------------------------------
// Errors

/// An ISO body the switch would refuse, with the FSPIOP code it answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct IsoError {
    /// 3100 (bad value) or 3102 (missing).
    pub code: ErrorCode,
    /// Dotted path of the element, e.g. `CdtTrfTxInf.PmtId.TxId`.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

impl IsoError {
    fn missing(path: &str) -> IsoError {
        IsoError {
            code: ErrorCode::MissingMandatoryElement,
            path: path.to_owned(),
            reason: "is missing".into(),
        }
    }

    fn bad(path: &str, reason: impl Into<String>) -> IsoError {
        IsoError {
            code: ErrorCode::GenericValidationError,
            path: path.to_owned(),
            reason: reason.into(),
        }
    }

    /// The `errorInformation` for a synchronous answer.
    pub fn to_error_information(&self) -> ErrorInformation {
        ErrorInformation::new(self.code, Some(&self.to_string()))
    }
}

// ---------------------------------------------------------------------------------------------
// Stamps and bytes

/// The generated values of one message: `MsgId` (and parties `OrgnlId`) and `CreDtTm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// `GrpHdr.MsgId` / `Assgnmt.MsgId`: a fresh ULID.
    pub msg_id: CorrelationId,
    /// `Rpt.OrgnlId` of acmt.024: another fresh ULID (unused by the other messages).
    pub orgnl_id: CorrelationId,
    /// `CreDtTm`: now, with milliseconds.
    pub now: DateTime,
}

/// Canonical JSON bytes of an ISO body (compact, keys sorted recursively): what is sent and
/// what the signature covers.
pub fn to_bytes(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    crate::json::write_canonical(v, &mut out);
    out
}

/// Parses body bytes as a JSON object.
pub fn parse(bytes: &[u8]) -> Result<Value, IsoError> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| IsoError::bad("body", format!("not JSON: {e}")))?;
    if !v.is_object() {
        return Err(IsoError::bad("body", "not a JSON object"));
    }
    Ok(v)
}

// ---------------------------------------------------------------------------------------------
// Tree access and format checks

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for k in path.split('.') {
        cur = cur.as_object()?.get(k)?;
    }
    Some(cur)
}

fn opt_str<'a>(v: &'a Value, path: &str) -> Result<Option<&'a str>, IsoError> {
    match at(v, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(IsoError::bad(path, "must be a string")),
    }
}

fn req_str<'a>(v: &'a Value, path: &str) -> Result<&'a str, IsoError> {
    opt_str(v, path)?.ok_or_else(|| IsoError::missing(path))
}

fn req_obj<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, IsoError> {
    match at(v, path) {
        None | Some(Value::Null) => Err(IsoError::missing(path)),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(IsoError::bad(path, "must be an object")),
    }
}

fn check_ulid(v: &Value, path: &str, required: bool) -> Result<Option<CorrelationId>, IsoError> {
    let s = if required {
        Some(req_str(v, path)?)
    } else {
        opt_str(v, path)?
    };
    match s {
        None => Ok(None),
        Some(s) if is_ulid(s) => Ok(Some(
            CorrelationId::parse(s).map_err(|e| IsoError::bad(path, e.to_string()))?,
        )),
        Some(_) => Err(IsoError::bad(
            path,
            "must be a ULID (^[0-9A-HJKMNP-TV-Z]{26}$)",
        )),
    }
}

fn check_datetime(v: &Value, path: &str, required: bool) -> Result<Option<DateTime>, IsoError> {
    let s = if required {
        Some(req_str(v, path)?)
    } else {
        opt_str(v, path)?
    };
    s.map(|s| {
        DateTime::parse(s).map_err(|_| {
            IsoError::bad(
                path,
                "must be an ISO date-time with exactly 3 fractional digits and Z or an offset",
            )
        })
    })
    .transpose()
}

/// The switch's ISO amount pattern: at most 18 digits, at most 5 decimals, no leading zero
/// before another digit.
pub fn is_iso_amount(s: &str) -> bool {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (int.len() > 1 && int.starts_with('0')) {
        return false;
    }
    match frac {
        None => int.len() <= 18,
        Some(f) => digits(f) && f.len() <= 5 && int.len() + f.len() <= 18,
    }
}

/// An ISO amount as an FSPIOP `Amount` (trailing fractional zeros dropped).
fn amount_at(v: &Value, path: &str) -> Result<Amount, IsoError> {
    let s = req_str(v, path)?;
    if !is_iso_amount(s) {
        return Err(IsoError::bad(path, format!("'{s}' is not a valid amount")));
    }
    let norm = match s.split_once('.') {
        Some((i, f)) => {
            let f = f.trim_end_matches('0');
            if f.is_empty() {
                i.to_owned()
            } else {
                format!("{i}.{f}")
            }
        }
        None => s.to_owned(),
    };
    Amount::parse(norm).map_err(|e| IsoError::bad(path, e.to_string()))
}

fn money_at(v: &Value, path: &str, amount_key: &str) -> Result<Money, IsoError> {
    req_obj(v, path)?;
    let currency = req_str(v, &format!("{path}.Ccy"))?;
    Ok(Money {
        amount: amount_at(v, &format!("{path}.{amount_key}"))?,
        currency: Currency::parse(currency)
            .map_err(|_| IsoError::bad(&format!("{path}.Ccy"), "not an ISO 4217 currency"))?,
    })
}

fn opt_money_at(v: &Value, path: &str, amount_key: &str) -> Result<Option<Money>, IsoError> {
    match at(v, path) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => money_at(v, path, amount_key).map(Some),
    }
}

fn check_grp_hdr(v: &Value, root: &str, counted: bool) -> Result<(), IsoError> {
    req_obj(v, root)?;
    let msg_id = req_str(v, &format!("{root}.MsgId"))?;
    if msg_id.is_empty() || msg_id.chars().count() > 35 {
        return Err(IsoError::bad(
            &format!("{root}.MsgId"),
            "must be 1 to 35 characters",
        ));
    }
    check_datetime(v, &format!("{root}.CreDtTm"), true)?;
    if counted {
        let path = format!("{root}.NbOfTxs");
        let n = match at(v, &path) {
            None | Some(Value::Null) => return Err(IsoError::missing(&path)),
            Some(Value::String(s)) => s.clone(),
            // The switch's AJV coerces types.
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(IsoError::bad(&path, "must be a string")),
        };
        if n.is_empty() || n.len() > 15 || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IsoError::bad(&path, "must match ^[0-9]{1,15}$"));
        }
        let mtd = format!("{root}.SttlmInf.SttlmMtd");
        if req_str(v, &mtd)? != "CLRG" {
            return Err(IsoError::bad(&mtd, "must be CLRG"));
        }
    }
    Ok(())
}

fn check_agent(v: &Value, path: &str) -> Result<(), IsoError> {
    req_obj(v, &format!("{path}.FinInstnId"))?;
    Ok(())
}

/// `Dbtr.Id`/`Cdtr.Id` must hold `OrgId` or `PrvtId`.
fn check_party_id(v: &Value, path: &str) -> Result<(), IsoError> {
    let id = req_obj(v, &format!("{path}.Id"))?;
    if !id.contains_key("OrgId") && !id.contains_key("PrvtId") {
        return Err(IsoError::bad(
            &format!("{path}.Id"),
            "must hold OrgId or PrvtId",
        ));
    }
    Ok(())
}

/// The checks the switch makes on pacs.081/pacs.082/pacs.008 (reference §2.2).
fn check_credit_transfer(v: &Value, packet_required: bool) -> Result<(), IsoError> {
    check_grp_hdr(v, "GrpHdr", true)?;
    check_datetime(v, "GrpHdr.PmtInstrXpryDtTm", false)?;
    req_obj(v, "CdtTrfTxInf")?;
    check_ulid(v, "CdtTrfTxInf.PmtId.TxId", true)?;
    check_ulid(v, "CdtTrfTxInf.PmtId.EndToEndId", false)?;
    check_ulid(v, "CdtTrfTxInf.PmtId.InstrId", false)?;
    money_at(v, "CdtTrfTxInf.IntrBkSttlmAmt", "ActiveCurrencyAndAmount")?;
    opt_money_at(
        v,
        "CdtTrfTxInf.InstdAmt",
        "ActiveOrHistoricCurrencyAndAmount",
    )?;
    opt_money_at(
        v,
        "CdtTrfTxInf.ChrgsInf.Amt",
        "ActiveOrHistoricCurrencyAndAmount",
    )?;
    match req_str(v, "CdtTrfTxInf.ChrgBr")? {
        "DEBT" | "CRED" | "SHAR" => {}
        _ => {
            return Err(IsoError::bad(
                "CdtTrfTxInf.ChrgBr",
                "must be DEBT, CRED or SHAR",
            ))
        }
    }
    check_party_id(v, "CdtTrfTxInf.Dbtr")?;
    check_agent(v, "CdtTrfTxInf.DbtrAgt")?;
    check_party_id(v, "CdtTrfTxInf.Cdtr")?;
    check_agent(v, "CdtTrfTxInf.CdtrAgt")?;
    let p = "CdtTrfTxInf.VrfctnOfTerms.IlpV4PrepPacket";
    let packet = if packet_required {
        Some(req_str(v, p)?)
    } else {
        opt_str(v, p)?
    };
    if let Some(s) = packet {
        let body = s.trim_end_matches('=');
        let ok = !body.is_empty()
            && s.len() - body.len() <= 2
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(IsoError::bad(p, "must be base64url"));
        }
    }
    Ok(())
}

/// The checks on pacs.002 (PUT/PATCH /transfers, errors).
fn check_status_report(v: &Value) -> Result<(), IsoError> {
    check_grp_hdr(v, "GrpHdr", false)?;
    if let Some(s) = opt_str(v, "TxInfAndSts.TxSts")? {
        if !matches!(s, "COMM" | "RESV" | "RECV" | "ABOR") {
            return Err(IsoError::bad(
                "TxInfAndSts.TxSts",
                "must be COMM, RESV, RECV or ABOR",
            ));
        }
    }
    if let Some(s) = opt_str(v, "TxInfAndSts.ExctnConf")? {
        let ok = s.len() == 43
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(IsoError::bad(
                "TxInfAndSts.ExctnConf",
                "must be 43 characters of base64url",
            ));
        }
    }
    check_datetime(v, "TxInfAndSts.PrcgDt.DtTm", false)?;
    Ok(())
}

/// The checks on acmt.024.
fn check_verification_report(v: &Value) -> Result<(), IsoError> {
    req_obj(v, "Assgnmt")?;
    check_grp_hdr(v, "Assgnmt", false)?;
    req_obj(v, "Assgnmt.Assgnr")?;
    req_obj(v, "Assgnmt.Assgne")?;
    req_obj(v, "Rpt")?;
    req_str(v, "Rpt.OrgnlId")?;
    match at(v, "Rpt.Vrfctn") {
        Some(Value::Bool(_)) => Ok(()),
        None | Some(Value::Null) => Err(IsoError::missing("Rpt.Vrfctn")),
        Some(_) => Err(IsoError::bad("Rpt.Vrfctn", "must be a boolean")),
    }
}

// ---------------------------------------------------------------------------------------------
// Parties (FSPIOP ⇄ ISO)

/// Whether a party id type maps to `PrvtId` (persons) rather than `OrgId`
/// (the library's `isPersonPartyIdType`).
fn is_person(t: PartyIdType) -> bool {
    !matches!(
        t,
        PartyIdType::Business | PartyIdType::Alias | PartyIdType::Device
    )
}

/// `first;middle;last;display` (the library's `makeDelimitedName`); `None` when all are empty.
fn delimited_name(p: &Party) -> Option<String> {
    let cn = p
        .personal_info
        .as_ref()
        .and_then(|i| i.complex_name.as_ref());
    let part = |s: Option<&String>| s.filter(|s| !s.is_empty()).cloned();
    let parts = [
        part(cn.and_then(|c| c.first_name.as_ref())),
        part(cn.and_then(|c| c.middle_name.as_ref())),
        part(cn.and_then(|c| c.last_name.as_ref())),
        part(p.name.as_ref()),
    ];
    if parts.iter().all(Option::is_none) {
        return None;
    }
    Some(
        parts
            .iter()
            .map(|p| p.as_deref().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(";"),
    )
}

/// `{Id:{PrvtId|OrgId:{Othr:{SchmeNm:{Prtry},Id}}}, Nm?}`.
fn iso_party(p: &Party) -> Value {
    let info = &p.party_id_info;
    let kind = if is_person(info.party_id_type) {
        "PrvtId"
    } else {
        "OrgId"
    };
    let mut m = Map::new();
    m.insert(
        "Id".into(),
        json!({ kind: { "Othr": {
            "SchmeNm": { "Prtry": info.party_id_type.as_str() },
            "Id": info.party_identifier.as_str(),
        }}}),
    );
    if let Some(n) = delimited_name(p) {
        m.insert("Nm".into(), Value::String(n));
    }
    Value::Object(m)
}

/// `{FinInstnId:{Othr:{Id:fsp}, ClrSysMmbId?:{MmbId:sub}}}`.
fn iso_agent(fsp: Option<&str>, sub: Option<&str>) -> Value {
    let mut fin = Map::new();
    if let Some(f) = fsp {
        fin.insert("Othr".into(), json!({ "Id": f }));
    }
    if let Some(s) = sub {
        fin.insert("ClrSysMmbId".into(), json!({ "MmbId": s }));
    }
    json!({ "FinInstnId": Value::Object(fin) })
}

fn iso_party_agent(p: &Party) -> Value {
    let info = &p.party_id_info;
    iso_agent(
        info.fsp_id.as_ref().map(FspId::as_str),
        info.party_sub_id_or_type
            .as_ref()
            .map(PartyIdentifier::as_str),
    )
}

/// A party back from `{party}` (`Dbtr`, `Pty`…), `{agent}` and `{account}`, as the library's
/// ISO→FSPIOP mappings read them.
fn party_view(v: &Value, party: &str, agent: &str, account: &str) -> Result<Party, IsoError> {
    let (type_path, id_path) = [
        (
            format!("{party}.Id.PrvtId.Othr.SchmeNm.Prtry"),
            format!("{party}.Id.PrvtId.Othr.Id"),
        ),
        (
            format!("{party}.Id.OrgId.Othr.SchmeNm.Prtry"),
            format!("{party}.Id.OrgId.Othr.Id"),
        ),
    ]
    .into_iter()
    .find(|(t, _)| at(v, t).is_some())
    .ok_or_else(|| IsoError::missing(&format!("{party}.Id.PrvtId.Othr.SchmeNm.Prtry")))?;
    let t = req_str(v, &type_path)?;
    let id_type = PartyIdType::from_path(t)
        .ok_or_else(|| IsoError::bad(&type_path, format!("unknown party id type '{t}'")))?;
    let id = PartyIdentifier::parse(req_str(v, &id_path)?)
        .map_err(|e| IsoError::bad(&id_path, e.to_string()))?;
    let fsp_path = format!("{agent}.FinInstnId.Othr.Id");
    let fsp = opt_str(v, &fsp_path)?
        .map(|f| FspId::parse(f).map_err(|e| IsoError::bad(&fsp_path, e.to_string())))
        .transpose()?;
    let sub_path = format!("{agent}.FinInstnId.ClrSysMmbId.MmbId");
    let sub = opt_str(v, &sub_path)?
        .map(|s| PartyIdentifier::parse(s).map_err(|e| IsoError::bad(&sub_path, e.to_string())))
        .transpose()?;
    let nm = opt_str(v, &format!("{party}.Nm"))?;
    let piece = |i: usize| {
        nm.and_then(|n| n.split(';').nth(i))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let complex = PartyComplexName {
        first_name: piece(0),
        last_name: piece(2),
        middle_name: piece(1),
    };
    let has_complex = complex != PartyComplexName::default();
    let ccy_path = format!("{account}.Ccy");
    let currencies = opt_str(v, &ccy_path)?
        .map(|c| {
            Currency::parse(c)
                .map(|c| vec![c])
                .map_err(|_| IsoError::bad(&ccy_path, "not an ISO 4217 currency"))
        })
        .transpose()?;
    Ok(Party {
        merchant_classification_code: None,
        name: piece(3),
        party_id_info: PartyIdInfo {
            extension_list: None,
            fsp_id: fsp,
            party_id_type: id_type,
            party_identifier: id,
            party_sub_id_or_type: sub,
        },
        personal_info: has_complex.then_some(PartyPersonalInfo {
            complex_name: Some(complex),
            date_of_birth: None,
        }),
        supported_currencies: currencies,
    })
}

fn assignment(stamp: &Stamp, source: &str, destination: &str) -> Value {
    json!({
        "MsgId": stamp.msg_id.as_str(),
        "CreDtTm": stamp.now.as_str(),
        "Assgnr": { "Agt": { "FinInstnId": { "Othr": { "Id": source } } } },
        "Assgne": { "Agt": { "FinInstnId": { "Othr": { "Id": destination } } } },
    })
}

/// acmt.024 for `PUT /parties/{Type}/{ID}[/{SubId}]` from `source` (the payee FSP) to
/// `destination`.
pub fn parties_put(put: &PartiesPut, source: &str, destination: &str, stamp: &Stamp) -> Value {
    let p = &put.party;
    let mut upd = Map::new();
    upd.insert("Pty".into(), iso_party(p));
    upd.insert("Agt".into(), iso_party_agent(p));
    if let Some(c) = p.supported_currencies.as_ref().and_then(|c| c.first()) {
        upd.insert("Acct".into(), json!({ "Ccy": c.as_str() }));
    }
    json!({
        "Assgnmt": assignment(stamp, source, destination),
        "Rpt": {
            "Vrfctn": true,
            "OrgnlId": stamp.orgnl_id.as_str(),
            "UpdtdPtyAndAcctId": Value::Object(upd),
        },
    })
}

/// acmt.024 for `PUT /parties/…/error`: the code in `Rpt.Rsn.Cd` (the description is not
/// carried).
pub fn parties_error(code: &str, source: &str, destination: &str, stamp: &Stamp) -> Value {
    json!({
        "Assgnmt": assignment(stamp, source, destination),
        "Rpt": {
            "Vrfctn": false,
            "OrgnlId": stamp.orgnl_id.as_str(),
            "Rsn": { "Cd": code },
        },
    })
}

/// The FSPIOP view of an acmt.024 `PUT /parties` (validated first).
pub fn parties_put_view(v: &Value) -> Result<PartiesPut, IsoError> {
    check_verification_report(v)?;
    if at(v, "Rpt.Vrfctn") != Some(&Value::Bool(true)) {
        return Err(IsoError::bad("Rpt.Vrfctn", "must be true on PUT /parties"));
    }
    let base = "Rpt.UpdtdPtyAndAcctId";
    req_obj(v, base)?;
    let party = party_view(
        v,
        &format!("{base}.Pty"),
        &format!("{base}.Agt"),
        &format!("{base}.Acct"),
    )?;
    Ok(PartiesPut { party })
}

/// The error of an acmt.024 `PUT /parties/…/error`: code from `Rpt.Rsn.Cd`; the description is
/// the code's name, as the library regenerates it.
pub fn parties_error_view(v: &Value) -> Result<ErrorInformation, IsoError> {
    check_verification_report(v)?;
    let code = req_str(v, "Rpt.Rsn.Cd")?;
    error_info(code, None, "Rpt.Rsn.Cd")
}

fn error_info(code: &str, desc: Option<&str>, path: &str) -> Result<ErrorInformation, IsoError> {
    let parsed = ErrorCode::parse(code)
        .ok_or_else(|| IsoError::bad(path, format!("'{code}' is not an error code")))?;
    Ok(match desc {
        Some(d) if !d.is_empty() => ErrorInformation {
            error_code: code.to_owned(),
            error_description: d.chars().take(crate::error::MAX_DESCRIPTION).collect(),
            extension_list: None,
        },
        _ => ErrorInformation::new(parsed, None),
    })
}

// ---------------------------------------------------------------------------------------------
// Quotes

fn grp_hdr_counted(stamp: &Stamp, expiration: Option<&DateTime>) -> Value {
    let mut m = Map::new();
    m.insert("MsgId".into(), stamp.msg_id.as_str().into());
    m.insert("CreDtTm".into(), stamp.now.as_str().into());
    m.insert("NbOfTxs".into(), "1".into());
    m.insert("SttlmInf".into(), json!({ "SttlmMtd": "CLRG" }));
    if let Some(e) = expiration {
        m.insert("PmtInstrXpryDtTm".into(), e.as_str().into());
    }
    Value::Object(m)
}

fn scenario_str(s: TransactionScenario) -> &'static str {
    match s {
        TransactionScenario::Deposit => "DEPOSIT",
        TransactionScenario::Withdrawal => "WITHDRAWAL",
        TransactionScenario::Transfer => "TRANSFER",
        TransactionScenario::Payment => "PAYMENT",
        TransactionScenario::Refund => "REFUND",
    }
}

/// pacs.081 for `POST /quotes`.
pub fn quotes_post(q: &QuotesPost, stamp: &Stamp) -> Value {
    let mut pmt = Map::new();
    pmt.insert("TxId".into(), q.quote_id.as_str().into());
    pmt.insert("EndToEndId".into(), q.transaction_id.as_str().into());
    let instr = q.transaction_request_id.as_ref().or(q
        .transaction_type
        .refund_info
        .as_ref()
        .map(|r| &r.original_transaction_id));
    if let Some(i) = instr {
        pmt.insert("InstrId".into(), i.as_str().into());
    }
    let mut tx = Map::new();
    tx.insert("PmtId".into(), Value::Object(pmt));
    tx.insert("Cdtr".into(), iso_party(&q.payee));
    tx.insert("CdtrAgt".into(), iso_party_agent(&q.payee));
    if let Some(c) = q
        .payee
        .supported_currencies
        .as_ref()
        .and_then(|c| c.first())
    {
        tx.insert("CdtrAcct".into(), json!({ "Ccy": c.as_str() }));
    }
    tx.insert("Dbtr".into(), iso_party(&q.payer));
    tx.insert("DbtrAgt".into(), iso_party_agent(&q.payer));
    if let Some(c) = q
        .payer
        .supported_currencies
        .as_ref()
        .and_then(|c| c.first())
    {
        tx.insert("DbtrAcct".into(), json!({ "Ccy": c.as_str() }));
    }
    tx.insert(
        "IntrBkSttlmAmt".into(),
        json!({ "Ccy": q.amount.currency.as_str(), "ActiveCurrencyAndAmount": q.amount.amount.as_str() }),
    );
    tx.insert(
        "Purp".into(),
        json!({ "Prtry": scenario_str(q.transaction_type.scenario) }),
    );
    tx.insert(
        "ChrgBr".into(),
        match q.amount_type {
            AmountType::Send => "CRED",
            AmountType::Receive => "DEBT",
        }
        .into(),
    );
    if let Some(r) = q
        .transaction_type
        .refund_info
        .as_ref()
        .and_then(|r| r.refund_reason.as_ref())
    {
        tx.insert(
            "InstrForCdtrAgt".into(),
            json!({ "Cd": "REFD", "InstrInf": r }),
        );
    }
    json!({
        "GrpHdr": grp_hdr_counted(stamp, q.expiration.as_ref()),
        "CdtTrfTxInf": Value::Object(tx),
    })
}

/// The FSPIOP view of a pacs.081 `POST /quotes` (validated first), as the library's
/// `FSPIOPISO20022.quotes.post` gives it to the payee: no note, no date of birth; initiator
/// `PAYEE` when `InstrId` is present, else `PAYER`; initiatorType `BUSINESS` (the library reads
/// a misspelt `Dtr`/`Cdr` path, so it never finds a person); scenario from `Purp.Prtry`.
pub fn quotes_post_view(v: &Value) -> Result<QuotesPost, IsoError> {
    check_credit_transfer(v, false)?;
    let quote_id = check_ulid(v, "CdtTrfTxInf.PmtId.TxId", true)?
        .ok_or_else(|| IsoError::missing("CdtTrfTxInf.PmtId.TxId"))?;
    let transaction_id = check_ulid(v, "CdtTrfTxInf.PmtId.EndToEndId", true)?
        .ok_or_else(|| IsoError::missing("CdtTrfTxInf.PmtId.EndToEndId"))?;
    let instr = check_ulid(v, "CdtTrfTxInf.PmtId.InstrId", false)?;
    let scenario_s = req_str(v, "CdtTrfTxInf.Purp.Prtry")?;
    let scenario: TransactionScenario =
        serde_json::from_value(Value::String(scenario_s.to_owned())).map_err(|_| {
            IsoError::bad(
                "CdtTrfTxInf.Purp.Prtry",
                format!("'{scenario_s}' is not a transaction scenario"),
            )
        })?;
    let refund_info = match (&instr, opt_str(v, "CdtTrfTxInf.InstrForCdtrAgt.Cd")?) {
        (Some(i), Some("REFD")) => Some(Refund {
            original_transaction_id: i.clone(),
            refund_reason: opt_str(v, "CdtTrfTxInf.InstrForCdtrAgt.InstrInf")?.map(str::to_owned),
        }),
        _ => None,
    };
    Ok(QuotesPost {
        amount: money_at(v, "CdtTrfTxInf.IntrBkSttlmAmt", "ActiveCurrencyAndAmount")?,
        amount_type: if req_str(v, "CdtTrfTxInf.ChrgBr")? == "DEBT" {
            AmountType::Receive
        } else {
            AmountType::Send
        },
        expiration: check_datetime(v, "GrpHdr.PmtInstrXpryDtTm", false)?,
        extension_list: None,
        fees: None,
        geo_code: None,
        note: None,
        payee: party_view(
            v,
            "CdtTrfTxInf.Cdtr",
            "CdtTrfTxInf.CdtrAgt",
            "CdtTrfTxInf.CdtrAcct",
        )?,
        payer: party_view(
            v,
            "CdtTrfTxInf.Dbtr",
            "CdtTrfTxInf.DbtrAgt",
            "CdtTrfTxInf.DbtrAcct",
        )?,
        quote_id,
        transaction_id,
        transaction_type: TransactionType {
            balance_of_payments: None,
            initiator: if instr.is_some() {
                TransactionInitiator::Payee
            } else {
                TransactionInitiator::Payer
            },
            initiator_type: TransactionInitiatorType::Business,
            refund_info,
            scenario,
            sub_scenario: None,
        },
        transaction_request_id: instr,
    })
}

fn copy(from: &Value, to: &mut Map<String, Value>, keys: &[&str]) {
    for k in keys {
        if let Some(x) = at(from, &format!("CdtTrfTxInf.{k}")) {
            to.insert((*k).to_owned(), x.clone());
        }
    }
}

/// pacs.082 for `PUT /quotes/{ID}`: `Dbtr`, `DbtrAgt`, `Cdtr`, `CdtrAgt` and `ChrgBr` copied
/// from the pacs.081 `post` as received; the packet in `VrfctnOfTerms.IlpV4PrepPacket` (the
/// condition is not carried); the fee in `ChrgsInf` with the payee agent, absent without a fee.
pub fn quotes_put(put: &QuotesPut, quote_id: &str, post: &Value, stamp: &Stamp) -> Value {
    let mut tx = Map::new();
    tx.insert("PmtId".into(), json!({ "TxId": quote_id }));
    copy(
        post,
        &mut tx,
        &["Dbtr", "DbtrAgt", "Cdtr", "CdtrAgt", "ChrgBr"],
    );
    tx.insert(
        "IntrBkSttlmAmt".into(),
        json!({ "Ccy": put.transfer_amount.currency.as_str(), "ActiveCurrencyAndAmount": put.transfer_amount.amount.as_str() }),
    );
    if let Some(r) = &put.payee_receive_amount {
        tx.insert(
            "InstdAmt".into(),
            json!({ "Ccy": r.currency.as_str(), "ActiveOrHistoricCurrencyAndAmount": r.amount.as_str() }),
        );
    }
    if let Some(f) = &put.payee_fsp_fee {
        let agent = at(post, "CdtTrfTxInf.CdtrAgt")
            .cloned()
            .unwrap_or(Value::Null);
        tx.insert(
            "ChrgsInf".into(),
            json!({
                "Amt": { "Ccy": f.currency.as_str(), "ActiveOrHistoricCurrencyAndAmount": f.amount.as_str() },
                "Agt": agent,
            }),
        );
    }
    tx.insert(
        "VrfctnOfTerms".into(),
        json!({ "IlpV4PrepPacket": put.ilp_packet.as_str() }),
    );
    json!({
        "GrpHdr": grp_hdr_counted(stamp, Some(&put.expiration)),
        "CdtTrfTxInf": Value::Object(tx),
    })
}

/// The v4 packet at `path` and the condition decoded from it. An ILP v1 packet is refused
/// (the switch's transform throws on it).
fn packet_at(v: &Value, path: &str) -> Result<(IlpPacketString, IlpCondition), IsoError> {
    let s = req_str(v, path)?;
    let packet = IlpPacketString::parse(s).map_err(|e| IsoError::bad(path, e.to_string()))?;
    let decoded = IlpPacket::from_wire(&packet).map_err(|e| IsoError::bad(path, e.to_string()))?;
    match decoded {
        IlpPacket::V4(p) => Ok((packet, IlpCondition::from_bytes(&p.execution_condition))),
        IlpPacket::V1(_) => Err(IsoError::bad(
            path,
            "is an ILP v1 packet: ISO 20022 mode carries ILP v4 Prepare packets only",
        )),
    }
}

/// The FSPIOP view of a pacs.082 `PUT /quotes/{ID}` (validated first); the condition is
/// decoded from the ILP v4 packet.
pub fn quotes_put_view(v: &Value) -> Result<QuotesPut, IsoError> {
    check_credit_transfer(v, true)?;
    let (ilp_packet, condition) = packet_at(v, "CdtTrfTxInf.VrfctnOfTerms.IlpV4PrepPacket")?;
    Ok(QuotesPut {
        condition,
        expiration: check_datetime(v, "GrpHdr.PmtInstrXpryDtTm", true)?
            .ok_or_else(|| IsoError::missing("GrpHdr.PmtInstrXpryDtTm"))?,
        extension_list: None,
        geo_code: None,
        ilp_packet,
        payee_fsp_commission: None,
        payee_fsp_fee: opt_money_at(
            v,
            "CdtTrfTxInf.ChrgsInf.Amt",
            "ActiveOrHistoricCurrencyAndAmount",
        )?,
        payee_receive_amount: opt_money_at(
            v,
            "CdtTrfTxInf.InstdAmt",
            "ActiveOrHistoricCurrencyAndAmount",
        )?,
        transfer_amount: money_at(v, "CdtTrfTxInf.IntrBkSttlmAmt", "ActiveCurrencyAndAmount")?,
    })
}

/// The `PmtId.TxId` of a pacs.081/082/008.
pub fn tx_id(v: &Value) -> Option<&str> {
    at(v, "CdtTrfTxInf.PmtId.TxId").and_then(Value::as_str)
}

// ---------------------------------------------------------------------------------------------
// Transfers

/// pacs.008 for `POST /transfers`: `ChrgBr`, `Cdtr`, `Dbtr` and the agents' `ClrSysMmbId`
/// copied from the pacs.082 `put_quote` as received; the FSPs from the transfer.
pub fn transfers_post(t: &TransfersPost, put_quote: &Value, stamp: &Stamp) -> Value {
    let mut tx = Map::new();
    tx.insert("PmtId".into(), json!({ "TxId": t.transfer_id.as_str() }));
    copy(put_quote, &mut tx, &["ChrgBr", "Cdtr", "Dbtr"]);
    let sub = |agent: &str| {
        at(
            put_quote,
            &format!("CdtTrfTxInf.{agent}.FinInstnId.ClrSysMmbId.MmbId"),
        )
        .and_then(Value::as_str)
        .map(str::to_owned)
    };
    tx.insert(
        "CdtrAgt".into(),
        iso_agent(Some(t.payee_fsp.as_str()), sub("CdtrAgt").as_deref()),
    );
    tx.insert(
        "DbtrAgt".into(),
        iso_agent(Some(t.payer_fsp.as_str()), sub("DbtrAgt").as_deref()),
    );
    tx.insert(
        "IntrBkSttlmAmt".into(),
        json!({ "Ccy": t.amount.currency.as_str(), "ActiveCurrencyAndAmount": t.amount.amount.as_str() }),
    );
    tx.insert(
        "VrfctnOfTerms".into(),
        json!({ "IlpV4PrepPacket": t.ilp_packet.as_str() }),
    );
    json!({
        "GrpHdr": grp_hdr_counted(stamp, Some(&t.expiration)),
        "CdtTrfTxInf": Value::Object(tx),
    })
}

/// A stand-in for the pacs.082 context of a transfer sent without a quote (the driver's
/// `transfer` flow): `Dbtr`/`Cdtr` from the packet's transaction object, `ChrgBr` `CRED`.
pub fn quote_context_from_packet(packet: &IlpPacketString) -> Result<Value, IsoError> {
    let tx = IlpPacket::from_wire(packet)
        .and_then(|p| p.transaction())
        .map_err(|e| IsoError::bad("ilpPacket", e.to_string()))?;
    Ok(json!({ "CdtTrfTxInf": {
        "ChrgBr": "CRED",
        "Cdtr": iso_party(&tx.payee),
        "Dbtr": iso_party(&tx.payer),
    }}))
}

/// The FSPIOP view of a pacs.008 `POST /transfers` (validated first): transfer id, FSPs from
/// the agents, amount, expiration, packet and the condition decoded from it.
pub fn transfers_post_view(v: &Value) -> Result<TransfersPost, IsoError> {
    check_credit_transfer(v, true)?;
    let (ilp_packet, condition) = packet_at(v, "CdtTrfTxInf.VrfctnOfTerms.IlpV4PrepPacket")?;
    let fsp = |path: &str| -> Result<FspId, IsoError> {
        FspId::parse(req_str(v, path)?).map_err(|e| IsoError::bad(path, e.to_string()))
    };
    Ok(TransfersPost {
        amount: money_at(v, "CdtTrfTxInf.IntrBkSttlmAmt", "ActiveCurrencyAndAmount")?,
        condition,
        expiration: check_datetime(v, "GrpHdr.PmtInstrXpryDtTm", true)?
            .ok_or_else(|| IsoError::missing("GrpHdr.PmtInstrXpryDtTm"))?,
        extension_list: None,
        ilp_packet,
        payee_fsp: fsp("CdtTrfTxInf.CdtrAgt.FinInstnId.Othr.Id")?,
        payer_fsp: fsp("CdtTrfTxInf.DbtrAgt.FinInstnId.Othr.Id")?,
        transfer_id: check_ulid(v, "CdtTrfTxInf.PmtId.TxId", true)?
            .ok_or_else(|| IsoError::missing("CdtTrfTxInf.PmtId.TxId"))?,
    })
}

/// `TransferState` → `TxSts`.
pub const fn tx_sts(s: TransferState) -> &'static str {
    match s {
        TransferState::Committed => "COMM",
        TransferState::Reserved => "RESV",
        TransferState::Received => "RECV",
        TransferState::Aborted => "ABOR",
    }
}

fn state_of(s: &str) -> Option<TransferState> {
    Some(match s {
        "COMM" => TransferState::Committed,
        "RESV" => TransferState::Reserved,
        "RECV" => TransferState::Received,
        "ABOR" => TransferState::Aborted,
        _ => return None,
    })
}

fn grp_hdr(stamp: &Stamp) -> Value {
    json!({ "MsgId": stamp.msg_id.as_str(), "CreDtTm": stamp.now.as_str() })
}

/// pacs.002 for `PUT /transfers/{ID}`.
pub fn transfers_put(put: &TransfersPut, stamp: &Stamp) -> Value {
    let mut sts = Map::new();
    if let Some(f) = &put.fulfilment {
        sts.insert("ExctnConf".into(), f.as_str().into());
    }
    if let Some(t) = &put.completed_timestamp {
        sts.insert("PrcgDt".into(), json!({ "DtTm": t.as_str() }));
    }
    sts.insert("TxSts".into(), tx_sts(put.transfer_state).into());
    json!({ "GrpHdr": grp_hdr(stamp), "TxInfAndSts": Value::Object(sts) })
}

/// pacs.002 for `PATCH /transfers/{ID}`.
pub fn transfers_patch(p: &TransfersPatch, stamp: &Stamp) -> Value {
    json!({
        "GrpHdr": grp_hdr(stamp),
        "TxInfAndSts": {
            "PrcgDt": { "DtTm": p.completed_timestamp.as_str() },
            "TxSts": tx_sts(p.transfer_state),
        },
    })
}

/// pacs.002 for `PUT /quotes/…/error` and `PUT /transfers/…/error`: the code in
/// `StsRsnInf.Rsn.Prtry`, the description (cut to 105 characters) in `AddtlInf`.
pub fn pacs_error(info: &ErrorInformation, stamp: &Stamp) -> Value {
    let desc: String = info.error_description.chars().take(105).collect();
    json!({
        "GrpHdr": grp_hdr(stamp),
        "TxInfAndSts": { "StsRsnInf": {
            "Rsn": { "Prtry": info.error_code.as_str() },
            "AddtlInf": desc,
        }},
    })
}

/// The FSPIOP view of a pacs.002 `PUT /transfers/{ID}` (validated first).
pub fn transfers_put_view(v: &Value) -> Result<TransfersPut, IsoError> {
    check_status_report(v)?;
    let s = req_str(v, "TxInfAndSts.TxSts")?;
    let state = state_of(s).ok_or_else(|| IsoError::bad("TxInfAndSts.TxSts", "unknown"))?;
    let fulfilment = opt_str(v, "TxInfAndSts.ExctnConf")?
        .map(|f| {
            IlpFulfilment::parse(f)
                .map_err(|e| IsoError::bad("TxInfAndSts.ExctnConf", e.to_string()))
        })
        .transpose()?;
    let put = TransfersPut {
        completed_timestamp: check_datetime(v, "TxInfAndSts.PrcgDt.DtTm", false)?,
        extension_list: None,
        fulfilment,
        transfer_state: state,
    };
    put.check()
        .map_err(|_| IsoError::missing("TxInfAndSts.ExctnConf"))?;
    Ok(put)
}

/// The FSPIOP view of a pacs.002 `PATCH /transfers/{ID}` (validated first).
pub fn transfers_patch_view(v: &Value) -> Result<TransfersPatch, IsoError> {
    check_status_report(v)?;
    let s = req_str(v, "TxInfAndSts.TxSts")?;
    Ok(TransfersPatch {
        completed_timestamp: check_datetime(v, "TxInfAndSts.PrcgDt.DtTm", true)?
            .ok_or_else(|| IsoError::missing("TxInfAndSts.PrcgDt.DtTm"))?,
        extension_list: None,
        transfer_state: state_of(s).ok_or_else(|| IsoError::bad("TxInfAndSts.TxSts", "unknown"))?,
    })
}

/// The error of a pacs.002 `PUT …/error` (validated first): `StsRsnInf.Rsn.Prtry` and
/// `AddtlInf`.
pub fn pacs_error_view(v: &Value) -> Result<ErrorInformation, IsoError> {
    check_status_report(v)?;
    let code = req_str(v, "TxInfAndSts.StsRsnInf.Rsn.Prtry")?;
    let desc = opt_str(v, "TxInfAndSts.StsRsnInf.AddtlInf")?;
    error_info(code, desc, "TxInfAndSts.StsRsnInf.Rsn.Prtry")
}

/// Refuses an ILP version ISO 20022 mode cannot carry (v1), with a message saying what to fix.
pub fn require_ilp_v4(v: IlpVersion) -> Result<(), String> {
    match v {
        IlpVersion::V4 => Ok(()),
        IlpVersion::V1 => Err(
            "ISO 20022 mode carries ILP v4 Prepare packets only (the switch's transform throws \
             on v1): set ilp_version = \"v4\""
                .into(),
        ),
    }
}
