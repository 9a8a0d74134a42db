//! Journal records and their binary encoding.
//!
//! # File format, version 4 (all integers little-endian)
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
//! Versions: 3 added kinds 21–23, 4 added kinds 24–26 (the orders'
//! context: [`EntryRecord`], [`SignalBits`], [`ExitRecord`]). A reader of
//! an older version refuses a newer file by its version instead of calling
//! its new kinds corruption; this reader reads versions 2 to 4.
//!
//! The entry context's `f64` fields (the score, the votes' strengths, the
//! signal vector) are written as their IEEE-754 bits (`f64::to_bits`,
//! little-endian), never rounded: a research record reads back the exact
//! values the strategy decided on, and two records compare equal when their
//! bits do.
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
use crate::signal::{Regime, SignalSnapshot};
use crate::strategy::vote::VoteSet;
use crate::strategy::{EntryContext, ExitReason, Tier};
use crate::venue::Venue;

/// The file's first eight bytes.
pub const MAGIC: &[u8; 8] = b"SCLPJRNL";
/// Format version written by this code.
pub const VERSION: u16 = 4;
/// Oldest format version this code still reads (versions 3 and 4 only
/// added record kinds: 21–23, then 24–26).
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
    /// The hot thread's lossy ring of order contexts (kinds 24–26).
    Contexts = 1,
}

/// One journal record. Field order in each variant is its payload order.
///
/// A plain `Copy` value: the signal record makes it ~420 bytes, which is
/// why the engine's lossless ring carries the risk thread's smaller records
/// and converts them on the journal thread; boxing the large variant would
/// allocate per entry.
#[allow(clippy::large_enum_variant)]
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
    /// Kind 24: what caused an entry order (its decision, without the
    /// signal vector: see [`EntryRecord`]).
    Entry(EntryRecord),
    /// Kind 25: the signal vector at an entry's decision
    /// (`client_id` then [`SignalBits`]'s payload).
    EntrySignals {
        /// The entry order.
        client_id: ClientOrderId,
        /// Every signal, bit for bit.
        signals: SignalBits,
    },
    /// Kind 26: why an exit order was placed (see [`ExitRecord`]).
    Exit(ExitRecord),
}

/// The decision behind an entry order, journaled with the order (kind 24;
/// its signal vector follows as kind 25, keyed by the same client id: the
/// two together are the strategy's [`EntryContext`], split because one
/// record would exceed [`MAX_BODY_LEN`]).
///
/// Payload: `client_id:u64 venue symbol ts_ms:i64 side tier confidence:u8
/// score:f64 (vote_dir:u8 vote_strength:f64)×5 price:i64 qty:i64
/// stop_distance:i64 target_distance:i64 risk:i64 leverage:u8`, 147 bytes
/// of body at most. `vote_dir` is 0 abstain, 1 buy, 2 sell, in
/// [`crate::strategy::VoteKind::ALL`] order; tiers are coded A 0, B 1,
/// cascade 2.
#[derive(Debug, Clone, Copy)]
pub struct EntryRecord {
    /// The entry order.
    pub client_id: ClientOrderId,
    /// Venue.
    pub venue: Venue,
    /// Symbol.
    pub symbol: Symbol,
    /// Decision time (exchange-time based), ms.
    pub ts_ms: i64,
    /// Direction.
    pub side: Side,
    /// Tier.
    pub tier: Tier,
    /// Confidence, 0–100 (0 for a cascade trade: it is not scored).
    pub confidence: u8,
    /// The unrounded score.
    pub score: f64,
    /// The votes.
    pub votes: VoteSet,
    /// The order's price (limit, or the touch for a market order).
    pub price: Price,
    /// The order's quantity.
    pub qty: Qty,
    /// Planned stop distance (R), price mantissa.
    pub stop_distance: Price,
    /// Planned take-profit distance, price mantissa.
    pub target_distance: Price,
    /// Planned loss at the stop (quantity × R, fees not included), USDT.
    pub risk: Notional,
    /// Effective leverage of the trade.
    pub leverage: u8,
}

