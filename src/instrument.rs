//! Instruments: what a venue trades and how its numbers are written.
//!
//! An [`Instrument`] carries the scales that turn wire text into
//! [`Price`]/[`Qty`] mantissas, the tick and step grids orders must sit on,
//! size and notional limits, and the fee rates. Instruments come from TOML
//! under `tuning/` ([`InstrumentTable::from_toml_str`]) or from the venues'
//! own metadata:
//! - Binance USDⓈ-M `GET /fapi/v1/exchangeInfo`
//!   (<https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Exchange-Information>)
//! - Bybit v5 `GET /v5/market/instruments-info?category=linear`
//!   (<https://bybit-exchange.github.io/docs/v5/market/instrument>)
//!
//! Neither metadata document carries fees, so those come from the
//! configured schedule ([`FeeSchedule`]), VIP0 by default.
//!
//! # Invariants (checked at load)
//! - `price_scale` and `qty_scale` are at most 12, so that a price mantissa
//!   times a quantity mantissa fits comfortably in `i128` and notionals fit
//!   `i64` at 8 decimals.
//! - `tick > 0`, `step > 0`, `min_qty ≤ max_qty`, `min_qty` and `max_qty`
//!   are on the step grid, fees are between -1% and +1%.

use std::fmt;
use std::str::FromStr;

use crate::fixed::{E8, FixedError, Notional, Price, Qty, Rate, parse_decimal_trimmed, significant_decimals};

/// A trading venue (exchange and product line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize, serde::Serialize)]
pub enum Venue {
    /// Binance USDⓈ-M perpetual futures.
    #[serde(rename = "binance-usdm")]
    BinanceUsdm,
    /// Bybit v5 linear (USDT) perpetuals.
    #[serde(rename = "bybit-linear")]
    BybitLinear,
}

impl Venue {
    /// Every venue, in a fixed order.
    pub const ALL: [Venue; 2] = [Venue::BinanceUsdm, Venue::BybitLinear];

    /// The name used on the command line and in configuration.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Venue::BinanceUsdm => "binance-usdm",
            Venue::BybitLinear => "bybit-linear",
        }
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The text named no known venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown venue (expected binance-usdm or bybit-linear)")]
pub struct UnknownVenue;

impl FromStr for Venue {
    type Err = UnknownVenue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Venue::ALL.into_iter().find(|v| v.name() == s).ok_or(UnknownVenue)
    }
}

/// Index of an instrument in its [`InstrumentTable`]: the id every
/// decoder, book, signal and ledger slot of a run uses for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstrumentId(pub u16);

/// `tuning/instruments.toml` as it was when the binary was built: the
/// instruments every tool uses unless given a file.
pub const BUILT_IN_TOML: &str = include_str!("../tuning/instruments.toml");

/// Largest price or quantity scale an instrument may have.
pub const MAX_INSTRUMENT_SCALE: u8 = 12;

/// A symbol name (`"BTCUSDT"`), stored inline: up to 23 ASCII bytes, `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol {
    bytes: [u8; 23],
    len: u8,
}

/// The text is not a valid symbol (empty, longer than 23 bytes, or not
/// ASCII letters and digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid symbol (1 to 23 ASCII letters or digits)")]
pub struct BadSymbol;

impl Symbol {
    /// Maximum length in bytes.
    pub const MAX_LEN: usize = 23;

    /// A symbol from its bytes exactly as given.
    ///
    /// # Errors
    /// [`BadSymbol`] when empty, too long, or not `[A-Za-z0-9]`.
    pub fn new(text: &[u8]) -> Result<Self, BadSymbol> {
        if text.is_empty() || text.len() > Self::MAX_LEN || !text.iter().all(u8::is_ascii_alphanumeric) {
            return Err(BadSymbol);
        }
        let mut bytes = [0u8; 23];
        bytes[..text.len()].copy_from_slice(text);
        Ok(Self { bytes, len: text.len() as u8 })
    }

    /// A symbol from text in any case, stored in upper case (Binance stream
    /// names are lower case: `btcusdt@depth`).
    ///
    /// # Errors
    /// As [`Symbol::new`].
    pub fn new_upper(text: &[u8]) -> Result<Self, BadSymbol> {
        let mut sym = Self::new(text)?;
        sym.bytes.make_ascii_uppercase();
        Ok(sym)
    }

