//! Order flow imbalance at the best level and over the top K levels.
//!
//! # Definition
//! Cont, Kukanov & Stoikov (2014), "The Price Impact of Order Book
//! Events", Journal of Financial Econometrics 12(1), eq. (2): between two
//! consecutive book states `n−1` and `n` with best bid `(Pᵇ, qᵇ)` and best
//! ask `(Pᵃ, qᵃ)`,
//!
//! ```text
//! e_n = qᵇ_n·1{Pᵇ_n ≥ Pᵇ_{n−1}} − qᵇ_{n−1}·1{Pᵇ_n ≤ Pᵇ_{n−1}}
//!     − qᵃ_n·1{Pᵃ_n ≤ Pᵃ_{n−1}} + qᵃ_{n−1}·1{Pᵃ_n ≥ Pᵃ_{n−1}}
//! ```
//!
//! and OFI over a window is `Σ e_n`. CKS regress price changes on OFI
//! divided by the average depth at the best quotes; this module reports
//! exactly that ratio: `ofi = Σ e_n / D̄` with `D̄` the mean of
//! `(qᵇ + qᵃ)/2` over the book observations in the window.
//!
//! The multi-level extension (Xu, Gould & Howison 2019, "Multi-level
//! order-flow imbalance in a limit order book", Market Microstructure and
//! Liquidity 4) applies the same formula to the m-th best level of each
//! side, `e_{m,n}`, for m = 1..K. Their regressions keep the K series
//! separate; for a single number this module weights the levels equally
//! (the integrated-OFI idea of Cont, Cucuringu & Zhang 2023 with uniform
//! weights instead of fitted ones): `ofi_multi = Σ_n Σ_m e_{m,n} / D̄_K`,
//! `D̄_K` the mean over observations of `Σ_{m≤K} (qᵇ_m + qᵃ_m)/2`. Level 1
//! alone gives back `ofi`.
//!
//! # How book updates feed it
//! An "event" is one applied depth frame (or snapshot) of the synced book:
//! the aggregate keeps the previous [`TopOfBook`] (a fixed array) and diffs
//! it against the new one. A venue frame may carry several book changes;
//! their net effect on the top K is what is measured (the same coarsening
//! CKS accept for 10 s intervals built from TAQ quotes). After a resync the
//! first book is a *baseline*: it counts as an observation of depth but
//! contributes no flow, since the change across a gap is unknown.
//!
//! # Invariants
//! - All sums are integers (quantity mantissas): the window total equals
//!   the sum of its events exactly; the ratios are formed only on output.
//! - O(K) per book event (K ≤ 10), O(1) amortised window upkeep, no
//!   allocation after construction.

use super::book_shape::TopOfBook;
use super::window::{Accum, BucketWindow};

/// Per-bucket sums of the OFI window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OfiSums {
    /// Σ e_n at the best level.
    pub flow_best: i64,
    /// Σ_n Σ_{m≤K} e_{m,n}.
    pub flow_multi: i64,
    /// Σ (qᵇ₁ + qᵃ₁) over observations.
    pub depth_best: i64,
    /// Σ Σ_{m≤K} (qᵇ_m + qᵃ_m) over observations.
    pub depth_multi: i64,
    /// Book observations.
    pub observations: i64,
}

impl Accum for OfiSums {
    #[inline]
    fn add(&mut self, o: &Self) {
        self.flow_best = self.flow_best.wrapping_add(o.flow_best);
        self.flow_multi = self.flow_multi.wrapping_add(o.flow_multi);
        self.depth_best = self.depth_best.wrapping_add(o.depth_best);
        self.depth_multi = self.depth_multi.wrapping_add(o.depth_multi);
        self.observations += o.observations;
    }
    #[inline]
    fn sub(&mut self, o: &Self) {
        self.flow_best = self.flow_best.wrapping_sub(o.flow_best);
        self.flow_multi = self.flow_multi.wrapping_sub(o.flow_multi);
        self.depth_best = self.depth_best.wrapping_sub(o.depth_best);
        self.depth_multi = self.depth_multi.wrapping_sub(o.depth_multi);
        self.observations -= o.observations;
    }
}

/// CKS `e` contribution of one bid level.
#[inline]
#[must_use]
pub fn bid_flow(before: (i64, i64), after: (i64, i64)) -> i64 {
    let mut e = 0;
    if after.0 >= before.0 {
        e += after.1;
    }
    if after.0 <= before.0 {
        e -= before.1;
    }
    e
}

/// CKS `e` contribution of one ask level.
#[inline]
#[must_use]
pub fn ask_flow(before: (i64, i64), after: (i64, i64)) -> i64 {
    let mut e = 0;
    if after.0 <= before.0 {
        e -= after.1;
    }
    if after.0 >= before.0 {
        e += before.1;
    }
    e
}

/// Best-level and multi-level OFI over a rolling window.
#[derive(Clone)]
pub struct OrderFlowImbalance {
    window: BucketWindow<OfiSums>,
    window_ms: i64,
    first_ms: Option<i64>,
}

