//! `GET /admin/v1/stats` (SPEC §10): answers by code, per profile, per hour.

#[path = "common/util.rs"]
mod util;

use util::*;

#[test]
fn stats_count_answers_by_code_per_profile_per_hour() {
    let s = start();
    // 22:00–22:59 (T0 is 22:00 UTC): two new leads, one duplicate, an unknown form.
    assert_eq!(get(s.addr, "/leads?Phone=0522347001").code(), "000");
    assert_eq!(get(s.addr, "/leads?Phone=0522347002").code(), "000");
    assert_eq!(get(s.addr, "/leads?Phone=0522347002").code(), "006");
    assert_eq!(get(s.addr, "/nosuchform?Phone=0522347003").code(), "003");
    // 23:xx: a missing mandatory field on profile 3, and a lead on profile 2.
    s.clock.advance_ms(3_600_000 + 60_000);
    assert_eq!(get(s.addr, "/must?Phone=0522347004").code(), "007");
    assert_eq!(get(s.addr, "/leads2?Phone=0522347005").code(), "000");

    let stats = admin_json(s.addr, "/admin/v1/stats?hours=3");
    assert_eq!(stats["hours"], 3);
    assert_eq!(stats["unknown_form_total"], 1);
    let profile = |n: u64| {
        stats["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["profile"] == n)
            .unwrap_or_else(|| panic!("no profile {n} in {stats}"))
            .clone()
    };
    let leads = profile(1);
    assert_eq!(leads["form_name"], "leads");
    assert_eq!(leads["total"], serde_json::json!({"000": 2, "006": 1}));
    let hours: Vec<(&str, &serde_json::Value)> = leads["by_hour"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["hour"].as_str().unwrap(), &h["codes"]))
        .collect();
    assert_eq!(
        hours,
        [
            ("2026-11-22T21:00:00.000Z", &serde_json::json!({})),
            (
                "2026-11-22T22:00:00.000Z",
                &serde_json::json!({"000": 2, "006": 1})
            ),
            ("2026-11-22T23:00:00.000Z", &serde_json::json!({})),
        ]
    );
    assert_eq!(
        profile(3)["by_hour"][2]["codes"],
        serde_json::json!({"007": 1})
    );
    assert_eq!(
        profile(2)["by_hour"][2]["codes"],
        serde_json::json!({"000": 1})
    );

    // Bad parameters and methods are refused.
    assert_eq!(admin(s.addr, "/admin/v1/stats?hours=49").status, 400);
    assert_eq!(
        admin_send(s.addr, "POST", "/admin/v1/stats", "{}").status,
        405
    );
    // Counts survive a configuration change (a new profile through the API).
    let profile9 = r#"{"number": 9, "form_name": "nine", "fields": [{"external": "Phone", "table": "clients", "field": "phone1"}]}"#;
    assert_eq!(
        admin_send(s.addr, "POST", "/admin/v1/profiles", profile9).status,
        201
    );
    let again = admin_json(s.addr, "/admin/v1/stats");
    let leads = again["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["profile"] == 1)
        .unwrap()
        .clone();
    assert_eq!(leads["total"], serde_json::json!({"000": 2, "006": 1}));
}
