//! The fault soak (`scalpel demo --soak`), short: two simulators (Binance
//! and Bybit, BTCUSDT and ETHUSDT each) and one live engine on both venues,
//! with every fault kind forced to fire (`nth=` and `at=` triggers, no
//! probability that might miss a short session), checked figure by figure:
//! nothing lost, the engine's positions equal the simulators' before and
//! after the stop, no crossed or stale book published, every resync
//! counted and every book back in sync within the bound, the resident set
//! flat after the warm-up, and no hot-thread allocation in steady windows
//! (counted by this test's global allocator, as `tests/engine_alloc.rs`
//! counts them).
//!
//! About 50 s of trading at real pace with a 1 ms poll wait, to stay kind to
//! a 2-core CI machine.

use std::path::PathBuf;

use scalpel::alloc_count::CountingAlloc;
use scalpel::commands::soak::{SoakOptions, run};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Every fault kind on both simulators within seconds (listenKey expiry
/// exists on Binance only, a stall on Binance's `/market` route only; the
/// kinds are counted over both simulators).
const EVERY_KIND: &str = "disconnect:route=public:at=9s, stall:route=market:at=5s:for=3s, gap:p=0.005, \
    delay:nth=2:for=150ms, duplicate:nth=2, reorder:nth=2, listenkey-expire:at=12s, rate-limit:route=orders:nth=2, \
    ban:route=orders:nth=3:for=1s, lifetime:for=20s, order-drop:nth=2, fill-drop:nth=2";

#[test]
fn a_short_soak_on_both_venues_and_four_books_keeps_every_promise_under_every_fault() {
    let dir = std::env::temp_dir().join(format!("scalpel-soak-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let o = SoakOptions {
        duration_s: 50.0,
        warmup_s: Some(20.0),
        faults: EVERY_KIND.to_owned(),
        fault_seed: 7,
        config: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tuning/demo.toml")),
        json: Some(dir.join("soak.json")),
        dir: Some(dir.join("session")),
        busy_poll: Some(false),
        status_secs: 0.0,
        ..SoakOptions::default()
    };
    let hooks = scalpel::engine::Hooks { thread_allocations: Some(|| ALLOC.this_thread()), trace_allocations: None };
    let mut out = Vec::new();
    let mut err = Vec::new();
    let result = run(&o, hooks, &mut out, &mut err);
    let out = String::from_utf8_lossy(&out).into_owned();
    let err = String::from_utf8_lossy(&err).into_owned();
    eprintln!("{err}\n{out}");
    let r = match result {
        Ok(r) => r,
        Err(e) => panic!("the soak failed: {e}\nstdout:\n{out}"),
    };
    assert!(r.failed.is_empty() && out.contains("soak: PASSED"), "{out}");
    // Both venues, four books.
    assert_eq!(r.venues, ["binance-usdm", "bybit-linear"]);
    assert_eq!(r.instruments.len(), 4, "{out}");
    // Every kind fired.
    assert_eq!(r.faults_injected.len(), 12, "{:?}", r.faults_injected);
    for (kind, n) in &r.faults_injected {
        assert!(*n >= 1, "fault kind {kind} never fired: {:?}\n{out}", r.faults_injected);
    }
    // Orders: traded, nothing lost.
    assert!(r.orders.sent >= 2 && r.orders.fills >= 2, "it traded under the faults: {out}");
    assert_eq!(r.orders.lost, 0, "{out}");
    // Positions: the engine's ledger equals the simulators' accounts.
    assert!(r.positions_agree_before_stop && r.positions_agree_after_stop, "{out}");
    for i in &r.instruments {
        assert!(!i.sim_position_after_stop.is_empty() && i.sim_position_after_stop != "missing", "{out}");
        assert_eq!(i.engine_position_after_stop.parse::<f64>().ok(), i.sim_position_after_stop.parse::<f64>().ok());
    }
    // Books: none crossed or stale, the replay reproduces every intent.
    assert!(r.books_published > 400, "the replay's probe saw the published books: {out}");
    assert_eq!((r.crossed_books_published, r.stale_books_published), (0, 0), "{out}");
    assert_eq!(r.replay_matched_intents, r.intents, "{out}");
    // Resyncs: the gaps and drops made some, each counted, each book back.
    assert!(r.resyncs >= 4 && r.disconnects >= 2, "{out}");
    assert_eq!(r.resync_events, r.resyncs, "{out}");
    assert!(r.max_out_of_sync_ms <= r.out_of_sync_bound_ms, "{out}");
    assert!(r.instruments.iter().all(|i| i.in_sync_at_end), "{out}");
    // Memory and allocations.
    assert!(r.rss_warm_kib > 0 && r.rss_end_kib <= r.rss_warm_kib + r.rss_allowed_growth_kib, "{out}");
    assert!(r.allocation_counter_live && r.windows_steady >= 10, "{out}");
    assert_eq!(r.hot_allocations_steady, 0, "{out}");
    // The JSON carries the figures.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(o.json.as_ref().unwrap()).unwrap()).unwrap();
    for key in [
        "orders",
        "instruments",
        "crossed_books_published",
        "stale_books_published",
        "max_out_of_sync_ms",
        "rss_warm_kib",
        "rss_end_kib",
        "hot_allocations_steady",
        "faults_injected",
        "failed",
    ] {
        assert!(json.get(key).is_some(), "JSON key {key} missing: {json}");
    }
    assert_eq!(json["orders"]["lost"], 0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_soak_refuses_the_single_venue_options_and_a_warmup_without_it() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_scalpel")).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = run(&["demo", "--soak", "--venue", "bybit-linear"]);
    assert!(e.contains("--venue") && e.contains("--soak"), "{e}");
    let e = run(&["demo", "--soak", "--input", "x.gz"]);
    assert!(e.contains("--input"), "{e}");
    let e = run(&["demo", "--warmup", "10"]);
    assert!(e.contains("--soak"), "{e}");
    let e = run(&["demo", "--soak", "--duration", "0"]);
    assert!(e.contains("--duration"), "{e}");
    let e = run(&["demo", "--soak", "--duration", "20", "--warmup", "30"]);
    assert!(e.contains("--warmup"), "{e}");
}
