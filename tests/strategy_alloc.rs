//! The strategy's hot path allocates nothing once warm: book-only signal
//! updates, entry evaluation (votes, gates, confidence, sizing), the
//! pre-trade risk gate, fills, exit evaluation and the closing fill, cycle
//! after cycle. Counted per thread by the crate's counting allocator.

use std::sync::Arc;

use scalpel::alloc_count::CountingAlloc;
use scalpel::backtest::exchange::quote_fill;
use scalpel::backtest::{BookOnlySignals, SignalSource};
use scalpel::book::{Book, DEFAULT_LEVELS};
use scalpel::event::{InstrumentId, Trade, TradeSource};
use scalpel::fixed::{Notional, Price, Qty, notional};
use scalpel::instrument::{Instrument, InstrumentTable};
use scalpel::order::{ClientOrderId, OrderKind};
use scalpel::risk::{CheckContext, GateSlot, RiskConfig, RiskGate, Verdict, VerdictCell};
use scalpel::side::Side;
use scalpel::signal::{Regime, SignalSnapshot};
use scalpel::strategy::{
    AccountView, MarketView, SignalFields, SizeLimits, Strategy, StrategyConfig, reference_long_snapshot,
};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

struct Rig {
    strategy: Strategy,
    gate: RiskGate,
    signals: BookOnlySignals,
    book: Book<DEFAULT_LEVELS>,
    instrument: Instrument,
    next_id: u64,
}

fn long_snapshot(mid: f64) -> SignalSnapshot {
    reference_long_snapshot(mid)
}

impl Rig {
    /// Decides on `snapshot` at `now_ms` and, if an order comes out, checks
    /// it at the gate and fills it at `price`.
    fn step(&mut self, now_ms: i64, bid: i64, snapshot: SignalSnapshot) -> bool {
        // Interim signals are fed too (their output is not used here).
        self.book.set(Side::Buy, Price(bid), Qty(2_000)).unwrap();
        self.book.set(Side::Sell, Price(bid + 10), Qty(500)).unwrap();
        self.signals.on_book(InstrumentId(0), &self.book, now_ms);
        let trade = Trade {
            inst: InstrumentId(0),
            id: now_ms as u64,
            trade_ms: now_ms,
            event_ms: now_ms,
            price: Price(bid + 10),
            qty: Qty(5),
            taker_side: Side::Buy,
            source: TradeSource::Market,
        };
        self.signals.on_trade(InstrumentId(0), &trade);
        let _ = self.signals.snapshot(InstrumentId(0));
        self.book.set(Side::Buy, Price(bid), Qty(0)).unwrap();
        self.book.set(Side::Sell, Price(bid + 10), Qty(0)).unwrap();

        let view = MarketView { now_ms, bid: Price(bid), ask: Price(bid + 10), snapshot, entries_allowed: true };
        let account = AccountView::new(Notional(10_000 * 100_000_000));
        let Some(action) = self.strategy.on_market(0, &view, &account) else { return false };
        let Some(order) = action.to_order(&self.instrument, ClientOrderId(self.next_id)) else { return false };
        self.next_id += 1;
        let now_ns = now_ms as u64 * 1_000_000;
        let ctx = CheckContext { now_ns, mid: Price(bid), mid_ts_ns: now_ns, ring_congested: false };
        if self.gate.check(GateSlot(0), &order, &ctx).is_err() {
            self.strategy.on_refused(0, now_ms);
            return false;
        }
        self.strategy.on_sent(0, order.client_id);
        let price = if order.kind == OrderKind::Limit { order.price } else { Price(bid) };
        let value = notional(price, 2, order.qty, 3).unwrap();
        let fee = Notional(value.0 / 5_000);
        let maker = order.kind == OrderKind::Limit;
        let fill = quote_fill(
            &self.instrument,
            order.client_id,
            order.side,
            order.client_id.0,
            price,
            order.qty,
            fee,
            maker,
            now_ms,
        );
        self.gate.on_fill(GateSlot(0), fill.side, fill.qty);
        self.strategy.on_fill(0, &fill, now_ms);
        true
    }

    /// One round trip: enter long, take profit, cool down.
    fn cycle(&mut self, t0: i64) {
        assert!(self.step(t0, 6_000_000, long_snapshot(60_000.05)), "entry at {t0}");
        assert!(self.strategy.position(0).is_some());
        // Below the take-profit: nothing.
        assert!(!self.step(
            t0 + 1_000,
            6_002_000,
            SignalSnapshot { regime: Regime::Ranging, ..SignalSnapshot::default() }
        ));
        // At it, momentum gone: exit.
        assert!(self.step(
            t0 + 2_000,
            6_010_000,
            SignalSnapshot { regime: Regime::Ranging, ..SignalSnapshot::default() }
        ));
        assert!(self.strategy.is_flat(0));
        // Cooling down: a candidate is not even evaluated.
        assert!(!self.step(t0 + 3_000, 6_000_000, long_snapshot(60_000.05)));
    }
}

#[test]
fn strategy_and_gate_allocate_nothing_when_warm() {
    let table = InstrumentTable::from_toml_str(scalpel::commands::instruments::BUILT_IN).unwrap();
    let btc = *table.get(scalpel::venue::Venue::BinanceUsdm, &"BTCUSDT".parse().unwrap()).unwrap();
    let mut cfg = StrategyConfig::default();
    cfg.entry.warmup_ms = 0;
    let limits = [SizeLimits { max_qty: Qty(1_000), max_notional: Notional(1_000 * 100_000_000) }];
    let risk = RiskConfig::from_table_str("max_order_notional_usdt = \"1000\"\nmax_position_notional_usdt = \"2000\"")
        .unwrap();
    let verdict = Arc::new(VerdictCell::new());
    verdict.publish(Verdict::RUN);
    let mut rig = Rig {
        strategy: Strategy::new(cfg, &[btc], &limits, SignalFields::ALL),
        gate: RiskGate::new(&risk, &[btc], verdict, 0).unwrap(),
        signals: BookOnlySignals::new(&[btc]),
        book: Book::new(btc.tick),
        instrument: btc,
        next_id: 1,
    };
    // Warm-up cycle (cool-down is 15 s by default: cycles 20 s apart).
    rig.cycle(1_000_000);
    let before = ALLOC.this_thread();
    for k in 1..=200 {
        rig.cycle(1_000_000 + 20_000 * k);
    }
    let allocations = ALLOC.this_thread() - before;
    assert_eq!(allocations, 0, "{allocations} allocations in 200 warm round trips");
    assert_eq!(rig.strategy.kelly_stats().trades(), 201);
}
