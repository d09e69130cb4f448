//! Serialized HDR histograms: every run writes `histograms.json` beside its report, so several
//! runs or driver replicas merge into one exact distribution (not an average of percentiles).
//!
//! Format: `{"version":1,"unit":"us","histograms":{"e2e": "<base64 of HDR V2 deflate>", …}}`,
//! keys `e2e`, `e2e_raw`, `lookup`, `quote`, `transfer`, `corridor:<payer→payee>`.
//! A stress run writes `stress-histograms.json`: a JSON array of such objects, one per stage
//! report in order ([`to_json_list`], [`from_json_list`]).

use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A named set of histograms (µs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistogramSet {
    /// By name.
    pub by_name: BTreeMap<String, Histogram<u64>>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    version: u32,
    unit: String,
    histograms: BTreeMap<String, String>,
}

/// A histograms file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    /// Not the JSON we write.
    #[error("not a perfbed histograms file: {0}")]
    Format(String),
    /// A histogram does not decode.
    #[error("histogram {0}: {1}")]
    Decode(String, String),
    /// Two histograms cannot be added.
    #[error("histogram {0}: {1}")]
    Merge(String, String),
}

impl HistogramSet {
    /// Serializes to the JSON file format.
    pub fn to_json(&self) -> Vec<u8> {
        let mut histograms = BTreeMap::new();
        for (name, h) in &self.by_name {
            let mut bytes = Vec::new();
            if V2DeflateSerializer::new().serialize(h, &mut bytes).is_ok() {
                histograms.insert(
                    name.clone(),
                    base64::engine::general_purpose::STANDARD.encode(bytes),
                );
            }
        }
        serde_json::to_vec_pretty(&Wire {
            version: 1,
            unit: "us".into(),
            histograms,
        })
        .unwrap_or_default()
    }

    /// Parses the JSON file format.
    pub fn from_json(bytes: &[u8]) -> Result<HistogramSet, HistogramError> {
        let wire: Wire =
            serde_json::from_slice(bytes).map_err(|e| HistogramError::Format(e.to_string()))?;
        if wire.version != 1 || wire.unit != "us" {
            return Err(HistogramError::Format(format!(
                "version {} unit {}",
                wire.version, wire.unit
            )));
        }
        let mut by_name = BTreeMap::new();
        for (name, b64) in wire.histograms {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| HistogramError::Decode(name.clone(), e.to_string()))?;
            let h: Histogram<u64> = Deserializer::new()
                .deserialize(&mut raw.as_slice())
                .map_err(|e| HistogramError::Decode(name.clone(), format!("{e:?}")))?;
            by_name.insert(name, h);
        }
        Ok(HistogramSet { by_name })
    }

    /// Adds another set into this one, histogram by histogram (exact).
    pub fn merge(&mut self, other: &HistogramSet) -> Result<(), HistogramError> {
        for (name, h) in &other.by_name {
            match self.by_name.get_mut(name) {
                Some(mine) => mine
                    .add(h)
                    .map_err(|e| HistogramError::Merge(name.clone(), format!("{e:?}")))?,
                None => {
                    self.by_name.insert(name.clone(), h.clone());
                }
            }
        }
        Ok(())
    }
}

/// Several sets as one JSON array (a stress run's stage reports, in order).
pub fn to_json_list<'a>(sets: impl IntoIterator<Item = &'a HistogramSet>) -> Vec<u8> {
    let mut out = b"[".to_vec();
    for (i, s) in sets.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend(s.to_json());
    }
    out.push(b']');
    out
}

/// Parses [`to_json_list`]'s array.
pub fn from_json_list(bytes: &[u8]) -> Result<Vec<HistogramSet>, HistogramError> {
    let items: Vec<serde_json::Value> =
        serde_json::from_slice(bytes).map_err(|e| HistogramError::Format(e.to_string()))?;
    items
        .iter()
        .map(|v| HistogramSet::from_json(v.to_string().as_bytes()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_list_of_sets_round_trips() {
        let mut a = HistogramSet::default();
        a.by_name.insert("e2e".into(), hist(&[1, 2, 3]));
        let b = HistogramSet::default();
        let back = from_json_list(&to_json_list([&a, &b])).unwrap();
        assert_eq!(back, vec![a, b]);
        assert!(from_json_list(b"{}").is_err());
    }

    fn hist(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in values {
            h.record(*v).unwrap();
        }
        h
    }

    proptest! {
        #[test]
        fn merge_of_parts_is_the_histogram_of_the_whole(values in prop::collection::vec(1u64..10_000_000, 1..400), cut in any::<prop::sample::Index>()) {
            let k = cut.index(values.len());
            let whole = hist(&values);
            let mut a = HistogramSet::default();
            a.by_name.insert("e2e".into(), hist(&values[..k]));
            let mut b = HistogramSet::default();
            b.by_name.insert("e2e".into(), hist(&values[k..]));
            // Through the file format, as replicas would.
            let mut merged = HistogramSet::from_json(&a.to_json()).unwrap();
            merged.merge(&HistogramSet::from_json(&b.to_json()).unwrap()).unwrap();
            let m = &merged.by_name["e2e"];
            prop_assert_eq!(m.len(), whole.len());
            for q in [0.5, 0.9, 0.95, 0.99, 1.0] {
                prop_assert_eq!(m.value_at_quantile(q), whole.value_at_quantile(q));
            }
            prop_assert_eq!(m, &whole);
        }

        #[test]
        fn percentiles_are_monotone(values in prop::collection::vec(1u64..10_000_000, 1..300)) {
            let h = hist(&values);
            let qs = [0.5, 0.9, 0.95, 0.99, 0.999, 1.0];
            let v: Vec<u64> = qs.iter().map(|q| h.value_at_quantile(*q)).collect();
            prop_assert!(v.windows(2).all(|w| w[0] <= w[1]));
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(HistogramSet::from_json(b"{}").is_err());
        assert!(
            HistogramSet::from_json(br#"{"version":1,"unit":"us","histograms":{"e2e":"!!"}}"#)
                .is_err()
        );
        assert!(HistogramSet::from_json(br#"{"version":2,"unit":"us","histograms":{}}"#).is_err());
    }
}
