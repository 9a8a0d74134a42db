//! The trading core allocates nothing once warm, on every path: each real
//! recording (with liquidation frames in the venue's format added, so that
//! every signal family runs) goes through `Core::on_frame` — decode, book
//! sync, the tape's one rule, every signal, the strategy and the risk gate —
//! while a tiny exchange in this test answers each order intent at once
//! through the private path (`on_private_frame` with the venue's own
//! message formats: ack, fill, cancel) and the timer runs in the gaps.
//!
//! The first pass warms the decoder's and the parsers' scratch space. The
//! feed is then reported resubscribed (books resync, sequence marks reset,
//! as after a reconnect) and the whole recording is replayed again while
//! the counting global allocator watches this thread.

mod common;

use std::sync::Arc;

use scalpel::alloc_count::CountingAlloc;
use scalpel::core::{BindMode, Core, FeedState, Intent, Intents, NoProbe, PrivateSource, RiskLink};
use scalpel::fixed::Notional;
use scalpel::order::{ClientOrderId, SessionEpoch};
use scalpel::risk::{RiskInput, Verdict, VerdictCell};
use scalpel::signal::{LiveSignals, SignalConfig};
use scalpel::venue::Venue;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Counts what reaches the risk side (a fixed array: no allocation).
#[derive(Default)]
struct CountingLink {
    inputs: [u64; 4],
}

impl RiskLink for CountingLink {
    fn send(&mut self, input: &RiskInput, _now_ns: u64) {
        let k = match input {
            RiskInput::Order(_) => 0,
            RiskInput::Mark { .. } => 1,
            RiskInput::FeeSupplied(_) => 2,
            _ => 3,
        };
        self.inputs[k] += 1;
    }
    fn equity(&self) -> Notional {
        Notional(10_000 * 100_000_000)
    }
}

fn liquidation_frames(venue: Venue, ts: i64) -> Vec<Vec<u8>> {
    let text = match venue {
        Venue::BinanceUsdm => format!(
            r#"{{"stream":"btcusdt@forceOrder","data":{{"e":"forceOrder","E":{ts},"o":{{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"2.000","p":"61000.00","ap":"61000.00","X":"FILLED","l":"2.000","z":"2.000","T":{ts}}}}}}}"#
        ),
        Venue::BybitLinear => format!(
            r#"{{"topic":"allLiquidation.BTCUSDT","type":"snapshot","ts":{ts},"data":[{{"T":{ts},"s":"BTCUSDT","S":"Buy","v":"2.000","p":"65000.00"}},{{"T":{ts},"s":"BTCUSDT","S":"Sell","v":"0.500","p":"65000.00"}}]}}"#
        ),
    };
    vec![text.into_bytes()]
}

/// The venue's messages for an intent, written into `buf` with no
/// allocation (a fixed-capacity cursor): Binance user-data
/// `ORDER_TRADE_UPDATE`, Bybit `order` / `execution` pushes.
struct Echo {
    buf: Vec<u8>,
    trade_id: u64,
}

impl Echo {
    fn write(&mut self, args: std::fmt::Arguments<'_>) -> &mut [u8] {
        use std::io::Write;
        self.buf.clear();
        let _ = self.buf.write_fmt(args);
        &mut self.buf[..]
    }
}

struct Run {
    core: Core<CountingLink, LiveSignals, NoProbe>,
    out: Intents,
    /// What the core answers to the exchange's messages (orders it then
    /// wants go out on the next frame's decision).
    replies: Intents,
    echo: Echo,
    now_ns: u64,
    placed: u64,
    private_events: u64,
}

