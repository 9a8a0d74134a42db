//! Helpers shared by the integration tests: where the real recordings are,
//! and how to say a test was skipped.
#![allow(dead_code)]

use std::path::PathBuf;

/// Candidate locations of the real recordings, in the order they are tried:
/// `$SCALPEL_DATA`, then `../shared/data` beside the checkout.
pub fn data_candidates() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("SCALPEL_DATA") {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    dirs
}

/// The directory holding the real recordings, if present.
pub fn data_dir() -> Option<PathBuf> {
    data_candidates().into_iter().find(|d| d.join("README.md").exists() || d.join("binance-usdm").is_dir())
}

/// A recording under the data directory, or `None` after printing one line
/// that says the test was skipped and where it looked.
pub fn recording(test: &str, relative: &str) -> Option<PathBuf> {
    match data_dir().map(|d| d.join(relative)).filter(|p| p.exists()) {
        Some(path) => Some(path),
        None => {
            let looked: Vec<String> =
                data_candidates().iter().map(|d| d.join(relative).display().to_string()).collect();
            // Written straight to the process's stderr, not with `println!`,
            // which the test harness captures and shows only on failure: a
            // skip must be visible in a passing run.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "skipped {test}: real recording not found (looked in {}; set SCALPEL_DATA)",
                looked.join(", ")
            );
            None
        }
    }
}

/// The three real recordings with their venue names.
pub const REAL_FILES: [(&str, &str); 3] = [
    ("binance-usdm", "binance-usdm/btcusdt_20240808.gz"),
    ("bybit-linear", "bybit-linear/btcusdt_20260809.gz"),
    ("bybit-linear", "bybit-linear/ethusdt_20260809.gz"),
];

/// Reads a (possibly gzipped) recording into `(ts, frame)` lines.
pub fn read_lines(path: &std::path::Path) -> Vec<(u64, Vec<u8>)> {
    use std::io::Read;
    let raw = std::fs::read(path).expect("read recording");
    let mut text = Vec::new();
    if raw.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut text).expect("gunzip");
    } else {
        text = raw;
    }
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let space = l.iter().position(|&b| b == b' ').expect("space");
            let ts = std::str::from_utf8(&l[..space]).unwrap().parse().unwrap();
            (ts, l[space + 1..].to_vec())
        })
        .collect()
}

/// The default profile made to trade often: the gates that need a long
/// history off, low confidence bands, short holds. The point is to run the
/// order path, not to profit.
pub fn busy_profile() -> scalpel::profile::Profile {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning");
    scalpel::profile::Profile::from_toml_str(&busy_profile_text(), &dir).unwrap()
}

/// The text of [`busy_profile`] (for commands that read a profile file).
pub fn busy_profile_text() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning");
    let mut text = std::fs::read_to_string(dir.join("default.toml")).unwrap();
    for (from, to) in [
        ("warmup_secs = 20", "warmup_secs = 0"),
        ("cooldown_secs = 10", "cooldown_secs = 1"),
        ("entry_timeout_ms = 3000", "entry_timeout_ms = 500"),
        ("observe_from = 70", "observe_from = 10"),
        ("base_from = 80", "base_from = 20"),
        ("large_from = 90", "large_from = 30"),
        ("max_hold_secs = 180", "max_hold_secs = 3"),
        ("max_hold_secs = 90", "max_hold_secs = 3"),
        ("consecutive_losses_halt = 3", "consecutive_losses_halt = 100000"),
    ] {
        assert!(text.contains(from), "tuning/default.toml changed: {from}");
        text = text.replace(from, to);
    }
    for gate in ["imbalance", "volume_surge", "regime", "edge"] {
        let at = text.find(&format!("[gates.{gate}]")).unwrap();
        let enabled = at + text[at..].find("enabled = true").unwrap();
        text.replace_range(enabled..enabled + "enabled = true".len(), "enabled = false");
    }
    text
}
