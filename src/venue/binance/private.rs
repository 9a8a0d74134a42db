//! Binance USDⓈ-M private messages → [`PrivateEvent`]s: WebSocket API
//! responses, REST order responses and user-data stream events.
//!
//! Sources:
//! - WebSocket API response format (`id`, `status`, `result` | `error`,
//!   `rateLimits`):
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-api-general-info>
//! - Order responses:
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api>,
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/websocket-api>
//! - `ORDER_TRADE_UPDATE`:
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Event-Order-Update>
//! - `ACCOUNT_UPDATE`:
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Event-Balance-and-Position-Update>
//! - `TRADE_LITE`:
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Event-Trade-Lite>
//! - Account trade list (`GET /fapi/v1/userTrades`: `symbol`, `id`,
//!   `orderId`, `side`, `price`, `qty`, `commission`, `commissionAsset`,
//!   `maker`, `time`, `realizedPnl`; `fromId` cannot be sent with
//!   `startTime`; limit 500 by default, 1000 at most; weight 5):
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Account-Trade-List>
//! - Error codes:
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code>
//!
//! # Invariants
//! - Parsing uses one reused simd-json tape ([`TapeReader`]): no `String`
//!   or `Vec` per message after warm-up.
//! - Execution types map as: `NEW` → `Acked`, `TRADE` → `Filled`,
//!   `CANCELED` → `Cancelled`, `EXPIRED` → `Expired` (IOC remainder,
//!   post-only that would have taken), `AMENDMENT` → `Amended`,
//!   `CALCULATED` (liquidation) → foreign activity. Orders whose client id
//!   is not `scalpel-<n>` are foreign.
//! - A `TRADE_LITE` fill carries no fee ([`FeeKind::NotReported`]); the
//!   `ORDER_TRADE_UPDATE` for the same trade id supplies it.
//! - `ACCOUNT_UPDATE` gives the position of each symbol (one-way mode), the
//!   USDT wallet balance ([`PrivateEvent::Account`]; the stream carries no
//!   margin figures) and, when its reason `m` is `FUNDING_FEE`, the funding
//!   paid or received (`B[USDT].bc`, [`PrivateEvent::Funding`]; the symbol
//!   only when the update names exactly one position, as for isolated
//!   margin).
//! - Error responses keep the raw venue code beside the typed reason; HTTP
//!   429 / 418 override the reason (rate limited / IP banned); HTTP 5xx is
//!   [`PrivateParseError::ExecutionUnknown`], never a guessed outcome.
//! - A `userTrades` row is the same fill as the stream's: trade id `id` =
//!   `t`, so the ledger's (venue, client id, trade id) key drops a trade
//!   the stream already delivered; the row has the fee, so a fill the
//!   stream gave only as `TRADE_LITE` gets its fee from it. The
//!   documentation's example row shows `"commission":"-0.07819010"` for a
//!   taker trade; we read the sign as on the stream (`n`: positive paid,
//!   negative a rebate), which is what the simulator sends.

use crate::fixed::{E8, Notional, Price, Qty, RefPrice, SignedQty};
use crate::instrument::{Instrument, InstrumentTable};
use crate::json::tape_reader::{FieldError, JsonObject, TapeReader};
use crate::order::ids::{RequestOp, RequestTag};
use crate::order::{
    ClientOrderId, FeeKind, Fill, OrderAction, OrderEvent, PositionUpdate, RejectReason, TradeId, VenueOrderId,
};
use crate::side::Side;
use crate::venue::Venue;
use crate::venue::private_event::{
    AccountUpdate, EventSink, FillsPage, ForeignActivity, FundingPayment, PrivateEvent, PrivateParseError,
    SessionEvent, clamp_code, money_e8, symbol_of,
};
use crate::venue::rate_limit::ObservedUsage;

/// Maps a Binance error code (and the HTTP status, when there is one) to a
/// typed reason.
#[must_use]
pub fn reject_reason(code: i64, http_status: u16) -> RejectReason {
    match http_status {
        429 => return RejectReason::RateLimited,
        418 => return RejectReason::IpBanned,
        _ => {}
    }
    match code {
        -1021 => RejectReason::TimestampOutsideRecvWindow,
        -1022 => RejectReason::BadSignature,
        -1002 | -2014 | -2015 => RejectReason::BadApiKey,
        -2018 | -2019 => RejectReason::InsufficientMargin,
        -4164 => RejectReason::MinNotional,
        -1003 | -1008 | -1015 => RejectReason::RateLimited,
        -5022 => RejectReason::PostOnlyWouldTake,
        -2022 => RejectReason::ReduceOnlyRejected,
        -1013 | -1111 | -4003 | -4005 | -4014 | -4016 | -4023 | -4024 => RejectReason::InvalidPriceOrQty,
        -2011 | -2013 => RejectReason::UnknownOrder,
        _ => RejectReason::Other,
    }
}

fn side_of(text: &str, field: &'static str) -> Result<Side, FieldError> {
    match text {
        "BUY" => Ok(Side::Buy),
        "SELL" => Ok(Side::Sell),
        _ => Err(FieldError::BadValue(field)),
    }
}

/// Parses Binance private messages with one reused tape.
#[derive(Debug)]
pub struct BinancePrivateParser {
    reader: TapeReader,
}

impl Default for BinancePrivateParser {
    fn default() -> Self {
        Self::new()
    }
}

impl BinancePrivateParser {
    /// A parser with scratch for typical messages (it grows once if needed).
    #[must_use]
    pub fn new() -> Self {
        Self { reader: TapeReader::new(4096) }
    }

    /// Parses one user-data stream frame (raw, or wrapped as
    /// `{"stream":…,"data":{…}}` / `{"event":{…}}`). Event kinds other than
    /// `ORDER_TRADE_UPDATE`, `ACCOUNT_UPDATE` and `TRADE_LITE` (e.g.
    /// `listenKeyExpired`, `MARGIN_CALL`) produce no events.
    ///
    /// # Errors
    /// [`PrivateParseError`]; on error the events in `out` must be ignored.
    pub fn user_data(
        &mut self,
        frame: &mut [u8],
        instruments: &InstrumentTable,
        out: &mut [PrivateEvent],
    ) -> Result<usize, PrivateParseError> {
        let mut sink = EventSink::new(out);
        self.reader.read(frame, |root| -> Result<(), PrivateParseError> {
            let mut obj = root.as_object().ok_or(FieldError::WrongType("root"))?;
            for wrapper in ["data", "event"] {
                if let Some(inner) = obj.get(wrapper).and_then(|v| v.as_object()) {
                    obj = inner;
                }
            }
            match obj.req_str("e")? {
                "ORDER_TRADE_UPDATE" => order_trade_update(obj.req_object("o")?, instruments, &mut sink),
                "TRADE_LITE" => trade_lite(obj, instruments, &mut sink),
                "ACCOUNT_UPDATE" => account_update(obj, instruments, &mut sink),
                _ => Ok(()),
            }
        })??;
        Ok(sink.len())
    }

