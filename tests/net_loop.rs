//! The transport (`scalpel::net::NetLoop`) against an independent
//! WebSocket implementation (tungstenite's server role, over rustls'
//! buffered server or plain TCP): fragments reassembled around a ping,
//! the 64-bit length form, a pong with the ping's payload, client frames
//! tungstenite unmasks to the exact text, Bybit-style application pings, a
//! server close answered and followed by a reconnect that replays the
//! subscriptions; HTTP keep-alive with content-length and chunked bodies;
//! and no allocation per frame or per send once warm, on plain TCP and
//! over TLS (counted on the client thread). Over TLS: the records go
//! through our own record layer (never rustls' allocating one), a key
//! update the server asks for is applied and answered, close_notify is a
//! clean end, and a record corrupted on the wire (by a proxy) is refused,
//! counted, and followed by a reconnect.

mod common;
mod loopback;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use loopback::{Exchange, Flavour, RefBook, Stream, accept, accept_ws, listener, make_pki, read_until};
use scalpel::alloc_count::CountingAlloc;
use scalpel::net::subscribe::Subscriptions;
use scalpel::net::tls::{LayerError, TlsFailure, client_config};
use scalpel::net::url::Url;
use scalpel::net::{AppPing, ConnConfig, ConnState, ConnStats, DownReason, NetEvent, NetLoop};
use scalpel::venue::Venue;
use tungstenite::Message;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[derive(Debug, PartialEq)]
enum Got {
    Text(Vec<u8>),
    Binary(usize),
    State(ConnState, Option<DownReason>),
}

