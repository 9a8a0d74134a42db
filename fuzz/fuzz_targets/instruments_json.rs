//! The venues' instrument metadata: Binance USDⓈ-M `exchangeInfo` and Bybit
//! v5 `instruments-info`, one page or several (`--instruments FILE.json`).
//!
//! `data[0]` picks the venue. Any document ends in instruments or in an
//! error naming the field, never a panic. Lenient loading (what the
//! command-line tools use) adds every entry it can and names each one it
//! skips; every instrument it adds is valid. Strict loading succeeds
//! exactly when lenient loading skipped nothing (and, for Bybit, found no
//! further page announced), with the same instruments.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scalpel::instrument::{FeeSchedule, InstrumentTable};

fuzz_target!(|data: &[u8]| {
    let [venue, rest @ ..] = data else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let binance = venue % 2 == 0;
    let mut lenient = InstrumentTable::new();
    let load = if binance {
        lenient.load_binance_exchange_info(text, FeeSchedule::BINANCE_VIP0)
    } else {
        lenient.load_bybit_instruments_info(text, FeeSchedule::BYBIT_VIP0)
    };
    let mut strict = InstrumentTable::new();
    let strict_result = if binance {
        strict.add_binance_exchange_info(text, FeeSchedule::BINANCE_VIP0)
    } else {
        strict.add_bybit_instruments_info(text, FeeSchedule::BYBIT_VIP0)
    };
    match load {
        Ok(load) => {
            // A symbol listed twice replaces itself: never more held than added.
            assert!(lenient.all().len() <= load.added, "{} held, {} added", lenient.all().len(), load.added);
            for inst in lenient.all() {
                assert_eq!(inst.validate(), Ok(()), "{inst:?}");
            }
            for skipped in &load.skipped {
                assert!(!skipped.reason.key.is_empty(), "a skipped entry naming no field");
            }
            let complete = load.skipped.is_empty() && load.next_page_cursor.is_none();
            assert_eq!(strict_result.is_ok(), complete, "strict {strict_result:?} vs lenient {load:?}");
            if complete {
                assert_eq!(strict_result, Ok(load.added));
                assert_eq!(strict, lenient);
            }
        }
        Err(e) => {
            assert!(!e.key.is_empty(), "an error naming no key: {e}");
            assert!(strict_result.is_err(), "strict accepted what lenient refused");
        }
    }
});
