//! What the venues' private messages (order responses, user-data streams)
//! turn into: small `Copy` events, written into a caller-owned slice.
//!
//! # Invariants
//! - A parser either succeeds and reports how many events it wrote, or
//!   fails with a typed [`PrivateParseError`] — in which case the caller
//!   discards the slice: no half-parsed message is ever acted upon.
//! - Events about orders this engine did not create (manual orders,
//!   liquidations, ADL) are reported as [`ForeignActivity`], never as our
//!   own [`OrderEvent`]s.

use crate::fixed::{E8, Notional, Qty};
use crate::instrument::Symbol;
use crate::json::tape_reader::{FieldError, JsonError};
use crate::order::{OrderEvent, PositionUpdate, RejectReason};
use crate::side::Side;
use crate::venue::Venue;
use crate::venue::rate_limit::ObservedUsage;

/// Activity on the account that this engine did not originate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForeignActivity {
    /// Where.
    pub venue: Venue,
    /// What.
    pub symbol: Symbol,
    /// Side of the foreign order.
    pub side: Side,
    /// Quantity executed by this message (zero for a mere status change).
    pub filled_qty: Qty,
    /// The venue's own liquidation / ADL / bankruptcy execution.
    pub liquidation: bool,
    /// Venue time, ms.
    pub ts_ms: i64,
}

/// A funding payment on the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FundingPayment {
    /// Where.
    pub venue: Venue,
    /// The position it was paid on, when the venue says (Bybit always;
    /// Binance only for isolated margin — a cross-margin `FUNDING_FEE`
    /// update names only the balance).
    pub symbol: Option<Symbol>,
    /// Received (negative: paid), USDT.
    pub amount: Notional,
    /// Venue time, ms.
    pub ts_ms: i64,
}

/// Account balances reported by the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountUpdate {
    /// Where.
    pub venue: Venue,
    /// Wallet balance, USDT (Binance `B[USDT].wb`, Bybit `totalWalletBalance`).
    pub wallet_balance: Notional,
    /// Margin balance (wallet plus unrealised PnL), when reported (Bybit
    /// `totalMarginBalance`; Binance's user-data stream does not carry it).
    pub margin_balance: Option<Notional>,
    /// Maintenance margin, when reported (Bybit `totalMaintenanceMargin`).
    pub maintenance_margin: Option<Notional>,
    /// Venue time, ms.
    pub ts_ms: i64,
}

/// Connection-level outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent {
    /// The connection is authenticated (Bybit `auth`).
    Authenticated,
    /// Authentication was refused.
    AuthRejected {
        /// Why, typed.
        reason: RejectReason,
        /// The venue's raw code.
        venue_code: i32,
    },
}

/// One event parsed from a private message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivateEvent {
    /// Something happened to one of our orders.
    Order(OrderEvent),
    /// The venue reported our position in a symbol.
    Position(PositionUpdate),
    /// A funding payment (Binance `ACCOUNT_UPDATE` with reason
    /// `FUNDING_FEE`, Bybit `execution` rows of type `Funding`).
    Funding(FundingPayment),
    /// Account balances (Binance `ACCOUNT_UPDATE`, Bybit `wallet`).
    Account(AccountUpdate),
    /// Account activity we did not originate.
    Foreign(ForeignActivity),
    /// Rate-limit usage reported with a response.
    RateLimit(ObservedUsage),
    /// Connection authentication outcome.
    Session(SessionEvent),
}

/// Why a private message could not be parsed.
///
/// # Errors
/// Returned by the parsers in `venue::binance::private` and
/// `venue::bybit::private`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PrivateParseError {
    /// Not valid JSON (including truncated frames).
    #[error(transparent)]
    Json(#[from] JsonError),
    /// A field is missing, mistyped or malformed.
    #[error(transparent)]
    Field(#[from] FieldError),
    /// An order event for a symbol with no configured instrument.
    #[error("symbol has no configured instrument")]
    UnknownSymbol,
    /// A message kind this parser does not know.
    #[error("unknown message kind")]
    UnknownMessage,
    /// A response to a request id this engine did not send.
    #[error("response to an unknown request id")]
    UnknownRequest,
    /// The caller's event slice is too small for this message.
    #[error("event buffer too small")]
    TooManyEvents,
    /// The venue answered with a server error: the order's fate is unknown
    /// and must be queried (Binance documents 5xx as "execution status
    /// UNKNOWN").
    #[error("execution status unknown (HTTP {http_status})")]
    ExecutionUnknown {
        /// The HTTP status.
        http_status: u16,
    },
}

/// Appends events to a caller-owned slice.
pub struct EventSink<'a> {
    out: &'a mut [PrivateEvent],
    len: usize,
}

impl<'a> EventSink<'a> {
    /// A sink writing from the start of `out`.
    #[must_use]
    pub fn new(out: &'a mut [PrivateEvent]) -> Self {
        Self { out, len: 0 }
    }

    /// Appends one event.
    ///
    /// # Errors
    /// [`PrivateParseError::TooManyEvents`] when `out` is full.
    pub fn push(&mut self, event: PrivateEvent) -> Result<(), PrivateParseError> {
        let slot = self.out.get_mut(self.len).ok_or(PrivateParseError::TooManyEvents)?;
        *slot = event;
        self.len += 1;
        Ok(())
    }

    /// Appends an order event.
    ///
    /// # Errors
    /// As [`Self::push`].
    pub fn order(&mut self, event: OrderEvent) -> Result<(), PrivateParseError> {
        self.push(PrivateEvent::Order(event))
    }

    /// Events written so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when nothing was written.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A harmless value to pre-fill event slices with.
pub const EMPTY_EVENT: PrivateEvent = PrivateEvent::Session(SessionEvent::Authenticated);

/// Symbol bytes from a message, or `UnknownSymbol` when they cannot be one.
///
/// # Errors
/// [`PrivateParseError::Field`] with `BadValue(field)`.
pub fn symbol_of(text: &str, field: &'static str) -> Result<Symbol, PrivateParseError> {
    Symbol::new(text.as_bytes()).map_err(|_| PrivateParseError::Field(FieldError::BadValue(field)))
}

/// A venue error code as `i32`, saturating (codes are small in practice).
#[must_use]
pub fn clamp_code(code: i64) -> i32 {
    i32::try_from(code).unwrap_or(if code < 0 { i32::MIN } else { i32::MAX })
}

/// Money text (USDT) at 8 decimals; digits beyond the eighth are cut (some
/// Bybit balances carry more), anything else malformed is an error.
///
/// # Errors
/// [`FieldError::BadValue`] naming `field`.
pub fn money_e8(text: &str, field: &'static str) -> Result<Notional, FieldError> {
    let cut = match text.find('.') {
        Some(dot) if text.len() > dot + 1 + usize::from(E8) => &text[..dot + 1 + usize::from(E8)],
        _ => text,
    };
    crate::fixed::parse_decimal_trimmed(cut.as_bytes(), E8, true).map(Notional).map_err(|_| FieldError::BadValue(field))
}
