//! The trading core: one sans-IO, allocation-free object that owns, per
//! instrument, the market state (book and its sync machine, BBO, tape,
//! funding), the signals, the strategy, the inline risk gate, and the one
//! order and position ledger. The backtest, the live engine and the demo
//! all drive this object; nothing else routes events to the signals or the
//! strategy.
//!
//! ```text
//!  market frame ──► decode (the feed's decoder) ──► stream binding check ──► clock bound
//!    (on_frame)        ──► book sync / BBO / tape (one de-duplication rule) ──► signals
//!                      ──► strategy ──► risk gate ──► ledger (Submitted) ──► Intents (caller's buffer)
//!  private frame/event ──► parsers ──► ledger (de-duplicated facts only) ──► gate, strategy, RiskLink
//!    (on_private*)
//!  timer (on_timer)    ──► dark feeds, time stops, entry timeouts, marks, ledger retirement
//!  RiskLink ◄──► risk side: RiskInput records out, RiskCommands back; the gate reads the VerdictCell
//! ```
//!
//! # Time
//! The core never reads a clock. Every call passes `recv_ns`, nanoseconds
//! since the Unix epoch on the caller's clock: the live engine's socket
//! read time, the backtest's simulated delivery time, the recorded receive
//! time of a replayed flight recording. The core's clock is the largest
//! `recv_ns` seen (it never goes back). Exchange timestamps more than
//! `max_clock_skew_ms` ahead of it are clamped to it and counted
//! ([`CoreStats::clock_skew_clamped`]): one far-future timestamp cannot push
//! the signals' clock into the future.
//!
//! # Invariants
//! - **One router.** Every market event goes through [`Core::on_frame`] or
//!   [`Core::on_market_event`]; each instrument's signals are fed only here.
//! - **One ledger.** Every order event goes to the ledger
//!   ([`crate::order::state::OrderTable`]) first. The gate, the strategy
//!   and the risk link see only what the ledger reports as new: each fill
//!   once (so the strategy's managed position is always the sum of the
//!   distinct fills), a late fee once, each terminal state once.
//! - **One session.** Client ids carry this session's epoch
//!   ([`crate::order::ClientOrderId`]); a message about another session's
//!   order is counted ([`CoreStats::other_session`]) and applied to nothing.
//! - **Positions stay protected.** While a book is out of sync (or its feed
//!   dark or down, or its position disagrees with the venue's) the
//!   instrument takes no new entries and its resting entry is pulled (a
//!   cancel intent). Exits and risk marks fall back to the venue's BBO
//!   stream, then to the mark price, while those are at most
//!   `fallback_max_age_ms` old; the time stop needs no price at all.
//! - **Reconciliation.** A venue position report that disagrees with the
//!   ledger puts the symbol in reduce-only (gate and strategy) and is sent
//!   to the risk side (journaled) until a report or a fill makes them agree.
//! - **No allocation** after construction on any path
//!   (`tests/core_alloc.rs`), and nothing blocks: the caller owns the
//!   intent buffer; a full buffer is counted, never grown.
//!
//! Sources for the venue rules applied here: the venue modules
//! (`venue/*/sync.rs`, `venue/*/private.rs`) and DESIGN.md.

pub mod feed;
pub mod intents;
pub mod link;
mod market_path;
mod private_path;
pub mod probe;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::book::DEFAULT_LEVELS;
use crate::fixed::{Price, Qty, SignedQty, pow10};
use crate::instrument::{Instrument, InstrumentId, LoadError, Symbol, Venue};
use crate::json::JsonScratch;
use crate::market::MarketState;
use crate::order::state::OrderTable;
use crate::order::{ClientOrderId, SessionEpoch};
use crate::profile::Profile;
use crate::risk::{CheckContext, GateSlot, RiskCommand, RiskGate, RiskInput, VerdictCell};
use crate::signal::{LiveSignals, SignalSource};
use crate::strategy::entry::SizeLimits;
use crate::strategy::{AccountView, Action, ExitReason, MarketView, Strategy};
use crate::venue::Decoder;
use crate::venue::binance::private::BinancePrivateParser;
use crate::venue::bybit::private::BybitPrivateParser;
use crate::venue::private_event::{EMPTY_EVENT, PrivateEvent};
use crate::venue::sync::SyncState;

pub use crate::profile::core::CoreConfig;
pub use feed::{BindError, BindMode, BookKind, FeedId, FeedState, StreamKind};
pub use intents::{Intent, Intents, OrderRole};
pub use link::{OrderCause, RiskLink};
pub use private_path::{FillsApplied, PrivateSource};
pub use probe::{NoProbe, Observation, Probe, Stage};

use feed::Feed;

/// Private events one private frame may carry at most (a Bybit execution
/// push of many rows; more is [`crate::venue::private_event::PrivateParseError::TooManyEvents`]).
pub const PRIVATE_EVENTS_PER_FRAME: usize = 64;

/// Why a core could not be built.
///
/// # Errors
/// From [`Core::new`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// The profile's limits do not fit an instrument, or the table is too large.
    #[error("profile: {0}")]
    Profile(#[from] LoadError),
}

