//! Fixed-capacity rolling windows on the exchange clock, shared by the
//! signal families.
//!
//! - [`BucketWindow`]: sums of an [`Accum`] over the last `recent` time
//!   buckets, optionally also over the `older` buckets before them (the
//!   window before the window, for accelerations). Only non-empty buckets
//!   are stored, oldest first, in a ring allocated at construction with
//!   room for every bucket of the span, so it can never overflow.
//! - [`AlignedHistory`]: totals of the last `H` complete windows aligned to
//!   multiples of the window length (for "last window over the mean of the
//!   previous 20 windows").
//! - [`SlotClock`]: which bucket or grid slot the clock is in, found by
//!   stepping from the previous one (no integer division per event).
//!
//! # Invariants
//! - Times passed in never decrease (the aggregate clamps the clock).
//! - Accumulators are integers, so adding an event and later subtracting
//!   it leaves no rounding residue: a window's total always equals the sum
//!   of its buckets exactly, however long it runs.
//! - Every call is O(1) amortised: each bucket is pushed once, moved from
//!   `recent` to `older` once and evicted once.

/// An additive, subtractable summary of events (integer fields only, so
/// that sliding windows stay exact).
pub trait Accum: Copy + Default {
    /// `self += other`.
    fn add(&mut self, other: &Self);
    /// `self -= other`.
    fn sub(&mut self, other: &Self);
}

impl Accum for i64 {
    #[inline]
    fn add(&mut self, other: &Self) {
        *self += *other;
    }
    #[inline]
    fn sub(&mut self, other: &Self) {
        *self -= *other;
    }
}

/// `floor(ts / unit)` for any sign of `ts`.
#[inline]
#[must_use]
pub fn slot_of(ts_ms: i64, unit_ms: i64) -> i64 {
    ts_ms.div_euclid(unit_ms)
}

/// The slot of a non-decreasing clock on a grid of `unit` ms. When time
/// has moved by fewer than 8 slots (the common case) the new slot is found
/// by stepping, without an integer division.
#[derive(Debug, Clone, Copy)]
pub struct SlotClock {
    unit: i64,
    slot: i64,
    end: i64,
    started: bool,
}

impl SlotClock {
    /// A clock on slots of `unit_ms`.
    #[must_use]
    pub fn new(unit_ms: i64) -> Self {
        Self { unit: unit_ms.max(1), slot: 0, end: i64::MIN, started: false }
    }

    /// Moves to `now_ms`; returns the slot when it changed (and on the
    /// first call).
    #[inline]
    pub fn update(&mut self, now_ms: i64) -> Option<i64> {
        if now_ms < self.end {
            return None;
        }
        let slot = if self.started && now_ms - self.end < 8 * self.unit {
            let (mut slot, mut end) = (self.slot + 1, self.end + self.unit);
            while now_ms >= end {
                slot += 1;
                end += self.unit;
            }
            slot
        } else {
            slot_of(now_ms, self.unit)
        };
        self.started = true;
        self.slot = slot;
        self.end = (slot + 1).saturating_mul(self.unit);
        Some(slot)
    }

    /// The slot of the last update.
    #[inline]
    #[must_use]
    pub fn slot(&self) -> i64 {
        self.slot
    }
}

/// Sums over the last `recent` buckets and the `older` buckets before
/// them. See the module docs.
#[derive(Clone)]
pub struct BucketWindow<A: Accum> {
    bucket_ms: i64,
    recent: i64,
    older: i64,
    ring: Box<[(i64, A)]>,
    head: usize,
    len: usize,
    /// Entries at the front that belong to the older span.
    split: usize,
    recent_total: A,
    older_total: A,
    /// Bucket of the last `advance`.
    clock: SlotClock,
}

impl<A: Accum> BucketWindow<A> {
    /// A window of `recent` buckets of `bucket_ms` (plus `older` buckets
    /// before them); allocates its ring now.
    #[must_use]
    pub fn new(bucket_ms: u32, recent: u32, older: u32) -> Self {
        let cap = (recent as usize + older as usize + 1).max(2);
        Self {
            bucket_ms: i64::from(bucket_ms.max(1)),
            recent: i64::from(recent.max(1)),
            older: i64::from(older),
            ring: vec![(0, A::default()); cap].into_boxed_slice(),
            head: 0,
            len: 0,
            split: 0,
            recent_total: A::default(),
            older_total: A::default(),
            clock: SlotClock::new(i64::from(bucket_ms.max(1))),
        }
    }

    #[inline]
    fn at(&self, i: usize) -> usize {
        let j = self.head + i;
        if j >= self.ring.len() { j - self.ring.len() } else { j }
    }

