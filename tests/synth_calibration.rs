//! Calibration of the synthetic market against the real Binance BTCUSDT
//! recording, measured on both sides with the same code
//! ([`Calibrator`]: the production decoder and book sync).
//!
//! - `params_match_the_recording`: every constant in `synth::params` is what
//!   the recording gives today (including the Hawkes and regime fits; the
//!   parameters fitted by simulated moments excepted, but their targets
//!   checked).
//! - `synthetic_session_matches_the_recording`: generated sessions' mean
//!   spread, median trade size, update rate, depth within 10 ticks, trade
//!   and retreat rates, mid volatility and burst one-sidedness, averaged
//!   over seeds 1–8, are within the tolerances stated below of the
//!   recording's.
//! - `calibration_recovers_the_models_own_parameters`,
//!   `hawkes_fit_recovers_the_models_excitation` (no data needed):
//!   measuring a generated session gives back the parameters it was
//!   generated with.
//! - `fit_dynamics` (ignored, a tool): the simulated-moments fits.
//!
//! Print everything with `cargo test --test synth_calibration -- --nocapture`.

mod common;

use scalpel::commands::instruments;
use scalpel::instrument::Symbol;
use scalpel::synth::calibrate::{Calibrator, Estimates, REPORT_BANDS, measure_recording, quantile};
use scalpel::synth::model::Dynamics;
use scalpel::synth::params::{self, HAWKES_KERNELS, QuantileTable};
use scalpel::synth::{Synth, SynthConfig};
use scalpel::venue::Venue;

const RECORDING: &str = "binance-usdm/btcusdt_20240808.gz";

/// The recording's statistics that [`params::REGIMES_FIT`]'s burst direction
/// and book activity were fitted to (checked in `params_match_the_recording`).
const REAL_BURST_ONE_SIDEDNESS: f64 = 0.394;
const REAL_BURST_BOOK_ACTIVITY: f64 = 4.95;

