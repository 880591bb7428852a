//! Buyer deliveries (SPEC §8) in a batch: created with a new lead, under a
//! rule's daily cap, each with a unique routing id and an outbox record
//! that sends it; attempts and feedback recorded; and the reads OData needs.

use std::collections::BTreeMap;

use super::apply::Batch;
use super::records::*;
use super::{Collection, Result, Store, StoreError};
use crate::config::raw::RuleSpec;
use crate::outbox::Delivery;

/// The outbox body of a delivery: everything the sender needs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DeliveryJob {
    pub delivery: u64,
    pub method: String,
    pub url: String,
    pub params: Vec<(String, String)>,
    pub timeout_ms: u64,
}

pub(super) fn buyer_key(buyer: u64, id: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&buyer.to_be_bytes());
    k[8..].copy_from_slice(&id.to_be_bytes());
    k
}

/// A routing id: unique (the delivery id) and not guessable from the next one.
fn routing_id(id: u64) -> String {
    let r = getrandom::u64().unwrap_or(id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    format!("R{id:x}{:010x}", r & 0xff_ffff_ffff)
}

impl Batch<'_> {
    /// Creates the deliveries of a new client under `rules` (already
    /// filtered by intake), each counted against its rule's daily cap for
    /// `day`, and queues them for sending.
    pub(super) fn create_deliveries(
        &mut self,
        rules: &[RuleSpec],
        client: &Client,
        day: &str,
        at_ms: u64,
    ) -> Result<()> {
        if rules.is_empty() {
            return Ok(());
        }
        let fields = serde_json::to_value(client)?;
        for rule in rules {
            if rule.daily_cap > 0 {
                let key = format!("cap:{}:{day}", rule.id);
                let meta = self.store.dbs.meta;
                let n = self.stored_u64(meta, &key)?;
                if n >= rule.daily_cap {
                    continue;
                }
                self.put_u64(meta, &key, n + 1)?;
            }
            let id = self.seq.next(Collection::Deliveries);
            let mut lead = BTreeMap::new();
            let mut params = Vec::new();
            for (ours, theirs) in &rule.fields {
                let v = match &fields[ours.as_str()] {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                };
                lead.insert(ours.clone(), v.clone());
                params.push((theirs.clone(), v));
            }
            let d = DeliveryRecord {
                id,
                routing_id: routing_id(id),
                buyer: rule.buyer,
                rule: rule.id,
                client: client.id,
                profile: client.profile,
                created_at: crate::clock::rfc3339_utc(at_ms),
                method: rule.method.clone(),
                url: rule.url.clone(),
                routing_id_param: rule.routing_id_param.clone(),
                timeout_ms: rule.timeout_ms,
                params,
                lead,
                status: "pending".into(),
                ..DeliveryRecord::default()
            };
            self.store
                .dbs
                .idx_routing
                .put(&mut self.txn, &d.routing_id, &id)?;
            self.store
                .dbs
                .idx_buyer_delivery
                .put(&mut self.txn, &buyer_key(d.buyer, id), &())?;
            self.queue_delivery(&d, at_ms)?;
            self.put_json(Collection::Deliveries, id, &d)?;
        }
        Ok(())
    }

    fn queue_delivery(&mut self, d: &DeliveryRecord, at_ms: u64) -> Result<()> {
        let mut params = d.params.clone();
        params.push((d.routing_id_param.clone(), d.routing_id.clone()));
        let job = DeliveryJob {
            delivery: d.id,
            method: d.method.clone(),
            url: d.url.clone(),
            params,
            timeout_ms: d.timeout_ms,
        };
        let item = OutboxItem {
            event: "Buyer_Delivery".into(),
            channel: "delivery".into(),
            to: d.url.clone(),
            body: serde_json::to_string(&job)?,
            record: format!("deliveries/{}", d.id),
            status: "pending".into(),
            ..OutboxItem::default()
        };
        self.put_outbox(item, at_ms)?;
        Ok(())
    }

    /// Records one attempt at sending delivery `id`.
    pub fn delivery_attempt(
        &mut self,
        id: u64,
        result: &Delivery,
        final_: bool,
        code: u16,
        response: &str,
        now: &str,
    ) -> Result<()> {
        let Some(mut d): Option<DeliveryRecord> = self.get_json(Collection::Deliveries, id)? else {
            return Ok(());
        };
        let (status, text) = match result {
            Delivery::Sent => ("sent", response.to_string()),
            Delivery::Retry(e) if !final_ => ("retry", format!("{e}: {response}")),
            Delivery::Retry(e) | Delivery::Failed(e) => ("failed", format!("{e}: {response}")),
        };
        d.attempts.push(DeliveryAttempt {
            at: now.to_string(),
            status: status.into(),
            code,
            response: text.trim_end_matches(": ").to_string(),
        });
        match status {
            "sent" => {
                d.status = "sent".into();
                d.delivered_at = now.to_string();
            }
            "failed" => d.status = "failed".into(),
            _ => {}
        }
        self.put_json(Collection::Deliveries, id, &d)
    }

    /// Sends a failed delivery again; false when it has not failed.
    pub fn resend_delivery(&mut self, id: u64, at_ms: u64) -> Result<Option<bool>> {
        let Some(mut d): Option<DeliveryRecord> = self.get_json(Collection::Deliveries, id)? else {
            return Ok(None);
        };
        if d.status != "failed" {
            return Ok(Some(false));
        }
        d.status = "pending".into();
        self.queue_delivery(&d, at_ms)?;
        self.put_json(Collection::Deliveries, id, &d)?;
        Ok(Some(true))
    }

    /// A buyer's feedback on its delivery (history kept).
    pub fn delivery_feedback(&mut self, id: u64, f: Feedback) -> Result<Option<DeliveryRecord>> {
        let Some(mut d): Option<DeliveryRecord> = self.get_json(Collection::Deliveries, id)? else {
            return Ok(None);
        };
        d.feedback_history.push(f.clone());
        d.feedback = Some(f);
        self.put_json(Collection::Deliveries, id, &d)?;
        let fields = serde_json::to_value(&d)?;
        let at = crate::clock::parse_rfc3339(
            &d.feedback
                .as_ref()
                .map(|f| f.at.clone())
                .unwrap_or_default(),
        )
        .unwrap_or(0);
        self.raise(
            "Buyer_Feedback",
            &fields,
            &format!("deliveries/{id}"),
            d.client,
            at,
        )?;
        Ok(Some(d))
    }
}

