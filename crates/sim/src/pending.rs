//! Payer flows waiting for their callback, sharded so the hot path never takes a global lock.
//!
//! Keys: `t:{transferId}`, `q:{quoteId}`, `p:{Type}/{ID}[/{SubId}]`; each entry remembers its
//! payer FSP, and a callback reaches the entries of the FSP it is addressed to
//! (`FSPIOP-Destination`; any payer when it names none). A waiter is registered before the
//! request goes out, because a callback can arrive before the `202` is read.
//!
//! # Which callback completes which request
//!
//! A callback completes at most one request, and only one it can have answered. Transfers and
//! quotes carry their own id, so their key has one request. Lookups do not: every
//! `PUT /parties/MSISDN/{n}` for the same number looks the same, and a payer may look a number
//! up again while an earlier lookup of it is still unanswered. The rules:
//!
//! 1. **Entries, oldest first.** Each request of a key (per payer) is an entry: *waiting*, or
//!    *abandoned* once its flow gave up (timeout, or an HTTP failure after the request may have
//!    left) — an abandoned request's answer may still come. A request that certainly never
//!    reached the switch (not sent, or refused synchronously) leaves no entry.
//! 2. **Same trace: that request.** The payer sends a fresh `traceparent` with every request and
//!    payees echo it (perffsp does; Mojaloop's services carry the trace context). A callback
//!    whose trace id is an entry's trace id answers exactly that entry, in any order.
//! 3. **Otherwise: the oldest entry (FIFO).** A callback without a known trace id answers the
//!    oldest entry of its payer — waiting *or abandoned*. Lookups of one number through one hub
//!    are answered in the order they were made, so the oldest outstanding request is the one
//!    answered; an abandoned entry at the front therefore takes the next answer itself.
//! 4. **An answer to an abandoned entry is late**: counted (`perffsp_late_callbacks_total`),
//!    and it completes nothing. So a late answer to a timed-out lookup never makes a newer
//!    lookup of the same number look fast: with trace ids by rule 2, and with answers in order
//!    by rule 3 (the late answer reaches the older, abandoned entry first).
//!
//! What this costs, in the FIFO case only: if an abandoned request's answer is lost (never
//! comes), the next answer for that number is taken as the lost one — counted late — and the
//! newer lookup times out instead of completing. That errs towards a timeout, never towards a
//! fast success. Answers that arrive out of order *and* without a trace id go to the wrong
//! request: a late one still only reaches an abandoned entry, but two waiting lookups of one
//! number can swap their answers (and their times). Abandoned entries are forgotten after
//! [`LATE_WINDOW`]: an answer later than that is no longer recognised as late (a transfer's or
//! quote's is then unsolicited; a lookup's could complete a newer lookup of the same number).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// When a callback arrived, and where its phase's time went.
#[derive(Debug, Clone, Copy)]
pub struct Delivered {
    /// Receipt (the first replica's, after a relay).
    pub at: Instant,
    /// The phase's split, when the payee stamped the trace.
    pub split: Option<crate::trace::Split>,
    /// Relayed by this peer replica, `at` converted from its clock with this uncertainty.
    pub relayed: Option<(u16, Duration)>,
}

impl Delivered {
    /// Arrived at `at`, no trace.
    pub fn at(at: Instant) -> Delivered {
        Delivered {
            at,
            split: None,
            relayed: None,
        }
    }
}

use crate::Callback;

const SHARDS: usize = 64;

/// How long an abandoned request's answer is still recognised as late (and kept from completing
/// a newer request of the same key).
pub const LATE_WINDOW: Duration = Duration::from_secs(120);

/// Every this many registrations, one shard is swept of abandoned entries past
/// [`LATE_WINDOW`] (keys that are never touched again would otherwise keep them).
const SWEEP_EVERY: u64 = 256;

type Answer = (Callback, Delivered);

