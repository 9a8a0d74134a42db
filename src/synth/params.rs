//! The calibrated parameters of the synthetic order book, with where each
//! was measured.
//!
//! Source: the real Binance USDⓈ-M BTCUSDT recording
//! `binance-usdm/btcusdt_20240808.gz` (2024-08-08 23:54–00:00 UTC, 344.8 s,
//! 93,954 frames; see `../shared/data/README.md`), measured by
//! [`super::calibrate::Calibrator`] through the project's own decoder and
//! book sync. Reproduce with
//! `cargo test --test synth_calibration -- --nocapture`; the test
//! `params_match_the_recording` fails if a constant here drifts from what
//! the recording gives.
//!
//! Units: quantities in *lots* of the calibration instrument (0.001 BTC),
//! distances in *ticks* (0.10 USDT), rates per second of exchange time and
//! per book side unless a name says otherwise. Other instruments reuse these
//! numbers in ticks, with sizes rescaled to the same notional (see
//! [`MarketProfile`]).
//!
//! Three parameters are *fitted by simulated moments* rather than measured
//! directly (each set so that a statistic of generated sessions, mean over
//! seeds 1–8 of 600 s, equals the recording's; the tool
//! `cargo test --release --test synth_calibration -- --ignored --nocapture
//! fit_dynamics` prints the grid): [`PULL_PER_S`] (best-price retreats per
//! second), [`PULL_MEAN_TICKS`] (volatility of the mid) and
//! [`Regimes::burst_direction`] / [`Regimes::burst_activity`] of
//! [`REGIMES_FIT`] (one-sidedness and book activity of the bursts). The
//! queue-reactive touch rates measured here, simulated alone, let the best
//! queue grow to about 1.6× its real size, because in the recording the best
//! price changes (and the queue starts afresh) far more often than queue
//! depletion alone explains — the price is discovered across venues. The
//! pulls stand for that outside information.
//!
//! Order-flow bursts and volatility clustering come from two measured
//! layers: self- and cross-exciting market orders ([`MARKET_HAWKES`], a
//! Hawkes intensity fitted by maximum likelihood, Bacry, Mastromatteo & Muzy
//! 2015) and calm/burst activity regimes ([`REGIMES_FIT`], a hidden Markov
//! model fitted by Baum–Welch), with taker sizes per regime
//! ([`TAKER_SIZES_BY_REGIME`]).
//!
//! What is *not* calibrated (the recording has no such stream) is marked
//! "assumed" below.

use crate::fixed::Price;
use crate::instrument::Instrument;

/// The probabilities at which the size and interval tables below give the
/// empirical quantiles (the minimum at 0, the maximum at 1).
pub const QUANTILE_PROBS: [f64; 19] =
    [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0];

/// An empirical distribution given by its quantiles at [`QUANTILE_PROBS`].
/// Draws interpolate linearly between neighbouring quantiles (inverse-CDF
/// sampling of the piecewise-linear quantile function).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantileTable {
    /// Quantile values, non-decreasing.
    pub values: [i64; 19],
}

impl QuantileTable {
    /// The value at uniform `u ∈ [0, 1)`.
    #[must_use]
    pub fn at(&self, u: f64) -> f64 {
        let p = &QUANTILE_PROBS;
        let mut k = 0;
        while k + 2 < p.len() && u >= p[k + 1] {
            k += 1;
        }
        let t = ((u - p[k]) / (p[k + 1] - p[k])).clamp(0.0, 1.0);
        let (a, b) = (self.values[k] as f64, self.values[k + 1] as f64);
        a + t * (b - a)
    }

    /// The mean of the interpolated distribution.
    #[must_use]
    pub fn mean(&self) -> f64 {
        let p = &QUANTILE_PROBS;
        (0..p.len() - 1).map(|k| (p[k + 1] - p[k]) * (self.values[k] + self.values[k + 1]) as f64 / 2.0).sum()
    }
}

/// Log₂ buckets of the best level's quantity: bucket `b` (0-based) holds
/// `2^b ≤ lots < 2^(b+1)`; the last is open-ended.
pub const QUEUE_BUCKETS: usize = 16;

/// The touch dynamics of one log₂ bucket of the best level's quantity
/// (queue-reactive, Huang–Lehalle–Rosenbaum 2015).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TouchBucket {
    /// Additions to the best level per second per side: quantity up at an
    /// unchanged best price between two `bookTicker` frames, over the time
    /// the best level spent in the bucket.
    pub join_per_s: f64,
    /// Cancellations per second per side: quantity down, or the level gone,
    /// with no taker order on that side at an exchange time between the two
    /// frames.
    pub cancel_per_s: f64,
    /// Market orders hitting the level per second: decreases or the level
    /// going with a taker order on that side between the two frames. Takers
    /// go for thin queues (42/s below 16 lots against 5/s above 4096), so
    /// this is state-dependent too; overall it adds up to
    /// [`MARKET_ORDERS_PER_S`].
    pub market_per_s: f64,
    /// Share of those cancellations that emptied the level (a quote
    /// pulled): the model removes the whole level.
    pub vanish_share: f64,
    /// The others removed this fraction of the level, in 1/1000
    /// (quantiles); the model takes it from the newest orders first
    /// (fleeting orders are the ones cancelled).
    pub partial_permille: QuantileTable,
    /// Sizes of the additions, lots: small levels receive small orders
    /// (median 14–32 lots below 256 lots, 58–165 above). Placed as orders of
    /// [`MAKER_ORDER_SIZES`].
    pub join_sizes: QuantileTable,
}

