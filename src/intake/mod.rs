//! The client-lead pipeline of SPEC §4, as a sequence of small steps run by
//! the request's coroutine (1–8), then handed to the writer thread for the
//! steps that must see committed state (9–11, see `store::apply`).
//!
//! Floor: a handler, above `app`, `store`, `pages`, `dns`, `http` and
//! `vocab`; only the router imports it.

mod lead;
mod logs;
pub mod mapping;
mod ticket;
mod window;

pub use crate::captcha;
pub use crate::vocab::{language, normalize, phone_cache, phone_validity};

use std::sync::atomic::Ordering;

use crate::app::App;
use crate::clock;
use crate::codes::Code;
use crate::config::{Config, FormMode, Profile, ProfileType};
use crate::http::{Reply, Request};
use crate::store::writer::SubmitError;
use logs::Logs;

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
                p.counters.count(code.index(), now);
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
    profile.counters.count(code.index(), now);
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

    Ok(lead::run(&lead::Post {
        app,
        logs,
        cfg,
        profile,
        fields: &fields,
        now,
        created_at,
    }))
}

/// An owned map's entries as the borrowed pairs [`Logs::extras`] takes.
fn pairs(map: &std::collections::BTreeMap<String, String>) -> impl Iterator<Item = (&str, &str)> {
    map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

/// The answer to a post that storage stored `stored`.
fn code_of(stored: crate::store::leads::Stored) -> Code {
    use crate::store::leads::Stored;
    match stored {
        Stored::Created => Code::Ok,
        Stored::Existing => Code::AlreadyExists,
        Stored::Synced => Code::UpdatedByExternalKey,
    }
}

/// What a stored post's usage entry records, by how it was stored.
const ANSWERS: crate::store::rendered::Answers = crate::store::rendered::Answers {
    stored: [
        (Code::Ok.as_str(), Code::Ok.message()),
        (Code::AlreadyExists.as_str(), Code::AlreadyExists.message()),
        (
            Code::UpdatedByExternalKey.as_str(),
            Code::UpdatedByExternalKey.message(),
        ),
    ],
    failed: (Code::DatabaseError.as_str(), Code::DatabaseError.message()),
};

fn submit_failed(app: &App, e: SubmitError) -> Code {
    if matches!(e, SubmitError::Full) {
        app.metrics.write_queue_full.fetch_add(1, Ordering::Relaxed);
    }
    Code::TechnicalError
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
