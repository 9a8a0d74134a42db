//! The five-signal confluence: order flow (OFI), VWAP deviation,
//! acceleration, funding bias and OU drift each vote long, short or
//! abstain, and the votes make a trade tier.
//!
//! - A vote is cast when its input's magnitude reaches its threshold; its
//!   *strength* is `|value| / threshold` (so at least 1 when cast).
//! - **A-trade**: at least `a_min_agreeing` (3) of the five agree, the
//!   order-flow and drift votes among them.
//! - **B-trade** (scout): order flow and drift agree, fewer than
//!   `a_min_agreeing` in all.
//! - Anything else is no candidate.
//!
//! References: order flow imbalance, Cont, Kukanov & Stoikov, "The Price
//! Impact of Order Book Events", J. Financial Econometrics 12(1), 2014;
//! microprice, Stoikov, "The micro-price: a high-frequency estimator of
//! future prices", Quantitative Finance 18(12), 2018 (the drift fallback).
//!
//! Inputs are resolved once against what the signal source provides
//! ([`SignalFields`]): the order-flow and drift votes fall back to their
//! configured fallback input, or abstain; the other three abstain when
//! their field is not provided.

use crate::side::Side;
use crate::signal::SignalSnapshot;
use crate::strategy::config::{DriftInput, FlowInput, VoteConfig, VwapMode};
use crate::strategy::inputs::SignalFields;

/// The five votes, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum VoteKind {
    /// Order flow imbalance (or its configured fallback).
    OrderFlow = 0,
    /// Deviation of the mid from VWAP.
    VwapDeviation = 1,
    /// Mid acceleration.
    Acceleration = 2,
    /// Funding bias.
    FundingBias = 3,
    /// Ornstein–Uhlenbeck drift (or its configured fallback).
    Drift = 4,
}

impl VoteKind {
    /// All five, by index.
    pub const ALL: [VoteKind; 5] =
        [VoteKind::OrderFlow, VoteKind::VwapDeviation, VoteKind::Acceleration, VoteKind::FundingBias, VoteKind::Drift];

    /// Name for reports.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            VoteKind::OrderFlow => "order_flow",
            VoteKind::VwapDeviation => "vwap_deviation",
            VoteKind::Acceleration => "acceleration",
            VoteKind::FundingBias => "funding_bias",
            VoteKind::Drift => "drift",
        }
    }
}

/// Trade tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// Full confluence: full size, normal exits.
    A,
    /// Scout: smaller size, tighter exits.
    B,
    /// A liquidation cascade traded in its direction (no votes; its own
    /// exits and hold limit, see [`crate::strategy::config::CascadeTradeConfig`]).
    Cascade,
}

impl Tier {
    /// Every tier, in report order.
    pub const ALL: [Tier; 3] = [Tier::A, Tier::B, Tier::Cascade];

    /// `"A"`, `"B"` or `"cascade"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Tier::A => "A",
            Tier::B => "B",
            Tier::Cascade => "cascade",
        }
    }

    /// Index in [`Tier::ALL`].
    #[must_use]
    pub const fn index(self) -> usize {
        match self {
            Tier::A => 0,
            Tier::B => 1,
            Tier::Cascade => 2,
        }
    }

    /// Net agreeing votes the tier requires (`a_min` for A, 2 for B: order
    /// flow and drift; none for a cascade trade).
    #[must_use]
    pub const fn required_votes(self, a_min: u8) -> u8 {
        match self {
            Tier::A => a_min,
            Tier::B => 2,
            Tier::Cascade => 0,
        }
    }
}

/// What each vote reads, after resolving against the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedInputs {
    /// Order-flow input, if any is provided.
    pub flow: Option<FlowInput>,
    /// Drift input, if any is provided.
    pub drift: Option<DriftInput>,
    /// VWAP provided.
    pub vwap: bool,
    /// Acceleration provided.
    pub acceleration: bool,
    /// Funding provided.
    pub funding: bool,
}

const fn flow_field(input: FlowInput) -> SignalFields {
    match input {
        FlowInput::Ofi => SignalFields::OFI,
        FlowInput::OfiMulti => SignalFields::OFI_MULTI,
        FlowInput::SignedVolume => SignalFields::SIGNED_VOLUME.with(SignalFields::BOOK),
        FlowInput::TobImbalance => SignalFields::BOOK,
    }
}

const fn drift_field(input: DriftInput) -> SignalFields {
    match input {
        DriftInput::OuDrift => SignalFields::OU,
        DriftInput::Microprice => SignalFields::BOOK,
    }
}

impl ResolvedInputs {
    /// Resolves the configured inputs against what the source provides.
    #[must_use]
    pub fn resolve(cfg: &VoteConfig, provided: SignalFields) -> Self {
        let flow = [Some(cfg.order_flow_input), cfg.order_flow_fallback]
            .into_iter()
            .flatten()
            .find(|i| provided.contains(flow_field(*i)));
        let drift = [Some(cfg.drift_input), cfg.drift_fallback]
            .into_iter()
            .flatten()
            .find(|i| provided.contains(drift_field(*i)));
        Self {
            flow,
            drift,
            vwap: provided.contains(SignalFields::VWAP),
            acceleration: provided.contains(SignalFields::ACCELERATION),
            funding: provided.contains(SignalFields::FUNDING),
        }
    }

