//! Per-client-IP rate limiting (SPEC §3, §11): a token bucket per IP,
//! refilled at the configured rate with a burst of one second's worth.
//! Sharded maps behind short mutexes (never held across a yield), bounded:
//! buckets idle for a minute are dropped when a shard grows large.
//!
//! The client IP is the socket's peer, unless that peer is one of
//! `trusted_proxies` (the DOS shield); then it is the last address in
//! `client_ip_header` (the one the proxy itself appended).

use std::net::IpAddr;
use std::sync::Mutex;

use ahash::AHashMap;

const SHARDS: usize = 32;
const SHARD_SOFT_CAP: usize = 50_000;
const IDLE_MS: u64 = 60_000;

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    last_ms: u64,
}

/// Buckets by (client IP, profile number).
type Shard = Mutex<AHashMap<(IpAddr, u32), Bucket>>;

pub struct RateLimiter {
    shards: Box<[Shard]>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter {
            shards: (0..SHARDS).map(|_| Mutex::new(AHashMap::new())).collect(),
        }
    }
}

impl RateLimiter {
    /// Takes a token for `ip` in `scope` (a profile number, 0 = global) at
    /// `rate` per second. Ok, or Err(seconds to wait).
    pub fn check(&self, ip: IpAddr, scope: u32, rate: u32, now_ms: u64) -> Result<(), u64> {
        if rate == 0 {
            return Ok(());
        }
        let h = match ip {
            IpAddr::V4(a) => u32::from(a) as usize,
            IpAddr::V6(a) => (u128::from(a) as usize) ^ ((u128::from(a) >> 64) as usize),
        };
        let mut shard = self.shards[h % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if shard.len() > SHARD_SOFT_CAP {
            shard.retain(|_, b| now_ms.saturating_sub(b.last_ms) < IDLE_MS);
        }
        let burst = rate as f64;
        let b = shard.entry((ip, scope)).or_insert(Bucket {
            tokens: burst,
            last_ms: now_ms,
        });
        let elapsed = now_ms.saturating_sub(b.last_ms) as f64 / 1000.0;
        b.tokens = (b.tokens + elapsed * rate as f64).min(burst);
        b.last_ms = now_ms;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / rate as f64).ceil().max(1.0) as u64)
        }
    }
}

/// The client's IP: the peer, or — only when the peer is a trusted proxy —
/// the last address in the client-IP header.
pub fn client_ip(peer: IpAddr, header: Option<&str>, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    header
        .and_then(|h| h.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_at_the_rate() {
        let r = RateLimiter::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..5 {
            assert!(r.check(ip, 0, 5, 1_000).is_ok());
        }
        assert_eq!(r.check(ip, 0, 5, 1_000), Err(1));
        assert!(
            r.check("10.0.0.2".parse().unwrap(), 0, 5, 1_000).is_ok(),
            "per IP"
        );
        assert!(r.check(ip, 7, 5, 1_000).is_ok(), "per scope");
        assert!(
            r.check(ip, 0, 5, 1_200).is_ok(),
            "one token back after 200 ms"
        );
        assert!(r.check(ip, 0, 5, 1_200).is_err());
        assert!(r.check(ip, 0, 0, 1_200).is_ok(), "0 = off");
    }

    #[test]
    fn proxy_header_only_from_trusted_peers() {
        let proxy: IpAddr = "192.0.2.10".parse().unwrap();
        let other: IpAddr = "198.51.100.7".parse().unwrap();
        let h = Some("203.0.113.9, 203.0.113.50");
        assert_eq!(client_ip(proxy, h, &[proxy]).to_string(), "203.0.113.50");
        assert_eq!(
            client_ip(other, h, &[proxy]),
            other,
            "spoofed header from an untrusted peer"
        );
        assert_eq!(client_ip(proxy, Some("garbage"), &[proxy]), proxy);
        assert_eq!(client_ip(proxy, None, &[proxy]), proxy);
    }
}
