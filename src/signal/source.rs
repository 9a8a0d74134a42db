//! The seam between market state and the strategy's signals.
//!
//! The trading core ([`crate::core`]) feeds every applied market event to
//! a [`SignalSource`] and asks it for a [`SignalSnapshot`] per instrument.
//! [`LiveSignals`] is the production source: one [`Signals`] aggregate per
//! instrument (`src/signal/`), every family computed, so its `provides()`
//! is [`SignalFields::ALL`].
//!
//! [`BookOnlySignals`] is a deliberately minimal source that computes only
//! what the book and the trade tape give directly — mid, microprice,
//! spread (ticks and bps) and top-of-book imbalance from the newer of the
//! synced depth book and the venue's BBO, and signed taker volume over a
//! fixed 10-second window — and leaves every other snapshot field at its
//! default. It declares exactly that in [`SignalSource::provides`], so the
//! strategy knows that the other inputs are *absent*, not zero: the
//! corresponding votes abstain (or use their configured fallback inputs)
//! and the corresponding gates are skipped and reported as skipped. It
//! exists for tests of the strategy's degraded mode and as a baseline
//! (`[backtest] signals = "book-only"`); it is not signal research.

use crate::book::{Book, DEFAULT_LEVELS};
use crate::event::{InstrumentId, Liquidation, MarketEvent, Trade};
use crate::fixed::pow10;
use crate::instrument::Instrument;
use crate::market::{Bbo, Funding};
use crate::side::Side;
use crate::signal::fields::SignalFields;
use crate::signal::{SignalConfig, SignalSnapshot, Signals};

/// Anything that turns market events into signal snapshots.
///
/// Instruments are identified by [`InstrumentId`] (the index in the run's
/// instrument table). Times are exchange times in ms, so a replay is
/// deterministic.
pub trait SignalSource {
    /// A name for reports.
    fn name(&self) -> &'static str;
    /// Which snapshot fields this source computes.
    fn provides(&self) -> SignalFields;
    /// Every decoded event, before it is applied to the market state: for
    /// signals that want the raw levels of a depth update. Default: nothing.
    fn on_event(&mut self, _event: &MarketEvent<'_>) {}
    /// The synced depth book changed (called after every published update).
    fn on_book(&mut self, inst: InstrumentId, book: &Book<DEFAULT_LEVELS>, ts_ms: i64);
    /// The depth book lost continuity (gap, resync): the next book starts
    /// afresh. Default: nothing.
    fn on_book_lost(&mut self, _inst: InstrumentId) {}
    /// The venue's own best bid/offer changed (Binance `bookTicker`, Bybit `tickers`).
    fn on_top(&mut self, _inst: InstrumentId, _bbo: &Bbo) {}
    /// One new (deduplicated) trade.
    fn on_trade(&mut self, inst: InstrumentId, trade: &Trade);
    /// Funding or reference prices changed.
    fn on_funding(&mut self, _inst: InstrumentId, _funding: &Funding) {}
    /// One liquidation.
    fn on_liquidation(&mut self, _inst: InstrumentId, _liq: &Liquidation) {}
    /// Open interest (base quantity) known at exchange time `ts_ms`: from
    /// a venue stream or a REST poll. Default: nothing.
    fn on_open_interest(&mut self, _inst: InstrumentId, _qty: crate::fixed::Qty, _ts_ms: i64) {}
    /// The current snapshot of `inst`.
    fn snapshot(&self, inst: InstrumentId) -> SignalSnapshot;
}

/// Length of the book-only signed-volume window, ms.
pub const SIGNED_VOLUME_WINDOW_MS: i64 = 10_000;
/// Bucket width of that window, ms.
const BUCKET_MS: i64 = 100;
const BUCKETS: usize = (SIGNED_VOLUME_WINDOW_MS / BUCKET_MS) as usize;

#[derive(Debug, Clone)]
struct BookOnly {
    tick: f64,
    price_unit: f64,
    qty_unit: f64,
    snap: SignalSnapshot,
    /// Signed quantity per 100 ms bucket (ring), and each bucket's start.
    buckets: [f64; BUCKETS],
    bucket_start: [i64; BUCKETS],
    window_sum: f64,
    /// Exchange time of the top-of-book fields.
    book_ts_ms: i64,
}

impl BookOnly {
    /// Book fields from the best levels (mantissas); the newer of the depth
    /// book and the venue BBO wins.
    fn set_top(&mut self, bid_px: i64, bid_qty: i64, ask_px: i64, ask_qty: i64, ts_ms: i64) {
        let (bid, ask) = (bid_px as f64 * self.price_unit, ask_px as f64 * self.price_unit);
        let (bq, aq) = (bid_qty as f64 * self.qty_unit, ask_qty as f64 * self.qty_unit);
        let mid = 0.5 * (bid + ask);
        let snap = &mut self.snap;
        snap.ts_ms = snap.ts_ms.max(ts_ms);
        snap.mid = mid;
        snap.microprice = if bq + aq > 0.0 { (bid * aq + ask * bq) / (bq + aq) } else { mid };
        snap.spread_ticks = (ask - bid) / self.tick;
        snap.spread_bps = if mid > 0.0 { (ask - bid) / mid * 10_000.0 } else { 0.0 };
        snap.tob_imbalance = if bq + aq > 0.0 { (bq - aq) / (bq + aq) } else { 0.0 };
    }
}

/// **Book-only signals** (module docs): mid, microprice, spread,
/// top-of-book imbalance and 10 s signed volume; nothing else.
#[derive(Debug, Clone)]
pub struct BookOnlySignals {
    per: Vec<BookOnly>,
}

impl BookOnlySignals {
    /// State for `instruments` (index = [`InstrumentId`]).
    #[must_use]
    pub fn new(instruments: &[Instrument]) -> Self {
        let per = instruments
            .iter()
            .map(|i| {
                let price_unit = 1.0 / pow10(i.price_scale) as f64;
                BookOnly {
                    tick: i.tick.0 as f64 * price_unit,
                    price_unit,
                    qty_unit: 1.0 / pow10(i.qty_scale) as f64,
                    snap: SignalSnapshot::default(),
                    buckets: [0.0; BUCKETS],
                    bucket_start: [i64::MIN; BUCKETS],
                    window_sum: 0.0,
                    book_ts_ms: i64::MIN,
                }
            })
            .collect();
        Self { per }
    }
}

impl SignalSource for BookOnlySignals {
    fn name(&self) -> &'static str {
        "book-only"
    }

