//! Our TLS record layer after the handshake (`scalpel::net::tls`, the
//! records rustls hands over), fed records a script builds.
//!
//! Each input first completes a real handshake in memory between
//! `TlsLayer` and rustls' own server (a CA and a `localhost` leaf made once
//! per process, as the unit tests do), takes the server's send keys with
//! rustls' secret extraction, and drops the server. The rest of the input
//! is a script that builds what "the server" sends, with a record sealer
//! written here from the RFCs (not scalpel's): valid application data,
//! records of any other content type, oversized records, raw garbage,
//! flipped bytes, replays, swaps and truncations. The bytes reach the
//! client in reads of a scripted size.
//!
//! Input: `[suite, sink, read, op…]`. `suite` picks one of five suites
//! (TLS 1.3 AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305; TLS 1.2
//! ECDHE-ECDSA AES-128-GCM, ChaCha20-Poly1305), `sink` the receive buffer
//! (the smallest that holds any record, or 1 MiB), `read` the bytes per
//! read (×7). Ops (low 3 bits; high bits are the TLS 1.3 padding):
//! 0 data record (len byte, bytes), 1 large data record (2-byte length, up
//! to 2^14 + 1), 2 record of another inner type (type, len, bytes),
//! 3 garbage (len, bytes), 4 flip (2-byte position, mask), 5 replay an
//! earlier unit, 6 swap the last two units, 7 cut the last unit short.
//!
//! Checked: no panic; the plaintext delivered is always a prefix of the
//! application data of the records that begin the final wire byte for byte
//! as the sealer made them, in sequence order (no plaintext that was not
//! authenticated, nothing from or after the first byte that is not such a
//! record); when the whole wire is such records of application data within
//! the size limit, all of it arrives and the session stays up; a refused
//! record ends the session with a typed error that is counted
//! (`bad_records`, or `alerts` for an alert), and the layer refuses every
//! read after it.
#![no_main]

use std::io::{self, Read, Write};
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use rustls::crypto::ring::cipher_suite as cs;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ConnectionTrafficSecrets, SupportedCipherSuite, SupportedProtocolVersion};
use scalpel::net::buf::{InBuf, OutBuf};
use scalpel::net::tls::record::Protocol;
use scalpel::net::tls::{LayerError, SecureLayer, TlsFailure, TlsLayer, client_config_with_roots};

const MAX_PLAIN: usize = 16_384;
/// The largest ciphertext a record may carry (RFC 8446 §5.2).
const MAX_CIPHERTEXT: usize = MAX_PLAIN + 256;

struct Setup {
    client: Arc<rustls::ClientConfig>,
    servers: Vec<(Arc<rustls::ServerConfig>, Protocol)>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
        let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .expect("leaf params")
            .signed_by(&leaf_key, &issuer)
            .expect("leaf");
        let ca = CertificateDer::from(ca_cert.der().to_vec());
        let chain = vec![CertificateDer::from(leaf.der().to_vec()), ca.clone()];
        let key = PrivateKeyDer::try_from(leaf_key.serialize_der()).expect("key");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).expect("root");
        let client = client_config_with_roots(roots).expect("client config");
        let suites: [(SupportedCipherSuite, &'static SupportedProtocolVersion, Protocol); 5] = [
            (cs::TLS13_AES_128_GCM_SHA256, &rustls::version::TLS13, Protocol::Tls13),
            (cs::TLS13_AES_256_GCM_SHA384, &rustls::version::TLS13, Protocol::Tls13),
            (cs::TLS13_CHACHA20_POLY1305_SHA256, &rustls::version::TLS13, Protocol::Tls13),
            (cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, &rustls::version::TLS12, Protocol::Tls12),
            (cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, &rustls::version::TLS12, Protocol::Tls12),
        ];
        let servers = suites
            .into_iter()
            .map(|(suite, version, proto)| {
                // The provider the client uses (its post-quantum successor is not in ring).
                #[allow(deprecated)]
                let mut provider = rustls::crypto::ring::default_provider();
                provider.cipher_suites = vec![suite];
                let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
                    .with_protocol_versions(&[version])
                    .expect("versions")
                    .with_no_client_auth()
                    .with_single_cert(chain.clone(), key.clone_key())
                    .expect("server config");
                cfg.enable_secret_extraction = true;
                cfg.send_tls13_tickets = 0;
                (Arc::new(cfg), proto)
            })
            .collect();
        Setup { client, servers }
    })
}

