//! `scalpel latency`: the latency harness (first version: decode + apply).
//!
//! Loads a recording into memory, then replays it through the production
//! path — [`Decoder::decode_frame`] (fast path or simd-json) and
//! [`MarketState::apply`] (book sync and apply, BBO, trades, funding) —
//! `rounds` times after one warm-up round. Every frame is timed with
//! `quanta::Clock::raw()` (the TSC on x86); raw deltas go into a
//! preallocated buffer and are converted and recorded into hdrhistogram
//! only after the round, so the measurement itself adds two clock reads per
//! frame and nothing else. The clock-read overhead is measured and reported
//! separately (`timer_overhead_ns`), not subtracted.
//!
//! Throughput is measured in separate rounds without per-frame clock reads:
//! all frames in file order, decode + apply. Allocations are counted on the
//! replaying thread over all timed rounds (`allocs_per_frame`; the
//! counting allocator must be the global allocator).
//!
//! The last stdout line is one JSON object with at least
//! `depth_decode_apply_p50_ns`, `top_decode_apply_p50_ns`,
//! `trade_decode_apply_p50_ns`, `throughput_fps` and `allocs_per_frame`.

use std::io::{self, Write};
use std::path::PathBuf;

use hdrhistogram::Histogram;

use crate::alloc_count::CountingAlloc;
use crate::book::DEFAULT_LEVELS;
use crate::event::MarketEvent;
use crate::instrument::LoadError;
use crate::json::JsonScratch;
use crate::market::MarketState;
use crate::recording::Recording;
use crate::venue::{Decoder, Venue};

/// Options of `scalpel latency`.
#[derive(Debug, Clone)]
pub struct LatencyOptions {
    /// Wire format of the recording.
    pub venue: Venue,
    /// The recording.
    pub input: PathBuf,
    /// Timed replays of the whole file (after one warm-up replay).
    pub rounds: u32,
    /// Instruments file; built-in table if none.
    pub instruments: Option<PathBuf>,
    /// Where to write `.hgrm` percentile files, one per frame class.
    pub hgrm_dir: Option<PathBuf>,
}

/// Why the harness could not run.
#[derive(Debug, thiserror::Error)]
pub enum LatencyError {
    /// Reading the recording or writing output failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The instruments could not be loaded.
    #[error("instruments: {0}")]
    Instruments(#[from] LoadError),
    /// The recording holds no frames.
    #[error("the recording holds no frames")]
    Empty,
    /// A histogram could not be created (never with the fixed bounds used).
    #[error("histogram: {0}")]
    Histogram(String),
}

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
    /// All classes, in report order.
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
}

/// Percentiles of one frame class, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassReport {
    /// The class.
    pub class: FrameClass,
    /// Timed frames (all rounds).
    pub count: u64,
    /// Median.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Maximum.
    pub max_ns: u64,
}

/// The harness's results.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyReport {
    /// Frames in the recording.
    pub frames: usize,
    /// Timed rounds.
    pub rounds: u32,
    /// Per class, classes with no frames omitted.
    pub classes: Vec<ClassReport>,
    /// Frames per second through decode + apply, in file order (median of
    /// the throughput rounds).
    pub throughput_fps: f64,
    /// Allocations per frame over the timed rounds.
    pub allocs_per_frame: f64,
    /// Median cost of one pair of clock reads, ns.
    pub timer_overhead_ns: u64,
    /// Frames parsed by simd-json instead of the fast path, per round.
    pub fallback_frames_per_round: u64,
}

impl LatencyReport {
    fn p50(&self, class: FrameClass) -> Option<u64> {
        self.classes.iter().find(|c| c.class == class).map(|c| c.p50_ns)
    }

    /// The final JSON line (without newline).
    #[must_use]
    pub fn json_line(&self, venue: Venue) -> String {
        let mut fields = vec![
            format!("\"venue\":\"{venue}\""),
            format!("\"frames\":{}", self.frames),
            format!("\"rounds\":{}", self.rounds),
        ];
        for (class, key) in [(FrameClass::Depth, "depth"), (FrameClass::Top, "top"), (FrameClass::Trade, "trade")] {
            let value = self.p50(class).map_or_else(|| "null".to_owned(), |v| v.to_string());
            fields.push(format!("\"{key}_decode_apply_p50_ns\":{value}"));
        }
        for c in &self.classes {
            let name = c.class.name();
            fields.push(format!(
                "\"{name}\":{{\"count\":{},\"p50_ns\":{},\"p99_ns\":{},\"p999_ns\":{},\"max_ns\":{}}}",
                c.count, c.p50_ns, c.p99_ns, c.p999_ns, c.max_ns
            ));
        }
        fields.push(format!("\"throughput_fps\":{:.0}", self.throughput_fps));
        fields.push(format!("\"allocs_per_frame\":{}", self.allocs_per_frame));
        fields.push(format!("\"timer_overhead_ns\":{}", self.timer_overhead_ns));
        fields.push(format!("\"fallback_frames_per_round\":{}", self.fallback_frames_per_round));
        format!("{{{}}}", fields.join(","))
    }
}

