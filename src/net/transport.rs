//! The connection set one hot thread drives: mio sockets polled with a zero
//! timeout, each connection a state machine (TCP → TLS → upgrade → auth →
//! subscribe → live → backoff), frames and HTTP responses handed out as
//! mutable slices of each connection's own receive buffer.
//!
//! See the [module docs of `net`](super) for the calling pattern.
//!
//! # Invariants
//! - `poll` never blocks: `Poll::poll(Some(Duration::ZERO))`; each readable
//!   socket is read until `WouldBlock` or until its receive buffer is full,
//!   and a full buffer is read again on the next `poll` without waiting for
//!   a new edge (mio is edge-triggered).
//! - WRITABLE interest is registered only while a connection has an unsent
//!   tail, and dropped once it is flushed.
//! - Every connect replays the connection's whole subscription registry,
//!   paced `control_pace_ms` apart; authentication (when configured) goes
//!   first, and subscriptions wait for [`NetLoop::authenticated`].
//! - Reconnects back off exponentially with jitter, and the attempt count
//!   resets only after a connection stayed live for `stable_after_ms`, so a
//!   server that accepts and drops at once does not cause a storm.
//! - Buffered frames are delivered before a peer close is reported: nothing
//!   that arrived is lost.
//! - After construction nothing here allocates per frame or per send: the
//!   receive, reassembly, outgoing and frame-encoding buffers are fixed, and
//!   TLS records are opened and sealed in place by our record layer once the
//!   handshake is done (`tls::record`). A (re)connect allocates (TLS
//!   session, subscribe messages), and so do a TLS key update and a session
//!   ticket (inside rustls, rare).
//! - DNS is resolved once, when a connection is added (blocking, before the
//!   hot loop starts); reconnects rotate through the resolved addresses.
//! - At the age limit an unauthenticated WebSocket gets a hidden
//!   replacement with the same subscriptions; it is swapped in (same
//!   [`ConnId`]) at the start of a `poll`, once it is live, has received
//!   something and has been receiving for [`REPLACE_OVERLAP_NS`] while the
//!   old socket went on delivering: the old stream may run behind the new
//!   one (each socket has its own queueing at the venue and on the way), and
//!   the overlap lets it deliver what it still owes up to where the new one
//!   began before it is closed. Nothing is missed when the old stream lags
//!   the new by less than the overlap; what arrived on both in the overlap
//!   comes twice (the replacement's buffered frames are handed out after the
//!   swap; the venues' sync machines drop the stale diffs).

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token};

/// How long an age-limit replacement receives, hidden, while the old
/// connection goes on delivering, before the swap (module docs): 50 ms,
/// well above the lag between two sockets to one venue endpoint, and short
/// enough that the frames delivered twice are few.
pub const REPLACE_OVERLAP_NS: u64 = 50_000_000;

use super::buf::OutBuf;
use super::http::{self, HttpError};
use super::subscribe::Subscriptions;
use super::tls::{Layer, LayerError, PlainLayer, SecureLayer, TlsLayer, TlsStats};
use super::url::Url;
use super::ws::{self, Handshake, HandshakeError, MaskSource, OpCode, WsError, WsFrame, WsReader};

/// Converts `quanta` raw receive times into Unix nanoseconds: the wall
/// clock read once when the loop was made, plus the TSC delta since.
#[derive(Debug, Clone)]
pub struct UnixClock {
    clock: quanta::Clock,
    epoch_raw: u64,
    epoch_unix_ns: u64,
}

impl UnixClock {
    /// Unix nanoseconds of a raw time.
    #[must_use]
    pub fn unix_ns(&self, raw: u64) -> u64 {
        self.epoch_unix_ns + self.clock.delta_as_nanos(self.epoch_raw, raw)
    }
}

/// Index of a connection in its [`NetLoop`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u16);

/// An application-level ping (Bybit `{"op":"ping"}`), sent as a text frame.
#[derive(Debug, Clone)]
pub struct AppPing {
    /// Interval, ms.
    pub every_ms: u64,
    /// The text to send.
    pub text: Vec<u8>,
}

/// Produces the authentication message for a fresh connection (called at
/// every connect, so it can sign a fresh timestamp).
pub type AuthFn = Box<dyn FnMut() -> Vec<u8> + Send>;

/// How one connection behaves.
#[derive(Debug, Clone)]
pub struct ConnConfig {
    /// Where to connect (`ws`/`wss` for a WebSocket, `http`/`https` for REST).
    pub url: Url,
    /// Receive buffer (bytes). At least `max_message` + 14.
    pub recv_capacity: usize,
    /// Largest message (WebSocket) or response body (HTTP).
    pub max_message: usize,
    /// Outgoing buffer for unsent tails and TLS records.
    pub send_capacity: usize,
    /// TCP connect + TLS + upgrade must finish within this.
    pub connect_timeout_ms: u64,
    /// Application ping, if the venue wants one.
    pub ping: Option<AppPing>,
    /// Replace the connection when a subscribed stream is silent this long.
    pub stale_after_ms: Option<u64>,
    /// Replace the connection after this age (Binance closes at 24 h).
    pub max_age_ms: Option<u64>,
    /// First reconnect delay.
    pub backoff_min_ms: u64,
    /// Largest reconnect delay.
    pub backoff_max_ms: u64,
    /// Live this long before the backoff resets.
    pub stable_after_ms: u64,
    /// Gap between control messages (auth, subscribe): Binance allows 10
    /// incoming messages per second, pongs included.
    pub control_pace_ms: u64,
}

impl ConnConfig {
    /// Defaults: 1 MiB messages, 10 s connect timeout, backoff 100 ms … 10 s,
    /// control messages 250 ms apart, no ping, no watchdog, no age limit.
    #[must_use]
    pub fn new(url: Url) -> Self {
        Self {
            url,
            recv_capacity: 2 << 20,
            max_message: 1 << 20,
            send_capacity: 256 << 10,
            connect_timeout_ms: 10_000,
            ping: None,
            stale_after_ms: None,
            max_age_ms: None,
            backoff_min_ms: 100,
            backoff_max_ms: 10_000,
            stable_after_ms: 10_000,
            control_pace_ms: 250,
        }
    }
}

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Waiting to reconnect.
    Backoff,
    /// TCP connect in progress.
    Connecting,
    /// TLS handshake in progress (passed through at once on plain TCP).
    TlsHandshake,
    /// WebSocket upgrade request sent.
    Upgrading,
    /// Authentication message sent; waiting for [`NetLoop::authenticated`].
    Authenticating,
    /// Replaying subscriptions.
    Subscribing,
    /// Every subscription sent (WebSocket), or ready for requests (HTTP).
    Live,
    /// Closed for good by [`NetLoop::close`].
    Closed,
}

