//! The ledger of the hub emulator, without I/O: participants with their position, settlement
//! balance and net debit cap, and transfers through prepare → fulfil/abort/expire, as
//! central-ledger does it (reference §1.3–1.5, §7.4, §8).
//!
//! Amounts are exact integers in 1/10,000 of the currency unit (FSPIOP allows 4 decimals).
//! Positions follow central-ledger's signs: POSITION > 0 means the DFSP owes the hub
//! (prepare: payer += amount; commit: payee −= amount; abort/expiry: payer −= amount), the
//! SETTLEMENT balance is negative after funds-in. A prepare passes when
//! `amount ≤ −settlement − (position + reserved)` (else 4001) and
//! `amount ≤ NDC − (position + reserved)` (else 4200).
//!
//! Locking: one mutex per participant account and 64 shards for transfers; a prepare takes the
//! payer's account lock for its check-and-reserve, so concurrent prepares can never overdraw.
//!
//! What is kept: a transfer is held in full while in flight and for the retention window after
//! it finished (duplicate detection), then only as one count in a tally keyed by the first
//! [`TAG_LEN`] bytes of its id — the run tag — so that [`Ledger::states_by_prefix`] can still
//! answer for a whole run (see there for the cost).

use fspiop::error::ErrorCode;
use fspiop::types::Amount;
use std::collections::BTreeMap;
use std::hash::BuildHasher;

/// Hash maps keyed by ids and names: foldhash, not SipHash (these keys come from
/// authenticated participants, and SipHash was ~8 % of the hub's instructions per transfer).
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

/// Amount in 1/10,000 units.
pub type Units = i128;

/// Converts an FSPIOP amount to units.
pub fn units(a: &Amount) -> Units {
    // Amount has at most 18 integer digits and 4 decimals: fits easily.
    a.to_minor_units(4).map(Units::from).unwrap_or(Units::MAX)
}

/// Formats units as an FSPIOP amount string (negative values get a leading minus).
pub fn format_units(u: Units) -> String {
    let neg = u < 0;
    let a = Amount::from_minor_units(u.unsigned_abs() as u64, 4)
        .map(|a| a.into_string())
        .unwrap_or_default();
    if neg && a != "0" {
        format!("-{a}")
    } else {
        a
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One participant's account in the hub's currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    /// POSITION value.
    pub position: Units,
    /// POSITION reservedValue (funds-out reservations).
    pub reserved: Units,
    /// SETTLEMENT value (negative after funds-in).
    pub settlement: Units,
    /// NET_DEBIT_CAP, once `initialPositionAndLimits` ran.
    pub ndc: Option<Units>,
    /// Alarm percentage of the limit (admin API field).
    pub alarm_percentage: u32,
}

/// A registered participant.
#[derive(Debug)]
pub struct Participant {
    /// Name (FSP id).
    pub name: String,
    /// Currency of its accounts.
    pub currency: String,
    active: Mutex<bool>,
    account: Mutex<Account>,
    endpoints: RwLock<HashMap<String, String>>,
    /// Account ids as the admin API shows them (POSITION, SETTLEMENT).
    pub account_ids: (u64, u64),
    created: time::OffsetDateTime,
}

impl Participant {
    /// Whether it is active (central-ledger: only after `initialPositionAndLimits`).
    pub fn is_active(&self) -> bool {
        *lock(&self.active)
    }

    /// Activates or deactivates.
    pub fn set_active(&self, active: bool) {
        *lock(&self.active) = active;
    }

    /// A copy of its account.
    pub fn account(&self) -> Account {
        lock(&self.account).clone()
    }

    /// Runs `f` with the account locked.
    pub fn with_account<R>(&self, f: impl FnOnce(&mut Account) -> R) -> R {
        f(&mut lock(&self.account))
    }

    /// Sets an endpoint (replacing one of the same type).
    pub fn set_endpoint(&self, kind: &str, value: &str) {
        self.endpoints
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(kind.to_owned(), value.to_owned());
    }

    /// The endpoint template of a type.
    pub fn endpoint(&self, kind: &str) -> Option<String> {
        self.endpoints
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(kind)
            .cloned()
    }

    /// All endpoints, sorted by type.
    pub fn endpoints(&self) -> Vec<(String, String)> {
        let mut v: Vec<_> = self
            .endpoints
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        v.sort();
        v
    }

    /// When it was created.
    pub fn created(&self) -> time::OffsetDateTime {
        self.created
    }
}

/// Where a transfer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Prepared, payer position reserved, waiting for the payee.
    Reserved,
    /// Fulfilled.
    Committed,
    /// Rejected by the payee or an invalid fulfil.
    Aborted,
    /// Not fulfilled before its expiration.
    Expired,
}

impl State {
    /// The API's `transferState`.
    pub fn api(self) -> &'static str {
        match self {
            State::Reserved => "RESERVED",
            State::Committed => "COMMITTED",
            State::Aborted | State::Expired => "ABORTED",
        }
    }

    /// The state central-ledger records for the same outcome.
    pub fn ledger_state(self) -> LedgerState {
        match self {
            State::Reserved => LedgerState::Reserved,
            State::Committed => LedgerState::Committed,
            State::Aborted => LedgerState::AbortedError,
            State::Expired => LedgerState::ExpiredReserved,
        }
    }
}

/// A transfer's state by the names of central-ledger's `transferState.transferStateId` (its
/// seed `seeds/transferState.js`), for the emulator's outcomes that have a counterpart there.
/// The emulator reserves at prepare, so it never shows `RECEIVED_PREPARE` (nor the other
/// intermediate `RECEIVED_*` / `RESERVED_TIMEOUT` states, nor `EXPIRED_PREPARED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LedgerState {
    /// `RESERVED`: prepared, the payer's position reserved, waiting for the payee.
    Reserved,
    /// `COMMITTED`: fulfilled.
    Committed,
    /// `ABORTED_ERROR`: the payee's `PUT /transfers/{ID}/error`, an invalid fulfilment, or no
    /// endpoint to forward the prepare to (central-ledger: action ABORT or ABORT_VALIDATION →
    /// `RECEIVED_ERROR` → `ABORTED_ERROR`).
    AbortedError,
    /// `ABORTED_REJECTED`: a prepare refused for liquidity (4001) or the net debit cap (4200),
    /// as central-ledger's position handler records it.
    AbortedRejected,
    /// `EXPIRED_RESERVED`: reserved and not fulfilled before its expiration (the expiry sweep,
    /// or a late fulfil; central-ledger's timeout handler records the same).
    ExpiredReserved,
    /// `INVALID`: a prepare refused by validation (3100: source is not the payer, payer =
    /// payee, unknown or inactive participant, currency mismatch, expiration in the past), as
    /// central-ledger's prepare handler saves it.
    Invalid,
}

