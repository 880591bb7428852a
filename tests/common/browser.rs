//! The browser the browser tests drive: Debian's chromium and npm's
//! playwright-core (`tests/browser/`). `.ci/run` installs both; on a
//! machine without them the first test installs them (Debian's package as
//! root, npm's into `tests/browser`) and fails saying what is missing when
//! it cannot.

use std::path::Path;

fn run(what: &str, cmd: &mut std::process::Command) {
    let ok = cmd.status().is_ok_and(|s| s.success());
    assert!(ok, "{what} failed: {cmd:?}");
}

/// Debian's chromium and npm's playwright-core, installed if missing;
/// the directory of the browser scripts.
pub fn ready() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !Path::new("/usr/bin/chromium").exists() {
        let root = unsafe { libc::geteuid() } == 0;
        assert!(
            root,
            "this test needs Debian's chromium: `sudo apt-get install chromium` (.ci/run does it)"
        );
        run(
            "apt-get update",
            std::process::Command::new("apt-get").args(["update", "-qq"]),
        );
        run(
            "installing chromium",
            std::process::Command::new("apt-get")
                .args(["install", "-y", "-qq", "chromium"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        );
    }
    if !dir.join("node_modules/playwright-core").exists() {
        run(
            "npm ci in tests/browser (playwright-core)",
            std::process::Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir),
        );
    }
    dir
}
