//! Our TLS record layer: after rustls' handshake, application data is
//! decrypted and encrypted here, in place in fixed buffers, with `ring`'s
//! AEAD, from the traffic secrets rustls hands over
//! (`UnbufferedClientConnection::dangerous_into_kernel_connection`).
//! rustls' `KernelConnection` stays in charge of what only it can do: it
//! stores NewSessionTickets and derives the next traffic secrets at a key
//! update. Sans-IO: bytes in, bytes out.
//!
//! Sources:
//! - TLS 1.3, RFC 8446: §5.1 record header, content types, limits and record
//!   boundaries of key changes; §5.2 inner plaintext (content type, zero
//!   padding), AAD = the record header, ciphertext ≤ 2^14 + 256; §5.3
//!   per-record nonce = IV xor the 64-bit sequence number, which never wraps;
//!   §5.4 padding (content type = last non-zero byte; content, type and
//!   padding ≤ 2^14 + 1); §5.5 key usage limits; §4.6.1 NewSessionTicket; §4.6.3 KeyUpdate; §6
//!   alerts (close_notify, user_canceled, every other alert is an error).
//! - TLS 1.2 AEAD, RFC 5246 §6.2.3.3: AAD = seq_num ‖ type ‖ version ‖
//!   plaintext length; RFC 5288 §3: AES-GCM nonce = 4-byte salt ‖ 8-byte
//!   explicit nonce carried at the front of each record; RFC 7905 §2:
//!   ChaCha20-Poly1305 nonce = IV xor the padded sequence number. Our
//!   explicit GCM nonce is IV xor sequence number, as rustls builds it
//!   (`gcm_iv` in rustls 0.23.48), so nonces never repeat under a key.
//!
//! # Invariants
//! - A record is taken from the front of the ciphertext only once it is
//!   whole, authenticated, and its plaintext is in the sink: when the sink
//!   has no room the record stays where it is (nothing lost, nothing grown).
//! - Ciphertext is copied once, into the sink, and opened in place there:
//!   the plaintext lands where the WebSocket reader parses it.
//! - Sequence numbers never wrap: an exhausted counter is an error, never a
//!   reused nonce. TLS 1.3 send keys are replaced (KeyUpdate) before the
//!   suite's confidentiality limit; TLS 1.2 refuses to send past it.
//! - A handshake message split over records is reassembled in a fixed
//!   buffer; a NewSessionTicket larger than it is skipped and counted (a
//!   client may ignore tickets), anything else larger is an error.
//! - After any error the layer sends one fatal alert (best effort) and
//!   refuses everything afterwards.
//! - Nothing here allocates per record; a key update and a ticket allocate
//!   inside rustls (rare, post-handshake).

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use rustls::client::ClientConnectionData;
use rustls::kernel::KernelConnection;
use rustls::{ConnectionTrafficSecrets, ExtractedSecrets, ProtocolVersion, SupportedCipherSuite};

use super::{LayerError, MAX_RECORD_PLAINTEXT, TlsFailure, TlsStats};
use crate::net::buf::{InBuf, OutBuf};

/// Largest `TLSCiphertext.length` accepted (RFC 8446 §5.2: 2^14 + 256;
/// a TLS 1.2 AEAD record is at most 2^14 + 24).
pub const MAX_CIPHERTEXT: usize = MAX_RECORD_PLAINTEXT + 256;
/// Record header: type, version, length.
pub const HEADER_LEN: usize = 5;
const TAG_LEN: usize = 16;
/// TLS 1.2 AES-GCM explicit nonce (RFC 5288 §3).
const EXPLICIT_NONCE_LEN: usize = 8;

const CT_CHANGE_CIPHER_SPEC: u8 = 20;
const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
const CT_APPLICATION_DATA: u8 = 23;

const HS_HELLO_REQUEST: u8 = 0;
const HS_NEW_SESSION_TICKET: u8 = 4;
const HS_KEY_UPDATE: u8 = 24;

const ALERT_WARNING: u8 = 1;
const ALERT_FATAL: u8 = 2;
const ALERT_CLOSE_NOTIFY: u8 = 0;
const ALERT_UNEXPECTED_MESSAGE: u8 = 10;
const ALERT_BAD_RECORD_MAC: u8 = 20;
const ALERT_RECORD_OVERFLOW: u8 = 22;
const ALERT_DECODE_ERROR: u8 = 50;
const ALERT_INTERNAL_ERROR: u8 = 80;
const ALERT_USER_CANCELED: u8 = 90;

