//! What a batch keeps and forgets over time: the persisted duplicate keys
//! of the hour window (SPEC §4 step 7; where each is kept:
//! [`DuplicateKey`]), and the usage log's retention by age and size. Every
//! commit prunes a little (see `writer::prune_budget`).

use std::ops::Bound;

use super::apply::Batch;
use super::keys::{anchored_duplicate_key, anchored_duplicate_lookup, with_person_key, Owner};
use super::rendered::carried_in;
use super::{Collection, Result, StoreError};
use crate::dedupe::KeyHash;

/// The one field of a usage-log entry retention reads: every commit looks
/// at the oldest entry, and decoding the whole logged request for its time
/// would cost one string per field.
#[derive(serde::Deserialize)]
struct Stamped<'a> {
    #[serde(borrow)]
    created_at: std::borrow::Cow<'a, str>,
}

/// When a stored usage-log entry was logged. The writer stores every entry
/// as `{"id":N,"created_at":"…"` (`RenderedEntry::usage`), so the time is read in
/// place; anything else is decoded as JSON.
fn usage_logged_at(entry: &[u8]) -> Option<u64> {
    const FIELD: &[u8] = b",\"created_at\":\"";
    // `{"id":` and up to 20 digits come first.
    let in_place = memchr::memmem::find(&entry[..entry.len().min(26 + FIELD.len())], FIELD)
        .and_then(|at| entry.get(at + FIELD.len()..at + FIELD.len() + 24))
        .and_then(|t| std::str::from_utf8(t).ok())
        .and_then(crate::clock::parse_rfc3339);
    in_place.or_else(|| {
        serde_json::from_slice::<Stamped>(entry)
            .ok()
            .and_then(|e| crate::clock::parse_rfc3339(&e.created_at))
    })
}

/// Which shared index holds a duplicate key's anchor value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorIndex {
    Phone = 1,
    Email = 2,
}

/// An accepted post's duplicate key as the writer persists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    pub hash: KeyHash,
    /// Accepted at, ms.
    pub at: u64,
    /// Where it is kept: beside this value's entries in the phone or email
    /// index (the post's first phone, else its email), so remembering it
    /// dirties a leaf page the lead writes anyway — a separate hash-keyed
    /// tree cost every new lead one more random page per commit. Without an
    /// anchor it goes to `dup_by_key`.
    pub anchor: Option<(AnchorIndex, String)>,
}

impl DuplicateKey {
    /// The anchor of a key made of these phones and email: the first
    /// non-empty phone, else the email, else none.
    pub fn anchor_of<'a>(phones: &[&'a str], email: &'a str) -> Option<(AnchorIndex, &'a str)> {
        match phones.iter().find(|p| !p.is_empty()) {
            Some(p) => Some((AnchorIndex::Phone, p)),
            None if !email.is_empty() => Some((AnchorIndex::Email, email)),
            None => None,
        }
    }

    pub fn new(hash: KeyHash, at: u64, anchor: Option<(AnchorIndex, &str)>) -> DuplicateKey {
        DuplicateKey {
            hash,
            at,
            anchor: anchor.map(|(i, v)| (i, v.to_string())),
        }
    }
}

impl super::Store {
    /// When the duplicate key was last accepted, if that is still stored.
    pub fn duplicate_accepted_at(
        &self,
        hash: KeyHash,
        anchor: Option<(AnchorIndex, &str)>,
    ) -> Result<Option<u64>> {
        let rtxn = self.env.read_txn()?;
        if let Some((index, value)) = anchor {
            let db = self.dbs.anchor_index(index);
            if let Some(at) = anchored_duplicate_lookup(db, &rtxn, value.as_bytes(), hash)? {
                return Ok(Some(at));
            }
        }
        // Keys without an anchor, and those stored before anchoring existed.
        Ok(self.dbs.dup_by_key.get(&rtxn, &hash.to_be_bytes())?)
    }
}

