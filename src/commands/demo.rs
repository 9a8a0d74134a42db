//! `scalpel demo`: the one-command tour. It starts `scalpel sim` in process
//! (TLS on loopback with its generated CA; a synthetic session, or a
//! recording with `--input`) and the live engine (`scalpel run`'s code:
//! real TLS and WebSockets, real signed orders to the simulator, the hot
//! thread pinned where the machine has cores to spare), trades for
//! `--duration`, stops cleanly (cancel all, flatten), and reports:
//!
//! - the round trips and PnL, built as the backtest builds them
//!   ([`crate::backtest::trades::TradeBook`]) from the session's own fills
//!   (taken from the replay of its flight recording, which must reproduce
//!   every intent: replay parity 100%);
//! - orders sent, acknowledged, filled, cancelled, rejected and **lost**
//!   (sent and never settled; must be 0);
//! - faults injected per kind (the simulator's counters) and whether the
//!   session survived them (nothing lost, no crossed book published, the
//!   engine ended cleanly, replay parity 100%);
//! - tick-to-trade percentiles measured in the engine (the receive stamp of
//!   the frame that caused an order → the order handed to the socket, raw
//!   `quanta` stamps on the hot thread, recorded off it by the journal
//!   thread) and wire-to-wire percentiles measured in the simulator (its
//!   write of that market frame to the engine's connection → its read of the
//!   engine's order, both `CLOCK_REALTIME`);
//! - crossed books published (the replay's core probe checks every book
//!   the core published: must be 0);
//! - the same session through `scalpel backtest` (the market frames the
//!   engine received, from its flight recording, against the backtest's
//!   simulated exchange and latency model), and the parity between the two:
//!   backtest round trips matched in the demo by side, tier and entry time
//!   within the latency.
//!
//! The simulator's order latency is set to the profile's backtest order
//! latency (when constant), so both sides model the same venue.
//!
//! # Errors
//! [`DemoError`]; a session that lost an order, published a crossed book or
//! broke replay parity prints its report and then fails.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::backtest::report::{TradeJson, money};
use crate::engine::recorder::Manifest;
use crate::engine::replay::ReplayReport;
use crate::engine::{Counter, EngineReport, Hooks};
use crate::event::MarketEvent;
use crate::fixed::Notional;
use crate::instrument::{InstrumentTable, LoadError, Symbol};
use crate::json::JsonScratch;
use crate::profile::Profile;
use crate::profile::backtest::LatencyModel;
use crate::sim::stamps::{FrameKind, FrameStamp, OrderStamp, PublishedFrame};
use crate::sim::{SimReport, Simulator};
use crate::venue::Decoder;
use crate::venue::Venue;

use super::session::{live_config_head, streams, venue_table, write_json};

/// The demo profile shipped in the repository (used when `--config` is not
/// given and `tuning/demo.toml` is not under the working directory).
pub const BUILT_IN_PROFILE: &str = include_str!("../../tuning/demo.toml");

/// Default length of a demo, seconds.
pub const DEFAULT_SECS: f64 = 90.0;

/// Options of `scalpel demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Venue the simulator speaks.
    pub venue: Venue,
    /// Seconds of trading.
    pub duration_s: f64,
    /// A recording to replay instead of the synthetic session.
    pub input: Option<PathBuf>,
    /// The instrument traded.
    pub symbol: Symbol,
    /// Seed of the synthetic session.
    pub synth_seed: u64,
    /// Fault spec (`scalpel sim --faults`).
    pub faults: Option<String>,
    /// Seed of the fault decisions.
    pub fault_seed: u64,
    /// The strategy profile; `None`: `tuning/demo.toml` under the working
    /// directory when it exists, else the built-in copy.
    pub config: Option<PathBuf>,
    /// JSON report file (`-`: stdout).
    pub json: Option<PathBuf>,
    /// Directory for the session's files (keys, journal, flight
    /// recording); `None`: a new directory under the system's temporary one.
    pub dir: Option<PathBuf>,
    /// CPU to pin the hot thread to; `None`: the last CPU when the machine
    /// has at least 4, else not pinned.
    pub pin: Option<usize>,
    /// Poll with a zero timeout; `None`: when the hot thread is pinned.
    pub busy_poll: Option<bool>,
    /// Seconds between status lines on stderr (0: none).
    pub status_secs: f64,
    /// Serve the engine's Prometheus metrics here (`[metrics] listen`).
    pub metrics: Option<std::net::SocketAddr>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            venue: Venue::BinanceUsdm,
            duration_s: DEFAULT_SECS,
            input: None,
            symbol: Symbol::new(b"BTCUSDT").unwrap_or_else(|_| unreachable!("a valid symbol")),
            synth_seed: crate::backtest::SyntheticInput::DEFAULT_SEED,
            faults: None,
            fault_seed: 1,
            config: None,
            json: None,
            dir: None,
            pin: None,
            busy_poll: None,
            status_secs: 10.0,
            metrics: None,
        }
    }
}

