//! `scalpel run --config tuning/live.toml`: the live engine's settings,
//! typed and validated at load (unknown keys refused, every bad value an
//! error naming its key), and the API keys, read from environment
//! variables or owner-only files and never printed.
//!
//! The sample `tuning/live.toml` documents every key with its default.
//!
//! # Invariants
//! - Nothing secret is kept in [`LiveConfig`]: it names where the keys are
//!   ([`KeySource`]); [`Secrets::load`] reads them, and their `Debug` shows
//!   no key material.
//! - A key file readable by group or others is refused (as `scalpel sign`
//!   does for Ed25519 keys).
//! - `orders.ack_timeout_ms` exceeds every venue's receive window: an
//!   order whose answer was lost is queried only once the venue would
//!   refuse it if it arrived now, so "the venue does not know it" is final.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::instrument::{LoadError, Symbol, Venue};
use crate::net::endpoints::Network;
use crate::venue::credentials::{ApiKey, Credentials, Ed25519Key};
use crate::venue::signed_request::RecvWindow;

/// How orders reach a venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderTransport {
    /// Binance WebSocket API / Bybit trade WebSocket, REST when it is down.
    Ws,
    /// REST only.
    Rest,
}

/// Where a key comes from (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// An environment variable.
    Env(String),
    /// A file readable by its owner only (trailing whitespace trimmed).
    File(PathBuf),
}

/// One venue's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueConfig {
    /// Which venue.
    pub venue: Venue,
    /// Symbols to trade.
    pub symbols: Vec<Symbol>,
    /// Stream kinds (Binance `depth`, `depth@100ms`, `bookTicker`, `trade`,
    /// `aggTrade`, `markPrice`, `markPrice@1s`, `forceOrder`; Bybit
    /// `orderbook.1|50|200|1000`, `publicTrade`, `tickers`, `allLiquidation`).
    pub streams: Vec<String>,
    /// Symbols per market-data connection (a drop resyncs only its own).
    pub symbols_per_connection: usize,
    /// Endpoint overrides (else `tuning/endpoints.toml` for the network).
    pub rest_url: Option<String>,
    /// Stream base override.
    pub ws_url: Option<String>,
    /// Order WebSocket override.
    pub ws_api_url: Option<String>,
    /// Extra trusted CA certificates (PEM).
    pub ca_file: Option<PathBuf>,
    /// Instrument overrides (`[[instrument]]` TOML): they replace what the
    /// venue's metadata says for the same symbols.
    pub instruments: Option<PathBuf>,
    /// The API key.
    pub api_key: Option<KeySource>,
    /// The HMAC secret.
    pub secret: Option<KeySource>,
    /// Binance Ed25519 private key (PKCS#8 PEM, owner-only): the WS API
    /// logs on once (`session.logon`) and orders need no signature.
    pub ed25519_key_file: Option<PathBuf>,
    /// How orders are sent.
    pub order_transport: OrderTransport,
    /// Receive window of signed requests.
    pub recv_window: RecvWindow,
    /// Reconnect a market connection whose stream is silent this long (0: never).
    pub stale_after_ms: u64,
}

/// The hot thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HotConfig {
    /// CPU to pin it to (`None`: not pinned).
    pub core: Option<usize>,
    /// The core's timer period (time stops, entry timeouts, dark feeds).
    pub timer_ms: u64,
    /// Poll with a zero timeout (the live setting). `false` waits up to
    /// 1 ms for readiness instead, sparing a core (tests, demos on small
    /// machines) at the cost of latency.
    pub busy_poll: bool,
}

/// Order accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrdersConfig {
    /// An order or cancel with no answer after this long is queried over REST.
    pub ack_timeout_ms: u64,
    /// A query that got no usable answer is repeated after this long.
    pub query_retry_ms: u64,
    /// An order waiting this long for a busy REST connection is reported
    /// unsent instead of being sent late.
    pub queued_max_age_ms: u64,
    /// After a private (user-data) stream comes back, fetch the venue's
    /// fills since it went down (Binance `userTrades`, Bybit execution
    /// list) so that the ones it missed reach the ledger. On by default;
    /// off only to show what the fetch fixes (tests).
    pub fetch_missed_fills: bool,
    /// The fetch starts this long before the stream went down, ms.
    pub fill_fetch_margin_ms: u64,
}

