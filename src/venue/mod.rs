//! Venue protocol code, sans-IO: bytes in, events or bytes out.
//!
//! Nothing under `venue/` touches a socket, a clock or a file. The live
//! engine, the simulator, the backtester and the tests all feed these modules
//! the same bytes (compare rustls' unbuffered client, which likewise only
//! transforms buffers).
//!
//! - [`binance`]: Binance USDⓈ-M futures market streams and REST depth.
//! - [`bybit`]: Bybit v5 linear public streams.
//! - [`infer`]: what a recording holds (venue, symbols, scales) read from
//!   its frames alone, for symbols without an instrument.

pub mod binance;
pub mod bybit;
pub mod credentials;
pub mod infer;
pub mod private_event;
pub mod rate_limit;
pub mod signed_request;
pub mod sync;
pub mod wire_writer;

/// The venue enum lives with the instruments (an instrument is a venue and a
/// symbol), below every protocol module; re-exported here where callers look.
pub use crate::instrument::{UnknownVenue, Venue};

use crate::book::Book;
use crate::event::{DecodeError, DepthSnapshot, DepthUpdate, InstrumentId, MarketEvent};
use crate::instrument::{InstrumentTable, SymbolTable};
use crate::json::{Backend, BackendChoice, JsonScratch, Val};
use sync::{SyncOutcome, SyncState, SyncStats};

/// Frames [`detect_venue`] reads from the start of a recording.
pub const DETECT_FRAMES: usize = 200;

/// How many of `frames` (the first [`DETECT_FRAMES`]) each venue's decoder
/// turns into a market event (not an error, not an ignored message), with
/// that venue's instruments; in the order `tables` gives.
#[must_use]
pub fn venue_scores(frames: &[&[u8]], tables: &[(Venue, &InstrumentTable)]) -> Vec<(Venue, usize)> {
    let mut scratch = JsonScratch::default();
    let mut buf = Vec::new();
    tables
        .iter()
        .map(|&(venue, table)| {
            let decoder = Decoder::new(venue, table);
            let understood = frames
                .iter()
                .take(DETECT_FRAMES)
                .filter(|frame| {
                    buf.clear();
                    buf.extend_from_slice(frame);
                    decoder.decode_frame(
                        &mut scratch,
                        &mut buf,
                        |e| matches!(e, Ok(e) if !matches!(e, MarketEvent::Ignored(_))),
                    )
                })
                .count();
            (venue, understood)
        })
        .collect()
}

/// The venue whose decoder understands most of a recording's first frames
/// (see [`venue_scores`]); `None` when neither understands any.
#[must_use]
pub fn detect_venue(frames: &[&[u8]], tables: &[(Venue, &InstrumentTable)]) -> Option<Venue> {
    let mut best = (0usize, None);
    for (venue, understood) in venue_scores(frames, tables) {
        if understood > best.0 {
            best = (understood, Some(venue));
        }
    }
    best.1
}

/// A market-data decoder for one venue.
#[derive(Debug, Clone)]
pub enum Decoder {
    /// Binance USDⓈ-M.
    Binance(binance::BinanceDecoder),
    /// Bybit v5 linear.
    Bybit(bybit::BybitDecoder),
}

impl Decoder {
    /// A decoder for the instruments of `venue` in `table`.
    #[must_use]
    pub fn new(venue: Venue, table: &InstrumentTable) -> Self {
        let symbols = SymbolTable::for_venue(table, venue);
        match venue {
            Venue::BinanceUsdm => Decoder::Binance(binance::BinanceDecoder::new(symbols)),
            Venue::BybitLinear => Decoder::Bybit(bybit::BybitDecoder::new(symbols)),
        }
    }

    /// The venue.
    #[must_use]
    pub fn venue(&self) -> Venue {
        match self {
            Decoder::Binance(_) => Venue::BinanceUsdm,
            Decoder::Bybit(_) => Venue::BybitLinear,
        }
    }

    /// The decoder's instruments.
    #[must_use]
    pub fn symbols(&self) -> &SymbolTable {
        match self {
            Decoder::Binance(d) => d.symbols(),
            Decoder::Bybit(d) => d.symbols(),
        }
    }

