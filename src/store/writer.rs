//! The group-commit writer: one OS thread owns every write transaction.
//!
//! Coroutines hand it [`Job`]s over a bounded crossbeam channel (`try_send`
//! never blocks; a full queue is answered 005) and park on a one-value
//! channel ([`crate::oneshot`]) for the reply. The thread takes the first
//! job, then everything else already queued (up to `max_batch`), applies
//! them all in one write transaction and commits once — one fsync for the
//! whole batch — and only then replies. While it fsyncs, the next batch
//! queues up, so the batch size follows the load by itself.
//!
//! A batch of background entries only (the usage and automation logs, which
//! no answer waits for) lingers up to `log_linger` for more before its
//! commit, so a flood of duplicates or unknown forms makes fewer, fuller
//! commits; the first job someone waits for ends the linger at once. The
//! thread sleeps through a linger instead of receiving entry by entry: a
//! blocking receive per entry spun, yielded its core (`sched_yield`, about
//! one per two posts under a flood) and had every sender wake it; now only
//! a waited-for job wakes it (`WriterHandle::call` counts and unparks).
//!
//! A full map (`MapFull`) first makes room by dropping the oldest usage-log
//! entries and retries once; if it still fails, every job of the batch is
//! answered with the error (intake code 004), nothing acknowledged.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::apply::{Batch, Sequences};
use super::leads::LeadOutcome;
use super::rendered::RenderedEntry;
use super::{Result, Store, StoreError};
use crate::clock::SharedClock;
use crate::metrics::Metrics;
use crate::pool::Pool;

pub use super::job::{Applied, Job, ReplyResult};
type Reply = crate::oneshot::Sender<ReplyResult>;

/// Tuning of the writer.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub queue: usize,
    pub max_batch: usize,
    /// See `[storage] log_linger_ms`.
    pub log_linger: Duration,
    pub duplicate_window_ms: u64,
    pub usage_retention_ms: u64,
    pub usage_max_bytes: u64,
    pub notifications: crate::outbox::Notifications,
    pub retry: crate::outbox::RetryPolicy,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the write queue is full")]
    Full,
    #[error("the writer has stopped")]
    Stopped,
}

/// The submitting side, cloned into every request handler.
#[derive(Clone)]
pub struct WriterHandle {
    tx: Sender<Job>,
    shared: Arc<Shared>,
}

/// What the handles and the writer thread share.
struct Shared {
    stopped: AtomicBool,
    /// Asked to stop ([`WriterHandle::stop`]): the thread ends once the
    /// queue is empty, whoever still holds a handle.
    stop: AtomicBool,
    /// Jobs someone waits for, submitted and not yet taken by the writer:
    /// a lingering batch commits at once when this is not 0.
    waited: AtomicUsize,
    /// The writer thread, unparked by `call` to end a linger.
    thread: std::sync::OnceLock<std::thread::Thread>,
    /// Entry buffers, given back by the writer once committed.
    buffers: Pool<Vec<u8>>,
}

/// Entry buffers kept for reuse (at most `pool::BYTES_KEPT` each).
const BUFFERS_KEPT: usize = 2048;

impl WriterHandle {
    /// Queues a job without waiting; never blocks.
    pub fn submit(&self, job: Job) -> std::result::Result<(), SubmitError> {
        if self.shared.stopped.load(Ordering::Relaxed) {
            return Err(SubmitError::Stopped);
        }
        self.tx.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => SubmitError::Full,
            TrySendError::Disconnected(_) => SubmitError::Stopped,
        })
    }

    /// Queues a job built around a reply channel and parks the calling
    /// coroutine (or thread) until the batch carrying it is committed.
    pub fn call(
        &self,
        make: impl FnOnce(Reply) -> Job,
    ) -> std::result::Result<ReplyResult, SubmitError> {
        let (tx, rx) = crate::oneshot::channel();
        // Counted before it is queued, so a writer that sees 0 and parks is
        // woken by the unpark below.
        self.shared.waited.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = self.submit(make(tx)) {
            self.shared.waited.fetch_sub(1, Ordering::SeqCst);
            return Err(e);
        }
        if let Some(t) = self.shared.thread.get() {
            t.unpark();
        }
        rx.recv().ok_or(SubmitError::Stopped)
    }

    pub fn queued(&self) -> usize {
        self.tx.len()
    }

    /// Whether a job submitted now would be refused for a full queue.
    /// Asks the writer thread to stop once everything queued is committed
    /// (within a second); later submits answer [`SubmitError::Stopped`].
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.shared.thread.get() {
            t.unpark();
        }
    }

    /// Whether the writer thread has ended (the threads that feed it end too).
    pub fn is_stopped(&self) -> bool {
        self.shared.stopped.load(Ordering::Relaxed)
    }

    pub fn is_full(&self) -> bool {
        self.tx.is_full()
    }

    /// An empty buffer to render a [`RenderedEntry`] into; the writer gives
    /// it back to the pool once the entry is committed.
    pub fn buffer(&self) -> Vec<u8> {
        self.shared.buffers.take()
    }
}

