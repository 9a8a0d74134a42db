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
//! - `--path tick-to-trade`: frame bytes through the trading core to signed
//!   order bytes in the send buffer, per stage
//!   ([`crate::latency::tick_to_trade`]), with the latency profile
//!   (`tuning/latency.toml`).
//! - `--path wire`: the live engine against the simulator over loopback TLS
//!   for `--duration`, wire-to-wire from the simulator's stamps, and the
//!   loopback floor measured in the same run ([`super::latency_wire`]).
//!
//! Without `--input` a synthetic session (`scalpel synth`'s generator) is
//! generated in process and replayed instead (served by the simulator,
//! for `--path wire`).
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
use crate::latency::tick_to_trade::{self, KeyKind, TickError, TickReport, Transport};
use crate::profile::Profile;
use crate::recording::Recording;
use crate::synth::{Synth, SynthConfig, SynthError};
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
    /// Wire format of the recording; detected from the file when `None`
    /// (the synthetic session's venue without `--input`: Binance by default).
    pub venue: Option<Venue>,
    /// The recording; a synthetic session generated in process when `None`.
    pub input: Option<PathBuf>,
    /// Length of the synthetic session, s (without `--input`).
    pub synth_secs: Option<f64>,
    /// Seed of the synthetic session (without `--input`).
    pub synth_seed: Option<u64>,
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
    /// Order transport of `--path tick-to-trade` (WebSocket by default).
    pub transport: Option<Transport>,
    /// Key type of `--path tick-to-trade` (HMAC by default).
    pub key: Option<KeyKind>,
    /// Profile of `--path tick-to-trade` and `--path wire` (default:
    /// `tuning/latency.toml` under the working directory, else the
    /// built-in copy).
    pub config: Option<PathBuf>,
    /// Seconds of trading of `--path wire` (default
    /// [`super::latency_wire::DEFAULT_DURATION_S`]).
    pub duration_s: Option<f64>,
    /// `--path wire`: the engine's hot thread polls with a zero timeout
    /// (default: when it is pinned, as `scalpel demo`).
    pub busy_poll: Option<bool>,
    /// The engine's hooks (`--path wire`: the hot thread's allocation count).
    pub hooks: crate::engine::Hooks,
}

impl LatencyOptions {
    /// `path` with every option at its default (a synthetic session, 5
    /// rounds, nothing written).
    #[must_use]
    pub fn new(path: LatencyPath) -> Self {
        Self {
            path,
            venue: None,
            input: None,
            synth_secs: None,
            synth_seed: None,
            rounds: 5,
            instruments: None,
            hgrm_dir: None,
            plot: None,
            pin: None,
            transport: None,
            key: None,
            config: None,
            duration_s: None,
            busy_poll: None,
            hooks: crate::engine::Hooks::default(),
        }
    }
}

