//! The switch's own histograms per leg over the run's steady-state window (the report's
//! `switch_metrics`): its `/metrics` endpoints scraped during the run, from the window's
//! start to its end every `interval` (and at both ends exactly), and/or a Prometheus server's
//! range query over the same window after the run. The hub emulator in this process
//! (`perfbed local`) is read the same way, without HTTP.
//!
//! Each leg is added up over the chain of snapshots ([`ops::switch_metrics::delta_chain`]),
//! so a restart between two of them loses only what the old process observed after the last
//! snapshot; the raw text of the snapshots used as the window's ends is kept for the result
//! folder (`switch-metrics/`), so anyone can recompute the numbers.

use load::report::{MetricsSource, SwitchLeg, SwitchMetrics};
use load::Scenario;
use ops::switch_metrics::{self as sm, Histograms, LegDelta};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How often endpoints are scraped when the testbed does not say.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);

/// Reads one exposition's text.
#[derive(Clone)]
pub enum Reader {
    /// A `/metrics` URL.
    Url(String),
    /// A server in this process (the hub emulator): its text at the call.
    InProcess(Arc<dyn Fn() -> String + Send + Sync>),
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reader::Url(u) => write!(f, "Url({u})"),
            Reader::InProcess(_) => write!(f, "InProcess"),
        }
    }
}

/// One endpoint to scrape.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The service, as the testbed names it.
    pub service: String,
    /// What the report shows as its URL.
    pub url: String,
    /// How to read it.
    pub reader: Reader,
}

/// Where the switch's metrics come from, for one run.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Scraped during the run.
    pub endpoints: Vec<Endpoint>,
    /// Asked after the run.
    pub prometheus: Option<String>,
    /// Scrape interval (and the Prometheus query's step, at most).
    pub interval: Option<Duration>,
    /// Histograms beyond the known legs.
    pub extra: Vec<String>,
}

impl Sources {
    /// From a testbed file's `[switch_metrics]`.
    pub fn from_testbed(t: &ops::testbed::SwitchMetricsSources) -> Sources {
        Sources {
            endpoints: t
                .endpoints
                .iter()
                .map(|e| Endpoint {
                    service: e.service.clone(),
                    url: e.url.clone(),
                    reader: Reader::Url(e.url.clone()),
                })
                .collect(),
            prometheus: t.prometheus.clone(),
            interval: t.interval,
            extra: t.extra.clone(),
        }
    }

    /// Whether anything is to be read.
    pub fn any(&self) -> bool {
        !self.endpoints.is_empty() || self.prometheus.is_some()
    }

    fn wanted(&self, name: &str) -> bool {
        sm::known(name).is_some() || self.extra.iter().any(|e| e == name)
    }
}

/// What one endpoint gave: the snapshots inside the window, the raw text at its ends.
#[derive(Debug, Default)]
struct Scraped {
    /// (seconds from the run's start, the wanted histograms).
    snapshots: Vec<(f64, Histograms)>,
    failed: u32,
    errors: Vec<String>,
    first_text: Option<String>,
    last_text: Option<String>,
}

/// The scrapes of a run in progress.
#[derive(Debug)]
pub struct MetricsWatch {
    sources: Sources,
    started: SystemTime,
    window: (Duration, Duration),
    task: Option<tokio::task::JoinHandle<Vec<Scraped>>>,
    required: bool,
}

async fn read(client: &perfbed_http::HttpClient, r: &Reader) -> Result<String, String> {
    match r {
        Reader::Url(u) => sm::scrape(client, u).await,
        Reader::InProcess(f) => Ok(f()),
    }
}

impl MetricsWatch {
    /// Starts scraping for a run that starts now: at the window's start, every interval, and
    /// at its end. Call it right before the load starts.
    pub fn start(sources: Sources, scenario: &Scenario) -> MetricsWatch {
        let total: Duration = scenario.stages.iter().map(|s| s.duration).sum();
        let window = (scenario.warmup, total.saturating_sub(scenario.cooldown));
        let started = SystemTime::now();
        let t0 = Instant::now();
        let task = (!sources.endpoints.is_empty()).then(|| {
            let endpoints = sources.endpoints.clone();
            let interval = sources.interval.unwrap_or(DEFAULT_INTERVAL);
            let src = sources.clone();
            tokio::spawn(async move {
                let client = sm::client();
                let mut out: Vec<Scraped> = endpoints.iter().map(|_| Scraped::default()).collect();
                let mut at = window.0;
                loop {
                    tokio::time::sleep_until((t0 + at).into()).await;
                    for (e, s) in endpoints.iter().zip(out.iter_mut()) {
                        let taken = t0.elapsed().as_secs_f64();
                        match read(&client, &e.reader).await.and_then(|text| {
                            sm::parse(&text)
                                .map(|h| (text, h))
                                .map_err(|e| format!("not the Prometheus text format: {e}"))
                        }) {
                            Ok((text, mut h)) => {
                                h.retain(|name, _| src.wanted(name));
                                s.snapshots.push((taken, h));
                                if s.first_text.is_none() {
                                    s.first_text = Some(text);
                                } else {
                                    s.last_text = Some(text);
                                }
                            }
                            Err(err) => {
                                s.failed += 1;
                                if s.errors.last() != Some(&err) {
                                    s.errors.push(err);
                                }
                            }
                        }
                    }
                    if at >= window.1 {
                        break;
                    }
                    at = (at + interval).min(window.1);
                }
                out
            })
        });
        MetricsWatch {
            sources,
            started,
            window,
            task,
            required: scenario.switch_metrics.required,
        }
    }

