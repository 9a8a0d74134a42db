//! The rings between the hot thread and the risk and journal threads.
//!
//! Two kinds, both bounded, both over crossbeam's lock-free
//! [`ArrayQueue`](crossbeam_queue::ArrayQueue) (a Vyukov-style bounded queue:
//! <https://docs.rs/crossbeam-queue/latest/crossbeam_queue/struct.ArrayQueue.html>)
//! so that this module contains no `unsafe`:
//!
//! - [`lossless`]: orders, acks, fills and the market facts the risk thread
//!   needs. A push to a full ring hands the value back ([`LosslessProducer::try_push`]);
//!   the hot thread then **waits** for room ([`LosslessProducer::push_spin`])
//!   and counts the stall. It never drops. To keep such a wait rare and short
//!   the ring is sized for the worst burst ([`LOSSLESS_DEFAULT_CAPACITY`]) and the
//!   producer reports congestion ([`LosslessProducer::is_congested`]) above a
//!   high-water mark, at which the pre-trade gate stops admitting new orders
//!   (acks and fills of orders already out still need room). The consumer of
//!   a lossless ring must never block on anything the producer waits for:
//!   the risk thread moves what it cannot forward into its own backlog and
//!   keeps draining.
//! - [`lossy`]: log records and latency samples. A push to a full ring drops
//!   the value and counts it ([`LossyProducer::push`] returns `false`); the
//!   consumer reads the count ([`LossyConsumer::dropped`]) and journals it.
//!
//! Producers and consumers are not `Clone`: each ring has one producer and
//! one consumer thread, which keeps the ownership story simple even though
//! the underlying queue would tolerate more. Counters sit on their own cache
//! lines ([`CachePadded`]) so the consumer reading a count does not
//! invalidate the producer's queue indices.
//!
//! # Invariants
//! - Values leave a ring in the order they entered it (FIFO), each exactly
//!   once (tested under contention in `tests/ring_burst.rs`).
//! - A lossless ring never loses a value: every push either succeeds or
//!   returns the value to the caller.
//! - `dropped()` of a lossy ring equals the number of `push` calls that
//!   returned `false`.
//! - Neither push nor pop allocates (tested with a counting allocator).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;

/// Default capacity of the hot → risk lossless ring.
///
/// Sizing, per the worst burst the venues allow: Binance admits 300 new
/// orders per 10 s, Bybit 10 per second per symbol. Each order produces at
/// most `Submitted`, `Acked`, a close (`Cancelled`/`Expired`/`Rejected`) and
/// its fills; with a generous 60 fills per order, 300 orders are ~19 000
/// events, plus conflated mark prices (the engine sends at most one per
/// symbol per 100 ms: 10 /s/symbol). 65 536 slots hold all of that even if
/// the risk thread is descheduled for a full 10-second window, which it is
/// not expected to be. At ~128 bytes per slot that is 8 MiB, allocated once.
pub const LOSSLESS_DEFAULT_CAPACITY: usize = 1 << 16;

/// Default capacity of the hot → journal lossy ring.
pub const LOSSY_DEFAULT_CAPACITY: usize = 1 << 14;

/// The consumer end of a ring is gone: nothing will ever make room again.
///
/// # Errors
/// Returned by [`LosslessProducer::push_spin`] with the value handed back,
/// so the caller can still account for it (journal it elsewhere, exit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ring consumer disconnected")]
pub struct Disconnected<T>(pub T);

/// Counters shared by both ends of a lossless ring.
#[derive(Debug, Default)]
struct LosslessShared {
    /// Pushes that found the ring full (each was retried, not dropped).
    full: CachePadded<AtomicU64>,
    /// Busy-wait iterations spent waiting for room.
    spins: CachePadded<AtomicU64>,
    /// Set when the consumer is dropped.
    closed: AtomicBool,
}

/// Creates a lossless ring of `capacity` slots (at least 1) whose producer
/// reports congestion once `high_water` slots are used (clamped to
/// `1..=capacity`).
#[must_use]
pub fn lossless<T>(capacity: usize, high_water: usize) -> (LosslessProducer<T>, LosslessConsumer<T>) {
    let capacity = capacity.max(1);
    let queue = Arc::new(ArrayQueue::new(capacity));
    let shared = Arc::new(LosslessShared::default());
    (
        LosslessProducer {
            queue: Arc::clone(&queue),
            shared: Arc::clone(&shared),
            high_water: high_water.clamp(1, capacity),
        },
        LosslessConsumer { queue, shared },
    )
}

