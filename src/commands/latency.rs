//! `scalpel latency`: the latency harness.
//!
//! One command, several measured paths, one reporting frame
//! ([`crate::latency`]): raw clock stamps on the measured thread, collection
//! and conversion on another, p50 / p90 / p99 / p99.9 / p99.99 / max per
//! stage, `.hgrm` files, an SVG percentile plot, the machine in the header,
//! and one JSON object as the last stdout line.
//!
//! - `--path decode` (default): decode + apply per frame type
//!   ([`crate::latency::decode`]).
//! - `--path tick-to-trade` and `--path wire` need the trading core, the
//!   network engine and the simulator (issues 9–11): they are refused with
//!   [`LatencyError::NotImplemented`] until those exist.
//!
//! Everything that can be checked before a run is (rounds, output paths,
//! the venue of the file, that it decodes at all), so a long measurement
//! never ends in an argument error.

use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::str::FromStr;

use crate::alloc_count::CountingAlloc;
use crate::event::MarketEvent;
use crate::host::{HostSource, Machine};
use crate::instrument::{InstrumentTable, LoadError};
use crate::json::JsonScratch;
use crate::latency::decode::{self, DecodeReport, DecodeRunError, FrameClass};
use crate::latency::plot::{self, PlotError};
use crate::latency::report::{self, JsonLine, StageStats};
use crate::recording::Recording;
use crate::venue::{DETECT_FRAMES, Decoder, Venue, venue_scores};

/// What `scalpel latency` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LatencyPath {
    /// Decode + apply of every frame, per frame type.
    #[default]
    Decode,
    /// Frame bytes in the receive buffer to signed order bytes, per stage.
    TickToTrade,
    /// Simulator's frame written to the order read back, over loopback TLS.
    Wire,
}

impl LatencyPath {
    /// Every path.
    pub const ALL: [LatencyPath; 3] = [LatencyPath::Decode, LatencyPath::TickToTrade, LatencyPath::Wire];

    /// The name on the command line.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            LatencyPath::Decode => "decode",
            LatencyPath::TickToTrade => "tick-to-trade",
            LatencyPath::Wire => "wire",
        }
    }

    /// What a path still waits for, if it is not implemented.
    #[must_use]
    pub const fn missing(self) -> Option<&'static str> {
        match self {
            LatencyPath::Decode => None,
            LatencyPath::TickToTrade => Some("the trading core's stage-timing hook (issue 9)"),
            LatencyPath::Wire => Some("the network engine and the simulator (issues 10 and 11)"),
        }
    }
}

impl fmt::Display for LatencyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The text named no latency path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown path (expected decode, tick-to-trade or wire)")]
pub struct UnknownPath;

impl FromStr for LatencyPath {
    type Err = UnknownPath;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LatencyPath::ALL.into_iter().find(|p| p.name() == s).ok_or(UnknownPath)
    }
}

/// Options of `scalpel latency`.
#[derive(Debug, Clone)]
pub struct LatencyOptions {
    /// What to measure.
    pub path: LatencyPath,
    /// Wire format of the recording; detected from the file when `None`.
    pub venue: Option<Venue>,
    /// The recording.
    pub input: PathBuf,
    /// Timed replays of the whole file (after one warm-up replay); at least 1.
    pub rounds: u32,
    /// Instruments file; built-in table if none.
    pub instruments: Option<PathBuf>,
    /// Where to write `.hgrm` percentile files, one per stage.
    pub hgrm_dir: Option<PathBuf>,
    /// Where to write the percentile plot (SVG).
    pub plot: Option<PathBuf>,
    /// Logical CPU to pin the measured thread to.
    pub pin: Option<usize>,
}

