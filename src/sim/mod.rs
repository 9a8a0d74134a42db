//! `scalpel sim`: a local exchange that speaks Binance USDⓈ-M's or Bybit
//! v5 linear's real protocols over TLS on loopback, so that the engine,
//! ccxt or any bot can be tested, demonstrated and measured against it.
//!
//! ```text
//!  recording / synthetic session ──► feed thread (real pace × speed)
//!        │ frames, byte for byte                  │ applies each frame to
//!        ▼                                        ▼
//!  connections' queues ◄── publish ◄──  Exchange: server book (our decoders + sync machines),
//!  (writer task per socket: TLS, fastwebsockets)   per account the backtest's SimExchange,
//!        ▲                                         order records, positions, wallet
//!  REST / WS API / trade WS requests ─► verify signature, time, limits ─► place / cancel
//!                                                   │ account events
//!                                                   ▼
//!                           user-data streams (Binance /private, Bybit /v5/private)
//! ```
//!
//! - Market data is replayed exactly as recorded or generated (the venue's
//!   frame text); the simulator keeps its own book of it with the same
//!   sync machines the engine uses, so REST depth snapshots carry update ids
//!   consistent with the stream.
//! - Orders are matched by [`crate::backtest::exchange::SimExchange`], the
//!   backtest's fill model, one per account, after a configurable order
//!   latency; acks and fills go out in the venues' formats.
//! - [`faults`] injects, counts and logs what goes wrong on real links;
//!   [`stamps`] keeps wire timestamps for wire-to-wire latency.
//!
//! # Library use
//!
//! [`Simulator::start`] runs everything on background threads (its own
//! tokio runtime) and returns the URLs and the CA to point a client at;
//! [`Simulator::stop`] (or dropping it) shuts it down and returns the final
//! [`SimReport`].

pub mod binance;
pub mod bybit;
pub mod config;
pub mod exchange;
pub mod faults;
pub mod feed;
pub mod json;
pub mod request;
pub mod server;
pub mod stamps;
pub mod tls;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use config::{AccountSpec, Heartbeat, Limits, MarketInput, SimConfig, parse_duration};
pub use faults::{FaultEvent, FaultKind, FaultPlan};
pub use stamps::{FrameStamp, OrderStamp, PublishedFrame};

use crate::venue::Venue;
use exchange::Exchange;
use feed::Feed;
use server::{Core, Registry, Shared};

/// Why the simulator could not start.
///
/// # Errors
/// Returned by [`Simulator::start`].
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The market input could not be opened.
    #[error("{0}")]
    Feed(#[from] feed::FeedError),
    /// TLS material could not be made or written.
    #[error("{0}")]
    Tls(#[from] tls::TlsError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source} (is the port in use?)")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        source: std::io::Error,
    },
    /// The async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// A configuration value is out of range.
    #[error("{0}")]
    Config(String),
}

/// The URLs a client passes to reach this simulator (the option names of
/// `scalpel run` / `scalpel record`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SimUrls {
    /// The address actually listened on.
    pub listen: SocketAddr,
    /// `--rest-url`: `https://127.0.0.1:PORT`.
    pub rest_url: String,
    /// `--ws-url`: the stream base (`wss://127.0.0.1:PORT`; Binance clients
    /// append `/public`, `/market`, `/private`; Bybit `/v5/public/linear`,
    /// `/v5/private`).
    pub ws_url: String,
    /// `--ws-api-url`: Binance WebSocket API (`…/ws-fapi/v1`) or Bybit trade
    /// WebSocket (`…/v5/trade`).
    pub ws_api_url: String,
    /// Counters as JSON: `https://127.0.0.1:PORT/sim/stats`.
    pub stats_url: String,
}

/// A running simulator.
pub struct Simulator {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    feed: Option<std::thread::JoinHandle<()>>,
    urls: SimUrls,
    ca_file: PathBuf,
    tls: tls::TlsMaterial,
    feed_labels: Vec<String>,
    final_report: Mutex<Option<SimReport>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator").field("urls", &self.urls).field("ca_file", &self.ca_file).finish()
    }
}