impl Run {
    fn pass(&mut self, frames: &[Vec<u8>], work: &mut [Vec<u8>], venue: Venue) {
        let feed = scalpel::core::FeedId(0);
        for (frame, w) in frames.iter().zip(work.iter_mut()) {
            w.clear();
            w.extend_from_slice(frame);
            // Receive time: the frame's place in the replay, 1 ms apart.
            self.now_ns += 1_000_000;
            self.core.on_frame(feed, w, self.now_ns, &mut self.out);
            self.answer(venue);
            if self.now_ns % 50_000_000 == 0 {
                self.core.on_timer(self.now_ns, &mut self.out);
                self.answer(venue);
            }
            if self.now_ns % 1_000_000_000 == 0 {
                // The Binance open-interest poll's answer, off the hot path in
                // production, through the core here.
                let oi =
                    scalpel::fixed::Qty(80_000_000 + i64::try_from(self.now_ns % 7_000_000_000).unwrap_or(0) / 1_000);
                let ts = i64::try_from(self.now_ns / 1_000_000).unwrap_or(0);
                self.core.on_open_interest(scalpel::instrument::InstrumentId(0), oi, ts, self.now_ns, &mut self.out);
                self.answer(venue);
                // A fill of an order this session never sent: parsed,
                // looked up, counted, applied to nothing.
                let unknown = Intent::Place {
                    inst: scalpel::instrument::InstrumentId(0),
                    order: scalpel::order::OrderRequest {
                        venue,
                        symbol: "BTCUSDT".parse().unwrap(),
                        side: scalpel::side::Side::Buy,
                        kind: scalpel::order::OrderKind::Market,
                        tif: scalpel::order::TimeInForce::Gtc,
                        price: scalpel::fixed::Price::ZERO,
                        qty: scalpel::fixed::Qty(1),
                        reduce_only: false,
                        client_id: ClientOrderId::new(self.core.epoch(), 999_999),
                    },
                    role: scalpel::core::OrderRole::Exit(scalpel::strategy::ExitReason::EndOfData),
                };
                let _ = self.out.push(unknown);
                self.answer(venue);
                self.placed -= 1;
            }
        }
    }

    /// The tiny exchange: every order acked and filled at once, every
    /// cancel confirmed, in the venue's own message format.
    fn answer(&mut self, venue: Venue) {
        for i in 0..self.out.len() {
            let Some(intent) = self.out.iter().nth(i).copied() else { break };
            self.echo.trade_id += 1;
            let id = intent.client_id().0;
            let t = self.echo.trade_id;
            let ts = self.now_ns / 1_000_000;
            let (source, frame) = match (venue, intent) {
                (Venue::BinanceUsdm, Intent::Place { order, .. }) => {
                    self.placed += 1;
                    let side = if order.side == scalpel::side::Side::Buy { "BUY" } else { "SELL" };
                    let sym = order.symbol;
                    (
                        PrivateSource::BinanceUserData,
                        self.echo.write(format_args!(
                            r#"{{"e":"ORDER_TRADE_UPDATE","E":{ts},"T":{ts},"o":{{"s":"{sym}","c":"scalpel-{id}","S":"{side}","o":"MARKET","f":"GTC","q":"0","p":"0","ap":"0","sp":"0","x":"TRADE","X":"FILLED","i":{t},"l":"{q}","z":"{q}","L":"61800.10","N":"USDT","n":"0.01","T":{ts},"t":{t},"b":"0","a":"0","m":false,"R":false,"wt":"CONTRACT_PRICE","ot":"MARKET","ps":"BOTH","cp":false,"rp":"0","pP":false,"si":0,"ss":0,"V":"NONE","pm":"NONE","gtd":0}}}}"#,
                            q = scalpel::fixed::DecimalText::new(order.qty.0, 3),
                        )),
                    )
                }
                (Venue::BybitLinear, Intent::Place { order, .. }) => {
                    self.placed += 1;
                    let side = if order.side == scalpel::side::Side::Buy { "Buy" } else { "Sell" };
                    let sym = order.symbol;
                    (
                        PrivateSource::Bybit,
                        self.echo.write(format_args!(
                            r#"{{"id":"1","topic":"execution","creationTime":{ts},"data":[{{"category":"linear","symbol":"{sym}","execFee":"0.01","execId":"00000000-0000-0000-0000-{t:012}","execPrice":"65000.10","execQty":"{q}","execType":"Trade","isMaker":false,"orderLinkId":"scalpel-{id}","side":"{side}","execTime":"{ts}","seq":{t}}}]}}"#,
                            q = scalpel::fixed::DecimalText::new(order.qty.0, 3),
                        )),
                    )
                }
                (Venue::BinanceUsdm, Intent::Cancel { symbol, .. }) => (
                    PrivateSource::BinanceUserData,
                    self.echo.write(format_args!(
                        r#"{{"e":"ORDER_TRADE_UPDATE","E":{ts},"T":{ts},"o":{{"s":"{symbol}","c":"scalpel-{id}","S":"BUY","o":"LIMIT","f":"GTX","q":"0","p":"0","ap":"0","sp":"0","x":"CANCELED","X":"CANCELED","i":{t},"l":"0","z":"0","L":"0","T":{ts},"t":0,"b":"0","a":"0","m":false,"R":false,"wt":"CONTRACT_PRICE","ot":"LIMIT","ps":"BOTH","cp":false,"rp":"0","pP":false,"si":0,"ss":0,"V":"NONE","pm":"NONE","gtd":0}}}}"#
                    )),
                ),
                (Venue::BybitLinear, Intent::Cancel { symbol, .. }) => (
                    PrivateSource::Bybit,
                    self.echo.write(format_args!(
                        r#"{{"id":"2","topic":"order","creationTime":{ts},"data":[{{"category":"linear","symbol":"{symbol}","orderId":"x{t}","orderLinkId":"scalpel-{id}","side":"Buy","orderStatus":"Cancelled","updatedTime":"{ts}","timeInForce":"PostOnly","orderType":"Limit","rejectReason":"EC_NoError"}}]}}"#
                    )),
                ),
            };
            let n = self.core.on_private_frame(source, frame, self.now_ns, &mut self.replies).unwrap_or(0);
            self.private_events += n as u64;
            self.replies.clear();
        }
        self.out.clear();
    }
}

