//! The admin API's configuration collections (SPEC §10): `profiles` (with
//! their `fields` rows), `users` and `branches` — list, get, create (POST),
//! replace (PUT), delete. A change is checked by the same loader rules as
//! the file, stored in LMDB through the writer, and takes effect at once;
//! every entry shows where it came from (`"source": "file" | "api"`).
//! Deleting an API entry brings the file's entry of the same id back.
//!
//! In cluster mode a change is put in the cluster before it is applied here
//! (refused with 503 while NATS is away, so the nodes never disagree), and
//! the changes other nodes made arrive through [`apply_from_cluster`].

use crate::app::App;
use crate::config::overrides::{self, Kind};
use crate::http::Reply;
use crate::store::writer::Job;

pub fn handle(app: &App, kind: Kind, id: Option<&str>, method: &str, body: &[u8]) -> Reply {
    match (method, id) {
        ("GET", None) => match app.store.config_overrides() {
            Ok(ov) => {
                let data = overrides::list(&app.config().raw, &ov, kind);
                Reply::json(
                    200,
                    serde_json::json!({ "data": data, "next": null })
                        .to_string()
                        .into_bytes(),
                )
            }
            Err(e) => Reply::error(500, &e.to_string()),
        },
        ("GET", Some(id)) => match find(app, kind, id) {
            Some(v) => Reply::json(200, v.to_string().into_bytes()),
            None => Reply::error(404, &format!("no {} entry {id:?}", kind.name())),
        },
        ("POST", None) => change(app, kind, None, Some(body)),
        ("PUT", Some(id)) => change(app, kind, Some(id), Some(body)),
        ("DELETE", Some(id)) => change(app, kind, Some(id), None),
        _ => Reply::error(405, "method not allowed on this collection"),
    }
}

fn same_id(kind: Kind, a: &str, b: &str) -> bool {
    kind.canonical(a) == kind.canonical(b)
}

