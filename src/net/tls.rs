//! The byte layer under the WebSocket and HTTP codecs: TLS or plain TCP,
//! behind one small trait of ours ([`SecureLayer`]) so that the rest of
//! `net/` does not depend on rustls' API, which its next major version
//! replaces.
//!
//! TLS ([`TlsLayer`]) is two phases:
//! 1. **Handshake: rustls 0.23's unbuffered client** (certificate
//!    verification, key exchange, session resumption), driven as its
//!    `ConnectionState` machine asks (`EncodeTlsData` → `TransmitTlsData` →
//!    `BlockedHandshake` … → `WriteTraffic`, `discard` applied to the front
//!    of the incoming buffer before the next call; source: rustls
//!    `conn/unbuffered.rs`).
//! 2. **Records: our own record layer** ([`record`]), from the first
//!    `WriteTraffic` at which rustls has consumed every received byte:
//!    `dangerous_into_kernel_connection` hands over the traffic secrets and
//!    sequence numbers, and a `KernelConnection` that stores
//!    NewSessionTickets and derives key updates. Records are then opened and
//!    sealed in place with `ring`'s AEAD (TLS 1.3 and TLS 1.2 AEAD suites).
//!
//! Why: rustls 0.23.48's unbuffered client decrypts in place but then copies
//! each application-data record into a fresh `Vec`
//! (`CommonState::take_received_plaintext`), and `WriteTraffic::encrypt`
//! builds each outgoing record in a fresh `Vec`: one allocation per record
//! each way. Our record layer allocates nothing per record.
//!
//! **Fallback, labelled and counted**: when the client configuration has
//! `enable_secret_extraction` off (a configuration not made by
//! [`client_config`]), or until rustls has consumed every received byte,
//! application data goes through rustls' own record layer;
//! [`TlsStats::rustls_records_in`] / [`TlsStats::rustls_records_out`] count
//! those records (each allocates).
//!
//! # Invariants
//! - The incoming ciphertext buffer and the outgoing buffer are fixed and
//!   allocated at connect; a record that cannot fit is an error.
//! - Plaintext goes into the caller's receive buffer ([`InBuf`]). Our
//!   record layer leaves a record in the ciphertext buffer until the
//!   receive buffer has room for it; in the rustls phase, what does not fit
//!   waits in a fixed spill buffer, which is always emptied first (no loss,
//!   no reordering, no growth).
//! - The hand-over happens only when no received byte is left inside rustls
//!   (its handshake deframer may hold a partly received message there), so
//!   nothing decrypted by rustls is ever read again by us.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;
use rustls::unbuffered::{ConnectionState, ReadTraffic, UnbufferedStatus};

use self::record::RecordLayer;
pub use self::record::{MAX_CIPHERTEXT, Protocol};
use super::buf::{InBuf, OutBuf};

pub mod record;

/// Largest TLS record plaintext (RFC 8446 §5.1).
pub const MAX_RECORD_PLAINTEXT: usize = 16_384;

/// Incoming ciphertext buffer: two full records with headroom.
const INCOMING_CAPACITY: usize = 2 * (MAX_RECORD_PLAINTEXT + 2_048);

/// Why the byte layer failed. The connection is dropped and reconnected.
///
/// # Errors
/// Returned by [`SecureLayer`] methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LayerError {
    /// A socket error.
    #[error("socket: {0}")]
    Io(io::ErrorKind),
    /// TLS failed (the server's certificate is not trusted, a bad record,
    /// an alert).
    #[error("TLS: {0}")]
    Tls(TlsFailure),
    /// The outgoing buffer cannot take the record.
    #[error("outgoing buffer full")]
    OutFull,
    /// Received plaintext has no room anywhere (the receive buffer and the
    /// spill buffer are full).
    #[error("receive buffer full")]
    ReceiveFull,
    /// Application data written before the handshake finished.
    #[error("TLS handshake not finished")]
    NotReady,
    /// The peer closed the TLS session.
    #[error("TLS session closed")]
    Closed,
}

