//! `scalpel run --config tuning/live.toml`: the live engine
//! ([`crate::engine`]) at the command line — options over the
//! configuration, the status line every few seconds and the engine's
//! events on stderr, and the closing summary.
//!
//! Everything printed here is formatted on this (the caller's) thread from
//! what the engine publishes; the hot thread formats nothing.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::engine::status::state_name;
use crate::engine::{Counter, Engine, EngineError, EngineEvent, EngineInfo, EngineReport, LiveConfig};
use crate::instrument::LoadError;
use crate::net::endpoints::Network;

/// Options of `scalpel run` (each overrides the configuration).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The live configuration (`tuning/live.toml`).
    pub config: PathBuf,
    /// Paper trading.
    pub dry_run: bool,
    /// Flight recorder directory.
    pub record: Option<PathBuf>,
    /// Journal file.
    pub journal: Option<PathBuf>,
    /// Mainnet or testnet.
    pub network: Option<Network>,
    /// REST base (one venue configured).
    pub rest_url: Option<String>,
    /// Stream base (one venue configured).
    pub ws_url: Option<String>,
    /// Order WebSocket (one venue configured).
    pub ws_api_url: Option<String>,
    /// Extra trusted CAs (every venue).
    pub ca_file: Option<PathBuf>,
    /// Stop after this many seconds (else at SIGINT / SIGTERM).
    pub duration: Option<f64>,
    /// Status line period, seconds (0: none).
    pub status_secs: f64,
}

