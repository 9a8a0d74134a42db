//! The live engine (`scalpel run`) against `scalpel sim` on loopback TLS,
//! in process: connect, subscribe, decode, trade with orders whose
//! signatures the simulator verifies, cancel; faults; re-authentication;
//! dry run; the flight recording's replay.

mod common;
mod live;

use std::time::Duration;

use scalpel::venue::Venue;

use live::{Opts, start_engine, start_sim, stop, test_dir, traded, wait_for, write_config};

#[test]
fn binance_ed25519_session_trades_and_cancels_with_verified_signatures() {
    let sim = start_sim(Venue::BinanceUsdm, |_| {});
    let dir = test_dir("binance-ed");
    let cfg = write_config(&sim, &dir, &Opts { ed25519: true, ..Opts::default() });
    let h = start_engine(&cfg);
    let s = wait_for(&h, Duration::from_secs(60), "fills", traded(3));
    eprintln!("{}", s.status_line(None, &h.info().conns, &h.info().instrument_names));
    let report = stop(h);
    eprintln!("{:?}", report.hot);
    let sim_report = sim.stop();
    eprintln!("sim: {:?} {:?}", sim_report.counters, sim_report.errors);
}
