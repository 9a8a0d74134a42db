//! What the engine tells the outside while it runs: counters published by
//! the hot thread (relaxed atomic stores every 100 ms, never a lock) and
//! events on a lossy ring (counted when full). Formatting happens on the
//! reader's thread ([`EngineStats::status_line`]), never on the hot thread.

use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};

use crate::core::FeedId;
use crate::instrument::{InstrumentId, Venue};
use crate::net::{ConnState, DownReason};
use crate::order::ClientOrderId;

/// Engine-wide counters (index into [`SharedStats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Counter {
    /// Market frames given to the core.
    MarketFrames,
    /// Private frames given to the core.
    PrivateFrames,
    /// Frames the core could not decode (market) or parse (private).
    DecodeErrors,
    /// Orders sent to a venue (or to the paper exchange in a dry run).
    OrdersSent,
    /// Of those, over the order WebSocket.
    OrdersWs,
    /// Of those, over REST.
    OrdersRest,
    /// Cancels sent.
    CancelsSent,
    /// Orders acknowledged (ledger).
    Acked,
    /// Fills (ledger, each execution once).
    Fills,
    /// Orders cancelled (ledger).
    Cancelled,
    /// Orders expired (ledger).
    Expired,
    /// Orders rejected (ledger: venue, or not sent).
    Rejected,
    /// Intents the transport could not send (reported to the core).
    SendFailures,
    /// Orders or cancels whose answer was lost (queried over REST).
    Unknown,
    /// Of those, settled by the query.
    Resolved,
    /// Orders still unsettled (now; at the end: lost).
    Unsettled,
    /// Connections that went down.
    Disconnects,
    /// Connections (re)established.
    Connects,
    /// Authentications accepted.
    AuthOk,
    /// Authentications refused.
    AuthFailed,
    /// Book resyncs (gaps, reconnects, crossed books).
    Resyncs,
    /// Binance REST depth snapshots applied.
    Snapshots,
    /// Snapshot requests that failed.
    SnapshotFailures,
    /// Bybit books resubscribed.
    Resubscribes,
    /// listenKeys created (start included) or renewed after expiry.
    ListenKeys,
    /// `listenKeyExpired` events seen.
    ListenKeyExpired,
    /// listenKey creations refused or failed (each retried after 1 s, 5 s
    /// after a 418 or 429).
    ListenKeyFailed,
    /// Dead-man refreshes accepted.
    DeadmanOk,
    /// Dead-man refreshes refused or failed.
    DeadmanFailed,
    /// Positions flattened because their market data went dark.
    DarkFlattens,
    /// Orders refused by the venue for rate limits.
    RateLimited,
    /// Duplicate order events (venue repeats) dropped by the ledger.
    Duplicates,
    /// Flight-recorder records dropped.
    RecorderDropped,
    /// Events dropped from the event ring.
    EventsDropped,
    /// Core timer calls.
    Timers,
    /// Open-interest figures of the Binance poll given to the core.
    OpenInterest,
    /// Open-interest polls that failed (no answer, an error status, an
    /// answer that did not parse or named another symbol).
    OpenInterestFailed,
    /// Why-records of placed orders (entry context, exit reason) handed to
    /// the journal.
    OrderContexts,
    /// Of those, dropped because their ring to the journal was full.
    ContextsDropped,
    /// Fill-fetch pages requested (after a private stream came back).
    FillFetches,
    /// Fill-fetch pages answered and applied.
    FillPages,
    /// Fill-fetch requests that failed (no answer, refused, not parsed);
    /// each is tried again, up to a bound.
    FillFetchesFailed,
    /// Fills the fetches recovered: missed by a private stream while it was
    /// down, now in the ledger.
    FillsRecovered,
    /// Heap allocations made by the hot thread so far, when the binary's
    /// allocator counts them ([`super::Hooks::thread_allocations`]; else 0).
    HotAllocations,
}

/// Number of [`Counter`]s.
pub const COUNTERS: usize = Counter::HotAllocations as usize + 1;

/// One connection's published state.
#[derive(Debug, Default)]
pub struct ConnSlot {
    state: AtomicU8,
    messages: AtomicU64,
    last_rx_unix_ns: AtomicU64,
    downs: AtomicU64,
}

/// One instrument's published state.
#[derive(Debug, Default)]
pub struct InstSlot {
    position: AtomicI64,
    unrealised_e8: AtomicI64,
    resyncs: AtomicU64,
    book_live: AtomicU8,
}

/// What the hot thread publishes (read with [`SharedStats::snapshot`]).
#[derive(Debug)]
pub struct SharedStats {
    counters: [AtomicU64; COUNTERS],
    conns: Box<[ConnSlot]>,
    insts: Box<[InstSlot]>,
    realised_e8: AtomicI64,
    published_unix_ns: AtomicU64,
}

/// Code of a [`ConnState`] in the published slot.
fn state_code(s: ConnState) -> u8 {
    match s {
        ConnState::Backoff => 0,
        ConnState::Connecting => 1,
        ConnState::TlsHandshake => 2,
        ConnState::Upgrading => 3,
        ConnState::Authenticating => 4,
        ConnState::Subscribing => 5,
        ConnState::Live => 6,
        ConnState::Closed => 7,
    }
}

