//! A client lead's steps 9–11 inside a writer batch (SPEC §4): matching an
//! existing client by phone, email or external key, then the new-lead,
//! renewal and HOT-lead branches with their contact, inbox lead, history,
//! deliveries, dial-queue entry and notifications. They run inside the
//! transaction, so two posts in flight at once can never both create the
//! same client.

use std::collections::BTreeMap;

use super::apply::Batch;
use super::keys::{index_key, index_lookup, person_key, person_lookup, Owner};
use super::records::*;
use super::DuplicateKey;
use super::{Collection, Result, StoreError};
use crate::outbox;

/// A new client-lead post, mapped and normalised by intake (steps 1–8),
/// waiting for steps 9–11.
#[derive(Debug, Clone, Default)]
pub struct LeadDraft {
    /// The post's usage entry, stored in the lead's transaction with the
    /// outcome (code, client id) written in.
    pub usage: Option<super::rendered::RenderedEntry>,
    /// What the usage entry records for each way the lead is stored.
    pub answers: super::rendered::Answers,
    pub profile: u32,
    pub form_name: String,
    /// The mapped client: created_at / created_local set, id and number not yet.
    pub client: Client,
    /// The posted contact person, when any `contacts` row got a value.
    pub contact: Option<Contact>,
    /// Posted fields no row mapped (automation log).
    pub extras: BTreeMap<String, String>,
    /// Every posted field as received (for backups and history).
    pub posted: BTreeMap<String, String>,
    /// The duplicate key reserved for this post and when.
    pub duplicate_key: Option<DuplicateKey>,
    /// Step 9 runs (false for `client_lead_no_dedupe`).
    pub match_existing: bool,
    pub high_range_start: u64,
    /// The request as readable text, for the inbox lead.
    pub content: String,
    /// The sender's record key (SPEC §4 step 5): a client carrying it is
    /// updated instead (code 002).
    pub external_key: String,
    /// Branches to rotate through for a new client (step 10.1); empty = none.
    pub rotation: Vec<String>,
    /// When the post arrived (ms), for the notifications it raises.
    pub at_ms: u64,
    /// `client_lead_trading_account`: where the new client is POSTed.
    pub trading_url: String,
    /// The dial-queue entry of a profile with `dialer_campaign` (SPEC §9),
    /// queued if the lead is new (`var_LeadID` filled in then).
    pub dialer: Option<super::dialer::DialCall>,
    /// Delivery rules this lead matched (SPEC §8), sent if it is new.
    pub deliveries: Vec<crate::config::raw::RuleSpec>,
    /// The inbox lead's responsible user (the assigned salesperson), 0 = none.
    pub user_id: u64,
    pub user_name: String,
}

/// What storing a post did; the caller chooses the answer (intake's
/// 000/001/002).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// A new record.
    Created = 0,
    /// The post matched an existing client (a HOT lead or a renewal).
    Existing = 1,
    /// A known external key: its record was updated.
    Synced = 2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeadOutcome {
    pub stored: Stored,
    /// The client (or ticket) the post became.
    pub client_id: u64,
}

/// Fields of a client an admin may change (SPEC §10).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    pub handling_status: Option<u8>,
    pub salesperson: Option<String>,
    pub branch: Option<String>,
    pub archived: Option<bool>,
}

