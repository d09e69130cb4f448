//! The switch's own view of a run: its Prometheus histograms, per leg, over a window.
//!
//! Two sources give the same thing, a snapshot of every histogram series at an instant:
//! - the services' `/metrics` endpoints, scraped directly ([`scrape`]; a laptop user);
//! - a Prometheus server's HTTP API, a range query over the window ([`query_prometheus`]; a
//!   cluster user, whose ServiceMonitors feed it).
//!
//! [`delta_chain`] takes the snapshots from the window's start to its end and gives per leg the
//! observations made between them, bucket by bucket, handling counter resets (a series
//! smaller than before counts from zero again) and series that appeared (first observed
//! inside the window: counted from zero) or vanished (their process went away: nothing
//! counted, said). [`Buckets::quantile`] reads a percentile off the buckets: the upper edge
//! (`le`) of the bucket where the rank falls, an upper bound at bucket resolution.
//!
//! [`KNOWN_LEGS`] is the one table of the Mojaloop histograms perfbed knows by name.

use bytes::Bytes;
use perfbed_http::{ClientOptions, HttpClient};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

/// Where an entry of [`KNOWN_LEGS`] was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Seen on the running service (`crates/cli/tests/realhub.rs` checks it on every run).
    Running,
    /// Read from the service's source only (metric name, prefix from its `config/default.json`).
    Source,
}

/// One histogram the switch exposes and what it measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownLeg {
    /// Which service exposes it.
    pub service: &'static str,
    /// The histogram's full name (prefix included), without `_bucket`.
    pub metric: &'static str,
    /// What the leg is.
    pub what: &'static str,
    /// The perfbed phase it belongs to, and which side of perfbed's attribution
    /// (`transfer · switch in`).
    pub phase: &'static str,
    /// Where the entry was checked.
    pub verified: Verified,
}

const fn leg(
    service: &'static str,
    metric: &'static str,
    what: &'static str,
    phase: &'static str,
    verified: Verified,
) -> KnownLeg {
    KnownLeg {
        service,
        metric,
        what,
        phase,
        verified,
    }
}

/// The Mojaloop histograms perfbed shows by default (prefixes from each service's
/// `config/default.json`: `moja_cl_`, `moja_ml_`, `moja_als_`, `moja_qs_`), and the hub
/// emulator's own (`perfbed_hub_`). Others can be added by name in the testbed file.
pub const KNOWN_LEGS: &[KnownLeg] = &[
    // ml-api-adapter (from source: src/shared/constants.js PROM_METRICS, handlers/notification).
    leg(
        "ml-api-adapter",
        "moja_ml_ml_transfer_prepare",
        "POST /transfers accepted and produced to the prepare topic",
        "transfer · switch in",
        Verified::Source,
    ),
    leg(
        "ml-api-adapter",
        "moja_ml_ml_transfer_fulfil",
        "PUT /transfers/{id} accepted and produced to the fulfil topic",
        "transfer · switch in",
        Verified::Source,
    ),
    leg(
        "ml-api-adapter",
        "moja_ml_notification_event_delivery",
        "a notification (callback) sent to an FSP",
        "transfer · switch out",
        Verified::Source,
    ),
    // central-ledger handlers (npm 19.5.5; checked running by the realhub test).
    leg(
        "central-ledger",
        "moja_cl_transfer_prepare",
        "prepare handler: a prepare consumed, validated, passed to the position topic",
        "transfer · switch in",
        Verified::Running,
    ),
    leg(
        "central-ledger",
        "moja_cl_transfer_position",
        "position handler: a position reserved (prepare) or committed (fulfil)",
        "transfer · switch in/out",
        Verified::Running,
    ),
    leg(
        "central-ledger",
        "moja_cl_transfer_fulfil",
        "fulfil handler: a fulfil consumed, checked, passed to the position topic",
        "transfer · switch out",
        Verified::Running,
    ),
    // account-lookup-service (from source: src/domain, src/api handlers).
    leg(
        "account-lookup-service",
        "moja_als_ing_getPartiesByTypeAndID",
        "GET /parties ingress",
        "lookup · switch in",
        Verified::Source,
    ),
    leg(
        "account-lookup-service",
        "moja_als_ing_putPartiesByTypeAndID",
        "PUT /parties callback ingress",
        "lookup · switch out",
        Verified::Source,
    ),
    leg(
        "account-lookup-service",
        "moja_als_egress_oracleRequest",
        "a request to the oracle",
        "lookup · switch in",
        Verified::Source,
    ),
    // quoting-service (from source: src/api/quotes.js, src/api/quotes/{id}.js).
    leg(
        "quoting-service",
        "moja_qs_quotes_post",
        "POST /quotes ingress",
        "quote · switch in",
        Verified::Source,
    ),
    leg(
        "quoting-service",
        "moja_qs_quotes_id_put",
        "PUT /quotes/{id} callback ingress",
        "quote · switch out",
        Verified::Source,
    ),
    // perfbed's hub emulator (crates/hub/src/metrics.rs).
    leg(
        "hub-emulator",
        "perfbed_hub_transfer_prepare",
        "a prepare from its arrival to the reservation (and the forward queued)",
        "transfer · switch in",
        Verified::Running,
    ),
    leg(
        "hub-emulator",
        "perfbed_hub_transfer_fulfil",
        "a fulfil from its arrival to the commit (and the notifications queued)",
        "transfer · switch out",
        Verified::Running,
    ),
];

