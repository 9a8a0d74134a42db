//! The stochastic limit order book behind the synthetic sessions.
//!
//! A continuous-time Markov model of individual resting orders in
//! price-time priority, simulated event by event (Gillespie's direct
//! method; far cancellations by thinning), in three regions:
//!
//! - **The touch** (each side's best level) is *queue-reactive* (Huang,
//!   Lehalle & Rosenbaum, "Simulating and analyzing order book data: the
//!   queue-reactive model", JASA 110(509), 2015): additions, cancellations
//!   and market orders arrive at rates that depend on the level's quantity
//!   (log₂ buckets, [`params::TOUCH`]), with bucket-dependent addition
//!   sizes. A cancellation either empties the level (with the bucket's
//!   measured share) or removes a measured fraction of it from the newest
//!   orders. Additions are placed as orders of [`params::MAKER_ORDER_SIZES`].
//! - **Deep levels**, `d ≥ 1` ticks behind the best, follow Cont, Stoikov &
//!   Talreja ("A stochastic model for order book dynamics", Operations
//!   Research 58(3), 2010): limit orders arrive at rate `λ(d)` per tick and
//!   every resting order is cancelled independently at the measured per-lot
//!   outflow rate ([`params::DEPTH_BANDS`]); levels more than
//!   [`params::DEPTH_WINDOW_TICKS`] behind the best are removed.
//! - **The spread**: while it is two ticks or wider, each side places
//!   orders inside it ([`params::IMPROVE_PER_S`]); when a side's best
//!   improves, most quotes at the old best are cancelled (repricing,
//!   [`params::REPRICE_CANCEL_SHARE`]); and at [`params::PULL_PER_S`] the
//!   reference price moves away from a side and its best level is pulled.
//! - **Market orders** take [`params::TAKER_SIZES`] from the opposite side
//!   in price-time priority; every maker order touched is one trade print.
//!
//! Prices are integer ticks, quantities integer lots; `f64` only for rates
//! and probabilities. All randomness comes from the caller's [`Rng`].
//!
//! # Invariants
//! - The book is never crossed: bids are below the best ask, asks above
//!   the best bid (arrivals are placed relative to the own side's best or
//!   strictly inside the spread; market orders only remove).
//! - Every level lies within [`params::DEPTH_WINDOW_TICKS`] of its side's
//!   best price; levels that fall out when the best improves are removed
//!   (and reported as changed).
//! - A level's quantity is the sum of its orders' lots; an empty level
//!   holds no orders. Checked by [`Lob::check_invariants`] in the tests.
//! - Storage grows only while the book fills (warm-up); a step allocates
//!   nothing once the order slab and buffers have reached their high-water
//!   marks.

use super::calibrate::queue_bucket;
use super::params::{self, HAWKES_KERNELS, HawkesParams, QuantileTable, REGIMES, Regimes};
use super::rng::{self, Rng};
use crate::side::Side;

/// Level slots per side: a power of two above the window.
const RING: usize = 4096;
const _: () = assert!(RING as i64 > params::DEPTH_WINDOW_TICKS + 1 && RING.is_power_of_two());
const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Order {
    lots: i64,
    tick: i64,
    prev: u32,
    next: u32,
    live_idx: u32,
    side: u8,
}

#[derive(Debug, Clone, Copy)]
struct Level {
    tick: i64,
    lots: i64,
    head: u32,
    tail: u32,
    orders: u32,
    dirty: bool,
}

impl Default for Level {
    fn default() -> Self {
        Self { tick: i64::MIN, lots: 0, head: NIL, tail: NIL, orders: 0, dirty: false }
    }
}

/// One side of the book: a ring of level slots indexed by tick.
#[derive(Debug, Clone)]
struct Ladder {
    levels: Box<[Level]>,
    /// `+1` for bids (higher is better), `−1` for asks.
    sign: i64,
    /// Best tick while the side holds levels; the last best otherwise.
    best: i64,
    n_levels: u32,
    /// Ids of this side's resting orders, for uniform picks.
    live: Vec<u32>,
    /// Ticks whose quantity changed since the last [`Lob::take_changes`].
    dirty: Vec<i64>,
}

#[inline]
fn slot(tick: i64) -> usize {
    tick.rem_euclid(RING as i64) as usize
}

impl Ladder {
    fn new(sign: i64, best: i64) -> Self {
        Self {
            levels: vec![Level::default(); RING].into_boxed_slice(),
            sign,
            best,
            n_levels: 0,
            live: Vec::with_capacity(1 << 14),
            dirty: Vec::with_capacity(1 << 10),
        }
    }

    #[inline]
    fn occupied(&self, tick: i64) -> Option<&Level> {
        let level = &self.levels[slot(tick)];
        (level.tick == tick && level.orders > 0).then_some(level)
    }

    /// Ticks behind the best (0 at the best, positive behind it).
    #[inline]
    fn behind(&self, tick: i64) -> i64 {
        (self.best - tick) * self.sign
    }

    #[inline]
    fn mark_dirty(&mut self, tick: i64, track: bool) {
        if !track {
            return;
        }
        let level = &mut self.levels[slot(tick)];
        if !level.dirty {
            level.dirty = true;
            self.dirty.push(tick);
        }
    }

    fn top(&self) -> Option<(i64, i64)> {
        (self.n_levels > 0).then(|| (self.best, self.levels[slot(self.best)].lots))
    }
}

/// One trade print of a market order: the maker order's price and the
/// filled lots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Print {
    /// Price, ticks.
    pub tick: i64,
    /// Filled quantity, lots.
    pub lots: i64,
}

