//! Burst tests: the lossless ring loses nothing under back-pressure, the
//! lossy ring counts every drop, and a burst of order events through the
//! real risk and journal threads reaches the journal complete and in order.

mod pipeline;

use std::sync::Arc;
use std::time::Duration;

use scalpel::journal::thread::Telemetry;
use scalpel::journal::{JournalRecord, RingId, Stage};
use scalpel::order::{ClientOrderId, OrderEvent, OrderKind, OrderRequest, TimeInForce, VenueOrderId};
use scalpel::ring;
use scalpel::risk::monitor::RiskInput;
use scalpel::risk::thread::KillSwitch;
use scalpel::risk::{RiskConfig, RiskExit};
use scalpel::side::Side;
use scalpel::venue::Venue;

#[test]
fn lossless_ring_burst_loses_nothing_under_backpressure() {
    const N: u64 = 2_000_000;
    let (tx, rx) = ring::lossless::<u64>(256, 192);
    let producer = std::thread::spawn(move || {
        let mut spins = 0;
        for i in 0..N {
            spins += tx.push_spin(i).expect("consumer alive");
        }
        (spins, tx.stats())
    });
    let mut expected = 0u64;
    while expected < N {
        match rx.pop() {
            Some(v) => {
                assert_eq!(v, expected, "out of order or lost");
                expected += 1;
                // A slow consumer now and then, so the producer must wait.
                if expected % 100_000 == 0 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            None => std::hint::spin_loop(),
        }
    }
    let (spins, stats) = producer.join().unwrap();
    assert_eq!(rx.pop(), None);
    assert!(stats.full > 0, "the burst never filled the ring: the test did not exercise back-pressure");
    assert_eq!(stats.spins, spins);
}

#[test]
fn lossy_ring_counts_every_drop_under_contention() {
    const N: u64 = 1_000_000;
    let (tx, rx) = ring::lossy::<u64>(128);
    let producer = std::thread::spawn(move || {
        let accepted = (0..N).filter(|&i| tx.push(i)).count() as u64;
        (accepted, tx.dropped())
    });
    let mut popped = 0u64;
    let mut last: Option<u64> = None;
    loop {
        match rx.pop() {
            Some(v) => {
                assert!(last.is_none_or(|l| v > l), "order broken: {v} after {last:?}");
                last = Some(v);
                popped += 1;
            }
            None if rx.is_producer_gone() => {
                if let Some(v) = rx.pop() {
                    assert!(last.is_none_or(|l| v > l));
                    popped += 1;
                    continue;
                }
                break;
            }
            None => std::thread::yield_now(),
        }
    }
    let (accepted, dropped) = producer.join().unwrap();
    assert_eq!(accepted + dropped, N);
    assert_eq!(popped, accepted);
    assert_eq!(rx.dropped(), dropped);
    assert!(dropped > 0, "nothing dropped: the test did not exercise a full ring");
}

#[test]
fn order_burst_through_risk_and_journal_threads_loses_nothing() {
    const ORDERS: u64 = 30_000;
    const SAMPLES: u64 = 200_000;
    let dir = pipeline::temp_dir("burst");
    // A small input ring so the burst outruns the risk thread.
    let p = pipeline::start(&dir, RiskConfig::default(), KillSwitch::new(None), 256);
    let desk = p.desk;
    desk.wait_for_risk_thread();
    let symbol = desk.symbol;
    let telemetry = Arc::new(desk.telemetry);
    let flood = {
        let telemetry = Arc::clone(&telemetry);
        std::thread::spawn(move || {
            for i in 0..SAMPLES {
                telemetry.push(Telemetry::Latency { stage: Stage::TickToTrade, ns: 1_000 + i % 5_000 });
            }
        })
    };
    for id in 1..=ORDERS {
        let order = OrderRequest {
            venue: Venue::BinanceUsdm,
            symbol,
            side: if id % 2 == 0 { Side::Buy } else { Side::Sell },
            kind: OrderKind::Limit,
            tif: TimeInForce::PostOnly,
            price: pipeline::MID,
            qty: scalpel::fixed::Qty(1),
            reduce_only: false,
            client_id: ClientOrderId(id),
        };
        for event in [
            OrderEvent::Submitted { order, ts_raw: id },
            OrderEvent::Acked { client_id: order.client_id, venue_order_id: VenueOrderId::from_u64(id), ts_ms: 1 },
            OrderEvent::Cancelled { client_id: order.client_id, ts_ms: 2 },
        ] {
            desk.to_risk.push_spin(RiskInput::Order(event)).expect("risk thread alive");
        }
    }
    let stats = desk.to_risk.stats();
    flood.join().unwrap();
    let dropped = telemetry.dropped();
    // The engine stops: its producers go, the risk thread drains and ends,
    // then the journal thread.
    drop(desk.to_risk);
    drop(telemetry);
    let report = p.risk.join().unwrap();
    assert_eq!(report.exit, RiskExit::InputClosed);
    assert_eq!(report.inputs, 3 * ORDERS);
    assert_eq!(report.snapshot.open_orders, 0);
    let summary = p.journal.join().unwrap().expect("journal ok");
    assert!(stats.full > 0, "the burst never filled the input ring");

    let (entries, end) = pipeline::read_journal(&p.journal_path);
    assert_eq!(end, None);
    let events: Vec<OrderEvent> = entries
        .iter()
        .filter_map(|e| match e.record {
            JournalRecord::Order(ev) => Some(ev),
            _ => None,
        })
        .collect();
    assert_eq!(events.len() as u64, 3 * ORDERS, "order events lost or duplicated");
    for (i, chunk) in events.chunks(3).enumerate() {
        let id = ClientOrderId(i as u64 + 1);
        assert!(
            matches!(chunk[0], OrderEvent::Submitted { order, .. } if order.client_id == id),
            "{i}: {:?}",
            chunk[0]
        );
        assert!(matches!(chunk[1], OrderEvent::Acked { client_id, .. } if client_id == id));
        assert!(matches!(chunk[2], OrderEvent::Cancelled { client_id, .. } if client_id == id));
    }
    // Telemetry: dropped samples are counted and the count is journaled;
    // every sample not dropped is in the histogram.
    assert_eq!(summary.telemetry_dropped, dropped);
    let last_drop = entries.iter().rev().find_map(|e| match e.record {
        JournalRecord::Dropped { ring: RingId::Telemetry, total } => Some(total),
        _ => None,
    });
    assert_eq!(last_drop.unwrap_or(0), dropped);
    let recorded = summary.latency.get(Stage::TickToTrade).map_or(0, |h| h.len());
    assert_eq!(recorded + dropped, SAMPLES);
    let journaled = entries.iter().rev().find_map(|e| match e.record {
        JournalRecord::Latency { stage: Stage::TickToTrade, count, .. } => Some(count),
        _ => None,
    });
    assert_eq!(journaled, Some(recorded));
    std::fs::remove_dir_all(&dir).ok();
}
