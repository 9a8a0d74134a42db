//! The synthetic session writers against the venues' real bytes: every
//! frame of the real recordings that a writer can express is decoded (by
//! our decoder, or by serde_json for the fields our events do not keep),
//! written again by the writer, and must come out byte for byte the same.
//! The recordings are read in place from `../shared/data`; without them
//! the test says it skipped.

mod common;

use scalpel::commands::instruments;
use scalpel::event::MarketEvent;
use scalpel::fixed::parse_decimal;
use scalpel::instrument::Symbol;
use scalpel::json::JsonScratch;
use scalpel::side::Side;
use scalpel::synth::wire_binance::BinanceWire;
use scalpel::synth::wire_bybit::{BybitWire, TickDirection, TickerState, TradePrint, changed};
use scalpel::venue::{Decoder, Venue};
use serde_json::Value;

fn decoder(venue: Venue) -> (Decoder, scalpel::instrument::Instrument) {
    let table = instruments::load(None, venue).unwrap();
    let mut d = Decoder::new(venue, &table);
    let btc = d.symbols().find(b"BTCUSDT").unwrap().id;
    d.set_snapshot_instrument(Some(btc));
    let inst = *table.get(venue, &"BTCUSDT".parse::<Symbol>().unwrap()).unwrap();
    (d, inst)
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn binance_writer_reproduces_every_book_ticker_trade_diff_and_snapshot_of_the_recording() {
    let Some(path) = common::recording("binance_writer_reproduces_the_recording", common::REAL_FILES[0].1) else {
        return;
    };
    let (decoder, inst) = decoder(Venue::BinanceUsdm);
    let wire = BinanceWire::new(&inst);
    let mut scratch = JsonScratch::default();
    let (mut tickers, mut trades, mut diffs, mut snapshots) = (0, 0, 0, 0);
    for (_, frame) in common::read_lines(&path) {
        let mut buf = frame.clone();
        let mut out = Vec::new();
        let kind = decoder.decode_frame(&mut scratch, &mut buf, |ev| match ev {
            Ok(MarketEvent::BookTicker(t)) => {
                wire.book_ticker(
                    &mut out,
                    t.update_id,
                    t.event_ms,
                    t.transact_ms,
                    (t.bid_px.0, t.bid_qty.0),
                    (t.ask_px.0, t.ask_qty.0),
                );
                Some(0)
            }
            Ok(MarketEvent::Trades(batch)) => {
                let all: Vec<_> = batch.map(Result::unwrap).collect();
                assert_eq!(all.len(), 1, "a Binance trade frame carries one trade");
                let t = all[0];
                wire.trade(&mut out, t.event_ms, t.trade_ms, t.id, t.price.0, t.qty.0, t.taker_side == Side::Sell);
                Some(1)
            }
            Ok(MarketEvent::Depth(d)) => {
                let bids: Vec<_> = d.bids.map(|l| l.map(|(p, q)| (p.0, q.0)).unwrap()).collect();
                let asks: Vec<_> = d.asks.map(|l| l.map(|(p, q)| (p.0, q.0)).unwrap()).collect();
                wire.depth_update(
                    &mut out,
                    d.event_ms,
                    d.transact_ms,
                    d.first_id,
                    d.last_id,
                    d.prev_last_id,
                    &bids,
                    &asks,
                );
                Some(2)
            }
            Ok(MarketEvent::Snapshot(s)) => {
                let bids: Vec<_> = s.bids.map(|l| l.map(|(p, q)| (p.0, q.0)).unwrap()).collect();
                let asks: Vec<_> = s.asks.map(|l| l.map(|(p, q)| (p.0, q.0)).unwrap()).collect();
                wire.depth_snapshot(&mut out, s.last_id, s.event_ms, s.transact_ms, bids, asks);
                Some(3)
            }
            _ => None,
        });
        let Some(kind) = kind else { continue };
        assert_eq!(show(&out), show(&frame), "the writer differs from the venue");
        *[&mut tickers, &mut trades, &mut diffs, &mut snapshots][kind] += 1;
    }
    // The counts of the data README: every frame of the four kinds.
    assert_eq!((tickers, trades, diffs, snapshots), (66_089, 21_313, 6_551, 1));
}

fn fixed(v: &Value, scale: u8) -> i64 {
    parse_decimal(v.as_str().unwrap().as_bytes(), scale, true).unwrap()
}

fn direction(v: &Value) -> TickDirection {
    match v.as_str().unwrap() {
        "PlusTick" => TickDirection::PlusTick,
        "ZeroPlusTick" => TickDirection::ZeroPlusTick,
        "MinusTick" => TickDirection::MinusTick,
        "ZeroMinusTick" => TickDirection::ZeroMinusTick,
        other => panic!("tick direction {other}"),
    }
}

/// Applies the fields present in a `tickers` `data` object; returns the
/// writer's `changed` bits for them, or `u32::MAX` if one of them is not
/// something the writer can express (every field is applied regardless).
fn apply_ticker(t: &mut TickerState, data: &serde_json::Map<String, Value>, ps: u8, qs: u8) -> u32 {
    let mut bits = 0;
    for (key, v) in data {
        bits |= match key.as_str() {
            "symbol" => 0,
            // Constants of the writer's snapshot.
            "fundingIntervalHour" if v == "8" => 0,
            "fundingCap" if v == "0.005" => 0,
            "preOpenPrice" | "preQty" | "curPreListingPhase" if v == "" => 0,
            // The writer derives these as half the totals (truncated);
            // the venue computes them on its own and sometimes rounds the
            // other way. Keys arrive sorted (serde_json's map), so the
            // totals are already applied here.
            "singleOpenInterest" if fixed(v, qs) == t.open_interest / 2 => changed::OPEN_INTEREST,
            "singleOpenInterestValue" if fixed(v, 2) == t.oi_value_e2 / 2 => changed::OI_VALUE,
            "tickDirection" => {
                t.tick_direction = direction(v);
                changed::TICK_DIRECTION
            }
            "price24hPcnt" => {
                t.pcnt_e6 = fixed(v, 6);
                changed::PCNT
            }
            "lastPrice" => {
                t.last = fixed(v, ps);
                changed::LAST
            }
            "prevPrice24h" => {
                t.prev_24h = fixed(v, ps);
                changed::PREV_24H
            }
            "highPrice24h" => {
                t.high_24h = fixed(v, ps);
                changed::PREV_24H
            }
            "lowPrice24h" => {
                t.low_24h = fixed(v, ps);
                changed::PREV_24H
            }
            "prevPrice1h" => {
                t.prev_1h = fixed(v, ps);
                changed::PREV_1H
            }
            "markPrice" => {
                t.mark = fixed(v, ps);
                changed::MARK
            }
            "indexPrice" => {
                t.index = fixed(v, ps);
                changed::INDEX
            }
            "openInterest" => {
                t.open_interest = fixed(v, qs);
                changed::OPEN_INTEREST
            }
            "openInterestValue" => {
                t.oi_value_e2 = fixed(v, 2);
                changed::OI_VALUE
            }
            "turnover24h" => {
                t.turnover_e4 = fixed(v, 4);
                changed::VOLUME
            }
            "volume24h" => {
                t.volume_e4 = fixed(v, 4);
                changed::VOLUME
            }
            "nextFundingTime" => {
                t.next_funding_ms = fixed(v, 0);
                changed::FUNDING
            }
            "fundingRate" => {
                t.funding_rate_e8 = fixed(v, 8);
                changed::FUNDING
            }
            "bid1Price" => {
                t.bid.0 = fixed(v, ps);
                changed::BID
            }
            "bid1Size" => {
                t.bid.1 = fixed(v, qs);
                changed::BID
            }
            "ask1Price" => {
                t.ask.0 = fixed(v, ps);
                changed::ASK
            }
            "ask1Size" => {
                t.ask.1 = fixed(v, qs);
                changed::ASK
            }
            // A field the writer cannot express: the frame is not compared.
            _ => u32::MAX,
        };
    }
    bits
}

#[test]
fn bybit_writer_reproduces_the_recordings_books_trades_and_tickers() {
    let Some(path) = common::recording("bybit_writer_reproduces_the_recording", common::REAL_FILES[1].1) else {
        return;
    };
    let (decoder, inst) = decoder(Venue::BybitLinear);
    let wire = BybitWire::new(&inst);
    let (ps, qs) = (inst.price_scale, inst.qty_scale);
    let mut scratch = JsonScratch::default();
    let mut ticker: Option<TickerState> = None;
    let (mut books, mut trade_frames, mut ticker_frames, mut not_expressible) = (0, 0, 0, 0);
    for (_, frame) in common::read_lines(&path) {
        let json: Value = serde_json::from_slice(&frame).unwrap();
        let topic = json["topic"].as_str().unwrap_or_default();
        let mut out = Vec::new();
        if topic.starts_with("orderbook.200.") {
            let mut buf = frame.clone();
            decoder.decode_frame(&mut scratch, &mut buf, |ev| {
                let levels = |l: scalpel::event::Levels<'_>| -> Vec<(i64, i64)> {
                    l.map(|l| l.map(|(p, q)| (p.0, q.0)).unwrap()).collect()
                };
                match ev {
                    Ok(MarketEvent::Snapshot(s)) => {
                        wire.orderbook(
                            &mut out,
                            true,
                            s.event_ms,
                            s.transact_ms,
                            s.last_id,
                            s.seq,
                            levels(s.bids),
                            levels(s.asks),
                        );
                    }
                    Ok(MarketEvent::Depth(d)) => {
                        wire.orderbook(
                            &mut out,
                            false,
                            d.event_ms,
                            d.transact_ms,
                            d.last_id,
                            d.seq,
                            levels(d.bids),
                            levels(d.asks),
                        );
                    }
                    other => panic!("orderbook frame decoded as {other:?}"),
                }
            });
            books += 1;
        } else if topic.starts_with("publicTrade.") {
            let data = json["data"].as_array().unwrap();
            let first = &data[0];
            // The writer writes the prints of one taker order: one T, S and seq.
            if data.iter().any(|e| e["T"] != first["T"] || e["S"] != first["S"] || e["seq"] != first["seq"]) {
                not_expressible += 1;
                continue;
            }
            let prints: Vec<TradePrint> = data
                .iter()
                .map(|e| {
                    let mut id = [0u8; 36];
                    id.copy_from_slice(e["i"].as_str().unwrap().as_bytes());
                    TradePrint { price: fixed(&e["p"], ps), qty: fixed(&e["v"], qs), direction: direction(&e["L"]), id }
                })
                .collect();
            let side = if first["S"] == "Buy" { Side::Buy } else { Side::Sell };
            let (ts, t, seq) =
                (json["ts"].as_i64().unwrap(), first["T"].as_i64().unwrap(), first["seq"].as_u64().unwrap());
            wire.public_trade(&mut out, ts, t, side, seq, &prints);
            trade_frames += 1;
        } else if topic.starts_with("tickers.") {
            let data = json["data"].as_object().unwrap();
            let snapshot = json["type"] == "snapshot";
            let mut state = match (snapshot, ticker) {
                (true, _) => TickerState {
                    tick_direction: TickDirection::PlusTick,
                    pcnt_e6: 0,
                    last: 0,
                    prev_24h: 0,
                    high_24h: 0,
                    low_24h: 0,
                    prev_1h: 0,
                    mark: 0,
                    index: 0,
                    open_interest: 0,
                    oi_value_e2: 0,
                    turnover_e4: 0,
                    volume_e4: 0,
                    next_funding_ms: 0,
                    funding_rate_e8: 0,
                    bid: (0, 0),
                    ask: (0, 0),
                },
                (false, Some(t)) => t,
                (false, None) => continue,
            };
            let bits = apply_ticker(&mut state, data, ps, qs);
            ticker = Some(state);
            if bits == u32::MAX {
                not_expressible += 1;
                continue;
            }
            wire.ticker(&mut out, snapshot, &state, bits, json["cs"].as_u64().unwrap(), json["ts"].as_i64().unwrap());
            ticker_frames += 1;
        } else {
            continue;
        }
        assert_eq!(show(&out), show(&frame), "the writer differs from the venue");
    }
    println!(
        "bybit: {books} book, {trade_frames} trade, {ticker_frames} ticker frames byte for byte; {not_expressible} not expressible by the writer"
    );
    assert!(books > 100 && trade_frames > 0 && ticker_frames > 0, "{books} {trade_frames} {ticker_frames}");
}