#[test]
fn websocket_protocol_against_tungstenite_with_reconnect_and_resubscribe() {
    for tls in [false, true] {
        let pki = make_pki("net-loop-proto");
        let (l, addr) = listener();
        let server_tls = tls.then(|| Arc::clone(&pki.server));
        let stop = Arc::new(AtomicBool::new(false));
        let server = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut seen = Vec::<String>::new();
                // Connection 1.
                let (mut ws, path) = accept_ws(&l, server_tls.as_ref(), &stop).unwrap();
                seen.push(format!("path {path}"));
                let Some(Message::Text(sub)) = read_until(&mut ws, Duration::from_secs(5), |m| m.is_text()) else {
                    panic!("no subscribe")
                };
                seen.push(sub.to_string());
                ws.write(Message::Frame(Frame::message(&b"part1"[..], OpCode::Data(Data::Text), false))).unwrap();
                ws.write(Message::Ping(b"pp".to_vec().into())).unwrap();
                ws.write(Message::Frame(Frame::message(&b"part2"[..], OpCode::Data(Data::Continue), false))).unwrap();
                ws.write(Message::Frame(Frame::message(&b"part3"[..], OpCode::Data(Data::Continue), true))).unwrap();
                ws.send(Message::Binary(vec![0xAB; 70_000].into())).unwrap();
                let mut pong = None;
                let order = read_until(&mut ws, Duration::from_secs(5), |m| match m {
                    Message::Pong(p) => {
                        pong = Some(p.to_vec());
                        false
                    }
                    Message::Text(t) => !t.contains("\"op\":\"ping\""),
                    _ => false,
                });
                seen.push(format!("order {:?}", order.map(|m| m.into_text().unwrap().to_string())));
                seen.push(format!("pong {:?}", pong.map(String::from_utf8)));
                ws.close(Some(tungstenite::protocol::CloseFrame { code: CloseCode::Away, reason: "bye".into() }))
                    .unwrap();
                let _ = read_until(&mut ws, Duration::from_secs(2), |_| false);
                // Connection 2: the subscription must be replayed.
                let (mut ws, _) = accept_ws(&l, server_tls.as_ref(), &stop).unwrap();
                let Some(Message::Text(sub)) = read_until(&mut ws, Duration::from_secs(5), |m| m.is_text()) else {
                    panic!("no resubscribe")
                };
                seen.push(sub.to_string());
                let ping = read_until(
                    &mut ws,
                    Duration::from_secs(5),
                    |m| matches!(m, Message::Text(t) if t.as_str() == "{\"op\":\"ping\"}"),
                );
                seen.push(format!("app ping {}", ping.is_some()));
                ws.send(Message::text("done")).unwrap();
                let _ = read_until(&mut ws, Duration::from_secs(5), |_| stop.load(Ordering::Relaxed));
                seen
            })
        };

        let scheme = if tls { "wss" } else { "ws" };
        let mut cfg =
            ConnConfig::new(Url::parse(&format!("{scheme}://127.0.0.1:{}/v5/public/linear", addr.port())).unwrap());
        cfg.ping = Some(AppPing { every_ms: 50, text: b"{\"op\":\"ping\"}".to_vec() });
        cfg.backoff_min_ms = 10;
        cfg.control_pace_ms = 10;
        let mut subs = Subscriptions::new(Venue::BybitLinear);
        subs.add("publicTrade.BTCUSDT").unwrap();
        let mut net = NetLoop::new(quanta::Clock::new(), 1 << 16).unwrap();
        let tls_cfg = client_config(Some(&pki.ca_file)).unwrap();
        let id = net.add_websocket(cfg, Some(tls_cfg), subs, None).unwrap();
        let mut got = Vec::new();
        let t0 = Instant::now();
        'outer: while t0.elapsed() < Duration::from_secs(10) {
            net.poll().unwrap();
            let mut send_order = false;
            while let Some(ev) = net.next_event() {
                match ev {
                    NetEvent::Frame { text: true, data, .. } => {
                        if data.starts_with(b"{\"success\"") {
                            continue;
                        }
                        let done = data == b"done";
                        got.push(Got::Text(data.to_vec()));
                        if done {
                            break 'outer;
                        }
                    }
                    NetEvent::Frame { text: false, data, .. } => {
                        assert!(data.iter().all(|&b| b == 0xAB));
                        got.push(Got::Binary(data.len()));
                        send_order = true;
                    }
                    NetEvent::State { state, reason, .. } => got.push(Got::State(state, reason)),
                    other => panic!("unexpected {other:?}"),
                }
            }
            if send_order {
                net.send_text(id, b"{\"method\":\"order.place\",\"id\":\"n1\"}").unwrap();
            }
        }
        stop.store(true, Ordering::Relaxed);
        net.close(id);
        let seen = server.join().unwrap();
        let stats = net.stats(id).unwrap();
        let frames: Vec<&Got> = got.iter().filter(|g| !matches!(g, Got::State(..))).collect();
        assert_eq!(
            frames,
            vec![&Got::Text(b"part1part2part3".to_vec()), &Got::Binary(70_000), &Got::Text(b"done".to_vec())],
            "tls={tls}"
        );
        let sub = "{\"op\":\"subscribe\",\"args\":[\"publicTrade.BTCUSDT\"],\"req_id\":\"sub1\"}";
        assert_eq!(seen[0], "path /v5/public/linear");
        assert_eq!(seen[1], sub);
        assert_eq!(
            seen[2], "order Some(\"{\\\"method\\\":\\\"order.place\\\",\\\"id\\\":\\\"n1\\\"}\")",
            "tungstenite unmasked our frame"
        );
        assert_eq!(seen[3], "pong Some(Ok(\"pp\"))");
        assert_eq!(seen[4], "{\"op\":\"subscribe\",\"args\":[\"publicTrade.BTCUSDT\"],\"req_id\":\"sub2\"}");
        assert_eq!(seen[5], "app ping true");
        assert_eq!((stats.connects, stats.downs, stats.pings_answered), (2, 1, 1), "{stats:?}");
        assert_eq!(stats.last_down, Some(DownReason::CloseFrame(Some(1001))));
        if tls {
            let t = stats.tls;
            assert_eq!(t.handovers, 2, "both sessions went to our record layer: {t:?}");
            assert_eq!((t.rustls_records_in, t.rustls_records_out), (0, 0), "{t:?}");
            assert!(t.records_in >= 5 && t.records_out >= 5, "{t:?}");
            assert_eq!(t.bad_records, 0);
        }
        let states: Vec<ConnState> =
            got.iter().filter_map(|g| if let Got::State(s, _) = g { Some(*s) } else { None }).collect();
        let once = [ConnState::Connecting, ConnState::TlsHandshake, ConnState::Subscribing, ConnState::Live];
        assert_eq!(&states[..4], &once, "tls={tls}");
        assert_eq!(states[4], ConnState::Backoff);
        assert_eq!(&states[5..9], &once);
    }
}

