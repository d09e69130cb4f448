//! Hub settings: [`HubConfig`] and the emulated latency per stage.

use fspiop::headers::Version;
use fspiop::jws::{KeyStore, VerifyMode};
use perfbed_http::latency::Latency;
use std::sync::Arc;
use std::time::Duration;

/// Hub emulator settings.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// The hub's own FSP id (`Hub`).
    pub hub_id: String,
    /// Version of hub-generated messages (errors, confirmations).
    pub version: Version,
    /// FSPIOP, or ISO 20022 bodies and media types (the switch's `API_TYPE=iso20022`).
    pub api: fspiop::iso::Api,
    /// Send the payee a `PUT /transfers/{ID}` confirmation after commit (ml-api-adapter's
    /// `SEND_TRANSFER_CONFIRMATION_TO_PAYEE`, default true).
    pub confirm_to_payee: bool,
    /// How often the expiry sweep runs (the real hub: every 15 s).
    pub sweep_every: Duration,
    /// How long finished transfers are kept for duplicate detection.
    pub retention: Duration,
    /// Verify JWS on incoming requests with a body (off by default, like the hub).
    pub jws: Option<(Arc<KeyStore>, VerifyMode)>,
    /// Timeout of each callback attempt.
    pub http_timeout: Duration,
    /// How an undelivered callback is sent again (see [`perfbed_http::Retry`]): a starved
    /// machine makes the hub slow, never lossy.
    pub callback_retry: perfbed_http::Retry,
    /// Emulated processing latency per stage, added before the hub sends on.
    pub latency: StageLatency,
    /// Share of callbacks silently dropped (0.0–1.0): a switch that loses messages.
    pub drop_callbacks: f64,
    /// Share of prepares refused with 2001 before anything is reserved (0.0–1.0).
    pub reject_prepares: f64,
    /// A switch whose clock is off: added to the time `/health` reports (ms; for trying
    /// `perfbed preflight`'s skew check).
    pub clock_offset_ms: i64,
    /// Most callbacks in flight (queued or sending); beyond that, requests that start new
    /// work (`GET`, `POST`) are shed at once with 503/2003 instead of queueing callbacks
    /// that would only time out. Answers (`PUT`, `PATCH`) always pass: they finish work.
    pub max_callbacks_in_flight: usize,
    /// The ALS's oracles as the real account-lookup-service keeps them: only the oracles
    /// registered through its admin API (`POST /oracles`, the emulator's `/als-admin/oracles`)
    /// serve lookups and registrations of their id type, and a request that names a currency
    /// (the bulk `POST /participants`) needs one registered for that currency too; otherwise
    /// the answer is error 3003 "Oracle type:MSISDN not found". Off (the default): the built-in
    /// oracle serves every type and currency.
    pub als_oracles: bool,
    /// How long the ALS keeps a participant's endpoints once it read them (the real
    /// account-lookup-service caches them for about 180 s): its callbacks go to the cached
    /// address meanwhile, even after the FSP was onboarded again. Zero (the default): none.
    pub als_endpoint_cache: Duration,
}

/// Added latency per stage of the switch (what a slow real hub would add).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageLatency {
    /// ALS: before `GET /parties` goes on to the payee and `PUT /parties` back to the payer.
    pub lookup: Latency,
    /// Quoting-service: before quotes go on, both directions.
    pub quote: Latency,
    /// Before the prepare goes on to the payee.
    pub prepare: Latency,
    /// Before the fulfil (or an error) goes on to the payer, and confirmations to the payee.
    pub fulfil: Latency,
    /// Before a prepare reaches the ledger at all (the Kafka topic in front of central-ledger's
    /// prepare handler): meanwhile the ledger does not know the transfer. Not part of
    /// [`StageLatency::all`].
    pub queue: Latency,
}

impl StageLatency {
    /// The same latency for every stage.
    pub fn all(l: Latency) -> StageLatency {
        StageLatency {
            lookup: l.clone(),
            quote: l.clone(),
            prepare: l.clone(),
            fulfil: l,
            queue: Latency::default(),
        }
    }

    pub(crate) fn for_endpoint(&self, endpoint: &str) -> &Latency {
        if endpoint.contains("PARTIES") || endpoint.contains("PARTICIPANT") {
            &self.lookup
        } else if endpoint.contains("QUOTES") {
            &self.quote
        } else if endpoint.ends_with("TRANSFER_POST") {
            &self.prepare
        } else {
            &self.fulfil
        }
    }
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            hub_id: "Hub".into(),
            version: Version::V1_1,
            api: fspiop::iso::Api::Fspiop,
            confirm_to_payee: true,
            sweep_every: Duration::from_secs(15),
            retention: Duration::from_secs(300),
            jws: None,
            http_timeout: Duration::from_secs(20),
            callback_retry: perfbed_http::Retry::default(),
            latency: StageLatency::default(),
            drop_callbacks: 0.0,
            reject_prepares: 0.0,
            clock_offset_ms: 0,
            max_callbacks_in_flight: 10_000,
            als_oracles: false,
            als_endpoint_cache: Duration::ZERO,
        }
    }
}
