//! Synthetic market sessions (being built): the seeded generator, the
//! venues' frame writers, and the measurements a session is calibrated on.

pub mod calibrate;
pub mod rng;
pub mod wire_binance;
pub mod wire_bybit;
pub mod wire_text;