    /// Moves the window to `now_ms`: buckets leave `recent` for `older`,
    /// and leave `older` altogether, as time passes. Returns `true` when a
    /// total changed.
    #[inline]
    pub fn advance(&mut self, now_ms: i64) -> bool {
        let Some(bucket) = self.clock.update(now_ms) else { return false };
        let mut changed = false;
        let recent_floor = bucket - self.recent;
        while self.split < self.len {
            let (b, a) = self.ring[self.at(self.split)];
            if b > recent_floor {
                break;
            }
            self.recent_total.sub(&a);
            self.older_total.add(&a);
            self.split += 1;
            changed = true;
        }
        let older_floor = recent_floor - self.older;
        while self.split > 0 {
            let (b, a) = self.ring[self.head];
            if b > older_floor {
                break;
            }
            self.older_total.sub(&a);
            self.head = self.at(1);
            self.len -= 1;
            self.split -= 1;
            changed = true;
        }
        changed
    }

    /// Adds `value` at `now_ms` (after advancing to it).
    #[inline]
    pub fn add(&mut self, now_ms: i64, value: &A) {
        self.advance(now_ms);
        self.recent_total.add(value);
        if self.len > self.split {
            let last = self.at(self.len - 1);
            if self.ring[last].0 == self.clock.slot() {
                self.ring[last].1.add(value);
                return;
            }
        }
        if self.len == self.ring.len() {
            // Unreachable: the ring holds one entry per bucket of the span
            // plus one. Drop the oldest rather than panic.
            debug_assert!(false, "bucket window ring full");
            let (_, a) = self.ring[self.head];
            if self.split > 0 {
                self.older_total.sub(&a);
                self.split -= 1;
            } else {
                self.recent_total.sub(&a);
            }
            self.head = self.at(1);
            self.len -= 1;
        }
        let slot = self.at(self.len);
        self.ring[slot] = (self.clock.slot(), *value);
        self.len += 1;
    }

    /// Total over the last `recent` buckets.
    #[inline]
    #[must_use]
    pub fn recent(&self) -> &A {
        &self.recent_total
    }

    /// Total over the `older` buckets before them.
    #[inline]
    #[must_use]
    pub fn older(&self) -> &A {
        &self.older_total
    }

    /// Bucket length, ms.
    #[must_use]
    pub fn bucket_ms(&self) -> i64 {
        self.bucket_ms
    }
}

/// One aligned window's totals: volume and net (buy − sell) flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowTotals {
    /// Traded quantity.
    pub volume: i64,
    /// Taker-buy minus taker-sell quantity.
    pub net: i64,
}

/// Totals of the last `H` complete windows aligned to multiples of the
/// window length on the exchange clock, and of the window in progress.
/// The first (partially observed) window is never counted as complete.
#[derive(Clone)]
pub struct AlignedHistory {
    ring: Box<[FlowTotals]>,
    /// Complete windows recorded, capped at the ring length.
    filled: usize,
    next: usize,
    sum_volume: i64,
    sum_abs_net: i64,
    current: FlowTotals,
    /// Index of the window in progress; `None` before the first event.
    index: Option<i64>,
    first_index: i64,
    clock: SlotClock,
}

impl AlignedHistory {
    /// `windows` complete windows of `window_ms`; allocates now.
    #[must_use]
    pub fn new(window_ms: u32, windows: u32) -> Self {
        Self {
            ring: vec![FlowTotals::default(); windows.max(1) as usize].into_boxed_slice(),
            filled: 0,
            next: 0,
            sum_volume: 0,
            sum_abs_net: 0,
            current: FlowTotals::default(),
            index: None,
            first_index: 0,
            clock: SlotClock::new(i64::from(window_ms.max(1))),
        }
    }

    fn push(&mut self, totals: FlowTotals) {
        let old = self.ring[self.next];
        if self.filled == self.ring.len() {
            self.sum_volume -= old.volume;
            self.sum_abs_net -= old.net.abs();
        } else {
            self.filled += 1;
        }
        self.ring[self.next] = totals;
        self.sum_volume += totals.volume;
        self.sum_abs_net += totals.net.abs();
        self.next = if self.next + 1 == self.ring.len() { 0 } else { self.next + 1 };
    }

