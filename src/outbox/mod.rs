//! Notifications (SPEC §6): what an event sends, and the outbox that sends it.
//!
//! An event (a new lead, a returning client, a new ticket) turns into outbox
//! records *inside the write transaction that stores the event* (see
//! `store::apply`), so a crash can neither lose a notification nor send one
//! for a record that was not stored. The sender threads ([`crate::sender`]) pick
//! due records, deliver them (SMTP, SMS gateway, webhook, trading platform)
//! and hand the results back to the writer in batches; failures are retried
//! with exponential backoff until `max_attempts`, and every record keeps its
//! final status (`GET /admin/v1/outbox`). Nothing here runs on a request
//! coroutine, so a dead peer never slows intake.
//!
//! Floor: this module is the rules and the rendering (imports `config` and
//! `vocab`), below `store`, which raises the records; the sender threads
//! that read them back from storage are [`crate::sender`], above it.

use std::collections::BTreeMap;

use crate::config::raw::{AlertSpec, TemplateSpec};
use crate::config::Config;
use crate::vocab::records::OutboxItem;

pub const NEW_CLIENT: &str = "WebApi_New_Client_Reg";
pub const RETURNING_CLIENT: &str = "Real_Client_Try_Reg_Again";
pub const NEW_TICKET: &str = "WebApi_Public_Service_Ticket";
pub const EMAIL_TO_NEW_LEAD: &str = "Email_to_New_Client_Lead";
pub const SMS_TO_NEW_LEAD: &str = "SMS_to_New_Client_Lead";
pub const CRM_LEAD_ASSIGNED: &str = "Crm_Lead_Assigned";
/// Cluster mode: a person became a client on two nodes while NATS was away.
pub const POSSIBLE_DUPLICATE: &str = "Cluster_Possible_Duplicate";

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Worth another try later (timeout, 5xx, transient SMTP error).
    Retry(String),
    /// Final (4xx, permanent SMTP error, bad address).
    Failed(String),
}

/// Retry policy of the outbox.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub backoff_ms: u64,
    pub max_backoff_ms: u64,
}

impl RetryPolicy {
    /// Wait before attempt `attempts + 1`, after `attempts` failures (≥ 1).
    pub fn backoff(&self, attempts: u32) -> u64 {
        let shift = attempts.saturating_sub(1).min(30);
        self.backoff_ms
            .saturating_mul(1 << shift)
            .min(self.max_backoff_ms)
    }
}

/// The notification rules of a configuration.
#[derive(Debug, Clone, Default)]
pub struct Notifications {
    pub alerts: Vec<AlertSpec>,
    pub templates: BTreeMap<String, TemplateSpec>,
}

impl Notifications {
    /// Whether `event` sends anything (an alert, or for a new client the
    /// templates to the lead), so callers can skip rendering otherwise.
    pub fn wants(&self, event: &str) -> bool {
        self.alerts.iter().any(|a| a.event == event)
            || (event == NEW_CLIENT
                && (self.templates.contains_key(EMAIL_TO_NEW_LEAD)
                    || self.templates.contains_key(SMS_TO_NEW_LEAD)))
            || (event == CRM_LEAD_ASSIGNED && self.templates.contains_key(CRM_LEAD_ASSIGNED))
    }

    pub fn from_config(cfg: &Config) -> Notifications {
        Notifications {
            alerts: cfg.raw.alerts.clone(),
            templates: cfg.raw.templates.clone(),
        }
    }
}