/// The known leg of this name, if any.
pub fn known(metric: &str) -> Option<&'static KnownLeg> {
    KNOWN_LEGS.iter().find(|l| l.metric == metric)
}

/// One histogram series: its labels (without `le`) and cumulative bucket counts by edge.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Labels, sorted.
    pub labels: BTreeMap<String, String>,
    /// (`le`, cumulative count), edges ascending, `+Inf` last.
    pub buckets: Vec<(f64, f64)>,
}

impl Series {
    /// The series' total (its `+Inf` bucket).
    pub fn count(&self) -> f64 {
        self.buckets.last().map_or(0.0, |b| b.1)
    }
}

/// Every histogram of one exposition: name → series.
pub type Histograms = BTreeMap<String, Vec<Series>>;

/// Parses the Prometheus (or OpenMetrics) text format; keeps the histograms.
pub fn parse(text: &str) -> Result<Histograms, String> {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).map_err(|e| e.to_string())?;
    let mut out = Histograms::new();
    for s in scrape.samples {
        if let prometheus_parse::Value::Histogram(counts) = s.value {
            let mut buckets: Vec<(f64, f64)> =
                counts.iter().map(|c| (c.less_than, c.count)).collect();
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            let labels: BTreeMap<String, String> = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            out.entry(s.metric)
                .or_default()
                .push(Series { labels, buckets });
        }
    }
    Ok(out)
}

/// Bucket counts over a window (not cumulative-by-time: observations made inside it),
/// cumulative by edge like Prometheus buckets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets {
    /// (`le`, cumulative count), ascending, `+Inf` last.
    pub edges: Vec<(f64, u64)>,
}

impl Buckets {
    /// Observations.
    pub fn count(&self) -> u64 {
        self.edges.last().map_or(0, |e| e.1)
    }

    /// The `q` quantile's upper bound: the `le` of the first bucket holding the rank
    /// `ceil(q × count)`; `Some(f64::INFINITY)` when it falls beyond the last finite edge,
    /// `None` without observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        self.edges.iter().find(|e| e.1 >= rank).map(|e| e.0)
    }

    fn add(&mut self, other: &[(f64, u64)]) -> Result<(), String> {
        if other.is_empty() {
            return Ok(());
        }
        if self.edges.is_empty() {
            self.edges = other.to_vec();
            return Ok(());
        }
        if self.edges.len() != other.len() || self.edges.iter().zip(other).any(|(a, b)| a.0 != b.0)
        {
            return Err("its series have different bucket edges".into());
        }
        for (a, b) in self.edges.iter_mut().zip(other) {
            a.1 += b.1;
        }
        Ok(())
    }
}

/// One leg over a window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LegDelta {
    /// All series together.
    pub all: Buckets,
    /// Observations by the value of the `success` label (`true`/`false`; `-` when a series
    /// has none).
    pub by_success: BTreeMap<String, u64>,
    /// Series whose counts went down (the process restarted): counted from zero.
    pub resets: usize,
    /// Series absent at the start (first observed inside the window): counted from zero.
    pub appeared: usize,
    /// Series present at the start and gone at the end: nothing counted for them.
    pub vanished: usize,
    /// Why the buckets could not be added up, if so.
    pub error: Option<String>,
}