    /// The symbol text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII alphanumerics are ever stored.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// The symbol bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Case-insensitive comparison with raw bytes.
    #[must_use]
    pub fn eq_ignore_case(&self, other: &[u8]) -> bool {
        self.as_bytes().eq_ignore_ascii_case(other)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Symbol({})", self.as_str())
    }
}

impl std::str::FromStr for Symbol {
    type Err = BadSymbol;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Symbol::new_upper(s.as_bytes())
    }
}

/// Maker and taker fee rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeSchedule {
    /// Fee rate for resting (maker) fills.
    pub maker: Rate,
    /// Fee rate for aggressive (taker) fills.
    pub taker: Rate,
}

impl FeeSchedule {
    /// Binance USDⓈ-M VIP0: maker 2 bps, taker 4 bps.
    pub const BINANCE_VIP0: Self = Self { maker: Rate(20_000), taker: Rate(40_000) };
    /// Bybit linear non-VIP: maker 2 bps, taker 5.5 bps.
    pub const BYBIT_VIP0: Self = Self { maker: Rate(20_000), taker: Rate(55_000) };

    /// The default schedule of a venue.
    #[must_use]
    pub const fn default_for(venue: Venue) -> Self {
        match venue {
            Venue::BinanceUsdm => Self::BINANCE_VIP0,
            Venue::BybitLinear => Self::BYBIT_VIP0,
        }
    }
}

/// One tradable instrument on one venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instrument {
    /// The venue.
    pub venue: Venue,
    /// The venue's symbol.
    pub symbol: Symbol,
    /// Decimals of prices on the wire; a [`Price`] mantissa is in units of
    /// `10^-price_scale`.
    pub price_scale: u8,
    /// Decimals of quantities on the wire.
    pub qty_scale: u8,
    /// Minimum price increment.
    pub tick: Price,
    /// Minimum quantity increment.
    pub step: Qty,
    /// Smallest order quantity.
    pub min_qty: Qty,
    /// Largest limit order quantity.
    pub max_qty: Qty,
    /// Largest market order quantity.
    pub max_market_qty: Qty,
    /// Smallest order notional, in quote currency.
    pub min_notional: Notional,
    /// Fee rates.
    pub fees: FeeSchedule,
}

impl Instrument {
    /// BTCUSDT with Binance USDⓈ-M's published filters at the time of the
    /// real recording (tick 0.10, step 0.001, limit qty ≤ 1000, market qty
    /// ≤ 120, min notional 100 USDT) and the venue's default fees.
    ///
    /// A fixed reference for tests, benchmarks and examples, so that they
    /// all price the same instrument; a run loads its instruments from
    /// `tuning/` or from the venue's metadata instead.
    #[must_use]
    pub fn reference_btcusdt(venue: Venue) -> Self {
        Self {
            venue,
            symbol: Symbol::new(b"BTCUSDT").expect("BTCUSDT is alphanumeric and short"),
            price_scale: 2,
            qty_scale: 3,
            tick: Price(10),
            step: Qty(1),
            min_qty: Qty(1),
            max_qty: Qty(1_000_000),
            max_market_qty: Qty(120_000),
            min_notional: Notional(100 * 100_000_000),
            fees: FeeSchedule::default_for(venue),
        }
    }

