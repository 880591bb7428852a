//! What a second reading of the seeds found (issue 19), one test per point,
//! over real HTTP against the real binary where a restart matters.

#[path = "common/util.rs"]
mod util;

use util::*;

fn keyed_config(data: &std::path::Path) -> String {
    let rows = [
        ("FirstName", "clients", "first_name"),
        ("LastName", "clients", "last_name"),
        ("Phone", "clients", "phone1"),
        ("1stPhone", "clients", "phone1"),
        ("Email", "clients", "email"),
        ("lead_source", "clients", "lead_supplier"),
    ];
    let sync = Profile::new(1, "sync").text("external_key_field", "CrmId");
    test_config(data, &sync.rows(&rows).toml())
}

fn answer(addr: std::net::SocketAddr, target: &str) -> (String, u64) {
    let r = get(addr, target);
    let v = r.json();
    (
        v["ResponseCode"].as_str().unwrap_or("").to_string(),
        v["RecordId"].as_u64().unwrap_or(0),
    )
}

fn client(addr: std::net::SocketAddr, id: u64) -> serde_json::Value {
    admin_json(addr, &format!("/admin/v1/clients/{id}"))
}

/// Seed 000: "the existence of this field replaces the duplicate-check
/// mechanism, since the responsibility lies with the external system".
#[test]
fn external_key_replaces_the_duplicate_checks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dataport.toml");
    std::fs::write(&path, keyed_config(&dir.path().join("data"))).unwrap();
    let b = Binary::start(&path);
    let a = b.addr;

    // A client without a key, by phone.
    let (code, plain) = answer(a, "/sync?FirstName=Plain&Phone=0522345671");
    assert_eq!(code, "000");
    // A new key with that client's phone: a new client carrying the key,
    // not 001 (client matching does not run) and not 006 (no window).
    let (code, k3) = answer(a, "/sync?CrmId=K3&FirstName=Three&Phone=0522345671");
    assert_eq!(code, "000");
    assert_ne!(k3, plain);
    assert_eq!(client(a, k3)["external_key"], "K3");
    // The key's next sync, within the hour: an update of its record.
    let (code, id) = answer(a, "/sync?CrmId=K3&FirstName=Three&Phone=0522345671");
    assert_eq!((code.as_str(), id), ("002", k3));
    // Another new key with the same phone within the hour: its own client.
    let (code, k4) = answer(a, "/sync?CrmId=K4&Phone=0522345671&Email=k4@example.com");
    assert_eq!(code, "000");
    assert!(k4 != k3 && k4 != plain);
    // A post without the key goes through the normal steps: it matches
    // the first client with that phone (001), and is a duplicate after.
    let (code, id) = answer(
        a,
        "/sync?FirstName=Again&Phone=0522345672&Email=k4@example.com",
    );
    assert_eq!((code.as_str(), id), ("001", k4));
    let (code, _) = answer(
        a,
        "/sync?FirstName=Again&Phone=0522345672&Email=k4@example.com",
    );
    assert_eq!(code, "006");
    // An empty key is no key.
    let (code, _) = answer(
        a,
        "/sync?CrmId=&FirstName=Again&Phone=0522345672&Email=k4@example.com",
    );
    assert_eq!(code, "006");

    // Across a restart: the keys are found in storage.
    assert!(b.term().success());
    let b = Binary::start(&path);
    let a = b.addr;
    let (code, id) = answer(a, "/sync?CrmId=K3&LastName=Later");
    assert_eq!((code.as_str(), id), ("002", k3));
    assert_eq!(client(a, k3)["last_name"], "Later");
    let (code, id) = answer(a, "/sync?CrmId=K4&FirstName=Four");
    assert_eq!((code.as_str(), id), ("002", k4));
    let (code, k5) = answer(a, "/sync?CrmId=K5&Phone=0522345671");
    assert_eq!(code, "000");
    assert!(![plain, k3, k4].contains(&k5));
    let keyed = admin_json(a, "/admin/v1/clients?limit=100")["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["phone1"] == "972522345671")
        .count();
    assert_eq!(keyed, 4, "the plain client and K3, K4's phone, K5");
}

