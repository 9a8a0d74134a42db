//! Exits of an open position, in integer prices.
//!
//! Levels are set from the average entry price when the position opens:
//! take-profit and stop-loss `bps` away, rounded *away* from the entry to
//! the tick (a target is never closer than configured). Each market event
//! checks, in order:
//! 1. **time stop**: held for `max_hold` → exit all;
//! 2. **stop**: the executable price (bid for a long, ask for a short) at
//!    or through the stop → exit all (reason says which stop: initial,
//!    breakeven, profit lock, trailing);
//! 3. **regime change** against the position (when enabled) → exit all;
//! 4. **take-profit**: plain mode: at TP, if zone trailing is on and the
//!    order-flow and acceleration votes still agree with the position,
//!    lock half the move (stop to entry + ½ (TP − entry)) and extend the
//!    TP by half its distance; otherwise exit all. Layered mode: 25 % of
//!    the initial size at 1R, 2R and 3R (R = stop distance), the last 25 %
//!    on a trailing stop `layer_trail_bps` behind the best price; after 1R
//!    the stop moves to breakeven + fees, after 2R to the 1R level;
//! 5. **zone trailing**: once the favourable excursion reaches
//!    `breakeven_at_tp_fraction` (50 %) of the TP distance (or the first
//!    layer is taken), the stop moves to breakeven plus the round-trip
//!    fees — as soon as the price is beyond that level, so that the new
//!    stop never sits through the market (with a TP under twice the
//!    round-trip fee, half the TP distance is not yet breakeven);
//! 6. **profit-lock ladder** (`[[exits.lock]]`): once the best excursion
//!    reaches `at_r` R the stop is raised to `lock_r` R beyond the entry
//!    (`lock_r = 0`: breakeven plus fees), again only once the price is
//!    beyond that level;
//! 7. **trailing from R** (`trail_from_r`): once the best excursion reaches
//!    that many R the stop trails the best price — by `trail_atr_strong` ×
//!    ATR while the momentum of both horizons is aligned with the position
//!    (a strong trend), `trail_atr_weak` × ATR once it is not (momentum
//!    weakens), or by `layer_trail_bps` without an ATR. The last layer of
//!    the layered mode trails by the same distance.
//!
//! R is the initial stop distance, set when the position opens: fixed
//! bps, a multiple of the ATR, or beyond the swing low/high
//! ([`crate::strategy::config::StopMethod`]); the take-profit is then
//! `take_profit_r` × R when configured. A cascade trade ([`Tier::Cascade`])
//! has only its own take-profit, stop and hold limit.
//!
//! Stops only ever move in the position's favour. Exits are reduce-only
//! market orders (taker).

use crate::fixed::{Price, Qty, Rate, Round, pow10, round_to_step};
use crate::side::Side;
use crate::signal::{Regime, SignalSnapshot};
use crate::strategy::config::{ExitConfig, ExitLevels, StopMethod};
use crate::strategy::vote::Tier;

/// The initial stop and take-profit distances (price mantissas) of an
/// entry at `price` on `side` (module docs): fixed bps of the tier; or
/// `atr_stop_multiple` × ATR; or from `price` to the swing low (long) /
/// high (short) plus `swing_buffer_bps`; ATR and swing distances are
/// clamped to `[min_stop_bps, max_stop_bps]` of the price, and the
/// take-profit is `take_profit_r` × the stop when configured. Cascade
/// trades always use their fixed levels. `None` when the method's input is
/// not known yet (ATR not warm, no swing level).
#[must_use]
#[allow(clippy::too_many_arguments)]
pub fn plan_distances(
    cfg: &ExitConfig,
    levels: &ExitLevels,
    tier: Tier,
    side: Side,
    price: Price,
    snap: &SignalSnapshot,
    price_scale: u8,
    atr_warm: bool,
) -> Option<(i64, i64)> {
    let fixed_tp = distance(price, levels.take_profit_bps_e2);
    let fixed = (distance(price, levels.stop_loss_bps_e2), fixed_tp);
    if tier == Tier::Cascade || cfg.stop.method == StopMethod::Fixed {
        return Some(fixed);
    }
    let unit = pow10(price_scale) as f64;
    let raw = match cfg.stop.method {
        StopMethod::Fixed => return Some(fixed),
        StopMethod::Atr => {
            if !atr_warm || !snap.atr.is_finite() || snap.atr <= 0.0 {
                return None;
            }
            (snap.atr * unit * f64::from(cfg.stop.atr_multiple_e2) / 100.0).round() as i64
        }
        StopMethod::Swing => {
            let swing = match side {
                Side::Buy => snap.swing_low,
                Side::Sell => snap.swing_high,
            };
            if !swing.is_finite() || swing <= 0.0 {
                return None;
            }
            let level = (swing * unit).round() as i64;
            (price.0 - level).abs() + distance(price, cfg.stop.swing_buffer_bps_e2)
        }
    };
    let stop = raw.clamp(distance(price, cfg.stop.min_bps_e2).max(1), distance(price, cfg.stop.max_bps_e2).max(1));
    let tp = match cfg.stop.take_profit_r_e2 {
        Some(r) => i64::try_from(i128::from(stop) * i128::from(r) / 100).unwrap_or(i64::MAX / 4),
        None => fixed_tp,
    };
    Some((stop, tp))
}