/// The venues' dead-man switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadmanConfig {
    /// Binance `countdownCancelAll` countdown (0: not armed).
    pub binance_countdown_ms: u64,
    /// How often it is refreshed.
    pub binance_refresh_ms: u64,
    /// Bybit disconnection protection window, seconds (0: not armed; 3–300).
    pub bybit_window_secs: u32,
}

/// Flattening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlattenConfig {
    /// Flatten a symbol with a position whose market data is dark this long (0: never).
    pub dark_after_ms: u64,
    /// On SIGINT/SIGTERM (or `stop`), close positions as well as cancelling orders.
    pub on_exit: bool,
    /// Longest wait for the orders to be cancelled (and positions closed) at exit.
    pub exit_timeout_ms: u64,
}

/// The whole live configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveConfig {
    /// The strategy profile.
    pub profile: PathBuf,
    /// `[risk]` and `[journal]` tables replacing the profile's `[risk]`.
    pub risk_file: Option<PathBuf>,
    /// Mainnet or testnet endpoints.
    pub network: Network,
    /// Another endpoints file than the built-in `tuning/endpoints.toml`.
    pub endpoints_file: Option<PathBuf>,
    /// The journal to create (`{start}` is replaced by the start time, Unix seconds).
    pub journal: PathBuf,
    /// Paper trading: no order reaches a venue.
    pub dry_run: bool,
    /// Flight recorder directory (`{start}` as for the journal).
    pub record: Option<PathBuf>,
    /// Hot thread.
    pub hot: HotConfig,
    /// Order accounting.
    pub orders: OrdersConfig,
    /// Dead-man switches.
    pub deadman: DeadmanConfig,
    /// Flattening.
    pub flatten: FlattenConfig,
    /// Binance listenKey keep-alive period (30–50 min).
    pub listen_key_keepalive_ms: u64,
    /// Binance open-interest poll period (`GET /fapi/v1/openInterest`, off
    /// the hot thread), when the profile's `[gates.open_interest]` is on.
    pub open_interest_poll_ms: u64,
    /// Dry run: delay of the paper exchange's answers.
    pub paper_latency_ms: u64,
    /// Venues.
    pub venues: Vec<VenueConfig>,
    /// `[metrics] listen`: where the Prometheus metrics are served
    /// (`GET /metrics`, [`super::metrics`]); `None`: not served (default).
    /// A loopback address only.
    pub metrics: Option<std::net::SocketAddr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLive {
    profile: String,
    risk_file: Option<String>,
    #[serde(default = "default_network")]
    network: String,
    endpoints: Option<String>,
    #[serde(default = "default_journal")]
    journal: String,
    #[serde(default)]
    dry_run: bool,
    record: Option<String>,
    #[serde(default)]
    hot: RawHot,
    #[serde(default)]
    orders: RawOrders,
    #[serde(default)]
    deadman: RawDeadman,
    #[serde(default)]
    flatten: RawFlatten,
    #[serde(default)]
    listen_key: RawListenKey,
    #[serde(default)]
    open_interest: RawOpenInterest,
    #[serde(default)]
    paper: RawPaper,
    #[serde(default)]
    venue: Vec<RawVenue>,
    #[serde(default)]
    metrics: RawMetrics,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawMetrics {
    listen: Option<String>,
}

fn default_network() -> String {
    "mainnet".into()
}

fn default_journal() -> String {
    "journal-{start}.bin".into()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawHot {
    core: Option<usize>,
    timer_ms: Option<u64>,
    busy_poll: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawOrders {
    ack_timeout_ms: Option<u64>,
    query_retry_ms: Option<u64>,
    queued_max_age_ms: Option<u64>,
    fetch_missed_fills: Option<bool>,
    fill_fetch_margin_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawDeadman {
    binance_countdown_ms: Option<u64>,
    binance_refresh_ms: Option<u64>,
    bybit_window_secs: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawFlatten {
    dark_after_ms: Option<u64>,
    on_exit: Option<bool>,
    exit_timeout_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawListenKey {
    keepalive_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOpenInterest {
    poll_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawPaper {
    latency_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVenue {
    venue: Venue,
    symbols: Vec<String>,
    #[serde(default)]
    streams: Vec<String>,
    symbols_per_connection: Option<usize>,
    rest_url: Option<String>,
    ws_url: Option<String>,
    ws_api_url: Option<String>,
    ca_file: Option<String>,
    instruments: Option<String>,
    api_key_env: Option<String>,
    api_key_file: Option<String>,
    secret_env: Option<String>,
    secret_file: Option<String>,
    ed25519_key_file: Option<String>,
    order_transport: Option<OrderTransport>,
    recv_window_ms: Option<u32>,
    stale_after_ms: Option<u64>,
}

/// Binance stream kinds the engine binds.
pub const BINANCE_STREAMS: &[&str] = &[
    "depth",
    "depth@100ms",
    "depth@250ms",
    "depth@500ms",
    "bookTicker",
    "trade",
    "aggTrade",
    "markPrice",
    "markPrice@1s",
    "forceOrder",
];
/// Bybit stream kinds the engine binds.
pub const BYBIT_STREAMS: &[&str] =
    &["orderbook.1", "orderbook.50", "orderbook.200", "orderbook.1000", "publicTrade", "tickers", "allLiquidation"];
/// Binance streams when none are configured.
pub const BINANCE_DEFAULT_STREAMS: &[&str] = &["depth", "bookTicker", "trade", "markPrice"];
/// Bybit streams when none are configured.
pub const BYBIT_DEFAULT_STREAMS: &[&str] = &["orderbook.50", "publicTrade", "tickers"];

fn err(key: impl Into<String>, problem: impl Into<String>) -> LoadError {
    LoadError::new(key, problem)
}

/// Expands a leading `~/` and resolves a relative path against `base`.
fn resolve(base: &Path, text: &str) -> PathBuf {
    if let Some(rest) = text.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    let p = PathBuf::from(text);
    if p.is_absolute() { p } else { base.join(p) }
}

fn positive(key: &str, value: Option<u64>, default: u64) -> Result<u64, LoadError> {
    let v = value.unwrap_or(default);
    if v == 0 {
        return Err(err(key, "must be positive"));
    }
    Ok(v)
}

impl LiveConfig {
    /// Reads and validates a live configuration; relative paths resolve
    /// against the file's directory.
    ///
    /// # Errors
    /// I/O problems (naming the path) or a [`LoadError`] naming the key.
    pub fn from_file(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|e| err(path.display().to_string(), e.to_string()))?;
        let base = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        Self::from_toml_str(&text, &base).map_err(|e| err(format!("{}: {}", path.display(), e.key), e.problem))
    }

    /// Parses configuration text; relative paths resolve against `base`.
    ///
    /// # Errors
    /// A [`LoadError`] naming the key.
    pub fn from_toml_str(text: &str, base: &Path) -> Result<Self, LoadError> {
        let raw: RawLive = toml::from_str(text).map_err(|e| err("live config", e.message().to_owned()))?;
        let network: Network =
            raw.network.parse().map_err(|e: crate::net::endpoints::EndpointsError| err("network", e.to_string()))?;
        let hot = HotConfig {
            core: raw.hot.core,
            timer_ms: positive("hot.timer_ms", raw.hot.timer_ms, 10)?,
            busy_poll: raw.hot.busy_poll.unwrap_or(true),
        };
        if hot.timer_ms > 1000 {
            return Err(err("hot.timer_ms", "must be at most 1000 (time stops and entry timeouts run on it)"));
        }
        let orders = OrdersConfig {
            ack_timeout_ms: positive("orders.ack_timeout_ms", raw.orders.ack_timeout_ms, 6_000)?,
            query_retry_ms: positive("orders.query_retry_ms", raw.orders.query_retry_ms, 1_000)?,
            queued_max_age_ms: positive("orders.queued_max_age_ms", raw.orders.queued_max_age_ms, 500)?,
            fetch_missed_fills: raw.orders.fetch_missed_fills.unwrap_or(true),
            fill_fetch_margin_ms: raw.orders.fill_fetch_margin_ms.unwrap_or(5_000),
        };
        let deadman = DeadmanConfig {
            binance_countdown_ms: raw.deadman.binance_countdown_ms.unwrap_or(15_000),
            binance_refresh_ms: positive("deadman.binance_refresh_ms", raw.deadman.binance_refresh_ms, 5_000)?,
            bybit_window_secs: raw.deadman.bybit_window_secs.unwrap_or(10),
        };
        if deadman.binance_countdown_ms != 0 && deadman.binance_refresh_ms >= deadman.binance_countdown_ms {
            return Err(err("deadman.binance_refresh_ms", "must be shorter than binance_countdown_ms"));
        }
        if deadman.bybit_window_secs != 0 && !(3..=300).contains(&deadman.bybit_window_secs) {
            return Err(err("deadman.bybit_window_secs", "must be 0 (off) or between 3 and 300 (the venue's range)"));
        }
        let flatten = FlattenConfig {
            dark_after_ms: raw.flatten.dark_after_ms.unwrap_or(3_000),
            on_exit: raw.flatten.on_exit.unwrap_or(true),
            exit_timeout_ms: positive("flatten.exit_timeout_ms", raw.flatten.exit_timeout_ms, 15_000)?,
        };
        let listen_key_keepalive_ms = raw.listen_key.keepalive_ms.unwrap_or(30 * 60_000);
        if !(1_000..=50 * 60_000).contains(&listen_key_keepalive_ms) {
            return Err(err("listen_key.keepalive_ms", "must be between 1000 and 3000000 (the key lives 60 minutes)"));
        }
        let open_interest_poll_ms = raw.open_interest.poll_ms.unwrap_or(5_000);
        if !(200..=600_000).contains(&open_interest_poll_ms) {
            return Err(err("open_interest.poll_ms", "must be between 200 and 600000"));
        }
        if raw.venue.is_empty() {
            return Err(err("venue", "at least one [[venue]] table is required"));
        }
        let mut venues: Vec<VenueConfig> = Vec::new();
        for (n, v) in raw.venue.iter().enumerate() {
            let venue = parse_venue(v, n, base, raw.dry_run)?;
            if venues.iter().any(|x| x.venue == venue.venue) {
                return Err(err(format!("venue[{n}].venue"), "each venue may appear once"));
            }
            if venue.recv_window.ms() as u64 >= orders.ack_timeout_ms {
                return Err(err(
                    "orders.ack_timeout_ms",
                    format!(
                        "must exceed venue[{n}].recv_window_ms ({} ms): a lost order is queried only once the venue would refuse it",
                        venue.recv_window.ms()
                    ),
                ));
            }
            venues.push(venue);
        }
        let metrics = match raw.metrics.listen.as_deref() {
            None => None,
            Some(text) => {
                let addr: std::net::SocketAddr = text.parse().map_err(|_| {
                    err("metrics.listen", format!("{text:?} is not an address:port (e.g. 127.0.0.1:9464)"))
                })?;
                if !addr.ip().is_loopback() {
                    return Err(err(
                        "metrics.listen",
                        "must be a loopback address (positions and PnL are served without authentication)",
                    ));
                }
                Some(addr)
            }
        };
        Ok(Self {
            profile: resolve(base, &raw.profile),
            risk_file: raw.risk_file.as_deref().map(|p| resolve(base, p)),
            network,
            endpoints_file: raw.endpoints.as_deref().map(|p| resolve(base, p)),
            journal: resolve(base, &raw.journal),
            dry_run: raw.dry_run,
            record: raw.record.as_deref().map(|p| resolve(base, p)),
            hot,
            orders,
            deadman,
            flatten,
            listen_key_keepalive_ms,
            open_interest_poll_ms,
            paper_latency_ms: raw.paper.latency_ms.unwrap_or(1),
            venues,
            metrics,
        })
    }
}

fn parse_venue(v: &RawVenue, n: usize, base: &Path, dry_run: bool) -> Result<VenueConfig, LoadError> {
    let key = |k: &str| format!("venue[{n}].{k}");
    if v.symbols.is_empty() {
        return Err(err(key("symbols"), "must name at least one symbol"));
    }
    let mut symbols = Vec::with_capacity(v.symbols.len());
    for s in &v.symbols {
        let sym = Symbol::new_upper(s.as_bytes()).map_err(|e| err(key("symbols"), format!("{s:?}: {e}")))?;
        if symbols.contains(&sym) {
            return Err(err(key("symbols"), format!("{s} appears twice")));
        }
        symbols.push(sym);
    }
    let (known, defaults) = match v.venue {
        Venue::BinanceUsdm => (BINANCE_STREAMS, BINANCE_DEFAULT_STREAMS),
        Venue::BybitLinear => (BYBIT_STREAMS, BYBIT_DEFAULT_STREAMS),
    };
    let streams: Vec<String> =
        if v.streams.is_empty() { defaults.iter().map(|s| (*s).to_owned()).collect() } else { v.streams.clone() };
    let mut books = 0;
    for s in &streams {
        if !known.contains(&s.as_str()) {
            return Err(err(
                key("streams"),
                format!("unknown {} stream kind {s:?} (known: {})", v.venue, known.join(", ")),
            ));
        }
        if s.starts_with("depth") || s.starts_with("orderbook") {
            books += 1;
        }
    }
    if books != 1 {
        return Err(err(key("streams"), "exactly one order book stream is needed (the strategy trades from the book)"));
    }
    let symbols_per_connection = v.symbols_per_connection.unwrap_or(8);
    if symbols_per_connection == 0 {
        return Err(err(key("symbols_per_connection"), "must be positive"));
    }
    let source = |env: &Option<String>, file: &Option<String>, what: &str| -> Result<Option<KeySource>, LoadError> {
        match (env, file) {
            (Some(_), Some(_)) => Err(err(key(what), format!("give {what}_env or {what}_file, not both"))),
            (Some(e), None) => Ok(Some(KeySource::Env(e.clone()))),
            (None, Some(f)) => Ok(Some(KeySource::File(resolve(base, f)))),
            (None, None) => Ok(None),
        }
    };
    let api_key = source(&v.api_key_env, &v.api_key_file, "api_key")?;
    let secret = source(&v.secret_env, &v.secret_file, "secret")?;
    let ed25519_key_file = v.ed25519_key_file.as_deref().map(|p| resolve(base, p));
    if ed25519_key_file.is_some() && v.venue != Venue::BinanceUsdm {
        return Err(err(key("ed25519_key_file"), "Ed25519 keys are a Binance feature; Bybit signs with HMAC"));
    }
    if !dry_run {
        if api_key.is_none() {
            return Err(err(key("api_key_env"), "an API key is required to trade (or set dry_run = true)"));
        }
        if secret.is_none() && ed25519_key_file.is_none() {
            return Err(err(key("secret_env"), "a secret (or, on Binance, ed25519_key_file) is required to trade"));
        }
    }
    let recv_window = RecvWindow::new(v.recv_window_ms.unwrap_or(5_000))
        .map_err(|_| err(key("recv_window_ms"), "must be between 1 and 60000"))?;
    Ok(VenueConfig {
        venue: v.venue,
        symbols,
        streams,
        symbols_per_connection,
        rest_url: v.rest_url.clone(),
        ws_url: v.ws_url.clone(),
        ws_api_url: v.ws_api_url.clone(),
        ca_file: v.ca_file.as_deref().map(|p| resolve(base, p)),
        instruments: v.instruments.as_deref().map(|p| resolve(base, p)),
        api_key,
        secret,
        ed25519_key_file,
        order_transport: v.order_transport.unwrap_or(OrderTransport::Ws),
        recv_window,
        stale_after_ms: v.stale_after_ms.unwrap_or(30_000),
    })
}

/// What the engine signs with, per venue (key material; never printed).
pub enum VenueSecrets {
    /// HMAC key and secret (Binance or Bybit).
    Hmac(Credentials),
    /// Binance Ed25519 key, with the HMAC credentials when also given
    /// (REST requests sign with Ed25519 too; the secret is then unused).
    Ed25519 {
        /// The API key registered with the public key.
        api_key: ApiKey,
        /// The private key.
        key: Ed25519Key,
    },
}

impl std::fmt::Debug for VenueSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VenueSecrets::Hmac(_) => "VenueSecrets::Hmac(<redacted>)",
            VenueSecrets::Ed25519 { .. } => "VenueSecrets::Ed25519(<redacted>)",
        })
    }
}

/// Why a key could not be read. The messages name where the key was
/// looked for, never its value.
///
/// # Errors
/// From [`read_secret`] and [`VenueSecrets::load`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The environment variable is not set or empty.
    #[error("environment variable {0} is not set (or empty)")]
    MissingEnv(String),
    /// The file is readable by group or others.
    #[error("{path}: readable by others (mode {mode:o}); chmod 600 it")]
    NotOwnerOnly {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The file could not be read.
    #[error("{path}: {problem}")]
    Unreadable {
        /// The file.
        path: String,
        /// What happened.
        problem: String,
    },
    /// The text is not a usable key.
    #[error("{0}: not a usable key")]
    Invalid(String),
}

/// Reads a file that only its owner may read.
fn read_owner_only(path: &Path) -> Result<Vec<u8>, SecretError> {
    let unreadable =
        |e: std::io::Error| SecretError::Unreadable { path: path.display().to_string(), problem: e.to_string() };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(SecretError::NotOwnerOnly { path: path.display().to_string(), mode: mode & 0o777 });
        }
    }
    let _ = meta;
    std::fs::read(path).map_err(unreadable)
}

/// Reads one secret from its source (trailing whitespace trimmed).
///
/// # Errors
/// [`SecretError`], naming the variable or file.
pub fn read_secret(source: &KeySource) -> Result<Vec<u8>, SecretError> {
    let mut bytes = match source {
        KeySource::Env(var) => std::env::var(var)
            .ok()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| SecretError::MissingEnv(var.clone()))?
            .into_bytes(),
        KeySource::File(path) => read_owner_only(path)?,
    };
    while bytes.last().is_some_and(u8::is_ascii_whitespace) {
        bytes.pop();
    }
    Ok(bytes)
}

fn where_(source: &KeySource) -> String {
    match source {
        KeySource::Env(v) => format!("${v}"),
        KeySource::File(p) => p.display().to_string(),
    }
}

impl VenueSecrets {
    /// Reads the keys a venue's configuration names (`None` when it names
    /// none: dry run).
    ///
    /// # Errors
    /// [`SecretError`], naming where the key was looked for.
    pub fn load(cfg: &VenueConfig) -> Result<Option<Self>, SecretError> {
        let Some(key_source) = &cfg.api_key else { return Ok(None) };
        let api_key_text = read_secret(key_source)?;
        if let Some(path) = &cfg.ed25519_key_file {
            let pem = read_owner_only(path)?;
            let key = Ed25519Key::from_pkcs8_pem(&pem).map_err(|_| SecretError::Invalid(path.display().to_string()))?;
            let api_key = ApiKey::new(&api_key_text).map_err(|_| SecretError::Invalid(where_(key_source)))?;
            return Ok(Some(VenueSecrets::Ed25519 { api_key, key }));
        }
        let Some(secret_source) = &cfg.secret else { return Ok(None) };
        let secret = read_secret(secret_source)?;
        let creds =
            Credentials::new(&api_key_text, &secret).map_err(|_| SecretError::Invalid(where_(secret_source)))?;
        Ok(Some(VenueSecrets::Hmac(creds)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
profile = "default.toml"
dry_run = true
[[venue]]
venue = "binance-usdm"
symbols = ["BTCUSDT"]
"#;

    #[test]
    fn defaults_and_paths() {
        let c = LiveConfig::from_toml_str(MINIMAL, Path::new("/etc/scalpel")).unwrap();
        assert_eq!(c.profile, PathBuf::from("/etc/scalpel/default.toml"));
        assert_eq!(c.journal, PathBuf::from("/etc/scalpel/journal-{start}.bin"));
        assert_eq!(c.network, Network::Mainnet);
        assert_eq!(c.venues[0].streams, BINANCE_DEFAULT_STREAMS);
        assert_eq!(c.venues[0].order_transport, OrderTransport::Ws);
        assert_eq!(c.orders.ack_timeout_ms, 6_000);
        assert!(c.flatten.on_exit);
        assert_eq!(c.hot.core, None);
        assert!(c.hot.busy_poll);
        assert_eq!(c.metrics, None, "metrics are off by default");
    }

    #[test]
    fn metrics_listen_on_loopback_only() {
        let with = |listen: &str| {
            let text = format!("{MINIMAL}\n[metrics]\nlisten = \"{listen}\"\n");
            LiveConfig::from_toml_str(&text, Path::new("."))
        };
        assert_eq!(with("127.0.0.1:9464").unwrap().metrics, Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(with("[::1]:0").unwrap().metrics, Some("[::1]:0".parse().unwrap()));
        let e = with("0.0.0.0:9464").unwrap_err().to_string();
        assert!(e.contains("metrics.listen") && e.contains("loopback"), "{e}");
        assert!(with("localhost").unwrap_err().to_string().contains("metrics.listen"));
    }

    #[test]
    fn the_sample_configuration_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning");
        let c = LiveConfig::from_file(&dir.join("live.toml")).unwrap();
        assert_eq!(c.profile, dir.join("default.toml"));
        assert_eq!(c.venues.len(), 1);
        assert_eq!(c.venues[0].api_key, Some(KeySource::Env("SCALPEL_BINANCE_API_KEY".into())));
        assert!(!c.dry_run);
    }

    #[test]
    fn errors_name_the_key() {
        let e = |text: &str| LiveConfig::from_toml_str(text, Path::new(".")).unwrap_err().to_string();
        assert!(e(&MINIMAL.replace("dry_run = true", "dry_run = true\nbogus = 1")).contains("bogus"));
        assert!(e(&MINIMAL.replace("dry_run = true", "dry_run = false")).contains("venue[0].api_key_env"));
        assert!(e(&MINIMAL.replace("symbols = [\"BTCUSDT\"]", "symbols = []")).contains("venue[0].symbols"));
        let streams = MINIMAL.replace("symbols = [\"BTCUSDT\"]", "symbols = [\"BTCUSDT\"]\nstreams = [\"trade\"]");
        assert!(e(&streams).contains("exactly one order book stream"));
        let bad =
            MINIMAL.replace("symbols = [\"BTCUSDT\"]", "symbols = [\"BTCUSDT\"]\nstreams = [\"depth\", \"klines\"]");
        assert!(e(&bad).contains("klines"));
        let window = MINIMAL.replace("dry_run = true", "dry_run = true\n[orders]\nack_timeout_ms = 3000");
        assert!(e(&window).contains("orders.ack_timeout_ms"), "{}", e(&window));
        let dcp = MINIMAL.replace("dry_run = true", "dry_run = true\n[deadman]\nbybit_window_secs = 1");
        assert!(e(&dcp).contains("deadman.bybit_window_secs"));
        let ed = MINIMAL
            .replace("binance-usdm", "bybit-linear")
            .replace("symbols = [\"BTCUSDT\"]", "symbols = [\"BTCUSDT\"]\ned25519_key_file = \"k.pem\"");
        assert!(e(&ed).contains("ed25519_key_file"));
        assert!(e(&MINIMAL.replace("dry_run = true", "dry_run = true\nnetwork = \"moon\"")).contains("network"));
    }

    #[test]
    fn secrets_from_env_and_owner_only_files() {
        let dir = std::env::temp_dir().join(format!("scalpel-live-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, "s3cr3t\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = read_secret(&KeySource::File(secret.clone())).unwrap_err();
            assert!(matches!(e, SecretError::NotOwnerOnly { .. }), "{e}");
            assert!(!e.to_string().contains("s3cr3t"));
            std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert_eq!(read_secret(&KeySource::File(secret)).unwrap(), b"s3cr3t");
        let missing = read_secret(&KeySource::Env("SCALPEL_TEST_SURELY_UNSET_VAR".into())).unwrap_err();
        assert_eq!(missing.to_string(), "environment variable SCALPEL_TEST_SURELY_UNSET_VAR is not set (or empty)");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
