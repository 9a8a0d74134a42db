//! `scalpel demo --soak`: the fault soak (issue 13). Two simulators in
//! process (`scalpel sim`, one per venue: Binance USDⓈ-M and Bybit linear,
//! each replaying a synthetic session of every soak symbol) and one live
//! engine configured with both venues (`scalpel run`'s code, real TLS,
//! WebSockets and signed orders on loopback), with faults of every kind the
//! simulator has injected on both, for `--duration` (600 s by default).
//! It ends with these figures, each checked:
//!
//! - **lost orders**: orders sent and never settled (acknowledged, filled,
//!   cancelled, expired, rejected, or queried over REST and settled by the
//!   answer): must be 0;
//! - **positions**: the engine ledger's position per venue and symbol
//!   against the simulator's own account (its record of our fills), before
//!   the stop (polled until both agree, at most 5 s) and after the stop's
//!   flatten: must be equal;
//! - **books**: every book the core published, replayed from the flight
//!   recording through the replay's probe ([`crate::engine::replay::BookCheck`]):
//!   0 crossed and 0 stale (older by exchange time than one published
//!   before for the same instrument, by more than
//!   [`crate::engine::replay::BookCheck::STALE_MS`]); replay parity 100%;
//! - **resyncs**: the engine's resync requests, counted per instrument from
//!   its events, must equal its counter; per instrument the longest time
//!   the book was out of sync (from the engine marking it out of sync — a
//!   gap seen, a feed down, the stale-stream watchdog — to in sync again,
//!   as the engine's published state shows it every 100 ms) must stay within
//!   `--resync-bound`; every book in sync at the end;
//! - **memory**: the process's resident set (`VmRSS`, `/proc/self/status`)
//!   at the end of trading against after the warm-up: at most
//!   `rss_pct` % + `rss_slack_mib` MiB more;
//! - **hot-thread allocations**: counted by the binary's global allocator
//!   ([`crate::alloc_count::CountingAlloc`] through
//!   [`crate::engine::Hooks::thread_allocations`], as `tests/engine_alloc.rs`
//!   counts them). The engine's invariant is zero per event once warm, with
//!   reconnects and the rare control paths (listenKey, snapshots, order
//!   queries, fill fetches after a private-stream outage, time sync)
//!   allowed to allocate. The soak therefore splits the
//!   allocations made after the warm-up by the engine's 100 ms publication
//!   windows: a window is *steady* when every connection was live at both
//!   ends and no control-path counter moved; allocations in steady windows
//!   must be 0, those in the other windows are reported;
//! - **faults**: injected per kind (both simulators' counters); every kind
//!   must have fired at least once.
//!
//! A check that fails makes the command fail after the report is printed.
//!
//! The simulators, the engine's threads and this loop share one process, so
//! the resident set covers all of them; the simulators keep their wire
//! stamp rings small here (the demo's wire-to-wire pairing is not done).
//!
//! # Errors
//! [`DemoError`]; [`DemoError::Failed`] names every check that failed.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::engine::status::InstStats;
use crate::engine::{Counter, EngineEvent, EngineHandle, EngineInfo, EngineStats, Hooks, LiveConfig};
use crate::fixed::Qty;
use crate::instrument::{InstrumentTable, LoadError, Symbol};
use crate::net::ConnState;
use crate::profile::Profile;
use crate::sim::{FaultPlan, MarketInput, SimReport, Simulator};
use crate::venue::Venue;

use super::demo::DemoError;
use super::session::{
    live_config_head, pin_and_poll, pinning_label, resolve_profile, session_account, session_dir, sim_config,
    start_engine, streams, venue_table, write_json,
};

/// Default length of a soak, seconds.
pub const DEFAULT_SECS: f64 = 600.0;

/// The soak's default faults: `--faults all`'s documented rates, except
/// the rarest kinds: a ban at p = 0.005 per request (`all`: 0.002), a
/// listenKey expiry at p = 0.001 per 100 ms (`all`: 0.0005), an order drop
/// at p = 0.05 per order (`all`: 0.01; a ten-minute soak sends about a
/// hundred orders, and at 0.01 one run dropped none), a fill drop at p =
/// 0.05 per fill (`all`: 0.01) and the connection lifetime at 5 minutes
/// (`all`: 10, which would not fire within a 10-minute soak), so that every
/// kind fires within ten minutes.
pub const DEFAULT_FAULTS: &str = "disconnect:p=0.0005,stall:p=0.0003:for=5s,gap:p=0.005,delay:p=0.02:for=250ms,\
duplicate:p=0.02,reorder:p=0.02,listenkey-expire:p=0.001,rate-limit:p=0.01,ban:p=0.005:for=3s,\
lifetime:for=5m,order-drop:p=0.05,fill-drop:p=0.05";

/// The venues of a soak, one simulator each.
pub const VENUES: [Venue; 2] = [Venue::BinanceUsdm, Venue::BybitLinear];