fn state_of(code: u8) -> ConnState {
    match code {
        1 => ConnState::Connecting,
        2 => ConnState::TlsHandshake,
        3 => ConnState::Upgrading,
        4 => ConnState::Authenticating,
        5 => ConnState::Subscribing,
        6 => ConnState::Live,
        7 => ConnState::Closed,
        _ => ConnState::Backoff,
    }
}

/// A snapshot of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnStats {
    /// State.
    pub state: ConnState,
    /// Messages (frames or responses) received.
    pub messages: u64,
    /// Receive time of the last message, Unix ns (0: none yet).
    pub last_rx_unix_ns: u64,
    /// Times it went down.
    pub downs: u64,
}

/// A snapshot of one instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstStats {
    /// The ledger's position (quantity mantissa).
    pub position: i64,
    /// Unrealised PnL at the mid, 1e-8 USDT.
    pub unrealised_e8: i64,
    /// Book resyncs.
    pub resyncs: u64,
    /// The book is in sync.
    pub book_live: bool,
}

/// A snapshot of everything published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineStats {
    /// Counters by [`Counter`].
    pub counters: [u64; COUNTERS],
    /// Connections, by index.
    pub conns: Vec<ConnStats>,
    /// Instruments, by index.
    pub insts: Vec<InstStats>,
    /// Realised PnL net of fees and funding, 1e-8 USDT.
    pub realised_e8: i64,
    /// When this was published, Unix ns.
    pub published_unix_ns: u64,
}

impl EngineStats {
    /// One counter.
    #[must_use]
    pub fn get(&self, c: Counter) -> u64 {
        self.counters[c as usize]
    }

    /// The status line (per connection: state, messages/s since `prev`,
    /// last message age, downs; orders, fills, positions, PnL).
    #[must_use]
    pub fn status_line(&self, prev: Option<&EngineStats>, conn_names: &[String], inst_names: &[String]) -> String {
        let secs = prev.map_or(0.0, |p| self.published_unix_ns.saturating_sub(p.published_unix_ns) as f64 / 1e9);
        let mut s = String::from("status:");
        for (i, c) in self.conns.iter().enumerate() {
            let name = conn_names.get(i).map_or("?", String::as_str);
            let rate = match prev.and_then(|p| p.conns.get(i)) {
                Some(p) if secs > 0.0 => format!("{:.0}/s", c.messages.saturating_sub(p.messages) as f64 / secs),
                _ => format!("{} msgs", c.messages),
            };
            let age = if c.last_rx_unix_ns == 0 {
                "-".to_owned()
            } else {
                format!("{:.1}s", self.published_unix_ns.saturating_sub(c.last_rx_unix_ns) as f64 / 1e9)
            };
            s.push_str(&format!(" [{name} {} {rate} age {age} downs {}]", state_name(c.state), c.downs));
        }
        for (i, st) in self.insts.iter().enumerate() {
            let name = inst_names.get(i).map_or("?", String::as_str);
            s.push_str(&format!(
                " [{name} {} pos {} upnl {:.4} resyncs {}]",
                if st.book_live { "in-sync" } else { "OUT-OF-SYNC" },
                st.position,
                st.unrealised_e8 as f64 / 1e8,
                st.resyncs
            ));
        }
        s.push_str(&format!(
            " orders sent {} acked {} fills {} cancelled {} rejected {} unsettled {} | pnl {:.4} USDT",
            self.get(Counter::OrdersSent),
            self.get(Counter::Acked),
            self.get(Counter::Fills),
            self.get(Counter::Cancelled),
            self.get(Counter::Rejected),
            self.get(Counter::Unsettled),
            self.realised_e8 as f64 / 1e8
        ));
        s
    }
}

/// The name of a connection state for humans.
#[must_use]
pub fn state_name(s: ConnState) -> &'static str {
    match s {
        ConnState::Backoff => "down",
        ConnState::Connecting => "connecting",
        ConnState::TlsHandshake => "tls",
        ConnState::Upgrading => "upgrading",
        ConnState::Authenticating => "auth",
        ConnState::Subscribing => "subscribing",
        ConnState::Live => "live",
        ConnState::Closed => "closed",
    }
}

impl SharedStats {
    /// Slots for `conns` connections and `insts` instruments.
    #[must_use]
    pub fn new(conns: usize, insts: usize) -> Self {
        Self {
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
            conns: (0..conns).map(|_| ConnSlot::default()).collect(),
            insts: (0..insts).map(|_| InstSlot::default()).collect(),
            realised_e8: AtomicI64::new(0),
            published_unix_ns: AtomicU64::new(0),
        }
    }

    /// Publishes the counters.
    pub fn set_counters(&self, values: &[u64; COUNTERS]) {
        for (a, v) in self.counters.iter().zip(values) {
            a.store(*v, Ordering::Relaxed);
        }
    }

