//! `scalpel latency --path tick-to-trade`: every frame of a recording
//! through the one trading core ([`crate::core::Core`]) and, when the core
//! decides to trade, through the order encoder and signer into the send
//! buffer — timed stage by stage on the measured thread.
//!
//! # What is timed
//! From the frame's bytes lying in the receive buffer (as the WebSocket
//! reader hands them to the core, TLS already opened) to the signed order's
//! bytes lying in the send buffer (as the transport hands them to TLS):
//!
//! | stage | from → to | what runs |
//! |---|---|---|
//! | `decode` | frame in the buffer → event decoded | the feed's decoder (venue template, compact reader or simd-json) |
//! | `book_apply` | → [`Stage::BookApplied`] | binding check, clock bound, book sync and apply / BBO / trade tape |
//! | `signals` | → [`Stage::SignalsUpdated`] | the signal families fold the event in (for trade frames the tape and the signals are one stage: they interleave per print) |
//! | `strategy` | → [`Stage::StrategyDecided`] | risk marks, executable prices, the signal snapshot, votes, gates, confidence, sizing |
//! | `risk_gate` | → [`Stage::RiskChecked`] | the order built, the inline gate, the ledger (`Submitted`), the record pushed onto the lossless risk ring |
//! | `encode_sign` | → bytes in the send buffer | the venue encoder (rounding checks, text, HMAC or Ed25519 signature) and the transport's framing: a masked WebSocket frame, or the HTTP/1.1 request |
//!
//! The core calls its [`Probe`] at each boundary ([`StageClock`] reads
//! `quanta::Clock::raw()` there); the harness stamps the first and the last
//! boundary. Raw stamps go, one small `Copy` value per frame, over the
//! lossy-but-counted ring to the collector thread (see [`super::collect`]),
//! which converts and records them. Nothing is converted or formatted on
//! the measured thread.
//!
//! # Two passes per round
//! Each stamp costs a clock read (a few ns, printed as the timer overhead),
//! so every round replays the recording twice through a fresh core: once
//! with a stamp at every stage boundary (the per-stage figures and
//! `tick_to_trade_staged`), once with two stamps per frame, first and last
//! (`tick_to_trade`, the headline, and the per-frame-class rows). The core
//! is deterministic (it never reads a clock), so both passes place exactly
//! the same orders on the same frames; the report checks it.
//!
//! # The venue's answer
//! After each frame, outside the timing, the harness answers every order
//! at once as the venue answers a post-only order that would have taken:
//! acknowledged, then expired unfilled ([`OrderEvent::Acked`],
//! [`OrderEvent::Expired`]); a cancel is confirmed. The strategy is flat
//! again after `entry_retry_ms`, so with the latency profile
//! (`tuning/latency.toml`) it fires on a fixed, reported share of the
//! frames. The risk side's records are pushed onto a real lossless ring
//! (the live engine's link) inside the timing and drained between frames
//! outside it.
//!
//! # Keys
//! The harness signs with fixed, made-up keys of the venues' real lengths
//! (Binance 64-character key and secret, Bybit 18 and 36; an Ed25519 key
//! from a fixed seed): the cost of HMAC-SHA256 and Ed25519 does not depend
//! on the key's value. `--key ed25519` logs the Binance WebSocket API
//! connection on once (`session.logon`, outside the timing), after which
//! orders carry no signature; over REST every request is signed with
//! Ed25519. Bybit's trade WebSocket is authenticated once per connection,
//! so its orders carry no signature either.

use std::sync::Arc;
use std::time::Duration;

use super::collect::{Attribution, Collected, Collector, CollectorConfig, Drain, Recorder};
use super::decode::{FrameClass, FrameInfo};
use super::probe::{Marks, Probe as StampRing};
use crate::alloc_count::CountingAlloc;
use crate::core::{BindMode, Core, CoreError, FeedId, Intent, Intents, Probe, RiskLink, Stage};
use crate::fixed::{Notional, Price};
use crate::instrument::{Instrument, LoadError, Symbol};
use crate::net::http::{self, HttpError};
use crate::net::ws::{self, MaskSource, OpCode, WsError};
use crate::order::ids::{RequestOp, RequestTag};
use crate::order::{ClientOrderId, OrderEvent, OrderKind, OrderRequest, SessionEpoch, VenueOrderId};
use crate::profile::Profile;
use crate::recording::Recording;
use crate::ring::{LosslessConsumer, LosslessProducer};
use crate::risk::{RiskInput, Verdict, VerdictCell};
use crate::signal::{LiveSignals, SignalConfig};
use crate::venue::Venue;
use crate::venue::binance::order::BinanceOrderEncoder;
use crate::venue::bybit::order::BybitOrderEncoder;
use crate::venue::credentials::{ApiKey, Credentials, Ed25519Key};
use crate::venue::signed_request::{EncodeError, MAX_HEADERS, RecvWindow, RestRequest};

/// The latency profile as it was when the binary was built
/// (`tuning/latency.toml`).
pub const BUILT_IN_PROFILE: &str = include_str!("../../tuning/latency.toml");

/// How orders travel to the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// The venue's order WebSocket (Binance WebSocket API, Bybit trade
    /// stream): the request as one masked text frame.
    #[default]
    Ws,
    /// REST: one HTTP/1.1 request.
    Rest,
}

impl Transport {
    /// The name on the command line.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Transport::Ws => "ws",
            Transport::Rest => "rest",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The text named no transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown transport (expected ws or rest)")]
pub struct UnknownTransport;

impl std::str::FromStr for Transport {
    type Err = UnknownTransport;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ws" => Ok(Transport::Ws),
            "rest" => Ok(Transport::Rest),
            _ => Err(UnknownTransport),
        }
    }
}

/// How orders are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyKind {
    /// HMAC-SHA256 (both venues).
    #[default]
    Hmac,
    /// Ed25519 (Binance only): `session.logon` over the WebSocket API,
    /// a signature per request over REST.
    Ed25519,
}

