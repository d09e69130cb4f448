//! ILP decoding never panics, and whatever decodes re-encodes to the same bytes (the decoder
//! accepts only canonical OER).
#![no_main]
use fspiop::ilp::{IlpPacket, IlpPaymentV1, IlpPrepare, IlpSecret};
use fspiop::types::IlpPacketString;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match IlpPacket::decode(data) {
        Ok(IlpPacket::V4(p)) => assert_eq!(p.encode(), data),
        Ok(IlpPacket::V1(p)) => assert_eq!(p.encode(), data),
        Err(_) => {}
    }
    let _ = IlpPrepare::decode(data);
    let _ = IlpPaymentV1::decode(data);
    if let Ok(p) = IlpPacket::decode(data) {
        let _ = p.transaction();
        let wire = IlpPacketString::encode(data);
        let _ = IlpSecret::new(b"fuzz").fulfil(&wire);
    }
});
