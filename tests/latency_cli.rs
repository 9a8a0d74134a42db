//! `scalpel latency` from the command line: the decode and tick-to-trade
//! paths on synthetic sessions and on the real Binance recording (tables,
//! files, plot, JSON line), both venues, both order transports, both
//! Binance key types, venue detection, and every argument error refused
//! before a run.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scalpel-latency-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn scalpel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scalpel")).args(args).output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// A short synthetic Binance session (REST snapshot, diffs with a gap and
/// resync, bookTicker, trades, mark price).
fn synthetic_binance(dir: &Path) -> PathBuf {
    let out = dir.join("session.txt");
    let o = Command::new(env!("CARGO_BIN_EXE_scalpel"))
        .args(["synth", "--venue", "binance-usdm", "--symbol", "BTCUSDT", "--seed", "3", "--duration", "6"])
        .args(["--gap-every", "200", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "synth: {}", text(&o).1);
    out
}

/// Runs a successful `scalpel latency` and returns its stdout and the
/// parsed last line.
fn run_ok(args: &[&str]) -> (String, serde_json::Value) {
    let o = scalpel(args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "scalpel {args:?} failed: {err}\n{out}");
    let last = out.lines().last().expect("output");
    let json: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {last}"));
    (out, json)
}

fn run_err(args: &[&str]) -> String {
    let o = scalpel(args);
    let (out, err) = text(&o);
    assert!(!o.status.success(), "scalpel {args:?} should fail:\n{out}");
    assert!(out.is_empty(), "a refused run prints no report: {out}");
    err
}

#[test]
fn decode_path_on_a_synthetic_session_detects_the_venue_and_writes_files_and_plot() {
    let dir = scratch_dir("synthetic");
    let session = synthetic_binance(&dir);
    let hgrm = dir.join("hgrm");
    let plot = dir.join("plot.svg");
    let (out, json) = run_ok(&[
        "latency",
        "--input",
        session.to_str().unwrap(),
        "--rounds",
        "2",
        "--hgrm-dir",
        hgrm.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    // Header: frames, the machine, the samples' fate; then the table.
    assert!(out.lines().next().unwrap().contains("frames of binance-usdm x 2 rounds"), "{out}");
    assert!(out.contains("\nmachine: ") && out.contains("logical CPUs online"), "{out}");
    assert!(out.contains(" dropped (ring full)"), "{out}");
    assert!(out.contains("\nframe ") && out.contains("p99.99 ns"), "{out}");
    assert!(out.contains("\ndepth ") && out.contains("\ntop ") && out.contains("\ntrade "), "{out}");
    assert!(out.contains("depth cost: "), "{out}");

    assert_eq!(json["path"], "decode");
    assert_eq!(json["venue"], "binance-usdm");
    assert_eq!(json["rounds"], 2);
    let frames = json["frames"].as_u64().unwrap();
    assert!(frames > 1000, "{frames}");
    // Every timed frame reached the collector or was counted as dropped.
    assert_eq!(json["samples"].as_u64().unwrap() + json["samples_dropped"].as_u64().unwrap(), 2 * frames);
    for key in ["depth_decode_apply_p50_ns", "top_decode_apply_p50_ns", "trade_decode_apply_p50_ns", "depth_p50_ns"] {
        assert!(json[key].as_u64().is_some_and(|v| v > 0), "{key}: {}", json[key]);
    }
    let depth = &json["depth"];
    let p = |k: &str| depth[k].as_u64().unwrap();
    assert!(p("p50_ns") <= p("p90_ns") && p("p90_ns") <= p("p99_ns") && p("p99_ns") <= p("p999_ns"));
    assert!(p("p999_ns") <= p("p9999_ns") && p("p9999_ns") <= p("max_ns"));
    assert_eq!(json["allocs_per_event"], 0.0, "decode + apply allocates nothing once warm");
    assert!(json["machine"]["cpus_online"].as_u64().unwrap() >= 1);
    assert!(json["throughput_fps"].as_f64().unwrap() > 0.0);

    // One .hgrm per stage with samples, in HdrHistogram's format.
    let depth_hgrm = std::fs::read_to_string(hgrm.join("binance-usdm-depth.hgrm")).unwrap();
    assert!(depth_hgrm.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"));
    assert!(depth_hgrm.contains("#[Max     ="));
    assert!(hgrm.join("binance-usdm-top.hgrm").exists() && hgrm.join("binance-usdm-trade.hgrm").exists());
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("depth") && svg.contains("99.9%"));

    // The same file named as the other venue is refused, not mis-measured.
    let err = run_err(&["latency", "--venue", "bybit-linear", "--input", session.to_str().unwrap()]);
    assert!(err.contains("--venue bybit-linear, but the file reads as binance-usdm"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn decode_path_on_the_real_binance_recording() {
    let Some(path) = common::recording("latency_cli::real", "binance-usdm/btcusdt_20240808.gz") else {
        return;
    };
    let (out, json) =
        run_ok(&["latency", "--venue", "binance-usdm", "--input", path.to_str().unwrap(), "--rounds", "1"]);
    assert_eq!(json["frames"], 93_954, "{out}");
    assert_eq!(json["depth"]["count"], 6_551);
    assert_eq!(json["snapshot"]["count"], 1);
    assert_eq!(json["top"]["count"], 66_089);
    assert_eq!(json["trade"]["count"], 21_313);
    assert_eq!(json["fallback_frames_per_round"], 0, "every real frame takes a fast path");
    assert_eq!(json["allocs_per_frame"], 0.0);
    // Each depth diff lands in exactly one level-count bucket.
    let buckets: u64 = ["depth_levels_0_31", "depth_levels_32_127", "depth_levels_128_511", "depth_levels_512_up"]
        .iter()
        .map(|b| json[b]["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(buckets, 6_551);
    assert!(json["depth_fit_ns_per_level"].as_f64().unwrap() > 0.0);
}

#[test]
fn arguments_are_refused_before_any_measurement() {
    let dir = scratch_dir("errors");
    let session = synthetic_binance(&dir);
    let s = session.to_str().unwrap();

    let err = run_err(&["latency", "--input", s, "--rounds", "0"]);
    assert!(err.contains("--rounds must be at least 1"), "{err}");

    let err = run_err(&["latency", "--path", "wire", "--input", s, "--instruments", "x.toml"]);
    assert!(err.contains("--instruments does not apply to --path wire"), "{err}");
    let err = run_err(&["latency", "--input", s, "--transport", "rest"]);
    assert!(err.contains("--transport applies to --path tick-to-trade only"), "{err}");
    let err = run_err(&["latency", "--input", s, "--key", "ed25519"]);
    assert!(err.contains("--key applies to --path tick-to-trade only"), "{err}");
    let err = run_err(&["latency", "--path", "tick-to-trade", "--input", s, "--instruments", "x.toml"]);
    assert!(err.contains("trades the instruments of its profile's [instruments] table"), "{err}");
    let err = run_err(&["latency", "--path", "tick-to-trade", "--venue", "bybit-linear", "--key", "ed25519"]);
    assert!(err.contains("Bybit signs orders with HMAC-SHA256 only"), "{err}");
    let err = run_err(&["latency", "--path", "tick-to-trade", "--input", s, "--synth-secs", "30"]);
    assert!(err.contains("--synth-secs applies only without --input"), "{err}");
    let err = run_err(&["latency", "--path", "tick-to-trade", "--synth-secs", "0"]);
    assert!(err.contains("--synth-secs must be more than 0"), "{err}");
    let err = run_err(&["latency", "--path", "tick-to-trade", "--transport", "udp", "--input", s]);
    assert!(err.contains("unknown transport"), "{err}");
    // A 6-second session is shorter than the signals' warm-up: nothing to
    // time is an error that says why, not an empty report.
    let err = run_err(&["latency", "--path", "tick-to-trade", "--input", s, "--rounds", "1"]);
    assert!(err.contains("the strategy placed no order on this input"), "{err}");
    let err = run_err(&["latency", "--path", "bogus", "--input", s]);
    assert!(err.contains("unknown path"), "{err}");

    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = run_err(&["latency", "--input", s, "--hgrm-dir", file.to_str().unwrap()]);
    assert!(err.contains("exists and is not a directory"), "{err}");

    let err = run_err(&["latency", "--input", s, "--plot", dir.join("p.png").to_str().unwrap()]);
    assert!(err.contains("give a file name ending in .svg"), "{err}");

    let empty = dir.join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    let err = run_err(&["latency", "--input", empty.to_str().unwrap()]);
    assert!(err.contains("the recording holds no frames"), "{err}");

    // Frames no decoder understands: no venue to detect, and with --venue
    // nothing decodes.
    let junk = dir.join("junk.txt");
    std::fs::write(&junk, b"1 {\"hello\":1}\n2 not json\n3 {\"e\":\"nothing\"}\n").unwrap();
    let err = run_err(&["latency", "--input", junk.to_str().unwrap()]);
    assert!(err.contains("cannot tell the venue"), "{err}");
    let err = run_err(&["latency", "--venue", "binance-usdm", "--input", junk.to_str().unwrap()]);
    assert!(err.contains("none of its 3 frames decodes to binance-usdm market data"), "{err}");

    let err = run_err(&["latency", "--input", dir.join("missing.gz").to_str().unwrap()]);
    assert!(err.contains("No such file"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

/// Checks what every tick-to-trade report must hold; returns the JSON.
fn check_tick_report(out: &str, json: &serde_json::Value, venue: &str, transport: &str, key: &str, rounds: u64) {
    assert!(out.lines().next().unwrap().contains(&format!("frames of {venue} x {rounds} rounds x 2 passes")), "{out}");
    assert!(out.contains("\nprofile: ") && out.contains("\nmachine: "), "{out}");
    assert!(
        out.contains("\nstage ") && out.contains("\nencode_sign ") && out.contains("\ntick_to_trade_staged "),
        "{out}"
    );
    assert!(out.contains("\npath ") && out.contains("\ntick_to_trade "), "{out}");
    assert!(out.contains("every pass placed the same orders on the same frames"), "{out}");
    assert_eq!(json["path"], "tick-to-trade");
    assert_eq!(
        (json["venue"].as_str(), json["transport"].as_str(), json["key"].as_str()),
        (Some(venue), Some(transport), Some(key))
    );
    assert_eq!(json["rounds"], rounds);
    assert_eq!(json["deterministic"], true);
    assert_eq!(json["allocs_per_event"], 0.0, "nothing allocates on the whole path once warm: {out}");
    assert_eq!(json["risk_records_lost"], 0);
    assert_eq!(json["samples_dropped"], 0);
    let frames = json["frames"].as_u64().unwrap();
    let order_frames = json["order_frames"].as_u64().unwrap();
    assert!(order_frames > 0 && order_frames < frames, "{order_frames} of {frames}");
    // Two passes per round, one sample per frame each.
    assert_eq!(json["samples"].as_u64().unwrap(), 2 * rounds * frames);
    // Whole-pass samples: every frame is either an order frame or not.
    let count = |k: &str| json[k]["count"].as_u64().unwrap_or(0);
    let no_order: u64 =
        ["no_order_top", "no_order_depth", "no_order_trade", "no_order_other"].iter().map(|k| count(k)).sum();
    assert_eq!(count("tick_to_trade"), rounds * order_frames);
    assert_eq!(count("tick_to_trade") + no_order, rounds * frames);
    let by_class: u64 = ["tick_to_trade_top", "tick_to_trade_depth", "tick_to_trade_trade", "tick_to_trade_other"]
        .iter()
        .map(|k| count(k))
        .sum();
    assert_eq!(by_class, count("tick_to_trade"));
    assert_eq!(count("tick_to_trade_staged"), count("tick_to_trade"));
    assert_eq!(count("encode_sign"), count("tick_to_trade"), "every order frame has an encode + sign stage");
    assert_eq!(json["top_order_frames"].as_u64().unwrap() * rounds, count("tick_to_trade_top"));
    for key in [
        "tick_to_trade_p50_ns",
        "tick_to_trade_p99_ns",
        "tick_to_trade_p999_ns",
        "decode_p50_ns",
        "book_apply_p50_ns",
        "strategy_p50_ns",
        "risk_gate_p50_ns",
        "encode_sign_p50_ns",
    ] {
        assert!(json[key].as_u64().is_some_and(|v| v > 0), "{key}: {}", json[key]);
    }
    let p = |k: &str| json[k].as_u64().unwrap();
    assert!(
        p("tick_to_trade_p50_ns") <= p("tick_to_trade_p99_ns")
            && p("tick_to_trade_p99_ns") <= p("tick_to_trade_p999_ns")
    );
    let share = json["fire_share"].as_f64().unwrap();
    assert!((share - order_frames as f64 / frames as f64).abs() < 1e-5, "{share}");
}

#[test]
fn tick_to_trade_on_synthetic_binance_sessions_over_both_transports_and_key_types() {
    let dir = scratch_dir("tick-binance");
    let hgrm = dir.join("hgrm");
    let plot = dir.join("ttt.svg");
    let (out, json) = run_ok(&[
        "latency",
        "--path",
        "tick-to-trade",
        "--synth-secs",
        "45",
        "--rounds",
        "1",
        "--hgrm-dir",
        hgrm.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    check_tick_report(&out, &json, "binance-usdm", "ws", "hmac", 1);
    assert!(
        out.contains("input: synthetic binance-usdm BTCUSDT session, seed 42, 45 s, generated in process"),
        "{out}"
    );
    assert!(out.contains("(every order HMAC-signed)"), "{out}");
    assert!(json["top_order_frames"].as_u64().unwrap() > 0, "bookTicker frames trigger orders");
    let first = json.clone();
    let text = std::fs::read_to_string(hgrm.join("binance-usdm-tick-to-trade-tick_to_trade.hgrm")).unwrap();
    assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"));
    assert!(hgrm.join("binance-usdm-tick-to-trade-encode_sign.hgrm").exists());
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("tick_to_trade") && svg.contains("encode_sign"));

    // The same session over the other transport and key types: the same
    // orders on the same frames (the strategy does not know how they travel).
    for (transport, key, says) in [
        ("ws", "ed25519", "session.logon: orders unsigned"),
        ("rest", "hmac", "every request HMAC-signed"),
        ("rest", "ed25519", "every request Ed25519-signed"),
    ] {
        let (out, json) = run_ok(&[
            "latency",
            "--path",
            "tick-to-trade",
            "--synth-secs",
            "45",
            "--rounds",
            "1",
            "--transport",
            transport,
            "--key",
            key,
        ]);
        check_tick_report(&out, &json, "binance-usdm", transport, key, 1);
        assert!(out.contains(says), "{out}");
        for k in ["frames", "order_frames", "orders_placed", "top_order_frames", "depth_order_frames"] {
            assert_eq!(json[k], first[k], "{transport} {key}: {k}");
        }
        // A logged-on session's orders carry no signature: fewer bytes.
        if (transport, key) == ("ws", "ed25519") {
            assert!(json["request_bytes_per_pass"].as_u64() < first["request_bytes_per_pass"].as_u64());
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn tick_to_trade_on_a_synthetic_bybit_session_over_both_transports() {
    for transport in ["ws", "rest"] {
        let (out, json) = run_ok(&[
            "latency",
            "--path",
            "tick-to-trade",
            "--venue",
            "bybit-linear",
            "--synth-secs",
            "50",
            "--rounds",
            "1",
            "--transport",
            transport,
        ]);
        check_tick_report(&out, &json, "bybit-linear", transport, "hmac", 1);
        let says = if transport == "ws" { "trade stream authenticated once" } else { "every request HMAC-signed" };
        assert!(out.contains(says), "{out}");
    }
}

#[test]
fn tick_to_trade_on_the_real_binance_recording() {
    let Some(path) = common::recording("latency_cli::tick_real", "binance-usdm/btcusdt_20240808.gz") else {
        return;
    };
    let (out, json) =
        run_ok(&["latency", "--path", "tick-to-trade", "--input", path.to_str().unwrap(), "--rounds", "1"]);
    check_tick_report(&out, &json, "binance-usdm", "ws", "hmac", 1);
    assert_eq!(json["frames"], 93_954, "{out}");
    assert_eq!(json["top_frames"], 66_089);
    assert_eq!(json["trade_frames"], 21_313);
    assert_eq!(json["depth_frames"], 6_552, "6 551 diffs and the REST snapshot");
    assert!(json["top_order_frames"].as_u64().unwrap() > 1000, "{out}");
}