/// Tolerances of the synthetic sessions against the recording, as
/// `|synthetic / real − 1|` of the mean over [`SEEDS`] (one 600 s session
/// varies a lot: its volatility ranges over ±25 % between seeds, the
/// recording itself is one 345 s sample). The means came out at: see
/// the README's synthetic-market section (printed by this test).
const SPREAD_TOLERANCE: f64 = 0.20;
const MEDIAN_TRADE_TOLERANCE: f64 = 0.35;
const UPDATE_RATE_TOLERANCE: f64 = 0.15;
const DEPTH10_TOLERANCE: f64 = 0.25;
const TRADE_RATE_TOLERANCE: f64 = 0.30;
/// Best-price retreats per second, the statistic `PULL_PER_S` was fitted to.
const RETREAT_RATE_TOLERANCE: f64 = 0.20;
/// Standard deviation of the mid's one-second changes (issue 11: within
/// 15 %); `PULL_MEAN_TICKS` was fitted to it.
const VOLATILITY_TOLERANCE: f64 = 0.15;
/// One-sidedness of the bursts, the statistic the burst direction was
/// fitted to (the recording has only about a dozen burst seconds).
const ONE_SIDEDNESS_TOLERANCE: f64 = 0.25;
/// The seeds compared (the fits in params.rs used the same).
const SEEDS: [u64; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
/// The synthetic session compared: long enough that these statistics vary
/// little between seeds, short enough for the dev profile.
const SYNTH_SECONDS: f64 = 600.0;

fn btc() -> Symbol {
    "BTCUSDT".parse().unwrap()
}

fn measure_synthetic(venue: Venue, seed: u64, secs: f64) -> Calibrator {
    let table = instruments::load(None, venue).unwrap();
    let config = SynthConfig::built_in(venue, btc(), seed, secs).unwrap();
    let mut synth = Synth::new(&config).unwrap();
    let mut cal = Calibrator::new(venue, &table, btc()).unwrap();
    while let Some(frame) = synth.next_frame() {
        cal.on_frame(frame.local_ts_ns, frame.bytes);
    }
    cal
}

fn measure_real(test: &str) -> Option<Calibrator> {
    let path = common::recording(test, RECORDING)?;
    let table = instruments::load(None, Venue::BinanceUsdm).unwrap();
    Some(measure_recording(&path, Venue::BinanceUsdm, &table, btc()).unwrap())
}

/// `got` equals `want` written with `decimals` decimals.
fn close(name: &str, got: f64, want: f64, decimals: i32) {
    let half_unit = 0.5 * 10f64.powi(-decimals) + 1e-9;
    assert!((got - want).abs() <= half_unit, "{name}: the recording gives {got}, params.rs says {want}");
}

fn table(name: &str, got: [i64; 19], want: &QuantileTable) {
    assert_eq!(got, want.values, "{name}: the recording's quantiles differ from params.rs");
}

fn quantiles(values: &[i64]) -> [i64; 19] {
    params::QUANTILE_PROBS.map(|p| quantile(values, p))
}

#[test]
fn params_match_the_recording() {
    let Some(real) = measure_real("params_match_the_recording") else { return };
    let e: Estimates = real.estimates();
    println!("{e}");
    for (b, (got, want)) in e.touch_buckets().iter().zip(params::TOUCH.iter()).enumerate() {
        close(&format!("TOUCH[{b}].join_per_s"), got.join_per_s, want.join_per_s, 3);
        close(&format!("TOUCH[{b}].cancel_per_s"), got.cancel_per_s, want.cancel_per_s, 3);
        close(&format!("TOUCH[{b}].market_per_s"), got.market_per_s, want.market_per_s, 3);
        close(&format!("TOUCH[{b}].vanish_share"), got.vanish_share, want.vanish_share, 4);
        table(&format!("TOUCH[{b}].partial_permille"), got.partial_permille, &want.partial_permille);
        table(&format!("TOUCH[{b}].join_sizes"), got.join_sizes, &want.join_sizes);
    }
    table("MAKER_ORDER_SIZES", e.maker_order_sizes(), &params::MAKER_ORDER_SIZES);
    assert_eq!(e.touch_depth_lots.round() as i64, params::TOUCH_DEPTH_LOTS, "TOUCH_DEPTH_LOTS");
    close("IMPROVE_PER_S", e.improvements_per_s_per_side(), params::IMPROVE_PER_S, 3);
    close("IMPROVE_CLOSE_SHARE", e.closing_share(), params::IMPROVE_CLOSE_SHARE, 3);
    table("IMPROVE_SIZES", quantiles(&e.improve_sizes), &params::IMPROVE_SIZES);
    let left = quantile(&e.old_best_left_permille, 0.5) as f64 / 1000.0;
    close("REPRICE_CANCEL_SHARE", 1.0 - left, params::REPRICE_CANCEL_SHARE, 3);
    assert_eq!(REPORT_BANDS.len(), params::DEPTH_BANDS.len());
    for ((from, to), band) in REPORT_BANDS.iter().zip(params::DEPTH_BANDS.iter()) {
        assert_eq!((*from as u32, *to as u32), (band.from, band.to));
        let name = format!("DEPTH_BANDS {from}..={to}");
        close(&format!("{name} arrivals"), e.arrivals_per_tick_s(*from, *to), band.arrivals_per_tick_s, 5);
        close(&format!("{name} depth"), e.depth_per_tick(*from, *to), band.depth_lots_per_tick, 2);
        close(&format!("{name} cancelled"), e.cancelled_lots_per_tick_s(*from, *to), band.cancelled_lots_per_tick_s, 3);
    }
    table("DEEP_NEAR_SIZES", quantiles(&e.deep_near_sizes), &params::DEEP_NEAR_SIZES);
    table("DEEP_FAR_SIZES", quantiles(&e.deep_far_sizes), &params::DEEP_FAR_SIZES);
    close("MARKET_ORDERS_PER_S", e.market_orders_per_s_per_side(), params::MARKET_ORDERS_PER_S, 3);
    table("TAKER_SIZES", quantiles(&e.taker_sizes), &params::TAKER_SIZES);
    table("DIFF_INTERVAL_MS", quantiles(&e.diff_intervals_ms), &params::DIFF_INTERVAL_MS);
    close("UPDATE_IDS_PER_S", e.update_ids_per_s, params::UPDATE_IDS_PER_S, 0);
    close("IMPROVE_FOLLOW_SHARE", e.follow_share(), params::IMPROVE_FOLLOW_SHARE, 3);
    // The order-flow layers: the Hawkes fit (maximum likelihood, EM) and the
    // regimes (Baum–Welch), recomputed from the recording.
    let h = e.market_hawkes();
    let want = params::MARKET_HAWKES;
    close("MARKET_HAWKES.background_per_s", h.params.background_per_s, want.background_per_s, 4);
    for k in 0..HAWKES_KERNELS {
        close(&format!("MARKET_HAWKES.self_branching[{k}]"), h.params.self_branching[k], want.self_branching[k], 4);
        close(&format!("MARKET_HAWKES.cross_branching[{k}]"), h.params.cross_branching[k], want.cross_branching[k], 4);
    }
    assert!(h.log_likelihood > h.poisson_log_likelihood + 1000.0, "the excitation must explain the data far better");
    let r = e.regimes();
    let want = params::REGIMES_FIT;
    close("REGIMES_FIT.burst_market_activity", r.params.burst_market_activity, want.burst_market_activity, 2);
    close("REGIMES_FIT.switch_per_s[0]", r.params.switch_per_s[0], want.switch_per_s[0], 3);
    close("REGIMES_FIT.switch_per_s[1]", r.params.switch_per_s[1], want.switch_per_s[1], 2);
    let sizes = e.taker_sizes_by_regime(&r);
    table("TAKER_SIZES_BY_REGIME[calm]", quantiles(&sizes[0]), &params::TAKER_SIZES_BY_REGIME[0]);
    table("TAKER_SIZES_BY_REGIME[burst]", quantiles(&sizes[1]), &params::TAKER_SIZES_BY_REGIME[1]);
    close("burst one-sidedness (fit target)", e.burst_one_sidedness(&r), REAL_BURST_ONE_SIDEDNESS, 3);
    close("burst book activity (fit target)", e.burst_book_activity(&r), REAL_BURST_BOOK_ACTIVITY, 2);
    let base = quantile(&e.local_minus_event_ns, 0.0);
    let jitter: Vec<i64> = e.local_minus_event_ns.iter().map(|v| v - base).collect();
    table("LATENCY_JITTER_NS", quantiles(&jitter), &params::LATENCY_JITTER_NS);
}

fn within(name: &str, synthetic: f64, real: f64, tolerance: f64) -> bool {
    let ratio = synthetic / real;
    let ok = (ratio - 1.0).abs() <= tolerance;
    println!(
        "{name:<32} real {real:>10.3}  synthetic {synthetic:>10.3}  ({:+.1} %, tolerance ±{:.0} %) {}",
        (ratio - 1.0) * 100.0,
        tolerance * 100.0,
        if ok { "ok" } else { "OUT OF TOLERANCE" }
    );
    ok
}

/// The mean of `f` over the synthetic sessions.
fn mean(sessions: &[Calibrator], f: impl Fn(&Calibrator) -> f64) -> f64 {
    sessions.iter().map(f).sum::<f64>() / sessions.len() as f64
}

fn retreats(c: &Calibrator) -> f64 {
    let e = c.estimates();
    (e.retreats_with_trade + e.retreats_without_trade) as f64 / e.exchange_seconds
}

fn one_sidedness(c: &Calibrator) -> f64 {
    let e = c.estimates();
    e.burst_one_sidedness(&e.regimes())
}

#[test]
fn synthetic_session_matches_the_recording() {
    let Some(real) = measure_real("synthetic_session_matches_the_recording") else { return };
    let r = real.stats();
    println!("real:      {r}");
    let sessions: Vec<Calibrator> =
        SEEDS.map(|seed| measure_synthetic(Venue::BinanceUsdm, seed, SYNTH_SECONDS)).into_iter().collect();
    for (seed, c) in SEEDS.iter().zip(&sessions) {
        let s = c.stats();
        assert_eq!(s.decode_errors, 0);
        println!("seed {seed}:    {s}");
    }
    assert_eq!(r.decode_errors, 0);
    println!("means over seeds {SEEDS:?} of {SYNTH_SECONDS} s:");
    let m = |f: fn(&Calibrator) -> f64| mean(&sessions, f);
    let checks = [
        within("mean spread, ticks", m(|c| c.stats().mean_spread_ticks), r.mean_spread_ticks, SPREAD_TOLERANCE),
        within(
            "median trade size, lots",
            m(|c| c.stats().median_trade_qty as f64),
            r.median_trade_qty as f64,
            MEDIAN_TRADE_TOLERANCE,
        ),
        within("book updates per second", m(|c| c.stats().updates_per_s()), r.updates_per_s(), UPDATE_RATE_TOLERANCE),
        within("depth within 10 ticks, lots", m(|c| c.stats().mean_depth10_qty), r.mean_depth10_qty, DEPTH10_TOLERANCE),
        within("trade prints per second", m(|c| c.stats().trades_per_s()), r.trades_per_s(), TRADE_RATE_TOLERANCE),
        within("best-price retreats per second", m(retreats), retreats(&real), RETREAT_RATE_TOLERANCE),
        within(
            "mid volatility, ticks per second",
            m(|c| c.stats().mid_vol_ticks_per_s),
            r.mid_vol_ticks_per_s,
            VOLATILITY_TOLERANCE,
        ),
        within("burst one-sidedness", m(one_sidedness), one_sidedness(&real), ONE_SIDEDNESS_TOLERANCE),
    ];
    // Reported, not asserted.
    within(
        "taker orders/s variance/mean",
        m(|c| c.stats().market_order_dispersion),
        r.market_order_dispersion,
        f64::INFINITY,
    );
    within("frames per second", m(|c| c.stats().frames_per_s()), r.frames_per_s(), f64::INFINITY);
    assert!(checks.iter().all(|&ok| ok), "statistics out of tolerance (see above)");
}

/// Relative closeness for the self-check.
fn near(name: &str, got: f64, want: f64, tolerance: f64) {
    assert!(
        (got / want - 1.0).abs() <= tolerance,
        "{name}: measured {got:.4} from a session generated with {want:.4} (±{:.0} %)",
        tolerance * 100.0
    );
}

#[test]
fn calibration_recovers_the_models_own_parameters() {
    // With the regimes off: their time change makes the rates seen in a
    // touch bucket depend on which regime it is seen in (small queues are
    // seen more in bursts); the regimes are checked on their own.
    let table = instruments::load(None, Venue::BinanceUsdm).unwrap();
    let mut config = SynthConfig::built_in(Venue::BinanceUsdm, btc(), 2, SYNTH_SECONDS).unwrap();
    config.dynamics.regimes = params::Regimes::NONE;
    config.dynamics.taker_sizes = [params::TAKER_SIZES; params::REGIMES];
    let mut synth = Synth::new(&config).unwrap();
    let mut cal = Calibrator::new(Venue::BinanceUsdm, &table, btc()).unwrap();
    while let Some(frame) = synth.next_frame() {
        cal.on_frame(frame.local_ts_ns, frame.bytes);
    }
    let e = cal.estimates();
    let mut checked = 0;
    for (b, (got, want)) in e.touch_buckets().iter().zip(params::TOUCH.iter()).enumerate() {
        // Well-observed buckets only; pulls (the fitted reference-price
        // moves) add to the measured cancellations, so those are not checked.
        if e.queue[b].seconds < 50.0 {
            continue;
        }
        near(&format!("bucket {b} join rate"), got.join_per_s, want.join_per_s, 0.08);
        // (Market orders are not checked per bucket: the queue-reactive rate
        // is only their exogenous part; their excitation, the regimes' and
        // the bursts' one-sidedness come on top. Their mean is checked below.)
        near(&format!("bucket {b} median join size"), got.join_sizes[6] as f64, want.join_sizes.values[6] as f64, 0.15);
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} touch buckets observed long enough");
    for band in &params::DEPTH_BANDS[7..] {
        let (from, to) = (band.from as usize, band.to as usize);
        near(&format!("arrivals {from}..={to}"), e.arrivals_per_tick_s(from, to), band.arrivals_per_tick_s, 0.10);
    }
    let km = e.maker_order_sizes();
    near("maker order size median (Kaplan–Meier)", km[6] as f64, params::MAKER_ORDER_SIZES.values[6] as f64, 0.15);
    near("maker order size 90 % (Kaplan–Meier)", km[10] as f64, params::MAKER_ORDER_SIZES.values[10] as f64, 0.25);
    near("taker size median", quantile(&e.taker_sizes, 0.5) as f64, params::TAKER_SIZES.values[6] as f64, 0.10);
    near("taker size 90 %", quantile(&e.taker_sizes, 0.9) as f64, params::TAKER_SIZES.values[10] as f64, 0.15);
    near(
        "diff interval median",
        quantile(&e.diff_intervals_ms, 0.5) as f64,
        params::DIFF_INTERVAL_MS.values[6] as f64,
        0.02,
    );
    near("update ids per second", e.update_ids_per_s, params::UPDATE_IDS_PER_S, 0.05);
    near("market orders per second", e.market_orders_per_s_per_side(), params::MARKET_ORDERS_PER_S, 0.15);
    near("improvements per second while wide", e.improvements_per_s_per_side(), params::IMPROVE_PER_S, 0.10);
    // Measured one diff later, which includes that diff's other changes; the
    // model reprices at once, so it reads a little lower (0.19–0.24 seen).
    let left = quantile(&e.old_best_left_permille, 0.5) as f64 / 1000.0;
    near("old best left after an improvement", left, 1.0 - params::REPRICE_CANCEL_SHARE, 0.35);
}

/// The market orders' Hawkes fit, run on a session the model generated with
/// the regimes off, gives back the excitation it was generated with (no data
/// needed). With the regimes on it reads a little more excitation (the
/// regimes' clustering), which is why the regimes are fitted separately.
#[test]
fn hawkes_fit_recovers_the_models_excitation() {
    let table = instruments::load(None, Venue::BinanceUsdm).unwrap();
    let mut config = SynthConfig::built_in(Venue::BinanceUsdm, btc(), 5, SYNTH_SECONDS).unwrap();
    config.dynamics.regimes = params::Regimes::NONE;
    let mut synth = Synth::new(&config).unwrap();
    let mut cal = Calibrator::new(Venue::BinanceUsdm, &table, btc()).unwrap();
    while let Some(frame) = synth.next_frame() {
        cal.on_frame(frame.local_ts_ns, frame.bytes);
    }
    let fit = cal.estimates().market_hawkes();
    let want = params::MARKET_HAWKES;
    println!("fitted {:?} (generated with {want:?})", fit.params);
    let (got_n, want_n) = (fit.params.branching_ratio(), want.branching_ratio());
    assert!((got_n - want_n).abs() <= 0.08, "branching ratio: fitted {got_n:.3}, generated with {want_n:.3}");
    near("Hawkes mean rate", fit.params.mean_rate(), want.mean_rate(), 0.15);
    let slow_self = fit.params.self_branching[2];
    assert!(
        (slow_self - want.self_branching[2]).abs() <= 0.08,
        "slow self-excitation: fitted {slow_self:.3}, generated with {:.3}",
        want.self_branching[2]
    );
}

/// The simulated-moments fits of params.rs (see its module documentation):
/// for each candidate, the means over seeds 1–8 of 600 s sessions of the
/// statistics fitted (retreats per second → `PULL_PER_S`, mid volatility →
/// `PULL_MEAN_TICKS`, burst one-sidedness → `burst_direction`, burst book
/// activity → `burst_activity`) against the recording's.
#[test]
#[ignore = "a fitting tool (minutes in release): cargo test --release --test synth_calibration -- --ignored --nocapture"]
fn fit_dynamics() {
    let Some(real) = measure_real("fit_dynamics") else { return };
    let e = real.estimates();
    let fit = e.regimes();
    println!(
        "recording: retreats {:.3}/s, vol {:.2} ticks/s, burst one-sidedness {:.3}, burst book activity {:.2}",
        retreats(&real),
        real.stats().mid_vol_ticks_per_s,
        e.burst_one_sidedness(&fit),
        e.burst_book_activity(&fit)
    );
    let table = instruments::load(None, Venue::BinanceUsdm).unwrap();
    let base = Dynamics::CALIBRATED;
    let mut candidates = vec![base];
    for pull in [0.35, 0.45] {
        candidates.push(Dynamics { pull_per_s: pull, ..base });
    }
    for ticks in [1.0, 6.0, 18.0] {
        candidates.push(Dynamics { pull_mean_ticks: ticks, ..base });
    }
    for direction in [0.0, 0.7, 0.85] {
        candidates.push(Dynamics { regimes: params::Regimes { burst_direction: direction, ..base.regimes }, ..base });
    }
    for activity in [4.6, 8.0, 16.0] {
        candidates.push(Dynamics { regimes: params::Regimes { burst_activity: activity, ..base.regimes }, ..base });
    }
    for d in candidates {
        let sessions: Vec<Calibrator> = SEEDS
            .iter()
            .map(|&seed| {
                let mut config = SynthConfig::built_in(Venue::BinanceUsdm, btc(), seed, SYNTH_SECONDS).unwrap();
                config.dynamics = d;
                let mut synth = Synth::new(&config).unwrap();
                let mut cal = Calibrator::new(Venue::BinanceUsdm, &table, btc()).unwrap();
                while let Some(frame) = synth.next_frame() {
                    cal.on_frame(frame.local_ts_ns, frame.bytes);
                }
                cal
            })
            .collect();
        let activity = |c: &Calibrator| {
            let e = c.estimates();
            e.burst_book_activity(&e.regimes())
        };
        println!(
            "pull {}/s x {} ticks, burst direction {}, burst activity {}: retreats {:.3}/s, vol {:.2}, \
             one-sidedness {:.3}, book activity {:.2}",
            d.pull_per_s,
            d.pull_mean_ticks,
            d.regimes.burst_direction,
            d.regimes.burst_activity,
            mean(&sessions, retreats),
            mean(&sessions, |c| c.stats().mid_vol_ticks_per_s),
            mean(&sessions, one_sidedness),
            mean(&sessions, activity)
        );
    }
}

#[test]
fn default_event_rate_is_as_documented() {
    let config = SynthConfig::built_in(Venue::BybitLinear, btc(), 3, 300.0).unwrap();
    let mut synth = Synth::new(&config).unwrap();
    while synth.next_frame().is_some() {}
    let per_s = synth.summary().events as f64 / 300.0;
    near("order events per second at the default rate", per_s, params::CALIBRATED_EVENTS_PER_S, 0.03);
}
