//! `scalpel demo` in process, short: the simulator and the live engine on
//! loopback TLS, real signed orders, then the report. A plain session must
//! lose nothing, make round trips, replay its flight recording to 100%
//! identical intents and carry every JSON key; a session with every fault
//! kind forced on must survive them with nothing lost and no crossed book
//! published. The binary is run once too (`scalpel demo --json -`).
//!
//! Sessions are short (tens of seconds at real pace: the synthetic session
//! is anchored at the wall clock, so the simulator cannot run it faster
//! without the engine's exchange-time clamp seeing the future) and poll with
//! a 1 ms wait, to stay kind to a 2-core CI machine.

use std::path::PathBuf;
use std::process::Command;

use scalpel::commands::demo::{DemoOptions, DemoReport, run};
use scalpel::venue::Venue;

fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scalpel-demo-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn opts(name: &str, secs: f64) -> DemoOptions {
    let dir = test_dir(name);
    DemoOptions {
        duration_s: secs,
        config: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tuning/demo.toml")),
        json: Some(dir.join("demo.json")),
        dir: Some(dir.join("session")),
        busy_poll: Some(false),
        status_secs: 0.0,
        ..DemoOptions::default()
    }
}

fn run_demo(o: &DemoOptions) -> (DemoReport, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let result = run(o, scalpel::engine::Hooks::default(), &mut out, &mut err);
    let out = String::from_utf8_lossy(&out).into_owned();
    let err = String::from_utf8_lossy(&err).into_owned();
    eprintln!("{err}\n{out}");
    match result {
        Ok(r) => (r, out),
        Err(e) => panic!("the demo failed: {e}\nstdout:\n{out}\nstderr:\n{err}"),
    }
}

const KEYS: [&str; 14] = [
    "trades",
    "orders_sent",
    "orders_acked",
    "fills",
    "lost_orders",
    "faults_injected",
    "crossed_books_published",
    "tick_to_trade_ns",
    "wire_to_wire_ns",
    "backtest_trades",
    "parity_matched_trades",
    "intents",
    "replay_matched_intents",
    "parity_ratio",
];

