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
