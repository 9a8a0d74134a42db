//! The market as the hot thread sees it: per instrument, the synced book,
//! the venue's best bid/offer, the last trades, funding and liquidations.
//!
//! [`MarketState::apply`] takes one decoded [`MarketEvent`] and updates the
//! instrument it belongs to in O(levels touched), allocating nothing: all
//! per-instrument state is created in [`MarketState::new`]. It returns an
//! [`Applied`] summary that the caller (engine, backtester, latency
//! harness) uses to drive signals and to count and report resyncs.

use crate::book::Book;
use crate::event::{InstrumentId, MarketEvent};
use crate::fixed::{Price, Qty, Rate, RefPrice};
use crate::instrument::SymbolEntry;
use crate::side::Side;
use crate::venue::sync::SyncOutcome;
use crate::venue::{BookSync, Venue};

/// The venue's own best bid and offer (Binance `bookTicker`, Bybit
/// `tickers` `bid1`/`ask1`), which can run ahead of the depth stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bbo {
    /// Best bid price.
    pub bid_px: Price,
    /// Best bid quantity.
    pub bid_qty: Qty,
    /// Best ask price.
    pub ask_px: Price,
    /// Best ask quantity.
    pub ask_qty: Qty,
    /// Venue update id (Binance `u`, Bybit `cs`); updates with an older id
    /// are ignored.
    pub update_id: u64,
    /// Venue time of the update, ms.
    pub ts_ms: i64,
}

/// Running trade statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TradeTape {
    /// Last trade price.
    pub last_price: Price,
    /// Last trade time, ms.
    pub last_ms: i64,
    /// Id of the last trade seen (see [`is_replayed_trade`] for which
    /// later ids count as replays).
    pub last_id: u64,
    /// Cumulative taker-buy quantity.
    pub buy_qty: i64,
    /// Cumulative taker-sell quantity.
    pub sell_qty: i64,
    /// Trades counted.
    pub trades: u64,
    /// Duplicate or out-of-order trades skipped.
    pub duplicates: u64,
}

/// Whether a trade with id `id` repeats one already on the tape (and must
/// not be counted again). Binance trade ids (`t`, `a`) are unique and
/// increasing, so an id at or below the last is a replay. Bybit's id here is
/// the cross sequence `seq`, which every fill of one taker order shares (a
/// sweep of 41 levels is 41 trades with one `seq`), so only a *lower* id is
/// a replay.
#[inline]
#[must_use]
pub fn is_replayed_trade(venue: Venue, last_id: u64, trades_seen: u64, id: u64) -> bool {
    trades_seen > 0
        && match venue {
            Venue::BinanceUsdm => id <= last_id,
            Venue::BybitLinear => id < last_id,
        }
}

/// Funding and reference prices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Funding {
    /// Mark price.
    pub mark: RefPrice,
    /// Index price.
    pub index: RefPrice,
    /// Current funding rate.
    pub rate: Rate,
    /// Next funding time, ms.
    pub next_funding_ms: i64,
    /// Open interest (Bybit), base units.
    pub open_interest: Qty,
    /// Time of the last update, ms.
    pub ts_ms: i64,
}

/// Running liquidation statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiquidationTape {
    /// Liquidated quantity of long positions.
    pub long_qty: i64,
    /// Liquidated quantity of short positions.
    pub short_qty: i64,
    /// Liquidation events.
    pub events: u64,
    /// Time of the last one, ms.
    pub last_ms: i64,
}

/// Everything kept for one instrument.
pub struct InstrumentState<const N: usize> {
    /// Book and its sync machine.
    pub sync: BookSync<N>,
    /// Venue best bid/offer.
    pub bbo: Bbo,
    /// Trades.
    pub trades: TradeTape,
    /// Funding.
    pub funding: Funding,
    /// Liquidations.
    pub liquidations: LiquidationTape,
}

