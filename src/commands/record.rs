//! `scalpel record`: connect to a venue's public streams and write what
//! arrives in the recording format, `<local_receive_ts_ns> <raw frame>` per
//! line (gzip when the file name ends in `.gz`), frame text byte for byte.
//!
//! Book sync decides when a snapshot is needed, with the same sync machines
//! `scalpel book` and the backtest use ([`BookSync`]), so the recording
//! replays: Binance gets a REST depth snapshot line (`GET /fapi/v1/depth`,
//! the body byte for byte) after the first diffs at start and whenever the
//! sync machine asks for one (a gap, which every reconnect produces, or a
//! snapshot too old to bridge); Bybit's snapshot comes on the stream after the replayed
//! subscribe, and a Bybit gap reconnects the stream (resubscribe).
//!
//! # Invariants
//! - A frame is written before it is decoded (decoding works in place).
//! - Nothing received is dropped silently: a frame that cannot be a line
//!   (it contains a newline) is counted and reported.
//! - Binance REST snapshots carry no symbol, so a Binance recording of
//!   several symbols must go to one file per symbol (`--out` containing
//!   `{symbol}`); otherwise the command refuses to start.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::book::DEFAULT_LEVELS;
use crate::event::MarketEvent;
use crate::instrument::{LoadError, Symbol, SymbolEntry, SymbolTable};
use crate::json::JsonScratch;
use crate::net::endpoints::{Endpoints, EndpointsError, Network, Route, binance_route};
use crate::net::subscribe::{SubscribeError, Subscriptions, stream_name};
use crate::net::tls::{TlsConfigError, client_config};
use crate::net::{AppPing, ConnConfig, ConnId, ConnState, NetEvent, NetLoop, SetupError};
use crate::venue::sync::SyncOutcome;
use crate::venue::{BookSync, Decoder, Venue};

/// Binance streams recorded when `--streams` is not given.
pub const BINANCE_DEFAULT_STREAMS: &[&str] = &["depth", "bookTicker", "trade"];
/// Bybit topics recorded when `--streams` is not given.
pub const BYBIT_DEFAULT_STREAMS: &[&str] = &["orderbook.200", "publicTrade", "tickers"];

/// Options of `scalpel record`.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// Venue.
    pub venue: Venue,
    /// Symbols (upper case, as the venue names them).
    pub symbols: Vec<Symbol>,
    /// Stream kinds; the venue defaults when empty.
    pub streams: Vec<String>,
    /// Output file; `{symbol}` in it makes one file per symbol.
    pub out: PathBuf,
    /// Stop after this many seconds (else at SIGINT / SIGTERM).
    pub duration: Option<f64>,
    /// Mainnet or testnet endpoints.
    pub network: Network,
    /// Endpoints file (built-in `tuning/endpoints.toml` when `None`).
    pub endpoints: Option<PathBuf>,
    /// Override of the REST base.
    pub rest_url: Option<String>,
    /// Override of the WebSocket stream base.
    pub ws_url: Option<String>,
    /// Extra trusted CA certificates (PEM).
    pub ca_file: Option<PathBuf>,
    /// Instruments file (built-in table when `None`).
    pub instruments: Option<PathBuf>,
    /// Reconnect when a stream is silent this long (0: never).
    pub stale_after_ms: u64,
    /// Busy-poll (zero timeout) instead of waiting up to 1 ms for readiness.
    pub busy_poll: bool,
    /// Connection age limit (Binance default 23 h 30 min; Bybit none).
    pub max_age_ms: Option<u64>,
}

