//! `scalpel backtest`: a deterministic in-process replay of recorded frames
//! through the code the live engine runs, against a simulated exchange.
//!
//! ```text
//!  frames (merged by exchange time)
//!    │ decode (venue Decoder) ──► exchange-side MarketState ──► SimExchange (trade tape fills, funding)
//!    │                                                              ▲ orders (after order latency)
//!    └─ after feed latency ─► decode ──► strategy-side MarketState ─► SignalSource ─► Strategy ─► RiskGate
//!                                              ▲ fills, acks, cancels (after feed latency)     │
//!                                              └────────────── RiskMonitor (verdict, flatten) ◄┘
//! ```
//!
//! Both sides use the same [`Decoder`], [`MarketState`] (book sync
//! included), and the strategy side the same [`Strategy`], [`RiskGate`]
//! pre-trade check and [`RiskMonitor`] as the live engine. Time is the
//! exchange time of the frames (ms, carried in ns): the exchange sees a
//! frame at its exchange time, the strategy `feed_latency` later; orders
//! reach the exchange `order_latency` after the decision; reports come back
//! with the feed latency. Deliveries on one link keep their order. Nothing
//! reads a clock, iterates a hash map or depends on thread timing, so the
//! same input and profile give a byte-identical JSON report.
//!
//! Frames come from any iterator of [`FrameRef`] (recorded files merged by
//! [`input::merge_order`], or a synthetic session), each naming its
//! [`Source`] (venue).

/// The `[backtest]` table (parsed with the rest of the profile, in
/// [`crate::profile`]).
pub use crate::profile::backtest as config;
pub mod exchange;
pub mod input;
pub mod latency;
pub mod report;
pub mod trades;

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use crate::book::DEFAULT_LEVELS;
use crate::event::{InstrumentId, MarketEvent};
use crate::fixed::{Notional, Price, Qty};
use crate::instrument::{Instrument, LoadError, SymbolTable};
use crate::json::JsonScratch;
use crate::market::{Applied, MarketState};
use crate::order::{ClientOrderId, OrderEvent, OrderRequest, VenueOrderId};
use crate::profile::Profile;
use crate::risk::gate::RefusalCounts;
use crate::risk::{
    Cause, CheckContext, GateSlot, Refusal, RiskCommand, RiskGate, RiskInput, RiskMonitor, RiskOutput, VerdictCell,
};
use crate::side::Side;
use crate::signal::SignalConfig;
use crate::strategy::context::{ContextTimeline, parse_records};
use crate::strategy::entry::SizeLimits;
use crate::strategy::{AccountView, Action, ExitReason, GateKind, MarketView, Strategy, VoteKind};
use crate::venue::sync::SyncState;
use crate::venue::{Decoder, Venue};

pub use crate::signal::{BookOnlySignals, LiveSignals, SignalSource};
use config::SignalChoice;
use exchange::{ExchangeBook, ExchangeReport, SimExchange};
pub use input::{FrameRef, Source};
use input::{depth_instrument, event_time_ms};
use latency::Link;
use report::{Counts, Drawdown, Names, Report};
use trades::{Role, TradeBook};

/// Why a backtest could not run.
///
/// # Errors
/// From [`run`] and [`command`].
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// The profile is invalid.
    #[error("profile: {0}")]
    Profile(#[from] LoadError),
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
}

const fn venue_index(v: Venue) -> usize {
    match v {
        Venue::BinanceUsdm => 0,
        Venue::BybitLinear => 1,
    }
}

enum ToStrategy {
    Frame { source: u16, bytes: Vec<u8> },
    Report(ExchangeReport),
}

enum ToExchange {
    Order { inst: usize, order: OrderRequest },
    Cancel(ClientOrderId),
}

#[derive(Debug, Clone, Copy)]
struct OrderInfo {
    inst: usize,
    side: Side,
    qty: i64,
    filled: i64,
}

#[derive(Debug, Clone, Default)]
struct Counters {
    frames: u64,
    decode_errors: u64,
    malformed: u64,
    unknown_instrument: u64,
    first_ms: Option<i64>,
    last_ms: i64,
    source_frames: Vec<u64>,
    book_updates: Vec<u64>,
    decisions: Vec<u64>,
}

