//! Generating frames allocates nothing once the generator is warm: frames
//! are written into one reused arena, orders live in a slab, and every
//! buffer keeps its capacity (a buffer grows only at a new high-water mark,
//! such as a sweep of more than 1024 prints). Proven with the counting
//! global allocator over 180 s after a 60 s warm-up; set
//! `SYNTH_ALLOC_SECS=3600` (and `--release`) for a full hour.

use scalpel::alloc_count::CountingAlloc;
use scalpel::synth::{Synth, SynthConfig};
use scalpel::venue::Venue;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Allocations on this thread while generating the frames after the first
/// `warm_s` seconds of a `secs`-second session, and the frames counted.
fn allocations_after_warm_up(venue: Venue, secs: f64, warm_s: f64, gap_every: Option<u64>) -> (u64, u64) {
    let mut config = SynthConfig::built_in(venue, "BTCUSDT".parse().unwrap(), 9, secs).unwrap();
    config.gap_every = gap_every;
    let warm_until = config.start_ms as u64 * 1_000_000 + (warm_s * 1e9) as u64;
    let mut synth = Synth::new(&config).unwrap();
    let (mut before, mut frames, mut bytes) = (None, 0u64, 0usize);
    while let Some(frame) = synth.next_frame() {
        bytes += frame.bytes.len();
        if before.is_none() && frame.local_ts_ns >= warm_until {
            before = Some(ALLOC.this_thread());
        }
        if before.is_some() {
            frames += 1;
        }
    }
    let allocations = ALLOC.this_thread() - before.expect("session longer than its warm-up");
    assert!(bytes > 0);
    (allocations, frames)
}

#[test]
fn generation_allocates_nothing_once_warm() {
    for (venue, gap_every) in
        [(Venue::BinanceUsdm, None), (Venue::BinanceUsdm, Some(200)), (Venue::BybitLinear, Some(100))]
    {
        let secs: f64 = std::env::var("SYNTH_ALLOC_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(240.0);
        let (allocations, frames) = allocations_after_warm_up(venue, secs, 60.0, gap_every);
        println!("{venue} (gap every {gap_every:?}): {allocations} allocations in {frames} frames after warm-up");
        assert!(frames > 5_000);
        assert_eq!(allocations, 0, "{venue}: generation allocated after warm-up");
    }
}
