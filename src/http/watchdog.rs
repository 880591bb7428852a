//! Read deadlines without a runtime timer per read.
//!
//! A socket read timeout in `may` costs, on every read that parks, a node
//! allocated in the runtime's timer list and a lock on its interval map. A
//! keep-alive connection parks once per request, so that was a lock and an
//! allocation per request on every path. Instead, each connection takes a
//! slot here for its lifetime and, around a read, writes its deadline into
//! the slot (one atomic store before, one after). One watchdog thread wakes
//! every [`TICK`], advances a coarse clock the connections read their
//! deadlines from, and shuts the read side of any socket whose deadline has
//! passed: the parked read returns end-of-file, and the connection sees
//! from its slot that the watchdog fired (a timeout, not the client
//! closing). Deadlines are therefore kept to within one tick.
//!
//! A slot's descriptor is only shut down under the slot's lock, which the
//! connection also takes to clear it before its socket closes, so a reused
//! descriptor number is never touched. That lock is taken when a connection
//! opens and closes and by the watchdog for an overdue read, never per
//! request. If every slot is taken, a connection falls back to the
//! runtime's read timeouts.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the watchdog looks; a deadline fires at most this late.
pub const TICK: Duration = Duration::from_millis(20);

struct Slot {
    /// Milliseconds on the watchdog's clock; 0 = not reading.
    deadline: AtomicU64,
    fired: AtomicBool,
    fd: Mutex<Option<RawFd>>,
}

pub struct Watchdog {
    slots: Box<[Slot]>,
    /// One bit per slot, set while taken. A new connection takes the lowest
    /// free slot, so the slots in use stay packed at the low end and a tick
    /// looks only below `high_water` (the most connections open at once so
    /// far), not at every slot `max_connections` allows.
    taken: Box<[AtomicU64]>,
    high_water: AtomicUsize,
    /// Milliseconds since `started`, as of the last tick (starts at 1, so a
    /// deadline is never 0).
    now_ms: AtomicU64,
    started: Instant,
}

/// A connection's slot; cleared and given back when dropped.
pub struct Watch {
    dog: Arc<Watchdog>,
    index: usize,
}

