//! `scalpel backtest`: a deterministic in-process replay of recorded frames
//! through the trading core ([`crate::core::Core`], the same object the
//! live engine drives), against a simulated exchange.
//!
//! ```text
//!  frames (streamed, merged by exchange time)
//!    │ decode ──► exchange-side MarketState ──► SimExchange (trade-tape fills, funding)
//!    │                                              ▲ orders, cancels (after order latency)
//!    └─ after feed latency ──► Core::on_frame ──► Intents ─┘
//!                     ▲ acks, fills, cancels, funding (after feed latency): Core::on_order_event / on_private
//!  Core ──RiskLink──► RiskMonitor (in process, synchronous) ──► verdict cell, commands back
//!                 └─► TradeBook (round trips for the report, from the ledger's de-duplicated fills)
//! ```
//!
//! This module is a thin driver: it owns the input replay, the simulated
//! exchange and its latencies, and the report. Everything the strategy
//! path does — book sync, signals, strategy, risk gate, the ledger — is the
//! core's. Time is the exchange time of the frames (ms, carried in ns): the
//! exchange sees a frame at its exchange time, the core `feed_latency`
//! later; orders reach the exchange `order_latency` after the decision;
//! reports come back with the feed latency. Deliveries on one link keep
//! their order. With `recorded = true` ([`config::RecordedFeed`]) a market
//! frame reaches the core at its recorded receive time instead (never before
//! the exchange saw it): the core then runs on the clock the frames were
//! received on, in the order they were received, while the exchange still
//! sees them in exchange-time order. When the data pauses the core's timer runs every 100 ms of
//! replay time (time stops and pulls do not wait for the next frame).
//! Nothing reads a clock, iterates a hash map or depends on thread timing,
//! so the same input and profile give a byte-identical JSON report.
//!
//! Input is streamed ([`input`]): memory stays flat as the input grows.

pub mod exchange;
pub mod input;
pub mod latency;
pub mod report;
pub mod trades;

/// The `[backtest]` table (parsed with the rest of the profile, in
/// [`crate::profile`]).
pub use crate::profile::backtest as config;

use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use crate::book::DEFAULT_LEVELS;
use crate::core::{BindMode, Core, FeedId, Intent, Intents, NoProbe, RiskLink};
use crate::event::MarketEvent;
use crate::fixed::{Notional, Price};
use crate::instrument::{Instrument, InstrumentId, LoadError};
use crate::journal::JournalWriter;
use crate::json::JsonScratch;
use crate::market::{Applied, MarketState};
use crate::order::{ClientOrderId, OrderEvent, OrderRequest, SessionEpoch, VenueOrderId};
use crate::profile::Profile;
use crate::risk::gate::RefusalCounts;
use crate::risk::{Cause, Refusal, RiskCommand, RiskInput, RiskMonitor, RiskOutput, RiskRecord, VerdictCell};
use crate::signal::SignalConfig;
use crate::strategy::{ExitReason, GateKind, VoteKind};
use crate::venue::private_event::{FundingPayment, PrivateEvent};
use crate::venue::{Decoder, Venue};

pub use crate::signal::{BookOnlySignals, LiveSignals, SignalSource};
use config::SignalChoice;
use exchange::{ExchangeBook, ExchangeReport, SimExchange};
pub use input::{FileMerge, FrameRef, FrameSource, InMemory, Source, SynthFrames};
use input::{depth_instrument, event_time_ms};
use latency::Link;
use report::{Counts, Drawdown, Names, Report};
use trades::TradeBook;

