//! Helpers for the live engine's tests: a simulator (`scalpel sim`, in
//! process, TLS on loopback) with one account whose keys the engine reads
//! from owner-only files, and a `tuning/live.toml` pointing the engine at it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use scalpel::engine::{Counter, Engine, EngineHandle, EngineStats, LiveConfig};
use scalpel::sim::{AccountSpec, MarketInput, SimConfig, Simulator};
use scalpel::venue::Venue;
use scalpel::venue::credentials::{ApiKey, Credentials};

pub const KEY: &str = "engineTestKey42";
pub const SECRET: &str = "engine-test-secret-not-real";
pub const ED_SEED: [u8; 32] = [11u8; 32];

/// A fresh directory for one test.
pub fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scalpel-engine-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn owner_only(path: &Path, contents: &[u8]) {
    std::fs::write(path, contents).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// Writes the account's keys (API key, HMAC secret, Ed25519 private key PEM) into `dir`.
pub fn write_keys(dir: &Path) {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    owner_only(&dir.join("api_key"), KEY.as_bytes());
    owner_only(&dir.join("secret"), SECRET.as_bytes());
    let signing = ed25519_dalek::SigningKey::from_bytes(&ED_SEED);
    let pem = signing.to_pkcs8_pem(Default::default()).unwrap();
    owner_only(&dir.join("ed25519.pem"), pem.as_bytes());
}

/// A simulator of `venue` on a synthetic BTCUSDT session with the test
/// account (HMAC secret and Ed25519 public key).
pub fn start_sim(venue: Venue, tweak: impl FnOnce(&mut SimConfig)) -> Simulator {
    let input = MarketInput::Synthetic { seed: 3, symbols: vec!["BTCUSDT".parse().unwrap()], duration_s: 900.0 };
    let table = scalpel::instrument::InstrumentTable::built_in().unwrap();
    let mut cfg = SimConfig::new(venue, input, table);
    cfg.order_latency = Duration::from_micros(500);
    cfg.accounts.push(AccountSpec {
        hmac: Some(Credentials::new(KEY.as_bytes(), SECRET.as_bytes()).unwrap()),
        api_key: ApiKey::new(KEY.as_bytes()).unwrap(),
        ed25519: Some(ed25519_dalek::SigningKey::from_bytes(&ED_SEED).verifying_key()),
    });
    tweak(&mut cfg);
    Simulator::start(cfg).expect("simulator starts")
}

/// The busy test profile with signal windows short enough to warm up
/// within seconds of live (real-pace) data: the strategy trades in a test's
/// time. Not a trading profile.
pub fn busy_live_profile_text() -> String {
    let text = crate::common::busy_profile_text();
    let at = text.find("\n[signals]").expect("the profile has a [signals] table") + 1;
    format!(
        "{}[signals]\nvwap_window_ms = 4000\nprofile_slices = 4\nvolatility_half_life_ms = 2000\nsample_ms = 250\nou_window_ms = 4000\nregime_window_ms = 6000\nregime_coarse_samples = 3\nregime_vol_window_ms = 6000\nregime_min_dwell_ms = 1000\nmomentum_short_ms = 1500\nmomentum_long_ms = 4500\nsurge_windows = 3\n",
        &text[..at]
    )
}

/// Options of a test configuration.
#[derive(Debug, Clone)]
pub struct Opts {
    pub dry_run: bool,
    pub ed25519: bool,
    pub transport: &'static str,
    pub record: bool,
    pub extra: String,
    pub venue_extra: String,
    /// Text replacements in the busy profile (`from`, `to`).
    pub profile: Vec<(&'static str, &'static str)>,
    /// Poll with a zero timeout (else wait up to 1 ms: kinder to a shared CI machine).
    pub busy_poll: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            dry_run: false,
            ed25519: false,
            transport: "ws",
            record: false,
            extra: String::new(),
            venue_extra: String::new(),
            profile: Vec::new(),
            busy_poll: false,
        }
    }
}

