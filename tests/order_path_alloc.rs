//! Proves the order path allocates nothing after warm-up: encode and sign
//! every request kind for both venues, many times, under a counting global
//! allocator. The counter is per thread, so tests running in parallel on
//! other threads do not disturb the count.
//! (`src/alloc_count.rs` on main will provide a shared `CountingAlloc`;
//! until it is merged this file carries its own.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use scalpel::fixed::{Notional, Price, Qty};
use scalpel::instrument::{FeeSchedule, Instrument, Symbol};
use scalpel::order::ids::{RequestOp, RequestTag};
use scalpel::order::{ClientOrderId, OrderKind, OrderRequest, TimeInForce};
use scalpel::side::Side;
use scalpel::venue::binance::order::BinanceOrderEncoder;
use scalpel::venue::bybit::order::BybitOrderEncoder;
use scalpel::venue::credentials::Credentials;
use scalpel::venue::signed_request::RecvWindow;
use scalpel::venue::Venue;

struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: delegates every call unchanged to the system allocator; the
// thread-local counter is a const-initialised Cell, which never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

fn instrument(venue: Venue) -> Instrument {
    Instrument {
        venue,
        symbol: Symbol::new(b"BTCUSDT").unwrap(),
        price_scale: 2,
        qty_scale: 3,
        tick: Price(10),
        step: Qty(1),
        min_qty: Qty(1),
        max_qty: Qty(1_000_000),
        max_market_qty: Qty(120_000),
        min_notional: Notional(5 * 100_000_000),
        fees: FeeSchedule::default_for(venue),
    }
}

fn order(venue: Venue, seq: u64) -> OrderRequest {
    OrderRequest {
        venue,
        symbol: Symbol::new(b"BTCUSDT").unwrap(),
        side: if seq % 2 == 0 { Side::Buy } else { Side::Sell },
        kind: if seq % 3 == 0 { OrderKind::Market } else { OrderKind::Limit },
        tif: [TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::PostOnly][(seq % 3) as usize],
        price: Price(6_000_000 + (seq % 1000) as i64 * 7),
        qty: Qty(1 + (seq % 50) as i64),
        reduce_only: seq % 5 == 0,
        client_id: ClientOrderId(seq),
    }
}

#[test]
fn encoding_and_signing_allocate_nothing_after_warm_up() {
    let creds = Credentials::new(b"apikeyapikeyapikey", b"secretsecretsecret").unwrap();
    let binance = BinanceOrderEncoder::new(creds.clone(), RecvWindow::DEFAULT);
    let bybit = BybitOrderEncoder::new(creds, RecvWindow::DEFAULT);
    let (bn, by) = (instrument(Venue::BinanceUsdm), instrument(Venue::BybitLinear));
    let mut buf = vec![0u8; 4096];
    let run = |seq: u64, buf: &mut [u8]| -> usize {
        let mut bytes = 0;
        let mut o = order(Venue::BinanceUsdm, seq);
        if o.kind == OrderKind::Market {
            o.tif = TimeInForce::Gtc;
        }
        let tag = RequestTag::new(RequestOp::Place, o.client_id);
        bytes += binance.rest_new_order(&o, &bn, Price(6_000_000), seq, buf).unwrap().request.query.len();
        bytes += binance.ws_place(&o, &bn, Price(6_000_000), tag, seq, buf).unwrap().request.len();
        bytes += binance.rest_cancel(&o.symbol, o.client_id, seq, buf).unwrap().query.len();
        bytes += binance.ws_cancel(&o.symbol, o.client_id, tag, seq, buf).unwrap().len();
        bytes += binance.rest_cancel_all(&o.symbol, seq, buf).unwrap().query.len();
        let mut limit = o;
        limit.kind = OrderKind::Limit;
        bytes += binance.ws_modify(&limit, &bn, tag, seq, buf).unwrap().request.len();
        o.venue = Venue::BybitLinear;
        bytes += bybit.rest_create(&o, &by, Price(6_000_000), seq, buf).unwrap().request.body.len();
        bytes += bybit.ws_create(&o, &by, Price(6_000_000), tag, seq, buf).unwrap().request.len();
        bytes += bybit.rest_cancel(&o.symbol, o.client_id, seq, buf).unwrap().body.len();
        bytes += bybit.ws_cancel(&o.symbol, o.client_id, tag, seq, buf).unwrap().len();
        bytes += bybit.rest_cancel_all(&o.symbol, seq, buf).unwrap().body.len();
        bytes += bybit.ws_auth(tag, seq, buf).unwrap().len();
        bytes
    };
    for seq in 0..100 {
        run(seq, &mut buf);
    }
    let before = allocations();
    let mut total = 0;
    for seq in 100..10_100 {
        total += run(seq, &mut buf);
    }
    let after = allocations();
    assert!(total > 0);
    assert_eq!(after - before, 0, "allocations while encoding 10 000 orders × 12 requests");
}

#[test]
fn the_counter_counts() {
    let before = allocations();
    let v: Vec<u8> = Vec::with_capacity(16);
    std::hint::black_box(&v);
    assert!(allocations() > before, "the counting allocator must see a Vec allocation");
}
