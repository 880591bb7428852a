//! Buyers, deliveries and OData feedback (SPEC §8) over real HTTP, with
//! buyer receivers the test starts.

#[path = "common/peers.rs"]
mod peers;
#[path = "common/util.rs"]
mod util;

use peers::HttpReceiver;
use util::*;

const KEY1: &str = "dpk_buyer_one_secret";
const KEY2: &str = "dpk_buyer_two_secret";

struct Buyers {
    one: HttpReceiver,
    two: HttpReceiver,
    hook: HttpReceiver,
}

fn config(data: &std::path::Path, b: &Buyers) -> String {
    format!(
        r#"
{base}[outbox]
backoff_ms = 1000
max_attempts = 5
[[alerts]]
event = "Buyer_Feedback"
action = "webhook"
to = "{hook}"
[[feedback_reasons]]
id = 3
name = "No answer"
[[feedback_reasons]]
id = 4
name = "Sold"
[[buyers]]
id = 1
name = "Insurance Co"
api_key_sha256 = "{h1}"
[[buyers]]
id = 2
name = "Loans Ltd"
api_key_sha256 = "{h2}"
[[rules]]
id = 1
buyer = 1
method = "post_form"
url = "{one}"
routing_id_param = "RouteRef"
profiles = [1]
daily_cap = 2
fields = {{ first_name = "fname", phone1 = "tel" }}
[[rules]]
id = 2
buyer = 2
method = "post_json"
url = "{two_json}"
routing_id_param = "rid"
city = "Haifa"
fields = {{ email = "mail", city = "town" }}
[[rules]]
id = 3
buyer = 2
active = false
method = "get"
url = "{two_get}"
routing_id_param = "r"
fields = {{ phone1 = "p" }}
[[rules]]
id = 4
buyer = 2
method = "get"
url = "{two_get}"
routing_id_param = "r"
lead_supplier = "Google"
fields = {{ phone1 = "p" }}
{profile1}
{profile2}
"#,
        base = base_config(data),
        hook = b.hook.url("/feedback"),
        h1 = dataport::auth::sha256_hex(KEY1),
        h2 = dataport::auth::sha256_hex(KEY2),
        one = b.one.url("/in"),
        two_json = b.two.url("/json"),
        two_get = b.two.url("/get"),
        profile1 = buyers_profile(1, "leads"),
        profile2 = buyers_profile(2, "other"),
    )
}

fn buyers_profile(n: u32, form: &str) -> String {
    let rows = [
        ("FirstName", "clients", "first_name"),
        ("Phone", "clients", "phone1"),
        ("Email", "clients", "email"),
        ("City", "clients", "city"),
        ("Supplier", "clients", "lead_supplier"),
    ];
    Profile::new(n, form).rows(&rows).toml()
}

fn start_buyers(one: &[u16], two: &[u16]) -> (TestServer, Buyers) {
    let b = Buyers {
        one: HttpReceiver::start(one),
        two: HttpReceiver::start(two),
        hook: HttpReceiver::start(&[]),
    };
    let s = start_text(|d| config(d, &b));
    (s, b)
}

fn deliveries(s: &TestServer) -> Vec<serde_json::Value> {
    admin_json(s.addr, "/admin/v1/deliveries?limit=1000")["data"]
        .as_array()
        .unwrap()
        .clone()
}

fn odata(s: &TestServer, key: &str, target: &str) -> Response {
    let auth = format!("Bearer {key}");
    request(s.addr, "GET", target, &[("Authorization", &auth)], b"")
}

