//! Switch-side evidence collected around a run (real Mojaloop): the Kafka messages of the run's
//! transfers from the run's start until the switch has drained after the run (and the lag then),
//! positions before and after.
//!
//! The Kafka gate counts by transfer: every message on the transfer topics is read from the
//! offsets taken before the run's first request, and those whose transfer id starts with the
//! run's prefix are counted (see `ops::kafka::belongs_to`). A time window would count the
//! fulfils of warm-up prepares without their prepares, and whatever else ran on the switch.
//!
//! A real switch goes on working after the driver's last arrival ended (reference:
//! real-switch.md): positions and Kafka counts read at once are read mid-drain. So the "after"
//! side is read once [`SwitchWatch::drain`] saw every Kafka consumer group caught up (lag 0),
//! or its bounded wait ended; the report's switch notes say which.

use load::Scenario;
use std::time::{Duration, Instant};

/// How long the Kafka reading goes on at most, once the switch drained, to reach the end
/// offsets (the run's messages are read as they come, so this is the tail only).
pub const READ_BOUND: Duration = Duration::from_secs(60);

/// The longest [`SwitchWatch::drain`] waits for the consumer lag to reach 0, whatever the
/// transfers' expiry.
pub const DRAIN_WAIT: Duration = Duration::from_secs(120);

/// One consumer group's committed offset on one partition.
type Committed = std::collections::BTreeMap<(String, String, i32), i64>;

fn committed_of(rows: &[ops::kafka::Lag]) -> Committed {
    rows.iter()
        .map(|r| ((r.group.clone(), r.topic.clone(), r.partition), r.committed))
        .collect()
}

/// Switch-side evidence collected around a run (real Mojaloop): Kafka high watermarks from the
/// window's start until the switch drained (and lag then), positions before and after.
#[derive(Debug)]
pub struct SwitchWatch {
    admin: Option<ops::Admin>,
    fsps: Vec<String>,
    currency: String,
    brokers: Option<String>,
    kafka: Option<tokio::task::JoinHandle<Result<load::report::KafkaEvidence, String>>>,
    /// Tells the Kafka task the switch has drained: take the last snapshot.
    drained: Option<tokio::sync::oneshot::Sender<()>>,
    /// What the drain found, for the evidence's notes.
    notes: Vec<String>,
    /// The consumer groups' committed offsets when the watch started: a group whose offsets
    /// moved during the run is the switch consuming (see [`SwitchWatch::drain`]).
    committed_at_start: Option<Committed>,
}

fn money3(p: &ops::positions::FspPosition) -> [String; 3] {
    [
        p.position.value.to_string(),
        p.ndc_headroom().map_or("-".into(), |m| m.to_string()),
        p.liquidity().to_string(),
    ]
}

