//! The simulator's exchange, venue-neutral: the server-side market (the
//! replayed frames decoded and applied with the same decoders, book sync
//! machines and [`MarketState`] the engine uses), and per account the
//! backtest's fill model ([`SimExchange`], shared code, not a second model)
//! plus the order records, positions and wallet the venues report.
//!
//! The venue adapters (`binance.rs`, `bybit.rs`) parse requests into
//! [`NewOrder`]s, call [`Exchange::place`] / [`Exchange::cancel`], and
//! format the [`AccountEvent`]s this module emits into the venues' private
//! messages.
//!
//! # Invariants
//! - One order id space for the whole simulator: the id is the
//!   [`ClientOrderId`] inside [`SimExchange`] and the Binance `orderId`
//!   (Bybit's `orderId` is a UUID derived from it).
//! - Every order that is accepted emits `New` first, then zero or more
//!   `Trade`s, then at most one of `Canceled` / `Expired`; fills move the
//!   position and the wallet (realised PnL minus fee) in the same step, and
//!   each such step emits one position and one balance event.
//! - The book an order meets is [`ExchangeBook::of_state`], the same rule
//!   the backtest uses; resting orders fill only through
//!   [`SimExchange::on_trade`] (the fill model configured).
//! - Positions are one-way (net); realised PnL is computed at the average
//!   entry price, exactly, in integers.
//! - Initial margin (positions and open orders) is notional ÷ the
//!   account's leverage on that instrument: the configured leverage until
//!   the account sets its own ([`Exchange::set_leverage`], the venues'
//!   set-leverage requests).

use std::collections::HashMap;

use crate::backtest::config::FillModel;
use crate::backtest::exchange::{ExchangeBook, ExchangeReport, SimExchange};
use crate::backtest::input::event_time_ms;
use crate::backtest::latency::SplitMix64;
use crate::book::{Book, DEFAULT_LEVELS};
use crate::event::{InstrumentId, MarketEvent};
use crate::fixed::{E8, Notional, Price, Qty, RefPrice, notional};
use crate::instrument::{Instrument, InstrumentTable, SymbolTable};
use crate::json::JsonScratch;
use crate::market::{Applied, MarketState};
use crate::order::{ClientOrderId, OrderKind, OrderRequest, RejectReason, TimeInForce};
use crate::side::Side;
use crate::venue::sync::{SyncOutcome, SyncState};
use crate::venue::{Decoder, Venue};

use super::config::AccountSpec;
use super::stamps::{FrameKind, ShortText};

/// Order lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Accepted, nothing filled.
    New,
    /// Partly filled, still working.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Cancelled by the client (or a cancel-all).
    Canceled,
    /// Ended by rule: IOC / market remainder, post-only that would take.
    Expired,
}

impl OrderStatus {
    /// Still working.
    #[must_use]
    pub fn is_open(self) -> bool {
        matches!(self, OrderStatus::New | OrderStatus::PartiallyFilled)
    }
}

/// One order as the venue knows it.
#[derive(Debug, Clone)]
pub struct OrderRecord {
    /// The simulator's order id (Binance `orderId`).
    pub id: u64,
    /// Owning account.
    pub account: usize,
    /// Instrument index.
    pub inst: usize,
    /// Client order id as sent (empty if none was sent; Binance generates one).
    pub client: ShortText,
    /// Buy or sell.
    pub side: Side,
    /// Limit or market.
    pub kind: OrderKind,
    /// Time in force.
    pub tif: TimeInForce,
    /// Limit price (zero for market orders).
    pub price: Price,
    /// Ordered quantity.
    pub qty: Qty,
    /// Reduce-only.
    pub reduce_only: bool,
    /// Status.
    pub status: OrderStatus,
    /// Filled quantity.
    pub filled: i64,
    /// Σ price × quantity of the fills, at the instrument's price + quantity scale.
    pub filled_value: i128,
    /// Σ fees, USDT at 8 decimals.
    pub fees: i64,
    /// Creation time, ms.
    pub created_ms: i64,
    /// Last change, ms.
    pub updated_ms: i64,
    /// Why it expired, when it did.
    pub expiry: Option<Expiry>,
}

/// Why an order expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// A post-only order would have taken liquidity.
    PostOnlyWouldTake,
    /// IOC or market remainder the book could not fill.
    Remainder,
}

impl OrderRecord {
    /// Unfilled quantity.
    #[must_use]
    pub fn leaves(&self) -> i64 {
        if self.status.is_open() { self.qty.0 - self.filled } else { 0 }
    }

    /// Average fill price at 8 decimals (zero when nothing filled).
    #[must_use]
    pub fn avg_price_e8(&self, inst: &Instrument) -> i64 {
        if self.filled == 0 {
            return 0;
        }
        let scale = i32::from(inst.price_scale) + i32::from(inst.qty_scale) - i32::from(E8);
        let num = self.filled_value;
        let den = i128::from(self.filled);
        let v = if scale >= 0 { num / den / 10i128.pow(scale as u32) } else { num * 10i128.pow((-scale) as u32) / den };
        i64::try_from(v).unwrap_or(0)
    }

    /// Filled notional, USDT at 8 decimals.
    #[must_use]
    pub fn filled_quote_e8(&self, inst: &Instrument) -> i64 {
        to_e8(self.filled_value, inst)
    }
}

fn to_e8(raw: i128, inst: &Instrument) -> i64 {
    let scale = i32::from(inst.price_scale) + i32::from(inst.qty_scale) - i32::from(E8);
    let v = if scale >= 0 { raw / 10i128.pow(scale as u32) } else { raw * 10i128.pow((-scale) as u32) };
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// One execution of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Execution {
    /// The venue's trade id (unique in the simulator).
    pub trade_id: u64,
    /// Price.
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
    /// Fee (USDT, 8 decimals; negative is a rebate).
    pub fee: Notional,
    /// Resting (maker) fill.
    pub maker: bool,
    /// PnL this fill realised (USDT, 8 decimals).
    pub realized: Notional,
    /// Time, ms.
    pub ts_ms: i64,
}

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exec {
    /// Accepted.
    New,
    /// (Part) filled.
    Trade(Execution),
    /// Cancelled.
    Canceled,
    /// Expired by rule.
    Expired,
}

/// A position as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PositionView {
    /// Net quantity (negative: short).
    pub qty: i64,
    /// Average entry price, 8 decimals (0 when flat).
    pub entry_e8: i64,
    /// Realised PnL accumulated on this instrument, 8 decimals.
    pub realized_e8: i64,
    /// Last change, ms.
    pub updated_ms: i64,
}

