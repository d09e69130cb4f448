//! What the switch itself recorded, to hold the driver's counts against: how many of a run's
//! transfers ended in each state, by central-ledger's state names (`transferStateId`).
//!
//! A run's transfer ids all start with its run tag (8 lowercase hex characters: the first 4
//! bytes of the UUID), so one prefix query finds them all:
//! * [`emulator_states`] asks the hub emulator (`GET /perfbed/transfers?prefix=`, a route only
//!   the emulator has: a real central-ledger answers 404, and the answer is `None`);
//! * [`ledger_states_sql`] reads a real central-ledger's database: each transfer whose
//!   `transferId` starts with the tag, grouped by its latest `transferStateChange` (the highest
//!   `transferStateChangeId`);
//! * [`ledger_window_sql`] does the same for every FSPIOP transfer *created* inside a time
//!   window, whoever sent it (for runs whose ids carry no tag).
//!
//! Per transfer, for reconciling the arrivals a driver stopped waiting for:
//! [`emulator_transfer_states`] (`POST /perfbed/transfers/states`) and
//! [`transfer_states_on`] / [`transfer_states_sql`] (the latest state of each id), and
//! [`Settled`] to read what became of them.
//!
//! Id by id, for the cross-check that compares each transfer with the driver's outcome:
//! [`emulator_transfer_ids`] (`GET /perfbed/transfers/ids`) and [`transfer_ids_on`] (keyset
//! pages on `transferId`), one page at a time so a 2-hour run is never held whole.
//!
//! Read them after the switch has drained: a real switch goes on committing what the driver
//! has stopped waiting for (reference: real-switch.md).

use crate::{db, positions::connect, Admin, OpsError};
use http::Method;
use serde::{Deserialize, Serialize};
use sqlx::mysql::MySqlPool;
use std::collections::BTreeMap;

/// [`LedgerStates::source`] of the emulator's answer.
pub const SOURCE_EMULATOR: &str = "hub emulator";
/// [`LedgerStates::source`] of a central_ledger database read.
pub const SOURCE_SQL: &str = "central_ledger SQL";
/// [`LedgerStates::prefix`] of a window query.
pub const WINDOW: &str = "window";
/// The state name for a transfer with no `transferStateChange` row at all (never seen on a
/// healthy ledger: the prepare writes both in one transaction).
pub const NO_STATE: &str = "NO_STATE";

/// central-ledger's transfer states and the `enumeration` each belongs to (its seed
/// `seeds/transferState.js`, 19.x). The API's `transferState` is the enumeration.
pub const TRANSFER_STATES: &[(&str, &str)] = &[
    ("RECEIVED_PREPARE", "RECEIVED"),
    ("RESERVED", "RESERVED"),
    ("RECEIVED_FULFIL", "RESERVED"),
    ("RECEIVED_FULFIL_DEPENDENT", "RESERVED"),
    ("COMMITTED", "COMMITTED"),
    ("FAILED", "ABORTED"),
    ("RESERVED_TIMEOUT", "RESERVED"),
    ("RECEIVED_REJECT", "RESERVED"),
    ("ABORTED_REJECTED", "ABORTED"),
    ("RECEIVED_ERROR", "RESERVED"),
    ("ABORTED_ERROR", "ABORTED"),
    ("EXPIRED_PREPARED", "ABORTED"),
    ("EXPIRED_RESERVED", "ABORTED"),
    ("INVALID", "ABORTED"),
    ("SETTLED", "SETTLED"),
    ("RESERVED_FORWARDED", "RESERVED"),
];

/// The `enumeration` of a transfer state, if central-ledger knows the state.
pub fn enumeration(state: &str) -> Option<&'static str> {
    TRANSFER_STATES
        .iter()
        .find(|(s, _)| *s == state)
        .map(|(_, e)| *e)
}