/// Touch dynamics per bucket of the best level's quantity (bucket `b`
/// holds `2^b ≤ lots < 2^(b+1)`), measured from consecutive `bookTicker`
/// frames; runs of buckets observed less than 5 s are pooled
/// ([`super::calibrate::Estimates::touch_buckets`]).
pub const TOUCH: [TouchBucket; QUEUE_BUCKETS] = [
    TouchBucket {
        join_per_s: 59.598,
        cancel_per_s: 59.104,
        market_per_s: 42.147,
        vanish_share: 0.5515,
        partial_permille: QuantileTable {
            values: [66, 142, 166, 200, 250, 285, 333, 400, 428, 500, 600, 666, 666, 777, 800, 800, 800, 800, 800],
        },
        join_sizes: QuantileTable {
            values: [1, 2, 2, 2, 4, 16, 35, 108, 218, 376, 700, 744, 970, 1175, 1680, 1884, 1884, 1884, 1884],
        },
    }, // bucket 1
    TouchBucket {
        join_per_s: 59.598,
        cancel_per_s: 59.104,
        market_per_s: 42.147,
        vanish_share: 0.5515,
        partial_permille: QuantileTable {
            values: [66, 142, 166, 200, 250, 285, 333, 400, 428, 500, 600, 666, 666, 777, 800, 800, 800, 800, 800],
        },
        join_sizes: QuantileTable {
            values: [1, 2, 2, 2, 4, 16, 35, 108, 218, 376, 700, 744, 970, 1175, 1680, 1884, 1884, 1884, 1884],
        },
    }, // bucket 2
    TouchBucket {
        join_per_s: 59.598,
        cancel_per_s: 59.104,
        market_per_s: 42.147,
        vanish_share: 0.5515,
        partial_permille: QuantileTable {
            values: [66, 142, 166, 200, 250, 285, 333, 400, 428, 500, 600, 666, 666, 777, 800, 800, 800, 800, 800],
        },
        join_sizes: QuantileTable {
            values: [1, 2, 2, 2, 4, 16, 35, 108, 218, 376, 700, 744, 970, 1175, 1680, 1884, 1884, 1884, 1884],
        },
    }, // bucket 3
    TouchBucket {
        join_per_s: 59.598,
        cancel_per_s: 59.104,
        market_per_s: 42.147,
        vanish_share: 0.5515,
        partial_permille: QuantileTable {
            values: [66, 142, 166, 200, 250, 285, 333, 400, 428, 500, 600, 666, 666, 777, 800, 800, 800, 800, 800],
        },
        join_sizes: QuantileTable {
            values: [1, 2, 2, 2, 4, 16, 35, 108, 218, 376, 700, 744, 970, 1175, 1680, 1884, 1884, 1884, 1884],
        },
    }, // bucket 4
    TouchBucket {
        join_per_s: 43.389,
        cancel_per_s: 28.212,
        market_per_s: 23.123,
        vanish_share: 0.3259,
        partial_permille: QuantileTable {
            values: [27, 40, 46, 61, 83, 100, 125, 206, 339, 591, 750, 850, 937, 968, 970, 970, 970, 970, 970],
        },
        join_sizes: QuantileTable {
            values: [1, 2, 2, 3, 4, 12, 20, 54, 114, 300, 727, 744, 970, 1236, 1769, 2670, 2670, 2670, 2670],
        },
    }, // bucket 5
    TouchBucket {
        join_per_s: 43.389,
        cancel_per_s: 28.212,
        market_per_s: 23.123,
        vanish_share: 0.3259,
        partial_permille: QuantileTable {
            values: [27, 40, 46, 61, 83, 100, 125, 206, 339, 591, 750, 850, 937, 968, 970, 970, 970, 970, 970],
        },
        join_sizes: QuantileTable {
            values: [1, 2, 2, 3, 4, 12, 20, 54, 114, 300, 727, 744, 970, 1236, 1769, 2670, 2670, 2670, 2670],
        },
    }, // bucket 6
    TouchBucket {
        join_per_s: 33.813,
        cancel_per_s: 27.169,
        market_per_s: 16.907,
        vanish_share: 0.1821,
        partial_permille: QuantileTable {
            values: [15, 17, 19, 25, 29, 39, 90, 236, 421, 653, 934, 966, 974, 978, 981, 982, 982, 982, 982],
        },
        join_sizes: QuantileTable {
            values: [2, 2, 2, 3, 4, 11, 26, 65, 114, 300, 744, 744, 1021, 1606, 3170, 16864, 16864, 16864, 16864],
        },
    }, // bucket 7
    TouchBucket {
        join_per_s: 37.004,
        cancel_per_s: 23.430,
        market_per_s: 15.109,
        vanish_share: 0.1151,
        partial_permille: QuantileTable {
            values: [7, 9, 11, 14, 18, 28, 78, 147, 267, 472, 702, 808, 945, 971, 978, 987, 987, 987, 987],
        },
        join_sizes: QuantileTable {
            values: [2, 2, 2, 3, 4, 16, 32, 88, 122, 300, 610, 744, 960, 1166, 1825, 4347, 5469, 5469, 5469],
        },
    }, // bucket 8
    TouchBucket {
        join_per_s: 45.554,
        cancel_per_s: 29.482,
        market_per_s: 11.780,
        vanish_share: 0.0745,
        partial_permille: QuantileTable {
            values: [2, 4, 5, 7, 11, 24, 62, 112, 262, 408, 657, 813, 965, 988, 993, 994, 996, 996, 996],
        },
        join_sizes: QuantileTable {
            values: [2, 2, 2, 3, 6, 21, 58, 116, 300, 381, 678, 744, 1166, 1361, 2054, 2825, 2825, 4355, 4355],
        },
    }, // bucket 9
    TouchBucket {
        join_per_s: 46.209,
        cancel_per_s: 29.836,
        market_per_s: 9.092,
        vanish_share: 0.0175,
        partial_permille: QuantileTable {
            values: [1, 2, 2, 3, 5, 20, 46, 120, 210, 398, 671, 864, 955, 978, 993, 996, 996, 996, 996],
        },
        join_sizes: QuantileTable {
            values: [2, 2, 2, 3, 8, 20, 55, 114, 300, 415, 700, 744, 1050, 1200, 2426, 4704, 5337, 16598, 16598],
        },
    }, // bucket 10
    TouchBucket {
        join_per_s: 52.319,
        cancel_per_s: 32.821,
        market_per_s: 6.893,
        vanish_share: 0.0020,
        partial_permille: QuantileTable {
            values: [0, 1, 1, 2, 4, 16, 33, 85, 164, 250, 406, 519, 649, 703, 794, 984, 998, 998, 998],
        },
        join_sizes: QuantileTable {
            values: [2, 2, 2, 3, 13, 32, 81, 179, 300, 413, 575, 744, 1165, 1793, 3155, 6299, 7993, 16592, 16592],
        },
    }, // bucket 11
    TouchBucket {
        join_per_s: 44.707,
        cancel_per_s: 26.925,
        market_per_s: 5.617,
        vanish_share: 0.0006,
        partial_permille: QuantileTable {
            values: [0, 0, 0, 1, 5, 11, 28, 57, 84, 122, 179, 234, 316, 362, 434, 738, 767, 844, 947],
        },
        join_sizes: QuantileTable {
            values: [1, 2, 2, 4, 14, 32, 59, 150, 285, 324, 500, 700, 1166, 1550, 2662, 7133, 9281, 14179, 17242],
        },
    }, // bucket 12
    TouchBucket {
        join_per_s: 57.231,
        cancel_per_s: 39.725,
        market_per_s: 5.147,
        vanish_share: 0.0000,
        partial_permille: QuantileTable {
            values: [0, 0, 0, 3, 9, 24, 38, 51, 64, 78, 107, 141, 213, 269, 307, 403, 455, 631, 727],
        },
        join_sizes: QuantileTable {
            values: [1, 2, 2, 4, 18, 32, 95, 194, 300, 436, 575, 796, 1488, 3107, 4778, 7980, 10981, 15662, 17247],
        },
    }, // bucket 13
    TouchBucket {
        join_per_s: 95.814,
        cancel_per_s: 93.822,
        market_per_s: 5.954,
        vanish_share: 0.0000,
        partial_permille: QuantileTable {
            values: [0, 0, 1, 10, 17, 24, 29, 36, 44, 52, 62, 91, 152, 186, 256, 318, 348, 359, 359],
        },
        join_sizes: QuantileTable {
            values: [1, 2, 3, 12, 30, 70, 165, 300, 324, 500, 575, 799, 1487, 2706, 4340, 6239, 6989, 10366, 10366],
        },
    }, // bucket 14
    TouchBucket {
        join_per_s: 57.953,
        cancel_per_s: 81.424,
        market_per_s: 28.921,
        vanish_share: 0.0000,
        partial_permille: QuantileTable {
            values: [0, 0, 0, 0, 0, 1, 3, 6, 11, 16, 27, 33, 51, 103, 123, 254, 315, 315, 315],
        },
        join_sizes: QuantileTable {
            values: [2, 2, 2, 2, 2, 4, 12, 26, 50, 280, 436, 500, 700, 1347, 1502, 2650, 5323, 5323, 5323],
        },
    }, // bucket 15
    TouchBucket {
        join_per_s: 57.953,
        cancel_per_s: 81.424,
        market_per_s: 28.921,
        vanish_share: 0.0000,
        partial_permille: QuantileTable {
            values: [0, 0, 0, 0, 0, 1, 3, 6, 11, 16, 27, 33, 51, 103, 123, 254, 315, 315, 315],
        },
        join_sizes: QuantileTable {
            values: [2, 2, 2, 2, 2, 4, 12, 26, 50, 280, 436, 500, 700, 1347, 1502, 2650, 5323, 5323, 5323],
        },
    }, // bucket 16
];

