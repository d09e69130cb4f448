//! # perfbed-http — HTTP plumbing for FSPIOP servers and clients
//!
//! The one copy of what the simulator, the hub emulator and the load driver share on the
//! network side; the protocol itself lives in `fspiop` (no I/O).
//!
//! * [`tls`] — rustls server/client configs for mTLS from PEM files; a test PKI generator.
//! * [`server`] — serve an axum `Router` over TCP or (m)TLS with graceful shutdown.
//! * [`client`] — pooled keep-alive hyper client with timeouts, rustls for `https://`.
//! * [`latency`] — added-latency distributions (simulator behaviours, hub knobs).
//! * [`keys`] — JWS keys from a directory in the hub's layout (`fspiop` reads no files).
//! * [`metrics`] — `/metrics` in the OpenMetrics text format, from a `prometheus-client` registry.
//! * [`fspiop`] — inbound checks (headers → JWS) with the hub's codes, `FspiopError` →
//!   HTTP response, outbound request building and signing.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod fspiop;
pub mod keys;
pub mod latency;
pub mod metrics;
pub mod server;
pub mod tls;

pub use client::{ClientError, ClientOptions, Delivery, HttpClient, Retry};
pub use fspiop::{check_inbound, check_inbound_api, parse_body, FspiopError, JwsPolicy, Outbound};