    /// Checks the invariants listed in the module documentation.
    ///
    /// # Errors
    /// A [`LoadError`] naming the offending key.
    pub fn validate(&self) -> Result<(), LoadError> {
        let ctx = |key: &str, problem: String| LoadError::new(format!("{}.{key}", self.symbol), problem);
        if self.price_scale > MAX_INSTRUMENT_SCALE {
            return Err(ctx("price_scale", format!("must be at most {MAX_INSTRUMENT_SCALE}")));
        }
        if self.qty_scale > MAX_INSTRUMENT_SCALE {
            return Err(ctx("qty_scale", format!("must be at most {MAX_INSTRUMENT_SCALE}")));
        }
        if self.tick.0 <= 0 {
            return Err(ctx("tick_size", "must be positive".into()));
        }
        if self.step.0 <= 0 {
            return Err(ctx("qty_step", "must be positive".into()));
        }
        if self.min_qty.0 % self.step.0 != 0 {
            return Err(ctx("min_qty", "must be a multiple of qty_step".into()));
        }
        if self.max_qty.0 % self.step.0 != 0 || self.max_qty < self.min_qty {
            return Err(ctx("max_qty", "must be a multiple of qty_step and at least min_qty".into()));
        }
        if self.max_market_qty.0 % self.step.0 != 0 || self.max_market_qty < self.min_qty {
            return Err(ctx("max_market_qty", "must be a multiple of qty_step and at least min_qty".into()));
        }
        if self.min_notional.0 < 0 {
            return Err(ctx("min_notional", "must not be negative".into()));
        }
        for (key, fee) in [("maker_fee", self.fees.maker), ("taker_fee", self.fees.taker)] {
            if fee.0.abs() > 1_000_000 {
                return Err(ctx(key, "must be between -0.01 and 0.01".into()));
            }
        }
        Ok(())
    }
}

/// A configuration or metadata problem, naming the key it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct LoadError {
    /// Dotted path of the offending key (`instrument[0].tick_size`).
    pub key: String,
    /// What is wrong with it.
    pub problem: String,
}

impl LoadError {
    /// A new error.
    #[must_use]
    pub fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { key: key.into(), problem: problem.into() }
    }
}

fn decimal(key: &str, text: &str, scale: u8, allow_negative: bool) -> Result<i64, LoadError> {
    parse_decimal_trimmed(text.as_bytes(), scale, allow_negative)
        .map_err(|e: FixedError| LoadError::new(key, format!("{e} in {text:?} (scale {scale})")))
}

/// The instruments known to a process. Small, looked up at start-up; the hot
/// path holds indices or copies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstrumentTable {
    instruments: Vec<Instrument>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InstrumentFile {
    #[serde(default)]
    instrument: Vec<InstrumentToml>,
}

/// One `[[instrument]]` table. Decimal values are strings so that no float
/// ever touches them.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InstrumentToml {
    venue: Venue,
    symbol: String,
    price_scale: Option<u8>,
    qty_scale: Option<u8>,
    tick_size: String,
    qty_step: String,
    min_qty: Option<String>,
    max_qty: String,
    max_market_qty: Option<String>,
    min_notional: String,
    maker_fee: Option<String>,
    taker_fee: Option<String>,
}

impl InstrumentTable {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// All instruments.
    #[must_use]
    pub fn all(&self) -> &[Instrument] {
        &self.instruments
    }

    /// Looks up an instrument.
    #[must_use]
    pub fn get(&self, venue: Venue, symbol: &Symbol) -> Option<&Instrument> {
        self.instruments.iter().find(|i| i.venue == venue && i.symbol == *symbol)
    }

    /// Adds or replaces an instrument.
    ///
    /// # Errors
    /// The instrument's own validation error.
    pub fn insert(&mut self, instrument: Instrument) -> Result<(), LoadError> {
        instrument.validate()?;
        match self.instruments.iter_mut().find(|i| i.venue == instrument.venue && i.symbol == instrument.symbol) {
            Some(slot) => *slot = instrument,
            None => self.instruments.push(instrument),
        }
        Ok(())
    }

    /// The built-in table ([`BUILT_IN_TOML`]).
    ///
    /// # Errors
    /// Never in a correct build (the file is checked by the tests); a
    /// [`LoadError`] naming the key otherwise.
    pub fn built_in() -> Result<Self, LoadError> {
        Self::from_toml_str(BUILT_IN_TOML)
    }

