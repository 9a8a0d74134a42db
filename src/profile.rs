//! A strategy profile: one TOML file under `tuning/` holding everything a
//! run needs — instruments, strategy, risk, backtest and signal settings.
//!
//! | table | owner | parsed by |
//! |---|---|---|
//! | `[instruments]` | this module | symbols and venues to trade, from the built-in table or a file |
//! | `[strategy]`, `[votes]`, `[gates]`, `[confidence]`, `[context]`, `[sizing]`, `[exits]`, `[leverage]`, `[schedule]`, `[cascade_trades]` | [`crate::strategy`] | [`crate::strategy::config`] |
//! | `[core]` | [`crate::core`] | [`core`] (here, so that the profile does not import the core) |
//! | `[backtest]` | [`crate::backtest`] | [`backtest`] (here, so that the profile does not import the backtest) |
//! | `[risk]` | [`crate::risk`] | the same `[risk]` table format as `tuning/risk.toml` |
//! | `[signals]` | the signals module | **kept raw** ([`Profile::signals`]) and handed to the signals' own config parser; any keys pass through here |
//!
//! Unknown tables and unknown keys are errors naming the key; so is every
//! bad value. Relative file paths inside a profile are resolved against the
//! profile's own directory.

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub mod backtest;
pub mod core;

use self::core::{CoreConfig, RawCore};
use crate::instrument::{InstrumentTable, LoadError, Symbol};
use crate::risk::RiskConfig;
use crate::strategy::StrategyConfig;
use crate::strategy::config::{RawStrategyTables, table};
use crate::venue::Venue;
use backtest::{BacktestConfig, RawBacktest};

/// The tables a profile may contain.
const TABLES: [&str; 15] = [
    "instruments",
    "core",
    "strategy",
    "votes",
    "gates",
    "confidence",
    "context",
    "sizing",
    "exits",
    "leverage",
    "schedule",
    "cascade_trades",
    "backtest",
    "risk",
    "signals",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawInstruments {
    symbols: Vec<String>,
    venues: Vec<Venue>,
    file: Option<String>,
}

impl Default for RawInstruments {
    fn default() -> Self {
        Self { symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()], venues: Venue::ALL.to_vec(), file: None }
    }
}

/// A loaded, validated profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The instruments the profile knows (configured symbols × venues), in table order.
    pub instruments: InstrumentTable,
    /// Strategy settings.
    pub strategy: StrategyConfig,
    /// The `[risk]` table.
    pub risk: RiskConfig,
    /// The `[backtest]` table.
    pub backtest: BacktestConfig,
    /// The `[core]` table.
    pub core: CoreConfig,
    /// The `[signals]` table as written, for the signals module's parser.
    pub signals: toml::Value,
}

/// `tuning/default.toml` as it was when the binary was built.
pub const BUILT_IN_DEFAULT: &str = include_str!("../tuning/default.toml");

impl Profile {
    /// The built-in copy of `tuning/default.toml`; relative paths in it
    /// resolve against the working directory.
    ///
    /// # Errors
    /// Never in a correct build (the tests load it); a [`LoadError`] otherwise.
    pub fn built_in_default() -> Result<Self, LoadError> {
        Self::from_toml_str(BUILT_IN_DEFAULT, Path::new("."))
    }

    /// Reads a profile file.
    ///
    /// # Errors
    /// I/O problems (naming the path) or a [`LoadError`] naming the key.
    pub fn from_file(path: &Path) -> Result<Self, LoadError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| LoadError::new(path.display().to_string(), e.to_string()))?;
        let base = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        Self::from_toml_str(&text, &base)
            .map_err(|e| LoadError::new(format!("{}: {}", path.display(), e.key), e.problem))
    }

    /// Parses profile text; relative paths resolve against `base`.
    ///
    /// # Errors
    /// A [`LoadError`] naming the key.
    pub fn from_toml_str(text: &str, base: &Path) -> Result<Self, LoadError> {
        let root: toml::Table = toml::from_str(text).map_err(|e| LoadError::toml("profile", text, &e))?;
        if let Some(unknown) = root.keys().find(|k| !TABLES.contains(&k.as_str())) {
            return Err(LoadError::new(
                unknown.clone(),
                format!("unknown table (expected one of {})", TABLES.join(", ")),
            ));
        }
        let mut strategy = RawStrategyTables::from_root(&root)?.validate()?;
        if let Some(file) = &strategy.context.file {
            strategy.context.file = Some(base.join(file));
        }
        let risk = table::<crate::risk::config::RawRisk>(&root, "risk")?.validate()?;
        let backtest = table::<RawBacktest>(&root, "backtest")?.validate(base)?;
        let mut raw_core = table::<RawCore>(&root, "core")?;
        let backtest_interval = root
            .get("backtest")
            .and_then(|b| b.get("mark_interval_ms"))
            .map(|_| u32::try_from(backtest.mark_interval_ms).unwrap_or(u32::MAX));
        match (raw_core.mark_interval_ms, backtest_interval) {
            (Some(a), Some(b)) if a != b => {
                return Err(LoadError::new(
                    "core.mark_interval_ms",
                    "differs from backtest.mark_interval_ms (an older name for the same setting): give one",
                ));
            }
            (None, Some(b)) => raw_core.mark_interval_ms = Some(b),
            _ => {}
        }
        let core = raw_core.validate()?;
        let signals = match root.get("signals") {
            None => toml::Value::Table(toml::Table::new()),
            Some(v @ toml::Value::Table(_)) => v.clone(),
            Some(_) => return Err(LoadError::new("signals", "must be a table")),
        };
        let inst: RawInstruments = table(&root, "instruments")?;
        let instruments = select_instruments(&inst, base)?;
        Ok(Self { instruments, strategy, risk, backtest, core, signals })
    }
}

