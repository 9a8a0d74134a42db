//! The yardstick: bookTicker frame → signed order, the way a first version
//! of a trading bot is usually written — `serde_json` into owned `String`s,
//! `f64` prices, a `BTreeMap` book, the HMAC key schedule computed again for
//! every order, `format!` for the query string and the hex signature — beside
//! scalpel's own code doing the same steps (its bookTicker decoder, market
//! state, the Binance REST encoder with its keyed HMAC state, into a fixed
//! buffer). Both take the same frames (a random walk in Binance's exact
//! `bookTicker` layout, generated once) and both sign one `POST
//! /fapi/v1/order` (LIMIT GTX at the side's best, ~800 USDT) per frame.
//!
//! - `yardstick/serde_btreemap_rekeyed_hmac_format`: the yardstick.
//! - `yardstick/scalpel_same_steps`: decode in place, apply (BBO with its
//!   de-duplication rule), the order built from the BBO, `rest_new_order`
//!   (rounding and min-notional checks, query, keyed HMAC) into a buffer.
//!
//! Neither includes scalpel's signals, strategy or risk gate: the whole
//! path through the trading core is `scalpel latency --path tick-to-trade`.
//! Run with `cargo bench --bench yardstick`; with `--bench` it also times
//! 200 000 single iterations of each (two clock reads each) and prints
//! p50 / p99 / p99.9, which criterion does not report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use scalpel::commands::instruments;
use scalpel::fixed::{Price, Qty};
use scalpel::instrument::Instrument;
use scalpel::json::JsonScratch;
use scalpel::market::MarketState;
use scalpel::order::{ClientOrderId, OrderKind, OrderRequest, TimeInForce};
use scalpel::side::Side;
use scalpel::venue::binance::order::BinanceOrderEncoder;
use scalpel::venue::credentials::Credentials;
use scalpel::venue::signed_request::RecvWindow;
use scalpel::venue::{Decoder, Venue};
use sha2::Sha256;

const KEY: &[u8; 64] = &[b'K'; 64];
const SECRET: &[u8; 64] = &[b'S'; 64];
const FRAMES: usize = 4096;

/// Binance `btcusdt@bookTicker` frames on the combined stream: a random
/// walk around 61 800 with a one- or two-tick spread, increasing ids.
fn frames() -> Vec<String> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut bid = 6_180_020i64; // cents
    (0..FRAMES as u64)
        .map(|i| {
            bid += (rnd() % 5) as i64 * 10 - 20;
            let ask = bid + 10 * (1 + (rnd() % 2) as i64);
            let (bq, aq) = (1 + rnd() % 5000, 1 + rnd() % 5000);
            let t = 1_723_161_256_313 + i * 3;
            format!(
                r#"{{"stream":"btcusdt@bookTicker","data":{{"e":"bookTicker","u":{},"s":"BTCUSDT","b":"{}.{:02}","B":"{}.{:03}","a":"{}.{:02}","A":"{}.{:03}","T":{t},"E":{t}}}}}"#,
                5_123_107_839_020 + i * 7,
                bid / 100,
                bid % 100,
                bq / 1000,
                bq % 1000,
                ask / 100,
                ask % 100,
                aq / 1000,
                aq % 1000
            )
        })
        .collect()
}

// ---- the yardstick --------------------------------------------------------

#[derive(serde::Deserialize)]
struct Combined {
    #[allow(dead_code)]
    stream: String,
    data: BookTickerMsg,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct BookTickerMsg {
    e: String,
    u: u64,
    s: String,
    b: String,
    #[serde(rename = "B")]
    bid_qty: String,
    a: String,
    #[serde(rename = "A")]
    ask_qty: String,
    #[serde(rename = "T")]
    transact: u64,
    #[serde(rename = "E")]
    event: u64,
}

#[derive(Default)]
struct NaiveBook {
    bids: BTreeMap<i64, f64>,
    asks: BTreeMap<i64, f64>,
}

struct Yardstick {
    book: NaiveBook,
    seq: u64,
}

impl Yardstick {
    fn on_frame(&mut self, text: &str) -> String {
        let msg: Combined = serde_json::from_str(text).expect("bookTicker");
        let d = msg.data;
        let bid: f64 = d.b.parse().expect("bid");
        let ask: f64 = d.a.parse().expect("ask");
        let bid_qty: f64 = d.bid_qty.parse().expect("bid qty");
        let ask_qty: f64 = d.ask_qty.parse().expect("ask qty");
        let (bk, ak) = ((bid * 100.0).round() as i64, (ask * 100.0).round() as i64);
        // The top of book replaces whatever was better on each side.
        self.book.bids.retain(|&k, _| k < bk);
        self.book.bids.insert(bk, bid_qty);
        self.book.asks.retain(|&k, _| k > ak);
        self.book.asks.insert(ak, ask_qty);
        let (&best_bid, &bq) = self.book.bids.iter().next_back().expect("a bid");
        let (&best_ask, &aq) = self.book.asks.iter().next().expect("an ask");
        let imbalance = (bq - aq) / (bq + aq);
        let (side, px) = if imbalance >= 0.0 { ("BUY", best_bid) } else { ("SELL", best_ask) };
        let price = px as f64 / 100.0;
        let qty = 800.0 / price;
        self.seq += 1;
        let query = format!(
            "symbol={}&side={side}&type=LIMIT&timeInForce=GTX&quantity={qty:.3}&price={price:.2}&newClientOrderId=yardstick-{}&recvWindow=5000&timestamp={}",
            d.s, self.seq, d.event
        );
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET).expect("key");
        mac.update(query.as_bytes());
        let mut sig = String::new();
        for b in mac.finalize().into_bytes() {
            let _ = write!(sig, "{b:02x}");
        }
        format!("{query}&signature={sig}")
    }
}

