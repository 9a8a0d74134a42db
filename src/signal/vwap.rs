//! Rolling VWAP, the deviation of the mid from it, and a volume profile
//! (point of control and value area) over the same span.
//!
//! # VWAP and its bands
//! Over the trades `(pᵢ, qᵢ)` of the rolling window of `vwap_window_ms`:
//! `VWAP = Σ qᵢpᵢ / Σ qᵢ` and the volume-weighted standard deviation
//! `σ = √(Σ qᵢ(pᵢ − VWAP)² / Σ qᵢ)` (the "VWAP bands" of Berkowitz, Logue
//! & Noser 1988, "The total cost of transactions on the NYSE", use the
//! same weights). The deviation of the mid is reported in bps of the VWAP
//! and in units of σ. The sums `Σq`, `Σq·d`, `Σq·d²` with `d = p − p₀`
//! (`p₀` the first trade price) are kept as exact integers (`i128`), so the
//! variance numerator `Σq·Σqd² − (Σqd)²` is exact and never cancels
//! catastrophically.
//!
//! # Volume profile
//! Traded volume per price row of `profile_bin_ticks` ticks over the last
//! `profile_slices` time slices of `vwap_window_ms / profile_slices` (the
//! slice in progress included), as in Steidlmayer's Market Profile (CBOT
//! 1984). The point of control (POC) is the row with the most volume
//! (ties: the lowest price). The value area is the central
//! `value_area_fraction` of the volume: from the row holding the
//! `(1 − f)/2` volume quantile (value-area low) to the row holding the
//! `(1 + f)/2` quantile (value-area high), with the targets
//! `⌈V(1 ∓ f)/2⌉` of the window volume `V`. (The CBOT convention instead
//! grows the area outward from the POC one row pair at a time; that is
//! O(width) per query, the quantile form O(log rows), and the two agree
//! for a single-peaked profile up to the row granularity.) Reported
//! prices: the POC row's middle, the low row's lowest price, the high
//! row's highest price.
//!
//! Rows live in a ring of `profile_bins` slots indexed by absolute row
//! number modulo the ring size, with a sum/max segment tree over the slots
//! (O(log rows) per trade and per query). The traded range of one window
//! must span fewer rows than the ring: a trade that would stretch it
//! further is left out of the profile and counted
//! ([`VolumeProfile::dropped`]). Each slice keeps its own per-row volume
//! and the list of rows it touched, so expiring a slice costs one tree
//! update per touched row (each trade's volume leaves once: O(log rows)
//! amortised). Between expiries the POC and the two quantile rows are
//! maintained incrementally — a trade can only raise its own row, and
//! moves each quantile by the rows its volume spans — and are recomputed
//! from the tree when a slice expires.
//!
//! # Invariants
//! - All volumes are integer quantity mantissas; the profile equals the
//!   sum of the trades of its slices exactly.
//! - Every occupied row lies within `[start, start + rows)` (`start` is
//!   the logical first row); rows outside it hold zero.
//! - No allocation after construction.

use crate::fixed::pow10;

use super::window::{Accum, BucketWindow, SlotClock};

/// Per-bucket VWAP sums (prices relative to the first trade price).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VwapSums {
    /// Σ q.
    pub q: i64,
    /// Σ q·d.
    pub qd: i128,
    /// Σ q·d².
    pub qdd: i128,
}

impl Accum for VwapSums {
    #[inline]
    fn add(&mut self, o: &Self) {
        self.q = self.q.wrapping_add(o.q);
        self.qd = self.qd.wrapping_add(o.qd);
        self.qdd = self.qdd.wrapping_add(o.qdd);
    }
    #[inline]
    fn sub(&mut self, o: &Self) {
        self.q = self.q.wrapping_sub(o.q);
        self.qd = self.qd.wrapping_sub(o.qd);
        self.qdd = self.qdd.wrapping_sub(o.qdd);
    }
}

/// Rolling VWAP and its volume-weighted standard deviation.
#[derive(Clone)]
pub struct Vwap {
    window: BucketWindow<VwapSums>,
    window_ms: i64,
    reference: Option<i64>,
    first_ms: Option<i64>,
    /// `(vwap, σ)` of the current window, recomputed when it changes.
    stats: Option<(f64, f64)>,
}