struct Engine<S: SignalSource> {
    insts: Vec<Instrument>,
    ex_market: [MarketState<DEFAULT_LEVELS>; 2],
    st_market: [MarketState<DEFAULT_LEVELS>; 2],
    exchange: SimExchange,
    feed: Link,
    order_link: Link,
    to_strategy: VecDeque<(u64, ToStrategy)>,
    to_exchange: VecDeque<(u64, ToExchange)>,
    free_bufs: Vec<Vec<u8>>,
    reports: Vec<ExchangeReport>,
    signals: S,
    strategy: Strategy,
    gate: RiskGate,
    verdict: Arc<VerdictCell>,
    monitor: RiskMonitor,
    monitor_out: Vec<RiskOutput>,
    trips: [u64; 13],
    trades: TradeBook,
    orders: BTreeMap<u64, OrderInfo>,
    next_id: u64,
    now_ns: u64,
    frame_ns: u64,
    /// Exchange time of the last depth update at the exchange, per instrument.
    ex_depth_ms: Vec<i64>,
    tops: Vec<(Price, Price)>,
    /// Exchange time of the top in `tops`, ms (depth book or venue BBO, the newer wins).
    top_src_ms: Vec<i64>,
    top_ts_ns: Vec<u64>,
    last_mark_ms: Vec<i64>,
    context: ContextTimeline,
    drawdown: Drawdown,
    initial_equity: Notional,
    funding: bool,
    mark_interval_ms: i64,
    counters: Counters,
}

