//! Regressions of what the adversarial probe of issue 18 found, each test
//! named after what broke, over real HTTP (or the real binary).

#[path = "common/util.rs"]
mod util;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::*;

fn dataport() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dataport"))
}

/// Runs `dataport ARGS` that must exit by itself: its status and stderr.
fn run_to_exit(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = dataport()
        .args(args)
        .env("DATAPORT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("dataport {args:?} kept running: it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status, err)
}

#[test]
fn default_admin_token_opened_the_admin_api_to_the_world() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("var");
    let data = data.to_str().unwrap();
    // The embedded default (token "change-me") on every interface: refused.
    let (status, err) = run_to_exit(&["serve", "--listen", "0.0.0.0:0", "--data-dir", data]);
    assert!(!status.success());
    assert!(
        err.contains("admin.token: is the shipped default \"change-me\""),
        "{err}"
    );
    assert!(err.contains("0.0.0.0:0"), "{err}");

    // check-config says the same of a file, and of a short token.
    let file = dir.path().join("public.toml");
    let write = |token: &str, listen: &str| {
        std::fs::write(
            &file,
            format!(
                "[server]\nlisten = \"{listen}\"\ndata_dir = \"{data}\"\n[admin]\ntoken = \"{token}\"\n[intake]\nweb_branch = \"\"\n"
            ),
        )
        .unwrap()
    };
    for (token, want) in [
        ("change-me", "is the shipped default"),
        ("a", "is shorter than 32 characters"),
    ] {
        write(token, "0.0.0.0:8080");
        let out = dataport().arg("check-config").arg(&file).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{token}: {err}");
        assert!(err.contains(&format!("admin.token: {want}")), "{err}");
        // On loopback the same token is fine (the README's first commands).
        write(token, "127.0.0.1:8080");
        let out = dataport().arg("check-config").arg(&file).output().unwrap();
        assert!(out.status.success(), "{token} on loopback");
        // And so is a public address with the admin API off.
        write("", "[::]:8080");
        let out = dataport().arg("check-config").arg(&file).output().unwrap();
        assert!(out.status.success(), "empty token: the admin API is off");
    }

    // A strong token on every interface starts, and guards the admin API.
    let strong = "k".repeat(32);
    write(&strong, "0.0.0.0:0");
    let b = util::Binary::start(&file);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", b.addr.port()).parse().unwrap();
    let with = |token: &str| {
        let auth = format!("Bearer {token}");
        request(
            addr,
            "GET",
            "/admin/v1/clients",
            &[("Authorization", &auth)],
            b"",
        )
        .status
    };
    assert_eq!(with("change-me"), 401);
    assert_eq!(with(&strong), 200);

    // The embedded default on loopback still serves out of the box.
    let b2 = util::Binary::spawn(
        &[
            "serve".as_ref(),
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--data-dir".as_ref(),
            dir.path().join("var2").as_os_str(),
        ],
        "warn",
        Stdio::inherit(),
    );
    let auth = [("Authorization", "Bearer change-me")];
    assert_eq!(
        request(b2.addr, "GET", "/admin/v1/clients", &auth, b"").status,
        200
    );
}

