//! `GET /admin/v1/stats` (SPEC §10): answers by intake code, per profile,
//! per hour. The counts live in memory (`config::ProfileCounters`, kept
//! across configuration changes, not across restarts): the last
//! `?hours=` hours (default 24, at most 48) and the totals since start.

use crate::app::App;
use crate::config::HOURS_KEPT;
use crate::http::body::Fields;
use crate::http::Reply;

const HOUR_MS: u64 = 3_600_000;

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
    let body = serde_json::json!({
        "hours": hours,
        "since_start": true,
        "unknown_form_total": app.metrics.unknown_form.load(std::sync::atomic::Ordering::Relaxed),
        "profiles": profiles,
    });
    Reply::json(200, body.to_string().into_bytes())
}