/// Seed 000's own example posts `1stPhone=13101234567`.
#[test]
fn international_numbers_without_plus_are_not_mangled() {
    let s = start_text(keyed_config);
    let a = s.addr;
    // The seed's example: no valid number anywhere (a US exchange never
    // starts with 1), so the phone is kept exactly as sent, and the email
    // makes it a lead.
    let (code, id) = answer(
        a,
        "/sync?LastName=Cramer&FirstName=John&Email=john@gmail.com&1stPhone=13101234567&lead_source=Facebook123456&aff_num=10100",
    );
    assert_eq!(code, "000");
    let c = client(a, id);
    assert_eq!(c["phone1"], "13101234567");
    assert_eq!(c["lead_supplier"], "Facebook123456");
    // A valid US number without `+`: taken, in E.164.
    let (code, id) = answer(a, "/sync?FirstName=Us&Phone=13102345678");
    assert_eq!(code, "000");
    assert_eq!(client(a, id)["phone1"], "13102345678");
    // A UK mobile next to an email: its own number, not 972447911123456.
    let (code, id) = answer(
        a,
        "/sync?FirstName=Uk&Phone=447911123456&Email=uk@example.com",
    );
    assert_eq!(code, "000");
    assert_eq!(client(a, id)["phone1"], "447911123456");
    // An unallocated Israeli number next to an email: kept as sent.
    let (code, id) = answer(
        a,
        "/sync?FirstName=Il&Phone=050-123-4567&Email=il@example.com",
    );
    assert_eq!(code, "000");
    assert_eq!(client(a, id)["phone1"], "050-123-4567");
    // No usable phone or email: 008 as before.
    let (code, _) = answer(a, "/sync?FirstName=None&Phone=13101234567");
    assert_eq!(code, "008");
}

#[test]
fn code_009_names_the_acceptable_languages() {
    let s = start_text(|d| {
        let profile = Profile::new(1, "lang").rows(&[
            ("Phone", "clients", "phone1"),
            ("Name", "clients", "full_name"),
        ]);
        test_config(
            d,
            &format!("[intake]\nacceptable_scripts = [\"Hebrew\", \"Latn\"]\n{profile}"),
        )
    });
    let r = get(
        s.addr,
        "/lang?Phone=0522345681&Name=%D0%94%D0%B0%D0%BD%D0%B0",
    );
    assert_eq!(
        r.body,
        r#"{"ResponseCode":"009","ResponseMsgEng":"Please fill in the fields in the Acceptable Languages. (Hebrew, Latin)"}"#
    );
}