/// What kind of event fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A limit order joined the best level.
    Join,
    /// A resting order at the best level was cancelled.
    TouchCancel,
    /// A limit order arrived behind the best.
    DeepArrival,
    /// A resting order behind the best was cancelled.
    DeepCancel,
    /// A limit order arrived inside the spread.
    Improve,
    /// A market order (the side is the taker's) filled resting orders.
    Market,
    /// The best level of a side was pulled (the reference price moved).
    Pull,
}

/// An executed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fired {
    /// What happened.
    pub kind: EventKind,
    /// Bid side (`Buy`) or ask side (`Sell`) of the book; for a market
    /// order, the taker's side.
    pub side: Side,
    /// The best bid or ask price or quantity changed.
    pub top_changed: bool,
}

/// Event counters of a model run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventCounts {
    /// Executed events by [`EventKind`] (in declaration order).
    pub by_kind: [u64; 7],
    /// Cancellation proposals rejected by thinning (no event).
    pub rejected: u64,
    /// Market order lots that found no resting order (the side ran dry).
    pub unfilled_lots: u64,
    /// Switches of the market regime (calm ⇄ burst); not order events.
    pub regime_switches: u64,
}

impl EventCounts {
    /// All executed events.
    #[must_use]
    pub fn executed(&self) -> u64 {
        self.by_kind.iter().sum()
    }
}

/// The rates of the model, derived once from [`params`].
#[derive(Debug, Clone)]
struct Rates {
    /// Deep arrival rate per side (all distances).
    deep: f64,
    /// Cumulative arrival weight by band, normalised to 1.
    band_cdf: [f64; params::DEPTH_BANDS.len()],
    /// Per-order cancellation rate by distance (index = ticks behind).
    theta: Vec<f64>,
    /// Largest rate beyond [`params::NEAR_CANCEL_TICKS`]: the thinning
    /// bound of the far cancellations.
    theta_far_max: f64,
}

impl Rates {
    fn new() -> Self {
        let mut theta = vec![0.0; params::DEPTH_WINDOW_TICKS as usize + 1];
        let mut band_cdf = [0.0; params::DEPTH_BANDS.len()];
        let mut total = 0.0;
        for (i, band) in params::DEPTH_BANDS.iter().enumerate() {
            total += band.arrivals_per_tick_s * f64::from(band.to - band.from + 1);
            band_cdf[i] = total;
            for d in band.from..=band.to {
                theta[d as usize] = band.cancel_rate();
            }
        }
        for c in &mut band_cdf {
            *c /= total;
        }
        let theta_far_max = theta[params::NEAR_CANCEL_TICKS as usize + 1..].iter().copied().fold(0.0, f64::max);
        Self { deep: total, band_cdf, theta, theta_far_max }
    }
}

/// Event channels per side.
const CHANNELS: usize = 8;
/// The market-order channel among them.
const MARKET: usize = 6;
/// The regime switch: one channel after both sides'.
const SWITCH: usize = 2 * CHANNELS;
/// The farthest a reference-price jump pulls quotes, ticks.
const MAX_PULL_TICKS: i64 = 64;

/// The parameters of the model's dynamics that are fitted rather than read
/// off the recording directly, as a value so that fitting tools can vary
/// them; [`Dynamics::CALIBRATED`] reproduces the recording.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dynamics {
    /// Reference-price pulls per second per side ([`params::PULL_PER_S`]).
    pub pull_per_s: f64,
    /// Mean size of a reference-price jump in ticks: the pulled quotes
    /// reach this far behind the best on average
    /// ([`params::PULL_MEAN_TICKS`]; 1 pulls the best level only).
    pub pull_mean_ticks: f64,
    /// Self-exciting market orders ([`params::MARKET_HAWKES`];
    /// [`HawkesParams::POISSON`] turns the excitation off).
    pub market_hawkes: HawkesParams,
    /// Calm and burst activity ([`params::REGIMES_FIT`]; [`Regimes::NONE`]
    /// turns the switching off).
    pub regimes: Regimes,
    /// Market order sizes per regime ([`params::TAKER_SIZES_BY_REGIME`]).
    pub taker_sizes: [QuantileTable; REGIMES],
    /// Share of the improvements inside a wide spread made by the side
    /// opposite the last retreat ([`params::IMPROVE_FOLLOW_SHARE`]; ½ is
    /// no bias).
    pub improve_follow_share: f64,
}

impl Dynamics {
    /// The calibrated values of [`params`].
    pub const CALIBRATED: Self = Self {
        pull_per_s: params::PULL_PER_S,
        pull_mean_ticks: params::PULL_MEAN_TICKS,
        market_hawkes: params::MARKET_HAWKES,
        regimes: params::REGIMES_FIT,
        taker_sizes: params::TAKER_SIZES_BY_REGIME,
        improve_follow_share: params::IMPROVE_FOLLOW_SHARE,
    };