/// Why a balance changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalanceReason {
    /// A fill (fee and realised PnL).
    Order,
    /// Funding paid or received.
    Funding,
}

/// Something the account's private streams must hear.
#[derive(Debug, Clone)]
pub enum AccountEvent {
    /// An order changed.
    Order {
        /// The order after the change.
        order: OrderRecord,
        /// The change.
        exec: Exec,
    },
    /// A position changed (after fills or funding).
    Position {
        /// Account.
        account: usize,
        /// Instrument index.
        inst: usize,
        /// The position now.
        view: PositionView,
    },
    /// The wallet balance changed.
    Balance {
        /// Account.
        account: usize,
        /// Wallet balance now, USDT at 8 decimals.
        wallet_e8: i64,
        /// Why.
        reason: BalanceReason,
        /// Instrument the change came from.
        inst: usize,
        /// Time, ms.
        ts_ms: i64,
    },
}

impl AccountEvent {
    /// The account the event belongs to.
    #[must_use]
    pub fn account(&self) -> usize {
        match self {
            AccountEvent::Order { order, .. } => order.account,
            AccountEvent::Position { account, .. } | AccountEvent::Balance { account, .. } => *account,
        }
    }
}

/// A new order as a venue adapter parsed it.
#[derive(Debug, Clone, Copy)]
pub struct NewOrder {
    /// Instrument index.
    pub inst: usize,
    /// Buy or sell.
    pub side: Side,
    /// Limit or market.
    pub kind: OrderKind,
    /// Time in force.
    pub tif: TimeInForce,
    /// Limit price (ignored for market orders).
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
    /// Reduce-only.
    pub reduce_only: bool,
    /// Client order id (may be empty).
    pub client: ShortText,
}

/// Why an order (or cancel) was refused. Venue adapters map each to the
/// venue's code and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderError {
    /// Quantity zero or negative.
    QtyNotPositive,
    /// Quantity not a multiple of the step.
    QtyOffStep,
    /// Quantity below the minimum.
    QtyBelowMin,
    /// Quantity above the maximum (for this order type).
    QtyAboveMax,
    /// Limit price zero or negative.
    PriceNotPositive,
    /// Limit price not a multiple of the tick.
    PriceOffTick,
    /// Notional below the instrument's minimum (not reduce-only).
    MinNotional,
    /// Another open order has this client id.
    DuplicateClientId,
    /// Reduce-only with no position to reduce.
    ReduceOnlyRejected,
    /// Not enough margin.
    InsufficientMargin,
    /// A post-only order would have taken liquidity (Binance refuses it;
    /// Bybit accepts and cancels it, see [`Placed::post_only_would_take`]).
    PostOnlyWouldTake,
    /// No synced book to match against.
    NoMarket,
    /// Cancel / query of an order that is not open or not known.
    UnknownOrder,
}

/// An accepted order.
#[derive(Debug, Clone)]
pub struct Placed {
    /// The order when acceptance was decided (status `New`).
    pub accepted: OrderRecord,
    /// The order after matching.
    pub order: OrderRecord,
    /// The post-only order expired because it would have taken.
    pub post_only_would_take: bool,
}

/// The last applied depth ids of an instrument's server book.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DepthIds {
    /// Binance `u` / Bybit `u` of the last applied update.
    pub last_id: u64,
    /// Bybit `seq` (0 for Binance).
    pub seq: u64,
    /// Exchange time of the last update, ms.
    pub event_ms: i64,
    /// Bybit `cts` / Binance `T`, ms.
    pub transact_ms: i64,
}

/// What one replayed frame was, for publication and stamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// Kind.
    pub kind: FrameKind,
    /// Instrument, when the frame named a known one.
    pub inst: Option<usize>,
    /// The venue's id in it (see `stamps::PublishedFrame`).
    pub exchange_id: u64,
    /// The venue's event time, ms.
    pub event_ms: i64,
    /// The frame could not be decoded (counted, still published as is).
    pub undecoded: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Position {
    qty: i64,
    /// Σ signed price × qty of the open quantity (price + qty scale).
    cost: i128,
    realized_e8: i64,
    updated_ms: i64,
}

struct Account {
    spec: AccountSpec,
    engine: SimExchange,
    wallet_e8: i64,
    positions: Vec<Position>,
    /// Leverage per instrument (the configured one until the account sets
    /// its own: Binance `POST /fapi/v1/leverage`, Bybit
    /// `/v5/position/set-leverage`).
    leverage: Vec<i64>,
    /// Index into `Exchange::orders` of every order of this account.
    orders: Vec<usize>,
    /// Every execution of this account, oldest first, with the index of
    /// its order: what the venues' trade-history endpoints list (Binance
    /// `userTrades`, Bybit `execution/list`), with the ids the private
    /// streams sent.
    fills: Vec<(usize, Execution)>,
}

/// Counters of the exchange core.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExchangeCounters {
    /// Frames applied.
    pub frames: u64,
    /// Frames the decoders could not read (published as is, counted).
    pub undecoded_frames: u64,
    /// Frames naming an instrument the simulator does not serve.
    pub unknown_instrument_frames: u64,
    /// Depth gaps in the input itself (the server book resynced from the input's next snapshot).
    pub input_gaps: u64,
    /// Orders accepted.
    pub orders_accepted: u64,
    /// Orders refused.
    pub orders_rejected: u64,
    /// Cancels that cancelled.
    pub cancels: u64,
    /// Cancels of orders not open.
    pub cancel_rejects: u64,
    /// Fills.
    pub fills: u64,
    /// Maker fills.
    pub maker_fills: u64,
    /// Taker fills.
    pub taker_fills: u64,
    /// Funding charges.
    pub funding_events: u64,
}

/// The exchange state of one simulator.
pub struct Exchange {
    venue: Venue,
    table: InstrumentTable,
    insts: Vec<Instrument>,
    symbols: SymbolTable,
    decoder: Decoder,
    scratch: JsonScratch,
    frame_buf: Vec<u8>,
    market: MarketState<DEFAULT_LEVELS>,
    depth_ms: Vec<i64>,
    depth_ids: Vec<DepthIds>,
    fill_model: FillModel,
    accounts: Vec<Account>,
    orders: Vec<OrderRecord>,
    by_id: HashMap<u64, usize>,
    next_order_id: u64,
    next_trade_id: u64,
    leverage: i64,
    reports: Vec<ExchangeReport>,
    counters: ExchangeCounters,
    id_salt: u64,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange").field("venue", &self.venue).field("counters", &self.counters).finish()
    }
}

/// First Binance `orderId` the simulator hands out.
pub const FIRST_ORDER_ID: u64 = 4_000_000_001;
/// First private trade id (far above the public tape's ids).
pub const FIRST_TRADE_ID: u64 = 900_000_000_001;