/// Sizes of individual resting orders, estimated from the trade prints by
/// Kaplan–Meier ([`super::calibrate::Estimates::maker_order_sizes`]):
/// 15,877 maker orders a market order filled whole (a print followed by
/// another print of the same taker order) and 5,436 right-censored at the
/// last print of a taker order. The arrival sizes above are per `bookTicker`
/// update or per level per depth diff, and those streams merge several
/// orders into one change; the model places each arrival as consecutive
/// orders of these sizes (the last one cut to fit), so levels move as
/// measured while the orders market orders meet are as small as real ones.
/// Beyond the 99.5 % quantile the estimate does not reach (the largest
/// orders were never filled whole); the table takes the largest print seen.
pub const MAKER_ORDER_SIZES: QuantileTable = QuantileTable {
    values: [1, 2, 2, 3, 7, 17, 33, 65, 121, 240, 492, 762, 1466, 3236, 6343, 46000, 46000, 46000, 46000],
};

/// Mean quantity at the best level, lots (6,548 book samples): the size of
/// the initial touch queues before warm-up.
pub const TOUCH_DEPTH_LOTS: i64 = 3764;

/// New best prices inside a spread of two ticks or more, per second per
/// side while the spread is that wide (1,451 improvements in 3.04 s of wide
/// spread).
pub const IMPROVE_PER_S: f64 = 238.651;