    /// The section for `report` (its window and committed count), once the run ended; the raw
    /// end snapshots go under `raw` (`<service>-start.txt`, `<service>-end.txt`) when given.
    pub async fn finish(mut self, report: &load::Report, raw: Option<&Path>) -> SwitchMetrics {
        let mut out = SwitchMetrics {
            window_s: report.method.window_s,
            driver_committed: report.window.committed,
            required: self.required,
            ..SwitchMetrics::default()
        };
        let scraped = match self.task.take() {
            Some(t) => t.await.unwrap_or_default(),
            None => Vec::new(),
        };
        for (e, s) in self.sources.endpoints.iter().zip(scraped) {
            let mut src = MetricsSource {
                kind: "scrape".into(),
                service: e.service.clone(),
                url: e.url.clone(),
                start_s: s.snapshots.first().map(|x| x.0),
                end_s: s.snapshots.last().map(|x| x.0),
                snapshots: s.snapshots.len() as u32,
                failed: s.failed,
                error: None,
            };
            if !s.errors.is_empty() {
                out.notes.push(format!(
                    "{} ({}): {} of {} scrapes failed: {}",
                    e.url,
                    e.service,
                    s.failed,
                    s.failed + src.snapshots,
                    s.errors.join("; ")
                ));
            }
            if s.snapshots.len() < 2 {
                src.error = Some(format!(
                    "{} snapshot(s) in the window, two are needed",
                    s.snapshots.len()
                ));
                out.sources.push(src);
                continue;
            }
            if let (Some(dir), Some(a), Some(b)) = (raw, &s.first_text, &s.last_text) {
                let name = e
                    .service
                    .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_");
                let w = std::fs::create_dir_all(dir)
                    .and_then(|()| std::fs::write(dir.join(format!("{name}-start.txt")), a))
                    .and_then(|()| std::fs::write(dir.join(format!("{name}-end.txt")), b));
                if let Err(err) = w {
                    out.notes
                        .push(format!("raw snapshots of {} not kept: {err}", e.url));
                }
            }
            let names: BTreeSet<&String> = s.snapshots.iter().flat_map(|x| x.1.keys()).collect();
            for name in names {
                let chain: Vec<&[sm::Series]> = s
                    .snapshots
                    .iter()
                    .map(|x| x.1.get(name).map_or(&[][..], Vec::as_slice))
                    .collect();
                let d = sm::delta_chain(&chain);
                out.legs
                    .push(leg(name, &e.service, &e.url, &d, &mut out.notes));
            }
            for k in sm::KNOWN_LEGS.iter().filter(|k| k.service == e.service) {
                if !s.snapshots.iter().any(|x| x.1.contains_key(k.metric)) {
                    out.notes.push(format!(
                        "{}: not exposed by {} in the window (its handler not running, or nothing observed yet)",
                        k.metric, e.url
                    ));
                }
            }
            out.sources.push(src);
        }
        if let Some(base) = self.sources.prometheus.clone() {
            self.ask_prometheus(&base, &mut out).await;
        }
        for x in &self.sources.extra {
            if !out.legs.iter().any(|l| &l.name == x) {
                out.notes
                    .push(format!("{x} (extra): not found in any source"));
            }
        }
        if !self.sources.any() {
            out.notes.push(
                "no source: give [switch_metrics] in the testbed file (endpoint or prometheus), or --metrics-endpoint / --prometheus".into(),
            );
        }
        // The same leg from each source side by side.
        out.legs.sort_by(|a, b| {
            (&a.service, &a.name, &a.source).cmp(&(&b.service, &b.name, &b.source))
        });
        out.complete = !out.sources.is_empty()
            && out.sources.iter().all(|s| s.error.is_none())
            && !out.legs.is_empty();
        if out.legs.is_empty() && self.sources.any() {
            out.notes.push("no leg found: the sources exposed none of the known histograms (nor the testbed's extra ones)".into());
        }
        out
    }

