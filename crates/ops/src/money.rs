//! Ledger amounts: exact, in 1/10,000 of the currency unit, the central-ledger's DECIMAL(18,4).

use std::fmt;

/// An amount in 1/10,000 units (DECIMAL(18,4)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(pub i128);

const SCALE: i128 = 10_000;

impl Money {
    /// Zero.
    pub const ZERO: Money = Money(0);

    /// Whole units.
    pub fn units(n: i64) -> Money {
        Money(n as i128 * SCALE)
    }

    /// Parses `-123.4567`, `1e7` (as JSON numbers print) or an integer.
    pub fn parse(s: &str) -> Option<Money> {
        let s = s.trim().trim_matches('"');
        if s.contains(['e', 'E']) {
            let f: f64 = s.parse().ok()?;
            if !f.is_finite() {
                return None;
            }
            return Some(Money((f * SCALE as f64).round() as i128));
        }
        let (neg, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || int.len() > 30
        {
            return None;
        }
        let mut v: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        v *= SCALE;
        let mut f = frac.to_owned();
        // Round half away from zero past 4 digits (the ledger's scale).
        let round_up = f.len() > 4 && f.as_bytes()[4] >= b'5';
        f.truncate(4);
        while f.len() < 4 {
            f.push('0');
        }
        v += f.parse::<i128>().ok()? + i128::from(round_up);
        Some(Money(if neg { -v } else { v }))
    }

    /// From a JSON value (number or string).
    pub fn from_json(v: &serde_json::Value) -> Option<Money> {
        match v {
            serde_json::Value::Number(n) => Money::parse(&n.to_string()),
            serde_json::Value::String(s) => Money::parse(s),
            _ => None,
        }
    }
}

impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, o: Money) -> Money {
        Money(self.0 + o.0)
    }
}

impl std::ops::Sub for Money {
    type Output = Money;
    fn sub(self, o: Money) -> Money {
        Money(self.0 - o.0)
    }
}

impl std::ops::Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl fmt::Display for Money {
    /// Canonical FSPIOP style: no trailing zeros, no trailing dot (`-12.5`, `100`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        let int = a / SCALE as u128;
        let frac = a % SCALE as u128;
        let s = if frac == 0 {
            format!("{sign}{int}")
        } else {
            let fs = format!("{frac:04}");
            format!("{sign}{int}.{}", fs.trim_end_matches('0'))
        };
        f.pad(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for (i, o) in [
            ("0", "0"),
            ("-10000000.0000", "-10000000"),
            ("123.45", "123.45"),
            ("1e7", "10000000"),
            ("-0.0001", "-0.0001"),
            ("0.00005", "0.0001"),
            ("42.", "42"),
        ] {
            assert_eq!(
                Money::parse(i).map(|m| m.to_string()).as_deref(),
                Some(o),
                "{i}"
            );
        }
        for bad in ["", "-", "1.2.3", "abc", "1,5", "nan"] {
            assert_eq!(Money::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Money::from_json(&serde_json::json!(-5.5)),
            Some(Money(-55_000))
        );
        assert_eq!(format!("{:>6}", Money::units(3)), "     3");
    }
}
