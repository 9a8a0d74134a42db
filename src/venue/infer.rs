//! What a recording holds, read from its frames alone: which venue's wire
//! format, which symbols (with or without depth), and for a symbol the
//! instrument table does not know, the price and quantity scales its
//! frames are written at.
//!
//! This is for the offline tools (`scalpel book`, `synth`, and the
//! `backtest` / `latency` replays), which may be handed a recording of any
//! symbol a venue lists. A [`Survey`] reads every frame once, before the
//! replay, without any instrument: it only looks at structure (Binance
//! frames carry `e` / `stream` / `lastUpdateId`, Bybit frames `topic` /
//! `op`) and at the decimal text of prices and quantities.
//!
//! # How scales are inferred ([`Survey::infer`])
//! The venues write prices and quantities padded to their precision
//! (Binance `"61800.20"` at `pricePrecision` 2, Bybit `"65114.30"` at
//! `priceScale` 2), so the price scale is the largest number of decimals
//! any price of the symbol is written with, and the quantity scale likewise.
//! The tick is the greatest common divisor of every price seen at that
//! scale — over the whole file, so every price the replay will meet lies on
//! the inferred grid by construction (at worst the tick is a multiple of the
//! venue's own, which only coarsens the grid the book indexes by; it never
//! refuses a price of the file). The quantity step is one unit of the
//! quantity scale, the limits are the widest an instrument may have, and
//! the minimum notional is zero: an inferred instrument describes the
//! recording for reading it, never for trading. A trading path must refuse
//! a symbol without a real instrument and name the option that supplies it.
//!
//! Binance REST depth snapshots name no symbol; their levels count for the
//! recording's one depth symbol, if it has exactly one.
//!
//! Sources: Binance USDⓈ-M market streams and `GET /fapi/v1/depth`
//! (<https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams>);
//! Bybit v5 public topics
//! (<https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook>).

use crate::fixed::{MAX_MANTISSA, Notional, Price, Qty};
use crate::instrument::{FeeSchedule, Instrument, InstrumentTable, MAX_INSTRUMENT_SCALE, Symbol};
use crate::json::{JsonScratch, Val};
use crate::venue::Venue;

/// The decimals written by one field kind (prices or quantities) of one
/// symbol: the most decimals seen, and the GCD of every value at that
/// scale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecimalEvidence {
    /// Values seen.
    pub values: u64,
    /// Most decimals any value was written with.
    pub decimals: u8,
    /// Greatest common divisor of every value, as a mantissa at `decimals`.
    pub gcd: u128,
    /// Values whose text could not be read as an unsigned decimal of at
    /// most 18 decimals and 30 digits (they will fail to decode too).
    pub unreadable: u64,
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl DecimalEvidence {
    /// Adds one value's text.
    pub fn add(&mut self, text: &[u8]) {
        let (int, frac) = match text.iter().position(|&b| b == b'.') {
            Some(p) => (&text[..p], &text[p + 1..]),
            None => (text, &[][..]),
        };
        let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
        let has_point = int.len() < text.len();
        if int.is_empty() || !digits(int) || !digits(frac) || (has_point && frac.is_empty()) {
            self.unreadable += 1;
            return;
        }
        let significant = int.iter().skip_while(|&&d| d == b'0').count() + frac.len();
        if frac.len() > 18 || significant > 30 {
            self.unreadable += 1;
            return;
        }
        let value = int.iter().chain(frac).fold(0u128, |acc, &d| acc * 10 + u128::from(d - b'0'));
        let decimals = frac.len() as u8;
        let (mut value, mut held) = (value, self.gcd);
        if decimals > self.decimals {
            held *= 10u128.pow(u32::from(decimals - self.decimals));
            self.decimals = decimals;
        } else {
            value *= 10u128.pow(u32::from(self.decimals - decimals));
        }
        self.gcd = gcd(held, value);
        self.values += 1;
    }

    /// Merges another field's evidence into this one.
    pub fn merge(&mut self, other: &DecimalEvidence) {
        if other.values == 0 {
            self.unreadable += other.unreadable;
            return;
        }
        let (mut mine, mut theirs) = (self.gcd, other.gcd);
        let decimals = self.decimals.max(other.decimals);
        mine *= 10u128.pow(u32::from(decimals - self.decimals));
        theirs *= 10u128.pow(u32::from(decimals - other.decimals));
        *self = DecimalEvidence {
            values: self.values + other.values,
            decimals,
            gcd: gcd(mine, theirs),
            unreadable: self.unreadable + other.unreadable,
        };
    }
}

