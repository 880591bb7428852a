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
