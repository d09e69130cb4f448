//! After a run: what became, on the switch, of the transfers the driver stopped waiting for.
//!
//! A real switch goes on working after the driver gave up: a transfer whose arrival timed out
//! (or failed after its prepare was sent) may still be committed, aborted, or expire
//! (reference: real-switch.md — 855 "timed out" transfers of one run were later committed).
//! [`reconcile`] asks the switch's ledger for the state of each such transfer — the emulator's
//! `POST /perfbed/transfers/states`, or central_ledger's database — until every one is final
//! or the last of them has expired and the switch's sweep had time to record it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use load::report::{Reconciliation, Report};
use ops::crosscheck::Settled;

use crate::execute::Ledger;

/// How long after the last transfer's expiration the switch gets to record it: central-ledger's
/// timeout handler runs every 15 s, plus 5 s for it to finish.
pub const SWEEP_MARGIN: Duration = Duration::from_secs(20);

/// How often the ledger is asked while transfers are still in flight.
const POLL: Duration = Duration::from_secs(1);

impl Ledger {
    /// The states of the transfers `ids`: (source, id → state name), ids the switch does not
    /// have left out; `Ok(None)` when this ledger cannot be asked per transfer.
    async fn transfer_states(
        &self,
        ids: &[String],
    ) -> Result<Option<(String, BTreeMap<String, String>)>, String> {
        let emulator = |s: Option<BTreeMap<String, String>>| {
            s.map(|s| (ops::crosscheck::SOURCE_EMULATOR.to_owned(), s))
        };
        match self {
            Ledger::Emulator(admin) | Ledger::Probe(admin) => {
                ops::crosscheck::emulator_transfer_states(admin, ids)
                    .await
                    .map(emulator)
                    .map_err(|e| e.to_string())
            }
            Ledger::Sql(db) => ops::crosscheck::transfer_states_sql(db, ids)
                .await
                .map(|s| Some((ops::crosscheck::SOURCE_SQL.to_owned(), s)))
                .map_err(|e| e.to_string()),
            Ledger::None(_) => Ok(None),
        }
    }
}

/// Asks `ledger` what became of the report's uncertain transfers, waiting while some are
/// still in flight *or not yet known to the switch* (a real switch may still hold their
/// prepares in Kafka, queued before its ledger), until every one is final or the last one's
/// expiration plus [`SWEEP_MARGIN`] passed; the reconciliation says which ended the wait. `Ok(None)` when
/// there is nothing uncertain or the ledger cannot be asked per transfer. Each one found
/// final is resolved in the report's outcomes (committed, or aborted/expired), which the
/// id-by-id cross-check then holds the switch to.
pub async fn reconcile(
    ledger: &Ledger,
    report: &mut Report,
) -> Result<Option<Reconciliation>, String> {
    let uncertain = report.uncertain();
    if uncertain == 0 {
        return Ok(None);
    }
    let ids: Vec<String> = report
        .uncertain_transfers
        .iter()
        .map(|u| u.id.clone())
        .collect();
    let started = Instant::now();
    let deadline = report
        .uncertain_transfers
        .iter()
        .map(|u| u.expires)
        .max()
        .map_or(started, |last| last + SWEEP_MARGIN);
    loop {
        let (source, states) = if ids.is_empty() {
            ("nothing to ask".to_owned(), BTreeMap::new())
        } else {
            match ledger.transfer_states(&ids).await? {
                Some(answer) => answer,
                None => return Ok(None),
            }
        };
        let mut counts = [0u64; 5];
        for id in &ids {
            let slot = match states.get(id).map(|s| Settled::of(s)) {
                Some(Some(Settled::Committed)) => 0,
                Some(Some(Settled::Aborted)) => 1,
                Some(Some(Settled::Expired)) => 2,
                // A state central-ledger does not name is not final as far as we know.
                Some(Some(Settled::InFlight) | None) => 3,
                None => 4,
            };
            counts[slot] += 1;
        }
        let now = Instant::now();
        let pending = counts[3] + counts[4];
        if pending == 0 || now >= deadline {
            if let Some(o) = &mut report.outcomes {
                for (id, state) in &states {
                    match Settled::of(state) {
                        Some(Settled::Committed) => {
                            o.resolve(id, true);
                        }
                        Some(Settled::Aborted | Settled::Expired) => {
                            o.resolve(id, false);
                        }
                        Some(Settled::InFlight) | None => {}
                    }
                }
            }
            let waited = now - started;
            let ended = if ids.is_empty() {
                "no transfer to ask".to_owned()
            } else if pending == 0 {
                format!(
                    "every transfer was final after {:.1} s",
                    waited.as_secs_f64()
                )
            } else {
                format!(
                    "the last expiration + {} s (the switch's timeout sweep) passed after {:.1} s with {} still in flight and {} unknown to the switch",
                    SWEEP_MARGIN.as_secs(),
                    waited.as_secs_f64(),
                    counts[3],
                    counts[4]
                )
            };
            return Ok(Some(
                Reconciliation::new(&source, uncertain, counts, waited).ended(&ended),
            ));
        }
        tokio::time::sleep(POLL.min(deadline - now)).await;
    }
}
