//! The `scalpel` command line: argument parsing and dispatch only.

use clap::Parser;

/// scalpel: a single-hot-thread scalping core for Binance USDⓈ-M and Bybit v5 linear perpetuals.
#[derive(Parser)]
#[command(name = "scalpel", version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
