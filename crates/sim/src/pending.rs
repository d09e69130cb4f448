//! Payer flows waiting for their callback, sharded so the hot path never takes a global lock.
//!
//! Keys: `t:{transferId}`, `q:{quoteId}`, `p:{Type}/{ID}[/{SubId}]`; each waiter remembers its
//! payer FSP, and a callback reaches the waiters of the FSP it is addressed to (several lookups
//! of the same number by the same payer share one answer). A waiter is registered before the
//! request goes out, because a callback can arrive before the `202` is read.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use tokio::sync::oneshot;

/// When a callback arrived, and where its phase's time went.
#[derive(Debug, Clone, Copy)]
pub struct Delivered {
    /// Receipt (the first replica's, after a relay).
    pub at: Instant,
    /// The phase's split, when the payee stamped the trace.
    pub split: Option<crate::trace::Split>,
}

impl Delivered {
    /// Arrived at `at`, no trace.
    pub fn at(at: Instant) -> Delivered {
        Delivered { at, split: None }
    }
}

use crate::Callback;

const SHARDS: usize = 64;

struct Waiter {
    token: u64,
    fsp: String,
    tx: oneshot::Sender<(Callback, Delivered)>,
}

/// The registry.
pub struct Pending {
    shards: Vec<Mutex<HashMap<String, Vec<Waiter>>>>,
    next: AtomicU64,
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
        }
    }
}

impl Pending {
    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Waiter>>> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        let i = (h.finish() as usize) % SHARDS;
        // A poisoned shard only means another task panicked mid-insert; the map is still sound.
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a waiter for `key` on behalf of payer `fsp`; returns its token and receiver.
    pub fn register(
        &self,
        key: String,
        fsp: &str,
    ) -> (u64, oneshot::Receiver<(Callback, Delivered)>) {
        let (tx, rx) = oneshot::channel();
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        self.shard(&key).entry(key).or_default().push(Waiter {
            token,
            fsp: fsp.to_owned(),
            tx,
        });
        (token, rx)
    }

    /// Removes a waiter that gave up (timeout, send failure).
    pub fn cancel(&self, key: &str, token: u64) {
        let mut shard = self.shard(key);
        if let Some(list) = shard.get_mut(key) {
            list.retain(|w| w.token != token);
            if list.is_empty() {
                shard.remove(key);
            }
        }
    }

    /// Delivers `callback` to the waiters of `key` whose payer is `destination` (all of them
    /// when the callback names no destination). Returns how many got it.
    /// Hands `callback`, received at `at`, to the waiters of `key` addressed by `destination`.
    pub fn resolve(
        &self,
        key: &str,
        destination: Option<&str>,
        callback: &Callback,
        at: Delivered,
    ) -> usize {
        let matching: Vec<Waiter> = {
            let mut shard = self.shard(key);
            let Some(list) = shard.get_mut(key) else {
                return 0;
            };
            let (hit, keep): (Vec<Waiter>, Vec<Waiter>) = list
                .drain(..)
                .partition(|w| destination.is_none_or(|d| d == w.fsp));
            if keep.is_empty() {
                shard.remove(key);
            } else {
                *list = keep;
            }
            hit
        };
        let n = matching.len();
        for w in matching {
            let _ = w.tx.send((callback.clone(), at));
        }
        n
    }

    /// Waiters in total.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                    .map(Vec::len)
                    .sum::<usize>()
            })
            .sum()
    }
}
