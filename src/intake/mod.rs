//! The client-lead pipeline of SPEC §4, as a sequence of small steps run by
//! the request's coroutine (1–8), then handed to the writer thread for the
//! steps that must see committed state (9–11, see `store::apply`).

mod logs;
pub mod mapping;
mod ticket;

pub use crate::captcha;
pub use crate::vocab::{language, normalize, phone_cache, phone_validity};

use std::sync::atomic::Ordering;

use crate::app::App;
use crate::clock;
use crate::codes::Code;
use crate::config::{Config, FormMode, Profile, ProfileType};
use crate::dedupe::{self, Check};
use crate::http::{Reply, Request};
use crate::store::leads::LeadDraft;
use crate::store::writer::{Applied, Job, SubmitError};
use crate::store::DuplicateKey;
use crate::vocab::records::BadLead;
use logs::Logs;
use phone_cache::PhoneNormal;

/// `GET|POST /{form_name}`.
pub fn handle(app: &App, req: &Request<'_>, form: &str) -> Reply {
    let now = app.clock.now_ms();
    let created_at = clock::Rfc3339Utc::new(now);
    let cfg = app.config();
    // The client behind a trusted proxy: rate-limited, and logged with the peer.
    let ip = crate::ratelimit::client_ip(
        req.peer,
        req.headers_named(&cfg.raw.server.client_ip_header),
        &cfg.trusted_proxies,
    );
    // A request that cannot be logged is not taken: the sender is told to
    // retry (005) rather than answered as if it had been kept.
    let logs = match Logs::start(app, req, ip, form, created_at.as_str()) {
        Ok(logs) => logs,
        Err(e) => {
            let code = submit_failed(app, e);
            let profile = cfg.profile(form).map(|p| &**p);
            if let Some(p) = profile {
                p.counters.by_code[code.index()].fetch_add(1, Ordering::Relaxed);
            }
            return answer(profile, req, code, None);
        }
    };
    let Some(profile) = cfg.profile(form) else {
        app.metrics.unknown_form.fetch_add(1, Ordering::Relaxed);
        return answer(None, req, logs.settle(Code::UnknownForm), None);
    };
    // Per-client-IP rate limit: logged (above), then refused.
    if let Err(wait) = app
        .limiter
        .check(ip, profile.number, profile.rate_limit_per_ip, now)
    {
        const LIMITED: &str = "too many requests from this address; retry later";
        let fake = profile.bot_fake_success && profile.form_mode != FormMode::None;
        let outcome = if fake {
            logs::answered(
                Code::Ok,
                "rate-limited; answered as a success (bot_fake_success)",
            )
        } else {
            logs::refused(429, LIMITED)
        };
        if let Err(e) = logs.flush(&outcome) {
            return answer(Some(profile), req, submit_failed(app, e), None);
        }
        if fake {
            return answer(Some(profile), req, Code::Ok, None);
        }
        let mut r = Reply::error(429, LIMITED);
        r.extra_headers
            .push_str(&format!("Retry-After: {wait}\r\n"));
        return r;
    }
    let (code, id) = match run(app, &logs, &cfg, req, profile, now, created_at.as_str()) {
        Ok(r) => r,
        Err(refusal) => {
            let Refusal(reply, outcome) = *refusal;
            return match logs.flush(&outcome.as_outcome()) {
                Ok(()) => reply,
                Err(e) => answer(Some(profile), req, submit_failed(app, e), None),
            };
        }
    };
    let code = logs.settle(code);
    profile.counters.by_code[code.index()].fetch_add(1, Ordering::Relaxed);
    answer(Some(profile), req, code, id)
}

/// An answer that is not an intake code's (an undecodable body's 400, the
/// mini form's page, a bot's fake success), with how the usage log
/// records it.
struct Refusal(Reply, OwnedOutcome);

/// An [`Outcome`](crate::store::rendered::Outcome) that owns its reason.
struct OwnedOutcome {
    status: u16,
    code: &'static str,
    reason: String,
}

impl OwnedOutcome {
    fn as_outcome(&self) -> crate::store::rendered::Outcome<'_> {
        crate::store::rendered::Outcome {
            status: self.status,
            code: self.code,
            reason: &self.reason,
            record_id: 0,
        }
    }
}

