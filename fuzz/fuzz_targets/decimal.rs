//! Decimal `Price`/`Qty` parsing (every parser in `scalpel::fixed`) against
//! an independent reference (`scalpel_fuzz::reference_decimal`), and the
//! canonical text writer against an independent formatter.
//!
//! Input: `[scale, flags, text…]`. Every parser must give the reference's
//! value or an error of the reference's class; the fast paths (prefix,
//! SWAR, between-bounds) must agree with the checked parser; bounded
//! parsing refuses exactly the magnitudes above `MAX_MANTISSA`; every
//! accepted value prints canonically and parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scalpel::fixed::{
    DecimalText, FixedError, MAX_MANTISSA, MAX_SCALE, Price, Qty, SignedQty, parse_bounded, parse_decimal,
    parse_decimal_between, parse_decimal_trimmed, parse_unsigned_prefix, parse_unsigned_prefix_swar,
};
use scalpel_fuzz::{RefError, reference_decimal, reference_text};

fn agrees(real: Result<i64, FixedError>, reference: Result<i64, RefError>, what: &str, text: &[u8]) {
    let ok = match (real, reference) {
        (Ok(a), Ok(b)) => a == b,
        (Err(FixedError::Overflow), Err(RefError::Overflow)) => true,
        (Err(FixedError::TooManyDecimals | FixedError::Overflow), Err(RefError::TooManyDecimals)) => true,
        (
            Err(
                FixedError::Empty
                | FixedError::Sign
                | FixedError::InvalidChar
                | FixedError::MissingDigits
                | FixedError::TooManyDecimals
                | FixedError::Overflow,
            ),
            Err(RefError::Malformed),
        ) => true,
        _ => false,
    };
    assert!(ok, "{what} on {:?}: got {real:?}, reference {reference:?}", String::from_utf8_lossy(text));
}

fn trimmed(text: &[u8]) -> &[u8] {
    let mut end = text.len();
    if text.contains(&b'.') {
        while end > 0 && text[end - 1] == b'0' {
            end -= 1;
        }
        if end > 0 && text[end - 1] == b'.' {
            end -= 1;
        }
    }
    &text[..end]
}

fn bounded(reference: Result<i64, RefError>) -> Result<i64, Option<RefError>> {
    match reference {
        Ok(v) if v.unsigned_abs() > MAX_MANTISSA as u64 => Err(None),
        Ok(v) => Ok(v),
        Err(e) => Err(Some(e)),
    }
}

fuzz_target!(|data: &[u8]| {
    let [scale_byte, flags, text @ ..] = data else { return };
    let scale = scale_byte % 21;
    if scale > MAX_SCALE {
        assert_eq!(parse_decimal(text, scale, true), Err(FixedError::BadScale));
        assert_eq!(parse_unsigned_prefix(text, 0, scale), None);
        return;
    }

    for allow_negative in [false, true] {
        let reference = reference_decimal(text, scale, allow_negative);
        let real = parse_decimal(text, scale, allow_negative);
        agrees(real, reference, "parse_decimal", text);
        if let Ok(v) = real {
            let canonical = DecimalText::new(v, scale);
            assert_eq!(canonical.as_str(), reference_text(v, scale), "canonical text of {v} at {scale}");
            assert_eq!(parse_decimal(canonical.as_bytes(), scale, true), Ok(v), "round trip of {v}");
        }
        let real_trimmed = parse_decimal_trimmed(text, scale, allow_negative);
        agrees(real_trimmed, reference_decimal(trimmed(text), scale, allow_negative), "trimmed", text);
    }

    // Bounded parsing: exactly the reference, minus magnitudes above the bound.
    let unsigned = reference_decimal(text, scale, false);
    let got = parse_bounded(text, scale);
    match (got, bounded(unsigned)) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(FixedError::OutOfRange), Err(None)) => {}
        (Err(e), Err(Some(r))) => agrees(Err(e), Err(r), "parse_bounded", text),
        (got, want) => panic!("parse_bounded on {:?}: got {got:?}, want {want:?}", String::from_utf8_lossy(text)),
    }
    assert_eq!(Price::parse(text, scale).map(|p| p.0), got);
    assert_eq!(Qty::parse(text, scale).map(|q| q.0), got);
    match (SignedQty::parse(text, scale), bounded(reference_decimal(text, scale, true))) {
        (Ok(a), Ok(b)) => assert_eq!(a.0, b),
        (Err(FixedError::OutOfRange), Err(None)) => {}
        (Err(_), Err(Some(_))) => {}
        (got, want) => panic!("SignedQty::parse: got {got:?}, want {want:?}"),
    }

    // The fast paths: a prefix parse returns a value the reference gives
    // for the bytes it consumed; SWAR and scalar agree; between-bounds
    // equals the checked parser on the slice.
    let pos = usize::from(flags & 7).min(text.len());
    let scalar = parse_unsigned_prefix(text, pos, scale);
    assert_eq!(parse_unsigned_prefix_swar(text, pos, scale), scalar, "swar vs scalar at {pos}");
    if let Some((v, end)) = scalar {
        assert!(end > pos && end <= text.len());
        assert_eq!(reference_decimal(&text[pos..end], scale, false), Ok(v), "prefix {pos}..{end}");
        assert!(!text.get(end).is_some_and(u8::is_ascii_digit), "prefix stopped before a digit");
    }
    let len = usize::from(flags >> 3);
    let to = (pos + len).min(text.len());
    assert_eq!(parse_decimal_between(text, pos, to, scale), parse_decimal(&text[pos..to], scale, false));

    // Canonical text of any i64 at this scale.
    if let Some(bytes) = text.get(..8) {
        let m = i64::from_le_bytes(bytes.try_into().unwrap_or_default());
        let t = DecimalText::new(m, scale);
        assert_eq!(t.as_str(), reference_text(m, scale));
        assert_eq!(parse_decimal(t.as_bytes(), scale, true), Ok(m));
    }
});
