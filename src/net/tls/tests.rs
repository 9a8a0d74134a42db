//! [`TlsLayer`] against rustls' own server, in memory: both protocol
//! versions and every AEAD suite, session tickets and resumption, key
//! updates, close_notify, the counted fallback, reads split anywhere, a full
//! receive buffer; and records the server could never send, sealed with its
//! extracted secrets: padding, split and oversized handshake messages,
//! interleaving, misplaced key updates, alerts, corruption, wrap-around.

use std::io::{self, Read, Write};
use std::sync::{Arc, OnceLock};

use rustls::crypto::ring::cipher_suite as cs;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{HandshakeKind, SupportedCipherSuite, SupportedProtocolVersion};

use super::record::{Keys, RecordLayer};
use super::*;

struct Pki {
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// A CA and a `localhost` leaf it signed (ECDSA P-256), made once.
fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf =
            rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&leaf_key, &issuer).unwrap();
        let ca = CertificateDer::from(ca_cert.der().to_vec());
        Pki {
            chain: vec![CertificateDer::from(leaf.der().to_vec()), ca.clone()],
            ca,
            key: PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
        }
    })
}

const TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];

fn server_config(
    versions: &[&'static SupportedProtocolVersion],
    suite: Option<SupportedCipherSuite>,
) -> Arc<rustls::ServerConfig> {
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(s) = suite {
        provider.cipher_suites = vec![s];
    }
    let p = pki();
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(p.chain.clone(), p.key.clone_key())
        .unwrap();
    // The crafted-record tests seal as the server with its secrets.
    cfg.enable_secret_extraction = true;
    Arc::new(cfg)
}

fn client_cfg() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki().ca.clone()).unwrap();
    client_config_with_roots(roots).unwrap()
}

/// The client's socket: reads what the server wrote, at most `chunk`
/// bytes per read (`WouldBlock` when nothing is left), and keeps what the
/// client wrote.
struct Wire {
    to_client: Vec<u8>,
    read_at: usize,
    to_server: Vec<u8>,
    chunk: usize,
    /// Bytes at the end of `to_client` not readable yet.
    hold: usize,
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = &self.to_client[self.read_at..self.to_client.len() - self.hold];
        if left.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = left.len().min(buf.len()).min(self.chunk);
        buf[..n].copy_from_slice(&left[..n]);
        self.read_at += n;
        Ok(n)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.to_server.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Session {
    client: TlsLayer,
    server: rustls::ServerConnection,
    wire: Wire,
    out: OutBuf,
    sink: InBuf,
    /// Plaintext the server received.
    server_got: Vec<u8>,
}

impl Session {
    fn new(client: Arc<rustls::ClientConfig>, server: Arc<rustls::ServerConfig>, chunk: usize) -> Self {
        Self {
            client: TlsLayer::new(client, "localhost").unwrap(),
            server: rustls::ServerConnection::new(server).unwrap(),
            wire: Wire { to_client: Vec::new(), read_at: 0, to_server: Vec::new(), chunk, hold: 0 },
            out: OutBuf::new(1 << 18),
            sink: InBuf::new(1 << 20),
            server_got: Vec::new(),
        }
    }

    /// A finished handshake, the server's tickets (if any) read.
    fn connected(client: Arc<rustls::ClientConfig>, server: Arc<rustls::ServerConfig>, chunk: usize) -> Self {
        let mut s = Self::new(client, server, chunk);
        for _ in 0..20 {
            s.client_read().unwrap();
            s.pump_server().unwrap();
            if !s.client.handshaking() && !s.server.is_handshaking() {
                break;
            }
        }
        s.client_read().unwrap();
        assert!(!s.client.handshaking() && !s.server.is_handshaking());
        assert!(s.sink.is_empty());
        s
    }

    fn client_read(&mut self) -> Result<ReadStatus, LayerError> {
        self.client.read(&mut self.wire, &mut self.out, &mut self.sink)
    }

    fn client_write(&mut self, data: &[u8]) -> Result<(), LayerError> {
        self.client.write(&mut self.wire, &mut self.out, &mut self.sink, data)
    }

    fn flush_server(&mut self) {
        while self.server.wants_write() {
            self.server.write_tls(&mut self.wire.to_client).unwrap();
        }
    }

