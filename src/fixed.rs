//! Exact fixed-point decimals: prices, quantities, rates and notionals as
//! integer mantissas.
//!
//! A [`Price`] or [`Qty`] is an `i64` mantissa at the *instrument's* scale:
//! BTCUSDT on Binance prints prices with 2 decimals, so `"61800.20"` is
//! `Price(6180020)` at scale 2. The scale lives in the
//! [`Instrument`](crate::instrument::Instrument), not in every value, so the
//! hot types stay 8 bytes and `Copy`. [`Rate`], [`RefPrice`] and [`Notional`]
//! use one fixed scale of 8 decimals because their text comes with more
//! decimals than any tick (Binance index prices, funding rates, fee rates).
//!
//! # Invariants
//! - Text → integer is exact or an error: no float is ever involved, no digit
//!   is ever rounded away. The accepted grammar is `-?[0-9]+(\.[0-9]+)?`, with
//!   at most `scale` decimals; the sign is only accepted where the type allows
//!   negative values. Empty text, a lone or misplaced sign, `+`, spaces,
//!   `NaN`, exponents (`1e5`), a bare `.`, `5.` or `.5`, more decimals than the
//!   scale allows, and values that overflow `i64` are errors.
//! - A [`Price`], [`Qty`] or [`SignedQty`] read from outside (market data,
//!   private messages) has a magnitude of at most [`MAX_MANTISSA`]
//!   (`10^15 - 1` units of the instrument's scale): anything larger is
//!   refused as [`FixedError::OutOfRange`] ([`parse_bounded`]). So the sum or
//!   difference of any two such values, a book key in ticks and a ladder
//!   window around it all stay more than `2^62` away from the edges of `i64`,
//!   and a price times a quantity fits `i128` with room to spare.
//! - Integer → text is canonical: no trailing zeros in the fraction, no
//!   fraction when it is zero (`"61800"`, `"0.5"`, `"-0.001"`). Parsing the
//!   canonical text returns the same mantissa (property-tested).
//!
//! The design follows the approach of nautilus_trader's `Price`/`Quantity`
//! (raw integer plus precision) but keeps the precision out of the value.

use std::fmt;

/// Largest supported decimal scale. `10^18` still fits in an `i64`.
pub const MAX_SCALE: u8 = 18;

/// The scale of [`Rate`], [`RefPrice`] and [`Notional`]: 8 decimals.
pub const E8: u8 = 8;

/// Largest magnitude of a [`Price`], [`Qty`] or [`SignedQty`] mantissa read
/// from outside: fifteen significant digits at the instrument's scale
/// (`999999999999999`). At scale 8 (a tick of 1e-8) that is prices up to
/// 9 999 999.99999999; at scale 2, up to 9 999 999 999 999.99 — far beyond any
/// listed contract, and far from the edges of `i64` (module invariants).
pub const MAX_MANTISSA: i64 = 999_999_999_999_999;

/// Powers of ten that fit an `i64`, indexed by exponent.
const POW10: [i64; 19] = {
    let mut table = [1i64; 19];
    let mut i = 1;
    while i < 19 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// `10^exp` for `exp <= 18`.
///
/// # Panics
/// Never for `exp <= MAX_SCALE`; larger exponents index out of the table,
/// which callers prevent by validating scales at load time.
#[inline]
#[must_use]
pub const fn pow10(exp: u8) -> i64 {
    POW10[exp as usize]
}

/// Why decimal text was refused.
///
/// # Errors
/// Returned by [`parse_decimal`] and every `parse` constructor in this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FixedError {
    /// The text was empty.
    #[error("empty decimal")]
    Empty,
    /// A sign where none is allowed: `+`, a lone `-`, a `-` after the first
    /// byte, or a negative value for a type that cannot be negative.
    #[error("misplaced or disallowed sign")]
    Sign,
    /// A byte that is not a digit or the single decimal point (spaces, `e`,
    /// `NaN`, a second `.`).
    #[error("invalid character in decimal")]
    InvalidChar,
    /// A decimal point without digits on both sides (`"5."`, `".5"`).
    #[error("decimal point without digits on both sides")]
    MissingDigits,
    /// More decimals than the scale allows; the value cannot be represented
    /// exactly.
    #[error("more decimals than the scale allows")]
    TooManyDecimals,
    /// The value does not fit the `i64` mantissa at this scale.
    #[error("decimal overflows the mantissa")]
    Overflow,
    /// The requested scale is larger than [`MAX_SCALE`].
    #[error("scale larger than 18")]
    BadScale,
    /// A price or quantity with more than fifteen significant digits at its
    /// instrument's scale (above [`MAX_MANTISSA`] units): no instrument can
    /// represent it, so it is refused rather than carried towards an
    /// overflow.
    #[error("value too large for the instrument (more than 15 significant digits at its scale)")]
    OutOfRange,
}

/// Parses an unsigned price or quantity at an instrument's `scale`, exactly
/// as [`parse_decimal`] does, and refuses magnitudes above
/// [`MAX_MANTISSA`].
///
/// # Errors
/// As [`parse_decimal`], plus [`FixedError::OutOfRange`].
#[inline]
pub fn parse_bounded(text: &[u8], scale: u8) -> Result<i64, FixedError> {
    check_bounded(parse_decimal(text, scale, false)?)
}

