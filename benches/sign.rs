//! Encode + HMAC-SHA256 sign one order, per venue and transport
//! (DESIGN budget: ≤ 700 ns). Includes the pre-signing checks (rounding,
//! min/max quantity, min notional) that every real order goes through.
//! Run with `cargo bench --bench sign`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use scalpel::fixed::{Price, Qty};
use scalpel::instrument::{Instrument, Symbol};
use scalpel::order::ids::{RequestOp, RequestTag};
use scalpel::order::{ClientOrderId, OrderKind, OrderRequest, TimeInForce};
use scalpel::side::Side;
use scalpel::venue::Venue;
use scalpel::venue::binance::order::BinanceOrderEncoder;
use scalpel::venue::bybit::order::BybitOrderEncoder;
use scalpel::venue::credentials::Credentials;
use scalpel::venue::signed_request::RecvWindow;

fn instrument(venue: Venue) -> Instrument {
    Instrument::reference_btcusdt(venue)
}

fn order(venue: Venue) -> OrderRequest {
    OrderRequest {
        venue,
        symbol: Symbol::new(b"BTCUSDT").unwrap(),
        side: Side::Buy,
        kind: OrderKind::Limit,
        tif: TimeInForce::PostOnly,
        price: Price(6_180_027),
        qty: Qty(14),
        reduce_only: false,
        client_id: ClientOrderId(123_456_789),
    }
}

fn bench(c: &mut Criterion) {
    // A real Binance key/secret is 64 characters, Bybit's 18 / 36.
    let binance = BinanceOrderEncoder::new(Credentials::new(&[b'K'; 64], &[b'S'; 64]).unwrap(), RecvWindow::DEFAULT);
    let bybit = BybitOrderEncoder::new(Credentials::new(&[b'K'; 18], &[b'S'; 36]).unwrap(), RecvWindow::DEFAULT);
    let (bn, by) = (instrument(Venue::BinanceUsdm), instrument(Venue::BybitLinear));
    let (bo, yo) = (order(Venue::BinanceUsdm), order(Venue::BybitLinear));
    let tag = RequestTag::new(RequestOp::Place, ClientOrderId(123_456_789));
    let ts = 1_700_000_000_000u64;
    let mut buf = [0u8; 1024];

    let mut g = c.benchmark_group("sign_order");
    g.bench_function("binance_rest_new_order", |b| {
        b.iter(|| {
            binance
                .rest_new_order(black_box(&bo), &bn, Price::ZERO, black_box(ts), &mut buf)
                .map(|s| s.request.query.len())
        })
    });
    g.bench_function("binance_ws_order_place", |b| {
        b.iter(|| {
            binance.ws_place(black_box(&bo), &bn, Price::ZERO, tag, black_box(ts), &mut buf).map(|s| s.request.len())
        })
    });
    g.bench_function("bybit_rest_order_create", |b| {
        b.iter(|| {
            bybit.rest_create(black_box(&yo), &by, Price::ZERO, black_box(ts), &mut buf).map(|s| s.request.body.len())
        })
    });
    g.bench_function("bybit_ws_order_create", |b| {
        b.iter(|| {
            bybit.ws_create(black_box(&yo), &by, Price::ZERO, tag, black_box(ts), &mut buf).map(|s| s.request.len())
        })
    });
    g.bench_function("binance_ws_order_cancel", |b| {
        b.iter(|| binance.ws_cancel(&bo.symbol, black_box(bo.client_id), tag, black_box(ts), &mut buf).map(<[u8]>::len))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