    /// Hands the client's bytes to the server; its answers go on the wire.
    fn pump_server(&mut self) -> Result<(), rustls::Error> {
        let bytes = std::mem::take(&mut self.wire.to_server);
        let mut rd = &bytes[..];
        let mut res = Ok(());
        while !rd.is_empty() && res.is_ok() {
            self.server.read_tls(&mut rd).unwrap();
            res = self.server.process_new_packets().map(|_| ());
            // Its plaintext buffer is bounded: take what it decrypted.
            let _ = self.server.reader().read_to_end(&mut self.server_got);
        }
        self.flush_server();
        res
    }

    fn server_send(&mut self, data: &[u8]) {
        self.server.writer().write_all(data).unwrap();
        self.flush_server();
    }

    fn server_recv(&mut self) -> Vec<u8> {
        self.pump_server().unwrap();
        std::mem::take(&mut self.server_got)
    }

    /// Reads until the wire is dry, taking the plaintext out of the sink
    /// after each read. Returns it and whether any read reported `full`.
    fn client_drain(&mut self) -> Result<(Vec<u8>, bool), LayerError> {
        let (mut got, mut was_full) = (Vec::new(), false);
        loop {
            let st = self.client_read()?;
            was_full |= st.full;
            got.extend_from_slice(self.sink.data());
            self.sink.consume(self.sink.len());
            if st.eof || (!st.full && self.wire.read_at == self.wire.to_client.len()) {
                return Ok((got, was_full));
            }
        }
    }

    fn records(&mut self) -> &mut RecordLayer {
        match &mut self.client.phase {
            Phase::Records(r) => r,
            _ => panic!("not handed over"),
        }
    }

    /// Drops rustls' server and returns its send keys, to seal records it
    /// would never send.
    fn into_crafted(self) -> (Crafted, Keys) {
        #[allow(deprecated)]
        let secrets = self.server.dangerous_extract_secrets().unwrap();
        let proto = match &self.client.phase {
            Phase::Records(r) => r.protocol(),
            _ => panic!("not handed over"),
        };
        let keys = Keys::new(&secrets.tx.1, secrets.tx.0, proto).unwrap();
        (Crafted { client: self.client, wire: self.wire, out: self.out, sink: self.sink, proto }, keys)
    }
}

/// A client whose peer is the test itself.
struct Crafted {
    client: TlsLayer,
    wire: Wire,
    out: OutBuf,
    sink: InBuf,
    proto: Protocol,
}

impl Crafted {
    fn send(&mut self, keys: &mut Keys, typ: u8, data: &[u8]) {
        let mut buf = [0u8; 17_000];
        let n = keys.seal(self.proto, typ, data, &mut buf).unwrap();
        self.wire.to_client.extend_from_slice(&buf[..n]);
    }

    fn read(&mut self) -> Result<Vec<u8>, LayerError> {
        let st = self.client.read(&mut self.wire, &mut self.out, &mut self.sink)?;
        assert!(!st.full);
        let got = self.sink.data().to_vec();
        self.sink.consume(got.len());
        Ok(got)
    }
}

const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
const CT_APP: u8 = 23;

fn messages(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| (0..(i * 97) % 3000 + 1).map(|j| (i * 31 + j) as u8).collect()).collect()
}

#[test]
fn every_aead_suite_hands_over_and_carries_data_both_ways() {
    let suites = [
        (TLS13, cs::TLS13_AES_128_GCM_SHA256, Protocol::Tls13),
        (TLS13, cs::TLS13_AES_256_GCM_SHA384, Protocol::Tls13),
        (TLS13, cs::TLS13_CHACHA20_POLY1305_SHA256, Protocol::Tls13),
        (TLS12, cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, Protocol::Tls12),
        (TLS12, cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, Protocol::Tls12),
        (TLS12, cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, Protocol::Tls12),
    ];
    for (versions, suite, proto) in suites {
        let mut s = Session::connected(client_cfg(), server_config(versions, Some(suite)), usize::MAX);
        let name = format!("{:?}", suite.suite());
        assert_eq!(s.client.protocol(), Some(proto), "{name}");
        let down: Vec<Vec<u8>> = [1usize, 100, 1600, 16_384, 20_000].iter().map(|&n| vec![n as u8 ^ 0x5a; n]).collect();
        for m in &down {
            s.server_send(m);
        }
        let (got, _) = s.client_drain().unwrap();
        assert_eq!(got, down.concat(), "{name}");
        let up = [vec![7u8; 300], (0..40_000).map(|i| i as u8).collect::<Vec<u8>>()];
        for m in &up {
            s.client_write(m).unwrap();
        }
        assert_eq!(s.server_recv(), up.concat(), "{name}");
        let st = s.client.tls_stats();
        assert_eq!(st.handovers, 1, "{name}");
        assert_eq!((st.rustls_records_in, st.rustls_records_out), (0, 0), "{name}: nothing went through rustls");
        assert!(st.records_in >= 6, "{name}: {st:?}");
        assert_eq!(st.records_out, 1 + 3, "{name}: 40 000 bytes are three records");
        // rustls' server sends two TLS 1.3 tickets after the handshake, none in TLS 1.2.
        assert_eq!(st.tickets, if proto == Protocol::Tls13 { 2 } else { 0 }, "{name}");
        assert_eq!(st.bad_records, 0);
    }
}

