//! The hot-thread side of risk allocates nothing after warm-up: gate checks
//! (passing and refused), fills, releases, usage corrections, verdict reads,
//! and pushes and pops on both rings. Counted by a local counting global
//! allocator (per thread, so the test harness's own threads do not count).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use scalpel::fixed::{Price, Qty};
use scalpel::instrument::{InstrumentTable, Symbol};
use scalpel::journal::Stage;
use scalpel::journal::thread::Telemetry;
use scalpel::order::{ClientOrderId, OrderEvent, OrderKind, OrderRequest, TimeInForce};
use scalpel::ring;
use scalpel::risk::gate::{CheckContext, RiskGate, VenueUsage};
use scalpel::risk::monitor::RiskInput;
use scalpel::risk::{Mode, RiskConfig, Verdict, VerdictCell};
use scalpel::side::Side;
use scalpel::venue::Venue;

struct CountingAlloc;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: thread-locals may be gone while a thread exits.
    let counting = COUNTING.try_with(Cell::get).unwrap_or(false);
    if counting {
        let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; the counting touches only
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: as above; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations_during(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn counting_allocator_sees_allocations() {
    // The harness can fail: a Vec allocates.
    let n = allocations_during(|| {
        let v: Vec<u64> = Vec::with_capacity(std::hint::black_box(16));
        std::hint::black_box(v);
    });
    assert_eq!(n, 1);
}

#[test]
fn hot_path_risk_allocates_nothing_after_warm_up() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/instruments.toml");
    let table = InstrumentTable::from_toml_file(&path).unwrap();
    let cfg = RiskConfig::default();
    let cell = Arc::new(VerdictCell::new());
    cell.publish(Verdict::RUN);
    let mut gate = RiskGate::new(&cfg, table.all(), Arc::clone(&cell), 0).unwrap();
    let btc = Symbol::new(b"BTCUSDT").unwrap();
    let bn = gate.slot(Venue::BinanceUsdm, &btc).unwrap();
    let by = gate.slot(Venue::BybitLinear, &btc).unwrap();
    let (to_risk, risk_in) = ring::lossless::<RiskInput>(1024, 768);
    let (telemetry, telemetry_rx) = ring::lossy::<Telemetry>(64);
    let mid = Price(5_000_000);

    let round = |i: u64, gate: &mut RiskGate| {
        let now_ns = i * 50_000_000; // 20 orders / s: inside every bucket
        let ctx = CheckContext { now_ns, mid, mid_ts_ns: now_ns, ring_congested: to_risk.is_congested() };
        let (slot, venue) = if i % 2 == 0 { (bn, Venue::BinanceUsdm) } else { (by, Venue::BybitLinear) };
        let order = OrderRequest {
            venue,
            symbol: btc,
            side: if i % 4 < 2 { Side::Buy } else { Side::Sell },
            kind: if i % 3 == 0 { OrderKind::Market } else { OrderKind::Limit },
            tif: TimeInForce::PostOnly,
            price: mid,
            qty: Qty(1),
            reduce_only: false,
            client_id: ClientOrderId(i),
        };
        if gate.verdict().mode == Mode::Run && gate.check(slot, &order, &ctx).is_ok() {
            to_risk.push_spin(RiskInput::Order(OrderEvent::Submitted { order, ts_raw: now_ns })).unwrap();
            gate.on_fill(slot, order.side, Qty(1));
        }
        // A refusal (price band) is counted without allocating.
        let fat = OrderRequest { price: Price(mid.0 * 2), kind: OrderKind::Limit, ..order };
        assert!(gate.check(slot, &fat, &ctx).is_err());
        if i % 10 == 0 {
            gate.observe_usage(VenueUsage::Binance { order_count_10s: Some(1), order_count_1m: Some(2) }, now_ns);
            gate.observe_usage(VenueUsage::Bybit { slot: by, remaining: 9 }, now_ns);
        }
        gate.on_order_done(slot, order.side, Qty(0));
        telemetry.push(Telemetry::Latency { stage: Stage::Decide, ns: i });
        telemetry.push(Telemetry::Refusal { order: fat, reason: scalpel::risk::Refusal::PriceBand });
        // The consumers' side, here on the same thread.
        while risk_in.pop().is_some() {}
        if i % 50 == 0 {
            while telemetry_rx.pop().is_some() {}
        }
    };
    for i in 0..1_000 {
        round(i, &mut gate);
    }
    let before = gate.passed();
    let allocations = allocations_during(|| {
        for i in 1_000..101_000 {
            round(i, &mut gate);
        }
    });
    assert_eq!(allocations, 0, "the hot path allocated");
    assert!(gate.passed() > before + 50_000, "too few orders passed: {}", gate.passed() - before);
    assert!(gate.refusals().total() >= 100_000);
    assert!(telemetry_rx.dropped() > 0, "the lossy ring never filled");
}