/// Steps 2–11. Err = an answer that is not an intake code.
fn run(
    app: &App,
    logs: &Logs<'_>,
    cfg: &Config,
    req: &Request<'_>,
    profile: &Profile,
    now: u64,
    created_at: &str,
) -> Result<(Code, Option<u64>), Box<Refusal>> {
    let mut fields = app.fields.lend();
    fields.set_max(cfg.raw.server.max_fields);
    fields
        .decode_into(req.query, req.header("content-type"), req.body)
        .map_err(|e| {
            let reason = e.to_string();
            let reply = Reply::error(e.status(), &reason);
            Box::new(Refusal(
                reply,
                OwnedOutcome {
                    status: e.status(),
                    code: "",
                    reason,
                },
            ))
        })?;
    // The mini form: a bare GET is the page, a captcha guards every post.
    if profile.form_mode != FormMode::None && req.method == "GET" && fields.is_empty() {
        let challenge = (profile.form_mode == FormMode::HtmlFormCaptcha)
            .then(|| app.captcha.challenge(&profile.form_name));
        let page = crate::pages::form::render(profile, challenge.as_ref());
        let status = page.status;
        let reason = "the form page".to_string();
        return Err(Box::new(Refusal(
            page,
            OwnedOutcome {
                status,
                code: "",
                reason,
            },
        )));
    }
    if profile.form_mode == FormMode::HtmlFormCaptcha {
        if let Err(why) = app.captcha.verify(&profile.form_name, &fields) {
            tracing::info!(profile = profile.number, why, "captcha refused");
            if profile.bot_fake_success {
                // A bot is told it succeeded; nothing is stored.
                return Err(Box::new(Refusal(
                    answer(Some(profile), req, Code::Ok, None),
                    OwnedOutcome {
                        status: 200,
                        code: Code::Ok.as_str(),
                        reason: format!("captcha refused ({why}); answered as a success"),
                    },
                )));
            }
            return Ok((Code::Captcha, None));
        }
    }
    fields.retain_keys(|k| !k.starts_with("_captcha_") && k != captcha::HONEYPOT_FIELD);
    if profile.kind == ProfileType::ServiceTicket {
        return Ok(ticket::run(app, logs, cfg, profile, &fields, now));
    }

    // 2–7 read the post in place (`mapping::View`): a post that becomes no
    // record (a flood's duplicates) builds no owned records and, with its
    // phones and email held inline, allocates nothing.
    // 2–3. Mapping, mandatory fields, extra fields.
    let Ok(view) = mapping::View::new(profile, &fields) else {
        return Ok((Code::MissingRequired, None));
    };

    // 4. Language.
    if !cfg.scripts.is_empty()
        && !view
            .stored_values()
            .all(|v| language::acceptable(&cfg.scripts, v))
    {
        let code = logs.without_record(profile, created_at, view.extras(), Code::Language);
        return Ok((code, None));
    }

    // 5. External key: a known key updates that client, nothing else runs.
    let external_key = if profile.external_key_field.is_empty() {
        ""
    } else {
        fields.get(&profile.external_key_field).unwrap_or("")
    };

    // 6. Contact validation: normal forms, plausibility, syntax.
    // Filled in place (not with array `map`s, which copied the inline
    // strings around: ~2k instructions a post).
    const PHONES: [&str; 3] = ["phone1", "phone2", "phone3"];
    let mut raw_phones = [""; 3];
    let mut normals = [
        PhoneNormal::default(),
        PhoneNormal::default(),
        PhoneNormal::default(),
    ];
    // None: no number posted; Some(plausible).
    let mut checked = [None; 3];
    for i in 0..3 {
        raw_phones[i] = view.client(PHONES[i]);
        if !raw_phones[i].is_empty() {
            let (normal, plausible) = app.phones.check_inline(raw_phones[i]);
            normals[i] = normal;
            checked[i] = Some(plausible);
        }
    }
    let mut usable = checked.iter().filter(|p| **p == Some(true)).count();
    let email = normalize::email_inline(view.client("email"));
    let sync_target = if external_key.is_empty() {
        None
    } else {
        match app.store.clients_by_external_key(external_key) {
            Ok(ids) => ids.first().copied(),
            Err(_) => return Ok((Code::DatabaseError, None)),
        }
    };
    if sync_target.is_none() {
        let mut email_failure = None;
        if !email.is_empty() {
            let email = email.as_str();
            if normalize::email_syntax_ok(email) {
                let domain = email.rsplit('@').next().unwrap_or("");
                match app.domains.as_ref().map(|d| d.check(domain)) {
                    Some(crate::dns::Verdict::Missing) => {
                        email_failure = Some(format!("email domain {domain:?} does not exist"))
                    }
                    _ => usable += 1,
                }
            } else {
                email_failure = Some(format!("email {email:?} is not a valid address"));
            }
        }
        if usable == 0 {
            let mut failures: Vec<String> = PHONES
                .iter()
                .zip(&raw_phones)
                .zip(&checked)
                .filter(|(_, plausible)| **plausible == Some(false))
                .map(|((name, raw), _)| format!("{name} {raw:?} is not a plausible phone number"))
                .chain(email_failure)
                .collect();
            if failures.is_empty() {
                failures.push("missing any phone or email".into());
            }
            let bad = BadLead {
                created_at: created_at.to_string(),
                profile: profile.number,
                reason: failures.join("; "),
                data: serde_json::to_value(mapping::posted(&fields)).unwrap_or_default(),
                ..BadLead::default()
            };
            let outcome = logs::answered(Code::NoContact, &bad.reason);
            if let Err(e) = logs.extras(profile, created_at, view.extras(), &outcome) {
                return Ok((submit_failed(app, e), None));
            }
            return Ok(match app.writer.call(|r| Job::BadLead(bad, r)) {
                Ok(Ok(_)) => (Code::NoContact, None),
                Ok(Err(_)) => (Code::DatabaseError, None),
                Err(e) => (submit_failed(app, e), None),
            });
        }
    }

    // 7. Duplicate post within the window. A posted external key replaces
    // the duplicate checks (seed 000: "the responsibility lies with the
    // external system"): no window here, no client matching in step 9.
    let duplicate_key =
        if profile.kind == ProfileType::ClientLeadNoDedupe || !external_key.is_empty() {
            None
        } else {
            let (p1, p2, p3) = (
                normals[0].as_str(),
                normals[1].as_str(),
                normals[2].as_str(),
            );
            let key = dedupe::key_hash(profile.number, &[p1, p2, p3, email.as_str()]);
            let anchor = DuplicateKey::anchor_of(&[p1, p2, p3], email.as_str());
            let seen = match app.dedupe.check(key, now) {
                Check::Reserved => false,
                Check::Duplicate => true,
                Check::AskStorage => {
                    app.metrics
                        .duplicate_storage_lookups
                        .fetch_add(1, Ordering::Relaxed);
                    match app.store.duplicate_accepted_at(key, anchor) {
                        Ok(Some(at)) if at + app.dedupe.window_ms() > now => true,
                        // A post admitted meanwhile makes this one its duplicate.
                        Ok(_) => !app.dedupe.admit(key, now),
                        Err(_) => return Ok((Code::DatabaseError, None)),
                    }
                }
            };
            if seen {
                let code = logs.without_record(profile, created_at, view.extras(), Code::Duplicate);
                return Ok((code, None));
            }
            Some(DuplicateKey::new(key, now, anchor))
        };
    let reserved = duplicate_key.as_ref().map(|k| (k.hash, k.at));

    // The post becomes a record: now the owned copy, with the normal forms.
    let mut m = view.into_mapped();
    let c = &mut m.client;
    for ((slot, normal), checked) in [&mut c.phone1, &mut c.phone2, &mut c.phone3]
        .into_iter()
        .zip(normals)
        .zip(checked)
    {
        if checked.is_some() {
            *slot = normal.into_string();
        }
    }
    c.email = email.into_string();
    if !external_key.is_empty() {
        c.external_key = external_key.to_string();
    }
    if let Some(ct) = m.contact.as_mut() {
        ct.phone = app.phones.normalize(&ct.phone);
        normalize::email_in_place(&mut ct.email);
    }

    // 8. Computed fields.
    let c = &mut m.client;
    let posted_branch = !c.branch.is_empty();
    if !c.salesperson.is_empty() {
        match cfg.active_user(&c.salesperson) {
            Some(u) => {
                c.salesperson = u.login.clone();
                if !u.branch.is_empty() {
                    c.branch = u.branch.clone();
                }
            }
            // Not an active user: nobody is assigned.
            None => c.salesperson.clear(),
        }
    }
    let rotate =
        !profile.circle_between_agencies.is_empty() && c.salesperson.is_empty() && !posted_branch;
    if sync_target.is_none()
        && c.first_name.is_empty()
        && c.last_name.is_empty()
        && c.full_name.is_empty()
    {
        c.full_name = "No Name From Web".into();
    }
    c.created_at = created_at.to_string();
    c.created_local = clock::rfc3339_in(now, cfg.web_tz);
    c.profile = profile.number;
    if let Some(ct) = m.contact.as_mut() {
        ct.created_at = c.created_at.clone();
        ct.profile = profile.number;
    }

    // 9–11 on the writer, acknowledged only once committed.
    let owner = cfg.active_user(&m.client.salesperson);
    let deliveries = matching_rules(cfg, profile.number, &m.client);
    let dialer = dial_entry(cfg, profile, &m.client, now);
    let posted = mapping::posted(&fields);
    let draft = LeadDraft {
        usage: logs.for_record(),
        dialer,
        deliveries,
        profile: profile.number,
        form_name: profile.form_name.clone(),
        content: content_text(&posted),
        client: m.client,
        contact: m.contact,
        extras: m.extras,
        posted,
        duplicate_key,
        match_existing: profile.kind != ProfileType::ClientLeadNoDedupe && external_key.is_empty(),
        high_range_start: cfg.raw.intake.high_range_start,
        external_key: external_key.to_string(),
        at_ms: now,
        user_id: owner.map_or(0, |u| u.id),
        user_name: owner
            .map(|u| {
                if u.name.is_empty() {
                    u.login.clone()
                } else {
                    u.name.clone()
                }
            })
            .unwrap_or_default(),
        trading_url: if profile.kind == ProfileType::ClientLeadTradingAccount {
            profile.parameter1.clone()
        } else {
            String::new()
        },
        rotation: if rotate {
            profile.circle_between_agencies.clone()
        } else {
            Vec::new()
        },
    };
    // The usage entry goes in the lead's job: its commit writes the answer in.
    let outcome = app.writer.call(|r| Job::Lead(Box::new(draft), r));
    let release = || {
        if let Some((key, at)) = reserved {
            app.dedupe.release(key, at);
        }
    };
    Ok(match outcome {
        Ok(Ok(Applied::Lead(o))) => (o.code, Some(o.client_id)),
        Ok(Ok(_)) | Ok(Err(_)) => {
            release();
            (Code::DatabaseError, None)
        }
        Err(e) => {
            release();
            (submit_failed(app, e), None)
        }
    })
}