enum State {
    Waiting(oneshot::Sender<Answer>),
    /// The flow gave up at this instant; its answer may still come.
    Abandoned(Instant),
}

struct Entry {
    token: u64,
    fsp: String,
    /// The request's trace id (from its `traceparent`).
    trace: Option<u128>,
    state: State,
}

impl Entry {
    fn expired(&self, now: Instant) -> bool {
        matches!(self.state, State::Abandoned(since) if now.duration_since(since) > LATE_WINDOW)
    }
}

/// What became of a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// It completed a waiting request.
    Delivered,
    /// It answered a request whose flow had already given up.
    Late,
    /// No request of this key (and payer) is known.
    Nobody,
}

/// The registry.
pub struct Pending {
    shards: Vec<Mutex<HashMap<String, Vec<Entry>>>>,
    next: AtomicU64,
    /// Waiting entries (not abandoned), for [`Pending::len`].
    waiting: AtomicUsize,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pending({} waiting)", self.len())
    }
}

impl Default for Pending {
    fn default() -> Self {
        Pending {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            next: AtomicU64::new(1),
            waiting: AtomicUsize::new(0),
        }
    }
}

type Shard<'a> = std::sync::MutexGuard<'a, HashMap<String, Vec<Entry>>>;

fn lock(m: &Mutex<HashMap<String, Vec<Entry>>>) -> Shard<'_> {
    // A poisoned shard only means another task panicked mid-insert; the map is still sound.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pending {
    fn shard(&self, key: &str) -> Shard<'_> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        lock(&self.shards[(h.finish() as usize) % SHARDS])
    }

    /// Registers a waiter for `key` on behalf of payer `fsp`, for a request with trace id
    /// `trace`; returns its token and receiver.
    pub fn register(
        &self,
        key: String,
        fsp: &str,
        trace: Option<u128>,
    ) -> (u64, oneshot::Receiver<Answer>) {
        let (tx, rx) = oneshot::channel();
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        if token % SWEEP_EVERY == 0 {
            self.sweep(((token / SWEEP_EVERY) as usize) % SHARDS);
        }
        self.shard(&key).entry(key).or_default().push(Entry {
            token,
            fsp: fsp.to_owned(),
            trace,
            state: State::Waiting(tx),
        });
        self.waiting.fetch_add(1, Ordering::Relaxed);
        (token, rx)
    }

    /// Drops abandoned entries past [`LATE_WINDOW`] from one shard.
    fn sweep(&self, shard: usize) {
        let now = Instant::now();
        lock(&self.shards[shard]).retain(|_, list| {
            list.retain(|e| !e.expired(now));
            !list.is_empty()
        });
    }

    /// The waiter `token` of `key` gave up. When `answer_may_come` (the request may have
    /// reached the switch), it stays as an abandoned entry so that its answer is recognised
    /// as late; otherwise it is forgotten.
    pub fn give_up(&self, key: &str, token: u64, answer_may_come: bool) {
        let mut shard = self.shard(key);
        let Some(list) = shard.get_mut(key) else {
            return;
        };
        let Some(i) = list.iter().position(|e| e.token == token) else {
            return; // already answered
        };
        if matches!(list[i].state, State::Waiting(_)) {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        if answer_may_come {
            list[i].state = State::Abandoned(Instant::now());
        } else {
            list.remove(i);
            if list.is_empty() {
                shard.remove(key);
            }
        }
    }

    /// Hands `callback` (trace id `trace`, addressed to `destination`) to the one request of
    /// `key` it answers, by the rules in the module documentation.
    pub fn resolve(
        &self,
        key: &str,
        destination: Option<&str>,
        trace: Option<u128>,
        callback: &Callback,
        at: Delivered,
    ) -> Resolved {
        let entry = {
            let mut shard = self.shard(key);
            let Some(list) = shard.get_mut(key) else {
                return Resolved::Nobody;
            };
            let now = Instant::now();
            list.retain(|e| !e.expired(now));
            let mine = |e: &Entry| destination.is_none_or(|d| d == e.fsp);
            let by_trace =
                trace.and_then(|t| list.iter().position(|e| mine(e) && e.trace == Some(t)));
            let chosen = by_trace.or_else(|| list.iter().position(mine));
            let entry = chosen.map(|i| list.remove(i));
            if list.is_empty() {
                shard.remove(key);
            }
            entry
        };
        match entry.map(|e| e.state) {
            None => Resolved::Nobody,
            Some(State::Abandoned(_)) => Resolved::Late,
            Some(State::Waiting(tx)) => {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                // A dropped receiver is a flow that went away without giving up: late too.
                match tx.send((callback.clone(), at)) {
                    Ok(()) => Resolved::Delivered,
                    Err(_) => Resolved::Late,
                }
            }
        }
    }

    /// Waiting requests in total (abandoned ones not counted).
    pub fn len(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payer::Anomaly;

    fn cb() -> Callback {
        Callback::Invalid(Anomaly::InvalidCallback)
    }

    fn now() -> Delivered {
        Delivered::at(Instant::now())
    }

    #[test]
    fn in_order_answers_go_to_the_oldest_and_an_abandoned_one_takes_its_own_late_answer() {
        let p = Pending::default();
        let (t1, _rx1) = p.register("p:MSISDN/1".into(), "perffsp1", None);
        let (_t2, mut rx2) = p.register("p:MSISDN/1".into(), "perffsp1", None);
        p.give_up("p:MSISDN/1", t1, true);
        assert_eq!(p.len(), 1);
        // The first answer belongs to the first (abandoned) request.
        assert_eq!(
            p.resolve("p:MSISDN/1", Some("perffsp1"), None, &cb(), now()),
            Resolved::Late
        );
        assert!(rx2.try_recv().is_err(), "the newer lookup is not completed");
        assert_eq!(
            p.resolve("p:MSISDN/1", Some("perffsp1"), None, &cb(), now()),
            Resolved::Delivered
        );
        assert!(rx2.try_recv().is_ok());
        assert_eq!(
            p.resolve("p:MSISDN/1", Some("perffsp1"), None, &cb(), now()),
            Resolved::Nobody
        );
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn a_trace_id_picks_its_own_request_in_any_order() {
        let p = Pending::default();
        let (t1, _rx1) = p.register("p:MSISDN/1".into(), "perffsp1", Some(1));
        let (_t2, mut rx2) = p.register("p:MSISDN/1".into(), "perffsp1", Some(2));
        p.give_up("p:MSISDN/1", t1, true);
        assert_eq!(
            p.resolve("p:MSISDN/1", Some("perffsp1"), Some(2), &cb(), now()),
            Resolved::Delivered
        );
        assert!(rx2.try_recv().is_ok());
        assert_eq!(
            p.resolve("p:MSISDN/1", Some("perffsp1"), Some(1), &cb(), now()),
            Resolved::Late
        );
    }

    #[test]
    fn a_request_that_never_left_leaves_nothing_and_payers_are_kept_apart() {
        let p = Pending::default();
        let (t1, _rx1) = p.register("t:x".into(), "perffsp1", None);
        p.give_up("t:x", t1, false);
        assert_eq!(
            p.resolve("t:x", Some("perffsp1"), None, &cb(), now()),
            Resolved::Nobody
        );
        let (_a, mut rx_a) = p.register("p:MSISDN/1".into(), "perffsp1", None);
        let (_b, mut rx_b) = p.register("p:MSISDN/1".into(), "perffsp2", None);
        assert_eq!(
            p.resolve("p:MSISDN/1", Some("perffsp2"), None, &cb(), now()),
            Resolved::Delivered
        );
        assert!(rx_b.try_recv().is_ok());
        assert!(rx_a.try_recv().is_err());
    }
}
