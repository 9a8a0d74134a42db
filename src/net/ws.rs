//! A sans-IO WebSocket client codec (RFC 6455): bytes in, messages out;
//! messages in, bytes out. Nothing here touches a socket.
//!
//! Source: RFC 6455, "The WebSocket Protocol" — §4.1/§4.2.2 (opening
//! handshake, `Sec-WebSocket-Accept` = base64(SHA-1(key ‖ GUID))), §5.2
//! (base framing), §5.3 (client-to-server masking), §5.4 (fragmentation),
//! §5.5 (control frames: ≤ 125 bytes, never fragmented), §5.5.1 (close
//! handshake), §5.7 (the examples the tests replay).
//!
//! # Invariants
//! - Every frame this client writes is masked (§5.3); a masked frame from
//!   the server is a protocol error (§5.1) and fails the connection.
//! - RSV bits must be zero: no extension is offered (permessage-deflate is
//!   not negotiated) and a handshake response that names one is refused.
//! - A complete unfragmented data frame is handed out as a mutable slice of
//!   the receive buffer: no copy. Only fragments are copied, into a fixed
//!   reassembly buffer of the caller-chosen size; a message larger than the
//!   limit is [`WsError::TooLarge`], never a reallocation.
//! - Control frames may arrive between the fragments of a message (§5.4)
//!   and are returned at once; the caller answers a ping with a pong of the
//!   same payload before reading further.
//! - Text payloads are not validated as UTF-8 here (the JSON decoders reject
//!   invalid text anyway); that is the one RFC "MUST" this codec leaves to
//!   its consumer.
//!
//! Entry points for fuzzing: [`parse_header`], [`WsReader::next_message`] after
//! [`WsReader::space`]/[`WsReader::filled`], [`Handshake::check_response`].

use base64::Engine as _;

use super::buf::InBuf;

/// The GUID of RFC 6455 §1.3.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Largest frame header: 2 bytes, 8 bytes of length, 4 bytes of mask.
pub const MAX_HEADER_LEN: usize = 14;

/// Largest control-frame payload (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Frame opcodes (§5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    /// Continuation of a fragmented message.
    Continuation,
    /// UTF-8 text.
    Text,
    /// Binary data.
    Binary,
    /// Close.
    Close,
    /// Ping.
    Ping,
    /// Pong.
    Pong,
}

impl OpCode {
    const fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    const fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Close, ping or pong.
    #[must_use]
    pub const fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// A protocol violation or a limit hit. Each fails the connection.
///
/// # Errors
/// Returned by [`parse_header`], [`WsReader::next_message`] and [`encode_frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// An RSV bit was set (no extension was negotiated).
    #[error("reserved bits set in a frame header")]
    ReservedBits,
    /// An opcode RFC 6455 does not define.
    #[error("unknown opcode {0:#x}")]
    UnknownOpcode(u8),
    /// A control frame without FIN.
    #[error("fragmented control frame")]
    FragmentedControl,
    /// A control frame longer than 125 bytes.
    #[error("control frame longer than 125 bytes")]
    ControlTooLong,
    /// The server masked a frame (§5.1).
    #[error("masked frame from the server")]
    MaskedFromServer,
    /// A length not in its shortest form, or with the top bit set (§5.2).
    #[error("invalid payload length encoding")]
    BadLength,
    /// A message or frame exceeds the configured limit.
    #[error("message of {len} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Length seen (so far).
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// A continuation frame with no message in progress.
    #[error("continuation frame without a message in progress")]
    UnexpectedContinuation,
    /// A new data frame while a fragmented message is in progress.
    #[error("new data frame inside a fragmented message")]
    ExpectedContinuation,
    /// A close frame with a one-byte payload (§5.5.1).
    #[error("close frame with a 1-byte payload")]
    BadClosePayload,
    /// The output buffer is too small for the frame.
    #[error("output buffer too small for the frame")]
    BufferTooSmall,
}

/// A parsed frame header (§5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Final fragment.
    pub fin: bool,
    /// Opcode.
    pub opcode: OpCode,
    /// Masking key, when the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// Payload length.
    pub payload_len: u64,
    /// Bytes of header before the payload.
    pub header_len: usize,
}