/// Options of `scalpel demo --soak`.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// Seconds of trading.
    pub duration_s: f64,
    /// Seconds after the start at which the warm-up ends (RSS and
    /// allocations are taken then) once the engine has two fills (else at
    /// three quarters of the duration); `None`: a quarter of the duration,
    /// at most 120 s.
    pub warmup_s: Option<f64>,
    /// Symbols traded on each venue (synthetic sessions: BTCUSDT, ETHUSDT).
    pub symbols: Vec<Symbol>,
    /// Seed of the synthetic sessions.
    pub synth_seed: u64,
    /// Fault spec (`scalpel sim --faults`), the same on both simulators.
    pub faults: String,
    /// Seed of the first simulator's fault decisions (the second's is one more).
    pub fault_seed: u64,
    /// The strategy profile (as for the demo).
    pub config: Option<PathBuf>,
    /// JSON report file (`-`: stdout).
    pub json: Option<PathBuf>,
    /// Directory for the session's files.
    pub dir: Option<PathBuf>,
    /// CPU to pin the hot thread to.
    pub pin: Option<usize>,
    /// Poll with a zero timeout; `None`: when the hot thread is pinned.
    pub busy_poll: Option<bool>,
    /// Seconds between status lines on stderr (0: none).
    pub status_secs: f64,
    /// Resident-set growth allowed after the warm-up, percent ...
    pub rss_pct: f64,
    /// ... plus this many MiB.
    pub rss_slack_mib: f64,
    /// Longest time a book may stay out of sync, seconds.
    pub resync_bound_s: f64,
}

impl Default for SoakOptions {
    fn default() -> Self {
        let sym = |s: &[u8]| Symbol::new(s).unwrap_or_else(|_| unreachable!("a valid symbol"));
        Self {
            duration_s: DEFAULT_SECS,
            warmup_s: None,
            symbols: vec![sym(b"BTCUSDT"), sym(b"ETHUSDT")],
            synth_seed: crate::backtest::SyntheticInput::DEFAULT_SEED,
            faults: DEFAULT_FAULTS.to_owned(),
            fault_seed: 1,
            config: None,
            json: None,
            dir: None,
            pin: None,
            busy_poll: None,
            status_secs: 30.0,
            rss_pct: 5.0,
            rss_slack_mib: 8.0,
            resync_bound_s: 10.0,
        }
    }
}

/// One instrument's figures.
#[derive(Debug, Clone, Serialize)]
pub struct SoakInstrument {
    /// `venue:SYMBOL`.
    pub name: String,
    /// The engine ledger's position before the stop (decimal).
    pub engine_position_before_stop: String,
    /// The simulator's account position at the same check (decimal).
    pub sim_position_before_stop: String,
    /// The engine ledger's position after the stop's flatten.
    pub engine_position_after_stop: String,
    /// The simulator's account position after the stop.
    pub sim_position_after_stop: String,
    /// Resync requests the engine made for this book (its events).
    pub resync_events: u64,
    /// Resyncs its sync machine counted.
    pub sync_resyncs: u64,
    /// Times the engine's published state showed the book out of sync
    /// after it had first been in sync.
    pub outages: u64,
    /// The longest of them, ms (100 ms resolution: the publication period).
    pub max_out_of_sync_ms: u64,
    /// In sync at the end of trading (after waiting at most the bound).
    pub in_sync_at_end: bool,
}

/// What became of the engine's orders (the engine's counters; `lost` from
/// its final ledger scan).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct OrderFigures {
    /// Sent over the order WebSocket or REST.
    pub sent: u64,
    /// Acknowledged by a venue.
    pub acked: u64,
    /// Executions applied to the ledger (each once).
    pub fills: u64,
    /// Of them, recovered by a fill fetch after a private stream was down
    /// (the stream had lost them).
    pub fills_recovered: u64,
    /// Fill-fetch pages requested, and of them failed (retried).
    pub fill_fetches: u64,
    /// Fill-fetch requests that failed.
    pub fill_fetches_failed: u64,
    /// Ended cancelled.
    pub cancelled: u64,
    /// Ended expired (IOC, post-only).
    pub expired: u64,
    /// Refused (by a venue, or never sent).
    pub rejected: u64,
    /// Answers lost: queried over REST.
    pub queried: u64,
    /// Of the queried, settled by the answer.
    pub settled_by_query: u64,
    /// Repeated order events the ledger dropped.
    pub duplicates_dropped: u64,
    /// Sent and never settled (must be 0).
    pub lost: u64,
    /// Order requests both simulators read.
    pub sim_requests: u64,
}

impl OrderFigures {
    fn of(s: &EngineStats, lost: u64, sims: &[SimReport]) -> Self {
        Self {
            sent: s.get(Counter::OrdersSent),
            acked: s.get(Counter::Acked),
            fills: s.get(Counter::Fills),
            fills_recovered: s.get(Counter::FillsRecovered),
            fill_fetches: s.get(Counter::FillFetches),
            fill_fetches_failed: s.get(Counter::FillFetchesFailed),
            cancelled: s.get(Counter::Cancelled),
            expired: s.get(Counter::Expired),
            rejected: s.get(Counter::Rejected),
            queried: s.get(Counter::Unknown),
            settled_by_query: s.get(Counter::Resolved),
            duplicates_dropped: s.get(Counter::Duplicates),
            lost,
            sim_requests: sims.iter().map(|r| r.counters.get("order_requests").copied().unwrap_or(0)).sum(),
        }
    }
}

