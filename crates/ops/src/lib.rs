//! # ops — onboarding and party registration
//!
//! Talks to the central-ledger admin API and the oracle's REST API with the real services'
//! paths and bodies, so the same calls work against a real Mojaloop and the hub emulator.
//! [`onboard`] follows reference §7.1 and is idempotent: it looks before it writes (a second
//! `initialPositionAndLimits` is a 500 on the real hub), so a second run changes nothing.
#![forbid(unsafe_code)]

pub mod crosscheck;
pub mod kafka;
pub mod money;
pub mod msisdn;
pub mod positions;
pub mod switch_metrics;
pub mod testbed;

pub use money::Money;
pub use testbed::Testbed;

use bytes::Bytes;
use http::Method;
use perfbed_http::{ClientOptions, HttpClient};
use serde_json::{json, Value};
use std::time::Duration;

/// What went wrong, with the call and the answer.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The service could not be reached.
    #[error("{method} {url}: no answer")]
    Unreachable {
        /// Method.
        method: Method,
        /// URL.
        url: String,
        /// Why.
        source: perfbed_http::ClientError,
    },
    /// The service refused the call.
    #[error("{method} {url} answered {status}: {body}")]
    Refused {
        /// Method.
        method: Method,
        /// URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Response body.
        body: String,
    },
    /// Funds-in did not become visible in time.
    #[error("funds-in for {0} not visible after {1:?}")]
    FundsNotVisible(String, Duration),
    /// The hub does not know this FSP.
    #[error("unknown FSP '{0}': the hub has no such participant (run perfbed onboard first?)")]
    UnknownFsp(String),
    /// The FSP exists but has no accounts in the currency.
    #[error("{0} has no POSITION/SETTLEMENT accounts in {1} yet: run perfbed onboard first")]
    NotOnboarded(String, String),
    /// Transfers are in flight; a reset now would lose them.
    #[error("refusing: {0}; wait for the run to finish or pass --force")]
    InFlight(String),
    /// A database call failed.
    #[error("database: {what}")]
    Database {
        /// Doing what.
        what: String,
        /// Why.
        source: sqlx::Error,
    },
    /// A callback did not arrive.
    #[error("no callback to {0} within {1:?}: is this listener the FSP's PARTICIPANT endpoint?")]
    NoCallback(String, Duration),
    /// The service answered a request by error callback.
    #[error("{request}: the answer was an error callback ({callback}) with FSPIOP error {code} \"{description}\". Fix: {fix}")]
    ErrorCallback {
        /// The request, as sent.
        request: String,
        /// The callback that carried the error, and where it was received.
        callback: String,
        /// FSPIOP error code.
        code: String,
        /// Its description.
        description: String,
        /// What to do about it.
        fix: String,
    },
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
}

/// Maps a database error to [`OpsError::Database`], saying what was being done.
pub(crate) fn db(what: &str) -> impl FnOnce(sqlx::Error) -> OpsError + '_ {
    move |source| OpsError::Database {
        what: what.to_owned(),
        source,
    }
}

/// A small JSON client for admin APIs.
#[derive(Debug, Clone)]
pub struct Admin {
    client: HttpClient,
    base: String,
}

impl Admin {
    /// Client for the admin API at `base` (e.g. `http://central-ledger:3001`, or
    /// `http://hub:3000/admin` for the emulator).
    pub fn new(base: &str, client: HttpClient) -> Admin {
        Admin {
            client,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// The base URL asked.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Client with default options.
    pub fn plain(base: &str) -> Admin {
        Admin::new(base, HttpClient::new(ClientOptions::default()))
    }

    /// One call; `Ok((status, body))` for any answer, `Err` only when unreachable.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), OpsError> {
        self.call_with_headers(method, path, body)
            .await
            .map(|(status, _, v)| (status, v))
    }

    /// [`Admin::call`], with the response's headers (a `Date`, say).
    pub async fn call_with_headers(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, http::HeaderMap, Value), OpsError> {
        let url = format!("{}{path}", self.base);
        let mut b = http::Request::builder()
            .method(method.clone())
            .uri(&url)
            .header("accept", "application/json");
        let bytes = match body {
            Some(v) => {
                b = b.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
            }
            None => Bytes::new(),
        };
        let req = b
            .body(http_body_util::Full::new(bytes))
            .map_err(|e| OpsError::Refused {
                method: method.clone(),
                url: url.clone(),
                status: 0,
                body: e.to_string(),
            })?;
        let resp = self
            .client
            .send(req)
            .await
            .map_err(|source| OpsError::Unreachable {
                method,
                url,
                source,
            })?;
        let status = resp.status().as_u16();
        let v = serde_json::from_slice(resp.body())
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(resp.body()).into_owned()));
        Ok((status, resp.headers().clone(), v))
    }

    /// A call that must answer 2xx.
    pub async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, OpsError> {
        let (status, v) = self.call(method.clone(), path, body).await?;
        if (200..300).contains(&status) {
            Ok(v)
        } else {
            Err(OpsError::Refused {
                method,
                url: format!("{}{path}", self.base),
                status,
                body: v.to_string(),
            })
        }
    }
}

