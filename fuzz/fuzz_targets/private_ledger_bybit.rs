//! Bybit private messages (private-stream and trade-WebSocket frames, REST
//! order responses) through the venue's parser and then the one ledger
//! (`OrderTable`), as the core routes them, message after message, with
//! the ledger's invariants checked after each (`scalpel_fuzz::ledger_model`):
//! position = Σ distinct fills, filled quantity and status as the facts
//! say, no fact going backwards, every duplicate, late fee, unknown order
//! and forgotten key counted.
//!
//! Input: messages separated by `\n`, each `[mode, status_hi, status_lo,
//! tag, frame…]` (the `private_bybit` target's format): `mode` picks the
//! parser (mod 2: WebSocket frame, REST response), `status` is a
//! REST response's HTTP status, `tag` the request it answers (op and
//! client id). Mode 255 retires the terminal orders (as the core's timer
//! does). Orders `scalpel-1` … `scalpel-8` are in the ledger from the start.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use scalpel::instrument::{InstrumentTable, Venue};
use scalpel::venue::bybit::private::BybitPrivateParser;
use scalpel_fuzz::ledger_model::run_messages;

fn table() -> &'static InstrumentTable {
    static TABLE: OnceLock<InstrumentTable> = OnceLock::new();
    TABLE.get_or_init(scalpel_fuzz::fuzz_table)
}

fuzz_target!(|data: &[u8]| {
    let mut parser = BybitPrivateParser::new();
    run_messages(Venue::BybitLinear, data, |m, events| match m.mode % 2 {
        0 => parser.ws_frame(m.frame, table(), events),
        _ => parser.rest_response(m.status, m.frame, m.tag, events),
    });
});
