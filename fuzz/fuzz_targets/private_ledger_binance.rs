//! Binance private messages (user-data events, WebSocket API responses, REST
//! order responses) through the venue's parser and then the one ledger
//! (`OrderTable`), as the core routes them, message after message, with
//! the ledger's invariants checked after each (`scalpel_fuzz::ledger_model`):
//! position = Σ distinct fills, filled quantity and status as the facts
//! say, no fact going backwards, every duplicate, late fee, unknown order
//! and forgotten key counted.
//!
//! Input: messages separated by `\n`, each `[mode, status_hi, status_lo,
//! tag, frame…]` (the `private_binance` target's format): `mode` picks the
//! parser (mod 3: user data, WS API response, REST response), `status` is a
//! REST response's HTTP status, `tag` the request it answers (op and
//! client id). Mode 255 retires the terminal orders (as the core's timer
//! does). Orders `scalpel-1` … `scalpel-8` are in the ledger from the start.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use scalpel::core::PRIVATE_EVENTS_PER_FRAME;
use scalpel::instrument::{InstrumentTable, Venue};
use scalpel::order::ClientOrderId;
use scalpel::order::ids::{RequestOp, RequestTag};
use scalpel::venue::binance::private::BinancePrivateParser;
use scalpel::venue::private_event::EMPTY_EVENT;
use scalpel_fuzz::ledger_model::LedgerCheck;

fn table() -> &'static InstrumentTable {
    static TABLE: OnceLock<InstrumentTable> = OnceLock::new();
    TABLE.get_or_init(scalpel_fuzz::fuzz_table)
}

fuzz_target!(|data: &[u8]| {
    let mut parser = BinancePrivateParser::new();
    let mut check = LedgerCheck::new(Venue::BinanceUsdm);
    let mut events = [EMPTY_EVENT; PRIVATE_EVENTS_PER_FRAME];
    for line in data.split(|&b| b == b'\n') {
        let [mode, hi, lo, tag_byte, frame @ ..] = line else { continue };
        if *mode == 255 {
            check.retire();
            check.check();
            continue;
        }
        let status = u16::from_be_bytes([*hi, *lo]);
        let op = [RequestOp::Place, RequestOp::Cancel, RequestOp::Amend, RequestOp::CancelAll, RequestOp::Auth]
            [usize::from(*tag_byte) % 5];
        let tag = RequestTag::new(op, ClientOrderId(u64::from(*tag_byte >> 3)));
        let mut buf = frame.to_vec();
        let parsed = match mode % 3 {
            0 => parser.user_data(&mut buf, table(), &mut events),
            1 => parser.ws_response(&mut buf, table(), &mut events),
            _ => parser.rest_response(status, &mut buf, tag, table(), &mut events),
        };
        // A message that does not parse changes nothing (the core counts it).
        if let Ok(n) = parsed {
            assert!(n <= events.len());
            check.apply(&events[..n]);
        }
        check.check();
    }
});
