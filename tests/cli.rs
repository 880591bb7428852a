//! The command line: `check-config` reports every error with its location,
//! and `loadgen` drives a real server and finds every 000 stored.

#[path = "common/util.rs"]
mod util;

use std::process::Command;

use util::*;

fn dataport() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dataport"))
}

#[test]
fn check_config_accepts_the_embedded_default_and_lists_every_error() {
    let ok = dataport()
        .args([
            "check-config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/data/dataport.toml"),
        ])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("OK (2 profiles"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    // Typed out, not built with `util::Profile`: the mistakes are the test.
    std::fs::write(
        &bad,
        r#"
[intake]
web_branch = ""
[[profiles]]
number = 7
form_name = "static"
  [[profiles.fields]]
  external = ""
  table = "clients"
  field = "phone1"
  mandatory = true
[[profiles]]
number = 7
form_name = "x"
type = "service_ticket"
  [[profiles.fields]]
  external = "Phone"
  table = "clients"
  field = "phone1"
"#,
    )
    .unwrap();
    let out = dataport().arg("check-config").arg(&bad).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "profile #7 (\"static\", entry 1): form_name \"static\" is a reserved path segment",
        "profile #7 (\"static\", entry 1) row 1 (\"\" -> clients.phone1): a mandatory row must name its posted field",
        "profile #7 (\"static\", entry 1) row 1 (\"\" -> clients.phone1): a row without an external field must have a default",
        "profile #7 (\"x\", entry 2): duplicate profile number",
        "profile #7 (\"x\", entry 2) row 1 (\"Phone\" -> clients.phone1): a service_ticket profile maps only into tickets",
        "5 configuration error(s)",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in\n{err}");
    }
}

#[test]
fn loadgen_reports_codes_and_finds_every_acknowledged_lead() {
    let s = start();
    // One commit first: on a loaded CI machine the very first fsync can
    // take a second, which would be the whole run.
    assert_eq!(get(s.addr, "/leads?Phone=0502345699").code(), "000");
    let out = dataport()
        .args([
            "loadgen",
            "--url",
            &format!("http://{}", s.addr),
            "--form",
            "leads",
        ])
        .args([
            "-c",
            "8",
            "-d",
            "2",
            "--mix",
            "70,20,10",
            "--admin-token",
            TOKEN,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("000="), "{text}");
    assert!(text.contains("006="), "{text}");
    assert!(text.contains("008="), "{text}");
    assert!(text.contains("latency ms: p50"), "{text}");
    assert!(text.contains(" 0 missing from the store"), "{text}");
}

#[test]
fn preload_fills_a_store_the_server_then_serves() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = dataport()
        .args([
            "preload",
            "--count",
            "2500",
            "--map-size-mb",
            "256",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("preloaded 2500 leads"));
    let cfg = dir.path().join("dataport.toml");
    std::fs::write(&cfg, config_text(&data, "", "")).unwrap();
    let b = Binary::start(&cfg);
    let last = admin_json(b.addr, "/admin/v1/clients/2500");
    assert_eq!(last["phone1"], dataport::preload::synthetic_phone(2499));
    let r = get(b.addr, "/leads?Phone=0502345678");
    assert_eq!(
        r.json()["RecordId"],
        2501,
        "ids continue after the preloaded ones"
    );
    let national = format!("0{}", &dataport::preload::synthetic_phone(2499)[3..]);
    assert_eq!(
        get(b.addr, &format!("/leads?Phone={national}")).code(),
        "001",
        "preloaded phones are indexed"
    );
}

#[test]
fn the_readme_first_example_works_on_the_embedded_config() {
    let dir = tempfile::tempdir().unwrap();
    let var = dir.path().join("var");
    let args = [
        "serve".as_ref(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--data-dir".as_ref(),
        var.as_os_str(),
    ];
    let b = Binary::spawn(&args, "warn", std::process::Stdio::inherit());
    let addr = b.addr;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let target = readme
        .split("curl 'http://127.0.0.1:8080")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the README's first curl");
    let r = get(addr, target);
    assert_eq!(
        r.body, r#"{"ResponseCode":"000","ResponseMsgEng":"OK","RecordId":1}"#,
        "README example {target}"
    );
    let auth = "Bearer change-me";
    let list = request(
        addr,
        "GET",
        "/admin/v1/clients",
        &[("Authorization", auth)],
        b"",
    );
    assert_eq!(list.json()["data"][0]["first_name"], "Dana");
}

#[test]
fn loadgen_slow_sockets_are_closed_by_the_timeouts_while_the_load_is_served() {
    let s = start_with("header_timeout_ms = 400\nbody_timeout_ms = 400", "");
    let out = dataport()
        .args(["loadgen", "--url", &format!("http://{}", s.addr)])
        .args(["--form", "leads", "-c", "4", "-d", "2", "--mix", "100,0,0"])
        .args(["--admin-token", TOKEN, "--slow-sockets", "300"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Half heads fall to the header timeout, half bodies to the body
    // timeout (400 ms each).
    assert!(
        text.contains("300 opened (0 refused), 300 closed by the server"),
        "{text}"
    );
    assert!(text.contains(", 0 still open"), "{text}");
    let last = text
        .split("(median) / ")
        .nth(1)
        .and_then(|t| t.split(" s (last)").next())
        .and_then(|t| t.parse::<f64>().ok())
        .expect("the closing times");
    // Without the timeouts they would stay open until the watcher gives up
    // (the run plus 30 s); on a loaded machine closing may lag a little.
    assert!(last < 10.0, "closed by the timeouts: {text}");
    assert!(
        text.contains("000="),
        "the real clients were served: {text}"
    );
    assert!(text.contains(" 0 missing from the store"), "{text}");
}

/// The HTTP workers' CPU affinity: one core each when `pin_workers` (the
/// default), any core when not. The workers are the threads that keep the
/// process's own name; on a one-core machine there is nothing to tell apart.
#[test]
fn pin_workers_binds_each_worker_to_one_core() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        cores >= 2,
        "this test needs two cores to tell pinned workers from unpinned ones ({cores} here)"
    );
    for pin in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("dataport.toml");
        let extra = format!("[server]\nworkers = 2\npin_workers = {pin}\n");
        std::fs::write(&cfg, test_config(&dir.path().join("data"), &extra)).unwrap();
        let b = Binary::start(&cfg);
        let pid = b.child.id();
        let single_core_workers = std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .filter_map(|t| {
                let t = t.ok()?.path();
                let comm = std::fs::read_to_string(t.join("comm")).ok()?;
                let status = std::fs::read_to_string(t.join("status")).ok()?;
                let cpus = status
                    .lines()
                    .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?
                    .trim()
                    .to_string();
                (comm.trim() == "dataport" && !cpus.contains([',', '-'])).then_some(cpus)
            })
            .collect::<Vec<_>>();
        assert!(b.term().success());
        if pin {
            assert_eq!(
                single_core_workers.len(),
                2,
                "two workers, each on one core: {single_core_workers:?}"
            );
        } else {
            assert!(
                single_core_workers.is_empty(),
                "no worker pinned: {single_core_workers:?}"
            );
        }
    }
}
