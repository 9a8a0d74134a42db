//! Backtest input: recorded files, their venues, and one stream of frames
//! merged by exchange time.
//!
//! A file is named `PATH` (its venue detected by decoding its first frames
//! with both venues' decoders) or `VENUE:PATH` (`binance-usdm:…`,
//! `bybit-linear:…`). Several files are merged into one stream by the
//! exchange timestamp of each frame (found by decoding a copy of it with
//! the same [`Decoder`] the replay uses); frames without one (acks, pongs)
//! keep the time of the frame before them in their file, and each file's
//! own order is always kept. Ties go to the file named first.

use std::io;
use std::path::PathBuf;

use crate::event::{InstrumentId, MarketEvent};
use crate::instrument::InstrumentTable;
use crate::json::JsonScratch;
use crate::recording::Recording;
use crate::venue::{Decoder, Venue};

/// One frame of the replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// Local receive time from the recording, ns (informational).
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
    /// Malformed recording lines skipped before replay (counted, reported).
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
/// From [`load_inputs`].
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

/// A loaded input file.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// The file.
    pub path: PathBuf,
    /// Its venue.
    pub venue: Venue,
    /// Its frames.
    pub recording: Recording,
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

fn detect(recording: &Recording, table: &InstrumentTable) -> Option<Venue> {
    let frames: Vec<&[u8]> = recording.iter().take(crate::venue::DETECT_FRAMES).map(|(_, f)| f).collect();
    crate::venue::detect_venue(&frames, &Venue::ALL.map(|v| (v, table)))
}

/// Loads `args` (`PATH` or `VENUE:PATH` each).
///
/// # Errors
/// See [`InputError`].
pub fn load_inputs(args: &[String], table: &InstrumentTable) -> Result<Vec<InputFile>, InputError> {
    if args.len() > usize::from(u16::MAX) {
        return Err(InputError::TooMany);
    }
    let mut files = Vec::with_capacity(args.len());
    for arg in args {
        let (venue, path) = match arg.split_once(':') {
            Some((prefix, rest)) if Venue::ALL.iter().any(|v| v.name() == prefix) => {
                (prefix.parse::<Venue>().ok(), PathBuf::from(rest))
            }
            _ => (None, PathBuf::from(arg)),
        };
        let recording = Recording::load(&path).map_err(|error| InputError::Io { path: path.clone(), error })?;
        let venue = match venue {
            Some(v) => v,
            None => detect(&recording, table).ok_or_else(|| InputError::UnknownVenue(path.clone()))?,
        };
        files.push(InputFile { path, venue, recording });
    }
    Ok(files)
}

/// The replay order of all frames: `(file, frame index)`, merged by
/// exchange time (module docs).
#[must_use]
pub fn merge_order(files: &[InputFile], table: &InstrumentTable) -> Vec<(u16, u32)> {
    // Exchange time of every frame, carried forward within its file.
    let mut keyed: Vec<Vec<i64>> = Vec::with_capacity(files.len());
    let mut scratch = JsonScratch::default();
    let mut buf = Vec::with_capacity(64 * 1024);
    for file in files {
        let mut decoder = Decoder::new(file.venue, table);
        let mut depth_inst: Option<InstrumentId> = None;
        let mut last = i64::MIN;
        let mut times = Vec::with_capacity(file.recording.len());
        for (_, frame) in file.recording.iter() {
            buf.clear();
            buf.extend_from_slice(frame);
            let (t, inst) = decoder.decode_frame(&mut scratch, &mut buf, |e| match e {
                Ok(e) => (event_time_ms(&e), depth_instrument(&e)),
                Err(_) => (None, None),
            });
            if depth_inst.is_none() {
                if let Some(i) = inst {
                    depth_inst = Some(i);
                    decoder.set_snapshot_instrument(Some(i));
                }
            }
            if let Some(t) = t {
                last = t;
            }
            times.push(last);
        }
        keyed.push(times);
    }
    let total: usize = keyed.iter().map(Vec::len).sum();
    let mut order = Vec::with_capacity(total);
    let mut heads = vec![0usize; files.len()];
    loop {
        let mut pick: Option<(i64, usize)> = None;
        for (f, times) in keyed.iter().enumerate() {
            if let Some(&t) = times.get(heads[f]) {
                if pick.is_none_or(|(best, _)| t < best) {
                    pick = Some((t, f));
                }
            }
        }
        let Some((_, f)) = pick else { break };
        order.push((f as u16, heads[f] as u32));
        heads[f] += 1;
    }
    order
}

/// The frames of `files` in `order` (from [`merge_order`]).
pub fn frames<'a>(files: &'a [InputFile], order: &'a [(u16, u32)]) -> impl Iterator<Item = FrameRef<'a>> + 'a {
    order.iter().filter_map(move |&(f, i)| {
        let (local_ts_ns, bytes) = files.get(usize::from(f))?.recording.frame(i as usize)?;
        Some(FrameRef { local_ts_ns, source: f, bytes })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trade(t: i64, id: u64) -> String {
        format!(
            r#"{{"stream":"btcusdt@trade","data":{{"e":"trade","E":{t},"T":{t},"s":"BTCUSDT","t":{id},"p":"50000.00","q":"0.001","X":"MARKET","m":false}}}}"#
        )
    }

    fn file(lines: &[String]) -> InputFile {
        let text: String = lines.iter().enumerate().map(|(n, l)| format!("{n} {l}\n")).collect();
        InputFile { path: "x".into(), venue: Venue::BinanceUsdm, recording: Recording::from_bytes(text.as_bytes()) }
    }

    #[test]
    fn files_merge_by_exchange_time_keeping_each_files_order() {
        let table = InstrumentTable::from_toml_str(crate::commands::instruments::BUILT_IN).unwrap();
        // File 0: 100, 300, an ack (no time: stays after 300), 200 (out of
        // order within its file: kept after the ack). File 1: 150, 300, 400.
        let a = file(&[trade(100, 1), trade(300, 2), r#"{"result":null,"id":1}"#.to_owned(), trade(200, 3)]);
        let b = file(&[trade(150, 10), trade(300, 11), trade(400, 12)]);
        let files = [a, b];
        let order = merge_order(&files, &table);
        assert_eq!(order, vec![(0, 0), (1, 0), (0, 1), (0, 2), (0, 3), (1, 1), (1, 2)]);
        let frames: Vec<u16> = frames(&files, &order).map(|f| f.source).collect();
        assert_eq!(frames, vec![0, 1, 0, 0, 0, 1, 1]);
    }

    #[test]
    fn venue_is_detected_from_the_frames() {
        let table = InstrumentTable::from_toml_str(crate::commands::instruments::BUILT_IN).unwrap();
        let f = file(&[trade(100, 1), trade(200, 2)]);
        assert_eq!(detect(&f.recording, &table), Some(Venue::BinanceUsdm));
        let junk = file(&["{\"hello\":1}".to_owned()]);
        assert_eq!(detect(&junk.recording, &table), None);
    }
}
