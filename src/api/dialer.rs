//! The dialer API (SPEC §9, seed 002): `/ForwardDialer/Dialer/{Method}` by
//! GET (query; `var_*` extras become CustomData) or POST-JSON, parameter
//! names case-insensitive, answers shaped as in the seed (`ErrorCode`,
//! `Description`, `Data`, and its spelling `Priorety`).

use serde_json::{json, Map, Value};

use crate::app::App;
use crate::codes::DialerAnswer;
use crate::config::raw::CampaignSpec;
use crate::config::Config;
use crate::http::body::Fields;
use crate::http::{Reply, Request};
use crate::store::dialer::{DialCall, DialerOp};
use crate::store::writer::{Applied, Job};
use crate::vocab::dial::normalize_target;

/// Case-insensitive request parameters.
struct Params(Vec<(String, String, Value)>);

impl Params {
    fn from_object(o: &Map<String, Value>) -> Params {
        Params(
            o.iter()
                .map(|(k, v)| (k.to_lowercase(), k.clone(), v.clone()))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _, _)| k == name).map(|(_, _, v)| v)
    }

    fn str(&self, name: &str) -> String {
        match self.get(name) {
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        }
    }

    fn int(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn flag(&self, name: &str) -> bool {
        match self.get(name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => {
                matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1")
            }
            Some(Value::Number(n)) => n.as_i64() == Some(1),
            _ => false,
        }
    }

    /// CustomData: the object given, plus GET extras named `var_*`.
    fn custom_data(&self) -> Option<Map<String, Value>> {
        let mut m = match self.get("customdata") {
            Some(Value::Object(o)) => o.clone(),
            _ => Map::new(),
        };
        for (k, orig, v) in &self.0 {
            if k.starts_with("var_") {
                m.insert(orig.clone(), v.clone());
            }
        }
        (!m.is_empty()).then_some(m)
    }
}

fn answer(a: DialerAnswer) -> Reply {
    let (code, description) = a.wire();
    answer_text(code, description)
}

/// An answer whose description is the caller's (an undecodable request).
fn answer_text(code: i64, description: &str) -> Reply {
    Reply::json(
        200,
        json!({ "ErrorCode": code, "Description": description })
            .to_string()
            .into_bytes(),
    )
}

fn with_data(data: Value) -> Reply {
    Reply::json(
        200,
        json!({ "Data": data, "ErrorCode": 0, "Description": "OK" })
            .to_string()
            .into_bytes(),
    )
}

fn params_of(req: &Request<'_>) -> Result<Vec<Params>, Reply> {
    let is_json = req
        .header("content-type")
        .is_some_and(|c| c.to_ascii_lowercase().contains("json"));
    if req.method == "POST" && is_json {
        let v: Value =
            serde_json::from_slice(req.body).map_err(|_| answer(DialerAnswer::InvalidJson))?;
        return match v {
            Value::Object(o) => Ok(vec![Params::from_object(&o)]),
            Value::Array(items) => Ok(items
                .iter()
                .map(|i| Params::from_object(i.as_object().unwrap_or(&Map::new())))
                .collect()),
            _ => Err(answer(DialerAnswer::InvalidJson)),
        };
    }
    let f = Fields::decode(req.query, req.header("content-type"), req.body)
        .map_err(|e| answer_text(DialerAnswer::InvalidJson.wire().0, &e.to_string()))?;
    Ok(vec![Params(
        f.iter()
            .map(|f| {
                (
                    f.key.to_string(),
                    f.name.to_string(),
                    Value::String(f.value.to_string()),
                )
            })
            .collect(),
    )])
}

fn campaign<'c>(cfg: &'c Config, code: &str) -> Option<&'c CampaignSpec> {
    cfg.raw.dialer.campaigns.iter().find(|c| c.code == code)
}

struct Stats {
    pending: usize,
    max: i64,
    min: i64,
}

fn stats(app: &App, code: &str) -> Stats {
    let calls = app
        .store
        .pending_calls(code, None, usize::MAX)
        .unwrap_or_default();
    Stats {
        pending: calls.len(),
        max: calls.iter().map(|c| c.priority).max().unwrap_or(0),
        min: calls.iter().map(|c| c.priority).min().unwrap_or(0),
    }
}

fn enabled(app: &App, c: &CampaignSpec) -> bool {
    app.store
        .campaign_state(&c.code)
        .ok()
        .and_then(|s| s.enabled)
        .unwrap_or(c.enabled)
}

fn status_name(on: bool) -> &'static str {
    if on {
        "Enabled"
    } else {
        "Disabled"
    }
}