/// A coarse TLS failure class (rustls' error carries strings; this stays
/// small and `Copy` for the hot path's counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TlsFailure {
    /// Certificate not valid or not trusted (see `--ca-file`).
    #[error("certificate not trusted or invalid")]
    Certificate,
    /// The peer sent a fatal alert.
    #[error("peer sent an alert")]
    Alert,
    /// A record failed authentication (bad tag): corrupted or forged.
    #[error("record failed authentication")]
    Decrypt,
    /// A malformed record.
    #[error("bad record")]
    BadRecord,
    /// A record longer than 2^14 + 256 bytes (RFC 8446 §5.2), or plaintext
    /// longer than 2^14.
    #[error("record too large")]
    RecordOverflow,
    /// A record or message not allowed here (e.g. change_cipher_spec or a
    /// plaintext record after the handshake, a key update not at a record
    /// boundary).
    #[error("unexpected message")]
    UnexpectedMessage,
    /// A sequence number would wrap, or a TLS 1.2 key reached its
    /// confidentiality limit: the session must end.
    #[error("sequence numbers exhausted")]
    SequenceExhausted,
    /// Anything else (rustls' other errors, an unsupported suite).
    #[error("other TLS error")]
    Other,
}

impl From<rustls::Error> for LayerError {
    fn from(e: rustls::Error) -> Self {
        LayerError::Tls(match e {
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => TlsFailure::Certificate,
            rustls::Error::AlertReceived(_) => TlsFailure::Alert,
            rustls::Error::DecryptError => TlsFailure::Decrypt,
            rustls::Error::PeerSentOversizedRecord => TlsFailure::RecordOverflow,
            rustls::Error::InvalidMessage(_) => TlsFailure::BadRecord,
            _ => TlsFailure::Other,
        })
    }
}

impl From<io::Error> for LayerError {
    fn from(e: io::Error) -> Self {
        LayerError::Io(e.kind())
    }
}

/// What one [`SecureLayer::read`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStatus {
    /// Plaintext bytes added to the receive buffer.
    pub bytes: usize,
    /// The peer closed (TCP EOF or TLS close_notify).
    pub eof: bool,
    /// Stopped because the receive buffer is full, not because the socket
    /// ran dry: call again after consuming (mio is edge-triggered).
    pub full: bool,
}

/// Counters of a connection's TLS sessions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsStats {
    /// Sessions handed over to our record layer after the handshake.
    pub handovers: u64,
    /// Application-data records opened by our record layer.
    pub records_in: u64,
    /// Application-data records sealed by our record layer.
    pub records_out: u64,
    /// **Fallback**: application-data records decrypted by rustls' own
    /// record layer (one allocation each); 0 once handed over.
    pub rustls_records_in: u64,
    /// **Fallback**: application-data records encrypted by rustls (one
    /// allocation each).
    pub rustls_records_out: u64,
    /// TLS 1.3 KeyUpdate messages received (receive key replaced).
    pub key_updates_in: u64,
    /// TLS 1.3 KeyUpdate messages sent (send key replaced): answers to the
    /// peer's requests and updates before the confidentiality limit.
    pub key_updates_out: u64,
    /// NewSessionTickets received after the hand-over and stored by rustls.
    pub tickets: u64,
    /// NewSessionTickets skipped: larger than the reassembly buffer.
    pub tickets_skipped: u64,
    /// Records refused: bad tag, malformed, too large, or unexpected
    /// (each ends the session with a fatal alert).
    pub bad_records: u64,
    /// Alerts received other than close_notify (TLS 1.2 warnings and TLS
    /// 1.3 user_canceled are ignored; the rest end the session).
    pub alerts: u64,
    /// close_notify received.
    pub close_notify: u64,
    /// TLS 1.2 HelloRequest (renegotiation) ignored.
    pub hello_requests: u64,
}