/// The handshake ends while part of a record is still inside rustls (the
/// server's half-RTT data, cut): no hand-over yet, our first write goes
/// through rustls (counted); once rustls has consumed every byte, our layer
/// takes over and the bytes come in order.
#[test]
fn the_hand_over_waits_until_rustls_holds_no_received_byte() {
    let mut server = (*server_config(TLS13, None)).clone();
    server.send_half_rtt_data = true;
    let mut s = Session::new(client_cfg(), Arc::new(server), usize::MAX);
    s.server.writer().write_all(b"half-rtt").unwrap();
    s.client_read().unwrap();
    s.pump_server().unwrap();
    assert!(s.server.is_handshaking(), "the server waits for our Finished");
    s.wire.hold = 10;
    s.client_read().unwrap();
    assert!(!s.client.handshaking());
    assert_eq!(s.client.protocol(), None, "10 bytes of a record are not read yet: no hand-over");
    s.client_write(b"upgrade").unwrap();
    s.wire.hold = 0;
    s.client_read().unwrap();
    assert_eq!(s.sink.data(), b"half-rtt");
    s.sink.consume(8);
    assert_eq!(s.client.protocol(), Some(Protocol::Tls13), "handed over once rustls held nothing");
    assert_eq!(s.server_recv(), b"upgrade");
    s.server_send(b"after");
    assert_eq!(s.client_drain().unwrap().0, b"after");
    s.client_write(b"mine").unwrap();
    assert_eq!(s.server_recv(), b"mine");
    let st = s.client.tls_stats();
    assert_eq!((st.handovers, st.rustls_records_in, st.rustls_records_out), (1, 1, 1), "{st:?}");
    assert_eq!((st.records_in, st.records_out, st.tickets), (1, 1, 2), "{st:?}");
}

#[test]
fn tickets_received_by_our_layer_resume_the_next_session() {
    let (client, server) = (client_cfg(), server_config(TLS13, None));
    let first = Session::connected(Arc::clone(&client), Arc::clone(&server), usize::MAX);
    assert_eq!(first.server.handshake_kind(), Some(HandshakeKind::Full));
    assert_eq!(first.client.tls_stats().tickets, 2, "both tickets went through our record layer");
    let mut second = Session::connected(client, server, usize::MAX);
    assert_eq!(second.server.handshake_kind(), Some(HandshakeKind::Resumed), "a stored ticket was used");
    second.server_send(b"resumed");
    assert_eq!(second.client_drain().unwrap().0, b"resumed");
    assert_eq!(second.client.tls_stats().handovers, 1);
}

#[test]
fn without_secret_extraction_rustls_keeps_the_records_and_they_are_counted() {
    let mut cfg = (*client_cfg()).clone();
    cfg.enable_secret_extraction = false;
    let mut s = Session::connected(Arc::new(cfg), server_config(TLS13, None), usize::MAX);
    assert_eq!(s.client.protocol(), None);
    s.server_send(b"one");
    s.server_send(b"two");
    assert_eq!(s.client_drain().unwrap().0, b"onetwo");
    s.client_write(b"up").unwrap();
    assert_eq!(s.server_recv(), b"up");
    let st = s.client.tls_stats();
    assert_eq!(st.handovers, 0);
    assert_eq!((st.rustls_records_in, st.rustls_records_out), (2, 1), "{st:?}");
    assert_eq!((st.records_in, st.records_out), (0, 0));
}

