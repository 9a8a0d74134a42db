//! A counting global allocator, to prove that hot paths allocate nothing
//! once warm (as simd-json's `tests/alloc.rs` does with `alloc_counter`).
//!
//! Install it with `#[global_allocator]` in a binary or test crate. It
//! counts allocations and reallocations process-wide and per thread, then
//! forwards to the system allocator. The per-thread count lets a test
//! measure one thread while the test harness runs others.

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

fn count() {
    TOTAL.fetch_add(1, Ordering::Relaxed);
    // `try_with` fails only during thread teardown; the count is then moot.
    let _ = THREAD.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; counting touches only an
// atomic and a const-initialised thread-local, neither of which allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract for
        // `layout`, which is exactly `System::alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was returned by this allocator, i.e. by `System`,
        // with this `layout` (the caller's contract).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds
        // `realloc`'s contract for `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