/// The call a new lead of a `dialer_campaign` profile queues.
fn dial_entry(
    cfg: &Config,
    profile: &Profile,
    c: &crate::vocab::records::Client,
    now: u64,
) -> Option<crate::store::dialer::DialCall> {
    if profile.dialer_campaign.is_empty() {
        return None;
    }
    let campaign = cfg
        .raw
        .dialer
        .campaigns
        .iter()
        .find(|k| k.code == profile.dialer_campaign)?;
    let phone = crate::vocab::dial::normalize_target(&c.phone1)?;
    let mut data = serde_json::Map::new();
    data.insert("var_LeadCampaign".into(), c.lead_supplier.clone().into());
    Some(crate::store::dialer::DialCall {
        campaign: campaign.code.clone(),
        campaign_id: campaign.id,
        phone,
        priority: 1,
        custom_data: Some(data),
        originate_ms: now,
        inserted: clock::rfc3339_utc(now),
        ..Default::default()
    })
}

/// The active rules of active buyers whose filters the lead passes.
fn matching_rules(
    cfg: &Config,
    profile: u32,
    c: &crate::vocab::records::Client,
) -> Vec<crate::config::raw::RuleSpec> {
    let eq = |want: &str, have: &str| want.is_empty() || want.eq_ignore_ascii_case(have);
    cfg.raw
        .rules
        .iter()
        .filter(|r| {
            r.active
                && cfg.raw.buyers.iter().any(|b| b.id == r.buyer && b.active)
                && (r.profiles.is_empty() || r.profiles.contains(&profile))
                && eq(&r.lead_supplier, &c.lead_supplier)
                && eq(&r.utm_source, &c.utm_source)
                && eq(&r.city, &c.city)
        })
        .cloned()
        .collect()
}

