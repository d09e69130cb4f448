//! Peer replicas' clocks, measured on the relay link.
//!
//! A callback that lands on the wrong driver replica is relayed to its owner with the wall-clock
//! time the first replica received it ([`RELAYED_AT`](crate::config::RELAYED_AT)): the relay hop
//! must not count in latency. That time is on the *relaying* replica's clock. Taken as the
//! owner's, an offset between the two clocks would move the callback's latency by the offset.
//! So every replica measures every peer's clock, on the link it relays over (the peer URL and
//! the simulator's HTTP client), NTP-style and repeatedly:
//!
//! * `GET /perfbed/clock?n=NONCE` at `t0` (this replica's `Instant`); the peer answers its
//!   wall clock `T` (Unix ns), its index, and an HMAC (the relay key) over the nonce, index and
//!   time, so only a peer replica's answer counts; the answer arrives at `t3`.
//! * The peer read `T` somewhere between `t0` and `t3`: `T` is mapped to the midpoint
//!   `(t0 + t3) / 2`, wrong by at most half the round trip — the sample's **uncertainty**.
//! * Samples are taken every 100 ms until there are [`FAST_SAMPLES`], then every second; the
//!   estimate is the sample with the shortest round trip among the last [`WINDOW`] (a minute at
//!   the slow pace: clock drift over the window stays well under a millisecond).
//!
//! A relayed receipt time `R` (peer clock) becomes this replica's instant
//! `mid + (R − T)` of the best sample: this replica's own wall clock is not involved, so an
//! offset of seconds is corrected as well as one of microseconds. The peer's **offset** reported
//! (`T` − this replica's wall clock at `mid`) is for people: positive when the peer's clock is
//! ahead. What a conversion can be wrong by is the sample's uncertainty; [`PeerClock`] keeps the
//! worst one used, which the load driver's report judges against its bound.
//!
//! Relays that arrive before any sample of their peer are not converted: they count as
//! received when they reached the owner (the relay hop included) and are counted
//! ([`PeerClock::unconverted`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Path of the clock endpoint every replica serves to its peers.
pub const CLOCK_PATH: &str = "/perfbed/clock";

/// Samples kept per peer; the estimate is the best of them.
pub const WINDOW: usize = 64;

/// Samples taken at the fast pace (every [`FAST`]) before the slow one (every [`SLOW`]).
pub const FAST_SAMPLES: u64 = 20;
/// The fast pace.
pub const FAST: Duration = Duration::from_millis(100);
/// The slow pace.
pub const SLOW: Duration = Duration::from_secs(1);

/// A wall clock, Unix nanoseconds, shifted by a fixed amount for tests (`--test-clock-shift`
/// of `perfbed run`: how a test makes one replica's clock wrong by seconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WallClock {
    /// Added to the system clock, ns. Zero outside tests.
    pub shift_ns: i64,
}

impl WallClock {
    /// Now, Unix nanoseconds.
    pub fn now_ns(&self) -> i128 {
        let sys = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        sys + i128::from(self.shift_ns)
    }

    /// Now, Unix microseconds.
    pub fn now_us(&self) -> u64 {
        (self.now_ns() / 1000).max(0) as u64
    }
}

/// One exchange with a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Round trip.
    pub rtt: Duration,
    /// The peer's wall clock in its answer, Unix ns.
    pub peer_ns: i128,
    /// The instant (this replica's) the peer's time is taken to be: the midpoint.
    pub mid: Instant,
    /// This replica's wall clock at `mid`, Unix ns (for the offset people read).
    pub mid_wall_ns: i128,
}

impl Sample {
    /// From an exchange sent at `t0` (wall `t0_wall_ns`), answered `peer_ns`, received at `t3`.
    pub fn new(t0: Instant, t0_wall_ns: i128, t3: Instant, peer_ns: i128) -> Sample {
        let rtt = t3.saturating_duration_since(t0);
        Sample {
            rtt,
            peer_ns,
            mid: t0 + rtt / 2,
            mid_wall_ns: t0_wall_ns + (rtt / 2).as_nanos() as i128,
        }
    }

    /// The peer's clock minus this replica's, ns.
    pub fn offset_ns(&self) -> i128 {
        self.peer_ns - self.mid_wall_ns
    }

    /// What the mapping can be wrong by: half the round trip.
    pub fn uncertainty(&self) -> Duration {
        self.rtt / 2
    }

    /// The instant (this replica's) at which the peer's clock read `peer_ns`.
    pub fn instant_of(&self, peer_ns: i128) -> Option<Instant> {
        let d = peer_ns - self.peer_ns;
        let abs = Duration::from_nanos(d.unsigned_abs().min(u128::from(u64::MAX)) as u64);
        if d >= 0 {
            self.mid.checked_add(abs)
        } else {
            self.mid.checked_sub(abs)
        }
    }
}