/// What the core counted (status line, metrics, reports).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// Market frames handed in.
    pub frames: u64,
    /// Frames that did not decode.
    pub decode_errors: u64,
    /// Frames naming a feed the core does not have.
    pub unknown_feed: u64,
    /// Events whose (instrument, kind) is not bound on their feed.
    pub unbound_events: u64,
    /// Depth frames of a second book stream of an instrument (never applied).
    pub second_book_stream: u64,
    /// Symbol-less snapshots on a feed with no single diff book to route them to.
    pub unroutable_snapshots: u64,
    /// Elements of a batch (trade, liquidation) that did not decode.
    pub malformed: u64,
    /// Connection-level messages (acks, pongs).
    pub control: u64,
    /// Venue error messages on market feeds.
    pub venue_errors: u64,
    /// Streams or symbols the decoders skip on purpose.
    pub ignored: u64,
    /// Events with an exchange timestamp clamped to the receive clock.
    pub clock_skew_clamped: u64,
    /// Orders placed (intents out).
    pub orders_placed: u64,
    /// Cancels sent (intents out).
    pub cancels_sent: u64,
    /// Intents that did not fit the caller's buffer (rolled back or retried).
    pub intents_full: u64,
    /// Orders refused because the ledger had no room.
    pub ledger_full: u64,
    /// Order events about another session's orders.
    pub other_session: u64,
    /// Order events about orders the ledger does not hold.
    pub unknown_orders: u64,
    /// Order events the ledger already had (duplicates).
    pub duplicate_order_events: u64,
    /// Private frames that did not parse.
    pub private_errors: u64,
    /// Activity on the account this engine did not originate.
    pub foreign_activity: u64,
    /// Funding payments received.
    pub funding_payments: u64,
    /// Position reports that disagreed with the ledger.
    pub reconcile_mismatches: u64,
    /// Disagreements resolved.
    pub reconcile_resolved: u64,
    /// Resting entries pulled because their instrument stopped being tradable.
    pub pulls: u64,
    /// Times a book feed went dark.
    pub dark_feeds: u64,
    /// Risk commands applied.
    pub risk_commands: u64,
    /// Intents the transport could not send.
    pub send_failures: u64,
    /// Orders retired from the ledger.
    pub retired_orders: u64,
    /// Entry orders placed without the strategy's decision context (never
    /// expected: the strategy records one with every entry; the journal
    /// then lacks that entry's context records).
    pub entries_without_context: u64,
    /// Fills a fill fetch brought that the ledger had not seen (missed by a
    /// private stream while it was down).
    pub fills_recovered: u64,
    /// Rows of fill fetches that did not parse.
    pub fill_rows_bad: u64,
    /// The risk side asked the engine to exit.
    pub exit_requested: bool,
}

/// Where the prices the strategy and the risk marks use come from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceSource {
    /// The synced book (or the venue's BBO when newer), book in sync.
    Book,
    /// Book out of sync: the venue's BBO stream.
    Bbo,
    /// Book out of sync and no fresh BBO: the mark price.
    Mark,
    /// Nothing usable.
    None,
}

/// Executable prices of an instrument now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prices {
    /// Best bid (zero when unknown).
    pub bid: Price,
    /// Best ask (zero when unknown).
    pub ask: Price,
    /// Reference mid for the gate and the risk marks (zero when unknown).
    pub mid: Price,
    /// When the core learnt them, ns (the core's clock).
    pub at_ns: u64,
    /// Where they come from.
    pub source: PriceSource,
}

/// Per-instrument counters for reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstrumentCounts {
    /// Books published to the signals.
    pub book_updates: u64,
    /// Strategy decisions on market events.
    pub decisions: u64,
    /// Strategy decisions on timers (positions and entries only).
    pub timer_decisions: u64,
}

/// Per-instrument state of the core (small, `Copy`).
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Executable top while the book is in sync: the newer of the book and
    /// the venue's BBO (exchange time `top_src_ms`, learnt at `top_at_ns`).
    top: (Price, Price),
    top_src_ms: i64,
    top_at_ns: u64,
    /// When the BBO and the mark price were last updated (core clock).
    bbo_at_ns: u64,
    mark_at_ns: u64,
    last_mark_ms: i64,
    /// Which feed and stream kind the book is bound to.
    book: Option<(u16, BookKind)>,
    /// The venue's position while it disagrees with the ledger.
    mismatch: Option<SignedQty>,
    /// Entries were allowed at the last decision.
    tradable: bool,
    /// Resyncs of the book already reported to the risk side.
    resyncs_seen: u64,
    counts: InstrumentCounts,
}

impl Slot {
    const EMPTY: Self = Self {
        top: (Price::ZERO, Price::ZERO),
        top_src_ms: i64::MIN,
        top_at_ns: 0,
        bbo_at_ns: 0,
        mark_at_ns: 0,
        last_mark_ms: i64::MIN,
        book: None,
        mismatch: None,
        tradable: false,
        resyncs_seen: 0,
        counts: InstrumentCounts { book_updates: 0, decisions: 0, timer_decisions: 0 },
    };
}

/// Everything but the decoders and the JSON scratch (which the decode step
/// borrows while the rest handles the event).
struct State<L: RiskLink, S: SignalSource, P: Probe> {
    cfg: CoreConfig,
    insts: Box<[Instrument]>,
    table: crate::instrument::InstrumentTable,
    epoch: SessionEpoch,
    next_seq: u32,
    feeds: Vec<Feed>,
    /// Snapshot instrument for each feed's decoder, applied after a decode.
    pending_snapshot_inst: Option<(usize, Option<InstrumentId>)>,
    market: MarketState<DEFAULT_LEVELS>,
    signals: S,
    strategy: Strategy,
    gate: RiskGate,
    ledger: OrderTable,
    slots: Box<[Slot]>,
    link: L,
    probe: P,
    binance_private: BinancePrivateParser,
    bybit_private: BybitPrivateParser,
    private_events: Box<[PrivateEvent; PRIVATE_EVENTS_PER_FRAME]>,
    now_ns: u64,
    /// A timestamp of the current event was clamped ([`Self::bound_ms`]).
    clamped_now: bool,
    last_retire_ms: i64,
    stats: CoreStats,
}

/// The trading core (module docs). `L` is the link to the risk side, `S`
/// the signal source (the live signal families by default), `P` the
/// observation hook (none by default).
pub struct Core<L: RiskLink, S: SignalSource = LiveSignals, P: Probe = NoProbe> {
    decoders: Vec<Decoder>,
    scratch: JsonScratch,
    st: State<L, S, P>,
}

