//! Backtest input, streamed: recorded files (plain or gzip) read through
//! bounded buffers and merged by exchange time, or a synthetic session
//! generated frame by frame. Memory does not grow with the input: each file
//! holds one decoded-ahead frame, the merge holds one frame per file.
//!
//! A file is named `PATH` (its venue detected by decoding its first frames
//! with both venues' decoders) or `VENUE:PATH` (`binance-usdm:…`,
//! `bybit-linear:…`). Several files are merged into one stream by the
//! exchange timestamp of each frame (found by decoding a copy of it with a
//! decoder of the file's venue); frames without one (acks, pongs) keep the
//! time of the frame before them in their file, and each file's own order
//! is always kept. Ties go to the file named first.
//!
//! # Exchange time is bounded by the receive time
//! A recording's first column is the local receive time, ns since the Unix
//! epoch. A frame whose exchange time is more than the allowed skew
//! (`[core] max_clock_skew_ms`) after its own receive time carries a
//! poisoned timestamp: its merge key is its receive time instead (counted,
//! [`FrameSource::clamped`]), so one far-future frame cannot stall its file
//! behind every other file nor move the replay's clock. Receive times
//! before 2001-09-09 (10^18 ns; test fixtures counting from zero) are not a
//! clock and bound nothing.

use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

use crate::event::{InstrumentId, MarketEvent};
use crate::instrument::InstrumentTable;
use crate::json::JsonScratch;
use crate::recording::{FrameReader, ReadItem};
use crate::venue::{Decoder, Venue};

/// One frame of a replay held by the caller (tests, in-memory sessions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// Local receive time from the recording, ns.
    pub local_ts_ns: u64,
    /// Index of the source (file or synthetic stream) it came from.
    pub source: u16,
    /// The frame text.
    pub bytes: &'a [u8],
}

/// A source of frames: one venue's wire format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The wire format.
    pub venue: Venue,
    /// A label for reports (the file name as given).
    pub label: String,
    /// Malformed recording lines skipped (counted, reported).
    pub bad_lines: u64,
}

impl Source {
    /// A source with no skipped lines.
    #[must_use]
    pub fn new(venue: Venue, label: impl Into<String>) -> Self {
        Self { venue, label: label.into(), bad_lines: 0 }
    }
}

/// Why the input could not be read.
///
/// # Errors
/// From [`FileMerge::open`] and [`FrameSource::next_frame`].
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be read.
    #[error("{path}: {error}")]
    Io {
        /// Which file.
        path: PathBuf,
        /// What happened.
        error: io::Error,
    },
    /// Neither decoder understands the file's first frames.
    #[error("{0}: cannot tell the venue from the first frames (prefix the path with binance-usdm: or bybit-linear:)")]
    UnknownVenue(PathBuf),
    /// More files than source indices.
    #[error("too many input files")]
    TooMany,
}

/// Frames in replay order, one at a time.
pub trait FrameSource {
    /// The next frame, copied into `buf` (replacing its contents): its
    /// source index and local receive time, or `None` at the end.
    ///
    /// # Errors
    /// I/O errors reading the input.
    fn next_frame(&mut self, buf: &mut Vec<u8>) -> Result<Option<(u16, u64)>, InputError>;

    /// Malformed lines of source `source` skipped so far.
    fn bad_lines(&self, _source: u16) -> u64 {
        0
    }

    /// Frames whose exchange time was bounded by their receive time (module docs).
    fn clamped(&self) -> u64 {
        0
    }
}

/// Frames the caller holds in memory, in order.
#[derive(Debug, Clone)]
pub struct InMemory<I>(pub I);

impl<'a, I: Iterator<Item = FrameRef<'a>>> FrameSource for InMemory<I> {
    fn next_frame(&mut self, buf: &mut Vec<u8>) -> Result<Option<(u16, u64)>, InputError> {
        Ok(self.0.next().map(|f| {
            buf.clear();
            buf.extend_from_slice(f.bytes);
            (f.source, f.local_ts_ns)
        }))
    }
}

/// A synthetic session generated frame by frame (one source, index 0).
#[derive(Debug)]
pub struct SynthFrames(pub crate::synth::Synth);