/// Post-handshake handshake messages are reassembled here.
const HS_CAPACITY: usize = 16 * 1024;

/// The negotiated protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TLS 1.2 (AEAD suites only: rustls offers no other).
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// One direction's key, IV and sequence number.
pub(super) struct Keys {
    key: LessSafeKey,
    iv: [u8; aead::NONCE_LEN],
    pub(super) seq: u64,
    /// TLS 1.2 AES-GCM: an explicit nonce travels in each record.
    explicit_nonce: bool,
}

impl Keys {
    pub(super) fn new(secrets: &ConnectionTrafficSecrets, seq: u64, proto: Protocol) -> Result<Self, LayerError> {
        let (alg, key, iv, gcm) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&aead::AES_128_GCM, key, iv, true),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&aead::AES_256_GCM, key, iv, true),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => (&aead::CHACHA20_POLY1305, key, iv, false),
            _ => return Err(LayerError::Tls(TlsFailure::Other)),
        };
        let key = UnboundKey::new(alg, key.as_ref()).map_err(|_| LayerError::Tls(TlsFailure::Other))?;
        let iv: [u8; aead::NONCE_LEN] = iv.as_ref().try_into().map_err(|_| LayerError::Tls(TlsFailure::Other))?;
        Ok(Self { key: LessSafeKey::new(key), iv, seq, explicit_nonce: gcm && proto == Protocol::Tls12 })
    }

    /// The next sequence number; an error instead of wrapping.
    fn take_seq(&mut self) -> Result<u64, LayerError> {
        let seq = self.seq;
        self.seq = seq.checked_add(1).ok_or(LayerError::Tls(TlsFailure::SequenceExhausted))?;
        Ok(seq)
    }

    /// IV xor the sequence number, right-aligned (RFC 8446 §5.3, RFC 7905 §2).
    fn nonce(&self, seq: u64) -> [u8; aead::NONCE_LEN] {
        let mut n = self.iv;
        for (b, s) in n[aead::NONCE_LEN - 8..].iter_mut().zip(seq.to_be_bytes()) {
            *b ^= s;
        }
        n
    }

    /// Bytes a record of `n` plaintext bytes takes on the wire.
    fn sealed_len(&self, proto: Protocol, n: usize) -> usize {
        match proto {
            Protocol::Tls13 => HEADER_LEN + n + 1 + TAG_LEN,
            Protocol::Tls12 if self.explicit_nonce => HEADER_LEN + EXPLICIT_NONCE_LEN + n + TAG_LEN,
            Protocol::Tls12 => HEADER_LEN + n + TAG_LEN,
        }
    }

    /// Seals one record of content type `typ` into `dst`; returns its
    /// length. Nothing is consumed (no sequence number) when `dst` is short.
    /// (Callers keep `data` within 2^14 bytes; the tests go beyond to forge
    /// oversized records.)
    pub(super) fn seal(&mut self, proto: Protocol, typ: u8, data: &[u8], dst: &mut [u8]) -> Result<usize, LayerError> {
        let total = self.sealed_len(proto, data.len());
        if dst.len() < total {
            return Err(LayerError::OutFull);
        }
        let seq = self.take_seq()?;
        let nonce = self.nonce(seq);
        let len = u16::try_from(total - HEADER_LEN).map_err(|_| LayerError::Tls(TlsFailure::Other))?;
        let [l0, l1] = len.to_be_bytes();
        let (tag, at) = match proto {
            Protocol::Tls13 => {
                let header = [CT_APPLICATION_DATA, 3, 3, l0, l1];
                dst[..HEADER_LEN].copy_from_slice(&header);
                let body = &mut dst[HEADER_LEN..HEADER_LEN + data.len() + 1];
                body[..data.len()].copy_from_slice(data);
                body[data.len()] = typ;
                let tag = self
                    .key
                    .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(header), body)
                    .map_err(|_| LayerError::Tls(TlsFailure::Other))?;
                (tag, HEADER_LEN + data.len() + 1)
            }
            Protocol::Tls12 => {
                dst[..HEADER_LEN].copy_from_slice(&[typ, 3, 3, l0, l1]);
                let mut at = HEADER_LEN;
                if self.explicit_nonce {
                    dst[at..at + EXPLICIT_NONCE_LEN].copy_from_slice(&nonce[4..]);
                    at += EXPLICIT_NONCE_LEN;
                }
                let body = &mut dst[at..at + data.len()];
                body.copy_from_slice(data);
                let tag = self
                    .key
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(tls12_aad(seq, typ, [3, 3], data.len())),
                        body,
                    )
                    .map_err(|_| LayerError::Tls(TlsFailure::Other))?;
                (tag, at + data.len())
            }
        };
        dst[at..at + TAG_LEN].copy_from_slice(tag.as_ref());
        Ok(total)
    }

    /// Opens the record `header` ‖ `payload` into `dst` (at least
    /// `payload.len()` bytes): returns the content type and the plaintext
    /// length at the front of `dst` (TLS 1.3: inner type and padding removed).
    pub(super) fn open(
        &mut self,
        proto: Protocol,
        header: [u8; HEADER_LEN],
        payload: &[u8],
        dst: &mut [u8],
    ) -> Result<(u8, usize), LayerError> {
        let bad = LayerError::Tls(TlsFailure::BadRecord);
        match proto {
            Protocol::Tls13 => {
                if payload.len() < TAG_LEN + 1 {
                    return Err(bad);
                }
                let seq = self.take_seq()?;
                let nonce = Nonce::assume_unique_for_key(self.nonce(seq));
                let buf = &mut dst[..payload.len()];
                buf.copy_from_slice(payload);
                let plain = self
                    .key
                    .open_in_place(nonce, Aad::from(header), buf)
                    .map_err(|_| LayerError::Tls(TlsFailure::Decrypt))?;
                // Content, type and padding: at most 2^14 + 1 bytes (§5.4).
                if plain.len() > MAX_RECORD_PLAINTEXT + 1 {
                    return Err(LayerError::Tls(TlsFailure::RecordOverflow));
                }
                // The content type is the last non-zero byte (§5.4).
                let Some(end) = plain.iter().rposition(|&b| b != 0) else {
                    return Err(LayerError::Tls(TlsFailure::UnexpectedMessage));
                };
                Ok((plain[end], end))
            }
            Protocol::Tls12 => {
                let overhead = if self.explicit_nonce { EXPLICIT_NONCE_LEN + TAG_LEN } else { TAG_LEN };
                if payload.len() < overhead {
                    return Err(bad);
                }
                let seq = self.take_seq()?;
                let (nonce, ct) = if self.explicit_nonce {
                    let mut n = [0u8; aead::NONCE_LEN];
                    n[..4].copy_from_slice(&self.iv[..4]);
                    n[4..].copy_from_slice(&payload[..EXPLICIT_NONCE_LEN]);
                    (n, &payload[EXPLICIT_NONCE_LEN..])
                } else {
                    (self.nonce(seq), payload)
                };
                let plain_len = ct.len() - TAG_LEN;
                let aad = tls12_aad(seq, header[0], [header[1], header[2]], plain_len);
                let buf = &mut dst[..ct.len()];
                buf.copy_from_slice(ct);
                self.key
                    .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buf)
                    .map_err(|_| LayerError::Tls(TlsFailure::Decrypt))?;
                if plain_len > MAX_RECORD_PLAINTEXT {
                    return Err(LayerError::Tls(TlsFailure::RecordOverflow));
                }
                Ok((header[0], plain_len))
            }
        }
    }
}

