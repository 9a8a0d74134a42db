//! Liquidation cascades: liquidated notional per side over a rolling
//! window, its acceleration, and a cascade flag with the side being
//! liquidated.
//!
//! Sources: Binance USDⓈ-M `<symbol>@forceOrder` (the liquidation order:
//! `S = SELL` closes a long;
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Liquidation-Order-Streams>)
//! and Bybit v5 `allLiquidation.<symbol>` (`S` is the side of the
//! liquidated position; <https://bybit-exchange.github.io/docs/v5/websocket/public/all-liquidation>),
//! both mapped by the decoders to the *position* side. Binance sends at
//! most one liquidation per symbol per second (the latest), so its window
//! sums undercount bursts; the thresholds are therefore per venue in
//! effect, which the configuration leaves to the profile.
//!
//! # Definitions
//! Over the rolling window of `liquidation_window_ms` (W): `L` = notional
//! (price × quantity, quote currency) of liquidated longs, `S` of shorts,
//! with counts `n_L`, `n_S`. Acceleration = `(L + S)` of the last window
//! minus `(L + S)` of the window before it (quote per window; the second
//! difference of cumulative liquidated notional at lag W).
//!
//! A cascade of side X (longs: `Some(Buy)`, which pushes the price down)
//! starts when `X ≥ cascade_notional`, `n_X ≥ cascade_min_events`,
//! `X ≥ cascade_side_share · (L + S)` and the acceleration is positive; it
//! lasts until `X < cascade_exit_fraction · cascade_notional` (hysteresis),
//! or switches if the other side meets the start conditions. The state is
//! re-evaluated at every event the aggregate sees, since windows empty
//! with time alone.
//!
//! # Invariants
//! - Notionals are exact `i128` sums of price × quantity mantissas; they
//!   become quote units (`f64`) only for the comparisons and the output.
//! - O(1) amortised per event, no allocation after construction.

use crate::fixed::pow10;
use crate::side::Side;

use super::window::{Accum, BucketWindow};

/// Per-bucket liquidation sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiquidationSums {
    /// Notional of liquidated longs (price × qty mantissas).
    pub long_notional: i128,
    /// Notional of liquidated shorts.
    pub short_notional: i128,
    /// Liquidated longs.
    pub long_count: i64,
    /// Liquidated shorts.
    pub short_count: i64,
}

impl Accum for LiquidationSums {
    #[inline]
    fn add(&mut self, o: &Self) {
        self.long_notional = self.long_notional.wrapping_add(o.long_notional);
        self.short_notional = self.short_notional.wrapping_add(o.short_notional);
        self.long_count += o.long_count;
        self.short_count += o.short_count;
    }
    #[inline]
    fn sub(&mut self, o: &Self) {
        self.long_notional = self.long_notional.wrapping_sub(o.long_notional);
        self.short_notional = self.short_notional.wrapping_sub(o.short_notional);
        self.long_count -= o.long_count;
        self.short_count -= o.short_count;
    }
}

/// Cascade thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CascadeRule {
    /// Start threshold, quote units.
    pub notional: f64,
    /// Liquidations of the side needed.
    pub min_events: i64,
    /// Share of the window's notional the side must hold.
    pub side_share: f64,
    /// End below this fraction of `notional`.
    pub exit_fraction: f64,
}

impl CascadeRule {
    /// The next cascade state from the window values (quote units).
    #[must_use]
    pub fn next(
        &self,
        state: Option<Side>,
        long: f64,
        short: f64,
        n_long: i64,
        n_short: i64,
        acceleration: f64,
    ) -> Option<Side> {
        let total = long + short;
        let starts = |x: f64, n: i64| {
            x >= self.notional && n >= self.min_events && x >= self.side_share * total && acceleration > 0.0
        };
        let (long_starts, short_starts) = (starts(long, n_long), starts(short, n_short));
        match state {
            Some(Side::Buy) if short_starts => Some(Side::Sell),
            Some(Side::Sell) if long_starts => Some(Side::Buy),
            Some(Side::Buy) => (long >= self.exit_fraction * self.notional).then_some(Side::Buy),
            Some(Side::Sell) => (short >= self.exit_fraction * self.notional).then_some(Side::Sell),
            None if long_starts => Some(Side::Buy),
            None if short_starts => Some(Side::Sell),
            None => None,
        }
    }
}

