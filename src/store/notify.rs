//! The outbox rows of a batch: notifications written in the same
//! transaction as the event that raised them, and the results of sending.

use super::apply::Batch;
use super::records::*;
use super::{Collection, Result};
use crate::outbox::{self, Delivery, RetryPolicy};

pub(super) fn due_key(at_ms: u64, id: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&at_ms.to_be_bytes());
    k[8..].copy_from_slice(&id.to_be_bytes());
    k
}

impl Batch<'_> {
    /// Stores a notification, due at `at_ms`.
    pub fn put_outbox(&mut self, mut item: OutboxItem, at_ms: u64) -> Result<u64> {
        item.id = self.seq.next(Collection::Outbox);
        item.created_at = crate::clock::rfc3339_utc(at_ms);
        item.next_attempt_ms = at_ms;
        self.put_json(Collection::Outbox, item.id, &item)?;
        self.store
            .dbs
            .outbox_due
            .put(&mut self.txn, &due_key(at_ms, item.id), &())?;
        Ok(item.id)
    }

    /// Raises `event` about `record` (its JSON in `fields`): the alerts'
    /// outbox records, and their tasks as open relationship records.
    pub(super) fn raise(
        &mut self,
        event: &str,
        fields: &serde_json::Value,
        record: &str,
        client: u64,
        at_ms: u64,
    ) -> Result<()> {
        let Some(notes) = self.notes else {
            return Ok(());
        };
        let (items, tasks) = outbox::alert_items(notes, event, fields, record);
        for i in items {
            self.put_outbox(i, at_ms)?;
        }
        for (assignee, text) in tasks {
            self.put_relationship(Relationship {
                client,
                created_at: crate::clock::rfc3339_utc(at_ms),
                kind: REL_ALERT_TASK.into(),
                task: true,
                note: format!("{text} (for {assignee})"),
                ..Relationship::default()
            })?;
        }
        Ok(())
    }

    /// Records how an attempt to send outbox record `id` ended.
    pub fn outbox_result(
        &mut self,
        id: u64,
        result: &Delivery,
        now_ms: u64,
        policy: &RetryPolicy,
    ) -> Result<String> {
        let Some(mut item): Option<OutboxItem> = self.get_json(Collection::Outbox, id)? else {
            return Ok(String::new());
        };
        if item.status != "pending" {
            return Ok(item.status);
        }
        self.store
            .dbs
            .outbox_due
            .delete(&mut self.txn, &due_key(item.next_attempt_ms, id))?;
        item.attempts += 1;
        match result {
            Delivery::Sent => {
                item.status = "sent".into();
                item.last_error.clear();
            }
            Delivery::Retry(e) if item.attempts < policy.max_attempts => {
                item.last_error = e.clone();
                item.next_attempt_ms = now_ms + policy.backoff(item.attempts);
                self.store.dbs.outbox_due.put(
                    &mut self.txn,
                    &due_key(item.next_attempt_ms, id),
                    &(),
                )?;
            }
            Delivery::Retry(e) | Delivery::Failed(e) => {
                item.status = "failed".into();
                item.last_error = e.clone();
            }
        }
        if item.status != "pending" {
            item.next_attempt_ms = 0;
            item.finished_at = crate::clock::rfc3339_utc(now_ms);
        }
        self.put_json(Collection::Outbox, id, &item)?;
        Ok(item.status)
    }

    /// The outbox record `id`, if any.
    pub(super) fn outbox_item(&self, id: u64) -> Result<Option<OutboxItem>> {
        self.get_json(Collection::Outbox, id)
    }
}
