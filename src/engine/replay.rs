//! `scalpel backtest --replay DIR`: a flight recording
//! ([`super::recorder`]) replayed through a fresh trading core, taking the
//! acknowledgements and fills from the recording instead of a simulated
//! exchange, and every intent compared with the one the live session's
//! core made at the same input.
//!
//! The core is built exactly as the engine built it: the same profile
//! text, risk file and instruments (from the manifest), the same session
//! epoch, the same feeds in the same order with the same stream bindings;
//! every call of `sequence.txt` is made again with the recorded bytes and
//! receive time, and the risk side's facts come back at the same polls
//! ([`ReplayLink`]). It is the same code on the same inputs, so parity must
//! be total: any difference is a bug (or a recording with drops, which is
//! refused).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::link::{Observation, OrderCounts, ReplayLink};
use super::recorder::{FORMAT, IntentFields, Manifest, OLDEST_VERSION, RecordingSummary, VERSION, source_of};
use crate::backtest::trades::TradeRecord;
use crate::core::{BindMode, Core, FeedId, FeedState, Intent, Intents, Observation as CoreObservation, Probe};
use crate::instrument::{InstrumentId, InstrumentTable, LoadError, Symbol, Venue};
use crate::order::SessionEpoch;
use crate::order::ids::RequestTag;
use crate::profile::{Profile, RiskFile};
use crate::risk::{RiskCommand, VerdictCell};
use crate::signal::{LiveSignals, SignalConfig};

/// Why a replay could not run.
///
/// # Errors
/// From [`replay`] and [`command`].
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The recording is malformed.
    #[error("{file} line {line}: {problem}")]
    Format {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        problem: String,
    },
    /// The recording cannot replay exactly.
    #[error("the recording is incomplete: {0}")]
    Incomplete(String),
    /// The profile or instruments in the manifest do not load.
    #[error("{0}")]
    Config(#[from] LoadError),
    /// The core could not be built.
    #[error("{0}")]
    Core(#[from] crate::core::CoreError),
    /// Replayed and recorded intents differ.
    #[error(
        "replay parity broken: {matched} of {recorded} recorded intents matched ({replayed} replayed); first difference: {first}"
    )]
    Diverged {
        /// Intents that matched.
        matched: u64,
        /// Intents recorded.
        recorded: u64,
        /// Intents replayed.
        replayed: u64,
        /// The first difference.
        first: String,
    },
}

/// What a replay found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReplayReport {
    /// The recording.
    pub dir: String,
    /// Calls into the core replayed.
    pub inputs: u64,
    /// Intents the live session's core made.
    pub recorded_intents: u64,
    /// Intents the replay's core made.
    pub replayed_intents: u64,
    /// Replayed intents identical to the recorded one at the same position
    /// (same input, order id, side, kind, price, quantity, role).
    pub matched_intents: u64,
    /// The first differences (at most 20).
    pub differences: Vec<String>,
    /// Risk-side facts not handed over at their recorded poll.
    pub link_late: u64,
    /// Risk-side facts never reached.
    pub link_unused: usize,
    /// Orders placed / acked / filled / cancelled / expired / rejected in the replay.
    pub orders: [u64; 6],
    /// Realised PnL net of fees in the replay, USDT.
    pub realised_usdt: f64,
    /// Books the core published (in sync) during the replay, as its probe saw them.
    pub books_published: u64,
    /// Published books whose best bid was not below the best ask (must be 0).
    pub crossed_books_published: u64,
    /// Published books older (exchange time) than one published before for
    /// the same instrument by more than [`BookCheck::STALE_MS`] (must be 0).
    pub stale_books_published: u64,
    /// Round trips closed, from the recorded fills (the backtest's trade records).
    #[serde(skip)]
    pub trades: Vec<TradeRecord>,
    /// Round trips still open at the end of the recording.
    #[serde(skip)]
    pub open_trades: Vec<TradeRecord>,
    /// The first fill of each order: client id → venue time, ms.
    #[serde(skip)]
    pub first_fills: Vec<(u64, i64)>,
}

