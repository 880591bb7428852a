//! The lead rules of SPEC §4 beyond the foundation: language (009), external
//! key sync (002), contact validation (008), salesperson and branch rotation.

#[path = "common/util.rs"]
mod util;

use std::path::Path;

use util::*;

fn rules_config(data: &Path) -> String {
    let rules = format!(
        r#"
[intake]
acceptable_scripts = ["Latin", "Hebrew"]
default_country = "IL"
web_branch = "A1"
high_range_start = 500000
[[branches]]
id = "A1"
timezone = "Asia/Jerusalem"
[[branches]]
id = "A3"
timezone = "Asia/Jerusalem"
[[branches]]
id = "A4"
timezone = "Europe/London"
[[users]]
login = "dana@example.com"
branch = "A4"
[[users]]
login = "gone@example.com"
branch = "A3"
active = false

{profile}"#,
        profile = Profile::new(1, "crm")
            .text("external_key_field", "CrmId")
            .text("circle_between_agencies", ";A1;A3;A4;")
            .rows(&[
                ("Name", "clients", "full_name"),
                ("Phone", "clients", "phone1"),
                ("Email", "clients", "email"),
                ("City", "clients", "city"),
                ("Agent", "clients", "salesperson"),
                ("Branch", "clients", "branch"),
                ("Boss", "contacts", "first_name"),
                ("Plan", "extension", "plan"),
            ]),
    );
    test_config(data, &rules)
}

fn id_of(r: &Response) -> u64 {
    r.json()["RecordId"]
        .as_u64()
        .unwrap_or_else(|| panic!("no RecordId: {}", r.body))
}

fn client(s: &TestServer, id: u64) -> serde_json::Value {
    admin_json(s.addr, &format!("/admin/v1/clients/{id}"))
}

#[test]
fn language_check_on_every_mapped_value() {
    let s = start_text(rules_config);
    assert_eq!(
        get(
            s.addr,
            "/crm?Name=Dana%20%D7%93%D7%A0%D7%94%20%F0%9F%98%80%20-%2042&Phone=0502345678"
        )
        .code(),
        "000"
    );
    let r = get(
        s.addr,
        "/crm?Name=%D0%94%D0%B0%D0%BD%D0%B0&Phone=0502345679&Shoe=9",
    );
    assert_eq!(
        r.body,
        r#"{"ResponseCode":"009","ResponseMsgEng":"Please fill in the fields in the Acceptable Languages. (Latin, Hebrew)"}"#,
        "issue 19: code 009 names the acceptable languages, as seed 000 does"
    );
    assert_eq!(
        get(s.addr, "/crm?Phone=0502345670&Plan=%E4%B8%B9").code(),
        "009",
        "extension values too"
    );
    assert_eq!(
        get(s.addr, "/crm?Phone=0502345671&Boss=%D0%94").code(),
        "009",
        "contact values too"
    );
    // Unmapped fields are not checked, but they are kept.
    assert_eq!(
        get(s.addr, "/crm?Phone=0502345672&Note=%D0%94").code(),
        "000"
    );
    assert!(eventually(|| admin_json(
        s.addr,
        "/admin/v1/automation_log"
    )["data"][0]["fields"]["Shoe"]
        == "9"));
}