    /// Moves to `now_ms`, closing the windows that ended (empty ones
    /// included, at most `H` of them: older ones would fall out anyway).
    #[inline]
    pub fn advance(&mut self, now_ms: i64) {
        let Some(w) = self.clock.update(now_ms) else { return };
        let Some(index) = self.index else {
            self.index = Some(w);
            self.first_index = w;
            return;
        };
        if w <= index {
            return;
        }
        if index > self.first_index {
            self.push(self.current);
        }
        let skipped = (w - index - 1).min(self.ring.len() as i64);
        let first_complete = self.first_index + 1;
        for k in 0..skipped {
            // Window index - the empties are `index + 1 ..= w - 1`; only the
            // last `H` matter. They all lie after the first window.
            let idx = w - skipped + k;
            if idx >= first_complete {
                self.push(FlowTotals::default());
            }
        }
        self.current = FlowTotals::default();
        self.index = Some(w);
    }

    /// Adds a trade to the window in progress (after advancing to `now_ms`).
    #[inline]
    pub fn add(&mut self, now_ms: i64, volume: i64, net: i64) {
        self.advance(now_ms);
        self.current.volume += volume;
        self.current.net += net;
    }

    /// Complete windows recorded (at most `H`).
    #[must_use]
    pub fn complete(&self) -> usize {
        self.filled
    }

    /// `H`.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.ring.len()
    }

    /// Sum of the volumes of the recorded complete windows.
    #[must_use]
    pub fn sum_volume(&self) -> i64 {
        self.sum_volume
    }

    /// Sum of |net flow| of the recorded complete windows.
    #[must_use]
    pub fn sum_abs_net(&self) -> i64 {
        self.sum_abs_net
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_window_is_zero() {
        let mut w: BucketWindow<i64> = BucketWindow::new(10, 100, 0);
        assert_eq!(*w.recent(), 0);
        w.advance(5_000);
        assert_eq!(*w.recent(), 0);
        w.add(5_000, &7);
        assert_eq!(*w.recent(), 7);
        w.advance(5_999);
        assert_eq!(*w.recent(), 7, "bucket 500 is still among the last 100 at bucket 599");
        w.advance(6_000);
        assert_eq!(*w.recent(), 0);
    }

    #[test]
    fn aligned_history_skips_the_first_window_and_counts_empties() {
        let mut h = AlignedHistory::new(1000, 3);
        h.add(1_500, 5, 5); // first (partial) window 1: never complete
        h.add(2_100, 4, -4); // window 2
        assert_eq!(h.complete(), 0);
        h.add(3_000, 2, 2); // window 3; window 2 completes
        assert_eq!((h.complete(), h.sum_volume(), h.sum_abs_net()), (1, 4, 4));
        h.advance(6_000); // windows 3 (2), 4 (0), 5 (0) complete; ring of 3
        assert_eq!((h.complete(), h.sum_volume(), h.sum_abs_net()), (3, 2, 2));
        h.advance(100_000);
        assert_eq!((h.complete(), h.sum_volume(), h.sum_abs_net()), (3, 0, 0));
    }

    proptest! {
        /// Stepping finds the same slot as the division, for small and
        /// large moves and negative times.
        #[test]
        fn slot_clock_matches_division(steps in proptest::collection::vec(0i64..100, 1..200), unit in 1i64..13, start in -500i64..500) {
            let mut clock = SlotClock::new(unit);
            let mut now = start;
            let mut last = None;
            for dt in steps {
                now += if dt > 90 { dt * 37 } else { dt };
                let want = slot_of(now, unit);
                let got = clock.update(now);
                prop_assert_eq!(got, (last != Some(want)).then_some(want));
                prop_assert_eq!(clock.slot(), want);
                last = Some(want);
            }
        }

        /// The window equals a from-scratch sum over the events whose
        /// bucket is in range, after every step.
        #[test]
        fn matches_recomputation(steps in proptest::collection::vec((0i64..40, -5i64..6), 1..300),
                                 bucket in 1u32..7, recent in 1u32..9, older in 0u32..9) {
            let mut w: BucketWindow<i64> = BucketWindow::new(bucket, recent, older);
            let mut events: Vec<(i64, i64)> = Vec::new();
            let mut now = 0i64;
            for (dt, v) in steps {
                now += dt;
                if v == 0 { w.advance(now); } else { w.add(now, &v); events.push((now, v)); }
                let b = slot_of(now, i64::from(bucket));
                let rec: i64 = events.iter().filter(|(t, _)| slot_of(*t, i64::from(bucket)) > b - i64::from(recent)).map(|e| e.1).sum();
                let old: i64 = events.iter().filter(|(t, _)| {
                    let tb = slot_of(*t, i64::from(bucket));
                    tb <= b - i64::from(recent) && tb > b - i64::from(recent) - i64::from(older)
                }).map(|e| e.1).sum();
                prop_assert_eq!(*w.recent(), rec);
                prop_assert_eq!(*w.older(), old);
            }
        }
    }
}
