//! The CRM leads API (SPEC §7, seed 003): `GET|POST /developer/v1/leads`
//! with `action` = add | stat | info | list, authenticated by the
//! instance's `[crm] api_key` and an active user's `login`. Errors answer
//! with HTTP status = code and `{"result":"Error","error":{...}}`.

use std::fmt::Write as _;

use subtle::ConstantTimeEq;

use super::crm_words::Words;
use crate::app::App;
use crate::clock;
use crate::codes::CrmError;
use crate::config::Config;
use crate::http::body::Fields;
use crate::http::{Reply, Request};
use crate::store::inbox::{CrmAdd, LeadOrder, LeadQuery, UserRef};
use crate::store::writer::{Applied, Job};
use crate::store::Collection;
use crate::vocab::normalize;
use crate::vocab::records::InboxLead;

const PAGE: u64 = 200;

/// The most leads a `list` sorted by a field without an index may read.
const SORT_CAP: u64 = 100_000;

/// JSON string literal of `s`.
fn js(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// `{"result":"Error","error":{"code":400,"text":"Invalid API key"}}`, keys in the seed's order.
fn error(e: CrmError, text: &str) -> Reply {
    let code = e.status();
    let body = format!(
        "{{\"result\":\"Error\",\"error\":{{\"code\":{code},\"text\":{}}}}}",
        js(text)
    );
    Reply::json(code, body.into_bytes())
}

/// Today's date (`YYYY-MM-DD`) in the web branch's time zone.
pub fn today(cfg: &Config, now_ms: u64) -> String {
    clock::rfc3339_in(now_ms, cfg.web_tz)[..10].to_string()
}

fn valid_date(s: &str) -> bool {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() && s.len() == 10
}

pub fn handle(app: &App, req: &Request<'_>) -> Reply {
    if req.method != "GET" && req.method != "POST" {
        return error(
            CrmError::MethodNotAllowed,
            CrmError::MethodNotAllowed.words().1,
        );
    }
    let p = match Fields::decode(req.query, req.header("content-type"), req.body) {
        Ok(p) => p,
        Err(e) if e.status() == 413 => return error(CrmError::TooManyFields, &e.to_string()),
        Err(e) => return error(CrmError::BadParameter, &e.to_string()),
    };
    let cfg = app.config();
    let words = super::crm_words::words(&cfg.raw.crm.language);
    let key = cfg.raw.crm.api_key.as_bytes();
    let given = p.get("apikey").unwrap_or("").as_bytes();
    if key.is_empty() || !bool::from(given.ct_eq(key)) {
        return error(CrmError::BadKey, words.text(CrmError::BadKey));
    }
    let Some(_caller) = cfg.active_user(p.get("login").unwrap_or("")) else {
        return error(CrmError::UnknownUser, words.text(CrmError::UnknownUser));
    };
    match p.get("action").unwrap_or("") {
        "add" => add(app, &cfg, &p, words),
        "stat" => stat(app, &cfg),
        "info" => info(app, &p, words),
        "list" => list(app, &p, words),
        _ => error(CrmError::UnknownMethod, words.text(CrmError::UnknownMethod)),
    }
}

fn add(app: &App, cfg: &Config, p: &Fields, words: &Words) -> Reply {
    let get = |k: &str| p.get(k).unwrap_or("").to_string();
    let assigned = match p.get("user").filter(|u| !u.is_empty()) {
        Some(login) => match cfg
            .user_refs()
            .into_iter()
            .find(|u| u.active && u.login.eq_ignore_ascii_case(login))
        {
            Some(u) => Some(u),
            None => return error(CrmError::UnknownUser, words.text(CrmError::UnknownUser)),
        },
        None => None,
    };
    let now = app.clock.now_ms();
    let mut content = String::new();
    for k in [
        "title",
        "email",
        "phone",
        "company",
        "description",
        "ip",
        "country",
        "city",
        "path",
        "partner",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
    ] {
        let v = get(k);
        if !v.is_empty() {
            let _ = writeln!(content, "{k}: {v}");
        }
    }
    let lead = InboxLead {
        created_at: clock::rfc3339_utc(now),
        datum: today(cfg, now),
        email: normalize::email(&get("email")),
        phone: app.phones.normalize(&get("phone")),
        site: get("partner"),
        company: get("company"),
        city: get("city"),
        country: get("country"),
        content,
        client: get("title"),
        ..InboxLead::default()
    };
    let utm = get("utm_source");
    let draft = CrmAdd {
        lead,
        channel: if utm.is_empty() { get("path") } else { utm },
        assigned,
        users: cfg.user_refs(),
        at_ms: now,
    };
    match app.writer.call(|r| Job::CrmAdd(Box::new(draft), r)) {
        Ok(Ok(Applied::Stored(id))) => Reply::json(
            200,
            format!("{{\"result\":{{\"text\":\"Success\",\"id\":{id}}}}}").into_bytes(),
        ),
        Ok(_) => error(CrmError::Database, words.text(CrmError::Database)),
        Err(_) => error(CrmError::Busy, words.text(CrmError::Busy)),
    }
}

fn stat(app: &App, cfg: &Config) -> Reply {
    let month = &today(cfg, app.clock.now_ms())[..7];
    let rows = match app.store.lead_month(month) {
        Ok(r) => r,
        Err(e) => return error(CrmError::Database, &e.to_string()),
    };
    let data: Vec<String> = cfg
        .user_refs()
        .into_iter()
        .filter(|u: &UserRef| u.active)
        .map(|u| {
            let open = rows
                .iter()
                .filter(|(user, s)| *user == u.id && *s <= 1)
                .count();
            let processed = rows
                .iter()
                .filter(|(user, s)| *user == u.id && *s >= 2)
                .count();
            format!(
                "{{\"title\":{},\"open\":\"{open}\",\"processed\":\"{processed}\"}}",
                js(&u.login)
            )
        })
        .collect();
    Reply::json(
        200,
        format!("{{\"data\":[{}]}}", data.join(",")).into_bytes(),
    )
}

fn info(app: &App, p: &Fields, words: &Words) -> Reply {
    let Some(id) = p.get("id").and_then(|i| i.parse::<u64>().ok()) else {
        return error(CrmError::LeadNotFound, words.text(CrmError::LeadNotFound));
    };
    match app.store.get_raw(Collection::Leads, id) {
        Ok(Some(raw)) => {
            let mut out = b"{\"data\":".to_vec();
            out.extend_from_slice(&words.lead(&raw));
            out.push(b'}');
            Reply::json(200, out)
        }
        Ok(None) => error(CrmError::LeadNotFound, words.text(CrmError::LeadNotFound)),
        Err(e) => error(CrmError::Database, &e.to_string()),
    }
}

fn list(app: &App, p: &Fields, words: &Words) -> Reply {
    let page = match p.get("offset").filter(|o| !o.is_empty()) {
        None => 0,
        Some(o) => match o.parse::<u64>() {
            Ok(n) => n,
            Err(_) => return error(CrmError::BadParameter, "offset is a page number"),
        },
    };
    let order = match p.get("order").unwrap_or("") {
        "" | "datum" => LeadOrder::Datum,
        "id" => LeadOrder::Id,
        "datum_do" => LeadOrder::DatumDo,
        "status" => LeadOrder::Status,
        f if Collection::Leads.fields().iter().any(|k| k == f) => LeadOrder::Field(f.to_string()),
        f => {
            return error(
                CrmError::BadParameter,
                &format!("order: a lead has no field {f:?}"),
            )
        }
    };
    let newest_first = match p.get("first").unwrap_or("") {
        "" | "new" => true,
        "old" => false,
        _ => return error(CrmError::BadParameter, "first is new or old"),
    };
    let mut dates = [None, None];
    for (slot, name) in dates.iter_mut().zip(["datestart", "dateend"]) {
        if let Some(d) = p.get(name).filter(|d| !d.is_empty()) {
            if !valid_date(d) {
                return error(CrmError::BadParameter, "dates are YYYY-MM-DD");
            }
            *slot = Some(d.to_string());
        }
    }
    let [date_start, date_end] = dates;
    let q = LeadQuery {
        order,
        newest_first,
        page,
        page_size: PAGE,
        date_start,
        date_end,
    };
    if let LeadOrder::Field(f) = &q.order {
        match app.store.lead_count(&q) {
            Ok(n) if n > SORT_CAP => {
                return error(
                    CrmError::BadParameter,
                    &format!("order={f} reads every lead in the date range ({n}); narrow dateStart/dateEnd to at most {SORT_CAP}"),
                )
            }
            Ok(_) => {}
            Err(e) => return error(CrmError::Database, &e.to_string()),
        }
    }
    match app.store.lead_page(&q) {
        Ok(rows) => {
            let mut out = b"{\"data\":[".to_vec();
            for (i, r) in rows.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&words.lead(r));
            }
            out.extend_from_slice(b"]}");
            Reply::json(200, out)
        }
        Err(e) => error(CrmError::Database, &e.to_string()),
    }
}
