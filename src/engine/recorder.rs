//! The flight recorder (`scalpel run --record DIR`): every input of the
//! trading core, with the receive time it was given, copied off the hot
//! thread and written so that a session replays exactly
//! ([`crate::engine::replay`], `scalpel backtest --replay DIR`).
//!
//! # Format (a directory)
//! - `manifest.json`: format and version, the session epoch, dry run, the
//!   profile text (and its directory), the risk file text, the instruments
//!   as loaded (`[[instrument]]` TOML), the files, and the core's feeds in
//!   order with their stream bindings. Written before the session starts.
//! - One file per connection (`binance-public-0.txt`, `bybit-private.txt`,
//!   …) and per venue for REST order answers (`binance-rest.txt`), in the
//!   standard recording format: `<recv_ns> <frame>` per line, the frame
//!   text as received. Binance depth snapshots go into the file of the
//!   connection carrying that book, as `scalpel record` writes them, so a
//!   market file also replays with `scalpel book` and `scalpel backtest`.
//! - `sequence.txt`: one line per call into the core, in order:
//!   `<seq> f <file>` (market frame: the file's next line), `<seq> p <file>
//!   <parser>` (private frame, to `binance-user-data`, `binance-ws-api` or
//!   `bybit`), `<seq> s <inst> <file>` (REST depth snapshot),
//!   `<seq> o <venue> <status> <tag> <file>` (REST order answer),
//!   `<seq> t <now_ns>` (timer), `<seq> u <feed> up|down <now_ns>` (feed
//!   state), `<seq> x place|cancel <client_id> <now_ns>` (send failed),
//!   `<seq> i <inst> <qty> <ts_ms> <recv_ns>` (a figure of the Binance
//!   open-interest poll given to the core: quantity mantissa, the venue's
//!   time of it, when the poll read it; since version 2). The poll's answer
//!   is parsed on its own thread, so the recording holds the figure the core
//!   was given, not the REST body; a failed poll gives the core nothing and
//!   is not recorded.
//!   `- k <file>` marks a line that was recorded but not given to the core
//!   (authentication answers).
//! - `link.txt`: what the risk side told the core and at which poll
//!   (`<poll> verdict <word>`, `<poll> congested 0|1`, `<poll> command …`).
//! - `intents.txt`: every intent the core made, with the sequence number of
//!   the call that made it: `<seq> place <client_id> <inst> <side> <kind>
//!   <tif> <price> <qty> <reduce_only> <role>`, `<seq> cancel <client_id> <inst>`.
//! - `summary.json`: written at the end: records, records dropped, lines
//!   normalised. A recording with drops does not replay exactly and the
//!   replay refuses it.
//!
//! # Invariants
//! - The hot thread never blocks and never formats text: it copies binary
//!   records into preallocated chunks handed to the recorder thread
//!   through a queue, and takes empty chunks back. With no empty chunk, a
//!   record is dropped and counted ([`RecordTap::dropped`]).
//! - A line cannot hold a newline: a frame or body containing `\n` or `\r`
//!   (never the case for the venues' compact JSON; a pretty-printed REST
//!   body would) has them written as spaces, which JSON reads the same,
//!   and is counted as normalised.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use serde::{Deserialize, Serialize};

use crate::core::{BookKind, Intent, OrderRole, PrivateSource, StreamKind};
use crate::engine::link::Observation;
use crate::fixed::DecimalText;
use crate::instrument::{Instrument, Venue};
use crate::order::ids::RequestTag;
use crate::order::{OrderKind, TimeInForce};
use crate::risk::RiskCommand;
use crate::side::Side;
use crate::strategy::ExitReason;

/// Bytes per chunk (a record never spans two).
pub const CHUNK_BYTES: usize = 2 << 20;
/// Chunks in flight between the hot thread and the recorder thread.
pub const CHUNKS: usize = 16;

/// Format name in the manifest.
pub const FORMAT: &str = "scalpel-flight-recording";
/// Format version (2 added the `i` line: the open-interest poll).
pub const VERSION: u32 = 2;
/// Oldest version the replay reads (version 1 has no `i` line).
pub const OLDEST_VERSION: u32 = 1;

/// One file of a recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// File name in the directory.
    pub name: String,
    /// Venue.
    pub venue: Venue,
    /// What it holds: `public`, `market`, `user-data`, `orders`, `private`,
    /// `trade`, `rest`, `paper`.
    pub role: String,
    /// The core feed its market frames go to.
    pub feed: Option<u16>,
    /// The parser its private frames go to: `binance-user-data`,
    /// `binance-ws-api`, `bybit`.
    pub source: Option<String>,
}

