//! A synthetic session: the [`Lob`] model run through time and published
//! as one venue's frames, in the order and with the cadence the venue uses.
//!
//! - **Binance USDⓈ-M** (a combined stream as the recorder saw it): a
//!   `trade` per maker fill and a `bookTicker` for every change of the best
//!   bid or ask, as they happen; a `depthUpdate` at the end of every diff
//!   window ([`params::DIFF_INTERVAL_MS`]) with every level that changed in
//!   it, `U` = first and `u` = last update id of the window, `pu` = `u` of
//!   the previous diff; a `markPriceUpdate` every second; and the REST
//!   snapshot the recorder requested after subscribing — taken at an event
//!   inside a diff window (so `U ≤ lastUpdateId ≤ u` holds for that diff) and
//!   arriving [`params::SNAPSHOT_DELAY_NS`] later, after a few buffered
//!   diffs.
//! - **Bybit v5**: an `orderbook.200` snapshot, then every 100 ms a delta
//!   with the changes of the top 200 levels per side (levels leaving the top
//!   200 are deleted, levels entering it added) and consecutive `u`; one
//!   `publicTrade` per market order with all its fills; `tickers` snapshot
//!   then deltas with the fields that changed (best bid/ask every 100 ms,
//!   mark price and index each second, open interest now and then).
//!
//! With `gap_every = N`, every N-th depth frame is lost on the way (never
//! written): the next one breaks the sequence, as real feeds do. The
//! recorder then resyncs as a client would — Binance: a new REST snapshot
//! requested [`RESYNC_DELAY_NS`] later; Bybit: a re-subscription, answered
//! by a snapshot at the next publication after that delay. No frame is lost
//! while a resync is pending.
//!
//! # Determinism
//! Everything random comes from [`Rng`] streams derived from the seed: one
//! drives the market (the model and its waiting times), another the
//! publication details (latencies, id strides, diff windows, mark price,
//! trade ids). The market therefore does not depend on the venue or on
//! `gap_every`, and the same configuration gives the same bytes on every
//! machine.
//!
//! # Allocation
//! Frames are written into one reused arena and handed out by reference;
//! after warm-up a session allocates only when a buffer meets a larger
//! high-water mark.

use std::collections::VecDeque;

use super::model::{Dynamics, EventKind, Fired, Lob};
use super::params::{self, MarketProfile};
use super::rng::Rng;
use super::wire_binance::BinanceWire;
use super::wire_bybit::{BybitWire, TickDirection, TickerState, TradePrint, changed};
use crate::fixed::{E8, Price, Qty, pow10};
use crate::instrument::{Instrument, LoadError, Symbol};
use crate::recording::Recording;
use crate::side::Side;
use crate::venue::Venue;

/// Default exchange time of the session's start: 2024-08-08 23:54:16 UTC,
/// when the Binance recording starts.
pub const DEFAULT_START_MS: i64 = 1_723_161_256_000;
/// Default model time run before the session starts, seconds: long enough
/// for the deep levels (slowest cancellation rate ≈ 0.2/s) to reach their
/// stationary depth.
pub const DEFAULT_WARMUP_S: f64 = 60.0;
/// How long after a lost depth frame the recorder asks for a new snapshot
/// (Binance) or re-subscribes (Bybit), ns: the next diff reveals the gap.
pub const RESYNC_DELAY_NS: u64 = 120_000_000;
/// When the recorder requests the first Binance snapshot after subscribing.
pub const INITIAL_SNAPSHOT_AFTER_NS: u64 = 300_000_000;
/// Bybit publishes `orderbook.200` every 100 ms (venue documentation).
pub const BYBIT_BOOK_INTERVAL_NS: u64 = 100_000_000;
/// Levels per side of Bybit's `orderbook.200`.
pub const BYBIT_DEPTH: usize = 200;
/// Levels per side of a Binance REST snapshot (`limit=1000`).
pub const BINANCE_SNAPSHOT_DEPTH: usize = 1000;
/// Bybit's cross sequence (`seq`, `cs`) advance per second, from the Bybit
/// BTCUSDT recording (`cs` 753843900397 → 753843965535 in 2.5 s).
pub const BYBIT_SEQ_PER_S: f64 = 26_000.0;
/// Longest session accepted: one week.
pub const MAX_DURATION_MS: u64 = 7 * 24 * 3600 * 1000;

