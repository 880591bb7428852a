//! The dialer API (SPEC §9) over real HTTP, GET and POST-JSON, and the
//! dispatcher against a webhook receiver the test starts.

#[path = "common/peers.rs"]
mod peers;
#[path = "common/util.rs"]
mod util;

use std::time::Duration;

use peers::HttpReceiver;
use util::*;

const AGENT: &str = "cNnBe03V3A9LdNIRXVslapVNhEKG75GO";
const SMART: &str = "SmArTcAmPaIgN0000000000000000001";

fn config(data: &std::path::Path, hook: &HttpReceiver) -> String {
    format!(
        r#"
{base}[dialer]
account_code = "ACCOUNT-1"
backend = "webhook"
webhook_url = "{hook}"
dispatch_interval_ms = 100
timezone = "Asia/Jerusalem"
[[dialer.campaigns]]
id = 13570
name = "Hot leads"
code = "{AGENT}"
type = "agent"
enabled = false
[[dialer.campaigns]]
id = 2
name = "Smart"
code = "{SMART}"
type = "smart"
enabled = false
[[dialer.extensions]]
member = "SIPSIP1"
display_name = "Walter Melon"
[[dialer.extensions]]
member = "SIPSIP2"
display_name = "John Doe"
[[dnc]]
phone = "0502345600"
{profile}"#,
        base = base_config(data),
        profile = Profile::new(1, "leads")
            .text("dialer_campaign", AGENT)
            .rows(&[
                ("Phone", "clients", "phone1"),
                ("Name", "clients", "full_name"),
                ("Supplier", "clients", "lead_supplier"),
            ]),
        hook = hook.url("/originate"),
    )
}

fn d(s: &TestServer, method: &str, query: &str) -> serde_json::Value {
    let r = get(s.addr, &format!("/ForwardDialer/Dialer/{method}?{query}"));
    assert_eq!(r.status, 200, "{method}: {}", r.body);
    r.json()
}

