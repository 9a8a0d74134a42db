//! Binance USDⓈ-M market-data frames → [`MarketEvent`]s.
//!
//! Accepts both the combined-stream envelope `{"stream":…,"data":{…}}` and
//! raw frames `{"e":…}`, plus the REST depth snapshot
//! (`GET /fapi/v1/depth`: `{"lastUpdateId":…,"bids":…,"asks":…}`),
//! subscription acks (`{"result":null,"id":1}`) and error frames
//! (`{"error":{"code":…,"msg":…},"id":…}`, REST `{"code":…,"msg":…}`).
//!
//! Event layouts, from the venue's documentation
//! (<https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams>):
//! - `depthUpdate`: `E`, `T`, `s`, `U`, `u`, `pu`, `b`, `a`
//!   (Diff. Book Depth Streams)
//! - `bookTicker`: `u`, `E`, `T`, `s`, `b`, `B`, `a`, `A`
//! - `trade`: `E`, `T`, `s`, `t`, `p`, `q`, `X`, `m`
//! - `aggTrade`: `E`, `s`, `a`, `p`, `q`, `f`, `l`, `T`, `m`
//! - `markPriceUpdate`: `E`, `s`, `p`, `i`, `P`, `r`, `T`
//! - `forceOrder`: `E`, `o` {`s`, `S`, `o`, `f`, `q`, `p`, `ap`, `X`, `l`,
//!   `z`, `T`}
//!
//! Unknown event types and unknown fields are skipped; unknown symbols are
//! reported as [`Ignored::UnknownSymbol`] because their scales are unknown.
//! Missing or mistyped fields are [`DecodeError`]s.

use crate::event::{
    BookTicker, Control, DecodeError, DepthSnapshot, DepthStream, DepthUpdate, Ignored, InstrumentId, Levels,
    Liquidation, MarkPrice, MarketEvent, Trade, TradeSource, Trades, bounded_field, decimal_field,
};
use crate::fixed::{E8, Price, Qty, Rate, RefPrice};
use crate::instrument::{SymbolEntry, SymbolTable};
use crate::json::Val;
use crate::side::Side;

/// The fields of one Binance object that any event type uses. One pass
/// over the object fills the slots; unknown keys are skipped.
#[derive(Default)]
struct Fields<'a> {
    stream: Option<Val<'a>>,
    data: Option<Val<'a>>,
    last_update_id: Option<Val<'a>>,
    bids: Option<Val<'a>>,
    asks: Option<Val<'a>>,
    result: Option<Val<'a>>,
    id: Option<Val<'a>>,
    error: Option<Val<'a>>,
    code: Option<Val<'a>>,
    msg: Option<Val<'a>>,
    e: Option<Val<'a>>,
    big_e: Option<Val<'a>>,
    big_t: Option<Val<'a>>,
    s: Option<Val<'a>>,
    big_s: Option<Val<'a>>,
    big_u: Option<Val<'a>>,
    u: Option<Val<'a>>,
    pu: Option<Val<'a>>,
    b: Option<Val<'a>>,
    big_b: Option<Val<'a>>,
    a: Option<Val<'a>>,
    big_a: Option<Val<'a>>,
    p: Option<Val<'a>>,
    big_p: Option<Val<'a>>,
    q: Option<Val<'a>>,
    t: Option<Val<'a>>,
    m: Option<Val<'a>>,
    big_x: Option<Val<'a>>,
    i: Option<Val<'a>>,
    r: Option<Val<'a>>,
    o: Option<Val<'a>>,
    ap: Option<Val<'a>>,
    z: Option<Val<'a>>,
}

