//! The strategy profile loader (`tuning/default.toml`, `backtest --config`):
//! instruments, strategy, gates, sizing, exits, backtest, risk and the
//! `[signals]` table handed to the signals' own parser.
//!
//! Any text ends in a profile or in an error naming a key, never a panic.
//! Relative paths in the profile resolve against a directory that does not
//! exist, so the fuzzer cannot make the loader read arbitrary files.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use scalpel::profile::Profile;
use scalpel::signal::config::SignalConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let base = Path::new("/nonexistent/scalpel-fuzz");
    match Profile::from_toml_str(text, base) {
        Ok(profile) => assert!(!profile.instruments.all().is_empty()),
        Err(e) => assert!(!e.key.is_empty(), "an error naming no key: {e}"),
    }
    if let Err(e) = SignalConfig::from_profile_str(text) {
        assert!(!e.key.is_empty(), "an error naming no key: {e}");
    }
});