#[test]
fn external_key_updates_the_client_extension_and_first_contact() {
    let s = start_text(rules_config);
    let r = get(
        s.addr,
        "/crm?CrmId=X-1&Name=Avi&Phone=0502345678&City=Haifa&Boss=Rina&Plan=basic",
    );
    assert_eq!(r.code(), "000");
    let id = id_of(&r);
    // Same key: update with the non-empty posted fields, no further checks
    // (no duplicate window, no validation), 002.
    let r = get(
        s.addr,
        "/crm?CrmId=X-1&Name=Avi%20Cohen&City=&Boss=Rinat&Plan=gold&Phone=12",
    );
    assert_eq!(
        r.body,
        format!(
            r#"{{"ResponseCode":"002","ResponseMsgEng":"OK and Already Exist. Database was modified by External System Key Field.","RecordId":{id}}}"#
        )
    );
    let c = client(&s, id);
    assert_eq!(c["full_name"], "Avi Cohen");
    assert_eq!(c["city"], "Haifa", "empty posted values change nothing");
    assert_eq!(c["extension"]["plan"], "gold");
    assert_eq!(c["external_key"], "X-1");
    assert_eq!(
        c["contacts"].as_array().unwrap().len(),
        1,
        "the first contact is updated, not added"
    );
    assert_eq!(
        admin_json(s.addr, &format!("/admin/v1/contacts/{}", c["contacts"][0]))["first_name"],
        "Rinat"
    );
    assert_eq!(
        get(s.addr, "/crm?CrmId=X-1&Name=Avi%20Cohen").code(),
        "002",
        "repeatable"
    );
    // An unknown key goes through the normal pipeline and stores its key.
    let r = get(s.addr, "/crm?CrmId=X-2&Phone=0502345677");
    assert_eq!(r.code(), "000");
    assert_eq!(client(&s, id_of(&r))["external_key"], "X-2");
}

#[test]
fn contact_validation_keeps_rejected_posts_with_their_reason() {
    let s = start_text(rules_config);
    let r = get(s.addr, "/crm?Name=A&Phone=0501234567&Email=not-an-email");
    assert_eq!(r.code(), "008");
    let bad = admin_json(s.addr, "/admin/v1/bad_leads");
    let reason = bad["data"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("phone1") && reason.contains("not a plausible phone number"),
        "{reason}"
    );
    assert!(reason.contains("not a valid address"), "{reason}");
    assert_eq!(bad["data"][0]["data"]["Email"], "not-an-email");
    // One usable contact is enough.
    assert_eq!(
        get(s.addr, "/crm?Phone=0501234567&Email=ok@mail.example.com").code(),
        "000"
    );
    assert_eq!(
        get(s.addr, "/crm?Phone=%2B1%20212%20555%200100").code(),
        "000"
    );
}

#[test]
fn salesperson_rotation_and_high_range_numbers() {
    let s = start_text(rules_config);
    let r = get(s.addr, "/crm?Phone=0502000001&Agent=DANA@example.com");
    let c = client(&s, id_of(&r));
    assert_eq!(c["salesperson"], "dana@example.com");
    assert_eq!(c["branch"], "A4", "the salesperson's branch");
    assert_eq!(c["number"], 500000, "numbering starts at high_range_start");
    let r = get(s.addr, "/crm?Phone=0502000002&Agent=gone@example.com");
    let c = client(&s, id_of(&r));
    assert_eq!(c["salesperson"], "", "an inactive user is not assigned");
    assert_eq!(c["branch"], "A1", "…so the post rotates");
    assert_eq!(c["number"], 500001);
    let r = get(s.addr, "/crm?Phone=0502000003&Branch=A4");
    assert_eq!(
        client(&s, id_of(&r))["branch"],
        "A4",
        "a posted branch stops rotation"
    );
    let branches: Vec<String> = (4..8)
        .map(|i| {
            let r = get(s.addr, &format!("/crm?Phone=050200000{i}"));
            client(&s, id_of(&r))["branch"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(branches, ["A3", "A4", "A1", "A3"]);
    // An existing client is not rotated again.
    let r = get(s.addr, "/crm?Phone=0502000004&Email=x@y.example");
    assert_eq!(r.code(), "001");
    assert_eq!(client(&s, id_of(&r))["branch"], "A3");
}

#[test]
fn rotation_order_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dataport.toml");
    std::fs::write(&cfg, rules_config(&dir.path().join("data"))).unwrap();
    let mut seen = Vec::new();
    for round in 0..3 {
        let b = Binary::start(&cfg);
        for i in 0..2 {
            let r = get(b.addr, &format!("/crm?Phone=05030000{round}{i}"));
            let id = r.json()["RecordId"].as_u64().unwrap();
            seen.push(
                admin_json(b.addr, &format!("/admin/v1/clients/{id}"))["branch"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        b.kill9();
    }
    assert_eq!(seen, ["A1", "A3", "A4", "A1", "A3", "A4"]);
}
