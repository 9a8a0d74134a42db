//! A structural index for level lists: `[["…","…"],…]` validated with
//! SIMD byte classification and recorded as quote positions, so that the
//! levels can be parsed later without searching for their ends.
//!
//! Reading a level list one byte after another is a chain of dependent
//! steps (the next level starts where this one ended), which on the real
//! Binance depth stream cost ~70 cycles per level. Here the bytes are first
//! classified sixteen at a time (SSE2 on x86-64; a scalar loop elsewhere),
//! in the manner of simdjson's stage 1 (Langdale & Lemire, "Parsing
//! Gigabytes of JSON per Second", VLDB Journal 2019): one bitmask of quotes
//! and one of bytes that may not appear inside a compact JSON string
//! (backslash, control and non-ASCII bytes). The walk then hops from quote
//! to quote with bit tricks and records the four quote positions of every
//! level in a caller-owned [`LevelIndex`]. Parsing the decimals later is
//! independent per level.
//!
//! # What is accepted
//! Exactly `[` then zero or more `["S","S"]` separated by `,` then `]`,
//! where `S` is any string content without quote, backslash, control or
//! non-ASCII bytes — i.e. precisely the level lists of the compact subset
//! ([`super::compact`]), read with the same meaning. Every punctuation byte
//! is checked at the position the grammar puts it. Whether the strings are
//! decimals is for the level iterator to say, exactly as on the generic
//! path. Anything else is `None`, and the frame takes the generic path.

/// Most levels one frame may index (both sides together).
pub const MAX_INDEXED_LEVELS: usize = 16_384;

/// Quote positions of indexed levels: four per level (price open/close,
/// quantity open/close). Owned by the caller, allocated once.
pub struct LevelIndex {
    quotes: Box<[u32]>,
    len: usize,
}

impl Default for LevelIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl LevelIndex {
    /// An empty index with room for [`MAX_INDEXED_LEVELS`] levels.
    #[must_use]
    pub fn new() -> Self {
        Self { quotes: vec![0; MAX_INDEXED_LEVELS * 4].into_boxed_slice(), len: 0 }
    }

    /// Forgets every level (start of a frame).
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The quote positions recorded from `from` (a value returned by
    /// [`LevelIndex::mark`]) to now.
    #[inline]
    #[must_use]
    pub fn since(&self, from: usize) -> &[u32] {
        &self.quotes[from..self.len]
    }

    /// The quote positions recorded between two marks.
    #[inline]
    #[must_use]
    pub fn range(&self, from: usize, to: usize) -> &[u32] {
        &self.quotes[from..to]
    }

    /// The current end of the index.
    #[inline]
    #[must_use]
    pub fn mark(&self) -> usize {
        self.len
    }

    /// Validates the level list whose `[` is at `start` and records its
    /// levels. Returns one past the closing `]`, or `None` if the list is
    /// not of the accepted shape or does not fit (the index is then left as
    /// it was before the call).
    #[inline]
    pub fn index_list(&mut self, doc: &[u8], start: usize) -> Option<usize> {
        let mark = self.len;
        let result = self.walk(doc, start);
        if result.is_none() {
            self.len = mark;
        }
        result
    }

    fn walk(&mut self, doc: &[u8], start: usize) -> Option<usize> {
        if u32::try_from(doc.len()).is_err() || *doc.get(start)? != b'[' {
            return None;
        }
        if *doc.get(start + 1)? == b']' {
            return Some(start + 2);
        }
        if *doc.get(start + 1)? != b'[' {
            return None;
        }
        // Every quote of the list belongs to a level, four per level, in
        // order; between them the grammar leaves no choice: `","` inside a
        // level, `],["` between levels, `]]` at the end.
        let mut blocks = Blocks::new(doc, start);
        let mut expected_q0 = start + 2;
        let end = loop {
            let q0 = blocks.pop_quote()?;
            let q1 = blocks.pop_quote()?;
            let q2 = blocks.pop_quote()?;
            let q3 = blocks.pop_quote()?;
            if q0 != expected_q0 || q2 != q1 + 2 || doc[q1 + 1] != b',' || self.len + 4 > self.quotes.len() {
                return None;
            }
            self.quotes[self.len..self.len + 4].copy_from_slice(&[q0 as u32, q1 as u32, q2 as u32, q3 as u32]);
            self.len += 4;
            if doc.get(q3 + 1..q3 + 3)? == b"]]" {
                break q3 + 3;
            }
            if doc.get(q3 + 3..q3 + 4)? != b"[" || doc[q3 + 1..q3 + 3] != *b"]," {
                return None;
            }
            expected_q0 = q3 + 4;
        };
        (!blocks.forbidden_until(end)?).then_some(end)
    }
}

/// Byte-class bitmasks of 64-byte blocks, computed on demand from `origin`.
struct Blocks<'d> {
    doc: &'d [u8],
    origin: usize,
    /// Blocks classified so far (block k covers origin + 64k ..).
    done: usize,
    /// Quotes of the most recent block not yet returned by `pop_quote`.
    quote: u64,
    /// A forbidden byte was seen in a block before the most recent one.
    forbidden_before: bool,
    /// Forbidden bytes of the most recent block.
    forbidden: u64,
}