impl KeyKind {
    /// The name on the command line.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            KeyKind::Hmac => "hmac",
            KeyKind::Ed25519 => "ed25519",
        }
    }
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The text named no key kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown key kind (expected hmac or ed25519)")]
pub struct UnknownKeyKind;

impl std::str::FromStr for KeyKind {
    type Err = UnknownKeyKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hmac" => Ok(KeyKind::Hmac),
            "ed25519" => Ok(KeyKind::Ed25519),
            _ => Err(UnknownKeyKind),
        }
    }
}

/// Stage (histogram) names of the path, by index.
pub const STAGE_NAMES: [&str; 16] = [
    "decode",
    "book_apply",
    "signals",
    "strategy",
    "risk_gate",
    "encode_sign",
    "tick_to_trade",
    "tick_to_trade_top",
    "tick_to_trade_depth",
    "tick_to_trade_trade",
    "tick_to_trade_other",
    "tick_to_trade_staged",
    "no_order_top",
    "no_order_depth",
    "no_order_trade",
    "no_order_other",
];

/// Index of `encode_sign`, the last of the consecutive stages.
const ENCODE_SIGN: usize = 5;
/// Index of `tick_to_trade` (two stamps per frame, frames with an order).
pub const TICK_TO_TRADE: usize = 6;
/// Index of `tick_to_trade_top`; the other classes follow.
const TICK_TO_TRADE_BY_CLASS: usize = 7;
/// Index of `tick_to_trade_staged` (a stamp at every boundary).
pub const TICK_TO_TRADE_STAGED: usize = 11;
/// Index of `no_order_top`; the other classes follow.
const NO_ORDER_BY_CLASS: usize = 12;

/// Frame groups reported separately: what triggered the decision.
pub const GROUPS: [&str; 4] = ["top", "depth", "trade", "other"];

/// The group of a frame class: best bid/offer, depth (diffs and
/// snapshots), trades, everything else.
#[must_use]
pub const fn group(class: FrameClass) -> usize {
    match class {
        FrameClass::Top => 0,
        FrameClass::Depth | FrameClass::Snapshot => 1,
        FrameClass::Trade => 2,
        FrameClass::Funding | FrameClass::Liquidation | FrameClass::Other | FrameClass::Error => 3,
    }
}

/// Most stamps of one frame: the first, up to seven stage boundaries, the last.
pub const MAX_STAMPS: usize = 9;

// A frame's tag: bits 0–2 its group, then flags, then from bit 8 one
// 3-bit code per stamp after the first (which stage boundary it was).
const TAG_ORDER: u32 = 1 << 3;
const TAG_STAGED: u32 = 1 << 4;
const TAG_TRUNCATED: u32 = 1 << 5;
const TAG_CANCEL: u32 = 1 << 6;
const CODES_SHIFT: u32 = 8;

const CODE_DECODED: u32 = 1;
const CODE_BOOK_APPLIED: u32 = 2;
const CODE_SIGNALS: u32 = 3;
const CODE_STRATEGY: u32 = 4;
const CODE_RISK: u32 = 5;
/// The intents were encoded and signed into the send buffer.
const CODE_ENCODED: u32 = 6;
/// The core returned without an intent.
const CODE_RETURNED: u32 = 7;

/// The core's stage-timing hook for this path: reads the clock at every
/// stage boundary the core reports (in the staged pass) and keeps the raw
/// readings with a 3-bit code each.
pub struct StageClock {
    clock: quanta::Clock,
    staged: bool,
    marks: Marks<MAX_STAMPS>,
    codes: u32,
    n: u32,
    truncated: bool,
}

impl StageClock {
    /// A probe reading `clock`; `staged` stamps every stage boundary,
    /// otherwise only [`StageClock::begin`] and [`StageClock::end`] read it.
    #[must_use]
    pub fn new(clock: quanta::Clock, staged: bool) -> Self {
        Self { clock, staged, marks: Marks::start(0, 0), codes: 0, n: 0, truncated: false }
    }

    /// The frame's bytes are in the receive buffer: first stamp.
    #[inline(always)]
    pub fn begin(&mut self) {
        self.codes = 0;
        self.n = 0;
        self.truncated = false;
        self.marks = Marks::start(0, self.clock.raw());
    }

    #[inline(always)]
    fn stamp(&mut self, code: u32) {
        // Keep the last slot for `end`.
        if (self.n as usize) < MAX_STAMPS - 2 {
            self.codes |= code << (3 * self.n);
            self.n += 1;
            self.marks.mark(self.clock.raw());
        } else {
            self.truncated = true;
        }
    }

    /// Last stamp (`encoded`: order bytes are in the send buffer; else the
    /// core returned without an intent); returns the frame's marks with
    /// their tag (`flags` are the group and the order flags).
    #[inline(always)]
    fn end(&mut self, encoded: bool, flags: u32) -> Marks<MAX_STAMPS> {
        let code = if encoded { CODE_ENCODED } else { CODE_RETURNED };
        self.codes |= code << (3 * self.n);
        self.marks.mark(self.clock.raw());
        let mut tag = flags | (self.codes << CODES_SHIFT);
        if self.staged {
            tag |= TAG_STAGED;
        }
        if self.truncated {
            tag |= TAG_TRUNCATED;
        }
        self.marks.with_tag(tag)
    }
}

impl Probe for StageClock {
    #[inline(always)]
    fn stage(&mut self, stage: Stage) {
        if self.staged {
            self.stamp(match stage {
                Stage::Decoded => CODE_DECODED,
                Stage::BookApplied => CODE_BOOK_APPLIED,
                Stage::SignalsUpdated => CODE_SIGNALS,
                Stage::StrategyDecided => CODE_STRATEGY,
                Stage::RiskChecked => CODE_RISK,
            });
        }
    }
}

