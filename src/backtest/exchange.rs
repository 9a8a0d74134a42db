//! The simulated exchange of the backtest.
//!
//! It sees the market at *exchange time* (the recorded frames, decoded and
//! applied to its own [`MarketState`](crate::market::MarketState) before the
//! strategy sees them after the feed latency) and receives orders after the
//! order latency. Rules:
//! - **Market orders walk the book**: they take the opposite side level by
//!   level from the best price at the moment they arrive, one fill per
//!   level, at the level's price; whatever the book cannot fill expires.
//!   When the venue's BBO is newer than the depth book it is the top level
//!   ([`ExchangeBook`]).
//!   Our own fills are not removed from the replayed book (small orders;
//!   the recorded book does not know about us).
//! - **Limit orders** that cross on arrival take like a market order up to
//!   their price (post-only ones are expired instead: Binance `GTX`, Bybit
//!   `PostOnly`); the rest rests. A resting order fills only from the
//!   *trade tape*: with [`FillModel::TradeThrough`] (default, conservative)
//!   when a trade prints strictly through its price — everything queued at
//!   the price, us included, must then have been taken — in full, at its
//!   price; with [`FillModel::Touch`] also when a trade prints at its
//!   price, up to that trade's quantity. Book changes alone never fill.
//! - **Fees** at the instrument's maker (resting) and taker rates, on each
//!   fill's notional, rounded half away from zero to 1e-8 USDT.
//! - **Funding** at each funding time announced by the venue (Binance
//!   `markPriceUpdate` `T`/`r`, Bybit `tickers` `nextFundingTime`/
//!   `fundingRate`): a position pays `qty × mark × rate` (longs pay a
//!   positive rate, shorts receive it).
//! - `reduce_only` orders are clamped to the position; with none they are rejected.
//!
//! Sources: post-only orders, Binance `timeInForce=GTX`
//! (<https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/New-Order>)
//! and Bybit `timeInForce=PostOnly`
//! (<https://bybit-exchange.github.io/docs/v5/order/create-order>); funding
//! rate and next funding time, Binance mark price stream
//! (<https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Mark-Price-Stream>)
//! and Bybit tickers (<https://bybit-exchange.github.io/docs/v5/websocket/public/ticker>);
//! the fee rates come from the [`Instrument`] (VIP0 defaults in
//! `tuning/instruments.toml`).

use crate::book::{Book, DEFAULT_LEVELS};
use crate::event::Trade;
use crate::fixed::{Notional, Price, Qty, Rate, notional};
use crate::instrument::Instrument;
use crate::market::{Bbo, Funding, InstrumentState};
use crate::order::{ClientOrderId, Fill, OrderKind, OrderRequest, RejectReason, TimeInForce};
use crate::side::Side;
use crate::venue::sync::SyncState;

use super::config::FillModel;

/// What the exchange reports back (over the feed link).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeReport {
    /// The order rests.
    Acked(ClientOrderId),
    /// A fill.
    Filled(Fill),
    /// Cancelled with `leaves` unfilled.
    Cancelled(ClientOrderId, Qty),
    /// Expired with `leaves` unfilled (post-only would take, market order
    /// beyond the book, IOC remainder).
    Expired(ClientOrderId, Qty),
    /// Refused.
    Rejected(ClientOrderId, RejectReason),
    /// Funding paid (negative) or received on instrument `inst` at `ts_ms`.
    Funding {
        /// Instrument index.
        inst: usize,
        /// Amount, USDT, signed from the account's point of view.
        amount: Notional,
        /// Funding time, ms.
        ts_ms: i64,
    },
}

/// Exchange counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExchangeStats {
    /// Orders received.
    pub orders: u64,
    /// Fills.
    pub fills: u64,
    /// Maker fills.
    pub maker_fills: u64,
    /// Taker fills.
    pub taker_fills: u64,
    /// Post-only orders expired because they would have taken.
    pub post_only_expired: u64,
    /// Market or IOC quantity the book could not fill.
    pub unfilled_by_book: u64,
    /// Orders rejected (no book, reduce-only without position, unknown instrument).
    pub rejected: u64,
    /// Cancels received for orders no longer resting.
    pub late_cancels: u64,
    /// Funding charges applied.
    pub funding_events: u64,
}

