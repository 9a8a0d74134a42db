//! Which snapshot fields the signal source provides: defined with the
//! signals ([`crate::signal::fields`]), re-exported here where the strategy's
//! votes and gates are resolved against them.

pub use crate::signal::fields::SignalFields;
