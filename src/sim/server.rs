//! The simulator's server: TCP accept, TLS (tokio-rustls), HTTP/1.1
//! (hyper), WebSocket upgrade and framing (fastwebsockets' server role),
//! the registry of connections and their subscriptions, the heartbeat and
//! fault ticker, and the market replay thread.
//!
//! Venue behaviour lives in `binance.rs` and `bybit.rs`; this file only
//! moves bytes and enforces what both venues share (pings, age limits,
//! slow-consumer disconnects, fault injection on delivery).
//!
//! # Invariants
//! - Lock order: `core` (exchange) before `reg` (connections). Market
//!   frames and account events are handed to connection queues while the
//!   core lock is held, so a snapshot taken under the same lock (Bybit
//!   subscribe, Binance REST depth) is consistent with what each connection
//!   receives after it.
//! - Each connection has one writer task that owns the socket's write half
//!   and one reader task; every outbound message goes through the writer's
//!   bounded queue, in order. A full queue is a slow consumer: the
//!   connection is closed and counted, never blocked on.
//! - Nothing here panics on client input: malformed frames, unknown paths
//!   and bad requests are answered with the venue's error and counted.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fastwebsockets::{FragmentCollectorRead, Frame, OpCode, Payload, WebSocketError};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::{Notify, mpsc};

use crate::venue::Venue;

use super::config::SimConfig;
use super::exchange::{AccountEvent, Exchange};
use super::faults::{FaultCursor, FaultInjector, FaultKind, Route};
use super::feed::{Feed, FeedFrame, FrameClass};
use super::stamps::{FrameStamp, OrderStamp, PublishedFrame, Stamps, unix_ns};
use super::{binance, bybit};

/// Outbound queue depth per connection (messages).
const OUT_CAPACITY: usize = 16_384;
/// Largest WebSocket message a client may send.
const MAX_CLIENT_MESSAGE: usize = 1 << 20;
/// Largest REST request body.
const MAX_BODY: usize = 1 << 20;
/// How long a reordered message may be held back at most.
const REORDER_HOLD: Duration = Duration::from_millis(500);
/// Ticker period (heartbeats, timed faults, expiries).
pub(crate) const TICK: Duration = Duration::from_millis(100);

/// One message for a connection's writer.
#[derive(Debug)]
pub(crate) enum Out {
    /// A market frame (stamped when written).
    Market {
        /// Publication sequence number.
        seq: u64,
        /// The frame text.
        bytes: Bytes,
    },
    /// Any other text message (responses, acks, private events).
    Text(Bytes),
    /// A server ping with this payload.
    Ping(Vec<u8>),
    /// The pong owed to a client ping.
    Pong(Vec<u8>),
    /// The close frame owed to a client close (echo).
    CloseEcho(Vec<u8>),
    /// A close frame, then the connection ends.
    Close(u16, &'static str),
    /// The connection ends at once, without a close frame.
    Drop,
}

/// What a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnKind {
    /// Binance market streams (`/public`, `/market`, unrouted).
    BinanceMarket,
    /// Binance user data (`/private`).
    BinancePrivate,
    /// Binance WebSocket API.
    BinanceApi,
    /// Bybit `/v5/public/linear`.
    BybitPublic,
    /// Bybit `/v5/private`.
    BybitPrivate,
    /// Bybit `/v5/trade`.
    BybitTrade,
}

impl ConnKind {
    fn name(self) -> &'static str {
        match self {
            ConnKind::BinanceMarket => "binance-market",
            ConnKind::BinancePrivate => "binance-private",
            ConnKind::BinanceApi => "binance-ws-api",
            ConnKind::BybitPublic => "bybit-public",
            ConnKind::BybitPrivate => "bybit-private",
            ConnKind::BybitTrade => "bybit-trade",
        }
    }

    fn binance_heartbeat(self) -> bool {
        matches!(self, ConnKind::BinanceMarket | ConnKind::BinancePrivate | ConnKind::BinanceApi)
    }
}

