//! Bybit v5 order book synchronisation, as the venue documents it
//! (<https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook>):
//!
//! - After subscribing you receive a `snapshot`; it replaces the book. A new
//!   snapshot at any time replaces it again.
//! - `delta` messages carry the levels that changed; quantity `0` deletes.
//! - `u` is the update id, a sequence: each delta carries the previous
//!   `u + 1`. A message with `u == 1` is a fresh snapshot after a service
//!   restart, whatever its `type`: the book is rebuilt from it.
//!
//! A book that comes out crossed after an update is dropped and the topic
//! re-subscribed ([`SyncOutcome::Crossed`]), as after a gap.
//!
//! A delta whose `u` is not the previous `u + 1` is a gap: the book stops
//! being published, the gap is counted and reported, and a re-subscription
//! is requested ([`BybitBookSync::take_resync_request`]). Deltas before the
//! first snapshot are dropped and counted (Bybit sends the snapshot first, so
//! there is nothing to buffer).

use crate::book::Book;
use crate::event::{DepthSnapshot, DepthUpdate, Levels};
use crate::side::Side;
use crate::venue::sync::{SyncOutcome, SyncState, SyncStats, apply_levels};

/// The Bybit sync state machine for one symbol, owning its book.
pub struct BybitBookSync<const N: usize> {
    book: Book<N>,
    state: SyncState,
    last_u: u64,
    stats: SyncStats,
    resync_requested: bool,
}

impl<const N: usize> BybitBookSync<N> {
    /// A machine for prices on the grid of `tick`, waiting for its first
    /// snapshot.
    #[must_use]
    pub fn new(tick: crate::fixed::Price) -> Self {
        Self {
            book: Book::new(tick),
            state: SyncState::AwaitingSnapshot,
            last_u: 0,
            stats: SyncStats::default(),
            resync_requested: false,
        }
    }

    /// The book (only meaningful while [`SyncState::Live`]).
    #[must_use]
    pub fn book(&self) -> &Book<N> {
        &self.book
    }

    /// Current state.
    #[must_use]
    pub fn state(&self) -> SyncState {
        self.state
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> SyncStats {
        self.stats
    }

    /// The topic was resubscribed or its connection replaced: the book is
    /// dropped until the new snapshot (counted in [`SyncStats::restarts`]).
    pub fn restart(&mut self) {
        self.stats.restarts += 1;
        self.state = SyncState::AwaitingSnapshot;
        self.book.clear();
        self.last_u = 0;
        self.resync_requested = false;
    }

    /// Update id of the last applied message (0 before the first).
    #[must_use]
    pub fn last_id(&self) -> u64 {
        self.last_u
    }

    /// `true` once if the topic should be re-subscribed; clears the request.
    pub fn take_resync_request(&mut self) -> bool {
        std::mem::take(&mut self.resync_requested)
    }

    fn lose_sync(&mut self) {
        self.state = SyncState::AwaitingSnapshot;
        self.book.clear();
        self.resync_requested = true;
        self.stats.resyncs += 1;
    }

    fn rebuild(&mut self, u: u64, bids: Levels<'_>, asks: Levels<'_>) -> SyncOutcome {
        self.book.clear();
        let applied =
            apply_levels(&mut self.book, Side::Buy, bids).and_then(|()| apply_levels(&mut self.book, Side::Sell, asks));
        if let Err(fault) = applied {
            self.stats.corrupt += 1;
            self.lose_sync();
            return SyncOutcome::Corrupt(fault);
        }
        self.stats.snapshots += 1;
        self.state = SyncState::Live;
        self.resync_requested = false;
        self.settle(u)
    }

    fn settle(&mut self, u: u64) -> SyncOutcome {
        self.last_u = u;
        if self.book.is_crossed() {
            self.stats.crossed += 1;
            self.lose_sync();
            SyncOutcome::Crossed { last_id: u }
        } else {
            SyncOutcome::Applied { last_id: u }
        }
    }

    /// Feeds a `snapshot` message.
    pub fn on_snapshot(&mut self, snap: &DepthSnapshot<'_>, mut report: impl FnMut(&Book<N>, SyncOutcome)) {
        let outcome = self.rebuild(snap.last_id, snap.bids, snap.asks);
        report(&self.book, outcome);
    }

    /// Feeds a `delta` message.
    #[inline]
    pub fn on_diff(&mut self, diff: &DepthUpdate<'_>, mut report: impl FnMut(&Book<N>, SyncOutcome)) {
        let u = diff.last_id;
        let outcome = if u == 1 {
            // Service restart: this message is the whole book.
            self.rebuild(u, diff.bids, diff.asks)
        } else if self.state == SyncState::AwaitingSnapshot {
            self.stats.unsynced += 1;
            SyncOutcome::Unsynced
        } else if u != self.last_u.wrapping_add(1) {
            let expected = self.last_u.wrapping_add(1);
            self.stats.gaps += 1;
            self.lose_sync();
            SyncOutcome::Gap { expected, got: u }
        } else {
            let applied = apply_levels(&mut self.book, Side::Buy, diff.bids)
                .and_then(|()| apply_levels(&mut self.book, Side::Sell, diff.asks));
            match applied {
                Ok(()) => {
                    self.stats.applied += 1;
                    self.settle(u)
                }
                Err(fault) => {
                    self.stats.corrupt += 1;
                    self.lose_sync();
                    SyncOutcome::Corrupt(fault)
                }
            }
        };
        report(&self.book, outcome);
    }
}