/// Everything the simulator counted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SimReport {
    /// The venue.
    pub venue: Venue,
    /// Seconds since start.
    pub uptime_s: f64,
    /// The replay reached the end of its input.
    pub feed_done: bool,
    /// Frames applied before publication started.
    pub preroll_frames: u64,
    /// Frames published.
    pub frames_published: u64,
    /// Market frames written to connections.
    pub frames_written: u64,
    /// Market frames withheld from stalled connections.
    pub frames_stalled: u64,
    /// Live connections now.
    pub connections_open: usize,
    /// Connection and request counters.
    pub counters: BTreeMap<&'static str, u64>,
    /// Faults injected per kind (every kind listed).
    pub faults_injected: BTreeMap<&'static str, u64>,
    /// Fault log entries that fell off the bounded log.
    pub fault_log_dropped: u64,
    /// Venue error codes returned, with counts.
    pub errors: BTreeMap<String, u64>,
    /// The exchange core's counters.
    pub exchange: exchange::ExchangeCounters,
    /// Latency stamps dropped because a ring was full.
    pub stamps: stamps::StampCounts,
    /// Per account: wallet balance (USDT) and net positions.
    pub accounts: Vec<AccountReport>,
}

/// One account's state in the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccountReport {
    /// Wallet balance, USDT (decimal text).
    pub wallet: String,
    /// Open orders.
    pub open_orders: usize,
    /// Net positions by symbol (decimal text, negative short).
    pub positions: BTreeMap<String, String>,
    /// Leverage by symbol (the configured one unless the account set its own).
    pub leverage: BTreeMap<String, i64>,
}

fn report(shared: &Shared) -> SimReport {
    let s = &shared.stats;
    let ld = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let counters: BTreeMap<&'static str, u64> = [
        ("ws_opened", ld(&s.ws_opened)),
        ("ws_closed", ld(&s.ws_closed)),
        ("http_requests", ld(&s.http_requests)),
        ("unknown_paths", ld(&s.unknown_paths)),
        ("slow_consumer_closes", ld(&s.slow_consumer_closes)),
        ("pings_sent", ld(&s.pings_sent)),
        ("pong_timeouts", ld(&s.pong_timeouts)),
        ("idle_closes", ld(&s.idle_closes)),
        ("age_closes", ld(&s.age_closes)),
        ("message_rate_closes", ld(&s.message_rate_closes)),
        ("unknown_listen_keys", ld(&s.unknown_listen_keys)),
        ("bad_signatures", ld(&s.bad_signatures)),
        ("bad_timestamps", ld(&s.bad_timestamps)),
        ("rate_limited", ld(&s.rate_limited)),
        ("banned_requests", ld(&s.banned_requests)),
        ("order_requests", ld(&s.order_requests)),
        ("cancel_requests", ld(&s.cancel_requests)),
        ("private_messages", ld(&s.private_messages)),
        ("bad_client_messages", ld(&s.bad_client_messages)),
        ("tls_failures", ld(&s.tls_failures)),
    ]
    .into_iter()
    .collect();
    let faults_injected = shared.faults.counts().into_iter().map(|(k, n)| (k.name(), n)).collect();
    let errors = shared.errors.lock().map(|e| e.iter().map(|(c, n)| (c.to_string(), *n)).collect()).unwrap_or_default();
    let (exchange, accounts) = {
        let core = shared.core();
        let accounts = (0..core.ex.accounts())
            .map(|a| AccountReport {
                wallet: json::trimmed(core.ex.wallet(a), crate::fixed::E8),
                open_orders: core.ex.orders_of(a, None).filter(|o| o.status.is_open()).count(),
                positions: core
                    .ex
                    .venue_instruments()
                    .map(|(i, inst)| {
                        (inst.symbol.to_string(), json::trimmed(core.ex.position(a, i).qty, inst.qty_scale))
                    })
                    .collect(),
                leverage: core
                    .ex
                    .venue_instruments()
                    .map(|(i, inst)| (inst.symbol.to_string(), core.ex.leverage_of(a, i)))
                    .collect(),
            })
            .collect();
        (core.ex.counters(), accounts)
    };
    SimReport {
        venue: shared.venue,
        uptime_s: shared.elapsed().as_secs_f64(),
        feed_done: s.feed_done.load(Ordering::Relaxed),
        preroll_frames: ld(&s.preroll_frames),
        frames_published: ld(&s.frames_published),
        frames_written: ld(&s.frames_written),
        frames_stalled: ld(&s.frames_stalled),
        connections_open: shared.reg().conns.len(),
        counters,
        faults_injected,
        fault_log_dropped: shared.faults.log().1,
        errors,
        exchange,
        stamps: shared.stamps.counts(),
        accounts,
    }
}