#[test]
fn a_key_update_the_server_requests_is_applied_and_answered() {
    let mut s = Session::connected(client_cfg(), server_config(TLS13, None), usize::MAX);
    s.server_send(b"before");
    assert_eq!(s.client_drain().unwrap().0, b"before");
    for round in 1..=2 {
        // rustls sends KeyUpdate(update_requested) and switches its send key.
        s.server.refresh_traffic_keys().unwrap();
        s.server_send(b"under the new key");
        assert_eq!(s.client_drain().unwrap().0, b"under the new key");
        let st = s.client.tls_stats();
        assert_eq!((st.key_updates_in, st.key_updates_out), (round, round), "{st:?}");
        // Our answer went out first; the server reads our data under our new key.
        s.client_write(b"reply").unwrap();
        assert_eq!(s.server_recv(), b"reply");
    }
    assert_eq!(s.records().rx.seq, 1, "one record under the latest receive key");
}

#[test]
fn the_send_key_is_updated_before_its_limit() {
    let mut s = Session::connected(client_cfg(), server_config(TLS13, Some(cs::TLS13_AES_128_GCM_SHA256)), usize::MAX);
    assert_eq!(s.records().tx_limit, 1 << 24, "rustls' confidentiality limit for AES-GCM");
    s.records().tx_limit = 3;
    let msgs = messages(7);
    for m in &msgs {
        s.client_write(m).unwrap();
    }
    assert_eq!(s.server_recv(), msgs.concat(), "rustls' server followed every key update");
    assert_eq!(s.client.tls_stats().key_updates_out, 3, "one update every two records (the update takes the third)");
}

#[test]
fn tls12_stops_sending_at_the_limit_and_sequence_numbers_never_wrap() {
    let mut s = Session::connected(client_cfg(), server_config(TLS12, None), usize::MAX);
    let seq = s.records().tx.seq;
    s.records().tx_limit = seq + 1;
    s.client_write(b"last one").unwrap();
    assert_eq!(s.server_recv(), b"last one");
    assert_eq!(s.client_write(b"one too many"), Err(LayerError::Tls(TlsFailure::SequenceExhausted)));

    // TLS 1.3 ChaCha20 has no confidentiality limit: the key is updated
    // before the counter would wrap.
    let mut s =
        Session::connected(client_cfg(), server_config(TLS13, Some(cs::TLS13_CHACHA20_POLY1305_SHA256)), usize::MAX);
    assert_eq!(s.records().tx_limit, u64::MAX);
    s.records().tx.seq = u64::MAX - 1;
    s.client_write(b"x").unwrap();
    assert_eq!(s.client.tls_stats().key_updates_out, 1);
    assert_eq!(s.records().tx.seq, 1, "the record went under the new key");

    // The receive counter refuses to wrap.
    let mut s = Session::connected(client_cfg(), server_config(TLS13, None), usize::MAX);
    s.records().rx.seq = u64::MAX;
    s.server_send(b"never read");
    assert_eq!(s.client_read(), Err(LayerError::Tls(TlsFailure::SequenceExhausted)));
    assert_eq!(s.client_read(), Err(LayerError::Closed), "unusable afterwards, no panic");
}

#[test]
fn records_split_anywhere_or_many_in_one_read_give_the_same_bytes() {
    let msgs = messages(40);
    for chunk in [1, 2, 3, 5, 7, 64, 1000, 4096, usize::MAX] {
        let mut s = Session::connected(client_cfg(), server_config(TLS13, None), chunk);
        for m in &msgs {
            s.server_send(m);
        }
        let (got, _) = s.client_drain().unwrap();
        assert_eq!(got, msgs.concat(), "reads of {chunk} bytes");
        assert_eq!(s.client.tls_stats().records_in, 40);
    }
    let mut s = Session::connected(client_cfg(), server_config(TLS12, None), 3);
    for m in &msgs {
        s.server_send(m);
    }
    assert_eq!(s.client_drain().unwrap().0, msgs.concat(), "TLS 1.2 in reads of 3 bytes");
}

#[test]
fn records_wait_while_the_receive_buffer_is_full() {
    let mut s = Session::connected(client_cfg(), server_config(TLS13, None), usize::MAX);
    s.sink = InBuf::new(20_000);
    let msgs: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 8_000]).collect();
    for m in &msgs {
        s.server_send(m);
    }
    let (got, was_full) = s.client_drain().unwrap();
    assert!(was_full, "the buffer filled up");
    assert_eq!(got, msgs.concat(), "nothing lost or reordered");

    // A record that could never fit is an error, not a stall.
    s.sink = InBuf::new(1_000);
    s.server_send(&[1; 5_000]);
    assert_eq!(s.client_read(), Err(LayerError::ReceiveFull));
}

