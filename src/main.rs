//! The `scalpel` command line: argument parsing and dispatch only. Each
//! subcommand's logic lives in `scalpel::commands`.

use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::error::ErrorKind;
use clap::{Parser, Subcommand};
use scalpel::alloc_count::CountingAlloc;
use scalpel::commands;
use scalpel::instrument::Symbol;
use scalpel::venue::Venue;

/// Counts allocations so `scalpel latency` can report allocations per frame.
/// One relaxed atomic add per allocation; the hot path does not allocate.
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// scalpel: a single-hot-thread scalping core for Binance USDⓈ-M and Bybit v5 linear perpetuals.
#[derive(Parser)]
#[command(name = "scalpel", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The one-command tour: the simulator and the live engine in process (real TLS, WebSockets
    /// and signed orders on loopback), trading for --duration, then a report: round trips and
    /// PnL, orders (lost must be 0), faults, tick-to-trade and wire-to-wire latency, crossed
    /// books, the same session's backtest with trade parity, and replay parity.
    Demo {
        /// Venue the simulator speaks: binance-usdm or bybit-linear.
        #[arg(long, default_value = "binance-usdm")]
        venue: Venue,
        /// Seconds of trading [default: 90; with --soak 600].
        #[arg(long)]
        duration: Option<f64>,
        /// The fault soak: both venues (a simulator each), BTCUSDT and ETHUSDT on each, every
        /// fault kind (--faults default: `all`'s rates, bans and listenKey expiries more often and a
        /// 5-minute connection lifetime, so every kind fires in 10 minutes);
        /// checks lost orders, positions against the simulators, crossed and stale books,
        /// resyncs and time out of sync, memory and hot-thread allocations.
        #[arg(long, conflicts_with_all = ["venue", "input", "symbol"])]
        soak: bool,
        /// With --soak: seconds after the start at which the warm-up ends [default: a quarter
        /// of --duration, at most 120].
        #[arg(long, requires = "soak")]
        warmup: Option<f64>,
        /// A recording to replay instead of the synthetic session.
        #[arg(long)]
        input: Option<PathBuf>,
        /// The instrument traded (built-in table).
        #[arg(long, default_value = "BTCUSDT")]
        symbol: Symbol,
        /// Seed of the synthetic session.
        #[arg(long, default_value_t = scalpel::backtest::SyntheticInput::DEFAULT_SEED)]
        synth_seed: u64,
        /// Faults to inject (scalpel sim --faults: all, or KIND:KEY=VALUE,...).
        #[arg(long)]
        faults: Option<String>,
        /// Seed of the fault decisions.
        #[arg(long, default_value_t = 1)]
        fault_seed: u64,
        /// Strategy profile [default: tuning/demo.toml under the working directory, else the
        /// copy built into the binary].
        #[arg(long)]
        config: Option<PathBuf>,
        /// Write the report as JSON here (- for stdout).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Directory for the session's files (keys, journal, flight recording) [default: a new
        /// directory under the system's temporary directory].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Pin the hot thread to this CPU [default: the last CPU on machines with 4 or more].
        #[arg(long)]
        pin: Option<usize>,
        /// Status line period in seconds (0: none).
        #[arg(long, default_value_t = 10.0)]
        status_secs: f64,
        /// Serve the engine's Prometheus metrics on this loopback address:port (GET /metrics).
        #[arg(long)]
        metrics: Option<std::net::SocketAddr>,
    },
    /// Rebuild order books from recorded frames and print one JSON line per applied update.
    Book {
        /// Wire format of the recording: binance-usdm or bybit-linear. Default: detected from
        /// the frames (a --venue the frames contradict is an error).
        #[arg(long)]
        venue: Option<Venue>,
        /// Recording: one `<local_ts_ns> <frame>` per line, plain or gzip.
        #[arg(long)]
        input: PathBuf,
        /// Levels per side to print (at least 1).
        #[arg(long, default_value_t = 20, value_parser = at_least_one)]
        depth: usize,
        /// Only this symbol (also names the symbol of Binance REST snapshots).
        #[arg(long)]
        symbol: Option<Symbol>,
        /// Instruments: TOML like tuning/instruments.toml, or the venue's metadata JSON
        /// (Binance exchangeInfo, Bybit instruments-info). Default: the built-in table.
        #[arg(long)]
        instruments: Option<PathBuf>,
    },
    /// The latency harness: per-stage percentiles, .hgrm files, an SVG percentile plot, the
    /// machine in the header, and one JSON object as the last line.
    Latency {
        /// What to measure: decode (decode + apply per frame type), tick-to-trade (frame bytes
        /// through the trading core to signed order bytes, per stage), wire (the live engine
        /// against the simulator over loopback TLS, and the loopback floor).
        #[arg(long, default_value = "decode")]
        path: commands::latency::LatencyPath,
        /// Wire format of the recording; detected from its first frames when omitted (and a
        /// mismatch with the frames is refused). Without --input: the synthetic session's venue
        /// (default binance-usdm).
        #[arg(long)]
        venue: Option<Venue>,
        /// Recording to replay (loaded into memory first). Without it a synthetic BTCUSDT
        /// session is generated in process (see --synth-secs, --synth-seed).
        #[arg(long)]
        input: Option<PathBuf>,
        /// Length of the synthetic session generated without --input, in seconds (default 120).
        #[arg(long)]
        synth_secs: Option<f64>,
        /// Seed of the synthetic session generated without --input (default 42).
        #[arg(long)]
        synth_seed: Option<u64>,
        /// Timed replays of the whole file, after one warm-up replay (at least 1).
        #[arg(long, default_value_t = 5)]
        rounds: u32,
        /// Instruments file (default: built-in table); --path decode only.
        #[arg(long)]
        instruments: Option<PathBuf>,
        /// Directory to write one HdrHistogram .hgrm percentile file per stage into (created
        /// if missing; an existing file there is refused).
        #[arg(long)]
        hgrm_dir: Option<PathBuf>,
        /// Write the percentile-distribution plot (latency against 1/(1-percentile), one line
        /// per stage) to this .svg file.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Pin the measured thread to this logical CPU.
        #[arg(long)]
        pin: Option<usize>,
        /// --path tick-to-trade: how orders travel, ws (the order WebSocket, default) or rest.
        #[arg(long)]
        transport: Option<scalpel::latency::tick_to_trade::Transport>,
        /// --path tick-to-trade: how orders are signed, hmac (default) or ed25519 (Binance:
        /// session.logon over the WebSocket API, a signature per request over REST).
        #[arg(long)]
        key: Option<scalpel::latency::tick_to_trade::KeyKind>,
        /// --path tick-to-trade and wire: the profile (default tuning/latency.toml under the
        /// working directory, else the built-in copy).
        #[arg(long)]
        config: Option<PathBuf>,
        /// --path wire: seconds of trading against the simulator (default 60).
        #[arg(long)]
        duration: Option<f64>,
        /// --path wire: the engine's hot thread polls with a zero timeout (default: only when
        /// pinned with --pin, as scalpel demo).
        #[arg(long)]
        busy_poll: bool,
    },
    /// Say how far this host is from a tuned trading host, item by item, and how to fix each
    /// (reads /proc and /sys, changes nothing).
    HostCheck {
        /// The CPU the hot thread would run on (default: the first isolated CPU, else the last
        /// online one).
        #[arg(long)]
        core: Option<usize>,
        /// One JSON object instead of the text report.
        #[arg(long)]
        json: bool,
    },
    /// Print exactly the signed request an order would produce (debug with curl).
    Sign(commands::sign::SignArgs),
    /// Replay recorded frames through the strategy against a simulated exchange; print a
    /// summary and optionally write a byte-for-byte reproducible JSON report.
    Backtest {
        /// Strategy profile [default: tuning/default.toml under the working directory, else the
        /// copy built into the binary].
        #[arg(long)]
        config: Option<PathBuf>,
        /// Recordings to replay, merged by exchange time: PATH, or VENUE:PATH to name the
        /// venue (binance-usdm:…, bybit-linear:…) instead of detecting it. Without any, a
        /// synthetic session is generated in process (see the --synth-* options).
        #[arg(long, num_args = 1..)]
        input: Vec<String>,
        /// Write the JSON report here (checked writable before the run).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write the run's journal here (a new file; read it with scalpel journal).
        #[arg(long)]
        journal: Option<PathBuf>,
        /// Replay a flight recording of `scalpel run --record DIR` through the same core,
        /// acks and fills from the recording, and check that every intent is the live
        /// session's (exit status 1 when parity is not 100%). --json writes the replay report.
        #[arg(long, conflicts_with_all = ["input", "config", "journal"])]
        replay: Option<PathBuf>,
        /// Synthetic session (no --input): wire format [default: binance-usdm].
        #[arg(long)]
        synth_venue: Option<Venue>,
        /// Synthetic session (no --input): instrument [default: BTCUSDT].
        #[arg(long)]
        synth_symbol: Option<Symbol>,
        /// Synthetic session (no --input): generator seed [default: 42].
        #[arg(long)]
        synth_seed: Option<u64>,
        /// Synthetic session (no --input): length in seconds [default: 1800].
        #[arg(long)]
        synth_secs: Option<f64>,
    },
    /// Generate a synthetic session (calibrated stochastic order book) in a venue's exact wire format.
    Synth {
        /// Wire format: binance-usdm or bybit-linear.
        #[arg(long)]
        venue: Venue,
        /// Instrument: from the built-in table (BTCUSDT, ETHUSDT), or any symbol with --tick.
        #[arg(long)]
        symbol: Symbol,
        /// Seed: the same seed and options give the same bytes.
        #[arg(long)]
        seed: u64,
        /// Session length in seconds (exchange time).
        #[arg(long)]
        duration: f64,
        /// Mean order events per second (limit orders, cancellations, market orders);
        /// default: the rate calibrated on the real BTCUSDT recording.
        #[arg(long)]
        rate: Option<f64>,
        /// Lose every N-th depth frame (a sequence gap), then resync with a new snapshot.
        #[arg(long)]
        gap_every: Option<u64>,
        /// Tick size (10 down to 0.00000001): generate --symbol with this tick, whether or not
        /// it is in the built-in table.
        #[arg(long)]
        tick: Option<String>,
        /// With --tick: the start price (best bid); default 618002 ticks.
        #[arg(long)]
        price: Option<String>,
        /// With --tick: the quantity step; default a power of ten near a 62 USDT lot.
        #[arg(long)]
        step: Option<String>,
        /// Output file in the recording format; gzip when it ends in .gz; - for stdout.
        #[arg(long)]
        out: PathBuf,
    },
    /// Record a venue's live public streams into the replay format (`<ts_ns> <frame>` per line).
    Record {
        /// Venue: binance-usdm or bybit-linear.
        #[arg(long)]
        venue: Venue,
        /// Symbols, comma-separated (BTCUSDT,ETHUSDT).
        #[arg(long, value_delimiter = ',', required = true)]
        symbols: Vec<Symbol>,
        /// Stream kinds, comma-separated. Binance: depth, depth@100ms, bookTicker, trade, aggTrade,
        /// markPrice, forceOrder (default depth,bookTicker,trade). Bybit: orderbook.1|50|200|1000,
        /// publicTrade, tickers, kline.<interval>, allLiquidation (default orderbook.200,publicTrade,tickers).
        #[arg(long, value_delimiter = ',')]
        streams: Vec<String>,
        /// Output file, gzip when it ends in .gz; `{symbol}` in it writes one file per symbol
        /// (required for several Binance symbols).
        #[arg(long)]
        out: PathBuf,
        /// Stop after this many seconds (default: at SIGINT/SIGTERM).
        #[arg(long)]
        duration: Option<f64>,
        /// mainnet or testnet (endpoints from tuning/endpoints.toml).
        #[arg(long, default_value = "mainnet")]
        network: scalpel::net::endpoints::Network,
        /// Endpoints file (default: the built-in tuning/endpoints.toml).
        #[arg(long)]
        endpoints: Option<PathBuf>,
        /// REST base URL (http:// or https://), overriding the endpoints file.
        #[arg(long)]
        rest_url: Option<String>,
        /// WebSocket stream base URL (ws:// or wss://); Binance routes /public, /market are appended,
        /// Bybit /v5/public/linear.
        #[arg(long)]
        ws_url: Option<String>,
        /// Extra trusted CA certificates (PEM), e.g. a local test server's or simulator's CA.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Instruments file (default: built-in table).
        #[arg(long)]
        instruments: Option<PathBuf>,
        /// Reconnect (and resubscribe) when a stream is silent this many seconds; 0 disables.
        #[arg(long, default_value_t = 30.0)]
        stale_after: f64,
        /// Busy-poll the sockets (burns a core) instead of waiting up to 1 ms for readiness.
        #[arg(long)]
        busy_poll: bool,
        /// Replace each stream connection after this many seconds, opening the new one before
        /// closing the old (default: Binance 84600 = 23 h 30 min, before the venue's 24 h limit;
        /// Bybit never).
        #[arg(long)]
        max_age: Option<f64>,
    },
    /// A local exchange speaking the venue's real protocols (REST, WebSocket, TLS) on loopback:
    /// replays a recording or a synthetic session, matches orders, injects faults.
    Sim(Box<commands::sim::SimArgs>),
    /// The live engine: connect, trade, journal (see tuning/live.toml). SIGINT/SIGTERM cancel
    /// all orders, close positions when flatten.on_exit, flush the journal and exit 0.
    Run {
        /// Live configuration (venues, symbols, keys, profile, pinning, dead-man, flatten).
        #[arg(long)]
        config: PathBuf,
        /// Paper trading: everything runs, no order reaches a venue (a local paper exchange
        /// with the backtest's fill model answers, orders are journaled as would-send).
        #[arg(long)]
        dry_run: bool,
        /// Flight recorder: every inbound frame and core input into this (new) directory, for
        /// `scalpel backtest --replay DIR`.
        #[arg(long)]
        record: Option<PathBuf>,
        /// Journal file (a new file; `{start}` = start time) [default: from the config].
        #[arg(long)]
        journal: Option<PathBuf>,
        /// mainnet or testnet endpoints (tuning/endpoints.toml) [default: from the config].
        #[arg(long)]
        network: Option<scalpel::net::endpoints::Network>,
        /// REST base (a configuration with one venue).
        #[arg(long)]
        rest_url: Option<String>,
        /// WebSocket stream base (Binance appends /public, /market, /private; Bybit
        /// /v5/public/linear, /v5/private).
        #[arg(long)]
        ws_url: Option<String>,
        /// Order WebSocket (Binance WS API, Bybit trade WebSocket).
        #[arg(long)]
        ws_api_url: Option<String>,
        /// Extra trusted CA certificates (PEM), e.g. the simulator's.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Stop after this many seconds.
        #[arg(long)]
        duration: Option<f64>,
        /// Status line period in seconds (0: none).
        #[arg(long, default_value_t = 5.0)]
        status_secs: f64,
    },
    /// Print a binary journal as human lines or one JSON object per record.
    Journal {
        /// The journal file.
        #[arg(long)]
        input: PathBuf,
        /// One JSON object per record instead of human lines.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => e.exit(),
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        Err(e) => {
            eprintln!("scalpel: {} (see scalpel --help)", usage_error_line(&e.render().to_string()));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // `scalpel book ... | head` closing the pipe early is not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scalpel: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// A command-line parse error on one line: clap's message up to its first
/// blank line (which keeps the list of missing arguments), without the
/// `error:` prefix, the usage and the tips.
fn usage_error_line(rendered: &str) -> String {
    let text: Vec<&str> =
        rendered.lines().map(str::trim).take_while(|l| !l.is_empty() && !l.starts_with("Usage:")).collect();
    let joined = text.join(" ");
    joined.strip_prefix("error: ").unwrap_or(&joined).to_owned()
}

/// An error and its causes on one line, each cause once: a cause whose text
/// its context already contains is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line.replace('\n', " ")
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            || cause.downcast_ref::<commands::book::BookCommandError>().is_some_and(|b| b.is_broken_pipe())
            || cause.downcast_ref::<commands::synth::SynthCommandError>().is_some_and(|s| s.is_broken_pipe())
            || cause.downcast_ref::<commands::latency::LatencyError>().is_some_and(
                |l| matches!(l, commands::latency::LatencyError::Io(io) if io.kind() == io::ErrorKind::BrokenPipe),
            )
    })
}

