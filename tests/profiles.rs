//! The traders' plans as working profiles (`tuning/turbo-micro.toml`,
//! `tuning/master-plan.toml`, `tuning/order-flow.toml`):
//!
//! - each loads, and runs `scalpel backtest` end to end on the real Binance
//!   BTCUSDT recording (skipped, loudly, without it) and on a synthetic
//!   session, with trades by tier and the report's new fields;
//! - every threshold a profile documents as "at pN of the recording"
//!   really sits at that percentile of its signal's distribution on the
//!   recording (warm snapshots at every published book), so the stated
//!   calibration cannot drift from the files.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use scalpel::core::{BindMode, Core, Intents, Observation, Probe, RiskLink};
use scalpel::instrument::{InstrumentId, Symbol, Venue};
use scalpel::order::SessionEpoch;
use scalpel::profile::Profile;
use scalpel::risk::VerdictCell;
use scalpel::signal::{LiveSignals, SignalConfig, SignalSnapshot};

fn tuning(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning").join(name)
}

/// Warm snapshots of one instrument, one per published book.
struct Snapshots {
    inst: InstrumentId,
    snaps: Vec<SignalSnapshot>,
}

impl Probe for Snapshots {
    const OBSERVES: bool = true;

    fn observe(&mut self, inst: InstrumentId, what: &Observation<'_>, snapshot: &SignalSnapshot) {
        if inst == self.inst && matches!(what, Observation::Book { .. }) && snapshot.warm {
            self.snaps.push(*snapshot);
        }
    }
}

struct NullLink;

impl RiskLink for NullLink {
    fn send(&mut self, _input: &scalpel::risk::RiskInput, _now_ns: u64) {}
    fn equity(&self) -> scalpel::fixed::Notional {
        scalpel::fixed::Notional(10_000 * 100_000_000)
    }
}

/// The warm snapshots of BTCUSDT on the real Binance recording under the
/// `[signals]` of `profile`, through the trading core.
fn real_snapshots(profile: &Profile, path: &Path) -> Vec<SignalSnapshot> {
    let cfg = SignalConfig::from_table(&profile.signals).unwrap();
    let p =
        Profile::from_toml_str("[instruments]\nsymbols = [\"BTCUSDT\"]\nvenues = [\"binance-usdm\"]\n", Path::new("."))
            .unwrap();
    let btc = Symbol::new(b"BTCUSDT").unwrap();
    let inst = InstrumentId(p.instruments.all().iter().position(|i| i.symbol == btc).unwrap() as u16);
    let signals = LiveSignals::new(&cfg, p.instruments.all());
    let probe = Snapshots { inst, snaps: Vec::new() };
    let mut core = Core::new(&p, signals, NullLink, probe, SessionEpoch(1), Arc::new(VerdictCell::new())).unwrap();
    let feed = core.add_feed(Venue::BinanceUsdm, BindMode::Auto);
    let mut out = Intents::with_capacity(core.intents_capacity());
    for (ts, mut frame) in common::read_lines(path) {
        core.on_frame(feed, &mut frame, ts, &mut out);
        out.clear();
    }
    std::mem::take(&mut core.probe_mut().snaps)
}

/// Percentile rank of `x` among `values`: the share strictly below it, in %.
fn rank(values: &[f64], x: f64) -> f64 {
    100.0 * values.iter().filter(|v| **v < x).count() as f64 / values.len().max(1) as f64
}

fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)]
}

/// The signals the profiles' thresholds read, as the magnitude they are
/// compared with.
fn series(snaps: &[SignalSnapshot], name: &str) -> Vec<f64> {
    let f = |s: &SignalSnapshot| -> f64 {
        match name {
            "|ofi|" => s.ofi.abs(),
            "|ofi_multi|" => s.ofi_multi.abs(),
            "|tob_imbalance|" => s.tob_imbalance.abs(),
            "|vwap_dev_sigma|" => s.vwap_dev_sigma.abs(),
            "|acceleration_bps_s2|" => s.acceleration_bps_s2.abs(),
            "|ou_zscore|" => s.ou_zscore.abs(),
            "|signed_volume_usdt|" => (s.signed_volume * s.mid).abs(),
            "|microprice_bps|" => ((s.microprice - s.mid) / s.mid * 1e4).abs(),
            "volume_surge" => s.volume_surge,
            "net_flow_surge" => s.net_flow_surge,
            "volatility_bps" => s.volatility_bps,
            "atr_bps" => s.atr_bps,
            "|momentum_short_bps|" => s.momentum_short_bps.abs(),
            "|momentum_long_bps|" => s.momentum_long_bps.abs(),
            "volatility_percentile" => s.volatility_percentile,
            _ => panic!("unknown series {name}"),
        }
    };
    snaps.iter().map(f).filter(|x| x.is_finite()).collect()
}

