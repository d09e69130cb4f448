//! The cost of a hot-path counter: a plain atomic (what the hub and the driver had), a
//! `prometheus-client` counter handle (what they have now), and a labelled lookup in a family
//! (the simulator's per-request pattern).

use criterion::{criterion_group, criterion_main, Criterion};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: &'static str,
    status: u16,
}

fn counters(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_inc");
    let atomic = AtomicU64::new(0);
    g.bench_function("atomic_u64_fetch_add", |b| {
        b.iter(|| black_box(&atomic).fetch_add(1, Ordering::Relaxed))
    });
    let counter = Counter::<u64>::default();
    g.bench_function("prometheus_client_counter", |b| {
        b.iter(|| black_box(&counter).inc())
    });
    let family = Family::<RouteStatus, Counter>::default();
    let key = RouteStatus {
        route: "transfers_post",
        status: 202,
    };
    g.bench_function("prometheus_client_family_lookup", |b| {
        b.iter(|| family.get_or_create(black_box(&key)).inc())
    });
    g.finish();
}

criterion_group!(benches, counters);
criterion_main!(benches);
