//! The mini form (`form_mode`): the page, its escaping and headers, and the
//! captcha (signed, single-use, timed, honeypot) answering 010.

#[path = "common/util.rs"]
mod util;

use util::*;

fn config(data: &std::path::Path) -> String {
    test_config(
        data,
        &format!(
            r#"
[server]
http_dir = "{}"
[intake]
form_min_seconds = 3
{}{}"#,
            concat!(env!("CARGO_MANIFEST_DIR"), "/data/http"),
            Profile::new(7, "signup")
                .text("form_mode", "html_form")
                .row(Row::new("Name", "clients", "full_name"))
                .row(Row::new("Phone", "clients", "phone1").mandatory())
                .row(Row::new("Email", "clients", "email"))
                .row(Row::new(
                    "Msg\"><script>alert(1)</script>",
                    "extension",
                    "a<b>&c"
                ))
                .row(Row::new("", "clients", "lead_supplier").default("Mini form")),
            Profile::new(8, "safe")
                .text("form_mode", "html_form_captcha")
                .text("redirect_error", "Error.html")
                .row(Row::new("Phone", "clients", "phone1").mandatory()),
        ),
    )
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let i = s
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in page"))
        + start.len();
    &s[i..i + s[i..].find(end).unwrap()]
}

#[test]
fn the_page_lists_the_profile_fields_escaped_with_required_marks() {
    let s = start_text(config);
    let page = get(s.addr, "/signup");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("style-src 'self'"),
        "{csp}"
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let html = &page.body;
    assert!(html.contains(r#"<form method="post" action="/signup""#));
    assert!(
        html.contains(
            r#"name="phone" type="tel" autocomplete="tel" required aria-required="true""#
        ),
        "{html}"
    );
    assert!(html.contains(r#"name="email" type="email""#));
    assert!(
        html.contains(r#"<label for="f0">Full name</label>"#),
        "{html}"
    );
    assert!(
        !html.contains("<script>"),
        "profile values are escaped: {html}"
    );
    assert!(
        html.contains("msg&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(html.contains("A&lt;b&gt;&amp;c"), "{html}");
    assert!(!html.contains("lead_supplier"), "fixed rows are not inputs");
    assert!(
        !html.contains("_captcha"),
        "no captcha in plain html_form mode"
    );
    let css = get(s.addr, "/static/dataport-form.css");
    assert_eq!(css.status, 200);
    assert!(css.body.contains(".hp{"));
    // The form posts like any browser form.
    let r = request(
        s.addr,
        "POST",
        "/signup",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
        ],
        b"name=Dana&phone=0502345678&email=",
    );
    assert_eq!(r.code(), "000");
    // With fields, a GET is intake as usual.
    assert_eq!(get(s.addr, "/signup?name=Eli").code(), "007");
}

#[test]
fn captcha_is_signed_single_use_timed_and_has_a_honeypot() {
    let s = start_text(config);
    let page = get(s.addr, "/safe").body;
    assert!(page.contains(r#"name="_hp_website" tabindex="-1""#));
    let token = between(&page, r#"name="_captcha_token" value=""#, "\"").to_string();
    let q = between(&page, "What is ", "?");
    let (a, b) = q.split_once(" + ").unwrap();
    let answer = a.parse::<u64>().unwrap() + b.parse::<u64>().unwrap();
    let post = |body: String| {
        request(
            s.addr,
            "POST",
            "/safe",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Accept", "application/json"),
            ],
            body.as_bytes(),
        )
    };
    let good =
        format!("Phone=0502345678&_captcha_token={token}&_captcha_answer={answer}&_hp_website=");
    let r = post(good.clone());
    assert_eq!(
        r.body, r#"{"ResponseCode":"010","ResponseMsgEng":"Captcha verification failed."}"#,
        "too fast"
    );
    s.clock.advance_ms(3000);
    assert_eq!(
        post(format!(
            "Phone=0502345678&_captcha_token={token}&_captcha_answer={}",
            answer + 1
        ))
        .code(),
        "010"
    );
    assert_eq!(post(format!("{good}x")).code(), "010", "honeypot filled");
    assert_eq!(
        post("Phone=0502345678".into()).code(),
        "010",
        "no token: scripts cannot skip the form"
    );
    assert_eq!(post(good.clone()).code(), "000");
    assert_eq!(post(good.clone()).code(), "010", "single use");
    // Without Accept: JSON, a browser is sent to the error page.
    let r = request(
        s.addr,
        "POST",
        "/safe",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        good.as_bytes(),
    );
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/static/Error.html"));
    // The captcha's own fields never reach the automation log.
    let auto = admin_json(s.addr, "/admin/v1/automation_log");
    assert!(auto["data"].as_array().unwrap().is_empty(), "{auto}");
}
