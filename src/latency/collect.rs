//! The collector thread: pops [`Marks`] off the lossy ring, lets the path
//! attribute their intervals to stages, converts raw clock deltas to
//! nanoseconds and records them into per-stage histograms.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use super::probe::{Marks, Probe};
use super::report::StageHistograms;

/// How long a [`Drain::Continuous`] collector sleeps when the ring is
/// empty. At ~3 M events/s this is ~600 events, far below any ring
/// capacity the harness uses.
const IDLE_SLEEP: Duration = Duration::from_micros(200);
/// Most events taken per turn before the consumed count is published.
const BATCH: usize = 1024;

/// What an attribution uses to record an event's intervals.
pub struct Recorder<'c> {
    clock: &'c quanta::Clock,
    histograms: &'c mut StageHistograms,
    backwards: u64,
}

impl<'c> Recorder<'c> {
    /// A recorder over `histograms` outside a collector thread (to test an
    /// attribution, or to record on the thread that owns the histograms).
    pub fn new(clock: &'c quanta::Clock, histograms: &'c mut StageHistograms) -> Self {
        Self { clock, histograms, backwards: 0 }
    }

    /// Intervals recorded so far whose end preceded their start.
    #[must_use]
    pub fn backwards(&self) -> u64 {
        self.backwards
    }

    /// Records, for stage `stage`, the interval between two raw stamps of
    /// the same clock; returns it in nanoseconds. An end before its start
    /// records as 0 ns and is counted ([`Collected::backwards`]).
    #[inline]
    pub fn interval(&mut self, stage: usize, from: u64, to: u64) -> u64 {
        if to < from {
            self.backwards += 1;
        }
        let ns = self.clock.delta_as_nanos(from, to);
        self.histograms.record(stage, ns);
        ns
    }

    /// Converts a raw interval to nanoseconds without recording it.
    #[inline]
    #[must_use]
    pub fn nanos(&self, from: u64, to: u64) -> u64 {
        self.clock.delta_as_nanos(from, to)
    }

    /// Records a value already in nanoseconds (a derived figure).
    #[inline]
    pub fn value(&mut self, stage: usize, ns: u64) {
        self.histograms.record(stage, ns);
    }
}

/// Which intervals of an event's stamps are which stage: the part of a
/// path that runs on the collector thread. Closures
/// `FnMut(&Marks<N>, &mut Recorder)` are attributions; a path that keeps
/// state beyond the histograms implements it on its own type and gets the
/// value back from [`Collector::finish`].
pub trait Attribution<const N: usize>: Send + 'static {
    /// Records the event's intervals.
    fn attribute(&mut self, marks: &Marks<N>, rec: &mut Recorder<'_>);
}

impl<const N: usize, F> Attribution<N> for F
where
    F: FnMut(&Marks<N>, &mut Recorder<'_>) + Send + 'static,
{
    fn attribute(&mut self, marks: &Marks<N>, rec: &mut Recorder<'_>) {
        self(marks, rec);
    }
}

/// The attribution of a path whose stages follow each other: stage `i` is
/// the interval from stamp `i` to stamp `i + 1`, and `whole` (if given)
/// the interval from the first stamp to the last. An event with fewer
/// stamps records the stages it has (a tick that produced no order stops
/// after the strategy, say).
pub fn chain<const N: usize>(whole: Option<usize>) -> impl FnMut(&Marks<N>, &mut Recorder<'_>) + Send + 'static {
    move |marks, rec| {
        let stamps = marks.stamps();
        for (stage, pair) in stamps.windows(2).enumerate() {
            rec.interval(stage, pair[0], pair[1]);
        }
        if let (Some(whole), [first, .., last]) = (whole, stamps) {
            rec.interval(whole, *first, *last);
        }
    }
}

/// What the collector hands back when it ends.
pub struct Collected<A> {
    /// One histogram per stage.
    pub histograms: StageHistograms,
    /// Events recorded.
    pub events: u64,
    /// Events the ring dropped because it was full.
    pub dropped: u64,
    /// Intervals whose end stamp preceded their start.
    pub backwards: u64,
    /// Events that took more stamps than they could hold.
    pub overflowed: u64,
    /// Why the collector could not be pinned where asked, if it could not.
    pub pin_error: Option<String>,
    /// The attribution, with whatever state it kept.
    pub attribution: A,
}

/// When the collector drains the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Whenever there is something, sleeping 200 µs when there is not: the
    /// live engine's way (its journal thread), for streams without rounds.
    Continuous,
    /// Only when the measured thread calls [`Probe::flush`] (between
    /// rounds): the collector never wakes during a measured round, so it
    /// cannot preempt the measured thread on a shared CPU. The ring must
    /// hold what is pushed between two flushes, or the excess is dropped
    /// (and counted).
    OnFlush,
}

/// How a collector runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectorConfig {
    /// Ring capacity in events (at least 1).
    pub capacity: usize,
    /// CPU to pin the collector to: keep it off the measured thread's. A
    /// pin the OS refuses is reported in [`Collected::pin_error`].
    pub cpu: Option<usize>,
    /// When it drains.
    pub drain: Drain,
}

