//! The network layer: the only code in scalpel that touches sockets.
//!
//! ```text
//!  mio TcpStream ──► SecureLayer (TLS | plain) ──────────────► InBuf ──► WsReader / http::parse_response
//!   (non-blocking,      (tls.rs: rustls' unbuffered client       (fixed)    (ws.rs / http.rs: sans-IO,
//!    TCP_NODELAY,        for the handshake, then our record                 pure functions over bytes)
//!    edge-triggered)     layer, tls/record.rs: records opened
//!                        and sealed in place with ring's AEAD)
//! ```
//!
//! - [`ws`]: RFC 6455 client codec (handshake, masking, fragments, control
//!   frames, limits). Sans-IO.
//! - [`http`]: HTTP/1.1 request writer and response parser (content-length
//!   and chunked, size limit). Sans-IO.
//! - [`tls`]: the [`tls::SecureLayer`] trait; TLS as rustls' unbuffered
//!   client for the handshake, then our own record layer ([`tls::record`],
//!   sans-IO) over the traffic secrets rustls hands over; plain TCP; the
//!   client configuration (`ring`, webpki-roots, `--ca-file`).
//! - [`subscribe`]: the registry of desired streams, replayed on every
//!   connect, and the per-stream watchdog.
//! - [`transport`]: [`NetLoop`], the connections of one hot thread and their
//!   state machines.
//! - [`endpoints`]: venue endpoints (mainnet/testnet) from `tuning/endpoints.toml`,
//!   with command-line overrides.
//!
//! # The API the live engine drives (phase 2)
//!
//! The engine's hot thread owns one [`NetLoop`] with N connections (per
//! venue × route × symbol group, so a drop resyncs only its own symbols):
//!
//! ```no_run
//! # use scalpel::net::{NetLoop, NetEvent, ConnState};
//! # fn demo(net: &mut NetLoop, order_conn: scalpel::net::ConnId, order_bytes: &[u8]) -> std::io::Result<()> {
//! loop {
//!     net.poll()?; // epoll_wait(0): never blocks; reads, flushes, timers
//!     while let Some(ev) = net.next_event() {
//!         match ev {
//!             NetEvent::Frame { conn, rx_raw, data, .. } => {
//!                 // decode `data` in place (it is &mut [u8] in the connection's
//!                 // receive buffer), feed the core, encode any order into the
//!                 // engine's own preallocated buffer
//!                 let _ = (conn, rx_raw, data);
//!             }
//!             NetEvent::State { conn, state, reason } => {
//!                 // Live after a reconnect: the symbols on `conn` are out of
//!                 // sync until resynced (Binance REST snapshot; Bybit sends a
//!                 // snapshot after the replayed subscribe)
//!                 let _ = (conn, state, reason);
//!             }
//!             NetEvent::Replaced { .. } => {} // same id, new socket (age limit)
//!             NetEvent::Response { .. } | NetEvent::RequestFailed { .. } => {}
//!         }
//!     }
//!     // the frame borrow has ended: send what the core decided
//!     let _ = net.send_text(order_conn, order_bytes);
//! }
//! # }
//! ```
//!
//! - `poll` → `next_event` until `None` → sends. Frames are `(ConnId,
//!   rx_raw, &mut [u8])`; `rx_raw` is `quanta::Clock::raw()` taken when the
//!   socket read returned ([`NetLoop::unix_ns`] converts off the hot path).
//! - [`NetLoop::send_text`] masks the message into a preallocated frame
//!   buffer and writes it at once; an unsent tail stays in the connection's
//!   fixed outgoing buffer and WRITABLE is registered only then.
//! - [`NetLoop::http_request`] / [`NetEvent::Response`]: REST snapshot,
//!   listenKey, exchangeInfo, REST order fallback, countdownCancelAll — one
//!   request in flight per HTTP connection, keep-alive.
//! - Authentication: an [`AuthFn`] builds the auth message at each connect
//!   (fresh timestamp); subscriptions wait until the engine parsed the
//!   venue's answer and called [`NetLoop::authenticated`].
//! - Heartbeats: server pings are answered inside `next_event` before
//!   anything else is read; [`AppPing`] sends Bybit's `{"op":"ping"}`.
//!   Staleness watchdog per stream ([`ConnConfig::stale_after_ms`]); age
//!   limit ([`ConnConfig::max_age_ms`], Binance's 24 h): a replacement is
//!   opened, subscribed and receiving before the old socket is closed
//!   (make-before-break, [`NetEvent::Replaced`]), for unauthenticated
//!   streams; authenticated and HTTP connections are closed and reopened.
//!
//! # Not here (yet)
//! - Merging events of several sockets by exchange time (book on
//!   `/public`, trades on `/market`) is the engine's job, phase 2.
//! - Make-before-break for authenticated sockets (the replacement would
//!   need the engine to log it on while hidden).

pub mod buf;
pub mod endpoints;
pub mod http;
pub mod subscribe;
pub mod tls;
pub mod transport;
pub mod url;
pub mod ws;

pub use transport::{
    AppPing, AuthFn, ConnConfig, ConnId, ConnState, ConnStats, DownReason, NetEvent, NetLoop, SendError, SetupError,
    UnixClock,
};
