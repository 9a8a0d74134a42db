//! What the fuzz targets share: the instruments they decode for (the
//! built-in table plus instruments at the extremes of the price scales),
//! a complete rendering of a decode result for differential comparison, and
//! the independent decimal reference.

pub mod ledger_model;
pub mod net_ref;

use scalpel::event::{Control, DecodeError, MarketEvent};
use scalpel::instrument::InstrumentTable;

/// Instruments at the edges of what an instrument may be, beside the
/// built-in BTCUSDT and ETHUSDT: the smallest tick the venues list (1e-8,
/// scale 8), the deepest scale an instrument may have (12), the largest
/// tick (10 at scale 0) and an odd tick (0.0025). Frames naming these
/// symbols drive the decoders and the books at every scale.
pub const EXTREME_INSTRUMENTS: &str = r#"
[[instrument]]
venue = "binance-usdm"
symbol = "TINYUSDT"
tick_size = "0.00000001"
qty_step = "1"
max_qty = "1000000000"
min_notional = "5"

[[instrument]]
venue = "binance-usdm"
symbol = "HUGEUSDT"
tick_size = "10"
qty_step = "0.001"
max_qty = "1000"
min_notional = "5"

[[instrument]]
venue = "binance-usdm"
symbol = "DEEPUSDT"
tick_size = "0.000000000001"
qty_step = "0.000000000001"
max_qty = "100"
min_notional = "0"

[[instrument]]
venue = "binance-usdm"
symbol = "ODDUSDT"
tick_size = "0.0025"
qty_step = "0.5"
max_qty = "1000"
min_notional = "5"

[[instrument]]
venue = "bybit-linear"
symbol = "TINYUSDT"
tick_size = "0.00000001"
qty_step = "1"
max_qty = "1000000000"
min_notional = "5"

[[instrument]]
venue = "bybit-linear"
symbol = "HUGEUSDT"
tick_size = "10"
qty_step = "0.001"
max_qty = "1000"
min_notional = "5"

[[instrument]]
venue = "bybit-linear"
symbol = "DEEPUSDT"
tick_size = "0.000000000001"
qty_step = "0.000000000001"
max_qty = "100"
min_notional = "0"

[[instrument]]
venue = "bybit-linear"
symbol = "ODDUSDT"
tick_size = "0.0025"
qty_step = "0.5"
max_qty = "1000"
min_notional = "5"
"#;

/// The built-in instruments plus [`EXTREME_INSTRUMENTS`].
///
/// # Panics
/// If either table fails to load (a bug in this crate, found at once).
#[must_use]
pub fn fuzz_table() -> InstrumentTable {
    let mut table = InstrumentTable::from_toml_str(scalpel::commands::instruments::BUILT_IN).expect("built-in table");
    let extremes = InstrumentTable::from_toml_str(EXTREME_INSTRUMENTS).expect("extreme instruments");
    for inst in extremes.all() {
        table.insert(*inst).expect("valid extreme instrument");
    }
    table
}

/// A complete, canonical rendering of a decode result: every field, every
/// level and every batch element (each parsed), so two paths that render
/// alike decoded alike.
#[must_use]
pub fn render(result: Result<MarketEvent<'_>, DecodeError>) -> String {
    match result {
        Err(e) => format!("Err({e:?})"),
        Ok(MarketEvent::Depth(d)) => {
            let bids: Vec<_> = d.bids.collect();
            let asks: Vec<_> = d.asks.collect();
            format!(
                "Depth({:?},{},{},{},{},{},{},{bids:?},{asks:?})",
                d.inst, d.event_ms, d.transact_ms, d.first_id, d.last_id, d.prev_last_id, d.seq
            )
        }
        Ok(MarketEvent::Snapshot(s)) => {
            let bids: Vec<_> = s.bids.collect();
            let asks: Vec<_> = s.asks.collect();
            format!("Snapshot({:?},{},{},{},{},{bids:?},{asks:?})", s.inst, s.last_id, s.seq, s.event_ms, s.transact_ms)
        }
        Ok(MarketEvent::Trades(t)) => format!("Trades({:?})", t.collect::<Vec<_>>()),
        Ok(MarketEvent::Liquidations(l)) => format!("Liquidations({:?})", l.collect::<Vec<_>>()),
        Ok(MarketEvent::Control(c)) => match c {
            Control::VenueError { code, id, msg } => format!("VenueError({code},{id:?},{msg:?})"),
            Control::OpResponse { op, success, req_id, ret_msg } => {
                format!("Op({op:?},{success},{req_id:?},{ret_msg:?})")
            }
            other @ Control::SubscribeAck { .. } => format!("{other:?}"),
        },
        Ok(other) => format!("{other:?}"),
    }
}

/// Why the reference refused decimal text, in classes every correct
/// parser must agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefError {
    /// Not `-?[0-9]+(\.[0-9]+)?` (or a sign where none is allowed).
    Malformed,
    /// Well formed, with more fraction digits than the scale.
    TooManyDecimals,
    /// Well formed, but outside `i64` at this scale.
    Overflow,
}

