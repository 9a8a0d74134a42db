//! `scalpel record` against a loopback TLS exchange replaying the real
//! recordings (tests/loopback: rustls' buffered server + tungstenite, an
//! implementation independent of scalpel's codecs): connect, subscribe,
//! receive, pong a server ping, survive a server-side close, a real
//! sequence gap and a stalled stream (watchdog), resubscribing each time;
//! the file holds exactly the frames the server sent, and the book rebuilt
//! from it by `scalpel book` equals the server's own book.

mod common;
mod loopback;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use loopback::{ConnScript, End, Exchange, Flavour, RefBook, make_pki};
use scalpel::commands::book::{BookOptions, run as book_run};
use scalpel::commands::record::{RecordOptions, run as record_run};
use scalpel::instrument::Symbol;
use scalpel::net::endpoints::Network;
use scalpel::venue::Venue;

/// Frames of a recording without REST snapshot lines.
fn stream_frames(lines: &[(u64, Vec<u8>)]) -> Vec<Vec<u8>> {
    lines.iter().filter(|(_, f)| !f.starts_with(b"{\"lastUpdateId\"")).map(|(_, f)| f.clone()).collect()
}

/// The last book line `scalpel book` printed: (bids, asks) top levels.
fn last_book(book_out: &[u8]) -> (loopback::Ladder, loopback::Ladder) {
    let last = book_out.split(|&b| b == b'\n').rfind(|l| !l.is_empty()).expect("scalpel book printed a book");
    let v: serde_json::Value = serde_json::from_slice(last).unwrap();
    let side = |k: &str| {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|l| (l[0].as_str().unwrap().to_owned(), l[1].as_str().unwrap().to_owned()))
            .collect()
    };
    (side("bids"), side("asks"))
}

fn wait_until(deadline: Duration, cond: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !cond() && t0.elapsed() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn binance_record_survives_close_gap_and_stall_with_a_correct_book() {
    let Some(path) =
        common::recording("binance_record_survives_close_gap_and_stall", "binance-usdm/btcusdt_20240808.gz")
    else {
        return;
    };
    let lines = common::read_lines(&path);
    let snap = lines.iter().position(|(_, f)| f.starts_with(b"{\"lastUpdateId\"")).expect("snapshot line");
    let book = RefBook::binance_snapshot(std::str::from_utf8(&lines[snap].1).unwrap());
    let feed: Vec<Vec<u8>> = lines[snap + 1..]
        .iter()
        .map(|(_, f)| f.clone())
        .filter(|f| {
            f.starts_with(b"{\"stream\":\"btcusdt@depth@0ms\"") || f.starts_with(b"{\"stream\":\"btcusdt@bookTicker\"")
        })
        .take(2_400)
        .collect();
    let pki = make_pki("net-record-binance");
    let scripts = vec![
        ConnScript { skip_depth: 0, send: 700, ping: Some(b"scalpel-ping".to_vec()), end: End::Close },
        ConnScript { skip_depth: 3, send: 700, ping: None, end: End::Stall },
        ConnScript { skip_depth: 0, send: usize::MAX, ping: None, end: End::Stay },
    ];
    let exchange = Exchange::start(Flavour::Binance, Some(Arc::clone(&pki.server)), feed, book, scripts);
    let out = pki.dir.join("binance.txt.gz");
    let opts = RecordOptions {
        venue: Venue::BinanceUsdm,
        symbols: vec!["BTCUSDT".parse::<Symbol>().unwrap()],
        streams: vec!["depth".into(), "bookTicker".into()],
        out: out.clone(),
        duration: Some(30.0),
        network: Network::Mainnet,
        endpoints: None,
        rest_url: Some(format!("https://127.0.0.1:{}", exchange.rest_addr.port())),
        ws_url: Some(format!("wss://127.0.0.1:{}", exchange.ws_addr.port())),
        ca_file: Some(pki.ca_file.clone()),
        instruments: None,
        stale_after_ms: 400,
        busy_poll: false,
        max_age_ms: None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let recorder = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut err = Vec::new();
            let summary = record_run(&opts, &stop, &mut err);
            (summary.map_err(|e| e.to_string()), String::from_utf8_lossy(&err).into_owned())
        })
    };
    wait_until(Duration::from_secs(20), || exchange.done.load(Ordering::Relaxed));
    std::thread::sleep(Duration::from_millis(800));
    stop.store(true, Ordering::Relaxed);
    let (summary, err_text) = recorder.join().unwrap();
    let server_book = exchange.book.lock().unwrap().clone();
    let served = exchange.snapshots_served.load(Ordering::Relaxed);
    let log = exchange.stop();
    let summary = summary.unwrap_or_else(|e| panic!("record failed: {e}\n{err_text}"));
    eprintln!("{err_text}");

    assert_eq!(log.paths, vec!["/public/stream"; 3], "routed path on every connection");
    for (i, received) in log.received.iter().enumerate() {
        assert!(
            received.iter().any(|m| m.contains("SUBSCRIBE")
                && m.contains("btcusdt@depth@0ms")
                && m.contains("btcusdt@bookTicker")),
            "connection {i} was not resubscribed: {received:?}"
        );
    }
    assert_eq!(log.pongs, vec![b"scalpel-ping".to_vec()], "server ping answered with its payload");
    assert!(log.skipped > 0);

    let recorded = common::read_lines(&out);
    assert_eq!(stream_frames(&recorded), log.sent, "recorded frames equal the frames the server sent, byte for byte");
    let snapshots = recorded.len() - stream_frames(&recorded).len();
    assert_eq!(snapshots as u64, summary.snapshots);
    assert!(snapshots >= 2 && snapshots <= served, "snapshots {snapshots}, served {served}");
    assert!(recorded.windows(2).all(|w| w[0].0 <= w[1].0), "receive times never go back");
    assert!(summary.disconnects >= 2 && summary.stale_resets >= 1, "{summary:?}");
    assert!(summary.resyncs >= 1, "the skipped diffs are a gap: {summary:?}");
    assert_eq!((summary.unrecordable, summary.decode_errors), (0, 0), "{summary:?}");

    // Replay the recording with `scalpel book` and compare with the server's book.
    let mut book_out = Vec::new();
    let mut book_err = Vec::new();
    let bopts = BookOptions { venue: Some(Venue::BinanceUsdm), input: out, depth: 20, symbol: None, instruments: None };
    book_run(&bopts, &mut book_out, &mut book_err).unwrap();
    let book_err = String::from_utf8_lossy(&book_err);
    assert!(book_err.contains("sequence gap"), "the gap is visible in the replay: {book_err}");
    assert!(!book_err.contains("book crossed"), "{book_err}");
    assert!(!book_err.contains("does not bridge"), "{book_err}");
    let (bids, asks) = last_book(&book_out);
    let (want_bids, want_asks) = server_book.top(20);
    assert_eq!(bids, want_bids, "bids after replay equal the server's book");
    assert_eq!(asks, want_asks, "asks after replay equal the server's book");
}