/// seq_num ‖ type ‖ version ‖ length (RFC 5246 §6.2.3.3).
fn tls12_aad(seq: u64, typ: u8, version: [u8; 2], len: usize) -> [u8; 13] {
    let mut aad = [0u8; 13];
    aad[..8].copy_from_slice(&seq.to_be_bytes());
    aad[8] = typ;
    aad[9..11].copy_from_slice(&version);
    // `len` ≤ 2^14 + 256 here: the record length field is 16 bits.
    aad[11..].copy_from_slice(&(len as u16).to_be_bytes());
    aad
}

/// What one [`RecordLayer::open_records`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Opened {
    /// Ciphertext bytes to drop from the front of the input.
    pub consumed: usize,
    /// Application-data bytes appended to the sink.
    pub bytes: usize,
    /// Stopped before a record the sink has no room for now.
    pub full: bool,
    /// The peer sent close_notify: nothing after it is read.
    pub closed: bool,
}

/// The record layer of one TLS session after its handshake.
pub struct RecordLayer {
    proto: Protocol,
    pub(super) rx: Keys,
    pub(super) tx: Keys,
    /// Records sealed under one send key (the suite's confidentiality
    /// limit, RFC 8446 §5.5): TLS 1.3 updates the key before it, TLS 1.2
    /// stops.
    pub(super) tx_limit: u64,
    kernel: KernelConnection<ClientConnectionData>,
    hs: Box<[u8]>,
    hs_len: usize,
    /// Bytes of an oversized NewSessionTicket still to skip.
    hs_skip: usize,
    /// The peer asked for a key update: ours goes out before our next record.
    tx_update_due: bool,
    peer_closed: bool,
    /// We sent close_notify or a fatal alert.
    closed: bool,
    stats: TlsStats,
}

