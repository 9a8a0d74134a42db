//! Journal records and their binary encoding.
//!
//! # File format, version 2 (all integers little-endian)
//! ```text
//! file    := header record*
//! header  := "SCLPJRNL" version:u16 header_len:u16 reserved:u32      (16 bytes)
//! record  := len:u32 crc:u32 body[len]                                 (8 + len bytes)
//! body    := kind:u8 ts_ns:u64 payload                                 (len ≤ 512)
//! ```
//! `crc` is CRC-32 (IEEE, the zlib polynomial) of `body`. `ts_ns` is the
//! journal thread's wall clock (ns since the Unix epoch) when it appended
//! the record. Payload fields per kind are listed on [`JournalRecord`]'s
//! variants; text fields (symbol, venue order id) are `len:u8 bytes`,
//! enums are `u8` codes, prices and quantities `i64` mantissas at the
//! instrument's scale, money `i64` at 8 decimals. Scales are not repeated in
//! each record: the writer starts every journal with one
//! [`JournalRecord::Instrument`] per instrument so that the file describes
//! itself.
//!
//! A reader that meets an unknown version refuses the file; an unknown kind
//! or enum code inside a record whose checksum verifies is reported as
//! corruption, never guessed at.
//!
//! No record kind has a free-text field: a secret cannot reach the journal.

use crate::fixed::{Notional, Price, Qty, SignedQty};
use crate::instrument::Symbol;
use crate::order::{
    ClientOrderId, FeeKind, Fill, OrderAction, OrderEvent, OrderKind, OrderRequest, RejectReason, TimeInForce, TradeId,
    VenueOrderId,
};
use crate::risk::gate::Refusal;
use crate::risk::monitor::{RiskCommand, RiskInput, RiskOutput, RiskRecord};
use crate::risk::verdict::{Cause, Mode, Verdict};
use crate::side::Side;
use crate::venue::Venue;

/// The file's first eight bytes.
pub const MAGIC: &[u8; 8] = b"SCLPJRNL";
/// Format version written by this code.
pub const VERSION: u16 = 3;
/// Oldest format version this code still reads (version 3 only added
/// record kinds 21–23).
pub const OLDEST_READABLE: u16 = 2;
/// Bytes of the file header.
pub const HEADER_LEN: usize = 16;
/// Bytes of a record's frame (length and checksum).
pub const FRAME_LEN: usize = 8;
/// Largest record body.
pub const MAX_BODY_LEN: usize = 512;

/// A pipeline stage whose latency the journal thread histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Stage {
    /// Frame decode.
    Decode = 0,
    /// Book update.
    Book = 1,
    /// Signals.
    Signals = 2,
    /// Strategy and risk gate.
    Decide = 3,
    /// Encode and sign.
    Encode = 4,
    /// Receive to order bytes ready (tick to trade).
    TickToTrade = 5,
    /// Order sent to venue ack.
    AckRoundTrip = 6,
}

impl Stage {
    /// Every stage, by code.
    pub const ALL: [Stage; 7] = [
        Stage::Decode,
        Stage::Book,
        Stage::Signals,
        Stage::Decide,
        Stage::Encode,
        Stage::TickToTrade,
        Stage::AckRoundTrip,
    ];

    /// Lower-case name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::Book => "book",
            Stage::Signals => "signals",
            Stage::Decide => "decide",
            Stage::Encode => "encode",
            Stage::TickToTrade => "tick-to-trade",
            Stage::AckRoundTrip => "ack-round-trip",
        }
    }
}

/// Severity of a [`JournalRecord::Log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum LogLevel {
    /// Detail.
    Debug = 0,
    /// Normal operation.
    Info = 1,
    /// Something unexpected, handled.
    Warn = 2,
    /// Something failed.
    Error = 3,
}

impl LogLevel {
    const ALL: [LogLevel; 4] = [LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error];

    /// Lower-case name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// Which ring a [`JournalRecord::Dropped`] count is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RingId {
    /// The hot thread's lossy telemetry ring (logs, latency samples, refusals).
    Telemetry = 0,
}

