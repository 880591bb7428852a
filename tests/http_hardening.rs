//! The hardened HTTP core: every malformed-HTTP case gets a clean
//! 400/408/413/431/501 (or a close), and the process keeps serving.

#[path = "common/util.rs"]
mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use util::*;

fn limited() -> TestServer {
    start_with(
        "max_body_bytes = 1000\nheader_timeout_ms = 400\nbody_timeout_ms = 400\nidle_timeout_ms = 1500\nmax_headers = 64\nmax_header_bytes = 8192\nmax_connections = 40",
        "",
    )
}

fn status_of(s: &TestServer, bytes: &[u8]) -> u16 {
    raw(s.addr, bytes).map(|r| r.status).unwrap_or(0)
}

#[test]
fn malformed_content_length_and_transfer_encoding() {
    let s = limited();
    let cases: &[(&str, &[u8], u16)] = &[
        ("non-numeric", b"POST /leads HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400),
        ("negative", b"POST /leads HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        ("overflowing", b"POST /leads HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
        ("plus sign", b"POST /leads HTTP/1.1\r\nContent-Length: +5\r\n\r\nPhone", 400),
        ("duplicate", b"POST /leads HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nPhone", 400),
        ("duplicate differing", b"POST /leads HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nPhone=", 400),
        ("CL with TE", b"POST /leads HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("TE gzip", b"POST /leads HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        ("TE twice", b"POST /leads HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("bad chunk size", b"POST /leads HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
        ("chunk without CRLF", b"POST /leads HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n", 400),
        ("huge chunk size", b"POST /leads HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 400),
        ("garbage request line", b"HELLO\r\n\r\n", 400),
        ("not a path", b"GET leads HTTP/1.1\r\n\r\n", 400),
        ("too big by CL", b"POST /leads HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", 413),
        ("invalid utf-8 form", b"POST /leads HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 14\r\n\r\nPhone=%ff%fe%f", 400),
        ("invalid percent", b"POST /leads HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 8\r\n\r\nPhone=%z", 400),
        ("invalid percent in query", b"GET /leads?Phone=%G1 HTTP/1.1\r\n\r\n", 400),
        ("unknown content type", b"POST /leads HTTP/1.1\r\nContent-Type: text/xml\r\nContent-Length: 4\r\n\r\n<a/>", 400),
        ("raw invalid utf-8 JSON", b"POST /leads HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"Phone\":\"\xff\"}", 400),
    ];
    for (name, bytes, want) in cases {
        assert_eq!(status_of(&s, bytes), *want, "{name}");
    }
    assert_eq!(get(s.addr, "/health").status, 200, "still alive");
}

#[test]
fn chunked_bodies_are_decoded_not_misread() {
    let s = limited();
    let body = "Phone=05023";
    let req = format!(
        "POST /leads HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{}\r\n{:x};ext=1\r\n{}\r\n0\r\nTrailer: x\r\n\r\n",
        body.len(),
        body,
        5,
        "45678"
    );
    let r = raw(s.addr, req.as_bytes()).unwrap();
    assert_eq!(r.code(), "000", "{}", r.body);
    let id = r.json()["RecordId"].as_u64().unwrap();
    assert_eq!(
        admin_json(s.addr, &format!("/admin/v1/clients/{id}"))["phone1"],
        "972502345678"
    );
    // Chunks adding up past max_body_bytes.
    let mut big = String::from("POST /leads HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    for _ in 0..3 {
        big.push_str(&format!("190\r\n{}\r\n", "a".repeat(400)));
    }
    big.push_str("0\r\n\r\n");
    assert_eq!(status_of(&s, big.as_bytes()), 413);
}

#[test]
fn header_limits() {
    let s = limited();
    let mut many = String::from("GET /leads?Phone=0501 HTTP/1.1\r\n");
    for i in 0..200 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(status_of(&s, many.as_bytes()), 431, "200 headers");
    let long = format!(
        "GET /leads HTTP/1.1\r\nX-Long: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    assert_eq!(status_of(&s, long.as_bytes()), 431, "64 KiB header line");
    let never_ending = format!("GET /leads HTTP/1.1\r\n{}", "X-A: b\r\n".repeat(2000));
    assert_eq!(
        status_of(&s, never_ending.as_bytes()),
        431,
        "headers that never end (size)"
    );
}

#[test]
fn timeouts_free_slow_clients() {
    let s = limited();
    // Head that stops halfway: 408 within the header timeout.
    let started = Instant::now();
    let r = raw(s.addr, b"GET /leads?Phone=1 HTTP/1.1\r\nX-Slow: ");
    assert_eq!(r.map(|r| r.status), Some(408));
    assert!(started.elapsed() < Duration::from_secs(5));
    // Body shorter than declared.
    let r = raw(
        s.addr,
        b"POST /leads HTTP/1.1\r\nContent-Length: 50\r\n\r\nPhone=05",
    );
    assert_eq!(r.map(|r| r.status), Some(408));
    // An idle keep-alive connection is closed without an answer.
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 64];
    assert_eq!(c.read(&mut buf).unwrap_or(0), 0);
    assert!(t.elapsed() >= Duration::from_millis(1000) && t.elapsed() < Duration::from_secs(8));
}

#[test]
fn a_slow_client_does_not_block_another() {
    // Stalled clients would hold a blocked server for their 5 s timeout; a
    // free one answers in milliseconds, so a 2 s bound cannot flake.
    let s = start_with(
        "header_timeout_ms = 5000\nbody_timeout_ms = 5000\nmax_connections = 40",
        "",
    );
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut c = TcpStream::connect(s.addr).unwrap();
        c.write_all(b"POST /leads HTTP/1.1\r\nContent-Length: 100\r\n\r\nPho")
            .unwrap();
        slow.push(c);
    }
    let t = Instant::now();
    let r = get(s.addr, "/leads?Phone=0502112233");
    assert_eq!(r.code(), "000");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "answered in {:?} while 20 clients stall",
        t.elapsed()
    );
}

#[test]
fn body_longer_than_declared_stores_the_declared_body_only() {
    let s = limited();
    // 16 declared, more sent: the lead gets exactly 16 bytes, the rest is a
    // request of its own (here malformed: refused and the connection closed).
    let all = raw_all(
        s.addr,
        b"POST /leads HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 16\r\n\r\nPhone=0502345678&City=Smuggled\r\n\r\n",
    );
    let answers = parse_responses(&all);
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0].code(), "000");
    assert_eq!(answers[1].status, 400);
    let id = answers[0].json()["RecordId"].as_u64().unwrap();
    let c = admin_json(s.addr, &format!("/admin/v1/clients/{id}"));
    assert_eq!(
        c["city"], "",
        "bytes past Content-Length never reach the lead"
    );
}

#[test]
fn pipelined_requests_answered_in_order_and_100_continue() {
    let s = limited();
    let all = raw_all(
        s.addr,
        b"GET /leads?Phone=0502000001 HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\nGET /health HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    let answers = parse_responses(&all);
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[0].code(), "000");
    assert_eq!(answers[1].code(), "003");
    assert_eq!(answers[2].status, 200);

    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"POST /leads HTTP/1.1\r\nExpect: 100-continue\r\nConnection: close\r\nContent-Length: 16\r\n\r\n").unwrap();
    let mut buf = [0u8; 25];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(b"Phone=0502000002").unwrap();
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    assert_eq!(parse_responses(&rest)[0].code(), "000");
    // No 100 for a body we will not take.
    assert_eq!(
        status_of(
            &s,
            b"POST /leads HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n"
        ),
        413
    );
}