/// Parses a frame header at the start of `buf`. `Ok(None)`: more bytes are
/// needed. Pure function over bytes (a fuzz entry point).
///
/// # Errors
/// [`WsError`] for reserved bits, unknown opcodes, bad control frames and
/// non-minimal lengths.
pub fn parse_header(buf: &[u8]) -> Result<Option<FrameHeader>, WsError> {
    let [b0, b1, ..] = *buf else { return Ok(None) };
    if b0 & 0x70 != 0 {
        return Err(WsError::ReservedBits);
    }
    let fin = b0 & 0x80 != 0;
    let opcode = OpCode::from_bits(b0 & 0x0F).ok_or(WsError::UnknownOpcode(b0 & 0x0F))?;
    let masked = b1 & 0x80 != 0;
    let (payload_len, mut at) = match b1 & 0x7F {
        126 => {
            let Some(b) = buf.get(2..4) else { return Ok(None) };
            let len = u64::from(u16::from_be_bytes([b[0], b[1]]));
            if len < 126 {
                return Err(WsError::BadLength);
            }
            (len, 4)
        }
        127 => {
            let Some(b) = buf.get(2..10) else { return Ok(None) };
            let mut be = [0u8; 8];
            be.copy_from_slice(b);
            let len = u64::from_be_bytes(be);
            if len >> 63 != 0 || len <= 0xFFFF {
                return Err(WsError::BadLength);
            }
            (len, 10)
        }
        n => (u64::from(n), 2),
    };
    if opcode.is_control() {
        if !fin {
            return Err(WsError::FragmentedControl);
        }
        if payload_len > MAX_CONTROL_PAYLOAD as u64 {
            return Err(WsError::ControlTooLong);
        }
    }
    let mask = if masked {
        let Some(m) = buf.get(at..at + 4) else { return Ok(None) };
        at += 4;
        Some([m[0], m[1], m[2], m[3]])
    } else {
        None
    };
    Ok(Some(FrameHeader { fin, opcode, mask, payload_len, header_len: at }))
}

