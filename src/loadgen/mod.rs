//! `dataport loadgen`: the operators' bundled load tester (SPEC §11).
//!
//! N keep-alive connections (one OS thread each, blocking sockets: the load
//! generator must not share the server's scheduler) post a mix of new,
//! duplicate and invalid leads for D seconds, then it prints requests/s,
//! latency percentiles and the count of every response code, and checks
//! through the admin API that every lead answered 000 is stored. With
//! `--slow-sockets N` it first opens N stalled connections
//! ([`slow_sockets`]) and reports when the server closed them.
//!
//! Several `--url`s (the nodes of a cluster) share the connections in turn;
//! the check then asks every node, waiting up to `--converge-secs` for the
//! cluster to converge, and reports per node the acknowledged leads it
//! does not hold (0 everywhere, or the run fails).

mod slow_sockets;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Base URL of the appliance; repeat for the nodes of a cluster.
    #[arg(long = "url", default_value = "http://127.0.0.1:8080")]
    pub urls: Vec<String>,
    /// With several URLs: how long the final check waits for every node to
    /// hold every acknowledged lead.
    #[arg(long, default_value_t = 60)]
    pub converge_secs: u64,
    /// Form name (profile) to post to.
    #[arg(long, default_value = "land_fb")]
    pub form: String,
    /// Concurrent keep-alive connections.
    #[arg(long, short = 'c', default_value_t = 64)]
    pub connections: usize,
    /// Seconds of load.
    #[arg(long, short = 'd', default_value_t = 10)]
    pub duration: u64,
    /// Percentages of new, duplicate and invalid posts: "new,dup,invalid".
    #[arg(long, default_value = "100,0,0")]
    pub mix: String,
    /// Posted field names for the phone and the email.
    #[arg(long, default_value = "Phone")]
    pub phone_field: String,
    #[arg(long, default_value = "Email")]
    pub email_field: String,
    /// Pad each body with a `Notes` field to about this many bytes.
    #[arg(long, default_value_t = 300)]
    pub body_bytes: usize,
    /// Admin token for the final check (empty: skip the check).
    #[arg(long, default_value = "change-me")]
    pub admin_token: String,
    /// Before the load, open this many connections that send half a request
    /// and stall; report when the server closed them.
    #[arg(long, default_value_t = 0)]
    pub slow_sockets: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    New,
    Dup,
    Invalid,
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    codes: [u64; 12],
    statuses: Vec<(u16, u64)>,
    errors: u64,
    acked: Vec<(u64, String)>,
}

impl Tally {
    fn status(&mut self, s: u16) {
        match self.statuses.iter_mut().find(|(k, _)| *k == s) {
            Some((_, n)) => *n += 1,
            None => self.statuses.push((s, 1)),
        }
    }
}

/// Parses "http://host:port" into a socket address.
fn target(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = url.strip_prefix("http://").context("only http:// URLs")?;
    let hostport = rest.split('/').next().unwrap_or(rest);
    hostport
        .to_socket_addrs()?
        .next()
        .with_context(|| format!("cannot resolve {hostport}"))
}

fn parse_mix(mix: &str) -> anyhow::Result<[u32; 3]> {
    let parts: Vec<u32> = mix
        .split(',')
        .map(|p| p.trim().parse())
        .collect::<Result<_, _>>()?;
    if parts.len() != 3 || parts.iter().sum::<u32>() == 0 {
        bail!("--mix takes three percentages: new,dup,invalid");
    }
    Ok([parts[0], parts[1], parts[2]])
}

/// One keep-alive HTTP/1.1 connection with a reusable buffer.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// An answer: status, intake code (or 11 when none), RecordId, body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> std::io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    pub fn send(&mut self, request: &[u8]) -> std::io::Result<Answer> {
        self.stream.write_all(request)?;
        self.buf.clear();
        let mut chunk = [0u8; 4096];
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(n)) = resp.parse(&self.buf) {
                let len: usize = resp
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                    .unwrap_or(0);
                let status = resp.code.unwrap_or(0);
                while self.buf.len() < n + len {
                    let got = self.stream.read(&mut chunk)?;
                    if got == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    self.buf.extend_from_slice(&chunk[..got]);
                }
                let body = self.buf[n..n + len].to_vec();
                return Ok(Answer { status, body });
            }
            let got = self.stream.read(&mut chunk)?;
            if got == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..got]);
        }
    }
}

fn json_str<'a>(body: &'a [u8], key: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(body).ok()?;
    let pat = format!("\"{key}\":");
    let start = text.find(&pat)? + pat.len();
    let rest = text[start..].trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        return s.split('"').next();
    }
    rest.split([',', '}']).next()
}

