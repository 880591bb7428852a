//! A one-value channel for a coroutine (or thread) waiting on another
//! thread's answer: the writer's reply to a job it committed.
//! `may::sync::mpsc::channel` would do, but it allocates and initialises a
//! 64-slot queue block for each channel, ~5k instructions per new lead for
//! one value; this is one small allocation, an atomic state and may's
//! `Blocker` (which parks a coroutine or, off a coroutine, a thread).
//!
//! The sender may be dropped without sending (a writer that stopped with
//! the job still queued): the receiver then wakes with `None`.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use may::sync::Blocker;

const EMPTY: u8 = 0;
/// The sender claimed the slot and is writing the value.
const WRITING: u8 = 1;
const FULL: u8 = 2;
/// The sender went away without a value.
const CLOSED: u8 = 3;

struct Slot<T> {
    state: AtomicU8,
    value: UnsafeCell<Option<T>>,
    /// Made on the receiving side, so it parks what `channel` was called on.
    blocker: Blocker,
}

// Safety: `value` is written only by the sender that moved `state` from
// EMPTY to WRITING (one CAS can win), and read only by the receiver after it
// saw FULL with Acquire, which the writer published with Release after its
// write; the two never touch it at once. T crosses threads, hence T: Send.
unsafe impl<T: Send> Sync for Slot<T> {}
unsafe impl<T: Send> Send for Slot<T> {}

/// The sending half: one `send`, from any thread.
pub struct Sender<T>(Arc<Slot<T>>);

/// The receiving half: `recv` parks until the value or the sender's drop.
pub struct Receiver<T>(Arc<Slot<T>>);

/// A channel for one value, to be received by the caller's coroutine or thread.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Slot {
        state: AtomicU8::new(EMPTY),
        value: UnsafeCell::new(None),
        blocker: Blocker::new(true),
    });
    (Sender(slot.clone()), Receiver(slot))
}

impl<T> Sender<T> {
    /// Hands `value` over and wakes the receiver. A second send is ignored
    /// (returns the value back), as is one after the receiver went away.
    pub fn send(&self, value: T) -> Result<(), T> {
        let slot = &*self.0;
        if slot
            .state
            .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(value);
        }
        // Safety: the CAS above made this the only writer; the receiver
        // does not read until it sees FULL.
        unsafe { *slot.value.get() = Some(value) };
        slot.state.store(FULL, Ordering::Release);
        slot.blocker.unpark();
        Ok(())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let slot = &*self.0;
        if slot
            .state
            .compare_exchange(EMPTY, CLOSED, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            slot.blocker.unpark();
        }
    }
}

impl<T> Receiver<T> {
    /// Parks until the value arrives; None if the sender was dropped first.
    pub fn recv(self) -> Option<T> {
        let slot = &*self.0;
        loop {
            match slot.state.load(Ordering::Acquire) {
                // Safety: FULL was stored (Release) after the write, and
                // the sender never touches the value again.
                FULL => return unsafe { (*slot.value.get()).take() },
                CLOSED => return None,
                // An unpark that came before this park makes it return at
                // once; a wake-up without a state change parks again.
                _ => {
                    let _ = slot.blocker.park(None);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_receives_what_another_sends() {
        for _ in 0..2000 {
            let (tx, rx) = channel();
            let t = std::thread::spawn(move || tx.send(String::from("committed")).unwrap());
            assert_eq!(rx.recv().as_deref(), Some("committed"));
            t.join().unwrap();
        }
    }

    #[test]
    fn a_sender_dropped_unsent_wakes_the_receiver_with_none() {
        let (tx, rx) = channel::<u64>();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            drop(tx);
        });
        assert_eq!(rx.recv(), None);
        t.join().unwrap();
    }

    #[test]
    fn only_the_first_send_counts() {
        let (tx, rx) = channel();
        assert_eq!(tx.send(1), Ok(()));
        assert_eq!(tx.send(2), Err(2));
        drop(tx);
        assert_eq!(rx.recv(), Some(1));
    }

    #[test]
    fn a_value_sent_before_anyone_waits_is_not_lost() {
        let (tx, rx) = channel();
        tx.send(vec![7u8; 3]).unwrap();
        assert_eq!(rx.recv(), Some(vec![7, 7, 7]));
    }

    #[test]
    fn coroutines_park_on_it_and_are_woken_from_a_thread() {
        let (jobs_tx, jobs_rx) = std::sync::mpsc::channel::<(u64, Sender<u64>)>();
        let server = std::thread::spawn(move || {
            for (n, reply) in jobs_rx {
                reply.send(n * 2).unwrap();
            }
        });
        let handles: Vec<_> = (0..200u64)
            .map(|i| {
                let jobs = jobs_tx.clone();
                may::go!(move || {
                    let (tx, rx) = channel();
                    jobs.send((i, tx)).unwrap();
                    rx.recv()
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), Some(i as u64 * 2));
        }
        drop(jobs_tx);
        server.join().unwrap();
    }
}
