//! JSON access for the decoders: one lazy, borrowed view ([`Val`]) over two
//! backends.
//!
//! - **Fast path** ([`compact`]): a validating reader for the compact JSON
//!   the venues send. It reads the frame in place, never copies or
//!   allocates.
//! - **Parser of record** (simd-json's tape): every frame the fast path
//!   refuses — anything unusual, and every invalid document — is parsed by
//!   `simd_json::fill_tape` into a tape whose buffers are reused frame after
//!   frame, so it too allocates nothing once warm.
//!
//! Cold paths (order responses, user-data messages) read whole documents
//! through [`tape_reader`], a field-lookup view over a reused simd-json tape.
//!
//! The venue decoders are written once against [`Val`]; they cannot tell the
//! backends apart, and the tests feed every frame through both and demand
//! identical events. [`JsonScratch`] owns the reusable state of both and
//! counts how often the fallback ran.

pub mod compact;
pub mod levels;
pub mod tape_reader;
pub mod template;

use simd_json::{Buffers, Node, StaticNode, Tape};

use compact::CompactIndex;

/// A JSON value, borrowed from the frame (and, on the fallback path, from
/// the tape). `Copy`; containers are iterated lazily.
#[derive(Clone, Copy, Debug)]
pub enum Val<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// A non-negative integer above `i64::MAX`.
    UInt(u64),
    /// A number with a fraction or exponent. The decoders never accept one
    /// (prices come as strings), so its value is not kept.
    Float,
    /// String contents (unescaped).
    Str(&'a [u8]),
    /// An array.
    Arr(Container<'a>),
    /// An object.
    Obj(Container<'a>),
}

impl<'a> Val<'a> {
    /// The string contents, if a string.
    #[inline]
    #[must_use]
    pub fn as_str(self) -> Option<&'a [u8]> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if an integer that fits `i64`.
    #[inline]
    #[must_use]
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The integer, if a non-negative integer.
    #[inline]
    #[must_use]
    pub fn as_u64(self) -> Option<u64> {
        match self {
            Val::Int(i) => u64::try_from(i).ok(),
            Val::UInt(u) => Some(u),
            _ => None,
        }
    }

    /// The boolean, if a boolean.
    #[inline]
    #[must_use]
    pub fn as_bool(self) -> Option<bool> {
        match self {
            Val::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The object, if an object.
    #[inline]
    #[must_use]
    pub fn as_obj(self) -> Option<Container<'a>> {
        match self {
            Val::Obj(c) => Some(c),
            _ => None,
        }
    }

    /// The array, if an array.
    #[inline]
    #[must_use]
    pub fn as_arr(self) -> Option<Container<'a>> {
        match self {
            Val::Arr(c) => Some(c),
            _ => None,
        }
    }
}

/// An object or array in one of the two backends.
#[derive(Clone, Copy)]
pub enum Container<'a> {
    /// In a validated compact document: `doc[start]` is the opening bracket,
    /// `end` is one past the closing one.
    Compact {
        /// The whole document.
        doc: &'a [u8],
        /// Its index.
        idx: &'a CompactIndex,
        /// Opening bracket.
        start: u32,
        /// One past the closing bracket.
        end: u32,
    },
    /// On a simd-json tape: the container's own node and everything in it.
    Tape(&'a [Node<'a>]),
}

impl std::fmt::Debug for Container<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Container::Compact { start, end, .. } => write!(f, "Compact({start}..{end})"),
            Container::Tape(nodes) => write!(f, "Tape({} nodes)", nodes.len()),
        }
    }
}