impl TlsStats {
    /// Adds `o`'s counts to these.
    pub fn absorb(&mut self, o: &TlsStats) {
        self.handovers += o.handovers;
        self.records_in += o.records_in;
        self.records_out += o.records_out;
        self.rustls_records_in += o.rustls_records_in;
        self.rustls_records_out += o.rustls_records_out;
        self.key_updates_in += o.key_updates_in;
        self.key_updates_out += o.key_updates_out;
        self.tickets += o.tickets;
        self.tickets_skipped += o.tickets_skipped;
        self.bad_records += o.bad_records;
        self.alerts += o.alerts;
        self.close_notify += o.close_notify;
        self.hello_requests += o.hello_requests;
    }
}

/// A byte layer over a non-blocking socket.
pub trait SecureLayer {
    /// Still handshaking (TLS); plain TCP never is.
    fn handshaking(&self) -> bool;

    /// Reads what the socket has (until `WouldBlock`), advances the
    /// handshake (its records go to `out` and are flushed), and appends
    /// plaintext to `sink`.
    ///
    /// # Errors
    /// [`LayerError`]: drop the connection.
    fn read<S: Read + Write>(
        &mut self,
        io: &mut S,
        out: &mut OutBuf,
        sink: &mut InBuf,
    ) -> Result<ReadStatus, LayerError>;

    /// Writes `data` (encrypting it for TLS) into `out` and flushes what
    /// the socket takes; the rest stays in `out` for the next WRITABLE.
    /// Plaintext that arrives meanwhile goes to `sink`.
    ///
    /// # Errors
    /// [`LayerError`]: drop the connection.
    fn write<S: Read + Write>(
        &mut self,
        io: &mut S,
        out: &mut OutBuf,
        sink: &mut InBuf,
        data: &[u8],
    ) -> Result<(), LayerError>;

    /// Queues a TLS close_notify (best effort; plain TCP: nothing).
    fn close(&mut self, out: &mut OutBuf);

    /// TLS counters of this session (plain TCP: zero).
    fn tls_stats(&self) -> TlsStats {
        TlsStats::default()
    }
}

/// Plain TCP (`ws://`, `http://`): bytes pass through.
#[derive(Debug, Default)]
pub struct PlainLayer;

impl SecureLayer for PlainLayer {
    fn handshaking(&self) -> bool {
        false
    }

