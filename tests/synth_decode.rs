//! Every generated frame decodes through the project's decoders without
//! error on every path — venue template, compact reader, simd-json tape —
//! and all three give the same event, for both venues and both built-in
//! symbols, with and without lost frames. The hot frames must take the
//! venue template (their layout is the venue's exact one).

use scalpel::commands::instruments;
use scalpel::event::{DecodeError, MarketEvent};
use scalpel::json::{Backend, BackendChoice, JsonScratch};
use scalpel::synth::{FrameKind, Synth, SynthConfig};
use scalpel::venue::{Decoder, Venue};

/// A complete rendering of a decode result (levels and batch elements
/// included), for comparing paths.
fn render(result: Result<MarketEvent<'_>, DecodeError>) -> String {
    match result {
        Err(e) => format!("Err({e:?})"),
        Ok(MarketEvent::Depth(d)) => format!(
            "Depth {:?} {} {} {} {} {} {} {:?} {:?}",
            d.inst,
            d.event_ms,
            d.transact_ms,
            d.first_id,
            d.last_id,
            d.prev_last_id,
            d.seq,
            d.bids.collect::<Vec<_>>(),
            d.asks.collect::<Vec<_>>()
        ),
        Ok(MarketEvent::Snapshot(s)) => format!(
            "Snapshot {:?} {} {} {} {} {:?} {:?}",
            s.inst,
            s.last_id,
            s.seq,
            s.event_ms,
            s.transact_ms,
            s.bids.collect::<Vec<_>>(),
            s.asks.collect::<Vec<_>>()
        ),
        Ok(MarketEvent::Trades(t)) => format!("Trades {:?}", t.collect::<Vec<_>>()),
        Ok(other) => format!("{other:?}"),
    }
}

fn check(venue: Venue, symbol: &str, seed: u64, secs: f64, gap_every: Option<u64>) {
    let table = instruments::load(None, venue).unwrap();
    let mut decoder = Decoder::new(venue, &table);
    let inst = decoder.symbols().find(symbol.as_bytes()).unwrap().id;
    decoder.set_snapshot_instrument(Some(inst));
    let mut config = SynthConfig::built_in(venue, symbol.parse().unwrap(), seed, secs).unwrap();
    config.gap_every = gap_every;
    let mut synth = Synth::new(&config).unwrap();
    let mut scratch = JsonScratch::default();
    let mut kinds = std::collections::BTreeMap::new();
    let mut slow_hot = 0;
    while let Some(frame) = synth.next_frame() {
        let kind = frame.kind;
        let original = frame.bytes.to_vec();
        let mut results = Vec::new();
        let mut backend = Backend::Tape;
        for choice in [BackendChoice::Auto, BackendChoice::Generic, BackendChoice::TapeOnly] {
            let mut buf = original.clone();
            results.push(decoder.decode_frame_with(&mut scratch, &mut buf, choice, |event, b| {
                if choice == BackendChoice::Auto {
                    backend = b;
                }
                let ok = matches!(&event, Ok(e) if !matches!(e, MarketEvent::Ignored(_) | MarketEvent::Control(_)));
                (ok, render(event))
            }));
        }
        let text = String::from_utf8_lossy(&original);
        assert!(results[0].0, "{venue} {symbol}: frame not decoded as market data: {} — {text}", results[0].1);
        assert_eq!(results[0].1, results[2].1, "{venue} {symbol}: template/auto and simd-json differ on {text}");
        assert_eq!(results[1].1, results[2].1, "{venue} {symbol}: compact and simd-json differ on {text}");
        let hot =
            matches!(kind, FrameKind::Depth { .. } | FrameKind::BookTicker | FrameKind::Trade | FrameKind::Ticker)
                || (venue == Venue::BybitLinear && matches!(kind, FrameKind::Snapshot { .. }));
        // Every hot frame must take the venue's template.
        if hot && backend != Backend::Template {
            slow_hot += 1;
        }
        let name = format!("{kind:?}");
        *kinds.entry(name.split_whitespace().next().unwrap().to_owned()).or_insert(0u64) += 1;
    }
    assert_eq!(slow_hot, 0, "{venue} {symbol}: hot frames missed the venue template");
    let expected: &[&str] = match venue {
        Venue::BinanceUsdm => &["BookTicker", "Depth", "MarkPrice", "Snapshot", "Trade"],
        Venue::BybitLinear => &["Depth", "Snapshot", "Ticker", "Trade"],
    };
    for k in expected {
        assert!(kinds.get(*k).is_some_and(|&n| n > 0), "{venue} {symbol}: no {k} frame in {kinds:?}");
    }
    println!("{venue} {symbol} seed {seed}: {kinds:?} decode identically on all paths");
}

#[test]
fn binance_frames_decode_on_all_paths() {
    check(Venue::BinanceUsdm, "BTCUSDT", 1, 6.0, None);
    check(Venue::BinanceUsdm, "ETHUSDT", 2, 4.0, Some(20));
}

#[test]
fn bybit_frames_decode_on_all_paths() {
    check(Venue::BybitLinear, "BTCUSDT", 1, 20.0, Some(30));
    check(Venue::BybitLinear, "ETHUSDT", 2, 10.0, None);
}