/// `Ok(mantissa)` when its magnitude is at most [`MAX_MANTISSA`].
///
/// # Errors
/// [`FixedError::OutOfRange`] otherwise.
#[inline]
pub fn check_bounded(mantissa: i64) -> Result<i64, FixedError> {
    if mantissa.unsigned_abs() <= MAX_MANTISSA as u64 { Ok(mantissa) } else { Err(FixedError::OutOfRange) }
}

/// Parses decimal text into an integer mantissa at `scale` decimals, exactly.
///
/// `"61800.2"` at scale 2 is `6180020`. Set `allow_negative` for signed
/// quantities (funding rates, PnL); prices and sizes refuse a sign.
///
/// # Errors
/// Any [`FixedError`] variant except `BadScale` describes malformed text;
/// `BadScale` means `scale > 18`.
#[inline]
pub fn parse_decimal(text: &[u8], scale: u8, allow_negative: bool) -> Result<i64, FixedError> {
    if let Some((value, end)) = parse_unsigned_prefix(text, 0, scale) {
        if end == text.len() {
            return Ok(value);
        }
    }
    parse_decimal_checked(text, scale, allow_negative)
}

/// The common case of [`parse_decimal`], without overflow checks: an
/// unsigned decimal `[0-9]+(\.[0-9]+)?` starting at `text[pos]` with at
/// most 18 digits before scaling, at most `scale` decimals, and a result
/// below `10^18`. Returns the mantissa and the position after the number;
/// the caller checks what follows. `None` for anything else — the caller
/// then uses the checked parser, which gives the precise error — so this
/// never returns a value the checked parser would not.
#[inline]
#[must_use]
pub fn parse_unsigned_prefix(text: &[u8], pos: usize, scale: u8) -> Option<(i64, usize)> {
    if scale > MAX_SCALE {
        return None;
    }
    let mut acc: u64 = 0;
    let mut i = pos;
    while let Some(&b) = text.get(i) {
        let d = b.wrapping_sub(b'0');
        if d >= 10 {
            break;
        }
        acc = acc.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    let int_digits = i - pos;
    if int_digits == 0 {
        return None;
    }
    let mut frac = 0usize;
    if text.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(&b) = text.get(i) {
            let d = b.wrapping_sub(b'0');
            if d >= 10 {
                break;
            }
            acc = acc.wrapping_mul(10).wrapping_add(u64::from(d));
            i += 1;
        }
        frac = i - start;
        if frac == 0 || frac > usize::from(scale) {
            return None;
        }
    }
    // ≤ 18 significant digits plus the missing decimals stays below 10^18.
    if int_digits + usize::from(scale) > 18 {
        return None;
    }
    Some(((acc * pow10(scale - frac as u8) as u64) as i64, i))
}

