//! A minimal HTTP/1.1 client codec, sans-IO: requests written into a
//! caller's buffer, responses parsed from a buffer (httparse for the head).
//!
//! Source: RFC 9112 (HTTP/1.1 message syntax): §6.1–6.3 (message body
//! length: `Transfer-Encoding: chunked` wins over `Content-Length`; a 1xx,
//! 204 or 304 response has no body), §7.1 (chunked coding, chunk
//! extensions ignored, trailers skipped), §9.3 (persistence: HTTP/1.1 keeps
//! the connection open unless `Connection: close`).
//!
//! # Invariants
//! - A response whose body would exceed the caller's limit is refused as
//!   soon as its length is known ([`HttpError::BodyTooLarge`]).
//! - A chunked body is decoded in place (chunks moved down over their size
//!   lines) only once the whole body has arrived, so a partial parse never
//!   changes the buffer.
//! - A body delimited only by the connection closing is not supported and
//!   is an error, not a guess.
//!
//! Fuzz entry point: [`parse_response`].

use std::ops::Range;

/// Why a request could not be written or a response was refused.
///
/// # Errors
/// Returned by [`write_request`] and [`parse_response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The request does not fit the buffer.
    #[error("request does not fit the buffer")]
    BufferTooSmall,
    /// The response head is not valid HTTP/1.1.
    #[error("malformed response head")]
    Malformed,
    /// More than 64 response headers.
    #[error("too many response headers")]
    TooManyHeaders,
    /// `Content-Length` is not a number, or two disagree.
    #[error("bad Content-Length")]
    BadContentLength,
    /// A malformed chunk size line or chunk terminator.
    #[error("bad chunked encoding")]
    BadChunk,
    /// The body exceeds the limit.
    #[error("response body larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// Neither `Content-Length` nor chunked: the body would end at close.
    #[error("response body delimited by connection close is not supported")]
    UnframedBody,
    /// A transfer coding other than chunked.
    #[error("unsupported Transfer-Encoding")]
    UnsupportedEncoding,
}

/// A complete response in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Length of the head (status line and headers).
    pub head_len: usize,
    /// Where the (decoded) body lies in the buffer.
    pub body: Range<usize>,
    /// Bytes of the buffer this response took; what follows is the next.
    pub consumed: usize,
    /// The server keeps the connection open.
    pub keep_alive: bool,
}

/// Writes `METHOD target HTTP/1.1` with `Host`, the given headers, a
/// `Content-Length` when `body` is not empty, and the body, into `out`.
///
/// # Errors
/// [`HttpError::BufferTooSmall`].
pub fn write_request(
    method: &str,
    host: &str,
    target: &[u8],
    headers: &[(&str, &[u8])],
    body: &[u8],
    out: &mut [u8],
) -> Result<usize, HttpError> {
    let mut at = 0;
    let mut put = |bytes: &[u8]| -> Result<(), HttpError> {
        out.get_mut(at..at + bytes.len()).ok_or(HttpError::BufferTooSmall)?.copy_from_slice(bytes);
        at += bytes.len();
        Ok(())
    };
    put(method.as_bytes())?;
    put(b" ")?;
    put(target)?;
    put(b" HTTP/1.1\r\nHost: ")?;
    put(host.as_bytes())?;
    put(b"\r\nUser-Agent: scalpel\r\nAccept: application/json\r\n")?;
    for (name, value) in headers {
        put(name.as_bytes())?;
        put(b": ")?;
        put(value)?;
        put(b"\r\n")?;
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        put(b"Content-Length: ")?;
        put(crate::venue::wire_writer::U64Text::new(body.len() as u64).as_bytes())?;
        put(b"\r\n")?;
    }
    put(b"\r\n")?;
    put(body)?;
    Ok(at)
}

fn parse_decimal(v: &[u8]) -> Option<usize> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 15 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0usize, |a, &d| a * 10 + usize::from(d - b'0')))
}

fn parse_hex(v: &[u8]) -> Option<usize> {
    if v.is_empty() || v.len() > 12 {
        return None;
    }
    v.iter().try_fold(0usize, |a, &d| Some(a * 16 + (d as char).to_digit(16)? as usize))
}