/// The sending end of a lossless ring.
pub struct LosslessProducer<T> {
    queue: Arc<ArrayQueue<T>>,
    shared: Arc<LosslessShared>,
    high_water: usize,
}

impl<T> LosslessProducer<T> {
    /// Pushes `value`, or hands it back when the ring is full (the full
    /// event is counted). The caller keeps it; nothing is lost.
    ///
    /// # Errors
    /// `Err(value)` when the ring is full.
    #[inline]
    pub fn try_push(&self, value: T) -> Result<(), T> {
        match self.queue.push(value) {
            Ok(()) => Ok(()),
            Err(value) => {
                self.shared.full.fetch_add(1, Ordering::Relaxed);
                Err(value)
            }
        }
    }

    /// Pushes `value`, busy-waiting while the ring is full. Returns the
    /// number of wait iterations (0 on the fast path). This is the
    /// back-pressure path: the hot thread stops doing anything else until
    /// the consumer makes room, because an order event may not be dropped.
    ///
    /// # Errors
    /// [`Disconnected`] with the value when the consumer is gone (the risk
    /// thread died), so the caller can halt trading instead of spinning
    /// forever.
    #[inline]
    pub fn push_spin(&self, value: T) -> Result<u64, Disconnected<T>> {
        let mut value = match self.try_push(value) {
            Ok(()) => return Ok(0),
            Err(value) => value,
        };
        let mut spins = 0u64;
        loop {
            if self.shared.closed.load(Ordering::Acquire) {
                self.shared.spins.fetch_add(spins, Ordering::Relaxed);
                return Err(Disconnected(value));
            }
            std::hint::spin_loop();
            spins += 1;
            match self.queue.push(value) {
                Ok(()) => {
                    self.shared.spins.fetch_add(spins, Ordering::Relaxed);
                    return Ok(spins);
                }
                Err(back) => value = back,
            }
        }
    }

    /// Slots in use right now (a racy snapshot).
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// `true` when no slot is in use (a racy snapshot).
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// `true` when at least the high-water mark of slots is in use: the gate
    /// should admit no new order until the consumer catches up.
    #[inline]
    #[must_use]
    pub fn is_congested(&self) -> bool {
        self.queue.len() >= self.high_water
    }

    /// The ring's capacity.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.queue.capacity()
    }

    /// `true` once the consumer has been dropped.
    #[must_use]
    pub fn is_disconnected(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Back-pressure counters so far.
    #[must_use]
    pub fn stats(&self) -> LosslessStats {
        LosslessStats {
            full: self.shared.full.load(Ordering::Relaxed),
            spins: self.shared.spins.load(Ordering::Relaxed),
        }
    }
}

/// Back-pressure counters of a lossless ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LosslessStats {
    /// Pushes that found the ring full (and were retried or handed back).
    pub full: u64,
    /// Busy-wait iterations spent in [`LosslessProducer::push_spin`].
    pub spins: u64,
}

/// The receiving end of a lossless ring.
pub struct LosslessConsumer<T> {
    queue: Arc<ArrayQueue<T>>,
    shared: Arc<LosslessShared>,
}

impl<T> LosslessConsumer<T> {
    /// The oldest value, if any.
    #[inline]
    pub fn pop(&self) -> Option<T> {
        self.queue.pop()
    }

    /// Slots in use right now (a racy snapshot).
    #[must_use]
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// `true` when empty (a racy snapshot).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// `true` once the producer has been dropped (values already pushed can
    /// still be popped).
    #[must_use]
    pub fn is_producer_gone(&self) -> bool {
        Arc::strong_count(&self.queue) == 1
    }

    /// Back-pressure counters so far.
    #[must_use]
    pub fn stats(&self) -> LosslessStats {
        LosslessStats {
            full: self.shared.full.load(Ordering::Relaxed),
            spins: self.shared.spins.load(Ordering::Relaxed),
        }
    }
}

