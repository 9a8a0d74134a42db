//! Bybit v5 public linear frames → [`MarketEvent`]s.
//!
//! Topics, from the venue's documentation
//! (<https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook> and
//! the neighbouring pages):
//! - `orderbook.{1,50,200,1000}.SYM`: `type` `snapshot`/`delta`, `ts`,
//!   `cts`, `data` {`s`, `b`, `a`, `u`, `seq`}
//! - `publicTrade.SYM`: `ts`, `data` [{`T`, `s`, `S`, `v`, `p`, `L`, `i`,
//!   `BT`, `seq`}]
//! - `tickers.SYM`: `type` `snapshot`/`delta`, `ts`, `cs`, `data` {…} where
//!   a delta carries only the fields that changed
//! - `allLiquidation.SYM`: `ts`, `data` [{`T`, `s`, `S`, `v`, `p`}] where
//!   `S` is the side of the liquidated *position* (`Buy` = a long)
//! - op responses: `{"success":…,"ret_msg":…,"conn_id":…,"req_id":…,"op":…}`
//!   and the private `{"op":"pong","args":[…]}`
//!
//! Other topics (`kline`, …) are [`Ignored::UnknownStream`]; symbols missing
//! from the table are [`Ignored::UnknownSymbol`].

use crate::event::{
    BatchContext, Control, DecodeError, DepthSnapshot, DepthStream, DepthUpdate, Ignored, Levels, Liquidation,
    Liquidations, MarketEvent, Op, Ticker, Trade, TradeSource, Trades, bounded_field, decimal_field,
};
use crate::fixed::{E8, Price, Qty, Rate, RefPrice};
use crate::instrument::{SymbolEntry, SymbolTable};
use crate::json::Val;
use crate::side::Side;

#[derive(Default)]
struct Envelope<'a> {
    topic: Option<Val<'a>>,
    kind: Option<Val<'a>>,
    ts: Option<Val<'a>>,
    cts: Option<Val<'a>>,
    cs: Option<Val<'a>>,
    data: Option<Val<'a>>,
    op: Option<Val<'a>>,
    success: Option<Val<'a>>,
    ret_msg: Option<Val<'a>>,
    req_id: Option<Val<'a>>,
}

impl<'a> Envelope<'a> {
    fn collect(root: Val<'a>) -> Result<Self, DecodeError> {
        let obj = root.as_obj().ok_or(DecodeError::NotAnObject)?;
        let mut env = Envelope::default();
        for (key, val) in obj.entries() {
            let slot = match key {
                b"topic" => &mut env.topic,
                b"type" => &mut env.kind,
                b"ts" => &mut env.ts,
                b"cts" => &mut env.cts,
                b"cs" => &mut env.cs,
                b"data" => &mut env.data,
                b"op" => &mut env.op,
                b"success" => &mut env.success,
                b"ret_msg" => &mut env.ret_msg,
                b"req_id" => &mut env.req_id,
                _ => continue,
            };
            *slot = Some(val);
        }
        Ok(env)
    }
}

/// Fields of a `data` object (book, ticker) or array element (trade,
/// liquidation).
#[derive(Default)]
struct Data<'a> {
    s: Option<Val<'a>>,
    b: Option<Val<'a>>,
    a: Option<Val<'a>>,
    u: Option<Val<'a>>,
    seq: Option<Val<'a>>,
    big_t: Option<Val<'a>>,
    big_s: Option<Val<'a>>,
    v: Option<Val<'a>>,
    p: Option<Val<'a>>,
    bt: Option<Val<'a>>,
    symbol: Option<Val<'a>>,
    last_price: Option<Val<'a>>,
    mark_price: Option<Val<'a>>,
    index_price: Option<Val<'a>>,
    funding_rate: Option<Val<'a>>,
    next_funding_time: Option<Val<'a>>,
    open_interest: Option<Val<'a>>,
    bid1_price: Option<Val<'a>>,
    bid1_size: Option<Val<'a>>,
    ask1_price: Option<Val<'a>>,
    ask1_size: Option<Val<'a>>,
}