fn entry_id(kind: Kind, v: &serde_json::Value) -> String {
    let field = match kind {
        Kind::Profiles => "number",
        Kind::Users => "login",
        Kind::Campaigns => "code",
        Kind::Extensions => "member",
        Kind::Dnc => "phone",
        _ => "id",
    };
    match &v[field] {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn find(app: &App, kind: Kind, id: &str) -> Option<serde_json::Value> {
    let ov = app.store.config_overrides().ok()?;
    overrides::list(&app.config().raw, &ov, kind)
        .into_iter()
        .find(|v| same_id(kind, &entry_id(kind, v), id))
}

/// Create (no path id), replace (path id and body) or delete (no body).
fn change(app: &App, kind: Kind, path_id: Option<&str>, body: Option<&[u8]>) -> Reply {
    let _one_at_a_time = app.config_changes.lock();
    let (id, json) = match body {
        Some(b) => match overrides::parse_entry(kind, b) {
            Ok(x) => x,
            Err(e) => return Reply::error(400, &format!("bad {} entry: {e}", kind.name())),
        },
        // unwrap: DELETE always carries the id in the path.
        None => (path_id.unwrap_or_default().to_string(), Vec::new()),
    };
    if let (Some(p), Some(_)) = (path_id, body) {
        if !same_id(kind, p, &id) {
            return Reply::error(
                400,
                &format!("the id in the path ({p}) and in the body ({id}) differ"),
            );
        }
    }
    let id = kind.canonical(&id);
    let key = kind.key(&id);
    let mut ov = match app.store.config_overrides() {
        Ok(o) => o,
        Err(e) => return Reply::error(500, &e.to_string()),
    };
    let had_override = ov.iter().any(|(k, _)| *k == key);
    let creating = path_id.is_none();
    if creating && find(app, kind, &id).is_some() {
        return Reply::error(
            409,
            &format!("{} entry {id:?} exists; PUT replaces it", kind.name()),
        );
    }
    if body.is_none() && !had_override {
        return if overrides::in_file(&app.file, kind, &id) {
            Reply::error(
                409,
                &format!(
                    "{} entry {id:?} is defined in the configuration file; change it there",
                    kind.name()
                ),
            )
        } else {
            Reply::error(404, &format!("no {} entry {id:?}", kind.name()))
        };
    }
    ov.retain(|(k, _)| *k != key);
    if body.is_some() {
        ov.push((key.clone(), json.clone()));
    }
    let current = app.config();
    let merged = match overrides::merge(&app.file, &ov) {
        Ok(m) => m,
        Err(e) => return Reply::error(500, &e),
    };
    let new_cfg = match crate::config::validate_with(merged, Some(&current)) {
        Ok(c) => c,
        Err(errors) => {
            let details: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            // The same errors, structured: a profile's field-row errors name
            // the row (1-based) and its column, so the console shows each
            // where it belongs.
            let errors: Vec<serde_json::Value> = errors
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "location": e.location,
                        "message": e.message,
                        "row": e.row,
                        "column": e.column,
                    })
                })
                .collect();
            return Reply::json(
                400,
                serde_json::json!({
                    "error": "the change breaks the configuration",
                    "details": details,
                    "errors": errors,
                })
                .to_string()
                .into_bytes(),
            );
        }
    };
    if let Some(cluster) = &app.cluster {
        let change = crate::cluster::ConfigChange {
            key: key.clone(),
            json: body.map(|_| json.clone()),
        };
        if !cluster.put_config(change) {
            return Reply::error(
                503,
                "NATS is unreachable: a configuration change must reach every node of the cluster; nothing was changed",
            );
        }
    }
    let stored = app
        .writer
        .call(|r| Job::ConfigPut(key, body.map(|_| json), r));
    match stored {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Reply::error(500, &e.to_string()),
        Err(e) => return Reply::error(503, &e.to_string()),
    }
    app.set_config(new_cfg);
    if body.is_none() {
        return Reply::new(204, crate::http::JSON, crate::http::Body::Static(b""));
    }
    let shown = find(app, kind, &id).unwrap_or_default();
    Reply::json(
        if creating { 201 } else { 200 },
        shown.to_string().into_bytes(),
    )
}

/// Applies a configuration change the cluster holds (another node's, or
/// this node's own coming back), as the admin API would have; nothing when
/// this node already has it. A change this node's file cannot take (the
/// nodes' files differ) is logged and left out.
pub fn apply_from_cluster(app: &App, change: crate::cluster::ConfigChange) {
    let _one_at_a_time = app.config_changes.lock();
    let Ok(mut ov) = app.store.config_overrides() else {
        return;
    };
    let now = ov.iter().find(|(k, _)| *k == change.key).map(|(_, v)| v);
    if now == change.json.as_ref() {
        return;
    }
    ov.retain(|(k, _)| *k != change.key);
    if let Some(json) = &change.json {
        ov.push((change.key.clone(), json.clone()));
    }
    let current = app.config();
    let new_cfg = match overrides::merge(&app.file, &ov)
        .map_err(|e| vec![e])
        .and_then(|m| {
            crate::config::validate_with(m, Some(&current))
                .map_err(|errors| errors.iter().map(|e| e.to_string()).collect())
        }) {
        Ok(c) => c,
        Err(errors) => {
            tracing::warn!(key = %change.key, ?errors, "cluster: a configuration change this node cannot take");
            return;
        }
    };
    match app
        .writer
        .call(|r| Job::ConfigPut(change.key.clone(), change.json, r))
    {
        Ok(Ok(_)) => {
            app.set_config(new_cfg);
            tracing::info!(key = %change.key, "cluster: configuration change applied");
        }
        other => {
            tracing::warn!(key = %change.key, result = ?other.map(|r| r.map(drop)), "cluster: configuration change not stored")
        }
    }
}