    /// Checks the values: `Err` names the first bad one.
    ///
    /// # Errors
    /// A description of the bad value.
    pub fn validate(&self) -> Result<(), &'static str> {
        let h = &self.market_hawkes;
        if !(self.pull_per_s.is_finite() && self.pull_per_s >= 0.0) {
            return Err("pull rate must be a non-negative number per second");
        }
        if !(self.pull_mean_ticks.is_finite() && self.pull_mean_ticks >= 1.0) {
            return Err("mean pull jump must be at least one tick");
        }
        if !(self.improve_follow_share.is_finite() && (0.0..=1.0).contains(&self.improve_follow_share)) {
            return Err("improvement follow share must be within 0..=1");
        }
        let branching_ok = h.self_branching.iter().chain(&h.cross_branching).all(|b| b.is_finite() && *b >= 0.0);
        if !(branching_ok && h.branching_ratio() < 1.0) {
            return Err("market-order branching ratios must be non-negative and sum below 1");
        }
        if !(h.background_per_s.is_finite() && h.background_per_s > 0.0) {
            return Err("market-order background rate must be positive");
        }
        let r = &self.regimes;
        if !(r.switch_per_s.iter().all(|q| q.is_finite() && *q >= 0.0)
            && [r.burst_activity, r.burst_market_activity].iter().all(|a| a.is_finite() && *a > 0.0)
            && (0.0..=1.0).contains(&r.burst_direction))
        {
            return Err("regime switching rates must be non-negative and the burst activity positive");
        }
        Ok(())
    }
}

/// The order book model. Prices are model ticks (the session maps them to
/// the instrument's prices), quantities lots of the instrument.
#[derive(Debug, Clone)]
pub struct Lob {
    sides: [Ladder; 2],
    orders: Vec<Order>,
    free: Vec<u32>,
    prints: Vec<Print>,
    /// Order ids being cancelled together (reused).
    scratch: Vec<u32>,
    rates: Rates,
    multiplier: f64,
    track_changes: bool,
    counts: EventCounts,
    /// Channel rates for the current state (see `refresh_rates`).
    channel: [f64; 2 * CHANNELS + 1],
    total: f64,
    dynamics: Dynamics,
    /// Exogenous share of the queue-reactive market-order rates.
    background_share: f64,
    /// The market regime now (0 calm, 1 burst)...
    regime: usize,
    /// ...and the activity of each, for the limit-order book and for the
    /// market orders.
    activity: [f64; REGIMES],
    market_activity: [f64; REGIMES],
    /// Market-order excitation per kernel component and side of the
    /// orders that caused it: `Σ β_k e^{−β_k (t − t_i)}` over that side's
    /// past market orders, as of the last step.
    excitation: [[f64; 2]; HAWKES_KERNELS],
    /// The taker side the current burst favours ([`Regimes::burst_direction`]).
    burst_side: usize,
    /// The side whose best price last retreated while the spread is wide
    /// (`None` once it is one tick again).
    retreated: Option<usize>,
}