/// Share of those improvements that close the spread to one tick; the rest
/// land uniformly inside the spread.
pub const IMPROVE_CLOSE_SHARE: f64 = 0.591;

/// When a side's best price improves, market makers move their quotes:
/// each order resting at the old best is cancelled with this probability.
/// Measured: one depth diff (≈ 52 ms) after a side improved, the old best
/// level held a median 26.3 % of its quantity (n = 480), so 73.7 % goes.
/// (That includes the rest of the diff's changes; the model reprices at
/// once, and measured the same way keeps a little less, 19–24 %.)
pub const REPRICE_CANCEL_SHARE: f64 = 0.737;

/// Fitted: the rate per side at which the reference price moves away from
/// a side and its quotes within the jump are pulled (in the spirit of the
/// reference-price moves of Huang, Lehalle & Rosenbaum, JASA 110, 2015).
/// Set so that the model's best-price retreats per second match the
/// recording's 3.474 (1,198 in 344.8 s), mean over seeds 1–8 of 600 s
/// sessions (`fit_dynamics`, see the module documentation).
pub const PULL_PER_S: f64 = 0.4;

/// Fitted: the mean size, in ticks, of the reference-price jump behind a
/// pull (geometric; see [`PULL_PER_S`]). Set so that the standard deviation
/// of the mid's one-second changes matches the recording's (75.3 ticks);
/// with single-level pulls (1) it comes out about 15 % low.
pub const PULL_MEAN_TICKS: f64 = 12.0;

/// Share of the improvements inside a wide spread that come from the side
/// opposite the one whose best price last retreated (the price moves on:
/// the other side follows), measured over the improvements made while the
/// spread was wide after a retreat (see
/// [`super::calibrate::Estimates::follow_share`]). The rest bring the
/// retreated side back. An unbiased book would give ½; the recording's
/// prices move on: without this the model's mid reverts after half its
/// moves and its volatility comes out about a third low.
pub const IMPROVE_FOLLOW_SHARE: f64 = 0.770;

/// Quantity of the new best level after an improvement (n = 1,451); placed
/// as orders of [`MAKER_ORDER_SIZES`].
pub const IMPROVE_SIZES: QuantileTable = QuantileTable {
    values: [
        1, 2, 11, 78, 251, 324, 491, 650, 1166, 2400, 4535, 7020, 10135, 12225, 17285, 130362, 130362, 147156, 147156,
    ],
};

/// A band of distances behind the best price, ticks (inclusive), with its
/// measured limit-order arrival rate, cancellation flow and mean depth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DepthBand {
    /// First distance of the band, ticks behind the best (≥ 1).
    pub from: u32,
    /// Last distance of the band.
    pub to: u32,
    /// Limit orders arriving per tick of the band, per side, per second:
    /// quantity increases in the applied depth diffs (a lower bound of the
    /// true count where one diff merges several; the lot inflow is what
    /// matters and is preserved).
    pub arrivals_per_tick_s: f64,
    /// Mean resting quantity per tick of the band, lots (including empty
    /// ticks), sampled after every applied diff.
    pub depth_lots_per_tick: f64,
    /// Lots removed by quantity decreases per tick of the band, per side,
    /// per second.
    pub cancelled_lots_per_tick_s: f64,
}

