//! The risk thread: a thin loop around [`RiskMonitor`].
//!
//! Each turn it drains the hot thread's lossless ring of [`RiskInput`]s into
//! the monitor, checks the kill switch (signal flag every turn, kill file
//! every 100 ms), ticks the monitor's timers, then:
//! - publishes a changed verdict into the [`VerdictCell`] (one atomic store),
//! - queues commands for the engine on the command ring,
//! - forwards order events, resyncs and account updates, and journals every
//!   verdict, trip, clear and command, on the lossless ring to the journal
//!   thread, as [`RiskRecord`]s: the risk module does not know the journal's
//!   format; the ring carries any record type that can be made from a
//!   [`RiskRecord`] (the engine uses the journal's record).
//!
//! It never blocks on a ring: what it cannot push yet waits in its own
//! backlog (it may allocate; it is not the hot thread) while it keeps
//! draining its input, so the hot thread, which does wait when the input
//! ring is full, can never deadlock against it. If the journal thread is
//! gone the risk thread throws the kill switch: no journal, no trading.
//!
//! Signals: [`KillSwitch::register_signals`] makes SIGTERM and SIGUSR1 set
//! an atomic flag (`signal_hook::flag`, whose handler only stores to an
//! `AtomicBool`, which is async-signal-safe). Once registered, SIGTERM no
//! longer terminates the process at once: the risk thread cancels,
//! flattens, and tells the engine to exit.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::ring::{LosslessConsumer, LosslessProducer};
use crate::risk::monitor::{
    KillSource, MonitorStats, RiskCommand, RiskInput, RiskMonitor, RiskOutput, RiskRecord, RiskSnapshot,
};
use crate::risk::verdict::VerdictCell;

/// How often the kill file is looked for, ms.
pub const KILL_FILE_POLL_MS: i64 = 100;
/// Sleep when a turn found no input.
const IDLE_SLEEP: Duration = Duration::from_micros(200);
/// Most inputs applied per turn before the kill switch and timers are checked.
const BATCH: usize = 4096;

/// The kill switch sources the risk thread watches.
#[derive(Debug, Clone)]
pub struct KillSwitch {
    file: Option<PathBuf>,
    flag: Arc<AtomicBool>,
}

impl KillSwitch {
    /// Watches `file` (if any) and a flag that signals or the engine set.
    #[must_use]
    pub fn new(file: Option<PathBuf>) -> Self {
        Self { file, flag: Arc::new(AtomicBool::new(false)) }
    }

    /// Makes SIGTERM and SIGUSR1 set the flag.
    ///
    /// # Errors
    /// The OS refused to install a handler.
    pub fn register_signals(&self) -> io::Result<()> {
        for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGUSR1] {
            signal_hook::flag::register(signal, Arc::clone(&self.flag))?;
        }
        Ok(())
    }

    /// The flag (set it to throw the switch as a signal would).
    #[must_use]
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.flag)
    }
}

/// The risk thread's rings and verdict cell. `J` is the journal ring's
/// record type (the journal's own record in the engine).
pub struct RiskThreadIo<J> {
    /// From the hot thread.
    pub input: LosslessConsumer<RiskInput>,
    /// To the hot thread.
    pub commands: LosslessProducer<RiskCommand>,
    /// To the journal thread.
    pub journal: LosslessProducer<J>,
    /// Read by the hot thread every iteration.
    pub verdict: Arc<VerdictCell>,
}

/// Why the risk thread stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskExit {
    /// The kill switch finished (the engine was sent `Exit`).
    Killed(KillSource),
    /// The hot thread dropped its producer and everything was drained.
    InputClosed,
}

/// What the risk thread reports when it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiskRunReport {
    /// Why it stopped.
    pub exit: RiskExit,
    /// PnL and exposure at the end.
    pub snapshot: RiskSnapshot,
    /// Inputs accounted for but not applied.
    pub stats: MonitorStats,
    /// Inputs consumed.
    pub inputs: u64,
}

fn journal_form(input: &RiskInput) -> Option<RiskRecord> {
    match *input {
        // Marks are too many to journal; the kill is journaled as a trip.
        RiskInput::Mark { .. } | RiskInput::Kill => None,
        _ => Some(RiskRecord::Input(*input)),
    }
}