    /// Parses one WebSocket API response. Rate-limit counters come out as a
    /// [`PrivateEvent::RateLimit`] first.
    ///
    /// # Errors
    /// [`PrivateParseError`]; on error the events in `out` must be ignored.
    pub fn ws_response(
        &mut self,
        frame: &mut [u8],
        instruments: &InstrumentTable,
        out: &mut [PrivateEvent],
    ) -> Result<usize, PrivateParseError> {
        let mut sink = EventSink::new(out);
        self.reader.read(frame, |root| -> Result<(), PrivateParseError> {
            let obj = root.as_object().ok_or(FieldError::WrongType("root"))?;
            let status = u16::try_from(obj.req_u64("status")?).map_err(|_| FieldError::BadValue("status"))?;
            if let Some(limits) = obj.get("rateLimits") {
                let limits = limits.as_array().ok_or(FieldError::WrongType("rateLimits"))?;
                let mut usage = ObservedUsage::empty(Venue::BinanceUsdm);
                for entry in limits.iter() {
                    let e = entry.as_object().ok_or(FieldError::WrongType("rateLimits"))?;
                    let num = |k: &'static str| -> Result<u32, FieldError> {
                        u32::try_from(e.req_u64(k)?).map_err(|_| FieldError::BadValue(k))
                    };
                    usage.apply_binance_window(
                        e.req_str("rateLimitType")?,
                        e.req_str("interval")?,
                        e.req_u64("intervalNum")?,
                        num("limit")?,
                        num("count")?,
                    );
                }
                if !usage.is_empty() {
                    sink.push(PrivateEvent::RateLimit(usage))?;
                }
            }
            let tag = obj
                .opt_str("id")?
                .and_then(|id| RequestTag::parse(id.as_bytes()))
                .ok_or(PrivateParseError::UnknownRequest)?;
            if status == 200 {
                on_success(tag, obj.req_object("result")?, instruments, &mut sink)
            } else {
                let err = obj.req_object("error")?;
                on_error(tag, err.req_i64("code")?, status, &mut sink)
            }
        })??;
        Ok(sink.len())
    }

    /// Parses the response to a REST order request made with `tag` (REST
    /// responses do not echo an id; the caller knows what it sent).
    ///
    /// # Errors
    /// [`PrivateParseError`], including [`PrivateParseError::ExecutionUnknown`]
    /// for HTTP 5xx; on error the events in `out` must be ignored.
    pub fn rest_response(
        &mut self,
        http_status: u16,
        body: &mut [u8],
        tag: RequestTag,
        instruments: &InstrumentTable,
        out: &mut [PrivateEvent],
    ) -> Result<usize, PrivateParseError> {
        if http_status >= 500 {
            return Err(PrivateParseError::ExecutionUnknown { http_status });
        }
        let mut sink = EventSink::new(out);
        let parsed = self.reader.read(body, |root| -> Result<(), PrivateParseError> {
            let obj = root.as_object().ok_or(FieldError::WrongType("root"))?;
            if http_status == 200 {
                // Cancel-all answers {"code":200,"msg":…}; order endpoints the order.
                if tag.op == RequestOp::CancelAll {
                    return Ok(());
                }
                on_success(tag, obj, instruments, &mut sink)
            } else {
                on_error(tag, obj.req_i64("code")?, http_status, &mut sink)
            }
        });
        match parsed {
            // A query answered with anything but the order or -2013 leaves
            // the order unknown: ask again.
            Ok(Err(_)) | Err(_) if tag.op == RequestOp::Query && http_status != 200 => {
                return Err(PrivateParseError::ExecutionUnknown { http_status });
            }
            Ok(result) => result?,
            // A ban or throttle page need not be JSON; the status says enough.
            Err(_) if matches!(http_status, 418 | 429) => on_error(tag, 0, http_status, &mut sink)?,
            Err(e) => return Err(e.into()),
        }
        Ok(sink.len())
    }
}

impl BinancePrivateParser {
    /// Parses one page of `GET /fapi/v1/userTrades` (the account's trades
    /// of one symbol, oldest first): each row of one of our orders becomes
    /// the [`OrderEvent::Filled`] the user-data stream would have carried
    /// for the same trade — the same trade id (`id` here, `t` in
    /// `ORDER_TRADE_UPDATE` / `TRADE_LITE`), price, quantity, side, maker
    /// flag and time, with the row's fee (`commission` in
    /// `commissionAsset`: paid when positive, a rebate when negative, as
    /// `n` on the stream). Rows carry the venue's `orderId`, not our client
    /// id: `our_order` maps it (the ledger's acknowledged venue ids); a row
    /// it cannot map is [`PrivateEvent::Foreign`] (counted, never applied).
    /// A row that does not parse is counted in [`FillsPage::bad_rows`] and
    /// skipped; the rest of the page is used.
    ///
    /// # Errors
    /// [`PrivateParseError::ExecutionUnknown`] for any status but 200 (the
    /// venue did not answer: fetch again); a body that is not a JSON array;
    /// [`PrivateParseError::TooManyEvents`] when `out` cannot hold a row.
    /// On error the events in `out` must be ignored.
    pub fn user_trades(
        &mut self,
        http_status: u16,
        body: &mut [u8],
        instruments: &InstrumentTable,
        our_order: impl Fn(&VenueOrderId) -> Option<ClientOrderId>,
        out: &mut [PrivateEvent],
    ) -> Result<(usize, FillsPage), PrivateParseError> {
        if http_status != 200 {
            return Err(PrivateParseError::ExecutionUnknown { http_status });
        }
        let mut sink = EventSink::new(out);
        let mut page = FillsPage::EMPTY;
        self.reader.read(body, |root| -> Result<(), PrivateParseError> {
            let rows = root.as_array().ok_or(FieldError::WrongType("root"))?;
            for row in rows.iter() {
                page.rows += 1;
                let Some(row) = row.as_object() else {
                    page.bad_rows += 1;
                    continue;
                };
                match user_trade_row(row, instruments, &our_order) {
                    Ok((event, trade_id)) => {
                        page.last_trade_id = Some(page.last_trade_id.map_or(trade_id, |t| t.max(trade_id)));
                        match event {
                            PrivateEvent::Order(_) => page.fills += 1,
                            _ => page.foreign += 1,
                        }
                        sink.push(event)?;
                    }
                    Err(_) => page.bad_rows += 1,
                }
            }
            Ok(())
        })??;
        Ok((sink.len(), page))
    }
}

