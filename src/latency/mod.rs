//! The latency harness's reporting frame, shared by every measured path
//! (`scalpel latency --path decode` and `--path tick-to-trade`
//! ([`tick_to_trade`]); wire-to-wire will plug into the same frame).
//!
//! The flow follows the live engine's (DESIGN.md, "The data flow"): the
//! measured thread only reads the clock and pushes raw stamps; everything
//! else happens on another thread.
//!
//! 1. **Stamps** ([`probe`]): the measured thread takes raw
//!    `quanta::Clock::raw()` readings (the TSC on x86 when it is invariant)
//!    at stage boundaries into a small `Copy` [`Marks`] value and pushes it
//!    onto the lossy-but-counted ring of [`crate::ring`]. No conversion, no
//!    histogram, no formatting, no allocation on that thread.
//! 2. **Collection** ([`collect`]): a collector thread pops the marks
//!    (between rounds, when the path replays a recording in rounds, so it
//!    never competes with the measured thread; continuously otherwise),
//!    hands each to the path's attribution (which intervals of which marks
//!    are which stage), converts raw deltas to nanoseconds with the same
//!    clock's calibration and records them into one HdrHistogram per stage
//!    (Gil Tene's HdrHistogram, <http://hdrhistogram.org/>: 1 ns to 60 s,
//!    3 significant digits).
//! 3. **Report** ([`report`], [`plot`]): p50 / p90 / p99 / p99.9 / p99.99 /
//!    max per stage, `.hgrm` percentile files in HdrHistogram's text format,
//!    a percentile-distribution plot as SVG, and the fields of the final
//!    JSON line.
//!
//! # Invariants
//! - Every pushed event is either recorded by the collector or counted as
//!   dropped by the ring ([`Collected::dropped`]); nothing disappears
//!   unseen. Intervals whose end stamp precedes their start (a clock read on
//!   another core with a skewed counter) record as 0 ns and are counted
//!   ([`Collected::backwards`]).
//! - The measured thread's cost per event is the clock reads it chose to
//!   make plus one ring push after the last of them; the push is never
//!   inside a measured interval.

pub mod collect;
pub mod decode;
pub mod floor;
pub mod plot;
pub mod probe;
pub mod report;
pub mod tick_to_trade;

pub use collect::{Attribution, Collected, Collector, CollectorConfig, Drain, Recorder, chain};
pub use probe::{Marks, Probe};
pub use report::{JsonLine, StageHistograms, StageStats};

/// The median cost of one pair of back-to-back `clock.raw()` reads, ns:
/// what every measured interval includes once (not subtracted).
#[must_use]
pub fn timer_overhead_ns(clock: &quanta::Clock) -> u64 {
    let mut overhead = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let a = clock.raw();
        let b = clock.raw();
        overhead.push(clock.delta_as_nanos(a, b));
    }
    overhead.sort_unstable();
    overhead[overhead.len() / 2]
}

/// Pins the calling thread to logical CPU `cpu`, for the measured thread
/// (`--pin`).
///
/// # Errors
/// The CPU does not exist or the OS refused (a cgroup's `cpuset` may not
/// include it).
pub fn pin_current_thread(cpu: usize) -> Result<(), String> {
    // Not through core_affinity::get_core_ids(): it lists the calling
    // thread's current mask, so a thread spawned by a pinned one could
    // never be moved elsewhere. sched_setaffinity itself checks the CPU.
    if core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        Ok(())
    } else {
        Err(format!("the OS refused to pin a thread to CPU {cpu} (no such CPU, or not in this process's cpuset)"))
    }
}