impl Exchange {
    /// An exchange for `venue` serving the instruments of `table` with the
    /// given accounts (each starting with `initial_balance`).
    #[must_use]
    pub fn new(
        venue: Venue,
        table: InstrumentTable,
        accounts: &[AccountSpec],
        fill_model: FillModel,
        initial_balance: Notional,
        leverage: u32,
    ) -> Self {
        let insts = table.all().to_vec();
        let symbols = SymbolTable::for_venue(&table, venue);
        let market = MarketState::new(venue, symbols.entries());
        let accounts = accounts
            .iter()
            .map(|spec| Account {
                spec: spec.clone(),
                engine: SimExchange::new(&insts, fill_model),
                wallet_e8: initial_balance.0,
                positions: vec![Position::default(); insts.len()],
                leverage: vec![i64::from(leverage.max(1)); insts.len()],
                orders: Vec::new(),
                fills: Vec::new(),
            })
            .collect();
        Self {
            venue,
            decoder: Decoder::new(venue, &table),
            table,
            depth_ms: vec![i64::MIN; insts.len()],
            depth_ids: vec![DepthIds::default(); insts.len()],
            insts,
            symbols,
            scratch: JsonScratch::default(),
            frame_buf: Vec::with_capacity(1 << 16),
            market,
            fill_model,
            accounts,
            orders: Vec::new(),
            by_id: HashMap::new(),
            next_order_id: FIRST_ORDER_ID,
            next_trade_id: FIRST_TRADE_ID,
            leverage: i64::from(leverage.max(1)),
            reports: Vec::with_capacity(64),
            counters: ExchangeCounters::default(),
            id_salt: 0x5ca1_9e15_0000_0001,
        }
    }

    /// The venue.
    #[must_use]
    pub fn venue(&self) -> Venue {
        self.venue
    }

    /// Every instrument of the table (index = instrument index).
    #[must_use]
    pub fn instruments(&self) -> &[Instrument] {
        &self.insts
    }

    /// The instrument table.
    #[must_use]
    pub fn table(&self) -> &InstrumentTable {
        &self.table
    }

    /// Instrument index of a symbol of this venue (exact, upper-case text).
    #[must_use]
    pub fn inst_of(&self, symbol: &str) -> Option<usize> {
        self.symbols.find(symbol.as_bytes()).map(|e| usize::from(e.id.0))
    }

    /// The instruments this venue serves.
    pub fn venue_instruments(&self) -> impl Iterator<Item = (usize, &Instrument)> {
        self.symbols.entries().iter().map(|e| (usize::from(e.id.0), &self.insts[usize::from(e.id.0)]))
    }

    /// Counters.
    #[must_use]
    pub fn counters(&self) -> ExchangeCounters {
        self.counters
    }

    /// The fill model.
    #[must_use]
    pub fn fill_model(&self) -> FillModel {
        self.fill_model
    }

    /// Number of accounts.
    #[must_use]
    pub fn accounts(&self) -> usize {
        self.accounts.len()
    }

    /// The account specification.
    #[must_use]
    pub fn account_spec(&self, account: usize) -> Option<&AccountSpec> {
        self.accounts.get(account).map(|a| &a.spec)
    }

    /// The account whose API key is `key`.
    #[must_use]
    pub fn account_by_key(&self, key: &[u8]) -> Option<usize> {
        self.accounts.iter().position(|a| a.spec.api_key.as_bytes() == key)
    }

    /// The fill model's counters of one account.
    #[must_use]
    pub fn engine_stats(&self, account: usize) -> Option<crate::backtest::exchange::ExchangeStats> {
        self.accounts.get(account).map(|a| a.engine.stats())
    }

    /// The server book of `inst` with its ids, when it is in sync.
    #[must_use]
    pub fn book(&self, inst: usize) -> Option<(&Book<DEFAULT_LEVELS>, DepthIds)> {
        let st = self.market.get(InstrumentId(u16::try_from(inst).ok()?))?;
        (st.sync.state() == SyncState::Live).then(|| (st.sync.book(), self.depth_ids[inst]))
    }

    /// Market state of `inst` (BBO, trades, funding).
    #[must_use]
    pub fn state(&self, inst: usize) -> Option<&crate::market::InstrumentState<DEFAULT_LEVELS>> {
        self.market.get(InstrumentId(u16::try_from(inst).ok()?))
    }

    /// `true` when every instrument that has seen depth data has a synced book.
    #[must_use]
    pub fn books_in_sync(&self) -> bool {
        self.depth_ms.iter().enumerate().all(|(i, &ms)| ms == i64::MIN || self.book(i).is_some())
    }

    /// A reference price for `inst`: the mid of the best bid and ask, else
    /// the last trade, else the mark price (zero when nothing is known).
    #[must_use]
    pub fn reference_price(&self, inst: usize) -> Price {
        let Some(st) = self.state(inst) else { return Price::ZERO };
        let (bid, ask) = (st.bbo.bid_px.0, st.bbo.ask_px.0);
        if bid > 0 && ask > 0 {
            return Price((bid + ask) / 2);
        }
        if let Some((b, a)) = self.book(inst).and_then(|(b, _)| Some((b.best_bid()?, b.best_ask()?))) {
            return Price((b.0.0 + a.0.0) / 2);
        }
        if st.trades.last_price.0 > 0 {
            return st.trades.last_price;
        }
        let i = &self.insts[inst];
        Price(crate::fixed::rescale(st.funding.mark.0, E8, i.price_scale).unwrap_or(0))
    }

