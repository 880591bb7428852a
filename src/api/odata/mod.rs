//! OData v4 for buyers (SPEC §8): `/odata/` service document, `$metadata`
//! (CSDL), `Leads` — the calling buyer's deliveries only — with `$filter`,
//! `$orderby`, `$top`, `$skip`, `$select`, `$count`; a single lead by
//! `Leads('{RoutingId}')`; `PATCH` of its feedback (204); `FeedbackReasons`.
//! A buyer authenticates with `Authorization: Bearer <key>` or `X-Api-Key`;
//! the key is hashed and compared with the stored hash in constant time.
//! Errors are `{"error":{"code":"...","message":"..."}}`.

pub mod filter;

use serde_json::{Map, Value};

use crate::app::App;
use crate::codes::ODataError;
use crate::config::CLIENT_FIELDS;
use crate::http::body::Fields;
use crate::http::{Body, Reply, Request, TwoAuthorizations};
use crate::store::writer::{Applied, Job};
use crate::vocab::records::{DeliveryRecord, Feedback};

const ODATA_HEADERS: &str = "OData-Version: 4.0\r\n";

fn error(e: ODataError, message: &str) -> Reply {
    let mut r = Reply::json(
        e.status(),
        serde_json::json!({ "error": { "code": e.code(), "message": message } })
            .to_string()
            .into_bytes(),
    );
    r.extra_headers.push_str(ODATA_HEADERS);
    r
}

fn ok_json(v: Value) -> Reply {
    let mut r = Reply::new(
        200,
        "application/json;odata.metadata=minimal",
        Body::Owned(v.to_string().into_bytes()),
    );
    r.extra_headers.push_str(ODATA_HEADERS);
    r
}

/// `first_name` -> `FirstName`.
fn pascal(s: &str) -> String {
    s.split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// (name, EDM type) of every property of a `Lead`, in order.
fn lead_properties() -> Vec<(String, &'static str)> {
    let mut p = vec![
        ("RoutingId".to_string(), "Edm.String"),
        ("CreatedAt".into(), "Edm.DateTimeOffset"),
        ("DeliveredAt".into(), "Edm.DateTimeOffset"),
        ("Status".into(), "Edm.String"),
        ("Rule".into(), "Edm.Int64"),
    ];
    p.extend(CLIENT_FIELDS.iter().map(|f| (pascal(f), "Edm.String")));
    p.push(("FeedbackReasonId".into(), "Edm.Int64"));
    p.push(("FeedbackComment".into(), "Edm.String"));
    p.push(("FeedbackAt".into(), "Edm.DateTimeOffset"));
    p
}

pub fn metadata_xml() -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">\n\
  <edmx:DataServices>\n\
    <Schema Namespace=\"Dataport\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">\n\
      <EntityType Name=\"Lead\">\n        <Key><PropertyRef Name=\"RoutingId\"/></Key>\n",
    );
    for (name, ty) in lead_properties() {
        let nullable = if name == "RoutingId" {
            " Nullable=\"false\""
        } else {
            ""
        };
        x.push_str(&format!(
            "        <Property Name=\"{name}\" Type=\"{ty}\"{nullable}/>\n"
        ));
    }
    x.push_str(
        "      </EntityType>\n\
      <EntityType Name=\"FeedbackReason\">\n        <Key><PropertyRef Name=\"Id\"/></Key>\n\
        <Property Name=\"Id\" Type=\"Edm.Int64\" Nullable=\"false\"/>\n\
        <Property Name=\"Name\" Type=\"Edm.String\"/>\n\
      </EntityType>\n\
      <EntityContainer Name=\"Container\">\n\
        <EntitySet Name=\"Leads\" EntityType=\"Dataport.Lead\"/>\n\
        <EntitySet Name=\"FeedbackReasons\" EntityType=\"Dataport.FeedbackReason\"/>\n\
      </EntityContainer>\n\
    </Schema>\n\
  </edmx:DataServices>\n\
</edmx:Edmx>\n",
    );
    x
}

fn nullable(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        s.into()
    }
}

fn lead_entity(d: &DeliveryRecord) -> Value {
    let mut m = Map::new();
    m.insert("RoutingId".into(), d.routing_id.clone().into());
    m.insert("CreatedAt".into(), nullable(&d.created_at));
    m.insert("DeliveredAt".into(), nullable(&d.delivered_at));
    m.insert("Status".into(), d.status.clone().into());
    m.insert("Rule".into(), d.rule.into());
    for f in CLIENT_FIELDS {
        m.insert(
            pascal(f),
            d.lead.get(*f).map_or(Value::Null, |v| v.clone().into()),
        );
    }
    let fb = d.feedback.as_ref();
    m.insert(
        "FeedbackReasonId".into(),
        fb.map_or(Value::Null, |f| f.reason_id.into()),
    );
    m.insert(
        "FeedbackComment".into(),
        fb.map_or(Value::Null, |f| f.comment.clone().into()),
    );
    m.insert(
        "FeedbackAt".into(),
        fb.map_or(Value::Null, |f| f.at.clone().into()),
    );
    Value::Object(m)
}

