//! The connection loop: one `may` coroutine per connection, reading requests
//! with `httparse` and guarding everything may_minihttp as published does not:
//!
//! - `Content-Length` that is malformed, negative, overflowing or repeated → 400
//!   (may_minihttp panics on it);
//! - `Transfer-Encoding: chunked` is decoded, strictly; any other coding → 501;
//!   both `Content-Length` and `Transfer-Encoding` → 400 (no smuggling);
//! - a body over `max_body_bytes` → 413 before a byte of it is read
//!   (`Expect: 100-continue` is answered only for bodies we will take);
//! - a head over `max_header_bytes` or with more than `max_headers` lines → 431;
//! - the head must arrive within `header_timeout`, a body may not pause longer
//!   than `body_timeout`, a keep-alive connection may idle `idle_timeout` → 408
//!   or a silent close (deadlines kept by the `watchdog`, not by a runtime
//!   timer per read);
//! - past `max_connections` new connections get a 503 and are closed;
//! - a body is always consumed (or the connection closed), so it is never
//!   parsed as the next request; pipelined requests are answered in order.
//!
//! Each refusal writes its status with `Connection: close`, shuts the write
//! side and drains briefly, so the client reads the answer instead of a reset.
//! Memory per connection is bounded by the head and body limits.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use may::net::{TcpListener, TcpStream};

use super::watchdog::{Watch, Watchdog};
use super::{write_reply, Handler, Reply, Request};
use crate::metrics::Metrics;

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

const REFUSED_503: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 38\r\nConnection: close\r\n\r\n{\"error\":\"too many open connections\"}\n";

/// Accepts connections on `listener` forever, one coroutine each.
pub fn serve(
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    limits: Arc<Limits>,
    metrics: Arc<Metrics>,
) -> may::coroutine::JoinHandle<()> {
    let watchdog = match Watchdog::start(limits.max_connections) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "no watchdog thread: reads use the runtime's timeouts");
            None
        }
    };
    may::go!(move || {
        for stream in listener.incoming() {
            if metrics.draining.load(Ordering::Relaxed) {
                break;
            }
            let mut stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    may::coroutine::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            let open = metrics.connections_open.fetch_add(1, Ordering::Relaxed) + 1;
            if open as usize > limits.max_connections {
                metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
                metrics.connections_refused.fetch_add(1, Ordering::Relaxed);
                metrics.refusal(503);
                let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
                let _ = stream.write_all(REFUSED_503);
                let _ = stream.shutdown(std::net::Shutdown::Both);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let (handler, limits, metrics) = (handler.clone(), limits.clone(), metrics.clone());
            let watch = watchdog.as_ref().and_then(|w| w.watch(stream.as_raw_fd()));
            may::go!(move || {
                let peer = stream
                    .peer_addr()
                    .map(|a: SocketAddr| a.ip())
                    .unwrap_or(IpAddr::from([0, 0, 0, 0]));
                // Dropped (its watchdog slot given back) before it is uncounted.
                Conn::new(stream, peer, &limits, &metrics, watch).run(&*handler);
                metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
            });
        }
    })
}

/// Why reading a request stopped.
enum Stop {
    /// Close quietly (EOF, idle timeout, I/O error).
    Close,
    /// Answer this status with `Connection: close`, then close.
    Refuse(u16, &'static str),
}

impl From<io::Error> for Stop {
    fn from(_: io::Error) -> Stop {
        Stop::Close
    }
}

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

    /// The headers of `head` (the bytes this layout was recorded from),
    /// into `out`; how many.
    fn headers<'h>(&self, head: &'h [u8], out: &mut [httparse::Header<'h>]) -> usize {
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

struct Conn<'l> {
    /// Read deadlines kept by the watchdog (None: all its slots were taken,
    /// and the runtime's read timeout is used instead). First, so it is
    /// dropped (its descriptor cleared) before `stream` closes the socket.
    watch: Option<Watch>,
    stream: TcpStream,
    peer: IpAddr,
    limits: &'l Limits,
    metrics: &'l Metrics,
    /// Received bytes; `buf[start..filled]` is not yet consumed.
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    /// The current request's head, copied out so the buffer can move.
    head: Vec<u8>,
    /// Where the parts of `head` are (recorded by its parse).
    layout: HeadLayout,
    /// A decoded chunked body.
    chunked_body: Vec<u8>,
    out: Vec<u8>,
    read_timeout: Option<Duration>,
}

impl<'l> Conn<'l> {
    fn new(
        stream: TcpStream,
        peer: IpAddr,
        limits: &'l Limits,
        metrics: &'l Metrics,
        watch: Option<Watch>,
    ) -> Self {
        let _ = stream.set_write_timeout(Some(limits.body_timeout));
        Conn {
            watch,
            stream,
            peer,
            limits,
            metrics,
            buf: vec![0; 4096],
            start: 0,
            filled: 0,
            head: Vec::with_capacity(512),
            layout: HeadLayout::default(),
            chunked_body: Vec::new(),
            out: Vec::with_capacity(512),
            read_timeout: None,
        }
    }