#[test]
fn close_notify_after_data_is_a_clean_end() {
    let mut s = Session::connected(client_cfg(), server_config(TLS13, None), usize::MAX);
    s.server_send(b"last words");
    s.server.send_close_notify();
    s.flush_server();
    let st = s.client_read().unwrap();
    assert!(st.eof);
    assert_eq!(s.sink.data(), b"last words", "data before close_notify is kept");
    assert_eq!(s.client.tls_stats().close_notify, 1);
    assert!(s.client_read().unwrap().eof, "still closed, no error");
    // Our close_notify goes out on close.
    s.client.close(&mut s.out);
    s.out.flush(&mut s.wire).unwrap();
    s.pump_server().unwrap();
    assert_eq!(s.server.reader().read(&mut [0u8; 8]).unwrap(), 0, "the server saw a clean close");
}

#[test]
fn a_corrupted_record_is_refused_counted_and_answered_with_an_alert() {
    for (versions, at_end) in [(TLS13, 3), (TLS13, 0), (TLS12, 3)] {
        let mut s = Session::connected(client_cfg(), server_config(versions, None), usize::MAX);
        s.server_send(b"good");
        assert_eq!(s.client_drain().unwrap().0, b"good");
        s.server_send(b"this record gets one bit flipped");
        let n = s.wire.to_client.len();
        if at_end == 0 {
            // The header's version byte: part of the authenticated data.
            let start = s.wire.read_at;
            s.wire.to_client[start + 2] ^= 1;
        } else {
            s.wire.to_client[n - at_end] ^= 0x10;
        }
        assert_eq!(s.client_read(), Err(LayerError::Tls(TlsFailure::Decrypt)));
        assert_eq!(s.client.tls_stats().bad_records, 1);
        assert!(s.sink.is_empty(), "nothing of the bad record was handed out");
        assert_eq!(s.client_read(), Err(LayerError::Closed));
        let err = s.pump_server().unwrap_err();
        assert_eq!(err, rustls::Error::AlertReceived(rustls::AlertDescription::BadRecordMac), "{err}");
    }
}

#[test]
fn malformed_records_are_refused_from_their_header() {
    let cases: [(&[u8], TlsFailure); 5] = [
        // 2^14 + 257: refused before its body arrives.
        (&[CT_APP, 3, 3, 0x41, 0x01], TlsFailure::RecordOverflow),
        (&[CT_APP, 3, 3, 0, 5, 1, 2, 3, 4, 5], TlsFailure::BadRecord),
        (&[20, 3, 3, 0, 1, 1], TlsFailure::UnexpectedMessage),
        (&[CT_ALERT, 3, 3, 0, 2, 2, 40], TlsFailure::UnexpectedMessage),
        (&[99, 3, 3, 0, 1, 0], TlsFailure::BadRecord),
    ];
    for (bytes, want) in cases {
        let mut s = Session::connected(client_cfg(), server_config(TLS13, None), usize::MAX);
        s.wire.to_client.extend_from_slice(bytes);
        assert_eq!(s.client_read(), Err(LayerError::Tls(want)), "{bytes:?}");
        assert_eq!(s.client.tls_stats().bad_records, 1);
        assert!(s.pump_server().is_err(), "the server got a fatal alert");
    }
}

#[test]
fn a_fatal_alert_from_the_server_ends_the_session() {
    let mut s = Session::connected(client_cfg(), server_config(TLS13, None), usize::MAX);
    s.client_write(b"to be corrupted").unwrap();
    let n = s.wire.to_server.len();
    s.wire.to_server[n - 1] ^= 1;
    assert!(s.pump_server().is_err());
    assert_eq!(s.client_read(), Err(LayerError::Tls(TlsFailure::Alert)));
    assert_eq!(s.client.tls_stats().alerts, 1);
}