impl<'a> Fields<'a> {
    #[inline]
    fn collect(obj: Val<'a>) -> Result<Self, DecodeError> {
        let obj = obj.as_obj().ok_or(DecodeError::NotAnObject)?;
        let mut f = Fields::default();
        for (key, val) in obj.entries() {
            let slot = match key {
                b"e" => &mut f.e,
                b"E" => &mut f.big_e,
                b"T" => &mut f.big_t,
                b"s" => &mut f.s,
                b"S" => &mut f.big_s,
                b"U" => &mut f.big_u,
                b"u" => &mut f.u,
                b"pu" => &mut f.pu,
                b"b" => &mut f.b,
                b"B" => &mut f.big_b,
                b"a" => &mut f.a,
                b"A" => &mut f.big_a,
                b"p" => &mut f.p,
                b"P" => &mut f.big_p,
                b"q" => &mut f.q,
                b"t" => &mut f.t,
                b"m" => &mut f.m,
                b"X" => &mut f.big_x,
                b"i" => &mut f.i,
                b"r" => &mut f.r,
                b"o" => &mut f.o,
                b"ap" => &mut f.ap,
                b"z" => &mut f.z,
                b"stream" => &mut f.stream,
                b"data" => &mut f.data,
                b"lastUpdateId" => &mut f.last_update_id,
                b"bids" => &mut f.bids,
                b"asks" => &mut f.asks,
                b"result" => &mut f.result,
                b"id" => &mut f.id,
                b"error" => &mut f.error,
                b"code" => &mut f.code,
                b"msg" => &mut f.msg,
                _ => continue,
            };
            *slot = Some(val);
        }
        Ok(f)
    }
}

#[inline]
fn req<'a>(v: Option<Val<'a>>, name: &'static str) -> Result<Val<'a>, DecodeError> {
    v.ok_or(DecodeError::MissingField(name))
}

#[inline]
fn int(v: Option<Val<'_>>, name: &'static str) -> Result<i64, DecodeError> {
    req(v, name)?.as_i64().ok_or(DecodeError::WrongType(name))
}

#[inline]
fn uint(v: Option<Val<'_>>, name: &'static str) -> Result<u64, DecodeError> {
    req(v, name)?.as_u64().ok_or(DecodeError::WrongType(name))
}

#[inline]
fn price(v: Option<Val<'_>>, scale: u8, name: &'static str) -> Result<Price, DecodeError> {
    bounded_field(req(v, name)?, scale, name).map(Price)
}

#[inline]
fn qty(v: Option<Val<'_>>, scale: u8, name: &'static str) -> Result<Qty, DecodeError> {
    bounded_field(req(v, name)?, scale, name).map(Qty)
}

#[inline]
fn ref_price(v: Option<Val<'_>>, name: &'static str) -> Result<RefPrice, DecodeError> {
    decimal_field(req(v, name)?, E8, false, name).map(RefPrice)
}

/// Decodes Binance USDⓈ-M market-data frames for the instruments of a
/// [`SymbolTable`].
#[derive(Debug, Clone)]
pub struct BinanceDecoder {
    symbols: SymbolTable,
    snapshot_inst: Option<InstrumentId>,
}

/// Either a known instrument, or the event to return instead.
enum Lookup<'t> {
    Known(&'t SymbolEntry),
    Unknown,
}

impl BinanceDecoder {
    /// A decoder for these instruments.
    #[must_use]
    pub fn new(symbols: SymbolTable) -> Self {
        Self { symbols, snapshot_inst: None }
    }

    /// The decoder's instruments.
    #[must_use]
    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// The instrument symbol-less snapshots are decoded for.
    #[must_use]
    pub fn snapshot_instrument(&self) -> Option<InstrumentId> {
        self.snapshot_inst
    }

    /// The REST depth snapshot carries no symbol: the caller, who requested
    /// it, says which instrument the next snapshots belong to.
    pub fn set_snapshot_instrument(&mut self, inst: Option<InstrumentId>) {
        self.snapshot_inst = inst;
    }