    /// Parses `[[instrument]]` tables from TOML text.
    ///
    /// Scales default to the number of decimals of `tick_size` / `qty_step`
    /// when not given; `min_qty` defaults to `qty_step`, `max_market_qty` to
    /// `max_qty`, fees to the venue's VIP0 schedule.
    ///
    /// # Errors
    /// A [`LoadError`] naming the key (`instrument[1].tick_size`).
    pub fn from_toml_str(text: &str) -> Result<Self, LoadError> {
        let file: InstrumentFile =
            toml::from_str(text).map_err(|e| LoadError::new("instrument", e.message().to_owned()))?;
        let mut table = Self::new();
        for (n, raw) in file.instrument.iter().enumerate() {
            let key = |k: &str| format!("instrument[{n}].{k}");
            let symbol =
                Symbol::new_upper(raw.symbol.as_bytes()).map_err(|e| LoadError::new(key("symbol"), e.to_string()))?;
            let price_scale = raw.price_scale.unwrap_or_else(|| significant_decimals(&raw.tick_size));
            let qty_scale = raw.qty_scale.unwrap_or_else(|| significant_decimals(&raw.qty_step));
            for (k, s) in [("price_scale", price_scale), ("qty_scale", qty_scale)] {
                if s > MAX_INSTRUMENT_SCALE {
                    return Err(LoadError::new(key(k), format!("must be at most {MAX_INSTRUMENT_SCALE}")));
                }
            }
            let step = Qty(decimal(&key("qty_step"), &raw.qty_step, qty_scale, false)?);
            let max_qty = Qty(decimal(&key("max_qty"), &raw.max_qty, qty_scale, false)?);
            let fees_default = FeeSchedule::default_for(raw.venue);
            let fee = |k: &str, text: &Option<String>, default: Rate| -> Result<Rate, LoadError> {
                text.as_deref().map_or(Ok(default), |t| decimal(&key(k), t, E8, true).map(Rate))
            };
            let instrument = Instrument {
                venue: raw.venue,
                symbol,
                price_scale,
                qty_scale,
                tick: Price(decimal(&key("tick_size"), &raw.tick_size, price_scale, false)?),
                step,
                min_qty: match &raw.min_qty {
                    Some(t) => Qty(decimal(&key("min_qty"), t, qty_scale, false)?),
                    None => step,
                },
                max_qty,
                max_market_qty: match &raw.max_market_qty {
                    Some(t) => Qty(decimal(&key("max_market_qty"), t, qty_scale, false)?),
                    None => max_qty,
                },
                min_notional: Notional(decimal(&key("min_notional"), &raw.min_notional, E8, false)?),
                fees: FeeSchedule {
                    maker: fee("maker_fee", &raw.maker_fee, fees_default.maker)?,
                    taker: fee("taker_fee", &raw.taker_fee, fees_default.taker)?,
                },
            };
            instrument.validate().map_err(|e| LoadError::new(format!("instrument[{n}]"), e.to_string()))?;
            table.insert(instrument)?;
        }
        Ok(table)
    }