impl<T> Drop for LosslessConsumer<T> {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
    }
}

/// Creates a lossy-but-counted ring of `capacity` slots (at least 1).
#[must_use]
pub fn lossy<T>(capacity: usize) -> (LossyProducer<T>, LossyConsumer<T>) {
    let queue = Arc::new(ArrayQueue::new(capacity.max(1)));
    let dropped = Arc::new(CachePadded::new(AtomicU64::new(0)));
    (LossyProducer { queue: Arc::clone(&queue), dropped: Arc::clone(&dropped) }, LossyConsumer { queue, dropped })
}

/// The sending end of a lossy-but-counted ring.
pub struct LossyProducer<T> {
    queue: Arc<ArrayQueue<T>>,
    dropped: Arc<CachePadded<AtomicU64>>,
}

impl<T> LossyProducer<T> {
    /// Pushes `value`; when the ring is full the value is dropped, the drop
    /// is counted and `false` is returned.
    #[inline]
    pub fn push(&self, value: T) -> bool {
        if self.queue.push(value).is_ok() {
            true
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            false
        }
    }

    /// Values dropped so far.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The receiving end of a lossy-but-counted ring.
pub struct LossyConsumer<T> {
    queue: Arc<ArrayQueue<T>>,
    dropped: Arc<CachePadded<AtomicU64>>,
}

impl<T> LossyConsumer<T> {
    /// The oldest value, if any.
    #[inline]
    pub fn pop(&self) -> Option<T> {
        self.queue.pop()
    }

    /// Values the producer dropped so far because the ring was full.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// `true` when empty (a racy snapshot).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// `true` once the producer has been dropped.
    #[must_use]
    pub fn is_producer_gone(&self) -> bool {
        Arc::strong_count(&self.queue) == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossless_full_hands_value_back_and_counts() {
        let (tx, rx) = lossless::<u32>(2, 2);
        assert_eq!(tx.try_push(1), Ok(()));
        assert!(!tx.is_congested());
        assert_eq!(tx.try_push(2), Ok(()));
        assert!(tx.is_congested());
        assert_eq!(tx.try_push(3), Err(3));
        assert_eq!(tx.stats().full, 1);
        assert_eq!(rx.pop(), Some(1));
        assert_eq!(tx.push_spin(3), Ok(0));
        assert_eq!(rx.pop(), Some(2));
        assert_eq!(rx.pop(), Some(3));
        assert_eq!(rx.pop(), None);
    }

    #[test]
    fn high_water_is_clamped_to_capacity() {
        let (tx, _rx) = lossless::<u8>(4, 100);
        for v in 0..3 {
            tx.try_push(v).unwrap();
            assert!(!tx.is_congested(), "congested at {} of 4", v + 1);
        }
        tx.try_push(3).unwrap();
        assert!(tx.is_congested());
    }

    #[test]
    fn push_spin_reports_disconnect_instead_of_spinning_forever() {
        let (tx, rx) = lossless::<u32>(1, 1);
        tx.try_push(7).unwrap();
        drop(rx);
        assert!(tx.is_disconnected());
        assert_eq!(tx.push_spin(8), Err(Disconnected(8)));
    }

    #[test]
    fn producer_gone_is_seen_by_consumer() {
        let (tx, rx) = lossless::<u32>(4, 4);
        tx.try_push(1).unwrap();
        assert!(!rx.is_producer_gone());
        drop(tx);
        assert!(rx.is_producer_gone());
        assert_eq!(rx.pop(), Some(1));
    }

    #[test]
    fn lossy_counts_every_drop() {
        let (tx, rx) = lossy::<u32>(3);
        let accepted = (0..10).filter(|&v| tx.push(v)).count();
        assert_eq!(accepted, 3);
        assert_eq!(tx.dropped(), 7);
        assert_eq!(rx.dropped(), 7);
        assert_eq!(rx.pop(), Some(0));
        assert!(tx.push(99));
        assert_eq!(rx.dropped(), 7);
        assert_eq!([rx.pop(), rx.pop(), rx.pop(), rx.pop()], [Some(1), Some(2), Some(99), None]);
        drop(tx);
        assert!(rx.is_producer_gone());
    }
}
