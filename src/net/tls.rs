//! The byte layer under the WebSocket and HTTP codecs: TLS through rustls'
//! unbuffered (sans-IO) client, or plain TCP, behind one small trait of
//! ours ([`SecureLayer`]) so that the rest of `net/` does not depend on
//! rustls' API, which its next major version replaces.
//!
//! Source: rustls 0.23 `conn/unbuffered.rs` (the `ConnectionState` machine:
//! `EncodeTlsData` → `TransmitTlsData` → `BlockedHandshake` … → `WriteTraffic`
//! / `ReadTraffic`; `discard` applied to the front of the incoming buffer
//! before the next call).
//!
//! # Invariants
//! - The incoming ciphertext buffer and the outgoing buffer are fixed and
//!   allocated at connect; a record that cannot fit is an error.
//! - Plaintext goes straight into the caller's receive buffer ([`InBuf`]);
//!   what does not fit waits in a fixed spill buffer, and records beyond
//!   that stay inside rustls until the caller has made room (no loss, no
//!   growth).
//! - **Measured fact about rustls 0.23.48** (read in its source and counted
//!   by `tests/net_loopback.rs`): its unbuffered client decrypts in place
//!   but then copies each application-data record into a fresh `Vec`
//!   (`CommonState::take_received_plaintext`), and `encrypt` builds each
//!   outgoing record in a fresh `Vec` too. So a TLS connection costs about
//!   one allocation per received record and per sent record, inside rustls;
//!   the plain-TCP layer and everything above this module allocate nothing
//!   per frame. Removing those needs our own record layer over rustls'
//!   extracted secrets (the kTLS route) — not done.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;
use rustls::unbuffered::{ConnectionState, ReadTraffic, UnbufferedStatus};

use super::buf::{InBuf, OutBuf};

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
    /// A malformed or undecryptable record.
    #[error("bad record")]
    BadRecord,
    /// Anything else rustls reported.
    #[error("other TLS error")]
    Other,
}

impl From<rustls::Error> for LayerError {
    fn from(e: rustls::Error) -> Self {
        LayerError::Tls(match e {
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => TlsFailure::Certificate,
            rustls::Error::AlertReceived(_) => TlsFailure::Alert,
            rustls::Error::DecryptError | rustls::Error::InvalidMessage(_) => TlsFailure::BadRecord,
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

/// TLS through rustls' unbuffered client.
pub struct RustlsLayer {
    conn: UnbufferedClientConnection,
    incoming: Box<[u8]>,
    in_used: usize,
    /// Plaintext that did not fit the receive buffer.
    spill: InBuf,
    handshaking: bool,
    closed: bool,
}

/// Copies records out of a `ReadTraffic` state into `sink` (then `spill`),
/// stopping before a record that fits neither. Returns (bytes to discard,
/// plaintext bytes, stopped for lack of room).
fn take_records<Data>(
    r: &mut ReadTraffic<'_, '_, Data>,
    sink: &mut InBuf,
    spill: &mut InBuf,
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

impl RustlsLayer {
    /// A client session for `host`, starting its handshake.
    ///
    /// # Errors
    /// [`LayerError::Tls`] when `host` is not a valid server name.
    pub fn new(config: Arc<rustls::ClientConfig>, host: &str) -> Result<Self, LayerError> {
        let name = ServerName::try_from(host.to_owned()).map_err(|_| LayerError::Tls(TlsFailure::Other))?;
        Ok(Self {
            conn: UnbufferedClientConnection::new(config, name)?,
            incoming: vec![0; INCOMING_CAPACITY].into_boxed_slice(),
            in_used: 0,
            spill: InBuf::new(2 * MAX_RECORD_PLAINTEXT),
            handshaking: true,
            closed: false,
        })
    }

    /// Runs the state machine until it needs more bytes or may write.
    /// `data`, when given, is encrypted at the first `WriteTraffic`.
    /// Returns (plaintext bytes added, receive side full, data written).
    fn process<S: Read + Write>(
        &mut self,
        io: &mut S,
        out: &mut OutBuf,
        sink: &mut InBuf,
        data: Option<&[u8]>,
        st: &mut ReadStatus,
    ) -> Result<bool, LayerError> {
        let mut written = data.is_none();
        loop {
            let UnbufferedStatus { mut discard, state } =
                self.conn.process_tls_records(&mut self.incoming[..self.in_used]);
            let mut stop = false;
            match state? {
                ConnectionState::ReadTraffic(mut r) => {
                    let (d, bytes, full) = take_records(&mut r, sink, &mut self.spill)?;
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
                    if let (false, Some(data)) = (written, data) {
                        let n = w.encrypt(data, out.space()).map_err(|_| LayerError::OutFull)?;
                        out.filled(n);
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
            if stop {
                if !written {
                    return Err(LayerError::Closed);
                }
                return Ok(true);
            }
        }
    }
}

impl SecureLayer for RustlsLayer {
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
            if self.in_used == self.incoming.len() && before == self.in_used {
                // A full buffer that yields nothing is a record too large.
                return Err(LayerError::Tls(TlsFailure::BadRecord));
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
        let mut st = ReadStatus::default();
        self.process(io, out, sink, Some(data), &mut st)?;
        out.flush(io)?;
        Ok(())
    }

    fn close(&mut self, out: &mut OutBuf) {
        let UnbufferedStatus { state, .. } = self.conn.process_tls_records(&mut self.incoming[..0]);
        if let Ok(ConnectionState::WriteTraffic(mut w)) = state
            && let Ok(n) = w.queue_close_notify(out.space())
        {
            out.filled(n);
        }
        self.closed = true;
    }
}

/// Either layer, chosen by the URL scheme.
pub enum Layer {
    /// `ws://`, `http://`.
    Plain(PlainLayer),
    /// `wss://`, `https://`.
    Tls(Box<RustlsLayer>),
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
/// `webpki-roots`, plus every certificate in `ca_file` (PEM) when given.
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
    // rustls 0.23.48 deprecates ring's provider because it has no
    // post-quantum key exchange; the design picks ring (it needs only a C
    // compiler, aws-lc-rs needs cmake), so the warning is silenced here.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
