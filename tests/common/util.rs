//! Shared fixtures for the integration tests: a test configuration, an
//! in-process server with a manual clock, the real binary on a free port,
//! and a small HTTP client that speaks raw bytes when a test needs to.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use dataport::clock::ManualClock;
use dataport::config::Config;

pub const TOKEN: &str = "test-token";
/// 2026-11-22T22:00:00Z
pub const T0: u64 = 1_795_384_800_000;

/// The sections every test configuration shares: loopback on a free port,
/// its own data dir, a 64 MiB map, the test admin token, no DNS checks.
pub fn base_config(data_dir: &Path) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n[storage]\nmap_size_mb = 64\n[admin]\ntoken = \"{TOKEN}\"\n[intake]\ndns_check = false\nweb_branch = \"\"\n",
        data_dir.display()
    )
}

/// [`base_config`] with `extra` (TOML) merged in key by key: a table's keys
/// are added or replace the base's, arrays of tables (`[[profiles]]`,
/// `[[users]]`, ...) are appended. A test writes only what it changes.
pub fn test_config(data_dir: &Path, extra: &str) -> String {
    fn merge(base: &mut toml::Table, extra: toml::Table) {
        for (key, value) in extra {
            match (base.get_mut(&key), value) {
                (Some(toml::Value::Table(b)), toml::Value::Table(e)) => merge(b, e),
                (Some(toml::Value::Array(b)), toml::Value::Array(e)) => b.extend(e),
                (_, value) => {
                    base.insert(key, value);
                }
            }
        }
    }
    let mut config: toml::Table = base_config(data_dir).parse().expect("base config");
    merge(&mut config, extra.parse().expect("test config TOML"));
    toml::to_string(&config).expect("config as TOML")
}

/// The test configuration: `[server]` / `[storage]` extras are spliced in.
pub fn config_text(data_dir: &Path, server_extra: &str, storage_extra: &str) -> String {
    config_text_with_tail(data_dir, server_extra, storage_extra, "")
}

/// As [`config_text`], with `tail` (more TOML tables) appended.
pub fn config_text_with_tail(
    data_dir: &Path,
    server_extra: &str,
    storage_extra: &str,
    tail: &str,
) -> String {
    let http_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/http");
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
data_dir = "{data}"
http_dir = "{http_dir}"
{server_extra}
[storage]
{storage_extra}
[admin]
token = "{TOKEN}"
[intake]
default_country = "IL"
dns_check = false
web_branch = "A1"
[[branches]]
id = "A1"
name = "Tel Aviv"
timezone = "Asia/Jerusalem"
[[users]]
login = "dana@example.com"
name = "Dana"
branch = "A1"

{profiles}
{tail}
"#,
        data = data_dir.display(),
        storage_extra = if storage_extra.contains("map_size_mb") {
            storage_extra.to_string()
        } else {
            format!("map_size_mb = 64\n{storage_extra}")
        },
        profiles = shared_profiles(),
    )
}

/// The profiles every `config_text` server has: two lead forms with the
/// full set of rows, one with mandatory rows, one with redirects, one
/// without duplicate checks.
fn shared_profiles() -> String {
    let phone = Row::new("Phone", "clients", "phone1");
    [
        lead_profile(1, "leads"),
        lead_profile(2, "leads2"),
        Profile::new(3, "must")
            .row(phone.clone().mandatory())
            .row(Row::new("Boss", "contacts", "first_name").mandatory()),
        Profile::new(4, "redir")
            .text("redirect_success", "ThankYou.html")
            .text("redirect_error", "https://example.com/sorry")
            .row(phone.clone().mandatory()),
        Profile::new(5, "nodedupe")
            .text("type", "client_lead_no_dedupe")
            .row(phone),
    ]
    .iter()
    .map(Profile::toml)
    .collect()
}

fn lead_profile(number: u32, form: &str) -> Profile {
    Profile::new(number, form)
        .rows(&[
            ("FirstName", "clients", "first_name"),
            ("LastName", "clients", "last_name"),
            ("Phone", "clients", "phone1"),
            ("Phone2", "clients", "phone2"),
            ("Email", "clients", "email"),
            ("Supplier", "clients", "lead_supplier"),
            ("City", "clients", "city"),
            ("Notes", "clients", "notes"),
        ])
        .row(Row::new("", "clients", "media").default(&format!("Web form {number}")))
        .rows(&[
            ("Boss", "contacts", "first_name"),
            ("Budget", "extension", "budget"),
            ("Color", "extension", "color"),
        ])
}

/// A TOML basic string for `s` (JSON's escapes are TOML's).
pub fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string")
}

