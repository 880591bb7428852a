//! The router: which module answers each path. `/health`, `/metrics`,
//! `/admin/v1/…`, the console at `/admin/`, `/ForwardDialer/Dialer/{method}`, `/odata/…`,
//! `/developer/v1/leads`, `/static/{name}`, and every other first segment
//! is an intake profile's form name.
//!
//! Floor: the top of the request path; imports the handlers (`api`,
//! `intake`, `pages`) and the state they share (`app`).

use crate::app::App;
use crate::config::RESERVED_SEGMENTS;
use crate::http::{Body, Handler, Reply, Request};

impl Handler for App {
    fn handle(&self, req: &Request<'_>) -> Reply {
        let path = req.path;
        match path {
            "/health" => return get_only(req, || health(self)),
            "/metrics" => {
                return get_only(req, || {
                    let text = metrics_page(self);
                    Reply::new(
                        200,
                        "text/plain; version=0.0.4",
                        Body::Owned(text.into_bytes()),
                    )
                })
            }
            "/" => return Reply::error(404, "not found; post leads to /{form_name}"),
            _ => {}
        }
        let rest = &path[1..];
        let first = rest.split('/').next().unwrap_or("");
        if first == "admin" {
            if path.starts_with("/admin/v1/") {
                return crate::api::admin::handle(self, req);
            }
            return get_only(req, || {
                crate::pages::console::serve(path, !self.config().raw.admin.token.is_empty())
            });
        }
        if let Some(m) = path.strip_prefix("/ForwardDialer/Dialer/") {
            if !m.is_empty() && !m.contains('/') {
                return crate::api::dialer::handle(self, req);
            }
        }
        if first == "odata" {
            return crate::api::odata::handle(self, req);
        }
        if path == "/developer/v1/leads" {
            return crate::api::crm::handle(self, req);
        }
        if first == "static" {
            return get_only(req, || {
                let cfg = self.config();
                crate::pages::static_files::serve(
                    &cfg.http_dir,
                    &rest[first.len()..],
                    &cfg.static_frame_ancestors,
                )
            });
        }
        if RESERVED_SEGMENTS
            .iter()
            .any(|s| s.eq_ignore_ascii_case(first))
        {
            return Reply::error(404, "not found");
        }
        match req.method {
            "GET" | "POST" => crate::intake::handle(self, req, rest),
            _ => {
                let mut r = Reply::error(405, "use GET or POST");
                r.extra_headers.push_str("Allow: GET, POST\r\n");
                r
            }
        }
    }
}

fn get_only(req: &Request<'_>, f: impl FnOnce() -> Reply) -> Reply {
    if req.method == "GET" {
        f()
    } else {
        let mut r = Reply::error(405, "use GET");
        r.extra_headers.push_str("Allow: GET\r\n");
        r
    }
}

/// The `/metrics` page: the counters, and what the configuration and the
/// store know.
fn metrics_page(app: &App) -> String {
    let cfg = app.config();
    let size = app.store.size_info();
    let (patterns, pattern_room) = crate::vocab::normalize::phone_patterns_cached();
    app.metrics.render(&crate::metrics::Gathered {
        profiles: cfg
            .profiles
            .iter()
            .map(|p| (p.number, p.form_name.as_str(), &p.counters.by_code))
            .collect(),
        map_size: size.map_size,
        used_bytes: size.used_bytes,
        file_bytes: size.file_bytes,
        queued: app.writer.queued(),
        patterns,
        pattern_room,
    })
}

/// `/health`: ok on a single box; in cluster mode also whether NATS is
/// reachable. A node that refuses posts without NATS answers 503, so a
/// balancer sends them elsewhere; one that accepts stays 200, "degraded".
fn health(app: &App) -> Reply {
    let Some(c) = &app.cluster else {
        return Reply::static_json(200, br#"{"status":"ok"}"#);
    };
    let body: &'static [u8] = match (c.connected(), c.refuses()) {
        (true, _) => br#"{"status":"ok","cluster":"connected"}"#,
        (false, false) => {
            br#"{"status":"degraded","cluster":"unreachable","on_unreachable":"accept"}"#
        }
        (false, true) => {
            br#"{"status":"unavailable","cluster":"unreachable","on_unreachable":"refuse"}"#
        }
    };
    Reply::static_json(
        if c.connected() || !c.refuses() {
            200
        } else {
            503
        },
        body,
    )
}
