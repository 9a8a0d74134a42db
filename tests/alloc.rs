//! Zero allocations per frame in steady state, proven with a counting
//! global allocator (the method of simd-json's `tests/alloc.rs`): every real
//! frame is decoded and applied once to warm up, then again while the
//! allocator counts this thread's allocations.

mod common;

use scalpel::alloc_count::CountingAlloc;
use scalpel::book::DEFAULT_LEVELS;
use scalpel::commands::instruments;
use scalpel::json::{BackendChoice, JsonScratch};
use scalpel::market::MarketState;
use scalpel::venue::{Decoder, Venue};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn steady_state_allocations(venue: Venue, frames: &[(u64, Vec<u8>)], choice: BackendChoice) -> (u64, usize) {
    let table = instruments::load(None, venue).unwrap();
    let mut decoder = Decoder::new(venue, &table);
    let entries = decoder.symbols().entries().to_vec();
    decoder.set_snapshot_instrument(decoder.symbols().find(b"BTCUSDT").map(|e| e.id));
    let mut scratch = JsonScratch::default();
    let mut work: Vec<Vec<u8>> = frames.iter().map(|(_, f)| f.clone()).collect();
    let mut pass = |market: &mut MarketState<DEFAULT_LEVELS>, work: &mut Vec<Vec<u8>>| {
        let mut applied = 0usize;
        for frame in work.iter_mut() {
            decoder.decode_frame_with(&mut scratch, frame, choice, |event, _| {
                if let Ok(event) = event {
                    market.apply(&event, |_, _, _| {});
                    applied += 1;
                }
            });
        }
        applied
    };
    let mut market = MarketState::<DEFAULT_LEVELS>::new(venue, &entries);
    pass(&mut market, &mut work);
    // Fresh frames (the fallback may unescape in place) and a fresh market,
    // both allocated before counting starts.
    let mut work: Vec<Vec<u8>> = frames.iter().map(|(_, f)| f.clone()).collect();
    let mut market = MarketState::<DEFAULT_LEVELS>::new(venue, &entries);
    let before = ALLOC.this_thread();
    let applied = pass(&mut market, &mut work);
    (ALLOC.this_thread() - before, applied)
}

#[test]
fn decode_and_apply_allocate_nothing_once_warm() {
    for (venue, relative) in common::REAL_FILES {
        let Some(path) = common::recording("decode_and_apply_allocate_nothing_once_warm", relative) else { return };
        let frames = common::read_lines(&path);
        let venue: Venue = venue.parse().unwrap();
        for choice in [BackendChoice::Auto, BackendChoice::Generic, BackendChoice::TapeOnly] {
            let (allocs, applied) = steady_state_allocations(venue, &frames, choice);
            assert!(applied > 0);
            assert_eq!(allocs, 0, "{relative} via {choice:?}: {allocs} allocations over {applied} frames");
        }
    }
}

#[test]
fn the_counter_counts_and_forwards_faithfully() {
    let before = ALLOC.this_thread();
    let mut v: Vec<u64> = Vec::with_capacity(4);
    v.extend([1, 2, 3, 4]);
    assert_eq!(ALLOC.this_thread() - before, 1);
    v.push(5); // grows: a realloc, which must keep the contents
    assert_eq!(ALLOC.this_thread() - before, 2);
    assert_eq!(v, [1, 2, 3, 4, 5]);
    let zeroed = vec![0u8; 1 << 16];
    assert!(zeroed.iter().all(|&b| b == 0));
    assert_eq!(ALLOC.this_thread() - before, 3);
    assert!(ALLOC.total() >= 3);
    drop(v);
    drop(zeroed);
    assert_eq!(ALLOC.this_thread() - before, 3, "frees are not allocations");
}

/// The allocation trace (a diagnostic, `SCALPEL_TRACE_HOT_ALLOCATIONS`):
/// an armed thread traces exactly its next `n` allocations, the trace's own
/// allocations (capturing and printing a backtrace) are counted but do not
/// trace again (no recursion into the allocator), and other threads are not
/// armed.
#[test]
fn an_armed_thread_traces_its_next_allocations_without_recursing() {
    std::thread::spawn(|| {
        let before = ALLOC.this_thread();
        scalpel::alloc_count::trace_next(2);
        assert_eq!(scalpel::alloc_count::traces_left(), 2);
        let first = std::hint::black_box(Vec::<u8>::with_capacity(16));
        assert_eq!(scalpel::alloc_count::traces_left(), 1);
        let second = std::hint::black_box(Vec::<u8>::with_capacity(32));
        let third = std::hint::black_box(Vec::<u8>::with_capacity(64));
        assert_eq!(scalpel::alloc_count::traces_left(), 0);
        // Three of ours, and the two traces' own allocations.
        assert!(ALLOC.this_thread() - before > 3, "the traces' allocations are counted");
        drop((first, second, third));
        // Arming is per thread: a thread started now is not armed.
        std::thread::spawn(|| assert_eq!(scalpel::alloc_count::traces_left(), 0)).join().unwrap();
    })
    .join()
    .unwrap();
}

#[test]
fn the_trace_setting_reads_after_seconds_and_count() {
    use scalpel::engine::AllocationTrace;
    let t = AllocationTrace::parse("120:50", scalpel::alloc_count::trace_next).unwrap();
    assert_eq!((t.after_s, t.count), (120, 50));
    assert_eq!(
        AllocationTrace::parse(" 0 : 1 ", scalpel::alloc_count::trace_next).map(|t| (t.after_s, t.count)),
        Some((0, 1))
    );
    for bad in ["", "120", "120:", ":5", "120:0", "-1:5", "1.5:5", "a:b"] {
        assert!(AllocationTrace::parse(bad, scalpel::alloc_count::trace_next).is_none(), "{bad:?}");
    }
}
