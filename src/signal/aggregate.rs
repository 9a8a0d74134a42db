//! Every signal family of one instrument behind one clock. Market events
//! are routed to them in one place, the trading core
//! ([`crate::core`], through [`crate::signal::SignalSource`]); trades arrive
//! de-duplicated by the market's one rule ([`crate::market::SeqMark`]).
//!
//! # The clock
//! Signals run on exchange time only. Each event carries its own venue
//! timestamp (depth `T`/`cts`, trade `T`, funding `E`/`ts`, liquidation
//! `T`); streams arrive on different sockets and may be a few ms out of
//! order, so [`Signals`] keeps one non-decreasing clock: an event is folded
//! in at `max(clock, its timestamp)` (counted in
//! [`SignalStats::late_events`] when it was behind). Every event first
//! moves every window and grid to the clock, so windows empty with the
//! passage of (exchange) time even when their own stream is quiet; the
//! book-driven filters (volatility, kinematics) are as of the last book.
//!
//! # Book updates
//! [`Signals::on_book`] takes the synced book after an applied depth frame
//! or snapshot, copies its top K levels (a fixed array) and diffs them
//! against the previous copy for OFI. [`Signals::on_depth`] does that for a
//! published [`SyncOutcome`], and marks the next book as an OFI baseline
//! after a gap, a corrupt frame or a stale snapshot ([`Signals::book_reset`];
//! a crossed, unpublished book is skipped — the next published book is
//! diffed against the last published one). A snapshot is always a baseline.
//!
//! # Cost
//! Every family is O(1) amortised per event with no allocation after
//! [`Signals::new`]; see `benches/signals.rs` for measured figures.

use crate::book::Book;
use crate::event::{Liquidation, Trade};
use crate::fixed::{Price, Rate};
use crate::instrument::SymbolEntry;
use crate::venue::sync::SyncOutcome;

use super::atr::Atr;
use super::book_shape::{BookShape, TopOfBook};
use super::config::SignalConfig;
use super::funding::FundingBias;
use super::liquidation::{CascadeRule, Liquidations};
use super::momentum::Momentum;
use super::ofi::OrderFlowImbalance;
use super::open_interest::OpenInterest;
use super::ou::OrnsteinUhlenbeck;
use super::range::{RangeBreak, RangeRule};
use super::regime::{RegimeClassifier, RegimeRule};
use super::trade_flow::TradeFlow;
use super::volatility::{Kinematics, Volatility};
use super::vwap::{VolumeProfile, Vwap};
use super::{SignalSnapshot, warm};

/// Counters of what the signals skipped or adjusted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignalStats {
    /// Book observations folded in.
    pub books: u64,
    /// Books with an empty side (not used; the next book is a baseline).
    pub one_sided_books: u64,
    /// OFI baselines (first book, snapshots, after resyncs).
    pub baselines: u64,
    /// Trades folded in.
    pub trades: u64,
    /// Funding updates.
    pub funding_updates: u64,
    /// Liquidations folded in.
    pub liquidations: u64,
    /// Events whose timestamp was behind the clock (folded in at the clock).
    pub late_events: u64,
}

/// All signal families of one instrument. See the module docs.
#[derive(Clone)]
pub struct Signals {
    price_scale: u8,
    qty_scale: u8,
    tick: i64,
    clock: i64,
    started: bool,
    /// The previous and the next top of book (double buffer: `tops[cur]`
    /// is the last one folded in).
    tops: [TopOfBook; 2],
    cur: usize,
    has_top: bool,
    shape: BookShape,
    ofi: OrderFlowImbalance,
    trades: TradeFlow,
    vwap: Vwap,
    profile: VolumeProfile,
    volatility: Volatility,
    kinematics: Kinematics,
    ou: OrnsteinUhlenbeck,
    funding: FundingBias,
    liquidations: Liquidations,
    regime: RegimeClassifier,
    momentum: Momentum,
    atr: Atr,
    range: RangeBreak,
    open_interest: OpenInterest,
    stats: SignalStats,
}

