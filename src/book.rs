//! Fixed-capacity limit order book, best price where updates are cheapest.
//!
//! [`Book<N>`] keeps at most `N` price levels per side. Each side is a
//! [`Ladder`]: two parallel arrays (keys and quantities) sorted ascending by
//! key with the **best level at the high end**. Bids use the price as key,
//! asks the negated price, so "best" is always the largest key and one
//! implementation serves both sides.
//!
//! Most updates land at or next to the touch, so a lookup gallops
//! (exponential search) from the best end and an insert or delete shifts the
//! shorter side of the array: touch churn moves a handful of elements, never
//! the whole ladder. The live levels sit in a window of an array twice the
//! capacity; when the side to shift has no room the window is re-centred,
//! which costs `O(len)` but leaves at least `N/2` free slots on either side,
//! so the cost amortises to `O(1)`.
//!
//! # Invariants
//! - Keys strictly increase across the window; no stored quantity is zero or
//!   negative (a zero quantity deletes the level).
//! - `len ≤ N`. At capacity an insert keeps the `N` levels nearest the touch:
//!   a level worse than all stored ones is dropped, otherwise the worst stored
//!   level is dropped. Every dropped level is counted ([`Book::dropped`]).
//! - All storage is allocated in [`Book::new`]; nothing allocates afterwards.
//!
//! The book knows nothing of update ids or venues: the sync state machines
//! in `venue/*/sync.rs` decide what may be applied.

use crate::fixed::{Price, Qty};
use crate::side::Side;

/// Levels per side the engine and the command-line tools keep. The venues'
/// deepest snapshots hold 1000 levels; levels farther out are dropped and
/// counted (see the module documentation).
pub const DEFAULT_LEVELS: usize = 1024;

/// What a [`Ladder::set`] did. Signals (multi-level OFI) read the old size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelChange {
    /// A new level was inserted.
    Inserted,
    /// An existing level's quantity changed from `old`.
    Updated {
        /// The quantity before.
        old: Qty,
    },
    /// An existing level was removed; it held `old`.
    Deleted {
        /// The quantity before.
        old: Qty,
    },
    /// A delete for a level the book did not hold (normal for venues that
    /// delete levels beyond the depth we keep). Nothing changed.
    DeleteAbsent,
    /// The book was full and the new level was farther from the touch than
    /// every stored one: it was dropped (and counted).
    DroppedAtCapacity,
}

/// A refused book update.
///
/// # Errors
/// Returned by [`Book::set`] for a negative quantity; the book is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    /// Quantities are never negative; the venue sent garbage.
    #[error("negative quantity")]
    NegativeQty,
}

/// One side of the book. See the module documentation for the layout.
#[derive(Clone)]
pub struct Ladder {
    keys: Box<[i64]>,
    qtys: Box<[i64]>,
    start: usize,
    len: usize,
    cap: usize,
    dropped: u64,
    negate: bool,
}

impl Ladder {
    fn new(cap: usize, negate: bool) -> Self {
        let phys = cap.max(1) * 2;
        Self {
            keys: vec![0; phys].into_boxed_slice(),
            qtys: vec![0; phys].into_boxed_slice(),
            start: phys / 2,
            len: 0,
            cap,
            dropped: 0,
            negate,
        }
    }

    #[inline]
    fn key(&self, price: Price) -> i64 {
        if self.negate { -price.0 } else { price.0 }
    }

    #[inline]
    fn price(&self, key: i64) -> Price {
        Price(if self.negate { -key } else { key })
    }

    #[inline]
    fn end(&self) -> usize {
        self.start + self.len
    }

    /// Number of levels held.
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when no level is held.
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Levels dropped at capacity since construction.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The best level.
    #[inline]
    #[must_use]
    pub fn best(&self) -> Option<(Price, Qty)> {
        if self.len == 0 {
            return None;
        }
        let i = self.end() - 1;
        Some((self.price(self.keys[i]), Qty(self.qtys[i])))
    }

    /// The `rank`-th level from the touch (0 = best).
    #[inline]
    #[must_use]
    pub fn level(&self, rank: usize) -> Option<(Price, Qty)> {
        if rank >= self.len {
            return None;
        }
        let i = self.end() - 1 - rank;
        Some((self.price(self.keys[i]), Qty(self.qtys[i])))
    }