/// Steady windows that allocated, kept for the report.
pub const MAX_ALLOCATING_WINDOWS: usize = 16;

/// A steady window in which the hot thread allocated.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AllocatingWindow {
    /// Its end, seconds since the soak started.
    pub at_s: f64,
    /// Its start and end, the engine's publication times (ns since the
    /// Unix epoch: the trace's `unix_ns` falls between them).
    pub from_unix_ns: u64,
    /// See `from_unix_ns`.
    pub to_unix_ns: u64,
    /// Allocations counted in it.
    pub allocations: u64,
}

/// The soak's report (also its `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    /// `"scalpel demo --soak"`.
    pub report: &'static str,
    /// The venues.
    pub venues: Vec<&'static str>,
    /// The symbols on each venue.
    pub symbols: Vec<String>,
    /// What the markets were.
    pub input: String,
    /// The profile used.
    pub profile: String,
    /// Seconds of trading asked for.
    pub duration_s: f64,
    /// Seconds of trading done.
    pub traded_s: f64,
    /// The warm-up asked for, seconds after the start.
    pub warmup_s: f64,
    /// When it ended (two fills seen), seconds after the start.
    pub warm_at_s: f64,
    /// The fault spec.
    pub faults: String,
    /// Where the hot thread ran.
    pub pinning: String,
    /// The session's directory.
    pub dir: String,
    /// Connections the engine ran.
    pub connections: usize,
    /// What became of the orders.
    pub orders: OrderFigures,
    /// Faults injected per kind, both simulators.
    pub faults_injected: BTreeMap<&'static str, u64>,
    /// Faults injected in all.
    pub faults_total: u64,
    /// Kinds that never fired (must be empty).
    pub fault_kinds_not_fired: Vec<&'static str>,
    /// Engine-side disconnects.
    pub disconnects: u64,
    /// Engine resync requests (its counter).
    pub resyncs: u64,
    /// Resync events received (must equal `resyncs` when no event was dropped).
    pub resync_events: u64,
    /// Engine events dropped before they were read.
    pub events_dropped: u64,
    /// Per instrument.
    pub instruments: Vec<SoakInstrument>,
    /// Before the stop, the engine's and the simulators' positions agreed.
    pub positions_agree_before_stop: bool,
    /// After the stop, they agreed.
    pub positions_agree_after_stop: bool,
    /// The longest time out of sync of any book, ms.
    pub max_out_of_sync_ms: u64,
    /// The bound, ms.
    pub out_of_sync_bound_ms: u64,
    /// Books the core published (replay probe).
    pub books_published: u64,
    /// Of them crossed (must be 0).
    pub crossed_books_published: u64,
    /// Of them stale (must be 0).
    pub stale_books_published: u64,
    /// Order intents in the flight recording.
    pub intents: u64,
    /// Of them reproduced identically by the replay.
    pub replay_matched_intents: u64,
    /// Resident set after the warm-up, KiB.
    pub rss_warm_kib: u64,
    /// Resident set at the end of trading, KiB.
    pub rss_end_kib: u64,
    /// The largest seen while trading after the warm-up, KiB.
    pub rss_max_kib: u64,
    /// The end may exceed the warm value by at most this, KiB.
    pub rss_allowed_growth_kib: u64,
    /// Hot-thread allocations counted up to the end of the warm-up.
    pub hot_allocations_at_warmup: u64,
    /// After the warm-up, in steady windows (must be 0).
    pub hot_allocations_steady: u64,
    /// After the warm-up, in windows with a reconnect or a control path.
    pub hot_allocations_control: u64,
    /// The first steady windows that allocated (at most
    /// [`MAX_ALLOCATING_WINDOWS`]), to find the code with
    /// `SCALPEL_TRACE_HOT_ALLOCATIONS`.
    pub steady_allocating_windows: Vec<AllocatingWindow>,
    /// Publication windows after the warm-up: steady, and with control paths.
    pub windows_steady: u64,
    /// Windows with a reconnect or a control path.
    pub windows_control: u64,
    /// The allocation counter works (start-up allocated).
    pub allocation_counter_live: bool,
    /// The checks that failed (empty: the soak passed).
    pub failed: Vec<String>,
}

