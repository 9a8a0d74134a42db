//! The loopback floor: what the machine allows for one message each way
//! over TCP on 127.0.0.1, measured beside `scalpel latency --path wire` so
//! its wire-to-wire figure reads as a ratio to it.
//!
//! Two threads ping-pong over one loopback TCP connection with the sizes of
//! the measured session's messages: the *venue* side (the current thread,
//! in the simulator's role) writes a market-frame-sized message, the
//! *engine* side (a thread of its own) reads all of it and answers an
//! order-request-sized message, which the venue side reads back. One
//! round's time is stamped on the venue side only (one clock, no cross-core
//! comparison): one-way = round trip / 2, i.e. the mean of the two
//! directions.
//!
//! Variants ([`FloorKind`]):
//! - `Plain`: non-blocking sockets, both sides spinning on `read`
//!   (busy-poll, as the engine's hot thread does when `busy_poll = true`);
//! - `Tls`: the same with rustls (TLS 1.3, the simulator's generated CA and
//!   certificate, [`crate::sim::tls::TlsMaterial`]) on both ends: each
//!   message is encrypted and decrypted once per direction, as on the
//!   measured path. rustls' buffered API is used here (one plaintext copy
//!   per direction more than the engine's unbuffered client: tens of ns);
//! - `Blocking`: plain TCP, blocking reads (the kernel wakes the reader):
//!   what a design that waits for readiness pays per hop.
//!
//! Both sockets have `TCP_NODELAY`. Nothing here is on any trading path.
//!
//! # Invariants
//! - A round is recorded only when every byte of both messages has crossed;
//!   a short read never completes a round.
//! - The run ends after `rounds` timed rounds or `max_secs`, whichever comes
//!   first; a peer that closes or fails ends it with [`FloorError`], never
//!   a hang (the engine side's reads time out through the venue side's
//!   close, and the venue side checks the deadline while it spins).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::report::MAX_TRACKABLE_NS;

/// How the two ends talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloorKind {
    /// Plain TCP, non-blocking, spinning on read.
    Plain,
    /// rustls on both ends, non-blocking, spinning on read.
    Tls,
    /// Plain TCP, blocking reads.
    Blocking,
}

impl FloorKind {
    /// Every variant, in report order.
    pub const ALL: [FloorKind; 3] = [FloorKind::Plain, FloorKind::Tls, FloorKind::Blocking];

    /// The stage name in reports.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            FloorKind::Plain => "floor_plain",
            FloorKind::Tls => "floor_tls",
            FloorKind::Blocking => "floor_blocking",
        }
    }
}

/// What one floor run does.
#[derive(Debug, Clone, Copy)]
pub struct FloorConfig {
    /// Bytes the venue side writes per round (a market frame).
    pub market_bytes: usize,
    /// Bytes the engine side answers per round (an order request).
    pub order_bytes: usize,
    /// Untimed rounds first (connection, caches, TLS keys warm).
    pub warmup: u32,
    /// Timed rounds.
    pub rounds: u32,
    /// Longest the timed rounds may take, s.
    pub max_secs: f64,
}

impl FloorConfig {
    /// Largest message either way (the messages are held in fixed buffers).
    pub const MAX_BYTES: usize = 1 << 20;
}