/// Eight bytes at `pos` as a little-endian word, if the text has them.
#[inline(always)]
pub(crate) fn word_at(text: &[u8], pos: usize) -> Option<u64> {
    let bytes: [u8; 8] = text.get(pos..pos + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// How many of the word's bytes, from the first, are ASCII digits. Exact
/// for the first non-digit byte: a borrow can only come from a byte below
/// it, and those are digits, which do not borrow.
#[inline(always)]
pub(crate) fn leading_digits(w: u64) -> usize {
    let d = w.wrapping_sub(0x3030_3030_3030_3030);
    let non_digit = (d.wrapping_add(0x7676_7676_7676_7676) | d) & 0x8080_8080_8080_8080;
    (non_digit.trailing_zeros() / 8) as usize
}

/// The value of the first `n` (1..=8) bytes of `w`, all ASCII digits, in
/// memory order. Lemire's eight-digit SWAR conversion ("Faster Integer
/// Parsing", 2018), with the digits shifted up so that the missing ones
/// read as leading zeros.
#[inline(always)]
fn swar_digits(w: u64, n: usize) -> u64 {
    let v = w.wrapping_sub(0x3030_3030_3030_3030) << (8 * (8 - n));
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    (((v & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32)))
        .wrapping_add(((v >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32))))
        >> 32
}

/// The value of `doc[from..to]` when it is the shape venues print most:
/// at most eight bytes, exactly `scale` (1..=7) decimals after one point,
/// at least one integer digit; `None` for anything else.
///
/// The eight bytes that end at `to` are read as one word, so the text sits
/// in its top bytes whatever its length and the point is at a fixed byte
/// for a given scale: one compare checks it, one shift closes the gap it
/// leaves, the bytes below the text are set to `'0'` (leading zeros), and
/// a single check and conversion ([`swar_digits`] of all eight bytes)
/// finish. No search, and no branch on where the point is. Subtraction
/// borrows run towards higher bytes, so the check flags the lowest
/// non-digit byte exactly, which is all it needs to refuse.
#[inline(always)]
fn exact_scale_before(doc: &[u8], from: usize, to: usize, scale: u8) -> Option<u64> {
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    let len = to.wrapping_sub(from);
    if !(1..=7).contains(&scale) || len < usize::from(scale) + 2 || len > 8 {
        return None;
    }
    let w = word_at(doc, to.checked_sub(8)?)?;
    let frac_bits = 8 * u32::from(scale);
    if (w >> (56 - frac_bits)) as u8 != b'.' {
        return None;
    }
    let frac = !0u64 << (64 - frac_bits);
    let packed = (w & frac) | ((w << 8) & !frac);
    let text = !0u64 << (8 * (9 - len));
    let ascii = (packed & text) | (ZEROS & !text);
    let d = ascii.wrapping_sub(ZEROS);
    if (d.wrapping_add(0x7676_7676_7676_7676) | d) & 0x8080_8080_8080_8080 != 0 {
        return None;
    }
    Some(swar_digits(ascii, 8))
}

/// [`parse_unsigned_prefix`] reading eight bytes at a time: at most 7
/// integer and 7 fractional digits, and eight readable bytes at the start of
/// each part; anything else goes to the scalar version, so the result is
/// always the same.
#[inline(always)]
#[must_use]
pub fn parse_unsigned_prefix_swar(text: &[u8], pos: usize, scale: u8) -> Option<(i64, usize)> {
    let (Some(w), true) = (word_at(text, pos), scale <= 11) else {
        return parse_unsigned_prefix(text, pos, scale);
    };
    let n = leading_digits(w);
    if n == 0 || n == 8 {
        return parse_unsigned_prefix(text, pos, scale);
    }
    let int = swar_digits(w, n);
    let mut end = pos + n;
    let mut frac = 0u64;
    let mut frac_digits = 0usize;
    if text[end] == b'.' {
        let Some(f) = word_at(text, end + 1) else {
            return parse_unsigned_prefix(text, pos, scale);
        };
        frac_digits = leading_digits(f);
        if frac_digits == 0 || frac_digits == 8 || frac_digits > usize::from(scale) {
            return parse_unsigned_prefix(text, pos, scale);
        }
        frac = swar_digits(f, frac_digits);
        end += 1 + frac_digits;
    }
    // int < 10^7 and scale ≤ 11 keep the result below 10^18.
    let value = int * pow10(scale) as u64 + frac * pow10(scale - frac_digits as u8) as u64;
    Some((value as i64, end))
}

/// Parses the decimal `doc[from..to]` (bounds already known, e.g. from a
/// structural index), exactly as [`parse_decimal`] would (unsigned).
///
/// Fast path for texts of at most eight bytes with eight readable bytes at
/// `from`: find the point with one word compare, close the gap it leaves
/// with a shift, and convert all the digits in one SWAR step
/// ([`swar_digits`]). No search for the end, so consecutive calls do not
/// wait on each other. Anything else goes to the general parser.
///
/// # Errors
/// As [`parse_decimal`].
#[inline(always)]
pub fn parse_decimal_between(doc: &[u8], from: usize, to: usize, scale: u8) -> Result<i64, FixedError> {
    if let Some(value) = exact_scale_before(doc, from, to, scale) {
        return Ok(value as i64);
    }
    // A single digit: Bybit deletes a level with quantity "0".
    if let (1, Some(&b @ b'0'..=b'9')) = (to.wrapping_sub(from), doc.get(from)) {
        if scale <= MAX_SCALE {
            return Ok(i64::from(b - b'0') * pow10(scale));
        }
    }
    parse_decimal_between_general(doc, from, to, scale)
}

/// [`parse_decimal_between`] for every other shape: kept out of line so
/// that the common path stays small where it is inlined (a level-list walk
/// keeps its state in registers).
#[inline(never)]
fn parse_decimal_between_general(doc: &[u8], from: usize, to: usize, scale: u8) -> Result<i64, FixedError> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let len = to.wrapping_sub(from);
    if let (true, Some(w)) = ((1..=8).contains(&len) && scale <= 10, word_at(doc, from)) {
        // Lowest '.' byte (exact for the lowest match).
        let t = w ^ (ONES * u64::from(b'.'));
        let dots = t.wrapping_sub(ONES) & !t & HIGHS;
        let point = (dots.trailing_zeros() / 8) as usize;
        let (digits, frac, packed) = if point >= len {
            (len, 0, w)
        } else {
            let low = (1u64 << (8 * point)) - 1;
            (len - 1, len - 1 - point, (w & low) | ((w >> 8) & !low))
        };
        let well_formed = digits >= 1 && (point >= len || (point >= 1 && frac >= 1));
        if well_formed && frac <= usize::from(scale) && leading_digits(packed) >= digits {
            let value = swar_digits(packed, digits) * pow10(scale - frac as u8) as u64;
            return Ok(value as i64);
        }
    }
    parse_decimal(doc.get(from..to).unwrap_or_default(), scale, false)
}

