//! The fast path: a validating reader for *compact* JSON, the subset the
//! venues actually send.
//!
//! The subset: no whitespace, strings of printable ASCII without escapes,
//! integers without fraction or exponent that fit `i64` (and no `-0` or
//! leading zeros), `true`, `false`, `null`, objects and arrays nested at most
//! [`MAX_DEPTH`] deep. Every document in this subset is valid JSON with the
//! same meaning, so a decoder that reads it sees exactly what it would see
//! through simd-json's tape. Anything outside the subset — including every
//! invalid document — makes [`index`] return [`Bail`], and the caller parses
//! the frame with simd-json instead ([`super::JsonScratch::parse`]).
//!
//! [`index`] validates the whole document in one pass and records where each
//! container at depth `< INDEXED_DEPTH` ends (root, envelope, level lists),
//! so that navigation later skips them in O(1); deeper containers (the
//! `["price","qty"]` pairs) are read in place by the level iterator.
//!
//! # Invariants
//! - A document that passed [`index`] is only ever read by the navigation
//!   functions below; they trust its structure but still bounds-check every
//!   access (they return `None` instead of panicking).

/// Maximum nesting depth accepted by the fast path.
pub const MAX_DEPTH: usize = 16;
/// Containers shallower than this get their end recorded.
pub const INDEXED_DEPTH: usize = 3;
/// Number of container spans the index holds; later containers are found
/// by scanning.
pub const MAX_SPANS: usize = 64;

/// The document is outside the compact subset (or is not JSON at all):
/// parse it with simd-json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bail;

/// Where the shallow containers of a validated document start and end.
/// Owned by the caller and reused for every frame.
#[derive(Clone)]
pub struct CompactIndex {
    starts: [u32; MAX_SPANS],
    ends: [u32; MAX_SPANS],
    len: usize,
}

impl Default for CompactIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl CompactIndex {
    /// An empty index.
    #[must_use]
    pub const fn new() -> Self {
        Self { starts: [0; MAX_SPANS], ends: [0; MAX_SPANS], len: 0 }
    }

    /// One past the closing bracket of the indexed container opening at
    /// `start`, if it was indexed.
    #[inline]
    fn end_of(&self, start: usize) -> Option<usize> {
        let starts = &self.starts[..self.len];
        // Containers are recorded in document order, so starts are sorted.
        let i = starts.binary_search(&u32::try_from(start).ok()?).ok()?;
        Some(self.ends[i] as usize)
    }
}

/// Validates `doc` as compact JSON and records its shallow containers.
///
/// # Errors
/// [`Bail`] when `doc` is outside the subset, invalid, or larger than 4 GiB.
pub fn index(doc: &[u8], idx: &mut CompactIndex) -> Result<(), Bail> {
    if u32::try_from(doc.len()).is_err() {
        return Err(Bail);
    }
    idx.len = 0;
    let mut scanner = Scanner { doc, pos: 0, idx };
    scanner.value(0)?;
    if scanner.pos == doc.len() { Ok(()) } else { Err(Bail) }
}

struct Scanner<'d, 'i> {
    doc: &'d [u8],
    pos: usize,
    idx: &'i mut CompactIndex,
}

impl Scanner<'_, '_> {
    #[inline]
    fn peek(&self) -> Result<u8, Bail> {
        self.doc.get(self.pos).copied().ok_or(Bail)
    }

