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
//! Records: each node publishes the records it made (its replication log,
//! drained by `crate::replicate`) to the `DP_RECORDS` stream, subject
//! `dp.rec.<node>`, message id `<node>-<sequence>` (a retry within the
//! stream's duplicate window is dropped by JetStream), and reads every
//! other node's through its durable pull consumer `node-<id>`, acking a
//! batch only after it is committed here ([`Cluster::remote_batches`]).
//!
//! And configuration once: a run-time configuration change (the admin
//! API's overrides) is put in the `dp_config` bucket before it is applied;
//! every node watches the bucket (from its last value per key, so a node
//! that starts late catches up) and hands each change to
//! [`Cluster::config_changes`], which the server applies as the admin API
//! would.
//!
//! `async-nats` runs on the appliance's one tokio thread
//! (`async_thread`); a request coroutine sends it a claim and parks on a
//! `may` channel (never blocking its worker), at most
//! `timeout_ms`. When NATS cannot be reached in that time, `on_unreachable`
//! decides: "accept" answers from this node alone, "refuse" answers 005.
//!
//! Imports: `config` (the section), `metrics`, `dedupe` (the key type).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::raw::ClusterSection;
use crate::dedupe::KeyHash;
use crate::metrics::Metrics;

mod engine;
use engine::Engine;

/// The bucket of the cluster's hour window.
pub const WINDOW_BUCKET: &str = "dp_window";
/// The bucket of run-time configuration entries.
pub const CONFIG_BUCKET: &str = "dp_config";
/// The bucket of people claimed for a client: `p.<phone digits>`,
/// `e.<sha-256 of the email, hex>` → the claiming node.
pub const CLAIMS_BUCKET: &str = "dp_claims";
/// The bucket of singleton leases (`dialer`): holder node, refreshed
/// every 2 s, gone 10 s after its holder stopped refreshing.
pub const LEASES_BUCKET: &str = "dp_leases";
/// The stream every node's records go through.
pub const RECORDS_STREAM: &str = "DP_RECORDS";

/// Records other nodes made, to be committed here; `done` says whether
/// they were (then they are acked, else JetStream delivers them again).
pub struct RemoteBatch {
    pub entries: Vec<Vec<u8>>,
    pub done: tokio::sync::oneshot::Sender<bool>,
}

/// A configuration override as the cluster holds it: its key
/// (`profiles/7`, as `store::config_overrides` names it) and its JSON, or
/// None when it was deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    pub key: String,
    pub json: Option<Vec<u8>>,
}

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
    Release(KeyHash, may::sync::mpsc::Sender<bool>),
    Config(ConfigChange, may::sync::mpsc::Sender<bool>),
    /// Replication-log entries (sequence, entry) to publish; the answer is
    /// the highest sequence up to which every entry is in the stream.
    Publish(Vec<(u64, Vec<u8>)>, std::sync::mpsc::Sender<Option<u64>>),
    /// Claims on a person's phones and email, made together.
    Person(Vec<String>, may::sync::mpsc::Sender<Claim>),
}

/// The handle request coroutines use.
pub struct Cluster {
    tx: tokio::sync::mpsc::Sender<Request>,
    dialer_lease: Arc<AtomicBool>,
    config_rx: crossbeam_channel::Receiver<ConfigChange>,
    remote_rx: crossbeam_channel::Receiver<RemoteBatch>,
    wait: Duration,
    refuse: bool,
    ready: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
}