/// The process's resident set, KiB (`VmRSS` in `/proc/self/status`; 0
/// where there is no such file).
#[must_use]
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Counters that move when a reconnect or a control path ran (these may
/// allocate on the hot thread: the engine's invariant).
const CONTROL: [Counter; 19] = [
    Counter::Disconnects,
    Counter::Connects,
    Counter::AuthOk,
    Counter::AuthFailed,
    Counter::Resyncs,
    Counter::Snapshots,
    Counter::SnapshotFailures,
    Counter::Resubscribes,
    Counter::ListenKeys,
    Counter::ListenKeyExpired,
    Counter::ListenKeyFailed,
    Counter::DeadmanFailed,
    Counter::Unknown,
    Counter::Resolved,
    Counter::SendFailures,
    Counter::DarkFlattens,
    Counter::FillFetches,
    Counter::FillPages,
    Counter::FillFetchesFailed,
];

/// What the loop tracks per instrument.
#[derive(Debug, Clone, Copy, Default)]
struct Sync {
    seen_live: bool,
    out_since_ns: Option<u64>,
    outages: u64,
    max_out_ns: u64,
    resync_events: u64,
}

/// What the loop tracks.
#[derive(Debug)]
struct Watch {
    started: Instant,
    insts: Vec<Sync>,
    prev: Option<EngineStats>,
    /// Allocations counted and seconds since the start when the warm-up ended.
    warm: Option<(u64, f64)>,
    steady_allocs: u64,
    control_allocs: u64,
    windows_steady: u64,
    windows_control: u64,
    allocating_windows: Vec<AllocatingWindow>,
    rss_max: u64,
}

impl Watch {
    /// A newly published snapshot.
    fn on_stats(&mut self, s: &EngineStats) {
        for (i, st) in s.insts.iter().enumerate() {
            let w = &mut self.insts[i];
            match (st.book_live, w.out_since_ns) {
                (true, Some(since)) => {
                    w.max_out_ns = w.max_out_ns.max(s.published_unix_ns.saturating_sub(since));
                    w.out_since_ns = None;
                }
                (false, None) if w.seen_live => {
                    w.out_since_ns = Some(s.published_unix_ns);
                    w.outages += 1;
                }
                _ => {}
            }
            w.seen_live |= st.book_live;
        }
        if self.warm.is_some()
            && let Some(p) = &self.prev
        {
            let all_live = |x: &EngineStats| x.conns.iter().all(|c| c.state == ConnState::Live);
            let steady = all_live(p) && all_live(s) && CONTROL.iter().all(|&c| p.get(c) == s.get(c));
            let allocs = s.get(Counter::HotAllocations).saturating_sub(p.get(Counter::HotAllocations));
            if steady {
                self.windows_steady += 1;
                self.steady_allocs += allocs;
                if allocs > 0 && self.allocating_windows.len() < MAX_ALLOCATING_WINDOWS {
                    self.allocating_windows.push(AllocatingWindow {
                        at_s: self.started.elapsed().as_secs_f64(),
                        from_unix_ns: p.published_unix_ns,
                        to_unix_ns: s.published_unix_ns,
                        allocations: allocs,
                    });
                }
            } else {
                self.windows_control += 1;
                self.control_allocs += allocs;
            }
            self.rss_max = self.rss_max.max(rss_kib());
        }
        self.prev = Some(s.clone());
    }

    /// The longest outage so far per instrument, counting one still open at `now_ns`.
    fn max_out_ns(&self, i: usize, now_ns: u64) -> u64 {
        let w = &self.insts[i];
        w.max_out_ns.max(w.out_since_ns.map_or(0, |s| now_ns.saturating_sub(s)))
    }
}

/// The engine's and the simulators' positions, per instrument (decimal text).
fn positions(info: &EngineInfo, insts: &[InstStats], sims: &[SimReport]) -> Vec<(String, String)> {
    info.instruments
        .iter()
        .enumerate()
        .map(|(i, inst)| {
            let engine = insts.get(i).map_or(0, |s| s.position);
            let sim = sims
                .iter()
                .find(|r| r.venue == inst.venue)
                .and_then(|r| r.accounts.first())
                .and_then(|a| a.positions.get(&inst.symbol.to_string()))
                .cloned()
                .unwrap_or_else(|| "missing".to_owned());
            (Qty(engine).text(inst.qty_scale).as_str().to_owned(), sim)
        })
        .collect()
}

/// Both sides equal per instrument (the simulator's text read at the
/// instrument's scale).
fn agree(info: &EngineInfo, pos: &[(String, String)]) -> bool {
    pos.iter().zip(&info.instruments).all(|((e, s), inst)| {
        let e = crate::fixed::parse_decimal_trimmed(e.as_bytes(), inst.qty_scale, true);
        let s = crate::fixed::parse_decimal_trimmed(s.as_bytes(), inst.qty_scale, true);
        matches!((e, s), (Ok(a), Ok(b)) if a == b)
    })
}

/// Runs the soak (module docs): progress on `err`, the report on `out`
/// (and into `--json`).
///
/// # Errors
/// [`DemoError`]; [`DemoError::Failed`] after the report when a check failed.
pub fn run(
    opts: &SoakOptions,
    hooks: Hooks,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<SoakReport, DemoError> {
    if !(opts.duration_s.is_finite() && opts.duration_s > 0.0) {
        return Err(LoadError::new("--duration", "must be a positive number of seconds").into());
    }
    let warmup_s = opts.warmup_s.unwrap_or((opts.duration_s / 4.0).min(120.0));
    if !(warmup_s.is_finite() && warmup_s >= 0.0 && warmup_s < opts.duration_s) {
        return Err(LoadError::new("--warmup", "must be at least 0 and shorter than --duration").into());
    }
    if opts.symbols.is_empty() {
        return Err(LoadError::new("symbols", "the soak needs at least one symbol").into());
    }
    let faults = FaultPlan::parse(&opts.faults).map_err(|e| LoadError::new("--faults", e.0.clone()))?;
    let dir = session_dir(opts.dir.as_deref(), "soak")?;
    let flight = dir.join("flight");
    let (profile_path, profile_label) = resolve_profile(opts.config.as_deref(), &dir, &super::session::DEMO_PROFILE)?;
    let profile = Profile::from_file(&profile_path)?;
    let account = session_account(&dir)?;

    // The simulators: one per venue, every symbol, the same faults.
    let mut sims = Vec::new();
    for (k, venue) in VENUES.into_iter().enumerate() {
        let input = MarketInput::Synthetic {
            seed: opts.synth_seed,
            symbols: opts.symbols.clone(),
            duration_s: opts.duration_s + 120.0,
        };
        let mut sc = sim_config(venue, input, InstrumentTable::built_in()?, &profile, account.clone());
        sc.faults = faults.clone();
        sc.fault_seed = opts.fault_seed + k as u64;
        sc.ca_out = Some(dir.join(format!("ca-{}.pem", venue.name())));
        // No wire-to-wire pairing here: small stamp rings keep the
        // resident set flat once they are full.
        sc.stamp_capacity = 4096;
        let sim = Simulator::start(sc)?;
        writeln!(err, "soak: simulator {venue} on {}, CA {}", sim.urls().listen, sim.ca_file().display())?;
        sims.push(sim);
    }
    let symbols: Vec<String> = opts.symbols.iter().map(ToString::to_string).collect();
    let input_label = format!("synthetic {} seed {} on each venue", symbols.join(", "), opts.synth_seed);

    // The engine, on both.
    let (pin, busy) = pin_and_poll(opts.pin, opts.busy_poll);
    let mut text = live_config_head(&profile_path, pin, busy);
    for sim in &sims {
        text += &venue_table(sim, &opts.symbols, &streams(sim.venue(), false), 3_000);
    }
    let cfg_path = dir.join("live.toml");
    std::fs::write(&cfg_path, text)?;
    let cfg = LiveConfig::from_file(&cfg_path)?;
    let stop = Arc::new(AtomicBool::new(false));
    let handle = start_engine(&cfg, &stop, hooks, true, "soak", err)?;
    let info = handle.info().clone();
    let pinning = pinning_label(&info, busy);
    writeln!(
        err,
        "soak: engine LIVE on {} venues, {} instruments, {} connections; {pinning}",
        VENUES.len(),
        info.instruments.len(),
        info.conns.len()
    )?;
    writeln!(err, "soak: trading for {} s under faults {} (warm-up {warmup_s} s)", opts.duration_s, opts.faults)?;

    let mut watch = Watch {
        started: Instant::now(),
        insts: vec![Sync::default(); info.instruments.len()],
        prev: None,
        warm: None,
        steady_allocs: 0,
        control_allocs: 0,
        windows_steady: 0,
        windows_control: 0,
        allocating_windows: Vec::new(),
        rss_max: 0,
    };
    let Traded { rss_warm, rss_end, before, traded_s, last: end_stats } =
        trade(&handle, &info, &sims, opts, warmup_s, &mut watch, err)?;
    let agree_before = before.as_ref().is_some_and(|p| agree(&info, p));
    let before = before.unwrap_or_default();

    handle.stop();
    while !handle.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        drain_events(&handle, &info, &mut watch, err)?;
    }
    drain_events(&handle, &info, &mut watch, err)?;
    let events_dropped = handle.events_dropped();
    let engine = handle.join()?;
    let sim_reports: Vec<SimReport> = sims.into_iter().map(Simulator::stop).collect();
    writeln!(err, "soak: stopped; replaying the flight recording")?;
    let replay = crate::engine::replay::replay(&flight)?;

    let s = &engine.hot.stats;
    let after = positions(&info, &s.insts, &sim_reports);
    let agree_after = agree(&info, &after);
    let now_ns = end_stats.published_unix_ns;
    let instruments: Vec<SoakInstrument> = info
        .instrument_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let w = &watch.insts[i];
            SoakInstrument {
                name: name.clone(),
                engine_position_before_stop: before.get(i).map_or_else(String::new, |p| p.0.clone()),
                sim_position_before_stop: before.get(i).map_or_else(String::new, |p| p.1.clone()),
                engine_position_after_stop: after[i].0.clone(),
                sim_position_after_stop: after[i].1.clone(),
                resync_events: w.resync_events,
                sync_resyncs: end_stats.insts.get(i).map_or(0, |x| x.resyncs),
                outages: w.outages,
                max_out_of_sync_ms: watch.max_out_ns(i, now_ns) / 1_000_000,
                in_sync_at_end: end_stats.insts.get(i).is_some_and(|x| x.book_live),
            }
        })
        .collect();
    let mut faults_injected: BTreeMap<&'static str, u64> = BTreeMap::new();
    for r in &sim_reports {
        for (k, n) in &r.faults_injected {
            *faults_injected.entry(k).or_default() += n;
        }
    }
    let (warm_allocs, warm_at_s) = watch.warm.unwrap_or((0, traded_s));
    let max_out = instruments.iter().map(|i| i.max_out_of_sync_ms).max().unwrap_or(0);
    let rss_allowed = (rss_warm as f64 * opts.rss_pct / 100.0 + opts.rss_slack_mib * 1024.0) as u64;
    let mut report = SoakReport {
        report: "scalpel demo --soak",
        venues: VENUES.iter().map(|v| v.name()).collect(),
        symbols,
        input: input_label,
        profile: profile_label,
        duration_s: opts.duration_s,
        traded_s,
        warmup_s,
        warm_at_s,
        faults: opts.faults.clone(),
        pinning,
        dir: dir.display().to_string(),
        connections: info.conns.len(),
        orders: OrderFigures::of(s, engine.hot.lost.len() as u64, &sim_reports),
        faults_total: faults_injected.values().sum(),
        fault_kinds_not_fired: faults_injected.iter().filter(|(_, n)| **n == 0).map(|(k, _)| *k).collect(),
        faults_injected,
        disconnects: s.get(Counter::Disconnects),
        resyncs: s.get(Counter::Resyncs),
        resync_events: watch.insts.iter().map(|w| w.resync_events).sum(),
        events_dropped,
        instruments,
        positions_agree_before_stop: agree_before,
        positions_agree_after_stop: agree_after,
        max_out_of_sync_ms: max_out,
        out_of_sync_bound_ms: (opts.resync_bound_s * 1000.0) as u64,
        books_published: replay.books_published,
        crossed_books_published: replay.crossed_books_published,
        stale_books_published: replay.stale_books_published,
        intents: replay.recorded_intents,
        replay_matched_intents: replay.matched_intents,
        rss_warm_kib: rss_warm,
        rss_end_kib: rss_end,
        rss_max_kib: watch.rss_max,
        rss_allowed_growth_kib: rss_allowed,
        hot_allocations_at_warmup: warm_allocs,
        hot_allocations_steady: watch.steady_allocs,
        hot_allocations_control: watch.control_allocs,
        steady_allocating_windows: watch.allocating_windows.clone(),
        windows_steady: watch.windows_steady,
        windows_control: watch.windows_control,
        allocation_counter_live: end_stats.get(Counter::HotAllocations) > 0,
        failed: Vec::new(),
    };
    report.failed = checks(&report, replay.parity());
    print_report(&report, out)?;
    if let Some(path) = &opts.json {
        write_json(&report, path, out)?;
    }
    if !report.failed.is_empty() {
        return Err(DemoError::Failed(format!("the soak: {}", report.failed.join("; "))));
    }
    Ok(report)
}

