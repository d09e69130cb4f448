//! A sub-millisecond timer inside the Tokio runtime, for the scheduler.
//!
//! Tokio's timer wheel has 1 ms ticks, so arrivals timed with `sleep_until` start up to a
//! millisecond late. On Linux this timer is a `timerfd` (a high-resolution kernel timer,
//! exact to microseconds) registered with Tokio's reactor: the scheduler task wakes when it
//! fires, on a worker thread, and the arrivals it spawns go on that worker's local queue — no
//! extra thread, no cross-thread wake-ups. Elsewhere it falls back to Tokio's timer.

use std::time::Duration;
use tokio::time::Instant;

/// A timerfd as Tokio's reactor wants it (`AsRawFd`).
#[cfg(target_os = "linux")]
#[derive(Debug)]
struct TimerFd(nix::sys::timerfd::TimerFd);

#[cfg(target_os = "linux")]
impl std::os::fd::AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.0.as_fd().as_raw_fd()
    }
}

/// A one-shot timer that can be re-armed.
#[derive(Debug)]
pub struct PreciseTimer {
    #[cfg(target_os = "linux")]
    fd: Option<tokio::io::unix::AsyncFd<TimerFd>>,
}

impl PreciseTimer {
    /// A timer; must be created inside a Tokio runtime with I/O enabled. If the kernel refuses a
    /// timerfd, it quietly uses Tokio's timer instead.
    pub fn new() -> PreciseTimer {
        #[cfg(target_os = "linux")]
        {
            use nix::sys::timerfd::{ClockId, TimerFlags};
            let fd = nix::sys::timerfd::TimerFd::new(
                ClockId::CLOCK_MONOTONIC,
                TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
            )
            .ok()
            // `AsyncFd::new` is deprecated because a caller could register a descriptor it does
            // not own; here the `AsyncFd` owns the `TimerFd`, which owns its descriptor and
            // never changes it, so the registration stays valid for the `AsyncFd`'s lifetime.
            .and_then(|fd| {
                #[allow(deprecated)]
                tokio::io::unix::AsyncFd::new(TimerFd(fd)).ok()
            });
            PreciseTimer { fd }
        }
        #[cfg(not(target_os = "linux"))]
        PreciseTimer {}
    }

    /// Sleeps until `at` (returns at once if it has passed).
    pub async fn sleep_until(&self, at: Instant) {
        let now = Instant::now();
        if at <= now {
            return;
        }
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            if Self::timerfd_sleep(fd, at - now).await.is_ok() {
                return;
            }
        }
        tokio::time::sleep_until(at).await;
    }

    #[cfg(target_os = "linux")]
    async fn timerfd_sleep(
        fd: &tokio::io::unix::AsyncFd<TimerFd>,
        d: Duration,
    ) -> std::io::Result<()> {
        use nix::sys::time::TimeSpec;
        use nix::sys::timerfd::{Expiration, TimerSetTimeFlags};
        fd.get_ref()
            .0
            .set(
                Expiration::OneShot(TimeSpec::from_duration(d)),
                TimerSetTimeFlags::empty(),
            )
            .map_err(std::io::Error::from)?;
        loop {
            let mut ready = fd.readable().await?;
            // Reading the expiry count clears it; EAGAIN (not expired yet) clears readiness.
            match ready.try_io(|fd| fd.get_ref().0.wait().map_err(std::io::Error::from)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}

impl Default for PreciseTimer {
    fn default() -> Self {
        PreciseTimer::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sleeps_at_least_until_the_deadline_and_returns_at_once_for_the_past() {
        let t = PreciseTimer::new();
        for us in [50u64, 300, 2_000] {
            let at = Instant::now() + Duration::from_micros(us);
            t.sleep_until(at).await;
            assert!(Instant::now() >= at, "woke before the deadline ({us} µs)");
        }
        let before = Instant::now();
        t.sleep_until(before - Duration::from_millis(5)).await;
        // A deadline in the past never waits for a timer tick (no timing assertion beyond
        // "not a whole second", which only a hang would break).
        assert!(before.elapsed() < Duration::from_secs(1));
    }
}
