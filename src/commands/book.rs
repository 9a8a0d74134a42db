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

use std::io::{self, Write};
use std::path::PathBuf;

use crate::book::{Book, DEFAULT_LEVELS};
use crate::event::{InstrumentId, MarketEvent};
use crate::fixed::Price;
use crate::instrument::{LoadError, Symbol, SymbolTable};
use crate::json::JsonScratch;
use crate::recording::{self, FrameReader, ReadItem};
use crate::venue::sync::{SyncOutcome, SyncStats};
use crate::venue::{BookSync, Decoder, Venue};

/// Options of `scalpel book`.
#[derive(Debug, Clone)]
pub struct BookOptions {
    /// Which venue's wire format the file holds.
    pub venue: Venue,
    /// The recording.
    pub input: PathBuf,
    /// Levels per side to print.
    pub depth: usize,
    /// Only this symbol (also: the symbol of REST snapshots, which carry none).
    pub symbol: Option<Symbol>,
    /// Instrument file (TOML or venue metadata JSON); built-in table if none.
    pub instruments: Option<PathBuf>,
}

/// Why `scalpel book` could not run.
#[derive(Debug, thiserror::Error)]
pub enum BookCommandError {
    /// Reading the recording or writing the output failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The instruments could not be loaded.
    #[error("instruments: {0}")]
    Instruments(#[from] LoadError),
    /// `--symbol` names no instrument of the venue.
    #[error(
        "symbol {symbol} is not a known {venue} instrument (add it to tuning/instruments.toml or pass --instruments)"
    )]
    UnknownSymbol {
        /// The symbol asked for.
        symbol: Symbol,
        /// The venue.
        venue: Venue,
    },
}

/// What a run saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookSummary {
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

/// Runs `scalpel book`, writing book lines to `out` and reports to `err`.
///
/// # Errors
/// I/O errors on the input or output, instrument loading errors, or an
/// unknown `--symbol`. Problems inside the recording are reported on `err`
/// and counted in the summary, not returned.
pub fn run(opts: &BookOptions, out: &mut impl Write, err: &mut impl Write) -> Result<BookSummary, BookCommandError> {
    let table = super::instruments::load(opts.instruments.as_deref(), opts.venue)?;
    let mut decoder = Decoder::new(opts.venue, &table);
    let symbols = decoder.symbols().clone();
    let filter = match opts.symbol {
        Some(symbol) => Some(
            symbols
                .find(symbol.as_bytes())
                .map(|e| e.id)
                .ok_or(BookCommandError::UnknownSymbol { symbol, venue: opts.venue })?,
        ),
        None => None,
    };
    decoder.set_snapshot_instrument(filter);
    let mut run = Run {
        venue: opts.venue,
        filter,
        syncs: Vec::new(),
        depth_insts: Vec::new(),
        printer: Printer {
            depth: opts.depth,
            symbols,
            out,
            err,
            line: Vec::with_capacity(8 * 1024),
            summary: BookSummary::default(),
            printed_errors: 0,
            io_error: None,
        },
    };
    let mut scratch = JsonScratch::default();
    let mut reader = FrameReader::new(recording::open(&opts.input)?);
    let mut frame = Vec::with_capacity(64 * 1024);
    let mut snapshot_inst_known = filter.is_some();
    while let Some(item) = reader.next_frame(&mut frame)? {
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
                // Binance REST snapshots carry no symbol: without --symbol they
                // belong to the one symbol whose diffs the file carries.
                if !snapshot_inst_known && run.depth_insts.len() == 1 {
                    decoder.set_snapshot_instrument(Some(run.depth_insts[0]));
                    snapshot_inst_known = true;
                } else if snapshot_inst_known && filter.is_none() && run.depth_insts.len() > 1 {
                    decoder.set_snapshot_instrument(None);
                }
            }
        }
        if let Some(e) = run.printer.io_error.take() {
            return Err(e.into());
        }
    }
    let Run { syncs, depth_insts, printer, .. } = run;
    printer.out.flush()?;
    let mut summary = printer.summary;
    summary.backends = scratch.backend_counts();
    for inst in depth_insts {
        if let (Some(entry), Some(Some(sync))) = (printer.symbols.by_id(inst), syncs.get(usize::from(inst.0))) {
            summary.symbols.push((entry.symbol, sync.stats()));
        }
    }
    write_summary(printer.err, &summary)?;
    Ok(summary)
}

fn write_summary(err: &mut impl Write, s: &BookSummary) -> io::Result<()> {
    writeln!(
        err,
        "summary: {} frames, {} book lines, {} decode errors, {} bad lines, {} skipped; parsed {} fast / {} simd-json",
        s.frames, s.published, s.decode_errors, s.bad_lines, s.ignored, s.backends.0, s.backends.1
    )?;
    for (symbol, st) in &s.symbols {
        writeln!(
            err,
            "summary {symbol}: {} snapshots, {} diffs applied, {} buffered, {} stale, {} unsynced, {} gaps, {} corrupt, {} crossed, {} resyncs requested, {} buffer overflows",
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