#[test]
fn a_circle_of_branches_as_the_seed_writes_it() {
    let s = start_text(|d| {
        let branches =
            "[[branches]]\nid = \"A1\"\n[[branches]]\nid = \"A3\"\n[[branches]]\nid = \"A4\"\n";
        let rows = [("Phone", "clients", "phone1")];
        test_config(
            d,
            &format!(
                "{branches}{}",
                Profile::new(1, "circle")
                    // As seed 000 writes it, without the closing ';'.
                    .text("circle_between_agencies", ";A1;A3;A4")
                    .rows(&rows)
                    .toml()
            ),
        )
    });
    let branches: Vec<String> = (0..4)
        .map(|i| {
            let (code, id) = answer(s.addr, &format!("/circle?Phone=05223456{:02}", 90 + i));
            assert_eq!(code, "000");
            client(s.addr, id)["branch"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(branches, ["A1", "A3", "A4", "A1"]);
    // Normalised: the admin API shows it with both semicolons.
    let p = admin_json(s.addr, "/admin/v1/profiles/1");
    assert_eq!(p["circle_between_agencies"], ";A1;A3;A4;");
    // And through the admin API without any.
    let body = r#"{"number": 2, "form_name": "circle2", "circle_between_agencies": "A3;A4",
        "fields": [{"external": "Phone", "table": "clients", "field": "phone1"}]}"#;
    let r = admin_send(s.addr, "POST", "/admin/v1/profiles", body);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["circle_between_agencies"], ";A3;A4;");
}

#[test]
fn a_field_row_without_table_belongs_to_the_main_table() {
    let s = start_text(|d| {
        // Rows without a table ("" below).
        let lead = Profile::new(1, "lead").rows(&[("Phone", "", "phone1"), ("City", "", "city")]);
        let ticket = Profile::new(2, "ticket")
            .text("type", "service_ticket")
            .rows(&[
                ("Name", "", "complainer_name"),
                ("About", "", "subject"),
                ("Phone", "", "return_phone"),
            ]);
        test_config(d, &format!("{lead}{ticket}"))
    });
    let (code, id) = answer(s.addr, "/lead?Phone=0522345682&City=Haifa");
    assert_eq!(code, "000");
    let c = client(s.addr, id);
    assert_eq!(
        (c["phone1"].as_str(), c["city"].as_str()),
        (Some("972522345682"), Some("Haifa"))
    );
    let (code, id) = answer(s.addr, "/ticket?Name=Dana&About=Broken&Phone=0522345683");
    assert_eq!(code, "000");
    let t = admin_json(s.addr, &format!("/admin/v1/tickets/{id}"));
    assert_eq!(t["subject"], "Broken");
    // A field the main table lacks is still an error, naming the table.
    let bad = dataport::config::Config::from_toml(&format!(
        "[intake]\nweb_branch = \"\"\n{}",
        Profile::new(1, "x").rows(&[("S", "", "subject")])
    ))
    .unwrap_err();
    assert!(
        bad.iter()
            .any(|e| e.message == "table clients has no field \"subject\""),
        "{bad:?}"
    );
}

#[test]
fn dns_check_is_on_by_default() {
    let cfg = dataport::config::Config::from_toml(dataport::config::EMBEDDED_DEFAULT).unwrap();
    assert!(
        cfg.raw.intake.dns_check,
        "the embedded default checks email domains"
    );
    // The test configurations turn it off where no resolver is wanted.
    let dir = tempfile::tempdir().unwrap();
    let test = dataport::config::Config::from_toml(&base_config(dir.path())).unwrap();
    assert!(!test.raw.intake.dns_check);
}

const CAMPAIGN: &str = "cNnBe03V3A9LdNIRXVslapVNhEKG75GO";

fn dialer(s: &TestServer, method: &str, query: &str) -> serde_json::Value {
    let r = get(s.addr, &format!("/ForwardDialer/Dialer/{method}?{query}"));
    assert_eq!(r.status, 200, "{method}: {}", r.body);
    r.json()
}

#[test]
fn small_dialer_points_of_seed_002() {
    let s = start_text(|d| {
        test_config(
            d,
            &format!(
                "[dialer]\naccount_code = \"ACC\"\n[[dialer.campaigns]]\nid = 1\nname = \"Hot\"\ncode = \"{CAMPAIGN}\"\n[[dialer.extensions]]\nmember = \"SIP1\"\n"
            ),
        )
    });
    let c = format!("Campaign={CAMPAIGN}");
    // An AddMember that adds nobody: TotalAdded -1.
    for query in [c.clone(), format!("{c}&Member=NOPE")] {
        let v = dialer(&s, "AddMember", &query);
        assert_eq!(v["ErrorCode"], 2, "{v}");
        assert_eq!(v["Data"]["TotalAdded"], -1, "{v}");
    }
    assert_eq!(
        dialer(&s, "AddMember", &format!("{c}&Member=SIP1"))["Data"]["TotalAdded"],
        1
    );
    // Priority that is not a number: error 4, nothing queued.
    let v = dialer(
        &s,
        "AddCall",
        &format!("{c}&Target=0522345684&Priority=high"),
    );
    assert_eq!(v["ErrorCode"], 4, "{v}");
    // A scheduled call shows what was given; an unscheduled one shows neither.
    let at = 1_900_000_000;
    let v = dialer(
        &s,
        "AddCall",
        &format!("{c}&Target=0522345685&Priority=3&OriginateTime={at}&IsDateLocal=true"),
    );
    assert_eq!(v["ErrorCode"], 0, "{v}");
    let v = dialer(&s, "AddCall", &format!("{c}&Target=0522345686"));
    assert_eq!(v["ErrorCode"], 0, "{v}");
    let calls = dialer(&s, "GetCampaignPendingCalls", &c)["Data"]["Calls"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(calls.len(), 2, "{calls:?}");
    let scheduled = calls.iter().find(|k| k["Phone"] == "972522345685").unwrap();
    assert_eq!(scheduled["OriginateTime"], at);
    assert_eq!(scheduled["IsDateLocal"], true);
    let plain = calls.iter().find(|k| k["Phone"] == "972522345686").unwrap();
    assert!(plain.get("OriginateTime").is_none() && plain.get("IsDateLocal").is_none());
}

fn crm_config(language: &str) -> impl FnOnce(&std::path::Path) -> String {
    let language = language.to_string();
    move |d| {
        test_config(
            d,
            &format!(
                "[crm]\napi_key = \"k3y\"\n{language}\n[[users]]\nid = 1\nlogin = \"dana@example.com\"\nname = \"Dana\"\n"
            ),
        )
    }
}

fn crm(s: &TestServer, q: &str) -> Response {
    get(
        s.addr,
        &format!("/developer/v1/leads?login=dana%40example.com&apikey=k3y&{q}"),
    )
}

#[test]
fn the_crm_api_speaks_its_seeds_words() {
    let s = start_text(crm_config(""));
    for (city, phone) in [
        ("Perm", "+79001234567"),
        ("Haifa", "0522345687"),
        ("Eilat", "0522345688"),
    ] {
        let r = crm(
            &s,
            &format!(
                "action=add&title=T&phone={}&city={city}",
                phone.replace('+', "%2B")
            ),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // Statuses, results and errors as seed 003 gives them.
    let lead = crm(&s, "action=info&id=1").json()["data"].clone();
    assert_eq!(
        (lead["statusName"].as_str(), lead["rezultName"].as_str()),
        (Some("Открыт"), Some(""))
    );
    let patched = admin_patch(s.addr, "/admin/v1/leads/1", r#"{"status":1,"rezult":2}"#);
    assert_eq!(patched.status, 200, "{}", patched.body);
    let listed = crm(&s, "action=list&order=id&first=old").json()["data"][0].clone();
    assert_eq!(
        (listed["statusName"].as_str(), listed["rezultName"].as_str()),
        (Some("В работе"), Some("Дубль"))
    );
    let texts = [
        (
            "/developer/v1/leads?login=dana%40example.com&apikey=bad&action=list",
            "Не верный API key",
        ),
        (
            "/developer/v1/leads?login=who%40example.com&apikey=k3y&action=list",
            "Неизвестный пользователь",
        ),
        (
            "/developer/v1/leads?login=dana%40example.com&apikey=k3y&action=fly",
            "Неизвестный метод",
        ),
    ];
    for (target, text) in texts {
        assert_eq!(
            get(s.addr, target).json()["error"]["text"],
            text,
            "{target}"
        );
    }
    // `order` takes any field of a lead.
    let cities = |q: &str| -> Vec<String> {
        crm(&s, q).json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["city"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        cities("action=list&order=city&first=old"),
        ["Eilat", "Haifa", "Perm"]
    );
    assert_eq!(cities("action=list&order=city"), ["Perm", "Haifa", "Eilat"]);
    assert_eq!(
        cities("action=list&order=phone&first=old"),
        ["Perm", "Haifa", "Eilat"]
    );
    let r = crm(&s, "action=list&order=colour");
    assert_eq!(r.status, 400, "{}", r.body);

    // `[crm] language = "en"` gives the English words.
    let s = start_text(crm_config("language = \"en\""));
    assert_eq!(
        crm(&s, "action=fly").json()["error"]["text"],
        "Unknown method"
    );
    assert_eq!(crm(&s, "action=add&title=T&phone=0522345689").status, 200);
    assert_eq!(
        crm(&s, "action=info&id=1").json()["data"]["statusName"],
        "Open"
    );
}

/// Seed 000: "on failure an error log is written". Every usage entry says
/// how its post was answered, and the admin API filters on it.
#[test]
fn every_posts_outcome_in_the_usage_log() {
    let s = start_text(keyed_config);
    let a = s.addr;
    let (_, first) = answer(a, "/sync?FirstName=A&Phone=0522345691");
    let (_, again) = answer(a, "/sync?FirstName=A&Phone=0522345691&Email=a@example.com");
    let _ = answer(a, "/sync?FirstName=A&Phone=0522345691&Email=a@example.com");
    let _ = answer(a, "/sync?FirstName=Nobody");
    let _ = answer(a, "/sync?FirstName=Bad&Phone=13101234567");
    let _ = answer(a, "/nowhere?Phone=0522345692");
    let (_, keyed) = answer(a, "/sync?CrmId=K9&Phone=0522345693");
    let (_, synced) = answer(a, "/sync?CrmId=K9&FirstName=Nine");
    assert_eq!(get(a, "/sync?Phone=%zz").status, 400);
    let log = |q: &str| -> Vec<serde_json::Value> {
        admin_json(a, &format!("/admin/v1/usage_log?{q}"))["data"]
            .as_array()
            .unwrap()
            .clone()
    };
    assert!(eventually(|| log("limit=100").len() == 9));
    let one = |q: &str| {
        let rows = log(q);
        assert_eq!(rows.len(), 1, "{q}: {rows:?}");
        rows[0].clone()
    };
    let created: Vec<_> = log("code=000")
        .iter()
        .map(|e| {
            (
                e["status"].as_u64().unwrap(),
                e["record_id"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(created, [(200, first), (200, keyed)]);
    let e = one("code=001");
    assert_eq!(
        (e["record_id"].as_u64(), e["reason"].as_str()),
        (
            Some(again),
            Some("OK and Already Exist. Sales team has been notified")
        )
    );
    assert_eq!(one("code=002")["record_id"].as_u64(), Some(synced));
    assert_eq!(one("code=006")["reason"], "Duplicated HTTP Post.");
    assert_eq!(one("code=003")["form"], "nowhere");
    let e = one("code=008&form=sync&query=FirstName%3DBad%26Phone%3D13101234567");
    assert!(
        e["reason"]
            .as_str()
            .unwrap()
            .contains("phone1 \"13101234567\" is not a plausible phone number"),
        "{e}"
    );
    assert_eq!(e["record_id"], 0);
    let e = one("status=400");
    assert_eq!(
        (e["code"].as_str(), e["reason"].as_str()),
        (Some(""), Some("invalid percent-encoding in a form field"))
    );
    assert_eq!(
        one("code=008&query=FirstName%3DNobody")["reason"],
        "missing any phone or email"
    );
    assert_eq!(
        log("code=007").len(),
        0,
        "a filter that matches nothing is an empty list"
    );
}