#[test]
fn http_keep_alive_content_length_and_chunked() {
    let pki = make_pki("net-loop-http");
    let mut book =
        RefBook::binance_snapshot(r#"{"lastUpdateId":42,"bids":[["100.10","1.000"]],"asks":[["100.20","2.000"]]}"#);
    book.last_u = 42;
    let want = book.binance_rest_json();
    let exchange = Exchange::start(Flavour::Binance, Some(Arc::clone(&pki.server)), Vec::new(), book, Vec::new());
    let mut net = NetLoop::new(quanta::Clock::new(), 1 << 16).unwrap();
    let cfg = ConnConfig::new(Url::parse(&format!("https://127.0.0.1:{}", exchange.rest_addr.port())).unwrap());
    let id = net.add_http(cfg, Some(client_config(Some(&pki.ca_file)).unwrap())).unwrap();
    let targets: [&[u8]; 3] =
        [b"/fapi/v1/depth?symbol=BTCUSDT&limit=1000", b"/fapi/v1/depth?symbol=BTCUSDT&limit=1000", b"/nope"];
    let mut responses = Vec::new();
    let t0 = Instant::now();
    while responses.len() < targets.len() && t0.elapsed() < Duration::from_secs(10) {
        net.poll().unwrap();
        while let Some(ev) = net.next_event() {
            if let NetEvent::Response { status, body, .. } = ev {
                responses.push((status, String::from_utf8(body.to_vec()).unwrap()));
            }
        }
        if net.http_ready(id) && responses.len() < targets.len() {
            net.http_request(id, "GET", targets[responses.len()], &[], b"").unwrap();
            assert_eq!(net.http_request(id, "GET", b"/x", &[], b""), Err(scalpel::net::SendError::Busy));
        }
    }
    assert_eq!(responses.len(), 3);
    assert_eq!(responses[0], (200, want.clone()), "content-length body");
    assert_eq!(responses[1], (200, want), "chunked body, same connection");
    assert_eq!(responses[2].0, 404);
    let stats = net.stats(id).unwrap();
    assert_eq!((stats.connects, stats.downs, stats.messages), (1, 0, 3), "keep-alive: one connection");
    assert_eq!(exchange.snapshots_served.load(Ordering::Relaxed), 2);
    drop(exchange);
}

/// Runs a session of `frames` server frames of ~1.6 KB and a client order
/// every 10 frames; returns (frames received, allocations on the client
/// thread while receiving frames 500.. and sending, orders sent, the
/// connection's counters).
fn counted_session(tls: bool, frames: usize) -> (usize, u64, usize, ConnStats) {
    let pki = make_pki("net-loop-alloc");
    let (l, addr) = listener();
    let server_tls = tls.then(|| Arc::clone(&pki.server));
    let stop = Arc::new(AtomicBool::new(false));
    let frame: String = format!(
        "{{\"stream\":\"btcusdt@depth@0ms\",\"data\":{{\"e\":\"depthUpdate\",\"b\":[{}]}}}}",
        (0..60).map(|i| format!("[\"6180{i:02}.20\",\"1.{i:03}\"]")).collect::<Vec<_>>().join(",")
    );
    let server = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let (mut ws, _) = accept_ws(&l, server_tls.as_ref(), &stop).unwrap();
            read_until(&mut ws, Duration::from_secs(5), |m| m.is_text()).expect("subscribe");
            for _ in 0..frames {
                ws.write(Message::text(frame.clone())).unwrap();
            }
            ws.flush().unwrap();
            let mut orders = 0;
            while read_until(&mut ws, Duration::from_millis(500), |m| m.is_text()).is_some() {
                orders += 1;
            }
            let _ = read_until(&mut ws, Duration::from_secs(5), |_| stop.load(Ordering::Relaxed));
            orders
        })
    };
    let scheme = if tls { "wss" } else { "ws" };
    let mut cfg = ConnConfig::new(Url::parse(&format!("{scheme}://127.0.0.1:{}/public/stream", addr.port())).unwrap());
    cfg.control_pace_ms = 1;
    cfg.stale_after_ms = Some(60_000);
    let mut subs = Subscriptions::new(Venue::BinanceUsdm);
    subs.add("btcusdt@depth@0ms").unwrap();
    let mut net = NetLoop::new(quanta::Clock::new(), 1 << 16).unwrap();
    let id = net.add_websocket(cfg, Some(client_config(Some(&pki.ca_file)).unwrap()), subs, None).unwrap();
    let order = [b'x'; 300];
    let (mut received, mut sent) = (0usize, 0usize);
    let mut start_allocs = None;
    let t0 = Instant::now();
    while received < frames && t0.elapsed() < Duration::from_secs(20) {
        net.poll().unwrap();
        let mut to_send = 0;
        while let Some(ev) = net.next_event() {
            if let NetEvent::Frame { data, .. } = ev
                && data.starts_with(b"{\"stream\"")
            {
                received += 1;
                if received == 500 {
                    start_allocs = Some(ALLOC.this_thread());
                }
                if received % 10 == 0 {
                    to_send += 1;
                }
            }
        }
        for _ in 0..to_send {
            net.send_text(id, &order).unwrap();
            sent += 1;
        }
    }
    let allocs = ALLOC.this_thread() - start_allocs.expect("warm-up reached");
    let stats = net.stats(id).unwrap();
    stop.store(true, Ordering::Relaxed);
    // Let the server read the orders before closing.
    let t1 = Instant::now();
    while t1.elapsed() < Duration::from_millis(700) {
        net.poll().unwrap();
        while net.next_event().is_some() {}
    }
    net.close(id);
    let orders = server.join().unwrap();
    assert_eq!(orders, sent, "every order reached the server (tls={tls})");
    (received, allocs, sent, stats)
}

