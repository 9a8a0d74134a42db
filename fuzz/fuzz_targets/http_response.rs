//! The HTTP/1.1 response parser (`scalpel::net::http::parse_response`) on
//! responses arriving in arbitrary reads, one after another on a kept-alive
//! connection, against an independent framer
//! (`scalpel_fuzz::net_ref::http_reference`) over the same bytes.
//!
//! Input: `[limit, r0, r1, r2, r3, wire…]`: `limit` picks the body limit,
//! `r0..r3` the sizes of the reads, cycled. The parser is called after each
//! read on everything received and not yet consumed, as the transport does;
//! a complete response is consumed and parsing goes on with what follows
//! while the response said keep-alive.
//!
//! Checked: no panic; `Ok(None)` leaves the buffer untouched (a partial
//! chunked body is not decoded early); a response is complete exactly when
//! the reference says so, with the same status, body (chunked coding
//! removed), length and keep-alive, whatever the split; a refusal is a
//! typed error exactly where the reference refuses; no body exceeds the
//! limit, and the body lies inside the response's own bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scalpel::net::http::parse_response;
use scalpel_fuzz::net_ref::{RefHttp, http_reference};

const LIMITS: [usize; 8] = [0, 1, 5, 16, 100, 1000, 65_536, 1 << 20];

fuzz_target!(|data: &[u8]| {
    let [limit, r0, r1, r2, r3, wire @ ..] = data else { return };
    let reads: Vec<usize> = [*r0, *r1, *r2, *r3].iter().map(|&r| usize::from(r).max(1)).collect();
    let max_body = LIMITS[usize::from(limit & 7)];

    let mut buf: Vec<u8> = Vec::new();
    // Offset in `wire` of the first byte in `buf`.
    let mut base = 0;
    let mut at = 0;
    let mut k = 0;
    loop {
        // The reference's view of the response starting at `base`, given
        // every byte received so far.
        let want = http_reference(&wire[base..at], max_body);
        let before = buf.clone();
        match parse_response(&mut buf, max_body) {
            Ok(None) => {
                assert_eq!(want, RefHttp::Incomplete, "parser waits, reference does not (at {base}..{at})");
                assert_eq!(buf, before, "an incomplete parse changed the buffer");
                if at == wire.len() {
                    return;
                }
                let n = reads[k % reads.len()].min(wire.len() - at);
                k += 1;
                buf.extend_from_slice(&wire[at..at + n]);
                at += n;
            }
            Ok(Some(r)) => {
                let RefHttp::Response { status, body, consumed, keep_alive } = want else {
                    panic!("parser gave {r:?}, reference {want:?} (at {base}..{at})");
                };
                assert!(r.body.len() <= max_body, "body of {} bytes over the limit {max_body}", r.body.len());
                assert!(r.head_len <= r.body.start && r.body.end <= r.consumed && r.consumed <= buf.len());
                assert_eq!(
                    (r.status, &buf[r.body.clone()], r.consumed, r.keep_alive),
                    (status, &body[..], consumed, keep_alive)
                );
                // What follows the response is untouched.
                assert_eq!(&buf[r.consumed..], &before[r.consumed..]);
                if !r.keep_alive {
                    return;
                }
                buf.drain(..r.consumed);
                base += r.consumed;
            }
            Err(e) => {
                assert_eq!(want, RefHttp::Refused, "parser refused ({e}), reference {want:?} (at {base}..{at})");
                return;
            }
        }
    }
});
