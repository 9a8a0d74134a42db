//! `scalpel book`: rebuild order books from recorded frames and print them.
//!
//! Output, one JSON line on stdout after every applied depth update or
//! snapshot (the external correctness check depends on this exact shape):
//!
//! ```text
//! {"symbol":"BTCUSDT","u":5123107853551,"bids":[["61800.2","2.909"],…],"asks":[["61800.3","1.072"],…]}
//! ```
//!
//! best level first, the top `depth` levels per side, canonical decimal
//! strings, `u` the update id of the frame just applied (Binance `u` or
//! `lastUpdateId` for a snapshot, Bybit `u`). Resyncs, decode errors and a
//! closing summary go to stderr.
//!
//! The recording is read twice. First a [`Survey`] of its frames, with no
//! instrument: the venue whose wire format it is (refusing a `--venue` that
//! says otherwise), the symbols it carries order-book data for (refusing a
//! `--symbol` it does not carry, so that no book is ever invented for it),
//! and, for a symbol the instrument table lacks, the scales its frames are
//! written at (said once on stderr; [`crate::venue::infer`]). Then the
//! replay. A file with no frame, no order-book data, or from which no book
//! could be published is an error, never an empty success.

use std::io::{self, BufRead, Write};
use std::path::PathBuf;

use crate::book::{Book, DEFAULT_LEVELS};
use crate::event::{InstrumentId, MarketEvent};
use crate::fixed::Price;
use crate::instrument::{InstrumentTable, LoadError, Symbol, SymbolTable};
use crate::json::JsonScratch;
use crate::recording::{self, FrameReader, ReadItem};
use crate::venue::infer::{InferError, Survey};
use crate::venue::sync::{SyncOutcome, SyncStats};
use crate::venue::{BookSync, Decoder, Venue};

/// Options of `scalpel book`.
#[derive(Debug, Clone)]
pub struct BookOptions {
    /// Which venue's wire format the file holds; `None` to detect it from
    /// the frames.
    pub venue: Option<Venue>,
    /// The recording.
    pub input: PathBuf,
    /// Levels per side to print (at least 1).
    pub depth: usize,
    /// Only this symbol (also: the symbol of REST snapshots, which carry none).
    pub symbol: Option<Symbol>,
    /// Instrument file (TOML or venue metadata JSON); built-in table if none.
    pub instruments: Option<PathBuf>,
}

/// Why `scalpel book` could not run, or ran and rebuilt nothing.
#[derive(Debug, thiserror::Error)]
pub enum BookCommandError {
    /// `--depth 0`.
    #[error("--depth must be at least 1 (levels per side to print)")]
    ZeroDepth,
    /// Reading the recording failed (missing file, unreadable gzip, …).
    #[error("--input {}: {error}", path.display())]
    Input {
        /// The recording.
        path: PathBuf,
        /// What failed.
        error: io::Error,
    },
    /// Writing the books failed.
    #[error("writing the books: {0}")]
    Output(io::Error),
    /// The instruments could not be loaded.
    #[error("--instruments {0}")]
    Instruments(#[from] LoadError),
    /// Not one line of the file is a recorded frame.
    #[error(
        "--input {}: no recorded frame in it ({bad_lines} malformed lines); a recording has one `<receive_ts_ns> <frame>` per line",
        path.display()
    )]
    NoFrames {
        /// The recording.
        path: PathBuf,
        /// Lines that were not `<ts> <frame>`.
        bad_lines: u64,
    },
    /// No frame is either venue's.
    #[error(
        "--input {}: none of its {frames} frames is a Binance USD-M or Bybit v5 market-data frame",
        path.display()
    )]
    UnknownVenue {
        /// The recording.
        path: PathBuf,
        /// Frames read.
        frames: u64,
    },
    /// `--venue` names the other venue than the frames are.
    #[error(
        "--venue {given}: {} holds {found} frames ({found_frames} of {frames}), not {given} frames; pass --venue {found}, or leave --venue out to detect it",
        path.display()
    )]
    VenueMismatch {
        /// The recording.
        path: PathBuf,
        /// What `--venue` said.
        given: Venue,
        /// What the frames are.
        found: Venue,
        /// Frames of `found`.
        found_frames: u64,
        /// Frames read.
        frames: u64,
    },
    /// No order-book data in the file.
    #[error(
        "--input {}: no order-book frames (depth updates or snapshots) of any symbol, so no book to rebuild ({frames} {venue} frames read)",
        path.display()
    )]
    NoDepth {
        /// The recording.
        path: PathBuf,
        /// Its venue.
        venue: Venue,
        /// Frames read.
        frames: u64,
    },
    /// `--symbol` names a symbol the file has no order-book data for.
    #[error("--symbol {symbol}: {} has no {symbol} order-book frames (it has: {present})", path.display())]
    SymbolNotInRecording {
        /// The symbol asked for.
        symbol: Symbol,
        /// The recording.
        path: PathBuf,
        /// The symbols it does carry.
        present: String,
    },
    /// `--symbol` has no instrument and none can be inferred.
    #[error(
        "--symbol {symbol}: no instrument for it, and none can be inferred from the recording: {error} (pass --instruments FILE)"
    )]
    NotInferable {
        /// The symbol.
        symbol: Symbol,
        /// Why.
        error: InferError,
    },
    /// The replay published no book at all.
    #[error(
        "--input {}: no book could be published from its {depth_frames} order-book frames (see the summary above)",
        path.display()
    )]
    NothingPublished {
        /// The recording.
        path: PathBuf,
        /// Order-book frames it holds.
        depth_frames: u64,
    },
}