/// Starts the writer thread.
pub fn spawn(
    store: Arc<Store>,
    cfg: WriterConfig,
    clock: SharedClock,
    metrics: Arc<Metrics>,
) -> Result<(WriterHandle, std::thread::JoinHandle<()>)> {
    let (tx, rx) = crossbeam_channel::bounded(cfg.queue);
    let seq = Sequences::load(&store)?;
    let shared = Arc::new(Shared {
        stopped: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        waited: AtomicUsize::new(0),
        thread: std::sync::OnceLock::new(),
        buffers: Pool::new(BUFFERS_KEPT),
    });
    let handle = WriterHandle {
        tx,
        shared: shared.clone(),
    };
    let writer_shared = shared.clone();
    let join = std::thread::Builder::new()
        .name("dataport-writer".into())
        .spawn(move || run(store, rx, cfg, seq, clock, metrics, writer_shared))
        .map_err(|e| StoreError::DataDir("writer thread".into(), e))?;
    let _ = shared.thread.set(join.thread().clone());
    Ok((handle, join))
}

/// How many expired entries a commit may prune: twice what it carried
/// (every job adds at most one duplicate key and one usage entry), and a
/// bigger sweep on the idle once-a-second pass.
pub fn prune_budget(jobs: usize, housekeeping: bool) -> usize {
    let base = 2 * jobs + 16;
    if housekeeping {
        base.max(10_000)
    } else {
        base
    }
}

/// How many more jobs a batch holding `taken` takes: everything queued, up
/// to the cap. (Pure, so the batching decision is tested on its own.)
pub fn plan_batch(queued: usize, taken: usize, max_batch: usize) -> usize {
    queued.min(max_batch.saturating_sub(taken))
}

/// Moves what is already queued into `batch`, up to `max_batch` in all.
fn take_queued(rx: &Receiver<Job>, batch: &mut Vec<Job>, max_batch: usize, shared: &Shared) {
    for _ in 0..plan_batch(rx.len(), batch.len(), max_batch) {
        match rx.try_recv() {
            Ok(job) => take(batch, job, shared),
            Err(_) => break,
        }
    }
}

/// Adds a job just received to `batch`, uncounting a waited-for one.
fn take(batch: &mut Vec<Job>, job: Job, shared: &Shared) {
    if reply_of(&job).is_some() {
        shared.waited.fetch_sub(1, Ordering::SeqCst);
    }
    batch.push(job);
}

