//! Service tickets in a batch (SPEC §5 steps 6 and 8).

use std::collections::BTreeMap;

use super::apply::Batch;
use super::keys::{index_key, index_lookup};
use super::leads::{LeadOutcome, Stored};
use super::records::*;
use super::{Collection, Result};
use crate::outbox;

/// A service-ticket post, mapped and checked by intake (SPEC §5 steps 1–5, 7).
#[derive(Debug, Clone, Default)]
pub struct TicketDraft {
    pub at_ms: u64,
    pub ticket: Ticket,
    pub extras: BTreeMap<String, String>,
    pub duplicate_key: Option<super::DuplicateKey>,
    /// The post's usage entry, stored in the ticket's transaction with the
    /// outcome (code, ticket id) written in.
    pub usage: Option<super::rendered::RenderedEntry>,
    /// What the usage entry records for each way the ticket is stored.
    pub answers: super::rendered::Answers,
}

impl Batch<'_> {
    /// SPEC §5 steps 6 and 8: update the ticket carrying the external key
    /// (non-empty fields, 002), else number and store a new one (000).
    pub fn apply_ticket(&mut self, d: &TicketDraft) -> Result<LeadOutcome> {
        let t = &d.ticket;
        let dbs = &self.store.dbs;
        let existing = if t.external_key.is_empty() {
            None
        } else {
            index_lookup(dbs.idx_ticket_extkey, &self.txn, t.external_key.as_bytes())?
                .into_iter()
                .min()
        };
        let outcome = match existing {
            Some(id) => {
                let mut old: Ticket = self.get_json(Collection::Tickets, id)?.unwrap_or_default();
                for (name, value) in t.mapped_fields() {
                    if !value.is_empty() {
                        // unwrap: names come from the same field list.
                        *old.field_mut(name).unwrap() = value.to_string();
                    }
                }
                old.updated_at = t.created_at.clone();
                self.put_json(Collection::Tickets, id, &old)?;
                LeadOutcome {
                    stored: Stored::Synced,
                    client_id: id,
                }
            }
            None => {
                let mut new = t.clone();
                new.id = self.seq.next(Collection::Tickets);
                new.updated_at = new.created_at.clone();
                if !new.external_key.is_empty() {
                    let k = index_key(new.external_key.as_bytes(), new.id);
                    self.store
                        .dbs
                        .idx_ticket_extkey
                        .put(&mut self.txn, &k, &())?;
                }
                self.put_json(Collection::Tickets, new.id, &new)?;
                self.remember_duplicate_key(d.duplicate_key.as_ref())?;
                if self.notes.is_some_and(|n| n.wants(outbox::NEW_TICKET)) {
                    let fields = serde_json::to_value(&new)?;
                    self.raise(
                        outbox::NEW_TICKET,
                        &fields,
                        &format!("tickets/{}", new.id),
                        0,
                        d.at_ms,
                    )?;
                }
                LeadOutcome {
                    stored: Stored::Created,
                    client_id: new.id,
                }
            }
        };
        if !d.extras.is_empty() {
            self.put_automation(&mut AutomationEntry {
                created_at: t.created_at.clone(),
                profile: t.profile,
                client: outcome.client_id,
                fields: d.extras.clone(),
                ..AutomationEntry::default()
            })?;
        }
        Ok(outcome)
    }
}