impl OrderFlowImbalance {
    /// A window of `buckets` buckets over `window_ms`.
    #[must_use]
    pub fn new(window_ms: u32, buckets: u32) -> Self {
        Self {
            window: BucketWindow::new(window_ms / buckets.max(1), buckets, 0),
            window_ms: i64::from(window_ms),
            first_ms: None,
        }
    }

    /// Moves the window to `now_ms`.
    #[inline]
    pub fn advance(&mut self, now_ms: i64) {
        self.window.advance(now_ms);
    }

    /// One book observation; `before` is `None` for a baseline (first book,
    /// or first after a resync).
    #[inline]
    pub fn on_book(&mut self, now_ms: i64, before: Option<&TopOfBook>, after: &TopOfBook) {
        self.first_ms.get_or_insert(now_ms);
        let mut sums = OfiSums { observations: 1, ..OfiSums::default() };
        sums.depth_best = after.bids[0].1.wrapping_add(after.asks[0].1);
        for m in 0..after.k {
            sums.depth_multi = sums.depth_multi.wrapping_add(after.bids[m].1).wrapping_add(after.asks[m].1);
        }
        if let Some(before) = before {
            for m in 0..after.k {
                let e = bid_flow(before.bids[m], after.bids[m]).wrapping_add(ask_flow(before.asks[m], after.asks[m]));
                if m == 0 {
                    sums.flow_best = e;
                }
                sums.flow_multi = sums.flow_multi.wrapping_add(e);
            }
        }
        self.window.add(now_ms, &sums);
    }

    /// The window's sums.
    #[must_use]
    pub fn sums(&self) -> &OfiSums {
        self.window.recent()
    }

    /// A full window has passed since the first book.
    #[must_use]
    pub fn warm(&self, now_ms: i64) -> bool {
        self.first_ms.is_some_and(|f| now_ms - f >= self.window_ms) && self.sums().observations > 0
    }

    /// `(ofi, ofi_multi)`: the window's flow over its average depth (0 when
    /// the window holds no depth).
    #[inline]
    #[must_use]
    pub fn values(&self) -> (f64, f64) {
        let s = self.sums();
        let ratio = |flow: i64, depth: i64| {
            if depth > 0 { 2.0 * s.observations as f64 * flow as f64 / depth as f64 } else { 0.0 }
        };
        (ratio(s.flow_best, s.depth_best), ratio(s.flow_multi, s.depth_multi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top(bids: &[(i64, i64)], asks: &[(i64, i64)], k: usize) -> TopOfBook {
        TopOfBook::from_levels(bids, asks, k)
    }

    #[test]
    fn cks_cases() {
        // Bid size grows at the same price: +Δq.
        assert_eq!(bid_flow((100, 5), (100, 8)), 3);
        // Bid improves: the whole new size counts.
        assert_eq!(bid_flow((100, 5), (101, 2)), 2);
        // Bid retreats: the whole old size leaves.
        assert_eq!(bid_flow((100, 5), (99, 9)), -5);
        // Ask size grows at the same price: −Δq (selling pressure).
        assert_eq!(ask_flow((200, 5), (200, 8)), -3);
        // Ask improves (lower): −new size.
        assert_eq!(ask_flow((200, 5), (199, 2)), -2);
        // Ask retreats (higher): +old size.
        assert_eq!(ask_flow((200, 5), (201, 9)), 5);
        // A level appearing where there was none (sentinels).
        assert_eq!(bid_flow((0, 0), (100, 4)), 4);
        assert_eq!(ask_flow((i64::MAX, 0), (200, 4)), -4);
    }

    #[test]
    fn window_sums_and_normalisation() {
        let mut ofi = OrderFlowImbalance::new(1000, 100);
        assert_eq!(ofi.values(), (0.0, 0.0), "empty window");
        assert!(!ofi.warm(0));
        let a = top(&[(100, 4), (99, 6)], &[(101, 4), (102, 6)], 2);
        let b = top(&[(100, 8), (99, 6)], &[(101, 4), (102, 2)], 2);
        ofi.on_book(0, None, &a); // baseline: depth only
        ofi.on_book(10, Some(&a), &b); // best: +4; level 2 ask: −(2−6)=+4 → multi +8
        let s = *ofi.sums();
        assert_eq!((s.flow_best, s.flow_multi, s.observations), (4, 8, 2));
        assert_eq!((s.depth_best, s.depth_multi), (8 + 12, 20 + 20));
        let (best, multi) = ofi.values();
        // D̄ = mean((4+4)/2, (8+4)/2) = 5, so 4 / 5.
        assert_eq!(best, 0.8);
        // D̄_K = mean(20/2, 20/2) = 10, so 8 / 10.
        assert_eq!(multi, 0.8);
        assert!(!ofi.warm(999));
        assert!(ofi.warm(1000));
        // The baseline falls out at 1000 ms, the second book at 1010.
        ofi.advance(1000);
        assert_eq!(ofi.sums().observations, 1);
        ofi.advance(1010);
        assert_eq!(*ofi.sums(), OfiSums::default());
        assert_eq!(ofi.values(), (0.0, 0.0));
    }
}
