//! A counting global allocator, to prove that hot paths allocate nothing
//! once warm (as simd-json's `tests/alloc.rs` does with `alloc_counter`).
//!
//! Install it with `#[global_allocator]` in a binary or test crate. It
//! counts allocations and reallocations process-wide and per thread, then
//! forwards to the system allocator. The per-thread count lets a test
//! measure one thread while the test harness runs others.
//!
//! To find *where* a thread allocates, [`trace_next`] arms the calling
//! thread: each of its next `n` counted allocations prints a backtrace to
//! stderr (a diagnostic: capturing and printing allocate themselves, which
//! is counted but not traced, so a traced run's counts and memory are not
//! figures). `scalpel run` and `scalpel demo` arm the hot thread with
//! `SCALPEL_TRACE_HOT_ALLOCATIONS=AFTER_S:N` (README, the fault soak).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

static TOTAL: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // `const` initialisation with no destructor: touching it never
    // allocates, so the allocator may use it.
    static THREAD: Cell<u64> = const { Cell::new(0) };
}

/// Forwards to [`System`] and counts every `alloc` and `realloc`.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAlloc;

impl CountingAlloc {
    /// Allocations (including reallocations) by all threads so far.
    #[must_use]
    pub fn total(&self) -> u64 {
        TOTAL.load(Ordering::Relaxed)
    }

    /// Allocations (including reallocations) by the calling thread so far.
    #[must_use]
    pub fn this_thread(&self) -> u64 {
        THREAD.with(Cell::get)
    }
}

thread_local! {
    // Allocations of this thread still to trace, and whether a trace is
    // being printed now (its own allocations are not traced).
    static TRACE_LEFT: Cell<u32> = const { Cell::new(0) };
    static TRACING: Cell<bool> = const { Cell::new(false) };
}

/// Arms the calling thread: each of its next `n` allocations through
/// [`CountingAlloc`] prints `hot-allocation size=… unix_ns=…` and a
/// backtrace to stderr. `0` disarms. A diagnostic, not for a measured run.
pub fn trace_next(n: u32) {
    let _ = TRACE_LEFT.try_with(|c| c.set(n));
}

/// Allocations of the calling thread still to be traced.
#[must_use]
pub fn traces_left() -> u32 {
    TRACE_LEFT.try_with(Cell::get).unwrap_or(0)
}

fn count(size: usize) {
    TOTAL.fetch_add(1, Ordering::Relaxed);
    // `try_with` fails only during thread teardown; the count is then moot.
    let _ = THREAD.try_with(|c| c.set(c.get() + 1));
    if TRACE_LEFT.try_with(Cell::get).unwrap_or(0) > 0 {
        trace(size);
    }
}

#[cold]
fn trace(size: usize) {
    if TRACING.try_with(|t| t.replace(true)).unwrap_or(true) {
        return;
    }
    let _ = TRACE_LEFT.try_with(|c| c.set(c.get().saturating_sub(1)));
    let unix_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let trace = std::backtrace::Backtrace::force_capture();
    eprintln!("hot-allocation size={size} unix_ns={unix_ns}\n{trace}");
    let _ = TRACING.try_with(|t| t.set(false));
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; counting touches only an
// atomic and const-initialised thread-locals, none of which allocates. A
// trace (armed by `trace_next` only) allocates through this allocator
// again: the `TRACING` flag, set before, makes that nested call count
// without tracing, so it cannot recurse.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract for
        // `layout`, which is exactly `System::alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was returned by this allocator, i.e. by `System`,
        // with this `layout` (the caller's contract).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds
        // `realloc`'s contract for `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