impl EntryRecord {
    /// The record of entry order `order` decided in `context`.
    #[must_use]
    pub fn of(order: &OrderRequest, context: &EntryContext) -> Self {
        Self {
            client_id: order.client_id,
            venue: order.venue,
            symbol: order.symbol,
            ts_ms: context.ts_ms,
            side: context.side,
            tier: context.tier,
            confidence: context.confidence,
            score: context.score,
            votes: context.votes,
            price: context.price,
            qty: context.qty,
            stop_distance: context.stop_distance,
            target_distance: context.target_distance,
            risk: context.risk,
            leverage: context.leverage,
        }
    }

    /// The planned stop level: the order's price moved against the side by
    /// the stop distance (the position's own stop is set from its fill
    /// price and rounded to the tick; it is not journaled).
    #[must_use]
    pub fn stop_level(&self) -> Price {
        Price(self.price.0.saturating_sub(self.side.sign().saturating_mul(self.stop_distance.0)))
    }

    /// The planned take-profit level: the order's price moved with the side
    /// by the target distance.
    #[must_use]
    pub fn target_level(&self) -> Price {
        Price(self.price.0.saturating_add(self.side.sign().saturating_mul(self.target_distance.0)))
    }
}

impl PartialEq for EntryRecord {
    /// Field by field, `f64`s by their bits (as the journal stores them).
    fn eq(&self, other: &Self) -> bool {
        let bits = |r: &Self| (r.score.to_bits(), r.votes.strength.map(f64::to_bits));
        self.client_id == other.client_id
            && self.venue == other.venue
            && self.symbol == other.symbol
            && self.ts_ms == other.ts_ms
            && self.side == other.side
            && self.tier == other.tier
            && self.confidence == other.confidence
            && bits(self) == bits(other)
            && self.votes.dir == other.votes.dir
            && self.price == other.price
            && self.qty == other.qty
            && self.stop_distance == other.stop_distance
            && self.target_distance == other.target_distance
            && self.risk == other.risk
            && self.leverage == other.leverage
    }
}

impl Eq for EntryRecord {}

/// The reason behind an exit order, journaled with the order (kind 26):
/// `client_id:u64 venue symbol side qty:i64 reason:u8` ([`ExitReason`]'s
/// code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitRecord {
    /// The exit order.
    pub client_id: ClientOrderId,
    /// Venue.
    pub venue: Venue,
    /// Symbol.
    pub symbol: Symbol,
    /// The order's side (opposite of the position's).
    pub side: Side,
    /// The order's quantity.
    pub qty: Qty,
    /// Why.
    pub reason: ExitReason,
}

impl ExitRecord {
    /// The record of exit order `order` placed for `reason`.
    #[must_use]
    pub fn of(order: &OrderRequest, reason: ExitReason) -> Self {
        Self {
            client_id: order.client_id,
            venue: order.venue,
            symbol: order.symbol,
            side: order.side,
            qty: order.qty,
            reason,
        }
    }
}

/// Declares the `f64` fields of [`SignalSnapshot`] in struct order, once:
/// their names (for the printer) and their values in and out, so the
/// journal's signal record cannot leave one out.
macro_rules! snapshot_f64s {
    ($($field:ident),* $(,)?) => {
        /// Names of the signal vector's `f64` fields, in payload order.
        pub const SIGNAL_F64_NAMES: [&str; SIGNAL_F64S] = [$(stringify!($field)),*];

        fn signal_f64s(s: &SignalSnapshot) -> [f64; SIGNAL_F64S] {
            [$(s.$field),*]
        }

        fn set_signal_f64s(s: &mut SignalSnapshot, values: &[f64; SIGNAL_F64S]) {
            let mut v = values.iter().copied();
            $(s.$field = v.next().unwrap_or_default();)*
        }
    };
}

/// Number of `f64` fields of [`SignalSnapshot`].
pub const SIGNAL_F64S: usize = 47;