impl<'d> Blocks<'d> {
    fn new(doc: &'d [u8], origin: usize) -> Self {
        Self { doc, origin, done: 0, quote: 0, forbidden_before: false, forbidden: 0 }
    }

    /// Classifies the next block.
    #[inline]
    fn advance(&mut self) -> bool {
        let base = self.origin + self.done * 64;
        if base >= self.doc.len() {
            return false;
        }
        self.forbidden_before |= self.forbidden != 0;
        let (quote, forbidden) = classify64(self.doc, base);
        self.quote = quote;
        self.forbidden = forbidden;
        self.done += 1;
        true
    }

    /// The next quote of the list, in order (each is returned once).
    #[inline]
    fn pop_quote(&mut self) -> Option<usize> {
        while self.quote == 0 {
            if !self.advance() {
                return None;
            }
        }
        let bit = self.quote.trailing_zeros() as usize;
        self.quote &= self.quote - 1;
        Some(self.origin + (self.done - 1) * 64 + bit)
    }

    /// Whether a forbidden byte lies in `origin .. end`, classifying further
    /// blocks if `end` lies beyond the ones seen so far.
    fn forbidden_until(&mut self, end: usize) -> Option<bool> {
        while self.done == 0 || end > self.origin + self.done * 64 {
            if !self.advance() {
                return None;
            }
        }
        let base = self.origin + (self.done - 1) * 64;
        let keep = end.saturating_sub(base).min(64);
        let mask = if keep == 64 { u64::MAX } else { (1u64 << keep) - 1 };
        Some(self.forbidden_before || self.forbidden & mask != 0)
    }
}

/// Bitmasks over the 64 bytes at `base` (bytes past the end read as 0):
/// quotes; bytes that may not appear in a compact JSON string (backslash,
/// below 0x20, 0x80 and above).
#[inline]
fn classify64(doc: &[u8], base: usize) -> (u64, u64) {
    let mut quote = 0u64;
    let mut forbidden = 0u64;
    for chunk in 0..4 {
        let at = base + chunk * 16;
        let mut bytes = [0u8; 16];
        match doc.get(at..at + 16) {
            Some(full) => bytes.copy_from_slice(full),
            None => {
                if let Some(tail) = doc.get(at..) {
                    bytes[..tail.len()].copy_from_slice(tail);
                }
            }
        }
        let (q, f) = classify16(&bytes);
        quote |= u64::from(q) << (chunk * 16);
        forbidden |= u64::from(f) << (chunk * 16);
    }
    (quote, forbidden)
}

/// Classifies 16 bytes: (quotes, forbidden) bitmasks.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn classify16(bytes: &[u8; 16]) -> (u16, u16) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of the x86-64 baseline, so every intrinsic below
    // exists on every target this cfg admits (they are `unsafe` only because
    // they are declared `#[target_feature(enable = "sse2")]`). The one
    // memory access is an unaligned 128-bit load from `bytes`, a 16-byte
    // array: exactly the bytes `_mm_loadu_si128` reads, with no alignment
    // requirement. Lists that end near 16- and 64-byte boundaries and inputs
    // shorter than 16 bytes are exercised by
    // `matches_the_scalar_classifier_at_every_length` and
    // `agrees_with_the_bytewise_grammar_on_mutations`.
    unsafe {
        let v = _mm_loadu_si128(bytes.as_ptr().cast::<__m128i>());
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        // Signed compare: bytes 0x80..=0xFF are negative, so "< 0x20" also
        // catches every non-ASCII byte.
        let forbidden =
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8)), _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
        (_mm_movemask_epi8(quote) as u16, _mm_movemask_epi8(forbidden) as u16)
    }
}

