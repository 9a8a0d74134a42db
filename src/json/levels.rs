//! Level lists `[["…","…"],…]` validated and parsed in one pass into a
//! caller-owned buffer of integer (price, quantity) mantissas.
//!
//! Reading a level list one byte after another is a chain of dependent
//! steps (the next level starts where this one ended), which on the real
//! Binance depth stream cost ~70 cycles per level. Here the bytes are first
//! classified sixteen at a time (SSE2 on x86-64; a scalar loop elsewhere),
//! in the manner of simdjson's stage 1 (Langdale & Lemire, "Parsing
//! Gigabytes of JSON per Second", VLDB Journal 2019), into a bitmask of
//! quotes. The walk then hops from quote to quote with bit tricks, checks
//! the punctuation between them at the positions the grammar puts it, and
//! parses each level's two decimals straight away (their bounds are known,
//! so [`crate::fixed::parse_decimal_between`] needs no search) into a
//! [`LevelIndex`]. The levels' decimals do not depend on each other, so
//! consecutive parses overlap in the processor.
//!
//! # What is accepted
//! Exactly `[` then zero or more `["P","Q"]` separated by `,` then `]`,
//! where `P` and `Q` are unsigned decimals that [`crate::fixed::parse_decimal`]
//! accepts at the given price and quantity scales. Every byte of the list is
//! checked: the quotes by the bitmask, the punctuation at its positions,
//! the string contents by the decimal parser (digits and one point only, so
//! no escape, control or non-ASCII byte can hide in them). Anything else —
//! another shape, or a string that is not such a decimal — is `None`, and
//! the frame takes the generic path, which reads it with the same meaning
//! and reports the precise error (the decoder tests demand identical events
//! from both paths).
//!
//! # Why parse here
//! The first version recorded the four quote positions of every level and
//! parsed the decimals later, through the `Levels` iterator. Parsing in the
//! walk drops the second pass over the index and the per-level `Result`
//! plumbing of the iterator; see the README's depth-tail section for the
//! measurements.

use crate::fixed::{check_bounded, parse_decimal_between};

/// Most levels one frame may hold (both sides together).
pub const MAX_INDEXED_LEVELS: usize = 16_384;

/// Parsed levels: (price, quantity) mantissas at the scales the caller
/// gave. Owned by the caller, allocated once.
pub struct LevelIndex {
    levels: Box<[(i64, i64)]>,
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
        Self { levels: vec![(0, 0); MAX_INDEXED_LEVELS].into_boxed_slice(), len: 0 }
    }

    /// Forgets every level (start of a frame).
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The levels recorded from `from` (a value returned by
    /// [`LevelIndex::mark`]) to now.
    #[inline]
    #[must_use]
    pub fn since(&self, from: usize) -> &[(i64, i64)] {
        &self.levels[from..self.len]
    }

    /// The levels recorded between two marks.
    #[inline]
    #[must_use]
    pub fn range(&self, from: usize, to: usize) -> &[(i64, i64)] {
        &self.levels[from..to]
    }

    /// The current end of the index.
    #[inline]
    #[must_use]
    pub fn mark(&self) -> usize {
        self.len
    }

    /// Validates the level list whose `[` is at `start`, parsing prices at
    /// `price_scale` and quantities at `qty_scale`, and records its levels.
    /// Returns one past the closing `]`, or `None` if the list is not of the
    /// accepted shape or does not fit (the index is then left as it was
    /// before the call).
    #[inline]
    pub fn index_list(&mut self, doc: &[u8], start: usize, price_scale: u8, qty_scale: u8) -> Option<usize> {
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
        // level, `],["` between levels, `]]` at the end. The count is
        // written back only when the whole list passed.
        let mut quotes = Quotes::new(start);
        let mut expected_q0 = start + 2;
        let mut len = self.len;
        let end = loop {
            let q0 = quotes.pop(doc)?;
            let q1 = quotes.pop(doc)?;
            let q2 = quotes.pop(doc)?;
            let q3 = quotes.pop(doc)?;
            let slot = self.levels.get_mut(len)?;
            if q0 != expected_q0 || q2 != q1 + 2 || doc.get(q1 + 1) != Some(&b',') {
                return None;
            }
            // Out of the representable range: the general reader reports it.
            let price = parse_decimal_between(doc, q0 + 1, q1, price_scale).and_then(check_bounded).ok()?;
            let qty = parse_decimal_between(doc, q2 + 1, q3, qty_scale).and_then(check_bounded).ok()?;
            *slot = (price, qty);
            len += 1;
            match doc.get(q3 + 1..q3 + 3)? {
                b"]," if doc.get(q3 + 3) == Some(&b'[') => expected_q0 = q3 + 4,
                b"]]" => break q3 + 3,
                _ => return None,
            }
        };
        self.len = len;
        Some(end)
    }
}