fn parse_decimal_checked(text: &[u8], scale: u8, allow_negative: bool) -> Result<i64, FixedError> {
    if scale > MAX_SCALE {
        return Err(FixedError::BadScale);
    }
    let (negative, digits) = match text.split_first() {
        None => return Err(FixedError::Empty),
        Some((b'-', rest)) => {
            if !allow_negative || rest.is_empty() {
                return Err(FixedError::Sign);
            }
            (true, rest)
        }
        Some((b'+', _)) => return Err(FixedError::Sign),
        Some(_) => (false, text),
    };
    // Accumulate as a negative number so that i64::MIN is reachable.
    let mut acc: i64 = 0;
    let mut int_digits = 0usize;
    let mut frac_digits: u8 = 0;
    let mut seen_point = false;
    for &byte in digits {
        match byte {
            b'0'..=b'9' => {
                if seen_point {
                    if frac_digits == scale {
                        return Err(FixedError::TooManyDecimals);
                    }
                    frac_digits += 1;
                } else {
                    int_digits += 1;
                }
                acc = acc
                    .checked_mul(10)
                    .and_then(|v| v.checked_sub(i64::from(byte - b'0')))
                    .ok_or(FixedError::Overflow)?;
            }
            b'.' if !seen_point => {
                if int_digits == 0 {
                    return Err(FixedError::MissingDigits);
                }
                seen_point = true;
            }
            b'-' | b'+' => return Err(FixedError::Sign),
            _ => return Err(FixedError::InvalidChar),
        }
    }
    if int_digits == 0 {
        return Err(FixedError::MissingDigits);
    }
    if seen_point && frac_digits == 0 {
        return Err(FixedError::MissingDigits);
    }
    let scaled = acc.checked_mul(pow10(scale - frac_digits)).ok_or(FixedError::Overflow)?;
    if negative { Ok(scaled) } else { scaled.checked_neg().ok_or(FixedError::Overflow) }
}

/// Parses decimal text whose fraction may carry trailing zeros beyond
/// `scale` (exchange metadata writes `"0.10000000"` for a tick of 0.1).
/// Only zeros may be dropped; any other excess digit is still an error.
/// Meant for configuration and metadata, not for market data.
///
/// # Errors
/// As [`parse_decimal`].
pub fn parse_decimal_trimmed(text: &[u8], scale: u8, allow_negative: bool) -> Result<i64, FixedError> {
    let mut end = text.len();
    if text.contains(&b'.') {
        while end > 0 && text[end - 1] == b'0' {
            end -= 1;
        }
        if end > 0 && text[end - 1] == b'.' {
            end -= 1;
        }
    }
    parse_decimal(&text[..end], scale, allow_negative)
}

/// Number of decimals written in decimal text, ignoring trailing zeros
/// (`"0.10"` → 1, `"5"` → 0). Used to infer scales from exchange metadata.
#[must_use]
pub fn significant_decimals(text: &str) -> u8 {
    match text.split_once('.') {
        None => 0,
        Some((_, frac)) => {
            let digits = frac.trim_end_matches('0').len();
            u8::try_from(digits).unwrap_or(u8::MAX)
        }
    }
}

/// Canonical decimal text of a mantissa, written into a fixed buffer.
///
/// `DecimalText::new(6180020, 2)` reads `"61800.2"`. At most 21 bytes are
/// needed (`"-9.223372036854775808"`); the buffer holds 24.
#[derive(Clone, Copy)]
pub struct DecimalText {
    buf: [u8; 24],
    len: u8,
}

impl DecimalText {
    /// Writes `mantissa` at `scale` decimals (scale is clamped to 18).
    #[must_use]
    pub fn new(mantissa: i64, scale: u8) -> Self {
        let scale = scale.min(MAX_SCALE) as usize;
        // Digits of |mantissa|, least significant first.
        let mut digits = [0u8; 20];
        let mut n = mantissa.unsigned_abs();
        let mut count = 0usize;
        loop {
            digits[count] = b'0' + (n % 10) as u8;
            n /= 10;
            count += 1;
            if n == 0 {
                break;
            }
        }
        // Drop trailing zeros of the fraction; positions at or above `count`
        // are implicit zeros.
        let mut skip = 0usize;
        while skip < scale && (skip >= count || digits[skip] == b'0') {
            skip += 1;
        }
        let frac_len = scale - skip;
        let mut out = [0u8; 24];
        let mut len = 0usize;
        if mantissa < 0 {
            out[len] = b'-';
            len += 1;
        }
        // Integer part: digits above the scale, most significant first.
        if count > scale {
            for i in (scale..count).rev() {
                out[len] = digits[i];
                len += 1;
            }
        } else {
            out[len] = b'0';
            len += 1;
        }
        if frac_len > 0 {
            out[len] = b'.';
            len += 1;
            // Fraction digits from position scale-1 down to skip.
            for i in (skip..scale).rev() {
                out[len] = if i < count { digits[i] } else { b'0' };
                len += 1;
            }
        }
        Self { buf: out, len: len as u8 }
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // The buffer only ever holds ASCII digits, '-' and '.'.
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("")
    }

