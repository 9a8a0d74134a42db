//! Schema-specialised reading: a cursor that matches a frame against the
//! exact layout a venue sends, byte by byte, in a single pass.
//!
//! A template accepts a frame only if every byte matches what it expects:
//! literal keys and punctuation in the venue's order, compact integers,
//! strings without escapes, level lists of `["a","b"]` pairs. Whatever else
//! it meets — another key order, whitespace, an unknown symbol, a malformed
//! decimal — makes it give up (`None`), and the frame goes through the
//! generic path ([`super::compact`], then simd-json), which produces the
//! same event or the precise error. Everything a template accepts is
//! therefore valid compact JSON, read with the same meaning; the decoders'
//! tests feed every frame through both paths and compare.

use super::compact::{self, CompactIndex};

/// An index with nothing recorded, for containers found by templates.
pub static EMPTY_INDEX: CompactIndex = CompactIndex::new();

/// A read position in a frame.
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a> {
    doc: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `doc`.
    #[inline]
    #[must_use]
    pub fn new(doc: &'a [u8]) -> Self {
        Self { doc, pos: 0 }
    }

    /// The whole frame.
    #[inline]
    #[must_use]
    pub fn doc(&self) -> &'a [u8] {
        self.doc
    }

    /// `true` when every byte has been consumed.
    #[inline]
    #[must_use]
    pub fn at_end(&self) -> bool {
        self.pos == self.doc.len()
    }

    /// Consumes `expected` if the frame continues with it.
    #[inline(always)]
    pub fn lit(&mut self, expected: &[u8]) -> Option<()> {
        let end = self.pos + expected.len();
        if self.doc.get(self.pos..end)? == expected {
            self.pos = end;
            Some(())
        } else {
            None
        }
    }

    /// Consumes `expected` if present; says whether it was.
    #[inline(always)]
    pub fn try_lit(&mut self, expected: &[u8]) -> bool {
        self.lit(expected).is_some()
    }

    /// The next byte, not consumed.
    #[inline]
    #[must_use]
    pub fn peek(&self) -> Option<u8> {
        self.doc.get(self.pos).copied()
    }

    /// Bytes left after the cursor.
    #[inline]
    #[must_use]
    pub fn rest_len(&self) -> usize {
        self.doc.len() - self.pos
    }

    /// Consumes any run of ASCII digits.
    #[inline]
    pub fn skip_digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    /// A compact integer (see [`compact::int_at`]).
    #[inline(always)]
    pub fn int(&mut self) -> Option<i64> {
        let (value, end) = compact::int_at(self.doc, self.pos)?;
        self.pos = end;
        Some(value)
    }

    /// A non-negative compact integer.
    #[inline(always)]
    pub fn uint(&mut self) -> Option<u64> {
        self.int().and_then(|v| u64::try_from(v).ok())
    }

    /// `true` or `false`.
    #[inline]
    pub fn bool(&mut self) -> Option<bool> {
        if self.try_lit(b"true") {
            Some(true)
        } else if self.try_lit(b"false") {
            Some(false)
        } else {
            None
        }
    }

    /// A string; returns its contents (no escapes in the subset).
    #[inline(always)]
    pub fn string(&mut self) -> Option<&'a [u8]> {
        if self.peek()? != b'"' {
            return None;
        }
        let end = compact::string_end(self.doc, self.pos)?;
        let text = &self.doc[self.pos + 1..end - 1];
        self.pos = end;
        Some(text)
    }

    /// The rest of a string whose opening quote was consumed as part of a
    /// literal; returns its contents and consumes the closing quote.
    #[inline(always)]
    pub fn string_rest(&mut self) -> Option<&'a [u8]> {
        let end = compact::string_end(self.doc, self.pos.checked_sub(1)?)?;
        let text = &self.doc[self.pos..end - 1];
        self.pos = end;
        Some(text)
    }

    /// A level list validated and parsed into `index` at these scales
    /// ([`super::levels`]); returns the index range of its levels.
    #[inline]
    pub fn indexed_levels(
        &mut self,
        index: &mut super::levels::LevelIndex,
        price_scale: u8,
        qty_scale: u8,
    ) -> Option<(usize, usize)> {
        let from = index.mark();
        self.pos = index.index_list(self.doc, self.pos, price_scale, qty_scale)?;
        Some((from, index.mark()))
    }

    /// Skips any compact value (validating it), for fields a template does
    /// not use.
    #[inline]
    pub fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'-' | b'0'..=b'9' => self.int().map(|_| ()),
            b't' | b'f' => self.bool().map(|_| ()),
            b'n' => self.lit(b"null"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_exactly() {
        let doc = br#"{"a":12,"b":"x","c":[["1","2"],["3","4"]],"d":true}"#;
        let mut c = Cursor::new(doc);
        c.lit(br#"{"a":"#).unwrap();
        assert_eq!(c.int(), Some(12));
        c.lit(br#","b":"#).unwrap();
        assert_eq!(c.string(), Some(&b"x"[..]));
        c.lit(br#","c":"#).unwrap();
        let mut index = crate::json::levels::LevelIndex::new();
        let (from, to) = c.indexed_levels(&mut index, 0, 0).unwrap();
        assert_eq!(index.range(from, to), &[(1, 2), (3, 4)]);
        c.lit(br#","d":"#).unwrap();
        assert_eq!(c.bool(), Some(true));
        c.lit(b"}").unwrap();
        assert!(c.at_end());
    }

    #[test]
    fn refuses_other_shapes() {
        let mut index = crate::json::levels::LevelIndex::new();
        for doc in [
            &br#"[["1","2"]["3","4"]]"#[..],
            br#"[["1","2"],]"#,
            br#"[["1",2]]"#,
            br#"[["1","2","3"]]"#,
            br#"[ ["1","2"]]"#,
            b"[",
        ] {
            assert!(Cursor::new(doc).indexed_levels(&mut index, 0, 0).is_none(), "{}", String::from_utf8_lossy(doc));
        }
        assert!(Cursor::new(b"[]").indexed_levels(&mut index, 0, 0).is_some());
        assert!(Cursor::new(br#""a\"b""#).string().is_none());
        assert!(Cursor::new(b"01").int().is_none());
        assert!(Cursor::new(b"1.5").int().is_none());
    }
}
