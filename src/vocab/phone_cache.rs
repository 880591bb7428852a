//! The cache of phone answers (raw value → normal form, plausible) that
//! floods hit: a fixed direct-mapped table of seqlock slots, shared by every
//! worker without a lock.
//!
//! A reader never waits: it reads a slot's sequence, its words, then the
//! sequence again, and a slot being written (odd sequence) or changed in
//! between is simply a miss. A writer takes a slot by moving its sequence
//! from even to odd with one CAS and gives up (the answer is not cached)
//! if another writer holds it. Every byte is an atomic word, so a torn read
//! is detected, never undefined. Values longer than a slot holds (a raw
//! value past 32 bytes, a normal form past 24) are not cached.

use std::sync::atomic::{fence, AtomicU64, Ordering};

use crate::inline_str::InlineStr;

const RAW_WORDS: usize = 4;
const NORMAL_WORDS: usize = 3;
const RAW_MAX: usize = RAW_WORDS * 8;
const NORMAL_MAX: usize = NORMAL_WORDS * 8;

/// A phone's normal form, held inline when it fits (E.164 is at most 15
/// digits), so a cached answer is copied out without a heap allocation.
pub type PhoneNormal = InlineStr<NORMAL_MAX>;

#[derive(Default)]
struct Slot {
    /// Even: stable; odd: a writer is filling the slot.
    seq: AtomicU64,
    /// raw length | normal length << 8 | plausible << 16; 0 = empty.
    meta: AtomicU64,
    raw: [AtomicU64; RAW_WORDS],
    normal: [AtomicU64; NORMAL_WORDS],
}

pub struct PhoneCache {
    slots: Box<[Slot]>,
    mask: usize,
}

fn words<const N: usize>(s: &str) -> [u64; N] {
    let mut bytes = [[0u8; 8]; N];
    for (i, b) in s.bytes().enumerate() {
        bytes[i / 8][i % 8] = b;
    }
    bytes.map(u64::from_le_bytes)
}

impl PhoneCache {
    /// A table of `slots` entries (rounded up to a power of two), 72 bytes each.
    pub fn new(slots: usize) -> PhoneCache {
        let n = slots.max(1).next_power_of_two();
        PhoneCache {
            slots: (0..n).map(|_| Slot::default()).collect(),
            mask: n - 1,
        }
    }

    fn slot(&self, raw: &str) -> &Slot {
        &self.slots[(xxhash_rust::xxh3::xxh3_64(raw.as_bytes()) as usize) & self.mask]
    }

    /// The cached answer for `raw`, if any.
    pub fn get(&self, raw: &str) -> Option<(PhoneNormal, bool)> {
        if raw.is_empty() || raw.len() > RAW_MAX {
            return None;
        }
        let slot = self.slot(raw);
        let before = slot.seq.load(Ordering::Acquire);
        if before & 1 == 1 {
            return None;
        }
        let meta = slot.meta.load(Ordering::Relaxed);
        let raw_words: [u64; RAW_WORDS] =
            std::array::from_fn(|i| slot.raw[i].load(Ordering::Relaxed));
        let normal_words: [u64; NORMAL_WORDS] =
            std::array::from_fn(|i| slot.normal[i].load(Ordering::Relaxed));
        fence(Ordering::Acquire);
        if slot.seq.load(Ordering::Relaxed) != before {
            return None;
        }
        let (raw_len, normal_len) = ((meta & 0xff) as usize, ((meta >> 8) & 0xff) as usize);
        if raw_len != raw.len() || raw_words != words::<RAW_WORDS>(raw) {
            return None;
        }
        let mut bytes = [0u8; NORMAL_MAX];
        for (i, w) in normal_words.iter().enumerate() {
            bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        // The words were written from a &str; a torn read was refused above.
        let normal = PhoneNormal::new(std::str::from_utf8(bytes.get(..normal_len)?).ok()?);
        Some((normal, meta >> 16 & 1 == 1))
    }

    /// Caches `raw`'s answer, unless the values do not fit or another
    /// writer holds the slot (then the answer is simply not cached).
    pub fn put(&self, raw: &str, normal: &str, plausible: bool) {
        if raw.is_empty() || raw.len() > RAW_MAX || normal.len() > NORMAL_MAX {
            return;
        }
        let slot = self.slot(raw);
        let seq = slot.seq.load(Ordering::Relaxed);
        if seq & 1 == 1
            || slot
                .seq
                .compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        fence(Ordering::Release);
        let meta = raw.len() as u64 | (normal.len() as u64) << 8 | (plausible as u64) << 16;
        slot.meta.store(meta, Ordering::Relaxed);
        for (cell, w) in slot.raw.iter().zip(words::<RAW_WORDS>(raw)) {
            cell.store(w, Ordering::Relaxed);
        }
        for (cell, w) in slot.normal.iter().zip(words::<NORMAL_WORDS>(normal)) {
            cell.store(w, Ordering::Relaxed);
        }
        slot.seq.store(seq + 2, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip_and_other_values_miss() {
        let c = PhoneCache::new(64);
        assert_eq!(c.get("0501234567"), None);
        c.put("0501234567", "972501234567", true);
        c.put("12", "12", false);
        let (n, ok) = c.get("0501234567").unwrap();
        assert_eq!((n.as_str(), ok), ("972501234567", true));
        let (n, ok) = c.get("12").unwrap();
        assert_eq!((n.as_str(), ok), ("12", false));
        assert_eq!(c.get("0501234568"), None);
        assert_eq!(c.get("050123456"), None);
    }

    #[test]
    fn a_slot_keeps_the_last_value_that_landed_on_it() {
        let c = PhoneCache::new(1);
        c.put("111", "111", false);
        c.put("+44 20 7946 0000", "442079460000", true);
        assert_eq!(c.get("111"), None);
        assert_eq!(
            c.get("+44 20 7946 0000").unwrap().0.as_str(),
            "442079460000"
        );
    }

    #[test]
    fn values_too_long_for_a_slot_are_not_cached() {
        let c = PhoneCache::new(8);
        let long_raw = "1".repeat(RAW_MAX + 1);
        c.put(&long_raw, "1", false);
        assert_eq!(c.get(&long_raw), None);
        let long_normal = "2".repeat(NORMAL_MAX + 1);
        c.put("2", &long_normal, false);
        assert_eq!(c.get("2"), None);
        assert_eq!(PhoneNormal::new(&long_normal).as_str(), long_normal);
        assert_eq!(PhoneNormal::new("+ü").as_str(), "+ü");
    }

    /// Writers on a few slots and readers of them at once: a reader gets a
    /// value some writer wrote whole for that raw value, or a miss, never a
    /// mix of two.
    #[test]
    fn concurrent_readers_never_see_a_torn_answer() {
        use std::sync::Arc;
        let c = Arc::new(PhoneCache::new(2));
        let values: Arc<Vec<(String, String)>> = Arc::new(
            (0..8)
                .map(|i| {
                    (
                        format!("05{i}{i}{i}{i}{i}"),
                        format!("97250{i}{i}{i}{i}{i}{i}{i}"),
                    )
                })
                .collect(),
        );
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (c, values) = (c.clone(), values.clone());
                std::thread::spawn(move || {
                    let mut hits = 0u32;
                    for n in 0..50_000usize {
                        let (raw, normal) = &values[(n * 7 + t) % values.len()];
                        if t % 2 == 0 {
                            c.put(raw, normal, n % 2 == 0);
                        } else if let Some((got, _)) = c.get(raw) {
                            assert_eq!(got.as_str(), normal);
                            hits += 1;
                        }
                    }
                    hits
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}
