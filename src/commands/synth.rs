//! `scalpel synth`: write a synthetic session in a venue's wire format to a
//! file (see [`crate::synth`]).
//!
//! The file has the recorded-data layout, one `<local_ts_ns> <frame>` line
//! per frame; it is gzip-compressed when its name ends in `.gz`. The same
//! options always produce the same bytes. One summary line goes to
//! `report`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::instrument::Symbol;
use crate::synth::{Synth, SynthConfig, SynthError, SynthSummary, write_session};
use crate::venue::Venue;

/// Options of `scalpel synth`.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthOptions {
    /// Wire format.
    pub venue: Venue,
    /// Instrument (built-in table).
    pub symbol: Symbol,
    /// Seed.
    pub seed: u64,
    /// Session length, seconds of exchange time.
    pub duration_s: f64,
    /// Mean order events per second (default: the calibrated rate).
    pub rate: Option<f64>,
    /// Lose every N-th depth frame, then resync.
    pub gap_every: Option<u64>,
    /// Output file; `.gz` for gzip.
    pub out: PathBuf,
}

impl SynthOptions {
    /// The generator configuration these options describe.
    ///
    /// # Errors
    /// Unknown symbol, bad duration, rate or gap interval.
    pub fn config(&self) -> Result<SynthConfig, SynthError> {
        let mut config = SynthConfig::built_in(self.venue, self.symbol, self.seed, self.duration_s)?;
        if let Some(rate) = self.rate {
            config.events_per_s = rate;
        }
        config.gap_every = self.gap_every;
        config.validate()?;
        Ok(config)
    }
}

/// Generates the session into `opts.out` and writes a summary line to
/// `report`.
///
/// # Errors
/// Configuration errors (before the file is created) and I/O errors.
pub fn run(opts: &SynthOptions, report: &mut impl Write) -> Result<SynthSummary, SynthError> {
    let config = opts.config()?;
    let mut synth = Synth::new(&config)?;
    let file = BufWriter::with_capacity(1 << 20, File::create(&opts.out)?);
    let gzip = opts.out.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let summary = if gzip {
        let mut gz = GzEncoder::new(file, Compression::fast());
        let summary = write_session(&mut synth, &mut gz)?;
        gz.finish()?.flush()?;
        summary
    } else {
        let mut file = file;
        let summary = write_session(&mut synth, &mut file)?;
        file.flush()?;
        summary
    };
    let secs = summary.duration_ms as f64 / 1000.0;
    writeln!(
        report,
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
        opts.out.display()
    )?;
    Ok(summary)
}
