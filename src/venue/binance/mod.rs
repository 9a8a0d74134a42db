//! Binance USDⓈ-M futures: market-data decoding and book sync.

pub mod decode;
pub mod fast;
pub mod sync;

pub use decode::BinanceDecoder;
pub use sync::{BinanceBookSync, PendingDiffs};