snapshot_f64s!(
    mid,
    microprice,
    spread_ticks,
    spread_bps,
    tob_imbalance,
    depth_imbalance,
    ofi,
    ofi_multi,
    signed_volume,
    cvd,
    buy_share,
    volume_surge,
    net_flow_surge,
    vwap,
    vwap_dev_bps,
    vwap_dev_sigma,
    poc,
    value_area_high,
    value_area_low,
    volatility_bps,
    velocity_bps_s,
    acceleration_bps_s2,
    ou_theta,
    ou_mu,
    ou_sigma,
    ou_zscore,
    funding_rate,
    funding_bias,
    liq_long_notional,
    liq_short_notional,
    liq_acceleration,
    liq_long_per_min,
    liq_short_per_min,
    variance_ratio,
    volatility_percentile,
    momentum_short_bps,
    momentum_long_bps,
    atr,
    atr_bps,
    range_high,
    range_low,
    breakout_level,
    swing_high,
    swing_low,
    open_interest,
    oi_change_pct,
    oi_price_change_bps,
);

/// Every field of a [`SignalSnapshot`], compared bit for bit (kind 25's
/// payload after the client id: `ts_ms:i64 warm:u8 warm_mask:u16 regime:u8
/// ou_drift:i8 ms_to_funding:i64 cascade momentum_aligned breakout pullback`
/// (each 0 none, 1 buy, 2 sell) then the [`SIGNAL_F64S`] `f64`s in
/// [`SIGNAL_F64_NAMES`] order; 418 bytes of body). Regimes are coded
/// unknown 0, ranging 1, trending 2, high volatility 3.
#[derive(Debug, Clone, Copy)]
pub struct SignalBits(pub SignalSnapshot);

impl SignalBits {
    /// The `f64` fields, in [`SIGNAL_F64_NAMES`] order.
    #[must_use]
    pub fn f64s(&self) -> [f64; SIGNAL_F64S] {
        signal_f64s(&self.0)
    }
}

impl PartialEq for SignalBits {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&self.0, &other.0);
        a.ts_ms == b.ts_ms
            && a.warm == b.warm
            && a.warm_mask == b.warm_mask
            && a.regime == b.regime
            && a.ou_drift == b.ou_drift
            && a.ms_to_funding == b.ms_to_funding
            && a.cascade == b.cascade
            && a.momentum_aligned == b.momentum_aligned
            && a.breakout == b.breakout
            && a.pullback == b.pullback
            && self.f64s().map(f64::to_bits) == other.f64s().map(f64::to_bits)
    }
}

impl Eq for SignalBits {}

/// Regimes by journal code.
const REGIMES: [Regime; 4] = [Regime::Unknown, Regime::Ranging, Regime::Trending, Regime::HighVolatility];

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
        JournalRecord::Entry(e) => {
            w.head(24, ts_ns);
            w.u64(e.client_id.0);
            w.venue(e.venue);
            w.text(e.symbol.as_bytes());
            w.i64(e.ts_ms);
            w.side(e.side);
            w.u8(tier_code(e.tier));
            w.u8(e.confidence);
            w.f64(e.score);
            for (dir, strength) in e.votes.dir.iter().zip(e.votes.strength) {
                w.opt_side(*dir);
                w.f64(strength);
            }
            for v in [e.price.0, e.qty.0, e.stop_distance.0, e.target_distance.0, e.risk.0] {
                w.i64(v);
            }
            w.u8(e.leverage);
        }
        JournalRecord::EntrySignals { client_id, signals } => {
            let s = &signals.0;
            w.head(25, ts_ns);
            w.u64(client_id.0);
            w.i64(s.ts_ms);
            w.u8(u8::from(s.warm));
            w.u16(s.warm_mask);
            w.u8(REGIMES.iter().position(|r| *r == s.regime).map_or(u8::MAX, |i| i as u8));
            w.u8(s.ou_drift as u8);
            w.i64(s.ms_to_funding);
            for side in [s.cascade, s.momentum_aligned, s.breakout, s.pullback] {
                w.opt_side(side);
            }
            for v in signals.f64s() {
                w.f64(v);
            }
        }
        JournalRecord::Exit(x) => {
            w.head(26, ts_ns);
            w.u64(x.client_id.0);
            w.venue(x.venue);
            w.text(x.symbol.as_bytes());
            w.side(x.side);
            w.i64(x.qty.0);
            w.u8(x.reason as u8);
        }
    }
}

