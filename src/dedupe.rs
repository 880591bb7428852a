//! The hour window of accepted posts (SPEC §4 step 7, code 006): a
//! lock-free, fixed-size table shared by every worker.
//!
//! A post's duplicate key — (profile, phone1, phone2, phone3, email),
//! normalised — is hashed to 128 bits with xxh3 (stable across processes and
//! machines, so the hashes can be persisted). The high half picks the key's
//! one slot; the slot holds the low half (the fingerprint), the time the key
//! was accepted and an eviction mark, packed into one 128-bit word that is
//! read with one atomic load and changed with one compare-and-swap
//! (`cmpxchg16b`). A check is a load and at most a CAS: no lock, no
//! allocation, nothing a coroutine can park on, and two identical posts
//! racing each other cannot both be admitted (one CAS wins, the other sees
//! the winner's key).
//!
//! Memory is fixed at start (16 bytes a slot, `2 × capacity` slots rounded
//! up to a power of two). A key that lands on a slot still holding another
//! key inside the window evicts it, and the slot keeps the evicted key's
//! time (rounded later, never earlier). Until that time leaves the window, a
//! miss on that slot is *not* trusted and the caller asks storage (the writer
//! persists every accepted key with its time, see `store`). So a flood larger
//! than the table costs a read, never a hole.
//!
//! A key is *admitted* before its record is committed; a failed commit
//! releases it.
//!
//! Floor: a leaf; `store` persists its keys, `app` holds it.

use std::sync::atomic::Ordering::{AcqRel, Acquire};

use portable_atomic::AtomicU128;

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
    /// Not seen within the window: now admitted at the given time.
    Reserved,
    /// Accepted within the window: answer 006.
    Duplicate,
    /// The slot evicted a key that may still be in the window; ask storage,
    /// then call [`DuplicateWindow::admit`] if storage has not seen it.
    AskStorage,
}

/// Bits of a slot's low word that hold the eviction mark; the time of
/// acceptance (milliseconds since 1970, good until the year 2527) sits above.
const MARK_BITS: u32 = 20;
const MARK_MAX: u64 = (1 << MARK_BITS) - 1;

/// One slot, unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    /// The key's low 64 bits, never 0; 0 = no key.
    fingerprint: u64,
    /// When the key was accepted (with no key: the base of `evicted`).
    at: u64,
    /// The newest acceptance time of a key evicted from this slot, at least
    /// (stored as whole seconds before `at`, rounded down, so read back it is
    /// never earlier than the true time).
    evicted: Option<u64>,
}

impl Slot {
    fn unpack(word: u128) -> Slot {
        let low = word as u64;
        let at = low >> MARK_BITS;
        let mark = low & MARK_MAX;
        Slot {
            fingerprint: (word >> 64) as u64,
            at,
            evicted: (mark != 0).then(|| at.saturating_sub((mark - 1) * 1000)),
        }
    }

    fn pack(self) -> u128 {
        let mark = self.evicted.map_or(0, |e| {
            (self.at.saturating_sub(e) / 1000).min(MARK_MAX - 1) + 1
        });
        ((self.fingerprint as u128) << 64) | ((self.at << MARK_BITS) | mark) as u128
    }

