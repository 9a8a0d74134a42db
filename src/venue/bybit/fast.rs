//! Templates for the hot Bybit frames, in the exact layout the venue sends:
//!
//! ```text
//! {"topic":"orderbook.N.SYM","type":"delta"|"snapshot","ts":…,"data":{"s":"…","b":[…],"a":[…],"u":…,"seq":…},"cts":…}
//! {"topic":"tickers.SYM","type":"delta"|"snapshot","data":{"symbol":"…", "<key>":"<text>", …},"cs":…,"ts":…}
//! {"topic":"publicTrade.SYM","type":"snapshot","ts":…,"data":[{"T":…,"s":"…","S":"Buy"|"Sell","v":"…","p":"…","L":"…","i":"…","BT":…,"RPI":…,"seq":…},…]}
//! ```
//!
//! In a trade, `L` (tick direction) and `RPI` (retail price improvement)
//! may be absent, as in older recordings; the other keys are required in
//! this order.
//!
//! Ticker `data` holds a varying set of string fields; the template reads
//! them in one pass and skips the ones it does not use. Any deviation
//! returns `None` and the frame takes the generic path (see
//! [`crate::json::template`]).

use crate::event::{
    BatchContext, DepthSnapshot, DepthStream, DepthUpdate, Levels, MarketEvent, Ticker, Trade, TradeSource, Trades,
};
use crate::fixed::{E8, Price, Qty, Rate, RefPrice, parse_bounded, parse_decimal};
use crate::instrument::SymbolTable;
use crate::json::levels::LevelIndex;
use crate::json::template::Cursor;
use crate::side::Side;

/// Decodes `frame` if it has one of the template layouts.
#[inline]
pub fn decode<'a>(frame: &'a [u8], symbols: &SymbolTable, index: &'a mut LevelIndex) -> Option<MarketEvent<'a>> {
    index.clear();
    let mut c = Cursor::new(frame);
    c.lit(b"{\"topic\":\"")?;
    match c.peek()? {
        b'o' => book(c, symbols, index),
        b't' => ticker(c, symbols),
        b'p' => trades(c, symbols),
        _ => None,
    }
}

fn kind(c: &mut Cursor<'_>) -> Option<bool> {
    c.lit(b",\"type\":\"")?;
    if c.try_lit(b"delta\"") {
        Some(false)
    } else if c.try_lit(b"snapshot\"") {
        Some(true)
    } else {
        None
    }
}

#[inline]
fn book<'a>(mut c: Cursor<'a>, symbols: &SymbolTable, index: &'a mut LevelIndex) -> Option<MarketEvent<'a>> {
    c.lit(b"orderbook.")?;
    // Depth digits, a dot, then the symbol up to the closing quote.
    let digits_from = c.doc().len() - c.rest_len();
    c.skip_digits();
    let stream = DepthStream::of_bybit_depth(&c.doc()[digits_from..c.doc().len() - c.rest_len()]);
    c.lit(b".")?;
    let topic_symbol = c.string_rest()?;
    let is_snapshot = kind(&mut c)?;
    c.lit(b",\"ts\":")?;
    let ts = c.int()?;
    c.lit(b",\"data\":{\"s\":")?;
    let s = c.string()?;
    let sym = symbols.find(topic_symbol)?;
    if s != topic_symbol {
        return None;
    }
    c.lit(b",\"b\":")?;
    let (b0, b1) = c.indexed_levels(index, sym.price_scale, sym.qty_scale)?;
    c.lit(b",\"a\":")?;
    let (a0, a1) = c.indexed_levels(index, sym.price_scale, sym.qty_scale)?;
    c.lit(b",\"u\":")?;
    let u = c.uint()?;
    c.lit(b",\"seq\":")?;
    let seq = c.uint()?;
    c.lit(b"},\"cts\":")?;
    let cts = c.int()?;
    c.lit(b"}")?;
    if !c.at_end() {
        return None;
    }
    let index: &'a LevelIndex = index;
    let bids = Levels::parsed(index.range(b0, b1), sym.price_scale, sym.qty_scale);
    let asks = Levels::parsed(index.range(a0, a1), sym.price_scale, sym.qty_scale);
    Some(if is_snapshot {
        MarketEvent::Snapshot(DepthSnapshot {
            inst: sym.id,
            last_id: u,
            seq,
            event_ms: ts,
            transact_ms: cts,
            stream,
            bids,
            asks,
        })
    } else {
        MarketEvent::Depth(DepthUpdate {
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
        })
    })
}

