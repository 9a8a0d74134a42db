//! Venue endpoints: `tuning/endpoints.toml` (built in, or a file given),
//! one network per run (mainnet or testnet), each URL overridable.
//!
//! Routes appended to the stream base (see the TOML's header for sources):
//! Binance `/public/stream` (depth, bookTicker), `/market/stream`
//! (aggTrade, trade, markPrice, forceOrder), `/private/ws?listenKey=…`;
//! Bybit `/v5/public/linear`, `/v5/private`. A connection on a Binance path
//! with no route silently serves only `/public` streams, so the route is
//! chosen per stream kind by [`binance_route`], never left to the caller.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use super::url::{Url, UrlError};
use crate::venue::Venue;

/// The built-in endpoints file.
pub const BUILTIN: &str = include_str!("../../tuning/endpoints.toml");

/// Mainnet or testnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// Production.
    Mainnet,
    /// The venue's test network.
    Testnet,
}

impl Network {
    /// The table name in the TOML.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
        }
    }
}

impl FromStr for Network {
    type Err = EndpointsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mainnet" => Ok(Network::Mainnet),
            "testnet" => Ok(Network::Testnet),
            _ => Err(EndpointsError::UnknownNetwork(s.to_owned())),
        }
    }
}

/// Why endpoints could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum EndpointsError {
    /// The file could not be read.
    #[error("endpoints file: {0}")]
    Io(#[from] std::io::Error),
    /// The TOML is invalid or has unknown keys.
    #[error("endpoints file: {0}")]
    Toml(String),
    /// The venue/network table is missing.
    #[error("endpoints file has no [{0}] table")]
    Missing(String),
    /// A URL does not parse.
    #[error("endpoint {key}: {error}")]
    Url {
        /// `venue.network.key` or the command-line option.
        key: String,
        /// What is wrong with it.
        error: UrlError,
    },
    /// A URL of the wrong kind (http where ws is wanted or the reverse).
    #[error("endpoint {0}: wrong scheme (rest needs http/https, ws and ws_api need ws/wss)")]
    Scheme(String),
    /// Not mainnet or testnet.
    #[error("unknown network {0:?} (expected mainnet or testnet)")]
    UnknownNetwork(String),
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    rest: String,
    ws: String,
    ws_api: String,
}

/// One venue's endpoints on one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The venue.
    pub venue: Venue,
    /// REST base.
    pub rest: Url,
    /// WebSocket stream base.
    pub ws: Url,
    /// WebSocket order entry.
    pub ws_api: Url,
}

fn parse(key: &str, text: &str, websocket: bool) -> Result<Url, EndpointsError> {
    let url = Url::parse(text).map_err(|error| EndpointsError::Url { key: key.to_owned(), error })?;
    if url.websocket != websocket {
        return Err(EndpointsError::Scheme(key.to_owned()));
    }
    Ok(url)
}

impl Endpoints {
    /// Loads `venue`'s `network` table from `file` (the built-in copy of
    /// `tuning/endpoints.toml` when `None`).
    ///
    /// # Errors
    /// [`EndpointsError`] naming the key at fault.
    pub fn load(file: Option<&Path>, venue: Venue, network: Network) -> Result<Self, EndpointsError> {
        let text = match file {
            Some(p) => std::fs::read_to_string(p)?,
            None => BUILTIN.to_owned(),
        };
        let all: BTreeMap<String, BTreeMap<String, RawSet>> =
            toml::from_str(&text).map_err(|e| EndpointsError::Toml(e.to_string()))?;
        let key = format!("{}.{}", venue.name(), network.name());
        let set =
            all.get(venue.name()).and_then(|v| v.get(network.name())).ok_or(EndpointsError::Missing(key.clone()))?;
        Ok(Self {
            venue,
            rest: parse(&format!("{key}.rest"), &set.rest, false)?,
            ws: parse(&format!("{key}.ws"), &set.ws, true)?,
            ws_api: parse(&format!("{key}.ws_api"), &set.ws_api, true)?,
        })
    }

    /// Replaces the URLs given on the command line.
    ///
    /// # Errors
    /// [`EndpointsError`] naming the option.
    pub fn with_overrides(
        mut self,
        rest: Option<&str>,
        ws: Option<&str>,
        ws_api: Option<&str>,
    ) -> Result<Self, EndpointsError> {
        if let Some(u) = rest {
            self.rest = parse("--rest-url", u, false)?;
        }
        if let Some(u) = ws {
            self.ws = parse("--ws-url", u, true)?;
        }
        if let Some(u) = ws_api {
            self.ws_api = parse("--ws-api-url", u, true)?;
        }
        Ok(self)
    }