/// The replay's probe: counts the books the core publishes and those of
/// them that are crossed (a published book must never be crossed: the core
/// publishes only books in sync and uncrossed; this checks it from outside),
/// and those that are stale: older, by exchange time, than a book already
/// published for the same instrument by more than [`BookCheck::STALE_MS`]
/// (an older state put back over a newer one, as a resync that applied an
/// old snapshot, or a reconnect that replayed old frames, would). Within
/// that margin time may step back: a Binance REST snapshot carries its
/// output time `E`, and the core publishes the buffered diffs it replays
/// under it, so the stream's next diff can be a few ms older; a Bybit
/// snapshot on subscribe carries the venue's (the simulator's) clock.
#[derive(Debug, Clone, Default)]
pub struct BookCheck {
    /// Books published.
    pub published: u64,
    /// Of them, crossed or locked (best bid ≥ best ask).
    pub crossed: u64,
    /// Of them, older by exchange time than one published before for the
    /// same instrument.
    pub stale: u64,
    /// Per instrument, the newest exchange time published, ms.
    newest_ms: Vec<i64>,
}

impl BookCheck {
    /// How far back a published book's exchange time may step, ms, before
    /// it counts as stale.
    pub const STALE_MS: i64 = 1_000;
}

impl Probe for BookCheck {
    const OBSERVES: bool = true;

    fn observe(&mut self, inst: InstrumentId, what: &CoreObservation<'_>, _snapshot: &crate::signal::SignalSnapshot) {
        if let CoreObservation::Book { book, ts_ms } = what {
            self.published += 1;
            if let (Some((bid, _)), Some((ask, _))) = (book.best_bid(), book.best_ask())
                && bid >= ask
            {
                self.crossed += 1;
            }
            let i = usize::from(inst.0);
            if self.newest_ms.len() <= i {
                self.newest_ms.resize(i + 1, i64::MIN);
            }
            if *ts_ms < self.newest_ms[i].saturating_sub(Self::STALE_MS) {
                self.stale += 1;
            }
            self.newest_ms[i] = self.newest_ms[i].max(*ts_ms);
        }
    }
}

impl ReplayReport {
    /// Parity is total.
    #[must_use]
    pub fn parity(&self) -> bool {
        self.differences.is_empty()
            && self.matched_intents == self.recorded_intents
            && self.recorded_intents == self.replayed_intents
            && self.link_late == 0
            && self.link_unused == 0
    }
}

struct LineFile {
    name: String,
    reader: BufReader<File>,
    line: u64,
    buf: Vec<u8>,
}

impl LineFile {
    fn open(dir: &Path, name: &str) -> Result<Self, ReplayError> {
        let path = dir.join(name);
        let file = File::open(&path).map_err(|source| ReplayError::Io { path, source })?;
        Ok(Self { name: name.to_owned(), reader: BufReader::with_capacity(1 << 20, file), line: 0, buf: Vec::new() })
    }

    fn bad(&self, problem: impl Into<String>) -> ReplayError {
        ReplayError::Format { file: self.name.clone(), line: self.line, problem: problem.into() }
    }

    /// The next line without its newline; `None` at the end.
    fn next(&mut self) -> Result<Option<&mut Vec<u8>>, ReplayError> {
        self.buf.clear();
        let n = self.reader.read_until(b'\n', &mut self.buf).map_err(|e| ReplayError::Format {
            file: self.name.clone(),
            line: self.line,
            problem: e.to_string(),
        })?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
        }
        Ok(Some(&mut self.buf))
    }

    /// The next `<recv_ns> <frame>` line: its time, and the frame moved to the front of the buffer.
    fn next_frame(&mut self) -> Result<(u64, usize), ReplayError> {
        let Some(line) = self.next()? else { return Err(self.bad("ends before the sequence does")) };
        let Some(space) = line.iter().position(|&b| b == b' ') else { return Err(self.bad("no space after the time")) };
        let ts = std::str::from_utf8(&line[..space]).ok().and_then(|t| t.parse::<u64>().ok());
        let Some(ts) = ts else { return Err(self.bad("the time is not a number")) };
        line.drain(..=space);
        Ok((ts, line.len()))
    }
}

fn read_text(dir: &Path, name: &str) -> Result<String, ReplayError> {
    let path = dir.join(name);
    std::fs::read_to_string(&path).map_err(|source| ReplayError::Io { path, source })
}

