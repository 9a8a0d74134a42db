//! `scalpel sim`: run the local exchange until stopped (SIGINT / SIGTERM),
//! for `--duration`, or until the replay ends (`--exit-when-done`).
//!
//! On start it prints the values to pass to a client (`--rest-url`,
//! `--ws-url`, `--ws-api-url`, `--ca-file`) and one JSON line with the same
//! facts for scripts; on exit, the final report as one JSON line on stdout
//! (or into `--report FILE`) and a one-line summary on stderr.
//!
//! API secrets come from the environment variable each `--secret-env`
//! names; they are keyed into HMAC at once and never printed.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::backtest::config::FillModel;
use crate::fixed::{E8, Notional, parse_decimal};
use crate::instrument::Symbol;
use crate::sim::{AccountSpec, FaultPlan, MarketInput, SimConfig, Simulator, parse_duration};
use crate::venue::Venue;
use crate::venue::credentials::{ApiKey, Credentials};

/// Fill model as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FillModelArg {
    /// A resting order fills only when a trade prints through its price.
    TradeThrough,
    /// Also when a trade prints at its price (up to that trade's size).
    Touch,
}

/// Arguments of `scalpel sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Which venue's protocols to speak: binance-usdm or bybit-linear.
    #[arg(long)]
    pub venue: Venue,
    /// Recording(s) to replay (`<local_ts_ns> <frame>` per line, plain or gzip), merged by time.
    #[arg(long, num_args = 1.., conflicts_with = "synth_seed")]
    pub input: Vec<PathBuf>,
    /// Replay a synthetic session with this seed instead of a recording (the default when no --input: seed 42).
    #[arg(long)]
    pub synth_seed: Option<u64>,
    /// Symbols of the synthetic session (built-in instruments), comma-separated.
    #[arg(long, default_value = "BTCUSDT", value_delimiter = ',', conflicts_with = "input")]
    pub synth_symbols: Vec<Symbol>,
    /// Length of the synthetic session, seconds of exchange time.
    #[arg(long, default_value_t = 3600.0, conflicts_with = "input")]
    pub synth_secs: f64,
    /// Replay speed (1 = real pace).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Address to listen on; port 0 picks a free port (printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// An API key the simulator accepts (repeat for more accounts; the N-th
    /// --secret-env and --ed25519-pubkey belong to the N-th key).
    #[arg(long)]
    pub api_key: Vec<String>,
    /// Name of the environment variable holding the HMAC secret of the
    /// matching --api-key (never printed).
    #[arg(long)]
    pub secret_env: Vec<String>,
    /// Ed25519 public key (PEM) registered for the matching --api-key
    /// (Binance `session.logon` and Ed25519-signed requests).
    #[arg(long)]
    pub ed25519_pubkey: Vec<PathBuf>,
    /// Instruments: TOML like tuning/instruments.toml, or the venue's metadata JSON. Default: the built-in table.
    #[arg(long)]
    pub instruments: Option<PathBuf>,
    /// Time from reading an order request to matching it (e.g. 1ms, 250us).
    #[arg(long, default_value = "1ms")]
    pub order_latency: String,
    /// Fill model of resting orders (the backtest's).
    #[arg(long, value_enum, default_value_t = FillModelArg::TradeThrough)]
    pub fill_model: FillModelArg,
    /// Starting USDT balance of every account.
    #[arg(long, default_value = "10000")]
    pub balance: String,
    /// Leverage every position is margined at.
    #[arg(long, default_value_t = 20)]
    pub leverage: u32,
    /// Faults to inject: `all`, `none`, or rules such as `gap:nth=200,disconnect:at=30s` (see the README).
    #[arg(long, default_value = "none")]
    pub faults: String,
    /// Seed of every fault decision.
    #[arg(long, default_value_t = 1)]
    pub fault_seed: u64,
    /// Binance: server ping interval.
    #[arg(long, default_value = "3m")]
    pub ping_interval: String,
    /// Binance: close a connection whose ping stays unanswered this long.
    #[arg(long, default_value = "10m")]
    pub pong_timeout: String,
    /// Bybit: close a connection that sends nothing (no ping) this long.
    #[arg(long, default_value = "10m")]
    pub idle_timeout: String,
    /// Both venues: close connections at this age.
    #[arg(long, default_value = "24h")]
    pub max_connection_age: String,
    /// Binance request weight per minute per IP.
    #[arg(long, default_value_t = 2400)]
    pub weight_limit: u32,
    /// Orders per second per account and endpoint (Bybit) / per 10 s (Binance: this × 30).
    #[arg(long)]
    pub order_rate: Option<u32>,
    /// Where to write the CA certificate (PEM). Default: a new directory under the system temp dir.
    #[arg(long)]
    pub ca_out: Option<PathBuf>,
    /// Stop after this long (e.g. 90s, 10m). Default: run until SIGINT / SIGTERM.
    #[arg(long)]
    pub duration: Option<String>,
    /// Stop when the replay has published its last frame.
    #[arg(long)]
    pub exit_when_done: bool,
    /// Write the final report (JSON) here instead of stdout.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// Why `scalpel sim` could not run.
