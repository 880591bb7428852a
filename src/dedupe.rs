//! The hour window of accepted posts (SPEC §4 step 7, code 006).
//!
//! A post's duplicate key — (profile, phone1, phone2, phone3, email),
//! normalised — is hashed to 128 bits with xxh3 (stable across processes and
//! machines, so the hashes can be persisted). The cache is split into 64
//! shards, each behind its own mutex held only for a few map operations and
//! never across a yield: contention is spread, no coroutine parks on it, and
//! nothing is allocated on the duplicate path once the maps are warm.
//!
//! Memory is bounded by `capacity`. When a shard is full the oldest entry is
//! evicted and the shard remembers the newest time it evicted; until that time
//! leaves the window, a miss in that shard is *not* trusted and the caller
//! asks storage (the writer persists every accepted key with its time, see
//! `store`). So a flood larger than the cache costs a read, never a hole.
//!
//! A key is *reserved* before its record is committed, so two identical posts
//! racing each other cannot both be accepted; a failed commit releases it.

use std::collections::VecDeque;
use std::sync::Mutex;

use ahash::AHashMap;

const SHARDS: usize = 64;

/// 128-bit duplicate-key hash.
pub type KeyHash = u128;

/// Hashes the normalised parts of a duplicate key. Parts are separated so
/// ("12","3") and ("1","23") differ.
pub fn key_hash(profile: u32, parts: &[&str]) -> KeyHash {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&profile.to_be_bytes());
    for p in parts {
        h.update(&[0x1f]);
        h.update(p.as_bytes());
    }
    h.digest128()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Not seen within the window: now reserved at the given time.
    Reserved,
    /// Accepted within the window: answer 006.
    Duplicate,
    /// The cache dropped entries that may still be in the window; ask storage,
    /// then call [`DuplicateWindow::reserve`] if storage has not seen it.
    AskStorage,
}

struct Shard {
    map: AHashMap<KeyHash, u64>,
    order: VecDeque<(u64, KeyHash)>,
    /// Newest acceptance time evicted for lack of room.
    evicted_newest_ms: Option<u64>,
}

pub struct DuplicateWindow {
    shards: Box<[Mutex<Shard>]>,
    window_ms: u64,
    shard_capacity: usize,
}