/// What the survey saw of one symbol of one venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymbolSurvey {
    /// The venue whose wire format named it.
    pub venue: Venue,
    /// The symbol exactly as the frames write it.
    pub symbol: Symbol,
    /// Frames about it (depth, trades, tickers, …).
    pub frames: u64,
    /// Depth frames (diffs, deltas, snapshots) about it.
    pub depth_frames: u64,
    /// Its prices.
    pub prices: DecimalEvidence,
    /// Its quantities.
    pub quantities: DecimalEvidence,
}

/// Why no instrument could be inferred for a symbol.
///
/// # Errors
/// Returned by [`Survey::infer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InferError {
    /// The recording has no price of this symbol to infer from.
    #[error("the recording holds no price of {0} to infer its scales from")]
    NoPrices(Symbol),
    /// Its values are written with more decimals than an instrument may have.
    #[error("{symbol}'s {field} are written with {decimals} decimals, more than an instrument may have (12)")]
    TooManyDecimals {
        /// The symbol.
        symbol: Symbol,
        /// `prices` or `quantities`.
        field: &'static str,
        /// Decimals seen.
        decimals: u8,
    },
    /// The prices' common divisor is larger than any tick may be.
    #[error("{0}'s prices have no usable common tick")]
    NoTick(Symbol),
}

/// A survey of a recording's frames (module documentation).
pub struct Survey {
    scratch: JsonScratch,
    buf: Vec<u8>,
    frames: u64,
    unrecognised: u64,
    votes: [u64; 2],
    symbols: Vec<SymbolSurvey>,
    rest_snapshots: u64,
    rest_prices: DecimalEvidence,
    rest_quantities: DecimalEvidence,
}

impl Default for Survey {
    fn default() -> Self {
        Self::new()
    }
}

fn venue_index(venue: Venue) -> usize {
    match venue {
        Venue::BinanceUsdm => 0,
        Venue::BybitLinear => 1,
    }
}

/// Where one frame's values go while it is being read.
struct Sink<'s> {
    prices: &'s mut DecimalEvidence,
    quantities: &'s mut DecimalEvidence,
}

impl Sink<'_> {
    fn price(&mut self, v: Option<Val<'_>>) {
        if let Some(text) = v.and_then(Val::as_str) {
            self.prices.add(text);
        }
    }

    fn qty(&mut self, v: Option<Val<'_>>) {
        if let Some(text) = v.and_then(Val::as_str) {
            self.quantities.add(text);
        }
    }

    fn levels(&mut self, v: Option<Val<'_>>) {
        let Some(arr) = v.and_then(Val::as_arr) else { return };
        for level in arr.elements() {
            let Some(pair) = level.as_arr() else { continue };
            let mut it = pair.elements();
            self.price(it.next());
            self.qty(it.next());
        }
    }
}

/// The value of `key` in an object (the last one, as the decoders read
/// duplicated keys).
fn get<'a>(obj: Option<Val<'a>>, key: &[u8]) -> Option<Val<'a>> {
    obj?.as_obj()?.entries().filter(|(k, _)| *k == key).map(|(_, v)| v).last()
}

/// What one frame is, structurally.
enum Seen<'a> {
    /// A frame of `venue` about `symbol`; `depth` when it is order-book
    /// data; `body` holds the values to read decimals from, as `kind` says.
    Symbol { venue: Venue, symbol: &'a [u8], depth: bool, body: Val<'a>, kind: Kind },
    /// A Binance REST depth snapshot (no symbol).
    RestSnapshot(Val<'a>),
    /// A frame of `venue` about no symbol (acks, pongs, errors).
    Control(Venue),
    /// Not a frame of either venue.
    Unknown,
}

