//! Strategy configuration: the `[strategy]`, `[votes]`, `[gates]`,
//! `[confidence]`, `[context]`, `[sizing]` and `[exits]` tables of a
//! profile under `tuning/`, typed and validated at load.
//!
//! Conventions (as in `tuning/risk.toml`): every key has a default, an
//! unknown key is an error, and a bad value is a [`LoadError`] naming the
//! key (`gates.spread.max_ticks`). Distances that become order prices (take
//! profit, stop loss, trailing) and equity fractions that become order
//! sizes are decimal strings, parsed exactly (`take_profit_bps = "12.5"`);
//! thresholds that only enter scoring are TOML numbers (`f64`).
//!
//! The defaults in this file are the issue's: top-of-book imbalance 30 %,
//! volume surge ≥ 1, A-trades need 3 of 5 votes including OFI and OU drift,
//! confidence bands 70 / 80 / 90, breakeven at 50 % of the TP distance.

use std::path::PathBuf;

use serde::Deserialize;

use crate::fixed::{E8, Rate, parse_decimal};
use crate::instrument::LoadError;

/// Which snapshot field feeds the order-flow vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowInput {
    /// `ofi` (Cont–Kukanov–Stoikov, best level), threshold `ofi_threshold`.
    Ofi,
    /// `ofi_multi` (top K levels), threshold `ofi_multi_threshold`.
    OfiMulti,
    /// `signed_volume × mid` in USDT, threshold `signed_volume_usdt_threshold`.
    SignedVolume,
    /// `tob_imbalance`, threshold `tob_imbalance_threshold`.
    TobImbalance,
}

impl FlowInput {
    /// Name as written in the configuration.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            FlowInput::Ofi => "ofi",
            FlowInput::OfiMulti => "ofi-multi",
            FlowInput::SignedVolume => "signed-volume",
            FlowInput::TobImbalance => "tob-imbalance",
        }
    }
}

/// Which snapshot field feeds the drift vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftInput {
    /// `ou_drift` when `|ou_zscore| ≥ ou_zscore_threshold`.
    OuDrift,
    /// `microprice − mid` in bps (Stoikov's microprice is the expected
    /// short-horizon mid), threshold `microprice_threshold_bps`.
    Microprice,
}

impl DriftInput {
    /// Name as written in the configuration.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            DriftInput::OuDrift => "ou-drift",
            DriftInput::Microprice => "microprice",
        }
    }
}

/// How the VWAP deviation votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VwapMode {
    /// Mid below VWAP votes long (reversion to VWAP).
    Revert,
    /// Mid above VWAP votes long (trend away from VWAP).
    Trend,
}

/// Vote inputs and thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VoteConfig {
    /// Order-flow vote input.
    pub order_flow_input: FlowInput,
    /// Used when the source does not provide `order_flow_input`.
    pub order_flow_fallback: Option<FlowInput>,
    /// `|ofi|` at which the vote is cast.
    pub ofi_threshold: f64,
    /// `|ofi_multi|` at which the vote is cast.
    pub ofi_multi_threshold: f64,
    /// `|signed_volume × mid|`, USDT, at which the vote is cast.
    pub signed_volume_usdt_threshold: f64,
    /// `|tob_imbalance|` at which the vote is cast.
    pub tob_imbalance_threshold: f64,
    /// VWAP vote direction.
    pub vwap_mode: VwapMode,
    /// `|vwap_dev_sigma|` at which the vote is cast.
    pub vwap_sigma_threshold: f64,
    /// `|acceleration_bps_s2|` at which the vote is cast.
    pub acceleration_threshold_bps_s2: f64,
    /// `|funding_bias|` at which the vote is cast.
    pub funding_bias_threshold: f64,
    /// Drift vote input.
    pub drift_input: DriftInput,
    /// Used when the source does not provide `drift_input`.
    pub drift_fallback: Option<DriftInput>,
    /// `|ou_zscore|` at which the OU drift votes.
    pub ou_zscore_threshold: f64,
    /// `|microprice − mid|` in bps at which the microprice drift votes.
    pub microprice_threshold_bps: f64,
}

