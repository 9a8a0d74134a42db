//! Binance USDⓈ-M futures: market-data decoding and book sync, order
//! encoding and signing, private (order/user-data) message parsing.

pub mod decode;
pub mod fast;
pub mod order;
pub mod private;
pub mod rest;
pub mod sync;

pub use decode::BinanceDecoder;
pub use sync::{BinanceBookSync, PendingDiffs};