/// The collector-side state of the path: what it could not attribute.
#[derive(Debug, Default)]
pub struct TickAttribution {
    /// Staged frames with more boundaries than a frame's marks hold (only
    /// their whole was recorded).
    pub truncated: u64,
}

impl Attribution<MAX_STAMPS> for TickAttribution {
    fn attribute(&mut self, marks: &Marks<MAX_STAMPS>, rec: &mut Recorder<'_>) {
        let stamps = marks.stamps();
        let tag = marks.tag();
        let (Some(&first), Some(&last)) = (stamps.first(), stamps.last()) else { return };
        let group = (tag & 7) as usize;
        let order = tag & TAG_ORDER != 0;
        if tag & TAG_STAGED == 0 {
            let whole = rec.delta(first, last);
            if order {
                rec.value(TICK_TO_TRADE, whole);
                rec.value(TICK_TO_TRADE_BY_CLASS + group, whole);
            } else {
                rec.value(NO_ORDER_BY_CLASS + group, whole);
            }
            return;
        }
        if !order {
            return;
        }
        rec.value(TICK_TO_TRADE_STAGED, rec.nanos(first, last));
        if tag & TAG_TRUNCATED != 0 {
            self.truncated += 1;
            return;
        }
        // Each interval belongs to the stage that ends it; a stage the
        // frame went through twice is summed.
        let mut sums = [None::<u64>; ENCODE_SIGN + 1];
        for (k, pair) in stamps.windows(2).enumerate() {
            let code = (tag >> (CODES_SHIFT + 3 * k as u32)) & 7;
            let stage = match code {
                CODE_DECODED => 0,
                CODE_BOOK_APPLIED => 1,
                CODE_SIGNALS => 2,
                CODE_STRATEGY => 3,
                CODE_RISK => 4,
                CODE_ENCODED => ENCODE_SIGN,
                _ => continue,
            };
            let ns = rec.delta(pair[0], pair[1]);
            sums[stage] = Some(sums[stage].unwrap_or(0) + ns);
        }
        for (stage, ns) in sums.iter().enumerate() {
            if let Some(ns) = ns {
                rec.value(stage, *ns);
            }
        }
    }
}

/// The risk side's end of the core, as the live engine has it: every
/// record pushed onto a lossless ring (waiting while it is full, never
/// dropping), congestion from its high-water mark, a fixed equity.
pub struct RingLink {
    tx: LosslessProducer<RiskInput>,
    equity: Notional,
    lost: u64,
}

impl RiskLink for RingLink {
    #[inline]
    fn send(&mut self, input: &RiskInput, _now_ns: u64) {
        // The harness holds the consumer, so it is never gone while the
        // core runs; counted if it were.
        if self.tx.push_spin(*input).is_err() {
            self.lost += 1;
        }
    }

    #[inline]
    fn congested(&self) -> bool {
        self.tx.is_congested()
    }

    #[inline]
    fn equity(&self) -> Notional {
        self.equity
    }
}

/// Slots of the risk ring; it is drained (outside the timing) once a
/// quarter full, so it never reaches its high-water mark.
const RISK_RING: usize = 4096;
const RISK_DRAIN_AT: usize = RISK_RING / 4;

