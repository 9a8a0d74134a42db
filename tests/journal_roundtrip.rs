//! The journal round-trips every record kind, reports a torn tail at every
//! possible cut, and has on disk every record older than the flush interval.

mod pipeline;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use scalpel::fixed::{Notional, Price, Qty};
use scalpel::instrument::Symbol;
use scalpel::journal::record::REJECT_REASONS as REJECTS;
use scalpel::journal::thread::{JournalThreadIo, Telemetry};
use scalpel::journal::{
    JournalConfig, JournalReader, JournalRecord, JournalWriter, LogLevel, ReadError, RingId, Stage,
};
use scalpel::order::{
    ClientOrderId, FeeKind, Fill, OrderAction, OrderEvent, OrderKind, OrderRequest, TimeInForce, TradeId, VenueOrderId,
};
use scalpel::ring;
use scalpel::risk::Refusal;
use scalpel::risk::monitor::{RiskCommand, RiskOutput};
use scalpel::risk::verdict::{Cause, Mode, Verdict};
use scalpel::side::Side;
use scalpel::venue::Venue;

fn venue() -> impl Strategy<Value = Venue> {
    prop_oneof![Just(Venue::BinanceUsdm), Just(Venue::BybitLinear)]
}

fn symbol() -> impl Strategy<Value = Symbol> {
    "[A-Z0-9]{1,23}".prop_map(|s| Symbol::new(s.as_bytes()).unwrap())
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

fn order() -> impl Strategy<Value = OrderRequest> {
    (
        venue(),
        symbol(),
        side(),
        prop_oneof![Just(OrderKind::Limit), Just(OrderKind::Market)],
        prop_oneof![Just(TimeInForce::Gtc), Just(TimeInForce::Ioc), Just(TimeInForce::PostOnly)],
        any::<i64>(),
        any::<i64>(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(venue, symbol, side, kind, tif, price, qty, reduce_only, id)| OrderRequest {
            venue,
            symbol,
            side,
            kind,
            tif,
            price: Price(price),
            qty: Qty(qty),
            reduce_only,
            client_id: ClientOrderId(id),
        })
}

fn cause() -> impl Strategy<Value = Cause> {
    (0..Cause::ALL.len()).prop_map(|i| Cause::ALL[i])
}

fn command() -> impl Strategy<Value = RiskCommand> {
    prop_oneof![
        Just(RiskCommand::CancelAll),
        Just(RiskCommand::FlattenAll),
        Just(RiskCommand::Exit),
        (venue(), symbol()).prop_map(|(venue, symbol)| RiskCommand::Flatten { venue, symbol }),
    ]
}

/// Any record of any kind, with any field values.
fn record() -> impl Strategy<Value = JournalRecord> {
    prop_oneof![
        (venue(), symbol(), any::<u8>(), any::<u8>()).prop_map(|(venue, symbol, price_scale, qty_scale)| {
            JournalRecord::Instrument { venue, symbol, price_scale, qty_scale }
        }),
        (order(), any::<u64>())
            .prop_map(|(order, ts_raw)| JournalRecord::Order(OrderEvent::Submitted { order, ts_raw })),
        (any::<u64>(), "[0-9a-f-]{0,40}", any::<i64>()).prop_map(|(id, voi, ts_ms)| {
            JournalRecord::Order(OrderEvent::Acked {
                client_id: ClientOrderId(id),
                venue_order_id: VenueOrderId::new(voi.as_bytes()).unwrap(),
                ts_ms,
            })
        }),
        (order(), any::<u128>(), any::<i64>(), 0usize..3, any::<bool>(), any::<i64>()).prop_map(
            |(o, trade_id, fee, fee_kind, is_maker, ts_ms)| {
                JournalRecord::Order(OrderEvent::Filled(Fill {
                    client_id: o.client_id,
                    venue: o.venue,
                    symbol: o.symbol,
                    side: o.side,
                    trade_id: TradeId(trade_id),
                    price: o.price,
                    qty: o.qty,
                    fee: Notional(fee),
                    fee_kind: [FeeKind::Quote, FeeKind::OtherAsset, FeeKind::NotReported][fee_kind],
                    is_maker,
                    ts_ms,
                }))
            },
        ),
        (any::<u64>(), any::<i64>(), any::<i64>(), any::<i64>()).prop_map(|(id, p, q, ts_ms)| {
            JournalRecord::Order(OrderEvent::Amended {
                client_id: ClientOrderId(id),
                price: Price(p),
                qty: Qty(q),
                ts_ms,
            })
        }),
        (any::<u64>(), 0usize..3, 0..REJECTS.len(), any::<i32>(), any::<i64>()).prop_map(
            |(id, a, r, venue_code, ts_ms)| {
                JournalRecord::Order(OrderEvent::ActionRejected {
                    client_id: ClientOrderId(id),
                    action: [OrderAction::Cancel, OrderAction::Amend, OrderAction::CancelAll][a],
                    reason: REJECTS[r],
                    venue_code,
                    ts_ms,
                })
            }
        ),
        (any::<u64>(), any::<i64>()).prop_map(|(id, ts_ms)| JournalRecord::Order(OrderEvent::Cancelled {
            client_id: ClientOrderId(id),
            ts_ms
        })),
        (any::<u64>(), any::<i64>())
            .prop_map(|(id, ts_ms)| JournalRecord::Order(OrderEvent::Expired { client_id: ClientOrderId(id), ts_ms })),
        (any::<u64>(), 0..REJECTS.len(), any::<i32>(), any::<i64>()).prop_map(|(id, r, venue_code, ts_ms)| {
            JournalRecord::Order(OrderEvent::Rejected {
                client_id: ClientOrderId(id),
                reason: REJECTS[r],
                venue_code,
                ts_ms,
            })
        }),
        (order(), 0..Refusal::COUNT)
            .prop_map(|(order, r)| JournalRecord::GateRefusal { order, reason: Refusal::ALL[r] }),
        (any::<i64>(), 0u8..4, cause(), 0u16..=1000, any::<u32>()).prop_map(|(ts_ms, m, cause, cap, seq)| {
            JournalRecord::Risk(RiskOutput::Verdict {
                ts_ms,
                verdict: Verdict { mode: Mode::from_u8(m), cause, size_cap_permille: cap, seq },
            })
        }),
        (any::<i64>(), cause(), any::<i64>()).prop_map(|(ts_ms, cause, value)| JournalRecord::Risk(RiskOutput::Trip {
            ts_ms,
            cause,
            value
        })),
        (any::<i64>(), cause()).prop_map(|(ts_ms, cause)| JournalRecord::Risk(RiskOutput::Clear { ts_ms, cause })),
        (any::<i64>(), command())
            .prop_map(|(ts_ms, command)| JournalRecord::Risk(RiskOutput::Command { ts_ms, command })),
        (venue(), symbol(), any::<i64>()).prop_map(|(venue, symbol, ts_ms)| JournalRecord::Resync {
            venue,
            symbol,
            ts_ms
        }),
        (venue(), any::<i64>(), any::<i64>(), any::<i64>()).prop_map(|(venue, b, m, ts_ms)| JournalRecord::Account {
            venue,
            margin_balance: Notional(b),
            maintenance_margin: Notional(m),
            ts_ms,
        }),
        (0usize..4, any::<u16>(), any::<i64>()).prop_map(|(l, code, value)| JournalRecord::Log {
            level: [LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error][l],
            code,
            value,
        }),
        any::<u64>().prop_map(|total| JournalRecord::Dropped { ring: RingId::Telemetry, total }),
        (0..Stage::ALL.len(), any::<[u64; 5]>()).prop_map(|(s, v)| JournalRecord::Latency {
            stage: Stage::ALL[s],
            count: v[0],
            p50: v[1],
            p99: v[2],
            p999: v[3],
            max: v[4],
        }),
        any::<u64>().prop_map(|records| JournalRecord::Closed { records }),
    ]
}

fn write(records: &[(u64, JournalRecord)]) -> Vec<u8> {
    let mut w = JournalWriter::new(Vec::new(), &[], &JournalConfig::default(), 0).unwrap();
    for (ts, r) in records {
        w.append(*ts, r).unwrap();
    }
    w.flush(0).unwrap();
    w.into_sink()
}

fn read(bytes: &[u8]) -> (Vec<(u64, JournalRecord)>, Option<ReadError>) {
    let mut out = Vec::new();
    for item in JournalReader::new(bytes).unwrap() {
        match item {
            Ok(e) => out.push((e.ts_ns, e.record)),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_kind_round_trips(records in proptest::collection::vec((any::<u64>(), record()), 0..80)) {
        let bytes = write(&records);
        let (back, end) = read(&bytes);
        prop_assert_eq!(end, None);
        prop_assert_eq!(back, records);
    }

    /// Cutting the file anywhere inside the last record gives back every
    /// earlier record and a torn tail at the last record's offset.
    #[test]
    fn a_cut_anywhere_in_the_last_record_is_a_torn_tail(
        records in proptest::collection::vec((any::<u64>(), record()), 1..20),
        cut_seed in any::<u64>(),
    ) {
        let all = write(&records);
        let before = write(&records[..records.len() - 1]);
        let last_len = all.len() - before.len();
        let cut = before.len() + 1 + (cut_seed as usize % (last_len - 1));
        let (back, end) = read(&all[..cut]);
        prop_assert_eq!(&back[..], &records[..records.len() - 1]);
        match end {
            Some(ReadError::TornTail(t)) => {
                prop_assert_eq!(t.offset, before.len() as u64);
                prop_assert_eq!(t.bytes, (cut - before.len()) as u64);
            }
            other => prop_assert!(false, "expected a torn tail, got {:?}", other),
        }
    }
}

#[test]
fn one_record_of_every_kind_round_trips() {
    // Make sure the strategy above really covers all 20 kinds (plus the
    // order-event sub-kinds): generate until every kind has been seen.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = record();
    let mut seen = std::collections::HashSet::new();
    let mut records = Vec::new();
    for _ in 0..20_000 {
        let r = strategy.new_tree(&mut runner).unwrap().current();
        let kind = match r {
            JournalRecord::Order(ev) => format!("order:{}", std::mem::discriminant(&ev).hash_code()),
            JournalRecord::Risk(out) => format!("risk:{}", std::mem::discriminant(&out).hash_code()),
            other => format!("{:?}", std::mem::discriminant(&other)),
        };
        if seen.insert(kind) {
            records.push((seen.len() as u64, r));
        }
    }
    // 8 record variants besides Order and Risk, 8 order events and 4 risk
    // outputs: kinds 1 to 20.
    assert_eq!(seen.len(), 8 + 8 + 4, "kinds seen: {seen:?}");
    let bytes = write(&records);
    assert_eq!(read(&bytes), (records, None));
}

trait HashCode {
    fn hash_code(&self) -> u64;
}

impl<T> HashCode for std::mem::Discriminant<T> {
    fn hash_code(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.hash(&mut h);
        h.finish()
    }
}

/// With the real journal thread running, every record appended more than
/// one flush interval ago is readable from the file while the thread is
/// still running (no shutdown flush involved).
#[test]
fn records_older_than_the_flush_interval_are_on_disk() {
    let dir = pipeline::temp_dir("flush-interval");
    let path = dir.join("journal.bin");
    let cfg = JournalConfig { flush_interval_ms: 50, sync: true, ..JournalConfig::default() };
    let start_ns = 1_000_000_000;
    let writer = JournalWriter::create(&path, &[], &cfg, start_ns).unwrap();
    let (tx, rx) = ring::lossless::<JournalRecord>(1024, 1024);
    let (telemetry_tx, telemetry_rx) = ring::lossy::<Telemetry>(16);
    let stop = Arc::new(AtomicBool::new(false));
    // The test controls the journal's clock so "older than the interval" is exact.
    let clock_ns = Arc::new(AtomicU64::new(start_ns));
    let thread_clock = Arc::clone(&clock_ns);
    let handle = scalpel::journal::thread::spawn(
        writer,
        JournalThreadIo { records: rx, telemetry: telemetry_rx, contexts: None },
        cfg,
        move || thread_clock.load(Ordering::Acquire),
        Arc::clone(&stop),
    )
    .unwrap();
    let count_on_disk = || {
        let bytes = std::fs::read(&path).unwrap();
        JournalReader::new(&bytes[..]).unwrap().filter(Result::is_ok).count()
    };
    let wait_until = |cond: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out");
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    for round in 1..=3u64 {
        for i in 0..100 {
            tx.push_spin(JournalRecord::Closed { records: round * 1000 + i }).unwrap();
        }
        // Wait until the thread has taken them off the ring (appended).
        wait_until(&|| tx.is_empty());
        // Let the thread run several turns at the same clock reading: less
        // than one interval has passed, so nothing new may be written yet…
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(count_on_disk() as u64, (round - 1) * 100, "round {round}: flushed before the interval");
        // …and once the clock passes one interval, all of them are on disk.
        clock_ns.fetch_add(50_000_000, Ordering::AcqRel);
        wait_until(&|| count_on_disk() as u64 == round * 100);
    }
    stop.store(true, Ordering::Release);
    drop(telemetry_tx);
    let summary = handle.join().unwrap().unwrap();
    assert_eq!(summary.records, 301);
    std::fs::remove_dir_all(&dir).ok();
}
