//! Trade flow: signed taker volume, cumulative volume delta, buy-pressure
//! share, and the volume and net-flow surge ratios.
//!
//! # Definitions
//! With taker-buy volume `B` and taker-sell volume `S` in the rolling
//! window of `trade_window_ms`:
//! - signed volume `B − S` (base units); buy share `B / (B + S)`, and `0.5`
//!   (no pressure either way) when the window holds no trade;
//! - CVD: `Σ (B − S)` over every trade since start (Lee & Ready's trade
//!   sign is not needed: both venues report the aggressor side);
//! - volume surge: `(B + S)` of the rolling window over the mean volume of
//!   the previous `surge_windows` (20) *complete* windows aligned to
//!   multiples of `trade_window_ms` on the exchange clock; net-flow surge
//!   the same with `|B − S|` (the mean of |net flow| per window). Aligned
//!   windows make the denominators exact, O(1), and comparable across
//!   instruments; the first, partially observed window is never used. The
//!   ratios are 0 until 20 complete windows exist or when their mean is 0.
//!
//! # Invariants
//! - Sums are integer quantity mantissas: window totals are exact and
//!   `signed_volume`, `cvd` are exact multiples of the quantity step.
//! - Trades are folded in on their exchange time (`trade_ms`, clamped to
//!   the aggregate's non-decreasing clock). O(1) amortised per trade.

use crate::fixed::pow10;
use crate::side::Side;

use super::window::{Accum, AlignedHistory, BucketWindow};

/// Buy and sell quantity of a bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TradeSums {
    /// Taker-buy quantity.
    pub buy: i64,
    /// Taker-sell quantity.
    pub sell: i64,
}

impl Accum for TradeSums {
    #[inline]
    fn add(&mut self, o: &Self) {
        self.buy = self.buy.wrapping_add(o.buy);
        self.sell = self.sell.wrapping_add(o.sell);
    }
    #[inline]
    fn sub(&mut self, o: &Self) {
        self.buy = self.buy.wrapping_sub(o.buy);
        self.sell = self.sell.wrapping_sub(o.sell);
    }
}

/// Trade-flow state of one instrument.
#[derive(Clone)]
pub struct TradeFlow {
    window: BucketWindow<TradeSums>,
    history: AlignedHistory,
    window_ms: i64,
    cvd: i64,
    first_ms: Option<i64>,
}

impl TradeFlow {
    /// A rolling window of `window_ms` in `buckets` buckets and `surge_windows`
    /// aligned windows of history.
    #[must_use]
    pub fn new(window_ms: u32, buckets: u32, surge_windows: u32) -> Self {
        Self {
            window: BucketWindow::new(window_ms / buckets.max(1), buckets, 0),
            history: AlignedHistory::new(window_ms, surge_windows),
            window_ms: i64::from(window_ms),
            cvd: 0,
            first_ms: None,
        }
    }

    /// Moves the windows to `now_ms`.
    #[inline]
    pub fn advance(&mut self, now_ms: i64) {
        self.window.advance(now_ms);
        self.history.advance(now_ms);
    }

    /// Marks the start of observation (the aggregate's first event), from
    /// which warm-up is measured.
    pub fn start(&mut self, now_ms: i64) {
        self.first_ms.get_or_insert(now_ms);
        self.history.advance(now_ms);
    }

    /// One trade of `qty` with aggressor `taker`.
    #[inline]
    pub fn on_trade(&mut self, now_ms: i64, qty: i64, taker: Side) {
        self.first_ms.get_or_insert(now_ms);
        let sums = match taker {
            Side::Buy => TradeSums { buy: qty, sell: 0 },
            Side::Sell => TradeSums { buy: 0, sell: qty },
        };
        let net = sums.buy.wrapping_sub(sums.sell);
        self.cvd = self.cvd.wrapping_add(net);
        self.window.add(now_ms, &sums);
        self.history.add(now_ms, qty, net);
    }

    /// The rolling window's sums.
    #[must_use]
    pub fn sums(&self) -> &TradeSums {
        self.window.recent()
    }

    /// Cumulative volume delta, quantity mantissa.
    #[must_use]
    pub fn cvd(&self) -> i64 {
        self.cvd
    }

    /// The rolling window has been observed for its full length.
    #[must_use]
    pub fn warm(&self, now_ms: i64) -> bool {
        self.first_ms.is_some_and(|f| now_ms - f >= self.window_ms)
    }

    /// The surge history holds all its complete windows.
    #[must_use]
    pub fn surge_warm(&self) -> bool {
        self.history.complete() == self.history.capacity()
    }

    /// Writes the trade-flow fields.
    pub fn fill(&self, snap: &mut super::SignalSnapshot, qty_scale: u8) {
        let unit = pow10(qty_scale) as f64;
        let s = self.sums();
        let volume = s.buy.wrapping_add(s.sell);
        let net = s.buy.wrapping_sub(s.sell);
        snap.signed_volume = net as f64 / unit;
        snap.cvd = self.cvd as f64 / unit;
        snap.buy_share = if volume > 0 { s.buy as f64 / volume as f64 } else { 0.5 };
        let (surge, net_surge) = if self.surge_warm() {
            let h = self.history.capacity() as f64;
            let mean_volume = self.history.sum_volume() as f64 / h;
            let mean_net = self.history.sum_abs_net() as f64 / h;
            (
                if mean_volume > 0.0 { volume as f64 / mean_volume } else { 0.0 },
                if mean_net > 0.0 { net.unsigned_abs() as f64 / mean_net } else { 0.0 },
            )
        } else {
            (0.0, 0.0)
        };
        snap.volume_surge = surge;
        snap.net_flow_surge = net_surge;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::SignalSnapshot;

    #[test]
    fn window_cvd_share_and_surge() {
        let mut flow = TradeFlow::new(1000, 10, 2);
        let mut snap = SignalSnapshot::default();
        flow.start(500);
        flow.fill(&mut snap, 3);
        assert_eq!((snap.signed_volume, snap.buy_share, snap.volume_surge), (0.0, 0.5, 0.0));
        flow.on_trade(600, 3000, Side::Buy); // window 0 (partial, not counted)
        flow.on_trade(1200, 1000, Side::Buy); // window 1
        flow.on_trade(1300, 3000, Side::Sell);
        flow.on_trade(2500, 2000, Side::Sell); // window 2
        flow.fill(&mut snap, 3);
        assert_eq!(snap.cvd, 3.0 + 1.0 - 3.0 - 2.0);
        assert_eq!(snap.signed_volume, -2.0, "rolling (1500, 2500]: only the 2.0 sell");
        assert_eq!(snap.buy_share, 0.0);
        assert!(!flow.surge_warm(), "one complete window of two");
        flow.on_trade(3100, 6000, Side::Buy); // window 3; window 2 completes
        assert!(flow.surge_warm());
        flow.fill(&mut snap, 3);
        // Rolling (2100, 3100]: sell 2 and buy 6. Previous complete windows:
        // w1 volume 4, |net| 2; w2 volume 2, |net| 2.
        assert_eq!(snap.volume_surge, 8.0 / 3.0);
        assert_eq!(snap.net_flow_surge, 4.0 / 2.0);
        assert!(flow.warm(3100));
    }
}