/// Why `scalpel record` could not run.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Writing the recording failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: io::Error,
    },
    /// The instruments could not be loaded.
    #[error("instruments: {0}")]
    Instruments(#[from] LoadError),
    /// A symbol is not a known instrument of the venue.
    #[error("symbol {0} is not a known {1} instrument (add it to tuning/instruments.toml or pass --instruments)")]
    UnknownSymbol(Symbol, Venue),
    /// A stream kind the venue does not have (or scalpel does not know).
    #[error("unknown {venue} stream kind {kind:?} (known: {known})")]
    UnknownStream {
        /// Venue.
        venue: Venue,
        /// What was asked for.
        kind: String,
        /// What is accepted.
        known: &'static str,
    },
    /// Several Binance symbols into one file.
    #[error(
        "Binance REST snapshot lines carry no symbol, so several Binance symbols cannot share one file: put {{symbol}} in --out (e.g. rec_{{symbol}}.gz)"
    )]
    NeedPerSymbolFiles,
    /// No symbol given.
    #[error("no symbols given")]
    NoSymbols,
    /// Endpoints.
    #[error("{0}")]
    Endpoints(#[from] EndpointsError),
    /// TLS configuration.
    #[error("{0}")]
    Tls(#[from] TlsConfigError),
    /// Connections could not be set up.
    #[error("{0}")]
    Setup(#[from] SetupError),
    /// The subscription registry refused a stream.
    #[error("{0}")]
    Subscribe(#[from] SubscribeError),
    /// The poller failed.
    #[error("poll: {0}")]
    Poll(io::Error),
}

/// What a recording session did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordSummary {
    /// Frames written (stream frames and REST snapshot lines).
    pub lines: u64,
    /// REST snapshot lines among them.
    pub snapshots: u64,
    /// Frames that could not be written as a line (contained a newline).
    pub unrecordable: u64,
    /// Frames that failed to decode (still written).
    pub decode_errors: u64,
    /// Gaps and corrupt frames the sync machines saw.
    pub resyncs: u64,
    /// Times a connection went down.
    pub disconnects: u64,
    /// Of those, by the staleness watchdog.
    pub stale_resets: u64,
    /// Server pings answered.
    pub pings_answered: u64,
    /// REST snapshot requests that failed (status or connection).
    pub rest_failures: u64,
    /// Connections replaced before their age limit (make-before-break).
    pub replacements: u64,
}

const BINANCE_KNOWN: &str =
    "depth, depth@100ms, depth@250ms, depth@500ms, bookTicker, trade, aggTrade, markPrice, markPrice@1s, forceOrder";
const BYBIT_KNOWN: &str =
    "orderbook.1, orderbook.50, orderbook.200, orderbook.1000, publicTrade, tickers, kline.<interval>, allLiquidation";

/// The venue's stream name for `kind` and `symbol`.
fn stream_for(venue: Venue, kind: &str, symbol: &Symbol) -> Result<String, RecordError> {
    let unknown = |known| RecordError::UnknownStream { venue, kind: kind.to_owned(), known };
    match venue {
        Venue::BinanceUsdm => {
            let suffix = match kind {
                "depth" => "depth@0ms",
                "depth@100ms" | "depth@250ms" | "depth@500ms" | "bookTicker" | "trade" | "aggTrade" | "markPrice"
                | "markPrice@1s" | "forceOrder" => kind,
                _ => return Err(unknown(BINANCE_KNOWN)),
            };
            Ok(format!("{}@{suffix}", symbol.as_str().to_ascii_lowercase()))
        }
        Venue::BybitLinear => {
            let ok = matches!(kind, "orderbook.1" | "orderbook.50" | "orderbook.200" | "orderbook.1000")
                || matches!(kind, "publicTrade" | "tickers" | "allLiquidation")
                || kind
                    .strip_prefix("kline.")
                    .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_alphanumeric()));
            if !ok {
                return Err(unknown(BYBIT_KNOWN));
            }
            Ok(format!("{kind}.{}", symbol.as_str()))
        }
    }
}

/// The symbol a stream name belongs to (Binance `btcusdt@…`, Bybit `….BTCUSDT`).
fn symbol_of(venue: Venue, stream: &[u8]) -> &[u8] {
    match venue {
        Venue::BinanceUsdm => stream.split(|&b| b == b'@').next().unwrap_or(stream),
        Venue::BybitLinear => stream.rsplit(|&b| b == b'.').next().unwrap_or(stream),
    }
}

