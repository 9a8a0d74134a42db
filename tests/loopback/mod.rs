//! A small loopback exchange for the network tests, independent of
//! scalpel's own codecs: rustls' *buffered* server, tungstenite's server
//! role for WebSocket, httparse for requests, serde_json and a BTreeMap
//! book of its own. It replays frames from a real recording under a
//! per-connection script (send, ping, close, stall, skip frames to make a
//! real sequence gap) and serves Binance REST depth snapshots from its own
//! book, consistent with the diffs it has sent.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tungstenite::Message;

/// A CA made at test start, a server certificate for `localhost` and
/// 127.0.0.1 signed by it, and the CA written to a PEM file for `--ca-file`.
pub struct TestPki {
    pub server: Arc<rustls::ServerConfig>,
    pub ca_file: PathBuf,
    pub dir: PathBuf,
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn make_pki(tag: &str) -> TestPki {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "scalpel-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "scalpel loopback test CA");
    ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_params = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    let chain = vec![CertificateDer::from(leaf.der().to_vec()), CertificateDer::from(ca_cert.der().to_vec())];
    let key = PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    TestPki { server: Arc::new(server), ca_file, dir }
}

/// A server-side stream: plain TCP or rustls' buffered server.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Stream {
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

pub fn wrap(tcp: TcpStream, tls: Option<&Arc<rustls::ServerConfig>>) -> Stream {
    tcp.set_nodelay(true).unwrap();
    match tls {
        Some(cfg) => {
            let conn = rustls::ServerConnection::new(Arc::clone(cfg)).unwrap();
            Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
        }
        None => Stream::Plain(tcp),
    }
}

/// Decimal text → integer at 8 decimals (independent of scalpel's fixed.rs).
fn key(p: &str) -> i64 {
    let (int, frac) = p.split_once('.').unwrap_or((p, ""));
    let mut frac = frac.to_owned();
    while frac.len() < 8 {
        frac.push('0');
    }
    int.parse::<i64>().unwrap() * 100_000_000 + frac[..8].parse::<i64>().unwrap()
}

/// Canonical decimal text: no trailing zeros (as `scalpel book` prints).
pub fn canon(s: &str) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s.to_owned() }
}

/// Price and quantity text per level, best first.
pub type Ladder = Vec<(String, String)>;

/// The server's own order book: the exchange's truth for the tests.
#[derive(Debug, Default, Clone)]
pub struct RefBook {
    pub bids: BTreeMap<i64, (String, String)>,
    pub asks: BTreeMap<i64, (String, String)>,
    pub last_u: u64,
    pub seq: u64,
}

impl RefBook {
    fn levels(side: &mut BTreeMap<i64, (String, String)>, levels: &serde_json::Value) {
        for l in levels.as_array().unwrap() {
            let (p, q) = (l[0].as_str().unwrap(), l[1].as_str().unwrap());
            if key(q) == 0 {
                side.remove(&key(p));
            } else {
                side.insert(key(p), (p.to_owned(), q.to_owned()));
            }
        }
    }

    /// Binance REST snapshot JSON.
    pub fn binance_snapshot(text: &str) -> Self {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let mut b = RefBook { last_u: v["lastUpdateId"].as_u64().unwrap(), ..Default::default() };
        Self::levels(&mut b.bids, &v["bids"]);
        Self::levels(&mut b.asks, &v["asks"]);
        b
    }