impl BookCommandError {
    /// `true` when writing the output failed because its reader went away
    /// (`scalpel book … | head`), which is not an error.
    #[must_use]
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, BookCommandError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// What a run saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookSummary {
    /// The venue the frames were read as.
    pub venue: Option<Venue>,
    /// Frames read.
    pub frames: u64,
    /// Malformed recording lines.
    pub bad_lines: u64,
    /// Frames that failed to decode.
    pub decode_errors: u64,
    /// Frames skipped on purpose (other streams, other symbols).
    pub ignored: u64,
    /// Book lines printed.
    pub published: u64,
    /// Frames parsed by the fast path and by simd-json.
    pub backends: (u64, u64),
    /// Symbols read with instruments inferred from the recording.
    pub inferred: Vec<Symbol>,
    /// Sync counters per symbol that had depth data.
    pub symbols: Vec<(Symbol, SyncStats)>,
}

/// Errors printed to stderr before further ones are only counted.
const MAX_PRINTED_ERRORS: u64 = 50;

/// Writes one book line.
pub fn write_book_line<const N: usize>(
    line: &mut Vec<u8>,
    symbol: &Symbol,
    update_id: u64,
    book: &Book<N>,
    depth: usize,
    price_scale: u8,
    qty_scale: u8,
) {
    line.clear();
    line.extend_from_slice(b"{\"symbol\":\"");
    line.extend_from_slice(symbol.as_bytes());
    line.extend_from_slice(b"\",\"u\":");
    line.extend_from_slice(crate::fixed::U64Text::new(update_id).as_bytes());
    for (name, ladder) in [(&b",\"bids\":["[..], book.bids()), (&b"],\"asks\":["[..], book.asks())] {
        line.extend_from_slice(name);
        for (k, (price, qty)) in ladder.iter().take(depth).enumerate() {
            if k > 0 {
                line.push(b',');
            }
            line.extend_from_slice(b"[\"");
            line.extend_from_slice(price.text(price_scale).as_bytes());
            line.extend_from_slice(b"\",\"");
            line.extend_from_slice(qty.text(qty_scale).as_bytes());
            line.extend_from_slice(b"\"]");
        }
    }
    line.extend_from_slice(b"]}\n");
}

/// Prints book lines and reports; borrowed by the sync callbacks.
struct Printer<'o, O: Write, E: Write> {
    depth: usize,
    symbols: SymbolTable,
    out: &'o mut O,
    err: &'o mut E,
    line: Vec<u8>,
    summary: BookSummary,
    printed_errors: u64,
    io_error: Option<io::Error>,
}

