//! Signal configuration: the `[signals]` table of a strategy profile
//! (`tuning/default.toml`), typed and validated at load.
//!
//! Every key is optional and has the default documented on its field (and
//! in `tuning/signals.example.toml`, which a unit test keeps in step with
//! the code). An unknown key is an error; a bad value is a [`LoadError`]
//! naming the key (`signals.ofi_window_ms`).
//!
//! [`SignalConfig`] deserializes *through* its validation
//! (`#[serde(try_from = ...)]`), so a profile struct that embeds
//! `signals: SignalConfig` cannot forget to validate it; the error text then
//! starts with the key. [`SignalConfig::from_table`] and
//! [`SignalConfig::from_toml_str`] return a structured [`LoadError`].
//!
//! # Time windows
//! Every rolling window is cut into `window_buckets` equal buckets on the
//! exchange clock (bucket `b = floor(ts / bucket_ms)`): an event belongs to
//! the window at time `now` while its bucket is one of the last
//! `window_buckets` buckets up to and including `now`'s. With the default
//! 100 buckets a 1 s window is exact to 10 ms. Buckets make the memory of
//! every window a fixed `window_buckets + 1` entries, allocated at
//! construction, however many events arrive. A window's length must be a
//! multiple of `window_buckets` ms.
//!
//! Slow mid-price statistics (Ornstein–Uhlenbeck fit, momentum, regime)
//! sample the mid on a fixed grid of `sample_ms` (the mid at the end of each
//! grid slot); their windows must be multiples of `sample_ms`.

use crate::instrument::LoadError;

/// Most book levels any depth signal looks at (fixed array size).
pub const MAX_DEPTH_LEVELS: usize = 10;