impl Batch<'_> {
    fn put_contact(&mut self, client: &mut Client, mut c: Contact) -> Result<u64> {
        c.id = self.seq.next(Collection::Contacts);
        c.client = client.id;
        self.put_json(Collection::Contacts, c.id, &c)?;
        if !c.phone.is_empty() {
            self.store.dbs.idx_phone.put(
                &mut self.txn,
                &person_key(c.phone.as_bytes(), Owner::Contact, c.id),
                &(),
            )?;
        }
        if !c.email.is_empty() {
            self.store.dbs.idx_email.put(
                &mut self.txn,
                &person_key(c.email.as_bytes(), Owner::Contact, c.id),
                &(),
            )?;
        }
        client.contacts.push(c.id);
        Ok(c.id)
    }

    /// Stores `client` and keeps its phone, email and external-key index
    /// entries in step with it (`old` = the version being replaced).
    fn put_client(&mut self, client: &Client, old: Option<&Client>) -> Result<()> {
        let dbs = &self.store.dbs;
        let id = client.id;
        if let Some(old) = old {
            for p in old.phones() {
                if !p.is_empty() && !client.phones().contains(&p) {
                    dbs.idx_phone
                        .delete(&mut self.txn, &person_key(p.as_bytes(), Owner::Client, id))?;
                }
            }
            if !old.email.is_empty() && old.email != client.email {
                dbs.idx_email.delete(
                    &mut self.txn,
                    &person_key(old.email.as_bytes(), Owner::Client, id),
                )?;
            }
            if !old.external_key.is_empty() && old.external_key != client.external_key {
                dbs.idx_extkey
                    .delete(&mut self.txn, &index_key(old.external_key.as_bytes(), id))?;
            }
        }
        for p in client.phones() {
            if !p.is_empty() {
                dbs.idx_phone.put(
                    &mut self.txn,
                    &person_key(p.as_bytes(), Owner::Client, id),
                    &(),
                )?;
            }
        }
        if !client.email.is_empty() {
            dbs.idx_email.put(
                &mut self.txn,
                &person_key(client.email.as_bytes(), Owner::Client, id),
                &(),
            )?;
        }
        if !client.external_key.is_empty() {
            dbs.idx_extkey.put(
                &mut self.txn,
                &index_key(client.external_key.as_bytes(), id),
                &(),
            )?;
        }
        self.put_record_json(Collection::Clients, id, client)
    }

    /// Step 9: the oldest client (active or archived) sharing a phone or the email.
    fn find_existing(&self, c: &Client) -> Result<Option<u64>> {
        let dbs = &self.store.dbs;
        let mut best: Option<u64> = None;
        let mut consider = |ids: Vec<u64>| {
            for id in ids {
                best = Some(best.map_or(id, |b: u64| b.min(id)));
            }
        };
        for p in c.phones() {
            if !p.is_empty() {
                consider(person_lookup(
                    dbs.idx_phone,
                    &self.txn,
                    p.as_bytes(),
                    Owner::Client,
                )?);
            }
        }
        if !c.email.is_empty() {
            consider(person_lookup(
                dbs.idx_email,
                &self.txn,
                c.email.as_bytes(),
                Owner::Client,
            )?);
        }
        Ok(best)
    }

    fn put_inbox_lead(
        &mut self,
        d: &LeadDraft,
        client: &Client,
        contact_id: u64,
        deal_id: u64,
    ) -> Result<u64> {
        let lead = InboxLead {
            created_at: d.client.created_at.clone(),
            profile: d.profile,
            datum: d
                .client
                .created_local
                .get(..10)
                .unwrap_or_default()
                .to_string(),
            email: d.client.email.clone(),
            phone: d.client.phone1.clone(),
            site: d.form_name.clone(),
            company: d.client.company.clone(),
            city: d.client.city.clone(),
            country: d.client.country.clone(),
            content: d.content.clone(),
            clid: client.id,
            client: client.display_name(),
            pid: contact_id,
            person: d
                .contact
                .as_ref()
                .map(|c| {
                    format!("{} {}", c.first_name, c.last_name)
                        .trim()
                        .to_string()
                })
                .unwrap_or_default(),
            did: deal_id,
            deal: if deal_id > 0 {
                "web lead".into()
            } else {
                String::new()
            },
            user: d.user_id,
            user_name: d.user_name.clone(),
            clientpath: self.channel_id(&d.client.utm_source)?,
            clientpath_name: d.client.utm_source.clone(),
            ..InboxLead::default()
        };
        self.put_lead(lead)
    }

    fn mapped_data(client: &Client) -> BTreeMap<String, String> {
        client
            .mapped_fields()
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Step 5 inside the transaction: the client carrying `key`, if any.
    fn find_by_external_key(&self, key: &str) -> Result<Option<u64>> {
        if key.is_empty() {
            return Ok(None);
        }
        Ok(
            index_lookup(self.store.dbs.idx_extkey, &self.txn, key.as_bytes())?
                .into_iter()
                .min(),
        )
    }

    /// Step 5: the posted non-empty fields update the client, its extension
    /// and its first contact (created when it has none). No other checks.
    fn sync_external(&mut self, id: u64, d: &LeadDraft) -> Result<()> {
        let old: Client = self
            .get_json(Collection::Clients, id)?
            .ok_or_else(|| StoreError::Corrupt(format!("index names missing client {id}")))?;
        let mut client = old.clone();
        for (name, value) in d.client.mapped_fields() {
            if !value.is_empty() {
                // unwrap: names come from the same field list.
                *client.field_mut(name).unwrap() = value.to_string();
            }
        }
        for (k, v) in &d.client.extension {
            client.extension.insert(k.clone(), v.clone());
        }
        if let Some(posted) = &d.contact {
            match client.contacts.first().copied() {
                Some(cid) => {
                    let mut contact: Contact = self
                        .get_json(Collection::Contacts, cid)?
                        .unwrap_or_default();
                    let mut posted = posted.clone();
                    for f in ["first_name", "last_name", "phone", "email", "role"] {
                        // unwrap: the five contact field names.
                        let new = std::mem::take(posted.field_mut(f).unwrap());
                        if !new.is_empty() {
                            *contact.field_mut(f).unwrap() = new;
                        }
                    }
                    self.put_json(Collection::Contacts, cid, &contact)?;
                }
                None => {
                    self.put_contact(&mut client, posted.clone())?;
                }
            }
        }
        client.updated_at = d.client.created_at.clone();
        self.put_client(&client, Some(&old))
    }

    /// Step 10.1: the next branch of the profile's circle (persisted).
    fn next_branch(&mut self, profile: u32, circle: &[String]) -> Result<String> {
        let n = self.bump(self.store.dbs.meta, &format!("rotation:{profile}"))?;
        Ok(circle[(n % circle.len() as u64) as usize].clone())
    }

    /// Steps 5 and 9–11 for one draft.
    pub fn apply_lead(&mut self, d: &LeadDraft) -> Result<LeadOutcome> {
        let now = d.client.created_at.clone();
        if let Some(id) = self.find_by_external_key(&d.external_key)? {
            self.sync_external(id, d)?;
            if !d.extras.is_empty() {
                self.put_automation(&mut AutomationEntry {
                    created_at: now,
                    profile: d.profile,
                    client: id,
                    fields: d.extras.clone(),
                    ..AutomationEntry::default()
                })?;
            }
            return Ok(LeadOutcome {
                stored: Stored::Synced,
                client_id: id,
            });
        }
        let existing = if d.match_existing {
            self.find_existing(&d.client)?
        } else {
            None
        };
        let outcome = match existing {
            None => self.new_client(d)?,
            Some(id) => self.returning_client(id, d)?,
        };
        if !d.extras.is_empty() {
            self.put_automation(&mut AutomationEntry {
                created_at: now,
                profile: d.profile,
                client: outcome.client_id,
                fields: d.extras.clone(),
                ..AutomationEntry::default()
            })?;
        }
        self.remember_duplicate_key(d.duplicate_key.as_ref())?;
        Ok(outcome)
    }

    /// Steps 10–11 for a post that matched no client: a new client with
    /// its contact, deal, inbox lead, deliveries, dial-queue entry and
    /// notifications (000).
    fn new_client(&mut self, d: &LeadDraft) -> Result<LeadOutcome> {
        let now = d.client.created_at.clone();
        let mut client = d.client.clone();
        client.id = self.seq.next(Collection::Clients);
        client.number = self.seq.next_client_number(d.high_range_start);
        client.handling_status = STATUS_NEW_LEAD;
        client.lead_status = "New".into();
        client.updated_at = now.clone();
        if !d.rotation.is_empty() {
            client.branch = self.next_branch(d.profile, &d.rotation)?;
        }
        let contact_id = match &d.contact {
            Some(c) => self.put_contact(&mut client, c.clone())?,
            None => 0,
        };
        let deal = self.put_relationship(Relationship {
            client: client.id,
            created_at: now.clone(),
            profile: d.profile,
            kind: REL_NEW_WEB_LEAD.into(),
            task: true,
            note: format!("New lead from web form {}", d.form_name),
            data: Self::mapped_data(&client),
            ..Relationship::default()
        })?;
        self.put_client(&client, None)?;
        self.put_inbox_lead(d, &client, contact_id, deal)?;
        let day = client
            .created_local
            .get(..10)
            .unwrap_or_default()
            .to_string();
        self.create_deliveries(&d.deliveries, &client, &day, d.at_ms)?;
        if let Some(call) = &d.dialer {
            let mut call = call.clone();
            call.customer_name = client.display_name();
            call.custom_data
                .get_or_insert_with(Default::default)
                .insert("var_LeadID".into(), client.id.into());
            self.add_call(call)?;
        }
        if self.notes.is_some_and(|n| n.wants(outbox::NEW_CLIENT)) || !d.trading_url.is_empty() {
            let fields = serde_json::to_value(&client)?;
            let record = format!("clients/{}", client.id);
            self.raise(outbox::NEW_CLIENT, &fields, &record, client.id, d.at_ms)?;
            if let Some(notes) = self.notes {
                for m in outbox::new_lead_messages(notes, &fields, &record) {
                    self.put_outbox(m, d.at_ms)?;
                }
            }
            if !d.trading_url.is_empty() {
                self.put_outbox(
                    outbox::trading_account_post(&d.trading_url, &fields, &record),
                    d.at_ms,
                )?;
            }
        }
        Ok(LeadOutcome {
            stored: Stored::Created,
            client_id: client.id,
        })
    }

    /// Step 9 matched client `id`: a renewal of a client not interested
    /// before, else a HOT lead (001).
    fn returning_client(&mut self, id: u64, d: &LeadDraft) -> Result<LeadOutcome> {
        let now = d.client.created_at.clone();
        let old: Client = self
            .get_json(Collection::Clients, id)?
            .ok_or_else(|| StoreError::Corrupt(format!("index names missing client {id}")))?;
        let mut client;
        let deal;
        if old.handling_status == STATUS_NOT_INTERESTED {
            // Renewal: the old record goes to bad leads, the post replaces it.
            self.put_bad_lead(BadLead {
                created_at: now.clone(),
                profile: d.profile,
                reason: "client record replaced by a renewal".into(),
                client: id,
                data: serde_json::to_value(&old)?,
                ..BadLead::default()
            })?;
            client = d.client.clone();
            client.id = id;
            client.number = old.number;
            client.created_at = old.created_at.clone();
            client.created_local = old.created_local.clone();
            client.contacts = old.contacts.clone();
            client.handling_status = STATUS_NEW_LEAD;
            client.archived = false;
            client.lead_status = "Renewed".into();
            deal = self.put_relationship(Relationship {
                client: id,
                created_at: now.clone(),
                profile: d.profile,
                kind: REL_NOTE.into(),
                task: false,
                note: RENEWAL_NOTE.into(),
                data: Self::mapped_data(&d.client),
                ..Relationship::default()
            })?;
        } else {
            // HOT lead: keep the post as a faithful backup, fill gaps only.
            self.put_bad_lead(BadLead {
                created_at: now.clone(),
                profile: d.profile,
                reason: "repeat inquiry of an existing client (HOT lead backup)".into(),
                client: id,
                data: serde_json::to_value(&d.posted)?,
                ..BadLead::default()
            })?;
            client = old.clone();
            for f in ["phone1", "phone2", "phone3", "email", "lead_supplier"] {
                let new = d.client.field(f).unwrap_or_default().to_string();
                // unwrap: the five names are client fields.
                let slot = client.field_mut(f).unwrap();
                if slot.is_empty() && !new.is_empty() {
                    *slot = new;
                }
            }
            for (k, v) in &d.client.extension {
                let slot = client.extension.entry(k.clone()).or_default();
                if slot.is_empty() {
                    *slot = v.clone();
                }
            }
            client.lead_status = "HOT Lead".into();
            self.put_relationship(Relationship {
                client: id,
                created_at: now.clone(),
                profile: d.profile,
                kind: REL_REPEAT_INQUIRY.into(),
                task: false,
                note: format!("The client inquired again through web form {}", d.form_name),
                data: Self::mapped_data(&d.client),
                ..Relationship::default()
            })?;
            deal = self.put_relationship(Relationship {
                client: id,
                created_at: now.clone(),
                profile: d.profile,
                kind: REL_CALLBACK.into(),
                task: true,
                note: "Call the client back: repeat web inquiry".into(),
                ..Relationship::default()
            })?;
        }
        client.updated_at = now.clone();
        let contact_id = match &d.contact {
            Some(c) => self.put_contact(&mut client, c.clone())?,
            None => 0,
        };
        self.put_client(&client, Some(&old))?;
        self.put_inbox_lead(d, &client, contact_id, deal)?;
        if self
            .notes
            .is_some_and(|n| n.wants(outbox::RETURNING_CLIENT))
        {
            let fields = serde_json::to_value(&client)?;
            self.raise(
                outbox::RETURNING_CLIENT,
                &fields,
                &format!("clients/{id}"),
                id,
                d.at_ms,
            )?;
        }
        Ok(LeadOutcome {
            stored: Stored::Existing,
            client_id: id,
        })
    }

    /// `PATCH /admin/v1/clients/{id}`; None when there is no such client.
    pub fn patch_client(&mut self, id: u64, p: &ClientPatch, now: &str) -> Result<Option<Client>> {
        let Some(old): Option<Client> = self.get_json(Collection::Clients, id)? else {
            return Ok(None);
        };
        let mut c = old.clone();
        if let Some(s) = p.handling_status {
            c.handling_status = s;
        }
        if let Some(s) = &p.salesperson {
            c.salesperson = s.clone();
        }
        if let Some(b) = &p.branch {
            c.branch = b.clone();
        }
        if let Some(a) = p.archived {
            c.archived = a;
        }
        c.updated_at = now.to_string();
        self.put_client(&c, Some(&old))?;
        Ok(Some(c))
    }
}
