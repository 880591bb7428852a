//! The outbox sender: a scheduler thread picks due notifications from
//! storage and a pool of sender threads delivers them — SMTP through
//! `lettre`, the SMS gateway and webhooks through `ureq` — each attempt
//! bounded by its timeout. Results go back to the writer as jobs, so they are
//! committed in batches with everything else. All of it runs on its own OS
//! threads: a hung SMTP peer costs a sender thread, never a request. Email
//! and HTTP deliveries have separate lanes of `senders` threads each, so a
//! dead SMTP server cannot starve webhooks and SMS (or the reverse).
//!
//! Floor: above `store` (it reads due records and hands results to the
//! writer) and `outbox` (what a record means).

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// RFC 3986 unreserved characters stay as they are in SMS gateway URLs.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

use crate::clock::SharedClock;
use crate::config::raw::{OutboxSection, SmsSection, SmtpSection};
use crate::metrics::Metrics;
use crate::outbox::Delivery;
use crate::store::writer::{Job, WriterHandle};
use crate::store::Store;
use crate::vocab::records::OutboxItem;

/// Everything the senders need from the configuration.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    pub smtp: SmtpSection,
    pub sms: SmsSection,
    pub outbox: OutboxSection,
}

/// How often the scheduler looks for due notifications.
const POLL: Duration = Duration::from_millis(100);
/// Items a lane holds for its senders. Refilled once per [`POLL`], so a
/// lane can start up to ten times this many sends a second: a flood's
/// backlog of alerts drains at the senders' pace, not the poll's (with
/// `senders * 2`, 16 by default, a lane could start at most ~160 sends a
/// second, whatever the senders could do).
const LANE: usize = 256;
/// Due items read per round: more than both lanes can hold in flight, so
/// a round always finds new ones behind those already in a lane.
const SCAN: usize = 4 * LANE;

/// The items the senders hold, and those they finished since the
/// scheduler's last scan began. A scan reads a snapshot: an item finished
/// (its result committed) while the scheduler walks that snapshot still
/// shows as due in it, and without `done` it was handed out again (a
/// webhook sent twice; seen with a hung SMTP server and a long scan).
#[derive(Default)]
struct InFlight {
    sending: HashSet<u64>,
    done: HashSet<u64>,
}

impl InFlight {
    fn finish(&mut self, id: u64) {
        self.sending.remove(&id);
        self.done.insert(id);
    }
}

/// Starts the scheduler and the sender threads; Err when one cannot start
/// (the appliance then does not start). They end when the writer has
/// stopped: the scheduler first, then each sender as its lane closes.
pub fn spawn(
    store: Arc<Store>,
    writer: WriterHandle,
    clock: SharedClock,
    cfg: SenderConfig,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    let senders = cfg.outbox.senders.max(1);
    let (mail_tx, mail_rx) = crossbeam_channel::bounded::<OutboxItem>(LANE);
    let (http_tx, http_rx) = crossbeam_channel::bounded::<OutboxItem>(LANE);
    let inflight: Arc<Mutex<InFlight>> = Arc::default();
    {
        let inflight = inflight.clone();
        let scheduler_writer = writer.clone();
        let scheduler_metrics = metrics.clone();
        std::thread::Builder::new()
            .name("dataport-outbox".into())
            .spawn(move || loop {
                if scheduler_writer.is_stopped() {
                    return;
                }
                // Items finished from here on are finished after the scan's
                // snapshot too: the scan may still show them due.
                inflight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .done
                    .clear();
                let due = store.due_outbox(clock.now_ms(), SCAN).unwrap_or_default();
                for item in due {
                    let mut set = inflight.lock().unwrap_or_else(|p| p.into_inner());
                    if set.sending.contains(&item.id) || set.done.contains(&item.id) {
                        continue;
                    }
                    let lane = if item.channel == "email" {
                        &mail_tx
                    } else {
                        &http_tx
                    };
                    // A full lane keeps the item for a later round instead of blocking the other lane.
                    let id = item.id;
                    match lane.try_send(item) {
                        Ok(()) => {
                            set.sending.insert(id);
                        }
                        Err(crossbeam_channel::TrySendError::Full(_)) => {}
                        Err(crossbeam_channel::TrySendError::Disconnected(_)) => return,
                    }
                }
                scheduler_metrics
                    .outbox_rounds
                    .fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(POLL);
            })?;
    }
    for (lane, rx) in [("mail", mail_rx), ("http", http_rx)] {
        for n in 0..senders {
            let (rx, writer, inflight, cfg, metrics) = (
                rx.clone(),
                writer.clone(),
                inflight.clone(),
                cfg.clone(),
                metrics.clone(),
            );
            std::thread::Builder::new()
                .name(format!("dataport-{lane}-{n}"))
                .spawn(move || sender_loop(rx, writer, inflight, cfg, metrics))?;
        }
    }
    Ok(())
}