/// Validated signal parameters. Durations are exchange-time milliseconds.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(try_from = "RawSignalConfig")]
pub struct SignalConfig {
    /// Book levels per side for the top-K depth imbalance and multi-level
    /// OFI, 1..=10. Default 5.
    pub depth_levels: usize,
    /// Buckets per rolling window (see the module docs). Default 100.
    pub window_buckets: u32,
    /// OFI window (best-level and multi-level sums and the average depth
    /// that normalises them). Default 1000.
    pub ofi_window_ms: u32,
    /// Trade-flow window: signed volume, buy share, and the window length
    /// of the volume and net-flow surge ratios. Default 1000.
    pub trade_window_ms: u32,
    /// Previous windows averaged in the surge denominators. Default 20.
    pub surge_windows: u32,
    /// Rolling VWAP window; also the span of the volume profile. Default 60000.
    pub vwap_window_ms: u32,
    /// Time slices of the volume profile (it expires a slice at a time).
    /// Must divide `vwap_window_ms`. Default 12 (5 s slices).
    pub profile_slices: u32,
    /// Width of a volume-profile row, in ticks. Default 10.
    pub profile_bin_ticks: u32,
    /// Rows the volume profile can hold (a power of two, 16..=65536): the
    /// traded range of one window must fit. Default 512.
    pub profile_bins: u32,
    /// Share of window volume inside the value area, in (0, 1). Default 0.70.
    pub value_area_fraction: f64,
    /// Half-life of the EWMA realised volatility. Default 30000.
    pub volatility_half_life_ms: u32,
    /// Time constant of the mid-velocity filter. Default 1000.
    pub velocity_tau_ms: u32,
    /// Time constant of the mid-acceleration filter. Default 2000.
    pub acceleration_tau_ms: u32,
    /// Grid on which the mid is sampled for the OU fit, momentum and
    /// regime. Default 500.
    pub sample_ms: u32,
    /// Window of the OU (AR(1)) fit, a multiple of `sample_ms` of at least
    /// 8 samples. Default 60000.
    pub ou_window_ms: u32,
    /// Smallest |z-score| for which the OU drift votes. Default 0.5.
    pub ou_min_zscore: f64,
    /// Funding bias reaches full weight at the funding time and falls
    /// linearly to `funding_min_weight` at this distance. Default 3600000.
    pub funding_horizon_ms: u32,
    /// Weight of the funding bias far from the funding time, in [0, 1].
    /// Default 0.25.
    pub funding_min_weight: f64,
    /// Funding rate (per interval) at which the bias saturates at ±1.
    /// Default 0.0005 (5 bps).
    pub funding_rate_scale: f64,
    /// Liquidation window (notional sums; the acceleration compares it with
    /// the window before). Default 10000.
    pub liquidation_window_ms: u32,
    /// Liquidated notional of one side in the window that starts a
    /// cascade, quote currency. Default 250000.
    pub cascade_notional: f64,
    /// Liquidations of that side in the window needed as well. Default 3.
    pub cascade_min_events: u32,
    /// Share of the window's liquidated notional that side must hold, in
    /// (0.5, 1]. Default 0.7.
    pub cascade_side_share: f64,
    /// A cascade ends when its side's notional falls below this fraction
    /// of `cascade_notional`, in (0, 1]. Default 0.5.
    pub cascade_exit_fraction: f64,
    /// Window of the variance ratio (fine-grid returns). Default 120000.
    pub regime_window_ms: u32,
    /// Coarse return horizon of the variance ratio, in grid samples (`q`).
    /// `regime_window_ms` must hold at least 8 coarse returns. Default 6.
    pub regime_coarse_samples: u32,
    /// History over which the volatility percentile is ranked, a multiple
    /// of `sample_ms`. Default 120000.
    pub regime_vol_window_ms: u32,
    /// Variance ratio at or above which the regime turns trending. Default 1.25.
    pub trend_enter_vr: f64,
    /// Variance ratio at or below which the regime turns ranging. Default 0.8.
    pub range_enter_vr: f64,
    /// Volatility percentile at or above which the regime turns
    /// high-volatility. Default 0.9.
    pub high_vol_enter_pct: f64,
    /// Percentile below which a high-volatility regime ends. Default 0.7.
    pub high_vol_exit_pct: f64,
    /// Least time between two regime changes. Default 10000.
    pub regime_min_dwell_ms: u32,
    /// Short momentum horizon, a multiple of `sample_ms`. Default 30000.
    pub momentum_short_ms: u32,
    /// Long momentum horizon, a multiple of `sample_ms`, longer than the
    /// short one. Default 120000.
    pub momentum_long_ms: u32,
    /// Both returns must exceed this in the same direction for alignment,
    /// bps. Default 0.5.
    pub momentum_min_bps: f64,
    /// Bar length of the average true range. Default 10000.
    pub atr_bar_ms: u32,
    /// Bars averaged by the ATR (Wilder's N), 1..=1000. Default 14.
    pub atr_period: u32,
    /// Range window for breakouts, a multiple of `sample_ms`. Default 120000.
    pub range_window_ms: u32,
    /// Most recent span left out of the range, a multiple of `sample_ms`
    /// (0 keeps it in). Default 10000.
    pub range_exclude_ms: u32,
    /// A break must clear the range by this much, bps. Default 1.0.
    pub breakout_min_bps: f64,
    /// A break lasts this long (then a new one must form). Default 30000.
    pub breakout_valid_ms: u32,
    /// Retrace from the break's extreme that counts as the micro-pullback,
    /// bps. Default 0.5.
    pub pullback_min_bps: f64,
    /// Swing window (structure stops), a multiple of `sample_ms`. Default 30000.
    pub swing_window_ms: u32,
    /// Open interest is sampled on this grid. Default 1000.
    pub oi_sample_ms: u32,
    /// Open-interest change window, a multiple of `oi_sample_ms`. Default
    /// 900000 (15 minutes, the plans' window).
    pub oi_window_ms: u32,
}

impl Default for SignalConfig {
    fn default() -> Self {
        // The raw defaults always validate (tested); the fallback arm is
        // unreachable in practice and keeps this free of panics.
        SignalConfig::try_from(RawSignalConfig::default()).unwrap_or_else(|_| SignalConfig::unvalidated_defaults())
    }
}

