//! Measures a session — a real recording or a synthetic one — through the
//! project's own decoders and book sync ([`Decoder`], [`MarketState`]), and
//! estimates from it the parameters of the stochastic order book in
//! [`super::model`].
//!
//! The same [`Calibrator`] computes the statistics the model is compared on
//! ([`SessionStats`]: mean spread, median trade size, update rates, depth
//! within 10 ticks) for both the real recording and a generated session, so
//! the comparison measures like with like. [`Estimates`] holds what
//! [`super::params`] was calibrated from; its [`std::fmt::Display`] prints
//! the numbers (`cargo test --test synth_calibration -- --nocapture`).
//!
//! # What is measured, and how
//! - **Touch dynamics** (queue-reactive, after Huang, Lehalle & Rosenbaum,
//!   "Simulating and analyzing order book data: the queue-reactive model",
//!   JASA 2015): from consecutive `bookTicker` frames of one side, the time
//!   the best level spent with its quantity in each log₂ bucket, and in each
//!   bucket the additions (quantity up at the same price, with their
//!   sizes), the market orders (a decrease, or the level gone, with a taker
//!   order on that side at an exchange time between the two frames — trades
//!   and `bookTicker` come on different streams and arrive out of order, so
//!   they are matched by time, not by arrival), and the cancellations (the
//!   other decreases: the share that emptied the level, and the fraction of
//!   the level the others removed). Rate = count / time.
//! - **Spread closing**: time with a spread of two ticks or more, the number
//!   of new best prices inside it, how often the new price closes the spread
//!   to one tick, and how much of the old best is left one depth diff later.
//! - **Deep levels** (after Cont, Stoikov & Talreja, "A stochastic model for
//!   order book dynamics", Oper. Res. 58(3), 2010): for every level of every
//!   applied depth diff at distance `d ≥ 1` ticks behind its side's best
//!   price (taken from the book before the diff), an increase counts as a
//!   limit arrival of that size and a decrease as a cancellation of that
//!   many lots; the mean depth at each distance is sampled after every
//!   applied diff.
//! - **Market orders**: trades with the same trade time and taker side form
//!   one taker order; their summed size is the market order size. Prints
//!   give individual maker order sizes (Kaplan–Meier over whole and partial
//!   fills, [`Estimates::maker_order_sizes`]).
//! - **Cadence**: exchange-time intervals between depth diffs, update ids per
//!   second, local-minus-exchange time jitter.
//!
//! Diffs batch ~50 ms of changes and `bookTicker` merges updates under load,
//! so several events on one level can count as one: arrival counts are lower
//! bounds (the lot flows, `rate × mean size`, are what the model keeps).

use std::fmt;

use super::params::{self, HAWKES_KERNELS, HawkesParams, REGIMES, Regimes};
use super::rng;
use crate::book::{Book, DEFAULT_LEVELS};
use crate::event::{InstrumentId, MarketEvent};
use crate::instrument::{Instrument, InstrumentTable, Symbol};
use crate::json::JsonScratch;
use crate::market::MarketState;
use crate::side::Side;
use crate::venue::sync::{SyncOutcome, SyncState};
use crate::venue::{Decoder, Venue};

/// How far behind the best price deep levels are measured, ticks: the
/// model's window (at most 1000 levels per side, the size of a Binance
/// `limit=1000` REST snapshot).
pub const PROFILE_TICKS: usize = 999;
/// Deep arrivals up to this distance use the "near" size table, beyond it
/// the "far" one (far levels receive much larger orders).
pub const NEAR_ZONE_TICKS: usize = 400;
/// A touch bucket needs this many side-seconds of observation to get its
/// own values; thinner adjacent buckets are pooled until they have it.
pub const MIN_BUCKET_SECONDS: f64 = 5.0;
/// "Depth within 10 ticks": the best level and the 10 price ticks behind it.
pub const NEAR_TICKS: i64 = 10;
/// Log₂ buckets of the touch quantity, in lots: bucket `b` holds
/// `2^(b−1) ≤ q < 2^b`; the last bucket is open-ended.
pub const QUEUE_BUCKETS: usize = 16;

/// The log₂ bucket (0-based) of a positive quantity in lots.
#[must_use]
pub fn queue_bucket(lots: i64) -> usize {
    let bits = 64 - lots.max(1).leading_zeros() as usize;
    bits.clamp(1, QUEUE_BUCKETS) - 1
}

/// Why a calibration could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalibrateError {
    /// The symbol is not an instrument of the venue in the table.
    #[error("{symbol} is not a known {venue} instrument")]
    UnknownSymbol {
        /// The symbol.
        symbol: Symbol,
        /// The venue.
        venue: Venue,
    },
}

/// The statistics a synthetic session is compared with the real one on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionStats {
    /// Local-time span from the first to the last frame, seconds.
    pub span_s: f64,
    /// Frames seen.
    pub frames: u64,
    /// Frames that failed to decode.
    pub decode_errors: u64,
    /// Incremental depth frames of the instrument (diffs, deltas).
    pub depth_frames: u64,
    /// Snapshots of the instrument.
    pub snapshots: u64,
    /// Best bid/offer frames (Binance `bookTicker`, Bybit `tickers` with a
    /// best bid or ask).
    pub top_frames: u64,
    /// Trade prints.
    pub trade_prints: u64,
    /// Taker orders (prints with the same trade time and taker side).
    pub taker_orders: u64,
    /// Depth updates after which the book was published.
    pub published: u64,
    /// Sequence gaps the sync machine reported.
    pub gaps: u64,
    /// Mean spread in ticks over the published depth updates.
    pub mean_spread_ticks: f64,
    /// Median trade print size, quantity mantissa.
    pub median_trade_qty: i64,
    /// Mean quantity within [`NEAR_TICKS`] of the touch, per side, quantity
    /// mantissa (average of the bid and ask sides).
    pub mean_depth10_qty: f64,
    /// Standard deviation of mid-price changes over one second, ticks
    /// (from the published books).
    pub mid_vol_ticks_per_s: f64,
    /// Order-flow burstiness: variance over mean of the taker orders per
    /// side in one-second windows of exchange time (1 for a Poisson
    /// process; more when orders come in bursts).
    pub market_order_dispersion: f64,
}

impl SessionStats {
    /// Book updates (depth + best bid/offer frames) per second.
    #[must_use]
    pub fn updates_per_s(&self) -> f64 {
        (self.depth_frames + self.top_frames) as f64 / self.span_s.max(1e-9)
    }

    /// All frames per second.
    #[must_use]
    pub fn frames_per_s(&self) -> f64 {
        self.frames as f64 / self.span_s.max(1e-9)
    }

    /// Trade prints per second.
    #[must_use]
    pub fn trades_per_s(&self) -> f64 {
        self.trade_prints as f64 / self.span_s.max(1e-9)
    }

    /// Depth frames per second.
    #[must_use]
    pub fn depth_per_s(&self) -> f64 {
        self.depth_frames as f64 / self.span_s.max(1e-9)
    }

    /// Best bid/offer frames per second.
    #[must_use]
    pub fn top_per_s(&self) -> f64 {
        self.top_frames as f64 / self.span_s.max(1e-9)
    }
}

impl fmt::Display for SessionStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.1} s, {} frames ({:.1}/s): depth {:.2}/s, top {:.2}/s, trades {:.2}/s ({} taker orders), \
             book updates {:.2}/s; mean spread {:.3} ticks; median trade {} (qty mantissa); \
             depth within {} ticks {:.0} per side; mid vol {:.2} ticks/s; taker orders per second \
             variance/mean {:.2}; {} published, {} gaps, {} decode errors",
            self.span_s,
            self.frames,
            self.frames_per_s(),
            self.depth_per_s(),
            self.top_per_s(),
            self.trades_per_s(),
            self.taker_orders,
            self.updates_per_s(),
            self.mean_spread_ticks,
            self.median_trade_qty,
            NEAR_TICKS,
            self.mean_depth10_qty,
            self.mid_vol_ticks_per_s,
            self.market_order_dispersion,
            self.published,
            self.gaps,
            self.decode_errors
        )
    }
}

