//! Issue 21, part 1: the data directory is synced once the store's files
//! are created, and so is the parent of every directory the appliance
//! created for it. Otherwise, under strict POSIX rules, a power cut before
//! the first clean shutdown could lose the store's names. Seen from outside
//! with `strace` (`.ci/run` installs it; run alone as root, the test
//! installs it itself).

use std::path::Path;
use std::process::Command;

fn strace() -> &'static str {
    if !Path::new("/usr/bin/strace").exists() {
        let root = unsafe { libc::geteuid() } == 0;
        assert!(
            root,
            "this test needs strace: `sudo apt-get install strace` (.ci/run does it)"
        );
        let ok = Command::new("apt-get")
            .args(["install", "-y", "-qq", "strace"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "installing strace failed");
    }
    "/usr/bin/strace"
}

/// Whether an fd `openat` gave for `path` was then `fsync`ed.
fn synced(log: &str, path: &Path) -> bool {
    let opened = format!(
        "openat(AT_FDCWD, \"{}\", O_RDONLY|O_CLOEXEC) = ",
        path.display()
    );
    let mut fd = None;
    for line in log.lines() {
        if let Some(rest) = line.split_once(&opened).map(|(_, r)| r) {
            fd = rest.trim().parse::<u32>().ok();
        } else if let Some(f) = fd {
            if line.contains(&format!("fsync({f})")) && line.trim_end().ends_with("= 0") {
                return true;
            }
        }
    }
    false
}

/// The strace log of `dataport preload` on `data` (one lead).
fn preload_traced(data: &Path, log: &Path) -> String {
    let status = Command::new(strace())
        .args(["-f", "-e", "trace=openat,fsync", "-o"])
        .arg(log)
        .arg(env!("CARGO_BIN_EXE_dataport"))
        .args([
            "preload",
            "--count",
            "1",
            "--map-size-mb",
            "64",
            "--data-dir",
        ])
        .arg(data)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "strace could not run dataport preload (ptrace refused?)"
    );
    std::fs::read_to_string(log).unwrap()
}

#[test]
fn the_data_directory_and_the_parents_of_new_directories_are_synced() {
    let tmp = tempfile::tempdir().unwrap();
    let outer = tmp.path().join("new");
    let data = outer.join("var");
    let log = preload_traced(&data, &tmp.path().join("strace.log"));
    assert!(
        synced(&log, &data),
        "the data dir, which names data.mdb:\n{log}"
    );
    assert!(synced(&log, &outer), "the parent of the created var/");
    assert!(synced(&log, tmp.path()), "the parent of the created new/");
    // A data dir that exists already: only itself is synced.
    let log = preload_traced(&data, &tmp.path().join("again.log"));
    assert!(synced(&log, &data));
    assert!(!log.contains(&format!("\"{}\", O_RDONLY|O_CLOEXEC", outer.display())));
}