/// Entry, tier and position-count rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryConfig {
    /// B-trades (scouts) allowed.
    pub b_trades: bool,
    /// Votes that must agree for an A-trade (OFI and drift among them).
    pub a_min_agreeing: u8,
    /// Enter with post-only limit orders (maker) instead of market orders.
    pub post_only: bool,
    /// Post-only price: this many ticks inside the own side's best price
    /// (0 joins the best bid/ask), never crossing the spread.
    pub offset_ticks: u32,
    /// Cancel an entry not filled within this time, ms.
    pub timeout_ms: i64,
    /// After an entry ends unfilled (timeout, post-only reject), wait this long, ms.
    pub retry_ms: i64,
    /// After a position closes, wait this long before the next entry on the symbol, ms.
    pub cooldown_ms: i64,
    /// Most symbols with a position or an entry order at once.
    pub max_concurrent_positions: u16,
    /// No entry before this long after the first snapshot of a symbol, ms.
    pub warmup_ms: i64,
    /// After the risk gate refuses an order, wait this long before the next one on the symbol, ms.
    pub refusal_backoff_ms: i64,
}

/// One entry gate's switch and threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateThreshold {
    /// Evaluated at all.
    pub enabled: bool,
    /// Its threshold (meaning per gate).
    pub value: f64,
}

/// The entry gates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateConfig {
    /// Top-of-book imbalance in the trade's direction at least `value` (0.30).
    pub imbalance: GateThreshold,
    /// `volume_surge` at least `value` (1.0: volume above its average).
    pub volume_surge: GateThreshold,
    /// Spread at most `value` ticks.
    pub spread: GateThreshold,
    /// No liquidation cascade against the trade.
    pub cascade: bool,
    /// Regime rules.
    pub regime: RegimeGate,
    /// Momentum over both horizons must agree with the trade.
    pub momentum_required: bool,
    /// Fee-aware edge gate.
    pub edge: EdgeGate,
}

/// Which regimes allow entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegimeGate {
    /// Evaluated at all.
    pub enabled: bool,
    /// Trade while the regime is unknown (warming up).
    pub unknown: bool,
    /// Trade in a ranging regime.
    pub ranging: bool,
    /// Trade in a trending regime; only in the direction of momentum when
    /// `trend_follow_only`.
    pub trending: bool,
    /// In a trending regime, only trade with the short-horizon momentum.
    pub trend_follow_only: bool,
    /// Trade in a high-volatility regime.
    pub high_volatility: bool,
}

/// The fee-aware edge gate: `expected_move_bps ≥ round_trip_fee_bps × fee_multiplier`
/// with `expected_move_bps = strength × volatility_bps × √horizon_secs`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdgeGate {
    /// Evaluated at all.
    pub enabled: bool,
    /// Multiple of the round-trip fee the expected move must reach.
    pub fee_multiplier: f64,
    /// Horizon of the expected move, seconds.
    pub horizon_secs: f64,
    /// Vote strengths (|value| / threshold) are capped at this.
    pub strength_cap: f64,
    /// Volatility (bps per √s) assumed when the signal source provides none.
    pub fallback_volatility_bps: f64,
}

/// One slow context component folded into the confidence score.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextComponent {
    /// Record name it reads (`"fear_greed"`).
    pub name: String,
    /// Points per unit of `value − center`.
    pub weight: f64,
    /// Neutral value.
    pub center: f64,
    /// The component's points are clamped to `[−clamp, clamp]`.
    pub clamp: f64,
    /// Points count for longs and against shorts (sentiment); otherwise
    /// they count the same for both directions.
    pub directional: bool,
    /// Records older than this are ignored, ms.
    pub max_age_ms: i64,
}

/// Slow context inputs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContextConfig {
    /// File of `{"name":…,"value":…,"ts":…}` records (JSON lines or an array).
    pub file: Option<PathBuf>,
    /// Components, in configuration order.
    pub components: Vec<ContextComponent>,
}