    fn provides(&self) -> SignalFields {
        SignalFields::BOOK.with(SignalFields::SIGNED_VOLUME)
    }

    fn on_book(&mut self, inst: InstrumentId, book: &Book<DEFAULT_LEVELS>, ts_ms: i64) {
        let Some(s) = self.per.get_mut(usize::from(inst.0)) else { return };
        let (Some((bp, bq)), Some((ap, aq))) = (book.best_bid(), book.best_ask()) else { return };
        if ts_ms < s.book_ts_ms {
            return;
        }
        s.book_ts_ms = ts_ms;
        s.set_top(bp.0, bq.0, ap.0, aq.0, ts_ms);
    }

    fn on_top(&mut self, inst: InstrumentId, bbo: &Bbo) {
        let Some(s) = self.per.get_mut(usize::from(inst.0)) else { return };
        if bbo.ts_ms < s.book_ts_ms || bbo.bid_px.0 <= 0 || bbo.ask_px <= bbo.bid_px {
            return;
        }
        s.book_ts_ms = bbo.ts_ms;
        s.set_top(bbo.bid_px.0, bbo.bid_qty.0, bbo.ask_px.0, bbo.ask_qty.0, bbo.ts_ms);
    }

    fn on_trade(&mut self, inst: InstrumentId, trade: &Trade) {
        let Some(s) = self.per.get_mut(usize::from(inst.0)) else { return };
        let start = trade.trade_ms.div_euclid(BUCKET_MS) * BUCKET_MS;
        let slot = usize::try_from(start.div_euclid(BUCKET_MS).rem_euclid(BUCKETS as i64)).unwrap_or(0);
        if s.bucket_start[slot] != start {
            // The slot held a bucket a whole window older: drop it.
            s.window_sum -= s.buckets[slot];
            s.buckets[slot] = 0.0;
            s.bucket_start[slot] = start;
        }
        let q = trade.qty.0 as f64 * s.qty_unit;
        let signed = match trade.taker_side {
            Side::Buy => q,
            Side::Sell => -q,
        };
        s.buckets[slot] += signed;
        s.window_sum += signed;
        // Expire buckets that fell out of the window since the last trade.
        let oldest = start - SIGNED_VOLUME_WINDOW_MS + BUCKET_MS;
        for (b, &t) in s.buckets.iter_mut().zip(&s.bucket_start) {
            if t != i64::MIN && t < oldest && *b != 0.0 {
                s.window_sum -= *b;
                *b = 0.0;
            }
        }
        s.snap.signed_volume = s.window_sum;
        s.snap.ts_ms = s.snap.ts_ms.max(trade.trade_ms);
    }

    fn snapshot(&self, inst: InstrumentId) -> SignalSnapshot {
        self.per.get(usize::from(inst.0)).map(|s| s.snap).unwrap_or_default()
    }
}

/// The production signals: one [`Signals`] aggregate per instrument.
#[derive(Clone)]
pub struct LiveSignals {
    per: Vec<Signals>,
}

impl LiveSignals {
    /// Signals for `instruments` (index = [`InstrumentId`]) with `cfg`.
    #[must_use]
    pub fn new(cfg: &SignalConfig, instruments: &[Instrument]) -> Self {
        Self { per: instruments.iter().map(|i| Signals::new(cfg, i.price_scale, i.qty_scale, i.tick)).collect() }
    }
}