/// Why an order could not be put into the send buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendPathError {
    /// The venue encoder refused (a failed check, a small buffer).
    #[error("encode: {0}")]
    Encode(#[from] EncodeError),
    /// WebSocket framing failed.
    #[error("websocket: {0}")]
    Ws(#[from] WsError),
    /// The HTTP request did not fit.
    #[error("http: {0}")]
    Http(#[from] HttpError),
    /// The REST target did not fit its buffer.
    #[error("REST target longer than {0} bytes")]
    Target(usize),
}

enum Signer {
    Binance(BinanceOrderEncoder),
    Bybit(BybitOrderEncoder),
}

/// Order bytes from an [`OrderRequest`] into the send buffer, the way the
/// network layer sends them (`net::NetLoop::send_text` and
/// `http_request`): the venue encoder writes and signs the request into an
/// order buffer, then the WebSocket framer (mask included) or the HTTP/1.1
/// writer puts it into the send buffer. Fixed buffers, no allocation.
pub struct OrderPath {
    venue: Venue,
    transport: Transport,
    signer: Signer,
    host: &'static str,
    masks: MaskSource,
    order_buf: Box<[u8]>,
    target_buf: Box<[u8]>,
    send_buf: Box<[u8]>,
    bytes: u64,
}

/// Size of each of the order path's buffers.
const ORDER_BUF: usize = 4096;

impl OrderPath {
    /// The path for `venue` over `transport`, signing with made-up keys of
    /// the venue's real lengths (see the module docs). A Binance Ed25519
    /// WebSocket connection is logged on here.
    ///
    /// # Errors
    /// [`TickError::Ed25519OnBybit`]; an encoder error of the logon.
    pub fn new(venue: Venue, transport: Transport, key: KeyKind) -> Result<Self, TickError> {
        let window = RecvWindow::DEFAULT;
        let signer = match (venue, key) {
            (Venue::BinanceUsdm, KeyKind::Hmac) => Signer::Binance(BinanceOrderEncoder::new(
                Credentials::new(&[b'K'; 64], &[b'S'; 64]).map_err(|e| TickError::Key(e.to_string()))?,
                window,
            )),
            (Venue::BinanceUsdm, KeyKind::Ed25519) => {
                let api_key = ApiKey::new(&[b'K'; 64]).map_err(|e| TickError::Key(e.to_string()))?;
                let key = Ed25519Key::from_seed(&[7; 32]).map_err(|e| TickError::Key(e.to_string()))?;
                Signer::Binance(BinanceOrderEncoder::with_ed25519(api_key, key, window))
            }
            (Venue::BybitLinear, KeyKind::Hmac) => Signer::Bybit(BybitOrderEncoder::new(
                Credentials::new(&[b'K'; 18], &[b'S'; 36]).map_err(|e| TickError::Key(e.to_string()))?,
                window,
            )),
            (Venue::BybitLinear, KeyKind::Ed25519) => return Err(TickError::Ed25519OnBybit),
        };
        let host = match venue {
            Venue::BinanceUsdm => "fapi.binance.com",
            Venue::BybitLinear => "api.bybit.com",
        };
        let mut path = Self {
            venue,
            transport,
            signer,
            host,
            masks: MaskSource::with_seed(0x05ca_19e1),
            order_buf: vec![0; ORDER_BUF].into_boxed_slice(),
            target_buf: vec![0; ORDER_BUF].into_boxed_slice(),
            send_buf: vec![0; ORDER_BUF].into_boxed_slice(),
            bytes: 0,
        };
        path.connect()?;
        Ok(path)
    }

    /// What a new order connection sends first (outside the timing): the
    /// Binance `session.logon` (Ed25519 over the WebSocket API), the Bybit
    /// trade stream's `auth`. Returns the bytes it framed.
    fn connect(&mut self) -> Result<usize, TickError> {
        if self.transport != Transport::Ws {
            return Ok(0);
        }
        let tag = RequestTag::new(RequestOp::Auth, ClientOrderId(1));
        let ts = 1_700_000_000_000;
        let n = match &mut self.signer {
            Signer::Binance(enc) if enc.key_kind() == crate::venue::binance::order::BinanceKeyKind::Ed25519 => {
                let n = enc.ws_session_logon(tag, ts, &mut self.order_buf).map_err(TickError::Logon)?;
                enc.set_ws_session(true).map_err(TickError::Logon)?;
                n
            }
            Signer::Binance(_) => 0,
            Signer::Bybit(enc) => enc.ws_auth(tag, ts + 10_000, &mut self.order_buf).map_err(TickError::Logon)?.len(),
        };
        if n == 0 {
            return Ok(0);
        }
        let mask = self.masks.next_key();
        ws::encode_frame(OpCode::Text, &self.order_buf[..n], mask, &mut self.send_buf).map_err(TickError::LogonFrame)
    }

    /// The venue.
    #[must_use]
    pub fn venue(&self) -> Venue {
        self.venue
    }

    /// Bytes put into the send buffer so far.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The last request written into the send buffer.
    #[must_use]
    pub fn sent(&self, len: usize) -> &[u8] {
        &self.send_buf[..len.min(self.send_buf.len())]
    }

    /// A new order into the send buffer; returns its length there.
    /// `market_ref` is the reference price of a market order's
    /// min-notional check.
    ///
    /// # Errors
    /// [`SendPathError`].
    #[inline]
    pub fn place(
        &mut self,
        order: &OrderRequest,
        inst: &Instrument,
        market_ref: Price,
        ts_ms: u64,
    ) -> Result<usize, SendPathError> {
        let tag = RequestTag::new(RequestOp::Place, order.client_id);
        let Self { signer, transport, order_buf, target_buf, send_buf, masks, host, .. } = self;
        let n = match (signer, *transport) {
            (Signer::Binance(enc), Transport::Ws) => {
                let req = enc.ws_place(order, inst, market_ref, tag, ts_ms, order_buf)?.request;
                ws::encode_frame(OpCode::Text, req, masks.next_key(), send_buf)?
            }
            (Signer::Bybit(enc), Transport::Ws) => {
                let req = enc.ws_create(order, inst, market_ref, tag, ts_ms, order_buf)?.request;
                ws::encode_frame(OpCode::Text, req, masks.next_key(), send_buf)?
            }
            (Signer::Binance(enc), Transport::Rest) => {
                let req = enc.rest_new_order(order, inst, market_ref, ts_ms, order_buf)?.request;
                write_rest(&req, host, target_buf, send_buf)?
            }
            (Signer::Bybit(enc), Transport::Rest) => {
                let req = enc.rest_create(order, inst, market_ref, ts_ms, order_buf)?.request;
                write_rest(&req, host, target_buf, send_buf)?
            }
        };
        self.bytes += n as u64;
        Ok(n)
    }

    /// A cancel by client id into the send buffer; returns its length.
    ///
    /// # Errors
    /// [`SendPathError`].
    #[inline]
    pub fn cancel(&mut self, symbol: &Symbol, client_id: ClientOrderId, ts_ms: u64) -> Result<usize, SendPathError> {
        let tag = RequestTag::new(RequestOp::Cancel, client_id);
        let Self { signer, transport, order_buf, target_buf, send_buf, masks, host, .. } = self;
        let n = match (signer, *transport) {
            (Signer::Binance(enc), Transport::Ws) => {
                let req = enc.ws_cancel(symbol, client_id, tag, ts_ms, order_buf)?;
                ws::encode_frame(OpCode::Text, req, masks.next_key(), send_buf)?
            }
            (Signer::Bybit(enc), Transport::Ws) => {
                let req = enc.ws_cancel(symbol, client_id, tag, ts_ms, order_buf)?;
                ws::encode_frame(OpCode::Text, req, masks.next_key(), send_buf)?
            }
            (Signer::Binance(enc), Transport::Rest) => {
                let req = enc.rest_cancel(symbol, client_id, ts_ms, order_buf)?;
                write_rest(&req, host, target_buf, send_buf)?
            }
            (Signer::Bybit(enc), Transport::Rest) => {
                let req = enc.rest_cancel(symbol, client_id, ts_ms, order_buf)?;
                write_rest(&req, host, target_buf, send_buf)?
            }
        };
        self.bytes += n as u64;
        Ok(n)
    }
}

/// A signed REST request as HTTP/1.1 bytes in `out` (target = path and
/// query, assembled in `target`).
#[inline]
fn write_rest(req: &RestRequest<'_>, host: &str, target: &mut [u8], out: &mut [u8]) -> Result<usize, SendPathError> {
    let path = req.path.as_bytes();
    let capacity = target.len();
    let mut len = path.len();
    target.get_mut(..len).ok_or(SendPathError::Target(capacity))?.copy_from_slice(path);
    if !req.query.is_empty() {
        let end = len + 1 + req.query.len();
        let dst = target.get_mut(len..end).ok_or(SendPathError::Target(capacity))?;
        dst[0] = b'?';
        dst[1..].copy_from_slice(req.query);
        len = end;
    }
    let mut headers = [("", &b""[..]); MAX_HEADERS];
    let given = req.headers();
    for (slot, h) in headers.iter_mut().zip(given) {
        *slot = (h.name, h.value);
    }
    Ok(http::write_request(req.method.as_str(), host, &target[..len], &headers[..given.len()], req.body, out)?)
}

/// Why the path could not run.
///
/// # Errors
/// Returned by [`measure`] and [`OrderPath::new`].
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    /// More frames than a stamp's tag can name.
    #[error("the recording has {0} frames; at most 4294967295 can be timed")]
    TooManyFrames(usize),
    /// The profile's signal table or limits do not fit.
    #[error("profile: {0}")]
    Profile(#[from] LoadError),
    /// The core could not be built.
    #[error("core: {0}")]
    Core(#[from] CoreError),
    /// Bybit orders are signed with HMAC only.
    #[error("--key ed25519: Bybit signs orders with HMAC-SHA256 only (Ed25519 is a Binance key type)")]
    Ed25519OnBybit,
    /// The made-up key was refused (a bug).
    #[error("key: {0}")]
    Key(String),
    /// The connection's logon or auth message could not be encoded.
    #[error("logon: {0}")]
    Logon(EncodeError),
    /// The logon or auth message could not be framed.
    #[error("logon: {0}")]
    LogonFrame(WsError),
    /// The strategy placed no order in the warm-up replay: nothing to time.
    #[error(
        "the strategy placed no order on this input ({frames} frames, {decisions} decisions) with this profile, so there is no tick-to-trade to time; \
         a recording shorter than the signals' warm-up (see tuning/latency.toml [signals]) places none"
    )]
    NoOrders {
        /// Frames replayed.
        frames: usize,
        /// Strategy decisions made.
        decisions: u64,
    },
    /// Orders the encoder refused (the strategy's orders failed the
    /// venue's checks): the figures would leave them out silently.
    #[error("{0} orders could not be encoded in the warm-up replay (first: {1})")]
    SendFailed(u64, SendPathError),
    /// The collector thread could not start or failed.
    #[error("latency collector: {0}")]
    Collector(String),
}

/// What one replay of the recording did (the same in every pass: the
/// core is deterministic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassCounts {
    /// Frames per group ([`GROUPS`]).
    pub frames: [u64; 4],
    /// Frames that ended with a signed order in the send buffer, per group.
    pub orders: [u64; 4],
    /// Orders placed (a frame may place more than one).
    pub orders_placed: u64,
    /// Cancels signed.
    pub cancels: u64,
    /// Orders and cancels the send path refused.
    pub send_errors: u64,
    /// Strategy decisions after market events.
    pub decisions: u64,
    /// Records the core pushed onto the risk ring.
    pub risk_inputs: u64,
    /// Intents the venue's answers led to (answered in turn, untimed).
    pub follow_ups: u64,
    /// Bytes put into the send buffer.
    pub bytes: u64,
}