/// One `[[profiles.fields]]` row of a test profile: posted name, table
/// (empty: the profile's main table) and field, with the optional keys.
#[derive(Clone)]
pub struct Row {
    external: String,
    table: String,
    field: String,
    keys: Vec<(&'static str, String)>,
}

impl Row {
    pub fn new(external: &str, table: &str, field: &str) -> Row {
        Row {
            external: external.into(),
            table: table.into(),
            field: field.into(),
            keys: Vec::new(),
        }
    }
    pub fn mandatory(mut self) -> Row {
        self.keys.push(("mandatory", "true".into()));
        self
    }
    pub fn default(mut self, value: &str) -> Row {
        self.keys.push(("default", toml_str(value)));
        self
    }
    pub fn label(mut self, value: &str) -> Row {
        self.keys.push(("label", toml_str(value)));
        self
    }
    fn toml(&self) -> String {
        let mut out = format!(
            "  [[profiles.fields]]\n  external = {}\n",
            toml_str(&self.external)
        );
        if !self.table.is_empty() {
            out += &format!("  table = {}\n", toml_str(&self.table));
        }
        out += &format!("  field = {}\n", toml_str(&self.field));
        for (key, value) in &self.keys {
            out += &format!("  {key} = {value}\n");
        }
        out
    }
}

impl From<(&str, &str, &str)> for Row {
    fn from((external, table, field): (&str, &str, &str)) -> Row {
        Row::new(external, table, field)
    }
}

/// One `[[profiles]]` entry of a test configuration, built key by key so
/// that no test re-types the profile TOML: `Profile::new(1, "leads")
/// .text("type", "service_ticket").rows(&[..]).row(Row::new(..).mandatory())`.
#[derive(Clone)]
pub struct Profile {
    number: u32,
    form: String,
    keys: Vec<(String, String)>,
    rows: Vec<Row>,
}

impl Profile {
    pub fn new(number: u32, form: &str) -> Profile {
        Profile {
            number,
            form: form.into(),
            keys: Vec::new(),
            rows: Vec::new(),
        }
    }
    /// A key whose value is already TOML (`["a", "b"]`, `3`, `true`).
    pub fn set(mut self, key: &str, toml_value: &str) -> Profile {
        self.keys.push((key.into(), toml_value.into()));
        self
    }
    /// A key with a string value.
    pub fn text(self, key: &str, value: &str) -> Profile {
        let value = toml_str(value);
        self.set(key, &value)
    }
    pub fn row(mut self, row: Row) -> Profile {
        self.rows.push(row);
        self
    }
    pub fn rows(mut self, rows: &[(&str, &str, &str)]) -> Profile {
        self.rows.extend(rows.iter().map(|&r| Row::from(r)));
        self
    }
    pub fn toml(&self) -> String {
        let mut out = format!(
            "[[profiles]]\nnumber = {}\nform_name = {}\n",
            self.number,
            toml_str(&self.form)
        );
        for (key, value) in &self.keys {
            out += &format!("{key} = {value}\n");
        }
        out + &self.rows.iter().map(Row::toml).collect::<String>()
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.toml())
    }
}

/// An in-process appliance with a manual clock and its own data dir.
pub struct TestServer {
    pub addr: SocketAddr,
    pub clock: Arc<ManualClock>,
    pub running: dataport::server::Running,
    pub dir: tempfile::TempDir,
}

pub fn start() -> TestServer {
    start_with("", "")
}

pub fn start_with(server_extra: &str, storage_extra: &str) -> TestServer {
    start_full(server_extra, storage_extra, "")
}

pub fn start_full(server_extra: &str, storage_extra: &str, tail: &str) -> TestServer {
    start_text(|data| config_text_with_tail(data, server_extra, storage_extra, tail))
}

/// An in-process appliance on a configuration of the test's own, given the data dir.
pub fn start_text(text_for: impl FnOnce(&Path) -> String) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let text = text_for(&dir.path().join("data"));
    let cfg = Config::from_toml(&text).unwrap_or_else(|e| panic!("test config: {e:?}"));
    let clock = Arc::new(ManualClock::new(T0));
    let running = dataport::server::start(cfg, clock.clone()).unwrap();
    TestServer {
        addr: running.addr,
        clock,
        running,
        dir,
    }
}

/// The real binary, serving a config file in its own data dir.
pub struct Binary {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Binary {
    pub fn start(config_path: &Path) -> Binary {
        let args = [
            std::ffi::OsStr::new("serve"),
            "--config".as_ref(),
            config_path.as_os_str(),
        ];
        Binary::spawn(&args, "warn", Stdio::inherit())
    }