fn key(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The observations of one histogram between two snapshots of it (`start` absent: the
/// histogram did not exist yet, every series counts from zero).
pub fn delta(start: Option<&[Series]>, end: &[Series]) -> LegDelta {
    let before: BTreeMap<String, &Series> = start
        .unwrap_or_default()
        .iter()
        .map(|s| (key(&s.labels), s))
        .collect();
    let mut d = LegDelta::default();
    let mut seen = BTreeSet::new();
    for s in end {
        let k = key(&s.labels);
        seen.insert(k.clone());
        let edges: Vec<(f64, u64)> = match before.get(&k) {
            None => {
                d.appeared += 1;
                s.buckets.iter().map(|b| (b.0, b.1 as u64)).collect()
            }
            Some(b) => {
                let went_down = b.buckets.len() != s.buckets.len()
                    || b.buckets.iter().zip(&s.buckets).any(|(x, y)| y.1 < x.1);
                if went_down {
                    d.resets += 1;
                    s.buckets.iter().map(|b| (b.0, b.1 as u64)).collect()
                } else {
                    b.buckets
                        .iter()
                        .zip(&s.buckets)
                        .map(|(x, y)| (y.0, (y.1 - x.1) as u64))
                        .collect()
                }
            }
        };
        let n = edges.last().map_or(0, |e| e.1);
        let success = s
            .labels
            .get("success")
            .cloned()
            .unwrap_or_else(|| "-".into());
        *d.by_success.entry(success).or_default() += n;
        if let Err(e) = d.all.add(&edges) {
            d.error.get_or_insert(e);
        }
    }
    d.vanished = before.keys().filter(|k| !seen.contains(*k)).count();
    d
}

/// The observations of one histogram over a chain of snapshots (oldest first; an empty slice:
/// the histogram was not there): the sum of each step's [`delta`], so a process that restarted
/// between two snapshots loses only what it observed before going away.
pub fn delta_chain(snapshots: &[&[Series]]) -> LegDelta {
    let mut d = LegDelta::default();
    for w in snapshots.windows(2) {
        let step = delta(Some(w[0]), w[1]);
        if let Err(e) = d.all.add(&step.all.edges) {
            d.error.get_or_insert(e);
        }
        for (k, n) in step.by_success {
            *d.by_success.entry(k).or_default() += n;
        }
        d.resets += step.resets;
        d.appeared += step.appeared;
        d.vanished += step.vanished;
        if let Some(e) = step.error {
            d.error.get_or_insert(e);
        }
    }
    d
}

/// A client for scrapes and queries (plain HTTP, 5 s).
pub fn client() -> HttpClient {
    HttpClient::new(ClientOptions::default())
}

async fn get(client: &HttpClient, url: &str) -> Result<Bytes, String> {
    let req = http::Request::builder()
        .uri(url)
        .header("accept", "text/plain, application/json")
        .body(http_body_util::Full::new(Bytes::new()))
        .map_err(|e| format!("{url}: {e}"))?;
    let resp = client
        .send_within(req, Duration::from_secs(5))
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("{url}: HTTP {}", resp.status().as_u16()));
    }
    Ok(resp.into_body())
}

/// One scrape of a `/metrics` endpoint: its raw text.
pub async fn scrape(client: &HttpClient, url: &str) -> Result<String, String> {
    let body = get(client, url).await?;
    String::from_utf8(body.to_vec()).map_err(|_| format!("{url}: not UTF-8 text"))
}