/// Finds the line ending at or after `from`; returns the index of `\r`.
fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?.windows(2).position(|w| w == b"\r\n").map(|p| from + p)
}

/// Parses a response at the start of `buf`: `Ok(None)` when incomplete.
/// A chunked body is decoded in place once complete. Pure function over
/// bytes.
///
/// # Errors
/// [`HttpError`] for malformed or oversized responses.
pub fn parse_response(buf: &mut [u8], max_body: usize) -> Result<Option<Response>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::TooManyHeaders),
        Err(_) => return Err(HttpError::Malformed),
    };
    let status = resp.code.unwrap_or(0);
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut keep_alive = resp.version == Some(1);
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = parse_decimal(h.value).ok_or(HttpError::BadContentLength)?;
            if content_length.is_some_and(|c| c != n) {
                return Err(HttpError::BadContentLength);
            }
            content_length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            for coding in h.value.split(|&b| b == b',') {
                let coding = coding.trim_ascii();
                if coding.eq_ignore_ascii_case(b"chunked") {
                    chunked = true;
                } else if !coding.is_empty() && !coding.eq_ignore_ascii_case(b"identity") {
                    return Err(HttpError::UnsupportedEncoding);
                }
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        }
    }
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Some(Response { status, head_len, body: head_len..head_len, consumed: head_len, keep_alive }));
    }
    if chunked {
        return parse_chunked(buf, head_len, max_body).map(|r| {
            r.map(|(body_len, consumed)| Response {
                status,
                head_len,
                body: head_len..head_len + body_len,
                consumed,
                keep_alive,
            })
        });
    }
    let Some(len) = content_length else { return Err(HttpError::UnframedBody) };
    if len > max_body {
        return Err(HttpError::BodyTooLarge { limit: max_body });
    }
    if buf.len() < head_len + len {
        return Ok(None);
    }
    Ok(Some(Response { status, head_len, body: head_len..head_len + len, consumed: head_len + len, keep_alive }))
}

/// Checks a chunked body starting at `start`, then moves its data together
/// right after `start`. Returns (decoded length, bytes consumed).
fn parse_chunked(buf: &mut [u8], start: usize, max_body: usize) -> Result<Option<(usize, usize)>, HttpError> {
    // Pass 1: find every chunk without touching the buffer.
    let mut at = start;
    let mut total = 0usize;
    let end = loop {
        let Some(cr) = find_crlf(buf, at) else { return Ok(None) };
        let line = &buf[at..cr];
        let size_text = line.split(|&b| b == b';').next().unwrap_or(line).trim_ascii();
        let size = parse_hex(size_text).ok_or(HttpError::BadChunk)?;
        at = cr + 2;
        if size == 0 {
            // Trailer section: header lines until an empty line.
            loop {
                let Some(cr) = find_crlf(buf, at) else { return Ok(None) };
                let empty = cr == at;
                at = cr + 2;
                if empty {
                    break;
                }
            }
            break at;
        }
        total += size;
        if total > max_body {
            return Err(HttpError::BodyTooLarge { limit: max_body });
        }
        if buf.len() < at + size + 2 {
            return Ok(None);
        }
        if &buf[at + size..at + size + 2] != b"\r\n" {
            return Err(HttpError::BadChunk);
        }
        at += size + 2;
    };
    // Pass 2: move chunk data down over the size lines.
    let mut read = start;
    let mut write = start;
    loop {
        let cr = find_crlf(buf, read).ok_or(HttpError::BadChunk)?;
        let line = &buf[read..cr];
        let size_text = line.split(|&b| b == b';').next().unwrap_or(line).trim_ascii();
        let size = parse_hex(size_text).ok_or(HttpError::BadChunk)?;
        read = cr + 2;
        if size == 0 {
            break;
        }
        buf.copy_within(read..read + size, write);
        write += size;
        read += size + 2;
    }
    Ok(Some((write - start, end)))
}