    /// Runs `dataport ARGS` (a `serve`), logging at `log` to `stderr`, and
    /// waits for its "listening on" line.
    pub fn spawn(args: &[&std::ffi::OsStr], log: &str, stderr: Stdio) -> Binary {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dataport"));
        cmd.args(args).env("DATAPORT_LOG", log).stderr(stderr);
        Binary::from_command(cmd).unwrap_or_else(|line| panic!("unexpected first line {line:?}"))
    }

    /// Runs `cmd` (a `serve` of some build) and waits for its "listening
    /// on" line; Err with what it printed instead when it does not start.
    pub fn from_command(mut cmd: Command) -> Result<Binary, String> {
        let mut child = cmd.stdout(Stdio::piped()).spawn().expect("start dataport");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        match line.trim().strip_prefix("listening on ") {
            Some(addr) => Ok(Binary {
                child,
                addr: addr.parse().unwrap(),
            }),
            None => {
                let _ = child.wait();
                Err(line)
            }
        }
    }

    /// SIGTERM, then waits (at most 15 s) for the exit status.
    pub fn term(mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        for _ in 0..150 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("dataport did not stop within 15 s of SIGTERM");
    }

    pub fn kill9(mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
    /// The intake ResponseCode.
    pub fn code(&self) -> String {
        self.json()["ResponseCode"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

/// Writes raw bytes, reads until the server closes (or 10 s), parses the first answer.
pub fn raw(addr: SocketAddr, bytes: &[u8]) -> Option<Response> {
    let all = raw_all(addr, bytes);
    parse_responses(&all).into_iter().next()
}

pub fn raw_all(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// Every HTTP response in `data`, in order.
pub fn parse_responses(mut data: &[u8]) -> Vec<Response> {
    let mut out = Vec::new();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(n)) = r.parse(data) else {
            break;
        };
        let headers: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).to_string(),
                )
            })
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        let status = r.code.unwrap();
        let end = (n + len).min(data.len());
        out.push(Response {
            status,
            body: String::from_utf8_lossy(&data[n..end]).to_string(),
            headers,
        });
        data = &data[end..];
    }
    out
}

/// One request with `Connection: close`.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PATCH" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes).unwrap_or_else(|| panic!("no answer to {method} {target}"))
}

pub fn get(addr: SocketAddr, target: &str) -> Response {
    request(addr, "GET", target, &[], b"")
}

pub fn post_form(addr: SocketAddr, target: &str, body: &str) -> Response {
    request(
        addr,
        "POST",
        target,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
}

pub fn admin(addr: SocketAddr, target: &str) -> Response {
    let auth = format!("Bearer {TOKEN}");
    request(addr, "GET", target, &[("Authorization", &auth)], b"")
}

pub fn admin_json(addr: SocketAddr, target: &str) -> serde_json::Value {
    let r = admin(addr, target);
    assert_eq!(r.status, 200, "{target}: {}", r.body);
    r.json()
}

/// Every record of an admin collection, paging through `?after=`.
pub fn all_records(addr: SocketAddr, collection: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = admin_json(
            addr,
            &format!("/admin/v1/{collection}?limit=1000&after={after}"),
        );
        out.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(n) => after = n.parse().unwrap(),
            None => return out,
        }
    }
}

/// Every client's (id, phone1).
pub fn all_clients(addr: SocketAddr) -> Vec<(u64, String)> {
    all_records(addr, "clients")
        .iter()
        .map(|c| {
            (
                c["id"].as_u64().unwrap(),
                c["phone1"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub fn admin_patch(addr: SocketAddr, target: &str, body: &str) -> Response {
    let auth = format!("Bearer {TOKEN}");
    request(
        addr,
        "PATCH",
        target,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
}

/// Polls `f` for up to 5 s: for what the writer does in the background
/// (usage log, housekeeping), which no answer waits for.
pub fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..50 {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A counter of `/metrics`.
pub fn metric(addr: SocketAddr, name: &str) -> u64 {
    let m = get(addr, "/metrics").body;
    m.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
        .trim()
        .parse::<f64>()
        .unwrap_or_else(|e| panic!("{name}: {e}")) as u64
}

/// Waits until `rounds` more rounds of a background loop have run (its
/// `dataport_*_rounds_total` counter): the event that proves a check of
/// "nothing happened" is not just early.
pub fn wait_rounds(addr: SocketAddr, counter: &str, rounds: u64) {
    let from = metric(addr, counter);
    assert!(
        eventually(|| metric(addr, counter) >= from + rounds),
        "{counter} did not advance by {rounds}"
    );
}

/// An admin request with a JSON body.
pub fn admin_send(addr: SocketAddr, method: &str, target: &str, body: &str) -> Response {
    let auth = format!("Bearer {TOKEN}");
    request(
        addr,
        method,
        target,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
}
