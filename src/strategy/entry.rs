//! Entry decisions: the gates every candidate must pass, the confidence
//! score with its bands, and the position size.
//!
//! # Gates
//! Every gate is evaluated for every candidate (not just up to the first
//! failure), and every failing gate counts one block, so the report shows
//! how often each gate alone stood in the way. A gate whose input the
//! signal source does not provide is *skipped* and listed as such.
//!
//! # Confidence (0–100)
//! `votes + confluence + strength + confirmation + context`, clamped to `[0, 100]`,
//! with `net = max(0, agreeing − opposing_penalty × opposing)` and `need`
//! the tier's requirement (`a_min_agreeing` for A, 2 for B):
//! - votes: `votes_weight × min(net, need) / need` — measured against the
//!   candidate's own tier, so a tier that qualifies unopposed earns every
//!   vote point and can reach the trading bands (configuration refuses
//!   weights where it could not: `votes + strength + confirmation ≥
//!   base_from`);
//! - confluence: `confluence_weight × clamp((net − a_min) / (available_votes − a_min), 0, 1)`
//!   (all of it when every vote with data agrees): agreement beyond the A
//!   requirement. A candidate on which every vote with data agrees scores
//!   `votes + confluence`, what the earlier `votes × agreeing / available`
//!   gave it;
//! - strength: `strength_weight ×` the mean over agreeing votes of
//!   `min(1, (strength − 1) / (strength_cap − 1))`, i.e. how far beyond
//!   their thresholds the votes are;
//! - confirmation: `confirmation_weight ×` the mean over the available
//!   confirmations of: imbalance margin beyond the gate
//!   `(imb − min) / (1 − min)`, volume surge `surge − 1`, momentum aligned
//!   (1 or 0), each clamped to `[0, 1]`;
//! - context: the slow context points ([`crate::strategy::context`]).
//!
//! Bands: below `observe_from` (70) no trade; up to `base_from` (80)
//! observe only; up to `large_from` (90) base size; above, base size ×
//! `large_multiplier`.
//!
//! # Size
//! Notional = equity × fraction (A or B; fractional Kelly when enabled and
//! warm: `f* = W − (1 − W) / R` with win rate `W` and win/loss ratio `R`,
//! Kelly, "A New Interpretation of Information Rate", Bell System
//! Technical Journal 35, 1956; times `kelly.fraction`, capped), ×
//! `large_multiplier` in the top band; quantity = notional / price,
//! rounded down to the step, capped by the instrument's and the risk
//! configuration's order limits. Integer arithmetic throughout.

use crate::fixed::{E8, Notional, Price, Qty, Rate, pow10};
use crate::instrument::Instrument;
use crate::side::Side;
use crate::signal::{Regime, SignalSnapshot};
use crate::strategy::config::{ConfidenceConfig, GateConfig, RegimeGate, SizingConfig, SizingMode, WhenMissing};
use crate::strategy::inputs::SignalFields;
use crate::strategy::vote::{Candidate, Tier, VoteKind, VoteSet};

/// Every reason an entry candidate can be blocked, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum GateKind {
    /// B-trades are disabled by configuration.
    BTradesDisabled = 0,
    /// The symbol is still warming up (or the source says it is not warm).
    Warmup,
    /// Top-of-book imbalance not beyond the threshold in the trade's direction.
    Imbalance,
    /// Volume not above its average.
    VolumeSurge,
    /// Spread wider than allowed.
    Spread,
    /// A liquidation cascade runs against the trade.
    Cascade,
    /// The regime does not allow the direction.
    Regime,
    /// Momentum not aligned with the trade (when required).
    Momentum,
    /// Expected move does not cover the round-trip fees × multiplier.
    Edge,
    /// Too many symbols engaged.
    MaxConcurrentPositions,
    /// Confidence below the observe band: no trade.
    ConfidenceLow,
    /// Confidence in the observe-only band.
    ObserveOnly,
    /// The sized order is below the instrument's minimum quantity or notional.
    SizeBelowMinimum,
    /// Net taker-flow surge below its threshold, or the flow against the trade.
    NetFlowSurge,
    /// No clean break of the range in the trade's direction (or no pullback yet).
    Breakout,
    /// Extreme funding: the trade's side is the crowded one.
    FundingVeto,
    /// Open interest not rising with the price in the trade's direction.
    OpenInterest,
    /// A correlated instrument already holds the same direction.
    Correlation,
    /// Outside the allowed hours.
    Schedule,
    /// The stop method's input (ATR, swing) is not known yet.
    StopUnavailable,
}

impl GateKind {
    /// Number of gates.
    pub const COUNT: usize = 20;

    /// All gates, by code.
    pub const ALL: [GateKind; Self::COUNT] = [
        GateKind::BTradesDisabled,
        GateKind::Warmup,
        GateKind::Imbalance,
        GateKind::VolumeSurge,
        GateKind::Spread,
        GateKind::Cascade,
        GateKind::Regime,
        GateKind::Momentum,
        GateKind::Edge,
        GateKind::MaxConcurrentPositions,
        GateKind::ConfidenceLow,
        GateKind::ObserveOnly,
        GateKind::SizeBelowMinimum,
        GateKind::NetFlowSurge,
        GateKind::Breakout,
        GateKind::FundingVeto,
        GateKind::OpenInterest,
        GateKind::Correlation,
        GateKind::Schedule,
        GateKind::StopUnavailable,
    ];

    /// Name for reports.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            GateKind::BTradesDisabled => "b-trades-disabled",
            GateKind::Warmup => "warm-up",
            GateKind::Imbalance => "imbalance",
            GateKind::VolumeSurge => "volume-surge",
            GateKind::Spread => "spread",
            GateKind::Cascade => "liquidation-cascade",
            GateKind::Regime => "regime",
            GateKind::Momentum => "momentum",
            GateKind::Edge => "edge",
            GateKind::MaxConcurrentPositions => "max-concurrent-positions",
            GateKind::ConfidenceLow => "confidence-below-observe",
            GateKind::ObserveOnly => "confidence-observe-only",
            GateKind::SizeBelowMinimum => "size-below-minimum",
            GateKind::NetFlowSurge => "net-flow-surge",
            GateKind::Breakout => "breakout",
            GateKind::FundingVeto => "funding-veto",
            GateKind::OpenInterest => "open-interest",
            GateKind::Correlation => "correlation",
            GateKind::Schedule => "schedule",
            GateKind::StopUnavailable => "stop-unavailable",
        }
    }
}

