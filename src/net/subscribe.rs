//! The registry of streams a connection must carry, replayed as subscribe
//! messages on every connect, and the per-stream staleness watchdog.
//!
//! Sources: Binance USDⓈ-M "Live Subscribing/Unsubscribing to streams"
//! (`{"method":"SUBSCRIBE","params":[…],"id":N}`, at most 10 incoming
//! messages per second, at most 1024 streams per connection); Bybit v5
//! "Connect" (`{"op":"subscribe","args":[…],"req_id":…}`; public linear
//! topics, at most 10 args per request, `{"op":"ping"}` every 20 s).
//!
//! # Invariants
//! - The registry, not the connection, owns what is wanted: a reconnect
//!   replays every stream (peers' bots lost data for good by forgetting this).
//! - Messages are built at connect time, off the per-frame path; the
//!   connection paces them (see `ConnConfig::control_pace_ms`).
//! - A stream is stale when no frame named it for `stale_after` while the
//!   connection was live; the connection is then replaced.

use crate::venue::Venue;

/// Largest number of streams Binance serves on one connection.
pub const BINANCE_MAX_STREAMS: usize = 1024;
/// Streams per Binance SUBSCRIBE message (keeps messages well under the
/// venue's frame limits).
pub const BINANCE_STREAMS_PER_MESSAGE: usize = 100;
/// Topics per Bybit subscribe request.
pub const BYBIT_ARGS_PER_MESSAGE: usize = 10;

/// Why a stream could not be added.
///
/// # Errors
/// Returned by [`Subscriptions::add`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// The connection already carries the venue's maximum.
    #[error("too many streams for one connection (limit {0})")]
    TooMany(usize),
    /// Empty, too long, or with characters that would need JSON escaping.
    #[error("invalid stream name")]
    BadName,
}

#[derive(Debug, Clone)]
struct Stream {
    name: String,
    last_ns: u64,
}

/// The streams one connection carries.
#[derive(Debug, Clone)]
pub struct Subscriptions {
    venue: Venue,
    streams: Vec<Stream>,
}

impl Subscriptions {
    /// An empty registry speaking `venue`'s subscribe protocol.
    #[must_use]
    pub fn new(venue: Venue) -> Self {
        Self { venue, streams: Vec::new() }
    }

    /// The venue.
    #[must_use]
    pub fn venue(&self) -> Venue {
        self.venue
    }

    /// Adds a stream (Binance `btcusdt@depth@0ms`, Bybit
    /// `orderbook.200.BTCUSDT`); adding one twice is a no-op.
    ///
    /// # Errors
    /// [`SubscribeError`].
    pub fn add(&mut self, name: &str) -> Result<(), SubscribeError> {
        if name.is_empty() || name.len() > 128 || !name.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            return Err(SubscribeError::BadName);
        }
        if self.streams.iter().any(|s| s.name == name) {
            return Ok(());
        }
        if self.venue == Venue::BinanceUsdm && self.streams.len() >= BINANCE_MAX_STREAMS {
            return Err(SubscribeError::TooMany(BINANCE_MAX_STREAMS));
        }
        self.streams.push(Stream { name: name.to_owned(), last_ns: 0 });
        Ok(())
    }

    /// Stream names, in the order added.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.streams.iter().map(|s| s.name.as_str())
    }

    /// Number of streams.
    #[must_use]
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// No streams.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// The subscribe messages for every stream, in order; `first_id` numbers
    /// the Binance request ids / Bybit req_ids.
    #[must_use]
    pub fn messages(&self, first_id: u64) -> Vec<Vec<u8>> {
        let per = match self.venue {
            Venue::BinanceUsdm => BINANCE_STREAMS_PER_MESSAGE,
            Venue::BybitLinear => BYBIT_ARGS_PER_MESSAGE,
        };
        self.streams
            .chunks(per)
            .enumerate()
            .map(|(i, chunk)| {
                let list = chunk.iter().map(|s| format!("\"{}\"", s.name)).collect::<Vec<_>>().join(",");
                let id = first_id + i as u64;
                match self.venue {
                    Venue::BinanceUsdm => format!("{{\"method\":\"SUBSCRIBE\",\"params\":[{list}],\"id\":{id}}}"),
                    Venue::BybitLinear => format!("{{\"op\":\"subscribe\",\"args\":[{list}],\"req_id\":\"sub{id}\"}}"),
                }
                .into_bytes()
            })
            .collect()
    }

    /// Marks every stream fresh at `now_ns` (the connection just went live).
    pub fn reset_watch(&mut self, now_ns: u64) {
        for s in &mut self.streams {
            s.last_ns = now_ns;
        }
    }

    /// Notes that `frame` arrived at `now_ns`, when it names one of the
    /// streams (Binance combined `{"stream":"…"`, Bybit `{"topic":"…"`).
    /// Returns whether it did.
    #[inline]
    pub fn touch(&mut self, frame: &[u8], now_ns: u64) -> bool {
        let Some(name) = stream_name(frame) else { return false };
        for s in &mut self.streams {
            if s.name.as_bytes() == name {
                s.last_ns = now_ns;
                return true;
            }
        }
        false
    }

    /// The first stream silent for longer than `stale_after_ns` at `now_ns`.
    #[must_use]
    pub fn stale(&self, now_ns: u64, stale_after_ns: u64) -> Option<&str> {
        self.streams.iter().find(|s| now_ns.saturating_sub(s.last_ns) > stale_after_ns).map(|s| s.name.as_str())
    }
}

