//! All signals for one event (budget in DESIGN.md: ≤ 150 ns), on the real
//! Binance BTCUSDT recording's event sequence.
//!
//! The frames are decoded and applied once, outside the timing, to collect
//! the signal inputs in file order: the top K levels of every published
//! book and every trade. Each timed iteration then feeds *one* event to
//! `Signals` (`on_top` or `on_trade`, which move every window and grid) and
//! takes a full `snapshot()` — what the engine does per event. The
//! sequence is replayed in a loop with times (and trade ids) shifted by the
//! recording's span per lap, so the clock keeps moving forward as live.
//!
//! - `signals/mixed_event`: the file's mix (~1 book per 3 trades).
//! - `signals/book_event`, `signals/trade_event`: one kind only.
//! - `signals/snapshot`: `snapshot()` alone.
//! - `signals/top_k_from_book`: copying the top K levels out of a real
//!   8192-slot book (part of `on_book`, excluded from the others).
//!
//! Without `../shared/data` (or `$SCALPEL_DATA`) a synthetic random-walk
//! sequence is used instead, and the run says so.

use std::hint::black_box;
use std::io::Read;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scalpel::book::{Book, DEFAULT_LEVELS};
use scalpel::commands::instruments;
use scalpel::event::{InstrumentId, MarketEvent, Trade, TradeSource};
use scalpel::fixed::{Price, Qty};
use scalpel::json::JsonScratch;
use scalpel::market::MarketState;
use scalpel::side::Side;
use scalpel::signal::{SignalConfig, Signals, TopOfBook};
use scalpel::venue::sync::SyncOutcome;
use scalpel::venue::{Decoder, Venue};

/// Inputs are kept inline (a copy of the top levels per book), like the
/// engine's hot path would hold them, so the size difference is intended.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy)]
enum Input {
    Top(i64, TopOfBook),
    Trade(Trade),
}

impl Input {
    fn ts(&self) -> i64 {
        match self {
            Input::Top(ts, _) => *ts,
            Input::Trade(t) => t.trade_ms,
        }
    }
}

fn recording() -> Option<Vec<Vec<u8>>> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("SCALPEL_DATA").map(PathBuf::from).into_iter().collect();
    dirs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    for dir in &dirs {
        if let Ok(raw) = std::fs::read(dir.join("binance-usdm/btcusdt_20240808.gz")) {
            let mut text = Vec::new();
            flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut text).expect("gunzip");
            return Some(
                text.split(|&b| b == b'\n')
                    .filter_map(|l| l.iter().position(|&b| b == b' ').map(|s| l[s + 1..].to_vec()))
                    .collect(),
            );
        }
    }
    eprintln!(
        "binance-usdm/btcusdt_20240808.gz not found (looked in {dirs:?}): benchmarking a synthetic sequence instead"
    );
    None
}

/// Price scale, quantity scale, tick.
type Scales = (u8, u8, Price);
/// The inputs, the last book, and the instrument's scales.
type Prepared = (Vec<Input>, Book<DEFAULT_LEVELS>, Scales);
type Filter = fn(&Input) -> bool;

/// The real inputs, the last book, and the instrument's scales and tick.
fn real_inputs(k: usize) -> Option<Prepared> {
    let frames = recording()?;
    let venue = Venue::BinanceUsdm;
    let table = instruments::load(None, venue).unwrap();
    let mut decoder = Decoder::new(venue, &table);
    let btc = *decoder.symbols().find(b"BTCUSDT").unwrap();
    decoder.set_snapshot_instrument(Some(btc.id));
    let entries = decoder.symbols().entries().to_vec();
    let mut market = MarketState::<DEFAULT_LEVELS>::new(venue, &entries);
    let mut scratch = JsonScratch::default();
    let mut inputs = Vec::new();
    for mut frame in frames {
        decoder.decode_frame(&mut scratch, &mut frame, |ev| {
            let Ok(event) = ev else { return };
            let ts = match &event {
                MarketEvent::Depth(d) => Some(d.transact_ms),
                MarketEvent::Snapshot(s) => Some(s.transact_ms.max(s.event_ms)),
                _ => None,
            };
            market.apply(&event, |_, book, outcome| {
                if let (Some(ts), SyncOutcome::Applied { .. }) = (ts, outcome) {
                    inputs.push(Input::Top(ts, TopOfBook::from_book(book, k)));
                }
            });
            if let MarketEvent::Trades(batch) = event {
                inputs.extend(batch.flatten().map(Input::Trade));
            }
        });
    }
    let book = market.book(btc.id).unwrap().clone();
    Some((inputs, book, (btc.price_scale, btc.qty_scale, btc.tick)))
}