fn parse_link(text: &str) -> Result<Vec<(u64, Observation)>, ReplayError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let bad = |p: &str| ReplayError::Format { file: "link.txt".into(), line: n as u64 + 1, problem: p.into() };
        let mut parts = line.split(' ');
        let poll: u64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(|| bad("no poll number"))?;
        let o = match (parts.next(), parts.next()) {
            (Some("verdict"), Some(w)) => Observation::Verdict(w.parse().map_err(|_| bad("bad verdict word"))?),
            (Some("congested"), Some(c)) => Observation::Congested(c == "1"),
            (Some("command"), Some("cancel-all")) => Observation::Command(RiskCommand::CancelAll),
            (Some("command"), Some("flatten-all")) => Observation::Command(RiskCommand::FlattenAll),
            (Some("command"), Some("exit")) => Observation::Command(RiskCommand::Exit),
            (Some("command"), Some("flatten")) => {
                let venue: Venue = parts.next().and_then(|v| v.parse().ok()).ok_or_else(|| bad("bad venue"))?;
                let symbol: Symbol = parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| bad("bad symbol"))?;
                Observation::Command(RiskCommand::Flatten { venue, symbol })
            }
            _ => return Err(bad("unknown record")),
        };
        out.push((poll, o));
    }
    Ok(out)
}