/// Whether `s` is a run's transfer-id prefix: its tag as 8 lowercase hex characters (FSPIOP
/// UUIDs are lowercase), or in ISO 20022 mode as the 7-character ULID prefix
/// ([`fspiop::iso::ulid_prefix`]). Neither can hold a LIKE wildcard.
pub fn is_run_tag(s: &str) -> bool {
    (s.len() == 8 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        || fspiop::iso::is_ulid_prefix(s)
}

fn run_tag(prefix: &str) -> Result<&str, OpsError> {
    if is_run_tag(prefix) {
        Ok(prefix)
    } else {
        Err(OpsError::Invalid(format!(
            "'{prefix}' is not a run tag: give 8 lowercase hex characters (or, for ISO 20022 \
             ids, the 7-character ULID prefix)"
        )))
    }
}

/// How many transfers ended in each state, as the switch recorded them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerStates {
    /// Where the counts come from: [`SOURCE_EMULATOR`] or [`SOURCE_SQL`].
    pub source: String,
    /// The run tag the transfer ids start with ([`WINDOW`] for a window query).
    pub prefix: String,
    /// State name (`transferStateId`) → transfers; states with none are left out.
    pub by_state: BTreeMap<String, u64>,
    /// All transfers found.
    pub total: u64,
}

impl LedgerStates {
    fn new(source: &str, prefix: &str, by_state: BTreeMap<String, u64>) -> LedgerStates {
        LedgerStates {
            source: source.to_owned(),
            prefix: prefix.to_owned(),
            total: by_state.values().sum(),
            by_state,
        }
    }

    /// Transfers in one state (0 when none).
    pub fn count(&self, state: &str) -> u64 {
        self.by_state.get(state).copied().unwrap_or(0)
    }

    /// Transfers COMMITTED.
    pub fn committed(&self) -> u64 {
        self.count("COMMITTED")
    }

    /// The counts folded by `enumeration` (RECEIVED, RESERVED, COMMITTED, ABORTED, SETTLED): what
    /// a DFSP would be told if it asked now. Unknown names are kept as they are.
    pub fn by_enumeration(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (s, n) in &self.by_state {
            let e = enumeration(s).unwrap_or(s.as_str());
            *out.entry(e.to_owned()).or_insert(0) += n;
        }
        out
    }
}

/// The body of the emulator's route.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmulatorAnswer {
    prefix: String,
    by_state: BTreeMap<String, u64>,
    total: u64,
}

/// The emulator's counts of the transfers whose id starts with `prefix` (a run tag), from its
/// central-ledger admin API at `admin`; `Ok(None)` when the hub answers 404: it is not the
/// emulator (ask its database with [`ledger_states_sql`]).
pub async fn emulator_states(
    admin: &Admin,
    prefix: &str,
) -> Result<Option<LedgerStates>, OpsError> {
    let prefix = run_tag(prefix)?;
    let path = format!("/perfbed/transfers?prefix={prefix}");
    let (status, body) = admin.call(Method::GET, &path, None).await?;
    let refused = |why: String| OpsError::Refused {
        method: Method::GET,
        url: path.clone(),
        status,
        body: why,
    };
    match status {
        404 => Ok(None),
        200 => {
            let a: EmulatorAnswer = serde_json::from_value(body.clone())
                .map_err(|e| refused(format!("{e}: {body}")))?;
            let states = LedgerStates::new(SOURCE_EMULATOR, &a.prefix, a.by_state);
            if a.prefix != prefix || states.total != a.total {
                return Err(refused(format!(
                    "an answer for another prefix or that does not add up: {body}"
                )));
            }
            Ok(Some(states))
        }
        _ => Err(refused(body.to_string())),
    }
}

/// Each transfer with its latest state change: `transferStateChangeId` only grows, so the
/// highest one is the current state (the way central-ledger's own facade reads it).
const LATEST: &str = "SELECT tsc.transferStateId, COUNT(*) FROM transfer t \
 LEFT JOIN transferStateChange tsc ON tsc.transferStateChangeId = \
   (SELECT MAX(t2.transferStateChangeId) FROM transferStateChange t2 WHERE t2.transferId = t.transferId) ";

