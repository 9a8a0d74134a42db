//! Where the command-line tools get their instruments.

use std::path::Path;

use crate::instrument::{FeeSchedule, InstrumentTable, LoadError};
use crate::venue::Venue;

/// `tuning/instruments.toml` as it was when the binary was built.
pub const BUILT_IN: &str = crate::instrument::BUILT_IN_TOML;

/// Loads instruments: the built-in table when `path` is `None`; otherwise a
/// TOML file of `[[instrument]]` tables, or (for a `.json` file) the venue's
/// own metadata (Binance `exchangeInfo`, Bybit `instruments-info`) for
/// `venue`, with the venue's default fees.
///
/// # Errors
/// A [`LoadError`] naming the file and key.
pub fn load(path: Option<&Path>, venue: Venue) -> Result<InstrumentTable, LoadError> {
    let Some(path) = path else {
        return InstrumentTable::built_in();
    };
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        let text =
            std::fs::read_to_string(path).map_err(|e| LoadError::new(path.display().to_string(), e.to_string()))?;
        let mut table = InstrumentTable::new();
        let fees = FeeSchedule::default_for(venue);
        let added = match venue {
            Venue::BinanceUsdm => table.add_binance_exchange_info(&text, fees),
            Venue::BybitLinear => table.add_bybit_instruments_info(&text, fees),
        }
        .map_err(|e| LoadError::new(format!("{}: {}", path.display(), e.key), e.problem))?;
        if added == 0 {
            return Err(LoadError::new(path.display().to_string(), format!("no {venue} instruments found")));
        }
        return Ok(table);
    }
    InstrumentTable::from_toml_file(path)
}
