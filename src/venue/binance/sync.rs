//! Binance USDⓈ-M local order book synchronisation, exactly as the venue
//! documents it ("How to manage a local order book correctly",
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/How-to-manage-a-local-order-book-correctly>):
//!
//! 1. Buffer the diff events from the stream.
//! 2. Get a depth snapshot (`GET /fapi/v1/depth?limit=1000`).
//! 3. Drop any event where `u` < `lastUpdateId` of the snapshot.
//! 4. The first processed event must have `U` ≤ `lastUpdateId` ≤ `u`.
//! 5. Each new event's `pu` must equal the previous event's `u`; otherwise
//!    start again from step 3 with a new snapshot.
//!
//! Real feeds do gap, so a gap is a normal path: the book stops being
//! published, the gap is counted and reported, buffering restarts with the
//! diff that revealed the gap, and a new snapshot is requested
//! ([`BinanceBookSync::take_resync_request`]).
//!
//! Partial-depth streams (`<symbol>@depth5`, `@depth10`, `@depth20`) carry
//! the same `depthUpdate` payload as the diff stream, but every message is
//! the whole top of the book, not a change: a machine bound to such a
//! stream ([`BinanceBookSync::set_partial`]) rebuilds the book from each
//! message whose `u` is above the last one, and never buffers.
//!
//! # Invariants
//! - The book is published (reported as [`SyncOutcome::Applied`]) only in
//!   state [`SyncState::Live`] after an update that respects steps 3–5 and
//!   leaves the book uncrossed. A crossed book is not a state any venue
//!   holds: it is dropped and a new snapshot requested
//!   ([`SyncOutcome::Crossed`]).
//! - A snapshot that is not newer than the live book is ignored and counted
//!   ([`SyncOutcome::SnapshotNotNewer`]): a late or duplicated REST response
//!   never rewinds a live book.
//! - A snapshot whose id the stream does not reach within [`STALE_LIMIT`]
//!   diffs is dropped ([`SyncOutcome::SnapshotAhead`]): a poisoned
//!   `lastUpdateId` cannot freeze the book.
//! - Buffered diffs live in caller-sized fixed storage ([`PendingDiffs`]);
//!   when it is full the oldest diffs are dropped and counted, which at
//!   worst makes the next snapshot fail step 4 and be requested again.

use std::collections::VecDeque;

use crate::book::Book;
use crate::event::{DepthSnapshot, DepthUpdate};
use crate::fixed::{Price, Qty};
use crate::side::Side;
use crate::venue::sync::{FrameFault, STALE_LIMIT, SyncOutcome, SyncState, SyncStats, apply_levels};

/// Ids of a buffered diff.
#[derive(Debug, Clone, Copy)]
struct PendingHeader {
    first: u64,
    last: u64,
    prev: u64,
    n_bids: usize,
    n_asks: usize,
    /// A level failed to decode or did not fit; the diff cannot be applied.
    fault: Option<FrameFault>,
}

/// Fixed-capacity storage for diffs that arrive before their snapshot,
/// decoded (so the frame buffer can be reused) but not applied.
#[derive(Debug, Clone)]
pub struct PendingDiffs {
    headers: VecDeque<PendingHeader>,
    levels: VecDeque<(Price, Qty)>,
    max_diffs: usize,
    max_levels: usize,
}

impl PendingDiffs {
    /// Room for `max_diffs` diffs holding `max_levels` levels in all,
    /// allocated now.
    #[must_use]
    pub fn new(max_diffs: usize, max_levels: usize) -> Self {
        Self {
            headers: VecDeque::with_capacity(max_diffs.max(1)),
            levels: VecDeque::with_capacity(max_levels.max(1)),
            max_diffs: max_diffs.max(1),
            max_levels: max_levels.max(1),
        }
    }

    fn drop_oldest(&mut self) -> bool {
        match self.headers.pop_front() {
            Some(h) => {
                self.levels.drain(..h.n_bids + h.n_asks);
                true
            }
            None => false,
        }
    }