/// Why the demo failed.
///
/// # Errors
/// From [`run`].
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A bad option or profile.
    #[error("{0}")]
    Config(#[from] LoadError),
    /// The simulator.
    #[error("simulator: {0}")]
    Sim(#[from] crate::sim::SimError),
    /// The engine.
    #[error("engine: {0}")]
    Engine(#[from] crate::engine::EngineError),
    /// The replay of the flight recording.
    #[error("replay: {0}")]
    Replay(#[from] crate::engine::replay::ReplayError),
    /// The backtest of the session.
    #[error("backtest: {0}")]
    Backtest(#[from] crate::backtest::BacktestError),
    /// A file.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The session broke a promise (lost orders, crossed books, replay parity).
    #[error("the demo FAILED: {0}")]
    Failed(String),
}

/// Three percentiles and the sample count, nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 99th.
    pub p99: u64,
    /// 99.9th.
    pub p999: u64,
    /// Largest.
    pub max: u64,
    /// Samples.
    pub count: u64,
}

impl Percentiles {
    /// Of a histogram (all zero when it is empty).
    #[must_use]
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            count: h.len(),
        }
    }

    fn text(&self) -> String {
        if self.count == 0 {
            return "no samples".into();
        }
        format!(
            "p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs ({} samples)",
            us(self.p50),
            us(self.p99),
            us(self.p999),
            us(self.max),
            self.count
        )
    }
}

fn us(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1000.0)
}

/// The demo's report (also its `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// `"scalpel demo"`.
    pub report: &'static str,
    /// Venue.
    pub venue: &'static str,
    /// What the market was.
    pub input: String,
    /// The profile used.
    pub profile: String,
    /// Seconds of trading asked for.
    pub duration_s: f64,
    /// Where the hot thread ran.
    pub pinning: String,
    /// The session's directory (journal, flight recording).
    pub dir: String,
    /// Round trips closed.
    pub trades: u64,
    /// Round trips still open at the end (0 after the stop's flatten).
    pub open_trades: u64,
    /// Realised PnL of the closed round trips net of fees, USDT.
    pub pnl_usdt: String,
    /// The round trips.
    pub trade_list: Vec<TradeJson>,
    /// Orders sent (WebSocket and REST).
    pub orders_sent: u64,
    /// Orders acknowledged.
    pub orders_acked: u64,
    /// Fills.
    pub fills: u64,
    /// Orders cancelled.
    pub orders_cancelled: u64,
    /// Orders expired (IOC / post-only).
    pub orders_expired: u64,
    /// Orders rejected by the venue.
    pub orders_rejected: u64,
    /// Orders whose answer was lost and that were queried; of them settled.
    pub orders_queried: u64,
    /// Queried orders settled by the query.
    pub orders_resolved: u64,
    /// Orders sent and never settled (must be 0).
    pub lost_orders: u64,
    /// Order requests the simulator read.
    pub sim_order_requests: u64,
    /// Faults injected, per kind (every kind listed).
    pub faults_injected: std::collections::BTreeMap<&'static str, u64>,
    /// Faults injected in all.
    pub faults_total: u64,
    /// The session survived them: the engine ended cleanly, nothing lost,
    /// no crossed book published, replay parity 100%.
    pub faults_survived: bool,
    /// Every book was in sync when the session stopped.
    pub books_in_sync_at_end: bool,
    /// Engine-side disconnects, resyncs.
    pub disconnects: u64,
    /// Book resyncs.
    pub resyncs: u64,
    /// Books the core published (the replay's probe).
    pub books_published: u64,
    /// Of them crossed (must be 0).
    pub crossed_books_published: u64,
    /// Tick-to-trade in the engine, ns.
    pub tick_to_trade_ns: Percentiles,
    /// Wire-to-wire in the simulator, ns.
    pub wire_to_wire_ns: Percentiles,
    /// Orders whose causing frame and request were both stamped (the wire-to-wire samples).
    pub wire_to_wire_paired: u64,
    /// Orders not caused by a market frame (timers, fills) or not found in the stamps.
    pub wire_to_wire_unpaired: u64,
    /// Round trips of the same session through `scalpel backtest`.
    pub backtest_trades: u64,
    /// The backtest's net PnL, USDT.
    pub backtest_pnl_usdt: String,
    /// Backtest round trips matched in the demo (side, tier, entry time).
    pub parity_matched_trades: u64,
    /// `parity_matched_trades / backtest_trades` (1 when both are 0).
    pub parity_ratio: f64,
    /// Entry-time tolerance of the match, ms.
    pub parity_tolerance_ms: i64,
    /// The engine's receive time minus the exchange time of the session's
    /// stream frames (median), ms: the feed's lag as the engine saw it (the
    /// parity backtest runs on the receive times themselves).
    pub parity_offset_ms: i64,
    /// Backtest round trips not matched: `id side tier entry_ms`.
    pub parity_unmatched: Vec<String>,
    /// Demo round trips no backtest trade matched.
    pub demo_unmatched: Vec<String>,
    /// Why orders did not go out: the strategy's entry gates and the risk gate.
    pub engine_gates: String,
    /// Order intents the engine's core made (the flight recording).
    pub intents: u64,
    /// Of them reproduced identically by the replay (must equal `intents`).
    pub replay_matched_intents: u64,
}