#[test]
fn no_allocation_per_frame_or_send_once_warm_on_plain_tcp() {
    let (received, allocs, sent, _) = counted_session(false, 3_000);
    assert_eq!(received, 3_000);
    assert!(sent >= 300);
    assert_eq!(allocs, 0, "allocations on the client thread over {} frames and {} sends", received - 500, sent);
}

/// The same session over TLS 1.3 (rustls' buffered server): after the
/// handshake our record layer opens and seals every record in place, so
/// nothing is allocated per frame or per send. (rustls' own record layer,
/// the counted fallback, allocates about once per record.)
#[test]
fn no_allocation_per_frame_or_send_once_warm_over_tls() {
    let (received, allocs, sent, stats) = counted_session(true, 3_000);
    assert_eq!(received, 3_000);
    assert!(sent >= 300);
    let t = stats.tls;
    assert_eq!(t.handovers, 1, "{t:?}");
    assert_eq!((t.rustls_records_in, t.rustls_records_out), (0, 0), "no record went through rustls: {t:?}");
    assert!(t.records_in > 0 && t.records_out as usize >= sent, "{t:?}");
    assert_eq!(t.tickets, 2, "rustls' server tickets arrived after the hand-over: {t:?}");
    assert_eq!(allocs, 0, "allocations on the client thread over {} frames and {} sends", received - 500, sent);
}

