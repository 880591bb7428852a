//! Storage: one LMDB environment (through heed) holding every record and its
//! indexes. This is the only module that imports heed.
//!
//! Layout (all record keys are big-endian u64 ids, so byte order is id order,
//! and ids are handed out in commit order, so id order is time order):
//!
//! | database          | key                              | value |
//! |-------------------|----------------------------------|-------|
//! | `meta`            | name                             | schema version, sequences |
//! | `clients` …`leads`| id (BE u64)                      | the record as JSON |
//! | `idx_person_phone` | E.164 digits ‖ 0x00 ‖ owner ‖ id | () — owner 1 = client, 2 = contact |
//! | `idx_person_email` | lower-cased email ‖ 0x00 ‖ owner ‖ id | () — owner 4 = CRM inbox lead, 5 = post (usage entry) that carried it |
//! | `idx_client_refs` | client (BE u64) ‖ kind ‖ id (BE u64) | () — kind 1 = bad lead kept for the client |
//! | `idx_extkey`      | external key ‖ 0x00 ‖ id         | () |
//! | `idx_ticket_extkey` | ticket external key ‖ 0x00 ‖ id | () |
//! | `config`          | `profiles/7`, `users/{login}`, `branches/A1` | run-time configuration overrides (JSON) |
//! | `idx_lead_datum`  | datum `YYYY-MM-DD` ‖ lead id      | () — inbox by creation date |
//! | `idx_lead_datum_do` | datum_do (10 bytes, `0000-00-00` when open) ‖ id | () |
//! | `idx_lead_status` | status (1 byte) ‖ lead id         | () |
//! | `idx_routing`     | routing id                        | delivery id |
//! | `idx_buyer_delivery` | buyer (BE u64) ‖ delivery id   | () — a buyer's deliveries in order |
//! | `dial_pending`, `dial_phone`, `dialer_state` | see `dialer.rs` | dial queues |
//! | `outbox_due`      | next attempt ms (BE) ‖ outbox id  | () — pending notifications by due time |
//! | `idx_person_*` (owner 3) | anchor value ‖ 0x00 ‖ 3 ‖ hash ‖ ms | () — a duplicate key beside its first phone or email |
//! | `dup_by_key`      | duplicate-key hash (16 bytes)    | accepted at, ms (BE u64) — keys without a phone or email |
//! | `dup_by_time`     | ms (BE u64) ‖ hash               | where the key is: empty = `dup_by_key`, else index byte ‖ anchor value |
//!
//! A client's and its contact's entries for one phone (or email) sit side by
//! side in one index, so a new lead dirties one leaf page per value, not
//! two: random-key index pages are most of what a commit writes.
//!
//! Writes happen only on the writer thread ([`writer`]), one write
//! transaction per batch; readers open transactions without thread-local
//! storage (safe from coroutines) and never hold one across a yield.
//!
//! Floor: above `config`, `outbox` (what an event notifies), `metrics`,
//! `dedupe` and `vocab`; the handlers, the sender and the dialer read and
//! write through it.

pub mod apply;
pub mod ceiling;
pub mod deliveries;
pub mod dialer;
pub mod inbox;
pub mod job;
mod keys;
pub mod leads;
mod migrate;
mod notify;
pub mod record_json;
pub mod rendered;
pub mod replica;
mod retention;
pub mod tickets;
pub mod writer;

pub use crate::vocab::records;
pub use retention::{AnchorIndex, DuplicateKey};

use std::ops::Bound;
use std::path::Path;

use heed::byteorder::BE;
use heed::types::{Bytes, Str, Unit, U64};
use heed::{Database, Env, EnvOpenOptions, WithoutTls};
use keys::Owner;

/// 2: phone and email indexes shared by clients and contacts (see
/// [`migrate`]). 3: duplicate keys kept beside their first phone or email
/// in those indexes (nothing to move: a schema-2 store's `dup_by_key`
/// entries are still read, and expire within the window). 4: CRM inbox
/// leads and posts (usage entries) in the phone and email indexes, and
/// `idx_client_refs` (the bad leads of a client; see
/// [`migrate::client_refs`]).
pub const SCHEMA_VERSION: u64 = 4;

type Id = U64<BE>;

/// How many record collections there are.
pub const COLLECTIONS: usize = 11;

/// Record collections, by the name the admin API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    Clients,
    Contacts,
    Relationships,
    BadLeads,
    UsageLog,
    AutomationLog,
    Leads,
    Tickets,
    Outbox,
    Deliveries,
    Calls,
}

