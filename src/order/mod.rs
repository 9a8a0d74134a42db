//! Orders and their lifecycle events, venue-neutral.
//!
//! These are the shapes the strategy emits, the risk gate checks, the venue
//! encoders write and sign, and the risk and journal threads consume. They
//! are small and `Copy`: an order never owns a `String`.

pub mod ids;
pub mod prepare;
pub mod state;

use crate::fixed::{Notional, Price, Qty, RefPrice, SignedQty};
use crate::instrument::Symbol;
use crate::instrument::Venue;
use crate::side::Side;

/// The engine's own client order id: a session epoch in the high 32 bits
/// and a per-session sequence number in the low 32 ([`ClientOrderId::new`]).
/// Venue encoders render the whole `u64` as decimal text (`scalpel-<n>`,
/// at most 28 characters: within Binance `newClientOrderId`'s 36 and
/// Bybit `orderLinkId`'s 36).
///
/// The epoch makes ids unique across restarts: after a restart the
/// sequence starts again at 1, but under a new epoch, so a late message
/// about an order of the previous session (same sequence number) never
/// lands on a new order. The trading core counts such messages and applies
/// none of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientOrderId(pub u64);

/// A session's epoch: which run of the engine an order id belongs to.
/// The live engine uses its start time in seconds since the Unix epoch
/// ([`SessionEpoch::from_unix_ms`]); a replay uses a fixed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SessionEpoch(pub u32);

impl SessionEpoch {
    /// The epoch of a session started at `ms` since the Unix epoch (whole
    /// seconds: two sessions of one process must start in different seconds).
    #[must_use]
    pub const fn from_unix_ms(ms: i64) -> Self {
        let secs = ms.div_euclid(1000);
        Self(if secs < 0 {
            0
        } else if secs > u32::MAX as i64 {
            u32::MAX
        } else {
            secs as u32
        })
    }
}

impl ClientOrderId {
    /// Order `seq` of session `epoch`.
    #[must_use]
    pub const fn new(epoch: SessionEpoch, seq: u32) -> Self {
        Self((epoch.0 as u64) << 32 | seq as u64)
    }

    /// The session the id belongs to.
    #[must_use]
    pub const fn epoch(self) -> SessionEpoch {
        SessionEpoch((self.0 >> 32) as u32)
    }

    /// The sequence number within its session.
    #[must_use]
    pub const fn seq(self) -> u32 {
        self.0 as u32
    }
}

/// Order type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderKind {
    /// A priced order.
    Limit,
    /// An unpriced order that takes liquidity.
    Market,
}

/// How long a limit order lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeInForce {
    /// Good till cancelled.
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Post-only: rejected or expired instead of taking (Binance `GTX`,
    /// Bybit `PostOnly`).
    PostOnly,
}

/// A new order as the strategy wants it, before venue rounding and checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderRequest {
    /// Where.
    pub venue: Venue,
    /// What.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: Side,
    /// Limit or market.
    pub kind: OrderKind,
    /// Time in force (ignored for market orders).
    pub tif: TimeInForce,
    /// Limit price at the instrument's price scale (ignored for market orders).
    pub price: Price,
    /// Quantity at the instrument's quantity scale.
    pub qty: Qty,
    /// Only reduce an existing position.
    pub reduce_only: bool,
    /// The engine's id for this order.
    pub client_id: ClientOrderId,
}

/// A venue's id of one execution, the key that deduplicates fills.
///
/// Binance trade ids are integers; Bybit `execId`s are UUIDs, which fit
/// 128 bits exactly, so both are stored without hashing (no collisions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TradeId(pub u128);

impl TradeId {
    /// Parses decimal digits (Binance) or a UUID / 32 hex digits with
    /// optional dashes (Bybit). `None` for anything else.
    #[must_use]
    pub fn parse(text: &[u8]) -> Option<Self> {
        if !text.is_empty() && text.len() <= 39 && text.iter().all(u8::is_ascii_digit) {
            let mut v: u128 = 0;
            for &b in text {
                v = v.checked_mul(10)?.checked_add(u128::from(b - b'0'))?;
            }
            return Some(Self(v));
        }
        let mut v: u128 = 0;
        let mut hex_digits = 0;
        for &b in text {
            let d = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                b'-' => continue,
                _ => return None,
            };
            hex_digits += 1;
            if hex_digits > 32 {
                return None;
            }
            v = (v << 4) | u128::from(d);
        }
        (hex_digits == 32).then_some(Self(v))
    }
}

/// What the fee of a [`Fill`] is denominated in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeeKind {
    /// In the quote currency: `Fill::fee` is exact.
    Quote,
    /// In another asset (e.g. BNB); `Fill::fee` holds that asset's amount
    /// and must not be added to quote PnL as is.
    OtherAsset,
    /// The message carried no fee (Binance `TRADE_LITE`); a later message
    /// for the same trade id may supply it.
    NotReported,
}

/// One execution of (part of) an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    /// Which order.
    pub client_id: ClientOrderId,
    /// Where.
    pub venue: Venue,
    /// What.
    pub symbol: Symbol,
    /// The order's side.
    pub side: Side,
    /// The venue's trade id for this execution (deduplication key).
    pub trade_id: TradeId,
    /// Execution price.
    pub price: Price,
    /// Executed quantity of this fill.
    pub qty: Qty,
    /// Fee charged (negative for a rebate), in the unit `fee_kind` names.
    pub fee: Notional,
    /// What `fee` is denominated in.
    pub fee_kind: FeeKind,
    /// The order rested (maker) rather than took (taker).
    pub is_maker: bool,
    /// Venue timestamp of the execution, milliseconds since the epoch.
    pub ts_ms: i64,
}

