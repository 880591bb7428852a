//! Issue 23: a client found by phone through the index costs the same with
//! a thousand clients stored or ten million. Each store is filled with
//! `dataport preload` (the records and indexes intake writes); a lookup is
//! what the admin API's `?q=` does in the store: the phone index's ids,
//! then each named record read.
//!
//! `cargo bench --bench phone_lookup` (10,000,000 clients: about two
//! minutes to fill and ~10 GB under target/; `LOOKUP_BIG=1000000` for a
//! quicker run). The ratio of the two medians is the figure.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

use dataport::preload::{run, synthetic_phone};
use dataport::store::{Collection, Store};

/// A phone lookup as `?q=` makes it: ids from the index, then the records.
fn lookup(store: &Store, phone: &str) -> usize {
    let ids = store.clients_by_phone(phone).unwrap();
    ids.iter()
        .filter_map(|&id| store.get_raw(Collection::Clients, id).unwrap())
        .map(|r| r.len())
        .sum()
}

fn phone_lookup(c: &mut Criterion) {
    let big: u64 = std::env::var("LOOKUP_BIG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let mut g = c.benchmark_group("phone_lookup");
    g.measurement_time(Duration::from_secs(5));
    for count in [1_000u64, big] {
        let dir = tempfile::tempdir_in(root).unwrap();
        let rate = run(dir.path(), 64 << 30, count, 1).unwrap();
        eprintln!("preloaded {count} clients ({rate:.0}/s)");
        let store = Store::open(dir.path(), 64 << 30).unwrap();
        // Phones spread over the whole store, visited in a scrambled order
        // so the lookups do not walk the index in its own order.
        let phones: Vec<String> = (0..4096u64)
            .map(|i| synthetic_phone((i * 2_654_435_761) % count))
            .collect();
        assert!(phones.iter().all(|p| lookup(&store, p) > 0));
        let mut i = 0;
        g.bench_with_input(BenchmarkId::new("clients", count), &store, |b, s| {
            b.iter(|| {
                i = (i + 1) % phones.len();
                lookup(s, &phones[i])
            })
        });
    }
    g.finish();
}

criterion_group!(benches, phone_lookup);
criterion_main!(benches);