#[derive(Debug, Default)]
struct Peer {
    window: Mutex<VecDeque<Sample>>,
    samples: AtomicU64,
    failures: AtomicU64,
    relayed: AtomicU64,
    unconverted: AtomicU64,
    before_send: AtomicU64,
    /// Worst uncertainty used in a conversion, ns + 1 (0: none).
    worst_used: AtomicU64,
}

/// What this replica measured of its peers' clocks and converted with them.
#[derive(Debug)]
pub struct PeerClocks {
    me: u16,
    peers: Vec<Peer>,
}

/// One peer's clock as this replica measured it, and the relayed callbacks converted with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerClock {
    /// The peer's replica index.
    pub peer: u16,
    /// The peer's clock minus this replica's, ns (best sample of the window); `None`: never
    /// measured.
    pub offset_ns: Option<i64>,
    /// Half the best sample's round trip, ns.
    pub uncertainty_ns: Option<u64>,
    /// Exchanges that answered (a peer replica's MAC, its index).
    pub samples: u64,
    /// Exchanges that failed (no answer, not a peer replica).
    pub failures: u64,
    /// Callbacks the peer relayed here whose receipt time was converted with its clock.
    pub relayed: u64,
    /// Callbacks the peer relayed here before its clock was measured: timed on arrival here.
    pub unconverted: u64,
    /// Relayed callbacks whose converted receipt fell before their request was sent, by more
    /// than the conversion's uncertainty: impossible unless the conversion is wrong.
    pub before_send: u64,
    /// The worst uncertainty of a conversion made, ns (`None`: none made).
    pub worst_used_ns: Option<u64>,
}

impl PeerClocks {
    /// For replica `me` of `count`.
    pub fn new(me: u16, count: u16) -> PeerClocks {
        PeerClocks {
            me,
            peers: (0..count).map(|_| Peer::default()).collect(),
        }
    }

    fn peer(&self, i: u16) -> Option<&Peer> {
        (i != self.me)
            .then(|| self.peers.get(usize::from(i)))
            .flatten()
    }

    /// Samples taken of `peer` so far.
    pub fn samples(&self, peer: u16) -> u64 {
        self.peer(peer)
            .map_or(0, |p| p.samples.load(Ordering::Relaxed))
    }