/// Touch dynamics measured in one queue bucket (both sides pooled).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueBucketCounts {
    /// Side-seconds the best level spent in this bucket.
    pub seconds: f64,
    /// Additions at the best price.
    pub adds: u64,
    /// Cancellations at the best price (including the level emptying
    /// without a trade).
    pub cancels: u64,
    /// Decreases with a trade on that side in between.
    pub trade_decreases: u64,
    /// Cancellations that emptied the level.
    pub vanished: u64,
    /// Sizes of the additions.
    pub join_sizes: Vec<i64>,
    /// Fraction of the level each cancellation that did not empty it
    /// removed, in 1/1000.
    pub cancel_permille: Vec<i64>,
}

/// Touch dynamics of one queue bucket, as the model uses them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TouchEstimate {
    /// Additions per second (per side).
    pub join_per_s: f64,
    /// Cancellations per second (per side).
    pub cancel_per_s: f64,
    /// Market orders hitting the level per second.
    pub market_per_s: f64,
    /// Share of cancellations that emptied the level.
    pub vanish_share: f64,
    /// Quantiles (at [`REPORT_PROBS`]) of the additions' sizes, lots.
    pub join_sizes: [i64; 19],
    /// The other cancellations: quantiles (at [`REPORT_PROBS`]) of the
    /// fraction of the level they removed, in 1/1000.
    pub partial_permille: [i64; 19],
}

/// Arrivals, cancellations and depth at one distance behind the best.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DistanceCounts {
    /// Quantity increases (both sides).
    pub arrivals: u64,
    /// Quantity decreases (both sides).
    pub cancels: u64,
    /// Lots added by the increases.
    pub arrived_lots: u64,
    /// Lots removed by the decreases.
    pub cancelled_lots: u64,
    /// Sum over samples of the depth in lots (both sides).
    pub depth_lots: f64,
}

/// What the model's parameters are estimated from. Quantities in lots
/// (quantity mantissa / step), distances in ticks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Estimates {
    /// Touch counts per log₂ bucket of the best quantity.
    pub queue: [QueueBucketCounts; QUEUE_BUCKETS],
    /// Sizes of additions at the touch.
    pub join_sizes: Vec<i64>,
    /// Sizes of cancellations at the touch that left the level standing
    /// (for comparison only).
    pub cancel_sizes: Vec<i64>,
    /// Seconds with a spread of two ticks or more.
    pub wide_seconds: f64,
    /// New best prices inside the spread (both sides).
    pub improvements: u64,
    /// Of those, how many closed the spread to one tick.
    pub closing_improvements: u64,
    /// Quantity of the new best level after an improvement.
    pub improve_sizes: Vec<i64>,
    /// Improvements while the spread was wide after a retreat, made by the
    /// side opposite the one that retreated (the price moved on)...
    pub follow_improvements: u64,
    /// ...and by the side that retreated (the price came back).
    pub back_improvements: u64,
    /// Share of the old best level's quantity left after the diff in which
    /// its side improved, in 1/1000 (new orders there included).
    pub old_best_left_permille: Vec<i64>,
    /// Best level gone with a trade on its side (market order sweeps).
    pub retreats_with_trade: u64,
    /// Best level gone without a trade (cancellations).
    pub retreats_without_trade: u64,
    /// Quantity the best level held before it went without a trade.
    pub retreat_sizes: Vec<i64>,
    /// Per distance `d` (index) behind the best, `1..=PROFILE_TICKS`.
    pub deep: Vec<DistanceCounts>,
    /// Sizes of deep arrivals up to [`NEAR_ZONE_TICKS`] behind the best.
    pub deep_near_sizes: Vec<i64>,
    /// Sizes of deep arrivals farther back.
    pub deep_far_sizes: Vec<i64>,
    /// Mean depth at the best level, lots (both sides pooled).
    pub touch_depth_lots: f64,
    /// Book samples (published depth updates) behind `depth_lots`.
    pub samples: u64,
    /// Exchange-time seconds covered by the applied diffs.
    pub deep_seconds: f64,
    /// Taker orders per taker side (buy, sell).
    pub takers: [u64; 2],
    /// The taker orders: exchange time (ms), book side hit (0 bids:
    /// sells; 1 asks: buys), size (lots), in the order they completed.
    pub taker_orders: Vec<(i64, usize, i64)>,
    /// First exchange time of the session, ms.
    pub first_exchange_ms: i64,
    /// The depth diffs: exchange time (ms) and price levels changed.
    pub book_changes: Vec<(i64, u32)>,
    /// Taker order sizes.
    pub taker_sizes: Vec<i64>,
    /// Trade print sizes.
    pub print_sizes: Vec<i64>,
    /// Prints followed by another print of the same taker order: maker
    /// orders filled whole, the only direct observation of individual
    /// resting order sizes.
    pub maker_fill_sizes: Vec<i64>,
    /// Last prints of taker orders: the maker order held at least this
    /// much (right-censored sizes).
    pub maker_partial_sizes: Vec<i64>,
    /// Exchange-time intervals between consecutive depth diffs, ms.
    pub diff_intervals_ms: Vec<i64>,
    /// Update ids per second (Binance `u` advance, Bybit `u`).
    pub update_ids_per_s: f64,
    /// Local receive time minus exchange event time, ns, per frame with an
    /// event time (includes the recorder's clock offset).
    pub local_minus_event_ns: Vec<i64>,
    /// Span of the session in exchange time, seconds.
    pub exchange_seconds: f64,
}

