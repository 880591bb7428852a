//! A request head checked against the transport rules before anything is
//! read past it: framing (`Content-Length` that is malformed, negative,
//! overflowing or repeated; `Transfer-Encoding` other than chunked; both at
//! once), size and line limits, keep-alive and `Expect: 100-continue`. The
//! one parse also records where the head's parts sit ([`HeadLayout`]), so
//! the connection hands its handler a request without parsing again.

use super::contains_ignore_case;
use super::limits::{Limits, HEADER_ARRAY};

/// What the head says about the body and the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub len: usize,
    pub content_length: usize,
    pub chunked: bool,
    pub expect_continue: bool,
    pub keep_alive: bool,
}

/// Where the parts of a head sit, as byte ranges from its first byte: the
/// one parse of a head is remembered, so the request handed to the handler
/// is rebuilt from the copied head without parsing it again.
#[derive(Debug, Default)]
pub struct HeadLayout {
    method: (usize, usize),
    target: (usize, usize),
    /// (name, value) of each header line.
    headers: Vec<((usize, usize), (usize, usize))>,
}

impl HeadLayout {
    fn record(&mut self, base: &[u8], req: &httparse::Request<'_, '_>) {
        let at = |s: &[u8]| {
            let a = s.as_ptr() as usize - base.as_ptr() as usize;
            (a, a + s.len())
        };
        self.method = at(req.method.unwrap_or("").as_bytes());
        self.target = at(req.path.unwrap_or("").as_bytes());
        self.headers.clear();
        self.headers.extend(
            req.headers
                .iter()
                .map(|h| (at(h.name.as_bytes()), at(h.value))),
        );
    }

    /// The method of `head` (the bytes this layout was recorded from).
    pub fn method<'h>(&self, head: &'h [u8]) -> &'h str {
        text(&head[self.method.0..self.method.1])
    }

    /// The request target of `head`: path and query.
    pub fn target<'h>(&self, head: &'h [u8]) -> &'h str {
        text(&head[self.target.0..self.target.1])
    }

    /// The headers of `head` (the bytes this layout was recorded from),
    /// into `out`; how many.
    pub fn headers<'h>(&self, head: &'h [u8], out: &mut [httparse::Header<'h>]) -> usize {
        let n = self.headers.len().min(out.len());
        for (slot, &(name, value)) in out.iter_mut().zip(&self.headers) {
            *slot = httparse::Header {
                // httparse accepted it as a token: ASCII.
                name: text(&head[name.0..name.1]),
                value: &head[value.0..value.1],
            };
        }
        n
    }
}

/// Bytes httparse already validated as ASCII, as text.
fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

/// Checks a request head against the transport rules and limits: Ok(None)
/// while incomplete, the refusal's status and reason when it breaks one.
/// Pure, so it is tested and benchmarked on its own.
pub fn inspect_head(data: &[u8], limits: &Limits) -> Result<Option<Head>, (u16, &'static str)> {
    inspect_head_into(data, limits, &mut HeadLayout::default())
}

