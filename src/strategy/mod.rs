//! The scalping strategy: signal confluence → entry gates → confidence and
//! size → order intents, and the exits of open positions.
//!
//! [`Strategy`] is a pure state machine over [`SignalSnapshot`]s, integer
//! best prices, its own positions, the account equity, configuration and
//! the time passed in: no clock, no I/O, nothing allocated per event. The
//! same object runs in the backtester and (later) the live engine; the
//! caller turns each [`Action`] into an [`OrderRequest`] ([`Action::to_order`]),
//! runs the inline [`RiskGate`](crate::risk::RiskGate) check, and reports
//! back with [`Strategy::on_sent`] / [`Strategy::on_refused`],
//! [`Strategy::on_fill`] and [`Strategy::on_order_done`].
//!
//! Per symbol, at most one order is outstanding and at most one position
//! is open (so a B-trade can never start while an A-trade is open on the
//! symbol); across symbols at most `max_concurrent_positions` are engaged.
//! After a position closes the symbol cools down for `cooldown_secs`.
//!
//! Rules: [`vote`] (five votes, A/B tiers), [`entry`] (gates, confidence
//! bands, sizing by equity fraction or by risk per trade), [`exits`]
//! (TP/SL from fixed bps, ATR or structure, zone trailing, layers, the
//! profit-lock ladder, trailing from R, time stop, regime exit),
//! [`context`] (slow context inputs), [`leverage`] (venue leverage,
//! dynamic rules, growth milestones, margin guard), [`correlation`] (no
//! second same-direction position on correlated instruments),
//! [`schedule`] (allowed hours and size by hour). Liquidation cascades are
//! traded as their own tier when `[cascade_trades]` is on. Prices and
//! sizes are integers; `f64` appears only in scoring.
//!
//! Every entry leaves an [`EntryContext`] ([`Strategy::entry_context`]):
//! the signal vector, votes and confidence at the decision, the planned
//! stop and target distances, the risk and the leverage, for the trade
//! records (the backtest's report; the live engine's journal).

pub mod config;
pub mod context;
pub mod correlation;
pub mod entry;
pub mod exits;
pub mod inputs;
pub mod leverage;
pub mod schedule;
pub mod vote;

pub use config::StrategyConfig;
pub use entry::{GateKind, GateStats, SizeLimits};
pub use exits::{ExitReason, Position};
pub use inputs::SignalFields;
pub use vote::{Tier, VoteKind};

use crate::fixed::{Notional, Price, Qty, Rate, pow10};
use crate::instrument::Instrument;
use crate::order::{ClientOrderId, Fill, OrderKind, OrderRequest, TimeInForce};
use crate::side::Side;
use crate::signal::SignalSnapshot;
use context::ContextBoard;
pub use entry::Band;
use entry::{GateInputs, GateResult, KellyStats};
use exits::ExitInputs;
use vote::ResolvedInputs;

/// What the strategy sees of one instrument's market at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarketView {
    /// Now (exchange-time based in a replay), ms.
    pub now_ms: i64,
    /// Best bid (zero when unknown): the synced book or the venue's BBO,
    /// or during a resync a fallback (the BBO stream, the mark price).
    pub bid: Price,
    /// Best ask (zero when unknown).
    pub ask: Price,
    /// The signals.
    pub snapshot: SignalSnapshot,
    /// New entries are allowed: the book is in sync, its feed is alive and
    /// the symbol is not reduce-only. Exits never depend on it.
    pub entries_allowed: bool,
}

/// What the strategy knows of the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountView {
    /// Equity for sizing, USDT.
    pub equity: Notional,
    /// The risk side's size cap, ‰ (1000: none): the strategy scales its
    /// sizes by it (loss-streak size cut, margin guard).
    pub size_cap_permille: u16,
    /// The risk side caps size for the margin ratio: the leverage is cut too.
    pub margin_guard: bool,
}

impl AccountView {
    /// Full size, no margin guard.
    #[must_use]
    pub const fn new(equity: Notional) -> Self {
        Self { equity, size_cap_permille: 1000, margin_guard: false }
    }

    /// From the risk side's verdict.
    #[must_use]
    pub fn with_verdict(equity: Notional, verdict: &crate::risk::Verdict) -> Self {
        Self {
            equity,
            size_cap_permille: verdict.size_cap_permille,
            margin_guard: verdict.cause == crate::risk::Cause::MarginReduce,
        }
    }
}