/// A live connection in the registry.
pub(crate) struct Conn {
    pub id: u64,
    pub kind: ConnKind,
    pub route: Route,
    pub tx: mpsc::Sender<Out>,
    pub kill: Arc<Notify>,
    pub opened: Instant,
    pub peer: SocketAddr,
    /// Binance: frames wrapped as `{"stream":…,"data":…}`.
    pub combined: bool,
    /// Binance market: `Some(route)` for `/public` or `/market`, `None` unrouted.
    pub binance_route: Option<super::feed::BinanceRoute>,
    /// Subscriptions: Binance canonical stream key → names as subscribed;
    /// Bybit topic → [topic].
    pub subs: HashMap<String, Vec<String>>,
    /// Authenticated account (Binance WS API after `session.logon`, Bybit
    /// private / trade after `auth`, Binance private by listenKey).
    pub account: Option<usize>,
    /// Binance private: the listenKeys this connection listens to.
    pub listen_keys: Vec<String>,
    pub stalled_until: Option<Instant>,
    pub cursor: FaultCursor,
    pub held: Option<(Instant, Bytes)>,
    pub ping_outstanding: Option<(Instant, Vec<u8>)>,
    pub last_ping_sent: Instant,
    pub last_client_msg: Instant,
    pub closing: bool,
    pub conn_id_text: String,
    /// Client messages in the current second (Binance allows 10).
    pub msg_window: super::request::FixedWindow,
}