    /// Levels best first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (Price, Qty)> + ExactSizeIterator + '_ {
        let (start, end) = (self.start, self.end());
        self.keys[start..end]
            .iter()
            .zip(&self.qtys[start..end])
            .rev()
            .map(|(&k, &q)| (self.price(k), Qty(q)))
    }

    /// The quantity at `price`, if held.
    #[must_use]
    pub fn qty_at(&self, price: Price) -> Option<Qty> {
        let key = self.key(price);
        let p = self.lower_bound(key);
        (p < self.end() && self.keys[p] == key).then(|| Qty(self.qtys[p]))
    }

    /// First index in the window whose key is `>= key`, galloping from the
    /// best (high) end.
    #[inline]
    fn lower_bound(&self, key: i64) -> usize {
        let (start, end) = (self.start, self.end());
        let mut hi = end; // keys[hi..end] >= key
        let mut lo = start; // keys[start..lo] < key
        let mut step = 1usize;
        while hi > start {
            let probe = if hi - start > step { hi - step } else { start };
            if self.keys[probe] < key {
                lo = probe + 1;
                break;
            }
            hi = probe;
            step <<= 1;
        }
        lo + self.keys[lo..hi].partition_point(|&k| k < key)
    }

    fn clear(&mut self) {
        self.start = self.keys.len() / 2;
        self.len = 0;
    }

    /// Moves the window to the middle of the storage.
    #[cold]
    fn recentre(&mut self) {
        let phys = self.keys.len();
        let new_start = (phys - self.len) / 2;
        let (start, end) = (self.start, self.end());
        self.keys.copy_within(start..end, new_start);
        self.qtys.copy_within(start..end, new_start);
        self.start = new_start;
    }

    /// Removes the element at `p`, shifting the shorter side.
    #[inline]
    fn remove_at(&mut self, p: usize) {
        let (start, end) = (self.start, self.end());
        if end - 1 - p <= p - start {
            self.keys.copy_within(p + 1..end, p);
            self.qtys.copy_within(p + 1..end, p);
        } else {
            self.keys.copy_within(start..p, start + 1);
            self.qtys.copy_within(start..p, start + 1);
            self.start += 1;
        }
        self.len -= 1;
    }

    /// Inserts before index `p` (so the new element ends up between
    /// `p - 1` and the old `p`), shifting the shorter side. `len < cap`.
    #[inline]
    fn insert_at(&mut self, mut p: usize, key: i64, qty: i64) {
        let phys = self.keys.len();
        let right_cost = self.end() - p;
        let left_cost = p - self.start;
        let shift_right = right_cost <= left_cost;
        if (shift_right && self.end() == phys) || (!shift_right && self.start == 0) {
            let before = self.start;
            self.recentre();
            p = p - before + self.start;
        }
        let (start, end) = (self.start, self.end());
        if shift_right {
            self.keys.copy_within(p..end, p + 1);
            self.qtys.copy_within(p..end, p + 1);
            self.keys[p] = key;
            self.qtys[p] = qty;
        } else {
            self.keys.copy_within(start..p, start - 1);
            self.qtys.copy_within(start..p, start - 1);
            self.start -= 1;
            self.keys[p - 1] = key;
            self.qtys[p - 1] = qty;
        }
        self.len += 1;
    }

    /// Sets the quantity at `price`; zero deletes the level.
    ///
    /// # Errors
    /// [`BookError::NegativeQty`]; nothing changes.
    #[inline]
    pub fn set(&mut self, price: Price, qty: Qty) -> Result<LevelChange, BookError> {
        if qty.0 < 0 {
            return Err(BookError::NegativeQty);
        }
        let key = self.key(price);
        let mut p = self.lower_bound(key);
        if p < self.end() && self.keys[p] == key {
            let old = Qty(self.qtys[p]);
            if qty.0 == 0 {
                self.remove_at(p);
                return Ok(LevelChange::Deleted { old });
            }
            self.qtys[p] = qty.0;
            return Ok(LevelChange::Updated { old });
        }
        if qty.0 == 0 {
            return Ok(LevelChange::DeleteAbsent);
        }
        if self.len == self.cap {
            if p == self.start {
                // Farther from the touch than every stored level.
                self.dropped += 1;
                return Ok(LevelChange::DroppedAtCapacity);
            }
            // Drop the worst stored level to make room.
            self.start += 1;
            self.len -= 1;
            self.dropped += 1;
            if p < self.start {
                p = self.start;
            }
        }
        self.insert_at(p, key, qty.0);
        Ok(LevelChange::Inserted)
    }
}