/// The client's socket: the server's bytes, at most `budget` of them per
/// `TlsLayer::read` call (then `WouldBlock`); what the client writes is kept.
struct Wire {
    to_client: Vec<u8>,
    read_at: usize,
    budget: usize,
    to_server: Vec<u8>,
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (self.to_client.len() - self.read_at).min(buf.len()).min(self.budget);
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        buf[..n].copy_from_slice(&self.to_client[self.read_at..self.read_at + n]);
        self.read_at += n;
        self.budget -= n;
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

/// The server's send direction, sealed from the RFCs: TLS 1.3 (RFC 8446
/// §5.2–5.3: AAD = header, inner = content ‖ type ‖ zeros, nonce = IV xor
/// seq) and TLS 1.2 (RFC 5246 §6.2.3.3: AAD = seq ‖ type ‖ version ‖
/// length; AES-GCM per RFC 5288 with the explicit nonce = seq, ChaCha per
/// RFC 7905 with nonce = IV xor seq).
struct Sealer {
    key: LessSafeKey,
    iv: [u8; 12],
    seq: u64,
    proto: Protocol,
    explicit: bool,
}

impl Sealer {
    fn new(secrets: &ConnectionTrafficSecrets, seq: u64, proto: Protocol) -> Self {
        let (alg, key, iv, gcm) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&aead::AES_128_GCM, key, iv, true),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&aead::AES_256_GCM, key, iv, true),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => (&aead::CHACHA20_POLY1305, key, iv, false),
            _ => panic!("suite not in the fuzz set"),
        };
        let key = LessSafeKey::new(UnboundKey::new(alg, key.as_ref()).expect("key"));
        let iv: [u8; 12] = iv.as_ref().try_into().expect("12-byte IV");
        Self { key, iv, seq, proto, explicit: gcm && proto == Protocol::Tls12 }
    }

    fn seal(&mut self, typ: u8, data: &[u8], pad: usize) -> Vec<u8> {
        let seq = self.seq;
        self.seq += 1;
        let mut xored = self.iv;
        for (b, s) in xored[4..].iter_mut().zip(seq.to_be_bytes()) {
            *b ^= s;
        }
        match self.proto {
            Protocol::Tls13 => {
                let mut inner = data.to_vec();
                inner.push(typ);
                inner.resize(inner.len() + pad, 0);
                let len = (inner.len() + 16) as u16;
                let header = [23, 3, 3, (len >> 8) as u8, len as u8];
                self.key
                    .seal_in_place_append_tag(Nonce::assume_unique_for_key(xored), Aad::from(header), &mut inner)
                    .expect("seal");
                [&header[..], &inner].concat()
            }
            Protocol::Tls12 => {
                let mut aad = [0u8; 13];
                aad[..8].copy_from_slice(&seq.to_be_bytes());
                aad[8..11].copy_from_slice(&[typ, 3, 3]);
                aad[11..].copy_from_slice(&(data.len() as u16).to_be_bytes());
                let (nonce, prefix) = if self.explicit {
                    let mut n = [0u8; 12];
                    n[..4].copy_from_slice(&self.iv[..4]);
                    n[4..].copy_from_slice(&seq.to_be_bytes());
                    (n, seq.to_be_bytes().to_vec())
                } else {
                    (xored, Vec::new())
                };
                let mut body = data.to_vec();
                self.key
                    .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut body)
                    .expect("seal");
                let len = (prefix.len() + body.len()) as u16;
                [&[typ, 3, 3, (len >> 8) as u8, len as u8][..], &prefix, &body].concat()
            }
        }
    }
}