/// Gate counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GateStats {
    /// Candidate evaluations (a flat, ready symbol whose votes made a tier).
    pub candidates: u64,
    /// Candidates that passed every gate (orders proposed).
    pub passed: u64,
    /// Blocks per gate, by [`GateKind`] code.
    pub blocked: [u64; GateKind::COUNT],
    /// Gates skipped because their input is not provided, by code.
    pub skipped: [bool; GateKind::COUNT],
    /// Candidates for which an enabled gate was not evaluated because its
    /// signal had no data (`when_missing = "skip"`), by code.
    pub no_data: [u64; GateKind::COUNT],
    /// Candidates per tier (A, B, cascade).
    pub by_tier: [u64; 3],
    /// Candidates in the observe-only band (also counted as blocked).
    pub observed: u64,
    /// Candidates by confidence score, in ten-point buckets (0–9, 10–19,
    /// …, 90–100): how far the candidates were from the bands.
    pub by_confidence: [u64; 10],
}

/// Which gates can be evaluated, and the failures of one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GateResult {
    failed: u32,
    no_data: u32,
}

impl GateResult {
    /// Marks `gate` as failed.
    pub fn fail(&mut self, gate: GateKind) {
        self.failed |= 1 << gate as u32;
    }

    /// `true` when `gate` failed.
    #[must_use]
    pub fn failed(self, gate: GateKind) -> bool {
        self.failed & (1 << gate as u32) != 0
    }

    /// Marks `gate` as not evaluated for lack of data.
    pub fn no_data(&mut self, gate: GateKind) {
        self.no_data |= 1 << gate as u32;
    }

    /// `true` when `gate` was not evaluated for lack of data.
    #[must_use]
    pub fn lacked_data(self, gate: GateKind) -> bool {
        self.no_data & (1 << gate as u32) != 0
    }

    /// `true` when nothing failed.
    #[must_use]
    pub fn passed(self) -> bool {
        self.failed == 0
    }
}

impl GateStats {
    /// Counts one evaluated candidate and its failures.
    pub fn record(&mut self, tier: Tier, result: GateResult, score: f64) {
        self.candidates += 1;
        if tier != Tier::Cascade {
            // Cascade trades are not scored.
            self.by_confidence[((score / 10.0) as usize).min(9)] += 1;
        }
        self.by_tier[tier.index()] += 1;
        for g in GateKind::ALL {
            if result.failed(g) {
                self.blocked[g as usize] += 1;
            }
            if result.lacked_data(g) {
                self.no_data[g as usize] += 1;
            }
        }
        if result.failed(GateKind::ObserveOnly) {
            self.observed += 1;
        }
        if result.passed() {
            self.passed += 1;
        }
    }

    /// Marks the gates whose inputs are missing from `provided`.
    pub fn mark_skipped(&mut self, gates: &GateConfig, provided: SignalFields) {
        let skip = |g: GateKind, enabled: bool, need: SignalFields| (g, enabled && !provided.contains(need));
        for (g, skipped) in [
            skip(GateKind::Imbalance, gates.imbalance.enabled, SignalFields::BOOK),
            skip(GateKind::VolumeSurge, gates.volume_surge.enabled, SignalFields::VOLUME_SURGE),
            skip(GateKind::Cascade, gates.cascade, SignalFields::CASCADE),
            skip(GateKind::Regime, gates.regime.enabled, SignalFields::REGIME),
            skip(GateKind::Momentum, gates.momentum_required, SignalFields::MOMENTUM),
            skip(GateKind::NetFlowSurge, gates.net_flow_surge.enabled, SignalFields::VOLUME_SURGE),
            skip(GateKind::Breakout, gates.breakout.enabled, SignalFields::RANGE),
            skip(GateKind::FundingVeto, gates.funding_veto.enabled, SignalFields::FUNDING),
            skip(GateKind::OpenInterest, gates.open_interest.enabled, SignalFields::OPEN_INTEREST),
        ] {
            self.skipped[g as usize] = skipped;
        }
    }
}

/// `true` when the regime allows a trade on `side` (see [`RegimeGate`]).
#[must_use]
pub fn regime_allows(g: &RegimeGate, s: &SignalSnapshot, side: Side, momentum_provided: bool) -> bool {
    match s.regime {
        Regime::Unknown => g.unknown,
        Regime::Ranging => g.ranging,
        Regime::HighVolatility => g.high_volatility,
        Regime::Trending => {
            let with_momentum = momentum_provided
                && match side {
                    Side::Buy => s.momentum_short_bps > 0.0,
                    Side::Sell => s.momentum_short_bps < 0.0,
                };
            g.trending && (!g.trend_follow_only || with_momentum)
        }
    }
}

/// Top-of-book imbalance in the direction of `side` (positive = supportive).
#[must_use]
pub fn directional_imbalance(s: &SignalSnapshot, side: Side) -> f64 {
    match side {
        Side::Buy => s.tob_imbalance,
        Side::Sell => -s.tob_imbalance,
    }
}

/// Inputs of the market-dependent gates.
#[derive(Debug, Clone, Copy)]
pub struct GateInputs<'a> {
    /// The snapshot.
    pub snapshot: &'a SignalSnapshot,
    /// What the source provides.
    pub provided: SignalFields,
    /// The candidate.
    pub candidate: Candidate,
    /// Spread in ticks, from the integer best bid and ask.
    pub spread_ticks: i64,
    /// Round-trip fee in bps (entry at maker or taker, exit at taker).
    pub round_trip_fee_bps: f64,
    /// Vote strengths.
    pub votes: &'a VoteSet,
}

/// Mean of `min(strength, cap)` over the votes agreeing with `side`.
#[must_use]
pub fn mean_strength(votes: &VoteSet, side: Side, cap: f64) -> f64 {
    let (sum, n) = VoteKind::ALL
        .iter()
        .filter(|k| votes.dir[**k as usize] == Some(side))
        .fold((0.0, 0u32), |(s, n), k| (s + votes.strength[*k as usize].min(cap), n + 1));
    if n == 0 { 0.0 } else { sum / f64::from(n) }
}

/// Expected move in bps for the edge gate (see [`crate::strategy::config::EdgeGate`]).
#[must_use]
pub fn expected_move_bps(gates: &GateConfig, inp: &GateInputs<'_>) -> f64 {
    let vol = if inp.provided.contains(SignalFields::VOLATILITY) && inp.snapshot.volatility_bps > 0.0 {
        inp.snapshot.volatility_bps
    } else {
        gates.edge.fallback_volatility_bps
    };
    mean_strength(inp.votes, inp.candidate.side, gates.edge.strength_cap) * vol * gates.edge.horizon_secs.sqrt()
}