/// XORs `data` with the masking key (§5.3), eight bytes at a time.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let word = u64::from_ne_bytes([mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(w) ^ word).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// Writes one masked client frame (`fin` set) carrying `payload` into `out`;
/// returns its length.
///
/// # Errors
/// [`WsError::BufferTooSmall`]; [`WsError::ControlTooLong`] for a control
/// payload over 125 bytes.
pub fn encode_frame(opcode: OpCode, payload: &[u8], mask: [u8; 4], out: &mut [u8]) -> Result<usize, WsError> {
    if opcode.is_control() && payload.len() > MAX_CONTROL_PAYLOAD {
        return Err(WsError::ControlTooLong);
    }
    let len = payload.len();
    let mut header = [0u8; MAX_HEADER_LEN];
    header[0] = 0x80 | opcode.bits();
    let mut at = 2;
    if len < 126 {
        header[1] = 0x80 | len as u8;
    } else if len <= 0xFFFF {
        header[1] = 0x80 | 126;
        header[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        at = 4;
    } else {
        header[1] = 0x80 | 127;
        header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        at = 10;
    }
    header[at..at + 4].copy_from_slice(&mask);
    at += 4;
    let total = at + len;
    let out = out.get_mut(..total).ok_or(WsError::BufferTooSmall)?;
    out[..at].copy_from_slice(&header[..at]);
    out[at..].copy_from_slice(payload);
    apply_mask(&mut out[at..], mask);
    Ok(total)
}

/// Bytes a client frame of `payload_len` bytes takes on the wire.
#[must_use]
pub const fn client_frame_len(payload_len: usize) -> usize {
    payload_len
        + 6
        + if payload_len < 126 {
            0
        } else if payload_len <= 0xFFFF {
            2
        } else {
            8
        }
}

/// Mask keys from a xorshift generator seeded from the operating system's
/// random source once: §5.3 asks for unpredictable keys so that a proxy
/// cannot be fed chosen bytes; the key is not a secret.
#[derive(Debug, Clone)]
pub struct MaskSource(u64);

impl MaskSource {
    /// Seeded from the system random source (ring's `SystemRandom`).
    #[must_use]
    pub fn from_os() -> Self {
        use ring::rand::SecureRandom as _;
        let mut seed = [0u8; 8];
        // A failing system RNG leaves a fixed odd seed: masking still works,
        // only the keys become predictable.
        let _ = ring::rand::SystemRandom::new().fill(&mut seed);
        Self(u64::from_ne_bytes(seed) | 1)
    }

    /// A fixed seed (tests, replays).
    #[must_use]
    pub const fn with_seed(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// The next mask key.
    pub fn next_key(&mut self) -> [u8; 4] {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        let k = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32;
        k.to_ne_bytes()
    }
}

/// A complete message or control frame.
#[derive(Debug, PartialEq, Eq)]
pub enum WsMessage<'a> {
    /// A text message (not UTF-8 checked).
    Text(&'a mut [u8]),
    /// A binary message.
    Binary(&'a mut [u8]),
    /// A ping: answer with a pong carrying the same payload.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// The peer started (or answered) the close handshake.
    Close {
        /// Status code, when the frame had one.
        code: Option<u16>,
        /// Reason text.
        reason: &'a [u8],
    },
}

/// Reads frames from a fixed receive buffer and reassembles fragmented
/// messages into a fixed buffer.
pub struct WsReader {
    input: InBuf,
    frag: Box<[u8]>,
    frag_len: usize,
    frag_opcode: Option<OpCode>,
    /// Bytes of `input` to consume before the next frame (the frame last
    /// handed out, which the caller may still have been reading).
    pending_consume: usize,
    /// The reassembly buffer held the last message handed out.
    frag_delivered: bool,
    max_message: usize,
}

impl WsReader {
    /// A reader whose receive buffer holds `input_capacity` bytes and whose
    /// messages may be at most `max_message` bytes. A frame must fit the
    /// receive buffer whole: `input_capacity` ≥ `max_message` + 14.
    #[must_use]
    pub fn new(input_capacity: usize, max_message: usize) -> Self {
        Self {
            input: InBuf::new(input_capacity.max(max_message + MAX_HEADER_LEN)),
            frag: vec![0; max_message].into_boxed_slice(),
            frag_len: 0,
            frag_opcode: None,
            pending_consume: 0,
            frag_delivered: false,
            max_message,
        }
    }

    /// The message size limit.
    #[must_use]
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// Room to read received bytes into; at least `min` bytes when the
    /// buffer can make that much room by moving its unread bytes.
    pub fn space(&mut self, min: usize) -> &mut [u8] {
        self.settle();
        self.input.space(min)
    }

    /// Records that `n` bytes were written into [`WsReader::space`].
    pub fn filled(&mut self, n: usize) {
        self.input.filled(n);
    }

    /// The receive buffer (for the handshake response, read before frames).
    pub fn raw(&mut self) -> &mut InBuf {
        self.settle();
        &mut self.input
    }

    /// Bytes received and not yet parsed.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.input.len() - self.pending_consume
    }

    /// Forgets all state (a new connection).
    pub fn reset(&mut self) {
        self.input.clear();
        self.frag_len = 0;
        self.frag_opcode = None;
        self.pending_consume = 0;
        self.frag_delivered = false;
    }

    fn settle(&mut self) {
        if self.pending_consume > 0 {
            self.input.consume(self.pending_consume);
            self.pending_consume = 0;
        }
        if self.frag_delivered {
            self.frag_delivered = false;
            self.frag_len = 0;
            self.frag_opcode = None;
        }
    }

    /// The next complete message or control frame, or `Ok(None)` when more
    /// bytes are needed. Fuzz entry point (with [`WsReader::space`]).
    ///
    /// # Errors
    /// [`WsError`]: the connection must be failed.
    pub fn next_message(&mut self) -> Result<Option<WsMessage<'_>>, WsError> {
        let Some(frame) = self.advance()? else { return Ok(None) };
        Ok(Some(match frame {
            WsFrame::Text(loc) => WsMessage::Text(self.payload_mut(loc)),
            WsFrame::Binary(loc) => WsMessage::Binary(self.payload_mut(loc)),
            WsFrame::Ping(loc) => WsMessage::Ping(self.payload(loc)),
            WsFrame::Pong(loc) => WsMessage::Pong(self.payload(loc)),
            WsFrame::Close { code, reason } => WsMessage::Close { code, reason: self.payload(reason) },
        }))
    }

    /// A payload located by [`WsReader::advance`].
    #[must_use]
    pub fn payload(&self, loc: PayloadLoc) -> &[u8] {
        if loc.reassembled { &self.frag[loc.start..loc.end] } else { &self.input.data()[loc.start..loc.end] }
    }

    /// A payload located by [`WsReader::advance`], mutable (in-place parsing).
    pub fn payload_mut(&mut self, loc: PayloadLoc) -> &mut [u8] {
        if loc.reassembled {
            &mut self.frag[loc.start..loc.end]
        } else {
            &mut self.input.data_mut()[loc.start..loc.end]
        }
    }

    /// Like [`WsReader::next_message`], but returns where the payload is instead of
    /// borrowing it ([`WsReader::payload_mut`] fetches it), so a caller's
    /// loop holds no borrow across calls. The located payload stays valid
    /// until the next call to any `&mut self` method.
    ///
    /// # Errors
    /// [`WsError`]: the connection must be failed.
    pub fn advance(&mut self) -> Result<Option<WsFrame>, WsError> {
        self.settle();
        loop {
            let Some(h) = parse_header(self.input.data())? else { return Ok(None) };
            if h.mask.is_some() {
                return Err(WsError::MaskedFromServer);
            }
            if h.payload_len > self.max_message as u64 {
                return Err(WsError::TooLarge { len: h.payload_len, limit: self.max_message });
            }
            let len = h.payload_len as usize;
            let total = h.header_len + len;
            if self.input.len() < total {
                return Ok(None);
            }
            let here = PayloadLoc { reassembled: false, start: h.header_len, end: total };
            match h.opcode {
                OpCode::Text | OpCode::Binary if self.frag_opcode.is_some() => {
                    return Err(WsError::ExpectedContinuation);
                }
                OpCode::Text | OpCode::Binary if h.fin => {
                    self.pending_consume = total;
                    return Ok(Some(if h.opcode == OpCode::Text {
                        WsFrame::Text(here)
                    } else {
                        WsFrame::Binary(here)
                    }));
                }
                OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                    let Some(first) =
                        (if h.opcode == OpCode::Continuation { self.frag_opcode } else { Some(h.opcode) })
                    else {
                        return Err(WsError::UnexpectedContinuation);
                    };
                    let end = self.frag_len + len;
                    if end > self.max_message {
                        return Err(WsError::TooLarge { len: end as u64, limit: self.max_message });
                    }
                    self.frag[self.frag_len..end].copy_from_slice(&self.input.data()[h.header_len..total]);
                    self.frag_len = end;
                    self.frag_opcode = Some(first);
                    self.input.consume(total);
                    if h.fin {
                        self.frag_delivered = true;
                        let loc = PayloadLoc { reassembled: true, start: 0, end };
                        return Ok(Some(if first == OpCode::Text { WsFrame::Text(loc) } else { WsFrame::Binary(loc) }));
                    }
                }
                OpCode::Ping => {
                    self.pending_consume = total;
                    return Ok(Some(WsFrame::Ping(here)));
                }
                OpCode::Pong => {
                    self.pending_consume = total;
                    return Ok(Some(WsFrame::Pong(here)));
                }
                OpCode::Close => {
                    self.pending_consume = total;
                    return match len {
                        0 => Ok(Some(WsFrame::Close { code: None, reason: here })),
                        1 => Err(WsError::BadClosePayload),
                        _ => {
                            let p = &self.input.data()[h.header_len..total];
                            let code = u16::from_be_bytes([p[0], p[1]]);
                            let reason = PayloadLoc { start: h.header_len + 2, ..here };
                            Ok(Some(WsFrame::Close { code: Some(code), reason }))
                        }
                    };
                }
            }
        }
    }
}