/// A two-sided limit order book holding at most `N` levels per side.
#[derive(Clone)]
pub struct Book<const N: usize> {
    bids: Ladder,
    asks: Ladder,
}

impl<const N: usize> Default for Book<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Book<N> {
    /// An empty book; allocates its fixed storage (`4·N` levels of 16 bytes:
    /// twice the capacity per side, see the module documentation).
    #[must_use]
    pub fn new() -> Self {
        Self { bids: Ladder::new(N, false), asks: Ladder::new(N, true) }
    }

    /// Capacity per side.
    #[must_use]
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Removes every level (keeps the drop counters).
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    /// One side.
    #[inline]
    #[must_use]
    pub fn side(&self, side: Side) -> &Ladder {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    /// Bids, best (highest) first.
    #[must_use]
    pub fn bids(&self) -> &Ladder {
        &self.bids
    }

    /// Asks, best (lowest) first.
    #[must_use]
    pub fn asks(&self) -> &Ladder {
        &self.asks
    }

    /// Sets the quantity of a level; zero deletes it.
    ///
    /// # Errors
    /// [`BookError::NegativeQty`]; nothing changes.
    #[inline]
    pub fn set(&mut self, side: Side, price: Price, qty: Qty) -> Result<LevelChange, BookError> {
        match side {
            Side::Buy => self.bids.set(price, qty),
            Side::Sell => self.asks.set(price, qty),
        }
    }

    /// Best bid.
    #[inline]
    #[must_use]
    pub fn best_bid(&self) -> Option<(Price, Qty)> {
        self.bids.best()
    }

    /// Best ask.
    #[inline]
    #[must_use]
    pub fn best_ask(&self) -> Option<(Price, Qty)> {
        self.asks.best()
    }

    /// `true` when the best bid is at or above the best ask. A crossed book
    /// is never published: it means the feed or our sync is wrong.
    #[inline]
    #[must_use]
    pub fn is_crossed(&self) -> bool {
        match (self.bids.best(), self.asks.best()) {
            (Some((b, _)), Some((a, _))) => b >= a,
            _ => false,
        }
    }

    /// The top `k` levels of a side, best first.
    pub fn top(&self, side: Side, k: usize) -> impl Iterator<Item = (Price, Qty)> + '_ {
        self.side(side).iter().take(k)
    }

