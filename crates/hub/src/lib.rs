//! # hub — the hub emulator
//!
//! An in-memory stand-in for a Mojaloop switch, as far as a DFSP can observe it (reference
//! §9.5): ALS + oracle (`/parties`, `/participants`), quoting-service pass-through (`/quotes`),
//! ml-api-adapter + central-ledger (`/transfers`: validation, duplicates, liquidity and NDC,
//! positions, fulfilment check, expiry, confirmations), and the admin APIs with the real
//! services' paths and bodies, so onboarding tools work unchanged against both.
//!
//! One port, paths as the real services have them, admin APIs under prefixes:
//! FSPIOP at `/`, central-ledger admin at `/admin`, the oracle at `/oracle`, ALS admin at
//! `/als-admin`. Callbacks go to each participant's registered endpoint templates, rendered as
//! the hub renders them. It never parses `ilpPacket` in FSPIOP mode; in ISO 20022 mode the
//! condition travels only inside the packet, so it is decoded from there.
//!
//! * [`ledger`] — positions and the transfer state machine, without I/O.
//! * [`admin`] — central-ledger admin, ALS admin and oracle REST APIs.
//!
//! Layout:
//!
//! * [`config`] — [`HubConfig`] and [`StageLatency`].
//! * `state` — the [`Hub`]: ledger, oracle, outbound client, counters.
//! * `dispatch` — the FSPIOP entry point: the route ([`fspiop::route`]), inbound checks,
//!   then one handler per resource (`parties`, `participants`, `quotes`, `transfers`).
//! * `outbound` — endpoint templates, headers, callbacks sent in the background.
//! * `iso` — ISO 20022 mode (`api = iso20022`): body checks, the pacs.008 read for the ledger,
//!   the hub's own ISO messages.
//! * [`metrics`] — `/metrics` and the [`Stats`] counters.
//! * [`server`] — routers, listeners ([`Layout`]) and the sweep timer.
#![forbid(unsafe_code)]

pub mod admin;
pub mod config;
mod dispatch;
mod iso;
pub mod ledger;
pub mod metrics;
mod outbound;
mod participants;
mod parties;
mod quotes;
pub mod server;
mod state;
mod transfers;

pub use config::{HubConfig, StageLatency};
pub use metrics::Stats;
pub use perfbed_http::latency::Latency;
pub use server::{router, service_routers, start, start_layout, Layout, Running};
pub use state::Hub;