    fn run(&mut self, handler: &dyn Handler) {
        loop {
            match self.one_request(handler) {
                Ok(true) => continue,
                Ok(false) | Err(Stop::Close) => return,
                Err(Stop::Refuse(status, message)) => {
                    self.metrics.refusal(status);
                    if status == 408 {
                        self.metrics.timeouts.fetch_add(1, Ordering::Relaxed);
                    }
                    let reply = Reply::error(status, message);
                    write_reply(&mut self.out, &reply, true);
                    let _ = self.stream.write_all(&self.out);
                    self.linger_close();
                    return;
                }
            }
        }
    }

    /// Reads, answers and consumes one request. Ok(false) = close now.
    fn one_request(&mut self, handler: &dyn Handler) -> Result<bool, Stop> {
        let head = self.read_head()?;
        self.head.clear();
        self.head
            .extend_from_slice(&self.buf[self.start..self.start + head.len]);
        self.start += head.len;

        if head.expect_continue && (head.chunked || self.filled - self.start < head.content_length)
        {
            self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let body_range = if head.chunked {
            self.read_chunked()?;
            None
        } else {
            self.ensure(head.content_length, self.limits.body_timeout, true)?;
            let r = self.start..self.start + head.content_length;
            self.start += head.content_length;
            Some(r)
        };

        let began = Instant::now();
        let mut headers = [httparse::EMPTY_HEADER; HEADER_ARRAY];
        let count = self.layout.headers(&self.head, &mut headers);
        let l = &self.layout;
        let method = text(&self.head[l.method.0..l.method.1]);
        let target = text(&self.head[l.target.0..l.target.1]);
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, q),
            None => (target, ""),
        };
        let body: &[u8] = match &body_range {
            Some(r) => &self.buf[r.clone()],
            None => &self.chunked_body,
        };
        let req = Request {
            method,
            path,
            query,
            headers: &headers[..count],
            body,
            peer: self.peer,
        };
        let reply = handler.handle(&req);
        if reply.status >= 400 {
            self.metrics.refusal(reply.status);
        }
        let close =
            reply.close || !head.keep_alive || self.metrics.draining.load(Ordering::Relaxed);
        write_reply(&mut self.out, &reply, close);
        self.metrics.observe_latency(began.elapsed());
        self.stream.write_all(&self.out)?;
        if self.start == self.filled {
            self.start = 0;
            self.filled = 0;
        }
        Ok(!close)
    }

    fn set_timeout(&mut self, t: Duration) -> io::Result<()> {
        if self.read_timeout != Some(t) {
            self.stream.set_read_timeout(Some(t))?;
            self.read_timeout = Some(t);
        }
        Ok(())
    }