/// The `[signals]` table exactly as written. Every key optional.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawSignalConfig {
    depth_levels: u32,
    window_buckets: u32,
    ofi_window_ms: u32,
    trade_window_ms: u32,
    surge_windows: u32,
    vwap_window_ms: u32,
    profile_slices: u32,
    profile_bin_ticks: u32,
    profile_bins: u32,
    value_area_fraction: f64,
    volatility_half_life_ms: u32,
    velocity_tau_ms: u32,
    acceleration_tau_ms: u32,
    sample_ms: u32,
    ou_window_ms: u32,
    ou_min_zscore: f64,
    funding_horizon_ms: u32,
    funding_min_weight: f64,
    funding_rate_scale: f64,
    liquidation_window_ms: u32,
    cascade_notional: f64,
    cascade_min_events: u32,
    cascade_side_share: f64,
    cascade_exit_fraction: f64,
    regime_window_ms: u32,
    regime_coarse_samples: u32,
    regime_vol_window_ms: u32,
    trend_enter_vr: f64,
    range_enter_vr: f64,
    high_vol_enter_pct: f64,
    high_vol_exit_pct: f64,
    regime_min_dwell_ms: u32,
    momentum_short_ms: u32,
    momentum_long_ms: u32,
    momentum_min_bps: f64,
    atr_bar_ms: u32,
    atr_period: u32,
    range_window_ms: u32,
    range_exclude_ms: u32,
    breakout_min_bps: f64,
    breakout_valid_ms: u32,
    pullback_min_bps: f64,
    swing_window_ms: u32,
    oi_sample_ms: u32,
    oi_window_ms: u32,
}

impl Default for RawSignalConfig {
    fn default() -> Self {
        Self {
            depth_levels: 5,
            window_buckets: 100,
            ofi_window_ms: 1000,
            trade_window_ms: 1000,
            surge_windows: 20,
            vwap_window_ms: 60_000,
            profile_slices: 12,
            profile_bin_ticks: 10,
            profile_bins: 512,
            value_area_fraction: 0.70,
            volatility_half_life_ms: 30_000,
            velocity_tau_ms: 1000,
            acceleration_tau_ms: 2000,
            sample_ms: 500,
            ou_window_ms: 60_000,
            ou_min_zscore: 0.5,
            funding_horizon_ms: 3_600_000,
            funding_min_weight: 0.25,
            funding_rate_scale: 0.0005,
            liquidation_window_ms: 10_000,
            cascade_notional: 250_000.0,
            cascade_min_events: 3,
            cascade_side_share: 0.7,
            cascade_exit_fraction: 0.5,
            regime_window_ms: 120_000,
            regime_coarse_samples: 6,
            regime_vol_window_ms: 120_000,
            trend_enter_vr: 1.25,
            range_enter_vr: 0.8,
            high_vol_enter_pct: 0.9,
            high_vol_exit_pct: 0.7,
            regime_min_dwell_ms: 10_000,
            momentum_short_ms: 30_000,
            momentum_long_ms: 120_000,
            momentum_min_bps: 0.5,
            atr_bar_ms: 10_000,
            atr_period: 14,
            range_window_ms: 120_000,
            range_exclude_ms: 10_000,
            breakout_min_bps: 1.0,
            breakout_valid_ms: 30_000,
            pullback_min_bps: 0.5,
            swing_window_ms: 30_000,
            oi_sample_ms: 1000,
            oi_window_ms: 900_000,
        }
    }
}

fn err(key: &str, problem: impl Into<String>) -> LoadError {
    LoadError::new(format!("signals.{key}"), problem)
}

fn in_range(key: &str, value: u32, lo: u32, hi: u32) -> Result<u32, LoadError> {
    if value < lo || value > hi {
        return Err(err(key, format!("{value} is outside {lo}..={hi}")));
    }
    Ok(value)
}

/// A window that is a positive multiple of `unit` (`unit_key` names it).
fn multiple_of(key: &str, value: u32, unit: u32, unit_key: &str) -> Result<u32, LoadError> {
    if value == 0 || value % unit != 0 {
        return Err(err(key, format!("{value} must be a positive multiple of {unit_key} ({unit})")));
    }
    Ok(value)
}

fn fraction(key: &str, value: f64, lo_open: bool, lo: f64, hi: f64, hi_open: bool) -> Result<f64, LoadError> {
    let above = if lo_open { value > lo } else { value >= lo };
    let below = if hi_open { value < hi } else { value <= hi };
    if !value.is_finite() || !above || !below {
        let (l, h) = (if lo_open { "(" } else { "[" }, if hi_open { ")" } else { "]" });
        return Err(err(key, format!("{value} is outside {l}{lo}, {hi}{h}")));
    }
    Ok(value)
}