/// The contents of `tuning/risk.toml`: a `[risk]` and a `[journal]` table
/// (the live engine's risk and journal threads). It lives here, above both
/// modules, so that neither imports the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskFile {
    /// `[risk]`.
    pub risk: RiskConfig,
    /// `[journal]`.
    pub journal: crate::journal::JournalConfig,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawRiskFile {
    risk: crate::risk::config::RawRisk,
    journal: crate::journal::RawJournal,
}

impl RiskFile {
    /// Parses TOML text with optional `[risk]` and `[journal]` tables.
    ///
    /// # Errors
    /// A [`LoadError`] naming the key (`risk.daily_loss_limit_usdt`).
    pub fn from_toml_str(text: &str) -> Result<Self, LoadError> {
        let raw: RawRiskFile = toml::from_str(text).map_err(|e| LoadError::toml("risk file", text, &e))?;
        Ok(Self { risk: raw.risk.validate()?, journal: raw.journal.validate()? })
    }

    /// Reads `tuning/risk.toml` or another file of the same shape.
    ///
    /// # Errors
    /// I/O problems (naming the path) or a [`LoadError`] naming the key.
    pub fn from_toml_file(path: &std::path::Path) -> Result<Self, LoadError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| LoadError::new(path.display().to_string(), e.to_string()))?;
        Self::from_toml_str(&text).map_err(|e| LoadError::new(format!("{}: {}", path.display(), e.key), e.problem))
    }
}