#[inline]
fn side_index(side: Side) -> usize {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

#[inline]
fn side_of(index: usize) -> Side {
    if index == 0 { Side::Buy } else { Side::Sell }
}

impl Lob {
    /// A book with one touch queue of [`params::TOUCH_DEPTH_LOTS`] (in
    /// calibration lots) at `best_bid` and one at `best_bid + 1`, nothing
    /// behind; run it for a while before publishing anything. `multiplier`
    /// converts calibration lots into the instrument's lots;
    /// `track_changes` records changed levels for [`Lob::take_changes`];
    /// `dynamics` are the fitted rates ([`Dynamics::CALIBRATED`] reproduces
    /// the recording).
    #[must_use]
    pub fn new(best_bid: i64, multiplier: f64, track_changes: bool, dynamics: Dynamics, rng: &mut Rng) -> Self {
        let mut lob = Self {
            sides: [Ladder::new(1, best_bid), Ladder::new(-1, best_bid + 1)],
            orders: Vec::with_capacity(1 << 15),
            free: Vec::with_capacity(1 << 15),
            prints: Vec::with_capacity(1024),
            scratch: Vec::with_capacity(1024),
            rates: Rates::new(),
            multiplier,
            track_changes,
            counts: EventCounts::default(),
            channel: [0.0; 2 * CHANNELS + 1],
            total: 0.0,
            dynamics,
            background_share: dynamics.market_hawkes.background_per_s / params::MARKET_ORDERS_PER_S,
            regime: 0,
            activity: dynamics.regimes.activity(),
            market_activity: dynamics.regimes.market_activity(),
            excitation: [[0.0; 2]; HAWKES_KERNELS],
            retreated: None,
            burst_side: 0,
        };
        // The regime starts as the chain's long-run distribution says.
        lob.regime = usize::from(rng.chance(dynamics.regimes.burst_share()));
        lob.burst_side = usize::from(rng.chance(0.5));
        let target = (params::TOUCH_DEPTH_LOTS as f64 * multiplier) as i64;
        for (s, tick) in [(0, best_bid), (1, best_bid + 1)] {
            let mut lots = 0;
            while lots < target {
                let bucket = if lots == 0 { 0 } else { lob.touch_bucket(s) };
                let size = lob.draw(&params::TOUCH[bucket].join_sizes, rng);
                lob.place(s, tick, size, rng);
                lots += size;
            }
        }
        lob.refresh_rates();
        lob
    }

    /// A size from `table`, in the instrument's lots (at least one).
    fn draw(&self, table: &QuantileTable, rng: &mut Rng) -> i64 {
        let lots = table.at(rng.uniform()) * self.multiplier;
        ((lots + 0.5) as i64).max(1)
    }

    /// Best price and quantity of a side.
    #[must_use]
    pub fn best(&self, side: Side) -> Option<(i64, i64)> {
        self.sides[side_index(side)].top()
    }

    /// Trade prints of the last market order.
    #[must_use]
    pub fn prints(&self) -> &[Print] {
        &self.prints
    }

    /// The market regime now: 0 calm, 1 burst ([`params::MarketFlow`]).
    #[must_use]
    pub fn regime(&self) -> usize {
        self.regime
    }

    /// Event counters.
    #[must_use]
    pub fn counts(&self) -> EventCounts {
        self.counts
    }

    /// Resting orders on both sides.
    #[must_use]
    pub fn order_count(&self) -> usize {
        self.sides[0].live.len() + self.sides[1].live.len()
    }

    /// Levels of a side, best first, as (tick, lots).
    pub fn levels(&self, side: Side) -> impl Iterator<Item = (i64, i64)> + '_ {
        let ladder = &self.sides[side_index(side)];
        let n = if ladder.n_levels > 0 { params::DEPTH_WINDOW_TICKS + 1 } else { 0 };
        (0..n).filter_map(move |d| {
            let tick = ladder.best - d * ladder.sign;
            ladder.occupied(tick).map(|l| (tick, l.lots))
        })
    }

    /// Hands every level changed since the last call to `f` as
    /// (tick, lots now — 0 when gone), in ascending price order per side,
    /// bids first; then forgets them. Empty unless built with
    /// `track_changes`.
    pub fn take_changes(&mut self, mut f: impl FnMut(Side, i64, i64)) {
        for (s, ladder) in self.sides.iter_mut().enumerate() {
            ladder.dirty.sort_unstable();
            for &tick in &ladder.dirty {
                let level = &mut ladder.levels[slot(tick)];
                level.dirty = false;
                let lots = if level.tick == tick && level.orders > 0 { level.lots } else { 0 };
                f(side_of(s), tick, lots);
            }
            ladder.dirty.clear();
        }
    }

    /// Forgets the changed levels without reporting them.
    pub fn clear_changes(&mut self) {
        self.take_changes(|_, _, _| {});
    }

    fn touch_bucket(&self, s: usize) -> usize {
        let lots = self.sides[s].top().map_or(1, |(_, l)| l);
        queue_bucket((lots as f64 / self.multiplier) as i64)
    }

    fn spread(&self) -> Option<i64> {
        match (self.sides[0].top(), self.sides[1].top()) {
            (Some((b, _)), Some((a, _))) => Some(a - b),
            _ => None,
        }
    }

    /// Exact cancellation rate of the orders up to
    /// [`params::NEAR_CANCEL_TICKS`] behind the best of side `s`.
    fn near_cancel_rate(&self, s: usize) -> f64 {
        let ladder = &self.sides[s];
        if ladder.n_levels == 0 {
            return 0.0;
        }
        let mut rate = 0.0;
        for d in 1..=params::NEAR_CANCEL_TICKS {
            if let Some(level) = ladder.occupied(ladder.best - d * ladder.sign) {
                rate += self.rates.theta[d as usize] * f64::from(level.orders);
            }
        }
        rate
    }

    /// The market-order rate of taker side `s` now: the queue-reactive rate
    /// of the level it hits, scaled to its exogenous share, plus the
    /// excitation of past market orders, times the regime's activity.
    fn market_rate(&self, s: usize) -> f64 {
        if self.sides[1 - s].n_levels == 0 {
            return 0.0;
        }
        let h = &self.dynamics.market_hawkes;
        // A burst's direction moves its exogenous orders only (the
        // excitation keeps its branching ratio, below 1).
        let direction = match (self.regime, s == self.burst_side) {
            (0, _) => 1.0,
            (_, true) => 1.0 + self.dynamics.regimes.burst_direction,
            (_, false) => 1.0 - self.dynamics.regimes.burst_direction,
        };
        let mut rate = params::TOUCH[self.touch_bucket(1 - s)].market_per_s * self.background_share * direction;
        for k in 0..HAWKES_KERNELS {
            rate += h.self_branching[k] * self.excitation[k][s] + h.cross_branching[k] * self.excitation[k][1 - s];
        }
        rate * self.market_activity[self.regime]
    }

    /// Recomputes the market-order channels (the excitation decayed) and
    /// the total.
    fn refresh_market(&mut self) {
        for s in 0..2 {
            self.channel[s * CHANNELS + MARKET] = self.market_rate(s);
        }
        self.total = self.channel.iter().sum();
    }

    /// Lets `elapsed_s` seconds of model time pass for the excitation (it
    /// decays in business time: faster in the burst regime).
    fn decay(&mut self, elapsed_s: f64) {
        let business_s = elapsed_s * self.market_activity[self.regime];
        for (k, beta) in params::HAWKES_DECAYS_PER_S.iter().enumerate() {
            let e = &mut self.excitation[k];
            if e[0] + e[1] < 1e-12 {
                *e = [0.0; 2];
                continue;
            }
            let f = rng::exp(-beta * business_s);
            e[0] *= f;
            e[1] *= f;
        }
    }

    /// Recomputes the rates of the event channels: for each side, join,
    /// touch cancel, deep arrival, near cancel, far-cancel proposal,
    /// improvement, market order, pull.
    fn refresh_rates(&mut self) {
        let wide = self.spread().is_some_and(|s| s >= 2);
        let follow = self.dynamics.improve_follow_share;
        for s in 0..2 {
            let b = self.touch_bucket(s);
            let ladder = &self.sides[s];
            let base = s * CHANNELS;
            self.channel[base] = params::TOUCH[b].join_per_s;
            self.channel[base + 1] = if ladder.n_levels > 0 { params::TOUCH[b].cancel_per_s } else { 0.0 };
            self.channel[base + 2] = self.rates.deep;
            self.channel[base + 3] = self.near_cancel_rate(s);
            self.channel[base + 4] = self.rates.theta_far_max * ladder.live.len() as f64;
            // While wide after a retreat, the other side follows more often
            // than the retreated side comes back.
            let bias = match self.retreated {
                Some(r) if r == s => 2.0 * (1.0 - follow),
                Some(_) => 2.0 * follow,
                None => 1.0,
            };
            self.channel[base + 5] = if wide { params::IMPROVE_PER_S * bias } else { 0.0 };
            // A taker on side s hits the other side's best level.
            self.channel[base + MARKET] = self.market_rate(s);
            self.channel[base + 7] = if ladder.n_levels > 1 { self.dynamics.pull_per_s } else { 0.0 };
        }
        // The regime's activity scales every book event (the market rates
        // include it already); the switch runs in calendar time.
        let activity = self.activity[self.regime];
        for (i, rate) in self.channel[..SWITCH].iter_mut().enumerate() {
            if i % CHANNELS != MARKET {
                *rate *= activity;
            }
        }
        self.channel[SWITCH] = self.dynamics.regimes.switch_per_s[self.regime];
        self.total = self.channel.iter().sum();
    }

    /// Total rate of all channels (executed events plus rejected proposals)
    /// per second: the next step comes after an exponential wait at this
    /// rate.
    #[must_use]
    pub fn total_rate(&self) -> f64 {
        self.total
    }

    /// Fires one event chosen in proportion to the channel rates, after
    /// `elapsed_s` seconds of model time since the previous step (the wait
    /// drawn at [`Lob::total_rate`]); `None` when the book did not change:
    /// the market regime switched, or the proposal was thinned away — a far
    /// cancellation (Lewis & Shedler 1979), or a market order whose
    /// excitation decayed during the wait (Ogata 1981: the rate at the last
    /// step bounds it until the next, as excitation only decays between
    /// events).
    pub fn step(&mut self, elapsed_s: f64, rng: &mut Rng) -> Option<Fired> {
        self.decay(elapsed_s);
        let mut x = rng.uniform() * self.total;
        let mut channel = self.channel.len() - 1;
        for (i, r) in self.channel.iter().enumerate() {
            if x < *r {
                channel = i;
                break;
            }
            x -= r;
        }
        if channel == SWITCH {
            self.regime = 1 - self.regime;
            if self.regime == 1 {
                self.burst_side = usize::from(rng.chance(0.5));
            }
            self.counts.regime_switches += 1;
            self.refresh_rates();
            return None;
        }
        let (s, which) = (channel / CHANNELS, channel % CHANNELS);
        if which == MARKET && !rng.chance(self.market_rate(s) / self.channel[channel]) {
            self.counts.rejected += 1;
            self.refresh_market();
            return None;
        }
        let before = [self.sides[0].top(), self.sides[1].top()];
        let kind = match which {
            0 => self.join(s, rng),
            1 => self.touch_cancel(s, rng),
            2 => self.deep_arrival(s, rng),
            3 => self.near_cancel(s, rng),
            4 => self.far_cancel(s, rng),
            5 => self.improve(s, rng),
            6 => self.market(s, rng),
            _ => self.pull(s, rng),
        };
        let Some(kind) = kind else {
            self.counts.rejected += 1;
            self.refresh_market();
            return None;
        };
        let after = [self.sides[0].top(), self.sides[1].top()];
        if kind == EventKind::Market {
            for (k, beta) in params::HAWKES_DECAYS_PER_S.iter().enumerate() {
                self.excitation[k][s] += beta;
            }
        }
        self.track_retreat(before, after);
        self.refresh_rates();
        self.counts.by_kind[kind as usize] += 1;
        Some(Fired { kind, side: side_of(s), top_changed: before != after })
    }

    /// Remembers which side's best price last moved away from the spread
    /// while it is wide.
    fn track_retreat(&mut self, before: [Option<(i64, i64)>; 2], after: [Option<(i64, i64)>; 2]) {
        for s in 0..2 {
            let sign = self.sides[s].sign;
            let worse = match (before[s], after[s]) {
                (Some((b, _)), Some((a, _))) => (a - b) * sign < 0,
                (Some(_), None) => true,
                _ => false,
            };
            if worse {
                self.retreated = Some(s);
            }
        }
        if self.spread().is_none_or(|spread| spread < 2) {
            self.retreated = None;
        }
    }

    /// Where a new best level of an empty side goes: its last best, kept
    /// strictly behind the other side's best.
    fn anchor(&self, s: usize) -> i64 {
        let ladder = &self.sides[s];
        match self.sides[1 - s].top() {
            Some((other, _)) if (other - ladder.best) * ladder.sign <= 0 => other - ladder.sign,
            _ => ladder.best,
        }
    }

    fn join(&mut self, s: usize, rng: &mut Rng) -> Option<EventKind> {
        let tick = if self.sides[s].n_levels > 0 { self.sides[s].best } else { self.anchor(s) };
        let lots = self.draw(&params::TOUCH[self.touch_bucket(s)].join_sizes, rng);
        self.place(s, tick, lots, rng);
        Some(EventKind::Join)
    }

    /// A cancellation at the best level: with the bucket's vanish share the
    /// whole level goes; otherwise a fraction of it, taken from the newest
    /// orders first.
    fn touch_cancel(&mut self, s: usize, rng: &mut Rng) -> Option<EventKind> {
        let bucket = &params::TOUCH[self.touch_bucket(s)];
        let (tick, lots) = self.sides[s].top()?;
        let vanish = rng.chance(bucket.vanish_share);
        let amount = if vanish {
            lots
        } else {
            let share = bucket.partial_permille.at(rng.uniform()) / 1000.0;
            (((lots as f64 * share) + 0.5) as i64).clamp(1, (lots - 1).max(1))
        };
        let mut left = amount;
        while left > 0 {
            let Some(level) = self.sides[s].occupied(tick) else { break };
            let id = level.tail;
            let take = left.min(self.orders[id as usize].lots);
            self.reduce(s, tick, id, take);
            left -= take;
        }
        Some(EventKind::TouchCancel)
    }

    /// The reference price moved away from side `s`: its quotes within the
    /// jump are pulled — the best level, and each next tick behind it with
    /// probability `1 − 1 / pull_mean_ticks` (a geometric jump of mean
    /// [`Dynamics::pull_mean_ticks`] ticks), never the side's last level.
    fn pull(&mut self, s: usize, rng: &mut Rng) -> Option<EventKind> {
        let best = self.sides[s].top()?.0;
        let sign = self.sides[s].sign;
        let more = 1.0 - 1.0 / self.dynamics.pull_mean_ticks;
        let mut d = 0;
        loop {
            let tick = best - d * sign;
            while let Some(level) = self.sides[s].occupied(tick) {
                let id = level.head;
                self.remove(id);
            }
            d += 1;
            if d >= MAX_PULL_TICKS || self.sides[s].n_levels <= 1 || !rng.chance(more) {
                break;
            }
        }
        Some(EventKind::Pull)
    }

    /// Takes up to `lots` from order `id` resting at `tick` on side `s`;
    /// removes it when nothing is left.
    fn reduce(&mut self, s: usize, tick: i64, id: u32, lots: i64) {
        let order_lots = self.orders[id as usize].lots;
        if lots >= order_lots {
            self.remove(id);
        } else {
            self.orders[id as usize].lots -= lots;
            let ladder = &mut self.sides[s];
            ladder.levels[slot(tick)].lots -= lots;
            ladder.mark_dirty(tick, self.track_changes);
        }
    }

    fn deep_arrival(&mut self, s: usize, rng: &mut Rng) -> Option<EventKind> {
        let u = rng.uniform();
        let band = self.rates.band_cdf.iter().position(|&c| u < c).unwrap_or(params::DEPTH_BANDS.len() - 1);
        let band = params::DEPTH_BANDS[band];
        let d = i64::from(band.from) + rng.below(u64::from(band.to - band.from + 1)) as i64;
        let reference = if self.sides[s].n_levels > 0 { self.sides[s].best } else { self.anchor(s) };
        let tick = reference - d * self.sides[s].sign;
        let table = if d <= params::NEAR_ZONE_TICKS { params::DEEP_NEAR_SIZES } else { params::DEEP_FAR_SIZES };
        let lots = self.draw(&table, rng);
        self.add(s, tick, lots);
        Some(EventKind::DeepArrival)
    }

    /// Cancels one order near the best, the level chosen in proportion to
    /// `θ(d) ×` its order count, the order uniformly within it.
    fn near_cancel(&mut self, s: usize, rng: &mut Rng) -> Option<EventKind> {
        let mut x = rng.uniform() * self.channel[s * CHANNELS + 3];
        let ladder = &self.sides[s];
        let mut chosen = None;
        for d in 1..=params::NEAR_CANCEL_TICKS {
            let tick = ladder.best - d * ladder.sign;
            if let Some(level) = ladder.occupied(tick) {
                chosen = Some(level);
                let w = self.rates.theta[d as usize] * f64::from(level.orders);
                if x < w {
                    break;
                }
                x -= w;
            }
        }
        let level = chosen?;
        let mut id = level.head;
        for _ in 0..rng.below(u64::from(level.orders)) {
            id = self.orders[id as usize].next;
        }
        self.remove(id);
        Some(EventKind::DeepCancel)
    }

    /// Proposes a uniformly chosen resting order for cancellation and
    /// accepts with probability `θ(d) / max θ` if it rests beyond the near
    /// zone (thinning); orders at the touch or in the near zone have their
    /// own channels.
    fn far_cancel(&mut self, s: usize, rng: &mut Rng) -> Option<EventKind> {
        let ladder = &self.sides[s];
        if ladder.live.is_empty() {
            return None;
        }
        let id = ladder.live[rng.below(ladder.live.len() as u64) as usize];
        let d = ladder.behind(self.orders[id as usize].tick);
        if d <= params::NEAR_CANCEL_TICKS {
            return None;
        }
        let theta = self.rates.theta.get(d as usize).copied().unwrap_or(self.rates.theta_far_max);
        if !rng.chance(theta / self.rates.theta_far_max) {
            return None;
        }
        self.remove(id);
        Some(EventKind::DeepCancel)
    }

    fn improve(&mut self, s: usize, rng: &mut Rng) -> Option<EventKind> {
        let (bid, ask) = (self.sides[0].top()?.0, self.sides[1].top()?.0);
        let spread = ask - bid;
        if spread < 2 {
            return None;
        }
        let inside = if rng.chance(params::IMPROVE_CLOSE_SHARE) {
            spread - 1
        } else {
            1 + rng.below((spread - 1) as u64) as i64
        };
        let tick = if s == 0 { bid + inside } else { ask - inside };
        let lots = self.draw(&params::IMPROVE_SIZES, rng);
        let old_best = self.sides[s].best;
        self.place(s, tick, lots, rng);
        // Quotes at the old best move with the price.
        self.scratch.clear();
        if let Some(level) = self.sides[s].occupied(old_best) {
            let mut id = level.head;
            while id != NIL {
                if rng.chance(params::REPRICE_CANCEL_SHARE) {
                    self.scratch.push(id);
                }
                id = self.orders[id as usize].next;
            }
        }
        for i in 0..self.scratch.len() {
            self.remove(self.scratch[i]);
        }
        Some(EventKind::Improve)
    }

    fn market(&mut self, taker: usize, rng: &mut Rng) -> Option<EventKind> {
        let maker = 1 - taker;
        let mut remaining = self.draw(&self.dynamics.taker_sizes[self.regime], rng);
        self.prints.clear();
        while remaining > 0 {
            let Some((tick, _)) = self.sides[maker].top() else { break };
            let id = self.sides[maker].levels[slot(tick)].head;
            let order = self.orders[id as usize];
            let fill = remaining.min(order.lots);
            self.prints.push(Print { tick, lots: fill });
            remaining -= fill;
            self.reduce(maker, tick, id, fill);
        }
        self.counts.unfilled_lots += remaining as u64;
        if self.prints.is_empty() {
            return None;
        }
        Some(EventKind::Market)
    }

    /// Places an arrival of `lots` as consecutive orders of
    /// [`params::MAKER_ORDER_SIZES`] (the last one cut to fit).
    fn place(&mut self, s: usize, tick: i64, lots: i64, rng: &mut Rng) {
        let mut left = lots;
        while left > 0 {
            let order = self.draw(&params::MAKER_ORDER_SIZES, rng).min(left);
            self.add(s, tick, order);
            left -= order;
        }
    }

    /// Adds a resting order; moves the best and trims the window when the
    /// price is better than the best.
    fn add(&mut self, s: usize, tick: i64, lots: i64) {
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.orders.push(Order { lots: 0, tick: 0, prev: NIL, next: NIL, live_idx: 0, side: 0 });
                (self.orders.len() - 1) as u32
            }
        };
        let track = self.track_changes;
        let ladder = &mut self.sides[s];
        let was_empty = ladder.n_levels == 0;
        let old_best = ladder.best;
        let level = &mut ladder.levels[slot(tick)];
        if level.orders == 0 {
            let dirty = level.dirty;
            *level = Level { tick, lots: 0, head: NIL, tail: NIL, orders: 0, dirty };
            ladder.n_levels += 1;
        }
        debug_assert_eq!(level.tick, tick, "ring slot collision");
        let prev = level.tail;
        level.tail = id;
        if prev == NIL {
            level.head = id;
        }
        level.lots += lots;
        level.orders += 1;
        if prev != NIL {
            self.orders[prev as usize].next = id;
        }
        self.orders[id as usize] =
            Order { lots, tick, prev, next: NIL, live_idx: ladder.live.len() as u32, side: s as u8 };
        ladder.live.push(id);
        ladder.mark_dirty(tick, track);
        if was_empty || (tick - old_best) * ladder.sign > 0 {
            ladder.best = tick;
            if !was_empty {
                self.trim_window(s, old_best);
            }
        }
    }

    /// Removes the levels that fell more than the window behind the best
    /// after it improved from `old_best`.
    fn trim_window(&mut self, s: usize, old_best: i64) {
        let (sign, best) = (self.sides[s].sign, self.sides[s].best);
        let window = params::DEPTH_WINDOW_TICKS;
        // Ticks that were inside the old window but are outside the new one.
        let moved = (best - old_best) * sign;
        for k in 0..moved {
            let tick = old_best - window * sign + k * sign;
            while let Some(level) = self.sides[s].occupied(tick) {
                let head = level.head;
                self.remove(head);
            }
        }
    }

    /// Removes a resting order entirely.
    fn remove(&mut self, id: u32) {
        let order = self.orders[id as usize];
        if order.prev != NIL {
            self.orders[order.prev as usize].next = order.next;
        }
        if order.next != NIL {
            self.orders[order.next as usize].prev = order.prev;
        }
        let track = self.track_changes;
        let ladder = &mut self.sides[usize::from(order.side)];
        let level = &mut ladder.levels[slot(order.tick)];
        if order.prev == NIL {
            level.head = order.next;
        }
        if order.next == NIL {
            level.tail = order.prev;
        }
        level.lots -= order.lots;
        level.orders -= 1;
        let emptied = level.orders == 0;
        let last = ladder.live.pop().unwrap_or(id);
        if last != id {
            ladder.live[order.live_idx as usize] = last;
            self.orders[last as usize].live_idx = order.live_idx;
        }
        self.free.push(id);
        ladder.mark_dirty(order.tick, track);
        if emptied {
            ladder.n_levels -= 1;
            if order.tick == ladder.best && ladder.n_levels > 0 {
                let mut tick = ladder.best;
                for _ in 0..RING {
                    tick -= ladder.sign;
                    if ladder.occupied(tick).is_some() {
                        break;
                    }
                }
                ladder.best = tick;
            }
        }
    }

    /// Checks every invariant of the module documentation; `Err` names the
    /// first one broken. O(book); for tests.
    ///
    /// # Errors
    /// A description of the broken invariant.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut seen = 0usize;
        for (s, ladder) in self.sides.iter().enumerate() {
            let mut levels = 0u32;
            for level in ladder.levels.iter().filter(|l| l.orders > 0) {
                levels += 1;
                let d = ladder.behind(level.tick);
                if !(0..=params::DEPTH_WINDOW_TICKS).contains(&d) {
                    return Err(format!("side {s}: level {} is {d} ticks behind the best {}", level.tick, ladder.best));
                }
                let (mut sum, mut n, mut id) = (0, 0, level.head);
                while id != NIL {
                    let o = self.orders[id as usize];
                    if o.tick != level.tick || usize::from(o.side) != s || o.lots <= 0 {
                        return Err(format!("side {s}: order {id} does not belong to level {}", level.tick));
                    }
                    if ladder.live.get(o.live_idx as usize) != Some(&id) {
                        return Err(format!("side {s}: order {id} has a stale live index"));
                    }
                    sum += o.lots;
                    n += 1;
                    id = o.next;
                }
                if sum != level.lots || n != level.orders {
                    return Err(format!(
                        "side {s}: level {} holds {} lots in {} orders, its orders sum to {sum} in {n}",
                        level.tick, level.lots, level.orders
                    ));
                }
                seen += n as usize;
            }
            if levels != ladder.n_levels {
                return Err(format!("side {s}: {levels} levels, counter says {}", ladder.n_levels));
            }
            if levels > 0 && ladder.occupied(ladder.best).is_none() {
                return Err(format!("side {s}: best {} is not a level", ladder.best));
            }
        }
        if seen != self.order_count() {
            return Err(format!("{seen} orders in levels, {} live", self.order_count()));
        }
        if let Some(spread) = self.spread() {
            if spread < 1 {
                return Err(format!("crossed: spread {spread}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: u64, steps: usize) -> (Lob, Rng) {
        let mut rng = Rng::new(seed);
        let mut lob = Lob::new(618_002, 1.0, true, Dynamics::CALIBRATED, &mut rng);
        for _ in 0..steps {
            let wait = rng.exponential(lob.total_rate());
            lob.step(wait, &mut rng);
        }
        (lob, rng)
    }

    #[test]
    fn invariants_hold_along_a_long_run() {
        let mut rng = Rng::new(11);
        let mut lob = Lob::new(618_002, 1.0, true, Dynamics::CALIBRATED, &mut rng);
        for i in 0..200_000 {
            let wait = rng.exponential(lob.total_rate());
            lob.step(wait, &mut rng);
            if i % 5_000 == 0 {
                lob.check_invariants().unwrap();
                lob.clear_changes();
            }
        }
        lob.check_invariants().unwrap();
        let c = lob.counts();
        assert!(c.by_kind.iter().all(|&n| n > 0), "every event kind fires: {c:?}");
    }

    #[test]
    fn same_seed_same_book() {
        let (a, _) = run(5, 50_000);
        let (b, _) = run(5, 50_000);
        let (c, _) = run(6, 50_000);
        let la: Vec<_> = a.levels(Side::Buy).chain(a.levels(Side::Sell)).collect();
        let lb: Vec<_> = b.levels(Side::Buy).chain(b.levels(Side::Sell)).collect();
        let lc: Vec<_> = c.levels(Side::Buy).chain(c.levels(Side::Sell)).collect();
        assert_eq!(la, lb);
        assert_ne!(la, lc);
    }

    #[test]
    fn changes_report_final_quantities() {
        let (mut lob, mut rng) = run(9, 20_000);
        lob.clear_changes();
        let before: std::collections::BTreeMap<(u8, i64), i64> = lob
            .levels(Side::Buy)
            .map(|(t, l)| ((0, t), l))
            .chain(lob.levels(Side::Sell).map(|(t, l)| ((1, t), l)))
            .collect();
        for _ in 0..300 {
            let wait = rng.exponential(lob.total_rate());
            lob.step(wait, &mut rng);
        }
        let after: std::collections::BTreeMap<(u8, i64), i64> = lob
            .levels(Side::Buy)
            .map(|(t, l)| ((0, t), l))
            .chain(lob.levels(Side::Sell).map(|(t, l)| ((1, t), l)))
            .collect();
        let mut rebuilt = before.clone();
        let mut last = None;
        lob.take_changes(|side, tick, lots| {
            let key = (u8::from(side == Side::Sell), tick);
            if let Some(prev) = last {
                assert!(prev < key, "changes sorted by side then price");
            }
            last = Some(key);
            if lots == 0 {
                rebuilt.remove(&key);
            } else {
                rebuilt.insert(key, lots);
            }
        });
        assert_eq!(rebuilt, after, "applying the reported changes to the old book gives the new book");
        let mut again = 0;
        lob.take_changes(|_, _, _| again += 1);
        assert_eq!(again, 0);
    }

    #[test]
    fn market_orders_fill_in_price_time_priority() {
        let (mut lob, mut rng) = run(3, 20_000);
        let mut checked = 0;
        for _ in 0..200_000 {
            let asks: Vec<(i64, i64)> = lob.levels(Side::Sell).collect();
            let wait = rng.exponential(lob.total_rate());
            if let Some(fired) = lob.step(wait, &mut rng) {
                if fired.kind == EventKind::Market && fired.side == Side::Buy {
                    let prints = lob.prints().to_vec();
                    // Prints walk the ask ladder from its best, never skipping a level.
                    let mut level = 0;
                    let mut left = asks[0].1;
                    for p in &prints {
                        if left == 0 {
                            level += 1;
                            left = asks[level].1;
                        }
                        assert_eq!(p.tick, asks[level].0);
                        assert!(p.lots <= left);
                        left -= p.lots;
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 100);
    }
}