/// The calling buyer, by its key; Err for two `Authorization` headers.
fn buyer_of(app: &App, req: &Request<'_>) -> Result<Option<u64>, TwoAuthorizations> {
    let Some(key) = req.bearer()?.or_else(|| req.header("x-api-key")) else {
        return Ok(None);
    };
    let key = key.trim();
    if key.is_empty() {
        return Ok(None);
    }
    let cfg = app.config();
    // Every buyer is checked, so the time taken does not say which one matched.
    let mut found = None;
    for b in cfg.raw.buyers.iter().filter(|b| b.active) {
        if crate::auth::key_matches(key, &b.api_key_sha256) {
            found = Some(b.id);
        }
    }
    Ok(found)
}

pub fn handle(app: &App, req: &Request<'_>) -> Reply {
    let rest = req.path.strip_prefix("/odata").unwrap_or("");
    let buyer = match buyer_of(app, req) {
        Ok(b) => b,
        Err(_) => return error(ODataError::BadRequest, TwoAuthorizations::MESSAGE),
    };
    let Some(buyer) = buyer else {
        let mut r = error(
            ODataError::Unauthorized,
            "a valid buyer API key is required (Authorization: Bearer or X-Api-Key)",
        );
        r.extra_headers.push_str("WWW-Authenticate: Bearer\r\n");
        return r;
    };
    match (req.method, rest) {
        ("GET", "" | "/") => ok_json(serde_json::json!({
            "@odata.context": "/odata/$metadata",
            "value": [
                { "name": "Leads", "kind": "EntitySet", "url": "Leads" },
                { "name": "FeedbackReasons", "kind": "EntitySet", "url": "FeedbackReasons" }
            ]
        })),
        ("GET", "/$metadata") => {
            let mut r = Reply::new(
                200,
                "application/xml",
                Body::Owned(metadata_xml().into_bytes()),
            );
            r.extra_headers.push_str(ODATA_HEADERS);
            r
        }
        ("GET", "/Leads") => match app.store.buyer_deliveries(buyer) {
            Ok(ds) => {
                let rows: Vec<Value> = ds.iter().map(lead_entity).collect();
                let props = lead_properties();
                let names: Vec<&str> = props.iter().map(|(n, _)| n.as_str()).collect();
                collection(req.query, "Leads", rows, &names)
            }
            Err(e) => error(ODataError::InternalError, &e.to_string()),
        },
        ("GET", "/FeedbackReasons") => {
            let rows: Vec<Value> = app
                .config()
                .raw
                .feedback_reasons
                .iter()
                .map(|f| serde_json::json!({ "Id": f.id, "Name": f.name }))
                .collect();
            collection(req.query, "FeedbackReasons", rows, &["Id", "Name"])
        }
        (method, path) => {
            let Some(routing) = path
                .strip_prefix("/Leads('")
                .and_then(|r| r.strip_suffix("')"))
                .map(|r| r.replace("''", "'"))
            else {
                return error(ODataError::NotFound, &format!("no resource {path:?}"));
            };
            let routing = crate::http::body::form_decode(routing.as_bytes()).unwrap_or(routing);
            let d = match app.store.delivery_by_routing(buyer, &routing) {
                Ok(Some(d)) => d,
                Ok(None) => {
                    return error(
                        ODataError::NotFound,
                        &format!("no lead with routing id {routing:?}"),
                    )
                }
                Err(e) => return error(ODataError::InternalError, &e.to_string()),
            };
            match method {
                "GET" => {
                    let mut v = lead_entity(&d);
                    if let Some(o) = v.as_object_mut() {
                        o.insert(
                            "@odata.context".into(),
                            "/odata/$metadata#Leads/$entity".into(),
                        );
                    }
                    ok_json(v)
                }
                "PATCH" => feedback(app, &d, req.body),
                _ => error(ODataError::MethodNotAllowed, "use GET or PATCH"),
            }
        }
    }
}

fn feedback(app: &App, d: &DeliveryRecord, body: &[u8]) -> Reply {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return error(ODataError::BadRequest, &format!("body is not JSON: {e}")),
    };
    let Some(obj) = v.as_object() else {
        return error(ODataError::BadRequest, "body must be a JSON object");
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "FeedbackReasonId" | "FeedbackComment"))
    {
        return error(
            ODataError::BadRequest,
            &format!("property {k:?} cannot be changed"),
        );
    }
    let Some(reason) = obj.get("FeedbackReasonId").and_then(Value::as_u64) else {
        return error(
            ODataError::BadRequest,
            "FeedbackReasonId (a number) is required",
        );
    };
    if !app
        .config()
        .raw
        .feedback_reasons
        .iter()
        .any(|r| r.id == reason)
    {
        return error(
            ODataError::BadRequest,
            &format!("no feedback reason {reason}"),
        );
    }
    let f = Feedback {
        reason_id: reason,
        comment: obj
            .get("FeedbackComment")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        at: crate::clock::rfc3339_utc(app.clock.now_ms()),
    };
    match app.writer.call(|r| Job::Feedback(d.id, f, r)) {
        Ok(Ok(Applied::Delivery(Some(_)))) => {
            let mut r = Reply::new(204, "application/json", Body::Static(b""));
            r.extra_headers.push_str(ODATA_HEADERS);
            r
        }
        Ok(_) => error(ODataError::InternalError, "feedback not stored"),
        Err(e) => error(ODataError::ServiceUnavailable, &e.to_string()),
    }
}

