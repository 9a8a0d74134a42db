//! Orders and their lifecycle events, venue-neutral.
//!
//! These are the shapes the strategy emits, the risk gate checks, the venue
//! encoders write and sign, and the risk and journal threads consume. They
//! are small and `Copy`: an order never owns a `String`.

use crate::fixed::{Notional, Price, Qty};
use crate::instrument::Symbol;
use crate::side::Side;
use crate::venue::Venue;

/// The engine's own client order id: a per-process sequence number. Venue
/// encoders render it as text (Binance `newClientOrderId`, Bybit
/// `orderLinkId`, both at most 36 characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientOrderId(pub u64);

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
    pub trade_id: u64,
    /// Execution price.
    pub price: Price,
    /// Executed quantity of this fill.
    pub qty: Qty,
    /// Fee charged, in quote currency (negative for a rebate).
    pub fee: Notional,
    /// The order rested (maker) rather than took (taker).
    pub is_maker: bool,
    /// Venue timestamp of the execution, milliseconds since the epoch.
    pub ts_ms: i64,
}