/// One `userTrades` row: our fill or foreign activity, and its trade id.
fn user_trade_row(
    row: JsonObject<'_, '_>,
    instruments: &InstrumentTable,
    our_order: &impl Fn(&VenueOrderId) -> Option<ClientOrderId>,
) -> Result<(PrivateEvent, u64), PrivateParseError> {
    let inst = instrument_for(instruments, row.req_str("symbol")?)?;
    let trade_id = row.req_u64("id")?;
    let side = side_of(row.req_str("side")?, "side")?;
    let qty = Qty(row.req_decimal("qty", inst.qty_scale, false)?);
    let ts_ms = row.req_i64("time")?;
    let venue_order_id = VenueOrderId::from_u64(row.req_u64("orderId")?);
    let Some(client_id) = our_order(&venue_order_id) else {
        let foreign = ForeignActivity {
            venue: Venue::BinanceUsdm,
            symbol: inst.symbol,
            side,
            filled_qty: qty,
            liquidation: false,
            ts_ms,
        };
        return Ok((PrivateEvent::Foreign(foreign), trade_id));
    };
    let fee = crate::fixed::parse_decimal_trimmed(row.req_str("commission")?.as_bytes(), E8, true)
        .map_err(|_| FieldError::BadValue("commission"))?;
    let asset = row.req_str("commissionAsset")?;
    let fee_kind =
        if !asset.is_empty() && inst.symbol.as_str().ends_with(asset) { FeeKind::Quote } else { FeeKind::OtherAsset };
    let fill = Fill {
        client_id,
        venue: Venue::BinanceUsdm,
        symbol: inst.symbol,
        side,
        trade_id: TradeId(u128::from(trade_id)),
        price: Price(row.req_decimal("price", inst.price_scale, false)?),
        qty,
        fee: Notional(fee),
        fee_kind,
        is_maker: row.req_bool("maker")?,
        ts_ms,
    };
    Ok((PrivateEvent::Order(OrderEvent::Filled(fill)), trade_id))
}

fn instrument_for<'a>(
    instruments: &'a InstrumentTable,
    symbol_text: &str,
) -> Result<&'a Instrument, PrivateParseError> {
    let symbol = symbol_of(symbol_text, "symbol")?;
    instruments.get(Venue::BinanceUsdm, &symbol).ok_or(PrivateParseError::UnknownSymbol)
}

fn on_success(
    tag: RequestTag,
    result: JsonObject<'_, '_>,
    instruments: &InstrumentTable,
    sink: &mut EventSink<'_>,
) -> Result<(), PrivateParseError> {
    let client_id = tag.client_id;
    match tag.op {
        RequestOp::Auth => sink.push(PrivateEvent::Session(SessionEvent::Authenticated)),
        RequestOp::CancelAll => Ok(()),
        // Fill fetches are answered by `user_trades`, never here.
        RequestOp::Fills => Err(PrivateParseError::UnknownRequest),
        RequestOp::Place | RequestOp::Cancel | RequestOp::Amend | RequestOp::Query => {
            let echoed = ClientOrderId::parse(result.req_str("clientOrderId")?.as_bytes());
            if echoed != Some(client_id) {
                return Err(FieldError::BadValue("clientOrderId").into());
            }
            let ts_ms = result.req_i64("updateTime")?;
            let status = result.req_str("status")?;
            match tag.op {
                // A query answers with the order as the venue holds it: it
                // arrived (acked), and its status says whether it still lives.
                RequestOp::Place | RequestOp::Query => {
                    let venue_order_id = VenueOrderId::from_u64(result.req_u64("orderId")?);
                    sink.order(OrderEvent::Acked { client_id, venue_order_id, ts_ms })?;
                }
                RequestOp::Amend => {
                    let inst = instrument_for(instruments, result.req_str("symbol")?)?;
                    let price = Price(result.req_decimal("price", inst.price_scale, false)?);
                    let qty = Qty(result.req_decimal("origQty", inst.qty_scale, false)?);
                    sink.order(OrderEvent::Amended { client_id, price, qty, ts_ms })?;
                }
                _ => {}
            }
            match status {
                "CANCELED" => sink.order(OrderEvent::Cancelled { client_id, ts_ms }),
                "EXPIRED" | "EXPIRED_IN_MATCH" => sink.order(OrderEvent::Expired { client_id, ts_ms }),
                "NEW" | "PARTIALLY_FILLED" | "FILLED" => Ok(()),
                _ => Err(FieldError::BadValue("status").into()),
            }
        }
    }
}

fn on_error(tag: RequestTag, code: i64, http_status: u16, sink: &mut EventSink<'_>) -> Result<(), PrivateParseError> {
    let reason = reject_reason(code, http_status);
    let venue_code = clamp_code(code);
    let client_id = tag.client_id;
    let action = |action| OrderEvent::ActionRejected { client_id, action, reason, venue_code, ts_ms: 0 };
    match tag.op {
        RequestOp::Place => sink.order(OrderEvent::Rejected { client_id, reason, venue_code, ts_ms: 0 }),
        RequestOp::Cancel => sink.order(action(OrderAction::Cancel)),
        RequestOp::Amend => sink.order(action(OrderAction::Amend)),
        RequestOp::CancelAll => sink.order(action(OrderAction::CancelAll)),
        RequestOp::Auth => sink.push(PrivateEvent::Session(SessionEvent::AuthRejected { reason, venue_code })),
        // -2013 "Order does not exist": it never reached the venue (the
        // query is made only after the order's receive window has passed,
        // so it cannot arrive later). Any other error leaves it unknown.
        RequestOp::Query if code == -2013 => {
            sink.order(OrderEvent::Rejected { client_id, reason: RejectReason::UnknownOrder, venue_code, ts_ms: 0 })
        }
        RequestOp::Query | RequestOp::Fills => Err(PrivateParseError::ExecutionUnknown { http_status }),
    }
}

/// `true` for the venue's own liquidation / ADL / settlement orders.
fn is_venue_close(client_text: &str) -> bool {
    client_text.starts_with("autoclose-")
        || client_text == "adl_autoclose"
        || client_text.starts_with("settlement_autoclose-")
}

