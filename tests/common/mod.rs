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
