//! Email domain checks against a real DNS server the test runs on loopback:
//! MX, A-only, NXDOMAIN (fails the email), SERVFAIL and timeout (fail open),
//! answers cached.

#[path = "common/util.rs"]
mod util;

use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use util::*;

/// Queries seen, by (name, type).
type Seen = Arc<Mutex<HashMap<(String, u16), u32>>>;

/// A tiny authoritative DNS responder for the zone the tests need.
fn start_dns() -> (u16, Seen) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                continue;
            };
            if let Some(reply) = answer(&buf[..n], &seen2) {
                let _ = sock.send_to(&reply, peer);
            }
        }
    });
    (port, seen)
}

fn answer(q: &[u8], seen: &Seen) -> Option<Vec<u8>> {
    let mut pos = 12;
    let mut labels = Vec::new();
    while q[pos] != 0 {
        let len = q[pos] as usize;
        labels.push(String::from_utf8_lossy(&q[pos + 1..pos + 1 + len]).to_lowercase());
        pos += 1 + len;
    }
    let name = labels.join(".");
    let qtype = u16::from_be_bytes([q[pos + 1], q[pos + 2]]);
    let question = &q[12..pos + 5];
    *seen
        .lock()
        .unwrap()
        .entry((name.clone(), qtype))
        .or_default() += 1;
    const A: u16 = 1;
    const MX: u16 = 15;
    let (rcode, answers): (u8, Vec<(u16, Vec<u8>)>) = match (name.as_str(), qtype) {
        ("slow.test", _) => return None,
        ("broken.test", _) => (2, vec![]),
        ("mx.test", MX) => (
            0,
            vec![(MX, [&[0u8, 10][..], &[4], b"mail", &[0xC0, 0x0C]].concat())],
        ),
        ("mx.test", _) => (0, vec![]),
        ("aonly.test", A) => (0, vec![(A, vec![192, 0, 2, 1])]),
        ("aonly.test", _) => (0, vec![]),
        _ => (3, vec![]),
    };
    let mut r = Vec::new();
    r.extend_from_slice(&q[0..2]);
    r.push(0x84 | (q[2] & 0x01)); // QR, AA, RD copied
    r.push(0x80 | rcode); // RA
    r.extend_from_slice(&[0, 1]);
    r.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(question);
    for (t, rdata) in answers {
        r.extend_from_slice(&[0xC0, 0x0C]);
        r.extend_from_slice(&t.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 0x0E, 0x10]); // IN, TTL 3600
        r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        r.extend_from_slice(&rdata);
    }
    Some(r)
}

fn config(data: &std::path::Path, dns_port: u16) -> String {
    config_with_timeout(data, dns_port, 300)
}

fn config_with_timeout(data: &std::path::Path, dns_port: u16, timeout_ms: u64) -> String {
    test_config(
        data,
        &format!(
            r#"
[intake]
dns_check = true
dns_servers = ["127.0.0.1:{dns_port}"]
dns_timeout_ms = {timeout_ms}
{profile}"#,
            profile = Profile::new(1, "mail").rows(&[
                ("Email", "clients", "email"),
                ("Phone", "clients", "phone1")
            ]),
        ),
    )
}