impl Collection {
    pub const ALL: [Collection; COLLECTIONS] = [
        Collection::Clients,
        Collection::Contacts,
        Collection::Relationships,
        Collection::BadLeads,
        Collection::UsageLog,
        Collection::AutomationLog,
        Collection::Leads,
        Collection::Tickets,
        Collection::Outbox,
        Collection::Deliveries,
        Collection::Calls,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Collection::Clients => "clients",
            Collection::Contacts => "contacts",
            Collection::Relationships => "relationships",
            Collection::BadLeads => "bad_leads",
            Collection::UsageLog => "usage_log",
            Collection::AutomationLog => "automation_log",
            Collection::Leads => "leads",
            Collection::Tickets => "tickets",
            Collection::Outbox => "outbox",
            Collection::Deliveries => "deliveries",
            Collection::Calls => "calls",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The top-level fields a record of this collection has (what an
    /// admin list may filter on).
    pub fn fields(self) -> Vec<String> {
        use records::*;
        fn keys<T: serde::Serialize + Default>() -> Vec<String> {
            match serde_json::to_value(T::default()) {
                Ok(serde_json::Value::Object(o)) => o.keys().cloned().collect(),
                _ => Vec::new(),
            }
        }
        match self {
            Collection::Clients => {
                let mut k = keys::<Client>();
                k.push("possible_duplicate_of".into());
                k
            }
            Collection::Contacts => keys::<Contact>(),
            Collection::Relationships => keys::<Relationship>(),
            Collection::BadLeads => keys::<BadLead>(),
            Collection::UsageLog => keys::<UsageEntry>(),
            Collection::AutomationLog => keys::<AutomationEntry>(),
            Collection::Leads => keys::<InboxLead>(),
            Collection::Tickets => keys::<Ticket>(),
            Collection::Outbox => keys::<OutboxItem>(),
            Collection::Deliveries => keys::<DeliveryRecord>(),
            Collection::Calls => keys::<dialer::DialCall>(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the LMDB map is full (raise [storage] map_size_mb)")]
    MapFull,
    #[error("storage error: {0}")]
    Heed(heed::Error),
    #[error("cannot create data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("data directory was written by a newer dataport (schema {0})")]
    Schema(u64),
}

impl From<heed::Error> for StoreError {
    fn from(e: heed::Error) -> Self {
        match e {
            heed::Error::Mdb(heed::MdbError::MapFull) => StoreError::MapFull,
            e => StoreError::Heed(e),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub(crate) struct Dbs {
    meta: Database<Str, Bytes>,
    records: [Database<Id, Bytes>; COLLECTIONS],
    idx_ticket_extkey: Database<Bytes, Unit>,
    outbox_due: Database<Bytes, Unit>,
    config: Database<Str, Bytes>,
    idx_lead_datum: Database<Bytes, Unit>,
    idx_lead_datum_do: Database<Bytes, Unit>,
    idx_lead_status: Database<Bytes, Unit>,
    idx_routing: Database<Str, Id>,
    idx_buyer_delivery: Database<Bytes, Unit>,
    dial_pending: Database<Bytes, Unit>,
    dial_phone: Database<Bytes, Unit>,
    dialer_state: Database<Str, Bytes>,
    idx_phone: Database<Bytes, Unit>,
    idx_email: Database<Bytes, Unit>,
    idx_client_refs: Database<Bytes, Unit>,
    idx_extkey: Database<Bytes, Unit>,
    dup_by_key: Database<Bytes, Id>,
    dup_by_time: Database<Bytes, Bytes>,
    /// Cluster mode: records made here, waiting to be published
    /// (`replica.rs`): sequence (BE u64) → entry.
    repl_out: Database<Bytes, Bytes>,
}

impl Dbs {
    fn records(&self, c: Collection) -> Database<Id, Bytes> {
        self.records[c as usize]
    }

    /// The shared index a post's carried value lives in: an email (it has
    /// an `@`) in the email index, a phone in the phone index.
    fn carried_index(&self, value: &str) -> Database<Bytes, Unit> {
        if value.contains('@') {
            self.idx_email
        } else {
            self.idx_phone
        }
    }

    fn anchor_index(&self, index: AnchorIndex) -> Database<Bytes, Unit> {
        match index {
            AnchorIndex::Phone => self.idx_phone,
            AnchorIndex::Email => self.idx_email,
        }
    }
}

/// Size figures for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct SizeInfo {
    pub map_size: u64,
    pub used_bytes: u64,
    pub file_bytes: u64,
}

pub struct Store {
    env: Env<WithoutTls>,
    dbs: Dbs,
    /// Cluster mode: this node's id, in the low [`NODE_BITS`] of every new
    /// record id; 0 on a single box (ids 1, 2, 3, ...).
    node: std::sync::atomic::AtomicU16,
}

/// The bits of a record id that name the node that made it (cluster mode):
/// `id = (local sequence << NODE_BITS) | node_id`, unique in the cluster
/// with no coordination, and the same on every node.
pub const NODE_BITS: u32 = 10;

impl Store {
    /// Opens (creating when new) the environment under `dir` with a map of
    /// `map_size` bytes.
    pub fn open(dir: &Path, map_size: usize) -> Result<Store> {
        // The directories this call creates, outermost first: each one's
        // name must be made durable in its parent.
        let mut created: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
        created.reverse();
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::DataDir(dir.display().to_string(), e))?;
        // Safety: the environment is opened once per process (serve owns it) and
        // the data file is not modified by anything but LMDB.
        let env = unsafe {
            let mut options = EnvOpenOptions::new();
            if ceiling::switches().no_sync {
                // Measurement only (a `ceiling` build): see ceiling.rs.
                options.flags(heed::EnvFlags::NO_SYNC);
            }
            options
                .read_txn_without_tls()
                .map_size(map_size)
                .max_dbs(64)
                .max_readers(4096)
                .open(dir)?
        };
        // LMDB syncs its files but never the directory that names them:
        // under strict POSIX rules a power cut before the first clean
        // shutdown could lose `data.mdb` itself (issue 21).
        let sync = |d: &Path| -> Result<()> {
            std::fs::File::open(d)
                .and_then(|f| f.sync_all())
                .map_err(|e| StoreError::DataDir(d.display().to_string(), e))
        };
        sync(dir)?;
        for d in created {
            if let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync(parent)?;
            }
        }
        let mut wtxn = env.write_txn()?;
        let meta: Database<Str, Bytes> = env.create_database(&mut wtxn, Some("meta"))?;
        let mut records = Vec::new();
        for c in Collection::ALL {
            records.push(env.create_database::<Id, Bytes>(&mut wtxn, Some(c.name()))?);
        }
        let dbs = Dbs {
            meta,
            // unwrap: exactly COLLECTIONS databases were pushed above.
            records: records
                .try_into()
                .map_err(|_| StoreError::Corrupt("collections".into()))
                .unwrap(),
            idx_phone: env.create_database(&mut wtxn, Some("idx_person_phone"))?,
            idx_email: env.create_database(&mut wtxn, Some("idx_person_email"))?,
            idx_client_refs: env.create_database(&mut wtxn, Some("idx_client_refs"))?,
            idx_extkey: env.create_database(&mut wtxn, Some("idx_extkey"))?,
            idx_ticket_extkey: env.create_database(&mut wtxn, Some("idx_ticket_extkey"))?,
            outbox_due: env.create_database(&mut wtxn, Some("outbox_due"))?,
            config: env.create_database(&mut wtxn, Some("config"))?,
            idx_lead_datum: env.create_database(&mut wtxn, Some("idx_lead_datum"))?,
            idx_lead_datum_do: env.create_database(&mut wtxn, Some("idx_lead_datum_do"))?,
            idx_lead_status: env.create_database(&mut wtxn, Some("idx_lead_status"))?,
            idx_routing: env.create_database(&mut wtxn, Some("idx_routing"))?,
            idx_buyer_delivery: env.create_database(&mut wtxn, Some("idx_buyer_delivery"))?,
            dial_pending: env.create_database(&mut wtxn, Some("dial_pending"))?,
            dial_phone: env.create_database(&mut wtxn, Some("dial_phone"))?,
            dialer_state: env.create_database(&mut wtxn, Some("dialer_state"))?,
            dup_by_key: env.create_database(&mut wtxn, Some("dup_by_key"))?,
            dup_by_time: env.create_database(&mut wtxn, Some("dup_by_time"))?,
            repl_out: env.create_database(&mut wtxn, Some("repl_out"))?,
        };
        match dbs.meta.get(&wtxn, "schema_version")? {
            None => {}
            Some(v) => {
                let v = u64::from_be_bytes(
                    v.try_into()
                        .map_err(|_| StoreError::Corrupt("schema_version".into()))?,
                );
                if v > SCHEMA_VERSION {
                    return Err(StoreError::Schema(v));
                }
                if v < 2 {
                    migrate::person_indexes(&env, &mut wtxn, &dbs)?;
                }
                if v < 4 {
                    migrate::client_refs(&mut wtxn, &dbs)?;
                }
            }
        }
        dbs.meta
            .put(&mut wtxn, "schema_version", &SCHEMA_VERSION.to_be_bytes())?;
        wtxn.commit()?;
        Ok(Store {
            env,
            dbs,
            node: Default::default(),
        })
    }

    /// Makes this store a cluster node's: new ids carry `node` (1..=1023).
    /// Set before the writer starts.
    pub fn set_cluster_node(&self, node: u16) {
        self.node.store(node, std::sync::atomic::Ordering::Relaxed);
    }

    /// This node's id in the cluster; 0 on a single box.
    pub fn cluster_node(&self) -> u16 {
        self.node.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One stored record's JSON.
    pub fn get_raw(&self, c: Collection, id: u64) -> Result<Option<Vec<u8>>> {
        let rtxn = self.env.read_txn()?;
        Ok(self.dbs.records(c).get(&rtxn, &id)?.map(|v| v.to_vec()))
    }

    pub fn get_client(&self, id: u64) -> Result<Option<records::Client>> {
        match self.get_raw(Collection::Clients, id)? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Walks `c` in id order from `after` (exclusive), handing each record to
    /// `visit` until it returns false or `scan_cap` records were looked at;
    /// with `newest_first`, down from `after` (exclusive; 0: from the end).
    /// Returns the id of the last record looked at when the cap stopped the
    /// walk with records left, so a caller can answer with a cursor.
    pub fn scan(
        &self,
        c: Collection,
        (after, newest_first): (u64, bool),
        scan_cap: usize,
        mut visit: impl FnMut(u64, &[u8]) -> bool,
    ) -> Result<Option<u64>> {
        let rtxn = self.env.read_txn()?;
        let db = self.dbs.records(c);
        let items: Box<dyn Iterator<Item = heed::Result<(u64, &[u8])>>> = match newest_first {
            false => Box::new(db.range(&rtxn, &(after.saturating_add(1)..))?),
            true if after == 0 => Box::new(db.rev_iter(&rtxn)?),
            true => Box::new(db.rev_range(&rtxn, &(..after))?),
        };
        let mut last = None;
        for (n, item) in items.enumerate() {
            let (id, bytes) = item?;
            if n >= scan_cap {
                return Ok(last);
            }
            last = Some(id);
            if !visit(id, bytes) {
                break;
            }
        }
        Ok(None)
    }

    /// CRM inbox lead ids with this phone (normalised digits) or this
    /// (lower-cased) email.
    pub fn leads_by(&self, phone: &str, email: &str) -> Result<Vec<u64>> {
        self.owned_by(Owner::Lead, phone, email)
    }

    /// Usage-log entries (posts) that carried this phone or this email.
    pub fn posts_by(&self, phone: &str, email: &str) -> Result<Vec<u64>> {
        self.owned_by(Owner::Post, phone, email)
    }

    fn owned_by(&self, owner: Owner, phone: &str, email: &str) -> Result<Vec<u64>> {
        let rtxn = self.env.read_txn()?;
        let mut ids = Vec::new();
        for (db, v) in [(self.dbs.idx_phone, phone), (self.dbs.idx_email, email)] {
            if !v.is_empty() {
                ids.extend(keys::person_lookup(db, &rtxn, v.as_bytes(), owner)?);
            }
        }
        Ok(ids)
    }

    /// The bad leads kept for these clients (a renewal's old record, a HOT
    /// lead's post).
    pub fn bad_leads_of(&self, clients: &[u64]) -> Result<Vec<u64>> {
        let rtxn = self.env.read_txn()?;
        let mut ids = Vec::new();
        for &c in clients {
            ids.extend(keys::client_refs(
                self.dbs.idx_client_refs,
                &rtxn,
                c,
                keys::ClientRef::BadLead,
            )?);
        }
        Ok(ids)
    }

    /// Client ids whose phone1..3 equal `phone` (normalised digits).
    pub fn clients_by_phone(&self, phone: &str) -> Result<Vec<u64>> {
        let rtxn = self.env.read_txn()?;
        keys::person_lookup(self.dbs.idx_phone, &rtxn, phone.as_bytes(), Owner::Client)
    }

    /// Client ids with this (lower-cased) email.
    pub fn clients_by_email(&self, email: &str) -> Result<Vec<u64>> {
        let rtxn = self.env.read_txn()?;
        keys::person_lookup(self.dbs.idx_email, &rtxn, email.as_bytes(), Owner::Client)
    }

    /// Contact ids with this phone (normalised digits).
    pub fn contacts_by_phone(&self, phone: &str) -> Result<Vec<u64>> {
        let rtxn = self.env.read_txn()?;
        keys::person_lookup(self.dbs.idx_phone, &rtxn, phone.as_bytes(), Owner::Contact)
    }

    /// Contact ids with this (lower-cased) email.
    pub fn contacts_by_email(&self, email: &str) -> Result<Vec<u64>> {
        let rtxn = self.env.read_txn()?;
        keys::person_lookup(self.dbs.idx_email, &rtxn, email.as_bytes(), Owner::Contact)
    }

    /// Client ids carrying this external system key.
    pub fn clients_by_external_key(&self, key: &str) -> Result<Vec<u64>> {
        let rtxn = self.env.read_txn()?;
        keys::index_lookup(self.dbs.idx_extkey, &rtxn, key.as_bytes())
    }

    /// Ticket ids carrying this external system key.
    pub fn tickets_by_external_key(&self, key: &str) -> Result<Vec<u64>> {
        let rtxn = self.env.read_txn()?;
        keys::index_lookup(self.dbs.idx_ticket_extkey, &rtxn, key.as_bytes())
    }

    /// Every run-time configuration override, by key.
    pub fn config_overrides(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let rtxn = self.env.read_txn()?;
        let mut out = Vec::new();
        for item in self.dbs.config.iter(&rtxn)? {
            let (k, v) = item?;
            out.push((k.to_string(), v.to_vec()));
        }
        Ok(out)
    }

    /// Notifications still to send (due now or later), from the index's
    /// entry count: O(1).
    pub fn outbox_pending(&self) -> Result<u64> {
        let rtxn = self.env.read_txn()?;
        Ok(self.dbs.outbox_due.len(&rtxn)?)
    }

    /// Pending notifications due at `now_ms`, oldest due first.
    pub fn due_outbox(&self, now_ms: u64, limit: usize) -> Result<Vec<records::OutboxItem>> {
        let rtxn = self.env.read_txn()?;
        let end = (now_ms + 1).to_be_bytes();
        let mut out = Vec::new();
        for item in self
            .dbs
            .outbox_due
            .range(&rtxn, &(Bound::Unbounded, Bound::Excluded(&end[..])))?
            .take(limit)
        {
            let (k, ()) = item?;
            let id = keys::trailing_id(k, "outbox_due key")?;
            if let Some(v) = self.dbs.records(Collection::Outbox).get(&rtxn, &id)? {
                out.push(serde_json::from_slice(v)?);
            }
        }
        Ok(out)
    }

    /// Every duplicate key accepted at or after `since_ms`, for rebuilding the
    /// in-memory window at start.
    pub fn duplicates_since(&self, since_ms: u64) -> Result<Vec<(crate::dedupe::KeyHash, u64)>> {
        let rtxn = self.env.read_txn()?;
        let from = since_ms.to_be_bytes();
        let mut out = Vec::new();
        for item in self
            .dbs
            .dup_by_time
            .range(&rtxn, &(Bound::Included(&from[..]), Bound::Unbounded))?
        {
            let (key, _) = item?;
            if key.len() != 24 {
                return Err(StoreError::Corrupt("dup_by_time key".into()));
            }
            // unwrap: lengths checked just above.
            let at = u64::from_be_bytes(key[..8].try_into().unwrap());
            let hash = u128::from_be_bytes(key[8..].try_into().unwrap());
            out.push((hash, at));
        }
        Ok(out)
    }

    pub fn count(&self, c: Collection) -> Result<u64> {
        let rtxn = self.env.read_txn()?;
        Ok(self.dbs.records(c).len(&rtxn)?)
    }

    pub fn size_info(&self) -> SizeInfo {
        let info = self.env.info();
        let page = 4096u64;
        SizeInfo {
            map_size: info.map_size as u64,
            used_bytes: (info.last_page_number as u64 + 1) * page,
            file_bytes: self.env.real_disk_size().unwrap_or(0),
        }
    }
}