impl<L: RiskLink, S: SignalSource, P: Probe> std::fmt::Debug for Core<L, S, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("instruments", &self.st.insts.len())
            .field("feeds", &self.st.feeds.len())
            .field("epoch", &self.st.epoch)
            .field("stats", &self.st.stats)
            .finish_non_exhaustive()
    }
}

impl<L: RiskLink, S: SignalSource, P: Probe> Core<L, S, P> {
    /// A core for the instruments of `profile` (instrument `n` of the
    /// profile's table is [`InstrumentId`]`(n)` everywhere), with the
    /// profile's strategy, risk limits and `[core]` settings, signals from
    /// `signals`, the gate reading `verdict`, the risk side behind `link`,
    /// and client ids of session `epoch`. Allocates everything now; no feed
    /// yet ([`Core::add_feed`]).
    ///
    /// # Errors
    /// [`CoreError::Profile`] when a risk limit does not fit an instrument.
    pub fn new(
        profile: &Profile,
        signals: S,
        link: L,
        probe: P,
        epoch: SessionEpoch,
        verdict: Arc<VerdictCell>,
    ) -> Result<Self, CoreError> {
        let insts: Box<[Instrument]> = profile.instruments.all().into();
        let limits: Vec<SizeLimits> = insts
            .iter()
            .map(|inst| {
                let configured = profile.risk.symbol_limits(inst.venue, &inst.symbol);
                let bound = crate::risk::config::SymbolLimits::bind(
                    configured.map(|(_, l)| l),
                    configured.map_or(0, |(k, _)| k),
                    inst,
                )?;
                Ok(SizeLimits {
                    max_qty: Qty(bound.max_order_qty.0.min(inst.max_qty.0)),
                    max_notional: profile.risk.max_order_notional,
                })
            })
            .collect::<Result<_, LoadError>>()?;
        let strategy = Strategy::new(profile.strategy.clone(), &insts, &limits, signals.provides());
        let gate = RiskGate::new(&profile.risk, &insts, verdict, 0)?;
        let cfg = profile.core;
        let mut ledger = OrderTable::with_fill_keys(cfg.order_capacity, insts.len().max(1), cfg.fill_keys);
        for inst in insts.iter() {
            ledger
                .reserve_position(inst.venue, &inst.symbol)
                .map_err(|e| LoadError::new("instruments", e.to_string()))?;
        }
        let mut market = MarketState::for_table(&profile.instruments);
        market.set_mark_reset_ms(cfg.mark_reset_ms);
        let n = insts.len();
        let mut core = Self {
            decoders: Vec::new(),
            scratch: JsonScratch::default(),
            st: State {
                cfg,
                table: profile.instruments.clone(),
                insts,
                epoch,
                next_seq: 1,
                feeds: Vec::new(),
                pending_snapshot_inst: None,
                market,
                signals,
                strategy,
                gate,
                ledger,
                slots: vec![Slot::EMPTY; n].into_boxed_slice(),
                link,
                probe,
                binance_private: BinancePrivateParser::new(),
                bybit_private: BybitPrivateParser::new(),
                private_events: Box::new([EMPTY_EVENT; PRIVATE_EVENTS_PER_FRAME]),
                now_ns: 0,
                clamped_now: false,
                last_retire_ms: i64::MIN,
                stats: CoreStats::default(),
            },
        };
        core.st.warm_private_parsers();
        Ok(core)
    }

    /// Adds a feed of `venue` (a connection, a recorded file) with its own
    /// decoder; allocates now.
    ///
    /// # Panics
    /// Never in practice: more than 65 535 feeds is refused with the last id.
    pub fn add_feed(&mut self, venue: Venue, mode: BindMode) -> FeedId {
        self.decoders.push(Decoder::new(venue, &self.st.table));
        self.st.feeds.push(Feed::new(venue, self.st.insts.len(), mode));
        FeedId(u16::try_from(self.st.feeds.len() - 1).unwrap_or(u16::MAX))
    }

    /// Binds a stream subscribed on `feed` to (`inst`, `kind`) (see
    /// [`feed`] for the rules). Binding a book stream sets the instrument's
    /// sync machine to its kind (diff or partial).
    ///
    /// # Errors
    /// [`BindError`].
    pub fn bind(&mut self, feed: FeedId, inst: InstrumentId, kind: StreamKind) -> Result<(), BindError> {
        let r = self.st.bind(usize::from(feed.0), inst, kind);
        self.apply_pending();
        r
    }

    fn apply_pending(&mut self) {
        if let Some((f, inst)) = self.st.pending_snapshot_inst.take() {
            if let Some(d) = self.decoders.get_mut(f) {
                d.set_snapshot_instrument(inst);
            }
        }
    }

    /// One market frame of `feed`, received at `recv_ns`: decoded in place
    /// (the bytes are clobbered) with the feed's decoder and handled as
    /// [`Core::on_market_event`]. Returns the instrument the strategy
    /// decided on, if any.
    pub fn on_frame(
        &mut self,
        feed: FeedId,
        frame: &mut [u8],
        recv_ns: u64,
        out: &mut Intents,
    ) -> Option<InstrumentId> {
        let f = usize::from(feed.0);
        self.st.begin(recv_ns);
        let Some(decoder) = self.decoders.get(f) else {
            self.st.stats.unknown_feed += 1;
            return None;
        };
        self.st.stats.frames += 1;
        self.st.feed_alive(f, recv_ns);
        let st = &mut self.st;
        let decided = decoder.decode_frame(&mut self.scratch, frame, |event| match event {
            Ok(event) => {
                st.probe.stage(Stage::Decoded);
                st.on_event(f, &event, out)
            }
            Err(_) => {
                st.stats.decode_errors += 1;
                None
            }
        });
        self.apply_pending();
        decided
    }