impl Conn {
    /// Queues a message; a full queue closes the connection (slow consumer).
    pub fn send(&mut self, out: Out, stats: &Stats) -> bool {
        if self.closing {
            return false;
        }
        match self.tx.try_send(out) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                stats.slow_consumer_closes.fetch_add(1, Ordering::Relaxed);
                self.closing = true;
                self.kill.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// Every live connection.
#[derive(Default)]
pub(crate) struct Registry {
    pub conns: HashMap<u64, Conn>,
}

/// Server-level counters (reported by `/sim/stats` and the final report).
#[derive(Debug, Default)]
pub struct Stats {
    /// WebSocket connections accepted.
    pub ws_opened: AtomicU64,
    /// WebSocket connections ended.
    pub ws_closed: AtomicU64,
    /// HTTP requests answered (REST and upgrades).
    pub http_requests: AtomicU64,
    /// Requests to paths the venue does not have.
    pub unknown_paths: AtomicU64,
    /// Frames the market replay published.
    pub frames_published: AtomicU64,
    /// Market frames written to connections.
    pub frames_written: AtomicU64,
    /// Market frames not sent because a connection was stalled on purpose.
    pub frames_stalled: AtomicU64,
    /// Connections closed because their queue was full.
    pub slow_consumer_closes: AtomicU64,
    /// Server pings sent.
    pub pings_sent: AtomicU64,
    /// Connections closed for not answering pings in time (Binance).
    pub pong_timeouts: AtomicU64,
    /// Connections closed for sending no ping in time (Bybit).
    pub idle_closes: AtomicU64,
    /// Connections closed at the venue's 24 h age limit.
    pub age_closes: AtomicU64,
    /// Connections closed for sending more than the venue's message rate.
    pub message_rate_closes: AtomicU64,
    /// Private streams opened with a listenKey the venue does not know.
    pub unknown_listen_keys: AtomicU64,
    /// Requests refused for a bad signature.
    pub bad_signatures: AtomicU64,
    /// Requests refused for a stale or future timestamp.
    pub bad_timestamps: AtomicU64,
    /// Requests refused by the (real, not injected) rate limits.
    pub rate_limited: AtomicU64,
    /// Requests refused during an IP ban.
    pub banned_requests: AtomicU64,
    /// Order requests read (REST and WebSocket).
    pub order_requests: AtomicU64,
    /// Cancel requests read.
    pub cancel_requests: AtomicU64,
    /// Private messages sent (responses and account events).
    pub private_messages: AtomicU64,
    /// Client frames that were not valid requests.
    pub bad_client_messages: AtomicU64,
    /// TLS handshakes that failed.
    pub tls_failures: AtomicU64,
    /// The replay reached the end of its input.
    pub feed_done: AtomicBool,
    /// Frames applied before publication started (building the server book).
    pub preroll_frames: AtomicU64,
}

impl Stats {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The exchange plus venue market extras, under one lock.
pub(crate) struct Core {
    pub ex: Exchange,
    /// Bybit: the merged `tickers` object per topic (for snapshots on subscribe).
    pub bybit_tickers: HashMap<String, bybit::TickerDoc>,
    /// Instrument of the last depth diff per input (routes Binance REST snapshot lines).
    pub source_depth_inst: Vec<Option<usize>>,
    /// Bybit: the order book depth the input carries, per symbol.
    pub bybit_source_depth: HashMap<String, usize>,
    /// Bybit: order books served at a smaller depth than the input's, per topic.
    pub bybit_derived: HashMap<String, bybit::DerivedBook>,
    /// Publication sequence.
    pub seq: u64,
}

/// Everything the tasks share.
pub(crate) struct Shared {
    pub cfg: SimConfig,
    pub venue: Venue,
    pub core: Mutex<Core>,
    pub reg: Mutex<Registry>,
    pub faults: FaultInjector,
    pub stamps: Stamps,
    pub stats: Stats,
    pub started: Instant,
    pub stop: AtomicBool,
    pub stop_notify: Notify,
    pub next_conn: AtomicU64,
    pub rt: tokio::runtime::Handle,
    pub binance: binance::VenueState,
    pub bybit: bybit::VenueState,
    pub rest_cursor: Mutex<FaultCursor>,
    pub errors: Mutex<std::collections::BTreeMap<i64, u64>>,
    pub unknown_seen: Mutex<std::collections::HashSet<String>>,
}

impl Shared {
    pub fn core(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn reg(&self) -> MutexGuard<'_, Registry> {
        self.reg.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a venue error code returned to a client.
    pub fn count_error(&self, code: i64) {
        if let Ok(mut e) = self.errors.lock() {
            *e.entry(code).or_insert(0) += 1;
        }
    }

    /// Counts a request for something not simulated and says so on stderr,
    /// once per distinct request line (so a client's needs are visible).
    pub fn note_unknown(&self, what: String) {
        Stats::inc(&self.stats.unknown_paths);
        let first = self.unknown_seen.lock().is_ok_and(|mut s| s.insert(what.clone()));
        if first {
            eprintln!("scalpel sim: {what} is not simulated (answered with an error)");
        }
    }

    /// Elapsed since start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Sends a private message to a connection, through the fault injector
    /// (delay, duplicate, reorder). The caller holds the registry lock.
    pub fn send_private(&self, conn: &mut Conn, text: Bytes) {
        Stats::inc(&self.stats.private_messages);
        let route = conn.route;
        if let Some(rule) = self.faults.event(FaultKind::Delay, route, &mut conn.cursor) {
            let tx = conn.tx.clone();
            let d = rule.duration_or_default();
            self.faults.record(FaultKind::Delay, conn.id, format!("held {} ms", d.as_millis()));
            self.rt.spawn(async move {
                tokio::time::sleep(d).await;
                let _ = tx.send(Out::Text(text)).await;
            });
            return;
        }
        if let Some((_, held)) = conn.held.take() {
            conn.send(Out::Text(text.clone()), &self.stats);
            conn.send(Out::Text(held), &self.stats);
            return;
        }
        if self.faults.event(FaultKind::Reorder, route, &mut conn.cursor).is_some() {
            self.faults.record(FaultKind::Reorder, conn.id, "held for the next private message");
            conn.held = Some((Instant::now(), text));
            return;
        }
        let dup = self.faults.event(FaultKind::Duplicate, route, &mut conn.cursor).is_some();
        conn.send(Out::Text(text.clone()), &self.stats);
        if dup {
            self.faults.record(FaultKind::Duplicate, conn.id, "sent twice");
            conn.send(Out::Text(text), &self.stats);
        }
    }

    /// A fill's execution message is about to go out on the private stream
    /// `conn`: the `fill-drop` fault closes the connection first (without
    /// a close frame), so that message and everything after it on the
    /// connection are lost, as a venue loses what it sends while its
    /// client reconnects. `true` when the connection is (now) closing.
    pub fn fill_drop(&self, conn: &mut Conn, detail: &str) -> bool {
        if conn.closing {
            return true;
        }
        if self.faults.event(FaultKind::FillDrop, conn.route, &mut conn.cursor).is_none() {
            return false;
        }
        self.faults.record(FaultKind::FillDrop, conn.id, format!("{} dropped before {detail}", conn.kind.name()));
        conn.send(Out::Drop, &self.stats);
        conn.closing = true;
        true
    }

    /// Sends a response on a connection by id (no faults: connection-level
    /// replies such as subscription acks and pongs).
    pub fn reply(&self, conn_id: u64, text: impl Into<Bytes>) {
        if let Some(c) = self.reg().conns.get_mut(&conn_id) {
            c.send(Out::Text(text.into()), &self.stats);
        }
    }

    /// Sends a private response on a connection by id (through faults).
    pub fn reply_private(&self, conn_id: u64, text: impl Into<Bytes>) {
        let mut reg = self.reg();
        if let Some(c) = reg.conns.get_mut(&conn_id) {
            self.send_private(c, text.into());
        }
    }

    /// Queues a message on a connection by id.
    pub fn send_to(&self, conn_id: u64, out: Out) {
        if let Some(c) = self.reg().conns.get_mut(&conn_id) {
            c.send(out, &self.stats);
        }
    }

    /// Formats and delivers account events (caller holds the core lock).
    pub fn deliver_events(&self, core: &Core, events: &mut Vec<AccountEvent>) {
        if events.is_empty() {
            return;
        }
        match self.venue {
            Venue::BinanceUsdm => binance::deliver(self, core, events),
            Venue::BybitLinear => bybit::deliver(self, core, events),
        }
        events.clear();
    }

    /// A request-level fault check (rate-limit / ban) for REST requests.
    pub fn rest_fault(&self, kind: FaultKind) -> Option<super::faults::FaultRule> {
        let mut cur = self.rest_cursor.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.faults.event(kind, Route::Rest, &mut cur)
    }
}

/// An HTTP request as the venue handlers see it.
pub(crate) struct HttpCtx {
    pub method: hyper::Method,
    pub path: String,
    pub query: String,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
    pub peer: SocketAddr,
    pub conn: u64,
    pub read_ns: u64,
    pub read_at: Instant,
}

impl HttpCtx {
    /// A header's text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A response body.
pub(crate) type Body = Full<Bytes>;

/// A JSON response with extra headers.
pub(crate) fn json_response(status: StatusCode, body: String, headers: &[(&str, String)]) -> Response<Body> {
    let mut b = Response::builder().status(status).header("Content-Type", "application/json");
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    b.body(Full::new(Bytes::from(body))).unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// What a WebSocket path turned out to be.
pub(crate) struct WsSetup {
    pub kind: ConnKind,
    pub route: Route,
    pub combined: bool,
    pub binance_route: Option<super::feed::BinanceRoute>,
    /// Initial subscriptions (Binance streams in the path / query).
    pub streams: Vec<String>,
    /// Binance private: listenKeys given in the path / query (validated).
    pub listen_keys: Vec<String>,
    pub account: Option<usize>,
}

async fn handle(shared: Arc<Shared>, peer: SocketAddr, conn: u64, req: Request<Incoming>) -> Response<Body> {
    Stats::inc(&shared.stats.http_requests);
    let read_ns = unix_ns();
    let read_at = Instant::now();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    if fastwebsockets::upgrade::is_upgrade_request(&req) {
        let setup = match shared.venue {
            Venue::BinanceUsdm => binance::ws_route(&shared, &path, &query),
            Venue::BybitLinear => bybit::ws_route(&shared, &path, &query),
        };
        let setup = match setup {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        let mut req = req;
        let (resp, fut) = match fastwebsockets::upgrade::upgrade(&mut req) {
            Ok(x) => x,
            Err(e) => {
                return json_response(StatusCode::BAD_REQUEST, format!("{{\"error\":\"{e}\"}}"), &[]);
            }
        };
        let s = shared.clone();
        shared.rt.spawn(async move {
            match fut.await {
                Ok(ws) => serve_ws(s, ws, peer, setup).await,
                Err(_) => Stats::inc(&s.stats.bad_client_messages),
            }
        });
        let (parts, _) = resp.into_parts();
        return Response::from_parts(parts, Full::new(Bytes::new()));
    }
    if path == "/sim/stats" {
        return json_response(StatusCode::OK, super::report_json(&shared), &[]);
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "{\"code\":-1000,\"msg\":\"body too large\"}".into(),
                &[],
            );
        }
    };
    let ctx = HttpCtx { method: parts.method, path, query, headers: parts.headers, body, peer, conn, read_ns, read_at };
    match shared.venue {
        Venue::BinanceUsdm => binance::http(&shared, ctx).await,
        Venue::BybitLinear => bybit::http(&shared, ctx).await,
    }
}

type WsStream = TokioIo<hyper::upgrade::Upgraded>;

async fn serve_ws(shared: Arc<Shared>, ws: fastwebsockets::WebSocket<WsStream>, peer: SocketAddr, setup: WsSetup) {
    let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    Stats::inc(&shared.stats.ws_opened);
    let (tx, mut rx) = mpsc::channel::<Out>(OUT_CAPACITY);
    let kill = Arc::new(Notify::new());
    let now = Instant::now();
    let mut subs: HashMap<String, Vec<String>> = HashMap::new();
    for s in &setup.streams {
        subs.entry(super::feed::binance_stream_key(s)).or_default().push(s.clone());
    }
    {
        // Register under the core lock so no frame is published half-way.
        let _core = shared.core();
        shared.reg().conns.insert(
            id,
            Conn {
                id,
                kind: setup.kind,
                route: setup.route,
                tx: tx.clone(),
                kill: kill.clone(),
                opened: now,
                peer,
                combined: setup.combined,
                binance_route: setup.binance_route,
                subs,
                account: setup.account,
                listen_keys: setup.listen_keys.clone(),
                stalled_until: None,
                cursor: FaultCursor::starting_at(shared.elapsed()),
                held: None,
                ping_outstanding: None,
                last_ping_sent: now,
                last_client_msg: now,
                closing: false,
                conn_id_text: format!("sim-{id:08x}"),
                msg_window: super::request::FixedWindow::new(1000),
            },
        );
    }
    let (read, mut write) = ws.split(tokio::io::split);
    let mut read = read;
    read.set_max_message_size(MAX_CLIENT_MESSAGE);
    read.set_auto_close(true);
    read.set_auto_pong(true);
    let kind = setup.kind;
    // Order-entry sockets: requests are handled in arrival order, each at
    // its read time plus the configured order latency (pipelined).
    let (processor, processor_tx) = if matches!(kind, ConnKind::BinanceApi | ConnKind::BybitTrade) {
        let (ptx, mut prx) = mpsc::unbounded_channel::<(Vec<u8>, u64, Instant)>();
        let ps = shared.clone();
        let latency = shared.cfg.order_latency;
        let task = shared.rt.spawn(async move {
            while let Some((text, read_ns, read_at)) = prx.recv().await {
                tokio::time::sleep_until(tokio::time::Instant::from_std(read_at + latency)).await;
                match kind {
                    ConnKind::BinanceApi => binance::on_text(&ps, id, kind, &text, read_ns).await,
                    _ => bybit::on_text(&ps, id, kind, &text, read_ns).await,
                }
            }
        });
        (Some(task), Some(ptx))
    } else {
        (None, None)
    };
    let reader_shared = shared.clone();
    let reader_tx = tx.clone();
    let reader_kill = kill.clone();
    let reader = shared.rt.spawn(async move {
        let mut collector = FragmentCollectorRead::new(read);
        loop {
            let tx2 = reader_tx.clone();
            let mut obligated = move |frame: Frame<'_>| {
                let out = match frame.opcode {
                    OpCode::Pong => Out::Pong(frame.payload.to_vec()),
                    OpCode::Close => Out::CloseEcho(frame.payload.to_vec()),
                    _ => Out::Text(Bytes::from(frame.payload.to_vec())),
                };
                let tx3 = tx2.clone();
                async move { tx3.send(out).await.map_err(|_| WebSocketError::ConnectionClosed) }
            };
            let frame = match collector.read_frame(&mut obligated).await {
                Ok(f) => f,
                Err(_) => break,
            };
            let read_ns = unix_ns();
            match frame.opcode {
                OpCode::Text | OpCode::Binary => {
                    if let Some(c) = reader_shared.reg().conns.get_mut(&id) {
                        c.last_client_msg = Instant::now();
                    }
                    let text = frame.payload.to_vec();
                    if let Some(p) = &processor_tx {
                        let _ = p.send((text, read_ns, Instant::now()));
                        continue;
                    }
                    match kind {
                        ConnKind::BinanceMarket | ConnKind::BinancePrivate | ConnKind::BinanceApi => {
                            binance::on_text(&reader_shared, id, kind, &text, read_ns).await;
                        }
                        ConnKind::BybitPublic | ConnKind::BybitPrivate | ConnKind::BybitTrade => {
                            bybit::on_text(&reader_shared, id, kind, &text, read_ns).await;
                        }
                    }
                }
                OpCode::Pong => {
                    let mut reg = reader_shared.reg();
                    if let Some(c) = reg.conns.get_mut(&id) {
                        // Only a pong answering our ping counts (unsolicited pongs do not keep it alive).
                        if c.ping_outstanding.as_ref().is_some_and(|(_, p)| p.as_slice() == &frame.payload[..]) {
                            c.ping_outstanding = None;
                        }
                    }
                }
                OpCode::Close => break,
                _ => {}
            }
        }
        // The peer closed or the socket failed: end the writer too (after
        // anything already queued, such as the close echo), so the
        // connection leaves the registry now rather than at its next write.
        if reader_tx.try_send(Out::Drop).is_err() {
            reader_kill.notify_one();
        }
    });
    let mut closed_by_peer = false;
    'outer: loop {
        let first = tokio::select! {
            out = rx.recv() => out,
            () = kill.notified() => None,
        };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        while batch.len() < 256 {
            match rx.try_recv() {
                Ok(o) => batch.push(o),
                Err(_) => break,
            }
        }
        // (sequence, stamp) of the market frames written in this batch: the
        // stamp is taken as the write starts, before encryption and the
        // socket write, so no client can have the frame earlier.
        let mut market_seqs: Vec<(u64, u64)> = Vec::new();
        for out in batch {
            let res = match out {
                Out::Market { seq, bytes } => {
                    market_seqs.push((seq, unix_ns()));
                    write.write_frame(Frame::text(Payload::Borrowed(&bytes))).await
                }
                Out::Text(bytes) => write.write_frame(Frame::text(Payload::Borrowed(&bytes))).await,
                Out::Ping(p) => {
                    Stats::inc(&shared.stats.pings_sent);
                    write.write_frame(Frame::new(true, OpCode::Ping, None, Payload::Owned(p))).await
                }
                Out::Pong(p) => write.write_frame(Frame::pong(Payload::Owned(p))).await,
                Out::CloseEcho(p) => {
                    let _ = write.write_frame(Frame::close_raw(Payload::Owned(p))).await;
                    closed_by_peer = true;
                    break 'outer;
                }
                Out::Close(code, reason) => {
                    let _ = write.write_frame(Frame::close(code, reason.as_bytes())).await;
                    let _ = write.flush().await;
                    break 'outer;
                }
                Out::Drop => break 'outer,
            };
            if res.is_err() {
                break 'outer;
            }
        }
        if write.flush().await.is_err() {
            break;
        }
        if !market_seqs.is_empty() {
            shared.stats.frames_written.fetch_add(market_seqs.len() as u64, Ordering::Relaxed);
            for (seq, write_ns) in market_seqs {
                shared.stamps.frame_written(FrameStamp { seq, conn: id, write_ns });
            }
        }
    }
    let _ = closed_by_peer;
    reader.abort();
    if let Some(p) = processor {
        p.abort();
    }
    {
        let _core = shared.core();
        let removed = shared.reg().conns.remove(&id);
        if let Some(c) = removed {
            if c.kind == ConnKind::BybitTrade {
                bybit::on_trade_socket_closed(&shared, &c);
            }
        }
    }
    Stats::inc(&shared.stats.ws_closed);
    drop(write);
}

/// Records an order read for the latency stamps.
pub(crate) fn stamp_order(
    shared: &Shared,
    conn: u64,
    transport: super::stamps::OrderTransport,
    client: &str,
    read_ns: u64,
    bytes: usize,
) {
    shared.stamps.order_read(OrderStamp {
        conn,
        transport,
        client_order_id: super::stamps::ShortText::new(client).unwrap_or_default(),
        read_ns,
        bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
    });
}

/// Accepts connections until `stop` (TLS, or plain TCP without a TLS
/// configuration: [`super::SimConfig::plaintext`]).
pub(crate) async fn accept_loop(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = shared.stop_notify.notified() => break,
        };
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let Ok((tcp, peer)) = accepted else { continue };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let s = shared.clone();
        shared.rt.spawn(async move {
            let conn = s.next_conn.fetch_add(1, Ordering::Relaxed);
            let s2 = s.clone();
            let service = hyper::service::service_fn(move |req| {
                let s3 = s2.clone();
                async move { Ok::<_, Infallible>(handle(s3, peer, conn, req).await) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            match acceptor {
                Some(acceptor) => {
                    let tls = match acceptor.accept(tcp).await {
                        Ok(t) => t,
                        Err(_) => {
                            Stats::inc(&s.stats.tls_failures);
                            return;
                        }
                    };
                    let _ = builder.keep_alive(true).serve_connection(TokioIo::new(tls), service).with_upgrades().await;
                }
                None => {
                    let _ = builder.keep_alive(true).serve_connection(TokioIo::new(tcp), service).with_upgrades().await;
                }
            }
        });
    }
}

/// Heartbeats, age limits, timed faults, held-message flushes, listenKey
/// expiry: every [`TICK`].
pub(crate) async fn ticker(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            () = shared.stop_notify.notified() => break,
        }
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let now = Instant::now();
        let elapsed = shared.elapsed();
        let hb = shared.cfg.heartbeat;
        {
            let mut reg = shared.reg();
            for c in reg.conns.values_mut() {
                if c.closing {
                    continue;
                }
                let age = now.duration_since(c.opened);
                if let Some(limit) = shared.faults.plan().lifetime(c.route) {
                    if age >= limit {
                        shared.faults.record(
                            FaultKind::Lifetime,
                            c.id,
                            format!("{} closed at {} s", c.kind.name(), limit.as_secs_f64()),
                        );
                        c.send(Out::Close(1000, "connection lifetime reached"), &shared.stats);
                        c.closing = true;
                        continue;
                    }
                }
                if age >= hb.max_connection_age {
                    Stats::inc(&shared.stats.age_closes);
                    c.send(Out::Close(1000, "24h connection limit"), &shared.stats);
                    c.closing = true;
                    continue;
                }
                if c.kind.binance_heartbeat() {
                    if let Some((sent, _)) = &c.ping_outstanding {
                        if now.duration_since(*sent) >= hb.pong_timeout {
                            Stats::inc(&shared.stats.pong_timeouts);
                            c.send(Out::Close(1008, "pong timeout"), &shared.stats);
                            c.closing = true;
                            continue;
                        }
                    }
                    if now.duration_since(c.last_ping_sent) >= hb.ping_interval {
                        let payload = super::stamps::unix_ms().to_string().into_bytes();
                        c.last_ping_sent = now;
                        if c.ping_outstanding.is_none() {
                            c.ping_outstanding = Some((now, payload.clone()));
                        }
                        c.send(Out::Ping(payload), &shared.stats);
                    }
                } else if now.duration_since(c.last_client_msg) >= hb.idle_timeout {
                    Stats::inc(&shared.stats.idle_closes);
                    c.send(Out::Drop, &shared.stats);
                    c.closing = true;
                    continue;
                }
                if shared.faults.timed(FaultKind::Disconnect, c.route, elapsed, &mut c.cursor).is_some() {
                    shared.faults.record(FaultKind::Disconnect, c.id, c.kind.name());
                    c.send(Out::Drop, &shared.stats);
                    c.closing = true;
                    continue;
                }
                if matches!(c.kind, ConnKind::BinanceMarket | ConnKind::BybitPublic) {
                    if let Some(rule) = shared.faults.timed(FaultKind::Stall, c.route, elapsed, &mut c.cursor) {
                        if c.stalled_until.is_none_or(|t| t <= now) {
                            let d = rule.duration_or_default();
                            c.stalled_until = Some(now + d);
                            shared.faults.record(FaultKind::Stall, c.id, format!("{} ms", d.as_millis()));
                        }
                    }
                }
                FaultInjector::checked(&mut c.cursor, elapsed);
                if let Some((at, _)) = &c.held {
                    if now.duration_since(*at) >= REORDER_HOLD {
                        if let Some((_, msg)) = c.held.take() {
                            c.send(Out::Text(msg), &shared.stats);
                        }
                    }
                }
            }
        }
        match shared.venue {
            Venue::BinanceUsdm => binance::on_tick(&shared, elapsed),
            Venue::BybitLinear => bybit::on_tick(&shared, elapsed),
        }
    }
}

/// Publishes a market frame to the subscribed connections (caller holds the
/// core lock, and passes the registry).
pub(crate) fn publish_market(shared: &Shared, reg: &mut Registry, seq: u64, frame: &FeedFrame, depth: bool) {
    let what = match &frame.class {
        FrameClass::BinanceStream { stream, .. } => stream.as_str(),
        FrameClass::BybitTopic { topic, .. } => topic.as_str(),
        _ => "",
    };
    for c in reg.conns.values_mut() {
        let outs = match (shared.venue, c.kind) {
            (Venue::BinanceUsdm, ConnKind::BinanceMarket) => binance::frames_for(c, frame),
            (Venue::BybitLinear, ConnKind::BybitPublic) => bybit::frames_for(c, frame),
            _ => continue,
        };
        deliver_market(shared, c, seq, outs, depth, what);
    }
}

/// Publishes a frame the simulator made (Bybit order books at a derived
/// depth) to the connections subscribed to `topic`.
pub(crate) fn publish_topic(shared: &Shared, reg: &mut Registry, seq: u64, topic: &str, bytes: Bytes) {
    for c in reg.conns.values_mut() {
        if c.kind == ConnKind::BybitPublic && c.subs.contains_key(topic) {
            deliver_market(shared, c, seq, vec![bytes.clone()], true, topic);
        }
    }
}

/// Queues market frames on one connection, through the stall and gap faults.
fn deliver_market(shared: &Shared, c: &mut Conn, seq: u64, outs: Vec<Bytes>, depth: bool, what: &str) {
    if outs.is_empty() {
        return;
    }
    if c.stalled_until.is_some_and(|t| t > Instant::now()) {
        shared.stats.frames_stalled.fetch_add(outs.len() as u64, Ordering::Relaxed);
        return;
    }
    if depth && shared.faults.event(FaultKind::Gap, c.route, &mut c.cursor).is_some() {
        shared.faults.record(FaultKind::Gap, c.id, format!("skipped depth frame {seq} of {what}"));
        return;
    }
    for bytes in outs {
        c.send(Out::Market { seq, bytes }, &shared.stats);
    }
}

/// The market replay: applies every frame to the exchange and publishes
/// it at its time (scaled by the speed). Runs on its own thread.
///
/// `anchor_ns` (synthetic sessions, whose receive times are wall-clock
/// times from the session's start): pace frames by their own times, so a
/// frame's exchange time is close to the wall clock when it is published.
/// Without it (recordings), the first published frame goes out at once and
/// the rest keep their recorded spacing.
pub(crate) fn feed_thread(shared: Arc<Shared>, mut feed: Feed, anchor_ns: Option<u64>) {
    let mut events = Vec::new();
    let speed = if shared.cfg.speed > 0.0 { shared.cfg.speed } else { 1.0 };
    // Pre-roll: build the server book before anything is published.
    let mut first: Option<FeedFrame> = None;
    let mut preroll = 0u64;
    let mut t_start: Option<u64> = None;
    while let Some(frame) = feed.next_frame() {
        let mut core = shared.core();
        let in_sync = core.ex.books_in_sync() && core.seq_ready();
        let waited = t_start.is_some_and(|t| frame.local_ns.saturating_sub(t) > 30_000_000_000);
        if (in_sync && preroll > 0) || waited {
            first = Some(frame);
            break;
        }
        t_start.get_or_insert(frame.local_ns);
        apply_frame(&shared, &mut core, &frame, &mut events, false);
        preroll += 1;
    }
    shared.stats.preroll_frames.store(preroll, Ordering::Relaxed);
    let Some(first) = first else {
        shared.stats.feed_done.store(true, Ordering::Relaxed);
        return;
    };
    let (t0, wall0) = match anchor_ns {
        Some(anchor) => {
            let behind = Duration::from_nanos(unix_ns().saturating_sub(anchor));
            (anchor, Instant::now().checked_sub(behind).unwrap_or_else(Instant::now))
        }
        None => (first.local_ns, Instant::now()),
    };
    let mut next = Some(first);
    while let Some(frame) = next.take() {
        let offset_ns = (frame.local_ns.saturating_sub(t0) as f64 / speed) as u64;
        let due = wall0 + Duration::from_nanos(offset_ns);
        loop {
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            let now = Instant::now();
            if now >= due {
                break;
            }
            std::thread::sleep((due - now).min(Duration::from_millis(20)));
        }
        let mut core = shared.core();
        apply_frame(&shared, &mut core, &frame, &mut events, true);
        drop(core);
        next = feed.next_frame();
    }
    shared.stats.feed_done.store(true, Ordering::Relaxed);
}

impl Core {
    /// Whether at least one depth frame has been applied.
    fn seq_ready(&self) -> bool {
        self.source_depth_inst.iter().any(Option::is_some)
    }
}

fn apply_frame(shared: &Shared, core: &mut Core, frame: &FeedFrame, events: &mut Vec<AccountEvent>, publish: bool) {
    let rest_inst = match frame.class {
        FrameClass::BinanceRestSnapshot => core.source_depth_inst.get(frame.source).copied().flatten(),
        _ => None,
    };
    let info = core.ex.on_frame(&frame.bytes, rest_inst, unix_ns(), events);
    if info.kind == super::stamps::FrameKind::Depth {
        if let (Some(inst), Some(slot)) = (info.inst, core.source_depth_inst.get_mut(frame.source)) {
            *slot = Some(inst);
        }
    }
    let mut derived = Vec::new();
    if let FrameClass::BybitTopic { topic, snapshot } = &frame.class {
        if topic.starts_with("tickers.") {
            bybit::merge_ticker(core, topic, *snapshot, &frame.bytes);
        }
        if topic.starts_with("orderbook.") {
            derived = bybit::after_book_frame(core, topic, &info);
        }
    }
    if publish && !matches!(frame.class, FrameClass::BinanceRestSnapshot | FrameClass::Unknown) {
        core.seq += 1;
        let seq = core.seq;
        Stats::inc(&shared.stats.frames_published);
        shared.stamps.published(PublishedFrame {
            seq,
            kind: info.kind,
            exchange_id: info.exchange_id,
            event_ms: info.event_ms,
            publish_ns: unix_ns(),
        });
        let depth = info.kind == super::stamps::FrameKind::Depth;
        let mut reg = shared.reg();
        publish_market(shared, &mut reg, seq, frame, depth);
        for (topic, u, text) in derived {
            core.seq += 1;
            let seq = core.seq;
            Stats::inc(&shared.stats.frames_published);
            shared.stamps.published(PublishedFrame {
                seq,
                kind: super::stamps::FrameKind::Depth,
                exchange_id: u,
                event_ms: info.event_ms,
                publish_ns: unix_ns(),
            });
            publish_topic(shared, &mut reg, seq, &topic, Bytes::from(text));
        }
    }
    shared.deliver_events(core, events);
}
