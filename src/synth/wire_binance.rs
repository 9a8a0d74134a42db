//! Binance USDⓈ-M market-data frames, byte for byte in the layout the venue
//! sends on a combined stream (`/stream?streams=…`), plus the REST depth
//! snapshot body.
//!
//! Layouts, from the real recording `binance-usdm/btcusdt_20240808.gz`
//! (depth, bookTicker, trade, snapshot) and the venue's documentation
//! (<https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Mark-Price-Stream>
//! for `markPriceUpdate`, absent from the recording):
//!
//! ```text
//! {"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":…,"T":…,"s":"BTCUSDT","U":…,"u":…,"pu":…,"b":[["61800.20","2.909"],…],"a":[…]}}
//! {"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":…,"s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510","T":…,"E":…}}
//! {"stream":"btcusdt@trade","data":{"e":"trade","E":…,"T":…,"s":"BTCUSDT","t":…,"p":"61800.30","q":"0.006","X":"MARKET","m":false}}
//! {"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":…,"s":"BTCUSDT","p":"61800.25000000","i":"…","P":"…","r":"0.00010000","T":…}}
//! {"lastUpdateId":…,"E":…,"T":…,"bids":[[…],…],"asks":[[…],…]}
//! ```
//!
//! Prices and quantities carry exactly the instrument's decimals (a deleted
//! level is `"0.000"`); diff levels are in ascending price order on both
//! sides, snapshot levels best first; mark, index, settlement price and
//! funding rate have 8 decimals. Every writer appends to the caller's
//! buffer and allocates nothing once it has grown.

use super::wire_text::{DeletedQty, push_fixed, push_int_field, push_levels, push_quoted_fixed, push_u64};
use crate::fixed::E8;
use crate::instrument::Instrument;

/// Frame writer for one Binance instrument.
#[derive(Debug, Clone)]
pub struct BinanceWire {
    symbol: Vec<u8>,
    stream: Vec<u8>,
    price_scale: u8,
    qty_scale: u8,
}

impl BinanceWire {
    /// A writer for `instrument`.
    #[must_use]
    pub fn new(instrument: &Instrument) -> Self {
        Self {
            symbol: instrument.symbol.as_bytes().to_vec(),
            stream: instrument.symbol.as_bytes().to_ascii_lowercase(),
            price_scale: instrument.price_scale,
            qty_scale: instrument.qty_scale,
        }
    }

    fn envelope(&self, out: &mut Vec<u8>, stream: &[u8], event: &[u8]) {
        out.extend_from_slice(b"{\"stream\":\"");
        out.extend_from_slice(&self.stream);
        out.extend_from_slice(stream);
        out.extend_from_slice(b"\",\"data\":{\"e\":\"");
        out.extend_from_slice(event);
        out.push(b'"');
    }

