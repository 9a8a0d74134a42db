//! Leverage: the configured leverage per symbol (set on the venue once at
//! start by the live engine), the master plan's dynamic rules, growth
//! milestones, and the margin guard.
//!
//! # What leverage does here
//! The venue's leverage setting only fixes how much margin a position
//! ties up; the position size is the strategy's. So the configured
//! leverage is sent once ([`crate::venue::binance::order::BinanceOrderEncoder::rest_set_leverage`],
//! [`crate::venue::bybit::order::BybitOrderEncoder::rest_set_leverage`]), and
//! every entry is capped at `notional ≤ equity × position share × effective
//! leverage`, where the *effective* leverage of the trade follows the rules
//! below and never exceeds the venue setting.
//!
//! # Rules (`[leverage]`, `dynamic = true`)
//! Start from `base`, then, in this order:
//! 1. `+high_confidence_step` when the confidence is in the top band;
//! 2. `+low_volatility_step` when the volatility percentile is at or below
//!    `low_volatility_percentile`;
//! 3. `−after_loss_step` when the last closed trade lost;
//! 4. at least 1, at most the symbol's venue leverage and the growth
//!    milestone's `max_leverage`;
//! 5. at most `drawdown_max` while equity is `drawdown_pct` or more below
//!    its peak;
//! 6. at most `margin_guard_max` while the risk side caps size for the
//!    margin ratio ([`crate::risk::Cause::MarginReduce`]): the margin guard
//!    cuts leverage, not only size.
//!
//! Without `dynamic`, the effective leverage is the venue leverage, capped
//! by steps 4–6.
//!
//! # Growth milestones (`[[leverage.milestone]]`)
//! A table of `equity_usdt → (max_position_share, max_leverage)`: the row
//! with the largest `equity_usdt` not above the current equity applies
//! (none below it: the first row). Without rows, the position share is
//! `sizing.max_position_share` and the venue leverage is the only cap.

use serde::Deserialize;

use crate::fixed::{E8, Notional, Rate, parse_decimal};
use crate::instrument::{Instrument, LoadError, Symbol};
use crate::venue::Venue;

/// One growth milestone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Milestone {
    /// From this equity on, USDT.
    pub equity: Notional,
    /// Largest margin share of equity per position.
    pub max_position_share: Rate,
    /// Largest effective leverage.
    pub max_leverage: u8,
}

/// Leverage configured for one symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymbolLeverage {
    /// Venue.
    pub venue: Venue,
    /// Symbol.
    pub symbol: Symbol,
    /// Leverage set on the venue at start.
    pub leverage: u8,
}

/// The `[leverage]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct LeverageConfig {
    /// Venue leverage of symbols not listed.
    pub default: u8,
    /// Per-symbol venue leverage.
    pub symbols: Vec<SymbolLeverage>,
    /// Apply the dynamic rules.
    pub dynamic: bool,
    /// Starting point of the dynamic rules.
    pub base: u8,
    /// Added in the top confidence band.
    pub high_confidence_step: u8,
    /// Added in low volatility.
    pub low_volatility_step: u8,
    /// Volatility percentile at or below which volatility is low, in [0, 1].
    pub low_volatility_percentile: f64,
    /// Subtracted after a losing trade.
    pub after_loss_step: u8,
    /// Drawdown from peak equity from which `drawdown_max` applies.
    pub drawdown_fraction: Rate,
    /// Leverage cap in drawdown.
    pub drawdown_max: u8,
    /// Leverage cap while the margin guard is on.
    pub margin_guard_max: u8,
    /// Growth milestones, by ascending equity.
    pub milestones: Vec<Milestone>,
}