impl<'a> Data<'a> {
    fn collect(val: Val<'a>) -> Result<Self, DecodeError> {
        let obj = val.as_obj().ok_or(DecodeError::WrongType("data"))?;
        let mut d = Data::default();
        for (key, val) in obj.entries() {
            let slot = match key {
                b"s" => &mut d.s,
                b"b" => &mut d.b,
                b"a" => &mut d.a,
                b"u" => &mut d.u,
                b"seq" => &mut d.seq,
                b"T" => &mut d.big_t,
                b"S" => &mut d.big_s,
                b"v" => &mut d.v,
                b"p" => &mut d.p,
                b"BT" => &mut d.bt,
                b"symbol" => &mut d.symbol,
                b"lastPrice" => &mut d.last_price,
                b"markPrice" => &mut d.mark_price,
                b"indexPrice" => &mut d.index_price,
                b"fundingRate" => &mut d.funding_rate,
                b"nextFundingTime" => &mut d.next_funding_time,
                b"openInterest" => &mut d.open_interest,
                b"bid1Price" => &mut d.bid1_price,
                b"bid1Size" => &mut d.bid1_size,
                b"ask1Price" => &mut d.ask1_price,
                b"ask1Size" => &mut d.ask1_size,
                _ => continue,
            };
            *slot = Some(val);
        }
        Ok(d)
    }
}

#[inline]
fn req<'a>(v: Option<Val<'a>>, name: &'static str) -> Result<Val<'a>, DecodeError> {
    v.ok_or(DecodeError::MissingField(name))
}

/// An integer sent as a JSON number or as decimal digits in a string (Bybit
/// writes `nextFundingTime` as a string).
fn int_or_text(v: Val<'_>, name: &'static str) -> Result<i64, DecodeError> {
    match v {
        Val::Int(i) => Ok(i),
        Val::Str(s) => crate::fixed::parse_decimal(s, 0, true).map_err(|e| DecodeError::BadDecimal(name, e)),
        _ => Err(DecodeError::WrongType(name)),
    }
}

fn uint(v: Option<Val<'_>>, name: &'static str) -> Result<u64, DecodeError> {
    req(v, name)?.as_u64().ok_or(DecodeError::WrongType(name))
}

fn opt_decimal(v: Option<Val<'_>>, scale: u8, signed: bool, name: &'static str) -> Result<Option<i64>, DecodeError> {
    v.map(|v| decimal_field(v, scale, signed, name)).transpose()
}

/// An optional price or quantity at an instrument's scale.
fn opt_bounded(v: Option<Val<'_>>, scale: u8, name: &'static str) -> Result<Option<i64>, DecodeError> {
    v.map(|v| bounded_field(v, scale, name)).transpose()
}

fn side(v: Option<Val<'_>>, name: &'static str) -> Result<Side, DecodeError> {
    match req(v, name)?.as_str().ok_or(DecodeError::WrongType(name))? {
        b"Buy" => Ok(Side::Buy),
        b"Sell" => Ok(Side::Sell),
        _ => Err(DecodeError::BadEnum(name)),
    }
}

fn check_symbol(v: Option<Val<'_>>, ctx: &BatchContext) -> Result<(), DecodeError> {
    let s = req(v, "s")?.as_str().ok_or(DecodeError::WrongType("s"))?;
    if s == ctx.symbol.as_bytes() { Ok(()) } else { Err(DecodeError::BadSymbol) }
}

fn parse_trade(val: Val<'_>, ctx: &BatchContext) -> Result<Trade, DecodeError> {
    let d = Data::collect(val)?;
    check_symbol(d.s, ctx)?;
    Ok(Trade {
        inst: ctx.inst,
        id: uint(d.seq, "seq")?,
        trade_ms: int_or_text(req(d.big_t, "T")?, "T")?,
        event_ms: ctx.event_ms,
        price: Price(bounded_field(req(d.p, "p")?, ctx.price_scale, "p")?),
        qty: Qty(bounded_field(req(d.v, "v")?, ctx.qty_scale, "v")?),
        taker_side: side(d.big_s, "S")?,
        source: match d.bt {
            Some(Val::Bool(true)) => TradeSource::Block,
            Some(Val::Bool(false)) | None => TradeSource::Market,
            Some(_) => return Err(DecodeError::WrongType("BT")),
        },
    })
}