#[test]
fn email_domains_checked_through_dns_with_fail_open_and_cache() {
    let (port, seen) = start_dns();
    let s = start_text(|d| config(d, port));
    let count = |name: &str, t: u16| {
        seen.lock()
            .unwrap()
            .get(&(name.to_string(), t))
            .copied()
            .unwrap_or(0)
    };

    assert_eq!(
        get(s.addr, "/mail?Email=a@mx.test").code(),
        "000",
        "MX record"
    );
    assert_eq!(
        get(s.addr, "/mail?Email=b@aonly.test").code(),
        "000",
        "no MX, but an A record"
    );
    let r = get(s.addr, "/mail?Email=c@nx.test");
    assert_eq!(r.code(), "008", "NXDOMAIN fails the email");
    let bad = admin_json(s.addr, "/admin/v1/bad_leads");
    assert!(bad["data"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("email domain \"nx.test\" does not exist"));
    assert_eq!(
        get(s.addr, "/mail?Email=c@nx.test&Phone=0502345678").code(),
        "000",
        "a good phone still carries it"
    );

    // Timeout and SERVFAIL fail open, within the bounded wait.
    let t = Instant::now();
    assert_eq!(get(s.addr, "/mail?Email=d@slow.test").code(), "000");
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "bounded: {:?}",
        t.elapsed()
    );
    assert_eq!(get(s.addr, "/mail?Email=e@broken.test").code(), "000");
    let m = get(s.addr, "/metrics").body;
    assert!(m.contains("dataport_dns_fail_open_total 2"), "{m}");

    // Positive and negative answers are cached.
    let mx_before = count("mx.test", 15);
    let nx_before = count("nx.test", 15);
    assert_eq!(get(s.addr, "/mail?Email=f@MX.test").code(), "000");
    assert_eq!(get(s.addr, "/mail?Email=g@nx.test").code(), "008");
    assert_eq!(
        count("mx.test", 15),
        mx_before,
        "positive answer from cache"
    );
    assert_eq!(
        count("nx.test", 15),
        nx_before,
        "negative answer from cache"
    );
    assert!(get(s.addr, "/metrics")
        .body
        .contains("dataport_dns_cache_hits_total 3"));
    // Unknowns are not cached: slow.test is asked again.
    let slow_before = count("slow.test", 15);
    get(s.addr, "/mail?Email=h@slow.test");
    assert!(count("slow.test", 15) > slow_before);
    // After the TTL the answer is looked up again.
    s.clock.advance_ms(3_601_000);
    get(s.addr, "/mail?Email=i@mx.test");
    assert_eq!(count("mx.test", 15), mx_before + 1);
}

#[test]
fn a_dead_dns_server_does_not_slow_other_requests() {
    let (port, _) = start_dns();
    // A long DNS timeout keeps the two outcomes far apart: a post held
    // behind the stuck ones would take 3 s, a free one a few ms.
    let s = start_text(|d| config_with_timeout(d, port, 3000));
    // Ten posts stuck on a silent domain at once…
    let addr = s.addr;
    let stuck: Vec<_> = (0..10)
        .map(|i| {
            std::thread::spawn(move || get(addr, &format!("/mail?Email=x{i}@slow.test")).code())
        })
        .collect();
    // (waiting until they are: their lookups have started)…
    assert!(eventually(
        || metric(s.addr, "dataport_dns_lookups_total") >= 10
    ));
    // …while a post with a phone only is answered at once.
    let t = Instant::now();
    assert_eq!(get(s.addr, "/mail?Phone=0502345678").code(), "000");
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "{:?}",
        t.elapsed()
    );
    for h in stuck {
        assert_eq!(h.join().unwrap(), "000", "fail open");
    }
}

#[test]
fn a_dns_outage_costs_a_few_timeouts_then_posts_pass_at_once() {
    let (port, seen) = start_dns();
    let s = start_text(|d| config(d, port));
    let asked = |name: &str| {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|(_, c)| *c)
            .sum::<u32>()
    };
    // Three silent lookups in a row mark the DNS as down…
    for i in 0..3 {
        assert_eq!(
            get(s.addr, &format!("/mail?Email=a{i}@slow.test")).code(),
            "000"
        );
    }
    assert!(asked("slow.test") >= 3, "each was a real lookup");
    // …so the next posts are not held for a timeout: they pass unchecked
    // (fail open) without a query, even for a domain the DNS would refuse.
    let t = Instant::now();
    for i in 0..5 {
        assert_eq!(
            get(s.addr, &format!("/mail?Email=b{i}@nx.test")).code(),
            "000"
        );
    }
    // Five lookups would take 5 x 300 ms; skipped, the five posts take a few ms.
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "no timeout while the DNS is down: {:?}",
        t.elapsed()
    );
    assert_eq!(asked("nx.test"), 0);
    let m = get(s.addr, "/metrics").body;
    assert!(m.contains("dataport_dns_skipped_total 5"), "{m}");
    assert!(m.contains("dataport_dns_fail_open_total 8"), "{m}");
    // After the cool-down the DNS is asked again, and an answer closes the breaker.
    s.clock.advance_ms(dataport::dns::BREAKER_COOLDOWN_MS + 1);
    assert_eq!(get(s.addr, "/mail?Email=c@nx.test").code(), "008");
    assert!(asked("nx.test") > 0);
    assert_eq!(get(s.addr, "/mail?Email=d@mx.test").code(), "000");
    assert_eq!(get(s.addr, "/mail?Email=e@nx2.test").code(), "008");
}
