//! A post's log entries on their way to the writer (SPEC §4 steps 1 and 3).
//!
//! Step 1's usage entry is rendered at once but held until the post's next
//! write, and then goes in the same job: a duplicate's usage and automation
//! entries take one queue slot and one hand-over instead of two, so a flood
//! of duplicates fills the write queue half as fast. Held, not skipped: it
//! is sent before any record of the post is (so it shares that record's
//! commit or an earlier one), before the answer, and alone when the post
//! makes no other write. A request whose entry cannot be queued is not
//! taken (005).
//!
//! Every entry records how its request was answered (seed 000: "on failure
//! an error log is written"): the outcome is written in as the entry is
//! sent, and a post that becomes a record hands its entry to the record's
//! job, whose commit writes the code and record id in
//! ([`Logs::for_record`]).

use std::cell::Cell;

use super::submit_failed;
use crate::app::App;
use crate::codes::Code;
use crate::config::Profile;
use crate::http::Request;
use crate::store::rendered::{Outcome, RenderedEntry, UsageParts};
use crate::store::writer::{Job, SubmitError};

use base64::Engine as _;

pub(super) struct Logs<'a> {
    app: &'a App,
    /// The usage entry while it is held; None once sent (or lost to a
    /// full queue, which the post was answered 005 for).
    usage: Cell<Option<RenderedEntry>>,
}

impl<'a> Logs<'a> {
    /// Step 1: the request as it arrived, whole. Err when the write queue is
    /// full (or the writer stopped): the sender is told to retry (005)
    /// rather than answered as if the request had been kept.
    pub fn start(
        app: &'a App,
        req: &Request<'_>,
        client_ip: std::net::IpAddr,
        form: &str,
        created_at: &str,
    ) -> Result<Logs<'a>, SubmitError> {
        if app.writer.is_full() {
            return Err(SubmitError::Full);
        }
        let encoded;
        // SIMD validation: every request's body goes through here.
        let (body, body_base64) = match simdutf8::basic::from_utf8(req.body) {
            Ok(s) => (s, false),
            Err(_) => {
                encoded = base64::engine::general_purpose::STANDARD.encode(req.body);
                (encoded.as_str(), true)
            }
        };
        let entry = RenderedEntry::usage(
            app.writer.buffer(),
            &UsageParts {
                created_at,
                ip: req.peer,
                client_ip,
                method: req.method,
                form,
                query: req.query,
                content_type: req.header("content-type").unwrap_or(""),
                user_agent: req.header("user-agent").unwrap_or(""),
                body,
                body_base64,
            },
        );
        Ok(Logs {
            app,
            usage: Cell::new(Some(entry)),
        })
    }

    /// Sends the usage entry, answered `outcome`, if it is still held.
    pub fn flush(&self, outcome: &Outcome<'_>) -> Result<(), SubmitError> {
        match self.usage.take() {
            Some(mut e) => {
                e.close(outcome);
                self.app.writer.submit(Job::Usage(e))
            }
            None => Ok(()),
        }
    }

    /// `code`, or 005 if the usage entry cannot be queued now.
    pub fn settle(&self, code: Code) -> Code {
        match self.flush(&answered(code, code.message())) {
            Ok(()) => code,
            Err(e) => submit_failed(self.app, e),
        }
    }

    /// Step 6: the phones (normal forms) and email (lower-cased) the intake
    /// read in the post, noted in its usage entry while it is held, so
    /// `?q=` finds the post by them. An email without an `@` is no email.
    pub fn carry<'v>(&self, phones: impl Iterator<Item = &'v str>, email: &'v str) {
        if let Some(mut e) = self.usage.take() {
            e.carry(phones.chain(Some(email).filter(|e| e.contains('@'))));
            self.usage.set(Some(e));
        }
    }

    /// The held usage entry, to go with the job that stores the post's
    /// record: that commit writes the record's code and id into it.
    pub fn for_record(&self) -> Option<RenderedEntry> {
        self.usage.take()
    }

    /// Step 3: a post's unmapped fields for the automation log (when there
    /// are any), with the usage entry, answered `outcome`, if it is still
    /// held. Err (the write queue is full) means they could not be kept.
    pub fn extras<'f>(
        &self,
        profile: &Profile,
        created_at: &str,
        extras: impl Iterator<Item = (&'f str, &'f str)>,
        outcome: &Outcome<'_>,
    ) -> Result<(), SubmitError> {
        let mut extras = extras.peekable();
        if extras.peek().is_none() {
            return self.flush(outcome);
        }
        let writer = &self.app.writer;
        let entry = RenderedEntry::automation(writer.buffer(), created_at, profile.number, extras);
        writer.submit(match self.usage.take() {
            Some(mut usage) => {
                usage.close(outcome);
                Job::UsageAndAutomation(usage, entry)
            }
            None => Job::Automation(entry),
        })
    }

    /// The answer of a post that became no record: `code` once its unmapped
    /// fields are queued, 005 if they cannot be. (A usage entry still held
    /// is sent by the caller's [`Logs::settle`], as for every post.)
    pub fn without_record<'f>(
        &self,
        profile: &Profile,
        created_at: &str,
        extras: impl Iterator<Item = (&'f str, &'f str)>,
        code: Code,
    ) -> Code {
        match self.extras(profile, created_at, extras, &answered(code, code.message())) {
            Ok(()) => code,
            Err(e) => submit_failed(self.app, e),
        }
    }
}

/// The outcome of an answer with intake code `code` and no record id.
pub(super) fn answered<'r>(code: Code, reason: &'r str) -> Outcome<'r> {
    Outcome {
        status: 200,
        code: code.as_str(),
        reason,
        record_id: 0,
    }
}

/// The outcome of an HTTP answer without an intake code.
pub(super) fn refused(status: u16, reason: &str) -> Outcome<'_> {
    Outcome {
        status,
        code: "",
        reason,
        record_id: 0,
    }
}

impl Drop for Logs<'_> {
    /// A path that ends without settling (a panic unwinding through the
    /// request) still sends the entry it holds.
    fn drop(&mut self) {
        if let Some(e) = self.usage.take() {
            let _ = self.app.writer.submit(Job::Usage(e));
        }
    }
}