    /// Reads a TOML file of `[[instrument]]` tables.
    ///
    /// # Errors
    /// I/O problems (naming the path) or a [`LoadError`] naming the key.
    pub fn from_toml_file(path: &std::path::Path) -> Result<Self, LoadError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| LoadError::new(path.display().to_string(), e.to_string()))?;
        Self::from_toml_str(&text).map_err(|e| LoadError::new(format!("{}: {}", path.display(), e.key), e.problem))
    }

    /// Adds every perpetual in a Binance USDⓈ-M `exchangeInfo` document.
    ///
    /// Price scale is `max(pricePrecision, decimals of tickSize)`, quantity
    /// scale `max(quantityPrecision, decimals of stepSize)`.
    ///
    /// # Errors
    /// A [`LoadError`] naming the symbol and field.
    pub fn add_binance_exchange_info(&mut self, json: &str, fees: FeeSchedule) -> Result<usize, LoadError> {
        let doc: serde_json::Value =
            serde_json::from_str(json).map_err(|e| LoadError::new("exchangeInfo", e.to_string()))?;
        let symbols = doc
            .get("symbols")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| LoadError::new("exchangeInfo.symbols", "missing or not an array"))?;
        let mut added = 0;
        for (n, entry) in symbols.iter().enumerate() {
            let name = entry.get("symbol").and_then(serde_json::Value::as_str).unwrap_or("?");
            let key = |k: &str| format!("exchangeInfo.symbols[{n}]({name}).{k}");
            let contract = entry.get("contractType").and_then(serde_json::Value::as_str).unwrap_or("PERPETUAL");
            if contract != "PERPETUAL" {
                continue;
            }
            let symbol =
                Symbol::new_upper(name.as_bytes()).map_err(|e| LoadError::new(key("symbol"), e.to_string()))?;
            let filter = |ty: &str, field: &str| -> Result<String, LoadError> {
                entry
                    .get("filters")
                    .and_then(serde_json::Value::as_array)
                    .and_then(|fs| {
                        fs.iter().find(|f| f.get("filterType").and_then(serde_json::Value::as_str) == Some(ty))
                    })
                    .and_then(|f| f.get(field))
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| LoadError::new(key(&format!("filters.{ty}.{field}")), "missing"))
            };
            let precision = |field: &str| -> Result<u8, LoadError> {
                entry
                    .get(field)
                    .and_then(serde_json::Value::as_u64)
                    .and_then(|v| u8::try_from(v).ok())
                    .ok_or_else(|| LoadError::new(key(field), "missing or not a small integer"))
            };
            let tick_text = filter("PRICE_FILTER", "tickSize")?;
            let step_text = filter("LOT_SIZE", "stepSize")?;
            let price_scale = precision("pricePrecision")?.max(significant_decimals(&tick_text));
            let qty_scale = precision("quantityPrecision")?.max(significant_decimals(&step_text));
            let max_qty = Qty(decimal(&key("LOT_SIZE.maxQty"), &filter("LOT_SIZE", "maxQty")?, qty_scale, false)?);
            let max_market_qty = match filter("MARKET_LOT_SIZE", "maxQty") {
                Ok(t) => Qty(decimal(&key("MARKET_LOT_SIZE.maxQty"), &t, qty_scale, false)?),
                Err(_) => max_qty,
            };
            let min_notional = match filter("MIN_NOTIONAL", "notional") {
                Ok(t) => Notional(decimal(&key("MIN_NOTIONAL.notional"), &t, E8, false)?),
                Err(_) => Notional::ZERO,
            };
            self.insert(Instrument {
                venue: Venue::BinanceUsdm,
                symbol,
                price_scale,
                qty_scale,
                tick: Price(decimal(&key("PRICE_FILTER.tickSize"), &tick_text, price_scale, false)?),
                step: Qty(decimal(&key("LOT_SIZE.stepSize"), &step_text, qty_scale, false)?),
                min_qty: Qty(decimal(&key("LOT_SIZE.minQty"), &filter("LOT_SIZE", "minQty")?, qty_scale, false)?),
                max_qty,
                max_market_qty,
                min_notional,
                fees,
            })
            .map_err(|e| LoadError::new(key(&e.key), e.problem))?;
            added += 1;
        }
        Ok(added)
    }

    /// Adds every instrument in a Bybit v5 `instruments-info` response
    /// (category `linear`).
    ///
    /// Price scale is `max(priceScale, decimals of tickSize)`, quantity scale
    /// the decimals of `qtyStep`.
    ///
    /// # Errors
    /// A [`LoadError`] naming the symbol and field.
    pub fn add_bybit_instruments_info(&mut self, json: &str, fees: FeeSchedule) -> Result<usize, LoadError> {
        let doc: serde_json::Value =
            serde_json::from_str(json).map_err(|e| LoadError::new("instruments-info", e.to_string()))?;
        if let Some(code) = doc.get("retCode").and_then(serde_json::Value::as_i64) {
            if code != 0 {
                return Err(LoadError::new("instruments-info.retCode", format!("venue error {code}")));
            }
        }
        let list = doc
            .pointer("/result/list")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| LoadError::new("instruments-info.result.list", "missing or not an array"))?;
        let mut added = 0;
        for (n, entry) in list.iter().enumerate() {
            let name = entry.get("symbol").and_then(serde_json::Value::as_str).unwrap_or("?");
            let key = |k: &str| format!("instruments-info.result.list[{n}]({name}).{k}");
            let text = |pointer: &str| -> Result<String, LoadError> {
                entry
                    .pointer(pointer)
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| LoadError::new(key(&pointer[1..].replace('/', ".")), "missing or not a string"))
            };
            let symbol =
                Symbol::new_upper(name.as_bytes()).map_err(|e| LoadError::new(key("symbol"), e.to_string()))?;
            let tick_text = text("/priceFilter/tickSize")?;
            let step_text = text("/lotSizeFilter/qtyStep")?;
            let price_scale_text = text("/priceScale")?;
            let declared: u8 = price_scale_text
                .parse()
                .map_err(|_| LoadError::new(key("priceScale"), format!("not a small integer: {price_scale_text:?}")))?;
            let price_scale = declared.max(significant_decimals(&tick_text));
            let qty_scale = significant_decimals(&step_text);
            let max_qty = Qty(decimal(
                &key("lotSizeFilter.maxOrderQty"),
                &text("/lotSizeFilter/maxOrderQty")?,
                qty_scale,
                false,
            )?);
            let max_market_qty = match text("/lotSizeFilter/maxMktOrderQty") {
                Ok(t) => Qty(decimal(&key("lotSizeFilter.maxMktOrderQty"), &t, qty_scale, false)?),
                Err(_) => max_qty,
            };
            let min_notional = match text("/lotSizeFilter/minNotionalValue") {
                Ok(t) => Notional(decimal(&key("lotSizeFilter.minNotionalValue"), &t, E8, false)?),
                Err(_) => Notional::ZERO,
            };
            self.insert(Instrument {
                venue: Venue::BybitLinear,
                symbol,
                price_scale,
                qty_scale,
                tick: Price(decimal(&key("priceFilter.tickSize"), &tick_text, price_scale, false)?),
                step: Qty(decimal(&key("lotSizeFilter.qtyStep"), &step_text, qty_scale, false)?),
                min_qty: Qty(decimal(
                    &key("lotSizeFilter.minOrderQty"),
                    &text("/lotSizeFilter/minOrderQty")?,
                    qty_scale,
                    false,
                )?),
                max_qty,
                max_market_qty,
                min_notional,
                fees,
            })
            .map_err(|e| LoadError::new(key(&e.key), e.problem))?;
            added += 1;
        }
        Ok(added)
    }
}