    /// Applies one replayed frame at `now_ns` (wall clock, ns since the
    /// epoch) to the server market and to every account (resting orders
    /// filled from trades, funding charged). `rest_inst` names the
    /// instrument of a Binance REST snapshot line (which carries no symbol).
    pub fn on_frame(
        &mut self,
        frame: &[u8],
        rest_inst: Option<usize>,
        now_ns: u64,
        events: &mut Vec<AccountEvent>,
    ) -> FrameInfo {
        self.counters.frames += 1;
        self.frame_buf.clear();
        self.frame_buf.extend_from_slice(frame);
        self.decoder.set_snapshot_instrument(rest_inst.and_then(|i| u16::try_from(i).ok()).map(InstrumentId));
        let mut info = FrameInfo { kind: FrameKind::Other, inst: None, exchange_id: 0, event_ms: 0, undecoded: false };
        let mut trades: Vec<crate::event::Trade> = Vec::new();
        let mut depth: Option<(usize, DepthIds, SyncOutcome)> = None;
        let Self { decoder, scratch, frame_buf, market, .. } = self;
        let applied = decoder.decode_frame(scratch, frame_buf, |event| {
            let Ok(event) = event else { return None };
            info.event_ms = event_time_ms(&event).unwrap_or(0);
            match &event {
                MarketEvent::Depth(d) => {
                    info.kind = FrameKind::Depth;
                    info.exchange_id = d.last_id;
                    depth = Some((
                        usize::from(d.inst.0),
                        DepthIds { last_id: d.last_id, seq: d.seq, event_ms: d.event_ms, transact_ms: d.transact_ms },
                        SyncOutcome::Stale,
                    ));
                }
                MarketEvent::Snapshot(s) => {
                    info.kind = FrameKind::Snapshot;
                    info.exchange_id = s.last_id;
                    depth = Some((
                        usize::from(s.inst.0),
                        DepthIds { last_id: s.last_id, seq: s.seq, event_ms: s.event_ms, transact_ms: s.transact_ms },
                        SyncOutcome::Stale,
                    ));
                }
                MarketEvent::BookTicker(t) => {
                    info.kind = FrameKind::Top;
                    info.exchange_id = t.update_id;
                }
                MarketEvent::Ticker(t) => {
                    info.kind =
                        if t.bid_px.is_some() || t.ask_px.is_some() { FrameKind::Top } else { FrameKind::Other };
                    info.exchange_id = t.cs;
                }
                MarketEvent::Trades(batch) => {
                    info.kind = FrameKind::Trade;
                    for t in *batch {
                        let Ok(t) = t else { break };
                        info.exchange_id = t.id;
                        trades.push(t);
                    }
                }
                _ => {}
            }
            let mut last_outcome = None;
            let applied = market.apply(&event, |_, _, outcome| last_outcome = Some(outcome));
            if let (Some(d), Some(o)) = (depth.as_mut(), last_outcome) {
                d.2 = o;
            }
            Some(applied)
        });
        let Some(applied) = applied else {
            self.counters.undecoded_frames += 1;
            info.undecoded = true;
            return info;
        };
        match applied {
            Applied::UnknownInstrument => self.counters.unknown_instrument_frames += 1,
            Applied::Depth(inst, _)
            | Applied::Top(inst)
            | Applied::Trades(inst, _)
            | Applied::Funding(inst)
            | Applied::Liquidations(inst, _) => info.inst = Some(usize::from(inst.0)),
            Applied::Other | Applied::Malformed => {}
        }
        if let Some((inst, ids, outcome)) = depth {
            if let Some(slot) = self.depth_ms.get_mut(inst) {
                if info.event_ms > 0 {
                    *slot = info.event_ms;
                } else if *slot == i64::MIN {
                    *slot = 0;
                }
            }
            match outcome {
                SyncOutcome::Applied { last_id } => {
                    self.depth_ids[inst] = DepthIds { last_id, ..ids };
                }
                // A crossed book from the input is dropped and resynced, as a gap is.
                SyncOutcome::Gap { .. }
                | SyncOutcome::Crossed { .. }
                | SyncOutcome::SnapshotAhead { .. }
                | SyncOutcome::Corrupt(_)
                | SyncOutcome::SnapshotTooOld { .. } => {
                    self.counters.input_gaps += 1;
                }
                _ => {}
            }
        }
        let now_ms = ms_of(now_ns);
        if !trades.is_empty() {
            for a in 0..self.accounts.len() {
                for t in &trades {
                    self.accounts[a].engine.on_trade(usize::from(t.inst.0), t, now_ns, &mut self.reports);
                }
                self.drain_reports(a, now_ms, events);
            }
        }
        if let Some(inst) = info.inst {
            if let Some(st) = self.state(inst) {
                let funding = st.funding;
                for a in 0..self.accounts.len() {
                    self.accounts[a].engine.on_clock(inst, &funding, now_ms, &mut self.reports);
                    self.drain_reports(a, now_ms, events);
                }
            }
        }
        info
    }

    fn order_index(&self, id: u64) -> Option<usize> {
        self.by_id.get(&id).copied()
    }

    /// An order by id, if it belongs to `account`.
    #[must_use]
    pub fn order(&self, account: usize, id: u64) -> Option<&OrderRecord> {
        self.order_index(id).map(|k| &self.orders[k]).filter(|o| o.account == account)
    }

    /// The most recent order of `account` on `inst` with client id `client`.
    #[must_use]
    pub fn order_by_client(&self, account: usize, inst: usize, client: &str) -> Option<&OrderRecord> {
        let a = self.accounts.get(account)?;
        a.orders.iter().rev().map(|&k| &self.orders[k]).find(|o| o.inst == inst && o.client.as_str() == client)
    }

    /// Every order of `account` (optionally of one instrument), oldest first.
    pub fn orders_of(&self, account: usize, inst: Option<usize>) -> impl Iterator<Item = &OrderRecord> {
        self.accounts
            .get(account)
            .map(|a| a.orders.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|&k| &self.orders[k])
            .filter(move |o| inst.is_none_or(|i| o.inst == i))
    }

    /// Every execution of `account` (optionally on one instrument), oldest
    /// first, with its order as it is now.
    pub fn fills_of(&self, account: usize, inst: Option<usize>) -> impl Iterator<Item = (&OrderRecord, &Execution)> {
        self.accounts
            .get(account)
            .map(|a| a.fills.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|(k, x)| (&self.orders[*k], x))
            .filter(move |(o, _)| inst.is_none_or(|i| o.inst == i))
    }

    /// The position of `account` in `inst`.
    #[must_use]
    pub fn position(&self, account: usize, inst: usize) -> PositionView {
        let Some(p) = self.accounts.get(account).and_then(|a| a.positions.get(inst)) else {
            return PositionView::default();
        };
        PositionView {
            qty: p.qty,
            entry_e8: self.entry_e8(inst, p),
            realized_e8: p.realized_e8,
            updated_ms: p.updated_ms,
        }
    }

    fn entry_e8(&self, inst: usize, p: &Position) -> i64 {
        if p.qty == 0 {
            return 0;
        }
        let i = &self.insts[inst];
        // cost / qty is a price at price scale (+ qty scale / qty scale).
        let per_unit = p.cost * 10i128.pow(u32::from(E8)) / i128::from(p.qty) / 10i128.pow(u32::from(i.price_scale));
        i64::try_from(per_unit).unwrap_or(0)
    }

    /// Wallet balance of `account`, USDT at 8 decimals.
    #[must_use]
    pub fn wallet(&self, account: usize) -> i64 {
        self.accounts.get(account).map_or(0, |a| a.wallet_e8)
    }