/// Replays the flight recording in `dir` (module docs).
///
/// # Errors
/// [`ReplayError`]; a divergence is not an error here (see
/// [`ReplayReport::parity`] and [`command`]).
pub fn replay(dir: &Path) -> Result<ReplayReport, ReplayError> {
    let manifest: Manifest = serde_json::from_str(&read_text(dir, "manifest.json")?)
        .map_err(|e| ReplayError::Format { file: "manifest.json".into(), line: 0, problem: e.to_string() })?;
    if manifest.format != FORMAT || !(OLDEST_VERSION..=VERSION).contains(&manifest.version) {
        return Err(ReplayError::Incomplete(format!(
            "not a flight recording of this version ({} v{})",
            manifest.format, manifest.version
        )));
    }
    let summary: RecordingSummary = serde_json::from_str(&read_text(dir, "summary.json").map_err(|_| {
        ReplayError::Incomplete(
            "no summary.json: the session did not close its recording (it crashed or is still running)".into(),
        )
    })?)
    .map_err(|e| ReplayError::Format { file: "summary.json".into(), line: 0, problem: e.to_string() })?;
    if summary.dropped > 0 {
        return Err(ReplayError::Incomplete(format!("{} records were dropped while recording", summary.dropped)));
    }
    let mut profile = Profile::from_toml_str(&manifest.profile_text, Path::new(&manifest.profile_dir))?;
    if let Some(text) = &manifest.risk_text {
        profile.risk = RiskFile::from_toml_str(text)?.risk;
    }
    let table = InstrumentTable::from_toml_str(&manifest.instruments_toml)?;
    profile.instruments = table.clone();
    let insts = table.all().to_vec();
    let signals = SignalConfig::from_table(&profile.signals)?;
    let gate_cell = Arc::new(VerdictCell::new());
    let link = ReplayLink::new(
        parse_link(&read_text(dir, "link.txt")?)?,
        Arc::clone(&gate_cell),
        &insts,
        profile.risk.initial_equity,
    );
    let mut core = Core::new(
        &profile,
        LiveSignals::new(&signals, &insts),
        link,
        BookCheck::default(),
        SessionEpoch(manifest.epoch),
        gate_cell,
    )?;
    for f in &manifest.feeds {
        let feed = core.add_feed(f.venue, BindMode::Strict);
        for b in &f.bindings {
            let kind = b.kind().ok_or_else(|| ReplayError::Incomplete(format!("unknown binding kind {}", b.kind)))?;
            core.bind(feed, InstrumentId(b.inst), kind)
                .map_err(|e| ReplayError::Incomplete(format!("binding {} of feed {}: {e}", b.kind, feed.0)))?;
        }
    }
    let mut files = Vec::with_capacity(manifest.files.len());
    for f in &manifest.files {
        files.push(LineFile::open(dir, &f.name)?);
    }
    let recorded: Vec<String> = read_text(dir, "intents.txt")?.lines().map(str::to_owned).collect();
    let mut seq_file = LineFile::open(dir, "sequence.txt")?;
    let mut out = Intents::with_capacity(core.intents_capacity());
    let mut replayed: Vec<String> = Vec::new();
    let mut last: HashMap<(u64, bool), Intent> = HashMap::new();
    let mut inputs = 0u64;
    let mut frame = Vec::new();
    loop {
        let Some(line) = seq_file.next()? else { break };
        let text = String::from_utf8_lossy(line).into_owned();
        let parts: Vec<&str> = text.split(' ').collect();
        let bad = |p: &str| ReplayError::Format { file: "sequence.txt".into(), line: seq_file.line, problem: p.into() };
        let num = |i: usize| -> Result<u64, ReplayError> {
            parts.get(i).and_then(|t| t.parse::<u64>().ok()).ok_or_else(|| bad("expected a number"))
        };
        let file_of = |i: usize, files: &mut Vec<LineFile>| -> Result<usize, ReplayError> {
            let f = num(i)? as usize;
            if f >= files.len() {
                return Err(bad("unknown file"));
            }
            Ok(f)
        };
        let seq = if parts.first() == Some(&"-") { 0 } else { num(0)? };
        match parts.get(1).copied() {
            Some("k") => {
                let f = file_of(2, &mut files)?;
                files[f].next_frame()?;
                continue;
            }
            Some("f") => {
                let f = file_of(2, &mut files)?;
                let feed = manifest.files[f].feed.ok_or_else(|| bad("a market line from a file with no feed"))?;
                let (ts, _) = files[f].next_frame()?;
                frame.clear();
                frame.extend_from_slice(&files[f].buf);
                core.on_frame(FeedId(feed), &mut frame, ts, &mut out);
            }
            Some("p") => {
                let f = file_of(2, &mut files)?;
                let source = parts.get(3).and_then(|s| source_of(s)).ok_or_else(|| bad("unknown parser"))?;
                let (ts, _) = files[f].next_frame()?;
                frame.clear();
                frame.extend_from_slice(&files[f].buf);
                let _ = core.on_private_frame(source, &mut frame, ts, &mut out);
            }
            Some("s") => {
                let inst = InstrumentId(num(2)? as u16);
                let f = file_of(3, &mut files)?;
                let (ts, _) = files[f].next_frame()?;
                frame.clear();
                frame.extend_from_slice(&files[f].buf);
                core.on_rest_snapshot(inst, &mut frame, ts, &mut out);
            }
            Some("o") => {
                let venue: Venue = parts.get(2).and_then(|v| v.parse().ok()).ok_or_else(|| bad("bad venue"))?;
                let status = u16::try_from(num(3)?).map_err(|_| bad("bad status"))?;
                let tag = parts.get(4).and_then(|t| RequestTag::parse(t.as_bytes())).ok_or_else(|| bad("bad tag"))?;
                let f = file_of(5, &mut files)?;
                let (ts, _) = files[f].next_frame()?;
                frame.clear();
                frame.extend_from_slice(&files[f].buf);
                let _ = core.on_rest_response(venue, status, &mut frame, tag, ts, &mut out);
            }
            Some("t") => core.on_timer(num(2)?, &mut out),
            Some("i") => {
                let inst = InstrumentId(u16::try_from(num(2)?).map_err(|_| bad("bad instrument"))?);
                let qty = parts.get(3).and_then(|t| t.parse::<i64>().ok()).ok_or_else(|| bad("bad quantity"))?;
                let ts_ms = parts.get(4).and_then(|t| t.parse::<i64>().ok()).ok_or_else(|| bad("bad time"))?;
                let _ = core.on_open_interest(inst, crate::fixed::Qty(qty), ts_ms, num(5)?, &mut out);
            }
            Some("u") => {
                let feed = FeedId(u16::try_from(num(2)?).map_err(|_| bad("bad feed"))?);
                let state = match parts.get(3).copied() {
                    Some("up") => FeedState::Subscribed,
                    Some("down") => FeedState::Down,
                    _ => return Err(bad("bad feed state")),
                };
                core.on_feed_state(feed, state, num(4)?, &mut out);
            }
            Some("x") => {
                let cancel = parts.get(2) == Some(&"cancel");
                let client = num(3)?;
                let intent = last.get(&(client, cancel)).copied().ok_or_else(|| {
                    bad("a send failure of an intent the replay never made (the replay diverged before)")
                })?;
                core.on_send_failed(&intent, num(4)?, &mut out);
            }
            _ => return Err(bad("unknown call")),
        }
        inputs += 1;
        for intent in out.drain() {
            if let Intent::Place { inst, order, role } = intent {
                core.link_mut().trades.register(order.client_id, usize::from(inst.0), role);
            }
            last.insert((intent.client_id().0, matches!(intent, Intent::Cancel { .. })), intent);
            replayed.push(IntentFields::of(&intent).line(seq));
        }
    }
    let mut matched = 0u64;
    let mut differences = Vec::new();
    for k in 0..recorded.len().max(replayed.len()) {
        match (recorded.get(k), replayed.get(k)) {
            (Some(a), Some(b)) if a == b => matched += 1,
            (a, b) => {
                if differences.len() < 20 {
                    differences.push(format!(
                        "intent {}: recorded {:?}, replayed {:?}",
                        k + 1,
                        a.map_or("(none)", String::as_str),
                        b.map_or("(none)", String::as_str)
                    ));
                }
            }
        }
    }
    let link = core.link();
    let c: OrderCounts = link.counts();
    Ok(ReplayReport {
        dir: dir.display().to_string(),
        inputs,
        recorded_intents: recorded.len() as u64,
        replayed_intents: replayed.len() as u64,
        matched_intents: matched,
        differences,
        link_late: link.late,
        link_unused: link.pending(),
        orders: [c.submitted, c.acked, c.fills, c.cancelled, c.expired, c.rejected],
        realised_usdt: link.pnl().net().0 as f64 / 1e8,
        books_published: core.probe().published,
        crossed_books_published: core.probe().crossed,
        stale_books_published: core.probe().stale,
        trades: link.trades.closed().to_vec(),
        open_trades: link.trades.still_open().cloned().collect(),
        first_fills: link.first_fills.iter().map(|(c, t)| (*c, *t)).collect(),
    })
}