    /// Whether each vote can be cast at all, by [`VoteKind`] index.
    #[must_use]
    pub fn available(&self) -> [bool; 5] {
        [self.flow.is_some(), self.vwap, self.acceleration, self.funding, self.drift.is_some()]
    }

    /// The input each vote reads, by [`VoteKind`] index (`None`: abstains always).
    #[must_use]
    pub fn names(&self) -> [Option<&'static str>; 5] {
        [
            self.flow.map(FlowInput::name),
            self.vwap.then_some("vwap_dev_sigma"),
            self.acceleration.then_some("acceleration_bps_s2"),
            self.funding.then_some("funding_bias"),
            self.drift.map(DriftInput::name),
        ]
    }
}

/// The five votes for one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct VoteSet {
    /// Each vote's direction, `None` = abstain.
    pub dir: [Option<Side>; 5],
    /// `|value| / threshold` of each cast vote, 0 when abstaining.
    pub strength: [f64; 5],
}

/// `Some(Buy)` for `value ≥ threshold`, `Some(Sell)` for `≤ −threshold`.
fn signed_vote(value: f64, threshold: f64) -> (Option<Side>, f64) {
    if !value.is_finite() {
        return (None, 0.0);
    }
    let strength = value.abs() / threshold;
    if strength < 1.0 {
        (None, 0.0)
    } else if value > 0.0 {
        (Some(Side::Buy), strength)
    } else {
        (Some(Side::Sell), strength)
    }
}

/// Casts the five votes.
#[must_use]
pub fn cast(cfg: &VoteConfig, inputs: &ResolvedInputs, s: &SignalSnapshot) -> VoteSet {
    let mut set = VoteSet::default();
    let mut put = |kind: VoteKind, (dir, strength): (Option<Side>, f64)| {
        set.dir[kind as usize] = dir;
        set.strength[kind as usize] = strength;
    };
    if let Some(flow) = inputs.flow {
        put(
            VoteKind::OrderFlow,
            match flow {
                FlowInput::Ofi => signed_vote(s.ofi, cfg.ofi_threshold),
                FlowInput::OfiMulti => signed_vote(s.ofi_multi, cfg.ofi_multi_threshold),
                FlowInput::SignedVolume => signed_vote(s.signed_volume * s.mid, cfg.signed_volume_usdt_threshold),
                FlowInput::TobImbalance => signed_vote(s.tob_imbalance, cfg.tob_imbalance_threshold),
            },
        );
    }
    if inputs.vwap {
        let (dir, strength) = signed_vote(s.vwap_dev_sigma, cfg.vwap_sigma_threshold);
        let dir = match cfg.vwap_mode {
            VwapMode::Trend => dir,
            VwapMode::Revert => dir.map(Side::opposite),
        };
        put(VoteKind::VwapDeviation, (dir, strength));
    }
    if inputs.acceleration {
        put(VoteKind::Acceleration, signed_vote(s.acceleration_bps_s2, cfg.acceleration_threshold_bps_s2));
    }
    if inputs.funding {
        put(VoteKind::FundingBias, signed_vote(s.funding_bias, cfg.funding_bias_threshold));
    }
    if let Some(drift) = inputs.drift {
        put(
            VoteKind::Drift,
            match drift {
                DriftInput::OuDrift => {
                    let (dir, strength) = signed_vote(s.ou_zscore, cfg.ou_zscore_threshold);
                    // The z-score sizes the vote; the drift sign (towards μ) directs it.
                    match (dir, s.ou_drift) {
                        (Some(_), 1) => (Some(Side::Buy), strength),
                        (Some(_), -1) => (Some(Side::Sell), strength),
                        _ => (None, 0.0),
                    }
                }
                DriftInput::Microprice => {
                    let bps = if s.mid > 0.0 { (s.microprice - s.mid) / s.mid * 10_000.0 } else { f64::NAN };
                    signed_vote(bps, cfg.microprice_threshold_bps)
                }
            },
        );
    }
    set
}

/// A trade the votes propose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Direction: `Buy` = long.
    pub side: Side,
    /// Tier.
    pub tier: Tier,
    /// Votes agreeing with `side`.
    pub agreeing: u8,
    /// Votes against `side`.
    pub opposing: u8,
}