    /// Records an exchange with `peer`.
    pub fn record(&self, peer: u16, s: Sample) {
        let Some(p) = self.peer(peer) else { return };
        let mut w = p.window.lock().unwrap_or_else(|e| e.into_inner());
        if w.len() == WINDOW {
            w.pop_front();
        }
        w.push_back(s);
        p.samples.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a failed exchange with `peer`.
    pub fn failed(&self, peer: u16) {
        if let Some(p) = self.peer(peer) {
            p.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The best sample of `peer`'s window (shortest round trip).
    pub fn best(&self, peer: u16) -> Option<Sample> {
        let p = self.peer(peer)?;
        let w = p.window.lock().unwrap_or_else(|e| e.into_inner());
        w.iter().min_by_key(|s| s.rtt).copied()
    }

    /// A callback relayed by `peer` with its receipt time `peer_ns` (the peer's clock): the
    /// instant it was received, on this replica's clock, never after `now`, and the
    /// conversion's uncertainty. `None` (counted) when `peer`'s clock was never measured.
    pub fn convert(&self, peer: u16, peer_ns: i128, now: Instant) -> Option<(Instant, Duration)> {
        let p = self.peer(peer)?;
        let Some(s) = self.best(peer) else {
            p.unconverted.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let at = s.instant_of(peer_ns).unwrap_or(now).min(now);
        let u = s.uncertainty();
        p.relayed.fetch_add(1, Ordering::Relaxed);
        p.worst_used
            .fetch_max(u.as_nanos() as u64 + 1, Ordering::Relaxed);
        Some((at, u))
    }

    /// A relayed callback of `peer` was converted to before its request was sent.
    pub fn before_send(&self, peer: u16) {
        if let Some(p) = self.peer(peer) {
            p.before_send.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every peer, in index order.
    pub fn snapshot(&self) -> Vec<PeerClock> {
        (0..self.peers.len() as u16)
            .filter_map(|i| {
                let p = self.peer(i)?;
                let best = self.best(i);
                let worst = p.worst_used.load(Ordering::Relaxed);
                Some(PeerClock {
                    peer: i,
                    offset_ns: best
                        .map(|s| s.offset_ns().clamp(i64::MIN.into(), i64::MAX.into()) as i64),
                    uncertainty_ns: best.map(|s| s.uncertainty().as_nanos() as u64),
                    samples: p.samples.load(Ordering::Relaxed),
                    failures: p.failures.load(Ordering::Relaxed),
                    relayed: p.relayed.load(Ordering::Relaxed),
                    unconverted: p.unconverted.load(Ordering::Relaxed),
                    before_send: p.before_send.load(Ordering::Relaxed),
                    worst_used_ns: (worst > 0).then(|| worst - 1),
                })
            })
            .collect()
    }
}

/// What a clock answer's MAC covers: the nonce, the answering replica, its time.
pub(crate) fn clock_mac_input(nonce: &str, replica: u16, unix_ns: &str) -> Vec<u8> {
    format!("perfbed clock\n{nonce}\n{replica}\n{unix_ns}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An exchange with a peer whose clock is `offset` ahead, with `out` and `back` one-way
    /// delays: the estimate is within half the round trip of the truth, whatever the offset
    /// and however lopsided the delays.
    #[test]
    fn an_exchange_bounds_the_offset_by_half_its_round_trip() {
        let base = Instant::now();
        let wall0: i128 = 1_700_000_000_000_000_000;
        for offset in [0i128, 2_000_000_000, -2_000_000_000, 123_456_789] {
            for (out, back) in [(1_000u64, 1_000u64), (5_000_000, 10), (10, 5_000_000)] {
                let t0 = base;
                let t_peer = t0 + Duration::from_nanos(out);
                let t3 = t_peer + Duration::from_nanos(back);
                // The peer reads its clock when the request arrives.
                let peer_ns = wall0 + out as i128 + offset;
                let s = Sample::new(t0, wall0, t3, peer_ns);
                let err = (s.offset_ns() - offset).unsigned_abs();
                assert!(
                    err <= s.uncertainty().as_nanos(),
                    "offset {offset}, delays {out}/{back}: error {err} ns > {:?}",
                    s.uncertainty()
                );
                // A receipt the peer stamped 3 ms after it answered maps to 3 ms after t_peer,
                // within the uncertainty.
                let at = s.instant_of(peer_ns + 3_000_000).unwrap();
                let truth = t_peer + Duration::from_millis(3);
                let diff = if at > truth { at - truth } else { truth - at };
                assert!(diff <= s.uncertainty(), "{diff:?} > {:?}", s.uncertainty());
            }
        }
    }

    #[test]
    fn the_best_sample_of_the_window_converts_and_unmeasured_peers_are_counted() {
        let clocks = PeerClocks::new(0, 3);
        let now = Instant::now();
        let t0 = now - Duration::from_secs(1);
        let wall: i128 = 1_700_000_000_000_000_000;
        // Peer 1 is 2 s ahead. A slow exchange (40 ms) and a fast one (2 ms).
        let slow = Sample::new(
            t0,
            wall,
            t0 + Duration::from_millis(40),
            wall + 2_000_000_000 + 35_000_000,
        );
        let fast = Sample::new(
            t0,
            wall,
            t0 + Duration::from_millis(2),
            wall + 2_000_000_000 + 1_000_000,
        );
        clocks.record(1, slow);
        clocks.record(1, fast);
        assert_eq!(clocks.best(1), Some(fast));
        // A relayed receipt 500 ms after the fast sample's midpoint, on the peer's clock.
        let (at, u) = clocks
            .convert(1, wall + 2_000_000_000 + 1_000_000 + 500_000_000, now)
            .unwrap();
        assert_eq!(u, Duration::from_millis(1));
        assert_eq!(at, fast.mid + Duration::from_millis(500));
        // Never after now.
        let (late, _) = clocks.convert(1, wall + 10_000_000_000_000, now).unwrap();
        assert_eq!(late, now);
        // Peer 2 was never measured: not converted, counted.
        assert!(clocks.convert(2, wall, now).is_none());
        // Itself is not a peer.
        assert!(clocks.convert(0, wall, now).is_none());
        let snap = clocks.snapshot();
        assert_eq!(snap.len(), 2);
        let p1 = snap[0];
        assert_eq!(
            (p1.peer, p1.samples, p1.relayed, p1.unconverted),
            (1, 2, 2, 0)
        );
        assert!((p1.offset_ns.unwrap() - 2_000_000_000).abs() <= 1_000_000);
        assert_eq!(p1.uncertainty_ns, Some(1_000_000));
        assert_eq!(p1.worst_used_ns, Some(1_000_000));
        let p2 = snap[1];
        assert_eq!(
            (p2.peer, p2.offset_ns, p2.unconverted, p2.relayed),
            (2, None, 1, 0)
        );
        // The window forgets: WINDOW slow samples push the fast one out.
        for _ in 0..WINDOW {
            clocks.record(1, slow);
        }
        assert_eq!(clocks.best(1), Some(slow));
    }
}