impl<'a> Container<'a> {
    /// Iterates `(key, value)` pairs of an object (or array elements with
    /// empty keys, if called on an array).
    #[inline]
    #[must_use]
    pub fn entries(self) -> Entries<'a> {
        match self {
            Container::Compact { doc, idx, start, end } => {
                let pos = start as usize + 1;
                let is_object = doc.get(start as usize) == Some(&b'{');
                Entries::Compact {
                    doc,
                    idx,
                    pos,
                    end: end as usize,
                    is_object,
                    done: doc.get(pos).is_none_or(|&b| b == b'}' || b == b']'),
                }
            }
            Container::Tape(nodes) => {
                let (len, is_object) = match nodes.first() {
                    Some(Node::Object { len, .. }) => (*len, true),
                    Some(Node::Array { len, .. }) => (*len, false),
                    _ => (0, false),
                };
                Entries::Tape { nodes, pos: 1, remaining: len, is_object }
            }
        }
    }

    /// Iterates array elements.
    #[inline]
    pub fn elements(self) -> impl Iterator<Item = Val<'a>> {
        self.entries().map(|(_, v)| v)
    }

    /// Reads the next element of an array as a `["a","b"]` string pair,
    /// advancing `cursor`. The fast path reads the pair in place; elements
    /// of any other shape come back as [`PairStep::Other`] for the caller to
    /// inspect.
    #[inline]
    pub fn next_string_pair(self, cursor: &mut PairCursor) -> PairStep<'a> {
        match self {
            Container::Compact { doc, idx, end, .. } => {
                let pos = cursor.pos;
                match doc.get(pos) {
                    None => PairStep::End,
                    Some(b']') if pos + 1 == end as usize => PairStep::End,
                    Some(_) => {
                        if let Some((a, b, next)) = compact::string_pair_at(doc, pos) {
                            cursor.pos = next + usize::from(doc.get(next) == Some(&b','));
                            return PairStep::Pair(a, b);
                        }
                        let Some(next) = compact::value_end(doc, idx, pos) else {
                            return PairStep::End;
                        };
                        let val = compact_val(doc, idx, pos, next);
                        cursor.pos = next + usize::from(doc.get(next) == Some(&b','));
                        PairStep::Other(val)
                    }
                }
            }
            Container::Tape(nodes) => {
                if cursor.remaining == 0 {
                    return PairStep::End;
                }
                cursor.remaining -= 1;
                let pos = cursor.pos;
                let Some(node) = nodes.get(pos) else {
                    return PairStep::End;
                };
                cursor.pos = pos + node_span(node);
                if let (Node::Array { len: 2, count: 2 }, Some(Node::String(a)), Some(Node::String(b))) =
                    (node, nodes.get(pos + 1), nodes.get(pos + 2))
                {
                    return PairStep::Pair(a.as_bytes(), b.as_bytes());
                }
                PairStep::Other(tape_val(nodes, pos))
            }
        }
    }

    /// Reads the next element as a `["<price>","<qty>"]` pair of plain
    /// unsigned decimals in one pass over the bytes (parse and delimit at
    /// once). Returns `None` when the element is anything else — the caller
    /// then uses [`Container::next_string_pair`] from the same cursor, which
    /// reports the element precisely.
    #[inline]
    pub fn next_decimal_pair(self, cursor: &mut PairCursor, price_scale: u8, qty_scale: u8) -> Option<(i64, i64)> {
        let Container::Compact { doc, .. } = self else { return None };
        let pos = cursor.pos;
        if doc.get(pos..pos + 2)? != b"[\"" {
            return None;
        }
        let (price, end) = crate::fixed::parse_unsigned_prefix_swar(doc, pos + 2, price_scale)?;
        if doc.get(end..end + 3)? != b"\",\"" {
            return None;
        }
        let (qty, end) = crate::fixed::parse_unsigned_prefix_swar(doc, end + 3, qty_scale)?;
        if doc.get(end..end + 2)? != b"\"]" {
            return None;
        }
        let next = end + 2;
        cursor.pos = next + usize::from(doc.get(next) == Some(&b','));
        Some((price, qty))
    }

    /// A cursor at the first element of this array, for
    /// [`Container::next_string_pair`].
    #[inline]
    #[must_use]
    pub fn pair_cursor(self) -> PairCursor {
        match self {
            Container::Compact { start, .. } => PairCursor { pos: start as usize + 1, remaining: 0 },
            Container::Tape(nodes) => match nodes.first() {
                Some(Node::Array { len, .. }) => PairCursor { pos: 1, remaining: *len },
                _ => PairCursor { pos: 1, remaining: 0 },
            },
        }
    }
}