/// Why a backtest could not run.
///
/// # Errors
/// From [`run`] and [`command`].
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// The profile is invalid.
    #[error("profile: {0}")]
    Profile(#[from] LoadError),
    /// The trading core could not be built.
    #[error("{0}")]
    Core(#[from] crate::core::CoreError),
    /// An input file could not be read.
    #[error("input: {0}")]
    Input(#[from] input::InputError),
    /// The context file could not be read.
    #[error("context file {path}: {problem}")]
    Context {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Writing the report failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The synthetic session could not be generated.
    #[error("synthetic session: {0}")]
    Synth(#[from] crate::synth::SynthError),
    /// The journal could not be written.
    #[error("journal: {0}")]
    Journal(crate::journal::JournalError),
    /// Nothing in the input decoded to market data: empty files, files of
    /// another venue, or not recordings at all.
    #[error(
        "no frame of the input decoded to market data ({frames} frames read, {decode_errors} decode errors): \
         empty, another venue's, or not a recording"
    )]
    NothingDecoded {
        /// Frames read.
        frames: u64,
        /// Frames that failed to decode.
        decode_errors: u64,
    },
}

/// How often the core's timer runs while the data pauses, ns.
const TIMER_NS: u64 = 100_000_000;

/// The session epoch of every replay: fixed, so that runs are identical.
const REPLAY_EPOCH: SessionEpoch = SessionEpoch(1);

/// The backtest's side of the risk link: the risk monitor in process,
/// synchronously, and the round-trip records of the report.
#[derive(Debug)]
pub struct BacktestLink {
    insts: Vec<Instrument>,
    monitor: RiskMonitor,
    out: Vec<RiskOutput>,
    verdict: Arc<VerdictCell>,
    commands: VecDeque<RiskCommand>,
    trips: [u64; Cause::ALL.len()],
    trades: TradeBook,
    initial_equity: Notional,
    /// The run's journal, as the risk thread would write it (replay time).
    journal: Option<JournalWriter<std::fs::File>>,
    journal_error: Option<crate::journal::JournalError>,
    /// The context of the order about to be submitted: journaled just
    /// before its `Submitted` record, at that record's time (the core hands
    /// it over without a time), as the live journal thread does.
    context: Option<crate::journal::thread::OrderContext>,
}

impl BacktestLink {
    fn new(profile: &Profile, verdict: Arc<VerdictCell>, journal: Option<JournalWriter<std::fs::File>>) -> Self {
        let insts = profile.instruments.all().to_vec();
        let monitor = RiskMonitor::new(profile.risk.clone(), &insts, 0);
        verdict.publish(monitor.verdict());
        Self {
            trades: TradeBook::new(insts.len()),
            insts,
            monitor,
            out: Vec::with_capacity(16),
            verdict,
            commands: VecDeque::with_capacity(16),
            trips: [0; Cause::ALL.len()],
            initial_equity: profile.risk.initial_equity,
            journal,
            journal_error: None,
            context: None,
        }
    }

    /// Appends to the journal, keeping the first error for the end of the run.
    fn journal(&mut self, now_ns: u64, record: RiskRecord) {
        if let Some(w) = &mut self.journal
            && self.journal_error.is_none()
            && let Err(e) = w.append(now_ns, &crate::journal::JournalRecord::from(record))
        {
            self.journal_error = Some(e);
        }
    }

    fn index_of(&self, venue: Venue, symbol: &crate::instrument::Symbol) -> Option<usize> {
        self.insts.iter().position(|i| i.venue == venue && i.symbol == *symbol)
    }

    /// The round trips so far.
    #[must_use]
    pub fn trades(&self) -> &TradeBook {
        &self.trades
    }

    /// The risk monitor.
    #[must_use]
    pub fn monitor(&self) -> &RiskMonitor {
        &self.monitor
    }
}

impl RiskLink for BacktestLink {
    fn send(&mut self, input: &RiskInput, now_ns: u64) {
        let now_ms = i64::try_from(now_ns / 1_000_000).unwrap_or(i64::MAX);
        match *input {
            RiskInput::Order(OrderEvent::Filled(fill)) => {
                if let Some(i) = self.index_of(fill.venue, &fill.symbol) {
                    let inst = self.insts[i];
                    self.trades.on_fill(&inst, &fill);
                }
            }
            RiskInput::Funding { venue, symbol, amount, .. } => match symbol.and_then(|s| self.index_of(venue, &s)) {
                Some(i) => self.trades.on_funding(i, amount),
                None => self.trades.on_funding(usize::MAX, amount),
            },
            _ => {}
        }
        if let RiskInput::Order(OrderEvent::Submitted { order, .. }) = input
            && let Some(context) = self.context.take()
        {
            use crate::journal::JournalRecord;
            use crate::journal::thread::OrderContext;
            let records = match context {
                OrderContext::Entry(entry, signals) if entry.client_id == order.client_id => [
                    Some(JournalRecord::Entry(entry)),
                    Some(JournalRecord::EntrySignals { client_id: entry.client_id, signals }),
                ],
                OrderContext::Exit(exit) if exit.client_id == order.client_id => {
                    [Some(JournalRecord::Exit(exit)), None]
                }
                _ => [None, None],
            };
            for record in records.iter().flatten() {
                if let Some(w) = &mut self.journal
                    && self.journal_error.is_none()
                    && let Err(e) = w.append(now_ns, record)
                {
                    self.journal_error = Some(e);
                }
            }
        }
        if !matches!(input, RiskInput::Mark { .. } | RiskInput::Kill) {
            self.journal(now_ns, RiskRecord::Input(*input));
        }
        self.monitor.on_input(input, now_ms, &mut self.out);
        let mut out = std::mem::take(&mut self.out);
        for o in out.drain(..) {
            self.journal(now_ns, RiskRecord::Output(o));
            match o {
                RiskOutput::Verdict { verdict, .. } => {
                    self.verdict.publish(verdict);
                }
                RiskOutput::Trip { cause, .. } => self.trips[cause as usize] += 1,
                RiskOutput::Clear { .. } => {}
                RiskOutput::Command { command, .. } => self.commands.push_back(command),
            }
        }
        self.out = out;
    }

    fn command(&mut self) -> Option<RiskCommand> {
        self.commands.pop_front()
    }

    fn equity(&self) -> Notional {
        Notional(self.initial_equity.0 + self.trades.realised().0)
    }

    fn order_context(&mut self, order: &OrderRequest, cause: crate::core::OrderCause<'_>) {
        use crate::journal::record::{EntryRecord, ExitRecord, SignalBits};
        use crate::journal::thread::OrderContext;
        if self.journal.is_none() {
            return;
        }
        self.context = Some(match cause {
            crate::core::OrderCause::Entry(c) => OrderContext::Entry(EntryRecord::of(order, c), SignalBits(c.snapshot)),
            crate::core::OrderCause::Exit(reason) => OrderContext::Exit(ExitRecord::of(order, reason)),
        });
    }
}

enum ToCore {
    Frame { source: u16, bytes: Vec<u8> },
    Report(ExchangeReport),
}

enum ToExchange {
    Order { inst: usize, order: OrderRequest },
    Cancel(ClientOrderId),
}

#[derive(Debug, Clone, Default)]
struct Counters {
    frames: u64,
    decode_errors: u64,
    malformed: u64,
    unknown_instrument: u64,
    first_ms: Option<i64>,
    last_ms: i64,
    /// Frames that decoded to market data (not a control message, not a
    /// stream or symbol the decoders skip).
    market_frames: u64,
    source_frames: Vec<u64>,
    /// First and last exchange time per source, ms.
    source_span: Vec<Option<(i64, i64)>>,
    /// `recorded = true`: frames delivered on their receive time, and those
    /// received (offset included) before the replay's exchange clock, which
    /// were delivered at it instead.
    recorded_frames: u64,
    recorded_clamped: u64,
}

/// The simulated exchange's decoders, one per source (apart from the
/// driver, which the decode step's callback borrows).
struct ExchangeDecoders {
    decoders: Vec<Decoder>,
    snapshot_routed: Vec<bool>,
    scratch: JsonScratch,
}

/// The replay: input, simulated exchange, latencies, and the core.
struct Driver<S: SignalSource> {
    core: Core<BacktestLink, S, NoProbe>,
    feeds: Vec<FeedId>,
    /// The exchange's own view of the market (its books and tape; its
    /// decoders live in [`ExchangeDecoders`]).
    ex_market: MarketState<DEFAULT_LEVELS>,
    ex_depth_ms: Vec<i64>,
    exchange: SimExchange,
    feed: Link,
    /// `recorded = true`: the offset added to receive times, ns.
    recorded: Option<i64>,
    order_link: Link,
    /// Deliveries to the core, in delivery-time order (ties: first queued first).
    to_core: VecDeque<(u64, ToCore)>,
    to_exchange: VecDeque<(u64, ToExchange)>,
    free_bufs: Vec<Vec<u8>>,
    /// Frames that decoded before any frame carried an exchange time (a
    /// subscription ack, a REST snapshot recorded before the first diff):
    /// handed to the core with the first timed frame, so the core's clock
    /// (and its timer) starts at the data's time, not at zero.
    untimed: Vec<(u16, Vec<u8>)>,
    reports: Vec<ExchangeReport>,
    intents: Intents,
    context: crate::strategy::context::ContextTimeline,
    drawdown: Drawdown,
    tops: Vec<(Price, Price)>,
    now_ns: u64,
    frame_ns: u64,
    /// Last time something reached the core, for the idle timer.
    core_ns: u64,
    funding: bool,
    counters: Counters,
}

impl<S: SignalSource> Driver<S> {
    fn new(
        profile: &Profile,
        sources: &[Source],
        signals: S,
        journal: Option<JournalWriter<std::fs::File>>,
    ) -> Result<Self, BacktestError> {
        let insts = profile.instruments.all().to_vec();
        let context = match &profile.strategy.context.file {
            None => crate::strategy::context::ContextTimeline::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| BacktestError::Context { path: path.clone(), problem: e.to_string() })?;
                let records = crate::strategy::context::parse_records(&text)
                    .map_err(|e| BacktestError::Context { path: path.clone(), problem: e.to_string() })?;
                crate::strategy::context::ContextTimeline::new(&records, &profile.strategy.context.components)
            }
        };
        let verdict = Arc::new(VerdictCell::new());
        let link = BacktestLink::new(profile, Arc::clone(&verdict), journal);
        let mut core = Core::new(profile, signals, link, NoProbe, REPLAY_EPOCH, verdict)?;
        let feeds = sources.iter().map(|s| core.add_feed(s.venue, BindMode::Auto)).collect();
        let intents = Intents::with_capacity(core.intents_capacity());
        let bt = &profile.backtest;
        let mut ex_market = MarketState::for_table(&profile.instruments);
        ex_market.set_mark_reset_ms(profile.core.mark_reset_ms);
        Ok(Self {
            core,
            feeds,
            ex_market,
            ex_depth_ms: vec![i64::MIN; insts.len()],
            exchange: SimExchange::new(&insts, bt.fill_model),
            feed: Link::new(bt.feed_latency.clone()),
            recorded: bt.recorded_feed.map(|r| r.clock_offset_ns),
            order_link: Link::new(bt.order_latency.clone()),
            to_core: VecDeque::with_capacity(1024),
            to_exchange: VecDeque::with_capacity(64),
            free_bufs: Vec::new(),
            untimed: Vec::new(),
            reports: Vec::with_capacity(64),
            intents,
            context,
            drawdown: Drawdown::new(profile.risk.initial_equity),
            tops: vec![(Price::ZERO, Price::ZERO); insts.len()],
            now_ns: 0,
            frame_ns: 0,
            core_ns: 0,
            funding: bt.funding,
            counters: Counters {
                source_frames: vec![0; sources.len()],
                source_span: vec![None; sources.len()],
                ..Counters::default()
            },
        })
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.now_ns / 1_000_000).unwrap_or(i64::MAX)
    }

    /// Queues a delivery to the core at `at`, after every delivery due at
    /// or before it (the queue stays in time order; with the latency models
    /// `at` never precedes the last one, so this is a push at the back).
    fn push_core(&mut self, at: u64, item: ToCore) {
        let mut i = self.to_core.len();
        while i > 0 && self.to_core[i - 1].0 > at {
            i -= 1;
        }
        self.to_core.insert(i, (at, item));
    }

    /// When a market frame received at `local_ns` reaches the core: the
    /// feed latency model, or its receive time (`recorded = true`; receive
    /// times before 2001-09-09 are not a clock and take the model).
    fn frame_delivery(&mut self, local_ns: u64) -> u64 {
        match self.recorded {
            Some(offset) if local_ns >= 1_000_000_000_000_000_000 => {
                self.counters.recorded_frames += 1;
                let at = local_ns.saturating_add_signed(offset);
                if at < self.now_ns {
                    self.counters.recorded_clamped += 1;
                }
                at.max(self.now_ns)
            }
            _ => self.feed.deliver_at(self.now_ns),
        }
    }

    /// Schedules the exchange's pending reports on the feed link.
    fn send_reports(&mut self) {
        for r in std::mem::take(&mut self.reports) {
            let at = self.feed.deliver_at(self.now_ns);
            self.push_core(at, ToCore::Report(r));
        }
    }

    /// Hands the core's intents to the exchange (after the order latency)
    /// and the round-trip book their roles.
    fn route_intents(&mut self) {
        let Self { intents, order_link, to_exchange, core, now_ns, .. } = self;
        for intent in intents.drain() {
            let at = order_link.deliver_at(*now_ns);
            match intent {
                Intent::Place { inst, order, role } => {
                    let i = usize::from(inst.0);
                    let context = match role {
                        crate::core::OrderRole::Entry { .. } => core.strategy().entry_context(i).copied(),
                        crate::core::OrderRole::Exit(_) => None,
                    };
                    let trades = &mut core.link_mut().trades;
                    trades.register(order.client_id, i, role);
                    if let Some(context) = context {
                        trades.set_context(order.client_id, context);
                    }
                    to_exchange.push_back((at, ToExchange::Order { inst: usize::from(inst.0), order }));
                }
                Intent::Cancel { client_id, .. } => to_exchange.push_back((at, ToExchange::Cancel(client_id))),
            }
        }
    }

    /// Equity marked at the executable prices, after a decision.
    fn observe_drawdown(&mut self) {
        for (i, top) in self.tops.iter_mut().enumerate() {
            let p = self.core.prices(InstrumentId(i as u16));
            *top = (p.bid, p.ask);
        }
        let link = self.core.link();
        let equity = Notional(link.initial_equity.0 + link.trades.marked(&self.tops).0);
        self.drawdown.observe(equity);
    }

    /// Processes everything queued up to time `t` (ns), in time order: the
    /// exchange's deliveries, the core's deliveries, and the core's timer,
    /// which ticks every [`TIMER_NS`] while the core waits for its next
    /// delivery (not after the data has ended and nothing is in flight).
    /// At equal times orders reach the exchange before the core hears news,
    /// and a delivery makes a tick at the same time unnecessary.
    fn advance_to(&mut self, t: u64) {
        loop {
            let ex = self.to_exchange.front().map(|x| x.0);
            let st = self.to_core.front().map(|x| x.0);
            let in_flight = ex.is_some() || st.is_some();
            let tick = (self.core_ns > 0 && (t != u64::MAX || in_flight))
                .then(|| self.core_ns.saturating_add(TIMER_NS))
                .filter(|&k| st.is_none_or(|s| k < s));
            let mut next: Option<(u64, u8)> = None;
            for (time, kind) in [(ex, 0u8), (st, 1), (tick, 2)] {
                if let Some(time) = time {
                    if next.is_none_or(|(n, _)| time < n) {
                        next = Some((time, kind));
                    }
                }
            }
            let Some((at, kind)) = next else { return };
            if at > t {
                return;
            }
            self.now_ns = self.now_ns.max(at);
            match kind {
                0 => {
                    let Some((_, item)) = self.to_exchange.pop_front() else { return };
                    self.at_exchange(item);
                }
                2 => {
                    self.core_ns = at;
                    self.core.on_timer(at, &mut self.intents);
                    self.route_intents();
                }
                _ => {
                    self.core_ns = self.now_ns;
                    let Some((_, item)) = self.to_core.pop_front() else { return };
                    match item {
                        ToCore::Report(r) => self.on_report(r),
                        ToCore::Frame { source, mut bytes } => {
                            let now_ms = self.now_ms();
                            self.context.advance(now_ms, self.core.strategy_context_mut());
                            if let Some(&feed) = self.feeds.get(usize::from(source)) {
                                let decided = self.core.on_frame(feed, &mut bytes, self.now_ns, &mut self.intents);
                                self.route_intents();
                                if decided.is_some() {
                                    self.observe_drawdown();
                                }
                            }
                            self.free_bufs.push(bytes);
                        }
                    }
                }
            }
        }
    }

    fn at_exchange(&mut self, item: ToExchange) {
        match item {
            ToExchange::Order { inst, order } => {
                let depth_ms = self.ex_depth_ms.get(inst).copied().unwrap_or(i64::MAX);
                let book =
                    self.ex_market.get(InstrumentId(inst as u16)).and_then(|s| ExchangeBook::of_state(s, depth_ms));
                self.exchange.on_order(inst, &order, book.as_ref(), self.now_ns, &mut self.reports);
            }
            ToExchange::Cancel(id) => self.exchange.on_cancel(id, &mut self.reports),
        }
        self.send_reports();
    }

    /// A frame of a `venue` source reaches the exchange at its exchange time.
    fn on_exchange_event(&mut self, venue: Venue, event: &MarketEvent<'_>) {
        let applied = match *event {
            MarketEvent::Trades(batch) => {
                // Each print once, by the market's one rule, to the fill model.
                let mut applied = Applied::Other;
                for trade in batch {
                    let Ok(trade) = trade else {
                        applied = Applied::Malformed;
                        break;
                    };
                    match self.ex_market.on_trade(&trade) {
                        None => {
                            applied = Applied::UnknownInstrument;
                            break;
                        }
                        Some(admit) => {
                            applied = Applied::Trades(trade.inst, 0);
                            if admit.is_new() {
                                let i = usize::from(trade.inst.0);
                                self.exchange.on_trade(i, &trade, self.now_ns, &mut self.reports);
                            }
                        }
                    }
                }
                applied
            }
            _ => self.ex_market.apply(event, |_, _, _| {}),
        };
        if let (Applied::Depth(inst, _), Some(t)) = (applied, event_time_ms(event)) {
            if let Some(d) = self.ex_depth_ms.get_mut(usize::from(inst.0)) {
                *d = t;
            }
        }
        match applied {
            Applied::Malformed => self.counters.malformed += 1,
            Applied::UnknownInstrument => self.counters.unknown_instrument += 1,
            _ => {}
        }
        if self.funding {
            let now_ms = self.now_ms();
            for i in 0..self.tops.len() {
                let Some(st) = self.ex_market.get(InstrumentId(i as u16)) else { continue };
                if st.venue != venue {
                    continue;
                }
                let funding = st.funding;
                self.exchange.on_clock(i, &funding, now_ms, &mut self.reports);
            }
        }
        self.send_reports();
    }

    /// A report of the simulated exchange reaches the core as the venue's
    /// order event would.
    fn on_report(&mut self, report: ExchangeReport) {
        let now_ms = self.now_ms();
        let event = match report {
            ExchangeReport::Funding { inst, amount, .. } => {
                let Some(i) = self.core.instruments().get(inst).copied() else { return };
                let payment = FundingPayment { venue: i.venue, symbol: Some(i.symbol), amount, ts_ms: now_ms };
                self.core.on_private(&PrivateEvent::Funding(payment), self.now_ns, &mut self.intents);
                self.route_intents();
                return;
            }
            ExchangeReport::Acked(id) => {
                OrderEvent::Acked { client_id: id, venue_order_id: VenueOrderId::from_u64(id.0), ts_ms: now_ms }
            }
            ExchangeReport::Filled(fill) => OrderEvent::Filled(fill),
            ExchangeReport::Cancelled(id, _) => OrderEvent::Cancelled { client_id: id, ts_ms: now_ms },
            ExchangeReport::Expired(id, _) => OrderEvent::Expired { client_id: id, ts_ms: now_ms },
            ExchangeReport::Rejected(id, reason) => {
                OrderEvent::Rejected { client_id: id, reason, venue_code: 0, ts_ms: now_ms }
            }
        };
        self.core.on_order_event(&event, self.now_ns, &mut self.intents);
        self.route_intents();
        if matches!(event, OrderEvent::Filled(_)) {
            self.note_levels();
        }
    }

    /// Open trade records take the levels their positions opened with.
    fn note_levels(&mut self) {
        for i in 0..self.tops.len() {
            if !self.core.link().trades.wants_levels(i) {
                continue;
            }
            if let Some(pos) = self.core.strategy().position(i).copied() {
                self.core.link_mut().trades.note_levels(i, &pos);
            }
        }
    }

    /// One frame of the input: to the exchange at its exchange time, to
    /// the core after the feed latency.
    fn on_input_frame(
        &mut self,
        ex: &mut ExchangeDecoders,
        source: u16,
        local_ns: u64,
        frame: &[u8],
        buf: &mut Vec<u8>,
    ) {
        let src = usize::from(source);
        if src >= ex.decoders.len() {
            self.counters.decode_errors += 1;
            return;
        }
        self.counters.frames += 1;
        self.counters.source_frames[src] += 1;
        buf.clear();
        buf.extend_from_slice(frame);
        let decoder = &ex.decoders[src];
        let venue = decoder.venue();
        let (ok, depth_inst) = decoder.decode_frame(&mut ex.scratch, buf, |event| match event {
            Ok(event) => {
                if !matches!(event, MarketEvent::Control(_) | MarketEvent::Ignored(_)) {
                    self.counters.market_frames += 1;
                }
                if let Some(t) = event_time_ms(&event) {
                    let span = self.counters.source_span[src].get_or_insert((t, t));
                    *span = (span.0.min(t), span.1.max(t));
                    self.counters.first_ms.get_or_insert(t);
                    self.counters.last_ms = self.counters.last_ms.max(t);
                    self.frame_ns = self.frame_ns.max(u64::try_from(t).unwrap_or(0).saturating_mul(1_000_000));
                }
                let t_ns = self.frame_ns;
                self.advance_to(t_ns);
                self.now_ns = self.now_ns.max(t_ns);
                self.on_exchange_event(venue, &event);
                (true, depth_instrument(&event))
            }
            Err(_) => {
                self.counters.decode_errors += 1;
                (false, None)
            }
        });
        if !ex.snapshot_routed[src] {
            if let Some(inst) = depth_inst {
                // Binance REST snapshots name no symbol: they belong to the
                // file's depth symbol.
                ex.decoders[src].set_snapshot_instrument(Some(inst));
                ex.snapshot_routed[src] = true;
            }
        }
        if ok {
            if self.counters.first_ms.is_none() {
                self.untimed.push((source, frame.to_vec()));
                return;
            }
            let at = self.frame_delivery(local_ns);
            for (held_source, bytes) in std::mem::take(&mut self.untimed) {
                self.push_core(at, ToCore::Frame { source: held_source, bytes });
            }
            let mut bytes = self.free_bufs.pop().unwrap_or_default();
            bytes.clear();
            bytes.extend_from_slice(frame);
            self.push_core(at, ToCore::Frame { source, bytes });
        }
    }
}