    /// Buffers a diff; returns how many older diffs had to be dropped.
    fn push(&mut self, diff: &DepthUpdate<'_>) -> u64 {
        let mut dropped = 0;
        if self.headers.len() == self.max_diffs && self.drop_oldest() {
            dropped += 1;
        }
        let mut header = PendingHeader {
            first: diff.first_id,
            last: diff.last_id,
            prev: diff.prev_last_id,
            n_bids: 0,
            n_asks: 0,
            fault: None,
        };
        let mut pushed = 0usize;
        'sides: for (levels, count) in [(diff.bids, &mut header.n_bids), (diff.asks, &mut header.n_asks)] {
            for level in levels {
                match level {
                    Ok(level) => {
                        while self.levels.len() == self.max_levels {
                            if !self.drop_oldest() {
                                break;
                            }
                            dropped += 1;
                        }
                        if self.levels.len() == self.max_levels {
                            // This one diff is larger than the whole buffer.
                            header.fault = Some(FrameFault::BufferFull);
                            break 'sides;
                        }
                        self.levels.push_back(level);
                        *count += 1;
                        pushed += 1;
                    }
                    Err(e) => {
                        header.fault = Some(FrameFault::Decode(e));
                        break 'sides;
                    }
                }
            }
        }
        if header.fault.is_some() {
            // Keep the ids (they matter for continuity), not the levels.
            for _ in 0..pushed {
                self.levels.pop_back();
            }
            header.n_bids = 0;
            header.n_asks = 0;
        }
        self.headers.push_back(header);
        dropped
    }

    /// Number of buffered diffs.
    #[must_use]
    pub fn len(&self) -> usize {
        self.headers.len()
    }

    /// `true` when nothing is buffered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }
}

/// What steps 3–5 say about a diff.
enum Verdict {
    Apply,
    Stale,
    Gap { expected: u64 },
    TooOld,
}

/// The Binance sync state machine for one symbol, owning its book.
pub struct BinanceBookSync<const N: usize> {
    book: Book<N>,
    state: SyncState,
    /// `u` of the last applied diff (or the snapshot id before the first).
    last_id: u64,
    snapshot_id: u64,
    /// Live, but the first diff after the snapshot has not been seen.
    awaiting_first: bool,
    pending: PendingDiffs,
    stats: SyncStats,
    resync_requested: bool,
    /// Stale diffs in a row since the snapshot (see [`STALE_LIMIT`]).
    stale_run: u32,
    /// Bound to a partial-depth stream: every message is a whole book.
    partial: bool,
}

impl<const N: usize> BinanceBookSync<N> {
    /// A machine for prices on the grid of `tick`, waiting for its first
    /// snapshot, with room to buffer
    /// `pending` diffs meanwhile. A snapshot is requested from the start.
    #[must_use]
    pub fn new(tick: Price, pending: PendingDiffs) -> Self {
        Self {
            book: Book::new(tick),
            state: SyncState::AwaitingSnapshot,
            last_id: 0,
            snapshot_id: 0,
            awaiting_first: false,
            pending,
            stats: SyncStats::default(),
            resync_requested: true,
            stale_run: 0,
            partial: false,
        }
    }

    /// Binds the machine to a partial-depth stream (`partial = true`:
    /// every message is the top of the book, applied as a snapshot) or to
    /// the diff stream (the default). Changing the binding drops the book.
    pub fn set_partial(&mut self, partial: bool) {
        if self.partial != partial {
            self.partial = partial;
            self.restart();
        }
    }

    /// `true` when bound to a partial-depth stream.
    #[must_use]
    pub fn is_partial(&self) -> bool {
        self.partial
    }

    /// The stream was resubscribed or its connection replaced: diffs from
    /// before are no use, the book is dropped and a snapshot requested
    /// (counted in [`SyncStats::restarts`]).
    pub fn restart(&mut self) {
        self.stats.restarts += 1;
        while self.pending.drop_oldest() {}
        self.state = SyncState::AwaitingSnapshot;
        self.awaiting_first = false;
        self.book.clear();
        self.last_id = 0;
        self.snapshot_id = 0;
        self.stale_run = 0;
        self.resync_requested = !self.partial;
    }