/// A `tuning/live.toml` for `sim` with the busy test profile, written into `dir`.
pub fn write_config(sim: &Simulator, dir: &Path, o: &Opts) -> PathBuf {
    write_keys(dir);
    let mut profile = busy_live_profile_text();
    for (from, to) in &o.profile {
        assert!(profile.contains(from), "the busy profile has no {from:?}");
        profile = profile.replace(from, to);
    }
    std::fs::write(dir.join("busy.toml"), profile).unwrap();
    let urls = sim.urls();
    let venue = sim.venue();
    let streams = match venue {
        Venue::BinanceUsdm => r#"["depth", "bookTicker", "trade", "markPrice"]"#,
        Venue::BybitLinear => r#"["orderbook.50", "publicTrade", "tickers"]"#,
    };
    let keys = if o.ed25519 {
        "api_key_file = \"api_key\"\ned25519_key_file = \"ed25519.pem\"\n"
    } else {
        "api_key_file = \"api_key\"\nsecret_file = \"secret\"\n"
    };
    let text = format!(
        r#"profile = "busy.toml"
journal = "journal.bin"
dry_run = {dry}
{record}
[hot]
busy_poll = {busy}
{extra}
[[venue]]
venue = "{venue}"
symbols = ["BTCUSDT"]
streams = {streams}
order_transport = "{transport}"
rest_url = "{rest}"
ws_url = "{ws}"
ws_api_url = "{ws_api}"
ca_file = "{ca}"
stale_after_ms = 3000
{keys}{venue_extra}
"#,
        dry = o.dry_run,
        busy = o.busy_poll,
        record = if o.record { "record = \"flight\"" } else { "" },
        extra = o.extra,
        venue = venue.name(),
        transport = o.transport,
        rest = urls.rest_url,
        ws = urls.ws_url,
        ws_api = urls.ws_api_url,
        ca = sim.ca_file().display(),
        venue_extra = o.venue_extra,
    );
    let path = dir.join("live.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts the engine on a configuration file.
pub fn start_engine(config: &Path) -> EngineHandle {
    let cfg = LiveConfig::from_file(config).expect("config loads");
    Engine::start(cfg, Arc::new(AtomicBool::new(false))).expect("engine starts")
}

/// Waits until `done` holds for the published stats (printing the engine's
/// events as they come), or panics after `timeout` with the last stats.
pub fn wait_for(h: &EngineHandle, timeout: Duration, what: &str, done: impl Fn(&EngineStats) -> bool) -> EngineStats {
    let start = Instant::now();
    loop {
        while let Some(e) = h.next_event() {
            eprintln!("  engine: {}", scalpel::commands::run::describe(&e, h.info()));
        }
        let s = h.stats();
        if done(&s) {
            return s;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out waiting for {what}: {}",
            s.status_line(None, &h.info().conns, &h.info().instrument_names)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The engine has sent at least `n` orders and seen at least `n` fills and
/// `n` answers. (Fills alone are not orders: a market order that walks the
/// book fills in several executions, and a CI run saw 3 fills of 2 orders.)
pub fn traded(n: u64) -> impl Fn(&EngineStats) -> bool {
    move |s| {
        s.get(Counter::OrdersSent) >= n
            && s.get(Counter::Fills) >= n
            && s.get(Counter::Acked) + s.get(Counter::Fills) >= n
    }
}

/// Stops the engine and drains its events.
pub fn stop(h: EngineHandle) -> scalpel::engine::EngineReport {
    h.stop();
    while !h.is_finished() {
        while let Some(e) = h.next_event() {
            eprintln!("  engine: {}", scalpel::commands::run::describe(&e, h.info()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    while let Some(e) = h.next_event() {
        eprintln!("  engine: {}", scalpel::commands::run::describe(&e, h.info()));
    }
    h.join().expect("engine ends cleanly")
}