    fn lookup(&self, s: Option<Val<'_>>) -> Result<Lookup<'_>, DecodeError> {
        let text = req(s, "s")?.as_str().ok_or(DecodeError::WrongType("s"))?;
        Ok(match self.symbols.find(text) {
            Some(entry) => Lookup::Known(entry),
            None => Lookup::Unknown,
        })
    }

    /// Decodes the root value of a frame.
    ///
    /// # Errors
    /// A [`DecodeError`] for a malformed frame; unknown streams, event types
    /// and symbols are `Ok(MarketEvent::Ignored(_))`.
    #[inline]
    pub fn decode<'a>(&self, root: Val<'a>) -> Result<MarketEvent<'a>, DecodeError> {
        let top = Fields::collect(root)?;
        if let Some(data) = top.data {
            if let Some(stream) = top.stream {
                let name = stream.as_str().ok_or(DecodeError::WrongType("stream"))?;
                return self.event(Fields::collect(data)?, DepthStream::of_binance_stream(name));
            }
        }
        if top.e.is_some() {
            return self.event(top, DepthStream::Unnamed);
        }
        if top.last_update_id.is_some() {
            return self.snapshot(&top);
        }
        if let Some(err) = top.error {
            let inner = Fields::collect(err)?;
            return Ok(MarketEvent::Control(Control::VenueError {
                code: int(inner.code, "error.code")?,
                id: top.id.and_then(Val::as_i64),
                msg: inner.msg.and_then(Val::as_str).unwrap_or(b""),
            }));
        }
        if top.result.is_some() && top.id.is_some() {
            return Ok(MarketEvent::Control(Control::SubscribeAck { id: top.id.and_then(Val::as_i64) }));
        }
        if top.code.is_some() && top.msg.is_some() {
            return Ok(MarketEvent::Control(Control::VenueError {
                code: int(top.code, "code")?,
                id: None,
                msg: top.msg.and_then(Val::as_str).ok_or(DecodeError::WrongType("msg"))?,
            }));
        }
        Ok(MarketEvent::Ignored(Ignored::UnknownStream))
    }

    fn snapshot<'a>(&self, f: &Fields<'a>) -> Result<MarketEvent<'a>, DecodeError> {
        let last_id = uint(f.last_update_id, "lastUpdateId")?;
        let Some(inst) = self.snapshot_inst else {
            return Ok(MarketEvent::Ignored(Ignored::UnknownSymbol));
        };
        let Some(entry) = self.symbols.by_id(inst) else {
            return Ok(MarketEvent::Ignored(Ignored::UnknownSymbol));
        };
        Ok(MarketEvent::Snapshot(DepthSnapshot {
            inst,
            last_id,
            seq: 0,
            event_ms: f.big_e.and_then(Val::as_i64).unwrap_or(0),
            transact_ms: f.big_t.and_then(Val::as_i64).unwrap_or(0),
            stream: DepthStream::Unnamed,
            bids: Levels::new(req(f.bids, "bids")?, entry.price_scale, entry.qty_scale, "bids")?,
            asks: Levels::new(req(f.asks, "asks")?, entry.price_scale, entry.qty_scale, "asks")?,
        }))
    }

    #[inline]
    fn event<'a>(&self, f: Fields<'a>, stream: DepthStream) -> Result<MarketEvent<'a>, DecodeError> {
        let kind = req(f.e, "e")?.as_str().ok_or(DecodeError::WrongType("e"))?;
        match kind {
            b"depthUpdate" => {
                let Lookup::Known(sym) = self.lookup(f.s)? else {
                    return Ok(MarketEvent::Ignored(Ignored::UnknownSymbol));
                };
                Ok(MarketEvent::Depth(DepthUpdate {
                    inst: sym.id,
                    event_ms: int(f.big_e, "E")?,
                    transact_ms: int(f.big_t, "T")?,
                    first_id: uint(f.big_u, "U")?,
                    last_id: uint(f.u, "u")?,
                    prev_last_id: uint(f.pu, "pu")?,
                    seq: 0,
                    stream,
                    bids: Levels::new(req(f.b, "b")?, sym.price_scale, sym.qty_scale, "b")?,
                    asks: Levels::new(req(f.a, "a")?, sym.price_scale, sym.qty_scale, "a")?,
                }))
            }
            b"bookTicker" => {
                let Lookup::Known(sym) = self.lookup(f.s)? else {
                    return Ok(MarketEvent::Ignored(Ignored::UnknownSymbol));
                };
                Ok(MarketEvent::BookTicker(BookTicker {
                    inst: sym.id,
                    update_id: uint(f.u, "u")?,
                    event_ms: int(f.big_e, "E")?,
                    transact_ms: int(f.big_t, "T")?,
                    bid_px: price(f.b, sym.price_scale, "b")?,
                    bid_qty: qty(f.big_b, sym.qty_scale, "B")?,
                    ask_px: price(f.a, sym.price_scale, "a")?,
                    ask_qty: qty(f.big_a, sym.qty_scale, "A")?,
                }))
            }
            b"trade" | b"aggTrade" => {
                let Lookup::Known(sym) = self.lookup(f.s)? else {
                    return Ok(MarketEvent::Ignored(Ignored::UnknownSymbol));
                };
                let aggregate = kind == b"aggTrade";
                let source = if aggregate {
                    TradeSource::Aggregate
                } else {
                    match f.big_x.map(|x| x.as_str().ok_or(DecodeError::WrongType("X"))).transpose()? {
                        None => TradeSource::Market,
                        Some(x) => TradeSource::from_binance_x(x),
                    }
                };
                let buyer_is_maker = req(f.m, "m")?.as_bool().ok_or(DecodeError::WrongType("m"))?;
                let trade = Trade {
                    inst: sym.id,
                    id: if aggregate { uint(f.a, "a")? } else { uint(f.t, "t")? },
                    trade_ms: int(f.big_t, "T")?,
                    event_ms: int(f.big_e, "E")?,
                    price: price(f.p, sym.price_scale, "p")?,
                    qty: qty(f.q, sym.qty_scale, "q")?,
                    taker_side: if buyer_is_maker { Side::Sell } else { Side::Buy },
                    source,
                };
                Ok(MarketEvent::Trades(Trades::one(trade)))
            }
            b"markPriceUpdate" => {
                let Lookup::Known(sym) = self.lookup(f.s)? else {
                    return Ok(MarketEvent::Ignored(Ignored::UnknownSymbol));
                };
                Ok(MarketEvent::MarkPrice(MarkPrice {
                    inst: sym.id,
                    event_ms: int(f.big_e, "E")?,
                    mark: ref_price(f.p, "p")?,
                    index: ref_price(f.i, "i")?,
                    est_settle: ref_price(f.big_p, "P")?,
                    funding_rate: decimal_field(req(f.r, "r")?, E8, true, "r").map(Rate)?,
                    next_funding_ms: int(f.big_t, "T")?,
                }))
            }
            b"forceOrder" => {
                let event_ms = int(f.big_e, "E")?;
                let o = Fields::collect(req(f.o, "o")?).map_err(|_| DecodeError::WrongType("o"))?;
                let Lookup::Known(sym) = self.lookup(o.s)? else {
                    return Ok(MarketEvent::Ignored(Ignored::UnknownSymbol));
                };
                let order_side = match req(o.big_s, "o.S")?.as_str().ok_or(DecodeError::WrongType("o.S"))? {
                    b"BUY" => Side::Buy,
                    b"SELL" => Side::Sell,
                    _ => return Err(DecodeError::BadEnum("o.S")),
                };
                let _ = event_ms;
                Ok(MarketEvent::Liquidations(crate::event::Liquidations::one(Liquidation {
                    inst: sym.id,
                    // A SELL liquidation order closes a long position.
                    position_side: order_side.opposite(),
                    price: price(o.p, sym.price_scale, "o.p")?,
                    avg_price: Some(ref_price(o.ap, "o.ap")?),
                    qty: qty(o.q, sym.qty_scale, "o.q")?,
                    filled_qty: Some(qty(o.z, sym.qty_scale, "o.z")?),
                    ts_ms: int(o.big_t, "o.T")?,
                })))
            }
            _ => Ok(MarketEvent::Ignored(Ignored::UnknownEvent)),
        }
    }
}
