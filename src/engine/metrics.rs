//! Prometheus metrics of a running engine: the text exposition format
//! (version 0.0.4,
//! <https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format>)
//! served on `GET /metrics` by a minimal HTTP/1.1 responder on a thread of
//! its own (`metrics`), when `[metrics] listen` is configured.
//!
//! Every value comes from what the engine already publishes off the hot
//! thread: the counters, connection and instrument slots the hot thread
//! stores every 100 ms ([`super::status::SharedStats`], relaxed atomics),
//! and the latency quantiles the journal thread publishes every second
//! ([`crate::journal::thread::LatencyBoard`]). Nothing is added to the hot
//! path: a scrape reads atomics and takes the board's lock, which only the
//! journal thread and this one use.
//!
//! # Invariants
//! - The listener is bound before the engine reports itself started; a
//!   listen address that cannot be bound fails the start.
//! - One connection at a time, each answered and closed (`Connection:
//!   close`); a request head larger than 8 KiB, or not complete within 1 s,
//!   is answered 400 or dropped, never read without bound.
//! - The thread ends within ~50 ms of the engine's stop flag.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::status::{Counter, EngineStats, SharedStats, state_name};
use crate::journal::thread::LatencyBoard;

/// Counters exposed, with their metric names (`scalpel_` prefix added)
/// and help text.
const COUNTERS: [(Counter, &str, &str); super::status::COUNTERS] = [
    (Counter::MarketFrames, "market_frames_total", "Market frames given to the core."),
    (Counter::PrivateFrames, "private_frames_total", "Private frames given to the core."),
    (Counter::DecodeErrors, "decode_errors_total", "Frames the core could not decode or parse."),
    (Counter::OrdersSent, "orders_sent_total", "Orders sent to a venue."),
    (Counter::OrdersWs, "orders_sent_ws_total", "Orders sent over the order WebSocket."),
    (Counter::OrdersRest, "orders_sent_rest_total", "Orders sent over REST."),
    (Counter::CancelsSent, "cancels_sent_total", "Cancels sent."),
    (Counter::Acked, "orders_acked_total", "Orders acknowledged."),
    (Counter::Fills, "fills_total", "Fills (each execution once)."),
    (Counter::Cancelled, "orders_cancelled_total", "Orders cancelled."),
    (Counter::Expired, "orders_expired_total", "Orders expired (IOC, post-only)."),
    (Counter::Rejected, "orders_rejected_total", "Orders rejected (by the venue, or not sent)."),
    (Counter::SendFailures, "send_failures_total", "Intents the transport could not send."),
    (Counter::Unknown, "orders_unknown_total", "Orders or cancels whose answer was lost (queried)."),
    (Counter::Resolved, "orders_resolved_total", "Of those, settled by the query."),
    (Counter::Unsettled, "orders_unsettled", "Orders sent and not settled yet."),
    (Counter::Disconnects, "disconnects_total", "Connections that went down."),
    (Counter::Connects, "connects_total", "Connections (re)established."),
    (Counter::AuthOk, "auth_ok_total", "Authentications accepted."),
    (Counter::AuthFailed, "auth_failed_total", "Authentications refused."),
    (Counter::Resyncs, "resyncs_total", "Book resyncs (gaps, reconnects, crossed books)."),
    (Counter::Snapshots, "snapshots_total", "Binance REST depth snapshots applied."),
    (Counter::SnapshotFailures, "snapshot_failures_total", "Snapshot requests that failed."),
    (Counter::Resubscribes, "resubscribes_total", "Bybit books resubscribed."),
    (Counter::ListenKeys, "listen_keys_total", "Binance listenKeys created or renewed."),
    (Counter::ListenKeyExpired, "listen_key_expired_total", "listenKeyExpired events seen."),
    (Counter::ListenKeyFailed, "listen_key_failed_total", "listenKey creations refused or failed (retried later)."),
    (Counter::DeadmanOk, "deadman_ok_total", "Dead-man refreshes accepted."),
    (Counter::DeadmanFailed, "deadman_failed_total", "Dead-man refreshes refused or failed."),
    (Counter::DarkFlattens, "dark_flattens_total", "Positions flattened because their market data went dark."),
    (Counter::RateLimited, "rate_limited_total", "Orders refused by the venue for rate limits."),
    (Counter::Duplicates, "duplicate_events_total", "Duplicate order events dropped by the ledger."),
    (Counter::RecorderDropped, "recorder_dropped_total", "Flight-recorder records dropped."),
    (Counter::EventsDropped, "events_dropped_total", "Engine events dropped from the event ring."),
    (Counter::Timers, "timers_total", "Core timer calls."),
    (Counter::HotAllocations, "hot_allocations_total", "Heap allocations made by the hot thread (0 if not counted)."),
    (Counter::OpenInterest, "open_interest_total", "Binance open-interest figures given to the core."),
    (
        Counter::OpenInterestFailed,
        "open_interest_failed_total",
        "Open-interest polls that failed or were refused by the core.",
    ),
    (Counter::OrderContexts, "order_contexts_total", "Entry contexts and exit reasons handed to the journal."),
    (
        Counter::ContextsDropped,
        "order_contexts_dropped_total",
        "Entry contexts and exit reasons dropped (their ring to the journal was full).",
    ),
    (Counter::FillFetches, "fill_fetches_total", "Fill-fetch pages requested after a private stream came back."),
    (Counter::FillPages, "fill_pages_total", "Fill-fetch pages answered and applied."),
    (Counter::FillFetchesFailed, "fill_fetches_failed_total", "Fill-fetch requests that failed (retried)."),
    (
        Counter::FillsRecovered,
        "fills_recovered_total",
        "Fills missed by a private stream while it was down, recovered by a fetch.",
    ),
];