/// Confidence score weights and bands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConfidenceConfig {
    /// Points for full agreement of the available votes.
    pub votes_weight: f64,
    /// Points for vote strength beyond the thresholds.
    pub strength_weight: f64,
    /// Points for confirmations (imbalance margin, volume surge, momentum).
    pub confirmation_weight: f64,
    /// Fraction of a vote's weight subtracted when it opposes the trade.
    pub opposing_penalty: f64,
    /// Below this, no trade.
    pub observe_from: f64,
    /// From here, base size.
    pub base_from: f64,
    /// From here, larger size.
    pub large_from: f64,
}

/// Kelly sizing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KellyConfig {
    /// Use Kelly once enough trades closed.
    pub enabled: bool,
    /// Fraction of the Kelly bet.
    pub fraction: Rate,
    /// Largest equity fraction Kelly may set.
    pub cap: Rate,
    /// Closed trades needed before Kelly replaces the fixed fractions.
    pub min_trades: u32,
}

/// Position sizes as fractions of equity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizingConfig {
    /// A-trade notional as a fraction of equity.
    pub a_fraction: Rate,
    /// B-trade notional as a fraction of equity.
    pub b_fraction: Rate,
    /// Multiplier of the size in the top confidence band.
    pub large_multiplier: Rate,
    /// Optional Kelly sizing.
    pub kelly: KellyConfig,
}

/// Take-profit, stop-loss and time stop of one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitLevels {
    /// Take-profit distance, hundredths of a bp.
    pub take_profit_bps_e2: u32,
    /// Stop-loss distance, hundredths of a bp.
    pub stop_loss_bps_e2: u32,
    /// Longest hold, ms.
    pub max_hold_ms: i64,
}

/// Exit rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitConfig {
    /// A-trade levels.
    pub a: ExitLevels,
    /// B-trade levels (tighter).
    pub b: ExitLevels,
    /// Zone trailing: breakeven stop, and TP lock-and-extend.
    pub zone_trailing: bool,
    /// Fraction of the TP distance at which the stop moves to breakeven + fees, ‰.
    pub breakeven_at_permille: u32,
    /// Layered take-profit (25 % at 1R, 2R, 3R, the rest trailing).
    pub layered: bool,
    /// Trailing distance of the last layer, hundredths of a bp.
    pub layer_trail_bps_e2: u32,
    /// Exit when the regime turns against the position.
    pub regime_exit: bool,
}

/// The whole strategy configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyConfig {
    /// Entries and tiers.
    pub entry: EntryConfig,
    /// Votes.
    pub votes: VoteConfig,
    /// Entry gates.
    pub gates: GateConfig,
    /// Confidence.
    pub confidence: ConfidenceConfig,
    /// Slow context.
    pub context: ContextConfig,
    /// Sizing.
    pub sizing: SizingConfig,
    /// Exits.
    pub exits: ExitConfig,
}

impl Default for StrategyConfig {
    fn default() -> Self {
        // The raw defaults always validate (tested); the expect documents it.
        RawStrategyTables::default().validate().expect("built-in strategy defaults validate")
    }
}

// ---------------------------------------------------------------------------
// Raw tables as written.

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawEntry {
    b_trades: bool,
    a_min_agreeing: u8,
    post_only_entries: bool,
    entry_offset_ticks: u32,
    entry_timeout_ms: u32,
    entry_retry_ms: u32,
    cooldown_secs: u32,
    max_concurrent_positions: u16,
    warmup_secs: u32,
    refusal_backoff_ms: u32,
}

