//! The risk file loader (`tuning/risk.toml`: `[risk]` limits, breakers,
//! `[journal]`), and the `[journal]` table on its own.
//!
//! Any text ends in a configuration or in an error naming a key, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scalpel::journal::JournalConfig;
use scalpel::profile::RiskFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = RiskFile::from_toml_str(text) {
        assert!(!e.key.is_empty(), "an error naming no key: {e}");
    }
    if let Err(e) = JournalConfig::from_table_str(text) {
        assert!(!e.key.is_empty(), "an error naming no key: {e}");
    }
});