/// A stream binding of a feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingEntry {
    /// Instrument index.
    pub inst: u16,
    /// `book-diff`, `book-partial`, `top`, `trades`, `agg-trades`, `mark`, `liquidations`.
    pub kind: String,
    /// Book levels (book kinds).
    pub levels: u16,
}

impl BindingEntry {
    /// The entry of a binding.
    #[must_use]
    pub fn of(inst: u16, kind: StreamKind) -> Self {
        let (name, levels) = match kind {
            StreamKind::Book(BookKind::Diff { levels }) => ("book-diff", levels),
            StreamKind::Book(BookKind::Partial { levels }) => ("book-partial", levels),
            StreamKind::Top => ("top", 0),
            StreamKind::Trades => ("trades", 0),
            StreamKind::AggTrades => ("agg-trades", 0),
            StreamKind::Mark => ("mark", 0),
            StreamKind::Liquidations => ("liquidations", 0),
        };
        Self { inst, kind: name.to_owned(), levels }
    }

    /// The binding back.
    #[must_use]
    pub fn kind(&self) -> Option<StreamKind> {
        Some(match self.kind.as_str() {
            "book-diff" => StreamKind::Book(BookKind::Diff { levels: self.levels }),
            "book-partial" => StreamKind::Book(BookKind::Partial { levels: self.levels }),
            "top" => StreamKind::Top,
            "trades" => StreamKind::Trades,
            "agg-trades" => StreamKind::AggTrades,
            "mark" => StreamKind::Mark,
            "liquidations" => StreamKind::Liquidations,
            _ => return None,
        })
    }
}

/// One core feed, in the order the engine added them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedEntry {
    /// Venue.
    pub venue: Venue,
    /// Bindings made when it was subscribed.
    pub bindings: Vec<BindingEntry>,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// Session epoch of the client ids.
    pub epoch: u32,
    /// Paper trading.
    pub dry_run: bool,
    /// Wall clock at start, ns.
    pub started_unix_ns: u64,
    /// The strategy profile as read.
    pub profile_text: String,
    /// The profile's directory (relative paths inside it).
    pub profile_dir: String,
    /// The risk file as read, when one replaced the profile's `[risk]`.
    pub risk_text: Option<String>,
    /// The instruments as loaded (`[[instrument]]` TOML).
    pub instruments_toml: String,
    /// Files, by index.
    pub files: Vec<FileEntry>,
    /// Core feeds, by index.
    pub feeds: Vec<FeedEntry>,
}

/// `summary.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingSummary {
    /// Records written.
    pub records: u64,
    /// Records the hot thread dropped (no free chunk, or larger than a chunk).
    pub dropped: u64,
    /// Lines whose newlines were written as spaces.
    pub normalised: u64,
    /// The session ended cleanly (the hot thread closed the recording).
    pub complete: bool,
}

/// Open-interest figures (`i` lines of `sequence.txt`) in the recording
/// at `dir`: the replay gives them to its core; a backtest of the market
/// files does not see them (they are in no market file), and says so.
///
/// # Errors
/// `sequence.txt` cannot be read.
pub fn open_interest_figures(dir: &Path) -> io::Result<u64> {
    let text = std::fs::read_to_string(dir.join("sequence.txt"))?;
    Ok(text.lines().filter(|l| l.split(' ').nth(1) == Some("i")).count() as u64)
}

/// The instruments as `[[instrument]]` TOML (read back by
/// [`crate::instrument::InstrumentTable::from_toml_str`]).
#[must_use]
pub fn instruments_toml(insts: &[Instrument]) -> String {
    let mut s = String::new();
    for i in insts {
        let d = |m: i64, scale: u8| DecimalText::new(m, scale).as_str().to_owned();
        s.push_str(&format!(
            "[[instrument]]\nvenue = \"{}\"\nsymbol = \"{}\"\nprice_scale = {}\nqty_scale = {}\ntick_size = \"{}\"\nqty_step = \"{}\"\nmin_qty = \"{}\"\nmax_qty = \"{}\"\nmax_market_qty = \"{}\"\nmin_notional = \"{}\"\nmaker_fee = \"{}\"\ntaker_fee = \"{}\"\n\n",
            i.venue.name(),
            i.symbol,
            i.price_scale,
            i.qty_scale,
            d(i.tick.0, i.price_scale),
            d(i.step.0, i.qty_scale),
            d(i.min_qty.0, i.qty_scale),
            d(i.max_qty.0, i.qty_scale),
            d(i.max_market_qty.0, i.qty_scale),
            d(i.min_notional.0, crate::fixed::E8),
            d(i.fees.maker.0, crate::fixed::E8),
            d(i.fees.taker.0, crate::fixed::E8),
        ));
    }
    s
}

