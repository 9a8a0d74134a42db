//! The measured thread's side: raw clock stamps of one event in a small
//! `Copy` value, pushed whole onto the lossy ring after the last stamp.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::ring::LossyProducer;

/// Raw clock readings of one measured event, in the order they were taken.
///
/// `N` is the most stamps an event carries (a path with `k` consecutive
/// stages needs `k + 1`). `tag` says what the event was, in the path's own
/// terms (a frame's index, an event kind); the collector's attribution
/// reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marks<const N: usize> {
    tag: u32,
    len: u8,
    overflowed: bool,
    stamps: [u64; N],
}

impl<const N: usize> Marks<N> {
    /// A new event whose first stamp is `raw`.
    #[inline(always)]
    #[must_use]
    pub fn start(tag: u32, raw: u64) -> Self {
        const { assert!(N >= 1 && N <= 255, "Marks holds 1 to 255 stamps") };
        let mut stamps = [0; N];
        stamps[0] = raw;
        Self { tag, len: 1, overflowed: false, stamps }
    }

    /// Appends a stamp. A stamp beyond `N` is not kept; the event is then
    /// flagged ([`Marks::overflowed`]) and the collector counts it.
    #[inline(always)]
    pub fn mark(&mut self, raw: u64) {
        match self.stamps.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = raw;
                self.len += 1;
            }
            None => self.overflowed = true,
        }
    }

    /// What the event was (the path's own numbering).
    #[inline]
    #[must_use]
    pub fn tag(&self) -> u32 {
        self.tag
    }

    /// The stamps taken, first to last.
    #[inline]
    #[must_use]
    pub fn stamps(&self) -> &[u64] {
        &self.stamps[..usize::from(self.len)]
    }

    /// More stamps were taken than the event can hold.
    #[inline]
    #[must_use]
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }
}

/// The producer end the measured thread holds: pushes [`Marks`] onto the
/// lossy ring and counts what it pushed, so it can wait (between rounds,
/// outside any measured interval) until the collector has caught up.
pub struct Probe<const N: usize> {
    ring: LossyProducer<Marks<N>>,
    pushed: u64,
    consumed: Arc<CachePadded<AtomicU64>>,
    collector: std::thread::Thread,
}

impl<const N: usize> Probe<N> {
    pub(crate) fn new(
        ring: LossyProducer<Marks<N>>,
        consumed: Arc<CachePadded<AtomicU64>>,
        collector: std::thread::Thread,
    ) -> Self {
        Self { ring, pushed: 0, consumed, collector }
    }

    /// Wakes the collector to drain what was pushed so far (the only wake-up
    /// a [`super::collect::Drain::OnFlush`] collector gets). Call it outside
    /// measured intervals: between rounds.
    pub fn flush(&self) {
        self.collector.unpark();
    }

    /// Hands one event to the collector. `false` when the ring was full:
    /// the event is dropped and counted, never waited for.
    #[inline]
    pub fn record(&mut self, marks: Marks<N>) -> bool {
        let ok = self.ring.push(marks);
        self.pushed += u64::from(ok);
        ok
    }

    /// Events dropped because the ring was full.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.ring.dropped()
    }

    /// Waits until the collector has taken every event pushed so far, or
    /// `timeout` passes; returns whether it caught up. For use between
    /// measured rounds only: it yields the processor while it waits.
    pub fn wait_drained(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.consumed.load(Ordering::Acquire) < self.pushed {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::yield_now();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_keep_stamps_in_order_and_flag_overflow() {
        let mut m = Marks::<3>::start(7, 10);
        m.mark(20);
        assert_eq!((m.tag(), m.stamps(), m.overflowed()), (7, &[10, 20][..], false));
        m.mark(30);
        m.mark(40);
        assert_eq!(m.stamps(), &[10, 20, 30]);
        assert!(m.overflowed());
    }
}
