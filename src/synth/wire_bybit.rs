//! Bybit v5 public linear frames, byte for byte in the layout the venue
//! sends on `wss://stream.bybit.com/v5/public/linear`.
//!
//! Layouts from the real recordings `bybit-linear/{btc,eth}usdt_20260809.gz`
//! and the venue's documentation
//! (<https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook>,
//! `…/public/trade`, `…/public/ticker`):
//!
//! ```text
//! {"topic":"orderbook.200.BTCUSDT","type":"snapshot","ts":…,"data":{"s":"BTCUSDT","b":[["65114.20","6.054"],…],"a":[…],"u":…,"seq":…},"cts":…}
//! {"topic":"orderbook.200.BTCUSDT","type":"delta","ts":…,"data":{"s":"BTCUSDT","b":[["65093.10","0"],…],"a":[…],"u":…,"seq":…},"cts":…}
//! {"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":…,"data":[{"T":…,"s":"BTCUSDT","S":"Sell","v":"0.004","p":"65114.20","L":"MinusTick","i":"a9188a0a-82bc-50de-be60-03eedbe3cdd7","BT":false,"RPI":false,"seq":…},…]}
//! {"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","tickDirection":…,…,"curPreListingPhase":""},"cs":…,"ts":…}
//! {"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","bid1Price":"65114.20","bid1Size":"6.054"},"cs":…,"ts":…}
//! ```
//!
//! Book levels are best first (bids descending, asks ascending); a deleted
//! level's quantity is a bare `"0"`. Ticker deltas carry only the fields
//! that changed, in the order the recordings show: `symbol, tickDirection,
//! price24hPcnt, lastPrice, prevPrice24h, prevPrice1h, markPrice,
//! indexPrice, openInterest, openInterestValue, turnover24h, volume24h,
//! [nextFundingTime, fundingRate — never seen in a delta, placed here],
//! bid1Price, bid1Size, ask1Price, ask1Size, singleOpenInterest,
//! singleOpenInterestValue`.

use super::wire_text::{DeletedQty, push_canonical, push_i64, push_levels, push_quoted_fixed, push_u64};
use crate::fixed::E8;
use crate::instrument::Instrument;
use crate::side::Side;

/// Bybit's `tickDirection` / trade `L`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickDirection {
    /// Price up.
    PlusTick,
    /// Same price, last change was up.
    ZeroPlusTick,
    /// Price down.
    MinusTick,
    /// Same price, last change was down.
    ZeroMinusTick,
}

impl TickDirection {
    /// The direction of a trade at `price` after one at `last` whose
    /// direction was `self`.
    #[must_use]
    pub fn next(self, last: i64, price: i64) -> Self {
        match price.cmp(&last) {
            std::cmp::Ordering::Greater => Self::PlusTick,
            std::cmp::Ordering::Less => Self::MinusTick,
            std::cmp::Ordering::Equal => match self {
                Self::PlusTick | Self::ZeroPlusTick => Self::ZeroPlusTick,
                Self::MinusTick | Self::ZeroMinusTick => Self::ZeroMinusTick,
            },
        }
    }

    fn text(self) -> &'static [u8] {
        match self {
            Self::PlusTick => b"PlusTick",
            Self::ZeroPlusTick => b"ZeroPlusTick",
            Self::MinusTick => b"MinusTick",
            Self::ZeroMinusTick => b"ZeroMinusTick",
        }
    }
}

/// One element of a `publicTrade` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradePrint {
    /// Price mantissa.
    pub price: i64,
    /// Quantity mantissa.
    pub qty: i64,
    /// Tick direction after this print.
    pub direction: TickDirection,
    /// Trade id, a UUID in its 36-character text form.
    pub id: [u8; 36],
}

