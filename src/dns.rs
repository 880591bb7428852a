//! Email domain checks (SPEC §4 step 6): does the domain exist, by MX and
//! else A/AAAA records, through `hickory-resolver`?
//!
//! hickory is async (tokio); dataport's requests are `may` coroutines. So the
//! resolver runs as a task on the appliance's one tokio thread (`async_thread`).
//! A coroutine looks in the answer cache first; on a miss it queues the
//! domain (never blocking: a full queue fails open) and parks on a `may`
//! channel for at most `dns_timeout_ms` (+ a margin), so a lookup never
//! blocks a coroutine's thread and never touches the write path.
//!
//! Verdicts: records found → the domain exists; NXDOMAIN, or no MX and no
//! A/AAAA → it does not (the email fails); timeout, SERVFAIL, refused or a
//! full queue → unknown, which fails open (the email passes) and is counted.
//! Answers are cached with their TTL (positive: the records' TTL within
//! 60 s – 1 h; negative: the SOA's negative TTL, else 5 min); unknowns are
//! not cached.
//!
//! A DNS outage must not add a timeout to every post: after
//! [`BREAKER_STREAK`] unknowns in a row the checker stops asking for
//! [`BREAKER_COOLDOWN_MS`] (on the injected clock) and answers unknown at
//! once, counted in `dataport_dns_skipped_total`; then one lookup probes
//! (the others keep skipping), and an answer closes the breaker.
//!
//! Floor: above `metrics` and `clock`; `config` reads its server-list parser,
//! `app` holds its checker.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ahash::AHashMap;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::{Resolver, TokioResolver};

use crate::clock::SharedClock;
use crate::metrics::Metrics;

const SHARDS: usize = 16;
const NEGATIVE_TTL_S: u64 = 300;
const MIN_TTL_S: u64 = 60;
const MAX_TTL_S: u64 = 3600;
/// Most cached domains per shard; past it the shard is cleared (simple, bounded).
const SHARD_CAP: usize = 16_384;
/// Unknown verdicts in a row that mark the DNS as down.
pub const BREAKER_STREAK: u32 = 3;
/// How long a DNS marked down is not asked, ms.
pub const BREAKER_COOLDOWN_MS: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Exists,
    Missing,
    /// The DNS did not say (timeout, SERVFAIL, overload): fail open.
    Unknown,
}

type Reply = may::sync::mpsc::Sender<(Verdict, u64)>;
/// Domain → (verdict, expires at, ms).
type CacheShard = Mutex<AHashMap<String, (Verdict, u64)>>;

