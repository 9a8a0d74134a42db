//! The core's observation hook: zero cost when unused ([`NoProbe`]).
//!
//! - **Stage timing**: [`Probe::stage`] is called as each stage of one
//!   market event finishes (decode, book apply, signals, strategy, risk
//!   gate), so a latency harness can stamp `quanta::Clock::raw()` at every
//!   boundary. The core never reads a clock itself.
//! - **Observation** ([`Probe::OBSERVES`]): every input the signals fold
//!   in — published books, books lost, trades after de-duplication,
//!   funding, liquidations — with the instrument's snapshot right after it.
//!   The real-data signal tests recompute every signal from this stream.
//!   Snapshots are computed only for a probe that sets `OBSERVES`.

use crate::book::{Book, DEFAULT_LEVELS};
use crate::event::{Liquidation, Trade};
use crate::fixed::Rate;
use crate::instrument::InstrumentId;
use crate::signal::SignalSnapshot;

/// A stage of the market path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The frame was decoded (once per frame, before its event is applied).
    Decoded,
    /// The event was applied to the market state (book, BBO, tape).
    BookApplied,
    /// The signals took the event.
    SignalsUpdated,
    /// The strategy decided (whether or not it wanted an order).
    StrategyDecided,
    /// The risk gate checked the strategy's order and it went out as an
    /// intent (or was refused).
    RiskChecked,
}

/// One input the signals folded in.
#[derive(Clone, Copy)]
pub enum Observation<'a> {
    /// A published (in sync, uncrossed) book at exchange time `ts_ms`.
    Book {
        /// Exchange time, ms.
        ts_ms: i64,
        /// The book.
        book: &'a Book<DEFAULT_LEVELS>,
    },
    /// The book lost continuity (gap, resync, a new snapshot): the next one
    /// starts afresh.
    BookLost,
    /// A new trade (after de-duplication and clock bounding).
    Trade(&'a Trade),
    /// Funding: current rate and next funding time.
    Funding {
        /// Exchange time, ms.
        ts_ms: i64,
        /// Rate.
        rate: Rate,
        /// Next funding time, ms.
        next_ms: i64,
    },
    /// A liquidation.
    Liquidation(&'a Liquidation),
}

impl std::fmt::Debug for Observation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Observation::Book { ts_ms, book } => {
                write!(f, "Book {{ ts_ms: {ts_ms}, bid: {:?}, ask: {:?} }}", book.best_bid(), book.best_ask())
            }
            Observation::BookLost => f.write_str("BookLost"),
            Observation::Trade(t) => write!(f, "Trade({t:?})"),
            Observation::Funding { ts_ms, rate, next_ms } => {
                write!(f, "Funding {{ ts_ms: {ts_ms}, rate: {rate:?}, next_ms: {next_ms} }}")
            }
            Observation::Liquidation(l) => write!(f, "Liquidation({l:?})"),
        }
    }
}

/// The observation hook (module docs). Every method defaults to nothing.
pub trait Probe {
    /// Set to `true` to receive [`Probe::observe`] calls.
    const OBSERVES: bool = false;

    /// `stage` has just finished for the current event.
    #[inline(always)]
    fn stage(&mut self, _stage: Stage) {}

    /// The signals of `inst` folded in `what`; `snapshot` is theirs after it.
    #[inline(always)]
    fn observe(&mut self, _inst: InstrumentId, _what: &Observation<'_>, _snapshot: &SignalSnapshot) {}
}

/// No observation at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProbe;

impl Probe for NoProbe {}