/// A TLS 1.3 server that asks for a key update mid-stream, then ends the
/// session with close_notify and no WebSocket close: the frames on both
/// sides of the update arrive, our answer lets the server read the order we
/// send under our new key, and the close is a clean peer close.
#[test]
fn tls_key_update_mid_stream_then_close_notify() {
    use std::io::Write as _;
    let pki = make_pki("net-loop-keyupdate");
    let (l, addr) = listener();
    let server_tls = Arc::clone(&pki.server);
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let (mut ws, _) = accept_ws(&l, Some(&server_tls), &stop).unwrap();
            read_until(&mut ws, Duration::from_secs(5), |m| m.is_text()).expect("subscribe");
            for i in 0..5 {
                ws.send(Message::text(format!("before {i}"))).unwrap();
            }
            let Stream::Tls(s) = ws.get_mut() else { panic!("TLS expected") };
            // rustls sends KeyUpdate(update_requested) ahead of the next record.
            s.conn.refresh_traffic_keys().unwrap();
            for i in 0..5 {
                ws.send(Message::text(format!("after {i}"))).unwrap();
            }
            let order = read_until(&mut ws, Duration::from_secs(5), |m| m.is_text()).map(|m| m.to_string());
            let Stream::Tls(s) = ws.get_mut() else { panic!("TLS expected") };
            s.conn.send_close_notify();
            s.flush().unwrap();
            let _ = read_until(&mut ws, Duration::from_secs(5), |_| stop.load(Ordering::Relaxed));
            order
        })
    };
    let mut cfg = ConnConfig::new(Url::parse(&format!("wss://127.0.0.1:{}/market/stream", addr.port())).unwrap());
    cfg.control_pace_ms = 1;
    cfg.backoff_min_ms = 60_000;
    let mut subs = Subscriptions::new(Venue::BinanceUsdm);
    subs.add("btcusdt@trade").unwrap();
    let mut net = NetLoop::new(quanta::Clock::new(), 1 << 16).unwrap();
    let id = net.add_websocket(cfg, Some(client_config(Some(&pki.ca_file)).unwrap()), subs, None).unwrap();
    let (mut frames, mut down) = (Vec::new(), None);
    let t0 = Instant::now();
    while down.is_none() && t0.elapsed() < Duration::from_secs(10) {
        net.poll().unwrap();
        let mut send = false;
        while let Some(ev) = net.next_event() {
            match ev {
                NetEvent::Frame { data, .. } if !data.starts_with(b"{\"result\"") => {
                    send |= data == b"after 4";
                    frames.push(String::from_utf8(data.to_vec()).unwrap());
                }
                NetEvent::State { state: ConnState::Backoff, reason, .. } => down = reason,
                _ => {}
            }
        }
        if send {
            net.send_text(id, b"{\"method\":\"order.place\",\"id\":\"k1\"}").unwrap();
        }
    }
    let stats = net.stats(id).unwrap();
    stop.store(true, Ordering::Relaxed);
    net.close(id);
    let order = server.join().unwrap();
    let want: Vec<String> = (0..5).map(|i| format!("before {i}")).chain((0..5).map(|i| format!("after {i}"))).collect();
    assert_eq!(frames, want);
    assert_eq!(order.as_deref(), Some("{\"method\":\"order.place\",\"id\":\"k1\"}"), "read under our new key");
    assert_eq!(down, Some(DownReason::PeerClosed));
    let t = stats.tls;
    assert_eq!((t.key_updates_in, t.key_updates_out), (1, 1), "{t:?}");
    assert_eq!(t.close_notify, 1, "{t:?}");
    assert_eq!((t.handovers, t.rustls_records_in, t.rustls_records_out, t.bad_records), (1, 0, 0, 0), "{t:?}");
}

/// Forwards one client connection to `upstream`; while `corrupt` is set,
/// flips one bit in the tag of the next application-data record going to
/// the client (and clears the flag).
fn corrupting_proxy(
    listener: std::net::TcpListener,
    upstream: std::net::SocketAddr,
    corrupt: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    use std::io::{Read, Write};
    let mut pumps = Vec::new();
    while let Some(client) = accept(&listener, &stop) {
        let server = std::net::TcpStream::connect(upstream).unwrap();
        let (mut c_rd, mut s_wr) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        pumps.push(std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = c_rd.read(&mut buf) {
                if s_wr.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = s_wr.shutdown(std::net::Shutdown::Write);
        }));
        let (mut s_rd, mut c_wr, corrupt) = (server, client, Arc::clone(&corrupt));
        pumps.push(std::thread::spawn(move || {
            // Whole records: header, then body.
            let mut header = [0u8; 5];
            while s_rd.read_exact(&mut header).is_ok() {
                let mut body = vec![0u8; usize::from(u16::from_be_bytes([header[3], header[4]]))];
                if s_rd.read_exact(&mut body).is_err() {
                    break;
                }
                if header[0] == 23 && !body.is_empty() && corrupt.swap(false, Ordering::SeqCst) {
                    *body.last_mut().unwrap() ^= 0x01;
                }
                if c_wr.write_all(&header).and_then(|()| c_wr.write_all(&body)).is_err() {
                    break;
                }
            }
            let _ = c_wr.shutdown(std::net::Shutdown::Both);
        }));
    }
    for p in pumps {
        let _ = p.join();
    }
}

