//! The `[core]` table of a profile: how the trading core ([`crate::core`])
//! treats its inputs. Every key is optional.
//!
//! ```toml
//! [core]
//! max_clock_skew_ms = 5000      # exchange time more than this ahead of the receive clock is clamped (counted)
//! mark_reset_ms = 1000          # a sequence id below its mark but newer by this much resets the mark
//! mark_interval_ms = 100        # marks to the risk monitor, at most this often per symbol
//! fallback_max_age_ms = 2000    # during a resync, the BBO or mark price is used while this fresh
//! dark_feed_ms = 5000           # a book feed silent this long is dark: no entries, resting orders pulled
//! order_capacity = 1024         # orders the ledger holds (live and recently finished)
//! fill_keys = 65536             # fill keys remembered for de-duplication
//! retire_after_ms = 60000       # finished orders stay this long (late duplicates still dedupe)
//! ```
//!
//! `mark_interval_ms` may also be given as `[backtest] mark_interval_ms`
//! (where it lived before the core existed); giving both with different
//! values is an error.

use serde::Deserialize;

use crate::instrument::LoadError;

/// Validated `[core]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreConfig {
    /// Exchange timestamps more than this far ahead of the receive clock
    /// are clamped to it and counted, ms.
    pub max_clock_skew_ms: i64,
    /// Reset window of every sequence mark ([`crate::market::SeqMark`]), ms.
    pub mark_reset_ms: i64,
    /// Marks are sent to the risk monitor at most this often per symbol, ms.
    pub mark_interval_ms: i64,
    /// Longest age of the venue's BBO or mark price used as a fallback price
    /// while the book is out of sync, ms.
    pub fallback_max_age_ms: i64,
    /// A book feed with no frame for this long is dark, ms.
    pub dark_feed_ms: i64,
    /// Order slots of the ledger.
    pub order_capacity: usize,
    /// Fill keys the ledger remembers.
    pub fill_keys: usize,
    /// Finished orders are retired from the ledger after this long, ms.
    pub retire_after_ms: i64,
}

impl Default for CoreConfig {
    fn default() -> Self {
        RawCore::default().validate().expect("built-in core defaults validate")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawCore {
    max_clock_skew_ms: u32,
    mark_reset_ms: u32,
    pub(crate) mark_interval_ms: Option<u32>,
    fallback_max_age_ms: u32,
    dark_feed_ms: u32,
    order_capacity: u32,
    fill_keys: u32,
    retire_after_ms: u32,
}

impl Default for RawCore {
    fn default() -> Self {
        Self {
            max_clock_skew_ms: 5_000,
            mark_reset_ms: 1_000,
            mark_interval_ms: None,
            fallback_max_age_ms: 2_000,
            dark_feed_ms: 5_000,
            order_capacity: 1_024,
            fill_keys: 65_536,
            retire_after_ms: 60_000,
        }
    }
}

impl RawCore {
    pub(crate) fn validate(self) -> Result<CoreConfig, LoadError> {
        let positive = |key: &str, v: u32| {
            if v == 0 { Err(LoadError::new(format!("core.{key}"), "must be at least 1")) } else { Ok(i64::from(v)) }
        };
        if self.order_capacity < 4 {
            return Err(LoadError::new("core.order_capacity", "must be at least 4"));
        }
        if self.fill_keys < 16 {
            return Err(LoadError::new("core.fill_keys", "must be at least 16"));
        }
        Ok(CoreConfig {
            max_clock_skew_ms: positive("max_clock_skew_ms", self.max_clock_skew_ms)?,
            mark_reset_ms: positive("mark_reset_ms", self.mark_reset_ms)?,
            mark_interval_ms: positive("mark_interval_ms", self.mark_interval_ms.unwrap_or(100))?,
            fallback_max_age_ms: positive("fallback_max_age_ms", self.fallback_max_age_ms)?,
            dark_feed_ms: positive("dark_feed_ms", self.dark_feed_ms)?,
            order_capacity: self.order_capacity as usize,
            fill_keys: self.fill_keys as usize,
            retire_after_ms: positive("retire_after_ms", self.retire_after_ms)?,
        })
    }
}