impl<S: SignalSource> Engine<S> {
    fn new(profile: &Profile, sources: usize, signals: S) -> Result<Self, BacktestError> {
        let insts = profile.instruments.all().to_vec();
        let n = insts.len();
        let market = |v: Venue| MarketState::new(v, SymbolTable::for_venue(&profile.instruments, v).entries());
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
        let context = match &profile.strategy.context.file {
            None => ContextTimeline::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| BacktestError::Context { path: path.clone(), problem: e.to_string() })?;
                let records = parse_records(&text)
                    .map_err(|e| BacktestError::Context { path: path.clone(), problem: e.to_string() })?;
                ContextTimeline::new(&records, &profile.strategy.context.components)
            }
        };
        let verdict = Arc::new(VerdictCell::new());
        let monitor = RiskMonitor::new(profile.risk.clone(), &insts, 0);
        verdict.publish(monitor.verdict());
        let gate = RiskGate::new(&profile.risk, &insts, Arc::clone(&verdict), 0)?;
        let bt = &profile.backtest;
        Ok(Self {
            ex_market: [market(Venue::BinanceUsdm), market(Venue::BybitLinear)],
            st_market: [market(Venue::BinanceUsdm), market(Venue::BybitLinear)],
            exchange: SimExchange::new(&insts, bt.fill_model),
            feed: Link::new(bt.feed_latency.clone()),
            order_link: Link::new(bt.order_latency.clone()),
            to_strategy: VecDeque::with_capacity(1024),
            to_exchange: VecDeque::with_capacity(64),
            free_bufs: Vec::new(),
            reports: Vec::with_capacity(64),
            signals,
            strategy,
            gate,
            verdict,
            monitor,
            monitor_out: Vec::with_capacity(16),
            trips: [0; 13],
            trades: TradeBook::new(n),
            orders: BTreeMap::new(),
            next_id: 1,
            now_ns: 0,
            frame_ns: 0,
            ex_depth_ms: vec![i64::MIN; n],
            tops: vec![(Price::ZERO, Price::ZERO); n],
            top_src_ms: vec![i64::MIN; n],
            top_ts_ns: vec![0; n],
            last_mark_ms: vec![i64::MIN; n],
            context,
            drawdown: Drawdown::new(profile.risk.initial_equity),
            initial_equity: profile.risk.initial_equity,
            funding: bt.funding,
            mark_interval_ms: bt.mark_interval_ms,
            counters: Counters {
                source_frames: vec![0; sources],
                book_updates: vec![0; n],
                decisions: vec![0; n],
                ..Counters::default()
            },
            insts,
        })
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.now_ns / 1_000_000).unwrap_or(i64::MAX)
    }

    /// Schedules the exchange's pending reports on the feed link.
    fn send_reports(&mut self) {
        for r in self.reports.drain(..) {
            let at = self.feed.deliver_at(self.now_ns);
            self.to_strategy.push_back((at, ToStrategy::Report(r)));
        }
    }

    /// Processes everything queued up to time `t` (ns), in time order;
    /// at equal times orders reach the exchange before the strategy hears news.
    fn advance_to(&mut self, t: u64, decoders: &[Decoder], scratch: &mut JsonScratch) {
        loop {
            let ex = self.to_exchange.front().map(|x| x.0);
            let st = self.to_strategy.front().map(|x| x.0);
            let exchange_first = match (ex, st) {
                (Some(a), Some(b)) => a <= b,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return,
            };
            let at = if exchange_first { ex } else { st }.unwrap_or(u64::MAX);
            if at > t {
                return;
            }
            self.now_ns = self.now_ns.max(at);
            if exchange_first {
                let Some((_, item)) = self.to_exchange.pop_front() else { return };
                self.at_exchange(item);
            } else {
                let Some((_, item)) = self.to_strategy.pop_front() else { return };
                match item {
                    ToStrategy::Report(r) => self.on_report(r),
                    ToStrategy::Frame { source, mut bytes } => {
                        if let Some(decoder) = decoders.get(usize::from(source)) {
                            let v = venue_index(decoder.venue());
                            decoder.decode_frame(scratch, &mut bytes, |event| {
                                if let Ok(event) = event {
                                    self.on_strategy_event(v, &event);
                                }
                            });
                        }
                        self.free_bufs.push(bytes);
                    }
                }
            }
        }
    }

    fn at_exchange(&mut self, item: ToExchange) {
        match item {
            ToExchange::Order { inst, order } => {
                let v = venue_index(order.venue);
                let depth_ms = self.ex_depth_ms.get(inst).copied().unwrap_or(i64::MAX);
                let book = self.ex_market[v]
                    .get(InstrumentId(inst as u16))
                    .filter(|s| s.sync.state() == SyncState::Live)
                    .map(|s| ExchangeBook { depth: s.sync.book(), top: (s.bbo.ts_ms >= depth_ms).then_some(s.bbo) });
                self.exchange.on_order(inst, &order, book.as_ref(), self.now_ns, &mut self.reports);
            }
            ToExchange::Cancel(id) => self.exchange.on_cancel(id, &mut self.reports),
        }
        self.send_reports();
    }

    /// A frame reaches the exchange at its exchange time.
    fn on_exchange_event(&mut self, v: usize, event: &MarketEvent<'_>) {
        let applied = self.ex_market[v].apply(event, |_, _, _| {});
        if let (Applied::Depth(inst, _), Some(t)) = (applied, event_time_ms(event)) {
            if let Some(d) = self.ex_depth_ms.get_mut(usize::from(inst.0)) {
                *d = t;
            }
        }
        match applied {
            Applied::Trades(inst, _) => {
                if let MarketEvent::Trades(batch) = *event {
                    for trade in batch {
                        let Ok(trade) = trade else { break };
                        self.exchange.on_trade(usize::from(inst.0), &trade, self.now_ns, &mut self.reports);
                    }
                }
            }
            Applied::Malformed => self.counters.malformed += 1,
            Applied::UnknownInstrument => self.counters.unknown_instrument += 1,
            _ => {}
        }
        if self.funding {
            let now_ms = self.now_ms();
            for i in 0..self.insts.len() {
                if venue_index(self.insts[i].venue) != v {
                    continue;
                }
                if let Some(st) = self.ex_market[v].get(InstrumentId(i as u16)) {
                    let funding = st.funding;
                    self.exchange.on_clock(i, &funding, now_ms, &mut self.reports);
                }
            }
        }
        self.send_reports();
    }

    /// A frame reaches the strategy.
    fn on_strategy_event(&mut self, v: usize, event: &MarketEvent<'_>) {
        let now_ns = self.now_ns;
        let now_ms = self.now_ms();
        self.context.advance(now_ms, self.strategy.context_mut());
        self.signals.on_event(event);
        // New trades to the signals, deduplicated exactly as MarketState does.
        if let MarketEvent::Trades(batch) = *event {
            let mut tape: Option<(InstrumentId, crate::market::SeqMark, crate::market::SeqMark)> = None;
            let unique = crate::market::trade_ids_unique(self.st_market[v].venue());
            for trade in batch {
                let Ok(trade) = trade else { break };
                let (i, mut t, mut a) = match tape {
                    Some(x) if x.0 == trade.inst => x,
                    _ => match self.st_market[v].get(trade.inst) {
                        Some(s) => (trade.inst, s.trades.trade_ids, s.trades.agg_ids),
                        None => break,
                    },
                };
                let mark = if trade.source == crate::event::TradeSource::Aggregate { &mut a } else { &mut t };
                let new = mark.admit(trade.id, trade.trade_ms, unique, crate::market::DEFAULT_MARK_RESET_MS).is_new();
                tape = Some((i, t, a));
                if new {
                    self.signals.on_trade(trade.inst, &trade);
                }
            }
        }
        let ts_ms = event_time_ms(event).unwrap_or(now_ms);
        let Self { st_market, signals, tops, top_src_ms, top_ts_ns, counters, .. } = self;
        let applied = st_market[v].apply(event, |inst, book, outcome| {
            if outcome.published() {
                signals.on_book(inst, book, ts_ms);
                let i = usize::from(inst.0);
                if let Some(n) = counters.book_updates.get_mut(i) {
                    *n += 1;
                }
                if top_src_ms.get(i).is_some_and(|&t| ts_ms >= t) {
                    tops[i] =
                        (book.best_bid().map_or(Price::ZERO, |l| l.0), book.best_ask().map_or(Price::ZERO, |l| l.0));
                    top_src_ms[i] = ts_ms;
                    top_ts_ns[i] = now_ns;
                }
            }
        });
        let inst = match applied {
            Applied::Depth(inst, _) => {
                let live = self.st_market[v].get(inst).is_some_and(|s| s.sync.state() == SyncState::Live);
                if !live {
                    // Out of sync: no top until the book is live again.
                    self.signals.on_book_lost(inst);
                    let i = usize::from(inst.0);
                    if let Some(top) = self.tops.get_mut(i) {
                        *top = (Price::ZERO, Price::ZERO);
                        self.top_src_ms[i] = i64::MIN;
                    }
                }
                Some(inst)
            }
            Applied::Top(inst) => {
                if let Some(s) = self.st_market[v].get(inst) {
                    let bbo = s.bbo;
                    let live = s.sync.state() == SyncState::Live;
                    self.signals.on_top(inst, &bbo);
                    let i = usize::from(inst.0);
                    // The venue's own BBO can run ahead of the depth stream;
                    // use it while the book is in sync and it is the newer.
                    if live
                        && bbo.bid_px.0 > 0
                        && bbo.ask_px > bbo.bid_px
                        && self.top_src_ms.get(i).is_some_and(|&t| bbo.ts_ms >= t)
                    {
                        self.tops[i] = (bbo.bid_px, bbo.ask_px);
                        self.top_src_ms[i] = bbo.ts_ms;
                        self.top_ts_ns[i] = now_ns;
                    }
                    if matches!(event, MarketEvent::Ticker(_)) {
                        let f = s.funding;
                        self.signals.on_funding(inst, &f);
                    }
                }
                Some(inst)
            }
            Applied::Funding(inst) => {
                if let Some(s) = self.st_market[v].get(inst) {
                    let f = s.funding;
                    self.signals.on_funding(inst, &f);
                }
                Some(inst)
            }
            Applied::Trades(inst, _) => Some(inst),
            Applied::Liquidations(inst, _) => {
                if let MarketEvent::Liquidations(batch) = *event {
                    for liq in batch.flatten() {
                        self.signals.on_liquidation(liq.inst, &liq);
                    }
                }
                Some(inst)
            }
            Applied::Other | Applied::Malformed | Applied::UnknownInstrument => None,
        };
        if let Some(inst) = inst {
            self.decide(usize::from(inst.0));
        }
    }

    fn view(&self, i: usize) -> MarketView {
        let (bid, ask) = self.tops[i];
        MarketView { now_ms: self.now_ms(), bid, ask, snapshot: self.signals.snapshot(InstrumentId(i as u16)) }
    }

    fn account(&self) -> AccountView {
        AccountView { equity: Notional(self.initial_equity.0 + self.trades.realised().0) }
    }

    fn decide(&mut self, i: usize) {
        if i >= self.insts.len() {
            return;
        }
        let now_ms = self.now_ms();
        self.counters.decisions[i] += 1;
        let (bid, ask) = self.tops[i];
        if bid.0 > 0 && ask.0 > 0 && now_ms.saturating_sub(self.last_mark_ms[i]) >= self.mark_interval_ms {
            self.last_mark_ms[i] = now_ms;
            let inst = self.insts[i];
            let mark = RiskInput::Mark {
                venue: inst.venue,
                symbol: inst.symbol,
                price: Price((bid.0 + ask.0) / 2),
                ts_ms: now_ms,
            };
            self.monitor.on_input(&mark, now_ms, &mut self.monitor_out);
            self.handle_monitor();
        }
        let view = self.view(i);
        let account = self.account();
        if let Some(action) = self.strategy.on_market(i, &view, &account) {
            self.act(i, action);
        }
        let equity = Notional(self.initial_equity.0 + self.trades.marked(&self.tops).0);
        self.drawdown.observe(equity);
    }

    fn act(&mut self, i: usize, action: Action) {
        let inst = self.insts[i];
        let now_ms = self.now_ms();
        let id = ClientOrderId(self.next_id);
        let role = match action {
            Action::Cancel { id } => {
                let at = self.order_link.deliver_at(self.now_ns);
                self.to_exchange.push_back((at, ToExchange::Cancel(id)));
                return;
            }
            Action::Enter { tier, limit, confidence, .. } => {
                Role::Entry { tier, confidence, post_only: limit.is_some() }
            }
            Action::Exit { reason, .. } => Role::Exit(reason),
        };
        let Some(order) = action.to_order(&inst, id) else { return };
        let (bid, ask) = self.tops[i];
        let ctx = CheckContext {
            now_ns: self.now_ns,
            mid: if bid.0 > 0 && ask.0 > 0 { Price((bid.0 + ask.0) / 2) } else { Price::ZERO },
            mid_ts_ns: self.top_ts_ns[i],
            ring_congested: false,
        };
        match self.gate.check(GateSlot(i as u16), &order, &ctx) {
            Ok(()) => {
                self.next_id += 1;
                self.strategy.on_sent(i, id);
                self.trades.register(id, i, role);
                self.orders.insert(id.0, OrderInfo { inst: i, side: order.side, qty: order.qty.0, filled: 0 });
                let submitted = RiskInput::Order(OrderEvent::Submitted { order, ts_raw: self.now_ns });
                self.monitor.on_input(&submitted, now_ms, &mut self.monitor_out);
                let at = self.order_link.deliver_at(self.now_ns);
                self.to_exchange.push_back((at, ToExchange::Order { inst: i, order }));
                self.handle_monitor();
            }
            Err(_) => self.strategy.on_refused(i, now_ms),
        }
    }

    fn finish_order(&mut self, id: ClientOrderId) {
        self.orders.remove(&id.0);
        self.trades.forget(id);
    }

    fn on_report(&mut self, report: ExchangeReport) {
        let now_ms = self.now_ms();
        let event = match report {
            ExchangeReport::Funding { inst, amount, .. } => {
                self.trades.on_funding(inst, amount);
                return;
            }
            ExchangeReport::Acked(id) => {
                OrderEvent::Acked { client_id: id, venue_order_id: VenueOrderId::from_u64(id.0), ts_ms: now_ms }
            }
            ExchangeReport::Filled(fill) => {
                let Some(info) = self.orders.get_mut(&fill.client_id.0) else { return };
                info.filled += fill.qty.0;
                let (i, done) = (info.inst, info.filled >= info.qty);
                self.gate.on_fill(GateSlot(i as u16), fill.side, fill.qty);
                self.strategy.on_fill(i, &fill, now_ms);
                self.trades.on_fill(&self.insts[i], &fill);
                if done {
                    self.finish_order(fill.client_id);
                }
                OrderEvent::Filled(fill)
            }
            ExchangeReport::Cancelled(id, leaves) | ExchangeReport::Expired(id, leaves) => {
                let Some(info) = self.orders.get(&id.0).copied() else { return };
                self.gate.on_order_done(GateSlot(info.inst as u16), info.side, leaves);
                self.strategy.on_order_done(info.inst, id, now_ms);
                self.finish_order(id);
                if matches!(report, ExchangeReport::Cancelled(..)) {
                    OrderEvent::Cancelled { client_id: id, ts_ms: now_ms }
                } else {
                    OrderEvent::Expired { client_id: id, ts_ms: now_ms }
                }
            }
            ExchangeReport::Rejected(id, reason) => {
                let Some(info) = self.orders.get(&id.0).copied() else { return };
                self.gate.on_order_done(GateSlot(info.inst as u16), info.side, Qty(info.qty - info.filled));
                self.strategy.on_order_done(info.inst, id, now_ms);
                self.finish_order(id);
                OrderEvent::Rejected { client_id: id, reason, venue_code: 0, ts_ms: now_ms }
            }
        };
        self.monitor.on_input(&RiskInput::Order(event), now_ms, &mut self.monitor_out);
        self.handle_monitor();
    }

    fn handle_monitor(&mut self) {
        let mut out = std::mem::take(&mut self.monitor_out);
        for o in out.drain(..) {
            match o {
                RiskOutput::Verdict { verdict, .. } => {
                    self.verdict.publish(verdict);
                }
                RiskOutput::Trip { cause, .. } => self.trips[cause as usize] += 1,
                RiskOutput::Clear { .. } => {}
                RiskOutput::Command { command, .. } => match command {
                    RiskCommand::CancelAll => (0..self.insts.len()).for_each(|i| self.strategy.request_cancel(i)),
                    RiskCommand::FlattenAll => {
                        (0..self.insts.len()).for_each(|i| self.strategy.request_flatten(i, ExitReason::RiskFlatten));
                    }
                    RiskCommand::Flatten { venue, symbol } => {
                        if let Some(i) = self.insts.iter().position(|x| x.venue == venue && x.symbol == symbol) {
                            self.strategy.request_flatten(i, ExitReason::RiskFlatten);
                        }
                    }
                    RiskCommand::Exit => {}
                },
            }
        }
        self.monitor_out = out;
    }
}

