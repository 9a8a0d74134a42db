//! `scalpel book` on every real recording equals an independent,
//! straightforward rebuild at every update, and never publishes a crossed
//! book.
//!
//! The rebuild below shares no code with scalpel: it parses frames with
//! serde_json, keeps each side in a `BTreeMap` keyed by a hand-parsed
//! numeric value of the price string, follows the venues' documented sync
//! procedures, and writes the expected output line itself.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

/// A numeric sort key for a decimal string: the value times 10^12, parsed
/// by hand (no floats, no scalpel code).
fn key(text: &str) -> i128 {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let mut frac = frac.to_owned();
    assert!(frac.len() <= 12, "too many decimals in {text}");
    while frac.len() < 12 {
        frac.push('0');
    }
    int.parse::<i128>().unwrap() * 1_000_000_000_000 + frac.parse::<i128>().unwrap()
}

/// Trailing zeros of the fraction removed, and the point if nothing follows.
fn canonical(text: &str) -> String {
    if !text.contains('.') {
        return text.to_owned();
    }
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    if trimmed.is_empty() { "0".to_owned() } else { trimmed.to_owned() }
}

#[derive(Default)]
struct RefBook {
    bids: BTreeMap<i128, (String, String)>,
    asks: BTreeMap<i128, (String, String)>,
}

impl RefBook {
    fn apply(&mut self, levels: &Value, bids: bool) {
        for level in levels.as_array().unwrap() {
            let price = level[0].as_str().unwrap();
            let qty = level[1].as_str().unwrap();
            let side = if bids { &mut self.bids } else { &mut self.asks };
            if key(qty) == 0 {
                side.remove(&key(price));
            } else {
                side.insert(key(price), (canonical(price), canonical(qty)));
            }
        }
    }

    fn line(&self, symbol: &str, u: u64, depth: usize) -> String {
        let fmt = |levels: Vec<&(String, String)>| {
            levels.iter().map(|(p, q)| format!("[\"{p}\",\"{q}\"]")).collect::<Vec<_>>().join(",")
        };
        let bids: Vec<_> = self.bids.values().rev().take(depth).collect();
        let asks: Vec<_> = self.asks.values().take(depth).collect();
        format!("{{\"symbol\":\"{symbol}\",\"u\":{u},\"bids\":[{}],\"asks\":[{}]}}", fmt(bids), fmt(asks))
    }

    fn crossed(&self) -> bool {
        match (self.bids.keys().next_back(), self.asks.keys().next()) {
            (Some(b), Some(a)) => b >= a,
            _ => false,
        }
    }
}

/// Binance: buffer diffs until the REST snapshot; drop u < lastUpdateId; the
/// first applied diff has U ≤ lastUpdateId ≤ u; then pu == previous u.
fn rebuild_binance(lines: &[(u64, Vec<u8>)], depth: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut book = RefBook::default();
    let mut buffered: Vec<Value> = Vec::new();
    let mut snapshot: Option<u64> = None;
    let mut last_u: Option<u64> = None;
    let mut symbol = String::new();
    let apply = |d: &Value,
                 book: &mut RefBook,
                 snapshot: u64,
                 last_u: &mut Option<u64>,
                 out: &mut Vec<String>,
                 symbol: &str| {
        let (first, u, pu) = (d["U"].as_u64().unwrap(), d["u"].as_u64().unwrap(), d["pu"].as_u64().unwrap());
        if u < snapshot {
            return;
        }
        match *last_u {
            None => assert!(first <= snapshot && snapshot <= u, "recording does not bridge its snapshot"),
            Some(prev) => assert_eq!(pu, prev, "the recording has a gap the rebuild does not model"),
        }
        book.apply(&d["b"], true);
        book.apply(&d["a"], false);
        *last_u = Some(u);
        if !book.crossed() {
            out.push(book.line(symbol, u, depth));
        }
    };
    for (_, frame) in lines {
        let v: Value = serde_json::from_slice(frame).unwrap();
        if let Some(id) = v.get("lastUpdateId").and_then(Value::as_u64) {
            book = RefBook::default();
            book.apply(&v["bids"], true);
            book.apply(&v["asks"], false);
            snapshot = Some(id);
            last_u = None;
            out.push(book.line(&symbol, id, depth));
            for d in std::mem::take(&mut buffered) {
                apply(&d, &mut book, id, &mut last_u, &mut out, &symbol);
            }
            continue;
        }
        let data = &v["data"];
        if data["e"] != "depthUpdate" {
            continue;
        }
        symbol = data["s"].as_str().unwrap().to_owned();
        match snapshot {
            None => buffered.push(data.clone()),
            Some(id) => apply(data, &mut book, id, &mut last_u, &mut out, &symbol),
        }
    }
    out
}