impl DepthBand {
    /// Cancellation rate of one resting order in this band, per second:
    /// the measured outflow over the measured depth. Near the touch the
    /// outflow exceeds the arrivals (old best levels move back here when
    /// the price moves), so this is the right hazard, not `arrivals /
    /// depth`.
    #[must_use]
    pub fn cancel_rate(&self) -> f64 {
        self.cancelled_lots_per_tick_s / self.depth_lots_per_tick
    }
}

/// Deep levels, after Cont, Stoikov & Talreja (2010): arrivals at rate
/// `λ(d)` per tick, each resting order cancelled at rate
/// [`DepthBand::cancel_rate`].
pub const DEPTH_BANDS: [DepthBand; 12] = [
    DepthBand {
        from: 1,
        to: 1,
        arrivals_per_tick_s: 0.30189,
        depth_lots_per_tick: 290.64,
        cancelled_lots_per_tick_s: 267.750,
    },
    DepthBand {
        from: 2,
        to: 2,
        arrivals_per_tick_s: 0.17997,
        depth_lots_per_tick: 315.18,
        cancelled_lots_per_tick_s: 183.380,
    },
    DepthBand {
        from: 3,
        to: 3,
        arrivals_per_tick_s: 0.14514,
        depth_lots_per_tick: 58.77,
        cancelled_lots_per_tick_s: 134.480,
    },
    DepthBand {
        from: 4,
        to: 5,
        arrivals_per_tick_s: 0.15965,
        depth_lots_per_tick: 29.06,
        cancelled_lots_per_tick_s: 148.085,
    },
    DepthBand {
        from: 6,
        to: 10,
        arrivals_per_tick_s: 0.17127,
        depth_lots_per_tick: 52.73,
        cancelled_lots_per_tick_s: 151.785,
    },
    DepthBand {
        from: 11,
        to: 20,
        arrivals_per_tick_s: 0.20421,
        depth_lots_per_tick: 113.43,
        cancelled_lots_per_tick_s: 177.281,
    },
    DepthBand {
        from: 21,
        to: 50,
        arrivals_per_tick_s: 0.24708,
        depth_lots_per_tick: 85.33,
        cancelled_lots_per_tick_s: 106.011,
    },
    DepthBand {
        from: 51,
        to: 100,
        arrivals_per_tick_s: 0.35394,
        depth_lots_per_tick: 115.81,
        cancelled_lots_per_tick_s: 88.922,
    },
    DepthBand {
        from: 101,
        to: 200,
        arrivals_per_tick_s: 0.37856,
        depth_lots_per_tick: 338.29,
        cancelled_lots_per_tick_s: 65.942,
    },
    DepthBand {
        from: 201,
        to: 400,
        arrivals_per_tick_s: 0.32513,
        depth_lots_per_tick: 483.79,
        cancelled_lots_per_tick_s: 81.868,
    },
    DepthBand {
        from: 401,
        to: 700,
        arrivals_per_tick_s: 0.17836,
        depth_lots_per_tick: 395.36,
        cancelled_lots_per_tick_s: 284.165,
    },
    DepthBand {
        from: 701,
        to: 999,
        arrivals_per_tick_s: 0.08092,
        depth_lots_per_tick: 509.17,
        cancelled_lots_per_tick_s: 91.347,
    },
];

/// Orders up to this many ticks behind the best are cancelled by exact
/// level sampling (their rates are high and vary steeply); farther ones by
/// thinning over all resting orders.
pub const NEAR_CANCEL_TICKS: i64 = 20;

/// Farthest distance behind the best price the book keeps, ticks: at most
/// 1000 levels per side, what a Binance `limit=1000` REST snapshot holds.
/// Orders that fall farther behind when the best price improves are
/// removed (published as deletions).
pub const DEPTH_WINDOW_TICKS: i64 = 999;

/// Arrivals up to this distance draw [`DEEP_NEAR_SIZES`], farther ones
/// [`DEEP_FAR_SIZES`].
pub const NEAR_ZONE_TICKS: i64 = 400;

/// Sizes of deep arrivals within [`NEAR_ZONE_TICKS`] (n = 90,833; mean
/// 222.7 lots).
pub const DEEP_NEAR_SIZES: QuantileTable = QuantileTable {
    values: [1, 2, 2, 8, 10, 22, 44, 84, 156, 300, 518, 704, 1169, 2863, 3236, 14640, 15048, 15874, 500000],
};

/// Sizes of deep arrivals beyond [`NEAR_ZONE_TICKS`] (n = 53,537; mean
/// 1466.1 lots).
pub const DEEP_FAR_SIZES: QuantileTable = QuantileTable {
    values: [1, 2, 2, 6, 14, 32, 73, 121, 240, 495, 1664, 14202, 17496, 22120, 23570, 35024, 35619, 35828, 500000],
};