/// The spread gate alone (a cascade trade has no votes behind it: it
/// passes the spread gate, not the signal gates).
pub fn check_spread(gates: &GateConfig, inp: &GateInputs<'_>, result: &mut GateResult) {
    if gates.spread.enabled && (inp.spread_ticks <= 0 || inp.spread_ticks as f64 > gates.spread.value) {
        result.fail(GateKind::Spread);
    }
}

/// Evaluates the market-dependent gates (imbalance … edge, and the master
/// plan's) into `result`.
pub fn check_market_gates(gates: &GateConfig, inp: &GateInputs<'_>, result: &mut GateResult) {
    let s = inp.snapshot;
    let side = inp.candidate.side;
    let has = |f: SignalFields| inp.provided.contains(f);
    if gates.imbalance.enabled && has(SignalFields::BOOK) && directional_imbalance(s, side) < gates.imbalance.value {
        result.fail(GateKind::Imbalance);
    }
    if gates.volume_surge.enabled && has(SignalFields::VOLUME_SURGE) && s.volume_surge < gates.volume_surge.value {
        result.fail(GateKind::VolumeSurge);
    }
    check_spread(gates, inp, result);
    // `cascade` names the side being liquidated: longs (Buy) being
    // liquidated push the price down, against a long.
    if gates.cascade && has(SignalFields::CASCADE) && s.cascade == Some(side) {
        result.fail(GateKind::Cascade);
    }
    if gates.regime.enabled
        && has(SignalFields::REGIME)
        && !regime_allows(&gates.regime, s, side, has(SignalFields::MOMENTUM))
    {
        result.fail(GateKind::Regime);
    }
    if gates.momentum_required && has(SignalFields::MOMENTUM) && s.momentum_aligned != Some(side) {
        result.fail(GateKind::Momentum);
    }
    if gates.edge.enabled && expected_move_bps(gates, inp) < inp.round_trip_fee_bps * gates.edge.fee_multiplier {
        result.fail(GateKind::Edge);
    }
    check_plan_gates(gates, inp, result);
}

/// The master plan's gates (net-flow surge, breakout and pullback, funding
/// veto, open interest): see [`GateConfig`]. A gate whose family is not
/// warm blocks (counted under its own name); the funding veto passes while
/// no funding rate was seen (nothing is crowded that anyone can tell); the
/// open-interest gate follows `when_missing` without open-interest data.
pub fn check_plan_gates(gates: &GateConfig, inp: &GateInputs<'_>, result: &mut GateResult) {
    let s = inp.snapshot;
    let side = inp.candidate.side;
    let has = |f: SignalFields| inp.provided.contains(f);
    let warm = |bit: u16| !has(SignalFields::WARM_FLAG) || s.warm_mask & bit != 0;
    let with = |x: f64| match side {
        Side::Buy => x > 0.0,
        Side::Sell => x < 0.0,
    };
    let g = &gates.net_flow_surge;
    if g.enabled && has(SignalFields::VOLUME_SURGE) {
        let flow_with = !has(SignalFields::SIGNED_VOLUME) || with(s.signed_volume);
        if s.net_flow_surge < g.value || !flow_with {
            result.fail(GateKind::NetFlowSurge);
        }
    }
    let b = &gates.breakout;
    if b.enabled && has(SignalFields::RANGE) {
        let broke = s.breakout == Some(side);
        let pulled = !b.require_pullback || s.pullback == Some(side);
        if !warm(crate::signal::warm::RANGE) || !broke || !pulled {
            result.fail(GateKind::Breakout);
        }
    }
    let f = &gates.funding_veto;
    if f.enabled && has(SignalFields::FUNDING) && warm(crate::signal::warm::FUNDING) {
        // Positive funding: longs pay, longs are the crowded side.
        let bps = s.funding_rate * 1e4;
        let crowded = match side {
            Side::Buy => bps >= f.value,
            Side::Sell => bps <= -f.value,
        };
        if crowded {
            result.fail(GateKind::FundingVeto);
        }
    }
    let o = &gates.open_interest;
    if o.enabled && has(SignalFields::OPEN_INTEREST) {
        if warm(crate::signal::warm::OPEN_INTEREST) {
            let price_with = match side {
                Side::Buy => s.oi_price_change_bps >= o.min_price_bps,
                Side::Sell => s.oi_price_change_bps <= -o.min_price_bps,
            } && with(s.oi_price_change_bps);
            if s.oi_change_pct < o.min_change_pct || !price_with {
                result.fail(GateKind::OpenInterest);
            }
        } else {
            match o.when_missing {
                WhenMissing::Block => result.fail(GateKind::OpenInterest),
                WhenMissing::Skip => result.no_data(GateKind::OpenInterest),
            }
        }
    }
}

/// Confidence band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Band {
    /// Below the observe band.
    None,
    /// Observe only.
    Observe,
    /// Base size.
    Base,
    /// Larger size.
    Large,
}

/// The band of a score.
#[must_use]
pub fn band(cfg: &ConfidenceConfig, score: f64) -> Band {
    if score >= cfg.large_from {
        Band::Large
    } else if score >= cfg.base_from {
        Band::Base
    } else if score >= cfg.observe_from {
        Band::Observe
    } else {
        Band::None
    }
}