    fn value(&mut self, depth: usize) -> Result<(), Bail> {
        match self.peek()? {
            b'"' => {
                self.pos = string_end(self.doc, self.pos).ok_or(Bail)?;
                Ok(())
            }
            b'{' | b'[' => self.container(depth),
            b'-' | b'0'..=b'9' => {
                let (_, next) = int_at(self.doc, self.pos).ok_or(Bail)?;
                self.pos = next;
                Ok(())
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => Err(Bail),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Bail> {
        if self.doc.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(Bail)
        }
    }

    fn container(&mut self, depth: usize) -> Result<(), Bail> {
        if depth >= MAX_DEPTH {
            return Err(Bail);
        }
        let open = self.pos;
        let is_object = self.doc[open] == b'{';
        let close = if is_object { b'}' } else { b']' };
        // A full index just stops recording: unrecorded containers are
        // skipped by scanning, which is slower but still correct.
        let slot = if depth < INDEXED_DEPTH && self.idx.len < MAX_SPANS {
            let slot = self.idx.len;
            self.idx.starts[slot] = open as u32;
            self.idx.len += 1;
            Some(slot)
        } else {
            None
        };
        self.pos += 1;
        if self.peek()? == close {
            self.pos += 1;
        } else {
            loop {
                if is_object {
                    if self.peek()? != b'"' {
                        return Err(Bail);
                    }
                    self.pos = string_end(self.doc, self.pos).ok_or(Bail)?;
                    if self.peek()? != b':' {
                        return Err(Bail);
                    }
                    self.pos += 1;
                }
                self.value(depth + 1)?;
                match self.peek()? {
                    b',' => self.pos += 1,
                    c if c == close => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(Bail),
                }
            }
        }
        if let Some(slot) = slot {
            self.idx.ends[slot] = self.pos as u32;
        }
        Ok(())
    }
}

/// Given `doc[pos] == b'"'`, returns one past the closing quote, or `None`
/// if the string leaves the subset (escape, control or non-ASCII byte) or
/// is unterminated.
///
/// Scans eight bytes at a time (SWAR): a word's "special" bytes — quote,
/// backslash, below 0x20, or with the high bit set — are found with the
/// classic has-zero-byte bit trick, whose lowest flagged byte is always a
/// true match (Mycroft, 1987; see "Bit Twiddling Hacks", Anderson).
#[inline]
pub fn string_end(doc: &[u8], pos: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = pos + 1;
    while let Some(chunk) = doc.get(i..i + 8) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let w = u64::from_le_bytes(bytes);
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        let special = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (w.wrapping_sub(ONES * 0x20) & !w)
            | w;
        let special = special & HIGHS;
        if special != 0 {
            let at = i + (special.trailing_zeros() / 8) as usize;
            return (doc[at] == b'"').then_some(at + 1);
        }
        i += 8;
    }
    loop {
        let byte = *doc.get(i)?;
        if byte == b'"' {
            return Some(i + 1);
        }
        if byte < 0x20 || byte == b'\\' || byte >= 0x80 {
            return None;
        }
        i += 1;
    }
}

/// Reads a compact integer at `pos`: `-?(0|[1-9][0-9]*)` that fits `i64`
/// and is not followed by a fraction or exponent, and is not `-0`.
/// Returns the value and the position after it.
#[inline]
pub fn int_at(doc: &[u8], pos: usize) -> Option<(i64, usize)> {
    let mut i = pos;
    let negative = doc.get(i) == Some(&b'-');
    if negative {
        i += 1;
    }
    let first = i;
    let mut acc: u64 = 0;
    while let Some(&byte) = doc.get(i) {
        let d = byte.wrapping_sub(b'0');
        if d >= 10 {
            break;
        }
        // Up to 19 digits cannot overflow u64 (19 nines < 1.9e19).
        acc = acc.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    let digits = i - first;
    if digits == 0 || digits > 19 || (digits > 1 && doc[first] == b'0') {
        return None;
    }
    if matches!(doc.get(i), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    if negative {
        if acc == 0 || acc > 1u64 << 63 {
            return None; // "-0" or below i64::MIN: leave it to simd-json
        }
        Some((0i64.wrapping_sub_unsigned(acc), i))
    } else {
        Some((i64::try_from(acc).ok()?, i))
    }
}

/// One past the end of the value starting at `pos` in a validated document.
#[inline]
pub fn value_end(doc: &[u8], idx: &CompactIndex, pos: usize) -> Option<usize> {
    match *doc.get(pos)? {
        b'"' => string_end(doc, pos),
        b'{' | b'[' => idx.end_of(pos).or_else(|| skip_container(doc, pos)),
        b'-' | b'0'..=b'9' => int_at(doc, pos).map(|(_, end)| end),
        b't' | b'n' => Some(pos + 4),
        b'f' => Some(pos + 5),
        _ => None,
    }
}

/// Skips an unindexed container of a validated document by bracket
/// counting; strings cannot contain brackets' escapes in the subset, but
/// they can contain brackets, so they are skipped whole.
fn skip_container(doc: &[u8], pos: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = pos;
    loop {
        match *doc.get(i)? {
            b'"' => {
                i = string_end(doc, i)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
}

/// Reads `["<a>","<b>"]` at `pos` (a price level as both venues send it):
/// returns the two string contents and the position after the `]`.
/// `None` when the element has any other shape; the caller then reads it
/// through the generic path, which reports the precise problem.
#[inline]
pub fn string_pair_at(doc: &[u8], pos: usize) -> Option<(&[u8], &[u8], usize)> {
    if doc.get(pos..pos + 2)? != b"[\"" {
        return None;
    }
    let a_start = pos + 2;
    let a_end = string_end(doc, pos + 1)? - 1;
    if doc.get(a_end..a_end + 3)? != b"\",\"" {
        return None;
    }
    let b_start = a_end + 3;
    let b_end = string_end(doc, a_end + 2)? - 1;
    if doc.get(b_end..b_end + 2)? != b"\"]" {
        return None;
    }
    Some((&doc[a_start..a_end], &doc[b_start..b_end], b_end + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(doc: &str) -> bool {
        index(doc.as_bytes(), &mut CompactIndex::default()).is_ok()
    }

    #[test]
    fn accepts_the_subset() {
        assert!(ok(r#"{"a":1,"b":[["1.5","2"],[]],"c":{"d":null,"e":true,"f":false},"g":-5,"h":"x"}"#));
        assert!(ok("[]"));
        assert!(ok("0"));
        assert!(ok(r#""s""#));
        assert!(ok("9223372036854775807"));
        assert!(ok("-9223372036854775808"));
    }

    #[test]
    fn bails_outside_the_subset() {
        for doc in [
            "",
            " {}",
            "{} ",
            "{ }",
            r#"{"a" :1}"#,
            r#"{"a":1.5}"#,
            r#"{"a":1e5}"#,
            r#"{"a":"\n"}"#,
            r#"{"a":"\u0041"}"#,
            "{\"a\":\"é\"}",
            r#"{"a":01}"#,
            r#"{"a":-0}"#,
            r#"{"a":-}"#,
            "9223372036854775808",
            r#"{"a":1,}"#,
            "[1,]",
            r#"{"a"}"#,
            r#"{a:1}"#,
            "[1 2]",
            "tru",
            "nul",
            "[",
            "{",
            r#"{"a":1}}"#,
            "[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]",
        ] {
            assert!(!ok(doc), "accepted {doc:?}");
        }
    }

    #[test]
    fn records_and_skips_containers() {
        let doc = br#"{"x":[["1","2"],["3","4"]],"y":{"z":[1,{"w":[2]}]}}"#;
        let mut idx = CompactIndex::default();
        index(doc, &mut idx).unwrap();
        let x = 5;
        assert_eq!(value_end(doc, &idx, x), Some(26));
        assert_eq!(value_end(doc, &idx, x + 1), Some(x + 10)); // unindexed pair
        assert_eq!(string_pair_at(doc, x + 1), Some((&b"1"[..], &b"2"[..], x + 10)));
        assert_eq!(value_end(doc, &idx, 0), Some(doc.len()));
        let y = 31;
        assert_eq!(doc[y], b'{');
        assert_eq!(value_end(doc, &idx, y), Some(doc.len() - 1));
    }

    #[test]
    fn string_end_matches_a_bytewise_scan() {
        fn bytewise(doc: &[u8]) -> Option<usize> {
            for (i, &b) in doc.iter().enumerate().skip(1) {
                if b == b'"' {
                    return Some(i + 1);
                }
                if b < 0x20 || b == b'\\' || b >= 0x80 {
                    return None;
                }
            }
            None
        }
        let alphabet = [b'a', b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xff, b'0', b'.'];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let len = (state % 24) as usize;
            let mut doc = vec![b'"'];
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                doc.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            assert_eq!(string_end(&doc, 0), bytewise(&doc), "{doc:?}");
        }
    }

    #[test]
    fn string_pair_shapes() {
        assert!(string_pair_at(br#"["1","2"]"#, 0).is_some());
        assert!(string_pair_at(br#"["1",2]"#, 0).is_none());
        assert!(string_pair_at(br#"["1","2","3"]"#, 0).is_none());
        assert!(string_pair_at(br#"["1"]"#, 0).is_none());
        assert!(string_pair_at(br#"["1","#, 0).is_none());
    }
}