/// Connection states, in the order of the `state` label's values.
const STATES: [&str; 8] = ["down", "connecting", "tls", "upgrading", "auth", "subscribing", "live", "closed"];

/// Quantiles exposed per latency stage.
const QUANTILES: [(&str, usize); 4] = [("0.5", 0), ("0.9", 1), ("0.99", 2), ("0.999", 3)];

/// Writes `text` as a label value (backslash, quote and newline escaped).
fn label(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP scalpel_{name} {help}");
    let _ = writeln!(out, "# TYPE scalpel_{name} {kind}");
}

/// The metrics in the text exposition format.
#[must_use]
pub fn render(stats: &EngineStats, conns: &[String], insts: &[String], latency: &LatencyBoard) -> String {
    let mut out = String::with_capacity(16 * 1024);
    for (c, name, help) in COUNTERS {
        let kind = if c == Counter::Unsettled { "gauge" } else { "counter" };
        family(&mut out, name, kind, help);
        let _ = writeln!(out, "scalpel_{name} {}", stats.get(c));
    }
    family(&mut out, "connection_state", "gauge", "1 for the connection's current state, 0 for the others.");
    for (i, c) in stats.conns.iter().enumerate() {
        let now = state_name(c.state);
        for s in STATES {
            out.push_str("scalpel_connection_state{connection=\"");
            label(&mut out, conns.get(i).map_or("?", String::as_str));
            let _ = writeln!(out, "\",state=\"{s}\"}} {}", u8::from(s == now));
        }
    }
    for (name, kind, help) in [
        ("connection_messages_total", "counter", "Messages received on the connection (rate() gives messages/s)."),
        ("connection_downs_total", "counter", "Times the connection went down."),
        ("connection_last_message_seconds", "gauge", "Receive time of its last message, Unix seconds (0: none yet)."),
    ] {
        family(&mut out, name, kind, help);
        for (i, c) in stats.conns.iter().enumerate() {
            let _ = write!(out, "scalpel_{name}{{connection=\"");
            label(&mut out, conns.get(i).map_or("?", String::as_str));
            out.push_str("\"} ");
            let _ = match name {
                "connection_messages_total" => writeln!(out, "{}", c.messages),
                "connection_downs_total" => writeln!(out, "{}", c.downs),
                _ => writeln!(out, "{:.3}", c.last_rx_unix_ns as f64 / 1e9),
            };
        }
    }
    for (name, kind, help) in [
        ("position", "gauge", "The ledger's position, in quantity units of the instrument's scale (mantissa)."),
        ("unrealised_pnl_usdt", "gauge", "Unrealised PnL at the mid, USDT."),
        ("instrument_resyncs_total", "counter", "Book resyncs of the instrument."),
        ("book_in_sync", "gauge", "1 when the instrument's book is in sync."),
    ] {
        family(&mut out, name, kind, help);
        for (i, s) in stats.insts.iter().enumerate() {
            let _ = write!(out, "scalpel_{name}{{instrument=\"");
            label(&mut out, insts.get(i).map_or("?", String::as_str));
            out.push_str("\"} ");
            let _ = match name {
                "position" => writeln!(out, "{}", s.position),
                "unrealised_pnl_usdt" => writeln!(out, "{:.8}", s.unrealised_e8 as f64 / 1e8),
                "instrument_resyncs_total" => writeln!(out, "{}", s.resyncs),
                _ => writeln!(out, "{}", u8::from(s.book_live)),
            };
        }
    }
    family(&mut out, "realised_pnl_usdt", "gauge", "Realised PnL net of fees and funding, USDT.");
    let _ = writeln!(out, "scalpel_realised_pnl_usdt {:.8}", stats.realised_e8 as f64 / 1e8);
    family(&mut out, "stats_published_seconds", "gauge", "When the hot thread last published these, Unix seconds.");
    let _ = writeln!(out, "scalpel_stats_published_seconds {:.3}", stats.published_unix_ns as f64 / 1e9);
    family(
        &mut out,
        "latency_seconds",
        "summary",
        "Latency per stage since the start (journal histograms, published every second).",
    );
    for q in latency.snapshot() {
        for (name, at) in QUANTILES {
            let _ = writeln!(
                out,
                "scalpel_latency_seconds{{stage=\"{}\",quantile=\"{name}\"}} {:.9}",
                q.stage,
                q.quantiles_ns[at] as f64 / 1e9
            );
        }
        let _ = writeln!(out, "scalpel_latency_seconds_sum{{stage=\"{}\"}} {:.9}", q.stage, q.sum_ns as f64 / 1e9);
        let _ = writeln!(out, "scalpel_latency_seconds_count{{stage=\"{}\"}} {}", q.stage, q.count);
    }
    out
}