impl<O: Write, E: Write> Printer<'_, O, E> {
    fn complain(&mut self, args: std::fmt::Arguments<'_>) {
        self.printed_errors += 1;
        if self.printed_errors <= MAX_PRINTED_ERRORS {
            let _ = writeln!(self.err, "{args}");
        } else if self.printed_errors == MAX_PRINTED_ERRORS + 1 {
            let _ = writeln!(self.err, "(further problems are only counted; see the summary)");
        }
    }

    fn report(&mut self, inst: InstrumentId, line_no: u64, outcome: SyncOutcome, book: &Book<DEFAULT_LEVELS>) {
        let Some(entry) = self.symbols.by_id(inst).copied() else { return };
        match outcome {
            SyncOutcome::Applied { last_id } => {
                write_book_line(&mut self.line, &entry.symbol, last_id, book, self.depth, entry.price_scale, entry.qty_scale);
                if let Err(e) = self.out.write_all(&self.line) {
                    self.io_error.get_or_insert(e);
                }
                self.summary.published += 1;
            }
            SyncOutcome::Gap { expected, got } => self.complain(format_args!(
                "{}: sequence gap at line {line_no} (expected {expected}, got {got}): book withheld, resync requested",
                entry.symbol
            )),
            SyncOutcome::SnapshotTooOld { snapshot_id, first_u } => self.complain(format_args!(
                "{}: snapshot {snapshot_id} does not bridge to the next diff (U = {first_u}) at line {line_no}: new snapshot requested",
                entry.symbol
            )),
            SyncOutcome::Corrupt(fault) => self.complain(format_args!(
                "{}: corrupt depth frame at line {line_no} ({fault}): book withheld, resync requested",
                entry.symbol
            )),
            SyncOutcome::Crossed { last_id } => self.complain(format_args!(
                "{}: book crossed after update {last_id} (line {line_no}): not published, resync requested",
                entry.symbol
            )),
            SyncOutcome::SnapshotNotNewer { snapshot_id, book_id } => self.complain(format_args!(
                "{}: snapshot {snapshot_id} at line {line_no} is not newer than the live book ({book_id}): ignored",
                entry.symbol
            )),
            SyncOutcome::SnapshotAhead { snapshot_id } => self.complain(format_args!(
                "{}: the stream never reached snapshot {snapshot_id} (line {line_no}): new snapshot requested",
                entry.symbol
            )),
            SyncOutcome::Buffered | SyncOutcome::Stale | SyncOutcome::Unsynced => {}
        }
    }
}

struct Run<'o, O: Write, E: Write> {
    venue: Venue,
    filter: Option<InstrumentId>,
    syncs: Vec<Option<BookSync<DEFAULT_LEVELS>>>,
    depth_insts: Vec<InstrumentId>,
    printer: Printer<'o, O, E>,
}

impl<O: Write, E: Write> Run<'_, O, E> {
    fn sync_for<'s>(
        syncs: &'s mut Vec<Option<BookSync<DEFAULT_LEVELS>>>,
        depth_insts: &mut Vec<InstrumentId>,
        inst: InstrumentId,
        venue: Venue,
        tick: Price,
    ) -> &'s mut BookSync<DEFAULT_LEVELS> {
        let slot = usize::from(inst.0);
        if syncs.len() <= slot {
            syncs.resize_with(slot + 1, || None);
        }
        if !depth_insts.contains(&inst) {
            depth_insts.push(inst);
        }
        syncs[slot].get_or_insert_with(|| BookSync::new(venue, tick))
    }

    fn tick(&self, inst: InstrumentId) -> Price {
        self.printer.symbols.by_id(inst).map_or(Price(1), |e| e.tick)
    }

    fn on_event(&mut self, line_no: u64, event: MarketEvent<'_>) {
        let wanted = |inst: InstrumentId| self.filter.is_none_or(|f| f == inst);
        match event {
            MarketEvent::Depth(diff) if wanted(diff.inst) => {
                let tick = self.tick(diff.inst);
                let sync = Self::sync_for(&mut self.syncs, &mut self.depth_insts, diff.inst, self.venue, tick);
                let printer = &mut self.printer;
                sync.on_diff(&diff, |book, outcome| printer.report(diff.inst, line_no, outcome, book));
            }
            MarketEvent::Snapshot(snap) if wanted(snap.inst) => {
                // A snapshot can publish several times (it replays buffered
                // diffs), so lines are printed from inside the callback.
                let tick = self.tick(snap.inst);
                let sync = Self::sync_for(&mut self.syncs, &mut self.depth_insts, snap.inst, self.venue, tick);
                let printer = &mut self.printer;
                sync.on_snapshot(&snap, |book, outcome| printer.report(snap.inst, line_no, outcome, book));
            }
            _ => self.printer.summary.ignored += 1,
        }
    }
}