    /// One already-decoded market event of `feed`, received at `recv_ns`.
    /// Returns the instrument the strategy decided on, if any.
    pub fn on_market_event(
        &mut self,
        feed: FeedId,
        event: &crate::event::MarketEvent<'_>,
        recv_ns: u64,
        out: &mut Intents,
    ) -> Option<InstrumentId> {
        let f = usize::from(feed.0);
        self.st.begin(recv_ns);
        if f >= self.st.feeds.len() {
            self.st.stats.unknown_feed += 1;
            return None;
        }
        self.st.stats.frames += 1;
        self.st.feed_alive(f, recv_ns);
        let decided = self.st.on_event(f, event, out);
        self.apply_pending();
        decided
    }

    /// A Binance REST depth snapshot (`GET /fapi/v1/depth`) fetched for
    /// `inst`: it names no symbol, so the caller says which book it is for.
    /// It is applied only if that book is bound to a Binance diff stream.
    pub fn on_rest_snapshot(
        &mut self,
        inst: InstrumentId,
        frame: &mut [u8],
        recv_ns: u64,
        out: &mut Intents,
    ) -> Option<InstrumentId> {
        self.st.begin(recv_ns);
        let Some((feed, BookKind::Diff { .. })) = self.st.slots.get(usize::from(inst.0)).and_then(|s| s.book) else {
            self.st.stats.unroutable_snapshots += 1;
            return None;
        };
        let f = usize::from(feed);
        let decoder = self.decoders.get_mut(f)?;
        let saved = decoder.snapshot_instrument();
        decoder.set_snapshot_instrument(Some(inst));
        let st = &mut self.st;
        let decoder = &self.decoders[f];
        let decided = decoder.decode_frame(&mut self.scratch, frame, |event| match event {
            Ok(event @ crate::event::MarketEvent::Snapshot(_)) => st.on_event(f, &event, out),
            Ok(_) | Err(_) => {
                st.stats.decode_errors += 1;
                None
            }
        });
        self.decoders[f].set_snapshot_instrument(saved);
        decided
    }

    /// Open interest of `inst` (base quantity at the instrument's scale)
    /// as of exchange time `ts_ms`, learnt at `recv_ns` off the hot path:
    /// the Binance `GET /fapi/v1/openInterest` poll
    /// ([`crate::venue::binance::rest::parse_open_interest`]). Bybit's
    /// arrives on its `tickers` stream through [`Core::on_frame`] instead.
    /// Goes to the market state and the signals, then the strategy decides
    /// on the instrument as after a funding update. Returns the instrument
    /// decided on.
    pub fn on_open_interest(
        &mut self,
        inst: InstrumentId,
        qty: Qty,
        ts_ms: i64,
        recv_ns: u64,
        out: &mut Intents,
    ) -> Option<InstrumentId> {
        self.st.begin(recv_ns);
        if usize::from(inst.0) >= self.st.insts.len() || qty.0 <= 0 {
            self.st.stats.malformed += 1;
            return None;
        }
        let ts_ms = self.st.bound_ms(ts_ms);
        if let Some(st) = self.st.market.get_mut(inst) {
            st.funding.open_interest = qty;
        }
        self.st.signals.on_open_interest(inst, qty, ts_ms);
        self.st.decide(inst, out);
        Some(inst)
    }

    /// The engine's news about a feed ([`FeedState`]).
    pub fn on_feed_state(&mut self, feed: FeedId, state: FeedState, now_ns: u64, out: &mut Intents) {
        self.st.begin(now_ns);
        self.st.feed_state(usize::from(feed.0), state, out);
    }

    /// Time passes without market data: dark feeds, time stops, entry
    /// timeouts, pulls, marks and ledger retirement run (no new entry: those
    /// come from market data). Call it every few milliseconds of idle time
    /// (the backtest calls it every 100 ms of a gap in the data).
    pub fn on_timer(&mut self, now_ns: u64, out: &mut Intents) {
        self.st.begin(now_ns);
        self.st.timer(out);
    }

    /// One private event (an ack, fill, cancel, expiry, rejection, a
    /// position, funding or account update), learnt at `recv_ns`.
    pub fn on_private(&mut self, event: &PrivateEvent, recv_ns: u64, out: &mut Intents) {
        self.st.begin(recv_ns);
        let _ = self.st.on_private(event, None, out);
    }

    /// An order event (a shorthand for [`Core::on_private`]).
    pub fn on_order_event(&mut self, event: &crate::order::OrderEvent, recv_ns: u64, out: &mut Intents) {
        self.st.begin(recv_ns);
        let _ = self.st.on_private(&PrivateEvent::Order(*event), None, out);
    }

    /// One private frame (user-data stream, WebSocket API or trade socket
    /// response, private topic), parsed with the venue's parser and applied
    /// event by event. A recorded live session's private frames can be
    /// replayed through here exactly as they arrived.
    ///
    /// # Errors
    /// The parse error; nothing of the frame is applied then (counted).
    pub fn on_private_frame(
        &mut self,
        source: PrivateSource,
        frame: &mut [u8],
        recv_ns: u64,
        out: &mut Intents,
    ) -> Result<usize, crate::venue::private_event::PrivateParseError> {
        self.st.begin(recv_ns);
        self.st.on_private_frame(source, frame, out)
    }

    /// A REST order response (status and body) to the request `tag` made
    /// on `venue`, parsed and applied as [`Core::on_private_frame`].
    ///
    /// # Errors
    /// As [`Core::on_private_frame`].
    pub fn on_rest_response(
        &mut self,
        venue: Venue,
        http_status: u16,
        body: &mut [u8],
        tag: crate::order::ids::RequestTag,
        recv_ns: u64,
        out: &mut Intents,
    ) -> Result<usize, crate::venue::private_event::PrivateParseError> {
        self.st.begin(recv_ns);
        self.st.on_rest_response(venue, http_status, body, tag, out)
    }

