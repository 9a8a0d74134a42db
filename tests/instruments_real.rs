//! Instruments from the venue's own metadata: the real Bybit
//! `instruments-info` response in ../shared/data.

mod common;

use scalpel::fixed::{Notional, Price, Qty};
use scalpel::instrument::{FeeSchedule, InstrumentTable};
use scalpel::venue::Venue;

#[test]
fn real_bybit_instruments_info_loads() {
    let Some(path) =
        common::recording("real_bybit_instruments_info_loads", "bybit-linear/instruments-info_20260809.json")
    else {
        return;
    };
    let json = std::fs::read_to_string(path).unwrap();
    let mut table = InstrumentTable::new();
    assert_eq!(table.add_bybit_instruments_info(&json, FeeSchedule::BYBIT_VIP0), Ok(2));
    let btc = table.get(Venue::BybitLinear, &"BTCUSDT".parse().unwrap()).unwrap();
    // priceScale "2", tickSize "0.10", qtyStep "0.001", minNotionalValue "5".
    assert_eq!((btc.price_scale, btc.qty_scale), (2, 3));
    assert_eq!((btc.tick, btc.step, btc.min_qty), (Price(10), Qty(1), Qty(1)));
    assert_eq!((btc.max_qty, btc.max_market_qty), (Qty(1_500_000), Qty(150_000)));
    assert_eq!(btc.min_notional, Notional(5 * 100_000_000));
    let eth = table.get(Venue::BybitLinear, &"ETHUSDT".parse().unwrap()).unwrap();
    assert_eq!((eth.price_scale, eth.qty_scale, eth.tick, eth.step), (2, 2, Price(1), Qty(1)));
    // The built-in table agrees with the venue's own metadata.
    let builtin = scalpel::commands::instruments::load(None, Venue::BybitLinear).unwrap();
    for inst in table.all() {
        let mine = builtin.get(inst.venue, &inst.symbol).unwrap();
        assert_eq!(
            (
                mine.price_scale,
                mine.qty_scale,
                mine.tick,
                mine.step,
                mine.min_qty,
                mine.max_qty,
                mine.max_market_qty,
                mine.min_notional
            ),
            (
                inst.price_scale,
                inst.qty_scale,
                inst.tick,
                inst.step,
                inst.min_qty,
                inst.max_qty,
                inst.max_market_qty,
                inst.min_notional
            ),
            "{}",
            inst.symbol
        );
    }
}

#[test]
fn scalpel_book_takes_the_venue_metadata_as_instruments() {
    let Some(meta) =
        common::recording("scalpel_book_takes_the_venue_metadata", "bybit-linear/instruments-info_20260809.json")
    else {
        return;
    };
    let Some(input) = common::recording("scalpel_book_takes_the_venue_metadata", "bybit-linear/ethusdt_20260809.gz")
    else {
        return;
    };
    let run = |extra: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_scalpel"))
            .args(["book", "--venue", "bybit-linear", "--input"])
            .arg(&input)
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let with_meta = run(&["--instruments".as_ref(), meta.as_os_str()]);
    assert!(!with_meta.is_empty());
    assert_eq!(with_meta, run(&[]));
}