    /// Reads more bytes; Ok(0) = EOF. Keeps `buf[start..]`, compacting first.
    fn read_more(&mut self, timeout: Duration) -> Result<usize, Stop> {
        if self.filled == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.filled, 0);
                self.filled -= self.start;
                self.start = 0;
            } else {
                let grown = (self.buf.len() * 2).max(4096);
                self.buf.resize(grown, 0);
            }
        }
        match &self.watch {
            Some(w) => w.arm(timeout),
            None => self.set_timeout(timeout)?,
        }
        let read = self.stream.read(&mut self.buf[self.filled..]);
        if let Some(w) = &self.watch {
            w.disarm();
        }
        match read {
            // The watchdog shut the read side: the deadline passed.
            Ok(0) if self.watch.as_ref().is_some_and(Watch::fired) => {
                Err(Stop::Refuse(408, "request timed out"))
            }
            Ok(n) => {
                self.filled += n;
                Ok(n)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                Err(Stop::Refuse(408, "request timed out"))
            }
            Err(_) => Err(Stop::Close),
        }
    }

    /// Makes `buf[start..start+n]` available, growing the buffer as needed.
    fn ensure(&mut self, n: usize, timeout: Duration, body: bool) -> Result<(), Stop> {
        if self.start + n > self.buf.len() {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.start = 0;
            if n > self.buf.len() {
                self.buf.resize(n.next_power_of_two().max(4096), 0);
            }
        }
        while self.filled - self.start < n {
            match self.read_more(timeout)? {
                0 if body => return Err(Stop::Close),
                0 => return Err(Stop::Close),
                _ => {}
            }
        }
        Ok(())
    }

    fn read_head(&mut self) -> Result<Head, Stop> {
        let mut first_byte: Option<Instant> = (self.filled > self.start).then(Instant::now);
        loop {
            if self.filled > self.start {
                if let Some(head) = self.parse_head()? {
                    return Ok(head);
                }
            }
            let timeout = match first_byte {
                None => self.limits.idle_timeout,
                Some(t) => match self.limits.header_timeout.checked_sub(t.elapsed()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return Err(Stop::Refuse(408, "request head not received in time")),
                },
            };
            match self.read_more(timeout) {
                Ok(0) => return Err(Stop::Close),
                Ok(_) => {
                    first_byte.get_or_insert_with(Instant::now);
                }
                // An idle keep-alive connection that times out just closes.
                Err(Stop::Refuse(408, _)) if first_byte.is_none() => return Err(Stop::Close),
                Err(e) => return Err(e),
            }
        }
    }

    /// Parses the head in `buf[start..filled]`: None = incomplete.
    fn parse_head(&mut self) -> Result<Option<Head>, Stop> {
        inspect_head_into(
            &self.buf[self.start..self.filled],
            self.limits,
            &mut self.layout,
        )
        .map_err(|(status, why)| Stop::Refuse(status, why))
    }

    /// Decodes a chunked body into `chunked_body`, consuming it from `buf`.
    fn read_chunked(&mut self) -> Result<(), Stop> {
        const MAX_LINE: usize = 1024;
        let timeout = self.limits.body_timeout;
        self.chunked_body.clear();
        loop {
            let line = self.read_line(MAX_LINE, timeout)?;
            let size_part = match line.iter().position(|&b| b == b';') {
                Some(i) => &line[..i],
                None => &line[..],
            };
            let size_part = trim_ows(size_part);
            if size_part.is_empty()
                || size_part.len() > 15
                || !size_part.iter().all(u8::is_ascii_hexdigit)
            {
                return Err(Stop::Refuse(400, "malformed chunk size"));
            }
            // unwrap: at most 15 hex digits always parse into u64.
            let size =
                u64::from_str_radix(std::str::from_utf8(size_part).unwrap(), 16).unwrap() as usize;
            if size == 0 {
                // Trailers, up to an empty line; bounded like a head.
                let mut trailer_bytes = 0;
                loop {
                    let t = self.read_line(MAX_LINE, timeout)?;
                    if t.is_empty() {
                        return Ok(());
                    }
                    trailer_bytes += t.len();
                    if trailer_bytes > self.limits.max_header_bytes {
                        return Err(Stop::Refuse(431, "chunked trailers too large"));
                    }
                }
            }
            if self.chunked_body.len() + size > self.limits.max_body_bytes {
                return Err(Stop::Refuse(413, "request body too large"));
            }
            self.ensure(size + 2, timeout, true)?;
            let data = &self.buf[self.start..self.start + size + 2];
            if &data[size..] != b"\r\n" {
                return Err(Stop::Refuse(400, "chunk data not followed by CRLF"));
            }
            self.chunked_body.extend_from_slice(&data[..size]);
            self.start += size + 2;
        }
    }

    /// One CRLF-terminated line (without the CRLF), consumed from `buf`.
    fn read_line(&mut self, max: usize, timeout: Duration) -> Result<Vec<u8>, Stop> {
        let mut scanned = 0;
        loop {
            let avail = &self.buf[self.start..self.filled];
            if let Some(i) = avail[scanned..].windows(2).position(|w| w == b"\r\n") {
                let end = scanned + i;
                let line = avail[..end].to_vec();
                self.start += end + 2;
                return Ok(line);
            }
            scanned = avail.len().saturating_sub(1);
            if avail.len() > max {
                return Err(Stop::Refuse(400, "chunk line too long"));
            }
            if self.read_more(timeout)? == 0 {
                return Err(Stop::Close);
            }
        }
    }

    /// Half-closes and drains what the client still sends (bounded), so the
    /// answer is not lost to a TCP reset.
    fn linger_close(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        let _ = self
            .stream
            .set_read_timeout(Some(Duration::from_millis(500)));
        let mut sink = [0u8; 1024];
        let mut drained = 0;
        while drained < 256 * 1024 {
            match self.stream.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    }
}

/// Checks a request head against the transport rules and limits: Ok(None)
/// while incomplete, the refusal's status and reason when it breaks one.
/// Pure, so it is tested and benchmarked on its own.
pub fn inspect_head(data: &[u8], limits: &Limits) -> Result<Option<Head>, (u16, &'static str)> {
    inspect_head_into(data, limits, &mut HeadLayout::default())
}

/// [`inspect_head`], recording where the head's parts are into `layout`.
fn inspect_head_into(
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

fn trim_ows(v: &[u8]) -> &[u8] {
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

/// Whether `hay` holds `needle` (lower-case), ASCII case aside.
fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
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
        assert_eq!(text(&head[layout.method.0..layout.method.1]), "POST");
        assert_eq!(
            text(&head[layout.target.0..layout.target.1]),
            "/land_fb?src=fb"
        );
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