    /// The text as bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

impl fmt::Display for DecimalText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for DecimalText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Decimal text of a `u64` in a fixed array (at most 20 digits).
#[derive(Clone, Copy)]
pub struct U64Text {
    buf: [u8; 20],
    start: u8,
}

impl U64Text {
    /// The digits of `value`.
    #[inline]
    #[must_use]
    pub fn new(mut value: u64) -> Self {
        let mut buf = [0u8; 20];
        let mut start = buf.len();
        loop {
            start -= 1;
            buf[start] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        Self { buf, start: start as u8 }
    }

    /// The digits.
    #[inline]
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[usize::from(self.start)..]
    }
}

macro_rules! scaled_newtype {
    ($(#[$doc:meta])* $name:ident, signed = $signed:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// Zero.
            pub const ZERO: Self = Self(0);

            /// Parses decimal text at `scale` decimals, exactly, refusing
            /// magnitudes above [`MAX_MANTISSA`].
            ///
            /// # Errors
            /// See [`FixedError`].
            #[inline]
            pub fn parse(text: &[u8], scale: u8) -> Result<Self, FixedError> {
                check_bounded(parse_decimal(text, scale, $signed)?).map(Self)
            }

            /// The raw mantissa.
            #[inline]
            #[must_use]
            pub const fn mantissa(self) -> i64 {
                self.0
            }

            /// Canonical decimal text at `scale` decimals.
            #[must_use]
            pub fn text(self, scale: u8) -> DecimalText {
                DecimalText::new(self.0, scale)
            }

            /// `true` when the mantissa is zero.
            #[inline]
            #[must_use]
            pub const fn is_zero(self) -> bool {
                self.0 == 0
            }
        }
    };
}

scaled_newtype!(
    /// A price at the instrument's price scale. Never negative when parsed.
    Price,
    signed = false
);
scaled_newtype!(
    /// A quantity (base asset) at the instrument's quantity scale. Never
    /// negative when parsed; signed positions use [`SignedQty`].
    Qty,
    signed = false
);
scaled_newtype!(
    /// A signed quantity at the instrument's quantity scale (net positions).
    SignedQty,
    signed = true
);

macro_rules! e8_newtype {
    ($(#[$doc:meta])* $name:ident, signed = $signed:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// Zero.
            pub const ZERO: Self = Self(0);

            /// Parses decimal text with up to 8 decimals, exactly.
            ///
            /// # Errors
            /// See [`FixedError`].
            #[inline]
            pub fn parse(text: &[u8]) -> Result<Self, FixedError> {
                parse_decimal(text, E8, $signed).map(Self)
            }

            /// The raw mantissa (units of 1e-8).
            #[inline]
            #[must_use]
            pub const fn mantissa(self) -> i64 {
                self.0
            }

            /// Canonical decimal text.
            #[must_use]
            pub fn text(self) -> DecimalText {
                DecimalText::new(self.0, E8)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.text(), f)
            }
        }
    };
}

e8_newtype!(
    /// A dimensionless rate at 8 decimals: funding rates, fee rates
    /// (`0.0004` = 4 bps = `Rate(40_000)`). Signed.
    Rate,
    signed = true
);
e8_newtype!(
    /// A reference price at 8 decimals: mark, index, estimated settlement and
    /// average fill prices, which the venues print with more decimals than the
    /// tick. Never negative when parsed.
    RefPrice,
    signed = false
);
e8_newtype!(
    /// An amount of quote currency (USDT) at 8 decimals: notionals, fees,
    /// PnL. Signed.
    Notional,
    signed = true
);

impl Rate {
    /// A rate from basis points with up to 4 decimals of a basis point
    /// (`from_bps_e4(55_000)` = 5.5 bps).
    #[must_use]
    pub const fn from_bps_e4(bps_e4: i64) -> Self {
        // 1 bp = 1e-4 = 10_000 units of 1e-8; 1e-4 bp = 1 unit.
        Self(bps_e4)
    }

    /// The rate in basis points as an `f64`, for reports and signals only.
    #[must_use]
    pub fn to_bps_f64(self) -> f64 {
        self.0 as f64 / 10_000.0
    }
}

/// Rescales a mantissa from one scale to another, exactly.
///
/// # Errors
/// [`FixedError::TooManyDecimals`] when scaling down would drop non-zero
/// digits; [`FixedError::Overflow`] when scaling up overflows.
pub fn rescale(mantissa: i64, from: u8, to: u8) -> Result<i64, FixedError> {
    if from > MAX_SCALE || to > MAX_SCALE {
        return Err(FixedError::BadScale);
    }
    if to >= from {
        mantissa.checked_mul(pow10(to - from)).ok_or(FixedError::Overflow)
    } else {
        let div = pow10(from - to);
        if mantissa % div != 0 { Err(FixedError::TooManyDecimals) } else { Ok(mantissa / div) }
    }
}

/// Direction to round when a value must land on a grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Towards negative infinity.
    Down,
    /// Towards positive infinity.
    Up,
}

/// Rounds `mantissa` to a multiple of `step` (`step > 0`) in direction `dir`.
/// Returns `None` on overflow or a non-positive step.
#[must_use]
pub fn round_to_step(mantissa: i64, step: i64, dir: Round) -> Option<i64> {
    if step <= 0 {
        return None;
    }
    let floor = mantissa.checked_div_euclid(step)?.checked_mul(step)?;
    match dir {
        Round::Down => Some(floor),
        Round::Up if floor == mantissa => Some(floor),
        Round::Up => floor.checked_add(step),
    }
}

