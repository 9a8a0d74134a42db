//! Templates for the hot Binance frames, in the exact layout the venue
//! sends (combined-stream envelope or raw):
//!
//! ```text
//! {"stream":"…","data":{"e":"depthUpdate","E":…,"T":…,"s":"…","U":…,"u":…,"pu":…,"b":[…],"a":[…]}}
//! {"stream":"…","data":{"e":"bookTicker","u":…,"s":"…","b":"…","B":"…","a":"…","A":"…","T":…,"E":…}}
//! {"stream":"…","data":{"e":"trade","E":…,"T":…,"s":"…","t":…,"p":"…","q":"…","X":"…","m":…}}
//! {"stream":"…","data":{"e":"aggTrade","E":…,"a":…,"s":"…","p":"…","q":"…","f":…,"l":…,"T":…,"m":…}}
//! ```
//!
//! Any deviation returns `None` and the frame takes the generic path (see
//! [`crate::json::template`]); the decoder tests check that both paths give
//! identical events on every real frame and on mutated ones.

use crate::event::{BookTicker, DepthStream, DepthUpdate, Levels, MarketEvent, Trade, TradeSource, Trades};
use crate::fixed::{Price, Qty, parse_bounded};
use crate::instrument::{SymbolEntry, SymbolTable};
use crate::json::levels::LevelIndex;
use crate::json::template::Cursor;
use crate::side::Side;

#[inline]
fn symbol<'t>(c: &mut Cursor<'_>, symbols: &'t SymbolTable) -> Option<&'t SymbolEntry> {
    symbols.find(c.string()?)
}

#[inline]
fn price(c: &mut Cursor<'_>, sym: &SymbolEntry) -> Option<Price> {
    parse_bounded(c.string()?, sym.price_scale).ok().map(Price)
}

#[inline]
fn qty(c: &mut Cursor<'_>, sym: &SymbolEntry) -> Option<Qty> {
    parse_bounded(c.string()?, sym.qty_scale).ok().map(Qty)
}

/// Decodes `frame` if it has one of the template layouts.
#[inline]
pub fn decode<'a>(frame: &'a [u8], symbols: &SymbolTable, index: &'a mut LevelIndex) -> Option<MarketEvent<'a>> {
    index.clear();
    let mut c = Cursor::new(frame);
    let enveloped = c.try_lit(b"{\"stream\":");
    let mut stream_name: &[u8] = b"";
    if enveloped {
        stream_name = c.string()?;
        c.lit(b",\"data\":")?;
    }
    c.lit(b"{\"e\":\"")?;
    let event = match c.peek()? {
        b'd' => {
            c.lit(b"depthUpdate\",\"E\":")?;
            let event_ms = c.int()?;
            c.lit(b",\"T\":")?;
            let transact_ms = c.int()?;
            c.lit(b",\"s\":")?;
            let sym = symbol(&mut c, symbols)?;
            c.lit(b",\"U\":")?;
            let first_id = c.uint()?;
            c.lit(b",\"u\":")?;
            let last_id = c.uint()?;
            c.lit(b",\"pu\":")?;
            let prev_last_id = c.uint()?;
            c.lit(b",\"b\":")?;
            let (b0, b1) = c.indexed_levels(index, sym.price_scale, sym.qty_scale)?;
            c.lit(b",\"a\":")?;
            let (a0, a1) = c.indexed_levels(index, sym.price_scale, sym.qty_scale)?;
            let index: &'a LevelIndex = index;
            MarketEvent::Depth(DepthUpdate {
                inst: sym.id,
                event_ms,
                transact_ms,
                first_id,
                last_id,
                prev_last_id,
                seq: 0,
                stream: if enveloped { DepthStream::of_binance_stream(stream_name) } else { DepthStream::Unnamed },
                bids: Levels::parsed(index.range(b0, b1), sym.price_scale, sym.qty_scale),
                asks: Levels::parsed(index.range(a0, a1), sym.price_scale, sym.qty_scale),
            })
        }
        b'b' => {
            c.lit(b"bookTicker\",\"u\":")?;
            let update_id = c.uint()?;
            c.lit(b",\"s\":")?;
            let sym = symbol(&mut c, symbols)?;
            c.lit(b",\"b\":")?;
            let bid_px = price(&mut c, sym)?;
            c.lit(b",\"B\":")?;
            let bid_qty = qty(&mut c, sym)?;
            c.lit(b",\"a\":")?;
            let ask_px = price(&mut c, sym)?;
            c.lit(b",\"A\":")?;
            let ask_qty = qty(&mut c, sym)?;
            c.lit(b",\"T\":")?;
            let transact_ms = c.int()?;
            c.lit(b",\"E\":")?;
            let event_ms = c.int()?;
            MarketEvent::BookTicker(BookTicker {
                inst: sym.id,
                update_id,
                event_ms,
                transact_ms,
                bid_px,
                bid_qty,
                ask_px,
                ask_qty,
            })
        }
        b't' => {
            c.lit(b"trade\",\"E\":")?;
            let event_ms = c.int()?;
            c.lit(b",\"T\":")?;
            let trade_ms = c.int()?;
            c.lit(b",\"s\":")?;
            let sym = symbol(&mut c, symbols)?;
            c.lit(b",\"t\":")?;
            let id = c.uint()?;
            c.lit(b",\"p\":")?;
            let price = price(&mut c, sym)?;
            c.lit(b",\"q\":")?;
            let qty = qty(&mut c, sym)?;
            c.lit(b",\"X\":")?;
            let source = TradeSource::from_binance_x(c.string()?);
            c.lit(b",\"m\":")?;
            let buyer_is_maker = c.bool()?;
            MarketEvent::Trades(Trades::one(Trade {
                inst: sym.id,
                id,
                trade_ms,
                event_ms,
                price,
                qty,
                taker_side: if buyer_is_maker { Side::Sell } else { Side::Buy },
                source,
            }))
        }
        b'a' => {
            c.lit(b"aggTrade\",\"E\":")?;
            let event_ms = c.int()?;
            c.lit(b",\"a\":")?;
            let id = c.uint()?;
            c.lit(b",\"s\":")?;
            let sym = symbol(&mut c, symbols)?;
            c.lit(b",\"p\":")?;
            let price = price(&mut c, sym)?;
            c.lit(b",\"q\":")?;
            let qty = qty(&mut c, sym)?;
            c.lit(b",\"f\":")?;
            c.int()?;
            c.lit(b",\"l\":")?;
            c.int()?;
            c.lit(b",\"T\":")?;
            let trade_ms = c.int()?;
            c.lit(b",\"m\":")?;
            let buyer_is_maker = c.bool()?;
            MarketEvent::Trades(Trades::one(Trade {
                inst: sym.id,
                id,
                trade_ms,
                event_ms,
                price,
                qty,
                taker_side: if buyer_is_maker { Side::Sell } else { Side::Buy },
                source: TradeSource::Aggregate,
            }))
        }
        _ => return None,
    };
    c.lit(b"}")?;
    if enveloped {
        c.lit(b"}")?;
    }
    c.at_end().then_some(event)
}