impl Vwap {
    /// A rolling window of `window_ms` in `buckets` buckets.
    #[must_use]
    pub fn new(window_ms: u32, buckets: u32) -> Self {
        Self {
            window: BucketWindow::new(window_ms / buckets.max(1), buckets, 0),
            window_ms: i64::from(window_ms),
            reference: None,
            first_ms: None,
            stats: None,
        }
    }

    /// Marks the start of observation.
    pub fn start(&mut self, now_ms: i64) {
        self.first_ms.get_or_insert(now_ms);
    }

    /// Moves the window to `now_ms`.
    #[inline]
    pub fn advance(&mut self, now_ms: i64) {
        if self.window.advance(now_ms) {
            self.stats = self.compute();
        }
    }

    /// One trade (price and quantity mantissas).
    #[inline]
    pub fn on_trade(&mut self, now_ms: i64, price: i64, qty: i64) {
        self.first_ms.get_or_insert(now_ms);
        let reference = *self.reference.get_or_insert(price);
        let d = i128::from(price) - i128::from(reference);
        let q = i128::from(qty);
        let qd = q.wrapping_mul(d);
        self.window.add(now_ms, &VwapSums { q: qty, qd, qdd: qd.wrapping_mul(d) });
        self.stats = self.compute();
    }

    /// The window's sums.
    #[must_use]
    pub fn sums(&self) -> &VwapSums {
        self.window.recent()
    }

    /// `(vwap, σ)` as price mantissas (fractional), when the window holds
    /// volume.
    #[inline]
    #[must_use]
    pub fn stats(&self) -> Option<(f64, f64)> {
        self.stats
    }

    fn compute(&self) -> Option<(f64, f64)> {
        let s = self.sums();
        let reference = self.reference?;
        if s.q <= 0 {
            return None;
        }
        let q = i128::from(s.q);
        let mean = s.qd as f64 / s.q as f64;
        // q²·variance = Σq·Σqd² − (Σqd)², exact when it fits.
        let var = match q.checked_mul(s.qdd).zip(s.qd.checked_mul(s.qd)).and_then(|(a, b)| a.checked_sub(b)) {
            Some(num) => num as f64 / (s.q as f64 * s.q as f64),
            None => (s.qdd as f64 / s.q as f64 - mean * mean).max(0.0),
        };
        Some((reference as f64 + mean, var.max(0.0).sqrt()))
    }

    /// A full window has passed since the start and it holds volume.
    #[must_use]
    pub fn warm(&self, now_ms: i64) -> bool {
        self.first_ms.is_some_and(|f| now_ms - f >= self.window_ms) && self.sums().q > 0
    }

    /// Writes the VWAP fields given the current mid (price units; 0 when
    /// unknown).
    pub fn fill(&self, snap: &mut super::SignalSnapshot, mid: f64, price_scale: u8) {
        let Some((vwap, sigma)) = self.stats() else {
            snap.vwap = 0.0;
            snap.vwap_dev_bps = 0.0;
            snap.vwap_dev_sigma = 0.0;
            return;
        };
        let unit = pow10(price_scale) as f64;
        let (vwap, sigma) = (vwap / unit, sigma / unit);
        snap.vwap = vwap;
        if mid > 0.0 {
            let dev = mid - vwap;
            snap.vwap_dev_bps = 1e4 * dev / vwap;
            snap.vwap_dev_sigma = if sigma > 0.0 { dev / sigma } else { 0.0 };
        } else {
            snap.vwap_dev_bps = 0.0;
            snap.vwap_dev_sigma = 0.0;
        }
    }
}

/// A segment tree of sums and maxima over `n` (a power of two) slots.
#[derive(Clone)]
struct SumMaxTree {
    n: usize,
    sum: Box<[i64]>,
    max: Box<[i64]>,
}

impl SumMaxTree {
    fn new(n: usize) -> Self {
        Self { n, sum: vec![0; 2 * n].into_boxed_slice(), max: vec![0; 2 * n].into_boxed_slice() }
    }

    #[inline]
    fn leaf(&self, slot: usize) -> i64 {
        self.sum[self.n + slot]
    }

    #[inline]
    fn add(&mut self, slot: usize, delta: i64) {
        let mut i = self.n + slot;
        self.sum[i] = self.sum[i].wrapping_add(delta);
        self.max[i] = self.sum[i];
        i >>= 1;
        while i >= 1 {
            self.sum[i] = self.sum[2 * i].wrapping_add(self.sum[2 * i + 1]);
            self.max[i] = self.max[2 * i].max(self.max[2 * i + 1]);
            i >>= 1;
        }
    }

