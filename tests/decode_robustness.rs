//! Decoders against real frames and hostile input.
//!
//! - Every real frame decodes identically through the venue template, the
//!   generic compact reader and simd-json's tape.
//! - Mutated real frames (truncated at every byte offset, bytes deleted,
//!   whitespace inserted, digits and quotes flipped) never panic and still
//!   decode identically on all three paths — error for error.
//! - Wrong JSON types, missing fields, huge numbers, invalid UTF-8 and
//!   unknown streams each give an error or a skip, never a panic.

mod common;

use scalpel::commands::instruments;
use scalpel::event::{Control, DecodeError, Ignored, MarketEvent};
use scalpel::json::{Backend, BackendChoice, JsonScratch};
use scalpel::venue::{Decoder, Venue};

/// A complete, canonical rendering of a decode result, levels and batch
/// elements included.
fn render(result: Result<MarketEvent<'_>, DecodeError>) -> String {
    match result {
        Err(e) => format!("Err({e:?})"),
        Ok(MarketEvent::Depth(d)) => {
            let bids: Vec<_> = d.bids.collect();
            let asks: Vec<_> = d.asks.collect();
            format!(
                "Depth({:?},{},{},{},{},{},{},{bids:?},{asks:?})",
                d.inst, d.event_ms, d.transact_ms, d.first_id, d.last_id, d.prev_last_id, d.seq
            )
        }
        Ok(MarketEvent::Snapshot(s)) => {
            let bids: Vec<_> = s.bids.collect();
            let asks: Vec<_> = s.asks.collect();
            format!("Snapshot({:?},{},{},{},{},{bids:?},{asks:?})", s.inst, s.last_id, s.seq, s.event_ms, s.transact_ms)
        }
        Ok(MarketEvent::Trades(t)) => format!("Trades({:?})", t.collect::<Vec<_>>()),
        Ok(MarketEvent::Liquidations(l)) => format!("Liquidations({:?})", l.collect::<Vec<_>>()),
        Ok(MarketEvent::Control(c)) => match c {
            Control::VenueError { code, id, msg } => {
                format!("VenueError({code},{id:?},{})", String::from_utf8_lossy(msg))
            }
            Control::OpResponse { op, success, req_id, ret_msg } => {
                format!("Op({op:?},{success},{},{})", String::from_utf8_lossy(req_id), String::from_utf8_lossy(ret_msg))
            }
            other => format!("{other:?}"),
        },
        Ok(other) => format!("{other:?}"),
    }
}

fn decoder(venue: Venue) -> Decoder {
    let table = instruments::load(None, venue).unwrap();
    let mut d = Decoder::new(venue, &table);
    let btc = d.symbols().find(b"BTCUSDT").unwrap().id;
    d.set_snapshot_instrument(Some(btc));
    d
}

/// Decodes `frame` on every path; asserts they agree; returns the rendering.
fn all_paths_agree(decoder: &Decoder, scratch: &mut JsonScratch, frame: &[u8]) -> String {
    let mut results = Vec::new();
    for choice in [BackendChoice::Auto, BackendChoice::Generic, BackendChoice::TapeOnly] {
        let mut buf = frame.to_vec();
        results.push(decoder.decode_frame_with(scratch, &mut buf, choice, |ev, _| render(ev)));
    }
    assert_eq!(results[0], results[2], "template/auto vs simd-json differ on {:?}", String::from_utf8_lossy(frame));
    assert_eq!(results[1], results[2], "compact vs simd-json differ on {:?}", String::from_utf8_lossy(frame));
    results.swap_remove(0)
}

#[test]
fn every_real_frame_decodes_identically_on_all_paths() {
    for (venue, relative) in common::REAL_FILES {
        let Some(path) = common::recording("every_real_frame_decodes_identically_on_all_paths", relative) else {
            return;
        };
        let venue: Venue = venue.parse().unwrap();
        let decoder = decoder(venue);
        let mut scratch = JsonScratch::default();
        let mut errors = 0;
        let lines = common::read_lines(&path);
        for (_, frame) in &lines {
            if all_paths_agree(&decoder, &mut scratch, frame).starts_with("Err") {
                errors += 1;
            }
        }
        assert_eq!(errors, 0, "{relative}: real frames failed to decode");
        println!("{relative}: {} frames identical on all paths", lines.len());
    }
}