/// Why (part of) a position was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ExitReason {
    /// Take-profit reached.
    TakeProfit = 0,
    /// Initial stop-loss hit.
    StopLoss,
    /// Stop at breakeven + fees hit.
    BreakevenStop,
    /// Stop locking part of the move (after a TP extension or 2R) hit.
    ProfitLockStop,
    /// Trailing stop of the last layer hit.
    TrailingStop,
    /// Held for the maximum time.
    TimeStop,
    /// The regime turned against the position.
    RegimeChange,
    /// Layered take-profit at 1R.
    Layer1,
    /// Layered take-profit at 2R.
    Layer2,
    /// Layered take-profit at 3R.
    Layer3,
    /// The risk thread asked to flatten.
    RiskFlatten,
    /// The replay ended with the position open.
    EndOfData,
}

impl ExitReason {
    /// Number of reasons.
    pub const COUNT: usize = 12;

    /// All reasons, by code.
    pub const ALL: [ExitReason; Self::COUNT] = [
        ExitReason::TakeProfit,
        ExitReason::StopLoss,
        ExitReason::BreakevenStop,
        ExitReason::ProfitLockStop,
        ExitReason::TrailingStop,
        ExitReason::TimeStop,
        ExitReason::RegimeChange,
        ExitReason::Layer1,
        ExitReason::Layer2,
        ExitReason::Layer3,
        ExitReason::RiskFlatten,
        ExitReason::EndOfData,
    ];

    /// Name for reports.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            ExitReason::TakeProfit => "take-profit",
            ExitReason::StopLoss => "stop-loss",
            ExitReason::BreakevenStop => "breakeven-stop",
            ExitReason::ProfitLockStop => "profit-lock-stop",
            ExitReason::TrailingStop => "trailing-stop",
            ExitReason::TimeStop => "time-stop",
            ExitReason::RegimeChange => "regime-change",
            ExitReason::Layer1 => "layer-1r",
            ExitReason::Layer2 => "layer-2r",
            ExitReason::Layer3 => "layer-3r",
            ExitReason::RiskFlatten => "risk-flatten",
            ExitReason::EndOfData => "end-of-data",
        }
    }
}

/// Which stop is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopKind {
    /// The initial stop-loss.
    Initial,
    /// Breakeven plus fees.
    Breakeven,
    /// Locks part of the move.
    ProfitLock,
    /// Trails the best price (last layer).
    Trailing,
}

impl StopKind {
    fn reason(self) -> ExitReason {
        match self {
            StopKind::Initial => ExitReason::StopLoss,
            StopKind::Breakeven => ExitReason::BreakevenStop,
            StopKind::ProfitLock => ExitReason::ProfitLockStop,
            StopKind::Trailing => ExitReason::TrailingStop,
        }
    }
}

/// `price × bps_e2 / 10^6`: a distance of `bps_e2` hundredths of a bp.
fn distance(price: Price, bps_e2: u32) -> i64 {
    i64::try_from(i128::from(price.0) * i128::from(bps_e2) / 1_000_000).unwrap_or(i64::MAX / 4)
}

/// `price × rate` (a rate at 8 decimals) as a price distance, rounded up.
fn rate_distance(price: Price, rate: Rate) -> i64 {
    let num = i128::from(price.0) * i128::from(rate.0.max(0));
    i64::try_from((num + 99_999_999) / 100_000_000).unwrap_or(i64::MAX / 4)
}

/// `from` moved `dist` in the favourable (`profit`) or adverse direction
/// of a position on `side`, rounded away from `from` to the tick.
fn level(from: Price, dist: i64, side: Side, profit: bool, tick: Price) -> Price {
    let up = (side == Side::Buy) == profit;
    let raw = if up { from.0.saturating_add(dist) } else { from.0.saturating_sub(dist) };
    let dir = if up { Round::Up } else { Round::Down };
    Price(round_to_step(raw, tick.0, dir).unwrap_or(raw).max(0))
}

/// `true` when `price` is at or beyond `target` in the favourable direction.
fn reached(side: Side, price: Price, target: Price) -> bool {
    match side {
        Side::Buy => price >= target,
        Side::Sell => price <= target,
    }
}