/// The busy profile with every rule of issue 14 switched on: risk sizing
/// with ATR stops and R targets, layered exits with the profit-lock ladder
/// and ATR trailing from 1R, dynamic leverage with milestones, the
/// schedule, the correlation guard, the master plan's gates (permissive
/// thresholds, so that entries still happen), open interest, and cascade
/// trades at any liquidation.
fn plan_profile() -> scalpel::profile::Profile {
    use scalpel::fixed::Rate;
    use scalpel::strategy::config::{LockStep, SizingMode, StopMethod, WhenMissing};
    let mut p = common::busy_profile();
    let s = &mut p.strategy;
    s.sizing.mode = SizingMode::Risk;
    s.exits.stop.method = StopMethod::Atr;
    s.exits.stop.take_profit_r_e2 = Some(150);
    s.exits.layered = true;
    s.exits.trail_from_r_e2 = Some(100);
    s.exits.ladder[0] = LockStep { at_r_e2: 50, lock_r_e2: 0 };
    s.exits.ladder[1] = LockStep { at_r_e2: 150, lock_r_e2: 50 };
    s.exits.ladder_len = 2;
    s.leverage.dynamic = true;
    s.leverage.milestones.push(scalpel::strategy::leverage::Milestone {
        equity: scalpel::fixed::Notional(0),
        max_position_share: Rate(50_000_000),
        max_leverage: 5,
    });
    s.schedule.enabled = true;
    s.schedule.multiplier = [Rate(75_000_000); 24];
    s.gates.net_flow_surge.enabled = true;
    s.gates.net_flow_surge.value = 0.0;
    s.gates.funding_veto.enabled = true;
    s.gates.open_interest.enabled = true;
    s.gates.open_interest.when_missing = WhenMissing::Skip;
    s.gates.correlation.min_samples = 3;
    s.cascade.enabled = true;
    s.cascade.min_notional_per_min = 1.0;
    p
}

fn counted_pass(venue: Venue, frames: &[Vec<u8>]) -> (u64, u64, u64, u64) {
    let (a, b, c, d, _) = counted_pass_with(common::busy_profile(), venue, frames);
    (a, b, c, d)
}

/// Allocations, orders placed, private events, marks, and the strategy's
/// counters of the counted pass.
fn counted_pass_with(
    profile: scalpel::profile::Profile,
    venue: Venue,
    frames: &[Vec<u8>],
) -> (u64, u64, u64, u64, (scalpel::strategy::GateStats, scalpel::strategy::StrategyCounters)) {
    let cfg = SignalConfig::from_table(&profile.signals).unwrap();
    let verdict = Arc::new(VerdictCell::new());
    verdict.publish(Verdict::RUN);
    let signals = LiveSignals::new(&cfg, profile.instruments.all());
    let mut core = Core::new(&profile, signals, CountingLink::default(), NoProbe, SessionEpoch(7), verdict).unwrap();
    let feed = core.add_feed(venue, BindMode::Auto);
    assert_eq!(feed.0, 0);
    let out = Intents::with_capacity(core.intents_capacity());
    let replies = Intents::with_capacity(core.intents_capacity());
    let mut run = Run {
        core,
        out,
        replies,
        echo: Echo { buf: Vec::with_capacity(4096), trade_id: 0 },
        now_ns: 1_000_000_000_000_000_000,
        placed: 0,
        private_events: 0,
    };
    let mut work: Vec<Vec<u8>> = frames.to_vec();
    run.pass(frames, &mut work, venue);
    // A reconnect: books resync from the data's snapshots, marks reset.
    run.core.on_feed_state(feed, FeedState::Subscribed, run.now_ns, &mut run.out);
    run.answer(venue);
    let (placed, private) = (run.placed, run.private_events);
    let before = ALLOC.this_thread();
    run.pass(frames, &mut work, venue);
    let allocations = ALLOC.this_thread() - before;
    let stats = run.core.stats();
    assert!(stats.frames > 0 && stats.decode_errors == 0, "{venue}: {stats:?}");
    let strategy = (*run.core.strategy().gate_stats(), run.core.strategy().counters());
    (allocations, run.placed - placed, run.private_events - private, run.core.link().inputs[1], strategy)
}

