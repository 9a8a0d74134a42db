//! The WebSocket client codec (`scalpel::net::ws`) on server bytes split
//! into arbitrary reads, against an independent reference reader
//! (`scalpel_fuzz::net_ref::ws_reference`) over the whole input.
//!
//! Input: `[cfg, r0, r1, r2, r3, wire…]`. `cfg` picks the message limit
//! (bits 0–2), the receive buffer's spare room (bits 3–5) and, with bit 7,
//! an opening-handshake response at the front of `wire` (checked with
//! `Handshake::check_response` on every growing prefix, as the transport
//! does). `r0..r3` are the sizes of the reads, cycled.
//!
//! Checked: no panic; the messages and the error the reader gives equal the
//! reference's, whatever the split (fragments, continuations, control
//! frames between fragments, close, limits); no message exceeds the limit;
//! the fixed receive buffer always has room for the next read once the
//! complete frames in it are taken (a frame never blocks the buffer).
//! Reading stops at the first error, as the transport fails the connection
//! there.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scalpel::net::ws::{HandshakeError, WsError, WsMessage, WsReader, client_handshake};
use scalpel_fuzz::net_ref::{RefMessage, RefWs, ws_reference};

const LIMITS: [usize; 8] = [0, 1, 2, 8, 125, 126, 300, 70_000];
const SPARE: [usize; 8] = [0, 1, 13, 14, 100, 1000, 4096, 100_000];
/// The nonce the seeds' handshake responses answer (RFC 6455 §4.2.2's example).
const NONCE: [u8; 16] = *b"the sample nonce";

fn owned(m: &WsMessage<'_>) -> RefMessage {
    match m {
        WsMessage::Text(p) => RefMessage::Text(p.to_vec()),
        WsMessage::Binary(p) => RefMessage::Binary(p.to_vec()),
        WsMessage::Ping(p) => RefMessage::Ping(p.to_vec()),
        WsMessage::Pong(p) => RefMessage::Pong(p.to_vec()),
        WsMessage::Close { code, reason } => RefMessage::Close(*code, reason.to_vec()),
    }
}

/// The handshake response at the front of `wire`, read as the transport
/// reads it: `Ok(Some(head_len))` once complete, on the shortest prefix.
fn handshake(wire: &[u8], reads: &[usize]) -> Result<Option<usize>, HandshakeError> {
    let mut out = [0u8; 256];
    let (_, hs) = client_handshake("example.com", "/ws", NONCE, &mut out).expect("request fits");
    let whole = hs.check_response(wire);
    let mut seen = 0;
    let mut k = 0;
    let mut got = Ok(None);
    while seen < wire.len() {
        seen = (seen + reads[k % reads.len()]).min(wire.len());
        k += 1;
        got = hs.check_response(&wire[..seen]);
        if got != Ok(None) {
            break;
        }
    }
    match (got, whole) {
        // A head complete in a prefix is the same head in the whole input.
        (Ok(Some(n)), w) => assert_eq!(w, Ok(Some(n)), "handshake: prefix says {n}, whole input {w:?}"),
        (Ok(None), w) => assert_eq!(w, Ok(None)),
        (Err(e), w) => assert_eq!(w, Err(e), "handshake: prefix refused, whole input {w:?}"),
    }
    got
}

fuzz_target!(|data: &[u8]| {
    let [cfg, r0, r1, r2, r3, wire @ ..] = data else { return };
    let reads: Vec<usize> = [*r0, *r1, *r2, *r3].iter().map(|&r| usize::from(r).max(1)).collect();
    let max_message = LIMITS[usize::from(cfg & 7)];
    let capacity = max_message + 14 + SPARE[usize::from((cfg >> 3) & 7)];
    let frames = if cfg & 0x80 != 0 {
        match handshake(wire, &reads) {
            Ok(Some(n)) => &wire[n..],
            Ok(None) | Err(_) => return,
        }
    } else {
        wire
    };

    let want: RefWs = ws_reference(frames, max_message);
    let mut r = WsReader::new(capacity, max_message);
    let mut got = Vec::new();
    let mut error: Option<WsError> = None;
    let mut at = 0;
    let mut k = 0;
    'feed: while at < frames.len() {
        let n = reads[k % reads.len()].min(frames.len() - at);
        k += 1;
        let space = r.space(n);
        // Complete frames are taken before each read: the buffer must then
        // hold the rest of any frame (capacity ≥ limit + 14).
        assert!(!space.is_empty(), "receive buffer full with {} bytes unparsed", r.buffered());
        let n = n.min(space.len());
        space[..n].copy_from_slice(&frames[at..at + n]);
        r.filled(n);
        at += n;
        loop {
            match r.next_message() {
                Ok(Some(m)) => {
                    let m = owned(&m);
                    if let RefMessage::Text(p) | RefMessage::Binary(p) = &m {
                        assert!(p.len() <= max_message, "message of {} bytes over the limit {max_message}", p.len());
                    }
                    got.push(m);
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break 'feed;
                }
            }
        }
    }
    assert_eq!(got, want.messages, "messages differ from the reference (limit {max_message})");
    assert_eq!(error, want.error, "outcome differs from the reference (limit {max_message})");
});