/// The instruments of one venue as a decoder sees them: symbol → id and
/// scales. A handful of entries, searched linearly (faster than hashing for
/// the two or three symbols a process trades).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SymbolTable {
    entries: Vec<SymbolEntry>,
}

/// One [`SymbolTable`] entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymbolEntry {
    /// The symbol.
    pub symbol: Symbol,
    /// Index of the instrument in its [`InstrumentTable`].
    pub id: InstrumentId,
    /// Price scale.
    pub price_scale: u8,
    /// Quantity scale.
    pub qty_scale: u8,
    /// Tick size (price mantissa).
    pub tick: Price,
}

impl SymbolTable {
    /// The instruments of `venue` in `table`, with their table indices as ids.
    #[must_use]
    pub fn for_venue(table: &InstrumentTable, venue: Venue) -> Self {
        let entries = table
            .all()
            .iter()
            .enumerate()
            .filter(|(_, i)| i.venue == venue)
            .map(|(n, i)| SymbolEntry {
                symbol: i.symbol,
                id: InstrumentId(u16::try_from(n).unwrap_or(u16::MAX)),
                price_scale: i.price_scale,
                qty_scale: i.qty_scale,
                tick: i.tick,
            })
            .collect();
        Self { entries }
    }

    /// Looks a symbol up by its exact bytes.
    #[inline]
    #[must_use]
    pub fn find(&self, symbol: &[u8]) -> Option<&SymbolEntry> {
        self.entries.iter().find(|e| e.symbol.as_bytes() == symbol)
    }

