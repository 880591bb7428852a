//! The application: everything a request handler needs, and the router that
//! sends each path to its module.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::clock::SharedClock;
use crate::config::{Config, RawConfig, RESERVED_SEGMENTS};
use crate::dedupe::DuplicateWindow;
use crate::http::{Body, Handler, Reply, Request};
use crate::vocab::normalize::Phones;
use crate::metrics::Metrics;
use crate::store::writer::WriterHandle;
use crate::store::Store;

pub struct App {
    /// The effective configuration: the file plus run-time overrides. Read
    /// with [`App::config`] (lock-free: an atomic load and an `Arc` clone;
    /// arc-swap's per-thread bookkeeping is touched only inside that call,
    /// never across a coroutine's yield); replaced whole by the admin API.
    pub cfg: ArcSwap<Config>,
    /// The configuration file's own entries, under the overrides.
    pub file: RawConfig,
    /// Serialises run-time configuration changes (a coroutine-aware lock:
    /// it is held across the commit).
    pub config_changes: may::sync::Mutex<()>,
    pub store: Arc<Store>,
    pub writer: WriterHandle,
    pub dedupe: Arc<DuplicateWindow>,
    pub clock: SharedClock,
    pub metrics: Arc<Metrics>,
    pub phones: Phones,
    /// Email domain checks; None when `intake.dns_check` is off.
    pub domains: Option<crate::dns::DomainChecker>,
    /// Per-client-IP token buckets.
    pub limiter: crate::ratelimit::RateLimiter,
    /// Challenges of the mini form's captcha.
    pub captcha: crate::intake::captcha::Captcha,
    /// Decoding buffers of posted fields, reused across requests.
    pub fields: crate::pool::Pool<crate::http::body::Fields>,
}

/// Field buffers kept for reuse (at most 8 KiB of text each).
pub const FIELD_BUFFERS_KEPT: usize = 1024;

impl App {
    pub fn config(&self) -> Arc<Config> {
        self.cfg.load_full()
    }

    pub fn set_config(&self, cfg: Config) {
        self.cfg.store(Arc::new(cfg));
    }
}

impl Handler for App {
    fn handle(&self, req: &Request<'_>) -> Reply {
        let path = req.path;
        match path {
            "/health" => return get_only(req, || Reply::static_json(200, br#"{"status":"ok"}"#)),
            "/metrics" => {
                return get_only(req, || {
                    let text =
                        self.metrics
                            .render(&self.config(), &self.store, self.writer.queued());
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
            return crate::api::admin::handle(self, req);
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
                crate::api::static_files::serve(
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
