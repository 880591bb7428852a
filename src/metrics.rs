//! Counters for `/metrics` (Prometheus text format). Everything is a relaxed
//! atomic: recording costs a few uncontended increments, never a lock.
//!
//! Floor: above `codes` only; everything counts into it, and the router
//! renders it.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::codes;

/// HTTP error statuses counted (every 4xx/5xx answer, whoever produced it).
pub const REFUSAL_STATUSES: [u16; 11] = [400, 401, 404, 405, 408, 413, 429, 431, 500, 501, 503];

/// Upper bounds (seconds) of the request latency histogram.
const LATENCY_BOUNDS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
/// Upper bounds of the commit batch size histogram.
const BATCH_BOUNDS: [f64; 10] = [
    1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 2000.0, 5000.0,
];

pub struct Histogram<const N: usize> {
    buckets: [AtomicU64; N],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl<const N: usize> Default for Histogram<N> {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }
}

impl<const N: usize> Histogram<N> {
    fn observe(&self, bounds: &[f64; N], value: f64, scaled_sum: u64) {
        if let Some(i) = bounds.iter().position(|b| value <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(scaled_sum, Ordering::Relaxed);
    }

    /// Observations so far, and the sum of their scaled values.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.count.load(Ordering::Relaxed),
            self.sum_micros.load(Ordering::Relaxed),
        )
    }

    fn render(&self, out: &mut String, name: &str, bounds: &[f64; N], sum_scale: f64) {
        let mut cum = 0;
        for (i, b) in bounds.iter().enumerate() {
            cum += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cum}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / sum_scale;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

#[derive(Default)]
pub struct Metrics {
    /// Intake answers 003 (no profile to count them under).
    pub unknown_form: AtomicU64,
    pub refusals: [AtomicU64; REFUSAL_STATUSES.len()],
    pub latency: Histogram<14>,
    pub commit_batch: Histogram<10>,
    pub commit_seconds: Histogram<14>,
    pub commit_sync_seconds: Histogram<14>,
    pub commit_failures: AtomicU64,
    pub write_queue_full: AtomicU64,
    pub usage_dropped: AtomicU64,
    pub duplicate_storage_lookups: AtomicU64,
    pub connections_open: AtomicI64,
    /// Set on SIGTERM: answers close their connections, accepting stops.
    pub draining: std::sync::atomic::AtomicBool,
    pub connections_refused: AtomicU64,
    pub timeouts: AtomicU64,
    pub dns_lookups: AtomicU64,
    pub dns_cache_hits: AtomicU64,
    /// DNS timeouts, SERVFAILs and overloads answered by letting the email pass.
    pub dns_fail_open: AtomicU64,
    /// Lookups not made while the DNS was marked down.
    pub dns_skipped: AtomicU64,
    pub outbox_sent: AtomicU64,
    pub outbox_retries: AtomicU64,
    pub outbox_failed: AtomicU64,
    /// Rounds the outbox scheduler and the dial dispatcher have run: what
    /// proves that nothing was due (a round ran and sent nothing).
    pub outbox_rounds: AtomicU64,
    pub dialer_rounds: AtomicU64,
    /// Cluster mode: 1 while NATS is connected and the buckets exist.
    pub cluster_connected: AtomicU64,
    /// Cluster mode: per origin node, ms from the stream to this node's
    /// commit for its newest applied record.
    pub cluster_apply_lag_ms: std::sync::Mutex<std::collections::BTreeMap<u16, u64>>,
    /// Cluster mode: 1 while this node holds the dialer's lease.
    pub cluster_dialer_lease: AtomicU64,
    pub cluster_claims_won: AtomicU64,
    pub cluster_claims_lost: AtomicU64,
    /// Claims NATS did not answer in time: answered by this node alone
    /// (`accept`) or 005 (`refuse`).
    pub cluster_unreachable: AtomicU64,
    /// Records published to / applied from the cluster's stream, and the
    /// replication log's backlog when NATS was last unreachable.
    pub repl_published: AtomicU64,
    /// People claimed for a new client, and claims another node held.
    pub cluster_person_claims_won: AtomicU64,
    pub cluster_person_claims_lost: AtomicU64,
    /// Lost claims whose client had not arrived within the wait.
    pub cluster_claim_waits_expired: AtomicU64,
    pub repl_applied: AtomicU64,
    pub repl_backlog: AtomicU64,
}

impl Metrics {
    pub fn refusal(&self, status: u16) {
        if let Some(i) = REFUSAL_STATUSES.iter().position(|s| *s == status) {
            self.refusals[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn observe_latency(&self, d: Duration) {
        self.latency
            .observe(&LATENCY_BOUNDS, d.as_secs_f64(), d.as_micros() as u64);
    }

    /// One commit: jobs carried, time to apply and commit, and of that the
    /// time LMDB spent writing pages and fsyncing.
    pub fn observe_commit(&self, jobs: usize, took: Duration, sync: Duration) {
        if jobs > 0 {
            self.commit_batch
                .observe(&BATCH_BOUNDS, jobs as f64, jobs as u64);
        }
        self.commit_seconds
            .observe(&LATENCY_BOUNDS, took.as_secs_f64(), took.as_micros() as u64);
        self.commit_sync_seconds.observe(
            &LATENCY_BOUNDS,
            sync.as_secs_f64(),
            sync.as_micros() as u64,
        );
    }

    /// The `/metrics` page: these counters, and what the caller gathered
    /// from the configuration and the store.
    pub fn render(&self, extra: &Gathered<'_>) -> String {
        let mut o = String::with_capacity(8192);
        o.push_str(
            "# HELP dataport_intake_responses_total Intake answers by profile and response code.\n",
        );
        o.push_str("# TYPE dataport_intake_responses_total counter\n");
        for (number, form, by_code) in &extra.profiles {
            for c in codes::ALL {
                let n = by_code[c.index()].load(Ordering::Relaxed);
                let _ = writeln!(
                    o,
                    "dataport_intake_responses_total{{profile=\"{number}\",form=\"{form}\",code=\"{}\"}} {n}",
                    c.as_str()
                );
            }
        }
        let _ = writeln!(
            o,
            "dataport_intake_responses_total{{profile=\"\",form=\"\",code=\"003\"}} {}",
            self.unknown_form.load(Ordering::Relaxed)
        );
        o.push_str(
            "# HELP dataport_http_refusals_total Answers with an HTTP error status, by status.\n",
        );
        o.push_str("# TYPE dataport_http_refusals_total counter\n");
        for (i, s) in REFUSAL_STATUSES.iter().enumerate() {
            let _ = writeln!(
                o,
                "dataport_http_refusals_total{{status=\"{s}\"}} {}",
                self.refusals[i].load(Ordering::Relaxed)
            );
        }
        o.push_str("# HELP dataport_request_duration_seconds Time from a complete request to its answer.\n");
        o.push_str("# TYPE dataport_request_duration_seconds histogram\n");
        self.latency.render(
            &mut o,
            "dataport_request_duration_seconds",
            &LATENCY_BOUNDS,
            1e6,
        );
        o.push_str("# HELP dataport_commit_batch_jobs Jobs carried by one LMDB commit.\n");
        o.push_str("# TYPE dataport_commit_batch_jobs histogram\n");
        self.commit_batch
            .render(&mut o, "dataport_commit_batch_jobs", &BATCH_BOUNDS, 1.0);
        o.push_str("# HELP dataport_commit_duration_seconds Time to apply and commit one batch.\n");
        o.push_str("# TYPE dataport_commit_duration_seconds histogram\n");
        self.commit_seconds.render(
            &mut o,
            "dataport_commit_duration_seconds",
            &LATENCY_BOUNDS,
            1e6,
        );
        o.push_str("# HELP dataport_commit_sync_seconds Of a commit, the time LMDB spent writing its pages and fsyncing.\n");
        o.push_str("# TYPE dataport_commit_sync_seconds histogram\n");
        self.commit_sync_seconds.render(
            &mut o,
            "dataport_commit_sync_seconds",
            &LATENCY_BOUNDS,
            1e6,
        );
        self.render_gauges(&mut o, extra);
        o
    }

    /// `dataport_cluster_apply_lag_seconds{origin="N"}`, one per node
    /// whose records this node has applied.
    fn render_apply_lag(&self, o: &mut String) {
        let lags = self
            .cluster_apply_lag_ms
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !lags.is_empty() {
            let _ = writeln!(o, "# TYPE dataport_cluster_apply_lag_seconds gauge");
            for (origin, ms) in lags.iter() {
                let _ = writeln!(
                    o,
                    "dataport_cluster_apply_lag_seconds{{origin=\"{origin}\"}} {}",
                    *ms as f64 / 1000.0
                );
            }
        }
    }

    fn render_gauges(&self, o: &mut String, extra: &Gathered<'_>) {
        let gauges: [(&str, &str, f64); 14] = [
            (
                "dataport_lmdb_map_size_bytes",
                "gauge",
                extra.map_size as f64,
            ),
            ("dataport_lmdb_used_bytes", "gauge", extra.used_bytes as f64),
            ("dataport_lmdb_file_bytes", "gauge", extra.file_bytes as f64),
            ("dataport_write_queue_length", "gauge", extra.queued as f64),
            (
                "dataport_phone_patterns_cached",
                "gauge",
                extra.patterns as f64,
            ),
            (
                "dataport_phone_pattern_cache_capacity",
                "gauge",
                extra.pattern_room as f64,
            ),
            (
                "dataport_connections_open",
                "gauge",
                self.connections_open.load(Ordering::Relaxed) as f64,
            ),
            (
                "dataport_commit_failures_total",
                "counter",
                self.commit_failures.load(Ordering::Relaxed) as f64,
            ),
            (
                "dataport_write_queue_full_total",
                "counter",
                self.write_queue_full.load(Ordering::Relaxed) as f64,
            ),
            (
                "dataport_usage_log_dropped_total",
                "counter",
                self.usage_dropped.load(Ordering::Relaxed) as f64,
            ),
            (
                "dataport_connections_refused_total",
                "counter",
                self.connections_refused.load(Ordering::Relaxed) as f64,
            ),
            (
                "dataport_cluster_connected",
                "gauge",
                self.cluster_connected.load(Ordering::Relaxed) as f64,
            ),
            (
                "dataport_cluster_dialer_lease",
                "gauge",
                self.cluster_dialer_lease.load(Ordering::Relaxed) as f64,
            ),
            (
                "dataport_cluster_replication_backlog",
                "gauge",
                self.repl_backlog.load(Ordering::Relaxed) as f64,
            ),
        ];
        for (name, kind, v) in gauges {
            let _ = writeln!(o, "# TYPE {name} {kind}\n{name} {v}");
        }
        self.render_apply_lag(o);
        let _ = writeln!(
            o,
            "# TYPE dataport_duplicate_storage_lookups_total counter\ndataport_duplicate_storage_lookups_total {}",
            self.duplicate_storage_lookups.load(Ordering::Relaxed)
        );
        for (name, v) in [
            ("dataport_timeouts_total", &self.timeouts),
            ("dataport_dns_lookups_total", &self.dns_lookups),
            ("dataport_dns_cache_hits_total", &self.dns_cache_hits),
            ("dataport_dns_fail_open_total", &self.dns_fail_open),
            ("dataport_dns_skipped_total", &self.dns_skipped),
            ("dataport_outbox_sent_total", &self.outbox_sent),
            ("dataport_outbox_retries_total", &self.outbox_retries),
            ("dataport_outbox_failed_total", &self.outbox_failed),
            ("dataport_outbox_rounds_total", &self.outbox_rounds),
            ("dataport_dialer_rounds_total", &self.dialer_rounds),
            (
                "dataport_cluster_claims_won_total",
                &self.cluster_claims_won,
            ),
            (
                "dataport_cluster_claims_lost_total",
                &self.cluster_claims_lost,
            ),
            (
                "dataport_cluster_unreachable_total",
                &self.cluster_unreachable,
            ),
            (
                "dataport_cluster_records_published_total",
                &self.repl_published,
            ),
            ("dataport_cluster_records_applied_total", &self.repl_applied),
            (
                "dataport_cluster_person_claims_won_total",
                &self.cluster_person_claims_won,
            ),
            (
                "dataport_cluster_person_claims_lost_total",
                &self.cluster_person_claims_lost,
            ),
            (
                "dataport_cluster_claim_waits_expired_total",
                &self.cluster_claim_waits_expired,
            ),
        ] {
            let _ = writeln!(
                o,
                "# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
    }
}

/// What `/metrics` shows that these counters do not hold: each profile's
/// answers by code, the store's size, the write queue, the phone patterns.
pub struct Gathered<'a> {
    pub profiles: Vec<(u32, &'a str, &'a [AtomicU64; 11])>,
    pub map_size: u64,
    pub used_bytes: u64,
    pub file_bytes: u64,
    pub queued: usize,
    pub patterns: usize,
    pub pattern_room: usize,
}
