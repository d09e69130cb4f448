//! Admin APIs with the real services' paths and bodies (specs in `shared/reference/specs/`):
//! central-ledger admin (participants, hub accounts, settlement models, initial position and
//! limits, endpoints, limits, accounts and funds in/out, positions), the MSISDN oracle's REST
//! API, and the ALS admin `/oracles`. Behaviours the tools must cope with are reproduced:
//! participants are inactive until `initialPositionAndLimits`, which works once (then 500/2001),
//! accounts are `[]` before it, funds-in is asynchronous (202, visible shortly after), duplicates
//! answer 400. Two routes are perfbed's own, on the emulator only: `GET /perfbed/transfers?prefix=`
//! (a run's transfers by final state), `GET /perfbed/transfers/ids?prefix=&after=&limit=` (a
//! run's transfers id by id, in pages) and `POST /perfbed/transfers/states` (given transfers'
//! states); a real central-ledger answers them 404.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use fspiop::error::ErrorCode;
use perfbed_http::fspiop::FspiopError;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::ledger::{format_units, Participant, Units};
use crate::Hub;

/// Admin-side state that is not the ledger.
#[derive(Debug, Default)]
pub struct AdminState {
    hub_accounts: Mutex<HashSet<(String, String)>>,
    settlement_models: Mutex<Vec<Value>>,
    oracles: Mutex<Vec<Value>>,
    funds_out: Mutex<HashMap<String, (String, Units)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Hs = State<Arc<Hub>>;

fn err(code: ErrorCode, detail: impl AsRef<str>) -> Response {
    FspiopError::new(code, detail).into_response()
}

fn negative(field: &str) -> Response {
    err(
        ErrorCode::GenericValidationError,
        format!("{field} must not be negative"),
    )
}

fn number(u: Units) -> Value {
    // The admin API shows balances as JSON numbers.
    format_units(u)
        .parse::<f64>()
        .map(Value::from)
        .unwrap_or(Value::Null)
}

/// Integer digits the ledger stores: central-ledger keeps amounts as `DECIMAL(18,4)`.
const MAX_INTEGER_DIGITS: usize = 14;

/// Decimals the ledger stores (its units are 1/10 000).
const LEDGER_DECIMALS: usize = 4;

/// An admin amount (`field`, in `currency`) as ledger units. The admin API sends both decimal
/// strings (`"1000.50"`) and JSON numbers (`1000`): integers are taken as they are, other
/// numbers by their shortest decimal form (`12.34`), which must then be exact for the currency.
/// Malformed (exponents, signs other than a leading `-`, not a number at all), more integer
/// digits than the ledger stores, or more decimals than the currency has: why, for a 400 with
/// 3100.
fn amount_units(v: &Value, currency: &str, field: &str) -> Result<Units, String> {
    let bad = |why: String| Err(format!("{field}: {why}"));
    // What the caller sent (for messages), and its decimal form.
    let (shown, text) = match v {
        Value::String(s) => (format!("'{s}'"), s.clone()),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => (n.to_string(), i.to_string()),
            (_, Some(u), _) => (n.to_string(), u.to_string()),
            // f64 `Display` never uses an exponent: 1e300 is written out in full.
            (_, _, Some(f)) if f.is_finite() => (n.to_string(), format!("{f}")),
            _ => return bad(format!("{n} is not a finite number")),
        },
        Value::Null => return bad("missing".into()),
        other => {
            return bad(format!(
                "{other} is not an amount (a decimal string or number)"
            ))
        }
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let decimal = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !decimal(int) || (digits.contains('.') && !decimal(frac)) {
        return bad(format!(
            "{shown} is not a decimal amount (digits, an optional '.' and decimals; no exponent)"
        ));
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    if int.len() > MAX_INTEGER_DIGITS {
        return bad(format!(
            "{shown} is out of range: at most {MAX_INTEGER_DIGITS} integer digits (the ledger's DECIMAL(18,4))"
        ));
    }
    let scale = fspiop::types::Currency::parse(currency)
        .ok()
        .and_then(|c| c.minor_units())
        .map_or(LEDGER_DECIMALS, |m| usize::from(m).min(LEDGER_DECIMALS));
    if frac.len() > scale {
        return bad(format!(
            "{shown} has {} decimals; {currency} amounts have at most {scale}",
            frac.len()
        ));
    }
    // At most 14 + 4 digits: fits an i128 (and an i64) with room to spare.
    let magnitude = format!("{int}{frac:0<LEDGER_DECIMALS$}")
        .bytes()
        .fold(0 as Units, |acc, d| acc * 10 + Units::from(d - b'0'));
    Ok(if negative { -magnitude } else { magnitude })
}

/// The central-ledger admin API (mounted at `/admin`).
pub fn central_ledger_router() -> Router<Arc<Hub>> {
    Router::new()
        .route("/health", get(|| async { Json(json!({ "status": "OK" })) }))
        .route(
            "/participants",
            get(list_participants).post(create_participant),
        )
        .route(
            "/participants/{name}",
            get(get_participant).put(update_participant),
        )
        .route(
            "/participants/{name}/accounts",
            get(get_accounts).post(create_hub_account),
        )
        .route("/participants/{name}/accounts/{id}", post(record_funds))
        .route(
            "/participants/{name}/accounts/{id}/transfers/{transfer_id}",
            put(funds_out_finish),
        )
        .route(
            "/participants/{name}/initialPositionAndLimits",
            post(initial_position),
        )
        .route(
            "/participants/{name}/limits",
            get(get_limits).put(put_limits),
        )
        .route(
            "/participants/{name}/endpoints",
            get(get_endpoints).post(add_endpoint),
        )
        .route("/participants/{name}/positions", get(get_positions))
        .route("/settlementModels", get(list_models).post(create_model))
        .route("/perfbed/transfers", get(transfers_by_run_tag))
        .route("/perfbed/transfers/states", post(transfer_states))
        .route("/perfbed/transfers/ids", get(transfer_ids_by_run_tag))
}

fn participant_json(hub: &Hub, p: &Participant) -> Value {
    json!({
        "name": p.name,
        "id": format!("{}/participants/{}", "http://central-ledger", p.name),
        "created": fspiop::types::DateTime::from_offset_date_time(p.created()).as_str(),
        "isActive": u8::from(p.is_active()),
        "links": { "self": format!("http://central-ledger/participants/{}", p.name) },
        "accounts": accounts_json(hub, p),
    })
}

fn accounts_json(_hub: &Hub, p: &Participant) -> Value {
    let a = p.account();
    if a.ndc.is_none() {
        return json!([]);
    }
    let changed = fspiop::types::DateTime::from_offset_date_time(time::OffsetDateTime::now_utc());
    json!([
        { "id": p.account_ids.0, "ledgerAccountType": "POSITION", "currency": p.currency, "isActive": u8::from(p.is_active()),
          "value": number(a.position), "reservedValue": number(a.reserved), "changedDate": changed.as_str() },
        { "id": p.account_ids.1, "ledgerAccountType": "SETTLEMENT", "currency": p.currency, "isActive": u8::from(p.is_active()),
          "value": number(a.settlement), "reservedValue": 0, "changedDate": changed.as_str() },
    ])
}

fn find(hub: &Hub, name: &str) -> Result<Arc<Participant>, FspiopError> {
    hub.ledger.participant(name).ok_or_else(|| {
        FspiopError::new(
            ErrorCode::GenericIdNotFound,
            format!("The requested resource could not be found: participant {name}"),
        )
    })
}

/// Runs `f` with the named participant, or answers the admin API's not-found error.
fn with_participant(
    hub: &Hub,
    name: &str,
    f: impl FnOnce(Arc<Participant>) -> Response,
) -> Response {
    match find(hub, name) {
        Ok(p) => f(p),
        Err(e) => e.into_response(),
    }
}

async fn list_participants(State(hub): Hs) -> Response {
    let list: Vec<Value> = hub
        .ledger
        .participants()
        .iter()
        .map(|p| participant_json(&hub, p))
        .collect();
    Json(list).into_response()
}

#[derive(Deserialize)]
struct NewParticipant {
    name: String,
    currency: String,
}

async fn create_participant(State(hub): Hs, Json(body): Json<NewParticipant>) -> Response {
    let valid_name =
        (2..=30).contains(&body.name.len()) && body.name.bytes().all(|b| b.is_ascii_alphanumeric());
    if !valid_name {
        return err(
            ErrorCode::MalformedSyntax,
            "name must be 2 to 30 letters or digits",
        );
    }
    if fspiop::types::Currency::parse(body.currency.as_str()).is_err() {
        return err(
            ErrorCode::MalformedSyntax,
            format!("unknown currency {}", body.currency),
        );
    }
    {
        let accounts = lock(&hub.admin.hub_accounts);
        for kind in ["HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"] {
            if !accounts.contains(&(kind.to_owned(), body.currency.clone())) {
                return err(
                    ErrorCode::GenericClientError,
                    format!(
                        "Hub account {kind} for {} has not been created",
                        body.currency
                    ),
                );
            }
        }
    }
    let has_model = lock(&hub.admin.settlement_models)
        .iter()
        .any(|m| m["currency"].as_str().is_none_or(|c| c == body.currency));
    if !has_model {
        return err(
            ErrorCode::GenericClientError,
            format!("No settlement model for currency {}", body.currency),
        );
    }
    match hub.ledger.add_participant(&body.name, &body.currency) {
        Ok(p) => (http::StatusCode::CREATED, Json(participant_json(&hub, &p))).into_response(),
        Err(r) => err(r.code, r.reason),
    }
}

async fn get_participant(State(hub): Hs, Path(name): Path<String>) -> Response {
    with_participant(&hub, &name, |p| {
        Json(participant_json(&hub, &p)).into_response()
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Activate {
    is_active: Value,
}

async fn update_participant(
    State(hub): Hs,
    Path(name): Path<String>,
    Json(body): Json<Activate>,
) -> Response {
    with_participant(&hub, &name, |p| {
        let active =
            matches!(body.is_active, Value::Bool(true)) || body.is_active.as_u64() == Some(1);
        p.set_active(active);
        Json(participant_json(&hub, &p)).into_response()
    })
}

#[derive(Deserialize)]
struct HubAccount {
    #[serde(rename = "type")]
    kind: String,
    currency: String,
}

async fn create_hub_account(
    State(hub): Hs,
    Path(name): Path<String>,
    Json(body): Json<HubAccount>,
) -> Response {
    if name != hub.config.hub_id {
        return err(
            ErrorCode::GenericClientError,
            "accounts of this type are created for the Hub participant only",
        );
    }
    if !matches!(
        body.kind.as_str(),
        "HUB_MULTILATERAL_SETTLEMENT" | "HUB_RECONCILIATION"
    ) {
        return err(
            ErrorCode::MalformedSyntax,
            format!("unknown hub account type {}", body.kind),
        );
    }
    if !lock(&hub.admin.hub_accounts).insert((body.kind.clone(), body.currency.clone())) {
        return err(
            ErrorCode::AddPartyInformationError,
            "Hub account has already been registered",
        );
    }
    (
        http::StatusCode::CREATED,
        Json(json!({ "name": name, "type": body.kind, "currency": body.currency })),
    )
        .into_response()
}

async fn get_accounts(State(hub): Hs, Path(name): Path<String>) -> Response {
    with_participant(&hub, &name, |p| {
        Json(accounts_json(&hub, &p)).into_response()
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitialPosition {
    currency: String,
    limit: Value,
    initial_position: Option<Value>,
}

async fn initial_position(
    State(hub): Hs,
    Path(name): Path<String>,
    Json(body): Json<InitialPosition>,
) -> Response {
    with_participant(&hub, &name, |p| {
        if body.currency != p.currency {
            return err(
                ErrorCode::GenericValidationError,
                format!("participant {name} has no {} account", body.currency),
            );
        }
        if body.limit["type"].as_str() != Some("NET_DEBIT_CAP") {
            return err(
                ErrorCode::MalformedSyntax,
                "limit.type must be NET_DEBIT_CAP",
            );
        }
        let ndc = match amount_units(&body.limit["value"], &p.currency, "limit.value") {
            Ok(v) if v >= 0 => v,
            Ok(_) => return negative("limit.value"),
            Err(why) => return err(ErrorCode::GenericValidationError, why),
        };
        let position = match &body.initial_position {
            None => 0,
            Some(v) => match amount_units(v, &p.currency, "initialPosition") {
                Ok(v) => v,
                Err(why) => return err(ErrorCode::GenericValidationError, why),
            },
        };
        let alarm = body.limit["alarmPercentage"].as_u64().unwrap_or(10) as u32;
        match hub.ledger.init_position(&name, ndc, position, alarm) {
            Ok(()) => http::StatusCode::CREATED.into_response(),
            // central-ledger answers a second call with 500 / 2001.
            Err(r) => err(r.code, r.reason),
        }
    })
}

async fn get_limits(State(hub): Hs, Path(name): Path<String>) -> Response {
    with_participant(&hub, &name, |p| {
        let a = p.account();
        let list: Vec<Value> = a
        .ndc
        .map(|ndc| json!({ "currency": p.currency, "limit": { "type": "NET_DEBIT_CAP", "value": number(ndc), "alarmPercentage": a.alarm_percentage } }))
        .into_iter()
        .collect();
        Json(list).into_response()
    })
}

async fn put_limits(
    State(hub): Hs,
    Path(name): Path<String>,
    Json(body): Json<InitialPosition>,
) -> Response {
    with_participant(&hub, &name, |p| {
        let ndc = match amount_units(&body.limit["value"], &p.currency, "limit.value") {
            Ok(v) if v >= 0 => v,
            Ok(_) => return negative("limit.value"),
            Err(why) => return err(ErrorCode::GenericValidationError, why),
        };
        let alarm = body.limit["alarmPercentage"].as_u64().map(|a| a as u32);
        let updated = p.with_account(|a| {
            if a.ndc.is_none() {
                return false;
            }
            a.ndc = Some(ndc);
            if let Some(x) = alarm {
                a.alarm_percentage = x;
            }
            true
        });
        if !updated {
            return err(
                ErrorCode::GenericClientError,
                "no limit yet: call initialPositionAndLimits first",
            );
        }
        Json(json!({ "currency": p.currency, "limit": { "type": "NET_DEBIT_CAP", "value": number(ndc), "alarmPercentage": p.account().alarm_percentage } })).into_response()
    })
}

#[derive(Deserialize)]
struct Endpoint {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

async fn add_endpoint(
    State(hub): Hs,
    Path(name): Path<String>,
    Json(body): Json<Endpoint>,
) -> Response {
    with_participant(&hub, &name, |p| {
        if body.kind.is_empty() || body.value.is_empty() {
            return err(ErrorCode::MalformedSyntax, "type and value are required");
        }
        p.set_endpoint(&body.kind, &body.value);
        http::StatusCode::CREATED.into_response()
    })
}

async fn get_endpoints(State(hub): Hs, Path(name): Path<String>) -> Response {
    with_participant(&hub, &name, |p| {
        Json(
            p.endpoints()
                .into_iter()
                .map(|(k, v)| json!({ "type": k, "value": v }))
                .collect::<Vec<_>>(),
        )
        .into_response()
    })
}

#[derive(Deserialize)]
struct CurrencyQuery {
    currency: Option<String>,
}

async fn get_positions(
    State(hub): Hs,
    Path(name): Path<String>,
    Query(q): Query<CurrencyQuery>,
) -> Response {
    with_participant(&hub, &name, |p| {
        let changed =
            fspiop::types::DateTime::from_offset_date_time(time::OffsetDateTime::now_utc());
        let position = json!({ "currency": p.currency, "value": number(p.account().position), "changedDate": changed.as_str() });
        match q.currency {
            Some(c) if c == p.currency => Json(position).into_response(),
            Some(_) => Json(json!([])).into_response(),
            None => Json(json!([position])).into_response(),
        }
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FundsAction {
    transfer_id: String,
    action: String,
    amount: Option<Value>,
    #[allow(dead_code)]
    reason: Option<String>,
    #[allow(dead_code)]
    external_reference: Option<String>,
}

async fn record_funds(
    State(hub): Hs,
    Path((name, id)): Path<(String, u64)>,
    Json(body): Json<FundsAction>,
) -> Response {
    with_participant(&hub, &name, |p| {
        if id != p.account_ids.1 {
            return err(
                ErrorCode::GenericValidationError,
                format!("account {id} is not the SETTLEMENT account of {name}"),
            );
        }
        if p.account().ndc.is_none() {
            return err(
                ErrorCode::GenericClientError,
                "the account is not active: call initialPositionAndLimits first",
            );
        }
        let no_amount = Value::Null;
        let given = body.amount.as_ref().map_or(&no_amount, |a| &a["amount"]);
        let amount = match amount_units(given, &p.currency, "amount.amount") {
            Ok(v) if v > 0 => v,
            Ok(_) => {
                return err(
                    ErrorCode::GenericValidationError,
                    "amount.amount must be positive",
                )
            }
            Err(why) => return err(ErrorCode::GenericValidationError, why),
        };
        match body.action.as_str() {
            "recordFundsIn" => {
                // Asynchronous like the real admin handler: 202 now, visible a moment later.
                let (hub2, owner) = (hub.clone(), p.name.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let _ = hub2.ledger.adjust_settlement(&owner, -amount);
                });
                http::StatusCode::ACCEPTED.into_response()
            }
            "recordFundsOutPrepareReserve" => {
                let ok = p.with_account(|a| {
                    if amount > -a.settlement - (a.position + a.reserved) {
                        return false;
                    }
                    a.settlement += amount;
                    true
                });
                if !ok {
                    return err(
                        ErrorCode::PayerFspInsufficientLiquidity,
                        "not enough funds to withdraw",
                    );
                }
                lock(&hub.admin.funds_out).insert(body.transfer_id, (p.name.clone(), amount));
                http::StatusCode::ACCEPTED.into_response()
            }
            other => err(
                ErrorCode::MalformedSyntax,
                format!("unknown action {other}"),
            ),
        }
    })
}

#[derive(Deserialize)]
struct FundsFinish {
    action: String,
}

async fn funds_out_finish(
    State(hub): Hs,
    Path((name, _id, transfer_id)): Path<(String, u64, String)>,
    Json(body): Json<FundsFinish>,
) -> Response {
    let Some((owner, amount)) = lock(&hub.admin.funds_out).remove(&transfer_id) else {
        return err(
            ErrorCode::TransferIdNotFound,
            format!("no funds-out reservation {transfer_id}"),
        );
    };
    if owner != name {
        lock(&hub.admin.funds_out).insert(transfer_id, (owner, amount));
        return err(
            ErrorCode::GenericValidationError,
            "the reservation belongs to another participant",
        );
    }
    match body.action.as_str() {
        "recordFundsOutCommit" => http::StatusCode::ACCEPTED.into_response(),
        "recordFundsOutAbort" => {
            let _ = hub.ledger.adjust_settlement(&name, -amount);
            http::StatusCode::ACCEPTED.into_response()
        }
        other => {
            lock(&hub.admin.funds_out).insert(transfer_id, (owner, amount));
            err(
                ErrorCode::MalformedSyntax,
                format!("unknown action {other}"),
            )
        }
    }
}

async fn list_models(State(hub): Hs) -> Response {
    Json(lock(&hub.admin.settlement_models).clone()).into_response()
}

async fn create_model(State(hub): Hs, Json(body): Json<Value>) -> Response {
    let Some(name) = body["name"].as_str() else {
        return err(ErrorCode::MalformedSyntax, "name is required");
    };
    let mut models = lock(&hub.admin.settlement_models);
    if models.iter().any(|m| m["name"].as_str() == Some(name)) {
        return err(
            ErrorCode::AddPartyInformationError,
            format!("Settlement model {name} already exists"),
        );
    }
    models.push(body);
    http::StatusCode::CREATED.into_response()
}

/// Whether `s` is a run tag: 8 lowercase hex characters, the first 4 bytes of a run's transfer
/// ids (FSPIOP UUIDs are lowercase).
fn is_run_tag(s: &str) -> bool {
    (s.len() == 8 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        || fspiop::iso::is_ulid_prefix(s)
}

/// The largest page of [`transfer_ids_by_run_tag`].
pub const IDS_PAGE_MAX: usize = 100_000;

/// `GET /perfbed/transfers/ids?prefix=<run tag>&after=<id>&limit=<n>`: the transfers whose id
/// starts with the run tag and sorts after `after` (all when absent), at most `limit` (default
/// and most [`IDS_PAGE_MAX`]), in id order, each with its state
/// ([`crate::ledger::Ledger::ids_by_prefix`]):
/// `{"prefix": "1a2b3c4d", "transfers": [{"id": "…", "state": "COMMITTED"}, …], "next": "…"}`;
/// `next` (the last id) is there while the page was full: ask again with `after=next`.
/// A missing or malformed prefix or limit is 3100.
async fn transfer_ids_by_run_tag(
    State(hub): Hs,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let one = |name: &str| {
        let mut v = q.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
        match (v.next(), v.next()) {
            (a, None) => Ok(a),
            _ => Err(()),
        }
    };
    let (Ok(Some(prefix)), Ok(after), Ok(limit)) = (one("prefix"), one("after"), one("limit"))
    else {
        return err(
            ErrorCode::GenericValidationError,
            "give one prefix, and at most one after and one limit",
        );
    };
    let limit = match limit.map(str::parse::<usize>) {
        None => IDS_PAGE_MAX,
        Some(Ok(n)) if (1..=IDS_PAGE_MAX).contains(&n) => n,
        Some(_) => {
            return err(
                ErrorCode::GenericValidationError,
                format!("limit must be 1 to {IDS_PAGE_MAX}"),
            )
        }
    };
    if !is_run_tag(prefix) {
        return err(
            ErrorCode::GenericValidationError,
            "the prefix must be a run tag of 8 lowercase hex characters (ISO 20022 ids: its \
             7-character ULID prefix)",
        );
    }
    let page = hub.ledger.ids_by_prefix(prefix, after, limit);
    let next = (page.len() == limit).then(|| page.last().map(|(id, _)| id.clone()));
    let transfers: Vec<Value> = page
        .into_iter()
        .map(|(id, s)| json!({ "id": id, "state": s.name() }))
        .collect();
    Json(json!({ "prefix": prefix, "transfers": transfers, "next": next.flatten() }))
        .into_response()
}

/// `GET /perfbed/transfers?prefix=<run tag>`: how the emulator's ledger ended the transfers
/// whose id starts with the run tag, by central-ledger's state names
/// ([`crate::ledger::Ledger::states_by_prefix`]):
/// `{"prefix": "1a2b3c4d", "byState": {"COMMITTED": 998, "ABORTED_ERROR": 2}, "total": 1000}`.
/// perfbed's own route, not central-ledger's: a real central-ledger answers 404, which tells a
/// caller that the hub is not the emulator. A missing, repeated or malformed prefix is 3100.
async fn transfers_by_run_tag(State(hub): Hs, Query(q): Query<Vec<(String, String)>>) -> Response {
    let mut given = q.iter().filter(|(k, _)| k == "prefix").map(|(_, v)| v);
    let prefix = match (given.next(), given.next()) {
        (Some(p), None) if is_run_tag(p) => p,
        _ => {
            return err(
                ErrorCode::GenericValidationError,
                "give one prefix: a run tag of 8 lowercase hex characters (ISO 20022 ids: its \
                 7-character ULID prefix)",
            )
        }
    };
    let by_state = hub.ledger.states_by_prefix(prefix);
    // Counted as transfers were recorded, apart from the states: the client checks the
    // states against it.
    let total = hub.ledger.recorded_by_prefix(prefix);
    Json(json!({ "prefix": prefix, "byState": by_state, "total": total })).into_response()
}

#[derive(Deserialize)]
struct TransferIds {
    ids: Vec<String>,
}

/// Transfers asked about at once, at most.
const STATES_AT_ONCE: usize = 10_000;

/// `POST /perfbed/transfers/states` with `{"ids": ["…", …]}` (at most 10,000): each held
/// transfer's state by central-ledger's name — `{"states": {"<id>": "COMMITTED", …}}`; ids the
/// emulator does not hold (never prepared, refused at prepare, or forgotten after the
/// retention window) are left out. perfbed's own route: how a run reconciles the transfers it
/// stopped waiting for.
async fn transfer_states(State(hub): Hs, Json(body): Json<TransferIds>) -> Response {
    if body.ids.len() > STATES_AT_ONCE {
        return err(
            ErrorCode::GenericValidationError,
            format!("at most {STATES_AT_ONCE} ids at once"),
        );
    }
    let states: serde_json::Map<String, Value> = body
        .ids
        .iter()
        .filter_map(|id| {
            let t = hub.ledger.transfer(id)?;
            Some((id.clone(), json!(t.state.ledger_state().name())))
        })
        .collect();
    Json(json!({ "states": states })).into_response()
}

// ---------------------------------------------------------------------------------------------
// Oracle REST API (mounted at `/oracle`)

/// The MSISDN oracle's REST API: the table ALS consults.
pub fn oracle_router() -> Router<Arc<Hub>> {
    Router::new()
        .route("/health", get(|| async { Json(json!({ "status": "OK" })) }))
        .route("/participants", post(oracle_bulk))
        .route(
            "/participants/{t}/{id}",
            get(oracle_get)
                .post(oracle_post)
                .put(oracle_put)
                .delete(oracle_delete),
        )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OracleEntry {
    fsp_id: String,
}

async fn oracle_get(State(hub): Hs, Path((t, id)): Path<(String, String)>) -> Response {
    let list: Vec<Value> = hub
        .oracle_get(&t, &id)
        .map(|f| json!({ "fspId": f }))
        .into_iter()
        .collect();
    Json(json!({ "partyList": list })).into_response()
}

async fn oracle_post(
    State(hub): Hs,
    Path((t, id)): Path<(String, String)>,
    Json(body): Json<OracleEntry>,
) -> Response {
    hub.oracle_set(&t, &id, &body.fsp_id);
    http::StatusCode::CREATED.into_response()
}

async fn oracle_put(
    State(hub): Hs,
    Path((t, id)): Path<(String, String)>,
    Json(body): Json<OracleEntry>,
) -> Response {
    hub.oracle_set(&t, &id, &body.fsp_id);
    http::StatusCode::OK.into_response()
}

async fn oracle_delete(State(hub): Hs, Path((t, id)): Path<(String, String)>) -> Response {
    if hub.oracle_remove(&t, &id) {
        http::StatusCode::NO_CONTENT.into_response()
    } else {
        err(ErrorCode::PartyNotFound, "no such party")
    }
}

async fn oracle_bulk(State(hub): Hs, Json(body): Json<Value>) -> Response {
    let Some(list) = body["partyList"].as_array() else {
        return err(ErrorCode::MalformedSyntax, "partyList is required");
    };
    let mut results = Vec::with_capacity(list.len());
    for p in list {
        match (p["partyIdType"].as_str(), p["partyIdentifier"].as_str(), p["fspId"].as_str()) {
            (Some(t), Some(id), Some(f)) => {
                hub.oracle_set(t, id, f);
                results.push(json!({ "partyId": p }));
            }
            _ => results.push(json!({ "partyId": p, "errorInformation": { "errorCode": "3101", "errorDescription": "Malformed syntax" } })),
        }
    }
    (
        http::StatusCode::CREATED,
        Json(json!({ "partyList": results })),
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// ALS admin (mounted at `/als-admin`)

/// ALS admin: `/oracles`.
pub fn als_admin_router() -> Router<Arc<Hub>> {
    Router::new()
        .route("/health", get(|| async { Json(json!({ "status": "OK" })) }))
        .route("/oracles", get(list_oracles).post(create_oracle))
}

impl Hub {
    /// Why the ALS has no oracle for `id_type` (and `currency`, when the request names one),
    /// as the real account-lookup-service says it; `None` when it has one, or when the
    /// emulator serves every type ([`HubConfig::als_oracles`](crate::HubConfig::als_oracles)
    /// off). An oracle registered without a currency serves requests that name none.
    pub(crate) fn als_oracle_missing(
        &self,
        id_type: &str,
        currency: Option<&str>,
    ) -> Option<String> {
        if !self.config.als_oracles {
            return None;
        }
        let found = lock(&self.admin.oracles).iter().any(|o| {
            o["oracleIdType"].as_str() == Some(id_type)
                && currency.is_none_or(|c| o["currency"].as_str() == Some(c))
        });
        (!found).then(|| format!("Oracle type:{id_type} not found"))
    }
}

async fn list_oracles(State(hub): Hs) -> Response {
    Json(lock(&hub.admin.oracles).clone()).into_response()
}

async fn create_oracle(State(hub): Hs, Json(mut body): Json<Value>) -> Response {
    if body["oracleIdType"].as_str().is_none() || body["endpoint"]["value"].as_str().is_none() {
        return err(
            ErrorCode::MalformedSyntax,
            "oracleIdType and endpoint.value are required",
        );
    }
    let mut list = lock(&hub.admin.oracles);
    body["oracleId"] = json!((list.len() + 1).to_string());
    list.push(body);
    http::StatusCode::CREATED.into_response()
}
