//! ILP packets as Mojaloop uses them: the ILPv4 Prepare (FSPIOP v2.0, current perf tooling) and
//! the older v1 `InterledgerProtocolPaymentMessage`, the transaction object carried in `data`,
//! and condition/fulfilment derived exactly as the Mojaloop SDK derives them (reference §4).
//!
//! Decoders take bytes and return typed values or an [`IlpError`]; they reject truncated input,
//! bad or non-canonical length prefixes and trailing bytes. Nothing here panics on input.

use base64::Engine;
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::json::{canonicalize, to_canonical_vec, Canonical};
use crate::models::{Money, Party, QuotesPost, TransactionType, TransfersPost};
use crate::types::{
    CorrelationId, DateTime, ElementError, IlpCondition, IlpFulfilment, IlpPacketString,
};

/// The ILP address the SDK puts in every v4 Prepare (`ILP_ADDRESS`).
pub const ILP_ADDRESS: &str = "g.mojaloop";

/// Packet type byte of an ILPv4 Prepare.
pub const TYPE_PREPARE: u8 = 12;
/// Packet type byte of a v1 ILP payment.
pub const TYPE_PAYMENT_V1: u8 = 1;

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
const B64URL_LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);
const B64STD: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Why a packet could not be decoded, built or checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IlpError {
    /// The input ended before a field was complete.
    #[error("truncated packet: {0} needs more bytes")]
    Truncated(&'static str),
    /// The type byte is not the expected one.
    #[error("unexpected packet type {got} (expected {expected})")]
    WrongType {
        /// Expected type byte.
        expected: u8,
        /// Type byte found.
        got: u8,
    },
    /// Unknown type byte (neither v1 nor v4).
    #[error("unknown ILP packet type {0}")]
    UnknownType(u8),
    /// A length prefix is malformed (zero length-of-length, too long, or not minimal).
    #[error("bad length prefix: {0}")]
    BadLength(&'static str),
    /// Bytes left over after the packet or inside its envelope.
    #[error("{0} trailing bytes")]
    Trailing(usize),
    /// `expiresAt` is not 17 ASCII digits of a valid UTC instant.
    #[error("bad expiresAt")]
    BadExpiresAt,
    /// An address is empty or not printable ASCII.
    #[error("bad ILP address")]
    BadAddress,
    /// v1 extensions byte is not zero.
    #[error("unsupported v1 extensions")]
    Extensions,
    /// The wire string is not base64url.
    #[error("packet is not base64url")]
    Base64,
    /// `data` is not base64url-encoded JSON.
    #[error("packet data is not base64url JSON: {0}")]
    Data(&'static str),
    /// An element (amount, currency, date) cannot be expressed in the packet.
    #[error(transparent)]
    Element(#[from] ElementError),
    /// The currency has no minor-units entry in the SDK's table.
    #[error("no minor units known for currency {0}")]
    UnknownMinorUnits(String),
    /// The transaction object lacks a field the packet needs.
    #[error("transaction object lacks {0}")]
    Missing(&'static str),
}

// ---------------------------------------------------------------------------------------------
// OER primitives

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], IlpError> {
        if self.buf.len() < n {
            return Err(IlpError::Truncated(what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, IlpError> {
        Ok(self.take(1, what)?[0])
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, IlpError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// OER length determinant: `L < 128` in one byte, else `0x80 | n` then `n` bytes of L.
    fn length(&mut self, what: &'static str) -> Result<usize, IlpError> {
        let first = self.u8(what)?;
        if first & 0x80 == 0 {
            return Ok(usize::from(first));
        }
        let n = usize::from(first & 0x7f);
        if n == 0 {
            return Err(IlpError::BadLength("zero length-of-length"));
        }
        if n > 4 {
            return Err(IlpError::BadLength("length-of-length above 4 bytes"));
        }
        let bytes = self.take(n, what)?;
        if bytes[0] == 0 {
            return Err(IlpError::BadLength("leading zero byte (not canonical)"));
        }
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if len < 128 {
            return Err(IlpError::BadLength(
                "long form for a short length (not canonical)",
            ));
        }
        Ok(len)
    }

    fn var_octets(&mut self, what: &'static str) -> Result<&'a [u8], IlpError> {
        let len = self.length(what)?;
        self.take(len, what)
    }

    fn finish(self) -> Result<(), IlpError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(IlpError::Trailing(self.buf.len()))
        }
    }
}

fn write_length(out: &mut Vec<u8>, len: usize) {
    if len < 128 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn write_var_octets(out: &mut Vec<u8>, bytes: &[u8]) {
    write_length(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn envelope(packet_type: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(contents.len() + 6);
    out.push(packet_type);
    write_var_octets(&mut out, contents);
    out
}

/// Reads `type ‖ var-octets(contents)` and checks nothing follows.
fn open_envelope(bytes: &[u8], expected: u8) -> Result<&[u8], IlpError> {
    let mut r = Reader { buf: bytes };
    let t = r.u8("type")?;
    if t != expected {
        return Err(IlpError::WrongType { expected, got: t });
    }
    let contents = r.var_octets("envelope")?;
    r.finish()?;
    Ok(contents)
}

fn check_address(bytes: &[u8]) -> Result<String, IlpError> {
    if bytes.is_empty() || bytes.len() > 1023 || !bytes.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(IlpError::BadAddress);
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

// ---------------------------------------------------------------------------------------------
// Packets

/// An ILPv4 Prepare packet (RFC 0027), exact layout of reference §4.3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IlpPrepare {
    /// Amount in the currency's minor units.
    pub amount: u64,
    /// `YYYYMMDDHHmmssSSS`, UTC, ASCII.
    pub expires_at: [u8; 17],
    /// Raw condition bytes.
    pub execution_condition: [u8; 32],
    /// ILP address, `g.mojaloop` for Mojaloop.
    pub destination: String,
    /// ASCII base64url of the transaction JSON.
    pub data: Vec<u8>,
}

impl IlpPrepare {
    /// OER-encodes the packet.
    pub fn encode(&self) -> Vec<u8> {
        let mut c = Vec::with_capacity(64 + self.destination.len() + self.data.len());
        c.extend_from_slice(&self.amount.to_be_bytes());
        c.extend_from_slice(&self.expires_at);
        c.extend_from_slice(&self.execution_condition);
        write_var_octets(&mut c, self.destination.as_bytes());
        write_var_octets(&mut c, &self.data);
        envelope(TYPE_PREPARE, &c)
    }

    /// Decodes an OER Prepare; rejects anything malformed or left over.
    pub fn decode(bytes: &[u8]) -> Result<IlpPrepare, IlpError> {
        let mut r = Reader {
            buf: open_envelope(bytes, TYPE_PREPARE)?,
        };
        let amount = r.u64("amount")?;
        let mut expires_at = [0u8; 17];
        expires_at.copy_from_slice(r.take(17, "expiresAt")?);
        expires_at_to_datetime(&expires_at)?;
        let mut execution_condition = [0u8; 32];
        execution_condition.copy_from_slice(r.take(32, "executionCondition")?);
        let destination = check_address(r.var_octets("destination")?)?;
        let data = r.var_octets("data")?.to_vec();
        r.finish()?;
        Ok(IlpPrepare {
            amount,
            expires_at,
            execution_condition,
            destination,
            data,
        })
    }

    /// `expiresAt` as an FSPIOP `DateTime` (UTC, milliseconds).
    pub fn expires_at(&self) -> DateTime {
        expires_at_to_datetime(&self.expires_at).expect("checked when decoded or built")
    }
}

fn expires_at_to_datetime(b: &[u8; 17]) -> Result<DateTime, IlpError> {
    if !b.iter().all(u8::is_ascii_digit) {
        return Err(IlpError::BadExpiresAt);
    }
    let s = std::str::from_utf8(b).map_err(|_| IlpError::BadExpiresAt)?;
    let iso = format!(
        "{}-{}-{}T{}:{}:{}.{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[8..10],
        &s[10..12],
        &s[12..14],
        &s[14..17]
    );
    DateTime::parse(iso).map_err(|_| IlpError::BadExpiresAt)
}

/// A v1 ILP payment packet (`InterledgerProtocolPaymentMessage`, type 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IlpPaymentV1 {
    /// Amount in the currency's minor units.
    pub amount: u64,
    /// ILP address of the payee, `g.{fspId}.{type}.{id}`.
    pub account: String,
    /// ASCII base64url of the transaction JSON.
    pub data: Vec<u8>,
}

impl IlpPaymentV1 {
    /// OER-encodes the packet (amount, account, data, extensions byte 0).
    pub fn encode(&self) -> Vec<u8> {
        let mut c = Vec::with_capacity(16 + self.account.len() + self.data.len());
        c.extend_from_slice(&self.amount.to_be_bytes());
        write_var_octets(&mut c, self.account.as_bytes());
        write_var_octets(&mut c, &self.data);
        c.push(0);
        envelope(TYPE_PAYMENT_V1, &c)
    }

    /// Decodes a v1 payment; rejects anything malformed or left over.
    pub fn decode(bytes: &[u8]) -> Result<IlpPaymentV1, IlpError> {
        let mut r = Reader {
            buf: open_envelope(bytes, TYPE_PAYMENT_V1)?,
        };
        let amount = r.u64("amount")?;
        let account = check_address(r.var_octets("account")?)?;
        let data = r.var_octets("data")?.to_vec();
        if r.u8("extensions")? != 0 {
            return Err(IlpError::Extensions);
        }
        r.finish()?;
        Ok(IlpPaymentV1 {
            amount,
            account,
            data,
        })
    }
}

/// Which ILP packet format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IlpVersion {
    /// v1 payment (address of the payee, fulfilment over the packet string).
    V1,
    /// ILPv4 Prepare (fixed address, fulfilment over the transaction JSON).
    V4,
}

/// A decoded packet of either format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IlpPacket {
    /// v1 payment.
    V1(IlpPaymentV1),
    /// ILPv4 Prepare.
    V4(IlpPrepare),
}

impl IlpPacket {
    /// Decodes a wire `ilpPacket` string of either format, chosen by the type byte.
    pub fn from_wire(packet: &IlpPacketString) -> Result<IlpPacket, IlpError> {
        let bytes = packet.decode().map_err(|_| IlpError::Base64)?;
        IlpPacket::decode(&bytes)
    }

    /// Decodes packet bytes of either format.
    pub fn decode(bytes: &[u8]) -> Result<IlpPacket, IlpError> {
        match bytes.first() {
            Some(&TYPE_PREPARE) => IlpPrepare::decode(bytes).map(IlpPacket::V4),
            Some(&TYPE_PAYMENT_V1) => IlpPaymentV1::decode(bytes).map(IlpPacket::V1),
            Some(&t) => Err(IlpError::UnknownType(t)),
            None => Err(IlpError::Truncated("type")),
        }
    }

    /// The packet's format.
    pub fn version(&self) -> IlpVersion {
        match self {
            IlpPacket::V1(_) => IlpVersion::V1,
            IlpPacket::V4(_) => IlpVersion::V4,
        }
    }

    /// Amount in minor units.
    pub fn amount(&self) -> u64 {
        match self {
            IlpPacket::V1(p) => p.amount,
            IlpPacket::V4(p) => p.amount,
        }
    }

    /// The `data` field (ASCII base64url of the transaction JSON).
    pub fn data(&self) -> &[u8] {
        match self {
            IlpPacket::V1(p) => &p.data,
            IlpPacket::V4(p) => &p.data,
        }
    }

    /// The transaction JSON exactly as carried (base64url-decoded `data`).
    pub fn transaction_json(&self) -> Result<Vec<u8>, IlpError> {
        B64URL_LENIENT
            .decode(self.data())
            .map_err(|_| IlpError::Data("data is not base64url"))
    }

    /// The transaction object, parsed.
    pub fn transaction(&self) -> Result<TransactionObject, IlpError> {
        serde_json::from_slice(&self.transaction_json()?)
            .map_err(|_| IlpError::Data("not a valid transaction object"))
    }
}

// ---------------------------------------------------------------------------------------------
// Transaction object, condition, fulfilment

/// The transaction object the SDK puts in `data` (reference §4.4): the quote request's ids,
/// type and parties, the quote response's `expiration`, and `amount` = `transferAmount`.
/// (`expiration` is an SDK addition, not in the spec's Transaction type.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TransactionObject {
    pub amount: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<DateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub payee: Party,
    pub payer: Party,
    pub quote_id: CorrelationId,
    pub transaction_id: CorrelationId,
    pub transaction_type: TransactionType,
}

impl Canonical for TransactionObject {}

impl TransactionObject {
    /// Builds it as the SDK's `transactionObjectDto(quoteRequest, quoteResponse)` does.
    pub fn from_quote(
        request: &QuotesPost,
        transfer_amount: &Money,
        expiration: &DateTime,
        note: Option<&str>,
    ) -> TransactionObject {
        TransactionObject {
            amount: transfer_amount.clone(),
            expiration: Some(expiration.clone()),
            note: note.map(str::to_owned),
            payee: request.payee.clone(),
            payer: request.payer.clone(),
            quote_id: request.quote_id.clone(),
            transaction_id: request.transaction_id.clone(),
            transaction_type: request.transaction_type.clone(),
        }
    }
}

/// The payee's ILP secret. The HMAC key is the ASCII text of `base64(secret)` (the SDK's
/// choice), kept ready so signing a packet costs one HMAC.
#[derive(Clone)]
pub struct IlpSecret {
    key: hmac::Key,
}

impl std::fmt::Debug for IlpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IlpSecret(..)")
    }
}

impl IlpSecret {
    /// From the secret as configured (the SDK's `ILP_SECRET`).
    pub fn new(secret: &[u8]) -> IlpSecret {
        let key_text = B64STD.encode(secret);
        IlpSecret {
            key: hmac::Key::new(hmac::HMAC_SHA256, key_text.as_bytes()),
        }
    }

    fn fulfilment_over(&self, message_ascii: &[u8]) -> IlpFulfilment {
        let tag = hmac::sign(&self.key, message_ascii);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        IlpFulfilment::from_bytes(&out)
    }

    /// v4: fulfilment = HMAC(key, ASCII(base64(canonical transaction JSON))).
    fn fulfilment_v4(&self, canonical_tx_json: &[u8]) -> IlpFulfilment {
        self.fulfilment_over(B64STD.encode(canonical_tx_json).as_bytes())
    }

    /// Builds packet, condition and fulfilment for a quote response, as the SDK's
    /// `getResponseIlp(transactionObject)` does for the given version.
    pub fn build(
        &self,
        version: IlpVersion,
        tx: &TransactionObject,
    ) -> Result<IlpOutput, IlpError> {
        let minor_units = tx
            .amount
            .currency
            .minor_units()
            .ok_or_else(|| IlpError::UnknownMinorUnits(tx.amount.currency.to_string()))?;
        let amount = tx.amount.amount.to_minor_units(minor_units)?;
        let tx_json = to_canonical_vec(tx);
        let data = B64URL.encode(&tx_json).into_bytes();
        match version {
            IlpVersion::V4 => {
                let expiration = tx
                    .expiration
                    .as_ref()
                    .ok_or(IlpError::Missing("expiration"))?;
                let fulfilment = self.fulfilment_v4(&tx_json);
                let condition = fulfilment.condition();
                let packet = IlpPrepare {
                    amount,
                    expires_at: expiration.to_ilp_expires_at(),
                    execution_condition: condition.to_bytes(),
                    destination: ILP_ADDRESS.to_owned(),
                    data,
                };
                Ok(IlpOutput {
                    packet: IlpPacketString::encode(&packet.encode()),
                    condition,
                    fulfilment,
                })
            }
            IlpVersion::V1 => {
                let packet = IlpPaymentV1 {
                    amount,
                    account: v1_address(&tx.payee)?,
                    data,
                };
                let packet = IlpPacketString::encode(&packet.encode());
                let fulfilment = self.fulfilment_over(packet.as_str().as_bytes());
                Ok(IlpOutput {
                    condition: fulfilment.condition(),
                    packet,
                    fulfilment,
                })
            }
        }
    }

    /// Re-derives the fulfilment from a received packet (the stateless payee's step, and the
    /// SDK's `calculateFulfil`): v1 over the packet string; v4 over the transaction JSON
    /// re-serialized canonically, so packets built with any key order give the SDK's answer.
    pub fn fulfil(&self, packet: &IlpPacketString) -> Result<IlpFulfilment, IlpError> {
        match IlpPacket::from_wire(packet)? {
            IlpPacket::V1(_) => Ok(self.fulfilment_over(packet.as_str().as_bytes())),
            p @ IlpPacket::V4(_) => {
                let json = p.transaction_json()?;
                let canonical =
                    canonicalize(&json).map_err(|_| IlpError::Data("data is not JSON"))?;
                Ok(self.fulfilment_v4(&canonical))
            }
        }
    }
}

/// `g.{fspId}.{partyIdType lower}.{partyIdentifier lower}[.{subId lower}]`, as the SDK's v1.
fn v1_address(payee: &Party) -> Result<String, IlpError> {
    let info = &payee.party_id_info;
    let fsp = info
        .fsp_id
        .as_ref()
        .ok_or(IlpError::Missing("payee.partyIdInfo.fspId"))?;
    let mut s = format!(
        "g.{}.{}.{}",
        fsp,
        info.party_id_type.as_str().to_lowercase(),
        info.party_identifier.as_str().to_lowercase()
    );
    if let Some(sub) = &info.party_sub_id_or_type {
        s.push('.');
        s.push_str(&sub.as_str().to_lowercase());
    }
    Ok(s)
}

/// What a payee puts in its quote response, and keeps (or re-derives) for the transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IlpOutput {
    /// `ilpPacket`.
    pub packet: IlpPacketString,
    /// `condition` = SHA-256 of the fulfilment.
    pub condition: IlpCondition,
    /// The fulfilment the payee reveals on commit.
    pub fulfilment: IlpFulfilment,
}

/// How a transfer disagrees with its ILP packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IlpMismatch {
    /// The packet itself is bad.
    #[error(transparent)]
    Packet(#[from] IlpError),
    /// A field of the transaction object differs from the transfer.
    #[error("packet {0} differs from the transfer")]
    Field(&'static str),
    /// The packet's amount is not the transfer amount in minor units.
    #[error("packet amount differs from the transfer amount")]
    Amount,
    /// The v4 packet's executionCondition is not the transfer's condition.
    #[error("packet executionCondition differs from the transfer condition")]
    Condition,
}

/// Checks a `POST /transfers` body against its packet: the SDK's
/// `validateIlpAgainstTransferRequest` (payer/payee FSP, currency, amount string in the
/// transaction object), plus the packet amount in minor units and, for v4, the condition.
pub fn validate_against_transfer(transfer: &TransfersPost) -> Result<IlpPacket, IlpMismatch> {
    let packet = IlpPacket::from_wire(&transfer.ilp_packet)?;
    let tx = parse_tx(&packet.transaction_json()?)?;
    check_fields(&packet, &tx, transfer)?;
    Ok(packet)
}

fn parse_tx(json: &[u8]) -> Result<serde_json::Value, IlpError> {
    serde_json::from_slice(json).map_err(|_| IlpError::Data("data is not JSON"))
}

fn check_fields(
    packet: &IlpPacket,
    tx: &serde_json::Value,
    transfer: &TransfersPost,
) -> Result<(), IlpMismatch> {
    let field = |ptr: &str| tx.pointer(ptr).and_then(serde_json::Value::as_str);
    if field("/payer/partyIdInfo/fspId") != Some(transfer.payer_fsp.as_str()) {
        return Err(IlpMismatch::Field("payer fspId"));
    }
    if field("/payee/partyIdInfo/fspId") != Some(transfer.payee_fsp.as_str()) {
        return Err(IlpMismatch::Field("payee fspId"));
    }
    if field("/amount/currency") != Some(transfer.amount.currency.as_str()) {
        return Err(IlpMismatch::Field("currency"));
    }
    if field("/amount/amount") != Some(transfer.amount.amount.as_str()) {
        return Err(IlpMismatch::Field("amount"));
    }
    let minor_units = transfer
        .amount
        .currency
        .minor_units()
        .ok_or_else(|| IlpError::UnknownMinorUnits(transfer.amount.currency.to_string()))?;
    let amount = transfer
        .amount
        .amount
        .to_minor_units(minor_units)
        .map_err(IlpError::from)?;
    if packet.amount() != amount {
        return Err(IlpMismatch::Amount);
    }
    if let IlpPacket::V4(p) = packet {
        if p.execution_condition != transfer.condition.to_bytes() {
            return Err(IlpMismatch::Condition);
        }
    }
    Ok(())
}

impl IlpSecret {
    /// The stateless payee's whole check of an incoming transfer, decoding the packet once:
    /// re-derive the fulfilment (as [`IlpSecret::fulfil`]), require
    /// `sha256(fulfilment) == condition`, and with `check_packet` also
    /// [`validate_against_transfer`]'s checks.
    pub fn fulfil_transfer(
        &self,
        transfer: &TransfersPost,
        check_packet: bool,
    ) -> Result<IlpFulfilment, IlpMismatch> {
        let packet = IlpPacket::from_wire(&transfer.ilp_packet)?;
        let json = packet.transaction_json()?;
        let (fulfilment, tx) = match &packet {
            IlpPacket::V1(_) => (
                self.fulfilment_over(transfer.ilp_packet.as_str().as_bytes()),
                if check_packet {
                    Some(parse_tx(&json)?)
                } else {
                    None
                },
            ),
            IlpPacket::V4(_) => {
                let tx = parse_tx(&json)?;
                let mut canonical = Vec::with_capacity(json.len());
                crate::json::write_canonical(&tx, &mut canonical);
                (self.fulfilment_v4(&canonical), Some(tx))
            }
        };
        if !fulfilment.fulfils(&transfer.condition) {
            return Err(IlpMismatch::Condition);
        }
        if let (true, Some(tx)) = (check_packet, tx) {
            check_fields(&packet, &tx, transfer)?;
        }
        Ok(fulfilment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_canonical_oer() {
        for len in [0usize, 1, 127, 128, 255, 256, 707, 65535, 65536, 1 << 24] {
            let mut out = Vec::new();
            write_length(&mut out, len);
            let mut r = Reader { buf: &out };
            assert_eq!(r.length("x").unwrap(), len);
            assert!(r.finish().is_ok());
        }
        let mut out = Vec::new();
        write_length(&mut out, 707);
        assert_eq!(out, [0x82, 0x02, 0xc3]);
        let bad: &[(&[u8], IlpError)] = &[
            (&[0x80], IlpError::BadLength("zero length-of-length")),
            (
                &[0x81, 0x05],
                IlpError::BadLength("long form for a short length (not canonical)"),
            ),
            (
                &[0x82, 0x00, 0x80],
                IlpError::BadLength("leading zero byte (not canonical)"),
            ),
            (
                &[0x85, 1, 1, 1, 1, 1],
                IlpError::BadLength("length-of-length above 4 bytes"),
            ),
            (&[0x82, 0x01], IlpError::Truncated("x")),
        ];
        for (bytes, err) in bad {
            assert_eq!(
                Reader { buf: bytes }.length("x").unwrap_err(),
                *err,
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn prepare_round_trips_and_rejects_damage() {
        let p = IlpPrepare {
            amount: 1_000_000,
            expires_at: *b"20300101000000000",
            execution_condition: [7; 32],
            destination: ILP_ADDRESS.into(),
            data: vec![b'e'; 300],
        };
        let bytes = p.encode();
        assert_eq!(IlpPrepare::decode(&bytes).unwrap(), p);
        for cut in 0..bytes.len() {
            assert!(IlpPrepare::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(IlpPrepare::decode(&longer), Err(IlpError::Trailing(1)));
        let mut wrong = bytes.clone();
        wrong[0] = 13;
        assert!(matches!(
            IlpPrepare::decode(&wrong),
            Err(IlpError::WrongType { .. })
        ));
        let mut bad_date = bytes;
        bad_date[4 + 8 + 4] = b'9'; // month 19
        assert_eq!(IlpPrepare::decode(&bad_date), Err(IlpError::BadExpiresAt));
    }

    #[test]
    fn v1_round_trips_and_rejects_damage() {
        let p = IlpPaymentV1 {
            amount: 12345,
            account: "g.payeefsp.msisdn.27713803912".into(),
            data: b"eyJ9".to_vec(),
        };
        let bytes = p.encode();
        assert_eq!(IlpPaymentV1::decode(&bytes).unwrap(), p);
        for cut in 0..bytes.len() {
            assert!(IlpPaymentV1::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut ext = bytes.clone();
        *ext.last_mut().unwrap() = 1;
        assert_eq!(IlpPaymentV1::decode(&ext), Err(IlpError::Extensions));
        assert!(matches!(IlpPacket::decode(&bytes), Ok(IlpPacket::V1(_))));
        assert_eq!(IlpPacket::decode(&[9]), Err(IlpError::UnknownType(9)));
        assert_eq!(IlpPacket::decode(&[]), Err(IlpError::Truncated("type")));
    }
}
