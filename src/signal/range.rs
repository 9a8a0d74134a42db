//! The session's own support and resistance: the recent range of the mid,
//! a clean break of it, the micro-pullback after the break, and the recent
//! swing high and low (structure stops).
//!
//! The master plan's entry stack asks for "a clean break of a recent range
//! high/low (support/resistance from the session's own prices), entry after
//! a micro-pullback". Here that is made exact:
//!
//! # Range
//! The mid is sampled at the end of every `sample_ms` slot (the grid of
//! [`super::series`]). The *range* is the highest and lowest sample over
//! the `range_window_ms` that ends `range_exclude_ms` before the last
//! complete slot: the most recent stretch is left out so that a move in
//! progress does not drag the level it is breaking along with it.
//!
//! # Break
//! A break up starts when the mid is at least `breakout_min_bps` above the
//! range high `H` (a clean break, not a touch): level `H`, extreme = mid.
//! It lasts `breakout_valid_ms`, or until the mid falls back below `H`
//! (a failed break). While it lasts the extreme follows the highest mid.
//! Mirror image for a break down.
//!
//! # Pullback
//! Once the mid has retraced at least `pullback_min_bps` from the extreme
//! while the break still holds, the break has *pulled back*: the entry
//! trigger (`pullback = Some(side)`) until the break ends.
//!
//! # Swing
//! The swing high and low are the highest and lowest sample over the last
//! `swing_window_ms` (no exclusion), and the current mid: where a
//! structure stop goes (below the swing low for a long).
//!
//! # Invariants
//! - Samples are `bid + ask` mantissas; extremes are exact.
//! - Rolling extremes are monotonic deques in fixed rings allocated at
//!   construction: O(1) amortised per grid slot, and a gap in the data
//!   costs at most one pass over the window.

use crate::side::Side;

use super::window::SlotClock;

/// A rolling maximum (or minimum) over the last `window` slots: a
/// monotonic deque in a fixed ring.
#[derive(Debug, Clone)]
pub struct RollingExtreme {
    window: i64,
    max: bool,
    ring: Box<[(i64, i64)]>,
    head: usize,
    len: usize,
}

impl RollingExtreme {
    /// Extremes over `window` slots; `max` picks the maximum.
    #[must_use]
    pub fn new(window: u32, max: bool) -> Self {
        let cap = window.max(1) as usize + 1;
        Self { window: i64::from(window.max(1)), max, ring: vec![(0, 0); cap].into_boxed_slice(), head: 0, len: 0 }
    }

    fn at(&self, k: usize) -> (i64, i64) {
        self.ring[(self.head + k) % self.ring.len()]
    }

    /// Adds the sample of `slot` (slots non-decreasing).
    pub fn push(&mut self, slot: i64, value: i64) {
        while self.len > 0 {
            let (_, back) = self.at(self.len - 1);
            let dominated = if self.max { back <= value } else { back >= value };
            if !dominated {
                break;
            }
            self.len -= 1;
        }
        if self.len == self.ring.len() {
            // Cannot happen with slots inside the window; drop the oldest.
            self.head = (self.head + 1) % self.ring.len();
            self.len -= 1;
        }
        let at = (self.head + self.len) % self.ring.len();
        self.ring[at] = (slot, value);
        self.len += 1;
        self.expire(slot);
    }

    /// Drops samples older than `window` slots before `slot`.
    pub fn expire(&mut self, slot: i64) {
        while self.len > 0 && self.at(0).0 <= slot - self.window {
            self.head = (self.head + 1) % self.ring.len();
            self.len -= 1;
        }
    }

    /// The extreme, if any sample is held.
    #[must_use]
    pub fn value(&self) -> Option<i64> {
        (self.len > 0).then(|| self.at(0).1)
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

/// A break in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Break {
    side: Side,
    level: i64,
    extreme: i64,
    since_ms: i64,
    pulled_back: bool,
}

/// Range, breakout, pullback and swing of one instrument's mid.
#[derive(Debug, Clone)]
pub struct RangeBreak {
    clock: SlotClock,
    exclude: i64,
    window: i64,
    /// The last `exclude` samples, waiting to enter the range (by slot
    /// modulo its length).
    delay: Box<[i64]>,
    high: RollingExtreme,
    low: RollingExtreme,
    swing_high: RollingExtreme,
    swing_low: RollingExtreme,
    min_break_bps: f64,
    valid_ms: i64,
    pullback_bps: f64,
    last_slot: Option<i64>,
    first_slot: Option<i64>,
    mid2: i64,
    state: Option<Break>,
}

/// Settings of [`RangeBreak`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RangeRule {
    /// Grid, ms.
    pub sample_ms: u32,
    /// Range window, ms (a multiple of `sample_ms`).
    pub window_ms: u32,
    /// Most recent span left out of the range, ms (a multiple of `sample_ms`).
    pub exclude_ms: u32,
    /// Swing window, ms (a multiple of `sample_ms`).
    pub swing_ms: u32,
    /// A break must clear the level by this much, bps.
    pub min_break_bps: f64,
    /// A break lasts this long, ms.
    pub valid_ms: u32,
    /// Retrace from the extreme that makes a pullback, bps.
    pub pullback_bps: f64,
}

