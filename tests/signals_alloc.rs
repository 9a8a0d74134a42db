//! Updating every signal allocates nothing once constructed: each real
//! recording is run once to warm the decoder's scratch space, then again
//! through a fresh `MarketState` and a fresh `SignalBank` (both allocated
//! before counting starts) while a counting global allocator watches this
//! thread — decode, apply, every signal update and a snapshot per frame.
//! Liquidation frames in each venue's format are added so that the
//! liquidation family runs too (the recordings carry none).

mod common;

use std::hint::black_box;

use scalpel::alloc_count::CountingAlloc;
use scalpel::book::DEFAULT_LEVELS;
use scalpel::commands::instruments;
use scalpel::json::JsonScratch;
use scalpel::market::{Applied, MarketState};
use scalpel::signal::{SignalBank, SignalConfig};
use scalpel::venue::{Decoder, Venue};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

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

fn counted_pass(venue: Venue, frames: &[Vec<u8>], cfg: &SignalConfig) -> (u64, u64) {
    let table = instruments::load(None, venue).unwrap();
    let mut decoder = Decoder::new(venue, &table);
    decoder.set_snapshot_instrument(decoder.symbols().find(b"BTCUSDT").map(|e| e.id));
    let entries = decoder.symbols().entries().to_vec();
    let mut scratch = JsonScratch::default();
    let run = |market: &mut MarketState<DEFAULT_LEVELS>,
               bank: &mut SignalBank,
               work: &mut Vec<Vec<u8>>,
               scratch: &mut JsonScratch| {
        let mut updates = 0u64;
        for frame in work.iter_mut() {
            decoder.decode_frame(scratch, frame, |event| {
                let Ok(event) = event else { return };
                let applied = bank.apply(market, &event);
                let inst = match applied {
                    Applied::Depth(i, _)
                    | Applied::Top(i)
                    | Applied::Trades(i, _)
                    | Applied::Funding(i)
                    | Applied::Liquidations(i, _) => i,
                    _ => return,
                };
                if let Some(s) = bank.get(inst) {
                    black_box(s.snapshot());
                    updates += 1;
                }
            });
        }
        updates
    };
    // Warm-up pass: the decoder's scratch grows to the largest frame.
    let mut work = frames.to_vec();
    let mut market = MarketState::<DEFAULT_LEVELS>::new(venue, &entries);
    let mut bank = SignalBank::new(cfg, &entries);
    run(&mut market, &mut bank, &mut work, &mut scratch);
    // Counted pass, everything allocated beforehand.
    let mut work = frames.to_vec();
    let mut market = MarketState::<DEFAULT_LEVELS>::new(venue, &entries);
    let mut bank = SignalBank::new(cfg, &entries);
    let before = ALLOC.this_thread();
    let updates = run(&mut market, &mut bank, &mut work, &mut scratch);
    let allocations = ALLOC.this_thread() - before;
    let btc = decoder.symbols().find(b"BTCUSDT").unwrap().id;
    let stats = bank.get(btc).unwrap().stats();
    assert!(stats.books > 0 && stats.trades > 0 && stats.liquidations > 0, "{venue}: {stats:?}");
    (allocations, updates)
}

#[test]
fn signals_allocate_nothing_after_construction() {
    let cfg = SignalConfig::default();
    for (venue, relative) in common::REAL_FILES {
        if !relative.contains("btcusdt") {
            continue;
        }
        let Some(path) = common::recording("signals_allocate_nothing_after_construction", relative) else { return };
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
        let (allocations, updates) = counted_pass(venue, &frames, &cfg);
        assert!(updates > 100, "{relative}: only {updates} signal updates");
        assert_eq!(allocations, 0, "{relative}: {allocations} allocations over {updates} signal updates");
        println!("{relative}: {updates} signal updates + snapshots, 0 allocations");
    }
}

#[test]
fn the_counter_sees_signal_construction() {
    let before = ALLOC.this_thread();
    let entries = {
        let table = instruments::load(None, Venue::BinanceUsdm).unwrap();
        Decoder::new(Venue::BinanceUsdm, &table).symbols().entries().to_vec()
    };
    let bank = SignalBank::new(&SignalConfig::default(), &entries);
    assert!(ALLOC.this_thread() - before > 10, "windows are allocated at construction");
    black_box(bank);
}
