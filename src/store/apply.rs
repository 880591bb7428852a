//! The write side: one writer batch — its write transaction, the sequences
//! it advances, its commit — and the plain record and log writes every
//! kind of job shares. What each kind of job does with it lives beside:
//! client leads in `leads.rs`, tickets, deliveries, the dialer, the inbox.

use heed::types::{Bytes, Str};
use heed::{Database, MdbError, PutFlags, RwTxn};

use super::keys::{client_ref_key, with_person_key, ClientRef, Owner};
use super::record_json::RecordJson;
use super::records::*;
use super::rendered::RenderedEntry;
use super::{Collection, Result, Store};
use crate::outbox::Notifications;

/// A stored big-endian u64; 0 when absent or not eight bytes.
pub(super) fn be_u64(v: Option<&[u8]>) -> u64 {
    v.and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

/// Next ids, loaded from the last key of each collection at start.
#[derive(Debug, Clone)]
pub struct Sequences {
    /// Next local sequence of each collection (the id itself on a single box).
    next: [u64; super::COLLECTIONS],
    /// Cluster mode: this node's id, or 0.
    node: u64,
    /// The last replication-log sequence handed out (kept in `meta`, never
    /// reused: JetStream drops a message id it has seen as a duplicate).
    repl: u64,
    dirty_repl: bool,
    last_client_number: u64,
    dirty_number: bool,
}

impl Sequences {
    pub fn load(store: &Store) -> Result<Sequences> {
        let rtxn = store.env.read_txn()?;
        let node = store.cluster_node() as u64;
        let mut next = [1u64; super::COLLECTIONS];
        for c in Collection::ALL {
            if let Some((id, _)) = store.dbs.records(c).last(&rtxn)? {
                // In a cluster, past the highest id any node made: unique
                // (the node's own bits) and ordered roughly by time.
                next[c as usize] = if node == 0 {
                    id + 1
                } else {
                    (id >> super::NODE_BITS) + 1
                };
            }
        }
        let last_client_number = be_u64(store.dbs.meta.get(&rtxn, "client_number")?);
        let repl = be_u64(store.dbs.meta.get(&rtxn, "repl_seq")?);
        Ok(Sequences {
            next,
            node,
            repl,
            dirty_repl: false,
            last_client_number,
            dirty_number: false,
        })
    }

    pub(super) fn next(&mut self, c: Collection) -> u64 {
        let n = self.next[c as usize];
        self.next[c as usize] += 1;
        if self.node == 0 {
            n
        } else {
            (n << super::NODE_BITS) | self.node
        }
    }

    pub(super) fn next_repl(&mut self) -> u64 {
        self.repl += 1;
        self.dirty_repl = true;
        self.repl
    }

    pub(super) fn next_client_number(&mut self, high_range_start: u64) -> u64 {
        let n = (self.last_client_number + 1).max(high_range_start);
        self.last_client_number = n;
        self.dirty_number = true;
        n
    }
}

/// One writer batch: a write transaction plus the sequences it advances.
pub struct Batch<'s> {
    pub(super) store: &'s Store,
    pub(super) txn: RwTxn<'s>,
    pub(super) seq: &'s mut Sequences,
    pub(super) usage_bytes_added: i64,
    pub(super) notes: Option<&'s Notifications>,
    /// Where records are serialised before LMDB copies them in: one buffer
    /// for the batch instead of a growing Vec per record.
    pub(super) scratch: Vec<u8>,
    /// A record another node made is being stored: not logged for the
    /// cluster again.
    pub(super) applying_remote: bool,
}

