//! The live engine (`scalpel run`): the network layer ([`crate::net`]) and
//! the trading core ([`crate::core::Core`]) wired on one pinned,
//! busy-polling hot thread, with the risk and journal threads on the
//! existing rings.
//!
//! ```text
//!  hot thread (pinned, NetLoop::poll with a zero timeout, never blocks)
//!    market frames ──► (merged by exchange time across a venue's routes) ──► Core::on_frame
//!    private frames (user data, order answers, topics) ──────────────────► Core::on_private_frame
//!    REST answers (depth snapshots, order fallback, order queries) ──────► Core::on_rest_snapshot / on_rest_response
//!    timer (hot.timer_ms), feed states, send failures ───────────────────► Core::on_timer / on_feed_state / on_send_failed
//!    Core's intents ──► encode + sign (preallocated) ──► order WebSocket | REST fallback | paper exchange (dry run)
//!    every core input ──► flight recorder chunks (optional) ──► recorder thread ──► files
//!  Core ──LiveLink──► lossless ring ──► risk thread ──► verdict cell / command ring ──► LiveLink (at numbered polls)
//!                                         └──► lossless ring ──► journal thread ◄── lossy telemetry ring (hot thread)
//! ```
//!
//! The engine routes nothing itself and keeps no position: every event
//! goes to the one core, and the one ledger in it settles every order.
//! Around it the engine owns what a venue needs: connections per venue and
//! route ([`config`]), authentication at every connect, the Binance
//! listenKey (created at start, kept alive, re-created on
//! `listenKeyExpired`), the profile's leverage set per symbol at start
//! (Binance `POST /fapi/v1/leverage`, Bybit `/v5/position/set-leverage`;
//! a refusal fails the start), Binance open interest polled on a thread of
//! its own when the profile's open-interest gate is on
//! (`open_interest.rs`), REST depth snapshots when a book asks for one,
//! the venues' dead-man switches (Binance `countdownCancelAll` refreshed;
//! Bybit disconnection protection), flattening a position whose market
//! data went dark (through whichever path still works), order accounting
//! (every order ends acknowledged, filled, cancelled, expired or rejected,
//! or is queried over REST until it does; what is still unsettled at the
//! end is reported lost), and the venue clock offset for `timestamp`
//! fields.
//!
//! # Invariants
//! - After start-up the hot thread does not allocate, lock or format text
//!   per event (`tests/engine_alloc.rs` counts it over a loopback session).
//!   Reconnects and the rare control paths (listenKey, time sync) may.
//! - Orders are sent only on an order socket that is live and, where the
//!   venue requires it, authenticated again after its last connect.
//! - A stop (SIGINT/SIGTERM, [`EngineHandle::stop`]) cancels every open
//!   order — and closes positions when `flatten.on_exit` — through the
//!   core, waits for the ledger to settle (bounded), cancels per symbol at
//!   the venue, flushes the journal and the flight recorder, and returns.
//!
//! Journal log codes written by the hot thread (`scalpel journal` shows
//! them as `log code=N value=V`): see [`log_code`].

pub mod config;
mod hot;
pub mod link;
pub mod merge;
pub mod metrics;
mod open_interest;
pub mod paper;
pub mod recorder;
pub mod replay;
mod setup;
pub mod status;
pub mod venue;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

pub use config::LiveConfig;
pub use status::{Counter, EngineEvent, EngineStats};

use crate::instrument::{Instrument, LoadError};
use crate::journal::thread::JournalSummary;
use crate::risk::thread::RiskRunReport;