// Binary record tags (hot thread → recorder thread).
const T_FRAME: u8 = 1;
const T_SNAPSHOT: u8 = 2;
const T_REST: u8 = 3;
const T_TIMER: u8 = 4;
const T_FEED: u8 = 5;
const T_SEND_FAILED: u8 = 6;
const T_OBSERVATION: u8 = 7;
const T_INTENT: u8 = 8;
const T_OPEN_INTEREST: u8 = 9;

/// How a recorded frame was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameUse {
    /// Given to the core as a market frame.
    Market,
    /// Given to the core as a private frame, to this parser.
    Private(PrivateSource),
    /// Recorded only (an authentication answer the engine read itself).
    Skipped,
}

/// The name of a private parser in `sequence.txt`.
#[must_use]
pub fn source_name(source: PrivateSource) -> &'static str {
    match source {
        PrivateSource::BinanceUserData => "binance-user-data",
        PrivateSource::BinanceWsApi => "binance-ws-api",
        PrivateSource::Bybit => "bybit",
    }
}

/// The parser named in `sequence.txt`.
#[must_use]
pub fn source_of(name: &str) -> Option<PrivateSource> {
    match name {
        "binance-user-data" => Some(PrivateSource::BinanceUserData),
        "binance-ws-api" => Some(PrivateSource::BinanceWsApi),
        "bybit" => Some(PrivateSource::Bybit),
        _ => None,
    }
}

fn source_code(source: PrivateSource) -> u8 {
    match source {
        PrivateSource::BinanceUserData => 0,
        PrivateSource::BinanceWsApi => 1,
        PrivateSource::Bybit => 2,
    }
}

fn source_from_code(code: u8) -> PrivateSource {
    match code {
        0 => PrivateSource::BinanceUserData,
        1 => PrivateSource::BinanceWsApi,
        _ => PrivateSource::Bybit,
    }
}

/// An intent as `intents.txt` writes it (module docs); the replay renders
/// its own intents the same way to compare them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntentFields {
    /// Place (else cancel).
    pub place: bool,
    /// Client order id.
    pub client: u64,
    /// Instrument index.
    pub inst: u16,
    /// Sell (else buy).
    pub sell: bool,
    /// Market (else limit).
    pub market: bool,
    /// Time in force.
    pub tif: TimeInForce,
    /// Price mantissa.
    pub price: i64,
    /// Quantity mantissa.
    pub qty: i64,
    /// Reduce-only.
    pub reduce_only: bool,
    /// Entry (0) or exit (1).
    pub role: u8,
    /// Tier (entry) or exit reason code.
    pub a: u8,
    /// Confidence, with the post-only bit 7 (entry).
    pub b: u8,
}

impl IntentFields {
    /// The fields of an intent.
    #[must_use]
    pub fn of(intent: &Intent) -> Self {
        match *intent {
            Intent::Place { inst, order, role } => {
                let (role, a, b) = match role {
                    OrderRole::Entry { tier, confidence, post_only } => {
                        (0, tier as u8, confidence | (u8::from(post_only) << 7))
                    }
                    OrderRole::Exit(reason) => (1, reason as u8, 0),
                };
                Self {
                    place: true,
                    client: order.client_id.0,
                    inst: inst.0,
                    sell: order.side == Side::Sell,
                    market: order.kind == OrderKind::Market,
                    tif: order.tif,
                    price: order.price.0,
                    qty: order.qty.0,
                    reduce_only: order.reduce_only,
                    role,
                    a,
                    b,
                }
            }
            Intent::Cancel { inst, client_id, .. } => Self {
                place: false,
                client: client_id.0,
                inst: inst.0,
                sell: false,
                market: false,
                tif: TimeInForce::Gtc,
                price: 0,
                qty: 0,
                reduce_only: false,
                role: 0,
                a: 0,
                b: 0,
            },
        }
    }

    /// The line of `intents.txt` (without the newline).
    #[must_use]
    pub fn line(&self, seq: u64) -> String {
        if !self.place {
            return format!("{seq} cancel {} {}", self.client, self.inst);
        }
        let role = if self.role == 0 {
            format!(
                "entry-{}-{}{}",
                match self.a {
                    0 => "a",
                    1 => "b",
                    2 => "cascade",
                    _ => "tier?",
                },
                self.b & 0x7F,
                if self.b & 0x80 != 0 { "-post" } else { "" }
            )
        } else {
            exit_text(self.a)
        };
        format!(
            "{seq} place {} {} {} {} {} {} {} {} {role}",
            self.client,
            self.inst,
            if self.sell { "sell" } else { "buy" },
            if self.market { "market" } else { "limit" },
            tif_text(self.tif),
            self.price,
            self.qty,
            u8::from(self.reduce_only)
        )
    }
}