/// One replay of every frame: decode and apply, optionally timing each.
fn replay(
    decoder: &Decoder,
    scratch: &mut JsonScratch,
    market: &mut MarketState<DEFAULT_LEVELS>,
    rec: &Recording,
    work: &mut [u8],
    clock: &quanta::Clock,
    samples: Option<&mut Vec<(u8, u64)>>,
) {
    let mut samples = samples;
    for &(_, start, end) in rec.spans() {
        let frame = &mut work[start..end];
        let t0 = clock.raw();
        let class = decoder.decode_frame(scratch, frame, |event| match event {
            Ok(event) => {
                market.apply(&event, |_, _, _| {});
                FrameClass::of(&event)
            }
            Err(_) => FrameClass::Error,
        });
        let t1 = clock.raw();
        if let Some(s) = samples.as_deref_mut() {
            s.push((class as u8, t1.wrapping_sub(t0)));
        }
    }
}

/// Runs the harness and returns its report (without printing).
///
/// # Errors
/// I/O and instrument errors, or an empty recording.
pub fn measure(opts: &LatencyOptions, alloc: &CountingAlloc) -> Result<LatencyReport, LatencyError> {
    let table = super::instruments::load(opts.instruments.as_deref(), opts.venue)?;
    let mut decoder = Decoder::new(opts.venue, &table);
    let entries = decoder.symbols().entries().to_vec();
    let ids: Vec<_> = entries.iter().map(|e| e.id).collect();
    if let [only] = ids.as_slice() {
        decoder.set_snapshot_instrument(Some(*only));
    }
    let rec = Recording::load(&opts.input)?;
    if rec.is_empty() {
        return Err(LatencyError::Empty);
    }
    // Binance REST snapshots carry no symbol: attribute them to the symbol
    // of the first depth frame.
    if ids.len() > 1 {
        let mut probe = JsonScratch::default();
        for (_, frame) in rec.iter() {
            let mut buf = frame.to_vec();
            let inst = decoder.decode_frame(&mut probe, &mut buf, |e| match e {
                Ok(MarketEvent::Depth(d)) => Some(d.inst),
                _ => None,
            });
            if inst.is_some() {
                decoder.set_snapshot_instrument(inst);
                break;
            }
        }
    }
    let clock = quanta::Clock::new();
    let rounds = opts.rounds.max(1);
    let mut work = rec.bytes().to_vec();
    let mut scratch = JsonScratch::default();
    let mut samples: Vec<(u8, u64)> = Vec::with_capacity(rec.len() * rounds as usize);

    // Warm-up: grows simd-json's buffers to the largest frame, faults in pages.
    let mut market = MarketState::<DEFAULT_LEVELS>::new(opts.venue, &entries);
    replay(&decoder, &mut scratch, &mut market, &rec, &mut work, &clock, None);
    let (_, fallback_before) = scratch.backend_counts();

    let mut allocs = 0u64;
    for _ in 0..rounds {
        work.copy_from_slice(rec.bytes());
        let mut market = MarketState::<DEFAULT_LEVELS>::new(opts.venue, &entries);
        let before = alloc.this_thread();
        replay(&decoder, &mut scratch, &mut market, &rec, &mut work, &clock, Some(&mut samples));
        allocs += alloc.this_thread() - before;
    }
    let fallback_per_round = (scratch.backend_counts().1 - fallback_before) / u64::from(rounds);

    let mut fps = Vec::with_capacity(rounds as usize);
    for _ in 0..rounds {
        work.copy_from_slice(rec.bytes());
        let mut market = MarketState::<DEFAULT_LEVELS>::new(opts.venue, &entries);
        let t0 = clock.raw();
        replay(&decoder, &mut scratch, &mut market, &rec, &mut work, &clock, None);
        let ns = clock.delta_as_nanos(t0, clock.raw()).max(1);
        fps.push(rec.len() as f64 * 1e9 / ns as f64);
    }
    fps.sort_by(f64::total_cmp);

    let mut histograms = Vec::new();
    for _ in FrameClass::ALL {
        histograms.push(
            Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
                .map_err(|e| LatencyError::Histogram(e.to_string()))?,
        );
    }
    for &(class, raw) in &samples {
        histograms[usize::from(class)].saturating_record(clock.delta_as_nanos(0, raw).max(1));
    }
    let mut overhead = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let a = clock.raw();
        let b = clock.raw();
        overhead.push(clock.delta_as_nanos(a, b));
    }
    overhead.sort_unstable();

    if let Some(dir) = &opts.hgrm_dir {
        std::fs::create_dir_all(dir)?;
        for (class, h) in FrameClass::ALL.iter().zip(&histograms) {
            if !h.is_empty() {
                let path = dir.join(format!("{}-{}.hgrm", opts.venue, class.name()));
                write_hgrm(&mut std::fs::File::create(path)?, h)?;
            }
        }
    }

    let classes = FrameClass::ALL
        .iter()
        .zip(&histograms)
        .filter(|(_, h)| !h.is_empty())
        .map(|(&class, h)| ClassReport {
            class,
            count: h.len(),
            p50_ns: h.value_at_quantile(0.5),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            max_ns: h.max(),
        })
        .collect();
    Ok(LatencyReport {
        frames: rec.len(),
        rounds,
        classes,
        throughput_fps: fps[fps.len() / 2],
        allocs_per_frame: allocs as f64 / (rec.len() as f64 * f64::from(rounds)),
        timer_overhead_ns: overhead[overhead.len() / 2],
        fallback_frames_per_round: fallback_per_round,
    })
}

