//! The market the simulator replays: recorded files or synthetic sessions,
//! merged by receive time, each frame classified by where the venue would
//! send it (Binance stream name and route, Bybit topic).
//!
//! Classification reads only the frame's envelope (`{"stream":…,"data":…}`,
//! `{"topic":…}`, a REST snapshot's `lastUpdateId`), so the frame text is
//! published exactly as recorded; the inner `data` object of a Binance
//! combined-stream frame is served byte for byte to raw (`/ws`) clients.
//!
//! Binance routes, from the venue's 2026 change notice
//! (<https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Important-WebSocket-Change-Notice>):
//! `/public` carries high-frequency book data (`@depth…`, `@bookTicker`),
//! `/market` the rest (`@aggTrade`, `@trade`, `@markPrice`, `@kline_…`,
//! `@forceOrder`, tickers), `/private` user data. A path with no route
//! serves only `/public` streams.

use std::ops::Range;
use std::path::Path;

use bytes::Bytes;

use crate::instrument::Symbol;
use crate::recording::Recording;
use crate::synth::{Synth, SynthConfig, SynthError};
use crate::venue::Venue;

/// A Binance market-stream route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinanceRoute {
    /// `/public`: depth and bookTicker.
    Public,
    /// `/market`: trades, mark price, klines, liquidations, tickers.
    Market,
}

impl BinanceRoute {
    /// The route a stream name belongs to.
    #[must_use]
    pub fn of_stream(stream: &str) -> Self {
        let kind = stream.split_once('@').map_or("", |(_, k)| k);
        if kind.starts_with("depth") || kind == "bookTicker" || stream == "!bookTicker" {
            BinanceRoute::Public
        } else {
            BinanceRoute::Market
        }
    }
}

/// The canonical key of a Binance stream name: diff-depth speeds
/// (`@depth`, `@depth@100ms`, `@depth@250ms`, `@depth@500ms`, `@depth@0ms`)
/// are one stream here (the source has one), as are `@markPrice` and
/// `@markPrice@1s`. Names are case-sensitive after the symbol, which is
/// lower case.
#[must_use]
pub fn binance_stream_key(name: &str) -> String {
    let Some((sym, rest)) = name.split_once('@') else { return name.to_owned() };
    let sym = sym.to_ascii_lowercase();
    let kind = match rest {
        "depth" | "depth@100ms" | "depth@250ms" | "depth@500ms" | "depth@0ms" => "depth",
        "markPrice" | "markPrice@1s" => "markPrice",
        other => other,
    };
    format!("{sym}@{kind}")
}

/// Where a frame goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameClass {
    /// A Binance stream frame.
    BinanceStream {
        /// The stream name as recorded (`btcusdt@depth@0ms`).
        stream: String,
        /// [`binance_stream_key`] of it.
        key: String,
        /// Which route serves it.
        route: BinanceRoute,
        /// Byte range of the event object (the whole frame for raw frames).
        data: Range<usize>,
        /// The recorded frame was a combined-stream envelope.
        combined: bool,
    },
    /// A Binance REST depth snapshot line (rebuilds the server book; not
    /// published).
    BinanceRestSnapshot,
    /// A Bybit public topic push.
    BybitTopic {
        /// The topic (`orderbook.200.BTCUSDT`).
        topic: String,
        /// `type` is `snapshot`.
        snapshot: bool,
    },
    /// Not a market frame of the venue (counted, not published).
    Unknown,
}

fn quoted_after<'a>(text: &'a [u8], prefix: &[u8]) -> Option<(&'a str, usize)> {
    let rest = text.strip_prefix(prefix)?;
    let end = rest.iter().position(|&b| b == b'"')?;
    let s = std::str::from_utf8(&rest[..end]).ok()?;
    Some((s, prefix.len() + end + 1))
}

/// Classifies a frame of `venue`.
#[must_use]
pub fn classify(venue: Venue, frame: &[u8]) -> FrameClass {
    match venue {
        Venue::BinanceUsdm => classify_binance(frame),
        Venue::BybitLinear => classify_bybit(frame),
    }
}

