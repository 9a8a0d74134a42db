//! ccxt — the client most trading bots are written on — against `scalpel
//! sim` on both venues, pointed at it by its URLs and CA only
//! (`tests/ccxt/sim_ccxt.py`): load markets, read the book, create, fetch
//! and cancel an order.
//!
//! Needs `python3` with ccxt (`$SCALPEL_PYTHON` names another interpreter).
//! Without them the test prints a loud skip line, unless
//! `SCALPEL_REQUIRE_CCXT=1` (CI sets it), which makes it fail instead.

mod sim_client;

use std::io::Write;
use std::process::Command;

use scalpel::venue::Venue;
use sim_client::{KEY, SECRET, start};

fn python() -> String {
    std::env::var("SCALPEL_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// `Some(version)` when the interpreter imports ccxt.
fn ccxt_version() -> Option<String> {
    let out = Command::new(python()).args(["-c", "import ccxt; print(ccxt.__version__)"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn ccxt_loads_markets_reads_the_book_and_trades_on_both_venues() {
    let Some(version) = ccxt_version() else {
        let why = format!("{} cannot import ccxt (set SCALPEL_PYTHON, or pip install ccxt)", python());
        if std::env::var("SCALPEL_REQUIRE_CCXT").as_deref() == Ok("1") {
            panic!("SCALPEL_REQUIRE_CCXT=1 but {why}");
        }
        let _ =
            writeln!(std::io::stderr(), "SKIPPED ccxt_loads_markets_reads_the_book_and_trades_on_both_venues: {why}");
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ccxt/sim_ccxt.py");
    for venue in [Venue::BinanceUsdm, Venue::BybitLinear] {
        let sim = start(venue, |_| {});
        let out = Command::new(python())
            .arg(script)
            .args([
                venue.name(),
                &sim.urls().rest_url,
                sim.ca_file().to_str().unwrap(),
                KEY,
                "SIM_CCXT_SECRET",
                "BTC/USDT:USDT",
            ])
            .env("SIM_CCXT_SECRET", SECRET)
            .env_remove("REQUESTS_CA_BUNDLE")
            .output()
            .expect("run python");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "ccxt {version} on {venue}: {stderr}\n{stdout}");
        let seen: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).expect(&stdout);
        assert_eq!(seen["venue"], venue.name());
        assert_eq!(seen["markets"], 2, "BTCUSDT and ETHUSDT");
        assert_eq!((seen["fetched_status"].as_str(), seen["final_status"].as_str()), (Some("open"), Some("canceled")));
        let report = sim.stop();
        assert_eq!(report.exchange.orders_accepted, 1, "{venue}");
        assert_eq!(report.exchange.cancels, 1, "{venue}");
        assert_eq!(report.counters["bad_signatures"], 0, "ccxt's signatures verified");
        assert_eq!(report.counters["unknown_paths"], 0, "ccxt asked for nothing the simulator lacks");
    }
}
