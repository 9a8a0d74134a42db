//! Merging the market frames of several sockets by exchange time.
//!
//! Binance routes a symbol's book (`/public`) and its trades (`/market`)
//! to different connections (DESIGN.md, venue facts), so what one poll
//! hands out comes connection by connection. Frames read in the same poll
//! are held here (copied into a fixed arena) and handed to the core in
//! exchange-time order, each connection's own frames in the order they
//! arrived (a book's diffs must never be reordered). Nothing is held back
//! across polls: a socket that lags delivers late rather than stall the
//! others (the core bounds exchange times by its receive clock).
//!
//! No allocation after construction: a full arena or item list makes the
//! caller hand out what is held and start again.

use crate::core::FeedId;

/// Frames held at most.
pub const ITEMS: usize = 512;
/// Bytes held at most.
pub const BYTES: usize = 8 << 20;

#[derive(Debug, Clone, Copy)]
struct Item {
    conn: u16,
    feed: FeedId,
    ts: i64,
    recv_ns: u64,
    rx_raw: u64,
    start: usize,
    len: usize,
    done: bool,
}

/// Frames of one poll, waiting to be merged (module docs).
#[derive(Debug, Default)]
pub struct Merge {
    arena: Box<[u8]>,
    used: usize,
    items: Vec<Item>,
}

impl Merge {
    /// Room for [`ITEMS`] frames of [`BYTES`] in all, allocated now.
    #[must_use]
    pub fn new() -> Self {
        Self { arena: vec![0; BYTES].into_boxed_slice(), used: 0, items: Vec::with_capacity(ITEMS) }
    }

    /// Nothing held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Holds a copy of `data`, a frame of `conn` (its `feed`) with exchange
    /// time `ts` (`i64::MIN` when it has none: a control message), received
    /// at `recv_ns` (`rx_raw` on the raw clock). `false` when it does not
    /// fit (hand out what is held first).
    pub fn push(&mut self, conn: u16, feed: FeedId, ts: i64, (recv_ns, rx_raw): (u64, u64), data: &[u8]) -> bool {
        if self.items.len() >= ITEMS || self.used + data.len() > self.arena.len() {
            return false;
        }
        let start = self.used;
        self.arena[start..start + data.len()].copy_from_slice(data);
        self.used += data.len();
        self.items.push(Item { conn, feed, ts, recv_ns, rx_raw, start, len: data.len(), done: false });
        true
    }

    /// Hands out every held frame in merge order, as `f(conn, feed,
    /// (recv_ns, rx_raw), frame)` (the frame may be decoded in place), and
    /// empties.
    pub fn drain(&mut self, mut f: impl FnMut(u16, FeedId, (u64, u64), &mut [u8])) {
        let n = self.items.len();
        for _ in 0..n {
            // The head (first not yet handed out) of each connection; the
            // earliest exchange time wins, the earlier arrival on a tie.
            let mut best: Option<usize> = None;
            for k in 0..n {
                let it = self.items[k];
                if it.done {
                    continue;
                }
                let is_head = !self.items[..k].iter().any(|p| !p.done && p.conn == it.conn);
                if is_head && best.is_none_or(|b| it.ts < self.items[b].ts) {
                    best = Some(k);
                }
            }
            let Some(k) = best else { break };
            self.items[k].done = true;
            let it = self.items[k];
            f(it.conn, it.feed, (it.recv_ns, it.rx_raw), &mut self.arena[it.start..it.start + it.len]);
        }
        self.items.clear();
        self.used = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaves_by_exchange_time_and_keeps_each_connections_order() {
        let mut m = Merge::new();
        // Public (conn 0): depth 100, bookTicker 90 (its own order must stay), depth 130.
        // Market (conn 1): trades 95, 120.
        for (conn, ts, text) in
            [(0, 100, "d100"), (1, 95, "t95"), (0, 90, "b90"), (1, 120, "t120"), (0, 130, "d130"), (1, i64::MIN, "ack")]
        {
            assert!(m.push(conn, FeedId(conn), ts, (1, 1), text.as_bytes()));
        }
        let mut out = Vec::new();
        m.drain(|_, _, _, f| out.push(String::from_utf8(f.to_vec()).unwrap()));
        // t95 < d100 < (ack is behind t120 on its own connection) ...
        assert_eq!(out, ["t95", "d100", "b90", "t120", "ack", "d130"]);
        assert!(m.is_empty());
        // Full: refused, nothing held lost.
        let big = vec![b'x'; BYTES];
        assert!(m.push(0, FeedId(0), 1, (1, 1), &big));
        assert!(!m.push(0, FeedId(0), 2, (1, 1), b"y"));
        let mut n = 0;
        m.drain(|_, _, _, _| n += 1);
        assert_eq!(n, 1);
    }
}
