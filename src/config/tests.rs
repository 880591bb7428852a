use super::*;

const PROFILE_HEAD: &str = "[[branches]]\nid = \"A1\"\ntimezone = \"Asia/Jerusalem\"\n";

fn errors_of(text: &str) -> Vec<String> {
    match Config::from_toml(text) {
        Ok(_) => Vec::new(),
        Err(errs) => errs.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn embedded_default_is_valid() {
    let cfg = Config::from_toml(EMBEDDED_DEFAULT).expect("embedded config must validate");
    assert!(cfg.profile("land_fb").is_some());
    assert!(
        cfg.profile("LAND_FB").is_some(),
        "form names match case-insensitively"
    );
}

#[test]
fn branch_circle_pattern() {
    assert_eq!(
        parse_branch_circle(";A1;A3;"),
        Some(vec!["A1".into(), "A3".into()])
    );
    assert_eq!(parse_branch_circle(";A10;"), Some(vec!["A10".into()]));
    // Issue 19: as seed 000 writes it, with or without the semicolons.
    for written in [";A1;A3;A4", "A1;A3;A4;", "A1;A3;A4", " ;A1;A3;A4; "] {
        assert_eq!(
            parse_branch_circle(written),
            Some(vec!["A1".into(), "A3".into(), "A4".into()]),
            "{written:?}"
        );
    }
    for bad in ["", ";;", ";", ";A0;", ";B1;", ";A1;;A2;", ";A01;", ";A1x;"] {
        assert_eq!(parse_branch_circle(bad), None, "{bad:?}");
    }
}

#[test]
fn every_loader_rule_is_reported_with_profile_and_row() {
    let text = format!(
        r#"{PROFILE_HEAD}
[[profiles]]
number = 1
form_name = "a.b"
circle_between_agencies = ";A1;A7;"
  [[profiles.fields]]
  external = ""
  table = "clients"
  field = "first_name"
  mandatory = true
  [[profiles.fields]]
  external = "x"
  table = "tickets"
  field = "subject"
[[profiles]]
number = 1
form_name = "admin"
[[profiles]]
number = 3
form_name = "ok"
circle_between_agencies = "A1;;A3"
  [[profiles.fields]]
  external = "p"
  table = "clients"
  field = "nope"
[[profiles]]
number = 4
form_name = "OK"
type = "service_ticket"
  [[profiles.fields]]
  external = "p"
  table = "clients"
  field = "phone1"
"#
    );
    let errs = errors_of(&text);
    let has = |needle: &str| errs.iter().any(|e| e.contains(needle));
    assert!(
        has("profile #1 (\"a.b\", entry 1): form_name must not contain '.'"),
        "{errs:#?}"
    );
    assert!(has("branch A7 which is not defined"), "{errs:#?}");
    assert!(
        has("row 1 (\"\" -> clients.first_name): a mandatory row must name its posted field"),
        "{errs:#?}"
    );
    assert!(has("row 1 (\"\" -> clients.first_name): a row without an external field must have a default"), "{errs:#?}");
    assert!(
        has("row 2 (\"x\" -> tickets.subject): table tickets is only for service_ticket profiles"),
        "{errs:#?}"
    );
    assert!(has("entry 2): duplicate profile number"), "{errs:#?}");
    assert!(has("\"admin\" is a reserved path segment"), "{errs:#?}");
    assert!(
        has("entry 2): a profile needs at least one field row"),
        "{errs:#?}"
    );
    assert!(has("must look like \";A1;A3;\""), "{errs:#?}");
    assert!(has("table clients has no field \"nope\""), "{errs:#?}");
    assert!(
        has("profile #4 (\"OK\", entry 4): duplicate form_name"),
        "{errs:#?}"
    );
    assert!(
        has("a service_ticket profile maps only into tickets"),
        "{errs:#?}"
    );
}

#[test]
fn redirect_targets() {
    assert_eq!(
        parse_redirect("ThankYou.html").unwrap(),
        Some(Redirect::Static("ThankYou.html".into()))
    );
    assert_eq!(
        parse_redirect("https://x.example/ok").unwrap(),
        Some(Redirect::Absolute("https://x.example/ok".into()))
    );
    assert!(parse_redirect("javascript:alert(1)").is_err());
    assert!(parse_redirect("../etc/passwd").is_err());
    assert!(parse_redirect("https://x.example/\r\nSet-Cookie: a").is_err());
}

#[test]
fn toml_syntax_error_has_a_line() {
    let errs = errors_of("[server]\nlisten = \n");
    assert!(errs[0].starts_with("line 2"), "{errs:?}");
}

#[test]
fn phone_pattern_cache_is_at_least_the_library_default() {
    let small = format!("{PROFILE_HEAD}[intake]\nphone_pattern_cache = 50\n");
    assert!(
        errors_of(&small)
            .iter()
            .any(|e| e.contains("intake.phone_pattern_cache")),
        "{:?}",
        errors_of(&small)
    );
    let fine = format!("{PROFILE_HEAD}[intake]\nphone_pattern_cache = 100\n");
    assert!(!errors_of(&fine)
        .iter()
        .any(|e| e.contains("phone_pattern_cache")));
}

#[test]
fn max_fields_default_is_the_decoders() {
    assert_eq!(
        raw::ServerSection::default().max_fields,
        crate::http::body::DEFAULT_MAX_FIELDS
    );
}

#[test]
fn weak_admin_token_only_matters_off_loopback() {
    let public: SocketAddr = "0.0.0.0:8080".parse().unwrap();
    let v6: SocketAddr = "[::]:8080".parse().unwrap();
    let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let strong = "x".repeat(MIN_ADMIN_TOKEN);
    assert!(admin_token_weakness(DEFAULT_ADMIN_TOKEN, public).is_some());
    assert!(admin_token_weakness(DEFAULT_ADMIN_TOKEN, v6).is_some());
    assert!(admin_token_weakness(&strong[1..], public).is_some());
    assert!(admin_token_weakness(&strong, public).is_none());
    assert!(admin_token_weakness("", public).is_none(), "off");
    assert!(admin_token_weakness(DEFAULT_ADMIN_TOKEN, local).is_none());
    assert!(admin_token_weakness("a", "[::1]:1".parse().unwrap()).is_none());
}

#[test]
fn frame_origins_are_plain_origins() {
    for ok in [
        "https://landing.example.com",
        "http://127.0.0.1:8080",
        "https://*.example.co.il",
    ] {
        assert!(is_frame_origin(ok), "{ok}");
    }
    for bad in [
        "landing.example.com",
        "https://x.example/path",
        "https://x.example; script-src *",
        "https://x.example\r\nSet-Cookie: a=b",
        "'self'",
        "https://",
        "https://x.example:",
        "javascript:alert(1)",
    ] {
        assert!(!is_frame_origin(bad), "{bad}");
    }
    let look = FormLook::new("he-IL", "", "", &[]);
    assert!(look.rtl);
    assert_eq!(
        (
            look.submit.as_str(),
            frame_ancestors(&look.frame_origins).as_str()
        ),
        ("Send", "'none'")
    );
    assert!(!FormLook::new("", "", "", &[]).rtl);
}

#[test]
fn hourly_counts_keep_48_hours_and_reuse_their_slots() {
    let c = super::ProfileCounters::default();
    let hour = 3_600_000u64;
    let t = 1_000 * hour;
    c.count(0, t + 5);
    c.count(0, t + hour - 1);
    c.count(6, t + 2 * hour);
    assert_eq!(c.hour(t).unwrap()[0], 2);
    assert_eq!(c.hour(t + 2 * hour).unwrap()[6], 1);
    assert_eq!(
        c.hour(t + hour),
        None,
        "an hour with no answer holds nothing"
    );
    // 48 hours on, the slot is taken over: the old hour is gone.
    c.count(1, t + 48 * hour);
    assert_eq!(c.hour(t), None);
    assert_eq!(
        c.hour(t + 48 * hour).unwrap(),
        [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(c.by_code[0].load(std::sync::atomic::Ordering::Relaxed), 2);
}