#[derive(Debug, Clone, Copy)]
struct Resting {
    id: ClientOrderId,
    inst: usize,
    side: Side,
    price: Price,
    leaves: i64,
}

/// The simulated exchange for a fixed set of instruments.
#[derive(Debug, Clone)]
pub struct SimExchange {
    fill_model: FillModel,
    instruments: Vec<Instrument>,
    resting: Vec<Resting>,
    positions: Vec<i64>,
    funding_done: Vec<i64>,
    next_trade_id: u64,
    stats: ExchangeStats,
}

/// The market an order meets at the exchange: the synced depth book, and
/// the venue's best bid/offer when it is newer than the book's last update
/// (Binance `bookTicker` runs ahead of the batched depth stream). When
/// present, the BBO is the top of book and depth levels count only beyond it.
#[derive(Clone, Copy)]
pub struct ExchangeBook<'a> {
    /// The depth book.
    pub depth: &'a Book<DEFAULT_LEVELS>,
    /// The newer BBO, if any.
    pub top: Option<Bbo>,
}

impl<'a> ExchangeBook<'a> {
    /// A book with no newer BBO.
    #[must_use]
    pub fn depth_only(depth: &Book<DEFAULT_LEVELS>) -> ExchangeBook<'_> {
        ExchangeBook { depth, top: None }
    }

    /// The market an order meets for an instrument's exchange-side state:
    /// `None` while the book is out of sync; the venue BBO counts as the
    /// top when it is at least as new as the last depth update
    /// (`depth_ms`, the exchange time of that update). The backtest and the
    /// simulator (`scalpel sim`) both build the order's market here.
    #[must_use]
    pub fn of_state(state: &'a InstrumentState<DEFAULT_LEVELS>, depth_ms: i64) -> Option<Self> {
        (state.sync.state() == SyncState::Live)
            .then(|| ExchangeBook { depth: state.sync.book(), top: (state.bbo.ts_ms >= depth_ms).then_some(state.bbo) })
    }

    fn best_bid(&self) -> Option<Price> {
        match self.top {
            Some(t) if t.bid_px.0 > 0 => Some(t.bid_px),
            _ => self.depth.best_bid().map(|l| l.0),
        }
    }

    fn best_ask(&self) -> Option<Price> {
        match self.top {
            Some(t) if t.ask_px.0 > 0 => Some(t.ask_px),
            _ => self.depth.best_ask().map(|l| l.0),
        }
    }
}

pub use crate::order::quote_fill;

/// Fee on `value` at `rate`, rounded half away from zero to 1e-8.
#[must_use]
pub fn fee(value: Notional, rate: Rate) -> Notional {
    let raw = i128::from(value.0) * i128::from(rate.0);
    let half = 50_000_000i128 * raw.signum();
    Notional(i64::try_from((raw + half) / 100_000_000).unwrap_or(i64::MAX))
}

