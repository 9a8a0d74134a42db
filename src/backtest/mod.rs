//! `scalpel backtest`: deterministic in-process replay of recorded frames
//! through the live code path against a simulated exchange.

pub mod config;
