//! scalpel: an ultra-low-latency, single-hot-thread scalping core for crypto
//! perpetual futures on Binance USDⓈ-M and Bybit v5 linear.
//!
//! The data flows one way (see `DESIGN.md` in the shared folder and the
//! README): socket bytes → TLS → WebSocket frame → in-place decode
//! ([`venue`]) → fixed-size [`book`] → signals → strategy → risk gate →
//! encode and sign → socket. This crate is the library behind the `scalpel`
//! binary; `main.rs` only parses the command line.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

pub mod alloc_count;
pub mod backtest;
pub mod book;
pub mod commands;
pub mod core;
pub mod engine;
pub mod event;
pub mod fixed;
pub mod host;
pub mod instrument;
pub mod journal;
pub mod json;
pub mod latency;
pub mod market;
pub mod net;
pub mod order;
pub mod profile;
pub mod recording;
pub mod ring;
pub mod risk;
pub mod side;
pub mod signal;
pub mod sim;
pub mod strategy;
pub mod synth;
pub mod venue;