fn run(
    store: Arc<Store>,
    rx: Receiver<Job>,
    cfg: WriterConfig,
    mut seq: Sequences,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    shared: Arc<Shared>,
) {
    let mut last_housekeeping = Instant::now();
    let mut batch: Vec<Job> = Vec::with_capacity(cfg.max_batch);
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(job) => take(&mut batch, job, &shared),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
        take_queued(&rx, &mut batch, cfg.max_batch, &shared);
        // Nobody waits for a batch of background entries: let it gather
        // more (fewer, fuller commits under a flood of 003/006/429 posts)
        // until a job someone waits for arrives, the batch is full, or the
        // linger is over.
        if !batch.is_empty()
            && !cfg.log_linger.is_zero()
            && batch.iter().all(|j| reply_of(j).is_none())
        {
            let until = Instant::now() + cfg.log_linger;
            loop {
                let now = Instant::now();
                if now >= until
                    || shared.waited.load(Ordering::SeqCst) > 0
                    || batch.len() + rx.len() >= cfg.max_batch
                {
                    break;
                }
                std::thread::park_timeout(until - now);
            }
            take_queued(&rx, &mut batch, cfg.max_batch, &shared);
        }
        let housekeeping = last_housekeeping.elapsed() >= Duration::from_secs(1);
        if batch.is_empty() && shared.stop.load(Ordering::SeqCst) && rx.is_empty() {
            break;
        }
        if batch.is_empty() && !housekeeping {
            continue;
        }
        let now = clock.now_ms();
        let started = Instant::now();
        let mut result = commit(&store, &mut seq, &mut batch, housekeeping, now, &cfg);
        if matches!(result, Err(StoreError::MapFull)) {
            tracing::warn!("LMDB map full: dropping the oldest usage-log entries and retrying");
            let dropped = make_room(&store, &mut seq, &cfg, now);
            metrics
                .usage_dropped
                .fetch_add(dropped as u64, Ordering::Relaxed);
            result = commit(&store, &mut seq, &mut batch, false, now, &cfg);
        }
        if housekeeping {
            last_housekeeping = Instant::now();
        }
        let sync = result.as_ref().map(|r| r.2).unwrap_or_default();
        metrics.observe_commit(batch.len(), started.elapsed(), sync);
        match result {
            Ok((outcomes, pruned, _)) => {
                metrics
                    .usage_dropped
                    .fetch_add(pruned as u64, Ordering::Relaxed);
                for (job, outcome) in batch.drain(..).zip(outcomes) {
                    if let (Some(reply), Some(o)) = (reply_of(&job), outcome) {
                        let _ = reply.send(Ok(o));
                    }
                    recycle(&shared.buffers, job);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = batch.len(), "commit failed; batch not acknowledged");
                metrics.commit_failures.fetch_add(1, Ordering::Relaxed);
                // Ids handed out in the failed transaction were never stored.
                if let Ok(s) = Sequences::load(&store) {
                    seq = s;
                }
                let e = Arc::new(e);
                let mut logs = Vec::new();
                for job in batch.drain(..) {
                    if let Some(reply) = reply_of(&job) {
                        let _ = reply.send(Err(e.clone()));
                    }
                    keep_usage(job, &mut logs, &shared.buffers);
                }
                // The requests' usage entries are tried again on their own:
                // a post answered 004 is still logged whole, with its answer.
                if !logs.is_empty() {
                    if let Err(e) = commit(&store, &mut seq, &mut logs, false, now, &cfg) {
                        tracing::error!(error = %e, entries = logs.len(), "usage entries of a failed batch lost");
                        if let Ok(s) = Sequences::load(&store) {
                            seq = s;
                        }
                    }
                    for job in logs.drain(..) {
                        recycle(&shared.buffers, job);
                    }
                }
            }
        }
    }
    shared.stopped.store(true, Ordering::Relaxed);
}

/// A finished job's entry buffer, back to the pool the worker took it from.
fn recycle(buffers: &Pool<Vec<u8>>, job: Job) {
    match job {
        Job::Usage(e) | Job::Automation(e) => buffers.give(e.into_buffer()),
        Job::UsageAndAutomation(u, a) => {
            buffers.give(u.into_buffer());
            buffers.give(a.into_buffer());
        }
        Job::Lead(mut d, _) => {
            if let Some(u) = d.usage.take() {
                buffers.give(u.into_buffer());
            }
        }
        Job::Ticket(mut d, _) => {
            if let Some(u) = d.usage.take() {
                buffers.give(u.into_buffer());
            }
        }
        _ => {}
    }
}