/// A record corrupted on the wire: refused as failing authentication,
/// counted, the server told (bad_record_mac), and the connection comes back
/// with its subscription.
#[test]
fn a_corrupted_tls_record_is_refused_counted_and_the_connection_comes_back() {
    let pki = make_pki("net-loop-corrupt");
    let (l, server_addr) = listener();
    let (pl, proxy_addr) = listener();
    let server_tls = Arc::clone(&pki.server);
    let stop = Arc::new(AtomicBool::new(false));
    let corrupt = Arc::new(AtomicBool::new(false));
    let proxy = {
        let (corrupt, stop) = (Arc::clone(&corrupt), Arc::clone(&stop));
        std::thread::spawn(move || corrupting_proxy(pl, server_addr, corrupt, stop))
    };
    let server = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            // Connection 1: frames every 5 ms until the session fails.
            let (mut ws, _) = accept_ws(&l, Some(&server_tls), &stop).unwrap();
            read_until(&mut ws, Duration::from_secs(5), |m| m.is_text()).expect("subscribe");
            ws.get_ref().tcp().set_read_timeout(Some(Duration::from_millis(5))).unwrap();
            let t0 = Instant::now();
            let mut k = 0;
            let failure = loop {
                if t0.elapsed() > Duration::from_secs(10) {
                    break "no failure".to_owned();
                }
                if let Err(e) = ws.send(Message::text(format!("tick {k}"))) {
                    break format!("{e:?}");
                }
                k += 1;
                match ws.read() {
                    Err(tungstenite::Error::Io(e))
                        if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                    Err(e) => break format!("{e:?}"),
                    Ok(_) => {}
                }
            };
            // Connection 2: the subscription is replayed.
            let (mut ws, _) = accept_ws(&l, Some(&server_tls), &stop).unwrap();
            let sub = read_until(&mut ws, Duration::from_secs(5), |m| m.is_text()).map(|m| m.to_string());
            ws.send(Message::text("second connection")).unwrap();
            let _ = read_until(&mut ws, Duration::from_secs(5), |_| stop.load(Ordering::Relaxed));
            (failure, sub)
        })
    };
    let mut cfg = ConnConfig::new(Url::parse(&format!("wss://127.0.0.1:{}/market/stream", proxy_addr.port())).unwrap());
    cfg.control_pace_ms = 1;
    cfg.backoff_min_ms = 10;
    let mut subs = Subscriptions::new(Venue::BinanceUsdm);
    subs.add("btcusdt@trade").unwrap();
    let mut net = NetLoop::new(quanta::Clock::new(), 1 << 16).unwrap();
    let id = net.add_websocket(cfg, Some(client_config(Some(&pki.ca_file)).unwrap()), subs, None).unwrap();
    let (mut ticks, mut downs, mut second) = (0, Vec::new(), false);
    let t0 = Instant::now();
    while !second && t0.elapsed() < Duration::from_secs(15) {
        net.poll().unwrap();
        while let Some(ev) = net.next_event() {
            match ev {
                NetEvent::Frame { data, .. } if data.starts_with(b"tick") => {
                    ticks += 1;
                    if ticks == 3 {
                        corrupt.store(true, Ordering::SeqCst);
                    }
                }
                NetEvent::Frame { data, .. } => second |= data == b"second connection",
                NetEvent::State { state: ConnState::Backoff, reason, .. } => downs.push(reason),
                _ => {}
            }
        }
    }
    let stats = net.stats(id).unwrap();
    stop.store(true, Ordering::Relaxed);
    net.close(id);
    let (failure, sub) = server.join().unwrap();
    proxy.join().unwrap();
    assert!(second, "reconnected and received");
    assert_eq!(downs, vec![Some(DownReason::Layer(LayerError::Tls(TlsFailure::Decrypt)))]);
    assert!(ticks >= 3, "frames before the corrupted record were handed out");
    let t = stats.tls;
    assert_eq!(t.bad_records, 1, "{t:?}");
    assert_eq!(t.handovers, 2, "{t:?}");
    assert_eq!(stats.last_down, Some(DownReason::Layer(LayerError::Tls(TlsFailure::Decrypt))));
    assert!(failure.contains("BadRecordMac"), "the server was told: {failure}");
    assert_eq!(sub.as_deref(), Some("{\"method\":\"SUBSCRIBE\",\"params\":[\"btcusdt@trade\"],\"id\":2}"));
}

