//! The application's state: everything a request handler needs (the
//! configuration, the store and its writer, the caches and limiters). The
//! router that sends each path to its module is [`crate::router`].
//!
//! Floor: above `store`, `dns`, `http`, `captcha` and `vocab`; below every
//! handler (`intake`, `api`) and the router.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::clock::SharedClock;
use crate::config::{Config, RawConfig};
use crate::dedupe::DuplicateWindow;
use crate::metrics::Metrics;
use crate::store::writer::WriterHandle;
use crate::store::Store;
use crate::vocab::normalize::Phones;

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
    /// Cluster mode (issue 22); None on a single box.
    pub cluster: Option<crate::cluster::Cluster>,
    /// Email domain checks; None when `intake.dns_check` is off.
    pub domains: Option<crate::dns::DomainChecker>,
    /// Per-client-IP token buckets.
    pub limiter: crate::ratelimit::RateLimiter,
    /// Challenges of the mini form's captcha.
    pub captcha: crate::captcha::Captcha,
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