impl Cluster {
    /// Starts the cluster thread. It connects in the background (NATS may
    /// be down at start: `on_unreachable` applies meanwhile) and creates
    /// the buckets it needs once connected.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        cfg: &ClusterSection,
        window_ms: u64,
        metrics: Arc<Metrics>,
    ) -> Cluster {
        let (tx, rx) = tokio::sync::mpsc::channel::<Request>(65536);
        let (config_tx, config_rx) = crossbeam_channel::unbounded();
        let (remote_tx, remote_rx) = crossbeam_channel::bounded(4);
        let ready = Arc::new(AtomicBool::new(false));
        let dialer_lease = Arc::new(AtomicBool::new(false));
        let engine = Engine {
            dialer_lease: dialer_lease.clone(),
            config_tx,
            remote_tx,
            cfg: cfg.clone(),
            window: Duration::from_millis(window_ms.max(1000)),
            ready: ready.clone(),
            metrics: metrics.clone(),
        };
        runtime.spawn(engine.run(rx));
        Cluster {
            tx,
            dialer_lease,
            config_rx,
            remote_rx,
            wait: Duration::from_millis(cfg.timeout_ms),
            refuse: cfg.on_unreachable == "refuse",
            ready,
            metrics,
        }
    }

    /// Whether NATS is connected and the buckets exist.
    pub fn connected(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Whether this node holds the dialer's lease: the one node that
    /// releases dial calls (every node holds the queues).
    pub fn holds_dialer_lease(&self) -> bool {
        self.dialer_lease.load(Ordering::Relaxed)
    }

    /// `on_unreachable = "refuse"`.
    pub fn refuses(&self) -> bool {
        self.refuse
    }

    /// Claims `key` in the cluster's window. Parks the calling coroutine
    /// at most `timeout_ms`.
    pub fn claim_window(&self, key: KeyHash) -> Claim {
        let claim = self.ask(|tx| Request::Window(key, tx), Claim::Unreachable);
        let counter = match claim {
            Claim::Won => &self.metrics.cluster_claims_won,
            Claim::Lost => &self.metrics.cluster_claims_lost,
            Claim::Unreachable => &self.metrics.cluster_unreachable,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        claim
    }

    /// Puts a configuration change in the cluster; false when NATS did not
    /// take it within `timeout_ms` (the change must then not be applied).
    /// Blocks the calling coroutine or thread until then.
    pub fn put_config(&self, change: ConfigChange) -> bool {
        self.ask(|tx| Request::Config(change, tx), false)
    }

    /// Sends the engine a request and parks the calling coroutine (or
    /// thread) for its answer at most `timeout_ms` and a margin; `unsure`
    /// when NATS is away, the queue is full or no answer came.
    fn ask<T>(&self, request: impl FnOnce(may::sync::mpsc::Sender<T>) -> Request, unsure: T) -> T {
        if !self.connected() {
            return unsure;
        }
        let (tx, rx) = may::sync::mpsc::channel();
        match self.tx.try_send(request(tx)) {
            Ok(()) => rx
                .recv_timeout(self.wait + Duration::from_millis(100))
                .unwrap_or(unsure),
            Err(_) => unsure,
        }
    }

    /// Claims a person new to this node: its normal phones and its email
    /// (lower-cased), all in flight together. `Won` when every claim was
    /// this node's; `Lost` when another node holds one of them (its client
    /// record is on its way here); `Unreachable` when NATS did not answer.
    pub fn claim_person(&self, phones: &[&str], email: &str) -> Claim {
        fn hashed(kind: &str, value: &str) -> String {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(value.as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("{kind}.{hex}")
        }
        // A KV key takes only `[-/_=.a-zA-Z0-9]`: normal phones (digits) as
        // they are, anything else a phone field kept (it was not a number
        // intake could read) and every email by its hash.
        let mut keys: Vec<String> = phones
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| match p.bytes().all(|b| b.is_ascii_digit()) {
                true => format!("p.{p}"),
                false => hashed("p", p),
            })
            .collect();
        if !email.is_empty() {
            keys.push(hashed("e", email));
        }
        if keys.is_empty() {
            return Claim::Won;
        }
        let claim = self.ask(|tx| Request::Person(keys, tx), Claim::Unreachable);
        let counter = match claim {
            Claim::Won => &self.metrics.cluster_person_claims_won,
            Claim::Lost => &self.metrics.cluster_person_claims_lost,
            Claim::Unreachable => &self.metrics.cluster_unreachable,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        claim
    }

    /// Publishes replication-log entries; the sequence up to which all are
    /// in the stream, or None (NATS away: try again later). Blocks the
    /// calling OS thread (the publisher's) at most `timeout_ms` and a bit.
    pub fn publish(&self, entries: Vec<(u64, Vec<u8>)>) -> Option<u64> {
        if !self.connected() || entries.is_empty() {
            return None;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        self.tx.try_send(Request::Publish(entries, tx)).ok()?;
        rx.recv_timeout(self.wait * 5).ok().flatten()
    }

    /// The other nodes' records, in batches, as the stream delivers them.
    pub fn remote_batches(&self) -> crossbeam_channel::Receiver<RemoteBatch> {
        self.remote_rx.clone()
    }

    /// Every configuration change the cluster holds, this node's own
    /// included: at start the last value of each key, then each change.
    pub fn config_changes(&self) -> crossbeam_channel::Receiver<ConfigChange> {
        self.config_rx.clone()
    }

    /// Gives a claim back (its post was not stored), so a retry of the post
    /// at any node is not answered 006. Waited for (at most `timeout_ms`)
    /// before the post is answered: a sender told 004 retries at once,
    /// perhaps at another node, which must not find the claim still there
    /// and call the retry a duplicate of a post that was never kept.
    pub fn release_window(&self, key: KeyHash) {
        self.ask(|tx| Request::Release(key, tx), false);
    }
}
