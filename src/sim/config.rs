//! What a simulator run is told: venue, market input, listen address,
//! accounts, order latency, heartbeat rules, rate limits and faults.
//!
//! Every duration here is a plain [`Duration`]; the command line
//! (`scalpel sim`) parses text such as `250ms`, `3m` or `24h` with
//! [`parse_duration`]. Defaults are the venues' own published values
//! (sources on each field); tests shorten them to run in seconds.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::backtest::config::FillModel;
use crate::fixed::Notional;
use crate::instrument::{InstrumentTable, Symbol};
use crate::venue::Venue;
use crate::venue::credentials::{ApiKey, Credentials};

use super::faults::FaultPlan;

/// Where the market comes from.
#[derive(Debug, Clone)]
pub enum MarketInput {
    /// Recordings in the replay format (`<local_ts_ns> <frame>` per line,
    /// plain or gzip), merged by their receive timestamps. All must be of
    /// the simulator's venue.
    Recordings(Vec<PathBuf>),
    /// A synthetic session per symbol (`scalpel synth`'s generator), seeds
    /// `seed`, `seed + 1`, … in symbol order, starting at the wall clock.
    Synthetic {
        /// Seed of the first symbol.
        seed: u64,
        /// Instruments from the built-in table (BTCUSDT, ETHUSDT).
        symbols: Vec<Symbol>,
        /// Session length, seconds of exchange time.
        duration_s: f64,
    },
}

/// One account the simulator accepts orders for.
#[derive(Clone)]
pub struct AccountSpec {
    /// The API key clients send, and the HMAC-SHA256 secret it signs with
    /// (keyed once; the secret text itself is not kept). `None` for an
    /// Ed25519-only key.
    pub hmac: Option<Credentials>,
    /// The API key text (also the key of an Ed25519-only account).
    pub api_key: ApiKey,
    /// An Ed25519 public key registered for the same API key (Binance
    /// `session.logon` and Ed25519-signed requests).
    pub ed25519: Option<ed25519_dalek::VerifyingKey>,
}

impl std::fmt::Debug for AccountSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSpec")
            .field("api_key", &self.api_key)
            .field("hmac", &self.hmac.is_some())
            .field("ed25519", &self.ed25519.is_some())
            .finish()
    }
}

/// Connection keep-alive rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// Binance: the server pings every 3 minutes
    /// (<https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams>).
    pub ping_interval: Duration,
    /// Binance: no pong for 10 minutes closes the connection (same page).
    pub pong_timeout: Duration,
    /// Bybit: a connection that sends no `{"op":"ping"}` (nor anything else)
    /// for this long is closed; clients are told to ping every 20 s
    /// (<https://bybit-exchange.github.io/docs/v5/ws/connect>). Bybit's
    /// private `max_active_time` defaults to 10 minutes.
    pub idle_timeout: Duration,
    /// Both venues close a connection after 24 hours.
    pub max_connection_age: Duration,
}

impl Heartbeat {
    /// The venues' published values.
    pub const VENUE: Self = Self {
        ping_interval: Duration::from_secs(180),
        pong_timeout: Duration::from_secs(600),
        idle_timeout: Duration::from_secs(600),
        max_connection_age: Duration::from_secs(24 * 3600),
    };
}

/// Request limits (the venues' published defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Binance `REQUEST_WEIGHT` per minute per IP (2400).
    pub binance_weight_per_min: u32,
    /// Binance `ORDERS` per 10 s per account (300).
    pub binance_orders_per_10s: u32,
    /// Binance `ORDERS` per minute per account (1200).
    pub binance_orders_per_min: u32,
    /// How long a Binance IP ban (HTTP 418) lasts after requests continue
    /// past a 429 (the venue starts at 2 minutes).
    pub binance_ban: Duration,
    /// Bybit order requests per second per account and endpoint (10 for
    /// linear `create` / `cancel` at the default tier).
    pub bybit_orders_per_s: u32,
    /// Bybit requests per 5 s per IP before HTTP 403 (600).
    pub bybit_ip_per_5s: u32,
    /// How long Bybit blocks an IP after that (10 minutes).
    pub bybit_ip_ban: Duration,
    /// Largest `recvWindow` / `X-BAPI-RECV-WINDOW` accepted (Binance
    /// 60000 ms).
    pub max_recv_window_ms: u64,
}

