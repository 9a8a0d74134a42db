//! The `scalpel` command line: argument parsing and dispatch only.

use clap::{Parser, Subcommand};

/// scalpel: a single-hot-thread scalping core for Binance USDⓈ-M and Bybit v5 linear perpetuals.
#[derive(Parser)]
#[command(name = "scalpel", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the exact signed request an order would produce (debug with curl).
    Sign(scalpel::sign_command::SignArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Sign(args)) => scalpel::sign_command::run(&args, &mut std::io::stdout().lock())?,
        None => {}
    }
    Ok(())
}