    fn total(&self) -> i64 {
        self.sum[1]
    }

    /// Σ of slots `[0, end)`.
    fn prefix(&self, end: usize) -> i64 {
        let (mut l, mut r, mut acc) = (self.n, self.n + end, 0i64);
        while l < r {
            if l & 1 == 1 {
                acc = acc.wrapping_add(self.sum[l]);
                l += 1;
            }
            if r & 1 == 1 {
                r -= 1;
                acc = acc.wrapping_add(self.sum[r]);
            }
            l >>= 1;
            r >>= 1;
        }
        acc
    }

    /// The first slot whose inclusive prefix sum reaches `target` (≥ 1,
    /// ≤ total).
    fn find_prefix(&self, target: i64) -> usize {
        let (mut node, mut need) = (1usize, target);
        while node < self.n {
            let left = self.sum[2 * node];
            if left >= need {
                node *= 2;
            } else {
                need -= left;
                node = 2 * node + 1;
            }
        }
        node - self.n
    }

    /// The first slot `≥ from` whose value is at least `value` (> 0).
    fn first_at_least(&self, from: usize, value: i64) -> Option<usize> {
        self.descend(1, 0, self.n, from, value)
    }

    fn descend(&self, node: usize, lo: usize, hi: usize, from: usize, value: i64) -> Option<usize> {
        if hi <= from || self.max[node] < value {
            return None;
        }
        if node >= self.n {
            return Some(lo);
        }
        let mid = (lo + hi) / 2;
        self.descend(2 * node, lo, mid, from, value).or_else(|| self.descend(2 * node + 1, mid, hi, from, value))
    }
}

#[derive(Clone)]
struct Slice {
    index: i64,
    qty: Box<[i64]>,
    touched: Box<[u32]>,
    n_touched: usize,
}

/// The first row (in price order) whose cumulative volume reaches a
/// target, and that cumulative volume.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct QuantileCursor {
    row: i64,
    through: i64,
}

/// Point of control and value area, as absolute row numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileRows {
    /// Row with the most volume (lowest on ties).
    pub poc: i64,
    /// Row holding the low volume quantile.
    pub low: i64,
    /// Row holding the high volume quantile.
    pub high: i64,
}

/// Volume per price row over the last slices. See the module docs.
#[derive(Clone)]
pub struct VolumeProfile {
    row_width: i64,
    tick: i64,
    rows: usize,
    tree: SumMaxTree,
    slices: Box<[Slice]>,
    clock: SlotClock,
    current: Option<i64>,
    start: i64,
    dropped: u64,
    fraction: f64,
    window_ms: i64,
    first_ms: Option<i64>,
    /// POC and value area, kept up to date as the profile changes.
    cached: Option<ProfileRows>,
    /// POC row and its volume.
    poc: (i64, i64),
    /// Cursors of the value-area low and high quantiles.
    low: QuantileCursor,
    high: QuantileCursor,
}

impl VolumeProfile {
    /// A profile over `window_ms` in `slices` slices, with rows of
    /// `bin_ticks` ticks of `tick` and room for `rows` rows (a power of two).
    #[must_use]
    pub fn new(window_ms: u32, slices: u32, tick: i64, bin_ticks: u32, rows: u32, fraction: f64) -> Self {
        let rows = (rows.max(2) as usize).next_power_of_two();
        let slices = slices.max(1);
        let slice = Slice {
            index: i64::MIN,
            qty: vec![0; rows].into_boxed_slice(),
            touched: vec![0; rows].into_boxed_slice(),
            n_touched: 0,
        };
        Self {
            row_width: tick.max(1) * i64::from(bin_ticks.max(1)),
            tick: tick.max(1),
            rows,
            tree: SumMaxTree::new(rows),
            slices: vec![slice; slices as usize].into_boxed_slice(),
            clock: SlotClock::new(i64::from((window_ms / slices).max(1))),
            current: None,
            start: 0,
            dropped: 0,
            fraction,
            window_ms: i64::from(window_ms),
            first_ms: None,
            cached: None,
            poc: (0, 0),
            low: QuantileCursor::default(),
            high: QuantileCursor::default(),
        }
    }

