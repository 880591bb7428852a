//! Cluster replication, the store's side (issue 22). On a cluster node,
//! every record a batch writes is also logged to `repl_out` in the same
//! transaction, so what was acknowledged is never lost to the cluster: the
//! publisher (`crate::replicate`) drains the log into JetStream and has the
//! entries it published deleted. Records other nodes made arrive through
//! [`Batch::apply_remote`]: stored under their own (cluster-unique) id, with
//! the index entries a local write would have made, idempotently (the same
//! entry twice changes nothing). A copy of an outbox row is not due here:
//! alerts, emails, webhooks and deliveries are sent by the node that took
//! the lead. Dial calls are pending on every node, and released by the
//! node holding the dialer's lease (`crate::dialer`); a release is a change
//! of the call, which travels back like any other. Dialer campaigns'
//! run-time state (members, flags) travels too (`log_dialer_state`).

use heed::types::{Bytes, Unit};
use heed::Database;

use super::apply::Batch;
use super::dialer::DialCall;
use super::keys::{client_ref_key, index_key, person_key, person_lookup, ClientRef, Owner};
use super::records::{BadLead, Client, Contact, DeliveryRecord, InboxLead, Ticket};
use super::{Collection, Result, Store};

/// The first byte of an entry that carries a dialer campaign's run-time
/// state (`dialer_state`), not a record.
const DIALER_STATE: u8 = 255;

/// An entry as it travels: collection (1 byte) ‖ id (BE u64) ‖ the JSON;
/// or 255 ‖ key length (BE u16) ‖ key ‖ the JSON for a dialer state.
pub fn encode(c: Collection, id: u64, json: &[u8], out: &mut Vec<u8>) {
    out.push(c as u8);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(json);
}

/// The (collection, id, JSON) of an entry; None when it is not one.
pub fn decode(entry: &[u8]) -> Option<(Collection, u64, &[u8])> {
    let c = *Collection::ALL.get(*entry.first()? as usize)?;
    let id = u64::from_be_bytes(entry.get(1..9)?.try_into().ok()?);
    Some((c, id, &entry[9..]))
}

/// Whether `incoming` should replace `held` (two versions of one record):
/// for records with an `updated_at` (clients, tickets) the later one wins,
/// and of two written in the same millisecond the greater JSON, so every
/// node keeps the same version whatever order the two arrive in. Others
/// change only at the node that made them: the incoming one.
fn newer(c: Collection, incoming: &[u8], held: &[u8]) -> bool {
    if !matches!(c, Collection::Clients | Collection::Tickets) {
        return true;
    }
    #[derive(serde::Deserialize)]
    struct Stamp {
        #[serde(default)]
        updated_at: String,
    }
    let stamp = |j: &[u8]| {
        serde_json::from_slice::<Stamp>(j)
            .map(|s| s.updated_at)
            .unwrap_or_default()
    };
    (stamp(incoming), incoming) > (stamp(held), held)
}

/// One index entry a record implies.
enum Ix {
    Unit(Database<Bytes, Unit>, Vec<u8>),
    /// `idx_routing`: routing id → delivery id.
    Routing(String),
}

impl Store {
    /// Up to `limit` replication entries waiting to be published, oldest
    /// first, with their sequence numbers.
    pub fn repl_pending(&self, limit: usize) -> Result<Vec<(u64, Vec<u8>)>> {
        let rtxn = self.env.read_txn()?;
        let mut out = Vec::new();
        for item in self.dbs.repl_out.iter(&rtxn)?.take(limit) {
            let (k, v) = item?;
            let seq = u64::from_be_bytes(k.try_into().unwrap_or([0; 8]));
            out.push((seq, v.to_vec()));
        }
        Ok(out)
    }

    /// Entries waiting to be published.
    pub fn repl_backlog(&self) -> Result<u64> {
        let rtxn = self.env.read_txn()?;
        Ok(self.dbs.repl_out.len(&rtxn)?)
    }
}