///
/// # Errors
/// From [`config`] and [`run`].
#[derive(Debug, thiserror::Error)]
pub enum SimCommandError {
    /// A bad option value.
    #[error("{0}")]
    Option(String),
    /// The simulator failed to start.
    #[error("{0}")]
    Start(#[from] crate::sim::SimError),
    /// Writing output failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn opt<T, E: std::fmt::Display>(name: &str, r: Result<T, E>) -> Result<T, SimCommandError> {
    r.map_err(|e| SimCommandError::Option(format!("{name}: {e}")))
}

/// Builds the simulator configuration from the arguments (reads the
/// secrets' environment variables and the key files).
///
/// # Errors
/// [`SimCommandError::Option`] naming the option that is wrong.
pub fn config(args: &SimArgs) -> Result<SimConfig, SimCommandError> {
    let input = if args.input.is_empty() {
        MarketInput::Synthetic {
            seed: args.synth_seed.unwrap_or(42),
            symbols: args.synth_symbols.clone(),
            duration_s: args.synth_secs,
        }
    } else {
        MarketInput::Recordings(args.input.clone())
    };
    let instruments =
        opt("--instruments", crate::commands::instruments::load(args.instruments.as_deref(), args.venue))?;
    let mut cfg = SimConfig::new(args.venue, input, instruments);
    cfg.speed = args.speed;
    if !(args.speed.is_finite() && args.speed > 0.0) {
        return Err(SimCommandError::Option(format!("--speed: must be a positive number (got {})", args.speed)));
    }
    cfg.listen = args.listen;
    if args.secret_env.len() > args.api_key.len() || args.ed25519_pubkey.len() > args.api_key.len() {
        return Err(SimCommandError::Option(
            "--secret-env / --ed25519-pubkey: more than --api-key (each belongs to the --api-key in the same position)"
                .into(),
        ));
    }
    for (n, key) in args.api_key.iter().enumerate() {
        let api_key = opt("--api-key", ApiKey::new(key.as_bytes()))?;
        let hmac = match args.secret_env.get(n) {
            Some(var) => {
                let secret = std::env::var(var).map_err(|_| {
                    SimCommandError::Option(format!("--secret-env: environment variable {var} is not set"))
                })?;
                Some(opt("--secret-env", Credentials::new(key.as_bytes(), secret.as_bytes()))?)
            }
            None => None,
        };
        let ed25519 = match args.ed25519_pubkey.get(n) {
            Some(path) => {
                let pem = std::fs::read_to_string(path)
                    .map_err(|e| SimCommandError::Option(format!("--ed25519-pubkey {}: {e}", path.display())))?;
                use ed25519_dalek::pkcs8::DecodePublicKey;
                Some(ed25519_dalek::VerifyingKey::from_public_key_pem(&pem).map_err(|e| {
                    SimCommandError::Option(format!(
                        "--ed25519-pubkey {}: not an Ed25519 public key PEM ({e})",
                        path.display()
                    ))
                })?)
            }
            None => None,
        };
        if hmac.is_none() && ed25519.is_none() {
            return Err(SimCommandError::Option(format!(
                "--api-key #{}: give a --secret-env (HMAC) or an --ed25519-pubkey for it",
                n + 1
            )));
        }
        cfg.accounts.push(AccountSpec { hmac, api_key, ed25519 });
    }
    cfg.order_latency = opt("--order-latency", parse_duration(&args.order_latency))?;
    cfg.fill_model = match args.fill_model {
        FillModelArg::TradeThrough => FillModel::TradeThrough,
        FillModelArg::Touch => FillModel::Touch,
    };
    cfg.initial_balance = Notional(opt("--balance", parse_decimal(args.balance.as_bytes(), E8, false))?);
    if args.leverage == 0 || args.leverage > 125 {
        return Err(SimCommandError::Option(format!("--leverage: must be 1 to 125 (got {})", args.leverage)));
    }
    cfg.leverage = args.leverage;
    cfg.faults = opt("--faults", FaultPlan::parse(&args.faults))?;
    cfg.fault_seed = args.fault_seed;
    cfg.heartbeat.ping_interval = opt("--ping-interval", parse_duration(&args.ping_interval))?;
    cfg.heartbeat.pong_timeout = opt("--pong-timeout", parse_duration(&args.pong_timeout))?;
    cfg.heartbeat.idle_timeout = opt("--idle-timeout", parse_duration(&args.idle_timeout))?;
    cfg.heartbeat.max_connection_age = opt("--max-connection-age", parse_duration(&args.max_connection_age))?;
    for (name, d) in [
        ("--ping-interval", cfg.heartbeat.ping_interval),
        ("--pong-timeout", cfg.heartbeat.pong_timeout),
        ("--idle-timeout", cfg.heartbeat.idle_timeout),
        ("--max-connection-age", cfg.heartbeat.max_connection_age),
    ] {
        if d < Duration::from_millis(100) {
            return Err(SimCommandError::Option(format!("{name}: must be at least 100ms")));
        }
    }
    cfg.limits.binance_weight_per_min = args.weight_limit;
    if let Some(r) = args.order_rate {
        if r == 0 {
            return Err(SimCommandError::Option("--order-rate: must be at least 1".into()));
        }
        cfg.limits.bybit_orders_per_s = r;
        cfg.limits.binance_orders_per_10s = r.saturating_mul(30);
        cfg.limits.binance_orders_per_min = r.saturating_mul(120);
    }
    cfg.ca_out = args.ca_out.clone();
    Ok(cfg)
}

/// Runs `scalpel sim`.
///
/// # Errors
/// [`SimCommandError`].
pub fn run(args: &SimArgs, out: &mut impl Write, err: &mut impl Write) -> Result<(), SimCommandError> {
    let cfg = config(args)?;
    let duration = args
        .duration
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(|e| SimCommandError::Option(format!("--duration: {e}")))?;
    let n_accounts = cfg.accounts.len();
    let faults_text = if cfg.faults.is_empty() { "none".to_owned() } else { args.faults.clone() };
    let (venue, speed) = (cfg.venue, cfg.speed);
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let sim = Simulator::start(cfg)?;
    let urls = sim.urls().clone();
    writeln!(
        out,
        "scalpel sim: {venue} on {} — {}, speed {speed}x, {n_accounts} account(s), faults: {faults_text}",
        urls.listen,
        sim.feed_labels().join(" + ")
    )?;
    writeln!(out, "  --rest-url {}", urls.rest_url)?;
    writeln!(out, "  --ws-url {}", urls.ws_url)?;
    writeln!(out, "  --ws-api-url {}", urls.ws_api_url)?;
    writeln!(out, "  --ca-file {}", sim.ca_file().display())?;
    writeln!(out, "  stats: {}", urls.stats_url)?;
    let facts = serde_json::json!({
        "venue": venue.name(),
        "listen": urls.listen.to_string(),
        "rest_url": urls.rest_url,
        "ws_url": urls.ws_url,
        "ws_api_url": urls.ws_api_url,
        "ca_file": sim.ca_file().display().to_string(),
        "stats_url": urls.stats_url,
    });
    writeln!(out, "{facts}")?;
    out.flush()?;
    if n_accounts == 0 {
        writeln!(err, "scalpel sim: no --api-key given: market data only, every order is refused")?;
    }
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        if args.exit_when_done && sim.feed_done() {
            break;
        }
    }
    let report = sim.stop();
    let json = serde_json::to_string(&report).unwrap_or_default();
    match &args.report {
        Some(path) => std::fs::write(path, json + "\n")?,
        None => writeln!(out, "{json}")?,
    }
    let faults: u64 = report.faults_injected.values().sum();
    writeln!(
        err,
        "scalpel sim: stopped after {:.1} s: {} frames published, {} orders accepted, {} rejected, {} fills, {} faults injected",
        report.uptime_s,
        report.frames_published,
        report.exchange.orders_accepted,
        report.exchange.orders_rejected,
        report.exchange.fills,
        faults
    )?;
    Ok(())
}