/// Everything a `tickers` message can carry. Prices at the instrument's
/// price scale, quantities at its quantity scale; the rest as named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickerState {
    /// `tickDirection`.
    pub tick_direction: TickDirection,
    /// `price24hPcnt`, 1e-6 units (6 decimals, signed).
    pub pcnt_e6: i64,
    /// `lastPrice`.
    pub last: i64,
    /// `prevPrice24h`.
    pub prev_24h: i64,
    /// `highPrice24h`.
    pub high_24h: i64,
    /// `lowPrice24h`.
    pub low_24h: i64,
    /// `prevPrice1h`.
    pub prev_1h: i64,
    /// `markPrice` (at the price scale).
    pub mark: i64,
    /// `indexPrice` (at the price scale).
    pub index: i64,
    /// `openInterest`.
    pub open_interest: i64,
    /// `openInterestValue`, 1e-2 USDT.
    pub oi_value_e2: i64,
    /// `turnover24h`, 1e-4 USDT.
    pub turnover_e4: i64,
    /// `volume24h`, 1e-4 base units.
    pub volume_e4: i64,
    /// `nextFundingTime`, ms.
    pub next_funding_ms: i64,
    /// `fundingRate`, 1e-8 units.
    pub funding_rate_e8: i64,
    /// `bid1Price`, `bid1Size`.
    pub bid: (i64, i64),
    /// `ask1Price`, `ask1Size`.
    pub ask: (i64, i64),
}

/// Bit flags naming the ticker fields that changed.
pub mod changed {
    /// `tickDirection`.
    pub const TICK_DIRECTION: u32 = 1 << 0;
    /// `price24hPcnt`.
    pub const PCNT: u32 = 1 << 1;
    /// `lastPrice`.
    pub const LAST: u32 = 1 << 2;
    /// `prevPrice24h`.
    pub const PREV_24H: u32 = 1 << 3;
    /// `prevPrice1h`.
    pub const PREV_1H: u32 = 1 << 4;
    /// `markPrice`.
    pub const MARK: u32 = 1 << 5;
    /// `indexPrice`.
    pub const INDEX: u32 = 1 << 6;
    /// `openInterest` (and `singleOpenInterest`).
    pub const OPEN_INTEREST: u32 = 1 << 7;
    /// `openInterestValue` (and `singleOpenInterestValue`).
    pub const OI_VALUE: u32 = 1 << 8;
    /// `turnover24h` and `volume24h`.
    pub const VOLUME: u32 = 1 << 9;
    /// `nextFundingTime` and `fundingRate`.
    pub const FUNDING: u32 = 1 << 10;
    /// `bid1Price` and `bid1Size`.
    pub const BID: u32 = 1 << 11;
    /// `ask1Price` and `ask1Size`.
    pub const ASK: u32 = 1 << 12;
}

/// Frame writer for one Bybit instrument.
#[derive(Debug, Clone)]
pub struct BybitWire {
    symbol: Vec<u8>,
    price_scale: u8,
    qty_scale: u8,
}

impl BybitWire {
    /// A writer for `instrument`.
    #[must_use]
    pub fn new(instrument: &Instrument) -> Self {
        Self {
            symbol: instrument.symbol.as_bytes().to_vec(),
            price_scale: instrument.price_scale,
            qty_scale: instrument.qty_scale,
        }
    }

    fn book_levels(&self, out: &mut Vec<u8>, levels: impl IntoIterator<Item = (i64, i64)>) {
        push_levels(out, levels, self.price_scale, self.qty_scale, DeletedQty::Bare);
    }

    /// An `orderbook.200` snapshot or delta; levels best first as (price,
    /// qty) mantissas, qty 0 for a deleted level.
    #[allow(clippy::too_many_arguments)]
    pub fn orderbook(
        &self,
        out: &mut Vec<u8>,
        snapshot: bool,
        ts_ms: i64,
        cts_ms: i64,
        update_id: u64,
        seq: u64,
        bids: impl IntoIterator<Item = (i64, i64)>,
        asks: impl IntoIterator<Item = (i64, i64)>,
    ) {
        out.extend_from_slice(b"{\"topic\":\"orderbook.200.");
        out.extend_from_slice(&self.symbol);
        out.extend_from_slice(if snapshot {
            b"\",\"type\":\"snapshot\",\"ts\":"
        } else {
            b"\",\"type\":\"delta\",\"ts\":"
        });
        push_i64(out, ts_ms);
        out.extend_from_slice(b",\"data\":{\"s\":\"");
        out.extend_from_slice(&self.symbol);
        out.extend_from_slice(b"\",\"b\":");
        self.book_levels(out, bids);
        out.extend_from_slice(b",\"a\":");
        self.book_levels(out, asks);
        out.extend_from_slice(b",\"u\":");
        push_u64(out, update_id);
        out.extend_from_slice(b",\"seq\":");
        push_u64(out, seq);
        out.extend_from_slice(b"},\"cts\":");
        push_i64(out, cts_ms);
        out.push(b'}');
    }

