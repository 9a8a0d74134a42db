//! Market events: what the venue decoders make of a frame.
//!
//! Every event is a fixed-layout `Copy` struct that owns no `String` or
//! `Vec`. Lists that can be long — the levels of a depth frame, the trades
//! of a Bybit `publicTrade` batch — are not collected: [`Levels`],
//! [`Trades`] and [`Liquidations`] iterate them straight from the frame
//! (or from the simd-json tape on the fallback path) and parse each decimal
//! as they go. A malformed element surfaces as an `Err` item at its position;
//! consumers that cannot apply half a frame (the book sync) treat that as a
//! broken frame and resynchronise.
//!
//! Instruments are referred to by [`InstrumentId`], the index of the
//! instrument in the decoder's table; the symbol text is looked up there.

use crate::fixed::{FixedError, Price, Qty, Rate, RefPrice};
use crate::json::template::Cursor;
use crate::json::{Container, PairCursor, PairStep, Val};
use crate::side::Side;

/// Index of an instrument in a decoder's table (defined with the
/// instruments, re-exported here).
pub use crate::instrument::InstrumentId;

/// Why a frame could not be decoded. The frame is dropped and counted; a
/// decoder never panics on input.
///
/// # Errors
/// Produced by the venue decoders and by the iterators in this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not valid JSON.
    #[error("invalid JSON")]
    InvalidJson,
    /// Valid JSON, but not an object (or a field that must be one is not).
    #[error("not a JSON object")]
    NotAnObject,
    /// A required field is absent.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// A field has the wrong JSON type.
    #[error("wrong type for field {0}")]
    WrongType(&'static str),
    /// A decimal field is malformed or does not fit its scale.
    #[error("bad decimal in field {0}: {1}")]
    BadDecimal(&'static str, FixedError),
    /// A level is not a `["price","qty"]` pair of strings.
    #[error("price level is not a [price, qty] pair of strings")]
    BadLevel,
    /// A symbol that is not valid symbol text.
    #[error("malformed symbol")]
    BadSymbol,
    /// An enumerated field has a value the venue does not document.
    #[error("unknown value in field {0}")]
    BadEnum(&'static str),
}

/// What the decoder skipped, and why. Skipping is normal (streams we do not
/// use); callers count these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ignored {
    /// A stream or topic this decoder does not handle (kline, …).
    UnknownStream,
    /// An event type (`"e"`) this decoder does not handle.
    UnknownEvent,
    /// A symbol missing from the instrument table (its scales are unknown).
    UnknownSymbol,
}

/// What a depth frame's own stream name says about the stream it came on.
/// A frame without a name (a raw single-stream connection, a REST
/// snapshot) is [`DepthStream::Unnamed`]: the stream it was subscribed as
/// decides (see [`crate::core`]'s stream bindings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DepthStream {
    /// The frame names no stream.
    Unnamed,
    /// An incremental stream: Binance `<symbol>@depth[@100ms|@0ms]` (levels
    /// 0: the whole book), Bybit `orderbook.N.<symbol>` (N levels, snapshot
    /// then deltas).
    Diff(u16),
    /// A partial-depth stream whose every message is the top N levels:
    /// Binance `<symbol>@depth<N>[@…ms]` (the payload looks like a diff).
    Partial(u16),
}

impl DepthStream {
    /// Classifies a Binance stream name (`btcusdt@depth20@100ms` →
    /// `Partial(20)`, `btcusdt@depth@0ms` → `Diff(0)`); a name without
    /// `@depth` is `Unnamed`.
    #[must_use]
    pub fn of_binance_stream(name: &[u8]) -> Self {
        let Some(at) = name.windows(6).position(|w| w == b"@depth") else { return Self::Unnamed };
        let rest = &name[at + 6..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Self::Diff(0);
        }
        let n = rest[..digits].iter().fold(0u32, |a, &d| a.saturating_mul(10).saturating_add(u32::from(d - b'0')));
        Self::Partial(u16::try_from(n).unwrap_or(u16::MAX))
    }