impl Store {
    /// The delivery with this routing id, if it belongs to `buyer`.
    pub fn delivery_by_routing(
        &self,
        buyer: u64,
        routing_id: &str,
    ) -> Result<Option<DeliveryRecord>> {
        let rtxn = self.env.read_txn()?;
        let Some(id) = self.dbs.idx_routing.get(&rtxn, routing_id)? else {
            return Ok(None);
        };
        match self.dbs.records(Collection::Deliveries).get(&rtxn, &id)? {
            Some(v) => {
                let d: DeliveryRecord = serde_json::from_slice(v)?;
                Ok((d.buyer == buyer).then_some(d))
            }
            None => Err(StoreError::Corrupt(format!(
                "routing index names missing delivery {id}"
            ))),
        }
    }

    /// Every delivery of `buyer`, oldest first.
    pub fn buyer_deliveries(&self, buyer: u64) -> Result<Vec<DeliveryRecord>> {
        let rtxn = self.env.read_txn()?;
        let records = self.dbs.records(Collection::Deliveries);
        let mut out = Vec::new();
        for item in self
            .dbs
            .idx_buyer_delivery
            .prefix_iter(&rtxn, &buyer.to_be_bytes())?
        {
            let (k, ()) = item?;
            let id = super::keys::trailing_id(k, "buyer index")?;
            if let Some(v) = records.get(&rtxn, &id)? {
                out.push(serde_json::from_slice(v)?);
            }
        }
        Ok(out)
    }
}