/// Replays the frames of `frames` (from `sources`) under `profile` with
/// `signals`, and returns the report. `profile_label` names the profile.
///
/// # Errors
/// A bad context file, a risk limit that does not fit an instrument, an
/// input that cannot be read.
pub fn run<'a, S: SignalSource>(
    profile: &Profile,
    profile_label: &str,
    sources: &[Source],
    frames: impl IntoIterator<Item = FrameRef<'a>>,
    signals: S,
) -> Result<Report, BacktestError> {
    run_stream(profile, profile_label, sources, &mut InMemory(frames.into_iter()), signals, &mut |_| {}, None)
        .map(|(report, _)| report)
}

/// Where a replay is, for a progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Frames replayed so far.
    pub frames: u64,
    /// Exchange time reached, ms.
    pub exchange_ms: i64,
}

/// What a replay saw of its input beyond the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaySummary {
    /// First and last exchange time of each source, ms (`None` when
    /// nothing of it decoded).
    pub spans: Vec<Option<(i64, i64)>>,
    /// Frames that decoded to market data.
    pub market_frames: u64,
}

/// [`run`] over any [`FrameSource`] (files streamed from disk, a synthetic
/// session generated on the fly). `progress` is called every 65 536 frames;
/// `journal` receives what the risk thread would journal (orders, fills,
/// funding, risk decisions), stamped with replay time. Returns the report
/// and a [`ReplaySummary`].
///
/// # Errors
/// As [`run`], and journal write errors.
pub fn run_stream<S: SignalSource>(
    profile: &Profile,
    profile_label: &str,
    sources: &[Source],
    frames: &mut impl FrameSource,
    signals: S,
    progress: &mut dyn FnMut(Progress),
    journal: Option<JournalWriter<std::fs::File>>,
) -> Result<(Report, ReplaySummary), BacktestError> {
    let mut d = Driver::new(profile, sources, signals, journal)?;
    let mut ex = ExchangeDecoders {
        decoders: sources.iter().map(|s| Decoder::new(s.venue, &profile.instruments)).collect(),
        snapshot_routed: vec![false; sources.len()],
        scratch: JsonScratch::default(),
    };
    let mut frame = Vec::with_capacity(64 * 1024);
    let mut work = Vec::with_capacity(64 * 1024);
    while let Some((source, local_ns)) = frames.next_frame(&mut frame)? {
        d.on_input_frame(&mut ex, source, local_ns, &frame, &mut work);
        if d.counters.frames.trailing_zeros() >= 16 {
            progress(Progress { frames: d.counters.frames, exchange_ms: d.counters.last_ms });
        }
    }
    d.advance_to(u64::MAX);
    if profile.backtest.close_at_end {
        // Cancel entries and close positions through the normal order path,
        // against the last books; a few rounds cover cancel → partial → exit.
        for _ in 0..4 {
            d.core.close_all(ExitReason::EndOfData, &mut d.intents);
            d.route_intents();
            d.advance_to(u64::MAX);
        }
    }
    let mut sources = sources.to_vec();
    for (i, s) in sources.iter_mut().enumerate() {
        s.bad_lines += frames.bad_lines(i as u16);
    }
    let end_ns = d.now_ns;
    let link = d.core.link_mut();
    if let Some(e) = link.journal_error {
        return Err(BacktestError::Journal(e));
    }
    if let Some(w) = &mut link.journal {
        w.flush(end_ns).map_err(BacktestError::Journal)?;
    }
    let report = build_report(&d, profile, profile_label, &sources, frames.clamped());
    Ok((report, ReplaySummary { spans: d.counters.source_span.clone(), market_frames: d.counters.market_frames }))
}