    /// One page of a fill fetch (Binance `GET /fapi/v1/userTrades`, Bybit
    /// `GET /v5/execution/list`, asked for after a private stream was down)
    /// with its HTTP status: every row of ours becomes the fill the stream
    /// would have delivered and goes through the one private path (the
    /// ledger drops those it already has; new ones move the position and
    /// reach the gate, the strategy and the risk link). Recorded and
    /// replayed as a REST answer with a [`crate::order::ids::RequestOp::Fills`]
    /// tag ([`Core::on_rest_response`] takes that path too).
    ///
    /// # Errors
    /// As [`Core::on_private_frame`]; the venue's refusal (status not 200,
    /// Bybit `retCode` not 0) is
    /// [`crate::venue::private_event::PrivateParseError::ExecutionUnknown`]:
    /// fetch again.
    pub fn on_fills_response(
        &mut self,
        venue: Venue,
        http_status: u16,
        body: &mut [u8],
        recv_ns: u64,
        out: &mut Intents,
    ) -> Result<FillsApplied, crate::venue::private_event::PrivateParseError> {
        self.st.begin(recv_ns);
        self.st.on_fills_response(venue, http_status, body, out)
    }

    /// The transport could not send `intent`: a place becomes a local
    /// rejection in the ledger ([`crate::order::RejectReason::NotSent`],
    /// releasing the gate and the strategy); a cancel is proposed again.
    pub fn on_send_failed(&mut self, intent: &Intent, now_ns: u64, out: &mut Intents) {
        self.st.begin(now_ns);
        self.st.send_failed(intent, out);
    }

    /// Cancels every entry and closes every position with reduce-only
    /// market orders, for `reason` (e.g. [`ExitReason::EndOfData`] at the
    /// end of a replay).
    pub fn close_all(&mut self, reason: ExitReason, out: &mut Intents) {
        self.st.close_all(reason, out);
    }

    /// An intent buffer capacity that one call can never fill.
    #[must_use]
    pub fn intents_capacity(&self) -> usize {
        2 * self.st.insts.len() + 8
    }

    /// The instruments, by [`InstrumentId`].
    #[must_use]
    pub fn instruments(&self) -> &[Instrument] {
        &self.st.insts
    }

    /// The session epoch of this core's client ids.
    #[must_use]
    pub fn epoch(&self) -> SessionEpoch {
        self.st.epoch
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> CoreStats {
        self.st.stats
    }

    /// Per-instrument counters.
    #[must_use]
    pub fn instrument_counts(&self, inst: InstrumentId) -> InstrumentCounts {
        self.st.slots.get(usize::from(inst.0)).map(|s| s.counts).unwrap_or_default()
    }

    /// The market state (books, sync counters, tapes, BBOs, funding).
    #[must_use]
    pub fn market(&self) -> &MarketState<DEFAULT_LEVELS> {
        &self.st.market
    }

    /// The signals.
    #[must_use]
    pub fn signals(&self) -> &S {
        &self.st.signals
    }

    /// The strategy.
    #[must_use]
    pub fn strategy(&self) -> &Strategy {
        &self.st.strategy
    }

    /// The strategy's slow context board (updated off the hot path, e.g.
    /// by the backtest's context timeline).
    pub fn strategy_context_mut(&mut self) -> &mut crate::strategy::context::ContextBoard {
        self.st.strategy.context_mut()
    }

    /// The inline risk gate.
    #[must_use]
    pub fn gate(&self) -> &RiskGate {
        &self.st.gate
    }

    /// The ledger.
    #[must_use]
    pub fn ledger(&self) -> &OrderTable {
        &self.st.ledger
    }

    /// The ledger's position of an instrument.
    #[must_use]
    pub fn position(&self, inst: InstrumentId) -> SignedQty {
        self.st.insts.get(usize::from(inst.0)).map_or(SignedQty::ZERO, |i| self.st.ledger.position(i.venue, &i.symbol))
    }

    /// Executable prices of an instrument now (with the resync fallbacks).
    #[must_use]
    pub fn prices(&self, inst: InstrumentId) -> Prices {
        self.st.prices(usize::from(inst.0))
    }

    /// `true` while new entries are allowed on the instrument.
    #[must_use]
    pub fn tradable(&self, inst: InstrumentId) -> bool {
        self.st.tradable(usize::from(inst.0))
    }

    /// The risk link.
    #[must_use]
    pub fn link(&self) -> &L {
        &self.st.link
    }

    /// The risk link, mutably.
    pub fn link_mut(&mut self) -> &mut L {
        &mut self.st.link
    }

    /// The probe.
    #[must_use]
    pub fn probe(&self) -> &P {
        &self.st.probe
    }

    /// The probe, mutably.
    pub fn probe_mut(&mut self) -> &mut P {
        &mut self.st.probe
    }

    /// `true` once each time the book of `inst` wants a resync (a Binance
    /// REST snapshot, a Bybit resubscription); the engine polls this.
    pub fn take_resync_request(&mut self, inst: InstrumentId) -> bool {
        self.st.market.get_mut(inst).is_some_and(|s| s.sync.take_resync_request())
    }

    /// The core's clock: the largest time handed in, ns.
    #[must_use]
    pub fn now_ns(&self) -> u64 {
        self.st.now_ns
    }
}

/// One message of each private shape, parsed once at construction so that
/// the parsers' scratch is allocated before the first real message.
const WARM_UP_MESSAGES: [(PrivateSource, &str); 3] = [
    (
        PrivateSource::BinanceUserData,
        r#"{"e":"ORDER_TRADE_UPDATE","E":1,"T":1,"o":{"s":"BTCUSDT","c":"x","S":"SELL","o":"LIMIT","f":"GTC","q":"0.002","p":"64089.20","ap":"64089.2","sp":"0","x":"TRADE","X":"PARTIALLY_FILLED","i":8886774,"l":"0.001","z":"0.001","L":"64089.20","N":"USDT","n":"0.01281784","T":1,"t":109100866,"b":"0","a":"9.91","m":true,"R":false,"wt":"CONTRACT_PRICE","ot":"LIMIT","ps":"BOTH","cp":false,"rp":"0","pP":false,"si":0,"ss":0,"V":"EXPIRE_TAKER","pm":"NONE","gtd":0}}"#,
    ),
    (
        PrivateSource::BinanceWsApi,
        r#"{"id":"x","status":200,"result":{"orderId":1,"symbol":"BTCUSDT","status":"NEW","clientOrderId":"x","updateTime":1},"rateLimits":[{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":300,"count":1}]}"#,
    ),
    (
        PrivateSource::Bybit,
        r#"{"id":"1","topic":"execution","creationTime":1,"data":[{"category":"linear","symbol":"BTCUSDT","execFee":"0.005061","execId":"7e2ae69c-4edf-5800-a352-893d52b446aa","execPrice":"61800.20","execQty":"0.025","execType":"Trade","isMaker":false,"orderLinkId":"x","side":"Sell","execTime":"1","seq":1}]}"#,
    ),
];

impl<L: RiskLink, S: SignalSource, P: Probe> State<L, S, P> {
    /// Parses [`WARM_UP_MESSAGES`] and drops the result (nothing is applied).
    fn warm_private_parsers(&mut self) {
        let mut buf = Vec::with_capacity(4096);
        for (source, text) in WARM_UP_MESSAGES {
            buf.clear();
            buf.extend_from_slice(text.as_bytes());
            let events = &mut self.private_events[..];
            let _ = match source {
                PrivateSource::BinanceUserData => self.binance_private.user_data(&mut buf, &self.table, events),
                PrivateSource::BinanceWsApi => self.binance_private.ws_response(&mut buf, &self.table, events),
                PrivateSource::Bybit => self.bybit_private.ws_frame(&mut buf, &self.table, events),
            };
        }
    }

