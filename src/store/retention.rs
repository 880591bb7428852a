//! What a batch keeps and forgets over time: the persisted duplicate keys of
//! the hour window (SPEC §4 step 7), and the usage log's retention by age
//! and size. Every commit prunes a little (see `writer::prune_budget`).

use std::ops::Bound;

use super::apply::Batch;
use super::records::UsageEntry;
use super::{Collection, Result, StoreError};
use crate::dedupe::KeyHash;

impl Batch<'_> {
    pub(super) fn remember_duplicate_key(&mut self, key: Option<(KeyHash, u64)>) -> Result<()> {
        if let Some((hash, at)) = key {
            let h = hash.to_be_bytes();
            let mut tk = [0u8; 24];
            tk[..8].copy_from_slice(&at.to_be_bytes());
            tk[8..].copy_from_slice(&h);
            self.store.dbs.dup_by_key.put(&mut self.txn, &h, &at)?;
            self.store.dbs.dup_by_time.put(&mut self.txn, &tk, &())?;
        }
        Ok(())
    }

    /// Forgets duplicate keys accepted before `before_ms`; at most `max` of them.
    pub fn prune_duplicates(&mut self, before_ms: u64, max: usize) -> Result<usize> {
        let dbs = &self.store.dbs;
        let end = before_ms.to_be_bytes();
        let mut doomed = Vec::new();
        for item in dbs
            .dup_by_time
            .range(&self.txn, &(Bound::Unbounded, Bound::Excluded(&end[..])))?
            .take(max)
        {
            let (k, ()) = item?;
            doomed.push(k.to_vec());
        }
        for k in &doomed {
            dbs.dup_by_time.delete(&mut self.txn, k)?;
            let at = u64::from_be_bytes(
                k[..8]
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("dup key".into()))?,
            );
            if dbs.dup_by_key.get(&self.txn, &k[8..])? == Some(at) {
                dbs.dup_by_key.delete(&mut self.txn, &k[8..])?;
            }
        }
        Ok(doomed.len())
    }

    /// Drops the oldest usage-log entries while they are older than
    /// `before_ms`, or while the log holds more than `max_bytes`, or (when
    /// `force` > 0) at least `force` of them. Returns how many went.
    pub fn prune_usage(
        &mut self,
        before_ms: u64,
        max_bytes: u64,
        force: usize,
        max: usize,
    ) -> Result<usize> {
        let db = self.store.dbs.records(Collection::UsageLog);
        let mut bytes = (self.usage_bytes()? as i64 + self.usage_bytes_added).max(0) as u64;
        let mut doomed = Vec::new();
        for item in db.iter(&self.txn)?.take(max) {
            let (id, v) = item?;
            let old_enough = serde_json::from_slice::<UsageEntry>(v)
                .ok()
                .and_then(|e| crate::clock::parse_rfc3339(&e.created_at))
                .is_some_and(|t| t < before_ms);
            if !(old_enough || bytes > max_bytes || doomed.len() < force) {
                break;
            }
            bytes = bytes.saturating_sub(v.len() as u64);
            doomed.push((id, v.len()));
        }
        for (id, len) in &doomed {
            db.delete(&mut self.txn, id)?;
            self.usage_bytes_added -= *len as i64;
        }
        Ok(doomed.len())
    }
}