impl Signals {
    /// Signals for an instrument with the given scales and tick (mantissa);
    /// allocates every window now.
    #[must_use]
    pub fn new(cfg: &SignalConfig, price_scale: u8, qty_scale: u8, tick: Price) -> Self {
        let b = cfg.window_buckets;
        Self {
            price_scale,
            qty_scale,
            tick: tick.0.max(1),
            clock: i64::MIN,
            started: false,
            tops: [TopOfBook::empty(cfg.depth_levels); 2],
            cur: 0,
            has_top: false,
            shape: BookShape::default(),
            ofi: OrderFlowImbalance::new(cfg.ofi_window_ms, b),
            trades: TradeFlow::new(cfg.trade_window_ms, b, cfg.surge_windows),
            vwap: Vwap::new(cfg.vwap_window_ms, b),
            profile: VolumeProfile::new(
                cfg.vwap_window_ms,
                cfg.profile_slices,
                tick.0.max(1),
                cfg.profile_bin_ticks,
                cfg.profile_bins,
                cfg.value_area_fraction,
            ),
            volatility: Volatility::new(cfg.volatility_half_life_ms),
            kinematics: Kinematics::new(cfg.velocity_tau_ms, cfg.acceleration_tau_ms),
            ou: OrnsteinUhlenbeck::new(cfg.sample_ms, cfg.ou_window_ms, cfg.ou_min_zscore),
            funding: FundingBias::new(cfg.funding_horizon_ms, cfg.funding_min_weight, cfg.funding_rate_scale),
            liquidations: Liquidations::new(
                cfg.liquidation_window_ms,
                b,
                CascadeRule {
                    notional: cfg.cascade_notional,
                    min_events: i64::from(cfg.cascade_min_events),
                    side_share: cfg.cascade_side_share,
                    exit_fraction: cfg.cascade_exit_fraction,
                },
                price_scale,
                qty_scale,
            ),
            regime: RegimeClassifier::new(
                cfg.sample_ms,
                cfg.regime_window_ms,
                cfg.regime_coarse_samples,
                cfg.regime_vol_window_ms,
                RegimeRule {
                    trend_enter_vr: cfg.trend_enter_vr,
                    range_enter_vr: cfg.range_enter_vr,
                    high_vol_enter_pct: cfg.high_vol_enter_pct,
                    high_vol_exit_pct: cfg.high_vol_exit_pct,
                    min_dwell_ms: i64::from(cfg.regime_min_dwell_ms),
                },
            ),
            momentum: Momentum::new(cfg.sample_ms, cfg.momentum_short_ms, cfg.momentum_long_ms, cfg.momentum_min_bps),
            atr: Atr::new(cfg.atr_bar_ms, cfg.atr_period),
            range: RangeBreak::new(&RangeRule {
                sample_ms: cfg.sample_ms,
                window_ms: cfg.range_window_ms,
                exclude_ms: cfg.range_exclude_ms,
                swing_ms: cfg.swing_window_ms,
                min_break_bps: cfg.breakout_min_bps,
                valid_ms: cfg.breakout_valid_ms,
                pullback_bps: cfg.pullback_min_bps,
            }),
            open_interest: OpenInterest::new(cfg.oi_sample_ms, cfg.oi_window_ms, qty_scale),
            stats: SignalStats::default(),
        }
    }

    /// Signals for a decoder's symbol entry.
    #[must_use]
    pub fn for_symbol(cfg: &SignalConfig, entry: &SymbolEntry) -> Self {
        Self::new(cfg, entry.price_scale, entry.qty_scale, entry.tick)
    }

    /// Moves the clock to `ts_ms` (never back) and every window with it;
    /// returns the clock. Call it from a timer to let windows expire
    /// without events.
    #[inline]
    pub fn advance(&mut self, ts_ms: i64) -> i64 {
        let now = if ts_ms < self.clock {
            self.stats.late_events += 1;
            self.clock
        } else {
            ts_ms
        };
        self.clock = now;
        if !self.started {
            self.started = true;
            self.trades.start(now);
            self.vwap.start(now);
            self.profile.start(now);
            self.liquidations.start(now);
        }
        self.ofi.advance(now);
        self.trades.advance(now);
        self.vwap.advance(now);
        self.profile.advance(now);
        self.liquidations.advance(now);
        self.ou.advance(now);
        self.momentum.advance(now);
        self.regime.advance(now);
        self.atr.advance(now);
        self.range.advance(now);
        self.open_interest.advance(now);
        now
    }

    /// The book after an applied depth frame or snapshot at exchange time
    /// `ts_ms`. The next book after [`Signals::book_reset`] (and the first)
    /// is an OFI baseline.
    #[inline]
    pub fn on_book<const N: usize>(&mut self, ts_ms: i64, book: &Book<N>) {
        self.tops[1 - self.cur].fill_from_book(book);
        self.fold_top(ts_ms);
    }