    async fn ask_prometheus(&self, base: &str, out: &mut SwitchMetrics) {
        let client = sm::client();
        let at = |d: Duration| self.started + d;
        let span = self.window.1.saturating_sub(self.window.0);
        let interval = self.sources.interval.unwrap_or(DEFAULT_INTERVAL);
        // Steps that land on both ends of the window.
        let n = (span.as_secs_f64() / interval.as_secs_f64())
            .ceil()
            .max(1.0);
        let step = span.div_f64(n);
        let mut names: Vec<String> = sm::KNOWN_LEGS.iter().map(|k| k.metric.to_owned()).collect();
        names.extend(self.sources.extra.iter().cloned());
        let mut src = MetricsSource {
            kind: "prometheus".into(),
            service: "prometheus".into(),
            url: base.to_owned(),
            ..MetricsSource::default()
        };
        let start_unix = self
            .started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        for name in names {
            let steps = match sm::query_prometheus(
                &client,
                base,
                &name,
                at(self.window.0),
                at(self.window.1),
                step,
            )
            .await
            {
                Ok(s) => s,
                Err(e) => {
                    src.error = Some(e.clone());
                    out.notes.push(format!("prometheus {base}: not read: {e}"));
                    break;
                }
            };
            if steps.iter().all(|s| s.1.is_empty()) {
                continue;
            }
            let chain: Vec<&[sm::Series]> = steps.iter().map(|s| s.1.as_slice()).collect();
            src.snapshots = src.snapshots.max(chain.len() as u32);
            let d = sm::delta_chain(&chain);
            let service = sm::known(&name).map_or("?", |k| k.service);
            out.legs.push(leg(&name, service, base, &d, &mut out.notes));
            if src.start_s.is_none() {
                // When the samples it answered with were scraped (not the query's own times);
                // a leg not there yet at the start: when its targets were scraped then.
                let bucket = format!("{name}_bucket");
                let (w0, w1) = (at(self.window.0), at(self.window.1));
                let a = match sm::sample_times(&client, base, &bucket, w0).await {
                    Ok(Some(a)) => Some(a),
                    _ => sm::sample_times(&client, base, "up", w0)
                        .await
                        .ok()
                        .flatten(),
                };
                if let (Some(a), Ok(Some(b))) =
                    (a, sm::sample_times(&client, base, &bucket, w1).await)
                {
                    src.start_s = Some(a.0 - start_unix);
                    src.end_s = Some(b.1 - start_unix);
                }
            }
        }
        if src.error.is_none() && src.snapshots == 0 {
            let e = "it holds none of the known histograms (nor the extra ones) for the window (does it scrape the switch's services?)";
            out.notes.push(format!("prometheus {base}: {e}"));
            src.error = Some(e.into());
        }
        out.sources.push(src);
    }
}

fn ms(s: f64) -> f64 {
    // Bucket edges are decimal seconds: 0.01 s → 10 ms exactly, as a person reads it.
    (s * 1e9).round() / 1e6
}

fn leg(
    name: &str,
    service: &str,
    source: &str,
    d: &LegDelta,
    notes: &mut Vec<String>,
) -> SwitchLeg {
    let k = sm::known(name);
    let mut beyond = Vec::new();
    let mut q = |label: &str, q: f64| match d.all.quantile(q) {
        Some(v) if v.is_finite() => Some(ms(v)),
        Some(_) => {
            beyond.push(label.to_owned());
            None
        }
        None => None,
    };
    let (p50_ms, p95_ms, p99_ms) = (q("p50", 0.5), q("p95", 0.95), q("p99", 0.99));
    if d.resets > 0 {
        notes.push(format!(
            "{name} ({source}): {} series went down (the service restarted): counted from zero after it",
            d.resets
        ));
    }
    if d.appeared > 0 {
        notes.push(format!(
            "{name} ({source}): {} series first seen inside the window (not yet observed at its start): counted from zero",
            d.appeared
        ));
    }
    if d.vanished > 0 {
        notes.push(format!(
            "{name} ({source}): {} series disappeared inside the window (their process went away): what they observed after the snapshot before is not counted",
            d.vanished
        ));
    }
    if let Some(e) = &d.error {
        notes.push(format!("{name} ({source}): {e}; percentiles not read"));
    }
    SwitchLeg {
        name: name.to_owned(),
        service: service.to_owned(),
        source: source.to_owned(),
        what: k.map_or(String::new(), |k| k.what.to_owned()),
        phase: k.map_or("?".into(), |k| k.phase.to_owned()),
        verified: k.map_or("extra".into(), |k| match k.verified {
            sm::Verified::Running => "running".into(),
            sm::Verified::Source => "source".into(),
        }),
        count: d.all.count(),
        success: d.by_success.clone(),
        p50_ms: if d.error.is_some() { None } else { p50_ms },
        p95_ms: if d.error.is_some() { None } else { p95_ms },
        p99_ms: if d.error.is_some() { None } else { p99_ms },
        beyond,
        bucket_edges_ms: d
            .all
            .edges
            .iter()
            .filter(|e| e.0.is_finite())
            .map(|e| ms(e.0))
            .collect(),
        resets: d.resets,
        appeared: d.appeared,
        vanished: d.vanished,
    }
}