    /// Applies a frame the server sends or skips: Binance depth diffs with
    /// `u` past the book, Bybit snapshots (reset) and deltas.
    pub fn apply(&mut self, frame: &[u8]) {
        let v: serde_json::Value = serde_json::from_slice(frame).unwrap();
        if let Some(stream) = v["stream"].as_str() {
            if stream.contains("@depth") {
                let d = &v["data"];
                let u = d["u"].as_u64().unwrap();
                if u > self.last_u {
                    Self::levels(&mut self.bids, &d["b"]);
                    Self::levels(&mut self.asks, &d["a"]);
                    self.last_u = u;
                }
            }
        } else if let Some(topic) = v["topic"].as_str()
            && topic.starts_with("orderbook.")
        {
            let d = &v["data"];
            if v["type"] == "snapshot" {
                self.bids.clear();
                self.asks.clear();
            }
            Self::levels(&mut self.bids, &d["b"]);
            Self::levels(&mut self.asks, &d["a"]);
            self.last_u = d["u"].as_u64().unwrap();
            self.seq = d["seq"].as_u64().unwrap_or(0);
        }
    }

    fn side_json(levels: impl Iterator<Item = (String, String)>, limit: usize) -> String {
        let l: Vec<String> = levels.take(limit).map(|(p, q)| format!("[\"{p}\",\"{q}\"]")).collect();
        format!("[{}]", l.join(","))
    }

    /// Binance `GET /fapi/v1/depth` body for this book.
    pub fn binance_rest_json(&self) -> String {
        format!(
            "{{\"lastUpdateId\":{},\"E\":1723161256000,\"T\":1723161256000,\"bids\":{},\"asks\":{}}}",
            self.last_u,
            Self::side_json(self.bids.values().rev().cloned(), 1000),
            Self::side_json(self.asks.values().cloned(), 1000)
        )
    }

    /// A Bybit orderbook snapshot frame for this book (what the venue sends
    /// after a subscribe).
    pub fn bybit_snapshot_frame(&self, symbol: &str, depth: usize) -> String {
        format!(
            "{{\"topic\":\"orderbook.{depth}.{symbol}\",\"type\":\"snapshot\",\"ts\":1786310818129,\"data\":{{\"s\":\"{symbol}\",\"b\":{},\"a\":{},\"u\":{},\"seq\":{}}},\"cts\":1786310818027}}",
            Self::side_json(self.bids.values().rev().cloned(), depth),
            Self::side_json(self.asks.values().cloned(), depth),
            self.last_u,
            self.seq
        )
    }

    /// Top `n` levels per side, canonical text, best first.
    pub fn top(&self, n: usize) -> (Ladder, Ladder) {
        let c = |(p, q): &(String, String)| (canon(p), canon(q));
        (self.bids.values().rev().take(n).map(c).collect(), self.asks.values().take(n).map(c).collect())
    }
}

/// How one connection ends after its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Server-initiated WebSocket close handshake.
    Close,
    /// Stop sending, keep the connection open until the client drops it.
    Stall,
    /// Keep the connection open (answering pings) until the server stops.
    Stay,
}

/// What the server does on one accepted connection.
#[derive(Debug, Clone)]
pub struct ConnScript {
    /// Before sending, skip (apply to the book, never send) frames until
    /// this many depth updates have been skipped: a real sequence gap.
    pub skip_depth: usize,
    /// Frames to send (at most; fewer when the feed ends).
    pub send: usize,
    /// Send this ping payload after the frames and wait for its pong.
    pub ping: Option<Vec<u8>>,
    pub end: End,
}

/// What the WebSocket server saw and did.
#[derive(Debug, Default)]
pub struct ServerLog {
    /// Every text frame sent, across connections, in order.
    pub sent: Vec<Vec<u8>>,
    /// Request path of each connection.
    pub paths: Vec<String>,
    /// Text messages received (subscribe requests, app pings), per connection.
    pub received: Vec<Vec<String>>,
    /// Pong payloads received.
    pub pongs: Vec<Vec<u8>>,
    /// Frames skipped (applied to the book, not sent).
    pub skipped: usize,
}

/// The venue flavour the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Binance,
    Bybit,
}

/// A scripted WebSocket market-data server plus (Binance) a REST server.
pub struct Exchange {
    pub ws_addr: SocketAddr,
    pub rest_addr: SocketAddr,
    pub book: Arc<Mutex<RefBook>>,
    pub done: Arc<AtomicBool>,
    pub snapshots_served: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    ws: Option<JoinHandle<ServerLog>>,
    rest: Option<JoinHandle<()>>,
}