    /// [`Signals::on_book`] with the top levels already copied out (its
    /// first `K` levels per side are used).
    #[inline]
    pub fn on_top(&mut self, ts_ms: i64, top: &TopOfBook) {
        let next = &mut self.tops[1 - self.cur];
        let k = next.k;
        // Whole fixed-size arrays (inlined moves), then the levels past
        // `top.k` that this instrument's K still reads are cleared.
        next.bids = top.bids;
        next.asks = top.asks;
        if top.k < k {
            next.bids[top.k..k].fill((super::book_shape::NO_BID, 0));
            next.asks[top.k..k].fill((super::book_shape::NO_ASK, 0));
        }
        self.fold_top(ts_ms);
    }

    /// Folds in `tops[1 − cur]`.
    #[inline]
    fn fold_top(&mut self, ts_ms: i64) {
        let now = self.advance(ts_ms);
        let next = 1 - self.cur;
        let top = &self.tops[next];
        if !top.is_two_sided() {
            self.stats.one_sided_books += 1;
            self.book_reset();
            return;
        }
        self.stats.books += 1;
        let before = self.has_top.then_some(&self.tops[self.cur]);
        if before.is_none() {
            self.stats.baselines += 1;
        }
        self.ofi.on_book(now, before, top);
        self.shape = BookShape::of(top, self.price_scale, self.tick);
        let mid2 = top.mid2();
        self.volatility.on_mid(now, mid2);
        self.kinematics.on_mid(now, mid2);
        self.ou.on_mid(now, mid2);
        self.momentum.on_mid(now, mid2);
        self.regime.on_mid(now, mid2, self.volatility.value());
        self.atr.on_mid(now, mid2);
        self.range.on_mid(now, mid2);
        self.open_interest.on_mid(now, mid2);
        self.cur = next;
        self.has_top = true;
    }

    /// The book lost continuity: the next book is an OFI baseline.
    #[inline]
    pub fn book_reset(&mut self) {
        self.has_top = false;
    }

    /// Feeds one sync outcome of a depth frame (see the module docs).
    #[inline]
    pub fn on_depth<const N: usize>(&mut self, ts_ms: i64, book: &Book<N>, outcome: SyncOutcome) {
        match outcome {
            SyncOutcome::Applied { .. } => self.on_book(ts_ms, book),
            SyncOutcome::Gap { .. }
            | SyncOutcome::SnapshotTooOld { .. }
            | SyncOutcome::SnapshotAhead { .. }
            | SyncOutcome::Crossed { .. }
            | SyncOutcome::Corrupt(_) => self.book_reset(),
            SyncOutcome::Buffered
            | SyncOutcome::Stale
            | SyncOutcome::Unsynced
            | SyncOutcome::SnapshotNotNewer { .. } => {}
        }
    }

    /// One new trade. The caller passes each trade once: the core admits
    /// them by the market's one de-duplication rule before they get here.
    #[inline]
    pub fn on_trade(&mut self, trade: &Trade) {
        let now = self.advance(trade.trade_ms);
        self.stats.trades += 1;
        self.trades.on_trade(now, trade.qty.0, trade.taker_side);
        self.vwap.on_trade(now, trade.price.0, trade.qty.0);
        self.profile.on_trade(now, trade.price.0, trade.qty.0);
    }

    /// A funding update: the current rate and the next funding time.
    #[inline]
    pub fn on_funding(&mut self, ts_ms: i64, rate: Rate, next_funding_ms: i64) {
        self.advance(ts_ms);
        self.stats.funding_updates += 1;
        self.funding.on_funding(rate, next_funding_ms);
    }

    /// Open interest (quantity mantissa) known at `ts_ms`: a Bybit ticker,
    /// or the answer of the Binance REST poll.
    #[inline]
    pub fn on_open_interest(&mut self, ts_ms: i64, qty: crate::fixed::Qty) {
        let now = self.advance(ts_ms);
        self.open_interest.on_open_interest(now, qty.0);
    }

    /// One forced liquidation.
    #[inline]
    pub fn on_liquidation(&mut self, liq: &Liquidation) {
        let now = self.advance(liq.ts_ms);
        self.stats.liquidations += 1;
        self.liquidations.on_liquidation(now, liq.position_side, liq.price.0, liq.qty.0);
    }