/// Market (taker) orders per second per side: trades grouped by trade time
/// and taker side (2,781 buy and 2,655 sell orders in 344.8 s). The model
/// uses the per-bucket [`TouchBucket::market_per_s`]; this is their
/// time-weighted mean, which the calibration test checks the model
/// reproduces.
pub const MARKET_ORDERS_PER_S: f64 = 7.883;

/// Components of the market orders' self-exciting kernel.
pub const HAWKES_KERNELS: usize = 3;

/// Decay rates of the kernel's components, per second: a sum of
/// exponentials spanning the scales of the recording's order-flow bursts,
/// from a few milliseconds (the trade stream's millisecond resolution) to
/// seconds (Bacry, Mastromatteo & Muzy 2015, §4, and Bacry & Muzy 2014
/// approximate the slowly decaying kernels measured on futures the same
/// way). Fixed, not fitted: with the decays fixed the log-likelihood is
/// concave in the other parameters, so the fit below has one maximum.
pub const HAWKES_DECAYS_PER_S: [f64; HAWKES_KERNELS] = [300.0, 10.0, 0.3];

/// A bivariate (buy, sell) Hawkes intensity for market orders with a kernel
/// made of exponentials of [`HAWKES_DECAYS_PER_S`], symmetric in the sides:
///
/// `λ_s(t) = μ + Σ_k Σ_{t_i < t} β_k e^{−β_k (t − t_i)} · (self_k for the
/// side's own past orders t_i, cross_k for the other side's)`,
///
/// so `self_k`, `cross_k` are branching ratios (expected orders one order
/// triggers on its own / the other side through component `k`) and the
/// mean rate is `μ / (1 − Σ_k (self_k + cross_k))`. Sources: Hawkes (1971);
/// for order flow Bacry, Mastromatteo & Muzy, "Hawkes processes in
/// finance", Market Microstructure and Liquidity 1(1), 2015.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HawkesParams {
    /// Exogenous market orders per second per side, `μ`.
    pub background_per_s: f64,
    /// Branching ratio per component, the side's own past orders.
    pub self_branching: [f64; HAWKES_KERNELS],
    /// Branching ratio per component, the other side's past orders.
    pub cross_branching: [f64; HAWKES_KERNELS],
}

impl HawkesParams {
    /// No excitation: Poisson market orders at the queue-reactive rates.
    pub const POISSON: Self = Self {
        background_per_s: MARKET_ORDERS_PER_S,
        self_branching: [0.0; HAWKES_KERNELS],
        cross_branching: [0.0; HAWKES_KERNELS],
    };

    /// Total branching ratio (below 1 for a stationary process).
    #[must_use]
    pub fn branching_ratio(&self) -> f64 {
        self.self_branching.iter().chain(&self.cross_branching).sum()
    }

    /// Mean market orders per second per side of the stationary process.
    #[must_use]
    pub fn mean_rate(&self) -> f64 {
        self.background_per_s / (1.0 - self.branching_ratio())
    }
}

/// Market orders' self- and cross-excitation, fitted by maximum likelihood
/// (EM, [`super::calibrate::fit_hawkes`]) to the 5,436 taker orders' times
/// and sides in the recording. The model uses the per-bucket
/// [`TouchBucket::market_per_s`] scaled by `background / MARKET_ORDERS_PER_S`
/// as the exogenous part, so queue reactivity stays and the mean rate is
/// kept (the queue-reactive Hawkes form of Wu, Rambaldi, Muzy & Bacry,
/// "Queue-reactive Hawkes models for the order flow", 2019).
pub const MARKET_HAWKES: HawkesParams = HawkesParams {
    background_per_s: 2.2309,
    self_branching: [0.1934, 0.2546, 0.2039],
    cross_branching: [0.0139, 0.0521, 0.0000],
};

/// Market regimes: calm and burst.
pub const REGIMES: usize = 2;

/// Regime-switching market activity: a continuous-time Markov chain between
/// a calm and a burst regime, the whole book running `burst_activity` times
/// faster in the burst regime than in the calm one (a subordinated
/// "business time", Clark, Econometrica 41(1), 1973; Ané & Geman, Journal
/// of Finance 55(5), 2000: volatility clusters because trading activity
/// does). Activities are normalised so that their long-run mean is 1: the
/// calibrated rates stay the session's mean rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Regimes {
    /// Activity of the limit-order book (arrivals, cancellations, pulls) in
    /// the burst regime over the calm one.
    pub burst_activity: f64,
    /// Activity of the market orders in the burst regime over the calm one.
    pub burst_market_activity: f64,
    /// Rate of leaving each regime (calm, burst), per second.
    pub switch_per_s: [f64; REGIMES],
    /// Direction of a burst: each burst favours one taker side, drawn
    /// evenly when it starts; that side's market orders run `1 + d` times,
    /// the other side's `1 − d` times their exogenous rate (`0 ≤ d ≤ 1`; 0: bursts
    /// without direction). Order-flow bursts are one-sided (liquidation
    /// cascades, stop runs, split metaorders: Lillo, Mike & Farmer, Phys.
    /// Rev. E 71, 2005).
    pub burst_direction: f64,
}