/// Bybit: a snapshot replaces the book; each delta's u is the previous u + 1.
fn rebuild_bybit(lines: &[(u64, Vec<u8>)], depth: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut book = RefBook::default();
    let mut last_u: Option<u64> = None;
    for (_, frame) in lines {
        let v: Value = serde_json::from_slice(frame).unwrap();
        let Some(topic) = v["topic"].as_str() else { continue };
        if !topic.starts_with("orderbook.") {
            continue;
        }
        let data = &v["data"];
        let u = data["u"].as_u64().unwrap();
        if v["type"] == "snapshot" || u == 1 {
            book = RefBook::default();
        } else {
            assert_eq!(Some(u), last_u.map(|p| p + 1), "the recording has a gap the rebuild does not model");
        }
        book.apply(&data["b"], true);
        book.apply(&data["a"], false);
        last_u = Some(u);
        if !book.crossed() {
            out.push(book.line(data["s"].as_str().unwrap(), u, depth));
        }
    }
    out
}

fn scalpel_book(venue: &str, path: &std::path::Path, depth: usize) -> Vec<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_scalpel"))
        .args(["book", "--venue", venue, "--input"])
        .arg(path)
        .args(["--depth", &depth.to_string()])
        .output()
        .expect("run scalpel book");
    assert!(output.status.success(), "scalpel book failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().map(str::to_owned).collect()
}

fn check_file(venue: &str, relative: &str, depth: usize) {
    let Some(path) = common::recording(&format!("book_rebuild {relative}"), relative) else { return };
    let lines = common::read_lines(&path);
    let want = if venue == "binance-usdm" { rebuild_binance(&lines, depth) } else { rebuild_bybit(&lines, depth) };
    let got = scalpel_book(venue, &path, depth);
    assert!(want.len() > 100, "rebuild produced only {} books", want.len());
    assert_eq!(got.len(), want.len(), "number of published books differs for {relative}");
    for (n, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "{relative}: book {n} differs");
    }
    // Never crossed, checked on scalpel's own output too.
    for line in &got {
        let v: Value = serde_json::from_str(line).unwrap();
        let best = |side: &str| v[side].as_array().and_then(|l| l.first()).map(|l| key(l[0].as_str().unwrap()));
        if let (Some(b), Some(a)) = (best("bids"), best("asks")) {
            assert!(b < a, "crossed book published: {line}");
        }
    }
    println!("{relative}: {} books identical to the rebuild", got.len());
}

#[test]
fn binance_btcusdt_matches_rebuild_at_every_update() {
    check_file("binance-usdm", common::REAL_FILES[0].1, 20);
}

#[test]
fn bybit_btcusdt_matches_rebuild_at_every_update() {
    check_file("bybit-linear", common::REAL_FILES[1].1, 20);
}

#[test]
fn bybit_ethusdt_matches_rebuild_at_every_update() {
    check_file("bybit-linear", common::REAL_FILES[2].1, 20);
}

#[test]
fn deeper_output_matches_too() {
    check_file("bybit-linear", common::REAL_FILES[1].1, 200);
}

#[test]
fn canonical_helper_is_right() {
    assert_eq!(canonical("61800.20"), "61800.2");
    assert_eq!(canonical("0.000"), "0");
    assert_eq!(canonical("100"), "100");
    assert_eq!(key("1.5"), 1_500_000_000_000);
}

// ---------------------------------------------------------------------------
// Any symbol, any scale: recordings of symbols outside the built-in table,
// at price and quantity scales from a tick of 10 down to 1e-8, rebuilt by
// `scalpel book` from the scales it infers from the frames (and from an
// instrument file that declares them) and compared with the rebuild above.

/// `text` with its decimal point moved `shift` places (right when
/// positive), keeping every written digit: "65114.30" by 2 is "6511430",
/// by -7 is "0.006511430".
fn shift_decimal(text: &str, shift: i32) -> String {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let mut digits: String = format!("{int}{frac}");
    let mut point = int.len() as i32 + shift;
    while point > digits.len() as i32 {
        digits.push('0');
    }
    while point <= 0 {
        digits.insert(0, '0');
        point += 1;
    }
    let (a, b) = digits.split_at(point as usize);
    let a = a.trim_start_matches('0');
    let a = if a.is_empty() { "0" } else { a };
    if b.is_empty() { a.to_owned() } else { format!("{a}.{b}") }
}