/// A connected client and the server's sealer.
fn connect(suite: usize) -> (TlsLayer, Wire, OutBuf, InBuf, Sealer, Protocol) {
    let s = setup();
    let (server_cfg, proto) = &s.servers[suite];
    let mut client = TlsLayer::new(s.client.clone(), "localhost").expect("client");
    let mut server = rustls::ServerConnection::new(server_cfg.clone()).expect("server");
    let mut wire = Wire { to_client: Vec::new(), read_at: 0, budget: usize::MAX, to_server: Vec::new() };
    let mut out = OutBuf::new(1 << 18);
    let mut sink = InBuf::new(1 << 20);
    for _ in 0..20 {
        wire.budget = usize::MAX;
        client.read(&mut wire, &mut out, &mut sink).expect("client handshake");
        let bytes = std::mem::take(&mut wire.to_server);
        let mut rd = &bytes[..];
        while !rd.is_empty() {
            server.read_tls(&mut rd).expect("server read");
            server.process_new_packets().expect("server handshake");
        }
        while server.wants_write() {
            server.write_tls(&mut wire.to_client).expect("server write");
        }
        if !client.handshaking() && !server.is_handshaking() {
            break;
        }
    }
    wire.budget = usize::MAX;
    client.read(&mut wire, &mut out, &mut sink).expect("client after handshake");
    assert!(!client.handshaking() && !server.is_handshaking(), "handshake did not finish");
    assert_eq!(client.protocol(), Some(*proto), "records not handed over to our layer");
    assert!(sink.is_empty());
    #[allow(deprecated)]
    let secrets = server.dangerous_extract_secrets().expect("server secrets");
    let sealer = Sealer::new(&secrets.tx.1, secrets.tx.0, *proto);
    (client, wire, out, sink, sealer, *proto)
}

/// What a sealed record is to the client.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Application data within the size limit.
    Data,
    /// Anything else: other content types, oversized data.
    Other,
}

/// What the script sent: the wire, its units (records or garbage), and
/// every record the sealer made, in sealing (sequence number) order.
struct Script {
    wire: Vec<u8>,
    /// (start, end) of each unit in `wire`.
    units: Vec<(usize, usize)>,
    /// Each sealed record: its bytes, what it is, the application data
    /// the client may deliver from it.
    sealed: Vec<(Vec<u8>, Kind, Vec<u8>)>,
}

impl Script {
    fn push(&mut self, bytes: &[u8]) -> (usize, usize) {
        let start = self.wire.len();
        self.wire.extend_from_slice(bytes);
        self.units.push((start, self.wire.len()));
        (start, self.wire.len())
    }

    fn seal(&mut self, sealer: &mut Sealer, typ: u8, data: &[u8], pad: usize, kind: Kind, delivers: Vec<u8>) {
        let record = sealer.seal(typ, data, pad);
        self.push(&record);
        self.sealed.push((record, kind, delivers));
    }

    /// Walks the final wire: a record is authentic only if it is, byte for
    /// byte, the next record the sealer made (AEAD: nothing else opens
    /// under that sequence number). Returns the application data of the
    /// authentic records before the first other byte, and whether the whole
    /// wire is authentic application data within the limits.
    fn authentic(&self) -> (Vec<u8>, bool) {
        let (mut at, mut data, mut only_data) = (0, Vec::new(), true);
        for (record, kind, delivers) in &self.sealed {
            if !self.wire[at..].starts_with(record) {
                break;
            }
            at += record.len();
            data.extend_from_slice(delivers);
            only_data &= *kind == Kind::Data;
        }
        (data, only_data && at == self.wire.len())
    }
}

fn take<'a>(ops: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(ops.len());
    let (head, rest) = ops.split_at(n);
    *ops = rest;
    head
}

fn byte(ops: &mut &[u8]) -> usize {
    take(ops, 1).first().map_or(0, |&b| usize::from(b))
}