/// The `q`-quantile (0..=1) of a sample, by sorting a copy; `0` when empty.
#[must_use]
pub fn quantile(values: &[i64], q: f64) -> i64 {
    if values.is_empty() {
        return 0;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let idx = ((v.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    v[idx]
}

/// Mean of a sample; `0` when empty.
#[must_use]
pub fn mean(values: &[i64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64
}

impl Estimates {
    /// Market orders per second per side.
    #[must_use]
    pub fn market_orders_per_s_per_side(&self) -> f64 {
        (self.takers[0] + self.takers[1]) as f64 / 2.0 / self.exchange_seconds.max(1e-9)
    }

    /// Share of the improvements after a retreat that the opposite side
    /// made ([`Estimates::follow_improvements`]).
    #[must_use]
    pub fn follow_share(&self) -> f64 {
        self.follow_improvements as f64 / (self.follow_improvements + self.back_improvements).max(1) as f64
    }

    /// The taker orders as `(seconds since the session's first exchange
    /// time, book side hit)`, in time order (ties: bids first).
    #[must_use]
    pub fn taker_events(&self) -> Vec<(f64, usize)> {
        let mut events: Vec<(i64, usize)> = self.taker_orders.iter().map(|&(ms, s, _)| (ms, s)).collect();
        events.sort_unstable();
        events.into_iter().map(|(ms, s)| ((ms - self.first_exchange_ms) as f64 / 1000.0, s)).collect()
    }

    /// The market orders' Hawkes intensity fitted to the taker orders
    /// ([`fit_hawkes`] with [`params::HAWKES_DECAYS_PER_S`]).
    #[must_use]
    pub fn market_hawkes(&self) -> HawkesFit {
        fit_hawkes(&self.taker_events(), self.exchange_seconds, &params::HAWKES_DECAYS_PER_S)
    }

    /// The activity regimes fitted to the taker orders per second
    /// ([`fit_regimes`]).
    #[must_use]
    pub fn regimes(&self) -> RegimeFit {
        fit_regimes(&self.taker_events(), self.exchange_seconds)
    }

    /// Taker order sizes split by the regime `fit` gives their second (calm,
    /// burst).
    #[must_use]
    pub fn taker_sizes_by_regime(&self, fit: &RegimeFit) -> [Vec<i64>; REGIMES] {
        let mut out = [Vec::new(), Vec::new()];
        for &(ms, _, lots) in &self.taker_orders {
            out[fit.regime_at((ms - self.first_exchange_ms) as f64 / 1000.0)].push(lots);
        }
        out
    }

    /// How one-sided the bursts are: the mean of `|buys − sells| / (buys +
    /// sells)` over the taker orders of each second that `fit` gives as
    /// burst and that holds at least [`ONE_SIDED_MIN_ORDERS`] of them; 0 when
    /// there is none.
    #[must_use]
    pub fn burst_one_sidedness(&self, fit: &RegimeFit) -> f64 {
        let bins = fit.burst_probability.len();
        if bins == 0 {
            return 0.0;
        }
        let mut counts = vec![[0u32; 2]; bins];
        for (t, side) in self.taker_events() {
            counts[((t / REGIME_BIN_S).max(0.0) as usize).min(bins - 1)][side.min(1)] += 1;
        }
        let (mut sum, mut n) = (0.0, 0u32);
        for (c, &p) in counts.iter().zip(&fit.burst_probability) {
            let total = c[0] + c[1];
            if p > 0.5 && total >= ONE_SIDED_MIN_ORDERS {
                sum += f64::from(c[0].abs_diff(c[1])) / f64::from(total);
                n += 1;
            }
        }
        if n == 0 { 0.0 } else { sum / f64::from(n) }
    }

    /// Book activity in the burst regime over the calm one: price levels
    /// changed per second by the depth diffs in the seconds `fit` gives as
    /// burst, over those in the calm seconds (1 when there is no burst).
    #[must_use]
    pub fn burst_book_activity(&self, fit: &RegimeFit) -> f64 {
        let (mut changes, mut seconds) = ([0.0f64; REGIMES], [0.0f64; REGIMES]);
        for &(ms, n) in &self.book_changes {
            changes[fit.regime_at((ms - self.first_exchange_ms) as f64 / 1000.0)] += f64::from(n);
        }
        for &p in &fit.burst_probability {
            seconds[usize::from(p > 0.5)] += REGIME_BIN_S;
        }
        if changes[1] == 0.0 || seconds[1] == 0.0 || seconds[0] == 0.0 {
            return 1.0;
        }
        (changes[1] / seconds[1]) / (changes[0] / seconds[0]).max(1e-12)
    }

    /// Improvements per second per side while the spread is wide.
    #[must_use]
    pub fn improvements_per_s_per_side(&self) -> f64 {
        self.improvements as f64 / 2.0 / self.wide_seconds.max(1e-9)
    }

    /// Share of improvements that close the spread to one tick.
    #[must_use]
    pub fn closing_share(&self) -> f64 {
        self.closing_improvements as f64 / (self.improvements.max(1)) as f64
    }

    /// Deep arrivals per tick per side per second over distances `from..=to`.
    #[must_use]
    pub fn arrivals_per_tick_s(&self, from: usize, to: usize) -> f64 {
        let n: u64 = self.deep[from..=to].iter().map(|c| c.arrivals).sum();
        n as f64 / ((to - from + 1) as f64 * 2.0 * self.deep_seconds.max(1e-9))
    }

    /// Deep cancellations per tick per side per second over `from..=to`.
    #[must_use]
    pub fn cancels_per_tick_s(&self, from: usize, to: usize) -> f64 {
        let n: u64 = self.deep[from..=to].iter().map(|c| c.cancels).sum();
        n as f64 / ((to - from + 1) as f64 * 2.0 * self.deep_seconds.max(1e-9))
    }

    /// Lots cancelled per tick per side per second over `from..=to`.
    #[must_use]
    pub fn cancelled_lots_per_tick_s(&self, from: usize, to: usize) -> f64 {
        let n: u64 = self.deep[from..=to].iter().map(|c| c.cancelled_lots).sum();
        n as f64 / ((to - from + 1) as f64 * 2.0 * self.deep_seconds.max(1e-9))
    }

    /// Mean depth per tick per side over `from..=to`, lots.
    #[must_use]
    pub fn depth_per_tick(&self, from: usize, to: usize) -> f64 {
        let s: f64 = self.deep[from..=to].iter().map(|c| c.depth_lots).sum();
        s / ((to - from + 1) as f64 * 2.0 * (self.samples.max(1)) as f64)
    }

    /// Touch dynamics per queue bucket. Runs of adjacent buckets observed
    /// for less than [`MIN_BUCKET_SECONDS`] are pooled (counts, time and
    /// samples combined) until the run has enough; every bucket of a run
    /// gets the run's values.
    #[must_use]
    pub fn touch_buckets(&self) -> Vec<TouchEstimate> {
        // Runs as (first, last) bucket, built from the low end.
        let mut runs: Vec<(usize, usize)> = Vec::new();
        let mut start = 0;
        let mut secs = 0.0;
        for b in 0..QUEUE_BUCKETS {
            secs += self.queue[b].seconds;
            if secs >= MIN_BUCKET_SECONDS {
                runs.push((start, b));
                start = b + 1;
                secs = 0.0;
            }
        }
        if start < QUEUE_BUCKETS {
            match runs.last_mut() {
                Some(last) => last.1 = QUEUE_BUCKETS - 1,
                None => runs.push((0, QUEUE_BUCKETS - 1)),
            }
        }
        let mut out = vec![TouchEstimate::default(); QUEUE_BUCKETS];
        for (first, last) in runs {
            let run = &self.queue[first..=last];
            let secs: f64 = run.iter().map(|q| q.seconds).sum::<f64>().max(1e-9);
            let adds: u64 = run.iter().map(|q| q.adds).sum();
            let cancels: u64 = run.iter().map(|q| q.cancels).sum();
            let vanished: u64 = run.iter().map(|q| q.vanished).sum();
            let trades: u64 = run.iter().map(|q| q.trade_decreases).sum();
            let permille: Vec<i64> = run.iter().flat_map(|q| q.cancel_permille.iter().copied()).collect();
            let joins: Vec<i64> = run.iter().flat_map(|q| q.join_sizes.iter().copied()).collect();
            let estimate = TouchEstimate {
                join_per_s: adds as f64 / secs,
                cancel_per_s: cancels as f64 / secs,
                market_per_s: trades as f64 / secs,
                vanish_share: vanished as f64 / cancels.max(1) as f64,
                partial_permille: REPORT_PROBS.map(|p| quantile(&permille, p)),
                join_sizes: REPORT_PROBS.map(|p| quantile(&joins, p)),
            };
            out[first..=last].fill(estimate);
        }
        out
    }

    /// Quantiles (at [`REPORT_PROBS`]) of the size of individual resting
    /// orders, by the Kaplan–Meier estimator (Kaplan & Meier, JASA 1958):
    /// whole fills are exact sizes, the last print of each taker order is
    /// a size right-censored at the print. Whole fills alone would be biased
    /// towards small orders (a taker fills a small order whole more often).
    /// Probabilities beyond the estimate's reach take the largest size seen.
    #[must_use]
    pub fn maker_order_sizes(&self) -> [i64; 19] {
        // (size, exact) sorted by size, exact before censored at a tie.
        let mut obs: Vec<(i64, bool)> = self.maker_fill_sizes.iter().map(|&s| (s, true)).collect();
        obs.extend(self.maker_partial_sizes.iter().map(|&s| (s, false)));
        obs.sort_unstable_by_key(|&(s, exact)| (s, !exact));
        let max = obs.last().map_or(0, |o| o.0);
        // The CDF steps: (size, F(size)).
        let mut steps: Vec<(i64, f64)> = Vec::new();
        let mut survival = 1.0;
        let mut at_risk = obs.len() as f64;
        let mut i = 0;
        while i < obs.len() {
            let size = obs[i].0;
            let (mut exact, mut all) = (0.0, 0.0);
            while i < obs.len() && obs[i].0 == size {
                exact += f64::from(u8::from(obs[i].1));
                all += 1.0;
                i += 1;
            }
            if exact > 0.0 {
                survival *= 1.0 - exact / at_risk;
                steps.push((size, 1.0 - survival));
            }
            at_risk -= all;
        }
        REPORT_PROBS.map(|p| {
            if p <= 0.0 {
                return steps.first().map_or(0, |s| s.0);
            }
            steps.iter().find(|&&(_, f)| f >= p).map_or(max, |s| s.0)
        })
    }

    /// Mean size of deep arrivals over `from..=to`, lots.
    #[must_use]
    pub fn arrival_size(&self, from: usize, to: usize) -> f64 {
        let n: u64 = self.deep[from..=to].iter().map(|c| c.arrivals).sum();
        let lots: u64 = self.deep[from..=to].iter().map(|c| c.arrived_lots).sum();
        lots as f64 / n.max(1) as f64
    }
}

/// A fitted bivariate Hawkes intensity ([`fit_hawkes`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HawkesFit {
    /// The parameters.
    pub params: HawkesParams,
    /// Log-likelihood of the events under them.
    pub log_likelihood: f64,
    /// Log-likelihood under the best homogeneous Poisson process (the same
    /// rate on both sides), for comparison.
    pub poisson_log_likelihood: f64,
    /// EM iterations run.
    pub iterations: u32,
}

/// Most EM iterations of [`fit_hawkes`] and [`fit_regimes`]...
pub const EM_MAX_ITERATIONS: u32 = 5000;
/// ...which stop earlier once an iteration improves the log-likelihood by
/// less than this.
pub const EM_TOLERANCE: f64 = 1e-9;

/// Fits the bivariate Hawkes intensity of [`HawkesParams`] (the two sides
/// symmetric, kernel components of the given decays) to `events` — times in
/// seconds from the window's start, in order, and side 0 or 1 — observed
/// over `span_s` seconds, by maximum likelihood through the EM algorithm
/// for Hawkes processes (Veen & Schoenberg, "Estimation of space–time
/// branching process models in seismology using an EM-type algorithm",
/// JASA 103, 2008; Lewis & Mohler 2011): each event is split between the
/// background and the components of each past event in proportion to their
/// share of its intensity (the E step; with exponential kernels the sums
/// over past events are carried recursively, so an iteration is O(events ×
/// components)), then each rate is its expected number of events over its
/// exposure (the M step). With fixed decays the log-likelihood is concave
/// in what is fitted and every iteration increases it, so the result does
/// not depend on the starting point beyond [`EM_TOLERANCE`]. Only basic
/// arithmetic and the deterministic [`rng::exp`] / [`rng::ln`] are used.
/// Events at the same time count as one after the other (the recording's
/// times have millisecond resolution).
#[must_use]
pub fn fit_hawkes(events: &[(f64, usize)], span_s: f64, decays: &[f64; HAWKES_KERNELS]) -> HawkesFit {
    let n = events.len() as f64;
    let span = span_s.max(1e-9);
    let poisson_rate = n / (2.0 * span);
    let poisson_log_likelihood = if n > 0.0 { n * rng::ln(poisson_rate) - n } else { 0.0 };
    // Exposure of each component: the part of a unit kernel after each
    // event that falls inside the window.
    let exposure: [f64; HAWKES_KERNELS] =
        std::array::from_fn(|k| events.iter().map(|&(t, _)| 1.0 - rng::exp(-decays[k] * (span - t).max(0.0))).sum());
    let mut p = HawkesParams {
        background_per_s: poisson_rate / 2.0,
        self_branching: [0.1; HAWKES_KERNELS],
        cross_branching: [0.05; HAWKES_KERNELS],
    };
    let (mut last_ll, mut log_likelihood, mut iterations) = (f64::NEG_INFINITY, f64::NEG_INFINITY, 0);
    while iterations < EM_MAX_ITERATIONS && n > 0.0 {
        iterations += 1;
        let (mut background, mut own, mut other) = (0.0, [0.0; HAWKES_KERNELS], [0.0; HAWKES_KERNELS]);
        let mut load = [[0.0f64; 2]; HAWKES_KERNELS];
        let (mut prev, mut ll) = (0.0, 0.0);
        for &(t, s) in events {
            let mut lambda = p.background_per_s;
            for k in 0..HAWKES_KERNELS {
                let f = rng::exp(-decays[k] * (t - prev).max(0.0));
                load[k][0] *= f;
                load[k][1] *= f;
                lambda += p.self_branching[k] * load[k][s] + p.cross_branching[k] * load[k][1 - s];
            }
            ll += rng::ln(lambda);
            background += p.background_per_s / lambda;
            for k in 0..HAWKES_KERNELS {
                own[k] += p.self_branching[k] * load[k][s] / lambda;
                other[k] += p.cross_branching[k] * load[k][1 - s] / lambda;
                load[k][s] += decays[k];
            }
            prev = t;
        }
        let branching: f64 =
            (0..HAWKES_KERNELS).map(|k| (p.self_branching[k] + p.cross_branching[k]) * exposure[k]).sum();
        log_likelihood = ll - 2.0 * p.background_per_s * span - branching;
        p.background_per_s = background / (2.0 * span);
        for k in 0..HAWKES_KERNELS {
            p.self_branching[k] = own[k] / exposure[k].max(1e-300);
            p.cross_branching[k] = other[k] / exposure[k].max(1e-300);
        }
        if log_likelihood - last_ll < EM_TOLERANCE {
            break;
        }
        last_ll = log_likelihood;
    }
    HawkesFit { params: p, log_likelihood, poisson_log_likelihood, iterations }
}

/// The activity regimes fitted by [`fit_regimes`].
#[derive(Debug, Clone, PartialEq)]
pub struct RegimeFit {
    /// The parameters.
    pub params: Regimes,
    /// Events per second (both sides) in each regime (calm, burst).
    pub rates: [f64; REGIMES],
    /// Log-likelihood of the per-bin counts.
    pub log_likelihood: f64,
    /// EM iterations run.
    pub iterations: u32,
    /// Posterior probability of the burst regime in each bin of
    /// [`REGIME_BIN_S`].
    pub burst_probability: Vec<f64>,
}

impl RegimeFit {
    /// The regime an event at `t_s` seconds most likely came from (0 calm,
    /// 1 burst).
    #[must_use]
    pub fn regime_at(&self, t_s: f64) -> usize {
        let n = self.burst_probability.len();
        if n == 0 {
            return 0;
        }
        let bin = ((t_s / REGIME_BIN_S).max(0.0) as usize).min(n - 1);
        usize::from(self.burst_probability[bin] > 0.5)
    }
}

/// [`Estimates::burst_one_sidedness`] skips seconds with fewer taker orders.
pub const ONE_SIDED_MIN_ORDERS: u32 = 4;

/// [`fit_regimes`] counts events in bins of this many seconds, the regime
/// constant within a bin: the recording's bursts last about a second.
pub const REGIME_BIN_S: f64 = 1.0;

/// Fits the activity [`Regimes`] to `events` (times in seconds from the
/// window's start) observed over `span_s` seconds: a two-state hidden
/// Markov model of the number of events per bin of [`REGIME_BIN_S`], Poisson
/// in each state, by the Baum–Welch algorithm (Baum, Petrie, Soules &
/// Weiss, Ann. Math. Statist. 41(1), 1970): forward–backward for each bin's
/// state posterior and the expected transitions, then each state's rate as
/// its expected events over its expected time and the transition
/// probabilities as the expected transitions out of each state; repeated
/// until the likelihood stops improving. The per-bin switching
/// probabilities become rates per second exactly for a two-state chain
/// (`p01 + p10 = 1 − e^{−(q01 + q10)Δ}`, `p01 : p10 = q01 : q10`); the burst
/// activity is the ratio of the states' rates. The starting point is fixed
/// (calm at half the mean rate, burst at five times), so the fit is
/// reproducible; only basic arithmetic and [`rng::exp`] / [`rng::ln`] are
/// used.
#[must_use]
pub fn fit_regimes(events: &[(f64, usize)], span_s: f64) -> RegimeFit {
    let span = span_s.max(1e-9);
    let bins = ((span / REGIME_BIN_S).ceil() as usize).max(1);
    let width: Vec<f64> = (0..bins).map(|b| (span - b as f64 * REGIME_BIN_S).clamp(1e-9, REGIME_BIN_S)).collect();
    let mut counts = vec![0.0f64; bins];
    for &(t, _) in events {
        counts[((t / REGIME_BIN_S).max(0.0) as usize).min(bins - 1)] += 1.0;
    }
    // ln k! of each count, for the likelihood.
    let log_fact: Vec<f64> = counts.iter().map(|&k| (2..=k as u64).map(|i| rng::ln(i as f64)).sum()).collect();
    let mean = events.len() as f64 / span;
    let mut rate = [0.5 * mean, 5.0 * mean];
    let mut trans = [[0.98, 0.02], [0.3, 0.7]];
    let mut first = [0.9, 0.1];
    let mut gamma = vec![[0.0f64; REGIMES]; bins];
    let mut lik = vec![[0.0f64; REGIMES]; bins];
    let mut fwd = vec![[0.0f64; REGIMES]; bins];
    let mut bwd = vec![[0.0f64; REGIMES]; bins];
    let mut scale = vec![0.0f64; bins];
    let (mut last_ll, mut log_likelihood, mut iterations) = (f64::NEG_INFINITY, f64::NEG_INFINITY, 0);
    while iterations < EM_MAX_ITERATIONS && mean > 0.0 {
        iterations += 1;
        let mut ll = 0.0;
        for b in 0..bins {
            // Poisson log-likelihood of the count in each state, scaled by
            // the larger one so that the exponentials stay finite.
            let logs: [f64; REGIMES] =
                std::array::from_fn(|z| counts[b] * rng::ln(rate[z] * width[b]) - rate[z] * width[b] - log_fact[b]);
            let top = logs[0].max(logs[1]);
            lik[b] = logs.map(|l| rng::exp(l - top));
            let prior: [f64; REGIMES] = if b == 0 {
                first
            } else {
                std::array::from_fn(|z| (0..REGIMES).map(|y| fwd[b - 1][y] * trans[y][z]).sum())
            };
            let f: [f64; REGIMES] = std::array::from_fn(|z| prior[z] * lik[b][z]);
            scale[b] = f[0] + f[1];
            fwd[b] = f.map(|v| v / scale[b]);
            ll += rng::ln(scale[b]) + top;
        }
        bwd[bins - 1] = [1.0; REGIMES];
        let mut xi = [[0.0f64; REGIMES]; REGIMES];
        for b in (0..bins - 1).rev() {
            let next: [f64; REGIMES] = std::array::from_fn(|z| lik[b + 1][z] * bwd[b + 1][z]);
            bwd[b] = std::array::from_fn(|y| (0..REGIMES).map(|z| trans[y][z] * next[z]).sum::<f64>() / scale[b + 1]);
            for (y, row) in xi.iter_mut().enumerate() {
                for (z, x) in row.iter_mut().enumerate() {
                    *x += fwd[b][y] * trans[y][z] * next[z] / scale[b + 1];
                }
            }
        }
        for b in 0..bins {
            let g: [f64; REGIMES] = std::array::from_fn(|z| fwd[b][z] * bwd[b][z]);
            gamma[b] = g.map(|v| v / (g[0] + g[1]));
        }
        log_likelihood = ll;
        for z in 0..REGIMES {
            let time: f64 = gamma.iter().zip(&width).map(|(g, w)| g[z] * w).sum();
            let n: f64 = gamma.iter().zip(&counts).map(|(g, c)| g[z] * c).sum();
            rate[z] = (n / time.max(1e-9)).max(1e-9);
            let out = xi[z][0] + xi[z][1];
            if out > 0.0 {
                trans[z] = [xi[z][0] / out, xi[z][1] / out];
            }
        }
        first = gamma[0];
        if log_likelihood - last_ll < EM_TOLERANCE {
            break;
        }
        last_ll = log_likelihood;
    }
    if rate[0] > rate[1] {
        rate.swap(0, 1);
        trans = [[trans[1][1], trans[1][0]], [trans[0][1], trans[0][0]]];
        for g in &mut gamma {
            g.swap(0, 1);
        }
    }
    let (p01, p10) = (trans[0][1], trans[1][0]);
    let total = -rng::ln((1.0 - p01 - p10).max(1e-12)) / REGIME_BIN_S;
    let switch_per_s = if p01 + p10 > 0.0 { [total * p01 / (p01 + p10), total * p10 / (p01 + p10)] } else { [0.0; 2] };
    RegimeFit {
        params: Regimes {
            burst_activity: 1.0,
            burst_market_activity: rate[1] / rate[0],
            switch_per_s,
            burst_direction: 0.0,
        },
        rates: rate,
        log_likelihood,
        iterations,
        burst_probability: gamma.iter().map(|g| g[1]).collect(),
    }
}

/// Quantile probabilities printed for size samples.
pub const REPORT_PROBS: [f64; 19] =
    [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0];

/// Distance bands the deep parameters are reported in, ticks (inclusive).
pub const REPORT_BANDS: [(usize, usize); 12] = [
    (1, 1),
    (2, 2),
    (3, 3),
    (4, 5),
    (6, 10),
    (11, 20),
    (21, 50),
    (51, 100),
    (101, 200),
    (201, 400),
    (401, 700),
    (701, 999),
];

fn write_quantiles(f: &mut fmt::Formatter<'_>, name: &str, values: &[i64]) -> fmt::Result {
    write!(f, "{name} (n = {}, mean {:.1}): [", values.len(), mean(values))?;
    for (i, p) in REPORT_PROBS.iter().enumerate() {
        write!(f, "{}{}", if i > 0 { ", " } else { "" }, quantile(values, *p))?;
    }
    writeln!(f, "]")
}

impl fmt::Display for Estimates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "exchange span {:.1} s, deep span {:.1} s, {} book samples",
            self.exchange_seconds, self.deep_seconds, self.samples
        )?;
        writeln!(f, "touch queue buckets (lots < 2^b): seconds, adds/s, cancels/s, trade decreases/s")?;
        for (b, q) in self.queue.iter().enumerate() {
            if q.seconds > 0.0 {
                writeln!(
                    f,
                    "  b{:>2} (<{:>6}): {:>8.2} s  join {:>7.3}/s  cancel {:>7.3}/s  trade {:>6.3}/s  (n {} / {} / {}), vanished {}, removed ‰ q10/50/90 {}/{}/{}",
                    b + 1,
                    1u64 << (b + 1),
                    q.seconds,
                    q.adds as f64 / q.seconds,
                    q.cancels as f64 / q.seconds,
                    q.trade_decreases as f64 / q.seconds,
                    q.adds,
                    q.cancels,
                    q.trade_decreases,
                    q.vanished,
                    quantile(&q.cancel_permille, 0.1),
                    quantile(&q.cancel_permille, 0.5),
                    quantile(&q.cancel_permille, 0.9)
                )?;
            }
        }
        writeln!(f, "mean touch depth {:.1} lots", self.touch_depth_lots)?;
        write_quantiles(f, "join sizes", &self.join_sizes)?;
        write_quantiles(f, "touch cancel sizes", &self.cancel_sizes)?;
        writeln!(
            f,
            "wide spread {:.2} s, improvements {} ({:.3}/s per side while wide), closing share {:.3}",
            self.wide_seconds,
            self.improvements,
            self.improvements_per_s_per_side(),
            self.closing_share()
        )?;
        writeln!(
            f,
            "after a retreat: {} improvements by the other side, {} by the retreated side (follow share {:.3})",
            self.follow_improvements,
            self.back_improvements,
            self.follow_share()
        )?;
        write_quantiles(f, "improvement sizes", &self.improve_sizes)?;
        write_quantiles(f, "old best left one diff after its side improved, permille", &self.old_best_left_permille)?;
        writeln!(f, "retreats: {} with trade, {} without", self.retreats_with_trade, self.retreats_without_trade)?;
        let h = self.market_hawkes();
        writeln!(
            f,
            "market-order Hawkes fit (decays {:?}/s, {} EM iterations): background {:.4}/s per side, \
             branching self {:.4?} cross {:.4?} (total {:.4}, mean rate {:.3}/s); log-likelihood {:.1} (Poisson {:.1})",
            params::HAWKES_DECAYS_PER_S,
            h.iterations,
            h.params.background_per_s,
            h.params.self_branching,
            h.params.cross_branching,
            h.params.branching_ratio(),
            h.params.mean_rate(),
            h.log_likelihood,
            h.poisson_log_likelihood
        )?;
        let r = self.regimes();
        writeln!(
            f,
            "activity regimes ({} EM iterations, {} s bins): taker orders {:.3}/s calm, {:.3}/s burst (activity \
             {:.4}); leaving calm {:.5}/s, leaving burst {:.5}/s (burst share {:.4}); log-likelihood {:.1}",
            r.iterations,
            REGIME_BIN_S,
            r.rates[0],
            r.rates[1],
            r.params.burst_activity,
            r.params.switch_per_s[0],
            r.params.switch_per_s[1],
            r.params.burst_share(),
            r.log_likelihood
        )?;
        writeln!(
            f,
            "bursts: one-sidedness {:.3} (mean |buys - sells| / orders in burst seconds), book activity {:.2}x calm",
            self.burst_one_sidedness(&r),
            self.burst_book_activity(&r)
        )?;
        let sizes = self.taker_sizes_by_regime(&r);
        write_quantiles(f, "taker sizes, calm regime", &sizes[0])?;
        write_quantiles(f, "taker sizes, burst regime", &sizes[1])?;
        write_quantiles(f, "quantity before a retreat without trade", &self.retreat_sizes)?;
        writeln!(
            f,
            "deep bands (ticks): arrivals/tick/s per side, cancels/tick/s, depth lots/tick, mean arrival lots, cancelled lots/tick/s"
        )?;
        for (from, to) in REPORT_BANDS {
            if to <= PROFILE_TICKS {
                writeln!(
                    f,
                    "  {from:>4}..={to:<4} {:>9.5} {:>9.5} {:>9.2} {:>8.1} {:>9.3}",
                    self.arrivals_per_tick_s(from, to),
                    self.cancels_per_tick_s(from, to),
                    self.depth_per_tick(from, to),
                    self.arrival_size(from, to),
                    self.cancelled_lots_per_tick_s(from, to)
                )?;
            }
        }
        write_quantiles(f, "deep arrival sizes (near)", &self.deep_near_sizes)?;
        write_quantiles(f, "deep arrival sizes (far)", &self.deep_far_sizes)?;
        writeln!(f, "pooled touch buckets (join/s, cancel/s, market/s, vanish share, partial cancel ‰ quantiles):")?;
        for (b, t) in self.touch_buckets().iter().enumerate() {
            writeln!(
                f,
                "  TouchBucket {{ join_per_s: {:.3}, cancel_per_s: {:.3}, market_per_s: {:.3}, vanish_share: {:.4}, partial_permille: QuantileTable {{ values: {:?} }}, join_sizes: QuantileTable {{ values: {:?} }} }}, // b{}",
                t.join_per_s,
                t.cancel_per_s,
                t.market_per_s,
                t.vanish_share,
                t.partial_permille,
                t.join_sizes,
                b + 1
            )?;
        }
        writeln!(
            f,
            "market orders {:.3}/s per side (buy {}, sell {})",
            self.market_orders_per_s_per_side(),
            self.takers[0],
            self.takers[1]
        )?;
        write_quantiles(f, "taker sizes", &self.taker_sizes)?;
        write_quantiles(f, "print sizes", &self.print_sizes)?;
        write_quantiles(f, "maker orders filled whole", &self.maker_fill_sizes)?;
        writeln!(
            f,
            "maker order sizes (Kaplan–Meier, {} exact + {} censored): {:?}",
            self.maker_fill_sizes.len(),
            self.maker_partial_sizes.len(),
            self.maker_order_sizes()
        )?;
        write_quantiles(f, "diff intervals ms", &self.diff_intervals_ms)?;
        writeln!(f, "update ids {:.0}/s", self.update_ids_per_s)?;
        let base = quantile(&self.local_minus_event_ns, 0.0);
        let jitter: Vec<i64> = self.local_minus_event_ns.iter().map(|v| v - base).collect();
        write_quantiles(f, "local − event time above its minimum, ns", &jitter)
    }
}

