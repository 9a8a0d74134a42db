//! Strategy configuration: the `[strategy]`, `[votes]`, `[gates]`,
//! `[confidence]`, `[context]`, `[sizing]`, `[exits]`, `[leverage]`,
//! `[schedule]` and `[cascade_trades]` tables of a profile under
//! `tuning/`, typed and validated at load.
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
//! Every rule the plans added (risk sizing, ATR and swing stops, the
//! master plan's gates, trailing and the profit-lock ladder, cascade
//! trades, leverage, the schedule) is off by default, except the
//! correlation guard (0.7), so a profile that does not name them trades as
//! before.
//!
//! **Tiers and bands are consistent by construction**: the vote points of
//! the confidence score are measured against the candidate's own tier
//! requirement ([`super::entry::confidence`]), and loading refuses weights
//! with which a qualifying minimal candidate (3 of 5 for A, 2 for B) could
//! not reach `base_from` (`votes_weight + strength_weight +
//! confirmation_weight ≥ base_from`).

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

/// How entries are sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SizingMode {
    /// Notional = equity × the tier's equity fraction.
    EquityFraction,
    /// Quantity = equity × the tier's risk fraction ÷ the loss per unit at the stop.
    Risk,
}

/// Where the initial stop of a position goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopMethod {
    /// `stop_loss_bps` of the tier.
    Fixed,
    /// `atr_stop_multiple` × the average true range.
    Atr,
    /// Beyond the swing low (long) or high (short) by `swing_buffer_bps`.
    Swing,
}

/// What an enabled gate does while its signal has no data (a venue or
/// recording without open interest, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WhenMissing {
    /// The candidate is blocked ([`super::GateKind`] counts it).
    Block,
    /// The gate is not evaluated for that candidate; counted in the report
    /// as `not_evaluated_no_data`.
    Skip,
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
    /// `net_flow_surge` at least `value` with the window's net taker flow
    /// in the trade's direction (master plan: 3× its average).
    pub net_flow_surge: GateThreshold,
    /// A clean break of the session's range in the trade's direction (and
    /// its micro-pullback when `require_pullback`).
    pub breakout: BreakoutGate,
    /// Extreme funding vetoes the crowded side: `|funding rate| ≥ value` bps
    /// blocks longs when positive, shorts when negative.
    pub funding_veto: GateThreshold,
    /// Open interest rising with the price in the trade's direction.
    pub open_interest: OpenInterestGate,
    /// The correlation guard.
    pub correlation: super::correlation::CorrelationConfig,
}

/// The breakout gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakoutGate {
    /// Evaluated at all.
    pub enabled: bool,
    /// The break must have pulled back (entry after a micro-pullback).
    pub require_pullback: bool,
}

/// The open-interest gate: `oi_change_pct ≥ min_change_pct` over the
/// signals' window and the price moved at least `min_price_bps` in the
/// trade's direction over the same window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenInterestGate {
    /// Evaluated at all.
    pub enabled: bool,
    /// Least rise of open interest, percent.
    pub min_change_pct: f64,
    /// Least price move in the trade's direction, bps.
    pub min_price_bps: f64,
    /// Without open-interest data.
    pub when_missing: WhenMissing,
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
    /// Points for net agreement reaching the tier's requirement.
    pub votes_weight: f64,
    /// Points for agreement beyond the A requirement, up to every vote with data.
    pub confluence_weight: f64,
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

/// Position sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizingConfig {
    /// Equity fraction or risk per trade.
    pub mode: SizingMode,
    /// A-trade notional as a fraction of equity (equity-fraction mode).
    pub a_fraction: Rate,
    /// B-trade notional as a fraction of equity (equity-fraction mode).
    pub b_fraction: Rate,
    /// Cascade-trade notional as a fraction of equity (equity-fraction mode).
    pub cascade_fraction: Rate,
    /// Share of equity an A-trade risks at its stop (risk mode).
    pub a_risk: Rate,
    /// Share of equity a B-trade risks (risk mode).
    pub b_risk: Rate,
    /// Share of equity a cascade trade risks (risk mode).
    pub cascade_risk: Rate,
    /// The loss at the stop includes the round-trip fees (risk mode).
    pub risk_includes_fees: bool,
    /// Largest margin share of equity per position: notional ≤ equity ×
    /// share × effective leverage (growth milestones override it).
    pub max_position_share: Rate,
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