/// Why a session could not be set up or written.
///
/// # Errors
/// Returned by [`SynthConfig::built_in`], [`SynthConfig::validate`],
/// [`Synth::new`] and [`write_session`].
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// The built-in instrument table could not be loaded.
    #[error("instruments: {0}")]
    Instruments(#[from] LoadError),
    /// The symbol is not an instrument of the venue.
    #[error("{symbol} is not a known {venue} instrument (built-in: BTCUSDT, ETHUSDT)")]
    UnknownSymbol {
        /// The symbol.
        symbol: Symbol,
        /// The venue.
        venue: Venue,
    },
    /// The instrument has no built-in market profile (start price, sizes).
    #[error("no synthetic market profile for {0} (built-in: BTCUSDT, ETHUSDT)")]
    NoProfile(Symbol),
    /// Duration zero, not finite, or longer than a week.
    #[error("duration must be more than 0 and at most one week (got {0} s)")]
    BadDuration(f64),
    /// Event rate not positive and finite.
    #[error("rate must be a positive number of events per second (got {0})")]
    BadRate(f64),
    /// `gap_every` of zero.
    #[error("gap-every must be at least 1")]
    BadGapEvery,
    /// Warm-up negative or not finite.
    #[error("warm-up must be a non-negative number of seconds (got {0})")]
    BadWarmup(f64),
    /// A fitted model parameter out of its range (says which).
    #[error("model dynamics: {0}")]
    BadDynamics(&'static str),
    /// Writing the session failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// Wire format.
    pub venue: Venue,
    /// The instrument (tick, step, scales, symbol).
    pub instrument: Instrument,
    /// Start price and size scaling.
    pub profile: MarketProfile,
    /// Seed of every random choice.
    pub seed: u64,
    /// Session length in exchange time, ms.
    pub duration_ms: u64,
    /// Mean order events per second; [`params::CALIBRATED_EVENTS_PER_S`]
    /// reproduces the recording, other values scale every rate.
    pub events_per_s: f64,
    /// Lose every N-th depth frame (see the module documentation).
    pub gap_every: Option<u64>,
    /// Exchange time of the session's start, ms since the Unix epoch.
    pub start_ms: i64,
    /// Model time run before the session starts, seconds.
    pub warmup_s: f64,
    /// The fitted dynamics of the order book model (reference-price pulls,
    /// market-order excitation, which side fills a wide spread);
    /// [`Dynamics::CALIBRATED`] reproduces the recording.
    pub dynamics: Dynamics,
}

impl SynthConfig {
    /// A configuration for `symbol` from the built-in instrument table
    /// (`tuning/instruments.toml`) and market profiles, at the calibrated
    /// rate, without gaps.
    ///
    /// # Errors
    /// [`SynthError::UnknownSymbol`], [`SynthError::NoProfile`],
    /// [`SynthError::BadDuration`], [`SynthError::Instruments`].
    pub fn built_in(venue: Venue, symbol: Symbol, seed: u64, duration_s: f64) -> Result<Self, SynthError> {
        let table = crate::instrument::InstrumentTable::built_in()?;
        let instrument = *table.get(venue, &symbol).ok_or(SynthError::UnknownSymbol { symbol, venue })?;
        let profile = MarketProfile::built_in(&instrument).ok_or(SynthError::NoProfile(symbol))?;
        Self::for_instrument(venue, instrument, profile, seed, duration_s)
    }

    /// The default configuration for any instrument and market profile
    /// (`scalpel synth --tick` for symbols outside the built-in table).
    ///
    /// # Errors
    /// A bad duration.
    pub fn for_instrument(
        venue: Venue,
        instrument: Instrument,
        profile: MarketProfile,
        seed: u64,
        duration_s: f64,
    ) -> Result<Self, SynthError> {
        if !(duration_s.is_finite() && duration_s > 0.0 && duration_s * 1000.0 <= MAX_DURATION_MS as f64) {
            return Err(SynthError::BadDuration(duration_s));
        }
        let config = Self {
            venue,
            instrument,
            profile,
            seed,
            duration_ms: ((duration_s * 1000.0).round() as u64).max(1),
            events_per_s: params::CALIBRATED_EVENTS_PER_S,
            gap_every: None,
            start_ms: DEFAULT_START_MS,
            warmup_s: DEFAULT_WARMUP_S,
            dynamics: Dynamics::CALIBRATED,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the values.
    ///
    /// # Errors
    /// The first invalid field.
    pub fn validate(&self) -> Result<(), SynthError> {
        if self.duration_ms == 0 || self.duration_ms > MAX_DURATION_MS {
            return Err(SynthError::BadDuration(self.duration_ms as f64 / 1000.0));
        }
        if !(self.events_per_s.is_finite() && self.events_per_s > 0.0) {
            return Err(SynthError::BadRate(self.events_per_s));
        }
        if self.gap_every == Some(0) {
            return Err(SynthError::BadGapEvery);
        }
        if !(self.warmup_s.is_finite() && self.warmup_s >= 0.0) {
            return Err(SynthError::BadWarmup(self.warmup_s));
        }
        self.dynamics.validate().map_err(SynthError::BadDynamics)?;
        Ok(())
    }
}

/// What a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Incremental depth (Binance `depthUpdate`, Bybit orderbook delta);
    /// the book after it is the one with this update id (Binance `u`,
    /// Bybit `u`).
    Depth {
        /// Update id the frame brings the book to.
        update_id: u64,
    },
    /// Full depth (Binance REST snapshot, Bybit orderbook snapshot).
    Snapshot {
        /// `lastUpdateId` / `u`.
        update_id: u64,
    },
    /// Binance `bookTicker`.
    BookTicker,
    /// Trades (Binance: one print; Bybit: one market order's prints).
    Trade,
    /// Binance `markPriceUpdate`.
    MarkPrice,
    /// Bybit `tickers`.
    Ticker,
}

/// One frame of the session, borrowed from the generator until the next
/// call. The bytes may be decoded in place (they are rewritten anyway).
#[derive(Debug)]
pub struct Frame<'a> {
    /// Local receive time, ns since the Unix epoch (the recording format's
    /// first column).
    pub local_ts_ns: u64,
    /// What it is.
    pub kind: FrameKind,
    /// The frame text, exactly as the venue sends it.
    pub bytes: &'a mut [u8],
}

/// Counters of a generated session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SynthSummary {
    /// Frames handed out.
    pub frames: u64,
    /// Depth frames handed out (diffs, deltas).
    pub depth_frames: u64,
    /// Snapshots handed out (the first one and resyncs).
    pub snapshots: u64,
    /// Best bid/offer frames (Binance `bookTicker`, Bybit `tickers`).
    pub top_frames: u64,
    /// Trade frames.
    pub trade_frames: u64,
    /// Trade prints in them.
    pub trade_prints: u64,
    /// Mark price frames (Binance).
    pub mark_frames: u64,
    /// Depth frames lost on purpose (`gap_every`).
    pub lost_depth_frames: u64,
    /// Order events executed by the model during the session.
    pub events: u64,
    /// Exchange-time length of the session, ms.
    pub duration_ms: u64,
}

/// The levels a correct client holds after a depth frame, best first, as
/// instrument prices and quantities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrueBook {
    /// Bids, highest first.
    pub bids: Vec<(Price, Qty)>,
    /// Asks, lowest first.
    pub asks: Vec<(Price, Qty)>,
}

/// A frame waiting in the queue: its bytes are `arena[start..end]`.
#[derive(Debug, Clone, Copy)]
struct Queued {
    start: usize,
    end: usize,
    local_ts_ns: u64,
    kind: FrameKind,
}

/// A Binance REST snapshot taken, waiting to arrive.
#[derive(Debug, Clone, Default)]
struct Captured {
    update_id: u64,
    event_ms: i64,
    transact_ms: i64,
    arrives_local_ns: u64,
    bids: Vec<(i64, i64)>,
    asks: Vec<(i64, i64)>,
}

#[derive(Debug, Clone)]
struct BinanceState {
    wire: BinanceWire,
    /// Id of the last executed event.
    update_id: u64,
    /// Probability of the geometric extra id stride per event.
    id_stride_p: f64,
    trade_id: u64,
    /// First update id of the open diff window.
    window_first: Option<u64>,
    window_last_ms: i64,
    prev_u: u64,
    next_diff_ns: u64,
    next_mark_ns: u64,
    basis_e8: i64,
    capture_at_ns: Option<u64>,
    pending: Option<Captured>,
    /// The snapshot last handed out (the truth of its frame).
    shown: Captured,
    /// Buffers for the next capture (the two snapshots alternate, so
    /// taking one allocates nothing once both have grown).
    spare: Captured,
    synced_once: bool,
    resync_pending: bool,
    diffs: u64,
    bids: Vec<(i64, i64)>,
    asks: Vec<(i64, i64)>,
}