fn shift_levels(levels: &mut Value, price_shift: i32, qty_shift: i32) {
    for level in levels.as_array_mut().unwrap() {
        let price = shift_decimal(level[0].as_str().unwrap(), price_shift);
        let qty = shift_decimal(level[1].as_str().unwrap(), qty_shift);
        *level = serde_json::json!([price, qty]);
    }
}

/// The recording's order-book frames only, renamed to `symbol` and with
/// every price and quantity rescaled.
fn rescaled_depth(lines: &[(u64, Vec<u8>)], symbol: &str, price_shift: i32, qty_shift: i32) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    for (ts, frame) in lines {
        let mut v: Value = serde_json::from_slice(frame).unwrap();
        if v.get("lastUpdateId").is_some() {
            shift_levels(&mut v["bids"], price_shift, qty_shift);
            shift_levels(&mut v["asks"], price_shift, qty_shift);
        } else if v["data"]["e"] == "depthUpdate" {
            v["stream"] = Value::from(format!("{}@depth@0ms", symbol.to_lowercase()));
            v["data"]["s"] = Value::from(symbol);
            shift_levels(&mut v["data"]["b"], price_shift, qty_shift);
            shift_levels(&mut v["data"]["a"], price_shift, qty_shift);
        } else if v["topic"].as_str().is_some_and(|t| t.starts_with("orderbook.")) {
            let topic = v["topic"].as_str().unwrap();
            let channel = &topic[..topic.rfind('.').unwrap()];
            v["topic"] = Value::from(format!("{channel}.{symbol}"));
            v["data"]["s"] = Value::from(symbol);
            shift_levels(&mut v["data"]["b"], price_shift, qty_shift);
            shift_levels(&mut v["data"]["a"], price_shift, qty_shift);
        } else {
            continue;
        }
        out.push((*ts, serde_json::to_vec(&v).unwrap()));
    }
    out
}

