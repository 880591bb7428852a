//! The CRM leads API (SPEC §7) over real HTTP.

#[path = "common/peers.rs"]
mod peers;
#[path = "common/util.rs"]
mod util;

use peers::SmtpSink;
use util::*;

const DAY: u64 = 86_400_000;

fn config(data: &std::path::Path, smtp: u16) -> String {
    let crm = format!(
        r#"
[storage]
map_size_mb = 256
[crm]
api_key = "k3y"
[smtp]
host = "127.0.0.1"
port = {smtp}
from = "crm@example.com"
[templates.Crm_Lead_Assigned]
subject = "Lead {{{{id}}}} for {{{{userName}}}}"
body = "Call {{{{phone}}}} about {{{{client}}}}"
[[users]]
id = 1
login = "dana@example.com"
name = "Dana"
email = "dana@example.com"
[[users]]
id = 2
login = "gone@example.com"
name = "Gone"
email = "gone@example.com"
active = false
[[users]]
id = 3
login = "avi@example.com"
name = "Avi"
email = "avi@example.com"
{profile}"#,
        profile = Profile::new(1, "leads").rows(&[
            ("Phone", "clients", "phone1"),
            ("Email", "clients", "email"),
            ("Agent", "clients", "salesperson"),
            ("Boss", "contacts", "first_name"),
            ("BossEmail", "contacts", "email"),
            ("Src", "clients", "utm_source"),
        ]),
    );
    test_config(data, &crm)
}

fn crm(s: &TestServer, q: &str) -> Response {
    get(
        s.addr,
        &format!("/developer/v1/leads?login=dana%40example.com&apikey=k3y&{q}"),
    )
}