/// The previous best bid/offer seen by the touch estimator, in ticks and
/// lots; index 0 is the bid side, 1 the ask side.
#[derive(Debug, Clone, Copy)]
struct Top {
    px: [i64; 2],
    lots: [i64; 2],
    ms: i64,
}

/// Everything accumulated, apart from the decoder so that the decode
/// callback can borrow it.
struct Acc {
    inst: InstrumentId,
    tick: i64,
    step: i64,
    stats: SessionStats,
    est: Estimates,
    first_local: Option<u64>,
    last_local: u64,
    spread_sum: f64,
    depth10_sum: f64,
    trade_qty: Vec<i64>,
    /// Every best bid/offer frame, classified when the estimates are asked
    /// for (trades and best bid/offer come on different streams and do not
    /// arrive in exchange-time order).
    tops: Vec<Top>,
    /// Exchange times of the taker orders that hit each book side (0 bids,
    /// 1 asks).
    taker_ms: [Vec<i64>; 2],
    /// The taker order being assembled: trade time, taker side, lots.
    taker: Option<(i64, Side, i64)>,
    last_print_lots: i64,
    last_diff_ms: Option<i64>,
    deep_prev_ms: Option<i64>,
    first_id: Option<(u64, i64)>,
    last_id: (u64, i64),
    first_ms: Option<i64>,
    last_ms: i64,
    /// Exchange second and doubled mid (bid + ask, ticks) of the last
    /// per-second mid sample.
    mid_sample: Option<(i64, i64)>,
    mid_moves: Vec<i64>,
    /// Best bid and ask before the diff being applied.
    before: Option<[Option<(crate::fixed::Price, crate::fixed::Qty)>; 2]>,
}