/// The confidence score (module docs), before context points are added.
/// `available_votes` counts the votes with data; `a_min_agreeing` is the
/// A-tier requirement.
#[must_use]
pub fn confidence(
    cfg: &ConfidenceConfig,
    gates: &GateConfig,
    inp: &GateInputs<'_>,
    available_votes: u8,
    a_min_agreeing: u8,
) -> f64 {
    let c = inp.candidate;
    let net = (f64::from(c.agreeing) - cfg.opposing_penalty * f64::from(c.opposing)).max(0.0);
    let need = f64::from(c.tier.required_votes(a_min_agreeing).max(1));
    let votes = cfg.votes_weight * net.min(need) / need;
    let a_min = f64::from(a_min_agreeing);
    let available = f64::from(available_votes);
    let confluence = if net < a_min {
        0.0
    } else if available <= a_min {
        cfg.confluence_weight
    } else {
        cfg.confluence_weight * ((net - a_min) / (available - a_min)).clamp(0.0, 1.0)
    };
    let cap = gates.edge.strength_cap;
    let (sum, n) =
        VoteKind::ALL.iter().filter(|k| inp.votes.dir[**k as usize] == Some(c.side)).fold((0.0, 0u32), |(s, n), k| {
            let excess = if cap > 1.0 { (inp.votes.strength[*k as usize] - 1.0) / (cap - 1.0) } else { 1.0 };
            (s + excess.clamp(0.0, 1.0), n + 1)
        });
    let strength = if n == 0 { 0.0 } else { cfg.strength_weight * sum / f64::from(n) };

    let s = inp.snapshot;
    let has = |f: SignalFields| inp.provided.contains(f);
    let mut confirmations = [0.0f64; 3];
    let mut k = 0;
    if has(SignalFields::BOOK) {
        let min = if gates.imbalance.enabled { gates.imbalance.value } else { 0.0 };
        let imb = directional_imbalance(s, c.side);
        confirmations[k] = if min < 1.0 { ((imb - min) / (1.0 - min)).clamp(0.0, 1.0) } else { 0.0 };
        k += 1;
    }
    if has(SignalFields::VOLUME_SURGE) {
        confirmations[k] = (s.volume_surge - 1.0).clamp(0.0, 1.0);
        k += 1;
    }
    if has(SignalFields::MOMENTUM) {
        confirmations[k] = if s.momentum_aligned == Some(c.side) { 1.0 } else { 0.0 };
        k += 1;
    }
    let confirmation =
        if k == 0 { 0.0 } else { cfg.confirmation_weight * confirmations[..k].iter().sum::<f64>() / k as f64 };
    votes + confluence + strength + confirmation
}

/// Closed-trade statistics for Kelly sizing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct KellyStats {
    /// Winning trades (net PnL > 0).
    pub wins: u32,
    /// Losing trades (net PnL ≤ 0).
    pub losses: u32,
    /// Sum of winning net PnL, USDT.
    pub win_sum: f64,
    /// Sum of |losing net PnL|, USDT.
    pub loss_sum: f64,
}

impl KellyStats {
    /// Records a closed trade's net PnL.
    pub fn record(&mut self, net: Notional) {
        let x = net.0 as f64 / 1e8;
        if x > 0.0 {
            self.wins += 1;
            self.win_sum += x;
        } else {
            self.losses += 1;
            self.loss_sum += -x;
        }
    }

    /// Closed trades.
    #[must_use]
    pub fn trades(&self) -> u32 {
        self.wins + self.losses
    }

    /// Kelly fraction `W − (1 − W) / R`, `R` = mean win / mean loss; `None`
    /// before any trade.
    #[must_use]
    pub fn kelly(&self) -> Option<f64> {
        let n = self.trades();
        if n == 0 {
            return None;
        }
        let w = f64::from(self.wins) / f64::from(n);
        if self.losses == 0 || self.loss_sum == 0.0 {
            return Some(w);
        }
        if self.wins == 0 {
            return Some(0.0);
        }
        let r = (self.win_sum / f64::from(self.wins)) / (self.loss_sum / f64::from(self.losses));
        Some(w - (1.0 - w) / r)
    }
}

/// The equity share of a trade, at 8 decimals: the notional's share of
/// equity in equity-fraction mode, the share of equity risked at the stop
/// in risk mode. Kelly (when enabled and warm) replaces the A share, other
/// tiers keep their ratio to it; the top band multiplies it.
#[must_use]
pub fn equity_fraction(cfg: &SizingConfig, tier: Tier, band: Band, kelly: &KellyStats) -> Rate {
    let (tier_fraction, a_fraction) = match cfg.mode {
        SizingMode::EquityFraction => (
            match tier {
                Tier::A => cfg.a_fraction,
                Tier::B => cfg.b_fraction,
                Tier::Cascade => cfg.cascade_fraction,
            },
            cfg.a_fraction,
        ),
        SizingMode::Risk => (
            match tier {
                Tier::A => cfg.a_risk,
                Tier::B => cfg.b_risk,
                Tier::Cascade => cfg.cascade_risk,
            },
            cfg.a_risk,
        ),
    };
    let mut fraction = i128::from(tier_fraction.0);
    if cfg.kelly.enabled && kelly.trades() >= cfg.kelly.min_trades {
        let k = kelly.kelly().unwrap_or(0.0).max(0.0) * cfg.kelly.fraction.0 as f64 / 1e8;
        let k_e8 = ((k * 1e8) as i128).min(i128::from(cfg.kelly.cap.0));
        // B-trades keep their ratio to A-trades.
        fraction = k_e8 * i128::from(tier_fraction.0) / i128::from(a_fraction.0.max(1));
    }
    let fraction = i64::try_from(fraction).unwrap_or(i64::MAX);
    if band == Band::Large {
        return Rate(mul_div(fraction, cfg.large_multiplier.0, pow10(E8)).unwrap_or(i64::MAX));
    }
    Rate(fraction)
}

/// Order-size limits for one instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeLimits {
    /// Largest order quantity (instrument and risk limits).
    pub max_qty: Qty,
    /// Largest order notional (risk limit), USDT.
    pub max_notional: Notional,
}

/// `a × b / c`, truncated, for non-negative `a`, `b` and positive `c`: in
/// `u64` when the product fits (the common case, no 128-bit division),
/// else in `u128`. `None` when an input is out of range or the result does
/// not fit an `i64`.
fn mul_div(a: i64, b: i64, c: i64) -> Option<i64> {
    let (a, b, c) = (u64::try_from(a).ok()?, u64::try_from(b).ok()?, u64::try_from(c).ok()?);
    if c == 0 {
        return None;
    }
    let q = match a.checked_mul(b) {
        Some(product) => product / c,
        None => u64::try_from(u128::from(a) * u128::from(b) / u128::from(c)).ok()?,
    };
    i64::try_from(q).ok()
}

/// Quantity for `fraction` of `equity` at `price`, rounded down to the
/// step and capped by `limits`; `None` when below the instrument's minimum
/// quantity or notional.
#[must_use]
pub fn size_qty(equity: Notional, fraction: Rate, price: Price, inst: &Instrument, limits: &SizeLimits) -> Option<Qty> {
    if price.0 <= 0 || equity.0 <= 0 {
        return None;
    }
    let target = mul_div(equity.0, fraction.0, pow10(E8))?.min(limits.max_notional.0);
    finish_qty(qty_of_notional(target, price, inst)?.min(limits.max_qty.0), price, inst)
}