/// Where a payload lies: in the receive buffer or the reassembly buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadLoc {
    reassembled: bool,
    start: usize,
    end: usize,
}

impl PayloadLoc {
    /// Payload length.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.end - self.start
    }

    /// Empty payload.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// A frame located by [`WsReader::advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsFrame {
    /// A whole text message.
    Text(PayloadLoc),
    /// A whole binary message.
    Binary(PayloadLoc),
    /// A ping.
    Ping(PayloadLoc),
    /// A pong.
    Pong(PayloadLoc),
    /// A close frame.
    Close {
        /// Status code, when present.
        code: Option<u16>,
        /// Reason text.
        reason: PayloadLoc,
    },
}

/// Why an opening handshake failed.
///
/// # Errors
/// Returned by [`client_handshake`] and [`Handshake::check_response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The request did not fit the output buffer.
    #[error("handshake request does not fit the buffer")]
    BufferTooSmall,
    /// The response is not valid HTTP/1.1.
    #[error("malformed handshake response")]
    Malformed,
    /// The status was not 101.
    #[error("handshake refused with HTTP status {0}")]
    Status(u16),
    /// `Upgrade: websocket` or `Connection: Upgrade` missing.
    #[error("handshake response lacks Upgrade: websocket / Connection: Upgrade")]
    NotUpgrade,
    /// `Sec-WebSocket-Accept` missing or wrong.
    #[error("Sec-WebSocket-Accept missing or wrong")]
    BadAccept,
    /// The server named an extension this client did not offer.
    #[error("server enabled an extension that was not offered")]
    UnofferedExtension,
    /// The response head exceeds the buffer.
    #[error("handshake response head too long")]
    TooLong,
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (§4.2.2).
#[must_use]
pub fn accept_for(key_b64: &[u8]) -> [u8; 28] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key_b64);
    ctx.update(GUID);
    let digest = ctx.finish();
    let mut out = [0u8; 28];
    // 20 bytes of SHA-1 encode to exactly 28 base64 characters.
    let n = base64::engine::general_purpose::STANDARD.encode_slice(digest.as_ref(), &mut out).unwrap_or(0);
    debug_assert_eq!(n, 28);
    out
}