/// Runs the demo (module docs): progress on `err`, the report on `out`
/// (and into `--json`).
///
/// # Errors
/// [`DemoError`].
pub fn run(
    opts: &DemoOptions,
    hooks: Hooks,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<DemoReport, DemoError> {
    let session = super::live_session::start(opts, &super::live_session::DEMO_PROFILE, hooks, err)?;
    let super::live_session::Finished { about, engine, frames, orders, published, sim: sim_report } =
        session.trade(opts, err)?;
    let super::live_session::About { dir, flight, profile, profile_label, input_label, pinning } = about;
    writeln!(err, "demo: stopped; replaying the flight recording and backtesting the session")?;

    let replay = crate::engine::replay::replay(&flight)?;
    let manifest: Manifest = serde_json::from_str(&std::fs::read_to_string(flight.join("manifest.json"))?)
        .map_err(|e| io::Error::other(format!("manifest.json: {e}")))?;
    let lags = receive_lags_ms(&flight, &manifest);
    let clock_offset_ms = lags.first().map_or(0, |&min| (-min).max(0));
    let backtest = backtest_session(&flight, &manifest, clock_offset_ms)?;
    let unfed = crate::engine::recorder::open_interest_figures(&flight)?;
    if unfed > 0 {
        writeln!(
            err,
            "demo: {unfed} open-interest figures of the Binance poll are in the recording (sequence.txt) but not given \
             to the backtest, which reads the market files only: its open-interest gate counts them as not evaluated"
        )?;
    }
    let timing = order_timing(&flight, &manifest, &frames, &orders, &published)?;
    let report = build_report(Parts {
        opts,
        input_label,
        profile_label,
        pinning,
        dir: &dir,
        engine: &engine,
        sim: &sim_report,
        replay: &replay,
        backtest: &backtest,
        timing: &timing,
        profile: &profile,
        lags_ms: &lags,
        clock_offset_ms,
    });
    print_report(&report, &replay, &backtest, out)?;
    if let Some(path) = &opts.json {
        write_json(&report, path, out)?;
    }
    let mut broken = Vec::new();
    if report.lost_orders > 0 {
        broken.push(format!("{} orders lost", report.lost_orders));
    }
    if report.crossed_books_published > 0 {
        broken.push(format!("{} crossed books published", report.crossed_books_published));
    }
    if !replay.parity() {
        broken
            .push(format!("replay parity broken ({} of {} intents)", replay.matched_intents, replay.recorded_intents));
    }
    if !broken.is_empty() {
        return Err(DemoError::Failed(broken.join(", ")));
    }
    Ok(report)
}

/// Copies a recording to `out` with its clock moved to `now_ms`: every
/// receive time, and every exchange time in the frames (Binance `"E"`,
/// `"T"`; Bybit `"ts"`, `"T"`, `"cts"`: 13-digit epoch milliseconds, same
/// width after the move), shifted by the same amount, so the first frame is
/// received now. A live engine reads exchange time against its own clock
/// (signal windows, time stops): a recording from another day would be two
/// years stale to it. Ids, prices and sizes are left as recorded. Returns
/// the shift, ms.
///
/// # Errors
/// The input cannot be read (plain or gzip) or `out` written.
pub fn shift_recording(input: &Path, out: &Path, now_ms: i64) -> io::Result<i64> {
    use std::io::Read as _;
    let raw =
        std::fs::read(input).map_err(|e| io::Error::new(e.kind(), format!("--input {}: {e}", input.display())))?;
    let mut text = Vec::new();
    if raw.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut text)
            .map_err(|e| io::Error::new(e.kind(), format!("--input {}: {e}", input.display())))?;
    } else {
        text = raw;
    }
    let mut shift_ms: Option<i64> = None;
    let mut w = io::BufWriter::new(std::fs::File::create(out)?);
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let Some(space) = line.iter().position(|&b| b == b' ') else { continue };
        let Some(local_ns) = std::str::from_utf8(&line[..space]).ok().and_then(|t| t.trim().parse::<i64>().ok()) else {
            continue;
        };
        let shift = *shift_ms.get_or_insert(now_ms - local_ns / 1_000_000);
        write!(w, "{} ", local_ns + shift * 1_000_000)?;
        let mut frame = line[space + 1..].to_vec();
        shift_times(&mut frame, shift);
        w.write_all(&frame)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(shift_ms.unwrap_or(0))
}

