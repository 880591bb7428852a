//! Loader rules for the sections beyond intake: buyers and delivery rules
//! (SPEC §8), the dialer (§9) and notifications (§6).

use std::collections::HashSet;

use super::raw::RawConfig;
use super::{err, is_http_url, ConfigError, CLIENT_FIELDS, EVENTS};

/// The dialer's directory and do-not-call list: every entry has its key
/// (an empty member or phone would match nothing, or everything).
fn directory(raw: &RawConfig, errors: &mut Vec<ConfigError>) {
    let mut members = HashSet::new();
    for (i, x) in raw.dialer.extensions.iter().enumerate() {
        let loc = format!("dialer.extensions[{}] ({:?})", i + 1, x.member);
        let m = x.member.trim();
        if m.is_empty() {
            err(errors, &loc, "member is empty");
        } else if m != x.member || m.chars().any(char::is_control) {
            err(
                errors,
                &loc,
                "member has surrounding spaces or control characters",
            );
        } else if !members.insert(m) {
            err(errors, &loc, "duplicate member");
        }
    }
    for (i, d) in raw.dnc.iter().enumerate() {
        let loc = format!("dnc[{}] ({:?})", i + 1, d.phone);
        if d.phone.trim().is_empty() {
            err(errors, &loc, "phone is empty");
        } else if crate::vocab::dial::normalize_target(&d.phone).is_none() {
            err(errors, &loc, "phone is not a phone number");
        }
    }
}

pub(super) fn validate(raw: &RawConfig, errors: &mut Vec<ConfigError>) {
    directory(raw, errors);
    buyers(raw, errors);
    dialer(raw, errors);
    notifications(raw, errors);
}

/// Buyers, delivery rules and feedback reasons (SPEC §8).
fn buyers(raw: &RawConfig, errors: &mut Vec<ConfigError>) {
    let mut buyer_ids = HashSet::new();
    for (i, b) in raw.buyers.iter().enumerate() {
        let loc = format!("buyers[{}] (id {})", i + 1, b.id);
        if b.id == 0 || !buyer_ids.insert(b.id) {
            err(errors, &loc, "buyer ids are unique positive integers");
        }
        let h = &b.api_key_sha256;
        if !h.is_empty() && (h.len() != 64 || !h.bytes().all(|c| c.is_ascii_hexdigit())) {
            err(
                errors,
                &loc,
                "api_key_sha256 must be 64 hex digits (dataport gen-key prints one)",
            );
        }
    }
    let mut rule_ids = HashSet::new();
    for (i, r) in raw.rules.iter().enumerate() {
        let loc = format!("rules[{}] (id {})", i + 1, r.id);
        if r.id == 0 || !rule_ids.insert(r.id) {
            err(errors, &loc, "rule ids are unique positive integers");
        }
        if !buyer_ids.contains(&r.buyer) {
            err(errors, &loc, format!("buyer {} is not defined", r.buyer));
        }
        if !matches!(r.method.as_str(), "post_form" | "post_json" | "get") {
            err(
                errors,
                &loc,
                format!("unknown method {:?} (post_form, post_json, get)", r.method),
            );
        }
        if !is_http_url(&r.url) {
            err(errors, &loc, "url must be an http(s) URL");
        }
        if r.routing_id_param.trim().is_empty() {
            err(
                errors,
                &loc,
                "routing_id_param names the parameter carrying the routing id",
            );
        }
        for ours in r.fields.keys() {
            if !CLIENT_FIELDS.contains(&ours.as_str())
                && !matches!(ours.as_str(), "id" | "number" | "created_at" | "profile")
            {
                err(
                    errors,
                    &loc,
                    format!("fields: {ours:?} is not a client field"),
                );
            }
        }
        if r.timeout_ms == 0 || r.timeout_ms > 120_000 {
            err(errors, &loc, "timeout_ms must be between 1 and 120000");
        }
    }
    let mut reason_ids = HashSet::new();
    for (i, f) in raw.feedback_reasons.iter().enumerate() {
        if f.id == 0 || !reason_ids.insert(f.id) {
            err(
                errors,
                format!("feedback_reasons[{}] (id {})", i + 1, f.id),
                "ids are unique positive integers",
            );
        }
    }
}

