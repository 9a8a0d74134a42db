//! The market as the hot thread sees it: per instrument, the synced book,
//! the venue's best bid/offer, the last trades, funding and liquidations.
//!
//! [`MarketState::apply`] takes one decoded [`MarketEvent`] and updates the
//! instrument it belongs to in O(levels touched), allocating nothing: all
//! per-instrument state is created in [`MarketState::new`]. It returns an
//! [`Applied`] summary that the caller (the trading core, the latency
//! harness, `scalpel book`) uses to drive signals and to count and report
//! resyncs. The trading core ([`crate::core`]) also calls the per-element
//! steps ([`MarketState::on_trade`], [`MarketState::on_book_ticker`], …) itself,
//! after bounding each event's exchange time.
//!
//! # One de-duplication rule
//! Every sequence a venue numbers for us — trade ids (Binance `t`, and
//! separately aggregate-trade `a`, Bybit `seq`) and best-bid/offer update
//! ids (Binance `bookTicker` `u`, Bybit `tickers` `cs`) — goes through one
//! [`SeqMark`]: an id above the high-water mark is new; one below it (or
//! equal, where the venue never repeats an id) is a repeat and is dropped
//! and counted — **unless** its exchange time is more than the mark's reset
//! window after the time of the event that set the mark. Then the mark was
//! poisoned (one far-future id on the wire would otherwise freeze the tape
//! or the BBO until restart): it is reset to this event, which is kept, and
//! the reset is counted. Exchange times are bounded by the receive clock
//! before they get here (the core clamps them), so time cannot be poisoned
//! the same way. Marks also reset when their stream is resubscribed
//! ([`MarketState::reset_marks`]).

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
    /// are ignored (by the one rule, [`SeqMark`]).
    pub update_id: u64,
    /// Venue time of the update, ms.
    pub ts_ms: i64,
}

/// Default reset window of a [`SeqMark`], ms: a sequence id below the mark
/// whose exchange time is this much newer than the mark's resets it.
pub const DEFAULT_MARK_RESET_MS: i64 = 1_000;

/// What [`SeqMark::admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// A new id: use the event.
    New,
    /// An id already seen (or older): drop the event.
    Repeat,
    /// An id below the mark, but newer in time than the mark by more than
    /// the reset window: the mark was poisoned. The mark now holds this
    /// event, which is used.
    Reset,
}

impl Admit {
    /// `true` when the event is to be used.
    #[must_use]
    pub fn is_new(self) -> bool {
        !matches!(self, Admit::Repeat)
    }
}

/// A sequence high-water mark: the highest id admitted and the exchange
/// time of the event that set it. The module docs state the rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqMark {
    id: u64,
    ts_ms: i64,
    seen: bool,
}

impl SeqMark {
    /// The one de-duplication rule. `equal_is_repeat`: the venue never sends
    /// one id twice (Binance trade ids), so an equal id is a repeat; when
    /// `false` an equal id is new (Bybit gives every fill of one taker order
    /// the same `seq`; an update id may repeat with the same content).
    #[inline]
    pub fn admit(&mut self, id: u64, ts_ms: i64, equal_is_repeat: bool, reset_after_ms: i64) -> Admit {
        let newer = !self.seen || id > self.id || (id == self.id && !equal_is_repeat);
        if newer {
            self.id = id;
            self.ts_ms = ts_ms;
            self.seen = true;
            return Admit::New;
        }
        if ts_ms > self.ts_ms.saturating_add(reset_after_ms) {
            self.id = id;
            self.ts_ms = ts_ms;
            return Admit::Reset;
        }
        Admit::Repeat
    }

    /// Forgets the mark (the stream was resubscribed).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// The highest id admitted (0 before the first).
    #[must_use]
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// Running trade statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TradeTape {
    /// Last trade price.
    pub last_price: Price,
    /// Last trade time, ms.
    pub last_ms: i64,
    /// Trade-id mark of the trade stream (Binance `t`, Bybit `seq`).
    pub trade_ids: SeqMark,
    /// Trade-id mark of the aggregate-trade stream (Binance `a`): a
    /// separate sequence, never compared with `t`.
    pub agg_ids: SeqMark,
    /// Cumulative taker-buy quantity.
    pub buy_qty: i64,
    /// Cumulative taker-sell quantity.
    pub sell_qty: i64,
    /// Trades counted.
    pub trades: u64,
    /// Duplicate or out-of-order trades skipped.
    pub duplicates: u64,
    /// Poisoned trade-id marks reset (see the module docs).
    pub mark_resets: u64,
}

