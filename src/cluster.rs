//! Cluster mode (issue 22): this appliance as one node of several, with
//! NATS JetStream deciding what the nodes must agree on. Nothing here
//! replicates or elects anything itself.
//!
//! Built so far: the cluster's one hour window. A post that this node's own
//! window lets through is claimed in the `dp_window` key-value bucket (one
//! key per duplicate key, `max_age` = the window): JetStream's `create` is
//! first-writer-wins, so of two nodes taking the same post the second
//! answers 006. A post whose record is not stored gives its claim back.
//!
//! `async-nats` runs on a current-thread tokio runtime on the
//! `dataport-cluster` OS thread; a request coroutine sends it a claim and
//! parks on a `may` channel (never blocking its worker), at most
//! `timeout_ms`. When NATS cannot be reached in that time, `on_unreachable`
//! decides: "accept" answers from this node alone, "refuse" answers 005.
//!
//! Imports: `config` (the section), `metrics`, `dedupe` (the key type).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv};

use crate::config::raw::ClusterSection;
use crate::dedupe::KeyHash;
use crate::metrics::Metrics;

/// The bucket of the cluster's hour window.
pub const WINDOW_BUCKET: &str = "dp_window";

/// What JetStream said of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This node was first.
    Won,
    /// Another node (or this one, earlier) holds it.
    Lost,
    /// NATS did not answer in time.
    Unreachable,
}

enum Request {
    Window(KeyHash, may::sync::mpsc::Sender<Claim>),
    Release(KeyHash),
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot start the cluster thread: {0}")]
    Thread(String),
}

/// The handle request coroutines use.
pub struct Cluster {
    tx: tokio::sync::mpsc::Sender<Request>,
    wait: Duration,
    refuse: bool,
    ready: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
}

fn key_name(key: KeyHash) -> String {
    format!("{key:032x}")
}