fn parse_liquidation(val: Val<'_>, ctx: &BatchContext) -> Result<Liquidation, DecodeError> {
    let d = Data::collect(val)?;
    check_symbol(d.s, ctx)?;
    Ok(Liquidation {
        inst: ctx.inst,
        position_side: side(d.big_s, "S")?,
        price: Price(bounded_field(req(d.p, "p")?, ctx.price_scale, "p")?),
        avg_price: None,
        qty: Qty(bounded_field(req(d.v, "v")?, ctx.qty_scale, "v")?),
        filled_qty: None,
        ts_ms: int_or_text(req(d.big_t, "T")?, "T")?,
    })
}

/// Decodes Bybit v5 public linear frames for the instruments of a
/// [`SymbolTable`].
#[derive(Debug, Clone)]
pub struct BybitDecoder {
    symbols: SymbolTable,
}

impl BybitDecoder {
    /// A decoder for these instruments.
    #[must_use]
    pub fn new(symbols: SymbolTable) -> Self {
        Self { symbols }
    }

    /// The decoder's instruments.
    #[must_use]
    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// Decodes the root value of a frame.
    ///
    /// # Errors
    /// A [`DecodeError`] for a malformed frame; unknown topics and symbols
    /// are `Ok(MarketEvent::Ignored(_))`.
    #[inline]
    pub fn decode<'a>(&self, root: Val<'a>) -> Result<MarketEvent<'a>, DecodeError> {
        let env = Envelope::collect(root)?;
        let Some(topic) = env.topic else {
            return Self::op_response(&env);
        };
        let topic = topic.as_str().ok_or(DecodeError::WrongType("topic"))?;
        let Some(dot) = topic.iter().rposition(|&b| b == b'.') else {
            return Ok(MarketEvent::Ignored(Ignored::UnknownStream));
        };
        let (channel, symbol) = (&topic[..dot], &topic[dot + 1..]);
        let kind = if let Some(depth) = channel.strip_prefix(b"orderbook.") {
            Channel::Book(DepthStream::of_bybit_depth(depth))
        } else {
            match channel {
                b"publicTrade" => Channel::Trade,
                b"tickers" => Channel::Ticker,
                b"allLiquidation" | b"liquidation" => Channel::Liquidation,
                _ => return Ok(MarketEvent::Ignored(Ignored::UnknownStream)),
            }
        };
        let Some(sym) = self.symbols.find(symbol) else {
            return Ok(MarketEvent::Ignored(Ignored::UnknownSymbol));
        };
        let ts = int_or_text(req(env.ts, "ts")?, "ts")?;
        let data = req(env.data, "data")?;
        match kind {
            Channel::Book(stream) => Self::book(&env, data, sym, ts, stream),
            Channel::Ticker => Self::ticker(&env, data, sym, ts),
            Channel::Trade | Channel::Liquidation => {
                let ctx = BatchContext {
                    inst: sym.id,
                    symbol: sym.symbol,
                    price_scale: sym.price_scale,
                    qty_scale: sym.qty_scale,
                    event_ms: ts,
                };
                // `liquidation.SYM` (deprecated) sends one object, the rest arrays.
                if let (Channel::Liquidation, Some(_)) = (kind, data.as_obj()) {
                    return parse_liquidation(data, &ctx).map(|l| MarketEvent::Liquidations(Liquidations::one(l)));
                }
                let arr = data.as_arr().ok_or(DecodeError::WrongType("data"))?;
                Ok(match kind {
                    Channel::Trade => MarketEvent::Trades(Trades::many(arr, ctx, parse_trade)),
                    _ => MarketEvent::Liquidations(Liquidations::many(arr, ctx, parse_liquidation)),
                })
            }
        }
    }

    fn book<'a>(
        env: &Envelope<'a>,
        data: Val<'a>,
        sym: &SymbolEntry,
        ts: i64,
        stream: DepthStream,
    ) -> Result<MarketEvent<'a>, DecodeError> {
        let d = Data::collect(data)?;
        let s = req(d.s, "data.s")?.as_str().ok_or(DecodeError::WrongType("data.s"))?;
        if s != sym.symbol.as_bytes() {
            return Err(DecodeError::BadSymbol);
        }
        let u = uint(d.u, "data.u")?;
        let seq = uint(d.seq, "data.seq")?;
        let cts = env.cts.map(|v| int_or_text(v, "cts")).transpose()?.unwrap_or(0);
        let bids = Levels::new(req(d.b, "data.b")?, sym.price_scale, sym.qty_scale, "data.b")?;
        let asks = Levels::new(req(d.a, "data.a")?, sym.price_scale, sym.qty_scale, "data.a")?;
        match req(env.kind, "type")?.as_str().ok_or(DecodeError::WrongType("type"))? {
            b"snapshot" => Ok(MarketEvent::Snapshot(DepthSnapshot {
                inst: sym.id,
                last_id: u,
                seq,
                event_ms: ts,
                transact_ms: cts,
                stream,
                bids,
                asks,
            })),
            b"delta" => Ok(MarketEvent::Depth(DepthUpdate {
                inst: sym.id,
                event_ms: ts,
                transact_ms: cts,
                first_id: u,
                last_id: u,
                prev_last_id: 0,
                seq,
                stream,
                bids,
                asks,
            })),
            _ => Err(DecodeError::BadEnum("type")),
        }
    }

    fn ticker<'a>(
        env: &Envelope<'a>,
        data: Val<'a>,
        sym: &SymbolEntry,
        ts: i64,
    ) -> Result<MarketEvent<'a>, DecodeError> {
        let d = Data::collect(data)?;
        let s = req(d.symbol, "data.symbol")?.as_str().ok_or(DecodeError::WrongType("data.symbol"))?;
        if s != sym.symbol.as_bytes() {
            return Err(DecodeError::BadSymbol);
        }
        let is_snapshot = match req(env.kind, "type")?.as_str().ok_or(DecodeError::WrongType("type"))? {
            b"snapshot" => true,
            b"delta" => false,
            _ => return Err(DecodeError::BadEnum("type")),
        };
        let (ps, qs) = (sym.price_scale, sym.qty_scale);
        Ok(MarketEvent::Ticker(Ticker {
            inst: sym.id,
            is_snapshot,
            ts_ms: ts,
            cs: env.cs.map(|v| v.as_u64().ok_or(DecodeError::WrongType("cs"))).transpose()?.unwrap_or(0),
            last_price: opt_bounded(d.last_price, ps, "lastPrice")?.map(Price),
            mark: opt_decimal(d.mark_price, E8, false, "markPrice")?.map(RefPrice),
            index: opt_decimal(d.index_price, E8, false, "indexPrice")?.map(RefPrice),
            funding_rate: opt_decimal(d.funding_rate, E8, true, "fundingRate")?.map(Rate),
            next_funding_ms: d.next_funding_time.map(|v| int_or_text(v, "nextFundingTime")).transpose()?,
            open_interest: opt_bounded(d.open_interest, qs, "openInterest")?.map(Qty),
            bid_px: opt_bounded(d.bid1_price, ps, "bid1Price")?.map(Price),
            bid_qty: opt_bounded(d.bid1_size, qs, "bid1Size")?.map(Qty),
            ask_px: opt_bounded(d.ask1_price, ps, "ask1Price")?.map(Price),
            ask_qty: opt_bounded(d.ask1_size, qs, "ask1Size")?.map(Qty),
        }))
    }

    fn op_response<'a>(env: &Envelope<'a>) -> Result<MarketEvent<'a>, DecodeError> {
        let Some(op) = env.op else {
            return Ok(MarketEvent::Ignored(Ignored::UnknownStream));
        };
        let op = match op.as_str().ok_or(DecodeError::WrongType("op"))? {
            b"subscribe" => Op::Subscribe,
            b"unsubscribe" => Op::Unsubscribe,
            b"ping" => Op::Ping,
            b"pong" => Op::Pong,
            b"auth" => Op::Auth,
            _ => Op::Other,
        };
        let success = match env.success {
            None => true,
            Some(v) => v.as_bool().ok_or(DecodeError::WrongType("success"))?,
        };
        let text = |v: Option<Val<'a>>, name| -> Result<&'a [u8], DecodeError> {
            match v {
                None => Ok(b""),
                Some(v) => v.as_str().ok_or(DecodeError::WrongType(name)),
            }
        };
        Ok(MarketEvent::Control(Control::OpResponse {
            op,
            success,
            req_id: text(env.req_id, "req_id")?,
            ret_msg: text(env.ret_msg, "ret_msg")?,
        }))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Channel {
    Book(DepthStream),
    Trade,
    Ticker,
    Liquidation,
}