/// Length of the synthetic session generated without `--input`, s.
pub const DEFAULT_SYNTH_SECS: f64 = 120.0;
/// Seed of the synthetic session generated without `--input`.
pub const DEFAULT_SYNTH_SEED: u64 = 42;
/// Longest synthetic session (it is held in memory: ~280 MB per hour of
/// Binance BTCUSDT).
pub const MAX_SYNTH_SECS: f64 = 3600.0;

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
    /// The wire path's session or floor failed, or measured nothing.
    #[error("--path wire: {0}")]
    Wire(String),
    /// An option that only `--path wire` takes.
    #[error("{0} applies to --path wire only")]
    WireOnly(&'static str),
    /// An option `--path wire` does not take.
    #[error("{0} does not apply to --path wire ({1})")]
    NotForWire(&'static str, &'static str),
    /// `--duration` not a positive number of seconds.
    #[error("--duration must be a positive number of seconds")]
    Duration,
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
    /// The tick-to-trade path failed (or found nothing to time).
    #[error("--path tick-to-trade: {0}")]
    Tick(#[from] TickError),
    /// An option that only `--path tick-to-trade` takes.
    #[error("{0} applies to --path tick-to-trade only")]
    TickOnly(&'static str),
    /// `--instruments` with `--path tick-to-trade`.
    #[error(
        "--instruments: --path tick-to-trade trades the instruments of its profile's [instruments] table (give another profile with --config)"
    )]
    InstrumentsWithProfile,
    /// A `--synth-*` option together with `--input`.
    #[error("{0} applies only without --input (to the synthetic session generated in process)")]
    SynthWithInput(&'static str),
    /// A synthetic session length out of range.
    #[error("--synth-secs must be more than 0 and at most {MAX_SYNTH_SECS} (the session is held in memory)")]
    SynthSecs,
    /// The synthetic session could not be generated.
    #[error("synthetic session: {0}")]
    Synth(#[from] SynthError),
}

/// Checks what can be checked before loading anything.
///
/// # Errors
/// [`LatencyError::NoRounds`], an option given to a path that does not
/// take it, an `--hgrm-dir` that is a file, a `--plot` not ending in `.svg`.
pub fn validate(opts: &LatencyOptions) -> Result<(), LatencyError> {
    if opts.rounds == 0 {
        return Err(LatencyError::NoRounds);
    }
    if opts.path == LatencyPath::Wire {
        if opts.instruments.is_some() {
            return Err(LatencyError::NotForWire("--instruments", "the engine trades its profile's instruments"));
        }
        if opts.synth_secs.is_some() {
            return Err(LatencyError::NotForWire("--synth-secs", "the session lasts --duration"));
        }
        if opts.duration_s.is_some_and(|d| !(d.is_finite() && d > 0.0)) {
            return Err(LatencyError::Duration);
        }
    } else {
        if opts.duration_s.is_some() {
            return Err(LatencyError::WireOnly("--duration"));
        }
        if opts.busy_poll.is_some() {
            return Err(LatencyError::WireOnly("--busy-poll"));
        }
    }
    if opts.path != LatencyPath::TickToTrade {
        for (given, name) in [
            (opts.transport.is_some(), "--transport"),
            (opts.key.is_some(), "--key"),
            (opts.config.is_some() && opts.path != LatencyPath::Wire, "--config"),
        ] {
            if given {
                return Err(LatencyError::TickOnly(name));
            }
        }
    } else if opts.instruments.is_some() {
        return Err(LatencyError::InstrumentsWithProfile);
    }
    if opts.input.is_some() {
        if opts.synth_secs.is_some() {
            return Err(LatencyError::SynthWithInput("--synth-secs"));
        }
        if opts.synth_seed.is_some() {
            return Err(LatencyError::SynthWithInput("--synth-seed"));
        }
    }
    if let Some(secs) = opts.synth_secs {
        if !(secs > 0.0 && secs <= MAX_SYNTH_SECS) {
            return Err(LatencyError::SynthSecs);
        }
    }
    if opts.key == Some(KeyKind::Ed25519) && opts.venue == Some(Venue::BybitLinear) {
        return Err(LatencyError::Tick(TickError::Ed25519OnBybit));
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
pub fn resolve_venue(
    opts: &LatencyOptions,
    input: &std::path::Path,
    rec: &Recording,
) -> Result<(Venue, InstrumentTable), LatencyError> {
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
                path: input.to_path_buf(),
                given,
                detected,
                detected_frames: score(detected),
                given_frames: score(given),
                examined: frames.len(),
            });
        }
        (Some(given), _) => given,
        (None, Some(detected)) => detected,
        (None, None) => return Err(LatencyError::UnknownVenue(input.to_path_buf())),
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
    /// The decode path's results (`--path decode`).
    pub decode: Option<DecodeReport>,
    /// The tick-to-trade path's results (`--path tick-to-trade`).
    pub tick: Option<TickReport>,
    /// Malformed recording lines skipped.
    pub bad_lines: u64,
    /// The final JSON line.
    pub json: String,
}

/// The recording to replay and how to name it: the `--input` file, or a
/// synthetic session generated in process.
fn load_input(opts: &LatencyOptions) -> Result<(Recording, PathBuf), LatencyError> {
    if let Some(path) = &opts.input {
        return Ok((Recording::load(path)?, path.clone()));
    }
    let venue = opts.venue.unwrap_or(Venue::BinanceUsdm);
    let symbol = crate::instrument::Symbol::new(b"BTCUSDT").unwrap_or_else(|_| unreachable!("a valid symbol"));
    let seed = opts.synth_seed.unwrap_or(DEFAULT_SYNTH_SEED);
    let secs = opts.synth_secs.unwrap_or(DEFAULT_SYNTH_SECS);
    let config = SynthConfig::built_in(venue, symbol, seed, secs)?;
    let rec = Synth::new(&config)?.into_recording();
    let label = format!("synthetic {venue} BTCUSDT session, seed {seed}, {secs} s, generated in process");
    Ok((rec, PathBuf::from(label)))
}

/// The tick-to-trade profile: `--config`, else `tuning/latency.toml` under
/// the working directory, else the built-in copy; with its label.
fn load_profile(opts: &LatencyOptions) -> Result<(Profile, String), LatencyError> {
    if let Some(path) = &opts.config {
        return Ok((Profile::from_file(path)?, path.display().to_string()));
    }
    let local = std::path::Path::new("tuning/latency.toml");
    if local.is_file() {
        return Ok((Profile::from_file(local)?, local.display().to_string()));
    }
    let profile = Profile::from_toml_str(tick_to_trade::BUILT_IN_PROFILE, std::path::Path::new("."))?;
    Ok((profile, "built-in tuning/latency.toml".to_owned()))
}

/// Runs the harness and prints the report, the JSON line last, to `out`.
///
/// # Errors
/// See [`LatencyError`].
pub fn run(opts: &LatencyOptions, out: &mut impl Write, alloc: &CountingAlloc) -> Result<LatencyOutcome, LatencyError> {
    validate(opts)?;
    if opts.path == LatencyPath::Wire {
        let json = super::latency_wire::run(opts, out, &mut io::stderr().lock())?;
        return Ok(LatencyOutcome {
            venue: opts.venue.unwrap_or(Venue::BinanceUsdm),
            machine: Machine::read(&HostSource::live(), opts.pin),
            decode: None,
            tick: None,
            bad_lines: 0,
            json,
        });
    }
    let (rec, input) = load_input(opts)?;
    if rec.is_empty() {
        return Err(LatencyError::Empty(input, rec.bad_lines()));
    }
    let (venue, table) = resolve_venue(opts, &input, &rec)?;
    if opts.key == Some(KeyKind::Ed25519) && venue == Venue::BybitLinear {
        return Err(LatencyError::Tick(TickError::Ed25519OnBybit));
    }
    let profile = match opts.path {
        LatencyPath::TickToTrade => Some(load_profile(opts)?),
        _ => None,
    };
    // Tick-to-trade decodes with its profile's instruments (as its core does).
    let table = profile.as_ref().map_or(table, |(p, _)| p.instruments.clone());
    let decoder = decoder_for(venue, &table, &rec);
    let entries = decoder.symbols().entries().to_vec();
    let info = decode::survey(&decoder, &rec);
    let count = |c: FrameClass| info.iter().filter(|i| i.class == c).count() as u64;
    if !info.iter().any(|i| i.class.is_market_data()) {
        return Err(LatencyError::NothingDecoded {
            path: input,
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
    let header = Header { opts, input: &input, venue, machine: &machine, bad_lines: rec.bad_lines() };
    if let Some((profile, label)) = &profile {
        let setup = tick_to_trade::TickSetup {
            venue,
            profile,
            rec: &rec,
            info: &info,
            rounds: opts.rounds,
            collector_cpu,
            transport: opts.transport.unwrap_or_default(),
            key: opts.key.unwrap_or_default(),
        };
        let report = tick_to_trade::measure(&setup, alloc)?;
        let json = print_tick(&header, label, &setup, &report, out)?;
        return Ok(LatencyOutcome {
            venue,
            machine,
            decode: None,
            tick: Some(report),
            bad_lines: rec.bad_lines(),
            json,
        });
    }
    let setup = decode::DecodeSetup {
        venue,
        decoder: &decoder,
        entries: &entries,
        rec: &rec,
        rounds: opts.rounds,
        collector_cpu,
    };
    let report = decode::measure(&setup, info, alloc)?;
    let json = print_decode(&header, &report, out)?;
    Ok(LatencyOutcome { venue, machine, decode: Some(report), tick: None, bad_lines: rec.bad_lines(), json })
}

/// What every report's header says.
struct Header<'a> {
    opts: &'a LatencyOptions,
    input: &'a std::path::Path,
    venue: Venue,
    machine: &'a Machine,
    bad_lines: u64,
}

fn pinned(opts: &LatencyOptions, collector_cpu: Option<usize>, pin_error: Option<&String>) -> String {
    let Some(cpu) = opts.pin else {
        return "measured thread not pinned (--pin CPU)".to_owned();
    };
    match (&collector_cpu, pin_error) {
        (_, Some(e)) => format!("measured thread pinned to CPU {cpu}, collector not pinned ({e})"),
        (Some(c), None) => format!("measured thread pinned to CPU {cpu}, collector to CPU {c}"),
        (None, None) => format!("measured thread pinned to CPU {cpu}, collector shares it (no other CPU online)"),
    }
}

/// Prints the decode path's report and writes its files; returns the JSON
/// line.
fn print_decode(h: &Header<'_>, r: &DecodeReport, out: &mut impl Write) -> Result<String, LatencyError> {
    let Header { opts, venue, machine, bad_lines, .. } = *h;
    let c = &r.collected;
    writeln!(
        out,
        "{} frames of {venue} x {} rounds (decode + apply, per-frame clock reads included; timer overhead {} ns)",
        r.frames, r.rounds, r.timer_overhead_ns
    )?;
    writeln!(out, "input: {} ({bad_lines} malformed lines skipped)", h.input.display())?;
    writeln!(out, "machine: {}; {}", machine.summary(), pinned(opts, r.collector_cpu, c.pin_error.as_ref()))?;
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

/// Prints the tick-to-trade path's report and writes its files; returns
/// the JSON line.
fn print_tick(
    h: &Header<'_>,
    profile: &str,
    setup: &tick_to_trade::TickSetup<'_>,
    r: &TickReport,
    out: &mut impl Write,
) -> Result<String, LatencyError> {
    let Header { opts, venue, machine, bad_lines, .. } = *h;
    let c = &r.collected;
    let counts = &r.counts;
    let session = match (setup.transport, setup.key, venue) {
        (Transport::Ws, KeyKind::Ed25519, _) => {
            " (WebSocket API session logged on with session.logon: orders unsigned)"
        }
        (Transport::Ws, _, Venue::BybitLinear) => " (trade stream authenticated once: orders unsigned)",
        (Transport::Ws, KeyKind::Hmac, _) => " (every order HMAC-signed)",
        (Transport::Rest, KeyKind::Ed25519, _) => " (every request Ed25519-signed)",
        (Transport::Rest, KeyKind::Hmac, _) => " (every request HMAC-signed)",
    };
    writeln!(
        out,
        "{} frames of {venue} x {} rounds x 2 passes: tick-to-trade through the trading core, frame bytes in the receive buffer -> signed order bytes in the send buffer; orders over {}, {} key{session}",
        r.frames,
        r.rounds,
        match setup.transport {
            Transport::Ws => "the order WebSocket",
            Transport::Rest => "REST",
        },
        setup.key
    )?;
    writeln!(out, "input: {} ({bad_lines} malformed lines skipped)", h.input.display())?;
    writeln!(out, "profile: {profile}")?;
    writeln!(out, "machine: {}; {}", machine.summary(), pinned(opts, r.collector_cpu, c.pin_error.as_ref()))?;
    writeln!(
        out,
        "samples: {} collected off the measured thread, {} dropped (ring full), {} with a clock running backwards{}{}",
        c.events,
        c.dropped,
        c.backwards,
        if c.attribution.truncated > 0 {
            format!(", {} staged frames with too many stage boundaries (whole only)", c.attribution.truncated)
        } else {
            String::new()
        },
        if r.drained_between_passes { "" } else { "; the collector fell behind between passes" }
    )?;
    let pct = |a: u64, b: u64| if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 };
    let by_group: Vec<String> = tick_to_trade::GROUPS
        .iter()
        .enumerate()
        .filter(|&(g, _)| counts.frames[g] > 0)
        .map(|(g, name)| {
            format!(
                "{name} {}/{} ({:.1}%)",
                counts.orders[g],
                counts.frames[g],
                pct(counts.orders[g], counts.frames[g])
            )
        })
        .collect();
    writeln!(
        out,
        "orders: {} of {} frames ended with a signed order in the send buffer ({:.2}%): {}; {} orders, {} cancels per pass; {}",
        counts.order_frames(),
        counts.total_frames(),
        pct(counts.order_frames(), counts.total_frames()),
        by_group.join(", "),
        counts.orders_placed,
        counts.cancels,
        if r.deterministic {
            "every pass placed the same orders on the same frames"
        } else {
            "PASSES DIFFERED (the core should be deterministic: a bug)"
        }
    )?;
    let stats = c.histograms.stats();
    let stage_rows: Vec<StageStats> = stats
        .iter()
        .filter(|s| tick_to_trade::STAGE_NAMES[..=tick_to_trade::TICK_TO_TRADE].contains(&s.name.as_str()))
        .filter(|s| s.name != "tick_to_trade")
        .chain(stats.iter().filter(|s| s.name == "tick_to_trade_staged"))
        .cloned()
        .collect();
    writeln!(
        out,
        "per stage, frames that ended with an order (a clock read at every stage boundary, included in each figure):"
    )?;
    report::write_table(out, "stage", &stage_rows)?;
    let whole_rows: Vec<StageStats> = stats
        .iter()
        .filter(|s| {
            (s.name.starts_with("tick_to_trade") && s.name != "tick_to_trade_staged") || s.name.starts_with("no_order")
        })
        .cloned()
        .collect();
    writeln!(
        out,
        "whole frame, two clock reads (tick_to_trade*: frames that ended with an order, by what triggered it; no_order*: the others, frame -> core returned):"
    )?;
    report::write_table(out, "path", &whole_rows)?;
    let orders = counts.orders_placed + counts.cancels;
    writeln!(
        out,
        "timer overhead {} ns per clock-read pair (in every figure, not subtracted); {} allocations per frame on the measured thread; {} risk records per pass, {} lost; {:.0} bytes per request in the send buffer",
        r.timer_overhead_ns,
        r.allocs_per_event,
        counts.risk_inputs,
        r.risk_lost,
        if orders == 0 { 0.0 } else { counts.bytes as f64 / orders as f64 }
    )?;
    if let Some(dir) = &opts.hgrm_dir {
        let prefix = format!("{venue}-tick-to-trade");
        let written = report::write_hgrm_files(dir, &prefix, &c.histograms)?;
        writeln!(out, "wrote {} .hgrm files to {}", written.len(), dir.display())?;
    }
    if let Some(path) = &opts.plot {
        let series: Vec<(&str, &hdrhistogram::Histogram<u64>)> = c
            .histograms
            .non_empty()
            .filter(|(name, _)| {
                tick_to_trade::STAGE_NAMES[..=tick_to_trade::TICK_TO_TRADE].contains(name)
                    || *name == "tick_to_trade_top"
            })
            .collect();
        plot::write_percentile_svg(
            path,
            &format!("scalpel latency --path tick-to-trade, {venue}, {} {}", setup.transport, setup.key),
            &series,
        )?;
        writeln!(out, "wrote the percentile plot to {}", path.display())?;
    }

    let get = |name: &str| stats.iter().find(|s| s.name == name);
    let mut json = JsonLine::new();
    json.str("path", LatencyPath::TickToTrade.name()).str("venue", venue.name());
    json.str("transport", setup.transport.name()).str("key", setup.key.name());
    json.u64("frames", r.frames as u64).u64("rounds", u64::from(r.rounds)).u64("passes_per_round", 2);
    for (prefix, name) in [("tick_to_trade", "tick_to_trade"), ("tick_to_trade_top", "tick_to_trade_top")] {
        let s = get(name);
        json.opt_u64(&format!("{prefix}_p50_ns"), s.map(|s| s.p50));
        json.opt_u64(&format!("{prefix}_p99_ns"), s.map(|s| s.p99));
        json.opt_u64(&format!("{prefix}_p999_ns"), s.map(|s| s.p999));
    }
    // The per-stage medians (the two headline stages are written above).
    for s in stats.iter().filter(|s| s.name != "tick_to_trade" && s.name != "tick_to_trade_top") {
        json.u64(&format!("{}_p50_ns", s.name), s.p50);
    }
    for s in &stats {
        json.raw(&s.name, &s.json_object());
    }
    json.u64("order_frames", counts.order_frames()).u64("orders_placed", counts.orders_placed);
    json.u64("cancels", counts.cancels);
    json.f64("fire_share", pct(counts.order_frames(), counts.total_frames()) / 100.0, 6);
    for (g, name) in tick_to_trade::GROUPS.iter().enumerate() {
        json.u64(&format!("{name}_frames"), counts.frames[g]).u64(&format!("{name}_order_frames"), counts.orders[g]);
    }
    json.bool("deterministic", r.deterministic);
    json.num("allocs_per_event", r.allocs_per_event).num("allocs_per_frame", r.allocs_per_event);
    json.u64("timer_overhead_ns", r.timer_overhead_ns);
    json.u64("risk_records_per_pass", counts.risk_inputs).u64("risk_records_lost", r.risk_lost);
    json.u64("request_bytes_per_pass", counts.bytes);
    json.u64("samples", c.events).u64("samples_dropped", c.dropped).u64("clock_backwards", c.backwards);
    json.u64("staged_truncated", c.attribution.truncated);
    json.u64("bad_lines", bad_lines);
    json.str("profile", profile);
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
    fn paths_parse_and_bad_combinations_are_refused_before_any_work() {
        assert_eq!("decode".parse(), Ok(LatencyPath::Decode));
        assert_eq!("tick-to-trade".parse(), Ok(LatencyPath::TickToTrade));
        assert_eq!("wire".parse(), Ok(LatencyPath::Wire));
        assert_eq!("tick".parse::<LatencyPath>(), Err(UnknownPath));
        let opts = |path, rounds| LatencyOptions {
            input: Some(PathBuf::from("/nonexistent")),
            rounds,
            ..LatencyOptions::new(path)
        };
        assert!(validate(&opts(LatencyPath::Wire, 5)).is_ok());
        let mut o = opts(LatencyPath::Wire, 1);
        (o.config, o.duration_s, o.busy_poll) = (Some(PathBuf::from("p.toml")), Some(3.0), Some(true));
        assert!(validate(&o).is_ok(), "--config, --duration and --busy-poll are the wire path's");
        o.duration_s = Some(0.0);
        assert!(matches!(validate(&o), Err(LatencyError::Duration)));
        let mut o = opts(LatencyPath::Wire, 1);
        o.instruments = Some(PathBuf::from("i.toml"));
        assert!(matches!(validate(&o), Err(LatencyError::NotForWire("--instruments", _))));
        let mut o = opts(LatencyPath::Wire, 1);
        o.transport = Some(Transport::Rest);
        assert!(matches!(validate(&o), Err(LatencyError::TickOnly("--transport"))));
        let mut o = opts(LatencyPath::Decode, 1);
        o.duration_s = Some(3.0);
        assert!(matches!(validate(&o), Err(LatencyError::WireOnly("--duration"))));
        let mut o = opts(LatencyPath::TickToTrade, 1);
        o.busy_poll = Some(true);
        assert!(matches!(validate(&o), Err(LatencyError::WireOnly("--busy-poll"))));
        let mut o = opts(LatencyPath::Decode, 1);
        o.config = Some(PathBuf::from("p.toml"));
        assert!(matches!(validate(&o), Err(LatencyError::TickOnly("--config"))));
        assert!(validate(&opts(LatencyPath::TickToTrade, 5)).is_ok());
        let mut o = opts(LatencyPath::Decode, 1);
        o.transport = Some(Transport::Rest);
        assert!(matches!(validate(&o), Err(LatencyError::TickOnly("--transport"))));
        let mut o = opts(LatencyPath::TickToTrade, 1);
        o.instruments = Some(PathBuf::from("x.toml"));
        assert!(matches!(validate(&o), Err(LatencyError::InstrumentsWithProfile)));
        let mut o = opts(LatencyPath::TickToTrade, 1);
        o.synth_secs = Some(10.0);
        assert!(matches!(validate(&o), Err(LatencyError::SynthWithInput("--synth-secs"))));
        o.input = None;
        assert!(validate(&o).is_ok());
        o.synth_secs = Some(0.0);
        assert!(matches!(validate(&o), Err(LatencyError::SynthSecs)));
        let mut o = opts(LatencyPath::TickToTrade, 1);
        (o.venue, o.key) = (Some(Venue::BybitLinear), Some(KeyKind::Ed25519));
        assert!(matches!(validate(&o), Err(LatencyError::Tick(TickError::Ed25519OnBybit))));
        assert!(matches!(validate(&opts(LatencyPath::Decode, 0)), Err(LatencyError::NoRounds)));
        let mut o = opts(LatencyPath::Decode, 1);
        o.plot = Some(PathBuf::from("out.png"));
        assert!(matches!(validate(&o), Err(LatencyError::Plot(PlotError::NotSvg(_)))));
        assert!(validate(&opts(LatencyPath::Decode, 1)).is_ok());
    }
}