#[inline]
fn ticker<'a>(mut c: Cursor<'a>, symbols: &SymbolTable) -> Option<MarketEvent<'a>> {
    c.lit(b"tickers.")?;
    let topic_symbol = c.string_rest()?;
    let sym = symbols.find(topic_symbol)?;
    let is_snapshot = kind(&mut c)?;
    c.lit(b",\"data\":{\"symbol\":")?;
    if c.string()? != topic_symbol {
        return None;
    }
    let (ps, qs) = (sym.price_scale, sym.qty_scale);
    let mut t = Ticker {
        inst: sym.id,
        is_snapshot,
        ts_ms: 0,
        cs: 0,
        last_price: None,
        mark: None,
        index: None,
        funding_rate: None,
        next_funding_ms: None,
        open_interest: None,
        bid_px: None,
        bid_qty: None,
        ask_px: None,
        ask_qty: None,
    };
    while c.try_lit(b",\"") {
        let key = c.string_rest()?;
        c.lit(b":")?;
        if c.peek()? != b'"' {
            // Every ticker field is a string; anything else is unusual.
            return None;
        }
        let text = c.string()?;
        let dec = |scale: u8, signed: bool| parse_decimal(text, scale, signed).ok();
        let bounded = |scale: u8| parse_bounded(text, scale).ok();
        match key {
            b"bid1Price" => t.bid_px = Some(Price(bounded(ps)?)),
            b"bid1Size" => t.bid_qty = Some(Qty(bounded(qs)?)),
            b"ask1Price" => t.ask_px = Some(Price(bounded(ps)?)),
            b"ask1Size" => t.ask_qty = Some(Qty(bounded(qs)?)),
            b"lastPrice" => t.last_price = Some(Price(bounded(ps)?)),
            b"markPrice" => t.mark = Some(RefPrice(dec(E8, false)?)),
            b"indexPrice" => t.index = Some(RefPrice(dec(E8, false)?)),
            b"fundingRate" => t.funding_rate = Some(Rate(dec(E8, true)?)),
            b"openInterest" => t.open_interest = Some(Qty(bounded(qs)?)),
            b"nextFundingTime" => t.next_funding_ms = Some(dec(0, true)?),
            // Duplicated keys would need the generic path's last-wins rule.
            b"symbol" => return None,
            _ => {}
        }
    }
    c.lit(b"},\"cs\":")?;
    t.cs = c.uint()?;
    c.lit(b",\"ts\":")?;
    t.ts_ms = c.int()?;
    c.lit(b"}")?;
    c.at_end().then_some(MarketEvent::Ticker(t))
}

#[inline]
fn trades<'a>(mut c: Cursor<'a>, symbols: &SymbolTable) -> Option<MarketEvent<'a>> {
    c.lit(b"publicTrade.")?;
    let topic_symbol = c.string_rest()?;
    let sym = symbols.find(topic_symbol)?;
    c.lit(b",\"type\":\"snapshot\",\"ts\":")?;
    let event_ms = c.int()?;
    c.lit(b",\"data\":[")?;
    let ctx = BatchContext {
        inst: sym.id,
        symbol: sym.symbol,
        price_scale: sym.price_scale,
        qty_scale: sym.qty_scale,
        event_ms,
    };
    let batch = Trades::checked_by_template(&mut c, ctx, trade)?;
    c.lit(b"}")?;
    c.at_end().then_some(MarketEvent::Trades(batch))
}

/// One element of `publicTrade` `data`, in the layout of the module docs.
#[inline]
fn trade(c: &mut Cursor<'_>, ctx: &BatchContext) -> Option<Trade> {
    c.lit(b"{\"T\":")?;
    let trade_ms = c.int()?;
    c.lit(b",\"s\":")?;
    if c.string()? != ctx.symbol.as_bytes() {
        return None;
    }
    c.lit(b",\"S\":\"")?;
    let taker_side = if c.try_lit(b"Buy\"") {
        Side::Buy
    } else if c.try_lit(b"Sell\"") {
        Side::Sell
    } else {
        return None;
    };
    c.lit(b",\"v\":")?;
    let qty = Qty(parse_bounded(c.string()?, ctx.qty_scale).ok()?);
    c.lit(b",\"p\":")?;
    let price = Price(parse_bounded(c.string()?, ctx.price_scale).ok()?);
    if c.try_lit(b",\"L\":") {
        c.string()?;
    }
    c.lit(b",\"i\":")?;
    c.string()?;
    c.lit(b",\"BT\":")?;
    let source = if c.bool()? { TradeSource::Block } else { TradeSource::Market };
    if c.try_lit(b",\"RPI\":") {
        c.bool()?;
    }
    c.lit(b",\"seq\":")?;
    let id = c.uint()?;
    c.lit(b"}")?;
    Some(Trade { inst: ctx.inst, id, trade_ms, event_ms: ctx.event_ms, price, qty, taker_side, source })
}
