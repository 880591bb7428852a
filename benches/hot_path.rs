//! Criterion benches for the intake hot path, step by step: the request
//! head checks, body decoding, field mapping, phone and email
//! normalisation, the duplicate window (alone and under contention), the
//! usage-log entry, a new lead's records as JSON, index lookups on 100,000
//! clients and a group commit of 1,000 leads.
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
use dataport::intake::normalize::{self, Phones};
use dataport::store::apply::{Batch, Sequences};
use dataport::store::leads::LeadDraft;
use dataport::store::record_json::RecordJson;
use dataport::store::records::{AutomationEntry, Client, InboxLead, Relationship, UsageEntry};
use dataport::store::rendered::{RenderedEntry, UsageParts};
use dataport::store::{AnchorIndex, DuplicateKey, Store};

const FORM: &[u8] = b"FirstName=Dana&LastName=Levi&Phone=050-123-4567&Email=Dana%40Example.com&City=Tel+Aviv&Campaign=summer&utm_source=fb&Extra=1";

fn head(c: &mut Criterion) {
    let limits = dataport::http::conn::Limits {
        max_body_bytes: 65536,
        max_header_bytes: 16384,
        max_headers: 64,
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(30),
        max_connections: 20_000,
    };
    let head = b"POST /land_fb HTTP/1.1\r\nHost: leads.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: */*\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 300\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n";
    c.bench_function("http/inspect_head", |b| {
        b.iter(|| {
            dataport::http::head::inspect_head(black_box(head), &limits)
                .unwrap()
                .unwrap()
        })
    });
}

fn index_lookups(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 4 << 30).unwrap();
    let mut seq = Sequences::load(&store).unwrap();
    for chunk in 0..20u64 {
        let mut batch = Batch::begin(&store, &mut seq).unwrap();
        for i in 0..5_000u64 {
            let n = chunk * 5_000 + i;
            let phone = format!("97253{n:07}");
            let mut d = LeadDraft {
                profile: 1,
                match_existing: false,
                duplicate_key: Some(DuplicateKey::new(
                    dataport::dedupe::key_hash(1, &[&n.to_string()]),
                    1_000,
                    Some((AnchorIndex::Phone, &phone)),
                )),
                ..LeadDraft::default()
            };
            d.client.phone1 = phone;
            d.client.email = format!("lead{n}@example.com");
            d.client.created_at = "2026-11-22T10:00:00.000Z".into();
            batch.apply_lead(&d).unwrap();
        }
        batch.commit().unwrap();
    }
    let mut g = c.benchmark_group("index_100k_clients");
    g.bench_function("by_phone", |b| {
        b.iter(|| store.clients_by_phone(black_box("972530054321")).unwrap())
    });
    g.bench_function("by_email", |b| {
        b.iter(|| {
            store
                .clients_by_email(black_box("lead54321@example.com"))
                .unwrap()
        })
    });
    let k = dataport::dedupe::key_hash(1, &["54321"]);
    g.bench_function("duplicate_key", |b| {
        b.iter(|| {
            store
                .duplicate_accepted_at(black_box(k), Some((AnchorIndex::Phone, "972530054321")))
                .unwrap()
        })
    });
    g.finish();
}

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
    // Issue 18: a body of the maximum size costs about the same however
    // many fields it carries. Each body is ~65,500 bytes.
    const MAX: usize = 65_500;
    let pad = |mut s: String, filler: &str| {
        while s.len() + filler.len() <= MAX {
            s.push_str(filler);
        }
        s
    };
    // A normal post with one long value.
    let few = pad(
        "FirstName=Dana&Phone=052-234-5678&Email=dana%40example.com&Notes=".into(),
        "x",
    );
    // The most fields an accepted post may carry (the default cap, 256),
    // half of them repeats of the other half.
    let value = "v".repeat(MAX / 256 - 10);
    let cap: String = (0..256)
        .map(|i| format!("f{:03}={value}&", i % 128))
        .collect();
    // 13,000 bare names: refused at the 257th.
    let mut distinct = String::new();
    let mut i = 0;
    while distinct.len() + 5 <= MAX {
        distinct.push_str(&format!("{i:04x}&"));
        i += 1;
    }
    let mut g = c.benchmark_group("decode_max_body");
    g.throughput(Throughput::Bytes(MAX as u64));
    for (name, body, ok) in [
        ("4_fields", &few, true),
        ("256_fields", &cap, true),
        ("13k_names_refused", &distinct, false),
    ] {
        let mut f = Fields::default();
        assert_eq!(
            f.decode_into("", None, body.as_bytes()).is_ok(),
            ok,
            "{name}"
        );
        g.bench_function(name, |b| {
            b.iter(|| f.decode_into("", None, black_box(body.as_bytes())).is_ok())
        });
    }
    g.finish();
}

