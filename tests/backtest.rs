//! `scalpel backtest` end to end: a hand-built Binance session whose one
//! trade, fills and fees are derived by hand here; an impossible gate; byte
//! for byte determinism; and the real Binance BTCUSDT recording with the
//! default profile (skipped when the data is absent).

mod common;

use std::path::Path;

use scalpel::backtest::{self, BookOnlySignals, FrameRef, Source};
use scalpel::profile::Profile;
use scalpel::venue::Venue;

const T0: i64 = 1_700_000_000_000;

fn depth(e: i64, first: u64, last: u64, prev: u64, bids: &str, asks: &str) -> String {
    format!(
        r#"{{"stream":"btcusdt@depth@0ms","data":{{"e":"depthUpdate","E":{e},"T":{e},"s":"BTCUSDT","U":{first},"u":{last},"pu":{prev},"b":[{bids}],"a":[{asks}]}}}}"#
    )
}

fn book_ticker(e: i64, id: u64, bid: &str, bid_qty: &str, ask: &str, ask_qty: &str) -> String {
    format!(
        r#"{{"stream":"btcusdt@bookTicker","data":{{"e":"bookTicker","u":{id},"s":"BTCUSDT","b":"{bid}","B":"{bid_qty}","a":"{ask}","A":"{ask_qty}","T":{e},"E":{e}}}}}"#
    )
}

fn trade(e: i64, id: u64, price: &str, qty: &str, buyer_is_maker: bool) -> String {
    format!(
        r#"{{"stream":"btcusdt@trade","data":{{"e":"trade","E":{e},"T":{e},"s":"BTCUSDT","t":{id},"p":"{price}","q":"{qty}","X":"MARKET","m":{buyer_is_maker}}}}}"#
    )
}