fn select_instruments(raw: &RawInstruments, base: &Path) -> Result<InstrumentTable, LoadError> {
    if raw.symbols.is_empty() {
        return Err(LoadError::new("instruments.symbols", "must name at least one symbol"));
    }
    if raw.venues.is_empty() {
        return Err(LoadError::new("instruments.venues", "must name at least one venue"));
    }
    let all = match &raw.file {
        None => InstrumentTable::built_in()?,
        Some(f) => InstrumentTable::from_toml_file(&base.join(f))
            .map_err(|e| LoadError::new(format!("instruments.file: {}", e.key), e.problem))?,
    };
    let mut symbols = Vec::with_capacity(raw.symbols.len());
    for (n, s) in raw.symbols.iter().enumerate() {
        symbols.push(
            Symbol::new_upper(s.as_bytes())
                .map_err(|e| LoadError::new(format!("instruments.symbols[{n}]"), e.to_string()))?,
        );
    }
    let mut table = InstrumentTable::new();
    for inst in all.all() {
        if symbols.contains(&inst.symbol) && raw.venues.contains(&inst.venue) {
            table.insert(*inst)?;
        }
    }
    for (n, symbol) in symbols.iter().enumerate() {
        for venue in &raw.venues {
            if table.get(*venue, symbol).is_none() {
                return Err(LoadError::new(
                    format!("instruments.symbols[{n}]"),
                    format!("{symbol} is not a known {venue} instrument"),
                ));
            }
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_default_profile_is_the_tuning_file() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/default.toml");
        assert_eq!(Profile::built_in_default().unwrap(), Profile::from_file(&path).unwrap());
    }

    #[test]
    fn tuning_file_states_the_defaults() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/risk.toml");
        let file = RiskFile::from_toml_file(&path).expect("tuning/risk.toml loads");
        assert_eq!(file.risk, crate::risk::RiskConfig::default());
        assert_eq!(file.journal, crate::journal::JournalConfig::default());
        let err = RiskFile::from_toml_str("[risk]\nprice_band_bps = 0").unwrap_err();
        assert_eq!(err.key, "risk.price_band_bps");
        let err = RiskFile::from_toml_str("[journal]\nflush_interval_ms = 0").unwrap_err();
        assert_eq!(err.key, "journal.flush_interval_ms");
        assert!(RiskFile::from_toml_str("[riks]").unwrap_err().problem.contains("unknown field"));
    }

    #[test]
    fn the_plans_example_states_the_defaults() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/plans.example.toml");
        let p = Profile::from_file(&path).expect("tuning/plans.example.toml loads");
        assert_eq!(p.strategy, StrategyConfig::default());
        assert_eq!(p.risk, RiskConfig::default());
    }

    #[test]
    fn the_plan_profiles_load() {
        for name in ["turbo-micro.toml", "master-plan.toml", "order-flow.toml"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning").join(name);
            let p = Profile::from_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            crate::signal::SignalConfig::from_table(&p.signals).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(p.strategy.sizing.mode, crate::strategy::config::SizingMode::Risk, "{name}");
        }
    }

    #[test]
    fn empty_profile_is_all_defaults() {
        let p = Profile::from_toml_str("", Path::new(".")).unwrap();
        assert_eq!(p.strategy, StrategyConfig::default());
        assert_eq!(p.risk, RiskConfig::default());
        assert_eq!(p.backtest, BacktestConfig::default());
        assert_eq!(p.instruments.all().len(), 4);
    }

    #[test]
    fn recorded_feed_latency_takes_an_offset() {
        let p = Profile::from_toml_str(
            "[backtest.feed_latency]\nconstant_us = 300\nrecorded = true\nclock_offset_us = -1500",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(p.backtest.feed_latency, crate::profile::backtest::LatencyModel::Constant(300_000));
        assert_eq!(
            p.backtest.recorded_feed,
            Some(crate::profile::backtest::RecordedFeed { clock_offset_ns: -1_500_000 })
        );
        let p = Profile::from_toml_str("[backtest.feed_latency]\nconstant_us = 300\nrecorded = false", Path::new("."))
            .unwrap();
        assert_eq!(p.backtest.recorded_feed, None);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("[strategyy]", "strategyy"),
            ("[risk]\ndaily_loss_limit_usdt = \"0\"", "risk.daily_loss_limit_usdt"),
            ("[risk]\nprice_band_bps = \"x\"", "risk.price_band_bps"),
            ("[backtest]\nfill_model = \"queue\"", "backtest.fill_model"),
            ("[backtest.feed_latency]\nconstant_us = 5\nsamples_file = \"x\"", "backtest.feed_latency"),
            ("[backtest.order_latency]\nconstant_us = 5\nrecorded = true", "backtest.order_latency.recorded"),
            ("[backtest.feed_latency]\nconstant_us = 5\nclock_offset_us = 3", "backtest.feed_latency.clock_offset_us"),
            (
                "[backtest.feed_latency]\nconstant_us = 5\nrecorded = true\nclock_offset_us = 86400000001",
                "backtest.feed_latency.clock_offset_us",
            ),
            (
                "[backtest.order_latency]\nsamples_file = \"does-not-exist.txt\"\nseed = 1",
                "backtest.order_latency.samples_file",
            ),
            ("[instruments]\nsymbols = [\"DOGEUSDT\"]", "instruments.symbols[0]"),
            ("[instruments]\nvenues = [\"kraken\"]", "instruments.venues"),
            ("signals = 3", "signals"),
        ];
        for (text, key) in cases {
            let err = Profile::from_toml_str(text, Path::new(".")).expect_err(text);
            assert_eq!(err.key, key, "{text}: {err}");
        }
    }

    #[test]
    fn signals_table_passes_through_untouched() {
        let p = Profile::from_toml_str(
            "[signals]\nofi_window_ms = 5000\nanything = \"goes\"\n[signals.vwap]\nwindow_secs = 60",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(p.signals.get("ofi_window_ms").and_then(toml::Value::as_integer), Some(5000));
        assert_eq!(
            p.signals.get("vwap").and_then(|v| v.get("window_secs")).and_then(toml::Value::as_integer),
            Some(60)
        );
    }

    #[test]
    fn default_profile_loads_with_its_fallback_inputs() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/default.toml");
        let p = Profile::from_file(&path).expect("tuning/default.toml loads");
        assert_eq!(p.instruments.all().len(), 4);
        let v = &p.strategy.votes;
        assert_eq!(
            (v.order_flow_input, v.drift_input),
            (crate::strategy::config::FlowInput::Ofi, crate::strategy::config::DriftInput::OuDrift)
        );
        assert!(v.order_flow_fallback.is_some() && v.drift_fallback.is_some());
        assert_eq!(p.strategy.gates.imbalance.value, 0.30);
        assert!(p.signals.as_table().is_some());
    }

    #[test]
    fn instruments_are_filtered() {
        let p = Profile::from_toml_str(
            "[instruments]\nsymbols = [\"btcusdt\"]\nvenues = [\"bybit-linear\"]",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(p.instruments.all().len(), 1);
        assert_eq!(p.instruments.all()[0].venue, Venue::BybitLinear);
    }
}
