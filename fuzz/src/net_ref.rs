//! Independent references for the network codecs' fuzz targets: a
//! WebSocket frame reader (RFC 6455 §5.2–§5.5) and an HTTP/1.1 response
//! framer (RFC 9112 §6.3, §7.1) written plainly over a whole input held in
//! memory, sharing no code with `scalpel::net`. The targets feed the real
//! codecs the same bytes split into arbitrary reads and compare.

use scalpel::net::ws::WsError;

/// A message as the reference reads it (owned copies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefMessage {
    /// A whole text message.
    Text(Vec<u8>),
    /// A whole binary message.
    Binary(Vec<u8>),
    /// A ping.
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
    /// A close frame.
    Close(Option<u16>, Vec<u8>),
}

/// What the reference made of a whole input: the messages, then either the
/// error that ends the connection or `None` (the rest is an incomplete
/// frame, or nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefWs {
    /// Messages in order.
    pub messages: Vec<RefMessage>,
    /// The error after them, if any.
    pub error: Option<WsError>,
}

/// Reads server frames from `wire` with messages limited to `max_message`
/// bytes. The checks of one frame come in this order: header fields (RSV,
/// opcode, length form, control rules; each only once the bytes it needs
/// are there), the mask (a client refuses masked frames), the frame's and
/// the message's size, and only then, with the whole frame present, the
/// fragmentation rules and the close payload.
#[must_use]
pub fn ws_reference(wire: &[u8], max_message: usize) -> RefWs {
    let mut messages = Vec::new();
    let mut at = 0;
    // The message being reassembled: its first opcode (1 text, 2 binary) and bytes.
    let mut partial: Option<(u8, Vec<u8>)> = None;
    let fail = |messages: Vec<RefMessage>, e: WsError| RefWs { messages, error: Some(e) };
    loop {
        let rest = &wire[at..];
        if rest.len() < 2 {
            return RefWs { messages, error: None };
        }
        let (b0, b1) = (rest[0], rest[1]);
        if (b0 >> 4) & 0b0111 != 0 {
            return fail(messages, WsError::ReservedBits);
        }
        let fin = b0 >> 7 == 1;
        let opcode = b0 & 0x0F;
        if !matches!(opcode, 0 | 1 | 2 | 8 | 9 | 10) {
            return fail(messages, WsError::UnknownOpcode(opcode));
        }
        let control = opcode >= 8;
        let masked = b1 >> 7 == 1;
        let len7 = b1 & 0x7F;
        let (len, header): (u64, usize) = if len7 == 126 {
            if rest.len() < 4 {
                return RefWs { messages, error: None };
            }
            let n = u64::from(rest[2]) << 8 | u64::from(rest[3]);
            if n <= 125 {
                return fail(messages, WsError::BadLength);
            }
            (n, 4)
        } else if len7 == 127 {
            if rest.len() < 10 {
                return RefWs { messages, error: None };
            }
            let n = rest[2..10].iter().fold(0u64, |a, &b| a << 8 | u64::from(b));
            if n > i64::MAX as u64 || n < 65_536 {
                return fail(messages, WsError::BadLength);
            }
            (n, 10)
        } else {
            (u64::from(len7), 2)
        };
        if control && !fin {
            return fail(messages, WsError::FragmentedControl);
        }
        if control && len > 125 {
            return fail(messages, WsError::ControlTooLong);
        }
        if masked {
            if rest.len() < header + 4 {
                return RefWs { messages, error: None };
            }
            return fail(messages, WsError::MaskedFromServer);
        }
        if len > max_message as u64 {
            return fail(messages, WsError::TooLarge { len, limit: max_message });
        }
        let len = len as usize;
        if rest.len() < header + len {
            return RefWs { messages, error: None };
        }
        let payload = rest[header..header + len].to_vec();
        at += header + len;
        match opcode {
            1 | 2 if partial.is_some() => return fail(messages, WsError::ExpectedContinuation),
            1 | 2 if fin => {
                messages.push(if opcode == 1 { RefMessage::Text(payload) } else { RefMessage::Binary(payload) })
            }
            1 | 2 => {
                if payload.len() > max_message {
                    return fail(messages, WsError::TooLarge { len: payload.len() as u64, limit: max_message });
                }
                partial = Some((opcode, payload));
            }
            0 => {
                let Some((first, mut bytes)) = partial.take() else {
                    return fail(messages, WsError::UnexpectedContinuation);
                };
                bytes.extend_from_slice(&payload);
                if bytes.len() > max_message {
                    return fail(messages, WsError::TooLarge { len: bytes.len() as u64, limit: max_message });
                }
                if fin {
                    messages.push(if first == 1 { RefMessage::Text(bytes) } else { RefMessage::Binary(bytes) });
                } else {
                    partial = Some((first, bytes));
                }
            }
            9 => messages.push(RefMessage::Ping(payload)),
            10 => messages.push(RefMessage::Pong(payload)),
            _ => match payload.len() {
                0 => messages.push(RefMessage::Close(None, Vec::new())),
                1 => return fail(messages, WsError::BadClosePayload),
                _ => messages.push(RefMessage::Close(
                    Some(u16::from(payload[0]) << 8 | u16::from(payload[1])),
                    payload[2..].to_vec(),
                )),
            },
        }
    }
}

