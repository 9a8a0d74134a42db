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
    /// Replay a recording through decode and book apply and report latency per frame type.
    Latency {
        /// Wire format of the recording.
        #[arg(long)]
        venue: Venue,
        /// Recording to replay (loaded into memory first).
        #[arg(long)]
        input: PathBuf,
        /// Times to replay the whole file.
        #[arg(long, default_value_t = 5)]
        rounds: u32,
        /// Instruments file (default: built-in table).
        #[arg(long)]
        instruments: Option<PathBuf>,
        /// Directory to write one .hgrm percentile file per frame type into.
        #[arg(long)]
        hgrm_dir: Option<PathBuf>,
    },
    /// Print exactly the signed request an order would produce (debug with curl).
    Sign(commands::sign::SignArgs),
    /// Replay recorded frames through the strategy against a simulated exchange; print a
    /// summary and optionally write a byte-for-byte reproducible JSON report.
    Backtest {
        /// Strategy profile.
        #[arg(long, default_value = "tuning/default.toml")]
        config: PathBuf,
        /// Recordings to replay, merged by exchange time: PATH, or VENUE:PATH to name the
        /// venue (binance-usdm:…, bybit-linear:…) instead of detecting it. Without any, a
        /// synthetic session is generated in process (see the --synth-* options).
        #[arg(long, num_args = 1..)]
        input: Vec<String>,
        /// Write the JSON report here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Synthetic session (no --input): wire format.
        #[arg(long, default_value = "binance-usdm")]
        synth_venue: Venue,
        /// Synthetic session (no --input): instrument.
        #[arg(long, default_value = "BTCUSDT")]
        synth_symbol: Symbol,
        /// Synthetic session (no --input): generator seed.
        #[arg(long, default_value_t = scalpel::backtest::SyntheticInput::DEFAULT_SEED)]
        synth_seed: u64,
        /// Synthetic session (no --input): length in seconds.
        #[arg(long, default_value_t = scalpel::backtest::SyntheticInput::DEFAULT_SECS)]
        synth_secs: f64,
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
        Command::Latency { venue, input, rounds, instruments, hgrm_dir } => {
            let opts = commands::latency::LatencyOptions { venue, input, rounds, instruments, hgrm_dir };
            commands::latency::run(&opts, &mut io::stdout().lock(), &ALLOC)?;
        }
        Command::Sign(args) => commands::sign::run(&args, &mut io::stdout().lock())?,
        Command::Backtest { config, input, json, synth_venue, synth_symbol, synth_seed, synth_secs } => {
            let synthetic = scalpel::backtest::SyntheticInput {
                venue: synth_venue,
                symbol: synth_symbol,
                seed: synth_seed,
                duration_s: synth_secs,
            };
            let opts = scalpel::backtest::BacktestOptions { config, inputs: input, synthetic, json };
            scalpel::backtest::command(&opts, &mut io::stdout().lock())?;
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
        Command::Journal { input, json } => {
            let at = || format!("--input {}", input.display());
            let file = std::fs::File::open(&input).with_context(at)?;
            scalpel::journal::print::print_journal(io::BufReader::new(file), json, &mut io::stdout().lock())
                .with_context(at)?;
        }
    }
    Ok(())
}
