//! Element types of the FSPIOP API (v1.1 §7.2–7.3, notes for v2.0), validated on construction and
//! on deserialization, so a parsed body is a valid body.
//!
//! Every check returns an [`ElementError`] that names the element and maps to an FSPIOP code
//! (3100, as the hub answers schema errors).

use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

use crate::currency_table::CURRENCIES;
use crate::error::ErrorCode;

/// Which element failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {element}: {reason}")]
pub struct ElementError {
    /// The API's name for the element type, e.g. `Amount`.
    pub element: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl ElementError {
    const fn new(element: &'static str, reason: &'static str) -> Self {
        ElementError { element, reason }
    }

    /// The FSPIOP code the hub answers a schema error with.
    pub const fn code(&self) -> ErrorCode {
        ErrorCode::GenericValidationError
    }
}

macro_rules! validated_string {
    ($(#[$meta:meta])* $name:ident, $check:path) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps the string.
            pub fn parse(s: impl Into<String>) -> Result<Self, ElementError> {
                let s = s.into();
                $check(&s)?;
                Ok($name(s))
            }

            /// The string as sent on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Unwraps the string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ElementError;
            fn from_str(s: &str) -> Result<Self, ElementError> {
                $name::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Amount

validated_string!(
    /// `Amount`: `^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[1-9])?$` — no leading or trailing
    /// zeros, at most 18 integer digits and 4 decimals (`"100"`, `"5.5"`; not `"5.0"`).
    Amount,
    check_amount
);

fn check_amount(s: &str) -> Result<(), ElementError> {
    const E: &str = "Amount";
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ElementError::new(E, "integer part must be digits"));
    }
    if int.len() > 1 && int.starts_with('0') {
        return Err(ElementError::new(E, "leading zero"));
    }
    if int.len() > 18 {
        return Err(ElementError::new(E, "more than 18 integer digits"));
    }
    if let Some(frac) = frac {
        if frac.is_empty() || frac.len() > 4 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ElementError::new(E, "fraction must be 1 to 4 digits"));
        }
        if frac.ends_with('0') {
            return Err(ElementError::new(E, "trailing zero in fraction"));
        }
    }
    Ok(())
}

impl Amount {
    /// The amount in minor units (`amount × 10^minor_units`), as the ILP packet carries it.
    /// Fails if the amount has more decimals than the currency, or does not fit in 64 bits.
    pub fn to_minor_units(&self, minor_units: u8) -> Result<u64, ElementError> {
        const E: &str = "Amount";
        let (int, frac) = self.0.split_once('.').unwrap_or((&self.0, ""));
        if frac.len() > usize::from(minor_units) {
            return Err(ElementError::new(
                E,
                "more decimals than the currency's minor units",
            ));
        }
        let mut value: u64 = 0;
        let digits = int.bytes().chain(frac.bytes()).chain(std::iter::repeat_n(
            b'0',
            usize::from(minor_units) - frac.len(),
        ));
        for d in digits {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .ok_or(ElementError::new(E, "does not fit in a 64-bit ILP amount"))?;
        }
        Ok(value)
    }

    /// The canonical amount string for `minor` minor units (inverse of [`Amount::to_minor_units`]).
    pub fn from_minor_units(minor: u64, minor_units: u8) -> Result<Amount, ElementError> {
        let digits = minor.to_string();
        let mu = usize::from(minor_units);
        let (int, frac) = if digits.len() > mu {
            digits.split_at(digits.len() - mu)
        } else {
            ("0", digits.as_str())
        };
        let mut s = int.to_owned();
        let frac = format!("{frac:0>mu$}");
        let frac = frac.trim_end_matches('0');
        if !frac.is_empty() {
            s.push('.');
            s.push_str(frac);
        }
        Amount::parse(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Currency

validated_string!(
    /// `Currency`: an ISO 4217 code from the v1.1 enum (three upper-case letters).
    Currency,
    check_currency
);

fn currency_entry(code: &str) -> Option<&'static (&'static str, bool, Option<u8>)> {
    CURRENCIES
        .binary_search_by(|(c, _, _)| (*c).cmp(code))
        .ok()
        .map(|i| &CURRENCIES[i])
}

fn check_currency(s: &str) -> Result<(), ElementError> {
    if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ElementError::new(
            "Currency",
            "must be three upper-case letters",
        ));
    }
    match currency_entry(s) {
        Some((_, true, _)) => Ok(()),
        _ => Err(ElementError::new(
            "Currency",
            "not in the ISO 4217 enum of the API",
        )),
    }
}

impl Currency {
    /// Minor units (decimal places) used to scale ILP amounts, per the Mojaloop SDK's table
    /// (most currencies 2, `XXX`/`XTS` 4, JPY/XOF/UGX/RWF 0, BHD/KWD/JOD/OMR/TND 3).
    /// `None` where the SDK has no entry (it cannot build ILP packets in that currency).
    pub fn minor_units(&self) -> Option<u8> {
        currency_entry(&self.0).and_then(|(_, _, mu)| *mu)
    }
}

// ---------------------------------------------------------------------------------------------
// Correlation ids

/// Which FSPIOP version's rules an id is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdRules {
    /// v1.1: lower-case UUID version 1–5, RFC 4122 variant.
    V1_1,
    /// v2.0 (and current hub code): lower-case UUID version 1–7, or an upper-case ULID.
    V2_0,
}

