//! TLS handshakes counted where they happen (issue 23, item 4), each side on its own: under
//! mTLS every connection the hub emulator opens to a simulator is one handshake its client
//! counts and one the simulator's server counts, and every connection a simulator opens to the
//! hub is one its client counts and one the hub's servers count (the hub's also count the admin
//! client's). A side that stops counting breaks one of the two equalities.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use load::{Flow, Scenario};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn every_mtls_connection_is_one_handshake_on_each_side() {
    let sc = Scenario::constant("tls", Flow::Transfer, 20.0, Duration::from_secs(1));
    let env = testbed::LocalEnv::start(
        &testbed::EnvOptions {
            security: testbed::Security::Full,
            hub_latency: None,
            payee_latency: None,
            quiet: true,
            api: fspiop::iso::Api::Fspiop,
        },
        &[&sc],
    )
    .await
    .unwrap();
    let payers = env.payers();
    let report = load::run_with(&sc, payers.clone(), None, None).await;
    assert_eq!(report.committed, 20, "{:?}", report.errors_by_code);
    // Until the hub has delivered its last callback (the payee's confirmation).
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.hub().stats.callbacks_in_flight.get() > 0 {
        assert!(Instant::now() < deadline, "callbacks still in flight");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (hub_accepted, hub_made) = env.hub().tls_handshakes();
    let sims = payers.operations();
    let (sims_accepted, sims_made) = env.sims_tls_handshakes();
    assert!(hub_made > 0 && sims_made > 0, "{hub_made} {sims_made}");
    assert_eq!(hub_made, sims_accepted, "hub → simulators");
    assert!(
        hub_accepted >= sims_made && hub_accepted <= sims_made + 4,
        "simulators (and the admin client) → hub: hub accepted {hub_accepted}, simulators made {sims_made}"
    );
    // What a run's report adds up is the same counters.
    assert_eq!(sims.tls_handshakes, sims_accepted + sims_made);
    env.stop().await;
}
