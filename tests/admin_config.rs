//! Run-time configuration through the admin API (SPEC §10): profiles,
//! users and branches created, replaced and deleted, checked by the loader
//! rules, effective at once and kept across restarts.

#[path = "common/util.rs"]
mod util;

use util::*;

const NEW_PROFILE: &str = r#"{"number":20,"form_name":"newform","type":"client_lead",
  "fields":[{"external":"Phone","table":"clients","field":"phone1","mandatory":true},
            {"external":"","table":"clients","field":"lead_supplier","default":"Partner"}]}"#;

#[test]
fn profiles_users_and_branches_change_at_run_time() {
    let s = start();
    let list = admin_json(s.addr, "/admin/v1/profiles");
    assert_eq!(list["data"].as_array().unwrap().len(), 5);
    assert!(list["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["source"] == "file"));
    assert_eq!(get(s.addr, "/leads?Phone=0502345678").code(), "000");

    // Create: effective at once.
    let r = admin_send(s.addr, "POST", "/admin/v1/profiles", NEW_PROFILE);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["source"], "api");
    let r = get(s.addr, "/newform?Phone=0502345679");
    assert_eq!(r.code(), "000");
    let id = r.json()["RecordId"].as_u64().unwrap();
    assert_eq!(
        admin_json(s.addr, &format!("/admin/v1/clients/{id}"))["lead_supplier"],
        "Partner"
    );
    assert_eq!(get(s.addr, "/newform?Other=1").code(), "007");
    assert_eq!(
        admin_send(s.addr, "POST", "/admin/v1/profiles", NEW_PROFILE).status,
        409
    );

    // The loader's rules apply, with profile and row; nothing is stored.
    let bad = r#"{"number":21,"form_name":"static","fields":[{"external":"","table":"clients","field":"phone1","mandatory":true}]}"#;
    let r = admin_send(s.addr, "POST", "/admin/v1/profiles", bad);
    assert_eq!(r.status, 400);
    let details = r.json()["details"].to_string();
    assert!(details.contains("reserved path segment"), "{details}");
    assert!(details.contains("row 1"), "{details}");
    assert_eq!(admin(s.addr, "/admin/v1/profiles/21").status, 404);

    // Replace a file entry: the API's version wins…
    let renamed = r#"{"number":1,"form_name":"leads_v2","fields":[{"external":"Phone","table":"clients","field":"phone1"}]}"#;
    let r = admin_send(s.addr, "PUT", "/admin/v1/profiles/1", renamed);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(get(s.addr, "/leads?Phone=0502345670").code(), "003");
    assert_eq!(get(s.addr, "/leads_v2?Phone=0502345670").code(), "000");
    assert_eq!(admin_json(s.addr, "/admin/v1/profiles/1")["source"], "api");
    // …its counters carry over…
    let m = get(s.addr, "/metrics").body;
    assert!(
        m.contains(r#"dataport_intake_responses_total{profile="1",form="leads_v2",code="000"} 2"#),
        "{m}"
    );
    // …until it is deleted, and the file's entry is back.
    assert_eq!(
        admin_send(s.addr, "DELETE", "/admin/v1/profiles/1", "").status,
        204
    );
    assert_eq!(get(s.addr, "/leads?Phone=0502345671").code(), "000");
    assert_eq!(admin_json(s.addr, "/admin/v1/profiles/1")["source"], "file");
    assert_eq!(
        admin_send(s.addr, "DELETE", "/admin/v1/profiles/3", "").status,
        409,
        "file-only entry"
    );
    assert_eq!(
        admin_send(s.addr, "PUT", "/admin/v1/profiles/5", renamed).status,
        400,
        "ids differ"
    );

    // Branches and users: a salesperson posted to a new user lands in his new branch.
    let r = admin_send(
        s.addr,
        "POST",
        "/admin/v1/branches",
        r#"{"id":"A2","name":"Haifa","timezone":"Asia/Jerusalem"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = admin_send(
        s.addr,
        "POST",
        "/admin/v1/users",
        r#"{"login":"Avi@Example.com","name":"Avi","branch":"A2"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let sales = r#"{"number":30,"form_name":"sales","fields":[{"external":"Phone","table":"clients","field":"phone1"},{"external":"Agent","table":"clients","field":"salesperson"}]}"#;
    assert_eq!(
        admin_send(s.addr, "POST", "/admin/v1/profiles", sales).status,
        201
    );
    let r = get(s.addr, "/sales?Phone=0502345672&Agent=avi@example.com");
    let c = admin_json(
        s.addr,
        &format!("/admin/v1/clients/{}", r.json()["RecordId"]),
    );
    assert_eq!(c["salesperson"], "Avi@Example.com");
    assert_eq!(c["branch"], "A2");
    // A branch still in use cannot go.
    let r = admin_send(s.addr, "DELETE", "/admin/v1/branches/A2", "");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("branch \\\"A2\\\" is not defined"),
        "{}",
        r.body
    );
    assert_eq!(
        admin_send(s.addr, "DELETE", "/admin/v1/users/avi@example.com", "").status,
        204
    );
    assert_eq!(
        admin_send(s.addr, "DELETE", "/admin/v1/branches/A2", "").status,
        204
    );
}

#[test]
fn run_time_changes_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dataport.toml");
    std::fs::write(&cfg, config_text(&dir.path().join("data"), "", "")).unwrap();
    let b = Binary::start(&cfg);
    assert_eq!(
        admin_send(b.addr, "POST", "/admin/v1/profiles", NEW_PROFILE).status,
        201
    );
    b.kill9();
    let b = Binary::start(&cfg);
    assert_eq!(get(b.addr, "/newform?Phone=0502345679").code(), "000");
    assert_eq!(admin_json(b.addr, "/admin/v1/profiles/20")["source"], "api");
}

/// Buyers, rules, feedback reasons, campaigns, extensions and the DNC list
/// are created, read, replaced and deleted through the admin API, each
/// checked by the file's rules and effective at once.
#[test]
fn every_other_config_collection_changes_at_run_time() {
    let s = start();
    let key = "dpk_runtime_buyer";
    let odata = |k: &str| {
        let auth = format!("Bearer {k}");
        request(
            s.addr,
            "GET",
            "/odata/Leads",
            &[("Authorization", &auth)],
            b"",
        )
        .status
    };
    assert_eq!(odata(key), 401);
    let entries = [
        (
            "buyers",
            "7",
            format!(
                r#"{{"id":7,"name":"Runtime","api_key_sha256":"{}"}}"#,
                dataport::auth::sha256_hex(key)
            ),
            "name",
            r#""Renamed""#,
        ),
        (
            "rules",
            "5",
            r#"{"id":5,"buyer":7,"url":"http://127.0.0.1:9/in","routing_id_param":"Ref"}"#
                .to_string(),
            "daily_cap",
            "3",
        ),
        (
            "feedback_reasons",
            "9",
            r#"{"id":9,"name":"Wrong number"}"#.to_string(),
            "name",
            r#""No answer""#,
        ),
        (
            "campaigns",
            "AbCdEfGhIjKlMnOpQrStUvWxYz012345",
            r#"{"id":3,"name":"Runtime","code":"AbCdEfGhIjKlMnOpQrStUvWxYz012345"}"#.to_string(),
            "name",
            r#""Evening""#,
        ),
        (
            "extensions",
            "301",
            r#"{"member":"301"}"#.to_string(),
            "display_name",
            r#""Agent 301""#,
        ),
        (
            "dnc",
            "052-234-5600",
            r#"{"phone":"052-234-5600"}"#.to_string(),
            "note",
            r#""asked""#,
        ),
    ];
    for (coll, id, body, field, value) in &entries {
        let r = admin_send(s.addr, "POST", &format!("/admin/v1/{coll}"), body);
        assert_eq!(r.status, 201, "{coll}: {}", r.body);
        let got = admin_json(s.addr, &format!("/admin/v1/{coll}/{id}"));
        assert_eq!(got["source"], "api", "{coll}");
        let mut changed: serde_json::Value = serde_json::from_str(body).unwrap();
        changed[*field] = serde_json::from_str(value).unwrap();
        let r = admin_send(
            s.addr,
            "PUT",
            &format!("/admin/v1/{coll}/{id}"),
            &changed.to_string(),
        );
        assert_eq!(r.status, 200, "{coll}: {}", r.body);
        let got = admin_json(s.addr, &format!("/admin/v1/{coll}/{id}"));
        assert_eq!(got[*field].to_string(), *value, "{coll}");
    }
    // Effective at once: the buyer's key opens OData.
    assert_eq!(odata(key), 200);
    // The rules apply: a rule for a buyer that does not exist is refused.
    let orphan = r#"{"id":6,"buyer":99,"url":"http://127.0.0.1:9/in","routing_id_param":"Ref"}"#;
    let r = admin_send(s.addr, "POST", "/admin/v1/rules", orphan);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("buyer 99 is not defined"), "{}", r.body);
    // Deleted in reverse (a rule before its buyer), each gone at once.
    for (coll, id, ..) in entries.iter().rev() {
        let r = admin_send(s.addr, "DELETE", &format!("/admin/v1/{coll}/{id}"), "");
        assert_eq!(r.status, 204, "{coll}: {}", r.body);
        assert_eq!(
            admin(s.addr, &format!("/admin/v1/{coll}/{id}")).status,
            404,
            "{coll}"
        );
    }
    assert_eq!(odata(key), 401);
}
