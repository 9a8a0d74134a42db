//! `scalpel synth`: write a synthetic session in a venue's wire format to a
//! file (see [`crate::synth`]).
//!
//! The file has the recorded-data layout, one `<local_ts_ns> <frame>` line
//! per frame; it is gzip-compressed when its name ends in `.gz`; `--out -`
//! writes it to stdout (plain). The same options always produce the same
//! bytes. One summary line goes to `report` (stdout), or to stderr when the
//! session itself goes to stdout.
//!
//! Any symbol: `--tick T` generates a symbol outside the built-in table (or
//! a built-in one at another tick) with the calibrated dynamics in ticks,
//! starting at `--price` (default 618002 ticks, where the BTCUSDT
//! calibration starts), with lots of `--step` (default: a power of ten near
//! the calibration lot's notional of about 62 USDT). Ticks run from 10 down
//! to 0.00000001, the range the venues list.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::fixed::{MAX_MANTISSA, Notional, Price, Qty, parse_decimal, significant_decimals};
use crate::instrument::{FeeSchedule, Instrument, Symbol};
use crate::synth::params::MarketProfile;
use crate::synth::{Synth, SynthConfig, SynthError, SynthSummary, write_session};
use crate::venue::Venue;

/// Options of `scalpel synth`.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthOptions {
    /// Wire format.
    pub venue: Venue,
    /// Instrument (built-in table unless `tick` is given).
    pub symbol: Symbol,
    /// Seed.
    pub seed: u64,
    /// Session length, seconds of exchange time.
    pub duration_s: f64,
    /// Mean order events per second (default: the calibrated rate).
    pub rate: Option<f64>,
    /// Lose every N-th depth frame, then resync.
    pub gap_every: Option<u64>,
    /// Tick size as decimal text: generate `symbol` with this tick.
    pub tick: Option<String>,
    /// Start price (best bid) as decimal text, with `tick`.
    pub price: Option<String>,
    /// Quantity step as decimal text, with `tick`.
    pub step: Option<String>,
    /// Output file; `.gz` for gzip; `-` for stdout.
    pub out: PathBuf,
}

/// Why `scalpel synth` failed; each names the option at fault.
#[derive(Debug, thiserror::Error)]
pub enum SynthCommandError {
    /// A bad option value.
    #[error("{option} {value}: {problem}")]
    Option {
        /// The option.
        option: &'static str,
        /// What was given.
        value: String,
        /// What is wrong.
        problem: String,
    },
    /// The generator refused its configuration.
    #[error("{}: {error}", synth_option(error))]
    Config {
        /// What is wrong.
        error: SynthError,
    },
    /// The output could not be created or written.
    #[error("--out {}: {error}", path.display())]
    Output {
        /// The output.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
}

impl SynthCommandError {
    /// `true` when writing to stdout failed because its reader went away.
    #[must_use]
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, SynthCommandError::Output { error, .. } if error.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

fn synth_option(error: &SynthError) -> &'static str {
    match error {
        SynthError::UnknownSymbol { .. } | SynthError::NoProfile(_) => "--symbol",
        SynthError::BadDuration(_) => "--duration",
        SynthError::BadRate(_) => "--rate",
        SynthError::BadGapEvery => "--gap-every",
        SynthError::Instruments(_) => "built-in instruments",
        SynthError::BadWarmup(_) | SynthError::BadDynamics(_) => "configuration",
        SynthError::Io(_) => "--out",
    }
}

/// Most decimals `--tick` and `--step` may have (the venues list ticks down
/// to 1e-8; the synthetic mark and index prices are written at 8 decimals).
const MAX_SYNTH_SCALE: u8 = 8;
/// The BTCUSDT calibration starts 618002 ticks above zero (61800.2 at 0.1).
const DEFAULT_START_TICKS: i64 = 618_002;
/// A start price closer to zero than this many ticks could be walked below
/// zero by the model.
const MIN_START_TICKS: i64 = 100_000;

fn bad(option: &'static str, value: &str, problem: impl Into<String>) -> SynthCommandError {
    SynthCommandError::Option { option, value: value.to_owned(), problem: problem.into() }
}

/// `text` as a positive mantissa at its own decimals (at most 8).
fn positive_decimal(option: &'static str, text: &str) -> Result<(i64, u8), SynthCommandError> {
    let scale = significant_decimals(text);
    if scale > MAX_SYNTH_SCALE {
        return Err(bad(option, text, "at most 8 decimals (the venues list ticks down to 0.00000001)"));
    }
    let value = crate::fixed::parse_decimal_trimmed(text.as_bytes(), scale, false)
        .map_err(|e| bad(option, text, format!("{e}: write a plain decimal such as 0.01 or 10")))?;
    if value <= 0 || value > MAX_MANTISSA {
        return Err(bad(option, text, "must be more than 0 and have at most 15 significant digits"));
    }
    Ok((value, scale))
}

impl SynthOptions {
    /// The generator configuration these options describe.
    ///
    /// # Errors
    /// Unknown symbol, bad duration, rate, gap interval, tick, price or step.
    pub fn config(&self) -> Result<SynthConfig, SynthCommandError> {
        let mut config = match &self.tick {
            None => {
                for (option, given) in [("--price", &self.price), ("--step", &self.step)] {
                    if let Some(value) = given {
                        return Err(bad(option, value, "only with --tick (the built-in instruments have their own)"));
                    }
                }
                SynthConfig::built_in(self.venue, self.symbol, self.seed, self.duration_s).map_err(|e| match e {
                    SynthError::UnknownSymbol { symbol, venue } => bad(
                        "--symbol",
                        symbol.as_str(),
                        format!(
                            "{symbol} is not a known {venue} instrument (built-in: BTCUSDT, ETHUSDT); \
                             pass --tick T to generate it with a given tick"
                        ),
                    ),
                    other => config_err(other),
                })?
            }
            Some(tick) => {
                let instrument = self.instrument(tick)?;
                let profile = MarketProfile::starting_at(&instrument, self.start_bid(&instrument)?);
                SynthConfig::for_instrument(self.venue, instrument, profile, self.seed, self.duration_s)
                    .map_err(config_err)?
            }
        };
        if let Some(rate) = self.rate {
            config.events_per_s = rate;
        }
        config.gap_every = self.gap_every;
        config.validate().map_err(config_err)?;
        Ok(config)
    }