fn classify_binance(frame: &[u8]) -> FrameClass {
    if frame.starts_with(b"{\"lastUpdateId\":") {
        return FrameClass::BinanceRestSnapshot;
    }
    if let Some((stream, after)) = quoted_after(frame, b"{\"stream\":\"") {
        let rest = &frame[after..];
        if rest.starts_with(b",\"data\":") && frame.last() == Some(&b'}') {
            let start = after + 8;
            return FrameClass::BinanceStream {
                key: binance_stream_key(stream),
                route: BinanceRoute::of_stream(stream),
                stream: stream.to_owned(),
                data: start..frame.len() - 1,
                combined: true,
            };
        }
        return FrameClass::Unknown;
    }
    // A raw event (a recording of /ws streams): name the stream from the event.
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(frame) else { return FrameClass::Unknown };
    let (Some(e), Some(s)) = (v.get("e").and_then(|x| x.as_str()), v.get("s").and_then(|x| x.as_str())) else {
        return FrameClass::Unknown;
    };
    let sym = s.to_ascii_lowercase();
    let stream = match e {
        "depthUpdate" => format!("{sym}@depth"),
        "bookTicker" => format!("{sym}@bookTicker"),
        "trade" => format!("{sym}@trade"),
        "aggTrade" => format!("{sym}@aggTrade"),
        "markPriceUpdate" => format!("{sym}@markPrice"),
        "forceOrder" => format!("{sym}@forceOrder"),
        _ => return FrameClass::Unknown,
    };
    FrameClass::BinanceStream {
        key: binance_stream_key(&stream),
        route: BinanceRoute::of_stream(&stream),
        stream,
        data: 0..frame.len(),
        combined: false,
    }
}

fn classify_bybit(frame: &[u8]) -> FrameClass {
    let Some((topic, after)) = quoted_after(frame, b"{\"topic\":\"") else { return FrameClass::Unknown };
    let snapshot = frame[after..].starts_with(b",\"type\":\"snapshot\"");
    FrameClass::BybitTopic { topic: topic.to_owned(), snapshot }
}

/// One frame of the market input.
#[derive(Debug, Clone)]
pub struct FeedFrame {
    /// Receive time in the input, ns (the recording's first column).
    pub local_ns: u64,
    /// The frame text as recorded.
    pub bytes: Bytes,
    /// Where it goes.
    pub class: FrameClass,
    /// Which input it came from (index in input order).
    pub source: usize,
}

/// Why the market input could not be opened.
///
/// # Errors
/// Returned by [`Feed::open`].
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// A recording could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// A recording holds no frame of the venue.
    #[error("{path}: no {venue} market frame in {frames} frames ({bad} malformed lines); is it a {venue} recording?")]
    Empty {
        /// The file.
        path: String,
        /// The venue.
        venue: Venue,
        /// Frames read.
        frames: usize,
        /// Malformed lines.
        bad: u64,
    },
    /// A synthetic session could not be made.
    #[error("synthetic session: {0}")]
    Synth(#[from] SynthError),
    /// Nothing to replay.
    #[error("no market input: give --input FILE or --synth-seed N")]
    NoInput,
}

enum Source {
    Recording { rec: Recording, next: usize },
    Synthetic(Box<Synth>),
}

impl Source {
    fn next(&mut self) -> Option<(u64, Vec<u8>)> {
        match self {
            Source::Recording { rec, next } => {
                let (ts, frame) = rec.frame(*next)?;
                *next += 1;
                Some((ts, frame.to_vec()))
            }
            Source::Synthetic(s) => s.next_frame().map(|f| (f.local_ts_ns, f.bytes.to_vec())),
        }
    }
}

/// The merged market input.
pub struct Feed {
    venue: Venue,
    sources: Vec<Source>,
    heads: Vec<Option<(u64, Vec<u8>)>>,
    labels: Vec<String>,
    /// Frames handed out per source.
    pub frames_out: Vec<u64>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").field("venue", &self.venue).field("labels", &self.labels).finish()
    }
}

impl Feed {
    /// Opens recordings of `venue` (loaded into memory).
    ///
    /// # Errors
    /// [`FeedError::Read`], or [`FeedError::Empty`] for a file with no
    /// frame of the venue.
    pub fn recordings(venue: Venue, paths: &[impl AsRef<Path>]) -> Result<Self, FeedError> {
        if paths.is_empty() {
            return Err(FeedError::NoInput);
        }
        let mut sources = Vec::new();
        let mut labels = Vec::new();
        for path in paths {
            let path = path.as_ref();
            let rec =
                Recording::load(path).map_err(|source| FeedError::Read { path: path.display().to_string(), source })?;
            let known = rec.iter().take(500).filter(|(_, f)| classify(venue, f) != FrameClass::Unknown).count();
            if known == 0 {
                return Err(FeedError::Empty {
                    path: path.display().to_string(),
                    venue,
                    frames: rec.len(),
                    bad: rec.bad_lines(),
                });
            }
            labels.push(format!("{} ({} frames)", path.display(), rec.len()));
            sources.push(Source::Recording { rec, next: 0 });
        }
        Ok(Self::from_sources(venue, sources, labels))
    }

