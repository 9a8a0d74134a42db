//! The network layer's costs: the WebSocket codec per frame, the HTTP
//! parser on a chunked depth snapshot, and a loopback round trip through
//! `NetLoop` (send an order-sized text, get it echoed back) beside the raw
//! busy-poll TCP ping-pong floor of the same size on the same machine.
//!
//! The echo server is a busy-polling thread using the codec's own
//! `parse_header`/`apply_mask` (it only unmasks and echoes); the
//! independent-implementation checks are in `tests/net_loop.rs`.
//! Round trips need two cores spinning: on a shared 2-core VM the figures
//! move with the neighbours' load; rerun and compare in one run.

use std::hint::black_box;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use scalpel::net::subscribe::Subscriptions;
use scalpel::net::url::Url;
use scalpel::net::ws::{self, OpCode, WsReader};
use scalpel::net::{ConnConfig, ConnState, NetEvent, NetLoop};
use scalpel::venue::Venue;

/// A server frame (unmasked) carrying a ~1.6 KB depth-diff-like text.
fn depth_frame() -> Vec<u8> {
    let text = format!(
        "{{\"stream\":\"btcusdt@depth@0ms\",\"data\":{{\"e\":\"depthUpdate\",\"b\":[{}]}}}}",
        (0..68).map(|i| format!("[\"6180{i:02}.20\",\"1.{i:03}\"]")).collect::<Vec<_>>().join(",")
    );
    let mut f = vec![0x81, 126];
    f.extend_from_slice(&(text.len() as u16).to_be_bytes());
    f.extend_from_slice(text.as_bytes());
    f
}

