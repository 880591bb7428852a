//! `GET /admin/v1/stats` (SPEC §10): answers by intake code, per profile,
//! per hour. The counts live in memory (`config::ProfileCounters`, kept
//! across configuration changes, not across restarts): the last
//! `?hours=` hours (default 24, at most 48) and the totals since start;
//! the last hour minute by minute over all profiles (the console's chart);
//! and the appliance's health: commits, the outbox backlog, disk use.

use crate::app::App;
use crate::config::{HOURS_KEPT, MINUTES_KEPT};
use crate::http::body::Fields;
use crate::http::Reply;

const HOUR_MS: u64 = 3_600_000;
const MINUTE_MS: u64 = 60_000;

fn codes(counts: &[u64; 11]) -> serde_json::Map<String, serde_json::Value> {
    counts
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(i, &n)| (format!("{i:03}"), n.into()))
        .collect()
}

pub fn handle(app: &App, query: &str) -> Reply {
    let mut hours = 24usize;
    if let Ok(params) = Fields::decode(query, None, b"") {
        for f in params.iter() {
            match (f.key, f.value.parse::<usize>()) {
                ("hours", Ok(n)) if (1..=HOURS_KEPT).contains(&n) => hours = n,
                _ => {
                    return Reply::error(
                        400,
                        &format!("stats take hours=1..{HOURS_KEPT} (default 24)"),
                    )
                }
            }
        }
    }
    let now = app.clock.now_ms();
    let this_hour = now - now % HOUR_MS;
    let cfg = app.config();
    let profiles: Vec<serde_json::Value> = cfg
        .profiles
        .iter()
        .map(|p| {
            let total: [u64; 11] = std::array::from_fn(|i| {
                p.counters.by_code[i].load(std::sync::atomic::Ordering::Relaxed)
            });
            let by_hour: Vec<serde_json::Value> = (0..hours as u64)
                .rev()
                .map(|back| this_hour - back * HOUR_MS)
                .map(|start| {
                    let counts = p.counters.hour(start).unwrap_or_default();
                    serde_json::json!({
                        "hour": crate::clock::rfc3339_utc(start),
                        "codes": codes(&counts),
                    })
                })
                .collect();
            serde_json::json!({
                "profile": p.number,
                "form_name": p.form_name,
                "total": codes(&total),
                "by_hour": by_hour,
            })
        })
        .collect();
    let this_minute = now - now % MINUTE_MS;
    let by_minute: Vec<serde_json::Value> = (0..MINUTES_KEPT as u64)
        .rev()
        .map(|back| this_minute - back * MINUTE_MS)
        .map(|start| {
            let mut sum = [0u64; 11];
            for p in &cfg.profiles {
                for (s, n) in sum
                    .iter_mut()
                    .zip(p.counters.minute(start).unwrap_or_default())
                {
                    *s += n;
                }
            }
            serde_json::json!({
                "minute": crate::clock::rfc3339_utc(start),
                "codes": codes(&sum),
            })
        })
        .collect();
    let body = serde_json::json!({
        "hours": hours,
        "since_start": true,
        "unknown_form_total": app.metrics.unknown_form.load(std::sync::atomic::Ordering::Relaxed),
        "profiles": profiles,
        "by_minute": by_minute,
        "health": health(app),
    });
    Reply::json(200, body.to_string().into_bytes())
}

/// Commit health, the outbox backlog and disk use, as the dashboard shows them.
fn health(app: &App) -> serde_json::Value {
    let m = &app.metrics;
    let (commits, commit_micros) = m.commit_seconds.totals();
    let (batches, jobs) = m.commit_batch.totals();
    let (_, sync_micros) = m.commit_sync_seconds.totals();
    let size = app.store.size_info();
    let per = |total: u64, n: u64| if n == 0 { 0.0 } else { total as f64 / n as f64 };
    serde_json::json!({
        "commits": commits,
        "commit_failures": m.commit_failures.load(std::sync::atomic::Ordering::Relaxed),
        "jobs_per_batch": per(jobs, batches),
        "commit_ms_avg": per(commit_micros, commits) / 1000.0,
        "sync_ms_avg": per(sync_micros, commits) / 1000.0,
        "write_queue": app.writer.queued(),
        "outbox_pending": app.store.outbox_pending().ok(),
        "map_size": size.map_size,
        "used_bytes": size.used_bytes,
        "file_bytes": size.file_bytes,
    })
}