    /// Publishes a connection.
    pub fn set_conn(&self, i: usize, c: ConnStats) {
        if let Some(slot) = self.conns.get(i) {
            slot.state.store(state_code(c.state), Ordering::Relaxed);
            slot.messages.store(c.messages, Ordering::Relaxed);
            slot.last_rx_unix_ns.store(c.last_rx_unix_ns, Ordering::Relaxed);
            slot.downs.store(c.downs, Ordering::Relaxed);
        }
    }

    /// Publishes an instrument.
    pub fn set_inst(&self, i: usize, s: InstStats) {
        if let Some(slot) = self.insts.get(i) {
            slot.position.store(s.position, Ordering::Relaxed);
            slot.unrealised_e8.store(s.unrealised_e8, Ordering::Relaxed);
            slot.resyncs.store(s.resyncs, Ordering::Relaxed);
            slot.book_live.store(u8::from(s.book_live), Ordering::Relaxed);
        }
    }

    /// Publishes PnL and the publication time.
    pub fn set_totals(&self, realised_e8: i64, now_unix_ns: u64) {
        self.realised_e8.store(realised_e8, Ordering::Relaxed);
        self.published_unix_ns.store(now_unix_ns, Ordering::Release);
    }

    /// Reads everything.
    #[must_use]
    pub fn snapshot(&self) -> EngineStats {
        EngineStats {
            published_unix_ns: self.published_unix_ns.load(Ordering::Acquire),
            counters: std::array::from_fn(|i| self.counters[i].load(Ordering::Relaxed)),
            conns: self
                .conns
                .iter()
                .map(|c| ConnStats {
                    state: state_of(c.state.load(Ordering::Relaxed)),
                    messages: c.messages.load(Ordering::Relaxed),
                    last_rx_unix_ns: c.last_rx_unix_ns.load(Ordering::Relaxed),
                    downs: c.downs.load(Ordering::Relaxed),
                })
                .collect(),
            insts: self
                .insts
                .iter()
                .map(|s| InstStats {
                    position: s.position.load(Ordering::Relaxed),
                    unrealised_e8: s.unrealised_e8.load(Ordering::Relaxed),
                    resyncs: s.resyncs.load(Ordering::Relaxed),
                    book_live: s.book_live.load(Ordering::Relaxed) == 1,
                })
                .collect(),
            realised_e8: self.realised_e8.load(Ordering::Relaxed),
        }
    }
}

/// Something the operator should hear about (sent by the hot thread over a
/// lossy ring; the reader formats it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineEvent {
    /// A connection changed state (down with its reason, or live).
    Conn {
        /// Connection index.
        conn: u16,
        /// New state.
        state: ConnState,
        /// Why it went down.
        reason: Option<DownReason>,
    },
    /// An order or private connection logged on.
    Authenticated {
        /// Connection index.
        conn: u16,
    },
    /// The venue refused the log-on (the connection retries with backoff).
    AuthRejected {
        /// Connection index.
        conn: u16,
        /// The venue's code.
        code: i32,
    },
    /// A connection was replaced before its age limit.
    Replaced {
        /// Connection index.
        conn: u16,
    },
    /// A Binance listenKey was created or renewed (after expiry).
    ListenKey {
        /// Venue.
        venue: Venue,
        /// It had expired.
        after_expiry: bool,
    },
    /// A book asked for a resync (snapshot or resubscription follows).
    Resync {
        /// Instrument.
        inst: InstrumentId,
    },
    /// A depth snapshot request failed.
    SnapshotFailed {
        /// Instrument.
        inst: InstrumentId,
        /// HTTP status (0: the connection dropped).
        status: u16,
    },
    /// A feed went down or came back.
    Feed {
        /// Feed.
        feed: FeedId,
        /// Up.
        up: bool,
    },
    /// A position's market data went dark: flattened.
    DarkFlatten {
        /// Instrument.
        inst: InstrumentId,
    },
    /// An order's (or cancel's) answer was lost: it will be queried.
    OrderUnknown {
        /// The order.
        client: ClientOrderId,
    },
    /// A query settled it.
    OrderResolved {
        /// The order.
        client: ClientOrderId,
    },
    /// Still unsettled at the end of the session.
    OrderLost {
        /// The order.
        client: ClientOrderId,
    },
    /// An intent could not be sent (reported to the core).
    SendFailed {
        /// The order.
        client: ClientOrderId,
    },
    /// A dead-man refresh failed.
    DeadmanFailed {
        /// Venue.
        venue: Venue,
        /// HTTP status (0: the connection dropped).
        status: u16,
    },
    /// Shutting down (cancel all, flatten if configured).
    Stopping {
        /// Positions are being closed too.
        flatten: bool,
    },
    /// A fill fetch after a private-stream outage ended (every symbol of
    /// the venue fetched, or given up after its tries).
    FillsFetched {
        /// Venue.
        venue: Venue,
        /// Rows the venue listed.
        rows: u32,
        /// Fills the ledger had not seen (missed by the stream).
        recovered: u32,
        /// Rows about orders this engine cannot name (counted, not applied).
        foreign: u32,
        /// Symbols whose fetch failed after every try.
        failed: u32,
    },
    /// The risk thread is gone: trading halted.
    RiskGone,
    /// The risk side asked the engine to exit.
    ExitRequested,
}
