//! The open-model arrival schedule: arrival times follow the stages whatever the system does.
//!
//! A constant stage at rate r over d seconds has ⌊r·d⌋ arrivals at k/r. A ramp from r0 to r1
//! over d has N(t) = r0·t + (r1 − r0)·t²/(2d) arrivals by time t, the k-th at N(t) = k.
//! Fractional arrivals carry over between stages, so the total is ⌊Σ expected⌋.

use std::time::Duration;

use crate::scenario::Stage;

/// Offsets from the start of the run at which iterations must begin, in order (all of them;
/// the driver uses [`Arrivals`], which computes them one at a time).
pub fn arrivals(stages: &[Stage]) -> Vec<Duration> {
    Arrivals::new(stages).collect()
}

/// The arrival offsets as a lazy iterator: constant memory whatever the run's length (a 2-hour
/// run at 5,000/s has 36 million arrivals, 576 MB as a list).
#[derive(Debug, Clone)]
pub struct Arrivals {
    stages: Vec<Stage>,
    /// The stage being walked.
    stage: usize,
    /// Start of that stage, seconds.
    t0: f64,
    /// Rate at the end of the previous stage (where a ramp starts).
    prev_rate: f64,
    /// Arrivals owed from earlier stages (fractional).
    carried: f64,
    /// The next arrival is when the cumulative count reaches this (1-based).
    next: f64,
}

impl Arrivals {
    /// The schedule of `stages`.
    pub fn new(stages: &[Stage]) -> Arrivals {
        Arrivals {
            stages: stages.to_vec(),
            stage: 0,
            t0: 0.0,
            prev_rate: 0.0,
            carried: 0.0,
            next: 1.0,
        }
    }
}

impl Arrivals {
    /// The stage (index into the stages) of the arrival [`Iterator::next`] returned last.
    pub fn stage(&self) -> usize {
        self.stage
    }
}

impl Iterator for Arrivals {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        while let Some(s) = self.stages.get(self.stage) {
            let d = s.duration.as_secs_f64();
            let (r0, r1) = if s.ramp {
                (self.prev_rate, s.rate)
            } else {
                (s.rate, s.rate)
            };
            let total = r0 * d + (r1 - r0) * d * d / (2.0 * d); // N(d)
            if self.next <= self.carried + total + 1e-9 {
                // Solve n(t) = next - 1 - carried for t in [0, d]: arrivals start at t = 0.
                let want = self.next - 1.0 - self.carried;
                let t = if (r1 - r0).abs() < 1e-12 {
                    if r0 > 0.0 {
                        want / r0
                    } else {
                        d
                    }
                } else {
                    let a = (r1 - r0) / (2.0 * d);
                    let disc = (r0 * r0 + 4.0 * a * want).max(0.0);
                    (-r0 + disc.sqrt()) / (2.0 * a)
                };
                self.next += 1.0;
                return Some(Duration::from_secs_f64(self.t0 + t.clamp(0.0, d)));
            }
            self.carried += total;
            self.t0 += d;
            self.prev_rate = s.rate;
            self.stage += 1;
        }
        None
    }
}

/// The schedule's target rate at offset `t` (for the report's per-second timeline).
pub fn rate_at(stages: &[Stage], t: Duration) -> f64 {
    let mut t0 = Duration::ZERO;
    let mut prev = 0.0;
    for s in stages {
        if t < t0 + s.duration {
            if !s.ramp {
                return s.rate;
            }
            let f = (t - t0).as_secs_f64() / s.duration.as_secs_f64();
            return prev + (s.rate - prev) * f;
        }
        t0 += s.duration;
        prev = s.rate;
    }
    prev
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stage(rate: f64, secs: f64, ramp: bool) -> Stage {
        Stage {
            rate,
            duration: Duration::from_secs_f64(secs),
            ramp,
        }
    }

    #[test]
    fn constant_rate_is_evenly_spaced() {
        let a = arrivals(&[stage(4.0, 2.0, false)]);
        let ms: Vec<u128> = a.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![0, 250, 500, 750, 1000, 1250, 1500, 1750]);
    }

    #[test]
    fn ramp_accelerates() {
        let a = arrivals(&[stage(0.0, 1.0, false), stage(100.0, 10.0, true)]);
        assert_eq!(a.len(), 500, "area of the ramp: 100/2 × 10");
        let first_half = a.iter().filter(|d| d.as_secs_f64() < 6.0).count();
        assert!(first_half < 150, "{first_half}");
    }

    #[test]
    fn the_iterator_is_lazy_and_ends_exactly() {
        // 36 million arrivals: the first few come at once, without a 576 MB list behind them.
        let mut it = Arrivals::new(&[stage(5000.0, 7200.0, false)]);
        let first: Vec<u128> = it.by_ref().take(3).map(|d| d.as_micros()).collect();
        assert_eq!(first, vec![0, 200, 400]);
        assert!(std::mem::size_of_val(&it) < 256);
        // It ends after the last arrival and stays ended.
        let mut short = Arrivals::new(&[stage(2.0, 1.0, false), stage(0.0, 1.0, false)]);
        assert_eq!(short.by_ref().count(), 2);
        assert_eq!(short.next(), None);
    }

    proptest! {
        #[test]
        fn exactly_rate_times_duration_arrivals_and_no_drift(rate in 0.5f64..5000.0, secs in 1u64..20) {
            let a = arrivals(&[stage(rate, secs as f64, false)]);
            let expected = (rate * secs as f64 + 1e-9).floor() as usize;
            prop_assert_eq!(a.len(), expected);
            prop_assert!(a.windows(2).all(|w| w[0] <= w[1]));
            // No drift: the k-th arrival is at k/rate.
            for (k, t) in a.iter().enumerate().step_by(97) {
                prop_assert!((t.as_secs_f64() - k as f64 / rate).abs() < 1e-6);
            }
            prop_assert!(a.last().is_none_or(|t| t.as_secs_f64() < secs as f64));
        }

        #[test]
        fn stages_add_up(r1 in 1.0f64..500.0, r2 in 1.0f64..500.0, d1 in 1u64..10, d2 in 1u64..10, ramp in any::<bool>()) {
            let st = [stage(r1, d1 as f64, false), stage(r2, d2 as f64, ramp)];
            let a = arrivals(&st);
            let second = if ramp { (r1 + r2) / 2.0 * d2 as f64 } else { r2 * d2 as f64 };
            let expected = (r1 * d1 as f64 + second + 1e-6).floor() as usize;
            prop_assert!((a.len() as i64 - expected as i64).abs() <= 1, "{} vs {}", a.len(), expected);
            prop_assert!(a.windows(2).all(|w| w[0] <= w[1]));
        }
    }
}