/// Adds `shift_ms` to every 13-digit number after `"E":`, `"T":`, `"ts":`
/// or `"cts":` in `frame`, in place.
fn shift_times(frame: &mut [u8], shift_ms: i64) {
    const KEYS: [&[u8]; 4] = [b"\"E\":", b"\"T\":", b"\"ts\":", b"\"cts\":"];
    let mut i = 0;
    while i < frame.len() {
        let Some(key) = KEYS.iter().find(|k| frame[i..].starts_with(k)) else {
            i += 1;
            continue;
        };
        let start = i + key.len();
        let end = start + frame[start..].iter().take_while(|b| b.is_ascii_digit()).count();
        if end - start == 13
            && let Some(v) = std::str::from_utf8(&frame[start..end]).ok().and_then(|t| t.parse::<i64>().ok())
        {
            let moved = (v + shift_ms).to_string();
            if moved.len() == 13 {
                frame[start..end].copy_from_slice(moved.as_bytes());
            }
        }
        i = end.max(i + 1);
    }
}

/// `tuning/live.toml` for the simulator, written into `dir`.
pub(crate) fn write_live_config(
    sim: &Simulator,
    dir: &Path,
    profile: &Path,
    opts: &DemoOptions,
    pin: Option<usize>,
    busy: bool,
) -> io::Result<PathBuf> {
    let streams = streams(opts.venue, opts.input.is_some());
    // A synthetic stream is never quiet for seconds; a recording's trade
    // stream can be (the venue's own default applies then).
    let stale = if opts.input.is_some() { 30_000 } else { 3_000 };
    let text = live_config_head(profile, pin, busy) + &venue_table(sim, &[opts.symbol], &streams, stale);
    let metrics = opts.metrics.map_or(String::new(), |m| format!("\n[metrics]\nlisten = \"{m}\"\n"));
    let path = dir.join("live.toml");
    std::fs::write(&path, text + &metrics)?;
    Ok(path)
}

/// The market files of a flight recording through `scalpel backtest`'s
/// replay (the same profile and instruments as the engine's), each frame
/// reaching the core at its recorded receive time (the engine's clock when
/// its core call was made) plus `clock_offset_ms` (`recorded = true`): the
/// backtest's core then runs on the engine's own clock, so decisions that
/// wait for a time boundary fall on the same frames. The offset is zero
/// unless a frame was received before its exchange time (a recording
/// whose recorder clock ran behind the exchange's): the clock is moved by
/// the largest such lead, the same amount for every frame.
fn backtest_session(
    flight: &Path,
    manifest: &Manifest,
    clock_offset_ms: i64,
) -> Result<crate::backtest::report::Report, DemoError> {
    let mut profile = Profile::from_toml_str(&manifest.profile_text, Path::new(&manifest.profile_dir))?;
    profile.backtest.recorded_feed =
        Some(crate::profile::backtest::RecordedFeed { clock_offset_ns: clock_offset_ms.saturating_mul(1_000_000) });
    if let Some(text) = &manifest.risk_text {
        profile.risk = crate::profile::RiskFile::from_toml_str(text)?.risk;
    }
    profile.instruments = InstrumentTable::from_toml_str(&manifest.instruments_toml)?;
    let inputs: Vec<String> = manifest
        .files
        .iter()
        .filter(|f| f.feed.is_some())
        .map(|f| format!("{}:{}", f.venue.name(), flight.join(&f.name).display()))
        .collect();
    let (mut frames, sources) =
        crate::backtest::FileMerge::open(&inputs, &profile.instruments, profile.core.max_clock_skew_ms)
            .map_err(crate::backtest::BacktestError::from)?;
    let signals = crate::signal::SignalConfig::from_table(&profile.signals)?;
    let (report, _) = crate::backtest::run_stream(
        &profile,
        "demo session",
        &sources,
        &mut frames,
        crate::backtest::LiveSignals::new(&signals, profile.instruments.all()),
        &mut |_| {},
        None,
    )?;
    Ok(report)
}

/// A published frame's identity: its kind and the venue's id in it.
fn kind_code(k: FrameKind) -> u8 {
    match k {
        FrameKind::Depth => 0,
        FrameKind::Snapshot => 1,
        FrameKind::Top => 2,
        FrameKind::Trade => 3,
        FrameKind::Other => 4,
    }
}