/// The running collector thread.
pub struct Collector<A> {
    handle: Option<JoinHandle<Collected<A>>>,
    stop: Arc<AtomicBool>,
}

impl<A> Collector<A> {
    /// Starts a collector thread (named `latency-collector`) for the given
    /// stages and returns the measured thread's [`Probe`]. `clock` must be a
    /// clone of the clock the measured thread stamps with: raw values are
    /// only comparable, and convertible, within one calibration.
    /// `attribution` is called once per event, on the collector thread.
    ///
    /// # Errors
    /// The OS refused to create the thread.
    pub fn spawn<const N: usize>(
        stage_names: Vec<String>,
        clock: quanta::Clock,
        config: &CollectorConfig,
        mut attribution: A,
    ) -> io::Result<(Probe<N>, Self)>
    where
        A: Attribution<N>,
    {
        let (producer, consumer) = crate::ring::lossy::<Marks<N>>(config.capacity);
        let consumed = Arc::new(CachePadded::new(AtomicU64::new(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread_consumed = Arc::clone(&consumed);
        let CollectorConfig { cpu, drain, .. } = *config;
        let handle = std::thread::Builder::new().name("latency-collector".into()).spawn(move || {
            let pin_error = cpu.and_then(|c| super::pin_current_thread(c).err());
            let mut histograms = StageHistograms::new(stage_names);
            let (mut events, mut backwards, mut overflowed) = (0u64, 0u64, 0u64);
            loop {
                let mut taken = 0;
                {
                    let mut recorder = Recorder { clock: &clock, histograms: &mut histograms, backwards: 0 };
                    while taken < BATCH {
                        let Some(marks) = consumer.pop() else { break };
                        overflowed += u64::from(marks.overflowed());
                        attribution.attribute(&marks, &mut recorder);
                        taken += 1;
                    }
                    backwards += recorder.backwards;
                }
                events += taken as u64;
                thread_consumed.store(events, Ordering::Release);
                if taken == 0 {
                    let finished = thread_stop.load(Ordering::Acquire) || consumer.is_producer_gone();
                    if finished && consumer.is_empty() {
                        break;
                    }
                    match drain {
                        Drain::Continuous => std::thread::sleep(IDLE_SLEEP),
                        // Spurious wake-ups only cost an empty look.
                        Drain::OnFlush => std::thread::park(),
                    }
                }
            }
            Collected { histograms, events, dropped: consumer.dropped(), backwards, overflowed, pin_error, attribution }
        })?;
        let probe = Probe::new(producer, consumed, handle.thread().clone());
        Ok((probe, Self { handle: Some(handle), stop }))
    }

    /// Stops the collector once it has drained the ring (drop the
    /// [`Probe`] first, or the last events may race the stop) and returns
    /// what it collected.
    ///
    /// # Errors
    /// The collector thread panicked (an attribution bug); the panic's
    /// message is returned.
    pub fn finish(mut self) -> Result<Collected<A>, String>
    where
        A: Send + 'static,
    {
        self.stop.store(true, Ordering::Release);
        let handle = self.handle.take().ok_or_else(|| "the collector was already finished".to_owned())?;
        handle.thread().unpark();
        handle.join().map_err(|panic| {
            panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the collector thread panicked".to_owned())
        })
    }
}

impl<A> Drop for Collector<A> {
    /// A collector dropped without [`Collector::finish`] (an error path)
    /// is told to stop, so its thread does not stay parked forever.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(handle) = &self.handle {
            handle.thread().unpark();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn continuous(capacity: usize) -> CollectorConfig {
        CollectorConfig { capacity, cpu: None, drain: Drain::Continuous }
    }

    #[test]
    fn on_flush_collects_only_when_flushed_and_finishes() {
        let (clock, _mock) = quanta::Clock::mock();
        let config = CollectorConfig { capacity: 64, cpu: None, drain: Drain::OnFlush };
        let (mut probe, collector) =
            Collector::spawn::<2>(vec!["x".into()], clock, &config, |m: &Marks<2>, r: &mut Recorder<'_>| {
                r.value(0, u64::from(m.tag()) + 1);
            })
            .unwrap();
        for i in 0..10 {
            assert!(probe.record(Marks::start(i, 0)));
        }
        probe.flush();
        assert!(probe.wait_drained(Duration::from_secs(10)));
        for i in 10..15 {
            assert!(probe.record(Marks::start(i, 0)));
        }
        drop(probe);
        let got = collector.finish().unwrap();
        assert_eq!((got.events, got.dropped), (15, 0), "finish drains what was never flushed");
        assert_eq!(got.histograms.get(0).unwrap().max(), 15);
    }

    #[test]
    fn records_every_interval_and_counts_backwards_ones() {
        let (clock, mock) = quanta::Clock::mock();
        let names = vec!["a".to_owned(), "b".to_owned(), "whole".to_owned()];
        let (mut probe, collector) =
            Collector::spawn::<3>(names, clock.clone(), &continuous(64), |m: &Marks<3>, r: &mut Recorder<'_>| {
                let s = m.stamps();
                r.interval(0, s[0], s[1]);
                r.interval(1, s[1], s[2]);
                r.interval(2, s[0], s[2]);
            })
            .unwrap();
        for i in 0..10u64 {
            let mut m = Marks::<3>::start(i as u32, clock.raw());
            mock.increment(100 + i);
            m.mark(clock.raw());
            mock.increment(1000);
            m.mark(clock.raw());
            assert!(probe.record(m));
        }
        // An interval that runs backwards.
        assert!(probe.record({
            let mut m = Marks::<3>::start(99, 500);
            m.mark(400);
            m.mark(600);
            m
        }));
        assert!(probe.wait_drained(Duration::from_secs(10)));
        drop(probe);
        let got = collector.finish().unwrap();
        assert_eq!((got.events, got.dropped, got.backwards, got.overflowed), (11, 0, 1, 0));
        let a = got.histograms.get(0).unwrap();
        // The backwards interval records as 0 ns, i.e. the histogram's 1 ns floor.
        assert_eq!((a.len(), a.min(), a.max()), (11, 1, 109));
        let whole = got.histograms.get(2).unwrap();
        assert_eq!((whole.min(), whole.max()), (100, 1109));
    }

    #[test]
    fn chain_records_consecutive_stages_and_the_whole() {
        let (clock, _mock) = quanta::Clock::mock();
        let mut hist = StageHistograms::new(vec!["decode".into(), "book".into(), "sign".into(), "whole".into()]);
        let mut attribute = chain::<4>(Some(3));
        let mut attribute = |m: &Marks<4>, r: &mut Recorder<'_>| attribute.attribute(m, r);
        let mut rec = Recorder::new(&clock, &mut hist);
        let mut full = Marks::<4>::start(0, 100);
        for t in [130, 190, 400] {
            full.mark(t);
        }
        attribute(&full, &mut rec);
        let mut short = Marks::<4>::start(1, 1000);
        short.mark(1010);
        attribute(&short, &mut rec);
        assert_eq!(rec.backwards(), 0);
        let max = |i: usize| hist.get(i).map(|h| (h.len(), h.max()));
        assert_eq!([max(0), max(1), max(2), max(3)], [Some((2, 30)), Some((1, 60)), Some((1, 210)), Some((2, 300))]);
    }

    #[test]
    fn a_full_ring_drops_and_counts() {
        let (clock, _mock) = quanta::Clock::mock();
        // Hold the collector back until every push has been tried.
        let gate = Arc::new(AtomicBool::new(false));
        let g = Arc::clone(&gate);
        let (mut probe, collector) = Collector::spawn::<2>(
            vec!["x".to_owned()],
            clock,
            &continuous(4),
            move |m: &Marks<2>, r: &mut Recorder<'_>| {
                while !g.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
                r.value(0, u64::from(m.tag()));
            },
        )
        .unwrap();
        let accepted = (0..100).filter(|&i| probe.record(Marks::start(i, 0))).count() as u64;
        gate.store(true, Ordering::Release);
        let dropped = probe.dropped();
        drop(probe);
        let got = collector.finish().unwrap();
        assert!((4..100).contains(&accepted));
        assert_eq!(got.events, accepted);
        assert_eq!(got.dropped, dropped);
        assert_eq!(got.events + got.dropped, 100);
    }
}
