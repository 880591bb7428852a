//! Per-client-IP rate limiting (SPEC §3, §11) over real HTTP.

#[path = "common/util.rs"]
mod util;

use util::*;

fn config(data: &std::path::Path, trusted: &str) -> String {
    let phone = [("Phone", "clients", "phone1")];
    let server = format!(
        "[server]\nrate_limit_per_ip = 5\ntrusted_proxies = [{trusted}]\nclient_ip_header = \"X-Forwarded-For\"\n"
    );
    let profiles = [
        Profile::new(1, "leads").rows(&phone).toml(),
        Profile::new(2, "tight")
            .set("rate_limit_per_ip", "2")
            .rows(&phone)
            .toml(),
        Profile::new(3, "form")
            .text("form_mode", "html_form_captcha")
            .set("bot_fake_success", "true")
            .set("rate_limit_per_ip", "1")
            .rows(&phone)
            .toml(),
    ];
    test_config(data, &format!("{server}{}", profiles.concat()))
}

fn from(s: &TestServer, ip: &str, target: &str) -> Response {
    request(s.addr, "GET", target, &[("X-Forwarded-For", ip)], b"")
}

#[test]
fn token_bucket_per_client_ip_behind_a_trusted_proxy() {
    let s = start_text(|d| config(d, r#""127.0.0.1""#));
    for i in 0..5 {
        assert_eq!(
            from(
                &s,
                "10.1.1.1, 203.0.113.1",
                &format!("/leads?Phone=05023456{i:02}")
            )
            .status,
            200
        );
    }
    let r = from(&s, "203.0.113.1", "/leads?Phone=0502345699");
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(
        from(&s, "203.0.113.2", "/leads?Phone=0502345699").code(),
        "000",
        "another client"
    );
    s.clock.advance_ms(1000);
    assert_eq!(
        from(&s, "203.0.113.1", "/leads?Phone=0502345698").code(),
        "000",
        "refilled"
    );
    // A profile's own, tighter limit.
    assert_eq!(
        from(&s, "203.0.113.3", "/tight?Phone=0502345601").status,
        200
    );
    assert_eq!(
        from(&s, "203.0.113.3", "/tight?Phone=0502345602").status,
        200
    );
    assert_eq!(
        from(&s, "203.0.113.3", "/tight?Phone=0502345603").status,
        429
    );
    // Refusals are counted, and still in the usage log.
    assert!(get(s.addr, "/metrics")
        .body
        .contains(r#"dataport_http_refusals_total{status="429"} 2"#));
    assert!(eventually(|| admin_json(
        s.addr,
        "/admin/v1/usage_log?limit=1000&query=Phone%3D0502345699"
    )["data"]
        .as_array()
        .unwrap()
        .len()
        == 2));
}

#[test]
fn the_header_is_ignored_from_untrusted_peers() {
    let s = start_text(|d| config(d, ""));
    for i in 0..5 {
        assert_eq!(
            from(
                &s,
                &format!("203.0.113.{i}"),
                &format!("/leads?Phone=05023456{i:02}")
            )
            .status,
            200
        );
    }
    assert_eq!(
        from(&s, "203.0.113.99", "/leads?Phone=0502345699").status,
        429,
        "all from 127.0.0.1"
    );
}

#[test]
fn bots_on_the_mini_form_get_a_fake_success() {
    let s = start_text(|d| config(d, r#""127.0.0.1""#));
    // A captcha failure: told 000, nothing stored.
    let r = from(&s, "203.0.113.7", "/form?Phone=0502345678");
    assert_eq!(r.code(), "000");
    assert!(r.json().get("RecordId").is_none());
    // Over the limit: the same.
    assert_eq!(
        from(&s, "203.0.113.7", "/form?Phone=0502345678").code(),
        "000"
    );
    assert!(admin_json(s.addr, "/admin/v1/clients")["data"]
        .as_array()
        .unwrap()
        .is_empty());
}
