//! Bybit v5 private messages → [`PrivateEvent`]s: trade-WebSocket
//! responses, REST order responses, and the private stream's `order`,
//! `execution` and `position` topics.
//!
//! Sources:
//! - Trade WebSocket responses (`reqId`, `retCode`, `op`, `data`, `header`
//!   with `X-Bapi-Limit*`):
//!   <https://bybit-exchange.github.io/docs/v5/websocket/trade/guideline>
//! - Private topics:
//!   <https://bybit-exchange.github.io/docs/v5/websocket/private/order>,
//!   <https://bybit-exchange.github.io/docs/v5/websocket/private/execution>,
//!   <https://bybit-exchange.github.io/docs/v5/websocket/private/position>
//! - REST response envelope (`retCode`, `retMsg`, `result`, `time`):
//!   <https://bybit-exchange.github.io/docs/v5/order/create-order>
//! - Get Trade History (`GET /v5/execution/list`: `result.list[]` rows
//!   with the `execution` topic's fields — `execId`, `orderId`,
//!   `orderLinkId`, `execPrice`, `execQty`, `execFee`, `feeCurrency`, `side`,
//!   `isMaker`, `execTime`, `execType` — newest first; `limit` 1–100,
//!   default 50; `startTime` alone covers seven days from it;
//!   `result.nextPageCursor` pages on):
//!   <https://bybit-exchange.github.io/docs/v5/order/execution>
//! - Error codes: <https://bybit-exchange.github.io/docs/v5/error>
//!
//! # Invariants
//! - One reused simd-json tape; no `String`/`Vec` per message after warm-up.
//! - Only `category` `linear` is ours; other categories are skipped.
//! - Order statuses map as: `New` / `PartiallyFilled` / `Filled` → `Acked`
//!   (fills come from `execution`), `Rejected` → `Rejected`, `Cancelled` /
//!   `PartiallyFilledCanceled` / `Deactivated` → `Expired` when the venue
//!   cancelled it by rule (post-only that would take, IOC/FOK or market
//!   remainder), else `Cancelled`. Conditional statuses (`Untriggered`,
//!   `Triggered`) produce nothing: this engine sends no conditional orders.
//! - `execution` rows of `execType` `Trade` on our orders are fills keyed
//!   by the UUID `execId` ([`TradeId`]); `AdlTrade` / `BustTrade` are
//!   foreign liquidation activity; `Funding` rows are funding payments
//!   (`execFee` is what was paid: positive paid, negative received);
//!   settlement and delivery rows are skipped.
//! - A fetched execution-list row is parsed by the same code as the
//!   stream's `execution` row, so a trade the stream already delivered has
//!   the same (venue, client id, `execId`) key and the ledger drops it.
//!   Fetched `Funding` rows are skipped (the stream reports funding; a
//!   payment has no key that would make a re-fetch safe).
//! - The `wallet` topic gives the account's wallet balance, margin balance
//!   and maintenance margin ([`PrivateEvent::Account`]).
//! - The `execution.fast` topic is **not supported** (its maker fills carry
//!   an empty `orderLinkId`, so they cannot be attributed without an
//!   order-id map): such frames are [`PrivateParseError::UnknownMessage`].
//! - A successful `order.cancel` response only means "accepted"; the
//!   `order` topic reports the cancellation, so no event is emitted for it.

use crate::fixed::{Notional, Price, Qty, RefPrice, SignedQty};
use crate::instrument::InstrumentTable;
use crate::json::tape_reader::{FieldError, JsonObject, TapeReader};
use crate::order::ids::{RequestOp, RequestTag};
use crate::order::{
    ClientOrderId, FeeKind, Fill, OrderAction, OrderEvent, PositionUpdate, RejectReason, TradeId, VenueOrderId,
};
use crate::side::Side;
use crate::venue::Venue;
use crate::venue::private_event::{
    AccountUpdate, EventSink, FillsPage, ForeignActivity, FundingPayment, PageCursor, PrivateEvent, PrivateParseError,
    SessionEvent, clamp_code, money_e8, symbol_of,
};
use crate::venue::rate_limit::ObservedUsage;

/// Maps a Bybit `retCode` to a typed reason.
#[must_use]
pub fn reject_reason(code: i64) -> RejectReason {
    match code {
        10002 => RejectReason::TimestampOutsideRecvWindow,
        10004 => RejectReason::BadSignature,
        10003 | 10005 | 10010 | 33004 => RejectReason::BadApiKey,
        110004 | 110007 | 110012 => RejectReason::InsufficientMargin,
        110094 => RejectReason::MinNotional,
        10006 | 10018 | 10429 | 20003 => RejectReason::RateLimited,
        110017 => RejectReason::ReduceOnlyRejected,
        110001 | 110008 => RejectReason::UnknownOrder,
        110003 => RejectReason::InvalidPriceOrQty,
        _ => RejectReason::Other,
    }
}

/// Maps an `order` topic `rejectReason` to a typed reason.
fn reason_from_text(text: &str) -> RejectReason {
    if text.contains("PostOnly") {
        RejectReason::PostOnlyWouldTake
    } else if text.contains("ReduceOnly") {
        RejectReason::ReduceOnlyRejected
    } else if text.contains("Balance") || text.contains("Margin") {
        RejectReason::InsufficientMargin
    } else {
        RejectReason::Other
    }
}

fn side_of(text: &str, field: &'static str) -> Result<Side, FieldError> {
    match text {
        "Buy" => Ok(Side::Buy),
        "Sell" => Ok(Side::Sell),
        _ => Err(FieldError::BadValue(field)),
    }
}

/// Parses Bybit private messages with one reused tape.
#[derive(Debug)]
pub struct BybitPrivateParser {
    reader: TapeReader,
}

impl Default for BybitPrivateParser {
    fn default() -> Self {
        Self::new()
    }
}

impl BybitPrivateParser {
    /// A parser with scratch for typical messages.
    #[must_use]
    pub fn new() -> Self {
        Self { reader: TapeReader::new(4096) }
    }