/// `scalpel backtest --replay DIR [--json OUT]`: replays, prints the
/// summary to `out`, writes the JSON report if asked.
///
/// # Errors
/// [`ReplayError`], including [`ReplayError::Diverged`] when parity is not total.
pub fn command(dir: &Path, json: Option<&Path>, out: &mut dyn Write) -> Result<ReplayReport, ReplayError> {
    let report = replay(dir)?;
    let w = |e: io::Error| ReplayError::Io { path: PathBuf::from("stdout"), source: e };
    writeln!(out, "replay of {}: {} core inputs", report.dir, report.inputs).map_err(w)?;
    writeln!(
        out,
        "intents: {} recorded, {} replayed, {} identical at the same input ({})",
        report.recorded_intents,
        report.replayed_intents,
        report.matched_intents,
        if report.parity() { "parity 100%" } else { "PARITY BROKEN" }
    )
    .map_err(w)?;
    let [placed, acked, fills, cancelled, expired, rejected] = report.orders;
    writeln!(
        out,
        "orders in the replay: {placed} placed, {acked} acked, {fills} fills, {cancelled} cancelled, {expired} expired, {rejected} rejected; realised {:.4} USDT",
        report.realised_usdt
    )
    .map_err(w)?;
    for d in &report.differences {
        writeln!(out, "  {d}").map_err(w)?;
    }
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| ReplayError::Io { path: path.into(), source: io::Error::other(e) })?;
        std::fs::write(path, text).map_err(|source| ReplayError::Io { path: path.into(), source })?;
    }
    if !report.parity() {
        return Err(ReplayError::Diverged {
            matched: report.matched_intents,
            recorded: report.recorded_intents,
            replayed: report.replayed_intents,
            first: report
                .differences
                .first()
                .cloned()
                .unwrap_or_else(|| format!("risk facts: {} late, {} unused", report.link_late, report.link_unused)),
        });
    }
    Ok(report)
}
