//! Secrets stay secret: a buyer's API key, the admin token and the CRM key
//! appear in no file of the data dir and in no log line, though every
//! request carrying them is in the usage log's table of requests.

#[path = "common/util.rs"]
mod util;

use std::io::Read;

#[test]
fn keys_are_not_at_rest_or_in_logs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let crm_key = "crm-key-7f3a9c";
    let text = format!(
        "{}\n[crm]\napi_key = \"{crm_key}\"\n[[buyers]]\nid = 1\nname = \"B\"\n[[feedback_reasons]]\nid = 1\nname = \"x\"\n",
        util::config_text(&data, "", "")
    );
    let cfg = dir.path().join("dataport.toml");
    std::fs::write(&cfg, text).unwrap();
    let args = [
        std::ffi::OsStr::new("serve"),
        "--config".as_ref(),
        cfg.as_os_str(),
    ];
    let mut b = util::Binary::spawn(&args, "debug", std::process::Stdio::piped());
    let addr = b.addr;
    // Drained while the server runs, so debug logging can never fill the pipe.
    let mut stderr = b.child.stderr.take().unwrap();
    let log_reader = std::thread::spawn(move || {
        let mut logs = String::new();
        let _ = stderr.read_to_string(&mut logs);
        logs
    });

    let auth = format!("Bearer {}", util::TOKEN);
    let r = util::request(
        addr,
        "POST",
        "/admin/v1/buyers/1/key",
        &[("Authorization", &auth)],
        b"",
    );
    let key = r.json()["api_key"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {key}");
    assert_eq!(
        util::request(
            addr,
            "GET",
            "/odata/Leads",
            &[("Authorization", &bearer)],
            b""
        )
        .status,
        200
    );
    assert_eq!(
        util::request(
            addr,
            "GET",
            "/odata/Leads",
            &[("Authorization", "Bearer dpk_wrong")],
            b""
        )
        .status,
        401
    );
    let q = format!("/developer/v1/leads?login=dana%40example.com&apikey={crm_key}&action=stat");
    util::get(addr, &q);
    util::get(
        addr,
        "/developer/v1/leads?login=dana%40example.com&apikey=wrong-key&action=stat",
    );
    util::get(addr, "/leads?Phone=0502345678");
    let metrics = util::get(addr, "/metrics").body;
    let health = util::get(addr, "/health").body;
    assert!(b.term().success());
    let logs = log_reader.join().unwrap();
    assert!(
        logs.contains("dataport listening"),
        "the logs were captured"
    );

    let mut at_rest = Vec::new();
    for entry in std::fs::read_dir(&data).unwrap() {
        at_rest.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let at_rest = String::from_utf8_lossy(&at_rest).to_string();
    for secret in [key.as_str(), util::TOKEN] {
        assert!(!at_rest.contains(secret), "{secret} found in the data dir");
        assert!(!logs.contains(secret), "{secret} found in the logs");
        assert!(!metrics.contains(secret) && !health.contains(secret));
    }
    assert!(
        !logs.contains(crm_key) && !metrics.contains(crm_key),
        "CRM key in logs or metrics"
    );
    assert!(
        at_rest.contains(&dataport::auth::sha256_hex(&key)),
        "only the hash is stored"
    );
}
