//! The `[backtest]` table of a profile: simulated exchange and latency.
//!
//! ```toml
//! [backtest]
//! fill_model = "trade-through"   # or "touch"
//! signals = "live"               # or "book-only" (baseline without the signal families)
//! funding = true                 # charge funding at the venue's funding times
//! close_at_end = true            # close open positions at the end of the data
//! mark_interval_ms = 100         # marks fed to the risk monitor, at most this often
//! [backtest.feed_latency]        # exchange → strategy (market data and order reports)
//! constant_us = 1000
//! recorded = false               # true: each market frame reaches the core at its recorded
//!                                # receive time (+ clock_offset_us), as the live engine saw it;
//!                                # order reports keep constant_us / samples_file
//! clock_offset_us = 0            # added to recorded receive times (a recorder clock behind
//!                                # the exchange's); only with recorded = true
//! [backtest.order_latency]       # strategy → exchange
//! samples_file = "latency/order_us.txt"   # one sample in µs per line, '#' comments
//! seed = 7                       # draws are seeded: the same seed, the same run
//! ```
//!
//! A latency is either `constant_us` or `samples_file` + `seed`, never
//! both. Relative paths are resolved against the profile's directory.
//!
//! `recorded = true` (feed latency only) replays the market data on the
//! clock it was received on, the model hftbacktest calls the feed latency
//! taken from the data's local timestamps: a frame reaches the core at its
//! first column (the recorder's receive time) plus `clock_offset_us`, never
//! before the exchange saw it (such frames are delivered at the exchange
//! time and counted). A flight recording of `scalpel run` stamps each frame
//! with the time its core call was made, so its replay runs the core on the
//! live engine's own clock.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::instrument::LoadError;

/// When a resting limit order fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FillModel {
    /// Conservative: only a trade strictly through the order's price fills
    /// it (everything queued at the price, including us, was taken), in full.
    TradeThrough,
    /// Less conservative: a trade at the order's price also fills it, up to
    /// the trade's quantity (as if we were first in the queue).
    Touch,
}

impl FillModel {
    /// Name as configured.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            FillModel::TradeThrough => "trade-through",
            FillModel::Touch => "touch",
        }
    }
}

/// Which signal source feeds the strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignalChoice {
    /// Every signal family (`src/signal/`), configured by `[signals]`.
    Live,
    /// Only book and tape basics; the strategy's degraded mode.
    BookOnly,
}

/// A latency: constant, or drawn (seeded, with replacement) from samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LatencyModel {
    /// Always this many nanoseconds.
    Constant(u64),
    /// Uniform draws from recorded samples, nanoseconds.
    Samples {
        /// The samples.
        samples_ns: Vec<u64>,
        /// Seed of the draws.
        seed: u64,
        /// Where they came from (for the report).
        file: PathBuf,
    },
}

impl LatencyModel {
    /// A short description for reports.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            LatencyModel::Constant(ns) => format!("constant {} us", ns / 1000),
            LatencyModel::Samples { samples_ns, seed, file } => {
                format!("{} samples from {} (seed {seed})", samples_ns.len(), file.display())
            }
        }
    }
}

/// Validated `[backtest]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BacktestConfig {
    /// Resting-order fill rule.
    pub fill_model: FillModel,
    /// Signal source.
    pub signals: SignalChoice,
    /// Exchange → strategy latency.
    pub feed_latency: LatencyModel,
    /// Strategy → exchange latency.
    pub order_latency: LatencyModel,
    /// Market frames on their recorded receive clock (`recorded = true`):
    /// the offset added to each receive time, ns.
    pub recorded_feed: Option<RecordedFeed>,
    /// Charge funding at funding times.
    pub funding: bool,
    /// Close open positions at the end of the data.
    pub close_at_end: bool,
    /// Marks are fed to the risk monitor at most this often per symbol, ms.
    pub mark_interval_ms: i64,
}

/// Market frames delivered on their recorded receive clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedFeed {
    /// Added to every recorded receive time, ns (positive: the recorder's
    /// clock was behind the exchange's).
    pub clock_offset_ns: i64,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLatency {
    constant_us: Option<u64>,
    samples_file: Option<String>,
    seed: Option<u64>,
    recorded: Option<bool>,
    clock_offset_us: Option<i64>,
}