#[test]
fn padding_is_stripped_and_an_all_zero_record_refused() {
    let (mut c, mut k) = Session::connected(client_cfg(), server_config(TLS13, None), usize::MAX).into_crafted();
    // Inner plaintext "abc" ‖ 0x17 ‖ four zero bytes of padding.
    c.send(&mut k, 0, b"abc\x17\0\0\0");
    c.send(&mut k, CT_APP, b"");
    c.send(&mut k, CT_APP, b"def");
    assert_eq!(c.read().unwrap(), b"abcdef");
    assert_eq!(c.client.tls_stats().records_in, 3, "the empty record counts");
    c.send(&mut k, 0, &[0, 0, 0]);
    assert_eq!(c.read(), Err(LayerError::Tls(TlsFailure::UnexpectedMessage)));

    // Content, type and padding longer than 2^14 + 1 (RFC 8446 §5.4), though
    // the record itself is under 2^14 + 256.
    let (mut c, mut k) = Session::connected(client_cfg(), server_config(TLS13, None), usize::MAX).into_crafted();
    c.send(&mut k, 0, &[&b"a\x17"[..], &[0; MAX_RECORD_PLAINTEXT]].concat());
    assert_eq!(c.read(), Err(LayerError::Tls(TlsFailure::RecordOverflow)));
    assert_eq!(c.client.tls_stats().bad_records, 1);
}

/// A NewSessionTicket (RFC 8446 §4.6.1) with a `ticket_len`-byte ticket.
fn new_session_ticket(ticket_len: usize) -> Vec<u8> {
    let mut body = vec![0, 0, 0x0e, 0x10, 1, 2, 3, 4, 1, 9];
    body.extend_from_slice(&(ticket_len as u16).to_be_bytes());
    body.extend((0..ticket_len).map(|i| i as u8));
    body.extend_from_slice(&[0, 0]);
    let mut m = vec![4];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(&body);
    m
}

#[test]
fn handshake_messages_split_over_records_are_reassembled() {
    let (mut c, mut k) = Session::connected(client_cfg(), server_config(TLS13, None), usize::MAX).into_crafted();
    let before = c.client.tls_stats().tickets;
    let nst = new_session_ticket(40);
    c.send(&mut k, CT_HANDSHAKE, &nst[..3]);
    c.send(&mut k, CT_HANDSHAKE, &nst[3..20]);
    c.send(&mut k, CT_HANDSHAKE, &nst[20..]);
    c.send(&mut k, CT_APP, b"x");
    assert_eq!(c.read().unwrap(), b"x");
    assert_eq!(c.client.tls_stats().tickets, before + 1, "rustls took the reassembled ticket");
    // Two messages in one record.
    let two = [nst.clone(), nst].concat();
    c.send(&mut k, CT_HANDSHAKE, &two);
    assert!(c.read().unwrap().is_empty());
    assert_eq!(c.client.tls_stats().tickets, before + 3);
}

#[test]
fn an_oversized_ticket_is_skipped_and_counted() {
    let (mut c, mut k) = Session::connected(client_cfg(), server_config(TLS13, None), usize::MAX).into_crafted();
    let nst = new_session_ticket(30_000);
    for part in nst.chunks(16_000) {
        c.send(&mut k, CT_HANDSHAKE, part);
    }
    c.send(&mut k, CT_APP, b"after");
    assert_eq!(c.read().unwrap(), b"after");
    assert_eq!(c.client.tls_stats().tickets_skipped, 1);
}

#[test]
fn a_record_interleaved_with_a_split_handshake_message_is_refused() {
    let (mut c, mut k) = Session::connected(client_cfg(), server_config(TLS13, None), usize::MAX).into_crafted();
    let nst = new_session_ticket(40);
    c.send(&mut k, CT_HANDSHAKE, &nst[..10]);
    c.send(&mut k, CT_APP, b"x");
    assert_eq!(c.read(), Err(LayerError::Tls(TlsFailure::UnexpectedMessage)));
    assert_eq!(c.client.tls_stats().bad_records, 1);
}

