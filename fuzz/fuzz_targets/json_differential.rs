//! Differential: the venue templates and the compact fast path against
//! simd-json on the same bytes, for both venues' decoders.
//!
//! Every frame is decoded three ways — `Auto` (venue template, then the
//! compact reader, then simd-json), `Generic` (compact reader, then
//! simd-json) and `TapeOnly` (simd-json) — and the complete renderings
//! (every level and batch element parsed) must be identical: the same
//! event or the same error, never one path accepting what another refuses.
//! The scratch is shared and reused, as in production, and the first
//! decode is repeated last to catch state left behind by a frame. Below
//! the decoders, the JSON trees themselves must agree: the compact reader
//! accepts a document only if simd-json does, and reads the same values.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use scalpel::json::{Backend, BackendChoice, JsonScratch, Val};
use scalpel::venue::{Decoder, Venue};

fn decoders() -> &'static [Decoder; 2] {
    static DECODERS: OnceLock<[Decoder; 2]> = OnceLock::new();
    DECODERS.get_or_init(|| {
        let table = scalpel_fuzz::fuzz_table();
        Venue::ALL.map(|venue| {
            let mut d = Decoder::new(venue, &table);
            let btc = d.symbols().find(b"BTCUSDT").map(|e| e.id);
            d.set_snapshot_instrument(btc);
            d
        })
    })
}

/// Every value of a JSON tree, in order.
fn tree(v: Val<'_>, out: &mut String) {
    match v {
        Val::Null => out.push_str("null"),
        Val::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Val::Int(i) => out.push_str(&i.to_string()),
        Val::UInt(u) => out.push_str(&u.to_string()),
        Val::Float => out.push_str("float"),
        Val::Str(s) => out.push_str(&format!("{s:?}")),
        Val::Arr(c) => {
            out.push('[');
            for e in c.elements() {
                tree(e, out);
                out.push(',');
            }
            out.push(']');
        }
        Val::Obj(c) => {
            out.push('{');
            for (k, e) in c.entries() {
                out.push_str(&format!("{k:?}:"));
                tree(e, out);
                out.push(',');
            }
            out.push('}');
        }
    }
}

fn parse(scratch: &mut JsonScratch, data: &[u8], choice: BackendChoice) -> (String, Backend) {
    let mut frame = data.to_vec();
    scratch.parse_with(&mut frame, choice, |v, backend| {
        let mut out = String::new();
        match v {
            Ok(v) => tree(v, &mut out),
            Err(_) => out.push_str("invalid"),
        }
        (out, backend)
    })
}

fuzz_target!(|data: &[u8]| {
    let mut scratch = JsonScratch::new(4096);
    let (generic, backend) = parse(&mut scratch, data, BackendChoice::Generic);
    let (tape, _) = parse(&mut scratch, data, BackendChoice::TapeOnly);
    if backend == Backend::Compact {
        assert_eq!(generic, tape, "compact reader vs simd-json on {:?}", String::from_utf8_lossy(data));
    }
    for decoder in decoders() {
        let mut results = Vec::with_capacity(4);
        for choice in [BackendChoice::Auto, BackendChoice::Generic, BackendChoice::TapeOnly, BackendChoice::Auto] {
            let mut frame = data.to_vec();
            results.push(decoder.decode_frame_with(&mut scratch, &mut frame, choice, |ev, _| scalpel_fuzz::render(ev)));
        }
        let text = String::from_utf8_lossy(data);
        assert_eq!(results[0], results[2], "{:?}: template/auto vs simd-json on {text:?}", decoder.venue());
        assert_eq!(results[1], results[2], "{:?}: compact vs simd-json on {text:?}", decoder.venue());
        assert_eq!(results[3], results[0], "{:?}: second decode differs on {text:?}", decoder.venue());
    }
});
