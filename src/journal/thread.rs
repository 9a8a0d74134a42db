//! The journal thread: drains its rings into the [`JournalWriter`],
//! keeps per-stage latency histograms, and flushes on the interval.
//!
//! - From the risk thread, a **lossless** ring of records ([`JournalRecord`]s,
//!   or anything a [`JournalRecord`] is made from: the engine passes the risk
//!   thread's [`crate::risk::RiskRecord`]s, ~100 bytes a slot): order
//!   events, verdicts, trips, commands, resyncs, account updates. Never
//!   dropped.
//! - From the hot thread, a **lossy** ring of [`Telemetry`]: log records,
//!   latency samples and gate refusals. Dropped when full; the ring's drop
//!   count is journaled as a [`JournalRecord::Dropped`] whenever it changes.
//! - From the hot thread (the core's risk link), optionally, a **lossy**
//!   ring of [`OrderContext`]s: why each order was placed (an entry's
//!   decision and signal vector, an exit's reason), journaled as kinds
//!   24–26 next to the orders' own records (same client id). It is lossy so
//!   that a stalled disk can never stall the hot thread's exits; a drop is
//!   counted, journaled as [`JournalRecord::Dropped`] (ring `contexts`) and
//!   reported ([`JournalSummary::contexts_dropped`]). Entries are rare (one
//!   per position at most), so its 1024 slots fill only if this thread stops
//!   draining.
//!
//! Latency samples are recorded into HdrHistograms (Gil Tene's
//! HdrHistogram, <http://hdrhistogram.org/>; 3 significant digits, 1 ns to
//! 60 s) on this thread only, and summarised into the journal every
//! `latency_report_ms` and at shutdown.
//!
//! The loop ends when `stop` is set or both producers are gone, after
//! draining both rings; it then writes the final drop count, latency
//! summaries and a `Closed` record, and flushes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::journal::record::{EntryRecord, ExitRecord, SignalBits};
use crate::journal::{JournalConfig, JournalError, JournalRecord, JournalSink, JournalWriter, LogLevel, RingId, Stage};
use crate::order::OrderRequest;
use crate::ring::{LosslessConsumer, LossyConsumer};
use crate::risk::gate::Refusal;

/// What the hot thread sends the journal thread (lossy, counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Telemetry {
    /// A structured log record.
    Log {
        /// Severity.
        level: LogLevel,
        /// What happened.
        code: u16,
        /// A number that goes with it.
        value: i64,
    },
    /// A latency sample, ns.
    Latency {
        /// Stage.
        stage: Stage,
        /// Duration, ns.
        ns: u64,
    },
    /// The gate refused an order.
    Refusal {
        /// The order.
        order: OrderRequest,
        /// Why.
        reason: Refusal,
    },
}

/// Why the core placed an order, for the journal (see the module docs).
/// A fixed-size `Copy` value through a preallocated ring: boxing the entry
/// would allocate on the hot thread.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderContext {
    /// An entry: its decision (kind 24) and the signal vector at it (kind 25).
    Entry(EntryRecord, SignalBits),
    /// An exit and its reason (kind 26).
    Exit(ExitRecord),
}

/// Slots of the [`OrderContext`] ring the engine creates.
pub const CONTEXT_RING_CAPACITY: usize = 1024;

/// Latency histograms, one per [`Stage`].
#[derive(Debug, Clone)]
pub struct LatencyHistograms {
    by_stage: Vec<Histogram<u64>>,
}

/// Highest latency a histogram tracks: 60 s (larger samples saturate).
const MAX_TRACKABLE_NS: u64 = 60_000_000_000;

impl Default for LatencyHistograms {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistograms {
    /// Empty histograms (allocated once, here).
    #[must_use]
    pub fn new() -> Self {
        let by_stage = Stage::ALL
            .iter()
            .map(|_| {
                // Constant bounds (1 ns to 60 s, 3 digits) that hdrhistogram
                // accepts: low ≥ 1, high ≥ 2 × low, digits ≤ 5.
                Histogram::new_with_bounds(1, MAX_TRACKABLE_NS, 3).expect("constant histogram bounds are valid")
            })
            .collect();
        Self { by_stage }
    }

    /// Records one sample (values below 1 ns record as 1, above 60 s as 60 s).
    pub fn record(&mut self, stage: Stage, ns: u64) {
        if let Some(h) = self.by_stage.get_mut(stage as usize) {
            h.saturating_record(ns.max(1));
        }
    }

    /// The histogram of a stage.
    #[must_use]
    pub fn get(&self, stage: Stage) -> Option<&Histogram<u64>> {
        self.by_stage.get(stage as usize)
    }

    /// Summary records for every stage with samples.
    pub fn summaries(&self) -> impl Iterator<Item = JournalRecord> + '_ {
        Stage::ALL.iter().zip(&self.by_stage).filter(|(_, h)| !h.is_empty()).map(|(&stage, h)| JournalRecord::Latency {
            stage,
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        })
    }
}

