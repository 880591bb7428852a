//! Mutation fuzzing that runs on the stable toolchain in CI: seeded random
//! and mutated inputs through the body decoders, the OData `$filter` parser
//! and the HTTP connection loop. Nothing may panic, and the server must keep
//! serving. `FUZZ_ITERS` scales the run (default 20,000 per target). The
//! coverage-guided fuzzers (cargo-fuzz, nightly) live in `fuzz/`.

#[path = "common/util.rs"]
mod util;

use dataport::api::odata::filter;
use dataport::http::body::Fields;
use util::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn iters() -> usize {
    std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// Flips, inserts, deletes and duplicates bytes of `seed`.
fn mutate(rng: &mut Rng, seed: &[u8], alphabet: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(8) {
        let pos = rng.below(v.len() + 1);
        match rng.below(5) {
            0 if !v.is_empty() => {
                let p = pos.min(v.len() - 1);
                v[p] = rng.next() as u8;
            }
            1 => v.insert(pos, alphabet[rng.below(alphabet.len())]),
            2 if pos < v.len() => {
                v.remove(pos);
            }
            3 => {
                let end = (pos + rng.below(16)).min(v.len());
                let chunk = v[pos.min(end)..end].to_vec();
                v.splice(pos..pos, chunk);
            }
            _ => v.truncate(pos),
        }
    }
    v
}

#[test]
fn decoders_never_panic() {
    let mut rng = Rng(0x5EED_1234);
    let seeds: [(&str, &[u8]); 4] = [
        ("application/x-www-form-urlencoded", b"FirstName=D%C3%A9&Phone=050-234-5678&x=%2B1+2"),
        ("application/json", br#"{"Phone":"0502345678","n":1.5e3,"b":true,"z":null,"s":"\u05d3\""}"#),
        (
            "multipart/form-data; boundary=XyZ",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"Phone\"\r\n\r\n0502345678\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nhi\r\n--XyZ--\r\n",
        ),
        ("text/json", b"[{\"a\":[1,{\"b\":2}]}]"),
    ];
    let alphabet = b"%+=&{}[]\":,\\\r\n-\x00\xff\xc3";
    for i in 0..iters() {
        let (ct, seed) = seeds[i % seeds.len()];
        let body = mutate(&mut rng, seed, alphabet);
        let query = String::from_utf8_lossy(&mutate(&mut rng, b"a=1&b=%20", alphabet)).to_string();
        let _ = Fields::decode(&query, Some(ct), &body);
    }
}

#[test]
fn the_filter_parser_never_panics() {
    let mut rng = Rng(0xF117E5);
    let props = ["City", "Age", "At"];
    let seeds: [&[u8]; 3] = [
        b"City eq 'Tel Aviv' and (Age gt 3 or not At le 2026-11-22T10:00:00Z)",
        b"((City ne null)) or Age ge -1.5e2",
        b"City eq 'O''Neil'",
    ];
    let entity = serde_json::json!({"City": "Haifa", "Age": 3, "At": "2026-11-22T10:00:00Z"});
    for i in 0..iters() {
        let text = mutate(&mut rng, seeds[i % 3], b"()' eqandornot-:.TZ0123456789");
        if let Ok(t) = std::str::from_utf8(&text) {
            if let Ok(e) = filter::parse(t, &props) {
                let _ = filter::eval(&e, &entity);
            }
        }
    }
}

#[test]
fn the_connection_loop_survives_mutated_requests() {
    let s = start_with("max_body_bytes = 4096\nheader_timeout_ms = 300\nbody_timeout_ms = 300\nidle_timeout_ms = 300", "");
    let mut rng = Rng(0xC0FFEE);
    let seeds: [&[u8]; 3] = [
        b"POST /leads HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 16\r\n\r\nPhone=0502345678",
        b"POST /leads HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nPhone\r\n0\r\n\r\n",
        b"GET /leads?Phone=0502345678 HTTP/1.1\r\nConnection: close\r\n\r\n",
    ];
    let n = (iters() / 20).max(200);
    for i in 0..n {
        let mut req = mutate(&mut rng, seeds[i % 3], b"\r\n: 0123456789abcdef-;");
        req.extend_from_slice(b"\r\n\r\n");
        let mut c = std::net::TcpStream::connect(s.addr).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        use std::io::{Read, Write};
        let _ = c.write_all(&req);
        let _ = c.shutdown(std::net::Shutdown::Write);
        let mut answer = Vec::new();
        // Every mutated request is answered and closed, never left hanging.
        let read = c.read_to_end(&mut answer);
        assert!(
            read.is_ok(),
            "no answer and no close within 2 s ({read:?}) to {:?}",
            String::from_utf8_lossy(&req)
        );
        // What comes back is whole HTTP answers (or nothing: a close).
        if !answer.is_empty() {
            let replies = parse_responses(&answer);
            assert!(
                !replies.is_empty() && replies.iter().all(|r| (100..600).contains(&r.status)),
                "not an HTTP answer: {:?} to {:?}",
                String::from_utf8_lossy(&answer),
                String::from_utf8_lossy(&req)
            );
        }
    }
    assert_eq!(
        get(s.addr, "/health").status,
        200,
        "still serving after {n} mutated requests"
    );
}