/// The quotes of a document from `origin` on, in order, found 64 bytes at
/// a time. `Copy` and small, so that the walk keeps it in registers.
#[derive(Clone, Copy)]
struct Quotes {
    /// Start of the block `mask` came from.
    base: usize,
    /// Quotes of that block not yet returned.
    mask: u64,
}

impl Quotes {
    #[inline]
    fn new(origin: usize) -> Self {
        // An empty block ending at `origin`: the first pop classifies the
        // block that starts there.
        Self { base: origin.wrapping_sub(64), mask: 0 }
    }

    /// The next quote of `doc` (each is returned once).
    #[inline(always)]
    fn pop(&mut self, doc: &[u8]) -> Option<usize> {
        if self.mask == 0 {
            *self = Self::refill(doc, self.base.wrapping_add(64))?;
        }
        let bit = self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(self.base + bit)
    }

    /// The first block from `from` on that holds a quote (once per ~3
    /// levels).
    #[inline(always)]
    fn refill(doc: &[u8], mut from: usize) -> Option<Self> {
        while from < doc.len() {
            let mask = quotes64(doc, from);
            if mask != 0 {
                return Some(Self { base: from, mask });
            }
            from += 64;
        }
        None
    }
}

/// Bitmask of the quotes among the 64 bytes at `base` (bytes past the end
/// read as 0).
#[inline]
fn quotes64(doc: &[u8], base: usize) -> u64 {
    let mut mask = 0u64;
    if let Some(block) = doc.get(base..base + 64) {
        for (k, chunk) in block.chunks_exact(16).enumerate() {
            if let Some(bytes) = chunk.first_chunk::<16>() {
                mask |= u64::from(quotes16(bytes)) << (k * 16);
            }
        }
        return mask;
    }
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
        mask |= u64::from(quotes16(&bytes)) << (chunk * 16);
    }
    mask
}

/// Bitmask of the quotes among 16 bytes.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn quotes16(bytes: &[u8; 16]) -> u16 {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
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
        _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8))) as u16
    }
}

