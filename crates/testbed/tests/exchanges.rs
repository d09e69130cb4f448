//! The HTTP exchanges per transfer that `perfbed bench local` multiplies by the transport
//! floor's cost (`testbed::exchange::exchanges`), checked against the hub emulator's own
//! counters, each side on its own: every committed transfer of a flow costs exactly
//! `hub_inbound` requests the hub accepted from the DFSPs, and `exchanges − hub_inbound`
//! callbacks the hub delivered. One error in both constants moves one of the two.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use load::{Flow, Scenario};
use std::time::{Duration, Instant};
use testbed::exchange::{exchanges, hub_inbound};

/// The hub's (requests accepted, callbacks delivered) counters.
fn counters(env: &testbed::LocalEnv) -> (u64, u64) {
    let s = &env.hub().stats;
    (s.requests_accepted.get(), s.callbacks_ok.get())
}

/// Waits until the hub has no callback in flight (the confirmation of the last transfer may
/// still be on its way when the payer has its commit), however slow the machine.
async fn settled(env: &testbed::LocalEnv) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.hub().stats.callbacks_in_flight.get() > 0 {
        assert!(
            Instant::now() < deadline,
            "the hub still has callbacks in flight after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_flow_costs_the_hub_requests_and_callbacks_the_exchange_count_says() {
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
        settled(&env).await;
        let (inbound_before, callbacks_before) = counters(&env);
        let report = load::run_with(sc, env.payers(), None, None).await;
        assert_eq!(
            report.committed, 20,
            "{flow:?}: {:?}",
            report.errors_by_code
        );
        settled(&env).await;
        let (inbound, callbacks) = counters(&env);
        let (inbound, callbacks) = (inbound - inbound_before, callbacks - callbacks_before);
        assert_eq!(
            inbound,
            report.committed * u64::from(hub_inbound(*flow)),
            "{flow:?}: the hub accepted {inbound} requests for {} committed transfers",
            report.committed
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
