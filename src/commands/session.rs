//! The pieces of an in-process session shared by `scalpel demo` and its
//! fault soak (`scalpel demo --soak`, [`super::soak`]): the session's
//! directory, profile and random keys, a simulator's configuration for one
//! venue, the engine's `live.toml` (one `[[venue]]` table per simulator),
//! the engine's start (tried again when an injected 429/418 refused a
//! start-up request), and the JSON report's writer.
//!
//! # Invariants
//! - The session's API secret is drawn at random, written only to
//!   owner-only files in the session's directory and never printed.
//! - Every simulator of a session gets the same account (one key, one
//!   secret), so one `api_key_file`/`secret_file` pair serves every venue.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::Serialize;

use crate::engine::{Engine, EngineError, EngineHandle, EngineInfo, Hooks, LiveConfig};
use crate::instrument::{InstrumentTable, LoadError, Symbol};
use crate::profile::Profile;
use crate::profile::backtest::LatencyModel;
use crate::sim::{AccountSpec, MarketInput, SimConfig, Simulator};
use crate::venue::Venue;
use crate::venue::credentials::{ApiKey, Credentials};

use super::demo::{BUILT_IN_PROFILE, DemoError};

/// The session's directory (`dir`, or a new one under the system's
/// temporary directory named after `what`), created; refused when it
/// already holds a flight recording.
///
/// # Errors
/// It cannot be created, or it holds a flight recording.
pub(crate) fn session_dir(dir: Option<&Path>, what: &str) -> Result<PathBuf, DemoError> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::temp_dir().join(format!(
            "scalpel-{what}-{}-{}",
            std::process::id(),
            crate::sim::stamps::unix_ms()
        )),
    };
    std::fs::create_dir_all(&dir).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    if dir.join("flight").exists() {
        return Err(LoadError::new("--dir", format!("{} already holds a flight recording", dir.display())).into());
    }
    Ok(dir)
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

/// The profile: `config` when given, else `defaults.local` under the
/// working directory, else the built-in copy (written into `dir`). Returns
/// its absolute path and how to name it.
///
/// # Errors
/// A path that cannot be made absolute, or `dir` not writable.
pub(crate) fn resolve_profile(
    config: Option<&Path>,
    dir: &Path,
    defaults: &ProfileDefault,
) -> io::Result<(PathBuf, String)> {
    Ok(match config {
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
    })
}

/// A fresh random API key and secret for this session, written to
/// owner-only files `api_key` and `secret` in `dir`; the simulator's
/// account for them.
///
/// # Errors
/// No system randomness, or the files cannot be written.
pub(crate) fn session_account(dir: &Path) -> Result<AccountSpec, DemoError> {
    let (api_key, secret) = session_keys()?;
    owner_only(&dir.join("api_key"), api_key.as_bytes())?;
    owner_only(&dir.join("secret"), secret.as_bytes())?;
    Ok(AccountSpec {
        hmac: Some(
            Credentials::new(api_key.as_bytes(), secret.as_bytes())
                .map_err(|e| LoadError::new("keys", format!("{e:?}")))?,
        ),
        api_key: ApiKey::new(api_key.as_bytes()).map_err(|e| LoadError::new("keys", format!("{e:?}")))?,
        ed25519: None,
    })
}

/// A simulator of `venue` on `input` with `account`, modelling the venue
/// the profile's backtest models: its order latency (when constant; else
/// 1 ms) and its fill model. No faults (the caller sets them).
pub(crate) fn sim_config(
    venue: Venue,
    input: MarketInput,
    table: InstrumentTable,
    profile: &Profile,
    account: AccountSpec,
) -> SimConfig {
    let mut sc = SimConfig::new(venue, input, table);
    sc.order_latency = match profile.backtest.order_latency {
        LatencyModel::Constant(ns) => Duration::from_nanos(ns),
        LatencyModel::Samples { .. } => Duration::from_millis(1),
    };
    sc.fill_model = profile.backtest.fill_model;
    sc.accounts.push(account);
    sc
}

