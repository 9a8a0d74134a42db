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

use std::fmt;
use std::str::FromStr;

pub mod binance;
pub mod bybit;
pub mod credentials;
pub mod infer;
pub mod private_event;
pub mod rate_limit;
pub mod signed_request;
pub mod sync;
pub mod wire_writer;

use crate::book::Book;
use crate::event::{DecodeError, DepthSnapshot, DepthUpdate, InstrumentId, MarketEvent};
use crate::instrument::{InstrumentTable, SymbolTable};
use crate::json::{Backend, BackendChoice, JsonScratch, Val};
use sync::{SyncOutcome, SyncState, SyncStats};

/// A trading venue (exchange and product line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize, serde::Serialize)]
pub enum Venue {
    /// Binance USDⓈ-M perpetual futures.
    #[serde(rename = "binance-usdm")]
    BinanceUsdm,
    /// Bybit v5 linear (USDT) perpetuals.
    #[serde(rename = "bybit-linear")]
    BybitLinear,
}

impl Venue {
    /// Every venue, in a fixed order.
    pub const ALL: [Venue; 2] = [Venue::BinanceUsdm, Venue::BybitLinear];

    /// The name used on the command line and in configuration.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Venue::BinanceUsdm => "binance-usdm",
            Venue::BybitLinear => "bybit-linear",
        }
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The text named no known venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown venue (expected binance-usdm or bybit-linear)")]
pub struct UnknownVenue;

impl FromStr for Venue {
    type Err = UnknownVenue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Venue::ALL.into_iter().find(|v| v.name() == s).ok_or(UnknownVenue)
    }
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