/// `notional_e8` (USDT at 8 decimals) at `price` as a quantity mantissa,
/// truncated: `notional × 10^(ps + qs) / (price × 10^8)`.
fn qty_of_notional(notional_e8: i64, price: Price, inst: &Instrument) -> Option<i64> {
    let scale = pow10(inst.price_scale.saturating_add(inst.qty_scale).min(crate::fixed::MAX_SCALE));
    mul_div(notional_e8, scale, price.0.checked_mul(pow10(E8))?)
}

/// Rounds a raw quantity down to the step; `None` below the instrument's
/// minimum quantity or notional.
fn finish_qty(raw: i64, price: Price, inst: &Instrument) -> Option<Qty> {
    let qty = raw - raw.rem_euclid(inst.step.0.max(1));
    let value = crate::fixed::notional(price, inst.price_scale, Qty(qty), inst.qty_scale)?;
    (qty >= inst.min_qty.0 && qty > 0 && value >= inst.min_notional).then_some(Qty(qty))
}

/// What sizes an entry ([`plan_qty`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeInputs {
    /// Equity, USDT.
    pub equity: Notional,
    /// The tier's share ([`equity_fraction`]).
    pub share: Rate,
    /// Further multiplier (time-of-day schedule × the risk side's size
    /// cap), 8 decimals: 1 is `Rate(100_000_000)`.
    pub factor: Rate,
    /// Entry price.
    pub price: Price,
    /// Stop distance (R), price mantissa (risk mode).
    pub stop_distance: i64,
    /// Round-trip fee rate added to the loss at the stop (risk mode; 0 to leave fees out).
    pub fee_rate: Rate,
    /// Effective leverage.
    pub leverage: u8,
    /// Largest margin share of equity per position.
    pub position_share: Rate,
}