/// What caused an entry: recorded at the decision for the trade records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntryContext {
    /// Decision time, ms.
    pub ts_ms: i64,
    /// Direction.
    pub side: Side,
    /// Tier.
    pub tier: Tier,
    /// Confidence, 0–100 (0 for a cascade trade: it is not scored).
    pub confidence: u8,
    /// The unrounded score.
    pub score: f64,
    /// Every signal at the decision.
    pub snapshot: SignalSnapshot,
    /// The votes at the decision.
    pub votes: vote::VoteSet,
    /// The order's price (limit, or the touch for a market order).
    pub price: Price,
    /// The order's quantity.
    pub qty: Qty,
    /// Planned stop distance (R), price mantissa.
    pub stop_distance: Price,
    /// Planned take-profit distance, price mantissa.
    pub target_distance: Price,
    /// Planned loss at the stop (quantity × R, fees not included), USDT.
    pub risk: Notional,
    /// Effective leverage of the trade.
    pub leverage: u8,
}

/// An order the strategy wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Open a position: a post-only limit at `limit`, or a market order when `None`.
    Enter {
        /// `Buy` = long.
        side: Side,
        /// Tier.
        tier: Tier,
        /// Quantity.
        qty: Qty,
        /// Post-only limit price.
        limit: Option<Price>,
        /// Confidence score, 0–100.
        confidence: u8,
    },
    /// Close (part of) the position with a reduce-only market order.
    Exit {
        /// The order's side (opposite of the position).
        side: Side,
        /// Quantity.
        qty: Qty,
        /// Why.
        reason: ExitReason,
    },
    /// Cancel the resting entry order.
    Cancel {
        /// Which order.
        id: ClientOrderId,
    },
}

impl Action {
    /// The order for this action on `inst`, with the caller's `id`: entries
    /// are post-only limits (or market orders), exits reduce-only market
    /// orders; a cancel is not an order (`None`).
    #[must_use]
    pub fn to_order(&self, inst: &Instrument, id: ClientOrderId) -> Option<OrderRequest> {
        let (side, kind, tif, price, qty, reduce_only) = match *self {
            Action::Enter { side, qty, limit: Some(price), .. } => {
                (side, OrderKind::Limit, TimeInForce::PostOnly, price, qty, false)
            }
            Action::Enter { side, qty, limit: None, .. } => {
                (side, OrderKind::Market, TimeInForce::Gtc, Price::ZERO, qty, false)
            }
            Action::Exit { side, qty, .. } => (side, OrderKind::Market, TimeInForce::Gtc, Price::ZERO, qty, true),
            Action::Cancel { .. } => return None,
        };
        Some(OrderRequest {
            venue: inst.venue,
            symbol: inst.symbol,
            side,
            kind,
            tif,
            price,
            qty,
            reduce_only,
            client_id: id,
        })
    }
}

/// Counters of what the strategy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StrategyCounters {
    /// Entry orders proposed.
    pub entries: u64,
    /// Exit orders proposed.
    pub exits: u64,
    /// Entry cancels proposed (timeouts, risk cancels).
    pub cancels: u64,
    /// Orders the risk gate refused.
    pub refused: u64,
    /// Entries that ended without any fill.
    pub unfilled_entries: u64,
    /// Entries that ended partially filled (the position is the filled part).
    pub partial_entries: u64,
    /// Fills of orders the strategy was no longer waiting for (a fill after
    /// its order was cancelled, or of an earlier order), folded into the
    /// position so that it stays the sum of the ledger's fills.
    pub late_fills: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entering {
    side: Side,
    tier: Tier,
    confidence: u8,
    qty: Qty,
    since_ms: i64,
    id: Option<ClientOrderId>,
    cancel_sent: bool,
    filled: i64,
    cost: i128,
    fees: i64,
    all_maker: bool,
    regime: crate::signal::Regime,
    /// Stop and take-profit distances planned at the decision.
    planned: Option<(i64, i64)>,
}

#[derive(Debug, Clone, Copy)]
struct PendingExit {
    id: Option<ClientOrderId>,
}

#[derive(Debug, Clone, Copy)]
struct Open {
    pos: Position,
    exit: Option<PendingExit>,
    entry_cost: i128,
    exit_value: i128,
    exited: i64,
    fees: i64,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Flat,
    Entering(Entering),
    Open(Open),
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    inst: Instrument,
    limits: SizeLimits,
    phase: Phase,
    not_before_ms: i64,
    first_ms: Option<i64>,
    /// Close the position (and cancel the entry) for this reason.
    flatten: Option<ExitReason>,
    /// Cancel the entry order (positions stay).
    cancel: bool,
    /// Leverage set on the venue for this instrument.
    venue_leverage: u8,
    /// What caused the last entry decision.
    context: Option<EntryContext>,
}

impl Slot {
    /// The direction held or being entered, if any.
    fn engaged_side(&self) -> Option<Side> {
        match &self.phase {
            Phase::Flat => None,
            Phase::Entering(e) => Some(e.side),
            Phase::Open(o) => Some(o.pos.side),
        }
    }
}

