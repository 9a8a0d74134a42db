//! Book shape: mid, microprice, spread, top-of-book and top-K depth
//! imbalance, from the top `K` levels of the synced book.
//!
//! [`TopOfBook`] is the fixed-size copy of the top `K ≤ 10` levels per side
//! that every book-driven signal reads; the aggregate keeps the previous
//! one so that OFI can diff before/after (see `ofi.rs`).
//!
//! Definitions (prices and sizes are the integer mantissas of the book;
//! they become `f64` only here, in the ratios):
//! - mid `m = (b + a) / 2`; spread in ticks `(a − b) / tick`; in bps
//!   `10⁴ (a − b) / m`.
//! - top-of-book imbalance `(q_b − q_a) / (q_b + q_a)` ∈ [−1, 1];
//!   top-K imbalance the same over the summed sizes of the top K levels
//!   (Cao, Hansch & Wang 2009, "The information content of an open
//!   limit-order book", use the same depth-weighted form).
//! - microprice: the size-weighted mid `(b q_a + a q_b) / (q_b + q_a)`,
//!   which leans towards the side with less size. Stoikov (2018, "The
//!   micro-price: a high-frequency estimator of future prices",
//!   Quantitative Finance 18(12)) shows this *weighted mid* is the first
//!   step of the micro-price and refines it with an adjustment `g(I, S)`
//!   estimated offline from a Markov chain of imbalance and spread; that
//!   fit is not done here, so the field is the weighted mid.
//!
//! # Invariants
//! - The book is published only when in sync and uncrossed, so for a
//!   two-sided [`TopOfBook`] `a > b` and every size is positive.
//! - A missing level is stored as price `0` (bid) or `i64::MAX` (ask) with
//!   size 0, which makes the OFI comparisons of a level that appears or
//!   disappears come out right without special cases.

use crate::book::Book;
use crate::fixed::pow10;
use crate::side::Side;

use super::config::MAX_DEPTH_LEVELS;

/// Price of a missing bid level.
pub const NO_BID: i64 = 0;
/// Price of a missing ask level.
pub const NO_ASK: i64 = i64::MAX;

/// The top `k` levels per side, best first, as `(price, qty)` mantissas;
/// levels `k..` and missing levels hold the sentinels above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopOfBook {
    /// Bid levels.
    pub bids: [(i64, i64); MAX_DEPTH_LEVELS],
    /// Ask levels.
    pub asks: [(i64, i64); MAX_DEPTH_LEVELS],
    /// Levels looked at per side.
    pub k: usize,
}

impl TopOfBook {
    /// An empty top (every level missing).
    #[must_use]
    pub fn empty(k: usize) -> Self {
        Self {
            bids: [(NO_BID, 0); MAX_DEPTH_LEVELS],
            asks: [(NO_ASK, 0); MAX_DEPTH_LEVELS],
            k: k.clamp(1, MAX_DEPTH_LEVELS),
        }
    }

    /// The top `k` levels of `book`.
    #[inline]
    #[must_use]
    pub fn from_book<const N: usize>(book: &Book<N>, k: usize) -> Self {
        let mut top = Self::empty(k);
        top.fill_from_book(book);
        top
    }

    /// Overwrites the first `k` levels per side with `book`'s, in place.
    #[inline]
    pub fn fill_from_book<const N: usize>(&mut self, book: &Book<N>) {
        let k = self.k;
        let mut n = 0;
        for (slot, (p, q)) in self.bids.iter_mut().zip(book.top(Side::Buy, k)) {
            *slot = (p.0, q.0);
            n += 1;
        }
        self.bids[n..k].fill((NO_BID, 0));
        n = 0;
        for (slot, (p, q)) in self.asks.iter_mut().zip(book.top(Side::Sell, k)) {
            *slot = (p.0, q.0);
            n += 1;
        }
        self.asks[n..k].fill((NO_ASK, 0));
    }

    /// A top from explicit levels (best first; extra levels ignored).
    #[must_use]
    pub fn from_levels(bids: &[(i64, i64)], asks: &[(i64, i64)], k: usize) -> Self {
        let mut top = Self::empty(k);
        for (slot, level) in top.bids.iter_mut().take(top.k).zip(bids) {
            *slot = *level;
        }
        for (slot, level) in top.asks.iter_mut().take(top.k).zip(asks) {
            *slot = *level;
        }
        top
    }