fn mapping_and_normalisation(c: &mut Criterion) {
    let cfg = Config::from_toml(EMBEDDED_DEFAULT).unwrap();
    let profile = cfg.profile("land_fb").unwrap().clone();
    let fields = Fields::decode("", None, FORM).unwrap();
    c.bench_function("map/land_fb", |b| {
        b.iter(|| mapping::map(&profile, black_box(&fields)).unwrap())
    });
    // What a duplicate costs of the mapping: the borrowed view, the contact
    // values the window needs, the unmapped fields; no owned records.
    c.bench_function("map/land_fb_view", |b| {
        b.iter(|| {
            let v = mapping::View::new(&profile, black_box(&fields)).unwrap();
            let contact = ["phone1", "phone2", "phone3", "email"].map(|f| v.client(f).len());
            (contact, v.extras().count())
        })
    });
    let phones = Phones::new("IL");
    c.bench_function("normalize/phone_cached_inline", |b| {
        b.iter(|| phones.check_inline(black_box("050-123-4567")))
    });
    c.bench_function("normalize/phone_national", |b| {
        b.iter(|| phones.normalize(black_box("050-123-4567")))
    });
    c.bench_function("normalize/phone_e164", |b| {
        b.iter(|| phones.normalize(black_box("+972501234567")))
    });
    // Distinct numbers, more than the cache keeps: the phone library's
    // parse and validity check every time (a flood of new leads).
    let numbers: Vec<String> = (0..200_000u32)
        .map(|i| format!("05{}-{:03}-{:04}", 2 + i % 3, i / 10_000, i % 10_000))
        .collect();
    let mut next = numbers.iter().cycle();
    c.bench_function("normalize/phone_uncached", |b| {
        b.iter(|| phones.check(black_box(next.next().unwrap())))
    });
    // Distinct international numbers, one calling code after another, at
    // the phone library's default pattern cache of 100 (the server sizes it
    // by `intake.phone_pattern_cache`): every country needs about five, so
    // each number recompiles what the last country evicted (README:
    // Reliability).
    let mut codes: Vec<u16> = phonenumber::metadata::DATABASE
        .iter()
        .map(|m| m.country_code())
        .collect();
    codes.sort_unstable();
    codes.dedup();
    let world: Vec<String> = (0..20_000u32)
        .map(|i| format!("+{}{}", codes[i as usize % codes.len()], 20_000_000 + i))
        .collect();
    let mut next = world.iter().cycle();
    let mut g = c.benchmark_group("normalize");
    g.sample_size(20);
    g.bench_function("phone_uncached_every_country", |b| {
        b.iter(|| phones.check(black_box(next.next().unwrap())))
    });
    g.finish();
    // Emails: the normal form in place (the intake's way) and the syntax
    // check every new contact passes.
    let mut email = String::with_capacity(64);
    c.bench_function("normalize/email", |b| {
        b.iter(|| {
            email.clear();
            email.push_str(black_box("  Dana.Levi@Example.COM "));
            normalize::email_in_place(&mut email);
            normalize::email_syntax_ok(&email)
        })
    });
}