fn positive(key: &str, value: f64) -> Result<f64, LoadError> {
    if !value.is_finite() || value <= 0.0 {
        return Err(err(key, format!("{value} must be a positive finite number")));
    }
    Ok(value)
}

fn non_negative(key: &str, value: f64) -> Result<f64, LoadError> {
    if !value.is_finite() || value < 0.0 {
        return Err(err(key, format!("{value} must be a finite number ≥ 0")));
    }
    Ok(value)
}

/// Longest window accepted: one day keeps every bucket index and grid
/// count far inside `i64` and every ring small.
const MAX_WINDOW_MS: u32 = 86_400_000;

impl TryFrom<RawSignalConfig> for SignalConfig {
    type Error = LoadError;

    fn try_from(raw: RawSignalConfig) -> Result<Self, LoadError> {
        let buckets = in_range("window_buckets", raw.window_buckets, 1, 10_000)?;
        let window = |key: &str, value: u32| -> Result<u32, LoadError> {
            in_range(key, value, 1, MAX_WINDOW_MS)?;
            multiple_of(key, value, buckets, "window_buckets")
        };
        let sample_ms = in_range("sample_ms", raw.sample_ms, 1, 3_600_000)?;
        let grid = |key: &str, value: u32, min_samples: u32| -> Result<u32, LoadError> {
            in_range(key, value, 1, MAX_WINDOW_MS)?;
            multiple_of(key, value, sample_ms, "sample_ms")?;
            if value / sample_ms < min_samples {
                return Err(err(key, format!("must span at least {min_samples} samples of sample_ms ({sample_ms})")));
            }
            if value / sample_ms > 1_000_000 {
                return Err(err(key, "more than 1000000 samples of sample_ms"));
            }
            Ok(value)
        };
        let vwap_window_ms = window("vwap_window_ms", raw.vwap_window_ms)?;
        let profile_slices = in_range("profile_slices", raw.profile_slices, 1, 1000)?;
        multiple_of("vwap_window_ms", vwap_window_ms, profile_slices, "profile_slices")?;
        let profile_bins = in_range("profile_bins", raw.profile_bins, 16, 65_536)?;
        if !profile_bins.is_power_of_two() {
            return Err(err("profile_bins", format!("{profile_bins} must be a power of two")));
        }
        let regime_window_ms = grid("regime_window_ms", raw.regime_window_ms, 8)?;
        let q = in_range("regime_coarse_samples", raw.regime_coarse_samples, 2, 10_000)?;
        if regime_window_ms % (q * sample_ms) != 0 || regime_window_ms / (q * sample_ms) < 8 {
            return Err(err(
                "regime_window_ms",
                format!(
                    "must be a multiple of regime_coarse_samples × sample_ms ({}) holding at least 8 of them",
                    q * sample_ms
                ),
            ));
        }
        let momentum_short_ms = grid("momentum_short_ms", raw.momentum_short_ms, 1)?;
        let momentum_long_ms = grid("momentum_long_ms", raw.momentum_long_ms, 1)?;
        if momentum_long_ms <= momentum_short_ms {
            return Err(err("momentum_long_ms", "must be longer than momentum_short_ms"));
        }
        let trend_enter_vr = positive("trend_enter_vr", raw.trend_enter_vr)?;
        let range_enter_vr = positive("range_enter_vr", raw.range_enter_vr)?;
        if trend_enter_vr <= 1.0 {
            return Err(err("trend_enter_vr", "must be above 1 (a random walk has variance ratio 1)"));
        }
        if range_enter_vr >= 1.0 {
            return Err(err("range_enter_vr", "must be below 1 (a random walk has variance ratio 1)"));
        }
        let range_exclude_ms = in_range("range_exclude_ms", raw.range_exclude_ms, 0, MAX_WINDOW_MS)?;
        if range_exclude_ms % sample_ms != 0 {
            return Err(err("range_exclude_ms", format!("must be a multiple of sample_ms ({sample_ms})")));
        }
        let oi_sample_ms = in_range("oi_sample_ms", raw.oi_sample_ms, 1, 3_600_000)?;
        let oi_window_ms = in_range("oi_window_ms", raw.oi_window_ms, 1, MAX_WINDOW_MS)?;
        multiple_of("oi_window_ms", oi_window_ms, oi_sample_ms, "oi_sample_ms")?;
        if oi_window_ms / oi_sample_ms > 1_000_000 {
            return Err(err("oi_window_ms", "more than 1000000 samples of oi_sample_ms"));
        }
        let high_vol_enter_pct = fraction("high_vol_enter_pct", raw.high_vol_enter_pct, true, 0.0, 1.0, false)?;
        let high_vol_exit_pct = fraction("high_vol_exit_pct", raw.high_vol_exit_pct, false, 0.0, 1.0, false)?;
        if high_vol_exit_pct >= high_vol_enter_pct {
            return Err(err("high_vol_exit_pct", "must be below high_vol_enter_pct (hysteresis)"));
        }
        Ok(Self {
            depth_levels: in_range("depth_levels", raw.depth_levels, 1, MAX_DEPTH_LEVELS as u32)? as usize,
            window_buckets: buckets,
            ofi_window_ms: window("ofi_window_ms", raw.ofi_window_ms)?,
            trade_window_ms: window("trade_window_ms", raw.trade_window_ms)?,
            surge_windows: in_range("surge_windows", raw.surge_windows, 1, 10_000)?,
            vwap_window_ms,
            profile_slices,
            profile_bin_ticks: in_range("profile_bin_ticks", raw.profile_bin_ticks, 1, 1_000_000)?,
            profile_bins,
            value_area_fraction: fraction("value_area_fraction", raw.value_area_fraction, true, 0.0, 1.0, true)?,
            volatility_half_life_ms: in_range(
                "volatility_half_life_ms",
                raw.volatility_half_life_ms,
                1,
                MAX_WINDOW_MS,
            )?,
            velocity_tau_ms: in_range("velocity_tau_ms", raw.velocity_tau_ms, 1, MAX_WINDOW_MS)?,
            acceleration_tau_ms: in_range("acceleration_tau_ms", raw.acceleration_tau_ms, 1, MAX_WINDOW_MS)?,
            sample_ms,
            ou_window_ms: grid("ou_window_ms", raw.ou_window_ms, 8)?,
            ou_min_zscore: non_negative("ou_min_zscore", raw.ou_min_zscore)?,
            funding_horizon_ms: in_range("funding_horizon_ms", raw.funding_horizon_ms, 1, MAX_WINDOW_MS)?,
            funding_min_weight: fraction("funding_min_weight", raw.funding_min_weight, false, 0.0, 1.0, false)?,
            funding_rate_scale: positive("funding_rate_scale", raw.funding_rate_scale)?,
            liquidation_window_ms: window("liquidation_window_ms", raw.liquidation_window_ms)?,
            cascade_notional: positive("cascade_notional", raw.cascade_notional)?,
            cascade_min_events: in_range("cascade_min_events", raw.cascade_min_events, 1, 1_000_000)?,
            cascade_side_share: fraction("cascade_side_share", raw.cascade_side_share, true, 0.5, 1.0, false)?,
            cascade_exit_fraction: fraction("cascade_exit_fraction", raw.cascade_exit_fraction, true, 0.0, 1.0, false)?,
            regime_window_ms,
            regime_coarse_samples: q,
            regime_vol_window_ms: grid("regime_vol_window_ms", raw.regime_vol_window_ms, 8)?,
            trend_enter_vr,
            range_enter_vr,
            high_vol_enter_pct,
            high_vol_exit_pct,
            regime_min_dwell_ms: in_range("regime_min_dwell_ms", raw.regime_min_dwell_ms, 0, MAX_WINDOW_MS)?,
            momentum_short_ms,
            momentum_long_ms,
            momentum_min_bps: non_negative("momentum_min_bps", raw.momentum_min_bps)?,
            atr_bar_ms: in_range("atr_bar_ms", raw.atr_bar_ms, 1, MAX_WINDOW_MS)?,
            atr_period: in_range("atr_period", raw.atr_period, 1, 1000)?,
            range_window_ms: grid("range_window_ms", raw.range_window_ms, 2)?,
            range_exclude_ms,
            breakout_min_bps: non_negative("breakout_min_bps", raw.breakout_min_bps)?,
            breakout_valid_ms: in_range("breakout_valid_ms", raw.breakout_valid_ms, 1, MAX_WINDOW_MS)?,
            pullback_min_bps: positive("pullback_min_bps", raw.pullback_min_bps)?,
            swing_window_ms: grid("swing_window_ms", raw.swing_window_ms, 1)?,
            oi_sample_ms,
            oi_window_ms,
        })
    }
}