/// Codes of the journal's log records written by the engine (value in brackets).
pub mod log_code {
    /// A position's market data went dark and it is being flattened (instrument index).
    pub const DARK_FLATTEN: u16 = 1001;
    /// Dry run: an order that would have been sent (client order id).
    pub const WOULD_SEND: u16 = 1002;
    /// An order's answer was lost; it is queried (client order id).
    pub const ORDER_UNKNOWN: u16 = 1003;
    /// A query settled an order (client order id).
    pub const ORDER_RESOLVED: u16 = 1004;
    /// An order was still unsettled at the end of the session (client order id).
    pub const ORDER_LOST: u16 = 1005;
    /// A connection went down (connection index).
    pub const CONN_DOWN: u16 = 1006;
    /// An authentication was refused (connection index).
    pub const AUTH_REJECTED: u16 = 1007;
    /// A listenKey expired (venue code).
    pub const LISTEN_KEY_EXPIRED: u16 = 1008;
    /// An intent could not be sent (client order id).
    pub const SEND_FAILED: u16 = 1009;
    /// Shutting down (1: flattening, 0: cancelling only).
    pub const STOPPING: u16 = 1010;
    /// A dead-man refresh failed (HTTP status).
    pub const DEADMAN_FAILED: u16 = 1011;
    /// A fill fetch after a private-stream outage ended (fills recovered).
    pub const FILLS_FETCHED: u16 = 1012;
    /// A fill fetch of a symbol failed after every try (instrument index).
    pub const FILL_FETCH_FAILED: u16 = 1013;
    /// A listenKey creation was refused or failed (the HTTP status, 0 for
    /// no answer); it is tried again after 1 s, or 5 s after a 418 / 429.
    pub const LISTEN_KEY_FAILED: u16 = 1014;
}