    /// The clock: exchange time of the last event folded in.
    #[must_use]
    pub fn clock(&self) -> i64 {
        self.clock
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> SignalStats {
        self.stats
    }

    /// Volume-profile trades left out (range wider than the profile's rows).
    #[must_use]
    pub fn profile_dropped(&self) -> u64 {
        self.profile.dropped()
    }

    /// Which families are warm, as a mask of [`warm`] bits.
    #[must_use]
    pub fn warm_mask(&self) -> u16 {
        let now = self.clock;
        let mut m = 0;
        let mut set = |bit: u16, on: bool| {
            if on {
                m |= bit;
            }
        };
        set(warm::BOOK, self.shape.valid());
        set(warm::OFI, self.ofi.warm(now));
        set(warm::TRADE_FLOW, self.trades.warm(now));
        set(warm::SURGE, self.trades.surge_warm());
        set(warm::VWAP, self.vwap.warm(now));
        set(warm::PROFILE, self.profile.warm(now));
        set(warm::VOLATILITY, self.volatility.warm());
        set(warm::KINEMATICS, self.kinematics.warm());
        set(warm::OU, self.ou.warm());
        set(warm::FUNDING, self.funding.known());
        set(warm::LIQUIDATIONS, self.liquidations.warm(now));
        set(warm::REGIME, self.regime.warm());
        set(warm::MOMENTUM, self.momentum.warm());
        set(warm::ATR, self.atr.warm());
        set(warm::RANGE, self.range.warm());
        set(warm::OPEN_INTEREST, self.open_interest.warm());
        m
    }

    /// The current value of every signal.
    #[must_use]
    pub fn snapshot(&self) -> SignalSnapshot {
        let mut s = SignalSnapshot { ts_ms: if self.started { self.clock } else { 0 }, ..SignalSnapshot::default() };
        s.warm_mask = self.warm_mask();
        s.warm = s.warm_mask & warm::REQUIRED == warm::REQUIRED;
        self.shape.fill(&mut s);
        (s.ofi, s.ofi_multi) = self.ofi.values();
        self.trades.fill(&mut s, self.qty_scale);
        let mid = s.mid;
        self.vwap.fill(&mut s, mid, self.price_scale);
        self.profile.fill(&mut s, self.price_scale);
        s.volatility_bps = self.volatility.value();
        s.velocity_bps_s = self.kinematics.velocity();
        s.acceleration_bps_s2 = self.kinematics.acceleration();
        self.ou.fill(&mut s, self.price_scale);
        self.funding.fill(&mut s, self.clock);
        self.liquidations.fill(&mut s);
        self.regime.fill(&mut s);
        self.momentum.fill(&mut s);
        let price_unit = 1.0 / crate::fixed::pow10(self.price_scale) as f64;
        self.atr.fill(&mut s, price_unit);
        self.range.fill(&mut s, 0.5 * price_unit);
        self.open_interest.fill(&mut s);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::TradeSource;
    use crate::fixed::Qty;
    use crate::instrument::InstrumentId;
    use crate::side::Side;
    use crate::signal::Regime;

    fn book(bid: (i64, i64), ask: (i64, i64)) -> Book<64> {
        let mut b = Book::<64>::new(Price(10));
        if bid.1 > 0 {
            b.set(Side::Buy, Price(bid.0), Qty(bid.1)).unwrap();
        }
        if ask.1 > 0 {
            b.set(Side::Sell, Price(ask.0), Qty(ask.1)).unwrap();
        }
        b
    }

    fn trade(id: u64, ms: i64, qty: i64, side: Side) -> Trade {
        Trade {
            inst: InstrumentId(0),
            id,
            trade_ms: ms,
            event_ms: ms,
            price: Price(10_000),
            qty: Qty(qty),
            taker_side: side,
            source: TradeSource::Market,
        }
    }

    fn signals() -> Signals {
        Signals::new(&SignalConfig::default(), 1, 3, Price(10))
    }

    #[test]
    fn empty_signals_are_neutral() {
        let s = signals();
        let snap = s.snapshot();
        assert_eq!(snap.ts_ms, 0);
        assert!(!snap.warm);
        assert_eq!(snap.warm_mask, 0);
        assert_eq!((snap.mid, snap.ofi, snap.vwap, snap.buy_share), (0.0, 0.0, 0.0, 0.5));
        assert_eq!((snap.regime, snap.cascade, snap.momentum_aligned, snap.ou_drift), (Regime::Unknown, None, None, 0));
    }

    #[test]
    fn the_clock_never_goes_back() {
        let mut s = signals();
        s.on_trade(&trade(1, 1_000, 5, Side::Buy));
        s.on_trade(&trade(2, 990, 5, Side::Sell)); // 10 ms behind: folded in at 1000
        assert_eq!(s.clock(), 1_000);
        assert_eq!(s.stats().late_events, 1);
        let snap = s.snapshot();
        assert_eq!((snap.ts_ms, snap.signed_volume, snap.cvd), (1_000, 0.0, 0.0));
        // Every trade given is folded in (de-duplication is the market's).
        s.on_trade(&trade(2, 1_001, 7, Side::Buy));
        assert_eq!((s.stats().trades, s.snapshot().cvd), (3, 0.007));
    }

    #[test]
    fn resets_one_sided_books_and_outcomes_make_baselines() {
        let mut s = signals();
        s.on_book(0, &book((1000, 5), (1010, 5)));
        s.on_book(10, &book((1000, 9), (1010, 5))); // +4 at the bid
        assert_eq!((s.stats().baselines, s.snapshot().ofi > 0.0), (1, true));
        // A gap: the next book is a baseline, whatever it looks like.
        s.on_depth(20, &book((1000, 1), (1010, 5)), SyncOutcome::Gap { expected: 5, got: 7 });
        s.on_depth(30, &book((1000, 1), (1010, 5)), SyncOutcome::Applied { last_id: 8 });
        assert_eq!(s.stats().baselines, 2);
        // Buffered, stale, an ignored snapshot: nothing folded in.
        for outcome in [
            SyncOutcome::Buffered,
            SyncOutcome::Stale,
            SyncOutcome::Unsynced,
            SyncOutcome::SnapshotNotNewer { snapshot_id: 3, book_id: 9 },
        ] {
            s.on_depth(40, &book((1000, 1), (1010, 5)), outcome);
        }
        assert_eq!(s.stats().books, 3);
        // A one-sided book is counted, not used, and forces a baseline.
        s.on_book(50, &book((1000, 1), (0, 0)));
        assert_eq!((s.stats().one_sided_books, s.stats().books), (1, 3));
        assert_eq!(s.snapshot().mid, 100.5, "the last two-sided book still stands");
        s.on_book(60, &book((1000, 1), (1010, 5)));
        assert_eq!(s.stats().baselines, 3);
    }

    #[test]
    fn windows_empty_with_exchange_time_alone() {
        let mut s = signals();
        s.on_book(0, &book((1000, 5), (1010, 5)));
        s.on_trade(&trade(1, 0, 2_000, Side::Buy));
        assert_eq!(s.snapshot().signed_volume, 2.0);
        s.advance(1_000); // the trade window (1 s) has moved on
        let snap = s.snapshot();
        assert_eq!((snap.signed_volume, snap.cvd, snap.buy_share), (0.0, 2.0, 0.5));
        assert_eq!(snap.ofi, 0.0);
    }

    #[test]
    fn atr_range_and_open_interest_reach_the_snapshot() {
        let cfg = SignalConfig::from_toml_str(
            "atr_bar_ms = 1000\natr_period = 3\nrange_window_ms = 4000\nrange_exclude_ms = 1000\n\
             swing_window_ms = 2000\nbreakout_min_bps = 10.0\noi_sample_ms = 1000\noi_window_ms = 2000",
        )
        .unwrap();
        let mut s = Signals::new(&cfg, 1, 3, Price(10));
        // Mid 100.0 (mantissas 1000/1010 at price scale 1 → mid 100.5), flat for 6 s.
        for t in 0..6 {
            s.on_book(t * 1000, &book((1000, 5), (1010, 5)));
        }
        s.on_open_interest(5_000, Qty(2_000_000));
        let snap = s.snapshot();
        assert_eq!(snap.warm_mask & warm::ATR, warm::ATR);
        assert_eq!(snap.warm_mask & warm::RANGE, warm::RANGE);
        assert_eq!(snap.warm_mask & warm::OPEN_INTEREST, 0, "no open interest 2 s ago yet");
        assert_eq!((snap.atr, snap.range_high, snap.range_low), (0.0, 100.5, 100.5));
        assert_eq!(snap.open_interest, 2_000.0);
        // A jump of 2 % clears the range by far: a break up; the ATR rises.
        s.on_book(6_000, &book((1020, 5), (1030, 5)));
        let snap = s.snapshot();
        assert_eq!(snap.breakout, Some(crate::side::Side::Buy));
        assert_eq!(snap.swing_high, 102.5);
        s.on_open_interest(7_500, Qty(2_100_000));
        s.advance(8_000);
        let snap = s.snapshot();
        assert!(snap.atr > 0.0 && snap.atr_bps > 0.0, "{snap:?}");
        assert_eq!(snap.warm_mask & warm::OPEN_INTEREST, warm::OPEN_INTEREST);
        assert!((snap.oi_change_pct - 5.0).abs() < 1e-9, "{}", snap.oi_change_pct);
        assert!((snap.oi_price_change_bps - 1e4 * 2.0 / 100.5).abs() < 1e-9);
        // None of the three is required for `warm`.
        assert_eq!(warm::REQUIRED & (warm::ATR | warm::RANGE | warm::OPEN_INTEREST), 0);
    }
}
