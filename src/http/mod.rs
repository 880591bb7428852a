//! The HTTP core: our own HTTP/1.1 connection loop on `may` coroutines with
//! `httparse` for the head (see [`conn`] for why not may_minihttp's), plus the
//! request/response types handlers see and the body decoders.
//!
//! Floor: above `metrics` (and `pool`, `oneshot`); below every handler.
//! Inside, `limits` is shared by `conn` and `head`.

pub mod body;
pub mod conn;
mod decode_error;
pub mod head;
pub mod limits;
mod urlencoded;
pub mod watchdog;

use std::net::IpAddr;

/// A complete, validated request as a handler sees it.
pub struct Request<'a> {
    pub method: &'a str,
    /// Path without the query string.
    pub path: &'a str,
    /// Raw query string (without '?'), possibly empty.
    pub query: &'a str,
    pub headers: &'a [httparse::Header<'a>],
    pub body: &'a [u8],
    pub peer: IpAddr,
}

impl<'a> Request<'a> {
    /// First header named `name` (ASCII case-insensitive), as text.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    }

    /// Every header line named `name`, in order, as text (lines that are
    /// not UTF-8 are skipped).
    pub fn headers_named<'n>(
        &self,
        name: &'n str,
    ) -> impl DoubleEndedIterator<Item = &'a str> + use<'a, 'n> {
        let headers: &'a [httparse::Header<'a>] = self.headers;
        headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
    }

    /// The credentials of an `Authorization: Bearer …` header: the scheme
    /// in any case (RFC 9110 §11.1), the token trimmed; None without one
    /// (or with another scheme). Err when the header comes more than once:
    /// which of two would a proxy and we each have read?
    pub fn bearer(&self) -> Result<Option<&'a str>, TwoAuthorizations> {
        let mut all = self
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("authorization"));
        let Some(h) = all.next() else {
            return Ok(None);
        };
        if all.next().is_some() {
            return Err(TwoAuthorizations);
        }
        let Ok(value) = std::str::from_utf8(h.value) else {
            return Ok(None);
        };
        let value = value.trim_start();
        Ok(match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Some(token.trim()),
            _ => None,
        })
    }

    /// Whether the client asked for JSON (then no redirect): checked on
    /// every post to a profile with a redirect, so without a lower-cased copy.
    pub fn accepts_json(&self) -> bool {
        self.header("accept")
            .is_some_and(|a| contains_ignore_case(a.as_bytes(), b"application/json"))
    }
}

/// A request carried more than one `Authorization` header (answered 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwoAuthorizations;

impl TwoAuthorizations {
    pub const MESSAGE: &'static str = "send one Authorization header, not several";
}

/// Whether `hay` holds `needle` (lower-case), ASCII case aside.
pub(crate) fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// A response body: constant or built for this request.
pub enum Body {
    Static(&'static [u8]),
    Owned(Vec<u8>),
}

impl Body {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Static(b) => b,
            Body::Owned(v) => v,
        }
    }
}

pub const JSON: &str = "application/json";

/// What a handler answers.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Body,
    pub location: Option<String>,
    /// Extra header lines, each ending in CRLF.
    pub extra_headers: String,
    /// Close the connection after this answer.
    pub close: bool,
}

impl Reply {
    pub fn json(status: u16, body: Vec<u8>) -> Reply {
        Reply::new(status, JSON, Body::Owned(body))
    }

    pub fn static_json(status: u16, body: &'static [u8]) -> Reply {
        Reply::new(status, JSON, Body::Static(body))
    }

    pub fn new(status: u16, content_type: &'static str, body: Body) -> Reply {
        Reply {
            status,
            content_type,
            body,
            location: None,
            extra_headers: String::new(),
            close: false,
        }
    }

    /// `{"error":"..."}` with the given status.
    pub fn error(status: u16, message: &str) -> Reply {
        Reply::json(
            status,
            serde_json::json!({ "error": message })
                .to_string()
                .into_bytes(),
        )
    }

    pub fn see_other(location: String) -> Reply {
        let mut r = Reply::new(303, "text/plain; charset=utf-8", Body::Static(b""));
        r.location = Some(location);
        r
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Serialises `reply` into `out` (cleared first).
pub fn write_reply(out: &mut Vec<u8>, reply: &Reply, close: bool) {
    use crate::ascii::push_decimal;
    out.clear();
    let body = reply.body.as_bytes();
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, reply.status.into());
    out.push(b' ');
    out.extend_from_slice(reason(reply.status).as_bytes());
    out.extend_from_slice(b"\r\nServer: dataport\r\nContent-Type: ");
    out.extend_from_slice(reply.content_type.as_bytes());
    out.extend_from_slice(b"\r\nContent-Length: ");
    push_decimal(out, body.len() as u64);
    out.extend_from_slice(b"\r\nX-Content-Type-Options: nosniff\r\n");
    if let Some(loc) = &reply.location {
        out.extend_from_slice(b"Location: ");
        out.extend_from_slice(loc.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(reply.extra_headers.as_bytes());
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Anything that answers requests.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: &Request<'_>) -> Reply;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_asked_for_in_any_case() {
        let accept = |v: &'static str| {
            let headers = [httparse::Header {
                name: "Accept",
                value: v.as_bytes(),
            }];
            Request {
                method: "POST",
                path: "/f",
                query: "",
                headers: &headers,
                body: b"",
                peer: std::net::IpAddr::from([127, 0, 0, 1]),
            }
            .accepts_json()
        };
        assert!(accept("text/html, Application/JSON;q=0.9"));
        assert!(accept("application/json"));
        assert!(!accept("text/html"));
        assert!(!accept("application/js"));
    }

    #[test]
    fn an_answer_head_is_written_in_full() {
        let mut out = Vec::new();
        let mut r = Reply::static_json(200, br#"{"a":1}"#);
        r.extra_headers.push_str("Retry-After: 3\r\n");
        write_reply(&mut out, &r, true);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nServer: dataport\r\nContent-Type: application/json\r\n\
             Content-Length: 7\r\nX-Content-Type-Options: nosniff\r\nRetry-After: 3\r\n\
             Connection: close\r\n\r\n{\"a\":1}"
        );
    }
}