impl PassCounts {
    /// Frames that ended with an order.
    #[must_use]
    pub fn order_frames(&self) -> u64 {
        self.orders.iter().sum()
    }

    /// Frames replayed.
    #[must_use]
    pub fn total_frames(&self) -> u64 {
        self.frames.iter().sum()
    }
}

/// What the path replays, and how.
pub struct TickSetup<'a> {
    /// The recording's venue.
    pub venue: Venue,
    /// The latency profile (strategy, risk, core and signals).
    pub profile: &'a Profile,
    /// The recording, already known to hold market data.
    pub rec: &'a Recording,
    /// [`super::decode::survey`] of the recording (each frame's class).
    pub info: &'a [FrameInfo],
    /// Timed rounds (at least 1), each of two passes.
    pub rounds: u32,
    /// Where to pin the collector thread (away from the measured one).
    pub collector_cpu: Option<usize>,
    /// How orders travel.
    pub transport: Transport,
    /// How they are signed.
    pub key: KeyKind,
}

/// The path's results.
pub struct TickReport {
    /// Frames in the recording.
    pub frames: usize,
    /// Timed rounds.
    pub rounds: u32,
    /// What the collector gathered.
    pub collected: Collected<TickAttribution>,
    /// What one pass did (the warm-up's).
    pub counts: PassCounts,
    /// Every timed pass did exactly what the warm-up did.
    pub deterministic: bool,
    /// Allocations per frame on the measured thread over the timed passes
    /// (the untimed answers and ring drains included).
    pub allocs_per_event: f64,
    /// Median cost of one pair of clock reads, ns.
    pub timer_overhead_ns: u64,
    /// Whether every pass's stamps reached the collector before the next
    /// pass began.
    pub drained_between_passes: bool,
    /// The CPU the collector was asked to run on.
    pub collector_cpu: Option<usize>,
    /// Records lost on the risk ring (must be 0).
    pub risk_lost: u64,
    /// The first order request of the warm-up as put into the send
    /// buffer (made-up keys), to show what is timed.
    pub sample_request: Vec<u8>,
}

/// One pass's moving parts.
struct Pass {
    core: Core<RingLink, LiveSignals, StageClock>,
    feed: FeedId,
    risk_rx: LosslessConsumer<RiskInput>,
    intents: Intents,
    pending: Vec<Intent>,
    venue_ids: u64,
}

const EPOCH: SessionEpoch = SessionEpoch(1);