/// What [`MarketState::apply`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A depth frame or snapshot went through the sync machine; the last
    /// outcome is given (a Binance snapshot may replay several diffs).
    Depth(InstrumentId, SyncOutcome),
    /// The venue BBO changed.
    Top(InstrumentId),
    /// `n` trades were added.
    Trades(InstrumentId, u32),
    /// Funding or reference prices changed.
    Funding(InstrumentId),
    /// `n` liquidations were added.
    Liquidations(InstrumentId, u32),
    /// Connection-level message or skipped stream.
    Other,
    /// An element inside the frame (a trade of a batch) failed to decode;
    /// the elements before it were applied, the rest skipped. Count it.
    Malformed,
    /// The event names an instrument this state does not hold.
    UnknownInstrument,
}

/// Per-instrument market state for one venue, indexed by [`InstrumentId`].
pub struct MarketState<const N: usize> {
    venue: Venue,
    instruments: Vec<Option<InstrumentState<N>>>,
}

impl<const N: usize> MarketState<N> {
    /// State for the given instruments of `venue`, allocated now.
    #[must_use]
    pub fn new(venue: Venue, instruments_of_venue: &[SymbolEntry]) -> Self {
        let len = instruments_of_venue.iter().map(|e| usize::from(e.id.0) + 1).max().unwrap_or(0);
        let mut instruments: Vec<Option<InstrumentState<N>>> = (0..len).map(|_| None).collect();
        for entry in instruments_of_venue {
            instruments[usize::from(entry.id.0)] = Some(InstrumentState {
                sync: BookSync::new(venue, entry.tick),
                bbo: Bbo::default(),
                trades: TradeTape::default(),
                funding: Funding::default(),
                liquidations: LiquidationTape::default(),
            });
        }
        Self { venue, instruments }
    }

    /// The venue.
    #[must_use]
    pub fn venue(&self) -> Venue {
        self.venue
    }

    /// One instrument's state.
    #[must_use]
    pub fn get(&self, id: InstrumentId) -> Option<&InstrumentState<N>> {
        self.instruments.get(usize::from(id.0)).and_then(Option::as_ref)
    }

    /// One instrument's book.
    #[must_use]
    pub fn book(&self, id: InstrumentId) -> Option<&Book<N>> {
        self.get(id).map(|s| s.sync.book())
    }

    fn slot(&mut self, id: InstrumentId) -> Option<&mut InstrumentState<N>> {
        self.instruments.get_mut(usize::from(id.0)).and_then(Option::as_mut)
    }