/// Checks a `CorrelationId` against the rules of one API version.
pub fn check_correlation_id(s: &str, rules: IdRules) -> Result<(), ElementError> {
    const E: &str = "CorrelationId";
    let b = s.as_bytes();
    if b.len() == 36 {
        for (i, &c) in b.iter().enumerate() {
            let ok = match i {
                8 | 13 | 18 | 23 => c == b'-',
                _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
            };
            if !ok {
                return Err(ElementError::new(E, "not a lower-case UUID"));
            }
        }
        let max_version = if rules == IdRules::V1_1 { b'5' } else { b'7' };
        if !(b'1'..=max_version).contains(&b[14]) {
            return Err(ElementError::new(E, "UUID version not allowed"));
        }
        if !matches!(b[19], b'8' | b'9' | b'a' | b'b') {
            return Err(ElementError::new(E, "UUID variant not RFC 4122"));
        }
        return Ok(());
    }
    if rules == IdRules::V2_0 && b.len() == 26 {
        // Crockford base32, upper case, without I L O U.
        if b.iter().all(|c| {
            c.is_ascii_digit()
                || (c.is_ascii_uppercase() && !matches!(c, b'I' | b'L' | b'O' | b'U'))
        }) {
            return Ok(());
        }
        return Err(ElementError::new(E, "not a ULID"));
    }
    Err(ElementError::new(E, "not a UUID or ULID"))
}

fn check_correlation_id_any(s: &str) -> Result<(), ElementError> {
    check_correlation_id(s, IdRules::V2_0)
}

validated_string!(
    /// `CorrelationId` (quote, transaction and transfer ids). Deserialization accepts the v2.0
    /// rules (UUID v1–7 or ULID), which are a superset of v1.1; use
    /// [`CorrelationId::check`] for the stricter v1.1 rules.
    CorrelationId,
    check_correlation_id_any
);

impl CorrelationId {
    /// Checks the id against one API version's rules.
    pub fn check(&self, rules: IdRules) -> Result<(), ElementError> {
        check_correlation_id(&self.0, rules)
    }

    /// A correlation id from 16 random bytes, formatted as a lower-case UUID v4.
    pub fn v4_from_bytes(mut bytes: [u8; 16]) -> CorrelationId {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let mut s = String::with_capacity(36);
        for (i, b) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                s.push('-');
            }
            s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            s.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
        }
        CorrelationId(s)
    }
}

// ---------------------------------------------------------------------------------------------
// DateTime

validated_string!(
    /// `DateTime`: ISO 8601 with exactly three fractional digits and `Z` or `±hh:mm`
    /// (`2016-05-24T08:38:08.699-04:00`).
    DateTime,
    check_datetime
);

fn check_datetime(s: &str) -> Result<(), ElementError> {
    parse_datetime(s).map(|_| ())
}