impl LedgerState {
    /// Every state, in index order.
    pub const ALL: [LedgerState; 6] = [
        LedgerState::Reserved,
        LedgerState::Committed,
        LedgerState::AbortedError,
        LedgerState::AbortedRejected,
        LedgerState::ExpiredReserved,
        LedgerState::Invalid,
    ];

    /// central-ledger's `transferStateId`.
    pub fn name(self) -> &'static str {
        match self {
            LedgerState::Reserved => "RESERVED",
            LedgerState::Committed => "COMMITTED",
            LedgerState::AbortedError => "ABORTED_ERROR",
            LedgerState::AbortedRejected => "ABORTED_REJECTED",
            LedgerState::ExpiredReserved => "EXPIRED_RESERVED",
            LedgerState::Invalid => "INVALID",
        }
    }

    /// The state a refused prepare is recorded with; `None` for a modified duplicate (3106),
    /// which central-ledger answers without a new record.
    fn of_refused_prepare(code: ErrorCode) -> Option<LedgerState> {
        match code {
            ErrorCode::ModifiedRequest => None,
            ErrorCode::PayerFspInsufficientLiquidity | ErrorCode::PayerLimitError => {
                Some(LedgerState::AbortedRejected)
            }
            _ => Some(LedgerState::Invalid),
        }
    }
}

/// How many leading bytes of a transfer id key the tally of forgotten transfers: a run tag
/// (the first 8 hex characters of the UUID).
pub const TAG_LEN: usize = 8;

/// The first [`TAG_LEN`] bytes of an id (the whole id when shorter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Tag {
    bytes: [u8; TAG_LEN],
    len: u8,
}

impl Tag {
    fn of(id: &str) -> Tag {
        let b = id.as_bytes();
        let n = b.len().min(TAG_LEN);
        let mut bytes = [0; TAG_LEN];
        bytes[..n].copy_from_slice(&b[..n]);
        Tag {
            bytes,
            len: n as u8,
        }
    }

    /// Whether the ids tallied under this tag start with `prefix`. A prefix longer than a
    /// full tag cannot be told from the tag: no.
    fn matches(&self, prefix: &[u8]) -> bool {
        prefix.len() <= TAG_LEN && self.bytes[..usize::from(self.len)].starts_with(prefix)
    }
}

/// What is kept of the transfers forgotten after the retention window and of refused
/// prepares: counts by [`Tag`], and each one's id and final state — 17 bytes for an id that is
/// a lowercase UUID or a ULID (the id's 16 bytes, and its kind and state in one byte; 122 MB
/// for 1000/s over 2 h), the text itself otherwise — so that a run's transfers can be listed
/// id by id ([`Ledger::ids_by_prefix`]).
#[derive(Debug, Default)]
struct Forgotten {
    tally: HashMap<Tag, Tally>,
    ids: Vec<([u8; 16], u8)>,
    other: Vec<(Box<str>, LedgerState)>,
}

/// [`Forgotten::ids`]: the top bit of the byte says a ULID (else a UUID).
const ULID_BIT: u8 = 0x80;

impl Forgotten {
    fn keep(&mut self, id: &str, state: LedgerState) {
        self.tally.entry(Tag::of(id)).or_default()[state as usize] += 1;
        match pack(id) {
            Some((bytes, ulid)) => self
                .ids
                .push((bytes, state as u8 | if ulid { ULID_BIT } else { 0 })),
            None => self.other.push((id.into(), state)),
        }
    }
}

/// An id's 16 bytes, and whether it is a ULID, when [`unpack`] writes it back exactly.
fn pack(id: &str) -> Option<([u8; 16], bool)> {
    let (bytes, ulid) = if let Some(bits) = fspiop::iso::ulid_bits(id) {
        (bits.to_be_bytes(), true)
    } else if id.len() == 36 {
        let hex: Vec<u8> = id.bytes().filter(|c| *c != b'-').collect();
        let mut out = [0u8; 16];
        for (o, pair) in out.iter_mut().zip(hex.chunks(2)) {
            *o = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        (out, false)
    } else {
        return None;
    };
    (unpack(&bytes, ulid) == id).then_some((bytes, ulid))
}

/// The text of a packed id: a lowercase UUID, or a ULID.
fn unpack(bytes: &[u8; 16], ulid: bool) -> String {
    let mut buf = [0u8; 36];
    unpack_into(bytes, ulid, &mut buf).to_owned()
}

/// [`unpack`] into a buffer, without allocating (the page walk does it for every id).
fn unpack_into<'a>(bytes: &[u8; 16], ulid: bool, buf: &'a mut [u8; 36]) -> &'a str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let n = if ulid {
        let v = u128::from_be_bytes(*bytes);
        for (i, c) in buf.iter_mut().take(26).enumerate() {
            *c = CROCKFORD[((v >> (125 - 5 * i)) & 31) as usize];
        }
        26
    } else {
        let mut k = 0;
        for (i, b) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                buf[k] = b'-';
                k += 1;
            }
            buf[k] = HEX[usize::from(b >> 4)];
            buf[k + 1] = HEX[usize::from(b & 0xf)];
            k += 2;
        }
        36
    };
    std::str::from_utf8(&buf[..n]).expect("ASCII")
}

/// The at most `limit` smallest ids seen, with their states.
struct Smallest {
    limit: usize,
    heap: std::collections::BinaryHeap<(String, LedgerState)>,
}

