//! Hot-thread risk costs: one gate check (pass and refusal), one verdict
//! load, one push + pop on each ring. Run with `cargo bench --bench risk`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use scalpel::fixed::{Price, Qty};
use scalpel::instrument::{InstrumentTable, Symbol};
use scalpel::order::{ClientOrderId, OrderEvent, OrderKind, OrderRequest, TimeInForce};
use scalpel::ring;
use scalpel::risk::gate::{CheckContext, RiskGate};
use scalpel::risk::monitor::RiskInput;
use scalpel::risk::{RiskConfig, Verdict, VerdictCell};
use scalpel::side::Side;
use scalpel::venue::Venue;

fn benches(c: &mut Criterion) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/instruments.toml");
    let table = InstrumentTable::from_toml_file(&path).unwrap();
    let cell = Arc::new(VerdictCell::new());
    cell.publish(Verdict::RUN);
    let mut gate = RiskGate::new(&RiskConfig::default(), table.all(), Arc::clone(&cell), 0).unwrap();
    let btc = Symbol::new(b"BTCUSDT").unwrap();
    let slot = gate.slot(Venue::BinanceUsdm, &btc).unwrap();
    let mid = Price(5_000_000);
    let order = OrderRequest {
        venue: Venue::BinanceUsdm,
        symbol: btc,
        side: Side::Buy,
        kind: OrderKind::Limit,
        tif: TimeInForce::PostOnly,
        price: Price(4_999_000),
        qty: Qty(5),
        reduce_only: false,
        client_id: ClientOrderId(1),
    };

    let mut now = 0u64;
    c.bench_function("gate check, pass (+ release)", |b| {
        b.iter(|| {
            // 50 ms per order keeps every rate bucket non-empty.
            now += 50_000_000;
            let ctx = CheckContext { now_ns: now, mid, mid_ts_ns: now, ring_congested: false };
            let r = gate.check(slot, black_box(&order), &ctx);
            gate.on_order_done(slot, Side::Buy, Qty(5));
            black_box(r)
        });
    });
    let fat = OrderRequest { price: Price(6_000_000), ..order };
    c.bench_function("gate check, refused (price band)", |b| {
        b.iter(|| {
            now += 1;
            let ctx = CheckContext { now_ns: now, mid, mid_ts_ns: now, ring_congested: false };
            black_box(gate.check(slot, black_box(&fat), &ctx))
        });
    });
    c.bench_function("verdict load", |b| b.iter(|| black_box(cell.load())));

    let (tx, rx) = ring::lossless::<RiskInput>(1024, 768);
    let input = RiskInput::Order(OrderEvent::Submitted { order, ts_raw: 1 });
    c.bench_function("lossless ring push + pop (RiskInput)", |b| {
        b.iter(|| {
            tx.try_push(black_box(input)).unwrap();
            black_box(rx.pop())
        });
    });
    let (ltx, lrx) = ring::lossy::<u64>(1024);
    c.bench_function("lossy ring push + pop (u64)", |b| {
        b.iter(|| {
            black_box(ltx.push(black_box(7)));
            black_box(lrx.pop())
        });
    });
}

criterion_group! {
    name = risk;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(risk);