/// One real frame of each kind in the file (first occurrence by a marker).
fn samples(relative: &str, markers: &[&str]) -> Option<Vec<Vec<u8>>> {
    let path = common::recording("mutation samples", relative)?;
    let lines = common::read_lines(&path);
    Some(
        markers
            .iter()
            .filter_map(|m| {
                lines
                    .iter()
                    .map(|(_, f)| f)
                    .filter(|f| f.len() < 4_000)
                    .find(|f| String::from_utf8_lossy(f).contains(m))
                    .cloned()
            })
            .collect(),
    )
}

fn mutations(frame: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for cut in 0..frame.len() {
        out.push(frame[..cut].to_vec());
    }
    for at in (0..frame.len()).step_by(3) {
        let mut deleted = frame.to_vec();
        deleted.remove(at);
        out.push(deleted);
        let mut spaced = frame.to_vec();
        spaced.insert(at, b' ');
        out.push(spaced);
        for replacement in [b'"', b'9', b'.', b'-', b'e', b'\\', 0xff, b'}', b','] {
            let mut flipped = frame.to_vec();
            flipped[at] = replacement;
            out.push(flipped);
        }
    }
    out
}

#[test]
fn mutated_real_frames_never_panic_and_agree() {
    let sets = [
        (Venue::BinanceUsdm, common::REAL_FILES[0].1, &["depthUpdate", "bookTicker", "\"e\":\"trade\""][..]),
        (Venue::BybitLinear, common::REAL_FILES[1].1, &["orderbook.200", "publicTrade", "tickers", "kline"][..]),
    ];
    for (venue, relative, markers) in sets {
        let Some(frames) = samples(relative, markers) else { return };
        assert_eq!(frames.len(), markers.len(), "{relative}: not every sample kind found");
        let decoder = decoder(venue);
        let mut scratch = JsonScratch::default();
        let mut checked = 0usize;
        for frame in &frames {
            for cut in 0..frame.len() {
                let got = all_paths_agree(&decoder, &mut scratch, &frame[..cut]);
                assert!(got.starts_with("Err("), "{relative}: truncation at {cut} accepted: {got}");
            }
            for mutated in mutations(frame) {
                all_paths_agree(&decoder, &mut scratch, &mutated);
                checked += 1;
            }
        }
        println!("{relative}: {checked} mutated frames agree on all paths");
    }
}

fn decode_one(venue: Venue, frame: &[u8]) -> String {
    all_paths_agree(&decoder(venue), &mut JsonScratch::default(), frame)
}

#[test]
fn truncated_real_snapshot_never_panics_and_agrees() {
    let Some(path) = common::recording("truncated_real_snapshot", common::REAL_FILES[0].1) else { return };
    let lines = common::read_lines(&path);
    let snapshot = lines.iter().map(|(_, f)| f).find(|f| f.starts_with(b"{\"lastUpdateId\"")).unwrap();
    let decoder = decoder(Venue::BinanceUsdm);
    let mut scratch = JsonScratch::default();
    assert!(all_paths_agree(&decoder, &mut scratch, snapshot).starts_with("Snapshot("));
    for cut in (0..snapshot.len()).step_by(37) {
        let got = all_paths_agree(&decoder, &mut scratch, &snapshot[..cut]);
        assert!(got.starts_with("Err("), "truncated snapshot accepted at {cut}");
    }
}