/// Why the harness could not run.
#[derive(Debug, thiserror::Error)]
pub enum LatencyError {
    /// Reading the recording or writing output failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The instruments could not be loaded.
    #[error("instruments: {0}")]
    Instruments(#[from] LoadError),
    /// `--rounds 0`.
    #[error("--rounds must be at least 1")]
    NoRounds,
    /// The path needs parts of the system that do not exist yet.
    #[error("--path {path} is not implemented yet: it needs {needs}; --path decode is available")]
    NotImplemented {
        /// The path asked for.
        path: LatencyPath,
        /// What it waits for.
        needs: &'static str,
    },
    /// The recording holds no frames.
    #[error("{0}: the recording holds no frames ({1} malformed lines)")]
    Empty(PathBuf, u64),
    /// Neither venue's decoder understands the file.
    #[error(
        "{0}: cannot tell the venue from the first frames (none decodes as binance-usdm or bybit-linear); give --venue"
    )]
    UnknownVenue(PathBuf),
    /// `--venue` names another venue than the file's frames.
    #[error(
        "{path}: --venue {given}, but the file reads as {detected} ({detected_frames} of its first {examined} frames decode as {detected}, {given_frames} as {given})"
    )]
    VenueMismatch {
        /// The file.
        path: PathBuf,
        /// `--venue`.
        given: Venue,
        /// What the frames are.
        detected: Venue,
        /// Frames understood by the detected venue's decoder.
        detected_frames: usize,
        /// Frames understood by the given venue's decoder.
        given_frames: usize,
        /// Frames examined.
        examined: usize,
    },
    /// No frame decoded to market data: the run would time nothing useful.
    #[error(
        "{path}: none of its {frames} frames decodes to {venue} market data ({errors} decode errors, {other} acks or skipped streams); wrong --venue or --instruments?"
    )]
    NothingDecoded {
        /// The file.
        path: PathBuf,
        /// The venue used.
        venue: Venue,
        /// Frames in the file.
        frames: usize,
        /// Frames that failed to decode.
        errors: u64,
        /// Acks, pongs, unknown symbols and streams.
        other: u64,
    },
    /// The plot could not be written (or its name is not `.svg`).
    #[error("{0}")]
    Plot(#[from] PlotError),
    /// `--pin` failed.
    #[error("--pin {0}: {1}")]
    Pin(usize, String),
    /// The measurement itself failed.
    #[error("{0}")]
    Run(#[from] DecodeRunError),
}

/// Checks what can be checked before loading anything.
///
/// # Errors
/// [`LatencyError::NoRounds`], [`LatencyError::NotImplemented`], an
/// `--hgrm-dir` that is a file, a `--plot` not ending in `.svg`.
pub fn validate(opts: &LatencyOptions) -> Result<(), LatencyError> {
    if let Some(needs) = opts.path.missing() {
        return Err(LatencyError::NotImplemented { path: opts.path, needs });
    }
    if opts.rounds == 0 {
        return Err(LatencyError::NoRounds);
    }
    if let Some(dir) = &opts.hgrm_dir {
        report::check_hgrm_dir(dir)?;
    }
    if let Some(plot) = &opts.plot {
        plot::check_plot_path(plot)?;
    }
    Ok(())
}

/// The venue of `rec`: detected from its first frames, and checked against
/// `--venue` when given. Returns it with its instruments.
///
/// # Errors
/// [`LatencyError::UnknownVenue`], [`LatencyError::VenueMismatch`], or the
/// given venue's instruments failing to load.
pub fn resolve_venue(opts: &LatencyOptions, rec: &Recording) -> Result<(Venue, InstrumentTable), LatencyError> {
    let frames: Vec<&[u8]> = rec.iter().take(DETECT_FRAMES).map(|(_, f)| f).collect();
    let mut tables = Vec::new();
    for venue in Venue::ALL {
        match super::instruments::load(opts.instruments.as_deref(), venue) {
            Ok(table) => tables.push((venue, table)),
            // A venue-specific metadata file loads for its own venue only.
            Err(e) if opts.venue == Some(venue) => return Err(e.into()),
            Err(_) => {}
        }
    }
    let refs: Vec<(Venue, &InstrumentTable)> = tables.iter().map(|(v, t)| (*v, t)).collect();
    let scores = venue_scores(&frames, &refs);
    let score = |v: Venue| scores.iter().find(|s| s.0 == v).map_or(0, |s| s.1);
    let detected = scores.iter().filter(|s| s.1 > 0).max_by_key(|s| s.1).map(|s| s.0);
    let venue = match (opts.venue, detected) {
        (Some(given), Some(detected)) if given != detected => {
            return Err(LatencyError::VenueMismatch {
                path: opts.input.clone(),
                given,
                detected,
                detected_frames: score(detected),
                given_frames: score(given),
                examined: frames.len(),
            });
        }
        (Some(given), _) => given,
        (None, Some(detected)) => detected,
        (None, None) => return Err(LatencyError::UnknownVenue(opts.input.clone())),
    };
    let table = tables.into_iter().find(|(v, _)| *v == venue).map(|(_, t)| t);
    match table {
        Some(t) => Ok((venue, t)),
        None => Ok((venue, super::instruments::load(opts.instruments.as_deref(), venue)?)),
    }
}

/// A decoder for `venue` whose symbol-less snapshots (Binance REST) go to
/// the file's depth symbol.
fn decoder_for(venue: Venue, table: &InstrumentTable, rec: &Recording) -> Decoder {
    let mut decoder = Decoder::new(venue, table);
    let ids: Vec<_> = decoder.symbols().entries().iter().map(|e| e.id).collect();
    if let [only] = ids.as_slice() {
        decoder.set_snapshot_instrument(Some(*only));
        return decoder;
    }
    let mut probe = JsonScratch::default();
    let mut buf = Vec::new();
    for (_, frame) in rec.iter() {
        buf.clear();
        buf.extend_from_slice(frame);
        let inst = decoder.decode_frame(&mut probe, &mut buf, |e| match e {
            Ok(MarketEvent::Depth(d)) => Some(d.inst),
            _ => None,
        });
        if inst.is_some() {
            decoder.set_snapshot_instrument(inst);
            break;
        }
    }
    decoder
}

/// What a run measured, for callers that want more than the printout.
pub struct LatencyOutcome {
    /// The venue measured.
    pub venue: Venue,
    /// The machine it ran on.
    pub machine: Machine,
    /// The decode path's results.
    pub decode: DecodeReport,
    /// Malformed recording lines skipped.
    pub bad_lines: u64,
    /// The final JSON line.
    pub json: String,
}

/// Runs the harness and prints the report, the JSON line last, to `out`.
///
/// # Errors
/// See [`LatencyError`].
pub fn run(opts: &LatencyOptions, out: &mut impl Write, alloc: &CountingAlloc) -> Result<LatencyOutcome, LatencyError> {
    validate(opts)?;
    let rec = Recording::load(&opts.input)?;
    if rec.is_empty() {
        return Err(LatencyError::Empty(opts.input.clone(), rec.bad_lines()));
    }
    let (venue, table) = resolve_venue(opts, &rec)?;
    let decoder = decoder_for(venue, &table, &rec);
    let entries = decoder.symbols().entries().to_vec();
    let info = decode::survey(&decoder, &rec);
    let count = |c: FrameClass| info.iter().filter(|i| i.class == c).count() as u64;
    if !info.iter().any(|i| i.class.is_market_data()) {
        return Err(LatencyError::NothingDecoded {
            path: opts.input.clone(),
            venue,
            frames: rec.len(),
            errors: count(FrameClass::Error),
            other: count(FrameClass::Other),
        });
    }
    if let Some(cpu) = opts.pin {
        crate::latency::pin_current_thread(cpu).map_err(|e| LatencyError::Pin(cpu, e))?;
    }
    let machine = Machine::read(&HostSource::live(), opts.pin);
    // With the measured thread pinned, the collector goes to another CPU
    // (the last online one that is not it), so it never preempts it.
    let collector_cpu = opts.pin.and_then(|p| machine.online.iter().rev().copied().find(|&c| c != p));
    let setup = decode::DecodeSetup {
        venue,
        decoder: &decoder,
        entries: &entries,
        rec: &rec,
        rounds: opts.rounds,
        collector_cpu,
    };
    let report = decode::measure(&setup, info, alloc)?;
    let json = print_decode(opts, venue, &machine, rec.bad_lines(), &report, out)?;
    Ok(LatencyOutcome { venue, machine, decode: report, bad_lines: rec.bad_lines(), json })
}

fn pinned(opts: &LatencyOptions, r: &DecodeReport) -> String {
    let Some(cpu) = opts.pin else {
        return "measured thread not pinned (--pin CPU)".to_owned();
    };
    match (&r.collector_cpu, &r.collected.pin_error) {
        (_, Some(e)) => format!("measured thread pinned to CPU {cpu}, collector not pinned ({e})"),
        (Some(c), None) => format!("measured thread pinned to CPU {cpu}, collector to CPU {c}"),
        (None, None) => format!("measured thread pinned to CPU {cpu}, collector shares it (no other CPU online)"),
    }
}

/// Prints the decode path's report and writes its files; returns the JSON
/// line.
fn print_decode(
    opts: &LatencyOptions,
    venue: Venue,
    machine: &Machine,
    bad_lines: u64,
    r: &DecodeReport,
    out: &mut impl Write,
) -> Result<String, LatencyError> {
    let c = &r.collected;
    writeln!(
        out,
        "{} frames of {venue} x {} rounds (decode + apply, per-frame clock reads included; timer overhead {} ns)",
        r.frames, r.rounds, r.timer_overhead_ns
    )?;
    writeln!(out, "input: {} ({bad_lines} malformed lines skipped)", opts.input.display())?;
    writeln!(out, "machine: {}; {}", machine.summary(), pinned(opts, r))?;
    writeln!(
        out,
        "samples: {} collected off the measured thread, {} dropped (ring full), {} with a clock running backwards{}",
        c.events,
        c.dropped,
        c.backwards,
        if r.drained_between_rounds { "" } else { "; the collector fell behind between rounds" }
    )?;
    let stats = c.histograms.stats();
    let (classes, buckets): (Vec<StageStats>, Vec<StageStats>) =
        stats.iter().cloned().partition(|s| FrameClass::ALL.iter().any(|fc| fc.name() == s.name));
    report::write_table(out, "frame", &classes)?;
    let fit = r.depth_fit();
    let fastest = r.fastest_rounds(FrameClass::Depth);
    if !buckets.is_empty() {
        writeln!(out, "depth diffs by level count (bids + asks):")?;
        report::write_table(out, "levels", &buckets)?;
    }
    let levels = r.depth_level_counts();
    let level_at =
        |q: f64| levels.get(((levels.len() as f64 * q) as usize).min(levels.len().saturating_sub(1))).copied();
    if let (Some(p50), Some(p90), Some(p99), Some(p999), Some(max)) =
        (level_at(0.5), level_at(0.9), level_at(0.99), level_at(0.999), levels.last())
    {
        writeln!(out, "depth diffs' level counts: p50 {p50} p90 {p90} p99 {p99} p99.9 {p999} max {max}")?;
    }
    if let Some(f) = fit {
        writeln!(
            out,
            "depth cost: {:.0} ns + {:.1} ns per level (least squares over each of {} diffs' fastest round)",
            f.fixed_ns, f.per_level_ns, f.frames
        )?;
    }
    if !fastest.is_empty() {
        let all = c.histograms.by_name(FrameClass::Depth.name());
        let all_p = |q: f64| all.map_or(0, |h| h.value_at_quantile(q));
        writeln!(
            out,
            "depth, each diff's fastest round: p50 {} p99 {} p99.9 {} max {} ns (all rounds: p50 {} p99 {} p99.9 {} ns)",
            fastest.value_at_quantile(0.5),
            fastest.value_at_quantile(0.99),
            fastest.value_at_quantile(0.999),
            fastest.max(),
            all_p(0.5),
            all_p(0.99),
            all_p(0.999)
        )?;
    }
    writeln!(
        out,
        "throughput {:.0} frames/s, {} allocations per frame, {} frames per round on the simd-json fallback",
        r.throughput_fps, r.allocs_per_frame, r.fallback_frames_per_round
    )?;
    if let Some(dir) = &opts.hgrm_dir {
        let written = report::write_hgrm_files(dir, venue.name(), &c.histograms)?;
        writeln!(out, "wrote {} .hgrm files to {}", written.len(), dir.display())?;
    }
    if let Some(path) = &opts.plot {
        let series: Vec<(&str, &hdrhistogram::Histogram<u64>)> = c.histograms.non_empty().collect();
        plot::write_percentile_svg(
            path,
            &format!("scalpel latency --path decode, {venue}: decode + apply per frame"),
            &series,
        )?;
        writeln!(out, "wrote the percentile plot to {}", path.display())?;
    }

    let p50 = |name: &str| stats.iter().find(|s| s.name == name).map(|s| s.p50);
    let mut json = JsonLine::new();
    json.str("path", LatencyPath::Decode.name()).str("venue", venue.name()).u64("frames", r.frames as u64);
    json.u64("rounds", u64::from(r.rounds));
    for (class, key) in [(FrameClass::Depth, "depth"), (FrameClass::Top, "top"), (FrameClass::Trade, "trade")] {
        json.opt_u64(&format!("{key}_decode_apply_p50_ns"), p50(class.name()));
    }
    for s in &stats {
        json.raw(&s.name, &s.json_object());
    }
    for s in &stats {
        json.u64(&format!("{}_p50_ns", s.name), s.p50);
    }
    json.f64("throughput_fps", r.throughput_fps, 0);
    json.num("allocs_per_frame", r.allocs_per_frame).num("allocs_per_event", r.allocs_per_frame);
    json.u64("timer_overhead_ns", r.timer_overhead_ns);
    json.u64("fallback_frames_per_round", r.fallback_frames_per_round);
    match fit {
        Some(f) => json.f64("depth_fit_fixed_ns", f.fixed_ns, 1).f64("depth_fit_ns_per_level", f.per_level_ns, 2),
        None => json.raw("depth_fit_fixed_ns", "null").raw("depth_fit_ns_per_level", "null"),
    };
    if !fastest.is_empty() {
        json.u64("depth_fastest_round_p50_ns", fastest.value_at_quantile(0.5));
        json.u64("depth_fastest_round_p99_ns", fastest.value_at_quantile(0.99));
        json.u64("depth_fastest_round_p999_ns", fastest.value_at_quantile(0.999));
    }
    json.opt_u64("depth_levels_p50", level_at(0.5).map(u64::from));
    json.opt_u64("depth_levels_p99", level_at(0.99).map(u64::from));
    json.opt_u64("depth_levels_p999", level_at(0.999).map(u64::from));
    json.u64("samples", c.events).u64("samples_dropped", c.dropped).u64("clock_backwards", c.backwards);
    json.u64("bad_lines", bad_lines);
    json.opt_u64("pinned_cpu", opts.pin.map(|c| c as u64));
    json.opt_u64("collector_cpu", r.collector_cpu.filter(|_| c.pin_error.is_none()).map(|c| c as u64));
    json.raw("machine", &machine.json());
    let line = json.finish();
    writeln!(out, "{line}")?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_and_the_later_ones_are_refused_before_any_work() {
        assert_eq!("decode".parse(), Ok(LatencyPath::Decode));
        assert_eq!("tick-to-trade".parse(), Ok(LatencyPath::TickToTrade));
        assert_eq!("wire".parse(), Ok(LatencyPath::Wire));
        assert_eq!("tick".parse::<LatencyPath>(), Err(UnknownPath));
        let opts = |path, rounds| LatencyOptions {
            path,
            venue: None,
            input: PathBuf::from("/nonexistent"),
            rounds,
            instruments: None,
            hgrm_dir: None,
            plot: None,
            pin: None,
        };
        for path in [LatencyPath::TickToTrade, LatencyPath::Wire] {
            let err = validate(&opts(path, 5)).unwrap_err();
            assert!(matches!(err, LatencyError::NotImplemented { .. }), "{err}");
            assert!(err.to_string().contains("is not implemented yet"));
        }
        assert!(matches!(validate(&opts(LatencyPath::Decode, 0)), Err(LatencyError::NoRounds)));
        let mut o = opts(LatencyPath::Decode, 1);
        o.plot = Some(PathBuf::from("out.png"));
        assert!(matches!(validate(&o), Err(LatencyError::Plot(PlotError::NotSvg(_)))));
        assert!(validate(&opts(LatencyPath::Decode, 1)).is_ok());
    }
}
