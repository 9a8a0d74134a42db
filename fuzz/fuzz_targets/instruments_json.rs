//! The venues' instrument metadata: Binance USDⓈ-M `exchangeInfo` and Bybit
//! v5 `instruments-info` (`--instruments FILE.json`).
//!
//! `data[0]` picks the venue. Any document ends in instruments or in an
//! error naming the field, never a panic; every instrument added is valid
//! (scales ≤ 12, positive tick and step, limits on the grid) and the count
//! reported is at least the count held.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scalpel::instrument::{FeeSchedule, InstrumentTable};

fuzz_target!(|data: &[u8]| {
    let [venue, rest @ ..] = data else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let mut table = InstrumentTable::new();
    let result = if venue % 2 == 0 {
        table.add_binance_exchange_info(text, FeeSchedule::BINANCE_VIP0)
    } else {
        table.add_bybit_instruments_info(text, FeeSchedule::BYBIT_VIP0)
    };
    match result {
        Ok(added) => {
            // A symbol listed twice replaces itself: never more held than added.
            assert!(table.all().len() <= added, "{} held, {added} added", table.all().len());
            for inst in table.all() {
                assert_eq!(inst.validate(), Ok(()), "{inst:?}");
            }
        }
        Err(e) => assert!(!e.key.is_empty(), "an error naming no key: {e}"),
    }
});