#[derive(Debug, Clone)]
struct BybitState {
    wire: BybitWire,
    u: u64,
    seq: u64,
    seq_stride_p: f64,
    next_book_ns: u64,
    next_ticker_ns: u64,
    next_mark_ns: u64,
    next_index_ns: u64,
    next_oi_ns: u64,
    /// Top levels last published, best first, as (price, qty) mantissas.
    published: [Vec<(i64, i64)>; 2],
    current: [Vec<(i64, i64)>; 2],
    changes: [Vec<(i64, i64)>; 2],
    snapshot_due: bool,
    resubscribe_at_ns: Option<u64>,
    deltas: u64,
    last_event_ms: i64,
    ticker: TickerState,
    ticker_flags: u32,
    ticker_started: bool,
    last_trade_price: i64,
    basis_e8: i64,
    prints: Vec<TradePrint>,
}

#[derive(Debug, Clone)]
enum VenueState {
    Binance(Box<BinanceState>),
    Bybit(Box<BybitState>),
}

/// Which book the last depth frame describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    /// No depth frame yet.
    None,
    /// The model's book now.
    Live,
    /// The Binance snapshot last handed out.
    Captured,
}

/// The generator: an iterator-like source of frames (`next_frame`) over one
/// synthetic session.
///
/// ```
/// use scalpel::synth::{Synth, SynthConfig};
/// use scalpel::venue::Venue;
///
/// let config = SynthConfig::built_in(Venue::BinanceUsdm, "BTCUSDT".parse().unwrap(), 7, 2.0).unwrap();
/// let mut synth = Synth::new(&config).unwrap();
/// let mut frames = 0;
/// while let Some(frame) = synth.next_frame() {
///     assert!(frame.bytes.starts_with(b"{"));
///     frames += 1;
/// }
/// assert!(frames > 100);
/// ```
#[derive(Debug, Clone)]
pub struct Synth {
    config: SynthConfig,
    lob: Lob,
    market_rng: Rng,
    wire_rng: Rng,
    venue: VenueState,
    /// Model time since the session start, ns.
    now_ns: u64,
    end_ns: u64,
    next_event_ns: u64,
    /// Model time from the last step to the next one, seconds (the
    /// excitation of the market orders decays over it).
    wait_s: f64,
    /// Added to model ticks to get price ticks.
    tick_offset: i64,
    tick: i64,
    step: i64,
    intensity: f64,
    epoch_ns: u64,
    queue: VecDeque<Queued>,
    arena: Vec<u8>,
    last_local_ns: u64,
    finished: bool,
    truth: Truth,
    summary: SynthSummary,
    events_at_start: u64,
}

