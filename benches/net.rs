//! The network layer's costs: the WebSocket codec per frame, the HTTP
//! parser on a chunked depth snapshot, a TLS record carrying a 1.6 KB depth
//! frame read through our record layer and parsed (and the same through
//! rustls' own record layer, the fallback, for comparison), and a loopback
//! round trip through `NetLoop` (send an order-sized text, get it echoed
//! back) beside the raw busy-poll TCP ping-pong floor of the same size on
//! the same machine.
//!
//! The TLS benchmarks run in memory: rustls' server (handshake done with
//! our client) encrypts each record in the untimed setup; the timed part is
//! `SecureLayer::read` from an in-memory "socket" (copy in, decrypt in
//! place, strip the content type) plus `WsReader::next_message`.
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
use rustls::SupportedCipherSuite;
use rustls::crypto::ring::cipher_suite as cs;
use scalpel::net::buf::{InBuf, OutBuf};
use scalpel::net::subscribe::Subscriptions;
use scalpel::net::tls::{SecureLayer, TlsLayer, client_config_with_roots};
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

/// An in-memory socket: reads what the server wrote (`WouldBlock` when
/// empty), keeps what the client wrote.
#[derive(Default)]
struct Wire {
    to_client: Vec<u8>,
    at: usize,
    to_server: Vec<u8>,
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = &self.to_client[self.at..];
        if left.is_empty() {
            return Err(ErrorKind::WouldBlock.into());
        }
        let n = left.len().min(buf.len());
        buf[..n].copy_from_slice(&left[..n]);
        self.at += n;
        Ok(n)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.to_server.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Our client and rustls' server after the handshake (and the server's
/// tickets), in memory, negotiating `suite`.
fn tls_session(suite: SupportedCipherSuite, own_records: bool) -> (TlsLayer, rustls::ServerConnection, OutBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&leaf_key, &issuer).unwrap();
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = vec![suite];
    let server_cfg = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone(), ca.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
        )
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let mut client_cfg = (*client_config_with_roots(roots).unwrap()).clone();
    client_cfg.enable_secret_extraction = own_records;
    let mut client = TlsLayer::new(Arc::new(client_cfg), "localhost").unwrap();
    let mut server = rustls::ServerConnection::new(Arc::new(server_cfg)).unwrap();
    let (mut wire, mut out, mut sink) = (Wire::default(), OutBuf::new(1 << 16), InBuf::new(1 << 16));
    for _ in 0..10 {
        client.read(&mut wire, &mut out, &mut sink).unwrap();
        let mut rd = &wire.to_server[..];
        while !rd.is_empty() {
            server.read_tls(&mut rd).unwrap();
            server.process_new_packets().unwrap();
        }
        wire.to_server.clear();
        while server.wants_write() {
            server.write_tls(&mut wire.to_client).unwrap();
        }
    }
    assert!(!client.handshaking() && !server.is_handshaking());
    assert_eq!(client.protocol().is_some(), own_records);
    (client, server, out)
}

fn tls(c: &mut Criterion) {
    let frame = depth_frame();
    let mut g = c.benchmark_group("tls");
    g.throughput(Throughput::Bytes(frame.len() as u64));
    let cases = [
        ("tls13_aes128gcm_read_depth_record_1.6KB", cs::TLS13_AES_128_GCM_SHA256, true),
        ("tls13_aes256gcm_read_depth_record_1.6KB", cs::TLS13_AES_256_GCM_SHA384, true),
        ("tls13_chacha20_read_depth_record_1.6KB", cs::TLS13_CHACHA20_POLY1305_SHA256, true),
        ("rustls_fallback_tls13_aes128gcm_read_depth_record_1.6KB", cs::TLS13_AES_128_GCM_SHA256, false),
    ];
    for (name, suite, own) in cases {
        let (mut client, mut server, mut out) = tls_session(suite, own);
        let mut reader = WsReader::new(1 << 20, 1 << 19);
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    // One record, sealed by rustls' server (untimed).
                    server.writer().write_all(&frame).unwrap();
                    let mut w = Wire::default();
                    server.write_tls(&mut w.to_client).unwrap();
                    w
                },
                |mut w| {
                    let st = client.read(&mut w, &mut out, reader.raw()).unwrap();
                    debug_assert_eq!(st.bytes, frame.len());
                    match reader.next_message() {
                        Ok(Some(ws::WsMessage::Text(t))) => black_box(t.len()),
                        other => panic!("{other:?}"),
                    }
                },
                BatchSize::SmallInput,
            );
        });
    }
    // Sealing an order: a masked 300 B text frame into one record (what
    // `NetLoop::send_text` hands the layer), written to the in-memory socket.
    let mut order = [0u8; 512];
    let n = ws::encode_frame(OpCode::Text, &[b'o'; 300], [1, 2, 3, 4], &mut order).unwrap();
    let (mut client, _server, mut out) = tls_session(cs::TLS13_AES_128_GCM_SHA256, true);
    let mut sink = InBuf::new(1 << 16);
    let mut w = Wire::default();
    g.throughput(Throughput::Bytes(n as u64));
    g.bench_function("tls13_aes128gcm_seal_order_300B", |b| {
        b.iter(|| {
            client.write(&mut w, &mut out, &mut sink, black_box(&order[..n])).unwrap();
            w.to_server.clear();
        });
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

criterion_group!(benches, codec, tls, loopback);
criterion_main!(benches);
