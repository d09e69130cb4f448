//! Added-latency distributions, shared by the simulator's behaviours and the hub emulator's
//! processing-latency knobs. Configured in milliseconds; TOML `{ dist = "fixed", ms = 5 }`.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// An added-latency distribution, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "dist", rename_all = "lowercase", deny_unknown_fields)]
pub enum Latency {
    /// No added latency.
    #[default]
    None,
    /// Always `ms`.
    Fixed {
        /// Milliseconds.
        ms: f64,
    },
    /// Uniform between `min_ms` and `max_ms`.
    Uniform {
        /// Lower bound.
        min_ms: f64,
        /// Upper bound.
        max_ms: f64,
    },
    /// Log-normal with the given median and shape (sigma of the underlying normal).
    Lognormal {
        /// Median in milliseconds.
        median_ms: f64,
        /// Shape; 0.5 is a moderately heavy tail.
        sigma: f64,
    },
}

impl Latency {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), String> {
        let ok = match self {
            Latency::None => true,
            Latency::Fixed { ms } => *ms >= 0.0,
            Latency::Uniform { min_ms, max_ms } => *min_ms >= 0.0 && max_ms >= min_ms,
            Latency::Lognormal { median_ms, sigma } => *median_ms > 0.0 && *sigma >= 0.0,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "invalid latency {self:?}: values must be ≥ 0, max ≥ min, median > 0"
            ))
        }
    }

    /// Draws one delay.
    pub fn sample(&self, rng: &mut impl rand::Rng) -> Duration {
        use rand_distr::Distribution;
        let ms = match self {
            Latency::None => return Duration::ZERO,
            Latency::Fixed { ms } => *ms,
            Latency::Uniform { min_ms, max_ms } => rng.random_range(*min_ms..=*max_ms),
            Latency::Lognormal { median_ms, sigma } => {
                rand_distr::LogNormal::new(median_ms.ln(), *sigma)
                    .map(|d| d.sample(rng))
                    .unwrap_or(*median_ms)
            }
        };
        Duration::from_secs_f64(ms.max(0.0) / 1000.0)
    }
}

impl std::str::FromStr for Latency {
    type Err = String;

    /// `5ms` or `fixed:5ms`, `uniform:2ms:20ms`, `lognormal:10ms:0.5` (median, sigma), `none`.
    fn from_str(s: &str) -> Result<Latency, String> {
        let ms = |t: &str| -> Result<f64, String> {
            parse_ms(t).ok_or_else(|| format!("'{t}' is not a duration like 5ms or 1.5s"))
        };
        let parts: Vec<&str> = s.split(':').collect();
        let l = match parts.as_slice() {
            ["none"] => Latency::None,
            [one] => Latency::Fixed { ms: ms(one)? },
            ["fixed", v] => Latency::Fixed { ms: ms(v)? },
            ["uniform", a, b] => Latency::Uniform {
                min_ms: ms(a)?,
                max_ms: ms(b)?,
            },
            ["lognormal", m, sigma] => Latency::Lognormal {
                median_ms: ms(m)?,
                sigma: sigma
                    .parse()
                    .map_err(|_| format!("sigma '{sigma}' is not a number"))?,
            },
            _ => {
                return Err(format!(
                    "'{s}': use 5ms, fixed:5ms, uniform:2ms:20ms or lognormal:10ms:0.5"
                ))
            }
        };
        l.validate()?;
        Ok(l)
    }
}

fn parse_ms(t: &str) -> Option<f64> {
    let i = t.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = t.split_at(i);
    let v: f64 = num.parse().ok()?;
    let factor = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        _ => return None,
    };
    (v >= 0.0).then_some(v * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_samples_stay_in_range() {
        let mut rng = rand::rng();
        let u = Latency::Uniform {
            min_ms: 2.0,
            max_ms: 4.0,
        };
        for _ in 0..1000 {
            let d = u.sample(&mut rng);
            assert!(d >= Duration::from_millis(2) && d <= Duration::from_millis(4));
        }
        assert_eq!(
            Latency::Fixed { ms: 3.0 }.sample(&mut rng),
            Duration::from_millis(3)
        );
        let l = Latency::Lognormal {
            median_ms: 10.0,
            sigma: 0.5,
        };
        let mut v: Vec<Duration> = (0..2001).map(|_| l.sample(&mut rng)).collect();
        v.sort();
        let median = v[1000].as_secs_f64() * 1000.0;
        assert!((7.0..14.0).contains(&median), "median {median}");
        assert!(Latency::Uniform {
            min_ms: 5.0,
            max_ms: 1.0
        }
        .validate()
        .is_err());
    }

    #[test]
    fn parses_flag_specs() {
        assert_eq!("5ms".parse::<Latency>(), Ok(Latency::Fixed { ms: 5.0 }));
        assert_eq!(
            "fixed:1.5s".parse::<Latency>(),
            Ok(Latency::Fixed { ms: 1500.0 })
        );
        assert_eq!(
            "uniform:2ms:20ms".parse::<Latency>(),
            Ok(Latency::Uniform {
                min_ms: 2.0,
                max_ms: 20.0
            })
        );
        assert_eq!(
            "lognormal:10ms:0.5".parse::<Latency>(),
            Ok(Latency::Lognormal {
                median_ms: 10.0,
                sigma: 0.5
            })
        );
        assert!("uniform:20ms:2ms".parse::<Latency>().is_err());
        assert!("5 parsecs".parse::<Latency>().is_err());
    }
}