struct Backlogs {
    journal: VecDeque<RiskRecord>,
    commands: VecDeque<RiskCommand>,
}

impl Backlogs {
    fn dispatch(&mut self, out: &mut Vec<RiskOutput>, verdict: &VerdictCell) {
        for output in out.drain(..) {
            let record = match output {
                RiskOutput::Verdict { ts_ms, verdict: v } => RiskOutput::Verdict { ts_ms, verdict: verdict.publish(v) },
                RiskOutput::Command { command, .. } => {
                    self.commands.push_back(command);
                    output
                }
                RiskOutput::Trip { .. } | RiskOutput::Clear { .. } => output,
            };
            self.journal.push_back(RiskRecord::Output(record));
        }
    }

    fn drain_into<J: From<RiskRecord>>(&mut self, io: &RiskThreadIo<J>) {
        while let Some(record) = self.journal.front() {
            if io.journal.try_push(J::from(*record)).is_err() {
                break;
            }
            self.journal.pop_front();
        }
        while let Some(command) = self.commands.pop_front() {
            if let Err(command) = io.commands.try_push(command) {
                self.commands.push_front(command);
                break;
            }
        }
    }
}

/// Runs the risk loop on the current thread until the kill switch finishes
/// or the input closes. `clock` returns wall time in ms since the epoch.
pub fn run<J: From<RiskRecord>>(
    mut monitor: RiskMonitor,
    io: &RiskThreadIo<J>,
    kill: &KillSwitch,
    mut clock: impl FnMut() -> i64,
) -> RiskRunReport {
    let mut out = Vec::with_capacity(64);
    let mut backlog = Backlogs { journal: VecDeque::new(), commands: VecDeque::new() };
    let start = clock();
    let stored = io.verdict.publish(monitor.verdict());
    backlog.journal.push_back(RiskRecord::Output(RiskOutput::Verdict { ts_ms: start, verdict: stored }));
    let mut next_file_check = start;
    let mut inputs = 0u64;
    let exit = loop {
        let now = clock();
        let mut n = 0;
        while n < BATCH {
            let Some(input) = io.input.pop() else { break };
            if let Some(record) = journal_form(&input) {
                backlog.journal.push_back(record);
            }
            monitor.on_input(&input, now, &mut out);
            backlog.dispatch(&mut out, &io.verdict);
            n += 1;
        }
        inputs += n as u64;
        if kill.flag.load(Ordering::Acquire) {
            monitor.kill(KillSource::Signal, now, &mut out);
        }
        if let Some(path) = &kill.file {
            if now >= next_file_check {
                next_file_check = now + KILL_FILE_POLL_MS;
                if path.exists() {
                    monitor.kill(KillSource::File, now, &mut out);
                }
            }
        }
        let journal_gone = io.journal.is_disconnected();
        if journal_gone {
            monitor.kill(KillSource::Command, now, &mut out);
        }
        monitor.on_tick(now, &mut out);
        backlog.dispatch(&mut out, &io.verdict);
        backlog.drain_into(io);
        let delivered = backlog.commands.is_empty() && (backlog.journal.is_empty() || journal_gone);
        if monitor.finished() && delivered {
            break RiskExit::Killed(monitor.kill_source().unwrap_or(KillSource::Command));
        }
        if io.input.is_producer_gone() && io.input.is_empty() && delivered {
            break RiskExit::InputClosed;
        }
        if n == 0 {
            std::thread::sleep(IDLE_SLEEP);
        }
    };
    RiskRunReport { exit, snapshot: monitor.snapshot(), stats: monitor.stats(), inputs }
}

/// Spawns the risk thread (named `risk`).
///
/// # Errors
/// The OS refused to create the thread.
pub fn spawn<J: From<RiskRecord> + Send + 'static>(
    monitor: RiskMonitor,
    io: RiskThreadIo<J>,
    kill: KillSwitch,
    clock: impl FnMut() -> i64 + Send + 'static,
) -> io::Result<JoinHandle<RiskRunReport>> {
    std::thread::Builder::new().name("risk".into()).spawn(move || run(monitor, &io, &kill, clock))
}

/// Wall-clock milliseconds since the Unix epoch, for [`run`]'s `clock` in
/// the live engine (library code never calls it by itself).
#[must_use]
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