impl Acc {
    fn exchange_time(&mut self, ms: i64, local_ts_ns: u64) {
        if ms <= 0 {
            return;
        }
        self.first_ms.get_or_insert(ms);
        self.last_ms = self.last_ms.max(ms);
        self.est.local_minus_event_ns.push(local_ts_ns as i64 - ms.saturating_mul(1_000_000));
    }

    fn ticks(&self, mantissa: i64) -> i64 {
        mantissa / self.tick
    }

    fn lots(&self, mantissa: i64) -> i64 {
        mantissa / self.step
    }

    fn on_event(&mut self, event: &MarketEvent<'_>, market: &mut MarketState<DEFAULT_LEVELS>, local_ts_ns: u64) {
        match event {
            MarketEvent::Depth(diff) if diff.inst == self.inst => {
                self.stats.depth_frames += 1;
                self.exchange_time(diff.event_ms, local_ts_ns);
                if let Some(prev) = self.last_diff_ms {
                    self.est.diff_intervals_ms.push(diff.event_ms - prev);
                }
                self.last_diff_ms = Some(diff.event_ms);
                self.est.book_changes.push((diff.event_ms, (diff.bids.count() + diff.asks.count()) as u32));
                self.first_id.get_or_insert((diff.first_id, diff.event_ms));
                self.last_id = (diff.last_id, diff.event_ms);
                let live = market.get(self.inst).filter(|st| st.sync.state() == SyncState::Live);
                match (live, self.deep_prev_ms) {
                    (Some(st), Some(prev)) => {
                        let book = st.sync.book();
                        self.est.deep_seconds += (diff.event_ms - prev) as f64 / 1000.0;
                        self.count_deep(book, Side::Buy, diff.bids);
                        self.count_deep(book, Side::Sell, diff.asks);
                        self.deep_prev_ms = Some(diff.event_ms);
                    }
                    (Some(_), None) => self.deep_prev_ms = Some(diff.event_ms),
                    (None, _) => self.deep_prev_ms = None,
                }
                let ms = diff.event_ms;
                self.before = market.book(self.inst).map(|b| [b.best_bid(), b.best_ask()]);
                market.apply(event, |_, book, outcome| self.on_outcome(book, outcome, ms));
                self.before = None;
            }
            MarketEvent::Snapshot(snap) if snap.inst == self.inst => {
                self.stats.snapshots += 1;
                let ms = snap.event_ms;
                self.deep_prev_ms = None;
                market.apply(event, |_, book, outcome| self.on_outcome(book, outcome, ms));
            }
            MarketEvent::BookTicker(t) if t.inst == self.inst => {
                self.stats.top_frames += 1;
                self.exchange_time(t.event_ms, local_ts_ns);
                let top = Top {
                    px: [self.ticks(t.bid_px.0), self.ticks(t.ask_px.0)],
                    lots: [self.lots(t.bid_qty.0), self.lots(t.ask_qty.0)],
                    ms: t.transact_ms,
                };
                self.tops.push(top);
            }
            MarketEvent::Ticker(t) if t.inst == self.inst => {
                if t.bid_px.is_some() || t.ask_px.is_some() {
                    self.stats.top_frames += 1;
                }
                self.exchange_time(t.ts_ms, local_ts_ns);
            }
            MarketEvent::MarkPrice(m) if m.inst == self.inst => self.exchange_time(m.event_ms, local_ts_ns),
            MarketEvent::Trades(batch) => {
                let mut first = true;
                for trade in *batch {
                    let Ok(trade) = trade else {
                        self.stats.decode_errors += 1;
                        break;
                    };
                    if trade.inst != self.inst {
                        continue;
                    }
                    if first {
                        self.exchange_time(trade.event_ms, local_ts_ns);
                        first = false;
                    }
                    let lots = self.lots(trade.qty.0);
                    self.stats.trade_prints += 1;
                    self.trade_qty.push(trade.qty.0);
                    self.est.print_sizes.push(lots);
                    match &mut self.taker {
                        Some((ms, side, size)) if *ms == trade.trade_ms && *side == trade.taker_side => {
                            // The taker went on, so the previous maker order was filled whole.
                            self.est.maker_fill_sizes.push(self.last_print_lots);
                            *size += lots;
                        }
                        open => {
                            if let Some((ms, side, size)) = open.take() {
                                // Its last print: the maker order held at least that much.
                                self.est.maker_partial_sizes.push(self.last_print_lots);
                                self.est.takers[usize::from(side == Side::Sell)] += 1;
                                self.est.taker_sizes.push(size);
                                self.est.taker_orders.push((ms, usize::from(side == Side::Buy), size));
                                // A taker buy hits the asks (side index 1).
                                self.taker_ms[usize::from(side == Side::Buy)].push(ms);
                            }
                            *open = Some((trade.trade_ms, trade.taker_side, lots));
                        }
                    }
                    self.last_print_lots = lots;
                }
            }
            _ => {}
        }
    }

