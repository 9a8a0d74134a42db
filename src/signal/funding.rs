//! Funding bias from the venue's funding rate and next funding time.
//!
//! Sources: Binance USDⓈ-M `<symbol>@markPrice` (`markPriceUpdate`: `r`
//! funding rate, `T` next funding time;
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Mark-Price-Stream>)
//! and Bybit v5 `tickers.<symbol>` (`fundingRate`, `nextFundingTime`; a
//! delta carries only the fields that changed, merged by `MarketState`;
//! <https://bybit-exchange.github.io/docs/v5/websocket/public/ticker>).
//!
//! # Definition
//! A positive rate means longs pay shorts at the funding time, which
//! pushes traders to shed longs before it (and the reverse for a negative
//! rate). The bias is
//!
//! ```text
//! bias = −clamp(rate / funding_rate_scale, −1, 1) · w
//! w    = 1 − (1 − funding_min_weight) · min(ms_to_funding, H) / H
//! ```
//!
//! so it is in [−1, 1], positive when funding favours longs, at full
//! weight at the funding time and at `funding_min_weight` from
//! `H = funding_horizon_ms` before it. `ms_to_funding` is measured on the
//! aggregate's exchange clock and never negative.
//!
//! # Invariants
//! - O(1), no allocation. Zero until the first funding update (`known`).

use crate::fixed::{E8, Rate, pow10};

/// Funding state and parameters.
#[derive(Debug, Clone)]
pub struct FundingBias {
    rate: f64,
    next_ms: i64,
    known: bool,
    horizon_ms: f64,
    min_weight: f64,
    rate_scale: f64,
}

impl FundingBias {
    /// With the configured horizon, floor weight and saturation rate.
    #[must_use]
    pub fn new(horizon_ms: u32, min_weight: f64, rate_scale: f64) -> Self {
        Self { rate: 0.0, next_ms: 0, known: false, horizon_ms: f64::from(horizon_ms.max(1)), min_weight, rate_scale }
    }

    /// A funding update.
    #[inline]
    pub fn on_funding(&mut self, rate: Rate, next_funding_ms: i64) {
        self.rate = rate.0 as f64 / pow10(E8) as f64;
        self.next_ms = next_funding_ms;
        self.known = true;
    }

    /// A funding rate has been seen.
    #[must_use]
    pub fn known(&self) -> bool {
        self.known
    }

    /// `(rate, ms_to_funding, bias)` at `now_ms`.
    #[inline]
    #[must_use]
    pub fn values(&self, now_ms: i64) -> (f64, i64, f64) {
        if !self.known {
            return (0.0, 0, 0.0);
        }
        let ms_to = (self.next_ms - now_ms).max(0);
        let w = 1.0 - (1.0 - self.min_weight) * (ms_to as f64).min(self.horizon_ms) / self.horizon_ms;
        let bias = -(self.rate / self.rate_scale).clamp(-1.0, 1.0) * w;
        (self.rate, ms_to, bias)
    }

    /// Writes the funding fields at `now_ms`.
    pub fn fill(&self, snap: &mut super::SignalSnapshot, now_ms: i64) {
        let (rate, ms_to, bias) = self.values(now_ms);
        snap.funding_rate = rate;
        snap.ms_to_funding = ms_to;
        snap.funding_bias = bias;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bias_sign_weight_and_saturation() {
        let mut f = FundingBias::new(3_600_000, 0.25, 0.0005);
        assert_eq!(f.values(0), (0.0, 0, 0.0), "unknown");
        f.on_funding(Rate(10_000), 10_000_000); // 0.0001: longs pay
        let (rate, ms_to, bias) = f.values(10_000_000 - 7_200_000);
        assert_eq!((rate, ms_to), (0.0001, 7_200_000));
        assert!((bias - (-0.2 * 0.25)).abs() < 1e-15, "far away: floor weight");
        let (_, _, bias) = f.values(10_000_000 - 1_800_000);
        assert!((bias - (-0.2 * 0.625)).abs() < 1e-15, "half-way: {bias}");
        let (_, ms_to, bias) = f.values(10_500_000);
        assert_eq!(ms_to, 0, "past the funding time until the next update");
        assert!((bias + 0.2).abs() < 1e-15);
        f.on_funding(Rate(-200_000), 10_000_000); // −0.002: shorts pay, saturates
        assert_eq!(f.values(10_000_000).2, 1.0);
    }
}