const SERIES: [&str; 15] = [
    "|ofi|",
    "|ofi_multi|",
    "|tob_imbalance|",
    "|vwap_dev_sigma|",
    "|acceleration_bps_s2|",
    "|ou_zscore|",
    "|signed_volume_usdt|",
    "|microprice_bps|",
    "volume_surge",
    "net_flow_surge",
    "volatility_bps",
    "atr_bps",
    "|momentum_short_bps|",
    "|momentum_long_bps|",
    "volatility_percentile",
];

/// A profile's documented calibration: (series, the threshold as loaded,
/// the percentile its comment states).
type Claim = (&'static str, fn(&Profile) -> f64, f64);

fn claims(profile: &str) -> Vec<Claim> {
    let imb: fn(&Profile) -> f64 = |p| p.strategy.gates.imbalance.value;
    let surge: fn(&Profile) -> f64 = |p| p.strategy.gates.volume_surge.value;
    let ofi: fn(&Profile) -> f64 = |p| p.strategy.votes.ofi_threshold;
    let vwap: fn(&Profile) -> f64 = |p| p.strategy.votes.vwap_sigma_threshold;
    let accel: fn(&Profile) -> f64 = |p| p.strategy.votes.acceleration_threshold_bps_s2;
    let ou: fn(&Profile) -> f64 = |p| p.strategy.votes.ou_zscore_threshold;
    let flow: fn(&Profile) -> f64 = |p| p.strategy.votes.signed_volume_usdt_threshold;
    let micro: fn(&Profile) -> f64 = |p| p.strategy.votes.microprice_threshold_bps;
    match profile {
        "turbo-micro.toml" => vec![
            ("|ofi|", ofi, 75.0),
            ("|vwap_dev_sigma|", vwap, 75.0),
            ("|acceleration_bps_s2|", accel, 75.0),
            ("|ou_zscore|", ou, 75.0),
            ("|signed_volume_usdt|", flow, 75.0),
            ("|microprice_bps|", micro, 75.0),
            ("|tob_imbalance|", imb, 25.0),
            ("volume_surge", surge, 50.0),
        ],
        "master-plan.toml" => vec![
            ("|ofi|", ofi, 50.0),
            ("|vwap_dev_sigma|", vwap, 50.0),
            ("|acceleration_bps_s2|", accel, 50.0),
            ("|ou_zscore|", ou, 50.0),
            ("|signed_volume_usdt|", flow, 50.0),
            ("|microprice_bps|", micro, 50.0),
            ("|tob_imbalance|", imb, 25.0),
            ("volume_surge", surge, MASTER_VOLUME_SURGE_PCT),
            ("net_flow_surge", |p| p.strategy.gates.net_flow_surge.value, MASTER_NET_FLOW_PCT),
        ],
        "order-flow.toml" => vec![
            ("|ofi|", ofi, 75.0),
            ("|vwap_dev_sigma|", vwap, ORDER_FLOW_VWAP_PCT),
            ("|acceleration_bps_s2|", accel, 75.0),
            ("|ou_zscore|", ou, 75.0),
            ("|signed_volume_usdt|", flow, 75.0),
            ("|microprice_bps|", micro, 75.0),
            ("|tob_imbalance|", imb, 50.0),
            ("volume_surge", surge, 50.0),
        ],
        _ => Vec::new(),
    }
}

/// The percentiles the profiles state for the plans' own thresholds (3×,
/// 2×, 2σ).
const MASTER_VOLUME_SURGE_PCT: f64 = 87.0;
const MASTER_NET_FLOW_PCT: f64 = 91.0;
const ORDER_FLOW_VWAP_PCT: f64 = 94.0;

/// Every stated percentile is within this many points of the recomputed one.
const TOLERANCE: f64 = 2.0;

/// The profiles' thresholds sit where their comments say on the real
/// recording's distributions (warm snapshots at every published book,
/// under the default `[signals]`: the vote and gate inputs the thresholds
/// read are defined the same way in every profile). Each profile file
/// states the same percentile on the threshold's line; this table is the
/// machine-checked copy.
#[test]
fn thresholds_sit_at_their_stated_percentiles_on_the_real_recording() {
    let Some(path) = common::recording("profiles_percentiles", "binance-usdm/btcusdt_20240808.gz") else { return };
    let default = Profile::from_toml_str("", Path::new(".")).unwrap();
    let snaps = real_snapshots(&default, &path);
    assert!(snaps.len() > 4_000, "{} warm snapshots", snaps.len());
    // The distributions, for recalibration (`cargo test --test profiles -- --nocapture`).
    for name in SERIES {
        let v = series(&snaps, name);
        eprintln!(
            "  {name:24} p25 {:10.4} p50 {:10.4} p75 {:10.4} p90 {:10.4} p95 {:10.4} p99 {:10.4}",
            quantile(&v, 0.25),
            quantile(&v, 0.5),
            quantile(&v, 0.75),
            quantile(&v, 0.9),
            quantile(&v, 0.95),
            quantile(&v, 0.99)
        );
    }
    let mut bad = Vec::new();
    for name in ["turbo-micro.toml", "master-plan.toml", "order-flow.toml"] {
        let profile = Profile::from_file(&tuning(name)).unwrap();
        let text = std::fs::read_to_string(tuning(name)).unwrap();
        for (series_name, threshold, stated) in claims(name) {
            let x = threshold(&profile);
            let got = rank(&series(&snaps, series_name), x);
            eprintln!("{name}: {series_name} threshold {x} sits at p{got:.1} (stated p{stated})");
            if (got - stated).abs() > TOLERANCE {
                bad.push(format!("{name}: {series_name} {x} is at p{got:.1}, the profile says p{stated}"));
            }
            assert!(text.contains(&format!("p{stated:.0} of")), "{name} does not state p{stated:.0}");
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Why the master plan makes no trade on the real recording, from the
/// signals it reads (its own `[signals]`, warm snapshots at every published
/// book): its stack needs the 5-minute momentum, warm only from 300 s of
/// the 345 s recording on, and in that last ~45 s (a) the variance ratio
/// stays far below `trend_enter_vr` (1.25), so the regime is never
/// trending, and (b) no range break happens at all (the breaks of this
/// recording come before). Neither is a threshold of the profile to move:
/// trending and a clean break are the plan's own rules, and the whole
/// recording never reaches a variance ratio of 1.25 even under the default
/// `[signals]` (its maximum is printed). If the recording or the signals
/// change so that the stack could complete, this test fails, and so does
/// the zero-trade expectation in `each_profile_backtests_the_real_recording`.
#[test]
fn the_master_plans_stack_cannot_complete_on_the_real_recording() {
    let Some(path) = common::recording("profiles_master_real", "binance-usdm/btcusdt_20240808.gz") else { return };
    let master = Profile::from_file(&tuning("master-plan.toml")).unwrap();
    let snaps = real_snapshots(&master, &path);
    let trend_enter = SignalConfig::from_table(&master.signals).unwrap().trend_enter_vr;
    let stack: Vec<&SignalSnapshot> =
        snaps.iter().filter(|s| s.warm_mask & scalpel::signal::warm::MOMENTUM != 0).collect();
    let span_s = |v: &[&SignalSnapshot]| match (v.first(), v.last()) {
        (Some(a), Some(b)) => (b.ts_ms - a.ts_ms) as f64 / 1e3,
        _ => 0.0,
    };
    let vr: Vec<f64> = stack.iter().filter(|s| s.variance_ratio > 0.0).map(|s| s.variance_ratio).collect();
    let vr_max = vr.iter().copied().fold(f64::NAN, f64::max);
    let stack_breaks = stack.iter().filter(|s| s.breakout.is_some()).count();
    let trending = stack.iter().filter(|s| s.regime == scalpel::signal::Regime::Trending).count();
    eprintln!(
        "master plan on the recording: {} snapshots, {} with the 5-minute momentum warm ({:.0} s); there: \
         variance ratio p50 {:.3} max {vr_max:.3} (trend at {trend_enter}), trending {trending}, breaks {stack_breaks} \
         ",
        snaps.len(),
        stack.len(),
        span_s(&stack),
        quantile(&vr, 0.5),
    );
    assert!(stack.len() > 500 && span_s(&stack) < 60.0, "{} snapshots over {} s", stack.len(), span_s(&stack));
    assert!(vr_max < trend_enter && trending == 0, "trending is reachable: VR max {vr_max}");
    assert_eq!(stack_breaks, 0, "a break inside the stack's window");
    // The whole recording under the default [signals] (the same range and
    // regime settings; its 2-minute momentum is warm from ~120 s on): breaks
    // happen, before the master plan's window, and the variance ratio never
    // reaches 1.25.
    let default = Profile::from_toml_str("", Path::new(".")).unwrap();
    let all = real_snapshots(&default, &path);
    let breaks_all = all.iter().filter(|s| s.breakout.is_some()).count();
    let all_vr = all.iter().map(|s| s.variance_ratio).fold(0.0, f64::max);
    let last_break_ms = all.iter().filter(|s| s.breakout.is_some()).map(|s| s.ts_ms).max().unwrap_or(0);
    eprintln!(
        "whole recording (default [signals], {} warm snapshots): variance ratio max {all_vr:.4}, {breaks_all} with a \
         break, the last {:.1} s before the master plan's window",
        all.len(),
        (stack.first().map_or(0, |s| s.ts_ms) - last_break_ms) as f64 / 1e3
    );
    assert!(breaks_all > 100, "the recording's breaks: {breaks_all}");
    assert!(stack.first().is_some_and(|s| s.ts_ms > last_break_ms));
    assert!(all_vr > 1.0 && all_vr < trend_enter, "{all_vr}");
}

/// The synthetic session of the profile tests: `--synth-seed 2
/// --synth-secs 900` (Binance BTCUSDT). Seed 2 is the lowest of the seeds
/// 1–10 on which every profile makes a trade of every tier it allows over
/// 1800 s (README, "The traders' plans": the table over seeds 1–10 and seed
/// 42); the first 900 s keep that and halve the test's time.
const SYNTH_SEED: u64 = 2;
const SYNTH_SECS: u32 = 900;

/// Runs `scalpel backtest` with a profile on `input` (a recording path, or
/// `None` for the synthetic session above) and returns the JSON report.
fn backtest(profile: &str, input: Option<&Path>) -> serde_json::Value {
    let dir = std::env::temp_dir().join(format!("scalpel-profiles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join(format!("{profile}-{}.json", if input.is_some() { "real" } else { "synth" }));
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_scalpel"));
    cmd.args(["backtest", "--config"]).arg(tuning(profile)).arg("--json").arg(&json);
    match input {
        Some(path) => cmd.arg("--input").arg(path),
        None => cmd.args(["--synth-seed", &SYNTH_SEED.to_string(), "--synth-secs", &SYNTH_SECS.to_string()]),
    };
    let out = cmd.output().expect("run scalpel");
    assert!(out.status.success(), "{profile}: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\nedge: profit factor "), "{profile}: {stdout}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    report
}

/// The report fields issue 14 added, on every report and every trade.
fn check_report_fields(profile: &str, report: &serde_json::Value) {
    let s = &report["summary"];
    for key in ["profit_factor", "expectancy_usdt", "avg_r_multiple", "trades_with_r", "recovery_factor", "maker_share"]
    {
        assert!(!s[key].is_null(), "{profile}: summary.{key} missing");
    }
    let tiers = &report["trades_by_tier"];
    for tier in ["A", "B", "cascade"] {
        assert!(tiers[tier].is_u64(), "{profile}: trades_by_tier.{tier} missing");
    }
    let total: u64 = ["A", "B", "cascade"].iter().map(|t| tiers[*t].as_u64().unwrap()).sum();
    assert_eq!(total, s["trades"].as_u64().unwrap(), "{profile}");
    for t in report["trades"].as_array().unwrap() {
        // What caused it: the full signal vector, votes and confidence at
        // entry, the stop and target levels, the exit reason, R.
        assert!(t["signals"]["ofi"].is_number() && t["signals"]["atr_bps"].is_number(), "{profile}: {t}");
        assert!(t["signals"]["regime"].is_string(), "{profile}: {t}");
        assert!(t["votes"]["order_flow"].is_array(), "{profile}: {t}");
        assert!(t["confidence"].as_u64().unwrap() >= 80 || t["tier"] == "cascade", "{profile}: {t}");
        assert!(!t["stop_price"].as_str().unwrap().is_empty(), "{profile}: {t}");
        assert!(!t["target_price"].as_str().unwrap().is_empty(), "{profile}: {t}");
        assert!(!t["initial_risk_usdt"].as_str().unwrap().is_empty(), "{profile}: {t}");
        assert!(t["r_multiple"].is_number(), "{profile}: {t}");
        assert_ne!(t["exit_reason"], "open", "{profile}: {t}");
        assert!(t["leverage"].as_u64().unwrap() >= 1, "{profile}: {t}");
        // The stop is on the losing side of the entry, the target on the winning side.
        let num = |k: &str| t[k].as_str().unwrap().parse::<f64>().unwrap();
        let (entry, stop, target) = (num("entry_price"), num("stop_price"), num("target_price"));
        if t["side"] == "long" {
            assert!(stop < entry && entry < target, "{profile}: {t}");
        } else {
            assert!(target < entry && entry < stop, "{profile}: {t}");
        }
    }
}

fn tier_count(report: &serde_json::Value, tier: &str) -> u64 {
    report["trades_by_tier"][tier].as_u64().unwrap()
}

#[test]
fn each_profile_backtests_the_real_recording() {
    let Some(path) = common::recording("profiles_real_backtests", "binance-usdm/btcusdt_20240808.gz") else { return };
    for profile in ["turbo-micro.toml", "order-flow.toml"] {
        let r = backtest(profile, Some(&path));
        check_report_fields(profile, &r);
        // Both tiers trade: the A/B tiers and the bands are consistent.
        assert!(tier_count(&r, "A") >= 1 && tier_count(&r, "B") >= 1, "{profile}: {}", r["trades_by_tier"]);
        assert!(r["summary"]["trades_with_r"].as_u64().unwrap() >= 2, "{profile}");
    }
    // The master plan requires a trending regime, the 5-minute momentum and
    // a clean break: on this 345 s recording the stack cannot complete (see
    // `the_master_plans_stack_cannot_complete_on_the_real_recording`), so
    // every candidate is blocked by the regime gate and nothing trades. The
    // open-interest gate has no data on a Binance recording and says so.
    let r = backtest("master-plan.toml", Some(&path));
    check_report_fields("master-plan", &r);
    let candidates = r["gates"]["candidates"].as_u64().unwrap();
    assert!(candidates > 0);
    assert_eq!(r["gates"]["blocked"]["regime"].as_u64().unwrap(), candidates);
    assert_eq!(r["summary"]["trades"], 0);
    assert_eq!(r["gates"]["not_evaluated_no_data"]["open-interest"].as_u64().unwrap(), candidates);
    assert_eq!(tier_count(&r, "B"), 0, "the master plan takes no scouts");
}

#[test]
fn each_profile_backtests_a_synthetic_session() {
    // The three runs in parallel (about 7 s each in a debug build).
    let runs: Vec<_> = ["turbo-micro.toml", "order-flow.toml", "master-plan.toml"]
        .into_iter()
        .map(|profile| std::thread::spawn(move || (profile, backtest(profile, None))))
        .collect();
    for run in runs {
        let (profile, r) = run.join().unwrap();
        check_report_fields(profile, &r);
        let (a, b) = (tier_count(&r, "A"), tier_count(&r, "B"));
        if profile == "master-plan.toml" {
            // The plan requires the whole stack: A-trades only.
            assert!(a >= 1 && b == 0, "{profile}: {}", r["trades_by_tier"]);
            assert!(
                r["gates"]["blocked"]["b-trades-disabled"].as_u64().unwrap() > 0,
                "{profile}: no B candidate refused"
            );
        } else {
            // Both tiers trade: a qualifying A and a qualifying B reach a
            // band that trades on the synthetic market too.
            assert!(a >= 1 && b >= 1, "{profile}: {}", r["trades_by_tier"]);
        }
        assert!(r["summary"]["trades_with_r"].as_u64().unwrap() >= 1, "{profile}");
    }
}