#[test]
fn hostile_binance_frames_are_errors_not_panics() {
    let v = Venue::BinanceUsdm;
    let depth = r#"{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1,"T":2,"s":"BTCUSDT","U":10,"u":12,"pu":9,"b":[["61800.20","1.000"]],"a":[]}}"#;
    assert!(decode_one(v, depth.as_bytes()).starts_with("Depth("));
    let cases = [
        (depth.replace("\"U\":10", "\"U\":\"10\""), "WrongType(\"U\")"),
        (depth.replace("\"u\":12,", ""), "MissingField(\"u\")"),
        (depth.replace("\"U\":10", "\"U\":-10"), "WrongType(\"U\")"),
        (depth.replace("\"U\":10", "\"U\":1e3"), "WrongType(\"U\")"),
        (depth.replace("\"U\":10", "\"U\":99999999999999999999999"), "Err("),
        (depth.replace("\"b\":[[", "\"b\":{\"x\":[").replace("]],\"a\"", "]},\"a\""), "WrongType(\"b\")"),
        (depth.replace("61800.20", "61800.205"), "TooManyDecimals"),
        (depth.replace("61800.20", "6e4"), "InvalidChar"),
        (depth.replace("61800.20", "NaN"), "InvalidChar"),
        (depth.replace("\"1.000\"", "1.0"), "BadLevel"),
        (depth.replace("61800.20", "99999999999999999999"), "Overflow"),
        (depth.replace("[\"61800.20\",\"1.000\"]", "[\"61800.20\"]"), "BadLevel"),
        (r#"{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1}}"#.to_owned(), "Ignored(UnknownEvent)"),
        (r#"{"stream":"x","data":{"e":"depthUpdate","s":"DOGEUSDT"}}"#.to_owned(), "Ignored(UnknownSymbol)"),
        (r#"{"foo":1}"#.to_owned(), "Ignored(UnknownStream)"),
        (r#"[1,2,3]"#.to_owned(), "NotAnObject"),
        ("".to_owned(), "InvalidJson"),
        (r#"{"result":null,"id":7}"#.to_owned(), "SubscribeAck { id: Some(7) }"),
        (r#"{"error":{"code":2,"msg":"Invalid request"},"id":3}"#.to_owned(), "VenueError(2,Some(3),Invalid request)"),
        (r#"{"code":-1121,"msg":"Invalid symbol."}"#.to_owned(), "VenueError(-1121,None,Invalid symbol.)"),
    ];
    for (frame, want) in cases {
        let got = decode_one(v, frame.as_bytes());
        assert!(got.contains(want), "frame {frame}\n  got  {got}\n  want {want}");
    }
    // Invalid UTF-8 inside a string.
    let mut bad = depth.as_bytes().to_vec();
    let at = depth.find("BTCUSDT\",\"U").unwrap();
    bad[at] = 0xc3;
    bad[at + 1] = 0x28;
    assert_eq!(decode_one(v, &bad), "Err(InvalidJson)");
}

/// Prices and quantities no instrument can represent (more than fifteen
/// significant digits at the instrument's scale, though they fit `i64`)
/// are refused at decode on every path, for every field that carries one,
/// and a depth frame holding one is counted as corrupt by the book sync.
#[test]
fn values_no_instrument_can_represent_are_refused_on_every_path() {
    // 10^16 USDT at scale 2 is the mantissa 10^18: fits i64, beyond the bound.
    let huge = "10000000000000000.00";
    let v = Venue::BinanceUsdm;
    let depth = r#"{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1,"T":2,"s":"BTCUSDT","U":10,"u":12,"pu":9,"b":[["61800.20","1.000"]],"a":[["61800.30","2.000"]]}}"#;
    let ticker = r#"{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":400900217,"s":"BTCUSDT","b":"61800.20","B":"31.21","a":"61800.30","A":"40.66","T":1568014460891,"E":1568014460893}}"#;
    let trade = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"T":2,"s":"BTCUSDT","t":3,"p":"61800.20","q":"0.010","X":"MARKET","m":true}}"#;
    for (frame, field) in [
        (depth.replace("61800.20", huge), "level price"),
        (depth.replace("\"2.000\"", "\"1000000000000.000\""), "level qty"),
        (ticker.replace("61800.30", huge), "\"a\""),
        (ticker.replace("\"31.21\"", "\"1000000000000\""), "\"B\""),
        (trade.replace("61800.20", huge), "\"p\""),
    ] {
        let got = decode_one(v, frame.as_bytes());
        assert!(got.contains("OutOfRange") && got.contains(field), "{field}: {got}");
    }
    // The largest representable values still decode.
    let edge = depth.replace("61800.20", "9999999999999.99").replace("\"1.000\"", "\"999999999999.999\"");
    assert!(decode_one(v, edge.as_bytes()).contains("Ok((Price(999999999999999), Qty(999999999999999)))"));

    let v = Venue::BybitLinear;
    let book = r#"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[["100.10","2"]],"a":[["100.20","1"]],"u":7,"seq":5},"cts":1}"#;
    let trade = r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1700000000120,"data":[{"T":1700000000100,"s":"BTCUSDT","S":"Sell","v":"0.004","p":"40000.50","L":"MinusTick","i":"0b9c-uuid","BT":false,"seq":420001}]}"#;
    let tick = r#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","bid1Price":"65114.20","bid1Size":"6.054"},"cs":753843907770,"ts":1786310817883}"#;
    for (frame, field) in [
        (book.replace("100.10", huge), "level price"),
        (trade.replace("40000.50", huge), "\"p\""),
        (trade.replace("\"0.004\"", "\"1000000000000.000\""), "\"v\""),
        (tick.replace("65114.20", huge), "bid1Price"),
        (tick.replace("\"6.054\"", "\"1000000000000.000\""), "bid1Size"),
    ] {
        let got = decode_one(v, frame.as_bytes());
        assert!(got.contains("OutOfRange") && got.contains(field), "{field}: {got}");
    }

    // Through the sync machine: counted as a corrupt frame, book withheld.
    let decoder = decoder(v);
    let mut scratch = JsonScratch::default();
    let inst = decoder.symbols().find(b"BTCUSDT").unwrap();
    let mut sync = scalpel::venue::BookSync::<{ scalpel::book::DEFAULT_LEVELS }>::new(v, inst.tick);
    let mut outcomes = Vec::new();
    let mut frame = book.replace("100.10", huge).into_bytes();
    decoder.decode_frame(&mut scratch, &mut frame, |ev| match ev {
        Ok(MarketEvent::Snapshot(s)) => sync.on_snapshot(&s, |_, o| outcomes.push(o)),
        other => panic!("not a snapshot: {}", render(other)),
    });
    assert_eq!(outcomes.len(), 1);
    assert!(!outcomes[0].published(), "{:?}", outcomes[0]);
    assert_eq!(sync.stats().corrupt, 1);
}

#[test]
fn binance_other_event_types_decode() {
    let v = Venue::BinanceUsdm;
    let mark = r#"{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15000000","i":"11784.62659091","P":"11784.25641265","r":"-0.00038167","T":1562306400000}"#;
    let got = decode_one(v, mark.as_bytes());
    assert!(got.contains("mark: RefPrice(1179415000000)") && got.contains("funding_rate: Rate(-38167)"), "{got}");
    let force = r#"{"e":"forceOrder","E":1568014460893,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.014","p":"9910","ap":"9910","X":"FILLED","l":"0.014","z":"0.014","T":1568014460893}}"#;
    let got = decode_one(v, force.as_bytes());
    assert!(
        got.contains("position_side: Buy") && got.contains("qty: Qty(14)") && got.contains("price: Price(991000)"),
        "{got}"
    );
    let agg = r#"{"e":"aggTrade","E":123456789,"a":5933014,"s":"BTCUSDT","p":"0.10","q":"100","f":100,"l":105,"T":123456785,"m":true}"#;
    let got = decode_one(v, agg.as_bytes());
    assert!(got.contains("id: 5933014") && got.contains("taker_side: Sell") && got.contains("Aggregate"), "{got}");
    let snap = r#"{"lastUpdateId":1027024,"E":1589436922972,"T":1589436922959,"bids":[["4.00","431.000"]],"asks":[["4.00000200","12.000"]]}"#;
    assert!(decode_one(v, snap.as_bytes()).contains("TooManyDecimals"));
}

#[test]
fn bybit_frames_decode() {
    let v = Venue::BybitLinear;
    let liq = r#"{"topic":"allLiquidation.BTCUSDT","type":"snapshot","ts":1739502303204,"data":[{"T":1739502302929,"s":"BTCUSDT","S":"Sell","v":"0.020","p":"96000.10"}]}"#;
    let got = decode_one(v, liq.as_bytes());
    assert!(got.contains("position_side: Sell") && got.contains("qty: Qty(20)"), "{got}");
    let pong = r#"{"success":true,"ret_msg":"pong","conn_id":"abc","req_id":"1","op":"ping"}"#;
    assert_eq!(decode_one(v, pong.as_bytes()), "Op(Ping,true,1,pong)");
    let auth = r#"{"success":false,"ret_msg":"error sign!","op":"auth","conn_id":"x"}"#;
    assert_eq!(decode_one(v, auth.as_bytes()), "Op(Auth,false,,error sign!)");
    let kline = r#"{"topic":"kline.1.BTCUSDT","data":[],"ts":1,"type":"snapshot"}"#;
    assert_eq!(decode_one(v, kline.as_bytes()), format!("Ignored({:?})", Ignored::UnknownStream));
    let restart = r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[["1.10","2"]],"a":[],"u":1,"seq":5},"cts":1}"#;
    assert!(decode_one(v, restart.as_bytes()).starts_with("Depth("));
    let wrong_symbol = restart.replace("\"s\":\"BTCUSDT\"", "\"s\":\"ETHUSDT\"");
    assert_eq!(decode_one(v, wrong_symbol.as_bytes()), "Err(BadSymbol)");
    let bad_side = liq.replace("\"Sell\"", "\"Short\"");
    assert!(decode_one(v, bad_side.as_bytes()).contains("BadEnum(\"S\")"));
}

/// Which backend `Auto` picks for `frame`, after checking all paths agree.
fn auto_backend(decoder: &Decoder, frame: &[u8]) -> (Backend, String) {
    let mut scratch = JsonScratch::default();
    let rendered = all_paths_agree(decoder, &mut scratch, frame);
    let mut buf = frame.to_vec();
    let backend = decoder.decode_frame_with(&mut scratch, &mut buf, BackendChoice::Auto, |_, b| b);
    (backend, rendered)
}

#[test]
fn bybit_public_trades_take_the_template_and_agree_with_the_generic_path() {
    let decoder = decoder(Venue::BybitLinear);
    let one = r#"{"T":1700000000100,"s":"BTCUSDT","S":"Sell","v":"0.004","p":"40000.50","L":"MinusTick","i":"0b9c-uuid","BT":false,"RPI":false,"seq":420001}"#;
    let two = r#"{"T":1700000000101,"s":"BTCUSDT","S":"Buy","v":"1.250","p":"40000.60","L":"PlusTick","i":"1c0d-uuid","BT":true,"RPI":false,"seq":420002}"#;
    let frame = |data: &str| {
        format!(r#"{{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1700000000120,"data":[{data}]}}"#)
    };

    let (backend, got) = auto_backend(&decoder, frame(&format!("{one},{two}")).as_bytes());
    assert_eq!(backend, Backend::Template, "{got}");
    assert_eq!(got.matches("Ok(Trade").count(), 2, "{got}");
    for want in [
        "id: 420001",
        "trade_ms: 1700000000100",
        "event_ms: 1700000000120",
        "price: Price(4000050)",
        "qty: Qty(4)",
        "taker_side: Sell",
        "source: Market",
    ] {
        assert!(got.contains(want), "{want} missing from {got}");
    }
    for want in ["id: 420002", "price: Price(4000060)", "qty: Qty(1250)", "taker_side: Buy", "source: Block"] {
        assert!(got.contains(want), "{want} missing from {got}");
    }

    // Older layouts without `L` and `RPI`, and an empty batch, still take the template.
    let old = one.replace(r#","L":"MinusTick""#, "").replace(r#","RPI":false"#, "");
    let (backend, got) = auto_backend(&decoder, frame(&old).as_bytes());
    assert_eq!((backend, got.matches("Ok(Trade").count()), (Backend::Template, 1), "{got}");
    let (backend, got) = auto_backend(&decoder, frame("").as_bytes());
    assert_eq!((backend, got.as_str()), (Backend::Template, "Trades([])"));

    // One bad element anywhere sends the whole frame to the generic path,
    // which reports that element precisely and keeps the others.
    let bad_side = two.replace(r#""S":"Buy""#, r#""S":"Long""#);
    let (backend, got) = auto_backend(&decoder, frame(&format!("{one},{bad_side}")).as_bytes());
    assert_ne!(backend, Backend::Template);
    assert!(got.contains("Ok(Trade") && got.contains("BadEnum(\"S\")"), "{got}");
    let other_symbol = two.replace(r#""s":"BTCUSDT""#, r#""s":"ETHUSDT""#);
    let (backend, got) = auto_backend(&decoder, frame(&format!("{other_symbol},{one}")).as_bytes());
    assert_ne!(backend, Backend::Template);
    assert!(got.contains("Err(BadSymbol)") && got.contains("Ok(Trade"), "{got}");
    // Keys in another order are valid JSON: the generic path reads them.
    let reordered = one.replace(r#""T":1700000000100,"s":"BTCUSDT""#, r#""s":"BTCUSDT","T":1700000000100"#);
    let (backend, got) = auto_backend(&decoder, frame(&reordered).as_bytes());
    assert_ne!(backend, Backend::Template);
    assert!(got.contains("id: 420001"), "{got}");
}

#[test]
fn scalpel_book_counts_garbage_lines_without_failing() {
    let dir = std::env::temp_dir().join(format!("scalpel-garbage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("garbage.txt");
    let good = r#"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[["100.10","2"]],"a":[["100.20","1"]],"u":7,"seq":5},"cts":1}"#;
    let mut text = format!("1 {good}\n");
    text.push_str("no-timestamp-here\n2 {\"topic\":\n3 \u{0}\u{1}garbage\n4 [1,2]\n");
    text.push_str("5 {\"topic\":\"orderbook.50.BTCUSDT\",\"type\":\"delta\",\"ts\":2,\"data\":{\"s\":\"BTCUSDT\",\"b\":[[\"100.15\",\"1\"]],\"a\":[],\"u\":9,\"seq\":6},\"cts\":2}\n");
    std::fs::write(&path, text).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_scalpel"))
        .args(["book", "--venue", "bybit-linear", "--input"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stdout.lines().count(), 1, "only the snapshot is publishable: {stdout}");
    assert!(stderr.contains("3 frames that failed to decode, 1 malformed lines"), "{stderr}");
    assert!(stderr.contains("sequence gap at line 6 (expected 8, got 9)"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