    /// The eviction mark once `self`'s own key is gone too (evicted when
    /// `live` is true): the newer of the two times.
    fn evicted_with_occupant(self, live: bool) -> Option<u64> {
        let occupant = (live && self.fingerprint != 0).then_some(self.at);
        match (self.evicted, occupant) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

pub struct DuplicateWindow {
    slots: Box<[AtomicU128]>,
    mask: usize,
    window_ms: u64,
}

fn fingerprint(key: KeyHash) -> u64 {
    (key as u64).max(1)
}

impl DuplicateWindow {
    /// A window of `window_ms` sized for about `capacity` keys.
    pub fn new(window_ms: u64, capacity: usize) -> Self {
        let n = capacity.max(16).saturating_mul(2).next_power_of_two();
        DuplicateWindow {
            slots: (0..n).map(|_| AtomicU128::new(0)).collect(),
            mask: n - 1,
            window_ms,
        }
    }

    pub fn window_ms(&self) -> u64 {
        self.window_ms
    }

    /// Whether the table's 128-bit atomics are the CPU's own (`cmpxchg16b`),
    /// not the library's lock-based fallback.
    pub fn is_lock_free() -> bool {
        AtomicU128::is_lock_free()
    }

    fn slot(&self, key: KeyHash) -> &AtomicU128 {
        &self.slots[((key >> 64) as usize) & self.mask]
    }

    fn live(&self, at: u64, now_ms: u64) -> bool {
        at + self.window_ms > now_ms
    }

    /// Checks `key` at `now_ms` and admits it when it is new.
    pub fn check(&self, key: KeyHash, now_ms: u64) -> Check {
        self.admit_unless_seen(key, now_ms, false)
    }

    /// Admits `key` at `now_ms` after storage said it was not accepted within
    /// the window. False when an identical post was admitted meanwhile (the
    /// caller's post is then a duplicate).
    pub fn admit(&self, key: KeyHash, now_ms: u64) -> bool {
        self.admit_unless_seen(key, now_ms, true) == Check::Reserved
    }

    fn admit_unless_seen(&self, key: KeyHash, now_ms: u64, storage_asked: bool) -> Check {
        let fp = fingerprint(key);
        let admitted = self.update(key, |s| {
            let ours = s.fingerprint == fp;
            if ours && self.live(s.at, now_ms) {
                return Err(Check::Duplicate);
            }
            let mark_live = s.evicted.is_some_and(|e| self.live(e, now_ms));
            // The key may have been here and been pushed out by another.
            if !ours && mark_live && !storage_asked {
                return Err(Check::AskStorage);
            }
            let evicted = if ours {
                s.evicted.filter(|_| mark_live)
            } else {
                Slot {
                    evicted: s.evicted.filter(|_| mark_live),
                    ..s
                }
                .evicted_with_occupant(self.live(s.at, now_ms))
            };
            Ok(Slot {
                fingerprint: fp,
                at: now_ms,
                evicted,
            })
        });
        admitted.map_or_else(|check| check, |()| Check::Reserved)
    }

    /// Puts back a key accepted at `at_ms` (rebuilding the window from
    /// storage at start). Of two keys meeting in one slot the newer stays and
    /// the older becomes the slot's eviction mark.
    pub fn restore(&self, key: KeyHash, at_ms: u64) {
        let fp = fingerprint(key);
        let _ = self.update(key, |s| -> Result<Slot, ()> {
            if s.fingerprint == fp {
                return Ok(Slot {
                    at: s.at.max(at_ms),
                    ..s
                });
            }
            if s.fingerprint == 0 || s.at <= at_ms {
                return Ok(Slot {
                    fingerprint: fp,
                    at: at_ms,
                    evicted: s.evicted_with_occupant(true),
                });
            }
            // The slot's key is newer: ours is evicted on arrival.
            Ok(Slot {
                evicted: Some(s.evicted.map_or(at_ms, |e| e.max(at_ms))),
                ..s
            })
        });
    }

    /// Forgets an admission made at `at_ms` whose record was not committed
    /// (the slot's eviction mark stays).
    pub fn release(&self, key: KeyHash, at_ms: u64) {
        let fp = fingerprint(key);
        let _ = self.update(key, |s| {
            if s.fingerprint != fp || s.at != at_ms {
                return Err(());
            }
            Ok(Slot {
                fingerprint: 0,
                ..s
            })
        });
    }

    /// Changes `key`'s slot to what `change` makes of it, atomically: on a
    /// lost race `change` sees the slot again. Err = leave the slot as it is.
    fn update<E>(
        &self,
        key: KeyHash,
        mut change: impl FnMut(Slot) -> Result<Slot, E>,
    ) -> Result<(), E> {
        let cell = self.slot(key);
        let mut word = cell.load(Acquire);
        loop {
            let new = change(Slot::unpack(word))?;
            match cell.compare_exchange_weak(word, new.pack(), AcqRel, Acquire) {
                Ok(_) => return Ok(()),
                Err(seen) => word = seen,
            }
        }
    }

    /// Keys held, live or not (a scan of the whole table: for tests and
    /// diagnostics, not for a request).
    pub fn len(&self) -> usize {
        self.slots
            .iter()
            .filter(|c| Slot::unpack(c.load(Acquire)).fingerprint != 0)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    fn release_forgets_only_its_own_admission() {
        let w = DuplicateWindow::new(HOUR, 1000);
        let k = key_hash(1, &["x"]);
        assert_eq!(w.check(k, 10), Check::Reserved);
        w.release(k, 11); // not ours
        assert_eq!(w.check(k, 12), Check::Duplicate);
        w.release(k, 10);
        assert_eq!(w.check(k, 13), Check::Reserved);
    }

    /// Two keys that share a slot (same high half, different low half).
    fn colliding_pair() -> (KeyHash, KeyHash) {
        let a = key_hash(1, &["a"]);
        (a, a ^ 0xff)
    }

    #[test]
    fn an_evicted_key_is_asked_of_storage_until_its_time_leaves_the_window() {
        let w = DuplicateWindow::new(HOUR, 1000);
        let (a, b) = colliding_pair();
        assert_eq!(w.check(a, 1_000), Check::Reserved);
        // b takes the slot; a is pushed out while still inside the window.
        assert_eq!(w.check(b, 2_000), Check::Reserved);
        assert_eq!(w.check(b, 2_500), Check::Duplicate);
        assert_eq!(w.check(a, 3_000), Check::AskStorage);
        // Storage knows a: the caller answers 006 and admits nothing.
        // Storage does not know a (say its commit failed): admitted, and b
        // in turn becomes the slot's mark.
        assert!(w.admit(a, 3_000));
        assert_eq!(w.check(a, 3_001), Check::Duplicate);
        assert_eq!(w.check(b, 3_002), Check::AskStorage);
        // Once every evicted time has left the window, misses are trusted.
        assert_eq!(w.check(b, 3_000 + HOUR), Check::Reserved);
    }

    #[test]
    fn an_expired_key_leaves_no_mark() {
        let w = DuplicateWindow::new(HOUR, 1000);
        let (a, b) = colliding_pair();
        assert_eq!(w.check(a, 1_000), Check::Reserved);
        assert_eq!(w.check(b, 1_000 + HOUR), Check::Reserved);
        assert_eq!(w.check(a, 2_000 + HOUR), Check::Reserved);
    }

    #[test]
    fn the_mark_is_read_back_never_earlier_than_the_evicted_time() {
        for (at, evicted) in [(5_000_999, 4_000_001), (10, 9), (7_200_000, 0), (1, 1)] {
            let s = Slot {
                fingerprint: 3,
                at,
                evicted: Some(evicted),
            };
            let back = Slot::unpack(s.pack());
            assert_eq!((back.fingerprint, back.at), (3, at));
            let e = back.evicted.unwrap();
            assert!(e >= evicted && e <= at, "{evicted} read back as {e}");
        }
        let now = 1_795_000_000_000; // 2026, in ms
        let s = Slot {
            fingerprint: u64::MAX,
            at: now,
            evicted: None,
        };
        assert_eq!(Slot::unpack(s.pack()), s);
    }

    #[test]
    fn a_flood_larger_than_the_table_costs_reads_never_a_hole() {
        let w = DuplicateWindow::new(HOUR, 1 << 10); // 2,048 slots
        let keys: Vec<_> = (0..10_000u32)
            .map(|i| key_hash(1, &[&i.to_string()]))
            .collect();
        for (i, k) in keys.iter().enumerate() {
            assert_ne!(w.check(*k, 1_000 + i as u64), Check::Duplicate);
        }
        assert!(w.len() <= 2_048);
        for k in &keys {
            assert_ne!(w.check(*k, 20_000), Check::Reserved, "a hole");
        }
        // Once the evicted times leave the window, misses are trusted again
        // (each admission released, so the next key sees the slot as before).
        let later = 20_000 + HOUR;
        for k in &keys {
            assert_eq!(w.check(*k, later), Check::Reserved);
            w.release(*k, later);
        }
    }

    #[test]
    fn restore_keeps_the_newer_key_and_marks_the_older() {
        let w = DuplicateWindow::new(HOUR, 1000);
        let (a, b) = colliding_pair();
        w.restore(b, 5_000);
        w.restore(a, 4_000); // older: evicted on arrival
        assert_eq!(w.check(b, 6_000), Check::Duplicate);
        assert_eq!(w.check(a, 6_000), Check::AskStorage);
        let k = key_hash(2, &["k"]);
        w.restore(k, 7_000);
        w.restore(k, 6_000);
        assert_eq!(w.check(k, 7_000 + HOUR - 1), Check::Duplicate);
    }

    #[test]
    fn concurrent_posts_admit_exactly_one() {
        use std::sync::{Arc, Barrier};
        for round in 0..200u32 {
            let w = Arc::new(DuplicateWindow::new(HOUR, 1 << 10));
            let k = key_hash(3, &[&round.to_string()]);
            // Half the racers come after a storage lookup, as after an eviction.
            let start = Arc::new(Barrier::new(8));
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (w, start) = (w.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        let admitted = if i % 2 == 0 {
                            w.check(k, 5) == Check::Reserved
                        } else {
                            w.admit(k, 5)
                        };
                        admitted as u32
                    })
                })
                .collect();
            let admitted: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(admitted, 1, "round {round}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_table_is_lock_free_on_x86_64() {
        assert!(DuplicateWindow::is_lock_free());
    }
}