fn parse_datetime(s: &str) -> Result<time::OffsetDateTime, ElementError> {
    const E: &str = "DateTime";
    let b = s.as_bytes();
    // yyyy-MM-ddTHH:mm:ss.SSS then Z or ±hh:mm
    let shape_ok = (b.len() == 24 && b[23] == b'Z')
        || (b.len() == 29 && matches!(b[23], b'+' | b'-') && b[26] == b':');
    let fixed = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ];
    if !shape_ok
        || fixed.iter().any(|&(i, c)| b[i] != c)
        || !b[20..23].iter().all(u8::is_ascii_digit)
        || b[0] == b'0'
        || b[17] > b'5'
    {
        return Err(ElementError::new(
            E,
            "must be yyyy-MM-ddTHH:mm:ss.SSS with Z or ±hh:mm",
        ));
    }
    if b.len() == 29 && b[24] > b'1' {
        return Err(ElementError::new(E, "offset hours out of range"));
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| ElementError::new(E, "not a valid date and time"))
}

impl DateTime {
    /// The instant it denotes.
    pub fn to_offset_date_time(&self) -> time::OffsetDateTime {
        parse_datetime(&self.0).expect("validated on construction")
    }

    /// Formats an instant in UTC with milliseconds (`2025-07-01T10:00:00.000Z`).
    pub fn from_offset_date_time(t: time::OffsetDateTime) -> DateTime {
        let t = t.to_offset(time::UtcOffset::UTC);
        let s = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        );
        DateTime(s)
    }

    /// The ILP v4 `expiresAt` text: `YYYYMMDDHHmmssSSS` in UTC.
    pub fn to_ilp_expires_at(&self) -> [u8; 17] {
        let t = self.to_offset_date_time().to_offset(time::UtcOffset::UTC);
        let s = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}{:03}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        );
        let mut out = [b'0'; 17];
        out.copy_from_slice(&s.as_bytes()[..17]);
        out
    }
}

// ---------------------------------------------------------------------------------------------
// FspId and short strings

validated_string!(
    /// `FspId`: 1–32 characters. (central-ledger participant names are stricter: 2–30
    /// alphanumerics; see [`FspId::is_ledger_name`].)
    FspId,
    check_fsp_id
);

fn check_fsp_id(s: &str) -> Result<(), ElementError> {
    let n = s.chars().count();
    if (1..=32).contains(&n) {
        Ok(())
    } else {
        Err(ElementError::new("FspId", "must be 1 to 32 characters"))
    }
}

impl FspId {
    /// Whether central-ledger would accept it as a participant name (2–30 alphanumerics).
    pub fn is_ledger_name(&self) -> bool {
        (2..=30).contains(&self.0.len()) && self.0.bytes().all(|b| b.is_ascii_alphanumeric())
    }
}

validated_string!(
    /// `PartyIdentifier` / `PartySubIdOrType`: 1–128 characters.
    PartyIdentifier,
    check_party_identifier
);