/// One journal record. Field order in each variant is its payload order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalRecord {
    /// Kind 1: an instrument's scales (`venue symbol price_scale:u8 qty_scale:u8`).
    Instrument {
        /// Venue.
        venue: Venue,
        /// Symbol.
        symbol: Symbol,
        /// Price decimals.
        price_scale: u8,
        /// Quantity decimals.
        qty_scale: u8,
    },
    /// Kinds 2–7: an order event (payload as in [`OrderEvent`]).
    Order(OrderEvent),
    /// Kind 8: the pre-trade gate refused an order
    /// (`venue symbol side price qty client_id reason`).
    GateRefusal {
        /// The order refused.
        order: OrderRequest,
        /// Why.
        reason: Refusal,
    },
    /// Kinds 9–12: a risk decision, as the risk thread made it:
    /// - 9 `Verdict` (`ts_ms mode cause cap:u16 seq:u32`), the verdict as
    ///   stored in the word (with its sequence number);
    /// - 10 `Trip` (`ts_ms cause value:i64`);
    /// - 11 `Clear` (`ts_ms cause`);
    /// - 12 `Command` (`ts_ms code venue symbol`, venue and symbol only for
    ///   `Flatten`).
    Risk(RiskOutput),
    /// Kind 13: a book resynchronised (`venue symbol ts_ms`).
    Resync {
        /// Venue.
        venue: Venue,
        /// Symbol.
        symbol: Symbol,
        /// Exchange time, ms.
        ts_ms: i64,
    },
    /// Kind 14: account margin figures (`venue margin_balance maintenance_margin ts_ms`).
    Account {
        /// Venue.
        venue: Venue,
        /// Margin balance, USDT.
        margin_balance: Notional,
        /// Maintenance margin, USDT.
        maintenance_margin: Notional,
        /// Exchange time, ms.
        ts_ms: i64,
    },
    /// Kind 21: a funding payment (`venue symbol amount ts_ms`; the symbol
    /// is empty when the venue named none).
    Funding {
        /// Venue.
        venue: Venue,
        /// The position it was paid on, if named.
        symbol: Option<Symbol>,
        /// Received (negative: paid), USDT.
        amount: Notional,
        /// Exchange time, ms.
        ts_ms: i64,
    },
    /// Kind 22: the wallet balance a venue reported (`venue wallet_balance ts_ms`).
    Wallet {
        /// Venue.
        venue: Venue,
        /// Wallet balance, USDT.
        wallet_balance: Notional,
        /// Exchange time, ms.
        ts_ms: i64,
    },
    /// Kind 23: the ledger's position against the venue's report
    /// (`venue symbol ledger reported ts_ms`): a mismatch (the symbol goes
    /// reduce-only) or, when equal, the mismatch resolved.
    Reconcile {
        /// Venue.
        venue: Venue,
        /// Symbol.
        symbol: Symbol,
        /// The ledger's position (quantity mantissa, signed).
        ledger: SignedQty,
        /// The venue's position.
        reported: SignedQty,
        /// Exchange time of the venue's report, ms.
        ts_ms: i64,
    },
    /// Kind 15: a structured log line without text (`level code:u16 value:i64`).
    Log {
        /// Severity.
        level: LogLevel,
        /// What happened (a code the emitting module documents).
        code: u16,
        /// A number that goes with it.
        value: i64,
    },
    /// Kind 16: records dropped from a lossy ring so far (`ring total:u64`).
    Dropped {
        /// Which ring.
        ring: RingId,
        /// Total dropped since start.
        total: u64,
    },
    /// Kind 17: latency summary of a stage, ns (`stage count p50 p99 p999 max`, u64s).
    Latency {
        /// Stage.
        stage: Stage,
        /// Samples so far.
        count: u64,
        /// Median.
        p50: u64,
        /// 99th percentile.
        p99: u64,
        /// 99.9th percentile.
        p999: u64,
        /// Maximum.
        max: u64,
    },
    /// Kind 18: clean shutdown (`records:u64` written before this one).
    Closed {
        /// Records before this one.
        records: u64,
    },
}

/// Every venue reject reason, indexed by its journal code.
pub const REJECT_REASONS: [RejectReason; 13] = [
    RejectReason::TimestampOutsideRecvWindow,
    RejectReason::BadSignature,
    RejectReason::BadApiKey,
    RejectReason::InsufficientMargin,
    RejectReason::MinNotional,
    RejectReason::RateLimited,
    RejectReason::IpBanned,
    RejectReason::PostOnlyWouldTake,
    RejectReason::ReduceOnlyRejected,
    RejectReason::InvalidPriceOrQty,
    RejectReason::UnknownOrder,
    RejectReason::Other,
    RejectReason::NotSent,
];

