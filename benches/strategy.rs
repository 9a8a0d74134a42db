//! Strategy decision costs per market event: a flat symbol whose votes
//! make no candidate (the common case), a full entry evaluation (votes,
//! every gate, confidence, sizing) that proposes an order, and exit
//! evaluation of an open position. Run with `cargo bench --bench strategy`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use scalpel::backtest::exchange::quote_fill;
use scalpel::fixed::{Notional, Price, Qty};
use scalpel::instrument::InstrumentTable;
use scalpel::order::ClientOrderId;
use scalpel::side::Side;
use scalpel::signal::{Regime, SignalSnapshot};
use scalpel::strategy::{
    AccountView, MarketView, SignalFields, SizeLimits, Strategy, StrategyConfig, reference_long_snapshot,
};
use scalpel::venue::Venue;

fn long() -> SignalSnapshot {
    reference_long_snapshot(60_000.05)
}

fn benches(c: &mut Criterion) {
    let table = InstrumentTable::from_toml_str(scalpel::commands::instruments::BUILT_IN).unwrap();
    let btc = *table.get(Venue::BinanceUsdm, &"BTCUSDT".parse().unwrap()).unwrap();
    let mut cfg = StrategyConfig::default();
    cfg.entry.warmup_ms = 0;
    cfg.entry.refusal_backoff_ms = 0;
    let limits = [SizeLimits { max_qty: Qty(1_000), max_notional: Notional(1_000 * 100_000_000) }];
    let account = AccountView::new(Notional(10_000 * 100_000_000));
    let view = |now_ms: i64, snapshot: SignalSnapshot| MarketView {
        now_ms,
        bid: Price(6_000_000),
        ask: Price(6_000_010),
        snapshot,
        entries_allowed: true,
    };

    let mut s = Strategy::new(cfg.clone(), &[btc], &limits, SignalFields::ALL);
    let quiet = SignalSnapshot { regime: Regime::Ranging, mid: 60_000.05, ..SignalSnapshot::default() };
    let mut now = 0i64;
    c.bench_function("strategy: flat, no candidate", |b| {
        b.iter(|| {
            now += 1;
            black_box(s.on_market(0, black_box(&view(now, quiet)), &account))
        });
    });

    let mut s = Strategy::new(cfg.clone(), &[btc], &limits, SignalFields::ALL);
    c.bench_function("strategy: flat, full entry evaluation → order", |b| {
        b.iter(|| {
            now += 1;
            let a = s.on_market(0, black_box(&view(now, long())), &account);
            // Back to flat for the next iteration (no back-off configured).
            s.on_refused(0, now);
            black_box(a)
        });
    });

    let mut s = Strategy::new(cfg, &[btc], &limits, SignalFields::ALL);
    s.on_market(0, &view(1, long()), &account).unwrap();
    s.on_sent(0, ClientOrderId(1));
    let fill = quote_fill(&btc, ClientOrderId(1), Side::Buy, 1, Price(6_000_000), Qty(8), Notional(9_600_000), true, 1);
    s.on_fill(0, &fill, 1);
    now = 2;
    c.bench_function("strategy: open position, exits checked", |b| {
        b.iter(|| {
            // Stays inside the levels and the time stop (cycles within 1 s).
            now = 2 + (now + 1) % 1_000;
            black_box(s.on_market(0, black_box(&view(now, quiet)), &account))
        });
    });
}

criterion_group! {
    name = strategy;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = benches
}
criterion_main!(strategy);
