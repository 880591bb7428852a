//! Per-client-IP rate limiting (SPEC §3, §11): a token bucket per IP,
//! refilled at the configured rate with a burst of one second's worth.
//! Sharded maps behind short mutexes (never held across a yield), bounded:
//! buckets idle for a minute are dropped when a shard grows large.
//!
//! The client IP is the socket's peer, unless that peer is one of
//! `trusted_proxies` (the DOS shield); then it is the last address in
//! `client_ip_header` (the one the proxy itself appended).
//!
//! Floor: a leaf; `app` holds the limiter, intake asks it.

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
/// the right-most address of the client-IP header that is not itself a
/// trusted proxy, all of the header's lines read as one list in order
/// (nginx's `real_ip_recursive`). Addresses left of the first untrusted one
/// were written by the client and are never believed. An entry that is no
/// address stops the walk at the last trusted hop.
pub fn client_ip<'h>(
    peer: IpAddr,
    lines: impl DoubleEndedIterator<Item = &'h str>,
    trusted: &[IpAddr],
) -> IpAddr {
    let mut ip = peer;
    if !trusted.contains(&ip) {
        return ip;
    }
    for line in lines.rev() {
        for hop in line.rsplit(',') {
            let hop = hop.trim();
            if hop.is_empty() {
                continue;
            }
            match hop.parse() {
                Ok(addr) => ip = addr,
                Err(_) => return ip,
            }
            if !trusted.contains(&ip) {
                return ip;
            }
        }
    }
    ip
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
        let ip = |peer: IpAddr, lines: &[&str], trusted: &[IpAddr]| {
            client_ip(peer, lines.iter().copied(), trusted).to_string()
        };
        let h = ["203.0.113.9, 203.0.113.50"];
        assert_eq!(ip(proxy, &h, &[proxy]), "203.0.113.50");
        assert_eq!(
            ip(other, &h, &[proxy]),
            other.to_string(),
            "spoofed header from an untrusted peer"
        );
        assert_eq!(ip(proxy, &["garbage"], &[proxy]), proxy.to_string());
        assert_eq!(ip(proxy, &[], &[proxy]), proxy.to_string());
    }

    /// Issue 18: a client's own first line was taken; the last line is the
    /// proxy's, and trusted hops are skipped from the right.
    #[test]
    fn forwarded_lines_are_one_list_read_from_the_right() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let inner: IpAddr = "10.0.0.5".parse().unwrap();
        let ip = |lines: &[&str], trusted: &[IpAddr]| {
            client_ip(proxy, lines.iter().copied(), trusted).to_string()
        };
        let spoof = ["198.51.100.1", "203.0.113.88"];
        assert_eq!(ip(&spoof, &[proxy]), "203.0.113.88");
        assert_eq!(
            ip(&["198.51.100.1, 203.0.113.88"], &[proxy]),
            "203.0.113.88"
        );
        // Two proxies in a chain: the inner one's own entry is skipped.
        assert_eq!(
            ip(&["198.51.100.1, 203.0.113.88", "10.0.0.5"], &[proxy, inner]),
            "203.0.113.88"
        );
        assert_eq!(
            ip(&["10.0.0.5 ,", " , 10.0.0.5"], &[proxy, inner]),
            "10.0.0.5"
        );
        // Garbage a client put left of the real entries changes nothing;
        // garbage at the proxy's end stops at the last trusted hop.
        assert_eq!(ip(&["x, 203.0.113.88"], &[proxy]), "203.0.113.88");
        assert_eq!(ip(&["203.0.113.88, x"], &[proxy]), "127.0.0.1");
    }
}