    /// Looks an instrument up by id.
    #[inline]
    #[must_use]
    pub fn by_id(&self, id: InstrumentId) -> Option<&SymbolEntry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// All entries.
    #[must_use]
    pub fn entries(&self) -> &[SymbolEntry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"
[[instrument]]
venue = "binance-usdm"
symbol = "BTCUSDT"
price_scale = 2
qty_scale = 3
tick_size = "0.10"
qty_step = "0.001"
max_qty = "1000"
max_market_qty = "120"
min_notional = "100"

[[instrument]]
venue = "bybit-linear"
symbol = "ethusdt"
tick_size = "0.01"
qty_step = "0.01"
min_qty = "0.01"
max_qty = "10000"
min_notional = "5"
taker_fee = "0.0006"
"#;

    #[test]
    fn loads_toml_with_defaults() {
        let table = InstrumentTable::from_toml_str(TOML).unwrap();
        let btc = table.get(Venue::BinanceUsdm, &"BTCUSDT".parse().unwrap()).unwrap();
        assert_eq!((btc.price_scale, btc.qty_scale), (2, 3));
        assert_eq!(btc.tick, Price(10));
        assert_eq!(btc.min_qty, Qty(1));
        assert_eq!(btc.max_market_qty, Qty(120_000));
        assert_eq!(btc.min_notional, Notional(100 * 100_000_000));
        assert_eq!(btc.fees, FeeSchedule::BINANCE_VIP0);
        let eth = table.get(Venue::BybitLinear, &"ETHUSDT".parse().unwrap()).unwrap();
        assert_eq!((eth.price_scale, eth.qty_scale), (2, 2));
        assert_eq!(eth.fees.taker, Rate(60_000));
        assert_eq!(eth.fees.maker, Rate(20_000));
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = TOML.replace("tick_size = \"0.10\"", "tick_size = \"0.105\"");
        let err = InstrumentTable::from_toml_str(&bad).unwrap_err();
        assert!(err.key.contains("instrument[0].tick_size"), "{err}");
        let bad = TOML.replace("qty_step = \"0.001\"", "qty_step = \"0\"");
        let err = InstrumentTable::from_toml_str(&bad).unwrap_err();
        assert!(err.to_string().contains("qty_step"), "{err}");
        let bad = TOML.replace("max_qty = \"1000\"", "max_qty = \"1000\"\nbogus = 1");
        let err = InstrumentTable::from_toml_str(&bad).unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
        let bad = TOML.replace("venue = \"binance-usdm\"", "venue = \"binance\"");
        assert!(InstrumentTable::from_toml_str(&bad).is_err());
    }

    #[test]
    fn loads_binance_exchange_info() {
        // Shape as documented for GET /fapi/v1/exchangeInfo.
        let json = r#"{"timezone":"UTC","symbols":[{"symbol":"BTCUSDT","pair":"BTCUSDT","contractType":"PERPETUAL",
          "status":"TRADING","pricePrecision":2,"quantityPrecision":3,"filters":[
          {"minPrice":"556.80","maxPrice":"4529764","filterType":"PRICE_FILTER","tickSize":"0.10"},
          {"stepSize":"0.001","filterType":"LOT_SIZE","maxQty":"1000","minQty":"0.001"},
          {"stepSize":"0.001","filterType":"MARKET_LOT_SIZE","maxQty":"120","minQty":"0.001"},
          {"notional":"100","filterType":"MIN_NOTIONAL"}]},
          {"symbol":"BTCUSDT_250328","contractType":"CURRENT_QUARTER","pricePrecision":1,"quantityPrecision":3,"filters":[]}]}"#;
        let mut table = InstrumentTable::new();
        assert_eq!(table.add_binance_exchange_info(json, FeeSchedule::BINANCE_VIP0), Ok(1));
        let btc = table.all()[0];
        assert_eq!((btc.price_scale, btc.qty_scale, btc.tick, btc.step), (2, 3, Price(10), Qty(1)));
        assert_eq!(btc.max_market_qty, Qty(120_000));
        assert_eq!(btc.min_notional, Notional(10_000_000_000));
    }

    #[test]
    fn missing_binance_filter_is_named() {
        let json = r#"{"symbols":[{"symbol":"BTCUSDT","contractType":"PERPETUAL","pricePrecision":2,"quantityPrecision":3,"filters":[]}]}"#;
        let err = InstrumentTable::new().add_binance_exchange_info(json, FeeSchedule::BINANCE_VIP0).unwrap_err();
        assert!(err.key.contains("PRICE_FILTER.tickSize"), "{err}");
    }

    #[test]
    fn symbol_rules() {
        assert_eq!("btcusdt".parse::<Symbol>().unwrap().as_str(), "BTCUSDT");
        assert!(Symbol::new(b"").is_err());
        assert!(Symbol::new(b"BTC-USDT").is_err());
        assert!(Symbol::new(&[b'A'; 24]).is_err());
        assert!(Symbol::new(b"10000000AIDOGEUSDT").is_ok());
    }
}