/// An open position and its exit state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// `Buy` = long.
    pub side: Side,
    /// Tier it was opened as.
    pub tier: Tier,
    /// Confidence at entry.
    pub confidence: u8,
    /// Open quantity.
    pub qty: Qty,
    /// Quantity at entry.
    pub initial_qty: Qty,
    /// Average entry price (rounded to the nearest mantissa).
    pub entry: Price,
    /// Entry time, ms.
    pub entry_ms: i64,
    /// Regime at entry.
    pub entry_regime: Regime,
    /// The tier's levels.
    pub levels: ExitLevels,
    /// Take-profit price.
    pub take_profit: Price,
    /// Stop price.
    pub stop: Price,
    /// Which stop is in force.
    pub stop_kind: StopKind,
    /// Breakeven + round-trip fees.
    pub breakeven: Price,
    /// Best executable price seen since entry.
    pub best: Price,
    /// Layers taken (0–3).
    pub layers_done: u8,
    /// TP extensions so far.
    pub extensions: u32,
    /// R: the initial stop distance, price mantissa.
    pub r_distance: i64,
    /// The initial take-profit distance, price mantissa (before rounding
    /// to the tick).
    pub target_distance: i64,
    /// The stop set at the open.
    pub initial_stop: Price,
    /// The take-profit set at the open.
    pub initial_take_profit: Price,
}

/// What the exit logic needs from the market and the votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInputs {
    /// Now, ms.
    pub now_ms: i64,
    /// Executable price for closing (bid for a long, ask for a short).
    pub price: Price,
    /// Order-flow and acceleration votes (those available) still agree.
    pub momentum_agrees: bool,
    /// The regime now, when the source provides it.
    pub regime: Option<Regime>,
    /// The regime now allows the position's direction.
    pub regime_allows: bool,
    /// Average true range now, price mantissa (0: unknown).
    pub atr: i64,
    /// Momentum of both horizons is aligned with the position.
    pub strong_trend: bool,
}