    #[inline]
    fn now_ms(&self) -> i64 {
        i64::try_from(self.now_ns / 1_000_000).unwrap_or(i64::MAX)
    }

    /// Start of every call: the clock moves on (never back), commands in.
    #[inline]
    fn begin(&mut self, recv_ns: u64) {
        self.now_ns = self.now_ns.max(recv_ns);
        self.poll_commands();
        let now_ms = self.now_ms();
        if now_ms.saturating_sub(self.last_retire_ms) >= 1_000 {
            self.last_retire_ms = now_ms;
            let horizon = self.cfg.retire_after_ms;
            let n = self.ledger.retire_terminal(|o| o.done_ms.is_none_or(|d| now_ms.saturating_sub(d) < horizon));
            self.stats.retired_orders += n as u64;
        }
    }

    fn feed_alive(&mut self, f: usize, recv_ns: u64) {
        if let Some(feed) = self.feeds.get_mut(f) {
            feed.last_recv_ns = feed.last_recv_ns.max(recv_ns);
            feed.dark = false;
        }
    }

    /// Exchange time `ts_ms`, clamped to the core's clock when it is more
    /// than the allowed skew ahead of it (counted).
    #[inline]
    fn bound_ms(&mut self, ts_ms: i64) -> i64 {
        let now = self.now_ms();
        if ts_ms > now.saturating_add(self.cfg.max_clock_skew_ms) {
            self.clamped_now = true;
            now
        } else {
            ts_ms
        }
    }

    fn poll_commands(&mut self) {
        while let Some(command) = self.link.command() {
            self.stats.risk_commands += 1;
            let n = self.insts.len();
            match command {
                RiskCommand::CancelAll => (0..n).for_each(|i| self.strategy.request_cancel(i)),
                RiskCommand::FlattenAll => {
                    (0..n).for_each(|i| self.strategy.request_flatten(i, ExitReason::RiskFlatten))
                }
                RiskCommand::Flatten { venue, symbol } => {
                    if let Some(i) = self.index_of(venue, &symbol) {
                        self.strategy.request_flatten(i, ExitReason::RiskFlatten);
                    }
                }
                RiskCommand::Exit => self.stats.exit_requested = true,
            }
        }
    }

    fn send(&mut self, input: &RiskInput) {
        self.link.send(input, self.now_ns);
        self.poll_commands();
    }

    fn index_of(&self, venue: Venue, symbol: &Symbol) -> Option<usize> {
        self.insts.iter().position(|i| i.venue == venue && i.symbol == *symbol)
    }

    /// Binds (`inst`, `kind`) on feed `f` (see [`feed`]).
    fn bind(&mut self, f: usize, inst: InstrumentId, kind: StreamKind) -> Result<(), BindError> {
        let i = usize::from(inst.0);
        let feed = self.feeds.get(f).ok_or(BindError::UnknownFeed)?;
        let venue = feed.venue;
        if self.insts.get(i).is_none_or(|x| x.venue != venue) {
            return Err(BindError::WrongInstrument);
        }
        if let StreamKind::Book(book) = kind {
            if matches!(book, BookKind::Partial { .. }) && venue != Venue::BinanceUsdm {
                return Err(BindError::NoPartialStream);
            }
            match self.slots[i].book {
                Some(bound) if bound == (f as u16, book) => return Ok(()),
                Some(_) => return Err(BindError::SecondBook),
                None => {}
            }
            self.slots[i].book = Some((f as u16, book));
            if let Some(st) = self.market.get_mut(inst) {
                st.sync.set_partial(matches!(book, BookKind::Partial { .. }));
            }
            if venue == Venue::BinanceUsdm && matches!(book, BookKind::Diff { .. }) {
                let feed = &mut self.feeds[f];
                feed.diff_books += 1;
                // A symbol-less REST snapshot on this feed belongs to its one
                // diff book; with two it is ambiguous and refused.
                let target = if feed.diff_books == 1 { Some(inst) } else { None };
                self.pending_snapshot_inst = Some((f, target));
            }
        }
        self.feeds[f].mark_bound(inst, kind);
        Ok(())
    }