fn dj(s: &TestServer, method: &str, body: &str) -> serde_json::Value {
    let r = request(
        s.addr,
        "POST",
        &format!("/ForwardDialer/Dialer/{method}"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{method}: {}", r.body);
    r.json()
}

fn code(v: &serde_json::Value) -> (i64, String) {
    (
        v["ErrorCode"].as_i64().unwrap(),
        v["Description"].as_str().unwrap().to_string(),
    )
}

fn pending(s: &TestServer, campaign: &str) -> Vec<serde_json::Value> {
    d(
        s,
        "GetCampaignPendingCalls",
        &format!("Campaign={campaign}"),
    )["Data"]["Calls"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn every_method_and_error_code_by_get_and_post_json() {
    let hook = HttpReceiver::start(&[]);
    let s = start_text(|p| config(p, &hook));
    // GetCampaignList
    assert_eq!(
        code(&d(&s, "GetCampaignList", "Code=nope")),
        (1, "Invalid account code".into())
    );
    let list = dj(&s, "GetCampaignList", r#"{"Code":"ACCOUNT-1"}"#);
    assert_eq!(code(&list), (0, "OK".into()));
    assert_eq!(list["Data"][0]["Name"], "Hot leads");
    assert_eq!(list["Data"][0]["StatusName"], "Disabled");
    assert!(
        list["Data"][0]["TotalAwaitingCalls"].is_null(),
        "null for agent campaigns"
    );
    assert_eq!(list["Data"][1]["TotalAwaitingCalls"], 0);
    let keys: Vec<&String> = list["Data"][0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "Name",
            "StatusName",
            "TotalPendingCalls",
            "MaxPriority",
            "MinPriority",
            "TotalAwaitingCalls",
            "Code"
        ]
    );

    // AddCall errors, then calls by GET (var_* extras) and POST-JSON.
    assert_eq!(
        code(&d(&s, "AddCall", "Campaign=bad&Target=0501234567")),
        (1, "Invalid campaign code".into())
    );
    assert_eq!(
        code(&d(&s, "AddCall", "Target=0501234567")),
        (1, "Campaign code missing".into())
    );
    assert_eq!(
        code(&d(&s, "AddCall", &format!("Campaign={AGENT}"))),
        (2, "Target missing".into())
    );
    assert_eq!(
        code(&d(&s, "AddCall", &format!("Campaign={AGENT}&Target=12ab"))),
        (-2, "Number is invalid".into())
    );
    assert_eq!(code(&d(&s, "AddCall", &format!("campaign={AGENT}&TARGET=0501234567&CustomerName=John%20Doe&Priority=42&var_leadID=1234567"))), (0, "OK".into()));
    let r = dj(
        &s,
        "AddCall",
        &format!(
            r#"{{"Campaign":"{AGENT}","Target":"+1 212 555 0100","CustomerName":"Ann","CallerID":"0722776772","Priority":7,"CustomData":{{"var_LeadID":99,"var_LeadCampaign":"Facebook"}}}}"#
        ),
    );
    assert_eq!(code(&r), (0, "OK".into()));
    // DNC, and its override.
    assert_eq!(
        code(&d(
            &s,
            "AddCall",
            &format!("Campaign={AGENT}&Target=050-234-5600")
        ))
        .0,
        3
    );
    assert_eq!(
        code(&d(
            &s,
            "AddCall",
            &format!("Campaign={AGENT}&Target=0502345600&IgnoreDncStatus=true&Priority=1")
        ))
        .0,
        0
    );

    let calls = pending(&s, AGENT);
    let phones: Vec<&str> = calls.iter().map(|c| c["Phone"].as_str().unwrap()).collect();
    assert_eq!(
        phones,
        ["972501234567", "12125550100", "972502345600"],
        "priority 42, 7, 1"
    );
    assert_eq!(calls[0]["CallID"], "1");
    assert_eq!(calls[2]["CallID"], "3", "CallID counts up per campaign");
    assert_eq!(calls[0]["Priorety"], 42);
    assert_eq!(calls[0]["CustomData"]["var_leadID"], "1234567");
    assert_eq!(calls[1]["CustomData"]["var_LeadCampaign"], "Facebook");
    assert_eq!(calls[1]["CallerID"], "0722776772");
    assert_eq!(
        calls[0]["CallStatus"],
        serde_json::json!({"Status": 1, "Description": "Tosend"})
    );
    let inserted = calls[0]["CallInserted"].as_str().unwrap();
    assert!(
        inserted.len() == 24 && inserted.ends_with('Z') && inserted.as_bytes()[19] == b'.',
        "milliseconds: {inserted}"
    );
    let camp =
        d(&s, "GetCampaignPendingCalls", &format!("Campaign={AGENT}"))["Data"]["Campaign"].clone();
    assert_eq!(
        (
            camp["ID"].as_u64(),
            camp["IsDynamic"].as_u64(),
            camp["Status"].as_u64()
        ),
        (Some(13570), Some(1), Some(2))
    );
    assert_eq!(
        (
            camp["TotalPendingCalls"].as_u64(),
            camp["MaxPriority"].as_i64(),
            camp["MinPriority"].as_i64()
        ),
        (Some(3), Some(42), Some(1))
    );
    assert_eq!(
        code(&d(&s, "GetCampaignPendingCalls", "Campaign=bad")),
        (2, "Internal error occurred".into())
    );

    // UpdateCall changes a pending call, or adds the target when absent.
    assert_eq!(code(&dj(&s, "UpdateCall", &format!(r#"{{"Campaign":"{AGENT}","Target":"0502345600","Priority":100,"IgnoreDncStatus":true}}"#))).0, 0);
    assert_eq!(pending(&s, AGENT)[0]["Phone"], "972502345600");
    assert_eq!(
        code(&d(
            &s,
            "UpdateCall",
            &format!("Campaign={AGENT}&Target=0533333333")
        ))
        .0,
        0
    );
    assert_eq!(pending(&s, AGENT).len(), 4);
    assert_eq!(
        code(&d(&s, "UpdateCall", &format!("Campaign={AGENT}&Target=x1"))).0,
        -2
    );

    // RemoveCall: every occurrence; OK when there is none.
    d(
        &s,
        "AddCall",
        &format!("Campaign={AGENT}&Target=0533333333"),
    );
    assert_eq!(
        code(&d(
            &s,
            "RemoveCall",
            &format!("Campaign={AGENT}&Target=0533333333")
        )),
        (0, "OK".into())
    );
    assert_eq!(pending(&s, AGENT).len(), 3);
    assert_eq!(
        code(&d(
            &s,
            "RemoveCall",
            &format!("Campaign={AGENT}&Target=0539999999")
        )),
        (0, "OK".into())
    );
    assert_eq!(
        code(&d(&s, "RemoveCall", &format!("Campaign={AGENT}"))).0,
        2
    );
    assert_eq!(
        code(&d(&s, "RemoveCall", "Campaign=bad&Target=0539999999")).0,
        1
    );

    // AddCallsBulk: one result per target.
    let bulk = dj(
        &s,
        "AddCallsBulk",
        &format!(
            r#"[{{"Campaign":"{SMART}","Target":"0541111111","CustomData":{{"var_LeadID":1}}}},{{"Campaign":"{SMART}","Target":"bad"}},{{"Campaign":"{SMART}"}}]"#
        ),
    );
    assert_eq!(code(&bulk), (0, "OK".into()));
    let res = bulk["AddResult"].as_array().unwrap();
    assert_eq!(
        (
            res[0]["ErrorCode"].as_i64(),
            res[0]["CustomData"]["var_LeadID"].as_i64()
        ),
        (Some(0), Some(1))
    );
    assert_eq!(
        (res[1]["ErrorCode"].as_i64(), res[1]["Description"].as_str()),
        (Some(-2), Some("Number is invalid"))
    );
    assert_eq!(res[2]["ErrorCode"], 2);
    assert_eq!(pending(&s, SMART).len(), 1);

    // ClearCampaignCalls.
    assert_eq!(
        code(&d(&s, "ClearCampaignCalls", "Campaign=bad")),
        (4, "Internal error occurred".into())
    );
    assert_eq!(
        code(&dj(
            &s,
            "ClearCampaignCalls",
            &format!(r#"{{"Campaign":"{SMART}"}}"#)
        ))
        .0,
        0
    );
    assert!(pending(&s, SMART).is_empty());

    // Members: agent campaigns only.
    assert_eq!(
        d(&s, "GetMembersList", &format!("Campaign={AGENT}"))["Data"],
        serde_json::json!([])
    );
    assert_eq!(
        code(&d(&s, "AddMember", &format!("Campaign={AGENT}"))),
        (2, "Member missing".into())
    );
    assert_eq!(
        code(&d(
            &s,
            "AddMember",
            &format!("Campaign={AGENT}&Member=NOPE")
        ))
        .0,
        2
    );
    assert_eq!(
        d(&s, "AddMember", &format!("campaign={AGENT}&member=SIPSIP1"))["Data"]["TotalAdded"],
        1
    );
    assert_eq!(
        dj(
            &s,
            "AddMember",
            &format!(r#"{{"Campaign":"{AGENT}","Member":"SIPSIP2"}}"#)
        )["Data"]["TotalAdded"],
        1
    );
    assert_eq!(
        d(&s, "GetMembersList", &format!("Campaign={AGENT}"))["Data"][0],
        serde_json::json!({"Member": "SIPSIP1", "DisplayName": "Walter Melon"})
    );
    assert_eq!(
        d(
            &s,
            "RemoveMember",
            &format!("Campaign={AGENT}&Member=SIPSIP2")
        )["Data"]["TotalRemoved"],
        1
    );
    assert_eq!(
        code(&d(
            &s,
            "AddMember",
            &format!("Campaign={SMART}&Member=SIPSIP1")
        ))
        .0,
        3
    );
    assert_eq!(code(&d(&s, "GetMembersList", "Campaign=bad")).0, 1);

    // Start / Stop / details / settings.
    assert_eq!(
        code(&d(&s, "StartCampaign", "Campaign=bad")),
        (1, "Invalid campaign code".into())
    );
    assert_eq!(
        code(&d(&s, "StopCampaign", "Campaign=bad")),
        (1, "Invalid campaign code".into())
    );
    assert_eq!(
        code(&d(&s, "StartCampaign", &format!("Campaign={SMART}"))).0,
        0
    );
    let det = d(&s, "GetCampaignDetails", &format!("Campaign={SMART}"));
    assert_eq!(
        (
            det["Data"]["StatusName"].as_str(),
            det["Data"]["Code"].as_str()
        ),
        (Some("Enabled"), Some(SMART))
    );
    assert_eq!(code(&d(&s, "GetCampaignDetails", "Campaign=bad")).0, 1);
    assert_eq!(
        code(&d(&s, "StopCampaign", &format!("Campaign={SMART}"))).0,
        0
    );
    let set = |q: &str| {
        code(&d(
            &s,
            "SetCampaignSettings",
            &format!("Campaign={SMART}&{q}"),
        ))
        .0
    };
    assert_eq!(
        set("setQueueForMonitoring=123456789&setQueueMaximumCallers=1&setCoefficient=2"),
        0
    );
    assert_eq!(
        set("setQueueForMonitoring=0&setQueueMaximumCallers=1&setCoefficient=2"),
        2
    );
    assert_eq!(
        set("setQueueForMonitoring=1&setQueueMaximumCallers=0&setCoefficient=2"),
        2
    );
    assert_eq!(
        set("setQueueForMonitoring=1&setQueueMaximumCallers=1&setCoefficient=1"),
        2
    );
    assert_eq!(code(&dj(&s, "SetCampaignSettings", r#"{"Campaign":"bad","setQueueForMonitoring":1,"setQueueMaximumCallers":1,"setCoefficient":2}"#)).0, 1);
}

#[test]
fn dispatcher_releases_in_priority_order_at_pace_and_never_while_disabled() {
    let hook = HttpReceiver::start(&[]);
    let s = start_text(|p| config(p, &hook));
    for (phone, prio) in [("0541111111", 1), ("0542222222", 5), ("0543333333", 3)] {
        d(
            &s,
            "AddCall",
            &format!("Campaign={AGENT}&Target={phone}&Priority={prio}"),
        );
    }
    // Scheduled an hour after now (GMT epoch): held until then.
    let later = T0 / 1000 + 3600;
    d(
        &s,
        "AddCall",
        &format!(
            "Campaign={AGENT}&Target=0544444444&Priority=9&OriginateTime={later}&IsDateLocal=false"
        ),
    );
    wait_rounds(s.addr, "dataport_dialer_rounds_total", 2);
    assert!(hook.got().is_empty(), "disabled campaign: nothing released");
    d(&s, "StartCampaign", &format!("Campaign={AGENT}"));
    wait_rounds(s.addr, "dataport_dialer_rounds_total", 2);
    assert!(
        hook.got().is_empty(),
        "agent campaign without members: nothing released"
    );
    d(&s, "AddMember", &format!("Campaign={AGENT}&Member=SIPSIP1"));
    assert!(eventually(|| hook.got().len() == 3));
    let phones: Vec<String> = hook
        .got()
        .iter()
        .map(|g| {
            serde_json::from_str::<serde_json::Value>(&g.body).unwrap()["Phone"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        phones,
        ["972542222222", "972543333333", "972541111111"],
        "higher priority first"
    );
    // The dispatcher commits a round's releases after the webhook answered,
    // so the receiver can see the third call a moment before the commit.
    assert!(
        eventually(|| pending(&s, AGENT).len() == 1),
        "the scheduled call waits, the released ones left the pending list"
    );
    // Released calls kept their history.
    let hist = admin_json(s.addr, "/admin/v1/calls?status=released");
    assert_eq!(hist["data"].as_array().unwrap().len(), 3);
    assert!(hist["data"][0]["backend_result"]
        .as_str()
        .unwrap()
        .starts_with("webhook 200"));
    // Pacing: 1 member x coefficient 2 = at most 2 calls a round (100 ms),
    // so the third call cannot arrive in the first round.
    let got = hook.got();
    assert!(
        got[2].at.duration_since(got[0].at) >= Duration::from_millis(50),
        "third call in a later round"
    );
    // Stopped: new calls stay pending even when due.
    d(&s, "StopCampaign", &format!("Campaign={AGENT}"));
    wait_rounds(s.addr, "dataport_dialer_rounds_total", 1);
    s.clock.advance_ms(3_600_000);
    wait_rounds(s.addr, "dataport_dialer_rounds_total", 2);
    assert_eq!(hook.got().len(), 3);
    d(&s, "StartCampaign", &format!("Campaign={AGENT}"));
    assert!(
        eventually(|| hook.got().len() == 4),
        "released once due and enabled"
    );
}

#[test]
fn a_new_lead_is_queued_with_its_custom_data() {
    let hook = HttpReceiver::start(&[]);
    let s = start_text(|p| config(p, &hook));
    let r = get(
        s.addr,
        "/leads?Phone=0502345678&Name=Dana%20Levi&Supplier=Facebook",
    );
    assert_eq!(r.code(), "000");
    let id = r.json()["RecordId"].as_u64().unwrap();
    let calls = pending(&s, AGENT);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["Phone"], "972502345678");
    assert_eq!(calls[0]["CustomerName"], "Dana Levi");
    assert_eq!(
        calls[0]["CustomData"],
        serde_json::json!({"var_LeadCampaign": "Facebook", "var_LeadID": id})
    );
    assert_eq!(
        get(
            s.addr,
            "/leads?Phone=0502345678&Name=Dana%20Levi&Supplier=Facebook"
        )
        .code(),
        "006"
    );
    s.clock.advance_ms(3_600_000);
    assert_eq!(
        get(s.addr, "/leads?Phone=0502345678&Supplier=Google").code(),
        "001"
    );
    assert_eq!(pending(&s, AGENT).len(), 1, "only new leads are queued");
}