/// What the trading phase saw ([`trade`]).
struct Traded {
    /// Resident set after the warm-up, KiB.
    rss_warm: u64,
    /// Resident set at the end of trading, KiB.
    rss_end: u64,
    /// Positions (engine, simulator) per instrument before the stop; `None`
    /// when the engine ended early.
    before: Option<Vec<(String, String)>>,
    /// Seconds traded.
    traded_s: f64,
    /// The last stats.
    last: EngineStats,
}

/// The trading phase: events and stats until `--duration`; the warm-up's
/// resident set and allocation count; at the end the resident set, every
/// book back in sync (waited for, at most the bound), and the positions
/// polled until the engine and the simulators agree (at most 5 s).
fn trade(
    handle: &EngineHandle,
    info: &EngineInfo,
    sims: &[Simulator],
    opts: &SoakOptions,
    warmup_s: f64,
    watch: &mut Watch,
    err: &mut dyn Write,
) -> Result<Traded, DemoError> {
    let started = watch.started;
    let mut last_status = Instant::now();
    let mut status_prev: Option<EngineStats> = None;
    let mut rss_warm = 0;
    let mut last = handle.stats();
    while !handle.is_finished() && started.elapsed().as_secs_f64() < opts.duration_s {
        step(handle, info, watch, &mut last, err)?;
        // Warm: past the warm-up and the order paths have run (two fills),
        // or three quarters of the session gone without them.
        let t = started.elapsed().as_secs_f64();
        if watch.warm.is_none() && ((t >= warmup_s && last.get(Counter::Fills) >= 2) || t >= 0.75 * opts.duration_s) {
            rss_warm = rss_kib();
            watch.rss_max = rss_warm;
            watch.warm = Some((last.get(Counter::HotAllocations), t));
            writeln!(
                err,
                "soak: warm at {:.0} s: RSS {rss_warm} KiB, hot-thread allocations so far {}",
                started.elapsed().as_secs_f64(),
                last.get(Counter::HotAllocations)
            )?;
        }
        if opts.status_secs > 0.0 && last_status.elapsed().as_secs_f64() >= opts.status_secs {
            last_status = Instant::now();
            writeln!(err, "{}", last.status_line(status_prev.as_ref(), &info.conns, &info.instrument_names))?;
            status_prev = Some(last.clone());
        }
    }
    let traded_s = started.elapsed().as_secs_f64();
    let rss_end = rss_kib();
    // A book out of sync at the end of trading (a gap a moment ago) gets
    // the bound to come back, still watched, before the positions are read.
    let bound = Instant::now() + Duration::from_secs_f64(opts.resync_bound_s);
    while !handle.is_finished() && !last.insts.iter().all(|i| i.book_live) && Instant::now() < bound {
        step(handle, info, watch, &mut last, err)?;
    }
    if handle.is_finished() {
        writeln!(err, "soak: the engine ended before --duration ({traded_s:.0} s)")?;
        return Ok(Traded { rss_warm, rss_end, before: None, traded_s, last });
    }
    // Positions before the stop: both sides read within a few ms; fills in
    // flight make them differ for a moment, so read again until they agree.
    let mut before = None;
    let poll_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < poll_until {
        let s = handle.stats();
        let reports: Vec<SimReport> = sims.iter().map(Simulator::report).collect();
        let p = positions(info, &s.insts, &reports);
        let ok = agree(info, &p);
        before = Some(p);
        if ok {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Traded { rss_warm, rss_end, before, traded_s, last })
}

/// One turn of the watching loop: a short sleep, the events, the stats
/// when newly published.
fn step(
    handle: &EngineHandle,
    info: &EngineInfo,
    watch: &mut Watch,
    last: &mut EngineStats,
    err: &mut dyn Write,
) -> io::Result<()> {
    std::thread::sleep(Duration::from_millis(20));
    drain_events(handle, info, watch, err)?;
    let s = handle.stats();
    if s.published_unix_ns != last.published_unix_ns {
        watch.on_stats(&s);
        *last = s;
    }
    Ok(())
}

/// Reads the engine's events: printed, resync requests counted per instrument.
fn drain_events(handle: &EngineHandle, info: &EngineInfo, watch: &mut Watch, err: &mut dyn Write) -> io::Result<()> {
    while let Some(e) = handle.next_event() {
        if let EngineEvent::Resync { inst } = e
            && let Some(w) = watch.insts.get_mut(usize::from(inst.0))
        {
            w.resync_events += 1;
        }
        let t = watch.started.elapsed().as_secs_f64();
        writeln!(err, "soak: {t:7.2} s engine: {}", crate::commands::run::describe(&e, info))?;
    }
    Ok(())
}

/// Every check of the module docs; the failed ones, named with their figures.
fn checks(r: &SoakReport, replay_parity: bool) -> Vec<String> {
    let mut failed = Vec::new();
    if r.orders.lost > 0 {
        failed.push(format!("{} orders lost", r.orders.lost));
    }
    if !r.positions_agree_before_stop {
        failed.push("positions before the stop: the engine's ledger and the simulators disagree".to_owned());
    }
    if !r.positions_agree_after_stop {
        failed.push("positions after the stop: the engine's ledger and the simulators disagree".to_owned());
    }
    if r.crossed_books_published > 0 {
        failed.push(format!("{} crossed books published", r.crossed_books_published));
    }
    if r.stale_books_published > 0 {
        failed.push(format!("{} stale books published", r.stale_books_published));
    }
    if !replay_parity {
        failed.push(format!("replay parity broken ({} of {} intents)", r.replay_matched_intents, r.intents));
    }
    if r.events_dropped == 0 && r.resync_events != r.resyncs {
        failed.push(format!("resyncs: {} events against the counter's {}", r.resync_events, r.resyncs));
    }
    if r.max_out_of_sync_ms > r.out_of_sync_bound_ms {
        failed.push(format!(
            "a book stayed out of sync {} ms (bound {} ms)",
            r.max_out_of_sync_ms, r.out_of_sync_bound_ms
        ));
    }
    let behind: Vec<&str> = r.instruments.iter().filter(|i| !i.in_sync_at_end).map(|i| i.name.as_str()).collect();
    if !behind.is_empty() {
        failed.push(format!("out of sync at the end: {}", behind.join(", ")));
    }
    if r.rss_warm_kib == 0 || r.rss_end_kib == 0 {
        failed.push("the resident set could not be read (/proc/self/status)".to_owned());
    } else if r.rss_end_kib > r.rss_warm_kib + r.rss_allowed_growth_kib {
        failed.push(format!(
            "memory grew: RSS {} KiB at the end against {} KiB after the warm-up (allowed +{} KiB)",
            r.rss_end_kib, r.rss_warm_kib, r.rss_allowed_growth_kib
        ));
    }
    if !r.allocation_counter_live {
        failed.push("hot-thread allocations not counted (the binary's allocator does not count them)".to_owned());
    } else if r.hot_allocations_steady > 0 {
        failed.push(format!(
            "the hot thread allocated {} times in steady windows after the warm-up",
            r.hot_allocations_steady
        ));
    }
    if r.windows_steady == 0 {
        failed.push("no steady window after the warm-up: the allocation check saw nothing".to_owned());
    }
    if !r.fault_kinds_not_fired.is_empty() {
        failed.push(format!("fault kinds that never fired: {}", r.fault_kinds_not_fired.join(", ")));
    }
    failed
}

/// The human report.
fn print_report(r: &SoakReport, out: &mut dyn Write) -> io::Result<()> {
    let verdict = |ok: bool| if ok { "ok" } else { "FAILED" };
    writeln!(
        out,
        "scalpel demo --soak: {} × {} ({}) for {:.0} s (warm at {:.0} s), profile {}",
        r.venues.join(" + "),
        r.symbols.join(" + "),
        r.input,
        r.traded_s,
        r.warm_at_s,
        r.profile
    )?;
    writeln!(out, "  engine: {} connections on both venues; {}", r.connections, r.pinning)?;
    writeln!(out, "  faults spec: {}", r.faults)?;
    let injected: Vec<String> = r.faults_injected.iter().map(|(k, n)| format!("{k} {n}")).collect();
    writeln!(
        out,
        "faults: {} injected ({}); kinds never fired: {} [{}]",
        r.faults_total,
        injected.join(", "),
        if r.fault_kinds_not_fired.is_empty() { "none".to_owned() } else { r.fault_kinds_not_fired.join(", ") },
        verdict(r.fault_kinds_not_fired.is_empty())
    )?;
    let o = &r.orders;
    writeln!(
        out,
        "orders: sent {}, acked {}, fills {} (recovered by fetches {}: {} pages asked, {} failed), cancelled {}, expired {}, rejected {}, answers lost and queried {} (settled {}), duplicates dropped {}, LOST {} [{}]; the simulators read {} order requests",
        o.sent,
        o.acked,
        o.fills,
        o.fills_recovered,
        o.fill_fetches,
        o.fill_fetches_failed,
        o.cancelled,
        o.expired,
        o.rejected,
        o.queried,
        o.settled_by_query,
        o.duplicates_dropped,
        o.lost,
        verdict(o.lost == 0),
        o.sim_requests
    )?;
    writeln!(
        out,
        "positions (engine ledger | simulator account): before the stop [{}], after the stop's flatten [{}]",
        verdict(r.positions_agree_before_stop),
        verdict(r.positions_agree_after_stop)
    )?;
    for i in &r.instruments {
        writeln!(
            out,
            "  {:<22} before {} | {}   after {} | {}",
            i.name,
            i.engine_position_before_stop,
            i.sim_position_before_stop,
            i.engine_position_after_stop,
            i.sim_position_after_stop
        )?;
    }
    writeln!(
        out,
        "books: {} published, {} crossed [{}], {} stale (more than 1 s older than one published before) [{}]; replay {} of {} intents identical",
        r.books_published,
        r.crossed_books_published,
        verdict(r.crossed_books_published == 0),
        r.stale_books_published,
        verdict(r.stale_books_published == 0),
        r.replay_matched_intents,
        r.intents
    )?;
    writeln!(
        out,
        "resyncs: {} requested (counter), {} seen as events [{}], disconnects {}; longest out of sync {} ms, bound {} ms [{}]",
        r.resyncs,
        r.resync_events,
        verdict(r.events_dropped > 0 || r.resync_events == r.resyncs),
        r.disconnects,
        r.max_out_of_sync_ms,
        r.out_of_sync_bound_ms,
        verdict(r.max_out_of_sync_ms <= r.out_of_sync_bound_ms)
    )?;
    for i in &r.instruments {
        writeln!(
            out,
            "  {:<22} resyncs {} (sync machine {}), out of sync {} times, longest {} ms, {} at the end",
            i.name,
            i.resync_events,
            i.sync_resyncs,
            i.outages,
            i.max_out_of_sync_ms,
            if i.in_sync_at_end { "in sync" } else { "OUT OF SYNC" }
        )?;
    }
    let mib = |k: u64| k as f64 / 1024.0;
    writeln!(
        out,
        "memory: RSS {:.1} MiB after the warm-up, {:.1} MiB at the end ({:+.2}%), max {:.1} MiB; allowed +{:.1} MiB [{}]",
        mib(r.rss_warm_kib),
        mib(r.rss_end_kib),
        if r.rss_warm_kib > 0 { (r.rss_end_kib as f64 / r.rss_warm_kib as f64 - 1.0) * 100.0 } else { 0.0 },
        mib(r.rss_max_kib),
        mib(r.rss_allowed_growth_kib),
        verdict(r.rss_end_kib > 0 && r.rss_end_kib <= r.rss_warm_kib + r.rss_allowed_growth_kib)
    )?;
    writeln!(
        out,
        "hot-thread allocations after the warm-up: {} in {} steady windows [{}], {} in {} windows with a reconnect or a control path (allowed); {} before",
        r.hot_allocations_steady,
        r.windows_steady,
        verdict(r.allocation_counter_live && r.hot_allocations_steady == 0 && r.windows_steady > 0),
        r.hot_allocations_control,
        r.windows_control,
        r.hot_allocations_at_warmup
    )?;
    for w in &r.steady_allocating_windows {
        writeln!(
            out,
            "  allocated in a steady window: {} at {:.1} s (unix ns {}..{})",
            w.allocations, w.at_s, w.from_unix_ns, w.to_unix_ns
        )?;
    }
    if !r.steady_allocating_windows.is_empty() {
        writeln!(
            out,
            "  to see where: rerun with SCALPEL_TRACE_HOT_ALLOCATIONS=AFTER_S:N (a backtrace per hot-thread allocation on stderr, README)"
        )?;
    }
    if r.failed.is_empty() {
        writeln!(out, "soak: PASSED")?;
    } else {
        writeln!(out, "soak: FAILED: {}", r.failed.join("; "))?;
    }
    writeln!(out, "session files: {}", r.dir)?;
    Ok(())
}