/// The stream a data frame belongs to: the value of a leading
/// `{"stream":"…"` (Binance combined streams) or `{"topic":"…"` (Bybit).
#[inline]
#[must_use]
pub fn stream_name(frame: &[u8]) -> Option<&[u8]> {
    let rest = frame.strip_prefix(b"{\"stream\":\"").or_else(|| frame.strip_prefix(b"{\"topic\":\""))?;
    let end = rest.iter().take(160).position(|&b| b == b'"')?;
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_messages_batch_and_replay_everything() {
        let mut s = Subscriptions::new(Venue::BinanceUsdm);
        for i in 0..150 {
            s.add(&format!("s{i}@depth@0ms")).unwrap();
        }
        s.add("s0@depth@0ms").unwrap();
        assert_eq!(s.len(), 150);
        let m = s.messages(7);
        assert_eq!(m.len(), 2);
        let first = String::from_utf8(m[0].clone()).unwrap();
        assert!(first.starts_with("{\"method\":\"SUBSCRIBE\",\"params\":[\"s0@depth@0ms\",\"s1@depth@0ms\""));
        assert!(first.ends_with("],\"id\":7}"));
        assert_eq!(first.matches("@depth").count(), 100);
        assert!(String::from_utf8(m[1].clone()).unwrap().ends_with("\"s149@depth@0ms\"],\"id\":8}"));
        for i in 150..BINANCE_MAX_STREAMS {
            s.add(&format!("s{i}@trade")).unwrap();
        }
        assert_eq!(s.add("one@more"), Err(SubscribeError::TooMany(1024)));
        assert_eq!(s.add("bad\"name"), Err(SubscribeError::BadName));
    }

    #[test]
    fn bybit_messages_hold_ten_args() {
        let mut s = Subscriptions::new(Venue::BybitLinear);
        for i in 0..11 {
            s.add(&format!("publicTrade.S{i}")).unwrap();
        }
        let m = s.messages(1);
        assert_eq!(m.len(), 2);
        assert_eq!(
            String::from_utf8(m[1].clone()).unwrap(),
            "{\"op\":\"subscribe\",\"args\":[\"publicTrade.S10\"],\"req_id\":\"sub2\"}"
        );
    }

    #[test]
    fn watchdog_sees_each_stream_by_name() {
        let mut s = Subscriptions::new(Venue::BinanceUsdm);
        s.add("btcusdt@depth@0ms").unwrap();
        s.add("btcusdt@trade").unwrap();
        s.reset_watch(0);
        assert!(s.touch(br#"{"stream":"btcusdt@trade","data":{}}"#, 50));
        assert!(!s.touch(br#"{"result":null,"id":1}"#, 50));
        assert_eq!(s.stale(60, 20), Some("btcusdt@depth@0ms"));
        assert!(s.touch(br#"{"stream":"btcusdt@depth@0ms","data":{}}"#, 60));
        assert_eq!(s.stale(70, 20), None);
        assert_eq!(
            stream_name(br#"{"topic":"orderbook.200.BTCUSDT","type":"delta"}"#),
            Some(&b"orderbook.200.BTCUSDT"[..])
        );
    }
}