    /// Update id of the last applied diff or snapshot (0 before the first).
    #[must_use]
    pub fn last_id(&self) -> u64 {
        self.last_id
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

    /// Diffs waiting for a snapshot.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// `true` once if a (new) snapshot should be fetched; clears the request.
    pub fn take_resync_request(&mut self) -> bool {
        std::mem::take(&mut self.resync_requested)
    }

    fn verdict(&self, first: u64, last: u64, prev: u64) -> Verdict {
        if self.awaiting_first {
            if last < self.snapshot_id {
                Verdict::Stale
            } else if first <= self.snapshot_id {
                Verdict::Apply
            } else {
                Verdict::TooOld
            }
        } else if prev == self.last_id {
            Verdict::Apply
        } else {
            Verdict::Gap { expected: self.last_id }
        }
    }

    fn lose_sync(&mut self) {
        self.state = SyncState::AwaitingSnapshot;
        self.awaiting_first = false;
        self.stale_run = 0;
        self.book.clear();
        // A partial stream resyncs by itself with its next message.
        self.resync_requested = !self.partial;
        self.stats.resyncs += 1;
    }

    /// Records that the book now reflects update `last`; says whether it
    /// may be published.
    fn settle(&mut self, last: u64) -> SyncOutcome {
        self.last_id = last;
        self.awaiting_first = false;
        self.stale_run = 0;
        if self.book.is_crossed() {
            self.stats.crossed += 1;
            self.lose_sync();
            SyncOutcome::Crossed { last_id: last }
        } else {
            SyncOutcome::Applied { last_id: last }
        }
    }

    fn buffer(&mut self, diff: &DepthUpdate<'_>) {
        self.stats.buffer_overflows += self.pending.push(diff);
        self.stats.buffered += 1;
    }

    /// Feeds one diff (`depthUpdate`). `report` sees the book and the
    /// outcome; the book may be published when `outcome.published()`.
    #[inline]
    pub fn on_diff(&mut self, diff: &DepthUpdate<'_>, mut report: impl FnMut(&Book<N>, SyncOutcome)) {
        if self.partial {
            let outcome = self.rebuild_partial(diff);
            report(&self.book, outcome);
            return;
        }
        if self.state == SyncState::AwaitingSnapshot {
            self.buffer(diff);
            report(&self.book, SyncOutcome::Buffered);
            return;
        }
        let outcome = match self.verdict(diff.first_id, diff.last_id, diff.prev_last_id) {
            Verdict::Stale => {
                self.stats.stale += 1;
                self.stale_run += 1;
                if self.stale_run >= STALE_LIMIT {
                    let snapshot_id = self.snapshot_id;
                    self.stats.snapshots_ahead += 1;
                    self.lose_sync();
                    SyncOutcome::SnapshotAhead { snapshot_id }
                } else {
                    SyncOutcome::Stale
                }
            }
            Verdict::Apply => {
                let applied = apply_levels(&mut self.book, Side::Buy, diff.bids)
                    .and_then(|()| apply_levels(&mut self.book, Side::Sell, diff.asks));
                match applied {
                    Ok(()) => {
                        self.stats.applied += 1;
                        self.settle(diff.last_id)
                    }
                    Err(fault) => {
                        self.stats.corrupt += 1;
                        self.lose_sync();
                        SyncOutcome::Corrupt(fault)
                    }
                }
            }
            Verdict::Gap { expected } => {
                self.stats.gaps += 1;
                self.lose_sync();
                self.buffer(diff);
                SyncOutcome::Gap { expected, got: diff.prev_last_id }
            }
            Verdict::TooOld => {
                let snapshot_id = self.snapshot_id;
                self.lose_sync();
                self.buffer(diff);
                SyncOutcome::SnapshotTooOld { snapshot_id, first_u: diff.first_id }
            }
        };
        report(&self.book, outcome);
    }

    /// A partial-depth message: the whole top of the book.
    fn rebuild_partial(&mut self, diff: &DepthUpdate<'_>) -> SyncOutcome {
        if self.state == SyncState::Live && diff.last_id <= self.last_id {
            self.stats.stale += 1;
            return SyncOutcome::Stale;
        }
        self.book.clear();
        let applied = apply_levels(&mut self.book, Side::Buy, diff.bids)
            .and_then(|()| apply_levels(&mut self.book, Side::Sell, diff.asks));
        if let Err(fault) = applied {
            self.stats.corrupt += 1;
            self.lose_sync();
            return SyncOutcome::Corrupt(fault);
        }
        self.stats.snapshots += 1;
        self.state = SyncState::Live;
        self.resync_requested = false;
        self.settle(diff.last_id)
    }

    /// Feeds a REST depth snapshot, then replays the buffered diffs it
    /// bridges to. `report` is called for the snapshot and for every
    /// replayed diff.
    pub fn on_snapshot(&mut self, snap: &DepthSnapshot<'_>, mut report: impl FnMut(&Book<N>, SyncOutcome)) {
        if self.state == SyncState::Live && snap.last_id <= self.last_id {
            self.stats.stale_snapshots += 1;
            report(&self.book, SyncOutcome::SnapshotNotNewer { snapshot_id: snap.last_id, book_id: self.last_id });
            return;
        }
        self.book.clear();
        let applied = apply_levels(&mut self.book, Side::Buy, snap.bids)
            .and_then(|()| apply_levels(&mut self.book, Side::Sell, snap.asks));
        if let Err(fault) = applied {
            self.stats.corrupt += 1;
            self.lose_sync();
            report(&self.book, SyncOutcome::Corrupt(fault));
            return;
        }
        self.stats.snapshots += 1;
        self.state = SyncState::Live;
        self.snapshot_id = snap.last_id;
        self.resync_requested = false;
        let outcome = self.settle(snap.last_id);
        if self.state != SyncState::Live || self.partial {
            // Crossed (the machine asked for another snapshot), or a
            // partial book, which has no diffs to bridge.
            report(&self.book, outcome);
            return;
        }
        self.awaiting_first = true;
        report(&self.book, outcome);

        while let Some(header) = self.pending.headers.pop_front() {
            let n = header.n_bids + header.n_asks;
            let outcome = match self.verdict(header.first, header.last, header.prev) {
                Verdict::Stale => {
                    self.pending.levels.drain(..n);
                    self.stats.stale += 1;
                    SyncOutcome::Stale
                }
                Verdict::Apply => {
                    if let Some(fault) = header.fault {
                        self.stats.corrupt += 1;
                        self.lose_sync();
                        report(&self.book, SyncOutcome::Corrupt(fault));
                        return;
                    }
                    let mut result = Ok(());
                    for (i, (price, qty)) in self.pending.levels.drain(..n).enumerate() {
                        let side = if i < header.n_bids { Side::Buy } else { Side::Sell };
                        if result.is_ok() {
                            result = self.book.set(side, price, qty).map(|_| ()).map_err(FrameFault::Book);
                        }
                    }
                    match result {
                        Ok(()) => {
                            self.stats.applied += 1;
                            let outcome = self.settle(header.last);
                            if self.state != SyncState::Live {
                                // Crossed: the rest waits for the next snapshot.
                                report(&self.book, outcome);
                                return;
                            }
                            outcome
                        }
                        Err(fault) => {
                            self.stats.corrupt += 1;
                            self.lose_sync();
                            report(&self.book, SyncOutcome::Corrupt(fault));
                            return;
                        }
                    }
                }
                Verdict::Gap { expected } => {
                    // The buffered diffs themselves have a hole: keep this
                    // one and the rest for the next snapshot.
                    self.pending.headers.push_front(header);
                    self.stats.gaps += 1;
                    self.lose_sync();
                    report(&self.book, SyncOutcome::Gap { expected, got: header.prev });
                    return;
                }
                Verdict::TooOld => {
                    self.pending.headers.push_front(header);
                    let snapshot_id = self.snapshot_id;
                    self.lose_sync();
                    report(&self.book, SyncOutcome::SnapshotTooOld { snapshot_id, first_u: header.first });
                    return;
                }
            };
            report(&self.book, outcome);
        }
    }
}