impl RangeBreak {
    /// A tracker with `rule`; allocates its rings now.
    #[must_use]
    pub fn new(rule: &RangeRule) -> Self {
        let s = rule.sample_ms.max(1);
        let window = rule.window_ms / s;
        let exclude = rule.exclude_ms / s;
        let swing = rule.swing_ms / s;
        Self {
            clock: SlotClock::new(i64::from(s)),
            exclude: i64::from(exclude),
            window: i64::from(window),
            delay: vec![0; (exclude as usize).max(1)].into_boxed_slice(),
            high: RollingExtreme::new(window, true),
            low: RollingExtreme::new(window, false),
            swing_high: RollingExtreme::new(swing, true),
            swing_low: RollingExtreme::new(swing, false),
            min_break_bps: rule.min_break_bps,
            valid_ms: i64::from(rule.valid_ms),
            pullback_bps: rule.pullback_bps,
            last_slot: None,
            first_slot: None,
            mid2: 0,
            state: None,
        }
    }

    /// Completes the slots before `now_ms`'s: each takes the mid held at
    /// its end.
    #[inline]
    pub fn advance(&mut self, now_ms: i64) {
        let Some(slot) = self.clock.update(now_ms) else { return };
        if self.mid2 <= 0 {
            self.last_slot = Some(slot - 1);
            return;
        }
        let from = self.last_slot.map_or(slot - 1, |l| l + 1);
        let gap = slot - from;
        let span = self.window + self.exclude + 1;
        // A gap longer than the whole span: every held sample is stale
        // and the mid held through the gap fills the rings.
        let start = if gap > span { slot - span } else { from };
        if gap > span {
            self.high.clear();
            self.low.clear();
            self.swing_high.clear();
            self.swing_low.clear();
            self.delay.fill(self.mid2);
        }
        for done in start..slot {
            self.complete(done);
        }
        self.last_slot = Some(slot - 1);
    }

    fn complete(&mut self, slot: i64) {
        let v = self.mid2;
        self.first_slot.get_or_insert(slot);
        self.swing_high.push(slot, v);
        self.swing_low.push(slot, v);
        let n = self.delay.len();
        let k = usize::try_from(slot.rem_euclid(n as i64)).unwrap_or(0);
        // The sample `exclude` slots old enters the range now.
        let entering = self.delay[k];
        self.delay[k] = v;
        let old = slot - self.exclude;
        if self.first_slot.is_some_and(|f| old >= f) {
            let value = if self.exclude == 0 { v } else { entering };
            self.high.push(old, value);
            self.low.push(old, value);
        }
    }

    /// One mid observation (`bid + ask` mantissa) at `now_ms`.
    #[inline]
    pub fn on_mid(&mut self, now_ms: i64, mid2: i64) {
        self.advance(now_ms);
        self.mid2 = mid2;
        self.update_break(now_ms);
    }

    fn update_break(&mut self, now_ms: i64) {
        let mid = self.mid2;
        if let Some(b) = &mut self.state {
            let failed = match b.side {
                Side::Buy => mid < b.level,
                Side::Sell => mid > b.level,
            };
            if failed || now_ms - b.since_ms > self.valid_ms {
                self.state = None;
            } else {
                let (better, retrace) = match b.side {
                    Side::Buy => (mid > b.extreme, b.extreme - mid),
                    Side::Sell => (mid < b.extreme, mid - b.extreme),
                };
                if better {
                    b.extreme = mid;
                } else if retrace as f64 >= b.extreme as f64 * self.pullback_bps * 1e-4 {
                    b.pulled_back = true;
                }
                return;
            }
        }
        if !self.warm() {
            return;
        }
        let (Some(h), Some(l)) = (self.high.value(), self.low.value()) else { return };
        let margin = |level: i64| level as f64 * self.min_break_bps * 1e-4;
        if (mid - h) as f64 >= margin(h) && mid > h {
            self.state = Some(Break { side: Side::Buy, level: h, extreme: mid, since_ms: now_ms, pulled_back: false });
        } else if (l - mid) as f64 >= margin(l) && mid < l {
            self.state = Some(Break { side: Side::Sell, level: l, extreme: mid, since_ms: now_ms, pulled_back: false });
        }
    }

    /// The range window is full.
    #[must_use]
    pub fn warm(&self) -> bool {
        match (self.first_slot, self.last_slot) {
            (Some(f), Some(l)) => l - f + 1 >= self.window + self.exclude,
            _ => false,
        }
    }

