//! Issue 19 (3): the mini form is meant for an iFrame (seed 000). In a real
//! browser (Debian's chromium, driven by playwright-core): a page on an
//! origin the profile allows frames the form, in the profile's language,
//! and submits it; a page on another origin is refused by the form's CSP.
//! `.ci/run` installs both; on a machine without them the test installs
//! them itself (Debian's package as root, npm's into `tests/browser`), and
//! fails saying what is missing when it cannot.

#[path = "common/browser.rs"]
mod browser;
#[path = "common/util.rs"]
mod util;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use util::*;

/// A landing page on its own loopback port (its own origin) that frames
/// the form at the appliance's port, read per request (the appliance starts
/// after the page, whose origin its configuration names). Its origin.
fn landing_page(appliance: Arc<AtomicU16>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let page = format!(
                "<!doctype html><html><body><h1>Landing</h1>\
                 <iframe src=\"http://127.0.0.1:{}/frameform\" width=\"600\" height=\"600\"></iframe></body></html>",
                appliance.load(Ordering::SeqCst)
            );
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[test]
fn the_mini_form_is_meant_for_an_iframe() {
    let dir = browser::ready();
    let appliance = Arc::new(AtomicU16::new(0));
    let allowed = landing_page(appliance.clone());
    let refused = landing_page(appliance.clone());
    let http = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/http");
    let s = start_text(|data| {
        test_config(
            data,
            &format!(
                r#"
[server]
http_dir = "{http}"
{profile}"#,
                http = http.display(),
                profile = Profile::new(9, "frameform")
                    .text("form_mode", "html_form")
                    .text("redirect_success", "ThankYou.html")
                    .set("form_frame_ancestors", &format!("[{}]", toml_str(&allowed)))
                    .text("form_lang", "he")
                    .text("form_title", "השאירו פרטים")
                    .text("form_submit", "שלחו")
                    .row(Row::new("Name", "clients", "full_name").label("שם מלא"))
                    // No table: the profile's main table (clients).
                    .row(Row::new("Phone", "", "phone1").mandatory().label("טלפון")),
            ),
        )
    });
    appliance.store(s.addr.port(), Ordering::SeqCst);

    let out = std::process::Command::new("node")
        .arg(dir.join("frame_form.js"))
        .args([&allowed, &refused, "frameform"])
        .current_dir(&dir)
        .output()
        .expect("node runs (Debian's nodejs)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the browser script failed:\n{stderr}");
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let a = &seen["allowed"];
    assert_eq!(a["framed"], true, "{seen}");
    assert_eq!(
        (a["lang"].as_str(), a["dir"].as_str()),
        (Some("he"), Some("rtl")),
        "{seen}"
    );
    assert_eq!(a["title"], "השאירו פרטים");
    assert_eq!(a["submit"], "שלחו");
    assert_eq!(a["labels"], serde_json::json!(["שם מלא", "טלפון"]));
    assert!(
        a["after"]
            .as_str()
            .unwrap()
            .ends_with("/static/ThankYou.html"),
        "the framed post landed on the thank-you page, itself allowed in the frame: {seen}"
    );
    let r = &seen["refused"];
    assert_eq!(
        r["framed"], false,
        "another origin may not frame the form: {seen}"
    );
    assert!(
        r["console"].to_string().contains("frame-ancestors"),
        "refused by the CSP: {seen}"
    );
    // The framed post is a lead.
    let clients = admin_json(s.addr, "/admin/v1/clients?phone1=972522345699");
    assert_eq!(clients["data"][0]["full_name"], "דנה לוי");
}
