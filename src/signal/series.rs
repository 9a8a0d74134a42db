//! A value sampled on a fixed exchange-time grid, stored by its change
//! points, with exact prefix sums: the regular series under the
//! Ornstein–Uhlenbeck fit, momentum and the variance ratio.
//!
//! # Sampling
//! Time is cut into slots of `slot_ms` (`slot = floor(ts / slot_ms)`). The
//! sample of a slot is the value *at the end* of the slot: the last value
//! set at or before it (previous-tick sampling). The slot holding the
//! current time is open; a slot is complete once time has moved past it.
//! `G` is the last complete slot.
//!
//! # Storage
//! A mid price changes in some slots and not in others, and a silence
//! leaves many identical samples. So the series keeps only its *change
//! points* — the slots whose sample differs from the previous one — each
//! with the prefix sums `Σ x`, `Σ x²` of the samples before it and
//! `Σ r²`, `Σ x·r` (with `r_t = x_t − x_{t−1}`) up to and including it. A
//! sum over any run of slots is then a difference of two prefix sums, each
//! found in O(1) from the change point whose run holds the slot; the sum of
//! the last `n` samples needs the change point at slot `G − n`, which a
//! cursor per lag tracks (cursors only move forward). An event adds at most
//! one change point; cursors and eviction move over each change point once:
//! O(1) amortised per event however long the silence before it.
//!
//! # Invariants
//! - Values and sums are integers (`i64` samples, `i128` sums): windowed
//!   sums are exact, with no drift however long the series runs.
//! - The ring holds every change point from the one under the deepest lag
//!   cursor to the newest: at most `max lag + 2`; its allocated capacity is
//!   that rounded up to a power of two (lookups mask instead of divide).
//! - Slots never go back: callers pass a non-decreasing clock.

use super::window::SlotClock;
#[cfg(test)]
use super::window::slot_of;

#[derive(Debug, Clone, Copy, Default)]
struct ChangePoint {
    slot: i64,
    value: i64,
    /// Σ x_t over t < slot.
    sum_x: i128,
    /// Σ x_t² over t < slot.
    sum_xx: i128,
    /// Σ r_t² over t ≤ slot.
    sum_rr: i128,
    /// Σ x_t r_t over t ≤ slot.
    sum_xr: i128,
}

impl ChangePoint {
    /// Σ x_t over t ≤ `slot` (for `slot` in this change point's run).
    #[inline]
    fn sum_x_through(&self, slot: i64) -> i128 {
        self.sum_x + i128::from(slot - self.slot + 1) * i128::from(self.value)
    }

    #[inline]
    fn sum_xx_through(&self, slot: i64) -> i128 {
        let v = i128::from(self.value);
        self.sum_xx + i128::from(slot - self.slot + 1) * v * v
    }
}

/// Sums over the last `n` complete samples `x_{G−n+1} ..= x_G`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowSums {
    /// Samples in the window.
    pub n: i64,
    /// `x_{G−n}`, the sample just before the window.
    pub before: i64,
    /// `x_G`, the newest complete sample.
    pub last: i64,
    /// Σ x_t.
    pub sum_x: i128,
    /// Σ x_t².
    pub sum_xx: i128,
    /// Σ r_t² with r_t = x_t − x_{t−1}.
    pub sum_rr: i128,
    /// Σ x_t r_t.
    pub sum_xr: i128,
}

/// See the module docs. `L` lags are tracked.
#[derive(Clone)]
pub struct StepSeries<const L: usize> {
    slot_ms: i64,
    lags: [i64; L],
    ring: Box<[ChangePoint]>,
    /// Sequence number of the oldest change point held.
    head: u64,
    len: u64,
    /// Per lag: sequence number of the change point holding slot `G − lag`
    /// (valid when `lag_valid`).
    cursors: [u64; L],
    lag_valid: [bool; L],
    /// The open slot and its current value, once a value was set.
    open: Option<(i64, i64)>,
    clock: SlotClock,
    /// Last complete slot `G`, once one completed.
    last_complete: Option<i64>,
}