/// Classifies 16 bytes one at a time (targets without SSE2, and the
/// reference the SIMD version is tested against).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline]
fn classify16_scalar(bytes: &[u8; 16]) -> (u16, u16) {
    let (mut quote, mut forbidden) = (0u16, 0u16);
    for (i, &b) in bytes.iter().enumerate() {
        let bit = 1u16 << i;
        if b == b'"' {
            quote |= bit;
        }
        if b == b'\\' || !(0x20..0x80).contains(&b) {
            forbidden |= bit;
        }
    }
    (quote, forbidden)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn classify16(bytes: &[u8; 16]) -> (u16, u16) {
    classify16_scalar(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: the accepted grammar checked one byte at a time.
    fn reference_end(doc: &[u8], start: usize) -> Option<usize> {
        let run = |mut p: usize| -> Option<usize> {
            while doc.get(p).is_some_and(|&b| b != b'"' && b != b'\\' && (0x20..0x80).contains(&b)) {
                p += 1;
            }
            Some(p)
        };
        let expect =
            |p: usize, lit: &[u8]| -> Option<usize> { (doc.get(p..p + lit.len())? == lit).then_some(p + lit.len()) };
        let mut p = expect(start, b"[")?;
        if doc.get(p)? == &b']' {
            return Some(p + 1);
        }
        loop {
            p = expect(p, b"[\"")?;
            p = run(p)?;
            p = expect(p, b"\",\"")?;
            p = run(p)?;
            p = expect(p, b"\"]")?;
            match doc.get(p)? {
                b',' => p += 1,
                b']' => return Some(p + 1),
                _ => return None,
            }
        }
    }

    #[test]
    fn matches_the_scalar_classifier_at_every_length() {
        let alphabet = b"0123456789.\",[]{}: a\\\x00\xff/:";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..=16 {
            for _ in 0..500 {
                let mut bytes = [0u8; 16];
                for b in bytes.iter_mut().take(len) {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    *b = alphabet[(state % alphabet.len() as u64) as usize];
                }
                assert_eq!(classify16(&bytes), classify16_scalar(&bytes), "{bytes:?}");
            }
        }
    }

    #[test]
    fn indexes_real_shapes() {
        let doc = br#"{"b":[["61800.20","2.909"],["61800.10","0.696"]],"a":[]}"#;
        let mut idx = LevelIndex::new();
        let end = idx.index_list(doc, 5).unwrap();
        assert_eq!(&doc[end..end + 5], br#","a":"#);
        let q = idx.since(0);
        assert_eq!(q.len(), 8);
        assert_eq!(&doc[q[0] as usize + 1..q[1] as usize], b"61800.20");
        assert_eq!(&doc[q[2] as usize + 1..q[3] as usize], b"2.909");
        assert_eq!(&doc[q[6] as usize + 1..q[7] as usize], b"0.696");
        let mark = idx.mark();
        assert_eq!(idx.index_list(doc, end + 5), Some(doc.len() - 1));
        assert!(idx.since(mark).is_empty());
    }

    #[test]
    fn agrees_with_the_bytewise_grammar_on_mutations() {
        let base = br#"x[["61800.20","2.909"],["61800.10","0.696"],["1","2"],["61799.90","1234567890123456789.5"]]}"#;
        let mut idx = LevelIndex::new();
        let mut check = |doc: &[u8]| {
            let before = idx.mark();
            let got = idx.index_list(doc, 1);
            assert_eq!(got, reference_end(doc, 1), "{}", String::from_utf8_lossy(doc));
            if got.is_none() {
                assert_eq!(idx.mark(), before, "a refused list leaves the index unchanged");
            }
            idx.clear();
        };
        check(base);
        for at in 0..base.len() {
            check(&base[..at]);
            for replacement in [b'"', b',', b'[', b']', b'.', b'5', b'a', b'\\', 0xff, b' '] {
                let mut m = base.to_vec();
                m[at] = replacement;
                check(&m);
            }
            let mut deleted = base.to_vec();
            deleted.remove(at);
            check(&deleted);
        }
        // Long strings crossing several 64-byte blocks.
        let long = format!("x[[\"{}\",\"1\"],[\"2\",\"{}\"]]", "7".repeat(150), "8".repeat(70));
        check(long.as_bytes());
        let bad = format!("x[[\"{}\",\"1\"],[\"2\",\"{}]\"]]", "7".repeat(150), "8".repeat(70));
        check(bad.as_bytes());
    }
}