/// The strategy for a fixed set of instruments (index = the caller's
/// instrument index, e.g. the [`InstrumentId`](crate::event::InstrumentId)).
#[derive(Debug, Clone)]
pub struct Strategy {
    cfg: StrategyConfig,
    provided: SignalFields,
    inputs: ResolvedInputs,
    available_votes: u8,
    slots: Vec<Slot>,
    gates: GateStats,
    kelly: KellyStats,
    context: ContextBoard,
    correlation: correlation::CorrelationTracker,
    peak_equity: i64,
    last_closed_lost: bool,
    engaged: u16,
    counters: StrategyCounters,
}

impl Strategy {
    /// A strategy for `instruments` with per-instrument order `limits`
    /// (same order), reading the snapshot fields in `provided`.
    #[must_use]
    pub fn new(cfg: StrategyConfig, instruments: &[Instrument], limits: &[SizeLimits], provided: SignalFields) -> Self {
        let inputs = ResolvedInputs::resolve(&cfg.votes, provided);
        let available_votes = inputs.available().iter().filter(|a| **a).count() as u8;
        let mut gates = GateStats::default();
        gates.mark_skipped(&cfg.gates, provided);
        let slots = instruments
            .iter()
            .zip(limits)
            .map(|(inst, limits)| Slot {
                inst: *inst,
                limits: *limits,
                phase: Phase::Flat,
                not_before_ms: i64::MIN,
                first_ms: None,
                flatten: None,
                cancel: false,
                venue_leverage: cfg.leverage.venue_leverage(inst),
                context: None,
            })
            .collect();
        let context = ContextBoard::new(cfg.context.components.len());
        let correlation = correlation::CorrelationTracker::new(cfg.gates.correlation, instruments.len());
        Self {
            cfg,
            provided,
            inputs,
            available_votes,
            slots,
            gates,
            kelly: KellyStats::default(),
            context,
            correlation,
            peak_equity: 0,
            last_closed_lost: false,
            engaged: 0,
            counters: StrategyCounters::default(),
        }
    }

    /// What caused the last entry decision on instrument `i` (the signal
    /// vector, votes, confidence, planned stop and target, risk, leverage):
    /// set when the strategy proposes an entry, kept until the next one.
    #[must_use]
    pub fn entry_context(&self, i: usize) -> Option<&EntryContext> {
        self.slots.get(i)?.context.as_ref()
    }

    /// The correlation of the mid returns of instruments `i` and `j`, when known.
    #[must_use]
    pub fn correlation(&self, i: usize, j: usize) -> Option<f64> {
        self.correlation.rho(i, j)
    }

    /// The leverage the live engine sets on the venue for instrument `i`
    /// at start (`[leverage]`).
    #[must_use]
    pub fn venue_leverage(&self, i: usize) -> Option<u8> {
        self.slots.get(i).map(|s| s.venue_leverage)
    }