/// The entry quantity (module docs, *Size*): in equity-fraction mode
/// `equity × share × factor` of notional; in risk mode
/// `equity × share × factor ÷ (stop distance + price × fee rate)` of
/// quantity. Both capped at `equity × position_share × leverage` of
/// notional, the risk configuration's order notional and the order
/// quantity limits, rounded down to the step. `None` when nothing valid
/// remains (below the instrument's minimum, a zero factor, no stop).
#[must_use]
pub fn plan_qty(mode: SizingMode, inp: &SizeInputs, inst: &Instrument, limits: &SizeLimits) -> Option<Qty> {
    if inp.price.0 <= 0 || inp.equity.0 <= 0 {
        return None;
    }
    let e8 = pow10(E8);
    let budget = mul_div(mul_div(inp.equity.0, inp.share.0, e8)?, inp.factor.0, e8)?;
    let margin = mul_div(inp.equity.0, inp.position_share.0, e8)?;
    let cap = margin.checked_mul(i64::from(inp.leverage.max(1)))?.min(limits.max_notional.0);
    let cap_qty = qty_of_notional(cap, inp.price, inst)?;
    let raw = match mode {
        SizingMode::EquityFraction => qty_of_notional(budget.min(cap), inp.price, inst)?,
        SizingMode::Risk => {
            let fee = mul_div(inp.price.0, inp.fee_rate.0, e8)?;
            let per_unit = inp.stop_distance.checked_add(fee)?;
            if per_unit <= 0 {
                return None;
            }
            let scale = pow10(inst.price_scale.saturating_add(inst.qty_scale).min(crate::fixed::MAX_SCALE));
            mul_div(budget, scale, per_unit.checked_mul(e8)?)?.min(cap_qty)
        }
    };
    finish_qty(raw.min(limits.max_qty.0), inp.price, inst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::StrategyConfig;
    use crate::venue::Venue;

    fn btc() -> Instrument {
        crate::risk::test_support::btc(Venue::BinanceUsdm)
    }

    fn inputs<'a>(s: &'a SignalSnapshot, votes: &'a VoteSet, c: Candidate) -> GateInputs<'a> {
        GateInputs {
            snapshot: s,
            provided: SignalFields::ALL,
            candidate: c,
            spread_ticks: 1,
            round_trip_fee_bps: 6.0,
            votes,
        }
    }

    fn long_a() -> Candidate {
        Candidate { side: Side::Buy, tier: Tier::A, agreeing: 5, opposing: 0 }
    }

    #[test]
    fn bands_at_their_edges() {
        let c = StrategyConfig::default().confidence;
        assert_eq!(band(&c, 69.999), Band::None);
        assert_eq!(band(&c, 70.0), Band::Observe);
        assert_eq!(band(&c, 79.9), Band::Observe);
        assert_eq!(band(&c, 80.0), Band::Base);
        assert_eq!(band(&c, 89.9), Band::Base);
        assert_eq!(band(&c, 90.0), Band::Large);
        assert_eq!(band(&c, 100.0), Band::Large);
    }

    #[test]
    fn confidence_is_the_documented_sum() {
        let cfg = StrategyConfig::default();
        // Five long votes at strength 2 (cap 3 → excess 0.5), imbalance 0.65
        // (margin (0.65 − 0.3) / 0.7 = 0.5), surge 1.5 (0.5), momentum aligned (1).
        let votes = VoteSet { dir: [Some(Side::Buy); 5], strength: [2.0; 5] };
        let s = SignalSnapshot {
            tob_imbalance: 0.65,
            volume_surge: 1.5,
            momentum_aligned: Some(Side::Buy),
            ..SignalSnapshot::default()
        };
        let score = confidence(&cfg.confidence, &cfg.gates, &inputs(&s, &votes, long_a()), 5, 3);
        let want = 50.0 + 10.0 + 25.0 * 0.5 + 15.0 * (0.5 + 0.5 + 1.0) / 3.0;
        assert!((score - want).abs() < 1e-9, "{score} vs {want}");
        // One opposing vote among three agreeing: net 2 of the 3 an A needs,
        // 50 × 2 / 3, no confluence.
        let c = Candidate { agreeing: 3, opposing: 1, ..long_a() };
        let votes = VoteSet {
            dir: [Some(Side::Buy), Some(Side::Buy), Some(Side::Sell), None, Some(Side::Buy)],
            strength: [1.0, 1.0, 1.0, 0.0, 1.0],
        };
        let score = confidence(&cfg.confidence, &cfg.gates, &inputs(&s, &votes, c), 5, 3);
        assert!((score - (50.0 * 2.0 / 3.0 + 0.0 + 10.0)).abs() < 1e-9, "{score}");
        // Four of five: half the confluence (one of the two votes beyond 3).
        let c = Candidate { agreeing: 4, opposing: 0, ..long_a() };
        let votes = VoteSet {
            dir: [Some(Side::Buy), Some(Side::Buy), Some(Side::Buy), None, Some(Side::Buy)],
            strength: [1.0; 5],
        };
        let score = confidence(&cfg.confidence, &cfg.gates, &inputs(&s, &votes, c), 5, 3);
        assert!((score - (50.0 + 5.0 + 0.0 + 10.0)).abs() < 1e-9, "{score}");
    }

    #[test]
    fn every_failing_gate_is_reported() {
        let cfg = StrategyConfig::default();
        let votes = VoteSet { dir: [Some(Side::Buy); 5], strength: [1.0; 5] };
        let s = SignalSnapshot {
            tob_imbalance: -0.5,
            volume_surge: 0.5,
            cascade: Some(Side::Buy),
            regime: Regime::HighVolatility,
            volatility_bps: 0.1,
            ..SignalSnapshot::default()
        };
        let mut inp = inputs(&s, &votes, long_a());
        inp.spread_ticks = 5;
        let mut r = GateResult::default();
        check_market_gates(&cfg.gates, &inp, &mut r);
        for g in [
            GateKind::Imbalance,
            GateKind::VolumeSurge,
            GateKind::Spread,
            GateKind::Cascade,
            GateKind::Regime,
            GateKind::Edge,
        ] {
            assert!(r.failed(g), "{g:?}");
        }
        assert!(!r.failed(GateKind::Momentum)); // not required by default
        // The same snapshot passes every gate for a source that provides none
        // of their inputs, except spread and edge which need none.
        inp.provided = SignalFields::NONE;
        let mut r = GateResult::default();
        check_market_gates(&cfg.gates, &inp, &mut r);
        assert!(r.failed(GateKind::Spread) && r.failed(GateKind::Edge) && !r.failed(GateKind::Imbalance));
    }

    #[test]
    fn imbalance_gate_threshold_is_inclusive_and_directional() {
        let cfg = StrategyConfig::default();
        let votes = VoteSet { dir: [Some(Side::Sell); 5], strength: [3.0; 5] };
        let short = Candidate { side: Side::Sell, ..long_a() };
        for (imb, blocked) in [(-0.30, false), (-0.29, true), (0.5, true)] {
            let s = SignalSnapshot {
                tob_imbalance: imb,
                volume_surge: 2.0,
                regime: Regime::Ranging,
                volatility_bps: 5.0,
                ..SignalSnapshot::default()
            };
            let mut r = GateResult::default();
            check_market_gates(&cfg.gates, &inputs(&s, &votes, short), &mut r);
            assert_eq!(r.failed(GateKind::Imbalance), blocked, "imbalance {imb}");
            assert!(!r.failed(GateKind::Edge));
        }
    }

    #[test]
    fn edge_gate_compares_expected_move_with_fees() {
        let mut cfg = StrategyConfig::default();
        cfg.gates.edge.horizon_secs = 4.0;
        cfg.gates.edge.fee_multiplier = 2.0;
        let votes =
            VoteSet { dir: [Some(Side::Buy), None, None, None, Some(Side::Buy)], strength: [1.5, 0.0, 0.0, 0.0, 1.5] };
        // Expected 1.5 × vol × 2 against 6 bps × 2 = 12: vol 4 passes, 3.99 fails.
        for (vol, fails) in [(4.0, false), (3.99, true)] {
            let s = SignalSnapshot { volatility_bps: vol, ..SignalSnapshot::default() };
            let inp = inputs(&s, &votes, long_a());
            assert!((expected_move_bps(&cfg.gates, &inp) - 3.0 * vol).abs() < 1e-9);
            let mut r = GateResult::default();
            check_market_gates(&cfg.gates, &inp, &mut r);
            assert_eq!(r.failed(GateKind::Edge), fails, "vol {vol}");
        }
    }

    #[test]
    fn regime_rules() {
        let g = StrategyConfig::default().gates.regime;
        let s = |regime, mom| SignalSnapshot { regime, momentum_short_bps: mom, ..SignalSnapshot::default() };
        assert!(!regime_allows(&g, &s(Regime::Unknown, 0.0), Side::Buy, true));
        assert!(regime_allows(&g, &s(Regime::Ranging, 0.0), Side::Sell, true));
        assert!(!regime_allows(&g, &s(Regime::HighVolatility, 0.0), Side::Buy, true));
        assert!(regime_allows(&g, &s(Regime::Trending, 3.0), Side::Buy, true));
        assert!(!regime_allows(&g, &s(Regime::Trending, 3.0), Side::Sell, true));
    }

    #[test]
    fn size_is_a_fraction_of_equity_on_the_step_within_limits() {
        let cfg = StrategyConfig::default().sizing;
        let inst = btc();
        let limits = SizeLimits { max_qty: Qty(1_000_000), max_notional: Notional(1_000_000 * 100_000_000) };
        let equity = Notional(10_000 * 100_000_000);
        let kelly = KellyStats::default();
        // A: 5 % of 10 000 = 500 USDT at 61 800.20 → 0.00809… BTC → 0.008.
        let f = equity_fraction(&cfg, Tier::A, Band::Base, &kelly);
        assert_eq!(f, Rate(5_000_000));
        assert_eq!(size_qty(equity, f, Price(6_180_020), &inst, &limits), Some(Qty(8)));
        // Large band: × 1.5 = 750 USDT → 0.012.
        let f = equity_fraction(&cfg, Tier::A, Band::Large, &kelly);
        assert_eq!(size_qty(equity, f, Price(6_180_020), &inst, &limits), Some(Qty(12)));
        // B: 2 % = 200 USDT → 0.003 BTC = 185 USDT ≥ 100 minimum.
        let f = equity_fraction(&cfg, Tier::B, Band::Base, &kelly);
        assert_eq!(size_qty(equity, f, Price(6_180_020), &inst, &limits), Some(Qty(3)));
        // Capped by the risk notional limit: 150 USDT → 0.002 BTC = 123.6 USDT.
        let capped = SizeLimits { max_notional: Notional(150 * 100_000_000), ..limits };
        assert_eq!(size_qty(equity, Rate(5_000_000), Price(6_180_020), &inst, &capped), Some(Qty(2)));
        // Below the 100 USDT minimum notional: no order.
        let tiny = SizeLimits { max_notional: Notional(90 * 100_000_000), ..limits };
        assert_eq!(size_qty(equity, Rate(5_000_000), Price(6_180_020), &inst, &tiny), None);
        // Capped by quantity.
        let qcap = SizeLimits { max_qty: Qty(5), ..limits };
        assert_eq!(size_qty(equity, Rate(5_000_000), Price(6_180_020), &inst, &qcap), Some(Qty(5)));
    }

    proptest::proptest! {
        #[test]
        fn mul_div_agrees_with_128_bit_arithmetic(a in 0i64..i64::MAX, b in 0i64..1_000_000_000_000, c in 1i64..i64::MAX) {
            let want = i64::try_from(i128::from(a) * i128::from(b) / i128::from(c)).ok();
            proptest::prop_assert_eq!(mul_div(a, b, c), want);
        }
    }

    #[test]
    fn kelly_from_running_results_capped() {
        let mut cfg = StrategyConfig::default().sizing;
        cfg.kelly.enabled = true;
        cfg.kelly.min_trades = 4;
        let mut k = KellyStats::default();
        for pnl in [20, 20, 20, -10] {
            k.record(Notional(pnl * 100_000_000));
        }
        // W = 0.75, R = 20 / 10 = 2 → f* = 0.75 − 0.25 / 2 = 0.625; × 0.25 = 0.15625, capped at 0.10.
        assert!((k.kelly().unwrap() - 0.625).abs() < 1e-12);
        assert_eq!(equity_fraction(&cfg, Tier::A, Band::Base, &k), Rate(10_000_000));
        // B keeps its 2 : 5 ratio to A.
        assert_eq!(equity_fraction(&cfg, Tier::B, Band::Base, &k), Rate(4_000_000));
        // A losing record sizes to zero.
        let mut bad = KellyStats::default();
        for pnl in [-1, -1, -1, 1] {
            bad.record(Notional(pnl * 100_000_000));
        }
        assert_eq!(equity_fraction(&cfg, Tier::A, Band::Base, &bad), Rate(0));
    }

    fn plan_gates() -> GateConfig {
        let mut g = StrategyConfig::default().gates;
        g.net_flow_surge.enabled = true;
        g.breakout.enabled = true;
        g.funding_veto.enabled = true;
        g.open_interest.enabled = true;
        g
    }

    /// A long snapshot on which every plan gate passes.
    fn plan_ok() -> SignalSnapshot {
        use crate::signal::warm;
        SignalSnapshot {
            warm_mask: warm::RANGE | warm::FUNDING | warm::OPEN_INTEREST,
            net_flow_surge: 3.0,
            signed_volume: 1.0,
            breakout: Some(Side::Buy),
            pullback: Some(Side::Buy),
            funding_rate: 0.000_49,
            oi_change_pct: 0.5,
            oi_price_change_bps: 2.0,
            ..SignalSnapshot::default()
        }
    }

    fn plan_result(g: &GateConfig, s: &SignalSnapshot, side: Side) -> GateResult {
        let votes = VoteSet::default();
        let c = Candidate { side, ..long_a() };
        let mut r = GateResult::default();
        check_plan_gates(g, &inputs(s, &votes, c), &mut r);
        r
    }

    #[test]
    fn net_flow_surge_gate_at_its_threshold_and_direction() {
        let g = plan_gates();
        assert!(plan_result(&g, &plan_ok(), Side::Buy).passed(), "3.0 is at the threshold");
        let below = SignalSnapshot { net_flow_surge: 2.999, ..plan_ok() };
        assert!(plan_result(&g, &below, Side::Buy).failed(GateKind::NetFlowSurge));
        let against = SignalSnapshot { signed_volume: -1.0, ..plan_ok() };
        assert!(plan_result(&g, &against, Side::Buy).failed(GateKind::NetFlowSurge));
    }

    #[test]
    fn breakout_gate_needs_the_break_and_its_pullback() {
        let mut g = plan_gates();
        let no_pullback = SignalSnapshot { pullback: None, ..plan_ok() };
        assert!(plan_result(&g, &no_pullback, Side::Buy).failed(GateKind::Breakout));
        let other_way = SignalSnapshot { breakout: Some(Side::Sell), pullback: Some(Side::Sell), ..plan_ok() };
        assert!(plan_result(&g, &other_way, Side::Buy).failed(GateKind::Breakout));
        let cold = SignalSnapshot { warm_mask: 0, ..plan_ok() };
        assert!(plan_result(&g, &cold, Side::Buy).failed(GateKind::Breakout), "range not warm");
        g.breakout.require_pullback = false;
        assert!(!plan_result(&g, &no_pullback, Side::Buy).failed(GateKind::Breakout));
    }

    #[test]
    fn funding_veto_at_its_threshold_on_the_crowded_side() {
        let g = plan_gates(); // extreme at 5 bps
        // 4.9 bps: passes; 5 bps: longs are vetoed, shorts are not.
        assert!(!plan_result(&g, &plan_ok(), Side::Buy).failed(GateKind::FundingVeto));
        let extreme = SignalSnapshot { funding_rate: 0.000_5, ..plan_ok() };
        assert!(plan_result(&g, &extreme, Side::Buy).failed(GateKind::FundingVeto));
        let short_ok = SignalSnapshot { oi_price_change_bps: -2.0, signed_volume: -1.0, ..extreme };
        assert!(!plan_result(&g, &short_ok, Side::Sell).failed(GateKind::FundingVeto));
        let negative = SignalSnapshot { funding_rate: -0.000_5, ..short_ok };
        assert!(plan_result(&g, &negative, Side::Sell).failed(GateKind::FundingVeto));
        // No funding rate seen yet: nothing is known to be crowded.
        let unknown = SignalSnapshot { warm_mask: plan_ok().warm_mask & !crate::signal::warm::FUNDING, ..extreme };
        assert!(!plan_result(&g, &unknown, Side::Buy).failed(GateKind::FundingVeto));
    }

    #[test]
    fn open_interest_gate_at_its_threshold_and_without_data() {
        let mut g = plan_gates(); // 0.5 %, price with the trade
        assert!(!plan_result(&g, &plan_ok(), Side::Buy).failed(GateKind::OpenInterest));
        let below = SignalSnapshot { oi_change_pct: 0.499, ..plan_ok() };
        assert!(plan_result(&g, &below, Side::Buy).failed(GateKind::OpenInterest));
        let price_against = SignalSnapshot { oi_price_change_bps: -0.1, ..plan_ok() };
        assert!(plan_result(&g, &price_against, Side::Buy).failed(GateKind::OpenInterest));
        g.open_interest.min_price_bps = 2.0;
        assert!(!plan_result(&g, &plan_ok(), Side::Buy).failed(GateKind::OpenInterest), "2.0 bps is at 2.0");
        g.open_interest.min_price_bps = 2.01;
        assert!(plan_result(&g, &plan_ok(), Side::Buy).failed(GateKind::OpenInterest));
        // Without data: skipped (and counted) or blocked, as configured.
        let none = SignalSnapshot { warm_mask: crate::signal::warm::RANGE | crate::signal::warm::FUNDING, ..plan_ok() };
        let r = plan_result(&g, &none, Side::Buy);
        assert!(!r.failed(GateKind::OpenInterest) && r.lacked_data(GateKind::OpenInterest));
        let mut stats = GateStats::default();
        stats.record(Tier::A, r, 85.0);
        assert_eq!(stats.no_data[GateKind::OpenInterest as usize], 1);
        g.open_interest.when_missing = WhenMissing::Block;
        assert!(plan_result(&g, &none, Side::Buy).failed(GateKind::OpenInterest));
    }

    #[test]
    fn plan_gates_are_off_by_default() {
        let g = StrategyConfig::default().gates;
        let hostile = SignalSnapshot { funding_rate: 0.01, breakout: Some(Side::Sell), ..SignalSnapshot::default() };
        assert!(plan_result(&g, &hostile, Side::Buy).passed());
    }

    #[test]
    fn risk_sizing_and_its_caps() {
        let inst = btc();
        let limits = SizeLimits { max_qty: Qty(1_000_000), max_notional: Notional(1_000_000 * 100_000_000) };
        let base = SizeInputs {
            equity: Notional(10_000 * 100_000_000),
            share: Rate(1_000_000), // 1 % at risk: 100 USDT
            factor: Rate(100_000_000),
            price: Price(5_000_000),
            stop_distance: 5_000, // 50.00
            fee_rate: Rate(0),
            leverage: 20,
            position_share: Rate(100_000_000),
        };
        // 100 / 50 = 2.000 BTC = 100 000 USDT ≤ 10 000 × 1 × 20.
        assert_eq!(plan_qty(SizingMode::Risk, &base, &inst, &limits), Some(Qty(2_000)));
        // Fees in the loss: 50.00 + 50 000 × 0.0006 = 80.00 → 1.250.
        let fees = SizeInputs { fee_rate: Rate(60_000), ..base };
        assert_eq!(plan_qty(SizingMode::Risk, &fees, &inst, &limits), Some(Qty(1_250)));
        // Leverage 5: cap 50 000 USDT = 1.000 BTC (at); leverage 4: 0.800.
        assert_eq!(plan_qty(SizingMode::Risk, &SizeInputs { leverage: 5, ..base }, &inst, &limits), Some(Qty(1_000)));
        assert_eq!(plan_qty(SizingMode::Risk, &SizeInputs { leverage: 4, ..base }, &inst, &limits), Some(Qty(800)));
        // The order limits: 30 000 USDT → 0.600.
        let tight = SizeLimits { max_notional: Notional(30_000 * 100_000_000), ..limits };
        assert_eq!(plan_qty(SizingMode::Risk, &base, &inst, &tight), Some(Qty(600)));
        // A factor of 0.5 halves it; 0 sizes nothing.
        let half = SizeInputs { factor: Rate(50_000_000), ..base };
        assert_eq!(plan_qty(SizingMode::Risk, &half, &inst, &limits), Some(Qty(1_000)));
        assert_eq!(plan_qty(SizingMode::Risk, &SizeInputs { factor: Rate(0), ..base }, &inst, &limits), None);
        // Equity-fraction mode: notional = 10 000 × 1 % = 100 USDT → 0.002 BTC,
        // the same as size_qty.
        let f = plan_qty(SizingMode::EquityFraction, &base, &inst, &limits);
        assert_eq!(f, size_qty(base.equity, base.share, base.price, &inst, &limits));
        assert_eq!(f, Some(Qty(2)));
    }

    #[test]
    fn risk_mode_shares_and_kelly() {
        let mut cfg = StrategyConfig::default().sizing;
        cfg.mode = SizingMode::Risk;
        let k = KellyStats::default();
        assert_eq!(equity_fraction(&cfg, Tier::A, Band::Base, &k), Rate(500_000));
        assert_eq!(equity_fraction(&cfg, Tier::B, Band::Base, &k), Rate(250_000));
        assert_eq!(equity_fraction(&cfg, Tier::Cascade, Band::Base, &k), Rate(250_000));
        assert_eq!(equity_fraction(&cfg, Tier::A, Band::Large, &k), Rate(750_000));
        // Kelly capped at 0.5 % risk: W 0.75, R 2 → f* 0.625 × 0.25 = 0.156 → cap.
        cfg.kelly.enabled = true;
        cfg.kelly.min_trades = 4;
        cfg.kelly.cap = Rate(500_000);
        let mut won = KellyStats::default();
        for pnl in [20, 20, 20, -10] {
            won.record(Notional(pnl * 100_000_000));
        }
        assert_eq!(equity_fraction(&cfg, Tier::A, Band::Base, &won), Rate(500_000));
        assert_eq!(equity_fraction(&cfg, Tier::B, Band::Base, &won), Rate(250_000));
        // One trade short of min_trades: the fixed fraction.
        cfg.kelly.min_trades = 5;
        cfg.a_risk = Rate(300_000);
        assert_eq!(equity_fraction(&cfg, Tier::A, Band::Base, &won), Rate(300_000));
    }

    /// The master plan's stack: volume ≥ 2× its average (just below / at),
    /// 1- and 5-minute momentum aligned with the trade when required.
    #[test]
    fn volume_and_momentum_gates_of_the_stack() {
        let mut g = StrategyConfig::default().gates;
        g.volume_surge.value = 2.0;
        g.momentum_required = true;
        let votes = VoteSet { dir: [Some(Side::Buy); 5], strength: [3.0; 5] };
        let check = |s: &SignalSnapshot| {
            let mut r = GateResult::default();
            check_market_gates(&g, &inputs(s, &votes, long_a()), &mut r);
            r
        };
        let base = SignalSnapshot {
            tob_imbalance: 0.5,
            volume_surge: 2.0,
            momentum_aligned: Some(Side::Buy),
            regime: Regime::Ranging,
            volatility_bps: 5.0,
            ..SignalSnapshot::default()
        };
        assert!(check(&base).passed());
        assert!(check(&SignalSnapshot { volume_surge: 1.999, ..base }).failed(GateKind::VolumeSurge));
        assert!(check(&SignalSnapshot { momentum_aligned: None, ..base }).failed(GateKind::Momentum));
        assert!(check(&SignalSnapshot { momentum_aligned: Some(Side::Sell), ..base }).failed(GateKind::Momentum));
    }
}