fn tier_code(tier: Tier) -> u8 {
    Tier::ALL.iter().position(|t| *t == tier).map_or(u8::MAX, |i| i as u8)
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
    fn opt_side(&mut self, s: Option<Side>) {
        self.u8(match s {
            None => 0,
            Some(Side::Buy) => 1,
            Some(Side::Sell) => 2,
        });
    }
    fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
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
    fn opt_side(&mut self) -> Result<Option<Side>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(Side::Buy)),
            2 => Ok(Some(Side::Sell)),
            _ => Err(DecodeError::Code("side")),
        }
    }
    fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_bits(self.u64()?))
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
                1 => RingId::Contexts,
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
        24 => {
            let client_id = ClientOrderId(r.u64()?);
            let venue = r.venue()?;
            let symbol = r.symbol()?;
            let ts_ms = r.i64()?;
            let side = r.side()?;
            let tier = *Tier::ALL.get(usize::from(r.u8()?)).ok_or(DecodeError::Code("tier"))?;
            let confidence = r.u8()?;
            if confidence > 100 {
                return Err(DecodeError::Code("confidence"));
            }
            let score = r.f64()?;
            let mut votes = VoteSet::default();
            for k in 0..votes.dir.len() {
                votes.dir[k] = r.opt_side()?;
                votes.strength[k] = r.f64()?;
            }
            JournalRecord::Entry(EntryRecord {
                client_id,
                venue,
                symbol,
                ts_ms,
                side,
                tier,
                confidence,
                score,
                votes,
                price: Price(r.i64()?),
                qty: Qty(r.i64()?),
                stop_distance: Price(r.i64()?),
                target_distance: Price(r.i64()?),
                risk: Notional(r.i64()?),
                leverage: r.u8()?,
            })
        }
        25 => {
            let client_id = ClientOrderId(r.u64()?);
            let mut s =
                SignalSnapshot { ts_ms: r.i64()?, warm: r.bool()?, warm_mask: r.u16()?, ..SignalSnapshot::default() };
            s.regime = *REGIMES.get(usize::from(r.u8()?)).ok_or(DecodeError::Code("regime"))?;
            s.ou_drift = r.u8()? as i8;
            if !(-1..=1).contains(&s.ou_drift) {
                return Err(DecodeError::Code("ou drift"));
            }
            s.ms_to_funding = r.i64()?;
            s.cascade = r.opt_side()?;
            s.momentum_aligned = r.opt_side()?;
            s.breakout = r.opt_side()?;
            s.pullback = r.opt_side()?;
            let mut values = [0.0; SIGNAL_F64S];
            for v in &mut values {
                *v = r.f64()?;
            }
            set_signal_f64s(&mut s, &values);
            JournalRecord::EntrySignals { client_id, signals: SignalBits(s) }
        }
        26 => JournalRecord::Exit(ExitRecord {
            client_id: ClientOrderId(r.u64()?),
            venue: r.venue()?,
            symbol: r.symbol()?,
            side: r.side()?,
            qty: Qty(r.i64()?),
            reason: *ExitReason::ALL.get(usize::from(r.u8()?)).ok_or(DecodeError::Code("exit reason"))?,
        }),
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

    fn entry(symbol: &str) -> EntryRecord {
        EntryRecord {
            client_id: ClientOrderId(u64::MAX),
            venue: Venue::BybitLinear,
            symbol: symbol.parse().unwrap(),
            ts_ms: i64::MIN,
            side: Side::Sell,
            tier: Tier::Cascade,
            confidence: 100,
            score: f64::MAX,
            votes: VoteSet {
                dir: [Some(Side::Buy), None, Some(Side::Sell), None, Some(Side::Buy)],
                strength: [0.0, -0.0, f64::MIN_POSITIVE, 5e-324, f64::INFINITY],
            },
            price: Price(i64::MAX),
            qty: Qty(i64::MIN),
            stop_distance: Price(1),
            target_distance: Price(-1),
            risk: Notional(i64::MAX - 1),
            leverage: u8::MAX,
        }
    }

    /// A snapshot whose every field holds a value no other field holds, so
    /// that two fields swapped in the codec would not read back equal.
    fn signals() -> SignalBits {
        let mut s = SignalSnapshot {
            ts_ms: i64::MAX,
            warm: true,
            warm_mask: u16::MAX,
            regime: Regime::HighVolatility,
            ou_drift: -1,
            ms_to_funding: i64::MIN,
            cascade: Some(Side::Buy),
            momentum_aligned: Some(Side::Sell),
            breakout: None,
            pullback: Some(Side::Sell),
            ..SignalSnapshot::default()
        };
        let mut values = [0.0; SIGNAL_F64S];
        for (k, v) in values.iter_mut().enumerate() {
            *v = (k as f64 + 1.0) * -1.25;
        }
        values[0] = f64::MAX;
        values[1] = f64::MIN;
        values[2] = -0.0;
        values[3] = 5e-324;
        values[SIGNAL_F64S - 1] = f64::NEG_INFINITY;
        set_signal_f64s(&mut s, &values);
        SignalBits(s)
    }

    fn exit(reason: ExitReason) -> ExitRecord {
        ExitRecord {
            client_id: ClientOrderId(7),
            venue: Venue::BinanceUsdm,
            symbol: "BTCUSDT".parse().unwrap(),
            side: Side::Buy,
            qty: Qty(i64::MAX),
            reason,
        }
    }

    fn body(record: &JournalRecord) -> Vec<u8> {
        let mut out = Vec::new();
        encode_body(u64::MAX, record, &mut out);
        out
    }

    #[test]
    fn the_snapshot_codec_names_every_field_of_the_signal_vector() {
        // `Debug` writes `name: value` once per field; 10 fields are not f64s.
        let fields = format!("{:?}", SignalSnapshot::default()).matches(": ").count();
        assert_eq!(fields, SIGNAL_F64S + 10, "a SignalSnapshot field is missing from the journal's signal record");
        let mut names = SIGNAL_F64_NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SIGNAL_F64S);
    }

    #[test]
    fn order_context_records_round_trip_bit_for_bit_within_the_size_limit() {
        let longest = "ABCDEFGHIJKLMNOPQRSTUVW";
        assert_eq!(longest.len(), Symbol::MAX_LEN);
        let mut records = vec![
            JournalRecord::Entry(entry(longest)),
            JournalRecord::Entry(EntryRecord { tier: Tier::A, side: Side::Buy, confidence: 0, ..entry("BTCUSDT") }),
            JournalRecord::EntrySignals { client_id: ClientOrderId(0), signals: signals() },
            JournalRecord::EntrySignals { client_id: ClientOrderId(1), signals: SignalBits(SignalSnapshot::default()) },
            JournalRecord::Dropped { ring: RingId::Contexts, total: u64::MAX },
        ];
        records.extend(ExitReason::ALL.iter().map(|r| JournalRecord::Exit(exit(*r))));
        for record in &records {
            let bytes = body(record);
            assert!(bytes.len() <= MAX_BODY_LEN, "{} bytes: {record:?}", bytes.len());
            assert_eq!(decode_body(&bytes), Ok((u64::MAX, *record)));
        }
        // The largest bodies, counted by hand from the payload layouts.
        assert_eq!(body(&records[0]).len(), 9 + 8 + 1 + 24 + 8 + 3 + 8 + 5 * 9 + 5 * 8 + 1);
        assert_eq!(body(&records[0]).len(), 147);
        assert_eq!(body(&records[2]).len(), 9 + 8 + 8 + 1 + 2 + 1 + 1 + 8 + 4 + 47 * 8);
        assert_eq!(body(&records[2]).len(), 418);
        assert_eq!(body(&records[5]).len(), 9 + 8 + 1 + 8 + 1 + 8 + 1);
        // f64s keep their exact bits: -0.0 stays negative, the subnormal
        // stays, and so does a NaN's payload (compared by bits, not by ==).
        let JournalRecord::EntrySignals { signals: back, .. } = decode_body(&body(&records[2])).unwrap().1 else {
            panic!("not a signal record")
        };
        assert_eq!(back.0.vwap_dev_bps.to_bits(), signals().0.vwap_dev_bps.to_bits());
        assert_eq!(back.0.spread_ticks.to_bits(), (-0.0f64).to_bits());
        assert_eq!(back.0.spread_bps, 5e-324);
        let nan = f64::from_bits(0x7ff8_0000_0000_0abc);
        let with_nan = EntryRecord { score: nan, ..entry("BTCUSDT") };
        let JournalRecord::Entry(e) = decode_body(&body(&JournalRecord::Entry(with_nan))).unwrap().1 else {
            panic!("not an entry record")
        };
        assert_eq!(e.score.to_bits(), 0x7ff8_0000_0000_0abc);
    }

    #[test]
    fn signal_records_differ_when_any_one_field_differs() {
        let base = signals();
        for k in 0..SIGNAL_F64S {
            let mut values = base.f64s();
            values[k] = 0.5;
            let mut s = base.0;
            set_signal_f64s(&mut s, &values);
            assert_ne!(SignalBits(s), base, "field {}", SIGNAL_F64_NAMES[k]);
        }
        assert_ne!(SignalBits(SignalSnapshot { pullback: None, ..base.0 }), base);
        // +0.0 and -0.0 are equal numbers but different records.
        let mut values = base.f64s();
        values[2] = 0.0;
        let mut s = base.0;
        set_signal_f64s(&mut s, &values);
        assert_ne!(SignalBits(s), base);
    }

    #[test]
    fn truncated_or_miscoded_context_records_are_refused() {
        let records = [
            JournalRecord::Entry(entry("BTCUSDT")),
            JournalRecord::EntrySignals { client_id: ClientOrderId(3), signals: signals() },
            JournalRecord::Exit(exit(ExitReason::StopLoss)),
        ];
        for record in &records {
            let bytes = body(record);
            for cut in 0..bytes.len() {
                assert_eq!(decode_body(&bytes[..cut]), Err(DecodeError::Short), "cut at {cut} of {record:?}");
            }
            let mut long = bytes.clone();
            long.push(0);
            assert_eq!(decode_body(&long), Err(DecodeError::Trailing));
        }
        // Byte offsets from the payload layouts (symbol BTCUSDT: 1 + 7 bytes).
        let bad = |record: &JournalRecord, at: usize, value: u8| {
            let mut bytes = body(record);
            bytes[at] = value;
            decode_body(&bytes)
        };
        assert_eq!(bad(&records[0], 34, 2), Err(DecodeError::Code("side")));
        assert_eq!(bad(&records[0], 35, 3), Err(DecodeError::Code("tier")));
        assert_eq!(bad(&records[0], 36, 101), Err(DecodeError::Code("confidence")));
        assert_eq!(bad(&records[0], 45, 3), Err(DecodeError::Code("side")));
        assert_eq!(bad(&records[1], 25, 2), Err(DecodeError::Code("bool")));
        assert_eq!(bad(&records[1], 28, 4), Err(DecodeError::Code("regime")));
        assert_eq!(bad(&records[1], 29, 2), Err(DecodeError::Code("ou drift")));
        assert_eq!(bad(&records[1], 38, 3), Err(DecodeError::Code("side")));
        assert_eq!(bad(&records[2], 17, 2), Err(DecodeError::Code("venue")));
        assert_eq!(bad(&records[2], 35, 12), Err(DecodeError::Code("exit reason")));
        // An unchanged byte at the same offsets decodes.
        assert!(bad(&records[2], 35, ExitReason::StopLoss as u8).is_ok());
    }

    #[test]
    fn entry_levels_are_the_order_price_moved_by_the_planned_distances() {
        let long = EntryRecord {
            side: Side::Buy,
            price: Price(6_000_000),
            stop_distance: Price(3_000),
            target_distance: Price(4_500),
            ..entry("BTCUSDT")
        };
        assert_eq!((long.stop_level(), long.target_level()), (Price(5_997_000), Price(6_004_500)));
        let short = EntryRecord { side: Side::Sell, ..long };
        assert_eq!((short.stop_level(), short.target_level()), (Price(6_003_000), Price(5_995_500)));
    }

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
