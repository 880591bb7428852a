//! Admin list search through the indexes (issue 23): `?q=` and the phone,
//! email and external-key filters of clients and contacts read only the
//! records the index names; every other filter scans at most
//! `admin.max_scan` records and says so.

#[path = "common/util.rs"]
mod util;

use util::*;

fn config(data: &std::path::Path) -> String {
    let profile = Profile::new(1, "leads").rows(&[
        ("Phone", "clients", "phone1"),
        ("Email", "clients", "email"),
        ("City", "clients", "city"),
        ("Key", "clients", "external_key"),
        ("Boss", "contacts", "first_name"),
        ("BossPhone", "contacts", "phone"),
    ]);
    test_config(data, &format!("[admin]\nmax_scan = 50\n{profile}"))
}

fn list(s: &TestServer, query: &str) -> serde_json::Value {
    admin_json(s.addr, &format!("/admin/v1/{query}"))
}

fn ids(v: &serde_json::Value) -> Vec<u64> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect()
}

#[test]
fn a_phone_or_an_email_is_found_through_the_index() {
    let s = start_text(config);
    let mut made = Vec::new();
    for i in 0..120 {
        let r = get(
            s.addr,
            &format!("/leads?Phone=05223450{i:02}&Email=Dana{i}@X.example&City=Haifa&Boss=Ron&BossPhone=05473000{i:02}"),
        );
        assert_eq!(r.code(), "000", "{}", r.body);
        made.push(r.json()["RecordId"].as_u64().unwrap());
    }
    let id = made[77];

    // Any form intake accepts, normalised the same way; one record read.
    for q in [
        "052-234-5077",
        "0522345077",
        "972522345077",
        "%2B972%2052%20234%205077",
    ] {
        let found = list(&s, &format!("clients?q={q}"));
        assert_eq!(ids(&found), [id], "q={q}: {found}");
        assert_eq!(found["scanned"], 1, "through the index: {found}");
        assert_eq!(found["complete"], true);
    }
    let found = list(&s, "clients?q=DANA77@x.EXAMPLE");
    assert_eq!(ids(&found), [id], "email in any case");
    assert_eq!(found["scanned"], 1);
    // The field filters use the index too, and the others still apply.
    let found = list(&s, "clients?phone1=052-234-5077&city=Haifa");
    assert_eq!(
        (ids(&found), found["scanned"].as_u64()),
        (vec![id], Some(1))
    );
    assert_eq!(
        ids(&list(&s, "clients?phone1=052-234-5077&city=Eilat")),
        Vec::<u64>::new()
    );
    assert_eq!(ids(&list(&s, "clients?email=dana77@x.example")), [id]);
    assert_eq!(ids(&list(&s, "clients?q=0529999999")), Vec::<u64>::new());

    // A contact by its phone.
    let contacts = list(&s, "contacts?q=054-730-0077");
    assert_eq!(contacts["data"].as_array().unwrap().len(), 1, "{contacts}");
    assert_eq!(contacts["data"][0]["client"], id);
    assert_eq!(contacts["scanned"], 1);
}

#[test]
fn a_filter_no_index_serves_reads_at_most_max_scan_records() {
    let s = start_text(config);
    for i in 0..120 {
        let r = get(s.addr, &format!("/leads?Phone=0547345{i:03}&City=Haifa"));
        assert_eq!(r.code(), "000", "{}", r.body);
    }
    // No match anywhere: each answer reads 50, says so, and gives a cursor.
    let mut cursor = 0u64;
    let mut pages = 0;
    let mut read = 0;
    loop {
        let page = list(&s, &format!("clients?city=Nowhere&after={cursor}"));
        assert!(page["data"].as_array().unwrap().is_empty());
        read += page["scanned"].as_u64().unwrap();
        pages += 1;
        match page["next"].as_str() {
            Some(n) => {
                assert_eq!(page["complete"], false, "{page}");
                assert_eq!(page["scanned"], 50);
                cursor = n.parse().unwrap();
            }
            None => {
                assert_eq!(page["complete"], true);
                break;
            }
        }
    }
    assert_eq!(
        (pages, read),
        (3, 120),
        "120 clients in pages of at most 50 read"
    );
    // A filter that matches fills its page within the cap.
    let page = list(&s, "clients?city=Haifa&limit=10");
    assert_eq!(page["data"].as_array().unwrap().len(), 10);
    assert_eq!(page["scanned"], 10);
}