fuzz_target!(|data: &[u8]| {
    let [suite, sink_sel, read_sel, rest @ ..] = data else { return };
    let mut ops: &[u8] = rest;
    let suite = usize::from(*suite) % 5;
    let (mut client, mut wire, mut out, _, mut sealer, proto) = connect(suite);
    let mut sink = InBuf::new(if sink_sel & 1 == 0 { MAX_CIPHERTEXT } else { 1 << 20 });
    let per_read = usize::from(*read_sel).max(1) * 7;

    let mut s = Script { wire: Vec::new(), units: Vec::new(), sealed: Vec::new() };
    let mut steps = 0;
    while !ops.is_empty() && steps < 64 {
        steps += 1;
        let op = byte(&mut ops);
        let pad = if proto == Protocol::Tls13 { op >> 3 } else { 0 };
        match op & 7 {
            0 => {
                let n = byte(&mut ops);
                let d = take(&mut ops, n).to_vec();
                s.seal(&mut sealer, 23, &d, pad, Kind::Data, d.clone());
            }
            1 => {
                let n = (byte(&mut ops) << 8 | byte(&mut ops)) % (MAX_PLAIN + 2);
                let d: Vec<u8> = (0..n).map(|i| (i * 131 + 7) as u8).collect();
                if n > MAX_PLAIN {
                    s.seal(&mut sealer, 23, &d, 0, Kind::Other, Vec::new());
                } else {
                    s.seal(&mut sealer, 23, &d, 0, Kind::Data, d.clone());
                }
            }
            2 => {
                let typ = byte(&mut ops) as u8;
                let n = byte(&mut ops);
                let d = take(&mut ops, n).to_vec();
                let typ = if typ == 23 { 22 } else { typ };
                // TLS 1.3's content type is the last non-zero byte of the
                // inner plaintext (RFC 8446 §5.4): with type 0 it lies in
                // the data, and may make the record application data.
                let hidden = match d.iter().rposition(|&b| b != 0) {
                    Some(at) if proto == Protocol::Tls13 && typ == 0 && d[at] == 23 => d[..at].to_vec(),
                    _ => Vec::new(),
                };
                s.seal(&mut sealer, typ, &d, pad, Kind::Other, hidden);
            }
            3 => {
                let n = byte(&mut ops);
                let d = take(&mut ops, n).to_vec();
                if !d.is_empty() {
                    s.push(&d);
                }
            }
            4 => {
                let at = byte(&mut ops) << 8 | byte(&mut ops);
                let mask = byte(&mut ops) as u8;
                if !s.wire.is_empty() && mask != 0 {
                    let at = at % s.wire.len();
                    s.wire[at] ^= mask;
                }
            }
            5 => {
                let i = byte(&mut ops);
                if !s.units.is_empty() {
                    let (a, b) = s.units[i % s.units.len()];
                    let copy = s.wire[a..b].to_vec();
                    s.push(&copy);
                }
            }
            6 => {
                if s.units.len() >= 2 {
                    let (a, m) = s.units[s.units.len() - 2];
                    let (_, b) = s.units[s.units.len() - 1];
                    let swapped = [&s.wire[m..b], &s.wire[a..m]].concat();
                    s.wire[a..b].copy_from_slice(&swapped);
                    let k = s.units.len();
                    s.units[k - 2] = (a, a + (b - m));
                    s.units[k - 1] = (a + (b - m), b);
                }
            }
            _ => {
                let n = byte(&mut ops).max(1);
                if let Some(&(a, b)) = s.units.last() {
                    let cut = n.min(b - a);
                    s.wire.truncate(b - cut);
                    let k = s.units.len();
                    s.units[k - 1] = (a, b - cut);
                }
            }
        }
    }

    // Deliver the script in reads of `per_read` bytes.
    wire.to_client.extend_from_slice(&s.wire);
    let start = wire.read_at;
    let mut got = Vec::new();
    let mut result = Ok(());
    let mut eof = false;
    let mut idle = 0;
    while wire.read_at < wire.to_client.len() || idle == 0 {
        wire.budget = per_read;
        let before = (wire.read_at, got.len());
        match client.read(&mut wire, &mut out, &mut sink) {
            Ok(st) => {
                got.extend_from_slice(sink.data());
                sink.consume(sink.len());
                if st.eof {
                    eof = true;
                    break;
                }
            }
            Err(e) => {
                got.extend_from_slice(sink.data());
                sink.consume(sink.len());
                result = Err(e);
                break;
            }
        }
        if (wire.read_at, got.len()) == before {
            idle += 1;
            if idle > 2 {
                break;
            }
        } else {
            idle = 0;
        }
    }
    let (allowed, clean) = s.authentic();
    assert!(
        got.len() <= allowed.len() && got[..] == allowed[..got.len()],
        "delivered {} bytes that are not a prefix of the {} authenticated ones",
        got.len(),
        allowed.len()
    );
    if clean {
        assert_eq!(result, Ok(()), "valid records only, yet the session failed");
        assert!(!eof, "valid records only, yet the session ended");
        assert_eq!(got.len(), allowed.len(), "valid records only, yet not all data arrived");
        assert_eq!(wire.read_at - start, s.wire.len());
    }
    let stats = client.tls_stats();
    match result {
        Err(LayerError::Tls(
            TlsFailure::Decrypt | TlsFailure::BadRecord | TlsFailure::RecordOverflow | TlsFailure::UnexpectedMessage,
        )) => assert_eq!(stats.bad_records, 1, "a refused record is counted once"),
        Err(LayerError::Tls(TlsFailure::Alert)) => assert!(stats.alerts >= 1, "a fatal alert is counted"),
        _ => {}
    }
    if result.is_err() {
        wire.budget = usize::MAX;
        assert!(client.read(&mut wire, &mut out, &mut sink).is_err(), "the layer reads on after an error");
        assert!(sink.is_empty());
    }
});
