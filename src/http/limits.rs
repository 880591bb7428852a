//! The transport limits of SPEC §11, shared by the connection loop
//! (`conn`) and the head parser (`head`), which import it and not each
//! other.

use std::time::Duration;

/// Most header lines any configuration may allow (the parse array's size).
pub const HEADER_ARRAY: usize = 128;

/// The transport limits of SPEC §11.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}