#[test]
fn the_core_allocates_nothing_after_warm_up() {
    for (venue, relative) in common::REAL_FILES {
        if !relative.contains("btcusdt") {
            continue;
        }
        let Some(path) = common::recording("the_core_allocates_nothing_after_warm_up", relative) else { return };
        let venue: Venue = venue.parse().unwrap();
        let lines = common::read_lines(&path);
        let mut frames: Vec<Vec<u8>> = lines.iter().map(|(_, f)| f.clone()).collect();
        // Liquidations in the middle of the recording, at its own times.
        let mid_ts = {
            let text = String::from_utf8_lossy(&frames[frames.len() / 2]).into_owned();
            let at = text.find("\"T\":").or_else(|| text.find("\"ts\":")).unwrap();
            let digits: String =
                text[at..].chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
            digits.parse::<i64>().unwrap()
        };
        let at = frames.len() / 2;
        for (k, f) in liquidation_frames(venue, mid_ts).into_iter().enumerate() {
            frames.insert(at + k, f);
        }
        let (allocations, placed, private, marks) = counted_pass(venue, &frames);
        // The Bybit recordings (44 s) are shorter than the signals' warm-up:
        // no order there, only the market path and foreign fills.
        assert!(placed > 0 || venue == Venue::BybitLinear, "{relative}: no order went out");
        assert!(private > 0 && marks > 0, "{relative}: {private} private events, {marks} marks");
        assert_eq!(allocations, 0, "{relative}: {allocations} allocations over {} frames", frames.len());
        println!(
            "{relative}: {} frames, {placed} orders and {private} private events through the core, 0 allocations",
            frames.len()
        );
    }
}

/// The same with every rule of issue 14 on (risk sizing, ATR stops,
/// layers, the ladder, trailing, leverage, schedule, correlation, the
/// master plan's gates, open interest, cascade trades).
#[test]
fn the_core_with_the_plan_rules_allocates_nothing_after_warm_up() {
    let Some(path) = common::recording(
        "the_core_with_the_plan_rules_allocates_nothing_after_warm_up",
        "binance-usdm/btcusdt_20240808.gz",
    ) else {
        return;
    };
    let venue = Venue::BinanceUsdm;
    let mut frames: Vec<Vec<u8>> = common::read_lines(&path).into_iter().map(|(_, f)| f).collect();
    let at = frames.len() / 2;
    let text = String::from_utf8_lossy(&frames[at]).into_owned();
    let pos = text.find("\"E\":").unwrap();
    let ts: i64 = text[pos..]
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap();
    for (k, f) in liquidation_frames(venue, ts).into_iter().enumerate() {
        frames.insert(at + k, f);
    }
    let (allocations, placed, private, _, (gates, counters)) = counted_pass_with(plan_profile(), venue, &frames);
    assert!(placed > 0 && private > 0, "no order went out with the plan rules on");
    // Both kinds of entry ran, and positions were managed to their exits.
    assert!(gates.by_tier[0] > 0 && gates.by_tier[2] > 0, "{gates:?}");
    assert!(counters.entries > 0 && counters.exits > 0, "{counters:?}");
    println!("plan rules: {gates:?}\n{counters:?}");
    assert_eq!(allocations, 0, "{allocations} allocations over {} frames with the plan rules on", frames.len());
}

#[test]
fn the_counter_sees_core_construction() {
    let before = ALLOC.this_thread();
    let profile = common::busy_profile();
    let signals = LiveSignals::new(&SignalConfig::default(), profile.instruments.all());
    let core =
        Core::new(&profile, signals, CountingLink::default(), NoProbe, SessionEpoch(1), Arc::new(VerdictCell::new()))
            .unwrap();
    assert!(ALLOC.this_thread() - before > 10, "windows, books and the ledger are allocated at construction");
    std::hint::black_box((&core, ClientOrderId(0)));
}