/// The report as JSON (the `/sim/stats` body).
pub(crate) fn report_json(shared: &Shared) -> String {
    serde_json::to_string(&report(shared)).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

impl Simulator {
    /// Starts a simulator on background threads.
    ///
    /// # Errors
    /// [`SimError`]: a bad configuration value, an unreadable input, a port
    /// in use, TLS material that could not be written.
    pub fn start(config: SimConfig) -> Result<Self, SimError> {
        if !(config.speed.is_finite() && config.speed > 0.0) {
            return Err(SimError::Config(format!("--speed must be a positive number (got {})", config.speed)));
        }
        if config.leverage == 0 {
            return Err(SimError::Config("--leverage must be at least 1".into()));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("scalpel-sim")
            .enable_all()
            .build()
            .map_err(SimError::Runtime)?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(config.listen))
            .map_err(|source| SimError::Listen { addr: config.listen, source })?;
        let listen = listener.local_addr().map_err(|source| SimError::Listen { addr: config.listen, source })?;
        let tls = tls::TlsMaterial::generate(Some(listen.ip()))?;
        let (feed, anchor_ns) = match &config.input {
            MarketInput::Recordings(paths) => (Feed::recordings(config.venue, paths)?, None),
            MarketInput::Synthetic { seed, symbols, duration_s } => {
                let start_ms = stamps::unix_ms();
                let feed = Feed::synthetic(config.venue, symbols, *seed, *duration_s, start_ms)?;
                (feed, Some(u64::try_from(start_ms).unwrap_or(0) * 1_000_000))
            }
        };
        let feed_labels = feed.labels().to_vec();
        let ca_file = config.ca_out.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("scalpel-sim-{}-{}", std::process::id(), listen.port())).join("ca.pem")
        });
        tls.write_ca(&ca_file)?;
        let host = if listen.ip().is_unspecified() { "127.0.0.1".to_owned() } else { listen.ip().to_string() };
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        let base = format!("{host}:{}", listen.port());
        let (http, ws) = if config.plaintext { ("http", "ws") } else { ("https", "wss") };
        let urls = SimUrls {
            listen,
            rest_url: format!("{http}://{base}"),
            ws_url: format!("{ws}://{base}"),
            ws_api_url: match config.venue {
                Venue::BinanceUsdm => format!("{ws}://{base}/ws-fapi/v1"),
                Venue::BybitLinear => format!("{ws}://{base}/v5/trade"),
            },
            stats_url: format!("{http}://{base}/sim/stats"),
        };
        let ex = Exchange::new(
            config.venue,
            config.instruments.clone(),
            &config.accounts,
            config.fill_model,
            config.initial_balance,
            config.leverage,
        );
        let n_sources = feed.labels().len();
        let shared = Arc::new(Shared {
            venue: config.venue,
            core: Mutex::new(Core {
                ex,
                bybit_tickers: std::collections::HashMap::new(),
                source_depth_inst: vec![None; n_sources],
                bybit_source_depth: std::collections::HashMap::new(),
                bybit_derived: std::collections::HashMap::new(),
                seq: 0,
            }),
            reg: Mutex::new(Registry::default()),
            faults: faults::FaultInjector::new(config.faults.clone(), config.fault_seed),
            stamps: stamps::Stamps::new(config.stamp_capacity),
            stats: server::Stats::default(),
            started: Instant::now(),
            stop: std::sync::atomic::AtomicBool::new(false),
            stop_notify: tokio::sync::Notify::new(),
            next_conn: std::sync::atomic::AtomicU64::new(1),
            rt: runtime.handle().clone(),
            binance: binance::VenueState::default(),
            bybit: bybit::VenueState::default(),
            rest_cursor: Mutex::new(faults::FaultCursor::new()),
            errors: Mutex::new(BTreeMap::new()),
            unknown_seen: Mutex::new(std::collections::HashSet::new()),
            cfg: config,
        });
        let server_config = if shared.cfg.plaintext { None } else { Some(tls.server_config()?) };
        runtime.spawn(server::accept_loop(shared.clone(), listener, server_config));
        runtime.spawn(server::ticker(shared.clone()));
        let feed_shared = shared.clone();
        let feed = std::thread::Builder::new()
            .name("scalpel-sim-feed".into())
            .spawn(move || server::feed_thread(feed_shared, feed, anchor_ns))
            .map_err(SimError::Runtime)?;
        Ok(Self {
            shared,
            runtime: Some(runtime),
            feed: Some(feed),
            urls,
            ca_file,
            tls,
            feed_labels,
            final_report: Mutex::new(None),
        })
    }

    /// The URLs to point a client at.
    #[must_use]
    pub fn urls(&self) -> &SimUrls {
        &self.urls
    }

    /// The venue.
    #[must_use]
    pub fn venue(&self) -> Venue {
        self.shared.venue
    }

    /// The CA certificate file (PEM) clients must trust.
    #[must_use]
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The CA certificate, PEM.
    #[must_use]
    pub fn ca_pem(&self) -> &str {
        &self.tls.ca_pem
    }

    /// A rustls client configuration that trusts this simulator (ring).
    ///
    /// # Errors
    /// [`tls::TlsError`] (never for material this simulator made).
    pub fn client_tls_config(&self) -> Result<Arc<rustls::ClientConfig>, tls::TlsError> {
        self.tls.client_config()
    }

    /// What the market input is.
    #[must_use]
    pub fn feed_labels(&self) -> &[String] {
        &self.feed_labels
    }

    /// Counters now.
    #[must_use]
    pub fn report(&self) -> SimReport {
        report(&self.shared)
    }

    /// Faults injected so far, per kind.
    #[must_use]
    pub fn faults_injected(&self, kind: FaultKind) -> u64 {
        self.shared.faults.count(kind)
    }

    /// The fault log (oldest first).
    #[must_use]
    pub fn fault_log(&self) -> Vec<FaultEvent> {
        self.shared.faults.log().0
    }

    /// `true` once the replay has published its last frame.
    #[must_use]
    pub fn feed_done(&self) -> bool {
        self.shared.stats.feed_done.load(Ordering::Relaxed)
    }

    /// Frames published so far.
    #[must_use]
    pub fn frames_published(&self) -> u64 {
        self.shared.stats.frames_published.load(Ordering::Relaxed)
    }

    /// Drains the market-frame write stamps (per connection).
    #[must_use]
    pub fn take_frame_stamps(&self) -> Vec<FrameStamp> {
        self.shared.stamps.take_frames()
    }

    /// Drains the order-read stamps.
    #[must_use]
    pub fn take_order_stamps(&self) -> Vec<OrderStamp> {
        self.shared.stamps.take_orders()
    }

    /// Drains the published-frame records (what each frame sequence number is).
    #[must_use]
    pub fn take_published(&self) -> Vec<PublishedFrame> {
        self.shared.stamps.take_published()
    }

    /// The server book of `symbol` (best first, up to `depth` levels per
    /// side) with its last update id, when it is in sync: what a REST depth
    /// snapshot would show now.
    #[must_use]
    pub fn book(&self, symbol: &str, depth: usize) -> Option<ServerBook> {
        let core = self.shared.core();
        let inst = core.ex.inst_of(symbol)?;
        let (book, ids) = core.ex.book(inst)?;
        Some(ServerBook {
            last_id: ids.last_id,
            bids: book.bids().iter().take(depth).collect(),
            asks: book.asks().iter().take(depth).collect(),
        })
    }

    /// Stops every thread and returns the final report.
    pub fn stop(mut self) -> SimReport {
        self.shutdown()
    }

    fn shutdown(&mut self) -> SimReport {
        if let Some(r) = self.final_report.lock().ok().and_then(|r| r.clone()) {
            return r;
        }
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.stop_notify.notify_waiters();
        if let Some(f) = self.feed.take() {
            let _ = f.join();
        }
        // Close every connection so clients see the end.
        {
            let mut reg = self.shared.reg();
            for c in reg.conns.values_mut() {
                c.send(server::Out::Close(1001, "simulator stopping"), &self.shared.stats);
            }
        }
        let report = report(&self.shared);
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
        }
        if let Ok(mut r) = self.final_report.lock() {
            *r = Some(report.clone());
        }
        report
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// A snapshot of the simulator's own book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBook {
    /// Update id of the last applied depth frame.
    pub last_id: u64,
    /// Bids, best first.
    pub bids: Vec<(crate::fixed::Price, crate::fixed::Qty)>,
    /// Asks, best first.
    pub asks: Vec<(crate::fixed::Price, crate::fixed::Qty)>,
}