impl FrameSource for SynthFrames {
    fn next_frame(&mut self, buf: &mut Vec<u8>) -> Result<Option<(u16, u64)>, InputError> {
        Ok(self.0.next_frame().map(|f| {
            buf.clear();
            buf.extend_from_slice(f.bytes);
            (0, f.local_ts_ns)
        }))
    }
}

/// The exchange time of an event, ms: depth and ticker event times (`E`,
/// Bybit `ts`), trade and liquidation times; `None` for control messages.
#[must_use]
pub fn event_time_ms(event: &MarketEvent<'_>) -> Option<i64> {
    let t = match event {
        MarketEvent::Depth(d) => d.event_ms,
        MarketEvent::Snapshot(s) => s.event_ms,
        MarketEvent::BookTicker(b) => b.event_ms,
        MarketEvent::MarkPrice(m) => m.event_ms,
        MarketEvent::Ticker(t) => t.ts_ms,
        MarketEvent::Trades(batch) => {
            let mut b = *batch;
            b.next()?.ok()?.trade_ms
        }
        MarketEvent::Liquidations(batch) => {
            let mut b = *batch;
            b.next()?.ok()?.ts_ms
        }
        MarketEvent::Control(_) | MarketEvent::Ignored(_) => return None,
    };
    (t > 0).then_some(t)
}

/// The instrument a depth event belongs to (to route Binance REST
/// snapshots, which name no symbol, to the file's only depth symbol).
#[must_use]
pub fn depth_instrument(event: &MarketEvent<'_>) -> Option<InstrumentId> {
    match event {
        MarketEvent::Depth(d) => Some(d.inst),
        _ => None,
    }
}

/// Receive times below this are not a wall clock (module docs), ns.
const EPOCH_CLOCK_FROM_NS: u64 = 1_000_000_000_000_000_000;

/// Times a decoder for the merge keys.
struct Keyer {
    decoder: Decoder,
    depth_inst_set: bool,
    last: i64,
}

impl Keyer {
    /// The merge key of `frame` (exchange time carried forward, bounded by
    /// the receive time); `true` when the bound applied.
    fn key(
        &mut self,
        scratch: &mut JsonScratch,
        work: &mut Vec<u8>,
        frame: &[u8],
        local_ns: u64,
        skew_ms: i64,
    ) -> (i64, bool) {
        work.clear();
        work.extend_from_slice(frame);
        let (t, inst) = self.decoder.decode_frame(scratch, work, |e| match e {
            Ok(e) => (event_time_ms(&e), depth_instrument(&e)),
            Err(_) => (None, None),
        });
        if !self.depth_inst_set {
            if let Some(i) = inst {
                self.depth_inst_set = true;
                self.decoder.set_snapshot_instrument(Some(i));
            }
        }
        let mut clamped = false;
        if let Some(mut t) = t {
            if local_ns >= EPOCH_CLOCK_FROM_NS {
                let local_ms = i64::try_from(local_ns / 1_000_000).unwrap_or(i64::MAX);
                if t > local_ms.saturating_add(skew_ms) {
                    t = local_ms;
                    clamped = true;
                }
            }
            self.last = t;
        }
        (self.last, clamped)
    }
}

struct OpenFile {
    path: PathBuf,
    reader: FrameReader<Box<dyn BufRead>>,
    keyer: Keyer,
    /// The next frame: (key, local receive time), bytes in `head_bytes`.
    head: Option<(i64, u64)>,
    head_bytes: Vec<u8>,
    done: bool,
    bad_lines: u64,
}

/// Recorded files merged by exchange time, streamed (module docs).
pub struct FileMerge {
    files: Vec<OpenFile>,
    scratch: JsonScratch,
    work: Vec<u8>,
    skew_ms: i64,
    clamped: u64,
}

impl std::fmt::Debug for FileMerge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<_> = self.files.iter().map(|x| &x.path).collect();
        f.debug_struct("FileMerge").field("files", &paths).finish_non_exhaustive()
    }
}

/// Parses `VENUE:PATH` or `PATH`.
fn split_arg(arg: &str) -> (Option<Venue>, PathBuf) {
    match arg.split_once(':') {
        Some((prefix, rest)) if Venue::ALL.iter().any(|v| v.name() == prefix) => {
            (prefix.parse::<Venue>().ok(), PathBuf::from(rest))
        }
        _ => (None, PathBuf::from(arg)),
    }
}