/// Why a connection went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DownReason {
    /// The peer closed the TCP connection or the TLS session.
    #[error("peer closed")]
    PeerClosed,
    /// The peer sent a WebSocket close frame.
    #[error("close frame (code {0:?})")]
    CloseFrame(Option<u16>),
    /// Socket or TLS failure.
    #[error("{0}")]
    Layer(LayerError),
    /// WebSocket protocol violation.
    #[error("websocket: {0}")]
    Ws(WsError),
    /// The upgrade was refused or wrong.
    #[error("websocket handshake: {0}")]
    Handshake(HandshakeError),
    /// A bad HTTP response.
    #[error("http: {0}")]
    Http(HttpError),
    /// Connect, TLS or upgrade took too long.
    #[error("connect timeout")]
    ConnectTimeout,
    /// A subscribed stream went silent (watchdog).
    #[error("stale stream")]
    Stale,
    /// The connection reached its age limit.
    #[error("age limit")]
    MaxAge,
    /// The caller asked for a reconnect.
    #[error("reconnect requested")]
    Requested,
    /// The connect call itself failed.
    #[error("connect failed: {0:?}")]
    Connect(io::ErrorKind),
}

/// Counters of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Connections that reached the upgraded / ready state.
    pub connects: u64,
    /// Times the connection went down.
    pub downs: u64,
    /// Data frames (WebSocket) or responses (HTTP) handed out.
    pub messages: u64,
    /// Plaintext bytes received.
    pub bytes: u64,
    /// Server pings answered with a pong.
    pub pings_answered: u64,
    /// Pongs received.
    pub pongs: u64,
    /// Reconnects caused by the staleness watchdog.
    pub stale_resets: u64,
    /// Control messages sent (auth, subscribe, app pings).
    pub control_sent: u64,
    /// The most recent reason it went down.
    pub last_down: Option<DownReason>,
    /// TLS counters, summed over the connection's sessions (record layer
    /// hand-overs, rustls fallback records, key updates, tickets, bad
    /// records, alerts).
    pub tls: TlsStats,
}

/// Why a send was refused.
///
/// # Errors
/// Returned by [`NetLoop::send_text`] and [`NetLoop::http_request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No such connection.
    #[error("unknown connection")]
    UnknownConn,
    /// The connection is not up (or, for HTTP, not ready).
    #[error("connection not up")]
    NotConnected,
    /// An HTTP request is already in flight on this connection.
    #[error("request already in flight")]
    Busy,
    /// The message does not fit the frame buffer.
    #[error("message too large")]
    TooLarge,
    /// Writing failed; the connection went down and will reconnect.
    #[error("write failed: {0}")]
    Failed(LayerError),
}

/// Why a connection could not be added.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// DNS found nothing or failed.
    #[error("resolving {host}:{port}: {reason}")]
    Resolve {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// What happened.
        reason: String,
    },
    /// A `wss`/`https` URL without a TLS configuration.
    #[error("{0}: TLS URL but no TLS configuration given")]
    NoTlsConfig(String),
    /// A WebSocket URL given for an HTTP connection or the reverse.
    #[error("{0}: wrong scheme for this kind of connection")]
    WrongScheme(String),
    /// More connections than a token can index.
    #[error("too many connections")]
    TooMany,
    /// mio could not be set up.
    #[error("poll: {0}")]
    Io(#[from] io::Error),
}

/// What [`NetLoop::next_event`] hands out.
#[derive(Debug)]
pub enum NetEvent<'a> {
    /// A complete WebSocket data message, as received (in place).
    Frame {
        /// Connection.
        conn: ConnId,
        /// `quanta` raw time when the socket read that completed it returned.
        rx_raw: u64,
        /// Text (else binary).
        text: bool,
        /// The payload: a slice of the connection's receive buffer.
        data: &'a mut [u8],
    },
    /// A connection changed state.
    State {
        /// Connection.
        conn: ConnId,
        /// New state.
        state: ConnState,
        /// Why, when it went down.
        reason: Option<DownReason>,
    },
    /// A complete HTTP response.
    Response {
        /// Connection.
        conn: ConnId,
        /// Receive time (`quanta` raw).
        rx_raw: u64,
        /// Status code.
        status: u16,
        /// The decoded body, in place.
        body: &'a mut [u8],
    },
    /// The connection went down with a request in flight: no response will
    /// come for it; send it again once the connection is live.
    RequestFailed {
        /// Connection.
        conn: ConnId,
    },
    /// The connection reached its age limit and was replaced by a new one
    /// that was opened, subscribed and answering before the old one was
    /// closed (make-before-break). Frames continue under the same id; a few
    /// may arrive twice (both sockets carried them for a moment), and their
    /// receive times may step back by the overlap.
    Replaced {
        /// Connection.
        conn: ConnId,
    },
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    WebSocket,
    Http,
}

struct Conn {
    id: ConnId,
    cfg: ConnConfig,
    /// `Host` header value, built once (no formatting per request).
    host: String,
    kind: Kind,
    addrs: Vec<SocketAddr>,
    next_addr: usize,
    tls: Option<Arc<rustls::ClientConfig>>,
    state: ConnState,
    stream: Option<TcpStream>,
    layer: Layer,
    ws: WsReader,
    out: OutBuf,
    writable_registered: bool,
    handshake: Option<Handshake>,
    subs: Subscriptions,
    auth: Option<AuthFn>,
    control: VecDeque<Vec<u8>>,
    next_control_ns: u64,
    next_ping_ns: u64,
    connected_ns: u64,
    live_since_ns: u64,
    deadline_ns: u64,
    retry_at_ns: u64,
    attempts: u32,
    ev_read: bool,
    ev_write: bool,
    need_read: bool,
    eof_pending: bool,
    http_in_flight: bool,
    http_consume: usize,
    http_close_after: bool,
    rx_raw: u64,
    request_ids: u64,
    sent_since_connect: u32,
    stats: ConnStats,
    /// A replacement being opened in the background (not yet handed out).
    hidden: bool,
    /// For a primary: the index of its pending replacement.
    replacement: Option<usize>,
    /// For a hidden replacement: the primary it will replace.
    replaces: Option<usize>,
    /// The age limit passed: the loop opens a replacement.
    wants_replacement: bool,
    /// `stats.bytes` when the connection went live.
    bytes_at_live: u64,
}

