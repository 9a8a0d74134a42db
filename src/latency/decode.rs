//! `scalpel latency --path decode`: every frame of a recording through the
//! production decode and apply path — [`Decoder::decode_frame`] (venue
//! template, compact reader or simd-json) and [`MarketState::apply`] (book
//! sync and apply, BBO, trades, funding) — timed frame by frame.
//!
//! The recording is loaded into memory and replayed once to warm up, then
//! `rounds` times with two raw clock reads around each frame; the two
//! stamps and the frame's index go to the collector ([`super::collect`]),
//! which attributes the interval to the frame's class (found in an untimed
//! survey before the run) and, for depth diffs, to a bucket of the frame's
//! level count. The collector also keeps each frame's fastest round, from
//! which the report separates what the frames cost (their content) from
//! what the machine added (preemption, interrupts): a least-squares fit of
//! the fastest round against the level count, and the percentiles of the
//! fastest rounds beside those of all rounds.
//!
//! Throughput is measured in separate rounds without per-frame clock reads;
//! allocations are counted on the replaying thread over the timed rounds
//! (the counting allocator must be the global allocator).

use std::time::Duration;

use hdrhistogram::Histogram;

use super::collect::{Attribution, Collected, Collector, CollectorConfig, Drain, Recorder};
use super::probe::{Marks, Probe};
use super::report::{MAX_TRACKABLE_NS, StageHistograms};
use crate::alloc_count::CountingAlloc;
use crate::book::DEFAULT_LEVELS;
use crate::event::MarketEvent;
use crate::instrument::SymbolEntry;
use crate::json::JsonScratch;
use crate::market::MarketState;
use crate::recording::Recording;
use crate::venue::{Decoder, Venue};

/// Frame classes reported separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameClass {
    /// Incremental depth (Binance depthUpdate, Bybit orderbook delta).
    Depth = 0,
    /// Full depth (Binance REST snapshot, Bybit orderbook snapshot).
    Snapshot,
    /// Best bid/offer (Binance bookTicker, Bybit tickers with bid1/ask1).
    Top,
    /// Trades.
    Trade,
    /// Mark price, funding, tickers without a best bid/offer.
    Funding,
    /// Liquidations.
    Liquidation,
    /// Acks, pongs, skipped streams.
    Other,
    /// Frames that failed to decode.
    Error,
}

impl FrameClass {
    /// All classes, in report (and stage) order.
    pub const ALL: [FrameClass; 8] = [
        FrameClass::Depth,
        FrameClass::Snapshot,
        FrameClass::Top,
        FrameClass::Trade,
        FrameClass::Funding,
        FrameClass::Liquidation,
        FrameClass::Other,
        FrameClass::Error,
    ];

    /// Short name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            FrameClass::Depth => "depth",
            FrameClass::Snapshot => "snapshot",
            FrameClass::Top => "top",
            FrameClass::Trade => "trade",
            FrameClass::Funding => "funding",
            FrameClass::Liquidation => "liquidation",
            FrameClass::Other => "other",
            FrameClass::Error => "error",
        }
    }

    /// The class of a decoded event.
    #[must_use]
    pub fn of(event: &MarketEvent<'_>) -> Self {
        match event {
            MarketEvent::Depth(_) => FrameClass::Depth,
            MarketEvent::Snapshot(_) => FrameClass::Snapshot,
            MarketEvent::BookTicker(_) => FrameClass::Top,
            MarketEvent::Ticker(t) if t.bid_px.is_some() || t.ask_px.is_some() => FrameClass::Top,
            MarketEvent::Ticker(_) | MarketEvent::MarkPrice(_) => FrameClass::Funding,
            MarketEvent::Trades(_) => FrameClass::Trade,
            MarketEvent::Liquidations(_) => FrameClass::Liquidation,
            MarketEvent::Control(_) | MarketEvent::Ignored(_) => FrameClass::Other,
        }
    }

    /// Whether the class carries market data (not an error, ack or
    /// skipped stream).
    #[must_use]
    pub const fn is_market_data(self) -> bool {
        !matches!(self, FrameClass::Other | FrameClass::Error)
    }
}

/// Depth-diff buckets by level count (both sides): stage names and the
/// highest count of each.
pub const LEVEL_BUCKETS: [(&str, u32); 4] = [
    ("depth_levels_0_31", 31),
    ("depth_levels_32_127", 127),
    ("depth_levels_128_511", 511),
    ("depth_levels_512_up", u32::MAX),
];