fn unix_s(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What a Prometheus server held for `metric` (a histogram's name, without `_bucket`) from
/// `start` to `end`, every `step`: at each step, each series' last sample at or before it
/// (within the server's lookback, 5 min by default). Steps where it held nothing are empty.
pub async fn query_prometheus(
    client: &HttpClient,
    base: &str,
    metric: &str,
    start: SystemTime,
    end: SystemTime,
    step: Duration,
) -> Result<Vec<(f64, Vec<Series>)>, String> {
    let name = format!("{metric}_bucket");
    let url = format!(
        "{}/api/v1/query_range?query={}&start={:.3}&end={:.3}&step={:.3}",
        base.trim_end_matches('/'),
        percent_encode(&name),
        unix_s(start),
        unix_s(end),
        step.as_secs_f64().max(0.001)
    );
    let rows = ask(client, &url).await?;
    let mut steps: BTreeMap<u64, BTreeMap<String, Series>> = BTreeMap::new();
    for r in rows {
        let mut labels = labels_of(&r["metric"]);
        let Some(le) = labels.remove("le") else {
            continue;
        };
        let le: f64 = le.parse().map_err(|_| format!("{name}: le '{le}'"))?;
        for v in r["values"].as_array().into_iter().flatten() {
            let t = v[0].as_f64().ok_or_else(|| format!("{name}: time {v}"))?;
            let value: f64 = v[1]
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("{name}: value {v}"))?;
            steps
                .entry((t * 1000.0).round() as u64)
                .or_default()
                .entry(key(&labels))
                .or_insert_with(|| Series {
                    labels: labels.clone(),
                    buckets: Vec::new(),
                })
                .buckets
                .push((le, value));
        }
    }
    // Every step, also those where it held nothing (a range query leaves them out): a series
    // absent at the window's start counts from zero, not from its first step inside.
    let (t0, dt) = (unix_s(start), step.as_secs_f64().max(0.001));
    let n = ((unix_s(end) - t0) / dt + 1e-6).floor() as u64;
    Ok((0..=n)
        .map(|i| {
            let t = t0 + i as f64 * dt;
            let key = (t * 1000.0).round() as u64;
            // Prometheus answers with the step times it computed; match them to the ms.
            let found = steps
                .range(key.saturating_sub(1)..=key + 1)
                .next()
                .map(|(k, _)| *k);
            let mut series: Vec<Series> = found
                .and_then(|k| steps.remove(&k))
                .map(|by| by.into_values().collect())
                .unwrap_or_default();
            for s in &mut series {
                s.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
            (t, series)
        })
        .collect())
}

/// When the samples a Prometheus server answers with at `at` for `expr` (a series selector:
/// `moja_cl_transfer_prepare_bucket`, `up`) were scraped: the oldest and newest (Unix
/// seconds), `None` when it holds none.
pub async fn sample_times(
    client: &HttpClient,
    base: &str,
    expr: &str,
    at: SystemTime,
) -> Result<Option<(f64, f64)>, String> {
    let url = format!(
        "{}/api/v1/query?query={}&time={:.3}",
        base.trim_end_matches('/'),
        percent_encode(&format!("timestamp({expr})")),
        unix_s(at)
    );
    let times: Vec<f64> = ask(client, &url)
        .await?
        .iter()
        .filter_map(|r| r["value"][1].as_str().and_then(|s| s.parse().ok()))
        .collect();
    Ok(times
        .iter()
        .copied()
        .reduce(f64::min)
        .zip(times.iter().copied().reduce(f64::max)))
}

async fn ask(client: &HttpClient, url: &str) -> Result<Vec<serde_json::Value>, String> {
    let body = get(client, url).await?;
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("{url}: not JSON: {e}"))?;
    if v["status"] != "success" {
        return Err(format!("{url}: {}", v["error"]));
    }
    Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
}

fn labels_of(m: &serde_json::Value) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = m
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    labels.remove("__name__");
    labels
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str =
        "# HELP moja_cl_transfer_prepare x\n# TYPE moja_cl_transfer_prepare histogram\n\
moja_cl_transfer_prepare_bucket{le=\"0.01\",success=\"true\",fspId=\"a\"} 1\n\
moja_cl_transfer_prepare_bucket{le=\"0.05\",success=\"true\",fspId=\"a\"} 3\n\
moja_cl_transfer_prepare_bucket{le=\"+Inf\",success=\"true\",fspId=\"a\"} 4\n\
moja_cl_transfer_prepare_sum{success=\"true\",fspId=\"a\"} 0.3\n\
moja_cl_transfer_prepare_count{success=\"true\",fspId=\"a\"} 4\n";

    fn b(edges: &[(f64, u64)]) -> Buckets {
        Buckets {
            edges: edges.to_vec(),
        }
    }

    #[test]
    fn parses_histograms_with_their_labels() {
        let h = parse(A).unwrap();
        let s = &h["moja_cl_transfer_prepare"][0];
        assert_eq!(s.labels["fspId"], "a");
        assert!(!s.labels.contains_key("le"));
        assert_eq!(
            s.buckets,
            vec![(0.01, 1.0), (0.05, 3.0), (f64::INFINITY, 4.0)]
        );
    }

    #[test]
    fn quantiles_are_the_upper_edge_of_the_rank_s_bucket() {
        let x = b(&[(0.01, 1), (0.05, 3), (f64::INFINITY, 4)]);
        assert_eq!(x.quantile(0.25), Some(0.01));
        assert_eq!(x.quantile(0.5), Some(0.05));
        assert_eq!(x.quantile(0.75), Some(0.05));
        assert_eq!(x.quantile(0.99), Some(f64::INFINITY));
        assert_eq!(b(&[]).quantile(0.5), None);
    }

    #[test]
    fn a_window_counts_what_was_observed_inside_it() {
        let start = parse(A).unwrap();
        let end = parse(&A.replace("} 4\n", "} 10\n").replace("} 3\n", "} 5\n")).unwrap();
        let d = delta(
            start.get("moja_cl_transfer_prepare").map(Vec::as_slice),
            &end["moja_cl_transfer_prepare"],
        );
        assert_eq!(d.all.edges, vec![(0.01, 0), (0.05, 2), (f64::INFINITY, 6)]);
        assert_eq!(d.by_success["true"], 6);
        assert_eq!((d.resets, d.appeared, d.vanished), (0, 0, 0));
    }

    #[test]
    fn resets_and_missing_series_count_from_zero_and_are_said() {
        let start = parse(A).unwrap();
        // The process restarted: fewer than before → counts from zero; a new label set
        // appeared; the old one vanished in the second case.
        let end = parse(&A.replace("} 4\n", "} 2\n").replace("} 3\n", "} 2\n")).unwrap();
        let d = delta(
            start.get("moja_cl_transfer_prepare").map(Vec::as_slice),
            &end["moja_cl_transfer_prepare"],
        );
        assert_eq!(d.resets, 1);
        assert_eq!(d.all.count(), 2);
        let other = parse(&A.replace("fspId=\"a\"", "fspId=\"b\"")).unwrap();
        let d = delta(
            start.get("moja_cl_transfer_prepare").map(Vec::as_slice),
            &other["moja_cl_transfer_prepare"],
        );
        assert_eq!((d.appeared, d.vanished), (1, 1));
        assert_eq!(d.all.count(), 4);
        let d = delta(None, &other["moja_cl_transfer_prepare"]);
        assert_eq!((d.appeared, d.vanished, d.all.count()), (1, 0, 4));
    }

    #[test]
    fn a_chain_sees_a_restart_between_its_ends() {
        let one = parse(A).unwrap();
        let restarted = parse(&A.replace("} 4\n", "} 1\n").replace("} 3\n", "} 1\n")).unwrap();
        let later = parse(&A.replace("} 4\n", "} 5\n").replace("} 3\n", "} 5\n")).unwrap();
        let m = "moja_cl_transfer_prepare";
        // 4 → (restart) 1 → 5: 1 + 4 observed after the start; the two ends alone say 1.
        let d = delta_chain(&[&one[m], &restarted[m], &later[m]]);
        assert_eq!(d.all.count(), 5);
        assert_eq!(d.resets, 1);
        assert_eq!(delta(Some(&one[m]), &later[m]).all.count(), 1);
        // Gone for a while, then back: counted from zero when it comes back.
        let d = delta_chain(&[&one[m], &[], &restarted[m]]);
        assert_eq!((d.vanished, d.appeared, d.all.count()), (1, 1, 1));
    }

    #[test]
    fn series_with_other_edges_are_refused() {
        let a = parse(A).unwrap();
        let c = parse(
            &A.replace("0.05", "0.1")
                .replace("fspId=\"a\"", "fspId=\"c\""),
        )
        .unwrap();
        let mut both = a["moja_cl_transfer_prepare"].clone();
        both.extend(c["moja_cl_transfer_prepare"].clone());
        let d = delta(None, &both);
        assert!(d.error.is_some());
    }

    #[test]
    fn every_known_leg_is_named_once() {
        let mut names: Vec<&str> = KNOWN_LEGS.iter().map(|l| l.metric).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KNOWN_LEGS.len());
    }
}