impl Watchdog {
    /// A watchdog for up to `connections` connections at once, and its thread.
    pub fn start(connections: usize) -> std::io::Result<Arc<Watchdog>> {
        let n = connections.max(1);
        let dog = Arc::new(Watchdog {
            slots: (0..n)
                .map(|_| Slot {
                    deadline: AtomicU64::new(0),
                    fired: AtomicBool::new(false),
                    fd: Mutex::new(None),
                })
                .collect(),
            taken: (0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            high_water: AtomicUsize::new(0),
            now_ms: AtomicU64::new(1),
            started: Instant::now(),
        });
        let weak = Arc::downgrade(&dog);
        std::thread::Builder::new()
            .name("dataport-watchdog".into())
            .spawn(move || {
                while let Some(dog) = weak.upgrade() {
                    dog.tick();
                    drop(dog);
                    std::thread::sleep(TICK);
                }
            })?;
        Ok(dog)
    }

    /// A slot for the connection on `fd`; None when all are taken.
    pub fn watch(self: &Arc<Self>, fd: RawFd) -> Option<Watch> {
        let index = self.take_lowest()?;
        self.high_water.fetch_max(index + 1, Ordering::Relaxed);
        let slot = &self.slots[index];
        slot.deadline.store(0, Ordering::Relaxed);
        slot.fired.store(false, Ordering::Relaxed);
        *slot.fd.lock().unwrap_or_else(|p| p.into_inner()) = Some(fd);
        Some(Watch {
            dog: self.clone(),
            index,
        })
    }

    /// Marks the lowest free slot taken (a CAS per word; lock-free).
    fn take_lowest(&self) -> Option<usize> {
        for (w, word) in self.taken.iter().enumerate() {
            let mut bits = word.load(Ordering::Relaxed);
            while bits != u64::MAX {
                let bit = (!bits).trailing_zeros() as usize;
                let index = w * 64 + bit;
                if index >= self.slots.len() {
                    return None;
                }
                match word.compare_exchange_weak(
                    bits,
                    bits | 1 << bit,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Some(index),
                    Err(seen) => bits = seen,
                }
            }
        }
        None
    }

    fn give_back(&self, index: usize) {
        self.taken[index / 64].fetch_and(!(1 << (index % 64)), Ordering::AcqRel);
    }

    /// One look at every slot in use: shut the read side of each overdue
    /// socket.
    fn tick(&self) {
        let now = self.started.elapsed().as_millis() as u64 + 1;
        self.now_ms.store(now, Ordering::Relaxed);
        let in_use = self.high_water.load(Ordering::Relaxed);
        for slot in &self.slots[..in_use] {
            let deadline = slot.deadline.load(Ordering::Acquire);
            if deadline == 0 || deadline > now {
                continue;
            }
            let fd = slot.fd.lock().unwrap_or_else(|p| p.into_inner());
            // Claimed only if it is still the same overdue read: since the
            // load above, that read may have finished (0) or the next one
            // begun (a later deadline).
            let claimed = slot
                .deadline
                .compare_exchange(deadline, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok();
            if let (Some(fd), true) = (*fd, claimed) {
                slot.fired.store(true, Ordering::Release);
                // SAFETY: `fd` is the connection's open socket: the slot's
                // descriptor is cleared under this lock before it closes.
                unsafe { libc::shutdown(fd, libc::SHUT_RD) };
            }
        }
    }
}

impl Watch {
    fn slot(&self) -> &Slot {
        &self.dog.slots[self.index]
    }

    /// A read is about to wait at most `timeout`.
    pub fn arm(&self, timeout: Duration) {
        let now = self.dog.now_ms.load(Ordering::Relaxed);
        // Rounded up to the tick, so a deadline never fires early.
        let deadline = now + timeout.as_millis() as u64 + TICK.as_millis() as u64;
        self.slot().deadline.store(deadline, Ordering::Release);
    }

    /// The read is over.
    pub fn disarm(&self) {
        self.slot().deadline.store(0, Ordering::Release);
    }

    /// Whether the watchdog shut the read side (the end-of-file the read
    /// got is a timeout).
    pub fn fired(&self) -> bool {
        self.slot().fired.load(Ordering::Acquire)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let slot = self.slot();
        slot.deadline.store(0, Ordering::Relaxed);
        *slot.fd.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.dog.give_back(self.index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;

    #[test]
    fn an_overdue_read_ends_and_says_why_a_quick_one_does_not() {
        let dog = Watchdog::start(4).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let watch = dog.watch(server.as_raw_fd()).unwrap();
        watch.arm(Duration::from_millis(100));
        let began = Instant::now();
        let mut buf = [0u8; 8];
        assert_eq!(server.read(&mut buf).unwrap(), 0, "read side shut");
        let waited = began.elapsed();
        assert!(watch.fired());
        assert!(waited >= Duration::from_millis(100), "{waited:?}");
        drop(watch);
        drop(client);
        // A slot comes back clean.
        let again = dog.watch(server.as_raw_fd()).unwrap();
        assert!(!again.fired());
        again.arm(Duration::from_secs(60));
        again.disarm();
        std::thread::sleep(TICK * 3);
        assert!(!again.fired());
    }

    #[test]
    fn slots_run_out_come_back_and_stay_packed_low() {
        let dog = Watchdog::start(130).unwrap();
        let all: Vec<Watch> = (0..130).map(|fd| dog.watch(fd).unwrap()).collect();
        assert!(dog.watch(200).is_none());
        assert_eq!(dog.high_water.load(Ordering::Relaxed), 130);
        drop(all);
        let low: Vec<Watch> = (0..3).map(|fd| dog.watch(fd).unwrap()).collect();
        assert_eq!(low.iter().map(|w| w.index).collect::<Vec<_>>(), [0, 1, 2]);
    }
}