/// The (kind, id) of a frame, decoded exactly as the simulator keyed it
/// when it published it ([`crate::sim::exchange`]).
fn frame_key(decoder: &Decoder, scratch: &mut JsonScratch, frame: &mut [u8]) -> Option<((u8, u64), Option<i64>)> {
    decoder.decode_frame(scratch, frame, |event| {
        let event = event.ok()?;
        let event_ms = crate::backtest::input::event_time_ms(&event);
        let key = match &event {
            MarketEvent::Depth(d) => Some((kind_code(FrameKind::Depth), d.last_id)),
            MarketEvent::Snapshot(s) => Some((kind_code(FrameKind::Snapshot), s.last_id)),
            MarketEvent::BookTicker(t) => Some((kind_code(FrameKind::Top), t.update_id)),
            MarketEvent::Ticker(t) => {
                let kind = if t.bid_px.is_some() || t.ask_px.is_some() { FrameKind::Top } else { FrameKind::Other };
                Some((kind_code(kind), t.cs))
            }
            MarketEvent::Trades(batch) => {
                let mut id = None;
                for t in *batch {
                    let Ok(t) = t else { break };
                    id = Some(t.id);
                }
                id.map(|id| (kind_code(FrameKind::Trade), id))
            }
            _ => None,
        };
        key.map(|k| (k, event_ms))
    })
}

/// What the flight recording and the simulator's stamps say about the
/// orders.
pub(crate) struct OrderTiming {
    /// Wire-to-wire, ns.
    pub w2w: Histogram<u64>,
    /// Orders with a wire-to-wire sample.
    pub paired: u64,
    /// Orders without one (placed on a timer or a fill, or not stamped).
    pub unpaired: u64,
}

/// Wire-to-wire samples: for every order the core placed in reaction to a
/// market frame (the flight recording says which frame), the simulator's
/// write of that frame to the engine's connection → its read of the order
/// request.
pub(crate) fn order_timing(
    flight: &Path,
    manifest: &Manifest,
    frames: &[FrameStamp],
    orders: &[OrderStamp],
    published: &[PublishedFrame],
) -> Result<OrderTiming, DemoError> {
    let mut h = Histogram::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| io::Error::other(e.to_string()))?;
    // seq of a core call → (file, line index in that file) for market frames.
    let mut market_line: HashMap<u64, (usize, u64)> = HashMap::new();
    let mut consumed = vec![0u64; manifest.files.len()];
    let seq_file = BufReader::new(std::fs::File::open(flight.join("sequence.txt"))?);
    for line in seq_file.lines() {
        let line = line?;
        let parts: Vec<&str> = line.split(' ').collect();
        let file_at = match parts.get(1).copied() {
            Some("f" | "p" | "k") => 2,
            Some("s") => 3,
            Some("o") => 5,
            _ => continue,
        };
        let Some(f) = parts.get(file_at).and_then(|t| t.parse::<usize>().ok()).filter(|&f| f < consumed.len()) else {
            continue;
        };
        if parts[1] == "f"
            && let Some(seq) = parts.first().and_then(|t| t.parse::<u64>().ok())
        {
            market_line.insert(seq, (f, consumed[f]));
        }
        consumed[f] += 1;
    }
    // Orders placed: (seq, client id).
    let mut placed: Vec<(u64, u64)> = Vec::new();
    for line in std::fs::read_to_string(flight.join("intents.txt"))?.lines() {
        let mut p = line.split(' ');
        if let (Some(seq), Some("place"), Some(client)) = (p.next(), p.next(), p.next())
            && let (Ok(seq), Ok(client)) = (seq.parse::<u64>(), client.parse::<u64>())
        {
            placed.push((seq, client));
        }
    }
    // The frames those orders reacted to.
    let mut wanted: HashMap<(usize, u64), Vec<u64>> = HashMap::new();
    let mut unpaired = 0u64;
    for &(seq, client) in &placed {
        match market_line.get(&seq) {
            Some(&at) => wanted.entry(at).or_default().push(client),
            None => unpaired += 1,
        }
    }
    let table = InstrumentTable::from_toml_str(&manifest.instruments_toml)?;
    let mut scratch = JsonScratch::default();
    let mut client_key: HashMap<u64, (u8, u64)> = HashMap::new();
    for (f, entry) in manifest.files.iter().enumerate() {
        if !wanted.keys().any(|(wf, _)| *wf == f) {
            continue;
        }
        let decoder = Decoder::new(entry.venue, &table);
        let reader = BufReader::new(std::fs::File::open(flight.join(&entry.name))?);
        for (k, line) in reader.split(b'\n').enumerate() {
            let line = line?;
            let Some(clients) = wanted.get(&(f, k as u64)) else { continue };
            let Some(space) = line.iter().position(|&b| b == b' ') else { continue };
            let mut frame = line[space + 1..].to_vec();
            if let Some((key, _)) = frame_key(&decoder, &mut scratch, &mut frame) {
                for &c in clients {
                    client_key.insert(c, key);
                }
            }
        }
    }
    // A venue id can repeat across topics (Bybit's derived order books count
    // their own `u`): every frame published under a key is a candidate.
    let mut by_key: HashMap<(u8, u64), Vec<u64>> = HashMap::new();
    for p in published {
        by_key.entry((kind_code(p.kind), p.exchange_id)).or_default().push(p.seq);
    }
    let mut writes: HashMap<u64, Vec<u64>> = HashMap::new();
    for s in frames {
        writes.entry(s.seq).or_default().push(s.write_ns);
    }
    let mut reads: HashMap<&str, u64> = HashMap::new();
    for o in orders {
        let r = reads.entry(o.client_order_id.as_str()).or_insert(o.read_ns);
        *r = (*r).min(o.read_ns);
    }
    let mut paired = 0u64;
    for &(seq, client) in &placed {
        if !market_line.contains_key(&seq) {
            continue;
        }
        let id = crate::order::ClientOrderId(client).render();
        let read = reads.get(id.as_str()).copied();
        let seqs = client_key.get(&client).and_then(|k| by_key.get(k));
        match (read, seqs) {
            (Some(read), Some(seqs)) => match super::live_session::latest_write_before(seqs, &writes, read) {
                Some(w) => {
                    h.saturating_record((read - w).max(1));
                    paired += 1;
                }
                None => unpaired += 1,
            },
            _ => unpaired += 1,
        }
    }
    Ok(OrderTiming { w2w: h, paired, unpaired })
}