impl Batch<'_> {
    /// Logs the record in `self.scratch` (just stored under `id`) for the
    /// cluster, unless it came from the cluster.
    pub(super) fn log_replica(&mut self, c: Collection, id: u64) -> Result<()> {
        if self.applying_remote || self.store.cluster_node() == 0 {
            return Ok(());
        }
        let seq = self.seq.next_repl();
        let mut entry = Vec::with_capacity(9 + self.scratch.len());
        encode(c, id, &self.scratch, &mut entry);
        self.store
            .dbs
            .repl_out
            .put(&mut self.txn, &seq.to_be_bytes(), &entry)?;
        Ok(())
    }

    /// Logs a dialer campaign's run-time state for the cluster.
    pub(super) fn log_dialer_state(&mut self, key: &str, json: &[u8]) -> Result<()> {
        if self.applying_remote || self.store.cluster_node() == 0 {
            return Ok(());
        }
        let seq = self.seq.next_repl();
        let mut entry = Vec::with_capacity(3 + key.len() + json.len());
        entry.push(DIALER_STATE);
        entry.extend_from_slice(&(key.len() as u16).to_be_bytes());
        entry.extend_from_slice(key.as_bytes());
        entry.extend_from_slice(json);
        self.store
            .dbs
            .repl_out
            .put(&mut self.txn, &seq.to_be_bytes(), &entry)?;
        Ok(())
    }

    /// Deletes the log entries up to `up_to`: JetStream has them.
    pub fn repl_published(&mut self, up_to: u64) -> Result<u64> {
        let end = up_to.to_be_bytes();
        let range = (
            std::ops::Bound::Unbounded,
            std::ops::Bound::Included(&end[..]),
        );
        let n = self
            .store
            .dbs
            .repl_out
            .delete_range(&mut self.txn, &range)?;
        Ok(n as u64)
    }

    /// Stores a record another node made, with its index entries, replacing
    /// (and unindexing) the version held before.
    pub fn apply_remote(&mut self, entry: &[u8], now_ms: u64) -> Result<bool> {
        if entry.first() == Some(&DIALER_STATE) {
            let Some(len) = entry
                .get(1..3)
                .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
            else {
                return Ok(false);
            };
            let (Some(key), Some(json)) = (
                entry
                    .get(3..3 + len)
                    .and_then(|k| std::str::from_utf8(k).ok()),
                entry.get(3 + len..),
            ) else {
                return Ok(false);
            };
            self.store.dbs.dialer_state.put(&mut self.txn, key, json)?;
            return Ok(true);
        }
        let Some((c, id, json)) = decode(entry) else {
            return Ok(false);
        };
        let old = self
            .store
            .dbs
            .records(c)
            .get(&self.txn, &id)?
            .map(|o| o.to_vec());
        if old.as_deref() == Some(json) {
            return Ok(false);
        }
        if let Some(old) = &old {
            if !newer(c, json, old) {
                return Ok(false);
            }
        }
        if let Some(old) = &old {
            for ix in self.index_entries(c, id, old) {
                match ix {
                    Ix::Unit(db, key) => {
                        db.delete(&mut self.txn, &key)?;
                    }
                    Ix::Routing(r) => {
                        self.store.dbs.idx_routing.delete(&mut self.txn, &r)?;
                    }
                }
            }
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(json);
        self.applying_remote = true;
        let stored = self.put_record(c, id);
        self.applying_remote = false;
        stored?;
        for ix in self.index_entries(c, id, json) {
            match ix {
                Ix::Unit(db, key) => db.put(&mut self.txn, &key, &())?,
                Ix::Routing(r) => self.store.dbs.idx_routing.put(&mut self.txn, &r, &id)?,
            }
        }
        if c == Collection::UsageLog && old.is_none() {
            self.usage_bytes_added += json.len() as i64;
        }
        if c == Collection::Clients {
            self.flag_possible_duplicates(id, now_ms)?;
        }
        Ok(true)
    }

    /// A person made a client on two nodes while NATS was away is kept
    /// twice, nothing lost: the later of the two (by creation time, then id)
    /// is flagged `possible_duplicate_of` the earlier, on every node alike
    /// (each decides the same from the same records), and the node that
    /// made the later one raises `Cluster_Possible_Duplicate` once.
    fn flag_possible_duplicates(&mut self, id: u64, now_ms: u64) -> Result<()> {
        let Some(arrived): Option<Client> = self.get_json(Collection::Clients, id)? else {
            return Ok(());
        };
        let dbs = &self.store.dbs;
        let mut others = Vec::new();
        for p in arrived.phones().into_iter().filter(|p| !p.is_empty()) {
            others.extend(person_lookup(
                dbs.idx_phone,
                &self.txn,
                p.as_bytes(),
                Owner::Client,
            )?);
        }
        if !arrived.email.is_empty() {
            let e = arrived.email.as_bytes();
            others.extend(person_lookup(dbs.idx_email, &self.txn, e, Owner::Client)?);
        }
        others.sort_unstable();
        others.dedup();
        let node = self.store.cluster_node() as u64;
        for other in others.into_iter().filter(|&o| o != id) {
            let Some(x): Option<Client> = self.get_json(Collection::Clients, other)? else {
                continue;
            };
            let (earlier, mut later) =
                if (x.created_at.as_str(), x.id) < (arrived.created_at.as_str(), arrived.id) {
                    (x, arrived.clone())
                } else {
                    (arrived.clone(), x)
                };
            if later.possible_duplicate_of != 0 {
                continue;
            }
            later.possible_duplicate_of = earlier.id;
            let mine = later.id & ((1 << super::NODE_BITS) - 1) == node;
            // This node's own client changed: logged for the others like
            // any change of it; a copy of another node's is flagged here only.
            self.applying_remote = !mine;
            let stored = self.put_record_json(Collection::Clients, later.id, &later);
            self.applying_remote = false;
            stored?;
            if mine
                && self
                    .notes
                    .is_some_and(|n| n.wants(crate::outbox::POSSIBLE_DUPLICATE))
            {
                let mut fields = serde_json::to_value(&later)?;
                fields["earlier_client"] = serde_json::to_value(&earlier)?;
                let record = format!("clients/{}", later.id);
                self.raise(
                    crate::outbox::POSSIBLE_DUPLICATE,
                    &fields,
                    &record,
                    later.id,
                    now_ms,
                )?;
            }
        }
        Ok(())
    }

    /// The index entries a stored record implies, as a local write makes
    /// them (`leads.rs`, `tickets.rs`, `inbox.rs`, `deliveries.rs`,
    /// `dialer.rs`), without the side-effect queues.
    fn index_entries(&self, c: Collection, id: u64, json: &[u8]) -> Vec<Ix> {
        let dbs = &self.store.dbs;
        let mut out = Vec::new();
        let mut person = |db, value: &str, owner| {
            if !value.is_empty() {
                out.push(Ix::Unit(db, person_key(value.as_bytes(), owner, id)));
            }
        };
        match c {
            Collection::Clients => {
                if let Ok(v) = serde_json::from_slice::<Client>(json) {
                    for p in v.phones() {
                        person(dbs.idx_phone, p, Owner::Client);
                    }
                    person(dbs.idx_email, &v.email, Owner::Client);
                    if !v.external_key.is_empty() {
                        out.push(Ix::Unit(
                            dbs.idx_extkey,
                            index_key(v.external_key.as_bytes(), id),
                        ));
                    }
                }
            }
            Collection::Contacts => {
                if let Ok(v) = serde_json::from_slice::<Contact>(json) {
                    person(dbs.idx_phone, &v.phone, Owner::Contact);
                    person(dbs.idx_email, &v.email, Owner::Contact);
                }
            }
            Collection::Tickets => {
                if let Ok(v) = serde_json::from_slice::<Ticket>(json) {
                    if !v.external_key.is_empty() {
                        out.push(Ix::Unit(
                            dbs.idx_ticket_extkey,
                            index_key(v.external_key.as_bytes(), id),
                        ));
                    }
                }
            }
            Collection::UsageLog => {
                for v in super::rendered::carried_in(json) {
                    person(dbs.carried_index(v), v, Owner::Post);
                }
            }
            Collection::BadLeads => {
                if let Ok(v) = serde_json::from_slice::<BadLead>(json) {
                    if v.client != 0 {
                        let key = client_ref_key(v.client, ClientRef::BadLead, id);
                        out.push(Ix::Unit(dbs.idx_client_refs, key.to_vec()));
                    }
                }
            }
            Collection::Leads => {
                if let Ok(v) = serde_json::from_slice::<InboxLead>(json) {
                    person(dbs.idx_phone, &v.phone, Owner::Lead);
                    person(dbs.idx_email, &v.email, Owner::Lead);
                    use super::inbox::{datum_do_key, id_key};
                    out.push(Ix::Unit(dbs.idx_lead_datum, id_key(v.datum.as_bytes(), id)));
                    out.push(Ix::Unit(dbs.idx_lead_datum_do, datum_do_key(&v)));
                    out.push(Ix::Unit(dbs.idx_lead_status, id_key(&[v.status], id)));
                }
            }
            Collection::Deliveries => {
                if let Ok(v) = serde_json::from_slice::<DeliveryRecord>(json) {
                    out.push(Ix::Routing(v.routing_id.clone()));
                    let key = super::deliveries::buyer_key(v.buyer, id);
                    out.push(Ix::Unit(dbs.idx_buyer_delivery, key.to_vec()));
                }
            }
            Collection::Calls => {
                if let Ok(v) = serde_json::from_slice::<DialCall>(json) {
                    out.push(Ix::Unit(dbs.dial_phone, super::dialer::phone_key(&v)));
                    // Every node holds the queue; the lease holder releases.
                    if v.status == "pending" {
                        out.push(Ix::Unit(dbs.dial_pending, super::dialer::pending_key(&v)));
                    }
                }
            }
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_travel_whole() {
        let mut e = Vec::new();
        encode(
            Collection::Deliveries,
            7 << 10 | 3,
            br#"{"id":7171}"#,
            &mut e,
        );
        assert_eq!(
            decode(&e),
            Some((Collection::Deliveries, 7 << 10 | 3, &br#"{"id":7171}"#[..]))
        );
        assert_eq!(decode(&[200, 0, 0]), None);
        assert_eq!(decode(&[0, 1]), None);
    }

    #[test]
    fn of_two_versions_every_node_keeps_the_later() {
        let early = br#"{"id":1,"updated_at":"2026-12-06T10:00:00.000Z","city":"B"}"#;
        let late = br#"{"id":1,"updated_at":"2026-12-06T10:00:01.000Z","city":"A"}"#;
        assert!(newer(Collection::Clients, late, early));
        assert!(!newer(Collection::Clients, early, late));
        // The same millisecond: the greater JSON, from either side.
        let other = br#"{"id":1,"updated_at":"2026-12-06T10:00:01.000Z","city":"C"}"#;
        assert!(newer(Collection::Clients, other, late) != newer(Collection::Clients, late, other));
        // Records without a stamp change only where they were made.
        assert!(newer(Collection::Calls, early, late));
    }
}
