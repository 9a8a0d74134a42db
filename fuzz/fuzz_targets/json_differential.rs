//! Differential: the venue templates and the compact fast path against
//! simd-json on the same bytes, for both venues' decoders.
//!
//! Every frame is decoded three ways — `Auto` (venue template, then the
//! compact reader, then simd-json), `Generic` (compact reader, then
//! simd-json) and `TapeOnly` (simd-json) — and the complete renderings
//! (every level and batch element parsed) must be identical: the same
//! event or the same error, never one path accepting what another refuses.
//! The scratch is shared and reused, as in production, and the first
//! decode is repeated last to catch state left behind by a frame.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use scalpel::json::{BackendChoice, JsonScratch};
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

fuzz_target!(|data: &[u8]| {
    let mut scratch = JsonScratch::new(4096);
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