impl Cluster {
    /// Starts the cluster thread. It connects in the background (NATS may
    /// be down at start: `on_unreachable` applies meanwhile) and creates
    /// the buckets it needs once connected.
    pub fn start(
        cfg: &ClusterSection,
        window_ms: u64,
        metrics: Arc<Metrics>,
    ) -> Result<Cluster, ClusterError> {
        let (tx, rx) = tokio::sync::mpsc::channel::<Request>(65536);
        let ready = Arc::new(AtomicBool::new(false));
        let engine = Engine {
            cfg: cfg.clone(),
            window: Duration::from_millis(window_ms.max(1000)),
            ready: ready.clone(),
            metrics: metrics.clone(),
        };
        std::thread::Builder::new()
            .name("dataport-cluster".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(error = %e, "cluster: no tokio runtime");
                        return;
                    }
                };
                rt.block_on(engine.run(rx));
            })
            .map_err(|e| ClusterError::Thread(e.to_string()))?;
        Ok(Cluster {
            tx,
            wait: Duration::from_millis(cfg.timeout_ms),
            refuse: cfg.on_unreachable == "refuse",
            ready,
            metrics,
        })
    }

    /// Whether NATS is connected and the buckets exist.
    pub fn connected(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// `on_unreachable = "refuse"`.
    pub fn refuses(&self) -> bool {
        self.refuse
    }

    /// Claims `key` in the cluster's window. Parks the calling coroutine
    /// at most `timeout_ms`.
    pub fn claim_window(&self, key: KeyHash) -> Claim {
        let claim = if !self.connected() {
            Claim::Unreachable
        } else {
            let (tx, rx) = may::sync::mpsc::channel();
            match self.tx.try_send(Request::Window(key, tx)) {
                Ok(()) => rx
                    .recv_timeout(self.wait + Duration::from_millis(100))
                    .unwrap_or(Claim::Unreachable),
                Err(_) => Claim::Unreachable,
            }
        };
        let counter = match claim {
            Claim::Won => &self.metrics.cluster_claims_won,
            Claim::Lost => &self.metrics.cluster_claims_lost,
            Claim::Unreachable => &self.metrics.cluster_unreachable,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        claim
    }

    /// Gives a claim back (its post was not stored), so a retry of the post
    /// at any node is not answered 006. Best effort, not waited for.
    pub fn release_window(&self, key: KeyHash) {
        let _ = self.tx.try_send(Request::Release(key));
    }
}

/// First-writer-wins creation of `key`: a publish that expects the key's
/// subject to be empty (JetStream decides, on the stream's leader). A key
/// given back (a delete marker) can be created again. `kv::Store::create`
/// reads the key back through a direct get after losing, which a replica
/// that has not seen the winner yet answers "none", and then reports an
/// error; here an unreadable loser counts as lost (a 006 rather than a
/// second 000). JetStream refuses the loser with error 10071, or with 10164
/// while the winner's write is still being replicated.
async fn create(window: &kv::Store, key: String, value: bytes::Bytes) -> Claim {
    let mut expect = 0;
    for _ in 0..3 {
        match window.update(&key, value.clone(), expect).await {
            Ok(_) => return Claim::Won,
            // 10071, and 10164 when the other writer's proposal is still in
            // flight (async-nats maps only the first to WrongLastRevision).
            Err(e)
                if e.kind() == kv::UpdateErrorKind::WrongLastRevision
                    || e.to_string().contains("wrong last sequence") => {}
            Err(e) => {
                tracing::warn!(error = %e, kind = ?e.kind(), "cluster: window claim failed");
                return Claim::Unreachable;
            }
        }
        match window.entry(key.clone()).await {
            Ok(Some(kv::Entry {
                operation: kv::Operation::Delete | kv::Operation::Purge,
                revision,
                ..
            })) => expect = revision,
            Ok(_) => return Claim::Lost,
            Err(e) => {
                tracing::warn!(error = %e, "cluster: window claim lost, unreadable");
                return Claim::Unreachable;
            }
        }
    }
    Claim::Lost
}

/// The cluster thread's side.
struct Engine {
    cfg: ClusterSection,
    window: Duration,
    ready: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
}

impl Engine {
    async fn run(self, mut rx: tokio::sync::mpsc::Receiver<Request>) {
        let client = match async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_millis(self.cfg.timeout_ms.max(500)))
            .name(format!("dataport-{}", self.cfg.node_id))
            .connect(self.cfg.nats_urls.clone())
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cluster: cannot connect to NATS");
                return;
            }
        };
        let js = jetstream::new(client.clone());
        let (kv_tx, kv_rx) = tokio::sync::watch::channel::<Option<kv::Store>>(None);
        let wait = Duration::from_millis(self.cfg.timeout_ms);
        let value = bytes::Bytes::from(self.cfg.node_id.to_string());
        tokio::spawn(self.keep_ready(client, js, kv_tx));
        while let Some(req) = rx.recv().await {
            let Some(window) = kv_rx.borrow().clone() else {
                if let Request::Window(_, reply) = req {
                    let _ = reply.send(Claim::Unreachable);
                }
                continue;
            };
            let value = value.clone();
            tokio::spawn(async move {
                match req {
                    Request::Window(key, reply) => {
                        let r = tokio::time::timeout(wait, create(&window, key_name(key), value));
                        let _ = reply.send(r.await.unwrap_or(Claim::Unreachable));
                    }
                    Request::Release(key) => {
                        let _ = tokio::time::timeout(wait, window.delete(key_name(key))).await;
                    }
                }
            });
        }
    }

    /// Watches the connection: once connected, makes sure the buckets
    /// exist (idempotently) and publishes them; marks the node not ready
    /// while NATS is away.
    async fn keep_ready(
        self,
        client: async_nats::Client,
        js: jetstream::Context,
        kv_tx: tokio::sync::watch::Sender<Option<kv::Store>>,
    ) {
        let mut made = false;
        loop {
            let up = client.connection_state() == async_nats::connection::State::Connected;
            if up && !made {
                match self.ensure(&js).await {
                    Ok(window) => {
                        made = true;
                        let _ = kv_tx.send(Some(window));
                        tracing::info!(node = self.cfg.node_id, "cluster: JetStream ready");
                    }
                    Err(e) => tracing::warn!(error = %e, "cluster: cannot create the buckets yet"),
                }
            }
            let ready = up && made;
            if self.ready.swap(ready, Ordering::Relaxed) != ready {
                self.metrics
                    .cluster_connected
                    .store(ready as u64, Ordering::Relaxed);
                if !ready {
                    tracing::warn!("cluster: NATS unreachable");
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates (or updates to this configuration) what JetStream holds.
    async fn ensure(&self, js: &jetstream::Context) -> Result<kv::Store, String> {
        js.create_or_update_key_value(kv::Config {
            bucket: WINDOW_BUCKET.into(),
            description: "dataport: the cluster's duplicate-post window".into(),
            history: 1,
            max_age: self.window,
            num_replicas: self.cfg.replicas,
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())
    }
}