impl DuplicateWindow {
    pub fn new(window_ms: u64, capacity: usize) -> Self {
        let shard_capacity = (capacity / SHARDS).max(16);
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    map: AHashMap::new(),
                    order: VecDeque::new(),
                    evicted_newest_ms: None,
                })
            })
            .collect();
        DuplicateWindow {
            shards,
            window_ms,
            shard_capacity,
        }
    }

    pub fn window_ms(&self) -> u64 {
        self.window_ms
    }

    fn shard(&self, key: KeyHash) -> std::sync::MutexGuard<'_, Shard> {
        let i = ((key >> 64) as usize) % SHARDS;
        // A panic while holding a shard lock leaves only a map behind; keep serving.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks `key` at `now_ms` and reserves it when it is new.
    pub fn check(&self, key: KeyHash, now_ms: u64) -> Check {
        let mut s = self.shard(key);
        self.expire(&mut s, now_ms);
        if let Some(&at) = s.map.get(&key) {
            if at + self.window_ms > now_ms {
                return Check::Duplicate;
            }
        }
        if let Some(ev) = s.evicted_newest_ms {
            if ev + self.window_ms > now_ms {
                return Check::AskStorage;
            }
            s.evicted_newest_ms = None;
        }
        self.insert(&mut s, key, now_ms);
        Check::Reserved
    }

    /// Records `key` as accepted at `at_ms` (after a storage check, or when
    /// rebuilding from storage at start).
    pub fn reserve(&self, key: KeyHash, at_ms: u64) {
        let mut s = self.shard(key);
        self.insert(&mut s, key, at_ms);
    }

    /// Forgets a reservation made at `at_ms` whose record was not committed.
    pub fn release(&self, key: KeyHash, at_ms: u64) {
        let mut s = self.shard(key);
        if s.map.get(&key) == Some(&at_ms) {
            s.map.remove(&key);
        }
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|s| s.map.len()).unwrap_or(0))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, s: &mut Shard, key: KeyHash, at_ms: u64) {
        while s.map.len() >= self.shard_capacity {
            match s.order.pop_front() {
                Some((t, k)) => {
                    if s.map.get(&k) == Some(&t) {
                        s.map.remove(&k);
                        s.evicted_newest_ms = Some(s.evicted_newest_ms.map_or(t, |e| e.max(t)));
                    }
                }
                None => break,
            }
        }
        s.map.insert(key, at_ms);
        s.order.push_back((at_ms, key));
        // Stale order entries (re-reserved keys) are bounded by the map: compact
        // when they outnumber live ones.
        if s.order.len() > 2 * self.shard_capacity {
            let map = &s.map;
            let kept: VecDeque<_> = s
                .order
                .iter()
                .copied()
                .filter(|(t, k)| map.get(k) == Some(t))
                .collect();
            s.order = kept;
        }
    }

    fn expire(&self, s: &mut Shard, now_ms: u64) {
        while let Some(&(t, k)) = s.order.front() {
            if t + self.window_ms > now_ms {
                break;
            }
            s.order.pop_front();
            if s.map.get(&k) == Some(&t) {
                s.map.remove(&k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;

    #[test]
    fn duplicate_within_window_new_after() {
        let w = DuplicateWindow::new(HOUR, 1000);
        let k = key_hash(1, &["972501234567", "", "", "a@b.c"]);
        assert_eq!(w.check(k, 1_000), Check::Reserved);
        assert_eq!(w.check(k, 1_000 + HOUR - 1), Check::Duplicate);
        assert_eq!(w.check(k, 1_000 + HOUR), Check::Reserved);
        assert_eq!(w.check(k, 1_000 + HOUR + 5), Check::Duplicate);
    }

    #[test]
    fn key_parts_are_separated_and_per_profile() {
        assert_ne!(key_hash(1, &["12", "3"]), key_hash(1, &["1", "23"]));
        assert_ne!(key_hash(1, &["1"]), key_hash(2, &["1"]));
        assert_eq!(key_hash(7, &["a", "b"]), key_hash(7, &["a", "b"]));
    }

    #[test]
    fn release_forgets_only_its_own_reservation() {
        let w = DuplicateWindow::new(HOUR, 1000);
        let k = key_hash(1, &["x"]);
        assert_eq!(w.check(k, 10), Check::Reserved);
        w.release(k, 11); // not ours
        assert_eq!(w.check(k, 12), Check::Duplicate);
        w.release(k, 10);
        assert_eq!(w.check(k, 13), Check::Reserved);
    }

    #[test]
    fn bounded_memory_falls_back_to_storage_not_to_a_hole() {
        let w = DuplicateWindow::new(HOUR, 64 * 16); // 16 per shard
        for i in 0..10_000u32 {
            w.check(key_hash(1, &[&i.to_string()]), 1_000 + i as u64);
        }
        assert!(w.len() <= 64 * 16);
        // An early key was evicted: the cache must not claim it is new.
        assert_eq!(w.check(key_hash(1, &["0"]), 20_000), Check::AskStorage);
        // Once the evicted times leave the window, misses are trusted again.
        assert_eq!(w.check(key_hash(1, &["0"]), 20_000 + HOUR), Check::Reserved);
    }

    #[test]
    fn concurrent_reservations_admit_exactly_one() {
        use std::sync::Arc;
        let w = Arc::new(DuplicateWindow::new(HOUR, 1 << 16));
        let k = key_hash(3, &["same"]);
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let w = w.clone();
                std::thread::spawn(move || (w.check(k, 5) == Check::Reserved) as u32)
            })
            .collect();
        let admitted: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(admitted, 1);
    }
}