struct Shared {
    full: ArrayQueue<Vec<u8>>,
    free: ArrayQueue<Vec<u8>>,
    dropped: AtomicU64,
    done: AtomicBool,
}

/// The hot thread's end of the recorder (module docs).
pub struct RecordTap {
    shared: Arc<Shared>,
    cur: Vec<u8>,
    cur_since_ns: u64,
}

impl std::fmt::Debug for RecordTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordTap").field("dropped", &self.dropped()).finish_non_exhaustive()
    }
}

/// A tiny binary writer into a chunk (capacity checked by the caller).
struct Put<'a>(&'a mut Vec<u8>);

impl Put<'_> {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn i64(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.u32(u32::try_from(b.len()).unwrap_or(u32::MAX));
        self.0.extend_from_slice(b);
        self
    }
}

/// Fixed part of the largest non-frame record.
const SMALL: usize = 96;

impl RecordTap {
    /// Room for a record of `extra` payload bytes: the current chunk, or a
    /// fresh one; `false` (counted as a drop) when none is free.
    fn room(&mut self, extra: usize, now_ns: u64) -> bool {
        let need = SMALL + extra;
        if need > CHUNK_BYTES {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        if self.cur.capacity() >= CHUNK_BYTES && self.cur.len() + need <= self.cur.capacity() {
            return true;
        }
        self.submit();
        match self.shared.free.pop() {
            Some(chunk) => {
                self.cur = chunk;
                self.cur_since_ns = now_ns;
                true
            }
            None => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Hands the current chunk to the recorder thread (if it holds anything).
    pub fn submit(&mut self) {
        if self.cur.is_empty() {
            return;
        }
        let chunk = std::mem::take(&mut self.cur);
        if let Err(chunk) = self.shared.full.push(chunk) {
            // Cannot happen (as many slots as chunks); keep it rather than lose it.
            self.cur = chunk;
        }
    }

    /// Submits the current chunk if it is older than `max_age_ns` (so the
    /// files stay current while the session is quiet).
    pub fn flush_if_older(&mut self, now_ns: u64, max_age_ns: u64) {
        if !self.cur.is_empty() && now_ns.saturating_sub(self.cur_since_ns) >= max_age_ns {
            self.submit();
        }
    }

    /// Records dropped so far.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// A frame of connection file `file`.
    pub fn frame(&mut self, seq: u64, file: u16, how: FrameUse, recv_ns: u64, data: &[u8]) {
        if !self.room(data.len(), recv_ns) {
            return;
        }
        let (u, source) = match how {
            FrameUse::Market => (b'f', 0),
            FrameUse::Private(s) => (b'p', source_code(s)),
            FrameUse::Skipped => (b'k', 0),
        };
        Put(&mut self.cur).u8(T_FRAME).u64(seq).u16(file).u8(u).u8(source).u64(recv_ns).bytes(data);
    }

    /// A Binance REST depth snapshot for instrument `inst`, recorded into `file`.
    pub fn snapshot(&mut self, seq: u64, file: u16, inst: u16, recv_ns: u64, body: &[u8]) {
        if !self.room(body.len(), recv_ns) {
            return;
        }
        Put(&mut self.cur).u8(T_SNAPSHOT).u64(seq).u16(file).u16(inst).u64(recv_ns).bytes(body);
    }

    /// A REST order answer.
    #[allow(clippy::too_many_arguments)]
    pub fn rest(&mut self, seq: u64, file: u16, venue: Venue, status: u16, tag: RequestTag, recv_ns: u64, body: &[u8]) {
        if !self.room(body.len(), recv_ns) {
            return;
        }
        let text = tag.render();
        let mut p = Put(&mut self.cur);
        p.u8(T_REST).u64(seq).u16(file).u8(venue as u8).u16(status);
        p.bytes(text.as_bytes()).u64(recv_ns).bytes(body);
    }

    /// A timer call.
    pub fn timer(&mut self, seq: u64, now_ns: u64) {
        if self.room(0, now_ns) {
            Put(&mut self.cur).u8(T_TIMER).u64(seq).u64(now_ns);
        }
    }

    /// A feed state call.
    pub fn feed_state(&mut self, seq: u64, feed: u16, up: bool, now_ns: u64) {
        if self.room(0, now_ns) {
            Put(&mut self.cur).u8(T_FEED).u64(seq).u16(feed).u8(u8::from(up)).u64(now_ns);
        }
    }

    /// A send-failed call.
    pub fn send_failed(&mut self, seq: u64, intent: &Intent, now_ns: u64) {
        if self.room(0, now_ns) {
            let cancel = matches!(intent, Intent::Cancel { .. });
            Put(&mut self.cur).u8(T_SEND_FAILED).u64(seq).u8(u8::from(cancel)).u64(intent.client_id().0).u64(now_ns);
        }
    }

    /// An observation of the risk link at poll `poll`.
    pub fn observation(&mut self, poll: u64, o: Observation, now_ns: u64) {
        if !self.room(0, now_ns) {
            return;
        }
        let mut p = Put(&mut self.cur);
        p.u8(T_OBSERVATION).u64(poll);
        match o {
            Observation::Verdict(word) => {
                p.u8(0).u64(word);
            }
            Observation::Congested(c) => {
                p.u8(1).u64(u64::from(c));
            }
            Observation::Command(command) => {
                let (code, venue, symbol) = match command {
                    RiskCommand::CancelAll => (0u8, 0u8, [0u8; 16]),
                    RiskCommand::FlattenAll => (1, 0, [0; 16]),
                    RiskCommand::Exit => (2, 0, [0; 16]),
                    RiskCommand::Flatten { venue, symbol } => {
                        let mut s = [0u8; 16];
                        let b = symbol.as_bytes();
                        s[..b.len().min(16)].copy_from_slice(&b[..b.len().min(16)]);
                        (3, venue as u8, s)
                    }
                };
                p.u8(2).u64(u64::from(code)).u8(venue);
                p.0.extend_from_slice(&symbol);
            }
        }
    }

    /// An open-interest figure (quantity mantissa, venue time ms) of
    /// instrument `inst` given to the core by call `seq`, read at `recv_ns`.
    pub fn open_interest(&mut self, seq: u64, inst: u16, qty: i64, ts_ms: i64, recv_ns: u64) {
        if self.room(0, recv_ns) {
            Put(&mut self.cur).u8(T_OPEN_INTEREST).u64(seq).u16(inst).i64(qty).i64(ts_ms).u64(recv_ns);
        }
    }

    /// An intent made by call `seq`.
    pub fn intent(&mut self, seq: u64, intent: &Intent, now_ns: u64) {
        if !self.room(0, now_ns) {
            return;
        }
        let f = IntentFields::of(intent);
        let mut p = Put(&mut self.cur);
        p.u8(T_INTENT).u64(seq).u8(u8::from(f.place)).u64(f.client).u16(f.inst).u8(u8::from(f.sell));
        p.u8(u8::from(f.market)).u8(f.tif as u8).i64(f.price).i64(f.qty).u8(u8::from(f.reduce_only));
        p.u8(f.role).u8(f.a).u8(f.b);
    }
}

/// A binary reader over one chunk.
struct Get<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Get<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at + n)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|s| u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).and_then(|s| s.try_into().ok()).map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).and_then(|s| s.try_into().ok()).map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take(8).and_then(|s| s.try_into().ok()).map(i64::from_le_bytes)
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// The recorder thread's handle.
pub struct Recorder {
    shared: Arc<Shared>,
    thread: std::thread::JoinHandle<io::Result<RecordingSummary>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

struct Writers {
    dir: PathBuf,
    files: Vec<BufWriter<File>>,
    sequence: BufWriter<File>,
    link: BufWriter<File>,
    intents: BufWriter<File>,
    normalised: u64,
    records: u64,
}

fn create(dir: &Path, name: &str) -> io::Result<BufWriter<File>> {
    let path = dir.join(name);
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    Ok(BufWriter::with_capacity(1 << 20, file))
}

/// Writes `<ts> <bytes>\n`, newlines in `bytes` as spaces.
fn line(w: &mut impl Write, ts: u64, bytes: &[u8], normalised: &mut u64) -> io::Result<()> {
    write!(w, "{ts} ")?;
    if bytes.iter().any(|&b| b == b'\n' || b == b'\r') {
        *normalised += 1;
        let clean: Vec<u8> = bytes.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }).collect();
        w.write_all(&clean)?;
    } else {
        w.write_all(bytes)?;
    }
    w.write_all(b"\n")
}