/// `true` when one trade id is never repeated by `venue` (so an equal id
/// is a repeat): Binance trade and aggregate ids are unique; Bybit's trade
/// id here is the cross sequence `seq`, shared by every fill of one taker
/// order.
#[inline]
#[must_use]
pub const fn trade_ids_unique(venue: Venue) -> bool {
    matches!(venue, Venue::BinanceUsdm)
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
    /// Its venue.
    pub venue: Venue,
    /// Book and its sync machine.
    pub sync: BookSync<N>,
    /// Venue best bid/offer.
    pub bbo: Bbo,
    /// Update-id mark of the best bid/offer.
    pub bbo_ids: SeqMark,
    /// Best bid/offer updates dropped as repeats.
    pub bbo_repeats: u64,
    /// Poisoned best bid/offer marks reset.
    pub bbo_mark_resets: u64,
    /// Trades.
    pub trades: TradeTape,
    /// Funding.
    pub funding: Funding,
    /// Liquidations.
    pub liquidations: LiquidationTape,
}

impl<const N: usize> InstrumentState<N> {
    fn new(venue: Venue, tick: Price) -> Self {
        Self {
            venue,
            sync: BookSync::new(venue, tick),
            bbo: Bbo::default(),
            bbo_ids: SeqMark::default(),
            bbo_repeats: 0,
            bbo_mark_resets: 0,
            trades: TradeTape::default(),
            funding: Funding::default(),
            liquidations: LiquidationTape::default(),
        }
    }

    /// Admits a best bid/offer update id by the one rule (an equal id is
    /// not a repeat: it carries the same book state).
    fn admit_top(&mut self, id: u64, ts_ms: i64, reset_ms: i64) -> bool {
        match self.bbo_ids.admit(id, ts_ms, false, reset_ms) {
            Admit::New => true,
            Admit::Reset => {
                self.bbo_mark_resets += 1;
                true
            }
            Admit::Repeat => {
                self.bbo_repeats += 1;
                false
            }
        }
    }
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

/// Per-instrument market state, indexed by [`InstrumentId`]: the
/// instruments of one venue ([`MarketState::new`]) or of a whole
/// instrument table ([`MarketState::for_table`]).
pub struct MarketState<const N: usize> {
    venue: Venue,
    instruments: Vec<Option<InstrumentState<N>>>,
    mark_reset_ms: i64,
}

impl<const N: usize> MarketState<N> {
    /// State for the given instruments of `venue`, allocated now.
    #[must_use]
    pub fn new(venue: Venue, instruments_of_venue: &[SymbolEntry]) -> Self {
        let len = instruments_of_venue.iter().map(|e| usize::from(e.id.0) + 1).max().unwrap_or(0);
        let mut instruments: Vec<Option<InstrumentState<N>>> = (0..len).map(|_| None).collect();
        for entry in instruments_of_venue {
            instruments[usize::from(entry.id.0)] = Some(InstrumentState::new(venue, entry.tick));
        }
        Self { venue, instruments, mark_reset_ms: DEFAULT_MARK_RESET_MS }
    }

    /// State for every instrument of `table` (ids are table indices), on
    /// all venues at once, allocated now.
    #[must_use]
    pub fn for_table(table: &crate::instrument::InstrumentTable) -> Self {
        let instruments = table.all().iter().map(|i| Some(InstrumentState::new(i.venue, i.tick))).collect();
        let venue = table.all().first().map_or(Venue::BinanceUsdm, |i| i.venue);
        Self { venue, instruments, mark_reset_ms: DEFAULT_MARK_RESET_MS }
    }

    /// Sets the reset window of every sequence mark (module docs), ms.
    pub fn set_mark_reset_ms(&mut self, ms: i64) {
        self.mark_reset_ms = ms.max(0);
    }

    /// One instrument's state, mutably (the core drives the sync machine
    /// directly for resubscriptions and stream bindings).
    pub fn get_mut(&mut self, id: InstrumentId) -> Option<&mut InstrumentState<N>> {
        self.slot(id)
    }