/// The n-th plausible Israeli mobile number of a run: 20 million numbers in
/// the 053 and 056 ranges, each run starting at its own offset, so runs on
/// the same store rarely meet (use a fresh data dir for exact 000 counts).
fn unique_mobile(run: u64, n: u64) -> String {
    const SPAN: u64 = 10_000_000;
    let idx = (run.wrapping_mul(7_919_993) + n) % (2 * SPAN);
    let prefix = if idx < SPAN { "053" } else { "056" };
    format!("{prefix}{:07}", idx % SPAN)
}

fn post(form: &str, body: &str) -> Vec<u8> {
    format!(
        "POST /{form} HTTP/1.1\r\nHost: loadgen\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub fn run(args: &Args) -> anyhow::Result<bool> {
    let addrs: Vec<SocketAddr> = args
        .urls
        .iter()
        .map(|u| target(u))
        .collect::<anyhow::Result<_>>()?;
    let addr = addrs[0];
    let mix = parse_mix(&args.mix)?;
    let total: u32 = mix.iter().sum();
    // A run prefix keeps this run's phones apart from earlier runs' on the same store.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        % 900
        + 100;
    let counter = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    println!(
        "dataport loadgen: {} connections, {} s, mix new {} / dup {} / invalid {} -> {}/{}",
        args.connections,
        args.duration,
        mix[0],
        mix[1],
        mix[2],
        args.urls.join(" "),
        args.form
    );
    crate::server::raise_open_files_limit(args.connections + args.slow_sockets);
    let watcher = if args.slow_sockets > 0 {
        let (slow, refused) = slow_sockets::open(addr, &args.form, args.slow_sockets);
        println!(
            "slow sockets: {} opened, each sent half a request and stalls",
            args.slow_sockets - refused
        );
        let deadline = Duration::from_secs(args.duration + 30);
        Some(std::thread::spawn(move || {
            slow_sockets::watch(slow, refused, deadline)
        }))
    } else {
        None
    };
    let started = Instant::now();
    let threads: Vec<_> = (0..args.connections)
        .map(|t| {
            let (args, counter, stop) = (args.clone(), counter.clone(), stop.clone());
            let addr = addrs[t % addrs.len()];
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || worker(t, &args, addr, run, mix, total, &counter, &stop))
        })
        .collect::<Result<_, _>>()?;
    std::thread::sleep(Duration::from_secs(args.duration));
    stop.store(true, Ordering::Relaxed);
    let mut all = Tally::default();
    for t in threads {
        let tally = t
            .join()
            .map_err(|_| anyhow::anyhow!("a load thread panicked"))?;
        all.latencies_us.extend(tally.latencies_us);
        for i in 0..all.codes.len() {
            all.codes[i] += tally.codes[i];
        }
        for (s, n) in tally.statuses {
            for _ in 0..n {
                all.status(s);
            }
        }
        all.errors += tally.errors;
        all.acked.extend(tally.acked);
    }
    report(&mut all, started.elapsed().as_secs_f64());
    if let Some(w) = watcher {
        let closures = w
            .join()
            .map_err(|_| anyhow::anyhow!("the slow-socket watcher panicked"))?;
        println!("{}", closures.report());
    }
    if args.admin_token.is_empty() {
        return Ok(all.errors == 0);
    }
    check_stored(args, &addrs, &all.acked)
}

/// Prints requests/s, latency percentiles, response codes and statuses.
fn report(all: &mut Tally, elapsed: f64) {
    let n = all.latencies_us.len();
    all.latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        if n == 0 {
            return 0.0;
        }
        all.latencies_us[((n as f64 * p) as usize).min(n - 1)] as f64 / 1000.0
    };
    println!(
        "requests: {n} in {elapsed:.1} s = {:.0}/s, connection errors: {}",
        n as f64 / elapsed,
        all.errors
    );
    println!(
        "latency ms: p50 {:.2}  p99 {:.2}  p999 {:.2}  max {:.2}",
        pct(0.50),
        pct(0.99),
        pct(0.999),
        pct(1.0)
    );
    let codes: Vec<String> = all
        .codes
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, n)| {
            if i == 11 {
                format!("none={n}")
            } else {
                format!("{i:03}={n}")
            }
        })
        .collect();
    println!("response codes: {}", codes.join(" "));
    all.statuses.sort_unstable();
    let statuses: Vec<String> = all
        .statuses
        .iter()
        .map(|(s, n)| format!("{s}={n}"))
        .collect();
    println!("http statuses: {}", statuses.join(" "));
}