/// Replays `frames` (from `sources`) under `profile` with `signals`, and
/// returns the report. `profile_label` names the profile in the report.
///
/// # Errors
/// A bad context file or a risk limit that does not fit an instrument.
pub fn run<'a, S: SignalSource>(
    profile: &Profile,
    profile_label: &str,
    sources: &[Source],
    frames: impl IntoIterator<Item = FrameRef<'a>>,
    signals: S,
) -> Result<Report, BacktestError> {
    let mut decoders: Vec<Decoder> = sources.iter().map(|s| Decoder::new(s.venue, &profile.instruments)).collect();
    let mut snapshot_routed = vec![false; sources.len()];
    let mut engine = Engine::new(profile, sources.len(), signals)?;
    let mut scratch_ex = JsonScratch::default();
    let mut scratch_st = JsonScratch::default();
    let mut buf = Vec::with_capacity(64 * 1024);
    for frame in frames {
        let src = usize::from(frame.source);
        let Some(decoder) = decoders.get(src) else {
            engine.counters.decode_errors += 1;
            continue;
        };
        engine.counters.frames += 1;
        engine.counters.source_frames[src] += 1;
        let v = venue_index(decoder.venue());
        buf.clear();
        buf.extend_from_slice(frame.bytes);
        let (ok, depth_inst) = decoder.decode_frame(&mut scratch_ex, &mut buf, |event| match event {
            Ok(event) => {
                if let Some(t) = event_time_ms(&event) {
                    engine.counters.first_ms.get_or_insert(t);
                    engine.counters.last_ms = engine.counters.last_ms.max(t);
                    engine.frame_ns = engine.frame_ns.max(u64::try_from(t).unwrap_or(0).saturating_mul(1_000_000));
                }
                let t_ns = engine.frame_ns;
                engine.advance_to(t_ns, &decoders, &mut scratch_st);
                engine.now_ns = engine.now_ns.max(t_ns);
                engine.on_exchange_event(v, &event);
                (true, depth_instrument(&event))
            }
            Err(_) => {
                engine.counters.decode_errors += 1;
                (false, None)
            }
        });
        if !snapshot_routed[src] {
            if let Some(inst) = depth_inst {
                // Binance REST snapshots name no symbol: they belong to the
                // file's depth symbol.
                decoders[src].set_snapshot_instrument(Some(inst));
                snapshot_routed[src] = true;
            }
        }
        if ok {
            let at = engine.feed.deliver_at(engine.now_ns);
            let mut bytes = engine.free_bufs.pop().unwrap_or_default();
            bytes.clear();
            bytes.extend_from_slice(frame.bytes);
            engine.to_strategy.push_back((at, ToStrategy::Frame { source: frame.source, bytes }));
        }
    }
    engine.advance_to(u64::MAX, &decoders, &mut scratch_st);
    if profile.backtest.close_at_end {
        // Cancel entries and close positions through the normal order path,
        // against the last books; a few rounds cover cancel → partial → exit.
        for _ in 0..4 {
            for i in 0..engine.insts.len() {
                if engine.strategy.is_flat(i) {
                    continue;
                }
                engine.strategy.request_flatten(i, ExitReason::EndOfData);
                let view = engine.view(i);
                let account = engine.account();
                if let Some(action) = engine.strategy.on_market(i, &view, &account) {
                    engine.act(i, action);
                }
            }
            engine.advance_to(u64::MAX, &decoders, &mut scratch_st);
        }
    }
    Ok(build_report(&engine, profile, profile_label, sources))
}

