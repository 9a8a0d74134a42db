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
             depth within {} ticks {:.0} per side; mid vol {:.2} ticks/s; {} published, {} gaps, {} decode errors",
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
        write_quantiles(f, "improvement sizes", &self.improve_sizes)?;
        write_quantiles(f, "old best left one diff after its side improved, permille", &self.old_best_left_permille)?;
        writeln!(f, "retreats: {} with trade, {} without", self.retreats_with_trade, self.retreats_without_trade)?;
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
        stats.taker_orders = self.estimates().taker_sizes.len() as u64;
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
            taker_ms[usize::from(side == Side::Buy)].push(ms);
        }
        classify_tops(&mut est, &a.tops, &taker_ms);
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