    /// The depth of a Bybit `orderbook.N` topic from its digits.
    #[must_use]
    pub fn of_bybit_depth(digits: &[u8]) -> Self {
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Self::Unnamed;
        }
        let n = digits.iter().fold(0u32, |a, &d| a.saturating_mul(10).saturating_add(u32::from(d - b'0')));
        Self::Diff(u16::try_from(n).unwrap_or(u16::MAX))
    }
}

/// An incremental depth update: Binance `depthUpdate`, Bybit `orderbook`
/// `delta`.
#[derive(Debug, Clone, Copy)]
pub struct DepthUpdate<'a> {
    /// Which instrument.
    pub inst: InstrumentId,
    /// Binance `E` (event time); Bybit `ts` (system time), ms.
    pub event_ms: i64,
    /// Binance `T` (transaction time); Bybit `cts` (matching engine time), ms.
    pub transact_ms: i64,
    /// Binance `U` (first update id in the event); Bybit `u`.
    pub first_id: u64,
    /// Binance `u` (final update id in the event); Bybit `u`.
    pub last_id: u64,
    /// Binance `pu` (final update id of the previous event); Bybit: 0.
    pub prev_last_id: u64,
    /// Bybit `seq` (cross-sequence); Binance: 0.
    pub seq: u64,
    /// What the frame's stream name says about its stream.
    pub stream: DepthStream,
    /// Bid levels to set (quantity 0 deletes).
    pub bids: Levels<'a>,
    /// Ask levels to set.
    pub asks: Levels<'a>,
}

/// A full book: the Binance REST depth snapshot, a Bybit `orderbook`
/// `snapshot`.
#[derive(Debug, Clone, Copy)]
pub struct DepthSnapshot<'a> {
    /// Which instrument.
    pub inst: InstrumentId,
    /// Binance `lastUpdateId`; Bybit `u`.
    pub last_id: u64,
    /// Bybit `seq`; Binance: 0.
    pub seq: u64,
    /// Binance `E`; Bybit `ts`, ms (0 when absent).
    pub event_ms: i64,
    /// Binance `T`; Bybit `cts`, ms (0 when absent).
    pub transact_ms: i64,
    /// What the frame's stream name says about its stream (the REST
    /// snapshot: [`DepthStream::Unnamed`]).
    pub stream: DepthStream,
    /// Bid levels, best first as sent.
    pub bids: Levels<'a>,
    /// Ask levels.
    pub asks: Levels<'a>,
}

/// Best bid and offer: Binance `bookTicker`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookTicker {
    /// Which instrument.
    pub inst: InstrumentId,
    /// Book update id (`u`).
    pub update_id: u64,
    /// `E`, ms.
    pub event_ms: i64,
    /// `T`, ms.
    pub transact_ms: i64,
    /// Best bid price.
    pub bid_px: Price,
    /// Best bid quantity.
    pub bid_qty: Qty,
    /// Best ask price.
    pub ask_px: Price,
    /// Best ask quantity.
    pub ask_qty: Qty,
}

/// Where a trade came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TradeSource {
    /// A normal trade on the order book.
    Market,
    /// Binance aggregate trade (several fills of one taker order).
    Aggregate,
    /// A block trade (Bybit `BT`).
    Block,
    /// Binance `INSURANCE_FUND`.
    InsuranceFund,
    /// Binance `ADL` (auto-deleveraging).
    Adl,
    /// Any other origin the venue reports (e.g. Binance `NA`).
    Other,
}

impl TradeSource {
    /// The origin named by a Binance trade's `X` field.
    #[must_use]
    pub fn from_binance_x(x: &[u8]) -> Self {
        match x {
            b"MARKET" => Self::Market,
            b"INSURANCE_FUND" => Self::InsuranceFund,
            b"ADL" => Self::Adl,
            _ => Self::Other,
        }
    }
}