/// Position of a [`Container::next_string_pair`] walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PairCursor {
    pos: usize,
    remaining: usize,
}

/// One step of [`Container::next_string_pair`].
#[derive(Debug, Clone, Copy)]
pub enum PairStep<'a> {
    /// A `["a","b"]` element.
    Pair(&'a [u8], &'a [u8]),
    /// An element of another shape.
    Other(Val<'a>),
    /// No more elements.
    End,
}

/// Iterator over the entries of a [`Container`].
#[derive(Clone, Copy)]
pub enum Entries<'a> {
    #[doc(hidden)]
    Compact { doc: &'a [u8], idx: &'a CompactIndex, pos: usize, end: usize, is_object: bool, done: bool },
    #[doc(hidden)]
    Tape { nodes: &'a [Node<'a>], pos: usize, remaining: usize, is_object: bool },
}

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a [u8], Val<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Entries::Compact { doc, idx, pos, end, is_object, done } => {
                if *done {
                    return None;
                }
                let mut p = *pos;
                let mut key: &[u8] = &[];
                if *is_object {
                    let key_end = compact::string_end(doc, p)?;
                    key = &doc[p + 1..key_end - 1];
                    p = key_end + 1; // past ':'
                }
                let Some(value_end) = compact::value_end(doc, idx, p) else {
                    *done = true;
                    return None;
                };
                let val = compact_val(doc, idx, p, value_end);
                match doc.get(value_end) {
                    Some(b',') => *pos = value_end + 1,
                    _ => *done = true,
                }
                if value_end >= *end {
                    *done = true;
                }
                Some((key, val))
            }
            Entries::Tape { nodes, pos, remaining, is_object } => {
                if *remaining == 0 {
                    return None;
                }
                *remaining -= 1;
                let mut p = *pos;
                let mut key: &[u8] = &[];
                if *is_object {
                    if let Some(Node::String(k)) = nodes.get(p) {
                        key = k.as_bytes();
                    }
                    p += 1;
                }
                let node = nodes.get(p)?;
                *pos = p + node_span(node);
                Some((key, tape_val(nodes, p)))
            }
        }
    }
}

#[inline]
fn compact_val<'a>(doc: &'a [u8], idx: &'a CompactIndex, pos: usize, end: usize) -> Val<'a> {
    match doc.get(pos) {
        Some(b'"') => Val::Str(&doc[pos + 1..end - 1]),
        Some(b'{') => Val::Obj(Container::Compact { doc, idx, start: pos as u32, end: end as u32 }),
        Some(b'[') => Val::Arr(Container::Compact { doc, idx, start: pos as u32, end: end as u32 }),
        Some(b't') => Val::Bool(true),
        Some(b'f') => Val::Bool(false),
        Some(b'-' | b'0'..=b'9') => compact::int_at(doc, pos).map_or(Val::Null, |(v, _)| Val::Int(v)),
        _ => Val::Null,
    }
}