impl RecordLayer {
    /// Takes over a session from the secrets and kernel connection rustls
    /// handed over at the end of the handshake.
    ///
    /// # Errors
    /// [`LayerError::Tls`] with [`TlsFailure::Other`] for a protocol version
    /// or AEAD this layer does not implement.
    pub fn new(secrets: ExtractedSecrets, kernel: KernelConnection<ClientConnectionData>) -> Result<Self, LayerError> {
        let proto = match kernel.protocol_version() {
            ProtocolVersion::TLSv1_3 => Protocol::Tls13,
            ProtocolVersion::TLSv1_2 => Protocol::Tls12,
            _ => return Err(LayerError::Tls(TlsFailure::Other)),
        };
        let tx_limit = match kernel.negotiated_cipher_suite() {
            SupportedCipherSuite::Tls13(s) => s.common.confidentiality_limit,
            SupportedCipherSuite::Tls12(s) => s.common.confidentiality_limit,
        };
        let ExtractedSecrets { tx: (tx_seq, tx), rx: (rx_seq, rx) } = secrets;
        Ok(Self {
            proto,
            rx: Keys::new(&rx, rx_seq, proto)?,
            tx: Keys::new(&tx, tx_seq, proto)?,
            tx_limit,
            kernel,
            hs: vec![0; HS_CAPACITY].into_boxed_slice(),
            hs_len: 0,
            hs_skip: 0,
            tx_update_due: false,
            peer_closed: false,
            closed: false,
            stats: TlsStats::default(),
        })
    }

    /// The negotiated protocol version.
    #[must_use]
    pub fn protocol(&self) -> Protocol {
        self.proto
    }

    /// Counters since the hand-over.
    #[must_use]
    pub fn stats(&self) -> TlsStats {
        self.stats
    }

    /// Opens every whole record at the front of `incoming`: application
    /// data is appended to `sink`, post-handshake messages go to rustls'
    /// kernel connection, close_notify ends the input. Stops before a record
    /// the sink has no room for now. A key update the peer asked for is
    /// sealed into `out` before returning.
    ///
    /// # Errors
    /// [`LayerError`]: a bad record (counted in [`TlsStats::bad_records`],
    /// answered with a fatal alert queued in `out`), a fatal alert from the
    /// peer, an exhausted sequence number, [`LayerError::ReceiveFull`] when
    /// the sink could never hold a record. The session is unusable after.
    pub fn open_records(&mut self, incoming: &[u8], sink: &mut InBuf, out: &mut OutBuf) -> Result<Opened, LayerError> {
        if self.closed {
            return Err(LayerError::Closed);
        }
        match self.open_inner(incoming, sink, out) {
            Ok(o) => Ok(o),
            Err(e) => {
                self.fail(e, out);
                Err(e)
            }
        }
    }