    /// `true` when the event may be used: bound on the feed, or bound now
    /// (auto mode) under the rules; counted when not.
    #[inline]
    fn admit(&mut self, f: usize, inst: InstrumentId, kind: StreamKind) -> bool {
        let ok = self.try_admit(f, inst, kind);
        if !ok {
            self.stats.unbound_events += 1;
        }
        ok
    }

    /// [`Self::admit`] without counting a refusal.
    #[inline]
    fn try_admit(&mut self, f: usize, inst: InstrumentId, kind: StreamKind) -> bool {
        let Some(feed) = self.feeds.get(f) else { return false };
        if feed.is_bound(inst, kind) {
            return true;
        }
        feed.mode == BindMode::Auto && self.bind(f, inst, kind).is_ok()
    }

    /// Whether new entries are allowed on instrument `i` now.
    fn tradable(&self, i: usize) -> bool {
        let Some(slot) = self.slots.get(i) else { return false };
        let Some((f, _)) = slot.book else { return false };
        let feed_ok = self.feeds.get(usize::from(f)).is_some_and(|feed| feed.up && !feed.dark);
        let live = self.market.get(InstrumentId(i as u16)).is_some_and(|s| s.sync.state() == SyncState::Live);
        live && feed_ok && slot.mismatch.is_none()
    }

    /// Executable prices now (module docs: fallbacks during a resync).
    fn prices(&self, i: usize) -> Prices {
        let none = Prices { bid: Price::ZERO, ask: Price::ZERO, mid: Price::ZERO, at_ns: 0, source: PriceSource::None };
        let (Some(slot), Some(st)) = (self.slots.get(i), self.market.get(InstrumentId(i as u16))) else { return none };
        if st.sync.state() == SyncState::Live {
            let (bid, ask) = slot.top;
            let mid = if bid.0 > 0 && ask.0 > 0 { Price((bid.0 + ask.0) / 2) } else { Price::ZERO };
            return Prices { bid, ask, mid, at_ns: slot.top_at_ns, source: PriceSource::Book };
        }
        let now_ms = self.now_ms();
        let max_age = self.cfg.fallback_max_age_ms;
        let bbo = st.bbo;
        if bbo.bid_px.0 > 0 && bbo.ask_px > bbo.bid_px && now_ms.saturating_sub(bbo.ts_ms) <= max_age {
            let mid = Price((bbo.bid_px.0 + bbo.ask_px.0) / 2);
            return Prices { bid: bbo.bid_px, ask: bbo.ask_px, mid, at_ns: slot.bbo_at_ns, source: PriceSource::Bbo };
        }
        let f = st.funding;
        if f.mark.0 > 0 && now_ms.saturating_sub(f.ts_ms) <= max_age {
            let scale = self.insts[i].price_scale;
            let mark = mark_price(f.mark.0, scale);
            if mark.0 > 0 {
                return Prices { bid: mark, ask: mark, mid: mark, at_ns: slot.mark_at_ns, source: PriceSource::Mark };
            }
        }
        none
    }

    /// The strategy's decision on instrument `inst` after a market event.
    fn decide(&mut self, inst: InstrumentId, out: &mut Intents) {
        let i = usize::from(inst.0);
        if i >= self.insts.len() {
            return;
        }
        self.slots[i].counts.decisions += 1;
        self.decide_at(i, out, true);
    }

    /// Marks, pulls and the strategy's decision on instrument `i`. Without
    /// `market_event` (a timer, a feed state) a flat instrument is not
    /// evaluated for an entry: entries come from market data only.
    fn decide_at(&mut self, i: usize, out: &mut Intents, market_event: bool) {
        let now_ms = self.now_ms();
        let px = self.prices(i);
        if px.mid.0 > 0 && now_ms.saturating_sub(self.slots[i].last_mark_ms) >= self.cfg.mark_interval_ms {
            self.slots[i].last_mark_ms = now_ms;
            let inst = self.insts[i];
            self.send(&RiskInput::Mark { venue: inst.venue, symbol: inst.symbol, price: px.mid, ts_ms: now_ms });
        }
        let tradable = self.tradable(i);
        if self.slots[i].tradable && !tradable && !self.strategy.is_flat(i) {
            // Pull the resting entry of an instrument that stopped being tradable.
            self.stats.pulls += 1;
            self.strategy.request_cancel(i);
        }
        self.slots[i].tradable = tradable;
        if !market_event && self.strategy.is_flat(i) {
            return;
        }
        let view = MarketView {
            now_ms,
            bid: px.bid,
            ask: px.ask,
            snapshot: self.signals.snapshot(InstrumentId(i as u16)),
            entries_allowed: tradable,
        };
        let account = AccountView::with_verdict(self.link.equity(), &self.gate.verdict());
        let action = self.strategy.on_market(i, &view, &account);
        self.probe.stage(Stage::StrategyDecided);
        if let Some(action) = action {
            self.act(i, action, out);
            self.probe.stage(Stage::RiskChecked);
        }
    }

