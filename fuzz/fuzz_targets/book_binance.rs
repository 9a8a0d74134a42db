//! Binance USDⓈ-M market decoders followed by the book sync and book apply,
//! exactly as `scalpel book` runs them: the bytes are a recording
//! (`<ts> <frame>` lines, plain or gzip) replayed by
//! `scalpel::commands::book` in process, with the built-in instruments and
//! instruments at the extremes of the price scales (ticks 10 to 1e-12).
//! Every book it prints must be well formed and uncrossed
//! (`scalpel_fuzz::book_command`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use scalpel::venue::Venue;

fuzz_target!(|data: &[u8]| scalpel_fuzz::book_command(Venue::BinanceUsdm, data));