impl Regimes {
    /// One regime: constant activity.
    pub const NONE: Self =
        Self { burst_activity: 1.0, burst_market_activity: 1.0, switch_per_s: [0.0; REGIMES], burst_direction: 0.0 };

    /// Long-run share of time in the burst regime.
    #[must_use]
    pub fn burst_share(&self) -> f64 {
        let total = self.switch_per_s[0] + self.switch_per_s[1];
        if total > 0.0 { self.switch_per_s[0] / total } else { 0.0 }
    }

    /// Activity multiplier of the limit-order book in each regime
    /// (long-run mean 1).
    #[must_use]
    pub fn activity(&self) -> [f64; REGIMES] {
        self.normalised(self.burst_activity)
    }

    /// Activity multiplier of the market orders in each regime (long-run
    /// mean 1).
    #[must_use]
    pub fn market_activity(&self) -> [f64; REGIMES] {
        self.normalised(self.burst_market_activity)
    }

    fn normalised(&self, burst: f64) -> [f64; REGIMES] {
        let b = self.burst_share();
        let calm = 1.0 / (1.0 - b + b * burst);
        [calm, calm * burst]
    }
}

/// The activity regimes. Measured: `burst_market_activity` and
/// `switch_per_s`, a two-state hidden Markov model of the taker orders per
/// second of the recording ([`super::calibrate::fit_regimes`]: 12.72/s calm,
/// 99.73/s burst, bursts of 0.9 s every 24 s, 3.5 % of the time). Fitted by
/// simulated moments (see the module documentation): `burst_direction`, so
/// that the mean |buys − sells| / (buys + sells) of the taker orders in
/// burst seconds matches the recording's 0.394 (bursts there are one-sided;
/// without a direction the model gives about 0.2), and `burst_activity`, so
/// that the price levels changed per second by the depth diffs in burst
/// seconds over calm ones approach the recording's 4.95
/// ([`super::calibrate::Estimates::burst_book_activity`]).
pub const REGIMES_FIT: Regimes =
    Regimes { burst_activity: 12.0, burst_market_activity: 7.84, switch_per_s: [0.0415, 1.14], burst_direction: 1.0 };

/// Market order sizes in the calm and the burst regime of [`REGIMES_FIT`]
/// (taker orders in the seconds more likely calm / burst under the fit of
/// the recording: n = 4,235, mean 268.6 lots / n = 1,201, mean 1,075.6
/// lots: orders in bursts are four times larger).
pub const TAKER_SIZES_BY_REGIME: [QuantileTable; REGIMES] = [
    QuantileTable {
        values: [1, 2, 2, 4, 8, 13, 23, 41, 81, 162, 500, 1000, 2535, 4427, 7790, 15000, 20846, 55245, 55245],
    },
    QuantileTable {
        values: [1, 2, 5, 12, 25, 33, 54, 103, 196, 500, 1441, 3229, 8941, 29306, 44985, 59155, 59155, 69718, 69718],
    },
];

/// Market order sizes (n = 5,436; mean 446.9 lots). Each fills the
/// resting orders at the opposite best in time priority, one trade print per
/// maker order, as Binance's `trade` stream reports them.
pub const TAKER_SIZES: QuantileTable = QuantileTable {
    values: [1, 2, 2, 5, 10, 16, 30, 50, 98, 205, 655, 1474, 3602, 7151, 12039, 51859, 55245, 59155, 69718],
};

/// Exchange-time interval between Binance depth diffs, ms (n = 6,550; mean
/// 52.6).
pub const DIFF_INTERVAL_MS: QuantileTable =
    QuantileTable { values: [51, 51, 51, 51, 51, 52, 52, 52, 53, 53, 54, 55, 58, 62, 66, 78, 128, 345, 390] };

/// Binance update ids advance this much per second (ids are shared with
/// other books, so `U` of a diff is not the previous `u + 1`).
pub const UPDATE_IDS_PER_S: f64 = 80171.0;

/// Local receive time minus exchange event time above its minimum, ns
/// (n = 93,953): network and recorder jitter. The recording's absolute
/// offset is a clock difference and is not reproduced.
pub const LATENCY_JITTER_NS: QuantileTable = QuantileTable {
    values: [
        0, 1423938, 1715123, 2086804, 2387846, 2686167, 3010168, 3410999, 4040393, 5994162, 11358294, 16243620,
        23121421, 27174935, 33744905, 43628938, 44796597, 50644613, 53122712,
    ],
};

/// Assumed: the smallest one-way delay from the venue to the recorder, ns,
/// added to [`LATENCY_JITTER_NS`].
pub const BASE_LATENCY_NS: u64 = 1_000_000;

/// Assumed: how long a REST depth snapshot takes to arrive after the
/// venue took it, ns (the recording's one snapshot arrived within a few
/// diffs).
pub const SNAPSHOT_DELAY_NS: u64 = 60_000_000;