#[derive(Clone, Copy)]
enum Kind {
    BinanceDepth,
    BinanceTicker,
    BinanceTrade,
    BinanceForceOrder,
    BybitBook,
    BybitTrades,
    BybitTicker,
    Other,
}

fn classify(root: Val<'_>) -> Seen<'_> {
    if root.as_obj().is_none() {
        return Seen::Unknown;
    }
    let field = |key: &[u8]| get(Some(root), key);
    if let Some(topic) = field(b"topic").and_then(Val::as_str) {
        let Some(dot) = topic.iter().rposition(|&b| b == b'.') else { return Seen::Control(Venue::BybitLinear) };
        let (channel, symbol) = (&topic[..dot], &topic[dot + 1..]);
        let (depth, kind) = if channel.starts_with(b"orderbook.") {
            (true, Kind::BybitBook)
        } else {
            match channel {
                b"publicTrade" | b"allLiquidation" | b"liquidation" => (false, Kind::BybitTrades),
                b"tickers" => (false, Kind::BybitTicker),
                _ => (false, Kind::Other),
            }
        };
        return Seen::Symbol { venue: Venue::BybitLinear, symbol, depth, body: root, kind };
    }
    if field(b"op").and_then(Val::as_str).is_some() {
        return Seen::Control(Venue::BybitLinear);
    }
    let event = match (field(b"stream"), field(b"data")) {
        (Some(_), Some(data)) if data.as_obj().is_some() => data,
        _ => root,
    };
    if let Some(e) = get(Some(event), b"e").and_then(Val::as_str) {
        let kind = match e {
            b"depthUpdate" => Kind::BinanceDepth,
            b"bookTicker" => Kind::BinanceTicker,
            b"trade" | b"aggTrade" => Kind::BinanceTrade,
            b"forceOrder" => Kind::BinanceForceOrder,
            _ => Kind::Other,
        };
        let named = match kind {
            Kind::BinanceForceOrder => get(get(Some(event), b"o"), b"s"),
            _ => get(Some(event), b"s"),
        };
        return match named.and_then(Val::as_str) {
            Some(symbol) => Seen::Symbol {
                venue: Venue::BinanceUsdm,
                symbol,
                depth: matches!(kind, Kind::BinanceDepth),
                body: event,
                kind,
            },
            None => Seen::Control(Venue::BinanceUsdm),
        };
    }
    if field(b"lastUpdateId").is_some() {
        return Seen::RestSnapshot(root);
    }
    if field(b"id").is_some() && (field(b"result").is_some() || field(b"error").is_some()) {
        return Seen::Control(Venue::BinanceUsdm);
    }
    Seen::Unknown
}

impl Survey {
    /// An empty survey.
    #[must_use]
    pub fn new() -> Self {
        Self {
            scratch: JsonScratch::new(64 * 1024),
            buf: Vec::new(),
            frames: 0,
            unrecognised: 0,
            votes: [0; 2],
            symbols: Vec::new(),
            rest_snapshots: 0,
            rest_prices: DecimalEvidence::default(),
            rest_quantities: DecimalEvidence::default(),
        }
    }

    /// Reads one frame.
    pub fn observe(&mut self, frame: &[u8]) {
        self.frames += 1;
        self.buf.clear();
        self.buf.extend_from_slice(frame);
        let Self { scratch, buf, unrecognised, votes, symbols, rest_snapshots, rest_prices, rest_quantities, .. } =
            self;
        scratch.parse(buf, |root, _| {
            let Ok(root) = root else {
                *unrecognised += 1;
                return;
            };
            match classify(root) {
                Seen::Unknown => *unrecognised += 1,
                Seen::Control(venue) => votes[venue_index(venue)] += 1,
                Seen::RestSnapshot(body) => {
                    votes[venue_index(Venue::BinanceUsdm)] += 1;
                    *rest_snapshots += 1;
                    let mut sink = Sink { prices: rest_prices, quantities: rest_quantities };
                    sink.levels(get(Some(body), b"bids"));
                    sink.levels(get(Some(body), b"asks"));
                }
                Seen::Symbol { venue, symbol, depth, body, kind } => {
                    votes[venue_index(venue)] += 1;
                    let Ok(symbol) = Symbol::new(symbol) else {
                        *unrecognised += 1;
                        return;
                    };
                    let entry = match symbols.iter().position(|s| s.venue == venue && s.symbol == symbol) {
                        Some(i) => &mut symbols[i],
                        None => {
                            symbols.push(SymbolSurvey {
                                venue,
                                symbol,
                                frames: 0,
                                depth_frames: 0,
                                prices: DecimalEvidence::default(),
                                quantities: DecimalEvidence::default(),
                            });
                            symbols.last_mut().expect("just pushed")
                        }
                    };
                    entry.frames += 1;
                    entry.depth_frames += u64::from(depth);
                    let mut sink = Sink { prices: &mut entry.prices, quantities: &mut entry.quantities };
                    read_values(&mut sink, body, kind);
                }
            }
        });
    }

    /// Frames read.
    #[must_use]
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Frames of neither venue (not JSON, or not a venue message).
    #[must_use]
    pub fn unrecognised(&self) -> u64 {
        self.unrecognised
    }

    /// Frames recognised as each venue's.
    #[must_use]
    pub fn frames_of(&self, venue: Venue) -> u64 {
        self.votes[venue_index(venue)]
    }

    /// The venue whose wire format most frames are in; `None` when no
    /// frame is either venue's.
    #[must_use]
    pub fn venue(&self) -> Option<Venue> {
        let [binance, bybit] = self.votes;
        match (binance, bybit) {
            (0, 0) => None,
            (a, b) if a >= b => Some(Venue::BinanceUsdm),
            _ => Some(Venue::BybitLinear),
        }
    }

    /// Binance REST depth snapshots seen (they name no symbol).
    #[must_use]
    pub fn rest_snapshots(&self) -> u64 {
        self.rest_snapshots
    }

    /// Every symbol seen, in order of first appearance.
    #[must_use]
    pub fn symbols(&self) -> &[SymbolSurvey] {
        &self.symbols
    }

    /// The symbols of `venue` that have depth frames.
    pub fn depth_symbols(&self, venue: Venue) -> impl Iterator<Item = Symbol> + '_ {
        self.symbols.iter().filter(move |s| s.venue == venue && s.depth_frames > 0).map(|s| s.symbol)
    }

    /// The one symbol of `venue` with depth frames, if exactly one has them
    /// (the symbol Binance REST snapshots belong to).
    #[must_use]
    pub fn only_depth_symbol(&self, venue: Venue) -> Option<Symbol> {
        let mut it = self.depth_symbols(venue);
        let first = it.next()?;
        it.next().is_none().then_some(first)
    }

    /// The instrument the frames imply for `symbol` of `venue` (module
    /// documentation): for reading the recording only.
    ///
    /// # Errors
    /// [`InferError`] when the frames do not allow it.
    pub fn infer(&self, venue: Venue, symbol: Symbol) -> Result<Instrument, InferError> {
        let seen = self.symbols.iter().find(|s| s.venue == venue && s.symbol == symbol);
        let (mut prices, mut quantities) = seen.map(|s| (s.prices, s.quantities)).unwrap_or_default();
        if venue == Venue::BinanceUsdm && self.only_depth_symbol(venue) == Some(symbol) {
            prices.merge(&self.rest_prices);
            quantities.merge(&self.rest_quantities);
        }
        if prices.values == 0 {
            return Err(InferError::NoPrices(symbol));
        }
        for (field, e) in [("prices", prices), ("quantities", quantities)] {
            if e.decimals > MAX_INSTRUMENT_SCALE {
                return Err(InferError::TooManyDecimals { symbol, field, decimals: e.decimals });
            }
        }
        // All prices zero: any tick reads them; take one unit.
        let tick = if prices.gcd == 0 { 1 } else { prices.gcd };
        let tick = i64::try_from(tick).ok().filter(|&t| t <= MAX_MANTISSA).ok_or(InferError::NoTick(symbol))?;
        let instrument = Instrument {
            venue,
            symbol,
            price_scale: prices.decimals,
            qty_scale: quantities.decimals,
            tick: Price(tick),
            step: Qty(1),
            min_qty: Qty(1),
            max_qty: Qty(MAX_MANTISSA),
            max_market_qty: Qty(MAX_MANTISSA),
            min_notional: Notional::ZERO,
            fees: FeeSchedule::default_for(venue),
        };
        debug_assert_eq!(instrument.validate(), Ok(()));
        Ok(instrument)
    }

    /// Adds an inferred instrument to `table` for every symbol of `venue`
    /// with prices in the recording and no instrument in the table. Returns
    /// each symbol tried with its outcome, so the caller can say what it
    /// inferred (once) and what it could not.
    pub fn infer_missing(
        &self,
        venue: Venue,
        table: &mut InstrumentTable,
    ) -> Vec<(Symbol, Result<Instrument, InferError>)> {
        let mut tried = Vec::new();
        for s in self.symbols.iter().filter(|s| s.venue == venue) {
            if table.get(venue, &s.symbol).is_some() || (s.prices.values == 0 && s.depth_frames == 0) {
                continue;
            }
            let outcome = self.infer(venue, s.symbol);
            if let Ok(instrument) = outcome {
                if table.insert(instrument).is_err() {
                    continue;
                }
            }
            tried.push((s.symbol, outcome));
        }
        tried
    }
}