/// A random walk of books and trades with the recording's rough rates.
fn synthetic_inputs(k: usize) -> Prepared {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut book: Book<DEFAULT_LEVELS> = Book::new(Price(10));
    let mut mid = 6_180_000i64;
    let mut inputs = Vec::new();
    for i in 0..30_000i64 {
        let ts = 1_723_161_256_000 + i * 12;
        if i % 4 == 0 {
            mid += (rnd() % 3) as i64 * 10 - 10;
            book.clear();
            for l in 0..10 {
                book.set(Side::Buy, Price(mid - 10 * l), Qty(1 + (rnd() % 5000) as i64)).unwrap();
                book.set(Side::Sell, Price(mid + 10 + 10 * l), Qty(1 + (rnd() % 5000) as i64)).unwrap();
            }
            inputs.push(Input::Top(ts, TopOfBook::from_book(&book, k)));
        } else {
            let side = if rnd() % 2 == 0 { Side::Buy } else { Side::Sell };
            let price = if side == Side::Buy { mid + 10 } else { mid };
            inputs.push(Input::Trade(Trade {
                inst: InstrumentId(0),
                id: i as u64,
                trade_ms: ts,
                event_ms: ts,
                price: Price(price),
                qty: Qty(1 + (rnd() % 200) as i64),
                taker_side: side,
                source: TradeSource::Market,
            }));
        }
    }
    (inputs, book, (2, 3, Price(10)))
}

/// Feeds `inputs[i % n]` shifted by whole laps, so time keeps moving.
struct Replay {
    inputs: Vec<Input>,
    span_ms: i64,
    max_id: u64,
    next: usize,
    lap: i64,
}

impl Replay {
    fn new(inputs: Vec<Input>) -> Self {
        let first = inputs.first().map_or(0, Input::ts);
        let last = inputs.iter().map(Input::ts).max().unwrap_or(0);
        let max_id =
            inputs.iter().filter_map(|i| if let Input::Trade(t) = i { Some(t.id) } else { None }).max().unwrap_or(0);
        Self { inputs, span_ms: last - first + 1, max_id: max_id + 1, next: 0, lap: 0 }
    }

    #[inline]
    fn feed(&mut self, signals: &mut Signals) {
        if self.next == self.inputs.len() {
            self.next = 0;
            self.lap += 1;
        }
        let shift = self.lap * self.span_ms;
        match &self.inputs[self.next] {
            Input::Top(ts, top) => signals.on_top(ts + shift, top),
            Input::Trade(t) => {
                let mut t = *t;
                t.trade_ms += shift;
                t.id += self.lap as u64 * self.max_id;
                signals.on_trade(&t);
            }
        }
        self.next += 1;
    }
}

fn benches(c: &mut Criterion) {
    let cfg = SignalConfig::default();
    let (inputs, book, (price_scale, qty_scale, tick)) =
        real_inputs(cfg.depth_levels).unwrap_or_else(|| synthetic_inputs(cfg.depth_levels));
    let fresh = || Signals::new(&cfg, price_scale, qty_scale, tick);

    let mut group = c.benchmark_group("signals");
    group.throughput(Throughput::Elements(1));
    let kinds: [(&str, Filter); 3] = [
        ("mixed_event", |_| true),
        ("book_event", |i| matches!(i, Input::Top(..))),
        ("trade_event", |i| matches!(i, Input::Trade(_))),
    ];
    for (name, keep) in kinds {
        let selected: Vec<Input> = inputs.iter().copied().filter(keep).collect();
        let mut replay = Replay::new(selected);
        let mut signals = fresh();
        // One lap to warm every window before timing.
        for _ in 0..replay.inputs.len() {
            replay.feed(&mut signals);
        }
        group.bench_function(name, |b| {
            b.iter(|| {
                replay.feed(&mut signals);
                black_box(signals.snapshot())
            });
        });
    }
    let mut signals = fresh();
    let mut replay = Replay::new(inputs.clone());
    for _ in 0..replay.inputs.len() {
        replay.feed(&mut signals);
    }
    group.bench_function("snapshot", |b| b.iter(|| black_box(black_box(&signals).snapshot())));
    for k in [5usize, 10] {
        group.bench_function(format!("top_k_from_book/{k}"), |b| {
            b.iter(|| black_box(TopOfBook::from_book(black_box(&book), k)))
        });
    }
    group.finish();
}

criterion_group!(signals, benches);
criterion_main!(signals);
