//! Latency attribution: W3C `traceparent` on every payer request, and a `tracestate` entry
//! `perfbed=s:<sent>;r:<payee received>;c:<callback sent>` (Unix microseconds). The payer stamps
//! `s`, the payee adds `r` and `c` to its callback, the hub carries both headers through (the
//! emulator does; Mojaloop's services propagate trace context), and the payer, receiving the
//! callback at `t`, splits the phase: switch inbound `r − s`, simulator `c − r`, switch outbound
//! `t − c`. `s` and `c` are stamped after signing, as the request leaves, so RSA signing counts
//! as simulator time (the payee's) or as neither (the payer's own signing, which the driver's
//! phase includes and the three parts do not). Across machines, clock offsets move time between
//! the switch legs (keep clocks in sync, as the hub's `completedTimestamp` check asks).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `traceparent` header.
pub const TRACEPARENT: &str = "traceparent";
/// `tracestate` header.
pub const TRACESTATE: &str = "tracestate";
const KEY: &str = "perfbed=";

/// Now, Unix microseconds.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A fresh `traceparent` (version 00, random trace and span ids, sampled).
pub fn new_traceparent() -> String {
    let (t, s): (u128, u64) = (rand::random(), rand::random());
    format!("00-{:032x}-{:016x}-01", t.max(1), s.max(1))
}

/// The trace id of a `traceparent` value (`00-<32 hex>-<16 hex>-<2 hex>`); `None` when it is
/// malformed or the all-zero (invalid) id.
pub fn trace_id(traceparent: &str) -> Option<u128> {
    let mut parts = traceparent.trim().split('-');
    let (_version, id) = (parts.next()?, parts.next()?);
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(id, 16).ok().filter(|t| *t != 0)
}

/// The timestamps a message has collected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stamps {
    /// Payer sent the request.
    pub sent: u64,
    /// Payee received it.
    pub payee_in: Option<u64>,
    /// Payee sent its callback.
    pub payee_out: Option<u64>,
}

impl Stamps {
    /// The `perfbed=` list member.
    pub fn entry(&self) -> String {
        let mut s = format!("{KEY}s:{}", self.sent);
        if let Some(r) = self.payee_in {
            s.push_str(&format!(";r:{r}"));
        }
        if let Some(c) = self.payee_out {
            s.push_str(&format!(";c:{c}"));
        }
        s
    }

    /// Our entry in a `tracestate` value, if there is one.
    pub fn parse(tracestate: &str) -> Option<Stamps> {
        let entry = tracestate
            .split(',')
            .map(str::trim)
            .find_map(|m| m.strip_prefix(KEY))?;
        let mut st = Stamps::default();
        let mut sent = None;
        for kv in entry.split(';') {
            let (k, v) = kv.split_once(':')?;
            let v: u64 = v.parse().ok()?;
            match k {
                "s" => sent = Some(v),
                "r" => st.payee_in = Some(v),
                "c" => st.payee_out = Some(v),
                _ => {}
            }
        }
        st.sent = sent?;
        Some(st)
    }

    /// A `tracestate` value with our entry first and the other vendors' kept (at most 32).
    pub fn merge_into(&self, tracestate: Option<&str>) -> String {
        let mut members = vec![self.entry()];
        if let Some(ts) = tracestate {
            members.extend(
                ts.split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty() && !m.starts_with(KEY))
                    .take(31)
                    .map(str::to_owned),
            );
        }
        members.join(",")
    }

    /// The split of a phase whose callback arrived at `received` (Unix µs), when the payee
    /// stamped it.
    pub fn split(&self, received: u64) -> Option<Split> {
        let (r, c) = (self.payee_in?, self.payee_out?);
        let us = |a: u64, b: u64| Duration::from_micros(b.saturating_sub(a));
        Some(Split {
            switch_in: us(self.sent, r),
            simulator: us(r, c),
            switch_out: us(c, received),
        })
    }
}

/// Where one phase's time went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Split {
    /// Payer's request through the switch to the payee.
    pub switch_in: Duration,
    /// Inside the payee simulator (receipt to callback sent, injected latency included).
    pub simulator: Duration,
    /// The callback through the switch back to the payer.
    pub switch_out: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_split() {
        let s = Stamps {
            sent: 1_000,
            payee_in: Some(1_250),
            payee_out: Some(1_900),
        };
        let ts = s.merge_into(Some("congo=t61rcWkgMzE, perfbed=s:1"));
        assert_eq!(ts, "perfbed=s:1000;r:1250;c:1900,congo=t61rcWkgMzE");
        assert_eq!(Stamps::parse(&ts), Some(s));
        let split = s.split(2_000).unwrap();
        assert_eq!(split.switch_in, Duration::from_micros(250));
        assert_eq!(split.simulator, Duration::from_micros(650));
        assert_eq!(split.switch_out, Duration::from_micros(100));
        assert_eq!(
            split.switch_in + split.simulator + split.switch_out,
            Duration::from_micros(1_000),
            "adds up to the phase"
        );
        assert_eq!(
            Stamps {
                payee_out: None,
                ..s
            }
            .split(2_000),
            None
        );
        assert_eq!(Stamps::parse("other=1"), None);
        assert_eq!(Stamps::parse("perfbed=r:5"), None, "no send time");
        let tp = new_traceparent();
        assert_eq!(tp.len(), 55);
        assert!(tp.starts_with("00-") && tp.ends_with("-01"));
        assert_eq!(
            trace_id("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            Some(0x0af7651916cd43dd8448eb211c80319c)
        );
        assert_eq!(
            trace_id("00-00000000000000000000000000000000-b7ad6b7169203331-01"),
            None
        );
        assert_eq!(trace_id("00-xyz-b7ad6b7169203331-01"), None);
        assert_eq!(trace_id(""), None);
    }
}