    /// Parses one frame from the private stream or the trade WebSocket:
    /// topic pushes (`order`, `execution`, `position`, other topics ignored)
    /// and `op` responses (`auth`, `order.create`, `order.cancel`,
    /// `order.amend`; `subscribe` / `pong` ignored).
    ///
    /// # Errors
    /// [`PrivateParseError`]; on error the events in `out` must be ignored.
    pub fn ws_frame(
        &mut self,
        frame: &mut [u8],
        instruments: &InstrumentTable,
        out: &mut [PrivateEvent],
    ) -> Result<usize, PrivateParseError> {
        let mut sink = EventSink::new(out);
        self.reader.read(frame, |root| -> Result<(), PrivateParseError> {
            let obj = root.as_object().ok_or(FieldError::WrongType("root"))?;
            if let Some(topic) = obj.opt_str("topic")? {
                let data = obj.req_array("data")?;
                let mut rows = data.iter().map(|row| row.as_object().ok_or(FieldError::WrongType("data")));
                return match topic {
                    "order" | "order.linear" => rows.try_for_each(|r| order_row(r?, instruments, &mut sink)),
                    "execution" | "execution.linear" => {
                        rows.try_for_each(|r| execution_row(r?, instruments, &mut sink))
                    }
                    "position" | "position.linear" => rows.try_for_each(|r| position_row(r?, instruments, &mut sink)),
                    "wallet" => rows.try_for_each(|r| wallet_row(r?, obj, &mut sink)),
                    t if t.starts_with("execution.fast") => Err(PrivateParseError::UnknownMessage),
                    _ => Ok(()),
                };
            }
            let op = obj.req_str("op")?;
            match op {
                "subscribe" | "unsubscribe" | "pong" | "ping" => return Ok(()),
                "auth" => return auth_response(obj, &mut sink),
                _ => {}
            }
            let tag = obj
                .opt_str("reqId")?
                .and_then(|id| RequestTag::parse(id.as_bytes()))
                .ok_or(PrivateParseError::UnknownRequest)?;
            let expected = match tag.op {
                RequestOp::Place => "order.create",
                RequestOp::Cancel => "order.cancel",
                RequestOp::Amend => "order.amend",
                RequestOp::CancelAll | RequestOp::Auth | RequestOp::Query | RequestOp::Fills => "",
            };
            if op != expected {
                return Err(FieldError::BadValue("op").into());
            }
            let mut ts_ms = 0;
            if let Some(header) = obj.get("header") {
                let header = header.as_object().ok_or(FieldError::WrongType("header"))?;
                let mut usage = ObservedUsage::empty(Venue::BybitLinear);
                for name in ["X-Bapi-Limit", "X-Bapi-Limit-Status", "X-Bapi-Limit-Reset-Timestamp"] {
                    if let Some(value) = header.opt_str(name)? {
                        usage
                            .apply_bybit_field(name.as_bytes(), value.as_bytes())
                            .map_err(|e| FieldError::BadValue(e.0))?;
                    }
                }
                if !usage.is_empty() {
                    sink.push(PrivateEvent::RateLimit(usage))?;
                }
                if header.get("Timenow").is_some() {
                    ts_ms = header.req_i64("Timenow")?;
                }
            }
            let code = obj.req_i64("retCode")?;
            if code == 0 {
                on_success(tag, obj.get("data").and_then(|d| d.as_object()), ts_ms, &mut sink)
            } else {
                on_error(tag, code, ts_ms, &mut sink)
            }
        })??;
        Ok(sink.len())
    }

    /// Parses the answer to a REST order query (`GET /v5/order/realtime`
    /// by `orderLinkId`) made with `tag` ([`RequestOp::Query`]): the order's
    /// row as the `order` topic would report it, or, when the list is
    /// empty, a rejection ([`RejectReason::UnknownOrder`]: the order never
    /// reached the venue; the engine queries only after the order's receive
    /// window has passed, so it cannot arrive later).
    ///
    /// # Errors
    /// [`PrivateParseError::ExecutionUnknown`] when the venue did not answer
    /// the query (HTTP or `retCode` error: ask again); other parse errors.
    pub fn query_response(
        &mut self,
        http_status: u16,
        body: &mut [u8],
        tag: RequestTag,
        instruments: &InstrumentTable,
        out: &mut [PrivateEvent],
    ) -> Result<usize, PrivateParseError> {
        if http_status != 200 {
            return Err(PrivateParseError::ExecutionUnknown { http_status });
        }
        let mut sink = EventSink::new(out);
        self.reader.read(body, |root| -> Result<(), PrivateParseError> {
            let obj = root.as_object().ok_or(FieldError::WrongType("root"))?;
            if obj.req_i64("retCode")? != 0 {
                return Err(PrivateParseError::ExecutionUnknown { http_status });
            }
            let list = obj.req_object("result")?.req_array("list")?;
            if list.is_empty() {
                let reason = RejectReason::UnknownOrder;
                return sink.order(OrderEvent::Rejected { client_id: tag.client_id, reason, venue_code: 0, ts_ms: 0 });
            }
            for row in list.iter() {
                let row = row.as_object().ok_or(FieldError::WrongType("list"))?;
                if ClientOrderId::parse(row.req_str("orderLinkId")?.as_bytes()) != Some(tag.client_id) {
                    return Err(FieldError::BadValue("orderLinkId").into());
                }
                order_row(row, instruments, &mut sink)?;
            }
            Ok(())
        })??;
        Ok(sink.len())
    }

