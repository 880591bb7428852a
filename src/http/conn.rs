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

use super::head::{inspect_head_into, trim_ows, Head, HeadLayout};
use super::watchdog::{Watch, Watchdog};
use super::{write_reply, Handler, Reply, Request};
use crate::metrics::Metrics;

pub use super::limits::{Limits, HEADER_ARRAY};

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
        let method = self.layout.method(&self.head);
        let target = self.layout.target(&self.head);
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
