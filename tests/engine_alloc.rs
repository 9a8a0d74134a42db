//! The live engine's hot thread allocates nothing once warm: counted by the
//! global allocator on the hot thread itself over a loopback session
//! against `scalpel sim` — market frames decoded into the book and signals,
//! orders encoded, signed and sent over the WebSocket API, acks and fills
//! from the user-data stream, timers, dead-man refreshes over REST, the
//! flight recorder.
//!
//! The session runs over plain `ws://` / `http://` (the simulator's
//! test-only plaintext mode). Over TLS, our record layer's zero allocations
//! per record are proven by the network layer's own tests (README, network
//! layer); running this whole session over TLS is still to do.

mod common;
mod live;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use scalpel::alloc_count::CountingAlloc;
use scalpel::engine::{Counter, Engine, Hooks, LiveConfig};
use scalpel::venue::Venue;

use live::{Opts, start_sim, stop, test_dir, wait_for, write_config};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn the_hot_thread_allocates_nothing_once_warm() {
    let sim = start_sim(Venue::BinanceUsdm, |c| c.plaintext = true);
    assert!(sim.urls().ws_url.starts_with("ws://"));
    let dir = test_dir("alloc");
    let o = Opts { busy_poll: true, record: true, ..Opts::default() };
    let cfg = LiveConfig::from_file(&write_config(&sim, &dir, &o)).unwrap();
    let hooks = Hooks { thread_allocations: Some(|| ALLOC.this_thread()), trace_allocations: None };
    let h = Engine::start_with_hooks(cfg, Arc::new(AtomicBool::new(false)), hooks).unwrap();
    // Warm: every path has run at least once (orders, acks, fills, exits,
    // dead-man refreshes, snapshots) and the buffers have their sizes.
    let warm = wait_for(&h, Duration::from_secs(90), "a warm session", |s| {
        s.get(Counter::Fills) >= 2 && s.get(Counter::OrdersSent) >= 2 && s.get(Counter::DeadmanOk) >= 2
    });
    let later = wait_for(&h, Duration::from_secs(90), "more trading", |s| {
        s.get(Counter::OrdersSent) >= warm.get(Counter::OrdersSent) + 2
            && s.get(Counter::Fills) >= warm.get(Counter::Fills) + 2
            && s.get(Counter::DeadmanOk) > warm.get(Counter::DeadmanOk)
            && s.get(Counter::MarketFrames) >= warm.get(Counter::MarketFrames) + 1000
    });
    let allocations = later.get(Counter::HotAllocations) - warm.get(Counter::HotAllocations);
    let frames = later.get(Counter::MarketFrames) - warm.get(Counter::MarketFrames);
    let private = later.get(Counter::PrivateFrames) - warm.get(Counter::PrivateFrames);
    let orders = later.get(Counter::OrdersSent) - warm.get(Counter::OrdersSent);
    // The orders' context records (entry decision and signal vector, exit
    // reason) went to the journal's ring inside the counted window.
    let contexts = later.get(Counter::OrderContexts) - warm.get(Counter::OrderContexts);
    let report = stop(h);
    let _ = sim.stop();
    eprintln!(
        "hot thread, once warm: {allocations} allocations over {frames} market frames, {private} private frames, {orders} orders ({} allocations before)",
        warm.get(Counter::HotAllocations)
    );
    assert!(warm.get(Counter::HotAllocations) > 0, "the hook counts (start-up allocates)");
    assert!(frames >= 1000 && private >= 2 && orders >= 2);
    assert!(contexts >= 2, "order contexts journaled once warm: {contexts}");
    assert_eq!(allocations, 0, "the hot thread allocated once warm");
    assert!(report.hot.lost.is_empty());
}