/// Applies the query options to an entity set and renders it.
fn collection(query: &str, set: &str, mut rows: Vec<Value>, props: &[&str]) -> Reply {
    let q = match Fields::decode(query, None, b"") {
        Ok(q) => q,
        Err(e) => return error(ODataError::BadRequest, &e.to_string()),
    };
    for f in q.iter() {
        if f.key.starts_with('$')
            && !matches!(
                f.key,
                "$filter" | "$top" | "$skip" | "$orderby" | "$select" | "$count"
            )
        {
            return error(
                ODataError::BadRequest,
                &format!("query option {} is not supported", f.name),
            );
        }
    }
    if let Some(text) = q.get("$filter") {
        match filter::parse(text, props) {
            Ok(e) => rows.retain(|r| filter::eval(&e, r)),
            Err(m) => return error(ODataError::BadRequest, &format!("$filter: {m}")),
        }
    }
    let count = rows.len();
    if let Some(spec) = q.get("$orderby") {
        if let Err(r) = order_by(spec, props, &mut rows) {
            return r;
        }
    }
    let number = |name: &str| -> Result<Option<usize>, Reply> {
        match q.get(name) {
            None => Ok(None),
            Some(v) => v.parse::<usize>().map(Some).map_err(|_| {
                error(
                    ODataError::BadRequest,
                    &format!("{name} must be a non-negative integer"),
                )
            }),
        }
    };
    let skip = match number("$skip") {
        Ok(n) => n.unwrap_or(0),
        Err(r) => return r,
    };
    let top = match number("$top") {
        Ok(n) => n,
        Err(r) => return r,
    };
    let rows: Vec<Value> = rows
        .into_iter()
        .skip(skip)
        .take(top.unwrap_or(usize::MAX))
        .collect();
    let rows = match select(q.get("$select"), props, rows) {
        Ok(rows) => rows,
        Err(r) => return r,
    };
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        format!("/odata/$metadata#{set}").into(),
    );
    match q.get("$count") {
        None | Some("false") => {}
        Some("true") => {
            out.insert("@odata.count".into(), count.into());
        }
        Some(_) => return error(ODataError::BadRequest, "$count is true or false"),
    }
    out.insert("value".into(), Value::Array(rows));
    ok_json(Value::Object(out))
}

/// `$orderby`: rows sorted by the listed properties, each asc or desc.
fn order_by(spec: &str, props: &[&str], rows: &mut [Value]) -> Result<(), Reply> {
    let bad = |m: String| error(ODataError::BadRequest, &m);
    let mut keys = Vec::new();
    for part in spec.split(',') {
        let mut w = part.split_whitespace();
        let (Some(name), dir, None) = (w.next(), w.next(), w.next()) else {
            return Err(bad(format!("$orderby: cannot read {part:?}")));
        };
        if !props.contains(&name) {
            return Err(bad(format!("$orderby: unknown property {name:?}")));
        }
        let desc = match dir {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(d) => return Err(bad(format!("$orderby: {d:?} is not asc or desc"))),
        };
        keys.push((name.to_string(), desc));
    }
    rows.sort_by(|a, b| {
        for (k, desc) in &keys {
            let o = cmp_json(&a[k.as_str()], &b[k.as_str()]);
            let o = if *desc { o.reverse() } else { o };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    Ok(())
}

/// `$select`: only the listed properties of each row (`*` or none: all).
fn select(sel: Option<&str>, props: &[&str], rows: Vec<Value>) -> Result<Vec<Value>, Reply> {
    let sel = match sel.map(str::trim) {
        None | Some("*") => return Ok(rows),
        Some(sel) => sel,
    };
    let wanted: Vec<&str> = sel.split(',').map(str::trim).collect();
    if let Some(bad) = wanted.iter().find(|w| !props.contains(w)) {
        return Err(error(
            ODataError::BadRequest,
            &format!("$select: unknown property {bad:?}"),
        ));
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let m: Map<String, Value> = wanted
                .iter()
                .map(|w| (w.to_string(), r[*w].clone()))
                .collect();
            Value::Object(m)
        })
        .collect())
}

/// Nulls first, then numbers, strings, booleans by their natural order.
fn cmp_json(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a, b) {
        (Value::Null, Value::Null) => Equal,
        (Value::Null, _) => Less,
        (_, Value::Null) => Greater,
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Equal)
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}