/// One trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trade {
    /// Which instrument.
    pub inst: InstrumentId,
    /// Binance `t` (or `a` for aggTrade); Bybit `seq` (its `i` is a UUID).
    pub id: u64,
    /// Trade time, ms (Binance `T`, Bybit `T`).
    pub trade_ms: i64,
    /// Event time, ms (Binance `E`, Bybit message `ts`).
    pub event_ms: i64,
    /// Price.
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
    /// The aggressor's side: Binance `m == true` (buyer is maker) means the
    /// taker sold; Bybit `S`.
    pub taker_side: Side,
    /// Origin.
    pub source: TradeSource,
}

/// Binance `markPriceUpdate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkPrice {
    /// Which instrument.
    pub inst: InstrumentId,
    /// `E`, ms.
    pub event_ms: i64,
    /// Mark price `p`.
    pub mark: RefPrice,
    /// Index price `i`.
    pub index: RefPrice,
    /// Estimated settle price `P`.
    pub est_settle: RefPrice,
    /// Funding rate `r`.
    pub funding_rate: Rate,
    /// Next funding time `T`, ms.
    pub next_funding_ms: i64,
}

/// Bybit `tickers` snapshot or delta: a delta carries only changed fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticker {
    /// Which instrument.
    pub inst: InstrumentId,
    /// `type == "snapshot"`.
    pub is_snapshot: bool,
    /// Message `ts`, ms.
    pub ts_ms: i64,
    /// Cross sequence `cs`.
    pub cs: u64,
    /// `lastPrice`.
    pub last_price: Option<Price>,
    /// `markPrice`.
    pub mark: Option<RefPrice>,
    /// `indexPrice`.
    pub index: Option<RefPrice>,
    /// `fundingRate`.
    pub funding_rate: Option<Rate>,
    /// `nextFundingTime`, ms.
    pub next_funding_ms: Option<i64>,
    /// `openInterest` in base units.
    pub open_interest: Option<Qty>,
    /// `bid1Price`.
    pub bid_px: Option<Price>,
    /// `bid1Size`.
    pub bid_qty: Option<Qty>,
    /// `ask1Price`.
    pub ask_px: Option<Price>,
    /// `ask1Size`.
    pub ask_qty: Option<Qty>,
}

/// A forced liquidation: Binance `forceOrder`, Bybit `allLiquidation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liquidation {
    /// Which instrument.
    pub inst: InstrumentId,
    /// The side of the position that was liquidated (`Buy` = a long).
    /// Binance reports the liquidation *order's* side (`SELL` closes a
    /// long), Bybit the position side; both are mapped here.
    pub position_side: Side,
    /// Price (Binance order price `p`, Bybit bankruptcy price `p`).
    pub price: Price,
    /// Binance average fill price `ap`; Bybit: none.
    pub avg_price: Option<RefPrice>,
    /// Quantity (Binance original quantity `q`, Bybit `v`).
    pub qty: Qty,
    /// Binance accumulated filled quantity `z`; Bybit: none.
    pub filled_qty: Option<Qty>,
    /// Trade time, ms (Binance `o.T`, Bybit `T`).
    pub ts_ms: i64,
}

/// A Bybit `op` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `subscribe`.
    Subscribe,
    /// `unsubscribe`.
    Unsubscribe,
    /// `ping` (the public pong reply carries `op: "ping"`).
    Ping,
    /// `pong` (private streams).
    Pong,
    /// `auth`.
    Auth,
    /// Anything else.
    Other,
}

/// Connection-level messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control<'a> {
    /// Binance `{"result":null,"id":N}`: a subscription request succeeded.
    SubscribeAck {
        /// The request id.
        id: Option<i64>,
    },
    /// Binance `{"error":{"code":C,"msg":M},"id":N}` or REST `{"code":C,"msg":M}`.
    VenueError {
        /// The venue's error code.
        code: i64,
        /// The request id, if any.
        id: Option<i64>,
        /// The message text, as sent.
        msg: &'a [u8],
    },
    /// Bybit op response (`subscribe`, `ping`/`pong`, `auth`).
    OpResponse {
        /// Which op.
        op: Op,
        /// `success` (absent on private pongs: true).
        success: bool,
        /// `req_id`.
        req_id: &'a [u8],
        /// `ret_msg`.
        ret_msg: &'a [u8],
    },
}

