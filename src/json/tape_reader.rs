//! Reading venue JSON through a reused simd-json tape, without allocating.
//!
//! [`TapeReader`] owns simd-json's scratch [`Buffers`] and a [`Tape`] whose
//! vector is kept between messages (the pattern of simd-json's own
//! `tests/alloc.rs`): after the first few messages have grown them, parsing
//! a message allocates nothing. [`JsonValue`], [`JsonObject`] and
//! [`JsonArray`] walk the tape by index, so looking a field up copies
//! nothing and every string borrows the (in-place unescaped) input.
//!
//! # Invariants
//! - Every accessor is bounds-checked: a malformed or truncated document is
//!   a [`JsonError`] from simd-json, and a well-formed one with missing or
//!   mistyped fields is a [`FieldError`] naming the field — never a panic.
//! - Numbers the venues send as text (prices, quantities) are read from the
//!   text with [`crate::fixed`], never through a float.

use simd_json::{Buffers, Node, StaticNode, Tape};

use crate::fixed::{E8, parse_decimal};

/// The input is not valid JSON (including truncated input).
///
/// # Errors
/// Returned by [`TapeReader::read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed JSON")]
pub struct JsonError;

/// A field is missing, has the wrong JSON type, or holds a value that does
/// not parse.
///
/// # Errors
/// Returned by the `req_*` helpers of [`JsonObject`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// Required field absent.
    #[error("missing field {0}")]
    Missing(&'static str),
    /// Field present with another JSON type.
    #[error("field {0} has the wrong type")]
    WrongType(&'static str),
    /// Field present but its value is malformed or out of range.
    #[error("field {0} has a bad value")]
    BadValue(&'static str),
}

/// Reusable simd-json scratch space.
pub struct TapeReader {
    buffers: Buffers,
    tape: Option<Tape<'static>>,
}

impl std::fmt::Debug for TapeReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TapeReader")
    }
}

impl TapeReader {
    /// Scratch sized for messages of about `capacity` bytes (it grows if a
    /// larger message comes, then stays grown).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self { buffers: Buffers::new(capacity), tape: Some(Tape(Vec::with_capacity(capacity / 4 + 16))) }
    }

    /// Parses `input` in place and runs `f` on the root value.
    ///
    /// # Errors
    /// [`JsonError`] when `input` is not a complete JSON document.
    pub fn read<'i, R>(
        &mut self,
        input: &'i mut [u8],
        f: impl for<'t> FnOnce(JsonValue<'t, 'i>) -> R,
    ) -> Result<R, JsonError> {
        let stored = self.tape.take().unwrap_or_else(|| Tape(Vec::new()));
        let mut tape: Tape<'i> = stored.reset();
        let result = match simd_json::fill_tape(input, &mut self.buffers, &mut tape) {
            Ok(()) if !tape.0.is_empty() => Ok(f(JsonValue { nodes: &tape.0 })),
            _ => Err(JsonError),
        };
        self.tape = Some(tape.reset());
        result
    }
}

/// Number of tape nodes the value starting at `nodes[0]` occupies.
fn span(nodes: &[Node<'_>]) -> usize {
    match nodes.first() {
        Some(Node::Object { count, .. } | Node::Array { count, .. }) => count + 1,
        _ => 1,
    }
}

/// One JSON value on the tape.
#[derive(Clone, Copy)]
pub struct JsonValue<'t, 'i> {
    nodes: &'t [Node<'i>],
}

impl<'t, 'i> JsonValue<'t, 'i> {
    /// The value as an object.
    #[must_use]
    pub fn as_object(self) -> Option<JsonObject<'t, 'i>> {
        match self.nodes.first() {
            Some(Node::Object { len, count }) => Some(JsonObject { len: *len, nodes: self.nodes.get(1..=*count)? }),
            _ => None,
        }
    }

    /// The value as an array.
    #[must_use]
    pub fn as_array(self) -> Option<JsonArray<'t, 'i>> {
        match self.nodes.first() {
            Some(Node::Array { len, count }) => Some(JsonArray { len: *len, nodes: self.nodes.get(1..=*count)? }),
            _ => None,
        }
    }

