//! Proves the order path allocates nothing after warm-up: encode and sign
//! every request kind for both venues, many times, under a counting global
//! allocator. The counter is per thread, so tests running in parallel on
//! other threads do not disturb the count.
//! (`src/alloc_count.rs` on main will provide a shared `CountingAlloc`;
//! until it is merged this file carries its own.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use scalpel::fixed::{Notional, Price, Qty};
use scalpel::instrument::{Instrument, Symbol};
use scalpel::order::ids::{RequestOp, RequestTag};
use scalpel::order::{ClientOrderId, OrderKind, OrderRequest, TimeInForce};
use scalpel::side::Side;
use scalpel::venue::Venue;
use scalpel::venue::binance::order::BinanceOrderEncoder;
use scalpel::venue::bybit::order::BybitOrderEncoder;
use scalpel::venue::credentials::Credentials;
use scalpel::venue::signed_request::RecvWindow;

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
    Instrument { min_notional: Notional(5 * 100_000_000), ..Instrument::reference_btcusdt(venue) }
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

const BINANCE_TRADE: &str = r#"{"e":"ORDER_TRADE_UPDATE","E":1568879465651,"T":1568879465650,"o":{"s":"BTCUSDT","c":"scalpel-7","S":"SELL","o":"LIMIT","f":"GTC","q":"0.002","p":"64089.20","ap":"64089.2","sp":"0","x":"TRADE","X":"PARTIALLY_FILLED","i":8886774,"l":"0.001","z":"0.001","L":"64089.20","N":"USDT","n":"0.01281784","T":1568879465650,"t":109100866,"b":"0","a":"9.91","m":true,"R":false,"wt":"CONTRACT_PRICE","ot":"LIMIT","ps":"BOTH","cp":false,"rp":"0","pP":false,"si":0,"ss":0,"V":"EXPIRE_TAKER","pm":"NONE","gtd":0}}"#;
const BINANCE_WS_ACK: &str = r#"{"id":"n-7-0","status":200,"result":{"orderId":325078477,"symbol":"BTCUSDT","status":"NEW","clientOrderId":"scalpel-7","price":"43187.00","avgPrice":"0.00","origQty":"0.100","executedQty":"0.000","cumQty":"0.000","cumQuote":"0.00000","timeInForce":"GTC","type":"LIMIT","reduceOnly":false,"closePosition":false,"side":"BUY","positionSide":"BOTH","stopPrice":"0.00","workingType":"CONTRACT_PRICE","priceProtect":false,"origType":"LIMIT","priceMatch":"NONE","selfTradePreventionMode":"NONE","goodTillDate":0,"updateTime":1702555534435},"rateLimits":[{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":300,"count":1},{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":2400,"count":1}]}"#;
const BYBIT_EXECUTION: &str = r#"{"id":"5923","topic":"execution","creationTime":1672364174455,"data":[{"category":"linear","symbol":"BTCUSDT","execFee":"0.005061","execId":"7e2ae69c-4edf-5800-a352-893d52b446aa","execPrice":"61800.20","execQty":"0.025","execType":"Trade","execValue":"8.435","isMaker":false,"feeRate":"0.0006","leavesQty":"0","orderId":"f6e324ff-99c2-4e89-9739-3086e47f9381","orderLinkId":"scalpel-5","orderPrice":"61800.20","orderQty":"0.025","orderType":"Limit","side":"Sell","execTime":"1672364174443","seq":4688002127}]}"#;
const BYBIT_ACK: &str = r#"{"reqId":"n-5-0","retCode":0,"retMsg":"OK","op":"order.create","data":{"orderId":"1321003749386327552","orderLinkId":"scalpel-5"},"header":{"X-Bapi-Limit":"10","X-Bapi-Limit-Status":"9","X-Bapi-Limit-Reset-Timestamp":"1711001595207","Traceid":"77b6a2f3c0f","Timenow":"1711001595209"},"connId":"x"}"#;

#[test]
fn parsing_acks_and_fills_and_tracking_state_allocate_nothing_after_warm_up() {
    use scalpel::instrument::InstrumentTable;
    use scalpel::order::state::OrderTable;
    use scalpel::venue::binance::private::BinancePrivateParser;
    use scalpel::venue::bybit::private::BybitPrivateParser;
    use scalpel::venue::private_event::{EMPTY_EVENT, PrivateEvent};

    let instruments = InstrumentTable::from_toml_str(include_str!("../tuning/instruments.toml")).unwrap();
    let mut binance = BinancePrivateParser::new();
    let mut bybit = BybitPrivateParser::new();
    let mut table: OrderTable = OrderTable::new(1024, 8);
    let mut frame = vec![0u8; 4096];
    let mut out = [EMPTY_EVENT; 16];
    let mut round = |seq: u64, frame: &mut [u8], table: &mut OrderTable| -> usize {
        let mut events = 0;
        let mut parse = |text: &str, which: u8, frame: &mut [u8], table: &mut OrderTable| {
            let buf = &mut frame[..text.len()];
            buf.copy_from_slice(text.as_bytes());
            let n = match which {
                0 => binance.user_data(buf, &instruments, &mut out),
                1 => binance.ws_response(buf, &instruments, &mut out),
                _ => bybit.ws_frame(buf, &instruments, &mut out),
            }
            .unwrap();
            for e in &out[..n] {
                if let PrivateEvent::Order(event) = e {
                    // Re-key onto this round's order so the table keeps working.
                    let mut event = *event;
                    match &mut event {
                        scalpel::order::OrderEvent::Filled(f) => {
                            f.client_id = ClientOrderId(seq);
                            f.trade_id = scalpel::order::TradeId(u128::from(seq) << 8 | u128::from(which));
                        }
                        scalpel::order::OrderEvent::Acked { client_id, .. } => *client_id = ClientOrderId(seq),
                        _ => {}
                    }
                    let _ = table.apply(&event);
                }
            }
            n
        };
        let mut o = order(Venue::BinanceUsdm, seq);
        o.client_id = ClientOrderId(seq);
        table.apply(&scalpel::order::OrderEvent::Submitted { order: o, ts_raw: seq }).unwrap();
        events += parse(BINANCE_WS_ACK, 1, frame, table);
        events += parse(BINANCE_TRADE, 0, frame, table);
        events += parse(BYBIT_ACK, 2, frame, table);
        events += parse(BYBIT_EXECUTION, 2, frame, table);
        table.apply(&scalpel::order::OrderEvent::Cancelled { client_id: ClientOrderId(seq), ts_ms: 0 }).unwrap();
        table.retire_terminal(|o| o.order.client_id.0 + 512 > seq);
        events
    };
    for seq in 0..200 {
        round(seq, &mut frame, &mut table);
    }
    let before = allocations();
    let mut total = 0;
    for seq in 200..5_200 {
        total += round(seq, &mut frame, &mut table);
    }
    let after = allocations();
    assert_eq!(total, 5_000 * 6, "every frame parsed into its events");
    assert_eq!(after - before, 0, "allocations while parsing 20 000 private frames and tracking 5 000 orders");
}

#[test]
fn the_counter_counts() {
    let before = allocations();
    let v: Vec<u8> = Vec::with_capacity(16);
    std::hint::black_box(&v);
    assert!(allocations() > before, "the counting allocator must see a Vec allocation");
}