fn order_trade_update(
    o: JsonObject<'_, '_>,
    instruments: &InstrumentTable,
    sink: &mut EventSink<'_>,
) -> Result<(), PrivateParseError> {
    let symbol = symbol_of(o.req_str("s")?, "s")?;
    let side = side_of(o.req_str("S")?, "S")?;
    let client_text = o.req_str("c")?;
    let exec = o.req_str("x")?;
    let ts_ms = o.req_i64("T")?;
    let ours = ClientOrderId::parse(client_text.as_bytes());
    let Some(inst) = instruments.get(Venue::BinanceUsdm, &symbol) else {
        return if ours.is_some() { Err(PrivateParseError::UnknownSymbol) } else { Ok(()) };
    };
    let Some(client_id) = ours else {
        let filled_qty = match exec {
            "TRADE" | "CALCULATED" => Qty(o.req_decimal("l", inst.qty_scale, false)?),
            _ => Qty::ZERO,
        };
        let liquidation = exec == "CALCULATED" || is_venue_close(client_text);
        return sink.push(PrivateEvent::Foreign(ForeignActivity {
            venue: Venue::BinanceUsdm,
            symbol,
            side,
            filled_qty,
            liquidation,
            ts_ms,
        }));
    };
    let event = match exec {
        "NEW" => OrderEvent::Acked { client_id, venue_order_id: VenueOrderId::from_u64(o.req_u64("i")?), ts_ms },
        "TRADE" => {
            let (fee, fee_kind) = match o.opt_str("n")? {
                None => (Notional::ZERO, FeeKind::Quote),
                Some(text) => {
                    let fee = crate::fixed::parse_decimal_trimmed(text.as_bytes(), E8, true)
                        .map_err(|_| FieldError::BadValue("n"))?;
                    let asset = o.opt_str("N")?.unwrap_or("");
                    let quote = !asset.is_empty() && symbol.as_str().ends_with(asset);
                    (Notional(fee), if quote { FeeKind::Quote } else { FeeKind::OtherAsset })
                }
            };
            OrderEvent::Filled(binance_fill(o, inst, client_id, side, ts_ms, fee, fee_kind)?)
        }
        "CANCELED" => OrderEvent::Cancelled { client_id, ts_ms },
        "EXPIRED" => OrderEvent::Expired { client_id, ts_ms },
        "AMENDMENT" => OrderEvent::Amended {
            client_id,
            price: Price(o.req_decimal("p", inst.price_scale, false)?),
            qty: Qty(o.req_decimal("q", inst.qty_scale, false)?),
            ts_ms,
        },
        "CALCULATED" => {
            return sink.push(PrivateEvent::Foreign(ForeignActivity {
                venue: Venue::BinanceUsdm,
                symbol,
                side,
                filled_qty: Qty(o.req_decimal("l", inst.qty_scale, false)?),
                liquidation: true,
                ts_ms,
            }));
        }
        _ => return Err(FieldError::BadValue("x").into()),
    };
    sink.order(event)
}

fn trade_lite(
    o: JsonObject<'_, '_>,
    instruments: &InstrumentTable,
    sink: &mut EventSink<'_>,
) -> Result<(), PrivateParseError> {
    let symbol = symbol_of(o.req_str("s")?, "s")?;
    let side = side_of(o.req_str("S")?, "S")?;
    let ts_ms = o.req_i64("T")?;
    let ours = ClientOrderId::parse(o.req_str("c")?.as_bytes());
    let Some(inst) = instruments.get(Venue::BinanceUsdm, &symbol) else {
        return if ours.is_some() { Err(PrivateParseError::UnknownSymbol) } else { Ok(()) };
    };
    let qty = Qty(o.req_decimal("l", inst.qty_scale, false)?);
    let Some(client_id) = ours else {
        return sink.push(PrivateEvent::Foreign(ForeignActivity {
            venue: Venue::BinanceUsdm,
            symbol,
            side,
            filled_qty: qty,
            liquidation: false,
            ts_ms,
        }));
    };
    sink.order(OrderEvent::Filled(binance_fill(o, inst, client_id, side, ts_ms, Notional::ZERO, FeeKind::NotReported)?))
}

/// A fill from the fields `ORDER_TRADE_UPDATE.o` and `TRADE_LITE` share:
/// `s`, `t` (trade id), `L` (price), `l` (quantity), `m` (maker).
fn binance_fill(
    o: JsonObject<'_, '_>,
    inst: &Instrument,
    client_id: ClientOrderId,
    side: Side,
    ts_ms: i64,
    fee: Notional,
    fee_kind: FeeKind,
) -> Result<Fill, PrivateParseError> {
    Ok(Fill {
        client_id,
        venue: Venue::BinanceUsdm,
        symbol: inst.symbol,
        side,
        trade_id: TradeId(u128::from(o.req_u64("t")?)),
        price: Price(o.req_decimal("L", inst.price_scale, false)?),
        qty: Qty(o.req_decimal("l", inst.qty_scale, false)?),
        fee,
        fee_kind,
        is_maker: o.req_bool("m")?,
        ts_ms,
    })
}