/// One output file.
enum Sink {
    Plain(BufWriter<File>),
    Gzip(flate2::write::GzEncoder<BufWriter<File>>),
}

impl Sink {
    fn create(path: &Path) -> io::Result<Self> {
        let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
        Ok(if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz")) {
            Sink::Gzip(flate2::write::GzEncoder::new(file, flate2::Compression::default()))
        } else {
            Sink::Plain(file)
        })
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Plain(w) => w,
            Sink::Gzip(w) => w,
        }
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Sink::Plain(mut w) => w.flush(),
            Sink::Gzip(w) => w.finish()?.flush(),
        }
    }
}

struct Output {
    paths: Vec<PathBuf>,
    sinks: Vec<Sink>,
}

impl Output {
    fn line(&mut self, index: Option<usize>, ts_ns: u64, frame: &[u8]) -> Result<(), RecordError> {
        let range = match index {
            Some(i) if self.sinks.len() > 1 => i..i + 1,
            _ => 0..self.sinks.len(),
        };
        let ts = crate::venue::wire_writer::U64Text::new(ts_ns);
        for i in range {
            let w = self.sinks[i].writer();
            let res = w
                .write_all(ts.as_bytes())
                .and_then(|()| w.write_all(b" "))
                .and_then(|()| w.write_all(frame))
                .and_then(|()| w.write_all(b"\n"));
            res.map_err(|source| RecordError::Io { path: self.paths[i].display().to_string(), source })?;
        }
        Ok(())
    }
}

struct Sym {
    entry: SymbolEntry,
    sync: BookSync<DEFAULT_LEVELS>,
    want_snapshot: bool,
    diffs_since_want: u64,
    next_try_ns: u64,
}