    /// Decodes a parsed frame.
    ///
    /// # Errors
    /// See the venue decoders.
    #[inline]
    pub fn decode<'a>(&self, root: Val<'a>) -> Result<MarketEvent<'a>, DecodeError> {
        match self {
            Decoder::Binance(d) => d.decode(root),
            Decoder::Bybit(d) => d.decode(root),
        }
    }

    /// Parses and decodes one frame in place and hands the event to `f`.
    #[inline]
    pub fn decode_frame<R>(
        &self,
        scratch: &mut JsonScratch,
        frame: &mut [u8],
        f: impl for<'x> FnOnce(Result<MarketEvent<'x>, DecodeError>) -> R,
    ) -> R {
        self.decode_frame_with(scratch, frame, BackendChoice::Auto, |ev, _| f(ev))
    }

    /// [`Decoder::decode_frame`] with an explicit backend choice; `f` also
    /// learns which backend parsed the frame.
    #[inline]
    pub fn decode_frame_with<R>(
        &self,
        scratch: &mut JsonScratch,
        frame: &mut [u8],
        choice: BackendChoice,
        f: impl for<'x> FnOnce(Result<MarketEvent<'x>, DecodeError>, Backend) -> R,
    ) -> R {
        if choice == BackendChoice::Auto {
            let index = scratch.level_index();
            let fast = match self {
                Decoder::Binance(d) => binance::fast::decode(frame, d.symbols(), index),
                Decoder::Bybit(d) => bybit::fast::decode(frame, d.symbols(), index),
            };
            if let Some(event) = fast {
                return f(Ok(event), Backend::Template);
            }
        }
        scratch.parse_with(frame, choice, |root, backend| {
            let event = match root {
                Ok(root) => self.decode(root),
                Err(_) => Err(DecodeError::InvalidJson),
            };
            f(event, backend)
        })
    }

    /// Which instrument symbol-less snapshots (Binance REST depth) are
    /// decoded for (always `None` on Bybit, whose snapshots name their symbol).
    #[must_use]
    pub fn snapshot_instrument(&self) -> Option<InstrumentId> {
        match self {
            Decoder::Binance(d) => d.snapshot_instrument(),
            Decoder::Bybit(_) => None,
        }
    }

    /// Which instrument symbol-less snapshots (Binance REST depth) belong to.
    /// Bybit snapshots name their symbol; this is a no-op there.
    pub fn set_snapshot_instrument(&mut self, inst: Option<InstrumentId>) {
        if let Decoder::Binance(d) = self {
            d.set_snapshot_instrument(inst);
        }
    }
}

/// A book sync state machine for one symbol on either venue.
pub enum BookSync<const N: usize> {
    /// Binance rules (buffer, snapshot, `U`/`u`/`pu`).
    Binance(binance::BinanceBookSync<N>),
    /// Bybit rules (snapshot, consecutive `u`).
    Bybit(bybit::BybitBookSync<N>),
}

impl<const N: usize> BookSync<N> {
    /// A machine for `venue` and prices on the grid of `tick`, waiting for
    /// its first snapshot.
    #[must_use]
    pub fn new(venue: Venue, tick: crate::fixed::Price) -> Self {
        match venue {
            Venue::BinanceUsdm => {
                BookSync::Binance(binance::BinanceBookSync::new(tick, binance::PendingDiffs::new(2_048, 262_144)))
            }
            Venue::BybitLinear => BookSync::Bybit(bybit::BybitBookSync::new(tick)),
        }
    }

    /// Feeds an incremental update.
    #[inline]
    pub fn on_diff(&mut self, diff: &DepthUpdate<'_>, report: impl FnMut(&Book<N>, SyncOutcome)) {
        match self {
            BookSync::Binance(s) => s.on_diff(diff, report),
            BookSync::Bybit(s) => s.on_diff(diff, report),
        }
    }

    /// Feeds a snapshot.
    #[inline]
    pub fn on_snapshot(&mut self, snap: &DepthSnapshot<'_>, report: impl FnMut(&Book<N>, SyncOutcome)) {
        match self {
            BookSync::Binance(s) => s.on_snapshot(snap, report),
            BookSync::Bybit(s) => s.on_snapshot(snap, report),
        }
    }

    /// The book.
    #[must_use]
    pub fn book(&self) -> &Book<N> {
        match self {
            BookSync::Binance(s) => s.book(),
            BookSync::Bybit(s) => s.book(),
        }
    }

    /// Current state.
    #[must_use]
    pub fn state(&self) -> SyncState {
        match self {
            BookSync::Binance(s) => s.state(),
            BookSync::Bybit(s) => s.state(),
        }
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> SyncStats {
        match self {
            BookSync::Binance(s) => s.stats(),
            BookSync::Bybit(s) => s.stats(),
        }
    }

    /// The stream was resubscribed or its connection replaced: the book is
    /// dropped until a new snapshot arrives (see the machines' `restart`).
    pub fn restart(&mut self) {
        match self {
            BookSync::Binance(s) => s.restart(),
            BookSync::Bybit(s) => s.restart(),
        }
    }

    /// Binds a Binance machine to a partial-depth stream (every message a
    /// whole book) or back to the diff stream; Bybit's `orderbook.N` topics
    /// are all snapshot-and-delta streams, so this is a no-op there.
    pub fn set_partial(&mut self, partial: bool) {
        if let BookSync::Binance(s) = self {
            s.set_partial(partial);
        }
    }

    /// Update id of the last applied update (0 before the first).
    #[must_use]
    pub fn last_id(&self) -> u64 {
        match self {
            BookSync::Binance(s) => s.last_id(),
            BookSync::Bybit(s) => s.last_id(),
        }
    }

    /// `true` once if a resync (new snapshot / re-subscribe) is wanted.
    pub fn take_resync_request(&mut self) -> bool {
        match self {
            BookSync::Binance(s) => s.take_resync_request(),
            BookSync::Bybit(s) => s.take_resync_request(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venue_names_round_trip() {
        for venue in Venue::ALL {
            assert_eq!(venue.name().parse::<Venue>(), Ok(venue));
        }
        assert_eq!("binance".parse::<Venue>(), Err(UnknownVenue));
    }
}