pub struct DomainChecker {
    tx: tokio::sync::mpsc::Sender<(String, Reply)>,
    cache: Box<[CacheShard]>,
    wait: Duration,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    /// Unknown verdicts in a row.
    unknown_streak: AtomicU32,
    /// While the clock is before this (ms), the DNS is not asked.
    down_until: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum DnsSetupError {
    #[error("intake.dns_servers: {0:?} is not an address:port")]
    Server(String),
    #[error("cannot build the DNS resolver: {0}")]
    Resolver(String),
}

/// Parses `dns_servers` entries ("127.0.0.1:5353", "[::1]:53", "9.9.9.9").
pub fn parse_servers(servers: &[String]) -> Result<Vec<SocketAddr>, DnsSetupError> {
    servers
        .iter()
        .map(|s| {
            s.parse::<SocketAddr>()
                .or_else(|_| {
                    s.parse::<std::net::IpAddr>()
                        .map(|ip| SocketAddr::new(ip, 53))
                })
                .map_err(|_| DnsSetupError::Server(s.clone()))
        })
        .collect()
}

fn build_resolver(
    servers: &[SocketAddr],
    timeout: Duration,
) -> Result<TokioResolver, DnsSetupError> {
    let mut opts = ResolverOpts::default();
    opts.timeout = timeout;
    opts.attempts = 1;
    // dataport keeps its own cache (on the injected clock); one is enough.
    opts.cache_size = 0;
    let builder = if servers.is_empty() {
        Resolver::builder_tokio().map_err(|e| DnsSetupError::Resolver(e.to_string()))?
    } else {
        let name_servers = servers
            .iter()
            .map(|a| {
                let mut udp = ConnectionConfig::udp();
                udp.port = a.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = a.port();
                let mut ns = NameServerConfig::udp(a.ip());
                ns.trust_negative_responses = true;
                ns.connections = vec![udp, tcp];
                ns
            })
            .collect();
        Resolver::builder_with_config(
            ResolverConfig::from_parts(None, Vec::new(), name_servers),
            TokioRuntimeProvider::default(),
        )
    };
    builder
        .with_options(opts)
        .build()
        .map_err(|e| DnsSetupError::Resolver(e.to_string()))
}

impl DomainChecker {
    /// Starts the resolver's task on the appliance's tokio thread.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        servers: &[String],
        timeout: Duration,
        clock: SharedClock,
        metrics: Arc<Metrics>,
    ) -> Result<DomainChecker, DnsSetupError> {
        let servers = parse_servers(servers)?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, Reply)>(4096);
        // Built inside the runtime, which its connections belong to.
        let resolver = {
            let _inside = runtime.enter();
            Arc::new(build_resolver(&servers, timeout)?)
        };
        runtime.spawn(async move {
            while let Some((domain, reply)) = rx.recv().await {
                let r = resolver.clone();
                tokio::spawn(async move {
                    let _ = reply.send(lookup(&r, &domain).await);
                });
            }
        });
        Ok(DomainChecker {
            tx,
            cache: (0..SHARDS).map(|_| Mutex::new(AHashMap::new())).collect(),
            wait: timeout + Duration::from_millis(200),
            clock,
            metrics,
            unknown_streak: AtomicU32::new(0),
            down_until: AtomicU64::new(0),
        })
    }

    fn shard(&self, domain: &str) -> std::sync::MutexGuard<'_, AHashMap<String, (Verdict, u64)>> {
        let h = xxhash_rust::xxh3::xxh3_64(domain.as_bytes()) as usize;
        self.cache[h % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The verdict for `domain` (lower-case). Parks the calling coroutine at
    /// most `dns_timeout_ms` + 200 ms on a cache miss.
    pub fn check(&self, domain: &str) -> Verdict {
        let now = self.clock.now_ms();
        if let Some(&(v, expires)) = self.shard(domain).get(domain) {
            if expires > now {
                self.metrics.dns_cache_hits.fetch_add(1, Ordering::Relaxed);
                return v;
            }
        }
        if self.unknown_streak.load(Ordering::Relaxed) >= BREAKER_STREAK {
            // Marked down: skip until the cool-down ends; then exactly one
            // caller (the one that moves the deadline on) probes, and the
            // others keep skipping until its answer comes.
            let until = self.down_until.load(Ordering::Relaxed);
            let probe = now >= until
                && self
                    .down_until
                    .compare_exchange(
                        until,
                        now + BREAKER_COOLDOWN_MS,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    )
                    .is_ok();
            if !probe {
                self.metrics.dns_skipped.fetch_add(1, Ordering::Relaxed);
                self.metrics.dns_fail_open.fetch_add(1, Ordering::Relaxed);
                return Verdict::Unknown;
            }
        }
        self.metrics.dns_lookups.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = may::sync::mpsc::channel();
        let verdict = match self.tx.try_send((domain.to_string(), tx)) {
            Ok(()) => rx.recv_timeout(self.wait).ok(),
            Err(_) => None,
        };
        match verdict {
            Some((v, ttl)) if v != Verdict::Unknown => {
                if self.unknown_streak.swap(0, Ordering::Relaxed) >= BREAKER_STREAK {
                    tracing::info!("DNS answering again: email domains are checked");
                }
                let mut shard = self.shard(domain);
                if shard.len() >= SHARD_CAP {
                    shard.clear();
                }
                shard.insert(domain.to_string(), (v, now + ttl * 1000));
                v
            }
            _ => {
                self.metrics.dns_fail_open.fetch_add(1, Ordering::Relaxed);
                let streak = self.unknown_streak.fetch_add(1, Ordering::Relaxed) + 1;
                if streak >= BREAKER_STREAK {
                    let until = self.clock.now_ms() + BREAKER_COOLDOWN_MS;
                    self.down_until.store(until, Ordering::Relaxed);
                    if streak == BREAKER_STREAK {
                        tracing::warn!(
                            cooldown_ms = BREAKER_COOLDOWN_MS,
                            "DNS not answering: email domains pass unchecked, asking again every cool-down"
                        );
                    }
                }
                Verdict::Unknown
            }
        }
    }
}

enum Failure {
    NxDomain(Option<u32>),
    NoData(Option<u32>),
    Other,
}

fn classify(e: &NetError) -> Failure {
    match e {
        NetError::Dns(DnsError::NoRecordsFound(nr))
            if nr.response_code == ResponseCode::NXDomain =>
        {
            Failure::NxDomain(nr.negative_ttl)
        }
        NetError::Dns(DnsError::NoRecordsFound(nr))
            if nr.response_code == ResponseCode::NoError =>
        {
            Failure::NoData(nr.negative_ttl)
        }
        _ => Failure::Other,
    }
}

fn ttl_until(valid_until: Instant) -> u64 {
    valid_until
        .saturating_duration_since(Instant::now())
        .as_secs()
        .clamp(MIN_TTL_S, MAX_TTL_S)
}

fn negative_ttl(t: Option<u32>) -> u64 {
    t.map_or(NEGATIVE_TTL_S, |t| (t as u64).clamp(MIN_TTL_S, MAX_TTL_S))
}

async fn lookup(r: &TokioResolver, domain: &str) -> (Verdict, u64) {
    let fqdn = format!("{}.", domain.trim_end_matches('.'));
    match r.mx_lookup(fqdn.as_str()).await {
        Ok(l) if l.answers().iter().next().is_some() => {
            return (Verdict::Exists, ttl_until(l.valid_until()))
        }
        Ok(_) => {}
        Err(e) => match classify(&e) {
            Failure::NxDomain(t) => return (Verdict::Missing, negative_ttl(t)),
            Failure::NoData(_) => {}
            Failure::Other => return (Verdict::Unknown, 0),
        },
    }
    match r.lookup_ip(fqdn.as_str()).await {
        Ok(l) if l.iter().next().is_some() => (Verdict::Exists, ttl_until(l.valid_until())),
        Ok(_) => (Verdict::Missing, NEGATIVE_TTL_S),
        Err(e) => match classify(&e) {
            Failure::NxDomain(t) | Failure::NoData(t) => (Verdict::Missing, negative_ttl(t)),
            Failure::Other => (Verdict::Unknown, 0),
        },
    }
}