/// Liquidation windows and the cascade state of one instrument.
#[derive(Clone)]
pub struct Liquidations {
    window: BucketWindow<LiquidationSums>,
    rule: CascadeRule,
    unit: f64,
    state: Option<Side>,
    /// `(long, short, acceleration)`, recomputed when the windows change.
    values: (f64, f64, f64),
    window_ms: i64,
    first_ms: Option<i64>,
}

impl Liquidations {
    /// A window of `window_ms` in `buckets` buckets (and the one before it),
    /// for notionals at `price_scale + qty_scale` decimals.
    #[must_use]
    pub fn new(window_ms: u32, buckets: u32, rule: CascadeRule, price_scale: u8, qty_scale: u8) -> Self {
        Self {
            window: BucketWindow::new(window_ms / buckets.max(1), buckets, buckets),
            rule,
            unit: pow10(price_scale) as f64 * pow10(qty_scale) as f64,
            state: None,
            values: (0.0, 0.0, 0.0),
            window_ms: i64::from(window_ms),
            first_ms: None,
        }
    }

    /// Marks the start of observation.
    pub fn start(&mut self, now_ms: i64) {
        self.first_ms.get_or_insert(now_ms);
    }

    /// Moves to `now_ms` and re-evaluates the cascade when the windows
    /// changed (the rule gives the same state again on unchanged values).
    #[inline]
    pub fn advance(&mut self, now_ms: i64) {
        if self.window.advance(now_ms) {
            self.evaluate();
        }
    }

    /// One liquidation of a position on `side`.
    #[inline]
    pub fn on_liquidation(&mut self, now_ms: i64, side: Side, price: i64, qty: i64) {
        self.first_ms.get_or_insert(now_ms);
        let notional = i128::from(price).wrapping_mul(i128::from(qty));
        let sums = match side {
            Side::Buy => LiquidationSums { long_notional: notional, long_count: 1, ..LiquidationSums::default() },
            Side::Sell => LiquidationSums { short_notional: notional, short_count: 1, ..LiquidationSums::default() },
        };
        self.window.add(now_ms, &sums);
        self.evaluate();
    }

    /// `(long, short, acceleration)` in quote units.
    #[inline]
    #[must_use]
    pub fn values(&self) -> (f64, f64, f64) {
        self.values
    }

    fn compute(&self) -> (f64, f64, f64) {
        let (r, o) = (self.window.recent(), self.window.older());
        let long = r.long_notional as f64 / self.unit;
        let short = r.short_notional as f64 / self.unit;
        let recent_total = r.long_notional.wrapping_add(r.short_notional);
        let older_total = o.long_notional.wrapping_add(o.short_notional);
        (long, short, recent_total.wrapping_sub(older_total) as f64 / self.unit)
    }

    fn evaluate(&mut self) {
        self.values = self.compute();
        let (long, short, accel) = self.values;
        let r = self.window.recent();
        self.state = self.rule.next(self.state, long, short, r.long_count, r.short_count, accel);
    }

    /// The cascade in progress.
    #[must_use]
    pub fn cascade(&self) -> Option<Side> {
        self.state
    }

    /// Two windows have passed since the start (the acceleration compares
    /// full windows).
    #[must_use]
    pub fn warm(&self, now_ms: i64) -> bool {
        self.first_ms.is_some_and(|f| now_ms - f >= 2 * self.window_ms)
    }