/// Twelve seconds of BTCUSDT: best bid 50 000.00 × 2.0, best ask
/// 50 000.10 × 0.5 (imbalance +0.6, microprice above the mid), and one
/// second of aggressive buying (1 BTC ≈ 50 000 USDT of net taker flow).
/// The book then stays put, refreshed by a bookTicker every 250 ms.
fn session() -> Vec<(u64, String)> {
    let mut lines = Vec::new();
    let mut push = |t: i64, s: String| lines.push(((t - T0) as u64 * 1_000_000, s));
    push(T0, depth(T0, 10, 12, 9, r#"["50000.00","2.000"]"#, r#"["50000.10","0.500"]"#));
    push(
        T0 + 1,
        format!(
            r#"{{"lastUpdateId":11,"E":{},"T":{},"bids":[["50000.00","2.000"],["49999.90","5.000"]],"asks":[["50000.10","0.500"],["50000.20","5.000"]]}}"#,
            T0 + 1,
            T0 + 1
        ),
    );
    for k in 0..10 {
        let t = T0 + 100 + 100 * k;
        push(t, trade(t, 1_000 + k as u64, "50000.10", "0.100", false));
    }
    let mut id = 20;
    let mut t = T0 + 1_250;
    while t <= T0 + 12_000 {
        push(t, book_ticker(t, id, "50000.00", "2.000", "50000.10", "0.500"));
        id += 1;
        t += 250;
    }
    lines
}

/// A profile for the session: book-only fallbacks, thresholds the session
/// clears, market (taker) entries, B exits by time stop after 5 s.
const PROFILE: &str = r#"
[instruments]
symbols = ["BTCUSDT"]
venues = ["binance-usdm"]
[strategy]
post_only_entries = false
warmup_secs = 0
cooldown_secs = 30
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
[backtest.feed_latency]
constant_us = 3000
[backtest.order_latency]
constant_us = 2000
[risk]
initial_equity_usdt = "10000"
"#;

fn run(profile_text: &str, lines: &[(u64, String)]) -> backtest::report::Report {
    let profile = Profile::from_toml_str(profile_text, Path::new(".")).expect("profile");
    let sources = [Source::new(Venue::BinanceUsdm, "synthetic")];
    let frames = lines.iter().map(|(ts, s)| FrameRef { local_ts_ns: *ts, source: 0, bytes: s.as_bytes() });
    let signals = BookOnlySignals::new(profile.instruments.all());
    backtest::run(&profile, "test", &sources, frames, signals).expect("backtest runs")
}

/// Decimal text → integer at `scale` decimals (test's own parser).
fn units(text: &str, scale: u32) -> i128 {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let neg = int.starts_with('-');
    let mut frac = frac.to_owned();
    assert!(frac.len() <= scale as usize, "{text}");
    while frac.len() < scale as usize {
        frac.push('0');
    }
    let v =
        int.trim_start_matches('-').parse::<i128>().unwrap() * 10i128.pow(scale) + frac.parse::<i128>().unwrap_or(0);
    if neg { -v } else { v }
}

#[test]
fn synthetic_session_trades_once_with_hand_computed_size_fees_and_pnl() {
    let report = run(PROFILE, &session());
    assert_eq!(report.summary.trades, 1, "{}", report.human());
    let t = &report.trades[0];
    // Long B-trade: order flow (signed volume) and drift (microprice) agree, nothing else votes.
    assert_eq!((t.side, t.tier, t.entry_order), ("long", "B", "market"));
    // Size: 4 % of 10 000 USDT = 400 USDT at the ask 50 000.10 → 0.0079998 → 0.007 BTC.
    assert_eq!(t.qty, "0.007");
    // Market buy walks the asks (0.5 at 50 000.10 is enough); the time stop sells at the bid.
    assert_eq!((t.entry_price.as_str(), t.exit_price.as_str(), t.exit_reason), ("50000.1", "50000", "time-stop"));
    // Fees at Binance VIP0 taker 4 bps, per fill, computed here:
    // 50 000.10 × 0.007 × 0.0004 = 0.14000028; 50 000.00 × 0.007 × 0.0004 = 0.14.
    let fee = |price: &str, qty: &str| units(price, 2) * units(qty, 3) * 4; // scale 2+3+4 = 9
    let expected_e9 = fee("50000.10", "0.007") + fee("50000.00", "0.007");
    assert_eq!(units(&t.fees_usdt, 9), expected_e9);
    assert_eq!(t.fees_usdt, "0.28000028");
    // Gross −0.10 × 0.007 = −0.0007; net = gross − fees.
    assert_eq!(t.gross_pnl_usdt, "-0.0007");
    assert_eq!(t.net_pnl_usdt, "-0.28070028");
    assert_eq!(report.summary.net_pnl_usdt, "-0.28070028");
    assert_eq!(report.summary.final_equity_usdt, "9999.71929972");
    // Latency: the first trade (T0 + 100) reaches the strategy 3 ms later and
    // the order the exchange 2 ms after that; fills are stamped there.
    assert_eq!(t.entry_ms, T0 + 100 + 3 + 2);
    // Time stop: held 5 s from when the strategy learnt of the fill (3 ms
    // after it), then 2 ms to the exchange. The decision does not wait for
    // market data: while the core waits for its next frame (bookTickers
    // reach it every 250 ms, at T0 + 1 253 + 250 k) its timer ticks every
    // 100 ms. Due at T0 + 5 108; the last frame before is at T0 + 5 003, so
    // the ticks are at 5 103 (too early) and 5 203.
    let opened = T0 + 105 + 3;
    let last_frame = T0 + 1_253 + (opened + 5_000 - (T0 + 1_253)) / 250 * 250;
    let decided = (1..).map(|k| last_frame + 100 * k).find(|&tick| tick >= opened + 5_000).unwrap();
    assert_eq!(decided, T0 + 5_203);
    assert_eq!(t.exit_ms, decided + 2);
    assert_eq!(report.orders.fills, 2);
    assert_eq!(report.orders.taker_fills, 2);
    // Only the vote inputs the book-only source provides are in use.
    assert_eq!(report.signal_source, "book-only");
    let json = report.to_json();
    assert!(json.contains("\"order_flow\": \"signed-volume\""), "{json}");
    assert!(json.contains("\"vwap_deviation\": null"), "{json}");
    assert!(json.contains("\"skipped_input_unavailable\": [\n      \"volume-surge\""), "{json}");
}

/// The session of [`session`] with receive times on a real clock: each
/// frame received `lag_ms(k, exchange time)` after its exchange time.
fn received(lag_ms: impl Fn(usize, i64) -> i64) -> Vec<(u64, String)> {
    session()
        .into_iter()
        .enumerate()
        .map(|(k, (rel_ns, s))| {
            let e = T0 + (rel_ns / 1_000_000) as i64;
            (((e + lag_ms(k, e)) * 1_000_000) as u64, s)
        })
        .collect()
}

#[test]
fn recorded_feed_latency_runs_the_core_on_the_receive_clock_in_receive_order() {
    let recorded = PROFILE.replace("constant_us = 3000", "constant_us = 3000\nrecorded = true");
    // The first trade (T0 + 100, frame 2) arrives 7 ms after its exchange time:
    // the entry is decided then, and reaches the exchange 2 ms later.
    let report = run(&recorded, &received(|_, _| 7));
    assert_eq!(report.summary.trades, 1, "{}", report.human());
    assert_eq!(report.trades[0].entry_ms, T0 + 100 + 7 + 2);
    assert!(
        report.settings.feed_latency.contains("0 of 56 before the exchange clock"),
        "{}",
        report.settings.feed_latency
    );
    // The first trade is held up 250 ms on the wire; the second (T0 + 200,
    // received 1 ms later) reaches the core first and makes the entry.
    let report = run(&recorded, &received(|k, _| if k == 2 { 250 } else { 1 }));
    assert_eq!(report.trades[0].entry_ms, T0 + 200 + 1 + 2, "{}", report.human());
    // Without `recorded` the same input replays on exchange time + 3 ms, in exchange-time order.
    let report = run(PROFILE, &received(|k, _| if k == 2 { 250 } else { 1 }));
    assert_eq!(report.trades[0].entry_ms, T0 + 100 + 3 + 2);
    // A recorder clock 1 s behind the exchange: every frame would reach the
    // core before the exchange saw it; each is delivered at the exchange
    // time instead, and counted; the offset puts them back.
    let report = run(&recorded, &received(|_, _| -1_000));
    assert_eq!(report.trades[0].entry_ms, T0 + 100 + 2);
    assert!(report.settings.feed_latency.contains("56 of 56 before"), "{}", report.settings.feed_latency);
    let offset = recorded.replace("recorded = true", "recorded = true\nclock_offset_us = 1004000");
    let report = run(&offset, &received(|_, _| -1_000));
    assert_eq!(report.trades[0].entry_ms, T0 + 100 + 4 + 2);
    assert!(
        report.settings.feed_latency.contains("clock offset 1004000 us; 0 of 56"),
        "{}",
        report.settings.feed_latency
    );
}

fn mark_price(e: i64, mark: &str, rate: &str, next_funding: i64) -> String {
    format!(
        r#"{{"stream":"btcusdt@markPrice@1s","data":{{"e":"markPriceUpdate","E":{e},"s":"BTCUSDT","p":"{mark}","i":"{mark}","P":"{mark}","r":"{rate}","T":{next_funding}}}}}"#
    )
}

#[test]
fn funding_is_charged_at_the_funding_time_to_the_open_trade() {
    // Funding at T0 + 3 s, while the long (opened at T0 + 105) is held;
    // after it the venue announces the next one, 8 h later.
    let mut lines = session();
    for (t, next) in [
        (T0 + 1_000, T0 + 3_000),
        (T0 + 2_000, T0 + 3_000),
        (T0 + 3_000, T0 + 3_000 + 28_800_000),
        (T0 + 4_000, T0 + 3_000 + 28_800_000),
    ] {
        lines.push(((t - T0) as u64 * 1_000_000, mark_price(t, "50000.05", "0.0001", next)));
    }
    lines.sort_by_key(|(ts, _)| *ts);
    let report = run(PROFILE, &lines);
    assert_eq!(report.summary.trades, 1, "{}", report.human());
    // Long 0.007 × mark 50 000.05 × 0.0001 = 0.035000035 → paid 0.03500004 (half away from zero, 1e-8).
    let t = &report.trades[0];
    assert_eq!(t.funding_usdt, "-0.03500004");
    assert_eq!(t.net_pnl_usdt, "-0.31570032");
    assert_eq!(report.summary.funding_usdt, "-0.03500004");
    assert_eq!(report.orders.funding_events, 1);
}

#[test]
fn an_impossible_gate_makes_no_trades_and_counts_its_blocks() {
    let profile = format!("{PROFILE}\n[gates.spread]\nmax = 0\n");
    let report = run(&profile, &session());
    assert_eq!(report.summary.trades, 0);
    assert_eq!(report.orders.orders_at_exchange, 0);
    let spread = report.gates.blocked.0.iter().find(|(k, _)| *k == "spread").unwrap().1;
    assert!(spread > 0, "{:?}", report.gates);
    assert_eq!(report.gates.passed, 0);
    assert_eq!(report.gates.candidates, spread);
}

#[test]
fn post_only_entries_fill_only_when_the_tape_trades_through() {
    // Post-only buy at the bid 50 000.00. In the session no trade ever
    // prints below 50 000.00, so the entry times out unfilled…
    let maker = PROFILE.replace("post_only_entries = false", "post_only_entries = true\nentry_timeout_ms = 2000");
    let report = run(&maker, &session());
    assert_eq!(report.summary.trades, 0);
    assert!(report.orders.unfilled_entries >= 1, "{:?}", report.orders);
    assert_eq!(report.orders.fills, 0);
    // …until a sell trades through it at 49 999.90: filled in full, at our price, as maker (2 bps).
    let mut lines = session();
    let t = T0 + 600;
    lines.push(((t - T0) as u64 * 1_000_000, trade(t, 5_000, "49999.90", "0.001", true)));
    lines.sort_by_key(|(ts, _)| *ts);
    let report = run(&maker, &lines);
    assert_eq!(report.summary.trades, 1, "{}", report.human());
    let tr = &report.trades[0];
    assert_eq!((tr.entry_order, tr.entry_price.as_str(), tr.entry_ms), ("post-only", "50000", t));
    // Sized at the limit price: 400 USDT / 50 000.00 = 0.008 BTC.
    assert_eq!(tr.qty, "0.008");
    // Entry maker 50 000 × 0.008 × 0.0002 = 0.08, exit taker 50 000 × 0.008 × 0.0004 = 0.16.
    assert_eq!(tr.fees_usdt, "0.24");
    assert_eq!(report.orders.maker_fills, 1);
}

#[test]
fn order_latency_drawn_from_a_sample_file_is_seeded() {
    let dir = std::env::temp_dir().join(format!("scalpel-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("one.txt"), "# order latency, µs\n7000\n").unwrap();
    std::fs::write(dir.join("many.txt"), "1000\n2000\n3000\n4000\n5000\n6000\n7000\n8000\n").unwrap();
    let with = |file: &str, seed: u64| {
        PROFILE.replace(
            "[backtest.order_latency]\nconstant_us = 2000",
            &format!("[backtest.order_latency]\nsamples_file = \"{file}\"\nseed = {seed}"),
        )
    };
    let load = |text: &str| Profile::from_toml_str(text, &dir).expect("profile");
    let go = |text: &str| {
        let profile = load(text);
        let sources = [Source::new(Venue::BinanceUsdm, "synthetic")];
        let lines = session();
        let frames = lines.iter().map(|(ts, s)| FrameRef { local_ts_ns: *ts, source: 0, bytes: s.as_bytes() });
        backtest::run(&profile, "test", &sources, frames, BookOnlySignals::new(profile.instruments.all())).unwrap()
    };
    // One sample: every order takes 7 ms to reach the exchange.
    let r = go(&with("one.txt", 1));
    assert_eq!(r.trades[0].entry_ms, T0 + 100 + 3 + 7);
    // Several samples: the same seed gives the same bytes; the delay is one of the samples.
    let a = go(&with("many.txt", 42)).to_json();
    assert_eq!(a, go(&with("many.txt", 42)).to_json());
    let r = go(&with("many.txt", 42));
    let delay = r.trades[0].entry_ms - (T0 + 100 + 3);
    assert!((1..=8).contains(&delay), "{delay}");
    assert!(a.contains("8 samples from"), "{a}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn slow_context_from_a_file_lifts_confidence_into_the_trading_band() {
    // With these weights the session's B scout scores 91.4 (60 votes for
    // its two of two + 25 strength + 15 × 0.43 imbalance margin). With the
    // base band from 95 that is observe-only …
    let observe = PROFILE.replace(
        "[confidence]\nlarge_from = 100",
        "[confidence]\nvotes_weight = 60\nconfluence_weight = 0\nbase_from = 95\nlarge_from = 100",
    );
    let report = run(&observe, &session());
    assert_eq!(report.summary.trades, 0);
    assert!(report.gates.blocked.0.iter().any(|(k, n)| *k == "confidence-observe-only" && *n > 0));
    // … until a greed reading of 80 (0.2 × (80 − 50) = 6, clamped to 5) is
    // known: 96.4 → base size. A reading after the session, or under another
    // name, changes nothing.
    let dir = std::env::temp_dir().join(format!("scalpel-context-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("context.jsonl"),
        format!(
            "{{\"name\":\"fear_greed\",\"value\":80,\"ts\":{}}}\n{{\"name\":\"fear_greed\",\"value\":0,\"ts\":{}}}\n{{\"name\":\"dxy\",\"value\":-9,\"ts\":{}}}\n",
            T0 - 60_000,
            T0 + 60_000,
            T0 - 1
        ),
    )
    .unwrap();
    let with_context = format!(
        "{observe}\n[context]\nfile = \"context.jsonl\"\n[[context.component]]\nname = \"fear_greed\"\nweight = 0.2\ncenter = 50\nclamp = 5\ndirectional = true\n"
    );
    let profile = Profile::from_toml_str(&with_context, &dir).unwrap();
    let lines = session();
    let frames = lines.iter().map(|(ts, s)| FrameRef { local_ts_ns: *ts, source: 0, bytes: s.as_bytes() });
    let sources = [Source::new(Venue::BinanceUsdm, "synthetic")];
    let report =
        backtest::run(&profile, "test", &sources, frames, BookOnlySignals::new(profile.instruments.all())).unwrap();
    assert_eq!(report.summary.trades, 1, "{}", report.human());
    assert_eq!(report.trades[0].confidence, 96);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn malformed_frames_are_counted_not_fatal() {
    let mut lines = session();
    let bad = [
        "not json at all".to_owned(),
        "{}".to_owned(),
        trade(T0 + 50, 7, "50000.10", "0.100", false)[..60].to_owned(),
        r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":9,"p":"-5","q":"x","X":"MARKET","m":false}}"#.to_owned(),
        r#"{"stream":"dogeusdt@trade","data":{"e":"trade","E":1,"T":1,"s":"DOGEUSDT","t":9,"p":"0.1","q":"1","X":"MARKET","m":false}}"#.to_owned(),
    ];
    for (k, b) in bad.into_iter().enumerate() {
        lines.insert(3 + 2 * k, (lines[2 + 2 * k].0, b));
    }
    let report = run(PROFILE, &lines);
    assert_eq!(report.replay.frames, lines.len() as u64);
    assert!(report.replay.decode_errors >= 3, "{:?}", report.replay);
    // The good frames still make the same trade.
    let clean = run(PROFILE, &session());
    assert_eq!(report.trades[0].net_pnl_usdt, clean.trades[0].net_pnl_usdt);
    assert_eq!(report.summary.trades, 1);
}

#[test]
fn same_input_same_bytes() {
    let a = run(PROFILE, &session()).to_json();
    let b = run(PROFILE, &session()).to_json();
    assert_eq!(a, b);
    assert!(a.contains("\"trades\": 1"));
}

#[test]
fn real_binance_recording_trades_with_the_default_profile_and_reproduces_byte_for_byte() {
    let Some(path) = common::recording("backtest_real_binance", "binance-usdm/btcusdt_20240808.gz") else { return };
    let dir = std::env::temp_dir().join(format!("scalpel-backtest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/default.toml");
    let mut outputs = Vec::new();
    for n in 0..2 {
        let json = dir.join(format!("report{n}.json"));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_scalpel"))
            .args(["backtest", "--config"])
            .arg(&config)
            .arg("--input")
            .arg(&path)
            .arg("--json")
            .arg(&json)
            .output()
            .expect("run scalpel");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        if n == 0 {
            println!("{stdout}");
        }
        outputs.push(std::fs::read(&json).unwrap());
    }
    assert_eq!(outputs[0], outputs[1], "two runs differ");
    let report: serde_json::Value = serde_json::from_slice(&outputs[0]).unwrap();
    let trades = report["summary"]["trades"].as_u64().unwrap();
    assert!(trades > 0, "the default profile made no trade on the real recording");
    // It ran on the live signal families, every field provided.
    assert_eq!(report["signal_source"], "all-signals");
    assert_eq!(report["signal_fields_missing"], serde_json::json!([]));
    assert_eq!(report["replay"]["decode_errors"], 0);
    assert_eq!(report["replay"]["frames"], 93_954);
    // Every trade's money adds up: net = gross − fees + funding, exactly.
    let mut net_sum = 0i128;
    for t in report["trades"].as_array().unwrap() {
        let v = |k: &str| units(t[k].as_str().unwrap(), 8);
        assert_eq!(v("net_pnl_usdt"), v("gross_pnl_usdt") - v("fees_usdt") + v("funding_usdt"), "{t}");
        net_sum += v("net_pnl_usdt");
    }
    assert_eq!(net_sum, units(report["summary"]["net_pnl_usdt"].as_str().unwrap(), 8));
    assert_eq!(report["summary"]["sharpe_daily_annualised"], "n/a");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn real_binance_recording_with_an_impossible_gate_makes_no_trades() {
    let Some(path) = common::recording("backtest_real_impossible_gate", "binance-usdm/btcusdt_20240808.gz") else {
        return;
    };
    let default = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/default.toml")).unwrap();
    let impossible = default.replace(
        "[gates.imbalance]        # top-of-book imbalance in the trade's direction\nenabled = true\nmin = 0.30",
        "[gates.imbalance]\nenabled = true\nmin = 1.0",
    );
    assert_ne!(impossible, default, "the default profile's imbalance gate moved; update this test");
    // min = 1.0 needs an empty opposite side at the top: impossible on a live book.
    let profile = Profile::from_toml_str(&impossible, Path::new(".")).unwrap();
    let (mut frames, sources) =
        backtest::FileMerge::open(&[path.display().to_string()], &profile.instruments, 5_000).unwrap();
    let (report, _) = backtest::run_stream(
        &profile,
        "impossible",
        &sources,
        &mut frames,
        BookOnlySignals::new(profile.instruments.all()),
        &mut |_| {},
        None,
    )
    .unwrap();
    assert_eq!(report.summary.trades, 0);
    let blocked = report.gates.blocked.0.iter().find(|(k, _)| *k == "imbalance").unwrap().1;
    assert!(blocked > 0);
    assert_eq!(report.gates.passed, 0);
}

/// With no recording, `scalpel backtest` replays a synthetic session it
/// generates itself (so a fresh clone without ../shared has a market), says
/// so, prints its summary, and is just as reproducible.
#[test]
fn without_input_it_backtests_a_synthetic_session_and_says_so() {
    let dir = std::env::temp_dir().join(format!("scalpel-backtest-synth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/default.toml");
    let mut reports = Vec::new();
    for n in 0..2 {
        let json = dir.join(format!("synthetic{n}.json"));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_scalpel"))
            .args(["backtest", "--synth-secs", "240", "--config"])
            .arg(&config)
            .arg("--json")
            .arg(&json)
            .output()
            .expect("run scalpel");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            stdout.contains("replaying a synthetic session generated in process (binance-usdm BTCUSDT, seed 42, 240 s"),
            "{stdout}"
        );
        assert!(
            stdout.contains("\ntrades: ") && stdout.contains("\npnl: ") && stdout.contains("\ngates: "),
            "{stdout}"
        );
        reports.push(std::fs::read(&json).unwrap());
    }
    assert_eq!(reports[0], reports[1], "two runs differ");
    let report: serde_json::Value = serde_json::from_slice(&reports[0]).unwrap();
    assert_eq!(report["inputs"][0]["label"], "synthetic:binance-usdm:BTCUSDT:seed=42:240s");
    assert_eq!(report["replay"]["decode_errors"], 0);
    assert!(report["replay"]["frames"].as_u64().unwrap() > 50_000);
    let _ = std::fs::remove_dir_all(&dir);
}

fn scalpel(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_scalpel")).current_dir(dir).args(args).output().expect("run scalpel")
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("scalpel-bt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The hand-built session as a recording file (receive times in ns since
/// the epoch, 1 ms after the exchange time).
fn session_file(dir: &Path, name: &str, shift_ms: i64) -> String {
    let text: String = session()
        .iter()
        .map(|(ts, line)| {
            let t = T0 + (*ts / 1_000_000) as i64;
            let line = if shift_ms == 0 {
                line.clone()
            } else {
                // Move every exchange time by shift_ms (text of the times).
                line.replace(&t.to_string(), &(t + shift_ms).to_string())
            };
            format!("{} {line}\n", (t + shift_ms + 1) as u64 * 1_000_000)
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn it_runs_outside_the_repository_on_its_built_in_profile() {
    let dir = temp_dir("outside");
    let out = scalpel(&dir, &["backtest", "--synth-secs", "30", "--json", "r.json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("r.json")).unwrap()).unwrap();
    assert_eq!(report["profile"], "built-in tuning/default.toml");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unwritable_report_path_fails_before_the_run() {
    let dir = temp_dir("unwritable");
    let started = std::time::Instant::now();
    let out = scalpel(&dir, &["backtest", "--synth-secs", "3600", "--json", "no/such/dir/r.json"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--json no/such/dir/r.json"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("trades:"), "it ran anyway");
    assert!(started.elapsed().as_secs() < 20, "an hour of replay was not skipped");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn input_mistakes_are_said() {
    let dir = temp_dir("mistakes");
    std::fs::write(dir.join("p.toml"), format!("{PROFILE}\n[backtest]\nsignals = \"book-only\"\n")).unwrap();
    let a = session_file(&dir, "a.txt", 0);
    // --synth-* beside --input: ignored, and said.
    let out = scalpel(&dir, &["backtest", "--config", "p.toml", "--input", &a, "--synth-seed", "3"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--synth-* options are ignored"));
    // Two files an hour apart replay one after the other: said.
    let b = session_file(&dir, "b.txt", 3_600_000);
    let out = scalpel(&dir, &["backtest", "--config", "p.toml", "--input", &a, &b]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("do not overlap in exchange time"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A file of nothing decodable is an error, not an empty report.
    std::fs::write(dir.join("junk.txt"), "1 {\"hello\":1}\n2 not json\n").unwrap();
    let out = scalpel(&dir, &["backtest", "--config", "p.toml", "--input", "binance-usdm:junk.txt"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no frame of the input decoded to market data"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_run_can_be_journaled() {
    let dir = temp_dir("journal");
    std::fs::write(dir.join("p.toml"), format!("{PROFILE}\n[backtest]\nsignals = \"book-only\"\n")).unwrap();
    let a = session_file(&dir, "a.txt", 0);
    let out = scalpel(&dir, &["backtest", "--config", "p.toml", "--input", &a, "--journal", "run.journal"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = scalpel(&dir, &["journal", "--input", "run.journal"]);
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    let text = String::from_utf8_lossy(&printed.stdout);
    assert_eq!(text.matches("submitted").count(), 2, "{text}");
    assert_eq!(text.matches("filled").count(), 2, "{text}");
    // Each order's context, before its submission: one entry (with its
    // signal vector) and one exit, as the live journal has them.
    let kinds: Vec<&str> = text.lines().filter_map(|l| l.split_whitespace().nth(1)).collect();
    let order_kinds: Vec<&str> =
        kinds.iter().copied().filter(|k| matches!(*k, "entry" | "entry-signals" | "exit" | "submitted")).collect();
    assert_eq!(order_kinds, ["entry", "entry-signals", "submitted", "exit", "submitted"], "{text}");
    // An existing journal is never overwritten.
    let again = scalpel(&dir, &["backtest", "--config", "p.toml", "--input", &a, "--journal", "run.journal"]);
    assert!(!again.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Regression: a frame without an exchange time before the first timed one
/// (a subscription ack, as `scalpel run --record` writes at the top of a
/// market file) used to start the core's clock at zero, and the replay then
/// ticked the core's 100 ms timer all the way to the data's epoch time (it
/// never ended). The same session with an ack in front must replay quickly
/// and make the same trades as without it.
#[test]
fn an_untimed_frame_before_the_first_timed_one_does_not_start_the_clock_at_zero() {
    let plain = session();
    let mut with_ack = vec![(0u64, r#"{"result":null,"id":1}"#.to_owned())];
    with_ack.extend(plain.iter().cloned());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(run(PROFILE, &with_ack));
    });
    let report = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the replay ends");
    let expected = run(PROFILE, &plain);
    assert_eq!(report.summary.trades, expected.summary.trades);
    assert!(report.summary.trades >= 1);
    assert_eq!(report.summary.net_pnl_usdt, expected.summary.net_pnl_usdt);
}