impl SignalConfig {
    /// The defaults written out, for the unreachable case that they fail
    /// validation (a unit test proves they do not).
    fn unvalidated_defaults() -> Self {
        let r = RawSignalConfig::default();
        Self {
            depth_levels: r.depth_levels as usize,
            window_buckets: r.window_buckets,
            ofi_window_ms: r.ofi_window_ms,
            trade_window_ms: r.trade_window_ms,
            surge_windows: r.surge_windows,
            vwap_window_ms: r.vwap_window_ms,
            profile_slices: r.profile_slices,
            profile_bin_ticks: r.profile_bin_ticks,
            profile_bins: r.profile_bins,
            value_area_fraction: r.value_area_fraction,
            volatility_half_life_ms: r.volatility_half_life_ms,
            velocity_tau_ms: r.velocity_tau_ms,
            acceleration_tau_ms: r.acceleration_tau_ms,
            sample_ms: r.sample_ms,
            ou_window_ms: r.ou_window_ms,
            ou_min_zscore: r.ou_min_zscore,
            funding_horizon_ms: r.funding_horizon_ms,
            funding_min_weight: r.funding_min_weight,
            funding_rate_scale: r.funding_rate_scale,
            liquidation_window_ms: r.liquidation_window_ms,
            cascade_notional: r.cascade_notional,
            cascade_min_events: r.cascade_min_events,
            cascade_side_share: r.cascade_side_share,
            cascade_exit_fraction: r.cascade_exit_fraction,
            regime_window_ms: r.regime_window_ms,
            regime_coarse_samples: r.regime_coarse_samples,
            regime_vol_window_ms: r.regime_vol_window_ms,
            trend_enter_vr: r.trend_enter_vr,
            range_enter_vr: r.range_enter_vr,
            high_vol_enter_pct: r.high_vol_enter_pct,
            high_vol_exit_pct: r.high_vol_exit_pct,
            regime_min_dwell_ms: r.regime_min_dwell_ms,
            momentum_short_ms: r.momentum_short_ms,
            momentum_long_ms: r.momentum_long_ms,
            momentum_min_bps: r.momentum_min_bps,
            atr_bar_ms: r.atr_bar_ms,
            atr_period: r.atr_period,
            range_window_ms: r.range_window_ms,
            range_exclude_ms: r.range_exclude_ms,
            breakout_min_bps: r.breakout_min_bps,
            breakout_valid_ms: r.breakout_valid_ms,
            pullback_min_bps: r.pullback_min_bps,
            swing_window_ms: r.swing_window_ms,
            oi_sample_ms: r.oi_sample_ms,
            oi_window_ms: r.oi_window_ms,
        }
    }