    /// The value as a string.
    #[must_use]
    pub fn as_str(self) -> Option<&'i str> {
        match self.nodes.first() {
            Some(Node::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The value as a non-negative integer.
    #[must_use]
    pub fn as_u64(self) -> Option<u64> {
        match self.nodes.first() {
            Some(Node::Static(StaticNode::U64(v))) => Some(*v),
            Some(Node::Static(StaticNode::I64(v))) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    /// The value as a signed integer.
    #[must_use]
    pub fn as_i64(self) -> Option<i64> {
        match self.nodes.first() {
            Some(Node::Static(StaticNode::I64(v))) => Some(*v),
            Some(Node::Static(StaticNode::U64(v))) => i64::try_from(*v).ok(),
            _ => None,
        }
    }

    /// The value as a boolean.
    #[must_use]
    pub fn as_bool(self) -> Option<bool> {
        match self.nodes.first() {
            Some(Node::Static(StaticNode::Bool(b))) => Some(*b),
            _ => None,
        }
    }

    /// `true` for JSON `null`.
    #[must_use]
    pub fn is_null(self) -> bool {
        matches!(self.nodes.first(), Some(Node::Static(StaticNode::Null)))
    }
}

/// A JSON object on the tape.
#[derive(Clone, Copy)]
pub struct JsonObject<'t, 'i> {
    len: usize,
    nodes: &'t [Node<'i>],
}

impl<'t, 'i> JsonObject<'t, 'i> {
    /// The value of member `key` (the first one, if repeated).
    #[must_use]
    pub fn get(self, key: &str) -> Option<JsonValue<'t, 'i>> {
        let mut i = 0;
        for _ in 0..self.len {
            let name = match self.nodes.get(i) {
                Some(Node::String(s)) => *s,
                _ => return None,
            };
            let value = self.nodes.get(i + 1..)?;
            if name == key {
                return Some(JsonValue { nodes: value });
            }
            i += 1 + span(value);
        }
        None
    }

    /// Required string member.
    ///
    /// # Errors
    /// [`FieldError::Missing`] or [`FieldError::WrongType`].
    pub fn req_str(self, key: &'static str) -> Result<&'i str, FieldError> {
        self.get(key).ok_or(FieldError::Missing(key))?.as_str().ok_or(FieldError::WrongType(key))
    }

    /// Optional string member (absent or `null` → `None`).
    ///
    /// # Errors
    /// [`FieldError::WrongType`] when present with another type.
    pub fn opt_str(self, key: &'static str) -> Result<Option<&'i str>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) if v.is_null() => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or(FieldError::WrongType(key)),
        }
    }

    /// Required integer member that may also come as decimal text
    /// (Bybit sends millisecond times as strings).
    ///
    /// # Errors
    /// [`FieldError`] naming `key`.
    pub fn req_i64(self, key: &'static str) -> Result<i64, FieldError> {
        let v = self.get(key).ok_or(FieldError::Missing(key))?;
        if let Some(n) = v.as_i64() {
            return Ok(n);
        }
        let text = v.as_str().ok_or(FieldError::WrongType(key))?;
        parse_decimal(text.as_bytes(), 0, true).map_err(|_| FieldError::BadValue(key))
    }

    /// Required non-negative integer member (number or decimal text).
    ///
    /// # Errors
    /// [`FieldError`] naming `key`.
    pub fn req_u64(self, key: &'static str) -> Result<u64, FieldError> {
        u64::try_from(self.req_i64(key)?).map_err(|_| FieldError::BadValue(key))
    }

    /// Required boolean member.
    ///
    /// # Errors
    /// [`FieldError`] naming `key`.
    pub fn req_bool(self, key: &'static str) -> Result<bool, FieldError> {
        self.get(key).ok_or(FieldError::Missing(key))?.as_bool().ok_or(FieldError::WrongType(key))
    }

    /// Required object member.
    ///
    /// # Errors
    /// [`FieldError`] naming `key`.
    pub fn req_object(self, key: &'static str) -> Result<JsonObject<'t, 'i>, FieldError> {
        self.get(key).ok_or(FieldError::Missing(key))?.as_object().ok_or(FieldError::WrongType(key))
    }

    /// Required array member.
    ///
    /// # Errors
    /// [`FieldError`] naming `key`.
    pub fn req_array(self, key: &'static str) -> Result<JsonArray<'t, 'i>, FieldError> {
        self.get(key).ok_or(FieldError::Missing(key))?.as_array().ok_or(FieldError::WrongType(key))
    }

    /// Required price or quantity member at an instrument's `scale`
    /// decimals. Venue padding beyond the scale is accepted when it is only
    /// zeros; magnitudes above [`crate::fixed::MAX_MANTISSA`] are refused.
    ///
    /// # Errors
    /// [`FieldError`] naming `key`.
    pub fn req_decimal(self, key: &'static str, scale: u8, allow_negative: bool) -> Result<i64, FieldError> {
        self.decimal(key, scale, allow_negative)
            .and_then(|v| crate::fixed::check_bounded(v).map_err(|_| FieldError::BadValue(key)))
    }

    /// Required decimal-text member at 8 decimals (fees, notionals,
    /// reference prices: the whole `i64` range).
    ///
    /// # Errors
    /// [`FieldError`] naming `key`.
    pub fn req_e8(self, key: &'static str, allow_negative: bool) -> Result<i64, FieldError> {
        self.decimal(key, E8, allow_negative)
    }

    fn decimal(self, key: &'static str, scale: u8, allow_negative: bool) -> Result<i64, FieldError> {
        let text = self.req_str(key)?;
        crate::fixed::parse_decimal_trimmed(text.as_bytes(), scale, allow_negative)
            .map_err(|_| FieldError::BadValue(key))
    }
}

/// A JSON array on the tape.
#[derive(Clone, Copy)]
pub struct JsonArray<'t, 'i> {
    len: usize,
    nodes: &'t [Node<'i>],
}

impl<'t, 'i> JsonArray<'t, 'i> {
    /// Number of elements.
    #[must_use]
    pub fn len(self) -> usize {
        self.len
    }

