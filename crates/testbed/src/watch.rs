//! Switch-side evidence collected around a run (real Mojaloop): Kafka high watermarks from the
//! window's start until the switch has drained after the run (and the lag then), positions
//! before and after.
//!
//! A real switch goes on working after the driver's last arrival ended (reference:
//! real-switch.md): positions and Kafka counts read at once are read mid-drain. So the "after"
//! side is read once [`SwitchWatch::drain`] saw every Kafka consumer group caught up (lag 0),
//! or its bounded wait ended; the report's switch notes say which.

use load::Scenario;
use std::time::{Duration, Instant};

/// How long [`SwitchWatch::drain`] waits at most for the consumer lag to reach 0.
pub const DRAIN_WAIT: Duration = Duration::from_secs(60);

/// When no consumer group has committed anything for this long, the switch has stopped
/// consuming: lag left then belongs to idle or stuck groups (a group nobody runs any more,
/// say), and waiting longer changes nothing.
pub const DRAIN_QUIET: Duration = Duration::from_secs(10);

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
}

fn money3(p: &ops::positions::FspPosition) -> [String; 3] {
    [
        p.position.value.to_string(),
        p.ndc_headroom().map_or("-".into(), |m| m.to_string()),
        p.liquidity().to_string(),
    ]
}

impl SwitchWatch {
    pub fn start(t: &ops::Testbed, s: &Scenario) -> SwitchWatch {
        let mut fsps: Vec<String> = s.fsps();
        fsps.sort();
        fsps.dedup();
        let (drained, drained_rx) = tokio::sync::oneshot::channel::<()>();
        let kafka = t.hub.kafka.clone().map(|brokers| {
            let warmup = s.warmup;
            tokio::spawn(async move {
                let topics = ops::kafka::MOJALOOP_TOPICS;
                let timeout = Duration::from_secs(10);
                let snap = |b: String| {
                    tokio::task::spawn_blocking(move || ops::kafka::snapshot(&b, topics, timeout))
                };
                let started = tokio::time::Instant::now();
                tokio::time::sleep_until(started + warmup).await;
                let first = snap(brokers.clone())
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                // Until the switch drained (or the watch was dropped).
                let _ = drained_rx.await;
                let last = snap(brokers.clone())
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                let g = ops::kafka::gate(&first, &last, &ops::kafka::default_ratios(), 0.05, 1);
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
        }
    }

    /// Waits until every consumer group of the Mojaloop topics has caught up (lag 0), or no
    /// group has committed anything for [`DRAIN_QUIET`], at most `bound`, then lets the Kafka
    /// counts be read; notes which it was. Without Kafka in the testbed there is nothing to
    /// wait for.
    pub async fn drain(&mut self, bound: Duration) {
        let Some(brokers) = self.brokers.clone() else {
            return;
        };
        let started = Instant::now();
        let lag = || {
            let b = brokers.clone();
            tokio::task::spawn_blocking(move || {
                ops::kafka::lag(
                    &b,
                    &[],
                    ops::kafka::MOJALOOP_TOPICS,
                    Duration::from_secs(10),
                )
            })
        };
        let mut committed: Vec<(String, String, i32, i64)> = Vec::new();
        let mut moved = Instant::now();
        let note = loop {
            let rows = match lag().await {
                Ok(Ok(rows)) => rows,
                Ok(Err(e)) => break format!("kafka: cannot read the consumer lag ({e}): counts and positions read without waiting for the switch to drain"),
                Err(e) => break format!("kafka: {e}"),
            };
            let worst = rows.iter().map(|r| r.lag).max().unwrap_or(0);
            let now: Vec<(String, String, i32, i64)> = rows
                .iter()
                .map(|r| (r.group.clone(), r.topic.clone(), r.partition, r.committed))
                .collect();
            if now != committed {
                committed = now;
                moved = Instant::now();
            }
            let waited = started.elapsed();
            if worst <= 0 {
                break format!(
                    "read after the switch drained: Kafka consumer lag 0 {:.1} s after the run; the Kafka counts run from the window's start until then",
                    waited.as_secs_f64()
                );
            }
            if moved.elapsed() >= DRAIN_QUIET {
                let mut behind: Vec<&str> = rows
                    .iter()
                    .filter(|r| r.lag > 0)
                    .map(|r| r.group.as_str())
                    .collect();
                behind.dedup();
                break format!(
                    "read after the switch stopped consuming: no consumer group committed for {:.0} s, lag {worst} left in {} (idle or stuck groups), {:.0} s after the run; the Kafka counts run from the window's start until then",
                    DRAIN_QUIET.as_secs_f64(),
                    behind.join(", "),
                    waited.as_secs_f64()
                );
            }
            if waited >= bound {
                break format!(
                    "read mid-drain: Kafka consumer lag still {worst} after waiting {:.0} s; the Kafka counts run from the window's start until then",
                    waited.as_secs_f64()
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
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