    /// Writes the liquidation fields.
    pub fn fill(&self, snap: &mut super::SignalSnapshot) {
        let (long, short, accel) = self.values();
        snap.liq_long_notional = long;
        snap.liq_short_notional = short;
        snap.liq_acceleration = accel;
        snap.cascade = self.state;
        let per_min = 60_000.0 / self.window_ms.max(1) as f64;
        snap.liq_long_per_min = long * per_min;
        snap.liq_short_per_min = short * per_min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> CascadeRule {
        CascadeRule { notional: 1000.0, min_events: 3, side_share: 0.7, exit_fraction: 0.5 }
    }

    #[test]
    fn cascade_of_longs_starts_holds_and_ends() {
        // Price scale 0, qty scale 0: notional = price × qty. 10 ms buckets.
        let mut liq = Liquidations::new(1000, 100, rule(), 0, 0);
        liq.on_liquidation(0, Side::Buy, 100, 4);
        liq.on_liquidation(10, Side::Buy, 100, 4);
        assert_eq!(liq.cascade(), None, "800 < 1000");
        liq.on_liquidation(20, Side::Buy, 100, 3);
        assert_eq!(liq.cascade(), Some(Side::Buy), "1100 over 3 longs, rising");
        let mut snap = crate::signal::SignalSnapshot::default();
        liq.fill(&mut snap);
        assert_eq!((snap.liq_long_notional, snap.liq_short_notional, snap.liq_acceleration), (1100.0, 0.0, 1100.0));
        // The first two leave the window at 1000 and 1010: 300 < 500 ends it.
        liq.advance(1000);
        assert_eq!(liq.cascade(), Some(Side::Buy), "700 ≥ 500 holds it");
        liq.advance(1010);
        assert_eq!(liq.cascade(), None);
        liq.fill(&mut snap);
        assert_eq!(snap.liq_acceleration, 300.0 - 800.0, "falling");
    }

    #[test]
    fn shorts_and_mixed_windows() {
        let mut liq = Liquidations::new(1000, 10, rule(), 0, 0);
        for t in 0..3 {
            liq.on_liquidation(t, Side::Sell, 500, 1);
        }
        assert_eq!(liq.cascade(), Some(Side::Sell), "1500 over 3 shorts");
        for t in 3..6 {
            liq.on_liquidation(t, Side::Buy, 1000, 2);
        }
        // Longs 6000 of 7500 = 80% ≥ 70%, 3 events: switches side.
        assert_eq!(liq.cascade(), Some(Side::Buy));
        let mut balanced = Liquidations::new(1000, 10, rule(), 0, 0);
        for t in 0..4 {
            balanced.on_liquidation(t, Side::Buy, 1000, 1);
            balanced.on_liquidation(t, Side::Sell, 1000, 1);
        }
        assert_eq!(balanced.cascade(), None, "no side dominates");
    }

    proptest::proptest! {
        /// Re-applying the rule to unchanged values changes nothing, which
        /// is why the cascade is re-evaluated only when the windows change.
        #[test]
        fn the_rule_is_idempotent(long in 0.0f64..3000.0, short in 0.0f64..3000.0, nl in 0i64..6, ns in 0i64..6,
                                  accel in -3000.0f64..3000.0, start in 0u8..3) {
            let state = [None, Some(Side::Buy), Some(Side::Sell)][start as usize];
            let once = rule().next(state, long, short, nl, ns, accel);
            proptest::prop_assert_eq!(rule().next(once, long, short, nl, ns, accel), once);
        }
    }

    #[test]
    fn a_decelerating_window_does_not_start_a_cascade() {
        let mut liq = Liquidations::new(1000, 10, rule(), 0, 0);
        for t in 0..5 {
            liq.on_liquidation(t, Side::Buy, 1000, 1);
        }
        assert_eq!(liq.cascade(), Some(Side::Buy));
        liq.advance(1500);
        // 5000 now in the older window, nothing recent: ended.
        assert_eq!(liq.cascade(), None);
        for t in 1600..1603 {
            liq.on_liquidation(t, Side::Buy, 400, 1);
        }
        // 1200 ≥ 1000 with 3 events, but 1200 − 5000 < 0: not a cascade.
        assert_eq!(liq.cascade(), None);
        assert!(liq.warm(2000));
    }
}