/// An independent reference for decimal text at `scale`: checks the
/// grammar by hand, strips leading zeros and computes the value in
/// `i128`, so it shares no code or trick with `scalpel::fixed`.
///
/// # Errors
/// A [`RefError`] class.
pub fn reference_decimal(text: &[u8], scale: u8, allow_negative: bool) -> Result<i64, RefError> {
    let (negative, body) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        _ => (false, text),
    };
    if negative && !allow_negative {
        return Err(RefError::Malformed);
    }
    let (int, frac) = match body.iter().position(|&b| b == b'.') {
        Some(p) => (&body[..p], Some(&body[p + 1..])),
        None => (body, None),
    };
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return Err(RefError::Malformed);
    }
    let frac = frac.unwrap_or(b"");
    if frac.len() > usize::from(scale) {
        return Err(RefError::TooManyDecimals);
    }
    // All digits, int then fraction then the zeros the scale adds.
    let mut all: Vec<u8> = int.iter().chain(frac).copied().collect();
    all.extend(std::iter::repeat_n(b'0', usize::from(scale) - frac.len()));
    let first = all.iter().position(|&b| b != b'0').unwrap_or(all.len());
    let significant = &all[first..];
    if significant.len() > 30 {
        return Err(RefError::Overflow);
    }
    let mut value: i128 = 0;
    for &d in significant {
        value = value * 10 + i128::from(d - b'0');
    }
    if negative {
        value = -value;
    }
    i64::try_from(value).map_err(|_| RefError::Overflow)
}

/// Canonical text of `mantissa` at `scale`, computed independently of
/// `scalpel::fixed::DecimalText` (through `i128` and string slicing).
#[must_use]
pub fn reference_text(mantissa: i64, scale: u8) -> String {
    let magnitude = i128::from(mantissa).unsigned_abs().to_string();
    let scale = usize::from(scale);
    let padded = format!("{magnitude:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    let frac = frac.trim_end_matches('0');
    let sign = if mantissa < 0 { "-" } else { "" };
    if frac.is_empty() { format!("{sign}{int}") } else { format!("{sign}{int}.{frac}") }
}

/// A decimal string as an integer at 18 decimals, parsed by hand (for
/// ordering printed levels); `None` if it is not plain decimal text.
#[must_use]
pub fn decimal_e18(text: &str) -> Option<i128> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (text.contains('.') && !digits(frac)) || frac.len() > 18 || int.len() > 19 {
        return None;
    }
    let frac = format!("{frac:0<18}");
    Some(int.parse::<i128>().ok()? * 10i128.pow(18) + frac.parse::<i128>().ok()?)
}

/// `scalpel book` in process on `data` as a recording of `venue`, with the
/// fuzz instruments; then every printed line must be a well-formed book:
/// bids strictly descending, asks strictly ascending, not crossed, only
/// positive quantities, at most `depth` levels a side, canonical decimals.
///
/// # Panics
/// When a printed book breaks one of those rules.
pub fn book_command(venue: scalpel::venue::Venue, data: &[u8]) {
    use scalpel::commands::book::{BookOptions, run_with_table};
    let depth = 5;
    let opts = BookOptions { venue: Some(venue), input: "fuzz-input".into(), depth, symbol: None, instruments: None };
    let mut out = Vec::new();
    let mut err = Vec::new();
    static TABLE: std::sync::OnceLock<InstrumentTable> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(fuzz_table).clone();
    let result = run_with_table(&opts, table, || scalpel::recording::decompressing(data), &mut out, &mut err);
    if let Ok(summary) = &result {
        assert_eq!(summary.published as usize, out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count());
    }
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).expect("a printed book is JSON");
        let levels = |side: &str| -> Vec<(i128, i128)> {
            let list = v[side].as_array().expect("a list of levels");
            assert!(list.len() <= depth, "more levels than --depth");
            list.iter()
                .map(|l| {
                    let (p, q) = (l[0].as_str().expect("price text"), l[1].as_str().expect("qty text"));
                    for t in [p, q] {
                        assert!(!t.contains('.') || !t.ends_with('0'), "not canonical: {t}");
                    }
                    (decimal_e18(p).expect("price"), decimal_e18(q).expect("qty"))
                })
                .collect()
        };
        let (bids, asks) = (levels("bids"), levels("asks"));
        assert!(bids.windows(2).all(|w| w[0].0 > w[1].0), "bids not descending: {}", String::from_utf8_lossy(line));
        assert!(asks.windows(2).all(|w| w[0].0 < w[1].0), "asks not ascending: {}", String::from_utf8_lossy(line));
        assert!(
            bids.iter().chain(&asks).all(|&(p, q)| p > 0 && q > 0),
            "zero level: {}",
            String::from_utf8_lossy(line)
        );
        if let (Some(b), Some(a)) = (bids.first(), asks.first()) {
            assert!(b.0 < a.0, "crossed book printed: {}", String::from_utf8_lossy(line));
        }
    }
}