    /// Unrealised PnL of a position at the reference price, 8 decimals.
    #[must_use]
    pub fn unrealized_e8(&self, account: usize, inst: usize) -> i64 {
        let Some(p) = self.accounts.get(account).and_then(|a| a.positions.get(inst)) else { return 0 };
        if p.qty == 0 {
            return 0;
        }
        let px = self.reference_price(inst);
        if px.0 <= 0 {
            return 0;
        }
        let value = i128::from(px.0) * i128::from(p.qty);
        to_e8(value - p.cost, &self.insts[inst])
    }

    /// Initial margin of the positions of `account` (entry notional / leverage).
    #[must_use]
    pub fn position_margin_e8(&self, account: usize) -> i64 {
        let Some(a) = self.accounts.get(account) else { return 0 };
        a.positions
            .iter()
            .enumerate()
            .map(|(i, p)| to_e8(p.cost.abs(), &self.insts[i]) / a.leverage.get(i).copied().unwrap_or(self.leverage))
            .sum()
    }

    /// Initial margin of the open orders of `account` (reduce-only excluded).
    #[must_use]
    pub fn order_margin_e8(&self, account: usize) -> i64 {
        self.orders_of(account, None)
            .filter(|o| o.status.is_open() && !o.reduce_only)
            .map(|o| {
                let i = &self.insts[o.inst];
                notional(o.price, i.price_scale, Qty(o.leaves()), i.qty_scale).map_or(0, |n| n.0)
                    / self.leverage_of(account, o.inst)
            })
            .sum()
    }

    /// Balance free for new orders: wallet + unrealised − margins.
    #[must_use]
    pub fn available_e8(&self, account: usize) -> i64 {
        let upl: i64 = (0..self.insts.len()).map(|i| self.unrealized_e8(account, i)).sum();
        self.wallet(account) + upl - self.position_margin_e8(account) - self.order_margin_e8(account)
    }

    /// The leverage `account` trades `inst` at (the configured one until
    /// it sets its own).
    #[must_use]
    pub fn leverage_of(&self, account: usize, inst: usize) -> i64 {
        self.accounts.get(account).and_then(|a| a.leverage.get(inst)).copied().unwrap_or(self.leverage)
    }

    /// Sets the leverage of `account` on `inst` (a venue's set-leverage
    /// request); `false` (nothing changed) for an unknown account or
    /// instrument or a leverage outside `1..=max`.
    pub fn set_leverage(&mut self, account: usize, inst: usize, leverage: i64, max: i64) -> bool {
        if !(1..=max).contains(&leverage) {
            return false;
        }
        match self.accounts.get_mut(account).and_then(|a| a.leverage.get_mut(inst)) {
            Some(l) => {
                *l = leverage;
                true
            }
            None => false,
        }
    }

    fn check(&self, account: usize, o: &NewOrder) -> Result<(), OrderError> {
        let i = &self.insts[o.inst];
        if o.qty.0 <= 0 {
            return Err(OrderError::QtyNotPositive);
        }
        if o.qty.0 % i.step.0 != 0 {
            return Err(OrderError::QtyOffStep);
        }
        if o.qty < i.min_qty {
            return Err(OrderError::QtyBelowMin);
        }
        let max = if o.kind == OrderKind::Market { i.max_market_qty } else { i.max_qty };
        if o.qty > max {
            return Err(OrderError::QtyAboveMax);
        }
        let px = if o.kind == OrderKind::Limit {
            if o.price.0 <= 0 {
                return Err(OrderError::PriceNotPositive);
            }
            if o.price.0 % i.tick.0 != 0 {
                return Err(OrderError::PriceOffTick);
            }
            o.price
        } else {
            self.reference_price(o.inst)
        };
        let value = notional(px, i.price_scale, o.qty, i.qty_scale).unwrap_or(Notional(i64::MAX));
        if !o.reduce_only && px.0 > 0 && value < i.min_notional {
            return Err(OrderError::MinNotional);
        }
        if !o.client.as_str().is_empty()
            && self.orders_of(account, Some(o.inst)).any(|x| x.status.is_open() && x.client == o.client)
        {
            return Err(OrderError::DuplicateClientId);
        }
        if !o.reduce_only {
            // Margin for the part that does not reduce the position.
            let pos = self.position(account, o.inst).qty;
            let reducing = if o.side.sign() * pos < 0 { pos.abs().min(o.qty.0) } else { 0 };
            let opening = o.qty.0 - reducing;
            let need = notional(px, i.price_scale, Qty(opening), i.qty_scale).map_or(i64::MAX, |n| n.0)
                / self.leverage_of(account, o.inst);
            if need > 0 && need > self.available_e8(account) {
                return Err(OrderError::InsufficientMargin);
            }
        }
        Ok(())
    }

    /// A new order from `account`, matched at `now_ns` against the server
    /// market with the fill model. Emits the order's events (and the
    /// position and balance changes of its fills).
    ///
    /// # Errors
    /// [`OrderError`] when refused; nothing is emitted then.
    pub fn place(
        &mut self,
        account: usize,
        order: NewOrder,
        now_ns: u64,
        events: &mut Vec<AccountEvent>,
    ) -> Result<Placed, OrderError> {
        if account >= self.accounts.len() || order.inst >= self.insts.len() {
            return Err(OrderError::UnknownOrder);
        }
        if let Err(e) = self.check(account, &order) {
            self.counters.orders_rejected += 1;
            return Err(e);
        }
        let now_ms = ms_of(now_ns);
        let id = self.next_order_id;
        let inst = self.insts[order.inst];
        let request = OrderRequest {
            venue: inst.venue,
            symbol: inst.symbol,
            side: order.side,
            kind: order.kind,
            tif: order.tif,
            price: if order.kind == OrderKind::Limit { order.price } else { Price::ZERO },
            qty: order.qty,
            reduce_only: order.reduce_only,
            client_id: ClientOrderId(id),
        };
        let depth_ms = self.depth_ms[order.inst];
        let reports = &mut self.reports;
        reports.clear();
        {
            let book = self
                .market
                .get(InstrumentId(u16::try_from(order.inst).unwrap_or(u16::MAX)))
                .and_then(|s| ExchangeBook::of_state(s, depth_ms));
            self.accounts[account].engine.on_order(order.inst, &request, book.as_ref(), now_ns, reports);
        }
        if let Some(ExchangeReport::Rejected(_, reason)) = self.reports.first() {
            let err = match reason {
                RejectReason::ReduceOnlyRejected => OrderError::ReduceOnlyRejected,
                RejectReason::InvalidPriceOrQty => OrderError::QtyNotPositive,
                _ => OrderError::NoMarket,
            };
            self.reports.clear();
            self.counters.orders_rejected += 1;
            return Err(err);
        }
        let post_only_would_take = order.tif == TimeInForce::PostOnly
            && matches!(self.reports.as_slice(), [ExchangeReport::Expired(_, q)] if *q == order.qty);
        self.next_order_id += 1;
        self.counters.orders_accepted += 1;
        let record = OrderRecord {
            id,
            account,
            inst: order.inst,
            client: order.client,
            side: order.side,
            kind: order.kind,
            tif: order.tif,
            price: request.price,
            qty: order.qty,
            reduce_only: order.reduce_only,
            status: OrderStatus::New,
            filled: 0,
            filled_value: 0,
            fees: 0,
            created_ms: now_ms,
            updated_ms: now_ms,
            expiry: None,
        };
        let k = self.orders.len();
        self.orders.push(record.clone());
        self.by_id.insert(id, k);
        self.accounts[account].orders.push(k);
        if !post_only_would_take {
            events.push(AccountEvent::Order { order: record.clone(), exec: Exec::New });
        }
        self.drain_reports(account, now_ms, events);
        if post_only_would_take {
            self.orders[k].expiry = Some(Expiry::PostOnlyWouldTake);
            if let Some(AccountEvent::Order { order, exec: Exec::Expired }) = events.last_mut() {
                order.expiry = Some(Expiry::PostOnlyWouldTake);
            }
        }
        Ok(Placed { accepted: record, order: self.orders[k].clone(), post_only_would_take })
    }