/// Everything a market-data frame can be.
#[derive(Debug, Clone, Copy)]
pub enum MarketEvent<'a> {
    /// Incremental depth.
    Depth(DepthUpdate<'a>),
    /// Full depth.
    Snapshot(DepthSnapshot<'a>),
    /// Binance best bid/offer.
    BookTicker(BookTicker),
    /// One or more trades.
    Trades(Trades<'a>),
    /// Binance mark price and funding.
    MarkPrice(MarkPrice),
    /// Bybit ticker (mark, funding, open interest, best bid/offer).
    Ticker(Ticker),
    /// One or more liquidations.
    Liquidations(Liquidations<'a>),
    /// Acks, errors, pongs.
    Control(Control<'a>),
    /// Skipped on purpose.
    Ignored(Ignored),
}

/// Parses a price or quantity string field at an instrument's scale,
/// refusing values no instrument can represent (above
/// [`crate::fixed::MAX_MANTISSA`]).
#[inline]
pub(crate) fn bounded_field(val: Val<'_>, scale: u8, name: &'static str) -> Result<i64, DecodeError> {
    let text = val.as_str().ok_or(DecodeError::WrongType(name))?;
    crate::fixed::parse_bounded(text, scale).map_err(|e| DecodeError::BadDecimal(name, e))
}

/// Parses a decimal string field (rates and reference prices at 8
/// decimals; prices and quantities use [`bounded_field`]).
#[inline]
pub(crate) fn decimal_field(
    val: Val<'_>,
    scale: u8,
    allow_negative: bool,
    name: &'static str,
) -> Result<i64, DecodeError> {
    let text = val.as_str().ok_or(DecodeError::WrongType(name))?;
    crate::fixed::parse_decimal(text, scale, allow_negative).map_err(|e| DecodeError::BadDecimal(name, e))
}

/// The price levels of a depth frame, read lazily from the frame.
#[derive(Clone, Copy)]
pub struct Levels<'a> {
    source: LevelSource<'a>,
    price_scale: u8,
    qty_scale: u8,
}

/// Where the levels are read from.
#[derive(Clone, Copy)]
enum LevelSource<'a> {
    /// An array value of the generic reader or the simd-json tape.
    Array { arr: Container<'a>, cursor: PairCursor },
    /// A list a venue template validated and parsed
    /// ([`crate::json::levels`]): (price, quantity) mantissas.
    Parsed(&'a [(i64, i64)]),
}

impl std::fmt::Debug for Levels<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.source {
            LevelSource::Array { arr, .. } => write!(f, "Levels({arr:?})"),
            LevelSource::Parsed(levels) => write!(f, "Levels(parsed, {} left)", levels.len()),
        }
    }
}

impl<'a> Levels<'a> {
    /// Levels of an array already known to be an array.
    #[inline]
    pub(crate) fn from_container(arr: Container<'a>, price_scale: u8, qty_scale: u8) -> Self {
        Self { source: LevelSource::Array { arr, cursor: arr.pair_cursor() }, price_scale, qty_scale }
    }

    /// The levels not yet read, when a template already parsed them (each
    /// is then a valid `(price, quantity)` mantissa pair at this frame's
    /// scales); `None` for levels still to be read from a JSON array.
    #[inline]
    #[must_use]
    pub fn parsed_levels(&self) -> Option<&'a [(i64, i64)]> {
        match self.source {
            LevelSource::Parsed(levels) => Some(levels),
            LevelSource::Array { .. } => None,
        }
    }

    /// Levels a template already parsed at these scales.
    #[inline]
    pub(crate) fn parsed(levels: &'a [(i64, i64)], price_scale: u8, qty_scale: u8) -> Self {
        Self { source: LevelSource::Parsed(levels), price_scale, qty_scale }
    }

    /// Levels of an array value at the given scales.
    ///
    /// # Errors
    /// [`DecodeError::WrongType`] when `val` is not an array.
    pub(crate) fn new(val: Val<'a>, price_scale: u8, qty_scale: u8, name: &'static str) -> Result<Self, DecodeError> {
        let arr = val.as_arr().ok_or(DecodeError::WrongType(name))?;
        Ok(Self::from_container(arr, price_scale, qty_scale))
    }
}

impl Iterator for Levels<'_> {
    type Item = Result<(Price, Qty), DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let (arr, cursor) = match &mut self.source {
            LevelSource::Parsed(levels) => {
                let (&(price, qty), rest) = levels.split_first()?;
                *levels = rest;
                return Some(Ok((Price(price), Qty(qty))));
            }
            LevelSource::Array { arr, cursor } => (*arr, cursor),
        };
        if let Some((price, qty)) = arr.next_decimal_pair(cursor, self.price_scale, self.qty_scale) {
            return Some(level(Ok(price), Ok(qty)));
        }
        match arr.next_string_pair(cursor) {
            PairStep::End => None,
            PairStep::Pair(px, qty) => Some(level(
                crate::fixed::parse_decimal(px, self.price_scale, false),
                crate::fixed::parse_decimal(qty, self.qty_scale, false),
            )),
            PairStep::Other(_) => Some(Err(DecodeError::BadLevel)),
        }
    }
}

