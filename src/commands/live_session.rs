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
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::demo::{BUILT_IN_PROFILE, DemoError, DemoOptions};
use crate::engine::{Engine, EngineHandle, EngineInfo, EngineReport, Hooks, LiveConfig};
use crate::instrument::{InstrumentTable, LoadError};
use crate::profile::Profile;
use crate::profile::backtest::LatencyModel;
use crate::sim::stamps::{FrameStamp, OrderStamp, PublishedFrame};
use crate::sim::{AccountSpec, FaultPlan, MarketInput, SimConfig, SimReport, Simulator};
use crate::venue::credentials::{ApiKey, Credentials};

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
    let dir = match &opts.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!(
            "scalpel-{}-{}-{}",
            defaults.name,
            std::process::id(),
            crate::sim::stamps::unix_ms()
        )),
    };
    std::fs::create_dir_all(&dir).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    let flight = dir.join("flight");
    if flight.exists() {
        return Err(LoadError::new("--dir", format!("{} already holds a flight recording", dir.display())).into());
    }
    // The profile: given, the local tuning file, or the built-in copy.
    let (profile_path, profile_label) = match &opts.config {
        Some(p) => (std::path::absolute(p)?, p.display().to_string()),
        None => {
            let local = PathBuf::from(defaults.local);
            if local.is_file() {
                (std::path::absolute(&local)?, defaults.local.to_owned())
            } else {
                let p = dir.join(defaults.file_name);
                std::fs::write(&p, defaults.text)?;
                (p, format!("built-in {}", defaults.local))
            }
        }
    };
    let profile = Profile::from_file(&profile_path)?;
    let order_latency = match profile.backtest.order_latency {
        LatencyModel::Constant(ns) => Duration::from_nanos(ns),
        LatencyModel::Samples { .. } => Duration::from_millis(1),
    };

    // Keys: a fresh random secret for this session, in owner-only files.
    let (api_key, secret) = super::demo::session_keys()?;
    super::demo::owner_only(&dir.join("api_key"), api_key.as_bytes())?;
    super::demo::owner_only(&dir.join("secret"), secret.as_bytes())?;

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
    let mut sc = SimConfig::new(opts.venue, input, table);
    sc.order_latency = order_latency;
    sc.fill_model = profile.backtest.fill_model;
    sc.faults = faults;
    sc.fault_seed = opts.fault_seed;
    sc.ca_out = Some(dir.join("ca.pem"));
    sc.accounts.push(AccountSpec {
        hmac: Some(
            Credentials::new(api_key.as_bytes(), secret.as_bytes())
                .map_err(|e| LoadError::new("keys", format!("{e:?}")))?,
        ),
        api_key: ApiKey::new(api_key.as_bytes()).map_err(|e| LoadError::new("keys", format!("{e:?}")))?,
        ed25519: None,
    });
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
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let pin = opts.pin.or_else(|| (cores >= 4).then(|| cores - 1));
    let busy = opts.busy_poll.unwrap_or(pin.is_some());
    let cfg_path = super::demo::write_live_config(&sim, &dir, &profile_path, opts, pin, busy)?;
    let cfg = LiveConfig::from_file(&cfg_path)?;
    let stop = Arc::new(AtomicBool::new(false));
    // A start-up request refused by an injected fault (429, 418) fails the
    // engine's start, as it would against a venue: try again, three times.
    let mut attempt = 1;
    let handle = loop {
        match Engine::start_with_hooks(cfg.clone(), Arc::clone(&stop), hooks) {
            Ok(h) => break h,
            Err(e @ crate::engine::EngineError::Venue { .. }) if attempt < 3 && opts.faults.is_some() => {
                writeln!(err, "{}: the engine could not start ({e}); starting it again", defaults.name)?;
                attempt += 1;
                std::thread::sleep(Duration::from_secs(2));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let info = handle.info().clone();
    let pinning = info.pinning.clone().unwrap_or_else(|| {
        format!(
            "hot thread not pinned ({cores} CPUs: pinning needs at least 4), {}",
            if busy { "busy-polling" } else { "polling with a 1 ms wait" }
        )
    });
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

/// Where a command's default profile comes from.
#[derive(Debug, Clone, Copy)]
pub struct ProfileDefault {
    /// The command, for progress lines and the session directory's name.
    pub name: &'static str,
    /// The profile under the working directory used when it exists.
    pub local: &'static str,
    /// The built-in copy's text, written into the session's directory otherwise.
    pub text: &'static str,
    /// Its file name there.
    pub file_name: &'static str,
}

/// `scalpel demo`'s default: `tuning/demo.toml`.
pub const DEMO_PROFILE: ProfileDefault =
    ProfileDefault { name: "demo", local: "tuning/demo.toml", text: BUILT_IN_PROFILE, file_name: "demo.toml" };

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