impl Smallest {
    /// Whether `id` could still make the cut (cheap: no allocation).
    fn wants(&self, id: &str) -> bool {
        self.heap.len() < self.limit || self.heap.peek().is_some_and(|(top, _)| id < top.as_str())
    }

    fn offer(&mut self, id: String, state: LedgerState) {
        if self.wants(&id) {
            self.heap.push((id, state));
            if self.heap.len() > self.limit {
                self.heap.pop();
            }
        }
    }
}

/// Counts per [`LedgerState`], by index.
type Tally = [u64; LedgerState::ALL.len()];

/// One transfer as the ledger keeps it.
#[derive(Debug, Clone)]
pub struct Transfer {
    /// Payer FSP.
    pub payer: String,
    /// Payee FSP.
    pub payee: String,
    /// Amount in units.
    pub amount: Units,
    /// base64url condition.
    pub condition: String,
    /// Expiration instant.
    pub expires: time::OffsetDateTime,
    /// Hash of the prepare body (duplicate detection).
    pub hash: u64,
    /// Current state.
    pub state: State,
    /// The fulfilment, once committed.
    pub fulfilment: Option<String>,
    /// `completedTimestamp` of the commit.
    pub completed: Option<String>,
    /// When it reached a final state (for the retention window).
    pub finished_at: Option<Instant>,
}

/// Outcome of a prepare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// New transfer reserved: forward it to the payee.
    Reserved,
    /// Same id and body, already final: resend the current state to the payer.
    DuplicateFinished(State),
    /// Same id and body, still in flight: ignore.
    DuplicateInFlight,
}

/// Outcome of a fulfil.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fulfilled {
    /// Committed now.
    Committed,
    /// The same fulfil again after commit: ignore.
    AlreadyCommitted,
}

/// Why a ledger operation was refused, with the hub's code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct Refusal {
    /// FSPIOP error code.
    pub code: ErrorCode,
    /// Human-readable reason.
    pub reason: String,
}

fn refuse(code: ErrorCode, reason: impl Into<String>) -> Refusal {
    Refusal {
        code,
        reason: reason.into(),
    }
}

const SHARDS: usize = 64;

/// The transfer `id`, if `source` is its payee (the only FSP that may fulfil or reject it).
fn payee_transfer<'a>(
    shard: &'a mut HashMap<String, Transfer>,
    id: &str,
    source: &str,
) -> Result<&'a mut Transfer, Refusal> {
    let t = shard.get_mut(id).ok_or_else(|| {
        refuse(
            ErrorCode::TransferIdNotFound,
            format!("Transfer {id} not found"),
        )
    })?;
    if source != t.payee {
        return Err(refuse(
            ErrorCode::GenericValidationError,
            "FSPIOP-Source header does not match the payee FSP",
        ));
    }
    Ok(t)
}

/// Counters of the ledger's life, for `/metrics` and the invariant tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Prepares accepted (reserved).
    pub prepared: u64,
    /// Committed.
    pub committed: u64,
    /// Aborted.
    pub aborted: u64,
    /// Expired.
    pub expired: u64,
}

/// The ledger.
#[derive(Debug)]
pub struct Ledger {
    participants: RwLock<HashMap<String, Arc<Participant>>>,
    transfers: Vec<Mutex<HashMap<String, Transfer>>>,
    /// Per shard of `transfers` (same index): final states of the transfers forgotten after
    /// the retention window and of refused prepares, counted by tag. Locked after its
    /// transfer shard when both are held.
    forgotten: Vec<Mutex<Forgotten>>,
    /// Per shard of `transfers` (same index): transfers recorded by tag — every accepted
    /// prepare and every refused one counted in `forgotten` —, counted as they are recorded and
    /// kept apart from the states, so [`Ledger::recorded_by_prefix`] is an independent total
    /// for [`Ledger::states_by_prefix`] (a transfer the state map lost or counted twice shows).
    recorded: Vec<Mutex<HashMap<Tag, u64>>>,
    shard_hasher: foldhash::fast::RandomState,
    next_account: Mutex<u64>,
    counts: Mutex<Counts>,
    retention: Duration,
}

impl Ledger {
    /// A ledger that keeps finished transfers for `retention` (duplicate detection window).
    pub fn new(retention: Duration) -> Ledger {
        Ledger {
            participants: RwLock::default(),
            transfers: (0..SHARDS).map(|_| Mutex::default()).collect(),
            forgotten: (0..SHARDS).map(|_| Mutex::default()).collect(),
            recorded: (0..SHARDS).map(|_| Mutex::default()).collect(),
            shard_hasher: foldhash::fast::RandomState::default(),
            next_account: Mutex::new(1),
            counts: Mutex::default(),
            retention,
        }
    }

    fn shard_index(&self, id: &str) -> usize {
        (self.shard_hasher.hash_one(id) as usize) % SHARDS
    }

