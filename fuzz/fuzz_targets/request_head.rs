//! The request-head check of the connection loop: any bytes give Ok(None)
//! (incomplete), a head, or a refusal with a status; never a panic.
#![no_main]

use std::time::Duration;

use dataport::http::conn::{inspect_head, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_body_bytes: 65536,
        max_header_bytes: 16384,
        max_headers: 64,
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(30),
        max_connections: 20_000,
    };
    if let Err((status, _)) = inspect_head(data, &limits) {
        assert!(matches!(status, 400 | 413 | 431 | 501), "{status}");
    }
});