impl Conn {
    fn new(
        id: ConnId,
        cfg: ConnConfig,
        kind: Kind,
        addrs: Vec<SocketAddr>,
        tls: Option<Arc<rustls::ClientConfig>>,
        subs: Subscriptions,
        auth: Option<AuthFn>,
    ) -> Self {
        Conn {
            id,
            host: cfg.url.host_header(),
            kind,
            addrs,
            next_addr: 0,
            tls,
            state: ConnState::Backoff,
            stream: None,
            layer: Layer::Plain(PlainLayer),
            ws: WsReader::new(cfg.recv_capacity, cfg.max_message),
            out: OutBuf::new(cfg.send_capacity),
            writable_registered: false,
            handshake: None,
            subs,
            auth,
            control: VecDeque::with_capacity(64),
            next_control_ns: 0,
            next_ping_ns: 0,
            connected_ns: 0,
            live_since_ns: 0,
            deadline_ns: 0,
            retry_at_ns: 0,
            attempts: 0,
            ev_read: false,
            ev_write: false,
            need_read: false,
            eof_pending: false,
            http_in_flight: false,
            http_consume: 0,
            http_close_after: false,
            rx_raw: 0,
            request_ids: 1,
            sent_since_connect: 0,
            stats: ConnStats::default(),
            hidden: false,
            replacement: None,
            replaces: None,
            wants_replacement: false,
            bytes_at_live: 0,
            cfg,
        }
    }

    /// Counters, the live TLS session's included.
    fn stats(&self) -> ConnStats {
        let mut s = self.stats;
        s.tls.absorb(&self.layer.tls_stats());
        s
    }

    /// Moves the TLS session's counters into the connection's and drops
    /// the session (the socket is gone).
    fn retire_layer(&mut self) {
        self.stats.tls.absorb(&self.layer.tls_stats());
        self.layer = Layer::Plain(PlainLayer);
    }

    /// Drops the socket for good: WebSocket close frame and TLS
    /// close_notify (best effort), deregistered.
    fn shut(&mut self, registry: &Registry, frame_buf: &mut [u8], masks: &mut MaskSource) {
        if matches!(self.kind, Kind::WebSocket)
            && matches!(self.state, ConnState::Authenticating | ConnState::Subscribing | ConnState::Live)
            && let Ok(n) = ws::encode_frame(OpCode::Close, &1000u16.to_be_bytes(), masks.next_key(), frame_buf)
            && let Some(s) = self.stream.as_mut()
        {
            let _ = self.layer.write(s, &mut self.out, self.ws.raw(), &frame_buf[..n]);
        }
        if let Some(mut s) = self.stream.take() {
            self.layer.close(&mut self.out);
            let _ = self.out.flush(&mut s);
            let _ = registry.deregister(&mut s);
        }
        self.retire_layer();
        self.state = ConnState::Closed;
    }
}

struct StateEvent {
    conn: ConnId,
    state: ConnState,
    reason: Option<DownReason>,
    request_failed: bool,
    replaced: bool,
}

impl StateEvent {
    const fn new(conn: ConnId, state: ConnState, reason: Option<DownReason>) -> Self {
        Self { conn, state, reason, request_failed: false, replaced: false }
    }
}

/// The connections of one hot thread and the poller that drives them.
pub struct NetLoop {
    poll: Poll,
    events: Events,
    conns: Vec<Conn>,
    clock: quanta::Clock,
    epoch_raw: u64,
    epoch_unix_ns: u64,
    now_ns: u64,
    next_timer_ns: u64,
    states: VecDeque<StateEvent>,
    cursor: usize,
    frame_buf: Box<[u8]>,
    masks: MaskSource,
    jitter: MaskSource,
}

enum Step {
    Frame { text: bool, loc: ws::PayloadLoc, rx_raw: u64 },
    Response { status: u16, body: std::ops::Range<usize>, rx_raw: u64 },
    State,
    Idle,
}

/// Timers are checked at most this often.
const TIMER_TICK_NS: u64 = 1_000_000;

impl NetLoop {
    /// An empty loop on `clock` (`quanta::Clock::new()`, or a mock in tests).
    /// `frame_capacity` bounds one outgoing message.
    ///
    /// # Errors
    /// mio could not create its poller.
    pub fn new(clock: quanta::Clock, frame_capacity: usize) -> Result<Self, SetupError> {
        let epoch_raw = clock.raw();
        let epoch_unix_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Ok(Self {
            poll: Poll::new()?,
            events: Events::with_capacity(256),
            conns: Vec::new(),
            clock,
            epoch_raw,
            epoch_unix_ns,
            now_ns: 0,
            next_timer_ns: 0,
            states: VecDeque::with_capacity(1024),
            cursor: 0,
            frame_buf: vec![0; frame_capacity.max(4096)].into_boxed_slice(),
            masks: MaskSource::from_os(),
            jitter: MaskSource::from_os(),
        })
    }

    /// Converts a `quanta` raw receive time into Unix nanoseconds (the
    /// recording format's timestamp).
    #[must_use]
    pub fn unix_ns(&self, raw: u64) -> u64 {
        self.epoch_unix_ns + self.clock.delta_as_nanos(self.epoch_raw, raw)
    }

    /// A converter from receive times to Unix time that can be used while an
    /// event borrows the loop.
    #[must_use]
    pub fn unix_clock(&self) -> UnixClock {
        UnixClock { clock: self.clock.clone(), epoch_raw: self.epoch_raw, epoch_unix_ns: self.epoch_unix_ns }
    }