/// Keeps what of a job in a failed batch is worth a second try in `logs`:
/// log entries, or a record's usage entry (answered 004); the rest goes back
/// to the pool.
fn keep_usage(job: Job, logs: &mut Vec<Job>, buffers: &Pool<Vec<u8>>) {
    let usage = match job {
        Job::Usage(_) | Job::Automation(_) | Job::UsageAndAutomation(..) => {
            logs.push(job);
            return;
        }
        Job::Lead(mut d, _) => d.usage.take().map(|u| (u, d.answers.failed)),
        Job::Ticket(mut d, _) => d.usage.take().map(|u| (u, d.answers.failed)),
        other => {
            recycle(buffers, other);
            None
        }
    };
    if let Some((mut usage, (code, reason))) = usage {
        usage.close(&super::rendered::Outcome {
            status: 200,
            code,
            reason,
            record_id: 0,
        });
        logs.push(Job::Usage(usage));
    }
}

fn reply_of(job: &Job) -> Option<&Reply> {
    match job {
        Job::Usage(_) | Job::Automation(_) | Job::UsageAndAutomation(..) => None,
        Job::Lead(_, r)
        | Job::Ticket(_, r)
        | Job::BadLead(_, r)
        | Job::PatchClient(_, _, r)
        | Job::OutboxResult(_, _, r)
        | Job::ConfigPut(_, _, r)
        | Job::ApplyRemote(_, r)
        | Job::ReplPublished(_, r)
        | Job::CrmAdd(_, r)
        | Job::Dialer(_, r)
        | Job::DeliveryResult(_, _, _, _, r)
        | Job::ResendDelivery(_, r)
        | Job::Feedback(_, _, r)
        | Job::PatchLead(_, _, _, r)
        | Job::Sync(r) => Some(r),
    }
}

/// A post's usage entry, with the answer its record got, in the record's
/// own transaction.
fn put_answered_usage(
    b: &mut Batch<'_>,
    usage: Option<&mut RenderedEntry>,
    answers: &super::rendered::Answers,
    o: &LeadOutcome,
) -> Result<()> {
    if let Some(u) = usage {
        let (code, reason) = answers.stored[o.stored as usize];
        u.close(&super::rendered::Outcome {
            status: 200,
            code,
            reason,
            record_id: o.client_id,
        });
        b.put_usage(u)?;
    }
    Ok(())
}

/// Each job's outcome, usage entries pruned, time in LMDB's write + fsync.
type Committed = (Vec<Option<Applied>>, usize, Duration);