    /// Forgets the sequence marks of `id` for the streams named: trade ids
    /// (`trades`) and the best bid/offer (`top`). Called when those streams
    /// are resubscribed (a new connection numbers from wherever the venue is).
    pub fn reset_marks(&mut self, id: InstrumentId, trades: bool, top: bool) {
        if let Some(st) = self.slot(id) {
            if trades {
                st.trades.trade_ids.reset();
                st.trades.agg_ids.reset();
            }
            if top {
                st.bbo_ids.reset();
            }
        }
    }

    /// The first venue given (for a single-venue state, its venue).
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
            MarketEvent::BookTicker(t) => self.on_book_ticker(t),
            MarketEvent::Ticker(t) => {
                let reset_ms = self.mark_reset_ms;
                let Some(st) = self.slot(t.inst) else { return Applied::UnknownInstrument };
                let top = t.bid_px.is_some() || t.ask_px.is_some() || t.bid_qty.is_some() || t.ask_qty.is_some();
                if top && st.admit_top(t.cs, t.ts_ms, reset_ms) {
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
                let mut n = 0u32;
                let mut inst = None;
                for trade in *batch {
                    let Ok(trade) = trade else {
                        return Applied::Malformed;
                    };
                    inst = Some(trade.inst);
                    match self.on_trade(&trade) {
                        None => return Applied::UnknownInstrument,
                        Some(admit) => n += u32::from(admit.is_new()),
                    }
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
                    if !self.on_liquidation(&liq) {
                        return Applied::UnknownInstrument;
                    }
                    n += 1;
                }
                inst.map_or(Applied::Other, |i| Applied::Liquidations(i, n))
            }
            MarketEvent::Control(_) | MarketEvent::Ignored(_) => Applied::Other,
        }
    }

