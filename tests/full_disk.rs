//! A full disk, for real: the binary runs with its data dir on a 4 MiB tmpfs
//! (mounted in a private mount namespace by `unshare`, so the test needs no
//! root), half of it taken by a filler file. Intake must answer 004 once
//! the filesystem is full — never 000 for a lead that is not stored — keep
//! serving reads, and accept leads again once the filler is deleted.
//!
//! Where the machine allows no mount namespace the test fails and says
//! why (util-linux's `unshare` with user namespaces is what it needs).

#[path = "common/util.rs"]
mod util;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use util::*;

/// The binary, inside `unshare -rm` with a size-limited tmpfs at `mount`.
struct Confined {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Confined {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_confined(mount: &Path, config: &Path) -> Result<Confined, String> {
    // The shell mounts the tmpfs, fills half of it, then becomes dataport.
    let script = r#"mount -t tmpfs -o size=4m tmpfs "$1" && head -c 2097152 /dev/zero > "$1/filler" && exec "$2" serve --config "$3""#;
    let mut child = Command::new("unshare")
        .args(["-rm", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(mount)
        .arg(env!("CARGO_BIN_EXE_dataport"))
        .arg(config)
        .env("DATAPORT_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run unshare (util-linux): {e}"))?;
    let mut line = String::new();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let _ = BufReader::new(stdout).read_line(&mut line);
    match line.trim().strip_prefix("listening on ") {
        Some(addr) => Ok(Confined {
            addr: addr.parse().map_err(|e| format!("{addr:?}: {e}"))?,
            child,
        }),
        None => {
            let out = child.wait_with_output().map_err(|e| e.to_string())?;
            Err(format!(
                "no size-limited filesystem here (unshare -rm and a tmpfs mount are needed): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

#[test]
fn a_full_filesystem_answers_004_keeps_reads_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("fs");
    std::fs::create_dir(&mount).unwrap();
    let config = dir.path().join("dataport.toml");
    // The map (64 MiB) is far bigger than the filesystem: the disk fills first.
    std::fs::write(
        &config,
        config_text(
            &mount.join("data"),
            "max_body_bytes = 100000",
            "map_size_mb = 64",
        ),
    )
    .unwrap();
    let b = start_confined(&mount, &config).unwrap_or_else(|why| panic!("{why}"));
    let notes = "x".repeat(40_000);
    let post = |i: usize| {
        post_form(
            b.addr,
            "/leads",
            &format!("Phone=05077{i:05}&FirstName=Disk&Notes={notes}"),
        )
    };
    let mut acked = Vec::new();
    let mut failed = 0;
    for i in 0..400 {
        let r = post(i);
        match r.code().as_str() {
            "000" => acked.push((i, r.json()["RecordId"].as_u64().unwrap())),
            "004" => {
                failed += 1;
                if failed == 3 {
                    break;
                }
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert_eq!(failed, 3, "a 4 MiB filesystem must fill up");
    eprintln!("full after {} acknowledged leads", acked.len());
    assert!(!acked.is_empty());
    // Every acknowledged lead is stored, and reads keep working meanwhile.
    for (_, id) in &acked {
        let c = admin(b.addr, &format!("/admin/v1/clients/{id}"));
        assert_eq!(c.status, 200, "acknowledged {id} must be stored");
    }
    assert_eq!(get(b.addr, "/health").status, 200);
    let m = get(b.addr, "/metrics").body;
    let failures: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("dataport_commit_failures_total "))
        .unwrap_or_else(|| panic!("no dataport_commit_failures_total in\n{m}"))
        .parse()
        .unwrap();
    assert!(failures > 0, "the failed commits are counted");

    // Space returns: the filler goes (through the process's view of its
    // mount namespace), and new leads are acknowledged and stored again.
    let filler = format!("/proc/{}/root{}/filler", b.child.id(), mount.display());
    match std::fs::remove_file(&filler) {
        Ok(()) => {}
        Err(e) => panic!("removing {filler} (the filler, through the mount namespace): {e}"),
    }
    let mut recovered = None;
    for i in 1000..1010 {
        let r = post(i);
        if r.code() == "000" {
            recovered = Some(r.json()["RecordId"].as_u64().unwrap());
            break;
        }
        assert_eq!(r.code(), "004", "{}", r.body);
    }
    let id = recovered.expect("leads are accepted again once space returns");
    assert_eq!(
        admin(b.addr, &format!("/admin/v1/clients/{id}")).status,
        200
    );
    for (_, id) in &acked {
        assert_eq!(
            admin(b.addr, &format!("/admin/v1/clients/{id}")).status,
            200
        );
    }
}
