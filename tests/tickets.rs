//! Service tickets (SPEC §5) over real HTTP.

#[path = "common/util.rs"]
mod util;

use util::*;

fn config(data: &std::path::Path) -> String {
    let profile = format!(
        r#"
[intake]
acceptable_scripts = ["Latin", "Hebrew"]
{profile}"#,
        profile = Profile::new(9, "support")
            .text("type", "service_ticket")
            .text("external_key_field", "TicketRef")
            .rows(&[
                ("Name", "tickets", "complainer_name"),
                ("Phone", "tickets", "return_phone"),
                ("Email", "tickets", "return_email"),
                ("Subject", "tickets", "subject"),
                ("Details", "tickets", "details"),
            ])
            .row(Row::new("Kind", "tickets", "category").mandatory()),
    );
    test_config(data, &profile)
}

#[test]
fn tickets_every_code_window_and_external_key() {
    let s = start_text(config);
    let r = get(s.addr, "/support?Name=Dana&Phone=050-234-5678&Email=D@X.example&Subject=Broken&Details=It%20broke&Kind=hw&Order=77");
    assert_eq!(r.code(), "000", "{}", r.body);
    let id = r.json()["RecordId"].as_u64().unwrap();
    let t = admin_json(s.addr, &format!("/admin/v1/tickets/{id}"));
    assert_eq!(t["source"], 1, "public website");
    assert_eq!(t["complainer_name"], "Dana");
    assert_eq!(t["return_phone"], "972502345678");
    assert_eq!(t["return_email"], "d@x.example");
    assert_eq!(t["category"], "hw");
    let auto = admin_json(s.addr, "/admin/v1/automation_log");
    assert_eq!(auto["data"][0]["fields"]["Order"], "77");
    assert_eq!(
        auto["data"][0]["client"], id,
        "extra fields carry the ticket reference"
    );

    // 007: mandatory row, and complainer / subject always.
    assert_eq!(get(s.addr, "/support?Name=A&Subject=B").code(), "007");
    assert_eq!(get(s.addr, "/support?Subject=B&Kind=x").code(), "007");
    assert_eq!(get(s.addr, "/support?Name=A&Kind=x").code(), "007");
    // 009.
    assert_eq!(
        get(s.addr, "/support?Name=%D0%94&Subject=B&Kind=x").code(),
        "009"
    );
    // 006 within the hour, the same key spelled differently; accepted after it.
    let q = "/support?Name=Dana&Phone=0502345678&Email=d@x.example&Subject=Broken&Kind=hw";
    assert_eq!(get(s.addr, q).code(), "006");
    assert_eq!(
        get(
            s.addr,
            "/support?Name=Dana&Phone=0502345678&Email=d@x.example&Subject=Other&Kind=hw"
        )
        .code(),
        "000"
    );
    s.clock.advance_ms(3_600_000);
    assert_eq!(
        get(s.addr, q).code(),
        "000",
        "a new ticket after the window"
    );
    // 002: a known external key updates that ticket (no duplicate check).
    let r = get(
        s.addr,
        "/support?TicketRef=T-1&Name=Eli&Subject=Login&Kind=sw",
    );
    assert_eq!(r.code(), "000");
    let tid = r.json()["RecordId"].as_u64().unwrap();
    let r = get(
        s.addr,
        "/support?TicketRef=T-1&Name=Eli&Subject=Login&Kind=sw&Details=still%20broken",
    );
    assert_eq!(r.code(), "002");
    assert_eq!(r.json()["RecordId"], tid);
    let t = admin_json(s.addr, &format!("/admin/v1/tickets/{tid}"));
    assert_eq!(t["details"], "still broken");
    assert_eq!(t["subject"], "Login");
    // No client was made by any of this.
    assert_eq!(
        admin_json(s.addr, "/admin/v1/clients")["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}
