//! The HTTP exchanges per transfer that `perfbed bench local` multiplies by the transport
//! floor's cost (`testbed::exchange::exchanges`), checked against the hub emulator's own
//! counter of the callbacks it delivered: every committed transfer of a flow costs exactly
//! `exchanges − hub_inbound` hub callbacks.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use load::{Flow, Scenario};
use std::time::Duration;
use testbed::exchange::{exchanges, hub_inbound};

#[tokio::test(flavor = "multi_thread")]
async fn each_flow_costs_the_hub_callbacks_the_exchange_count_says() {
    let flows = [Flow::P2p, Flow::QuoteTransfer, Flow::Transfer];
    let scenarios: Vec<Scenario> = flows
        .iter()
        .map(|f| Scenario::constant("exchanges", *f, 20.0, Duration::from_secs(1)))
        .collect();
    let env = testbed::LocalEnv::start(
        &testbed::EnvOptions {
            security: testbed::Security::None,
            hub_latency: None,
            payee_latency: None,
            quiet: true,
            api: fspiop::iso::Api::Fspiop,
        },
        &scenarios.iter().collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    for (flow, sc) in flows.iter().zip(&scenarios) {
        // Callbacks still owed from the previous flow (the confirmation PUT) land first.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = env.hub().stats.callbacks_ok.get();
        let report = load::run_with(sc, env.payers(), None, None).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let callbacks = env.hub().stats.callbacks_ok.get() - before;
        assert_eq!(
            report.committed, 20,
            "{flow:?}: {:?}",
            report.errors_by_code
        );
        assert_eq!(
            callbacks,
            report.committed * u64::from(exchanges(*flow) - hub_inbound(*flow)),
            "{flow:?}: {callbacks} hub callbacks for {} committed transfers",
            report.committed
        );
    }
    env.stop().await;
}