impl Synth {
    /// Sets up the model, runs its warm-up, and prepares the first
    /// publications.
    ///
    /// # Errors
    /// [`SynthConfig::validate`]'s errors.
    pub fn new(config: &SynthConfig) -> Result<Self, SynthError> {
        config.validate()?;
        let inst = &config.instrument;
        let mut market_rng = Rng::stream(config.seed, 1);
        let mut wire_rng = Rng::stream(config.seed, 2);
        let tick = inst.tick.0;
        let start_bid_tick = config.profile.start_bid.0 / tick;
        let track = config.venue == Venue::BinanceUsdm;
        let mut lob = Lob::new(start_bid_tick, config.profile.size_multiplier, track, config.dynamics, &mut market_rng);
        let intensity = config.events_per_s / params::CALIBRATED_EVENTS_PER_S;
        // Warm-up: the same dynamics, unpublished, for `warmup_s` of model
        // time (so that a session at another `--rate` continues the same
        // model path, only faster).
        let mut model_t = 0.0f64;
        let mut wait_s;
        loop {
            wait_s = market_rng.exponential(lob.total_rate());
            model_t += wait_s;
            if model_t > config.warmup_s {
                break;
            }
            lob.step(wait_s, &mut market_rng);
        }
        lob.clear_changes();
        // Centre the session on the start price.
        let model_bid = lob.best(Side::Buy).map_or(start_bid_tick, |(b, _)| b);
        let tick_offset = start_bid_tick - model_bid;
        // The first event comes after the rest of its wait.
        let next_event_ns = wait_ns(model_t - config.warmup_s, intensity);
        let epoch_ns = u64::try_from(config.start_ms).unwrap_or(0).saturating_mul(1_000_000);
        let venue = match config.venue {
            Venue::BinanceUsdm => {
                let stride = (params::UPDATE_IDS_PER_S / params::CALIBRATED_EVENTS_PER_S).max(1.0);
                let update_id = 5_000_000_000_000 + wire_rng.below(1_000_000_000_000);
                VenueState::Binance(Box::new(BinanceState {
                    wire: BinanceWire::new(inst),
                    update_id,
                    id_stride_p: 1.0 / stride,
                    trade_id: 5_000_000_000 + wire_rng.below(1_000_000_000),
                    window_first: None,
                    window_last_ms: config.start_ms,
                    prev_u: update_id,
                    next_diff_ns: diff_interval_ns(&mut wire_rng),
                    next_mark_ns: 1_000_000_000 - (config.start_ms.rem_euclid(1000) as u64) * 1_000_000,
                    basis_e8: 0,
                    capture_at_ns: Some(INITIAL_SNAPSHOT_AFTER_NS),
                    pending: None,
                    shown: Captured::default(),
                    spare: Captured::default(),
                    synced_once: false,
                    resync_pending: false,
                    diffs: 0,
                    bids: Vec::with_capacity(1024),
                    asks: Vec::with_capacity(1024),
                }))
            }
            Venue::BybitLinear => {
                let stride = (BYBIT_SEQ_PER_S / params::CALIBRATED_EVENTS_PER_S).max(1.0);
                let phase = wire_rng.below(BYBIT_BOOK_INTERVAL_NS);
                let mut state = BybitState {
                    wire: BybitWire::new(inst),
                    u: 10_000_000 + wire_rng.below(10_000_000),
                    seq: 700_000_000_000 + wire_rng.below(100_000_000_000),
                    seq_stride_p: 1.0 / stride,
                    next_book_ns: phase,
                    next_ticker_ns: (phase + 55_000_000) % BYBIT_BOOK_INTERVAL_NS,
                    next_mark_ns: 1_000_000_000,
                    next_index_ns: 1_500_000_000,
                    next_oi_ns: 5_000_000_000,
                    published: [Vec::with_capacity(BYBIT_DEPTH), Vec::with_capacity(BYBIT_DEPTH)],
                    current: [Vec::with_capacity(BYBIT_DEPTH), Vec::with_capacity(BYBIT_DEPTH)],
                    changes: [Vec::with_capacity(2 * BYBIT_DEPTH), Vec::with_capacity(2 * BYBIT_DEPTH)],
                    snapshot_due: true,
                    resubscribe_at_ns: None,
                    deltas: 0,
                    last_event_ms: config.start_ms,
                    ticker: initial_ticker(inst, &config.profile, config.start_ms),
                    ticker_flags: 0,
                    ticker_started: false,
                    last_trade_price: 0,
                    basis_e8: 0,
                    prints: Vec::with_capacity(1024),
                };
                state.last_trade_price = state.ticker.last;
                VenueState::Bybit(Box::new(state))
            }
        };
        let events_at_start = lob.counts().executed();
        Ok(Self {
            config: config.clone(),
            lob,
            market_rng,
            wire_rng,
            venue,
            now_ns: 0,
            end_ns: config.duration_ms * 1_000_000,
            next_event_ns,
            wait_s,
            tick_offset,
            tick,
            step: inst.step.0,
            intensity,
            epoch_ns,
            queue: VecDeque::with_capacity(1024),
            arena: Vec::with_capacity(1 << 18),
            last_local_ns: 0,
            finished: false,
            truth: Truth::None,
            summary: SynthSummary { duration_ms: config.duration_ms, ..SynthSummary::default() },
            events_at_start,
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &SynthConfig {
        &self.config
    }

    /// Counters so far.
    #[must_use]
    pub fn summary(&self) -> SynthSummary {
        SynthSummary { events: self.lob.counts().executed() - self.events_at_start, ..self.summary }
    }

    /// The next frame, or `None` when the session is over.
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        if self.queue.is_empty() {
            self.arena.clear();
            while self.queue.is_empty() && !self.finished {
                self.advance();
            }
        }
        let q = self.queue.pop_front()?;
        let s = &mut self.summary;
        s.frames += 1;
        match q.kind {
            FrameKind::Depth { .. } => {
                s.depth_frames += 1;
                self.truth = Truth::Live;
            }
            FrameKind::Snapshot { .. } => {
                s.snapshots += 1;
                self.truth = if self.config.venue == Venue::BinanceUsdm { Truth::Captured } else { Truth::Live };
            }
            FrameKind::BookTicker | FrameKind::Ticker => s.top_frames += 1,
            FrameKind::Trade => s.trade_frames += 1,
            FrameKind::MarkPrice => s.mark_frames += 1,
        }
        Some(Frame { local_ts_ns: q.local_ts_ns, kind: q.kind, bytes: &mut self.arena[q.start..q.end] })
    }

    /// The rest of the session as owned `(local_ts_ns, frame bytes)` pairs:
    /// a plain [`Iterator`], at the cost of one allocation per frame (use
    /// [`Synth::next_frame`] to avoid it).
    #[must_use]
    pub fn into_owned_frames(self) -> OwnedFrames {
        OwnedFrames { synth: self }
    }

    /// The rest of the session as an in-memory [`Recording`], exactly as
    /// [`Recording::load`] would read the file `scalpel synth` writes, so
    /// file replays and synthetic sessions share one code path. Holds the
    /// whole session: about 280 MB per hour of Binance BTCUSDT.
    #[must_use]
    pub fn into_recording(mut self) -> Recording {
        let mut text = Vec::with_capacity(1 << 20);
        // Writing to a Vec cannot fail.
        let _ = write_session(&mut self, &mut text);
        Recording::from_bytes(&text)
    }

    /// The true book as of the last depth or snapshot frame handed out: what
    /// a client that applied every frame since its last snapshot correctly
    /// holds. Top `depth` levels per side, best first (Bybit: at most the
    /// 200 it publishes). Allocates; for verification, not the hot path.
    #[must_use]
    pub fn true_book(&self, depth: usize) -> TrueBook {
        match self.truth {
            Truth::None => TrueBook::default(),
            Truth::Captured => match &self.venue {
                VenueState::Binance(b) => {
                    let conv = |v: &[(i64, i64)]| v.iter().take(depth).map(|&(p, q)| (Price(p), Qty(q))).collect();
                    TrueBook { bids: conv(&b.shown.bids), asks: conv(&b.shown.asks) }
                }
                VenueState::Bybit(_) => TrueBook::default(),
            },
            Truth::Live => {
                let depth = if self.config.venue == Venue::BybitLinear { depth.min(BYBIT_DEPTH) } else { depth };
                let side = |s| {
                    self.lob.levels(s).take(depth).map(|(t, l)| (Price(self.price(t)), Qty(l * self.step))).collect()
                };
                TrueBook { bids: side(Side::Buy), asks: side(Side::Sell) }
            }
        }
    }

    #[inline]
    fn price(&self, tick: i64) -> i64 {
        (tick + self.tick_offset) * self.tick
    }

    #[inline]
    fn ms(&self, t_ns: u64) -> i64 {
        self.config.start_ms + (t_ns / 1_000_000) as i64
    }

    /// A local receive time for a frame the venue sends at model time
    /// `t_ns`: base latency plus the recording's jitter, never before the
    /// previous frame.
    fn local_ts(&mut self, t_ns: u64) -> u64 {
        let jitter = params::LATENCY_JITTER_NS.at(self.wire_rng.uniform()) as u64;
        let local = (self.epoch_ns + t_ns + params::BASE_LATENCY_NS + jitter).max(self.last_local_ns);
        self.last_local_ns = local;
        local
    }

    fn push(&mut self, start: usize, kind: FrameKind, local_ts_ns: u64) {
        self.queue.push_back(Queued { start, end: self.arena.len(), local_ts_ns, kind });
    }

    /// One step: a due snapshot arrival, a model event or a publication.
    fn advance(&mut self) {
        let next_pub = self.next_publication_ns();
        let next = self.next_event_ns.min(next_pub);
        if self.emit_due_snapshot(next) {
            return;
        }
        if self.next_event_ns <= next_pub && self.next_event_ns < self.end_ns {
            self.now_ns = self.next_event_ns;
            let fired = self.lob.step(self.wait_s, &mut self.market_rng);
            self.wait_s = self.market_rng.exponential(self.lob.total_rate());
            self.next_event_ns = self.now_ns + wait_ns(self.wait_s, self.intensity);
            if let Some(fired) = fired {
                self.on_event(fired);
            }
        } else if next_pub < self.end_ns {
            self.now_ns = next_pub;
            self.publish();
        } else {
            self.now_ns = self.end_ns;
            self.finished = true;
        }
    }

    fn next_publication_ns(&self) -> u64 {
        match &self.venue {
            VenueState::Binance(b) => b.next_diff_ns.min(b.next_mark_ns),
            VenueState::Bybit(b) => {
                b.next_book_ns.min(b.next_ticker_ns).min(b.next_mark_ns).min(b.next_index_ns).min(b.next_oi_ns)
            }
        }
    }

    fn on_event(&mut self, fired: Fired) {
        let ms = self.ms(self.now_ns);
        if matches!(self.venue, VenueState::Binance(_)) {
            self.on_binance_event(fired, ms);
        } else {
            self.on_bybit_event(fired, ms);
        }
    }

    fn top_mantissas(&self) -> Option<((i64, i64), (i64, i64))> {
        let (b, bl) = self.lob.best(Side::Buy)?;
        let (a, al) = self.lob.best(Side::Sell)?;
        Some(((self.price(b), bl * self.step), (self.price(a), al * self.step)))
    }

    /// Mid price in 1e-8 USDT.
    fn mid_e8(&self) -> Option<i64> {
        let ((b, _), (a, _)) = self.top_mantissas()?;
        let scale = pow10(E8 - self.config.instrument.price_scale.min(E8));
        Some((b + a) * scale / 2)
    }

    fn on_binance_event(&mut self, fired: Fired, ms: i64) {
        let VenueState::Binance(b) = &mut self.venue else { return };
        b.update_id += 1 + self.wire_rng.geometric(b.id_stride_p);
        b.window_first.get_or_insert(b.update_id);
        b.window_last_ms = ms;
        let update_id = b.update_id;
        if fired.kind == EventKind::Market {
            let buyer_is_maker = fired.side == Side::Sell;
            for i in 0..self.lob.prints().len() {
                let print = self.lob.prints()[i];
                let (price, qty) = (self.price(print.tick), print.lots * self.step);
                let local = self.local_ts(self.now_ns);
                let VenueState::Binance(b) = &mut self.venue else { return };
                b.trade_id += 1;
                let start = self.arena.len();
                b.wire.trade(&mut self.arena, ms, ms, b.trade_id, price, qty, buyer_is_maker);
                self.push(start, FrameKind::Trade, local);
                self.summary.trade_prints += 1;
            }
        }
        if fired.top_changed {
            if let Some((bid, ask)) = self.top_mantissas() {
                let local = self.local_ts(self.now_ns);
                let VenueState::Binance(b) = &mut self.venue else { return };
                let start = self.arena.len();
                b.wire.book_ticker(&mut self.arena, update_id, ms, ms, bid, ask);
                self.push(start, FrameKind::BookTicker, local);
            }
        }
        // The REST snapshot is taken between two events.
        let VenueState::Binance(b) = &self.venue else { return };
        if b.capture_at_ns.is_some_and(|at| self.now_ns >= at) {
            self.capture_binance_snapshot(update_id, ms);
        }
    }

    fn capture_binance_snapshot(&mut self, update_id: u64, ms: i64) {
        let arrives = self.epoch_ns + self.now_ns + params::SNAPSHOT_DELAY_NS;
        let (tick, offset, step) = (self.tick, self.tick_offset, self.step);
        let VenueState::Binance(b) = &mut self.venue else { return };
        let mut snap = std::mem::take(&mut b.spare);
        snap.bids.clear();
        snap.asks.clear();
        let conv = |(t, l): (i64, i64)| ((t + offset) * tick, l * step);
        snap.bids.extend(self.lob.levels(Side::Buy).take(BINANCE_SNAPSHOT_DEPTH).map(conv));
        snap.asks.extend(self.lob.levels(Side::Sell).take(BINANCE_SNAPSHOT_DEPTH).map(conv));
        snap.update_id = update_id;
        snap.transact_ms = ms;
        snap.event_ms = ms + 1 + self.wire_rng.below(8) as i64;
        snap.arrives_local_ns = arrives;
        b.pending = Some(snap);
        b.capture_at_ns = None;
    }

    /// Hands out a Binance snapshot whose arrival time has come before the
    /// next step at `next_ns`.
    fn emit_due_snapshot(&mut self, next_ns: u64) -> bool {
        let VenueState::Binance(b) = &mut self.venue else { return false };
        let Some(snap) = &b.pending else { return false };
        if snap.arrives_local_ns > self.epoch_ns + next_ns + params::BASE_LATENCY_NS && next_ns < self.end_ns {
            return false;
        }
        if next_ns >= self.end_ns && snap.arrives_local_ns > self.epoch_ns + self.end_ns + params::BASE_LATENCY_NS {
            // Would arrive after the session: never received.
            b.pending = None;
            return false;
        }
        let Some(snap) = b.pending.take() else { return false };
        let local = snap.arrives_local_ns.max(self.last_local_ns);
        self.last_local_ns = local;
        let start = self.arena.len();
        b.wire.depth_snapshot(
            &mut self.arena,
            snap.update_id,
            snap.event_ms,
            snap.transact_ms,
            snap.bids.iter().copied(),
            snap.asks.iter().copied(),
        );
        b.synced_once = true;
        b.resync_pending = false;
        let update_id = snap.update_id;
        b.spare = std::mem::replace(&mut b.shown, snap);
        self.push(start, FrameKind::Snapshot { update_id }, local);
        true
    }

    fn publish(&mut self) {
        match &self.venue {
            VenueState::Binance(b) => {
                if b.next_diff_ns <= b.next_mark_ns {
                    self.binance_diff();
                } else {
                    self.binance_mark();
                }
            }
            VenueState::Bybit(b) => {
                let now = self.now_ns;
                if b.next_book_ns == now {
                    self.bybit_book();
                } else if b.next_ticker_ns == now {
                    self.bybit_ticker();
                } else {
                    self.bybit_timers();
                }
            }
        }
    }

    fn binance_diff(&mut self) {
        let ms = self.ms(self.now_ns);
        let interval = diff_interval_ns(&mut self.wire_rng);
        let (tick, offset, step) = (self.tick, self.tick_offset, self.step);
        let gap_every = self.config.gap_every;
        let VenueState::Binance(b) = &mut self.venue else { return };
        b.next_diff_ns = self.now_ns + interval;
        let Some(first) = b.window_first.take() else { return };
        b.bids.clear();
        b.asks.clear();
        let (bids, asks) = (&mut b.bids, &mut b.asks);
        self.lob.take_changes(|side, t, lots| {
            let level = ((t + offset) * tick, lots * step);
            match side {
                Side::Buy => bids.push(level),
                Side::Sell => asks.push(level),
            }
        });
        b.diffs += 1;
        let (u, pu) = (b.update_id, b.prev_u);
        b.prev_u = u;
        let lose = gap_every.is_some_and(|n| b.diffs % n == 0)
            && b.synced_once
            && !b.resync_pending
            && b.pending.is_none()
            && b.capture_at_ns.is_none();
        if lose {
            b.resync_pending = true;
            b.capture_at_ns = Some(self.now_ns + RESYNC_DELAY_NS);
            self.summary.lost_depth_frames += 1;
            return;
        }
        let transact_ms = b.window_last_ms;
        let local = self.local_ts(self.now_ns);
        let VenueState::Binance(b) = &mut self.venue else { return };
        let start = self.arena.len();
        b.wire.depth_update(&mut self.arena, ms, transact_ms, first, u, pu, &b.bids, &b.asks);
        self.push(start, FrameKind::Depth { update_id: u }, local);
    }

    fn next_basis(&mut self, basis: i64) -> i64 {
        let step = params::MARK_BASIS_STEP_E8;
        let noise = self.wire_rng.below((2 * step + 1) as u64) as i64 - step;
        basis - basis / params::MARK_BASIS_REVERSION + noise
    }

    fn binance_mark(&mut self) {
        let ms = self.ms(self.now_ns);
        let mid = self.mid_e8();
        let VenueState::Binance(b) = &self.venue else { return };
        let basis = b.basis_e8;
        let basis = self.next_basis(basis);
        let local = self.local_ts(self.now_ns);
        let VenueState::Binance(b) = &mut self.venue else { return };
        b.next_mark_ns = self.now_ns + 1_000_000_000;
        b.basis_e8 = basis;
        let Some(mid) = mid else { return };
        let mark = (mid + basis).max(1);
        let index = (mark - params::INDEX_DISCOUNT_E8).max(1);
        let next_funding = (ms.div_euclid(params::FUNDING_INTERVAL_MS) + 1) * params::FUNDING_INTERVAL_MS;
        let start = self.arena.len();
        b.wire.mark_price(&mut self.arena, ms, mark, index, index, params::FUNDING_RATE_E8, next_funding);
        self.push(start, FrameKind::MarkPrice, local);
    }

    fn on_bybit_event(&mut self, fired: Fired, ms: i64) {
        let VenueState::Bybit(b) = &mut self.venue else { return };
        b.seq += 1 + self.wire_rng.geometric(b.seq_stride_p);
        b.last_event_ms = ms;
        if fired.kind != EventKind::Market {
            return;
        }
        b.prints.clear();
        let mut direction = b.ticker.tick_direction;
        let mut last = b.last_trade_price;
        let (mut volume, mut turnover) = (0i128, 0i128);
        for print in self.lob.prints() {
            let (price, qty) = ((print.tick + self.tick_offset) * self.tick, print.lots * self.step);
            direction = direction.next(last, price);
            last = price;
            volume += i128::from(qty);
            turnover += i128::from(price) * i128::from(qty);
            b.prints.push(TradePrint { price, qty, direction, id: uuid(&mut self.wire_rng) });
        }
        let inst = &self.config.instrument;
        let t = &mut b.ticker;
        let mut flags = changed::VOLUME;
        if direction != t.tick_direction {
            flags |= changed::TICK_DIRECTION;
        }
        if last != t.last {
            flags |= changed::LAST | changed::PCNT;
        }
        t.tick_direction = direction;
        t.last = last;
        t.pcnt_e6 = (i128::from(last - t.prev_24h) * 1_000_000 / i128::from(t.prev_24h.max(1))) as i64;
        t.volume_e4 += rescale_i128(volume, inst.qty_scale, 4);
        t.turnover_e4 += rescale_i128(turnover, inst.qty_scale + inst.price_scale, 4);
        b.ticker_flags |= flags;
        b.last_trade_price = last;
        self.summary.trade_prints += b.prints.len() as u64;
        let local = self.local_ts(self.now_ns);
        let VenueState::Bybit(b) = &mut self.venue else { return };
        let start = self.arena.len();
        b.wire.public_trade(&mut self.arena, ms + 1, ms, fired.side, b.seq, &b.prints);
        self.push(start, FrameKind::Trade, local);
    }

    fn bybit_book(&mut self) {
        let ms = self.ms(self.now_ns);
        let (tick, offset, step) = (self.tick, self.tick_offset, self.step);
        let gap_every = self.config.gap_every;
        let now = self.now_ns;
        let VenueState::Bybit(b) = &mut self.venue else { return };
        b.next_book_ns = now + BYBIT_BOOK_INTERVAL_NS;
        for (s, side) in [Side::Buy, Side::Sell].into_iter().enumerate() {
            b.current[s].clear();
            b.current[s].extend(self.lob.levels(side).take(BYBIT_DEPTH).map(|(t, l)| ((t + offset) * tick, l * step)));
        }
        if b.resubscribe_at_ns.is_some_and(|at| now >= at) {
            b.resubscribe_at_ns = None;
            b.snapshot_due = true;
        }
        let snapshot = b.snapshot_due;
        if !snapshot {
            for s in 0..2 {
                let sign = if s == 0 { 1 } else { -1 };
                diff_levels(&b.published[s], &b.current[s], sign, &mut b.changes[s]);
            }
            if b.changes[0].is_empty() && b.changes[1].is_empty() {
                return;
            }
        }
        b.u += 1;
        std::mem::swap(&mut b.published, &mut b.current);
        if snapshot {
            b.snapshot_due = false;
        } else {
            b.deltas += 1;
            let resync_pending = b.resubscribe_at_ns.is_some();
            if gap_every.is_some_and(|n| b.deltas % n == 0) && !resync_pending {
                b.resubscribe_at_ns = Some(now + RESYNC_DELAY_NS);
                self.summary.lost_depth_frames += 1;
                return;
            }
        }
        let (u, seq, cts) = (b.u, b.seq, b.last_event_ms.min(ms));
        let local = self.local_ts(now);
        let VenueState::Bybit(b) = &mut self.venue else { return };
        let start = self.arena.len();
        if snapshot {
            b.wire.orderbook(
                &mut self.arena,
                true,
                ms,
                cts,
                u,
                seq,
                b.published[0].iter().copied(),
                b.published[1].iter().copied(),
            );
            self.push(start, FrameKind::Snapshot { update_id: u }, local);
        } else {
            b.wire.orderbook(
                &mut self.arena,
                false,
                ms,
                cts,
                u,
                seq,
                b.changes[0].iter().copied(),
                b.changes[1].iter().copied(),
            );
            self.push(start, FrameKind::Depth { update_id: u }, local);
        }
    }

    fn bybit_ticker(&mut self) {
        let ms = self.ms(self.now_ns);
        let top = self.top_mantissas();
        let now = self.now_ns;
        let VenueState::Bybit(b) = &mut self.venue else { return };
        b.next_ticker_ns = now + BYBIT_BOOK_INTERVAL_NS;
        if let Some((bid, ask)) = top {
            if bid != b.ticker.bid {
                b.ticker.bid = bid;
                b.ticker_flags |= changed::BID;
            }
            if ask != b.ticker.ask {
                b.ticker.ask = ask;
                b.ticker_flags |= changed::ASK;
            }
        }
        if ms >= b.ticker.next_funding_ms {
            b.ticker.next_funding_ms += params::FUNDING_INTERVAL_MS;
            b.ticker_flags |= changed::FUNDING;
        }
        let snapshot = !b.ticker_started;
        if !snapshot && b.ticker_flags == 0 {
            return;
        }
        let flags = std::mem::take(&mut b.ticker_flags);
        b.ticker_started = true;
        let (ticker, cs) = (b.ticker, b.seq);
        let local = self.local_ts(now);
        let VenueState::Bybit(b) = &mut self.venue else { return };
        let start = self.arena.len();
        b.wire.ticker(&mut self.arena, snapshot, &ticker, flags, cs, ms);
        self.push(start, FrameKind::Ticker, local);
    }

    /// Mark price, index price and open interest: they change the ticker,
    /// which publishes on its own schedule.
    fn bybit_timers(&mut self) {
        let now = self.now_ns;
        let mid = self.mid_e8();
        let inst = self.config.instrument;
        let price_unit = pow10(E8 - inst.price_scale.min(E8));
        let VenueState::Bybit(b) = &self.venue else { return };
        let (mark_due, index_due, oi_due) = (b.next_mark_ns == now, b.next_index_ns == now, b.next_oi_ns == now);
        let basis = b.basis_e8;
        let basis = if mark_due { self.next_basis(basis) } else { basis };
        let oi_step = self.wire_rng.below(2001) as i64 - 1000;
        let VenueState::Bybit(b) = &mut self.venue else { return };
        let t = &mut b.ticker;
        if mark_due {
            b.next_mark_ns = now + 1_000_000_000;
            b.basis_e8 = basis;
            if let Some(mid) = mid {
                t.mark = (mid + basis).max(1) / price_unit;
                b.ticker_flags |= changed::MARK | changed::OI_VALUE;
            }
        }
        if index_due {
            b.next_index_ns = now + 1_000_000_000;
            t.index = ((t.mark * price_unit + params::INDEX_DISCOUNT_E8) / price_unit).max(1);
            b.ticker_flags |= changed::INDEX;
        }
        if oi_due {
            b.next_oi_ns = now + 5_000_000_000;
            t.open_interest = (t.open_interest + oi_step * inst.step.0).max(inst.step.0);
            b.ticker_flags |= changed::OPEN_INTEREST | changed::OI_VALUE;
        }
        t.oi_value_e2 =
            rescale_i128(i128::from(t.open_interest) * i128::from(t.mark), inst.qty_scale + inst.price_scale, 2);
    }
}

/// The frames of a session as owned `(local_ts_ns, bytes)` pairs
/// ([`Synth::into_owned_frames`]).
#[derive(Debug, Clone)]
pub struct OwnedFrames {
    synth: Synth,
}

impl OwnedFrames {
    /// The generator, e.g. for its [`Synth::summary`].
    #[must_use]
    pub fn synth(&self) -> &Synth {
        &self.synth
    }
}

impl Iterator for OwnedFrames {
    type Item = (u64, Vec<u8>);

    fn next(&mut self) -> Option<Self::Item> {
        self.synth.next_frame().map(|f| (f.local_ts_ns, f.bytes.to_vec()))
    }
}

/// A wait of `model_s` seconds of model time in session time, ns: `--rate`
/// scales every rate, so model time runs `intensity` times faster.
fn wait_ns(model_s: f64, intensity: f64) -> u64 {
    (model_s / intensity * 1e9) as u64
}

fn diff_interval_ns(rng: &mut Rng) -> u64 {
    let ms = params::DIFF_INTERVAL_MS.at(rng.uniform());
    (ms * 1e6) as u64
}

/// `v` at `from` decimals rescaled to `to` decimals (truncating).
fn rescale_i128(v: i128, from: u8, to: u8) -> i64 {
    let r = if to >= from { v * 10i128.pow(u32::from(to - from)) } else { v / 10i128.pow(u32::from(from - to)) };
    i64::try_from(r).unwrap_or(i64::MAX)
}

/// A random UUID in Bybit's trade-id form (version 5 layout, as the
/// recordings show), lower-case hex.
fn uuid(rng: &mut Rng) -> [u8; 36] {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let mut pos = 0;
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            pos += 1;
        }
        out[pos] = HEX[usize::from(byte >> 4)];
        out[pos + 1] = HEX[usize::from(byte & 0x0f)];
        pos += 2;
    }
    out
}