/// What the client must check in the server's handshake response.
#[derive(Debug, Clone, Copy)]
pub struct Handshake {
    expected_accept: [u8; 28],
}

/// Writes the opening handshake request (§4.1) for `host` (with `:port`
/// when not the scheme's default) and `path` (with query) into `out`, with
/// the 16 random `nonce` bytes as the key. Returns the length written and
/// the check for the response.
///
/// # Errors
/// [`HandshakeError::BufferTooSmall`].
pub fn client_handshake(
    host: &str,
    path: &str,
    nonce: [u8; 16],
    out: &mut [u8],
) -> Result<(usize, Handshake), HandshakeError> {
    let mut key = [0u8; 24];
    let n = base64::engine::general_purpose::STANDARD.encode_slice(nonce, &mut key).unwrap_or(0);
    debug_assert_eq!(n, 24);
    let parts: [&[u8]; 7] = [
        b"GET ",
        path.as_bytes(),
        b" HTTP/1.1\r\nHost: ",
        host.as_bytes(),
        b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nUser-Agent: scalpel\r\nSec-WebSocket-Key: ",
        &key,
        b"\r\n\r\n",
    ];
    let mut at = 0;
    for p in parts {
        out.get_mut(at..at + p.len()).ok_or(HandshakeError::BufferTooSmall)?.copy_from_slice(p);
        at += p.len();
    }
    Ok((at, Handshake { expected_accept: accept_for(&key) }))
}

