//! The client-lead pipeline over real HTTP (SPEC §3, §4), against an
//! in-process server with an injected clock.

#[path = "common/util.rs"]
mod util;

use util::*;

const HOUR_MS: u64 = 3_600_000;

fn client(s: &TestServer, id: u64) -> serde_json::Value {
    admin_json(s.addr, &format!("/admin/v1/clients/{id}"))
}

fn record_id(r: &Response) -> u64 {
    r.json()["RecordId"]
        .as_u64()
        .unwrap_or_else(|| panic!("no RecordId in {}", r.body))
}

#[test]
fn each_body_encoding_is_accepted_with_case_insensitive_names() {
    let s = start();
    // Query string (GET).
    let r = get(
        s.addr,
        "/leads?firstname=Dana&PHONE=050-211-0001&Email=Dana@Example.com",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["ResponseMsgEng"], "OK");
    let c = client(&s, record_id(&r));
    assert_eq!(c["first_name"], "Dana");
    assert_eq!(c["phone1"], "972502110001", "phones stored as E.164 digits");
    assert_eq!(c["email"], "dana@example.com", "emails lower-cased");
    assert_eq!(c["media"], "Web form 1", "fixed row");
    assert_eq!(c["handling_status"], 1);
    assert_eq!(c["lead_status"], "New");
    assert!(
        c["created_local"].as_str().unwrap().ends_with("+02:00"),
        "{c}"
    );

    // Form body, percent-encoded UTF-8, merged with the query (body wins).
    let r = post_form(
        s.addr,
        "/leads?City=Eilat&FirstName=Query",
        "FirstName=%D7%93%D7%A0%D7%94&Phone=0502110002",
    );
    assert_eq!(r.code(), "000");
    let c = client(&s, record_id(&r));
    assert_eq!(c["first_name"], "דנה");
    assert_eq!(c["city"], "Eilat");

    // Multipart.
    let body = "--b0undary\r\nContent-Disposition: form-data; name=\"phone\"\r\n\r\n0502110003\r\n--b0undary\r\nContent-Disposition: form-data; name=\"LastName\"\r\n\r\nCohen\r\n--b0undary--\r\n";
    let r = request(
        s.addr,
        "POST",
        "/leads",
        &[("Content-Type", "multipart/form-data; boundary=b0undary")],
        body.as_bytes(),
    );
    assert_eq!(r.code(), "000", "{}", r.body);
    assert_eq!(client(&s, record_id(&r))["last_name"], "Cohen");

    // Flat JSON.
    let r = request(
        s.addr,
        "POST",
        "/leads",
        &[("Content-Type", "application/json")],
        br#"{"Phone":"+972 50 211 0004","Budget":1500}"#,
    );
    assert_eq!(r.code(), "000", "{}", r.body);
    let c = client(&s, record_id(&r));
    assert_eq!(c["extension"]["budget"], "1500");
    assert_eq!(c["full_name"], "No Name From Web");
}