/// A UTC instant as the database's DATETIME columns hold it: `transfer.createdDate` defaults
/// to the server's `CURRENT_TIMESTAMP`, in its global time zone (CONVERT_TZ answers NULL for a
/// named zone without the zone tables loaded: then UTC is assumed).
const AT: &str = "COALESCE(CONVERT_TZ(?, '+00:00', @@global.time_zone), ?)";

async fn grouped(
    q: sqlx::query::QueryAs<'_, sqlx::MySql, (Option<String>, i64), sqlx::mysql::MySqlArguments>,
    pool: &MySqlPool,
    what: &str,
) -> Result<BTreeMap<String, u64>, OpsError> {
    let rows = q.fetch_all(pool).await.map_err(db(what))?;
    Ok(rows
        .into_iter()
        .map(|(s, n)| (s.unwrap_or_else(|| NO_STATE.to_owned()), n.max(0) as u64))
        .collect())
}

/// [`ledger_states_sql`] on an open pool.
pub async fn ledger_states_on(pool: &MySqlPool, prefix: &str) -> Result<LedgerStates, OpsError> {
    let prefix = run_tag(prefix)?;
    let sql = format!("{LATEST} WHERE t.transferId LIKE ? GROUP BY tsc.transferStateId");
    // A run tag has no LIKE wildcards; the primary key serves the range.
    let q = sqlx::query_as(&sql).bind(format!("{prefix}%"));
    let by_state = grouped(q, pool, "counting a run's transfers by state").await?;
    Ok(LedgerStates::new(SOURCE_SQL, prefix, by_state))
}

/// The transfers in a central_ledger database (`db_url`, `mysql://…/central_ledger`) whose id
/// starts with `prefix` (a run tag), counted by their latest state.
pub async fn ledger_states_sql(db_url: &str, prefix: &str) -> Result<LedgerStates, OpsError> {
    run_tag(prefix)?;
    let pool = connect(db_url).await?;
    let out = ledger_states_on(&pool, prefix).await;
    pool.close().await;
    out
}

/// What became of a transfer, from its state name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// COMMITTED (or SETTLED).
    Committed,
    /// Aborted: rejected, an error, refused by validation.
    Aborted,
    /// Expired: the timeout handler aborted it (EXPIRED_PREPARED, EXPIRED_RESERVED).
    Expired,
    /// Not final yet (RECEIVED_*, RESERVED, RESERVED_TIMEOUT, …): the switch is still on it.
    InFlight,
}

impl Settled {
    /// From a `transferStateId`; `None` for a name central-ledger does not have.
    pub fn of(state: &str) -> Option<Settled> {
        Some(match state {
            "EXPIRED_PREPARED" | "EXPIRED_RESERVED" => Settled::Expired,
            _ => match enumeration(state)? {
                "COMMITTED" | "SETTLED" => Settled::Committed,
                "ABORTED" => Settled::Aborted,
                _ => Settled::InFlight,
            },
        })
    }
}

/// At most this many ids per request or query.
const IDS_AT_ONCE: usize = 1_000;

/// The emulator's states of the transfers `ids` (`POST /perfbed/transfers/states`): id → state
/// name, ids it does not hold left out; `Ok(None)` when the hub answers 404 (not the emulator).
pub async fn emulator_transfer_states(
    admin: &Admin,
    ids: &[String],
) -> Result<Option<BTreeMap<String, String>>, OpsError> {
    let mut out = BTreeMap::new();
    for chunk in ids.chunks(IDS_AT_ONCE) {
        let path = "/perfbed/transfers/states";
        let (status, body) = admin
            .call(
                Method::POST,
                path,
                Some(serde_json::json!({ "ids": chunk })),
            )
            .await?;
        match status {
            404 => return Ok(None),
            200 => {
                let states: BTreeMap<String, String> =
                    serde_json::from_value(body["states"].clone()).map_err(|e| {
                        OpsError::Refused {
                            method: Method::POST,
                            url: path.into(),
                            status,
                            body: format!("{e}: {body}"),
                        }
                    })?;
                out.extend(states);
            }
            _ => {
                return Err(OpsError::Refused {
                    method: Method::POST,
                    url: path.into(),
                    status,
                    body: body.to_string(),
                })
            }
        }
    }
    Ok(Some(out))
}