/// The tier the votes make, if any (see the module docs).
#[must_use]
pub fn classify(votes: &VoteSet, a_min_agreeing: u8) -> Option<Candidate> {
    let flow = votes.dir[VoteKind::OrderFlow as usize]?;
    let drift = votes.dir[VoteKind::Drift as usize]?;
    if flow != drift {
        return None;
    }
    let agreeing = votes.dir.iter().filter(|d| **d == Some(flow)).count() as u8;
    let opposing = votes.dir.iter().filter(|d| **d == Some(flow.opposite())).count() as u8;
    let tier = if agreeing >= a_min_agreeing { Tier::A } else { Tier::B };
    Some(Candidate { side: flow, tier, agreeing, opposing })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_inputs() -> (VoteConfig, ResolvedInputs) {
        let cfg = crate::strategy::StrategyConfig::default().votes;
        let inputs = ResolvedInputs::resolve(&cfg, SignalFields::ALL);
        (cfg, inputs)
    }

    use crate::strategy::test_support::long_snapshot as all_long;

    #[test]
    fn five_long_votes_make_an_a_trade() {
        let (cfg, inputs) = all_inputs();
        let v = cast(&cfg, &inputs, &all_long());
        assert_eq!(v.dir, [Some(Side::Buy); 5]);
        assert!(v.strength.iter().all(|s| (*s - 2.0).abs() < 1e-12), "{:?}", v.strength);
        let c = classify(&v, 3).unwrap();
        assert_eq!((c.side, c.tier, c.agreeing, c.opposing), (Side::Buy, Tier::A, 5, 0));
    }

    #[test]
    fn three_agreeing_with_ofi_and_ou_is_a_but_two_is_b() {
        let (cfg, inputs) = all_inputs();
        let mut s = all_long();
        s.funding_bias = 0.0; // abstain
        s.acceleration_bps_s2 = -1.0; // oppose
        let c = classify(&cast(&cfg, &inputs, &s), 3).unwrap();
        assert_eq!((c.tier, c.agreeing, c.opposing), (Tier::A, 3, 1));
        s.vwap_dev_sigma = 0.0;
        let c = classify(&cast(&cfg, &inputs, &s), 3).unwrap();
        assert_eq!((c.tier, c.agreeing, c.opposing), (Tier::B, 2, 1));
    }

    #[test]
    fn no_candidate_without_ofi_and_ou_agreeing() {
        let (cfg, inputs) = all_inputs();
        // Three agree but OU abstains: no trade at all.
        let mut s = all_long();
        s.ou_drift = 0;
        assert_eq!(classify(&cast(&cfg, &inputs, &s), 3), None);
        // OU points the other way.
        let mut s = all_long();
        s.ou_drift = -1;
        assert_eq!(classify(&cast(&cfg, &inputs, &s), 3), None);
        // OFI below its threshold.
        let mut s = all_long();
        s.ofi = 0.49;
        assert_eq!(classify(&cast(&cfg, &inputs, &s), 3), None);
    }

    #[test]
    fn short_side_and_thresholds_are_inclusive() {
        let (cfg, inputs) = all_inputs();
        let s = SignalSnapshot { ofi: -0.5, ou_zscore: 1.0, ou_drift: -1, ..SignalSnapshot::default() };
        let c = classify(&cast(&cfg, &inputs, &s), 3).unwrap();
        assert_eq!((c.side, c.tier, c.agreeing), (Side::Sell, Tier::B, 2));
    }

    #[test]
    fn vwap_mode_flips_direction() {
        let (mut cfg, inputs) = all_inputs();
        let s = SignalSnapshot { vwap_dev_sigma: 1.5, ..SignalSnapshot::default() };
        assert_eq!(cast(&cfg, &inputs, &s).dir[1], Some(Side::Sell));
        cfg.vwap_mode = VwapMode::Trend;
        assert_eq!(cast(&cfg, &inputs, &s).dir[1], Some(Side::Buy));
    }

    #[test]
    fn inputs_fall_back_when_not_provided() {
        let mut cfg = crate::strategy::StrategyConfig::default().votes;
        let book_only = SignalFields::BOOK.with(SignalFields::SIGNED_VOLUME);
        assert_eq!(ResolvedInputs::resolve(&cfg, book_only).available(), [false; 5]);
        cfg.order_flow_fallback = Some(FlowInput::SignedVolume);
        cfg.drift_fallback = Some(DriftInput::Microprice);
        let r = ResolvedInputs::resolve(&cfg, book_only);
        assert_eq!(r.available(), [true, false, false, false, true]);
        assert_eq!(r.names()[0], Some("signed-volume"));
        // With everything provided, the primary inputs win.
        let r = ResolvedInputs::resolve(&cfg, SignalFields::ALL);
        assert_eq!((r.flow, r.drift), (Some(FlowInput::Ofi), Some(DriftInput::OuDrift)));
        // Fallback inputs vote on their own fields: 60 000 USDT of net buying
        // at a 50 000 USDT threshold, microprice 0.01 bps above the mid.
        cfg.signed_volume_usdt_threshold = 50_000.0;
        cfg.microprice_threshold_bps = 0.005;
        let r = ResolvedInputs::resolve(&cfg, book_only);
        let s =
            SignalSnapshot { mid: 60_000.0, microprice: 60_000.06, signed_volume: 1.0, ..SignalSnapshot::default() };
        let v = cast(&cfg, &r, &s);
        assert_eq!(v.dir, [Some(Side::Buy), None, None, None, Some(Side::Buy)]);
        assert!((v.strength[0] - 1.2).abs() < 1e-12);
        assert!((v.strength[4] - 2.0).abs() < 1e-6, "{}", v.strength[4]);
    }
}