#[test]
fn a_short_demo_trades_loses_nothing_and_replays_identically() {
    let o = opts("plain", 45.0);
    let (r, out) = run_demo(&o);
    assert_eq!(r.lost_orders, 0, "{out}");
    assert!(r.trades >= 1, "at least one round trip: {out}");
    assert_eq!(r.open_trades, 0, "the stop flattens: {out}");
    assert!(r.orders_sent >= 2 && r.fills >= 2, "{out}");
    assert_eq!(r.sim_order_requests, r.orders_sent, "every order reached the simulator once: {out}");
    assert_eq!(r.orders_rejected, 0, "{out}");
    assert!(r.intents >= 2, "{out}");
    assert_eq!(r.replay_matched_intents, r.intents, "replay parity 100%: {out}");
    assert_eq!(r.crossed_books_published, 0);
    assert!(r.books_published > 100, "the replay's probe saw the published books: {out}");
    assert!(r.tick_to_trade_ns.count >= 1 && r.tick_to_trade_ns.p50 > 0, "{out}");
    assert!(r.wire_to_wire_ns.count >= 1 && r.wire_to_wire_ns.p50 > 0, "{out}");
    assert!(
        r.wire_to_wire_ns.p50 >= r.tick_to_trade_ns.p50 / 2,
        "wire-to-wire contains the engine's tick-to-trade (one measured on each side): {out}"
    );
    assert!(r.faults_total == 0 && r.faults_survived);
    assert!(r.backtest_trades >= 1, "the backtest of the same frames trades too: {out}");
    assert!(r.parity_matched_trades <= r.backtest_trades);
    assert!(out.contains("LOST 0") && out.contains("parity 100%"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(o.json.as_ref().unwrap()).unwrap()).unwrap();
    for key in KEYS {
        assert!(json.get(key).is_some(), "JSON key {key} missing: {json}");
    }
    for key in ["tick_to_trade_ns", "wire_to_wire_ns"] {
        for p in ["p50", "p99", "p999"] {
            assert!(json[key][p].is_u64(), "{key}.{p}: {json}");
        }
    }
    assert_eq!(json["lost_orders"], 0);
    assert_eq!(json["trades"].as_u64(), Some(r.trades));
    assert!(json["faults_injected"].as_object().is_some_and(|m| m.contains_key("disconnect") && m.len() >= 10));
}

/// Every fault kind forced on within seconds (the `all` rates are for long
/// sessions; here each kind must fire at least once). The acks and fills
/// faults use `nth`, not a probability: a short session has only a handful
/// of those messages, and at p = 0.2 a kind could miss all of them. The
/// fill drop hits the first fill on each private connection: the demo may
/// fill only twice in its 40 s, and the 20 s lifetime renews the
/// connections (and their counts).
const EVERY_KIND: &str = "disconnect:route=public:at=9s, stall:route=market:at=5s:for=3s, gap:p=0.02, \
    delay:nth=2:for=150ms, duplicate:nth=2, reorder:nth=2, listenkey-expire:at=12s, rate-limit:route=orders:nth=2, \
    ban:route=orders:nth=3:for=1s, lifetime:for=20s, order-drop:nth=2, fill-drop:nth=1";

#[test]
fn a_demo_with_every_fault_kind_survives_with_nothing_lost_and_no_crossed_book() {
    let mut o = opts("faults", 40.0);
    o.faults = Some(EVERY_KIND.into());
    o.fault_seed = 7;
    let (r, out) = run_demo(&o);
    for (kind, n) in &r.faults_injected {
        assert!(*n >= 1, "fault kind {kind} never fired: {:?}\n{out}", r.faults_injected);
    }
    assert_eq!(r.lost_orders, 0, "{out}");
    assert_eq!(r.crossed_books_published, 0, "{out}");
    assert!(r.faults_survived, "{out}");
    assert!(r.disconnects >= 2 && r.resyncs >= 1, "the engine saw the drops and the gaps: {out}");
    assert!(r.fills >= 1, "it still traded: {out}");
    assert_eq!(r.replay_matched_intents, r.intents);
}

#[test]
fn the_binary_prints_the_report_and_json_on_stdout() {
    let dir = test_dir("cli");
    let out = Command::new(env!("CARGO_BIN_EXE_scalpel"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["demo", "--duration", "15", "--status-secs", "0", "--json", "-"])
        .arg("--dir")
        .arg(dir.join("session"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains("scalpel demo: binance-usdm") && stdout.contains("profile tuning/demo.toml"), "{stdout}");
    assert!(stdout.contains("tick-to-trade") && stdout.contains("wire-to-wire") && stdout.contains("parity:"));
    let json_start = stdout.find("\n{").expect("the JSON report follows the text") + 1;
    let json: serde_json::Value = serde_json::from_str(stdout[json_start..].trim()).unwrap();
    assert_eq!(json["lost_orders"], 0, "{stdout}");
    assert_eq!(json["intents"], json["replay_matched_intents"], "{stdout}");
    // No secret in the output: the session's secret is in an owner-only file.
    let secret = std::fs::read_to_string(dir.join("session/secret")).unwrap();
    assert!(!stdout.contains(&secret) && !stderr.contains(&secret));
}

#[test]
fn bad_options_are_refused_with_the_option_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_scalpel"))
        .args(["demo", "--duration", "5", "--faults", "meteor:p=1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--faults") && stderr.contains("meteor"), "{stderr}");
    let o = DemoOptions { venue: Venue::BybitLinear, duration_s: -1.0, ..DemoOptions::default() };
    let e = run(&o, scalpel::engine::Hooks::default(), &mut Vec::new(), &mut Vec::new()).unwrap_err();
    assert!(e.to_string().contains("--duration"), "{e}");
}
