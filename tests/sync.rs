//! The book sync state machines, rule by rule, on hand-written frames.

use scalpel::book::DEFAULT_LEVELS;
use scalpel::commands::instruments;
use scalpel::event::MarketEvent;
use scalpel::json::JsonScratch;
use scalpel::venue::binance::{BinanceBookSync, PendingDiffs};
use scalpel::venue::sync::{FrameFault, SyncOutcome, SyncState};
use scalpel::venue::{BookSync, Decoder, Venue};

struct Harness {
    decoder: Decoder,
    scratch: JsonScratch,
    sync: BookSync<DEFAULT_LEVELS>,
}

impl Harness {
    fn new(venue: Venue) -> Self {
        let table = instruments::load(None, venue).unwrap();
        let mut decoder = Decoder::new(venue, &table);
        let btc = decoder.symbols().find(b"BTCUSDT").unwrap();
        let tick = btc.tick;
        decoder.set_snapshot_instrument(Some(btc.id));
        Self { decoder, scratch: JsonScratch::default(), sync: BookSync::new(venue, tick) }
    }

    /// A Binance harness with a pending-diff buffer of the given size.
    fn with_binance(pending: PendingDiffs) -> Self {
        let mut h = Self::new(Venue::BinanceUsdm);
        let tick = h.decoder.symbols().find(b"BTCUSDT").unwrap().tick;
        h.sync = BookSync::Binance(BinanceBookSync::new(tick, pending));
        h
    }

    /// Feeds one frame; returns every outcome with the best bid at the time.
    fn feed(&mut self, frame: &str) -> Vec<(SyncOutcome, Option<String>)> {
        let mut buf = frame.as_bytes().to_vec();
        let mut outcomes = Vec::new();
        let sync = &mut self.sync;
        self.decoder.decode_frame(&mut self.scratch, &mut buf, |event| {
            let mut report = |book: &scalpel::book::Book<DEFAULT_LEVELS>, outcome| {
                outcomes.push((outcome, book.best_bid().map(|(p, q)| format!("{}@{}", p.0, q.0))));
            };
            match event.expect("test frames decode") {
                MarketEvent::Depth(d) => sync.on_diff(&d, &mut report),
                MarketEvent::Snapshot(s) => sync.on_snapshot(&s, &mut report),
                other => panic!("not a depth frame: {other:?}"),
            }
        });
        outcomes
    }
}

fn diff(first: u64, last: u64, prev: u64, bid: &str) -> String {
    format!(
        r#"{{"stream":"btcusdt@depth@0ms","data":{{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":{first},"u":{last},"pu":{prev},"b":[["{bid}","1.000"]],"a":[["70000.00","1.000"]]}}}}"#
    )
}