/// The latest state of each of the transfers `ids` in a central_ledger database: id → state
/// name (`NO_STATE` for a transfer without a state change); ids it does not have left out.
pub async fn transfer_states_on(
    pool: &MySqlPool,
    ids: &[String],
) -> Result<BTreeMap<String, String>, OpsError> {
    let mut out = BTreeMap::new();
    for chunk in ids.chunks(IDS_AT_ONCE) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!(
            "SELECT t.transferId, (SELECT tsc.transferStateId FROM transferStateChange tsc              WHERE tsc.transferId = t.transferId ORDER BY tsc.transferStateChangeId DESC LIMIT 1)              FROM transfer t WHERE t.transferId IN ({marks})"
        );
        let mut q = sqlx::query_as::<_, (String, Option<String>)>(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        let rows = q
            .fetch_all(pool)
            .await
            .map_err(db("reading the states of given transfers"))?;
        out.extend(
            rows.into_iter()
                .map(|(id, s)| (id, s.unwrap_or_else(|| NO_STATE.to_owned()))),
        );
    }
    Ok(out)
}

/// One page of a run's transfers, id by id: `(id, state name)` in id order, and the id to ask
/// after for the next page (`None` on the last page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdsPage {
    /// The transfers, in id order.
    pub transfers: Vec<(String, String)>,
    /// Where the next page starts (`after`), while there may be more.
    pub next: Option<String>,
}

/// The emulator's transfers whose id starts with `prefix` (a run tag) and sorts after
/// `after`, at most `limit` (`GET /perfbed/transfers/ids`); `Ok(None)` when the hub answers
/// 404 (not the emulator).
pub async fn emulator_transfer_ids(
    admin: &Admin,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Option<IdsPage>, OpsError> {
    let prefix = run_tag(prefix)?;
    let mut path = format!("/perfbed/transfers/ids?prefix={prefix}&limit={limit}");
    if let Some(a) = after {
        // Ids are UUIDs or ULIDs: nothing to escape; anything else is refused here.
        if !a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(OpsError::Invalid(format!("'{a}' is not a transfer id")));
        }
        path.push_str(&format!("&after={a}"));
    }
    let (status, body) = admin.call(Method::GET, &path, None).await?;
    let refused = |why: String| OpsError::Refused {
        method: Method::GET,
        url: path.clone(),
        status,
        body: why,
    };
    #[derive(Deserialize)]
    struct Row {
        id: String,
        state: String,
    }
    #[derive(Deserialize)]
    struct Answer {
        prefix: String,
        transfers: Vec<Row>,
        next: Option<String>,
    }
    match status {
        404 => Ok(None),
        200 => {
            let a: Answer = serde_json::from_value(body.clone())
                .map_err(|e| refused(format!("{e}: {body}")))?;
            if a.prefix != prefix
                || a.transfers.len() > limit
                || a.transfers.iter().any(|r| !r.id.starts_with(prefix))
            {
                return Err(refused(format!(
                    "an answer for another prefix or longer than asked: {body}"
                )));
            }
            Ok(Some(IdsPage {
                transfers: a.transfers.into_iter().map(|r| (r.id, r.state)).collect(),
                next: a.next,
            }))
        }
        _ => Err(refused(body.to_string())),
    }
}