    /// Votes that can speak for this snapshot: those whose input the
    /// source provides, less the funding vote while no funding rate has
    /// been seen (a recording or venue without a mark-price stream). A
    /// vote without data is not counted as an abstention against the
    /// candidate.
    fn votes_with_data(
        inputs: &ResolvedInputs,
        provided: SignalFields,
        available: u8,
        votes: &vote::VoteSet,
        snapshot: &crate::signal::SignalSnapshot,
    ) -> u8 {
        let funding = VoteKind::FundingBias as usize;
        let funding_silent = inputs.available()[funding]
            && votes.dir[funding].is_none()
            && provided.contains(SignalFields::WARM_FLAG)
            && snapshot.warm_mask & crate::signal::warm::FUNDING == 0;
        available - u8::from(funding_silent)
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &StrategyConfig {
        &self.cfg
    }

    /// What each vote reads (after fallbacks).
    #[must_use]
    pub fn inputs(&self) -> &ResolvedInputs {
        &self.inputs
    }

    /// What the signal source provides.
    #[must_use]
    pub fn provided(&self) -> SignalFields {
        self.provided
    }

    /// Gate counters.
    #[must_use]
    pub fn gate_stats(&self) -> &GateStats {
        &self.gates
    }

    /// Activity counters.
    #[must_use]
    pub fn counters(&self) -> StrategyCounters {
        self.counters
    }

    /// Closed-trade statistics (as used for Kelly sizing).
    #[must_use]
    pub fn kelly_stats(&self) -> KellyStats {
        self.kelly
    }

    /// The slow context board (updated off the hot path).
    pub fn context_mut(&mut self) -> &mut ContextBoard {
        &mut self.context
    }

    /// The open position of instrument `i`, if any.
    #[must_use]
    pub fn position(&self, i: usize) -> Option<&Position> {
        match &self.slots.get(i)?.phase {
            Phase::Open(o) => Some(&o.pos),
            _ => None,
        }
    }

    /// `true` when instrument `i` has no position and no order.
    #[must_use]
    pub fn is_flat(&self, i: usize) -> bool {
        self.slots.get(i).is_none_or(|s| matches!(s.phase, Phase::Flat))
    }

    /// Symbols with a position or an entry order.
    #[must_use]
    pub fn engaged(&self) -> u16 {
        self.engaged
    }

    /// Close instrument `i` (cancel its entry, exit its position with a
    /// market order) for `reason` ([`ExitReason::RiskFlatten`] when the
    /// risk thread asks, [`ExitReason::EndOfData`] at the end of a replay).
    pub fn request_flatten(&mut self, i: usize, reason: ExitReason) {
        if let Some(s) = self.slots.get_mut(i) {
            s.flatten = (!matches!(s.phase, Phase::Flat)).then_some(reason);
        }
    }

    /// Cancel the entry order of instrument `i`, if any (the risk thread
    /// halted trading; positions keep their exits).
    pub fn request_cancel(&mut self, i: usize) {
        if let Some(s) = self.slots.get_mut(i) {
            s.cancel = matches!(s.phase, Phase::Entering(_));
        }
    }

    /// Decides what to do on instrument `i` after a market event.
    pub fn on_market(&mut self, i: usize, view: &MarketView, account: &AccountView) -> Option<Action> {
        let now = view.now_ms;
        self.correlation.observe(i, now, view.snapshot.mid);
        self.peak_equity = self.peak_equity.max(account.equity.0);
        let votes = vote::cast(&self.cfg.votes, &self.inputs, &view.snapshot);
        let slot = self.slots.get_mut(i)?;
        let first = *slot.first_ms.get_or_insert(now);
        match &mut slot.phase {
            Phase::Entering(e) => {
                let id = e.id?;
                if !e.cancel_sent
                    && (slot.flatten.is_some() || slot.cancel || now - e.since_ms >= self.cfg.entry.timeout_ms)
                {
                    e.cancel_sent = true;
                    self.counters.cancels += 1;
                    return Some(Action::Cancel { id });
                }
                None
            }
            Phase::Open(o) => {
                if o.exit.is_some() {
                    return None;
                }
                let side = o.pos.side;
                let exit = if let Some(reason) = slot.flatten {
                    Some((o.pos.qty, reason))
                } else {
                    let price = match side {
                        Side::Buy => view.bid,
                        Side::Sell => view.ask,
                    };
                    let flow_agrees = votes.dir[VoteKind::OrderFlow as usize] == Some(side);
                    let accel_agrees =
                        !self.inputs.acceleration || votes.dir[VoteKind::Acceleration as usize] == Some(side);
                    let has_regime = self.provided.contains(SignalFields::REGIME);
                    let snap = &view.snapshot;
                    let atr_known = self.provided.contains(SignalFields::ATR)
                        && (!self.provided.contains(SignalFields::WARM_FLAG)
                            || snap.warm_mask & crate::signal::warm::ATR != 0);
                    let atr = if atr_known && snap.atr.is_finite() && snap.atr > 0.0 {
                        (snap.atr * pow10(slot.inst.price_scale) as f64).round() as i64
                    } else {
                        0
                    };
                    let inp = ExitInputs {
                        now_ms: now,
                        price,
                        momentum_agrees: flow_agrees && accel_agrees,
                        regime: has_regime.then_some(snap.regime),
                        regime_allows: !has_regime
                            || entry::regime_allows(
                                &self.cfg.gates.regime,
                                snap,
                                side,
                                self.provided.contains(SignalFields::MOMENTUM),
                            ),
                        atr,
                        strong_trend: self.provided.contains(SignalFields::MOMENTUM)
                            && snap.momentum_aligned == Some(side),
                    };
                    o.pos.evaluate(&self.cfg.exits, &inp, slot.inst.tick, slot.inst.step, slot.inst.min_qty)
                };
                let (qty, reason) = exit?;
                o.exit = Some(PendingExit { id: None });
                self.counters.exits += 1;
                Some(Action::Exit { side: side.opposite(), qty, reason })
            }
            Phase::Flat => self.consider_entry(i, view, account, &votes, first),
        }
    }

    /// `true` when the signals say `bit`'s family is warm (or the source
    /// has no warm flags).
    fn family_warm(&self, snap: &SignalSnapshot, bit: u16) -> bool {
        !self.provided.contains(SignalFields::WARM_FLAG) || snap.warm_mask & bit != 0
    }

    /// A flat instrument: a candidate (a cascade trade or the votes'),
    /// every gate, confidence and band, stop, leverage and size; the entry
    /// if everything passes.
    fn consider_entry(
        &mut self,
        i: usize,
        view: &MarketView,
        account: &AccountView,
        votes: &vote::VoteSet,
        first: i64,
    ) -> Option<Action> {
        let now = view.now_ms;
        let (inst, limits, not_before, venue_leverage) = {
            let s = &self.slots[i];
            (s.inst, s.limits, s.not_before_ms, s.venue_leverage)
        };
        // No candidate before the cool-down ends, without a sane book, or
        // while entries are not allowed.
        if !view.entries_allowed || now < not_before || view.bid.0 <= 0 || view.ask.0 <= view.bid.0 {
            return None;
        }
        let snap = &view.snapshot;
        let cascade = if self.cfg.cascade.enabled && self.provided.contains(SignalFields::CASCADE) {
            cascade_candidate(&self.cfg.cascade, snap)
        } else {
            None
        };
        let cand = match cascade {
            Some(c) => c,
            None => vote::classify(votes, self.cfg.entry.a_min_agreeing)?,
        };
        let side = cand.side;
        let tier = cand.tier;
        let mut result = GateResult::default();
        if tier == Tier::B && !self.cfg.entry.b_trades {
            result.fail(GateKind::BTradesDisabled);
        }
        let not_warm = self.provided.contains(SignalFields::WARM_FLAG) && !snap.warm;
        if now - first < self.cfg.entry.warmup_ms || not_warm {
            result.fail(GateKind::Warmup);
        }
        let spread_ticks =
            if view.bid.0 > 0 && view.ask.0 > 0 { (view.ask.0 - view.bid.0) / inst.tick.0.max(1) } else { 0 };
        let entry_fee = if self.cfg.entry.post_only { inst.fees.maker } else { inst.fees.taker };
        let inp = GateInputs {
            snapshot: snap,
            provided: self.provided,
            candidate: cand,
            spread_ticks,
            round_trip_fee_bps: entry_fee.to_bps_f64() + inst.fees.taker.to_bps_f64(),
            votes,
        };
        if tier == Tier::Cascade {
            // No votes behind it: the book and the crowding gates only.
            entry::check_spread(&self.cfg.gates, &inp, &mut result);
        } else {
            entry::check_market_gates(&self.cfg.gates, &inp, &mut result);
        }
        if self.engaged >= self.cfg.entry.max_concurrent_positions {
            result.fail(GateKind::MaxConcurrentPositions);
        }
        let hour_factor = self.cfg.schedule.at(now).unwrap_or_else(|| {
            result.fail(GateKind::Schedule);
            Rate(0)
        });
        let same_side =
            self.slots.iter().enumerate().filter(|(j, s)| *j != i && s.engaged_side() == Some(side)).map(|(j, _)| j);
        if self.correlation.blocks(i, same_side) {
            result.fail(GateKind::Correlation);
        }
        let (score, band) = if tier == Tier::Cascade {
            (0.0, Band::Base)
        } else {
            let score = (entry::confidence(
                &self.cfg.confidence,
                &self.cfg.gates,
                &inp,
                Self::votes_with_data(&self.inputs, self.provided, self.available_votes, votes, snap),
                self.cfg.entry.a_min_agreeing,
            ) + self.context.points(&self.cfg.context.components, side, now))
            .clamp(0.0, 100.0);
            let band = entry::band(&self.cfg.confidence, score);
            match band {
                Band::None => result.fail(GateKind::ConfidenceLow),
                Band::Observe => result.fail(GateKind::ObserveOnly),
                Band::Base | Band::Large => {}
            }
            (score, band)
        };
        let limit = self
            .cfg
            .entry
            .post_only
            .then(|| post_only_price(side, view.bid, view.ask, inst.tick, self.cfg.entry.offset_ticks));
        let price = match (limit, side) {
            (Some(p), _) => p,
            (None, Side::Buy) => view.ask,
            (None, Side::Sell) => view.bid,
        };
        let levels = levels_of(&self.cfg, tier);
        let atr_warm = self.family_warm(snap, crate::signal::warm::ATR);
        let planned =
            exits::plan_distances(&self.cfg.exits, &levels, tier, side, price, snap, inst.price_scale, atr_warm);
        if planned.is_none() {
            result.fail(GateKind::StopUnavailable);
        }
        let (stop_distance, target_distance) = planned.unwrap_or((1, 1));
        let vol_pct = (self.provided.contains(SignalFields::REGIME)
            && self.family_warm(snap, crate::signal::warm::REGIME))
        .then_some(snap.volatility_percentile);
        let equity = account.equity;
        let drawdown = if self.peak_equity > 0 {
            let down = i128::from((self.peak_equity - equity.0).max(0)) * i128::from(pow10(crate::fixed::E8));
            Rate(i64::try_from(down / i128::from(self.peak_equity)).unwrap_or(i64::MAX))
        } else {
            Rate(0)
        };
        let leverage = self.cfg.leverage.effective(
            venue_leverage,
            &leverage::LeverageInputs {
                equity,
                top_band: band == Band::Large,
                volatility_percentile: vol_pct,
                last_trade_lost: self.last_closed_lost,
                drawdown,
                margin_guard: account.margin_guard,
            },
        );
        let position_share =
            self.cfg.leverage.milestone(equity).map_or(self.cfg.sizing.max_position_share, |m| m.max_position_share);
        let cap_e8 = i64::from(account.size_cap_permille.min(1000)) * 100_000;
        let factor = Rate(i64::try_from(i128::from(hour_factor.0) * i128::from(cap_e8) / 100_000_000).unwrap_or(0));
        let fee_rate = if self.cfg.sizing.risk_includes_fees { Rate(entry_fee.0 + inst.fees.taker.0) } else { Rate(0) };
        let share = entry::equity_fraction(&self.cfg.sizing, tier, band, &self.kelly);
        let qty = entry::plan_qty(
            self.cfg.sizing.mode,
            &entry::SizeInputs { equity, share, factor, price, stop_distance, fee_rate, leverage, position_share },
            &inst,
            &limits,
        );
        if qty.is_none() {
            result.fail(GateKind::SizeBelowMinimum);
        }
        self.gates.record(tier, result, score);
        let qty = qty.filter(|_| result.passed())?;
        let confidence = score.floor() as u8;
        let risk = crate::fixed::notional(Price(stop_distance), inst.price_scale, qty, inst.qty_scale)
            .unwrap_or(Notional::ZERO);
        let slot = &mut self.slots[i];
        slot.cancel = false;
        slot.context = Some(EntryContext {
            ts_ms: now,
            side,
            tier,
            confidence,
            score,
            snapshot: *snap,
            votes: *votes,
            price,
            qty,
            stop_distance: Price(stop_distance),
            target_distance: Price(target_distance),
            risk,
            leverage,
        });
        slot.phase = Phase::Entering(Entering {
            side,
            tier,
            confidence,
            qty,
            since_ms: now,
            id: None,
            cancel_sent: false,
            filled: 0,
            cost: 0,
            fees: 0,
            all_maker: true,
            regime: snap.regime,
            planned: Some((stop_distance, target_distance)),
        });
        self.engaged += 1;
        self.counters.entries += 1;
        Some(Action::Enter { side, tier, qty, limit, confidence })
    }

    /// The order for the last action on `i` passed the risk gate and was sent as `id`.
    pub fn on_sent(&mut self, i: usize, id: ClientOrderId) {
        let Some(slot) = self.slots.get_mut(i) else { return };
        match &mut slot.phase {
            Phase::Entering(e) if e.id.is_none() => e.id = Some(id),
            Phase::Open(Open { exit: Some(x), .. }) if x.id.is_none() => x.id = Some(id),
            _ => {}
        }
    }

    /// The order for the last action on `i` was refused before sending.
    pub fn on_refused(&mut self, i: usize, now_ms: i64) {
        let backoff = self.cfg.entry.refusal_backoff_ms;
        let Some(slot) = self.slots.get_mut(i) else { return };
        self.counters.refused += 1;
        match &mut slot.phase {
            Phase::Entering(e) if e.id.is_none() => {
                slot.phase = Phase::Flat;
                slot.not_before_ms = now_ms + backoff;
                self.engaged = self.engaged.saturating_sub(1);
            }
            Phase::Open(o) if o.exit.is_some_and(|x| x.id.is_none()) => o.exit = None,
            _ => {}
        }
    }

    /// A fill of an order of instrument `i`, learned at `now_ms`. The
    /// caller passes each fill once (the ledger de-duplicates). A fill the
    /// current phase does not expect — the entry's last fill after its
    /// cancel confirmation, a fill of an earlier order — is still folded in
    /// ([`StrategyCounters::late_fills`]), so that the managed position is
    /// always the sum of the fills.
    pub fn on_fill(&mut self, i: usize, fill: &Fill, now_ms: i64) {
        let cooldown = self.cfg.entry.cooldown_ms;
        let Some(slot) = self.slots.get_mut(i) else { return };
        let inst = slot.inst;
        match &mut slot.phase {
            Phase::Entering(e) if Some(fill.client_id) == e.id => {
                e.filled += fill.qty.0;
                e.cost += i128::from(fill.price.0) * i128::from(fill.qty.0);
                e.fees += fill.fee.0;
                e.all_maker &= fill.is_maker;
                if e.filled >= e.qty.0 {
                    let e = *e;
                    slot.phase = Phase::Open(open_from(&self.cfg, &inst, &e, now_ms));
                }
            }
            Phase::Open(o) if o.exit.and_then(|x| x.id) == Some(fill.client_id) && fill.side != o.pos.side => {
                let closed = Self::reduce(o, fill, &inst, &mut self.kelly, &mut self.last_closed_lost);
                if closed {
                    slot.phase = Phase::Flat;
                    slot.not_before_ms = now_ms + cooldown;
                    slot.flatten = None;
                    self.engaged = self.engaged.saturating_sub(1);
                }
            }
            _ => self.late_fill(i, fill, now_ms),
        }
    }

    /// Applies an exit-side fill to an open position; `true` when it closed
    /// (its round trip is recorded for Kelly sizing).
    fn reduce(o: &mut Open, fill: &Fill, inst: &Instrument, kelly: &mut KellyStats, lost: &mut bool) -> bool {
        let qty = fill.qty.0.min(o.pos.qty.0);
        o.pos.qty = Qty(o.pos.qty.0 - qty);
        o.exited += qty;
        o.exit_value += i128::from(fill.price.0) * i128::from(qty);
        o.fees += fill.fee.0;
        if o.pos.qty.0 != 0 {
            return false;
        }
        let gross = i128::from(o.pos.side.sign()) * (o.exit_value - o.entry_cost);
        let scale = i128::from(pow10(inst.price_scale)) * i128::from(pow10(inst.qty_scale));
        let gross_e8 = gross * 100_000_000 / scale;
        let net = i64::try_from(gross_e8).unwrap_or(0) - o.fees;
        kelly.record(Notional(net));
        *lost = net < 0;
        true
    }

    /// A fill no phase expected (see [`Self::on_fill`]).
    fn late_fill(&mut self, i: usize, fill: &Fill, now_ms: i64) {
        let cooldown = self.cfg.entry.cooldown_ms;
        let Some(slot) = self.slots.get_mut(i) else { return };
        let inst = slot.inst;
        self.counters.late_fills += 1;
        let q = fill.qty.0;
        let value = i128::from(fill.price.0) * i128::from(q);
        match &mut slot.phase {
            Phase::Open(o) if fill.side == o.pos.side => {
                // More of the position (an entry's fill after its cancel):
                // it joins; the exit levels stay those set at the open.
                o.pos.qty = Qty(o.pos.qty.0 + q);
                o.pos.initial_qty = Qty(o.pos.initial_qty.0 + q);
                o.entry_cost += value;
                o.fees += fill.fee.0;
            }
            Phase::Open(o) => {
                let excess = q - o.pos.qty.0;
                if Self::reduce(o, fill, &inst, &mut self.kelly, &mut self.last_closed_lost) {
                    slot.phase = Phase::Flat;
                    slot.not_before_ms = now_ms + cooldown;
                    slot.flatten = None;
                    self.engaged = self.engaged.saturating_sub(1);
                    if excess > 0 {
                        // Through flat: the rest is a position the other way.
                        let mut rest = *fill;
                        rest.qty = Qty(excess);
                        rest.fee = Notional(0);
                        self.adopt(i, &rest, now_ms);
                    }
                }
            }
            Phase::Entering(e) if fill.side == e.side => {
                e.filled += q;
                e.cost += value;
                e.fees += fill.fee.0;
                e.all_maker &= fill.is_maker;
            }
            Phase::Entering(e) => {
                // Against the entry still out: net it off what is filled.
                e.filled -= q;
                e.cost -= value;
                e.fees += fill.fee.0;
            }
            Phase::Flat => self.adopt(i, fill, now_ms),
        }
    }

    /// Opens a position from a fill the strategy did not ask for, so that it
    /// is managed (exits, time stop) like any other: tier B levels, the
    /// tighter of the two.
    fn adopt(&mut self, i: usize, fill: &Fill, now_ms: i64) {
        let Some(slot) = self.slots.get_mut(i) else { return };
        let inst = slot.inst;
        let e = Entering {
            side: fill.side,
            tier: Tier::B,
            confidence: 0,
            qty: fill.qty,
            since_ms: now_ms,
            id: Some(fill.client_id),
            cancel_sent: false,
            filled: fill.qty.0,
            cost: i128::from(fill.price.0) * i128::from(fill.qty.0),
            fees: fill.fee.0,
            all_maker: fill.is_maker,
            regime: crate::signal::Regime::Unknown,
            planned: None,
        };
        slot.phase = Phase::Open(open_from(&self.cfg, &inst, &e, now_ms));
        self.engaged += 1;
    }

    /// A cancel the strategy proposed was not carried out (the venue
    /// refused it, or it could not be sent): it will be proposed again.
    pub fn on_cancel_failed(&mut self, i: usize, id: ClientOrderId) {
        let Some(slot) = self.slots.get_mut(i) else { return };
        if let Phase::Entering(e) = &mut slot.phase
            && e.id == Some(id)
        {
            e.cancel_sent = false;
            self.counters.cancels = self.counters.cancels.saturating_sub(1);
        }
    }

    /// The signed position the strategy manages on instrument `i` (filled
    /// entry quantity while entering), quantity mantissa.
    #[must_use]
    pub fn managed_position(&self, i: usize) -> i64 {
        match self.slots.get(i).map(|s| &s.phase) {
            Some(Phase::Open(o)) => o.pos.side.sign() * o.pos.qty.0,
            Some(Phase::Entering(e)) => e.side.sign() * e.filled,
            _ => 0,
        }
    }

    /// An order of instrument `i` ended (cancelled, expired, rejected) with
    /// its unfilled remainder released.
    pub fn on_order_done(&mut self, i: usize, id: ClientOrderId, now_ms: i64) {
        let retry = self.cfg.entry.retry_ms;
        let Some(slot) = self.slots.get_mut(i) else { return };
        let inst = slot.inst;
        match &mut slot.phase {
            Phase::Entering(e) if e.id == Some(id) => {
                slot.cancel = false;
                if e.filled > 0 {
                    let e = *e;
                    self.counters.partial_entries += 1;
                    slot.phase = Phase::Open(open_from(&self.cfg, &inst, &e, now_ms));
                } else {
                    self.counters.unfilled_entries += 1;
                    slot.phase = Phase::Flat;
                    slot.not_before_ms = now_ms + retry;
                    slot.flatten = None;
                    slot.cancel = false;
                    self.engaged = self.engaged.saturating_sub(1);
                }
            }
            Phase::Open(o) if o.exit.and_then(|x| x.id) == Some(id) => o.exit = None,
            _ => {}
        }
    }
}

/// The post-only price: `offset` ticks inside the own side's best, never
/// at or through the other side.
fn post_only_price(side: Side, bid: Price, ask: Price, tick: Price, offset: u32) -> Price {
    let step = tick.0 * i64::from(offset);
    match side {
        Side::Buy => Price((bid.0 + step).min(ask.0 - tick.0)),
        Side::Sell => Price((ask.0 - step).max(bid.0 + tick.0)),
    }
}

/// The exit levels (hold limit, fixed distances) of a tier.
fn levels_of(cfg: &StrategyConfig, tier: Tier) -> config::ExitLevels {
    match tier {
        Tier::A => cfg.exits.a,
        Tier::B => cfg.exits.b,
        Tier::Cascade => cfg.exits.cascade,
    }
}

/// A cascade trade (`[cascade_trades]`): the side being liquidated at
/// `min_notional_per_min` or more per minute, holding `min_side_share` of
/// the liquidated notional, is traded against — in the cascade's direction
/// (longs liquidated: forced selling, a short).
fn cascade_candidate(cfg: &config::CascadeTradeConfig, s: &SignalSnapshot) -> Option<vote::Candidate> {
    let total = s.liq_long_per_min + s.liq_short_per_min;
    let pick = |liquidated: f64| liquidated >= cfg.min_notional_per_min && liquidated >= cfg.min_side_share * total;
    let side = if pick(s.liq_long_per_min) {
        Side::Sell
    } else if pick(s.liq_short_per_min) {
        Side::Buy
    } else {
        return None;
    };
    Some(vote::Candidate { side, tier: Tier::Cascade, agreeing: 0, opposing: 0 })
}

fn open_from(cfg: &StrategyConfig, inst: &Instrument, e: &Entering, now_ms: i64) -> Open {
    let filled = e.filled.max(1);
    let avg = (e.cost + i128::from(filled) / 2) / i128::from(filled);
    let entry_rate = if e.all_maker { inst.fees.maker } else { inst.fees.taker };
    let levels = levels_of(cfg, e.tier);
    let entry = Price(i64::try_from(avg).unwrap_or(0));
    let fee = Rate(entry_rate.0 + inst.fees.taker.0);
    let pos = match e.planned {
        Some(distances) => Position::open_with(
            e.side,
            e.tier,
            e.confidence,
            Qty(e.filled),
            entry,
            now_ms,
            e.regime,
            levels,
            distances,
            fee,
            inst.tick,
        ),
        None => {
            Position::open(e.side, e.tier, e.confidence, Qty(e.filled), entry, now_ms, e.regime, levels, fee, inst.tick)
        }
    };
    Open { pos, exit: None, entry_cost: e.cost, exit_value: 0, exited: 0, fees: e.fees }
}

#[cfg(test)]
mod tests;

/// A warm snapshot at `mid` in which every vote is long at twice its
/// default threshold and every default gate passes: the reference input of
/// the strategy's tests and benchmarks (a run builds its snapshots from the
/// signals).
#[must_use]
pub fn reference_long_snapshot(mid: f64) -> SignalSnapshot {
    SignalSnapshot {
        warm: true,
        mid,
        microprice: mid + 0.01,
        tob_imbalance: 0.6,
        ofi: 1.0,
        vwap_dev_sigma: -2.0,
        acceleration_bps_s2: 1.0,
        funding_bias: 0.5,
        ou_zscore: -2.0,
        ou_drift: 1,
        volume_surge: 2.0,
        volatility_bps: 5.0,
        regime: crate::signal::Regime::Ranging,
        momentum_short_bps: 2.0,
        momentum_aligned: Some(crate::side::Side::Buy),
        ..SignalSnapshot::default()
    }
}

/// Snapshots shared by the unit tests of the strategy's files.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::signal::SignalSnapshot;

    /// [`super::reference_long_snapshot`] at a BTC-like mid.
    pub(crate) fn long_snapshot() -> SignalSnapshot {
        super::reference_long_snapshot(60_000.05)
    }
}