/// Writes a histogram in HdrHistogram's percentile-distribution (`.hgrm`)
/// text format; values in nanoseconds.
///
/// # Errors
/// I/O errors.
pub fn write_hgrm(out: &mut impl Write, h: &Histogram<u64>) -> io::Result<()> {
    writeln!(out, "       Value     Percentile TotalCount 1/(1-Percentile)\n")?;
    let mut total = 0u64;
    for v in h.iter_quantiles(1) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        if q < 1.0 {
            writeln!(out, "{:12.3} {:14.12} {:10} {:14.2}", v.value_iterated_to() as f64, q, total, 1.0 / (1.0 - q))?;
        } else {
            writeln!(out, "{:12.3} {:14.12} {:10}", v.value_iterated_to() as f64, q, total)?;
        }
    }
    writeln!(out, "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]", h.mean(), h.stdev())?;
    writeln!(out, "#[Max     = {:12.3}, Total count    = {:12}]", h.max() as f64, h.len())?;
    writeln!(out, "#[Buckets = {:12}, SubBuckets     = {:12}]", h.buckets(), h.distinct_values())?;
    Ok(())
}

/// Runs the harness and prints the table and the JSON line to `out`.
///
/// # Errors
/// As [`measure`], plus output errors.
pub fn run(opts: &LatencyOptions, out: &mut impl Write, alloc: &CountingAlloc) -> Result<LatencyReport, LatencyError> {
    let report = measure(opts, alloc)?;
    writeln!(
        out,
        "{} frames of {} x {} rounds (decode + apply, per-frame clock reads included; timer overhead {} ns)",
        report.frames, opts.venue, report.rounds, report.timer_overhead_ns
    )?;
    writeln!(
        out,
        "{:<12} {:>10} {:>9} {:>9} {:>9} {:>11}",
        "frame", "count", "p50 ns", "p99 ns", "p99.9 ns", "max ns"
    )?;
    for c in &report.classes {
        writeln!(
            out,
            "{:<12} {:>10} {:>9} {:>9} {:>9} {:>11}",
            c.class.name(),
            c.count,
            c.p50_ns,
            c.p99_ns,
            c.p999_ns,
            c.max_ns
        )?;
    }
    writeln!(
        out,
        "throughput {:.0} frames/s, {} allocations per frame, {} frames per round on the simd-json fallback",
        report.throughput_fps, report.allocs_per_frame, report.fallback_frames_per_round
    )?;
    writeln!(out, "{}", report.json_line(opts.venue))?;
    Ok(report)
}