fn codec(c: &mut Criterion) {
    let frame = depth_frame();
    let mut g = c.benchmark_group("ws");
    g.throughput(Throughput::Bytes(frame.len() as u64));
    let mut reader = WsReader::new(1 << 20, 1 << 19);
    g.bench_function("read_depth_frame_1.6KB", |b| {
        b.iter(|| {
            let space = reader.space(frame.len());
            space[..frame.len()].copy_from_slice(&frame);
            reader.filled(frame.len());
            match reader.next_message() {
                Ok(Some(ws::WsMessage::Text(t))) => black_box(t.len()),
                other => panic!("{other:?}"),
            }
        });
    });
    let order = [b'o'; 300];
    let mut out = [0u8; 512];
    g.throughput(Throughput::Bytes(300));
    g.bench_function("encode_masked_order_300B", |b| {
        b.iter(|| black_box(ws::encode_frame(OpCode::Text, black_box(&order), [1, 2, 3, 4], &mut out).unwrap()));
    });
    g.finish();

    // A chunked REST depth snapshot of 1000 levels a side (~60 KB).
    let body = format!(
        "{{\"lastUpdateId\":1,\"bids\":[{}],\"asks\":[]}}",
        (0..2000).map(|i| format!("[\"{}.10\",\"1.000\"]", 60_000 + i)).collect::<Vec<_>>().join(",")
    );
    let mut resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for part in body.as_bytes().chunks(4096) {
        resp.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        resp.extend_from_slice(part);
        resp.extend_from_slice(b"\r\n");
    }
    resp.extend_from_slice(b"0\r\n\r\n");
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Bytes(resp.len() as u64));
    g.bench_function("parse_chunked_snapshot_60KB", |b| {
        b.iter_batched_ref(
            || resp.clone(),
            |buf| black_box(scalpel::net::http::parse_response(buf, 1 << 20).unwrap().unwrap().body.len()),
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

/// Busy-polling WebSocket echo: accepts one client, answers the upgrade,
/// then echoes every masked client frame back unmasked.
fn echo_server(listener: TcpListener, stop: Arc<AtomicBool>) {
    let (mut s, _) = listener.accept().unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0;
    // Upgrade.
    loop {
        len += s.read(&mut buf[len..]).unwrap();
        if let Some(end) = buf[..len].windows(4).position(|w| w == b"\r\n\r\n") {
            let req = std::str::from_utf8(&buf[..end]).unwrap();
            let key = req.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap();
            let accept = ws::accept_for(key.as_bytes());
            let resp = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                std::str::from_utf8(&accept).unwrap()
            );
            s.write_all(resp.as_bytes()).unwrap();
            buf.copy_within(end + 4..len, 0);
            len -= end + 4;
            break;
        }
    }
    s.set_nonblocking(true).unwrap();
    let mut out = vec![0u8; 1 << 16];
    while !stop.load(Ordering::Relaxed) {
        match s.read(&mut buf[len..]) {
            Ok(0) => return,
            Ok(n) => len += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
        while let Ok(Some(h)) = ws::parse_header(&buf[..len]) {
            let total = h.header_len + h.payload_len as usize;
            if len < total {
                break;
            }
            let payload = &mut buf[h.header_len..total];
            if let Some(mask) = h.mask {
                ws::apply_mask(payload, mask);
            }
            let n = payload.len();
            out[0] = 0x81;
            let at = if n < 126 {
                out[1] = n as u8;
                2
            } else {
                out[1] = 126;
                out[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                4
            };
            out[at..at + n].copy_from_slice(payload);
            let mut sent = 0;
            while sent < at + n {
                match s.write(&out[sent..at + n]) {
                    Ok(k) => sent += k,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            }
            buf.copy_within(total..len, 0);
            len -= total;
        }
    }
}

fn loopback(c: &mut Criterion) {
    let mut g = c.benchmark_group("loopback_rtt_300B");
    g.measurement_time(Duration::from_secs(3));

    // The floor: raw busy-poll TCP ping-pong, no WebSocket, no NetLoop.
    {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_nodelay(true).unwrap();
            s.set_nonblocking(true).unwrap();
            let mut b = [0u8; 300];
            let mut got = 0;
            while !st.load(Ordering::Relaxed) {
                match s.read(&mut b[got..]) {
                    Ok(0) => return,
                    Ok(n) => got += n,
                    Err(_) => continue,
                }
                if got == 300 {
                    let mut sent = 0;
                    while sent < 300 {
                        if let Ok(k) = s.write(&b[sent..]) {
                            sent += k;
                        }
                    }
                    got = 0;
                }
            }
        });
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        s.set_nonblocking(true).unwrap();
        let msg = [b'o'; 300];
        let mut b = [0u8; 300];
        g.bench_function("raw_tcp_busy_poll_floor", |bench| {
            bench.iter(|| {
                s.write_all(&msg).unwrap();
                let mut got = 0;
                while got < 300 {
                    match s.read(&mut b[got..]) {
                        Ok(n) => got += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        });
        stop.store(true, Ordering::Relaxed);
        drop(s);
        server.join().unwrap();
    }

    // NetLoop: send_text → echo → poll/next_event until the frame is back.
    {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        let server = std::thread::spawn(move || echo_server(l, st));
        let mut cfg = ConnConfig::new(Url::parse(&format!("ws://127.0.0.1:{}/", addr.port())).unwrap());
        cfg.control_pace_ms = 0;
        let mut net = NetLoop::new(quanta::Clock::new(), 1 << 16).unwrap();
        let id = net.add_websocket(cfg, None, Subscriptions::new(Venue::BinanceUsdm), None).unwrap();
        while net.state(id) != Some(ConnState::Live) {
            net.poll().unwrap();
            while net.next_event().is_some() {}
        }
        let msg = [b'o'; 300];
        g.bench_function("netloop_ws_plain", |bench| {
            bench.iter(|| {
                net.send_text(id, &msg).unwrap();
                loop {
                    net.poll().unwrap();
                    let mut back = false;
                    while let Some(ev) = net.next_event() {
                        if let NetEvent::Frame { data, .. } = ev {
                            back = data.len() == 300;
                        }
                    }
                    if back {
                        break;
                    }
                }
            });
        });
        stop.store(true, Ordering::Relaxed);
        net.close(id);
        server.join().unwrap();
    }
    g.finish();
}

criterion_group!(benches, codec, loopback);
criterion_main!(benches);