fn build_report<S: SignalSource>(
    d: &Driver<S>,
    profile: &Profile,
    label: &str,
    sources: &[Source],
    clamped: u64,
) -> Report {
    let link = d.core.link();
    let trades = &link.trades;
    let closed = trades.closed();
    let first = d.counters.first_ms.unwrap_or(0);
    let last = d.counters.last_ms.max(first);
    let unattributed = trades.unattributed_funding();
    let ex = d.exchange.stats();
    let mut summary = report::summarize(closed, unattributed, link.initial_equity, d.drawdown.max(), (first, last));
    summary.maker_share = report::Stat::of_ratio(ex.maker_fills, ex.fills);
    let strategy = d.core.strategy();
    let g = strategy.gate_stats();
    let names = strategy.inputs().names();
    let refusals: RefusalCounts = d.core.gate().refusals();
    let c = strategy.counters();
    let mut instruments = Vec::new();
    for (i, inst) in d.core.instruments().iter().enumerate() {
        let id = InstrumentId(i as u16);
        let Some(state) = d.core.market().get(id) else { continue };
        let counts = d.core.instrument_counts(id);
        if counts.book_updates == 0 && state.trades.trades == 0 {
            continue;
        }
        let sync = state.sync.stats();
        instruments.push(report::InstrumentReport {
            venue: inst.venue.name(),
            symbol: inst.symbol.to_string(),
            book_updates: counts.book_updates,
            tape_trades: state.trades.trades,
            gaps: sync.gaps,
            resyncs: sync.resyncs,
            decisions: counts.decisions,
        });
    }
    let core_stats = d.core.stats();
    let cfg = &profile.strategy;
    Report {
        report: "scalpel backtest",
        format_version: 1,
        profile: label.to_owned(),
        signal_source: d.core.signals().name(),
        signal_fields_missing: strategy.provided().missing().collect(),
        vote_inputs: Names(VoteKind::ALL.iter().map(|k| (k.name(), names[*k as usize])).collect()),
        settings: report::Settings {
            fill_model: profile.backtest.fill_model.name(),
            feed_latency: match profile.backtest.recorded_feed {
                None => profile.backtest.feed_latency.describe(),
                Some(r) => format!(
                    "market frames at their recorded receive time (clock offset {} us; {} of {} before the exchange clock, delivered at it), reports {}",
                    r.clock_offset_ns / 1000,
                    d.counters.recorded_clamped,
                    d.counters.recorded_frames,
                    profile.backtest.feed_latency.describe()
                ),
            },
            order_latency: profile.backtest.order_latency.describe(),
            funding: profile.backtest.funding,
            initial_equity_usdt: report::money(link.initial_equity),
            post_only_entries: cfg.entry.post_only,
            b_trades: cfg.entry.b_trades,
        },
        inputs: sources
            .iter()
            .zip(&d.counters.source_frames)
            .map(|(s, n)| report::InputReport {
                label: s.label.clone(),
                venue: s.venue.name(),
                frames: *n,
                bad_lines: s.bad_lines,
            })
            .collect(),
        replay: report::ReplayReport {
            frames: d.counters.frames,
            decode_errors: d.counters.decode_errors,
            malformed: d.counters.malformed,
            unknown_instrument: d.counters.unknown_instrument,
            first_exchange_ms: first,
            last_exchange_ms: last,
            span_secs: report::Stat::Value((last - first) as f64 / 1000.0),
            exchange_time_clamped: clamped + core_stats.clock_skew_clamped,
            instruments,
        },
        summary,
        trades_by_tier: report::by_tier(closed),
        trades_by_exit_reason: report::by_exit_reason(closed),
        gates: report::GateReport {
            candidates: g.candidates,
            passed: g.passed,
            candidates_by_tier: Counts(
                crate::strategy::Tier::ALL.iter().map(|t| (t.name(), g.by_tier[t.index()])).collect(),
            ),
            blocked: Counts(GateKind::ALL.iter().map(|k| (k.name(), g.blocked[*k as usize])).collect()),
            not_evaluated_no_data: Counts(
                GateKind::ALL
                    .iter()
                    .filter(|k| g.no_data[**k as usize] > 0)
                    .map(|k| (k.name(), g.no_data[*k as usize]))
                    .collect(),
            ),
            by_confidence: Counts(CONFIDENCE_BUCKETS.iter().zip(g.by_confidence).map(|(k, n)| (*k, n)).collect()),
            skipped_input_unavailable: GateKind::ALL
                .iter()
                .filter(|k| g.skipped[**k as usize])
                .map(|k| k.name())
                .collect(),
        },
        risk_gate: report::RiskGateReport {
            passed: d.core.gate().passed(),
            refused: Counts(Refusal::ALL.iter().map(|r| (r.name(), refusals.get(*r))).collect()),
        },
        risk_monitor: report::RiskMonitorReport {
            trips: Counts(Cause::ALL.iter().skip(1).map(|c| (c.name(), link.trips[*c as usize])).collect()),
            final_mode: link.verdict.load().mode.name(),
            equity_usdt: report::money(link.monitor.snapshot().equity),
        },
        orders: report::OrdersReport {
            entries_proposed: c.entries,
            exits_proposed: c.exits,
            cancels_sent: c.cancels,
            orders_at_exchange: ex.orders,
            fills: ex.fills,
            maker_fills: ex.maker_fills,
            taker_fills: ex.taker_fills,
            post_only_expired: ex.post_only_expired,
            unfilled_entries: c.unfilled_entries,
            partial_entries: c.partial_entries,
            rejected_by_exchange: ex.rejected,
            unfilled_by_book: ex.unfilled_by_book,
            late_cancels: ex.late_cancels,
            funding_events: ex.funding_events,
        },
        trades: closed.iter().map(report::TradeJson::of).collect(),
        open_at_end: trades.still_open().map(report::TradeJson::of).collect(),
    }
}