/// Reads the price and quantity fields of one frame body.
fn read_values(sink: &mut Sink<'_>, body: Val<'_>, kind: Kind) {
    let field = |key: &[u8]| get(Some(body), key);
    match kind {
        Kind::BinanceDepth => {
            sink.levels(field(b"b"));
            sink.levels(field(b"a"));
        }
        Kind::BinanceTicker => {
            sink.price(field(b"b"));
            sink.qty(field(b"B"));
            sink.price(field(b"a"));
            sink.qty(field(b"A"));
        }
        Kind::BinanceTrade => {
            sink.price(field(b"p"));
            sink.qty(field(b"q"));
        }
        Kind::BinanceForceOrder => {
            let o = field(b"o");
            sink.price(get(o, b"p"));
            sink.qty(get(o, b"q"));
            sink.qty(get(o, b"z"));
        }
        Kind::BybitBook => {
            let data = field(b"data");
            sink.levels(get(data, b"b"));
            sink.levels(get(data, b"a"));
        }
        Kind::BybitTrades => {
            let data = field(b"data");
            let elements: Vec<Val<'_>> = match data {
                Some(Val::Arr(arr)) => arr.elements().collect(),
                Some(obj @ Val::Obj(_)) => vec![obj],
                _ => Vec::new(),
            };
            for element in elements {
                sink.price(get(Some(element), b"p"));
                sink.qty(get(Some(element), b"v"));
            }
        }
        Kind::BybitTicker => {
            let data = field(b"data");
            for key in [&b"lastPrice"[..], b"bid1Price", b"ask1Price"] {
                sink.price(get(data, key));
            }
            for key in [&b"bid1Size"[..], b"ask1Size"] {
                sink.qty(get(data, key));
            }
        }
        Kind::Other => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn survey(frames: &[&str]) -> Survey {
        let mut s = Survey::new();
        for f in frames {
            s.observe(f.as_bytes());
        }
        s
    }

    #[test]
    fn evidence_keeps_the_most_decimals_and_the_common_divisor() {
        let mut e = DecimalEvidence::default();
        for text in ["61800.20", "61800.10", "61799.9", "61801"] {
            e.add(text.as_bytes());
        }
        // At 2 decimals: 6180020, 6180010, 6179990, 6180100 → gcd 10.
        assert_eq!((e.values, e.decimals, e.gcd), (4, 2, 10));
        for bad in ["", "-1", "1.", ".5", "1e5", "1.2.3", "0.0000000000000000001"] {
            e.add(bad.as_bytes());
        }
        assert_eq!((e.values, e.unreadable), (4, 7));
        let mut f = DecimalEvidence::default();
        f.add(b"0.005");
        e.merge(&f);
        assert_eq!((e.decimals, e.gcd), (3, 5));
    }

    #[test]
    fn binance_symbol_outside_any_table() {
        let s = survey(&[
            r#"{"stream":"solusdt@depth@0ms","data":{"e":"depthUpdate","E":1,"T":1,"s":"SOLUSDT","U":1,"u":2,"pu":0,"b":[["142.3500","12.0"]],"a":[["142.3600","0.5"]]}}"#,
            r#"{"lastUpdateId":5,"E":1,"T":1,"bids":[["142.3400","3.0"]],"asks":[["142.3700","1.0"]]}"#,
            r#"{"stream":"solusdt@trade","data":{"e":"trade","E":1,"T":1,"s":"SOLUSDT","t":1,"p":"142.3600","q":"0.1","X":"MARKET","m":true}}"#,
            r#"{"result":null,"id":1}"#,
            "not json",
        ]);
        assert_eq!(s.venue(), Some(Venue::BinanceUsdm));
        assert_eq!((s.frames(), s.unrecognised(), s.rest_snapshots()), (5, 1, 1));
        let sol: Symbol = "SOLUSDT".parse().unwrap();
        assert_eq!(s.only_depth_symbol(Venue::BinanceUsdm), Some(sol));
        let inst = s.infer(Venue::BinanceUsdm, sol).unwrap();
        // 142.3500, 142.3600, 142.3400, 142.3700 at 4 decimals: gcd 100 → tick 0.01.
        assert_eq!((inst.price_scale, inst.tick, inst.qty_scale, inst.step), (4, Price(100), 1, Qty(1)));
        assert_eq!(inst.validate(), Ok(()));
    }

    #[test]
    fn bybit_symbols_and_scales_at_the_extremes() {
        let s = survey(&[
            r#"{"topic":"orderbook.50.1000PEPEUSDT","type":"snapshot","ts":1,"data":{"s":"1000PEPEUSDT","b":[["0.0123456","100"]],"a":[["0.0123470","2500"]],"u":1,"seq":1},"cts":1}"#,
            r#"{"topic":"publicTrade.1000PEPEUSDT","type":"snapshot","ts":1,"data":[{"T":1,"s":"1000PEPEUSDT","S":"Buy","v":"300","p":"0.0123466","i":"x","BT":false,"seq":2}]}"#,
            r#"{"topic":"orderbook.50.YFIUSDT","type":"snapshot","ts":1,"data":{"s":"YFIUSDT","b":[["5120","0.0001"]],"a":[["5130","0.0025"]],"u":1,"seq":1},"cts":1}"#,
            r#"{"topic":"kline.1.ONLYKLINE","data":[],"ts":1,"type":"snapshot"}"#,
            r#"{"success":true,"ret_msg":"pong","op":"ping"}"#,
        ]);
        assert_eq!(s.venue(), Some(Venue::BybitLinear));
        let pepe = s.infer(Venue::BybitLinear, "1000PEPEUSDT".parse().unwrap()).unwrap();
        assert_eq!((pepe.price_scale, pepe.tick, pepe.qty_scale), (7, Price(2), 0));
        let yfi = s.infer(Venue::BybitLinear, "YFIUSDT".parse().unwrap()).unwrap();
        // 5120 and 5130: a tick of 10 at scale 0.
        assert_eq!((yfi.price_scale, yfi.tick, yfi.qty_scale), (0, Price(10), 4));
        assert_eq!(s.only_depth_symbol(Venue::BybitLinear), None);
        let kline = "ONLYKLINE".parse().unwrap();
        assert_eq!(s.infer(Venue::BybitLinear, kline), Err(InferError::NoPrices(kline)));
        let mut table = InstrumentTable::new();
        let tried = s.infer_missing(Venue::BybitLinear, &mut table);
        assert_eq!(tried.len(), 2, "symbols without prices or depth are not tried: {tried:?}");
        assert_eq!(table.all().len(), 2);
    }

    #[test]
    fn too_many_decimals_are_refused_not_truncated() {
        let s = survey(&[
            r#"{"topic":"orderbook.1.X","type":"snapshot","ts":1,"data":{"s":"X","b":[["0.0000000000001","1"]],"a":[],"u":1,"seq":1},"cts":1}"#,
        ]);
        let x = "X".parse().unwrap();
        assert_eq!(
            s.infer(Venue::BybitLinear, x),
            Err(InferError::TooManyDecimals { symbol: x, field: "prices", decimals: 13 })
        );
    }
}