/// One level from its parsed price and quantity: the price's error first,
/// and values no instrument can represent refused
/// ([`crate::fixed::MAX_MANTISSA`]) whichever parser read them.
#[inline(always)]
fn level(price: Result<i64, FixedError>, qty: Result<i64, FixedError>) -> Result<(Price, Qty), DecodeError> {
    let price = price.and_then(crate::fixed::check_bounded).map_err(|e| DecodeError::BadDecimal("level price", e))?;
    let qty = qty.and_then(crate::fixed::check_bounded).map_err(|e| DecodeError::BadDecimal("level qty", e))?;
    Ok((Price(price), Qty(qty)))
}

/// Parses one element of a batch (a Bybit trade or liquidation object).
pub(crate) type ElementParser<T> = for<'x> fn(Val<'x>, &BatchContext) -> Result<T, DecodeError>;

/// What a batch element parser needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchContext {
    /// The instrument of the batch.
    pub inst: InstrumentId,
    /// Its symbol, as the elements must repeat it.
    pub symbol: crate::instrument::Symbol,
    /// Price scale.
    pub price_scale: u8,
    /// Quantity scale.
    pub qty_scale: u8,
    /// The message timestamp, ms.
    pub event_ms: i64,
}

/// Parses one element of a batch straight from the frame's bytes in a
/// venue template's exact layout, leaving the cursor after it; `None` when
/// the element is not in that layout.
pub(crate) type TemplateElementParser<T> = for<'x> fn(&mut Cursor<'x>, &BatchContext) -> Option<T>;

/// A lazily parsed list of `T`: a single value, or the elements of an array.
#[derive(Clone, Copy)]
pub struct Batch<'a, T: Copy> {
    inner: BatchInner<'a, T>,
}

#[derive(Clone, Copy)]
enum BatchInner<'a, T: Copy> {
    One(Option<T>),
    Many {
        entries: crate::json::Entries<'a>,
        ctx: BatchContext,
        parse: ElementParser<T>,
    },
    /// Elements a template has already checked, element by element, with
    /// `parse`: `cursor` is at the next one, `left` of them remain,
    /// separated by `,` (an empty cursor if the bytes stopped matching).
    Template {
        cursor: Cursor<'a>,
        left: u32,
        ctx: BatchContext,
        parse: TemplateElementParser<T>,
    },
}

impl<'a, T: Copy> Batch<'a, T> {
    /// A batch of one.
    #[must_use]
    pub fn one(value: T) -> Self {
        Self { inner: BatchInner::One(Some(value)) }
    }

    pub(crate) fn many(arr: Container<'a>, ctx: BatchContext, parse: ElementParser<T>) -> Self {
        Self { inner: BatchInner::Many { entries: arr.entries(), ctx, parse } }
    }

