//! Every simulator's refusals and failures over a run, into the report.
//!
//! A simulator that refuses what the hub sends it (a commit confirmation with no signature, a
//! `PATCH`) answers the hub, not the driver: no flow of the driver fails, and the run would
//! read as passed. So the run reads each simulator's counters at its start and end — the
//! in-process ones directly, separate `perfbed sim` processes from their `/metrics` at the
//! URLs the testbed file gives — and says which it could not read.

use http::Method;
use load::report::{SimulatorCounts, Simulators};
use load::{Payers, Scenario};

/// A simulator the run reads, and its counts at the start (`Err`: not readable then).
#[derive(Debug)]
enum Watched {
    InProcess(String, SimulatorCounts),
    Remote(String, Result<SimulatorCounts, String>),
}

/// The simulators' counters at the start of a run; [`SimWatch::finish`] gives the counts over
/// the run.
#[derive(Debug)]
pub struct SimWatch {
    watched: Vec<Watched>,
    not_read: Vec<String>,
}

/// `GET url/metrics`, parsed.
async fn scrape(url: &str) -> Result<SimulatorCounts, String> {
    let (status, body) = ops::Admin::plain(url)
        .call(Method::GET, "/metrics", None)
        .await
        .map_err(|e| format!("{e:#}"))?;
    match (status, body) {
        (200, serde_json::Value::String(text)) => Ok(SimulatorCounts::from_metrics(url, &text)),
        (status, _) => Err(format!("{url}/metrics answered HTTP {status}")),
    }
}

fn in_process(payers: &Payers) -> Vec<(String, SimulatorCounts)> {
    payers
        .simulator_metrics()
        .into_iter()
        .map(|(fsps, text)| {
            let name = format!("in-process ({fsps})");
            let c = SimulatorCounts::from_metrics(&name, &text);
            (name, c)
        })
        .collect()
}

impl SimWatch {
    /// Reads every simulator of the run: the in-process ones (`payers`), and every other FSP
    /// of the scenario's corridors at its callback URL in the testbed file.
    pub async fn start(
        payers: &Payers,
        scenario: &Scenario,
        testbed: Option<&ops::Testbed>,
    ) -> SimWatch {
        let mut watched: Vec<Watched> = in_process(payers)
            .into_iter()
            .map(|(n, c)| Watched::InProcess(n, c))
            .collect();
        let mut not_read = Vec::new();
        let mut others: Vec<String> = scenario
            .corridors
            .iter()
            .flat_map(|c| [c.payer.clone(), c.payee.clone()])
            .filter(|f| !payers.serves(f))
            .collect();
        others.sort();
        others.dedup();
        let url_of = |fsp: &str| {
            testbed
                .and_then(|t| t.dfsps.iter().find(|d| d.id == fsp))
                .and_then(|d| d.callback.clone())
        };
        let mut unknown = Vec::new();
        let mut urls: Vec<String> = Vec::new();
        for fsp in &others {
            match url_of(fsp) {
                Some(u) => {
                    let u = u.trim_end_matches('/').to_owned();
                    if !urls.contains(&u) {
                        urls.push(u);
                    }
                }
                None => unknown.push(fsp.clone()),
            }
        }
        for url in urls {
            let before = scrape(&url).await;
            watched.push(Watched::Remote(url, before));
        }
        if !unknown.is_empty() {
            not_read.push(format!(
                "the simulators of {} (no URL known: give --testbed FILE with their callback URLs to read their /metrics)",
                unknown.join(", ")
            ));
        }
        SimWatch { watched, not_read }
    }

    /// The counts over the run.
    pub async fn finish(self, payers: &Payers) -> Simulators {
        let now = in_process(payers);
        let mut out = Simulators {
            read: Vec::new(),
            not_read: self.not_read,
        };
        for w in self.watched {
            match w {
                Watched::InProcess(name, before) => {
                    if let Some((_, after)) = now.iter().find(|(n, _)| *n == name) {
                        out.read.push(after.since(&before));
                    }
                }
                Watched::Remote(url, before) => match (scrape(&url).await, before) {
                    (Ok(after), Ok(before)) => out.read.push(after.since(&before)),
                    (Err(e), _) | (_, Err(e)) => out.not_read.push(format!("{url}: {e}")),
                },
            }
        }
        out
    }
}