impl Exchange {
    /// Starts both servers: `feed` frames are served in order under
    /// `scripts` (one per accepted connection), starting from `book`.
    pub fn start(
        flavour: Flavour,
        tls: Option<Arc<rustls::ServerConfig>>,
        feed: Vec<Vec<u8>>,
        book: RefBook,
        scripts: Vec<ConnScript>,
    ) -> Self {
        let ws_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let rest_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        ws_listener.set_nonblocking(true).unwrap();
        rest_listener.set_nonblocking(true).unwrap();
        let ws_addr = ws_listener.local_addr().unwrap();
        let rest_addr = rest_listener.local_addr().unwrap();
        let book = Arc::new(Mutex::new(book));
        let done = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let snapshots_served = Arc::new(AtomicUsize::new(0));
        let ws = {
            let (book, done, stop, tls) = (Arc::clone(&book), Arc::clone(&done), Arc::clone(&stop), tls.clone());
            std::thread::spawn(move || serve_ws(flavour, ws_listener, tls, feed, &book, scripts, &done, &stop))
        };
        let rest = {
            let (book, stop, served) = (Arc::clone(&book), Arc::clone(&stop), Arc::clone(&snapshots_served));
            std::thread::spawn(move || serve_rest(rest_listener, tls, &book, &stop, &served))
        };
        Self { ws_addr, rest_addr, book, done, snapshots_served, stop, ws: Some(ws), rest: Some(rest) }
    }

