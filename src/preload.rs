//! `dataport preload`: fills a data dir with N synthetic client leads for
//! benchmarks, on the fast path — 20,000 leads per commit, time-ordered ids
//! and sequential phone numbers (so index pages fill in order), the same
//! records and indexes intake writes, without the per-request pipeline.

use std::path::Path;
use std::time::Instant;

use crate::clock::rfc3339_utc;
use crate::store::apply::{Batch, Sequences};
use crate::store::leads::LeadDraft;
use crate::store::Store;

const PER_COMMIT: u64 = 20_000;

/// The k-th synthetic number: valid Israeli mobiles in ranges the load
/// generators do not use (052[2-9]…, then 058[3-7]…): 13 million of them.
pub fn synthetic_phone(k: u64) -> String {
    if k < 8_000_000 {
        format!("97252{}{:06}", 2 + k / 1_000_000, k % 1_000_000)
    } else {
        let j = (k - 8_000_000) % 5_000_000;
        format!("97258{}{:06}", 3 + j / 1_000_000, j % 1_000_000)
    }
}

/// Writes `count` leads of `profile` into the store at `dir`; returns leads/s.
pub fn run(dir: &Path, map_size: usize, count: u64, profile: u32) -> anyhow::Result<f64> {
    let store = Store::open(dir, map_size)?;
    let mut seq = Sequences::load(&store)?;
    let started = Instant::now();
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64
        - 86_400_000;
    let mut done = 0u64;
    while done < count {
        let n = PER_COMMIT.min(count - done);
        let mut b = Batch::begin(&store, &mut seq)?;
        for i in 0..n {
            let k = done + i;
            let mut d = LeadDraft {
                profile,
                form_name: "preload".into(),
                match_existing: false,
                ..LeadDraft::default()
            };
            d.client.phone1 = synthetic_phone(k);
            d.client.first_name = "Pre".into();
            d.client.last_name = "Load".into();
            d.client.lead_supplier = "preload".into();
            let at = rfc3339_utc(t0 + k / 100);
            d.client.created_local = at.clone();
            d.client.created_at = at;
            b.apply_lead(&d)?;
        }
        b.commit()?;
        done += n;
        if done.is_multiple_of(1_000_000) {
            tracing::info!(done, "preloaded");
        }
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}