impl<'s> Batch<'s> {
    pub fn begin(store: &'s Store, seq: &'s mut Sequences) -> Result<Batch<'s>> {
        Ok(Batch {
            txn: store.env.write_txn()?,
            store,
            seq,
            usage_bytes_added: 0,
            notes: None,
            scratch: Vec::with_capacity(8192),
            applying_remote: false,
        })
    }

    /// Events in this batch raise the notifications of `notes`.
    pub fn with_notifications(mut self, notes: &'s Notifications) -> Self {
        self.notes = Some(notes);
        self
    }

    /// Stores (Some) or deletes (None) a run-time configuration override.
    /// Returns whether an override was there before.
    pub fn put_config(&mut self, key: &str, json: Option<&[u8]>) -> Result<bool> {
        let existed = self.store.dbs.config.get(&self.txn, key)?.is_some();
        match json {
            Some(j) => self.store.dbs.config.put(&mut self.txn, key, j)?,
            None => {
                self.store.dbs.config.delete(&mut self.txn, key)?;
            }
        }
        Ok(existed)
    }

    /// Commits; returns how long LMDB took to write the pages and fsync.
    pub fn commit(mut self) -> Result<std::time::Duration> {
        let meta = self.store.dbs.meta;
        if self.seq.dirty_number {
            self.put_u64(meta, "client_number", self.seq.last_client_number)?;
        }
        if self.seq.dirty_repl {
            self.put_u64(meta, "repl_seq", self.seq.repl)?;
        }
        if self.usage_bytes_added != 0 {
            let cur = self.usage_bytes()?;
            let new = (cur as i64 + self.usage_bytes_added).max(0) as u64;
            self.put_u64(meta, "usage_bytes", new)?;
        }
        let started = std::time::Instant::now();
        self.txn.commit()?;
        self.seq.dirty_number = false;
        self.seq.dirty_repl = false;
        Ok(started.elapsed())
    }

    pub(super) fn usage_bytes(&self) -> Result<u64> {
        self.stored_u64(self.store.dbs.meta, "usage_bytes")
    }

    /// The big-endian u64 under `key` in a name → bytes table; 0 when absent.
    pub(super) fn stored_u64(&self, db: Database<Str, Bytes>, key: &str) -> Result<u64> {
        Ok(be_u64(db.get(&self.txn, key)?))
    }

    pub(super) fn put_u64(&mut self, db: Database<Str, Bytes>, key: &str, n: u64) -> Result<()> {
        db.put(&mut self.txn, key, &n.to_be_bytes())?;
        Ok(())
    }

    /// Advances the counter under `key` by one; returns its value before.
    pub(super) fn bump(&mut self, db: Database<Str, Bytes>, key: &str) -> Result<u64> {
        let n = self.stored_u64(db, key)?;
        self.put_u64(db, key, n + 1)?;
        Ok(n)
    }

    pub(super) fn put_json<T: serde::Serialize>(
        &mut self,
        c: Collection,
        id: u64,
        value: &T,
    ) -> Result<()> {
        self.put_json_sized(c, id, value).map(drop)
    }

    /// Stores `value` as JSON under `id`; returns its length.
    fn put_json_sized<T: serde::Serialize>(
        &mut self,
        c: Collection,
        id: u64,
        value: &T,
    ) -> Result<usize> {
        self.scratch.clear();
        serde_json::to_writer(&mut self.scratch, value)?;
        self.put_record(c, id)?;
        Ok(self.scratch.len())
    }

    /// Stores a record whose JSON is written without serde (the records
    /// of every new lead: `record_json.rs`).
    pub(super) fn put_record_json<T: RecordJson>(
        &mut self,
        c: Collection,
        id: u64,
        value: &T,
    ) -> Result<()> {
        self.scratch.clear();
        value.write_json(&mut self.scratch);
        self.put_record(c, id)
    }

    /// Stores `self.scratch` under `id`. Ids come from the collection's
    /// sequence, so a new record's id is past every stored one: LMDB is
    /// told to append (it goes straight to the last page, no search, and a
    /// full page splits off only the new record, leaving the old one full).
    /// An update (an id already stored) is refused by the append and
    /// written in place instead; the refusal changes nothing.
    pub(super) fn put_record(&mut self, c: Collection, id: u64) -> Result<()> {
        // The key as its big-endian bytes: heed's integer codec would
        // allocate a vector for every key it encodes.
        let db = self.store.dbs.records(c).remap_key_type::<Bytes>();
        let key = id.to_be_bytes();
        match db.put_with_flags(&mut self.txn, PutFlags::APPEND, &key, &self.scratch) {
            Err(heed::Error::Mdb(MdbError::KeyExist)) => {
                db.put(&mut self.txn, &key, &self.scratch)?;
            }
            other => other?,
        }
        // Cluster mode: logged for the other nodes in the same transaction.
        self.log_replica(c, id)
    }

    pub(super) fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        c: Collection,
        id: u64,
    ) -> Result<Option<T>> {
        match self.store.dbs.records(c).get(&self.txn, &id)? {
            Some(b) => Ok(Some(serde_json::from_slice(b)?)),
            None => Ok(None),
        }
    }

    /// Stores a usage-log entry the worker rendered, counting its bytes
    /// for the log's size limit.
    pub fn put_usage(&mut self, e: &RenderedEntry) -> Result<u64> {
        let id = self.put_rendered(Collection::UsageLog, e)?;
        self.usage_bytes_added += self.scratch.len() as i64;
        // Found by the phones and email it carried (`?q=`).
        let dbs = &self.store.dbs;
        for v in e.carried() {
            let db = dbs.carried_index(v);
            let txn = &mut self.txn;
            with_person_key(v.as_bytes(), Owner::Post, id, |k| db.put(txn, k, &()))?;
        }
        Ok(id)
    }

    /// Numbers an entry the worker rendered and stores it in `c`.
    pub fn put_rendered(&mut self, c: Collection, e: &RenderedEntry) -> Result<u64> {
        let id = self.seq.next(c);
        self.scratch.clear();
        e.write_numbered(id, &mut self.scratch);
        self.put_record(c, id)?;
        Ok(id)
    }

    pub fn put_automation(&mut self, e: &mut AutomationEntry) -> Result<u64> {
        e.id = self.seq.next(Collection::AutomationLog);
        self.put_record_json(Collection::AutomationLog, e.id, e)?;
        Ok(e.id)
    }

    pub fn put_bad_lead(&mut self, mut b: BadLead) -> Result<u64> {
        b.id = self.seq.next(Collection::BadLeads);
        self.put_json(Collection::BadLeads, b.id, &b)?;
        if b.client != 0 {
            self.add_client_ref(b.client, ClientRef::BadLead, b.id)?;
        }
        Ok(b.id)
    }

    /// Notes that record `id` of `kind` refers to `client`, so the admin
    /// API finds it from the client's phone or email.
    pub(super) fn add_client_ref(&mut self, client: u64, kind: ClientRef, id: u64) -> Result<()> {
        let key = client_ref_key(client, kind, id);
        self.store
            .dbs
            .idx_client_refs
            .put(&mut self.txn, &key[..], &())?;
        Ok(())
    }

    pub(super) fn put_relationship(&mut self, mut r: Relationship) -> Result<u64> {
        r.id = self.seq.next(Collection::Relationships);
        self.put_record_json(Collection::Relationships, r.id, &r)?;
        Ok(r.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_append_and_still_update_or_arrive_out_of_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 64 << 20).unwrap();
        let mut seq = Sequences::load(&store).unwrap();
        let mut b = Batch::begin(&store, &mut seq).unwrap();
        b.put_json(Collection::Clients, 5, &"five").unwrap();
        b.put_json(Collection::Clients, 3, &"three, before the last")
            .unwrap();
        b.put_json(Collection::Clients, 5, &"five, updated")
            .unwrap();
        b.put_json(Collection::Clients, 9, &"nine").unwrap();
        b.commit().unwrap();
        let read = |id| {
            String::from_utf8(store.get_raw(Collection::Clients, id).unwrap().unwrap()).unwrap()
        };
        assert_eq!(read(3), r#""three, before the last""#);
        assert_eq!(read(5), r#""five, updated""#);
        assert_eq!(read(9), r#""nine""#);
    }
}
