//! A running appliance that is dropped stops its threads (the tests start
//! many in one process; each used to leave its writer, outbox scheduler,
//! senders and dialer running over a deleted data dir).

#[path = "common/util.rs"]
mod util;

use util::*;

/// Threads of this process whose name starts with `dataport-`.
fn dataport_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_string())
        .filter(|n| n.starts_with("dataport-"))
        .collect()
}

#[test]
fn a_dropped_server_stops_its_threads() {
    let before = dataport_threads().len();
    let s = start();
    assert_eq!(get(s.addr, "/leads?Phone=0522345600").code(), "000");
    let running = dataport_threads();
    for name in ["dataport-writer", "dataport-outbox", "dataport-dialer"] {
        assert!(running.iter().any(|t| t == name), "{name} in {running:?}");
    }
    drop(s);
    assert!(
        eventually(|| dataport_threads().len() <= before),
        "still running: {:?}",
        dataport_threads()
    );
}