#[test]
fn unknown_form_missing_fields_and_no_contact() {
    let s = start();
    let r = get(s.addr, "/no_such_form?Phone=0502345678");
    assert_eq!(
        r.body,
        r#"{"ResponseCode":"003","ResponseMsgEng":"API function does not exists."}"#
    );
    let r = get(s.addr, "/must?Boss=Ana");
    assert_eq!(
        r.body,
        r#"{"ResponseCode":"007","ResponseMsgEng":"Please fill up all the required fields."}"#
    );
    let r = get(s.addr, "/must?Phone=0502345678&Boss=");
    assert_eq!(r.code(), "007", "an empty mandatory contact field");
    let r = get(s.addr, "/leads?FirstName=Nobody");
    assert_eq!(
        r.json()["ResponseMsgEng"],
        "Client Lead Rejected: because it is missing any phone or email fields."
    );
    let bad = admin_json(s.addr, "/admin/v1/bad_leads");
    assert_eq!(bad["data"][0]["data"]["FirstName"], "Nobody");
    // Every one of those requests is in the usage log, whole.
    let usage = admin_json(s.addr, "/admin/v1/usage_log?limit=10");
    let forms: Vec<_> = usage["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["form"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(forms, ["no_such_form", "must", "must", "leads"]);
    assert_eq!(usage["data"][0]["query"], "Phone=0502345678");
}

#[test]
fn duplicate_within_the_hour_then_accepted_again_after_it() {
    let s = start();
    let q = "/leads?Phone=0502220001&Email=a@dup.example";
    let first = get(s.addr, q);
    assert_eq!(first.code(), "000");
    s.clock.advance_ms(HOUR_MS - 1000);
    let r = get(s.addr, q);
    assert_eq!(
        r.body,
        r#"{"ResponseCode":"006","ResponseMsgEng":"Duplicated HTTP Post."}"#
    );
    // Same contact through another profile is not a duplicate post: 001.
    assert_eq!(
        get(s.addr, "/leads2?Phone=0502220001&Email=a@dup.example").code(),
        "001"
    );
    // Same spelling-independent key: normalisation applies before the check.
    assert_eq!(
        get(
            s.addr,
            "/leads?Phone=%2B972-50-222-0001&Email=A@DUP.example"
        )
        .code(),
        "006"
    );
    s.clock.advance_ms(1000);
    let again = get(s.addr, q);
    assert_eq!(
        again.code(),
        "001",
        "outside the window the post is accepted (matching the client)"
    );
    assert_eq!(record_id(&again), record_id(&first));
    // no_dedupe skips both the window and client matching.
    assert_eq!(get(s.addr, "/nodedupe?Phone=0502220009").code(), "000");
    assert_eq!(get(s.addr, "/nodedupe?Phone=0502220009").code(), "000");
}

#[test]
fn hot_lead_fills_only_empty_fields_and_keeps_a_backup() {
    let s = start();
    let r = post_form(
        s.addr,
        "/leads",
        "FirstName=Avi&Phone=0503330001&Supplier=Google&Budget=10",
    );
    let id = record_id(&r);
    let r = post_form(
        s.addr,
        "/leads2",
        "FirstName=Changed&Phone=0503330001&Phone2=0503330002&Email=avi@x.example&Supplier=Bing&Boss=Rina&Budget=99&Color=blue&Shoe=42",
    );
    assert_eq!(
        r.body,
        format!(
            r#"{{"ResponseCode":"001","ResponseMsgEng":"OK and Already Exist. Sales team has been notified","RecordId":{id}}}"#
        )
    );
    let c = client(&s, id);
    assert_eq!(c["first_name"], "Avi", "not an empty field: kept");
    assert_eq!(c["phone2"], "972503330002", "empty: filled");
    assert_eq!(c["email"], "avi@x.example", "empty: filled");
    assert_eq!(c["lead_supplier"], "Google", "not empty: kept");
    assert_eq!(c["lead_status"], "HOT Lead");
    assert_eq!(
        c["extension"]["budget"], "10",
        "extension: only empty fields filled"
    );
    assert_eq!(c["extension"]["color"], "blue");
    assert_eq!(c["contacts"].as_array().unwrap().len(), 1);
    let contact = admin_json(s.addr, &format!("/admin/v1/contacts/{}", c["contacts"][0]));
    assert_eq!(contact["first_name"], "Rina");
    // The post is kept whole in bad leads as a backup.
    let bad = admin_json(s.addr, &format!("/admin/v1/bad_leads?client={id}"));
    assert_eq!(bad["data"][0]["data"]["FirstName"], "Changed");
    // History: the new-lead opportunity, the repeat inquiry and a call-back task.
    let rel = admin_json(s.addr, &format!("/admin/v1/relationships?client={id}"));
    let kinds: Vec<_> = rel["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["new web lead", "repeat web inquiry", "call-back task"]
    );
    // The unmapped field went to the automation log with the record reference.
    let auto = admin_json(s.addr, "/admin/v1/automation_log?profile=2");
    assert_eq!(auto["data"][0]["fields"]["Shoe"], "42");
    assert_eq!(auto["data"][0]["client"], id);
    // The email now finds the client too (index updated in the same commit).
    assert_eq!(get(s.addr, "/leads?Email=AVI@x.example").code(), "001");
}

#[test]
fn not_interested_client_is_renewed_by_a_new_post() {
    let s = start();
    let r = post_form(
        s.addr,
        "/leads",
        "FirstName=Old&Phone=0504440001&City=Haifa&Budget=1&Color=red",
    );
    let id = record_id(&r);
    let p = admin_patch(
        s.addr,
        &format!("/admin/v1/clients/{id}"),
        r#"{"handling_status":3,"archived":true}"#,
    );
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.json()["archived"], true);
    let r = post_form(
        s.addr,
        "/leads2",
        "FirstName=New&Phone=0504440001&Email=new@x.example&Budget=2&Boss=Eli",
    );
    assert_eq!(r.code(), "001");
    assert_eq!(record_id(&r), id);
    let c = client(&s, id);
    assert_eq!(c["first_name"], "New");
    assert_eq!(c["city"], "", "the new post replaces the old record");
    assert_eq!(c["lead_status"], "Renewed");
    assert_eq!(c["archived"], false, "un-archived");
    assert_eq!(c["handling_status"], 1);
    assert_eq!(
        c["extension"],
        serde_json::json!({"budget": "2"}),
        "extension replaced"
    );
    assert_eq!(c["contacts"].as_array().unwrap().len(), 1);
    let bad = admin_json(s.addr, &format!("/admin/v1/bad_leads?client={id}"));
    assert_eq!(
        bad["data"][0]["data"]["first_name"], "Old",
        "old record copied to bad leads"
    );
    let rel = admin_json(s.addr, &format!("/admin/v1/relationships?client={id}"));
    let notes: Vec<_> = rel["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["note"].as_str().unwrap())
        .collect();
    assert_eq!(notes.len(), 2, "history kept: {notes:?}");
    assert_eq!(notes[1], "Lead renewed following a web inquiry");
}

#[test]
fn redirects_and_the_json_override() {
    let s = start();
    let r = get(s.addr, "/redir?Phone=0505550001");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/static/ThankYou.html"));
    let page = get(s.addr, "/static/ThankYou.html");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Thank you"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let r = get(s.addr, "/redir?Other=1");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("https://example.com/sorry"));
    let r = request(
        s.addr,
        "GET",
        "/redir?Phone=0505550002",
        &[("Accept", "text/html, Application/JSON;q=0.9")],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.code(), "000");
    assert_eq!(get(s.addr, "/static/..%2Fdataport.toml").status, 404);
    assert_eq!(get(s.addr, "/static/missing.html").status, 404);
}

#[test]
fn admin_lists_filters_cursors_and_auth() {
    let s = start();
    for i in 0..5 {
        assert_eq!(
            get(
                s.addr,
                &format!("/leads?Phone=050666000{i}&City=C{}", i % 2)
            )
            .code(),
            "000"
        );
        s.clock.advance_ms(60_000);
    }
    assert_eq!(
        request(s.addr, "GET", "/admin/v1/clients", &[], b"").status,
        401
    );
    assert_eq!(
        request(
            s.addr,
            "GET",
            "/admin/v1/clients",
            &[("Authorization", "Bearer nope")],
            b""
        )
        .status,
        401
    );
    let page = admin_json(s.addr, "/admin/v1/clients?limit=2");
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["next"], "2");
    let page = admin_json(s.addr, "/admin/v1/clients?limit=2&after=2");
    assert_eq!(page["data"][0]["id"], 3);
    let all = admin_json(s.addr, "/admin/v1/clients?limit=10");
    assert_eq!(all["data"].as_array().unwrap().len(), 5);
    assert!(all["next"].is_null());
    let c1 = admin_json(s.addr, "/admin/v1/clients?city=C1");
    assert_eq!(c1["data"].as_array().unwrap().len(), 2);
    let byphone = admin_json(s.addr, "/admin/v1/clients?phone1=972506660003");
    assert_eq!(byphone["data"][0]["id"], 4);
    let since = dataport::clock::rfc3339_utc(T0 + 2 * 60_000);
    let until = dataport::clock::rfc3339_utc(T0 + 3 * 60_000);
    let window = admin_json(
        s.addr,
        &format!("/admin/v1/clients?since={since}&until={until}"),
    );
    let ids: Vec<_> = window["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [3, 4]);
    assert_eq!(admin(s.addr, "/admin/v1/clients/99").status, 404);
    assert_eq!(admin(s.addr, "/admin/v1/nope").status, 404);
    assert_eq!(
        admin(s.addr, "/admin/v1/clients?since=yesterday").status,
        400
    );
    let p = admin_patch(
        s.addr,
        "/admin/v1/clients/1",
        r#"{"salesperson":"dana@example.com","branch":"A1"}"#,
    );
    assert_eq!(p.json()["salesperson"], "dana@example.com");
    assert_eq!(
        admin_patch(s.addr, "/admin/v1/clients/1", r#"{"handling_status":9}"#).status,
        400
    );
    assert_eq!(
        admin_patch(s.addr, "/admin/v1/clients/1", r#"{"name":"x"}"#).status,
        400
    );
    assert_eq!(
        admin_patch(s.addr, "/admin/v1/clients/77", r#"{"archived":true}"#).status,
        404
    );
    for coll in [
        "contacts",
        "bad_leads",
        "relationships",
        "usage_log",
        "automation_log",
        "leads",
    ] {
        assert_eq!(
            admin(s.addr, &format!("/admin/v1/{coll}")).status,
            200,
            "{coll}"
        );
    }
}

#[test]
fn health_and_metrics() {
    let s = start();
    get(s.addr, "/leads?Phone=0507770001");
    get(s.addr, "/leads?Phone=0507770001");
    get(s.addr, "/nothing");
    let h = get(s.addr, "/health");
    assert_eq!(h.body, r#"{"status":"ok"}"#);
    let m = get(s.addr, "/metrics").body;
    for needle in [
        "dataport_intake_responses_total{profile=\"1\",form=\"leads\",code=\"000\"} 1",
        "dataport_intake_responses_total{profile=\"1\",form=\"leads\",code=\"006\"} 1",
        "dataport_intake_responses_total{profile=\"\",form=\"\",code=\"003\"} 1",
        "dataport_request_duration_seconds_count",
        "dataport_commit_batch_jobs_bucket",
        "dataport_lmdb_used_bytes",
    ] {
        assert!(m.contains(needle), "missing {needle} in\n{m}");
    }
    assert_eq!(request(s.addr, "DELETE", "/leads", &[], b"").status, 405);
}

#[test]
fn storage_full_answers_004_and_never_acknowledges_an_unstored_lead() {
    let s = start_with("max_body_bytes = 200000", "map_size_mb = 1");
    let notes = "x".repeat(60_000);
    let mut acked = Vec::new();
    let mut saw_004 = false;
    for i in 0..200 {
        let r = post_form(
            s.addr,
            "/leads",
            &format!("Phone=05088{i:05}&Notes={notes}"),
        );
        match r.code().as_str() {
            "000" => acked.push(record_id(&r)),
            "004" => {
                assert_eq!(r.json()["ResponseMsgEng"], "Database Error on server side.");
                saw_004 = true;
                break;
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert!(saw_004, "a 1 MiB map must fill up");
    assert!(!acked.is_empty());
    for id in acked {
        assert_eq!(
            admin(s.addr, &format!("/admin/v1/clients/{id}")).status,
            200,
            "acknowledged {id} must be stored"
        );
    }
    // Reads keep working while writes fail.
    assert_eq!(get(s.addr, "/health").status, 200);
}

#[test]
fn a_full_write_queue_sheds_load_with_005() {
    let s = start_with("", "write_queue = 1\nmax_batch = 1");
    let addr = s.addr;
    let handles: Vec<_> = (0..32)
        .map(|t| {
            std::thread::spawn(move || {
                (0..20)
                    .map(|i| get(addr, &format!("/nodedupe?Phone=0509{t:02}{i:04}")).body)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let bodies: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    // 005's exact wire answer (SPEC §3).
    const SHED: &str =
        r#"{"ResponseCode":"005","ResponseMsgEng":"Technical Error on server side."}"#;
    assert!(
        bodies.iter().any(|b| b == SHED),
        "005 answered exactly as SPEC writes it"
    );
    let codes: Vec<String> = bodies
        .iter()
        .map(|b| {
            serde_json::from_str::<serde_json::Value>(b).unwrap()["ResponseCode"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(codes.iter().all(|c| c == "000" || c == "005"), "{codes:?}");
    assert!(
        codes.iter().any(|c| c == "005"),
        "a queue of one must overflow under 32 clients"
    );
    let five = get(addr, "/metrics").body;
    assert!(
        !five.contains("dataport_write_queue_full_total 0"),
        "counted in metrics"
    );
}

#[test]
fn a_post_that_cannot_be_logged_is_answered_005_not_kept_quiet() {
    // A queue of one and commits of one: under 32 clients the write queue
    // overflows on the usage-log entries themselves. A post answered 003 or
    // 006 must then be in the usage log (and a duplicate's extra field in
    // the automation log); one that could not be logged is answered 005.
    let s = start_with("", "write_queue = 1\nmax_batch = 1");
    let addr = s.addr;
    // Even alone, the lead can find the queue still holding its own usage
    // entry and be answered 005; a sender retries, and so does this setup.
    assert!(eventually(
        || get(addr, "/leads?Phone=0502345678").code() == "000"
    ));
    let handles: Vec<_> = (0..32)
        .map(|t| {
            std::thread::spawn(move || {
                (0..16)
                    .map(|i| {
                        let mark = format!("n={t}-{i}");
                        let target = if i % 2 == 0 {
                            format!("/no_such_form?{mark}")
                        } else {
                            format!("/leads?Phone=0502345678&{mark}")
                        };
                        (mark, get(addr, &target).code())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let answers: Vec<(String, String)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert!(
        answers
            .iter()
            .all(|(_, c)| c == "003" || c == "006" || c == "005"),
        "{answers:?}"
    );
    assert!(
        answers.iter().any(|(_, c)| c == "005"),
        "a queue of one must overflow under 32 clients"
    );
    let kept: Vec<&String> = answers
        .iter()
        .filter(|(_, c)| c != "005")
        .map(|(mark, _)| mark)
        .collect();
    let logged = |coll: &str, field: &str| -> Vec<String> {
        admin_json(addr, &format!("/admin/v1/{coll}?limit=1000"))["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e[field].to_string())
            .collect()
    };
    assert!(
        eventually(|| {
            let usage = logged("usage_log", "query");
            kept.iter()
                .all(|m| usage.iter().any(|q| q.contains(m.as_str())))
        }),
        "every post answered 003/006 is in the usage log"
    );
    let automation = logged("automation_log", "fields");
    for (mark, code) in &answers {
        if code == "006" {
            let n = mark.trim_start_matches("n=");
            assert!(
                automation.iter().any(|f| f.contains(&format!("\"{n}\""))),
                "the duplicate {mark}'s extra field is in the automation log"
            );
        }
    }
    assert!(!get(addr, "/metrics")
        .body
        .contains("dataport_write_queue_full_total 0"));
}

fn usage_ids(s: &TestServer) -> Vec<u64> {
    let page = admin_json(s.addr, "/admin/v1/usage_log?limit=1000");
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_u64().unwrap())
        .collect()
}

#[test]
fn usage_log_keeps_its_retention_oldest_first_and_counts_drops() {
    let s = start_full(
        "",
        "",
        "[logs]\nusage_retention_days = 1\nusage_max_bytes = 1000000",
    );
    for i in 0..3 {
        get(s.addr, &format!("/leads?Phone=050888000{i}"));
    }
    assert_eq!(usage_ids(&s), [1, 2, 3]);
    s.clock.advance_ms(2 * 86_400_000);
    get(s.addr, "/leads?Phone=0508880009");
    assert!(
        eventually(|| usage_ids(&s) == [4]),
        "entries older than a day go: {:?}",
        usage_ids(&s)
    );
    assert!(get(s.addr, "/metrics")
        .body
        .contains("dataport_usage_log_dropped_total 3"));

    // By size: a 3 KB budget keeps only the newest entries.
    let s = start_full(
        "",
        "",
        "[logs]\nusage_retention_days = 30\nusage_max_bytes = 3000",
    );
    let notes = "n".repeat(900);
    for i in 0..6 {
        get(s.addr, &format!("/leads?Phone=050889000{i}&Notes={notes}"));
    }
    assert!(
        eventually(|| {
            let ids = usage_ids(&s);
            ids.len() <= 3 && ids.last() == Some(&6)
        }),
        "oldest dropped first: {:?}",
        usage_ids(&s)
    );
}

#[test]
fn log_entries_linger_but_never_hold_an_answer() {
    // A long linger makes the behaviour visible: a lone background entry
    // waits for company, a lead that someone waits for does not.
    let s = start_with("", "log_linger_ms = 3000");
    let t = std::time::Instant::now();
    assert_eq!(get(s.addr, "/no_such_form?Phone=0508881111").code(), "003");
    let r = get(s.addr, "/leads?Phone=0508881112");
    assert_eq!(r.code(), "000");
    assert!(
        t.elapsed() < std::time::Duration::from_millis(2500),
        "the lead was answered without waiting out the linger: {:?}",
        t.elapsed()
    );
    // The lead's commit carried the 003's usage entry with it.
    let forms: Vec<String> = admin_json(s.addr, "/admin/v1/usage_log?limit=10")["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["form"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(forms, ["no_such_form", "leads"]);
    // A lone entry is committed once the linger is over.
    assert_eq!(get(s.addr, "/no_such_form?Phone=0508881113").code(), "003");
    assert!(eventually(|| admin_json(
        s.addr,
        "/admin/v1/usage_log?limit=10"
    )["data"]
        .as_array()
        .unwrap()
        .len()
        == 3));
}

/// A duplicate's usage and automation entries travel to the writer as one
/// job (one queue slot): a flood of duplicates fills the write queue half
/// as fast as two jobs each would.
#[test]
fn a_duplicate_takes_one_writer_job_for_both_its_log_entries() {
    let s = start();
    let jobs = || -> u64 {
        get(s.addr, "/metrics")
            .body
            .lines()
            .find_map(|l| l.strip_prefix("dataport_commit_batch_jobs_sum "))
            .and_then(|v| v.trim().parse().ok())
            .expect("dataport_commit_batch_jobs_sum")
    };
    let first = post_form(s.addr, "/leads", "Phone=0502119001&Campaign=first");
    assert_eq!(first.code(), "000");
    let before = jobs();
    for i in 0..5 {
        let r = post_form(
            s.addr,
            "/leads",
            &format!("Phone=0502119001&Campaign=dup{i}"),
        );
        assert_eq!(r.code(), "006");
    }
    let extras = || admin_json(s.addr, "/admin/v1/automation_log?limit=100").to_string();
    assert!(
        eventually(|| (0..5).all(|i| extras().contains(&format!("dup{i}")))),
        "every duplicate's extra field is in the automation log"
    );
    let usage = admin_json(s.addr, "/admin/v1/usage_log?limit=100")["data"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(usage, 6, "the lead and its five duplicates are each logged");
    assert_eq!(jobs() - before, 5, "one job per duplicate");
}