/// `q` on the CRM inbox, the bad leads and the usage log: the inbox by the
/// lead's own phone and email; bad leads and posts through the clients the
/// phone or email names. Each answer reads only what the index names.
#[test]
fn q_reaches_crm_leads_bad_leads_and_the_posts_of_a_person() {
    let s = start_text(|data| {
        let extra = "[crm]\napi_key = \"k3y\"\n[[users]]\nid = 1\nlogin = \"dana@example.com\"\nname = \"Dana\"\n";
        let base = config(data);
        format!("{base}\n{extra}")
    });
    // Noise: 40 other people, each posted once.
    for i in 0..40 {
        let r = get(s.addr, &format!("/leads?Phone=05473451{i:02}&City=Haifa"));
        assert_eq!(r.code(), "000", "{}", r.body);
    }
    // One person posts, posts the same again at once (a duplicate, 006),
    // and again over an hour later: a repeat inquiry, kept as a bad lead
    // (the HOT lead backup).
    let first = get(s.addr, "/leads?Phone=052-234-5088&Email=Noa@X.example");
    assert_eq!(first.code(), "000", "{}", first.body);
    let client = first.json()["RecordId"].as_u64().unwrap();
    let dup = get(s.addr, "/leads?Phone=052-234-5088&Email=Noa@X.example");
    assert_eq!(dup.code(), "006", "{}", dup.body);
    s.clock.advance_ms(2 * 3_600_000);
    let again = get(s.addr, "/leads?Phone=0522345088&City=Eilat");
    assert_eq!(again.code(), "001", "{}", again.body);
    // A post refused for its phone (unallocated: 008) is found by it too,
    // searched as it was posted (intake could not read it as a number).
    let refused = get(s.addr, "/leads?Phone=050-123-4567");
    assert_eq!(refused.code(), "008", "{}", refused.body);
    // A CRM inbox lead with the same phone, added through the CRM API.
    let crm = get(
        s.addr,
        "/developer/v1/leads?login=dana%40example.com&apikey=k3y&action=add&title=Noa&phone=%2B972-52-234-5088&email=noa%40x.example",
    );
    assert_eq!(crm.status, 200, "{}", crm.body);
    let lead = crm.json()["result"]["id"].as_u64().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300)); // the usage log's batch

    // Each web post is an inbox lead too: the phone names all three, the
    // email the two that carried it.
    for (q, n, in_eilat) in [("052-234-5088", 3, 1), ("noa%40x.example", 2, 0)] {
        let leads = list(&s, &format!("leads?q={q}"));
        let found = ids(&leads);
        assert_eq!(found.len(), n, "q={q}: {leads}");
        assert!(found.contains(&lead), "q={q}: {leads}");
        assert_eq!(leads["scanned"], n, "{leads}");
        // Other filters apply to what the index named.
        let eilat = list(&s, &format!("leads?q={q}&city=Eilat"));
        assert_eq!(ids(&eilat).len(), in_eilat, "{eilat}");

        let bad = list(&s, &format!("bad_leads?q={q}"));
        assert_eq!(bad["data"].as_array().unwrap().len(), 1, "q={q}: {bad}");
        assert_eq!(bad["data"][0]["client"], client);
        assert_eq!(bad["scanned"], 1);
    }
    // The posts that carried the phone or the email, whatever they were
    // answered, newest first; each read through the index alone.
    let posts = |q: &str| {
        let page = list(&s, &format!("usage_log?q={q}&order=desc"));
        assert_eq!(page["scanned"], page["data"].as_array().unwrap().len());
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["code"].as_str().unwrap().to_string(),
                    e["query"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let with_email = "Phone=052-234-5088&Email=Noa@X.example".to_string();
    assert_eq!(
        posts("052-234-5088"),
        [
            ("001".into(), "Phone=0522345088&City=Eilat".into()),
            ("006".into(), with_email.clone()),
            ("000".into(), with_email.clone()),
        ]
    );
    assert_eq!(
        posts("NOA%40x.example"),
        [
            ("006".into(), with_email.clone()),
            ("000".into(), with_email)
        ]
    );
    assert_eq!(
        posts("050-123-4567"),
        [("008".into(), "Phone=050-123-4567".into())]
    );
    // What a post carried is in its entry.
    let entry = list(&s, "usage_log?q=0522345088&limit=1");
    assert_eq!(
        entry["data"][0]["carried"],
        serde_json::json!(["972522345088", "noa@x.example"])
    );
    assert_eq!(ids(&list(&s, "usage_log?q=0529999999")), Vec::<u64>::new());
    let r = admin(s.addr, "/admin/v1/tickets?q=0522345088");
    assert_eq!(r.status, 400, "{}", r.body);
}