    /// Writes the range fields (price units via `half_unit` = ½ × one
    /// price mantissa in price units, since samples are `bid + ask`).
    pub fn fill(&self, snap: &mut super::SignalSnapshot, half_unit: f64) {
        let px = |v: Option<i64>| v.map_or(0.0, |v| v as f64 * half_unit);
        if self.warm() {
            snap.range_high = px(self.high.value());
            snap.range_low = px(self.low.value());
        } else {
            snap.range_high = 0.0;
            snap.range_low = 0.0;
        }
        let cur = (self.mid2 > 0).then_some(self.mid2);
        let hi = match (self.swing_high.value(), cur) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let lo = match (self.swing_low.value(), cur) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        snap.swing_high = px(hi);
        snap.swing_low = px(lo);
        snap.breakout = self.state.map(|b| b.side);
        snap.breakout_level = self.state.map_or(0.0, |b| b.level as f64 * half_unit);
        snap.pullback = self.state.filter(|b| b.pulled_back).map(|b| b.side);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::SignalSnapshot;

    fn rule() -> RangeRule {
        // 1 s grid, 10 s range ending 2 s back, 5 s swing, break ≥ 10 bps,
        // valid 5 s, pullback 5 bps.
        RangeRule {
            sample_ms: 1000,
            window_ms: 10_000,
            exclude_ms: 2_000,
            swing_ms: 5_000,
            min_break_bps: 10.0,
            valid_ms: 5_000,
            pullback_bps: 5.0,
        }
    }

    fn snap(r: &RangeBreak) -> SignalSnapshot {
        let mut s = SignalSnapshot::default();
        r.fill(&mut s, 0.5);
        s
    }

    #[test]
    fn rolling_extremes_expire() {
        let mut m = RollingExtreme::new(3, true);
        for (slot, v) in [(0, 5), (1, 3), (2, 4), (3, 1), (4, 2)] {
            m.push(slot, v);
        }
        // Window of 3 slots at slot 4: {4, 1, 2} → 4 (slot 2).
        assert_eq!(m.value(), Some(4));
        m.push(5, 0);
        assert_eq!(m.value(), Some(2));
    }

    /// Mid2 20 000 (mid 10 000) for 12 s fills the range; a break needs
    /// ≥ 10 bps above it.
    fn warmed() -> RangeBreak {
        let mut r = RangeBreak::new(&rule());
        for t in 0..=12 {
            r.on_mid(t * 1000, 20_000 + (t % 3) * 2);
        }
        assert!(r.warm());
        r
    }

    #[test]
    fn break_at_its_threshold_then_pullback_then_failure() {
        let mut r = warmed();
        let h = 20_004; // highest sample of the range
        assert_eq!(snap(&r).range_high, h as f64 * 0.5);
        // 10 bps of 20 004 = 20.004: 20 024 is just below, 20 025 at/above.
        r.on_mid(12_100, 20_024);
        assert_eq!(snap(&r).breakout, None);
        r.on_mid(12_200, 20_025);
        assert_eq!(snap(&r).breakout, Some(Side::Buy));
        r.on_mid(12_300, 20_060); // new extreme
        // Pullback 5 bps of 20 060 = 10.03: a retrace of 10 is below, 11 at.
        r.on_mid(12_400, 20_050);
        assert_eq!(snap(&r).pullback, None);
        r.on_mid(12_500, 20_049);
        let s = snap(&r);
        assert_eq!((s.breakout, s.pullback), (Some(Side::Buy), Some(Side::Buy)));
        assert_eq!(s.breakout_level, h as f64 * 0.5);
        // Back below the level: a failed break.
        r.on_mid(12_600, h - 1);
        assert_eq!(snap(&r).breakout, None);
    }

    #[test]
    fn a_break_expires_and_down_breaks_mirror() {
        let mut r = warmed();
        r.on_mid(12_100, 19_970); // low 20 000: 15 bps below
        assert_eq!(snap(&r).breakout, Some(Side::Sell));
        r.on_mid(17_100, 19_960); // 5 000 ms after: still valid
        assert_eq!(snap(&r).breakout, Some(Side::Sell));
        r.on_mid(17_101, 19_961);
        // 5 001 ms: expired; the range now holds the break's own samples
        // only from 2 s back, and 19 961 is not 10 bps below 19 970.
        assert_ne!(snap(&r).breakout, Some(Side::Sell));
    }

    #[test]
    fn swing_uses_the_recent_window_and_the_current_mid() {
        let mut r = warmed();
        r.on_mid(13_000, 19_990);
        let s = snap(&r);
        assert_eq!(s.swing_low, 19_990.0 * 0.5);
        // Highest of slots 8..=12 (values 20 004 at t = 8, 11) and the mid.
        assert_eq!(s.swing_high, 20_004.0 * 0.5);
    }

    #[test]
    fn not_warm_until_the_range_window_is_full() {
        let mut r = RangeBreak::new(&rule());
        for t in 0..11 {
            r.on_mid(t * 1000, 20_000);
        }
        assert!(!r.warm());
        r.on_mid(99_000, 21_000); // a gap: the held mid fills the rings
        assert!(r.warm());
        assert_eq!(snap(&r).range_high, 10_000.0);
    }
}