    /// `true` when empty.
    #[must_use]
    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    /// The elements in order.
    pub fn iter(self) -> impl Iterator<Item = JsonValue<'t, 'i>> {
        let mut i = 0;
        let nodes = self.nodes;
        (0..self.len).map_while(move |_| {
            let value = nodes.get(i..).filter(|n| !n.is_empty())?;
            i += span(value);
            Some(JsonValue { nodes: value })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_nested_documents() {
        let mut reader = TapeReader::new(256);
        let mut doc =
            br#"{"a":{"b":[1,2,{"c":3}],"d":"x"},"e":-5,"f":"12.50","g":true,"h":null,"t":"1672364262474"}"#.to_vec();
        let out = reader
            .read(&mut doc, |root| {
                let o = root.as_object().unwrap();
                let a = o.req_object("a").unwrap();
                let b = a.req_array("b").unwrap();
                let items: Vec<Option<u64>> = b.iter().map(JsonValue::as_u64).collect();
                let c = b.iter().nth(2).unwrap().as_object().unwrap().get("c").unwrap().as_u64();
                (
                    items,
                    c,
                    a.req_str("d").unwrap().to_owned(),
                    o.req_i64("e").unwrap(),
                    o.req_decimal("f", 2, false).unwrap(),
                    o.req_bool("g").unwrap(),
                    o.opt_str("h").unwrap(),
                    o.req_i64("t").unwrap(),
                    o.req_str("zz"),
                    o.req_str("e"),
                    o.req_u64("e"),
                )
            })
            .unwrap();
        assert_eq!(out.0, vec![Some(1), Some(2), None]);
        assert_eq!(out.1, Some(3));
        assert_eq!(out.2, "x");
        assert_eq!(out.3, -5);
        assert_eq!(out.4, 1250);
        assert!(out.5);
        assert_eq!(out.6, None);
        assert_eq!(out.7, 1_672_364_262_474);
        assert_eq!(out.8, Err(FieldError::Missing("zz")));
        assert_eq!(out.9, Err(FieldError::WrongType("e")));
        assert_eq!(out.10, Err(FieldError::BadValue("e")));
    }

    #[test]
    fn malformed_and_truncated_input_is_an_error() {
        let mut reader = TapeReader::new(64);
        let full = br#"{"a":[1,{"b":"c"}]}"#;
        for cut in 0..full.len() {
            let mut doc = full[..cut].to_vec();
            assert_eq!(reader.read(&mut doc, |_| ()), Err(JsonError), "cut at {cut}");
        }
        let mut doc = full.to_vec();
        assert!(reader.read(&mut doc, |_| ()).is_ok());
    }
}
