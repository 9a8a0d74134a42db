//! Wire timestamps for wire-to-wire latency: when the simulator started
//! writing each market frame to each connection (before its encryption and
//! the socket write, so no client can have the frame earlier), and when it
//! read each order request off the wire (as the WebSocket frame or HTTP
//! request was read, before parsing), both on one clock (`CLOCK_REALTIME`, ns
//! since the Unix epoch, so a client process on the same machine can
//! compare its own stamps with them).
//!
//! A latency harness pairs a frame the engine acted on (it knows the
//! frame's exchange id: Binance `u` / trade `t`, Bybit `u` / `seq`, see
//! [`PublishedFrame`]) with the order it sent in response (its client order
//! id, see [`OrderStamp`]): wire-to-wire = order `read_ns` − frame
//! `write_ns` on the engine's connection.
//!
//! # Invariants
//! - Each ring keeps at most its capacity; the oldest stamps are dropped
//!   first and counted ([`StampCounts`]), never silently.
//! - Taking stamps drains them: each stamp is handed out once.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, now.
#[must_use]
pub fn unix_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Milliseconds since the Unix epoch, now (the venues' clock unit).
#[must_use]
pub fn unix_ms() -> i64 {
    i64::try_from(unix_ns() / 1_000_000).unwrap_or(i64::MAX)
}

/// Text of at most 36 bytes stored inline (client order ids: Binance
/// `newClientOrderId`, Bybit `orderLinkId`, both ≤ 36 characters).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShortText {
    bytes: [u8; 36],
    len: u8,
}

impl Default for ShortText {
    fn default() -> Self {
        Self { bytes: [0; 36], len: 0 }
    }
}

impl ShortText {
    /// Most bytes held.
    pub const MAX: usize = 36;

    /// `text` if it fits.
    #[must_use]
    pub fn new(text: &str) -> Option<Self> {
        if text.len() > Self::MAX {
            return None;
        }
        let mut bytes = [0u8; 36];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Some(Self { bytes, len: text.len() as u8 })
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl std::fmt::Debug for ShortText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// What kind of market frame was published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameKind {
    /// Incremental depth (Binance `depthUpdate`, Bybit orderbook delta).
    Depth,
    /// Depth snapshot on a stream (Bybit orderbook snapshot).
    Snapshot,
    /// Best bid/offer (Binance `bookTicker`, Bybit `tickers`).
    Top,
    /// Trades.
    Trade,
    /// Anything else (mark price, klines, …).
    Other,
}

/// One frame the market replay published, once (not per connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PublishedFrame {
    /// Sequence number of the frame in publication order (from 1).
    pub seq: u64,
    /// What it is.
    pub kind: FrameKind,
    /// The venue's id in it: Binance depth `u`, bookTicker `u`, trade `t`;
    /// Bybit orderbook `u`, tickers `cs`, publicTrade `seq` (0 if none).
    pub exchange_id: u64,
    /// The venue's event time in it, ms (0 if none).
    pub event_ms: i64,
    /// When the simulator released it to the connections, ns (Unix).
    pub publish_ns: u64,
}

/// A market frame written to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FrameStamp {
    /// [`PublishedFrame::seq`].
    pub seq: u64,
    /// The connection's id.
    pub conn: u64,
    /// When the write started (before encryption and the socket write), ns (Unix).
    pub write_ns: u64,
}

/// How an order request arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrderTransport {
    /// Binance WebSocket API / Bybit trade WebSocket.
    WebSocket,
    /// REST.
    Rest,
}

/// An order request read off the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct OrderStamp {
    /// The connection's id (REST requests: the TCP connection's).
    pub conn: u64,
    /// Transport.
    pub transport: OrderTransport,
    /// The client order id the request carried (empty when none).
    #[serde(serialize_with = "ser_short")]
    pub client_order_id: ShortText,
    /// When its bytes were read, ns (Unix).
    pub read_ns: u64,
    /// Its size: the WebSocket message's payload, or a REST request's
    /// query plus body (headers not counted), bytes.
    pub bytes: u32,
}