    /// A `publicTrade` message: the prints of one taker order.
    pub fn public_trade(
        &self,
        out: &mut Vec<u8>,
        ts_ms: i64,
        trade_ms: i64,
        taker: Side,
        seq: u64,
        prints: &[TradePrint],
    ) {
        out.extend_from_slice(b"{\"topic\":\"publicTrade.");
        out.extend_from_slice(&self.symbol);
        out.extend_from_slice(b"\",\"type\":\"snapshot\",\"ts\":");
        push_i64(out, ts_ms);
        out.extend_from_slice(b",\"data\":[");
        for (i, p) in prints.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"T\":");
            push_i64(out, trade_ms);
            out.extend_from_slice(b",\"s\":\"");
            out.extend_from_slice(&self.symbol);
            out.extend_from_slice(match taker {
                Side::Buy => b"\",\"S\":\"Buy\",\"v\":",
                Side::Sell => b"\",\"S\":\"Sell\",\"v\":",
            });
            push_quoted_fixed(out, p.qty, self.qty_scale);
            out.extend_from_slice(b",\"p\":");
            push_quoted_fixed(out, p.price, self.price_scale);
            out.extend_from_slice(b",\"L\":\"");
            out.extend_from_slice(p.direction.text());
            out.extend_from_slice(b"\",\"i\":\"");
            out.extend_from_slice(&p.id);
            out.extend_from_slice(b"\",\"BT\":false,\"RPI\":false,\"seq\":");
            push_u64(out, seq);
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
    }

    fn field(&self, out: &mut Vec<u8>, key: &[u8]) {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key);
        out.extend_from_slice(b"\":");
    }

    fn price_field(&self, out: &mut Vec<u8>, key: &[u8], v: i64) {
        self.field(out, key);
        push_quoted_fixed(out, v, self.price_scale);
    }

    fn qty_field(&self, out: &mut Vec<u8>, key: &[u8], v: i64) {
        self.field(out, key);
        push_quoted_fixed(out, v, self.qty_scale);
    }

    fn fixed_field(&self, out: &mut Vec<u8>, key: &[u8], v: i64, scale: u8) {
        self.field(out, key);
        push_quoted_fixed(out, v, scale);
    }

    fn funding_fields(&self, out: &mut Vec<u8>, t: &TickerState) {
        self.field(out, b"nextFundingTime");
        out.push(b'"');
        push_i64(out, t.next_funding_ms);
        out.push(b'"');
        self.field(out, b"fundingRate");
        out.push(b'"');
        push_canonical(out, t.funding_rate_e8, E8);
        out.push(b'"');
    }

    /// A `tickers` snapshot (every field) or delta (the fields in
    /// `changed_fields`, a set of [`changed`] flags).
    pub fn ticker(&self, out: &mut Vec<u8>, snapshot: bool, t: &TickerState, changed_fields: u32, cs: u64, ts_ms: i64) {
        use changed as c;
        let has = |flag: u32| snapshot || changed_fields & flag != 0;
        out.extend_from_slice(b"{\"topic\":\"tickers.");
        out.extend_from_slice(&self.symbol);
        out.extend_from_slice(if snapshot { b"\",\"type\":\"snapshot\"" } else { b"\",\"type\":\"delta\"" });
        out.extend_from_slice(b",\"data\":{\"symbol\":\"");
        out.extend_from_slice(&self.symbol);
        out.push(b'"');
        if has(c::TICK_DIRECTION) {
            self.field(out, b"tickDirection");
            out.push(b'"');
            out.extend_from_slice(t.tick_direction.text());
            out.push(b'"');
        }
        if has(c::PCNT) {
            self.fixed_field(out, b"price24hPcnt", t.pcnt_e6, 6);
        }
        if has(c::LAST) {
            self.price_field(out, b"lastPrice", t.last);
        }
        if snapshot {
            self.price_field(out, b"prevPrice24h", t.prev_24h);
            self.price_field(out, b"highPrice24h", t.high_24h);
            self.price_field(out, b"lowPrice24h", t.low_24h);
            self.price_field(out, b"prevPrice1h", t.prev_1h);
        } else {
            if has(c::PREV_24H) {
                self.price_field(out, b"prevPrice24h", t.prev_24h);
            }
            if has(c::PREV_1H) {
                self.price_field(out, b"prevPrice1h", t.prev_1h);
            }
        }
        if has(c::MARK) {
            self.price_field(out, b"markPrice", t.mark);
        }
        if has(c::INDEX) {
            self.price_field(out, b"indexPrice", t.index);
        }
        if has(c::OPEN_INTEREST) {
            self.qty_field(out, b"openInterest", t.open_interest);
        }
        if has(c::OI_VALUE) {
            self.fixed_field(out, b"openInterestValue", t.oi_value_e2, 2);
        }
        if has(c::VOLUME) {
            self.fixed_field(out, b"turnover24h", t.turnover_e4, 4);
            self.fixed_field(out, b"volume24h", t.volume_e4, 4);
        }
        if snapshot {
            out.extend_from_slice(b",\"fundingIntervalHour\":\"8\",\"fundingCap\":\"0.005\"");
            self.qty_field(out, b"singleOpenInterest", t.open_interest / 2);
            self.fixed_field(out, b"singleOpenInterestValue", t.oi_value_e2 / 2, 2);
            self.funding_fields(out, t);
        } else if has(c::FUNDING) {
            self.funding_fields(out, t);
        }
        if has(c::BID) {
            self.price_field(out, b"bid1Price", t.bid.0);
            self.qty_field(out, b"bid1Size", t.bid.1);
        }
        if has(c::ASK) {
            self.price_field(out, b"ask1Price", t.ask.0);
            self.qty_field(out, b"ask1Size", t.ask.1);
        }
        if snapshot {
            out.extend_from_slice(b",\"preOpenPrice\":\"\",\"preQty\":\"\",\"curPreListingPhase\":\"\"");
        } else {
            if has(c::OPEN_INTEREST) {
                self.qty_field(out, b"singleOpenInterest", t.open_interest / 2);
            }
            if has(c::OI_VALUE) {
                self.fixed_field(out, b"singleOpenInterestValue", t.oi_value_e2 / 2, 2);
            }
        }
        out.extend_from_slice(b"},\"cs\":");
        push_u64(out, cs);
        out.extend_from_slice(b",\"ts\":");
        push_i64(out, ts_ms);
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::Symbol;
    use crate::venue::Venue;

    fn wire(symbol: &str) -> BybitWire {
        let table = crate::instrument::InstrumentTable::built_in().unwrap();
        BybitWire::new(table.get(Venue::BybitLinear, &symbol.parse::<Symbol>().unwrap()).unwrap())
    }

    /// Byte-for-byte agreement with the real recording's books, trades and
    /// tickers is checked in place by `tests/synth_wire_real.rs`.
    #[test]
    fn tick_direction_follows_the_price() {
        assert_eq!(TickDirection::MinusTick.next(100, 100), TickDirection::ZeroMinusTick);
        assert_eq!(TickDirection::ZeroMinusTick.next(100, 101), TickDirection::PlusTick);
    }

    #[test]
    fn eth_quantities_have_two_decimals() {
        let w = wire("ETHUSDT");
        let mut out = Vec::new();
        w.orderbook(&mut out, true, 1, 0, 14768461, 430879399832, [(192_242, 15_737)], [(192_243, 217)]);
        assert!(String::from_utf8(out).unwrap().contains(r#""b":[["1922.42","157.37"]],"a":[["1922.43","2.17"]]"#));
    }
}