impl Pass {
    fn new(
        setup: &TickSetup<'_>,
        signals: &SignalConfig,
        clock: &quanta::Clock,
        staged: bool,
    ) -> Result<Self, TickError> {
        let profile = setup.profile;
        let (tx, risk_rx) = crate::ring::lossless(RISK_RING, RISK_RING * 3 / 4);
        let link = RingLink { tx, equity: profile.risk.initial_equity, lost: 0 };
        let live = LiveSignals::new(signals, profile.instruments.all());
        let probe = StageClock::new(clock.clone(), staged);
        // The risk thread's first verdict: the cell starts halted until it
        // speaks; here nothing runs the monitor, so the harness publishes
        // the verdict a healthy account gets (Run, full size) once.
        let verdict = Arc::new(VerdictCell::new());
        verdict.publish(Verdict::RUN);
        let mut core = Core::new(profile, live, link, probe, EPOCH, verdict)?;
        let feed = core.add_feed(setup.venue, BindMode::Auto);
        let intents = Intents::with_capacity(core.intents_capacity());
        let pending = Vec::with_capacity(core.intents_capacity());
        Ok(Self { core, feed, risk_rx, intents, pending, venue_ids: 0 })
    }

    /// The venue's answers to what was just sent (module docs), until no
    /// intent follows (bounded: a strategy that kept answering its own
    /// answers would be a bug, counted as follow-ups).
    fn answer(&mut self, recv_ns: u64, counts: &mut PassCounts) {
        let ts_ms = i64::try_from(self.core.now_ns() / 1_000_000).unwrap_or(i64::MAX);
        for round in 0..4 {
            if self.intents.is_empty() {
                return;
            }
            if round > 0 {
                counts.follow_ups += self.intents.len() as u64;
            }
            self.pending.clear();
            self.pending.extend(self.intents.drain());
            for i in 0..self.pending.len() {
                match self.pending[i] {
                    Intent::Place { order, .. } => {
                        self.venue_ids += 1;
                        let ack = OrderEvent::Acked {
                            client_id: order.client_id,
                            venue_order_id: VenueOrderId::from_u64(self.venue_ids),
                            ts_ms,
                        };
                        self.core.on_order_event(&ack, recv_ns, &mut self.intents);
                        let expired = OrderEvent::Expired { client_id: order.client_id, ts_ms };
                        self.core.on_order_event(&expired, recv_ns, &mut self.intents);
                    }
                    Intent::Cancel { client_id, .. } => {
                        let done = OrderEvent::Cancelled { client_id, ts_ms };
                        self.core.on_order_event(&done, recv_ns, &mut self.intents);
                    }
                }
            }
        }
        counts.follow_ups += self.intents.len() as u64;
        self.intents.clear();
    }

    fn drain_risk(&mut self, counts: &mut PassCounts) {
        while self.risk_rx.pop().is_some() {
            counts.risk_inputs += 1;
        }
    }
}

/// What the replay loop needs besides the pass.
struct ReplayCtx<'a> {
    rec: &'a Recording,
    info: &'a [FrameInfo],
    work: &'a mut [u8],
    order_path: &'a mut OrderPath,
    first_error: Option<SendPathError>,
    first_request: Option<Vec<u8>>,
}

/// One replay of every frame through `pass`, stamping into `ring` when given.
#[inline(never)]
fn replay(
    pass: &mut Pass,
    ctx: &mut ReplayCtx<'_>,
    mut ring: Option<(&mut StampRing<MAX_STAMPS>, usize)>,
) -> PassCounts {
    let mut counts = PassCounts::default();
    let bytes_before = ctx.order_path.bytes();
    ctx.work.copy_from_slice(ctx.rec.bytes());
    for (i, &(recv_ns, start, end)) in ctx.rec.spans().iter().enumerate() {
        let group = ctx.info.get(i).map_or(3, |f| group(f.class));
        counts.frames[group] += 1;
        let frame = &mut ctx.work[start..end];

        // ---- timed: frame bytes in the buffer → order bytes in the send buffer
        pass.core.probe_mut().begin();
        let decided = pass.core.on_frame(pass.feed, frame, recv_ns, &mut pass.intents);
        let mut flags = group as u32;
        let any = !pass.intents.is_empty();
        if any {
            let ts_ms = pass.core.now_ns() / 1_000_000;
            for intent in pass.intents.iter() {
                let sent = match intent {
                    Intent::Place { inst, order, .. } => {
                        let instrument = &pass.core.instruments()[usize::from(inst.0)];
                        let market_ref =
                            if order.kind == OrderKind::Market { pass.core.prices(*inst).mid } else { Price::ZERO };
                        let r = ctx.order_path.place(order, instrument, market_ref, ts_ms);
                        if r.is_ok() {
                            flags |= TAG_ORDER;
                            counts.orders_placed += 1;
                        }
                        r
                    }
                    Intent::Cancel { symbol, client_id, .. } => {
                        let r = ctx.order_path.cancel(symbol, *client_id, ts_ms);
                        if r.is_ok() {
                            flags |= TAG_CANCEL;
                            counts.cancels += 1;
                        }
                        r
                    }
                };
                match sent {
                    Ok(n) => {
                        if ctx.first_request.is_none() && flags & TAG_ORDER != 0 {
                            ctx.first_request = Some(ctx.order_path.sent(n).to_vec());
                        }
                    }
                    Err(e) => {
                        counts.send_errors += 1;
                        ctx.first_error.get_or_insert(e);
                    }
                }
            }
        }
        let marks = pass.core.probe_mut().end(any, flags);
        // ---- end of the timed part

        if let Some((ring, flush_every)) = ring.as_mut() {
            ring.record(marks);
            if (i + 1) % *flush_every == 0 {
                ring.flush();
                ring.wait_drained(Duration::from_secs(30));
            }
        }
        if decided.is_some() {
            counts.decisions += 1;
        }
        if flags & TAG_ORDER != 0 {
            counts.orders[group] += 1;
        }
        if any {
            pass.answer(recv_ns, &mut counts);
        }
        if pass.risk_rx.len() >= RISK_DRAIN_AT {
            pass.drain_risk(&mut counts);
        }
    }
    pass.drain_risk(&mut counts);
    counts.bytes = ctx.order_path.bytes() - bytes_before;
    counts
}