/// `--depth` and similar counts: a whole number of at least 1.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err("must be a whole number of at least 1".to_owned()),
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Book { venue, input, depth, symbol, instruments } => {
            let opts = commands::book::BookOptions { venue, input, depth, symbol, instruments };
            let stdout = io::stdout();
            let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
            commands::book::run(&opts, &mut out, &mut io::stderr().lock())?;
        }
        Command::Latency {
            path,
            venue,
            input,
            synth_secs,
            synth_seed,
            rounds,
            instruments,
            hgrm_dir,
            plot,
            pin,
            transport,
            key,
            config,
            duration,
            busy_poll,
        } => {
            let opts = commands::latency::LatencyOptions {
                path,
                venue,
                input,
                synth_secs,
                synth_seed,
                rounds,
                instruments,
                hgrm_dir,
                plot,
                pin,
                transport,
                key,
                config,
                duration_s: duration,
                busy_poll: busy_poll.then_some(true),
                hooks: hot_hooks()?,
            };
            commands::latency::run(&opts, &mut io::stdout().lock(), &ALLOC)?;
        }
        Command::HostCheck { core, json } => {
            let opts = commands::host_check::HostCheckOptions { core, json };
            commands::host_check::run(&opts, &scalpel::host::HostSource::live(), &mut io::stdout().lock())?;
        }
        Command::Sign(args) => commands::sign::run(&args, &mut io::stdout().lock())?,
        Command::Backtest { replay: Some(dir), json, .. } => {
            scalpel::engine::replay::command(&dir, json.as_deref(), &mut io::stdout().lock())?;
        }
        Command::Backtest {
            config,
            input,
            json,
            journal,
            replay: None,
            synth_venue,
            synth_symbol,
            synth_seed,
            synth_secs,
        } => {
            let synthetic_given =
                synth_venue.is_some() || synth_symbol.is_some() || synth_seed.is_some() || synth_secs.is_some();
            let d = scalpel::backtest::SyntheticInput::default();
            let synthetic = scalpel::backtest::SyntheticInput {
                venue: synth_venue.unwrap_or(d.venue),
                symbol: synth_symbol.unwrap_or(d.symbol),
                seed: synth_seed.unwrap_or(d.seed),
                duration_s: synth_secs.unwrap_or(d.duration_s),
            };
            let opts =
                scalpel::backtest::BacktestOptions { config, inputs: input, synthetic, synthetic_given, json, journal };
            scalpel::backtest::command(&opts, &mut io::stdout().lock(), &mut io::stderr().lock())?;
        }
        Command::Synth { venue, symbol, seed, duration, rate, gap_every, tick, price, step, out } => {
            let opts = commands::synth::SynthOptions {
                venue,
                symbol,
                seed,
                duration_s: duration,
                rate,
                gap_every,
                tick,
                price,
                step,
                out,
            };
            commands::synth::run(&opts, &mut io::stdout().lock())?;
        }
        Command::Record {
            venue,
            symbols,
            streams,
            out,
            duration,
            network,
            endpoints,
            rest_url,
            ws_url,
            ca_file,
            instruments,
            stale_after,
            busy_poll,
            max_age,
        } => {
            let opts = commands::record::RecordOptions {
                venue,
                symbols,
                streams,
                out,
                duration,
                network,
                endpoints,
                rest_url,
                ws_url,
                ca_file,
                instruments,
                stale_after_ms: (stale_after.max(0.0) * 1000.0) as u64,
                busy_poll,
                max_age_ms: max_age.map(|s| (s.max(0.001) * 1000.0) as u64),
            };
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                signal_hook::flag::register(signal, std::sync::Arc::clone(&stop))
                    .context("installing signal handlers")?;
            }
            commands::record::run(&opts, &stop, &mut io::stderr().lock())?;
        }
        Command::Run {
            config,
            dry_run,
            record,
            journal,
            network,
            rest_url,
            ws_url,
            ws_api_url,
            ca_file,
            duration,
            status_secs,
        } => {
            let opts = commands::run::RunOptions {
                config,
                dry_run,
                record,
                journal,
                network,
                rest_url,
                ws_url,
                ws_api_url,
                ca_file,
                duration,
                status_secs,
            };
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                signal_hook::flag::register(signal, std::sync::Arc::clone(&stop))
                    .context("installing signal handlers")?;
            }
            let hooks = hot_hooks()?;
            commands::run::run(&opts, stop, hooks, &mut io::stderr())?;
        }
        Command::Demo {
            venue,
            duration,
            soak,
            warmup,
            input,
            symbol,
            synth_seed,
            faults,
            fault_seed,
            config,
            json,
            dir,
            pin,
            status_secs,
            metrics,
        } => {
            let hooks = hot_hooks()?;
            if soak {
                let defaults = commands::soak::SoakOptions::default();
                let opts = commands::soak::SoakOptions {
                    duration_s: duration.unwrap_or(commands::soak::DEFAULT_SECS),
                    warmup_s: warmup,
                    synth_seed,
                    faults: faults.unwrap_or(defaults.faults),
                    fault_seed,
                    config,
                    json,
                    dir,
                    pin,
                    status_secs,
                    ..defaults
                };
                commands::soak::run(&opts, hooks, &mut io::stdout(), &mut io::stderr())?;
                return Ok(());
            }
            let opts = commands::demo::DemoOptions {
                venue,
                duration_s: duration.unwrap_or(commands::demo::DEFAULT_SECS),
                input,
                symbol,
                synth_seed,
                faults,
                fault_seed,
                config,
                json,
                dir,
                pin,
                busy_poll: None,
                status_secs,
                metrics,
            };
            commands::demo::run(&opts, hooks, &mut io::stdout(), &mut io::stderr())?;
        }
        // Unlocked handles: the simulator's threads also write to stderr.
        Command::Sim(args) => commands::sim::run(&args, &mut io::stdout(), &mut io::stderr())?,
        Command::Journal { input, json } => {
            let at = || format!("--input {}", input.display());
            let file = std::fs::File::open(&input).with_context(at)?;
            scalpel::journal::print::print_journal(io::BufReader::new(file), json, &mut io::stdout().lock())
                .with_context(at)?;
        }
    }
    Ok(())
}

/// The engine's hooks into this binary's allocator: the hot thread's
/// allocation count, and the optional trace of where it allocates
/// (`SCALPEL_TRACE_HOT_ALLOCATIONS=AFTER_S:N`, README "The fault soak").
fn hot_hooks() -> anyhow::Result<scalpel::engine::Hooks> {
    let trace =
        scalpel::engine::AllocationTrace::from_env(scalpel::alloc_count::trace_next).map_err(anyhow::Error::msg)?;
    Ok(scalpel::engine::Hooks { thread_allocations: Some(|| ALLOC.this_thread()), trace_allocations: trace })
}