/// The value of header `name` in a response head (first match).
#[must_use]
pub fn header<'a>(head: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    resp.parse(head).ok()?;
    resp.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_has_host_headers_and_length() {
        let mut out = [0u8; 256];
        let n =
            write_request("POST", "fapi.example:443", b"/fapi/v1/listenKey", &[("X-MBX-APIKEY", b"k")], b"", &mut out)
                .unwrap();
        assert_eq!(
            std::str::from_utf8(&out[..n]).unwrap(),
            "POST /fapi/v1/listenKey HTTP/1.1\r\nHost: fapi.example:443\r\nUser-Agent: scalpel\r\nAccept: application/json\r\nX-MBX-APIKEY: k\r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(write_request("GET", "h", b"/", &[], b"", &mut [0u8; 8]), Err(HttpError::BufferTooSmall));
    }

    #[test]
    fn content_length_body_and_pipelined_rest() {
        let mut buf = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1".to_vec();
        let r = parse_response(&mut buf, 100).unwrap().unwrap();
        assert_eq!((r.status, &buf[r.body.clone()], r.consumed, r.keep_alive), (200, &b"hello"[..], 43, true));
        let mut partial = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel".to_vec();
        assert_eq!(parse_response(&mut partial, 100), Ok(None));
        let mut big = b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n".to_vec();
        assert_eq!(parse_response(&mut big, 100), Err(HttpError::BodyTooLarge { limit: 100 }));
        let mut close = b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_vec();
        let r = parse_response(&mut close, 100).unwrap().unwrap();
        assert_eq!((r.status, r.body.len(), r.keep_alive), (204, 0, false));
        let mut unframed = b"HTTP/1.1 200 OK\r\n\r\nabc".to_vec();
        assert_eq!(parse_response(&mut unframed, 100), Err(HttpError::UnframedBody));
        let mut bad = b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n".to_vec();
        assert_eq!(parse_response(&mut bad, 100), Err(HttpError::BadContentLength));
        assert_eq!(header(&buf, "content-length"), Some(&b"5"[..]));
    }

    #[test]
    fn chunked_body_decoded_in_place_only_when_complete() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        for cut in 0..wire.len() - 4 {
            let mut part = wire[..cut].to_vec();
            let before = part.clone();
            assert_eq!(parse_response(&mut part, 1000), Ok(None), "cut at {cut}");
            assert_eq!(part, before, "a partial parse leaves the buffer alone");
        }
        let mut buf = wire.to_vec();
        let r = parse_response(&mut buf, 1000).unwrap().unwrap();
        assert_eq!(&buf[r.body.clone()], b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(&buf[r.consumed..], b"NEXT");
        let mut small = wire.to_vec();
        assert_eq!(parse_response(&mut small, 10), Err(HttpError::BodyTooLarge { limit: 10 }));
        let mut bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec();
        assert_eq!(parse_response(&mut bad, 10), Err(HttpError::BadChunk));
        let mut bad_end = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY".to_vec();
        assert_eq!(parse_response(&mut bad_end, 10), Err(HttpError::BadChunk));
        let mut gzip = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec();
        assert_eq!(parse_response(&mut gzip, 10), Err(HttpError::UnsupportedEncoding));
    }

    proptest::proptest! {
        /// Any body in any chunking, cut anywhere: incomplete until the last
        /// byte, then exactly the body, with the bytes after it untouched.
        #[test]
        fn any_chunking_decodes_to_the_body(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
            sizes in proptest::collection::vec(1usize..90, 1..20),
            cut in 0usize..2000,
        ) {
            let mut wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            let mut at = 0;
            let mut k = 0;
            while at < body.len() {
                let n = sizes[k % sizes.len()].min(body.len() - at);
                k += 1;
                wire.extend_from_slice(format!("{n:X}\r\n").as_bytes());
                wire.extend_from_slice(&body[at..at + n]);
                wire.extend_from_slice(b"\r\n");
                at += n;
            }
            wire.extend_from_slice(b"0\r\n\r\n");
            let total = wire.len();
            wire.extend_from_slice(b"HTTP/1.1");
            let cut = cut % total;
            let mut part = wire[..cut].to_vec();
            proptest::prop_assert_eq!(parse_response(&mut part, 1 << 20), Ok(None));
            let r = parse_response(&mut wire, 1 << 20).unwrap().unwrap();
            proptest::prop_assert_eq!(&wire[r.body.clone()], &body[..]);
            proptest::prop_assert_eq!(r.consumed, total);
            proptest::prop_assert_eq!(&wire[r.consumed..], b"HTTP/1.1");
        }
    }
}