    /// Nanoseconds since the loop was created, as of the last `poll`.
    #[must_use]
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    fn add(
        &mut self,
        cfg: ConnConfig,
        kind: Kind,
        tls: Option<Arc<rustls::ClientConfig>>,
        subs: Subscriptions,
        auth: Option<AuthFn>,
    ) -> Result<ConnId, SetupError> {
        let url = &cfg.url;
        if url.websocket != matches!(kind, Kind::WebSocket) {
            return Err(SetupError::WrongScheme(url.to_string()));
        }
        if url.tls && tls.is_none() {
            return Err(SetupError::NoTlsConfig(url.to_string()));
        }
        let id = ConnId(u16::try_from(self.conns.len()).map_err(|_| SetupError::TooMany)?);
        let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port)
            .to_socket_addrs()
            .map_err(|e| SetupError::Resolve { host: url.host.clone(), port: url.port, reason: e.to_string() })?
            .collect();
        if addrs.is_empty() {
            return Err(SetupError::Resolve { host: url.host.clone(), port: url.port, reason: "no address".into() });
        }
        self.conns.push(Conn::new(id, cfg, kind, addrs, tls, subs, auth));
        self.next_timer_ns = 0;
        Ok(id)
    }

    /// Adds a WebSocket connection carrying `subs` (replayed at every
    /// connect), with an optional authentication message. It connects on
    /// the next [`NetLoop::poll`].
    ///
    /// # Errors
    /// [`SetupError`] (DNS, scheme, missing TLS configuration).
    pub fn add_websocket(
        &mut self,
        cfg: ConnConfig,
        tls: Option<Arc<rustls::ClientConfig>>,
        subs: Subscriptions,
        auth: Option<AuthFn>,
    ) -> Result<ConnId, SetupError> {
        self.add(cfg, Kind::WebSocket, tls, subs, auth)
    }

    /// Adds a keep-alive HTTP/1.1 connection (one request in flight at a
    /// time). It connects on the next [`NetLoop::poll`].
    ///
    /// # Errors
    /// [`SetupError`].
    pub fn add_http(&mut self, cfg: ConnConfig, tls: Option<Arc<rustls::ClientConfig>>) -> Result<ConnId, SetupError> {
        let venue = crate::venue::Venue::BinanceUsdm;
        self.add(cfg, Kind::Http, tls, Subscriptions::new(venue), None)
    }

    /// A connection's state.
    #[must_use]
    pub fn state(&self, id: ConnId) -> Option<ConnState> {
        self.conns.get(usize::from(id.0)).map(|c| c.state)
    }

    /// A connection's counters.
    #[must_use]
    pub fn stats(&self, id: ConnId) -> Option<ConnStats> {
        self.conns.get(usize::from(id.0)).map(Conn::stats)
    }

    /// A connection's subscription registry.
    #[must_use]
    pub fn subscriptions(&self, id: ConnId) -> Option<&Subscriptions> {
        self.conns.get(usize::from(id.0)).map(|c| &c.subs)
    }

    /// The connection's authentication was accepted (the caller parsed the
    /// venue's answer): subscriptions follow.
    pub fn authenticated(&mut self, id: ConnId) {
        if let Some(c) = self.conns.get_mut(usize::from(id.0))
            && c.state == ConnState::Authenticating
        {
            c.state = ConnState::Subscribing;
            self.states.push_back(StateEvent::new(id, ConnState::Subscribing, None));
        }
    }

    /// Changes the path (and query) the connection asks for at its next
    /// connect (Binance's user-data stream is addressed by its listenKey,
    /// which can change). Host and port stay; call [`NetLoop::reconnect`]
    /// to use it now. Allocates (rare: once per new key).
    pub fn set_path(&mut self, id: ConnId, path: &str) {
        if let Some(c) = self.conns.get_mut(usize::from(id.0)) {
            c.cfg.url.path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
        }
    }

    /// The URL a connection uses (its path changes with [`NetLoop::set_path`]).
    #[must_use]
    pub fn url(&self, id: ConnId) -> Option<&Url> {
        self.conns.get(usize::from(id.0)).map(|c| &c.cfg.url)
    }

    /// Drops the connection now and reconnects after the shortest backoff
    /// (subscriptions replayed).
    pub fn reconnect(&mut self, id: ConnId) {
        let now = self.now_ns;
        if let Some(c) = self.conns.get_mut(usize::from(id.0))
            && c.state != ConnState::Closed
        {
            c.attempts = 0;
            go_down(c, self.poll.registry(), &mut self.states, now, DownReason::Requested, &mut self.jitter);
        }
    }

    /// Closes the connection for good (WebSocket close frame, TLS
    /// close_notify, best effort).
    pub fn close(&mut self, id: ConnId) {
        let Some(c) = self.conns.get_mut(usize::from(id.0)) else { return };
        c.shut(self.poll.registry(), &mut self.frame_buf, &mut self.masks);
        self.states.push_back(StateEvent::new(c.id, ConnState::Closed, None));
        // A pending replacement is cancelled on the next poll.
    }

    /// Sends one text message on a WebSocket connection that is upgraded
    /// (authenticating, subscribing or live). The message is masked into
    /// the loop's frame buffer and written at once; an unsent tail waits
    /// for WRITABLE.
    ///
    /// # Errors
    /// [`SendError`]; on [`SendError::Failed`] the connection is down and
    /// will reconnect.
    pub fn send_text(&mut self, id: ConnId, text: &[u8]) -> Result<(), SendError> {
        let now = self.now_ns;
        let c = self.conns.get_mut(usize::from(id.0)).ok_or(SendError::UnknownConn)?;
        if !matches!(c.state, ConnState::Authenticating | ConnState::Subscribing | ConnState::Live)
            || !matches!(c.kind, Kind::WebSocket)
        {
            return Err(SendError::NotConnected);
        }
        let n = ws::encode_frame(OpCode::Text, text, self.masks.next_key(), &mut self.frame_buf)
            .map_err(|_| SendError::TooLarge)?;
        write_raw(c, &self.frame_buf[..n], self.poll.registry(), &mut self.states, now, &mut self.jitter)
    }

    /// Whether an HTTP connection can take a request now.
    #[must_use]
    pub fn http_ready(&self, id: ConnId) -> bool {
        self.conns
            .get(usize::from(id.0))
            .is_some_and(|c| c.state == ConnState::Live && !c.http_in_flight && !c.http_close_after)
    }

    /// Sends one HTTP request (`target` = path and query) on a ready HTTP
    /// connection; the response comes as [`NetEvent::Response`] (or
    /// [`NetEvent::RequestFailed`]).
    ///
    /// # Errors
    /// [`SendError`].
    pub fn http_request(
        &mut self,
        id: ConnId,
        method: &str,
        target: &[u8],
        headers: &[(&str, &[u8])],
        body: &[u8],
    ) -> Result<(), SendError> {
        let now = self.now_ns;
        let c = self.conns.get_mut(usize::from(id.0)).ok_or(SendError::UnknownConn)?;
        if !matches!(c.kind, Kind::Http) || c.state != ConnState::Live || c.http_close_after {
            return Err(SendError::NotConnected);
        }
        if c.http_in_flight {
            return Err(SendError::Busy);
        }
        let n = http::write_request(method, &c.host, target, headers, body, &mut self.frame_buf)
            .map_err(|_| SendError::TooLarge)?;
        c.http_in_flight = true;
        write_raw(c, &self.frame_buf[..n], self.poll.registry(), &mut self.states, now, &mut self.jitter)
    }

    /// Polls every socket once without blocking, reads what arrived into
    /// the connections' buffers, flushes unsent tails and runs the timers
    /// (connects, backoff, pacing, pings, watchdog, age limit). Then call
    /// [`NetLoop::next_event`] until it returns `None`.
    ///
    /// # Errors
    /// The poller itself failed (not a connection: those reconnect).
    pub fn poll(&mut self) -> io::Result<()> {
        self.poll_wait(Duration::ZERO)
    }

    /// [`NetLoop::poll`], but waiting up to `timeout` for readiness: for
    /// tools that need not burn a core (`scalpel record`). The hot thread
    /// uses [`NetLoop::poll`]. Timers still run at 1 ms resolution when
    /// `timeout` is at most 1 ms.
    ///
    /// # Errors
    /// The poller itself failed.
    pub fn poll_wait(&mut self, timeout: Duration) -> io::Result<()> {
        // Before reading: every buffered frame of the last poll has been
        // handed out, so a primary can be swapped for its replacement
        // without dropping anything it had read.
        self.maintain_replacements();
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        let raw = self.clock.raw();
        self.now_ns = self.clock.delta_as_nanos(self.epoch_raw, raw);
        for ev in &self.events {
            if let Some(c) = self.conns.get_mut(ev.token().0) {
                c.ev_read |= ev.is_readable() || ev.is_read_closed() || ev.is_error();
                c.ev_write |= ev.is_writable() || ev.is_error();
            }
        }
        let registry = self.poll.registry();
        for c in &mut self.conns {
            if c.ev_read || c.ev_write || c.need_read {
                service(
                    c,
                    registry,
                    &mut self.states,
                    &self.clock,
                    self.now_ns,
                    &mut self.frame_buf,
                    &mut self.masks,
                    &mut self.jitter,
                );
            }
        }
        if self.now_ns >= self.next_timer_ns {
            self.next_timer_ns = self.now_ns + TIMER_TICK_NS;
            for c in &mut self.conns {
                timers(
                    c,
                    registry,
                    &mut self.states,
                    self.now_ns,
                    &mut self.frame_buf,
                    &mut self.masks,
                    &mut self.jitter,
                );
            }
            for p in 0..self.conns.len() {
                if std::mem::take(&mut self.conns[p].wants_replacement) {
                    self.spawn_replacement(p);
                }
            }
        }
        self.cursor = 0;
        Ok(())
    }

    /// Opens a hidden replacement for connection `p` (same endpoint and
    /// subscriptions). Allocates: this happens once per age limit.
    fn spawn_replacement(&mut self, p: usize) {
        let now = self.now_ns;
        let slot = self.conns.iter().position(|c| c.hidden && c.state == ConnState::Closed && c.replaces.is_none());
        let idx = slot.unwrap_or(self.conns.len());
        let Ok(id) = u16::try_from(idx).map(ConnId) else { return };
        let t = &self.conns[p];
        let mut r = Conn::new(id, t.cfg.clone(), t.kind, t.addrs.clone(), t.tls.clone(), t.subs.clone(), None);
        r.next_addr = t.next_addr;
        r.request_ids = t.request_ids + 1_000;
        r.hidden = true;
        r.replaces = Some(p);
        let registry = self.poll.registry();
        if let Err(reason) = start_connect(&mut r, registry, now) {
            go_down(&mut r, registry, &mut self.states, now, reason, &mut self.jitter);
        }
        match slot {
            Some(i) => self.conns[i] = r,
            None => self.conns.push(r),
        }
        self.conns[p].replacement = Some(idx);
    }

    /// Swaps each primary for its replacement once the replacement is live
    /// and has received something after subscribing (the venue streams to
    /// it) and the overlap has passed ([`REPLACE_OVERLAP_NS`]), or cancels the replacement when the primary went down or was
    /// closed meanwhile (the primary then reconnects as usual).
    fn maintain_replacements(&mut self) {
        for p in 0..self.conns.len() {
            let Some(r) = self.conns[p].replacement else { continue };
            let primary_up = self.conns[p].state == ConnState::Live && self.conns[p].stream.is_some();
            let rc = &self.conns[r];
            let live_for = self.now_ns.saturating_sub(rc.live_since_ns);
            let ready = rc.state == ConnState::Live
                && ((rc.stats.bytes > rc.bytes_at_live && live_for >= REPLACE_OVERLAP_NS) || live_for > 1_000_000_000);
            let registry = self.poll.registry();
            if !primary_up {
                let rc = &mut self.conns[r];
                rc.shut(registry, &mut self.frame_buf, &mut self.masks);
                rc.replaces = None;
                self.conns[p].replacement = None;
                continue;
            }
            if !ready {
                continue;
            }
            self.conns.swap(p, r);
            let (new_id, old_id) = (ConnId(p as u16), ConnId(r as u16));
            let old_stats = self.conns[r].stats();
            {
                let new = &mut self.conns[p];
                new.id = new_id;
                new.hidden = false;
                new.replaces = None;
                new.replacement = None;
                new.attempts = 0;
                let n = &mut new.stats;
                n.connects += old_stats.connects;
                n.downs += old_stats.downs;
                n.messages += old_stats.messages;
                n.bytes += old_stats.bytes;
                n.pings_answered += old_stats.pings_answered;
                n.pongs += old_stats.pongs;
                n.stale_resets += old_stats.stale_resets;
                n.control_sent += old_stats.control_sent;
                n.tls.absorb(&old_stats.tls);
                n.last_down = n.last_down.or(old_stats.last_down);
                let interest =
                    if new.writable_registered { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
                if let Some(s) = new.stream.as_mut() {
                    let _ = registry.reregister(s, Token(p), interest);
                }
                // Frames it buffered while hidden are handed out from now on.
                new.need_read = true;
            }
            let old = &mut self.conns[r];
            old.id = old_id;
            old.hidden = true;
            old.replacement = None;
            old.replaces = None;
            old.shut(registry, &mut self.frame_buf, &mut self.masks);
            self.states.push_back(StateEvent { replaced: true, ..StateEvent::new(new_id, ConnState::Live, None) });
        }
    }

    /// The next event since the last [`NetLoop::poll`]: state changes
    /// first, then frames and responses connection by connection. Pings
    /// are answered and close frames handled inside, before the next
    /// event is returned. The borrowed payload is valid until the next
    /// call on the loop.
    pub fn next_event(&mut self) -> Option<NetEvent<'_>> {
        loop {
            if let Some(s) = self.states.pop_front() {
                if self.conns.get(usize::from(s.conn.0)).is_some_and(|c| c.hidden) {
                    continue;
                }
                return Some(if s.request_failed {
                    NetEvent::RequestFailed { conn: s.conn }
                } else if s.replaced {
                    NetEvent::Replaced { conn: s.conn }
                } else {
                    NetEvent::State { conn: s.conn, state: s.state, reason: s.reason }
                });
            }
            let i = self.cursor;
            if i >= self.conns.len() {
                return None;
            }
            let registry = self.poll.registry();
            let step = step(
                &mut self.conns[i],
                registry,
                &mut self.states,
                &self.clock,
                self.now_ns,
                &mut self.frame_buf,
                &mut self.masks,
                &mut self.jitter,
            );
            match step {
                Step::Frame { text, loc, rx_raw } => {
                    let c = &mut self.conns[i];
                    return Some(NetEvent::Frame { conn: c.id, rx_raw, text, data: c.ws.payload_mut(loc) });
                }
                Step::Response { status, body, rx_raw } => {
                    let c = &mut self.conns[i];
                    return Some(NetEvent::Response {
                        conn: c.id,
                        rx_raw,
                        status,
                        body: &mut c.ws.raw().data_mut()[body],
                    });
                }
                Step::State => {}
                Step::Idle => self.cursor += 1,
            }
        }
    }
}

