//! Binance private-message parsers: user-data stream events, WebSocket API
//! responses, REST order responses and fill-fetch pages (`userTrades`).
//!
//! Input: `[mode, status_hi, status_lo, tag, frame…]`. `mode` picks the
//! parser and the room for events (1 to 16, so "too many events" is
//! exercised); `status` is the HTTP status of REST responses; `tag` the
//! request a REST response answers. Each parse must end in events or an
//! error, never a panic, report no more events than it had room for, and
//! give the same result again after another message went through the same
//! reused tape.
//!
//! The ledger that consumes these events is another engineer's (issue 9);
//! chaining it after the parsers is left for when it lands.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use scalpel::instrument::InstrumentTable;
use scalpel::order::ids::{RequestOp, RequestTag};
use scalpel::order::{ClientOrderId, VenueOrderId};
use scalpel::venue::binance::private::BinancePrivateParser;
use scalpel::venue::private_event::{PrivateEvent, PrivateParseError, SessionEvent};

const FILLER: PrivateEvent = PrivateEvent::Session(SessionEvent::Authenticated);
const OTHER: &[u8] = br#"{"e":"ORDER_TRADE_UPDATE","T":1,"E":2,"o":{"s":"BTCUSDT","c":"scalpel-7","S":"BUY","o":"LIMIT","f":"GTC","q":"0.010","p":"61800.20","ap":"0","sp":"0","x":"NEW","X":"NEW","i":99,"l":"0","z":"0","L":"0","T":1,"t":0,"m":false,"R":false,"ps":"BOTH","rp":"0"}}"#;

fn table() -> &'static InstrumentTable {
    static TABLE: OnceLock<InstrumentTable> = OnceLock::new();
    TABLE.get_or_init(scalpel_fuzz::fuzz_table)
}

fn parse(
    parser: &mut BinancePrivateParser,
    mode: u8,
    status: u16,
    tag: RequestTag,
    frame: &[u8],
) -> (Result<usize, PrivateParseError>, Vec<PrivateEvent>) {
    let mut out = [FILLER; 16];
    let room = usize::from(mode >> 2) % 16 + 1;
    let mut buf = frame.to_vec();
    let result = match mode % 4 {
        0 => parser.user_data(&mut buf, table(), &mut out[..room]),
        1 => parser.ws_response(&mut buf, table(), &mut out[..room]),
        2 => parser.rest_response(status, &mut buf, tag, table(), &mut out[..room]),
        // A fill fetch's page (`userTrades`): every other venue order id is "ours".
        _ => {
            let ours = |v: &VenueOrderId| (v.as_bytes().len() % 2 == 0).then_some(ClientOrderId(7));
            parser.user_trades(status, &mut buf, table(), ours, &mut out[..room]).map(|(n, page)| {
                assert_eq!(n as u32, page.fills + page.foreign, "one event per fill or foreign row: {page:?}");
                assert!(page.rows >= page.fills + page.foreign + page.bad_rows, "{page:?}");
                n
            })
        }
    };
    let events = match result {
        Ok(n) => {
            assert!(n <= room, "{n} events reported with room for {room}");
            out[..n].to_vec()
        }
        Err(_) => Vec::new(),
    };
    (result, events)
}

fuzz_target!(|data: &[u8]| {
    let [mode, hi, lo, tag_byte, frame @ ..] = data else { return };
    let status = u16::from_be_bytes([*hi, *lo]);
    let op = [RequestOp::Place, RequestOp::Cancel, RequestOp::Amend, RequestOp::CancelAll, RequestOp::Auth]
        [usize::from(*tag_byte) % 5];
    let tag = RequestTag::new(op, ClientOrderId(u64::from(*tag_byte >> 3)));
    let mut parser = BinancePrivateParser::new();
    let first = parse(&mut parser, *mode, status, tag, frame);
    let _ = parse(&mut parser, 0, 200, tag, OTHER);
    let again = parse(&mut parser, *mode, status, tag, frame);
    assert_eq!(first, again, "same frame, different result after another message");
});