/// Runs `scalpel book` on the file `opts.input`, writing book lines to
/// `out` and reports to `err`.
///
/// # Errors
/// See [`BookCommandError`]. Problems inside the recording (bad lines,
/// frames that fail to decode, gaps) are reported on `err` and counted in
/// the summary; they are an error only when no book at all could be
/// published.
pub fn run(opts: &BookOptions, out: &mut impl Write, err: &mut impl Write) -> Result<BookSummary, BookCommandError> {
    run_with(opts, || recording::open(&opts.input), out, err)
}

/// [`run`] on a recording that `open` opens (once for the survey, once for
/// the replay): in-memory bytes in tests and fuzz targets.
///
/// # Errors
/// As [`run`].
pub fn run_with<R: BufRead>(
    opts: &BookOptions,
    open: impl Fn() -> io::Result<R>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<BookSummary, BookCommandError> {
    replay(opts, None, open, out, err)
}

/// [`run_with`] with the instruments given instead of loaded from
/// `opts.instruments` (fuzz targets and tests at unusual scales).
///
/// # Errors
/// As [`run`].
pub fn run_with_table<R: BufRead>(
    opts: &BookOptions,
    table: InstrumentTable,
    open: impl Fn() -> io::Result<R>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<BookSummary, BookCommandError> {
    replay(opts, Some(table), open, out, err)
}

fn replay<R: BufRead>(
    opts: &BookOptions,
    table: Option<InstrumentTable>,
    open: impl Fn() -> io::Result<R>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<BookSummary, BookCommandError> {
    if opts.depth == 0 {
        return Err(BookCommandError::ZeroDepth);
    }
    let path = &opts.input;
    let input_err = |error| BookCommandError::Input { path: path.clone(), error };

    // Pass 1: what the recording holds.
    let mut survey = Survey::new();
    let mut reader = FrameReader::new(open().map_err(input_err)?);
    let mut frame = Vec::with_capacity(64 * 1024);
    let mut bad_lines = 0;
    while let Some(item) = reader.next_frame(&mut frame).map_err(input_err)? {
        match item {
            ReadItem::Frame(_) => survey.observe(&frame),
            ReadItem::BadLine(..) => bad_lines += 1,
        }
    }
    if survey.frames() == 0 {
        return Err(BookCommandError::NoFrames { path: path.clone(), bad_lines });
    }
    let venue = match (opts.venue, survey.venue()) {
        (_, None) => return Err(BookCommandError::UnknownVenue { path: path.clone(), frames: survey.frames() }),
        (Some(given), Some(found)) if given != found => {
            return Err(BookCommandError::VenueMismatch {
                path: path.clone(),
                given,
                found,
                found_frames: survey.frames_of(found),
                frames: survey.frames(),
            });
        }
        (_, Some(found)) => found,
    };
    let depth_symbols: Vec<Symbol> = survey.depth_symbols(venue).collect();
    if depth_symbols.is_empty() {
        return Err(BookCommandError::NoDepth { path: path.clone(), venue, frames: survey.frames_of(venue) });
    }
    if let Some(symbol) = opts.symbol {
        if !depth_symbols.contains(&symbol) {
            let present: Vec<String> = depth_symbols.iter().map(ToString::to_string).collect();
            return Err(BookCommandError::SymbolNotInRecording {
                symbol,
                path: path.clone(),
                present: present.join(", "),
            });
        }
    }

    // Instruments: the table, plus what the frames imply for symbols it lacks.
    let source = match (&table, &opts.instruments) {
        (Some(_), _) => "the given instrument table".to_owned(),
        (None, Some(file)) => file.display().to_string(),
        (None, None) => "the built-in instrument table".to_owned(),
    };
    let mut table = match table {
        Some(table) => table,
        None => super::instruments::load_noting(opts.instruments.as_deref(), venue, err)?,
    };
    let mut inferred = Vec::new();
    for (symbol, outcome) in survey.infer_missing(venue, &mut table) {
        let wanted = opts.symbol.is_none_or(|s| s == symbol);
        match outcome {
            Ok(inst) if wanted => {
                let _ = writeln!(
                    err,
                    "scalpel book: {symbol} is not in {source}; reading it at scales inferred from the recording: \
                     tick {} (price scale {}), quantity scale {} (--instruments FILE gives the venue's own)",
                    inst.tick.text(inst.price_scale),
                    inst.price_scale,
                    inst.qty_scale
                );
                inferred.push(symbol);
            }
            Ok(_) => {}
            Err(error) if opts.symbol == Some(symbol) => return Err(BookCommandError::NotInferable { symbol, error }),
            Err(error) if depth_symbols.contains(&symbol) => {
                let _ = writeln!(err, "scalpel book: {symbol}: {error}; its frames are skipped and counted");
            }
            Err(_) => {}
        }
    }
    let mut decoder = Decoder::new(venue, &table);
    let symbols = decoder.symbols().clone();
    let id_of = |symbol: Symbol| symbols.find(symbol.as_bytes()).map(|e| e.id);
    let filter = opts.symbol.and_then(id_of);
    // Binance REST snapshots name no symbol: they belong to --symbol, or to
    // the recording's one depth symbol.
    let snapshot_symbol = opts.symbol.or_else(|| survey.only_depth_symbol(venue));
    decoder.set_snapshot_instrument(snapshot_symbol.and_then(id_of));
    if venue == Venue::BinanceUsdm && survey.rest_snapshots() > 0 && snapshot_symbol.is_none() {
        let names: Vec<String> = depth_symbols.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            err,
            "scalpel book: the recording's {} REST snapshots name no symbol and it has several ({}): \
             pass --symbol to say whose they are; until then they are skipped",
            survey.rest_snapshots(),
            names.join(", ")
        );
    }

    // Pass 2: the replay.
    let mut run = Run {
        venue,
        filter,
        syncs: Vec::new(),
        depth_insts: Vec::new(),
        printer: Printer {
            depth: opts.depth,
            symbols,
            out,
            err,
            line: Vec::with_capacity(8 * 1024),
            summary: BookSummary { venue: Some(venue), inferred, ..BookSummary::default() },
            printed_errors: 0,
            io_error: None,
        },
    };
    let mut scratch = JsonScratch::default();
    let mut reader = FrameReader::new(open().map_err(input_err)?);
    while let Some(item) = reader.next_frame(&mut frame).map_err(input_err)? {
        let line_no = reader.line_no();
        match item {
            ReadItem::BadLine(n, e) => {
                run.printer.summary.bad_lines += 1;
                run.printer.complain(format_args!("line {n}: {e}"));
            }
            ReadItem::Frame(_) => {
                run.printer.summary.frames += 1;
                decoder.decode_frame(&mut scratch, &mut frame, |event| match event {
                    Ok(event) => run.on_event(line_no, event),
                    Err(e) => {
                        run.printer.summary.decode_errors += 1;
                        run.printer.complain(format_args!("line {line_no}: decode error: {e}"));
                    }
                });
            }
        }
        if let Some(e) = run.printer.io_error.take() {
            return Err(BookCommandError::Output(e));
        }
    }
    let Run { syncs, depth_insts, printer, .. } = run;
    printer.out.flush().map_err(BookCommandError::Output)?;
    let mut summary = printer.summary;
    summary.backends = scratch.backend_counts();
    for inst in depth_insts {
        if let (Some(entry), Some(Some(sync))) = (printer.symbols.by_id(inst), syncs.get(usize::from(inst.0))) {
            summary.symbols.push((entry.symbol, sync.stats()));
        }
    }
    let _ = write_summary(printer.err, &summary);
    if summary.published == 0 {
        let depth_frames = survey
            .symbols()
            .iter()
            .filter(|s| s.venue == venue && opts.symbol.is_none_or(|f| f == s.symbol))
            .map(|s| s.depth_frames)
            .sum::<u64>()
            + survey.rest_snapshots();
        return Err(BookCommandError::NothingPublished { path: path.clone(), depth_frames });
    }
    Ok(summary)
}

fn write_summary(err: &mut impl Write, s: &BookSummary) -> io::Result<()> {
    writeln!(
        err,
        "summary: {} frames read, {} books printed, {} frames of other streams or symbols skipped, \
         {} frames that failed to decode, {} malformed lines",
        s.frames, s.published, s.ignored, s.decode_errors, s.bad_lines
    )?;
    for (symbol, st) in &s.symbols {
        writeln!(
            err,
            "summary {symbol}: {} snapshots, {} updates applied, {} buffered until a snapshot, {} older than the snapshot, \
             {} before any snapshot, {} gaps, {} corrupt, {} crossed, {} resyncs requested, {} dropped from a full buffer",
            st.snapshots,
            st.applied,
            st.buffered,
            st.stale,
            st.unsynced,
            st.gaps,
            st.corrupt,
            st.crossed,
            st.resyncs,
            st.buffer_overflows
        )?;
    }
    Ok(())
}