    /// A Binance `bookTicker`: the venue's best bid/offer, by the one rule.
    #[inline]
    pub fn on_book_ticker(&mut self, t: &crate::event::BookTicker) -> Applied {
        let reset_ms = self.mark_reset_ms;
        let Some(st) = self.slot(t.inst) else { return Applied::UnknownInstrument };
        if st.admit_top(t.update_id, t.transact_ms, reset_ms) {
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

    /// One trade onto its instrument's tape, by the one rule (trade and
    /// aggregate-trade ids are separate sequences). `None` for an unknown
    /// instrument; otherwise whether the trade is new (and was counted).
    #[inline]
    pub fn on_trade(&mut self, trade: &crate::event::Trade) -> Option<Admit> {
        let reset_ms = self.mark_reset_ms;
        let st = self.slot(trade.inst)?;
        let unique = trade_ids_unique(st.venue);
        let tape = &mut st.trades;
        let mark =
            if trade.source == crate::event::TradeSource::Aggregate { &mut tape.agg_ids } else { &mut tape.trade_ids };
        let admit = mark.admit(trade.id, trade.trade_ms, unique, reset_ms);
        match admit {
            Admit::Repeat => {
                tape.duplicates += 1;
                return Some(admit);
            }
            Admit::Reset => tape.mark_resets += 1,
            Admit::New => {}
        }
        tape.last_price = trade.price;
        tape.last_ms = trade.trade_ms;
        match trade.taker_side {
            Side::Buy => tape.buy_qty += trade.qty.0,
            Side::Sell => tape.sell_qty += trade.qty.0,
        }
        tape.trades += 1;
        Some(admit)
    }

    /// One liquidation; `false` for an unknown instrument.
    #[inline]
    pub fn on_liquidation(&mut self, liq: &crate::event::Liquidation) -> bool {
        let Some(st) = self.slot(liq.inst) else { return false };
        let tape = &mut st.liquidations;
        match liq.position_side {
            Side::Buy => tape.long_qty += liq.qty.0,
            Side::Sell => tape.short_qty += liq.qty.0,
        }
        tape.events += 1;
        tape.last_ms = liq.ts_ms;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Trade, TradeSource};
    use crate::instrument::InstrumentTable;

    fn trade(id: u64, ms: i64, source: TradeSource) -> Trade {
        Trade {
            inst: InstrumentId(0),
            id,
            trade_ms: ms,
            event_ms: ms,
            price: Price(6_000_000),
            qty: Qty(1),
            taker_side: Side::Buy,
            source,
        }
    }

    fn binance() -> MarketState<64> {
        let table = InstrumentTable::built_in().unwrap();
        let btc = *crate::instrument::SymbolTable::for_venue(&table, Venue::BinanceUsdm).find(b"BTCUSDT").unwrap();
        assert_eq!(btc.id, InstrumentId(0), "the built-in table starts with Binance BTCUSDT");
        MarketState::new(Venue::BinanceUsdm, &[btc])
    }

    #[test]
    fn the_rule_drops_repeats_and_recovers_from_a_poisoned_mark() {
        let mut m = SeqMark::default();
        assert_eq!(m.admit(10, 1_000, true, 1_000), Admit::New);
        assert_eq!(m.admit(10, 1_000, true, 1_000), Admit::Repeat, "an equal unique id is a repeat");
        assert_eq!(m.admit(9, 1_001, true, 1_000), Admit::Repeat, "an older id is a repeat");
        assert_eq!(m.admit(10, 1_000, false, 1_000), Admit::New, "an equal shared id is not");
        // One far-future id: later ids look like repeats, but only for the
        // reset window of exchange time; then the mark follows the stream.
        assert_eq!(m.admit(u64::MAX - 1, 1_002, true, 1_000), Admit::New);
        assert_eq!(m.admit(11, 1_500, true, 1_000), Admit::Repeat);
        assert_eq!(m.admit(12, 2_003, true, 1_000), Admit::Reset);
        assert_eq!(m.admit(13, 2_004, true, 1_000), Admit::New);
        assert_eq!(m.admit(12, 2_003, true, 1_000), Admit::Repeat, "the real stream dedupes again");
        m.reset();
        assert_eq!(m.admit(1, 0, true, 1_000), Admit::New, "a resubscribed stream starts afresh");
    }

    #[test]
    fn a_far_future_trade_id_does_not_freeze_the_tape() {
        // Before: one trade id far ahead made every later trade a "replay"
        // until restart.
        let mut m = binance();
        for (id, ms) in [(100, 1_000), (101, 1_010), (u64::MAX / 2, 1_020), (102, 1_030), (103, 2_500), (104, 2_510)] {
            m.on_trade(&trade(id, ms, TradeSource::Market));
        }
        let tape = m.get(InstrumentId(0)).unwrap().trades;
        assert_eq!((tape.trades, tape.duplicates, tape.mark_resets), (5, 1, 1));
        assert_eq!(tape.last_ms, 2_510);
    }

    #[test]
    fn trade_and_aggregate_ids_are_separate_sequences() {
        // Before: aggTrade ids (smaller numbers) after trade ids were all
        // "replays", and trade ids after aggTrade ids all new.
        let mut m = binance();
        m.on_trade(&trade(5_266_583_935, 1_000, TradeSource::Market));
        assert_eq!(m.on_trade(&trade(2_218_000_000, 1_001, TradeSource::Aggregate)), Some(Admit::New));
        assert_eq!(m.on_trade(&trade(2_218_000_000, 1_001, TradeSource::Aggregate)), Some(Admit::Repeat));
        assert_eq!(m.on_trade(&trade(5_266_583_936, 1_002, TradeSource::Market)), Some(Admit::New));
        m.reset_marks(InstrumentId(0), true, false);
        assert_eq!(m.on_trade(&trade(1, 1_003, TradeSource::Market)), Some(Admit::New), "resubscribed: marks reset");
    }

    #[test]
    fn a_far_future_book_ticker_id_does_not_freeze_the_bbo() {
        let mut m = binance();
        let ticker = |u: u64, ms: i64, bid: i64| crate::event::BookTicker {
            inst: InstrumentId(0),
            update_id: u,
            event_ms: ms,
            transact_ms: ms,
            bid_px: Price(bid),
            bid_qty: Qty(1),
            ask_px: Price(bid + 10),
            ask_qty: Qty(1),
        };
        m.on_book_ticker(&ticker(10, 1_000, 6_000_000));
        m.on_book_ticker(&ticker(u64::MAX, 1_001, 6_000_010));
        m.on_book_ticker(&ticker(11, 1_500, 6_000_020));
        assert_eq!(m.get(InstrumentId(0)).unwrap().bbo.bid_px, Price(6_000_010), "within the window: held");
        m.on_book_ticker(&ticker(12, 2_100, 6_000_030));
        let st = m.get(InstrumentId(0)).unwrap();
        assert_eq!((st.bbo.bid_px, st.bbo_mark_resets, st.bbo_repeats), (Price(6_000_030), 1, 1));
    }
}
