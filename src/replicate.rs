//! Cluster replication, the threads (issue 22): the publisher drains this
//! node's replication log (`store::replica`) into JetStream through
//! [`crate::cluster`] and has the writer delete what the stream holds; the
//! applier commits the other nodes' records as they arrive, one writer job
//! per batch, and tells the consumer to ack them. Both are OS threads: they
//! wait on the writer and on NATS, never on a request's worker.
//!
//! Imports: `app` (store, writer, cluster), `store`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::app::App;
use crate::store::writer::Job;

/// Log entries one publish carries.
const PUBLISH_BATCH: usize = 512;

/// Starts the publisher and the applier; nothing on a single box.
pub fn spawn(app: &Arc<App>) -> std::io::Result<()> {
    if app.cluster.is_none() {
        return Ok(());
    }
    let publisher = app.clone();
    std::thread::Builder::new()
        .name("dataport-publisher".into())
        .spawn(move || publish_loop(&publisher))?;
    let applier = app.clone();
    std::thread::Builder::new()
        .name("dataport-applier".into())
        .spawn(move || apply_loop(&applier))?;
    Ok(())
}

fn publish_loop(app: &App) {
    let Some(cluster) = &app.cluster else { return };
    while !app.writer.is_stopped() {
        let pending = app.store.repl_pending(PUBLISH_BATCH).unwrap_or_default();
        if pending.is_empty() {
            app.metrics.repl_backlog.store(0, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let n = pending.len() as u64;
        match cluster.publish(pending) {
            Some(up_to) => {
                app.metrics.repl_published.fetch_add(n, Ordering::Relaxed);
                let _ = app.writer.call(|r| Job::ReplPublished(up_to, r));
                // What is still waiting (O(1)), so the gauge follows a
                // backlog draining after an outage, not only its start.
                app.metrics
                    .repl_backlog
                    .store(app.store.repl_backlog().unwrap_or(0), Ordering::Relaxed);
            }
            None => {
                app.metrics
                    .repl_backlog
                    .store(app.store.repl_backlog().unwrap_or(0), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn apply_loop(app: &App) {
    let Some(cluster) = &app.cluster else { return };
    let batches = cluster.remote_batches();
    while !app.writer.is_stopped() {
        let Ok(batch) = batches.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let n = batch.entries.len() as u64;
        let ok = matches!(
            app.writer.call(|r| Job::ApplyRemote(batch.entries, r)),
            Ok(Ok(_))
        );
        if ok {
            app.metrics.repl_applied.fetch_add(n, Ordering::Relaxed);
        }
        let _ = batch.done.send(ok);
    }
}