impl From<RiskRecord> for JournalRecord {
    /// What the risk thread journals, in the journal's own records.
    fn from(record: RiskRecord) -> Self {
        match record {
            RiskRecord::Output(output) => JournalRecord::Risk(output),
            RiskRecord::Input(input) => match input {
                RiskInput::Order(event) => JournalRecord::Order(event),
                RiskInput::Resync { venue, symbol, ts_ms } => JournalRecord::Resync { venue, symbol, ts_ms },
                RiskInput::Account { venue, margin_balance, maintenance_margin, ts_ms } => {
                    JournalRecord::Account { venue, margin_balance, maintenance_margin, ts_ms }
                }
                RiskInput::FeeSupplied(fill) => JournalRecord::Order(OrderEvent::Filled(fill)),
                RiskInput::Funding { venue, symbol, amount, ts_ms } => {
                    JournalRecord::Funding { venue, symbol, amount, ts_ms }
                }
                RiskInput::Wallet { venue, wallet_balance, ts_ms } => {
                    JournalRecord::Wallet { venue, wallet_balance, ts_ms }
                }
                RiskInput::Reconcile { venue, symbol, ledger, reported, ts_ms } => {
                    JournalRecord::Reconcile { venue, symbol, ledger, reported, ts_ms }
                }
                // The risk thread does not forward these; a mark or a kill
                // that reaches the journal anyway is logged as what it is.
                RiskInput::Mark { price, .. } => {
                    JournalRecord::Log { level: LogLevel::Debug, code: LOG_MARK, value: price.0 }
                }
                RiskInput::Kill => JournalRecord::Log { level: LogLevel::Warn, code: LOG_KILL, value: 0 },
            },
        }
    }
}

/// [`JournalRecord::Log`] code of a mark journaled as such (value: the price mantissa).
pub const LOG_MARK: u16 = 1;
/// [`JournalRecord::Log`] code of a kill command journaled as such.
pub const LOG_KILL: u16 = 2;

/// A kebab-case name for a venue reject reason.
#[must_use]
pub fn reject_reason_name(reason: RejectReason) -> &'static str {
    match reason {
        RejectReason::TimestampOutsideRecvWindow => "timestamp-outside-recv-window",
        RejectReason::BadSignature => "bad-signature",
        RejectReason::BadApiKey => "bad-api-key",
        RejectReason::InsufficientMargin => "insufficient-margin",
        RejectReason::MinNotional => "min-notional",
        RejectReason::RateLimited => "rate-limited",
        RejectReason::IpBanned => "ip-banned",
        RejectReason::PostOnlyWouldTake => "post-only-would-take",
        RejectReason::ReduceOnlyRejected => "reduce-only-rejected",
        RejectReason::InvalidPriceOrQty => "invalid-price-or-qty",
        RejectReason::UnknownOrder => "unknown-order",
        RejectReason::Other => "other",
        RejectReason::NotSent => "not-sent",
    }
}

fn reject_code(reason: RejectReason) -> u8 {
    REJECT_REASONS.iter().position(|r| *r == reason).map_or(u8::MAX, |i| i as u8)
}