fn has_token(value: &[u8], token: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

impl Handshake {
    /// Checks the response head at the start of `buf`: `Ok(None)` when it
    /// is not complete yet, else the length of the head (bytes after it
    /// are already WebSocket frames). Pure function over bytes.
    ///
    /// # Errors
    /// [`HandshakeError`] when the server refused or answered wrongly.
    pub fn check_response(&self, buf: &[u8]) -> Result<Option<usize>, HandshakeError> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        let head_len = match resp.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => return Err(HandshakeError::TooLong),
            Err(_) => return Err(HandshakeError::Malformed),
        };
        let status = resp.code.unwrap_or(0);
        if status != 101 {
            return Err(HandshakeError::Status(status));
        }
        let (mut upgrade, mut connection, mut accept) = (false, false, false);
        for h in resp.headers.iter() {
            if h.name.eq_ignore_ascii_case("upgrade") {
                upgrade |= h.value.trim_ascii().eq_ignore_ascii_case(b"websocket");
            } else if h.name.eq_ignore_ascii_case("connection") {
                connection |= has_token(h.value, b"upgrade");
            } else if h.name.eq_ignore_ascii_case("sec-websocket-accept") {
                accept = h.value.trim_ascii() == self.expected_accept;
            } else if h.name.eq_ignore_ascii_case("sec-websocket-extensions") && !h.value.trim_ascii().is_empty() {
                return Err(HandshakeError::UnofferedExtension);
            }
        }
        if !(upgrade && connection) {
            return Err(HandshakeError::NotUpgrade);
        }
        if !accept {
            return Err(HandshakeError::BadAccept);
        }
        Ok(Some(head_len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn reader_with(bytes: &[u8]) -> WsReader {
        let mut r = WsReader::new(1 << 17, 1 << 16);
        r.space(bytes.len())[..bytes.len()].copy_from_slice(bytes);
        r.filled(bytes.len());
        r
    }

    #[test]
    fn rfc6455_5_7_single_unmasked_text() {
        let mut r = reader_with(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(r.next_message().unwrap(), Some(WsMessage::Text(&mut b"Hello".to_vec()[..])));
        assert_eq!(r.next_message().unwrap(), None);
    }

    #[test]
    fn rfc6455_5_7_masked_text_is_what_the_client_writes() {
        let mut out = [0u8; 32];
        let n = encode_frame(OpCode::Text, b"Hello", RFC_MASK, &mut out).unwrap();
        assert_eq!(&out[..n], &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        let h = parse_header(&out[..n]).unwrap().unwrap();
        assert_eq!((h.fin, h.opcode, h.mask, h.payload_len, h.header_len), (true, OpCode::Text, Some(RFC_MASK), 5, 6));
        // The server role unmasks with the same key.
        let mut payload = out[6..n].to_vec();
        apply_mask(&mut payload, RFC_MASK);
        assert_eq!(payload, b"Hello");
        // A client refuses a masked frame from the server (§5.1).
        let mut r = reader_with(&out[..n]);
        assert_eq!(r.next_message(), Err(WsError::MaskedFromServer));
    }

    #[test]
    fn rfc6455_5_7_fragmented_text() {
        let mut r = reader_with(&[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]);
        assert_eq!(r.next_message().unwrap(), Some(WsMessage::Text(&mut b"Hello".to_vec()[..])));
        assert_eq!(r.next_message().unwrap(), None);
    }

    #[test]
    fn rfc6455_5_7_ping_and_masked_pong() {
        let mut r = reader_with(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(r.next_message().unwrap(), Some(WsMessage::Ping(b"Hello")));
        let mut out = [0u8; 32];
        let n = encode_frame(OpCode::Pong, b"Hello", RFC_MASK, &mut out).unwrap();
        assert_eq!(&out[..n], &[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn rfc6455_5_7_256_bytes_and_64k_binary() {
        let mut frame = vec![0x82, 0x7E, 0x01, 0x00];
        frame.extend((0..256u32).map(|i| i as u8));
        let mut r = reader_with(&frame);
        match r.next_message().unwrap() {
            Some(WsMessage::Binary(p)) => assert_eq!(p.len(), 256),
            other => panic!("{other:?}"),
        }
        let mut frame = vec![0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00];
        frame.extend(std::iter::repeat_n(7u8, 65536));
        let mut r = reader_with(&frame);
        match r.next_message().unwrap() {
            Some(WsMessage::Binary(p)) => assert!(p.len() == 65536 && p.iter().all(|&b| b == 7)),
            other => panic!("{other:?}"),
        }
        // The client's encoder picks the same length forms.
        let mut out = vec![0u8; 70_000];
        let n = encode_frame(OpCode::Binary, &[0u8; 256], [0; 4], &mut out).unwrap();
        assert_eq!(&out[..4], &[0x82, 0xFE, 0x01, 0x00]);
        assert_eq!(n, client_frame_len(256));
        let n = encode_frame(OpCode::Binary, &vec![0u8; 65536], [0; 4], &mut out).unwrap();
        assert_eq!(&out[..10], &[0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(n, client_frame_len(65536));
    }

    #[test]
    fn rfc6455_4_2_2_accept_example() {
        assert_eq!(&accept_for(b"dGhlIHNhbXBsZSBub25jZQ=="), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn handshake_request_and_response_checks() {
        let nonce = *b"the sample nonce";
        let mut out = [0u8; 512];
        let (n, hs) = client_handshake("example.com:9443", "/public/stream", nonce, &mut out).unwrap();
        let req = std::str::from_utf8(&out[..n]).unwrap();
        assert!(req.starts_with("GET /public/stream HTTP/1.1\r\nHost: example.com:9443\r\n"));
        assert!(req.contains("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
        assert!(req.ends_with("\r\n\r\n"));
        let good = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x00";
        assert_eq!(hs.check_response(good), Ok(Some(good.len() - 2)));
        assert_eq!(hs.check_response(&good[..40]), Ok(None));
        let wrong = b"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n";
        assert_eq!(hs.check_response(wrong), Err(HandshakeError::BadAccept));
        let ext = b"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
        assert_eq!(hs.check_response(ext), Err(HandshakeError::UnofferedExtension));
        assert_eq!(hs.check_response(b"HTTP/1.1 404 Not Found\r\n\r\n"), Err(HandshakeError::Status(404)));
        assert_eq!(client_handshake("h", "/", nonce, &mut [0u8; 10]).err(), Some(HandshakeError::BufferTooSmall));
    }

    #[test]
    fn control_frames_between_fragments_and_protocol_errors() {
        // "Hel" + ping + "lo": the ping comes out first, then the message.
        let mut r = reader_with(&[0x01, 0x03, b'H', b'e', b'l', 0x89, 0x01, b'x', 0x80, 0x02, b'l', b'o']);
        assert_eq!(r.next_message().unwrap(), Some(WsMessage::Ping(b"x")));
        assert_eq!(r.next_message().unwrap(), Some(WsMessage::Text(&mut b"Hello".to_vec()[..])));
        assert_eq!(reader_with(&[0x80, 0x01, b'x']).next_message(), Err(WsError::UnexpectedContinuation));
        assert_eq!(
            reader_with(&[0x01, 0x01, b'x', 0x81, 0x01, b'y']).next_message(),
            Err(WsError::ExpectedContinuation)
        );
        assert_eq!(reader_with(&[0xC1, 0x00]).next_message(), Err(WsError::ReservedBits));
        assert_eq!(reader_with(&[0x83, 0x00]).next_message(), Err(WsError::UnknownOpcode(3)));
        assert_eq!(reader_with(&[0x09, 0x00]).next_message(), Err(WsError::FragmentedControl));
        assert_eq!(reader_with(&[0x89, 0x7E, 0x00, 0x7E]).next_message(), Err(WsError::ControlTooLong));
        assert_eq!(reader_with(&[0x81, 0x7E, 0x00, 0x05]).next_message(), Err(WsError::BadLength));
        assert_eq!(reader_with(&[0x88, 0x01, 0x03]).next_message(), Err(WsError::BadClosePayload));
        let mut close = reader_with(&[0x88, 0x04, 0x03, 0xE8, b'o', b'k']);
        assert_eq!(close.next_message().unwrap(), Some(WsMessage::Close { code: Some(1000), reason: b"ok" }));
        let mut small = WsReader::new(64, 8);
        small.space(4)[..4].copy_from_slice(&[0x81, 0x09, 0, 0]);
        small.filled(4);
        assert_eq!(small.next_message(), Err(WsError::TooLarge { len: 9, limit: 8 }));
        let mut frag = WsReader::new(64, 8);
        let bytes = [0x01, 0x05, 1, 2, 3, 4, 5, 0x80, 0x05, 1, 2, 3, 4, 5];
        frag.space(14)[..14].copy_from_slice(&bytes);
        frag.filled(14);
        assert_eq!(frag.next_message(), Err(WsError::TooLarge { len: 10, limit: 8 }));
    }

    #[test]
    fn frames_split_at_every_byte_come_out_whole() {
        let mut wire = Vec::new();
        wire.extend_from_slice(&[0x81, 0x05, b'a', b'b', b'c', b'd', b'e']);
        wire.extend_from_slice(&[0x01, 0x02, b'f', b'g', 0x8A, 0x00, 0x80, 0x01, b'h']);
        for split in 0..wire.len() {
            let mut r = WsReader::new(64, 32);
            let mut got = Vec::new();
            for part in [&wire[..split], &wire[split..]] {
                r.space(part.len())[..part.len()].copy_from_slice(part);
                r.filled(part.len());
                while let Some(m) = r.next_message().unwrap() {
                    got.push(format!("{m:?}"));
                }
            }
            assert_eq!(got.len(), 3, "split at {split}: {got:?}");
            assert!(
                got[0].contains("[97, 98, 99, 100, 101]")
                    && got[1].starts_with("Pong")
                    && got[2].contains("[102, 103, 104]")
            );
        }
    }

    #[test]
    fn mask_matches_bytewise_xor_at_every_length() {
        for len in 0..40 {
            let mut a: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
            let b: Vec<u8> = a.iter().enumerate().map(|(i, &x)| x ^ RFC_MASK[i % 4]).collect();
            apply_mask(&mut a, RFC_MASK);
            assert_eq!(a, b);
        }
        let mut m = MaskSource::with_seed(1);
        assert_ne!(m.next_key(), m.next_key());
    }

    /// A server frame (unmasked), the way any RFC 6455 server writes it.
    fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![(u8::from(fin) << 7) | opcode];
        match payload.len() {
            n if n < 126 => f.push(n as u8),
            n if n <= 0xFFFF => {
                f.push(126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(payload);
        f
    }

    proptest::proptest! {
        /// Any sequence of messages, each split into any number of
        /// fragments with pings between them, delivered in reads of any
        /// size, comes out as exactly those messages and pings, in order.
        #[test]
        fn any_fragmentation_and_read_split_yields_the_messages(
            msgs in proptest::collection::vec(
                (proptest::bool::ANY, proptest::collection::vec(proptest::num::u8::ANY, 0..400), 1usize..5, proptest::bool::ANY),
                1..12,
            ),
            reads in proptest::collection::vec(1usize..700, 1..64),
        ) {
            let mut wire = Vec::new();
            let mut want = Vec::new();
            for (text, payload, parts, ping) in &msgs {
                let step = payload.len().div_ceil(*parts).max(1);
                let chunks: Vec<&[u8]> = if payload.is_empty() { vec![&[][..]] } else { payload.chunks(step).collect() };
                for (i, c) in chunks.iter().enumerate() {
                    let op = if i == 0 { if *text { 1 } else { 2 } } else { 0 };
                    wire.extend(server_frame(i + 1 == chunks.len(), op, c));
                    if *ping && i == 0 {
                        // After the first fragment: inside the message when it
                        // has more fragments, after it when it has one.
                        wire.extend(server_frame(true, 9, b"hb"));
                    }
                }
                let mut p = payload.clone();
                let message = format!("{:?}", if *text { WsMessage::Text(&mut p) } else { WsMessage::Binary(&mut p) });
                let ping_text = format!("{:?}", WsMessage::Ping(b"hb"));
                match (*ping, chunks.len()) {
                    (true, 1) => want.extend([message, ping_text]),
                    (true, _) => want.extend([ping_text, message]),
                    (false, _) => want.push(message),
                }
            }
            let mut r = WsReader::new(4096, 2048);
            let mut got = Vec::new();
            let mut at = 0;
            let mut k = 0;
            while at < wire.len() {
                let n = reads[k % reads.len()].min(wire.len() - at);
                k += 1;
                let space = r.space(n);
                let n = n.min(space.len());
                space[..n].copy_from_slice(&wire[at..at + n]);
                r.filled(n);
                at += n;
                while let Some(m) = r.next_message().unwrap() {
                    got.push(format!("{m:?}"));
                }
            }
            proptest::prop_assert_eq!(got, want);
        }
    }
}
