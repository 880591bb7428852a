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
/// The bucket of run-time configuration entries.
pub const CONFIG_BUCKET: &str = "dp_config";
/// The bucket of people claimed for a client: `p.<phone digits>`,
/// `e.<sha-256 of the email, hex>` → the claiming node.
pub const CLAIMS_BUCKET: &str = "dp_claims";
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
    Release(KeyHash),
    Config(ConfigChange, may::sync::mpsc::Sender<bool>),
    /// Replication-log entries (sequence, entry) to publish; the answer is
    /// the highest sequence up to which every entry is in the stream.
    Publish(Vec<(u64, Vec<u8>)>, std::sync::mpsc::Sender<Option<u64>>),
    /// Claims on a person's phones and email, made together.
    Person(Vec<String>, may::sync::mpsc::Sender<Claim>),
}

/// What the engine has once NATS is connected and the buckets exist.
#[derive(Clone)]
struct Buckets {
    window: kv::Store,
    config: kv::Store,
    claims: kv::Store,
    js: jetstream::Context,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot start the cluster thread: {0}")]
    Thread(String),
}

/// The handle request coroutines use.
pub struct Cluster {
    tx: tokio::sync::mpsc::Sender<Request>,
    config_rx: crossbeam_channel::Receiver<ConfigChange>,
    remote_rx: crossbeam_channel::Receiver<RemoteBatch>,
    wait: Duration,
    refuse: bool,
    ready: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
}

fn key_name(key: KeyHash) -> String {
    format!("{key:032x}")
}

