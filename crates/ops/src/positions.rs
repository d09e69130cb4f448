//! `positions show` and `positions reset`, through the central-ledger admin API or straight
//! in its database (reference §7.4).
//!
//! Sign conventions are the ledger's: POSITION > 0 means the DFSP owes the hub; SETTLEMENT is
//! negative after funds-in. A prepare needs `amount ≤ NDC − (position + reserved)` (NDC
//! headroom) and `amount ≤ −settlement − (position + reserved)` (liquidity headroom).
//!
//! A SQL reset puts position and reserved to 0, settlement to −funds and the NDC to its value,
//! in one transaction. The admin API cannot move a position (only settlement can), so an API
//! reset restores the *headroom* instead: settlement −(funds + position + reserved) and NDC
//! (ndc + position + reserved), so the next run sees exactly the configured liquidity and NDC
//! headroom either way.

use crate::{db, money::Money, Admin, OpsError};
use http::Method;
use serde_json::{json, Value};
use sqlx::{mysql::MySqlPool, Row};
use std::time::{Duration, Instant};

/// One ledger account's balance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Account {
    /// participantCurrencyId (the admin API's account `id`).
    pub id: u64,
    /// Balance.
    pub value: Money,
    /// Reserved.
    pub reserved: Money,
}

/// What one DFSP stands at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FspPosition {
    /// FSP id.
    pub fsp: String,
    /// POSITION account.
    pub position: Account,
    /// SETTLEMENT account.
    pub settlement: Account,
    /// Active NET_DEBIT_CAP (None: no limit set).
    pub ndc: Option<Money>,
}

impl FspPosition {
    /// NDC − position − reserved.
    pub fn ndc_headroom(&self) -> Option<Money> {
        self.ndc
            .map(|n| n - self.position.value - self.position.reserved)
    }

    /// −settlement − position − reserved.
    pub fn liquidity(&self) -> Money {
        -self.settlement.value - self.position.value - self.position.reserved
    }
}

/// The configured state a reset returns to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// NET_DEBIT_CAP.
    pub ndc: Money,
    /// Settlement funds (the settlement balance becomes −funds).
    pub funds: Money,
}

/// Which balance a change moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// POSITION value.
    Position,
    /// POSITION reservedValue.
    Reserved,
    /// SETTLEMENT value.
    Settlement,
    /// NET_DEBIT_CAP.
    Ndc,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Position => "position",
            Field::Reserved => "reserved",
            Field::Settlement => "settlement",
            Field::Ndc => "NDC",
        }
    }
}

/// One change of a reset plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// FSP id.
    pub fsp: String,
    /// Balance.
    pub field: Field,
    /// Now.
    pub from: Money,
    /// After.
    pub to: Money,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match self.field {
            Field::Settlement if self.to < self.from => {
                format!(" (funds-in {})", self.from - self.to)
            }
            Field::Settlement => format!(" (funds-out {})", self.to - self.from),
            _ => String::new(),
        };
        write!(
            f,
            "{}: {} {} -> {}{how}",
            self.fsp,
            self.field.name(),
            self.from,
            self.to
        )
    }
}

/// The exact changes a SQL reset makes.
pub fn plan_sql(current: &[FspPosition], t: Target) -> Vec<Change> {
    let mut out = Vec::new();
    for p in current {
        push(&mut out, p, Field::Position, p.position.value, Money::ZERO);
        push(
            &mut out,
            p,
            Field::Reserved,
            p.position.reserved,
            Money::ZERO,
        );
        push(&mut out, p, Field::Settlement, p.settlement.value, -t.funds);
        push(&mut out, p, Field::Ndc, p.ndc.unwrap_or_default(), t.ndc);
    }
    out
}

/// The changes an admin-API reset makes (headroom back to the configured values).
pub fn plan_api(current: &[FspPosition], t: Target) -> Vec<Change> {
    let mut out = Vec::new();
    for p in current {
        let used = p.position.value + p.position.reserved;
        push(
            &mut out,
            p,
            Field::Settlement,
            p.settlement.value,
            -(t.funds + used),
        );
        let ndc = (t.ndc + used).max(Money::ZERO);
        push(&mut out, p, Field::Ndc, p.ndc.unwrap_or_default(), ndc);
    }
    out
}