/// How the initial stop (and R) is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopConfig {
    /// Fixed, ATR or swing.
    pub method: StopMethod,
    /// ATR multiple of the stop distance, hundredths.
    pub atr_multiple_e2: u32,
    /// Beyond the swing level by this much, hundredths of a bp.
    pub swing_buffer_bps_e2: u32,
    /// The stop distance is at least this, hundredths of a bp.
    pub min_bps_e2: u32,
    /// The stop distance is at most this, hundredths of a bp.
    pub max_bps_e2: u32,
    /// Take-profit distance as a multiple of R, hundredths (ATR and swing
    /// stops; `None`: the tier's `take_profit_bps`).
    pub take_profit_r_e2: Option<u32>,
}

/// One rung of the profit-lock ladder: once the favourable excursion
/// reaches `at_r` R, the stop is at least `lock_r` R beyond the entry
/// (`lock_r` 0: breakeven plus fees).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockStep {
    /// Excursion, hundredths of R.
    pub at_r_e2: u32,
    /// Locked, hundredths of R.
    pub lock_r_e2: u32,
}

/// Most rungs of the profit-lock ladder.
pub const MAX_LOCK_STEPS: usize = 8;

/// Exit rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitConfig {
    /// A-trade levels.
    pub a: ExitLevels,
    /// B-trade levels (tighter).
    pub b: ExitLevels,
    /// Cascade-trade levels (their own exits and hold limit).
    pub cascade: ExitLevels,
    /// The initial stop.
    pub stop: StopConfig,
    /// Trailing starts once the excursion reaches this many R, hundredths
    /// (`None`: only the last layer trails).
    pub trail_from_r_e2: Option<u32>,
    /// Trailing distance in ATR while momentum is aligned with the
    /// position, hundredths (0: `layer_trail_bps`).
    pub trail_atr_strong_e2: u32,
    /// Trailing distance in ATR once momentum weakens, hundredths.
    pub trail_atr_weak_e2: u32,
    /// The profit-lock ladder, by ascending `at_r`.
    pub ladder: [LockStep; MAX_LOCK_STEPS],
    /// Rungs in use.
    pub ladder_len: u8,
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
    /// Leverage.
    pub leverage: super::leverage::LeverageConfig,
    /// Time-of-day schedule.
    pub schedule: super::schedule::ScheduleConfig,
    /// Liquidation-cascade trades.
    pub cascade: CascadeTradeConfig,
}

/// Trading liquidation cascades (`[cascade_trades]`): a short when longs
/// are liquidated at `min_notional_per_min` or more per minute (forced
/// selling pushes the price down), a long when shorts are; the side must
/// hold `min_side_share` of the liquidated notional. Such a trade skips the
/// votes and the confidence score (tier `cascade`, its own exits and hold
/// limit in `[exits.cascade]`, sized by `cascade_risk_fraction` or
/// `cascade_equity_fraction`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CascadeTradeConfig {
    /// Trade cascades at all.
    pub enabled: bool,
    /// Liquidated notional of one side per minute that triggers, quote units.
    pub min_notional_per_min: f64,
    /// Share of the liquidated notional that side must hold.
    pub min_side_share: f64,
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
struct RawBreakoutGate {
    enabled: bool,
    require_pullback: bool,
}