#[test]
fn rules_filter_cap_map_fields_and_carry_the_routing_id() {
    let (s, b) = start_buyers(&[], &[]);
    for (i, name) in ["Dana", "Avi", "Eli"].iter().enumerate() {
        assert_eq!(
            get(
                s.addr,
                &format!("/leads?FirstName={name}&Phone=05023456{i:02}&City=Tel%20Aviv")
            )
            .code(),
            "000"
        );
    }
    assert_eq!(
        get(
            s.addr,
            "/leads?FirstName=Rina&Phone=0502345690&Email=rina%40x.example&City=Haifa"
        )
        .code(),
        "000"
    );
    assert_eq!(
        get(s.addr, "/other?Phone=0502345691&Supplier=google").code(),
        "000"
    );
    assert_eq!(
        get(s.addr, "/leads?FirstName=Dana&Phone=0502345600").code(),
        "006",
        "no delivery for a duplicate"
    );
    assert!(eventually(
        || b.one.got().len() == 2 && b.two.got().len() == 2
    ));
    wait_rounds(s.addr, "dataport_outbox_rounds_total", 2);
    assert!(
        admin_json(s.addr, "/admin/v1/outbox?status=pending")["data"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing left to send"
    );
    assert_eq!(b.one.got().len(), 2, "rule 1: daily cap of 2");

    let ds = deliveries(&s);
    assert_eq!(ds.len(), 4);
    let rid = ds[0]["routing_id"].as_str().unwrap();
    let first = b
        .one
        .got()
        .into_iter()
        .find(|g| g.body.ends_with(rid))
        .expect("delivery 1 by its routing id");
    assert_eq!(
        (first.method.as_str(), first.target.as_str()),
        ("POST", "/in")
    );
    assert_eq!(
        first.body,
        format!("fname=Dana&tel=972502345600&RouteRef={rid}")
    );
    let json = b
        .two
        .got()
        .into_iter()
        .find(|g| g.target == "/json")
        .expect("rule 2 (city Haifa) as JSON");
    let v: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(
        (v["mail"].as_str(), v["town"].as_str()),
        (Some("rina@x.example"), Some("Haifa"))
    );
    assert!(v["rid"].as_str().unwrap().starts_with('R'));
    let g = b
        .two
        .got()
        .into_iter()
        .find(|g| g.target.starts_with("/get"))
        .expect("rule 4 (lead_supplier) as GET");
    assert!(
        g.target.starts_with("/get?p=972502345691&r=R"),
        "{}",
        g.target
    );
    // Every delivery sent, with its attempt's status, code and answer kept.
    assert!(eventually(|| deliveries(&s)
        .iter()
        .all(|d| d["status"] == "sent")));
    let d = &deliveries(&s)[0];
    assert_eq!(d["attempts"][0]["code"], 200);
    assert_eq!(d["attempts"][0]["response"], "ok");
    assert!(!d["delivered_at"].as_str().unwrap().is_empty());
    let routing: std::collections::HashSet<_> = deliveries(&s)
        .iter()
        .map(|d| d["routing_id"].to_string())
        .collect();
    assert_eq!(routing.len(), 4, "routing ids are unique");
}

#[test]
fn retries_after_failures_4xx_final_and_resend() {
    let (s, b) = start_buyers(&[500, 502], &[404]);
    assert_eq!(
        get(s.addr, "/leads?FirstName=A&Phone=0502345600&City=Haifa").code(),
        "000"
    );
    let of_rule =
        |s: &TestServer, r: u64| deliveries(s).into_iter().find(|d| d["rule"] == r).unwrap();
    assert!(eventually(|| of_rule(&s, 1)["attempts"]
        .as_array()
        .unwrap()
        .len()
        == 1));
    s.clock.advance_ms(1000);
    assert!(eventually(|| of_rule(&s, 1)["attempts"]
        .as_array()
        .unwrap()
        .len()
        == 2));
    s.clock.advance_ms(2000);
    assert!(
        eventually(|| of_rule(&s, 1)["status"] == "sent"),
        "{}",
        of_rule(&s, 1)
    );
    let attempts = of_rule(&s, 1)["attempts"].clone();
    let codes: Vec<u64> = attempts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["code"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [500, 502, 200]);
    assert_eq!(attempts[0]["status"], "retry");
    assert_eq!(b.one.got().len(), 3);
    // 404 from buyer 2: final at once.
    assert!(eventually(|| of_rule(&s, 2)["status"] == "failed"));
    assert_eq!(of_rule(&s, 2)["attempts"].as_array().unwrap().len(), 1);
    // An admin sends it again (the receiver now answers 200).
    let id = of_rule(&s, 2)["id"].as_u64().unwrap();
    let auth = format!("Bearer {TOKEN}");
    let r = request(
        s.addr,
        "POST",
        &format!("/admin/v1/deliveries/{id}/resend"),
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(eventually(|| of_rule(&s, 2)["status"] == "sent"));
    let r = request(
        s.addr,
        "POST",
        &format!("/admin/v1/deliveries/{id}/resend"),
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(r.status, 409, "only failed ones");
}

#[test]
fn odata_queries_isolation_feedback_and_keys() {
    let (s, b) = start_buyers(&[], &[]);
    for (i, city) in ["Eilat", "Acre", "Haifa", "Dimona"].iter().enumerate() {
        let q = format!(
            "/leads?FirstName=N{i}&Phone=05023457{i:02}&City={city}&Email=n{i}%40x.example"
        );
        assert_eq!(get(s.addr, &q).code(), "000");
        s.clock.advance_ms(60_000);
    }
    assert!(eventually(|| deliveries(&s)
        .iter()
        .all(|d| d["status"] == "sent")
        && deliveries(&s).len() == 3));

    // Isolation: each buyer sees its own deliveries only.
    let mine = odata(&s, KEY1, "/odata/Leads?$count=true");
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(mine.json()["@odata.count"], 2, "cap 2 of rule 1");
    let theirs = odata(&s, KEY2, "/odata/Leads").json();
    assert_eq!(theirs["value"].as_array().unwrap().len(), 1);
    let their_rid = theirs["value"][0]["RoutingId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(theirs["value"][0]["City"], "Haifa");
    assert_eq!(
        odata(&s, KEY1, &format!("/odata/Leads('{their_rid}')")).status,
        404
    );
    assert_eq!(
        odata(&s, KEY1, "/odata/Leads('nope')").json()["error"]["code"],
        "NotFound"
    );
    assert_eq!(get(s.addr, "/odata/Leads").status, 401);
    assert_eq!(odata(&s, "dpk_wrong", "/odata/Leads").status, 401);
    let r = request(
        s.addr,
        "GET",
        "/odata/FeedbackReasons",
        &[("X-Api-Key", KEY2)],
        b"",
    );
    assert_eq!(
        r.json()["value"],
        serde_json::json!([{"Id": 3, "Name": "No answer"}, {"Id": 4, "Name": "Sold"}])
    );

    // Query options.
    let v = |t: &str| odata(&s, KEY1, t).json()["value"].clone();
    assert_eq!(
        v("/odata/Leads?$filter=FirstName%20eq%20'N1'")[0]["Phone1"],
        "972502345701"
    );
    assert_eq!(
        v("/odata/Leads?$filter=City%20eq%20null")
            .as_array()
            .unwrap()
            .len(),
        2,
        "only delivered fields have values"
    );
    assert_eq!(v("/odata/Leads?$filter=FirstName%20eq%20'N9'%20or%20(FirstName%20ne%20'N1'%20and%20Phone1%20ne%20null)").as_array().unwrap().len(), 1);
    assert_eq!(
        v("/odata/Leads?$filter=FeedbackReasonId%20eq%20null")
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        v("/odata/Leads?$orderby=FirstName%20desc")[0]["FirstName"],
        "N1"
    );
    assert_eq!(
        v("/odata/Leads?$orderby=FirstName%20asc&$skip=1&$top=1")[0]["FirstName"],
        "N1"
    );
    assert_eq!(v("/odata/Leads?$top=1").as_array().unwrap().len(), 1);
    let sel = v("/odata/Leads?$select=RoutingId,City&$top=1");
    assert_eq!(sel[0].as_object().unwrap().len(), 2);
    let created = v("/odata/Leads?$orderby=CreatedAt")[1]["CreatedAt"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        v(&format!(
            "/odata/Leads?$filter=CreatedAt%20ge%20{}",
            created.replace('+', "%2B")
        ))
        .as_array()
        .unwrap()
        .len(),
        1
    );
    for bad in [
        "$filter=City%20like%20'x'",
        "$filter=Nope%20eq%201",
        "$orderby=Nope",
        "$top=-1",
        "$select=Nope",
        "$expand=X",
        "$count=maybe",
    ] {
        let r = odata(&s, KEY1, &format!("/odata/Leads?{bad}"));
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(r.json()["error"]["code"], "BadRequest");
    }

    // Feedback: 204, visible, history kept, Buyer_Feedback raised.
    let rid = v("/odata/Leads?$top=1")[0]["RoutingId"]
        .as_str()
        .unwrap()
        .to_string();
    let patch = |key: &str, rid: &str, body: &str| {
        let auth = format!("Bearer {key}");
        request(
            s.addr,
            "PATCH",
            &format!("/odata/Leads('{rid}')"),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
    };
    assert_eq!(
        patch(
            KEY1,
            &rid,
            r#"{"FeedbackReasonId":3,"FeedbackComment":"voicemail"}"#
        )
        .status,
        204
    );
    assert_eq!(
        patch(
            KEY1,
            &rid,
            r#"{"FeedbackReasonId":4,"FeedbackComment":"sold!"}"#
        )
        .status,
        204
    );
    let one = odata(&s, KEY1, &format!("/odata/Leads('{rid}')")).json();
    assert_eq!(
        (
            one["FeedbackReasonId"].as_u64(),
            one["FeedbackComment"].as_str()
        ),
        (Some(4), Some("sold!"))
    );
    assert_eq!(patch(KEY1, &rid, r#"{"FeedbackReasonId":99}"#).status, 400);
    assert_eq!(
        patch(KEY1, &rid, r#"{"Status":"x","FeedbackReasonId":3}"#).status,
        400
    );
    assert_eq!(
        patch(KEY2, &rid, r#"{"FeedbackReasonId":3}"#).status,
        404,
        "another buyer's lead"
    );
    let d = deliveries(&s)
        .into_iter()
        .find(|d| d["routing_id"] == rid.as_str())
        .unwrap();
    assert_eq!(d["feedback_history"].as_array().unwrap().len(), 2);
    assert!(eventually(|| b.hook.got().len() == 2));
    assert!(b.hook.got()[0].body.contains("Buyer_Feedback"));

    // $metadata is valid CSDL.
    let meta = odata(&s, KEY1, "/odata/$metadata");
    assert_eq!(meta.header("content-type"), Some("application/xml"));
    let doc = roxmltree::Document::parse(&meta.body).expect("well-formed XML");
    let lead = doc
        .descendants()
        .find(|n| n.has_tag_name("EntityType") && n.attribute("Name") == Some("Lead"))
        .unwrap();
    assert_eq!(
        lead.descendants()
            .find(|n| n.has_tag_name("PropertyRef"))
            .unwrap()
            .attribute("Name"),
        Some("RoutingId")
    );
    assert!(lead
        .descendants()
        .any(|n| n.has_tag_name("Property") && n.attribute("Name") == Some("FeedbackReasonId")));
    let sets: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("EntitySet"))
        .map(|n| n.attribute("Name").unwrap())
        .collect();
    assert_eq!(sets, ["Leads", "FeedbackReasons"]);
    assert_eq!(
        odata(&s, KEY1, "/odata/").json()["value"][0]["url"],
        "Leads"
    );

    // A new key: shown once, the old one revoked, only the hash stored.
    let auth = format!("Bearer {TOKEN}");
    let r = request(
        s.addr,
        "POST",
        "/admin/v1/buyers/1/key",
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let new_key = r.json()["api_key"].as_str().unwrap().to_string();
    assert!(new_key.len() >= 32 + 4);
    assert_eq!(
        odata(&s, KEY1, "/odata/Leads").status,
        401,
        "old key revoked"
    );
    assert_eq!(odata(&s, &new_key, "/odata/Leads").status, 200);
    let buyer = admin_json(s.addr, "/admin/v1/buyers/1");
    assert_eq!(
        buyer["api_key_sha256"],
        dataport::auth::sha256_hex(&new_key)
    );
    assert!(!buyer.to_string().contains(&new_key));
}