    /// Deep arrivals and cancellations of one side of a diff, against the
    /// book before it.
    fn count_deep(&mut self, book: &Book<DEFAULT_LEVELS>, side: Side, levels: crate::event::Levels<'_>) {
        let ladder = book.side(side);
        let Some((best, _)) = ladder.best() else { return };
        for level in levels {
            let Ok((price, qty)) = level else { continue };
            let gap = match side {
                Side::Buy => best.0 - price.0,
                Side::Sell => price.0 - best.0,
            };
            if gap % self.tick != 0 {
                continue;
            }
            let d = gap / self.tick;
            if d < 1 || d > PROFILE_TICKS as i64 {
                continue;
            }
            let old = ladder.qty_at(price).map_or(0, |q| self.lots(q.0));
            let new = self.lots(qty.0);
            let counts = &mut self.est.deep[d as usize];
            if new > old {
                counts.arrivals += 1;
                counts.arrived_lots += (new - old) as u64;
                if d as usize <= NEAR_ZONE_TICKS {
                    self.est.deep_near_sizes.push(new - old);
                } else {
                    self.est.deep_far_sizes.push(new - old);
                }
            } else if new < old {
                counts.cancels += 1;
                counts.cancelled_lots += (old - new) as u64;
            }
        }
    }

    fn on_outcome(&mut self, book: &Book<DEFAULT_LEVELS>, outcome: SyncOutcome, ms: i64) {
        match outcome {
            SyncOutcome::Applied { .. } => self.sample(book, ms),
            SyncOutcome::Gap { .. } => self.stats.gaps += 1,
            _ => {}
        }
    }

