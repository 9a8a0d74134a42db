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

    /// The event written last, if any.
    #[must_use]
    pub fn last(&self) -> Option<&PrivateEvent> {
        self.len.checked_sub(1).and_then(|i| self.out.get(i))
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

/// The longest pagination cursor kept ([`PageCursor`]).
pub const PAGE_CURSOR_MAX: usize = 128;

/// A venue's pagination cursor (Bybit `nextPageCursor`), kept inline so a
/// fill fetch's next page needs no allocation. Only bytes that may appear
/// in a query string as they are (letters, digits, `-._~` and `%` of an
/// already percent-encoded cursor) are kept.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PageCursor {
    bytes: [u8; PAGE_CURSOR_MAX],
    len: u8,
}

impl PageCursor {
    /// No cursor (the last page).
    pub const NONE: Self = Self { bytes: [0; PAGE_CURSOR_MAX], len: 0 };

    /// A cursor from the venue's text; `None` when it is longer than
    /// [`PAGE_CURSOR_MAX`] or holds a byte a query string cannot carry as is.
    #[must_use]
    pub fn new(text: &[u8]) -> Option<Self> {
        if text.len() > PAGE_CURSOR_MAX
            || !text.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'%'))
        {
            return None;
        }
        let mut bytes = [0u8; PAGE_CURSOR_MAX];
        bytes[..text.len()].copy_from_slice(text);
        Some(Self { bytes, len: text.len() as u8 })
    }

    /// The cursor's text (empty: none).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// `true` when there is no next page.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for PageCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PageCursor({})", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// What one page of a fill fetch (Binance `GET /fapi/v1/userTrades`, Bybit
/// `GET /v5/execution/list`) held, beside the events it produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillsPage {
    /// Rows on the page (every row, whatever became of it).
    pub rows: u32,
    /// Rows that became one of our fills ([`OrderEvent::Filled`]).
    pub fills: u32,
    /// Rows about an order this engine cannot name (not ours, or a Binance
    /// `orderId` the ledger does not know): [`PrivateEvent::Foreign`],
    /// counted, never applied.
    pub foreign: u32,
    /// Rows that are not executions of orders (Bybit `Funding`, `Settle`):
    /// skipped (funding has no key to de-duplicate a re-fetch by).
    pub skipped: u32,
    /// Rows that did not parse (a field missing or malformed): counted and
    /// skipped, the rest of the page is used.
    pub bad_rows: u32,
    /// The highest trade id on the page (Binance: the next page starts
    /// after it).
    pub last_trade_id: Option<u64>,
    /// The next page's cursor (Bybit; empty on the last page).
    pub cursor: PageCursor,
    /// The venue's cursor could not be kept ([`PageCursor::new`]): the
    /// fetch cannot go on past this page.
    pub cursor_refused: bool,
}

impl FillsPage {
    /// An empty page.
    pub const EMPTY: Self = Self {
        rows: 0,
        fills: 0,
        foreign: 0,
        skipped: 0,
        bad_rows: 0,
        last_trade_id: None,
        cursor: PageCursor::NONE,
        cursor_refused: false,
    };
}
