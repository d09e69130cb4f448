//! # fspiop — the Mojaloop FSPIOP protocol core
//!
//! Everything perfbed sends or checks on the wire, with no I/O: bytes and types in, bytes and
//! types out. The simulator, the hub emulator, the load driver and the ops tools all build on
//! it, and the test suite proves it byte-for-byte against the Mojaloop reference library
//! (`@mojaloop/sdk-standard-components`).
//!
//! ## Layout
//! * [`types`] — element types (`Amount`, `Currency`, `CorrelationId`, `DateTime`, `FspId`,
//!   ILP strings), validated on construction and on deserialization.
//! * [`models`] — request and callback bodies, fields in sorted order so serde output is
//!   canonical JSON.
//! * [`json`] — canonical JSON (compact, keys sorted recursively), what signatures cover.
//! * [`headers`] — versioned media types, IMF-fixdate, header-set validation (3001/3101/3102).
//! * [`ilp`] — ILPv4 Prepare and v1 packets (OER), the transaction object, condition and
//!   fulfilment exactly as the SDK derives them, packet-vs-transfer checks.
//! * [`iso`] — ISO 20022 mode: the `Api` switch, media types, ULIDs, the ISO bodies (acmt.024,
//!   pacs.081/082/008/002) built from and read back into the FSPIOP models, the switch's checks.
//! * [`jws`] — the `FSPIOP-Signature` profile: RS256/ES256 sign and verify, raw and strict
//!   verification, a key store in the hub's directory layout.
//! * [`route`] — which resource a method and path ask for, and the error a bad path gets.
//! * [`testbed`] — perfbed conventions: FSP ids and deterministic MSISDN ranges.
//! * [`error`] — the error-code table, the hub's HTTP status mapping, `errorInformation`.
//!
//! No I/O and no clock: keys come in as PEM bytes ([`jws::KeyStore::from_pem_files`]; the
//! directory is read by `perfbed_http::keys`), and every time is a parameter
//! ([`headers::date_header`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod currency_table;
pub mod error;
pub mod headers;
pub mod ilp;
pub mod iso;
pub mod json;
pub mod jws;
pub mod models;
pub mod route;
pub mod testbed;
pub mod types;

pub use error::{ErrorCode, ErrorInformation, ErrorInformationObject};
