//! Bybit v5 linear: market-data decoding and book sync.

pub mod decode;
pub mod fast;
pub mod sync;

pub use decode::BybitDecoder;
pub use sync::BybitBookSync;
