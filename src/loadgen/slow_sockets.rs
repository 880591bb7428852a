//! `dataport loadgen --slow-sockets N`: N connections that send half a
//! request and then stall (a slowloris), held open while the real load runs.
//! One watcher thread polls them all and records when the server closed each
//! one, so a run shows both that stalled sockets hold no worker (the real
//! clients' latency) and that the header/body timeouts free them.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// The stalled sockets, each with the moment it sent its half request.
pub struct SlowSockets {
    sockets: Vec<(TcpStream, Instant)>,
}

/// What the watcher saw: how long after its half request the server closed
/// each socket, and how many were still open at the deadline.
pub struct Closures {
    pub opened: usize,
    pub refused: usize,
    pub closed_after: Vec<Duration>,
    pub still_open: usize,
}

/// Opens `n` sockets: even ones send half a request head, odd ones a whole
/// head announcing 300 bytes of body and then only 100 of them.
pub fn open(addr: SocketAddr, form: &str, n: usize) -> (SlowSockets, usize) {
    let half_head = format!("POST /{form} HTTP/1.1\r\nHost: loadgen\r\nContent-Ty");
    let half_body = format!(
        "POST /{form} HTTP/1.1\r\nHost: loadgen\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 300\r\n\r\nPhone=0502345678&Notes={}",
        "x".repeat(77)
    );
    let mut sockets = Vec::with_capacity(n);
    let mut refused = 0;
    for i in 0..n {
        let part = if i % 2 == 0 { &half_head } else { &half_body };
        match TcpStream::connect(addr).and_then(|mut s| s.write_all(part.as_bytes()).map(|_| s)) {
            Ok(s) => sockets.push((s, Instant::now())),
            Err(_) => refused += 1,
        }
    }
    (SlowSockets { sockets }, refused)
}

/// Polls every socket until the server has closed them all or `deadline`
/// has passed since the last was opened. Runs on its own thread.
pub fn watch(slow: SlowSockets, refused: usize, deadline: Duration) -> Closures {
    let mut fds: Vec<libc::pollfd> = slow
        .sockets
        .iter()
        .map(|(s, _)| libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN | libc::POLLRDHUP,
            revents: 0,
        })
        .collect();
    let mut closed_after = Vec::with_capacity(fds.len());
    let mut open = fds.len();
    let mut scratch = [0u8; 512];
    let last_opened = slow.sockets.last().map_or_else(Instant::now, |s| s.1);
    while open > 0 && last_opened.elapsed() < deadline {
        // SAFETY: `fds` is a valid array of pollfd for the call's duration.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        if ready <= 0 {
            continue;
        }
        for (p, (_, opened)) in fds.iter_mut().zip(&slow.sockets) {
            if p.fd < 0 || p.revents == 0 {
                continue;
            }
            // A 408/400 answer may come before the close: drain it, and
            // count the socket closed at end of stream or on an error.
            // SAFETY: reading into a stack buffer of the given length.
            let got = unsafe {
                libc::recv(
                    p.fd,
                    scratch.as_mut_ptr().cast(),
                    scratch.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if got <= 0 || p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLRDHUP) != 0 {
                closed_after.push(opened.elapsed());
                p.fd = -1;
                open -= 1;
            }
            p.revents = 0;
        }
    }
    closed_after.sort_unstable();
    Closures {
        opened: slow.sockets.len(),
        refused,
        closed_after,
        still_open: open,
    }
}

impl Closures {
    pub fn report(&self) -> String {
        let secs = |d: Duration| format!("{:.1} s", d.as_secs_f64());
        let n = self.closed_after.len();
        let spread = if n == 0 {
            String::new()
        } else {
            format!(
                " after {} (first) / {} (median) / {} (last)",
                secs(self.closed_after[0]),
                secs(self.closed_after[n / 2]),
                secs(self.closed_after[n - 1])
            )
        };
        format!(
            "slow sockets: {} opened ({} refused), {n} closed by the server{spread}, {} still open",
            self.opened, self.refused, self.still_open
        )
    }
}
