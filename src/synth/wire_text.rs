//! Numbers as the venues print them, appended to a caller-owned buffer
//! without allocating (once the buffer has grown to its working size).
//!
//! Both venues print prices and quantities with exactly the instrument's
//! decimals ("61800.20", "0.000"); Bybit prints a deleted level's quantity
//! as a bare "0" and some ticker fields canonically ("0.0001").

use crate::fixed::DecimalText;

/// Appends the decimal digits of `v`.
#[inline]
pub fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(crate::fixed::U64Text::new(v).as_bytes());
}

/// Appends `v` with a leading `-` when negative.
#[inline]
pub fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// Appends `mantissa` with exactly `scale` decimals: `(6180020, 2)` →
/// `61800.20`, `(0, 3)` → `0.000`, `(-5, 4)` → `-0.0005`.
#[inline]
pub fn push_fixed(out: &mut Vec<u8>, mantissa: i64, scale: u8) {
    if mantissa < 0 {
        out.push(b'-');
    }
    let v = mantissa.unsigned_abs();
    if scale == 0 {
        push_u64(out, v);
        return;
    }
    let div = 10u64.pow(u32::from(scale));
    push_u64(out, v / div);
    out.push(b'.');
    let mut frac = v % div;
    let mut digits = [b'0'; 20];
    for i in (0..usize::from(scale)).rev() {
        digits[i] = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    out.extend_from_slice(&digits[..usize::from(scale)]);
}

/// Appends the canonical text of `mantissa` at `scale` (no trailing zeros:
/// `(10_000, 8)` → `0.0001`).
#[inline]
pub fn push_canonical(out: &mut Vec<u8>, mantissa: i64, scale: u8) {
    out.extend_from_slice(DecimalText::new(mantissa, scale).as_bytes());
}

/// Appends `"…"`-quoted fixed-decimal text.
#[inline]
pub fn push_quoted_fixed(out: &mut Vec<u8>, mantissa: i64, scale: u8) {
    out.push(b'"');
    push_fixed(out, mantissa, scale);
    out.push(b'"');
}

/// How a venue writes the quantity of a deleted level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletedQty {
    /// With the instrument's decimals: `"0.000"` (Binance).
    Padded,
    /// A bare `"0"` (Bybit).
    Bare,
}

/// Appends `[["price","qty"],…]` for (price, qty) mantissas, both with their
/// scale's decimals.
pub fn push_levels(
    out: &mut Vec<u8>,
    levels: impl IntoIterator<Item = (i64, i64)>,
    price_scale: u8,
    qty_scale: u8,
    deleted: DeletedQty,
) {
    out.push(b'[');
    for (i, (price, qty)) in levels.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        push_quoted_fixed(out, price, price_scale);
        if qty == 0 && deleted == DeletedQty::Bare {
            out.extend_from_slice(b",\"0\"]");
        } else {
            out.push(b',');
            push_quoted_fixed(out, qty, qty_scale);
            out.push(b']');
        }
    }
    out.push(b']');
}

/// Appends `,"key":v` for an integer field.
#[inline]
pub fn push_int_field(out: &mut Vec<u8>, key: &[u8], v: i64) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key);
    out.extend_from_slice(b"\":");
    push_i64(out, v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn venue_number_formats() {
        assert_eq!(text(|o| push_fixed(o, 6_180_020, 2)), "61800.20");
        assert_eq!(text(|o| push_fixed(o, 14, 3)), "0.014");
        assert_eq!(text(|o| push_fixed(o, 0, 3)), "0.000");
        assert_eq!(text(|o| push_fixed(o, -5, 4)), "-0.0005");
        assert_eq!(text(|o| push_fixed(o, 1_178_462_659_091, 8)), "11784.62659091");
        assert_eq!(text(|o| push_fixed(o, 42, 0)), "42");
        assert_eq!(text(|o| push_canonical(o, 10_000, 8)), "0.0001");
        assert_eq!(text(|o| push_u64(o, 0)), "0");
        assert_eq!(text(|o| push_u64(o, u64::MAX)), "18446744073709551615");
        assert_eq!(text(|o| push_i64(o, i64::MIN)), "-9223372036854775808");
        assert_eq!(text(|o| push_quoted_fixed(o, 2_507, 3)), "\"2.507\"");
        assert_eq!(
            text(|o| push_levels(o, [(105, 0), (104, 7)], 1, 2, DeletedQty::Padded)),
            r#"[["10.5","0.00"],["10.4","0.07"]]"#
        );
        assert_eq!(
            text(|o| push_levels(o, [(105, 0), (104, 7)], 1, 2, DeletedQty::Bare)),
            r#"[["10.5","0"],["10.4","0.07"]]"#
        );
        assert_eq!(text(|o| push_levels(o, [], 1, 2, DeletedQty::Bare)), "[]");
        assert_eq!(text(|o| push_int_field(o, b"E", -3)), r#","E":-3"#);
    }

    proptest! {
        #[test]
        fn fixed_text_parses_back(m in any::<i64>(), scale in 0u8..=12) {
            let s = text(|o| push_fixed(o, m, scale));
            prop_assert_eq!(crate::fixed::parse_decimal(s.as_bytes(), scale, true), Ok(m));
            if scale > 0 {
                prop_assert_eq!(s.split_once('.').map(|(_, f)| f.len()), Some(usize::from(scale)));
            }
        }
    }
}