/// Latency quantiles of one stage, as the journal thread last published
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageQuantiles {
    /// The stage's name ([`Stage::name`]).
    pub stage: &'static str,
    /// Samples since the start.
    pub count: u64,
    /// Their sum, ns (histogram mean × count).
    pub sum_ns: u64,
    /// p50, p90, p99, p99.9, ns.
    pub quantiles_ns: [u64; 4],
}

/// The journal thread's latency quantiles for readers off the hot thread
/// (the metrics server): the journal thread replaces them every second;
/// readers copy them. The lock is taken by those two threads only, never
/// by the hot thread.
#[derive(Debug, Default)]
pub struct LatencyBoard {
    stages: std::sync::Mutex<Vec<StageQuantiles>>,
}

impl LatencyBoard {
    /// Publishes the quantiles of every stage with samples.
    pub fn publish(&self, latency: &LatencyHistograms) {
        let now: Vec<StageQuantiles> = Stage::ALL
            .iter()
            .zip(&latency.by_stage)
            .filter(|(_, h)| !h.is_empty())
            .map(|(stage, h)| StageQuantiles {
                stage: stage.name(),
                count: h.len(),
                sum_ns: (h.mean() * h.len() as f64) as u64,
                quantiles_ns: [0.5, 0.9, 0.99, 0.999].map(|q| h.value_at_quantile(q)),
            })
            .collect();
        if let Ok(mut s) = self.stages.lock() {
            *s = now;
        }
    }

    /// Publishes one stage's figures (replacing that stage's).
    pub fn publish_quantiles(&self, stage: &'static str, count: u64, sum_ns: u64, quantiles_ns: [u64; 4]) {
        if let Ok(mut s) = self.stages.lock() {
            s.retain(|q| q.stage != stage);
            s.push(StageQuantiles { stage, count, sum_ns, quantiles_ns });
        }
    }

