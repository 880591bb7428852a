//! The CRM lead inbox (SPEC §7): writing inbox leads with their indexes,
//! source channels, the responsible user of an `add`, and the index-backed
//! reads behind `list` and `stat`.
//!
//! Leads are never deleted and get their ids in commit order, and a lead's
//! `datum` is never earlier than the previous lead's (it is raised to it if
//! the clock says otherwise), so ordering by (datum, id) *is* ordering by
//! id: a page of `list` is found with two lookups in the date index and id
//! arithmetic — page 500 costs what page 0 costs.

use std::ops::Bound;

use super::apply::{be_u64, Batch};
use super::keys::{person_lookup, with_person_key, Owner};
use super::records::*;
use super::{Collection, Result, Store};
use crate::outbox;

pub const STATUS_NAMES: [&str; 4] = ["Open", "In work", "Processed", "Closed"];
pub const REZULT_NAMES: [&str; 5] = ["None", "Spam", "Duplicate", "Other", "Not target"];
/// `datum_do` of a lead not yet processed, in the datum_do index.
const NOT_DONE: &[u8; 10] = b"0000-00-00";

pub use crate::vocab::UserRef;

/// An `add` of the CRM API, waiting for its responsible user.
#[derive(Debug, Clone, Default)]
pub struct CrmAdd {
    pub lead: InboxLead,
    /// utm_source, else path: the source channel.
    pub channel: String,
    /// The `user` parameter, already checked to be an active user.
    pub assigned: Option<UserRef>,
    /// Every user, in configuration order (rotation skips inactive ones).
    pub users: Vec<UserRef>,
    pub at_ms: u64,
}

/// `PATCH /admin/v1/leads/{id}`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadPatch {
    pub status: Option<u8>,
    pub rezult: Option<u8>,
    pub user: Option<u64>,
    /// Filled in by the admin API from `user`.
    #[serde(skip)]
    pub user_name: String,
}