fn account_update(
    obj: JsonObject<'_, '_>,
    instruments: &InstrumentTable,
    sink: &mut EventSink<'_>,
) -> Result<(), PrivateParseError> {
    let ts_ms = obj.req_i64("T")?;
    let a = obj.req_object("a")?;
    let reason = a.opt_str("m")?.unwrap_or("");
    if let Some(balances) = a.get("B") {
        for b in balances.as_array().ok_or(FieldError::WrongType("B"))?.iter() {
            let b = b.as_object().ok_or(FieldError::WrongType("B"))?;
            if b.req_str("a")? != "USDT" {
                continue;
            }
            let wallet_balance = money_e8(b.req_str("wb")?, "wb")?;
            sink.push(PrivateEvent::Account(AccountUpdate {
                venue: Venue::BinanceUsdm,
                wallet_balance,
                margin_balance: None,
                maintenance_margin: None,
                ts_ms,
            }))?;
            if reason == "FUNDING_FEE" {
                let positions = a.get("P").and_then(|p| p.as_array());
                let symbol = match positions {
                    Some(p) if p.len() == 1 => p
                        .iter()
                        .next()
                        .and_then(|p| p.as_object())
                        .map(|p| p.req_str("s"))
                        .transpose()?
                        .map(|s| symbol_of(s, "s"))
                        .transpose()?,
                    _ => None,
                };
                let amount = money_e8(b.req_str("bc")?, "bc")?;
                sink.push(PrivateEvent::Funding(FundingPayment { venue: Venue::BinanceUsdm, symbol, amount, ts_ms }))?;
            }
        }
    }
    let Some(positions) = a.get("P") else { return Ok(()) };
    for p in positions.as_array().ok_or(FieldError::WrongType("P"))?.iter() {
        let p = p.as_object().ok_or(FieldError::WrongType("P"))?;
        let symbol = symbol_of(p.req_str("s")?, "s")?;
        // One-way mode only: hedge-mode legs (LONG / SHORT) are not ours to net.
        if p.req_str("ps")? != "BOTH" {
            continue;
        }
        let Some(inst) = instruments.get(Venue::BinanceUsdm, &symbol) else { continue };
        sink.push(PrivateEvent::Position(PositionUpdate {
            venue: Venue::BinanceUsdm,
            symbol,
            qty: SignedQty(p.req_decimal("pa", inst.qty_scale, true)?),
            entry_price: RefPrice(p.req_e8("ep", false)?),
            ts_ms,
        }))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::private_event::EMPTY_EVENT;

    pub(crate) fn instruments() -> InstrumentTable {
        InstrumentTable::from_toml_str(include_str!("../../../tuning/instruments.toml")).unwrap()
    }

    fn parse_user(text: &str) -> Result<Vec<PrivateEvent>, PrivateParseError> {
        let mut p = BinancePrivateParser::new();
        let mut out = [EMPTY_EVENT; 8];
        let mut frame = text.as_bytes().to_vec();
        let n = p.user_data(&mut frame, &instruments(), &mut out)?;
        Ok(out[..n].to_vec())
    }

    const TRADE: &str = r#"{"e":"ORDER_TRADE_UPDATE","E":1568879465651,"T":1568879465650,"o":{"s":"BTCUSDT","c":"scalpel-7","S":"SELL","o":"LIMIT","f":"GTC","q":"0.002","p":"64089.20","ap":"64089.2","sp":"0","x":"TRADE","X":"PARTIALLY_FILLED","i":8886774,"l":"0.001","z":"0.001","L":"64089.20","N":"USDT","n":"0.01281784","T":1568879465650,"t":109100866,"b":"0","a":"9.91","m":true,"R":false,"wt":"CONTRACT_PRICE","ot":"LIMIT","ps":"BOTH","cp":false,"rp":"0","pP":false,"si":0,"ss":0,"V":"EXPIRE_TAKER","pm":"NONE","gtd":0}}"#;

    #[test]
    fn order_trade_update_fill() {
        let events = parse_user(TRADE).unwrap();
        let [PrivateEvent::Order(OrderEvent::Filled(f))] = events[..] else { panic!("{events:?}") };
        assert_eq!(f.client_id, ClientOrderId(7));
        assert_eq!(f.side, Side::Sell);
        assert_eq!(f.trade_id, TradeId(109_100_866));
        assert_eq!(f.price, Price(6_408_920));
        assert_eq!(f.qty, Qty(1));
        assert_eq!(f.fee, Notional(1_281_784));
        assert_eq!(f.fee_kind, FeeKind::Quote);
        assert!(f.is_maker);
        assert_eq!(f.ts_ms, 1_568_879_465_650);
    }

    #[test]
    fn order_trade_update_lifecycle_and_foreign() {
        let new = TRADE.replace("\"x\":\"TRADE\"", "\"x\":\"NEW\"");
        let events = parse_user(&new).unwrap();
        assert_eq!(
            events,
            [PrivateEvent::Order(OrderEvent::Acked {
                client_id: ClientOrderId(7),
                venue_order_id: VenueOrderId::from_u64(8_886_774),
                ts_ms: 1_568_879_465_650
            })]
        );
        let expired = TRADE.replace("\"x\":\"TRADE\"", "\"x\":\"EXPIRED\"");
        assert_eq!(
            parse_user(&expired).unwrap(),
            [PrivateEvent::Order(OrderEvent::Expired { client_id: ClientOrderId(7), ts_ms: 1_568_879_465_650 })]
        );
        let amended = TRADE.replace("\"x\":\"TRADE\"", "\"x\":\"AMENDMENT\"");
        assert_eq!(
            parse_user(&amended).unwrap(),
            [PrivateEvent::Order(OrderEvent::Amended {
                client_id: ClientOrderId(7),
                price: Price(6_408_920),
                qty: Qty(2),
                ts_ms: 1_568_879_465_650
            })]
        );
        let bnb_fee = TRADE.replace("\"N\":\"USDT\"", "\"N\":\"BNB\"");
        let [PrivateEvent::Order(OrderEvent::Filled(f))] = parse_user(&bnb_fee).unwrap()[..] else { panic!() };
        assert_eq!(f.fee_kind, FeeKind::OtherAsset);
        let liquidation =
            TRADE.replace("scalpel-7", "autoclose-1568879465650").replace("\"x\":\"TRADE\"", "\"x\":\"CALCULATED\"");
        let [PrivateEvent::Foreign(f)] = parse_user(&liquidation).unwrap()[..] else { panic!() };
        assert!(f.liquidation);
        assert_eq!(f.filled_qty, Qty(1));
        let manual = TRADE.replace("scalpel-7", "web_abc123");
        let [PrivateEvent::Foreign(f)] = parse_user(&manual).unwrap()[..] else { panic!() };
        assert!(!f.liquidation);
        // Our order on an instrument we do not have is an error; a foreign one is skipped.
        assert_eq!(parse_user(&TRADE.replace("BTCUSDT", "DOGEUSDT")), Err(PrivateParseError::UnknownSymbol));
        assert_eq!(parse_user(&manual.replace("BTCUSDT", "DOGEUSDT")).unwrap(), []);
        assert_eq!(
            parse_user(&TRADE.replace("\"x\":\"TRADE\"", "\"x\":\"WHATEVER\"")),
            Err(FieldError::BadValue("x").into())
        );
    }

    /// A `userTrades` row with the documentation's field layout, for the
    /// trade of [`TRADE`] (order 8886774, trade 109100866, our scalpel-7).
    const USER_TRADE_ROW: &str = r#"{"buyer":false,"commission":"0.01281784","commissionAsset":"USDT","id":109100866,"maker":true,"orderId":8886774,"price":"64089.20","qty":"0.001","quoteQty":"64.0892","realizedPnl":"-0.91539999","side":"SELL","positionSide":"BOTH","symbol":"BTCUSDT","time":1568879465650}"#;

    fn parse_trades(text: &str) -> Result<(Vec<PrivateEvent>, FillsPage), PrivateParseError> {
        let mut p = BinancePrivateParser::new();
        let mut out = [EMPTY_EVENT; 8];
        let mut body = text.as_bytes().to_vec();
        let ours = |v: &VenueOrderId| (*v == VenueOrderId::from_u64(8_886_774)).then_some(ClientOrderId(7));
        let (n, page) = p.user_trades(200, &mut body, &instruments(), ours, &mut out)?;
        Ok((out[..n].to_vec(), page))
    }

    #[test]
    fn user_trades_rows_are_the_streams_fills_with_their_fee() {
        // The documentation's own example row (another account's order here).
        let doc = r#"[{"buyer":false,"commission":"-0.07819010","commissionAsset":"USDT","id":698759,"maker":false,"orderId":25851813,"price":"7819.01","qty":"0.002","quoteQty":"15.63802","realizedPnl":"-0.91539999","side":"SELL","positionSide":"SHORT","symbol":"BTCUSDT","time":1569514978020}]"#;
        let (events, page) = parse_trades(doc).unwrap();
        let [PrivateEvent::Foreign(f)] = events[..] else { panic!("{events:?}") };
        assert_eq!((f.side, f.filled_qty, f.liquidation, f.ts_ms), (Side::Sell, Qty(2), false, 1_569_514_978_020));
        assert_eq!((page.rows, page.fills, page.foreign, page.bad_rows), (1, 0, 1, 0));
        assert_eq!(page.last_trade_id, Some(698_759));

        // Our row: the very fill the stream's ORDER_TRADE_UPDATE gives for that trade.
        let (events, page) = parse_trades(&format!("[{USER_TRADE_ROW}]")).unwrap();
        let [PrivateEvent::Order(OrderEvent::Filled(rest))] = events[..] else { panic!("{events:?}") };
        let [PrivateEvent::Order(OrderEvent::Filled(stream))] = parse_user(TRADE).unwrap()[..] else { panic!() };
        assert_eq!(rest, stream, "same key (venue, client, trade id), price, qty, side, maker, time and fee");
        assert_eq!(
            (rest.trade_id, rest.fee, rest.fee_kind),
            (TradeId(109_100_866), Notional(1_281_784), FeeKind::Quote)
        );
        assert_eq!((page.fills, page.last_trade_id), (1, Some(109_100_866)));
        // A rebate stays negative; a fee in BNB is another asset.
        let rebate =
            USER_TRADE_ROW.replace("\"0.01281784\"", "\"-0.00640892\"").replace("\"USDT\",\"id\"", "\"BNB\",\"id\"");
        let (events, _) = parse_trades(&format!("[{rebate}]")).unwrap();
        let [PrivateEvent::Order(OrderEvent::Filled(f))] = events[..] else { panic!("{events:?}") };
        assert_eq!((f.fee, f.fee_kind), (Notional(-640_892), FeeKind::OtherAsset));
    }

    #[test]
    fn user_trades_bad_rows_are_counted_and_the_rest_used() {
        let bad_qty = USER_TRADE_ROW.replace("\"qty\":\"0.001\"", "\"qty\":0.001");
        let unknown_symbol = USER_TRADE_ROW.replace("BTCUSDT", "DOGEUSDT");
        let second = USER_TRADE_ROW.replace("109100866", "109100870");
        let text = format!("[{bad_qty},17,{unknown_symbol},{USER_TRADE_ROW},{second}]");
        let (events, page) = parse_trades(&text).unwrap();
        assert_eq!((page.rows, page.fills, page.foreign, page.bad_rows), (5, 2, 0, 3));
        assert_eq!(events.len(), 2);
        assert_eq!(page.last_trade_id, Some(109_100_870), "the next page starts after the highest id");
        assert_eq!(parse_trades("[]").unwrap(), (vec![], FillsPage::EMPTY));
        // Not an array, not JSON, cut short: errors, never a panic.
        for text in [r#"{"code":-1021,"msg":"x"}"#, "<html>", &USER_TRADE_ROW[..40]] {
            assert!(parse_trades(text).is_err(), "{text}");
        }
        let mut p = BinancePrivateParser::new();
        let mut out = [EMPTY_EVENT; 1];
        for status in [400, 418, 429, 503] {
            let mut body = br#"{"code":-1003,"msg":"Too many requests"}"#.to_vec();
            assert_eq!(
                p.user_trades(status, &mut body, &instruments(), |_| None, &mut out),
                Err(PrivateParseError::ExecutionUnknown { http_status: status })
            );
        }
        // More rows than room: the page is refused whole.
        let mut body = format!("[{USER_TRADE_ROW},{second}]").into_bytes();
        assert_eq!(
            p.user_trades(200, &mut body, &instruments(), |_| Some(ClientOrderId(7)), &mut out),
            Err(PrivateParseError::TooManyEvents)
        );
    }

    #[test]
    fn trade_lite_and_wrapped_frames() {
        let lite = r#"{"stream":"listenkey","data":{"e":"TRADE_LITE","E":1721895408092,"T":1721895408214,"s":"BTCUSDT","q":"0.001","p":"0","m":false,"c":"scalpel-9","S":"BUY","L":"64089.20","l":"0.001","t":109100867,"i":8886774}}"#;
        let [PrivateEvent::Order(OrderEvent::Filled(f))] = parse_user(lite).unwrap()[..] else { panic!() };
        assert_eq!(f.fee_kind, FeeKind::NotReported);
        assert_eq!(f.trade_id, TradeId(109_100_867));
        assert_eq!(f.ts_ms, 1_721_895_408_214);
        assert_eq!(parse_user(r#"{"e":"listenKeyExpired","E":1576653824250,"listenKey":"x"}"#).unwrap(), []);
    }

    #[test]
    fn account_update_positions() {
        let text = r#"{"e":"ACCOUNT_UPDATE","E":1564745798939,"T":1564745798938,"a":{"m":"ORDER","B":[{"a":"USDT","wb":"122624.12345678","cw":"100.12345678","bc":"50.12345678"}],"P":[{"s":"BTCUSDT","pa":"-0.012","ep":"61800.20000","cr":"200","up":"0","mt":"isolated","iw":"0.00000000","ps":"BOTH"},{"s":"ETHUSDT","pa":"1.5","ep":"3000","cr":"0","up":"0","mt":"cross","iw":"0","ps":"LONG"},{"s":"XRPUSDT","pa":"10","ep":"0.5","cr":"0","up":"0","mt":"cross","iw":"0","ps":"BOTH"}]}}"#;
        let events = parse_user(text).unwrap();
        assert_eq!(
            events,
            [
                PrivateEvent::Account(AccountUpdate {
                    venue: Venue::BinanceUsdm,
                    wallet_balance: Notional(12_262_412_345_678),
                    margin_balance: None,
                    maintenance_margin: None,
                    ts_ms: 1_564_745_798_938,
                }),
                PrivateEvent::Position(PositionUpdate {
                    venue: Venue::BinanceUsdm,
                    symbol: crate::instrument::Symbol::new(b"BTCUSDT").unwrap(),
                    qty: SignedQty(-12),
                    entry_price: RefPrice(6_180_020_000_000),
                    ts_ms: 1_564_745_798_938,
                })
            ]
        );
    }

    #[test]
    fn account_update_funding_fee() {
        // Cross margin: only the balance, no position named.
        let cross = r#"{"e":"ACCOUNT_UPDATE","E":1564745798939,"T":1564745798938,"a":{"m":"FUNDING_FEE","B":[{"a":"USDT","wb":"10000.50000000","cw":"10000.5","bc":"-0.03500004"}]}}"#;
        let events = parse_user(cross).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[1],
            PrivateEvent::Funding(FundingPayment {
                venue: Venue::BinanceUsdm,
                symbol: None,
                amount: Notional(-3_500_004),
                ts_ms: 1_564_745_798_938
            })
        );
        // Isolated: the one position it was paid on is named.
        let isolated = r#"{"e":"ACCOUNT_UPDATE","E":1,"T":2,"a":{"m":"FUNDING_FEE","B":[{"a":"USDT","wb":"10000.5","cw":"0","bc":"0.01"}],"P":[{"s":"BTCUSDT","pa":"0.010","ep":"60000","cr":"0","up":"0","mt":"isolated","iw":"50","ps":"BOTH"}]}}"#;
        let events = parse_user(isolated).unwrap();
        let PrivateEvent::Funding(f) = events[1] else { panic!("{events:?}") };
        assert_eq!((f.symbol.map(|s| s.to_string()), f.amount), (Some("BTCUSDT".to_owned()), Notional(1_000_000)));
        // A malformed amount is an error, not a zero.
        assert!(parse_user(&cross.replace("-0.03500004", "abc")).is_err());
    }

    fn parse_ws(text: &str) -> Result<Vec<PrivateEvent>, PrivateParseError> {
        let mut p = BinancePrivateParser::new();
        let mut out = [EMPTY_EVENT; 8];
        let mut frame = text.as_bytes().to_vec();
        let n = p.ws_response(&mut frame, &instruments(), &mut out)?;
        Ok(out[..n].to_vec())
    }

    const PLACE_OK: &str = r#"{"id":"n-7-0","status":200,"result":{"orderId":325078477,"symbol":"BTCUSDT","status":"NEW","clientOrderId":"scalpel-7","price":"43187.00","avgPrice":"0.00","origQty":"0.100","executedQty":"0.000","cumQty":"0.000","cumQuote":"0.00000","timeInForce":"GTC","type":"LIMIT","reduceOnly":false,"closePosition":false,"side":"BUY","positionSide":"BOTH","stopPrice":"0.00","workingType":"CONTRACT_PRICE","priceProtect":false,"origType":"LIMIT","priceMatch":"NONE","selfTradePreventionMode":"NONE","goodTillDate":0,"updateTime":1702555534435},"rateLimits":[{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":300,"count":1},{"rateLimitType":"ORDERS","interval":"MINUTE","intervalNum":1,"limit":1200,"count":1},{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":2400,"count":1}]}"#;

    #[test]
    fn ws_api_place_ack_with_rate_limits() {
        let events = parse_ws(PLACE_OK).unwrap();
        let [PrivateEvent::RateLimit(u), PrivateEvent::Order(OrderEvent::Acked { client_id, venue_order_id, ts_ms })] =
            events[..]
        else {
            panic!("{events:?}")
        };
        assert_eq!(u.orders_10s.map(|c| (c.used, c.limit)), Some((1, Some(300))));
        assert_eq!(u.weight_1m.map(|c| c.limit), Some(Some(2400)));
        assert_eq!(client_id, ClientOrderId(7));
        assert_eq!(venue_order_id, VenueOrderId::from_u64(325_078_477));
        assert_eq!(ts_ms, 1_702_555_534_435);
        // The echoed client id must be the one the request id names.
        assert_eq!(
            parse_ws(&PLACE_OK.replace("\"id\":\"n-7-0\"", "\"id\":\"n-8-0\"")),
            Err(FieldError::BadValue("clientOrderId").into())
        );
        assert_eq!(
            parse_ws(&PLACE_OK.replace("\"id\":\"n-7-0\"", "\"id\":\"someone-else\"")),
            Err(PrivateParseError::UnknownRequest)
        );
    }

    #[test]
    fn ws_api_errors_are_typed_with_raw_code() {
        let cases = [
            (-1021, 400, RejectReason::TimestampOutsideRecvWindow),
            (-1022, 400, RejectReason::BadSignature),
            (-2019, 400, RejectReason::InsufficientMargin),
            (-4164, 400, RejectReason::MinNotional),
            (-5022, 400, RejectReason::PostOnlyWouldTake),
            (-1003, 429, RejectReason::RateLimited),
            (-1003, 418, RejectReason::IpBanned),
            (-9999, 400, RejectReason::Other),
        ];
        for (code, status, reason) in cases {
            let text = format!(r#"{{"id":"n-7-0","status":{status},"error":{{"code":{code},"msg":"x"}}}}"#);
            assert_eq!(
                parse_ws(&text).unwrap(),
                [PrivateEvent::Order(OrderEvent::Rejected {
                    client_id: ClientOrderId(7),
                    reason,
                    venue_code: code,
                    ts_ms: 0
                })]
            );
        }
        let cancel = r#"{"id":"c-7-2","status":400,"error":{"code":-2011,"msg":"Unknown order sent."}}"#;
        assert_eq!(
            parse_ws(cancel).unwrap(),
            [PrivateEvent::Order(OrderEvent::ActionRejected {
                client_id: ClientOrderId(7),
                action: OrderAction::Cancel,
                reason: RejectReason::UnknownOrder,
                venue_code: -2011,
                ts_ms: 0
            })]
        );
    }

    #[test]
    fn ws_api_cancel_and_modify_success() {
        let cancel = PLACE_OK
            .replace("\"id\":\"n-7-0\"", "\"id\":\"c-7-0\"")
            .replace("\"status\":\"NEW\"", "\"status\":\"CANCELED\"");
        assert_eq!(
            parse_ws(&cancel).unwrap()[1..],
            [PrivateEvent::Order(OrderEvent::Cancelled { client_id: ClientOrderId(7), ts_ms: 1_702_555_534_435 })]
        );
        let modify = PLACE_OK.replace("\"id\":\"n-7-0\"", "\"id\":\"m-7-0\"");
        assert_eq!(
            parse_ws(&modify).unwrap()[1..],
            [PrivateEvent::Order(OrderEvent::Amended {
                client_id: ClientOrderId(7),
                price: Price(4_318_700),
                qty: Qty(100),
                ts_ms: 1_702_555_534_435
            })]
        );
    }

    /// `GET /fapi/v1/order` answers: the order as the venue holds it, or
    /// -2013 (it never arrived: rejected), or any other error (still unknown).
    #[test]
    fn order_query_answers() {
        let mut p = BinancePrivateParser::new();
        let mut out = [EMPTY_EVENT; 4];
        let table = instruments();
        let tag = RequestTag::new(RequestOp::Query, ClientOrderId(7));
        let start = PLACE_OK.find("\"result\":").unwrap() + 9;
        let end = PLACE_OK.find(",\"rateLimits\"").unwrap();
        let filled = PLACE_OK[start..end].replace("\"status\":\"NEW\"", "\"status\":\"FILLED\"");
        assert_ne!(filled, PLACE_OK[start..end]);
        let mut body = filled.into_bytes();
        assert_eq!(p.rest_response(200, &mut body, tag, &table, &mut out), Ok(1));
        assert!(matches!(out[0], PrivateEvent::Order(OrderEvent::Acked { client_id: ClientOrderId(7), .. })));
        let cancelled = PLACE_OK[start..end].replace("\"status\":\"NEW\"", "\"status\":\"CANCELED\"");
        let mut body = cancelled.into_bytes();
        assert_eq!(p.rest_response(200, &mut body, tag, &table, &mut out), Ok(2));
        assert!(matches!(out[1], PrivateEvent::Order(OrderEvent::Cancelled { client_id: ClientOrderId(7), .. })));
        let mut body = br#"{"code":-2013,"msg":"Order does not exist."}"#.to_vec();
        assert_eq!(p.rest_response(400, &mut body, tag, &table, &mut out), Ok(1));
        assert_eq!(
            out[0],
            PrivateEvent::Order(OrderEvent::Rejected {
                client_id: ClientOrderId(7),
                reason: RejectReason::UnknownOrder,
                venue_code: -2013,
                ts_ms: 0
            })
        );
        for (status, text) in [(400, &br#"{"code":-1021,"msg":"Timestamp outside the recvWindow."}"#[..]), (429, b"{}")]
        {
            let mut body = text.to_vec();
            assert_eq!(
                p.rest_response(status, &mut body, tag, &table, &mut out),
                Err(PrivateParseError::ExecutionUnknown { http_status: status })
            );
        }
    }

    #[test]
    fn rest_responses() {
        let mut p = BinancePrivateParser::new();
        let mut out = [EMPTY_EVENT; 4];
        let table = instruments();
        let tag = RequestTag::new(RequestOp::Place, ClientOrderId(7));
        let start = PLACE_OK.find("\"result\":").unwrap() + 9;
        let end = PLACE_OK.find(",\"rateLimits\"").unwrap();
        let mut body = PLACE_OK.as_bytes()[start..end].to_vec();
        assert_eq!(p.rest_response(200, &mut body, tag, &table, &mut out), Ok(1));
        assert!(matches!(out[0], PrivateEvent::Order(OrderEvent::Acked { .. })));
        let mut body = br#"{"code":-2019,"msg":"Margin is insufficient."}"#.to_vec();
        assert_eq!(p.rest_response(400, &mut body, tag, &table, &mut out), Ok(1));
        assert_eq!(
            out[0],
            PrivateEvent::Order(OrderEvent::Rejected {
                client_id: ClientOrderId(7),
                reason: RejectReason::InsufficientMargin,
                venue_code: -2019,
                ts_ms: 0
            })
        );
        let mut body = b"<html>banned</html>".to_vec();
        assert_eq!(p.rest_response(418, &mut body, tag, &table, &mut out), Ok(1));
        assert_eq!(
            out[0],
            PrivateEvent::Order(OrderEvent::Rejected {
                client_id: ClientOrderId(7),
                reason: RejectReason::IpBanned,
                venue_code: 0,
                ts_ms: 0
            })
        );
        let mut body = b"{}".to_vec();
        assert_eq!(
            p.rest_response(503, &mut body, tag, &table, &mut out),
            Err(PrivateParseError::ExecutionUnknown { http_status: 503 })
        );
        let mut body = br#"{"code":200,"msg":"The operation of cancel all open order is done."}"#.to_vec();
        assert_eq!(
            p.rest_response(200, &mut body, RequestTag::new(RequestOp::CancelAll, ClientOrderId(1)), &table, &mut out),
            Ok(0)
        );
    }

    #[test]
    fn truncation_at_every_offset_and_wrong_types_are_errors_not_panics() {
        let mut p = BinancePrivateParser::new();
        let table = instruments();
        let mut out = [EMPTY_EVENT; 8];
        for doc in [TRADE, PLACE_OK] {
            for cut in 0..doc.len() {
                let mut frame = doc.as_bytes()[..cut].to_vec();
                assert!(p.user_data(&mut frame, &table, &mut out).is_err(), "user_data cut {cut}");
                let mut frame = doc.as_bytes()[..cut].to_vec();
                assert!(p.ws_response(&mut frame, &table, &mut out).is_err(), "ws cut {cut}");
            }
        }
        for (from, to) in [
            ("\"t\":109100866", "\"t\":\"x\""),
            ("\"m\":true", "\"m\":\"true\""),
            ("\"l\":\"0.001\"", "\"l\":0.001"),
            ("\"L\":\"64089.20\"", "\"L\":\"64089.201\""),
            ("\"S\":\"SELL\"", "\"S\":\"sell\""),
            ("\"T\":1568879465650,\"t\"", "\"T\":null,\"t\""),
            ("\"o\":{", "\"o\":[{"),
        ] {
            let mut frame = TRADE.replace(from, to).into_bytes();
            assert!(p.user_data(&mut frame, &table, &mut out).is_err(), "{from} -> {to}");
        }
        let mut small = [EMPTY_EVENT; 1];
        let mut frame = PLACE_OK.as_bytes().to_vec();
        assert_eq!(p.ws_response(&mut frame, &table, &mut small), Err(PrivateParseError::TooManyEvents));
    }
}