fn open_reader(path: &Path) -> Result<FrameReader<Box<dyn BufRead>>, InputError> {
    let input = crate::recording::open(path).map_err(|error| InputError::Io { path: path.to_path_buf(), error })?;
    Ok(FrameReader::new(input))
}

/// The venue whose decoder understands more of the first frames
/// ([`crate::venue::detect_venue`], the one detection `latency` and `book` use too).
fn detect(path: &Path, table: &InstrumentTable) -> Result<Option<Venue>, InputError> {
    let mut reader = open_reader(path)?;
    let mut frames = Vec::new();
    let mut frame = Vec::new();
    while frames.len() < crate::venue::DETECT_FRAMES {
        match reader.next_frame(&mut frame).map_err(|error| InputError::Io { path: path.to_path_buf(), error })? {
            None => break,
            Some(ReadItem::Frame(_)) => frames.push(frame.clone()),
            Some(ReadItem::BadLine(..)) => {}
        }
    }
    let frames: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    Ok(crate::venue::detect_venue(&frames, &Venue::ALL.map(|v| (v, table))))
}

impl FileMerge {
    /// Opens `args` (`PATH` or `VENUE:PATH` each); exchange times more than
    /// `skew_ms` after a frame's receive time are bounded (module docs).
    /// Returns the merge and one [`Source`] per file (bad-line counts are
    /// known at the end: [`FrameSource::bad_lines`]).
    ///
    /// # Errors
    /// See [`InputError`].
    pub fn open(args: &[String], table: &InstrumentTable, skew_ms: i64) -> Result<(Self, Vec<Source>), InputError> {
        if args.len() > usize::from(u16::MAX) {
            return Err(InputError::TooMany);
        }
        let mut files = Vec::with_capacity(args.len());
        let mut sources = Vec::with_capacity(args.len());
        for arg in args {
            let (venue, path) = split_arg(arg);
            let venue = match venue {
                Some(v) => v,
                None => detect(&path, table)?.ok_or_else(|| InputError::UnknownVenue(path.clone()))?,
            };
            let reader = open_reader(&path)?;
            files.push(OpenFile {
                path,
                reader,
                keyer: Keyer { decoder: Decoder::new(venue, table), depth_inst_set: false, last: i64::MIN },
                head: None,
                head_bytes: Vec::with_capacity(64 * 1024),
                done: false,
                bad_lines: 0,
            });
            sources.push(Source::new(venue, arg.clone()));
        }
        let mut merge =
            Self { files, scratch: JsonScratch::default(), work: Vec::with_capacity(64 * 1024), skew_ms, clamped: 0 };
        for f in 0..merge.files.len() {
            merge.fill(f)?;
        }
        Ok((merge, sources))
    }

    /// Reads file `f`'s next frame into its head.
    fn fill(&mut self, f: usize) -> Result<(), InputError> {
        let file = &mut self.files[f];
        file.head = None;
        while !file.done {
            match file
                .reader
                .next_frame(&mut file.head_bytes)
                .map_err(|error| InputError::Io { path: file.path.clone(), error })?
            {
                None => file.done = true,
                Some(ReadItem::BadLine(..)) => file.bad_lines += 1,
                Some(ReadItem::Frame(local_ns)) => {
                    let (key, clamped) =
                        file.keyer.key(&mut self.scratch, &mut self.work, &file.head_bytes, local_ns, self.skew_ms);
                    self.clamped += u64::from(clamped);
                    file.head = Some((key, local_ns));
                    break;
                }
            }
        }
        Ok(())
    }
}

impl FrameSource for FileMerge {
    fn next_frame(&mut self, buf: &mut Vec<u8>) -> Result<Option<(u16, u64)>, InputError> {
        let mut pick: Option<(i64, usize)> = None;
        for (f, file) in self.files.iter().enumerate() {
            if let Some((key, _)) = file.head {
                if pick.is_none_or(|(best, _)| key < best) {
                    pick = Some((key, f));
                }
            }
        }
        let Some((_, f)) = pick else { return Ok(None) };
        let local_ns = self.files[f].head.map_or(0, |h| h.1);
        std::mem::swap(buf, &mut self.files[f].head_bytes);
        self.fill(f)?;
        Ok(Some((f as u16, local_ns)))
    }