/// Names of the ten-point confidence buckets of the report.
const CONFIDENCE_BUCKETS: [&str; 10] =
    ["0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90-100"];

/// Options of `scalpel backtest`.
#[derive(Debug, Clone)]
pub struct BacktestOptions {
    /// The profile (`tuning/<profile>.toml`); `None`: `tuning/default.toml`
    /// when it exists under the working directory, else the copy built into
    /// the binary (so the command runs anywhere).
    pub config: Option<PathBuf>,
    /// Input files, `PATH` or `VENUE:PATH`; none: a synthetic session.
    pub inputs: Vec<String>,
    /// The synthetic session replayed when there are no inputs.
    pub synthetic: SyntheticInput,
    /// Some `--synth-*` option was given (it is ignored with inputs: said so).
    pub synthetic_given: bool,
    /// Where to write the JSON report (checked writable before the run).
    pub json: Option<PathBuf>,
    /// Where to write the run's journal (a new file; `scalpel journal` reads it).
    pub journal: Option<PathBuf>,
}

/// The synthetic session `scalpel backtest` generates in process when it is
/// given no recording (`src/synth/`, the same generator as `scalpel synth`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticInput {
    /// Wire format.
    pub venue: Venue,
    /// Instrument (built-in BTCUSDT or ETHUSDT).
    pub symbol: crate::instrument::Symbol,
    /// Seed of the generator.
    pub seed: u64,
    /// Length, seconds of exchange time.
    pub duration_s: f64,
}