    /// Parses the response to a REST order request made with `tag`.
    ///
    /// # Errors
    /// [`PrivateParseError`], including [`PrivateParseError::ExecutionUnknown`]
    /// for HTTP 5xx; on error the events in `out` must be ignored.
    pub fn rest_response(
        &mut self,
        http_status: u16,
        body: &mut [u8],
        tag: RequestTag,
        out: &mut [PrivateEvent],
    ) -> Result<usize, PrivateParseError> {
        if http_status >= 500 {
            return Err(PrivateParseError::ExecutionUnknown { http_status });
        }
        let mut sink = EventSink::new(out);
        let parsed = self.reader.read(body, |root| -> Result<(), PrivateParseError> {
            let obj = root.as_object().ok_or(FieldError::WrongType("root"))?;
            let code = obj.req_i64("retCode")?;
            let ts_ms = if obj.get("time").is_some() { obj.req_i64("time")? } else { 0 };
            if code == 0 && http_status == 200 {
                on_success(tag, obj.get("result").and_then(|d| d.as_object()), ts_ms, &mut sink)
            } else {
                on_error(tag, if code == 0 { i64::from(http_status) } else { code }, ts_ms, &mut sink)
            }
        });
        match parsed {
            Ok(result) => result?,
            // Bybit answers throttling with HTTP 403 / 429 and a non-JSON page.
            Err(_) if matches!(http_status, 403 | 429) => {
                let reason = RejectReason::RateLimited;
                emit_rejection(tag, reason, i32::from(http_status), 0, &mut sink)?;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(sink.len())
    }
}

impl BybitPrivateParser {
    /// Parses one page of `GET /v5/execution/list` (the account's
    /// executions of one symbol, newest first): each `Trade` row of one of
    /// our orders (`orderLinkId`) becomes the [`OrderEvent::Filled`] the
    /// private stream's `execution` topic would have carried (the same
    /// `execId` trade key, price, quantity, fee, maker flag and time); a
    /// liquidation (`AdlTrade`, `BustTrade`) or another client's row is
    /// [`PrivateEvent::Foreign`]; `Funding`, `Settle` and other rows are
    /// skipped (counted: funding has no key a re-fetch could be
    /// de-duplicated by, so only the stream reports it). A row that does not
    /// parse is counted in [`FillsPage::bad_rows`] and skipped.
    /// `result.nextPageCursor` becomes [`FillsPage::cursor`].
    ///
    /// # Errors
    /// [`PrivateParseError::ExecutionUnknown`] when the venue did not answer
    /// (HTTP status not 200, `retCode` not 0: fetch again); a body without
    /// `result.list`; [`PrivateParseError::TooManyEvents`] when `out` cannot
    /// hold a row. On error the events in `out` must be ignored.
    pub fn execution_list(
        &mut self,
        http_status: u16,
        body: &mut [u8],
        instruments: &InstrumentTable,
        out: &mut [PrivateEvent],
    ) -> Result<(usize, FillsPage), PrivateParseError> {
        if http_status != 200 {
            return Err(PrivateParseError::ExecutionUnknown { http_status });
        }
        let mut sink = EventSink::new(out);
        let mut page = FillsPage::EMPTY;
        self.reader.read(body, |root| -> Result<(), PrivateParseError> {
            let obj = root.as_object().ok_or(FieldError::WrongType("root"))?;
            if obj.req_i64("retCode")? != 0 {
                return Err(PrivateParseError::ExecutionUnknown { http_status });
            }
            let result = obj.req_object("result")?;
            for row in result.req_array("list")?.iter() {
                page.rows += 1;
                let Some(row) = row.as_object() else {
                    page.bad_rows += 1;
                    continue;
                };
                let before = sink.len();
                let parsed = match row.opt_str("execType") {
                    Ok(Some("Trade" | "AdlTrade" | "BustTrade")) => execution_row(row, instruments, &mut sink),
                    Ok(Some(_)) => {
                        page.skipped += 1;
                        continue;
                    }
                    Ok(None) | Err(_) => Err(FieldError::Missing("execType").into()),
                };
                match parsed {
                    Err(PrivateParseError::TooManyEvents) => return Err(PrivateParseError::TooManyEvents),
                    Err(_) => page.bad_rows += 1,
                    Ok(()) if sink.len() == before => page.skipped += 1,
                    Ok(()) => match sink.last() {
                        Some(PrivateEvent::Order(_)) => page.fills += 1,
                        _ => page.foreign += 1,
                    },
                }
            }
            match result.opt_str("nextPageCursor")? {
                None | Some("") => {}
                Some(text) => match PageCursor::new(text.as_bytes()) {
                    Some(c) => page.cursor = c,
                    None => page.cursor_refused = true,
                },
            }
            Ok(())
        })??;
        Ok((sink.len(), page))
    }
}

fn auth_response(obj: JsonObject<'_, '_>, sink: &mut EventSink<'_>) -> Result<(), PrivateParseError> {
    // Trade WS: {"retCode":0,…}; private stream: {"success":true,…}.
    let ok = match obj.get("retCode") {
        Some(_) => obj.req_i64("retCode")? == 0,
        None => obj.req_bool("success")?,
    };
    let event = if ok {
        SessionEvent::Authenticated
    } else {
        let code = if obj.get("retCode").is_some() { obj.req_i64("retCode")? } else { 10004 };
        SessionEvent::AuthRejected { reason: reject_reason(code), venue_code: clamp_code(code) }
    };
    sink.push(PrivateEvent::Session(event))
}

fn on_success(
    tag: RequestTag,
    data: Option<JsonObject<'_, '_>>,
    ts_ms: i64,
    sink: &mut EventSink<'_>,
) -> Result<(), PrivateParseError> {
    match tag.op {
        RequestOp::Place => {
            let data = data.ok_or(FieldError::Missing("data"))?;
            if ClientOrderId::parse(data.req_str("orderLinkId")?.as_bytes()) != Some(tag.client_id) {
                return Err(FieldError::BadValue("orderLinkId").into());
            }
            let venue_order_id =
                VenueOrderId::new(data.req_str("orderId")?.as_bytes()).ok_or(FieldError::BadValue("orderId"))?;
            sink.order(OrderEvent::Acked { client_id: tag.client_id, venue_order_id, ts_ms })
        }
        RequestOp::Auth => sink.push(PrivateEvent::Session(SessionEvent::Authenticated)),
        // Accepted for processing; the order topic reports the outcome.
        RequestOp::Cancel | RequestOp::Amend | RequestOp::CancelAll => Ok(()),
        // Queries are answered by `query_response`, never here.
        RequestOp::Query | RequestOp::Fills => Err(FieldError::BadValue("reqId").into()),
    }
}

fn emit_rejection(
    tag: RequestTag,
    reason: RejectReason,
    venue_code: i32,
    ts_ms: i64,
    sink: &mut EventSink<'_>,
) -> Result<(), PrivateParseError> {
    let client_id = tag.client_id;
    let action = |action| OrderEvent::ActionRejected { client_id, action, reason, venue_code, ts_ms };
    match tag.op {
        RequestOp::Place => sink.order(OrderEvent::Rejected { client_id, reason, venue_code, ts_ms }),
        RequestOp::Cancel => sink.order(action(OrderAction::Cancel)),
        RequestOp::Amend => sink.order(action(OrderAction::Amend)),
        RequestOp::CancelAll => sink.order(action(OrderAction::CancelAll)),
        RequestOp::Auth => sink.push(PrivateEvent::Session(SessionEvent::AuthRejected { reason, venue_code })),
        RequestOp::Query | RequestOp::Fills => Err(PrivateParseError::ExecutionUnknown { http_status: 0 }),
    }
}

fn on_error(tag: RequestTag, code: i64, ts_ms: i64, sink: &mut EventSink<'_>) -> Result<(), PrivateParseError> {
    emit_rejection(tag, reject_reason(code), clamp_code(code), ts_ms, sink)
}

fn is_linear(row: JsonObject<'_, '_>) -> Result<bool, PrivateParseError> {
    Ok(row.opt_str("category")?.is_none_or(|c| c == "linear"))
}

fn order_row(
    row: JsonObject<'_, '_>,
    instruments: &InstrumentTable,
    sink: &mut EventSink<'_>,
) -> Result<(), PrivateParseError> {
    if !is_linear(row)? {
        return Ok(());
    }
    let symbol = symbol_of(row.req_str("symbol")?, "symbol")?;
    let status = row.req_str("orderStatus")?;
    let ts_ms = row.req_i64("updatedTime")?;
    let Some(client_id) = ClientOrderId::parse(row.req_str("orderLinkId")?.as_bytes()) else {
        let side = side_of(row.req_str("side")?, "side")?;
        if instruments.get(Venue::BybitLinear, &symbol).is_none() {
            return Ok(());
        }
        return sink.push(PrivateEvent::Foreign(ForeignActivity {
            venue: Venue::BybitLinear,
            symbol,
            side,
            filled_qty: Qty::ZERO,
            liquidation: false,
            ts_ms,
        }));
    };
    if instruments.get(Venue::BybitLinear, &symbol).is_none() {
        return Err(PrivateParseError::UnknownSymbol);
    }
    let event = match status {
        "New" | "PartiallyFilled" | "Filled" => {
            let venue_order_id =
                VenueOrderId::new(row.req_str("orderId")?.as_bytes()).ok_or(FieldError::BadValue("orderId"))?;
            OrderEvent::Acked { client_id, venue_order_id, ts_ms }
        }
        "Rejected" => OrderEvent::Rejected {
            client_id,
            reason: reason_from_text(row.req_str("rejectReason")?),
            venue_code: 0,
            ts_ms,
        },
        "Cancelled" | "PartiallyFilledCanceled" | "Deactivated" => {
            let by_rule = row.opt_str("rejectReason")?.is_some_and(|r| r.contains("PostOnly"))
                || matches!(row.opt_str("timeInForce")?, Some("IOC" | "FOK"))
                || row.opt_str("orderType")? == Some("Market");
            if by_rule { OrderEvent::Expired { client_id, ts_ms } } else { OrderEvent::Cancelled { client_id, ts_ms } }
        }
        "Untriggered" | "Triggered" => return Ok(()),
        _ => return Err(FieldError::BadValue("orderStatus").into()),
    };
    sink.order(event)
}

fn execution_row(
    row: JsonObject<'_, '_>,
    instruments: &InstrumentTable,
    sink: &mut EventSink<'_>,
) -> Result<(), PrivateParseError> {
    if !is_linear(row)? {
        return Ok(());
    }
    let symbol = symbol_of(row.req_str("symbol")?, "symbol")?;
    let exec_type = row.req_str("execType")?;
    if exec_type == "Funding" {
        if instruments.get(Venue::BybitLinear, &symbol).is_none() {
            return Ok(());
        }
        let paid = money_e8(row.req_str("execFee")?, "execFee")?;
        return sink.push(PrivateEvent::Funding(FundingPayment {
            venue: Venue::BybitLinear,
            symbol: Some(symbol),
            amount: Notional(-paid.0),
            ts_ms: row.req_i64("execTime")?,
        }));
    }
    let liquidation = matches!(exec_type, "AdlTrade" | "BustTrade");
    if exec_type != "Trade" && !liquidation {
        return Ok(()); // settlement, delivery: no order execution
    }
    let ours = ClientOrderId::parse(row.req_str("orderLinkId")?.as_bytes());
    let Some(inst) = instruments.get(Venue::BybitLinear, &symbol) else {
        return if ours.is_some() && !liquidation { Err(PrivateParseError::UnknownSymbol) } else { Ok(()) };
    };
    let side = side_of(row.req_str("side")?, "side")?;
    let qty = Qty(row.req_decimal("execQty", inst.qty_scale, false)?);
    let ts_ms = row.req_i64("execTime")?;
    match ours {
        Some(client_id) if !liquidation => sink.order(OrderEvent::Filled(Fill {
            client_id,
            venue: Venue::BybitLinear,
            symbol,
            side,
            trade_id: TradeId::parse(row.req_str("execId")?.as_bytes()).ok_or(FieldError::BadValue("execId"))?,
            price: Price(row.req_decimal("execPrice", inst.price_scale, false)?),
            qty,
            fee: Notional(row.req_e8("execFee", true)?),
            fee_kind: FeeKind::Quote,
            is_maker: row.req_bool("isMaker")?,
            ts_ms,
        })),
        _ => sink.push(PrivateEvent::Foreign(ForeignActivity {
            venue: Venue::BybitLinear,
            symbol,
            side,
            filled_qty: qty,
            liquidation,
            ts_ms,
        })),
    }
}

fn wallet_row(
    row: JsonObject<'_, '_>,
    message: JsonObject<'_, '_>,
    sink: &mut EventSink<'_>,
) -> Result<(), PrivateParseError> {
    // Empty strings mean "not applicable to this account type".
    let opt = |key: &'static str| -> Result<Option<Notional>, PrivateParseError> {
        match row.opt_str(key)? {
            None | Some("") => Ok(None),
            Some(text) => Ok(Some(money_e8(text, key)?)),
        }
    };
    let Some(wallet_balance) = opt("totalWalletBalance")? else { return Ok(()) };
    let ts_ms = match message.get("creationTime") {
        Some(_) => message.req_i64("creationTime")?,
        None => 0,
    };
    sink.push(PrivateEvent::Account(AccountUpdate {
        venue: Venue::BybitLinear,
        wallet_balance,
        margin_balance: opt("totalMarginBalance")?,
        maintenance_margin: opt("totalMaintenanceMargin")?,
        ts_ms,
    }))
}

fn position_row(
    row: JsonObject<'_, '_>,
    instruments: &InstrumentTable,
    sink: &mut EventSink<'_>,
) -> Result<(), PrivateParseError> {
    if !is_linear(row)? {
        return Ok(());
    }
    let symbol = symbol_of(row.req_str("symbol")?, "symbol")?;
    // One-way mode only (positionIdx 0); hedge legs are not ours to net.
    if row.get("positionIdx").is_some() && row.req_i64("positionIdx")? != 0 {
        return Ok(());
    }
    let Some(inst) = instruments.get(Venue::BybitLinear, &symbol) else { return Ok(()) };
    let size = row.req_decimal("size", inst.qty_scale, false)?;
    let qty = match row.req_str("side")? {
        "Buy" => size,
        "Sell" => -size,
        "" | "None" if size == 0 => 0,
        _ => return Err(FieldError::BadValue("side").into()),
    };
    let entry = row.opt_str("entryPrice")?.filter(|t| !t.is_empty()).unwrap_or("0");
    let entry_price = crate::fixed::parse_decimal_trimmed(entry.as_bytes(), crate::fixed::E8, false)
        .map_err(|_| FieldError::BadValue("entryPrice"))?;
    sink.push(PrivateEvent::Position(PositionUpdate {
        venue: Venue::BybitLinear,
        symbol,
        qty: SignedQty(qty),
        entry_price: RefPrice(entry_price),
        ts_ms: row.req_i64("updatedTime")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::Symbol;
    use crate::venue::private_event::EMPTY_EVENT;

    fn instruments() -> InstrumentTable {
        InstrumentTable::from_toml_str(include_str!("../../../tuning/instruments.toml")).unwrap()
    }

    fn parse(text: &str) -> Result<Vec<PrivateEvent>, PrivateParseError> {
        let mut p = BybitPrivateParser::new();
        let mut out = [EMPTY_EVENT; 8];
        let mut frame = text.as_bytes().to_vec();
        let n = p.ws_frame(&mut frame, &instruments(), &mut out)?;
        Ok(out[..n].to_vec())
    }

    const EXECUTION: &str = r#"{"id":"592324803b2785-26fa-4214-9963-bdd4727f07be","topic":"execution","creationTime":1672364174455,"data":[{"category":"linear","symbol":"BTCUSDT","execFee":"0.005061","execId":"7e2ae69c-4edf-5800-a352-893d52b446aa","execPrice":"61800.20","execQty":"0.025","execType":"Trade","execValue":"8.435","isMaker":false,"feeRate":"0.0006","tradeIv":"","markIv":"","blockTradeId":"","markPrice":"0.3391","indexPrice":"","underlyingPrice":"","leavesQty":"0","orderId":"f6e324ff-99c2-4e89-9739-3086e47f9381","orderLinkId":"scalpel-5","orderPrice":"61800.20","orderQty":"0.025","orderType":"Limit","stopOrderType":"UNKNOWN","side":"Sell","execTime":"1672364174443","isLeverage":"0","closedSize":"","seq":4688002127}]}"#;

    const ORDER: &str = r#"{"id":"5923240c6880ab-c59f-420b-9adb-3639adc9dd90","topic":"order","creationTime":1672364262474,"data":[{"symbol":"BTCUSDT","orderId":"5cf98598-39a7-459e-97bf-76ca765ee020","side":"Sell","orderType":"Limit","cancelType":"UNKNOWN","price":"61800.2","qty":"0.025","orderIv":"","timeInForce":"GTC","orderStatus":"New","orderLinkId":"scalpel-5","lastPriceOnCreated":"","reduceOnly":false,"leavesQty":"0.025","leavesValue":"","cumExecQty":"0","cumExecValue":"0","avgPrice":"","blockTradeId":"","positionIdx":0,"cumExecFee":"0","createdTime":"1672364262444","updatedTime":"1672364262457","rejectReason":"EC_NoError","stopOrderType":"","tpslMode":"","triggerPrice":"","takeProfit":"","stopLoss":"","tpTriggerBy":"","slTriggerBy":"","tpLimitPrice":"","slLimitPrice":"","triggerDirection":0,"triggerBy":"","closeOnTrigger":false,"category":"linear","placeType":"","smpType":"None","smpGroup":0,"smpOrderId":"","feeCurrency":""}]}"#;

    /// One `GET /v5/execution/list` row as the documentation lays it out
    /// (no `category` per row: it is on `result`), for the trade of
    /// [`EXECUTION`].
    const LIST_ROW: &str = r#"{"symbol":"BTCUSDT","orderType":"Limit","underlyingPrice":"","orderLinkId":"scalpel-5","side":"Sell","indexPrice":"","orderId":"f6e324ff-99c2-4e89-9739-3086e47f9381","stopOrderType":"UNKNOWN","leavesQty":"0","execTime":"1672364174443","feeCurrency":"","isMaker":false,"execFee":"0.005061","feeRate":"0.0006","execId":"7e2ae69c-4edf-5800-a352-893d52b446aa","tradeIv":"","blockTradeId":"","markPrice":"0.3391","execPrice":"61800.20","markIv":"","orderQty":"0.025","orderPrice":"61800.20","execValue":"8.435","execType":"Trade","execQty":"0.025","closedSize":"","seq":4688002127}"#;

    fn list(rows: &[String], cursor: &str) -> String {
        format!(
            r#"{{"retCode":0,"retMsg":"OK","result":{{"nextPageCursor":"{cursor}","category":"linear","list":[{}]}},"retExtInfo":{{}},"time":1672283754510}}"#,
            rows.join(",")
        )
    }

    fn parse_list(text: &str) -> Result<(Vec<PrivateEvent>, FillsPage), PrivateParseError> {
        let mut p = BybitPrivateParser::new();
        let mut out = [EMPTY_EVENT; 8];
        let mut body = text.as_bytes().to_vec();
        let (n, page) = p.execution_list(200, &mut body, &instruments(), &mut out)?;
        Ok((out[..n].to_vec(), page))
    }

    #[test]
    fn execution_list_rows_are_the_streams_fills_and_pages_follow_the_cursor() {
        let (events, page) = parse_list(&list(&[LIST_ROW.to_owned()], "132766%3A2%2C132766%3A2")).unwrap();
        let [PrivateEvent::Order(OrderEvent::Filled(rest))] = events[..] else { panic!("{events:?}") };
        let [PrivateEvent::Order(OrderEvent::Filled(stream))] = parse(EXECUTION).unwrap()[..] else { panic!() };
        assert_eq!(rest, stream, "same key (venue, client, execId), price, qty, side, maker, time and fee");
        assert_eq!((page.rows, page.fills, page.foreign, page.skipped, page.bad_rows), (1, 1, 0, 0, 0));
        assert_eq!(page.cursor.as_bytes(), b"132766%3A2%2C132766%3A2");
        assert!(!page.cursor_refused);
        // The last page: an empty cursor.
        let (_, page) = parse_list(&list(&[LIST_ROW.to_owned()], "")).unwrap();
        assert!(page.cursor.is_empty() && !page.cursor_refused);
        // A cursor that could not be sent back as it is: refused, counted.
        let (_, page) = parse_list(&list(&[], "a b&c")).unwrap();
        assert!(page.cursor_refused && page.cursor.is_empty());
        // Funding and settlement rows are skipped, liquidations and other clients' rows are foreign.
        let funding = LIST_ROW.replace("\"execType\":\"Trade\"", "\"execType\":\"Funding\"");
        let settle = LIST_ROW.replace("\"execType\":\"Trade\"", "\"execType\":\"Settle\"");
        let bust = LIST_ROW.replace("\"execType\":\"Trade\"", "\"execType\":\"BustTrade\"").replace("scalpel-5", "");
        let manual = LIST_ROW.replace("scalpel-5", "my-order-1");
        let (events, page) = parse_list(&list(&[funding, settle, bust, manual], "")).unwrap();
        assert_eq!((page.rows, page.fills, page.foreign, page.skipped, page.bad_rows), (4, 0, 2, 2, 0));
        assert!(events.iter().all(|e| matches!(e, PrivateEvent::Foreign(_))), "{events:?}");
    }

    #[test]
    fn execution_list_bad_rows_are_counted_and_errors_are_typed() {
        let no_exec_id = LIST_ROW.replace("\"execId\"", "\"execIx\"");
        let bad_qty = LIST_ROW.replace("\"execQty\":\"0.025\"", "\"execQty\":\"abc\"");
        let other = LIST_ROW.replace("7e2ae69c", "8e2ae69c");
        let (events, page) =
            parse_list(&list(&[no_exec_id, "[]".into(), bad_qty, LIST_ROW.to_owned(), other], "")).unwrap();
        assert_eq!((page.rows, page.fills, page.bad_rows), (5, 2, 3));
        assert_eq!(events.len(), 2);
        let mut p = BybitPrivateParser::new();
        let mut out = [EMPTY_EVENT; 1];
        let mut body =
            br#"{"retCode":10002,"retMsg":"invalid request, please check your server timestamp","result":{}}"#.to_vec();
        assert_eq!(
            p.execution_list(200, &mut body, &instruments(), &mut out),
            Err(PrivateParseError::ExecutionUnknown { http_status: 200 })
        );
        let mut body = b"<html>403 Forbidden</html>".to_vec();
        assert_eq!(
            p.execution_list(403, &mut body, &instruments(), &mut out),
            Err(PrivateParseError::ExecutionUnknown { http_status: 403 })
        );
        for text in [r#"{"retCode":0,"result":{}}"#, "[", &LIST_ROW[..30]] {
            let mut body = text.as_bytes().to_vec();
            assert!(p.execution_list(200, &mut body, &instruments(), &mut out).is_err(), "{text}");
        }
        let mut body = list(&[LIST_ROW.to_owned(), LIST_ROW.to_owned()], "").into_bytes();
        assert_eq!(p.execution_list(200, &mut body, &instruments(), &mut out), Err(PrivateParseError::TooManyEvents));
    }

    #[test]
    fn execution_fill_keyed_by_uuid() {
        let events = parse(EXECUTION).unwrap();
        let [PrivateEvent::Order(OrderEvent::Filled(f))] = events[..] else { panic!("{events:?}") };
        assert_eq!(f.client_id, ClientOrderId(5));
        assert_eq!(f.trade_id, TradeId(0x7e2a_e69c_4edf_5800_a352_893d_52b4_46aa));
        assert_eq!(f.price, Price(6_180_020));
        assert_eq!(f.qty, Qty(25));
        assert_eq!(f.fee, Notional(506_100));
        assert_eq!(f.side, Side::Sell);
        assert!(!f.is_maker);
        assert_eq!(f.ts_ms, 1_672_364_174_443);
        let bust = EXECUTION.replace("\"execType\":\"Trade\"", "\"execType\":\"BustTrade\"").replace("scalpel-5", "");
        let [PrivateEvent::Foreign(f)] = parse(&bust).unwrap()[..] else { panic!() };
        assert!(f.liquidation);
        let funding = EXECUTION.replace("\"execType\":\"Trade\"", "\"execType\":\"Funding\"");
        assert_eq!(
            parse(&funding).unwrap(),
            [PrivateEvent::Funding(FundingPayment {
                venue: Venue::BybitLinear,
                symbol: Some(Symbol::new(b"BTCUSDT").unwrap()),
                amount: Notional(-506_100),
                ts_ms: 1_672_364_174_443,
            })],
            "execFee is what was paid"
        );
        assert_eq!(parse(&EXECUTION.replace("\"category\":\"linear\"", "\"category\":\"spot\"")).unwrap(), []);
        assert_eq!(
            parse(&EXECUTION.replace("\"topic\":\"execution\"", "\"topic\":\"execution.fast\"")),
            Err(PrivateParseError::UnknownMessage)
        );
    }

    #[test]
    fn order_topic_statuses() {
        let acked = parse(ORDER).unwrap();
        assert_eq!(
            acked,
            [PrivateEvent::Order(OrderEvent::Acked {
                client_id: ClientOrderId(5),
                venue_order_id: VenueOrderId::new(b"5cf98598-39a7-459e-97bf-76ca765ee020").unwrap(),
                ts_ms: 1_672_364_262_457
            })]
        );
        let cancelled = ORDER.replace("\"orderStatus\":\"New\"", "\"orderStatus\":\"Cancelled\"");
        assert_eq!(
            parse(&cancelled).unwrap(),
            [PrivateEvent::Order(OrderEvent::Cancelled { client_id: ClientOrderId(5), ts_ms: 1_672_364_262_457 })]
        );
        let post_only = cancelled.replace("EC_NoError", "EC_PostOnlyWillTakeLiquidity");
        assert_eq!(
            parse(&post_only).unwrap(),
            [PrivateEvent::Order(OrderEvent::Expired { client_id: ClientOrderId(5), ts_ms: 1_672_364_262_457 })]
        );
        let ioc = ORDER
            .replace("\"orderStatus\":\"New\"", "\"orderStatus\":\"PartiallyFilledCanceled\"")
            .replace("\"GTC\"", "\"IOC\"");
        assert!(matches!(parse(&ioc).unwrap()[..], [PrivateEvent::Order(OrderEvent::Expired { .. })]));
        let rejected = ORDER
            .replace("\"orderStatus\":\"New\"", "\"orderStatus\":\"Rejected\"")
            .replace("EC_NoError", "EC_ReduceOnlyRejected");
        assert!(matches!(
            parse(&rejected).unwrap()[..],
            [PrivateEvent::Order(OrderEvent::Rejected { reason: RejectReason::ReduceOnlyRejected, .. })]
        ));
        let manual = ORDER.replace("scalpel-5", "my-manual-order");
        assert!(matches!(parse(&manual).unwrap()[..], [PrivateEvent::Foreign(_)]));
        assert_eq!(
            parse(&ORDER.replace("\"orderStatus\":\"New\"", "\"orderStatus\":\"Weird\"")),
            Err(FieldError::BadValue("orderStatus").into())
        );
    }

    #[test]
    fn wallet_topic() {
        let text = r#"{"id":"5923","topic":"wallet","creationTime":1672364262474,"data":[{"accountIMRate":"0.016","accountMMRate":"0.003","totalEquity":"12837.78330098","totalWalletBalance":"12840.4045924","totalMarginBalance":"12837.78330098","totalAvailableBalance":"12632.05767701","totalPerpUPL":"-2.62129141","totalInitialMargin":"205.72562397","totalMaintenanceMargin":"39.42876755123","coin":[],"accountType":"UNIFIED"}]}"#;
        assert_eq!(
            parse(text).unwrap(),
            [PrivateEvent::Account(AccountUpdate {
                venue: Venue::BybitLinear,
                wallet_balance: Notional(1_284_040_459_240),
                margin_balance: Some(Notional(1_283_778_330_098)),
                maintenance_margin: Some(Notional(3_942_876_755)),
                ts_ms: 1_672_364_262_474,
            })]
        );
        let classic = text.replace("\"totalMarginBalance\":\"12837.78330098\"", "\"totalMarginBalance\":\"\"");
        let [PrivateEvent::Account(a)] = parse(&classic).unwrap()[..] else { panic!() };
        assert_eq!(a.margin_balance, None, "an empty field is not applicable, not zero");
    }

    #[test]
    fn position_topic() {
        let text = r#"{"id":"1003076014fb7eedb-c7e6-45d6-a8c1-270f0169171a","topic":"position","creationTime":1697682317044,"data":[{"positionIdx":0,"tradeMode":0,"riskId":1,"riskLimitValue":"2000000","symbol":"BTCUSDT","side":"Sell","size":"0.012","entryPrice":"61800.2","leverage":"10","positionValue":"741.6","positionBalance":"0","markPrice":"61700","positionIM":"2.7","positionMM":"0.28","takeProfit":"0","stopLoss":"0","trailingStop":"0","unrealisedPnl":"1.2","curRealisedPnl":"0.6","cumRealisedPnl":"-25.06579584","sessionAvgPrice":"","createdTime":"1694402496913","updatedTime":"1697682317038","tpslMode":"Full","liqPrice":"","bustPrice":"","category":"linear","positionStatus":"Normal","adlRankIndicator":2,"autoAddMargin":0,"leverageSysUpdatedTime":"","mmrSysUpdatedTime":"","seq":8172241024,"isReduceOnly":false},{"positionIdx":0,"symbol":"ETHUSDT","side":"","size":"0","entryPrice":"0","updatedTime":"1697682317038","category":"linear"}]}"#;
        let events = parse(text).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0],
            PrivateEvent::Position(PositionUpdate {
                venue: Venue::BybitLinear,
                symbol: Symbol::new(b"BTCUSDT").unwrap(),
                qty: SignedQty(-12),
                entry_price: RefPrice(6_180_020_000_000),
                ts_ms: 1_697_682_317_038
            })
        );
        assert!(matches!(events[1], PrivateEvent::Position(PositionUpdate { qty: SignedQty(0), .. })));
    }

    #[test]
    fn trade_ws_responses() {
        let ok = r#"{"reqId":"n-5-0","retCode":0,"retMsg":"OK","op":"order.create","data":{"orderId":"1321003749386327552","orderLinkId":"scalpel-5"},"header":{"X-Bapi-Limit":"10","X-Bapi-Limit-Status":"9","X-Bapi-Limit-Reset-Timestamp":"1711001595207","Traceid":"77b6a2f3c0f","Timenow":"1711001595209"},"connId":"cnt5leec0hvan15eukcg-2t"}"#;
        let events = parse(ok).unwrap();
        let [PrivateEvent::RateLimit(u), PrivateEvent::Order(OrderEvent::Acked { client_id, ts_ms, .. })] = events[..]
        else {
            panic!("{events:?}")
        };
        assert_eq!(u.bybit.and_then(|b| b.remaining), Some(9));
        assert_eq!(client_id, ClientOrderId(5));
        assert_eq!(ts_ms, 1_711_001_595_209);
        let err = r#"{"reqId":"n-5-1","retCode":110007,"retMsg":"ab not enough for new order","op":"order.create","data":{},"header":{"Timenow":"1711001595209"},"connId":"x"}"#;
        assert_eq!(
            parse(err).unwrap(),
            [PrivateEvent::Order(OrderEvent::Rejected {
                client_id: ClientOrderId(5),
                reason: RejectReason::InsufficientMargin,
                venue_code: 110_007,
                ts_ms: 1_711_001_595_209
            })]
        );
        let cancel_err = r#"{"reqId":"c-5-0","retCode":110001,"retMsg":"order not exists or too late to cancel","op":"order.cancel","data":{}}"#;
        assert!(matches!(
            parse(cancel_err).unwrap()[..],
            [PrivateEvent::Order(OrderEvent::ActionRejected {
                action: OrderAction::Cancel,
                reason: RejectReason::UnknownOrder,
                venue_code: 110_001,
                ..
            })]
        ));
        let auth_ok = r#"{"retCode":0,"retMsg":"OK","op":"auth","connId":"cnt5leec0hvan15eukcg-2t"}"#;
        assert_eq!(parse(auth_ok).unwrap(), [PrivateEvent::Session(SessionEvent::Authenticated)]);
        let auth_bad = r#"{"retCode":10004,"retMsg":"invalid sign","op":"auth","connId":"x"}"#;
        assert_eq!(
            parse(auth_bad).unwrap(),
            [PrivateEvent::Session(SessionEvent::AuthRejected {
                reason: RejectReason::BadSignature,
                venue_code: 10004
            })]
        );
        assert_eq!(parse(r#"{"success":true,"ret_msg":"","op":"subscribe","conn_id":"x"}"#).unwrap(), []);
        assert_eq!(
            parse(&ok.replace("\"op\":\"order.create\"", "\"op\":\"order.cancel\"")),
            Err(FieldError::BadValue("op").into())
        );
    }

    #[test]
    fn rest_envelopes() {
        let mut p = BybitPrivateParser::new();
        let mut out = [EMPTY_EVENT; 4];
        let tag = RequestTag::new(RequestOp::Place, ClientOrderId(5));
        let mut body = br#"{"retCode":0,"retMsg":"OK","result":{"orderId":"1321003749386327552","orderLinkId":"scalpel-5"},"retExtInfo":{},"time":1672211918471}"#.to_vec();
        assert_eq!(p.rest_response(200, &mut body, tag, &mut out), Ok(1));
        assert!(matches!(out[0], PrivateEvent::Order(OrderEvent::Acked { ts_ms: 1_672_211_918_471, .. })));
        let mut body = br#"{"retCode":10002,"retMsg":"invalid request, please check your server timestamp or recv_window param","result":{},"retExtInfo":{},"time":1672211918471}"#.to_vec();
        assert_eq!(p.rest_response(200, &mut body, tag, &mut out), Ok(1));
        assert!(matches!(
            out[0],
            PrivateEvent::Order(OrderEvent::Rejected {
                reason: RejectReason::TimestampOutsideRecvWindow,
                venue_code: 10002,
                ..
            })
        ));
        let mut body = b"<html>403 Forbidden</html>".to_vec();
        assert_eq!(p.rest_response(403, &mut body, tag, &mut out), Ok(1));
        assert!(matches!(
            out[0],
            PrivateEvent::Order(OrderEvent::Rejected { reason: RejectReason::RateLimited, venue_code: 403, .. })
        ));
        let mut body = b"".to_vec();
        assert_eq!(
            p.rest_response(502, &mut body, tag, &mut out),
            Err(PrivateParseError::ExecutionUnknown { http_status: 502 })
        );
        for (code, reason) in [
            (10003, RejectReason::BadApiKey),
            (10005, RejectReason::BadApiKey),
            (10006, RejectReason::RateLimited),
            (110094, RejectReason::MinNotional),
            (99999, RejectReason::Other),
        ] {
            assert_eq!(reject_reason(code), reason, "{code}");
        }
    }

    /// `GET /v5/order/realtime` answers: the order's row (as the order
    /// topic reports it), an empty list (it never arrived: rejected), or an
    /// error (still unknown).
    #[test]
    fn order_query_answers() {
        let mut p = BybitPrivateParser::new();
        let mut out = [EMPTY_EVENT; 4];
        let table = instruments();
        let tag = RequestTag::new(RequestOp::Query, ClientOrderId(5));
        let row = r#"{"category":"linear","symbol":"BTCUSDT","orderId":"1321003749386327552","orderLinkId":"scalpel-5","side":"Buy","orderStatus":"Cancelled","updatedTime":"1672211918471","timeInForce":"GTC","orderType":"Limit"}"#;
        let mut body = format!(r#"{{"retCode":0,"retMsg":"OK","result":{{"category":"linear","list":[{row}],"nextPageCursor":""}},"time":1}}"#).into_bytes();
        assert_eq!(p.query_response(200, &mut body, tag, &table, &mut out), Ok(1));
        assert!(matches!(out[0], PrivateEvent::Order(OrderEvent::Cancelled { client_id: ClientOrderId(5), .. })));
        let mut body =
            br#"{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[],"nextPageCursor":""},"time":1}"#
                .to_vec();
        assert_eq!(p.query_response(200, &mut body, tag, &table, &mut out), Ok(1));
        assert!(matches!(
            out[0],
            PrivateEvent::Order(OrderEvent::Rejected {
                reason: RejectReason::UnknownOrder,
                client_id: ClientOrderId(5),
                ..
            })
        ));
        let other = row.replace("scalpel-5", "scalpel-6");
        let mut body = format!(r#"{{"retCode":0,"retMsg":"OK","result":{{"list":[{other}]}}}}"#).into_bytes();
        assert_eq!(
            p.query_response(200, &mut body, tag, &table, &mut out),
            Err(FieldError::BadValue("orderLinkId").into())
        );
        let mut body = br#"{"retCode":10002,"retMsg":"invalid request","result":{}}"#.to_vec();
        assert_eq!(
            p.query_response(200, &mut body, tag, &table, &mut out),
            Err(PrivateParseError::ExecutionUnknown { http_status: 200 })
        );
        let mut body = b"<html>403</html>".to_vec();
        assert_eq!(
            p.query_response(403, &mut body, tag, &table, &mut out),
            Err(PrivateParseError::ExecutionUnknown { http_status: 403 })
        );
    }

    #[test]
    fn truncation_and_wrong_types_never_panic() {
        let mut p = BybitPrivateParser::new();
        let table = instruments();
        let mut out = [EMPTY_EVENT; 8];
        for doc in [EXECUTION, ORDER] {
            for cut in 0..doc.len() {
                let mut frame = doc.as_bytes()[..cut].to_vec();
                assert!(p.ws_frame(&mut frame, &table, &mut out).is_err(), "cut {cut}");
            }
        }
        for (doc, from, to) in [
            (EXECUTION, "\"isMaker\":false", "\"isMaker\":\"false\""),
            (EXECUTION, "\"execQty\":\"0.025\"", "\"execQty\":0.025"),
            (EXECUTION, "\"execId\":\"7e2ae69c-4edf-5800-a352-893d52b446aa\"", "\"execId\":\"not-a-uuid\""),
            (EXECUTION, "\"execTime\":\"1672364174443\"", "\"execTime\":\"soon\""),
            (EXECUTION, "\"data\":[", "\"data\":{\"x\":["),
            (ORDER, "\"updatedTime\":\"1672364262457\"", "\"updatedTime\":true"),
            (ORDER, "\"orderLinkId\":\"scalpel-5\"", "\"orderLinkId\":5"),
        ] {
            let mut frame = doc.replace(from, to).into_bytes();
            let result = p.ws_frame(&mut frame, &table, &mut out);
            assert!(result.is_err(), "{from} -> {to}: {result:?}");
        }
        // A foreign order's side is read (for the foreign-activity report) and must be valid.
        let mut frame =
            ORDER.replace("scalpel-5", "manual").replace("\"side\":\"Sell\"", "\"side\":\"SELL\"").into_bytes();
        assert_eq!(p.ws_frame(&mut frame, &table, &mut out), Err(FieldError::BadValue("side").into()));
    }
}