fn ser_short<S: serde::Serializer>(v: &ShortText, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

/// How many stamps were dropped because a ring was full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StampCounts {
    /// Frame write stamps dropped.
    pub frames_dropped: u64,
    /// Order read stamps dropped.
    pub orders_dropped: u64,
    /// Published-frame records dropped.
    pub published_dropped: u64,
}

struct Ring<T> {
    items: VecDeque<T>,
    cap: usize,
    dropped: u64,
}

impl<T> Ring<T> {
    fn new(cap: usize) -> Self {
        Self { items: VecDeque::new(), cap: cap.max(1), dropped: 0 }
    }

    fn push(&mut self, v: T) {
        if self.items.len() == self.cap {
            self.items.pop_front();
            self.dropped += 1;
        }
        self.items.push_back(v);
    }

    fn take(&mut self) -> Vec<T> {
        self.items.drain(..).collect()
    }
}

/// The simulator's stamp store.
pub struct Stamps {
    frames: Mutex<Ring<FrameStamp>>,
    orders: Mutex<Ring<OrderStamp>>,
    published: Mutex<Ring<PublishedFrame>>,
}

impl std::fmt::Debug for Stamps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stamps").field("counts", &self.counts()).finish()
    }
}

impl Stamps {
    /// Rings of `capacity` stamps each.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            frames: Mutex::new(Ring::new(capacity)),
            orders: Mutex::new(Ring::new(capacity)),
            published: Mutex::new(Ring::new(capacity)),
        }
    }

    /// Records a frame write.
    pub fn frame_written(&self, stamp: FrameStamp) {
        if let Ok(mut r) = self.frames.lock() {
            r.push(stamp);
        }
    }

    /// Records an order read.
    pub fn order_read(&self, stamp: OrderStamp) {
        if let Ok(mut r) = self.orders.lock() {
            r.push(stamp);
        }
    }

    /// Records a published frame.
    pub fn published(&self, frame: PublishedFrame) {
        if let Ok(mut r) = self.published.lock() {
            r.push(frame);
        }
    }

    /// Drains the frame write stamps.
    #[must_use]
    pub fn take_frames(&self) -> Vec<FrameStamp> {
        self.frames.lock().map(|mut r| r.take()).unwrap_or_default()
    }

    /// Drains the order read stamps.
    #[must_use]
    pub fn take_orders(&self) -> Vec<OrderStamp> {
        self.orders.lock().map(|mut r| r.take()).unwrap_or_default()
    }

    /// Drains the published-frame records.
    #[must_use]
    pub fn take_published(&self) -> Vec<PublishedFrame> {
        self.published.lock().map(|mut r| r.take()).unwrap_or_default()
    }

    /// Drop counters.
    #[must_use]
    pub fn counts(&self) -> StampCounts {
        StampCounts {
            frames_dropped: self.frames.lock().map_or(0, |r| r.dropped),
            orders_dropped: self.orders.lock().map_or(0, |r| r.dropped),
            published_dropped: self.published.lock().map_or(0, |r| r.dropped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_drop_oldest_and_count() {
        let s = Stamps::new(2);
        for seq in 1..=3 {
            s.frame_written(FrameStamp { seq, conn: 1, write_ns: seq * 10 });
        }
        assert_eq!(s.counts().frames_dropped, 1);
        let taken = s.take_frames();
        assert_eq!(taken.iter().map(|f| f.seq).collect::<Vec<_>>(), [2, 3]);
        assert!(s.take_frames().is_empty(), "taking drains");
    }

    #[test]
    fn short_text_bounds() {
        assert_eq!(ShortText::new("scalpel-7").unwrap().as_str(), "scalpel-7");
        assert!(ShortText::new(&"x".repeat(36)).is_some());
        assert!(ShortText::new(&"x".repeat(37)).is_none());
    }

    #[test]
    fn clock_is_unix_time() {
        // After 2020-01-01 and consistent between the two units.
        let ns = unix_ns();
        assert!(ns > 1_577_836_800_000_000_000);
        assert!((unix_ms() - i64::try_from(ns / 1_000_000).unwrap()).abs() < 1000);
    }
}