    /// Both sides have a best level.
    #[inline]
    #[must_use]
    pub fn is_two_sided(&self) -> bool {
        self.bids[0].1 > 0 && self.asks[0].1 > 0
    }

    /// `bid + ask` of the best levels: twice the mid, exactly.
    #[inline]
    #[must_use]
    pub fn mid2(&self) -> i64 {
        self.bids[0].0.wrapping_add(self.asks[0].0)
    }
}

/// The book-shape values of the last two-sided book.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BookShape {
    valid: bool,
    mid: f64,
    microprice: f64,
    spread_ticks: f64,
    spread_bps: f64,
    tob_imbalance: f64,
    depth_imbalance: f64,
}

impl BookShape {
    /// Computes the shape of a two-sided `top` (an invalid shape otherwise).
    #[inline]
    #[must_use]
    pub fn of(top: &TopOfBook, price_scale: u8, tick: i64) -> Self {
        if !top.is_two_sided() {
            return Self::default();
        }
        let unit = pow10(price_scale) as f64;
        let (b, qb) = top.bids[0];
        let (a, qa) = top.asks[0];
        let (bf, af, qbf, qaf) = (b as f64, a as f64, qb as f64, qa as f64);
        let mid = 0.5 * (bf + af);
        let spread = (a - b) as f64;
        let (mut sum_b, mut sum_a) = (0i64, 0i64);
        for i in 0..top.k {
            sum_b += top.bids[i].1;
            sum_a += top.asks[i].1;
        }
        Self {
            valid: true,
            mid: mid / unit,
            microprice: (bf * qaf + af * qbf) / (qbf + qaf) / unit,
            spread_ticks: spread / tick as f64,
            spread_bps: 1e4 * spread / mid,
            tob_imbalance: (qbf - qaf) / (qbf + qaf),
            depth_imbalance: (sum_b - sum_a) as f64 / (sum_b + sum_a) as f64,
        }
    }

    /// A two-sided book has been seen.
    #[must_use]
    pub fn valid(&self) -> bool {
        self.valid
    }

    /// Mid in price units.
    #[must_use]
    pub fn mid(&self) -> f64 {
        self.mid
    }

    /// Writes the book-shape fields.
    pub fn fill(&self, snap: &mut super::SignalSnapshot) {
        snap.mid = self.mid;
        snap.microprice = self.microprice;
        snap.spread_ticks = self.spread_ticks;
        snap.spread_bps = self.spread_bps;
        snap.tob_imbalance = self.tob_imbalance;
        snap.depth_imbalance = self.depth_imbalance;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::{Price, Qty};

    #[test]
    fn shape_of_a_small_book() {
        let mut book = Book::<64>::new(Price(10));
        for (side, px, q) in [(Side::Buy, 1000, 3), (Side::Buy, 990, 5), (Side::Sell, 1020, 1), (Side::Sell, 1030, 7)] {
            book.set(side, Price(px), Qty(q)).unwrap();
        }
        let top = TopOfBook::from_book(&book, 3);
        assert_eq!(top.bids[..3], [(1000, 3), (990, 5), (NO_BID, 0)]);
        // Refilling in place clears levels the book no longer has.
        let mut reused = TopOfBook::from_levels(&[(5, 5), (4, 4), (3, 3)], &[(6, 6), (7, 7), (8, 8)], 3);
        reused.fill_from_book(&book);
        assert_eq!(reused, top);
        assert_eq!(top.asks[..3], [(1020, 1), (1030, 7), (NO_ASK, 0)]);
        assert_eq!(top.mid2(), 2020);
        let s = BookShape::of(&top, 1, 10);
        assert!(s.valid());
        assert_eq!(s.mid, 101.0);
        assert_eq!(s.spread_ticks, 2.0);
        assert!((s.spread_bps - 1e4 * 20.0 / 1010.0).abs() < 1e-12);
        assert_eq!(s.tob_imbalance, 0.5);
        assert_eq!(s.depth_imbalance, 0.0);
        // Microprice leans to the ask (less size there): (1000·1 + 1020·3)/4.
        assert_eq!(s.microprice, 101.5);
    }

    #[test]
    fn one_sided_book_has_no_shape() {
        let top = TopOfBook::from_levels(&[(100, 1)], &[], 5);
        assert!(!top.is_two_sided());
        assert!(!BookShape::of(&top, 2, 1).valid());
        let mut snap = crate::signal::SignalSnapshot::default();
        BookShape::of(&top, 2, 1).fill(&mut snap);
        assert_eq!(snap.mid, 0.0);
    }
}