    /// Marks the start of observation.
    pub fn start(&mut self, now_ms: i64) {
        self.first_ms.get_or_insert(now_ms);
    }

    /// Moves to `now_ms`, expiring the slices that left the window.
    #[inline]
    pub fn advance(&mut self, now_ms: i64) {
        let Some(k) = self.clock.update(now_ms) else { return };
        self.current = Some(k);
        let oldest_kept = k - self.slices.len() as i64 + 1;
        let mut expired = false;
        for s in 0..self.slices.len() {
            if self.slices[s].index < oldest_kept && self.slices[s].n_touched > 0 {
                self.expire(s);
                expired = true;
            }
        }
        if expired {
            self.rebuild();
        }
    }

    fn expire(&mut self, s: usize) {
        let slice = &mut self.slices[s];
        for &slot in &slice.touched[..slice.n_touched] {
            let slot = slot as usize;
            self.tree.add(slot, slice.qty[slot].wrapping_neg());
            slice.qty[slot] = 0;
        }
        slice.n_touched = 0;
    }

    /// Absolute row of a price mantissa.
    #[inline]
    #[must_use]
    pub fn row_of(&self, price: i64) -> i64 {
        price.div_euclid(self.row_width)
    }

    #[inline]
    fn slot_of_row(&self, row: i64) -> usize {
        // `rows` is a power of two: masking is the Euclidean remainder.
        (row as u64 & (self.rows as u64 - 1)) as usize
    }

    /// Volume of a row inside the logical range.
    #[inline]
    fn volume_at(&self, row: i64) -> i64 {
        self.tree.leaf(self.slot_of_row(row))
    }

    /// Cumulative volume of the rows up to and including `row`, in price
    /// order (`row` inside the logical range).
    fn through(&self, row: i64) -> i64 {
        let first = self.slot_of_row(self.start);
        let slot = self.slot_of_row(row);
        let before = self.tree.prefix(first);
        if slot >= first {
            self.tree.prefix(slot + 1) - before
        } else {
            self.tree.total() - before + self.tree.prefix(slot + 1)
        }
    }

    /// Moves a cursor to the first row whose cumulative volume reaches
    /// `target`: the quantile moves by at most the rows the change of
    /// volume spans, so this is O(1) amortised per trade.
    #[inline]
    fn seek(&self, mut c: QuantileCursor, target: i64) -> QuantileCursor {
        loop {
            let v = self.volume_at(c.row);
            if c.through - v < target {
                break;
            }
            c.through -= v;
            c.row -= 1;
        }
        while c.through < target {
            c.row += 1;
            c.through += self.volume_at(c.row);
        }
        c
    }

    /// Recomputes POC and cursors from the tree (after slices expired).
    fn rebuild(&mut self) {
        self.cached = self.compute_rows();
        if let Some(r) = self.cached {
            self.poc = (r.poc, self.volume_at(r.poc));
            self.low = QuantileCursor { row: r.low, through: self.through(r.low) };
            self.high = QuantileCursor { row: r.high, through: self.through(r.high) };
        }
    }

    #[inline]
    fn row_of_slot(&self, slot: usize) -> i64 {
        let first = self.slot_of_row(self.start);
        self.start + (slot as i64 - first as i64).rem_euclid(self.rows as i64)
    }

    /// The row holding the `target`-th unit of volume in price order
    /// (1 ≤ target ≤ volume).
    fn quantile_row(&self, target: i64) -> i64 {
        let first = self.slot_of_row(self.start);
        let before = self.tree.prefix(first);
        let upper = self.tree.total().wrapping_sub(before);
        let slot = if target <= upper {
            self.tree.find_prefix(before + target)
        } else {
            self.tree.find_prefix(target - upper)
        };
        self.row_of_slot(slot)
    }