fn build_report<S: SignalSource>(e: &Engine<S>, profile: &Profile, label: &str, sources: &[Source]) -> Report {
    let closed = e.trades.closed();
    let first = e.counters.first_ms.unwrap_or(0);
    let last = e.counters.last_ms.max(first);
    let unattributed = e.trades.unattributed_funding();
    let summary = report::summarize(closed, unattributed, e.initial_equity, e.drawdown.max(), (first, last));
    let g = e.strategy.gate_stats();
    let names = e.strategy.inputs().names();
    let refusals: RefusalCounts = e.gate.refusals();
    let ex = e.exchange.stats();
    let c = e.strategy.counters();
    let mut instruments = Vec::new();
    for (i, inst) in e.insts.iter().enumerate() {
        let Some(state) = e.st_market[venue_index(inst.venue)].get(InstrumentId(i as u16)) else { continue };
        if e.counters.book_updates[i] == 0 && state.trades.trades == 0 {
            continue;
        }
        let sync = state.sync.stats();
        instruments.push(report::InstrumentReport {
            venue: inst.venue.name(),
            symbol: inst.symbol.to_string(),
            book_updates: e.counters.book_updates[i],
            tape_trades: state.trades.trades,
            gaps: sync.gaps,
            resyncs: sync.resyncs,
            decisions: e.counters.decisions[i],
        });
    }
    let cfg = &profile.strategy;
    Report {
        report: "scalpel backtest",
        format_version: 1,
        profile: label.to_owned(),
        signal_source: e.signals.name(),
        signal_fields_missing: e.strategy.provided().missing().collect(),
        vote_inputs: Names(VoteKind::ALL.iter().map(|k| (k.name(), names[*k as usize])).collect()),
        settings: report::Settings {
            fill_model: profile.backtest.fill_model.name(),
            feed_latency: profile.backtest.feed_latency.describe(),
            order_latency: profile.backtest.order_latency.describe(),
            funding: profile.backtest.funding,
            initial_equity_usdt: report::money(e.initial_equity),
            post_only_entries: cfg.entry.post_only,
            b_trades: cfg.entry.b_trades,
        },
        inputs: sources
            .iter()
            .zip(&e.counters.source_frames)
            .map(|(s, n)| report::InputReport {
                label: s.label.clone(),
                venue: s.venue.name(),
                frames: *n,
                bad_lines: s.bad_lines,
            })
            .collect(),
        replay: report::ReplayReport {
            frames: e.counters.frames,
            decode_errors: e.counters.decode_errors,
            malformed: e.counters.malformed,
            unknown_instrument: e.counters.unknown_instrument,
            first_exchange_ms: first,
            last_exchange_ms: last,
            span_secs: report::Stat::Value((last - first) as f64 / 1000.0),
            instruments,
        },
        summary,
        trades_by_tier: report::by_tier(closed),
        trades_by_exit_reason: report::by_exit_reason(closed),
        gates: report::GateReport {
            candidates: g.candidates,
            passed: g.passed,
            candidates_by_tier: Counts(vec![("A", g.by_tier[0]), ("B", g.by_tier[1])]),
            blocked: Counts(GateKind::ALL.iter().map(|k| (k.name(), g.blocked[*k as usize])).collect()),
            by_confidence: Counts(CONFIDENCE_BUCKETS.iter().zip(g.by_confidence).map(|(k, n)| (*k, n)).collect()),
            skipped_input_unavailable: GateKind::ALL
                .iter()
                .filter(|k| g.skipped[**k as usize])
                .map(|k| k.name())
                .collect(),
        },
        risk_gate: report::RiskGateReport {
            passed: e.gate.passed(),
            refused: Counts(Refusal::ALL.iter().map(|r| (r.name(), refusals.get(*r))).collect()),
        },
        risk_monitor: report::RiskMonitorReport {
            trips: Counts(Cause::ALL.iter().skip(1).map(|c| (c.name(), e.trips[*c as usize])).collect()),
            final_mode: e.verdict.load().mode.name(),
            equity_usdt: report::money(e.monitor.snapshot().equity),
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
        open_at_end: e.trades.still_open().map(report::TradeJson::of).collect(),
    }
}

/// Names of the ten-point confidence buckets of the report.
const CONFIDENCE_BUCKETS: [&str; 10] =
    ["0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90-100"];

/// Options of `scalpel backtest`.
#[derive(Debug, Clone)]
pub struct BacktestOptions {
    /// The profile (`tuning/<profile>.toml`).
    pub config: PathBuf,
    /// Input files, `PATH` or `VENUE:PATH`; none: a synthetic session.
    pub inputs: Vec<String>,
    /// The synthetic session replayed when there are no inputs.
    pub synthetic: SyntheticInput,
    /// Where to write the JSON report.
    pub json: Option<PathBuf>,
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

/// Runs `scalpel backtest`: loads the profile and inputs, replays them with
/// the signal source the profile names (`[backtest] signals`, default the
/// live [`LiveSignals`]), prints the human summary to `out` and writes the
/// JSON report if asked.
///
/// # Errors
/// See [`BacktestError`].
pub fn command(opts: &BacktestOptions, out: &mut impl Write) -> Result<Report, BacktestError> {
    let profile = Profile::from_file(&opts.config)?;
    let (files, labels) = if opts.inputs.is_empty() {
        let s = opts.synthetic;
        writeln!(
            out,
            "input: no recording given: replaying a synthetic session generated in process \
             ({} {}, seed {}, {} s; see scalpel synth)",
            s.venue, s.symbol, s.seed, s.duration_s
        )?;
        let cfg = crate::synth::SynthConfig::built_in(s.venue, s.symbol, s.seed, s.duration_s)?;
        let recording = crate::synth::Synth::new(&cfg)?.into_recording();
        (vec![input::InputFile { path: PathBuf::from(s.label()), venue: s.venue, recording }], vec![s.label()])
    } else {
        (input::load_inputs(&opts.inputs, &profile.instruments)?, opts.inputs.clone())
    };
    let order = input::merge_order(&files, &profile.instruments);
    let sources: Vec<Source> = files
        .iter()
        .zip(&labels)
        .map(|(f, arg)| Source { bad_lines: f.recording.bad_lines(), ..Source::new(f.venue, arg.clone()) })
        .collect();
    let label = opts.config.display().to_string();
    let frames = input::frames(&files, &order);
    let report = match profile.backtest.signals {
        SignalChoice::Live => {
            let cfg = SignalConfig::from_table(&profile.signals)?;
            run(&profile, &label, &sources, frames, LiveSignals::new(&cfg, profile.instruments.all()))?
        }
        SignalChoice::BookOnly => {
            run(&profile, &label, &sources, frames, BookOnlySignals::new(profile.instruments.all()))?
        }
    };
    out.write_all(report.human().as_bytes())?;
    if let Some(path) = &opts.json {
        std::fs::write(path, report.to_json())?;
        writeln!(out, "report: {}", path.display())?;
    }
    Ok(report)
}