fn tif_text(tif: TimeInForce) -> &'static str {
    match tif {
        TimeInForce::Gtc => "gtc",
        TimeInForce::Ioc => "ioc",
        TimeInForce::PostOnly => "post-only",
    }
}

fn tif_from_code(code: u8) -> TimeInForce {
    match code {
        x if x == TimeInForce::Gtc as u8 => TimeInForce::Gtc,
        x if x == TimeInForce::Ioc as u8 => TimeInForce::Ioc,
        _ => TimeInForce::PostOnly,
    }
}

/// The text of an exit reason code (for `intents.txt`).
fn exit_text(code: u8) -> String {
    ExitReason::ALL.iter().find(|r| **r as u8 == code).map_or_else(|| format!("exit-{code}"), |r| r.name().to_owned())
}

impl Writers {
    fn file(&mut self, i: u16) -> io::Result<&mut BufWriter<File>> {
        self.files
            .get_mut(usize::from(i))
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("record for unknown file {i}")))
    }

    fn chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "truncated recorder chunk");
        let mut g = Get { b: chunk, at: 0 };
        while g.at < chunk.len() {
            self.records += 1;
            let tag = g.u8().ok_or_else(bad)?;
            match tag {
                T_FRAME => {
                    let seq = g.u64().ok_or_else(bad)?;
                    let file = g.u16().ok_or_else(bad)?;
                    let u = g.u8().ok_or_else(bad)?;
                    let source = g.u8().ok_or_else(bad)?;
                    let ts = g.u64().ok_or_else(bad)?;
                    let data = g.bytes().ok_or_else(bad)?;
                    let mut n = self.normalised;
                    line(self.file(file)?, ts, data, &mut n)?;
                    self.normalised = n;
                    match u {
                        b'k' => writeln!(self.sequence, "- k {file}")?,
                        b'p' => writeln!(self.sequence, "{seq} p {file} {}", source_name(source_from_code(source)))?,
                        _ => writeln!(self.sequence, "{seq} f {file}")?,
                    }
                }
                T_SNAPSHOT => {
                    let seq = g.u64().ok_or_else(bad)?;
                    let file = g.u16().ok_or_else(bad)?;
                    let inst = g.u16().ok_or_else(bad)?;
                    let ts = g.u64().ok_or_else(bad)?;
                    let data = g.bytes().ok_or_else(bad)?;
                    let mut n = self.normalised;
                    line(self.file(file)?, ts, data, &mut n)?;
                    self.normalised = n;
                    writeln!(self.sequence, "{seq} s {inst} {file}")?;
                }
                T_REST => {
                    let seq = g.u64().ok_or_else(bad)?;
                    let file = g.u16().ok_or_else(bad)?;
                    let venue = g.u8().ok_or_else(bad)?;
                    let status = g.u16().ok_or_else(bad)?;
                    let tag = g.bytes().ok_or_else(bad)?;
                    let ts = g.u64().ok_or_else(bad)?;
                    let data = g.bytes().ok_or_else(bad)?;
                    let mut n = self.normalised;
                    line(self.file(file)?, ts, data, &mut n)?;
                    self.normalised = n;
                    let venue = Venue::ALL.iter().find(|v| **v as u8 == venue).map_or("?", |v| v.name());
                    writeln!(self.sequence, "{seq} o {venue} {status} {} {file}", String::from_utf8_lossy(tag))?;
                }
                T_TIMER => {
                    let seq = g.u64().ok_or_else(bad)?;
                    let now = g.u64().ok_or_else(bad)?;
                    writeln!(self.sequence, "{seq} t {now}")?;
                }
                T_FEED => {
                    let seq = g.u64().ok_or_else(bad)?;
                    let feed = g.u16().ok_or_else(bad)?;
                    let up = g.u8().ok_or_else(bad)?;
                    let now = g.u64().ok_or_else(bad)?;
                    writeln!(self.sequence, "{seq} u {feed} {} {now}", if up == 1 { "up" } else { "down" })?;
                }
                T_SEND_FAILED => {
                    let seq = g.u64().ok_or_else(bad)?;
                    let cancel = g.u8().ok_or_else(bad)?;
                    let client = g.u64().ok_or_else(bad)?;
                    let now = g.u64().ok_or_else(bad)?;
                    writeln!(self.sequence, "{seq} x {} {client} {now}", if cancel == 1 { "cancel" } else { "place" })?;
                }
                T_OBSERVATION => {
                    let poll = g.u64().ok_or_else(bad)?;
                    let kind = g.u8().ok_or_else(bad)?;
                    let value = g.u64().ok_or_else(bad)?;
                    match kind {
                        0 => writeln!(self.link, "{poll} verdict {value}")?,
                        1 => writeln!(self.link, "{poll} congested {value}")?,
                        _ => {
                            let venue = g.u8().ok_or_else(bad)?;
                            let symbol = g.take(16).ok_or_else(bad)?;
                            let end = symbol.iter().position(|&b| b == 0).unwrap_or(16);
                            match value {
                                0 => writeln!(self.link, "{poll} command cancel-all")?,
                                1 => writeln!(self.link, "{poll} command flatten-all")?,
                                2 => writeln!(self.link, "{poll} command exit")?,
                                _ => {
                                    let venue =
                                        Venue::ALL.iter().find(|v| **v as u8 == venue).map_or("?", |v| v.name());
                                    writeln!(
                                        self.link,
                                        "{poll} command flatten {venue} {}",
                                        String::from_utf8_lossy(&symbol[..end])
                                    )?;
                                }
                            }
                        }
                    }
                }
                T_OPEN_INTEREST => {
                    let seq = g.u64().ok_or_else(bad)?;
                    let inst = g.u16().ok_or_else(bad)?;
                    let qty = g.i64().ok_or_else(bad)?;
                    let ts_ms = g.i64().ok_or_else(bad)?;
                    let recv_ns = g.u64().ok_or_else(bad)?;
                    writeln!(self.sequence, "{seq} i {inst} {qty} {ts_ms} {recv_ns}")?;
                }
                T_INTENT => {
                    let seq = g.u64().ok_or_else(bad)?;
                    let f = IntentFields {
                        place: g.u8().ok_or_else(bad)? == 1,
                        client: g.u64().ok_or_else(bad)?,
                        inst: g.u16().ok_or_else(bad)?,
                        sell: g.u8().ok_or_else(bad)? == 1,
                        market: g.u8().ok_or_else(bad)? == 1,
                        tif: tif_from_code(g.u8().ok_or_else(bad)?),
                        price: g.i64().ok_or_else(bad)?,
                        qty: g.i64().ok_or_else(bad)?,
                        reduce_only: g.u8().ok_or_else(bad)? == 1,
                        role: g.u8().ok_or_else(bad)?,
                        a: g.u8().ok_or_else(bad)?,
                        b: g.u8().ok_or_else(bad)?,
                    };
                    writeln!(self.intents, "{}", f.line(seq))?;
                }
                _ => return Err(bad()),
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        for f in &mut self.files {
            f.flush()?;
        }
        self.sequence.flush()?;
        self.link.flush()?;
        self.intents.flush()
    }
}

