//! Criterion benches for the intake hot path, step by step: body decoding,
//! field mapping, phone normalisation, the duplicate window (alone and under
//! contention) and a group commit of 1,000 leads.
//!
//! `cargo bench --bench hot_path`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use dataport::config::{Config, EMBEDDED_DEFAULT};
use dataport::dedupe::{key_hash, DuplicateWindow};
use dataport::http::body::Fields;
use dataport::intake::mapping;
use dataport::intake::normalize::Phones;
use dataport::store::apply::{Batch, LeadDraft, Sequences};
use dataport::store::Store;

const FORM: &[u8] = b"FirstName=Dana&LastName=Levi&Phone=050-123-4567&Email=Dana%40Example.com&City=Tel+Aviv&Campaign=summer&utm_source=fb&Extra=1";

fn decoding(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(FORM.len() as u64));
    g.bench_function("urlencoded", |b| {
        b.iter(|| {
            Fields::decode(
                "",
                Some("application/x-www-form-urlencoded"),
                black_box(FORM),
            )
            .unwrap()
        })
    });
    let json = br#"{"FirstName":"Dana","LastName":"Levi","Phone":"050-123-4567","Email":"dana@example.com","City":"Tel Aviv","Campaign":"summer"}"#;
    g.bench_function("json", |b| {
        b.iter(|| Fields::decode("", Some("application/json"), black_box(json)).unwrap())
    });
    g.finish();
}

fn mapping_and_normalisation(c: &mut Criterion) {
    let cfg = Config::from_toml(EMBEDDED_DEFAULT).unwrap();
    let profile = cfg.profile("land_fb").unwrap().clone();
    let fields = Fields::decode("", None, FORM).unwrap();
    c.bench_function("map/land_fb", |b| {
        b.iter(|| mapping::map(&profile, black_box(&fields)).unwrap())
    });
    let phones = Phones::new("IL");
    c.bench_function("normalize/phone_national", |b| {
        b.iter(|| phones.normalize(black_box("050-123-4567")))
    });
    c.bench_function("normalize/phone_e164", |b| {
        b.iter(|| phones.normalize(black_box("+972501234567")))
    });
}

fn duplicate_window(c: &mut Criterion) {
    let w = DuplicateWindow::new(3_600_000, 1 << 20);
    let mut now = 1_000u64;
    let mut i = 0u64;
    c.bench_function("dedupe/new_key", |b| {
        b.iter(|| {
            i += 1;
            now += 1;
            w.check(key_hash(1, &[&i.to_string(), "", "", ""]), now)
        })
    });
    let dup = key_hash(1, &["972501234567", "", "", "dana@example.com"]);
    w.check(dup, now);
    c.bench_function("dedupe/duplicate_hit", |b| {
        b.iter(|| w.check(black_box(dup), now))
    });

    // Contention: every thread hammers the window at once.
    let shared = Arc::new(DuplicateWindow::new(3_600_000, 1 << 20));
    let mut g = c.benchmark_group("dedupe_contended");
    for threads in [2usize, 4] {
        g.bench_function(format!("{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                let per = iters / threads as u64 + 1;
                let started = Instant::now();
                std::thread::scope(|s| {
                    for t in 0..threads {
                        let w = shared.clone();
                        s.spawn(move || {
                            for n in 0..per {
                                w.check(key_hash(t as u32, &[&n.to_string()]), 5 + n);
                            }
                        });
                    }
                });
                started.elapsed()
            })
        });
    }
    g.finish();
}

fn group_commit(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 4 << 30).unwrap();
    let mut seq = Sequences::load(&store).unwrap();
    let mut g = c.benchmark_group("commit");
    g.throughput(Throughput::Elements(1000));
    g.measurement_time(Duration::from_secs(8));
    let mut n = 0u64;
    g.bench_function("1000_new_leads_one_fsync", |b| {
        b.iter(|| {
            let mut batch = Batch::begin(&store, &mut seq).unwrap();
            for _ in 0..1000 {
                n += 1;
                let mut d = LeadDraft {
                    profile: 1,
                    match_existing: true,
                    ..LeadDraft::default()
                };
                d.client.phone1 = format!("1555{n:08}");
                d.client.created_at = "2026-11-22T10:00:00.000Z".into();
                batch.apply_lead(&d).unwrap();
            }
            batch.commit().unwrap();
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    decoding,
    mapping_and_normalisation,
    duplicate_window,
    group_commit
);
criterion_main!(benches);