/// A fill of order `id` on `inst` with its fee in quote currency: the one
/// place the simulated exchanges (and the tests) build a [`Fill`].
#[must_use]
#[allow(clippy::too_many_arguments)]
pub fn quote_fill(
    inst: &crate::instrument::Instrument,
    id: ClientOrderId,
    side: Side,
    trade_id: u64,
    price: Price,
    qty: Qty,
    fee: Notional,
    is_maker: bool,
    ts_ms: i64,
) -> Fill {
    Fill {
        client_id: id,
        venue: inst.venue,
        symbol: inst.symbol,
        side,
        trade_id: TradeId(u128::from(trade_id)),
        price,
        qty,
        fee,
        fee_kind: FeeKind::Quote,
        is_maker,
        ts_ms,
    }
}

/// The venue's own order id, stored inline: Binance uses integers, Bybit
/// UUID text (36 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VenueOrderId {
    bytes: [u8; 40],
    len: u8,
}

impl VenueOrderId {
    /// Maximum length in bytes.
    pub const MAX_LEN: usize = 40;

    /// An id from its text; `None` when longer than [`Self::MAX_LEN`].
    #[must_use]
    pub fn new(text: &[u8]) -> Option<Self> {
        if text.len() > Self::MAX_LEN {
            return None;
        }
        let mut bytes = [0u8; 40];
        bytes[..text.len()].copy_from_slice(text);
        Some(Self { bytes, len: text.len() as u8 })
    }

    /// An id from an integer (Binance `orderId`).
    #[must_use]
    pub fn from_u64(id: u64) -> Self {
        // 20 digits always fit in 40 bytes.
        Self::new(crate::fixed::U64Text::new(id).as_bytes()).unwrap_or(Self { bytes: [0; 40], len: 0 })
    }

    /// The id's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for VenueOrderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VenueOrderId({})", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// Why a venue (or our own pre-trade gate) refused an order. Venue error
/// codes map onto these; the raw code travels alongside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Binance -1021 / Bybit 10002: timestamp outside the receive window.
    TimestampOutsideRecvWindow,
    /// Binance -1022 / Bybit 10004: signature did not verify.
    BadSignature,
    /// Binance -2014/-2015 / Bybit 10003/10005: key invalid or not permitted.
    BadApiKey,
    /// Binance -2019 / Bybit 110007: not enough margin or balance.
    InsufficientMargin,
    /// Binance -4164 / Bybit 110094 and the like: below minimum notional.
    MinNotional,
    /// Binance -1003, HTTP 429 / Bybit 10006: request rate limit hit.
    RateLimited,
    /// HTTP 418: the IP is banned for a while.
    IpBanned,
    /// Binance -5022 / Bybit post-only cancel: a post-only order would take.
    PostOnlyWouldTake,
    /// Reduce-only order would increase the position.
    ReduceOnlyRejected,
    /// Price or quantity off the grid, out of bounds or malformed.
    InvalidPriceOrQty,
    /// The venue does not know the order (cancel of an unknown id).
    UnknownOrder,
    /// Any other venue code.
    Other,
    /// Never reached the venue: the transport could not send it (the core's
    /// `on_send_failed`).
    NotSent,
}

/// What an [`OrderEvent::ActionRejected`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderAction {
    /// A cancel request.
    Cancel,
    /// A modify / amend request.
    Amend,
    /// A cancel-all request.
    CancelAll,
}

/// A venue's report of our net position in one symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionUpdate {
    /// Where.
    pub venue: Venue,
    /// What.
    pub symbol: Symbol,
    /// Net position at the instrument's quantity scale (negative = short).
    pub qty: SignedQty,
    /// Average entry price (zero when flat).
    pub entry_price: RefPrice,
    /// Venue time, ms.
    pub ts_ms: i64,
}

/// Everything that happens to an order, in the order the engine learns it.
/// These travel on the lossless ring to the risk and journal threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    /// The engine signed and sent an order.
    Submitted {
        /// The order as sent (after rounding).
        order: OrderRequest,
        /// Local send time, raw clock ticks.
        ts_raw: u64,
    },
    /// The venue accepted the order.
    Acked {
        /// Which order.
        client_id: ClientOrderId,
        /// The venue's id for it.
        venue_order_id: VenueOrderId,
        /// Venue time, ms.
        ts_ms: i64,
    },
    /// (Part of) the order executed.
    Filled(Fill),
    /// The order was cancelled (by us or the venue).
    Cancelled {
        /// Which order.
        client_id: ClientOrderId,
        /// Venue time, ms.
        ts_ms: i64,
    },
    /// The order expired (IOC remainder, post-only that would take).
    Expired {
        /// Which order.
        client_id: ClientOrderId,
        /// Venue time, ms.
        ts_ms: i64,
    },
    /// A modify / amend took effect: new price and quantity.
    Amended {
        /// Which order.
        client_id: ClientOrderId,
        /// New limit price.
        price: Price,
        /// New order quantity.
        qty: Qty,
        /// Venue time, ms.
        ts_ms: i64,
    },
    /// A cancel or amend was refused; the order itself lives on unchanged.
    ActionRejected {
        /// Which order.
        client_id: ClientOrderId,
        /// What was refused.
        action: OrderAction,
        /// Why, typed.
        reason: RejectReason,
        /// The venue's raw error code.
        venue_code: i32,
        /// Venue time, ms (0 when unknown).
        ts_ms: i64,
    },
    /// The order was refused.
    Rejected {
        /// Which order.
        client_id: ClientOrderId,
        /// Why, typed.
        reason: RejectReason,
        /// The venue's raw error code (0 when refused locally).
        venue_code: i32,
        /// Venue time, ms (0 when unknown).
        ts_ms: i64,
    },
}
