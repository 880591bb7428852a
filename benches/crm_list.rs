//! `list` of the CRM leads API on 1,000,000 inbox leads: the cost of a page
//! by its offset. Datum/id order is index arithmetic (flat); datum_do and
//! status orders walk their index (grows with the offset).
//!
//! `cargo bench --bench crm_list`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

use dataport::store::apply::{Batch, Sequences};
use dataport::store::inbox::{CrmAdd, LeadOrder, LeadQuery};
use dataport::store::records::InboxLead;
use dataport::store::Store;

const LEADS: u64 = 1_000_000;

fn fill(store: &Store) {
    let mut seq = Sequences::load(store).unwrap();
    let per_commit = 20_000;
    for chunk in 0..LEADS / per_commit {
        let mut b = Batch::begin(store, &mut seq).unwrap();
        for i in 0..per_commit {
            let n = chunk * per_commit + i;
            // ~3,300 leads a day over ten months.
            let day = n / 3_300;
            let d = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(day);
            let add = CrmAdd {
                lead: InboxLead {
                    datum: d.format("%Y-%m-%d").to_string(),
                    client: format!("Lead {n}"),
                    content: "title: bench\n".into(),
                    ..InboxLead::default()
                },
                ..CrmAdd::default()
            };
            b.add_crm_lead(&add).unwrap();
        }
        b.commit().unwrap();
    }
}

fn list(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 8 << 30).unwrap();
    fill(&store);
    let mut g = c.benchmark_group("crm_list_1M");
    g.measurement_time(Duration::from_secs(4));
    for (name, order) in [("datum", LeadOrder::Datum), ("status", LeadOrder::Status)] {
        for page in [0u64, 500, 4_999] {
            let q = LeadQuery {
                order: order.clone(),
                newest_first: true,
                page,
                page_size: 200,
                date_start: None,
                date_end: None,
            };
            assert_eq!(store.lead_page(&q).unwrap().len(), 200);
            g.bench_function(format!("{name}/page_{page}"), |b| {
                b.iter(|| store.lead_page(&q).unwrap())
            });
        }
    }
    let filtered = LeadQuery {
        order: LeadOrder::Datum,
        newest_first: false,
        page: 10,
        page_size: 200,
        date_start: Some("2026-03-01".into()),
        date_end: Some("2026-06-30".into()),
    };
    g.bench_function("datum/dated_page_10", |b| {
        b.iter(|| store.lead_page(&filtered).unwrap())
    });
    g.finish();
}

criterion_group!(benches, list);
criterion_main!(benches);