    /// Removes an order from the account's history (Binance does not record
    /// a post-only order it refused).
    pub fn forget(&mut self, id: u64) {
        if let Some(k) = self.by_id.remove(&id) {
            let account = self.orders[k].account;
            if let Some(a) = self.accounts.get_mut(account) {
                a.orders.retain(|&x| x != k);
            }
        }
    }

    /// Cancels an open order of `account`.
    ///
    /// # Errors
    /// [`OrderError::UnknownOrder`] when the order is not open (or not the
    /// account's).
    pub fn cancel(
        &mut self,
        account: usize,
        id: u64,
        now_ns: u64,
        events: &mut Vec<AccountEvent>,
    ) -> Result<OrderRecord, OrderError> {
        let Some(k) = self.order_index(id).filter(|&k| self.orders[k].account == account) else {
            self.counters.cancel_rejects += 1;
            return Err(OrderError::UnknownOrder);
        };
        if !self.orders[k].status.is_open() {
            self.counters.cancel_rejects += 1;
            return Err(OrderError::UnknownOrder);
        }
        self.reports.clear();
        self.accounts[account].engine.on_cancel(ClientOrderId(id), &mut self.reports);
        if self.reports.is_empty() {
            self.counters.cancel_rejects += 1;
            return Err(OrderError::UnknownOrder);
        }
        self.drain_reports(account, ms_of(now_ns), events);
        self.counters.cancels += 1;
        Ok(self.orders[k].clone())
    }

    /// Cancels every open order of `account` (on one instrument, or all).
    pub fn cancel_all(
        &mut self,
        account: usize,
        inst: Option<usize>,
        now_ns: u64,
        events: &mut Vec<AccountEvent>,
    ) -> Vec<OrderRecord> {
        let ids: Vec<u64> = self.orders_of(account, inst).filter(|o| o.status.is_open()).map(|o| o.id).collect();
        ids.into_iter().filter_map(|id| self.cancel(account, id, now_ns, events).ok()).collect()
    }

    fn trade_id(&mut self) -> u64 {
        let t = self.next_trade_id;
        self.next_trade_id += 1;
        t
    }

    /// A UUID-shaped text for Bybit ids (`orderId`, `execId`), derived
    /// deterministically from a number.
    #[must_use]
    pub fn uuid_of(&self, n: u64, kind: u64) -> String {
        let mut r = SplitMix64::new(n ^ self.id_salt ^ kind.rotate_left(32));
        let a = r.next_u64();
        let b = r.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }

    /// Turns the fill model's reports for `account` into records, positions,
    /// the wallet and events.
    fn drain_reports(&mut self, account: usize, now_ms: i64, events: &mut Vec<AccountEvent>) {
        let reports = std::mem::take(&mut self.reports);
        for report in &reports {
            match *report {
                ExchangeReport::Acked(_) | ExchangeReport::Rejected(..) => {}
                ExchangeReport::Filled(fill) => {
                    let Some(k) = self.order_index(fill.client_id.0) else { continue };
                    let inst = self.orders[k].inst;
                    let trade_id = self.trade_id();
                    let realized = self.apply_fill(account, inst, fill.side, fill.price, fill.qty.0, fill.fee, now_ms);
                    let o = &mut self.orders[k];
                    o.filled += fill.qty.0;
                    o.filled_value += i128::from(fill.price.0) * i128::from(fill.qty.0);
                    o.fees += fill.fee.0;
                    o.updated_ms = now_ms;
                    o.status = if o.filled >= o.qty.0 { OrderStatus::Filled } else { OrderStatus::PartiallyFilled };
                    self.counters.fills += 1;
                    if fill.is_maker {
                        self.counters.maker_fills += 1;
                    } else {
                        self.counters.taker_fills += 1;
                    }
                    let exec = Execution {
                        trade_id,
                        price: fill.price,
                        qty: fill.qty,
                        fee: fill.fee,
                        maker: fill.is_maker,
                        realized: Notional(realized),
                        ts_ms: now_ms,
                    };
                    events.push(AccountEvent::Order { order: o.clone(), exec: Exec::Trade(exec) });
                    self.accounts[account].fills.push((k, exec));
                    events.push(AccountEvent::Balance {
                        account,
                        wallet_e8: self.accounts[account].wallet_e8,
                        reason: BalanceReason::Order,
                        inst,
                        ts_ms: now_ms,
                    });
                    events.push(AccountEvent::Position { account, inst, view: self.position(account, inst) });
                }
                ExchangeReport::Cancelled(id, _) | ExchangeReport::Expired(id, _) => {
                    let Some(k) = self.order_index(id.0) else { continue };
                    let o = &mut self.orders[k];
                    let cancelled = matches!(report, ExchangeReport::Cancelled(..));
                    o.status = if cancelled { OrderStatus::Canceled } else { OrderStatus::Expired };
                    if !cancelled && o.expiry.is_none() {
                        o.expiry = Some(Expiry::Remainder);
                    }
                    o.updated_ms = now_ms;
                    let exec = if cancelled { Exec::Canceled } else { Exec::Expired };
                    events.push(AccountEvent::Order { order: o.clone(), exec });
                }
                ExchangeReport::Funding { inst, amount, .. } => {
                    self.counters.funding_events += 1;
                    self.accounts[account].wallet_e8 += amount.0;
                    events.push(AccountEvent::Balance {
                        account,
                        wallet_e8: self.accounts[account].wallet_e8,
                        reason: BalanceReason::Funding,
                        inst,
                        ts_ms: now_ms,
                    });
                }
            }
        }
        self.reports = reports;
        self.reports.clear();
    }