impl Position {
    /// A position opened at `entry` (average price of the entry fills).
    /// `round_trip_fee` is the entry fee rate actually paid plus the taker
    /// rate of the exit.
    #[must_use]
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        side: Side,
        tier: Tier,
        confidence: u8,
        qty: Qty,
        entry: Price,
        entry_ms: i64,
        entry_regime: Regime,
        levels: ExitLevels,
        round_trip_fee: Rate,
        tick: Price,
    ) -> Self {
        let stop_distance = distance(entry, levels.stop_loss_bps_e2);
        let target_distance = distance(entry, levels.take_profit_bps_e2);
        Self::open_with(
            side,
            tier,
            confidence,
            qty,
            entry,
            entry_ms,
            entry_regime,
            levels,
            (stop_distance, target_distance),
            round_trip_fee,
            tick,
        )
    }

    /// [`Position::open`] with the stop and take-profit distances (price
    /// mantissas) planned at the decision (ATR and swing stops, R-multiple
    /// targets); `levels` gives the hold limit.
    #[must_use]
    #[allow(clippy::too_many_arguments)]
    pub fn open_with(
        side: Side,
        tier: Tier,
        confidence: u8,
        qty: Qty,
        entry: Price,
        entry_ms: i64,
        entry_regime: Regime,
        levels: ExitLevels,
        (stop_distance, target_distance): (i64, i64),
        round_trip_fee: Rate,
        tick: Price,
    ) -> Self {
        let take_profit = level(entry, target_distance.max(1), side, true, tick);
        let stop = level(entry, stop_distance.max(1), side, false, tick);
        let breakeven = level(entry, rate_distance(entry, round_trip_fee), side, true, tick);
        Self {
            side,
            tier,
            confidence,
            qty,
            initial_qty: qty,
            entry,
            entry_ms,
            entry_regime,
            levels,
            take_profit,
            stop,
            stop_kind: StopKind::Initial,
            breakeven,
            best: entry,
            layers_done: 0,
            extensions: 0,
            r_distance: stop_distance.max(1),
            target_distance: target_distance.max(1),
            initial_stop: stop,
            initial_take_profit: take_profit,
        }
    }

    /// Distance of the initial stop (R), price mantissa.
    fn r(&self) -> i64 {
        self.r_distance.max(1)
    }

    /// Best favourable excursion so far, in hundredths of R.
    fn excursion_r_e2(&self) -> i64 {
        let ex = i128::from((self.best.0 - self.entry.0) * self.side.sign());
        i64::try_from(ex * 100 / i128::from(self.r())).unwrap_or(i64::MAX)
    }

    /// The trailing distance now (module docs, rule 7), price mantissa.
    fn trail_distance(&self, cfg: &ExitConfig, inp: &ExitInputs) -> i64 {
        let mult = if inp.strong_trend { cfg.trail_atr_strong_e2 } else { cfg.trail_atr_weak_e2 };
        if cfg.trail_atr_strong_e2 > 0 && inp.atr > 0 && mult > 0 {
            (i128::from(inp.atr) * i128::from(mult) / 100).try_into().unwrap_or(i64::MAX / 4)
        } else {
            distance(self.best, cfg.layer_trail_bps_e2)
        }
    }

    /// Rules 6 and 7: the ladder and trailing from R.
    fn lock_and_trail(&mut self, cfg: &ExitConfig, inp: &ExitInputs, tick: Price) {
        let px = inp.price;
        let ex = self.excursion_r_e2();
        for rung in &cfg.ladder[..usize::from(cfg.ladder_len)] {
            if ex < i64::from(rung.at_r_e2) {
                break;
            }
            let (to, kind) = if rung.lock_r_e2 == 0 {
                (self.breakeven, StopKind::Breakeven)
            } else {
                let d = i64::try_from(i128::from(self.r()) * i128::from(rung.lock_r_e2) / 100).unwrap_or(0);
                (level(self.entry, d, self.side, true, tick), StopKind::ProfitLock)
            };
            if reached(self.side, px, to) {
                self.raise_stop(to, kind);
            }
        }
        if cfg.trail_from_r_e2.is_some_and(|from| ex >= i64::from(from)) {
            let trail = self.trail_distance(cfg, inp);
            let stop = level(self.best, trail, self.side, false, tick);
            if reached(self.side, px, stop) {
                self.raise_stop(stop, StopKind::Trailing);
            }
        }
    }

    fn raise_stop(&mut self, to: Price, kind: StopKind) {
        let better = match self.side {
            Side::Buy => to > self.stop,
            Side::Sell => to < self.stop,
        };
        if better {
            self.stop = to;
            self.stop_kind = kind;
        }
    }

    /// Quantity of one layer (a quarter of the initial size on the step);
    /// the whole position when a quarter is below `min_qty`.
    fn layer_qty(&self, step: Qty, min_qty: Qty) -> Qty {
        let quarter = self.initial_qty.0 / 4;
        let quarter = quarter - quarter.rem_euclid(step.0.max(1));
        if quarter < min_qty.0.max(1) { self.qty } else { Qty(quarter.min(self.qty.0)) }
    }

    /// Checks the exits (module docs) and updates the trailing state.
    /// Returns the quantity to close and why, if any.
    pub fn evaluate(
        &mut self,
        cfg: &ExitConfig,
        inp: &ExitInputs,
        tick: Price,
        step: Qty,
        min_qty: Qty,
    ) -> Option<(Qty, ExitReason)> {
        let px = inp.price;
        if self.qty.0 <= 0 {
            return None;
        }
        // The time stop needs no price: it fires during a resync too.
        if inp.now_ms - self.entry_ms >= self.levels.max_hold_ms {
            return Some((self.qty, ExitReason::TimeStop));
        }
        if px.0 <= 0 {
            return None;
        }
        if reached(self.side, px, self.best) {
            self.best = px;
        }
        if reached(self.side.opposite(), px, self.stop) {
            return Some((self.qty, self.stop_kind.reason()));
        }
        if cfg.regime_exit && inp.regime.is_some_and(|r| r != self.entry_regime) && !inp.regime_allows {
            return Some((self.qty, ExitReason::RegimeChange));
        }
        if self.tier == Tier::Cascade {
            // Its own take-profit, stop and hold limit only.
            return reached(self.side, px, self.take_profit).then_some((self.qty, ExitReason::TakeProfit));
        }
        if cfg.layered {
            if let Some(exit) = self.layers(cfg, inp, tick, step, min_qty) {
                return Some(exit);
            }
        } else if reached(self.side, px, self.take_profit) {
            if !(cfg.zone_trailing && inp.momentum_agrees) {
                return Some((self.qty, ExitReason::TakeProfit));
            }
            // Lock half the move, extend the target by half its distance.
            let move_ = (self.take_profit.0 - self.entry.0).abs();
            let lock = level(self.entry, move_ / 2, self.side, true, tick);
            self.raise_stop(lock, StopKind::ProfitLock);
            self.take_profit = level(self.take_profit, move_ / 2, self.side, true, tick);
            self.extensions += 1;
        }
        if self.stop_kind == StopKind::Initial {
            let tp_distance = self.target_distance;
            let trigger = i128::from(tp_distance) * i128::from(cfg.breakeven_at_permille) / 1000;
            let excursion = i128::from((self.best.0 - self.entry.0) * self.side.sign());
            let zone = (cfg.zone_trailing && excursion >= trigger) || self.layers_done >= 1;
            // Only once the price is beyond breakeven + fees: a stop set
            // through the market would close the position at once, at a loss.
            if zone && reached(self.side, px, self.breakeven) {
                self.raise_stop(self.breakeven, StopKind::Breakeven);
            }
        }
        self.lock_and_trail(cfg, inp, tick);
        None
    }

    fn layers(
        &mut self,
        cfg: &ExitConfig,
        inp: &ExitInputs,
        tick: Price,
        step: Qty,
        min_qty: Qty,
    ) -> Option<(Qty, ExitReason)> {
        let px = inp.price;
        if self.layers_done >= 3 {
            let trail = self.trail_distance(cfg, inp);
            let stop = level(self.best, trail, self.side, false, tick);
            self.raise_stop(stop, StopKind::Trailing);
            return None;
        }
        let k = i64::from(self.layers_done) + 1;
        let target = level(self.entry, self.r() * k, self.side, true, tick);
        if !reached(self.side, px, target) {
            return None;
        }
        self.layers_done += 1;
        match self.layers_done {
            1 if reached(self.side, px, self.breakeven) => self.raise_stop(self.breakeven, StopKind::Breakeven),
            2 => {
                let one_r = level(self.entry, self.r(), self.side, true, tick);
                self.raise_stop(one_r, StopKind::ProfitLock);
            }
            _ => {}
        }
        let reason = [ExitReason::Layer1, ExitReason::Layer2, ExitReason::Layer3][usize::from(self.layers_done - 1)];
        Some((self.layer_qty(step, min_qty), reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::StrategyConfig;

    const TICK: Price = Price(10);
    const ENTRY: Price = Price(6_000_000); // 60 000.00

    fn levels() -> ExitLevels {
        // TP 10 bps = 60.00, SL 5 bps = 30.00, 60 s.
        ExitLevels { take_profit_bps_e2: 1000, stop_loss_bps_e2: 500, max_hold_ms: 60_000 }
    }

    fn long() -> Position {
        // Round trip 6 bps = 36.00 → breakeven 60 036.00.
        Position::open(Side::Buy, Tier::A, 85, Qty(100), ENTRY, 0, Regime::Ranging, levels(), Rate(60_000), TICK)
    }

    fn at(now_ms: i64, price: i64, agrees: bool) -> ExitInputs {
        ExitInputs {
            now_ms,
            price: Price(price),
            momentum_agrees: agrees,
            regime: Some(Regime::Ranging),
            regime_allows: true,
            atr: 0,
            strong_trend: false,
        }
    }

    fn cfg() -> ExitConfig {
        StrategyConfig::default().exits
    }

    fn eval(p: &mut Position, c: &ExitConfig, i: ExitInputs) -> Option<(Qty, ExitReason)> {
        p.evaluate(c, &i, TICK, Qty(1), Qty(1))
    }

    #[test]
    fn levels_are_on_the_tick_away_from_entry() {
        let p = long();
        assert_eq!((p.take_profit, p.stop, p.breakeven), (Price(6_006_000), Price(5_997_000), Price(6_003_600)));
        // 7.5 bps of 60 000.05 = 45.0000375 → TP rounds up to 60 045.10.
        let odd = ExitLevels { take_profit_bps_e2: 750, ..levels() };
        let s =
            Position::open(Side::Sell, Tier::B, 80, Qty(1), Price(6_000_005), 0, Regime::Ranging, odd, Rate(0), TICK);
        assert_eq!(s.take_profit, Price(5_995_500));
        assert_eq!(s.stop, Price(6_003_010));
    }

    #[test]
    fn stop_loss_and_take_profit() {
        let c = ExitConfig { zone_trailing: false, ..cfg() };
        let mut p = long();
        assert_eq!(eval(&mut p, &c, at(1, 5_997_010, false)), None);
        assert_eq!(eval(&mut p, &c, at(2, 5_997_000, false)), Some((Qty(100), ExitReason::StopLoss)));
        let mut p = long();
        assert_eq!(eval(&mut p, &c, at(1, 6_005_990, true)), None);
        assert_eq!(eval(&mut p, &c, at(2, 6_006_000, true)), Some((Qty(100), ExitReason::TakeProfit)));
    }

    #[test]
    fn zone_trailing_moves_stop_to_breakeven_plus_fees() {
        let c = cfg();
        let mut p = long();
        // 29.90 of a 60.00 TP distance: not yet half.
        assert_eq!(eval(&mut p, &c, at(1, 6_002_990, false)), None);
        assert_eq!(p.stop_kind, StopKind::Initial);
        // Half way, but below breakeven + fees (60 036.00): the stop waits.
        assert_eq!(eval(&mut p, &c, at(2, 6_003_000, false)), None);
        assert_eq!(p.stop_kind, StopKind::Initial);
        assert_eq!(eval(&mut p, &c, at(3, 6_003_600, false)), None);
        assert_eq!((p.stop, p.stop_kind), (Price(6_003_600), StopKind::Breakeven));
        // Price falls back to the breakeven stop: closed without a loss net of fees.
        assert_eq!(eval(&mut p, &c, at(4, 6_003_590, false)), Some((Qty(100), ExitReason::BreakevenStop)));
        // Without zone trailing the stop never moves.
        let off = ExitConfig { zone_trailing: false, ..cfg() };
        let mut q = long();
        assert_eq!(eval(&mut q, &off, at(1, 6_005_000, false)), None);
        assert_eq!(q.stop_kind, StopKind::Initial);
    }

    #[test]
    fn at_take_profit_lock_half_and_extend_while_momentum_agrees() {
        let c = cfg();
        let mut p = long();
        assert_eq!(eval(&mut p, &c, at(1, 6_006_000, true)), None);
        assert_eq!((p.stop, p.stop_kind), (Price(6_003_000), StopKind::ProfitLock));
        assert_eq!((p.take_profit, p.extensions), (Price(6_009_000), 1));
        // Extended again at the new target: half of 90.00 locked.
        assert_eq!(eval(&mut p, &c, at(2, 6_009_000, true)), None);
        assert_eq!((p.stop, p.take_profit), (Price(6_004_500), Price(6_013_500)));
        // Momentum fades at the target: take it.
        assert_eq!(eval(&mut p, &c, at(3, 6_013_500, false)), Some((Qty(100), ExitReason::TakeProfit)));
        // Or the locked stop catches the pullback.
        let mut q = long();
        eval(&mut q, &c, at(1, 6_006_000, true));
        assert_eq!(eval(&mut q, &c, at(2, 6_003_000, true)), Some((Qty(100), ExitReason::ProfitLockStop)));
    }

    #[test]
    fn time_stop_at_max_hold() {
        let mut p = long();
        assert_eq!(eval(&mut p, &cfg(), at(59_999, 6_000_000, false)), None);
        assert_eq!(eval(&mut p, &cfg(), at(60_000, 6_000_000, false)), Some((Qty(100), ExitReason::TimeStop)));
    }

    #[test]
    fn regime_change_against_the_position() {
        let mut p = long();
        let mut i = at(1, 6_000_000, false);
        i.regime_allows = false; // same regime as entry: no exit
        assert_eq!(eval(&mut p, &cfg(), i), None);
        i.regime = Some(Regime::HighVolatility);
        assert_eq!(eval(&mut p, &cfg(), i), Some((Qty(100), ExitReason::RegimeChange)));
        let c = ExitConfig { regime_exit: false, ..cfg() };
        assert_eq!(eval(&mut p, &c, i), None);
    }

    #[test]
    fn layered_take_profit_quarters_then_trails() {
        let c = ExitConfig { layered: true, ..cfg() };
        // SL 10 bps: R = 60.00; 1R 60 060, 2R 60 120, 3R 60 180.
        let wide = ExitLevels { stop_loss_bps_e2: 1000, ..levels() };
        let mut p =
            Position::open(Side::Buy, Tier::A, 85, Qty(100), ENTRY, 0, Regime::Ranging, wide, Rate(60_000), TICK);
        assert_eq!(eval(&mut p, &c, at(1, 6_005_990, false)), None);
        // The plain take-profit (60 060) is not used in layered mode: 1R is.
        assert_eq!(eval(&mut p, &c, at(2, 6_006_000, false)), Some((Qty(25), ExitReason::Layer1)));
        p.qty = Qty(75);
        assert_eq!((p.stop, p.stop_kind), (Price(6_003_600), StopKind::Breakeven));
        assert_eq!(eval(&mut p, &c, at(3, 6_012_000, false)), Some((Qty(25), ExitReason::Layer2)));
        p.qty = Qty(50);
        assert_eq!((p.stop, p.stop_kind), (Price(6_006_000), StopKind::ProfitLock));
        assert_eq!(eval(&mut p, &c, at(4, 6_018_000, false)), Some((Qty(25), ExitReason::Layer3)));
        p.qty = Qty(25);
        // Last quarter trails 5 bps behind the best price.
        assert_eq!(eval(&mut p, &c, at(5, 6_024_000, false)), None);
        // 5 bps of 60 240.00 = 30.12 → stop rounds down to 60 209.80.
        assert_eq!((p.stop, p.stop_kind), (Price(6_020_980), StopKind::Trailing));
        assert_eq!(eval(&mut p, &c, at(6, 6_021_000, false)), None);
        assert_eq!(eval(&mut p, &c, at(7, 6_020_980, false)), Some((Qty(25), ExitReason::TrailingStop)));
    }

    #[test]
    fn layers_of_a_tiny_position_close_it_whole() {
        let c = ExitConfig { layered: true, ..cfg() };
        let mut p = Position { qty: Qty(3), initial_qty: Qty(3), ..long() };
        // R = 30.00 (5 bps stop).
        assert_eq!(eval(&mut p, &c, at(1, 6_003_000, false)), Some((Qty(3), ExitReason::Layer1)));
    }

    #[test]
    fn short_mirror() {
        let mut s =
            Position::open(Side::Sell, Tier::B, 80, Qty(10), ENTRY, 0, Regime::Ranging, levels(), Rate(60_000), TICK);
        assert_eq!((s.take_profit, s.stop, s.breakeven), (Price(5_994_000), Price(6_003_000), Price(5_996_400)));
        let c = cfg();
        assert_eq!(eval(&mut s, &c, at(1, 5_997_000, false)), None);
        assert_eq!(s.stop_kind, StopKind::Initial);
        assert_eq!(eval(&mut s, &c, at(2, 5_996_000, false)), None);
        assert_eq!(s.stop, Price(5_996_400));
        assert_eq!(eval(&mut s, &c, at(3, 5_996_400, false)), Some((Qty(10), ExitReason::BreakevenStop)));
    }

    fn ladder_cfg() -> ExitConfig {
        let mut c = ExitConfig { zone_trailing: false, ..cfg() };
        let steps = [(100, 0), (150, 50), (200, 100), (300, 200)];
        for (k, (at, lock)) in steps.iter().enumerate() {
            c.ladder[k] = crate::strategy::config::LockStep { at_r_e2: *at, lock_r_e2: *lock };
        }
        c.ladder_len = 4;
        c
    }

    /// R = 30.00 (5 bps), breakeven + fees 60 036.00, TP far away.
    fn wide_tp() -> Position {
        let l = ExitLevels { take_profit_bps_e2: 100_000, ..levels() };
        Position::open(Side::Buy, Tier::A, 85, Qty(100), ENTRY, 0, Regime::Ranging, l, Rate(60_000), TICK)
    }

    #[test]
    fn profit_lock_ladder_at_its_rungs() {
        let c = ladder_cfg();
        let mut p = wide_tp();
        // 0.99R (29.70): nothing; 1R (30.00): breakeven + fees is 36.00 away,
        // so the stop waits until the price is beyond it.
        assert_eq!(eval(&mut p, &c, at(1, 6_002_970, false)), None);
        assert_eq!(p.stop_kind, StopKind::Initial);
        assert_eq!(eval(&mut p, &c, at(2, 6_003_000, false)), None);
        assert_eq!(p.stop_kind, StopKind::Initial);
        assert_eq!(eval(&mut p, &c, at(3, 6_003_600, false)), None);
        assert_eq!((p.stop, p.stop_kind), (Price(6_003_600), StopKind::Breakeven));
        // 1.49R: still breakeven; 1.5R (45.00) locks 0.5R (15.00), which is
        // below breakeven + fees: the stop stays where it is (never lowered).
        assert_eq!(eval(&mut p, &c, at(4, 6_004_470, false)), None);
        assert_eq!(eval(&mut p, &c, at(5, 6_004_500, false)), None);
        assert_eq!(p.stop, Price(6_003_600));
        // 2R (60.00) locks 1R (30.00) … still below 36.00; 3R (90.00) locks 2R (60.00).
        assert_eq!(eval(&mut p, &c, at(6, 6_009_000, false)), None);
        assert_eq!((p.stop, p.stop_kind), (Price(6_006_000), StopKind::ProfitLock));
        assert_eq!(eval(&mut p, &c, at(7, 6_006_000, false)), Some((Qty(100), ExitReason::ProfitLockStop)));
    }

    #[test]
    fn trailing_from_r_by_atr_strong_and_weak() {
        let mut c = ExitConfig { zone_trailing: false, ..cfg() };
        c.trail_from_r_e2 = Some(200);
        c.trail_atr_strong_e2 = 200;
        c.trail_atr_weak_e2 = 100;
        let mut p = wide_tp();
        // ATR 10.00 (1 000 mantissa). 1.99R: no trailing yet.
        let atr = |now, px, strong| ExitInputs { atr: 1_000, strong_trend: strong, ..at(now, px, false) };
        assert_eq!(eval(&mut p, &c, atr(1, 6_005_970, true)), None);
        assert_eq!(p.stop_kind, StopKind::Initial);
        // 2R (60.00): trails 2 × ATR = 20.00 behind the best while strong.
        assert_eq!(eval(&mut p, &c, atr(2, 6_006_000, true)), None);
        assert_eq!((p.stop, p.stop_kind), (Price(6_004_000), StopKind::Trailing));
        // Momentum weakens: 1 × ATR behind the best (60 070.00 → 60 060.00).
        assert_eq!(eval(&mut p, &c, atr(3, 6_007_000, false)), None);
        assert_eq!(p.stop, Price(6_006_000));
        // Strong again: 2 × ATR would lower it; a stop is never lowered.
        assert_eq!(eval(&mut p, &c, atr(4, 6_007_000, true)), None);
        assert_eq!(p.stop, Price(6_006_000));
        assert_eq!(eval(&mut p, &c, atr(5, 6_006_000, true)), Some((Qty(100), ExitReason::TrailingStop)));
        // Without an ATR the trail is layer_trail_bps (5 bps of 60 060.00 = 30.03 → 60 029.90).
        let mut q = wide_tp();
        assert_eq!(eval(&mut q, &c, at(1, 6_006_000, false)), None);
        assert_eq!(q.stop, Price(6_002_990));
    }

    #[test]
    fn cascade_trades_exit_only_at_their_own_levels() {
        let c = cfg();
        let mut p = Position { tier: Tier::Cascade, ..long() };
        // At the TP with momentum agreeing: no extension, no zone trailing: take it.
        assert_eq!(eval(&mut p, &c, at(1, 6_003_600, true)), None);
        assert_eq!(p.stop_kind, StopKind::Initial);
        assert_eq!(eval(&mut p, &c, at(2, 6_006_000, true)), Some((Qty(100), ExitReason::TakeProfit)));
        let mut q = Position { tier: Tier::Cascade, ..long() };
        assert_eq!(eval(&mut q, &c, at(60_000, 6_001_000, true)), Some((Qty(100), ExitReason::TimeStop)));
    }

    #[test]
    fn planned_distances_fixed_atr_swing_and_clamps() {
        let mut c = cfg();
        let l = levels(); // TP 10 bps, SL 5 bps
        let snap = SignalSnapshot { atr: 20.0, swing_low: 59_980.0, swing_high: 60_010.0, ..SignalSnapshot::default() };
        let plan = |c: &ExitConfig, tier, side, warm| plan_distances(c, &l, tier, side, ENTRY, &snap, 2, warm);
        assert_eq!(plan(&c, Tier::A, Side::Buy, false), Some((3_000, 6_000)));
        c.stop.method = StopMethod::Atr;
        c.stop.atr_multiple_e2 = 150;
        c.stop.min_bps_e2 = 200;
        c.stop.max_bps_e2 = 1_000;
        // 1.5 × 20.00 = 30.00; the target stays the tier's 10 bps without take_profit_r.
        assert_eq!(plan(&c, Tier::A, Side::Buy, true), Some((3_000, 6_000)));
        assert_eq!(plan(&c, Tier::A, Side::Buy, false), None, "ATR not warm");
        c.stop.take_profit_r_e2 = Some(250);
        assert_eq!(plan(&c, Tier::A, Side::Buy, true), Some((3_000, 7_500)));
        // Clamps: max 5 bps = 30.00 exactly (at), 4.99 bps clamps.
        c.stop.max_bps_e2 = 500;
        assert_eq!(plan(&c, Tier::A, Side::Buy, true), Some((3_000, 7_500)));
        c.stop.max_bps_e2 = 499;
        assert_eq!(plan(&c, Tier::A, Side::Buy, true).unwrap().0, 2_994);
        // Swing: long to 59 980.00 + 1 bp (6.00) = 26.00; short to 60 010.00 + 6.00 = 16.00.
        c.stop.method = StopMethod::Swing;
        c.stop.swing_buffer_bps_e2 = 100;
        c.stop.max_bps_e2 = 1_000;
        assert_eq!(plan(&c, Tier::A, Side::Buy, false).unwrap().0, 2_600);
        assert_eq!(plan(&c, Tier::A, Side::Sell, false).unwrap().0, 1_600);
        // Cascade trades keep their fixed levels whatever the method.
        assert_eq!(plan(&c, Tier::Cascade, Side::Buy, false), Some((3_000, 6_000)));
        let none = SignalSnapshot::default();
        assert_eq!(plan_distances(&c, &l, Tier::A, Side::Buy, ENTRY, &none, 2, true), None, "no swing yet");
    }

    #[test]
    fn open_with_planned_distances_sets_r() {
        let p = Position::open_with(
            Side::Sell,
            Tier::A,
            90,
            Qty(10),
            ENTRY,
            0,
            Regime::Trending,
            levels(),
            (2_505, 5_010),
            Rate(0),
            TICK,
        );
        // Rounded away from the entry to the tick: stop 60 025.10, target 59 949.90.
        assert_eq!((p.stop, p.take_profit, p.r_distance), (Price(6_002_510), Price(5_994_990), 2_505));
        assert_eq!((p.initial_stop, p.initial_take_profit), (p.stop, p.take_profit));
    }
}