/// Why a record body could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The body ended before its fields did.
    #[error("record body too short")]
    Short,
    /// Bytes left over after the last field.
    #[error("record body has trailing bytes")]
    Trailing,
    /// An unknown record kind.
    #[error("unknown record kind {0}")]
    Kind(u8),
    /// An enum field with an unknown code.
    #[error("bad {0} code")]
    Code(&'static str),
    /// A text field that is not a valid symbol or id.
    #[error("bad {0} text")]
    Text(&'static str),
}

/// Appends the body of `record` (kind, `ts_ns`, payload) to `out`.
pub(crate) fn encode_body(ts_ns: u64, record: &JournalRecord, out: &mut Vec<u8>) {
    let mut w = Writer { out };
    match *record {
        JournalRecord::Instrument { venue, symbol, price_scale, qty_scale } => {
            w.head(1, ts_ns);
            w.venue(venue);
            w.text(symbol.as_bytes());
            w.u8(price_scale);
            w.u8(qty_scale);
        }
        JournalRecord::Order(OrderEvent::Submitted { order, ts_raw }) => {
            w.head(2, ts_ns);
            w.u64(ts_raw);
            w.order(&order);
        }
        JournalRecord::Order(OrderEvent::Acked { client_id, venue_order_id, ts_ms }) => {
            w.head(3, ts_ns);
            w.u64(client_id.0);
            w.text(venue_order_id.as_bytes());
            w.i64(ts_ms);
        }
        JournalRecord::Order(OrderEvent::Filled(f)) => {
            w.head(4, ts_ns);
            w.u64(f.client_id.0);
            w.venue(f.venue);
            w.text(f.symbol.as_bytes());
            w.side(f.side);
            w.u64((f.trade_id.0 >> 64) as u64);
            w.u64(f.trade_id.0 as u64);
            w.i64(f.price.0);
            w.i64(f.qty.0);
            w.i64(f.fee.0);
            w.u8(match f.fee_kind {
                FeeKind::Quote => 0,
                FeeKind::OtherAsset => 1,
                FeeKind::NotReported => 2,
            });
            w.u8(u8::from(f.is_maker));
            w.i64(f.ts_ms);
        }
        JournalRecord::Order(OrderEvent::Amended { client_id, price, qty, ts_ms }) => {
            w.head(19, ts_ns);
            w.u64(client_id.0);
            w.i64(price.0);
            w.i64(qty.0);
            w.i64(ts_ms);
        }
        JournalRecord::Order(OrderEvent::ActionRejected { client_id, action, reason, venue_code, ts_ms }) => {
            w.head(20, ts_ns);
            w.u64(client_id.0);
            w.u8(match action {
                OrderAction::Cancel => 0,
                OrderAction::Amend => 1,
                OrderAction::CancelAll => 2,
            });
            w.u8(reject_code(reason));
            w.i32(venue_code);
            w.i64(ts_ms);
        }
        JournalRecord::Order(OrderEvent::Cancelled { client_id, ts_ms }) => {
            w.head(5, ts_ns);
            w.u64(client_id.0);
            w.i64(ts_ms);
        }
        JournalRecord::Order(OrderEvent::Expired { client_id, ts_ms }) => {
            w.head(6, ts_ns);
            w.u64(client_id.0);
            w.i64(ts_ms);
        }
        JournalRecord::Order(OrderEvent::Rejected { client_id, reason, venue_code, ts_ms }) => {
            w.head(7, ts_ns);
            w.u64(client_id.0);
            w.u8(reject_code(reason));
            w.i32(venue_code);
            w.i64(ts_ms);
        }
        JournalRecord::GateRefusal { order, reason } => {
            w.head(8, ts_ns);
            w.order(&order);
            w.u8(reason as u8);
        }
        JournalRecord::Risk(RiskOutput::Verdict { ts_ms, verdict }) => {
            w.head(9, ts_ns);
            w.i64(ts_ms);
            w.u8(verdict.mode as u8);
            w.u8(verdict.cause as u8);
            w.u16(verdict.size_cap_permille);
            w.u32(verdict.seq);
        }
        JournalRecord::Risk(RiskOutput::Trip { ts_ms, cause, value }) => {
            w.head(10, ts_ns);
            w.i64(ts_ms);
            w.u8(cause as u8);
            w.i64(value);
        }
        JournalRecord::Risk(RiskOutput::Clear { ts_ms, cause }) => {
            w.head(11, ts_ns);
            w.i64(ts_ms);
            w.u8(cause as u8);
        }
        JournalRecord::Risk(RiskOutput::Command { ts_ms, command }) => {
            w.head(12, ts_ns);
            w.i64(ts_ms);
            match command {
                RiskCommand::CancelAll => w.u8(0),
                RiskCommand::FlattenAll => w.u8(1),
                RiskCommand::Flatten { venue, symbol } => {
                    w.u8(2);
                    w.venue(venue);
                    w.text(symbol.as_bytes());
                }
                RiskCommand::Exit => w.u8(3),
            }
        }
        JournalRecord::Resync { venue, symbol, ts_ms } => {
            w.head(13, ts_ns);
            w.venue(venue);
            w.text(symbol.as_bytes());
            w.i64(ts_ms);
        }
        JournalRecord::Account { venue, margin_balance, maintenance_margin, ts_ms } => {
            w.head(14, ts_ns);
            w.venue(venue);
            w.i64(margin_balance.0);
            w.i64(maintenance_margin.0);
            w.i64(ts_ms);
        }
        JournalRecord::Funding { venue, symbol, amount, ts_ms } => {
            w.head(21, ts_ns);
            w.venue(venue);
            w.text(symbol.as_ref().map_or(&b""[..], Symbol::as_bytes));
            w.i64(amount.0);
            w.i64(ts_ms);
        }
        JournalRecord::Wallet { venue, wallet_balance, ts_ms } => {
            w.head(22, ts_ns);
            w.venue(venue);
            w.i64(wallet_balance.0);
            w.i64(ts_ms);
        }
        JournalRecord::Reconcile { venue, symbol, ledger, reported, ts_ms } => {
            w.head(23, ts_ns);
            w.venue(venue);
            w.text(symbol.as_bytes());
            w.i64(ledger.0);
            w.i64(reported.0);
            w.i64(ts_ms);
        }
        JournalRecord::Log { level, code, value } => {
            w.head(15, ts_ns);
            w.u8(level as u8);
            w.u16(code);
            w.i64(value);
        }
        JournalRecord::Dropped { ring, total } => {
            w.head(16, ts_ns);
            w.u8(ring as u8);
            w.u64(total);
        }
        JournalRecord::Latency { stage, count, p50, p99, p999, max } => {
            w.head(17, ts_ns);
            w.u8(stage as u8);
            for v in [count, p50, p99, p999, max] {
                w.u64(v);
            }
        }
        JournalRecord::Closed { records } => {
            w.head(18, ts_ns);
            w.u64(records);
        }
    }
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn head(&mut self, kind: u8, ts_ns: u64) {
        self.u8(kind);
        self.u64(ts_ns);
    }
    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn text(&mut self, bytes: &[u8]) {
        // Symbols (≤ 23) and venue order ids (≤ 40) always fit a u8 length.
        let len = bytes.len().min(255);
        self.u8(len as u8);
        self.out.extend_from_slice(&bytes[..len]);
    }
    fn venue(&mut self, v: Venue) {
        self.u8(match v {
            Venue::BinanceUsdm => 0,
            Venue::BybitLinear => 1,
        });
    }
    fn side(&mut self, s: Side) {
        self.u8(match s {
            Side::Buy => 0,
            Side::Sell => 1,
        });
    }
    fn order(&mut self, o: &OrderRequest) {
        self.venue(o.venue);
        self.text(o.symbol.as_bytes());
        self.side(o.side);
        self.u8(match o.kind {
            OrderKind::Limit => 0,
            OrderKind::Market => 1,
        });
        self.u8(match o.tif {
            TimeInForce::Gtc => 0,
            TimeInForce::Ioc => 1,
            TimeInForce::PostOnly => 2,
        });
        self.i64(o.price.0);
        self.i64(o.qty.0);
        self.u8(u8::from(o.reduce_only));
        self.u64(o.client_id.0);
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (head, rest) = self.bytes.split_first_chunk::<N>().ok_or(DecodeError::Short)?;
        self.bytes = rest;
        Ok(*head)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.take()?))
    }
    fn text(&mut self) -> Result<&[u8], DecodeError> {
        let len = usize::from(self.u8()?);
        if self.bytes.len() < len {
            return Err(DecodeError::Short);
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }
    fn symbol(&mut self) -> Result<Symbol, DecodeError> {
        Symbol::new(self.text()?).map_err(|_| DecodeError::Text("symbol"))
    }
    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Code("bool")),
        }
    }
    fn venue(&mut self) -> Result<Venue, DecodeError> {
        match self.u8()? {
            0 => Ok(Venue::BinanceUsdm),
            1 => Ok(Venue::BybitLinear),
            _ => Err(DecodeError::Code("venue")),
        }
    }
    fn side(&mut self) -> Result<Side, DecodeError> {
        match self.u8()? {
            0 => Ok(Side::Buy),
            1 => Ok(Side::Sell),
            _ => Err(DecodeError::Code("side")),
        }
    }
    fn cause(&mut self) -> Result<Cause, DecodeError> {
        Cause::from_u8(self.u8()?).ok_or(DecodeError::Code("cause"))
    }
    fn order(&mut self) -> Result<OrderRequest, DecodeError> {
        Ok(OrderRequest {
            venue: self.venue()?,
            symbol: self.symbol()?,
            side: self.side()?,
            kind: match self.u8()? {
                0 => OrderKind::Limit,
                1 => OrderKind::Market,
                _ => return Err(DecodeError::Code("order kind")),
            },
            tif: match self.u8()? {
                0 => TimeInForce::Gtc,
                1 => TimeInForce::Ioc,
                2 => TimeInForce::PostOnly,
                _ => return Err(DecodeError::Code("time in force")),
            },
            price: Price(self.i64()?),
            qty: Qty(self.i64()?),
            reduce_only: self.bool()?,
            client_id: ClientOrderId(self.u64()?),
        })
    }
}