/// Why a floor run failed.
#[derive(Debug, thiserror::Error)]
pub enum FloorError {
    /// A socket call failed (or the peer closed).
    #[error("loopback floor: {0}")]
    Io(#[from] io::Error),
    /// TLS set-up or a record failed.
    #[error("loopback floor, TLS: {0}")]
    Tls(String),
    /// A message size of 0 or above [`FloorConfig::MAX_BYTES`].
    #[error("loopback floor: message sizes must be 1..={max} bytes (market {0}, order {1})", max = FloorConfig::MAX_BYTES)]
    Size(usize, usize),
    /// The engine-side thread panicked.
    #[error("loopback floor: the engine-side thread panicked")]
    Thread,
}

/// What one floor run measured.
#[derive(Debug, Clone)]
pub struct FloorResult {
    /// Which variant.
    pub kind: FloorKind,
    /// One-way latency (round trip / 2) per timed round, ns.
    pub one_way: Histogram<u64>,
    /// Timed rounds completed (fewer than asked when `max_secs` ran out).
    pub rounds: u64,
}

/// One end of the connection: whole messages out, whole messages in.
trait Pipe {
    /// Writes all of `buf`.
    fn send(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Reads exactly `buf.len()` bytes; gives up with `TimedOut` after the
    /// pipe's deadline.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()>;
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the peer closed the connection")
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "no answer before the deadline")
}

/// What a socket call's result means: `Some(v)` done; `None` try again
/// (it would block or was interrupted: spin, and give up with `TimedOut`
/// once `deadline` has passed, the clock read once per 4096 tries, or on
/// every try when `spins` is `None`: a blocking socket's read timeout); or
/// the error.
fn again<T>(r: io::Result<T>, spins: Option<&mut u32>, deadline: Instant) -> io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {
            let check = spins.is_none_or(|n| {
                *n = n.wrapping_add(1);
                *n % 4096 == 0
            });
            if check && Instant::now() > deadline {
                return Err(timed_out());
            }
            std::hint::spin_loop();
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Plain TCP, spinning (`busy`: non-blocking) or blocking.
struct PlainPipe {
    sock: TcpStream,
    busy: bool,
    deadline: Instant,
}

impl PlainPipe {
    fn new(sock: TcpStream, busy: bool, deadline: Instant) -> io::Result<Self> {
        sock.set_nodelay(true)?;
        sock.set_nonblocking(busy)?;
        if !busy {
            // A blocking read on a silent socket wakes up now and then to
            // check the deadline.
            sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        }
        Ok(Self { sock, busy, deadline })
    }
}

impl Pipe for PlainPipe {
    fn send(&mut self, mut buf: &[u8]) -> io::Result<()> {
        let mut spins = 0;
        while !buf.is_empty() {
            match again(self.sock.write(buf), self.busy.then_some(&mut spins), self.deadline)? {
                Some(0) => return Err(closed()),
                Some(n) => buf = &buf[n..],
                None => {}
            }
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let (mut got, mut spins) = (0, 0);
        while got < buf.len() {
            match again(self.sock.read(&mut buf[got..]), self.busy.then_some(&mut spins), self.deadline)? {
                Some(0) => return Err(closed()),
                Some(n) => got += n,
                None => {}
            }
        }
        Ok(())
    }
}

/// rustls over a non-blocking socket, spinning.
struct TlsPipe {
    conn: rustls::Connection,
    sock: TcpStream,
    deadline: Instant,
}

impl TlsPipe {
    /// Completes the handshake on the blocking socket, then goes
    /// non-blocking.
    fn new(mut conn: rustls::Connection, mut sock: TcpStream, deadline: Instant) -> io::Result<Self> {
        sock.set_nodelay(true)?;
        sock.set_read_timeout(Some(Duration::from_secs(5)))?;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock)?;
        }
        while conn.wants_write() {
            conn.write_tls(&mut sock)?;
        }
        sock.set_nonblocking(true)?;
        Ok(Self { conn, sock, deadline })
    }
}

fn tls_io(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Pipe for TlsPipe {
    fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        self.conn.writer().write_all(buf)?;
        let mut spins = 0;
        while self.conn.wants_write() {
            again(self.conn.write_tls(&mut self.sock), Some(&mut spins), self.deadline)?;
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let (mut got, mut spins) = (0, 0);
        while got < buf.len() {
            match self.conn.reader().read(&mut buf[got..]) {
                Ok(0) => return Err(closed()),
                Ok(n) => {
                    got += n;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            match again(self.conn.read_tls(&mut self.sock), Some(&mut spins), self.deadline)? {
                Some(0) => return Err(closed()),
                Some(_) => {
                    self.conn.process_new_packets().map_err(tls_io)?;
                }
                None => {}
            }
        }
        Ok(())
    }
}

/// The engine side: read a market message, answer an order message, until
/// the venue side closes.
fn engine_side(mut pipe: Box<dyn Pipe + Send>, cfg: FloorConfig) -> io::Result<()> {
    let mut market = vec![0u8; cfg.market_bytes];
    let order = vec![b'o'; cfg.order_bytes];
    loop {
        match pipe.recv(&mut market) {
            Ok(()) => {}
            // The venue side is done and closed: the normal end.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        pipe.send(&order)?;
    }
}

/// The two connected ends of one variant: (venue side, engine side).
type Ends = (Box<dyn Pipe + Send>, Box<dyn Pipe + Send>);

/// Connects the two ends of one variant over 127.0.0.1.
fn connect(kind: FloorKind, deadline: Instant) -> Result<Ends, FloorError> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    let addr = listener.local_addr()?;
    let client = TcpStream::connect(addr)?;
    let (server, _) = listener.accept()?;
    match kind {
        FloorKind::Plain | FloorKind::Blocking => {
            let busy = kind == FloorKind::Plain;
            Ok((Box::new(PlainPipe::new(server, busy, deadline)?), Box::new(PlainPipe::new(client, busy, deadline)?)))
        }
        FloorKind::Tls => {
            let tls = |e: &dyn std::fmt::Display| FloorError::Tls(e.to_string());
            let material = crate::sim::tls::TlsMaterial::generate(None).map_err(|e| tls(&e))?;
            let server_cfg = material.server_config().map_err(|e| tls(&e))?;
            let client_cfg = material.client_config().map_err(|e| tls(&e))?;
            let name = rustls_pki_types::ServerName::try_from("localhost").map_err(|e| tls(&e))?;
            let server_conn = rustls::ServerConnection::new(Arc::clone(&server_cfg)).map_err(|e| tls(&e))?;
            let client_conn = rustls::ClientConnection::new(client_cfg, name).map_err(|e| tls(&e))?;
            // The handshake needs both ends at once: the server's on a thread.
            let server_side = std::thread::Builder::new()
                .name("floor-tls-accept".into())
                .spawn(move || TlsPipe::new(rustls::Connection::Server(server_conn), server, deadline))?;
            let engine = TlsPipe::new(rustls::Connection::Client(client_conn), client, deadline)?;
            let venue = server_side.join().map_err(|_| FloorError::Thread)??;
            Ok((Box::new(venue), Box::new(engine)))
        }
    }
}

/// Runs one variant: `warmup` untimed rounds, then up to `rounds` timed
/// ones within `max_secs`.
///
/// # Errors
/// [`FloorError`]: a socket or TLS failure, bad sizes, a panicked thread.
pub fn measure(kind: FloorKind, cfg: FloorConfig) -> Result<FloorResult, FloorError> {
    if !(1..=FloorConfig::MAX_BYTES).contains(&cfg.market_bytes)
        || !(1..=FloorConfig::MAX_BYTES).contains(&cfg.order_bytes)
    {
        return Err(FloorError::Size(cfg.market_bytes, cfg.order_bytes));
    }
    let budget = Duration::from_secs_f64(cfg.max_secs.max(0.0));
    // Warm-up gets as long again as the timed rounds, plus a margin.
    let deadline = Instant::now() + budget * 2 + Duration::from_secs(10);
    let (mut venue, engine) = connect(kind, deadline)?;
    let engine =
        std::thread::Builder::new().name(format!("floor-{}", kind.name())).spawn(move || engine_side(engine, cfg))?;
    let mut one_way = Histogram::new_with_bounds(1, MAX_TRACKABLE_NS, 3)
        .map_err(|e| FloorError::Io(io::Error::other(e.to_string())))?;
    let clock = quanta::Clock::new();
    let market = vec![b'm'; cfg.market_bytes];
    let mut order = vec![0u8; cfg.order_bytes];
    let mut run = || -> io::Result<u64> {
        for _ in 0..cfg.warmup {
            venue.send(&market)?;
            venue.recv(&mut order)?;
        }
        let stop = Instant::now() + budget;
        let mut done = 0u64;
        while done < u64::from(cfg.rounds) {
            let t0 = clock.raw();
            venue.send(&market)?;
            venue.recv(&mut order)?;
            let t1 = clock.raw();
            one_way.saturating_record((clock.delta_as_nanos(t0, t1) / 2).max(1));
            done += 1;
            if done % 256 == 0 && Instant::now() > stop {
                break;
            }
        }
        Ok(done)
    };
    let result = run();
    // Closing the venue side ends the engine side's loop.
    drop(venue);
    let engine_result = engine.join().map_err(|_| FloorError::Thread)?;
    let rounds = result?;
    engine_result?;
    Ok(FloorResult { kind, one_way, rounds })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(market: usize, order: usize) -> FloorConfig {
        FloorConfig { market_bytes: market, order_bytes: order, warmup: 10, rounds: 200, max_secs: 5.0 }
    }

    #[test]
    fn every_variant_completes_its_rounds_with_positive_one_way_times() {
        for kind in FloorKind::ALL {
            let r = measure(kind, cfg(300, 250)).unwrap();
            assert_eq!(r.kind, kind);
            assert_eq!(r.rounds, 200, "{kind:?}");
            assert_eq!(r.one_way.len(), 200, "{kind:?}");
            assert!(r.one_way.min() >= 1 && r.one_way.max() < MAX_TRACKABLE_NS, "{kind:?}");
        }
    }

    #[test]
    fn messages_larger_than_a_tls_record_and_a_socket_read_cross_whole() {
        // 40 kB: several TLS records (16 kB each) and several reads per
        // message; a round completes only when every byte arrived.
        let r = measure(FloorKind::Tls, FloorConfig { rounds: 20, ..cfg(40_000, 17_000) }).unwrap();
        assert_eq!(r.rounds, 20);
        let r = measure(FloorKind::Plain, FloorConfig { rounds: 20, ..cfg(40_000, 1) }).unwrap();
        assert_eq!(r.rounds, 20);
    }

    #[test]
    fn bad_sizes_are_refused_before_any_socket() {
        assert!(matches!(measure(FloorKind::Plain, cfg(0, 10)), Err(FloorError::Size(0, 10))));
        assert!(matches!(measure(FloorKind::Tls, cfg(10, FloorConfig::MAX_BYTES + 1)), Err(FloorError::Size(10, _))));
    }

    #[test]
    fn the_time_budget_ends_a_run_early_and_counts_what_was_done() {
        let r = measure(FloorKind::Blocking, FloorConfig { rounds: u32::MAX, max_secs: 0.2, ..cfg(100, 100) }).unwrap();
        assert!(r.rounds > 0 && r.rounds < u64::from(u32::MAX));
        assert_eq!(r.one_way.len(), r.rounds);
    }
}