/// Backtest round trips matched in the demo: same symbol, side and tier,
/// entry within `tol_ms` once the demo's clock is brought to the
/// exchange's (`offset_ms` subtracted from the demo's times); each demo
/// trade matches at most once (the nearest). Returns the matched count,
/// the unmatched backtest trades and the unmatched demo trades.
#[must_use]
pub fn match_trades(
    backtest: &[TradeJson],
    demo: &[TradeJson],
    offset_ms: i64,
    tol_ms: i64,
) -> (u64, Vec<String>, Vec<String>) {
    let mut used = vec![false; demo.len()];
    let mut matched = 0u64;
    let mut unmatched = Vec::new();
    let describe = |t: &TradeJson, ms: i64| {
        format!("#{} {} {} {} entry {ms} exit {}", t.id, t.symbol, t.side, t.tier, t.exit_reason)
    };
    for b in backtest {
        let best = demo
            .iter()
            .enumerate()
            .filter(|(k, d)| {
                !used[*k]
                    && d.symbol == b.symbol
                    && d.side == b.side
                    && d.tier == b.tier
                    && (d.entry_ms - offset_ms - b.entry_ms).abs() <= tol_ms
            })
            .min_by_key(|(_, d)| (d.entry_ms - offset_ms - b.entry_ms).abs());
        match best {
            Some((k, _)) => {
                used[k] = true;
                matched += 1;
            }
            None => unmatched.push(describe(b, b.entry_ms)),
        }
    }
    let demo_unmatched =
        demo.iter().zip(&used).filter(|(_, u)| !**u).map(|(d, _)| describe(d, d.entry_ms - offset_ms)).collect();
    (matched, unmatched, demo_unmatched)
}

struct Parts<'a> {
    opts: &'a DemoOptions,
    input_label: String,
    profile_label: String,
    pinning: String,
    dir: &'a Path,
    engine: &'a EngineReport,
    sim: &'a SimReport,
    replay: &'a ReplayReport,
    backtest: &'a crate::backtest::report::Report,
    timing: &'a OrderTiming,
    profile: &'a Profile,
    /// `receive − exchange time` of the session's stream frames, sorted.
    lags_ms: &'a [i64],
    /// The backtest's clock offset (see `backtest_session`).
    clock_offset_ms: i64,
}

/// How far the demo's clock (the engine's receive times, which the
/// simulator's fill times share) runs behind or ahead of the frames'
/// exchange times, ms: `receive − event time` of every stream frame of the
/// recording's market files (REST snapshots left out: the simulator stamps
/// them with its own clock), sorted. A synthetic session's receive times
/// lag its exchange times by its modelled feed delay; a recording replays
/// at its own recorded lag, shifted to the present.
fn receive_lags_ms(dir: &Path, manifest: &Manifest) -> Vec<i64> {
    let Ok(table) = InstrumentTable::from_toml_str(&manifest.instruments_toml) else { return Vec::new() };
    let mut scratch = JsonScratch::default();
    let mut diffs = Vec::new();
    for f in manifest.files.iter().filter(|f| f.feed.is_some()) {
        let decoder = Decoder::new(f.venue, &table);
        let Ok(file) = std::fs::File::open(dir.join(&f.name)) else { continue };
        for line in BufReader::new(file).split(b'\n').map_while(Result::ok) {
            let Some(space) = line.iter().position(|&b| b == b' ') else { continue };
            let Some(recv_ns) = std::str::from_utf8(&line[..space]).ok().and_then(|t| t.parse::<u64>().ok()) else {
                continue;
            };
            let mut frame = line[space + 1..].to_vec();
            let event_ms = decoder.decode_frame(&mut scratch, &mut frame, |e| match e {
                Ok(MarketEvent::Snapshot(_)) | Err(_) => None,
                Ok(e) => crate::backtest::input::event_time_ms(&e),
            });
            if let Some(ms) = event_ms {
                diffs.push((recv_ns / 1_000_000) as i64 - ms);
            }
        }
    }
    diffs.sort_unstable();
    diffs
}

