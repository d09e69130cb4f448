//! The driver's admission control: how many iterations may be in flight at once.
//!
//! The scenario gives a ceiling, the **budget** ([`Scenario::in_flight_budget`]: Little's law on
//! the latency limit). Under it, an adaptive **limit** follows the latency of what the driver
//! itself sent: every window (≥ [`WINDOW`] and ≥ [`MIN_SAMPLES`] ended iterations that
//! *started after the limit last moved*), the window's median latency is compared with the
//! scenario's target (half its p99 limit: a run whose median stays above it misses the p99
//! limit anyway, so the limit does not bind in a run that would otherwise pass):
//!
//! - median above the target → the limit drops to 80 % of what was really in flight (never
//!   below [`FLOOR`]): the system under test is queueing, and more work in flight only makes
//!   every transfer slower and dearer (more connections, more memory, less cache);
//! - median under half the target while the limit refused arrivals → the limit grows by an
//!   eighth (never above the budget).
//!
//! It reacts to sustained latency, not to single slow transfers: a median over a window of
//! fresh iterations. At a rate the system keeps up with, latency is far below the target and
//! the in-flight count far below the floor, so the limit never binds; it only binds when the
//! system is saturated, where it keeps the queue short and the throughput at the capacity.
//! A scenario with `max_in_flight` gets exactly that, fixed.
//!
//! [`Scenario::in_flight_budget`]: crate::Scenario::in_flight_budget

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The limit never goes below this (nor below the budget, when the budget is smaller).
pub const FLOOR: usize = 256;
/// The shortest window judged.
pub const WINDOW: Duration = Duration::from_millis(100);
/// The fewest ended iterations judged in a window.
pub const MIN_SAMPLES: usize = 16;

/// The limit the scheduler reads; shared between the scheduler and the aggregator.
#[derive(Debug)]
pub struct Limit {
    now: AtomicUsize,
    refused: AtomicU64,
}

impl Limit {
    /// A limit starting at `budget`.
    pub fn new(budget: usize) -> Limit {
        Limit {
            now: AtomicUsize::new(budget.max(1)),
            refused: AtomicU64::new(0),
        }
    }

    /// The current limit.
    pub fn get(&self) -> usize {
        self.now.load(Ordering::Relaxed)
    }

    /// The scheduler refused an arrival at the limit.
    pub fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    fn set(&self, n: usize) {
        self.now.store(n, Ordering::Relaxed);
    }