    /// Stops the servers and returns the WebSocket server's log.
    pub fn stop(mut self) -> ServerLog {
        self.stop.store(true, Ordering::Relaxed);
        let log = self.ws.take().unwrap().join().expect("ws server thread");
        self.rest.take().unwrap().join().expect("rest server thread");
        log
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub fn accept(listener: &TcpListener, stop: &AtomicBool) -> Option<TcpStream> {
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return Some(s);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

fn is_timeout(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if matches!(io.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
}

/// Reads one message, or `None` on timeout; `Err` when the connection ended.
fn read_msg(ws: &mut tungstenite::WebSocket<Stream>) -> Result<Option<Message>, ()> {
    match ws.read() {
        Ok(m) => Ok(Some(m)),
        Err(e) if is_timeout(&e) => Ok(None),
        Err(_) => Err(()),
    }
}

fn handle_text(
    flavour: Flavour,
    ws: &mut tungstenite::WebSocket<Stream>,
    text: &str,
    log: &mut ServerLog,
) -> Vec<String> {
    log.received.last_mut().unwrap().push(text.to_owned());
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let mut subscribed = Vec::new();
    let reply = match flavour {
        Flavour::Binance if v["method"] == "SUBSCRIBE" => {
            subscribed = v["params"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
            Some(format!("{{\"result\":null,\"id\":{}}}", v["id"]))
        }
        Flavour::Bybit if v["op"] == "subscribe" => {
            subscribed = v["args"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
            Some(format!(
                "{{\"success\":true,\"ret_msg\":\"\",\"conn_id\":\"loopback\",\"req_id\":{},\"op\":\"subscribe\"}}",
                v["req_id"]
            ))
        }
        Flavour::Bybit if v["op"] == "ping" => {
            Some("{\"success\":true,\"ret_msg\":\"pong\",\"conn_id\":\"loopback\",\"op\":\"ping\"}".to_owned())
        }
        _ => None,
    };
    if let Some(r) = reply {
        ws.send(Message::text(r.clone())).unwrap();
        log.sent.push(r.into_bytes());
    }
    subscribed
}

fn frame_stream(frame: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(frame).unwrap();
    v["stream"].as_str().or_else(|| v["topic"].as_str()).unwrap_or("").to_owned()
}

#[allow(clippy::too_many_arguments)]
fn serve_ws(
    flavour: Flavour,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    feed: Vec<Vec<u8>>,
    book: &Mutex<RefBook>,
    scripts: Vec<ConnScript>,
    done: &AtomicBool,
    stop: &AtomicBool,
) -> ServerLog {
    let mut log = ServerLog::default();
    let mut pos = 0usize;
    for script in scripts {
        let Some(tcp) = accept(&listener, stop) else { return log };
        let path = Arc::new(Mutex::new(String::new()));
        let p = Arc::clone(&path);
        let callback = move |req: &tungstenite::handshake::server::Request, resp| {
            *p.lock().unwrap() = req.uri().to_string();
            Ok(resp)
        };
        let mut ws = tungstenite::accept_hdr(wrap(tcp, tls.as_ref()), callback).expect("websocket accept");
        log.paths.push(path.lock().unwrap().clone());
        log.received.push(Vec::new());
        ws.get_ref().tcp().set_read_timeout(Some(Duration::from_millis(5))).unwrap();
        // Wait for the subscription: nothing is sent before it (a client
        // that forgets to resubscribe gets nothing, as from the venue).
        let mut subscribed: Vec<String> = Vec::new();
        let t0 = Instant::now();
        while subscribed.is_empty() && t0.elapsed() < Duration::from_secs(10) && !stop.load(Ordering::Relaxed) {
            match read_msg(&mut ws) {
                Ok(Some(Message::Text(t))) => subscribed = handle_text(flavour, &mut ws, &t, &mut log),
                Ok(_) => {}
                Err(()) => break,
            }
        }
        if subscribed.is_empty() {
            continue;
        }
        if flavour == Flavour::Bybit && pos > 0 {
            // Bybit sends a fresh snapshot after every subscribe.
            let snap = book.lock().unwrap().bybit_snapshot_frame("BTCUSDT", 200);
            ws.send(Message::text(snap.clone())).unwrap();
            log.sent.push(snap.into_bytes());
        }
        let wanted = |f: &[u8]| subscribed.contains(&frame_stream(f));
        let mut skipped_depth = 0;
        while skipped_depth < script.skip_depth && pos < feed.len() {
            let f = &feed[pos];
            pos += 1;
            book.lock().unwrap().apply(f);
            log.skipped += 1;
            if frame_stream(f).contains("depth") || frame_stream(f).starts_with("orderbook.") {
                skipped_depth += 1;
            }
        }
        let mut sent = 0;
        let mut alive = true;
        while sent < script.send && pos < feed.len() && alive {
            let f = &feed[pos];
            pos += 1;
            book.lock().unwrap().apply(f);
            if !wanted(f) {
                continue;
            }
            alive = ws.send(Message::text(String::from_utf8(f.clone()).unwrap())).is_ok();
            log.sent.push(f.clone());
            sent += 1;
            // Answer what the client sends meanwhile (app pings), without waiting.
            if sent % 64 == 0 {
                ws.get_ref().tcp().set_nonblocking(true).unwrap();
                while let Ok(Some(m)) = read_msg(&mut ws) {
                    if let Message::Text(t) = m {
                        handle_text(flavour, &mut ws, &t, &mut log);
                    }
                }
                ws.get_ref().tcp().set_nonblocking(false).unwrap();
            }
        }
        if pos >= feed.len() {
            done.store(true, Ordering::Relaxed);
        }
        if let Some(payload) = &script.ping {
            ws.send(Message::Ping(payload.clone().into())).unwrap();
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(5) {
                match read_msg(&mut ws) {
                    Ok(Some(Message::Pong(p))) => {
                        log.pongs.push(p.to_vec());
                        break;
                    }
                    Ok(Some(Message::Text(t))) => {
                        handle_text(flavour, &mut ws, &t, &mut log);
                    }
                    Ok(_) => {}
                    Err(()) => break,
                }
            }
        }
        match script.end {
            End::Close => {
                let _ = ws.close(None);
                let t0 = Instant::now();
                while t0.elapsed() < Duration::from_secs(5) && read_msg(&mut ws).is_ok() {}
            }
            End::Stall | End::Stay => {
                // Keep the connection until the client drops it (or the test ends),
                // answering its messages.
                while !stop.load(Ordering::Relaxed) {
                    match read_msg(&mut ws) {
                        Ok(Some(Message::Text(t))) => {
                            if script.end == End::Stay {
                                handle_text(flavour, &mut ws, &t, &mut log);
                            } else {
                                log.received.last_mut().unwrap().push(t.to_string());
                            }
                        }
                        Ok(_) => {}
                        Err(()) => break,
                    }
                }
            }
        }
    }
    log
}

fn serve_rest(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    book: &Arc<Mutex<RefBook>>,
    stop: &Arc<AtomicBool>,
    served: &Arc<AtomicUsize>,
) {
    let mut handles = Vec::new();
    while let Some(tcp) = accept(&listener, stop) {
        let (book, stop, served, tls) = (Arc::clone(book), Arc::clone(stop), Arc::clone(served), tls.clone());
        handles.push(std::thread::spawn(move || {
            tcp.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            let mut s = wrap(tcp, tls.as_ref());
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let mut n_resp = 0usize;
            while !stop.load(Ordering::Relaxed) {
                match s.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
                    Err(_) => break,
                }
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut req = httparse::Request::new(&mut headers);
                let Ok(httparse::Status::Complete(len)) = req.parse(&buf) else { continue };
                let path = req.path.unwrap_or("").to_owned();
                buf.drain(..len);
                let (status, body) = if path.starts_with("/fapi/v1/depth?symbol=BTCUSDT") {
                    served.fetch_add(1, Ordering::Relaxed);
                    ("200 OK", book.lock().unwrap().binance_rest_json())
                } else {
                    ("404 Not Found", "{\"code\":-1,\"msg\":\"not found\"}".to_owned())
                };
                n_resp += 1;
                // Alternate content-length and chunked bodies.
                let resp = if n_resp % 2 == 1 {
                    format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    let mut r = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    );
                    for part in body.as_bytes().chunks(1000) {
                        r.push_str(&format!("{:x}\r\n{}\r\n", part.len(), std::str::from_utf8(part).unwrap()));
                    }
                    r.push_str("0\r\n\r\n");
                    r
                };
                if s.write_all(resp.as_bytes()).and_then(|()| s.flush()).is_err() {
                    break;
                }
            }
        }));
    }
    for h in handles {
        let _ = h.join();
    }
}

/// Accepts one WebSocket connection (blocking, with a deadline); returns it
/// and its request path.
pub fn accept_ws(
    listener: &TcpListener,
    tls: Option<&Arc<rustls::ServerConfig>>,
    stop: &AtomicBool,
) -> Option<(tungstenite::WebSocket<Stream>, String)> {
    let tcp = accept(listener, stop)?;
    let path = Arc::new(Mutex::new(String::new()));
    let p = Arc::clone(&path);
    let callback = move |req: &tungstenite::handshake::server::Request, resp| {
        *p.lock().unwrap() = req.uri().to_string();
        Ok(resp)
    };
    let ws = tungstenite::accept_hdr(wrap(tcp, tls), callback).expect("websocket accept");
    let path = path.lock().unwrap().clone();
    Some((ws, path))
}

/// Reads messages until `want` accepts one (returned) or `timeout` passes.
pub fn read_until(
    ws: &mut tungstenite::WebSocket<Stream>,
    timeout: Duration,
    mut want: impl FnMut(&Message) -> bool,
) -> Option<Message> {
    ws.get_ref().tcp().set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        match read_msg(ws) {
            Ok(Some(m)) if want(&m) => return Some(m),
            Ok(_) => {}
            Err(()) => return None,
        }
    }
    None
}

/// A listener on an ephemeral loopback port, non-blocking for [`accept`].
pub fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}