impl Limits {
    /// The venues' published values.
    pub const VENUE: Self = Self {
        binance_weight_per_min: 2400,
        binance_orders_per_10s: 300,
        binance_orders_per_min: 1200,
        binance_ban: Duration::from_secs(120),
        bybit_orders_per_s: 10,
        bybit_ip_per_5s: 600,
        bybit_ip_ban: Duration::from_secs(600),
        max_recv_window_ms: 60_000,
    };
}

/// A whole simulator configuration.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Which venue's protocols to speak.
    pub venue: Venue,
    /// The market.
    pub input: MarketInput,
    /// Replay speed: 1 is real pace, 10 ten times faster.
    pub speed: f64,
    /// Address to listen on (port 0: the system picks one).
    pub listen: SocketAddr,
    /// Accounts, each with its own positions and balances.
    pub accounts: Vec<AccountSpec>,
    /// Instruments served (exchangeInfo / instruments-info) and traded.
    pub instruments: InstrumentTable,
    /// Time from reading an order request to matching it.
    pub order_latency: Duration,
    /// The backtest's fill model for resting orders.
    pub fill_model: FillModel,
    /// Starting USDT wallet balance of every account.
    pub initial_balance: Notional,
    /// Leverage every position is margined at (initial margin = notional /
    /// leverage).
    pub leverage: u32,
    /// Keep-alive rules.
    pub heartbeat: Heartbeat,
    /// Request limits.
    pub limits: Limits,
    /// Faults to inject.
    pub faults: FaultPlan,
    /// Seed of every fault decision.
    pub fault_seed: u64,
    /// Where to write the CA certificate (PEM); `None`: a fresh directory
    /// under the system's temporary directory.
    pub ca_out: Option<PathBuf>,
    /// How many latency stamps of each kind to keep (oldest dropped first).
    pub stamp_capacity: usize,
    /// Serve `ws://` and `http://` without TLS (tests only: the engine's
    /// allocation test measures the plain-TCP path while rustls 0.23's
    /// record path allocates; `scalpel sim` always serves TLS).
    pub plaintext: bool,
}

impl SimConfig {
    /// A configuration with the venues' defaults: real pace, loopback with
    /// a system-chosen port, no accounts, 1 ms order latency, 10 000 USDT
    /// per account at 20× leverage, no faults. `instruments` are the
    /// instruments served and traded (the command line passes the built-in
    /// table or `--instruments FILE`).
    #[must_use]
    pub fn new(venue: Venue, input: MarketInput, instruments: InstrumentTable) -> Self {
        Self {
            venue,
            input,
            speed: 1.0,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            accounts: Vec::new(),
            instruments,
            order_latency: Duration::from_millis(1),
            fill_model: FillModel::TradeThrough,
            initial_balance: Notional(10_000 * 100_000_000),
            leverage: 20,
            heartbeat: Heartbeat::VENUE,
            limits: Limits::VENUE,
            faults: FaultPlan::default(),
            fault_seed: 1,
            ca_out: None,
            stamp_capacity: 1 << 20,
            plaintext: false,
        }
    }
}

/// A duration's text was not understood.
///
/// # Errors
/// Returned by [`parse_duration`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad duration {0:?} (expected a number with a unit: 500ms, 2s, 3m, 24h)")]
pub struct BadDuration(pub String);

/// Parses `250ms`, `1.5s`, `3m`, `24h` (a bare number is seconds).
///
/// # Errors
/// [`BadDuration`] for anything else, or a negative or non-finite value.
pub fn parse_duration(text: &str) -> Result<Duration, BadDuration> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let value: f64 = num.parse().map_err(|_| BadDuration(text.to_owned()))?;
    let secs = match unit {
        "ns" => value / 1e9,
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(BadDuration(text.to_owned())),
    };
    if !(0.0..=1e9).contains(&secs) {
        return Err(BadDuration(text.to_owned()));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("3m"), Ok(Duration::from_secs(180)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }
}