    /// One trade (price and quantity mantissas).
    #[inline]
    pub fn on_trade(&mut self, now_ms: i64, price: i64, qty: i64) {
        self.first_ms.get_or_insert(now_ms);
        self.advance(now_ms);
        if qty <= 0 {
            return;
        }
        let row = self.row_of(price);
        let span = self.rows as i64;
        if self.tree.total() <= 0 {
            self.start = row - span / 2;
        } else if row < self.start || row >= self.start + span {
            let low = self.quantile_row(1).min(row);
            let high = self.quantile_row(self.tree.total()).max(row);
            if high - low >= span {
                self.dropped += 1;
                return;
            }
            self.start = low - (span - 1 - (high - low)) / 2;
        }
        let slot = self.slot_of_row(row);
        let Some(k) = self.current else { return };
        let s = k.rem_euclid(self.slices.len() as i64) as usize;
        let slice = &mut self.slices[s];
        if slice.index != k {
            debug_assert_eq!(slice.n_touched, 0, "slice expired before reuse");
            slice.index = k;
        }
        if slice.qty[slot] == 0 {
            slice.touched[slice.n_touched] = slot as u32;
            slice.n_touched += 1;
        }
        slice.qty[slot] = slice.qty[slot].wrapping_add(qty);
        let was_empty = self.tree.total() <= 0;
        self.tree.add(slot, qty);
        let volume = self.tree.total();
        let (low_target, high_target) = value_area_targets(volume, self.fraction);
        if was_empty {
            self.poc = (row, qty);
            self.low = QuantileCursor { row, through: qty };
            self.high = self.low;
        } else {
            let v = self.tree.leaf(slot);
            if v > self.poc.1 || (v == self.poc.1 && row < self.poc.0) {
                self.poc = (row, v);
            }
            for c in [&mut self.low, &mut self.high] {
                if row <= c.row {
                    c.through += qty;
                }
            }
        }
        self.low = self.seek(self.low, low_target);
        self.high = self.seek(self.high, high_target);
        self.cached = Some(ProfileRows { poc: self.poc.0, low: self.low.row, high: self.high.row });
    }

    /// Volume in the profile, quantity mantissa.
    #[must_use]
    pub fn volume(&self) -> i64 {
        self.tree.total()
    }

    /// Trades left out because the window's range exceeded the rows.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Volume of one absolute row.
    #[must_use]
    pub fn row_volume(&self, row: i64) -> i64 {
        if self.volume() <= 0 || row < self.start || row >= self.start + self.rows as i64 {
            return 0;
        }
        self.tree.leaf(self.slot_of_row(row))
    }

    /// POC and value-area rows, when the profile holds volume.
    #[inline]
    #[must_use]
    pub fn rows(&self) -> Option<ProfileRows> {
        self.cached
    }

    fn compute_rows(&self) -> Option<ProfileRows> {
        let volume = self.volume();
        if volume <= 0 {
            return None;
        }
        let first = self.slot_of_row(self.start);
        let top = self.tree.max[1];
        let poc_slot = self.tree.first_at_least(first, top).or_else(|| self.tree.first_at_least(0, top))?;
        let (low_target, high_target) = value_area_targets(volume, self.fraction);
        Some(ProfileRows {
            poc: self.row_of_slot(poc_slot),
            low: self.quantile_row(low_target),
            high: self.quantile_row(high_target),
        })
    }

    /// A full window has passed since the start and the profile holds volume.
    #[must_use]
    pub fn warm(&self, now_ms: i64) -> bool {
        self.first_ms.is_some_and(|f| now_ms - f >= self.window_ms) && self.volume() > 0
    }

    /// Writes the profile fields (price units).
    pub fn fill(&self, snap: &mut super::SignalSnapshot, price_scale: u8) {
        let unit = pow10(price_scale) as f64;
        match self.rows() {
            Some(r) => {
                let w = self.row_width as f64;
                snap.poc = ((r.poc * self.row_width) as f64 + 0.5 * (w - self.tick as f64)) / unit;
                snap.value_area_low = (r.low * self.row_width) as f64 / unit;
                snap.value_area_high = (r.high * self.row_width + self.row_width - self.tick) as f64 / unit;
            }
            None => {
                snap.poc = 0.0;
                snap.value_area_low = 0.0;
                snap.value_area_high = 0.0;
            }
        }
    }
}

