//! Switch-side evidence collected around a run (real Mojaloop): Kafka high watermarks at the
//! window's start and end (and lag at the end), positions before and after.

use load::Scenario;
use std::time::Duration;

/// Switch-side evidence collected around a run (real Mojaloop): Kafka high watermarks at the
/// window's start and end (and lag at the end), positions before and after.
#[derive(Debug)]
pub struct SwitchWatch {
    admin: Option<ops::Admin>,
    fsps: Vec<String>,
    currency: String,
    kafka: Option<tokio::task::JoinHandle<Result<load::report::KafkaEvidence, String>>>,
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
        let kafka = t.hub.kafka.clone().map(|brokers| {
            let (warmup, end) = (s.warmup, s.total().saturating_sub(s.cooldown));
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
                tokio::time::sleep_until(started + end).await;
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
            kafka,
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
        self,
        before: Result<Vec<ops::positions::FspPosition>, String>,
    ) -> load::report::SwitchEvidence {
        let mut ev = load::report::SwitchEvidence::default();
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