/// The `recorded` / `clock_offset_us` keys of a latency table.
fn recorded_feed(key: &str, raw: &RawLatency, allowed: bool) -> Result<Option<RecordedFeed>, LoadError> {
    if !allowed {
        for (name, given) in [("recorded", raw.recorded.is_some()), ("clock_offset_us", raw.clock_offset_us.is_some())]
        {
            if given {
                return Err(LoadError::new(format!("{key}.{name}"), "only [backtest.feed_latency] takes it"));
            }
        }
        return Ok(None);
    }
    match (raw.recorded.unwrap_or(false), raw.clock_offset_us) {
        (false, Some(_)) => Err(LoadError::new(format!("{key}.clock_offset_us"), "only used with recorded = true")),
        (false, None) => Ok(None),
        (true, offset) => {
            let us = offset.unwrap_or(0);
            if us.unsigned_abs() > 86_400_000_000 {
                return Err(LoadError::new(format!("{key}.clock_offset_us"), "must be within one day"));
            }
            Ok(Some(RecordedFeed { clock_offset_ns: us * 1000 }))
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawBacktest {
    fill_model: FillModel,
    signals: SignalChoice,
    feed_latency: RawLatency,
    order_latency: RawLatency,
    funding: bool,
    close_at_end: bool,
    mark_interval_ms: u32,
}

impl Default for RawBacktest {
    fn default() -> Self {
        Self {
            fill_model: FillModel::TradeThrough,
            signals: SignalChoice::Live,
            feed_latency: RawLatency { constant_us: Some(1_000), ..RawLatency::default() },
            order_latency: RawLatency { constant_us: Some(1_000), ..RawLatency::default() },
            funding: true,
            close_at_end: true,
            mark_interval_ms: 100,
        }
    }
}

/// Reads latency samples: one non-negative integer (µs) per line, blank
/// lines and `#` comments skipped.
///
/// # Errors
/// A [`LoadError`] naming `key` and the line.
pub fn read_samples(key: &str, path: &Path) -> Result<Vec<u64>, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::new(key, format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let us: u64 = line.parse().map_err(|_| {
            LoadError::new(key, format!("{}:{}: {line:?} is not a whole number of microseconds", path.display(), n + 1))
        })?;
        out.push(us.saturating_mul(1000));
    }
    if out.is_empty() {
        return Err(LoadError::new(key, format!("{}: no samples", path.display())));
    }
    Ok(out)
}

fn latency(key: &str, raw: &RawLatency, base: &Path) -> Result<LatencyModel, LoadError> {
    match (raw.constant_us, &raw.samples_file, raw.seed) {
        (Some(us), None, None) => {
            if us > 60_000_000 {
                return Err(LoadError::new(format!("{key}.constant_us"), "must be at most 60 s"));
            }
            Ok(LatencyModel::Constant(us * 1000))
        }
        (None, Some(file), seed) => {
            let file = base.join(file);
            let samples_ns = read_samples(&format!("{key}.samples_file"), &file)?;
            let seed = seed.ok_or_else(|| LoadError::new(format!("{key}.seed"), "required with samples_file"))?;
            Ok(LatencyModel::Samples { samples_ns, seed, file })
        }
        (Some(_), Some(_), _) => Err(LoadError::new(key, "give constant_us or samples_file, not both")),
        (Some(_), None, Some(_)) => Err(LoadError::new(format!("{key}.seed"), "only used with samples_file")),
        (None, None, _) => Err(LoadError::new(key, "give constant_us or samples_file")),
    }
}

impl RawBacktest {
    pub(crate) fn validate(self, base: &Path) -> Result<BacktestConfig, LoadError> {
        if self.mark_interval_ms == 0 {
            return Err(LoadError::new("backtest.mark_interval_ms", "must be at least 1"));
        }
        Ok(BacktestConfig {
            fill_model: self.fill_model,
            signals: self.signals,
            feed_latency: latency("backtest.feed_latency", &self.feed_latency, base)?,
            order_latency: latency("backtest.order_latency", &self.order_latency, base)?,
            recorded_feed: {
                recorded_feed("backtest.order_latency", &self.order_latency, false)?;
                recorded_feed("backtest.feed_latency", &self.feed_latency, true)?
            },
            funding: self.funding,
            close_at_end: self.close_at_end,
            mark_interval_ms: i64::from(self.mark_interval_ms),
        })
    }
}

impl Default for BacktestConfig {
    fn default() -> Self {
        RawBacktest::default().validate(Path::new(".")).expect("built-in backtest defaults validate")
    }
}
