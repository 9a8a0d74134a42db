//! What the per-venue book sync state machines share: their outcomes,
//! counters, and the level application loop.
//!
//! A sync machine owns one [`Book`] and decides, frame by frame, whether an
//! update may be applied, must wait for a snapshot, is stale, or reveals a
//! gap. It never continues silently after a gap: the book stops being
//! published, the gap is counted and reported, and a snapshot (Binance) or
//! re-subscription (Bybit) is requested through [`SyncStats::resyncs`] and
//! the machine's `take_resync_request`.

use crate::book::{Book, BookError};
use crate::event::{DecodeError, Levels};
use crate::fixed::{Price, Qty};
use crate::side::Side;

/// Where a sync machine stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// No usable book: waiting for a snapshot (buffering diffs on Binance).
    AwaitingSnapshot,
    /// The book is in sync and published after every applied update.
    Live,
}

/// What one depth frame did to the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Applied; the book is in sync and was published. `last_id` is the
    /// update id of the frame just applied.
    Applied {
        /// Update id of the frame.
        last_id: u64,
    },
    /// Applied, and the book came out crossed (best bid at or above best
    /// ask): a book no venue can hold, so something upstream is wrong. It
    /// is not published; the machine drops it and requests a resync, as
    /// after a gap (counted in [`SyncStats::crossed`] and
    /// [`SyncStats::resyncs`]).
    Crossed {
        /// Update id of the frame.
        last_id: u64,
    },
    /// A snapshot that arrived while the book was live and is not newer
    /// than it (Binance `lastUpdateId` ≤ the last applied `u`; a partial
    /// book's `u` not above the last): ignored and counted
    /// ([`SyncStats::stale_snapshots`]), never published. The live book is
    /// untouched.
    SnapshotNotNewer {
        /// The snapshot's id.
        snapshot_id: u64,
        /// The book's last applied id.
        book_id: u64,
    },
    /// After a snapshot, [`STALE_LIMIT`] diffs in a row were older than it:
    /// the snapshot claims an id the stream never reaches (a poisoned or
    /// far-future `lastUpdateId`). The book is dropped and a new snapshot
    /// requested.
    SnapshotAhead {
        /// The snapshot's id.
        snapshot_id: u64,
    },
    /// Kept for replay once the snapshot arrives.
    Buffered,
    /// Older than the book (`u` < snapshot id); dropped, as the venue says.
    Stale,
    /// Arrived while waiting for a snapshot and cannot be buffered (Bybit
    /// deltas before the first snapshot).
    Unsynced,
    /// A sequence gap: `expected` was the id the frame had to carry, `got`
    /// is what it carried. The book is no longer published; a resync has
    /// been requested.
    Gap {
        /// The id continuity required.
        expected: u64,
        /// The id the frame carried.
        got: u64,
    },
    /// The snapshot does not bridge to the buffered diffs (the first diff
    /// after it does not satisfy `U ≤ lastUpdateId ≤ u`); another snapshot
    /// has been requested.
    SnapshotTooOld {
        /// The snapshot's id.
        snapshot_id: u64,
        /// `U` of the first diff after it.
        first_u: u64,
    },
    /// A level in the frame could not be decoded or applied; the book may
    /// hold part of the frame, so it is no longer published and a resync
    /// has been requested.
    Corrupt(FrameFault),
}

impl SyncOutcome {
    /// `true` when the book was published after this frame.
    #[must_use]
    pub fn published(self) -> bool {
        matches!(self, SyncOutcome::Applied { .. })
    }
}

/// A level that could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameFault {
    /// The level's text was malformed.
    #[error("{0}")]
    Decode(DecodeError),
    /// The book refused the level.
    #[error("{0}")]
    Book(BookError),
    /// A diff with more levels than the whole pending buffer holds.
    #[error("diff larger than the pending-diff buffer")]
    BufferFull,
}

/// Counters every sync machine keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Depth frames applied (published or crossed).
    pub applied: u64,
    /// Snapshots applied.
    pub snapshots: u64,
    /// Frames buffered while waiting for a snapshot.
    pub buffered: u64,
    /// Frames dropped as older than the snapshot.
    pub stale: u64,
    /// Frames dropped while unsynced (not bufferable).
    pub unsynced: u64,
    /// Sequence gaps detected.
    pub gaps: u64,
    /// Corrupt frames (bad levels).
    pub corrupt: u64,
    /// Applied frames after which the book was crossed (not published).
    pub crossed: u64,
    /// Buffered diffs discarded because the buffer was full.
    pub buffer_overflows: u64,
    /// Resyncs requested (new snapshot / re-subscribe).
    pub resyncs: u64,
    /// Snapshots ignored because the live book was already newer.
    pub stale_snapshots: u64,
    /// Snapshots dropped because the stream never caught up with their id.
    pub snapshots_ahead: u64,
    /// Resubscriptions or reconnects reported by the caller
    /// ([`crate::venue::BookSync::restart`]).
    pub restarts: u64,
}

/// Diffs in a row older than the snapshot after which the snapshot is
/// declared ahead of the stream ([`SyncOutcome::SnapshotAhead`]). Binance
/// diff streams send at most one diff per 100 ms (or per event at
/// `@0ms`, tens per second): 256 stale diffs is seconds of a stream that
/// should have bridged within one.
pub const STALE_LIMIT: u32 = 256;

/// Applies every level of one side to the book.
///
/// # Errors
/// The first level that fails to decode or apply; levels before it have
/// been applied.
#[inline]
pub fn apply_levels<const N: usize>(book: &mut Book<N>, side: Side, levels: Levels<'_>) -> Result<(), FrameFault> {
    if let Some(parsed) = levels.parsed_levels() {
        // Levels a venue template already parsed: no decode error is left,
        // so the loop only applies (the common path of a depth frame).
        let ladder = book.side_mut(side);
        for &(price, qty) in parsed {
            ladder.set(Price(price), Qty(qty)).map_err(FrameFault::Book)?;
        }
        return Ok(());
    }
    for level in levels {
        let (price, qty) = level.map_err(FrameFault::Decode)?;
        book.set(side, price, qty).map_err(FrameFault::Book)?;
    }
    Ok(())
}
