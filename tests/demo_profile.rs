//! `tuning/demo.toml`, the profile `scalpel demo` trades with (issue 11):
//! on a two-minute synthetic session it makes at least 3 round trips, for
//! the default seed and others; every key it changes from
//! `tuning/default.toml` is marked `DEMO:` in the file (and nothing else
//! is); its order latency is the simulator's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use scalpel::backtest::{self, BacktestOptions, SyntheticInput};
use scalpel::sim::config::{MarketInput, SimConfig};
use scalpel::venue::Venue;

/// The length of `scalpel demo`'s default session is at most this.
const DEMO_SECS: f64 = 120.0;

fn tuning(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning").join(name)
}

fn round_trips(seed: u64) -> (u64, u64, String) {
    let opts = BacktestOptions {
        config: Some(tuning("demo.toml")),
        inputs: Vec::new(),
        synthetic: SyntheticInput { seed, duration_s: DEMO_SECS, ..SyntheticInput::default() },
        synthetic_given: true,
        json: None,
        journal: None,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let report = backtest::command(&opts, &mut out, &mut err).expect("the demo profile runs");
    // Round trips the strategy closed itself (not closed by the end of the data).
    let closed_by_strategy = report.trades.iter().filter(|t| t.exit_reason != "end-of-data").count() as u64;
    (report.summary.trades, closed_by_strategy, String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn demo_profile_makes_round_trips_in_two_minutes_across_seeds() {
    // The default seed of `scalpel backtest` / `scalpel demo`, and others.
    for seed in [SyntheticInput::DEFAULT_SEED, 1, 2, 3] {
        let (trades, closed, human) = round_trips(seed);
        println!("seed {seed}: {trades} round trips, {closed} closed by the strategy's exits");
        assert!(trades >= 3, "seed {seed}: only {trades} round trips in {DEMO_SECS} s\n{human}");
        assert!(closed >= 3, "seed {seed}: only {closed} round trips closed before the end of the data\n{human}");
    }
}

/// `section.key` → value for every leaf of a TOML table.
fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, toml::Value>) {
    for (k, v) in table {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            other => {
                out.insert(key, other.clone());
            }
        }
    }
}

/// The `section.key` of every line of `text` that carries a `DEMO:` note.
fn marked_keys(text: &str) -> Vec<String> {
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in text.lines() {
        let code = line.split('#').next().unwrap_or("").trim();
        if let Some(header) = code.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            section = header.trim().to_owned();
        } else if let Some((key, _)) = code.split_once('=')
            && line.contains("# DEMO:")
        {
            keys.push(format!("{section}.{}", key.trim()));
        }
    }
    keys
}

#[test]
fn every_change_from_the_default_profile_is_marked_and_explained() {
    let demo_text = std::fs::read_to_string(tuning("demo.toml")).unwrap();
    let default_text = std::fs::read_to_string(tuning("default.toml")).unwrap();
    assert!(demo_text.contains("NOT a\n# trading recommendation"), "the demo profile must say what it is");
    let (mut demo, mut default) = (BTreeMap::new(), BTreeMap::new());
    flatten("", &demo_text.parse::<toml::Table>().unwrap(), &mut demo);
    flatten("", &default_text.parse::<toml::Table>().unwrap(), &mut default);
    let missing: Vec<&String> = default.keys().filter(|k| !demo.contains_key(*k)).collect();
    assert!(missing.is_empty(), "keys of default.toml dropped from demo.toml: {missing:?}");
    let changed: Vec<String> =
        demo.iter().filter(|(k, v)| default.get(*k) != Some(*v)).map(|(k, _)| k.clone()).collect();
    let mut marked = marked_keys(&demo_text);
    marked.sort();
    assert_eq!(changed, marked, "keys changed from default.toml (left) and keys marked DEMO: (right)");
    assert!(changed.len() >= 10, "the marking test found too few changes to be reading the files right");
    // The profile still loads as a profile (unknown keys are refused).
    scalpel::profile::Profile::from_file(&tuning("demo.toml")).unwrap();
}

#[test]
fn demo_latency_is_the_simulators() {
    let demo: toml::Table = std::fs::read_to_string(tuning("demo.toml")).unwrap().parse().unwrap();
    let order_us = demo["backtest"]["order_latency"]["constant_us"].as_integer().unwrap();
    let sim = SimConfig::new(
        Venue::BinanceUsdm,
        MarketInput::Recordings(Vec::new()),
        scalpel::instrument::InstrumentTable::built_in().unwrap(),
    );
    assert_eq!(u128::try_from(order_us).unwrap(), sim.order_latency.as_micros());
}