fn interest_update(c: &mut Conn, registry: &Registry) {
    let want = c.out.pending() > 0;
    if want != c.writable_registered
        && let Some(s) = c.stream.as_mut()
    {
        let interest = if want { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
        if registry.reregister(s, Token(usize::from(c.id.0)), interest).is_ok() {
            c.writable_registered = want;
        }
    }
}

fn write_raw(
    c: &mut Conn,
    bytes: &[u8],
    registry: &Registry,
    states: &mut VecDeque<StateEvent>,
    now: u64,
    jitter: &mut MaskSource,
) -> Result<(), SendError> {
    let Some(s) = c.stream.as_mut() else { return Err(SendError::NotConnected) };
    match c.layer.write(s, &mut c.out, c.ws.raw(), bytes) {
        Ok(()) => {
            interest_update(c, registry);
            Ok(())
        }
        Err(e) => {
            go_down(c, registry, states, now, DownReason::Layer(e), jitter);
            Err(SendError::Failed(e))
        }
    }
}

fn go_down(
    c: &mut Conn,
    registry: &Registry,
    states: &mut VecDeque<StateEvent>,
    now: u64,
    reason: DownReason,
    jitter: &mut MaskSource,
) {
    if let Some(mut s) = c.stream.take() {
        c.layer.close(&mut c.out);
        let _ = c.out.flush(&mut s);
        let _ = registry.deregister(&mut s);
    }
    c.retire_layer();
    c.stats.downs += 1;
    c.stats.last_down = Some(reason);
    if reason == DownReason::Stale {
        c.stats.stale_resets += 1;
    }
    let exp = c.attempts.min(16);
    c.attempts = c.attempts.saturating_add(1);
    let delay_ms = c.cfg.backoff_min_ms.saturating_mul(1 << exp).min(c.cfg.backoff_max_ms).max(1);
    let half = delay_ms / 2;
    let r = u64::from(u32::from_ne_bytes(jitter.next_key()));
    let delay_ms = half + r % (delay_ms - half + 1);
    c.retry_at_ns = now + delay_ms * 1_000_000;
    c.state = ConnState::Backoff;
    c.ws.reset();
    c.out.clear();
    c.control.clear();
    c.handshake = None;
    c.need_read = false;
    c.eof_pending = false;
    c.http_consume = 0;
    c.http_close_after = false;
    c.writable_registered = false;
    if c.http_in_flight {
        c.http_in_flight = false;
        states.push_back(StateEvent { request_failed: true, ..StateEvent::new(c.id, ConnState::Backoff, None) });
    }
    states.push_back(StateEvent::new(c.id, ConnState::Backoff, Some(reason)));
}

fn start_connect(c: &mut Conn, registry: &Registry, now: u64) -> Result<(), DownReason> {
    let addr = c.addrs[c.next_addr % c.addrs.len()];
    c.next_addr = c.next_addr.wrapping_add(1);
    let mut stream = TcpStream::connect(addr).map_err(|e| DownReason::Connect(e.kind()))?;
    registry
        .register(&mut stream, Token(usize::from(c.id.0)), Interest::READABLE | Interest::WRITABLE)
        .map_err(|e| DownReason::Connect(e.kind()))?;
    c.writable_registered = true;
    c.layer = match &c.tls {
        Some(cfg) if c.cfg.url.tls => {
            Layer::Tls(Box::new(TlsLayer::new(Arc::clone(cfg), &c.cfg.url.host).map_err(DownReason::Layer)?))
        }
        _ => Layer::Plain(PlainLayer),
    };
    c.stream = Some(stream);
    c.ws.reset();
    c.out.clear();
    c.state = ConnState::Connecting;
    c.deadline_ns = now + c.cfg.connect_timeout_ms * 1_000_000;
    c.connected_ns = now;
    c.ev_read = false;
    c.ev_write = false;
    Ok(())
}

/// The byte layer is ready: send the upgrade request (WebSocket) or go
/// live (HTTP).
fn on_secure(
    c: &mut Conn,
    registry: &Registry,
    states: &mut VecDeque<StateEvent>,
    now: u64,
    frame_buf: &mut [u8],
    masks: &mut MaskSource,
    jitter: &mut MaskSource,
) {
    match c.kind {
        Kind::Http => {
            c.state = ConnState::Live;
            c.stats.connects += 1;
            c.live_since_ns = now;
            states.push_back(StateEvent::new(c.id, ConnState::Live, None));
        }
        Kind::WebSocket => {
            let mut nonce = [0u8; 16];
            for chunk in nonce.chunks_mut(4) {
                chunk.copy_from_slice(&masks.next_key());
            }
            match ws::client_handshake(&c.host, &c.cfg.url.path, nonce, frame_buf) {
                Ok((n, hs)) => {
                    c.handshake = Some(hs);
                    c.state = ConnState::Upgrading;
                    let _ = write_raw(c, &frame_buf[..n], registry, states, now, jitter);
                }
                Err(e) => go_down(c, registry, states, now, DownReason::Handshake(e), jitter),
            }
        }
    }
}

/// The upgrade succeeded: queue authentication and subscriptions.
fn on_upgraded(c: &mut Conn, states: &mut VecDeque<StateEvent>, now: u64) {
    c.stats.connects += 1;
    c.control.clear();
    c.sent_since_connect = 0;
    let mut state = ConnState::Subscribing;
    if let Some(auth) = c.auth.as_mut() {
        c.control.push_back(auth());
        state = ConnState::Authenticating;
    }
    let first = c.request_ids;
    let msgs = c.subs.messages(first);
    c.request_ids += msgs.len() as u64;
    c.control.extend(msgs);
    c.next_control_ns = now;
    c.next_ping_ns = now + c.cfg.ping.as_ref().map_or(0, |p| p.every_ms * 1_000_000);
    c.state = state;
    states.push_back(StateEvent::new(c.id, state, None));
}

#[allow(clippy::too_many_arguments)]
fn service(
    c: &mut Conn,
    registry: &Registry,
    states: &mut VecDeque<StateEvent>,
    clock: &quanta::Clock,
    now: u64,
    frame_buf: &mut [u8],
    masks: &mut MaskSource,
    jitter: &mut MaskSource,
) {
    let (ev_read, ev_write) = (c.ev_read, c.ev_write);
    c.ev_read = false;
    c.ev_write = false;
    let Some(stream) = c.stream.as_mut() else {
        c.need_read = false;
        return;
    };
    if c.state == ConnState::Connecting {
        if let Ok(Some(e)) | Err(e) = stream.take_error() {
            go_down(c, registry, states, now, DownReason::Connect(e.kind()), jitter);
            return;
        }
        match stream.peer_addr() {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
            Err(e) => {
                go_down(c, registry, states, now, DownReason::Connect(e.kind()), jitter);
                return;
            }
        }
        let _ = stream.set_nodelay(true);
        c.state = ConnState::TlsHandshake;
        states.push_back(StateEvent::new(c.id, ConnState::TlsHandshake, None));
    } else if ev_write && c.out.pending() > 0 {
        if let Err(e) = c.out.flush(stream) {
            go_down(c, registry, states, now, DownReason::Layer(e.into()), jitter);
            return;
        }
    }
    if !(ev_read || c.need_read || c.state == ConnState::TlsHandshake) {
        return;
    }
    // Read (also drives the TLS handshake, including its first flight).
    let Some(stream) = c.stream.as_mut() else { return };
    match c.layer.read(stream, &mut c.out, c.ws.raw()) {
        Ok(st) => {
            if st.bytes > 0 {
                c.rx_raw = clock.raw();
                c.stats.bytes += st.bytes as u64;
            }
            c.need_read = st.full;
            if st.eof {
                c.eof_pending = true;
            }
        }
        Err(e) => {
            go_down(c, registry, states, now, DownReason::Layer(e), jitter);
            return;
        }
    }
    interest_update(c, registry);
    if c.state == ConnState::TlsHandshake && !c.layer.handshaking() {
        on_secure(c, registry, states, now, frame_buf, masks, jitter);
    }
    if c.state == ConnState::Upgrading
        && let Some(hs) = c.handshake
    {
        match hs.check_response(c.ws.raw().data()) {
            Ok(Some(n)) => {
                c.ws.raw().consume(n);
                c.handshake = None;
                on_upgraded(c, states, now);
            }
            Ok(None) if c.eof_pending => go_down(c, registry, states, now, DownReason::PeerClosed, jitter),
            Ok(None) => {}
            Err(e) => go_down(c, registry, states, now, DownReason::Handshake(e), jitter),
        }
    } else if c.eof_pending && matches!(c.state, ConnState::TlsHandshake | ConnState::Connecting) {
        go_down(c, registry, states, now, DownReason::PeerClosed, jitter);
    }
}

#[allow(clippy::too_many_arguments)]
fn timers(
    c: &mut Conn,
    registry: &Registry,
    states: &mut VecDeque<StateEvent>,
    now: u64,
    frame_buf: &mut [u8],
    masks: &mut MaskSource,
    jitter: &mut MaskSource,
) {
    match c.state {
        ConnState::Closed => {}
        ConnState::Backoff => {
            if now >= c.retry_at_ns {
                match start_connect(c, registry, now) {
                    Ok(()) => states.push_back(StateEvent::new(c.id, ConnState::Connecting, None)),
                    Err(reason) => go_down(c, registry, states, now, reason, jitter),
                }
            }
        }
        ConnState::Connecting | ConnState::TlsHandshake | ConnState::Upgrading => {
            if now > c.deadline_ns {
                go_down(c, registry, states, now, DownReason::ConnectTimeout, jitter);
            }
        }
        ConnState::Authenticating | ConnState::Subscribing | ConnState::Live => {
            if matches!(c.kind, Kind::WebSocket) {
                // Paced control messages; during authentication only the
                // auth message (the first) goes out.
                let may_send = c.state != ConnState::Authenticating || c.sent_since_connect == 0;
                if may_send
                    && now >= c.next_control_ns
                    && let Some(msg) = c.control.pop_front()
                {
                    c.next_control_ns = now + c.cfg.control_pace_ms * 1_000_000;
                    c.stats.control_sent += 1;
                    c.sent_since_connect += 1;
                    if send_frame(c, OpCode::Text, &msg, registry, states, now, frame_buf, masks, jitter).is_err() {
                        return;
                    }
                }
                if c.state == ConnState::Subscribing && c.control.is_empty() {
                    c.state = ConnState::Live;
                    c.live_since_ns = now;
                    c.bytes_at_live = c.stats.bytes;
                    c.subs.reset_watch(now);
                    states.push_back(StateEvent::new(c.id, ConnState::Live, None));
                }
                if let Some(every_ms) = c.cfg.ping.as_ref().map(|p| p.every_ms)
                    && now >= c.next_ping_ns
                {
                    c.next_ping_ns = now + every_ms * 1_000_000;
                    // Taken out and put back: no copy, no allocation.
                    let text = c.cfg.ping.as_mut().map(|p| std::mem::take(&mut p.text)).unwrap_or_default();
                    let sent = send_frame(c, OpCode::Text, &text, registry, states, now, frame_buf, masks, jitter);
                    if let Some(p) = c.cfg.ping.as_mut() {
                        p.text = text;
                    }
                    if sent.is_err() {
                        return;
                    }
                    c.stats.control_sent += 1;
                }
            }
            if c.state == ConnState::Live {
                if now.saturating_sub(c.live_since_ns) > c.cfg.stable_after_ms * 1_000_000 {
                    c.attempts = 0;
                }
                if let Some(stale_ms) = c.cfg.stale_after_ms
                    && c.subs.stale(now, stale_ms * 1_000_000).is_some()
                {
                    go_down(c, registry, states, now, DownReason::Stale, jitter);
                    return;
                }
            }
            if let Some(age_ms) = c.cfg.max_age_ms
                && !c.hidden
                && now.saturating_sub(c.connected_ns) > age_ms * 1_000_000
            {
                // Make-before-break for unauthenticated WebSocket streams; a
                // replacement that is not up within the connect timeout, an
                // authenticated or an HTTP connection: break, then reconnect.
                let grace = c.cfg.connect_timeout_ms * 1_000_000;
                let can_replace = matches!(c.kind, Kind::WebSocket) && c.auth.is_none() && c.state == ConnState::Live;
                if can_replace && now.saturating_sub(c.connected_ns) <= age_ms * 1_000_000 + grace {
                    if c.replacement.is_none() {
                        c.wants_replacement = true;
                    }
                } else {
                    c.attempts = 0;
                    go_down(c, registry, states, now, DownReason::MaxAge, jitter);
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn send_frame(
    c: &mut Conn,
    op: OpCode,
    payload: &[u8],
    registry: &Registry,
    states: &mut VecDeque<StateEvent>,
    now: u64,
    frame_buf: &mut [u8],
    masks: &mut MaskSource,
    jitter: &mut MaskSource,
) -> Result<(), SendError> {
    let n = ws::encode_frame(op, payload, masks.next_key(), frame_buf).map_err(|_| SendError::TooLarge)?;
    write_raw(c, &frame_buf[..n], registry, states, now, jitter)
}

/// Works through one connection's buffered bytes until there is something
/// to hand out (a frame, a response, a state change) or nothing left.
#[allow(clippy::too_many_arguments)]
fn step(
    c: &mut Conn,
    registry: &Registry,
    states: &mut VecDeque<StateEvent>,
    clock: &quanta::Clock,
    now: u64,
    frame_buf: &mut [u8],
    masks: &mut MaskSource,
    jitter: &mut MaskSource,
) -> Step {
    if c.stream.is_none() || c.hidden {
        return Step::Idle;
    }
    match c.kind {
        Kind::Http => step_http(c, registry, states, now, jitter),
        Kind::WebSocket => {
            if !matches!(c.state, ConnState::Authenticating | ConnState::Subscribing | ConnState::Live) {
                return Step::Idle;
            }
            loop {
                match c.ws.advance() {
                    Ok(Some(frame @ (WsFrame::Text(loc) | WsFrame::Binary(loc)))) => {
                        c.stats.messages += 1;
                        c.subs.touch(c.ws.payload(loc), now);
                        return Step::Frame { text: matches!(frame, WsFrame::Text(_)), loc, rx_raw: c.rx_raw };
                    }
                    Ok(Some(WsFrame::Ping(loc))) => {
                        let mut payload = [0u8; ws::MAX_CONTROL_PAYLOAD];
                        let p = c.ws.payload(loc);
                        payload[..p.len()].copy_from_slice(p);
                        let len = p.len();
                        if send_frame(c, OpCode::Pong, &payload[..len], registry, states, now, frame_buf, masks, jitter)
                            .is_err()
                        {
                            return Step::State;
                        }
                        c.stats.pings_answered += 1;
                    }
                    Ok(Some(WsFrame::Pong(_))) => c.stats.pongs += 1,
                    Ok(Some(WsFrame::Close { code, .. })) => {
                        let echo = code.unwrap_or(1000).to_be_bytes();
                        let _ = send_frame(c, OpCode::Close, &echo, registry, states, now, frame_buf, masks, jitter);
                        if c.stream.is_some() {
                            go_down(c, registry, states, now, DownReason::CloseFrame(code), jitter);
                        }
                        return Step::State;
                    }
                    Ok(None) => {
                        if c.need_read {
                            // The buffer was full: read the rest now.
                            c.ev_read = true;
                            service(c, registry, states, clock, now, frame_buf, masks, jitter);
                            if c.ws.buffered() > 0 && c.stream.is_some() && !c.need_read {
                                continue;
                            }
                            if c.stream.is_none() {
                                return Step::State;
                            }
                        }
                        if c.eof_pending {
                            go_down(c, registry, states, now, DownReason::PeerClosed, jitter);
                            return Step::State;
                        }
                        return Step::Idle;
                    }
                    Err(e) => {
                        go_down(c, registry, states, now, DownReason::Ws(e), jitter);
                        return Step::State;
                    }
                }
            }
        }
    }
}

fn step_http(
    c: &mut Conn,
    registry: &Registry,
    states: &mut VecDeque<StateEvent>,
    now: u64,
    jitter: &mut MaskSource,
) -> Step {
    if c.http_consume > 0 {
        c.ws.raw().consume(c.http_consume);
        c.http_consume = 0;
    }
    if c.http_in_flight {
        match http::parse_response(c.ws.raw().data_mut(), c.cfg.max_message) {
            Ok(Some(r)) => {
                c.http_in_flight = false;
                c.http_consume = r.consumed;
                c.http_close_after = !r.keep_alive;
                c.stats.messages += 1;
                return Step::Response { status: r.status, body: r.body, rx_raw: c.rx_raw };
            }
            Ok(None) => {}
            Err(e) => {
                go_down(c, registry, states, now, DownReason::Http(e), jitter);
                return Step::State;
            }
        }
    }
    if c.eof_pending || c.http_close_after {
        c.attempts = 0;
        go_down(c, registry, states, now, DownReason::PeerClosed, jitter);
        return Step::State;
    }
    Step::Idle
}
