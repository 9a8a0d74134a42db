//! The trading core on hand-written frames: stream bindings, clock bounds,
//! resync fallbacks, pulls, the one ledger (late fills, duplicates, other
//! sessions, send failures), reconciliation, funding and account updates.
//! Each test says what went wrong before the core, where it did.

mod common;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use scalpel::core::{
    BindMode, BookKind, Core, FeedId, FeedState, Intent, Intents, NoProbe, OrderRole, PriceSource, PrivateSource,
    RiskLink, StreamKind,
};
use scalpel::fixed::{Notional, Price, Qty, RefPrice, SignedQty};
use scalpel::instrument::{InstrumentId, Venue};
use scalpel::order::state::OrderStatus;
use scalpel::order::{ClientOrderId, FeeKind, Fill, OrderEvent, PositionUpdate, RejectReason, SessionEpoch, TradeId};
use scalpel::profile::Profile;
use scalpel::risk::{RiskCommand, RiskInput, Verdict, VerdictCell};
use scalpel::side::Side;
use scalpel::signal::{BookOnlySignals, LiveSignals, SignalConfig, SignalSource};
use scalpel::strategy::ExitReason;
use scalpel::venue::private_event::{AccountUpdate, FundingPayment, PrivateEvent};

const T0: i64 = 1_700_000_000_000;
const EPOCH: SessionEpoch = SessionEpoch(1_700_000_000);
const USDT: i64 = 100_000_000;

/// What the core sent to the risk side, and commands to hand back.
#[derive(Default)]
struct Link {
    inputs: Vec<RiskInput>,
    commands: VecDeque<RiskCommand>,
}

impl RiskLink for Link {
    fn send(&mut self, input: &RiskInput, _now_ns: u64) {
        self.inputs.push(*input);
    }
    fn command(&mut self) -> Option<RiskCommand> {
        self.commands.pop_front()
    }
    fn equity(&self) -> Notional {
        Notional(10_000 * USDT)
    }
}

/// Book-only signals, market or post-only entries when taker flow and the
/// microprice agree, B exits: 10 % away, or the 5 s time stop.
fn profile(post_only: bool) -> Profile {
    let text = format!(
        r#"
[instruments]
symbols = ["BTCUSDT"]
venues = ["binance-usdm", "bybit-linear"]
[strategy]
post_only_entries = {post_only}
warmup_secs = 0
cooldown_secs = 30
entry_timeout_ms = 60000
[votes]
order_flow_fallback = "signed-volume"
drift_fallback = "microprice"
signed_volume_usdt_threshold = 1000.0
microprice_threshold_bps = 0.001
[gates.edge]
enabled = false
[confidence]
large_from = 100
[sizing]
b_equity_fraction = "0.04"
[exits.b]
take_profit_bps = "1000"
stop_loss_bps = "1000"
max_hold_secs = 5
[risk]
initial_equity_usdt = "10000"
"#
    );
    Profile::from_toml_str(&text, Path::new(".")).expect("test profile")
}

fn depth(e: i64, first: u64, last: u64, prev: u64, bid: &str, ask: &str) -> String {
    format!(
        r#"{{"stream":"btcusdt@depth@0ms","data":{{"e":"depthUpdate","E":{e},"T":{e},"s":"BTCUSDT","U":{first},"u":{last},"pu":{prev},"b":[{bid}],"a":[{ask}]}}}}"#
    )
}

fn snapshot(e: i64, id: u64) -> String {
    format!(
        r#"{{"lastUpdateId":{id},"E":{e},"T":{e},"bids":[["50000.00","2.000"],["49999.90","5.000"]],"asks":[["50000.10","0.500"],["50000.20","5.000"]]}}"#
    )
}

fn book_ticker(e: i64, id: u64, bid: &str, ask: &str) -> String {
    format!(
        r#"{{"stream":"btcusdt@bookTicker","data":{{"e":"bookTicker","u":{id},"s":"BTCUSDT","b":"{bid}","B":"2.000","a":"{ask}","A":"0.500","T":{e},"E":{e}}}}}"#
    )
}

fn trade(e: i64, id: u64, price: &str) -> String {
    format!(
        r#"{{"stream":"btcusdt@trade","data":{{"e":"trade","E":{e},"T":{e},"s":"BTCUSDT","t":{id},"p":"{price}","q":"0.100","X":"MARKET","m":false}}}}"#
    )
}

fn mark_price(e: i64, mark: &str) -> String {
    format!(
        r#"{{"stream":"btcusdt@markPrice@1s","data":{{"e":"markPriceUpdate","E":{e},"s":"BTCUSDT","p":"{mark}","i":"{mark}","P":"{mark}","r":"0.0001","T":{}}}}}"#,
        e + 3_600_000
    )
}

fn bybit_book(kind: &str, depth: u16, u: u64, bid: &str) -> String {
    format!(
        r#"{{"topic":"orderbook.{depth}.BTCUSDT","type":"{kind}","ts":{T0},"data":{{"s":"BTCUSDT","b":[["{bid}","1.000"]],"a":[["70000.00","1.000"]],"u":{u},"seq":{u}}},"cts":{T0}}}"#
    )
}

struct Rig<S: SignalSource = BookOnlySignals> {
    core: Core<Link, S, NoProbe>,
    out: Intents,
    feed: FeedId,
    btc: InstrumentId,
}

impl Rig<BookOnlySignals> {
    fn new(post_only: bool, mode: BindMode) -> Self {
        let p = profile(post_only);
        Self::with(&p, BookOnlySignals::new(p.instruments.all()), Venue::BinanceUsdm, mode)
    }
}

impl<S: SignalSource> Rig<S> {
    fn with(p: &Profile, signals: S, venue: Venue, mode: BindMode) -> Self {
        let verdict = Arc::new(VerdictCell::new());
        verdict.publish(Verdict::RUN);
        let mut core = Core::new(p, signals, Link::default(), NoProbe, EPOCH, verdict).unwrap();
        let feed = core.add_feed(venue, mode);
        let btc = InstrumentId(
            core.instruments().iter().position(|i| i.venue == venue && i.symbol.as_str() == "BTCUSDT").unwrap() as u16,
        );
        let out = Intents::with_capacity(core.intents_capacity());
        Self { core, out, feed, btc }
    }