    /// One sample of the published book.
    fn sample(&mut self, book: &Book<DEFAULT_LEVELS>, ms: i64) {
        let (Some((bid, _)), Some((ask, _))) = (book.best_bid(), book.best_ask()) else { return };
        // The old best after its side improved within this diff.
        if let Some(before) = self.before {
            for (s, side) in [Side::Buy, Side::Sell].into_iter().enumerate() {
                let (Some((old_px, old_qty)), Some((new_px, _))) = (before[s], book.side(side).best()) else {
                    continue;
                };
                if (new_px.0 - old_px.0) * side.sign() > 0 && old_qty.0 > 0 {
                    let left = book.side(side).qty_at(old_px).map_or(0, |q| q.0);
                    self.est.old_best_left_permille.push(left * 1000 / old_qty.0);
                }
            }
        }
        self.stats.published += 1;
        self.spread_sum += self.ticks(ask.0 - bid.0) as f64;
        let mid2 = self.ticks(bid.0) + self.ticks(ask.0);
        let second = ms.div_euclid(1000);
        match self.mid_sample {
            Some((s, _)) if s == second => {}
            Some((_, m)) => {
                self.mid_moves.push(mid2 - m);
                self.mid_sample = Some((second, mid2));
            }
            None => self.mid_sample = Some((second, mid2)),
        }
        self.est.samples += 1;
        for side in [Side::Buy, Side::Sell] {
            let ladder = book.side(side);
            let Some((best, _)) = ladder.best() else { continue };
            for (price, qty) in ladder.iter() {
                let d = self.ticks((price.0 - best.0).abs());
                if d > PROFILE_TICKS as i64 {
                    break;
                }
                let lots = self.lots(qty.0) as f64;
                if d <= NEAR_TICKS {
                    self.depth10_sum += qty.0 as f64;
                }
                if d == 0 {
                    self.est.touch_depth_lots += lots;
                } else {
                    self.est.deep[d as usize].depth_lots += lots;
                }
            }
        }
    }
}

/// Touch dynamics from consecutive best bid/offer frames. A decrease (or the
/// level going) is a trade when a taker order hit that side at an exchange
/// time within the two frames' times (each taker order explains one
/// change); otherwise a cancellation.
fn classify_tops(est: &mut Estimates, tops: &[Top], taker_ms: &[Vec<i64>; 2]) {
    let mut takers = [taker_ms[0].clone(), taker_ms[1].clone()];
    for t in &mut takers {
        t.sort_unstable();
    }
    let mut next = [0usize; 2];
    // The side whose best last retreated while the spread is wide.
    let mut retreated: Option<usize> = None;
    for pair in tops.windows(2) {
        let (prev, cur) = (pair[0], pair[1]);
        let dt = (cur.ms - prev.ms).max(0) as f64 / 1000.0;
        if prev.px[1] - prev.px[0] >= 2 {
            est.wide_seconds += dt;
        }
        for s in 0..2 {
            let times = &takers[s];
            while next[s] < times.len() && times[next[s]] < prev.ms {
                next[s] += 1;
            }
            let traded = next[s] < times.len() && times[next[s]] <= cur.ms;
            let bucket = queue_bucket(prev.lots[s]);
            est.queue[bucket].seconds += dt;
            let better = if s == 0 { cur.px[0] > prev.px[0] } else { cur.px[1] < prev.px[1] };
            let decrease = cur.px[s] == prev.px[s] && cur.lots[s] < prev.lots[s] || cur.px[s] != prev.px[s] && !better;
            if decrease && traded {
                next[s] += 1;
            }
            if cur.px[s] == prev.px[s] {
                let delta = cur.lots[s] - prev.lots[s];
                if delta > 0 {
                    est.queue[bucket].adds += 1;
                    est.queue[bucket].join_sizes.push(delta);
                    est.join_sizes.push(delta);
                } else if delta < 0 && traded {
                    est.queue[bucket].trade_decreases += 1;
                } else if delta < 0 {
                    est.queue[bucket].cancels += 1;
                    est.queue[bucket].cancel_permille.push(-delta * 1000 / prev.lots[s].max(1));
                    est.cancel_sizes.push(-delta);
                }
            } else if better {
                est.improvements += 1;
                match retreated {
                    Some(r) if r == s => est.back_improvements += 1,
                    Some(_) => est.follow_improvements += 1,
                    None => {}
                }
                est.improve_sizes.push(cur.lots[s]);
                if cur.px[1] - cur.px[0] == 1 {
                    est.closing_improvements += 1;
                }
            } else if traded {
                est.retreats_with_trade += 1;
                est.queue[bucket].trade_decreases += 1;
            } else {
                est.retreats_without_trade += 1;
                est.retreat_sizes.push(prev.lots[s]);
                est.queue[bucket].cancels += 1;
                est.queue[bucket].vanished += 1;
            }
        }
        for s in 0..2 {
            let worse = if s == 0 { cur.px[0] < prev.px[0] } else { cur.px[1] > prev.px[1] };
            if worse {
                retreated = Some(s);
            }
        }
        if cur.px[1] - cur.px[0] < 2 {
            retreated = None;
        }
    }
}