    /// Moves the position and the wallet for one fill; returns the realised PnL (8 decimals).
    #[allow(clippy::too_many_arguments)]
    fn apply_fill(
        &mut self,
        account: usize,
        inst: usize,
        side: Side,
        price: Price,
        qty: i64,
        fee: Notional,
        now_ms: i64,
    ) -> i64 {
        let i = self.insts[inst];
        let p = &mut self.accounts[account].positions[inst];
        let s = side.sign();
        let px = i128::from(price.0);
        let mut realized_raw: i128 = 0;
        let mut q = i128::from(qty);
        if p.qty != 0 && p.qty.signum() != s {
            let open = i128::from(p.qty.abs());
            let closing = q.min(open);
            let cost_part = p.cost * closing / open;
            realized_raw = i128::from(p.qty.signum()) * px * closing - cost_part;
            p.cost -= cost_part;
            p.qty -= i64::try_from(closing).unwrap_or(0) * p.qty.signum();
            q -= closing;
            if p.qty == 0 {
                p.cost = 0;
            }
        }
        if q > 0 {
            p.qty += s * i64::try_from(q).unwrap_or(0);
            p.cost += i128::from(s) * px * q;
        }
        let realized = to_e8(realized_raw, &i);
        p.realized_e8 += realized;
        p.updated_ms = now_ms;
        self.accounts[account].wallet_e8 += realized - fee.0;
        realized
    }

    /// Sum of every account's fill-model counters.
    #[must_use]
    pub fn engine_totals(&self) -> crate::backtest::exchange::ExchangeStats {
        let mut t = crate::backtest::exchange::ExchangeStats::default();
        for a in &self.accounts {
            let s = a.engine.stats();
            t.orders += s.orders;
            t.fills += s.fills;
            t.maker_fills += s.maker_fills;
            t.taker_fills += s.taker_fills;
            t.post_only_expired += s.post_only_expired;
            t.unfilled_by_book += s.unfilled_by_book;
            t.rejected += s.rejected;
            t.late_cancels += s.late_cancels;
            t.funding_events += s.funding_events;
        }
        t
    }

    /// Mark price of `inst` at 8 decimals (the reference price when the
    /// feed carries none).
    #[must_use]
    pub fn mark_e8(&self, inst: usize) -> i64 {
        let m = self.state(inst).map_or(0, |s| s.funding.mark.0);
        if m > 0 {
            return m;
        }
        let i = &self.insts[inst];
        crate::fixed::rescale(self.reference_price(inst).0, i.price_scale, E8).unwrap_or(0)
    }

    /// The mark price as a [`RefPrice`].
    #[must_use]
    pub fn mark(&self, inst: usize) -> RefPrice {
        RefPrice(self.mark_e8(inst))
    }
}

