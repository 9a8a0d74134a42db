//! `scalpel latency --path wire` from the command line: a short session of
//! the live engine against the simulator over loopback TLS, on both venues,
//! then the loopback floor; the report's table, files and JSON line.
//!
//! Only what cannot fail falsely on a loaded CI machine is asserted of the
//! figures: samples were taken, every figure is positive and finite, the
//! percentiles are ordered. No timing bound.

use std::path::PathBuf;
use std::process::Command;

fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scalpel-latency-wire-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn positive(json: &serde_json::Value, key: &str) -> u64 {
    let v = json[key].as_u64().unwrap_or_else(|| panic!("{key} missing or not a whole number: {json}"));
    assert!(v > 0, "{key} = 0: {json}");
    v
}

/// One wire run at a time: two sessions and their spinning floors at once
/// on a 2-CPU runner would starve each other.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn wire_run(venue: &str, secs: &str) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = scratch_dir(venue);
    let hgrm = dir.join("hgrm");
    let plot = dir.join("wire.svg");
    let o = Command::new(env!("CARGO_BIN_EXE_scalpel"))
        .args(["latency", "--path", "wire", "--venue", venue, "--duration", secs, "--hgrm-dir"])
        .arg(&hgrm)
        .arg("--plot")
        .arg(&plot)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{venue}: {err}\n{out}");
    let last = out.lines().last().expect("output");
    let json: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {last}"));
    assert_eq!((json["path"].as_str(), json["venue"].as_str()), (Some("wire"), Some(venue)), "{json}");
    for key in ["wire_to_wire_samples", "floor_plain_rounds", "floor_tls_rounds", "floor_blocking_rounds"] {
        positive(&json, key);
    }
    for prefix in ["wire_to_wire", "loopback_floor", "loopback_floor_tls", "loopback_floor_blocking"] {
        let p50 = positive(&json, &format!("{prefix}_p50_ns"));
        let p99 = positive(&json, &format!("{prefix}_p99_ns"));
        let p999 = positive(&json, &format!("{prefix}_p999_ns"));
        assert!(p50 <= p99 && p99 <= p999 && p999 < 60_000_000_000, "{prefix}: {json}");
    }
    positive(&json, "market_frame_bytes");
    positive(&json, "order_request_bytes");
    assert_eq!(json["lost_orders"], 0, "{json}");
    assert!(json["machine"].is_object(), "{json}");
    // The table, the floor's sizes and the files.
    for row in ["wire_to_wire", "floor_plain", "floor_tls", "floor_blocking"] {
        assert!(out.lines().any(|l| l.trim_start().starts_with(row)), "no {row} row:\n{out}");
        assert!(hgrm.join(format!("{venue}-wire-{row}.hgrm")).is_file(), "{row}.hgrm missing");
    }
    assert!(out.contains("\nmachine: ") && out.contains("median market frame"), "{out}");
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "not an SVG");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn wire_path_on_binance_reports_wire_to_wire_beside_the_loopback_floor() {
    wire_run("binance-usdm", "15");
}

#[test]
fn wire_path_on_bybit_pairs_the_simulators_stamps_with_the_engines_orders() {
    // A Bybit session used to pair no order with its frame (issue 11).
    wire_run("bybit-linear", "15");
}

#[test]
fn wire_only_options_are_refused_elsewhere_and_wire_refuses_others() {
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_scalpel")).arg("latency").args(args).output().unwrap();
        assert!(!o.status.success() && o.stdout.is_empty(), "{args:?} should be refused before any run");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    assert!(run(&["--path", "decode", "--duration", "5"]).contains("--duration applies to --path wire only"));
    assert!(run(&["--path", "tick-to-trade", "--busy-poll"]).contains("--busy-poll applies to --path wire only"));
    assert!(run(&["--path", "wire", "--synth-secs", "5"]).contains("--synth-secs does not apply to --path wire"));
    assert!(run(&["--path", "wire", "--duration", "0"]).contains("--duration must be a positive number"));
    assert!(run(&["--path", "wire", "--key", "ed25519"]).contains("--key applies to --path tick-to-trade only"));
}