/// A run's transfers in a central_ledger database, id by id: those whose `transferId`
/// starts with `prefix` (a run tag) and sorts after `after` (keyset paging on the primary
/// key), at most `limit`, each with its latest state (`NO_STATE` without a state change).
pub async fn transfer_ids_on(
    pool: &MySqlPool,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<IdsPage, OpsError> {
    let prefix = run_tag(prefix)?;
    let sql = "SELECT t.transferId, (SELECT tsc.transferStateId FROM transferStateChange tsc \
         WHERE tsc.transferId = t.transferId ORDER BY tsc.transferStateChangeId DESC LIMIT 1) \
         FROM transfer t WHERE t.transferId LIKE ? AND t.transferId > ? \
         ORDER BY t.transferId LIMIT ?";
    let rows = sqlx::query_as::<_, (String, Option<String>)>(sql)
        .bind(format!("{prefix}%"))
        .bind(after.unwrap_or(""))
        .bind(limit as i64)
        .fetch_all(pool)
        .await
        .map_err(db("listing a run's transfers id by id"))?;
    let next = (rows.len() == limit).then(|| rows.last().map(|(id, _)| id.clone()));
    Ok(IdsPage {
        transfers: rows
            .into_iter()
            .map(|(id, s)| (id, s.unwrap_or_else(|| NO_STATE.to_owned())))
            .collect(),
        next: next.flatten(),
    })
}

/// Every transfer of the run tagged `prefix` in a central_ledger database (`db_url`), id by
/// id in pages of `page`, handed to `each(id, state)` as it comes: the run is never held whole.
pub async fn each_transfer_sql(
    db_url: &str,
    prefix: &str,
    page: usize,
    mut each: impl FnMut(&str, &str),
) -> Result<u64, OpsError> {
    run_tag(prefix)?;
    let pool = connect(db_url).await?;
    let mut after: Option<String> = None;
    let mut n = 0u64;
    let out = loop {
        match transfer_ids_on(&pool, prefix, after.as_deref(), page).await {
            Ok(p) => {
                for (id, state) in &p.transfers {
                    each(id, state);
                }
                n += p.transfers.len() as u64;
                match p.next {
                    Some(next) => after = Some(next),
                    None => break Ok(n),
                }
            }
            Err(e) => break Err(e),
        }
    };
    pool.close().await;
    out
}

/// [`each_transfer_sql`] on the hub emulator (`GET /perfbed/transfers/ids`); `Ok(None)` when
/// the hub answers 404 (not the emulator).
pub async fn each_transfer_emulator(
    admin: &Admin,
    prefix: &str,
    page: usize,
    mut each: impl FnMut(&str, &str),
) -> Result<Option<u64>, OpsError> {
    let mut after: Option<String> = None;
    let mut n = 0u64;
    loop {
        let Some(p) = emulator_transfer_ids(admin, prefix, after.as_deref(), page).await? else {
            return Ok(None);
        };
        for (id, state) in &p.transfers {
            each(id, state);
        }
        n += p.transfers.len() as u64;
        match p.next {
            Some(next) => after = Some(next),
            None => return Ok(Some(n)),
        }
    }
}

/// [`transfer_states_on`] on a database URL.
pub async fn transfer_states_sql(
    db_url: &str,
    ids: &[String],
) -> Result<BTreeMap<String, String>, OpsError> {
    let pool = connect(db_url).await?;
    let out = transfer_states_on(&pool, ids).await;
    pool.close().await;
    out
}

/// [`ledger_window_sql`] on an open pool.
pub async fn ledger_window_on(
    pool: &MySqlPool,
    from: time::OffsetDateTime,
    to: time::OffsetDateTime,
) -> Result<LedgerStates, OpsError> {
    if to < from {
        return Err(OpsError::Invalid(format!(
            "the window ends ({to}) before it starts ({from})"
        )));
    }
    let (from, to) = (datetime(from)?, datetime(to)?);
    let sql = format!(
        "{LATEST} WHERE t.createdDate >= {AT} AND t.createdDate <= {AT} \
         AND EXISTS (SELECT 1 FROM transferParticipant tp \
           JOIN transferParticipantRoleType rt \
             ON rt.transferParticipantRoleTypeId = tp.transferParticipantRoleTypeId \
           WHERE tp.transferId = t.transferId AND rt.name = 'PAYER_DFSP') \
         GROUP BY tsc.transferStateId"
    );
    let q = sqlx::query_as(&sql)
        .bind(from.clone())
        .bind(from)
        .bind(to.clone())
        .bind(to);
    let by_state = grouped(q, pool, "counting a window's transfers by state").await?;
    Ok(LedgerStates::new(SOURCE_SQL, WINDOW, by_state))
}

/// The FSPIOP transfers (those with a PAYER_DFSP: not the admin API's funds-in/out) that a
/// central_ledger database (`db_url`) shows *created* between `from` and `to`, counted by their
/// latest state. `transfer.createdDate` has whole seconds: both ends count, each cut to its
/// second. `createdDate` has no index: this reads the whole `transfer` table.
pub async fn ledger_window_sql(
    db_url: &str,
    from: time::OffsetDateTime,
    to: time::OffsetDateTime,
) -> Result<LedgerStates, OpsError> {
    let pool = connect(db_url).await?;
    let out = ledger_window_on(&pool, from, to).await;
    pool.close().await;
    out
}

/// `YYYY-MM-DD hh:mm:ss` in UTC, cut to the second.
fn datetime(t: time::OffsetDateTime) -> Result<String, OpsError> {
    t.to_offset(time::UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .map_err(|e| OpsError::Invalid(format!("cannot write {t} as a DATETIME: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_tags_are_8_lowercase_hex() {
        assert!(is_run_tag("1a2b3c4d"));
        assert!(is_run_tag(&fspiop::iso::ulid_prefix([
            0x1a, 0x2b, 0x3c, 0x4d
        ])));
        for bad in [
            "50mn3er",
            "50MN3ERX",
            "50MN3EI",
            "",
            "1a2b3c4",
            "1a2b3c4d5",
            "1A2B3C4D",
            "1a2b3c4g",
            "1a2b%c4d",
            "1a2b_c4d",
        ] {
            assert!(!is_run_tag(bad), "{bad}");
        }
    }

    #[test]
    fn states_fold_by_enumeration_and_read_the_emulators_json() {
        let s: LedgerStates = serde_json::from_value(serde_json::json!({
            "source": SOURCE_EMULATOR, "prefix": "1a2b3c4d", "total": 7,
            "byState": { "COMMITTED": 3, "ABORTED_ERROR": 1, "EXPIRED_RESERVED": 1,
                         "RESERVED": 1, "RECEIVED_FULFIL": 1 }
        }))
        .unwrap();
        assert_eq!(s.committed(), 3);
        assert_eq!(s.count("INVALID"), 0);
        let e = s.by_enumeration();
        assert_eq!(
            e.into_iter().collect::<Vec<_>>(),
            [
                ("ABORTED".to_owned(), 2),
                ("COMMITTED".to_owned(), 3),
                ("RESERVED".to_owned(), 2)
            ]
        );
        assert_eq!(enumeration("EXPIRED_PREPARED"), Some("ABORTED"));
        assert_eq!(Settled::of("EXPIRED_RESERVED"), Some(Settled::Expired));
        assert_eq!(Settled::of("ABORTED_REJECTED"), Some(Settled::Aborted));
        assert_eq!(Settled::of("SETTLED"), Some(Settled::Committed));
        assert_eq!(Settled::of("RECEIVED_PREPARE"), Some(Settled::InFlight));
        assert_eq!(Settled::of("RESERVED_TIMEOUT"), Some(Settled::InFlight));
        assert_eq!(Settled::of("BOGUS"), None);
        assert_eq!(enumeration("nonsense"), None);
        let round = serde_json::to_value(&s).unwrap();
        assert_eq!(round["byState"]["COMMITTED"], 3);
    }

    #[test]
    fn datetimes_are_utc_seconds() {
        let t = time::macros::datetime!(2026-11-26 15:04:05.999 +02:00);
        assert_eq!(datetime(t).unwrap(), "2026-11-26 13:04:05");
    }

    #[tokio::test]
    async fn a_malformed_tag_is_refused_before_any_io() {
        // Port 9 (discard) is never reached: the tag is checked first.
        let admin = Admin::plain("http://127.0.0.1:9");
        for bad in ["1a2b3c4d%", "abc", "1A2B3C4D"] {
            let e = emulator_states(&admin, bad).await.unwrap_err();
            assert!(matches!(e, OpsError::Invalid(_)), "{e}");
            let e = ledger_states_sql("mysql://nobody@127.0.0.1:9/x", bad)
                .await
                .unwrap_err();
            assert!(matches!(e, OpsError::Invalid(_)), "{e}");
        }
    }
}
