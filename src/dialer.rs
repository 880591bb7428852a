//! The dialer (SPEC §9): the dispatcher thread that releases due calls of
//! enabled campaigns to the telephony backend. Dial targets are normalised
//! in [`crate::vocab::dial`].
//!
//! Floor: a thread above `app` and `store`; started by `server`.

pub use crate::vocab::dial::normalize_target;

use std::sync::Arc;
use std::time::Duration;

use crate::app::App;
use crate::store::dialer::DialerOp;
use crate::store::writer::Job;

/// Starts the dispatcher: every `dispatch_interval_ms` it releases the due
/// calls of each enabled campaign (an agent campaign only while it has
/// members), highest priority first, at most `coefficient` × (members, or
/// `queue_max_callers` for a smart campaign) per round, to the backend:
/// `none` releases nothing (an external dialer reads the API), `log`
/// records the attempt, `webhook` POSTs the call and releases it on a 2xx
/// (otherwise it stays pending for the next round). Released calls keep
/// their history (status, time, backend answer).
/// Err when the thread cannot start (the appliance then does not start).
/// The thread ends when the writer has stopped.
pub fn spawn_dispatcher(app: Arc<App>) -> std::io::Result<()> {
    let interval = Duration::from_millis(app.config().raw.dialer.dispatch_interval_ms.max(10));
    std::thread::Builder::new()
        .name("dataport-dialer".into())
        .spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(5)))
                .http_status_as_error(false)
                .build()
                .into();
            while !app.writer.is_stopped() {
                std::thread::sleep(interval);
                dispatch_round(&app, &agent);
                app.metrics
                    .dialer_rounds
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })?;
    Ok(())
}

fn dispatch_round(app: &App, agent: &ureq::Agent) {
    let cfg = app.config();
    let d = &cfg.raw.dialer;
    if d.backend == "none" {
        return;
    }
    // In a cluster every node holds the queues; the lease holder releases.
    if app
        .cluster
        .as_ref()
        .is_some_and(|c| !c.holds_dialer_lease())
    {
        return;
    }
    let now = app.clock.now_ms();
    for c in &d.campaigns {
        let state = app.store.campaign_state(&c.code).unwrap_or_default();
        if !state.enabled.unwrap_or(c.enabled) {
            continue;
        }
        let agents = c.kind == "agent";
        if agents && state.members.is_empty() {
            continue;
        }
        let lines = if agents {
            state.members.len() as u64
        } else {
            state.queue_max_callers.unwrap_or(c.queue_max_callers)
        };
        let pace = (lines * state.coefficient.unwrap_or(c.coefficient)).max(1) as usize;
        let due = app
            .store
            .pending_calls(&c.code, Some(now), pace)
            .unwrap_or_default();
        let mut done = Vec::new();
        for call in due {
            let result = if d.backend == "webhook" {
                let body = serde_json::json!({
                    "Campaign": c.code, "CampaignID": c.id, "CallID": call.call_id, "Phone": call.phone,
                    "CustomerName": call.customer_name, "CallerID": call.caller_id, "Priority": call.priority,
                    "CustomData": call.custom_data,
                });
                match agent
                    .post(&d.webhook_url)
                    .header("Content-Type", "application/json")
                    .send(body.to_string().as_bytes())
                {
                    Ok(r) if r.status().is_success() => format!("webhook {}", r.status().as_u16()),
                    Ok(r) => {
                        tracing::warn!(campaign = %c.code, status = r.status().as_u16(), "dialer webhook refused a call");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(campaign = %c.code, error = %e, "dialer webhook unreachable");
                        break;
                    }
                }
            } else {
                tracing::info!(campaign = %c.code, call = call.call_id, phone = %call.phone, "dialer: call released (log backend)");
                "logged".to_string()
            };
            done.push((call.id, result));
        }
        if !done.is_empty() {
            let at = crate::clock::rfc3339_utc(now);
            let _ = app
                .writer
                .call(|r| Job::Dialer(DialerOp::Release(done, at), r));
        }
    }
}