/// Why `scalpel run` failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Configuration.
    #[error("{0}")]
    Config(#[from] LoadError),
    /// The engine.
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// Writing to stderr failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The configuration with the command line's overrides applied.
///
/// # Errors
/// [`LoadError`] naming the option.
pub fn effective_config(opts: &RunOptions) -> Result<LiveConfig, LoadError> {
    let mut cfg = LiveConfig::from_file(&opts.config)?;
    if opts.dry_run {
        cfg.dry_run = true;
    }
    if let Some(r) = &opts.record {
        cfg.record = Some(r.clone());
    }
    if let Some(j) = &opts.journal {
        cfg.journal = j.clone();
    }
    if let Some(n) = opts.network {
        cfg.network = n;
    }
    let single = opts.rest_url.is_some() || opts.ws_url.is_some() || opts.ws_api_url.is_some();
    if single && cfg.venues.len() != 1 {
        return Err(LoadError::new(
            "--rest-url/--ws-url/--ws-api-url",
            "apply to a configuration with one venue; set rest_url/ws_url/ws_api_url per [[venue]] instead",
        ));
    }
    for v in &mut cfg.venues {
        if let Some(u) = &opts.rest_url {
            v.rest_url = Some(u.clone());
        }
        if let Some(u) = &opts.ws_url {
            v.ws_url = Some(u.clone());
        }
        if let Some(u) = &opts.ws_api_url {
            v.ws_api_url = Some(u.clone());
        }
        if let Some(c) = &opts.ca_file {
            v.ca_file = Some(c.clone());
        }
    }
    Ok(cfg)
}

/// One event as a line for the operator.
#[must_use]
pub fn describe(event: &EngineEvent, info: &EngineInfo) -> String {
    let conn = |c: u16| info.conns.get(usize::from(c)).map_or("?", String::as_str).to_owned();
    let inst = |i: crate::instrument::InstrumentId| {
        info.instrument_names.get(usize::from(i.0)).map_or("?", String::as_str).to_owned()
    };
    match *event {
        EngineEvent::Conn { conn: c, state, reason } => match reason {
            Some(r) => format!("{} {} ({r}); reconnecting", conn(c), state_name(state)),
            None => format!("{} {}", conn(c), state_name(state)),
        },
        EngineEvent::Authenticated { conn: c } => format!("{} authenticated", conn(c)),
        EngineEvent::AuthRejected { conn: c, code } => {
            format!("{} authentication REFUSED by the venue (code {code}); retrying with backoff", conn(c))
        }
        EngineEvent::Replaced { conn: c } => format!("{} replaced before its age limit", conn(c)),
        EngineEvent::ListenKey { venue, after_expiry } => {
            format!("{venue} listenKey {}", if after_expiry { "re-created after expiry" } else { "renewed" })
        }
        EngineEvent::Resync { inst: i } => format!("{} book resync", inst(i)),
        EngineEvent::SnapshotFailed { inst: i, status } => {
            format!("{} depth snapshot failed (HTTP {status}); retrying", inst(i))
        }
        EngineEvent::Feed { feed, up } => format!("feed {} {}", feed.0, if up { "subscribed" } else { "down" }),
        EngineEvent::DarkFlatten { inst: i } => {
            format!("{}: market data dark with a position open: FLATTENING", inst(i))
        }
        EngineEvent::OrderUnknown { client } => {
            format!("order {} answer lost: querying the venue", client.render().as_str())
        }
        EngineEvent::OrderResolved { client } => format!("order {} settled by query", client.render().as_str()),
        EngineEvent::OrderLost { client } => {
            format!("order {} still UNSETTLED at exit: check it at the venue", client.render().as_str())
        }
        EngineEvent::SendFailed { client } => {
            format!("order {} could not be sent (reported to the core)", client.render().as_str())
        }
        EngineEvent::DeadmanFailed { venue, status } => format!("{venue} dead-man refresh FAILED (HTTP {status})"),
        EngineEvent::Stopping { flatten } => {
            format!("stopping: cancelling all orders{}", if flatten { " and closing positions" } else { "" })
        }
        EngineEvent::FillsFetched { venue, rows, recovered, foreign, failed } => {
            let mut line = format!(
                "{venue} fills fetched after a private-stream outage: {rows} rows, {recovered} missed fill(s) recovered"
            );
            if foreign > 0 {
                line.push_str(&format!(", {foreign} about orders not ours (not applied)"));
            }
            if failed > 0 {
                line.push_str(&format!("; {failed} symbol(s) FAILED after every try"));
            }
            line
        }
        EngineEvent::RiskGone => "the risk thread is gone: trading HALTED".into(),
        EngineEvent::ExitRequested => "the risk thread asked to exit".into(),
    }
}

/// Runs `scalpel run` until `stop` (SIGINT/SIGTERM) or `--duration`;
/// status and events go to `err`.
///
/// # Errors
/// [`RunError`].
pub fn run(
    opts: &RunOptions,
    stop: Arc<AtomicBool>,
    hooks: crate::engine::Hooks,
    err: &mut dyn Write,
) -> Result<EngineReport, RunError> {
    let cfg = effective_config(opts)?;
    let dry = cfg.dry_run;
    writeln!(
        err,
        "run: starting ({}{})",
        if dry { "DRY RUN: no order reaches a venue" } else { "LIVE" },
        match cfg.network {
            Network::Mainnet => ", mainnet",
            Network::Testnet => ", testnet",
        }
    )?;
    let handle = Engine::start_with_hooks(cfg, Arc::clone(&stop), hooks)?;
    let info = handle.info().clone();
    writeln!(
        err,
        "run: {} connection(s), instruments {}, journal {}{}",
        info.conns.len(),
        info.instrument_names.join(", "),
        info.journal.display(),
        info.record.as_ref().map_or(String::new(), |r| format!(", flight recording {}", r.display()))
    )?;
    if let Some(p) = &info.pinning {
        writeln!(err, "run: {p}")?;
    }
    if !info.venue_leverage.is_empty() {
        let set: Vec<String> = info.venue_leverage.iter().map(|(name, l)| format!("{name} {l}x")).collect();
        writeln!(err, "run: leverage set on the venue: {}", set.join(", "))?;
    }
    if let Some(m) = info.metrics {
        writeln!(err, "run: Prometheus metrics on http://{m}/metrics")?;
    }
    let started = Instant::now();
    let mut last_status = Instant::now();
    let mut prev = None;
    while !handle.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        while let Some(e) = handle.next_event() {
            writeln!(err, "run: {}", describe(&e, &info))?;
        }
        if opts.duration.is_some_and(|d| started.elapsed().as_secs_f64() >= d) {
            handle.stop();
        }
        if opts.status_secs > 0.0 && last_status.elapsed().as_secs_f64() >= opts.status_secs {
            last_status = Instant::now();
            let s = handle.stats();
            writeln!(
                err,
                "{} | hot-thread allocations {}",
                s.status_line(prev.as_ref(), &info.conns, &info.instrument_names),
                s.get(Counter::HotAllocations)
            )?;
            prev = Some(s);
        }
    }
    while let Some(e) = handle.next_event() {
        writeln!(err, "run: {}", describe(&e, &info))?;
    }
    let report = handle.join()?;
    let s = &report.hot.stats;
    writeln!(
        err,
        "run: done. orders sent {} ({} WebSocket, {} REST), acked {}, fills {}, cancelled {}, expired {}, rejected {}, send failures {}, answers lost and queried {} (settled {}), LOST {}; disconnects {}, resyncs {}; realised PnL {:.4} USDT; journal {} records ({} telemetry dropped){}",
        s.get(Counter::OrdersSent),
        s.get(Counter::OrdersWs),
        s.get(Counter::OrdersRest),
        s.get(Counter::Acked),
        s.get(Counter::Fills),
        s.get(Counter::Cancelled),
        s.get(Counter::Expired),
        s.get(Counter::Rejected),
        s.get(Counter::SendFailures),
        s.get(Counter::Unknown),
        s.get(Counter::Resolved),
        report.hot.lost.len(),
        s.get(Counter::Disconnects),
        s.get(Counter::Resyncs),
        s.realised_e8 as f64 / 1e8,
        report.journal_records,
        report.telemetry_dropped,
        report
            .hot
            .recording
            .as_ref()
            .map_or(String::new(), |r| format!("; flight recording: {} records, {} dropped", r.records, r.dropped)),
    )?;
    Ok(report)
}
