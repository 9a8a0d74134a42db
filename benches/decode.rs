//! Decode and decode + apply, per frame type, on the real recordings.
//!
//! Reads `../shared/data` (or `$SCALPEL_DATA`); without it, benchmarks a
//! synthetic session in the venues' exact layout (`scalpel synth`) and says
//! so. Each benchmark
//! cycles through every frame of its type in the file, so the figure is the
//! mean over the real mix of frame sizes.
//!
//! - `decode`: frame → event, including parsing every level / trade.
//! - `decode_apply`: the same plus applying to a book (depth frames go
//!   straight into a `Book` preloaded from the file's first snapshot, as
//!   sequence checks would reject replays out of order), BBO, trade tape.
//! - `file_order`: every frame of the file in order through the full path
//!   (decode, sync, book, BBO, trades) — the throughput figure.

use std::hint::black_box;
use std::io::Read;
use std::path::PathBuf;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use scalpel::book::{Book, DEFAULT_LEVELS};
use scalpel::commands::instruments;
use scalpel::event::MarketEvent;
use scalpel::json::JsonScratch;
use scalpel::market::MarketState;
use scalpel::side::Side;
use scalpel::synth::{Synth, SynthConfig};
use scalpel::venue::{Decoder, Venue};

fn frames(venue: Venue, relative: &str) -> Vec<Vec<u8>> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("SCALPEL_DATA").map(PathBuf::from).into_iter().collect();
    dirs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    for dir in &dirs {
        let path = dir.join(relative);
        if let Ok(raw) = std::fs::read(&path) {
            let mut text = Vec::new();
            flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut text).expect("gunzip");
            return text
                .split(|&b| b == b'\n')
                .filter_map(|l| l.iter().position(|&b| b == b' ').map(|s| l[s + 1..].to_vec()))
                .collect();
        }
    }
    eprintln!(
        "{relative} not found (looked in {dirs:?}): benchmarking a 60 s synthetic session (scalpel synth, seed 42) instead"
    );
    let config =
        SynthConfig::built_in(venue, "BTCUSDT".parse().expect("symbol"), 42, 60.0).expect("built-in synth profile");
    let mut synth = Synth::new(&config).expect("synth");
    let mut frames = Vec::new();
    while let Some(frame) = synth.next_frame() {
        frames.push(frame.bytes.to_vec());
    }
    frames
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Depth,
    Top,
    Trade,
}

fn kind_of(decoder: &Decoder, scratch: &mut JsonScratch, frame: &[u8]) -> Option<Kind> {
    let mut buf = frame.to_vec();
    decoder.decode_frame(scratch, &mut buf, |ev| match ev {
        Ok(MarketEvent::Depth(_)) => Some(Kind::Depth),
        Ok(MarketEvent::BookTicker(_)) => Some(Kind::Top),
        Ok(MarketEvent::Ticker(t)) if t.bid_px.is_some() || t.ask_px.is_some() => Some(Kind::Top),
        Ok(MarketEvent::Trades(_)) => Some(Kind::Trade),
        _ => None,
    })
}

/// Consumes an event completely (levels and batches parsed).
fn consume(event: &MarketEvent<'_>) -> i64 {
    match *event {
        MarketEvent::Depth(d) => d.bids.chain(d.asks).map(|l| l.map_or(0, |(p, q)| p.0 ^ q.0)).sum(),
        MarketEvent::Trades(t) => t.map(|t| t.map_or(0, |t| t.price.0)).sum(),
        MarketEvent::BookTicker(t) => t.bid_px.0,
        MarketEvent::Ticker(t) => t.bid_px.map_or(0, |p| p.0),
        _ => 0,
    }
}

fn bench_venue(c: &mut Criterion, venue: Venue, relative: &str) {
    let table = instruments::load(None, venue).unwrap();
    let mut decoder = Decoder::new(venue, &table);
    let entries = decoder.symbols().entries().to_vec();
    let btc = decoder.symbols().find(b"BTCUSDT").copied().unwrap();
    decoder.set_snapshot_instrument(Some(btc.id));
    let all = frames(venue, relative);
    let mut scratch = JsonScratch::default();

    // A book preloaded from the file's first snapshot, for depth applies.
    let mut base: Book<DEFAULT_LEVELS> = Book::new(btc.tick);
    for frame in &all {
        let mut buf = frame.clone();
        let loaded = decoder.decode_frame(&mut scratch, &mut buf, |ev| match ev {
            Ok(MarketEvent::Snapshot(s)) => {
                for (side, levels) in [(Side::Buy, s.bids), (Side::Sell, s.asks)] {
                    for (p, q) in levels.flatten() {
                        let _ = base.set(side, p, q);
                    }
                }
                true
            }
            _ => false,
        });
        if loaded {
            break;
        }
    }

    for kind in [Kind::Depth, Kind::Top, Kind::Trade] {
        let mut set: Vec<Vec<u8>> =
            all.iter().filter(|f| kind_of(&decoder, &mut scratch, f) == Some(kind)).cloned().collect();
        if set.is_empty() {
            continue;
        }
        let mut group = c.benchmark_group(format!("{venue}/{kind:?}").to_lowercase());
        group.throughput(Throughput::Elements(1));
        let mut i = 0usize;
        group.bench_function("decode", |b| {
            b.iter(|| {
                let n = set.len();
                let frame = &mut set[i % n];
                i += 1;
                decoder.decode_frame(&mut scratch, frame, |ev| black_box(ev.map(|e| consume(&e)).unwrap_or(0)))
            });
        });
        let mut book = base.clone();
        let mut market = MarketState::<DEFAULT_LEVELS>::new(venue, &entries);
        group.bench_function("decode_apply", |b| {
            b.iter(|| {
                let n = set.len();
                let frame = &mut set[i % n];
                i += 1;
                decoder.decode_frame(&mut scratch, frame, |ev| match ev {
                    Ok(MarketEvent::Depth(d)) => {
                        for (side, levels) in [(Side::Buy, d.bids), (Side::Sell, d.asks)] {
                            for (p, q) in levels.flatten() {
                                let _ = black_box(book.set(side, p, q));
                            }
                        }
                    }
                    Ok(event) => {
                        black_box(market.apply(&event, |_, _, _| {}));
                    }
                    Err(_) => {}
                });
            });
        });
        group.finish();
    }

    let mut group = c.benchmark_group(format!("{venue}/file_order"));
    group.throughput(Throughput::Elements(all.len() as u64));
    group.sample_size(10);
    group.bench_function("decode_apply_all_frames", |b| {
        b.iter_batched(
            || (all.clone(), MarketState::<DEFAULT_LEVELS>::new(venue, &entries)),
            |(mut frames, mut market)| {
                for frame in &mut frames {
                    decoder.decode_frame(&mut scratch, frame, |ev| {
                        if let Ok(ev) = ev {
                            market.apply(&ev, |_, _, _| {});
                        }
                    });
                }
                market
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_venue(c, Venue::BinanceUsdm, "binance-usdm/btcusdt_20240808.gz");
    bench_venue(c, Venue::BybitLinear, "bybit-linear/btcusdt_20260809.gz");
}

criterion_group!(decode, benches);
criterion_main!(decode);