pub(super) fn id_key(prefix: &[u8], id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

pub(super) fn datum_do_key(lead: &InboxLead) -> Vec<u8> {
    let d = if lead.datum_do.len() == 10 {
        lead.datum_do.as_bytes()
    } else {
        NOT_DONE
    };
    id_key(d, lead.id)
}

impl Batch<'_> {
    /// The id of source channel `name`, created on first use (0 for none).
    pub(super) fn channel_id(&mut self, name: &str) -> Result<u64> {
        let name = name.trim();
        if name.is_empty() {
            return Ok(0);
        }
        let key = format!("channel:{}", name.to_lowercase());
        let meta = self.store.dbs.meta;
        if let Some(v) = meta.get(&self.txn, &key)? {
            return Ok(be_u64(Some(v)));
        }
        let id = self.bump(meta, "channel_seq")? + 1;
        self.put_u64(meta, &key, id)?;
        Ok(id)
    }

    /// Stores an inbox lead with its indexes; returns its id.
    pub(super) fn put_lead(&mut self, mut lead: InboxLead) -> Result<u64> {
        lead.id = self.seq.next(Collection::Leads);
        let meta = self.store.dbs.meta;
        match meta.get(&self.txn, "last_datum")? {
            Some(l) if l > lead.datum.as_bytes() => {
                lead.datum = String::from_utf8_lossy(l).into_owned()
            }
            // Rewritten only when the day moves on, not for every lead.
            Some(l) if l == lead.datum.as_bytes() => {}
            _ => meta.put(&mut self.txn, "last_datum", lead.datum.as_bytes())?,
        }
        lead.status_name = STATUS_NAMES[lead.status.min(3) as usize].into();
        lead.rezult_name = REZULT_NAMES[lead.rezult.min(4) as usize].into();
        self.put_record_json(Collection::Leads, lead.id, &lead)?;
        let dbs = &self.store.dbs;
        dbs.idx_lead_datum
            .put(&mut self.txn, &id_key(lead.datum.as_bytes(), lead.id), &())?;
        dbs.idx_lead_datum_do
            .put(&mut self.txn, &datum_do_key(&lead), &())?;
        dbs.idx_lead_status
            .put(&mut self.txn, &id_key(&[lead.status], lead.id), &())?;
        // Found by phone or email (the admin API's `q`).
        for (db, v) in [(dbs.idx_phone, &lead.phone), (dbs.idx_email, &lead.email)] {
            if !v.is_empty() {
                let txn = &mut self.txn;
                with_person_key(v.as_bytes(), Owner::Lead, lead.id, |k| db.put(txn, k, &()))?;
            }
        }
        Ok(lead.id)
    }

    fn client_owner(&self, client_id: u64, users: &[UserRef]) -> Result<Option<UserRef>> {
        let Some(c): Option<Client> = self.get_json(Collection::Clients, client_id)? else {
            return Ok(None);
        };
        Ok(users
            .iter()
            .find(|u| {
                u.active
                    && !c.salesperson.is_empty()
                    && u.login.eq_ignore_ascii_case(&c.salesperson)
            })
            .cloned())
    }

    /// `add`: the responsible user (the `user` parameter; else the owner of
    /// a client or contact with this email or phone; else the next active
    /// user in rotation), the lead linked to what was found, stored, and the
    /// user notified (`Crm_Lead_Assigned`) through the outbox.
    pub fn add_crm_lead(&mut self, d: &CrmAdd) -> Result<u64> {
        let dbs = &self.store.dbs;
        let mut lead = d.lead.clone();
        let mut client_id = None;
        let mut contact_id = None;
        for (db, v) in [(dbs.idx_email, &lead.email), (dbs.idx_phone, &lead.phone)] {
            if !v.is_empty() {
                if client_id.is_none() {
                    client_id = person_lookup(db, &self.txn, v.as_bytes(), Owner::Client)?
                        .into_iter()
                        .min();
                }
                if contact_id.is_none() {
                    contact_id = person_lookup(db, &self.txn, v.as_bytes(), Owner::Contact)?
                        .into_iter()
                        .min();
                }
            }
        }
        let contact: Option<Contact> = match contact_id {
            Some(id) => self.get_json(Collection::Contacts, id)?,
            None => None,
        };
        if client_id.is_none() {
            client_id = contact.as_ref().map(|c| c.client);
        }
        let mut owner = d.assigned.clone();
        if owner.is_none() {
            if let Some(cid) = client_id {
                owner = self.client_owner(cid, &d.users)?;
            }
        }
        if owner.is_none() {
            if let Some(c) = &contact {
                owner = self.client_owner(c.client, &d.users)?;
            }
        }
        if owner.is_none() {
            let active: Vec<&UserRef> = d.users.iter().filter(|u| u.active).collect();
            if !active.is_empty() {
                let n = self.bump(self.store.dbs.meta, "crm_rotation")?;
                owner = Some(active[(n % active.len() as u64) as usize].clone());
            }
        }
        if let Some(cid) = client_id {
            if let Some(c) = self.get_json::<Client>(Collection::Clients, cid)? {
                lead.clid = cid;
                lead.client = c.display_name();
            }
        }
        if let Some(c) = &contact {
            lead.pid = c.id;
            lead.person = format!("{} {}", c.first_name, c.last_name)
                .trim()
                .to_string();
        }
        if let Some(u) = &owner {
            lead.user = u.id;
            lead.user_name = u.name.clone();
        }
        lead.clientpath = self.channel_id(&d.channel)?;
        lead.clientpath_name = d.channel.trim().to_string();
        let id = self.put_lead(lead)?;
        if let Some(u) = owner.filter(|u| !u.email.is_empty()) {
            let mut fields: serde_json::Value =
                self.get_json(Collection::Leads, id)?.unwrap_or_default();
            if let Some(o) = fields.as_object_mut() {
                o.insert("userLogin".into(), u.login.clone().into());
            }
            let record = format!("leads/{id}");
            let (subject, body) = match self
                .notes
                .and_then(|n| n.templates.get(outbox::CRM_LEAD_ASSIGNED))
            {
                Some(t) => (
                    outbox::render(&t.subject, &fields),
                    outbox::render(&t.body, &fields),
                ),
                None => (
                    format!("New lead #{id} assigned to you"),
                    format!(
                        "Lead #{id}: {} {} {}\n\n{}",
                        d.lead.client, d.lead.phone, d.lead.email, d.lead.content
                    ),
                ),
            };
            self.put_outbox(
                outbox::email(outbox::CRM_LEAD_ASSIGNED, &u.email, subject, body, &record),
                d.at_ms,
            )?;
            self.raise(
                outbox::CRM_LEAD_ASSIGNED,
                &fields,
                &record,
                client_id.unwrap_or(0),
                d.at_ms,
            )?;
        }
        Ok(id)
    }

    /// `PATCH /admin/v1/leads/{id}`: status, rezult, user; `datum_do` is set
    /// to `today` when a lead becomes processed or closed, cleared when it is
    /// reopened.
    pub fn patch_lead(&mut self, id: u64, p: &LeadPatch, today: &str) -> Result<Option<InboxLead>> {
        let Some(old): Option<InboxLead> = self.get_json(Collection::Leads, id)? else {
            return Ok(None);
        };
        let mut lead = old.clone();
        if let Some(s) = p.status {
            lead.status = s.min(3);
            let done = lead.status >= 2;
            if done && (old.status < 2 || lead.datum_do.is_empty()) {
                lead.datum_do = today.to_string();
            } else if !done {
                lead.datum_do.clear();
            }
        }
        if let Some(r) = p.rezult {
            lead.rezult = r.min(4);
        }
        if let Some(u) = p.user {
            lead.user = u;
            lead.user_name = p.user_name.clone();
        }
        lead.status_name = STATUS_NAMES[lead.status as usize].into();
        lead.rezult_name = REZULT_NAMES[lead.rezult as usize].into();
        let dbs = &self.store.dbs;
        dbs.idx_lead_datum_do
            .delete(&mut self.txn, &datum_do_key(&old))?;
        dbs.idx_lead_status
            .delete(&mut self.txn, &id_key(&[old.status], id))?;
        dbs.idx_lead_datum_do
            .put(&mut self.txn, &datum_do_key(&lead), &())?;
        dbs.idx_lead_status
            .put(&mut self.txn, &id_key(&[lead.status], id), &())?;
        self.put_record_json(Collection::Leads, id, &lead)?;
        Ok(Some(lead))
    }
}