/// Decodes a record body into `(ts_ns, record)`.
///
/// # Errors
/// [`DecodeError`] for a short body, trailing bytes, or unknown codes.
pub fn decode_body(body: &[u8]) -> Result<(u64, JournalRecord), DecodeError> {
    let mut r = Reader { bytes: body };
    let kind = r.u8()?;
    let ts_ns = r.u64()?;
    let record = match kind {
        1 => JournalRecord::Instrument {
            venue: r.venue()?,
            symbol: r.symbol()?,
            price_scale: r.u8()?,
            qty_scale: r.u8()?,
        },
        2 => {
            let ts_raw = r.u64()?;
            JournalRecord::Order(OrderEvent::Submitted { order: r.order()?, ts_raw })
        }
        3 => JournalRecord::Order(OrderEvent::Acked {
            client_id: ClientOrderId(r.u64()?),
            venue_order_id: VenueOrderId::new(r.text()?).ok_or(DecodeError::Text("venue order id"))?,
            ts_ms: r.i64()?,
        }),
        4 => JournalRecord::Order(OrderEvent::Filled(Fill {
            client_id: ClientOrderId(r.u64()?),
            venue: r.venue()?,
            symbol: r.symbol()?,
            side: r.side()?,
            trade_id: TradeId((u128::from(r.u64()?) << 64) | u128::from(r.u64()?)),
            price: Price(r.i64()?),
            qty: Qty(r.i64()?),
            fee: Notional(r.i64()?),
            fee_kind: match r.u8()? {
                0 => FeeKind::Quote,
                1 => FeeKind::OtherAsset,
                2 => FeeKind::NotReported,
                _ => return Err(DecodeError::Code("fee kind")),
            },
            is_maker: r.bool()?,
            ts_ms: r.i64()?,
        })),
        19 => JournalRecord::Order(OrderEvent::Amended {
            client_id: ClientOrderId(r.u64()?),
            price: Price(r.i64()?),
            qty: Qty(r.i64()?),
            ts_ms: r.i64()?,
        }),
        20 => JournalRecord::Order(OrderEvent::ActionRejected {
            client_id: ClientOrderId(r.u64()?),
            action: match r.u8()? {
                0 => OrderAction::Cancel,
                1 => OrderAction::Amend,
                2 => OrderAction::CancelAll,
                _ => return Err(DecodeError::Code("order action")),
            },
            reason: *REJECT_REASONS.get(usize::from(r.u8()?)).ok_or(DecodeError::Code("reject reason"))?,
            venue_code: r.i32()?,
            ts_ms: r.i64()?,
        }),
        5 => JournalRecord::Order(OrderEvent::Cancelled { client_id: ClientOrderId(r.u64()?), ts_ms: r.i64()? }),
        6 => JournalRecord::Order(OrderEvent::Expired { client_id: ClientOrderId(r.u64()?), ts_ms: r.i64()? }),
        7 => JournalRecord::Order(OrderEvent::Rejected {
            client_id: ClientOrderId(r.u64()?),
            reason: *REJECT_REASONS.get(usize::from(r.u8()?)).ok_or(DecodeError::Code("reject reason"))?,
            venue_code: r.i32()?,
            ts_ms: r.i64()?,
        }),
        8 => JournalRecord::GateRefusal {
            order: r.order()?,
            reason: Refusal::from_u8(r.u8()?).ok_or(DecodeError::Code("refusal"))?,
        },
        9 => {
            let ts_ms = r.i64()?;
            let mode = r.u8()?;
            if mode > Mode::Flatten as u8 {
                return Err(DecodeError::Code("mode"));
            }
            let cause = r.cause()?;
            let cap = r.u16()?;
            if cap > crate::risk::verdict::FULL_SIZE_PERMILLE {
                return Err(DecodeError::Code("size cap"));
            }
            JournalRecord::Risk(RiskOutput::Verdict {
                ts_ms,
                verdict: Verdict { mode: Mode::from_u8(mode), cause, size_cap_permille: cap, seq: r.u32()? },
            })
        }
        10 => JournalRecord::Risk(RiskOutput::Trip { ts_ms: r.i64()?, cause: r.cause()?, value: r.i64()? }),
        11 => JournalRecord::Risk(RiskOutput::Clear { ts_ms: r.i64()?, cause: r.cause()? }),
        12 => {
            let ts_ms = r.i64()?;
            let command = match r.u8()? {
                0 => RiskCommand::CancelAll,
                1 => RiskCommand::FlattenAll,
                2 => RiskCommand::Flatten { venue: r.venue()?, symbol: r.symbol()? },
                3 => RiskCommand::Exit,
                _ => return Err(DecodeError::Code("command")),
            };
            JournalRecord::Risk(RiskOutput::Command { ts_ms, command })
        }
        13 => JournalRecord::Resync { venue: r.venue()?, symbol: r.symbol()?, ts_ms: r.i64()? },
        14 => JournalRecord::Account {
            venue: r.venue()?,
            margin_balance: Notional(r.i64()?),
            maintenance_margin: Notional(r.i64()?),
            ts_ms: r.i64()?,
        },
        15 => JournalRecord::Log {
            level: *LogLevel::ALL.get(usize::from(r.u8()?)).ok_or(DecodeError::Code("log level"))?,
            code: r.u16()?,
            value: r.i64()?,
        },
        16 => JournalRecord::Dropped {
            ring: match r.u8()? {
                0 => RingId::Telemetry,
                _ => return Err(DecodeError::Code("ring")),
            },
            total: r.u64()?,
        },
        17 => JournalRecord::Latency {
            stage: *Stage::ALL.get(usize::from(r.u8()?)).ok_or(DecodeError::Code("stage"))?,
            count: r.u64()?,
            p50: r.u64()?,
            p99: r.u64()?,
            p999: r.u64()?,
            max: r.u64()?,
        },
        18 => JournalRecord::Closed { records: r.u64()? },
        21 => JournalRecord::Funding {
            venue: r.venue()?,
            symbol: match r.text()? {
                b"" => None,
                text => Some(Symbol::new(text).map_err(|_| DecodeError::Text("symbol"))?),
            },
            amount: Notional(r.i64()?),
            ts_ms: r.i64()?,
        },
        22 => JournalRecord::Wallet { venue: r.venue()?, wallet_balance: Notional(r.i64()?), ts_ms: r.i64()? },
        23 => JournalRecord::Reconcile {
            venue: r.venue()?,
            symbol: r.symbol()?,
            ledger: SignedQty(r.i64()?),
            reported: SignedQty(r.i64()?),
            ts_ms: r.i64()?,
        },
        other => return Err(DecodeError::Kind(other)),
    };
    if !r.bytes.is_empty() {
        return Err(DecodeError::Trailing);
    }
    Ok((ts_ns, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_codes_cover_every_reason() {
        for (i, r) in REJECT_REASONS.iter().enumerate() {
            assert_eq!(reject_code(*r), i as u8);
        }
    }

    #[test]
    fn unknown_codes_are_errors_not_guesses() {
        let mut body = Vec::new();
        encode_body(7, &JournalRecord::Risk(RiskOutput::Clear { ts_ms: 1, cause: Cause::Drawdown }), &mut body);
        assert!(decode_body(&body).is_ok());
        let last = body.len() - 1;
        body[last] = 200;
        assert_eq!(decode_body(&body), Err(DecodeError::Code("cause")));
        body[0] = 99;
        assert_eq!(decode_body(&body), Err(DecodeError::Kind(99)));
        assert_eq!(decode_body(&body[..3]), Err(DecodeError::Short));
        let mut long = Vec::new();
        encode_body(7, &JournalRecord::Closed { records: 1 }, &mut long);
        long.push(0);
        assert_eq!(decode_body(&long), Err(DecodeError::Trailing));
    }
}
