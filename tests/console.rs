//! Issue 23: the operator console at `/admin/`, driven in a real browser
//! (Debian's chromium through playwright-core, `tests/browser/console.js`)
//! against the real binary. The script signs in (a wrong token first),
//! creates a profile with two field rows in the UI (a mistake first, shown
//! at its row and column), posts a lead to it over HTTP, finds it with the
//! search box by the phone in another format, watches the dashboard's count
//! for the profile go up, checks that script in a sender's post and in the
//! profile's settings renders as text, runs a branch through create, edit
//! and delete, makes a buyer key, opens every record and configuration
//! page, tails the usage log and signs out. This test then checks what the
//! page did against the store, the headers and the appliance's log.
//!
//! With `CONSOLE_SHOTS=dir` the script saves a screenshot of each page
//! there (the README's come from it).

#[path = "common/browser.rs"]
mod browser;
#[path = "common/util.rs"]
mod util;

use std::process::{Command, Stdio};

use util::*;

#[test]
fn the_console_in_a_real_browser() {
    let dir = browser::ready();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("dataport.toml");
    // One file entry of each configuration kind, so every page lists one.
    let file_entries = r#"
[[buyers]]
id = 1
name = "Acme Leads"
[[rules]]
id = 1
buyer = 1
method = "post_json"
url = "http://127.0.0.1:9/acme"
routing_id_param = "RouteRef"
profiles = [1]
daily_cap = 500
fields = { first_name = "fname", phone1 = "tel" }
[[feedback_reasons]]
id = 1
name = "Wrong number"
[[dnc]]
phone = "972522345699"
note = "asked not to be called"
[dialer]
account_code = "ACCOUNT-1"
[[dialer.campaigns]]
id = 13570
name = "Hot leads"
code = "0123456789abcdef0123456789abcdef"
[[dialer.extensions]]
member = "SIP/201"
display_name = "Dana"
"#;
    std::fs::write(&config, test_config(&tmp.path().join("data"), file_entries)).unwrap();
    let log_path = tmp.path().join("dataport.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dataport"));
    cmd.args(["serve", "--config"])
        .arg(&config)
        .env("DATAPORT_LOG", "debug")
        .stderr(Stdio::from(log));
    let server = Binary::from_command(cmd).expect("dataport starts");
    let addr = server.addr;
    let base = format!("http://{addr}");

    // The page and its files carry the strict CSP.
    let page = get(addr, "/admin/");
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").unwrap_or_default();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "CSP {csp:?} lacks {part}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    assert!(page.body.contains("<script src=\"/admin/console.js\""));
    assert!(!page.body.contains("<style") && !page.body.contains("style="));
    let script = get(addr, "/admin/console.js");
    assert_eq!(script.status, 200);
    assert!(script.header("content-security-policy").is_some());

    let shots = std::env::var("CONSOLE_SHOTS").unwrap_or_default();
    let out = Command::new("node")
        .arg(dir.join("console.js"))
        .args([&base, TOKEN, &shots])
        .current_dir(&dir)
        .output()
        .expect("node runs (Debian's nodejs)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    assert!(
        out.status.success(),
        "the browser script failed:\n{stderr}\nsaw: {seen:#}"
    );
    let steps: std::collections::HashMap<&str, &serde_json::Value> = seen["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s))
        .collect();
    let step = |name: &str| {
        *steps
            .get(name)
            .unwrap_or_else(|| panic!("no step {name}: {seen:#}"))
    };

    // Sign in: the token is asked for in a password field; a wrong one is
    // refused with a clear message and not kept; the right one is kept in
    // sessionStorage; sign out forgets it.
    assert_eq!(step("signin-page")["type"], "password");
    assert_eq!(
        step("wrong-token")["message"],
        "That token is wrong: the appliance refused it."
    );
    assert_eq!(step("wrong-token")["stored"], 0);
    assert_eq!(step("signed-in")["stored"], serde_json::json!([TOKEN]));
    assert_eq!(step("signed-out")["stored"], 0);

    // The mistake is shown at row 2's field, and only there.
    let v = step("validation");
    assert_eq!(v["rowInvalid"], "invalid", "{v}");
    assert_eq!(v["fieldInvalid"], "invalid-input", "{v}");
    assert!(v["otherRowInvalid"].is_null(), "{v}");
    assert_eq!(v["errorsInRow1"], 0);
    assert_eq!(v["message"], "table clients has no field \"no_such_field\"");

    // The profile the UI made is in the configuration, with its two rows.
    assert_eq!(step("created")["flash"], "Created 41.");
    let profile = admin_json(addr, "/admin/v1/profiles/41");
    assert_eq!(profile["form_name"], "console_form");
    assert_eq!(profile["source"], "api");
    let rows = profile["fields"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{profile}");
    assert_eq!(
        (
            &rows[0]["external"],
            &rows[0]["field"],
            &rows[0]["mandatory"]
        ),
        (&"Phone".into(), &"phone1".into(), &true.into())
    );
    assert_eq!(rows[1]["field"], "full_name");

    // The dashboard's count for the profile went from 0 to 1 by itself.
    let d = step("dashboard");
    assert_eq!(d["answer"]["ResponseCode"], "000", "{d}");
    assert_eq!(
        (&d["before"], &d["after"]),
        (&"0".into(), &"1".into()),
        "{d}"
    );
    assert_eq!(d["code000"], "1");
    assert!(
        d["bars"].as_u64().unwrap() >= 1,
        "the chart shows the post: {d}"
    );

    // The search box found the lead by its phone in another format.
    let lead_id = d["answer"]["RecordId"].as_u64().unwrap();
    let s = step("search");
    assert_eq!(s["found"], serde_json::json!([lead_id.to_string()]), "{s}");
    assert!(s["text"].as_str().unwrap().contains("Console Dana"), "{s}");
    assert!(
        step("client-page")["posts"]
            .as_str()
            .unwrap()
            .contains("Phone=052-234-5641"),
        "the client's page shows the raw post that made it"
    );

    // Markup in what was posted and in the profile's settings stayed text.
    let x = step("xss");
    assert_eq!(x["leadCellHasPayload"], true, "{x}");
    assert!(x["param"].as_str().unwrap().starts_with("<img src="), "{x}");
    assert!(
        x["rowDefault"].as_str().unwrap().contains("<script>"),
        "{x}"
    );
    assert!(x["flag"].is_null(), "a payload ran: {x}");
    assert_eq!((&x["images"], &x["scripts"]), (&0.into(), &0.into()), "{x}");
    assert_eq!(seen["dialogs"], serde_json::json!([]));
    assert_eq!(
        seen["probes"],
        serde_json::json!([]),
        "a payload was rendered as markup, or the page fetched from elsewhere"
    );
    let stored = admin_json(addr, "/admin/v1/profiles/41");
    assert!(stored["parameter1"]
        .as_str()
        .unwrap()
        .contains("xss-probe-param"));

    // The branch went through create, edit (its name shown as text) and delete.
    let b = step("branch");
    assert!(
        b["edited"]
            .as_str()
            .unwrap()
            .contains("North & <b>Galilee</b>"),
        "{b}"
    );
    assert_eq!(b["bold"], 0);
    assert_eq!(admin(addr, "/admin/v1/branches/A9").status, 404);

    // The buyer key shown once is the one whose hash is stored.
    let key = step("buyer-key")["key"].as_str().unwrap().to_string();
    assert!(key.len() > 32, "{key}");
    let buyer = admin_json(addr, "/admin/v1/buyers/7");
    assert_eq!(
        buyer["api_key_sha256"].as_str().unwrap(),
        sha256_hex(&key),
        "{buyer}"
    );
    assert!(
        !buyer.to_string().contains(&key),
        "the key itself is not kept"
    );

    // Every record and configuration page answered.
    for name in [
        "leads",
        "bad_leads",
        "tickets",
        "usage_log",
        "automation_log",
        "outbox",
        "deliveries",
    ] {
        assert!(step(&format!("records-{name}"))["rows"].is_u64());
    }
    assert!(step("records-usage_log")["rows"].as_u64().unwrap() >= 1);
    for kind in [
        "rules",
        "feedback_reasons",
        "campaigns",
        "extensions",
        "dnc",
    ] {
        assert_eq!(step(&format!("config-{kind}"))["rows"], 1, "{kind}");
    }
    assert_eq!(
        step("config-users")["rows"],
        admin_json(addr, "/admin/v1/users")["data"]
            .as_array()
            .unwrap()
            .len()
    );

    // Paging newest first: the first page is the 50 newest entries, in
    // descending order, and "Older" goes on below them.
    let paging = step("paging");
    let ids = |k: &str| -> Vec<u64> {
        paging[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect()
    };
    let (first, second) = (ids("first"), ids("second"));
    assert_eq!(first.len(), 50, "{paging}");
    assert!(first.windows(2).all(|w| w[0] > w[1]), "{paging}");
    assert!(!second.is_empty(), "{paging}");
    assert!(second.windows(2).all(|w| w[0] > w[1]), "{paging}");
    assert!(second[0] < first[49], "{paging}");
    let newest = admin_json(addr, "/admin/v1/usage_log?order=desc&limit=1");
    assert!(newest["data"][0]["id"].as_u64().unwrap() >= first[0]);

    // The live tail showed a post made while it was open.
    let t = step("tail");
    assert_eq!(t["answer"]["ResponseCode"], "000");
    assert!(
        t["first"].as_str().unwrap().contains("Tail%20Marker"),
        "{t}"
    );

    // No console errors but the two answers the script provoked: the
    // wrong token's 401 and the mistaken profile's 400.
    let errors = seen["errors"].as_array().unwrap();
    let unexpected: Vec<_> = errors
        .iter()
        .filter(|e| {
            let text = e["text"].as_str().unwrap_or("");
            !matches!(
                (e["phase"].as_str(), text),
                (Some("wrong-token"), t) if t.contains("status of 401"))
                && !matches!((e["phase"].as_str(), text),
                (Some("validation"), t) if t.contains("status of 400"))
        })
        .collect();
    assert!(unexpected.is_empty(), "console errors: {unexpected:?}");

    // The token travelled only in the Authorization header: never in a
    // URL, and every API request carried it.
    for r in seen["requests"].as_array().unwrap() {
        let url = r["url"].as_str().unwrap();
        assert!(!url.contains(TOKEN), "the token in a URL: {url}");
        if url.contains("/admin/v1/") {
            let auth = r["auth"].as_str().unwrap();
            assert!(auth.starts_with("Bearer "), "{r}");
        }
    }
    drop(server);
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(!logged.is_empty(), "the appliance logged at debug level");
    assert!(
        !logged.contains(TOKEN),
        "the token is in the appliance's log"
    );
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
