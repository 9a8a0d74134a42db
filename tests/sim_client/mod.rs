//! An independent client for `scalpel sim` tests: tungstenite for
//! WebSockets, a hand-written HTTP/1.1 exchange for REST, rustls trusting
//! only the simulator's CA file, and HMAC from the `hmac-sha256` crate —
//! none of it is the engine's code (our codec, our signers) or the
//! simulator's (fastwebsockets, hyper).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use scalpel::sim::{AccountSpec, MarketInput, SimConfig, Simulator};
use scalpel::venue::Venue;
use scalpel::venue::credentials::{ApiKey, Credentials};
use serde_json::Value;

pub type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;
pub type Ws = tungstenite::WebSocket<Tls>;

pub const KEY: &str = "simTestKey123";
pub const SECRET: &str = "sim-test-secret-not-real";

/// Lower-case hex HMAC-SHA256, computed by an independent crate.
pub fn hmac_hex(secret: &str, message: &str) -> String {
    hmac_sha256::HMAC::mac(message.as_bytes(), secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn now_ms() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// A simulator on a synthetic session with one HMAC account.
pub fn start(venue: Venue, tweak: impl FnOnce(&mut SimConfig)) -> Simulator {
    let input = MarketInput::Synthetic { seed: 7, symbols: vec!["BTCUSDT".parse().unwrap()], duration_s: 600.0 };
    let table = scalpel::commands::instruments::load(None, venue).unwrap();
    let mut cfg = SimConfig::new(venue, input, table);
    cfg.accounts.push(AccountSpec {
        hmac: Some(Credentials::new(KEY.as_bytes(), SECRET.as_bytes()).unwrap()),
        api_key: ApiKey::new(KEY.as_bytes()).unwrap(),
        ed25519: None,
    });
    tweak(&mut cfg);
    Simulator::start(cfg).expect("simulator starts")
}

#[allow(deprecated)]
fn client_config(ca_file: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).expect("CA file") {
        roots.add(cert.expect("CA PEM")).expect("trust anchor");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// host:port and path+query of a URL.
fn split_url(url: &str) -> (String, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find('/') {
        Some(i) => (rest[..i].to_owned(), rest[i..].to_owned()),
        None => (rest.to_owned(), "/".to_owned()),
    }
}

pub fn tls_connect(host_port: &str, ca_file: &Path) -> Tls {
    let tcp = TcpStream::connect(host_port).expect("tcp connect");
    tcp.set_nodelay(true).unwrap();
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h).to_owned();
    let name = ServerName::try_from(host).unwrap();
    let conn = rustls::ClientConnection::new(client_config(ca_file), name).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// Opens a WebSocket.
pub fn ws(url: &str, ca_file: &Path) -> Ws {
    let (host_port, _) = split_url(url);
    let stream = tls_connect(&host_port, ca_file);
    let (ws, _) = tungstenite::client(url, stream).map_err(|e| format!("{e}")).expect("websocket handshake");
    ws
}

/// Tries to open a WebSocket; the handshake error text on failure.
pub fn try_ws(url: &str, ca_file: &Path) -> Result<Ws, String> {
    let (host_port, _) = split_url(url);
    let stream = tls_connect(&host_port, ca_file);
    tungstenite::client(url, stream).map(|(ws, _)| ws).map_err(|e| format!("{e}"))
}

pub fn send(ws: &mut Ws, text: &str) {
    ws.send(tungstenite::Message::text(text)).expect("send");
}

/// What reading a socket gave.
#[derive(Debug)]
pub enum Got {
    Text(String),
    Closed(Option<u16>),
    /// The connection ended without a close frame.
    Reset,
    Timeout,
}

/// Reads the next text message within `timeout` (pings are answered by tungstenite).
pub fn next(ws: &mut Ws, timeout: Duration) -> Got {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Got::Timeout;
        }
        ws.get_ref().sock.set_read_timeout(Some(left.min(Duration::from_millis(200)))).unwrap();
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => return Got::Text(t.as_str().to_owned()),
            Ok(tungstenite::Message::Close(frame)) => return Got::Closed(frame.map(|f| u16::from(f.code))),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => return Got::Closed(None),
            Err(_) => return Got::Reset,
        }
    }
}

