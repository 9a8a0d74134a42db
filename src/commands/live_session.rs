//! One live session on loopback: `scalpel sim` in process (TLS with its
//! generated CA; a synthetic session or a recording) and the live engine
//! (`scalpel run`'s code) trading against it for a while, then stopped
//! cleanly, with the simulator's wire stamps taken. `scalpel demo` and
//! `scalpel latency --path wire` both run their sessions through here, so
//! both measure the same thing the same way.
//!
//! # Invariants
//! - The session's directory holds the keys (owner-only files, never
//!   printed), the generated `live.toml`, the journal and the flight
//!   recording; an existing flight recording there is refused, never
//!   overwritten.
//! - The stamps are taken after the engine has stopped and before the
//!   simulator stops, so every frame written and order read is in them
//!   (or counted as dropped by the simulator's rings).

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::demo::{DemoError, DemoOptions};
pub use super::session::{DEMO_PROFILE, ProfileDefault};
use super::session::{
    pin_and_poll, pinning_label, resolve_profile, session_account, session_dir, sim_config, start_engine,
};
use crate::engine::{EngineHandle, EngineInfo, EngineReport, Hooks, LiveConfig};
use crate::instrument::{InstrumentTable, LoadError};
use crate::profile::Profile;
use crate::sim::stamps::{FrameStamp, OrderStamp, PublishedFrame};
use crate::sim::{FaultPlan, MarketInput, SimReport, Simulator};

/// What a session is: where its files are, its profile, its market.
pub struct About {
    /// The session's directory.
    pub dir: PathBuf,
    /// The flight recording's directory (`dir/flight`).
    pub flight: PathBuf,
    /// The strategy profile.
    pub profile: Profile,
    /// How the profile was chosen (its path, or the built-in copy).
    pub profile_label: String,
    /// What the market is.
    pub input_label: String,
    /// Where the hot thread runs and how it polls.
    pub pinning: String,
}

/// A session started: the simulator and the engine trading against it.
pub struct Session {
    /// What it is.
    pub about: About,
    name: &'static str,
    sim: Simulator,
    handle: EngineHandle,
    info: EngineInfo,
}

/// The write an order read at `read_ns` reacted to: among the frames
/// published under the key of the frame the order reacted to (`seqs`: a
/// venue's id can repeat across topics, e.g. Bybit's order books served at
/// a derived depth count their own `u`, which meets the input book's), the
/// latest write to a connection at or before the read. A frame published
/// but written to no connection (a topic nobody subscribed) is never
/// chosen: pairing by the first frame under the key picked such frames and
/// left a Bybit session with few or no wire-to-wire samples.
#[must_use]
pub fn latest_write_before(seqs: &[u64], writes: &HashMap<u64, Vec<u64>>, read_ns: u64) -> Option<u64> {
    seqs.iter().filter_map(|s| writes.get(s)).flatten().copied().filter(|&w| w <= read_ns).max()
}

/// A session stopped: the engine's report and the simulator's stamps.
pub struct Finished {
    /// What it was.
    pub about: About,
    /// The engine's final report.
    pub engine: EngineReport,
    /// Market frames written, per connection.
    pub frames: Vec<FrameStamp>,
    /// Order requests read.
    pub orders: Vec<OrderStamp>,
    /// Frames published (once each).
    pub published: Vec<PublishedFrame>,
    /// The simulator's final report.
    pub sim: SimReport,
}