/// Why the engine could not start or stopped with an error.
///
/// # Errors
/// From [`Engine::start`] and [`EngineHandle::join`].
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A configuration, profile or instrument problem (names the key).
    #[error("{0}")]
    Config(#[from] LoadError),
    /// An API key could not be read.
    #[error("keys: {0}")]
    Secret(#[from] config::SecretError),
    /// Endpoints.
    #[error("{0}")]
    Endpoints(#[from] crate::net::endpoints::EndpointsError),
    /// TLS configuration.
    #[error("{0}")]
    Tls(#[from] crate::net::tls::TlsConfigError),
    /// A connection could not be set up.
    #[error("{0}")]
    Setup(#[from] crate::net::SetupError),
    /// A configured symbol is not listed by its venue.
    #[error("symbol {symbol} is not listed by {venue} ({source_name}): check venue[].symbols")]
    UnknownSymbol {
        /// The symbol.
        symbol: String,
        /// The venue.
        venue: String,
        /// Where the instruments came from.
        source_name: String,
    },
    /// A start-up request to a venue failed.
    #[error("{venue} {what}: {problem}")]
    Venue {
        /// The venue.
        venue: String,
        /// The request.
        what: String,
        /// What happened.
        problem: String,
    },
    /// The core could not be built.
    #[error("{0}")]
    Core(#[from] crate::core::CoreError),
    /// The journal could not be created or written.
    #[error("journal: {0}")]
    Journal(#[from] crate::journal::JournalError),
    /// The flight recorder could not be created or written.
    #[error("flight recorder: {0}")]
    Recorder(std::io::Error),
    /// A thread could not be started, or one died.
    #[error("{0}")]
    Thread(String),
    /// The poller failed.
    #[error("poll: {0}")]
    Poll(std::io::Error),
}

/// What the engine is made of (for status lines and reports).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineInfo {
    /// Connection names, by index.
    pub conns: Vec<String>,
    /// Instruments, by index.
    pub instruments: Vec<Instrument>,
    /// Instrument names (`venue:SYMBOL`), by index.
    pub instrument_names: Vec<String>,
    /// The journal file.
    pub journal: PathBuf,
    /// The flight recording directory, if recording.
    pub record: Option<PathBuf>,
    /// Session epoch of the client order ids.
    pub epoch: u32,
    /// Paper trading.
    pub dry_run: bool,
    /// Pinning: `Some(core)` when the hot thread was pinned, with a warning
    /// when the core is not isolated or pinning failed.
    pub pinning: Option<String>,
    /// The leverage set on the venue at start, by `venue:SYMBOL` (empty on
    /// paper: nothing is set there).
    pub venue_leverage: Vec<(String, u8)>,
    /// Where the Prometheus metrics are served (`[metrics] listen`, the
    /// port chosen when it was 0), if they are.
    pub metrics: Option<std::net::SocketAddr>,
}

/// What the hot thread reports at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotSummary {
    /// Final counters.
    pub stats: EngineStats,
    /// Orders still unsettled (lost): their client ids.
    pub lost: Vec<u64>,
    /// Calls into the core.
    pub core_calls: u64,
    /// Intents the core made.
    pub intents: u64,
    /// The core's counters.
    pub core: String,
    /// Why orders did not go out: the strategy's entry gates (candidates,
    /// passed, blocked by gate) and the inline risk gate's refusals by reason.
    pub gates: String,
    /// The flight recorder's summary.
    pub recording: Option<recorder::RecordingSummary>,
    /// Paper exchange counters (dry run).
    pub paper: Option<paper::PaperStats>,
}

/// Everything a finished engine reports.
#[derive(Debug)]
pub struct EngineReport {
    /// The hot thread's summary.
    pub hot: HotSummary,
    /// The risk thread's report.
    pub risk: RiskRunReport,
    /// Journal records written.
    pub journal_records: u64,
    /// Telemetry dropped.
    pub telemetry_dropped: u64,
    /// Order contexts (entry decisions, exit reasons) dropped before the journal.
    pub contexts_dropped: u64,
    /// The journal thread's latency histograms: tick-to-trade (a market or
    /// private frame's receive stamp on the hot thread → its order handed
    /// to the socket), as the hot thread published them.
    pub latency: crate::journal::thread::LatencyHistograms,
}

/// A running engine (module docs): stats, events, stop, join.
pub struct EngineHandle {
    info: EngineInfo,
    stop: Arc<AtomicBool>,
    stats: Arc<status::SharedStats>,
    events: crate::ring::LossyConsumer<EngineEvent>,
    hot: Option<JoinHandle<Result<HotSummary, EngineError>>>,
    risk: Option<JoinHandle<RiskRunReport>>,
    journal: Option<JoinHandle<Result<JournalSummary<std::fs::File>, crate::journal::JournalError>>>,
    /// The Binance open-interest poll, when it runs.
    open_interest: Option<JoinHandle<()>>,
    metrics: Option<metrics::MetricsServer>,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle").field("info", &self.info).finish_non_exhaustive()
    }
}

/// The engine (a namespace for [`Engine::start`]).
#[derive(Debug)]
pub struct Engine;

/// Hooks a binary gives the engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hooks {
    /// Returns the calling thread's heap allocations so far (the binary's
    /// counting allocator, [`crate::alloc_count::CountingAlloc::this_thread`]):
    /// the hot thread publishes it as [`Counter::HotAllocations`], so the
    /// status line and the tests see whether it allocates once warm.
    pub thread_allocations: Option<fn() -> u64>,
    /// A diagnostic: arm the binary's allocator to print a backtrace of the
    /// hot thread's next allocations, once the engine has run a while
    /// ([`crate::alloc_count::trace_next`]; `SCALPEL_TRACE_HOT_ALLOCATIONS`).
    pub trace_allocations: Option<AllocationTrace>,
}

/// When and how many of the hot thread's allocations to trace
/// ([`Hooks::trace_allocations`]).
#[derive(Debug, Clone, Copy)]
pub struct AllocationTrace {
    /// Arms the calling thread for its next `n` allocations
    /// ([`crate::alloc_count::trace_next`]).
    pub arm: fn(u32),
    /// Seconds after the hot thread starts.
    pub after_s: u32,
    /// Allocations to trace.
    pub count: u32,
}

impl AllocationTrace {
    /// Reads `SCALPEL_TRACE_HOT_ALLOCATIONS=AFTER_S:N` (e.g. `120:50`).
    ///
    /// # Errors
    /// A message naming the variable when its value is not two whole
    /// numbers separated by a colon (N at least 1).
    pub fn from_env(arm: fn(u32)) -> Result<Option<Self>, String> {
        const VAR: &str = "SCALPEL_TRACE_HOT_ALLOCATIONS";
        match std::env::var(VAR) {
            Ok(text) => Self::parse(&text, arm)
                .map(Some)
                .ok_or_else(|| format!("{VAR}={text:?}: expected AFTER_S:N, two whole numbers (e.g. 120:50)")),
            Err(_) => Ok(None),
        }
    }

    /// `AFTER_S:N` (N at least 1), or `None`.
    #[must_use]
    pub fn parse(text: &str, arm: fn(u32)) -> Option<Self> {
        text.split_once(':')
            .and_then(|(a, n)| Some((a.trim().parse::<u32>().ok()?, n.trim().parse::<u32>().ok()?)))
            .filter(|&(_, n)| n > 0)
            .map(|(after_s, count)| Self { arm, after_s, count })
    }
}

impl Engine {
    /// Loads the profile and keys, loads the instruments from the venues
    /// (the configured TOML overriding), estimates the venues' clocks,
    /// creates the Binance listenKey, sets each symbol's leverage on its
    /// venue (the profile's `[leverage]`; not on paper), creates the journal (and the flight
    /// recording), starts the journal, risk and hot threads, and returns
    /// once the hot thread is ready to poll. `stop` ends the session
    /// (SIGINT/SIGTERM handlers set it).
    ///
    /// # Errors
    /// [`EngineError`]; nothing is left running then.
    pub fn start(config: LiveConfig, stop: Arc<AtomicBool>) -> Result<EngineHandle, EngineError> {
        setup::start(config, stop, Hooks::default())
    }

    /// [`Engine::start`] with [`Hooks`].
    ///
    /// # Errors
    /// As [`Engine::start`].
    pub fn start_with_hooks(
        config: LiveConfig,
        stop: Arc<AtomicBool>,
        hooks: Hooks,
    ) -> Result<EngineHandle, EngineError> {
        setup::start(config, stop, hooks)
    }
}

impl EngineHandle {
    /// What the engine is made of.
    #[must_use]
    pub fn info(&self) -> &EngineInfo {
        &self.info
    }

    /// The counters now.
    #[must_use]
    pub fn stats(&self) -> EngineStats {
        self.stats.snapshot()
    }

    /// The next event, if any.
    #[must_use]
    pub fn next_event(&self) -> Option<EngineEvent> {
        self.events.pop()
    }

    /// Events dropped because nobody read them in time.
    #[must_use]
    pub fn events_dropped(&self) -> u64 {
        self.events.dropped()
    }

    /// Asks the engine to stop (cancel all, flatten if configured, flush).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// `true` once the hot thread has ended.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.hot.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for every thread and returns the session's report.
    ///
    /// # Errors
    /// The hot thread's error, a journal error, or a thread that panicked.
    pub fn join(mut self) -> Result<EngineReport, EngineError> {
        let hot = self.hot.take().map(|h| h.join().map_err(|_| EngineError::Thread("the hot thread panicked".into())));
        let risk =
            self.risk.take().map(|h| h.join().map_err(|_| EngineError::Thread("the risk thread panicked".into())));
        let journal = self
            .journal
            .take()
            .map(|h| h.join().map_err(|_| EngineError::Thread("the journal thread panicked".into())));
        if let Some(m) = self.metrics.take() {
            self.stop.store(true, Ordering::Release);
            m.join();
        }
        let hot = hot.ok_or_else(|| EngineError::Thread("joined twice".into()))???;
        let risk = risk.ok_or_else(|| EngineError::Thread("joined twice".into()))??;
        let journal = journal.ok_or_else(|| EngineError::Thread("joined twice".into()))???;
        // The hot thread has ended: the poll has nobody to hand figures to.
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.open_interest.take() {
            h.join().map_err(|_| EngineError::Thread("the open-interest thread panicked".into()))?;
        }
        Ok(EngineReport {
            hot,
            risk,
            journal_records: journal.records,
            telemetry_dropped: journal.telemetry_dropped,
            contexts_dropped: journal.contexts_dropped,
            latency: journal.latency,
        })
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        // A handle dropped without join still stops the engine.
        self.stop.store(true, Ordering::Release);
    }
}