impl Default for LeverageConfig {
    fn default() -> Self {
        // The raw defaults validate (tested).
        RawLeverage::default().validate().expect("built-in leverage defaults validate")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSymbolLeverage {
    venue: Venue,
    symbol: String,
    leverage: u8,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMilestone {
    equity_usdt: String,
    max_position_share: String,
    max_leverage: u8,
}

/// `[leverage]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawLeverage {
    default: u8,
    symbol: Vec<RawSymbolLeverage>,
    dynamic: bool,
    base: u8,
    high_confidence_step: u8,
    low_volatility_step: u8,
    low_volatility_percentile: f64,
    after_loss_step: u8,
    drawdown_pct: String,
    drawdown_max: u8,
    margin_guard_max: u8,
    milestone: Vec<RawMilestone>,
}

impl Default for RawLeverage {
    fn default() -> Self {
        Self {
            default: 20,
            symbol: Vec::new(),
            dynamic: false,
            base: 3,
            high_confidence_step: 1,
            low_volatility_step: 1,
            low_volatility_percentile: 0.3,
            after_loss_step: 1,
            drawdown_pct: "5".into(),
            drawdown_max: 2,
            margin_guard_max: 2,
            milestone: Vec::new(),
        }
    }
}

/// Venue leverage: 1..=125 (Binance's largest bracket; Bybit's is lower
/// per symbol, and the venue refuses what it does not allow).
fn leverage(key: &str, v: u8) -> Result<u8, LoadError> {
    if v == 0 || v > 125 {
        return Err(LoadError::new(key, format!("{v} must be between 1 and 125")));
    }
    Ok(v)
}

impl RawLeverage {
    pub(crate) fn validate(&self) -> Result<LeverageConfig, LoadError> {
        let default = leverage("leverage.default", self.default)?;
        let mut symbols = Vec::with_capacity(self.symbol.len());
        for (n, raw) in self.symbol.iter().enumerate() {
            let key = |k: &str| format!("leverage.symbol[{n}].{k}");
            let symbol =
                Symbol::new_upper(raw.symbol.as_bytes()).map_err(|e| LoadError::new(key("symbol"), e.to_string()))?;
            if symbols.iter().any(|s: &SymbolLeverage| s.venue == raw.venue && s.symbol == symbol) {
                return Err(LoadError::new(key("symbol"), format!("{symbol} on {} listed twice", raw.venue)));
            }
            symbols.push(SymbolLeverage {
                venue: raw.venue,
                symbol,
                leverage: leverage(&key("leverage"), raw.leverage)?,
            });
        }
        if !self.low_volatility_percentile.is_finite() || !(0.0..=1.0).contains(&self.low_volatility_percentile) {
            return Err(LoadError::new("leverage.low_volatility_percentile", "must be between 0 and 1"));
        }
        let drawdown = parse_decimal(self.drawdown_pct.as_bytes(), 6, false)
            .map_err(|e| LoadError::new("leverage.drawdown_pct", format!("{e} (percent, at most 6 decimals)")))?;
        if drawdown <= 0 || drawdown > 100_000_000 {
            return Err(LoadError::new("leverage.drawdown_pct", "must be more than 0 and at most 100"));
        }
        let mut milestones: Vec<Milestone> = Vec::with_capacity(self.milestone.len());
        for (n, raw) in self.milestone.iter().enumerate() {
            let key = |k: &str| format!("leverage.milestone[{n}].{k}");
            let equity = parse_decimal(raw.equity_usdt.as_bytes(), E8, false)
                .map_err(|e| LoadError::new(key("equity_usdt"), format!("{e} (decimal USDT)")))?;
            if milestones.last().is_some_and(|m| m.equity.0 >= equity) {
                return Err(LoadError::new(key("equity_usdt"), "milestones must be in ascending order of equity"));
            }
            let share = super::config::fraction(&key("max_position_share"), &raw.max_position_share, 1)?;
            milestones.push(Milestone {
                equity: Notional(equity),
                max_position_share: share,
                max_leverage: leverage(&key("max_leverage"), raw.max_leverage)?,
            });
        }
        Ok(LeverageConfig {
            default,
            symbols,
            dynamic: self.dynamic,
            base: leverage("leverage.base", self.base)?,
            high_confidence_step: self.high_confidence_step,
            low_volatility_step: self.low_volatility_step,
            low_volatility_percentile: self.low_volatility_percentile,
            after_loss_step: self.after_loss_step,
            drawdown_fraction: Rate(drawdown),
            drawdown_max: leverage("leverage.drawdown_max", self.drawdown_max)?,
            margin_guard_max: leverage("leverage.margin_guard_max", self.margin_guard_max)?,
            milestones,
        })
    }
}

impl LeverageConfig {
    /// The leverage the live engine sets on the venue for `inst` at start.
    #[must_use]
    pub fn venue_leverage(&self, inst: &Instrument) -> u8 {
        self.symbols
            .iter()
            .find(|s| s.venue == inst.venue && s.symbol == inst.symbol)
            .map_or(self.default, |s| s.leverage)
    }

    /// The milestone that applies at `equity`, if any are configured.
    #[must_use]
    pub fn milestone(&self, equity: Notional) -> Option<&Milestone> {
        self.milestones.iter().rev().find(|m| m.equity <= equity).or(self.milestones.first())
    }

    /// The effective leverage of a trade (module docs).
    #[must_use]
    pub fn effective(&self, venue: u8, inp: &LeverageInputs) -> u8 {
        let mut lev = if self.dynamic {
            let mut l = i32::from(self.base);
            if inp.top_band {
                l += i32::from(self.high_confidence_step);
            }
            if inp.volatility_percentile.is_some_and(|p| p <= self.low_volatility_percentile) {
                l += i32::from(self.low_volatility_step);
            }
            if inp.last_trade_lost {
                l -= i32::from(self.after_loss_step);
            }
            l
        } else {
            i32::from(venue)
        };
        let mut cap = i32::from(venue);
        if let Some(m) = self.milestone(inp.equity) {
            cap = cap.min(i32::from(m.max_leverage));
        }
        lev = lev.clamp(1, cap.max(1));
        if inp.drawdown >= self.drawdown_fraction {
            lev = lev.min(i32::from(self.drawdown_max));
        }
        if inp.margin_guard {
            lev = lev.min(i32::from(self.margin_guard_max));
        }
        u8::try_from(lev.max(1)).unwrap_or(1)
    }
}

/// What the dynamic rules look at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeverageInputs {
    /// Equity now.
    pub equity: Notional,
    /// The confidence is in the top band.
    pub top_band: bool,
    /// Volatility percentile now, when the signals provide it (and are warm).
    pub volatility_percentile: Option<f64>,
    /// The last closed trade lost.
    pub last_trade_lost: bool,
    /// Drawdown of equity from its peak, fraction at 8 decimals.
    pub drawdown: Rate,
    /// The risk side caps size for the margin ratio.
    pub margin_guard: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Result<LeverageConfig, LoadError> {
        let raw: RawLeverage = toml::from_str(text).map_err(|e| LoadError::new("leverage", e.message().to_owned()))?;
        raw.validate()
    }

    fn calm() -> LeverageInputs {
        LeverageInputs {
            equity: Notional(10_000 * 100_000_000),
            top_band: false,
            volatility_percentile: Some(0.5),
            last_trade_lost: false,
            drawdown: Rate(0),
            margin_guard: false,
        }
    }

    #[test]
    fn defaults_and_per_symbol_venue_leverage() {
        let c = LeverageConfig::default();
        assert_eq!((c.default, c.dynamic, c.drawdown_fraction), (20, false, Rate(5_000_000)));
        let c = cfg("default = 5\n[[symbol]]\nvenue = \"bybit-linear\"\nsymbol = \"ethusdt\"\nleverage = 8").unwrap();
        let eth = crate::risk::test_support::eth(Venue::BybitLinear);
        assert_eq!(c.venue_leverage(&eth), 8);
        assert_eq!(c.venue_leverage(&crate::risk::test_support::btc(Venue::BybitLinear)), 5);
        assert_eq!(c.effective(8, &calm()), 8, "static: the venue leverage");
    }

    #[test]
    fn dynamic_rules_at_their_thresholds() {
        let c = cfg("dynamic = true\nbase = 3\nlow_volatility_percentile = 0.3").unwrap();
        assert_eq!(c.effective(10, &calm()), 3);
        assert_eq!(c.effective(10, &LeverageInputs { top_band: true, ..calm() }), 4);
        // Percentile at the threshold is low volatility; just above is not.
        assert_eq!(c.effective(10, &LeverageInputs { volatility_percentile: Some(0.3), ..calm() }), 4);
        assert_eq!(c.effective(10, &LeverageInputs { volatility_percentile: Some(0.300_001), ..calm() }), 3);
        assert_eq!(c.effective(10, &LeverageInputs { volatility_percentile: None, ..calm() }), 3);
        assert_eq!(c.effective(10, &LeverageInputs { last_trade_lost: true, ..calm() }), 2);
        let all = LeverageInputs { top_band: true, volatility_percentile: Some(0.1), ..calm() };
        assert_eq!(c.effective(10, &all), 5);
        // Never above the venue setting, never below 1.
        assert_eq!(c.effective(4, &all), 4);
        let c1 = cfg("dynamic = true\nbase = 1").unwrap();
        assert_eq!(c1.effective(10, &LeverageInputs { last_trade_lost: true, ..calm() }), 1);
    }

    #[test]
    fn drawdown_and_margin_guard_cap_it() {
        let c = cfg("dynamic = true\nbase = 5\ndrawdown_pct = \"5\"\ndrawdown_max = 2\nmargin_guard_max = 1").unwrap();
        // 4.999999 % is below the threshold; 5 % is at it.
        assert_eq!(c.effective(10, &LeverageInputs { drawdown: Rate(4_999_999), ..calm() }), 5);
        assert_eq!(c.effective(10, &LeverageInputs { drawdown: Rate(5_000_000), ..calm() }), 2);
        assert_eq!(c.effective(10, &LeverageInputs { margin_guard: true, ..calm() }), 1);
    }

    #[test]
    fn milestones_pick_the_row_at_or_below_equity() {
        let c = cfg("[[milestone]]\nequity_usdt = \"0\"\nmax_position_share = \"0.1\"\nmax_leverage = 3\n\
             [[milestone]]\nequity_usdt = \"20000\"\nmax_position_share = \"0.2\"\nmax_leverage = 5")
        .unwrap();
        let at = |usdt: i64| LeverageInputs { equity: Notional(usdt * 100_000_000), ..calm() };
        assert_eq!(c.effective(10, &at(19_999)), 3);
        assert_eq!(c.effective(10, &at(20_000)), 5);
        assert_eq!(c.milestone(Notional(20_000 * 100_000_000)).unwrap().max_position_share, Rate(20_000_000));
    }

    #[test]
    fn errors_name_the_key() {
        for (text, key) in [
            ("default = 0", "leverage.default"),
            ("base = 200", "leverage.base"),
            ("drawdown_pct = \"0\"", "leverage.drawdown_pct"),
            ("low_volatility_percentile = 1.5", "leverage.low_volatility_percentile"),
            ("[[symbol]]\nvenue = \"binance-usdm\"\nsymbol = \"BTCUSDT\"\nleverage = 0", "leverage.symbol[0].leverage"),
            (
                "[[milestone]]\nequity_usdt = \"10\"\nmax_position_share = \"0.1\"\nmax_leverage = 3\n\
                 [[milestone]]\nequity_usdt = \"5\"\nmax_position_share = \"0.1\"\nmax_leverage = 3",
                "leverage.milestone[1].equity_usdt",
            ),
        ] {
            assert_eq!(cfg(text).unwrap_err().key, key, "{text}");
        }
    }
}