#[test]
fn bad_bodies_of_every_encoding() {
    let s = limited();
    let unclosed = "--b\r\nContent-Disposition: form-data; name=\"Phone\"\r\n\r\n0502345678\r\n";
    let r = request(
        s.addr,
        "POST",
        "/leads",
        &[("Content-Type", "multipart/form-data; boundary=b")],
        unclosed.as_bytes(),
    );
    assert_eq!(r.status, 400);
    let deep = format!("{}{}", "[".repeat(400), "]".repeat(400));
    let r = request(
        s.addr,
        "POST",
        "/leads",
        &[("Content-Type", "application/json")],
        deep.as_bytes(),
    );
    assert_eq!(r.status, 400);
    let nested = br#"{"Phone":{"a":1}}"#;
    assert_eq!(
        request(
            s.addr,
            "POST",
            "/leads",
            &[("Content-Type", "application/json")],
            nested
        )
        .status,
        400
    );
    let huge = format!("{{\"Phone\":\"{}\"}}", "1".repeat(2000));
    assert_eq!(
        request(
            s.addr,
            "POST",
            "/leads",
            &[("Content-Type", "application/json")],
            huge.as_bytes()
        )
        .status,
        413
    );
    // Refusals are counted.
    let m = get(s.addr, "/metrics").body;
    assert!(
        m.contains("dataport_http_refusals_total{status=\"413\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("dataport_http_refusals_total{status=\"400\"} 3"),
        "{m}"
    );
    // Undecodable bodies are still in the usage log, whole (written in the
    // background: no answer waits for it).
    assert!(eventually(|| {
        let usage = admin_json(s.addr, "/admin/v1/usage_log?limit=1");
        usage["data"][0]["body"]
            .as_str()
            .is_some_and(|b| b.starts_with("--b"))
    }));
}

#[test]
fn connections_past_the_cap_are_refused_cleanly() {
    let s = limited();
    let mut held = Vec::new();
    for _ in 0..40 {
        held.push(TcpStream::connect(s.addr).unwrap());
    }
    // Once the server has taken the 40, the next is refused…
    assert!(eventually(|| {
        raw(s.addr, b"GET /health HTTP/1.1\r\n\r\n").is_some_and(|r| r.status == 503)
    }));
    drop(held);
    // …and served again once they close.
    assert!(eventually(|| {
        raw(s.addr, b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
            .is_some_and(|r| r.status == 200)
    }));
}