/// The order of `list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeadOrder {
    Datum,
    Id,
    DatumDo,
    Status,
    /// Any other field of a lead (seed 003: "the field to sort the list
    /// by"): no index serves it, so every lead in the date range is read
    /// and sorted (the caller bounds how many, [`Store::lead_count`]).
    Field(String),
}

/// One page request of `list`.
#[derive(Debug, Clone)]
pub struct LeadQuery {
    pub order: LeadOrder,
    pub newest_first: bool,
    pub page: u64,
    pub page_size: u64,
    /// Inclusive `YYYY-MM-DD` bounds on `datum`.
    pub date_start: Option<String>,
    pub date_end: Option<String>,
}

/// A lead's field as a sort key: numbers before text, numbers by value.
#[derive(Debug, Clone)]
enum SortKey {
    Missing,
    Number(f64),
    Text(String),
}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use SortKey::*;
        match (self, other) {
            (Number(a), Number(b)) => a.total_cmp(b),
            (Text(a), Text(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SortKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for SortKey {}

impl SortKey {
    fn rank(&self) -> u8 {
        match self {
            SortKey::Missing => 0,
            SortKey::Number(_) => 1,
            SortKey::Text(_) => 2,
        }
    }

    fn of(v: Option<&serde_json::Value>) -> SortKey {
        match v {
            Some(serde_json::Value::Number(n)) => SortKey::Number(n.as_f64().unwrap_or(0.0)),
            Some(serde_json::Value::String(s)) => SortKey::Text(s.clone()),
            Some(serde_json::Value::Bool(b)) => SortKey::Number(*b as u8 as f64),
            _ => SortKey::Missing,
        }
    }
}

impl Store {
    /// The first and last lead id whose datum lies within the bounds.
    fn lead_id_range(
        &self,
        rtxn: &heed::RoTxn<'_, heed::WithoutTls>,
        q: &LeadQuery,
    ) -> Result<Option<(u64, u64)>> {
        let idx = self.dbs.idx_lead_datum;
        let tail = |k: &[u8]| -> Result<u64> { super::keys::trailing_id(k, "lead index") };
        let lo = match &q.date_start {
            Some(d) => match idx
                .range(rtxn, &(Bound::Included(d.as_bytes()), Bound::Unbounded))?
                .next()
            {
                Some(item) => tail(item?.0)?,
                None => return Ok(None),
            },
            None => match self.dbs.records(Collection::Leads).first(rtxn)? {
                Some((id, _)) => id,
                None => return Ok(None),
            },
        };
        let hi = match &q.date_end {
            Some(d) => {
                let mut end = d.as_bytes().to_vec();
                end.extend_from_slice(&[0xff; 8]);
                match idx
                    .rev_range(rtxn, &(Bound::Unbounded, Bound::Included(&end[..])))?
                    .next()
                {
                    Some(item) => tail(item?.0)?,
                    None => return Ok(None),
                }
            }
            None => match self.dbs.records(Collection::Leads).last(rtxn)? {
                Some((id, _)) => id,
                None => return Ok(None),
            },
        };
        Ok((lo <= hi).then_some((lo, hi)))
    }

    /// How many leads the date bounds of `q` hold.
    pub fn lead_count(&self, q: &LeadQuery) -> Result<u64> {
        let rtxn = self.env.read_txn()?;
        Ok(self
            .lead_id_range(&rtxn, q)?
            .map_or(0, |(lo, hi)| hi - lo + 1))
    }

    /// One page of the inbox, as stored JSON.
    pub fn lead_page(&self, q: &LeadQuery) -> Result<Vec<Vec<u8>>> {
        let rtxn = self.env.read_txn()?;
        let Some((lo, hi)) = self.lead_id_range(&rtxn, q)? else {
            return Ok(Vec::new());
        };
        let leads = self.dbs.records(Collection::Leads);
        let skip = q.page.saturating_mul(q.page_size);
        let ids: Vec<u64> = match &q.order {
            LeadOrder::Field(field) => {
                let mut keyed = Vec::new();
                for item in leads.range(&rtxn, &(lo..=hi))? {
                    let (id, bytes) = item?;
                    let v: serde_json::Value = serde_json::from_slice(bytes)?;
                    keyed.push((SortKey::of(v.get(field.as_str())), id));
                }
                keyed.sort();
                if q.newest_first {
                    keyed.reverse();
                }
                keyed
                    .into_iter()
                    .skip(skip as usize)
                    .take(q.page_size as usize)
                    .map(|(_, id)| id)
                    .collect()
            }
            // (datum, id) order is id order: arithmetic, no scan.
            LeadOrder::Datum | LeadOrder::Id => {
                let count = hi - lo + 1;
                if skip >= count {
                    return Ok(Vec::new());
                }
                let n = q.page_size.min(count - skip);
                if q.newest_first {
                    (0..n).map(|i| hi - skip - i).collect()
                } else {
                    (0..n).map(|i| lo + skip + i).collect()
                }
            }
            LeadOrder::DatumDo | LeadOrder::Status => {
                let idx = if matches!(q.order, LeadOrder::Status) {
                    self.dbs.idx_lead_status
                } else {
                    self.dbs.idx_lead_datum_do
                };
                let keys: Box<dyn Iterator<Item = heed::Result<(&[u8], ())>>> = if q.newest_first {
                    Box::new(idx.rev_iter(&rtxn)?)
                } else {
                    Box::new(idx.iter(&rtxn)?)
                };
                let mut out = Vec::new();
                let mut seen = 0u64;
                for item in keys {
                    let (k, ()) = item?;
                    let id = super::keys::trailing_id(k, "lead index")?;
                    if id < lo || id > hi {
                        continue;
                    }
                    seen += 1;
                    if seen > skip {
                        out.push(id);
                        if out.len() as u64 == q.page_size {
                            break;
                        }
                    }
                }
                out
            }
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(v) = leads.get(&rtxn, &id)? {
                out.push(v.to_vec());
            }
        }
        Ok(out)
    }

    /// (user id, status) of every lead whose datum starts with `month` (`YYYY-MM`).
    pub fn lead_month(&self, month: &str) -> Result<Vec<(u64, u8)>> {
        let rtxn = self.env.read_txn()?;
        let leads = self.dbs.records(Collection::Leads);
        let mut out = Vec::new();
        for item in self
            .dbs
            .idx_lead_datum
            .prefix_iter(&rtxn, month.as_bytes())?
        {
            let (k, ()) = item?;
            let id = super::keys::trailing_id(k, "lead index")?;
            if let Some(v) = leads.get(&rtxn, &id)? {
                let l: InboxLead = serde_json::from_slice(v)?;
                out.push((l.user, l.status));
            }
        }
        Ok(out)
    }
}