/// [`inspect_head`], recording where the head's parts are into `layout`.
pub(super) fn inspect_head_into(
    data: &[u8],
    limits: &Limits,
    layout: &mut HeadLayout,
) -> Result<Option<Head>, (u16, &'static str)> {
    let mut headers = [httparse::EMPTY_HEADER; HEADER_ARRAY];
    let mut req = httparse::Request::new(&mut headers[..limits.max_headers]);
    let len = match req.parse(data) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if data.len() > limits.max_header_bytes {
                return Err((431, "request head too large"));
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err((431, "too many header lines")),
        Err(_) => return Err((400, "malformed request head")),
    };
    if len > limits.max_header_bytes {
        return Err((431, "request head too large"));
    }
    if !req.path.is_some_and(|p| p.starts_with('/')) {
        return Err((400, "request target must be an absolute path"));
    }
    let http11 = req.version == Some(1);
    let mut keep_alive = http11;
    let mut content_length: Option<usize> = None;
    let mut transfer_encodings = 0;
    let mut chunked = false;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            if content_length.is_some() {
                return Err((400, "repeated Content-Length"));
            }
            let v = trim_ows(h.value);
            if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
                return Err((400, "malformed Content-Length"));
            }
            // unwrap: at most 18 ASCII digits always parse into u64.
            let n: u64 = std::str::from_utf8(v).unwrap().parse().unwrap();
            content_length = Some(usize::try_from(n).unwrap_or(usize::MAX));
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encodings += 1;
            if trim_ows(h.value).eq_ignore_ascii_case(b"chunked") {
                chunked = true;
            } else {
                return Err((501, "only Transfer-Encoding: chunked is supported"));
            }
        } else if name.eq_ignore_ascii_case("connection") {
            if contains_ignore_case(h.value, b"close") {
                keep_alive = false;
            } else if contains_ignore_case(h.value, b"keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if trim_ows(h.value).eq_ignore_ascii_case(b"100-continue") {
                expect_continue = true;
            } else {
                return Err((400, "unsupported Expect"));
            }
        }
    }
    if transfer_encodings > 1 {
        return Err((400, "repeated Transfer-Encoding"));
    }
    if chunked && content_length.is_some() {
        return Err((400, "Content-Length together with Transfer-Encoding"));
    }
    let content_length = content_length.unwrap_or(0);
    if content_length > limits.max_body_bytes {
        return Err((413, "request body too large"));
    }
    layout.record(data, &req);
    Ok(Some(Head {
        len,
        content_length,
        chunked,
        expect_continue,
        keep_alive,
    }))
}

pub(super) fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    &v[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_rebuilt_from_its_layout_as_parsed() {
        let head = b"POST /land_fb?src=fb HTTP/1.1\r\nHost: x\r\nX-Empty:\r\nConnection: Keep-Alive\r\nContent-Length: 5\r\n\r\nhello";
        let mut layout = HeadLayout::default();
        let h = inspect_head_into(head, &limits(), &mut layout)
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
        let mut ours = [httparse::EMPTY_HEADER; HEADER_ARRAY];
        let n = layout.headers(head, &mut ours);
        let mut theirs = [httparse::EMPTY_HEADER; HEADER_ARRAY];
        let mut req = httparse::Request::new(&mut theirs);
        req.parse(head).unwrap();
        assert_eq!(&ours[..n], req.headers);
        assert_eq!(layout.method(head), "POST");
        assert_eq!(layout.target(head), "/land_fb?src=fb");
        let close = b"GET / HTTP/1.1\r\nconnection: CLOSE\r\n\r\n";
        assert!(!inspect_head(close, &limits()).unwrap().unwrap().keep_alive);
    }

    fn limits() -> Limits {
        Limits {
            max_body_bytes: 100,
            max_header_bytes: 256,
            max_headers: 4,
            header_timeout: std::time::Duration::from_secs(1),
            body_timeout: std::time::Duration::from_secs(1),
            idle_timeout: std::time::Duration::from_secs(1),
            max_connections: 1,
        }
    }

    #[test]
    fn head_rules() {
        let l = limits();
        let ok = inspect_head(b"POST /f HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", &l)
            .unwrap()
            .unwrap();
        assert_eq!(
            (ok.content_length, ok.keep_alive, ok.chunked),
            (5, true, false)
        );
        assert_eq!(
            inspect_head(b"GET /f HTTP/1.1\r\nHost: x", &l),
            Ok(None),
            "incomplete"
        );
        let old = inspect_head(b"GET / HTTP/1.0\r\n\r\n", &l)
            .unwrap()
            .unwrap();
        assert!(!old.keep_alive, "HTTP/1.0 closes by default");
        for (head, status) in [
            (
                &b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"[..],
                400,
            ),
            (b"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 413),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                400,
            ),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: br\r\n\r\n", 501),
            (
                b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n",
                431,
            ),
            (b"GET x HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nExpect: later\r\n\r\n", 400),
        ] {
            assert_eq!(
                inspect_head(head, &l).map_err(|e| e.0),
                Err(status),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(300));
        assert_eq!(
            inspect_head(long.as_bytes(), &l).map_err(|e| e.0),
            Err(431),
            "partial head past the cap"
        );
    }

    #[test]
    fn trims_optional_whitespace() {
        assert_eq!(trim_ows(b"  12\t"), b"12");
        assert_eq!(trim_ows(b""), b"");
        assert_eq!(trim_ows(b"   "), b"");
    }
}