    fn refusals(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// Moves the [`Limit`] from the latencies of ended iterations. Lives with the aggregator
/// (one owner, no lock).
#[derive(Debug)]
pub struct Controller {
    budget: usize,
    floor: usize,
    target: Duration,
    adaptive: bool,
    /// Latencies (µs) of the window's iterations that started after `epoch`.
    window: Vec<u32>,
    window_start: Instant,
    /// When the limit last moved: iterations that started before saw the old limit.
    epoch: Instant,
    refusals_at_window_start: u64,
    low: usize,
    cuts: u32,
}

impl Controller {
    /// A controller for `budget` aiming at `target` median latency; `adaptive: false` keeps
    /// the limit at the budget (a scenario's explicit `max_in_flight`).
    pub fn new(budget: usize, target: Duration, adaptive: bool, now: Instant) -> Controller {
        let budget = budget.max(1);
        Controller {
            budget,
            floor: FLOOR.min(budget),
            target,
            adaptive,
            window: Vec::with_capacity(1024),
            window_start: now,
            epoch: now,
            refusals_at_window_start: 0,
            low: budget,
            cuts: 0,
        }
    }

    /// An iteration that was sent ended: it started at `started` and took `latency`; `flying`
    /// are in flight now. Moves `limit` when a window is complete.
    pub fn ended(
        &mut self,
        limit: &Limit,
        started: Instant,
        latency: Duration,
        flying: usize,
        now: Instant,
    ) {
        if !self.adaptive {
            return;
        }
        if started >= self.epoch {
            self.window
                .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
        }
        if now.saturating_duration_since(self.window_start) < WINDOW
            || self.window.len() < MIN_SAMPLES
        {
            return;
        }
        let mid = self.window.len() / 2;
        let median = Duration::from_micros(u64::from(*self.window.select_nth_unstable(mid).1));
        let refused = limit.refusals() > self.refusals_at_window_start;
        let current = limit.get();
        let next = if median > self.target {
            // Cut from what was really in flight, or a limit far above it would take many
            // windows to bind.
            ((current.min(flying.max(1)) as f64 * 0.8) as usize).max(self.floor)
        } else if refused && median < self.target / 2 {
            (current + current / 8 + 1).min(self.budget)
        } else {
            current
        };
        if next != current {
            if next < current {
                self.cuts += 1;
            }
            limit.set(next);
            self.low = self.low.min(next);
            self.epoch = now;
        }
        self.window.clear();
        self.window_start = now;
        self.refusals_at_window_start = limit.refusals();
    }

    /// The lowest the limit went.
    pub fn low(&self) -> usize {
        self.low
    }

    /// How many times the limit was cut.
    pub fn cuts(&self) -> u32 {
        self.cuts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Feeds `n` iterations that started at `t` and took `lat`, ending `WINDOW` later.
    fn feed(c: &mut Controller, l: &Limit, t: Instant, lat: Duration, n: usize, flying: usize) {
        for _ in 0..n {
            c.ended(l, t, lat, flying, t + WINDOW + MS);
        }
    }

    #[test]
    fn a_system_that_keeps_up_never_moves_the_limit() {
        let t0 = Instant::now();
        let l = Limit::new(6_740);
        let mut c = Controller::new(6_740, 125 * MS, true, t0);
        for i in 0..100u32 {
            let t = t0 + WINDOW * (i + 1) + MS;
            // A slow one now and then (up to 900 ms) must not cut: the median decides.
            for k in 0..50 {
                let lat = if k % 10 == 0 { 900 * MS } else { 3 * MS };
                c.ended(&l, t, lat, 20, t + WINDOW + MS);
            }
        }
        assert_eq!(l.get(), 6_740);
        assert_eq!(c.cuts(), 0);
    }

    #[test]
    fn sustained_latency_cuts_to_what_was_in_flight_then_to_the_floor() {
        let t0 = Instant::now();
        let l = Limit::new(6_740);
        let mut c = Controller::new(6_740, 125 * MS, true, t0);
        feed(&mut c, &l, t0 + MS, 900 * MS, 20, 3_000);
        assert_eq!(l.get(), 2_400, "80 % of the 3,000 in flight");
        // Iterations that started before the cut do not count again.
        let t1 = t0 + WINDOW + MS;
        for _ in 0..40 {
            c.ended(&l, t0 + MS, 900 * MS, 2_400, t1 + WINDOW * 2);
        }
        assert_eq!(l.get(), 2_400);
        let mut t = t1 + MS;
        for _ in 0..30 {
            feed(&mut c, &l, t, 400 * MS, 20, l.get());
            t += WINDOW + 2 * MS;
        }
        assert_eq!(l.get(), FLOOR);
        assert_eq!(c.low(), FLOOR);
    }

    #[test]
    fn the_limit_grows_back_only_when_it_refused_and_latency_is_low() {
        let t0 = Instant::now();
        let l = Limit::new(1_000);
        let mut c = Controller::new(1_000, 125 * MS, true, t0);
        feed(&mut c, &l, t0 + MS, 900 * MS, 20, 500);
        assert_eq!(l.get(), 400);
        let mut t = t0 + WINDOW + 2 * MS;
        // Fast, but nothing refused: no reason to grow.
        feed(&mut c, &l, t, 5 * MS, 20, 100);
        assert_eq!(l.get(), 400);
        for _ in 0..40 {
            t += WINDOW + 2 * MS;
            l.refused();
            feed(&mut c, &l, t, 5 * MS, 20, l.get());
        }
        assert_eq!(l.get(), 1_000, "back to the budget, never above");
    }

    #[test]
    fn fixed_when_the_scenario_sets_max_in_flight() {
        let t0 = Instant::now();
        let l = Limit::new(300);
        let mut c = Controller::new(300, 125 * MS, false, t0);
        feed(&mut c, &l, t0 + MS, 9_000 * MS, 100, 300);
        assert_eq!(l.get(), 300);
    }
}