fn add(s: &TestServer, q: &str) -> u64 {
    let r = crm(s, &format!("action=add&{q}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["result"]["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("{}", r.body))
}

fn info(s: &TestServer, id: u64) -> serde_json::Value {
    crm(s, &format!("action=info&id={id}")).json()["data"].clone()
}

#[test]
fn errors_have_the_seed_codes_as_http_status() {
    let smtp = SmtpSink::start(false);
    let s = start_text(|d| config(d, smtp.port));
    let r = get(
        s.addr,
        "/developer/v1/leads?login=dana%40example.com&apikey=nope&action=stat",
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body, r#"{"result":"Error","error":{"code":400,"text":"Не верный API key"}}"#,
        "seed 003's words (issue 19)"
    );
    assert_eq!(
        get(
            s.addr,
            "/developer/v1/leads?login=x%40y.z&apikey=k3y&action=stat"
        )
        .status,
        401
    );
    assert_eq!(
        get(
            s.addr,
            "/developer/v1/leads?login=gone%40example.com&apikey=k3y&action=stat"
        )
        .status,
        401,
        "inactive"
    );
    let r = crm(&s, "action=fly");
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_u64()),
        (402, Some(402))
    );
    assert_eq!(crm(&s, "action=info&id=99").status, 404);
    assert_eq!(
        crm(&s, "action=add&title=X&user=nobody%40example.com").status,
        401
    );
    // POST with a JSON body works like GET.
    let r = request(
        s.addr,
        "POST",
        "/developer/v1/leads",
        &[("Content-Type", "application/json")],
        br#"{"login":"dana@example.com","apikey":"k3y","action":"add","title":"Json","phone":"050-234-5600"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = request(
        s.addr,
        "POST",
        "/developer/v1/leads",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"login=dana%40example.com&apikey=k3y&action=stat",
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn add_stores_every_parameter_and_assigns_by_each_rule() {
    let smtp = SmtpSink::start(false);
    let s = start_text(|d| config(d, smtp.port));
    let r = crm(&s, "action=add&title=Ivan%20Petrov&email=Ivan%40Mail.example&phone=%2B972-50-234-5601&company=SalesMan&description=Wants%20a%20demo&ip=10.0.0.9&country=IL&city=Haifa&path=Test%20Path&partner=partner.example&user=avi%40example.com&utm_source=google&utm_medium=cpc&utm_campaign=spring&utm_term=crm&utm_content=ad1");
    assert_eq!(r.body, r#"{"result":{"text":"Success","id":1}}"#);
    let l = info(&s, 1);
    assert_eq!(l["email"], "ivan@mail.example");
    assert_eq!(l["phone"], "972502345601");
    assert_eq!(
        (
            l["company"].as_str(),
            l["city"].as_str(),
            l["country"].as_str()
        ),
        (Some("SalesMan"), Some("Haifa"), Some("IL"))
    );
    assert_eq!(l["site"], "partner.example");
    for part in [
        "description: Wants a demo",
        "ip: 10.0.0.9",
        "utm_medium: cpc",
        "utm_campaign: spring",
        "utm_term: crm",
        "utm_content: ad1",
        "path: Test Path",
    ] {
        assert!(
            l["content"].as_str().unwrap().contains(part),
            "{part} in {}",
            l["content"]
        );
    }
    assert_eq!(
        (l["user"].as_u64(), l["userName"].as_str()),
        (Some(3), Some("Avi")),
        "assigned by `user`"
    );
    assert_eq!(
        (l["clientpath"].as_u64(), l["clientpathName"].as_str()),
        (Some(1), Some("google"))
    );
    assert_eq!(
        (
            l["status"].as_u64(),
            l["statusName"].as_str(),
            l["datum_do"].as_str()
        ),
        (Some(0), Some("Открыт"), Some(""))
    );
    // utm_source names the channel, created once; `path` when there is no utm_source.
    assert_eq!(
        info(&s, add(&s, "title=B&utm_source=Google"))["clientpath"],
        1
    );
    assert_eq!(info(&s, add(&s, "title=C&path=Fair"))["clientpath"], 2);

    // The owner of a client found by phone; of a contact's client found by email.
    let web = get(
        s.addr,
        "/leads?Phone=0502345610&Agent=avi%40example.com&Boss=Rina&BossEmail=rina%40corp.example",
    );
    let client = web.json()["RecordId"].as_u64().unwrap();
    let l = info(&s, add(&s, "title=Again&phone=0502345610"));
    assert_eq!(
        (l["user"].as_u64(), l["clid"].as_u64()),
        (Some(3), Some(client))
    );
    let l = info(&s, add(&s, "title=Rina&email=rina%40corp.example"));
    assert_eq!(l["user"], 3, "through the contact");
    assert_eq!(l["clid"], client);
    assert!(l["pid"].as_u64().unwrap() > 0);
    assert_eq!(l["person"], "Rina");
    // Otherwise the next active user in rotation (the inactive one skipped).
    let users: Vec<u64> = (0..4)
        .map(|i| {
            info(
                &s,
                add(&s, &format!("title=R{i}&phone=05023456{:02}", 50 + i)),
            )["user"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(users == [1, 3, 1, 3] || users == [3, 1, 3, 1], "{users:?}");

    // The responsible user is emailed (through the outbox, rendered template).
    assert!(eventually(|| smtp
        .mails()
        .iter()
        .filter(|m| m.to.iter().any(|t| t.contains("avi@example.com")))
        .count()
        >= 3));
    let first = smtp
        .mails()
        .into_iter()
        .find(|m| m.data.contains("Subject: Lead 1 for Avi"))
        .expect("mail for lead 1");
    assert!(
        first.data.contains("Call 972502345601 about Ivan Petrov"),
        "{}",
        first.data
    );
}

#[test]
fn stat_counts_this_month_per_active_user() {
    let smtp = SmtpSink::start(false);
    let s = start_text(|d| config(d, smtp.port));
    for _ in 0..3 {
        add(&s, "title=A&user=dana%40example.com");
    }
    add(&s, "title=B&user=avi%40example.com");
    let p = admin_patch(s.addr, "/admin/v1/leads/2", r#"{"status":2,"rezult":4}"#);
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.json()["datum_do"], "2026-11-22");
    assert_eq!(p.json()["rezultName"], "Not target");
    let r = crm(&s, "action=stat");
    assert_eq!(
        r.body,
        r#"{"data":[{"title":"dana@example.com","open":"2","processed":"1"},{"title":"avi@example.com","open":"1","processed":"0"}]}"#
    );
    s.clock.advance_ms(10 * DAY);
    assert!(
        crm(&s, "action=stat")
            .body
            .contains(r#"{"title":"dana@example.com","open":"0","processed":"0"}"#),
        "a new month"
    );
    assert_eq!(
        admin_patch(s.addr, "/admin/v1/leads/2", r#"{"status":7}"#).status,
        400
    );
    assert_eq!(
        admin_patch(s.addr, "/admin/v1/leads/2", r#"{"user":99}"#).status,
        400
    );
    let p = admin_patch(s.addr, "/admin/v1/leads/2", r#"{"status":1,"user":3}"#);
    assert_eq!(
        (p.json()["datum_do"].as_str(), p.json()["userName"].as_str()),
        (Some(""), Some("Avi")),
        "reopened"
    );
}

fn ids(r: &Response) -> Vec<u64> {
    r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_u64().unwrap())
        .collect()
}

#[test]
fn list_pages_orders_and_date_edges() {
    let smtp = SmtpSink::start(false);
    let s = start_text(|d| config(d, smtp.port));
    // Day 1: 203 leads, day 2: 2, day 3: 1 (a web lead among them).
    for i in 0..203 {
        add(&s, &format!("title=L{i}&user=dana%40example.com"));
    }
    s.clock.advance_ms(DAY);
    add(&s, "title=D2a&user=dana%40example.com");
    add(&s, "title=D2b&user=dana%40example.com");
    s.clock.advance_ms(DAY);
    let web = get(s.addr, "/leads?Phone=0502345699&Src=facebook");
    assert_eq!(web.code(), "000");

    let p0 = crm(&s, "action=list");
    let p1 = crm(&s, "action=list&offset=1");
    assert_eq!(ids(&p0).len(), 200);
    assert_eq!(ids(&p0)[0], 206, "newest first by default");
    assert_eq!(
        ids(&p1),
        (1..=6).rev().collect::<Vec<_>>(),
        "the rest, no overlap"
    );
    assert!(ids(&crm(&s, "action=list&offset=2")).is_empty());
    let old = crm(&s, "action=list&first=old&order=id");
    assert_eq!(ids(&old)[..3], [1, 2, 3]);
    assert_eq!(ids(&crm(&s, "action=list&first=old&offset=1"))[0], 201);
    // The web lead, linked to its client, in the inbox.
    let top = &p0.json()["data"][0];
    assert_eq!(top["clid"], web.json()["RecordId"]);
    assert_eq!(top["clientpathName"], "facebook");
    assert_eq!(top["site"], "leads");
    // Dates are inclusive at both edges.
    let d1 = "2026-11-22";
    let d2 = "2026-11-23";
    let d3 = "2026-11-24";
    assert_eq!(
        ids(&crm(
            &s,
            &format!("action=list&dateStart={d2}&dateEnd={d2}")
        )),
        [205, 204]
    );
    assert_eq!(
        ids(&crm(&s, &format!("action=list&dateStart={d2}"))),
        [206, 205, 204]
    );
    assert_eq!(
        ids(&crm(
            &s,
            &format!("action=list&dateEnd={d1}&first=old&offset=1")
        )),
        [201, 202, 203]
    );
    assert_eq!(
        ids(&crm(
            &s,
            &format!("action=list&dateStart={d3}&dateEnd={d3}")
        )),
        [206]
    );
    assert!(ids(&crm(&s, "action=list&dateStart=2026-12-01")).is_empty());
    assert_eq!(crm(&s, "action=list&dateStart=22-11-2026").status, 400);
    // datum_do and status orders, ties broken by id in the same direction.
    admin_patch(s.addr, "/admin/v1/leads/10", r#"{"status":3}"#);
    admin_patch(s.addr, "/admin/v1/leads/20", r#"{"status":2}"#);
    let by_status = ids(&crm(&s, "action=list&order=status"));
    assert_eq!(
        by_status[..2],
        [10, 20],
        "status 3 (lead 10) before status 2 (lead 20)"
    );
    assert_eq!(
        ids(&crm(&s, "action=list&order=status&first=old"))[..2],
        [1, 2]
    );
    assert_eq!(
        ids(&crm(&s, "action=list&order=datum_do"))[..2],
        [20, 10],
        "same datum_do: newest id first"
    );
}
