//! Calibration of the synthetic market against the real Binance BTCUSDT
//! recording. Prints what the recording measures
//! (`cargo test --test synth_calibration -- --nocapture`).

mod common;

use scalpel::commands::instruments;
use scalpel::instrument::Symbol;
use scalpel::synth::calibrate::measure_recording;
use scalpel::venue::Venue;

#[test]
fn prints_the_recording_estimates() {
    let Some(path) = common::recording("prints_the_recording_estimates", "binance-usdm/btcusdt_20240808.gz") else { return };
    let table = instruments::load(None, Venue::BinanceUsdm).unwrap();
    let cal = measure_recording(&path, Venue::BinanceUsdm, &table, "BTCUSDT".parse::<Symbol>().unwrap()).unwrap();
    let stats = cal.stats();
    println!("real: {stats}");
    println!("{}", cal.estimates());
    assert_eq!(stats.decode_errors, 0);
    assert!(stats.published > 6000, "the recording's diffs are applied: {stats}");
}