/// What the HTTP reference made of the bytes at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefHttp {
    /// A whole response: status, decoded body, bytes taken, keep-alive.
    Response {
        /// Status code.
        status: u16,
        /// The body, chunked coding removed.
        body: Vec<u8>,
        /// Bytes of the input the response took.
        consumed: usize,
        /// The connection stays open after it.
        keep_alive: bool,
    },
    /// More bytes are needed.
    Incomplete,
    /// The response is refused (malformed, too large, unsupported framing).
    Refused,
}

fn crlf_at(buf: &[u8], from: usize) -> Option<usize> {
    (from..buf.len().saturating_sub(1)).find(|&i| buf[i] == b'\r' && buf[i + 1] == b'\n')
}

fn ascii_trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\r' | b'\n' | b'\x0c', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r' | b'\n' | b'\x0c'] = s {
        s = rest;
    }
    s
}

/// Frames one response at the start of `buf` (RFC 9112): the head by
/// httparse (a dependency, not the code under test), the body by hand:
/// 1xx/204/304 have none; `Transfer-Encoding: chunked` wins over
/// `Content-Length`; any other coding but `identity` is refused; differing
/// `Content-Length`s are refused, as is a length of more than 15 digits or a
/// chunk size of more than 12 hex digits (the client's documented bounds);
/// a body over `max_body` is refused as soon as its length is known;
/// without either header the body would end at close: refused.
#[must_use]
pub fn http_reference(buf: &[u8], max_body: usize) -> RefHttp {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return RefHttp::Incomplete,
        Err(_) => return RefHttp::Refused,
    };
    let status = resp.code.unwrap_or(0);
    let mut keep_alive = resp.version == Some(1);
    let mut lengths = Vec::new();
    let mut chunked = false;
    for h in resp.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        let value = ascii_trim(h.value);
        match name.as_str() {
            "content-length" => {
                if value.is_empty() || value.len() > 15 || value.iter().any(|b| !b.is_ascii_digit()) {
                    return RefHttp::Refused;
                }
                lengths.push(std::str::from_utf8(value).ok().and_then(|s| s.parse::<usize>().ok()).unwrap_or(0));
            }
            "transfer-encoding" => {
                for coding in value.split(|&b| b == b',').map(ascii_trim) {
                    match coding.to_ascii_lowercase().as_slice() {
                        b"chunked" => chunked = true,
                        b"" | b"identity" => {}
                        _ => return RefHttp::Refused,
                    }
                }
            }
            "connection" => {
                for token in value.split(|&b| b == b',').map(ascii_trim) {
                    match token.to_ascii_lowercase().as_slice() {
                        b"close" => keep_alive = false,
                        b"keep-alive" => keep_alive = true,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if lengths.windows(2).any(|w| w[0] != w[1]) {
        return RefHttp::Refused;
    }
    if status / 100 == 1 || status == 204 || status == 304 {
        return RefHttp::Response { status, body: Vec::new(), consumed: head, keep_alive };
    }
    if chunked {
        let mut body = Vec::new();
        let mut at = head;
        loop {
            let Some(cr) = crlf_at(buf, at) else { return RefHttp::Incomplete };
            let line = &buf[at..cr];
            let size_text = ascii_trim(line.split(|&b| b == b';').next().unwrap_or(&[]));
            if size_text.is_empty() || size_text.len() > 12 || !size_text.iter().all(u8::is_ascii_hexdigit) {
                return RefHttp::Refused;
            }
            let size = usize::from_str_radix(std::str::from_utf8(size_text).unwrap_or("0"), 16).unwrap_or(0);
            at = cr + 2;
            if size == 0 {
                // Trailer lines up to the empty one.
                loop {
                    let Some(cr) = crlf_at(buf, at) else { return RefHttp::Incomplete };
                    let empty = cr == at;
                    at = cr + 2;
                    if empty {
                        return RefHttp::Response { status, body, consumed: at, keep_alive };
                    }
                }
            }
            if body.len() + size > max_body {
                return RefHttp::Refused;
            }
            if buf.len() < at + size + 2 {
                return RefHttp::Incomplete;
            }
            if &buf[at + size..at + size + 2] != b"\r\n" {
                return RefHttp::Refused;
            }
            body.extend_from_slice(&buf[at..at + size]);
            at += size + 2;
        }
    }
    let Some(&len) = lengths.first() else { return RefHttp::Refused };
    if len > max_body {
        return RefHttp::Refused;
    }
    if buf.len() < head + len {
        return RefHttp::Incomplete;
    }
    RefHttp::Response { status, body: buf[head..head + len].to_vec(), consumed: head + len, keep_alive }
}
