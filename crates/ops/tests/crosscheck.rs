//! `crosscheck::emulator_states` and `emulator_transfer_states` against the hub emulator over
//! HTTP: the counts and per-transfer states of its own routes, and `None` where the routes do
//! not exist (as on a real central-ledger).

#![allow(clippy::unwrap_used)] // a panic is the failure report
#![allow(clippy::inconsistent_digit_grouping)] // amounts written as <whole>_<4 decimals> units

use fspiop::types::IlpFulfilment;
use hub::{Hub, HubConfig};
use ops::crosscheck::{
    emulator_states, emulator_transfer_states, LedgerStates, Settled, SOURCE_EMULATOR,
};
use ops::Admin;
use std::time::Duration;

#[tokio::test]
async fn the_emulator_answers_a_runs_counts_and_another_hub_answers_none() {
    let running = hub::start(
        Hub::new(HubConfig::default(), None),
        "127.0.0.1:0".parse().unwrap(),
        None,
    )
    .await
    .unwrap();
    let ledger = &running.hub().ledger;
    for n in ["perffsp1", "perffsp5"] {
        ledger.add_participant(n, "XXX").unwrap();
        ledger.init_position(n, 1_000_0000, 0, 10).unwrap();
        ledger.adjust_settlement(n, -1_000_0000).unwrap();
    }
    let f = IlpFulfilment::from_bytes(&[7; 32]);
    let condition = f.condition();
    let later = time::OffsetDateTime::now_utc() + time::Duration::minutes(1);
    let prepare = |id: &str, amount| {
        ledger.prepare(
            id,
            "perffsp1",
            "perffsp1",
            "perffsp5",
            amount,
            condition.as_str(),
            later,
            1,
        )
    };
    let id = |tag: &str, i: u32| format!("{tag}-0000-4000-8000-{i:012}");
    for i in 0..4 {
        prepare(&id("c0ffee00", i), 1_0000).unwrap();
    }
    for i in 0..2 {
        ledger
            .fulfil(&id("c0ffee00", i), "perffsp5", &f, None)
            .unwrap();
    }
    ledger.abort(&id("c0ffee00", 2), "perffsp5").unwrap();
    assert!(
        prepare(&id("c0ffee00", 4), 2_000_0000).is_err(),
        "over the NDC"
    );
    prepare(&id("c0ffee01", 0), 1_0000).unwrap();

    let admin = Admin::plain(&format!("http://{}/admin", running.addr));
    let got = emulator_states(&admin, "c0ffee00").await.unwrap().unwrap();
    let want = |v: &[(&str, u64)]| v.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect();
    assert_eq!(
        got,
        LedgerStates {
            source: SOURCE_EMULATOR.into(),
            prefix: "c0ffee00".into(),
            by_state: want(&[
                ("COMMITTED", 2),
                ("ABORTED_ERROR", 1),
                ("ABORTED_REJECTED", 1),
                ("RESERVED", 1)
            ]),
            total: 5,
        }
    );
    assert_eq!(got.committed(), 2);
    let other = emulator_states(&admin, "c0ffee01").await.unwrap().unwrap();
    assert_eq!(other.by_state, want(&[("RESERVED", 1)]));
    let none = emulator_states(&admin, "00000000").await.unwrap().unwrap();
    assert_eq!((none.total, none.by_state.len()), (0, 0));

    // Per transfer: the held ones by state; a refused prepare and an unknown id left out.
    let ids: Vec<String> = (0..6).map(|i| id("c0ffee00", i)).collect();
    let states = emulator_transfer_states(&admin, &ids)
        .await
        .unwrap()
        .unwrap();
    let want: std::collections::BTreeMap<String, String> = [
        (0, "COMMITTED"),
        (1, "COMMITTED"),
        (2, "ABORTED_ERROR"),
        (3, "RESERVED"),
    ]
    .into_iter()
    .map(|(i, s)| (id("c0ffee00", i), s.to_owned()))
    .collect();
    assert_eq!(states, want);
    assert_eq!(
        states
            .values()
            .map(|s| Settled::of(s).unwrap())
            .collect::<Vec<_>>(),
        [
            Settled::Committed,
            Settled::Committed,
            Settled::Aborted,
            Settled::InFlight
        ]
    );

    // Another service (here the emulator's oracle API) has no such route: 404, so None.
    let oracle = Admin::plain(&format!("http://{}/oracle", running.addr));
    assert_eq!(emulator_states(&oracle, "c0ffee00").await.unwrap(), None);
    assert_eq!(emulator_transfer_states(&oracle, &ids).await.unwrap(), None);
    running.shutdown(Duration::from_secs(1)).await;
}