    fn instrument(&self, tick_text: &str) -> Result<Instrument, SynthCommandError> {
        let (tick, price_scale) = positive_decimal("--tick", tick_text)?;
        let default_step = match self.price.as_deref().map(str::parse::<f64>) {
            // The default start price is 618002 ticks.
            None => default_step(DEFAULT_START_TICKS as f64 * tick as f64 / 10f64.powi(i32::from(price_scale))),
            Some(Ok(p)) if p.is_finite() && p > 0.0 => default_step(p),
            Some(_) => "1",
        };
        let step_text = self.step.as_deref().unwrap_or(default_step);
        let (step, qty_scale) = positive_decimal("--step", step_text)?;
        let max_qty = MAX_MANTISSA / 1000 / step * step;
        let instrument = Instrument {
            venue: self.venue,
            symbol: self.symbol,
            price_scale,
            qty_scale,
            tick: Price(tick),
            step: Qty(step),
            min_qty: Qty(step),
            max_qty: Qty(max_qty),
            max_market_qty: Qty(max_qty),
            min_notional: Notional::ZERO,
            fees: FeeSchedule::default_for(self.venue),
        };
        instrument.validate().map_err(|e| bad("--tick", tick_text, e.to_string()))?;
        Ok(instrument)
    }

    fn start_bid(&self, inst: &Instrument) -> Result<Price, SynthCommandError> {
        let tick = inst.tick.0;
        let start = match &self.price {
            None => tick.checked_mul(DEFAULT_START_TICKS).filter(|&p| p <= MAX_MANTISSA / 2).ok_or_else(|| {
                bad(
                    "--tick",
                    &inst.tick.text(inst.price_scale).to_string(),
                    "too large: 618002 ticks overflow; pass --price",
                )
            })?,
            Some(text) => {
                let value = parse_decimal(text.as_bytes(), inst.price_scale, false).map_err(|e| {
                    bad("--price", text, format!("{e} (at most {} decimals, the tick's)", inst.price_scale))
                })?;
                if value % tick != 0 {
                    return Err(bad(
                        "--price",
                        text,
                        format!("not a multiple of --tick {}", inst.tick.text(inst.price_scale)),
                    ));
                }
                value
            }
        };
        if start / tick < MIN_START_TICKS || start > MAX_MANTISSA / 2 {
            return Err(bad(
                "--price",
                &Price(start).text(inst.price_scale).to_string(),
                format!(
                    "must be at least {MIN_START_TICKS} ticks above zero (the model walks thousands of ticks) \
                     and have at most 15 significant digits"
                ),
            ));
        }
        Ok(Price(start))
    }
}

fn config_err(error: SynthError) -> SynthCommandError {
    SynthCommandError::Config { error }
}

/// A power-of-ten lot near the calibration lot's notional (~62 USDT).
fn default_step(price: f64) -> &'static str {
    const STEPS: [&str; 9] = ["0.00000001", "0.0000001", "0.000001", "0.00001", "0.0001", "0.001", "0.01", "0.1", "1"];
    let ideal = 62.0 / price;
    STEPS.iter().rev().find(|s| s.parse::<f64>().is_ok_and(|v| v <= ideal)).copied().unwrap_or("0.00000001")
}

