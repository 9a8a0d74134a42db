//! The transport (`scalpel::net::NetLoop`) against an independent
//! WebSocket implementation (tungstenite's server role, over rustls'
//! buffered server or plain TCP): fragments reassembled around a ping,
//! the 64-bit length form, a pong with the ping's payload, client frames
//! tungstenite unmasks to the exact text, Bybit-style application pings, a
//! server close answered and followed by a reconnect that replays the
//! subscriptions; HTTP keep-alive with content-length and chunked bodies;
//! and no allocation per frame or per send once warm (counted on the
//! client thread).

mod common;
mod loopback;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use loopback::{Exchange, Flavour, RefBook, accept_ws, listener, make_pki, read_until};
use scalpel::alloc_count::CountingAlloc;
use scalpel::net::subscribe::Subscriptions;
use scalpel::net::tls::client_config;
use scalpel::net::url::Url;
use scalpel::net::{AppPing, ConnConfig, ConnState, DownReason, NetEvent, NetLoop};
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
/// thread while receiving frames 500.. and sending).
fn counted_session(tls: bool, frames: usize) -> (usize, u64, usize) {
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
    (received, allocs, sent)
}

#[test]
fn no_allocation_per_frame_or_send_once_warm_on_plain_tcp() {
    let (received, allocs, sent) = counted_session(false, 3_000);
    assert_eq!(received, 3_000);
    assert!(sent >= 300);
    assert_eq!(allocs, 0, "allocations on the client thread over {} frames and {} sends", received - 500, sent);
}

/// rustls 0.23.48's unbuffered client copies each received record into a
/// fresh Vec and builds each sent record in one (see src/net/tls.rs): this
/// measures it, so the README's figure is checked, and fails if it grows.
#[test]
fn tls_allocations_are_rustls_records_only() {
    let (received, allocs, sent) = counted_session(true, 3_000);
    assert_eq!(received, 3_000);
    let per_frame = allocs as f64 / (received - 500 + sent) as f64;
    eprintln!(
        "TLS session: {allocs} allocations over {} frames and {sent} sends ({per_frame:.2} per message)",
        received - 500
    );
    assert!(allocs > 0, "if rustls stopped allocating per record, update src/net/tls.rs and the README");
    assert!(per_frame <= 2.0, "{per_frame} allocations per message");
}

/// At the age limit a replacement is opened, subscribed and receiving
/// before the old connection is closed: the stream has no hole, nothing
/// goes down, the id stays the same.
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
                handlers.push(std::thread::spawn(move || {
                    read_until(&mut ws, Duration::from_secs(5), |m| m.is_text()).expect("subscribe");
                    // Every connection carries the same "market": tick k is due at 2k ms.
                    let mut k = t0.elapsed().as_millis() as u64 / 2;
                    let mut client_closed = false;
                    while !stop.load(Ordering::Relaxed) && !client_closed {
                        let due = t0.elapsed().as_millis() as u64 / 2;
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