impl SimExchange {
    /// An exchange for `instruments` (index = instrument index).
    #[must_use]
    pub fn new(instruments: &[Instrument], fill_model: FillModel) -> Self {
        let n = instruments.len();
        Self {
            fill_model,
            instruments: instruments.to_vec(),
            resting: Vec::with_capacity(16),
            positions: vec![0; n],
            funding_done: vec![i64::MIN; n],
            next_trade_id: 1,
            stats: ExchangeStats::default(),
        }
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> ExchangeStats {
        self.stats
    }

    /// The exchange's position of instrument `inst` (quantity mantissa, signed).
    #[must_use]
    pub fn position(&self, inst: usize) -> i64 {
        self.positions.get(inst).copied().unwrap_or(0)
    }

    /// Orders resting now.
    #[must_use]
    pub fn resting(&self) -> usize {
        self.resting.len()
    }

    #[allow(clippy::too_many_arguments)]
    fn fill(
        &mut self,
        inst: usize,
        id: ClientOrderId,
        side: Side,
        price: Price,
        qty: i64,
        maker: bool,
        now_ns: u64,
        out: &mut Vec<ExchangeReport>,
    ) {
        let i = self.instruments[inst];
        let value = notional(price, i.price_scale, Qty(qty), i.qty_scale).unwrap_or(Notional(i64::MAX));
        let rate = if maker { i.fees.maker } else { i.fees.taker };
        self.positions[inst] += side.sign() * qty;
        self.stats.fills += 1;
        if maker {
            self.stats.maker_fills += 1;
        } else {
            self.stats.taker_fills += 1;
        }
        let trade_id = self.next_trade_id;
        self.next_trade_id += 1;
        let ts_ms = i64::try_from(now_ns / 1_000_000).unwrap_or(i64::MAX);
        out.push(ExchangeReport::Filled(quote_fill(
            &i,
            id,
            side,
            trade_id,
            price,
            Qty(qty),
            fee(value, rate),
            maker,
            ts_ms,
        )));
    }

    /// Takes liquidity from `book` for up to `qty` at prices no worse than
    /// `limit` (none for market orders); returns the quantity left.
    #[allow(clippy::too_many_arguments)]
    fn take(
        &mut self,
        inst: usize,
        id: ClientOrderId,
        side: Side,
        qty: i64,
        limit: Option<Price>,
        book: &ExchangeBook<'_>,
        now_ns: u64,
        out: &mut Vec<ExchangeReport>,
    ) -> i64 {
        let mut left = qty;
        let ladder = match side {
            Side::Buy => book.depth.asks(),
            Side::Sell => book.depth.bids(),
        };
        // The newer venue BBO is the true top; depth levels count only beyond it.
        let top = book.top.and_then(|t| match side {
            Side::Buy => (t.ask_px.0 > 0).then_some((t.ask_px, t.ask_qty)),
            Side::Sell => (t.bid_px.0 > 0).then_some((t.bid_px, t.bid_qty)),
        });
        let beyond = move |p: Price| match (top, side) {
            (None, _) => true,
            (Some((t, _)), Side::Buy) => p > t,
            (Some((t, _)), Side::Sell) => p < t,
        };
        for (price, level_qty) in top.into_iter().chain(ladder.iter().filter(|(p, _)| beyond(*p))) {
            if left == 0 {
                break;
            }
            let acceptable = match (side, limit) {
                (_, None) => true,
                (Side::Buy, Some(l)) => price <= l,
                (Side::Sell, Some(l)) => price >= l,
            };
            if !acceptable {
                break;
            }
            let q = left.min(level_qty.0);
            if q > 0 {
                self.fill(inst, id, side, price, q, false, now_ns, out);
                left -= q;
            }
        }
        left
    }

    /// An order arrives at `now_ns`; `book` is the instrument's market at
    /// the exchange (`None` while its book is not in sync).
    pub fn on_order(
        &mut self,
        inst: usize,
        order: &OrderRequest,
        book: Option<&ExchangeBook<'_>>,
        now_ns: u64,
        out: &mut Vec<ExchangeReport>,
    ) {
        self.stats.orders += 1;
        let id = order.client_id;
        let Some(&instrument) = self.instruments.get(inst) else {
            self.stats.rejected += 1;
            out.push(ExchangeReport::Rejected(id, RejectReason::Other));
            return;
        };
        if instrument.venue != order.venue || instrument.symbol != order.symbol || order.qty.0 <= 0 {
            self.stats.rejected += 1;
            out.push(ExchangeReport::Rejected(id, RejectReason::InvalidPriceOrQty));
            return;
        }
        let mut qty = order.qty.0;
        if order.reduce_only {
            let pos = self.positions[inst];
            let closable = if order.side.sign() * pos < 0 { pos.abs() } else { 0 };
            if closable == 0 {
                self.stats.rejected += 1;
                out.push(ExchangeReport::Rejected(id, RejectReason::ReduceOnlyRejected));
                return;
            }
            qty = qty.min(closable);
        }
        let Some(book) = book else {
            self.stats.rejected += 1;
            out.push(ExchangeReport::Rejected(id, RejectReason::Other));
            return;
        };
        match order.kind {
            OrderKind::Market => {
                let left = self.take(inst, id, order.side, qty, None, book, now_ns, out);
                let left = left + (order.qty.0 - qty);
                if left > 0 {
                    self.stats.unfilled_by_book += 1;
                    out.push(ExchangeReport::Expired(id, Qty(left)));
                }
            }
            OrderKind::Limit => {
                let crosses = match order.side {
                    Side::Buy => book.best_ask().is_some_and(|p| p <= order.price),
                    Side::Sell => book.best_bid().is_some_and(|p| p >= order.price),
                };
                if crosses && order.tif == TimeInForce::PostOnly {
                    self.stats.post_only_expired += 1;
                    out.push(ExchangeReport::Expired(id, order.qty));
                    return;
                }
                let left = if crosses {
                    self.take(inst, id, order.side, qty, Some(order.price), book, now_ns, out)
                } else {
                    qty
                };
                if left == 0 {
                    return;
                }
                if order.tif == TimeInForce::Ioc {
                    out.push(ExchangeReport::Expired(id, Qty(left)));
                    return;
                }
                self.resting.push(Resting { id, inst, side: order.side, price: order.price, leaves: left });
                out.push(ExchangeReport::Acked(id));
            }
        }
    }

    /// A cancel arrives.
    pub fn on_cancel(&mut self, id: ClientOrderId, out: &mut Vec<ExchangeReport>) {
        match self.resting.iter().position(|r| r.id == id) {
            Some(k) => {
                let r = self.resting.remove(k);
                out.push(ExchangeReport::Cancelled(id, Qty(r.leaves)));
            }
            None => self.stats.late_cancels += 1,
        }
    }

    /// A trade printed on the tape at `now_ns`: fills resting orders by the
    /// fill model. The caller passes each trade once: the backtest admits
    /// them by the market's one de-duplication rule
    /// ([`crate::market::MarketState::on_trade`]); a simulator generating
    /// its own tape has no duplicates to drop. (Bybit gives every print of
    /// one taker order the same id, so an id rule of its own here would
    /// drop all but the first print of a sweep.)
    pub fn on_trade(&mut self, inst: usize, trade: &Trade, now_ns: u64, out: &mut Vec<ExchangeReport>) {
        if inst >= self.instruments.len() {
            return;
        }
        let mut k = 0;
        while k < self.resting.len() {
            let r = self.resting[k];
            if r.inst != inst {
                k += 1;
                continue;
            }
            let (through, at) = match r.side {
                Side::Buy => (trade.price < r.price, trade.price == r.price && trade.taker_side == Side::Sell),
                Side::Sell => (trade.price > r.price, trade.price == r.price && trade.taker_side == Side::Buy),
            };
            let qty = if through {
                r.leaves
            } else if at && self.fill_model == FillModel::Touch {
                r.leaves.min(trade.qty.0)
            } else {
                0
            };
            if qty > 0 {
                self.fill(inst, r.id, r.side, r.price, qty, true, now_ns, out);
                self.resting[k].leaves -= qty;
                if self.resting[k].leaves == 0 {
                    self.resting.remove(k);
                    continue;
                }
            }
            k += 1;
        }
    }

    /// Charges funding on `inst` if the announced funding time has passed
    /// (`now_ms ≥ next_funding_ms`, once per funding time).
    pub fn on_clock(&mut self, inst: usize, funding: &Funding, now_ms: i64, out: &mut Vec<ExchangeReport>) {
        let t = funding.next_funding_ms;
        if t <= 0 || now_ms < t || self.funding_done.get(inst).is_none_or(|&d| d >= t) {
            return;
        }
        self.funding_done[inst] = t;
        let pos = self.positions[inst];
        if pos == 0 || funding.mark.0 <= 0 {
            return;
        }
        let i = self.instruments[inst];
        // |pos| × mark (at 8 decimals) = position value in USDT at 8 decimals.
        let value = i128::from(pos.abs()) * i128::from(funding.mark.0) / 10i128.pow(u32::from(i.qty_scale));
        let paid = fee(Notional(i64::try_from(value).unwrap_or(i64::MAX)), funding.rate);
        // Longs pay a positive rate; shorts receive it.
        let amount = if pos > 0 { -paid.0 } else { paid.0 };
        self.stats.funding_events += 1;
        out.push(ExchangeReport::Funding { inst, amount: Notional(amount), ts_ms: t });
    }
}

#[cfg(test)]
mod tests;