/// The bucket stage of a depth diff with `levels` levels.
#[must_use]
pub fn level_bucket(levels: u32) -> usize {
    FrameClass::ALL.len() + LEVEL_BUCKETS.iter().position(|&(_, hi)| levels <= hi).unwrap_or(LEVEL_BUCKETS.len() - 1)
}

/// Stage names of the decode path: the frame classes, then the depth
/// buckets.
#[must_use]
pub fn stage_names() -> Vec<String> {
    FrameClass::ALL
        .iter()
        .map(|c| c.name().to_owned())
        .chain(LEVEL_BUCKETS.iter().map(|&(n, _)| n.to_owned()))
        .collect()
}

/// What the untimed survey learned about one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// Its class.
    pub class: FrameClass,
    /// Levels (both sides) of a depth diff or snapshot, else 0.
    pub levels: u32,
}

/// Decodes every frame once (untimed) to learn its class and level count.
#[must_use]
pub fn survey(decoder: &Decoder, rec: &Recording) -> Vec<FrameInfo> {
    let mut scratch = JsonScratch::default();
    let mut buf = Vec::new();
    rec.iter()
        .map(|(_, frame)| {
            buf.clear();
            buf.extend_from_slice(frame);
            decoder.decode_frame(&mut scratch, &mut buf, |event| match event {
                Ok(event) => {
                    let levels = match &event {
                        MarketEvent::Depth(d) => d.bids.count() + d.asks.count(),
                        MarketEvent::Snapshot(s) => s.bids.count() + s.asks.count(),
                        _ => 0,
                    };
                    FrameInfo { class: FrameClass::of(&event), levels: u32::try_from(levels).unwrap_or(u32::MAX) }
                }
                Err(_) => FrameInfo { class: FrameClass::Error, levels: 0 },
            })
        })
        .collect()
}

/// The collector-side state of the decode path.
pub struct DecodeAttribution {
    info: Vec<FrameInfo>,
    fastest: Vec<u64>,
}

impl DecodeAttribution {
    fn new(info: Vec<FrameInfo>) -> Self {
        let fastest = vec![u64::MAX; info.len()];
        Self { info, fastest }
    }
}

impl Attribution<2> for DecodeAttribution {
    fn attribute(&mut self, marks: &Marks<2>, rec: &mut Recorder<'_>) {
        let &[t0, t1] = marks.stamps() else { return };
        let i = marks.tag() as usize;
        let Some(info) = self.info.get(i) else { return };
        let ns = rec.interval(info.class as usize, t0, t1);
        if info.class == FrameClass::Depth {
            rec.value(level_bucket(info.levels), ns);
        }
        if let Some(f) = self.fastest.get_mut(i) {
            *f = (*f).min(ns);
        }
    }
}

/// `ns = fixed + per_level × levels`, fitted by least squares over each
/// depth diff's fastest round.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelFit {
    /// Cost of a depth diff with no level, ns.
    pub fixed_ns: f64,
    /// Cost of each level, ns.
    pub per_level_ns: f64,
    /// Depth diffs fitted.
    pub frames: usize,
}

/// The decode path's results.
pub struct DecodeReport {
    /// Frames in the recording.
    pub frames: usize,
    /// Timed rounds.
    pub rounds: u32,
    /// What the collector gathered (histograms per stage, counts).
    pub collected: Collected<DecodeAttribution>,
    /// Frames per class in one round, by [`FrameClass`] order.
    pub class_frames: [u64; 8],
    /// Frames per second through decode + apply, in file order (median of
    /// the throughput rounds).
    pub throughput_fps: f64,
    /// Allocations per frame over the timed rounds, on the replay thread.
    pub allocs_per_frame: f64,
    /// Median cost of one pair of clock reads, ns.
    pub timer_overhead_ns: u64,
    /// Frames parsed by simd-json instead of the fast paths, per round.
    pub fallback_frames_per_round: u64,
    /// Whether every round's events reached the collector before the next
    /// round began (else some were still in flight; they are not lost).
    pub drained_between_rounds: bool,
    /// The CPU the collector was asked to run on.
    pub collector_cpu: Option<usize>,
}