/// The changes from `old` to `new` (both best first; `sign` +1 for bids,
/// −1 for asks), best first, qty 0 for levels that left.
fn diff_levels(old: &[(i64, i64)], new: &[(i64, i64)], sign: i64, out: &mut Vec<(i64, i64)>) {
    out.clear();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(&(po, qo)), Some(&(pn, qn))) if po == pn => {
                if qo != qn {
                    out.push((pn, qn));
                }
                i += 1;
                j += 1;
            }
            // The better price comes first in a best-first list.
            (Some(&(po, _)), Some(&(pn, _))) if (po - pn) * sign > 0 => {
                out.push((po, 0));
                i += 1;
            }
            (Some(_), Some(&level)) => {
                out.push(level);
                j += 1;
            }
            (Some(&(po, _)), None) => {
                out.push((po, 0));
                i += 1;
            }
            (None, Some(&level)) => {
                out.push(level);
                j += 1;
            }
            (None, None) => break,
        }
    }
}

/// The Bybit ticker at the session start: the recording's BTCUSDT values
/// (24 h change, range, volume, open interest), scaled to the start price
/// and the instrument's lots.
fn initial_ticker(inst: &Instrument, profile: &MarketProfile, start_ms: i64) -> TickerState {
    let bid = profile.start_bid.0;
    let ask = bid + inst.tick.0;
    let at = |ppm: i64| {
        let p = bid + bid * ppm / 1_000_000;
        p - p.rem_euclid(inst.tick.0)
    };
    // Recording: volume24h 17573.912 BTC, open interest 59891.732 BTC, in
    // calibration lots of 0.001 BTC.
    let lots = |cal_lots: f64| ((cal_lots * profile.size_multiplier) as i64).max(1) * inst.step.0;
    let open_interest = lots(59_891_732.0);
    let volume = lots(17_573_912.0);
    let volume_e4 = rescale_i128(i128::from(volume), inst.qty_scale, 4);
    let turnover_e4 = rescale_i128(i128::from(volume) * i128::from(bid), inst.qty_scale + inst.price_scale, 4);
    let oi_value_e2 = rescale_i128(i128::from(open_interest) * i128::from(bid), inst.qty_scale + inst.price_scale, 2);
    let mark = bid + inst.tick.0 / 2;
    TickerState {
        tick_direction: TickDirection::ZeroPlusTick,
        pcnt_e6: 1624,
        last: ask,
        prev_24h: at(-1621),
        high_24h: at(2600),
        low_24h: at(-6500),
        prev_1h: at(-470),
        mark,
        index: mark + inst.tick.0 * 3,
        open_interest,
        oi_value_e2,
        turnover_e4,
        volume_e4,
        next_funding_ms: (start_ms.div_euclid(params::FUNDING_INTERVAL_MS) + 1) * params::FUNDING_INTERVAL_MS,
        funding_rate_e8: params::FUNDING_RATE_E8,
        bid: (bid, 0),
        ask: (ask, 0),
    }
}