impl<const L: usize> StepSeries<L> {
    /// A series on a grid of `slot_ms` that can answer windows of up to
    /// `lags[i]` samples; allocates its ring now.
    #[must_use]
    pub fn new(slot_ms: u32, lags: [u32; L]) -> Self {
        let max_lag = lags.iter().copied().max().unwrap_or(0) as usize;
        Self {
            slot_ms: i64::from(slot_ms.max(1)),
            lags: lags.map(i64::from),
            ring: vec![ChangePoint::default(); (max_lag + 2).next_power_of_two()].into_boxed_slice(),
            head: 0,
            len: 0,
            cursors: [0; L],
            lag_valid: [false; L],
            open: None,
            clock: SlotClock::new(i64::from(slot_ms.max(1))),
            last_complete: None,
        }
    }

    #[inline]
    fn get(&self, seq: u64) -> &ChangePoint {
        // The ring length is a power of two: masking is the remainder.
        &self.ring[(seq & (self.ring.len() as u64 - 1)) as usize]
    }

    /// Slot length, ms.
    #[must_use]
    pub fn slot_ms(&self) -> i64 {
        self.slot_ms
    }

    /// The last complete slot `G`.
    #[inline]
    #[must_use]
    pub fn last_complete(&self) -> Option<i64> {
        self.last_complete
    }

    /// The current (open-slot) value.
    #[inline]
    #[must_use]
    pub fn current(&self) -> Option<i64> {
        self.open.map(|(_, v)| v)
    }

    /// Moves time to `now_ms`, completing the open slot and any silent slots
    /// after it. Returns `true` when `G` changed.
    #[inline]
    pub fn advance(&mut self, now_ms: i64) -> bool {
        let Some((open_slot, value)) = self.open else { return false };
        let Some(slot) = self.clock.update(now_ms) else { return false };
        if slot <= open_slot {
            return false;
        }
        self.complete(open_slot, value);
        self.open = Some((slot, value));
        self.last_complete = Some(slot - 1);
        self.move_cursors(slot - 1);
        true
    }

    /// Sets the current value at `now_ms` (advancing first). Returns `true`
    /// when `G` changed.
    #[inline]
    pub fn set(&mut self, now_ms: i64, value: i64) -> bool {
        let changed = self.advance(now_ms);
        match &mut self.open {
            Some((_, v)) => *v = value,
            None => {
                self.clock.update(now_ms);
                self.open = Some((self.clock.slot(), value));
            }
        }
        changed
    }

    /// Records that slots from `slot` on hold `value` (until the next change).
    fn complete(&mut self, slot: i64, value: i64) {
        let point = if self.len == 0 {
            ChangePoint { slot, value, ..ChangePoint::default() }
        } else {
            let prev = *self.get(self.head + self.len - 1);
            if prev.value == value {
                return;
            }
            let r = i128::from(value) - i128::from(prev.value);
            ChangePoint {
                slot,
                value,
                sum_x: prev.sum_x_through(slot - 1),
                sum_xx: prev.sum_xx_through(slot - 1),
                sum_rr: prev.sum_rr + r * r,
                sum_xr: prev.sum_xr + i128::from(value) * r,
            }
        };
        if self.len == self.ring.len() as u64 {
            // Unreachable (see the invariants); keep going without a panic.
            debug_assert!(false, "step series ring full");
            self.head += 1;
            self.len -= 1;
            for c in &mut self.cursors {
                *c = (*c).max(self.head);
            }
        }
        let at = ((self.head + self.len) & (self.ring.len() as u64 - 1)) as usize;
        self.ring[at] = point;
        self.len += 1;
    }

    fn move_cursors(&mut self, g: i64) {
        let end = self.head + self.len;
        let mut oldest_needed = end.saturating_sub(1);
        for i in 0..L {
            let target = g - self.lags[i];
            let mut c = self.cursors[i].max(self.head);
            if self.get(c).slot > target {
                // The series starts after G − lag: not enough history yet.
                self.lag_valid[i] = false;
                oldest_needed = oldest_needed.min(self.head);
                continue;
            }
            while c + 1 < end && self.get(c + 1).slot <= target {
                c += 1;
            }
            self.cursors[i] = c;
            self.lag_valid[i] = true;
            oldest_needed = oldest_needed.min(c);
        }
        if L > 0 {
            let drop = oldest_needed - self.head;
            self.head += drop;
            self.len -= drop;
        }
    }