    /// One frame received at exchange time `ms`; the intents it produced.
    fn frame(&mut self, ms: i64, text: &str) -> Vec<Intent> {
        let mut bytes = text.as_bytes().to_vec();
        self.core.on_frame(self.feed, &mut bytes, ms as u64 * 1_000_000, &mut self.out);
        self.out.drain().collect()
    }

    fn order(&mut self, ms: i64, event: OrderEvent) -> Vec<Intent> {
        self.core.on_order_event(&event, ms as u64 * 1_000_000, &mut self.out);
        self.out.drain().collect()
    }

    fn private(&mut self, ms: i64, event: PrivateEvent) -> Vec<Intent> {
        self.core.on_private(&event, ms as u64 * 1_000_000, &mut self.out);
        self.out.drain().collect()
    }

    fn timer(&mut self, ms: i64) -> Vec<Intent> {
        self.core.on_timer(ms as u64 * 1_000_000, &mut self.out);
        self.out.drain().collect()
    }

    /// A synced book (diff, then the REST snapshot that bridges it) and a
    /// burst of taker buying: the strategy enters long. Returns the entry.
    fn open_long(&mut self) -> (ClientOrderId, Qty) {
        self.frame(T0, &depth(T0, 10, 12, 9, r#"["50000.00","2.000"]"#, r#"["50000.10","0.500"]"#));
        self.frame(T0 + 1, &snapshot(T0 + 1, 11));
        assert!(self.core.tradable(self.btc), "the book is in sync");
        let intents = self.frame(T0 + 100, &trade(T0 + 100, 1_000, "50000.10"));
        let [Intent::Place { order, role: OrderRole::Entry { .. }, .. }] = intents[..] else {
            panic!("expected an entry, got {intents:?}")
        };
        assert_eq!(order.client_id.epoch(), EPOCH, "ids carry the session epoch");
        (order.client_id, order.qty)
    }

    fn fill(&self, id: ClientOrderId, side: Side, trade: u128, qty: i64, fee_kind: FeeKind) -> OrderEvent {
        let inst = self.core.instruments()[usize::from(self.btc.0)];
        OrderEvent::Filled(Fill {
            client_id: id,
            venue: inst.venue,
            symbol: inst.symbol,
            side,
            trade_id: TradeId(trade),
            price: Price(5_000_000),
            qty: Qty(qty),
            fee: Notional(if fee_kind == FeeKind::Quote { 1_000 } else { 0 }),
            fee_kind,
            is_maker: true,
            ts_ms: T0,
        })
    }

    fn managed(&self) -> i64 {
        self.core.strategy().managed_position(usize::from(self.btc.0))
    }

    fn position(&self) -> i64 {
        self.core.position(self.btc).0
    }

    fn link(&self) -> &Link {
        self.core.link()
    }
}

#[test]
fn a_cancel_confirmed_before_the_last_fill_still_leaves_the_whole_position_managed() {
    // Before: the backtest's own OrderInfo map dropped the order at the
    // cancel, so the late fill was ignored by the strategy and the gate
    // while the exchange held the position.
    let mut r = Rig::new(false, BindMode::Auto);
    let (id, qty) = r.open_long();
    assert_eq!(qty, Qty(7));
    r.order(
        T0 + 101,
        OrderEvent::Acked { client_id: id, venue_order_id: scalpel::order::VenueOrderId::from_u64(1), ts_ms: T0 },
    );
    r.order(T0 + 102, r.fill(id, Side::Buy, 1, 3, FeeKind::Quote));
    r.order(T0 + 103, OrderEvent::Cancelled { client_id: id, ts_ms: T0 + 103 });
    assert_eq!((r.managed(), r.position()), (3, 3), "the partial entry opened a position");
    r.order(T0 + 104, r.fill(id, Side::Buy, 2, 4, FeeKind::Quote));
    assert_eq!((r.managed(), r.position()), (7, 7), "the late fill joined the position the strategy manages");
    assert_eq!(r.core.gate().position(scalpel::risk::GateSlot(r.btc.0)), Some(SignedQty(7)));
    assert_eq!(r.core.strategy().counters().late_fills, 1);
    // The same fill again (a reconnect replay): nothing moves.
    r.order(T0 + 105, r.fill(id, Side::Buy, 2, 4, FeeKind::Quote));
    assert_eq!((r.managed(), r.position()), (7, 7));
    let fills = r.link().inputs.iter().filter(|i| matches!(i, RiskInput::Order(OrderEvent::Filled(_)))).count();
    assert_eq!(fills, 2, "the risk side saw each fill once");
    // The time stop closes all of it, with no market data at all.
    let intents = r.timer(T0 + 103 + 5_000);
    let [Intent::Place { order, role: OrderRole::Exit(ExitReason::TimeStop), .. }] = intents[..] else {
        panic!("expected a time stop, got {intents:?}")
    };
    assert_eq!((order.side, order.qty, order.reduce_only), (Side::Sell, Qty(7), true));
}

#[test]
fn trade_lite_and_order_trade_update_of_one_trade_count_once() {
    let mut r = Rig::new(false, BindMode::Auto);
    let (id, _) = r.open_long();
    let lite = format!(
        r#"{{"e":"TRADE_LITE","E":{T0},"T":{T0},"s":"BTCUSDT","q":"0.007","p":"0","m":false,"c":"scalpel-{}","S":"BUY","L":"50000.10","l":"0.007","t":555,"i":1}}"#,
        id.0
    );
    let otu = format!(
        r#"{{"e":"ORDER_TRADE_UPDATE","E":{T0},"T":{T0},"o":{{"s":"BTCUSDT","c":"scalpel-{}","S":"BUY","o":"MARKET","f":"GTC","q":"0.007","p":"0","ap":"50000.1","sp":"0","x":"TRADE","X":"FILLED","i":1,"l":"0.007","z":"0.007","L":"50000.10","N":"USDT","n":"0.14000028","T":{T0},"t":555,"b":"0","a":"0","m":false,"R":false,"wt":"CONTRACT_PRICE","ot":"MARKET","ps":"BOTH","cp":false,"rp":"0","pP":false,"si":0,"ss":0,"V":"NONE","pm":"NONE","gtd":0}}}}"#,
        id.0
    );
    for text in [&lite, &otu, &otu, &lite] {
        let mut frame = text.as_bytes().to_vec();
        r.core
            .on_private_frame(PrivateSource::BinanceUserData, &mut frame, (T0 as u64 + 200) * 1_000_000, &mut r.out)
            .unwrap();
    }
    assert_eq!((r.position(), r.managed()), (7, 7), "one trade, one position change");
    let inputs = &r.link().inputs;
    assert_eq!(inputs.iter().filter(|i| matches!(i, RiskInput::Order(OrderEvent::Filled(_)))).count(), 1);
    let fees: Vec<_> =
        inputs.iter().filter_map(|i| if let RiskInput::FeeSupplied(f) = i { Some(f.fee) } else { None }).collect();
    assert_eq!(fees, [Notional(14_000_028)], "the fee arrived later, once");
    assert!(r.core.ledger().anomalies().duplicate_fills >= 2);
}

/// A fill fetch after a private-stream outage (Binance `userTrades`): a
/// trade the stream delivered only as `TRADE_LITE` gets its fee and moves
/// nothing; a trade the stream missed moves the position, the strategy and
/// the risk side once; a second fetch of the same page changes nothing; an
/// order id the ledger does not know is foreign, not applied.
#[test]
fn fetched_fills_recover_only_what_the_stream_missed() {
    let mut r = Rig::new(false, BindMode::Auto);
    let (id, qty) = r.open_long();
    assert_eq!(qty, Qty(7));
    r.order(
        T0 + 101,
        OrderEvent::Acked {
            client_id: id,
            venue_order_id: scalpel::order::VenueOrderId::from_u64(4_000_000_001),
            ts_ms: T0,
        },
    );
    let lite = format!(
        r#"{{"e":"TRADE_LITE","E":{T0},"T":{T0},"s":"BTCUSDT","q":"0.007","p":"0","m":false,"c":"scalpel-{}","S":"BUY","L":"50000.10","l":"0.003","t":555,"i":4000000001}}"#,
        id.0
    );
    let mut frame = lite.into_bytes();
    r.core
        .on_private_frame(PrivateSource::BinanceUserData, &mut frame, (T0 as u64 + 150) * 1_000_000, &mut r.out)
        .unwrap();
    assert_eq!(r.position(), 3);
    let row = |t: u64, q: &str, order: u64| {
        format!(
            r#"{{"buyer":true,"commission":"0.06000012","commissionAsset":"USDT","id":{t},"maker":false,"orderId":{order},"price":"50000.10","qty":"{q}","quoteQty":"0","realizedPnl":"0","side":"BUY","positionSide":"BOTH","symbol":"BTCUSDT","time":{T0}}}"#
        )
    };
    let page =
        format!("[{},{},{}]", row(555, "0.003", 4_000_000_001), row(556, "0.004", 4_000_000_001), row(9, "0.5", 77));
    for round in 0..2 {
        let mut body = page.clone().into_bytes();
        let a = r
            .core
            .on_fills_response(Venue::BinanceUsdm, 200, &mut body, (T0 as u64 + 300) * 1_000_000, &mut r.out)
            .unwrap();
        assert_eq!((a.page.rows, a.page.fills, a.page.foreign, a.page.last_trade_id), (3, 2, 1, Some(556)));
        assert_eq!(a.recovered, if round == 0 { 1 } else { 0 }, "round {round}: only trade 556 was missed");
        assert_eq!((r.position(), r.managed()), (7, 7), "round {round}");
    }
    let inputs = &r.link().inputs;
    assert_eq!(inputs.iter().filter(|i| matches!(i, RiskInput::Order(OrderEvent::Filled(_)))).count(), 2);
    let fees: Vec<_> =
        inputs.iter().filter_map(|i| if let RiskInput::FeeSupplied(f) = i { Some(f.fee) } else { None }).collect();
    assert_eq!(fees, [Notional(6_000_012)], "the TRADE_LITE fill got its fee from the fetch, once");
    let stats = r.core.stats();
    assert_eq!((stats.fills_recovered, stats.foreign_activity), (1, 2));
    // The venue refusing the fetch is an error to retry, never a guess.
    let mut body = br#"{"code":-1003,"msg":"Too many requests."}"#.to_vec();
    assert!(
        r.core
            .on_fills_response(Venue::BinanceUsdm, 429, &mut body, (T0 as u64 + 400) * 1_000_000, &mut r.out)
            .is_err()
    );
    assert_eq!(r.position(), 7);
}

#[test]
fn messages_about_another_sessions_orders_land_nowhere() {
    // Before: ids were a bare per-process sequence; after a restart, order 1
    // of the old session and order 1 of the new one had the same id.
    let mut r = Rig::new(false, BindMode::Auto);
    let (id, _) = r.open_long();
    assert_eq!(id.seq(), 1);
    let old = ClientOrderId::new(SessionEpoch(EPOCH.0 - 60), 1);
    assert_ne!(old, id);
    r.order(T0 + 150, r.fill(old, Side::Buy, 9, 5, FeeKind::Quote));
    r.order(T0 + 151, OrderEvent::Cancelled { client_id: old, ts_ms: T0 });
    assert_eq!(r.position(), 0);
    assert_eq!(r.core.stats().other_session, 2);
    assert_eq!(r.core.ledger().get(id).unwrap().status(), OrderStatus::New, "the new order 1 is untouched");
}

#[test]
fn a_send_failure_releases_the_order_everywhere() {
    let mut r = Rig::new(false, BindMode::Auto);
    let (id, qty) = r.open_long();
    let intent = Intent::Place {
        inst: r.btc,
        order: r.core.ledger().get(id).unwrap().order,
        role: OrderRole::Entry { tier: scalpel::strategy::Tier::B, confidence: 0, post_only: false },
    };
    assert_eq!(qty, Qty(7));
    r.core.on_send_failed(&intent, (T0 as u64 + 101) * 1_000_000, &mut r.out);
    let tracked = r.core.ledger().get(id).unwrap();
    assert_eq!(tracked.status(), OrderStatus::Rejected);
    assert_eq!(tracked.rejection.map(|x| x.0), Some(RejectReason::NotSent));
    assert!(r.core.strategy().is_flat(usize::from(r.btc.0)));
    assert_eq!(r.core.gate().position(scalpel::risk::GateSlot(r.btc.0)), Some(SignedQty(0)));
    assert_eq!(r.core.stats().send_failures, 1);
}

#[test]
fn a_full_intent_buffer_rolls_the_order_back() {
    let mut r = Rig::new(false, BindMode::Auto);
    r.out = Intents::with_capacity(1);
    r.out
        .push(Intent::Cancel {
            inst: r.btc,
            venue: Venue::BinanceUsdm,
            symbol: "BTCUSDT".parse().unwrap(),
            client_id: ClientOrderId(0),
        })
        .unwrap();
    r.core.on_frame(
        r.feed,
        &mut depth(T0, 10, 12, 9, r#"["50000.00","2.000"]"#, r#"["50000.10","0.500"]"#).into_bytes(),
        T0 as u64 * 1_000_000,
        &mut r.out,
    );
    r.core.on_frame(r.feed, &mut snapshot(T0 + 1, 11).into_bytes(), (T0 as u64 + 1) * 1_000_000, &mut r.out);
    r.core.on_frame(
        r.feed,
        &mut trade(T0 + 100, 1, "50000.10").into_bytes(),
        (T0 as u64 + 100) * 1_000_000,
        &mut r.out,
    );
    assert_eq!(r.out.len(), 1, "nothing was pushed into a full buffer");
    assert_eq!(r.core.stats().intents_full, 1);
    assert_eq!(r.core.ledger().live_count(), 0, "the order never entered the ledger");
    assert!(r.core.strategy().is_flat(usize::from(r.btc.0)));
}

#[test]
fn a_second_book_stream_of_an_instrument_is_never_interleaved() {
    // Before: orderbook.1 and orderbook.50 of one symbol fed one sync
    // machine: every message of one looked like a gap in the other.
    let p = profile(false);
    let mut r = Rig::with(&p, BookOnlySignals::new(p.instruments.all()), Venue::BybitLinear, BindMode::Strict);
    r.core.bind(r.feed, r.btc, StreamKind::Book(BookKind::Diff { levels: 50 })).unwrap();
    assert_eq!(
        r.core.bind(r.feed, r.btc, StreamKind::Book(BookKind::Diff { levels: 1 })),
        Err(scalpel::core::BindError::SecondBook)
    );
    assert_eq!(
        r.core.bind(r.feed, r.btc, StreamKind::Book(BookKind::Partial { levels: 20 })),
        Err(scalpel::core::BindError::NoPartialStream)
    );
    r.frame(T0, &bybit_book("snapshot", 50, 10, "60000.00"));
    r.frame(T0 + 1, &bybit_book("snapshot", 1, 900, "60000.10"));
    r.frame(T0 + 2, &bybit_book("delta", 1, 901, "60000.20"));
    r.frame(T0 + 3, &bybit_book("delta", 50, 11, "60000.30"));
    let st = r.core.market().get(r.btc).unwrap();
    assert_eq!(st.sync.stats().gaps, 0);
    assert_eq!(st.sync.book().best_bid().unwrap().0, Price(6_000_030), "only orderbook.50 reached the book");
    assert_eq!(r.core.stats().second_book_stream, 2);
    // The same in auto mode (a recording): the first book topic binds.
    let mut a = Rig::with(&p, BookOnlySignals::new(p.instruments.all()), Venue::BybitLinear, BindMode::Auto);
    a.frame(T0, &bybit_book("snapshot", 50, 10, "60000.00"));
    a.frame(T0 + 1, &bybit_book("snapshot", 1, 900, "60000.10"));
    a.frame(T0 + 3, &bybit_book("delta", 50, 11, "60000.30"));
    assert_eq!(a.core.market().get(a.btc).unwrap().sync.stats().gaps, 0);
    assert_eq!(a.core.stats().second_book_stream, 1);
}

#[test]
fn a_partial_depth_stream_is_a_book_per_message() {
    // Before: `@depth20` frames (a diff's payload) went through the diff
    // rules and the book never synced (no snapshot bridges them).
    let mut r = Rig::new(false, BindMode::Strict);
    r.core.bind(r.feed, r.btc, StreamKind::Book(BookKind::Partial { levels: 20 })).unwrap();
    let partial = |u: u64, bid: &str| {
        format!(
            r#"{{"stream":"btcusdt@depth20@100ms","data":{{"e":"depthUpdate","E":{T0},"T":{T0},"s":"BTCUSDT","U":{u},"u":{u},"pu":3,"b":[["{bid}","1.000"]],"a":[["50000.10","1.000"]]}}}}"#
        )
    };
    r.frame(T0, &partial(100, "50000.00"));
    assert!(r.core.tradable(r.btc));
    r.frame(T0 + 100, &partial(180, "49999.90"));
    let st = r.core.market().get(r.btc).unwrap();
    assert_eq!(st.sync.book().best_bid().unwrap().0, Price(4_999_990), "replaced, not merged");
    assert_eq!(st.sync.stats().gaps, 0);
    // A diff-stream frame of the same symbol is another book stream.
    r.frame(T0 + 150, &depth(T0 + 150, 181, 182, 180, r#"["49000.00","1.000"]"#, "[]"));
    assert_eq!(r.core.stats().second_book_stream, 1);
}

#[test]
fn symbol_less_snapshots_go_only_to_the_one_book_they_can_be_for() {
    // The default profile trades BTCUSDT and ETHUSDT.
    let p = Profile::from_toml_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/default.toml")).unwrap(),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning").as_path(),
    )
    .unwrap();
    let mut r = Rig::with(&p, BookOnlySignals::new(p.instruments.all()), Venue::BinanceUsdm, BindMode::Auto);
    let eth = InstrumentId(
        r.core
            .instruments()
            .iter()
            .position(|i| i.venue == Venue::BinanceUsdm && i.symbol.as_str() == "ETHUSDT")
            .unwrap() as u16,
    );
    r.frame(T0, &depth(T0, 10, 12, 9, r#"["50000.00","2.000"]"#, r#"["50000.10","0.500"]"#));
    r.frame(
        T0,
        &depth(T0, 10, 12, 9, r#"["3000.00","2.000"]"#, r#"["3000.10","0.500"]"#)
            .replace("BTCUSDT", "ETHUSDT")
            .replace("btcusdt", "ethusdt"),
    );
    // Two diff books on one feed: whose is a REST snapshot? Nobody's.
    r.frame(T0 + 1, &snapshot(T0 + 1, 11));
    assert!(!r.core.tradable(r.btc) && !r.core.tradable(eth));
    assert_eq!(r.core.stats().ignored, 1);
    // Handed in for a named instrument, it applies to that book only.
    let mut snap = snapshot(T0 + 2, 11).into_bytes();
    r.core.on_rest_snapshot(r.btc, &mut snap, (T0 as u64 + 2) * 1_000_000, &mut r.out);
    assert!(r.core.tradable(r.btc) && !r.core.tradable(eth));
}

#[test]
fn unbound_streams_are_dropped_in_strict_mode() {
    let mut r = Rig::new(false, BindMode::Strict);
    r.core.bind(r.feed, r.btc, StreamKind::Top).unwrap();
    r.frame(T0, &trade(T0, 1, "50000.10"));
    r.frame(T0, &book_ticker(T0, 5, "50000.00", "50000.10"));
    assert_eq!(r.core.market().get(r.btc).unwrap().trades.trades, 0);
    assert_eq!(r.core.market().get(r.btc).unwrap().bbo.update_id, 5);
    assert_eq!(r.core.stats().unbound_events, 1);
    assert_eq!(r.core.bind(FeedId(9), r.btc, StreamKind::Trades), Err(scalpel::core::BindError::UnknownFeed));
}

#[test]
fn a_far_future_exchange_time_does_not_freeze_the_signals() {
    // Before: one trade stamped a day ahead moved the signals' clock a day
    // ahead; every later event was "late" and windows stayed frozen.
    let p = profile(false);
    let cfg = SignalConfig::default();
    let mut r = Rig::with(&p, LiveSignals::new(&cfg, p.instruments.all()), Venue::BinanceUsdm, BindMode::Auto);
    r.frame(T0, &trade(T0, 1, "50000.10"));
    r.frame(T0 + 10, &trade(T0 + 86_400_000, 2, "50000.10"));
    assert_eq!(r.core.stats().clock_skew_clamped, 1);
    r.frame(T0 + 20, &trade(T0 + 20, 3, "50000.10"));
    let snap = r.core.signals().snapshot(r.btc);
    assert!(snap.ts_ms <= T0 + 20, "the clock is {} ms past the receive time", snap.ts_ms - (T0 + 20));
    assert_eq!(r.core.market().get(r.btc).unwrap().trades.trades, 3, "no trade was mistaken for a replay");
}

#[test]
fn a_resubscribed_stream_starts_its_marks_afresh() {
    let mut r = Rig::new(false, BindMode::Auto);
    r.frame(T0, &trade(T0, 500, "50000.10"));
    r.frame(T0 + 1, &trade(T0 + 1, 5, "50000.10"));
    assert_eq!(r.core.market().get(r.btc).unwrap().trades.trades, 1, "an older id is a repeat");
    r.core.on_feed_state(r.feed, FeedState::Subscribed, (T0 as u64 + 2) * 1_000_000, &mut r.out);
    r.frame(T0 + 3, &trade(T0 + 3, 5, "50000.10"));
    assert_eq!(r.core.market().get(r.btc).unwrap().trades.trades, 2, "after the resubscription it is new");
}

#[test]
fn during_a_resync_exits_and_marks_fall_back_to_the_bbo_then_the_mark_price() {
    // Before: an out-of-sync book cleared the only prices the strategy and
    // the risk marks had: no stop could fire and the flash-crash guard saw
    // nothing until the book resynced.
    let mut r = Rig::new(false, BindMode::Auto);
    let (id, qty) = r.open_long();
    r.order(T0 + 105, r.fill(id, Side::Buy, 1, qty.0, FeeKind::Quote));
    assert_eq!(r.managed(), 7);
    // A gap: the book is out of sync.
    r.frame(T0 + 200, &depth(T0 + 200, 20, 21, 19, r#"["50000.00","2.000"]"#, "[]"));
    assert!(!r.core.tradable(r.btc));
    assert_eq!(r.core.prices(r.btc).source, PriceSource::None);
    // The BBO stream still runs: it prices the position (and the marks).
    let marks_before = r.link().inputs.iter().filter(|i| matches!(i, RiskInput::Mark { .. })).count();
    r.frame(T0 + 300, &book_ticker(T0 + 300, 30, "49990.00", "49990.10"));
    let p = r.core.prices(r.btc);
    assert_eq!((p.source, p.bid), (PriceSource::Bbo, Price(4_999_000)));
    let marks = r.link().inputs.iter().filter(|i| matches!(i, RiskInput::Mark { .. })).count();
    assert_eq!(marks, marks_before + 1, "the flash-crash guard still sees prices");
    // A collapse on the BBO hits the stop (10 % below 50 000.10) while the book is still out of sync.
    let intents = r.frame(T0 + 400, &book_ticker(T0 + 400, 31, "44000.00", "44000.10"));
    let [Intent::Place { order, role: OrderRole::Exit(ExitReason::StopLoss), .. }] = intents[..] else {
        panic!("expected a stop, got {intents:?}")
    };
    assert_eq!((order.side, order.qty), (Side::Sell, Qty(7)));
    // With the BBO stale, the mark price takes over.
    r.frame(T0 + 5_000, &mark_price(T0 + 5_000, "43000.00"));
    let p = r.core.prices(r.btc);
    assert_eq!((p.source, p.bid, p.ask), (PriceSource::Mark, Price(4_300_000), Price(4_300_000)));
}

#[test]
fn a_resting_entry_is_pulled_when_its_book_goes_out_of_sync() {
    // Before: the post-only entry kept resting until its timeout while the
    // strategy could not see the book it was priced against.
    let mut r = Rig::new(true, BindMode::Auto);
    r.frame(T0, &depth(T0, 10, 12, 9, r#"["50000.00","2.000"]"#, r#"["50000.10","0.500"]"#));
    r.frame(T0 + 1, &snapshot(T0 + 1, 11));
    let intents = r.frame(T0 + 100, &trade(T0 + 100, 1_000, "50000.10"));
    let [Intent::Place { order, .. }] = intents[..] else { panic!("{intents:?}") };
    let intents = r.frame(T0 + 200, &depth(T0 + 200, 20, 21, 19, r#"["50000.00","2.000"]"#, "[]"));
    assert_eq!(intents.len(), 1, "{intents:?}");
    assert!(matches!(intents[0], Intent::Cancel { client_id, .. } if client_id == order.client_id));
}

#[test]
fn a_dark_feed_takes_no_entries_and_pulls_its_resting_orders() {
    let mut r = Rig::new(true, BindMode::Auto);
    r.frame(T0, &depth(T0, 10, 12, 9, r#"["50000.00","2.000"]"#, r#"["50000.10","0.500"]"#));
    r.frame(T0 + 1, &snapshot(T0 + 1, 11));
    let intents = r.frame(T0 + 100, &trade(T0 + 100, 1_000, "50000.10"));
    assert!(matches!(intents[..], [Intent::Place { .. }]));
    assert!(r.timer(T0 + 3_000).is_empty(), "quiet, not yet dark");
    let intents = r.timer(T0 + 5_200);
    assert!(matches!(intents[..], [Intent::Cancel { .. }]), "{intents:?}");
    assert_eq!(r.core.stats().dark_feeds, 1);
    assert!(!r.core.tradable(r.btc));
    r.frame(T0 + 5_300, &book_ticker(T0 + 5_300, 40, "50000.00", "50000.10"));
    assert!(r.core.tradable(r.btc), "data again: alive");
}

#[test]
fn a_position_that_disagrees_with_the_venue_makes_the_symbol_reduce_only() {
    let mut r = Rig::new(false, BindMode::Auto);
    let (id, qty) = r.open_long();
    r.order(T0 + 105, r.fill(id, Side::Buy, 1, qty.0, FeeKind::Quote));
    let btc = r.core.instruments()[usize::from(r.btc.0)];
    let report = |qty: i64| {
        PrivateEvent::Position(PositionUpdate {
            venue: btc.venue,
            symbol: btc.symbol,
            qty: SignedQty(qty),
            entry_price: RefPrice(0),
            ts_ms: T0 + 110,
        })
    };
    r.private(T0 + 110, report(9));
    assert!(!r.core.tradable(r.btc), "reduce-only while they disagree");
    let reconciles: Vec<_> =
        r.link().inputs.iter().filter(|i| matches!(i, RiskInput::Reconcile { .. })).copied().collect();
    assert_eq!(reconciles.len(), 1);
    assert!(matches!(reconciles[0], RiskInput::Reconcile { ledger: SignedQty(7), reported: SignedQty(9), .. }));
    // The venue's next report agrees: resolved, journaled.
    r.private(T0 + 120, report(7));
    assert!(r.core.tradable(r.btc));
    assert_eq!((r.core.stats().reconcile_mismatches, r.core.stats().reconcile_resolved), (1, 1));
}

#[test]
fn funding_and_account_figures_reach_the_risk_side() {
    let mut r = Rig::new(false, BindMode::Auto);
    let btc = r.core.instruments()[usize::from(r.btc.0)];
    r.private(
        T0,
        PrivateEvent::Funding(FundingPayment {
            venue: btc.venue,
            symbol: Some(btc.symbol),
            amount: Notional(-35),
            ts_ms: T0,
        }),
    );
    r.private(
        T0,
        PrivateEvent::Account(AccountUpdate {
            venue: Venue::BybitLinear,
            wallet_balance: Notional(9_000 * USDT),
            margin_balance: Some(Notional(8_900 * USDT)),
            maintenance_margin: Some(Notional(40 * USDT)),
            ts_ms: T0,
        }),
    );
    let inputs = &r.link().inputs;
    assert!(inputs.contains(&RiskInput::Funding {
        venue: btc.venue,
        symbol: Some(btc.symbol),
        amount: Notional(-35),
        ts_ms: T0
    }));
    assert!(inputs.contains(&RiskInput::Wallet {
        venue: Venue::BybitLinear,
        wallet_balance: Notional(9_000 * USDT),
        ts_ms: T0
    }));
    assert!(
        inputs
            .iter()
            .any(|i| matches!(i, RiskInput::Account { maintenance_margin: Notional(m), .. } if *m == 40 * USDT))
    );
}

#[test]
fn a_flatten_command_from_the_risk_side_closes_the_position() {
    let mut r = Rig::new(false, BindMode::Auto);
    let (id, qty) = r.open_long();
    r.order(T0 + 105, r.fill(id, Side::Buy, 1, qty.0, FeeKind::Quote));
    r.core.link_mut().commands.push_back(RiskCommand::FlattenAll);
    let intents = r.frame(T0 + 300, &book_ticker(T0 + 300, 30, "50000.00", "50000.10"));
    assert!(
        matches!(intents[..], [Intent::Place { role: OrderRole::Exit(ExitReason::RiskFlatten), .. }]),
        "{intents:?}"
    );
}

/// A valid venue history of the entry order: ack, distinct fills summing
/// to at most its quantity (some reported first without their fee, as
/// `TRADE_LITE` does), maybe its cancellation.
fn history(r: &Rig, id: ClientOrderId, qty: i64, cuts: &[i64], cancel: bool) -> Vec<OrderEvent> {
    let mut events =
        vec![OrderEvent::Acked { client_id: id, venue_order_id: scalpel::order::VenueOrderId::from_u64(7), ts_ms: T0 }];
    let mut left = qty;
    for (k, c) in cuts.iter().enumerate() {
        let q = (*c).min(left);
        if q <= 0 {
            break;
        }
        left -= q;
        if k % 2 == 1 {
            events.push(r.fill(id, Side::Buy, 100 + k as u128, q, FeeKind::NotReported));
        }
        events.push(r.fill(id, Side::Buy, 100 + k as u128, q, FeeKind::Quote));
    }
    if cancel {
        events.push(OrderEvent::Cancelled { client_id: id, ts_ms: T0 + 150 });
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any interleaving, duplication or reordering of the entry order's
    /// messages ends in the same ledger state, and the strategy manages
    /// exactly the ledger's position: the sum of the distinct fills.
    #[test]
    fn any_order_of_the_messages_gives_the_same_position_everywhere(
        cuts in proptest::collection::vec(1i64..5, 0..5),
        cancel in any::<bool>(),
        seed in any::<u64>(),
        dup_mask in any::<u32>(),
    ) {
        let final_state = |shuffle: Option<(u64, u32)>| {
            let mut r = Rig::new(true, BindMode::Auto);
            r.frame(T0, &depth(T0, 10, 12, 9, r#"["50000.00","2.000"]"#, r#"["50000.10","0.500"]"#));
            r.frame(T0 + 1, &snapshot(T0 + 1, 11));
            let intents = r.frame(T0 + 100, &trade(T0 + 100, 1_000, "50000.10"));
            let [Intent::Place { order, .. }] = intents[..] else { panic!("{intents:?}") };
            let mut events = history(&r, order.client_id, order.qty.0, &cuts, cancel);
            if let Some((seed, dups)) = shuffle {
                let n = events.len();
                for k in 0..n {
                    if dups >> (k % 32) & 1 == 1 {
                        events.push(events[k]);
                    }
                }
                let mut state = seed | 1;
                for i in (1..events.len()).rev() {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    events.swap(i, (state % (i as u64 + 1)) as usize);
                }
            }
            for (k, e) in events.iter().enumerate() {
                r.order(T0 + 110 + k as i64, *e);
                prop_assert_eq!(r.managed(), r.position(), "after message {} of {:?}", k, events);
            }
            let o = r.core.ledger().get(order.client_id).unwrap();
            let fills = r.link().inputs.iter().filter(|i| matches!(i, RiskInput::Order(OrderEvent::Filled(_)))).count();
            Ok((o.status(), o.filled_qty, r.position(), fills, order.qty.0))
        };
        let expected = final_state(None)?;
        let got = final_state(Some((seed, dup_mask)))?;
        prop_assert_eq!(got, expected);
        let distinct: i64 = {
            let mut left = expected.4;
            cuts.iter().map(|c| { let q = (*c).min(left).max(0); left -= q; q }).sum()
        };
        prop_assert_eq!(expected.2, distinct);
    }
}

/// What a live session's core received, in order: market frames and
/// private frames, each with its receive time.
enum Recorded {
    Market(u64, Vec<u8>),
    Private(u64, Vec<u8>),
}

/// The user-data messages a venue sends for an intent: a market order is
/// filled at once (one `ORDER_TRADE_UPDATE` with the fee, preceded by its
/// `TRADE_LITE`), a cancel confirmed.
fn venue_messages(intent: &Intent, trade_id: u64, ts: i64) -> Vec<Vec<u8>> {
    let id = intent.client_id().0;
    match intent {
        Intent::Place { order, .. } => {
            let side = if order.side == Side::Buy { "BUY" } else { "SELL" };
            let q = scalpel::fixed::DecimalText::new(order.qty.0, 3);
            vec![
                format!(r#"{{"e":"TRADE_LITE","E":{ts},"T":{ts},"s":"BTCUSDT","q":"{q}","p":"0","m":false,"c":"scalpel-{id}","S":"{side}","L":"60000.10","l":"{q}","t":{trade_id},"i":1}}"#).into_bytes(),
                format!(r#"{{"e":"ORDER_TRADE_UPDATE","E":{ts},"T":{ts},"o":{{"s":"BTCUSDT","c":"scalpel-{id}","S":"{side}","o":"MARKET","f":"GTC","q":"{q}","p":"0","ap":"0","sp":"0","x":"TRADE","X":"FILLED","i":1,"l":"{q}","z":"{q}","L":"60000.10","N":"USDT","n":"0.01","T":{ts},"t":{trade_id},"b":"0","a":"0","m":false,"R":false,"wt":"CONTRACT_PRICE","ot":"MARKET","ps":"BOTH","cp":false,"rp":"0","pP":false,"si":0,"ss":0,"V":"NONE","pm":"NONE","gtd":0}}}}"#).into_bytes(),
            ]
        }
        Intent::Cancel { .. } => vec![format!(r#"{{"e":"ORDER_TRADE_UPDATE","E":{ts},"T":{ts},"o":{{"s":"BTCUSDT","c":"scalpel-{id}","S":"BUY","o":"LIMIT","f":"GTX","q":"0","p":"0","ap":"0","sp":"0","x":"CANCELED","X":"CANCELED","i":1,"l":"0","z":"0","L":"0","T":{ts},"t":0,"b":"0","a":"0","m":false,"R":false,"wt":"CONTRACT_PRICE","ot":"LIMIT","ps":"BOTH","cp":false,"rp":"0","pP":false,"si":0,"ss":0,"V":"NONE","pm":"NONE","gtd":0}}}}"#).into_bytes()],
    }
}

fn busy_core(profile: &Profile) -> (Core<Link, LiveSignals, NoProbe>, FeedId, Intents) {
    let cfg = SignalConfig::from_table(&profile.signals).unwrap();
    let verdict = Arc::new(VerdictCell::new());
    verdict.publish(Verdict::RUN);
    let signals = LiveSignals::new(&cfg, profile.instruments.all());
    let mut core = Core::new(profile, signals, Link::default(), NoProbe, EPOCH, verdict).unwrap();
    let feed = core.add_feed(Venue::BinanceUsdm, BindMode::Auto);
    let out = Intents::with_capacity(core.intents_capacity());
    (core, feed, out)
}

#[test]
fn a_recorded_session_replayed_through_a_fresh_core_gives_the_same_intents() {
    // Replay parity (issue 11): the live engine records every frame its core
    // received, market and private, with its receive time; a fresh core fed
    // the recording emits exactly the same intents, in the same order.
    let profile = common::busy_profile();
    let symbol = "BTCUSDT".parse().unwrap();
    let cfg = scalpel::synth::SynthConfig::built_in(Venue::BinanceUsdm, symbol, 5, 400.0).unwrap();
    let mut synth = scalpel::synth::Synth::new(&cfg).unwrap();
    let (mut live, feed, mut out) = busy_core(&profile);
    let mut recording = Vec::new();
    let mut emitted = Vec::new();
    let mut trade_id = 1;
    while let Some(frame) = synth.next_frame() {
        let recv = frame.local_ts_ns;
        recording.push(Recorded::Market(recv, frame.bytes.to_vec()));
        live.on_frame(feed, frame.bytes, recv, &mut out);
        // The venue answers 1 ms later (before the next frame, for simplicity).
        let intents: Vec<Intent> = out.drain().collect();
        for intent in intents {
            emitted.push(intent);
            trade_id += 1;
            for mut msg in venue_messages(&intent, trade_id, (recv / 1_000_000) as i64 + 1) {
                recording.push(Recorded::Private(recv + 1_000_000, msg.clone()));
                live.on_private_frame(PrivateSource::BinanceUserData, &mut msg, recv + 1_000_000, &mut out).unwrap();
                emitted.extend(out.drain());
            }
        }
    }
    assert!(emitted.len() >= 4, "the session must trade to mean anything: {} intents", emitted.len());
    let (mut replay, feed, mut out) = busy_core(&profile);
    let mut replayed = Vec::new();
    for item in &recording {
        match item {
            Recorded::Market(recv, bytes) => {
                replay.on_frame(feed, &mut bytes.clone(), *recv, &mut out);
            }
            Recorded::Private(recv, bytes) => {
                replay.on_private_frame(PrivateSource::BinanceUserData, &mut bytes.clone(), *recv, &mut out).unwrap();
            }
        }
        replayed.extend(out.drain());
    }
    assert_eq!(replayed, emitted, "the replay diverged from the live session");
    assert_eq!(replay.stats(), live.stats());
    assert_eq!(replay.position(InstrumentId(0)), live.position(InstrumentId(0)));
    println!("{} frames replayed, {} intents identical", recording.len(), replayed.len());
}

/// Open interest (issue 14, item 9): the Binance REST poll's answer enters
/// through `Core::on_open_interest`, Bybit's through its `tickers` stream;
/// both reach the market state and the signals' 15-minute (here 2-second)
/// change. A poll answer for no instrument, or of zero, is counted and
/// applied to nothing.
#[test]
fn open_interest_from_the_rest_poll_and_from_bybit_tickers_reaches_the_signals() {
    let p = profile(false);
    let cfg = SignalConfig::from_toml_str("oi_sample_ms = 1000\noi_window_ms = 2000").unwrap();
    let mut r = Rig::with(&p, LiveSignals::new(&cfg, p.instruments.all()), Venue::BinanceUsdm, BindMode::Auto);
    r.frame(T0, &depth(T0, 10, 12, 9, r#"["50000.00","2.000"]"#, r#"["50000.10","0.500"]"#));
    r.frame(T0 + 1, &snapshot(T0 + 1, 11));
    let answer = scalpel::venue::binance::rest::parse_open_interest(
        format!(r#"{{"openInterest":"80000.000","symbol":"BTCUSDT","time":{}}}"#, T0 + 10).as_bytes(),
        3,
    )
    .unwrap();
    let btc = r.btc;
    assert_eq!(
        r.core.on_open_interest(btc, answer.qty, answer.time_ms, (T0 + 10) as u64 * 1_000_000, &mut r.out),
        Some(btc)
    );
    assert_eq!(r.core.market().get(btc).unwrap().funding.open_interest, Qty(80_000_000));
    // Three seconds later, 1 % more.
    r.core.on_open_interest(btc, Qty(80_800_000), T0 + 3_010, (T0 + 3_010) as u64 * 1_000_000, &mut r.out);
    r.timer(T0 + 3_500);
    r.frame(T0 + 4_000, &book_ticker(T0 + 4_000, 50, "50000.00", "50000.10"));
    let snap = r.core.signals().snapshot(btc);
    assert_eq!(snap.open_interest, 80_800.0);
    assert!((snap.oi_change_pct - 1.0).abs() < 1e-9, "{}", snap.oi_change_pct);
    let malformed = r.core.stats().malformed;
    assert_eq!(r.core.on_open_interest(InstrumentId(99), Qty(1), T0, T0 as u64 * 1_000_000, &mut r.out), None);
    assert_eq!(r.core.on_open_interest(btc, Qty(0), T0, T0 as u64 * 1_000_000, &mut r.out), None);
    assert_eq!(r.core.stats().malformed, malformed + 2);

    // Bybit: the tickers stream carries it.
    let mut b = Rig::with(&p, LiveSignals::new(&cfg, p.instruments.all()), Venue::BybitLinear, BindMode::Auto);
    let ticker = format!(
        r#"{{"topic":"tickers.BTCUSDT","type":"snapshot","data":{{"symbol":"BTCUSDT","markPrice":"70000.00","indexPrice":"70000.00","fundingRate":"0.0001","nextFundingTime":"{}","openInterest":"51234.567"}},"cs":1,"ts":{T0}}}"#,
        T0 + 3_600_000
    );
    b.frame(T0, &ticker);
    assert_eq!(b.core.signals().snapshot(b.btc).open_interest, 51_234.567);
}