fn check_party_identifier(s: &str) -> Result<(), ElementError> {
    let n = s.chars().count();
    if (1..=128).contains(&n) {
        Ok(())
    } else {
        Err(ElementError::new(
            "PartyIdentifier",
            "must be 1 to 128 characters",
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// ILP strings

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

validated_string!(
    /// `IlpPacket`: base64url (`^[A-Za-z0-9-_]+[=]{0,2}$`), 1–32768 characters.
    IlpPacketString,
    check_ilp_packet
);

fn check_ilp_packet(s: &str) -> Result<(), ElementError> {
    const E: &str = "IlpPacket";
    if s.is_empty() || s.len() > 32768 {
        return Err(ElementError::new(E, "must be 1 to 32768 characters"));
    }
    let body = s.trim_end_matches('=');
    if body.is_empty() || s.len() - body.len() > 2 {
        return Err(ElementError::new(E, "bad padding"));
    }
    // No early exit per byte: a whole-chunk AND lets the compiler unroll the table lookups
    // (the hub checks ~1 KB of packet per prepare).
    let valid = body
        .as_bytes()
        .chunks(64)
        .all(|c| c.iter().fold(true, |ok, &b| ok & is_b64url_byte(b)));
    if !valid {
        return Err(ElementError::new(E, "not base64url"));
    }
    Ok(())
}

impl IlpPacketString {
    /// The packet bytes (padding, if any, is ignored).
    pub fn decode(&self) -> Result<Vec<u8>, ElementError> {
        B64URL
            .decode(self.0.trim_end_matches('='))
            .map_err(|_| ElementError::new("IlpPacket", "not decodable base64url"))
    }

    /// Encodes packet bytes as base64url without padding.
    pub fn encode(bytes: &[u8]) -> IlpPacketString {
        IlpPacketString(B64URL.encode(bytes))
    }
}

/// Which bytes are base64url: a table, because the hub checks every byte of every ILP packet
/// (~1 KB per prepare) and the branchy test was 6 % of its instructions per transfer.
const B64URL_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        i += 1;
    }
    t
};

fn is_b64url_byte(b: u8) -> bool {
    B64URL_BYTES[b as usize]
}

fn check_b64url32(element: &'static str, s: &str) -> Result<(), ElementError> {
    if s.len() != 43 || !s.bytes().all(is_b64url_byte) {
        return Err(ElementError::new(
            element,
            "must be 43 base64url characters",
        ));
    }
    // The last character carries 2 padding bits that must be zero for 32 bytes to decode.
    if B64URL.decode(s).map(|v| v.len()) != Ok(32) {
        return Err(ElementError::new(element, "does not decode to 32 bytes"));
    }
    Ok(())
}

fn check_condition(s: &str) -> Result<(), ElementError> {
    check_b64url32("IlpCondition", s)
}

fn check_fulfilment(s: &str) -> Result<(), ElementError> {
    check_b64url32("IlpFulfilment", s)
}

validated_string!(
    /// `IlpCondition`: base64url of 32 bytes, 43 characters, no padding.
    IlpCondition,
    check_condition
);

validated_string!(
    /// `IlpFulfilment`: base64url of 32 bytes, 43 characters, no padding.
    IlpFulfilment,
    check_fulfilment
);

macro_rules! bytes32 {
    ($name:ident) => {
        impl $name {
            /// The 32 raw bytes.
            pub fn to_bytes(&self) -> [u8; 32] {
                let mut out = [0u8; 32];
                let v = B64URL.decode(&self.0).expect("validated on construction");
                out.copy_from_slice(&v);
                out
            }

            /// Encodes 32 raw bytes.
            pub fn from_bytes(bytes: &[u8; 32]) -> Self {
                $name(B64URL.encode(bytes))
            }
        }
    };
}
bytes32!(IlpCondition);
bytes32!(IlpFulfilment);

impl IlpFulfilment {
    /// The condition this fulfilment satisfies: SHA-256 of its 32 bytes.
    pub fn condition(&self) -> IlpCondition {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.to_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        IlpCondition::from_bytes(&out)
    }

    /// `sha256(fulfilment) == condition`, the hub's fulfil check (reference §4.1).
    pub fn fulfils(&self, condition: &IlpCondition) -> bool {
        self.condition() == *condition
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_follow_the_pattern() {
        for ok in ["0", "100", "5.5", "0.0001", "123456789012345678", "1.2345"] {
            assert!(Amount::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "5.0",
            "5.50",
            ".5",
            "05",
            "1.",
            "1.23456",
            "-1",
            "1e3",
            "1234567890123456789",
            " 1",
            "1,5",
            "0.00000",
        ] {
            assert!(Amount::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn minor_units_scale_like_the_sdk() {
        let a = |s: &str| Amount::parse(s).unwrap();
        assert_eq!(a("123.45").to_minor_units(2), Ok(12345));
        assert_eq!(a("100").to_minor_units(4), Ok(1_000_000));
        assert_eq!(a("7").to_minor_units(0), Ok(7));
        assert_eq!(a("1.234").to_minor_units(3), Ok(1234));
        assert!(a("1.5").to_minor_units(0).is_err());
        assert!(a("999999999999999999").to_minor_units(4).is_err());
        assert_eq!(
            Amount::from_minor_units(12345, 2).unwrap().as_str(),
            "123.45"
        );
        assert_eq!(
            Amount::from_minor_units(1_000_000, 4).unwrap().as_str(),
            "100"
        );
        assert_eq!(Amount::from_minor_units(5, 4).unwrap().as_str(), "0.0005");
        assert_eq!(Amount::from_minor_units(0, 2).unwrap().as_str(), "0");
    }

    #[test]
    fn currencies() {
        let c = |s: &str| Currency::parse(s);
        assert_eq!(c("XXX").unwrap().minor_units(), Some(4));
        assert_eq!(c("USD").unwrap().minor_units(), Some(2));
        assert_eq!(c("JPY").unwrap().minor_units(), Some(0));
        assert_eq!(c("KWD").unwrap().minor_units(), Some(3));
        assert!(c("usd").is_err());
        assert!(c("ABC").is_err());
        assert!(c("US").is_err());
        assert!(c("BOV").is_err(), "not in the v1.1 enum");
    }

    #[test]
    fn correlation_ids() {
        let v4 = "b51ec534-ee48-4575-b6a9-ead2955b8069";
        assert!(check_correlation_id(v4, IdRules::V1_1).is_ok());
        let v7 = "01890a5d-ac96-774b-bcce-b302099a8057";
        assert!(check_correlation_id(v7, IdRules::V1_1).is_err());
        assert!(check_correlation_id(v7, IdRules::V2_0).is_ok());
        let ulid = "01JEBS69VK6AEA8TGAJE3ZA9EH";
        assert!(check_correlation_id(ulid, IdRules::V1_1).is_err());
        assert!(check_correlation_id(ulid, IdRules::V2_0).is_ok());
        for bad in [
            "B51EC534-EE48-4575-B6A9-EAD2955B8069",
            "b51ec534-ee48-4575-c6a9-ead2955b8069",
            "b51ec534ee48-4575-b6a9-ead2955b80691",
            "01JEBS69VK6AEA8TGAJE3ZA9EL",
            "",
        ] {
            assert!(check_correlation_id(bad, IdRules::V2_0).is_err(), "{bad}");
        }
        let id = CorrelationId::v4_from_bytes([0xff; 16]);
        assert!(id.check(IdRules::V1_1).is_ok(), "{id}");
    }

    #[test]
    fn datetimes() {
        for ok in [
            "2016-05-24T08:38:08.699-04:00",
            "2025-07-01T10:00:00.000Z",
            "2024-02-29T23:59:59.999+14:00",
        ] {
            assert!(DateTime::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "2025-07-01T10:00:00Z",
            "2025-07-01T10:00:00.00Z",
            "2025-07-01T10:00:00.0000Z",
            "2025-07-01 10:00:00.000Z",
            "2025-02-30T10:00:00.000Z",
            "2023-02-29T10:00:00.000Z",
            "2025-07-01T24:00:00.000Z",
            "0999-07-01T10:00:00.000Z",
            "2025-07-01T10:00:00.000+2:00",
            "2025-07-01T10:00:00.000+20:00",
        ] {
            assert!(DateTime::parse(bad).is_err(), "{bad}");
        }
        let d = DateTime::parse("2030-01-01T02:00:00.123+02:00").unwrap();
        assert_eq!(&d.to_ilp_expires_at(), b"20300101000000123");
        let t = d.to_offset_date_time();
        assert_eq!(
            DateTime::from_offset_date_time(t).as_str(),
            "2030-01-01T00:00:00.123Z"
        );
    }

    #[test]
    fn conditions_and_fulfilments() {
        let f = IlpFulfilment::parse("V-IalzIzy-zxy0SrlY1Ku2OE9aS4KgGZ0W-Zq5_BeC0").unwrap();
        let c = IlpCondition::parse("GIxd5xcohkmnnXolpTv_OxwpyaH__Oiq49JTvCo8pyA").unwrap();
        assert!(f.fulfils(&c));
        assert!(IlpCondition::parse("GIxd5xcohkmnnXolpTv_OxwpyaH__Oiq49JTvCo8pyB").is_err());
        assert!(IlpCondition::parse("GIxd5xcohkmnnXolpTv_OxwpyaH__Oiq49JTvCo8py").is_err());
        assert!(IlpCondition::parse("GIxd5xcohkmnnXolpTv/OxwpyaH__Oiq49JTvCo8pyA").is_err());
        assert!(IlpPacketString::parse("AYI=").is_ok());
        assert!(IlpPacketString::parse("AY===").is_err());
        assert!(IlpPacketString::parse("A+I").is_err());
        // Checked in 64-byte chunks: a bad byte in a later or a short last chunk still counts.
        for at in [0, 63, 64, 130, 199] {
            let mut p = vec![b'A'; 200];
            p[at] = b'/';
            assert!(IlpPacketString::parse(String::from_utf8(p).unwrap()).is_err());
        }
        assert!(IlpPacketString::parse("A".repeat(200)).is_ok());
    }

    #[test]
    fn fsp_ids() {
        assert!(FspId::parse("perffsp1").unwrap().is_ledger_name());
        assert!(!FspId::parse("perffsp-1").unwrap().is_ledger_name());
        assert!(FspId::parse("").is_err());
        assert!(FspId::parse("x".repeat(33)).is_err());
    }
}