fn build_report(p: Parts<'_>) -> DemoReport {
    let s = &p.engine.hot.stats;
    let t2t = p.engine.latency.get(crate::journal::Stage::TickToTrade).map(Percentiles::of).unwrap_or_default();
    let w2w = Percentiles::of(&p.timing.w2w);
    // Parity: the backtest replays the frames the engine received on the
    // engine's receive clock moved by `clock_offset_ms` (see
    // `backtest_session`); the demo's fills carry the simulator's clock,
    // which is the engine's.
    let offset_ms = p.lags_ms.get(p.lags_ms.len() / 2).copied().unwrap_or(0);
    let model_ms = |m: &LatencyModel| match m {
        LatencyModel::Constant(ns) => *ns,
        LatencyModel::Samples { samples_ns, .. } => samples_ns.iter().copied().max().unwrap_or(0),
    };
    // Within the latency: the backtest's order latency, the demo's measured
    // wire-to-wire p99 (its decision → the simulator reading the order),
    // plus 2 ms of millisecond rounding.
    let tol_ms = ((model_ms(&p.profile.backtest.order_latency) + w2w.p99) / 1_000_000) as i64 + 2;
    let demo_trades: Vec<TradeJson> = p.replay.trades.iter().map(TradeJson::of).collect();
    let (matched, unmatched, demo_unmatched) =
        match_trades(&p.backtest.trades, &demo_trades, -p.clock_offset_ms, tol_ms);
    let bt_n = p.backtest.trades.len() as u64;
    let net: i64 = p.replay.trades.iter().map(|t| t.net().0).sum();
    let faults_total: u64 = p.sim.faults_injected.values().sum();
    let lost = p.engine.hot.lost.len() as u64;
    let crossed = p.replay.crossed_books_published;
    let book_live = s.insts.iter().all(|i| i.book_live);
    DemoReport {
        report: "scalpel demo",
        venue: p.opts.venue.name(),
        input: p.input_label,
        profile: p.profile_label,
        duration_s: p.opts.duration_s,
        pinning: p.pinning,
        dir: p.dir.display().to_string(),
        trades: p.replay.trades.len() as u64,
        open_trades: p.replay.open_trades.len() as u64,
        pnl_usdt: money(Notional(net)),
        trade_list: demo_trades,
        orders_sent: s.get(Counter::OrdersSent),
        orders_acked: s.get(Counter::Acked),
        fills: s.get(Counter::Fills),
        orders_cancelled: s.get(Counter::Cancelled),
        orders_expired: s.get(Counter::Expired),
        orders_rejected: s.get(Counter::Rejected),
        orders_queried: s.get(Counter::Unknown),
        orders_resolved: s.get(Counter::Resolved),
        lost_orders: lost,
        sim_order_requests: p.sim.counters.get("order_requests").copied().unwrap_or(0),
        faults_injected: p.sim.faults_injected.clone(),
        faults_total,
        faults_survived: lost == 0 && crossed == 0 && p.replay.parity(),
        books_in_sync_at_end: book_live,
        disconnects: s.get(Counter::Disconnects),
        resyncs: s.get(Counter::Resyncs),
        books_published: p.replay.books_published,
        crossed_books_published: crossed,
        tick_to_trade_ns: t2t,
        wire_to_wire_ns: w2w,
        wire_to_wire_paired: p.timing.paired,
        wire_to_wire_unpaired: p.timing.unpaired,
        backtest_trades: bt_n,
        backtest_pnl_usdt: p.backtest.summary.net_pnl_usdt.clone(),
        parity_matched_trades: matched,
        parity_ratio: if bt_n == 0 { 1.0 } else { matched as f64 / bt_n as f64 },
        parity_tolerance_ms: tol_ms,
        parity_offset_ms: offset_ms,
        parity_unmatched: unmatched,
        demo_unmatched,
        engine_gates: p.engine.hot.gates.clone(),
        intents: p.replay.recorded_intents,
        replay_matched_intents: p.replay.matched_intents,
    }
}

