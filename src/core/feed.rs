//! Feeds and their stream bindings.
//!
//! A **feed** is one source of market frames of one venue: a WebSocket
//! connection of the live engine, a recorded file of a replay. Each feed
//! has its own decoder. A **stream** is what was subscribed on it, and it is
//! **bound** to an instrument and a kind when subscribed
//! ([`crate::core::Core::bind`]): `btcusdt@depth@0ms` is
//! `(BTCUSDT, Book(Diff { levels: 0 }))`, `btcusdt@depth20@100ms` is
//! `(BTCUSDT, Book(Partial { levels: 20 }))`, `orderbook.50.BTCUSDT` is
//! `(BTCUSDT, Book(Diff { levels: 50 }))`, `btcusdt@bookTicker` is
//! `(BTCUSDT, Top)`, and so on.
//!
//! # Rules (each counted when broken, the event dropped)
//! - An event is used only if its (instrument, kind) is bound on the feed
//!   it came on. A feed in [`BindMode::Auto`] (a recording, whose
//!   subscriptions nobody wrote down) binds each (instrument, kind) the
//!   first time it sees one, under the same rules.
//! - An instrument has one book stream. A depth frame of any other book
//!   stream of that instrument (a second Bybit `orderbook.N` topic, a
//!   `@depth20` beside `@depth`) is never applied to the book: it would
//!   interleave two different books into one.
//! - A depth frame whose own stream name says something else than its
//!   binding (a `Partial` name on a `Diff` binding, another level count) is
//!   dropped the same way.
//! - A Binance REST snapshot names no symbol: it belongs to the one diff
//!   book bound on its feed (a feed with several is ambiguous; its
//!   snapshots are refused) or is handed in for a named instrument
//!   ([`crate::core::Core::on_rest_snapshot`]). A Bybit snapshot names its
//!   symbol and topic; both must match the binding.

use crate::instrument::{InstrumentId, Venue};

/// Index of a feed in the core (returned by [`crate::core::Core::add_feed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeedId(pub u16);

/// What kind of book stream an instrument's book comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BookKind {
    /// Snapshot then deltas: Binance `@depth` (levels 0, the whole book,
    /// with REST snapshots), Bybit `orderbook.N` (N levels).
    Diff {
        /// Levels of the stream (0: the whole book).
        levels: u16,
    },
    /// Every message is the top `levels` of the book (Binance `@depth5`,
    /// `@depth10`, `@depth20`).
    Partial {
        /// Levels per message.
        levels: u16,
    },
}

/// What a stream carries for its instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// The order book.
    Book(BookKind),
    /// The venue's best bid/offer (Binance `bookTicker`, Bybit `tickers`).
    Top,
    /// Trades (Binance `trade`, Bybit `publicTrade`).
    Trades,
    /// Aggregate trades (Binance `aggTrade`).
    AggTrades,
    /// Mark price and funding (Binance `markPrice`, Bybit `tickers`).
    Mark,
    /// Liquidations (Binance `forceOrder`, Bybit `allLiquidation`).
    Liquidations,
}

impl StreamKind {
    /// Bit of this kind in a feed's per-instrument mask (both book kinds
    /// share one bit: an instrument has one book stream).
    const fn bit(self) -> u8 {
        match self {
            StreamKind::Book(_) => 1,
            StreamKind::Top => 2,
            StreamKind::Trades => 4,
            StreamKind::AggTrades => 8,
            StreamKind::Mark => 16,
            StreamKind::Liquidations => 32,
        }
    }
}

/// How a feed learns its bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// Only what [`crate::core::Core::bind`] bound (the live engine binds
    /// each stream when it subscribes it).
    Strict,
    /// Each (instrument, kind) is bound the first time the feed carries it
    /// (a recording). The book rules still hold.
    Auto,
}

/// The state the engine reports for a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedState {
    /// Connected and (re)subscribed: everything bound on the feed starts
    /// afresh (books resync, sequence marks reset).
    Subscribed,
    /// The connection is gone: its books are dropped until it is back, its
    /// instruments take no new entries and their resting orders are pulled.
    Down,
}

/// Why a binding was refused.
///
/// # Errors
/// From [`crate::core::Core::bind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    /// No such feed.
    #[error("unknown feed")]
    UnknownFeed,
    /// The instrument is not in the core's table, or is of another venue
    /// than the feed.
    #[error("instrument not traded on this feed's venue")]
    WrongInstrument,
    /// The instrument's book is already bound to another stream.
    #[error("the instrument's book is already bound to another stream")]
    SecondBook,
    /// Partial-depth streams exist on Binance only.
    #[error("partial-depth streams exist on Binance only")]
    NoPartialStream,
}

/// One feed.
pub(crate) struct Feed {
    pub(crate) venue: Venue,
    pub(crate) mode: BindMode,
    /// Per instrument: bits of [`StreamKind::bit`] bound here.
    pub(crate) bound: Box<[u8]>,
    pub(crate) up: bool,
    pub(crate) dark: bool,
    pub(crate) last_recv_ns: u64,
    /// Binance diff books bound here (for symbol-less REST snapshots).
    pub(crate) diff_books: u16,
}

impl Feed {
    pub(crate) fn new(venue: Venue, instruments: usize, mode: BindMode) -> Self {
        Self {
            venue,
            mode,
            bound: vec![0; instruments].into_boxed_slice(),
            up: true,
            dark: false,
            last_recv_ns: 0,
            diff_books: 0,
        }
    }

    #[inline]
    pub(crate) fn is_bound(&self, inst: InstrumentId, kind: StreamKind) -> bool {
        self.bound.get(usize::from(inst.0)).is_some_and(|b| b & kind.bit() != 0)
    }

    pub(crate) fn mark_bound(&mut self, inst: InstrumentId, kind: StreamKind) {
        if let Some(b) = self.bound.get_mut(usize::from(inst.0)) {
            *b |= kind.bit();
        }
    }
}

/// Bit masks of [`StreamKind`]s, for callers reading [`Feed::bindings`].
pub(crate) mod bits {
    pub(crate) const BOOK: u8 = super::StreamKind::Book(super::BookKind::Diff { levels: 0 }).bit();
    pub(crate) const TOP: u8 = super::StreamKind::Top.bit();
    pub(crate) const TRADES: u8 = super::StreamKind::Trades.bit() | super::StreamKind::AggTrades.bit();
}
