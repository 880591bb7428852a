//! The admin API (SPEC §10), read side: record collections as lists (JSON,
//! or CSV at `{collection}.csv`) and single records,
//! `PATCH /admin/v1/clients/{id}`. Bearer-token auth compared
//! in constant time; the API is off when the token is empty.

use subtle::ConstantTimeEq;

use crate::app::App;
use crate::clock::parse_rfc3339;
use crate::http::body::Fields;
use crate::http::{Reply, Request};
use crate::store::leads::ClientPatch;
use crate::store::writer::{Applied, Job};
use crate::store::Collection;

pub fn handle(app: &App, req: &Request<'_>) -> Reply {
    let cfg = app.config();
    let token = cfg.raw.admin.token.as_bytes();
    if token.is_empty() {
        return Reply::error(404, "the admin API is off ([admin] token is empty)");
    }
    let presented = match req.bearer() {
        Ok(t) => t.unwrap_or("").as_bytes(),
        Err(_) => return Reply::error(400, crate::http::TwoAuthorizations::MESSAGE),
    };
    if !bool::from(presented.ct_eq(token)) {
        let mut r = Reply::error(401, "missing or wrong bearer token");
        r.extra_headers.push_str("WWW-Authenticate: Bearer\r\n");
        return r;
    }
    let Some(rest) = req.path.strip_prefix("/admin/v1/") else {
        return Reply::error(404, "not found");
    };
    let mut parts = rest.trim_end_matches('/').split('/');
    let name = parts.next().unwrap_or("");
    let id = parts.next();
    match (name, id, parts.next(), parts.next(), req.method) {
        (_, _, None, _, _) => {}
        ("buyers", Some(id), Some("key"), None, "POST") => return new_buyer_key(app, id),
        ("deliveries", Some(id), Some("resend"), None, "POST") => return resend(app, id),
        _ => return Reply::error(404, "not found"),
    }
    if name == "stats" {
        return match (req.method, id) {
            ("GET", None) => super::admin_stats::handle(app, req.query),
            _ => Reply::error(405, "stats are read with GET /admin/v1/stats"),
        };
    }
    if let Some(kind) = crate::config::overrides::Kind::from_name(name) {
        return super::admin_config::handle(app, kind, id, req.method, req.body);
    }
    let (name, format) = match name.strip_suffix(".csv") {
        Some(n) if id.is_none() => (n, Format::Csv),
        _ => (name, Format::Json),
    };
    let Some(coll) = Collection::from_name(name) else {
        return Reply::error(404, &format!("no collection {name:?}"));
    };
    match (req.method, id) {
        ("GET", None) => list(app, coll, req.query, format),
        ("GET", Some(id)) => match id.parse::<u64>() {
            Ok(id) => match app.store.get_raw(coll, id) {
                Ok(Some(bytes)) => Reply::json(200, bytes),
                Ok(None) => Reply::error(404, &format!("no {} record {id}", coll.name())),
                Err(e) => Reply::error(500, &e.to_string()),
            },
            Err(_) => Reply::error(400, "record ids are integers"),
        },
        ("PATCH", Some(id)) if coll == Collection::Clients => patch_client(app, id, req.body),
        ("PATCH", Some(id)) if coll == Collection::Leads => patch_lead(app, id, req.body),
        _ => Reply::error(405, "method not allowed on this collection"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    /// `{collection}.csv`: bigger pages, the cursor in `X-Next-After`.
    Csv,
}

fn list(app: &App, coll: Collection, query: &str, format: Format) -> Reply {
    let max_scan = app.config().raw.admin.max_scan;
    let max_limit = if format == Format::Csv {
        max_scan
    } else {
        1000
    };
    let ListQuery {
        limit,
        after,
        newest_first,
        since,
        until,
        filters,
        indexed,
    } = match ListQuery::parse(app, coll, query, max_limit) {
        Ok(q) => q,
        Err(reply) => return reply,
    };
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(b"{\"data\":[");
    let mut rows: Vec<serde_json::Value> = Vec::new();
    let mut n = 0;
    let mut last_taken = None;
    let filtering = since.is_some() || until.is_some() || !filters.is_empty();
    let mut visit = |id: u64, bytes: &[u8]| {
        // Parsed once, only when a filter or the CSV writer needs the fields.
        let value = if filtering || format == Format::Csv {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
                return true;
            };
            if filtering && !record_matches(&v, since, until, &filters) {
                return true;
            }
            Some(v)
        } else {
            None
        };
        match value {
            Some(v) if format == Format::Csv => rows.push(v),
            _ => {
                if n > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(bytes);
            }
        }
        n += 1;
        last_taken = Some(id);
        n < limit
    };
    let mut scanned = 0usize;
    let walked = walk(
        app,
        coll,
        (indexed, after, newest_first),
        max_scan,
        |id, bytes| {
            scanned += 1;
            visit(id, bytes)
        },
    );
    let capped_at = match walked {
        Ok(l) => l,
        Err(e) => return Reply::error(500, &e.to_string()),
    };
    // A full page, or a scan cut short by the cap, continues after the last id looked at.
    let next = if n == limit { last_taken } else { capped_at };
    if format == Format::Csv {
        let mut r = Reply::new(
            200,
            "text/csv; charset=utf-8",
            crate::http::Body::Owned(super::csv_export::render(&rows)),
        );
        r.extra_headers.push_str(&format!(
            "Content-Disposition: attachment; filename=\"{}.csv\"\r\n",
            coll.name()
        ));
        if let Some(id) = next {
            r.extra_headers.push_str(&format!("X-Next-After: {id}\r\n"));
        }
        return r;
    }
    out.extend_from_slice(b"],\"next\":");
    match next {
        Some(id) => out.extend_from_slice(format!("\"{id}\"").as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    // `complete: false`: `admin.max_scan` records were read without filling
    // the page; `next` goes on from the last one read.
    out.extend_from_slice(
        format!(
            ",\"scanned\":{scanned},\"complete\":{}}}",
            capped_at.is_none()
        )
        .as_bytes(),
    );
    Reply::json(200, out)
}

/// Hands `visit` the records of a list page in order until it says stop:
/// the ones an index named (only those are read), or a scan of the
/// collection bounded by `max_scan`. Some(last id looked at) when the bound
/// cut the scan short.
fn walk(
    app: &App,
    coll: Collection,
    (indexed, after, newest_first): (Option<Vec<u64>>, u64, bool),
    max_scan: usize,
    mut visit: impl FnMut(u64, &[u8]) -> bool,
) -> crate::store::Result<Option<u64>> {
    let Some(mut ids) = indexed else {
        return app.store.scan(coll, (after, newest_first), max_scan, visit);
    };
    if newest_first {
        ids.reverse();
    }
    for id in ids {
        let beyond = match newest_first {
            false => id > after,
            true => after == 0 || id < after,
        };
        if !beyond {
            continue;
        }
        if let Some(bytes) = app.store.get_raw(coll, id)? {
            if !visit(id, &bytes) {
                break;
            }
        }
    }
    Ok(None)
}

/// A list request's parameters: paging, time range, field filters, and the
/// records an index names when one serves the request.
struct ListQuery {
    limit: usize,
    /// The cursor: ids above it (below it, newest first; 0 = from the end).
    after: u64,
    /// `order=desc`: newest first, `next` goes on down.
    newest_first: bool,
    since: Option<u64>,
    until: Option<u64>,
    filters: Vec<(String, String)>,
    indexed: Option<Vec<u64>>,
}

impl ListQuery {
    fn parse(
        app: &App,
        coll: Collection,
        query: &str,
        max_limit: usize,
    ) -> Result<ListQuery, Reply> {
        let bad = |m: &str| Reply::error(400, m);
        let params = Fields::decode(query, None, b"").map_err(|e| bad(&e.to_string()))?;
        let mut q = ListQuery {
            limit: 100,
            after: 0,
            newest_first: false,
            since: None,
            until: None,
            filters: Vec::new(),
            indexed: None,
        };
        for f in params.iter() {
            match f.key {
                "limit" => match f.value.parse::<usize>() {
                    Ok(n) if n >= 1 => q.limit = n.min(max_limit),
                    _ => return Err(bad("limit must be a positive integer")),
                },
                "after" => {
                    q.after = f
                        .value
                        .parse()
                        .map_err(|_| bad("after must be a record id"))?
                }
                "order" => match f.value {
                    "asc" => q.newest_first = false,
                    "desc" => q.newest_first = true,
                    _ => return Err(bad("order is asc (oldest first) or desc (newest first)")),
                },
                "since" | "until" => match parse_rfc3339(f.value) {
                    Some(t) if f.key == "since" => q.since = Some(t),
                    Some(t) => q.until = Some(t),
                    None => return Err(bad(&format!("{} must be an RFC 3339 time", f.key))),
                },
                _ => q.filters.push((f.name.to_string(), f.value.to_string())),
            }
        }
        q.indexed =
            super::admin_search::candidates(app, coll, &mut q.filters).map_err(|e| bad(&e))?;
        let known = coll.fields();
        if let Some((k, _)) = q
            .filters
            .iter()
            .find(|(k, _)| !known.iter().any(|f| f.eq_ignore_ascii_case(k)))
        {
            return Err(bad(&format!(
                "{} records have no field {k:?}; filter on one of: limit, after, order, since, until, q (clients, contacts, leads, bad_leads, usage_log), {}",
                coll.name(),
                known.join(", ")
            )));
        }
        Ok(q)
    }
}

/// Whether a record falls within `since`..=`until` (its `created_at`) and
/// carries every filtered field value.
fn record_matches(
    v: &serde_json::Value,
    since: Option<u64>,
    until: Option<u64>,
    filters: &[(String, String)],
) -> bool {
    let at = v
        .get("created_at")
        .and_then(|t| t.as_str())
        .and_then(parse_rfc3339);
    if since.is_some_and(|s| at.is_none_or(|t| t < s))
        || until.is_some_and(|u| at.is_none_or(|t| t > u))
    {
        return false;
    }
    filters.iter().all(|(k, want)| field_equals(v, k, want))
}

fn field_equals(v: &serde_json::Value, key: &str, want: &str) -> bool {
    let found = v.get(key).or_else(|| {
        v.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
    });
    match found {
        Some(serde_json::Value::String(s)) => s == want,
        Some(serde_json::Value::Number(n)) => n.to_string() == want,
        Some(serde_json::Value::Bool(b)) => (if *b { "true" } else { "false" }) == want,
        Some(serde_json::Value::Null) => want.is_empty(),
        _ => false,
    }
}

fn patch_client(app: &App, id: &str, body: &[u8]) -> Reply {
    let Ok(id) = id.parse::<u64>() else {
        return Reply::error(400, "record ids are integers");
    };
    let patch: ClientPatch = match serde_json::from_slice(body) {
        Ok(p) => p,
        Err(e) => return Reply::error(400, &format!("bad patch: {e}")),
    };
    if let Some(s) = patch.handling_status {
        if !(1..=4).contains(&s) {
            return Reply::error(400, "handling_status is 1 (new lead), 2 (in marketing), 3 (not interested) or 4 (client)");
        }
    }
    if let Some(b) = &patch.branch {
        if !b.is_empty() && !app.config().branches.iter().any(|x| &x.id == b) {
            return Reply::error(400, &format!("no branch {b:?}"));
        }
    }
    if let Some(s) = &patch.salesperson {
        if !s.is_empty() && app.config().active_user(s).is_none() {
            return Reply::error(400, &format!("no active user {s:?}"));
        }
    }
    match app.writer.call(|r| Job::PatchClient(id, patch, r)) {
        Ok(Ok(Applied::Client(Some(c)))) => {
            Reply::json(200, serde_json::to_vec(&c).unwrap_or_default())
        }
        Ok(Ok(_)) => Reply::error(404, &format!("no client {id}")),
        Ok(Err(e)) => Reply::error(500, &e.to_string()),
        Err(e) => Reply::error(503, &e.to_string()),
    }
}

fn patch_lead(app: &App, id: &str, body: &[u8]) -> Reply {
    let Ok(id) = id.parse::<u64>() else {
        return Reply::error(400, "record ids are integers");
    };
    let mut patch: crate::store::inbox::LeadPatch = match serde_json::from_slice(body) {
        Ok(p) => p,
        Err(e) => return Reply::error(400, &format!("bad patch: {e}")),
    };
    if patch.status.is_some_and(|s| s > 3) {
        return Reply::error(
            400,
            "status is 0 (open), 1 (in work), 2 (processed) or 3 (closed)",
        );
    }
    if patch.rezult.is_some_and(|r| r > 4) {
        return Reply::error(
            400,
            "rezult is 0 (none), 1 (spam), 2 (duplicate), 3 (other) or 4 (not target)",
        );
    }
    let cfg = app.config();
    if let Some(u) = patch.user {
        match cfg.user_refs().into_iter().find(|x| x.id == u) {
            Some(x) => patch.user_name = x.name,
            None if u == 0 => {}
            None => return Reply::error(400, &format!("no user with id {u}")),
        }
    }
    let today = crate::api::crm::today(&cfg, app.clock.now_ms());
    match app.writer.call(|r| Job::PatchLead(id, patch, today, r)) {
        Ok(Ok(Applied::InboxLead(Some(l)))) => {
            Reply::json(200, serde_json::to_vec(&l).unwrap_or_default())
        }
        Ok(Ok(_)) => Reply::error(404, &format!("no lead {id}")),
        Ok(Err(e)) => Reply::error(500, &e.to_string()),
        Err(e) => Reply::error(503, &e.to_string()),
    }
}

/// `POST /admin/v1/buyers/{id}/key`: a new key, answered once; only its
/// hash is stored, and the previous key stops working.
fn new_buyer_key(app: &App, id: &str) -> Reply {
    use crate::config::overrides::Kind;
    let Some(mut buyer) = app
        .config()
        .raw
        .buyers
        .iter()
        .find(|b| b.id.to_string() == id)
        .cloned()
    else {
        return Reply::error(404, &format!("no buyer {id}"));
    };
    let key = crate::auth::new_api_key();
    buyer.api_key_sha256 = crate::auth::sha256_hex(&key);
    let body = serde_json::to_vec(&buyer).unwrap_or_default();
    let r = super::admin_config::handle(app, Kind::Buyers, Some(id), "PUT", &body);
    if r.status != 200 {
        return r;
    }
    Reply::json(
        200,
        serde_json::json!({ "api_key": key })
            .to_string()
            .into_bytes(),
    )
}

/// `POST /admin/v1/deliveries/{id}/resend`: a failed delivery goes out again.
fn resend(app: &App, id: &str) -> Reply {
    let Ok(id) = id.parse::<u64>() else {
        return Reply::error(400, "record ids are integers");
    };
    match app.writer.call(|r| Job::ResendDelivery(id, r)) {
        Ok(Ok(Applied::Resent(Some(true)))) => {
            Reply::json(202, br#"{"status":"pending"}"#.to_vec())
        }
        Ok(Ok(Applied::Resent(Some(false)))) => {
            Reply::error(409, "only a failed delivery can be sent again")
        }
        Ok(Ok(_)) => Reply::error(404, &format!("no delivery {id}")),
        Ok(Err(e)) => Reply::error(500, &e.to_string()),
        Err(e) => Reply::error(503, &e.to_string()),
    }
}