#[test]
fn bybit_record_cli_resubscribes_after_a_close_and_takes_the_new_snapshot() {
    let Some(path) = common::recording("bybit_record_cli_resubscribes", "bybit-linear/btcusdt_20260809.gz") else {
        return;
    };
    let lines = common::read_lines(&path);
    let first = lines
        .iter()
        .position(|(_, f)| f.starts_with(b"{\"topic\":\"orderbook.200.BTCUSDT\",\"type\":\"snapshot\""))
        .unwrap();
    let feed: Vec<Vec<u8>> =
        lines[first..].iter().map(|(_, f)| f.clone()).filter(|f| !f.starts_with(b"{\"topic\":\"kline")).collect();
    let pki = make_pki("net-record-bybit");
    let scripts = vec![
        ConnScript { skip_depth: 0, send: 150, ping: Some(b"p1".to_vec()), end: End::Close },
        ConnScript { skip_depth: 0, send: usize::MAX, ping: None, end: End::Stay },
    ];
    let exchange = Exchange::start(Flavour::Bybit, Some(Arc::clone(&pki.server)), feed, RefBook::default(), scripts);
    let out = pki.dir.join("bybit.txt");
    let bin = env!("CARGO_BIN_EXE_scalpel");
    let child = std::process::Command::new(bin)
        .args(["record", "--venue", "bybit-linear", "--symbols", "BTCUSDT", "--duration", "4", "--stale-after", "0"])
        .arg("--out")
        .arg(&out)
        .arg("--ws-url")
        .arg(format!("wss://127.0.0.1:{}", exchange.ws_addr.port()))
        .arg("--ca-file")
        .arg(&pki.ca_file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&child.stderr).into_owned();
    assert!(child.status.success(), "{stderr}");
    assert!(exchange.done.load(Ordering::Relaxed), "server sent its whole feed: {stderr}");
    let server_book = exchange.book.lock().unwrap().clone();
    let log = exchange.stop();
    assert_eq!(log.paths, vec!["/v5/public/linear"; 2]);
    for received in &log.received {
        assert!(
            received.iter().any(|m| m.contains("\"op\":\"subscribe\"") && m.contains("orderbook.200.BTCUSDT")),
            "{received:?}"
        );
    }
    assert_eq!(log.pongs, vec![b"p1".to_vec()]);
    let recorded = common::read_lines(&out);
    assert_eq!(stream_frames(&recorded), log.sent, "recorded frames equal the frames the server sent");
    assert!(stderr.contains("1 disconnects"), "{stderr}");

    let book = std::process::Command::new(bin)
        .args(["book", "--venue", "bybit-linear", "--depth", "20", "--input"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(book.status.success(), "{}", String::from_utf8_lossy(&book.stderr));
    let (bids, asks) = last_book(&book.stdout);
    let (want_bids, want_asks) = server_book.top(20);
    assert_eq!((bids, asks), (want_bids, want_asks), "book rebuilt from the recording equals the server's");
}