impl Batch<'_> {
    pub(super) fn remember_duplicate_key(&mut self, key: Option<&DuplicateKey>) -> Result<()> {
        let Some(key) = key else { return Ok(()) };
        let dbs = &self.store.dbs;
        let mut tk = [0u8; 24];
        tk[..8].copy_from_slice(&key.at.to_be_bytes());
        tk[8..].copy_from_slice(&key.hash.to_be_bytes());
        // dup_by_time's value says where the key is: empty = dup_by_key,
        // else the anchor's index byte and value.
        let mut where_kept = Vec::new();
        match &key.anchor {
            Some((index, value)) => {
                let k = anchored_duplicate_key(value.as_bytes(), key.hash, key.at);
                dbs.anchor_index(*index).put(&mut self.txn, &k, &())?;
                where_kept.push(*index as u8);
                where_kept.extend_from_slice(value.as_bytes());
            }
            None => dbs
                .dup_by_key
                .put(&mut self.txn, &key.hash.to_be_bytes(), &key.at)?,
        }
        dbs.dup_by_time.put(&mut self.txn, &tk, &where_kept)?;
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
            let (k, where_kept) = item?;
            doomed.push((k.to_vec(), where_kept.to_vec()));
        }
        for (k, where_kept) in &doomed {
            dbs.dup_by_time.delete(&mut self.txn, k)?;
            let corrupt = || StoreError::Corrupt("dup_by_time key".into());
            let at = u64::from_be_bytes(k[..8].try_into().map_err(|_| corrupt())?);
            let hash = u128::from_be_bytes(k[8..].try_into().map_err(|_| corrupt())?);
            match where_kept.split_first() {
                Some((&index, value)) => {
                    let index = match index {
                        1 => AnchorIndex::Phone,
                        2 => AnchorIndex::Email,
                        _ => return Err(corrupt()),
                    };
                    let key = anchored_duplicate_key(value, hash, at);
                    dbs.anchor_index(index).delete(&mut self.txn, &key)?;
                }
                None => {
                    if dbs.dup_by_key.get(&self.txn, &k[8..])? == Some(at) {
                        dbs.dup_by_key.delete(&mut self.txn, &k[8..])?;
                    }
                }
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
            let old_enough = usage_logged_at(v).is_some_and(|t| t < before_ms);
            if !(old_enough || bytes > max_bytes || doomed.len() < force) {
                break;
            }
            bytes = bytes.saturating_sub(v.len() as u64);
            // The index entries of what it carried go with it.
            let carried: Vec<String> = carried_in(v).map(str::to_string).collect();
            doomed.push((id, v.len(), carried));
        }
        let dbs = &self.store.dbs;
        for (id, len, carried) in &doomed {
            db.delete(&mut self.txn, id)?;
            self.usage_bytes_added -= *len as i64;
            for v in carried {
                let (db, txn) = (dbs.carried_index(v), &mut self.txn);
                with_person_key(v.as_bytes(), Owner::Post, *id, |k| db.delete(txn, k))?;
            }
        }
        Ok(doomed.len())
    }
}

#[cfg(test)]
mod tests {
    use super::super::apply::{Batch, Sequences};
    use super::super::leads::LeadDraft;
    use super::super::Store;
    use super::*;

    const HOUR: u64 = 3_600_000;