/// Looks every acknowledged lead up on every node (after convergence, for
/// a cluster); whether all hold all.
fn check_stored(
    args: &Args,
    addrs: &[SocketAddr],
    acked: &[(u64, String)],
) -> anyhow::Result<bool> {
    let addr = addrs[0];
    if addrs.len() == 1 {
        let missing = verify(addr, &args.admin_token, acked)?;
        println!(
            "verify: {} leads answered 000, {missing} missing from the store",
            acked.len()
        );
        return Ok(missing == 0);
    }
    // A cluster: every node must come to hold every acknowledged lead.
    let deadline = Instant::now() + Duration::from_secs(args.converge_secs);
    let mut all_held = true;
    for (url, node) in args.urls.iter().zip(addrs) {
        let missing = loop {
            let missing = verify(*node, &args.admin_token, acked)?;
            if missing == 0 || Instant::now() > deadline {
                break missing;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        println!(
            "verify {url}: {} leads answered 000 by the cluster, {missing} missing from this node",
            acked.len()
        );
        all_held &= missing == 0;
    }
    Ok(all_held)
}

#[allow(clippy::too_many_arguments)]
fn worker(
    t: usize,
    args: &Args,
    addr: SocketAddr,
    run: u64,
    mix: [u32; 3],
    total: u32,
    counter: &AtomicU64,
    stop: &AtomicBool,
) -> Tally {
    let mut tally = Tally::default();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let pad = |body: String| -> String {
        if body.len() + 7 < args.body_bytes {
            format!(
                "{body}&Notes={}",
                "x".repeat(args.body_bytes - body.len() - 7)
            )
        } else {
            body
        }
    };
    let dup_req = post(
        &args.form,
        &pad(format!(
            "FirstName=Dup&{}=%2B1999{run:03}{t:04}&{}=dup{t}@loadgen.example",
            args.phone_field, args.email_field
        )),
    );
    let invalid_req = post(&args.form, &pad("FirstName=NoContact".to_string()));
    let mut client: Option<Client> = None;
    while !stop.load(Ordering::Relaxed) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let roll = (rng % total as u64) as u32;
        let kind = if roll < mix[0] {
            Kind::New
        } else if roll < mix[0] + mix[1] {
            Kind::Dup
        } else {
            Kind::Invalid
        };
        let mut phone = String::new();
        let new_req;
        let req: &[u8] = match kind {
            Kind::New => {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let national = unique_mobile(run, n);
                phone = format!("972{}", &national[1..]);
                new_req = post(
                    &args.form,
                    &pad(format!(
                        "FirstName=Load&LastName=Gen&{}={national}&{}=lg{run}-{n}@loadgen.example",
                        args.phone_field, args.email_field
                    )),
                );
                &new_req
            }
            Kind::Dup => &dup_req,
            Kind::Invalid => &invalid_req,
        };
        if client.is_none() {
            match Client::connect(addr) {
                Ok(c) => client = Some(c),
                Err(_) => {
                    tally.errors += 1;
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            }
        }
        let began = Instant::now();
        // unwrap: connected just above.
        match client.as_mut().unwrap().send(req) {
            Ok(a) => {
                tally
                    .latencies_us
                    .push(began.elapsed().as_micros().min(u32::MAX as u128) as u32);
                tally.status(a.status);
                let code = json_str(&a.body, "ResponseCode").and_then(|c| c.parse::<usize>().ok());
                tally.codes[code.unwrap_or(11).min(11)] += 1;
                if code == Some(0) && kind == Kind::New {
                    if let Some(id) =
                        json_str(&a.body, "RecordId").and_then(|s| s.trim().parse().ok())
                    {
                        tally.acked.push((id, phone));
                    }
                }
            }
            Err(_) => {
                tally.errors += 1;
                client = None;
            }
        }
    }
    tally
}

/// Looks every acknowledged lead up through the admin API; returns how many are missing.
fn verify(addr: SocketAddr, token: &str, acked: &[(u64, String)]) -> anyhow::Result<usize> {
    let missing = AtomicU64::new(0);
    let chunk = acked.len().div_ceil(8).max(1);
    std::thread::scope(|s| {
        for part in acked.chunks(chunk) {
            let missing = &missing;
            s.spawn(move || {
                let mut c = Client::connect(addr).ok();
                for (id, phone) in part {
                    let req = format!(
                        "GET /admin/v1/clients/{id} HTTP/1.1\r\nHost: loadgen\r\nAuthorization: Bearer {token}\r\n\r\n"
                    );
                    let found = c.as_mut().and_then(|c| c.send(req.as_bytes()).ok()).is_some_and(|a| {
                        a.status == 200 && (phone.is_empty() || json_str(&a.body, "phone1") == Some(phone))
                    });
                    if !found {
                        missing.fetch_add(1, Ordering::Relaxed);
                        c = Client::connect(addr).ok();
                    }
                }
            });
        }
    });
    Ok(missing.load(Ordering::Relaxed) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mix_and_fields() {
        assert_eq!(parse_mix("80,10,10").unwrap(), [80, 10, 10]);
        assert!(parse_mix("1,2").is_err());
        assert!(parse_mix("0,0,0").is_err());
        let body = br#"{"ResponseCode":"000","ResponseMsgEng":"OK","RecordId":42}"#;
        assert_eq!(json_str(body, "ResponseCode"), Some("000"));
        assert_eq!(json_str(body, "RecordId"), Some("42"));
    }
}