fn commit(
    store: &Store,
    seq: &mut Sequences,
    jobs: &mut [Job],
    housekeeping: bool,
    now: u64,
    cfg: &WriterConfig,
) -> Result<Committed> {
    let snapshot = seq.clone();
    let ceiling = super::ceiling::switches();
    let res = (|| {
        let mut b = Batch::begin(store, seq)?.with_notifications(&cfg.notifications);
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs.iter_mut() {
            outcomes.push(match job {
                Job::Usage(e) => {
                    b.put_usage(e)?;
                    None
                }
                Job::Automation(e) => {
                    b.put_rendered(super::Collection::AutomationLog, e)?;
                    None
                }
                Job::UsageAndAutomation(u, a) => {
                    if !ceiling.no_log {
                        b.put_usage(u)?;
                        b.put_rendered(super::Collection::AutomationLog, a)?;
                    }
                    None
                }
                Job::Lead(d, _) => {
                    let o = if ceiling.no_apply {
                        LeadOutcome {
                            stored: super::leads::Stored::Created,
                            client_id: 0,
                        }
                    } else {
                        b.apply_lead(d)?
                    };
                    put_answered_usage(&mut b, d.usage.as_mut(), &d.answers, &o)?;
                    Some(Applied::Lead(o))
                }
                Job::Ticket(d, _) => {
                    let o = b.apply_ticket(d)?;
                    put_answered_usage(&mut b, d.usage.as_mut(), &d.answers, &o)?;
                    Some(Applied::Lead(o))
                }
                Job::BadLead(bl, _) => Some(Applied::Stored(b.put_bad_lead(bl.clone())?)),
                Job::PatchClient(id, p, _) => Some(Applied::Client(
                    b.patch_client(*id, p, &crate::clock::rfc3339_utc(now))?
                        .map(Box::new),
                )),
                Job::Sync(_) => Some(Applied::Stored(0)),
                Job::DeliveryResult(id, result, code, response, _) => {
                    let status = b.outbox_result(*id, result, now, &cfg.retry)?;
                    let delivery = b.outbox_item(*id)?.and_then(|i| {
                        i.record
                            .strip_prefix("deliveries/")
                            .and_then(|d| d.parse().ok())
                    });
                    if let Some(did) = delivery {
                        let when = crate::clock::rfc3339_utc(now);
                        b.delivery_attempt(
                            did,
                            result,
                            status != "pending",
                            *code,
                            response,
                            &when,
                        )?;
                    }
                    Some(Applied::Stored(*id))
                }
                Job::ResendDelivery(id, _) => Some(Applied::Resent(b.resend_delivery(*id, now)?)),
                Job::Feedback(id, f, _) => Some(Applied::Delivery(
                    b.delivery_feedback(*id, f.clone())?.map(Box::new),
                )),
                Job::Dialer(op, _) => Some(Applied::Numbers(b.apply_dialer(op)?)),
                Job::CrmAdd(d, _) => Some(Applied::Stored(b.add_crm_lead(d)?)),
                Job::PatchLead(id, p, today, _) => Some(Applied::InboxLead(
                    b.patch_lead(*id, p, today)?.map(Box::new),
                )),
                Job::ConfigPut(key, json, _) => {
                    Some(Applied::Stored(b.put_config(key, json.as_deref())? as u64))
                }
                Job::OutboxResult(id, result, _) => {
                    b.outbox_result(*id, result, now, &cfg.retry)?;
                    Some(Applied::Stored(*id))
                }
                Job::ApplyRemote(entries, _) => {
                    let mut changed = 0;
                    for e in entries.iter() {
                        changed += b.apply_remote(e, now)? as u64;
                    }
                    Some(Applied::Stored(changed))
                }
                Job::ReplPublished(up_to, _) => Some(Applied::Stored(b.repl_published(*up_to)?)),
            });
        }
        // Expired duplicate keys and over-retention usage entries go in every
        // commit, twice as many as the batch could have added, so pruning
        // keeps pace with any write rate; the idle once-a-second pass
        // catches up after a quiet spell.
        let budget = prune_budget(jobs.len(), housekeeping);
        b.prune_duplicates(now.saturating_sub(cfg.duplicate_window_ms), budget)?;
        let pruned = b.prune_usage(
            now.saturating_sub(cfg.usage_retention_ms),
            cfg.usage_max_bytes,
            0,
            budget,
        )?;
        let synced = b.commit()?;
        Ok((outcomes, pruned, synced))
    })();
    if res.is_err() {
        *seq = snapshot;
    }
    res
}

/// Frees space after `MapFull` by deleting the oldest tenth of the usage log.
fn make_room(store: &Store, seq: &mut Sequences, cfg: &WriterConfig, now: u64) -> usize {
    let count = store.count(super::Collection::UsageLog).unwrap_or(0) as usize;
    let force = (count / 10).max(100);
    let res = (|| {
        let mut b = Batch::begin(store, seq)?;
        let n = b.prune_usage(
            now.saturating_sub(cfg.usage_retention_ms),
            cfg.usage_max_bytes,
            force,
            force,
        )?;
        b.commit()?;
        Ok::<_, StoreError>(n)
    })();
    res.unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_outpaces_what_a_batch_adds() {
        assert!(prune_budget(4096, false) >= 2 * 4096);
        assert_eq!(prune_budget(0, false), 16);
        assert_eq!(prune_budget(10, true), 10_000);
    }

    #[test]
    fn batch_plan_takes_what_is_queued_up_to_the_cap() {
        assert_eq!(plan_batch(0, 1, 4096), 0);
        assert_eq!(plan_batch(10, 1, 4096), 10);
        assert_eq!(plan_batch(10_000, 1, 4096), 4095); // plus the first job = 4096
        assert_eq!(plan_batch(5, 1, 1), 0);
        assert_eq!(plan_batch(5, 4096, 4096), 0, "a full batch takes nothing");
        assert_eq!(plan_batch(5, 5000, 4096), 0);
    }
}