fn push(out: &mut Vec<Change>, p: &FspPosition, field: Field, from: Money, to: Money) {
    if from != to {
        out.push(Change {
            fsp: p.fsp.clone(),
            field,
            from,
            to,
        });
    }
}

/// A table: one row per FSP.
pub fn table(rows: &[FspPosition], currency: &str) -> String {
    let mut s = format!(
        "{:<14} {:>16} {:>12} {:>18} {:>16} {:>16} {:>18}\n",
        "FSP",
        format!("position {currency}"),
        "reserved",
        "settlement",
        "NDC",
        "NDC headroom",
        "liquidity headroom"
    );
    for r in rows {
        let ndc = r.ndc.map_or("-".to_owned(), |n| n.to_string());
        let head = r.ndc_headroom().map_or("-".to_owned(), |n| n.to_string());
        s.push_str(&format!(
            "{:<14} {:>16} {:>12} {:>18} {:>16} {:>16} {:>18}\n",
            r.fsp,
            r.position.value,
            r.position.reserved,
            r.settlement.value,
            ndc,
            head,
            r.liquidity()
        ));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Admin API

/// Reads positions through the admin API.
pub async fn show_api(
    admin: &Admin,
    fsps: &[String],
    currency: &str,
) -> Result<Vec<FspPosition>, OpsError> {
    let mut out = Vec::with_capacity(fsps.len());
    for n in fsps {
        let (status, _) = admin
            .call(Method::GET, &format!("/participants/{n}"), None)
            .await?;
        if status != 200 {
            return Err(OpsError::UnknownFsp(n.clone()));
        }
        let accounts = admin
            .expect(Method::GET, &format!("/participants/{n}/accounts"), None)
            .await?;
        let find = |t: &str| -> Option<Account> {
            accounts.as_array()?.iter().find_map(|a| {
                (a["ledgerAccountType"] == t && a["currency"] == currency).then(|| Account {
                    id: a["id"].as_u64().unwrap_or(0),
                    value: Money::from_json(&a["value"]).unwrap_or_default(),
                    reserved: Money::from_json(&a["reservedValue"]).unwrap_or_default(),
                })
            })
        };
        let (Some(position), Some(settlement)) = (find("POSITION"), find("SETTLEMENT")) else {
            return Err(OpsError::NotOnboarded(n.clone(), currency.to_owned()));
        };
        let limits = admin
            .expect(
                Method::GET,
                &format!("/participants/{n}/limits?currency={currency}"),
                None,
            )
            .await?;
        let ndc = limits.as_array().and_then(|l| {
            l.iter().find_map(|x| {
                (x["limit"]["type"] == "NET_DEBIT_CAP" && x["currency"] == currency)
                    .then(|| Money::from_json(&x["limit"]["value"]))
                    .flatten()
            })
        });
        out.push(FspPosition {
            fsp: n.clone(),
            position,
            settlement,
            ndc,
        });
    }
    Ok(out)
}

fn amount_json(m: Money) -> Value {
    if m.0 % 10_000 == 0 {
        json!(m.0 / 10_000)
    } else {
        json!(m.0 as f64 / 10_000.0)
    }
}

/// Resets through the admin API (see the module doc). Unless `force`, refuses when positions
/// move during `settle` (transfers in flight). Returns the changes made.
pub async fn reset_api(
    admin: &Admin,
    fsps: &[String],
    currency: &str,
    target: Target,
    force: bool,
    settle: Duration,
) -> Result<Vec<Change>, OpsError> {
    let current = show_api(admin, fsps, currency).await?;
    if !force {
        tokio::time::sleep(settle).await;
        let again = show_api(admin, fsps, currency).await?;
        let moving: Vec<String> = current
            .iter()
            .zip(&again)
            .filter(|(a, b)| a.position != b.position || a.settlement != b.settlement)
            .map(|(a, _)| a.fsp.clone())
            .collect();
        if !moving.is_empty() {
            return Err(OpsError::InFlight(format!(
                "positions of {} moved within {settle:?}",
                moving.join(", ")
            )));
        }
    }
    let plan = plan_api(&current, target);
    for c in &plan {
        let n = &c.fsp;
        let p = current
            .iter()
            .find(|p| &p.fsp == n)
            .expect("planned from current");
        match c.field {
            Field::Ndc => {
                admin
                    .expect(
                        Method::PUT,
                        &format!("/participants/{n}/limits"),
                        Some(json!({ "currency": currency, "limit": { "type": "NET_DEBIT_CAP", "value": amount_json(c.to), "alarmPercentage": 10 } })),
                    )
                    .await?;
            }
            Field::Settlement => {
                let id = p.settlement.id;
                let tid = uuid::Uuid::new_v4().to_string();
                if c.to < c.from {
                    let amount = (c.from - c.to).to_string();
                    admin.expect(Method::POST, &format!("/participants/{n}/accounts/{id}"), Some(json!({
                        "transferId": tid, "externalReference": "perfbed positions reset", "action": "recordFundsIn",
                        "reason": "perfbed positions reset", "amount": { "amount": amount, "currency": currency } }))).await?;
                } else {
                    let amount = (c.to - c.from).to_string();
                    admin.expect(Method::POST, &format!("/participants/{n}/accounts/{id}"), Some(json!({
                        "transferId": tid, "externalReference": "perfbed positions reset", "action": "recordFundsOutPrepareReserve",
                        "reason": "perfbed positions reset", "amount": { "amount": amount, "currency": currency } }))).await?;
                    admin
                        .expect(
                            Method::PUT,
                            &format!("/participants/{n}/accounts/{id}/transfers/{tid}"),
                            Some(json!({ "action": "recordFundsOutCommit", "reason": "perfbed positions reset" })),
                        )
                        .await?;
                }
                wait_settlement(admin, n, currency, c.to).await?;
            }
            Field::Position | Field::Reserved => {}
        }
    }
    Ok(plan)
}

/// Polls until `fsp`'s settlement balance is `want` (funds in/out are asynchronous on the real hub).
pub async fn wait_settlement(
    admin: &Admin,
    fsp: &str,
    currency: &str,
    want: Money,
) -> Result<(), OpsError> {
    let patience = Duration::from_secs(30);
    let started = Instant::now();
    loop {
        let now = show_api(admin, &[fsp.to_owned()], currency).await?;
        if now[0].settlement.value == want {
            return Ok(());
        }
        if started.elapsed() > patience {
            return Err(OpsError::FundsNotVisible(fsp.to_owned(), patience));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// SQL

const SELECT_ACCOUNTS: &str = "SELECT p.name, lat.name, CAST(pc.participantCurrencyId AS UNSIGNED), CAST(pp.participantPositionId AS UNSIGNED), \
 CAST(pp.value AS CHAR), CAST(pp.reservedValue AS CHAR), \
 (SELECT CAST(pl.value AS CHAR) FROM participantLimit pl \
   JOIN participantLimitType plt ON plt.participantLimitTypeId = pl.participantLimitTypeId \
   WHERE pl.participantCurrencyId = pc.participantCurrencyId AND plt.name = 'NET_DEBIT_CAP' AND pl.isActive = 1 \
   ORDER BY pl.participantLimitId DESC LIMIT 1) \
 FROM participant p \
 JOIN participantCurrency pc ON pc.participantId = p.participantId \
 JOIN ledgerAccountType lat ON lat.ledgerAccountTypeId = pc.ledgerAccountTypeId \
 JOIN participantPosition pp ON pp.participantCurrencyId = pc.participantCurrencyId \
 WHERE pc.currencyId = ? AND lat.name IN ('POSITION', 'SETTLEMENT') AND p.name IN ";

/// Transfers the hub has not finished (reference §8's internal states). Candidates are the
/// timeout handler's own table (`transferTimeout`) plus every transfer with a state change the
/// handler has not looked at yet (after its `segment` mark; it runs every 15 s), so the query
/// stays small however many transfers the database holds.
const IN_FLIGHT: &str = "SELECT COUNT(*) FROM ( \
   SELECT transferId FROM transferTimeout \
   UNION \
   SELECT transferId FROM transferStateChange WHERE transferStateChangeId > \
     (SELECT COALESCE(MAX(value), 0) FROM segment WHERE segmentType = 'timeout' AND tableName = 'transferStateChange') \
 ) x \
 JOIN transferStateChange tsc ON tsc.transferStateChangeId = \
   (SELECT MAX(t2.transferStateChangeId) FROM transferStateChange t2 WHERE t2.transferId = x.transferId) \
 WHERE tsc.transferStateId IN ('RECEIVED_PREPARE', 'RESERVED', 'RECEIVED_FULFIL')";

fn placeholders(n: usize) -> String {
    format!("({})", vec!["?"; n].join(", "))
}

/// Connects to a database URL, with an error that names it (password hidden).
pub async fn connect(url: &str) -> Result<MySqlPool, OpsError> {
    sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(|e| OpsError::Database {
            what: format!("cannot connect to {}", redact(url)),
            source: e,
        })
}

/// The URL without its password.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

async fn read_sql<'e, E>(
    ex: E,
    fsps: &[String],
    currency: &str,
    for_update: bool,
) -> Result<Vec<(FspPosition, u64, u64)>, OpsError>
where
    E: sqlx::Executor<'e, Database = sqlx::MySql>,
{
    let sql = format!(
        "{SELECT_ACCOUNTS}{}{}",
        placeholders(fsps.len()),
        if for_update { " FOR UPDATE" } else { "" }
    );
    let mut q = sqlx::query(&sql).bind(currency);
    for f in fsps {
        q = q.bind(f);
    }
    let rows = q.fetch_all(ex).await.map_err(db("reading positions"))?;
    let mut out = Vec::new();
    for f in fsps {
        let mut position = None;
        let mut settlement = None;
        let mut ndc = None;
        for r in rows.iter().filter(|r| r.get::<String, _>(0) == *f) {
            let money = |i: usize| -> Money {
                r.get::<Option<String>, _>(i)
                    .and_then(|s| Money::parse(&s))
                    .unwrap_or_default()
            };
            let acc = Account {
                id: r.get::<u64, _>(2),
                value: money(4),
                reserved: money(5),
            };
            let pos_row: u64 = r.get::<u64, _>(3);
            match r.get::<String, _>(1).as_str() {
                "POSITION" => {
                    position = Some((acc, pos_row));
                    ndc = r.get::<Option<String>, _>(6).and_then(|s| Money::parse(&s));
                }
                _ => settlement = Some((acc, pos_row)),
            }
        }
        let (Some((position, prow)), Some((settlement, srow))) = (position, settlement) else {
            return Err(OpsError::NotOnboarded(f.clone(), currency.to_owned()));
        };
        out.push((
            FspPosition {
                fsp: f.clone(),
                position,
                settlement,
                ndc,
            },
            prow,
            srow,
        ));
    }
    Ok(out)
}

/// Reads positions from the central_ledger database.
pub async fn show_sql(
    pool: &MySqlPool,
    fsps: &[String],
    currency: &str,
) -> Result<Vec<FspPosition>, OpsError> {
    Ok(read_sql(pool, fsps, currency, false)
        .await?
        .into_iter()
        .map(|(p, _, _)| p)
        .collect())
}

/// Transfers in flight on the hub (not yet committed or aborted).
pub async fn in_flight_sql(pool: &MySqlPool) -> Result<u64, OpsError> {
    let n: i64 = sqlx::query_scalar(IN_FLIGHT)
        .fetch_one(pool)
        .await
        .map_err(db("counting transfers in flight"))?;
    Ok(n as u64)
}

/// Resets in ONE transaction (reference §7.4): position and reserved 0, settlement −funds,
/// NDC. Unless `force`, refuses while transfers are in flight. `before_commit` runs inside the
/// transaction after every update, with the connection id (tests kill it there). With
/// `dry_run` nothing is written and the plan is returned.
pub async fn reset_sql<F, Fut>(
    pool: &MySqlPool,
    fsps: &[String],
    currency: &str,
    target: Target,
    force: bool,
    dry_run: bool,
    before_commit: F,
) -> Result<Vec<Change>, OpsError>
where
    F: FnOnce(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tx = pool.begin().await.map_err(db("starting the transaction"))?;
    if !force {
        let n: i64 = sqlx::query_scalar(IN_FLIGHT)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("counting transfers in flight"))?;
        if n > 0 {
            return Err(OpsError::InFlight(format!(
                "{n} transfers are not finished (RECEIVED_PREPARE, RESERVED or RECEIVED_FULFIL)"
            )));
        }
    }
    let current = read_sql(&mut *tx, fsps, currency, !dry_run).await?;
    let plain: Vec<FspPosition> = current.iter().map(|(p, _, _)| p.clone()).collect();
    let plan = plan_sql(&plain, target);
    if dry_run || plan.is_empty() {
        tx.rollback().await.map_err(db("ending the transaction"))?;
        return Ok(plan);
    }
    let funds = (-target.funds).to_string();
    for (p, prow, srow) in &current {
        for (row, value) in [(prow, "0".to_owned()), (srow, funds.clone())] {
            sqlx::query(
                "UPDATE participantPosition SET value = CAST(? AS DECIMAL(18,4)), reservedValue = 0, \
                 changedDate = NOW() WHERE participantPositionId = ?",
            )
            .bind(value)
            .bind(*row)
            .execute(&mut *tx)
            .await
            .map_err(db("updating positions"))?;
        }
        let done = sqlx::query(
            "UPDATE participantLimit pl JOIN participantLimitType plt \
               ON plt.participantLimitTypeId = pl.participantLimitTypeId \
             SET pl.value = CAST(? AS DECIMAL(18,4)) \
             WHERE pl.participantCurrencyId = ? AND plt.name = 'NET_DEBIT_CAP' AND pl.isActive = 1",
        )
        .bind(target.ndc.to_string())
        .bind(p.position.id)
        .execute(&mut *tx)
        .await
        .map_err(db("updating the NDC"))?;
        if done.rows_affected() == 0 && p.ndc.is_none() {
            return Err(OpsError::NotOnboarded(p.fsp.clone(), currency.to_owned()));
        }
    }
    let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
        .fetch_one(&mut *tx)
        .await
        .map_err(db("reading the connection id"))?;
    before_commit(id).await;
    tx.commit().await.map_err(db("committing the reset"))?;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fsp(pos: i64, settlement: i64, ndc: i64) -> FspPosition {
        FspPosition {
            fsp: "perffsp1".into(),
            position: Account {
                id: 3,
                value: Money::units(pos),
                reserved: Money::ZERO,
            },
            settlement: Account {
                id: 4,
                value: Money::units(settlement),
                reserved: Money::ZERO,
            },
            ndc: Some(Money::units(ndc)),
        }
    }

    #[test]
    fn headroom_follows_the_ledgers_signs() {
        let p = fsp(300, -1000, 500);
        assert_eq!(p.ndc_headroom(), Some(Money::units(200)));
        assert_eq!(p.liquidity(), Money::units(700));
    }

    #[test]
    fn plans_restore_the_configured_state() {
        let t = Target {
            ndc: Money::units(500),
            funds: Money::units(1000),
        };
        let payer = fsp(300, -1000, 500);
        let payee = FspPosition {
            fsp: "perffsp5".into(),
            ..fsp(-300, -1000, 500)
        };
        let sql = plan_sql(&[payer.clone(), payee.clone()], t);
        assert_eq!(sql.len(), 2, "{sql:?}");
        assert!(sql
            .iter()
            .all(|c| c.field == Field::Position && c.to == Money::ZERO));
        let api = plan_api(&[payer.clone(), payee.clone()], t);
        // Applying the API plan gives back exactly the configured headroom.
        for p in [payer, payee] {
            let mut after = p.clone();
            for c in api.iter().filter(|c| c.fsp == p.fsp) {
                match c.field {
                    Field::Settlement => after.settlement.value = c.to,
                    Field::Ndc => after.ndc = Some(c.to),
                    _ => unreachable!(),
                }
            }
            assert_eq!(after.liquidity(), t.funds);
            assert_eq!(after.ndc_headroom(), Some(t.ndc));
        }
        assert!(plan_sql(&[fsp(0, -1000, 500)], t).is_empty());
        let c = &api[0];
        assert_eq!(
            c.to_string(),
            "perffsp1: settlement -1000 -> -1300 (funds-in 300)"
        );
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("mysql://root:secret@db:3306/x"),
            "mysql://root:***@db:3306/x"
        );
        assert_eq!(redact("mysql://root@db/x"), "mysql://root@db/x");
    }
}