    /// A post from loopback at 2026-11-23 05:20:00.250 UTC.
    fn post_parts() -> crate::store::rendered::UsageParts<'static> {
        crate::store::rendered::UsageParts {
            created_at: "2026-11-23T05:20:00.250Z",
            ip: "127.0.0.1".parse().unwrap(),
            client_ip: "127.0.0.1".parse().unwrap(),
            method: "POST",
            form: "f",
            query: "",
            content_type: "",
            user_agent: "",
            body: "a=1",
            body_base64: false,
        }
    }

    #[test]
    fn a_usage_entry_time_is_read_in_place_or_decoded() {
        let parts = post_parts();
        let mut stored = Vec::new();
        crate::store::rendered::RenderedEntry::usage(Vec::new(), &parts)
            .write_numbered(123_456_789, &mut stored);
        let want = crate::clock::parse_rfc3339(parts.created_at);
        assert!(want.is_some());
        assert_eq!(usage_logged_at(&stored), want);
        stored.clear();
        crate::store::rendered::RenderedEntry::usage(Vec::new(), &parts)
            .write_numbered(u64::MAX, &mut stored);
        assert_eq!(usage_logged_at(&stored), want, "a 20-digit id");
        let reordered = br#"{"body":"x","created_at":"2026-11-23T05:20:00.250Z","id":1}"#;
        assert_eq!(usage_logged_at(reordered), want);
        assert_eq!(usage_logged_at(b"{}"), None);
        assert_eq!(usage_logged_at(b""), None);
    }

    #[test]
    fn a_post_is_found_by_what_it_carried_until_it_is_pruned() {
        use crate::store::rendered::{Outcome, RenderedEntry};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 16 << 20).unwrap();
        let mut seq = Sequences::load(&store).unwrap();
        let parts = post_parts();
        let mut b = Batch::begin(&store, &mut seq).unwrap();
        let mut ids = Vec::new();
        for carried in [
            &["972522345678", "noa@x.example"][..],
            &["972522345678"],
            &[],
        ] {
            let mut e = RenderedEntry::usage(Vec::new(), &parts);
            e.carry(carried.iter().copied());
            e.close(&Outcome {
                status: 200,
                code: "006",
                reason: "duplicate",
                record_id: 0,
            });
            ids.push(b.put_usage(&e).unwrap());
        }
        b.commit().unwrap();
        assert_eq!(store.posts_by("972522345678", "").unwrap(), ids[..2]);
        assert_eq!(store.posts_by("", "noa@x.example").unwrap(), ids[..1]);
        let mut b = Batch::begin(&store, &mut seq).unwrap();
        assert_eq!(b.prune_usage(0, u64::MAX, 1, 100).unwrap(), 1);
        b.commit().unwrap();
        assert_eq!(store.posts_by("972522345678", "").unwrap(), ids[1..2]);
        assert!(store.posts_by("", "noa@x.example").unwrap().is_empty());
        let r = store.env.read_txn().unwrap();
        assert_eq!(store.dbs.idx_phone.len(&r).unwrap(), 1);
        assert_eq!(store.dbs.idx_email.len(&r).unwrap(), 0);
    }

    fn remember(store: &Store, seq: &mut Sequences, lead: Option<LeadDraft>, key: DuplicateKey) {
        let mut b = Batch::begin(store, seq).unwrap();
        if let Some(d) = lead {
            b.apply_lead(&d).unwrap();
        }
        b.remember_duplicate_key(Some(&key)).unwrap();
        b.commit().unwrap();
    }

    fn prune(store: &Store, seq: &mut Sequences, before: u64) -> usize {
        let mut b = Batch::begin(store, seq).unwrap();
        let n = b.prune_duplicates(before, 100).unwrap();
        b.commit().unwrap();
        n
    }

    #[test]
    fn anchored_keys_are_found_beside_their_value_and_pruned_with_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 16 << 20).unwrap();
        let mut seq = Sequences::load(&store).unwrap();
        let phone = "972502345678";
        let mut lead = LeadDraft {
            profile: 1,
            ..LeadDraft::default()
        };
        lead.client.phone1 = phone.into();
        lead.client.created_at = "2026-11-23T01:00:00.000Z".into();
        let by_phone = DuplicateKey::anchor_of(&["", phone], "");
        assert_eq!(by_phone, Some((AnchorIndex::Phone, phone)));
        remember(
            &store,
            &mut seq,
            Some(lead),
            DuplicateKey::new(7, HOUR, by_phone),
        );
        let by_email = DuplicateKey::anchor_of(&[""], "dana@example.com");
        assert_eq!(by_email, Some((AnchorIndex::Email, "dana@example.com")));
        remember(
            &store,
            &mut seq,
            None,
            DuplicateKey::new(8, HOUR + 5, by_email),
        );
        remember(&store, &mut seq, None, DuplicateKey::new(9, HOUR + 9, None));

        assert_eq!(
            store.duplicate_accepted_at(7, by_phone).unwrap(),
            Some(HOUR)
        );
        assert_eq!(
            store.duplicate_accepted_at(8, by_email).unwrap(),
            Some(HOUR + 5)
        );
        assert_eq!(
            store.duplicate_accepted_at(9, None).unwrap(),
            Some(HOUR + 9)
        );
        assert_eq!(store.duplicate_accepted_at(7, by_email).unwrap(), None);
        assert_eq!(store.duplicate_accepted_at(8, by_phone).unwrap(), None);
        // The key beside the phone is not one of its clients.
        assert_eq!(store.clients_by_phone(phone).unwrap(), [1]);
        let mut since = store.duplicates_since(0).unwrap();
        since.sort();
        assert_eq!(since, [(7, HOUR), (8, HOUR + 5), (9, HOUR + 9)]);

        // Accepted again later: the newest time wins until the old one expires.
        remember(
            &store,
            &mut seq,
            None,
            DuplicateKey::new(7, 2 * HOUR, by_phone),
        );
        assert_eq!(
            store.duplicate_accepted_at(7, by_phone).unwrap(),
            Some(2 * HOUR)
        );
        assert_eq!(prune(&store, &mut seq, HOUR + 6), 2);
        assert_eq!(
            store.duplicate_accepted_at(7, by_phone).unwrap(),
            Some(2 * HOUR)
        );
        assert_eq!(store.duplicate_accepted_at(8, by_email).unwrap(), None);
        assert_eq!(
            store.duplicate_accepted_at(9, None).unwrap(),
            Some(HOUR + 9)
        );
        assert_eq!(prune(&store, &mut seq, 3 * HOUR), 2);
        assert_eq!(store.duplicate_accepted_at(7, by_phone).unwrap(), None);
        assert_eq!(store.duplicate_accepted_at(9, None).unwrap(), None);
        assert_eq!(store.clients_by_phone(phone).unwrap(), [1]);
        let r = store.env.read_txn().unwrap();
        assert_eq!(
            store.dbs.idx_phone.len(&r).unwrap(),
            2,
            "only the client's entry and its inbox lead's are left"
        );
        assert_eq!(store.leads_by(phone, "").unwrap().len(), 1);
        assert_eq!(store.dbs.idx_email.len(&r).unwrap(), 0);
        assert_eq!(store.dbs.dup_by_time.len(&r).unwrap(), 0);
    }

    #[test]
    fn keys_stored_before_anchoring_are_still_read_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 16 << 20).unwrap();
        {
            // As schema 2 wrote them: dup_by_key, and an empty dup_by_time value.
            let mut w = store.env.write_txn().unwrap();
            let mut tk = HOUR.to_be_bytes().to_vec();
            tk.extend_from_slice(&5u128.to_be_bytes());
            store
                .dbs
                .dup_by_key
                .put(&mut w, &5u128.to_be_bytes(), &HOUR)
                .unwrap();
            store.dbs.dup_by_time.put(&mut w, &tk, &[]).unwrap();
            w.commit().unwrap();
        }
        let anchor = Some((AnchorIndex::Phone, "972502345678"));
        assert_eq!(store.duplicate_accepted_at(5, anchor).unwrap(), Some(HOUR));
        assert_eq!(store.duplicates_since(0).unwrap(), [(5, HOUR)]);
        let mut seq = Sequences::load(&store).unwrap();
        assert_eq!(prune(&store, &mut seq, 2 * HOUR), 1);
        assert_eq!(store.duplicate_accepted_at(5, anchor).unwrap(), None);
    }
}
