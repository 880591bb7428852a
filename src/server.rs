//! Start-up: opens the store, rebuilds the duplicate window from it, starts
//! the writer thread and the HTTP accept loop. Used by `dataport serve` and,
//! with an injected clock, by the integration tests.
//!
//! Floor: the top: wires every module and starts the threads.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::app::App;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::dedupe::DuplicateWindow;
use crate::http::conn::{self, Limits};
use crate::metrics::Metrics;
use crate::store::writer::{self, WriterConfig};
use crate::store::Store;
use crate::vocab::normalize::Phones;

/// Coroutine stack size in words. Measured (may reports it when the size is
/// odd): a form POST through the whole pipeline peaks near 41 KiB in a
/// release build and 112 KiB in a debug build, past may's 32 KiB default. An
/// overflow kills the process, so: 128 KiB (release), 256 KiB (debug). Only
/// touched pages become resident.
const STACK_WORDS: usize = if cfg!(debug_assertions) {
    0x8000
} else {
    0x4000
};

/// A running appliance.
pub struct Running {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    listen_fd: i32,
    /// The listener was shut down (once: its fd number may be reused after).
    listener_shut: std::sync::atomic::AtomicBool,
    _accept: may::coroutine::JoinHandle<()>,
}

/// A running appliance stops when dropped (the tests start many in one
/// process): no more connections are accepted, and the writer, the outbox
/// and the dialer threads end within a second, after committing what was
/// queued.
impl Drop for Running {
    fn drop(&mut self) {
        self.app
            .metrics
            .draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.shut_listener();
        self.app.writer.stop();
    }
}

impl Running {
    /// Wakes the accept loop: a shut-down listening socket fails accept().
    fn shut_listener(&self) {
        if !self
            .listener_shut
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            // Safety: the fd is the listener's, which the accept loop owns
            // until it sees this shutdown; never shut twice.
            unsafe {
                libc::shutdown(self.listen_fd, libc::SHUT_RDWR);
            }
        }
    }

    /// Graceful stop (SIGTERM): stop accepting, let in-flight requests
    /// finish (up to `grace`), then wait for everything queued to the
    /// writer to be committed. Every acknowledged record already was; this
    /// also commits the usage log and outbox state queued behind it.
    pub fn drain(&self, grace: Duration) {
        use std::sync::atomic::Ordering;
        let m = &self.app.metrics;
        m.draining.store(true, Ordering::SeqCst);
        self.shut_listener();
        let started = std::time::Instant::now();
        while m.connections_open.load(Ordering::SeqCst) > 0 && started.elapsed() < grace {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.app.writer.call(crate::store::writer::Job::Sync);
        tracing::info!(
            open = m.connections_open.load(Ordering::SeqCst),
            "drained: writer flushed"
        );
    }
}

/// Sets up the coroutine runtime; only the first call in a process counts.
pub fn configure_runtime(workers: usize, pin: bool) {
    let workers = if workers == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        workers
    };
    may::config()
        .set_workers(workers)
        .set_stack_size(STACK_WORDS);
    may::config().set_worker_pin(pin);
}

/// Raises the soft open-files limit towards `max_connections` (plus room for
/// the store, peers and logs), up to the hard limit: a flood of sockets must
/// meet the configured connection cap (a clean 503), not `EMFILE` at accept.
pub fn raise_open_files_limit(max_connections: usize) {
    let want = max_connections as libc::rlim_t + 1024;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a stack value of the type they expect.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 || lim.rlim_cur >= want {
            return;
        }
        let target = want.min(lim.rlim_max);
        if target > lim.rlim_cur {
            let before = lim.rlim_cur;
            lim.rlim_cur = target;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                tracing::info!(before, now = target, "raised the open-files limit");
            }
        }
    }
    if lim.rlim_cur < max_connections as libc::rlim_t {
        tracing::warn!(
            limit = lim.rlim_cur,
            max_connections,
            "the open-files limit is below max_connections; raise LimitNOFILE"
        );
    }
}

