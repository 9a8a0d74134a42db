//! Open interest: its change over a window (15 minutes by default) beside
//! the price change over the same window — the plans' trigger "open
//! interest up with volume and price": rising open interest with a rising
//! price is new longs entering (trend confirmation long), with a falling
//! price new shorts; falling open interest is positions closing, which the
//! plans do not chase.
//!
//! Sources: Bybit v5 `tickers.<symbol>` carries `openInterest` (base
//! units) on every push
//! (<https://bybit-exchange.github.io/docs/v5/websocket/public/ticker>);
//! Binance USDⓈ-M has no open-interest stream: `GET /fapi/v1/openInterest`
//! (<https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Open-Interest>)
//! polled off the hot path and handed to the core
//! ([`crate::core::Core::on_open_interest`]).
//!
//! # Definitions
//! Open interest and the mid are sampled at the end of every
//! `oi_sample_ms` slot (the last value known then: a slow poll holds its
//! value between answers). With `n = oi_window_ms / oi_sample_ms`,
//! `oi_change_pct = 100 · (OI_now − OI_{G−n}) / OI_{G−n}` and
//! `oi_price_change_bps = 10⁴ · (mid_now − mid_{G−n}) / mid_{G−n}`.
//! Warm once a sample `n` slots back held an open interest.
//!
//! # Invariants
//! - Values are mantissas (`i64`); O(1) per event and per slot (a gap
//!   longer than the window refills the ring once), no allocation after
//!   construction.

use super::window::SlotClock;

/// Open-interest change of one instrument.
#[derive(Debug, Clone)]
pub struct OpenInterest {
    clock: SlotClock,
    n: i64,
    /// `(slot, oi, mid2)` by slot modulo the ring length.
    ring: Box<[(i64, i64, i64)]>,
    last_slot: Option<i64>,
    oi: i64,
    mid2: i64,
    qty_unit: f64,
}

impl OpenInterest {
    /// Samples every `sample_ms`, change over `window_ms` (a multiple).
    #[must_use]
    pub fn new(sample_ms: u32, window_ms: u32, qty_scale: u8) -> Self {
        let n = i64::from((window_ms / sample_ms.max(1)).max(1));
        Self {
            clock: SlotClock::new(i64::from(sample_ms.max(1))),
            n,
            ring: vec![(i64::MIN, 0, 0); n as usize + 1].into_boxed_slice(),
            last_slot: None,
            oi: 0,
            mid2: 0,
            qty_unit: 1.0 / crate::fixed::pow10(qty_scale) as f64,
        }
    }

    fn index(&self, slot: i64) -> usize {
        usize::try_from(slot.rem_euclid(self.ring.len() as i64)).unwrap_or(0)
    }

    /// Completes the slots before `now_ms`'s.
    #[inline]
    pub fn advance(&mut self, now_ms: i64) {
        let Some(slot) = self.clock.update(now_ms) else { return };
        let from = self.last_slot.map_or(slot - 1, |l| l + 1);
        let start = from.max(slot - self.ring.len() as i64);
        if self.last_slot.is_some() {
            for done in start..slot {
                let k = self.index(done);
                self.ring[k] = (done, self.oi, self.mid2);
            }
        }
        self.last_slot = Some(slot - 1);
    }

    /// Open interest (quantity mantissa) known at `now_ms`.
    #[inline]
    pub fn on_open_interest(&mut self, now_ms: i64, oi: i64) {
        self.advance(now_ms);
        if oi > 0 {
            self.oi = oi;
        }
    }

    /// A mid observation (`bid + ask` mantissa).
    #[inline]
    pub fn on_mid(&mut self, now_ms: i64, mid2: i64) {
        self.advance(now_ms);
        self.mid2 = mid2;
    }

    /// The sample `n` slots before the last complete one, when it held
    /// an open interest and a mid.
    fn base(&self) -> Option<(i64, i64)> {
        let g = self.last_slot?;
        let then = g - self.n;
        let (slot, oi, mid2) = self.ring[self.index(then)];
        (slot == then && oi > 0 && mid2 > 0).then_some((oi, mid2))
    }

    /// A change over the whole window can be measured.
    #[must_use]
    pub fn warm(&self) -> bool {
        self.oi > 0 && self.base().is_some()
    }

    /// Writes `open_interest`, `oi_change_pct`, `oi_price_change_bps`.
    pub fn fill(&self, snap: &mut super::SignalSnapshot) {
        snap.open_interest = self.oi as f64 * self.qty_unit;
        match self.base() {
            Some((oi, mid2)) if self.oi > 0 && self.mid2 > 0 => {
                snap.oi_change_pct = 100.0 * (self.oi - oi) as f64 / oi as f64;
                snap.oi_price_change_bps = 1e4 * (self.mid2 - mid2) as f64 / mid2 as f64;
            }
            _ => {
                snap.oi_change_pct = 0.0;
                snap.oi_price_change_bps = 0.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::SignalSnapshot;

    fn snap(o: &OpenInterest) -> SignalSnapshot {
        let mut s = SignalSnapshot::default();
        o.fill(&mut s);
        s
    }

    #[test]
    fn change_over_the_window_with_the_price() {
        // 1 s samples, 10 s window, quantity scale 3.
        let mut o = OpenInterest::new(1000, 10_000, 3);
        o.on_mid(0, 20_000);
        o.on_open_interest(0, 1_000_000); // 1000.000
        o.advance(10_500);
        assert!(!o.warm(), "slot 0 is the base only once slot 10 completed");
        o.on_open_interest(10_900, 1_020_000);
        o.on_mid(10_950, 20_010);
        o.advance(11_000);
        assert!(o.warm());
        let s = snap(&o);
        assert!((s.open_interest - 1020.0).abs() < 1e-9);
        assert!((s.oi_change_pct - 2.0).abs() < 1e-12);
        assert!((s.oi_price_change_bps - 5.0).abs() < 1e-9);
    }

    #[test]
    fn a_gap_holds_the_last_values() {
        let mut o = OpenInterest::new(1000, 10_000, 0);
        o.on_mid(0, 100);
        o.on_open_interest(0, 50);
        o.on_mid(100_000, 110);
        assert!(o.warm());
        let s = snap(&o);
        assert_eq!(s.oi_change_pct, 0.0);
        assert!((s.oi_price_change_bps - 1000.0).abs() < 1e-9);
        // No open interest ever: never warm.
        let mut none = OpenInterest::new(1000, 10_000, 0);
        none.on_mid(0, 100);
        none.advance(100_000);
        assert!(!none.warm());
        assert_eq!(snap(&none).open_interest, 0.0);
    }
}
