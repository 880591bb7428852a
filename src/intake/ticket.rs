//! The service-ticket pipeline (SPEC §5): usage log, mapping into a ticket
//! from the public website, extra fields, mandatory fields (complainer and
//! subject always), language, external key (002), the duplicate window on
//! (profile, complainer, phone, email, subject), then number and store.
//! No email or SMS goes to the sender.

use super::logs::Logs;
use super::{language, mapping, normalize, pairs, submit_failed};
use crate::app::App;
use crate::clock;
use crate::codes::Code;
use crate::config::{Config, Profile};
use crate::dedupe;
use crate::http::body::Fields;
use crate::store::tickets::TicketDraft;
use crate::store::writer::{Applied, Job};
use crate::store::DuplicateKey;
use crate::vocab::records::SOURCE_PUBLIC_WEBSITE;

pub(super) fn run(
    app: &App,
    logs: &Logs<'_>,
    cfg: &Config,
    profile: &Profile,
    fields: &Fields,
    now: u64,
) -> (Code, Option<u64>) {
    // 2–4. Mapping, extra fields, mandatory fields.
    let Ok(mut m) = mapping::map(profile, fields) else {
        return (Code::MissingRequired, None);
    };
    let created_at = clock::rfc3339_utc(now);
    if m.ticket.complainer_name.is_empty() || m.ticket.subject.is_empty() {
        let code = logs.without_record(
            profile,
            &created_at,
            pairs(&m.extras),
            Code::MissingRequired,
        );
        return (code, None);
    }
    // 5. Language.
    if !cfg.scripts.is_empty()
        && !m
            .ticket
            .mapped_fields()
            .iter()
            .all(|(_, v)| language::acceptable(&cfg.scripts, v))
    {
        let code = logs.without_record(profile, &created_at, pairs(&m.extras), Code::Language);
        return (code, None);
    }
    let t = &mut m.ticket;
    t.return_phone = app.phones.normalize(&t.return_phone);
    t.return_email = normalize::email(&t.return_email);
    logs.carry(std::iter::once(t.return_phone.as_str()), &t.return_email);
    t.created_at = created_at.clone();
    t.profile = profile.number;
    t.source = SOURCE_PUBLIC_WEBSITE;
    t.status = "open".into();
    // 6. External key.
    if !profile.external_key_field.is_empty() {
        if let Some(k) = fields
            .get(&profile.external_key_field)
            .filter(|k| !k.is_empty())
        {
            t.external_key = k.to_string();
        }
    }
    // 7. Duplicate post: not when the sender keys its records (seed 000:
    // the external key replaces the duplicate check; the sender answers
    // for it). A known key updates its ticket, an unknown one makes one.
    let duplicate_key = if !t.external_key.is_empty() {
        None
    } else {
        let key = dedupe::key_hash(
            profile.number,
            &[
                &t.complainer_name,
                &t.return_phone,
                &t.return_email,
                &t.subject,
            ],
        );
        let anchor = DuplicateKey::anchor_of(&[&t.return_phone], &t.return_email);
        match super::window::reserve(app, key, anchor, now) {
            Ok(Some(reserved)) => Some(reserved),
            Ok(None) => {
                let code =
                    logs.without_record(profile, &created_at, pairs(&m.extras), Code::Duplicate);
                return (code, None);
            }
            Err(code) => return (code, None),
        }
    };
    let reserved = duplicate_key.as_ref().map(|k| (k.hash, k.at));
    // 8. Number and store.
    let draft = TicketDraft {
        at_ms: now,
        ticket: m.ticket,
        extras: m.extras,
        duplicate_key,
        usage: logs.for_record(),
        answers: super::ANSWERS,
    };
    let outcome = app.writer.call(|r| Job::Ticket(Box::new(draft), r));
    if !matches!(outcome, Ok(Ok(_))) {
        super::window::release(app, reserved);
    }
    match outcome {
        Ok(Ok(Applied::Lead(o))) => (super::code_of(o.stored), Some(o.client_id)),
        Ok(_) => (Code::DatabaseError, None),
        Err(e) => (submit_failed(app, e), None),
    }
}