/// Fills `{{name}}` placeholders from `fields` (unknown names become empty).
pub fn render(template: &str, fields: &serde_json::Value) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = after[..end].trim();
                match fields.get(name) {
                    Some(serde_json::Value::String(s)) => out.push_str(s),
                    Some(serde_json::Value::Null) | None => {}
                    Some(v) => out.push_str(&v.to_string()),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn item(
    event: &str,
    channel: &str,
    to: &str,
    subject: String,
    body: String,
    record: &str,
) -> OutboxItem {
    OutboxItem {
        event: event.to_string(),
        channel: channel.to_string(),
        to: to.to_string(),
        subject,
        body,
        record: record.to_string(),
        status: "pending".into(),
        ..OutboxItem::default()
    }
}

/// What the alerts of `event` send about `fields` (a client or ticket as
/// JSON; `record` = "clients/12"). Tasks are not outbox records: they come
/// back separately as (assignee, text).
pub fn alert_items(
    rules: &Notifications,
    event: &str,
    fields: &serde_json::Value,
    record: &str,
) -> (Vec<OutboxItem>, Vec<(String, String)>) {
    let mut items = Vec::new();
    let mut tasks = Vec::new();
    let summary = summary_line(event, fields, record);
    for a in rules.alerts.iter().filter(|a| a.event == event) {
        match a.action.as_str() {
            "email" => items.push(item(
                event,
                "email",
                &a.to,
                format!("[dataport] {event}"),
                summary.clone(),
                record,
            )),
            "sms" => items.push(item(
                event,
                "sms",
                &a.to,
                String::new(),
                summary.clone(),
                record,
            )),
            "webhook" => {
                let body = serde_json::json!({ "event": event, "record": record, "data": fields })
                    .to_string();
                items.push(item(event, "webhook", &a.to, String::new(), body, record))
            }
            _ => tasks.push((a.to.clone(), summary.clone())),
        }
    }
    (items, tasks)
}

/// The templates to the new lead itself (SPEC §4 step 10.3): the email when
/// it has an address, the SMS when phone1 is longer than 4 digits.
pub fn new_lead_messages(
    rules: &Notifications,
    client: &serde_json::Value,
    record: &str,
) -> Vec<OutboxItem> {
    let mut out = Vec::new();
    let email = client.get("email").and_then(|v| v.as_str()).unwrap_or("");
    if let (Some(t), false) = (rules.templates.get(EMAIL_TO_NEW_LEAD), email.is_empty()) {
        out.push(item(
            NEW_CLIENT,
            "email",
            email,
            render(&t.subject, client),
            render(&t.body, client),
            record,
        ));
    }
    let phone = client.get("phone1").and_then(|v| v.as_str()).unwrap_or("");
    if let (Some(t), true) = (rules.templates.get(SMS_TO_NEW_LEAD), phone.len() > 4) {
        out.push(item(
            NEW_CLIENT,
            "sms",
            phone,
            String::new(),
            render(&t.body, client),
            record,
        ));
    }
    out
}

/// An email to one address.
pub fn email(event: &str, to: &str, subject: String, body: String, record: &str) -> OutboxItem {
    item(event, "email", to, subject, body, record)
}

/// The account-opening POST of a `client_lead_trading_account` lead.
pub fn trading_account_post(url: &str, client: &serde_json::Value, record: &str) -> OutboxItem {
    item(
        NEW_CLIENT,
        "http_post",
        url,
        String::new(),
        client.to_string(),
        record,
    )
}

fn summary_line(event: &str, f: &serde_json::Value, record: &str) -> String {
    let s = |k: &str| f.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let name = [
        s("full_name"),
        s("first_name"),
        s("last_name"),
        s("complainer_name"),
    ]
    .into_iter()
    .filter(|x| !x.is_empty())
    .collect::<Vec<_>>()
    .join(" ");
    let contact = [
        s("phone1"),
        s("email"),
        s("return_phone"),
        s("return_email"),
        s("subject"),
    ]
    .into_iter()
    .filter(|x| !x.is_empty())
    .collect::<Vec<_>>()
    .join(", ");
    format!("{event}: {name} ({contact}) [{record}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            max_attempts: 5,
            backoff_ms: 1000,
            max_backoff_ms: 5000,
        };
        assert_eq!(
            [
                p.backoff(1),
                p.backoff(2),
                p.backoff(3),
                p.backoff(4),
                p.backoff(40)
            ],
            [1000, 2000, 4000, 5000, 5000]
        );
    }

    #[test]
    fn placeholders() {
        let f = serde_json::json!({"first_name": "Dana", "number": 7, "x": null});
        assert_eq!(
            render("Hi {{first_name}}, #{{ number }}{{x}}{{nope}}!", &f),
            "Hi Dana, #7!"
        );
        assert_eq!(render("unclosed {{first_name", &f), "unclosed {{first_name");
        assert_eq!(render("", &f), "");
    }
}