impl Default for RawEntry {
    fn default() -> Self {
        Self {
            b_trades: true,
            a_min_agreeing: 3,
            post_only_entries: true,
            entry_offset_ticks: 0,
            entry_timeout_ms: 3000,
            entry_retry_ms: 1000,
            cooldown_secs: 15,
            max_concurrent_positions: 2,
            warmup_secs: 30,
            refusal_backoff_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawVotes {
    order_flow_input: FlowInput,
    order_flow_fallback: Option<FlowInput>,
    ofi_threshold: f64,
    ofi_multi_threshold: f64,
    signed_volume_usdt_threshold: f64,
    tob_imbalance_threshold: f64,
    vwap_mode: VwapMode,
    vwap_sigma_threshold: f64,
    acceleration_threshold_bps_s2: f64,
    funding_bias_threshold: f64,
    drift_input: DriftInput,
    drift_fallback: Option<DriftInput>,
    ou_zscore_threshold: f64,
    microprice_threshold_bps: f64,
}

impl Default for RawVotes {
    fn default() -> Self {
        Self {
            order_flow_input: FlowInput::Ofi,
            order_flow_fallback: None,
            ofi_threshold: 0.5,
            ofi_multi_threshold: 0.5,
            signed_volume_usdt_threshold: 100_000.0,
            tob_imbalance_threshold: 0.5,
            vwap_mode: VwapMode::Revert,
            vwap_sigma_threshold: 1.0,
            acceleration_threshold_bps_s2: 0.5,
            funding_bias_threshold: 0.25,
            drift_input: DriftInput::OuDrift,
            drift_fallback: None,
            ou_zscore_threshold: 1.0,
            microprice_threshold_bps: 0.005,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateThreshold {
    #[serde(default = "yes")]
    enabled: bool,
    min: Option<f64>,
    max: Option<f64>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRegimeGate {
    enabled: bool,
    unknown: bool,
    ranging: bool,
    trending: bool,
    trend_follow_only: bool,
    high_volatility: bool,
}

impl Default for RawRegimeGate {
    fn default() -> Self {
        Self {
            enabled: true,
            unknown: false,
            ranging: true,
            trending: true,
            trend_follow_only: true,
            high_volatility: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawEdgeGate {
    enabled: bool,
    fee_multiplier: f64,
    horizon_secs: f64,
    strength_cap: f64,
    fallback_volatility_bps: f64,
}

impl Default for RawEdgeGate {
    fn default() -> Self {
        Self { enabled: true, fee_multiplier: 1.5, horizon_secs: 60.0, strength_cap: 3.0, fallback_volatility_bps: 1.0 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSwitch {
    enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawGates {
    imbalance: RawGateThreshold,
    volume_surge: RawGateThreshold,
    spread: RawGateThreshold,
    cascade: RawSwitch,
    regime: RawRegimeGate,
    momentum: RawSwitch,
    edge: RawEdgeGate,
}

impl Default for RawGates {
    fn default() -> Self {
        Self {
            imbalance: RawGateThreshold { enabled: true, min: Some(0.30), max: None },
            volume_surge: RawGateThreshold { enabled: true, min: Some(1.0), max: None },
            spread: RawGateThreshold { enabled: true, min: None, max: Some(2.0) },
            cascade: RawSwitch { enabled: true },
            regime: RawRegimeGate::default(),
            momentum: RawSwitch { enabled: false },
            edge: RawEdgeGate::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawConfidence {
    votes_weight: f64,
    strength_weight: f64,
    confirmation_weight: f64,
    opposing_penalty: f64,
    observe_from: f64,
    base_from: f64,
    large_from: f64,
}

impl Default for RawConfidence {
    fn default() -> Self {
        Self {
            votes_weight: 60.0,
            strength_weight: 25.0,
            confirmation_weight: 15.0,
            opposing_penalty: 1.0,
            observe_from: 70.0,
            base_from: 80.0,
            large_from: 90.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContextComponent {
    name: String,
    weight: f64,
    #[serde(default)]
    center: f64,
    clamp: f64,
    #[serde(default)]
    directional: bool,
    #[serde(default = "day_secs")]
    max_age_secs: u32,
}

fn day_secs() -> u32 {
    86_400
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawContext {
    file: Option<String>,
    component: Vec<RawContextComponent>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawKelly {
    enabled: bool,
    fraction: String,
    cap: String,
    min_trades: u32,
}

impl Default for RawKelly {
    fn default() -> Self {
        Self { enabled: false, fraction: "0.25".into(), cap: "0.10".into(), min_trades: 20 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawSizing {
    a_equity_fraction: String,
    b_equity_fraction: String,
    large_multiplier: String,
    kelly: RawKelly,
}

impl Default for RawSizing {
    fn default() -> Self {
        Self {
            a_equity_fraction: "0.05".into(),
            b_equity_fraction: "0.02".into(),
            large_multiplier: "1.5".into(),
            kelly: RawKelly::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExitLevels {
    take_profit_bps: String,
    stop_loss_bps: String,
    max_hold_secs: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawExits {
    a: RawExitLevels,
    b: RawExitLevels,
    zone_trailing: bool,
    breakeven_at_tp_fraction: String,
    layered: bool,
    layer_trail_bps: String,
    regime_exit: bool,
}

impl Default for RawExits {
    fn default() -> Self {
        Self {
            a: RawExitLevels { take_profit_bps: "15".into(), stop_loss_bps: "10".into(), max_hold_secs: 180 },
            b: RawExitLevels { take_profit_bps: "10".into(), stop_loss_bps: "6".into(), max_hold_secs: 90 },
            zone_trailing: true,
            breakeven_at_tp_fraction: "0.5".into(),
            layered: false,
            layer_trail_bps: "5".into(),
            regime_exit: true,
        }
    }
}

/// The raw strategy tables of a profile.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawStrategyTables {
    pub(crate) entry: RawEntry,
    pub(crate) votes: RawVotes,
    pub(crate) gates: RawGates,
    pub(crate) confidence: RawConfidence,
    pub(crate) context: RawContext,
    pub(crate) sizing: RawSizing,
    pub(crate) exits: RawExits,
}

// ---------------------------------------------------------------------------
// Validation helpers: every error names its key.

fn number(key: &str, value: f64, min: f64, max: f64) -> Result<f64, LoadError> {
    if !value.is_finite() || value < min || value > max {
        return Err(LoadError::new(key, format!("{value} must be a finite number between {min} and {max}")));
    }
    Ok(value)
}

/// Basis points as exact decimal text with at most two decimals, in
/// hundredths of a bp, positive and at most 10 000 bps.
pub(crate) fn bps_e2(key: &str, text: &str) -> Result<u32, LoadError> {
    let v = parse_decimal(text.as_bytes(), 2, false)
        .map_err(|e| LoadError::new(key, format!("{e} in {text:?} (basis points, at most 2 decimals)")))?;
    if v <= 0 || v > 1_000_000 {
        return Err(LoadError::new(key, "must be more than 0 and at most 10000 bps"));
    }
    Ok(v as u32)
}

/// A non-negative decimal fraction at 8 decimals, at most `max_units`.
pub(crate) fn fraction(key: &str, text: &str, max_units: i64) -> Result<Rate, LoadError> {
    let v = parse_decimal(text.as_bytes(), E8, false)
        .map_err(|e| LoadError::new(key, format!("{e} in {text:?} (decimal fraction, at most 8 decimals)")))?;
    if v <= 0 || v > max_units * 100_000_000 {
        return Err(LoadError::new(key, format!("must be more than 0 and at most {max_units}")));
    }
    Ok(Rate(v))
}

fn secs_ms(key: &str, secs: u32, allow_zero: bool) -> Result<i64, LoadError> {
    if secs == 0 && !allow_zero {
        return Err(LoadError::new(key, "must be at least 1 second"));
    }
    Ok(i64::from(secs) * 1000)
}

fn gate_threshold(key: &str, raw: &RawGateThreshold, bound: &str, max: f64) -> Result<GateThreshold, LoadError> {
    let (value, other) = if bound == "min" { (raw.min, raw.max) } else { (raw.max, raw.min) };
    if other.is_some() {
        let wrong = if bound == "min" { "max" } else { "min" };
        return Err(LoadError::new(format!("{key}.{wrong}"), format!("this gate takes `{bound}`, not `{wrong}`")));
    }
    let value = value.ok_or_else(|| LoadError::new(format!("{key}.{bound}"), "missing"))?;
    Ok(GateThreshold { enabled: raw.enabled, value: number(&format!("{key}.{bound}"), value, 0.0, max)? })
}

impl RawStrategyTables {
    /// The strategy tables of a profile's root table (absent ones default).
    pub(crate) fn from_root(root: &toml::Table) -> Result<Self, LoadError> {
        Ok(Self {
            entry: table(root, "strategy")?,
            votes: table(root, "votes")?,
            gates: table(root, "gates")?,
            confidence: table(root, "confidence")?,
            context: table(root, "context")?,
            sizing: table(root, "sizing")?,
            exits: table(root, "exits")?,
        })
    }

    pub(crate) fn validate(self) -> Result<StrategyConfig, LoadError> {
        let e = &self.entry;
        if e.a_min_agreeing < 3 || e.a_min_agreeing > 5 {
            return Err(LoadError::new("strategy.a_min_agreeing", "must be 3, 4 or 5"));
        }
        if e.max_concurrent_positions == 0 {
            return Err(LoadError::new("strategy.max_concurrent_positions", "must be at least 1"));
        }
        if e.entry_timeout_ms == 0 {
            return Err(LoadError::new("strategy.entry_timeout_ms", "must be at least 1"));
        }
        let entry = EntryConfig {
            b_trades: e.b_trades,
            a_min_agreeing: e.a_min_agreeing,
            post_only: e.post_only_entries,
            offset_ticks: e.entry_offset_ticks,
            timeout_ms: i64::from(e.entry_timeout_ms),
            retry_ms: i64::from(e.entry_retry_ms),
            cooldown_ms: secs_ms("strategy.cooldown_secs", e.cooldown_secs, true)?,
            max_concurrent_positions: e.max_concurrent_positions,
            warmup_ms: secs_ms("strategy.warmup_secs", e.warmup_secs, true)?,
            refusal_backoff_ms: i64::from(e.refusal_backoff_ms),
        };

        let v = &self.votes;
        let pos = |key: &str, x: f64| number(&format!("votes.{key}"), x, f64::MIN_POSITIVE, f64::MAX);
        let votes = VoteConfig {
            order_flow_input: v.order_flow_input,
            order_flow_fallback: v.order_flow_fallback,
            ofi_threshold: pos("ofi_threshold", v.ofi_threshold)?,
            ofi_multi_threshold: pos("ofi_multi_threshold", v.ofi_multi_threshold)?,
            signed_volume_usdt_threshold: pos("signed_volume_usdt_threshold", v.signed_volume_usdt_threshold)?,
            tob_imbalance_threshold: number(
                "votes.tob_imbalance_threshold",
                v.tob_imbalance_threshold,
                f64::MIN_POSITIVE,
                1.0,
            )?,
            vwap_mode: v.vwap_mode,
            vwap_sigma_threshold: pos("vwap_sigma_threshold", v.vwap_sigma_threshold)?,
            acceleration_threshold_bps_s2: pos("acceleration_threshold_bps_s2", v.acceleration_threshold_bps_s2)?,
            funding_bias_threshold: number(
                "votes.funding_bias_threshold",
                v.funding_bias_threshold,
                f64::MIN_POSITIVE,
                1.0,
            )?,
            drift_input: v.drift_input,
            drift_fallback: v.drift_fallback,
            ou_zscore_threshold: pos("ou_zscore_threshold", v.ou_zscore_threshold)?,
            microprice_threshold_bps: pos("microprice_threshold_bps", v.microprice_threshold_bps)?,
        };

        let g = &self.gates;
        let edge = &g.edge;
        let gates = GateConfig {
            imbalance: gate_threshold("gates.imbalance", &g.imbalance, "min", 1.0)?,
            volume_surge: gate_threshold("gates.volume_surge", &g.volume_surge, "min", 1e9)?,
            spread: gate_threshold("gates.spread", &g.spread, "max", 1e9)?,
            cascade: g.cascade.enabled,
            regime: RegimeGate {
                enabled: g.regime.enabled,
                unknown: g.regime.unknown,
                ranging: g.regime.ranging,
                trending: g.regime.trending,
                trend_follow_only: g.regime.trend_follow_only,
                high_volatility: g.regime.high_volatility,
            },
            momentum_required: g.momentum.enabled,
            edge: EdgeGate {
                enabled: edge.enabled,
                fee_multiplier: number("gates.edge.fee_multiplier", edge.fee_multiplier, 0.0, 1e6)?,
                horizon_secs: number("gates.edge.horizon_secs", edge.horizon_secs, f64::MIN_POSITIVE, 86_400.0)?,
                strength_cap: number("gates.edge.strength_cap", edge.strength_cap, 1.0, 1e6)?,
                fallback_volatility_bps: number(
                    "gates.edge.fallback_volatility_bps",
                    edge.fallback_volatility_bps,
                    0.0,
                    1e6,
                )?,
            },
        };

        let c = &self.confidence;
        let weight = |key: &str, x: f64| number(&format!("confidence.{key}"), x, 0.0, 100.0);
        let confidence = ConfidenceConfig {
            votes_weight: weight("votes_weight", c.votes_weight)?,
            strength_weight: weight("strength_weight", c.strength_weight)?,
            confirmation_weight: weight("confirmation_weight", c.confirmation_weight)?,
            opposing_penalty: number("confidence.opposing_penalty", c.opposing_penalty, 0.0, 1.0)?,
            observe_from: weight("observe_from", c.observe_from)?,
            base_from: weight("base_from", c.base_from)?,
            large_from: weight("large_from", c.large_from)?,
        };
        if !(confidence.observe_from <= confidence.base_from && confidence.base_from <= confidence.large_from) {
            return Err(LoadError::new(
                "confidence.base_from",
                "bands must satisfy observe_from ≤ base_from ≤ large_from",
            ));
        }

        let mut components = Vec::with_capacity(self.context.component.len());
        for (n, raw) in self.context.component.iter().enumerate() {
            let key = |k: &str| format!("context.component[{n}].{k}");
            if raw.name.is_empty() || components.iter().any(|c: &ContextComponent| c.name == raw.name) {
                return Err(LoadError::new(key("name"), "must be non-empty and unique"));
            }
            components.push(ContextComponent {
                name: raw.name.clone(),
                weight: number(&key("weight"), raw.weight, -1e9, 1e9)?,
                center: number(&key("center"), raw.center, -1e15, 1e15)?,
                clamp: number(&key("clamp"), raw.clamp, 0.0, 100.0)?,
                directional: raw.directional,
                max_age_ms: secs_ms(&key("max_age_secs"), raw.max_age_secs, false)?,
            });
        }
        let context = ContextConfig {
            file: match &self.context.file {
                Some(f) if f.is_empty() => {
                    return Err(LoadError::new("context.file", "must not be empty (omit the key)"));
                }
                other => other.as_ref().map(PathBuf::from),
            },
            components,
        };

        let s = &self.sizing;
        let sizing = SizingConfig {
            a_fraction: fraction("sizing.a_equity_fraction", &s.a_equity_fraction, 10)?,
            b_fraction: fraction("sizing.b_equity_fraction", &s.b_equity_fraction, 10)?,
            large_multiplier: fraction("sizing.large_multiplier", &s.large_multiplier, 10)?,
            kelly: KellyConfig {
                enabled: s.kelly.enabled,
                fraction: fraction("sizing.kelly.fraction", &s.kelly.fraction, 1)?,
                cap: fraction("sizing.kelly.cap", &s.kelly.cap, 10)?,
                min_trades: s.kelly.min_trades,
            },
        };

        let x = &self.exits;
        let levels = |tier: &str, raw: &RawExitLevels| -> Result<ExitLevels, LoadError> {
            Ok(ExitLevels {
                take_profit_bps_e2: bps_e2(&format!("exits.{tier}.take_profit_bps"), &raw.take_profit_bps)?,
                stop_loss_bps_e2: bps_e2(&format!("exits.{tier}.stop_loss_bps"), &raw.stop_loss_bps)?,
                max_hold_ms: secs_ms(&format!("exits.{tier}.max_hold_secs"), raw.max_hold_secs, false)?,
            })
        };
        let breakeven = fraction("exits.breakeven_at_tp_fraction", &x.breakeven_at_tp_fraction, 1)?;
        let exits = ExitConfig {
            a: levels("a", &x.a)?,
            b: levels("b", &x.b)?,
            zone_trailing: x.zone_trailing,
            breakeven_at_permille: u32::try_from(breakeven.0 / 100_000).unwrap_or(1000),
            layered: x.layered,
            layer_trail_bps_e2: bps_e2("exits.layer_trail_bps", &x.layer_trail_bps)?,
            regime_exit: x.regime_exit,
        };
        Ok(StrategyConfig { entry, votes, gates, confidence, context, sizing, exits })
    }
}

/// Deserializes one table of a profile, naming the key in errors
/// (`gates.spread.max`), with the table's defaults when it is absent.
///
/// # Errors
/// A [`LoadError`] whose key is `section` plus the path inside it.
pub(crate) fn table<T: serde::de::DeserializeOwned + Default>(
    root: &toml::Table,
    section: &str,
) -> Result<T, LoadError> {
    match root.get(section) {
        None => Ok(T::default()),
        Some(value) => T::deserialize(value.clone()).map_err(|e| toml_error(section, &e)),
    }
}

/// A `toml` deserialization error as a [`LoadError`]: the value
/// deserializer appends "in `a.b`" to its message, which becomes the key.
pub(crate) fn toml_error(section: &str, e: &toml::de::Error) -> LoadError {
    let text = e.to_string();
    let (problem, path) = match text.rsplit_once("\nin `") {
        Some((problem, rest)) => (problem.to_owned(), rest.trim_end().trim_end_matches('`').to_owned()),
        None => (e.message().to_owned(), String::new()),
    };
    let key = if path.is_empty() { section.to_owned() } else { format!("{section}.{path}") };
    LoadError::new(key, problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_are_the_issue_values() {
        let c = StrategyConfig::default();
        assert_eq!(c.gates.imbalance.value, 0.30);
        assert_eq!(c.gates.volume_surge.value, 1.0);
        assert_eq!(c.entry.a_min_agreeing, 3);
        assert_eq!((c.confidence.observe_from, c.confidence.base_from, c.confidence.large_from), (70.0, 80.0, 90.0));
        assert_eq!(c.exits.breakeven_at_permille, 500);
        assert_eq!(c.votes.order_flow_input, FlowInput::Ofi);
        assert_eq!(c.votes.drift_input, DriftInput::OuDrift);
    }

    fn tables(text: &str) -> Result<StrategyConfig, LoadError> {
        let root: toml::Table = toml::from_str(text).unwrap();
        RawStrategyTables::from_root(&root)?.validate()
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("[gates.spread]\nmax = \"a\"", "gates.spread.max"),
            ("[gates.spread]\nmin = 1", "gates.spread.min"),
            ("[gates.imbalance]\nmin = 1.5", "gates.imbalance.min"),
            ("[gates.edge]\nfee_multiplier = -1", "gates.edge.fee_multiplier"),
            ("[votes]\nofi_threshold = 0", "votes.ofi_threshold"),
            ("[votes]\norder_flow_input = \"magic\"", "votes.order_flow_input"),
            ("[strategy]\na_min_agreeing = 2", "strategy.a_min_agreeing"),
            ("[sizing]\na_equity_fraction = \"0.05.1\"", "sizing.a_equity_fraction"),
            ("[sizing]\na_equity_fraction = 0.05", "sizing.a_equity_fraction"),
            (
                "[exits.a]\ntake_profit_bps = \"1e3\"\nstop_loss_bps = \"5\"\nmax_hold_secs = 5",
                "exits.a.take_profit_bps",
            ),
            ("[confidence]\nbase_from = 95", "confidence.base_from"),
            ("[[context.component]]\nname = \"x\"\nweight = 1\nclamp = 500", "context.component[0].clamp"),
        ];
        for (text, key) in cases {
            let err = tables(text).expect_err(text);
            assert_eq!(err.key, key, "{text}: {err}");
        }
        let err = tables("[gates.spread]\nmax_ticks = 2").unwrap_err();
        assert_eq!(err.key, "gates.spread");
        assert!(err.problem.contains("unknown field"), "{err}");
    }

    #[test]
    fn decimal_distances_are_exact() {
        let c = tables("[exits.a]\ntake_profit_bps = \"12.5\"\nstop_loss_bps = \"7\"\nmax_hold_secs = 60").unwrap();
        assert_eq!(c.exits.a.take_profit_bps_e2, 1250);
        assert_eq!(c.exits.a.stop_loss_bps_e2, 700);
        assert_eq!(c.exits.a.max_hold_ms, 60_000);
    }
}