/// Generates the session into `opts.out` and writes a summary line to
/// `report` (or to stderr when the session goes to stdout).
///
/// # Errors
/// Option errors (before the output is created) and output errors.
pub fn run(opts: &SynthOptions, report: &mut impl Write) -> Result<SynthSummary, SynthCommandError> {
    let config = opts.config()?;
    let mut synth = Synth::new(&config).map_err(config_err)?;
    let out_err = |error: std::io::Error| SynthCommandError::Output { path: opts.out.clone(), error };
    let write_err = |e: SynthError| match e {
        SynthError::Io(error) => out_err(error),
        other => config_err(other),
    };
    let to_stdout = opts.out == Path::new("-");
    let summary = if to_stdout {
        let stdout = std::io::stdout();
        let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
        let summary = write_session(&mut synth, &mut out).map_err(write_err)?;
        out.flush().map_err(out_err)?;
        summary
    } else {
        let file = BufWriter::with_capacity(1 << 20, File::create(&opts.out).map_err(out_err)?);
        if opts.out.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz")) {
            let mut gz = GzEncoder::new(file, Compression::fast());
            let summary = write_session(&mut synth, &mut gz).map_err(write_err)?;
            gz.finish().and_then(|mut f| f.flush()).map_err(out_err)?;
            summary
        } else {
            let mut file = file;
            let summary = write_session(&mut synth, &mut file).map_err(write_err)?;
            file.flush().map_err(out_err)?;
            summary
        }
    };
    let secs = summary.duration_ms as f64 / 1000.0;
    let line = format!(
        "scalpel synth: {} {} seed {} — {:.1} s, {} frames ({:.1}/s): {} depth, {} snapshots, {} top, {} trade frames ({} prints), {} mark; \
         {} depth frames lost on purpose; {} order events ({:.0}/s) → {}",
        opts.venue,
        opts.symbol,
        opts.seed,
        secs,
        summary.frames,
        summary.frames as f64 / secs,
        summary.depth_frames,
        summary.snapshots,
        summary.top_frames,
        summary.trade_frames,
        summary.trade_prints,
        summary.mark_frames,
        summary.lost_depth_frames,
        summary.events,
        summary.events as f64 / secs,
        if to_stdout { "stdout".to_owned() } else { opts.out.display().to_string() }
    );
    if to_stdout {
        eprintln!("{line}");
    } else {
        writeln!(report, "{line}").map_err(|error| SynthCommandError::Output { path: "stdout".into(), error })?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(tick: Option<&str>, price: Option<&str>, step: Option<&str>) -> SynthOptions {
        SynthOptions {
            venue: Venue::BybitLinear,
            symbol: "ANYUSDT".parse().unwrap(),
            seed: 1,
            duration_s: 5.0,
            rate: None,
            gap_every: None,
            tick: tick.map(str::to_owned),
            price: price.map(str::to_owned),
            step: step.map(str::to_owned),
            out: "x".into(),
        }
    }

    #[test]
    fn any_tick_from_ten_to_one_hundred_millionth() {
        let c = opts(Some("10"), None, None).config().unwrap();
        assert_eq!((c.instrument.price_scale, c.instrument.tick), (0, Price(10)));
        assert_eq!(c.profile.start_bid, Price(6_180_020));
        let c = opts(Some("0.00000001"), None, None).config().unwrap();
        assert_eq!((c.instrument.price_scale, c.instrument.tick), (8, Price(1)));
        assert_eq!(c.profile.start_bid, Price(618_002));
        // 0.00618002 USDT: lots of 10000 units keep ~62 USDT a lot.
        assert_eq!((c.instrument.qty_scale, c.instrument.step), (0, Qty(1)));
        let c = opts(Some("0.0025"), Some("1000.0000"), Some("0.5")).config().unwrap();
        assert_eq!((c.instrument.price_scale, c.instrument.tick, c.instrument.step), (4, Price(25), Qty(5)));
    }

    #[test]
    fn bad_tick_price_and_step_name_their_option() {
        for (o, want) in [
            (opts(Some("0.000000001"), None, None), "--tick 0.000000001: at most 8 decimals"),
            (opts(Some("0"), None, None), "--tick 0: must be more than 0"),
            (opts(Some("1e-3"), None, None), "--tick 1e-3:"),
            (opts(Some("0.01"), Some("100.005"), None), "--price 100.005:"),
            (opts(Some("0.02"), Some("10000.01"), None), "--price 10000.01: not a multiple of --tick 0.02"),
            (opts(Some("0.01"), Some("5.00"), None), "--price 5: must be at least 100000 ticks"),
            (opts(Some("0.01"), None, Some("-1")), "--step -1:"),
            (opts(None, Some("100"), None), "--price 100: only with --tick"),
            (opts(Some("999999999999999"), None, None), "--tick 999999999999999: too large"),
        ] {
            let err = o.config().unwrap_err().to_string();
            assert!(err.starts_with(want), "{err}\n  want {want}");
        }
    }
}