#[test]
fn a_key_update_must_end_its_record_and_be_well_formed() {
    let (mut c, mut k) = Session::connected(client_cfg(), server_config(TLS13, None), usize::MAX).into_crafted();
    let followed = [&[24, 0, 0, 1, 0][..], &new_session_ticket(8)].concat();
    c.send(&mut k, CT_HANDSHAKE, &followed);
    assert_eq!(c.read(), Err(LayerError::Tls(TlsFailure::UnexpectedMessage)));

    let (mut c, mut k) = Session::connected(client_cfg(), server_config(TLS13, None), usize::MAX).into_crafted();
    c.send(&mut k, CT_HANDSHAKE, &[24, 0, 0, 1, 2]);
    assert_eq!(c.read(), Err(LayerError::Tls(TlsFailure::BadRecord)));

    let (mut c, mut k) = Session::connected(client_cfg(), server_config(TLS13, None), usize::MAX).into_crafted();
    c.send(&mut k, CT_HANDSHAKE, &[13, 0, 0, 0]);
    assert_eq!(c.read(), Err(LayerError::Tls(TlsFailure::UnexpectedMessage)), "post-handshake auth was not offered");
}

#[test]
fn alerts_that_may_be_ignored_are_counted_the_rest_end_the_session() {
    let (mut c, mut k) = Session::connected(client_cfg(), server_config(TLS13, None), usize::MAX).into_crafted();
    c.send(&mut k, CT_ALERT, &[1, 90]); // user_canceled
    c.send(&mut k, CT_APP, b"still here");
    assert_eq!(c.read().unwrap(), b"still here");
    assert_eq!(c.client.tls_stats().alerts, 1);
    c.send(&mut k, CT_ALERT, &[1, 42]); // any other alert is an error in TLS 1.3, whatever its level
    assert_eq!(c.read(), Err(LayerError::Tls(TlsFailure::Alert)));

    let (mut c, mut k) = Session::connected(client_cfg(), server_config(TLS12, None), usize::MAX).into_crafted();
    c.send(&mut k, CT_ALERT, &[1, 100]); // TLS 1.2 warning: no_renegotiation
    c.send(&mut k, CT_HANDSHAKE, &[0, 0, 0, 0]); // HelloRequest: ignored
    c.send(&mut k, CT_APP, b"on");
    assert_eq!(c.read().unwrap(), b"on");
    let st = c.client.tls_stats();
    assert_eq!((st.alerts, st.hello_requests), (1, 1));
    c.send(&mut k, CT_ALERT, &[2, 40]);
    assert_eq!(c.read(), Err(LayerError::Tls(TlsFailure::Alert)));

    let (mut c, mut k) = Session::connected(client_cfg(), server_config(TLS13, None), usize::MAX).into_crafted();
    c.send(&mut k, CT_ALERT, &[1, 0, 0]);
    assert_eq!(c.read(), Err(LayerError::Tls(TlsFailure::BadRecord)), "an alert record holds exactly one alert");
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// One byte of the record stream changed anywhere (header, nonce,
        /// ciphertext, tag): the client never hands out a wrong byte and
        /// never the whole message; it fails or waits for the rest.
        #[test]
        fn a_changed_byte_never_yields_wrong_plaintext(tls12 in any::<bool>(), at in 0.0..1.0f64, mask in 1..=255u8) {
            let versions = if tls12 { TLS12 } else { TLS13 };
            let mut s = Session::connected(client_cfg(), server_config(versions, None), usize::MAX);
            let truth = messages(6).concat();
            s.server_send(&truth);
            let start = s.wire.read_at;
            let i = start + ((s.wire.to_client.len() - start) as f64 * at) as usize;
            s.wire.to_client[i] ^= mask;
            let mut got = Vec::new();
            let res = loop {
                match s.client_read() {
                    Ok(st) => {
                        got.extend_from_slice(s.sink.data());
                        s.sink.consume(s.sink.len());
                        if !st.full {
                            break Ok(());
                        }
                    }
                    Err(e) => break Err(e),
                }
            };
            prop_assert!(got.len() < truth.len() && truth.starts_with(&got), "{res:?}, {} of {}", got.len(), truth.len());
            if res.is_err() {
                prop_assert_eq!(s.client.tls_stats().bad_records, 1);
            }
        }

        /// Arbitrary bytes after the handshake: never a panic, never
        /// plaintext.
        #[test]
        fn garbage_after_the_handshake_is_refused(tls12 in any::<bool>(), bytes in proptest::collection::vec(any::<u8>(), 0..3_000)) {
            let versions = if tls12 { TLS12 } else { TLS13 };
            let mut s = Session::connected(client_cfg(), server_config(versions, None), usize::MAX);
            s.wire.to_client.extend_from_slice(&bytes);
            let _ = s.client_read();
            prop_assert!(s.sink.is_empty());
        }
    }
}