impl SwitchWatch {
    /// Starts watching before the run's first message: the Kafka offsets now are where the
    /// counting by transfer starts (messages of the run's transfers are those whose transfer id
    /// starts with `prefix`, the run's id prefix), read as they come until the switch drained.
    pub async fn start(t: &ops::Testbed, s: &Scenario, prefix: &str) -> SwitchWatch {
        let mut fsps: Vec<String> = s.fsps();
        fsps.sort();
        fsps.dedup();
        let (drained, drained_rx) = tokio::sync::oneshot::channel::<()>();
        let topics = ops::kafka::MOJALOOP_TOPICS;
        let timeout = Duration::from_secs(10);
        let snap = move |b: String| {
            tokio::task::spawn_blocking(move || ops::kafka::snapshot(&b, topics, timeout))
        };
        let first = match &t.hub.kafka {
            Some(b) => Some(
                snap(b.clone())
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string())),
            ),
            None => None,
        };
        let committed_at_start = match &t.hub.kafka {
            Some(b) => {
                let b = b.clone();
                tokio::task::spawn_blocking(move || ops::kafka::lag(&b, &[], topics, timeout))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .map(|rows| committed_of(&rows))
            }
            None => None,
        };
        let kafka = t.hub.kafka.clone().zip(first).map(|(brokers, first)| {
            let prefix = prefix.to_owned();
            tokio::spawn(async move {
                let first = first?;
                let (until_tx, until_rx) = std::sync::mpsc::channel();
                let (b, f, px) = (brokers.clone(), first.clone(), prefix.clone());
                let reader = tokio::task::spawn_blocking(move || {
                    ops::kafka::read_run_messages(&b, &f, &px, until_rx, READ_BOUND)
                });
                // Until the switch drained (or the watch was dropped).
                let _ = drained_rx.await;
                let last = snap(brokers.clone())
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                let window_s = last.at_ms.saturating_sub(first.at_ms) as f64 / 1000.0;
                let _ = until_tx.send(last);
                let run = reader
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                let g = ops::kafka::gate_counts(
                    run.counts,
                    window_s,
                    &ops::kafka::default_ratios(),
                    0.05,
                    1,
                );
                let b2 = brokers.clone();
                let lag =
                    tokio::task::spawn_blocking(move || ops::kafka::lag(&b2, &[], topics, timeout))
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .and_then(|rows| rows.iter().map(|r| r.lag).max());
                Ok(load::report::KafkaEvidence {
                    window_s: g.window_s,
                    counts: g.counts,
                    ratios: g
                        .ratios
                        .into_iter()
                        .map(|(r, v, ok)| (r.name, v, r.expect, ok))
                        .collect(),
                    pass: g.pass,
                    max_lag: lag,
                    by_transfer: Some(load::report::KafkaByTransfer {
                        prefix: run.prefix,
                        read: run.read,
                        complete: run.complete,
                    }),
                })
            })
        });
        SwitchWatch {
            admin: t.hub.admin.as_deref().map(ops::Admin::plain),
            fsps,
            currency: s.currency.clone(),
            brokers: t.hub.kafka.clone(),
            kafka,
            drained: Some(drained),
            notes: Vec::new(),
            committed_at_start,
        }
    }

    /// Waits until the switch has drained: the consumer groups that consume the transfer
    /// topics (those with members now, or whose committed offsets moved during the run) have
    /// caught up (lag 0), or `deadline` passed (the last transfer's expiry plus the ledger's
    /// timeout sweep: by then the ledger has settled every transfer by itself), then lets the
    /// Kafka counts be read; notes which it was and how long it took. A group nobody runs any
    /// more keeps its lag forever and is left out (named in the note). A paused or slow
    /// switch keeps its members and its lag: it is waited for. Without Kafka in the testbed
    /// there is nothing to wait for.
    pub async fn drain(&mut self, deadline: Instant) {
        let Some(brokers) = self.brokers.clone() else {
            return;
        };
        let started = Instant::now();
        let timeout = Duration::from_secs(10);
        let read = || {
            let b = brokers.clone();
            tokio::task::spawn_blocking(move || {
                let rows = ops::kafka::lag(&b, &[], ops::kafka::MOJALOOP_TOPICS, timeout)?;
                // Brokers that do not describe their groups' members: the offsets tell.
                let members = ops::kafka::groups_with_members(&b, timeout).unwrap_or_default();
                Ok::<_, ops::kafka::KafkaError>((rows, members))
            })
        };
        let at_start = self.committed_at_start.clone().unwrap_or_default();
        let note = loop {
            let (rows, members) = match read().await {
                Ok(Ok(x)) => x,
                Ok(Err(e)) => break format!("kafka: cannot read the consumer lag ({e}): counts and positions read without waiting for the switch to drain"),
                Err(e) => break format!("kafka: {e}"),
            };
            let consuming = |g: &str| {
                members.iter().any(|m| m == g)
                    || rows.iter().any(|r| {
                        r.group == g
                            && at_start.get(&(r.group.clone(), r.topic.clone(), r.partition))
                                != Some(&r.committed)
                    })
            };
            let mut switch: Vec<&str> = rows
                .iter()
                .map(|r| r.group.as_str())
                .filter(|g| consuming(g))
                .collect();
            switch.dedup();
            let mut idle: Vec<&str> = rows
                .iter()
                .filter(|r| r.lag > 0 && !consuming(&r.group))
                .map(|r| r.group.as_str())
                .collect();
            idle.dedup();
            let idle_note = if idle.is_empty() {
                String::new()
            } else {
                format!(
                    "; lag left in groups that consumed nothing during the run and have no members (left out): {}",
                    idle.join(", ")
                )
            };
            let worst = rows
                .iter()
                .filter(|r| consuming(&r.group))
                .map(|r| r.lag)
                .max()
                .unwrap_or(0);
            let waited = started.elapsed();
            if worst <= 0 {
                break format!(
                    "read after the switch drained: Kafka consumer lag 0 on the transfer topics ({}) {:.1} s after the run{idle_note}",
                    if switch.is_empty() {
                        "no consumer group consumed them during the run".to_owned()
                    } else {
                        format!("groups {}", switch.join(", "))
                    },
                    waited.as_secs_f64()
                );
            }
            if Instant::now() >= deadline {
                let mut behind: Vec<&str> = rows
                    .iter()
                    .filter(|r| r.lag > 0 && consuming(&r.group))
                    .map(|r| r.group.as_str())
                    .collect();
                behind.dedup();
                break format!(
                    "read mid-drain: Kafka consumer lag still {worst} in {} after waiting {:.0} s (the last transfer's expiry plus the ledger's timeout sweep, at most {} s){idle_note}",
                    behind.join(", "),
                    waited.as_secs_f64(),
                    DRAIN_WAIT.as_secs()
                );
            }
            tokio::time::sleep(
                Duration::from_secs(1).min(deadline.saturating_duration_since(Instant::now())),
            )
            .await;
        };
        self.notes.push(note);
        if let Some(tx) = self.drained.take() {
            let _ = tx.send(());
        }
    }

    pub async fn positions(&self) -> Result<Vec<ops::positions::FspPosition>, String> {
        match &self.admin {
            Some(a) => ops::positions::show_api(a, &self.fsps, &self.currency)
                .await
                .map_err(|e| e.to_string()),
            None => Err("no hub.admin in the testbed: positions not collected".into()),
        }
    }

    pub async fn finish(
        mut self,
        before: Result<Vec<ops::positions::FspPosition>, String>,
    ) -> load::report::SwitchEvidence {
        if let Some(tx) = self.drained.take() {
            let _ = tx.send(());
        }
        let mut ev = load::report::SwitchEvidence::default();
        ev.notes.append(&mut self.notes);
        match (before, self.positions().await) {
            (Ok(b), Ok(a)) => {
                ev.positions = b
                    .iter()
                    .zip(&a)
                    .map(|(b, a)| load::report::PositionChange {
                        fsp: b.fsp.clone(),
                        before: money3(b),
                        after: money3(a),
                    })
                    .collect();
            }
            (Err(e), _) | (_, Err(e)) => ev.notes.push(format!("positions: {e}")),
        }
        match self.kafka {
            Some(task) => match task.await {
                Ok(Ok(k)) => ev.kafka = Some(k),
                Ok(Err(e)) => ev.notes.push(format!("kafka: {e}")),
                Err(e) => ev.notes.push(format!("kafka: {e}")),
            },
            None => ev
                .notes
                .push("no hub.kafka in the testbed: Kafka not watched".into()),
        }
        ev
    }
}