fn sender_loop(
    rx: crossbeam_channel::Receiver<OutboxItem>,
    writer: WriterHandle,
    inflight: Arc<Mutex<InFlight>>,
    cfg: SenderConfig,
    metrics: Arc<Metrics>,
) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(cfg.outbox.http_timeout_ms)))
        .http_status_as_error(false)
        .build()
        .into();
    let smtp = smtp_transport(&cfg.smtp);
    for item in rx {
        if item.channel == "delivery" {
            let (result, code, response) = deliver_to_buyer(&item, &agent);
            count(&metrics, &result);
            let _ =
                writer.call(|reply| Job::DeliveryResult(item.id, result, code, response, reply));
            inflight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .finish(item.id);
            continue;
        }
        let result = deliver(&item, &cfg, &agent, &smtp);
        count(&metrics, &result);
        if let Delivery::Retry(e) | Delivery::Failed(e) = &result {
            tracing::warn!(id = item.id, channel = %item.channel, error = %e, "notification not delivered");
        }
        // Wait for the commit, so the scheduler never sees it due twice.
        let _ = writer.call(|reply| Job::OutboxResult(item.id, result, reply));
        inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .finish(item.id);
    }
}

fn count(metrics: &Metrics, result: &Delivery) {
    let counter = match result {
        Delivery::Sent => &metrics.outbox_sent,
        Delivery::Retry(_) => &metrics.outbox_retries,
        Delivery::Failed(_) => &metrics.outbox_failed,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Sends a lead to a buyer as its rule says: the outcome, the HTTP status
/// (0 without an answer) and the first bytes of the answer.
fn deliver_to_buyer(item: &OutboxItem, agent: &ureq::Agent) -> (Delivery, u16, String) {
    use std::io::Read;
    let job: crate::store::deliveries::DeliveryJob = match serde_json::from_str(&item.body) {
        Ok(j) => j,
        Err(e) => {
            return (
                Delivery::Failed(format!("bad delivery record: {e}")),
                0,
                String::new(),
            )
        }
    };
    let timeout = Some(Duration::from_millis(job.timeout_ms));
    let form = || {
        job.params
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(k, COMPONENT),
                    utf8_percent_encode(v, COMPONENT)
                )
            })
            .collect::<Vec<_>>()
            .join("&")
    };
    let result = match job.method.as_str() {
        "get" => {
            let sep = if job.url.contains('?') { '&' } else { '?' };
            let url = format!("{}{sep}{}", job.url, form());
            agent
                .get(&url)
                .config()
                .timeout_global(timeout)
                .build()
                .call()
        }
        "post_json" => {
            let obj: serde_json::Map<String, serde_json::Value> = job
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect();
            agent
                .post(&job.url)
                .config()
                .timeout_global(timeout)
                .build()
                .header("Content-Type", "application/json")
                .send(serde_json::Value::Object(obj).to_string().as_bytes())
        }
        _ => agent
            .post(&job.url)
            .config()
            .timeout_global(timeout)
            .build()
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(form().as_bytes()),
    };
    match result {
        Ok(resp) => {
            let code = resp.status().as_u16();
            let mut head = Vec::new();
            let _ = resp
                .into_body()
                .into_reader()
                .take(256)
                .read_to_end(&mut head);
            let text = String::from_utf8_lossy(&head).to_string();
            let outcome = match code {
                200..=299 => Delivery::Sent,
                400..=499 => Delivery::Failed(format!("HTTP {code}")),
                _ => Delivery::Retry(format!("HTTP {code}")),
            };
            (outcome, code, text)
        }
        Err(e) => (Delivery::Retry(e.to_string()), 0, String::new()),
    }
}