fn write_recording(dir: &std::path::Path, name: &str, lines: &[(u64, Vec<u8>)]) -> std::path::PathBuf {
    let mut text = Vec::new();
    for (ts, frame) in lines {
        text.extend_from_slice(format!("{ts} ").as_bytes());
        text.extend_from_slice(frame);
        text.push(b'\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `scalpel book` (no --venue: detected) with extra arguments; the books
/// and stderr.
fn scalpel_book_any(path: &std::path::Path, depth: usize, extra: &[&str]) -> (Vec<String>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_scalpel"))
        .args(["book", "--input"])
        .arg(path)
        .args(["--depth", &depth.to_string()])
        .args(extra)
        .output()
        .expect("run scalpel book");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "scalpel book failed: {stderr}");
    (String::from_utf8(output.stdout).unwrap().lines().map(str::to_owned).collect(), stderr)
}

fn assert_same_books(got: &[String], want: &[String], what: &str) {
    assert!(want.len() > 100, "{what}: the rebuild produced only {} books", want.len());
    assert_eq!(got.len(), want.len(), "{what}: number of published books differs");
    for (n, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "{what}: book {n} differs");
    }
}

fn scratch(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("scalpel-anysym-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The Bybit BTCUSDT and ETHUSDT recordings as symbols the table does not
/// know, at price ticks from 10 to 1e-8 and other quantity steps.
#[test]
fn bybit_files_at_other_scales_rebuild_identically() {
    let dir = scratch("bybit");
    for relative in [common::REAL_FILES[1].1, common::REAL_FILES[2].1] {
        let Some(path) = common::recording(&format!("any symbol {relative}"), relative) else { return };
        let lines = common::read_lines(&path);
        // BTCUSDT: tick 0.1 → 10 (scale 0) … 1e-8; ETHUSDT: tick 0.01 → 1 … 1e-8.
        for (price_shift, qty_shift) in [(2, 3), (-3, 0), (-7, -2), (-6, 1)] {
            let symbol = "SCALEDUSDT";
            let scaled = rescaled_depth(&lines, symbol, price_shift, qty_shift);
            let file = write_recording(&dir, "scaled.txt", &scaled);
            let want = rebuild_bybit(&scaled, 20);
            let what = format!("{relative} prices ×10^{price_shift}, quantities ×10^{qty_shift}");
            let (got, stderr) = scalpel_book_any(&file, 20, &[]);
            assert_eq!(stderr.matches("inferred from the recording").count(), 1, "{what}: said once:\n{stderr}");
            assert_same_books(&got, &want, &what);
            // The same with an instrument file declaring those scales.
            let btc = relative.contains("btc");
            let tick = shift_decimal(if btc { "0.1" } else { "0.01" }, price_shift);
            let step = shift_decimal(if btc { "0.001" } else { "0.01" }, qty_shift);
            // Scales are the decimals the frames are written with (both
            // files print prices with 2, BTC quantities with 3, ETH with 2).
            let price_scale = (2 - price_shift).max(0);
            let qty_scale = (if btc { 3 } else { 2 } - qty_shift).max(0);
            let toml = format!(
                "[[instrument]]\nvenue = \"bybit-linear\"\nsymbol = \"{symbol}\"\nprice_scale = {price_scale}\nqty_scale = {qty_scale}\n\
                 tick_size = \"{tick}\"\nqty_step = \"{step}\"\nmax_qty = \"{}\"\nmin_notional = \"5\"\n",
                shift_decimal("1000", qty_shift)
            );
            let instruments = dir.join("scaled.toml");
            std::fs::write(&instruments, toml).unwrap();
            let (got, stderr) = scalpel_book_any(&file, 20, &["--instruments", instruments.to_str().unwrap()]);
            assert!(!stderr.contains("inferred"), "{what}: the file's instrument is used:\n{stderr}");
            assert_same_books(&got, &want, &format!("{what} with --instruments"));
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

/// The Binance recording as a symbol the table does not know (the REST
/// snapshot, which names no symbol, belongs to it), at a tick of 1e-5.
#[test]
fn binance_file_of_a_symbol_outside_the_table_rebuilds_identically() {
    let relative = common::REAL_FILES[0].1;
    let Some(path) = common::recording("any symbol binance", relative) else { return };
    let dir = scratch("binance");
    let lines = common::read_lines(&path);
    let scaled = rescaled_depth(&lines, "SOLUSDT", -4, 0);
    let file = write_recording(&dir, "sol.txt", &scaled);
    let want = rebuild_binance(&scaled, 20);
    let (got, stderr) = scalpel_book_any(&file, 20, &[]);
    assert!(
        stderr.contains("SOLUSDT is not in the built-in instrument table") && stderr.contains("tick 0.00001"),
        "{stderr}"
    );
    assert_same_books(&got, &want, "SOLUSDT");
    std::fs::remove_dir_all(dir).ok();
}

/// Synthetic sessions of symbols with the smallest (1e-8) and the largest
/// (10) ticks the venues list, on both venues, rebuilt identically.
#[test]
fn synthetic_sessions_at_the_smallest_and_largest_ticks_rebuild_identically() {
    let dir = scratch("synth");
    for venue in ["binance-usdm", "bybit-linear"] {
        for (symbol, tick) in [("TINYUSDT", "0.00000001"), ("HUGEUSDT", "10")] {
            let file = dir.join(format!("{venue}-{symbol}.txt"));
            let out = Command::new(env!("CARGO_BIN_EXE_scalpel"))
                .args([
                    "synth",
                    "--venue",
                    venue,
                    "--symbol",
                    symbol,
                    "--tick",
                    tick,
                    "--seed",
                    "9",
                    "--duration",
                    "25",
                ])
                .arg("--out")
                .arg(&file)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let lines = common::read_lines(&file);
            let want = if venue == "binance-usdm" { rebuild_binance(&lines, 20) } else { rebuild_bybit(&lines, 20) };
            let (got, stderr) = scalpel_book_any(&file, 20, &[]);
            assert!(stderr.contains(&format!("{symbol} is not in the built-in instrument table")), "{stderr}");
            assert!(stderr.contains(&format!("tick {tick} ")), "{stderr}");
            assert_same_books(&got, &want, &format!("{venue} {symbol} tick {tick}"));
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn shift_decimal_is_right() {
    assert_eq!(shift_decimal("65114.30", 2), "6511430");
    assert_eq!(shift_decimal("65114.30", -7), "0.006511430");
    assert_eq!(shift_decimal("0.001", 3), "1");
    assert_eq!(shift_decimal("0.001", -2), "0.00001");
    assert_eq!(shift_decimal("0", 2), "0");
    assert_eq!(shift_decimal("1000", -4), "0.1000");
}