    /// A copy of what was last published.
    #[must_use]
    pub fn snapshot(&self) -> Vec<StageQuantiles> {
        self.stages.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// How often the journal thread publishes to its [`LatencyBoard`].
const BOARD_NS: u64 = 1_000_000_000;

/// The journal thread's inputs. `R` is the lossless ring's record type.
pub struct JournalThreadIo<R = JournalRecord> {
    /// From the risk thread (lossless).
    pub records: LosslessConsumer<R>,
    /// From the hot thread (lossy, counted).
    pub telemetry: LossyConsumer<Telemetry>,
    /// From the hot thread's risk link: why each order was placed (lossy,
    /// counted); `None` where no core feeds the journal.
    pub contexts: Option<LossyConsumer<OrderContext>>,
}

/// What the journal thread reports when it ends.
#[derive(Debug)]
pub struct JournalSummary<S: JournalSink> {
    /// Records written (instrument records and the final `Closed` included).
    pub records: u64,
    /// Telemetry dropped by the hot thread's ring.
    pub telemetry_dropped: u64,
    /// Order contexts dropped by their ring (0 without that ring).
    pub contexts_dropped: u64,
    /// Latency histograms, for `.hgrm` output.
    pub latency: LatencyHistograms,
    /// The sink, flushed.
    pub sink: S,
}

/// How long the loop sleeps when both rings were empty.
const IDLE_SLEEP: Duration = Duration::from_micros(500);
/// Most records taken from one ring per turn, so the other ring and the
/// flush timer are not starved.
const BATCH: usize = 4096;

/// Runs the journal loop until `stop` or both producers are gone.
/// `clock` returns wall time in ns since the Unix epoch.
///
/// # Errors
/// [`JournalError::Io`] when the journal cannot be written: the caller
/// must treat that as fatal for trading (no journal, no orders).
pub fn run<S: JournalSink, R>(
    writer: JournalWriter<S>,
    io: &JournalThreadIo<R>,
    cfg: &JournalConfig,
    clock: impl FnMut() -> u64,
    stop: &AtomicBool,
) -> Result<JournalSummary<S>, JournalError>
where
    JournalRecord: From<R>,
{
    run_with_board(writer, io, cfg, clock, stop, None)
}

/// [`run`], publishing the latency quantiles to `board` every second and
/// at the end.
///
/// # Errors
/// As [`run`].
pub fn run_with_board<S: JournalSink, R>(
    mut writer: JournalWriter<S>,
    io: &JournalThreadIo<R>,
    cfg: &JournalConfig,
    mut clock: impl FnMut() -> u64,
    stop: &AtomicBool,
    board: Option<&LatencyBoard>,
) -> Result<JournalSummary<S>, JournalError>
where
    JournalRecord: From<R>,
{
    let mut latency = LatencyHistograms::new();
    let mut last_board = 0u64;
    let mut reported_dropped = 0u64;
    let mut reported_contexts_dropped = 0u64;
    let contexts_dropped = || io.contexts.as_ref().map_or(0, LossyConsumer::dropped);
    let report_ns = u64::from(cfg.latency_report_ms) * 1_000_000;
    let mut last_report = clock();
    loop {
        let now = clock();
        let mut n = 0;
        while n < BATCH {
            let Some(record) = io.records.pop() else { break };
            writer.append(now, &JournalRecord::from(record))?;
            n += 1;
        }
        while n < BATCH {
            let Some(context) = io.contexts.as_ref().and_then(LossyConsumer::pop) else { break };
            append_context(&mut writer, now, &context)?;
            n += 1;
        }
        let mut t = 0;
        while t < BATCH {
            let Some(item) = io.telemetry.pop() else { break };
            match item {
                Telemetry::Latency { stage, ns } => latency.record(stage, ns),
                Telemetry::Log { level, code, value } => {
                    writer.append(now, &JournalRecord::Log { level, code, value })?
                }
                Telemetry::Refusal { order, reason } => {
                    writer.append(now, &JournalRecord::GateRefusal { order, reason })?
                }
            }
            t += 1;
        }
        let dropped = io.telemetry.dropped();
        if dropped != reported_dropped {
            writer.append(now, &JournalRecord::Dropped { ring: RingId::Telemetry, total: dropped })?;
            reported_dropped = dropped;
        }
        let lost = contexts_dropped();
        if lost != reported_contexts_dropped {
            writer.append(now, &JournalRecord::Dropped { ring: RingId::Contexts, total: lost })?;
            reported_contexts_dropped = lost;
        }
        if now.saturating_sub(last_report) >= report_ns {
            for summary in latency.summaries() {
                writer.append(now, &summary)?;
            }
            last_report = now;
        }
        if let Some(b) = board.filter(|_| now.saturating_sub(last_board) >= BOARD_NS) {
            b.publish(&latency);
            last_board = now;
        }
        writer.poll(now)?;
        let contexts_empty = io.contexts.as_ref().is_none_or(LossyConsumer::is_empty);
        let finished =
            stop.load(Ordering::Acquire) || (io.records.is_producer_gone() && io.telemetry.is_producer_gone());
        if finished && io.records.is_empty() && io.telemetry.is_empty() && contexts_empty {
            break;
        }
        if n == 0 && t == 0 {
            std::thread::sleep(IDLE_SLEEP);
        }
    }
    let now = clock();
    let dropped = io.telemetry.dropped();
    if dropped != reported_dropped {
        writer.append(now, &JournalRecord::Dropped { ring: RingId::Telemetry, total: dropped })?;
    }
    let lost = contexts_dropped();
    if lost != reported_contexts_dropped {
        writer.append(now, &JournalRecord::Dropped { ring: RingId::Contexts, total: lost })?;
    }
    for summary in latency.summaries() {
        writer.append(now, &summary)?;
    }
    if let Some(b) = board {
        b.publish(&latency);
    }
    let records = writer.records();
    writer.append(now, &JournalRecord::Closed { records })?;
    writer.flush(now)?;
    Ok(JournalSummary {
        records: writer.records(),
        telemetry_dropped: dropped,
        contexts_dropped: lost,
        latency,
        sink: writer.into_sink(),
    })
}

/// Journals one order context: an entry as its two records, an exit as one.
fn append_context<S: JournalSink>(
    writer: &mut JournalWriter<S>,
    now: u64,
    context: &OrderContext,
) -> Result<(), JournalError> {
    match *context {
        OrderContext::Entry(entry, signals) => {
            writer.append(now, &JournalRecord::Entry(entry))?;
            writer.append(now, &JournalRecord::EntrySignals { client_id: entry.client_id, signals })
        }
        OrderContext::Exit(exit) => writer.append(now, &JournalRecord::Exit(exit)),
    }
}

/// Spawns the journal thread (named `journal`). `clock` returns wall time in
/// ns since the Unix epoch ([`wall_clock_ns`] live).
///
/// # Errors
/// The OS refused to create the thread.
pub fn spawn<S: JournalSink + Send + 'static, R: Send + 'static>(
    writer: JournalWriter<S>,
    io: JournalThreadIo<R>,
    cfg: JournalConfig,
    clock: impl FnMut() -> u64 + Send + 'static,
    stop: std::sync::Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<Result<JournalSummary<S>, JournalError>>>
where
    JournalRecord: From<R>,
{
    spawn_with_board(writer, io, cfg, clock, stop, None)
}

/// [`spawn`], the thread publishing its latency quantiles to `board`
/// ([`run_with_board`]).
///
/// # Errors
/// The thread cannot be spawned.
pub fn spawn_with_board<S: JournalSink + Send + 'static, R: Send + 'static>(
    writer: JournalWriter<S>,
    io: JournalThreadIo<R>,
    cfg: JournalConfig,
    clock: impl FnMut() -> u64 + Send + 'static,
    stop: std::sync::Arc<AtomicBool>,
    board: Option<std::sync::Arc<LatencyBoard>>,
) -> std::io::Result<std::thread::JoinHandle<Result<JournalSummary<S>, JournalError>>>
where
    JournalRecord: From<R>,
{
    std::thread::Builder::new()
        .name("journal".into())
        .spawn(move || run_with_board(writer, &io, &cfg, clock, &stop, board.as_deref()))
}

/// Wall-clock nanoseconds since the Unix epoch, for the journal clock in
/// the live engine (library code never calls it by itself).
#[must_use]
pub fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