pub fn handle(app: &App, req: &Request<'_>) -> Reply {
    if req.method != "GET" && req.method != "POST" {
        return Reply::error(405, "use GET or POST");
    }
    let method = req
        .path
        .trim_start_matches("/ForwardDialer/Dialer/")
        .to_ascii_lowercase();
    let all = match params_of(req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let cfg = app.config();
    if method == "addcallsbulk" {
        return add_bulk(app, &cfg, &all);
    }
    let p = all.into_iter().next().unwrap_or(Params(Vec::new()));
    if method == "getcampaignlist" {
        return campaign_list(app, &cfg, &p);
    }
    let code = p.str("campaign");
    let found = campaign(&cfg, &code);
    match method.as_str() {
        "addcall" | "updatecall" => {
            let Some(c) = found else {
                return if code.is_empty() {
                    answer(DialerAnswer::CampaignCodeMissing)
                } else {
                    answer(DialerAnswer::InvalidCampaignCode)
                };
            };
            match new_call(app, &cfg, c, &p) {
                Ok(call) => {
                    let op = if method == "addcall" {
                        DialerOp::Add(vec![call])
                    } else {
                        DialerOp::Update(Box::new(call))
                    };
                    write(app, op, || answer(DialerAnswer::Ok))
                }
                Err(a) => answer(a),
            }
        }
        "removecall" => {
            let Some(_) = found else {
                return answer(DialerAnswer::InvalidCampaignCode);
            };
            let target = p.str("target");
            if target.is_empty() {
                return answer(DialerAnswer::TargetMissing);
            }
            let phone = normalize_target(&target).unwrap_or(target);
            write(app, DialerOp::Remove(code, phone), || {
                answer(DialerAnswer::Ok)
            })
        }
        "clearcampaigncalls" => {
            let Some(_) = found else {
                return answer(DialerAnswer::InternalError);
            };
            write(app, DialerOp::Clear(code), || answer(DialerAnswer::Ok))
        }
        "getmemberslist" | "addmember" | "removemember" => {
            members(app, &cfg, &method, found, code, &p)
        }
        "stopcampaign" | "startcampaign" => {
            let Some(_) = found else {
                return answer(DialerAnswer::InvalidCampaignCode);
            };
            let mut state = app.store.campaign_state(&code).unwrap_or_default();
            state.enabled = Some(method == "startcampaign");
            write(app, DialerOp::SetState(code, state), || {
                answer(DialerAnswer::Ok)
            })
        }
        "getcampaignpendingcalls" => pending_calls(app, found),
        "getcampaigndetails" => {
            let Some(c) = found else {
                return answer(DialerAnswer::InvalidCampaignCode);
            };
            let s = stats(app, &c.code);
            with_data(json!({
                "Name": c.name, "StatusName": status_name(enabled(app, c)), "TotalPendingCalls": s.pending,
                "MaxPriority": s.max, "MinPriority": s.min,
                "TotalAwaitingCalls": if c.kind == "smart" { json!(s.pending) } else { Value::Null },
                "Code": c.code
            }))
        }
        "setcampaignsettings" => campaign_settings(app, found, code, &p),
        _ => Reply::error(404, &format!("no dialer method {method:?}")),
    }
}

/// GetCampaignList: every campaign, for the account's code.
fn campaign_list(app: &App, cfg: &Config, p: &Params) -> Reply {
    let code = p.str("code");
    let account = &cfg.raw.dialer.account_code;
    if account.is_empty()
        || !bool::from(subtle::ConstantTimeEq::ct_eq(
            code.as_bytes(),
            account.as_bytes(),
        ))
    {
        return answer(DialerAnswer::InvalidAccountCode);
    }
    let data: Vec<Value> = cfg
        .raw
        .dialer
        .campaigns
        .iter()
        .map(|c| {
            let s = stats(app, &c.code);
            json!({
                "Name": c.name, "StatusName": status_name(enabled(app, c)),
                "TotalPendingCalls": s.pending, "MaxPriority": s.max, "MinPriority": s.min,
                "TotalAwaitingCalls": if c.kind == "smart" { json!(s.pending) } else { Value::Null },
                "Code": c.code
            })
        })
        .collect();
    with_data(Value::Array(data))
}

/// GetCampaignPendingCalls: a campaign and its pending calls in dialling
/// order.
fn pending_calls(app: &App, found: Option<&CampaignSpec>) -> Reply {
    let Some(c) = found else {
        return answer(DialerAnswer::PendingCallsError);
    };
    let calls = app
        .store
        .pending_calls(&c.code, None, usize::MAX)
        .unwrap_or_default();
    let s = stats(app, &c.code);
    let on = enabled(app, c);
    let list: Vec<Value> = calls
        .iter()
        .map(|k| {
            let mut call = json!({
                "CampaignID": c.id, "CallID": k.call_id.to_string(), "Phone": k.phone,
                "CallStatus": { "Status": 1, "Description": "Tosend" },
                "CallInserted": k.inserted, "CallerID": k.caller_id, "CallerName": k.caller_name,
                "CustomerName": k.customer_name, "Priorety": k.priority, "LastCallDate": Value::Null,
                "CustomData": k.custom_data.clone().map_or(Value::Null, Value::Object)
            });
            // What the sender scheduled, as it gave it (seed 002).
            if let (Some(t), Some(o)) = (k.originate_time, call.as_object_mut()) {
                o.insert("OriginateTime".into(), t.into());
                o.insert("IsDateLocal".into(), k.is_date_local.into());
            }
            call
        })
        .collect();
    Reply::json(
        200,
        json!({
            "ErrorCode": 0, "Description": "OK",
            "Data": {
                "Campaign": {
                    "ID": c.id, "Name": c.name, "Status": if on { 1 } else { 2 }, "Code": c.code,
                    "StatusName": status_name(on), "TotalPendingCalls": s.pending,
                    "MaxPriority": s.max, "MinPriority": s.min, "IsDynamic": if c.kind == "agent" { 1 } else { 0 }
                },
                "Calls": list
            }
        })
        .to_string()
        .into_bytes(),
    )
}

/// SetCampaignSettings: the queue settings, run-time state over the file.
fn campaign_settings(app: &App, found: Option<&CampaignSpec>, code: String, p: &Params) -> Reply {
    let Some(_) = found else {
        return answer(DialerAnswer::InvalidCampaignCode);
    };
    let (q, m, k) = (
        p.int("setqueueformonitoring"),
        p.int("setqueuemaximumcallers"),
        p.int("setcoefficient"),
    );
    let (Some(q), Some(m), Some(k)) = (q, m, k) else {
        return answer(DialerAnswer::SettingsRequired);
    };
    if q <= 0 || m <= 0 || k <= 1 {
        return answer(DialerAnswer::InvalidSettings);
    }
    let mut state = app.store.campaign_state(&code).unwrap_or_default();
    state.queue_for_monitoring = Some(q as u64);
    state.queue_max_callers = Some(m as u64);
    state.coefficient = Some(k as u64);
    write(app, DialerOp::SetState(code, state), || {
        answer(DialerAnswer::Ok)
    })
}

/// GetMembersList, AddMember and RemoveMember of an agent campaign.
fn members(
    app: &App,
    cfg: &Config,
    method: &str,
    found: Option<&CampaignSpec>,
    code: String,
    p: &Params,
) -> Reply {
    let Some(c) = found else {
        return answer(DialerAnswer::InvalidCampaignCode);
    };
    if c.kind != "agent" {
        return answer(DialerAnswer::AgentCampaignsOnly);
    }
    let mut state = app.store.campaign_state(&c.code).unwrap_or_default();
    let directory = &cfg.raw.dialer.extensions;
    if method == "getmemberslist" {
        let data: Vec<Value> = state
            .members
            .iter()
            .map(|m| {
                let name = directory
                    .iter()
                    .find(|e| &e.member == m)
                    .map(|e| e.display_name.clone())
                    .unwrap_or_default();
                json!({ "Member": m, "DisplayName": name })
            })
            .collect();
        return with_data(Value::Array(data));
    }
    let member = p.str("member");
    // Seed 002: an AddMember that adds nobody for a bad request
    // answers `TotalAdded` -1.
    let refused = |a: DialerAnswer| {
        if method != "addmember" {
            return answer(a);
        }
        let (code, text) = a.wire();
        Reply::json(
            200,
            json!({ "Data": { "TotalAdded": -1 }, "ErrorCode": code, "Description": text })
                .to_string()
                .into_bytes(),
        )
    };
    if member.is_empty() {
        return refused(DialerAnswer::MemberMissing);
    }
    let n = if method == "addmember" {
        if !directory.iter().any(|e| e.member == member) {
            return refused(DialerAnswer::InvalidMember);
        }
        if state.members.contains(&member) {
            0
        } else {
            state.members.push(member);
            1
        }
    } else {
        let before = state.members.len();
        state.members.retain(|m| m != &member);
        before - state.members.len()
    };
    let key = if method == "addmember" {
        "TotalAdded"
    } else {
        "TotalRemoved"
    };
    write(app, DialerOp::SetState(code, state), || {
        with_data(json!({ key: n }))
    })
}

fn write(app: &App, op: DialerOp, ok: impl FnOnce() -> Reply) -> Reply {
    match app.writer.call(|r| Job::Dialer(op, r)) {
        Ok(Ok(Applied::Numbers(_))) => ok(),
        _ => answer(DialerAnswer::InternalError),
    }
}

/// Builds a call from AddCall / UpdateCall parameters, or the seed's error.
fn new_call(
    app: &App,
    cfg: &Config,
    c: &CampaignSpec,
    p: &Params,
) -> Result<DialCall, DialerAnswer> {
    let target = p.str("target");
    if target.is_empty() {
        return Err(DialerAnswer::TargetMissing);
    }
    let phone = normalize_target(&target).ok_or(DialerAnswer::NumberInvalid)?;
    let blocked = cfg
        .raw
        .dnc
        .iter()
        .any(|d| normalize_target(&d.phone).as_deref() == Some(phone.as_str()));
    if blocked && !p.flag("ignoredncstatus") {
        return Err(DialerAnswer::InDoNotCallList);
    }
    let now = app.clock.now_ms();
    let local = p.flag("isdatelocal");
    let originate_time = p.int("originatetime").filter(|t| *t > 0);
    let originate_ms = match originate_time {
        Some(t) => {
            let tz: chrono_tz::Tz = cfg.raw.dialer.timezone.parse().unwrap_or(chrono_tz::UTC);
            epoch_to_utc_ms(t, local, tz)
        }
        _ => now,
    };
    let priority = match p.str("priority").as_str() {
        "" => 1,
        given => given.parse().map_err(|_| DialerAnswer::PriorityNotNumber)?,
    };
    Ok(DialCall {
        campaign: c.code.clone(),
        campaign_id: c.id,
        phone,
        customer_name: p.str("customername"),
        caller_id: p.str("callerid"),
        caller_name: p.str("callername"),
        priority,
        custom_data: p.custom_data(),
        originate_ms,
        originate_time,
        is_date_local: local,
        inserted: crate::clock::rfc3339_utc(now),
        ..DialCall::default()
    })
}

/// `OriginateTime` is epoch seconds; with `IsDateLocal` its wall-clock digits
/// are the account's local time, else GMT.
pub fn epoch_to_utc_ms(epoch_s: i64, local: bool, tz: chrono_tz::Tz) -> u64 {
    use chrono::TimeZone;
    if !local {
        return (epoch_s.max(0) as u64) * 1000;
    }
    let naive = chrono::DateTime::from_timestamp(epoch_s, 0)
        .unwrap_or_default()
        .naive_utc();
    match tz.from_local_datetime(&naive).earliest() {
        Some(t) => t.timestamp_millis().max(0) as u64,
        None => (epoch_s.max(0) as u64) * 1000,
    }
}

fn add_bulk(app: &App, cfg: &Config, all: &[Params]) -> Reply {
    let mut results = Vec::new();
    let mut calls = Vec::new();
    for p in all {
        let target = p.str("target");
        let code = p.str("campaign");
        let outcome = match campaign(cfg, &code) {
            None if code.is_empty() => Err(DialerAnswer::CampaignCodeMissing),
            None => Err(DialerAnswer::InvalidCampaignCode),
            Some(c) => new_call(app, cfg, c, p),
        };
        let (ec, text) = match outcome {
            Ok(call) => {
                calls.push(call);
                DialerAnswer::Ok.wire()
            }
            Err(e) => e.wire(),
        };
        results.push(json!({
            "Target": target, "ErrorCode": ec, "Description": text,
            "CustomData": p.custom_data().map_or(json!({}), Value::Object)
        }));
    }
    let done = || {
        Reply::json(
            200,
            json!({ "AddResult": results, "ErrorCode": 0, "Description": "OK" })
                .to_string()
                .into_bytes(),
        )
    };
    if calls.is_empty() {
        return done();
    }
    write(app, DialerOp::Add(calls), done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn originate_time_local_or_gmt() {
        // 2026-07-01 12:00:00 as digits; Jerusalem is UTC+3 in summer.
        let t = 1_782_907_200;
        assert_eq!(
            epoch_to_utc_ms(t, false, chrono_tz::Asia::Jerusalem),
            t as u64 * 1000
        );
        assert_eq!(
            epoch_to_utc_ms(t, true, chrono_tz::Asia::Jerusalem),
            (t as u64 - 3 * 3600) * 1000
        );
    }

    #[test]
    fn state_default_is_config() {
        assert_eq!(crate::store::dialer::CampaignState::default().enabled, None);
    }
}