/// The dialer section and its campaigns (SPEC §9).
fn dialer(raw: &RawConfig, errors: &mut Vec<ConfigError>) {
    let d = &raw.dialer;
    if !matches!(d.backend.as_str(), "none" | "log" | "webhook") {
        err(errors, "dialer.backend", "must be none, log or webhook");
    }
    if d.backend == "webhook" && !is_http_url(&d.webhook_url) {
        err(
            errors,
            "dialer.webhook_url",
            "the webhook backend needs an http(s) URL",
        );
    }
    if d.timezone.parse::<chrono_tz::Tz>().is_err() {
        err(
            errors,
            "dialer.timezone",
            format!("unknown time zone {:?}", d.timezone),
        );
    }
    let mut codes = HashSet::new();
    let mut campaign_ids = HashSet::new();
    for (i, c) in d.campaigns.iter().enumerate() {
        let loc = format!("dialer.campaigns[{}] ({})", i + 1, c.name);
        if c.code.len() != 32 || !c.code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            err(errors, &loc, "code must be 32 letters and digits");
        }
        if !codes.insert(c.code.clone()) {
            err(errors, &loc, "duplicate campaign code");
        }
        if c.id == 0 || !campaign_ids.insert(c.id) {
            err(errors, &loc, "campaign ids are unique positive integers");
        }
        if !matches!(c.kind.as_str(), "agent" | "smart") {
            err(errors, &loc, "type is agent or smart");
        }
        if c.queue_max_callers == 0 || c.coefficient < 2 {
            err(
                errors,
                &loc,
                "queue_max_callers must be > 0 and coefficient > 1",
            );
        }
    }
    for p in &raw.profiles {
        if !p.dialer_campaign.is_empty() && !codes.contains(&p.dialer_campaign) {
            err(
                errors,
                format!("profile #{} ({:?})", p.number, p.form_name),
                format!(
                    "dialer_campaign {:?} is not a campaign code",
                    p.dialer_campaign
                ),
            );
        }
    }
}

/// Alerts, the SMS gateway, SMTP, the outbox, the CRM API (SPEC §6, §7).
fn notifications(raw: &RawConfig, errors: &mut Vec<ConfigError>) {
    for (i, a) in raw.alerts.iter().enumerate() {
        let loc = format!("alerts[{}] ({})", i + 1, a.event);
        if !EVENTS.contains(&a.event.as_str()) {
            err(
                errors,
                &loc,
                format!("unknown event {:?}; one of {}", a.event, EVENTS.join(", ")),
            );
        }
        match a.action.as_str() {
            "email" | "sms" | "task" => {}
            "webhook" => {
                if !is_http_url(&a.to) {
                    err(errors, &loc, "a webhook needs an http(s) URL in `to`");
                }
            }
            other => err(
                errors,
                &loc,
                format!("unknown action {other:?} (email, sms, webhook, task)"),
            ),
        }
        if a.to.trim().is_empty() {
            err(errors, &loc, "`to` is empty");
        }
        if a.action == "sms" && raw.sms.url.is_empty() {
            err(errors, &loc, "an sms alert needs [sms] url");
        }
    }
    if !matches!(raw.crm.language.as_str(), "ru" | "en") {
        err(
            errors,
            "crm.language",
            "must be ru (seed 003's words) or en",
        );
    }
    if !raw.sms.url.is_empty() && !is_http_url(&raw.sms.url) {
        err(errors, "sms.url", "must be an http(s) URL");
    }
    if !matches!(raw.smtp.tls.as_str(), "none" | "starttls" | "tls") {
        err(errors, "smtp.tls", "must be none, starttls or tls");
    }
    if raw.outbox.max_attempts == 0 || raw.outbox.senders == 0 {
        err(errors, "outbox", "max_attempts and senders must be > 0");
    }
    for p in &raw.profiles {
        if p.kind == "client_lead_trading_account" && !is_http_url(&p.parameter1) {
            err(
                errors,
                format!("profile #{} ({:?})", p.number, p.form_name),
                "a client_lead_trading_account profile needs the platform's http(s) URL in parameter1",
            );
        }
    }
}