    fn shard(&self, id: &str) -> MutexGuard<'_, HashMap<String, Transfer>> {
        lock(&self.transfers[self.shard_index(id)])
    }

    /// A participant by name.
    pub fn participant(&self, name: &str) -> Option<Arc<Participant>> {
        self.participants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// All participants, sorted by name.
    pub fn participants(&self) -> Vec<Arc<Participant>> {
        let mut v: Vec<_> = self
            .participants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Creates a participant (inactive until its position and limits are set). `Err` if it
    /// exists already.
    pub fn add_participant(&self, name: &str, currency: &str) -> Result<Arc<Participant>, Refusal> {
        let mut map = self.participants.write().unwrap_or_else(|e| e.into_inner());
        if map.contains_key(name) {
            return Err(refuse(
                ErrorCode::AddPartyInformationError,
                format!("Participant {name} already exists"),
            ));
        }
        let ids = {
            let mut n = lock(&self.next_account);
            let ids = (*n, *n + 1);
            *n += 2;
            ids
        };
        let p = Arc::new(Participant {
            name: name.to_owned(),
            currency: currency.to_owned(),
            active: Mutex::new(false),
            account: Mutex::default(),
            endpoints: RwLock::default(),
            account_ids: ids,
            created: time::OffsetDateTime::now_utc(),
        });
        map.insert(name.to_owned(), p.clone());
        Ok(p)
    }

    /// `initialPositionAndLimits`: once only.
    pub fn init_position(
        &self,
        name: &str,
        ndc: Units,
        position: Units,
        alarm: u32,
    ) -> Result<(), Refusal> {
        let p = self.participant(name).ok_or_else(|| {
            refuse(
                ErrorCode::GenericIdNotFound,
                format!("no participant {name}"),
            )
        })?;
        p.with_account(|a| {
            if a.ndc.is_some() {
                return Err(refuse(
                    ErrorCode::InternalServerError,
                    "Participant Limit already exists",
                ));
            }
            a.ndc = Some(ndc);
            a.position = position;
            a.alarm_percentage = alarm;
            Ok(())
        })?;
        p.set_active(true);
        Ok(())
    }

    /// Moves the settlement balance (funds in: `delta` < 0; funds out: `delta` > 0).
    pub fn adjust_settlement(&self, name: &str, delta: Units) -> Result<(), Refusal> {
        let p = self.participant(name).ok_or_else(|| {
            refuse(
                ErrorCode::GenericIdNotFound,
                format!("no participant {name}"),
            )
        })?;
        p.with_account(|a| a.settlement += delta);
        Ok(())
    }

    fn count(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut lock(&self.counts));
    }

    /// Life counters so far.
    pub fn counts(&self) -> Counts {
        *lock(&self.counts)
    }

    /// Prepare (reference §1.3, §1.4): validate, detect duplicates, check liquidity and NDC,
    /// reserve the payer's position. A refused prepare is not held, only counted under its
    /// final state (`INVALID` or `ABORTED_REJECTED`, see [`LedgerState`]) for
    /// [`Ledger::states_by_prefix`].
    #[allow(clippy::too_many_arguments)]
    pub fn prepare(
        &self,
        id: &str,
        source: &str,
        payer: &str,
        payee: &str,
        amount: Units,
        condition: &str,
        expires: time::OffsetDateTime,
        hash: u64,
    ) -> Result<Prepared, Refusal> {
        let result = self.try_prepare(id, source, payer, payee, amount, condition, expires, hash);
        let recorded = match &result {
            Ok(_) => true,
            Err(r) => match LedgerState::of_refused_prepare(r.code) {
                Some(s) => {
                    let mut forgotten = lock(&self.forgotten[self.shard_index(id)]);
                    forgotten.keep(id, s);
                    true
                }
                None => false,
            },
        };
        if recorded {
            *lock(&self.recorded[self.shard_index(id)])
                .entry(Tag::of(id))
                .or_default() += 1;
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn try_prepare(
        &self,
        id: &str,
        source: &str,
        payer: &str,
        payee: &str,
        amount: Units,
        condition: &str,
        expires: time::OffsetDateTime,
        hash: u64,
    ) -> Result<Prepared, Refusal> {
        let v = |r: &str| refuse(ErrorCode::GenericValidationError, r);
        if source != payer {
            return Err(v("FSPIOP-Source header does not match the payer FSP"));
        }
        if payer == payee {
            return Err(v("Payer FSP and Payee FSP should be different"));
        }
        // Duplicate check first: a resend of a known transfer is answered from its record.
        {
            let shard = self.shard(id);
            if let Some(t) = shard.get(id) {
                if t.hash != hash {
                    return Err(refuse(
                        ErrorCode::ModifiedRequest,
                        "Transfer with the same id and a different body",
                    ));
                }
                return Ok(match t.state {
                    State::Reserved => Prepared::DuplicateInFlight,
                    s => Prepared::DuplicateFinished(s),
                });
            }
        }
        let payer_p = self
            .participant(payer)
            .filter(|p| p.is_active())
            .ok_or_else(|| v(&format!("Participant {payer} not found or inactive")))?;
        let payee_p = self
            .participant(payee)
            .filter(|p| p.is_active())
            .ok_or_else(|| v(&format!("Participant {payee} not found or inactive")))?;
        if payee_p.currency != payer_p.currency {
            return Err(v("Participant currency mismatch"));
        }
        if expires <= time::OffsetDateTime::now_utc() {
            return Err(v("Transfer expiration date is in the past"));
        }
        // Reserve under the payer's account lock, and record the transfer under its shard lock
        // before releasing the account: a concurrent duplicate sees it.
        let mut shard = self.shard(id);
        if shard.contains_key(id) {
            // Lost a race with an identical prepare.
            return Ok(Prepared::DuplicateInFlight);
        }
        payer_p.with_account(|a| {
            let used = a.position + a.reserved;
            if amount > -a.settlement - used {
                return Err(refuse(
                    ErrorCode::PayerFspInsufficientLiquidity,
                    "Payer FSP insufficient liquidity",
                ));
            }
            if amount > a.ndc.unwrap_or(0) - used {
                return Err(refuse(ErrorCode::PayerLimitError, "Payer limit error"));
            }
            a.position += amount;
            Ok(())
        })?;
        shard.insert(
            id.to_owned(),
            Transfer {
                payer: payer.to_owned(),
                payee: payee.to_owned(),
                amount,
                condition: condition.to_owned(),
                expires,
                hash,
                state: State::Reserved,
                fulfilment: None,
                completed: None,
                finished_at: None,
            },
        );
        drop(shard);
        self.count(|c| c.prepared += 1);
        Ok(Prepared::Reserved)
    }

    /// Fulfil from the payee: checks source, state, expiry and `sha256(fulfilment) ==
    /// condition`, then commits (payee position −= amount). An invalid fulfil or a late one
    /// aborts the transfer (payer position reverted) and is refused with 3100 / 3303.
    pub fn fulfil(
        &self,
        id: &str,
        source: &str,
        fulfilment: &fspiop::types::IlpFulfilment,
        completed: Option<String>,
    ) -> Result<(Fulfilled, Transfer), Refusal> {
        let mut shard = self.shard(id);
        let t = payee_transfer(&mut shard, id, source)?;
        match t.state {
            State::Reserved => {}
            State::Committed if t.fulfilment.as_deref() == Some(fulfilment.as_str()) => {
                return Ok((Fulfilled::AlreadyCommitted, t.clone()))
            }
            _ => {
                return Err(refuse(
                    ErrorCode::GenericValidationError,
                    "Transfer is not in RESERVED state",
                ))
            }
        }
        let condition = fspiop::types::IlpCondition::parse(t.condition.as_str()).ok();
        let valid = condition.is_some_and(|c| fulfilment.fulfils(&c));
        let late = t.expires <= time::OffsetDateTime::now_utc();
        if !valid || late {
            let payer = self.participant(&t.payer);
            if let Some(p) = payer {
                p.with_account(|a| a.position -= t.amount);
            }
            t.state = if late { State::Expired } else { State::Aborted };
            t.finished_at = Some(Instant::now());
            let result = if late {
                refuse(ErrorCode::TransferExpired, "Transfer expired")
            } else {
                refuse(ErrorCode::GenericValidationError, "invalid fulfilment")
            };
            drop(shard);
            self.count(|c| if late { c.expired += 1 } else { c.aborted += 1 });
            return Err(result);
        }
        if let Some(p) = self.participant(&t.payee) {
            p.with_account(|a| a.position -= t.amount);
        }
        t.state = State::Committed;
        t.fulfilment = Some(fulfilment.as_str().to_owned());
        t.completed = completed;
        t.finished_at = Some(Instant::now());
        let snapshot = t.clone();
        drop(shard);
        self.count(|c| c.committed += 1);
        Ok((Fulfilled::Committed, snapshot))
    }

    /// The payee's (or the hub's) rejection: abort and revert the payer's position.
    pub fn abort(&self, id: &str, source: &str) -> Result<Transfer, Refusal> {
        let mut shard = self.shard(id);
        let t = payee_transfer(&mut shard, id, source)?;
        if t.state != State::Reserved {
            return Err(refuse(
                ErrorCode::GenericValidationError,
                "Transfer is not in RESERVED state",
            ));
        }
        if let Some(p) = self.participant(&t.payer) {
            p.with_account(|a| a.position -= t.amount);
        }
        t.state = State::Aborted;
        t.finished_at = Some(Instant::now());
        let snapshot = t.clone();
        drop(shard);
        self.count(|c| c.aborted += 1);
        Ok(snapshot)
    }

    /// A transfer's record.
    pub fn transfer(&self, id: &str) -> Option<Transfer> {
        self.shard(id).get(id).cloned()
    }

    /// The expiry sweep (the hub's timeout handler): every reserved transfer past its
    /// expiration becomes `Expired` and the payer's position is reverted. Also forgets final
    /// transfers older than the retention window. Returns the expired ones.
    pub fn sweep(&self) -> Vec<(String, Transfer)> {
        let now = time::OffsetDateTime::now_utc();
        let mut expired = Vec::new();
        for (i, shard) in self.transfers.iter().enumerate() {
            let mut shard = lock(shard);
            for (id, t) in shard.iter_mut() {
                if t.state == State::Reserved && t.expires <= now {
                    if let Some(p) = self.participant(&t.payer) {
                        p.with_account(|a| a.position -= t.amount);
                    }
                    t.state = State::Expired;
                    t.finished_at = Some(Instant::now());
                    expired.push((id.clone(), t.clone()));
                }
            }
            let retention = self.retention;
            let mut forgotten = None;
            shard.retain(|id, t| {
                let keep = t.finished_at.is_none_or(|f| f.elapsed() < retention);
                if !keep {
                    // Under the transfer shard's lock: a query sees it here or there, once.
                    let gone = forgotten.get_or_insert_with(|| lock(&self.forgotten[i]));
                    gone.keep(id, t.state.ledger_state());
                }
                keep
            });
        }
        if !expired.is_empty() {
            let n = expired.len() as u64;
            self.count(|c| c.expired += n);
        }
        expired
    }

    /// Transfers held (in flight + retained), and of those in flight.
    pub fn held(&self) -> (usize, usize) {
        let mut all = 0;
        let mut reserved = 0;
        for shard in &self.transfers {
            let shard = lock(shard);
            all += shard.len();
            reserved += shard
                .values()
                .filter(|t| t.state == State::Reserved)
                .count();
        }
        (all, reserved)
    }

    /// Final state name → number of transfers whose id starts with `prefix` (names and
    /// mapping: [`LedgerState`]; states with no transfer are left out): the transfers held
    /// (in flight or inside the retention window), those forgotten since, and refused prepares.
    ///
    /// Exact for a prefix of at most [`TAG_LEN`] bytes (a run tag). Forgotten transfers are
    /// only kept as counts per first [`TAG_LEN`] bytes of their id, so a longer prefix counts
    /// the held ones only. That tally costs ~70 bytes per distinct id start: a few per run
    /// when ids carry a run tag, about one per transfer when ids are random UUIDs (still
    /// several times less than the full record held during the retention window). A refused
    /// prepare resent with the same id is counted again (nothing is held to recognise it).
    ///
    /// Walks every held transfer, one shard lock at a time: for end-of-run reports, not for a
    /// hot path.
    pub fn states_by_prefix(&self, prefix: &str) -> BTreeMap<String, u64> {
        let p = prefix.as_bytes();
        let mut tally = Tally::default();
        for (i, shard) in self.transfers.iter().enumerate() {
            let shard = lock(shard);
            for (id, t) in shard.iter() {
                if id.as_bytes().starts_with(p) {
                    tally[t.state.ledger_state() as usize] += 1;
                }
            }
            for (tag, n) in lock(&self.forgotten[i]).tally.iter() {
                if tag.matches(p) {
                    for (sum, n) in tally.iter_mut().zip(n) {
                        *sum += n;
                    }
                }
            }
        }
        LedgerState::ALL
            .iter()
            .zip(tally)
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| (s.name().to_owned(), n))
            .collect()
    }

    /// The transfers whose id starts with `prefix` and sorts after `after`, at most `limit`
    /// of them, in id order, each with its state: held, forgotten and refused ones, as
    /// [`Ledger::states_by_prefix`] counts them (a refused prepare resent with the same id is
    /// listed as often as it was refused). Page through a run with the last id of each page as
    /// the next `after`.
    ///
    /// Walks every held and forgotten transfer per page, one shard lock at a time (a transfer
    /// forgotten meanwhile moves under that lock: it is seen once): for end-of-run checks, with
    /// large pages.
    pub fn ids_by_prefix(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<(String, LedgerState)> {
        let mut best = Smallest {
            limit: limit.max(1),
            heap: std::collections::BinaryHeap::new(),
        };
        let pass = |id: &str| id.starts_with(prefix) && after.is_none_or(|a| id > a);
        for (i, shard) in self.transfers.iter().enumerate() {
            let shard = lock(shard);
            for (id, t) in shard.iter() {
                if pass(id) && best.wants(id) {
                    best.offer(id.clone(), t.state.ledger_state());
                }
            }
            let gone = lock(&self.forgotten[i]);
            let mut buf = [0u8; 36];
            for (bytes, b) in &gone.ids {
                let id = unpack_into(bytes, b & ULID_BIT != 0, &mut buf);
                if pass(id) && best.wants(id) {
                    let state = LedgerState::ALL[usize::from(b & !ULID_BIT)];
                    best.offer(id.to_owned(), state);
                }
            }
            for (id, state) in &gone.other {
                if pass(id) && best.wants(id) {
                    best.offer(id.to_string(), *state);
                }
            }
        }
        best.heap.into_sorted_vec()
    }

    /// How many transfers whose id starts with `prefix` were recorded (accepted or refused at
    /// prepare), from counters kept apart from the states: what [`Ledger::states_by_prefix`]
    /// must add up to.
    pub fn recorded_by_prefix(&self, prefix: &str) -> u64 {
        let p = prefix.as_bytes();
        self.recorded
            .iter()
            .map(|shard| {
                lock(shard)
                    .iter()
                    .filter(|(tag, _)| tag.matches(p))
                    .map(|(_, n)| n)
                    .sum::<u64>()
            })
            .sum()
    }

    /// Σ positions of all participants and Σ amounts of reserved transfers: equal at all
    /// times (value is conserved; what payers owe is either in flight or owed to payees).
    pub fn conservation(&self) -> (Units, Units) {
        let positions: Units = self
            .participants()
            .iter()
            .map(|p| p.account().position)
            .sum();
        let in_flight: Units = self
            .transfers
            .iter()
            .map(|s| {
                lock(s)
                    .values()
                    .filter(|t| t.state == State::Reserved)
                    .map(|t| t.amount)
                    .sum::<Units>()
            })
            .sum();
        (positions, in_flight)
    }
}

#[cfg(test)]
#[allow(clippy::inconsistent_digit_grouping)] // amounts written as <whole>_<4 decimals> units
mod tests {
    use super::*;
    use fspiop::types::IlpFulfilment;

    const F: &str = "V-IalzIzy-zxy0SrlY1Ku2OE9aS4KgGZ0W-Zq5_BeC0";
    const C: &str = "GIxd5xcohkmnnXolpTv_OxwpyaH__Oiq49JTvCo8pyA";

    fn later() -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc() + time::Duration::minutes(5)
    }

    fn ledger(ndc: Units, funds: Units) -> Ledger {
        let l = Ledger::new(Duration::from_secs(60));
        for n in ["payer", "payee"] {
            l.add_participant(n, "XXX").unwrap();
            l.init_position(n, ndc, 0, 10).unwrap();
            l.adjust_settlement(n, -funds).unwrap();
        }
        l
    }

    #[test]
    fn prepare_commit_moves_positions_and_conserves() {
        let l = ledger(1_000_0000, 10_000_0000);
        assert_eq!(
            l.prepare("t1", "payer", "payer", "payee", 100_0000, C, later(), 1),
            Ok(Prepared::Reserved)
        );
        assert_eq!(l.participant("payer").unwrap().account().position, 100_0000);
        let (p, f) = l.conservation();
        assert_eq!(p, f);
        let (r, _) = l
            .fulfil("t1", "payee", &IlpFulfilment::parse(F).unwrap(), None)
            .unwrap();
        assert_eq!(r, Fulfilled::Committed);
        assert_eq!(
            l.participant("payee").unwrap().account().position,
            -100_0000
        );
        assert_eq!(l.conservation(), (0, 0));
        assert_eq!(
            l.counts(),
            Counts {
                prepared: 1,
                committed: 1,
                aborted: 0,
                expired: 0
            }
        );
    }

    #[test]
    fn validation_duplicates_and_limits() {
        let l = ledger(150_0000, 120_0000);
        let code = |r: Result<Prepared, Refusal>| r.unwrap_err().code.code();
        assert_eq!(
            code(l.prepare("a", "payee", "payer", "payee", 1, C, later(), 1)),
            3100
        );
        assert_eq!(
            code(l.prepare("a", "payer", "payer", "payer", 1, C, later(), 1)),
            3100
        );
        assert_eq!(
            code(l.prepare("a", "payer", "payer", "nobody", 1, C, later(), 1)),
            3100
        );
        assert_eq!(
            code(l.prepare(
                "a",
                "payer",
                "payer",
                "payee",
                1,
                C,
                time::OffsetDateTime::now_utc() - time::Duration::seconds(1),
                1
            )),
            3100
        );
        assert_eq!(
            code(l.prepare("a", "payer", "payer", "payee", 121_0000, C, later(), 1)),
            4001,
            "liquidity first"
        );
        l.adjust_settlement("payer", -1_000_0000).unwrap();
        assert_eq!(
            code(l.prepare("a", "payer", "payer", "payee", 151_0000, C, later(), 1)),
            4200
        );
        assert_eq!(
            l.prepare("a", "payer", "payer", "payee", 100_0000, C, later(), 7),
            Ok(Prepared::Reserved)
        );
        assert_eq!(
            l.prepare("a", "payer", "payer", "payee", 100_0000, C, later(), 7),
            Ok(Prepared::DuplicateInFlight)
        );
        assert_eq!(
            code(l.prepare("a", "payer", "payer", "payee", 100_0000, C, later(), 8)),
            3106
        );
        assert_eq!(
            code(l.prepare("b", "payer", "payer", "payee", 51_0000, C, later(), 1)),
            4200,
            "NDC counts the reserved 100"
        );
        l.fulfil("a", "payee", &IlpFulfilment::parse(F).unwrap(), None)
            .unwrap();
        assert_eq!(
            l.prepare("a", "payer", "payer", "payee", 100_0000, C, later(), 7),
            Ok(Prepared::DuplicateFinished(State::Committed))
        );
        let again = l
            .fulfil("a", "payee", &IlpFulfilment::parse(F).unwrap(), None)
            .unwrap();
        assert_eq!(again.0, Fulfilled::AlreadyCommitted);
        assert_eq!(l.counts().committed, 1, "counted once");
    }

    #[test]
    fn invalid_fulfilment_and_abort_revert_the_payer() {
        let l = ledger(1_000_0000, 1_000_0000);
        l.prepare("x", "payer", "payer", "payee", 5_0000, C, later(), 1)
            .unwrap();
        let wrong = IlpFulfilment::parse("Oko1gkYPQvE9KfDvyIRmcHLsexacJwejIQGqf00PFwI").unwrap();
        assert_eq!(
            l.fulfil("x", "payer", &wrong, None)
                .unwrap_err()
                .code
                .code(),
            3100,
            "source must be payee"
        );
        assert_eq!(
            l.fulfil("x", "payee", &wrong, None)
                .unwrap_err()
                .code
                .code(),
            3100
        );
        assert_eq!(l.transfer("x").unwrap().state, State::Aborted);
        assert_eq!(l.participant("payer").unwrap().account().position, 0);
        l.prepare("y", "payer", "payer", "payee", 5_0000, C, later(), 1)
            .unwrap();
        l.abort("y", "payee").unwrap();
        assert!(l.abort("y", "payee").is_err(), "only once");
        assert_eq!(l.conservation(), (0, 0));
        assert_eq!(
            l.counts(),
            Counts {
                prepared: 2,
                committed: 0,
                aborted: 2,
                expired: 0
            }
        );
    }

    #[test]
    fn expiry_sweep_and_retention() {
        let l = Ledger::new(Duration::from_millis(50));
        for n in ["payer", "payee"] {
            l.add_participant(n, "XXX").unwrap();
            l.init_position(n, 1_000_0000, 0, 10).unwrap();
            l.adjust_settlement(n, -1_000_0000).unwrap();
        }
        let soon = time::OffsetDateTime::now_utc() + time::Duration::milliseconds(30);
        l.prepare("e", "payer", "payer", "payee", 1_0000, C, soon, 1)
            .unwrap();
        assert!(l.sweep().is_empty());
        std::thread::sleep(Duration::from_millis(40));
        let expired = l.sweep();
        assert_eq!(expired.len(), 1);
        assert_eq!(l.participant("payer").unwrap().account().position, 0);
        let late = l.fulfil("e", "payee", &IlpFulfilment::parse(F).unwrap(), None);
        assert_eq!(late.unwrap_err().code.code(), 3100, "not RESERVED any more");
        assert_eq!(
            l.prepare("e", "payer", "payer", "payee", 1_0000, C, later(), 1),
            Ok(Prepared::DuplicateFinished(State::Expired))
        );
        std::thread::sleep(Duration::from_millis(60));
        l.sweep();
        assert_eq!(l.held(), (0, 0), "forgotten after the retention window");
        assert_eq!(l.counts().expired, 1);
    }

    #[test]
    fn forgotten_ids_pack_to_16_bytes_and_back() {
        let ulid = fspiop::iso::ulid(1_700_000_000_000, 12_345).into_string();
        for id in ["1a2b3c4d-0000-4000-8000-00000000000f", ulid.as_str()] {
            let (bytes, is_ulid) = pack(id).unwrap();
            assert_eq!(unpack(&bytes, is_ulid), id);
        }
        for other in [
            "short",
            "1A2B3C4D-0000-4000-8000-00000000000F",
            "1a2b3c4d00004000800000000000000f",
        ] {
            assert_eq!(pack(other), None, "{other}");
        }
    }

    #[test]
    fn states_by_prefix_counts_held_forgotten_and_refused_transfers() {
        let l = Ledger::new(Duration::from_millis(30));
        for n in ["payer", "payee"] {
            l.add_participant(n, "XXX").unwrap();
            l.init_position(n, 100_0000, 0, 10).unwrap();
            l.adjust_settlement(n, -1_000_0000).unwrap();
        }
        let f = IlpFulfilment::parse(F).unwrap();
        let wrong = IlpFulfilment::parse("Oko1gkYPQvE9KfDvyIRmcHLsexacJwejIQGqf00PFwI").unwrap();
        let id = |tag: &str, i: u32| format!("{tag}-0000-4000-8000-{i:012}");
        let prep = |id: &str, amount: Units, expires| {
            l.prepare(id, "payer", "payer", "payee", amount, C, expires, 1)
        };
        for i in 0..3 {
            prep(&id("1a2b3c4d", i), 1_0000, later()).unwrap();
            l.fulfil(&id("1a2b3c4d", i), "payee", &f, None).unwrap();
        }
        prep(&id("1a2b3c4d", 3), 1_0000, later()).unwrap();
        l.abort(&id("1a2b3c4d", 3), "payee").unwrap();
        prep(&id("1a2b3c4d", 4), 1_0000, later()).unwrap();
        assert!(l.fulfil(&id("1a2b3c4d", 4), "payee", &wrong, None).is_err());
        let soon = time::OffsetDateTime::now_utc() + time::Duration::milliseconds(20);
        prep(&id("1a2b3c4d", 5), 1_0000, soon).unwrap();
        assert_eq!(
            prep(&id("1a2b3c4d", 6), 101_0000, later())
                .unwrap_err()
                .code
                .code(),
            4200
        );
        let past = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
        assert_eq!(
            prep(&id("1a2b3c4d", 7), 1_0000, past)
                .unwrap_err()
                .code
                .code(),
            3100
        );
        prep(&id("1a2b3c4d", 8), 1_0000, later()).unwrap();
        assert_eq!(
            l.prepare(
                &id("1a2b3c4d", 8),
                "payer",
                "payer",
                "payee",
                2_0000,
                C,
                later(),
                2
            )
            .unwrap_err()
            .code
            .code(),
            3106,
            "a modified resend is no new transfer"
        );
        prep(&id("ffff0000", 0), 1_0000, later()).unwrap();
        l.fulfil(&id("ffff0000", 0), "payee", &f, None).unwrap();
        prep("short", 1_0000, later()).unwrap();

        let want = |v: &[(&str, u64)]| {
            v.iter()
                .map(|(k, n)| ((*k).to_owned(), *n))
                .collect::<BTreeMap<_, _>>()
        };
        let run = want(&[
            ("ABORTED_ERROR", 2),
            ("ABORTED_REJECTED", 1),
            ("COMMITTED", 3),
            ("INVALID", 1),
            ("RESERVED", 2),
        ]);
        assert_eq!(l.states_by_prefix("1a2b3c4d"), run);
        // Nine recorded (ids 0..=8; the modified resend of 8 is no new transfer), counted apart
        // from the states.
        assert_eq!(l.recorded_by_prefix("1a2b3c4d"), 9);
        // The expiry sweep, then the retention window: all but the reserved one are forgotten.
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(l.sweep().len(), 1);
        std::thread::sleep(Duration::from_millis(40));
        l.sweep();
        assert_eq!(l.held(), (2, 2), "only the two in flight are held");
        let run = want(&[
            ("ABORTED_ERROR", 2),
            ("ABORTED_REJECTED", 1),
            ("COMMITTED", 3),
            ("EXPIRED_RESERVED", 1),
            ("INVALID", 1),
            ("RESERVED", 1),
        ]);
        assert_eq!(
            l.states_by_prefix("1a2b3c4d"),
            run,
            "the same after forgetting"
        );
        assert_eq!(l.states_by_prefix("1a2b"), run, "a shorter prefix");
        assert_eq!(
            l.recorded_by_prefix("1a2b3c4d"),
            9,
            "forgetting keeps the count"
        );
        assert_eq!(l.recorded_by_prefix("ffff0000"), 1);
        assert_eq!(l.recorded_by_prefix("1a2b3c4e"), 0);
        assert_eq!(l.states_by_prefix("ffff0000"), want(&[("COMMITTED", 1)]));
        assert_eq!(l.states_by_prefix("1a2b3c4e"), want(&[]));
        assert_eq!(l.states_by_prefix("short"), want(&[("RESERVED", 1)]));
        // Id by id, held and forgotten alike, in id order, paged.
        let listed = |after: Option<&str>, limit| {
            l.ids_by_prefix("1a2b3c4d", after, limit)
                .into_iter()
                .map(|(id, s)| (id, s.name()))
                .collect::<Vec<_>>()
        };
        let all = [
            (id("1a2b3c4d", 0), "COMMITTED"),
            (id("1a2b3c4d", 1), "COMMITTED"),
            (id("1a2b3c4d", 2), "COMMITTED"),
            (id("1a2b3c4d", 3), "ABORTED_ERROR"),
            (id("1a2b3c4d", 4), "ABORTED_ERROR"),
            (id("1a2b3c4d", 5), "EXPIRED_RESERVED"),
            (id("1a2b3c4d", 6), "ABORTED_REJECTED"),
            (id("1a2b3c4d", 7), "INVALID"),
            (id("1a2b3c4d", 8), "RESERVED"),
        ];
        assert_eq!(listed(None, 100), all);
        let mut paged = listed(None, 4);
        while let Some(last) = paged.last().map(|(id, _)| id.clone()) {
            let next = listed(Some(&last), 4);
            if next.is_empty() {
                break;
            }
            paged.extend(next);
        }
        assert_eq!(paged, all, "pages of 4 add up to the whole, in order");
        assert_eq!(
            l.ids_by_prefix("ffff0000", None, 10)
                .into_iter()
                .map(|(id, _)| id)
                .collect::<Vec<_>>(),
            [id("ffff0000", 0)]
        );
        assert_eq!(
            l.states_by_prefix("1a2b3c4d-0000-4000-8000-000000000008"),
            want(&[("RESERVED", 1)]),
            "longer than a tag: the held transfers only"
        );
        let all: u64 = l.states_by_prefix("").values().sum();
        assert_eq!(all, 11);
    }

    #[test]
    fn concurrent_prepares_never_commit_beyond_the_ndc() {
        // NDC 1,000 and 10,000 of liquidity: of 400 prepares of 7 each, exactly 142 fit.
        let l = Arc::new(ledger(1_000_0000, 10_000_0000));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let l = l.clone();
                std::thread::spawn(move || {
                    let mut ok = 0;
                    for i in 0..50 {
                        let id = format!("c-{t}-{i}");
                        match l.prepare(&id, "payer", "payer", "payee", 7_0000, C, later(), 1) {
                            Ok(Prepared::Reserved) => ok += 1,
                            Err(r) => assert_eq!(r.code.code(), 4200),
                            other => panic!("{other:?}"),
                        }
                        let (p, f) = l.conservation();
                        assert!(p >= 0 && f >= 0);
                    }
                    ok
                })
            })
            .collect();
        let ok: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(ok, 142);
        let a = l.participant("payer").unwrap().account();
        assert_eq!(a.position, 142 * 7_0000);
        assert!(a.position <= a.ndc.unwrap());
        let (p, f) = l.conservation();
        assert_eq!(p, f);
    }

    #[test]
    fn units_round_trip() {
        assert_eq!(units(&Amount::parse("1.5").unwrap()), 1_5000);
        assert_eq!(format_units(1_5000), "1.5");
        assert_eq!(format_units(-10_000_000_0000), "-10000000");
        assert_eq!(format_units(0), "0");
    }
}