    /// The market-data WebSocket URL for a route (Binance) or the public
    /// linear stream (Bybit).
    #[must_use]
    pub fn market_url(&self, route: Route) -> Url {
        match (self.venue, route) {
            (Venue::BinanceUsdm, Route::Public) => self.ws.join("/public/stream"),
            (Venue::BinanceUsdm, Route::Market) => self.ws.join("/market/stream"),
            (Venue::BybitLinear, _) => self.ws.join("/v5/public/linear"),
        }
    }

    /// The private (user data) stream URL: Binance by listenKey, Bybit
    /// `/v5/private` (authenticated with `auth`).
    #[must_use]
    pub fn private_url(&self, listen_key: &str) -> Url {
        match self.venue {
            Venue::BinanceUsdm => self.ws.join(&format!("/private/ws?listenKey={listen_key}")),
            Venue::BybitLinear => self.ws.join("/v5/private"),
        }
    }
}

/// A Binance USDⓈ-M stream route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Route {
    /// `/public`: depth, bookTicker.
    Public,
    /// `/market`: aggTrade, trade, markPrice, forceOrder, kline.
    Market,
}

/// The route a Binance stream name belongs on (`btcusdt@depth@0ms` →
/// public, `btcusdt@aggTrade` → market).
#[must_use]
pub fn binance_route(stream: &str) -> Route {
    let kind = stream.split('@').nth(1).unwrap_or("");
    if kind.starts_with("depth") || kind == "bookTicker" { Route::Public } else { Route::Market }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_loads_for_every_venue_and_network() {
        for venue in Venue::ALL {
            for net in [Network::Mainnet, Network::Testnet] {
                let e = Endpoints::load(None, venue, net).unwrap();
                assert!(e.rest.tls && e.ws.tls && e.ws_api.tls, "{venue} {net:?}");
            }
        }
        let b = Endpoints::load(None, Venue::BinanceUsdm, Network::Mainnet).unwrap();
        assert_eq!(b.market_url(Route::Public).to_string(), "wss://fstream.binance.com/public/stream");
        assert_eq!(b.market_url(Route::Market).to_string(), "wss://fstream.binance.com/market/stream");
        assert_eq!(b.private_url("abc").to_string(), "wss://fstream.binance.com/private/ws?listenKey=abc");
        let y = Endpoints::load(None, Venue::BybitLinear, Network::Mainnet).unwrap();
        assert_eq!(y.market_url(Route::Public).to_string(), "wss://stream.bybit.com/v5/public/linear");
    }

    #[test]
    fn overrides_and_errors_name_the_key() {
        let e = Endpoints::load(None, Venue::BinanceUsdm, Network::Mainnet)
            .unwrap()
            .with_overrides(Some("http://127.0.0.1:8080"), Some("ws://127.0.0.1:9000"), None)
            .unwrap();
        assert_eq!(e.market_url(Route::Public).to_string(), "ws://127.0.0.1:9000/public/stream");
        let err = Endpoints::load(None, Venue::BinanceUsdm, Network::Mainnet)
            .unwrap()
            .with_overrides(None, Some("https://x"), None)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "endpoint --ws-url: wrong scheme (rest needs http/https, ws and ws_api need ws/wss)"
        );
        let dir = std::env::temp_dir().join(format!("scalpel-endpoints-{}", std::process::id()));
        std::fs::write(
            &dir,
            "[binance-usdm.mainnet]\nrest = \"https://a\"\nws = \"wss://b\"\nws_api = \"wss://c\"\nextra = 1\n",
        )
        .unwrap();
        let err = Endpoints::load(Some(&dir), Venue::BinanceUsdm, Network::Mainnet).unwrap_err().to_string();
        std::fs::remove_file(&dir).unwrap();
        assert!(err.contains("extra"), "{err}");
        assert_eq!(binance_route("btcusdt@bookTicker"), Route::Public);
        assert_eq!(binance_route("btcusdt@depth@0ms"), Route::Public);
        assert_eq!(binance_route("btcusdt@trade"), Route::Market);
        assert_eq!(binance_route("btcusdt@forceOrder"), Route::Market);
    }
}