/// What runs on the appliance's one tokio thread, started only when needed:
/// the e-mail domain resolver (`dns_check`) and the NATS client (`[cluster]`).
fn async_services(
    cfg: &Config,
    clock: &SharedClock,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<(
    Option<crate::dns::DomainChecker>,
    Option<crate::cluster::Cluster>,
)> {
    // The one tokio thread, for the resolver and the NATS client.
    let runtime = if cfg.raw.intake.dns_check || cfg.raw.cluster.is_some() {
        Some(
            crate::async_thread::start()
                .map_err(|e| anyhow::anyhow!("cannot start the async thread: {e}"))?,
        )
    } else {
        None
    };
    let domains = if let (true, Some(rt)) = (cfg.raw.intake.dns_check, &runtime) {
        Some(crate::dns::DomainChecker::start(
            rt,
            &cfg.raw.intake.dns_servers,
            Duration::from_millis(cfg.raw.intake.dns_timeout_ms),
            clock.clone(),
            metrics.clone(),
        )?)
    } else {
        None
    };
    let cluster = match (&cfg.raw.cluster, &runtime) {
        (Some(c), Some(rt)) => Some(crate::cluster::Cluster::start(
            rt,
            c,
            cfg.raw.intake.duplicate_window_secs * 1000,
            metrics.clone(),
        )),
        _ => None,
    };
    Ok((domains, cluster))
}

pub fn start(cfg: Config, clock: SharedClock) -> anyhow::Result<Running> {
    configure_runtime(cfg.raw.server.workers, cfg.raw.server.pin_workers);
    raise_open_files_limit(cfg.raw.server.max_connections);
    let map_size = (cfg.raw.storage.map_size_mb as usize) << 20;
    let ceiling = crate::store::ceiling::switches();
    if ceiling.any() {
        tracing::warn!(
            ?ceiling,
            "measurement build: parts of the storage are switched off (DATAPORT_CEILING)"
        );
    }
    let store = Arc::new(Store::open(&cfg.data_dir, map_size)?);
    // Run-time changes made through the admin API sit on top of the file.
    let file = cfg.raw.clone();
    let (cfg, overrides) = effective_config(cfg, &store)?;
    tracing::info!(overrides, "configuration loaded");
    let cfg = Arc::new(cfg);
    let metrics = Arc::new(Metrics::default());

    let window_ms = cfg.raw.intake.duplicate_window_secs * 1000;
    let dedupe = duplicate_window(&cfg, &store, clock.now_ms())?;

    if let Some(c) = &cfg.raw.cluster {
        store.set_cluster_node(c.node_id);
    }
    let (writer, _join) = writer::spawn(
        store.clone(),
        WriterConfig {
            queue: cfg.raw.storage.write_queue,
            max_batch: cfg.raw.storage.max_batch,
            log_linger: Duration::from_millis(cfg.raw.storage.log_linger_ms),
            duplicate_window_ms: window_ms,
            usage_retention_ms: cfg.raw.logs.usage_retention_days * 86_400_000,
            usage_max_bytes: cfg.raw.logs.usage_max_bytes,
            notifications: crate::outbox::Notifications::from_config(&cfg),
            retry: crate::outbox::RetryPolicy {
                max_attempts: cfg.raw.outbox.max_attempts,
                backoff_ms: cfg.raw.outbox.backoff_ms,
                max_backoff_ms: cfg.raw.outbox.max_backoff_ms,
            },
        },
        clock.clone(),
        metrics.clone(),
    )?;

    crate::sender::spawn(
        store.clone(),
        writer.clone(),
        clock.clone(),
        crate::sender::SenderConfig {
            smtp: cfg.raw.smtp.clone(),
            sms: cfg.raw.sms.clone(),
            outbox: cfg.raw.outbox.clone(),
        },
        metrics.clone(),
    )
    .map_err(|e| anyhow::anyhow!("cannot start the outbox sender threads: {e}"))?;

    let limits = Arc::new(limits(&cfg));
    let listener = may::net::TcpListener::bind(cfg.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let listen_fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
    let (domains, cluster) = async_services(&cfg, &clock, &metrics)?;
    // Sized before `Phones::new` compiles its first patterns.
    crate::vocab::normalize::size_phone_pattern_cache(cfg.raw.intake.phone_pattern_cache);
    let phones = Phones::new(&cfg.raw.intake.default_country);
    let app = Arc::new(App {
        cluster,
        limiter: Default::default(),
        file,
        config_changes: may::sync::Mutex::new(()),
        captcha: crate::captcha::Captcha::new(
            clock.clone(),
            cfg.raw.intake.form_min_seconds * 1000,
        ),
        domains,
        phones,
        fields: crate::pool::Pool::new(crate::app::FIELD_BUFFERS_KEPT),
        cfg: arc_swap::ArcSwap::new(cfg),
        store,
        writer,
        dedupe,
        clock,
        metrics: metrics.clone(),
    });
    follow_cluster_config(&app)?;
    crate::replicate::spawn(&app)
        .map_err(|e| anyhow::anyhow!("cannot start the replication threads: {e}"))?;
    crate::dialer::spawn_dispatcher(app.clone())
        .map_err(|e| anyhow::anyhow!("cannot start the dialer thread: {e}"))?;
    let accept = conn::serve(listener, app.clone(), limits, metrics);
    Ok(Running {
        addr,
        app,
        listen_fd,
        listener_shut: Default::default(),
        _accept: accept,
    })
}

/// The file's configuration with the run-time changes stored in the data
/// dir on top, and how many there were.
fn effective_config(cfg: Config, store: &Store) -> anyhow::Result<(Config, usize)> {
    let overrides = store.config_overrides()?;
    if overrides.is_empty() {
        return Ok((cfg, 0));
    }
    let merged =
        crate::config::overrides::merge(&cfg.raw, &overrides).map_err(|e| anyhow::anyhow!(e))?;
    let cfg = crate::config::validate(merged).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        anyhow::anyhow!(
            "the configuration file and the run-time changes stored in the data dir disagree:\n  {}",
            list.join("\n  ")
        )
    })?;
    Ok((cfg, overrides.len()))
}