/// Assumed: the mark price is the mid plus a basis that reverts towards
/// zero by this fraction every second...
pub const MARK_BASIS_REVERSION: i64 = 10;
/// ...and moves by a uniform step of at most this many 1e-8 USDT per second.
pub const MARK_BASIS_STEP_E8: i64 = 40_000_000;
/// Assumed: the index price sits this many 1e-8 USDT below the mark price.
pub const INDEX_DISCOUNT_E8: i64 = 300_000_000;
/// Assumed: the funding rate, 1e-8 units (0.0001 = 0.01 % per 8 h, the
/// venues' default).
pub const FUNDING_RATE_E8: i64 = 10_000;
/// Funding happens every 8 hours on both venues.
pub const FUNDING_INTERVAL_MS: i64 = 8 * 3600 * 1000;

/// Mean executed order events (limit arrivals, cancellations, market orders)
/// per second of the calibrated model at `--rate` default: what `--rate`
/// scales. Measured on generated sessions by the test
/// `default_event_rate_is_as_documented`.
pub const CALIBRATED_EVENTS_PER_S: f64 = 1030.0;

/// Where a symbol's synthetic market starts and how its sizes relate to the
/// calibration instrument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarketProfile {
    /// Initial best bid (price mantissa at the instrument's scale); the
    /// best ask starts one tick above.
    pub start_bid: Price,
    /// Multiplier from calibration lots to the instrument's lots, so that
    /// an order has the same USDT notional (1 for BTCUSDT).
    pub size_multiplier: f64,
}

/// Notional of one calibration lot at the calibration price: 0.001 BTC at
/// 61,800.20 USDT.
const CALIBRATION_LOT_USDT: f64 = 61.8002;

impl MarketProfile {
    /// The built-in profile for `instrument`: BTCUSDT starts at the Binance
    /// recording's first best bid (61800.20); ETHUSDT at the Bybit ETHUSDT
    /// recording's (1922.49) and is *not* calibrated on its own — it reuses
    /// the BTCUSDT dynamics in ticks with sizes at equal notional. `None`
    /// for other symbols.
    #[must_use]
    pub fn built_in(instrument: &Instrument) -> Option<Self> {
        let (bid_text, bid_scale): (i64, u8) = match instrument.symbol.as_str() {
            "BTCUSDT" => (6_180_020, 2),
            "ETHUSDT" => (192_249, 2),
            _ => return None,
        };
        let start_bid = crate::fixed::rescale(bid_text, bid_scale, instrument.price_scale).ok()?;
        let start_bid = crate::fixed::round_to_step(start_bid, instrument.tick.0, crate::fixed::Round::Down)?;
        Some(Self::starting_at(instrument, Price(start_bid)))
    }

    /// A profile for any instrument, starting at `start_bid` (on the tick
    /// grid): the calibrated BTCUSDT dynamics in ticks, with sizes at the
    /// calibration lot's notional.
    #[must_use]
    pub fn starting_at(instrument: &Instrument, start_bid: Price) -> Self {
        // pow10 is exact, so this division is the same on every machine.
        let price = start_bid.0 as f64 / crate::fixed::pow10(instrument.price_scale) as f64;
        let lot = instrument.step.0 as f64 / crate::fixed::pow10(instrument.qty_scale) as f64;
        let multiplier = if instrument.symbol.as_str() == "BTCUSDT" && (lot - 0.001).abs() < 1e-12 {
            1.0
        } else {
            CALIBRATION_LOT_USDT / (price * lot)
        };
        Self { start_bid, size_multiplier: multiplier }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_tables_interpolate() {
        let t = QuantileTable { values: [0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 98, 99, 99, 99, 99, 99, 100] };
        assert_eq!(t.at(0.0), 0.0);
        assert!((t.at(0.025) - 2.5).abs() < 1e-12);
        assert!((t.at(0.5) - 50.0).abs() < 1e-12);
        assert!((t.at(0.99995) - 99.5).abs() < 1e-9);
        assert!(t.at(0.999_999_9) <= 100.0);
        let u = QuantileTable { values: [7; 19] };
        assert!((u.mean() - 7.0).abs() < 1e-12);
    }

    #[test]
    fn tables_are_monotone_and_bands_contiguous() {
        for t in TOUCH.iter().flat_map(|b| [b.partial_permille, b.join_sizes]).chain([
            IMPROVE_SIZES,
            DEEP_NEAR_SIZES,
            DEEP_FAR_SIZES,
            TAKER_SIZES,
            DIFF_INTERVAL_MS,
            LATENCY_JITTER_NS,
        ]) {
            assert!(t.values.windows(2).all(|w| w[0] <= w[1]), "{t:?}");
        }
        assert_eq!(DEPTH_BANDS[0].from, 1);
        assert!(DEPTH_BANDS.windows(2).all(|w| w[1].from == w[0].to + 1));
        assert_eq!(i64::from(DEPTH_BANDS[DEPTH_BANDS.len() - 1].to), DEPTH_WINDOW_TICKS);
        assert!(QUANTILE_PROBS.windows(2).all(|w| w[0] < w[1]));
    }
}