    /// The configuration from the *body* of a `[signals]` table (a
    /// `toml::Value::Table`, as a profile loader holds it after parsing).
    ///
    /// # Errors
    /// A [`LoadError`] naming the key: `signals.<key>` for a bad value,
    /// `signals` with serde's message (which names the key) for an unknown
    /// key or a wrong type.
    pub fn from_table(table: &toml::Value) -> Result<Self, LoadError> {
        let raw = RawSignalConfig::deserialize_table(table)?;
        SignalConfig::try_from(raw)
    }

    /// The configuration from TOML text whose top level is the body of the
    /// `[signals]` table.
    ///
    /// # Errors
    /// As [`SignalConfig::from_table`].
    pub fn from_toml_str(text: &str) -> Result<Self, LoadError> {
        let raw: RawSignalConfig = toml::from_str(text).map_err(|e| LoadError::toml("signals", text, &e))?;
        SignalConfig::try_from(raw)
    }

    /// The `[signals]` table of a whole profile file's text (defaults when
    /// the file has no such table). Other tables are ignored.
    ///
    /// # Errors
    /// A TOML syntax error (key `profile`) or as [`SignalConfig::from_table`].
    pub fn from_profile_str(text: &str) -> Result<Self, LoadError> {
        let doc: toml::Table = toml::from_str(text).map_err(|e| LoadError::toml("profile", text, &e))?;
        match doc.get("signals") {
            Some(table) => Self::from_table(table),
            None => Ok(Self::default()),
        }
    }
}