/// Writes a whole session in the recording format: one
/// `<local_ts_ns> <frame>` line per frame. Returns the counters.
///
/// # Errors
/// [`SynthError::Io`] from `out`.
pub fn write_session(synth: &mut Synth, out: &mut impl std::io::Write) -> Result<SynthSummary, SynthError> {
    let mut line = Vec::with_capacity(1 << 16);
    while let Some(frame) = synth.next_frame() {
        line.clear();
        super::wire_text::push_u64(&mut line, frame.local_ts_ns);
        line.push(b' ');
        line.extend_from_slice(frame.bytes);
        line.push(b'\n');
        out.write_all(&line)?;
    }
    Ok(synth.summary())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_look_like_bybit_trade_ids() {
        let mut rng = Rng::new(1);
        let id = uuid(&mut rng);
        let text = std::str::from_utf8(&id).unwrap();
        let groups: Vec<&str> = text.split('-').collect();
        assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
        assert!(groups[2].starts_with('5'));
        assert!(matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
        assert!(text.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn level_diffs_follow_the_top_levels() {
        let old = [(105, 1), (104, 2), (102, 3)];
        let new = [(106, 9), (104, 2), (103, 4), (102, 5)];
        let mut out = Vec::new();
        diff_levels(&old, &new, 1, &mut out);
        assert_eq!(out, [(106, 9), (105, 0), (103, 4), (102, 5)]);
        let old_asks = [(10, 1), (12, 1)];
        let new_asks = [(11, 2), (12, 1), (13, 1)];
        diff_levels(&old_asks, &new_asks, -1, &mut out);
        assert_eq!(out, [(10, 0), (11, 2), (13, 1)]);
        diff_levels(&new, &new, 1, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn the_three_ways_to_read_a_session_agree() {
        let config = SynthConfig::built_in(Venue::BybitLinear, "ETHUSDT".parse().unwrap(), 4, 3.0).unwrap();
        let mut lent = Vec::new();
        let mut synth = Synth::new(&config).unwrap();
        while let Some(f) = synth.next_frame() {
            lent.push((f.local_ts_ns, f.bytes.to_vec()));
        }
        let owned: Vec<(u64, Vec<u8>)> = Synth::new(&config).unwrap().into_owned_frames().collect();
        let recording = Synth::new(&config).unwrap().into_recording();
        let from_recording: Vec<(u64, Vec<u8>)> = recording.iter().map(|(ts, f)| (ts, f.to_vec())).collect();
        assert!(lent.len() > 50);
        assert_eq!(lent, owned);
        assert_eq!(lent, from_recording);
        assert_eq!(recording.bad_lines(), 0);
    }

    #[test]
    fn bad_configurations_are_refused() {
        let sym = |s: &str| s.parse::<Symbol>().unwrap();
        assert!(matches!(
            SynthConfig::built_in(Venue::BinanceUsdm, sym("DOGEUSDT"), 1, 1.0),
            Err(SynthError::UnknownSymbol { .. })
        ));
        assert!(matches!(
            SynthConfig::built_in(Venue::BybitLinear, sym("BTCUSDT"), 1, 0.0),
            Err(SynthError::BadDuration(_))
        ));
        assert!(matches!(
            SynthConfig::built_in(Venue::BybitLinear, sym("BTCUSDT"), 1, f64::NAN),
            Err(SynthError::BadDuration(_))
        ));
        let mut c = SynthConfig::built_in(Venue::BinanceUsdm, sym("ETHUSDT"), 1, 1.0).unwrap();
        c.gap_every = Some(0);
        assert!(matches!(Synth::new(&c), Err(SynthError::BadGapEvery)));
        c.gap_every = None;
        c.events_per_s = -3.0;
        assert!(matches!(Synth::new(&c), Err(SynthError::BadRate(_))));
    }
}