/// Runs the path on the calling thread, which should be the pinned one if
/// any.
///
/// # Errors
/// [`TickError`].
pub fn measure(setup: &TickSetup<'_>, alloc: &CountingAlloc) -> Result<TickReport, TickError> {
    let rec = setup.rec;
    let rounds = setup.rounds.max(1);
    if u32::try_from(rec.len()).is_err() {
        return Err(TickError::TooManyFrames(rec.len()));
    }
    let signals = SignalConfig::from_table(&setup.profile.signals)?;
    let clock = quanta::Clock::new();
    let mut work = rec.bytes().to_vec();

    // Warm-up: one untimed replay (faults pages in, grows the decoders'
    // scratch) that also learns what a pass does.
    let mut order_path = OrderPath::new(setup.venue, setup.transport, setup.key)?;
    let mut ctx = ReplayCtx {
        rec,
        info: setup.info,
        work: &mut work,
        order_path: &mut order_path,
        first_error: None,
        first_request: None,
    };
    let mut warm = Pass::new(setup, &signals, &clock, false)?;
    let counts = replay(&mut warm, &mut ctx, None);
    let risk_lost_warm = warm.core.link().lost;
    drop(warm);
    if counts.send_errors > 0 {
        return Err(TickError::SendFailed(counts.send_errors, ctx.first_error.unwrap_or(SendPathError::Target(0))));
    }
    if counts.orders_placed == 0 {
        return Err(TickError::NoOrders { frames: rec.len(), decisions: counts.decisions });
    }
    // Cloned, not taken: left in place, the timed passes never capture
    // (and allocate) it again.
    let sample_request = ctx.first_request.clone().unwrap_or_default();

    // Stamps of a pass fit in half the ring, so the collector is woken
    // only between passes (longer recordings also flush every half ring,
    // between two frames, outside their timing).
    let capacity = (2 * rec.len() + 2).next_power_of_two().clamp(1 << 12, 1 << 18);
    let config = CollectorConfig { capacity, cpu: setup.collector_cpu, drain: Drain::OnFlush };
    let flush_every = capacity / 2;
    let names = STAGE_NAMES.iter().map(|s| (*s).to_owned()).collect();
    let (mut ring, collector) =
        Collector::spawn::<MAX_STAMPS>(names, clock.clone(), &config, TickAttribution::default())
            .map_err(|e| TickError::Collector(e.to_string()))?;

    let mut allocs = 0u64;
    let mut deterministic = true;
    let mut drained = true;
    let mut risk_lost = risk_lost_warm;
    for _ in 0..rounds {
        for staged in [true, false] {
            let mut pass = Pass::new(setup, &signals, &clock, staged)?;
            let before = alloc.this_thread();
            let got = replay(&mut pass, &mut ctx, Some((&mut ring, flush_every)));
            allocs += alloc.this_thread() - before;
            deterministic &= got == counts;
            risk_lost += pass.core.link().lost;
            ring.flush();
            drained &= ring.wait_drained(Duration::from_secs(30));
        }
    }
    let timer_overhead_ns = super::timer_overhead_ns(&clock);
    drop(ring);
    let collected = collector.finish().map_err(TickError::Collector)?;
    let passes = 2 * u64::from(rounds);
    Ok(TickReport {
        frames: rec.len(),
        rounds,
        collected,
        counts,
        deterministic,
        allocs_per_event: allocs as f64 / (rec.len() as f64 * passes as f64),
        timer_overhead_ns,
        drained_between_passes: drained,
        collector_cpu: setup.collector_cpu,
        risk_lost,
        sample_request,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::report::StageHistograms;

    fn marks(tag: u32, stamps: &[u64]) -> Marks<MAX_STAMPS> {
        let mut m = Marks::start(0, stamps[0]);
        for &s in &stamps[1..] {
            m.mark(s);
        }
        m.with_tag(tag)
    }

    fn codes(list: &[u32]) -> u32 {
        list.iter().enumerate().fold(0, |acc, (k, c)| acc | c << (3 * k as u32)) << CODES_SHIFT
    }

    #[test]
    fn attribution_sums_each_stage_and_splits_by_group_and_order() {
        let (clock, _mock) = quanta::Clock::mock();
        let names = STAGE_NAMES.iter().map(|s| (*s).to_owned()).collect();
        let mut hist = StageHistograms::new(names);
        let mut a = TickAttribution::default();
        let mut rec = Recorder::new(&clock, &mut hist);
        let full = codes(&[CODE_DECODED, CODE_BOOK_APPLIED, CODE_SIGNALS, CODE_STRATEGY, CODE_RISK, CODE_ENCODED]);
        // A staged bookTicker frame with an order: 10, 20, 30, 40, 50, 300 ns.
        a.attribute(&marks(TAG_STAGED | TAG_ORDER | full, &[1000, 1010, 1030, 1060, 1100, 1150, 1450]), &mut rec);
        // A staged trade frame with two decode boundaries (summed) and an order.
        let twice = codes(&[CODE_DECODED, CODE_DECODED, CODE_BOOK_APPLIED, CODE_ENCODED]);
        a.attribute(&marks(TAG_STAGED | TAG_ORDER | 2 | twice, &[0, 5, 12, 20, 100]), &mut rec);
        // A staged frame without an order: not attributed to the stages.
        a.attribute(&marks(TAG_STAGED | codes(&[CODE_DECODED, CODE_RETURNED]), &[0, 900, 950]), &mut rec);
        // Whole-pass frames: a depth frame with an order, a top frame without.
        a.attribute(&marks(TAG_ORDER | 1 | codes(&[CODE_ENCODED]), &[0, 777]), &mut rec);
        a.attribute(&marks(codes(&[CODE_RETURNED]), &[0, 66]), &mut rec);
        // A truncated staged frame: only its whole.
        a.attribute(&marks(TAG_STAGED | TAG_ORDER | TAG_TRUNCATED | full, &[0, 1, 2, 3, 4, 5, 6]), &mut rec);
        assert_eq!(rec.backwards(), 0);
        let get = |name: &str| {
            let h = hist.by_name(name).unwrap();
            (h.len(), h.min(), h.max())
        };
        assert_eq!(get("decode"), (2, 10, 12));
        assert_eq!(get("book_apply"), (2, 8, 20));
        assert_eq!(get("signals"), (1, 30, 30));
        assert_eq!(get("strategy"), (1, 40, 40));
        assert_eq!(get("risk_gate"), (1, 50, 50));
        assert_eq!(get("encode_sign"), (2, 80, 300));
        assert_eq!(get("tick_to_trade_staged"), (3, 6, 450));
        assert_eq!(get("tick_to_trade"), (1, 777, 777));
        assert_eq!(get("tick_to_trade_depth"), (1, 777, 777));
        assert_eq!(get("no_order_top"), (1, 66, 66));
        assert!(hist.by_name("tick_to_trade_top").unwrap().is_empty());
        assert_eq!(a.truncated, 1);
    }

    #[test]
    fn stage_clock_keeps_the_last_slot_for_the_end_and_flags_truncation() {
        let (clock, mock) = quanta::Clock::mock();
        let mut p = StageClock::new(clock, true);
        p.begin();
        for _ in 0..10 {
            mock.increment(5);
            p.stage(Stage::Decoded);
        }
        mock.increment(5);
        let m = p.end(true, TAG_ORDER);
        assert_eq!(m.stamps().len(), MAX_STAMPS);
        assert!(!m.overflowed());
        assert_ne!(m.tag() & TAG_TRUNCATED, 0);
        assert_eq!((m.tag() >> (CODES_SHIFT + 3 * 7)) & 7, CODE_ENCODED);
        // Unstaged: two stamps whatever the core reports.
        let (clock, _mock) = quanta::Clock::mock();
        let mut p = StageClock::new(clock, false);
        p.begin();
        p.stage(Stage::Decoded);
        p.stage(Stage::RiskChecked);
        let m = p.end(false, 0);
        assert_eq!(m.stamps().len(), 2);
        assert_eq!(m.tag() & (TAG_STAGED | TAG_TRUNCATED), 0);
    }

    #[test]
    fn order_path_frames_signed_requests_for_every_venue_transport_and_key() {
        let inst_of = |venue| Instrument::reference_btcusdt(venue);
        for (venue, transport, key) in [
            (Venue::BinanceUsdm, Transport::Ws, KeyKind::Hmac),
            (Venue::BinanceUsdm, Transport::Ws, KeyKind::Ed25519),
            (Venue::BinanceUsdm, Transport::Rest, KeyKind::Hmac),
            (Venue::BinanceUsdm, Transport::Rest, KeyKind::Ed25519),
            (Venue::BybitLinear, Transport::Ws, KeyKind::Hmac),
            (Venue::BybitLinear, Transport::Rest, KeyKind::Hmac),
        ] {
            let mut p = OrderPath::new(venue, transport, key).unwrap();
            let order = OrderRequest {
                venue,
                symbol: Symbol::new(b"BTCUSDT").unwrap(),
                side: crate::side::Side::Buy,
                kind: OrderKind::Limit,
                tif: crate::order::TimeInForce::PostOnly,
                price: Price(6_180_020),
                qty: crate::fixed::Qty(14),
                reduce_only: false,
                client_id: ClientOrderId(42),
            };
            let n = p.place(&order, &inst_of(venue), Price::ZERO, 1_723_161_256_313).unwrap();
            let bytes = p.sent(n).to_vec();
            let what = format!("{venue} {transport} {key}");
            match transport {
                Transport::Ws => {
                    let h = ws::parse_header(&bytes).unwrap().unwrap();
                    assert_eq!(h.header_len + h.payload_len as usize, n, "{what}");
                    let mut payload = bytes[h.header_len..].to_vec();
                    ws::apply_mask(&mut payload, h.mask.unwrap());
                    let text = String::from_utf8(payload).unwrap();
                    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
                    let signed = text.contains("\"signature\":\"");
                    // HMAC signs every Binance WS order; a logged-on Ed25519
                    // session and Bybit's authenticated stream sign none.
                    assert_eq!(signed, venue == Venue::BinanceUsdm && key == KeyKind::Hmac, "{what}: {text}");
                    assert!(text.contains("BTCUSDT") && text.contains("\"61800.2\""), "{what}: {text}");
                    assert!(json.is_object());
                }
                Transport::Rest => {
                    let text = String::from_utf8(bytes).unwrap();
                    let host = if venue == Venue::BinanceUsdm { "fapi.binance.com" } else { "api.bybit.com" };
                    assert!(text.starts_with("POST /"), "{what}: {text}");
                    assert!(text.contains(&format!("\r\nHost: {host}\r\n")), "{what}: {text}");
                    let signed = text.contains("signature=") || text.contains("X-BAPI-SIGN: ");
                    assert!(signed, "{what}: {text}");
                }
            }
            let n = p.cancel(&order.symbol, order.client_id, 1_723_161_256_400).unwrap();
            assert!(n > 0 && p.bytes() > 0);
        }
        assert!(matches!(
            OrderPath::new(Venue::BybitLinear, Transport::Ws, KeyKind::Ed25519),
            Err(TickError::Ed25519OnBybit)
        ));
    }
}