/// Quote notional of `price × qty` at 8 decimals, truncated towards zero
/// below 1e-8 USDT. `None` on overflow.
#[must_use]
pub fn notional(price: Price, price_scale: u8, qty: Qty, qty_scale: u8) -> Option<Notional> {
    let raw = i128::from(price.0) * i128::from(qty.0);
    let scale = i32::from(price_scale) + i32::from(qty_scale);
    let value = if scale >= i32::from(E8) {
        raw / 10i128.pow((scale - i32::from(E8)) as u32)
    } else {
        raw.checked_mul(10i128.pow((i32::from(E8) - scale) as u32))?
    };
    i64::try_from(value).ok().map(Notional)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_exchange_text() {
        assert_eq!(Price::parse(b"61800.20", 2), Ok(Price(6_180_020)));
        assert_eq!(Price::parse(b"61800.2", 2), Ok(Price(6_180_020)));
        assert_eq!(Price::parse(b"61800", 2), Ok(Price(6_180_000)));
        assert_eq!(Qty::parse(b"0.000", 3), Ok(Qty(0)));
        assert_eq!(Qty::parse(b"0", 3), Ok(Qty(0)));
        assert_eq!(Rate::parse(b"-0.00038167"), Ok(Rate(-38_167)));
        assert_eq!(RefPrice::parse(b"11784.62659091"), Ok(RefPrice(1_178_462_659_091)));
    }

    #[test]
    fn refuses_malformed_text() {
        let cases: &[(&[u8], FixedError)] = &[
            (b"", FixedError::Empty),
            (b"-", FixedError::Sign),
            (b"+1", FixedError::Sign),
            (b"-1", FixedError::Sign), // prices refuse a sign
            (b"1-", FixedError::Sign),
            (b"1.2.3", FixedError::InvalidChar),
            (b"NaN", FixedError::InvalidChar),
            (b"nan", FixedError::InvalidChar),
            (b"inf", FixedError::InvalidChar),
            (b"1e5", FixedError::InvalidChar),
            (b"1E5", FixedError::InvalidChar),
            (b" 1", FixedError::InvalidChar),
            (b"1 ", FixedError::InvalidChar),
            (b"1 000", FixedError::InvalidChar),
            (b"0x10", FixedError::InvalidChar),
            (b".5", FixedError::MissingDigits),
            (b"5.", FixedError::MissingDigits),
            (b".", FixedError::MissingDigits),
            (b"1.234", FixedError::TooManyDecimals),
            (b"1.230", FixedError::TooManyDecimals),
            (b"99999999999999999999", FixedError::Overflow),
            (b"92233720368547758.08", FixedError::Overflow),
        ];
        for (text, want) in cases {
            assert_eq!(Price::parse(text, 2), Err(*want), "text {:?}", String::from_utf8_lossy(text));
        }
        assert_eq!(parse_decimal(b"1", 19, false), Err(FixedError::BadScale));
        assert_eq!(parse_decimal(b"--1", 2, true), Err(FixedError::Sign));
    }

    #[test]
    fn extremes_fit_exactly() {
        assert_eq!(parse_decimal(b"9223372036854775807", 0, false), Ok(i64::MAX));
        assert_eq!(parse_decimal(b"-9223372036854775808", 0, true), Ok(i64::MIN));
        assert_eq!(parse_decimal(b"9223372036854775808", 0, false), Err(FixedError::Overflow));
        assert_eq!(parse_decimal(b"-9.223372036854775808", 18, true), Ok(i64::MIN));
        assert_eq!(DecimalText::new(i64::MIN, 18).as_str(), "-9.223372036854775808");
        assert_eq!(DecimalText::new(i64::MAX, 0).as_str(), "9223372036854775807");
    }

    #[test]
    fn prices_and_quantities_are_bounded_at_fifteen_digits() {
        // The largest accepted value, at the scales of the smallest tick
        // (1e-8) and of the largest (10: scale 0).
        assert_eq!(Price::parse(b"9999999.99999999", 8), Ok(Price(MAX_MANTISSA)));
        assert_eq!(Price::parse(b"10000000", 8), Err(FixedError::OutOfRange));
        assert_eq!(Qty::parse(b"999999999999999", 0), Ok(Qty(MAX_MANTISSA)));
        assert_eq!(Qty::parse(b"1000000000000000", 0), Err(FixedError::OutOfRange));
        assert_eq!(SignedQty::parse(b"-999999999999999", 0), Ok(SignedQty(-MAX_MANTISSA)));
        assert_eq!(SignedQty::parse(b"-1000000000000000", 0), Err(FixedError::OutOfRange));
        // i64's own limits: refused as out of range (fits i64) or overflow.
        assert_eq!(parse_bounded(b"9223372036854775807", 0), Err(FixedError::OutOfRange));
        assert_eq!(parse_bounded(b"9223372036854775808", 0), Err(FixedError::Overflow));
        assert_eq!(check_bounded(i64::MIN), Err(FixedError::OutOfRange));
        assert_eq!(check_bounded(-MAX_MANTISSA), Ok(-MAX_MANTISSA));
        // Unbounded parsing (rates, notionals at 8 decimals) is unchanged.
        assert_eq!(parse_decimal(b"92233720368.54775807", E8, false), Ok(i64::MAX));
    }

    #[test]
    fn canonical_text() {
        assert_eq!(DecimalText::new(6_180_000, 2).as_str(), "61800");
        assert_eq!(DecimalText::new(6_180_020, 2).as_str(), "61800.2");
        assert_eq!(DecimalText::new(50, 2).as_str(), "0.5");
        assert_eq!(DecimalText::new(5, 2).as_str(), "0.05");
        assert_eq!(DecimalText::new(0, 3).as_str(), "0");
        assert_eq!(DecimalText::new(-1, 3).as_str(), "-0.001");
        assert_eq!(DecimalText::new(-1000, 3).as_str(), "-1");
        assert_eq!(DecimalText::new(1_000_000, 3).as_str(), "1000");
        assert_eq!(DecimalText::new(7, 0).as_str(), "7");
        assert_eq!(DecimalText::new(10, 1).as_str(), "1");
    }

    #[test]
    fn swar_parses_exchange_text() {
        let doc = br#"["61800.20","0.014"],["7","12345678.5"]]"#;
        assert_eq!(parse_unsigned_prefix_swar(doc, 2, 2), Some((6_180_020, 10)));
        assert_eq!(parse_unsigned_prefix_swar(doc, 13, 3), Some((14, 18)));
        assert_eq!(parse_unsigned_prefix_swar(doc, 23, 2), Some((700, 24)));
        assert_eq!(parse_unsigned_prefix_swar(doc, 27, 1), Some((123_456_785, 37)));
        assert_eq!(parse_unsigned_prefix_swar(b"0.1\"]]", 0, 0), None);
    }

    #[test]
    fn exact_scale_path_agrees_with_parse_decimal_at_every_shape() {
        // Every length and point position the word-at-the-end path takes,
        // behind prefixes of 0..8 bytes (the word then starts before the
        // document's first byte, or does not), each byte also replaced by
        // bytes it must refuse.
        let mut checked = 0;
        for scale in 1u8..=7 {
            for int_len in 1..=(8 - usize::from(scale) - 1) {
                let mut text: Vec<u8> = (0..int_len).map(|i| b'1' + (i as u8 % 9)).collect();
                text.push(b'.');
                text.extend((0..scale).map(|i| b'9' - i));
                for prefix in 0..8 {
                    let mut doc = vec![b'"'; prefix];
                    doc.extend_from_slice(&text);
                    doc.push(b'"');
                    let (from, to) = (prefix, prefix + text.len());
                    let want = parse_decimal(&text, scale, false);
                    assert!(want.is_ok());
                    assert_eq!(
                        parse_decimal_between(&doc, from, to, scale),
                        want,
                        "{}",
                        String::from_utf8_lossy(&text)
                    );
                    assert_eq!(
                        exact_scale_before(&doc, from, to, scale).map(|v| v as i64),
                        (to >= 8).then(|| want.unwrap())
                    );
                    for at in from..to {
                        for bad in [b'.', b'/', b':', b'"', b'-', 0, 0x80, 0xff, b'0'] {
                            let mut m = doc.clone();
                            m[at] = bad;
                            let want = parse_decimal(&m[from..to], scale, false);
                            assert_eq!(parse_decimal_between(&m, from, to, scale), want);
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 5000);
    }

    #[test]
    fn between_parses_exchange_text() {
        let doc = br#"["61800.20","0.014"],["7","20.004"],["100000.10","1"]]"#;
        assert_eq!(parse_decimal_between(doc, 2, 10, 2), Ok(6_180_020));
        assert_eq!(parse_decimal_between(doc, 13, 18, 3), Ok(14));
        assert_eq!(parse_decimal_between(doc, 23, 24, 2), Ok(700));
        assert_eq!(parse_decimal_between(doc, 27, 33, 3), Ok(20_004));
        assert_eq!(parse_decimal_between(doc, 38, 47, 2), Ok(10_000_010));
        assert_eq!(parse_decimal_between(doc, 2, 10, 1), Err(FixedError::TooManyDecimals));
    }

    #[test]
    fn trimmed_parse_for_metadata() {
        assert_eq!(parse_decimal_trimmed(b"0.10000000", 2, false), Ok(10));
        assert_eq!(parse_decimal_trimmed(b"100", 2, false), Ok(10_000));
        assert_eq!(parse_decimal_trimmed(b"0.10000001", 2, false), Err(FixedError::TooManyDecimals));
        assert_eq!(significant_decimals("0.10"), 1);
        assert_eq!(significant_decimals("0.001"), 3);
        assert_eq!(significant_decimals("5"), 0);
    }

    #[test]
    fn step_rounding_and_notional() {
        assert_eq!(round_to_step(6_180_027, 10, Round::Down), Some(6_180_020));
        assert_eq!(round_to_step(6_180_027, 10, Round::Up), Some(6_180_030));
        assert_eq!(round_to_step(6_180_020, 10, Round::Up), Some(6_180_020));
        assert_eq!(round_to_step(-15, 10, Round::Down), Some(-20));
        assert_eq!(round_to_step(5, 0, Round::Down), None);
        // 61800.20 × 0.014 = 865.2028 USDT
        assert_eq!(notional(Price(6_180_020), 2, Qty(14), 3), Some(Notional(86_520_280_000)));
        assert_eq!(rescale(6_180_020, 2, 8), Ok(6_180_020_000_000));
        assert_eq!(rescale(6_180_020_000_000, 8, 2), Ok(6_180_020));
        assert_eq!(rescale(6_180_020_000_001, 8, 2), Err(FixedError::TooManyDecimals));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn canonical_text_round_trips(mantissa in any::<i64>(), scale in 0u8..=18) {
            let text = DecimalText::new(mantissa, scale);
            prop_assert_eq!(parse_decimal(text.as_bytes(), scale, true), Ok(mantissa));
            // Canonical: no trailing zero in a fraction, no bare point.
            let s = text.as_str();
            if s.contains('.') {
                prop_assert!(!s.ends_with('0') && !s.ends_with('.'));
            }
        }

        #[test]
        fn padded_text_parses_to_same_value(mantissa in 0i64..1_000_000_000_000, scale in 0u8..=8) {
            // The venues pad fractions with zeros up to their precision.
            let canonical = DecimalText::new(mantissa, scale);
            let mut padded = canonical.as_str().to_owned();
            if scale > 0 {
                if !padded.contains('.') { padded.push('.'); }
                let frac = padded.split_once('.').map_or(0, |(_, f)| f.len());
                for _ in frac..usize::from(scale) { padded.push('0'); }
            }
            prop_assert_eq!(parse_decimal(padded.as_bytes(), scale, false), Ok(mantissa));
        }

        #[test]
        fn fast_path_agrees_with_checked_parser(
            bytes in proptest::collection::vec(prop_oneof![Just(b'0'), Just(b'7'), Just(b'9'), Just(b'.'), Just(b'-'), Just(b'e'), Just(b' ')], 0..24),
            scale in 0u8..=18,
        ) {
            let checked = parse_decimal_checked(&bytes, scale, false);
            if let Some((value, end)) = parse_unsigned_prefix(&bytes, 0, scale) {
                if end == bytes.len() {
                    prop_assert_eq!(Ok(value), checked);
                }
            }
            prop_assert_eq!(parse_decimal(&bytes, scale, false), checked);
            prop_assert_eq!(parse_decimal(&bytes, scale, true), parse_decimal_checked(&bytes, scale, true));
        }

        #[test]
        fn swar_path_agrees_with_scalar_path(
            bytes in proptest::collection::vec(prop_oneof![Just(b'0'), Just(b'3'), Just(b'9'), Just(b'.'), Just(b'"'), Just(b'/'), Just(b':'), Just(b' ')], 0..24),
            scale in 0u8..=18,
            pos in 0usize..4,
        ) {
            prop_assert_eq!(parse_unsigned_prefix_swar(&bytes, pos, scale), parse_unsigned_prefix(&bytes, pos, scale));
        }

        #[test]
        fn between_agrees_with_parse_decimal(
            bytes in proptest::collection::vec(prop_oneof![Just(b'0'), Just(b'4'), Just(b'9'), Just(b'.'), Just(b'"'), Just(b'-'), Just(b'a')], 0..20),
            scale in 0u8..=18,
            from in 0usize..4,
            len in 0usize..12,
        ) {
            let to = (from + len).min(bytes.len());
            let from = from.min(to);
            prop_assert_eq!(parse_decimal_between(&bytes, from, to, scale), parse_decimal(&bytes[from..to], scale, false));
        }

        #[test]
        fn between_agrees_with_parse_decimal_on_venue_shapes(
            prefix in proptest::collection::vec(prop_oneof![Just(b'"'), Just(b'['), Just(b','), Just(b'7'), Just(b'.')], 0..10),
            int_digits in proptest::collection::vec(b'0'..=b'9', 0..10),
            point in any::<bool>(),
            frac_digits in proptest::collection::vec(b'0'..=b'9', 0..9),
            mutate in proptest::option::of((0usize..20, prop_oneof![Just(b'.'), Just(b'/'), Just(b':'), Just(b'"'), Just(0u8), Just(0xffu8), Just(b'5')])),
            suffix in proptest::collection::vec(Just(b'"'), 0..3),
            scale in 0u8..=9,
        ) {
            let mut text = int_digits.clone();
            if point {
                text.push(b'.');
                text.extend_from_slice(&frac_digits);
            }
            if let Some((at, byte)) = mutate {
                if let Some(b) = text.get_mut(at) {
                    *b = byte;
                }
            }
            let mut bytes = prefix.clone();
            let from = bytes.len();
            bytes.extend_from_slice(&text);
            let to = bytes.len();
            bytes.extend_from_slice(&suffix);
            prop_assert_eq!(parse_decimal_between(&bytes, from, to, scale), parse_decimal(&text, scale, false));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..32), scale in 0u8..=20) {
            let _ = parse_decimal(&bytes, scale, true);
        }

        #[test]
        fn round_up_is_smallest_multiple_not_below(m in -1_000_000_000i64..1_000_000_000, step in 1i64..10_000) {
            let up = round_to_step(m, step, Round::Up).unwrap();
            let down = round_to_step(m, step, Round::Down).unwrap();
            prop_assert!(down <= m && m <= up);
            prop_assert_eq!(up.rem_euclid(step), 0);
            prop_assert_eq!(down.rem_euclid(step), 0);
            prop_assert!(up - down == 0 || up - down == step);
        }
    }
}