/// The hour window, rebuilt from the keys storage accepted within it.
fn duplicate_window(cfg: &Config, store: &Store, now: u64) -> anyhow::Result<Arc<DuplicateWindow>> {
    let intake = &cfg.raw.intake;
    let window_ms = intake.duplicate_window_secs * 1000;
    let dedupe = Arc::new(DuplicateWindow::new(
        window_ms,
        intake.duplicate_cache_entries,
    ));
    let recent = store.duplicates_since(now.saturating_sub(window_ms))?;
    tracing::info!(keys = recent.len(), "duplicate window rebuilt from storage");
    for (key, at) in recent {
        dedupe.restore(key, at);
    }
    Ok(dedupe)
}

/// The HTTP limits of `[server]`.
fn limits(cfg: &Config) -> Limits {
    let s = &cfg.raw.server;
    Limits {
        max_body_bytes: s.max_body_bytes,
        max_header_bytes: s.max_header_bytes,
        max_headers: s.max_headers.min(conn::HEADER_ARRAY),
        header_timeout: Duration::from_millis(s.header_timeout_ms),
        body_timeout: Duration::from_millis(s.body_timeout_ms),
        idle_timeout: Duration::from_millis(s.idle_timeout_ms),
        max_connections: s.max_connections,
    }
}

/// Cluster mode: applies the configuration changes the cluster holds, on
/// their own thread (a change waits for the writer's commit).
fn follow_cluster_config(app: &Arc<App>) -> anyhow::Result<()> {
    let Some(cluster) = &app.cluster else {
        return Ok(());
    };
    let (changes, app) = (cluster.config_changes(), app.clone());
    std::thread::Builder::new()
        .name("dataport-cluster-config".into())
        .spawn(move || {
            while !app.writer.is_stopped() {
                if let Ok(change) = changes.recv_timeout(Duration::from_millis(200)) {
                    crate::api::admin_config::apply_from_cluster(&app, change);
                }
            }
        })
        .map_err(|e| anyhow::anyhow!("cannot start the cluster configuration thread: {e}"))?;
    Ok(())
}