impl RawSignalConfig {
    fn deserialize_table(table: &toml::Value) -> Result<Self, LoadError> {
        if !table.is_table() {
            return Err(LoadError::new("signals", "must be a table"));
        }
        serde::Deserialize::deserialize(table.clone())
            .map_err(|e: toml::de::Error| LoadError::new("signals", e.message().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let raw = RawSignalConfig::default();
        let cfg = SignalConfig::try_from(raw).expect("defaults validate");
        assert_eq!(cfg, SignalConfig::default());
        assert_eq!(cfg, SignalConfig::unvalidated_defaults());
    }

    #[test]
    fn example_file_states_the_defaults() {
        let text = include_str!("../../tuning/signals.example.toml");
        let cfg = SignalConfig::from_profile_str(text).expect("example parses");
        assert_eq!(cfg, SignalConfig::default());
        // Every key is written out in the example with its default value,
        // so none can be forgotten or drift.
        let doc: toml::Table = toml::from_str(text).unwrap();
        let written = doc["signals"].as_table().unwrap();
        let defaults = toml::Table::try_from(RawSignalConfig::default()).unwrap();
        assert_eq!(written, &defaults, "tuning/signals.example.toml lists every key at its default");
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("ofi_window_ms = 0", "signals.ofi_window_ms"),
            ("ofi_window_ms = 1050", "signals.ofi_window_ms"),
            ("depth_levels = 11", "signals.depth_levels"),
            ("profile_bins = 500", "signals.profile_bins"),
            ("value_area_fraction = 1.0", "signals.value_area_fraction"),
            ("ou_window_ms = 2000", "signals.ou_window_ms"),
            ("momentum_long_ms = 30000", "signals.momentum_long_ms"),
            ("high_vol_exit_pct = 0.95", "signals.high_vol_exit_pct"),
            ("trend_enter_vr = 0.9", "signals.trend_enter_vr"),
            ("cascade_side_share = 0.5", "signals.cascade_side_share"),
            ("funding_rate_scale = -1.0", "signals.funding_rate_scale"),
            ("regime_window_ms = 6000", "signals.regime_window_ms"),
            ("vwap_window_ms = 60100", "signals.vwap_window_ms"),
            ("atr_period = 0", "signals.atr_period"),
            ("range_window_ms = 120100", "signals.range_window_ms"),
            ("range_exclude_ms = 250", "signals.range_exclude_ms"),
            ("pullback_min_bps = 0", "signals.pullback_min_bps"),
            ("oi_window_ms = 1500", "signals.oi_window_ms"),
        ];
        for (text, key) in cases {
            let e = SignalConfig::from_toml_str(text).expect_err(text);
            assert_eq!(e.key, key, "{text}: {e}");
        }
        let e = SignalConfig::from_toml_str("ofi_windw_ms = 5").unwrap_err();
        assert_eq!(e.key, "signals");
        assert!(e.problem.contains("ofi_windw_ms"), "{e}");
        let e = SignalConfig::from_toml_str("ofi_window_ms = \"1000\"").unwrap_err();
        assert!(e.problem.contains("string"), "{e}");
    }

    #[test]
    fn embeds_in_a_profile_and_validates_on_deserialize() {
        #[derive(serde::Deserialize)]
        struct Profile {
            signals: SignalConfig,
        }
        let ok: Profile = toml::from_str("[signals]\nofi_window_ms = 2000\n").unwrap();
        assert_eq!(ok.signals.ofi_window_ms, 2000);
        assert_eq!(ok.signals.trade_window_ms, 1000);
        let bad = toml::from_str::<Profile>("[signals]\nofi_window_ms = 2001\n").err().unwrap();
        assert!(bad.to_string().contains("signals.ofi_window_ms"), "{bad}");
        let table: toml::Table = toml::from_str("[signals]\nsample_ms = 250\n").unwrap();
        assert_eq!(SignalConfig::from_table(&table["signals"]).unwrap().sample_ms, 250);
        assert_eq!(SignalConfig::from_table(&toml::Value::Integer(3)).unwrap_err().key, "signals");
    }
}
