//! Fills missed while a private stream was down (issue 13): the live
//! engine against `scalpel sim` on loopback TLS, in process, with the
//! simulator's `fill-drop` fault — the private stream (Binance user data,
//! Bybit `/v5/private`) is dropped right before the execution message of
//! every second fill on it, so that fill's messages are lost, as a venue
//! loses what it sends while its client reconnects.
//!
//! With the fetch (the default) the engine asks the venue for its fills
//! after the stream is back (Binance `GET /fapi/v1/userTrades`, Bybit
//! `GET /v5/execution/list`), recovers the missed ones and its ledger
//! agrees with the simulator's account. Without it (`[orders]
//! fetch_missed_fills = false`) the same fault leaves the ledger off the
//! venue's position for good: the check the first test makes would fail.

mod common;
mod live;

use std::time::{Duration, Instant};

use scalpel::engine::{Counter, EngineHandle};
use scalpel::sim::{FaultKind, FaultPlan, Simulator};
use scalpel::venue::Venue;

use live::{Opts, start_engine, start_sim, stop, test_dir, traded, wait_for, write_config};

const LONG: Duration = Duration::from_secs(45);

/// The simulator's position in BTCUSDT, as a quantity mantissa (scale 3).
fn venue_position(sim: &Simulator) -> i64 {
    let r = sim.report();
    let text = r.accounts[0].positions.get("BTCUSDT").map_or("0", String::as_str);
    scalpel::fixed::parse_decimal_trimmed(text.as_bytes(), 3, true).expect("the simulator reports a decimal")
}

fn ledger_position(h: &EngineHandle) -> i64 {
    h.stats().insts[0].position
}

/// Index of the venue's private stream among the engine's connections.
fn private_conn(h: &EngineHandle) -> usize {
    h.info().conns.iter().position(|n| n.ends_with("-user-data") || n.ends_with("-private")).expect("a private stream")
}

/// Samples both positions every 100 ms for `span` (until they agree when
/// `until_agreed`); `(agreed once, every sample differed, the samples)`.
fn sample(h: &EngineHandle, sim: &Simulator, span: Duration, until_agreed: bool) -> (bool, bool, Vec<(i64, i64)>) {
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < span {
        while h.next_event().is_some() {}
        let pair = (ledger_position(h), venue_position(sim));
        seen.push(pair);
        if until_agreed && pair.0 == pair.1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let agreed = seen.iter().any(|(a, b)| a == b);
    let always_differed = seen.iter().all(|(a, b)| a != b);
    (agreed, always_differed, seen)
}

fn missed_fills_are_fetched(venue: Venue, name: &str) {
    let sim = start_sim(venue, |c| c.faults = FaultPlan::parse("fill-drop:nth=2").unwrap());
    let dir = test_dir(name);
    let cfg = write_config(&sim, &dir, &Opts { record: true, ..Opts::default() });
    let h = start_engine(&cfg);
    let s = wait_for(&h, LONG, "a fill lost with the private stream, then recovered by the fetch", |s| {
        traded(3)(s) && s.get(Counter::FillsRecovered) >= 1
    });
    assert!(sim.faults_injected(FaultKind::FillDrop) >= 1, "the simulator lost an execution");
    assert!(s.get(Counter::FillFetches) >= 1 && s.get(Counter::FillPages) >= 1);
    let p = private_conn(&h);
    assert!(s.conns[p].downs >= 1, "the private stream went down: {:?}", s.conns[p]);
    // A fill in flight makes them differ for a moment: they must meet.
    let (agreed, _, seen) = sample(&h, &sim, Duration::from_secs(5), true);
    assert!(agreed, "{name}: the ledger never agreed with the venue (ledger, venue): {seen:?}");
    let report = stop(h);
    let s = &report.hot.stats;
    eprintln!(
        "{name}: fills {}, recovered {}, fetches {} (pages {}, failed {}), duplicates {}, fill drops {}",
        s.get(Counter::Fills),
        s.get(Counter::FillsRecovered),
        s.get(Counter::FillFetches),
        s.get(Counter::FillPages),
        s.get(Counter::FillFetchesFailed),
        s.get(Counter::Duplicates),
        sim.faults_injected(FaultKind::FillDrop),
    );
    assert!(report.hot.lost.is_empty(), "orders lost: {:?}", report.hot.lost);
    let sim_report = sim.stop();
    for key in ["bad_signatures", "bad_timestamps"] {
        assert_eq!(sim_report.counters[key], 0, "{key}: the fetches are signed right: {:?}", sim_report.errors);
    }
    let venue_after = sim_report.accounts[0].positions.get("BTCUSDT").map_or("0", String::as_str);
    let venue_after = scalpel::fixed::parse_decimal_trimmed(venue_after.as_bytes(), 3, true).unwrap();
    assert_eq!(s.insts[0].position, venue_after, "after the stop's flatten the ledger and the venue agree");
    // The fetched pages are in the flight recording: the replay applies
    // them in order and makes the same intents.
    let r = scalpel::engine::replay::replay(&dir.join("flight")).expect("the recording replays");
    assert!(r.parity(), "replay parity: {:?}", r.differences);
}

#[test]
fn binance_fills_lost_with_the_user_data_stream_are_fetched_and_the_ledger_agrees() {
    missed_fills_are_fetched(Venue::BinanceUsdm, "missed-fills-binance");
}

#[test]
fn bybit_fills_lost_with_the_private_stream_are_fetched_and_the_ledger_agrees() {
    missed_fills_are_fetched(Venue::BybitLinear, "missed-fills-bybit");
}

/// The same fault without the fetch: the ledger stays off the venue's
/// position once the stream is back — what the first tests would catch.
#[test]
fn without_the_fetch_a_fill_lost_with_the_private_stream_leaves_the_ledger_wrong() {
    let sim = start_sim(Venue::BybitLinear, |c| c.faults = FaultPlan::parse("fill-drop:nth=2").unwrap());
    let dir = test_dir("missed-fills-off");
    let o = Opts { extra: "[orders]\nfetch_missed_fills = false\n".into(), ..Opts::default() };
    let cfg = write_config(&sim, &dir, &o);
    let h = start_engine(&cfg);
    let p = private_conn(&h);
    let sim_ref = &sim;
    let _ = wait_for(&h, LONG, "an execution lost with the private stream, the stream back", |s| {
        sim_ref.faults_injected(FaultKind::FillDrop) >= 1
            && s.conns[p].downs >= 1
            && s.conns[p].state == scalpel::net::ConnState::Live
    });
    std::thread::sleep(Duration::from_secs(1));
    let (_, always_differed, seen) = sample(&h, &sim, Duration::from_secs(3), false);
    assert!(always_differed, "without the fetch the lost fill stays missing (ledger, venue): {seen:?}");
    let report = stop(h);
    let s = &report.hot.stats;
    assert_eq!((s.get(Counter::FillFetches), s.get(Counter::FillsRecovered)), (0, 0), "nothing fetched");
    let _ = sim.stop();
}