impl Default for RawBreakoutGate {
    fn default() -> Self {
        Self { enabled: false, require_pullback: true }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawFundingVeto {
    enabled: bool,
    extreme_bps: f64,
}

impl Default for RawFundingVeto {
    fn default() -> Self {
        Self { enabled: false, extreme_bps: 5.0 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawOpenInterestGate {
    enabled: bool,
    min_change_pct: f64,
    min_price_bps: f64,
    when_missing: WhenMissing,
}

impl Default for RawOpenInterestGate {
    fn default() -> Self {
        Self { enabled: false, min_change_pct: 0.5, min_price_bps: 0.0, when_missing: WhenMissing::Skip }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawCascadeTrades {
    enabled: bool,
    min_notional_per_min: f64,
    min_side_share: f64,
}

impl Default for RawCascadeTrades {
    fn default() -> Self {
        Self { enabled: false, min_notional_per_min: 1_000_000.0, min_side_share: 0.7 }
    }
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
    net_flow_surge: RawGateThreshold,
    breakout: RawBreakoutGate,
    funding_veto: RawFundingVeto,
    open_interest: RawOpenInterestGate,
    correlation: super::correlation::RawCorrelation,
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
            net_flow_surge: RawGateThreshold { enabled: false, min: Some(3.0), max: None },
            breakout: RawBreakoutGate::default(),
            funding_veto: RawFundingVeto::default(),
            open_interest: RawOpenInterestGate::default(),
            correlation: super::correlation::RawCorrelation::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawConfidence {
    votes_weight: f64,
    confluence_weight: f64,
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
            votes_weight: 50.0,
            confluence_weight: 10.0,
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
    mode: SizingMode,
    a_equity_fraction: String,
    b_equity_fraction: String,
    cascade_equity_fraction: String,
    a_risk_fraction: String,
    b_risk_fraction: String,
    cascade_risk_fraction: String,
    risk_includes_fees: bool,
    max_position_share: String,
    large_multiplier: String,
    kelly: RawKelly,
}

impl Default for RawSizing {
    fn default() -> Self {
        Self {
            mode: SizingMode::EquityFraction,
            a_equity_fraction: "0.05".into(),
            b_equity_fraction: "0.02".into(),
            cascade_equity_fraction: "0.02".into(),
            a_risk_fraction: "0.005".into(),
            b_risk_fraction: "0.0025".into(),
            cascade_risk_fraction: "0.0025".into(),
            risk_includes_fees: true,
            max_position_share: "1".into(),
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
#[serde(deny_unknown_fields)]
struct RawLockStep {
    at_r: String,
    lock_r: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawExits {
    a: RawExitLevels,
    b: RawExitLevels,
    cascade: RawExitLevels,
    stop_method: StopMethod,
    atr_stop_multiple: String,
    swing_buffer_bps: String,
    min_stop_bps: String,
    max_stop_bps: String,
    take_profit_r: Option<String>,
    trail_from_r: Option<String>,
    trail_atr_strong: String,
    trail_atr_weak: String,
    lock: Vec<RawLockStep>,
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
            cascade: RawExitLevels { take_profit_bps: "20".into(), stop_loss_bps: "10".into(), max_hold_secs: 60 },
            stop_method: StopMethod::Fixed,
            atr_stop_multiple: "1.5".into(),
            swing_buffer_bps: "1".into(),
            min_stop_bps: "2".into(),
            max_stop_bps: "100".into(),
            take_profit_r: None,
            trail_from_r: None,
            trail_atr_strong: "2".into(),
            trail_atr_weak: "1".into(),
            lock: Vec::new(),
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
    pub(crate) leverage: super::leverage::RawLeverage,
    pub(crate) schedule: super::schedule::RawSchedule,
    pub(crate) cascade: RawCascadeTrades,
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

/// A multiple (of R, of the ATR) as exact decimal text with at most two
/// decimals, in hundredths; more than 0 (or 0 when `allow_zero`) and at most 100.
pub(crate) fn multiple_e2(key: &str, text: &str, allow_zero: bool) -> Result<u32, LoadError> {
    let v = parse_decimal(text.as_bytes(), 2, false)
        .map_err(|e| LoadError::new(key, format!("{e} in {text:?} (a multiple, at most 2 decimals)")))?;
    if (v == 0 && !allow_zero) || v > 10_000 {
        return Err(LoadError::new(key, "must be more than 0 and at most 100"));
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
            leverage: table(root, "leverage")?,
            schedule: table(root, "schedule")?,
            cascade: table(root, "cascade_trades")?,
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
            net_flow_surge: gate_threshold("gates.net_flow_surge", &g.net_flow_surge, "min", 1e9)?,
            breakout: BreakoutGate { enabled: g.breakout.enabled, require_pullback: g.breakout.require_pullback },
            funding_veto: GateThreshold {
                enabled: g.funding_veto.enabled,
                value: number("gates.funding_veto.extreme_bps", g.funding_veto.extreme_bps, f64::MIN_POSITIVE, 1e4)?,
            },
            open_interest: OpenInterestGate {
                enabled: g.open_interest.enabled,
                min_change_pct: number("gates.open_interest.min_change_pct", g.open_interest.min_change_pct, 0.0, 1e6)?,
                min_price_bps: number("gates.open_interest.min_price_bps", g.open_interest.min_price_bps, 0.0, 1e6)?,
                when_missing: g.open_interest.when_missing,
            },
            correlation: g.correlation.validate()?,
        };

        let c = &self.confidence;
        let weight = |key: &str, x: f64| number(&format!("confidence.{key}"), x, 0.0, 100.0);
        let confidence = ConfidenceConfig {
            votes_weight: weight("votes_weight", c.votes_weight)?,
            confluence_weight: weight("confluence_weight", c.confluence_weight)?,
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
        // A tier that qualifies must be able to reach a band that trades:
        // a minimal candidate (3 of 5 for A, 2 for B, unopposed) earns the
        // full vote points, so with full strength and confirmations it
        // scores votes + strength + confirmation.
        let reachable = confidence.votes_weight + confidence.strength_weight + confidence.confirmation_weight;
        if reachable < confidence.base_from {
            return Err(LoadError::new(
                "confidence.base_from",
                format!(
                    "{} is out of reach of a qualifying minimal candidate: votes_weight + strength_weight + \
                     confirmation_weight = {reachable} must be at least base_from",
                    confidence.base_from
                ),
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
            mode: s.mode,
            a_fraction: fraction("sizing.a_equity_fraction", &s.a_equity_fraction, 10)?,
            b_fraction: fraction("sizing.b_equity_fraction", &s.b_equity_fraction, 10)?,
            cascade_fraction: fraction("sizing.cascade_equity_fraction", &s.cascade_equity_fraction, 10)?,
            a_risk: fraction("sizing.a_risk_fraction", &s.a_risk_fraction, 1)?,
            b_risk: fraction("sizing.b_risk_fraction", &s.b_risk_fraction, 1)?,
            cascade_risk: fraction("sizing.cascade_risk_fraction", &s.cascade_risk_fraction, 1)?,
            risk_includes_fees: s.risk_includes_fees,
            max_position_share: fraction("sizing.max_position_share", &s.max_position_share, 1)?,
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
        let min_stop = bps_e2("exits.min_stop_bps", &x.min_stop_bps)?;
        let max_stop = bps_e2("exits.max_stop_bps", &x.max_stop_bps)?;
        if max_stop < min_stop {
            return Err(LoadError::new("exits.max_stop_bps", "must be at least min_stop_bps"));
        }
        if x.lock.len() > MAX_LOCK_STEPS {
            return Err(LoadError::new("exits.lock", format!("at most {MAX_LOCK_STEPS} rungs")));
        }
        let mut ladder = [LockStep::default(); MAX_LOCK_STEPS];
        for (n, rung) in x.lock.iter().enumerate() {
            let at = multiple_e2(&format!("exits.lock[{n}].at_r"), &rung.at_r, false)?;
            let lock = multiple_e2(&format!("exits.lock[{n}].lock_r"), &rung.lock_r, true)?;
            if lock >= at {
                return Err(LoadError::new(format!("exits.lock[{n}].lock_r"), "must be below at_r"));
            }
            if n > 0 && ladder[n - 1].at_r_e2 >= at {
                return Err(LoadError::new(format!("exits.lock[{n}].at_r"), "rungs must be in ascending order"));
            }
            ladder[n] = LockStep { at_r_e2: at, lock_r_e2: lock };
        }
        let exits = ExitConfig {
            a: levels("a", &x.a)?,
            b: levels("b", &x.b)?,
            cascade: levels("cascade", &x.cascade)?,
            stop: StopConfig {
                method: x.stop_method,
                atr_multiple_e2: multiple_e2("exits.atr_stop_multiple", &x.atr_stop_multiple, false)?,
                swing_buffer_bps_e2: match x.swing_buffer_bps.as_str() {
                    "0" => 0,
                    text => bps_e2("exits.swing_buffer_bps", text)?,
                },
                min_bps_e2: min_stop,
                max_bps_e2: max_stop,
                take_profit_r_e2: x
                    .take_profit_r
                    .as_deref()
                    .map(|t| multiple_e2("exits.take_profit_r", t, false))
                    .transpose()?,
            },
            trail_from_r_e2: x
                .trail_from_r
                .as_deref()
                .map(|t| multiple_e2("exits.trail_from_r", t, false))
                .transpose()?,
            trail_atr_strong_e2: multiple_e2("exits.trail_atr_strong", &x.trail_atr_strong, true)?,
            trail_atr_weak_e2: multiple_e2("exits.trail_atr_weak", &x.trail_atr_weak, true)?,
            ladder,
            ladder_len: x.lock.len() as u8,
            zone_trailing: x.zone_trailing,
            breakeven_at_permille: u32::try_from(breakeven.0 / 100_000).unwrap_or(1000),
            layered: x.layered,
            layer_trail_bps_e2: bps_e2("exits.layer_trail_bps", &x.layer_trail_bps)?,
            regime_exit: x.regime_exit,
        };
        let k = &self.cascade;
        let cascade = CascadeTradeConfig {
            enabled: k.enabled,
            min_notional_per_min: number(
                "cascade_trades.min_notional_per_min",
                k.min_notional_per_min,
                f64::MIN_POSITIVE,
                1e15,
            )?,
            min_side_share: number("cascade_trades.min_side_share", k.min_side_share, 0.0, 1.0)?,
        };
        Ok(StrategyConfig {
            entry,
            votes,
            gates,
            confidence,
            context,
            sizing,
            exits,
            leverage: self.leverage.validate()?,
            schedule: self.schedule.validate()?,
            cascade,
        })
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
            ("[confidence]\nvotes_weight = 40\nstrength_weight = 20\nconfirmation_weight = 10", "confidence.base_from"),
            ("[gates.net_flow_surge]\nmax = 3", "gates.net_flow_surge.max"),
            ("[gates.funding_veto]\nextreme_bps = 0", "gates.funding_veto.extreme_bps"),
            ("[gates.open_interest]\nwhen_missing = \"maybe\"", "gates.open_interest.when_missing"),
            ("[sizing]\nmode = \"yolo\"", "sizing.mode"),
            ("[sizing]\na_risk_fraction = \"1.5\"", "sizing.a_risk_fraction"),
            ("[exits]\nstop_method = \"vibes\"", "exits.stop_method"),
            ("[exits]\natr_stop_multiple = \"0\"", "exits.atr_stop_multiple"),
            ("[exits]\nmin_stop_bps = \"10\"\nmax_stop_bps = \"5\"", "exits.max_stop_bps"),
            ("[[exits.lock]]\nat_r = \"1\"\nlock_r = \"1\"", "exits.lock[0].lock_r"),
            (
                "[[exits.lock]]\nat_r = \"2\"\nlock_r = \"1\"\n[[exits.lock]]\nat_r = \"1.5\"\nlock_r = \"0\"",
                "exits.lock[1].at_r",
            ),
            ("[cascade_trades]\nmin_side_share = 2.0", "cascade_trades.min_side_share"),
            ("[leverage]\ndefault = 0", "leverage.default"),
            ("[schedule]\nallowed_hours_utc = [30]", "schedule.allowed_hours_utc"),
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
    fn plan_keys_parse_exactly() {
        let c = tables(
            "[sizing]\nmode = \"risk\"\na_risk_fraction = \"0.005\"\n\
             [exits]\nstop_method = \"atr\"\natr_stop_multiple = \"1.5\"\ntake_profit_r = \"2\"\ntrail_from_r = \"2\"\n\
             [[exits.lock]]\nat_r = \"1\"\nlock_r = \"0\"\n[[exits.lock]]\nat_r = \"1.5\"\nlock_r = \"0.5\"",
        )
        .unwrap();
        assert_eq!((c.sizing.mode, c.sizing.a_risk), (SizingMode::Risk, Rate(500_000)));
        assert_eq!((c.exits.stop.method, c.exits.stop.atr_multiple_e2), (StopMethod::Atr, 150));
        assert_eq!((c.exits.stop.take_profit_r_e2, c.exits.trail_from_r_e2), (Some(200), Some(200)));
        assert_eq!(c.exits.ladder_len, 2);
        assert_eq!(c.exits.ladder[1], LockStep { at_r_e2: 150, lock_r_e2: 50 });
        // Defaults: every plan rule off except the correlation guard.
        let d = StrategyConfig::default();
        assert_eq!(d.sizing.mode, SizingMode::EquityFraction);
        assert_eq!(d.exits.stop.method, StopMethod::Fixed);
        assert!(!d.gates.net_flow_surge.enabled && !d.gates.breakout.enabled && !d.gates.funding_veto.enabled);
        assert!(!d.gates.open_interest.enabled && !d.cascade.enabled && !d.leverage.dynamic && !d.schedule.enabled);
        assert!(d.gates.correlation.enabled && d.gates.correlation.max == 0.7);
        assert_eq!((d.exits.trail_from_r_e2, d.exits.ladder_len), (None, 0));
    }

    #[test]
    fn decimal_distances_are_exact() {
        let c = tables("[exits.a]\ntake_profit_bps = \"12.5\"\nstop_loss_bps = \"7\"\nmax_hold_secs = 60").unwrap();
        assert_eq!(c.exits.a.take_profit_bps_e2, 1250);
        assert_eq!(c.exits.a.stop_loss_bps_e2, 700);
        assert_eq!(c.exits.a.max_hold_ms, 60_000);
    }
}