fn smtp_transport(s: &SmtpSection) -> Result<SmtpTransport, String> {
    let builder = match s.tls.as_str() {
        "tls" => SmtpTransport::relay(&s.host).map_err(|e| e.to_string())?,
        "starttls" => SmtpTransport::starttls_relay(&s.host).map_err(|e| e.to_string())?,
        _ => SmtpTransport::builder_dangerous(&s.host),
    };
    let mut builder = builder
        .port(s.port)
        .timeout(Some(Duration::from_millis(s.timeout_ms)));
    if !s.user.is_empty() {
        builder = builder.credentials(Credentials::new(s.user.clone(), s.password.clone()));
    }
    Ok(builder.build())
}

fn deliver(
    item: &OutboxItem,
    cfg: &SenderConfig,
    agent: &ureq::Agent,
    smtp: &Result<SmtpTransport, String>,
) -> Delivery {
    match item.channel.as_str() {
        "email" => {
            let transport = match smtp {
                Ok(t) => t,
                Err(e) => return Delivery::Failed(format!("SMTP settings: {e}")),
            };
            let msg = match (cfg.smtp.from.parse(), item.to.parse()) {
                (Ok(from), Ok(to)) => Message::builder()
                    .from(from)
                    .to(to)
                    .subject(item.subject.clone())
                    .header(ContentType::TEXT_PLAIN)
                    .body(item.body.clone()),
                (Err(e), _) => return Delivery::Failed(format!("bad [smtp] from: {e}")),
                (_, Err(e)) => return Delivery::Failed(format!("bad address {:?}: {e}", item.to)),
            };
            let msg = match msg {
                Ok(m) => m,
                Err(e) => return Delivery::Failed(e.to_string()),
            };
            match transport.send(&msg) {
                Ok(_) => Delivery::Sent,
                Err(e) if e.is_permanent() => Delivery::Failed(e.to_string()),
                Err(e) => Delivery::Retry(e.to_string()),
            }
        }
        "sms" => {
            let url = cfg
                .sms
                .url
                .replace(
                    "{{to}}",
                    &utf8_percent_encode(&item.to, COMPONENT).to_string(),
                )
                .replace(
                    "{{text}}",
                    &utf8_percent_encode(&item.body, COMPONENT).to_string(),
                );
            http_outcome(agent.get(&url).call())
        }
        "webhook" | "http_post" => http_outcome(
            agent
                .post(&item.to)
                .header("Content-Type", "application/json")
                .send(item.body.as_bytes()),
        ),
        other => Delivery::Failed(format!("unknown channel {other:?}")),
    }
}

/// 2xx sent; 4xx final; anything else (5xx, timeout, refused) retried.
fn http_outcome(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Delivery {
    match r {
        Ok(resp) => {
            let s = resp.status().as_u16();
            match s {
                200..=299 => Delivery::Sent,
                400..=499 => Delivery::Failed(format!("HTTP {s}")),
                _ => Delivery::Retry(format!("HTTP {s}")),
            }
        }
        Err(e) => Delivery::Retry(e.to_string()),
    }
}