/// The next text message as JSON, panicking on anything else.
pub fn next_json(ws: &mut Ws, timeout: Duration) -> Value {
    match next(ws, timeout) {
        Got::Text(t) => serde_json::from_str(&t).unwrap_or_else(|e| panic!("not JSON ({e}): {t}")),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// Reads until a message satisfies `pred` (others are returned in order too).
pub fn until(ws: &mut Ws, timeout: Duration, mut pred: impl FnMut(&Value) -> bool) -> (Value, Vec<Value>) {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match next(ws, left) {
            Got::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap_or_else(|e| panic!("not JSON ({e}): {t}"));
                if pred(&v) {
                    return (v, seen);
                }
                seen.push(v);
            }
            other => panic!("waiting for a message: {other:?} after {} messages; last: {:?}", seen.len(), seen.last()),
        }
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Http {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Http {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request on a fresh TLS connection (`Connection: close`).
pub fn https(method: &str, url: &str, headers: &[(&str, &str)], body: &str, ca_file: &Path) -> Http {
    let (host_port, path) = split_url(url);
    let mut s = tls_connect(&host_port, ca_file);
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method != "GET" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    s.flush().unwrap();
    s.sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let (head_end, content_length) = loop {
        let n = s.read(&mut buf).expect("read response");
        assert!(n > 0, "connection closed before the response head");
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..i]).to_string();
            let cl = head
                .lines()
                .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
                .map(|(_, v)| v.trim().parse::<usize>().unwrap());
            break (i + 4, cl);
        }
    };
    let want = content_length.expect("the simulator sends Content-Length");
    while raw.len() < head_end + want {
        let n = s.read(&mut buf).expect("read body");
        assert!(n > 0, "connection closed mid-body");
        raw.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&raw[..head_end - 4]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Http { status, headers, body: String::from_utf8_lossy(&raw[head_end..head_end + want]).to_string() }
}

/// A Binance signed query: `params` + timestamp, `&signature=` appended.
pub fn binance_signed(params: &str, secret: &str) -> String {
    let q =
        if params.is_empty() { format!("timestamp={}", now_ms()) } else { format!("{params}&timestamp={}", now_ms()) };
    let sig = hmac_hex(secret, &q);
    format!("{q}&signature={sig}")
}

/// A Binance WS API request signed over its sorted params.
pub fn binance_ws_request(id: &str, method: &str, params: &[(&str, Value)], secret: &str) -> String {
    let mut all: Vec<(String, Value)> = params.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    all.push(("apiKey".into(), Value::from(KEY)));
    all.push(("timestamp".into(), Value::from(now_ms())));
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let payload: Vec<String> =
        all.iter().map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect();
    let sig = hmac_hex(secret, &payload.join("&"));
    let mut obj = serde_json::Map::new();
    for (k, v) in all {
        obj.insert(k, v);
    }
    obj.insert("signature".into(), Value::from(sig));
    serde_json::json!({"id": id, "method": method, "params": obj}).to_string()
}

/// Bybit REST headers for `payload` (query for GET, body for POST).
pub fn bybit_headers(payload: &str, secret: &str) -> Vec<(String, String)> {
    let ts = now_ms().to_string();
    let recv = "5000";
    let sign = hmac_hex(secret, &format!("{ts}{KEY}{recv}{payload}"));
    vec![
        ("X-BAPI-API-KEY".into(), KEY.into()),
        ("X-BAPI-TIMESTAMP".into(), ts),
        ("X-BAPI-RECV-WINDOW".into(), recv.into()),
        ("X-BAPI-SIGN".into(), sign),
        ("Content-Type".into(), "application/json".into()),
    ]
}

pub fn as_refs(h: &[(String, String)]) -> Vec<(&str, &str)> {
    h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Bybit WS `auth` args for `secret`.
pub fn bybit_auth(secret: &str) -> String {
    let expires = now_ms() + 10_000;
    let sig = hmac_hex(secret, &format!("GET/realtime{expires}"));
    serde_json::json!({"req_id": "auth-1", "op": "auth", "args": [KEY, expires, sig]}).to_string()
}