fn snapshot(id: u64) -> String {
    format!(r#"{{"lastUpdateId":{id},"E":1,"T":1,"bids":[["60000.00","5.000"]],"asks":[["70000.00","2.000"]]}}"#)
}

#[test]
fn binance_buffers_bridges_and_follows_pu() {
    let mut h = Harness::new(Venue::BinanceUsdm);
    assert_eq!(h.feed(&diff(90, 95, 89, "60001.00"))[0].0, SyncOutcome::Buffered);
    assert_eq!(h.feed(&diff(96, 100, 95, "60002.00"))[0].0, SyncOutcome::Buffered);
    assert_eq!(h.feed(&diff(101, 105, 100, "60003.00"))[0].0, SyncOutcome::Buffered);
    // Snapshot at 98: the diff ending at 95 is stale (u < 98); the one
    // spanning 96..100 bridges (U ≤ 98 ≤ u); the next follows by pu.
    let outcomes = h.feed(&snapshot(98));
    let kinds: Vec<_> = outcomes.iter().map(|(o, _)| *o).collect();
    assert_eq!(
        kinds,
        vec![
            SyncOutcome::Applied { last_id: 98 },
            SyncOutcome::Stale,
            SyncOutcome::Applied { last_id: 100 },
            SyncOutcome::Applied { last_id: 105 },
        ]
    );
    assert_eq!(outcomes[3].1.as_deref(), Some("6000300@1000"));
    assert_eq!(h.feed(&diff(106, 110, 105, "60004.00"))[0].0, SyncOutcome::Applied { last_id: 110 });
    assert_eq!(h.sync.state(), SyncState::Live);
}

#[test]
fn binance_gap_withholds_the_book_and_requests_a_snapshot() {
    let mut h = Harness::new(Venue::BinanceUsdm);
    assert!(h.sync.take_resync_request(), "a fresh machine asks for its first snapshot");
    h.feed(&snapshot(10));
    assert_eq!(h.feed(&diff(9, 12, 8, "60001.00"))[0].0, SyncOutcome::Applied { last_id: 12 });
    assert!(!h.sync.take_resync_request());
    // pu 13 != previous u 12: a gap.
    let out = h.feed(&diff(14, 15, 13, "60002.00"));
    assert_eq!(out[0].0, SyncOutcome::Gap { expected: 12, got: 13 });
    assert_eq!(out[0].1, None, "the book is cleared, not published");
    assert_eq!(h.sync.state(), SyncState::AwaitingSnapshot);
    assert!(h.sync.take_resync_request());
    assert!(!h.sync.take_resync_request(), "the request is taken once");
    // Diffs are buffered again (the gap diff included) until a snapshot.
    assert_eq!(h.feed(&diff(16, 18, 15, "60003.00"))[0].0, SyncOutcome::Buffered);
    let outcomes = h.feed(&snapshot(17));
    assert_eq!(outcomes.last().unwrap().0, SyncOutcome::Applied { last_id: 18 });
    let stats = h.sync.stats();
    assert_eq!((stats.gaps, stats.resyncs, stats.snapshots), (1, 1, 2));
}

#[test]
fn binance_snapshot_that_does_not_bridge_is_refused() {
    let mut h = Harness::new(Venue::BinanceUsdm);
    h.feed(&diff(50, 60, 49, "60001.00"));
    // Snapshot 40 is older than the first buffered diff (U = 50 > 40).
    let outcomes = h.feed(&snapshot(40));
    assert_eq!(outcomes.last().unwrap().0, SyncOutcome::SnapshotTooOld { snapshot_id: 40, first_u: 50 });
    assert_eq!(h.sync.state(), SyncState::AwaitingSnapshot);
    assert!(h.sync.take_resync_request());
    // A newer snapshot bridges the kept diff.
    let outcomes = h.feed(&snapshot(55));
    assert_eq!(outcomes.last().unwrap().0, SyncOutcome::Applied { last_id: 60 });
}

#[test]
fn binance_first_live_diff_must_bridge() {
    let mut h = Harness::new(Venue::BinanceUsdm);
    h.feed(&snapshot(100));
    assert_eq!(h.feed(&diff(90, 99, 89, "60001.00"))[0].0, SyncOutcome::Stale);
    assert_eq!(
        h.feed(&diff(102, 103, 101, "60001.00"))[0].0,
        SyncOutcome::SnapshotTooOld { snapshot_id: 100, first_u: 102 }
    );
}

#[test]
fn binance_corrupt_level_forces_resync() {
    let mut h = Harness::new(Venue::BinanceUsdm);
    h.feed(&snapshot(10));
    let out = h.feed(&diff(9, 12, 8, "60001.005"));
    assert!(matches!(out[0].0, SyncOutcome::Corrupt(FrameFault::Decode(_))), "{out:?}");
    assert_eq!(h.sync.state(), SyncState::AwaitingSnapshot);
    // Off the 0.10 tick grid: refused by the book.
    let mut h = Harness::new(Venue::BinanceUsdm);
    h.feed(&snapshot(10));
    let out = h.feed(&diff(9, 12, 8, "60001.05"));
    assert!(matches!(out[0].0, SyncOutcome::Corrupt(FrameFault::Book(_))), "{out:?}");
}

#[test]
fn binance_crossed_book_forces_a_resync() {
    // Before: the crossed book was applied and kept (reported
    // `AppliedCrossed`), only hidden until a later diff uncrossed it.
    let mut h = Harness::new(Venue::BinanceUsdm);
    h.feed(&snapshot(10));
    h.sync.take_resync_request();
    let out = h.feed(&diff(9, 12, 8, "70000.00"));
    assert_eq!(out[0], (SyncOutcome::Crossed { last_id: 12 }, None), "dropped, not kept");
    assert_eq!(h.sync.state(), SyncState::AwaitingSnapshot);
    assert!(h.sync.take_resync_request(), "a new snapshot is requested");
    // The next diff is buffered for that snapshot, not applied to a bad book.
    assert_eq!(h.feed(&diff(13, 14, 12, "60001.00"))[0].0, SyncOutcome::Buffered);
    let outcomes = h.feed(&snapshot(13));
    assert_eq!(outcomes.last().unwrap().0, SyncOutcome::Applied { last_id: 14 });
    let stats = h.sync.stats();
    assert_eq!((stats.crossed, stats.resyncs), (1, 1));
}

#[test]
fn binance_snapshot_not_newer_than_the_live_book_is_ignored() {
    // Before: a late REST response rebuilt the live book from older data
    // and published it.
    let mut h = Harness::new(Venue::BinanceUsdm);
    h.feed(&snapshot(10));
    assert_eq!(h.feed(&diff(9, 12, 8, "60001.00"))[0].0, SyncOutcome::Applied { last_id: 12 });
    for id in [12, 11] {
        let out = h.feed(&snapshot(id));
        assert_eq!(
            out,
            vec![(SyncOutcome::SnapshotNotNewer { snapshot_id: id, book_id: 12 }, Some("6000100@1000".to_owned()))]
        );
    }
    assert_eq!(h.sync.stats().stale_snapshots, 2);
    assert_eq!(h.sync.stats().snapshots, 1);
    // The live book goes on from where it was.
    assert_eq!(h.feed(&diff(13, 14, 12, "60002.00"))[0].0, SyncOutcome::Applied { last_id: 14 });
    // A newer snapshot still replaces it.
    assert_eq!(h.feed(&snapshot(20))[0].0, SyncOutcome::Applied { last_id: 20 });
}

#[test]
fn binance_snapshot_the_stream_never_reaches_is_dropped() {
    // Before: a snapshot with a far-future lastUpdateId made every later
    // diff stale, forever, with the snapshot's book published.
    let mut h = Harness::new(Venue::BinanceUsdm);
    h.feed(&snapshot(1 << 50));
    let mut last = SyncOutcome::Buffered;
    for k in 0..scalpel::venue::sync::STALE_LIMIT as u64 {
        last = h.feed(&diff(10 + 2 * k, 11 + 2 * k, 9 + 2 * k, "60001.00"))[0].0;
    }
    assert_eq!(last, SyncOutcome::SnapshotAhead { snapshot_id: 1 << 50 });
    assert_eq!(h.sync.state(), SyncState::AwaitingSnapshot);
    assert!(h.sync.take_resync_request());
    assert_eq!(h.sync.stats().snapshots_ahead, 1);
}

#[test]
fn binance_pending_buffer_overflow_drops_the_oldest_and_counts() {
    let mut h = Harness::with_binance(PendingDiffs::new(2, 64));
    for k in 0..4u64 {
        assert_eq!(h.feed(&diff(10 + 2 * k, 11 + 2 * k, 9 + 2 * k, "60001.00"))[0].0, SyncOutcome::Buffered);
    }
    assert_eq!(h.sync.stats().buffer_overflows, 2, "two diffs pushed out of a two-diff buffer");
    // The kept diffs are 14..15 and 16..17: a snapshot at 12 no longer
    // bridges (the diffs that would have were dropped), one at 15 does.
    let out = h.feed(&snapshot(12));
    assert_eq!(out.last().unwrap().0, SyncOutcome::SnapshotTooOld { snapshot_id: 12, first_u: 14 });
    let out = h.feed(&snapshot(15));
    assert_eq!(out.last().unwrap().0, SyncOutcome::Applied { last_id: 17 });
    // Level storage overflows the same way: 2 levels each, room for 3.
    let mut h = Harness::with_binance(PendingDiffs::new(16, 3));
    h.feed(&diff(10, 11, 9, "60001.00"));
    h.feed(&diff(12, 13, 11, "60002.00"));
    assert_eq!(h.sync.stats().buffer_overflows, 1);
    assert_eq!(h.feed(&snapshot(12)).last().unwrap().0, SyncOutcome::Applied { last_id: 13 });
}

#[test]
fn binance_diff_larger_than_the_whole_buffer_is_buffer_full() {
    let mut h = Harness::with_binance(PendingDiffs::new(16, 1));
    assert_eq!(h.feed(&diff(10, 11, 9, "60001.00"))[0].0, SyncOutcome::Buffered);
    // The diff kept its ids but not its levels: applying it would lose
    // them, so the bridging snapshot reports it corrupt and resyncs.
    let out = h.feed(&snapshot(10));
    assert_eq!(out.last().unwrap().0, SyncOutcome::Corrupt(FrameFault::BufferFull));
    assert_eq!(h.sync.state(), SyncState::AwaitingSnapshot);
    assert!(h.sync.take_resync_request());
}

#[test]
fn binance_partial_depth_stream_is_a_snapshot_per_message() {
    // Before: `@depth20` messages (same payload as diffs) went through the
    // diff rules: buffered forever waiting for a snapshot, or a gap at
    // every message (their `pu` chains the stream, not our book).
    let mut h = Harness::new(Venue::BinanceUsdm);
    h.sync.set_partial(true);
    let partial = |u: u64, bid: &str| {
        format!(
            r#"{{"stream":"btcusdt@depth20@100ms","data":{{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":{u},"u":{u},"pu":7,"b":[["{bid}","1.000"]],"a":[["70000.00","1.000"]]}}}}"#
        )
    };
    assert_eq!(
        h.feed(&partial(100, "60000.00")),
        vec![(SyncOutcome::Applied { last_id: 100 }, Some("6000000@1000".to_owned()))]
    );
    // The next message replaces the book (the old bid is gone, not merged).
    assert_eq!(
        h.feed(&partial(150, "60005.00")),
        vec![(SyncOutcome::Applied { last_id: 150 }, Some("6000500@1000".to_owned()))]
    );
    // An older message is stale.
    assert_eq!(h.feed(&partial(120, "59000.00"))[0].0, SyncOutcome::Stale);
    assert!(!h.sync.take_resync_request(), "a partial stream never needs a REST snapshot");
}

#[test]
fn restart_drops_the_book_and_buffer() {
    let mut h = Harness::new(Venue::BinanceUsdm);
    h.feed(&diff(8, 9, 7, "60001.00"));
    h.feed(&snapshot(8));
    assert_eq!(h.sync.state(), SyncState::Live);
    h.sync.take_resync_request();
    h.sync.restart();
    assert_eq!(h.sync.state(), SyncState::AwaitingSnapshot);
    assert!(h.sync.take_resync_request());
    assert_eq!(h.sync.stats().restarts, 1);
    // Nothing from before the restart is replayed.
    assert_eq!(h.feed(&diff(30, 31, 29, "60001.00"))[0].0, SyncOutcome::Buffered);
    assert_eq!(h.feed(&snapshot(30)).len(), 2);
}

fn bybit(kind: &str, u: u64, bid: &str) -> String {
    format!(
        r#"{{"topic":"orderbook.50.BTCUSDT","type":"{kind}","ts":1,"data":{{"s":"BTCUSDT","b":[["{bid}","1.000"]],"a":[["70000.00","1.000"]],"u":{u},"seq":{u}}},"cts":1}}"#
    )
}

#[test]
fn bybit_snapshot_then_consecutive_deltas() {
    let mut h = Harness::new(Venue::BybitLinear);
    assert_eq!(h.feed(&bybit("delta", 5, "60000.00"))[0].0, SyncOutcome::Unsynced);
    assert_eq!(h.feed(&bybit("snapshot", 10, "60000.00"))[0].0, SyncOutcome::Applied { last_id: 10 });
    assert_eq!(h.feed(&bybit("delta", 11, "60001.00"))[0].0, SyncOutcome::Applied { last_id: 11 });
    let out = h.feed(&bybit("delta", 13, "60002.00"));
    assert_eq!(out[0].0, SyncOutcome::Gap { expected: 12, got: 13 });
    assert!(h.sync.take_resync_request());
    assert_eq!(h.feed(&bybit("delta", 14, "60002.00"))[0].0, SyncOutcome::Unsynced);
    // A delta with u == 1 is a fresh snapshot after a service restart.
    let out = h.feed(&bybit("delta", 1, "61000.00"));
    assert_eq!(out[0].0, SyncOutcome::Applied { last_id: 1 });
    assert_eq!(out[0].1.as_deref(), Some("6100000@1000"), "the book was rebuilt, not merged");
    assert_eq!(h.feed(&bybit("delta", 2, "61000.00"))[0].0, SyncOutcome::Applied { last_id: 2 });
    // A new snapshot replaces the book whatever came before.
    let out = h.feed(&bybit("snapshot", 500, "59000.00"));
    assert_eq!(out[0], (SyncOutcome::Applied { last_id: 500 }, Some("5900000@1000".to_owned())));
}

#[test]
fn bybit_crossed_book_forces_a_resubscribe() {
    let mut h = Harness::new(Venue::BybitLinear);
    h.feed(&bybit("snapshot", 10, "60000.00"));
    h.sync.take_resync_request();
    let out = h.feed(&bybit("delta", 11, "71000.00"));
    assert_eq!(out[0], (SyncOutcome::Crossed { last_id: 11 }, None));
    assert!(h.sync.take_resync_request());
    assert_eq!(h.feed(&bybit("delta", 12, "60000.00"))[0].0, SyncOutcome::Unsynced);
}
