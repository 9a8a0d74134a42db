//! Venue protocol code, sans-IO: bytes in, events or bytes out.
//!
//! Nothing under `venue/` touches a socket, a clock or a file. The live
//! engine, the simulator, the backtester and the tests all feed these modules
//! the same bytes (compare rustls' unbuffered client, which likewise only
//! transforms buffers).
//!
//! - [`binance`]: Binance USDⓈ-M futures market streams and REST depth.
//! - [`bybit`]: Bybit v5 linear public streams.

use std::fmt;
use std::str::FromStr;

/// Binance USDⓈ-M protocol code.
pub mod binance;
/// Bybit v5 linear protocol code.
pub mod bybit;
pub mod credentials;
pub mod json_tape;
pub mod private_event;
pub mod rate_limit;
pub mod signed_request;
pub mod wire_writer;

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