    /// Sums over the last `lags[i]` complete samples, when the series
    /// reaches back far enough.
    #[inline]
    #[must_use]
    pub fn window(&self, i: usize) -> Option<WindowSums> {
        let g = self.last_complete?;
        if !self.lag_valid[i] {
            return None;
        }
        let n = self.lags[i];
        let from = *self.get(self.cursors[i]);
        let to = *self.get(self.head + self.len - 1);
        let start = g - n;
        Some(WindowSums {
            n,
            before: from.value,
            last: to.value,
            sum_x: to.sum_x_through(g) - from.sum_x_through(start),
            sum_xx: to.sum_xx_through(g) - from.sum_xx_through(start),
            sum_rr: to.sum_rr - from.sum_rr,
            sum_xr: to.sum_xr - from.sum_xr,
        })
    }

    /// The sample `lags[i]` slots before `G` (`x_{G−lag}`), when known.
    #[inline]
    #[must_use]
    pub fn lagged(&self, i: usize) -> Option<i64> {
        self.last_complete?;
        self.lag_valid[i].then(|| self.get(self.cursors[i]).value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Samples of the complete slots from the event list, the plain way.
    fn samples(events: &[(i64, i64)], slot_ms: i64, g: i64) -> Vec<(i64, i64)> {
        let first = slot_of(events[0].0, slot_ms);
        (first..=g)
            .map(|s| {
                let v = events.iter().rfind(|(t, _)| slot_of(*t, slot_ms) <= s).unwrap().1;
                (s, v)
            })
            .collect()
    }

    #[test]
    fn nothing_before_a_slot_completes() {
        let mut s: StepSeries<1> = StepSeries::new(100, [2]);
        assert!(s.window(0).is_none());
        assert!(!s.set(50, 7));
        assert_eq!(s.last_complete(), None);
        assert_eq!(s.current(), Some(7));
        assert!(s.advance(250)); // slots 0 and 1 complete with 7
        assert_eq!(s.last_complete(), Some(1));
        assert!(s.window(0).is_none(), "G − 2 = −1 precedes the first sample");
        assert!(s.advance(300));
        let w = s.window(0).unwrap();
        assert_eq!((w.n, w.before, w.last, w.sum_x, w.sum_rr), (2, 7, 7, 14, 0));
    }

    proptest! {
        #[test]
        fn windows_match_recomputation(steps in proptest::collection::vec((0i64..400, -3i64..4), 1..200),
                                       slot in 1u32..150, lag_a in 1u32..12, lag_b in 1u32..30) {
            let mut s: StepSeries<2> = StepSeries::new(slot, [lag_a, lag_b]);
            let mut events: Vec<(i64, i64)> = Vec::new();
            let (mut now, mut value) = (1_000i64, 100i64);
            for (dt, dv) in steps {
                now += dt;
                value += dv;
                s.set(now, value);
                events.push((now, value));
                let Some(g) = s.last_complete() else { continue };
                let xs = samples(&events, i64::from(slot), g);
                for (i, lag) in [lag_a, lag_b].into_iter().enumerate() {
                    let n = i64::from(lag);
                    let have = xs.len() as i64 > n;
                    let w = s.window(i);
                    prop_assert_eq!(w.is_some(), have, "lag {} with {} samples", n, xs.len());
                    if let Some(w) = w {
                        let win = &xs[xs.len() - n as usize..];
                        let before = xs[xs.len() - n as usize - 1].1;
                        let mut prev = before;
                        let (mut sx, mut sxx, mut srr, mut sxr) = (0i128, 0i128, 0i128, 0i128);
                        for &(_, x) in win {
                            let r = i128::from(x - prev);
                            sx += i128::from(x);
                            sxx += i128::from(x) * i128::from(x);
                            srr += r * r;
                            sxr += i128::from(x) * r;
                            prev = x;
                        }
                        prop_assert_eq!(w, WindowSums { n, before, last: xs.last().unwrap().1, sum_x: sx, sum_xx: sxx, sum_rr: srr, sum_xr: sxr });
                        prop_assert_eq!(s.lagged(i), Some(before));
                    }
                }
            }
        }
    }
}
