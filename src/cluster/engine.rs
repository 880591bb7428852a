//! The cluster thread's side: the connection to NATS, the buckets and the
//! stream it creates, claims, publishing, the records consumer and the
//! configuration watch. Runs on the appliance's tokio thread (`async_thread`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv};

use super::{
    Claim, ConfigChange, RemoteBatch, Request, CLAIMS_BUCKET, CONFIG_BUCKET, LEASES_BUCKET,
    RECORDS_STREAM, WINDOW_BUCKET,
};
use crate::config::raw::ClusterSection;
use crate::dedupe::KeyHash;
use crate::metrics::Metrics;

/// What the engine has once NATS is connected and the buckets exist.
#[derive(Clone)]
struct Buckets {
    window: kv::Store,
    config: kv::Store,
    claims: kv::Store,
    leases: kv::Store,
    js: jetstream::Context,
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

/// First-writer-wins creation of `key`: a publish that expects the key's
/// subject to be empty (JetStream decides, on the stream's leader). A key
/// given back (a delete marker) can be created again. `kv::Store::create`
/// reads the key back through a direct get after losing, which a replica
/// that has not seen the winner yet answers "none", and then reports an
/// error; here an unreadable loser counts as lost (a 006 rather than a
/// second 000). JetStream refuses the loser with error 10071, or with 10164
/// while the winner's write is still being replicated.
async fn create(bucket: &kv::Store, key: String, value: bytes::Bytes) -> Claim {
    let mut expect = 0;
    for _ in 0..3 {
        match bucket.update(&key, value.clone(), expect).await {
            Ok(_) => return Claim::Won,
            // 10071, and 10164 when the other writer's proposal is still in
            // flight (async-nats maps only the first to WrongLastRevision).
            Err(e)
                if e.kind() == kv::UpdateErrorKind::WrongLastRevision
                    || e.to_string().contains("wrong last sequence") => {}
            Err(e) => {
                tracing::warn!(error = %e, kind = ?e.kind(), %key, "cluster: claim failed");
                return Claim::Unreachable;
            }
        }
        match bucket.entry(key.clone()).await {
            Ok(Some(kv::Entry {
                operation: kv::Operation::Delete | kv::Operation::Purge,
                revision,
                ..
            })) => expect = revision,
            Ok(_) => return Claim::Lost,
            Err(e) => {
                tracing::warn!(error = %e, %key, "cluster: claim lost, unreadable");
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

/// How long a lease outlives its holder's last refresh.
const LEASE_TTL: Duration = Duration::from_secs(10);
const LEASE_REFRESH: Duration = Duration::from_secs(2);

/// Holds (or waits for) the dialer's lease: takes the key when it is free
/// (never written, deleted, or expired with its holder), refreshes it while
/// held with a write that expects the revision it made (another holder's
/// write makes that fail, and this node stops), and says so in `held`.
/// A holder that stops refreshing loses it within [`LEASE_TTL`].
async fn hold_lease(leases: kv::Store, node: u16, held: Arc<AtomicBool>, metrics: Arc<Metrics>) {
    let value = bytes::Bytes::from(node.to_string());
    let mut revision: Option<u64> = None;
    loop {
        revision = match revision {
            Some(r) => leases.update("dialer", value.clone(), r).await.ok(),
            None => match leases.update("dialer", value.clone(), 0).await {
                Ok(r) => Some(r),
                Err(_) => match leases.entry("dialer").await {
                    // Free again (a delete), or this node's own from before a restart.
                    Ok(Some(e)) if e.operation != kv::Operation::Put || e.value == value => leases
                        .update("dialer", value.clone(), e.revision)
                        .await
                        .ok(),
                    _ => None,
                },
            },
        };
        let now = revision.is_some();
        if held.swap(now, Ordering::Relaxed) != now {
            tracing::info!(node, held = now, "cluster: dialer lease");
        }
        metrics
            .cluster_dialer_lease
            .store(now as u64, Ordering::Relaxed);
        tokio::time::sleep(LEASE_REFRESH).await;
    }
}

/// Records, per origin node, how long its newest applied record took from
/// the stream to this node's commit (seconds, for `/metrics`).
fn note_apply_lag(metrics: &Metrics, messages: &[jetstream::Message], own: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    let mut lags = metrics
        .cluster_apply_lag_ms
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    for m in messages.iter().filter(|m| m.subject.as_str() != own) {
        let origin = m
            .subject
            .as_str()
            .rsplit('.')
            .next()
            .and_then(|n| n.parse::<u16>().ok());
        if let (Some(origin), Ok(info)) = (origin, m.info()) {
            let lag = ((now - info.published.unix_timestamp_nanos()) / 1_000_000).max(0) as u64;
            lags.insert(origin, lag);
        }
    }
}

/// Reads the other nodes' records through this node's durable consumer and
/// hands them to the server in batches; acks a batch once it is committed.
/// This node's own records are acked as they pass.
async fn consume_records(
    js: jetstream::Context,
    node: u16,
    out: crossbeam_channel::Sender<RemoteBatch>,
    metrics: Arc<Metrics>,
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
                note_apply_lag(&metrics, &messages, &own);
            }
            for m in &messages {
                let _ = m.ack().await;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The cluster thread's side.
pub(super) struct Engine {
    pub(super) cfg: ClusterSection,
    pub(super) config_tx: crossbeam_channel::Sender<ConfigChange>,
    pub(super) remote_tx: crossbeam_channel::Sender<RemoteBatch>,
    pub(super) window: Duration,
    pub(super) ready: Arc<AtomicBool>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) dialer_lease: Arc<AtomicBool>,
}

impl Engine {
    pub(super) async fn run(self, mut rx: tokio::sync::mpsc::Receiver<Request>) {
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
                    Request::Release(_, reply) => {
                        let _ = reply.send(false);
                    }
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
                    Request::Release(key, reply) => {
                        let r = tokio::time::timeout(wait, window.delete(key_name(key))).await;
                        let _ = reply.send(matches!(r, Ok(Ok(()))));
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
                        tokio::spawn(hold_lease(
                            buckets.leases.clone(),
                            self.cfg.node_id,
                            self.dialer_lease.clone(),
                            self.metrics.clone(),
                        ));
                        tokio::spawn(consume_records(
                            buckets.js.clone(),
                            self.cfg.node_id,
                            self.remote_tx.clone(),
                            self.metrics.clone(),
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
        let bucket = |bucket: &str, description: &str, history: i64, max_age: Duration| {
            let made = js.create_or_update_key_value(kv::Config {
                bucket: bucket.into(),
                description: format!("dataport: {description}"),
                history,
                // Zero: entries stay until deleted.
                max_age,
                num_replicas: self.cfg.replicas,
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            });
            async move { made.await.map_err(|e| e.to_string()) }
        };
        let window = bucket(
            WINDOW_BUCKET,
            "the cluster's duplicate-post window",
            1,
            self.window,
        );
        let window = window.await?;
        let config = bucket(
            CONFIG_BUCKET,
            "run-time configuration entries",
            5,
            Duration::ZERO,
        );
        let config = config.await?;
        let claims = bucket(
            CLAIMS_BUCKET,
            "people claimed for a client",
            1,
            Duration::ZERO,
        );
        let claims = claims.await?;
        let leases = bucket(LEASES_BUCKET, "singleton leases", 1, LEASE_TTL).await?;
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
            leases,
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
