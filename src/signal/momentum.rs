//! Momentum alignment over two horizons.
//!
//! The mid is sampled on the grid of `sample_ms` (see `series.rs`). With
//! `G` the last complete slot and `L = horizon / sample_ms`, the return
//! over a horizon is that of the *current* mid over the sample `x_{G−L}`
//! (the mid at the end of slot `G − L`, between `horizon` and
//! `horizon + sample_ms` ago), in bps. The two horizons are aligned when
//! both returns exceed `momentum_min_bps` in the same direction:
//! `Some(Buy)` up, `Some(Sell)` down. Time-series momentum across horizons
//! in the sense of Moskowitz, Ooi & Pedersen (2012, "Time series
//! momentum", JFE 104(2)), here at scalping horizons.
//!
//! # Invariants
//! - O(1) amortised per event (two lag cursors on the series), no
//!   allocation after construction.
//! - Nothing is reported until the long horizon has history.

use crate::side::Side;

use super::series::StepSeries;

/// Two-horizon momentum of one instrument.
#[derive(Clone)]
pub struct Momentum {
    series: StepSeries<2>,
    reference: Option<i64>,
    min_bps: f64,
}

impl Momentum {
    /// Horizons of `short_ms` and `long_ms` on a grid of `sample_ms`.
    #[must_use]
    pub fn new(sample_ms: u32, short_ms: u32, long_ms: u32, min_bps: f64) -> Self {
        let sample_ms = sample_ms.max(1);
        Self {
            series: StepSeries::new(sample_ms, [short_ms / sample_ms, long_ms / sample_ms]),
            reference: None,
            min_bps,
        }
    }

    /// Moves time to `now_ms`.
    #[inline]
    pub fn advance(&mut self, now_ms: i64) {
        self.series.advance(now_ms);
    }

    /// One mid observation (`bid + ask` mantissa).
    #[inline]
    pub fn on_mid(&mut self, now_ms: i64, mid2: i64) {
        let reference = *self.reference.get_or_insert(mid2);
        self.series.set(now_ms, mid2.wrapping_sub(reference));
    }

    /// `(short, long)` returns in bps, when the long horizon has history.
    #[must_use]
    pub fn returns(&self) -> Option<(f64, f64)> {
        let reference = self.reference?;
        let current = self.series.current()? + reference;
        let short = self.series.lagged(0)? + reference;
        let long = self.series.lagged(1)? + reference;
        let ret = |past: i64| 1e4 * (current - past) as f64 / past as f64;
        Some((ret(short), ret(long)))
    }

    /// The long horizon has history.
    #[must_use]
    pub fn warm(&self) -> bool {
        self.series.lagged(1).is_some()
    }

    /// Writes the momentum fields.
    pub fn fill(&self, snap: &mut super::SignalSnapshot) {
        let Some((short, long)) = self.returns() else {
            snap.momentum_short_bps = 0.0;
            snap.momentum_long_bps = 0.0;
            snap.momentum_aligned = None;
            return;
        };
        snap.momentum_short_bps = short;
        snap.momentum_long_bps = long;
        let m = self.min_bps;
        snap.momentum_aligned = if short > m && long > m && short > 0.0 && long > 0.0 {
            Some(Side::Buy)
        } else if short < -m && long < -m && short < 0.0 && long < 0.0 {
            Some(Side::Sell)
        } else {
            None
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::SignalSnapshot;

    #[test]
    fn aligned_up_down_and_mixed() {
        // Grid 1 s, horizons 2 s and 5 s.
        let mut m = Momentum::new(1000, 2000, 5000, 1.0);
        let mut snap = SignalSnapshot::default();
        for s in 0..6i64 {
            m.on_mid(s * 1000, 2_000_000 + s * 1000);
        }
        m.fill(&mut snap);
        assert!(!m.warm(), "G = 4, needs x at G − 5");
        assert_eq!(snap.momentum_aligned, None);
        m.advance(7_000);
        // G = 6; x_4 = 2_004_000 (slot 4), x_1 = 2_001_000; current 2_005_000.
        m.fill(&mut snap);
        assert!((snap.momentum_short_bps - 1e4 * 1000.0 / 2_004_000.0).abs() < 1e-9);
        assert!((snap.momentum_long_bps - 1e4 * 4000.0 / 2_001_000.0).abs() < 1e-9);
        assert_eq!(snap.momentum_aligned, Some(Side::Buy));
        m.on_mid(7_001, 1_990_000);
        m.fill(&mut snap);
        assert_eq!(snap.momentum_aligned, Some(Side::Sell));
        m.on_mid(7_002, 2_004_100); // short +0.5 bp (below 1), long up
        m.fill(&mut snap);
        assert_eq!(snap.momentum_aligned, None);
    }
}