/// The metrics thread: its address and handle.
pub struct MetricsServer {
    addr: SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `listen` and serves until `stop`.
    ///
    /// # Errors
    /// The address cannot be bound, or the thread cannot be spawned.
    pub fn start(
        listen: SocketAddr,
        stats: Arc<SharedStats>,
        names: (Vec<String>, Vec<String>),
        latency: Arc<LatencyBoard>,
        stop: Arc<AtomicBool>,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let thread = std::thread::Builder::new().name("metrics".into()).spawn(move || {
            while !stop.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        // A client that misbehaves costs its own request only.
                        let _ = answer(conn, &stats, &names, &latency);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(50)),
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        })?;
        Ok(Self { addr, thread: Some(thread) })
    }

    /// The address it listens on (the port chosen when `listen` had 0).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits for the thread (after the engine's stop flag is set).
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Largest request head read.
const MAX_HEAD: usize = 8 * 1024;

/// Reads one request head and answers it.
fn answer(
    mut conn: TcpStream,
    stats: &SharedStats,
    names: &(Vec<String>, Vec<String>),
    latency: &LatencyBoard,
) -> io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(1)))?;
    conn.set_write_timeout(Some(Duration::from_secs(1)))?;
    let mut head = [0u8; MAX_HEAD];
    let mut got = 0;
    while !head[..got].windows(4).any(|w| w == b"\r\n\r\n") {
        if got == head.len() {
            return reply(&mut conn, "400 Bad Request", "text/plain", b"request head too large\n");
        }
        let n = conn.read(&mut head[got..])?;
        if n == 0 {
            return Ok(());
        }
        got += n;
    }
    let line = head[..got].split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    match (parts.next(), parts.next()) {
        (Some(b"GET"), Some(b"/metrics")) => {
            let body = render(&stats.snapshot(), &names.0, &names.1, latency);
            reply(&mut conn, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body.as_bytes())
        }
        (Some(b"GET"), Some(_)) => reply(&mut conn, "404 Not Found", "text/plain", b"only /metrics is served\n"),
        _ => reply(&mut conn, "405 Method Not Allowed", "text/plain", b"GET /metrics\n"),
    }
}