/// One DFSP to onboard.
#[derive(Debug, Clone)]
pub struct Dfsp {
    /// Participant name (FSP id).
    pub name: String,
    /// Callback base URL (the simulator serving it).
    pub callback_base: String,
}

/// The scheme-wide settings of an onboarding.
#[derive(Debug, Clone)]
pub struct Onboarding {
    /// Currency.
    pub currency: String,
    /// Net debit cap per DFSP.
    pub ndc: u64,
    /// Funds-in per DFSP.
    pub funds: u64,
    /// DFSPs.
    pub dfsps: Vec<Dfsp>,
}

/// What an onboarding run did (a second run reports nothing created).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OnboardReport {
    /// Things created or changed, in order.
    pub changed: Vec<String>,
}

/// The endpoint types and templates a P2P flow needs (reference §7.2).
pub fn endpoint_templates(base: &str) -> Vec<(&'static str, String)> {
    let parties = format!("{base}/parties/{{{{partyIdType}}}}/{{{{partyIdentifier}}}}");
    let sub = format!("{parties}/{{{{partySubIdOrType}}}}");
    let participants = format!("{base}/participants/{{{{partyIdType}}}}/{{{{partyIdentifier}}}}");
    vec![
        ("FSPIOP_CALLBACK_URL_PARTIES_GET", parties.clone()),
        ("FSPIOP_CALLBACK_URL_PARTIES_PUT", parties.clone()),
        (
            "FSPIOP_CALLBACK_URL_PARTIES_PUT_ERROR",
            format!("{parties}/error"),
        ),
        ("FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_GET", sub.clone()),
        ("FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT", sub.clone()),
        (
            "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT_ERROR",
            format!("{sub}/error"),
        ),
        ("FSPIOP_CALLBACK_URL_PARTICIPANT_PUT", participants.clone()),
        (
            "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT_ERROR",
            format!("{participants}/error"),
        ),
        (
            "FSPIOP_CALLBACK_URL_PARTICIPANT_BATCH_PUT",
            format!("{base}/participants/{{{{requestId}}}}"),
        ),
        (
            "FSPIOP_CALLBACK_URL_PARTICIPANT_BATCH_PUT_ERROR",
            format!("{base}/participants/{{{{requestId}}}}/error"),
        ),
        ("FSPIOP_CALLBACK_URL_QUOTES", base.to_owned()),
        (
            "FSPIOP_CALLBACK_URL_TRANSFER_POST",
            format!("{base}/transfers"),
        ),
        (
            "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
            format!("{base}/transfers/{{{{transferId}}}}"),
        ),
        (
            "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
            format!("{base}/transfers/{{{{transferId}}}}/error"),
        ),
    ]
}

fn settlement_of(accounts: &Value) -> Option<(u64, f64)> {
    accounts
        .as_array()?
        .iter()
        .find(|a| a["ledgerAccountType"] == "SETTLEMENT")
        .map(|a| {
            (
                a["id"].as_u64().unwrap_or(0),
                a["value"].as_f64().unwrap_or(0.0),
            )
        })
}