    /// Turns a strategy action into an intent (gate, ledger, risk link).
    fn act(&mut self, i: usize, action: Action, out: &mut Intents) {
        let inst = self.insts[i];
        let now_ms = self.now_ms();
        let role = match action {
            Action::Cancel { id } => {
                let cancel = Intent::Cancel {
                    inst: InstrumentId(i as u16),
                    venue: inst.venue,
                    symbol: inst.symbol,
                    client_id: id,
                };
                if out.push(cancel).is_err() {
                    self.stats.intents_full += 1;
                    self.strategy.on_cancel_failed(i, id);
                } else {
                    self.stats.cancels_sent += 1;
                }
                return;
            }
            Action::Enter { tier, limit, confidence, .. } => {
                OrderRole::Entry { tier, confidence, post_only: limit.is_some() }
            }
            Action::Exit { reason, .. } => OrderRole::Exit(reason),
        };
        let id = ClientOrderId::new(self.epoch, self.next_seq);
        let Some(order) = action.to_order(&inst, id) else { return };
        let px = self.prices(i);
        let ctx = CheckContext {
            now_ns: self.now_ns,
            mid: px.mid,
            mid_ts_ns: px.at_ns,
            ring_congested: self.link.congested(),
        };
        let slot = GateSlot(i as u16);
        if self.gate.check(slot, &order, &ctx).is_err() {
            self.strategy.on_refused(i, now_ms);
            return;
        }
        if out.is_full() {
            self.stats.intents_full += 1;
            self.gate.on_order_done(slot, order.side, order.qty);
            self.strategy.on_refused(i, now_ms);
            return;
        }
        let submitted = crate::order::OrderEvent::Submitted { order, ts_raw: self.now_ns };
        if self.ledger.apply_at(&submitted, now_ms).is_err() {
            self.stats.ledger_full += 1;
            self.gate.on_order_done(slot, order.side, order.qty);
            self.strategy.on_refused(i, now_ms);
            return;
        }
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        self.strategy.on_sent(i, id);
        match role {
            OrderRole::Entry { .. } => match self.strategy.entry_context(i) {
                Some(context) => self.link.order_context(&order, OrderCause::Entry(context)),
                None => self.stats.entries_without_context += 1,
            },
            OrderRole::Exit(reason) => self.link.order_context(&order, OrderCause::Exit(reason)),
        }
        self.send(&RiskInput::Order(submitted));
        // Room was checked above.
        let _ = out.push(Intent::Place { inst: InstrumentId(i as u16), order, role });
        self.stats.orders_placed += 1;
    }

    fn close_all(&mut self, reason: ExitReason, out: &mut Intents) {
        for i in 0..self.insts.len() {
            if self.strategy.is_flat(i) {
                continue;
            }
            self.strategy.request_flatten(i, reason);
            let px = self.prices(i);
            let view = MarketView {
                now_ms: self.now_ms(),
                bid: px.bid,
                ask: px.ask,
                snapshot: self.signals.snapshot(InstrumentId(i as u16)),
                entries_allowed: false,
            };
            let account = AccountView::with_verdict(self.link.equity(), &self.gate.verdict());
            if let Some(action) = self.strategy.on_market(i, &view, &account) {
                self.act(i, action, out);
            }
        }
    }

    fn timer(&mut self, out: &mut Intents) {
        let now = self.now_ns;
        let dark_ns = u64::try_from(self.cfg.dark_feed_ms).unwrap_or(u64::MAX).saturating_mul(1_000_000);
        for feed in &mut self.feeds {
            if feed.up && !feed.dark && feed.last_recv_ns > 0 && now.saturating_sub(feed.last_recv_ns) > dark_ns {
                feed.dark = true;
                self.stats.dark_feeds += 1;
            }
        }
        for i in 0..self.insts.len() {
            if !self.strategy.is_flat(i) {
                self.slots[i].counts.timer_decisions += 1;
            }
            self.decide_at(i, out, false);
        }
    }

    fn feed_state(&mut self, f: usize, state: FeedState, out: &mut Intents) {
        let Some(feed) = self.feeds.get_mut(f) else {
            self.stats.unknown_feed += 1;
            return;
        };
        feed.up = matches!(state, FeedState::Subscribed);
        feed.dark = false;
        let n = feed.bound.len();
        for i in 0..n {
            let bits = self.feeds[f].bound[i];
            if bits == 0 {
                continue;
            }
            let inst = InstrumentId(i as u16);
            if bits & feed::bits::BOOK != 0 {
                // A book of this feed: whatever it held is no longer known
                // to be current; it resyncs from the next snapshot.
                if let Some(st) = self.market.get_mut(inst) {
                    st.sync.restart();
                }
                self.book_lost(inst);
            }
            self.market.reset_marks(inst, bits & feed::bits::TRADES != 0, bits & feed::bits::TOP != 0);
            self.decide_at(i, out, false);
        }
    }

    /// The book of `inst` lost continuity: the signals start afresh, the
    /// executable top is cleared (fallbacks take over), a resting entry is
    /// pulled.
    fn book_lost(&mut self, inst: InstrumentId) {
        self.signals.on_book_lost(inst);
        if P::OBSERVES {
            let snap = self.signals.snapshot(inst);
            self.probe.observe(inst, &Observation::BookLost, &snap);
        }
        let i = usize::from(inst.0);
        if let Some(slot) = self.slots.get_mut(i) {
            slot.top = (Price::ZERO, Price::ZERO);
            slot.top_src_ms = i64::MIN;
        }
        self.strategy.request_cancel(i);
    }
}

/// A mark price at 8 decimals as a price mantissa at `scale` decimals
/// (rounded half up).
fn mark_price(e8: i64, scale: u8) -> Price {
    if scale >= 8 {
        return Price(e8.saturating_mul(pow10(scale - 8)));
    }
    let d = pow10(8 - scale);
    Price((e8 + d / 2) / d)
}