    /// The `count` elements from `first` on, which the caller has already
    /// read once with `parse`, each accepted (so reading them again yields
    /// the same values; see [`Batch::checked_by_template`]).
    pub(crate) fn template(first: Cursor<'a>, count: u32, ctx: BatchContext, parse: TemplateElementParser<T>) -> Self {
        Self { inner: BatchInner::Template { cursor: first, left: count, ctx, parse } }
    }

    /// Reads the `,`-separated elements of a JSON array with `parse` from
    /// `cursor` (just after the `[`) through the closing `]`, and returns
    /// the batch of them, or `None` if any element is not in the
    /// template's layout (the frame then takes the generic path). Each
    /// element is parsed here once to check it and again when iterated:
    /// cheaper than collecting them anywhere, and nothing is allocated.
    pub(crate) fn checked_by_template(
        cursor: &mut Cursor<'a>,
        ctx: BatchContext,
        parse: TemplateElementParser<T>,
    ) -> Option<Self> {
        let first = *cursor;
        let mut count = 0u32;
        if !cursor.try_lit(b"]") {
            loop {
                parse(cursor, &ctx)?;
                count = count.checked_add(1)?;
                if cursor.try_lit(b"]") {
                    break;
                }
                cursor.lit(b",")?;
            }
        }
        Some(Self::template(first, count, ctx, parse))
    }
}

impl<T: Copy + std::fmt::Debug> std::fmt::Debug for Batch<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            BatchInner::One(v) => write!(f, "Batch::One({v:?})"),
            BatchInner::Many { ctx, .. } => write!(f, "Batch::Many({:?})", ctx.inst),
            BatchInner::Template { ctx, left, .. } => write!(f, "Batch::Template({:?}, {left} left)", ctx.inst),
        }
    }
}

impl<T: Copy> Iterator for Batch<'_, T> {
    type Item = Result<T, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            BatchInner::One(v) => v.take().map(Ok),
            BatchInner::Many { entries, ctx, parse } => {
                let (_, element) = entries.next()?;
                Some(parse(element, ctx))
            }
            BatchInner::Template { cursor, left, ctx, parse } => {
                *left = left.checked_sub(1)?;
                // The template accepted every element when it built the
                // batch, and parsing is a pure function of the bytes, so
                // this cannot fail; if it ever did, the element is an error
                // rather than a guess, and so is every one after it.
                let element = parse(cursor, ctx).ok_or(DecodeError::InvalidJson);
                if *left > 0 && (element.is_err() || cursor.lit(b",").is_none()) {
                    *cursor = Cursor::new(&[]);
                }
                Some(element)
            }
        }
    }
}

/// The trades of a frame.
pub type Trades<'a> = Batch<'a, Trade>;
/// The liquidations of a frame.
pub type Liquidations<'a> = Batch<'a, Liquidation>;

#[cfg(test)]
mod tests {
    use super::DepthStream;

    #[test]
    fn stream_names_say_diff_or_partial() {
        assert_eq!(DepthStream::of_binance_stream(b"btcusdt@depth@0ms"), DepthStream::Diff(0));
        assert_eq!(DepthStream::of_binance_stream(b"btcusdt@depth"), DepthStream::Diff(0));
        assert_eq!(DepthStream::of_binance_stream(b"btcusdt@depth20@100ms"), DepthStream::Partial(20));
        assert_eq!(DepthStream::of_binance_stream(b"ethusdt@depth5"), DepthStream::Partial(5));
        assert_eq!(DepthStream::of_binance_stream(b"btcusdt@bookTicker"), DepthStream::Unnamed);
        assert_eq!(DepthStream::of_bybit_depth(b"50"), DepthStream::Diff(50));
        assert_eq!(DepthStream::of_bybit_depth(b"1"), DepthStream::Diff(1));
        assert_eq!(DepthStream::of_bybit_depth(b""), DepthStream::Unnamed);
        assert_eq!(DepthStream::of_bybit_depth(b"9x"), DepthStream::Unnamed);
    }
}
