//! The `[[instrument]]` TOML loader (`tuning/instruments.toml`,
//! `--instruments FILE.toml`).
//!
//! Any text ends in a table or in an error naming a key, never a panic;
//! every instrument of a loaded table satisfies the documented invariants
//! (scales ≤ 12, positive tick and step, limits on the step grid), and a
//! table holds each venue and symbol once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scalpel::instrument::{InstrumentTable, MAX_INSTRUMENT_SCALE};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match InstrumentTable::from_toml_str(text) {
        Ok(table) => {
            for (n, inst) in table.all().iter().enumerate() {
                assert_eq!(inst.validate(), Ok(()), "{inst:?}");
                assert!(inst.price_scale <= MAX_INSTRUMENT_SCALE && inst.qty_scale <= MAX_INSTRUMENT_SCALE);
                assert!(inst.tick.0 > 0 && inst.step.0 > 0);
                assert!(
                    table.all()[..n].iter().all(|o| (o.venue, o.symbol) != (inst.venue, inst.symbol)),
                    "{inst:?} twice"
                );
            }
        }
        Err(e) => assert!(!e.key.is_empty(), "an error naming no key: {e}"),
    }
});