impl DecodeReport {
    /// Fits depth-diff cost against level count over each frame's fastest
    /// round; `None` with fewer than two distinct level counts.
    #[must_use]
    pub fn depth_fit(&self) -> Option<LevelFit> {
        let a = &self.collected.attribution;
        let points: Vec<(f64, f64)> = a
            .info
            .iter()
            .zip(&a.fastest)
            .filter(|&(i, &f)| i.class == FrameClass::Depth && f != u64::MAX)
            .map(|(i, &f)| (f64::from(i.levels), f as f64))
            .collect();
        let n = points.len() as f64;
        let (sx, sy) = points.iter().fold((0.0, 0.0), |(x, y), p| (x + p.0, y + p.1));
        let (mx, my) = (sx / n, sy / n);
        let (sxx, sxy) =
            points.iter().fold((0.0, 0.0), |(xx, xy), p| (xx + (p.0 - mx).powi(2), xy + (p.0 - mx) * (p.1 - my)));
        if points.len() < 2 || sxx == 0.0 {
            return None;
        }
        let per_level_ns = sxy / sxx;
        Some(LevelFit { fixed_ns: my - per_level_ns * mx, per_level_ns, frames: points.len() })
    }

    /// The fastest round of each frame of `class`, as a histogram (ns).
    #[must_use]
    pub fn fastest_rounds(&self, class: FrameClass) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, MAX_TRACKABLE_NS, 3).expect("constant histogram bounds are valid");
        let a = &self.collected.attribution;
        for (i, &f) in a.info.iter().zip(&a.fastest) {
            if i.class == class && f != u64::MAX {
                h.saturating_record(f.max(1));
            }
        }
        h
    }

    /// The level counts (bids + asks) of the recording's depth diffs,
    /// ascending: what the depth tail is made of.
    #[must_use]
    pub fn depth_level_counts(&self) -> Vec<u32> {
        let mut levels: Vec<u32> =
            self.collected.attribution.info.iter().filter(|i| i.class == FrameClass::Depth).map(|i| i.levels).collect();
        levels.sort_unstable();
        levels
    }

    /// The per-stage histograms.
    #[must_use]
    pub fn histograms(&self) -> &StageHistograms {
        &self.collected.histograms
    }
}

/// Why the decode path could not run.
///
/// # Errors
/// Returned by [`measure`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeRunError {
    /// More frames than a stamp's tag can name.
    #[error("the recording has {0} frames; at most 4294967295 can be timed")]
    TooManyFrames(usize),
    /// The collector thread could not start or failed.
    #[error("latency collector: {0}")]
    Collector(String),
}

/// One replay of every frame: decode and apply, stamping each frame when
/// a probe is given.
#[inline(never)]
fn replay(
    decoder: &Decoder,
    scratch: &mut JsonScratch,
    market: &mut MarketState<DEFAULT_LEVELS>,
    rec: &Recording,
    work: &mut [u8],
    clock: &quanta::Clock,
    mut probe: Option<(&mut Probe<2>, usize)>,
) {
    for (i, &(_, start, end)) in rec.spans().iter().enumerate() {
        let frame = &mut work[start..end];
        let t0 = clock.raw();
        decoder.decode_frame(scratch, frame, |event| {
            if let Ok(event) = event {
                market.apply(&event, |_, _, _| {});
            }
        });
        let t1 = clock.raw();
        if let Some((p, flush_every)) = probe.as_mut() {
            let mut marks = Marks::start(i as u32, t0);
            marks.mark(t1);
            p.record(marks);
            if (i + 1) % *flush_every == 0 {
                // A recording longer than half the ring: let the collector
                // catch up here, between two frames, outside their timing.
                p.flush();
                p.wait_drained(Duration::from_secs(30));
            }
        }
    }
}

/// What the decode path replays, and how.
pub struct DecodeSetup<'a> {
    /// The recording's venue.
    pub venue: Venue,
    /// Its decoder (snapshot instrument already set).
    pub decoder: &'a Decoder,
    /// The instruments the market state holds.
    pub entries: &'a [SymbolEntry],
    /// The recording, already known to hold frames.
    pub rec: &'a Recording,
    /// Timed rounds (at least 1).
    pub rounds: u32,
    /// Where to pin the collector thread (away from the measured one).
    pub collector_cpu: Option<usize>,
}