/// Starts the simulator and the engine for `opts`, with `opts.config` as
/// the profile, else `defaults`' (its local file, else its built-in copy).
///
/// # Errors
/// [`DemoError`]: bad options, the simulator or the engine failing to start.
pub fn start(
    opts: &DemoOptions,
    defaults: &ProfileDefault,
    hooks: Hooks,
    err: &mut dyn Write,
) -> Result<Session, DemoError> {
    if !(opts.duration_s.is_finite() && opts.duration_s > 0.0) {
        return Err(LoadError::new("--duration", "must be a positive number of seconds").into());
    }
    let faults = FaultPlan::parse(opts.faults.as_deref().unwrap_or("none"))
        .map_err(|e| LoadError::new("--faults", e.0.clone()))?;
    let dir = session_dir(opts.dir.as_deref(), defaults.name)?;
    let flight = dir.join("flight");
    let (profile_path, profile_label) = resolve_profile(opts.config.as_deref(), &dir, defaults)?;
    let profile = Profile::from_file(&profile_path)?;
    let account = session_account(&dir)?;

    // The simulator.
    let table = InstrumentTable::built_in()?;
    let (input, input_label) = match &opts.input {
        Some(p) => {
            let shifted = dir.join("input-now.txt");
            let moved_ms = super::demo::shift_recording(p, &shifted, crate::sim::stamps::unix_ms())?;
            (
                MarketInput::Recordings(vec![shifted]),
                format!("{} (its clock moved {:.1} days to the present)", p.display(), moved_ms as f64 / 86_400_000.0),
            )
        }
        None => (
            MarketInput::Synthetic {
                seed: opts.synth_seed,
                symbols: vec![opts.symbol],
                duration_s: opts.duration_s + 120.0,
            },
            format!("synthetic {} {} seed {}", opts.venue, opts.symbol, opts.synth_seed),
        ),
    };
    let mut sc = sim_config(opts.venue, input, table, &profile, account);
    sc.faults = faults;
    sc.fault_seed = opts.fault_seed;
    sc.ca_out = Some(dir.join("ca.pem"));
    let sim = Simulator::start(sc)?;
    writeln!(
        err,
        "{}: simulator {} on {} ({input_label}), CA {}",
        defaults.name,
        opts.venue,
        sim.urls().listen,
        sim.ca_file().display()
    )?;

    // The engine, on the simulator.
    let (pin, busy) = pin_and_poll(opts.pin, opts.busy_poll);
    let cfg_path = super::demo::write_live_config(&sim, &dir, &profile_path, opts, pin, busy)?;
    let cfg = LiveConfig::from_file(&cfg_path)?;
    let stop = Arc::new(AtomicBool::new(false));
    let handle = start_engine(&cfg, &stop, hooks, opts.faults.is_some(), defaults.name, err)?;
    let info = handle.info().clone();
    let pinning = pinning_label(&info, busy);
    writeln!(err, "{}: engine LIVE against the simulator: {} connections; {pinning}", defaults.name, info.conns.len())?;
    if let Some(m) = info.metrics {
        writeln!(err, "{}: Prometheus metrics on http://{m}/metrics", defaults.name)?;
    }
    writeln!(err, "{}: trading for {} s (profile {profile_label})", defaults.name, opts.duration_s)?;
    Ok(Session {
        about: About { dir, flight, profile, profile_label, input_label, pinning },
        name: defaults.name,
        sim,
        handle,
        info,
    })
}

impl Session {
    /// Where the engine serves its Prometheus metrics, when `opts.metrics` asked for them.
    #[must_use]
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.info.metrics
    }

    /// Trades for `opts.duration_s` (engine events and, every
    /// `opts.status_secs`, a status line on `err`), stops the engine and
    /// the simulator, and returns what they report.
    ///
    /// # Errors
    /// [`DemoError::Engine`] when the engine ended with an error; `err` failing.
    pub fn trade(self, opts: &DemoOptions, err: &mut dyn Write) -> Result<Finished, DemoError> {
        let Self { about, name, sim, handle, info } = self;
        let started = Instant::now();
        let mut last_status = Instant::now();
        let mut prev = None;
        while !handle.is_finished() {
            std::thread::sleep(Duration::from_millis(50));
            while let Some(e) = handle.next_event() {
                writeln!(err, "{name}: engine: {}", crate::commands::run::describe(&e, &info))?;
            }
            if started.elapsed().as_secs_f64() >= opts.duration_s {
                handle.stop();
            }
            if opts.status_secs > 0.0 && last_status.elapsed().as_secs_f64() >= opts.status_secs {
                last_status = Instant::now();
                let s = handle.stats();
                writeln!(err, "{}", s.status_line(prev.as_ref(), &info.conns, &info.instrument_names))?;
                prev = Some(s);
            }
        }
        while let Some(e) = handle.next_event() {
            writeln!(err, "{name}: engine: {}", crate::commands::run::describe(&e, &info))?;
        }
        let engine = handle.join()?;
        let frames = sim.take_frame_stamps();
        let orders = sim.take_order_stamps();
        let published = sim.take_published();
        let sim = sim.stop();
        Ok(Finished { about, engine, frames, orders, published, sim })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_write_paired_is_the_latest_before_the_read_among_every_frame_under_the_key() {
        // Seq 253: the input's orderbook.200 frame with u = 77, written to
        // nobody; seq 900: the derived orderbook.50 frame with the same
        // u = 77, written to two connections.
        let writes: HashMap<u64, Vec<u64>> = [(900, vec![5_000, 5_400]), (17, vec![100])].into_iter().collect();
        assert_eq!(latest_write_before(&[253, 900], &writes, 6_000), Some(5_400));
        assert_eq!(latest_write_before(&[253, 900], &writes, 5_200), Some(5_000), "a write after the read is not it");
        assert_eq!(latest_write_before(&[253, 900], &writes, 4_000), None, "nothing written before the read");
        assert_eq!(latest_write_before(&[253], &writes, 6_000), None, "published but written to nobody");
        assert_eq!(latest_write_before(&[], &writes, 6_000), None);
    }
}