/// An owned map's entries as the borrowed pairs [`Logs::extras`] takes.
fn pairs(map: &std::collections::BTreeMap<String, String>) -> impl Iterator<Item = (&str, &str)> {
    map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

fn submit_failed(app: &App, e: SubmitError) -> Code {
    if matches!(e, SubmitError::Full) {
        app.metrics.write_queue_full.fetch_add(1, Ordering::Relaxed);
    }
    Code::TechnicalError
}

/// The post as readable text, for the inbox lead's `content`.
fn content_text(posted: &std::collections::BTreeMap<String, String>) -> String {
    let mut s = String::with_capacity(posted.iter().map(|(k, v)| k.len() + v.len() + 3).sum());
    for (k, v) in posted {
        s.push_str(k);
        s.push_str(": ");
        s.push_str(v);
        s.push('\n');
    }
    s
}

/// The answer for `code`: a 303 to the profile's redirect (unless the client
/// asked for JSON), else the JSON body of SPEC §3.
fn answer(profile: Option<&Profile>, req: &Request<'_>, code: Code, id: Option<u64>) -> Reply {
    if let Some(p) = profile {
        let target = if code.is_success() {
            &p.redirect_success
        } else {
            &p.redirect_error
        };
        if let (Some(t), false) = (target, req.accepts_json()) {
            return Reply::see_other(t.location());
        }
    }
    match (id, profile) {
        (Some(id), _) if code.is_success() => Reply::json(200, code.json_with_id(id)),
        (_, Some(p)) if code == Code::Language => Reply::json(200, p.language_answer.to_vec()),
        _ => Reply::static_json(200, code.json()),
    }
}
