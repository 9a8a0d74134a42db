//! Average true range of the mid on fixed exchange-time bars.
//!
//! Wilder's average true range (J. W. Wilder, *New Concepts in Technical
//! Trading Systems*, 1978): bars of `atr_bar_ms` aligned to multiples of
//! the bar length on the exchange clock hold the high, low and close of
//! the mid; a bar's true range is `max(high, prev close) − min(low, prev
//! close)` (`high − low` for the first bar). The first average is the mean
//! of the first `atr_period` (N) true ranges; after that
//! `ATR ← (ATR·(N − 1) + TR) / N`.
//!
//! A bar in which the mid never changed (no book event, or the same mid)
//! has the previous close as high, low and close: its true range is 0, so
//! a quiet market lowers the ATR as it should. A gap of `k` empty bars
//! after the first average is applied in closed form
//! (`ATR ← ATR·((N − 1)/N)^k`), so a long silence costs O(1).
//!
//! The plans use the ATR for stop distances (`stop_method = "atr"`) and
//! for the trailing distance (2× ATR in a strong trend, 1× when momentum
//! weakens), see [`crate::strategy::exits`].
//!
//! # Invariants
//! - Highs, lows and closes are `bid + ask` mantissas (`mid2`, integers);
//!   only the average is an `f64`.
//! - O(1) per event, no allocation; time never goes back (the aggregate's
//!   clock).

use super::window::SlotClock;

#[derive(Debug, Clone, Copy)]
struct Bar {
    slot: i64,
    high: i64,
    low: i64,
    close: i64,
}

/// Wilder ATR of one instrument's mid.
#[derive(Debug, Clone)]
pub struct Atr {
    period: u32,
    clock: SlotClock,
    open: Option<Bar>,
    prev_close: Option<i64>,
    /// Completed bars so far (saturating at `period`).
    bars: u32,
    /// Sum of the first true ranges, until `period` bars completed.
    seed: i128,
    /// The average, in `mid2` units, once `period` bars completed.
    atr2: f64,
    last_mid2: i64,
}

impl Atr {
    /// Bars of `bar_ms`, averaged over `period` bars.
    #[must_use]
    pub fn new(bar_ms: u32, period: u32) -> Self {
        Self {
            period: period.max(1),
            clock: SlotClock::new(i64::from(bar_ms.max(1))),
            open: None,
            prev_close: None,
            bars: 0,
            seed: 0,
            atr2: 0.0,
            last_mid2: 0,
        }
    }

    fn close_bar(&mut self, bar: Bar) {
        let (high, low) = match self.prev_close {
            Some(c) => (bar.high.max(c), bar.low.min(c)),
            None => (bar.high, bar.low),
        };
        let tr = high - low;
        self.prev_close = Some(bar.close);
        self.push_range(tr);
    }

    fn push_range(&mut self, tr: i64) {
        let n = f64::from(self.period);
        if self.bars < self.period {
            self.seed += i128::from(tr);
            self.bars += 1;
            if self.bars == self.period {
                self.atr2 = self.seed as f64 / n;
            }
        } else {
            self.atr2 = (self.atr2 * (n - 1.0) + tr as f64) / n;
        }
    }

    /// Moves time to `now_ms`: bars that ended are closed (empty ones
    /// count as true range 0).
    #[inline]
    pub fn advance(&mut self, now_ms: i64) {
        let Some(slot) = self.clock.update(now_ms) else { return };
        let Some(bar) = self.open else { return };
        if slot <= bar.slot {
            return;
        }
        self.open = None;
        self.close_bar(bar);
        // Empty bars between the closed one and the new slot.
        let mut empty = slot - bar.slot - 1;
        while empty > 0 && self.bars < self.period {
            self.push_range(0);
            empty -= 1;
        }
        if empty > 0 {
            let n = f64::from(self.period);
            self.atr2 *= ((n - 1.0) / n).powi(i32::try_from(empty.min(1 << 20)).unwrap_or(1 << 20));
        }
        // The new slot's bar opens at the last close until a mid arrives.
        let c = bar.close;
        self.open = Some(Bar { slot, high: c, low: c, close: c });
    }

    /// One mid observation (`bid + ask` mantissa) at `now_ms` (after
    /// [`Self::advance`] to `now_ms`).
    #[inline]
    pub fn on_mid(&mut self, now_ms: i64, mid2: i64) {
        self.advance(now_ms);
        self.last_mid2 = mid2;
        match &mut self.open {
            Some(bar) => {
                bar.high = bar.high.max(mid2);
                bar.low = bar.low.min(mid2);
                bar.close = mid2;
            }
            None => {
                self.open = Some(Bar { slot: self.clock.slot(), high: mid2, low: mid2, close: mid2 });
            }
        }
    }

    /// `period` bars have completed.
    #[must_use]
    pub fn warm(&self) -> bool {
        self.bars >= self.period
    }

    /// The ATR in `mid2` units (0 until warm).
    #[must_use]
    pub fn value_mid2(&self) -> f64 {
        if self.warm() { self.atr2 } else { 0.0 }
    }

    /// Writes `atr` (price units) and `atr_bps`.
    pub fn fill(&self, snap: &mut super::SignalSnapshot, price_unit: f64) {
        let v = self.value_mid2();
        snap.atr = 0.5 * v * price_unit;
        snap.atr_bps = if self.last_mid2 > 0 { v / self.last_mid2 as f64 * 1e4 } else { 0.0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn true_ranges_seed_then_smooth() {
        // Bars of 1 s, period 3; mid2 values.
        let mut a = Atr::new(1000, 3);
        a.on_mid(0, 100);
        a.on_mid(500, 110); // bar 0: h 110, l 100, c 110 → TR 10
        a.on_mid(1_000, 104); // bar 1: h 104 l 104; prev close 110 → TR 6
        a.on_mid(2_200, 120); // bar 1 closed; bar 2: 120 → TR max(120,104) − min(120,104) = 16
        assert!(!a.warm());
        a.advance(3_000); // bar 2 closed: ATR = (10 + 6 + 16) / 3
        assert!(a.warm());
        assert!((a.value_mid2() - 32.0 / 3.0).abs() < 1e-12);
        // Bar 3 is open at 120; a mid of 90 makes TR 30: ATR = (32/3·2 + 30)/3.
        a.on_mid(3_100, 90);
        a.advance(4_000);
        let want = (32.0 / 3.0 * 2.0 + 30.0) / 3.0;
        assert!((a.value_mid2() - want).abs() < 1e-12);
        // Two empty bars (4, 5) and the bar closed at 6: three TRs of 0.
        a.advance(7_000);
        let want = want * (2.0f64 / 3.0).powi(3);
        assert!((a.value_mid2() - want).abs() < 1e-9, "{} vs {want}", a.value_mid2());
        let mut s = super::super::SignalSnapshot::default();
        a.fill(&mut s, 1.0);
        assert!((s.atr - want / 2.0).abs() < 1e-9);
        assert!((s.atr_bps - want / 90.0 * 1e4).abs() < 1e-6);
    }

    #[test]
    fn nothing_before_the_period_completes() {
        let mut a = Atr::new(1000, 14);
        a.on_mid(0, 100);
        a.advance(13_000);
        assert!(!a.warm());
        assert_eq!(a.value_mid2(), 0.0);
        a.advance(14_000);
        assert!(a.warm());
    }
}
