//! `scalpel synth` from the command line: the same seed writes the same
//! bytes (plain and gzip), another seed other bytes, and bad options are
//! clear errors.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scalpel-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn synth(args: &[&str], out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scalpel")).arg("synth").args(args).arg("--out").arg(out).output().unwrap()
}

fn ok(args: &[&str], out: &Path) -> Vec<u8> {
    let o = synth(args, out);
    assert!(o.status.success(), "scalpel synth {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(out).unwrap()
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let dir = scratch_dir("synth-seed");
    for venue in ["binance-usdm", "bybit-linear"] {
        let args = |seed: &'static str| {
            ["--venue", venue, "--symbol", "BTCUSDT", "--seed", seed, "--duration", "8", "--gap-every", "40"]
        };
        let a = ok(&args("7"), &dir.join("a.txt"));
        let b = ok(&args("7"), &dir.join("b.txt"));
        let c = ok(&args("8"), &dir.join("c.txt"));
        assert!(a.len() > 10_000, "{venue}: {} bytes", a.len());
        assert!(a == b, "{venue}: same seed, different bytes");
        assert!(a != c, "{venue}: different seeds, same bytes");
        // gzip: the same bytes once decompressed, and the same compressed file.
        let gz1 = ok(&args("7"), &dir.join("a.gz"));
        let gz2 = ok(&args("7"), &dir.join("b.gz"));
        assert!(gz1 == gz2, "{venue}: same seed, different gzip files");
        assert_eq!(&gz1[..2], &[0x1f, 0x8b], "{venue}: .gz output is gzip");
        let mut plain = Vec::new();
        flate2::read::MultiGzDecoder::new(&gz1[..]).read_to_end(&mut plain).unwrap();
        assert!(plain == a, "{venue}: gzip output decompresses to the plain output");
        // Every line: a local timestamp, a space, a JSON object; timestamps never go back.
        let text = String::from_utf8(a).unwrap();
        let mut last = 0u64;
        for line in text.lines() {
            let (ts, frame) = line.split_once(' ').unwrap();
            let ts: u64 = ts.parse().unwrap();
            assert!(ts >= last, "{venue}: local time goes back at {line}");
            last = ts;
            assert!(frame.starts_with('{') && frame.ends_with('}'), "{venue}: {frame}");
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_market_does_not_depend_on_the_venue() {
    let dir = scratch_dir("synth-venue");
    let summary = |venue: &str| {
        let o = synth(
            &["--venue", venue, "--symbol", "BTCUSDT", "--seed", "3", "--duration", "5"],
            &dir.join(format!("{venue}.txt")),
        );
        assert!(o.status.success());
        let text = String::from_utf8(o.stdout).unwrap();
        // "... N order events (x/s) → path"
        let events = text.split(" order events").next().unwrap().rsplit(' ').next().unwrap().to_owned();
        events.parse::<u64>().unwrap()
    };
    let (binance, bybit) = (summary("binance-usdm"), summary("bybit-linear"));
    assert!(binance > 3000);
    assert_eq!(binance, bybit, "the same seed drives the same order flow on both venues");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_options_are_clear_errors() {
    let dir = scratch_dir("synth-bad");
    let out = dir.join("x.txt");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--venue", "binance-usdm", "--symbol", "DOGEUSDT", "--seed", "1", "--duration", "5"],
            "DOGEUSDT is not a known binance-usdm instrument",
        ),
        (
            &["--venue", "bybit-linear", "--symbol", "BTCUSDT", "--seed", "1", "--duration", "0"],
            "duration must be more than 0",
        ),
        (
            &["--venue", "bybit-linear", "--symbol", "BTCUSDT", "--seed", "1", "--duration", "5", "--rate", "0"],
            "rate must be a positive number",
        ),
        (
            &["--venue", "binance-usdm", "--symbol", "ETHUSDT", "--seed", "1", "--duration", "5", "--gap-every", "0"],
            "gap-every must be at least 1",
        ),
        (&["--venue", "okx", "--symbol", "BTCUSDT", "--seed", "1", "--duration", "5"], "okx"),
    ];
    for (args, message) in cases {
        let o = synth(args, &out);
        assert!(!o.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?}: an output file was created before the options were checked");
    }
    std::fs::remove_dir_all(dir).ok();
}

/// `--rate` runs the same model faster: 60 s at 500 events/s and 10 s at
/// 3000 are the same stretch of model time (the warm-up is in model time
/// too), so they hold the same order events, six times denser. (Averages
/// over short sessions would not show it: the order flow comes in bursts.)
#[test]
fn rate_scales_the_order_flow() {
    let dir = scratch_dir("synth-rate");
    let events = |rate: &str, duration: &str| {
        let o = synth(
            &["--venue", "bybit-linear", "--symbol", "BTCUSDT", "--seed", "4", "--duration", duration, "--rate", rate],
            &dir.join("r.txt"),
        );
        assert!(o.status.success());
        let text = String::from_utf8(o.stdout).unwrap();
        let per_s = text.split(" order events (").nth(1).unwrap().split("/s)").next().unwrap().to_owned();
        per_s.parse::<f64>().unwrap()
    };
    let (slow, fast) = (events("500", "60"), events("3000", "10"));
    assert!((fast / slow / 6.0 - 1.0).abs() < 0.01, "{slow:.0} order events per second at 500, {fast:.0} at 3000");
    // And the level is the rate's, roughly (one minute of bursty flow).
    assert!((slow / 500.0 - 1.0).abs() < 0.5, "--rate 500: {slow:.0} order events per second");
    std::fs::remove_dir_all(dir).ok();
}
