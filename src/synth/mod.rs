//! Synthetic market sessions (being built): the seeded generator and the
//! venues' frame writers.

pub mod rng;
pub mod wire_binance;
pub mod wire_bybit;
pub mod wire_text;