/// Accumulates [`SessionStats`] and [`Estimates`] frame by frame, through
/// the production decode and sync path.
pub struct Calibrator {
    decoder: Decoder,
    scratch: JsonScratch,
    market: MarketState<DEFAULT_LEVELS>,
    acc: Acc,
}

impl Calibrator {
    /// A calibrator for `symbol` of `venue`, with instruments from `table`.
    ///
    /// # Errors
    /// [`CalibrateError::UnknownSymbol`].
    pub fn new(venue: Venue, table: &InstrumentTable, symbol: Symbol) -> Result<Self, CalibrateError> {
        let unknown = CalibrateError::UnknownSymbol { symbol, venue };
        let instrument: Instrument = *table.get(venue, &symbol).ok_or_else(|| unknown.clone())?;
        let mut decoder = Decoder::new(venue, table);
        let entries = decoder.symbols().entries().to_vec();
        let inst = decoder.symbols().find(symbol.as_bytes()).map(|e| e.id).ok_or(unknown)?;
        decoder.set_snapshot_instrument(Some(inst));
        Ok(Self {
            decoder,
            scratch: JsonScratch::default(),
            market: MarketState::new(venue, &entries),
            acc: Acc {
                inst,
                tick: instrument.tick.0,
                step: instrument.step.0,
                stats: SessionStats::default(),
                est: Estimates { deep: vec![DistanceCounts::default(); PROFILE_TICKS + 1], ..Estimates::default() },
                first_local: None,
                last_local: 0,
                spread_sum: 0.0,
                depth10_sum: 0.0,
                trade_qty: Vec::new(),
                tops: Vec::new(),
                taker_ms: [Vec::new(), Vec::new()],
                taker: None,
                last_print_lots: 0,
                last_diff_ms: None,
                deep_prev_ms: None,
                first_id: None,
                last_id: (0, 0),
                first_ms: None,
                last_ms: 0,
                mid_sample: None,
                mid_moves: Vec::new(),
                before: None,
            },
        })
    }

    /// Feeds one frame; it is decoded in place, so `frame` is clobbered.
    pub fn on_frame(&mut self, local_ts_ns: u64, frame: &mut [u8]) {
        let Self { decoder, scratch, market, acc } = self;
        acc.stats.frames += 1;
        acc.first_local.get_or_insert(local_ts_ns);
        acc.last_local = local_ts_ns;
        let ok = decoder.decode_frame(scratch, frame, |event| match event {
            Ok(event) => {
                acc.on_event(&event, market, local_ts_ns);
                true
            }
            Err(_) => false,
        });
        if !ok {
            acc.stats.decode_errors += 1;
        }
    }

    /// The session statistics so far.
    #[must_use]
    pub fn stats(&self) -> SessionStats {
        let a = &self.acc;
        let mut stats = a.stats.clone();
        stats.span_s = a.first_local.map_or(0.0, |first| (a.last_local - first) as f64 / 1e9);
        let est = self.estimates();
        stats.taker_orders = est.taker_sizes.len() as u64;
        stats.market_order_dispersion = dispersion(&est.taker_events(), est.exchange_seconds, 1.0);
        let published = a.stats.published.max(1) as f64;
        stats.mean_spread_ticks = a.spread_sum / published;
        stats.mean_depth10_qty = a.depth10_sum / (2.0 * published);
        stats.median_trade_qty = quantile(&a.trade_qty, 0.5);
        if !a.mid_moves.is_empty() {
            let n = a.mid_moves.len() as f64;
            let m = a.mid_moves.iter().map(|&x| x as f64).sum::<f64>() / n;
            let var = a.mid_moves.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / n;
            // Moves are of the doubled mid.
            stats.mid_vol_ticks_per_s = var.sqrt() / 2.0;
        }
        stats
    }

    /// The parameter estimates so far (the open taker order included).
    #[must_use]
    pub fn estimates(&self) -> Estimates {
        let a = &self.acc;
        let mut est = a.est.clone();
        let mut taker_ms = a.taker_ms.clone();
        if let Some((ms, side, size)) = a.taker {
            est.maker_partial_sizes.push(a.last_print_lots);
            est.takers[usize::from(side == Side::Sell)] += 1;
            est.taker_sizes.push(size);
            est.taker_orders.push((ms, usize::from(side == Side::Buy), size));
            taker_ms[usize::from(side == Side::Buy)].push(ms);
        }
        classify_tops(&mut est, &a.tops, &taker_ms);
        est.first_exchange_ms = a.first_ms.unwrap_or(0);

        est.exchange_seconds = a.first_ms.map_or(0.0, |first| (a.last_ms - first) as f64 / 1000.0);
        if let Some((first, first_ms)) = a.first_id {
            let secs = (a.last_id.1 - first_ms) as f64 / 1000.0;
            if secs > 0.0 {
                est.update_ids_per_s = a.last_id.0.saturating_sub(first) as f64 / secs;
            }
        }
        let samples = est.samples.max(1) as f64;
        est.touch_depth_lots /= 2.0 * samples;
        est
    }
}

/// Variance over mean of the number of events per side in consecutive
/// windows of `window_s` seconds (whole windows only, sides pooled); 0 when
/// there are none.
#[must_use]
pub fn dispersion(events: &[(f64, usize)], span_s: f64, window_s: f64) -> f64 {
    let windows = (span_s / window_s) as usize;
    if windows == 0 {
        return 0.0;
    }
    let mut counts = vec![0u32; 2 * windows];
    for &(t, s) in events {
        let w = (t / window_s) as usize;
        if w < windows {
            counts[2 * w + s.min(1)] += 1;
        }
    }
    let n = counts.len() as f64;
    let mean = counts.iter().map(|&c| f64::from(c)).sum::<f64>() / n;
    let var = counts.iter().map(|&c| (f64::from(c) - mean).powi(2)).sum::<f64>() / n;
    if mean > 0.0 { var / mean } else { 0.0 }
}

/// Why a recording could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// Reading the recording failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The symbol is unknown.
    #[error("{0}")]
    Calibrate(#[from] CalibrateError),
}

/// Measures a recording file (plain or gzip) of `symbol` on `venue`.
///
/// # Errors
/// [`MeasureError`].
pub fn measure_recording(
    path: &std::path::Path,
    venue: Venue,
    table: &InstrumentTable,
    symbol: Symbol,
) -> Result<Calibrator, MeasureError> {
    let mut calibrator = Calibrator::new(venue, table, symbol)?;
    let mut reader = crate::recording::FrameReader::new(crate::recording::open(path)?);
    let mut frame = Vec::new();
    while let Some(item) = reader.next_frame(&mut frame)? {
        if let crate::recording::ReadItem::Frame(ts) = item {
            calibrator.on_frame(ts, &mut frame);
        }
    }
    Ok(calibrator)
}
