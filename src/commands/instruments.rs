//! Where the command-line tools get their instruments.

use std::io::Write;
use std::path::Path;

use crate::instrument::{FeeSchedule, InstrumentTable, LoadError, MetadataLoad, missing_pages};
use crate::venue::Venue;

/// `tuning/instruments.toml` as it was when the binary was built.
pub const BUILT_IN: &str = crate::instrument::BUILT_IN_TOML;

/// Loads instruments: the built-in table when `path` is `None`; otherwise a
/// TOML file of `[[instrument]]` tables, or (for a `.json` file) the venue's
/// own metadata (Binance `exchangeInfo`, Bybit `instruments-info`, one or
/// several pages) for `venue`, with the venue's default fees. Metadata
/// entries that cannot be represented are skipped without a word; the
/// command-line tools use [`load_noting`], which says so.
///
/// # Errors
/// A [`LoadError`] naming the file and key.
pub fn load(path: Option<&Path>, venue: Venue) -> Result<InstrumentTable, LoadError> {
    load_noting(path, venue, &mut std::io::sink())
}

/// [`load`], writing one line to `notes` when venue metadata entries were
/// skipped (how many, and the first few with the field and reason).
///
/// # Errors
/// A [`LoadError`] naming the file and key; a Bybit list whose last page
/// says more pages follow is an error (the list would be silently short).
pub fn load_noting(path: Option<&Path>, venue: Venue, notes: &mut impl Write) -> Result<InstrumentTable, LoadError> {
    let Some(path) = path else {
        return InstrumentTable::built_in();
    };
    let in_file = |e: LoadError| LoadError::new(format!("{}: {}", path.display(), e.key), e.problem);
    if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        return InstrumentTable::from_toml_file(path);
    }
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::new(path.display().to_string(), e.to_string()))?;
    let mut table = InstrumentTable::new();
    let fees = FeeSchedule::default_for(venue);
    let load: MetadataLoad = match venue {
        Venue::BinanceUsdm => table.load_binance_exchange_info(&text, fees),
        Venue::BybitLinear => table.load_bybit_instruments_info(&text, fees),
    }
    .map_err(in_file)?;
    if let Some(cursor) = &load.next_page_cursor {
        return Err(in_file(missing_pages(cursor)));
    }
    if !load.skipped.is_empty() {
        let first: Vec<String> = load
            .skipped
            .iter()
            .take(3)
            .map(|s| format!("{} ({}: {})", s.symbol, s.reason.key, s.reason.problem))
            .collect();
        let _ = writeln!(
            notes,
            "scalpel: --instruments {}: skipped {} of {} {venue} entries that cannot be represented: {}{}",
            path.display(),
            load.skipped.len(),
            load.skipped.len() + load.added,
            first.join("; "),
            if load.skipped.len() > 3 { "; …" } else { "" }
        );
    }
    if load.added == 0 {
        return Err(LoadError::new(path.display().to_string(), format!("no {venue} instruments found")));
    }
    Ok(table)
}