    /// Levels dropped at capacity on both sides since construction.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.bids.dropped + self.asks.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn p(v: i64) -> Price {
        Price(v)
    }
    fn q(v: i64) -> Qty {
        Qty(v)
    }

    #[test]
    fn best_and_order() {
        let mut book = Book::<8>::new();
        book.set(Side::Buy, p(100), q(1)).unwrap();
        book.set(Side::Buy, p(102), q(2)).unwrap();
        book.set(Side::Buy, p(101), q(3)).unwrap();
        book.set(Side::Sell, p(105), q(4)).unwrap();
        book.set(Side::Sell, p(103), q(5)).unwrap();
        assert_eq!(book.best_bid(), Some((p(102), q(2))));
        assert_eq!(book.best_ask(), Some((p(103), q(5))));
        let bids: Vec<_> = book.bids().iter().collect();
        assert_eq!(bids, vec![(p(102), q(2)), (p(101), q(3)), (p(100), q(1))]);
        let asks: Vec<_> = book.top(Side::Sell, 1).collect();
        assert_eq!(asks, vec![(p(103), q(5))]);
        assert!(!book.is_crossed());
        assert_eq!(book.set(Side::Buy, p(102), q(0)), Ok(LevelChange::Deleted { old: q(2) }));
        assert_eq!(book.set(Side::Buy, p(101), q(7)), Ok(LevelChange::Updated { old: q(3) }));
        assert_eq!(book.set(Side::Buy, p(99), q(0)), Ok(LevelChange::DeleteAbsent));
        assert_eq!(book.set(Side::Buy, p(99), q(-1)), Err(BookError::NegativeQty));
        book.set(Side::Buy, p(103), q(1)).unwrap();
        assert!(book.is_crossed());
        assert_eq!(book.bids().level(1), Some((p(101), q(7))));
        assert_eq!(book.asks().qty_at(p(105)), Some(q(4)));
        assert_eq!(book.asks().qty_at(p(104)), None);
    }

    #[test]
    fn capacity_keeps_nearest_the_touch() {
        let mut book = Book::<3>::new();
        for px in [100, 101, 102] {
            book.set(Side::Buy, p(px), q(1)).unwrap();
        }
        // Worse than everything held: dropped.
        assert_eq!(book.set(Side::Buy, p(99), q(1)), Ok(LevelChange::DroppedAtCapacity));
        assert_eq!(book.dropped(), 1);
        // Better than the worst: the worst (100) goes.
        assert_eq!(book.set(Side::Buy, p(103), q(1)), Ok(LevelChange::Inserted));
        assert_eq!(book.dropped(), 2);
        let prices: Vec<_> = book.bids().iter().map(|(px, _)| px.0).collect();
        assert_eq!(prices, vec![103, 102, 101]);
        // In the middle, at capacity.
        assert_eq!(book.set(Side::Buy, p(1015), q(1)), Ok(LevelChange::Inserted));
        // Asks: worst is the highest price.
        for px in [200, 201, 202] {
            book.set(Side::Sell, p(px), q(1)).unwrap();
        }
        assert_eq!(book.set(Side::Sell, p(203), q(1)), Ok(LevelChange::DroppedAtCapacity));
        book.set(Side::Sell, p(199), q(1)).unwrap();
        let asks: Vec<_> = book.asks().iter().map(|(px, _)| px.0).collect();
        assert_eq!(asks, vec![199, 200, 201]);
        assert_eq!(book.dropped(), 5);
    }

    #[test]
    fn touch_churn_recentres_without_loss() {
        // Push the touch up by far more than the storage size.
        let mut book = Book::<4>::new();
        for px in 0..1000 {
            book.set(Side::Buy, p(px), q(px + 1)).unwrap();
            if px >= 2 {
                book.set(Side::Buy, p(px - 2), q(0)).unwrap();
            }
        }
        let bids: Vec<_> = book.bids().iter().collect();
        assert_eq!(bids, vec![(p(999), q(1000)), (p(998), q(999))]);
        assert_eq!(book.dropped(), 0);
        // And down.
        for px in (0..500).rev() {
            book.set(Side::Sell, p(px), q(1)).unwrap();
        }
        assert_eq!(book.asks().len(), 4);
        assert_eq!(book.best_ask(), Some((p(0), q(1))));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Set(bool, i64, i64),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            40 => (any::<bool>(), 0i64..64, 0i64..5).prop_map(|(b, px, qty)| Op::Set(b, px, qty)),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// The book equals the N best levels of an unbounded reference
        /// whenever nothing has been dropped, and is always sorted, bounded
        /// and free of zero quantities.
        #[test]
        fn matches_reference(ops in proptest::collection::vec(op(), 1..400)) {
            const N: usize = 16;
            let mut book = Book::<N>::new();
            let mut bids: BTreeMap<i64, i64> = BTreeMap::new();
            let mut asks: BTreeMap<i64, i64> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Set(is_bid, px, qty) => {
                        let side = if is_bid { Side::Buy } else { Side::Sell };
                        let before = book.dropped();
                        book.set(side, p(px), q(qty)).unwrap();
                        let map = if is_bid { &mut bids } else { &mut asks };
                        if qty == 0 { map.remove(&px); } else { map.insert(px, qty); }
                        // Keep the reference truncated exactly as the book must be.
                        if book.dropped() > before {
                            while map.len() > N {
                                if is_bid { map.pop_first(); } else { map.pop_last(); }
                            }
                        }
                    }
                    Op::Clear => { book.clear(); bids.clear(); asks.clear(); }
                }
                let got_b: Vec<(i64, i64)> = book.bids().iter().map(|(a, b)| (a.0, b.0)).collect();
                let want_b: Vec<(i64, i64)> = bids.iter().rev().map(|(a, b)| (*a, *b)).collect();
                prop_assert_eq!(got_b, want_b);
                let got_a: Vec<(i64, i64)> = book.asks().iter().map(|(a, b)| (a.0, b.0)).collect();
                let want_a: Vec<(i64, i64)> = asks.iter().map(|(a, b)| (*a, *b)).collect();
                prop_assert_eq!(got_a, want_a);
                prop_assert!(book.bids().len() <= N && book.asks().len() <= N);
            }
        }
    }
}