/// `(⌈V(1 − f)/2⌉, ⌈V(1 + f)/2⌉)`, each within `1..=V`.
#[must_use]
pub fn value_area_targets(volume: i64, fraction: f64) -> (i64, i64) {
    let v = volume as f64;
    let low = ((v * (1.0 - fraction) / 2.0).ceil() as i64).clamp(1, volume);
    let high = ((v * (1.0 + fraction) / 2.0).ceil() as i64).clamp(1, volume);
    (low, high)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn vwap_and_sigma() {
        let mut v = Vwap::new(1000, 100);
        assert!(v.stats().is_none(), "empty window");
        v.on_trade(0, 100, 1);
        v.on_trade(10, 110, 3);
        let (vwap, sigma) = v.stats().unwrap();
        assert_eq!(vwap, 107.5);
        // Σq(p − 107.5)² / Σq = (56.25 + 3·6.25)/4 = 18.75.
        assert!((sigma - 18.75f64.sqrt()).abs() < 1e-12);
        let mut snap = crate::signal::SignalSnapshot::default();
        v.fill(&mut snap, 1.1, 2);
        assert_eq!(snap.vwap, 1.075);
        assert!((snap.vwap_dev_bps - 1e4 * (1.1 - 1.075) / 1.075).abs() < 1e-9);
        v.advance(1005);
        assert_eq!(v.sums().q, 3, "the first trade left the window");
        v.advance(2000);
        assert!(v.stats().is_none());
    }

    #[test]
    fn profile_poc_and_value_area() {
        // Rows of 1 tick of 10: row = price / 10.
        let mut p = VolumeProfile::new(1000, 2, 10, 1, 16, 0.7);
        assert!(p.rows().is_none());
        for (px, q) in [(100, 1), (110, 5), (120, 2), (130, 2)] {
            p.on_trade(0, px, q);
        }
        // Volume 10: low target ⌈1.5⌉ = 2 → row 11; high ⌈8.5⌉ = 9 → row 13.
        assert_eq!(p.rows(), Some(ProfileRows { poc: 11, low: 11, high: 13 }));
        let mut snap = crate::signal::SignalSnapshot::default();
        p.fill(&mut snap, 0);
        assert_eq!((snap.poc, snap.value_area_low, snap.value_area_high), (110.0, 110.0, 130.0));
        // Slice 0 expires when slice 2 begins (two slices of 500 ms).
        p.on_trade(600, 130, 1);
        assert_eq!(p.volume(), 11);
        p.advance(1000);
        assert_eq!(p.volume(), 1);
        assert_eq!(p.rows(), Some(ProfileRows { poc: 13, low: 13, high: 13 }));
    }

    #[test]
    fn profile_range_overflow_is_counted() {
        let mut p = VolumeProfile::new(1000, 1, 1, 1, 16, 0.7);
        p.on_trade(0, 100, 1);
        p.on_trade(0, 115, 1); // span 15 < 16: fits after re-centring
        assert_eq!((p.volume(), p.dropped()), (2, 0));
        p.on_trade(0, 116, 1); // span 16: refused
        assert_eq!((p.volume(), p.dropped()), (2, 1));
        assert_eq!(p.rows().map(|r| (r.low, r.high)), Some((100, 115)));
    }

    proptest! {
        /// The profile equals a from-scratch BTreeMap over the trades of the
        /// live slices, with the documented POC and quantile rules.
        #[test]
        fn profile_matches_recomputation(trades in proptest::collection::vec((0i64..300, 0i64..40, 1i64..5), 1..200)) {
            let mut p = VolumeProfile::new(1000, 4, 1, 1, 64, 0.7);
            let mut now = 0;
            let mut seen: Vec<(i64, i64, i64)> = Vec::new();
            let mut drift = 1000i64;
            for (dt, px, q) in trades {
                now += dt;
                drift = (drift + px % 3 - 1).clamp(990, 1010);
                let price = drift + px;
                p.on_trade(now, price, q);
                seen.push((now, price, q));
                prop_assert_eq!(p.dropped(), 0);
                let k = now.div_euclid(250);
                let mut rows: BTreeMap<i64, i64> = BTreeMap::new();
                for &(t, px, q) in &seen {
                    if t.div_euclid(250) > k - 4 {
                        *rows.entry(px).or_default() += q;
                    }
                }
                let volume: i64 = rows.values().sum();
                prop_assert_eq!(p.volume(), volume);
                let max = *rows.values().max().unwrap();
                let poc = *rows.iter().find(|(_, v)| **v == max).unwrap().0;
                let (lt, ht) = value_area_targets(volume, 0.7);
                let quantile = |target: i64| {
                    let mut acc = 0;
                    for (r, v) in &rows {
                        acc += v;
                        if acc >= target { return *r; }
                    }
                    unreachable!()
                };
                prop_assert_eq!(p.rows(), Some(ProfileRows { poc, low: quantile(lt), high: quantile(ht) }));
            }
        }
    }
}