/// Runs the decode path on the calling thread, which should be the pinned
/// one if any; `info` is [`survey`]'s result for the same recording.
///
/// # Errors
/// [`DecodeRunError`].
pub fn measure(
    setup: &DecodeSetup<'_>,
    info: Vec<FrameInfo>,
    alloc: &CountingAlloc,
) -> Result<DecodeReport, DecodeRunError> {
    let &DecodeSetup { venue, decoder, entries, rec, rounds, collector_cpu } = setup;
    let rounds = rounds.max(1);
    if u32::try_from(rec.len()).is_err() {
        return Err(DecodeRunError::TooManyFrames(rec.len()));
    }
    let mut class_frames = [0u64; 8];
    for i in &info {
        class_frames[i.class as usize] += 1;
    }
    let clock = quanta::Clock::new();
    // A ring twice the length of a round: a whole round fits in half of
    // it, so the collector is woken only between rounds (up to 512 Ki
    // frames; longer recordings also flush every half ring).
    let capacity = (2 * rec.len() + 2).next_power_of_two().clamp(1 << 12, 1 << 20);
    // The collector drains between rounds only (and, for recordings longer
    // than half the ring, every half ring, outside the measured intervals).
    let config = CollectorConfig { capacity, cpu: collector_cpu, drain: Drain::OnFlush };
    let flush_every = capacity / 2;
    let (mut probe, collector) =
        Collector::spawn::<2>(stage_names(), clock.clone(), &config, DecodeAttribution::new(info))
            .map_err(|e| DecodeRunError::Collector(e.to_string()))?;

    let mut work = rec.bytes().to_vec();
    let mut scratch = JsonScratch::default();
    // Warm-up: grows simd-json's buffers to the largest frame, faults in pages.
    let mut market = MarketState::<DEFAULT_LEVELS>::new(venue, entries);
    replay(decoder, &mut scratch, &mut market, rec, &mut work, &clock, None);
    let (_, fallback_before) = scratch.backend_counts();

    let mut allocs = 0u64;
    let mut drained = true;
    for _ in 0..rounds {
        work.copy_from_slice(rec.bytes());
        let mut market = MarketState::<DEFAULT_LEVELS>::new(venue, entries);
        let before = alloc.this_thread();
        replay(decoder, &mut scratch, &mut market, rec, &mut work, &clock, Some((&mut probe, flush_every)));
        allocs += alloc.this_thread() - before;
        probe.flush();
        drained &= probe.wait_drained(Duration::from_secs(30));
    }
    let fallback_per_round = (scratch.backend_counts().1 - fallback_before) / u64::from(rounds);

    let mut fps = Vec::with_capacity(rounds as usize);
    for _ in 0..rounds {
        work.copy_from_slice(rec.bytes());
        let mut market = MarketState::<DEFAULT_LEVELS>::new(venue, entries);
        let t0 = clock.raw();
        replay(decoder, &mut scratch, &mut market, rec, &mut work, &clock, None);
        let ns = clock.delta_as_nanos(t0, clock.raw()).max(1);
        fps.push(rec.len() as f64 * 1e9 / ns as f64);
    }
    fps.sort_by(f64::total_cmp);

    let mut overhead = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let a = clock.raw();
        let b = clock.raw();
        overhead.push(clock.delta_as_nanos(a, b));
    }
    overhead.sort_unstable();

    drop(probe);
    let collected = collector.finish().map_err(DecodeRunError::Collector)?;
    Ok(DecodeReport {
        frames: rec.len(),
        rounds,
        collected,
        class_frames,
        throughput_fps: fps[fps.len() / 2],
        allocs_per_frame: allocs as f64 / (rec.len() as f64 * f64::from(rounds)),
        timer_overhead_ns: overhead[overhead.len() / 2],
        fallback_frames_per_round: fallback_per_round,
        drained_between_rounds: drained,
        collector_cpu,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_level_count() {
        assert_eq!(level_bucket(0), 8);
        assert_eq!(level_bucket(31), 8);
        assert_eq!(level_bucket(32), 9);
        assert_eq!(level_bucket(511), 10);
        assert_eq!(level_bucket(512), 11);
        assert_eq!(level_bucket(u32::MAX), 11);
        assert_eq!(stage_names().len(), 12);
    }

    #[test]
    fn attribution_records_class_bucket_and_fastest_round() {
        let (clock, _mock) = quanta::Clock::mock();
        let info =
            vec![FrameInfo { class: FrameClass::Depth, levels: 40 }, FrameInfo { class: FrameClass::Top, levels: 0 }];
        let mut hist = StageHistograms::new(stage_names());
        let mut a = DecodeAttribution::new(info);
        let mut rec = Recorder::new(&clock, &mut hist);
        for (tag, t0, t1) in [(0u32, 100u64, 1100u64), (0, 5000, 5900), (1, 7000, 7080), (9, 0, 5)] {
            let mut m = Marks::start(tag, t0);
            m.mark(t1);
            a.attribute(&m, &mut rec);
        }
        assert_eq!(a.fastest, vec![900, 80]);
        assert_eq!(hist.get(FrameClass::Depth as usize).unwrap().len(), 2);
        assert_eq!(hist.get(level_bucket(40)).unwrap().len(), 2);
        assert_eq!(hist.get(FrameClass::Top as usize).unwrap().max(), 80);
    }
}