    /// Applies one event. `on_depth` sees every sync outcome with the book
    /// (a Binance snapshot reports itself and every buffered diff it
    /// replays), so callers can publish or report each.
    #[inline]
    pub fn apply(
        &mut self,
        event: &MarketEvent<'_>,
        mut on_depth: impl FnMut(InstrumentId, &Book<N>, SyncOutcome),
    ) -> Applied {
        match event {
            MarketEvent::Depth(diff) => {
                let Some(st) = self.slot(diff.inst) else { return Applied::UnknownInstrument };
                let mut last = SyncOutcome::Stale;
                st.sync.on_diff(diff, |book, outcome| {
                    last = outcome;
                    on_depth(diff.inst, book, outcome);
                });
                Applied::Depth(diff.inst, last)
            }
            MarketEvent::Snapshot(snap) => {
                let Some(st) = self.slot(snap.inst) else { return Applied::UnknownInstrument };
                let mut last = SyncOutcome::Stale;
                st.sync.on_snapshot(snap, |book, outcome| {
                    last = outcome;
                    on_depth(snap.inst, book, outcome);
                });
                Applied::Depth(snap.inst, last)
            }
            MarketEvent::BookTicker(t) => {
                let Some(st) = self.slot(t.inst) else { return Applied::UnknownInstrument };
                if t.update_id >= st.bbo.update_id {
                    st.bbo = Bbo {
                        bid_px: t.bid_px,
                        bid_qty: t.bid_qty,
                        ask_px: t.ask_px,
                        ask_qty: t.ask_qty,
                        update_id: t.update_id,
                        ts_ms: t.transact_ms,
                    };
                }
                Applied::Top(t.inst)
            }
            MarketEvent::Ticker(t) => {
                let Some(st) = self.slot(t.inst) else { return Applied::UnknownInstrument };
                let top = t.bid_px.is_some() || t.ask_px.is_some() || t.bid_qty.is_some() || t.ask_qty.is_some();
                if top && t.cs >= st.bbo.update_id {
                    let bbo = &mut st.bbo;
                    bbo.bid_px = t.bid_px.unwrap_or(bbo.bid_px);
                    bbo.bid_qty = t.bid_qty.unwrap_or(bbo.bid_qty);
                    bbo.ask_px = t.ask_px.unwrap_or(bbo.ask_px);
                    bbo.ask_qty = t.ask_qty.unwrap_or(bbo.ask_qty);
                    bbo.update_id = t.cs;
                    bbo.ts_ms = t.ts_ms;
                }
                let f = &mut st.funding;
                f.mark = t.mark.unwrap_or(f.mark);
                f.index = t.index.unwrap_or(f.index);
                f.rate = t.funding_rate.unwrap_or(f.rate);
                f.next_funding_ms = t.next_funding_ms.unwrap_or(f.next_funding_ms);
                f.open_interest = t.open_interest.unwrap_or(f.open_interest);
                f.ts_ms = t.ts_ms;
                if top { Applied::Top(t.inst) } else { Applied::Funding(t.inst) }
            }
            MarketEvent::MarkPrice(m) => {
                let Some(st) = self.slot(m.inst) else { return Applied::UnknownInstrument };
                st.funding = Funding {
                    mark: m.mark,
                    index: m.index,
                    rate: m.funding_rate,
                    next_funding_ms: m.next_funding_ms,
                    open_interest: st.funding.open_interest,
                    ts_ms: m.event_ms,
                };
                Applied::Funding(m.inst)
            }
            MarketEvent::Trades(batch) => {
                let venue = self.venue;
                let mut n = 0u32;
                let mut inst = None;
                for trade in *batch {
                    let Ok(trade) = trade else {
                        return Applied::Malformed;
                    };
                    inst = Some(trade.inst);
                    let Some(st) = self.slot(trade.inst) else { return Applied::UnknownInstrument };
                    let tape = &mut st.trades;
                    if is_replayed_trade(venue, tape.last_id, tape.trades, trade.id) {
                        tape.duplicates += 1;
                        continue;
                    }
                    tape.last_id = trade.id;
                    tape.last_price = trade.price;
                    tape.last_ms = trade.trade_ms;
                    match trade.taker_side {
                        Side::Buy => tape.buy_qty += trade.qty.0,
                        Side::Sell => tape.sell_qty += trade.qty.0,
                    }
                    tape.trades += 1;
                    n += 1;
                }
                inst.map_or(Applied::Other, |i| Applied::Trades(i, n))
            }
            MarketEvent::Liquidations(batch) => {
                let mut n = 0u32;
                let mut inst = None;
                for liq in *batch {
                    let Ok(liq) = liq else {
                        return Applied::Malformed;
                    };
                    inst = Some(liq.inst);
                    let Some(st) = self.slot(liq.inst) else { return Applied::UnknownInstrument };
                    let tape = &mut st.liquidations;
                    match liq.position_side {
                        Side::Buy => tape.long_qty += liq.qty.0,
                        Side::Sell => tape.short_qty += liq.qty.0,
                    }
                    tape.events += 1;
                    tape.last_ms = liq.ts_ms;
                    n += 1;
                }
                inst.map_or(Applied::Other, |i| Applied::Liquidations(i, n))
            }
            MarketEvent::Control(_) | MarketEvent::Ignored(_) => Applied::Other,
        }
    }
}