/// At the age limit a replacement is opened, subscribed and receiving
/// before the old connection is closed: the stream has no hole, nothing
/// goes down, the id stays the same. The first connection's stream runs
/// 20 ms behind the others (its own queueing at the venue): swapped at the
/// replacement's first frame, the ticks it still owed were lost; the
/// overlap (`REPLACE_OVERLAP_NS`) lets it deliver them first.
#[test]
fn age_limit_replacement_is_make_before_break_without_a_hole() {
    let (l, addr) = listener();
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let server = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut handlers = Vec::new();
            while let Some((mut ws, _)) = accept_ws(&l, None, &stop) {
                let stop = Arc::clone(&stop);
                let lag_ms: u64 = if handlers.is_empty() { 20 } else { 0 };
                handlers.push(std::thread::spawn(move || {
                    read_until(&mut ws, Duration::from_secs(5), |m| m.is_text()).expect("subscribe");
                    // Every connection carries the same "market": tick k is
                    // due at 2k ms (plus the connection's lag).
                    let due_now = || (t0.elapsed().as_millis() as u64).saturating_sub(lag_ms) / 2;
                    let mut k = due_now();
                    let mut client_closed = false;
                    while !stop.load(Ordering::Relaxed) && !client_closed {
                        let due = due_now();
                        while k <= due {
                            if ws.send(Message::text(format!("{{\"stream\":\"t@trade\",\"data\":{k}}}"))).is_err() {
                                // The client went away before the test ended.
                                return !stop.load(Ordering::Relaxed);
                            }
                            k += 1;
                        }
                        ws.get_ref().tcp().set_nonblocking(true).unwrap();
                        match ws.read() {
                            Ok(Message::Close(_)) => client_closed = true,
                            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                            Err(_) => client_closed = true,
                            Ok(_) => {}
                        }
                        ws.get_ref().tcp().set_nonblocking(false).unwrap();
                        std::thread::sleep(Duration::from_micros(500));
                    }
                    client_closed
                }));
            }
            handlers.into_iter().map(|h| h.join().unwrap()).collect::<Vec<bool>>()
        })
    };
    let mut cfg = ConnConfig::new(Url::parse(&format!("ws://127.0.0.1:{}/market/stream", addr.port())).unwrap());
    cfg.max_age_ms = Some(300);
    cfg.control_pace_ms = 1;
    let mut subs = Subscriptions::new(Venue::BinanceUsdm);
    subs.add("t@trade").unwrap();
    let mut net = NetLoop::new(quanta::Clock::new(), 1 << 16).unwrap();
    let id = net.add_websocket(cfg, None, subs, None).unwrap();
    let (mut ticks, mut replaced, mut backoffs) = (Vec::new(), 0, 0);
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1_000) {
        net.poll().unwrap();
        while let Some(ev) = net.next_event() {
            match ev {
                NetEvent::Frame { conn, data, .. } => {
                    assert_eq!(conn, id);
                    let text = std::str::from_utf8(data).unwrap();
                    if let Some(v) = text.strip_prefix("{\"stream\":\"t@trade\",\"data\":") {
                        ticks.push(v.trim_end_matches('}').parse::<u64>().unwrap());
                    }
                }
                NetEvent::Replaced { conn } => {
                    assert_eq!(conn, id);
                    replaced += 1;
                }
                NetEvent::State { state: ConnState::Backoff, .. } => backoffs += 1,
                _ => {}
            }
        }
    }
    let stats = net.stats(id).unwrap();
    net.close(id);
    stop.store(true, Ordering::Relaxed);
    let closed_by_client = server.join().unwrap();
    assert!(replaced >= 1, "the 300 ms age limit passed at least once");
    assert_eq!((backoffs, stats.downs), (0, 0), "a replacement is not a disconnect: {stats:?}");
    assert_eq!(stats.connects, replaced + 1);
    assert!(closed_by_client.len() as u64 > replaced, "one server connection per replacement");
    assert!(
        closed_by_client[..replaced as usize].iter().all(|&c| c),
        "each replaced connection was closed by the client"
    );
    ticks.sort_unstable();
    ticks.dedup();
    let (first, last) = (ticks[0], *ticks.last().unwrap());
    assert_eq!(ticks.len() as u64, last - first + 1, "no tick missing between {first} and {last}");
    assert!(last - first > 300, "the stream ran through the replacement");
}