/// A configuration key as a KV key (which allows only `[-/_=.a-zA-Z0-9]`):
/// its bytes in hex.
fn config_key(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

fn config_key_back(hex: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
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
        let (config_tx, config_rx) = crossbeam_channel::unbounded();
        let (remote_tx, remote_rx) = crossbeam_channel::bounded(4);
        let ready = Arc::new(AtomicBool::new(false));
        let engine = Engine {
            config_tx,
            remote_tx,
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
            config_rx,
            remote_rx,
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

    /// Puts a configuration change in the cluster; false when NATS did not
    /// take it within `timeout_ms` (the change must then not be applied).
    /// Blocks the calling coroutine or thread until then.
    pub fn put_config(&self, change: ConfigChange) -> bool {
        if !self.connected() {
            return false;
        }
        let (tx, rx) = may::sync::mpsc::channel();
        match self.tx.try_send(Request::Config(change, tx)) {
            Ok(()) => rx
                .recv_timeout(self.wait + Duration::from_millis(100))
                .unwrap_or(false),
            Err(_) => false,
        }
    }

    /// Claims a person new to this node: its normal phones and its email
    /// (lower-cased), all in flight together. `Won` when every claim was
    /// this node's; `Lost` when another node holds one of them (its client
    /// record is on its way here); `Unreachable` when NATS did not answer.
    pub fn claim_person(&self, phones: &[&str], email: &str) -> Claim {
        let mut keys: Vec<String> = phones
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| format!("p.{p}"))
            .collect();
        if !email.is_empty() {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(email.as_bytes());
            keys.push(format!(
                "e.{}",
                digest
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            ));
        }
        if keys.is_empty() {
            return Claim::Won;
        }
        if !self.connected() {
            return Claim::Unreachable;
        }
        let (tx, rx) = may::sync::mpsc::channel();
        let claim = match self.tx.try_send(Request::Person(keys, tx)) {
            Ok(()) => rx
                .recv_timeout(self.wait + Duration::from_millis(100))
                .unwrap_or(Claim::Unreachable),
            Err(_) => Claim::Unreachable,
        };
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

/// Publishes entries with their message ids, all in flight together; the
/// highest sequence up to which every one was acknowledged.
async fn publish(js: &jetstream::Context, node: u16, entries: Vec<(u64, Vec<u8>)>) -> Option<u64> {
    let subject = format!("dp.rec.{node}");
    let mut acks = Vec::with_capacity(entries.len());
    for (seq, entry) in entries {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("{node}-{seq}").as_str());
        match js
            .publish_with_headers(subject.clone(), headers, entry.into())
            .await
        {
            Ok(ack) => acks.push((seq, ack)),
            Err(_) => break,
        }
    }
    let mut up_to = None;
    for (seq, ack) in acks {
        match ack.await {
            Ok(_) => up_to = Some(seq),
            Err(_) => break,
        }
    }
    up_to
}

/// Reads the other nodes' records through this node's durable consumer and
/// hands them to the server in batches; acks a batch once it is committed.
/// This node's own records are acked as they pass.
async fn consume_records(
    js: jetstream::Context,
    node: u16,
    out: crossbeam_channel::Sender<RemoteBatch>,
) {
    use futures_util::StreamExt;
    use jetstream::consumer::pull;
    let own = format!("dp.rec.{node}");
    let name = format!("node-{node}");
    loop {
        let consumer = match js.get_stream(RECORDS_STREAM).await {
            Ok(stream) => stream
                .get_or_create_consumer::<pull::Config>(
                    &name,
                    pull::Config {
                        durable_name: Some(name.clone()),
                        ack_policy: jetstream::consumer::AckPolicy::Explicit,
                        ack_wait: Duration::from_secs(30),
                        max_ack_pending: 20_000,
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let consumer = match consumer {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cluster: no records consumer yet");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        loop {
            let batch = consumer
                .batch()
                .max_messages(512)
                .expires(Duration::from_millis(500))
                .messages()
                .await;
            let Ok(mut batch) = batch else { break };
            let mut messages = Vec::new();
            while let Some(Ok(m)) = batch.next().await {
                messages.push(m);
            }
            let entries: Vec<Vec<u8>> = messages
                .iter()
                .filter(|m| m.subject.as_str() != own)
                .map(|m| m.payload.to_vec())
                .collect();
            if !entries.is_empty() {
                let (done, committed) = tokio::sync::oneshot::channel();
                if out.send(RemoteBatch { entries, done }).is_err() {
                    return;
                }
                if !committed.await.unwrap_or(false) {
                    continue;
                }
            }
            for m in &messages {
                let _ = m.ack().await;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The cluster thread's side.
struct Engine {
    cfg: ClusterSection,
    config_tx: crossbeam_channel::Sender<ConfigChange>,
    remote_tx: crossbeam_channel::Sender<RemoteBatch>,
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
        let (kv_tx, kv_rx) = tokio::sync::watch::channel::<Option<Buckets>>(None);
        let wait = Duration::from_millis(self.cfg.timeout_ms);
        let node = self.cfg.node_id;
        let value = bytes::Bytes::from(self.cfg.node_id.to_string());
        tokio::spawn(self.keep_ready(client, js, kv_tx));
        while let Some(req) = rx.recv().await {
            let Some(buckets) = kv_rx.borrow().clone() else {
                match req {
                    Request::Window(_, reply) => {
                        let _ = reply.send(Claim::Unreachable);
                    }
                    Request::Config(_, reply) => {
                        let _ = reply.send(false);
                    }
                    Request::Publish(_, reply) => {
                        let _ = reply.send(None);
                    }
                    Request::Person(_, reply) => {
                        let _ = reply.send(Claim::Unreachable);
                    }
                    Request::Release(_) => {}
                }
                continue;
            };
            let window = buckets.window.clone();
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
                    Request::Config(change, reply) => {
                        let key = config_key(&change.key);
                        let done = match change.json {
                            Some(json) => {
                                tokio::time::timeout(wait, buckets.config.put(key, json.into()))
                                    .await
                                    .is_ok_and(|r| r.is_ok())
                            }
                            None => tokio::time::timeout(wait, buckets.config.delete(key))
                                .await
                                .is_ok_and(|r| r.is_ok()),
                        };
                        let _ = reply.send(done);
                    }
                    Request::Person(keys, reply) => {
                        let claims = keys
                            .into_iter()
                            .map(|k| create(&buckets.claims, k, value.clone()));
                        let all = futures_util::future::join_all(claims);
                        let claim = match tokio::time::timeout(wait, all).await {
                            Ok(r) if r.iter().all(|c| *c == Claim::Won) => Claim::Won,
                            Ok(r) if r.contains(&Claim::Unreachable) => Claim::Unreachable,
                            Ok(_) => Claim::Lost,
                            Err(_) => Claim::Unreachable,
                        };
                        let _ = reply.send(claim);
                    }
                    Request::Publish(entries, reply) => {
                        let r = tokio::time::timeout(wait * 4, publish(&buckets.js, node, entries));
                        let _ = reply.send(r.await.ok().flatten());
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
        kv_tx: tokio::sync::watch::Sender<Option<Buckets>>,
    ) {
        let mut made = false;
        loop {
            let up = client.connection_state() == async_nats::connection::State::Connected;
            if up && !made {
                match self.ensure(&js).await {
                    Ok(buckets) => {
                        made = true;
                        tokio::spawn(watch_config(buckets.config.clone(), self.config_tx.clone()));
                        tokio::spawn(consume_records(
                            buckets.js.clone(),
                            self.cfg.node_id,
                            self.remote_tx.clone(),
                        ));
                        let _ = kv_tx.send(Some(buckets));
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
    async fn ensure(&self, js: &jetstream::Context) -> Result<Buckets, String> {
        let window = js
            .create_or_update_key_value(kv::Config {
                bucket: WINDOW_BUCKET.into(),
                description: "dataport: the cluster's duplicate-post window".into(),
                history: 1,
                max_age: self.window,
                num_replicas: self.cfg.replicas,
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        let config = js
            .create_or_update_key_value(kv::Config {
                bucket: CONFIG_BUCKET.into(),
                description: "dataport: run-time configuration entries".into(),
                history: 5,
                num_replicas: self.cfg.replicas,
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        let claims = js
            .create_or_update_key_value(kv::Config {
                bucket: CLAIMS_BUCKET.into(),
                description: "dataport: people claimed for a client".into(),
                history: 1,
                num_replicas: self.cfg.replicas,
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        js.get_or_create_stream(jetstream::stream::Config {
            name: RECORDS_STREAM.into(),
            description: Some("dataport: every node's records".into()),
            subjects: vec!["dp.rec.>".into()],
            storage: jetstream::stream::StorageType::File,
            num_replicas: self.cfg.replicas,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
        Ok(Buckets {
            window,
            config,
            claims,
            js: js.clone(),
        })
    }
}

/// Hands every configuration entry the cluster holds to the server: the
/// last value of each key first, then each change as it is made. Watches
/// again after an error (the last values come again; applying one twice
/// changes nothing).
async fn watch_config(config: kv::Store, out: crossbeam_channel::Sender<ConfigChange>) {
    use futures_util::StreamExt;
    loop {
        match config.watch_with_history(">").await {
            Ok(mut watch) => {
                while let Some(entry) = watch.next().await {
                    let Ok(entry) = entry else { break };
                    let Some(key) = config_key_back(&entry.key) else {
                        continue;
                    };
                    let json = match entry.operation {
                        kv::Operation::Put => Some(entry.value.to_vec()),
                        kv::Operation::Delete | kv::Operation::Purge => None,
                    };
                    if out.send(ConfigChange { key, json }).is_err() {
                        return;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cluster: cannot watch the configuration"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