    fn open_inner(&mut self, incoming: &[u8], sink: &mut InBuf, out: &mut OutBuf) -> Result<Opened, LayerError> {
        let mut done = Opened::default();
        while !self.peer_closed {
            let rest = &incoming[done.consumed..];
            let Some(&[typ, v0, v1, l0, l1]) = rest.get(..HEADER_LEN) else { break };
            let len = usize::from(u16::from_be_bytes([l0, l1]));
            if len > MAX_CIPHERTEXT {
                return Err(LayerError::Tls(TlsFailure::RecordOverflow));
            }
            let Some(payload) = rest.get(HEADER_LEN..HEADER_LEN + len) else { break };
            self.check_outer_type(typ)?;
            if sink.capacity() < len {
                return Err(LayerError::ReceiveFull);
            }
            let space = sink.space(len);
            if space.len() < len {
                done.full = true;
                break;
            }
            let (inner, n) = self.rx.open(self.proto, [typ, v0, v1, l0, l1], payload, space)?;
            done.consumed += HEADER_LEN + len;
            let in_handshake = self.hs_len > 0 || self.hs_skip > 0;
            match inner {
                CT_APPLICATION_DATA if !in_handshake => {
                    sink.filled(n);
                    done.bytes += n;
                    self.stats.records_in += 1;
                }
                CT_HANDSHAKE if n > 0 => self.on_handshake(&space[..n])?,
                // One alert per record, never fragmented (RFC 8446 §5.1).
                CT_ALERT if !in_handshake && n == 2 => self.on_alert(space[0], space[1])?,
                CT_ALERT if !in_handshake => return Err(LayerError::Tls(TlsFailure::BadRecord)),
                // Zero-length handshake fragments, records interleaved with
                // a split handshake message (RFC 8446 §5.1), unknown types.
                _ => return Err(LayerError::Tls(TlsFailure::UnexpectedMessage)),
            }
        }
        done.closed = self.peer_closed;
        if self.tx_update_due && !self.peer_closed {
            // With `out` full it stays due: `seal` sends it before the next
            // application data, as §4.6.3 requires.
            match self.send_key_update(out) {
                Ok(()) | Err(LayerError::OutFull) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// After the handshake only protected application-data records (TLS
    /// 1.3), or protected data, alert and handshake records (TLS 1.2).
    fn check_outer_type(&self, typ: u8) -> Result<(), LayerError> {
        match (self.proto, typ) {
            (Protocol::Tls13, CT_APPLICATION_DATA)
            | (Protocol::Tls12, CT_APPLICATION_DATA | CT_ALERT | CT_HANDSHAKE) => Ok(()),
            (_, CT_CHANGE_CIPHER_SPEC | CT_ALERT | CT_HANDSHAKE) => Err(LayerError::Tls(TlsFailure::UnexpectedMessage)),
            _ => Err(LayerError::Tls(TlsFailure::BadRecord)),
        }
    }

    fn on_alert(&mut self, level: u8, desc: u8) -> Result<(), LayerError> {
        if desc == ALERT_CLOSE_NOTIFY {
            self.peer_closed = true;
            self.stats.close_notify += 1;
            return Ok(());
        }
        self.stats.alerts += 1;
        match self.proto {
            // user_canceled is followed by close_notify (RFC 8446 §6.1).
            Protocol::Tls13 if desc == ALERT_USER_CANCELED => Ok(()),
            // TLS 1.2 warnings may be ignored (RFC 5246 §7.2).
            Protocol::Tls12 if level == ALERT_WARNING => Ok(()),
            _ => Err(LayerError::Tls(TlsFailure::Alert)),
        }
    }

    /// Reassembles handshake messages (possibly split over records) and
    /// handles each complete one.
    fn on_handshake(&mut self, mut bytes: &[u8]) -> Result<(), LayerError> {
        while !bytes.is_empty() {
            if self.hs_skip > 0 {
                let n = self.hs_skip.min(bytes.len());
                self.hs_skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            if self.hs_len < 4 {
                let n = (4 - self.hs_len).min(bytes.len());
                self.hs[self.hs_len..self.hs_len + n].copy_from_slice(&bytes[..n]);
                self.hs_len += n;
                bytes = &bytes[n..];
                if self.hs_len < 4 {
                    break;
                }
            }
            let typ = self.hs[0];
            let len = u32::from_be_bytes([0, self.hs[1], self.hs[2], self.hs[3]]) as usize;
            if 4 + len > self.hs.len() {
                if typ == HS_NEW_SESSION_TICKET && self.proto == Protocol::Tls13 {
                    self.hs_skip = len;
                    self.hs_len = 0;
                    self.stats.tickets_skipped += 1;
                    continue;
                }
                return Err(LayerError::Tls(TlsFailure::UnexpectedMessage));
            }
            let n = (4 + len - self.hs_len).min(bytes.len());
            self.hs[self.hs_len..self.hs_len + n].copy_from_slice(&bytes[..n]);
            self.hs_len += n;
            bytes = &bytes[n..];
            if self.hs_len < 4 + len {
                break;
            }
            self.hs_len = 0;
            self.on_handshake_message(typ, len, bytes.is_empty())?;
        }
        Ok(())
    }

    /// A complete post-handshake message in `hs[4..4 + len]`.
    fn on_handshake_message(&mut self, typ: u8, len: usize, at_record_end: bool) -> Result<(), LayerError> {
        let body = &self.hs[4..4 + len];
        match (self.proto, typ) {
            (Protocol::Tls13, HS_NEW_SESSION_TICKET) => {
                self.kernel.handle_new_session_ticket(body)?;
                self.stats.tickets += 1;
                Ok(())
            }
            (Protocol::Tls13, HS_KEY_UPDATE) => {
                let requested = match body {
                    [0] => false,
                    [1] => true,
                    _ => return Err(LayerError::Tls(TlsFailure::BadRecord)),
                };
                // A key change must fall on a record boundary (§5.1).
                if !at_record_end {
                    return Err(LayerError::Tls(TlsFailure::UnexpectedMessage));
                }
                let (seq, secrets) = self.kernel.update_rx_secret()?;
                self.rx = Keys::new(&secrets, seq, self.proto)?;
                self.stats.key_updates_in += 1;
                self.tx_update_due |= requested;
                Ok(())
            }
            // A client may ignore HelloRequest (RFC 5246 §7.4.1.1); rustls
            // never renegotiates.
            (Protocol::Tls12, HS_HELLO_REQUEST) if len == 0 => {
                self.stats.hello_requests += 1;
                Ok(())
            }
            _ => Err(LayerError::Tls(TlsFailure::UnexpectedMessage)),
        }
    }

    /// Seals KeyUpdate(update_not_requested) under the current send key,
    /// then switches to the next one (RFC 8446 §4.6.3).
    fn send_key_update(&mut self, out: &mut OutBuf) -> Result<(), LayerError> {
        let n = self.tx.seal(self.proto, CT_HANDSHAKE, &[HS_KEY_UPDATE, 0, 0, 1, 0], out.space())?;
        out.filled(n);
        let (seq, secrets) = self.kernel.update_tx_secret()?;
        self.tx = Keys::new(&secrets, seq, self.proto)?;
        self.tx_update_due = false;
        self.stats.key_updates_out += 1;
        Ok(())
    }

    /// Seals `data` (at most 2^14 bytes) as one application-data record
    /// into `out`, after a key update if one is due.
    ///
    /// # Errors
    /// [`LayerError::OutFull`] with nothing consumed (flush and retry);
    /// [`TlsFailure::SequenceExhausted`] when a TLS 1.2 key reached its
    /// limit; [`LayerError::Closed`] after close or an error.
    pub fn seal(&mut self, data: &[u8], out: &mut OutBuf) -> Result<(), LayerError> {
        if self.closed {
            return Err(LayerError::Closed);
        }
        if data.len() > MAX_RECORD_PLAINTEXT {
            return Err(LayerError::Tls(TlsFailure::Other));
        }
        let due = self.tx_update_due || self.tx.seq >= self.tx_limit.saturating_sub(1);
        if self.proto == Protocol::Tls13 && due {
            self.send_key_update(out)?;
        }
        if self.tx.seq >= self.tx_limit {
            return Err(LayerError::Tls(TlsFailure::SequenceExhausted));
        }
        let n = self.tx.seal(self.proto, CT_APPLICATION_DATA, data, out.space())?;
        out.filled(n);
        self.stats.records_out += 1;
        Ok(())
    }

    /// Queues close_notify (best effort: nothing when `out` is full).
    pub fn close(&mut self, out: &mut OutBuf) {
        if !self.closed {
            self.queue_alert(ALERT_WARNING, ALERT_CLOSE_NOTIFY, out);
            self.closed = true;
        }
    }

    fn queue_alert(&mut self, level: u8, desc: u8, out: &mut OutBuf) {
        if let Ok(n) = self.tx.seal(self.proto, CT_ALERT, &[level, desc], out.space()) {
            out.filled(n);
        }
    }

    /// Counts a refused record and queues the matching fatal alert.
    fn fail(&mut self, e: LayerError, out: &mut OutBuf) {
        let desc = match e {
            LayerError::Tls(TlsFailure::Decrypt) => Some(ALERT_BAD_RECORD_MAC),
            LayerError::Tls(TlsFailure::RecordOverflow) => Some(ALERT_RECORD_OVERFLOW),
            LayerError::Tls(TlsFailure::BadRecord) => Some(ALERT_DECODE_ERROR),
            LayerError::Tls(TlsFailure::UnexpectedMessage) => Some(ALERT_UNEXPECTED_MESSAGE),
            LayerError::Tls(TlsFailure::Alert) => None,
            _ => Some(ALERT_INTERNAL_ERROR),
        };
        if matches!(
            desc,
            Some(ALERT_BAD_RECORD_MAC | ALERT_RECORD_OVERFLOW | ALERT_DECODE_ERROR | ALERT_UNEXPECTED_MESSAGE)
        ) {
            self.stats.bad_records += 1;
        }
        if let Some(desc) = desc
            && !self.closed
        {
            self.queue_alert(ALERT_FATAL, desc, out);
        }
        self.closed = true;
    }
}