    /// Synthetic sessions of `venue`, one per symbol (seeds `seed`,
    /// `seed + 1`, …), starting at `start_ms` (exchange time).
    ///
    /// # Errors
    /// [`FeedError::Synth`] for an unknown symbol or a bad duration.
    pub fn synthetic(
        venue: Venue,
        symbols: &[Symbol],
        seed: u64,
        duration_s: f64,
        start_ms: i64,
    ) -> Result<Self, FeedError> {
        if symbols.is_empty() {
            return Err(FeedError::NoInput);
        }
        let mut sources = Vec::new();
        let mut labels = Vec::new();
        for (k, symbol) in symbols.iter().enumerate() {
            let mut config = SynthConfig::built_in(venue, *symbol, seed.wrapping_add(k as u64), duration_s)?;
            config.start_ms = start_ms;
            labels.push(format!("synthetic {symbol} seed {} ({duration_s} s)", config.seed));
            sources.push(Source::Synthetic(Box::new(Synth::new(&config)?)));
        }
        Ok(Self::from_sources(venue, sources, labels))
    }

    fn from_sources(venue: Venue, mut sources: Vec<Source>, labels: Vec<String>) -> Self {
        let heads = sources.iter_mut().map(Source::next).collect();
        let n = sources.len();
        Self { venue, sources, heads, labels, frames_out: vec![0; n] }
    }

    /// What each input is, for the start-up line.
    #[must_use]
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The next frame by receive time (ties: input order).
    pub fn next_frame(&mut self) -> Option<FeedFrame> {
        let (k, _) = self
            .heads
            .iter()
            .enumerate()
            .filter_map(|(k, h)| h.as_ref().map(|(ts, _)| (k, *ts)))
            .min_by_key(|&(k, ts)| (ts, k))?;
        let (local_ns, bytes) = self.heads[k].take()?;
        self.heads[k] = self.sources[k].next();
        self.frames_out[k] += 1;
        let class = classify(self.venue, &bytes);
        Some(FeedFrame { local_ns, bytes: Bytes::from(bytes), class, source: k })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_binance_envelopes_and_routes() {
        let frame = br#"{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","u":1}}"#;
        let FrameClass::BinanceStream { stream, key, route, data, combined } = classify(Venue::BinanceUsdm, frame)
        else {
            panic!()
        };
        assert_eq!(
            (stream.as_str(), key.as_str(), route, combined),
            ("btcusdt@depth@0ms", "btcusdt@depth", BinanceRoute::Public, true)
        );
        assert_eq!(&frame[data], br#"{"e":"depthUpdate","u":1}"#);
        assert_eq!(BinanceRoute::of_stream("btcusdt@trade"), BinanceRoute::Market);
        assert_eq!(BinanceRoute::of_stream("btcusdt@bookTicker"), BinanceRoute::Public);
        assert_eq!(BinanceRoute::of_stream("btcusdt@markPrice@1s"), BinanceRoute::Market);
        assert_eq!(binance_stream_key("BTCUSDT@depth@100ms"), "btcusdt@depth");
        assert_eq!(binance_stream_key("btcusdt@markPrice@1s"), "btcusdt@markPrice");
        assert_eq!(classify(Venue::BinanceUsdm, br#"{"lastUpdateId":5,"bids":[]}"#), FrameClass::BinanceRestSnapshot);
        let raw = br#"{"e":"trade","E":1,"s":"BTCUSDT","t":1}"#;
        let FrameClass::BinanceStream { stream, combined, data, .. } = classify(Venue::BinanceUsdm, raw) else {
            panic!()
        };
        assert_eq!((stream.as_str(), combined, data), ("btcusdt@trade", false, 0..raw.len()));
        assert_eq!(classify(Venue::BinanceUsdm, b"garbage"), FrameClass::Unknown);
    }

    #[test]
    fn classifies_bybit_topics() {
        assert_eq!(
            classify(Venue::BybitLinear, br#"{"topic":"orderbook.200.BTCUSDT","type":"snapshot","ts":1}"#),
            FrameClass::BybitTopic { topic: "orderbook.200.BTCUSDT".into(), snapshot: true }
        );
        assert_eq!(
            classify(Venue::BybitLinear, br#"{"topic":"tickers.BTCUSDT","type":"delta"}"#),
            FrameClass::BybitTopic { topic: "tickers.BTCUSDT".into(), snapshot: false }
        );
        assert_eq!(classify(Venue::BybitLinear, br#"{"op":"pong"}"#), FrameClass::Unknown);
    }

    #[test]
    fn merges_synthetic_sessions_by_time() {
        let syms = ["BTCUSDT".parse().unwrap(), "ETHUSDT".parse().unwrap()];
        let mut feed = Feed::synthetic(Venue::BinanceUsdm, &syms, 3, 2.0, 1_700_000_000_000).unwrap();
        let mut last = 0;
        let mut sources = [0u64; 2];
        while let Some(f) = feed.next_frame() {
            assert!(f.local_ns >= last, "merged in time order");
            last = f.local_ns;
            sources[f.source] += 1;
            assert_ne!(f.class, FrameClass::Unknown);
        }
        assert!(sources[0] > 0 && sources[1] > 0, "{sources:?}");
    }
}