impl SyntheticInput {
    /// The default: Binance BTCUSDT, seed 42, 30 minutes.
    pub const DEFAULT_SEED: u64 = 42;
    /// Default length, seconds.
    pub const DEFAULT_SECS: f64 = 1800.0;

    /// A label naming the session in reports.
    #[must_use]
    pub fn label(&self) -> String {
        format!("synthetic:{}:{}:seed={}:{}s", self.venue, self.symbol, self.seed, self.duration_s)
    }
}

impl Default for SyntheticInput {
    fn default() -> Self {
        Self {
            venue: Venue::BinanceUsdm,
            symbol: crate::instrument::Symbol::new(b"BTCUSDT").unwrap_or_else(|_| unreachable!("a valid symbol")),
            seed: Self::DEFAULT_SEED,
            duration_s: Self::DEFAULT_SECS,
        }
    }
}

/// Runs `scalpel backtest`: loads the profile, checks that the report and
/// journal can be written, streams the inputs (or a synthetic session)
/// through [`run_stream`] with the signal source the profile names
/// (`[backtest] signals`, default the live [`LiveSignals`]), prints the
/// human summary to `out`, notes and a progress line (runs longer than two
/// seconds) to `err`, and writes the JSON report if asked.
///
/// # Errors
/// See [`BacktestError`].
pub fn command(opts: &BacktestOptions, out: &mut impl Write, err: &mut dyn Write) -> Result<Report, BacktestError> {
    let (profile, label) = match &opts.config {
        Some(path) => (Profile::from_file(path)?, path.display().to_string()),
        None => {
            let local = PathBuf::from("tuning/default.toml");
            if local.is_file() {
                (Profile::from_file(&local)?, local.display().to_string())
            } else {
                (Profile::built_in_default()?, "built-in tuning/default.toml".to_owned())
            }
        }
    };
    // Fail before a long run, not after it.
    let json_file = match &opts.json {
        Some(path) => Some(
            std::fs::File::create(path)
                .map_err(|e| io::Error::new(e.kind(), format!("--json {}: {e}", path.display())))?,
        ),
        None => None,
    };
    let journal = match &opts.journal {
        Some(path) => Some(
            JournalWriter::create(
                path,
                profile.instruments.all(),
                &crate::journal::JournalConfig { sync: false, ..crate::journal::JournalConfig::default() },
                0,
            )
            .map_err(|e| io::Error::other(format!("--journal {}: {e} (it must not exist yet)", path.display())))?,
        ),
        None => None,
    };
    if !opts.inputs.is_empty() && opts.synthetic_given {
        writeln!(err, "note: the --synth-* options are ignored: --input was given")?;
    }
    let started = std::time::Instant::now();
    let mut last_print = started;
    let mut progress = |p: Progress| {
        let now = std::time::Instant::now();
        if now.duration_since(started).as_secs_f64() >= 2.0 && now.duration_since(last_print).as_secs_f64() >= 1.0 {
            last_print = now;
            let secs = now.duration_since(started).as_secs_f64();
            let _ = writeln!(
                err,
                "backtest: {} frames, exchange time {} ms, {:.0} frames/s",
                p.frames,
                p.exchange_ms,
                p.frames as f64 / secs
            );
        }
    };
    let signals_cfg = SignalConfig::from_table(&profile.signals)?;
    macro_rules! replay {
        ($sources:expr, $frames:expr) => {
            match profile.backtest.signals {
                SignalChoice::Live => run_stream(
                    &profile,
                    &label,
                    $sources,
                    $frames,
                    LiveSignals::new(&signals_cfg, profile.instruments.all()),
                    &mut progress,
                    journal,
                )?,
                SignalChoice::BookOnly => run_stream(
                    &profile,
                    &label,
                    $sources,
                    $frames,
                    BookOnlySignals::new(profile.instruments.all()),
                    &mut progress,
                    journal,
                )?,
            }
        };
    }
    let (report, summary) = if opts.inputs.is_empty() {
        let s = opts.synthetic;
        writeln!(
            out,
            "input: no recording given: replaying a synthetic session generated in process \
             ({} {}, seed {}, {} s; see scalpel synth)",
            s.venue, s.symbol, s.seed, s.duration_s
        )?;
        let cfg = crate::synth::SynthConfig::built_in(s.venue, s.symbol, s.seed, s.duration_s)?;
        let mut frames = SynthFrames(crate::synth::Synth::new(&cfg)?);
        let sources = [Source::new(s.venue, s.label())];
        replay!(&sources, &mut frames)
    } else {
        let (mut frames, sources) =
            FileMerge::open(&opts.inputs, &profile.instruments, profile.core.max_clock_skew_ms)?;
        replay!(&sources, &mut frames)
    };
    if summary.market_frames == 0 {
        return Err(BacktestError::NothingDecoded {
            frames: report.replay.frames,
            decode_errors: report.replay.decode_errors,
        });
    }
    if let Some(warning) = disjoint_inputs(&report, &summary.spans) {
        writeln!(err, "{warning}")?;
    }
    out.write_all(report.human().as_bytes())?;
    if let (Some(path), Some(mut file)) = (&opts.json, json_file) {
        file.write_all(report.to_json().as_bytes())?;
        writeln!(out, "report: {}", path.display())?;
    }
    if let Some(path) = &opts.journal {
        writeln!(out, "journal: {}", path.display())?;
    }
    Ok(report)
}

/// A warning when the inputs do not overlap in exchange time: merged by
/// exchange time they replay one after the other, which is rarely meant.
fn disjoint_inputs(report: &Report, spans: &[Option<(i64, i64)>]) -> Option<String> {
    let known: Vec<(usize, (i64, i64))> = spans.iter().enumerate().filter_map(|(i, s)| s.map(|s| (i, s))).collect();
    if known.len() < 2 {
        return None;
    }
    let latest_start = known.iter().map(|(_, s)| s.0).max()?;
    let earliest_end = known.iter().map(|(_, s)| s.1).min()?;
    if latest_start <= earliest_end {
        return None;
    }
    let list: Vec<String> = known
        .iter()
        .map(|(i, (a, b))| format!("{} [{a} .. {b}]", report.inputs.get(*i).map_or("?", |x| x.label.as_str())))
        .collect();
    Some(format!(
        "warning: the inputs do not overlap in exchange time (ms): {}; they replay one after the other",
        list.join(", ")
    ))
}