    fn symbol_field(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b",\"s\":\"");
        out.extend_from_slice(&self.symbol);
        out.push(b'"');
    }

    fn levels(&self, out: &mut Vec<u8>, levels: impl IntoIterator<Item = (i64, i64)>) {
        push_levels(out, levels, self.price_scale, self.qty_scale, DeletedQty::Padded);
    }

    /// A `depthUpdate` (`btcusdt@depth@0ms`): levels as (price, qty)
    /// mantissas, ascending price, qty 0 for a deleted level.
    #[allow(clippy::too_many_arguments)]
    pub fn depth_update(
        &self,
        out: &mut Vec<u8>,
        event_ms: i64,
        transact_ms: i64,
        first_id: u64,
        last_id: u64,
        prev_last_id: u64,
        bids: &[(i64, i64)],
        asks: &[(i64, i64)],
    ) {
        self.envelope(out, b"@depth@0ms", b"depthUpdate");
        push_int_field(out, b"E", event_ms);
        push_int_field(out, b"T", transact_ms);
        self.symbol_field(out);
        out.extend_from_slice(b",\"U\":");
        push_u64(out, first_id);
        out.extend_from_slice(b",\"u\":");
        push_u64(out, last_id);
        out.extend_from_slice(b",\"pu\":");
        push_u64(out, prev_last_id);
        out.extend_from_slice(b",\"b\":");
        self.levels(out, bids.iter().copied());
        out.extend_from_slice(b",\"a\":");
        self.levels(out, asks.iter().copied());
        out.extend_from_slice(b"}}");
    }

    /// A `bookTicker`: best bid and ask as (price, qty) mantissas.
    pub fn book_ticker(
        &self,
        out: &mut Vec<u8>,
        update_id: u64,
        event_ms: i64,
        transact_ms: i64,
        bid: (i64, i64),
        ask: (i64, i64),
    ) {
        self.envelope(out, b"@bookTicker", b"bookTicker");
        out.extend_from_slice(b",\"u\":");
        push_u64(out, update_id);
        self.symbol_field(out);
        out.extend_from_slice(b",\"b\":");
        push_quoted_fixed(out, bid.0, self.price_scale);
        out.extend_from_slice(b",\"B\":");
        push_quoted_fixed(out, bid.1, self.qty_scale);
        out.extend_from_slice(b",\"a\":");
        push_quoted_fixed(out, ask.0, self.price_scale);
        out.extend_from_slice(b",\"A\":");
        push_quoted_fixed(out, ask.1, self.qty_scale);
        push_int_field(out, b"T", transact_ms);
        push_int_field(out, b"E", event_ms);
        out.extend_from_slice(b"}}");
    }

    /// A `trade` print; `buyer_is_maker` is `true` when the taker sold.
    #[allow(clippy::too_many_arguments)]
    pub fn trade(
        &self,
        out: &mut Vec<u8>,
        event_ms: i64,
        trade_ms: i64,
        trade_id: u64,
        price: i64,
        qty: i64,
        buyer_is_maker: bool,
    ) {
        self.envelope(out, b"@trade", b"trade");
        push_int_field(out, b"E", event_ms);
        push_int_field(out, b"T", trade_ms);
        self.symbol_field(out);
        out.extend_from_slice(b",\"t\":");
        push_u64(out, trade_id);
        out.extend_from_slice(b",\"p\":");
        push_quoted_fixed(out, price, self.price_scale);
        out.extend_from_slice(b",\"q\":");
        push_quoted_fixed(out, qty, self.qty_scale);
        out.extend_from_slice(b",\"X\":\"MARKET\",\"m\":");
        out.extend_from_slice(if buyer_is_maker { b"true" } else { b"false" });
        out.extend_from_slice(b"}}");
    }

    /// A `markPriceUpdate` (`btcusdt@markPrice@1s`); prices and rate are
    /// 1e-8 mantissas.
    #[allow(clippy::too_many_arguments)]
    pub fn mark_price(
        &self,
        out: &mut Vec<u8>,
        event_ms: i64,
        mark_e8: i64,
        index_e8: i64,
        settle_e8: i64,
        rate_e8: i64,
        next_funding_ms: i64,
    ) {
        self.envelope(out, b"@markPrice@1s", b"markPriceUpdate");
        push_int_field(out, b"E", event_ms);
        self.symbol_field(out);
        for (key, value) in
            [(&b",\"p\":\""[..], mark_e8), (b",\"i\":\"", index_e8), (b",\"P\":\"", settle_e8), (b",\"r\":\"", rate_e8)]
        {
            out.extend_from_slice(key);
            push_fixed(out, value, E8);
            out.push(b'"');
        }
        push_int_field(out, b"T", next_funding_ms);
        out.extend_from_slice(b"}}");
    }

    /// The body of `GET /fapi/v1/depth`: levels best first.
    pub fn depth_snapshot(
        &self,
        out: &mut Vec<u8>,
        last_update_id: u64,
        event_ms: i64,
        transact_ms: i64,
        bids: impl IntoIterator<Item = (i64, i64)>,
        asks: impl IntoIterator<Item = (i64, i64)>,
    ) {
        out.extend_from_slice(b"{\"lastUpdateId\":");
        push_u64(out, last_update_id);
        push_int_field(out, b"E", event_ms);
        push_int_field(out, b"T", transact_ms);
        out.extend_from_slice(b",\"bids\":");
        self.levels(out, bids);
        out.extend_from_slice(b",\"asks\":");
        self.levels(out, asks);
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::Symbol;
    use crate::venue::Venue;

    fn wire() -> BinanceWire {
        let table = crate::instrument::InstrumentTable::built_in().unwrap();
        BinanceWire::new(table.get(Venue::BinanceUsdm, &"BTCUSDT".parse::<Symbol>().unwrap()).unwrap())
    }

    /// Byte-for-byte agreement with every bookTicker, trade, diff and the
    /// snapshot of the real recording is checked in place by
    /// `tests/synth_wire_real.rs`; markPrice is not in the recording, so
    /// its layout is checked against the venue documentation's example.
    #[test]
    fn writes_the_documented_mark_price_example() {
        let w = wire();
        let mut out = Vec::new();
        // The documentation's example values.
        w.mark_price(
            &mut out,
            1562305380000,
            1_179_415_000_000,
            1_178_462_659_091,
            1_178_425_641_265,
            38_167,
            1562306400000,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15000000","i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000}}"#
        );
    }
}