    fn bad_lines(&self, source: u16) -> u64 {
        self.files.get(usize::from(source)).map_or(0, |f| f.bad_lines)
    }

    fn clamped(&self) -> u64 {
        self.clamped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trade(t: i64, id: u64) -> String {
        format!(
            r#"{{"stream":"btcusdt@trade","data":{{"e":"trade","E":{t},"T":{t},"s":"BTCUSDT","t":{id},"p":"50000.00","q":"0.001","X":"MARKET","m":false}}}}"#
        )
    }

    fn write(dir: &std::path::Path, name: &str, lines: &[(u64, String)]) -> String {
        let text: String = lines.iter().map(|(ts, l)| format!("{ts} {l}\n")).collect();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("scalpel-input-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn drain(merge: &mut FileMerge) -> Vec<(u16, String)> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some((src, _)) = merge.next_frame(&mut buf).unwrap() {
            out.push((src, String::from_utf8(buf.clone()).unwrap()));
        }
        out
    }

    #[test]
    fn files_merge_by_exchange_time_keeping_each_files_order() {
        let table = InstrumentTable::built_in().unwrap();
        let dir = temp_dir("merge");
        // File 0: 100, 300, an ack (no time: stays after 300), 200 (out of
        // order within its file: kept after the ack). File 1: 150, 300, 400.
        let a = write(
            &dir,
            "a.txt",
            &[(1, trade(100, 1)), (2, trade(300, 2)), (3, r#"{"result":null,"id":1}"#.to_owned()), (4, trade(200, 3))],
        );
        let b = write(&dir, "b.txt", &[(1, trade(150, 10)), (2, trade(300, 11)), (3, trade(400, 12))]);
        let (mut merge, sources) = FileMerge::open(&[a, format!("binance-usdm:{b}")], &table, 5_000).unwrap();
        assert_eq!(sources.iter().map(|s| s.venue).collect::<Vec<_>>(), [Venue::BinanceUsdm; 2]);
        let got: Vec<u16> = drain(&mut merge).into_iter().map(|(s, _)| s).collect();
        assert_eq!(got, vec![0, 1, 0, 0, 0, 1, 1]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_far_future_exchange_time_is_bounded_by_the_receive_time() {
        // Before: the poisoned frame sorted after everything in the other
        // file, holding its own file's later frames behind it.
        let table = InstrumentTable::built_in().unwrap();
        let dir = temp_dir("skew");
        let ms = 1_723_161_256_000i64;
        let ns = |t: i64| (t as u64) * 1_000_000;
        let a = write(
            &dir,
            "a.txt",
            &[(ns(ms), trade(ms, 1)), (ns(ms + 10), trade(ms + 86_400_000, 2)), (ns(ms + 20), trade(ms + 20, 3))],
        );
        let b = write(&dir, "b.txt", &[(ns(ms + 15), trade(ms + 15, 10)), (ns(ms + 30), trade(ms + 30, 11))]);
        let (mut merge, _) = FileMerge::open(&[a, b], &table, 5_000).unwrap();
        let got: Vec<u16> = drain(&mut merge).into_iter().map(|(s, _)| s).collect();
        assert_eq!(got, vec![0, 0, 1, 0, 1]);
        assert_eq!(merge.clamped(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn venue_is_detected_and_bad_lines_counted() {
        let table = InstrumentTable::built_in().unwrap();
        let dir = temp_dir("detect");
        let good = write(&dir, "good.txt", &[(1, trade(100, 1)), (2, trade(200, 2))]);
        std::fs::write(dir.join("good.txt"), format!("{}garbage line\n", std::fs::read_to_string(&good).unwrap()))
            .unwrap();
        let (mut merge, sources) = FileMerge::open(&[good], &table, 5_000).unwrap();
        assert_eq!(sources[0].venue, Venue::BinanceUsdm);
        assert_eq!(drain(&mut merge).len(), 2);
        assert_eq!(merge.bad_lines(0), 1);
        let junk = write(&dir, "junk.txt", &[(1, "{\"hello\":1}".to_owned())]);
        assert!(matches!(FileMerge::open(&[junk], &table, 5_000), Err(InputError::UnknownVenue(_))));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