impl Recorder {
    /// Creates the directory (it must not hold a recording already), writes
    /// the manifest, opens the files, and starts the recorder thread.
    /// Returns the thread's handle and the hot thread's tap.
    ///
    /// # Errors
    /// The directory or a file could not be created.
    pub fn start(dir: &Path, manifest: &Manifest) -> io::Result<(Self, RecordTap)> {
        std::fs::create_dir_all(dir).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        let mpath = dir.join("manifest.json");
        let mut m =
            File::options().write(true).create_new(true).open(&mpath).map_err(|e| {
                io::Error::new(e.kind(), format!("{}: {e} (record into a new directory)", mpath.display()))
            })?;
        m.write_all(serde_json::to_string_pretty(manifest).map_err(io::Error::other)?.as_bytes())?;
        m.sync_all()?;
        let mut files = Vec::with_capacity(manifest.files.len());
        for f in &manifest.files {
            files.push(create(dir, &f.name)?);
        }
        let mut w = Writers {
            dir: dir.to_path_buf(),
            files,
            sequence: create(dir, "sequence.txt")?,
            link: create(dir, "link.txt")?,
            intents: create(dir, "intents.txt")?,
            normalised: 0,
            records: 0,
        };
        let shared = Arc::new(Shared {
            full: ArrayQueue::new(CHUNKS),
            free: ArrayQueue::new(CHUNKS),
            dropped: AtomicU64::new(0),
            done: AtomicBool::new(false),
        });
        for _ in 0..CHUNKS - 1 {
            let _ = shared.free.push(Vec::with_capacity(CHUNK_BYTES));
        }
        let tap = RecordTap { shared: Arc::clone(&shared), cur: Vec::with_capacity(CHUNK_BYTES), cur_since_ns: 0 };
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new().name("recorder".into()).spawn(move || {
            let mut summary = RecordingSummary::default();
            loop {
                let done = s.done.load(Ordering::Acquire);
                let mut any = false;
                while let Some(mut chunk) = s.full.pop() {
                    any = true;
                    w.chunk(&chunk)?;
                    chunk.clear();
                    let _ = s.free.push(chunk);
                }
                if done && s.full.is_empty() {
                    break;
                }
                if any {
                    w.flush()?;
                } else {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            w.flush()?;
            summary.records = w.records;
            summary.dropped = s.dropped.load(Ordering::Relaxed);
            summary.normalised = w.normalised;
            summary.complete = true;
            let text = serde_json::to_string_pretty(&summary).map_err(io::Error::other)?;
            std::fs::write(w.dir.join("summary.json"), text)?;
            Ok(summary)
        })?;
        Ok((Self { shared, thread }, tap))
    }

    /// Waits for the recorder thread once the tap's last chunk is submitted
    /// ([`RecordTap::close`]).
    ///
    /// # Errors
    /// Writing failed, or the thread panicked.
    pub fn join(self) -> io::Result<RecordingSummary> {
        self.shared.done.store(true, Ordering::Release);
        self.thread.join().map_err(|_| io::Error::other("recorder thread panicked"))?
    }
}

impl RecordTap {
    /// Submits the last chunk and tells the recorder thread the session is over.
    pub fn close(&mut self) {
        self.submit();
        self.shared.done.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::InstrumentId;
    use crate::order::{ClientOrderId, OrderRequest};

    #[test]
    fn records_become_the_documented_lines() {
        let dir = std::env::temp_dir().join(format!("scalpel-rec-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let manifest = Manifest {
            format: FORMAT.into(),
            version: VERSION,
            epoch: 7,
            dry_run: true,
            started_unix_ns: 1,
            profile_text: String::new(),
            profile_dir: ".".into(),
            risk_text: None,
            instruments_toml: instruments_toml(&[Instrument::reference_btcusdt(Venue::BinanceUsdm)]),
            files: vec![FileEntry {
                name: "a.txt".into(),
                venue: Venue::BinanceUsdm,
                role: "public".into(),
                feed: Some(0),
                source: None,
            }],
            feeds: vec![],
        };
        let (rec, mut tap) = Recorder::start(&dir, &manifest).unwrap();
        tap.frame(1, 0, FrameUse::Market, 100, b"{\"a\":1}");
        tap.frame(2, 0, FrameUse::Market, 101, b"{\"b\":\n2}");
        tap.timer(3, 200);
        tap.snapshot(4, 0, 0, 300, b"{\"lastUpdateId\":1}");
        let order = OrderRequest {
            venue: Venue::BinanceUsdm,
            symbol: "BTCUSDT".parse().unwrap(),
            side: crate::side::Side::Buy,
            kind: OrderKind::Limit,
            tif: TimeInForce::PostOnly,
            price: crate::fixed::Price(6_000_000),
            qty: crate::fixed::Qty(5),
            reduce_only: false,
            client_id: ClientOrderId(9),
        };
        let role = OrderRole::Entry { tier: crate::strategy::Tier::A, confidence: 85, post_only: true };
        tap.intent(3, &Intent::Place { inst: InstrumentId(0), order, role }, 200);
        tap.observation(5, Observation::Command(RiskCommand::FlattenAll), 200);
        tap.open_interest(6, 0, 80_000_000, 1_700_000_000_123, 400);
        tap.close();
        let summary = rec.join().unwrap();
        assert_eq!((summary.dropped, summary.normalised, summary.records), (0, 1, 7));
        let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap();
        assert_eq!(read("a.txt"), "100 {\"a\":1}\n101 {\"b\": 2}\n300 {\"lastUpdateId\":1}\n");
        assert_eq!(read("sequence.txt"), "1 f 0\n2 f 0\n3 t 200\n4 s 0 0\n6 i 0 80000000 1700000000123 400\n");
        // The intent line is what the replay renders for the same intent.
        assert_eq!(
            IntentFields::of(&Intent::Place { inst: InstrumentId(0), order, role }).line(3),
            "3 place 9 0 buy limit post-only 6000000 5 0 entry-a-85-post"
        );
        // Each tier by its name (a cascade entry was written as a B once).
        for (tier, text) in
            [(crate::strategy::Tier::B, "entry-b-72"), (crate::strategy::Tier::Cascade, "entry-cascade-0")]
        {
            let confidence = if tier == crate::strategy::Tier::B { 72 } else { 0 };
            let role = OrderRole::Entry { tier, confidence, post_only: false };
            let line = IntentFields::of(&Intent::Place { inst: InstrumentId(0), order, role }).line(3);
            assert!(line.ends_with(&format!(" 0 {text}")), "{line}");
        }
        assert_eq!(read("link.txt"), "5 command flatten-all\n");
        assert_eq!(read("intents.txt"), "3 place 9 0 buy limit post-only 6000000 5 0 entry-a-85-post\n");
        let back: Manifest = serde_json::from_str(&read("manifest.json")).unwrap();
        assert_eq!(back, manifest);
        let table = crate::instrument::InstrumentTable::from_toml_str(&manifest.instruments_toml).unwrap();
        assert_eq!(table.all(), &[Instrument::reference_btcusdt(Venue::BinanceUsdm)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