/// Records until `duration` passes or `stop` is set; progress and problems
/// go to `err`.
///
/// # Errors
/// [`RecordError`] for bad options, unreachable endpoints at start, or a
/// failing output file. Connection drops are not errors: they reconnect.
pub fn run(opts: &RecordOptions, stop: &AtomicBool, err: &mut dyn Write) -> Result<RecordSummary, RecordError> {
    let venue = opts.venue;
    if opts.symbols.is_empty() {
        return Err(RecordError::NoSymbols);
    }
    let per_symbol = opts.out.to_string_lossy().contains("{symbol}");
    if venue == Venue::BinanceUsdm && opts.symbols.len() > 1 && !per_symbol {
        return Err(RecordError::NeedPerSymbolFiles);
    }
    let table = super::instruments::load(opts.instruments.as_deref(), venue)?;
    let symbols = SymbolTable::for_venue(&table, venue);
    let mut syms = Vec::new();
    for s in &opts.symbols {
        let entry = *symbols.find(s.as_bytes()).ok_or(RecordError::UnknownSymbol(*s, venue))?;
        syms.push(Sym {
            entry,
            sync: BookSync::new(venue, entry.tick),
            want_snapshot: venue == Venue::BinanceUsdm,
            diffs_since_want: 0,
            next_try_ns: 0,
        });
    }
    let endpoints = Endpoints::load(opts.endpoints.as_deref(), venue, opts.network)?.with_overrides(
        opts.rest_url.as_deref(),
        opts.ws_url.as_deref(),
        None,
    )?;
    let tls = client_config(opts.ca_file.as_deref())?;

    // Streams per connection: Binance by route, Bybit one public connection.
    let defaults = if venue == Venue::BinanceUsdm { BINANCE_DEFAULT_STREAMS } else { BYBIT_DEFAULT_STREAMS };
    let kinds: Vec<&str> =
        if opts.streams.is_empty() { defaults.to_vec() } else { opts.streams.iter().map(String::as_str).collect() };
    let mut by_route: Vec<(Route, Subscriptions)> = Vec::new();
    for s in &opts.symbols {
        for kind in &kinds {
            let name = stream_for(venue, kind, s)?;
            let route = if venue == Venue::BinanceUsdm { binance_route(&name) } else { Route::Public };
            let i = match by_route.iter().position(|(r, _)| *r == route) {
                Some(i) => i,
                None => {
                    by_route.push((route, Subscriptions::new(venue)));
                    by_route.len() - 1
                }
            };
            by_route[i].1.add(&name)?;
        }
    }

    let mut net = NetLoop::new(quanta::Clock::new(), 64 << 10)?;
    let mut market_conns: Vec<(ConnId, Route)> = Vec::new();
    for (route, subs) in by_route {
        let mut cfg = ConnConfig::new(endpoints.market_url(route));
        if opts.stale_after_ms > 0 {
            cfg.stale_after_ms = Some(opts.stale_after_ms);
        }
        match venue {
            // Binance closes a connection at 24 h: replace it before
            // (a new connection is subscribed before the old one closes).
            Venue::BinanceUsdm => cfg.max_age_ms = Some(opts.max_age_ms.unwrap_or(23 * 3_600_000 + 30 * 60_000)),
            Venue::BybitLinear => {
                cfg.ping = Some(AppPing { every_ms: 20_000, text: b"{\"op\":\"ping\"}".to_vec() });
                cfg.max_age_ms = opts.max_age_ms;
            }
        }
        let id = net.add_websocket(cfg, Some(tls.clone()), subs, None)?;
        market_conns.push((id, route));
    }
    let rest = if venue == Venue::BinanceUsdm {
        let mut cfg = ConnConfig::new(endpoints.rest.clone());
        cfg.max_message = 8 << 20;
        cfg.recv_capacity = 9 << 20;
        Some(net.add_http(cfg, Some(tls.clone()))?)
    } else {
        None
    };

    let mut out = Output { paths: Vec::new(), sinks: Vec::new() };
    let templates: Vec<String> = if per_symbol {
        opts.symbols.iter().map(|s| opts.out.to_string_lossy().replace("{symbol}", s.as_str())).collect()
    } else {
        vec![opts.out.to_string_lossy().into_owned()]
    };
    for p in templates {
        let path = PathBuf::from(p);
        let sink =
            Sink::create(&path).map_err(|source| RecordError::Io { path: path.display().to_string(), source })?;
        out.paths.push(path);
        out.sinks.push(sink);
    }
    let _ = writeln!(
        err,
        "record: {venue} {} stream(s) on {} connection(s) → {}",
        kinds.len() * syms.len(),
        market_conns.len(),
        out.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    );

    let mut decoder = Decoder::new(venue, &table);
    let mut scratch = JsonScratch::default();
    let mut summary = RecordSummary::default();
    let mut in_flight: Option<usize> = None;
    let mut target = [0u8; 96];
    let deadline_ns = opts.duration.map(|s| (s.max(0.0) * 1e9) as u64);
    let unix = net.unix_clock();
    let wait = if opts.busy_poll { Duration::ZERO } else { Duration::from_millis(1) };
    let mut reconnect_public = false;

    while !stop.load(Ordering::Relaxed) && deadline_ns.is_none_or(|d| net.now_ns() < d) {
        net.poll_wait(wait).map_err(RecordError::Poll)?;
        let now = net.now_ns();
        while let Some(ev) = net.next_event() {
            match ev {
                NetEvent::Frame { conn, rx_raw, data, .. } => {
                    let ts = unix.unix_ns(rx_raw);
                    if data.contains(&b'\n') {
                        summary.unrecordable += 1;
                        let _ = writeln!(
                            err,
                            "record: frame on connection {} contains a newline: not recordable as a line (counted)",
                            conn.0
                        );
                        continue;
                    }
                    let index = stream_name(data).and_then(|name| {
                        let sym = symbol_of(venue, name);
                        syms.iter().position(|s| s.entry.symbol.as_bytes().eq_ignore_ascii_case(sym))
                    });
                    out.line(index, ts, data)?;
                    summary.lines += 1;
                    let mut resync = false;
                    let mut decode_error = false;
                    decoder.decode_frame(&mut scratch, data, |event| match event {
                        Ok(MarketEvent::Depth(diff)) => {
                            if let Some(s) = syms.iter_mut().find(|s| s.entry.id == diff.inst) {
                                s.diffs_since_want += 1;
                                s.sync.on_diff(&diff, |_, o| {
                                    resync |= matches!(o, SyncOutcome::Gap { .. } | SyncOutcome::Corrupt(_))
                                });
                            }
                        }
                        Ok(MarketEvent::Snapshot(snap)) => {
                            if let Some(s) = syms.iter_mut().find(|s| s.entry.id == snap.inst) {
                                s.sync.on_snapshot(&snap, |_, _| {});
                            }
                        }
                        Ok(_) => {}
                        Err(_) => decode_error = true,
                    });
                    summary.decode_errors += u64::from(decode_error);
                    summary.resyncs += u64::from(resync);
                    for s in &mut syms {
                        if s.sync.take_resync_request() {
                            match venue {
                                Venue::BinanceUsdm => {
                                    s.want_snapshot = true;
                                    s.diffs_since_want = 0;
                                }
                                Venue::BybitLinear => reconnect_public = true,
                            }
                        }
                    }
                }
                NetEvent::State { conn, state, reason } => {
                    if let Some(reason) = reason {
                        summary.disconnects += 1;
                        let _ = writeln!(err, "record: connection {} down ({reason}); reconnecting", conn.0);
                    }
                    // A reconnect needs no snapshot of its own: the first diff
                    // after it does not continue the sequence (the venue does
                    // not replay what was missed), the sync machine reports the
                    // gap, buffers, and asks for the snapshot. Requesting one on
                    // every connect could land an older snapshot on a book that
                    // is still in sequence.
                    if state == ConnState::Live {
                        let _ = writeln!(err, "record: connection {} live", conn.0);
                    }
                }
                NetEvent::Response { status, rx_raw, body, .. } => {
                    let Some(i) = in_flight.take() else { continue };
                    let s = &mut syms[i];
                    if status != 200 {
                        summary.rest_failures += 1;
                        let delay = if status == 429 || status == 418 { 5_000 } else { 1_000 };
                        s.next_try_ns = now + delay * 1_000_000;
                        let _ = writeln!(
                            err,
                            "record: depth snapshot for {} answered HTTP {status}; retrying in {delay} ms",
                            s.entry.symbol
                        );
                        continue;
                    }
                    if body.contains(&b'\n') {
                        summary.unrecordable += 1;
                        s.next_try_ns = now + 1_000_000_000;
                        let _ = writeln!(
                            err,
                            "record: depth snapshot for {} contains a newline: not recorded, retrying",
                            s.entry.symbol
                        );
                        continue;
                    }
                    out.line(Some(i), unix.unix_ns(rx_raw), body)?;
                    summary.lines += 1;
                    summary.snapshots += 1;
                    s.want_snapshot = false;
                    decoder.set_snapshot_instrument(Some(s.entry.id));
                    let mut ok = false;
                    decoder.decode_frame(&mut scratch, body, |event| {
                        if let Ok(MarketEvent::Snapshot(snap)) = event {
                            ok = true;
                            s.sync.on_snapshot(&snap, |_, _| {});
                        }
                    });
                    if !ok {
                        summary.decode_errors += 1;
                        s.want_snapshot = true;
                        s.next_try_ns = now + 1_000_000_000;
                    }
                    if s.sync.take_resync_request() {
                        s.want_snapshot = true;
                        s.diffs_since_want = 0;
                    }
                }
                NetEvent::Replaced { conn } => {
                    summary.replacements += 1;
                    let _ = writeln!(
                        err,
                        "record: connection {} replaced before its age limit (make-before-break)",
                        conn.0
                    );
                }
                NetEvent::RequestFailed { .. } => {
                    if let Some(i) = in_flight.take() {
                        summary.rest_failures += 1;
                        syms[i].next_try_ns = now + 200_000_000;
                    }
                }
            }
        }
        if reconnect_public {
            reconnect_public = false;
            let _ = writeln!(err, "record: book gap: resubscribing");
            for &(c, _) in &market_conns {
                net.reconnect(c);
            }
        }
        if let Some(rest) = rest
            && in_flight.is_none()
            && net.http_ready(rest)
            && let Some(i) = syms.iter().position(|s| s.want_snapshot && s.diffs_since_want > 0 && now >= s.next_try_ns)
            && let Ok(n) = crate::venue::binance::rest::depth_target(&syms[i].entry.symbol, 1000, &mut target)
            && net.http_request(rest, "GET", &target[..n], &[], b"").is_ok()
        {
            in_flight = Some(i);
        }
    }
    for &(c, _) in &market_conns {
        if let Some(st) = net.stats(c) {
            summary.stale_resets += st.stale_resets;
            summary.pings_answered += st.pings_answered;
        }
        net.close(c);
    }
    for (sink, path) in out.sinks.into_iter().zip(&out.paths) {
        sink.finish().map_err(|source| RecordError::Io { path: path.display().to_string(), source })?;
    }
    let _ = writeln!(
        err,
        "record: {} lines ({} REST snapshots), {} disconnects ({} stale), {} replacements, {} resyncs, {} pings answered, {} decode errors, {} unrecordable, {} REST failures",
        summary.lines,
        summary.snapshots,
        summary.disconnects,
        summary.stale_resets,
        summary.replacements,
        summary.resyncs,
        summary.pings_answered,
        summary.decode_errors,
        summary.unrecordable,
        summary.rest_failures
    );
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(venue: Venue, symbols: &[&str], out: &str) -> RecordOptions {
        RecordOptions {
            venue,
            symbols: symbols.iter().map(|s| s.parse().unwrap()).collect(),
            streams: Vec::new(),
            out: PathBuf::from(out),
            duration: Some(0.0),
            network: Network::Mainnet,
            endpoints: None,
            rest_url: None,
            ws_url: None,
            ca_file: None,
            instruments: None,
            stale_after_ms: 0,
            busy_poll: false,
            max_age_ms: None,
        }
    }

    #[test]
    fn refusals_before_any_connection() {
        let stop = AtomicBool::new(false);
        let mut err = Vec::new();
        let two = opts(Venue::BinanceUsdm, &["BTCUSDT", "ETHUSDT"], "/nonexistent/rec.gz");
        assert!(matches!(run(&two, &stop, &mut err), Err(RecordError::NeedPerSymbolFiles)));
        let none = opts(Venue::BinanceUsdm, &[], "/nonexistent/rec.gz");
        assert!(matches!(run(&none, &stop, &mut err), Err(RecordError::NoSymbols)));
        let unknown = opts(Venue::BybitLinear, &["NOPEUSDT"], "/nonexistent/rec.gz");
        assert!(matches!(run(&unknown, &stop, &mut err), Err(RecordError::UnknownSymbol(..))));
        let mut bad_kind = opts(Venue::BybitLinear, &["BTCUSDT"], "/nonexistent/rec.gz");
        bad_kind.streams = vec!["orderbook.7".into()];
        let e = run(&bad_kind, &stop, &mut err).unwrap_err().to_string();
        assert!(e.contains("orderbook.7") && e.contains("orderbook.200"), "{e}");
    }

    #[test]
    fn stream_names_and_symbols() {
        let btc: Symbol = "BTCUSDT".parse().unwrap();
        assert_eq!(stream_for(Venue::BinanceUsdm, "depth", &btc).unwrap(), "btcusdt@depth@0ms");
        assert_eq!(stream_for(Venue::BinanceUsdm, "aggTrade", &btc).unwrap(), "btcusdt@aggTrade");
        assert_eq!(stream_for(Venue::BybitLinear, "kline.1", &btc).unwrap(), "kline.1.BTCUSDT");
        assert!(stream_for(Venue::BinanceUsdm, "orderbook.200", &btc).is_err());
        assert_eq!(symbol_of(Venue::BinanceUsdm, b"btcusdt@depth@0ms"), b"btcusdt");
        assert_eq!(symbol_of(Venue::BybitLinear, b"orderbook.200.BTCUSDT"), b"BTCUSDT");
    }
}
