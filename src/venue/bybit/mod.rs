//! Bybit v5 linear: market-data decoding and book sync, order encoding and
//! signing, private (trade/order/execution) message parsing.

pub mod decode;
pub mod fast;
pub mod order;
pub mod private;
pub mod rest;
pub mod sync;

pub use decode::BybitDecoder;
pub use sync::BybitBookSync;