/// Onboards a scheme in the order of reference §7.1, idempotently: hub accounts, settlement
/// model, participants, initial position and NDC, endpoints, funds-in (polled until visible).
pub async fn onboard(admin: &Admin, o: &Onboarding) -> Result<OnboardReport, OpsError> {
    let mut report = OnboardReport::default();
    let c = &o.currency;
    // Hub accounts: the admin API has no GET for them; a duplicate answers 400, which is fine.
    for t in ["HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"] {
        let (status, v) = admin
            .call(
                Method::POST,
                "/participants/Hub/accounts",
                Some(json!({ "type": t, "currency": c })),
            )
            .await?;
        match status {
            200..=299 => report.changed.push(format!("hub account {t} {c}")),
            400 => {}
            _ => {
                return Err(OpsError::Refused {
                    method: Method::POST,
                    url: "/participants/Hub/accounts".into(),
                    status,
                    body: v.to_string(),
                })
            }
        }
    }
    let models = admin.expect(Method::GET, "/settlementModels", None).await?;
    let name = format!("DEFERREDNET{c}");
    if !models.as_array().is_some_and(|m| {
        m.iter()
            .any(|m| m["name"] == name.as_str() || m["currency"] == c.as_str())
    }) {
        admin.expect(Method::POST, "/settlementModels", Some(json!({
            "name": name, "settlementGranularity": "NET", "settlementInterchange": "MULTILATERAL", "settlementDelay": "DEFERRED",
            "currency": c, "requireLiquidityCheck": true, "ledgerAccountType": "POSITION", "autoPositionReset": true, "settlementAccountType": "SETTLEMENT" }))).await?;
        report.changed.push(format!("settlement model {name}"));
    }
    for d in &o.dfsps {
        let n = &d.name;
        let (status, _) = admin
            .call(Method::GET, &format!("/participants/{n}"), None)
            .await?;
        if status != 200 {
            admin
                .expect(
                    Method::POST,
                    "/participants",
                    Some(json!({ "name": n, "currency": c })),
                )
                .await?;
            report.changed.push(format!("participant {n}"));
        }
        let limits = admin
            .expect(Method::GET, &format!("/participants/{n}/limits"), None)
            .await?;
        if limits.as_array().is_none_or(|l| l.is_empty()) {
            admin.expect(Method::POST, &format!("/participants/{n}/initialPositionAndLimits"), Some(json!({ "currency": c, "limit": { "type": "NET_DEBIT_CAP", "value": o.ndc }, "initialPosition": 0 }))).await?;
            report
                .changed
                .push(format!("{n}: position 0, NDC {}", o.ndc));
        }
        let existing = admin
            .expect(Method::GET, &format!("/participants/{n}/endpoints"), None)
            .await?;
        for (t, v) in endpoint_templates(&d.callback_base) {
            let same = existing
                .as_array()
                .is_some_and(|e| e.iter().any(|x| x["type"] == t && x["value"] == v.as_str()));
            if !same {
                admin
                    .expect(
                        Method::POST,
                        &format!("/participants/{n}/endpoints"),
                        Some(json!({ "type": t, "value": v })),
                    )
                    .await?;
                report.changed.push(format!("{n}: endpoint {t}"));
            }
        }
        let accounts = admin
            .expect(Method::GET, &format!("/participants/{n}/accounts"), None)
            .await?;
        let (id, value) = settlement_of(&accounts).unwrap_or((0, 0.0));
        let want = -(o.funds as f64);
        if value > want {
            let add = value - want;
            admin.expect(Method::POST, &format!("/participants/{n}/accounts/{id}"), Some(json!({
                "transferId": transfer_id(n, id), "externalReference": "perfbed onboard", "action": "recordFundsIn", "reason": "perfbed onboard",
                "amount": { "amount": format!("{add}"), "currency": c } }))).await?;
            // Asynchronous on the real hub: poll until visible.
            let patience = Duration::from_secs(30);
            let started = std::time::Instant::now();
            loop {
                let accounts = admin
                    .expect(Method::GET, &format!("/participants/{n}/accounts"), None)
                    .await?;
                if settlement_of(&accounts).is_some_and(|(_, v)| v <= want) {
                    break;
                }
                if started.elapsed() > patience {
                    return Err(OpsError::FundsNotVisible(n.clone(), patience));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            report.changed.push(format!("{n}: funds-in {add}"));
        }
    }
    Ok(report)
}

fn transfer_id(name: &str, account: u64) -> String {
    // A UUID-shaped id, unique per run.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let h = nanos
        ^ (account as u128)
        ^ name
            .bytes()
            .fold(0u128, |a, b| a.wrapping_mul(131).wrapping_add(b as u128));
    let x = format!("{h:032x}");
    format!(
        "{}-{}-4{}-8{}-{}",
        &x[0..8],
        &x[8..12],
        &x[13..16],
        &x[17..20],
        &x[20..32]
    )
}