/// The usage-log entry every request costs: rendered on the worker, against
/// serde_json writing the same entry (what the writer did before).
fn usage_entry(c: &mut Criterion) {
    // The 300-byte body benches/compare.sh posts.
    let body = format!(
        "FirstName=Load&LastName=Gen&Phone=0531234567&Email=lg0531234567@loadgen.example&Notes={}",
        "x".repeat(170)
    );
    let parts = UsageParts {
        created_at: "2026-11-23T05:40:00.123Z",
        ip: "203.0.113.7".parse().unwrap(),
        client_ip: "203.0.113.7".parse().unwrap(),
        method: "POST",
        form: "land_fb",
        query: "",
        content_type: "application/x-www-form-urlencoded",
        user_agent: "Mozilla/5.0 (X11; Linux x86_64)",
        body: &body,
        body_base64: false,
    };
    c.bench_function("usage_entry/render", |b| {
        // A fresh buffer each time, as serde_json gets below (in the server
        // the buffer comes from the writer's pool).
        b.iter(|| RenderedEntry::usage(Vec::with_capacity(600), black_box(&parts)))
    });
    let entry = UsageEntry {
        id: 1,
        created_at: parts.created_at.into(),
        ip: "203.0.113.7".into(),
        client_ip: "203.0.113.7".into(),
        method: "POST".into(),
        form: "land_fb".into(),
        query: String::new(),
        content_type: parts.content_type.into(),
        user_agent: parts.user_agent.into(),
        body: body.clone(),
        body_base64: false,
        carried: Vec::new(),
        status: 200,
        code: "006".into(),
        reason: "Duplicated HTTP Post.".into(),
        record_id: 0,
    };
    c.bench_function("usage_entry/serde_json", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(600);
            serde_json::to_writer(&mut out, black_box(&entry)).unwrap();
            out
        })
    });
}

/// The four records a new lead writes (as `benches/compare.sh` posts it),
/// ours against serde_json's, into one reused buffer as the writer does.
fn record_json(c: &mut Criterion) {
    let at = "2026-11-23T12:00:00.000Z";
    let client = Client {
        id: 1_000_001,
        number: 1_000_001,
        created_at: at.into(),
        created_local: "2026-11-23T14:00:00.000+02:00".into(),
        updated_at: at.into(),
        profile: 1,
        handling_status: 1,
        lead_status: "New".into(),
        first_name: "Load".into(),
        last_name: "Gen".into(),
        phone1: "972531234567".into(),
        email: "lg0531234567@loadgen.example".into(),
        lead_supplier: "land_fb".into(),
        ..Client::default()
    };
    let data: std::collections::BTreeMap<String, String> = client
        .mapped_fields()
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let lead = InboxLead {
        id: 1_000_001,
        created_at: at.into(),
        profile: 1,
        datum: "2026-11-23".into(),
        datum_do: "0000-00-00".into(),
        email: client.email.clone(),
        phone: client.phone1.clone(),
        site: "land_fb".into(),
        content: format!(
            "Email: {}\nFirstName: Load\nLastName: Gen\nNotes: {}\nPhone: 0531234567\n",
            client.email,
            "x".repeat(170)
        ),
        clid: 1_000_001,
        client: "Load Gen".into(),
        did: 1_000_001,
        deal: "web lead".into(),
        status: 1,
        status_name: "New".into(),
        rezult_name: "Open".into(),
        ..InboxLead::default()
    };
    let relationship = Relationship {
        id: 1_000_001,
        client: 1_000_001,
        created_at: at.into(),
        profile: 1,
        kind: "new web lead".into(),
        task: true,
        note: "New lead from web form land_fb".into(),
        data,
    };
    let automation = AutomationEntry {
        id: 1_000_001,
        created_at: at.into(),
        profile: 1,
        client: 1_000_001,
        fields: [("Notes".to_string(), "x".repeat(170))].into(),
    };
    let mut g = c.benchmark_group("record_json");
    let mut out = Vec::with_capacity(4096);
    g.bench_function("new_lead_ours", |b| {
        b.iter(|| {
            out.clear();
            black_box(&client).write_json(&mut out);
            black_box(&lead).write_json(&mut out);
            black_box(&relationship).write_json(&mut out);
            black_box(&automation).write_json(&mut out);
            out.len()
        })
    });
    g.bench_function("new_lead_serde_json", |b| {
        b.iter(|| {
            out.clear();
            serde_json::to_writer(&mut out, black_box(&client)).unwrap();
            serde_json::to_writer(&mut out, black_box(&lead)).unwrap();
            serde_json::to_writer(&mut out, black_box(&relationship)).unwrap();
            serde_json::to_writer(&mut out, black_box(&automation)).unwrap();
            out.len()
        })
    });
    g.finish();
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
    head,
    decoding,
    mapping_and_normalisation,
    record_json,
    duplicate_window,
    index_lookups,
    usage_entry,
    group_commit
);
criterion_main!(benches);
