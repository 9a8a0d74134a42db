//! Order-flow and microstructure signals, updated incrementally.
//!
//! Every signal family lives in its own file and updates in O(1) per event
//! without allocating, on *exchange* timestamps so that a replay is
//! deterministic. [`SignalSnapshot`] is the contract between the signals and
//! the strategy: a small `Copy` struct holding the current value of every
//! signal for one instrument. Signal math may use `f64`; prices in books
//! and orders never do.
//!
//! # Layout
//! - [`aggregate`]: [`Signals`] (all families of one instrument behind one
//!   exchange clock).
//! - [`source`]: the [`SignalSource`] seam the trading core ([`crate::core`],
//!   the one router of market events) feeds: [`LiveSignals`] (production)
//!   and [`BookOnlySignals`] (a baseline); [`fields`]: which snapshot fields
//!   a source provides.
//! - One file per family: [`book_shape`], [`ofi`], [`trade_flow`], [`vwap`]
//!   (with the volume profile), [`volatility`] (with velocity and
//!   acceleration), [`ou`], [`funding`], [`liquidation`], [`regime`],
//!   [`momentum`], [`atr`] (average true range), [`range`] (the session's
//!   range, its break, the pullback, swing highs and lows),
//!   [`open_interest`].
//! - Shared machinery: [`window`] (bucketed rolling sums),
//!   [`series`] (the mid on a fixed grid with exact prefix sums),
//!   [`config`] ([`SignalConfig`], the `[signals]` table).

use crate::side::Side;

pub mod aggregate;
pub mod atr;
pub mod book_shape;
pub mod config;
pub mod fields;
pub mod funding;
pub mod liquidation;
pub mod momentum;
pub mod ofi;
pub mod open_interest;
pub mod ou;
pub mod range;
pub mod regime;
pub mod series;
pub mod source;
pub mod trade_flow;
pub mod volatility;
pub mod vwap;
pub mod window;

pub use aggregate::{SignalStats, Signals};
pub use book_shape::TopOfBook;
pub use config::SignalConfig;
pub use fields::SignalFields;
pub use source::{BookOnlySignals, LiveSignals, SignalSource};

/// Bits of [`SignalSnapshot::warm_mask`]: which families have seen enough
/// data. [`REQUIRED`](warm::REQUIRED) is what [`SignalSnapshot::warm`]
/// demands: every family except funding and liquidations, whose streams a
/// recording or venue may not carry (their fields are then neutral zeros).
pub mod warm {
    /// A two-sided book has been seen.
    pub const BOOK: u16 = 1 << 0;
    /// A full OFI window has passed.
    pub const OFI: u16 = 1 << 1;
    /// A full trade-flow window has passed.
    pub const TRADE_FLOW: u16 = 1 << 2;
    /// The surge ratios have their 20 previous windows.
    pub const SURGE: u16 = 1 << 3;
    /// A full VWAP window has passed and it holds volume.
    pub const VWAP: u16 = 1 << 4;
    /// The same for the volume profile.
    pub const PROFILE: u16 = 1 << 5;
    /// One volatility half-life has passed.
    pub const VOLATILITY: u16 = 1 << 6;
    /// Velocity and acceleration filters have settled.
    pub const KINEMATICS: u16 = 1 << 7;
    /// The OU window is full.
    pub const OU: u16 = 1 << 8;
    /// A funding rate has been seen.
    pub const FUNDING: u16 = 1 << 9;
    /// Two liquidation windows have passed.
    pub const LIQUIDATIONS: u16 = 1 << 10;
    /// Variance ratio and volatility percentile have full windows.
    pub const REGIME: u16 = 1 << 11;
    /// The long momentum horizon has history.
    pub const MOMENTUM: u16 = 1 << 12;
    /// The average true range has its first `atr_period` bars (not
    /// required: the rules that use it check this bit themselves).
    pub const ATR: u16 = 1 << 13;
    /// The range window is full (not required; checked by its rules).
    pub const RANGE: u16 = 1 << 14;
    /// An open-interest change over the whole window is known (not
    /// required: a venue or recording may carry no open interest).
    pub const OPEN_INTEREST: u16 = 1 << 15;
    /// What [`super::SignalSnapshot::warm`] requires.
    pub const REQUIRED: u16 =
        BOOK | OFI | TRADE_FLOW | SURGE | VWAP | PROFILE | VOLATILITY | KINEMATICS | OU | REGIME | MOMENTUM;
}

/// Market regime, from the regime classifier (with hysteresis).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Regime {
    /// Not enough data yet.
    #[default]
    Unknown,
    /// Mean-reverting, range-bound.
    Ranging,
    /// Directional.
    Trending,
    /// Volatility in its top percentile band: trade smaller or not at all.
    HighVolatility,
}

impl Regime {
    /// Name for reports.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Regime::Unknown => "unknown",
            Regime::Ranging => "ranging",
            Regime::Trending => "trending",
            Regime::HighVolatility => "high-volatility",
        }
    }
}

