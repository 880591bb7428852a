//! Lock-free pools of reusable buffers, so the flood paths (duplicates,
//! unknown forms) do not go to the allocator per request: a worker takes a
//! buffer, and whoever is done with it (the same worker, or the writer once
//! the entry it carried is committed) gives it back. A pool is a bounded
//! `crossbeam` array queue: taking from an empty pool makes a new buffer,
//! giving to a full one frees it, and a buffer grown past its limit (a rare
//! big post) is freed rather than kept, so memory stays bounded by
//! `slots × limit`.

use crossbeam_queue::ArrayQueue;

/// A buffer a pool can hold.
pub trait Reusable: Default {
    /// Empties the buffer for its next use; false when it has grown past
    /// what a pool keeps.
    fn reset(&mut self) -> bool;
}

/// Buffers of a pooled `Vec<u8>` are kept up to this capacity.
pub const BYTES_KEPT: usize = 8 * 1024;

impl Reusable for Vec<u8> {
    fn reset(&mut self) -> bool {
        self.clear();
        self.capacity() <= BYTES_KEPT
    }
}

pub struct Pool<T> {
    free: ArrayQueue<T>,
}

impl<T: Reusable> Pool<T> {
    pub fn new(slots: usize) -> Pool<T> {
        Pool {
            free: ArrayQueue::new(slots.max(1)),
        }
    }

    /// A buffer, empty: a pooled one, else a new one.
    pub fn take(&self) -> T {
        self.free.pop().unwrap_or_default()
    }

    /// Returns a buffer for reuse (or frees it: too big, or the pool is full).
    pub fn give(&self, mut item: T) {
        if item.reset() {
            let _ = self.free.push(item);
        }
    }

    /// A buffer that goes back to this pool when dropped.
    pub fn lend(&self) -> Lent<'_, T> {
        Lent {
            pool: self,
            item: Some(self.take()),
        }
    }

    /// Buffers waiting in the pool.
    pub fn idle(&self) -> usize {
        self.free.len()
    }
}

/// A pooled buffer on loan; back to its pool on drop.
pub struct Lent<'p, T: Reusable> {
    pool: &'p Pool<T>,
    item: Option<T>,
}

impl<T: Reusable> std::ops::Deref for Lent<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // Some until drop.
        self.item.as_ref().expect("lent item")
    }
}

impl<T: Reusable> std::ops::DerefMut for Lent<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.item.as_mut().expect("lent item")
    }
}

impl<T: Reusable> Drop for Lent<'_, T> {
    fn drop(&mut self) {
        if let Some(item) = self.item.take() {
            self.pool.give(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_empty_and_big_ones_are_not_kept() {
        let pool: Pool<Vec<u8>> = Pool::new(2);
        let mut a = pool.take();
        a.extend_from_slice(b"hello");
        let cap = a.capacity();
        pool.give(a);
        let b = pool.take();
        assert!(b.is_empty());
        assert_eq!(b.capacity(), cap, "the same buffer, reused");
        pool.give(Vec::with_capacity(BYTES_KEPT + 1));
        assert_eq!(pool.idle(), 0);
        for _ in 0..5 {
            pool.give(Vec::with_capacity(8));
        }
        assert_eq!(pool.idle(), 2, "bounded");
        {
            let mut lent = pool.lend();
            lent.push(1);
            assert_eq!(pool.idle(), 1);
        }
        assert_eq!(pool.idle(), 2);
    }
}