/// The usage-log entries whose body is exactly `body`.
fn logged_with_body(s: &TestServer, body: &str) -> Vec<serde_json::Value> {
    admin_json(s.addr, "/admin/v1/usage_log?limit=1000")["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["body"] == body)
        .cloned()
        .collect()
}

#[test]
fn many_posted_fields_cost_their_square() {
    let s = start();
    let max = 65_500;
    // The most fields a post may carry (256, the default), filling the
    // largest body: taken, and the fields no row maps are kept.
    let value = "v".repeat(max / 256 - 12);
    let mut fields: Vec<String> = (0..253).map(|i| format!("X{i:03}={value}")).collect();
    fields.extend(["Phone=0522345601", "FirstName=Many", "Notes=n"].map(String::from));
    let body = fields.join("&");
    assert!(body.len() <= 65_536);
    let r = post_form(s.addr, "/leads", &body);
    assert_eq!(r.code(), "000", "{}", r.body);

    // One more: 413 with a clear message, and the post logged whole.
    let over = format!("{body}&One=more");
    let r = post_form(s.addr, "/leads", &over);
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(
        r.body
            .contains("more than 256 fields posted (server.max_fields)"),
        "{}",
        r.body
    );
    // 13,000 bare names in the largest body: refused the same way.
    let names: String = (0..13_000).map(|i| format!("{i:04x}&")).collect();
    let r = post_form(s.addr, "/leads", &names[..names.len().min(max)]);
    assert_eq!(r.status, 413);
    // JSON with 4,000 keys too.
    let json = format!(
        "{{{}}}",
        (0..4000)
            .map(|i| format!("\"k{i}\":1"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let r = request(
        s.addr,
        "POST",
        "/leads",
        &[("Content-Type", "application/json")],
        json.as_bytes(),
    );
    assert_eq!(r.status, 413);
    assert_eq!(get(s.addr, "/health").status, 200);
    for logged in [&over, &json] {
        assert!(
            eventually(|| logged_with_body(&s, logged).len() == 1),
            "the refused post is in the usage log"
        );
    }
    // Repeated names count each time (like PHP's max_input_vars).
    let r = post_form(s.addr, "/leads", &"Phone=0522345602&".repeat(300));
    assert_eq!(r.status, 413);
}

#[test]
fn many_posted_fields_cap_follows_server_max_fields() {
    let s = start_with("max_fields = 4", "");
    let r = get(s.addr, "/leads?Phone=0522345603&A=1&B=2&C=3");
    assert_eq!(r.code(), "000", "{}", r.body);
    let r = get(s.addr, "/leads?Phone=0522345604&A=1&B=2&C=3&D=4");
    assert_eq!(r.status, 413);
    assert!(r.body.contains("more than 4 fields"), "{}", r.body);
}

fn rate_limited(data: &std::path::Path) -> String {
    let server = "[server]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.5\"]\n";
    let rows = [("Phone", "clients", "phone1")];
    let tight = Profile::new(2, "tight")
        .set("rate_limit_per_ip", "2")
        .rows(&rows)
        .toml();
    test_config(data, &format!("{server}{tight}"))
}

#[test]
fn client_ip_came_from_the_first_forwarded_for_line() {
    let s = start_text(rate_limited);
    // A client's own line first, the proxy's appended line last: the
    // client is 203.0.113.88 however it varies its own line.
    let post = |own: &str, i: u32| {
        request(
            s.addr,
            "GET",
            &format!("/tight?Phone=05223456{i:02}"),
            &[
                ("X-Forwarded-For", own),
                ("X-Forwarded-For", "203.0.113.88"),
            ],
            b"",
        )
    };
    assert_eq!(post("198.51.100.1", 10).status, 200);
    assert_eq!(post("198.51.100.2", 11).status, 200);
    assert_eq!(
        post("198.51.100.3", 12).status,
        429,
        "the third within the second"
    );
    // A chain through a second trusted proxy: its own hop is skipped.
    let chained = request(
        s.addr,
        "GET",
        "/tight?Phone=0522345613",
        &[("X-Forwarded-For", "198.51.100.4, 203.0.113.88, 10.0.0.5")],
        b"",
    );
    assert_eq!(chained.status, 429);
    // Another client behind the same proxy is not limited.
    let other = request(
        s.addr,
        "GET",
        "/tight?Phone=0522345614",
        &[("X-Forwarded-For", "203.0.113.99")],
        b"",
    );
    assert_eq!(other.code(), "000");
    // The usage log records both the socket peer and the client.
    assert!(eventually(|| {
        let log = admin_json(s.addr, "/admin/v1/usage_log?form=tight");
        let rows = log["data"].as_array().unwrap().clone();
        rows.len() == 5
            && rows
                .iter()
                .all(|e| e["ip"] == "127.0.0.1" && e["client_ip"].is_string())
            && rows
                .iter()
                .filter(|e| e["client_ip"] == "203.0.113.88")
                .count()
                == 4
            && rows.iter().any(|e| e["client_ip"] == "203.0.113.99")
    }));
}

#[test]
fn static_pages_followed_symlinks_out_of_http_dir() {
    let s = start_text(|data| {
        let root = data.parent().unwrap();
        let http = root.join("http");
        std::fs::create_dir_all(&http).unwrap();
        std::fs::write(http.join("ThankYou.html"), "<p>thanks</p>").unwrap();
        let text = test_config(
            data,
            &format!("[server]\nhttp_dir = \"{}\"\n", http.display()),
        );
        std::fs::write(root.join("dataport.toml"), &text).unwrap();
        std::os::unix::fs::symlink(root.join("dataport.toml"), http.join("conf.html")).unwrap();
        std::os::unix::fs::symlink("../dataport.toml", http.join("rel.html")).unwrap();
        text
    });
    let page = get(s.addr, "/static/ThankYou.html");
    assert_eq!((page.status, page.body.as_str()), (200, "<p>thanks</p>"));
    for name in ["conf.html", "rel.html"] {
        let r = get(s.addr, &format!("/static/{name}"));
        assert_eq!(r.status, 404, "{name}");
        assert!(!r.body.contains(TOKEN));
    }
}

#[test]
fn admin_api_accepted_entries_without_their_key() {
    let s = start();
    for (coll, body, named) in [
        ("extensions", "{}", "member is empty"),
        ("extensions", r#"{"member":"  "}"#, "member is empty"),
        ("dnc", "{}", "phone is empty"),
        (
            "dnc",
            r#"{"phone":"call me"}"#,
            "phone is not a phone number",
        ),
    ] {
        let r = admin_send(s.addr, "POST", &format!("/admin/v1/{coll}"), body);
        assert_eq!(r.status, 400, "{coll} {body}: {}", r.body);
        assert!(r.body.contains(named), "{coll} {body}: {}", r.body);
    }
    let ok = admin_send(
        s.addr,
        "POST",
        "/admin/v1/extensions",
        r#"{"member":"201"}"#,
    );
    assert_eq!(ok.status, 201, "{}", ok.body);
    let ok = admin_send(
        s.addr,
        "POST",
        "/admin/v1/dnc",
        r#"{"phone":"052-234-5678"}"#,
    );
    assert_eq!(ok.status, 201, "{}", ok.body);
    let listed = admin_json(s.addr, "/admin/v1/extensions");
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
}

#[test]
fn bearer_scheme_in_lower_case_was_refused() {
    let buyer_key = "dpk_probe_buyer_key";
    let s = start_text(|d| {
        test_config(
            d,
            &format!(
                "[[buyers]]\nid = 1\nname = \"B\"\napi_key_sha256 = \"{}\"\n",
                dataport::auth::sha256_hex(buyer_key)
            ),
        )
    });
    let with = |target: &str, auths: &[String]| {
        let headers: Vec<(&str, &str)> = auths
            .iter()
            .map(|a| ("Authorization", a.as_str()))
            .collect();
        request(s.addr, "GET", target, &headers, b"")
    };
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = with("/admin/v1/clients", &[format!("{scheme} {TOKEN}")]);
        assert_eq!(r.status, 200, "{scheme}");
        let r = with("/odata/Leads", &[format!("{scheme} {buyer_key}")]);
        assert_eq!(r.status, 200, "{scheme}");
    }
    assert_eq!(
        with("/admin/v1/clients", &[format!("Basic {TOKEN}")]).status,
        401
    );
    assert_eq!(
        with("/admin/v1/clients", &[format!("Bearer{TOKEN}")]).status,
        401
    );
    // Two Authorization headers: 400, whichever of them is right.
    let two = [format!("Bearer {TOKEN}"), "Bearer wrong".to_string()];
    let r = with("/admin/v1/clients", &two);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("one Authorization header"), "{}", r.body);
    let two = [format!("Bearer {buyer_key}"), format!("Bearer {buyer_key}")];
    assert_eq!(with("/odata/Leads", &two).status, 400);
}

#[test]
fn unknown_keys_were_silently_ignored() {
    // In the file: check-config names each, with its profile and row.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typo.toml");
    // Typed out, not built with `util::Profile`: the typo is the test.
    std::fs::write(
        &file,
        r#"
[server]
mandatroy = 1
[[profiles]]
number = 7
form_name = "typo"
  [[profiles.fields]]
  external = "Phone"
  table = "clients"
  field = "phone1"
  mandatroy = true
"#,
    )
    .unwrap();
    let out = dataport().arg("check-config").arg(&file).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    for needle in [
        "server: unknown key \"mandatroy\"",
        "profile #7 (\"typo\", entry 1) row 1 (\"Phone\" -> clients.phone1): unknown key \"mandatroy\"",
        "2 configuration error(s)",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in\n{err}");
    }
    // serve refuses the same file.
    let (status, err) = run_to_exit(&["serve", "--config", file.to_str().unwrap()]);
    assert!(!status.success());
    assert!(err.contains("unknown key \"mandatroy\""), "{err}");

    // In an admin API body: 400 naming the key.
    let s = start();
    let profile = r#"{"number": 9, "form_name": "typo", "name": "Typo",
        "fields": [{"external": "Phone", "table": "clients", "field": "phone1", "mandatroy": true}]}"#;
    let r = admin_send(s.addr, "POST", "/admin/v1/profiles", profile);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("unknown keys name, fields[1].mandatroy"),
        "{}",
        r.body
    );
    let fixed = profile
        .replace(r#""name": "Typo","#, "")
        .replace("mandatroy", "mandatory");
    let r = admin_send(s.addr, "POST", "/admin/v1/profiles", &fixed);
    assert_eq!(r.status, 201, "{}", r.body);

    // In a list filter: 400 naming the field, never an empty list.
    assert_eq!(get(s.addr, "/leads?Phone=0522345620").code(), "000");
    let r = admin(s.addr, "/admin/v1/clients?phonee=972522345620");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("no field \\\"phonee\\\""), "{}", r.body);
    // `q` (issue 23) is served where an index answers it, refused elsewhere.
    let r = admin(s.addr, "/admin/v1/tickets?q=972522345620");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body
            .contains("served for clients, contacts, leads, bad_leads and usage_log"),
        "{}",
        r.body
    );
    let found = admin_json(s.addr, "/admin/v1/clients?phone1=972522345620");
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    let found = admin_json(s.addr, "/admin/v1/clients?Phone1=972522345620");
    assert_eq!(
        found["data"].as_array().unwrap().len(),
        1,
        "names in any case"
    );
}

#[test]
fn odata_filter_error_showed_mojibake() {
    let key = "dpk_probe_buyer_key";
    let s = start_text(|d| {
        test_config(
            d,
            &format!(
                "[[buyers]]\nid = 1\nname = \"B\"\napi_key_sha256 = \"{}\"\n",
                dataport::auth::sha256_hex(key)
            ),
        )
    });
    let auth = format!("Bearer {key}");
    // `City eq Ãx`, percent-encoded as UTF-8.
    let r = request(
        s.addr,
        "GET",
        "/odata/Leads?$filter=City%20eq%20%C3%83x",
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("unexpected character 'Ã'"), "{message}");
}