/// Bitmask of the quotes among 16 bytes, one byte at a time (targets
/// without SSE2, and the reference the SIMD version is tested against).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline]
fn quotes16_scalar(bytes: &[u8; 16]) -> u16 {
    let mut quote = 0u16;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'"' {
            quote |= 1u16 << i;
        }
    }
    quote
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn quotes16(bytes: &[u8; 16]) -> u16 {
    quotes16_scalar(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::parse_bounded;

    /// The reference: the accepted grammar checked one byte at a time, and
    /// every string parsed by the general decimal parser within the bound
    /// on values from outside (`fixed::parse_bounded`).
    fn reference(doc: &[u8], start: usize, ps: u8, qs: u8) -> Option<(usize, Vec<(i64, i64)>)> {
        let run = |mut p: usize| -> Option<usize> {
            while doc.get(p).is_some_and(|&b| b != b'"' && b != b'\\' && (0x20..0x80).contains(&b)) {
                p += 1;
            }
            Some(p)
        };
        let expect =
            |p: usize, lit: &[u8]| -> Option<usize> { (doc.get(p..p + lit.len())? == lit).then_some(p + lit.len()) };
        let mut levels = Vec::new();
        let mut p = expect(start, b"[")?;
        if doc.get(p)? == &b']' {
            return Some((p + 1, levels));
        }
        loop {
            p = expect(p, b"[\"")?;
            let price_end = run(p)?;
            let price = parse_bounded(&doc[p..price_end], ps).ok()?;
            p = expect(price_end, b"\",\"")?;
            let qty_end = run(p)?;
            let qty = parse_bounded(&doc[p..qty_end], qs).ok()?;
            levels.push((price, qty));
            p = expect(qty_end, b"\"]")?;
            match doc.get(p)? {
                b',' => p += 1,
                b']' => return Some((p + 1, levels)),
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
                assert_eq!(quotes16(&bytes), quotes16_scalar(&bytes), "{bytes:?}");
            }
        }
    }

    #[test]
    fn parses_real_shapes() {
        let doc = br#"{"b":[["61800.20","2.909"],["61800.10","0.696"]],"a":[]}"#;
        let mut idx = LevelIndex::new();
        let end = idx.index_list(doc, 5, 2, 3).unwrap();
        assert_eq!(&doc[end..end + 5], br#","a":"#);
        assert_eq!(idx.since(0), &[(6_180_020, 2_909), (6_180_010, 696)]);
        let mark = idx.mark();
        assert_eq!(idx.index_list(doc, end + 5, 2, 3), Some(doc.len() - 1));
        assert!(idx.since(mark).is_empty());
        // Fewer decimals than the scale, integers, long numbers: as the
        // general parser reads them.
        let doc = br#"[["61800.2","3"],["123456789.5","0.00000001"]]"#;
        assert_eq!(idx.index_list(doc, 0, 2, 8), Some(doc.len()));
        assert_eq!(idx.since(mark), &[(6_180_020, 300_000_000), (12_345_678_950, 1)]);
    }

    #[test]
    fn refuses_what_is_not_a_decimal_and_leaves_the_index_unchanged() {
        let mut idx = LevelIndex::new();
        idx.index_list(br#"[["1","2"]]"#, 0, 0, 0).unwrap();
        for doc in [
            &br#"[["1.234","2"]]"#[..], // more decimals than the scale
            br#"[["-1","2"]]"#,
            br#"[["1e3","2"]]"#,
            br#"[["","2"]]"#,
            br#"[["1.","2"]]"#,
            br#"[[".5","2"]]"#,
            br#"[["1","2\u0030"]]"#,
            br#"[["1","2"],["3","x"]]"#,
        ] {
            assert_eq!(idx.index_list(doc, 0, 2, 2), None, "{}", String::from_utf8_lossy(doc));
            assert_eq!(idx.mark(), 1);
        }
    }

    #[test]
    fn agrees_with_the_bytewise_grammar_on_mutations() {
        let base = br#"x[["61800.20","2.909"],["61800.10","0.696"],["1","2"],["61799.90","1234567.5"],["0.00","00012345678"]]}"#;
        let mut idx = LevelIndex::new();
        let mut check = |doc: &[u8]| {
            let before = idx.mark();
            let got = idx.index_list(doc, 1, 2, 3);
            let want = reference(doc, 1, 2, 3);
            assert_eq!(got, want.as_ref().map(|w| w.0), "{}", String::from_utf8_lossy(doc));
            match want {
                Some((_, levels)) => assert_eq!(idx.since(before), &levels[..]),
                None => assert_eq!(idx.mark(), before, "a refused list leaves the index unchanged"),
            }
            idx.clear();
        };
        check(base);
        for at in 0..base.len() {
            check(&base[..at]);
            for replacement in [b'"', b',', b'[', b']', b'.', b'5', b'a', b'\\', 0xff, b' ', 0] {
                let mut m = base.to_vec();
                m[at] = replacement;
                check(&m);
            }
            let mut deleted = base.to_vec();
            deleted.remove(at);
            check(&deleted);
        }
        // Long strings crossing several 64-byte blocks.
        let long = format!("x[[\"{}\",\"1\"],[\"2\",\"{}\"]]", "7".repeat(15), "8".repeat(14));
        check(long.as_bytes());
        let long = format!("x[[\"{}\",\"1\"],[\"2\",\"{}\"]]", "7".repeat(150), "8".repeat(70));
        check(long.as_bytes());
        let bad = format!("x[[\"{}\",\"1\"],[\"2\",\"{}]\"]]", "7".repeat(150), "8".repeat(70));
        check(bad.as_bytes());
    }

    #[test]
    fn a_full_index_refuses_the_list() {
        let mut idx = LevelIndex::new();
        let one = br#"[["1","2"]]"#;
        for _ in 0..MAX_INDEXED_LEVELS {
            idx.index_list(one, 0, 0, 0).unwrap();
        }
        assert_eq!(idx.index_list(one, 0, 0, 0), None);
        assert_eq!(idx.mark(), MAX_INDEXED_LEVELS);
    }
}