fn ms_of(ns: u64) -> i64 {
    i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::credentials::{ApiKey, Credentials};

    fn table() -> InstrumentTable {
        InstrumentTable::from_toml_str(include_str!("../../tuning/instruments.toml")).unwrap()
    }

    fn account() -> AccountSpec {
        AccountSpec {
            hmac: Some(Credentials::new(b"key", b"secret").unwrap()),
            api_key: ApiKey::new(b"key").unwrap(),
            ed25519: None,
        }
    }

    const NOW: u64 = 1_723_161_256_000_000_000;

    /// A Binance exchange with a synced BTCUSDT book: bid 61800.2 (2.0),
    /// ask 61800.3 (1.0) and 61800.5 (3.0).
    fn exchange() -> (Exchange, usize) {
        let mut ex = Exchange::new(
            Venue::BinanceUsdm,
            table(),
            &[account()],
            FillModel::TradeThrough,
            Notional(10_000 * E8I),
            20,
        );
        let btc = ex.inst_of("BTCUSDT").unwrap();
        let mut ev = Vec::new();
        let snap = br#"{"lastUpdateId":100,"E":1723161256000,"T":1723161256000,"bids":[["61800.20","2.000"]],"asks":[["61800.30","1.000"],["61800.50","3.000"]]}"#;
        let diff = br#"{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161256001,"T":1723161256001,"s":"BTCUSDT","U":99,"u":101,"pu":98,"b":[],"a":[]}}"#;
        ex.on_frame(diff, None, NOW, &mut ev);
        ex.on_frame(snap, Some(btc), NOW, &mut ev);
        let info = ex.on_frame(
            br#"{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161256002,"T":1723161256002,"s":"BTCUSDT","U":102,"u":103,"pu":101,"b":[],"a":[]}}"#,
            None,
            NOW,
            &mut ev,
        );
        assert_eq!(info.kind, FrameKind::Depth);
        assert!(ex.book(btc).is_some(), "server book synced");
        assert_eq!(ex.book(btc).unwrap().1.last_id, 103);
        assert!(ev.is_empty());
        (ex, btc)
    }

    const E8I: i64 = 100_000_000;

    fn limit(inst: usize, side: Side, price: i64, qty: i64) -> NewOrder {
        NewOrder {
            inst,
            side,
            kind: OrderKind::Limit,
            tif: TimeInForce::Gtc,
            price: Price(price),
            qty: Qty(qty),
            reduce_only: false,
            client: ShortText::new("c1").unwrap(),
        }
    }

    #[test]
    fn resting_order_fills_from_a_trade_through_and_moves_position_and_wallet() {
        let (mut ex, btc) = exchange();
        let mut ev = Vec::new();
        let placed = ex.place(0, limit(btc, Side::Buy, 6_180_010, 10), NOW, &mut ev).unwrap();
        assert_eq!(placed.order.status, OrderStatus::New);
        assert!(matches!(ev.as_slice(), [AccountEvent::Order { exec: Exec::New, .. }]));
        ev.clear();
        // A sell prints at 61800.0, through our 61800.1 bid: filled in full as maker.
        let trade = br#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256010,"T":1723161256010,"s":"BTCUSDT","t":5,"p":"61800.00","q":"0.500","X":"MARKET","m":true}}"#;
        let info = ex.on_frame(trade, None, NOW + 1_000_000, &mut ev);
        assert_eq!((info.kind, info.exchange_id), (FrameKind::Trade, 5));
        let AccountEvent::Order { order, exec: Exec::Trade(x) } = &ev[0] else { panic!("{ev:?}") };
        assert_eq!(order.status, OrderStatus::Filled);
        assert!(x.maker);
        assert_eq!((x.price, x.qty), (Price(6_180_010), Qty(10)));
        // Maker fee 2 bps of 618.001 USDT = 0.1236002.
        assert_eq!(x.fee, Notional(12_360_020));
        assert_eq!(ex.position(0, btc).qty, 10);
        assert_eq!(ex.position(0, btc).entry_e8, 6_180_010_000_000);
        assert_eq!(ex.wallet(0), 10_000 * E8I - 12_360_020);
        assert!(matches!(ev[1], AccountEvent::Balance { .. }));
        assert!(matches!(ev[2], AccountEvent::Position { view: PositionView { qty: 10, .. }, .. }));
    }

    #[test]
    fn market_order_walks_the_book_and_realises_pnl_on_close() {
        let (mut ex, btc) = exchange();
        let mut ev = Vec::new();
        let mut buy = limit(btc, Side::Buy, 0, 1_500);
        buy.kind = OrderKind::Market;
        let placed = ex.place(0, buy, NOW, &mut ev).unwrap();
        assert_eq!(placed.order.status, OrderStatus::Filled);
        let fills: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                AccountEvent::Order { exec: Exec::Trade(x), .. } => Some((x.price.0, x.qty.0, x.maker)),
                _ => None,
            })
            .collect();
        assert_eq!(fills, [(6_180_030, 1_000, false), (6_180_050, 500, false)]);
        assert_eq!(ex.position(0, btc).qty, 1_500);
        // Sell 1.5 at the bid 61800.2 (only 2.0 there): realised (61800.2 - avg) * 1.5.
        ev.clear();
        let mut sell = limit(btc, Side::Sell, 0, 1_500);
        sell.kind = OrderKind::Market;
        sell.reduce_only = true;
        sell.client = ShortText::new("c2").unwrap();
        ex.place(0, sell, NOW, &mut ev).unwrap();
        let pos = ex.position(0, btc);
        assert_eq!(pos.qty, 0);
        // avg entry = (61800.3*1 + 61800.5*0.5)/1.5 = 61800.3666..; cost 92700.55, proceeds 92700.30.
        assert_eq!(pos.realized_e8, -25_000_000);
    }

    #[test]
    fn the_accounts_leverage_sets_the_margin_an_order_needs() {
        let (mut ex, btc) = exchange();
        let mut ev = Vec::new();
        // 3 BTC at 61 800.10 = 185 400.30 USDT of notional against a
        // 10 000 USDT wallet: 9 270.015 of margin at 20x, 18 540.03 at 10x.
        let order = limit(btc, Side::Buy, 6_180_010, 3_000);
        assert_eq!(ex.leverage_of(0, btc), 20, "the configured leverage until the account sets one");
        for (account, leverage) in [(0, 0), (0, 126), (1, 5)] {
            assert!(!ex.set_leverage(account, btc, leverage, 125), "{account} {leverage}");
        }
        assert_eq!(ex.leverage_of(0, btc), 20, "refusals change nothing");
        assert!(ex.set_leverage(0, btc, 10, 125));
        assert_eq!(ex.place(0, order, NOW, &mut ev).err(), Some(OrderError::InsufficientMargin));
        assert!(ex.set_leverage(0, btc, 20, 125));
        ex.place(0, order, NOW, &mut ev).unwrap();
        assert_eq!(ex.order_margin_e8(0), 18_540_030 * E8I / 100 / 20);
    }

    #[test]
    fn checks_refuse_with_typed_errors_and_nothing_emitted() {
        let (mut ex, btc) = exchange();
        let mut ev = Vec::new();
        let cases = [
            (limit(btc, Side::Buy, 6_180_015, 10), OrderError::PriceOffTick),
            (limit(btc, Side::Buy, 6_180_010, 0), OrderError::QtyNotPositive),
            (limit(btc, Side::Buy, 6_180_010, 1), OrderError::MinNotional),
            (limit(btc, Side::Buy, 0, 10), OrderError::PriceNotPositive),
            (limit(btc, Side::Buy, 6_180_010, 2_000_000), OrderError::QtyAboveMax),
            (limit(btc, Side::Buy, 6_180_010, 5_000), OrderError::InsufficientMargin),
        ];
        for (order, err) in cases {
            assert_eq!(ex.place(0, order, NOW, &mut ev).err(), Some(err), "{order:?}");
        }
        let mut ro = limit(btc, Side::Sell, 6_180_010, 10);
        ro.reduce_only = true;
        assert_eq!(ex.place(0, ro, NOW, &mut ev).err(), Some(OrderError::ReduceOnlyRejected));
        assert!(ev.is_empty());
        ex.place(0, limit(btc, Side::Buy, 6_180_010, 10), NOW, &mut ev).unwrap();
        assert_eq!(
            ex.place(0, limit(btc, Side::Buy, 6_180_000, 10), NOW, &mut ev).err(),
            Some(OrderError::DuplicateClientId)
        );
    }

    #[test]
    fn post_only_that_would_take_expires_and_cancel_of_closed_order_is_refused() {
        let (mut ex, btc) = exchange();
        let mut ev = Vec::new();
        let mut po = limit(btc, Side::Buy, 6_180_030, 10);
        po.tif = TimeInForce::PostOnly;
        let placed = ex.place(0, po, NOW, &mut ev).unwrap();
        assert!(placed.post_only_would_take);
        assert_eq!(placed.order.status, OrderStatus::Expired);
        assert!(matches!(ev.as_slice(), [AccountEvent::Order { exec: Exec::Expired, .. }]));
        ev.clear();
        let resting = ex.place(0, limit(btc, Side::Buy, 6_180_000, 10), NOW, &mut ev).unwrap().order;
        let cancelled = ex.cancel(0, resting.id, NOW, &mut ev).unwrap();
        assert_eq!(cancelled.status, OrderStatus::Canceled);
        assert_eq!(ex.cancel(0, resting.id, NOW, &mut ev).err(), Some(OrderError::UnknownOrder));
        assert_eq!(ex.cancel(0, 12345, NOW, &mut ev).err(), Some(OrderError::UnknownOrder));
    }

    #[test]
    fn bybit_ids_are_uuids_our_parsers_accept() {
        let (ex, _) = exchange();
        let a = ex.uuid_of(1, 0);
        let b = ex.uuid_of(2, 0);
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert!(crate::order::TradeId::parse(a.as_bytes()).is_some());
        assert!(crate::order::VenueOrderId::new(a.as_bytes()).is_some());
    }
}