impl LiveSignals {
    /// One instrument's signals.
    #[must_use]
    pub fn get(&self, inst: InstrumentId) -> Option<&Signals> {
        self.per.get(usize::from(inst.0))
    }

    /// Volume-profile trades left out for one instrument.
    #[must_use]
    pub fn profile_dropped(&self, inst: InstrumentId) -> u64 {
        self.get(inst).map_or(0, Signals::profile_dropped)
    }
}

impl std::fmt::Debug for LiveSignals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LiveSignals({} instruments)", self.per.len())
    }
}

impl SignalSource for LiveSignals {
    fn name(&self) -> &'static str {
        "all-signals"
    }

    fn provides(&self) -> SignalFields {
        SignalFields::ALL
    }

    fn on_book(&mut self, inst: InstrumentId, book: &Book<DEFAULT_LEVELS>, ts_ms: i64) {
        if let Some(s) = self.per.get_mut(usize::from(inst.0)) {
            s.on_book(ts_ms, book);
        }
    }

    fn on_book_lost(&mut self, inst: InstrumentId) {
        if let Some(s) = self.per.get_mut(usize::from(inst.0)) {
            s.book_reset();
        }
    }

    fn on_trade(&mut self, inst: InstrumentId, trade: &Trade) {
        if let Some(s) = self.per.get_mut(usize::from(inst.0)) {
            s.on_trade(trade);
        }
    }

    fn on_funding(&mut self, inst: InstrumentId, funding: &Funding) {
        if let Some(s) = self.per.get_mut(usize::from(inst.0)) {
            s.on_funding(funding.ts_ms, funding.rate, funding.next_funding_ms);
            // Bybit tickers carry open interest beside funding.
            if funding.open_interest.0 > 0 {
                s.on_open_interest(funding.ts_ms, funding.open_interest);
            }
        }
    }

    fn on_open_interest(&mut self, inst: InstrumentId, qty: crate::fixed::Qty, ts_ms: i64) {
        if let Some(s) = self.per.get_mut(usize::from(inst.0)) {
            s.on_open_interest(ts_ms, qty);
        }
    }

    fn on_liquidation(&mut self, inst: InstrumentId, liq: &Liquidation) {
        if let Some(s) = self.per.get_mut(usize::from(inst.0)) {
            s.on_liquidation(liq);
        }
    }

    fn snapshot(&self, inst: InstrumentId) -> SignalSnapshot {
        self.per.get(usize::from(inst.0)).map(Signals::snapshot).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::TradeSource;
    use crate::fixed::{Price, Qty};
    use crate::risk::test_support::btc;
    use crate::venue::Venue;

    fn trade(ms: i64, qty: i64, side: Side) -> Trade {
        Trade {
            inst: InstrumentId(0),
            id: ms as u64,
            trade_ms: ms,
            event_ms: ms,
            price: Price(6_000_000),
            qty: Qty(qty),
            taker_side: side,
            source: TradeSource::Market,
        }
    }

    #[test]
    fn book_fields_from_the_top_of_book() {
        let mut s = BookOnlySignals::new(&[btc(Venue::BinanceUsdm)]);
        let mut book = Book::<DEFAULT_LEVELS>::new(Price(10));
        book.set(Side::Buy, Price(6_000_000), Qty(3_000)).unwrap();
        book.set(Side::Sell, Price(6_000_020), Qty(1_000)).unwrap();
        s.on_book(InstrumentId(0), &book, 5);
        let snap = s.snapshot(InstrumentId(0));
        assert!((snap.mid - 60_000.1).abs() < 1e-9);
        // (60000.0 × 1 + 60000.2 × 3) / 4
        assert!((snap.microprice - 60_000.15).abs() < 1e-9);
        assert!((snap.spread_ticks - 2.0).abs() < 1e-9);
        assert!((snap.tob_imbalance - 0.5).abs() < 1e-12);
        assert!(!snap.warm);
        assert_eq!(snap.ofi, 0.0);
    }

    #[test]
    fn signed_volume_over_a_ten_second_window() {
        let mut s = BookOnlySignals::new(&[btc(Venue::BinanceUsdm)]);
        let id = InstrumentId(0);
        s.on_trade(id, &trade(1_000, 500, Side::Buy));
        s.on_trade(id, &trade(1_050, 200, Side::Sell));
        s.on_trade(id, &trade(5_000, 100, Side::Buy));
        assert!((s.snapshot(id).signed_volume - 0.4).abs() < 1e-12);
        // At 11 000 the 1 000 bucket has left the window (11 000 − 10 000 + 100 > 1 000).
        s.on_trade(id, &trade(11_000, 1, Side::Buy));
        assert!((s.snapshot(id).signed_volume - 0.101).abs() < 1e-12);
        // Much later: everything expired but the new trade.
        s.on_trade(id, &trade(100_000, 2, Side::Sell));
        assert!((s.snapshot(id).signed_volume + 0.002).abs() < 1e-12);
    }
}