/// Number of tape nodes a value occupies.
#[inline]
fn node_span(node: &Node<'_>) -> usize {
    match node {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

#[inline]
fn tape_val<'a>(nodes: &'a [Node<'a>], pos: usize) -> Val<'a> {
    match nodes.get(pos) {
        Some(Node::String(s)) => Val::Str(s.as_bytes()),
        Some(node @ Node::Object { .. }) => Val::Obj(Container::Tape(&nodes[pos..pos + node_span(node)])),
        Some(node @ Node::Array { .. }) => Val::Arr(Container::Tape(&nodes[pos..pos + node_span(node)])),
        Some(Node::Static(StaticNode::I64(i))) => Val::Int(*i),
        Some(Node::Static(StaticNode::U64(u))) => i64::try_from(*u).map_or(Val::UInt(*u), Val::Int),
        Some(Node::Static(StaticNode::F64(_))) => Val::Float,
        Some(Node::Static(StaticNode::Bool(b))) => Val::Bool(*b),
        _ => Val::Null,
    }
}

/// The frame is not valid JSON (simd-json refused it).
///
/// # Errors
/// Returned by [`JsonScratch::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON")]
pub struct InvalidJson;

/// Which backend parsed a frame (for tests and counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A venue template ([`template`]).
    Template,
    /// The compact fast path.
    Compact,
    /// simd-json's tape.
    Tape,
}

/// Which backends [`JsonScratch::parse_with`] may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    /// Venue template, then the compact reader, then simd-json (the
    /// production setting).
    Auto,
    /// Compact reader, then simd-json (skips the venue templates).
    Generic,
    /// simd-json only (to cross-check the fast path).
    TapeOnly,
}

/// Reusable parsing state: the compact index, simd-json's buffers and tape.
/// One per decoding thread; allocates while warming up to the largest frame
/// seen, never afterwards.
pub struct JsonScratch {
    index: CompactIndex,
    levels: levels::LevelIndex,
    buffers: Buffers,
    tape: Tape<'static>,
    compact_frames: u64,
    tape_frames: u64,
}

impl Default for JsonScratch {
    fn default() -> Self {
        Self::new(64 * 1024)
    }
}

impl JsonScratch {
    /// Scratch sized for frames up to `max_frame` bytes on the fallback path.
    #[must_use]
    pub fn new(max_frame: usize) -> Self {
        Self {
            index: CompactIndex::default(),
            levels: levels::LevelIndex::new(),
            buffers: Buffers::new(max_frame),
            tape: Tape(Vec::with_capacity(max_frame / 4)),
            compact_frames: 0,
            tape_frames: 0,
        }
    }

    /// Frames parsed by the generic fast path and by simd-json, in that
    /// order (frames a venue template read are not parsed here).
    #[must_use]
    pub fn backend_counts(&self) -> (u64, u64) {
        (self.compact_frames, self.tape_frames)
    }

    /// The level index the venue templates fill.
    #[inline]
    pub fn level_index(&mut self) -> &mut levels::LevelIndex {
        &mut self.levels
    }

    /// Parses `frame` and hands its root value to `f`.
    ///
    /// The fast path reads `frame` as it is; the fallback may unescape
    /// strings inside `frame` (simd-json parses in place).
    #[inline]
    pub fn parse<R>(
        &mut self,
        frame: &mut [u8],
        f: impl for<'x> FnOnce(Result<Val<'x>, InvalidJson>, Backend) -> R,
    ) -> R {
        self.parse_with(frame, BackendChoice::Auto, f)
    }

    /// [`JsonScratch::parse`] with an explicit backend choice.
    #[inline]
    pub fn parse_with<R>(
        &mut self,
        frame: &mut [u8],
        choice: BackendChoice,
        f: impl for<'x> FnOnce(Result<Val<'x>, InvalidJson>, Backend) -> R,
    ) -> R {
        if choice != BackendChoice::TapeOnly && compact::index(frame, &mut self.index).is_ok() {
            self.compact_frames += 1;
            let doc: &[u8] = frame;
            let root = match compact::value_end(doc, &self.index, 0) {
                Some(end) => Ok(compact_val(doc, &self.index, 0, end)),
                None => Err(InvalidJson),
            };
            return f(root, Backend::Compact);
        }
        self.tape_frames += 1;
        let mut tape: Tape<'_> = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let result = match simd_json::fill_tape(frame, &mut self.buffers, &mut tape) {
            // fill_tape leaves the root at index 0.
            Ok(()) => f(Ok(tape_val(&tape.0, 0)), Backend::Tape),
            Err(_) => f(Err(InvalidJson), Backend::Tape),
        };
        self.tape = tape.reset();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A canonical rendering of a value, for comparing the two backends.
    fn render(v: Val<'_>, out: &mut String) {
        match v {
            Val::Null => out.push_str("null"),
            Val::Bool(b) => out.push_str(if b { "true" } else { "false" }),
            Val::Int(i) => out.push_str(&i.to_string()),
            Val::UInt(u) => out.push_str(&u.to_string()),
            Val::Float => out.push_str("float"),
            Val::Str(s) => {
                out.push('"');
                out.push_str(&String::from_utf8_lossy(s));
                out.push('"');
            }
            Val::Arr(c) => {
                out.push('[');
                for e in c.elements() {
                    render(e, out);
                    out.push(',');
                }
                out.push(']');
            }
            Val::Obj(c) => {
                out.push('{');
                for (k, e) in c.entries() {
                    out.push_str(&String::from_utf8_lossy(k));
                    out.push(':');
                    render(e, out);
                    out.push(',');
                }
                out.push('}');
            }
        }
    }

    fn both(doc: &str) -> (String, Backend, String) {
        let mut scratch = JsonScratch::new(1024);
        let mut a = doc.as_bytes().to_vec();
        let (fast, backend) = scratch.parse(&mut a, |v, b| {
            let mut s = String::new();
            match v {
                Ok(v) => render(v, &mut s),
                Err(_) => s.push_str("invalid"),
            }
            (s, b)
        });
        let mut b = doc.as_bytes().to_vec();
        let slow = scratch.parse_with(&mut b, BackendChoice::TapeOnly, |v, _| {
            let mut s = String::new();
            match v {
                Ok(v) => render(v, &mut s),
                Err(_) => s.push_str("invalid"),
            }
            s
        });
        (fast, backend, slow)
    }

    #[test]
    fn backends_agree() {
        for doc in [
            r#"{"stream":"x","data":{"b":[["1.0","2"],["3","4"]],"n":null,"t":true,"i":-7,"big":18446744073709551615}}"#,
            r#"{"a":{"b":{"c":[1,[2,[3,{"d":"]"}]]]}}}"#,
            r#"[1,"two",{"3":[]},{}]"#,
            r#"{ "spaced" : [ 1 , 2 ] }"#,
            r#"{"esc":"a\"b\\c\u0041"}"#,
            r#"{"f":1.5,"e":1e3}"#,
            r#"{"bad":}"#,
            "",
        ] {
            let (fast, _, slow) = both(doc);
            assert_eq!(fast, slow, "doc {doc}");
        }
        assert_eq!(both(r#"{"a":[1]}"#).1, Backend::Compact);
        assert_eq!(both(r#"{"a": [1]}"#).1, Backend::Tape);
    }

    #[test]
    fn string_pairs_on_both_backends() {
        for doc in [r#"[["1","2"],["3","4"],5,["6"]]"#, r#"[ ["1","2"], ["3","4"], 5, ["6"] ]"#] {
            let mut scratch = JsonScratch::new(256);
            let mut buf = doc.as_bytes().to_vec();
            let steps = scratch.parse(&mut buf, |v, _| {
                let arr = v.unwrap().as_arr().unwrap();
                let mut cursor = arr.pair_cursor();
                let mut steps = Vec::new();
                loop {
                    match arr.next_string_pair(&mut cursor) {
                        PairStep::Pair(a, b) => steps.push(format!("{}/{}", a[0] as char, b[0] as char)),
                        PairStep::Other(v) => steps.push(format!("other:{}", v.as_i64().is_some())),
                        PairStep::End => break,
                    }
                }
                steps
            });
            assert_eq!(steps, vec!["1/2", "3/4", "other:true", "other:false"], "doc {doc}");
        }
    }
}