/// Where the hot thread runs: `pin` when given, else the last CPU on a
/// machine with at least 4; busy-polling when asked, else when pinned.
pub(crate) fn pin_and_poll(pin: Option<usize>, busy_poll: Option<bool>) -> (Option<usize>, bool) {
    let cores = cpus();
    let pin = pin.or_else(|| (cores >= 4).then(|| cores - 1));
    (pin, busy_poll.unwrap_or(pin.is_some()))
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// How the report names where the hot thread ran.
pub(crate) fn pinning_label(info: &EngineInfo, busy: bool) -> String {
    info.pinning.clone().unwrap_or_else(|| {
        format!(
            "hot thread not pinned ({} CPUs: pinning needs at least 4), {}",
            cpus(),
            if busy { "busy-polling" } else { "polling with a 1 ms wait" }
        )
    })
}

/// The head of the session's `live.toml`: the profile, the journal, the
/// flight recording, the hot thread, flattening on exit. One
/// [`venue_table`] per simulator follows.
pub(crate) fn live_config_head(profile: &Path, pin: Option<usize>, busy: bool) -> String {
    format!(
        r#"# Written by scalpel demo: the engine against the in-process simulator.
profile = "{profile}"
journal = "journal.bin"
dry_run = false
record = "flight"

[hot]
busy_poll = {busy}
{core}

[flatten]
dark_after_ms = 3000
on_exit = true
"#,
        profile = toml_str(profile),
        core = pin.map_or(String::new(), |c| format!("core = {c}")),
    )
}

/// One `[[venue]]` table of `live.toml`: `symbols` on `sim` (its URLs and
/// CA), `streams` (a TOML array), the stale-stream watchdog, the session's
/// key files.
pub(crate) fn venue_table(sim: &Simulator, symbols: &[Symbol], streams: &str, stale_after_ms: u64) -> String {
    let urls = sim.urls();
    let symbols: Vec<String> = symbols.iter().map(|s| format!("\"{s}\"")).collect();
    format!(
        r#"
[[venue]]
venue = "{venue}"
symbols = [{symbols}]
streams = {streams}
order_transport = "ws"
rest_url = "{rest}"
ws_url = "{ws}"
ws_api_url = "{ws_api}"
ca_file = "{ca}"
stale_after_ms = {stale_after_ms}
api_key_file = "api_key"
secret_file = "secret"
"#,
        venue = sim.venue().name(),
        symbols = symbols.join(", "),
        rest = urls.rest_url,
        ws = urls.ws_url,
        ws_api = urls.ws_api_url,
        ca = toml_str(sim.ca_file()),
    )
}

/// The market streams the engine subscribes to on `venue` (a TOML array).
/// A recording carries only what was recorded (the Binance file in
/// ../shared/data has no markPrice): a stream that never speaks would be
/// reconnected as stale again and again. Bybit books: the recording's
/// `orderbook.200`; a synthetic session's `orderbook.50`.
pub(crate) fn streams(venue: Venue, recording: bool) -> String {
    match venue {
        Venue::BinanceUsdm if recording => r#"["depth", "bookTicker", "trade"]"#.to_owned(),
        Venue::BinanceUsdm => r#"["depth", "bookTicker", "trade", "markPrice"]"#.to_owned(),
        Venue::BybitLinear if recording => r#"["orderbook.200", "publicTrade", "tickers"]"#.to_owned(),
        Venue::BybitLinear => r#"["orderbook.50", "publicTrade", "tickers"]"#.to_owned(),
    }
}

fn toml_str(p: &Path) -> String {
    p.display().to_string().replace('\\', "\\\\").replace('"', "\\\"")
}

/// Starts the engine. With faults injected, a start-up request refused by
/// one (429, 418) fails the start as it would against a venue: it is tried
/// again, three times in all, saying so on `err` (prefixed `what`).
///
/// # Errors
/// The engine's error (the last one when every try failed).
pub(crate) fn start_engine(
    cfg: &LiveConfig,
    stop: &Arc<AtomicBool>,
    hooks: Hooks,
    faults: bool,
    what: &str,
    err: &mut dyn Write,
) -> Result<EngineHandle, DemoError> {
    let mut attempt = 1;
    loop {
        match Engine::start_with_hooks(cfg.clone(), Arc::clone(stop), hooks) {
            Ok(h) => return Ok(h),
            Err(e @ EngineError::Venue { .. }) if attempt < 3 && faults => {
                writeln!(err, "{what}: the engine could not start ({e}); starting it again")?;
                attempt += 1;
                std::thread::sleep(Duration::from_secs(2));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The report as pretty JSON into `path` (`-`: onto `out`).
///
/// # Errors
/// The file cannot be written.
pub(crate) fn write_json<T: Serialize>(report: &T, path: &Path, out: &mut dyn Write) -> io::Result<()> {
    let text = serde_json::to_string_pretty(report).map_err(io::Error::other)?;
    if path.as_os_str() == "-" {
        writeln!(out, "{text}")
    } else {
        std::fs::write(path, text + "\n")
            .map_err(|e| io::Error::new(e.kind(), format!("--json {}: {e}", path.display())))?;
        writeln!(out, "report: {}", path.display())
    }
}

/// A random API key and secret for one session (never printed).
fn session_keys() -> io::Result<(String, String)> {
    use ring::rand::SecureRandom as _;
    let rng = ring::rand::SystemRandom::new();
    let mut bytes = [0u8; 40];
    rng.fill(&mut bytes).map_err(|_| io::Error::other("no system randomness for the session keys"))?;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    Ok((format!("demo{}", hex(&bytes[..8])), hex(&bytes[8..])))
}

fn owner_only(path: &Path, contents: &[u8]) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
        f.write_all(contents)
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, contents)
    }
}
