//! The `scalpel` command line: argument parsing and dispatch only.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// scalpel: a single-hot-thread scalping core for Binance USDⓈ-M and Bybit v5 linear perpetuals.
#[derive(Parser)]
#[command(name = "scalpel", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Journal { input, json } => {
            scalpel::journal::print::print_journal_file(&input, json, &mut std::io::stdout().lock())
                .with_context(|| format!("reading journal {}", input.display()))?;
        }
    }
    Ok(())
}