    fn read<S: Read + Write>(
        &mut self,
        io: &mut S,
        _out: &mut OutBuf,
        sink: &mut InBuf,
    ) -> Result<ReadStatus, LayerError> {
        let mut st = ReadStatus::default();
        loop {
            let space = sink.space(MAX_RECORD_PLAINTEXT);
            if space.is_empty() {
                st.full = true;
                return Ok(st);
            }
            match io.read(space) {
                Ok(0) => {
                    st.eof = true;
                    return Ok(st);
                }
                Ok(n) => {
                    sink.filled(n);
                    st.bytes += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(st),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn write<S: Read + Write>(
        &mut self,
        io: &mut S,
        out: &mut OutBuf,
        _sink: &mut InBuf,
        data: &[u8],
    ) -> Result<(), LayerError> {
        let mut sent = 0;
        // Straight from the caller's buffer when nothing is queued before it.
        if out.pending() == 0 {
            loop {
                match io.write(&data[sent..]) {
                    Ok(n) => {
                        sent += n;
                        if sent == data.len() || n == 0 {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if sent < data.len() {
            out.push(&data[sent..]).map_err(|_| LayerError::OutFull)?;
            out.flush(io)?;
        }
        Ok(())
    }

    fn close(&mut self, _out: &mut OutBuf) {}
}

/// Where a TLS session is.
enum Phase {
    /// rustls drives the session: the handshake, and application data until
    /// the hand-over (for good when secret extraction is off: the fallback).
    Rustls(Box<UnbufferedClientConnection>),
    /// Our record layer, after the hand-over.
    Records(Box<RecordLayer>),
    /// The hand-over failed half-way: the session is unusable.
    Broken,
}

/// TLS: rustls' unbuffered client for the handshake, then our record layer
/// (see the module docs).
pub struct TlsLayer {
    phase: Phase,
    /// The configuration allows secret extraction: hand the records over.
    extract: bool,
    incoming: Box<[u8]>,
    in_used: usize,
    /// Plaintext rustls decrypted that did not fit the receive buffer.
    spill: InBuf,
    handshaking: bool,
    closed: bool,
    /// Counters of the rustls phase (the record layer keeps its own).
    stats: TlsStats,
}

/// Copies records out of a `ReadTraffic` state into `sink` (then `spill`),
/// stopping before a record that fits neither. Returns (bytes to discard,
/// plaintext bytes, stopped for lack of room); counts the records.
fn take_records<Data>(
    r: &mut ReadTraffic<'_, '_, Data>,
    sink: &mut InBuf,
    spill: &mut InBuf,
    records: &mut u64,
) -> Result<(usize, usize, bool), LayerError> {
    let (mut discard, mut bytes) = (0, 0);
    loop {
        let Some(len) = r.peek_len() else { return Ok((discard, bytes, false)) };
        let len = len.get();
        let room = if spill.is_empty() { sink.space(MAX_RECORD_PLAINTEXT).len() } else { 0 };
        if len > room + spill.space(MAX_RECORD_PLAINTEXT).len() {
            return Ok((discard, bytes, true));
        }
        let Some(rec) = r.next_record() else { return Ok((discard, bytes, false)) };
        let rec = rec?;
        *records += 1;
        discard += rec.discard;
        let payload = rec.payload;
        let direct = payload.len().min(room);
        if direct > 0 {
            sink.space(MAX_RECORD_PLAINTEXT)[..direct].copy_from_slice(&payload[..direct]);
            sink.filled(direct);
        }
        let rest = &payload[direct..];
        if !rest.is_empty() {
            spill.space(rest.len())[..rest.len()].copy_from_slice(rest);
            spill.filled(rest.len());
        }
        bytes += payload.len();
    }
}

/// Moves spilled plaintext into `sink` as room allows; `true` when the
/// spill is empty afterwards.
fn drain_spill(spill: &mut InBuf, sink: &mut InBuf) -> bool {
    if spill.is_empty() {
        return true;
    }
    let space = sink.space(spill.len());
    let n = space.len().min(spill.len());
    space[..n].copy_from_slice(&spill.data()[..n]);
    sink.filled(n);
    spill.consume(n);
    spill.is_empty()
}

/// Seals `data` as records of at most 2^14 bytes into `out`, flushing `out`
/// to the socket when it needs room.
fn seal_all<S: Write>(rec: &mut RecordLayer, io: &mut S, out: &mut OutBuf, data: &[u8]) -> Result<(), LayerError> {
    for chunk in data.chunks(MAX_RECORD_PLAINTEXT) {
        match rec.seal(chunk, out) {
            Err(LayerError::OutFull) => {
                out.flush(io)?;
                rec.seal(chunk, out)?;
            }
            r => r?,
        }
    }
    Ok(())
}

impl TlsLayer {
    /// A client session for `host`, starting its handshake. The records are
    /// handed over to our record layer after the handshake when `config`
    /// has `enable_secret_extraction` (as [`client_config`] sets it); else
    /// rustls keeps them (the counted fallback).
    ///
    /// # Errors
    /// [`LayerError::Tls`] when `host` is not a valid server name.
    pub fn new(config: Arc<rustls::ClientConfig>, host: &str) -> Result<Self, LayerError> {
        let name = ServerName::try_from(host.to_owned()).map_err(|_| LayerError::Tls(TlsFailure::Other))?;
        let extract = config.enable_secret_extraction;
        Ok(Self {
            phase: Phase::Rustls(Box::new(UnbufferedClientConnection::new(config, name)?)),
            extract,
            incoming: vec![0; INCOMING_CAPACITY].into_boxed_slice(),
            in_used: 0,
            spill: InBuf::new(2 * MAX_RECORD_PLAINTEXT),
            handshaking: true,
            closed: false,
            stats: TlsStats::default(),
        })
    }

    /// The protocol version, once our record layer carries the records
    /// (`None` before the hand-over and on the fallback).
    #[must_use]
    pub fn protocol(&self) -> Option<Protocol> {
        match &self.phase {
            Phase::Records(rec) => Some(rec.protocol()),
            _ => None,
        }
    }

    /// Hands the session over to our record layer.
    fn take_over_records(&mut self) -> Result<(), LayerError> {
        let Phase::Rustls(conn) = std::mem::replace(&mut self.phase, Phase::Broken) else {
            return Err(LayerError::Tls(TlsFailure::Other));
        };
        let (secrets, kernel) = conn.dangerous_into_kernel_connection()?;
        self.phase = Phase::Records(Box::new(RecordLayer::new(secrets, kernel)?));
        self.stats.handovers += 1;
        Ok(())
    }

    /// Runs rustls' state machine until it needs more bytes or may write.
    /// `data`, when given, is written at the first `WriteTraffic` (by our
    /// record layer when the hand-over happens there).
    fn process<S: Read + Write>(
        &mut self,
        io: &mut S,
        out: &mut OutBuf,
        sink: &mut InBuf,
        data: Option<&[u8]>,
        st: &mut ReadStatus,
    ) -> Result<(), LayerError> {
        let mut written = data.is_none();
        loop {
            let Phase::Rustls(conn) = &mut self.phase else { return Err(LayerError::Tls(TlsFailure::Other)) };
            let UnbufferedStatus { mut discard, state } = conn.process_tls_records(&mut self.incoming[..self.in_used]);
            let mut stop = false;
            let mut take_over = false;
            match state? {
                ConnectionState::ReadTraffic(mut r) => {
                    let (d, bytes, full) =
                        take_records(&mut r, sink, &mut self.spill, &mut self.stats.rustls_records_in)?;
                    discard += d;
                    st.bytes += bytes;
                    if full {
                        st.full = true;
                        if !written {
                            return Err(LayerError::ReceiveFull);
                        }
                        stop = true;
                    }
                }
                ConnectionState::EncodeTlsData(mut e) => {
                    let n = e.encode(out.space()).map_err(|_| LayerError::OutFull)?;
                    out.filled(n);
                }
                ConnectionState::TransmitTlsData(t) => {
                    out.flush(io)?;
                    t.done();
                }
                ConnectionState::BlockedHandshake => {
                    if !written {
                        return Err(LayerError::NotReady);
                    }
                    stop = true;
                }
                ConnectionState::WriteTraffic(mut w) => {
                    self.handshaking = false;
                    if self.extract && discard == self.in_used {
                        // rustls holds no received byte: hand over now.
                        take_over = true;
                    } else if let (false, Some(data)) = (written, data) {
                        let n = w.encrypt(data, out.space()).map_err(|_| LayerError::OutFull)?;
                        out.filled(n);
                        self.stats.rustls_records_out += data.len().div_ceil(MAX_RECORD_PLAINTEXT).max(1) as u64;
                        written = true;
                    }
                    stop = true;
                }
                ConnectionState::PeerClosed => {
                    st.eof = true;
                    self.closed = true;
                }
                ConnectionState::Closed => {
                    st.eof = true;
                    self.closed = true;
                    stop = true;
                }
                _ => stop = true,
            }
            if discard > 0 {
                self.incoming.copy_within(discard..self.in_used, 0);
                self.in_used -= discard;
            }
            if take_over {
                self.take_over_records()?;
                if let (false, Some(data), Phase::Records(rec)) = (written, data, &mut self.phase) {
                    seal_all(rec, io, out, data)?;
                    written = true;
                }
            }
            if stop {
                if !written {
                    return Err(LayerError::Closed);
                }
                return Ok(());
            }
        }
    }

    /// Reads and opens records with our record layer until the socket runs
    /// dry, the receive buffer is full, or the peer closed.
    fn read_records<S: Read + Write>(
        &mut self,
        io: &mut S,
        out: &mut OutBuf,
        sink: &mut InBuf,
        mut st: ReadStatus,
    ) -> Result<ReadStatus, LayerError> {
        let Phase::Records(rec) = &mut self.phase else { return Err(LayerError::Tls(TlsFailure::Other)) };
        loop {
            let opened = match rec.open_records(&self.incoming[..self.in_used], sink, out) {
                Ok(o) => o,
                Err(e) => {
                    // The fatal alert, best effort.
                    let _ = out.flush(io);
                    return Err(e);
                }
            };
            if opened.consumed > 0 {
                self.incoming.copy_within(opened.consumed..self.in_used, 0);
                self.in_used -= opened.consumed;
            }
            st.bytes += opened.bytes;
            if opened.closed {
                st.eof = true;
                break;
            }
            if opened.full {
                st.full = true;
                break;
            }
            if self.in_used == self.incoming.len() {
                // Cannot happen: the buffer holds two of the largest records.
                return Err(LayerError::Tls(TlsFailure::RecordOverflow));
            }
            match io.read(&mut self.incoming[self.in_used..]) {
                Ok(0) => {
                    st.eof = true;
                    break;
                }
                Ok(n) => self.in_used += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        // A key update answer.
        if out.pending() > 0 {
            out.flush(io)?;
        }
        Ok(st)
    }
}

impl SecureLayer for TlsLayer {
    fn handshaking(&self) -> bool {
        self.handshaking
    }

    fn read<S: Read + Write>(
        &mut self,
        io: &mut S,
        out: &mut OutBuf,
        sink: &mut InBuf,
    ) -> Result<ReadStatus, LayerError> {
        let mut st = ReadStatus::default();
        if !drain_spill(&mut self.spill, sink) {
            st.full = true;
            return Ok(st);
        }
        if matches!(self.phase, Phase::Records(_)) {
            return self.read_records(io, out, sink, st);
        }
        loop {
            let mut dry = false;
            if self.in_used < self.incoming.len() {
                match io.read(&mut self.incoming[self.in_used..]) {
                    Ok(0) => st.eof = true,
                    Ok(n) => self.in_used += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => dry = true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            let before = self.in_used;
            self.process(io, out, sink, None, &mut st)?;
            if st.full || st.eof || dry {
                return Ok(st);
            }
            if matches!(self.phase, Phase::Records(_)) {
                return self.read_records(io, out, sink, st);
            }
            if self.in_used == self.incoming.len() && before == self.in_used {
                // A full buffer that yields nothing is a record too large.
                return Err(LayerError::Tls(TlsFailure::RecordOverflow));
            }
        }
    }

    fn write<S: Read + Write>(
        &mut self,
        io: &mut S,
        out: &mut OutBuf,
        sink: &mut InBuf,
        data: &[u8],
    ) -> Result<(), LayerError> {
        if self.closed {
            return Err(LayerError::Closed);
        }
        match &mut self.phase {
            Phase::Records(rec) => seal_all(rec, io, out, data)?,
            Phase::Rustls(_) => self.process(io, out, sink, Some(data), &mut ReadStatus::default())?,
            Phase::Broken => return Err(LayerError::Tls(TlsFailure::Other)),
        }
        out.flush(io)?;
        Ok(())
    }

    fn close(&mut self, out: &mut OutBuf) {
        match &mut self.phase {
            Phase::Records(rec) => rec.close(out),
            Phase::Rustls(conn) => {
                let UnbufferedStatus { state, .. } = conn.process_tls_records(&mut self.incoming[..0]);
                if let Ok(ConnectionState::WriteTraffic(mut w)) = state
                    && let Ok(n) = w.queue_close_notify(out.space())
                {
                    out.filled(n);
                }
            }
            Phase::Broken => {}
        }
        self.closed = true;
    }

    fn tls_stats(&self) -> TlsStats {
        let mut s = self.stats;
        if let Phase::Records(rec) = &self.phase {
            s.absorb(&rec.stats());
        }
        s
    }
}

/// Either layer, chosen by the URL scheme.
pub enum Layer {
    /// `ws://`, `http://`.
    Plain(PlainLayer),
    /// `wss://`, `https://`.
    Tls(Box<TlsLayer>),
}

impl SecureLayer for Layer {
    fn handshaking(&self) -> bool {
        match self {
            Layer::Plain(l) => l.handshaking(),
            Layer::Tls(l) => l.handshaking(),
        }
    }

    #[inline]
    fn read<S: Read + Write>(
        &mut self,
        io: &mut S,
        out: &mut OutBuf,
        sink: &mut InBuf,
    ) -> Result<ReadStatus, LayerError> {
        match self {
            Layer::Plain(l) => l.read(io, out, sink),
            Layer::Tls(l) => l.read(io, out, sink),
        }
    }

    #[inline]
    fn write<S: Read + Write>(
        &mut self,
        io: &mut S,
        out: &mut OutBuf,
        sink: &mut InBuf,
        data: &[u8],
    ) -> Result<(), LayerError> {
        match self {
            Layer::Plain(l) => l.write(io, out, sink, data),
            Layer::Tls(l) => l.write(io, out, sink, data),
        }
    }

    fn close(&mut self, out: &mut OutBuf) {
        match self {
            Layer::Plain(l) => l.close(out),
            Layer::Tls(l) => l.close(out),
        }
    }

    fn tls_stats(&self) -> TlsStats {
        match self {
            Layer::Plain(l) => l.tls_stats(),
            Layer::Tls(l) => l.tls_stats(),
        }
    }
}

/// Why the TLS configuration could not be built.
///
/// # Errors
/// Returned by [`client_config`].
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// The CA file could not be read or holds no certificate.
    #[error("--ca-file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A client configuration: the `ring` provider, the Mozilla roots from
/// `webpki-roots`, plus every certificate in `ca_file` (PEM) when given;
/// TLS 1.3 and 1.2, secret extraction on (our record layer takes over
/// after the handshake).
///
/// # Errors
/// [`TlsConfigError`].
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsConfigError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = ca_file {
        let err = |reason: String| TlsConfigError::CaFile { path: path.display().to_string(), reason };
        let iter = CertificateDer::pem_file_iter(path).map_err(|e| err(e.to_string()))?;
        let mut added = 0;
        for cert in iter {
            let cert = cert.map_err(|e| err(e.to_string()))?;
            roots.add(cert).map_err(|e| err(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(err("no certificate in the file".into()));
        }
    }
    client_config_with_roots(roots)
}

/// [`client_config`] trusting exactly `roots` (tests, a simulator's CA).
///
/// # Errors
/// [`TlsConfigError::Rustls`].
pub fn client_config_with_roots(roots: rustls::RootCertStore) -> Result<Arc<rustls::ClientConfig>, TlsConfigError> {
    // rustls 0.23.48 deprecates ring's provider because it has no
    // post-quantum key exchange; the design picks ring (it needs only a C
    // compiler, aws-lc-rs needs cmake), so the warning is silenced here.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // The traffic secrets go to our record layer after the handshake
    // (`TlsLayer`); they stay in this process.
    config.enable_secret_extraction = true;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests;