// ---- scalpel's code, the same steps ---------------------------------------

struct Scalpel {
    decoder: Decoder,
    scratch: JsonScratch,
    market: MarketState<{ scalpel::book::DEFAULT_LEVELS }>,
    inst: Instrument,
    id: scalpel::event::InstrumentId,
    encoder: BinanceOrderEncoder,
    work: Vec<u8>,
    out: Vec<u8>,
    seq: u64,
}

impl Scalpel {
    fn new() -> Self {
        let venue = Venue::BinanceUsdm;
        let table = instruments::load(None, venue).expect("built-in instruments");
        let decoder = Decoder::new(venue, &table);
        let entries = decoder.symbols().entries().to_vec();
        let id = decoder.symbols().find(b"BTCUSDT").expect("BTCUSDT").id;
        let inst = *table.all().iter().find(|i| i.venue == venue && i.symbol.as_str() == "BTCUSDT").expect("BTCUSDT");
        Self {
            decoder,
            scratch: JsonScratch::default(),
            market: MarketState::new(venue, &entries),
            inst,
            id,
            encoder: BinanceOrderEncoder::new(Credentials::new(KEY, SECRET).expect("key"), RecvWindow::DEFAULT),
            work: vec![0; 1024],
            out: vec![0; 1024],
            seq: 0,
        }
    }

    /// A lap of the frames starts again: forget the BBO's id mark, so the
    /// repeated ids are applied rather than dropped as repeats.
    fn new_lap(&mut self) {
        self.market.reset_marks(self.id, false, true);
    }

    fn on_frame(&mut self, text: &str) -> usize {
        let bytes = text.as_bytes();
        let frame = &mut self.work[..bytes.len()];
        frame.copy_from_slice(bytes);
        let market = &mut self.market;
        self.decoder.decode_frame(&mut self.scratch, frame, |ev| {
            if let Ok(ev) = ev {
                market.apply(&ev, |_, _, _| {});
            }
        });
        let Some(bbo) = self.market.get(self.id).map(|s| s.bbo) else { return 0 };
        let (bq, aq) = (bbo.bid_qty.0, bbo.ask_qty.0);
        let (side, price) = if bq >= aq { (Side::Buy, bbo.bid_px) } else { (Side::Sell, bbo.ask_px) };
        // ~800 USDT at this price, in quantity steps (3 decimals).
        let qty = Qty(800 * 100 * 1000 / price.0.max(1));
        self.seq += 1;
        let order = OrderRequest {
            venue: Venue::BinanceUsdm,
            symbol: self.inst.symbol,
            side,
            kind: OrderKind::Limit,
            tif: TimeInForce::PostOnly,
            price,
            qty,
            reduce_only: false,
            client_id: ClientOrderId(self.seq),
        };
        let ts = u64::try_from(bbo.ts_ms).unwrap_or(0);
        self.encoder
            .rest_new_order(&order, &self.inst, Price::ZERO, ts, &mut self.out)
            .map_or(0, |s| s.request.query.len())
    }
}

fn bench(c: &mut Criterion) {
    let frames = frames();
    let mut g = c.benchmark_group("yardstick");
    let mut y = Yardstick { book: NaiveBook::default(), seq: 0 };
    let mut i = 0;
    g.bench_function("serde_btreemap_rekeyed_hmac_format", |b| {
        b.iter(|| {
            i = (i + 1) % FRAMES;
            black_box(y.on_frame(black_box(&frames[i])))
        })
    });
    let mut s = Scalpel::new();
    // Both pipelines must sign an order per frame: check once, untimed.
    assert!(s.on_frame(&frames[0]) > 0, "scalpel's path signed nothing");
    let mut i = 0;
    g.bench_function("scalpel_same_steps", |b| {
        b.iter(|| {
            i += 1;
            if i == FRAMES {
                i = 0;
                s.new_lap();
            }
            black_box(s.on_frame(black_box(&frames[i])))
        })
    });
    g.finish();

    if std::env::args().any(|a| a == "--bench") {
        percentiles(&frames);
    }
}

/// Per-iteration percentiles of both pipelines (two clock reads around
/// each; the read-to-read cost is included, as in `scalpel latency`).
fn percentiles(frames: &[String]) {
    const N: usize = 200_000;
    let clock = quanta::Clock::new();
    let report = |name: &str, mut one: Box<dyn FnMut(usize) + '_>| {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
        for i in 0..N / 10 {
            one(i); // warm-up
        }
        for i in 0..N {
            let t0 = clock.raw();
            one(i);
            let t1 = clock.raw();
            h.saturating_record(clock.delta_as_nanos(t0, t1).max(1));
        }
        println!(
            "yardstick/{name}: per iteration over {N}: p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        );
    };
    let mut y = Yardstick { book: NaiveBook::default(), seq: 0 };
    report(
        "serde_btreemap_rekeyed_hmac_format",
        Box::new(|i| {
            black_box(y.on_frame(&frames[i % FRAMES]));
        }),
    );
    let mut s = Scalpel::new();
    report(
        "scalpel_same_steps",
        Box::new(|i| {
            if i % FRAMES == 0 {
                s.new_lap();
            }
            black_box(s.on_frame(&frames[i % FRAMES]));
        }),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