/// An authenticated connection: the auth message (built fresh at every
/// connect) goes first, subscriptions wait until the caller says the venue
/// accepted it, and a reconnect authenticates again before resubscribing.
#[test]
fn auth_goes_first_and_subscriptions_wait_for_it_on_every_connect() {
    let (l, addr) = listener();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            for conn in 0..2 {
                let (mut ws, _) = accept_ws(&l, None, &stop).unwrap();
                let first = read_until(&mut ws, Duration::from_secs(5), |m| m.is_text()).unwrap().into_text().unwrap();
                // Nothing else may arrive before the auth answer.
                let early = read_until(&mut ws, Duration::from_millis(150), |m| m.is_text());
                seen.push(format!("{conn}: {first} early={}", early.is_some()));
                ws.send(Message::text("{\"op\":\"auth\",\"success\":true}")).unwrap();
                let sub = read_until(&mut ws, Duration::from_secs(5), |m| m.is_text()).unwrap().into_text().unwrap();
                seen.push(format!("{conn}: {sub}"));
                if conn == 0 {
                    ws.close(None).unwrap();
                    let _ = read_until(&mut ws, Duration::from_secs(2), |_| false);
                } else {
                    let _ = read_until(&mut ws, Duration::from_secs(5), |_| stop.load(Ordering::Relaxed));
                }
            }
            seen
        })
    };
    let mut cfg = ConnConfig::new(Url::parse(&format!("ws://127.0.0.1:{}/v5/private", addr.port())).unwrap());
    cfg.backoff_min_ms = 10;
    cfg.control_pace_ms = 1;
    let mut subs = Subscriptions::new(Venue::BybitLinear);
    subs.add("order").unwrap();
    let mut n = 0;
    let auth: scalpel::net::AuthFn = Box::new(move || {
        n += 1;
        format!("{{\"op\":\"auth\",\"args\":[\"key\",{n}]}}").into_bytes()
    });
    let mut net = NetLoop::new(quanta::Clock::new(), 1 << 16).unwrap();
    let id = net.add_websocket(cfg, None, subs, Some(auth)).unwrap();
    let (mut states, mut lives) = (Vec::new(), 0);
    let t0 = Instant::now();
    while lives < 2 && t0.elapsed() < Duration::from_secs(10) {
        net.poll().unwrap();
        let mut accepted = false;
        while let Some(ev) = net.next_event() {
            match ev {
                NetEvent::Frame { data, .. } => accepted |= data.starts_with(b"{\"op\":\"auth\",\"success\":true"),
                NetEvent::State { state, .. } => {
                    lives += usize::from(state == ConnState::Live);
                    states.push(state);
                }
                _ => {}
            }
        }
        if accepted {
            net.authenticated(id);
        }
    }
    stop.store(true, Ordering::Relaxed);
    net.close(id);
    let seen = server.join().unwrap();
    assert_eq!(
        seen,
        vec![
            "0: {\"op\":\"auth\",\"args\":[\"key\",1]} early=false",
            "0: {\"op\":\"subscribe\",\"args\":[\"order\"],\"req_id\":\"sub1\"}",
            "1: {\"op\":\"auth\",\"args\":[\"key\",2]} early=false",
            "1: {\"op\":\"subscribe\",\"args\":[\"order\"],\"req_id\":\"sub2\"}",
        ]
    );
    let once = [
        ConnState::Connecting,
        ConnState::TlsHandshake,
        ConnState::Authenticating,
        ConnState::Subscribing,
        ConnState::Live,
    ];
    assert_eq!(&states[..5], &once);
    assert_eq!(states[5], ConnState::Backoff);
    assert_eq!(&states[6..11], &once);
}