/// The human report.
fn print_report(
    r: &DemoReport,
    replay: &ReplayReport,
    backtest: &crate::backtest::report::Report,
    out: &mut dyn Write,
) -> io::Result<()> {
    let wins = r.trade_list.iter().filter(|t| !t.net_pnl_usdt.starts_with('-') && t.net_pnl_usdt != "0").count();
    let a = r.trade_list.iter().filter(|t| t.tier == "A").count();
    writeln!(out, "scalpel demo: {} {} for {} s, profile {}", r.venue, r.input, r.duration_s, r.profile)?;
    writeln!(out, "  engine: real TLS + WebSockets on loopback, signed orders to the simulator; {}", r.pinning)?;
    writeln!(
        out,
        "trades: {} (A {}, B {}), wins {wins}, losses {}; realised net {} USDT (fees included){}",
        r.trades,
        a,
        r.trade_list.len() - a,
        r.trade_list.len() - wins,
        r.pnl_usdt,
        if r.open_trades > 0 { format!("; {} still open", r.open_trades) } else { String::new() }
    )?;
    for t in &r.trade_list {
        writeln!(
            out,
            "  #{} {} {} {} conf {} qty {} entry {} exit {} ({}) hold {} s net {} USDT",
            t.id,
            t.symbol,
            t.side,
            t.tier,
            t.confidence,
            t.qty,
            t.entry_price,
            t.exit_price,
            t.exit_reason,
            t.hold_secs,
            t.net_pnl_usdt
        )?;
    }
    writeln!(
        out,
        "orders: sent {}, acked {}, fills {}, cancelled {}, expired {}, rejected {}, answers lost and queried {} (settled {}), LOST {}; the simulator read {} order requests",
        r.orders_sent,
        r.orders_acked,
        r.fills,
        r.orders_cancelled,
        r.orders_expired,
        r.orders_rejected,
        r.orders_queried,
        r.orders_resolved,
        r.lost_orders,
        r.sim_order_requests
    )?;
    let injected: Vec<String> =
        r.faults_injected.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k} {n}")).collect();
    if injected.is_empty() {
        writeln!(out, "faults: none injected")?;
    } else {
        writeln!(
            out,
            "faults: {} injected ({}); {} (disconnects {}, resyncs {})",
            r.faults_total,
            injected.join(", "),
            if r.faults_survived { "SURVIVED" } else { "NOT survived" },
            r.disconnects,
            r.resyncs
        )?;
    }
    writeln!(out, "books: {} published, {} crossed", r.books_published, r.crossed_books_published)?;
    writeln!(out, "gates: {}", r.engine_gates)?;
    writeln!(out, "tick-to-trade (engine, frame read → order written): {}", r.tick_to_trade_ns.text())?;
    writeln!(
        out,
        "wire-to-wire (simulator, market frame written → order read): {} ({} orders not caused by a market frame or not stamped)",
        r.wire_to_wire_ns.text(),
        r.wire_to_wire_unpaired
    )?;
    writeln!(
        out,
        "backtest of the same session: {} trades, net {} USDT ({} frames, order latency {}, feed latency {})",
        r.backtest_trades,
        r.backtest_pnl_usdt,
        backtest.replay.frames,
        backtest.settings.order_latency,
        backtest.settings.feed_latency
    )?;
    writeln!(
        out,
        "parity: {} of {} backtest trades matched in the demo by side, tier and entry time within {} ms ({:.1}%; frames reached the engine a median {} ms after their exchange time)",
        r.parity_matched_trades,
        r.backtest_trades,
        r.parity_tolerance_ms,
        r.parity_ratio * 100.0,
        r.parity_offset_ms
    )?;
    for u in &r.parity_unmatched {
        writeln!(out, "  backtest only: {u}")?;
    }
    for u in &r.demo_unmatched {
        writeln!(out, "  demo only: {u}")?;
    }
    writeln!(
        out,
        "replay of the flight recording: {} intents, {} identical ({})",
        r.intents,
        r.replay_matched_intents,
        if replay.parity() { "parity 100%" } else { "PARITY BROKEN" }
    )?;
    for d in &replay.differences {
        writeln!(out, "  {d}")?;
    }
    writeln!(out, "session files: {}", r.dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recordings_clock_moves_by_the_same_amount_everywhere_and_nothing_else_changes() {
        let mut frame = br#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161240000,"T":1723161239999,"t":1723161240001234,"p":"61800.10","ts":1723161240005,"cts":1723161240006,"x":"T"}}"#.to_vec();
        shift_times(&mut frame, 73_000_000_000);
        let text = String::from_utf8(frame).unwrap();
        assert!(text.contains(r#""E":1796161240000,"T":1796161239999"#), "{text}");
        assert!(text.contains(r#""ts":1796161240005,"cts":1796161240006"#), "{text}");
        // A 16-digit trade id, a price and a one-letter value are not times.
        assert!(text.contains(r#""t":1723161240001234,"p":"61800.10""#) && text.contains(r#""x":"T""#), "{text}");
        let dir = std::env::temp_dir().join(format!("scalpel-demo-shift-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("in.txt");
        std::fs::write(
            &input,
            "1723161240000000000 {\"E\":1723161240003}\n1723161240500000000 {\"result\":null,\"id\":1}\n",
        )
        .unwrap();
        let shift = shift_recording(&input, &dir.join("out.txt"), 1_796_161_240_000).unwrap();
        assert_eq!(shift, 73_000_000_000);
        let out = std::fs::read_to_string(dir.join("out.txt")).unwrap();
        assert_eq!(out, "1796161240000000000 {\"E\":1796161240003}\n1796161240500000000 {\"result\":null,\"id\":1}\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