/// The current value of every signal for one instrument.
///
/// Units are stated per field. Ratios are dimensionless; "bps" means basis
/// points of the mid price. A field is `0.0` (or `None`, `0`, `Unknown`)
/// while its signal has no data at all; before its window has filled it
/// is computed from the data seen so far. `warm_mask` says which families
/// have full windows and `warm` when every required one has: gate trading
/// on those, not on non-zero values. The exceptions to "0 when empty" are
/// `buy_share` (0.5) and the fields documented otherwise below.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SignalSnapshot {
    /// Exchange time of the last event folded in, ms.
    pub ts_ms: i64,
    /// Every signal has seen enough data to be meaningful (all of
    /// [`warm::REQUIRED`]; funding and liquidations are not required).
    pub warm: bool,
    /// Which families are warm: bits of [`warm`].
    pub warm_mask: u16,

    // Book shape (top of book and top K levels).
    /// Mid price, in price units (not a mantissa).
    pub mid: f64,
    /// Microprice (size-weighted mid, Stoikov), price units.
    pub microprice: f64,
    /// Spread in ticks.
    pub spread_ticks: f64,
    /// Spread in bps of the mid.
    pub spread_bps: f64,
    /// Top-of-book imbalance (bid − ask) / (bid + ask) sizes, in [−1, 1].
    pub tob_imbalance: f64,
    /// Imbalance over the top K levels' sizes, in [−1, 1].
    pub depth_imbalance: f64,

    // Order flow imbalance (Cont, Kukanov & Stoikov 2014).
    /// Best-level OFI summed over the window, normalised by average depth.
    pub ofi: f64,
    /// Multi-level OFI over the top K levels, summed over the window and
    /// normalised by average depth.
    pub ofi_multi: f64,

    // Trade flow.
    /// Signed taker volume over the window (buys positive), base units.
    pub signed_volume: f64,
    /// Cumulative volume delta since start, base units.
    pub cvd: f64,
    /// Share of taker-buy volume in the window, in [0, 1] (0.5 when the
    /// window holds no trade).
    pub buy_share: f64,
    /// Volume of the last window over the mean of the previous 20 windows.
    pub volume_surge: f64,
    /// |net taker flow| of the last window over its 20-window mean.
    pub net_flow_surge: f64,

    // VWAP and volume profile.
    /// Rolling VWAP, price units.
    pub vwap: f64,
    /// (mid − VWAP) in bps.
    pub vwap_dev_bps: f64,
    /// (mid − VWAP) in units of its rolling standard deviation.
    pub vwap_dev_sigma: f64,
    /// Volume profile point of control, price units.
    pub poc: f64,
    /// Value area high (70% of volume), price units.
    pub value_area_high: f64,
    /// Value area low, price units.
    pub value_area_low: f64,

    // Volatility and kinematics of the mid.
    /// EWMA realised volatility of mid returns, bps per √second.
    pub volatility_bps: f64,
    /// Mid velocity, bps per second.
    pub velocity_bps_s: f64,
    /// Mid acceleration, bps per second².
    pub acceleration_bps_s2: f64,

    // Ornstein–Uhlenbeck mean reversion of the mid.
    /// Mean-reversion speed θ, per second.
    pub ou_theta: f64,
    /// Long-run mean μ, price units.
    pub ou_mu: f64,
    /// Diffusion σ, price units per √second.
    pub ou_sigma: f64,
    /// (mid − μ) / stationary σ.
    pub ou_zscore: f64,
    /// Expected drift direction towards μ: +1 up, −1 down, 0 none/unknown.
    pub ou_drift: i8,

    // Funding.
    /// Current funding rate (e.g. 0.0001 = 1 bp per interval).
    pub funding_rate: f64,
    /// Time to the next funding, ms.
    pub ms_to_funding: i64,
    /// Funding pressure in [−1, 1]: positive when funding favours longs
    /// (negative rate: shorts pay), stronger close to the funding time.
    pub funding_bias: f64,

    // Liquidations.
    /// Liquidated notional of long positions in the window, quote units.
    pub liq_long_notional: f64,
    /// Liquidated notional of short positions in the window, quote units.
    pub liq_short_notional: f64,
    /// Change of total liquidated notional per window (acceleration).
    pub liq_acceleration: f64,
    /// A liquidation cascade is under way, and which side is being
    /// liquidated (`Buy` = longs forced to sell, pushing price down).
    pub cascade: Option<Side>,
    /// `liq_long_notional` as a rate per minute, quote units.
    pub liq_long_per_min: f64,
    /// `liq_short_notional` as a rate per minute, quote units.
    pub liq_short_per_min: f64,

    // Regime and momentum.
    /// Current regime.
    pub regime: Regime,
    /// Variance ratio behind the regime (0 until known).
    pub variance_ratio: f64,
    /// Percentile of the current volatility in its recent history, in
    /// [0, 1] (0 until known).
    pub volatility_percentile: f64,
    /// Mid return over the short horizon (e.g. 1 min), bps.
    pub momentum_short_bps: f64,
    /// Mid return over the long horizon (e.g. 5 min), bps.
    pub momentum_long_bps: f64,
    /// Both horizons agree: `Some(Buy)` up, `Some(Sell)` down.
    pub momentum_aligned: Option<Side>,

    // Average true range (Wilder) of the mid on fixed bars.
    /// ATR, price units (0 until warm).
    pub atr: f64,
    /// ATR in bps of the mid (0 until warm).
    pub atr_bps: f64,

    // The session's range and its break (support and resistance).
    /// Highest sampled mid of the range window, price units (0 until warm).
    pub range_high: f64,
    /// Lowest sampled mid of the range window, price units (0 until warm).
    pub range_low: f64,
    /// A clean break of the range is in progress: `Some(Buy)` up.
    pub breakout: Option<Side>,
    /// The level the break cleared, price units (0 without a break).
    pub breakout_level: f64,
    /// The break has pulled back (the entry trigger), same side as `breakout`.
    pub pullback: Option<Side>,
    /// Highest mid of the swing window and now, price units.
    pub swing_high: f64,
    /// Lowest mid of the swing window and now, price units.
    pub swing_low: f64,

    // Open interest.
    /// Open interest, base units (0 when none was seen).
    pub open_interest: f64,
    /// Change of open interest over the window, percent.
    pub oi_change_pct: f64,
    /// Change of the mid over the same window, bps.
    pub oi_price_change_bps: f64,
}