fn reply(conn: &mut TcpStream, status: &str, content_type: &str, body: &[u8]) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(body)?;
    conn.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::status::{ConnStats, InstStats};
    use crate::net::ConnState;

    fn stats() -> EngineStats {
        let mut counters = [0u64; super::super::status::COUNTERS];
        counters[Counter::OrdersSent as usize] = 7;
        counters[Counter::Fills as usize] = 3;
        EngineStats {
            counters,
            conns: vec![ConnStats { state: ConnState::Live, messages: 42, last_rx_unix_ns: 1_500_000_000, downs: 1 }],
            insts: vec![InstStats { position: -5, unrealised_e8: 150_000_000, resyncs: 2, book_live: true }],
            realised_e8: -25_000_000,
            published_unix_ns: 2_000_000_000,
        }
    }

    #[test]
    fn every_counter_is_listed_once_under_a_distinct_name() {
        let mut names: Vec<&str> = COUNTERS.iter().map(|c| c.1).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), super::super::status::COUNTERS, "each counter once");
    }

    #[test]
    fn the_text_format_has_help_type_and_samples_with_escaped_labels() {
        let board = LatencyBoard::default();
        board.publish_quantiles("tick_to_trade", 10, 50_000, [40_000, 60_000, 90_000, 120_000]);
        let text = render(&stats(), &["binance \"public\"".into()], &["binance-usdm:BTCUSDT".into()], &board);
        assert!(text.contains("# TYPE scalpel_orders_sent_total counter\nscalpel_orders_sent_total 7\n"), "{text}");
        assert!(text.contains("scalpel_fills_total 3\n"));
        assert!(text.contains("# TYPE scalpel_orders_unsettled gauge\n"));
        assert!(text.contains("scalpel_connection_state{connection=\"binance \\\"public\\\"\",state=\"live\"} 1\n"));
        assert!(text.contains("scalpel_connection_state{connection=\"binance \\\"public\\\"\",state=\"down\"} 0\n"));
        assert!(text.contains("scalpel_connection_messages_total{connection=\"binance \\\"public\\\"\"} 42\n"));
        assert!(text.contains("scalpel_position{instrument=\"binance-usdm:BTCUSDT\"} -5\n"));
        assert!(text.contains("scalpel_unrealised_pnl_usdt{instrument=\"binance-usdm:BTCUSDT\"} 1.50000000\n"));
        assert!(text.contains("scalpel_realised_pnl_usdt -0.25000000\n"));
        assert!(text.contains("# TYPE scalpel_latency_seconds summary\n"));
        assert!(text.contains("scalpel_latency_seconds{stage=\"tick_to_trade\",quantile=\"0.99\"} 0.000090000\n"));
        assert!(text.contains("scalpel_latency_seconds_count{stage=\"tick_to_trade\"} 10\n"));
        // Every sample line is `name[{labels}] value` with a number value.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let value = l.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{l}");
            assert!(l.starts_with("scalpel_"), "{l}");
        }
    }
}
