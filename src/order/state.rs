//! The one order and position ledger: a fixed-capacity table of the
//! engine's orders, fed [`OrderEvent`]s in whatever order and multiplicity
//! the venues deliver them, and the net position per symbol they add up to.
//!
//! Lifecycle: `New → Acked → PartiallyFilled → Filled | Cancelled |
//! Rejected | Expired`. Venues deliver the messages that drive it over
//! several sockets (Binance WS API responses and the user-data stream,
//! Bybit's trade socket and private stream), so a fill may arrive before
//! its ack, the same fill twice (`TRADE_LITE` and `ORDER_TRADE_UPDATE`,
//! reconnect replays), or a cancel confirmation before the last fill.
//!
//! The trading core ([`crate::core`]) applies every order event here first
//! and passes on only what this table reports as new ([`Applied`]): the
//! strategy, the risk gate, the risk thread and the backtest's trade
//! records all see each fill exactly once.
//!
//! # Invariants
//! - **Facts, not transitions.** Each order keeps monotone facts (acked,
//!   cancelled, expired, rejected, the quantity of its distinct fills) and
//!   its status is *derived* from them with a fixed precedence: filled
//!   quantity ≥ order quantity → `Filled`; else rejected → `Rejected`; else
//!   cancelled → `Cancelled`; else expired → `Expired`; else some fill →
//!   `PartiallyFilled`; else acked → `Acked`; else `New`. Any interleaving
//!   or duplication of the same set of messages therefore ends in the same
//!   state (property-tested). Amends apply by venue time (latest wins), so
//!   they commute as well.
//! - **Position = Σ distinct fills.** A fill is applied once per key
//!   (venue, client order id, venue trade id); the per-symbol position
//!   moves by `±qty` exactly when a new key is recorded, and never
//!   otherwise. The key includes our order id, not only the venue's trade
//!   id: when two of our own orders trade with each other, both legs carry
//!   the one trade id and both move the position. A `TRADE_LITE` (no fee)
//!   and the `ORDER_TRADE_UPDATE` of the same trade have the same key: the
//!   second only supplies the fee ([`Applied::FeeSupplied`]).
//! - A fill is never refused for lack of room: the keys live in one
//!   fixed-capacity store shared by all orders, first in first out; when it
//!   is full the oldest key is forgotten (counted in
//!   [`Anomalies::dedup_evictions`]), so only a duplicate of a fill older
//!   than the whole store could be counted twice. Size it well above the
//!   fills of the venues' replay horizon.
//! - Filled quantity may exceed order quantity only if the venue says so:
//!   that is counted as an anomaly ([`Anomalies::overfills`]), not a panic.
//! - Capacity is fixed at construction (orders, fill keys, symbols);
//!   running out of order or symbol slots is a typed [`StateError`], never a
//!   reallocation.
//! - Terminal orders stay in the table (so late duplicates still dedupe, and
//!   late fills after a cancel still land) until the caller retires them
//!   with [`OrderTable::retire_terminal`], e.g. once terminal for longer
//!   than the venues' replay horizon ([`TrackedOrder::done_ms`]).
//! - Lookup is open addressing with linear probing from
//!   `client_id % capacity` (client ids are a sequence, so they spread
//!   evenly). Retiring an order empties its slot by backward-shift deletion
//!   (Knuth, TAOCP vol. 3, §6.4, Algorithm R): the orders after it in its
//!   probe run move up, so no tombstone is left and a lookup that misses
//!   stops at the first empty slot. (With tombstones, every slot had been
//!   used once after `capacity` orders and every new order's duplicate
//!   check scanned the whole table: ~1.6 µs per order at 1 024 slots.)
//!   Size the table at about twice the orders held at once so probes stay
//!   short.

use crate::fixed::{Qty, SignedQty};
use crate::instrument::{Symbol, Venue};

use super::{ClientOrderId, FeeKind, Fill, OrderEvent, OrderRequest, RejectReason, TradeId, VenueOrderId};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Submitted, no word from the venue yet.
    New,
    /// The venue accepted it.
    Acked,
    /// Some, not all, of it executed.
    PartiallyFilled,
    /// All of it executed.
    Filled,
    /// Cancelled (by us or the venue), possibly after partial fills.
    Cancelled,
    /// Expired by rule (IOC remainder, post-only that would take).
    Expired,
    /// Refused.
    Rejected,
}

impl OrderStatus {
    /// `true` once nothing more can happen to the order's quantity.
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(self, OrderStatus::Filled | OrderStatus::Cancelled | OrderStatus::Expired | OrderStatus::Rejected)
    }
}

/// One tracked order.
#[derive(Debug, Clone, Copy)]
pub struct TrackedOrder {
    /// The order as submitted; price and quantity follow amends.
    pub order: OrderRequest,
    /// The venue's id, once known.
    pub venue_order_id: Option<VenueOrderId>,
    /// Sum of distinct fills.
    pub filled_qty: Qty,
    /// Rejection reason and raw code, when rejected.
    pub rejection: Option<(RejectReason, i32)>,
    /// The caller's time (ms) when the order first became terminal.
    pub done_ms: Option<i64>,
    acked: bool,
    cancelled: bool,
    expired: bool,
    amend_key: Option<(i64, i64, i64)>,
    fill_count: u32,
}

impl TrackedOrder {
    /// The derived status (see the module's precedence rule).
    #[must_use]
    pub fn status(&self) -> OrderStatus {
        if self.order.qty.0 > 0 && self.filled_qty >= self.order.qty {
            OrderStatus::Filled
        } else if self.rejection.is_some() {
            OrderStatus::Rejected
        } else if self.cancelled {
            OrderStatus::Cancelled
        } else if self.expired {
            OrderStatus::Expired
        } else if self.filled_qty.0 > 0 {
            OrderStatus::PartiallyFilled
        } else if self.acked {
            OrderStatus::Acked
        } else {
            OrderStatus::New
        }
    }

    /// Number of distinct fills recorded.
    #[must_use]
    pub fn fill_count(&self) -> u32 {
        self.fill_count
    }

    /// Quantity still open at the venue (zero once terminal).
    #[must_use]
    pub fn leaves(&self) -> Qty {
        if self.status().is_terminal() { Qty::ZERO } else { Qty((self.order.qty.0 - self.filled_qty.0).max(0)) }
    }
}

/// Things the venues told us that should not happen, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Anomalies {
    /// A fill with a key already recorded (harmless, dropped).
    pub duplicate_fills: u64,
    /// Fills beyond the order's quantity (applied: the venue is the truth).
    pub overfills: u64,
    /// Events for client ids not in the table.
    pub unknown_orders: u64,
    /// Fills arriving after the order looked terminal (applied).
    pub fills_after_terminal: u64,
    /// A fill's fee supplied by a later message for the same trade.
    pub fee_updates: u64,
    /// Fill keys forgotten because the key store was full (module docs).
    pub dedup_evictions: u64,
}

/// Why an event could not be applied.
///
/// # Errors
/// Returned by [`OrderTable::apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// No free order slot: retire terminal orders or size the table larger.
    #[error("order table full")]
    TableFull,
    /// No free position slot for a new symbol.
    #[error("position table full")]
    PositionTableFull,
    /// A second `Submitted` for a client id still in the table.
    #[error("duplicate client order id")]
    DuplicateClientId,
    /// The event names an order this table does not hold.
    #[error("unknown client order id")]
    UnknownOrder,
}

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The order's facts changed; its status is now this.
    Updated(OrderStatus),
    /// Nothing new (a duplicate message).
    Duplicate,
    /// A fill already recorded without a fee got its fee; the position did
    /// not move.
    FeeSupplied,
    /// The event does not change order state (e.g. a refused cancel).
    NoChange,
}

/// The key a fill is de-duplicated by (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FillKey {
    venue: Venue,
    client: ClientOrderId,
    trade: TradeId,
}

impl FillKey {
    fn hash(&self) -> u64 {
        // Multiplicative mixing of the three parts (Fibonacci hashing).
        let t = self.trade.0;
        let x = (t as u64) ^ ((t >> 64) as u64).rotate_left(29) ^ self.client.0.rotate_left(17) ^ (self.venue as u64);
        x.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (x >> 31)
    }
}

/// Fixed-capacity set of fill keys, forgotten first in first out: linear
/// probing in a power-of-two table at most half full, with backward-shift
/// deletion (no tombstones), and a ring of the keys in insertion order.
#[derive(Debug)]
struct FillKeys {
    /// `(key, fee reported)`.
    table: Box<[Option<(FillKey, bool)>]>,
    ring: Box<[Option<FillKey>]>,
    head: usize,
    len: usize,
}

impl FillKeys {
    fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let slots = (capacity * 2).next_power_of_two();
        Self {
            table: vec![None; slots].into_boxed_slice(),
            ring: vec![None; capacity].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    fn mask(&self) -> usize {
        self.table.len() - 1
    }

    fn find(&self, key: &FillKey) -> Option<usize> {
        let mask = self.mask();
        let mut i = (key.hash() as usize) & mask;
        loop {
            match &self.table[i] {
                None => return None,
                Some((k, _)) if k == key => return Some(i),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    /// The fee flag of `key`, if recorded.
    fn get_mut(&mut self, key: &FillKey) -> Option<&mut bool> {
        let i = self.find(key)?;
        self.table[i].as_mut().map(|(_, fee)| fee)
    }

    fn remove(&mut self, key: &FillKey) {
        let Some(mut hole) = self.find(key) else { return };
        let mask = self.mask();
        self.table[hole] = None;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let Some((k, _)) = self.table[j] else { break };
            let home = (k.hash() as usize) & mask;
            // Move the entry back into the hole unless its home lies
            // cyclically in (hole, j].
            let stays = if hole <= j { hole < home && home <= j } else { hole < home || home <= j };
            if !stays {
                self.table[hole] = self.table[j].take();
                hole = j;
            }
        }
    }

    /// Records `key`; returns `true` when an older key had to be forgotten.
    fn insert(&mut self, key: FillKey, fee_reported: bool) -> bool {
        let cap = self.ring.len();
        let mut evicted = false;
        if self.len == cap {
            if let Some(old) = self.ring[self.head].take() {
                self.remove(&old);
            }
            self.head = (self.head + 1) % cap;
            self.len -= 1;
            evicted = true;
        }
        let mask = self.mask();
        let mut i = (key.hash() as usize) & mask;
        while self.table[i].is_some() {
            i = (i + 1) & mask;
        }
        self.table[i] = Some((key, fee_reported));
        self.ring[(self.head + self.len) % cap] = Some(key);
        self.len += 1;
        evicted
    }
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Empty,
    Live(TrackedOrder),
}

/// Live orders, their fills and net positions, fixed capacity.
pub struct OrderTable {
    slots: Box<[Slot]>,
    /// No order sits further than this from its home slot (an upper
    /// bound: moves only shorten distances; made exact again by each
    /// [`OrderTable::retire_terminal`]).
    max_displacement: usize,
    positions: Box<[Option<(Venue, Symbol, SignedQty)>]>,
    position_count: usize,
    fills: FillKeys,
    anomalies: Anomalies,
}

impl std::fmt::Debug for OrderTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderTable")
            .field("capacity", &self.slots.len())
            .field("live", &self.live_count())
            .field("positions", &&self.positions[..self.position_count])
            .field("anomalies", &self.anomalies)
            .finish()
    }
}

impl OrderTable {
    /// Fill keys kept per order slot by [`Self::new`].
    pub const FILL_KEYS_PER_ORDER: usize = 64;

    /// A table for `order_capacity` orders and `symbol_capacity` symbols,
    /// remembering [`Self::FILL_KEYS_PER_ORDER`] fill keys per order slot;
    /// allocated once here.
    #[must_use]
    pub fn new(order_capacity: usize, symbol_capacity: usize) -> Self {
        Self::with_fill_keys(order_capacity, symbol_capacity, order_capacity.max(1) * Self::FILL_KEYS_PER_ORDER)
    }

    /// [`Self::new`] with an explicit fill-key capacity.
    #[must_use]
    pub fn with_fill_keys(order_capacity: usize, symbol_capacity: usize, fill_keys: usize) -> Self {
        Self {
            slots: vec![Slot::Empty; order_capacity.max(1)].into_boxed_slice(),
            max_displacement: 0,
            positions: vec![None; symbol_capacity.max(1)].into_boxed_slice(),
            position_count: 0,
            fills: FillKeys::new(fill_keys),
            anomalies: Anomalies::default(),
        }
    }

    /// Counted anomalies.
    #[must_use]
    pub fn anomalies(&self) -> Anomalies {
        self.anomalies
    }

    /// Number of orders held (live or terminal, not retired).
    #[must_use]
    pub fn live_count(&self) -> usize {
        self.slots.iter().filter(|s| matches!(s, Slot::Live(_))).count()
    }

    /// Every order held (live or terminal, not retired).
    pub fn orders(&self) -> impl Iterator<Item = &TrackedOrder> + '_ {
        self.slots.iter().filter_map(|s| match s {
            Slot::Live(o) => Some(o),
            _ => None,
        })
    }

    fn home(&self, id: ClientOrderId) -> usize {
        (id.0 % self.slots.len() as u64) as usize
    }

    fn find(&self, id: ClientOrderId) -> Option<usize> {
        let n = self.slots.len();
        let home = self.home(id);
        for step in 0..n {
            let i = (home + step) % n;
            match &self.slots[i] {
                Slot::Empty => return None,
                Slot::Live(o) if o.order.client_id == id => return Some(i),
                _ => {}
            }
        }
        None
    }

    /// The tracked order with this client id.
    #[must_use]
    pub fn get(&self, id: ClientOrderId) -> Option<&TrackedOrder> {
        match self.find(id).map(|i| &self.slots[i]) {
            Some(Slot::Live(o)) => Some(o),
            _ => None,
        }
    }

    /// Our order that the venue knows as `venue_order_id` on `venue`, if it
    /// is held and its acknowledgement named that id (Binance
    /// `userTrades` rows name the venue's `orderId`, not our client id).
    /// A scan of the whole table: for control paths (a fill fetch), not
    /// for every message.
    #[must_use]
    pub fn client_by_venue_order_id(&self, venue: Venue, venue_order_id: &VenueOrderId) -> Option<ClientOrderId> {
        self.orders()
            .find(|o| o.order.venue == venue && o.venue_order_id.as_ref() == Some(venue_order_id))
            .map(|o| o.order.client_id)
    }

    /// Net position in a symbol (zero when never traded).
    #[must_use]
    pub fn position(&self, venue: Venue, symbol: &Symbol) -> SignedQty {
        self.positions[..self.position_count]
            .iter()
            .flatten()
            .find(|(v, s, _)| *v == venue && s == symbol)
            .map_or(SignedQty::ZERO, |p| p.2)
    }

    fn position_slot(&mut self, venue: Venue, symbol: &Symbol) -> Result<usize, StateError> {
        if let Some(i) = self.positions[..self.position_count]
            .iter()
            .position(|p| p.is_some_and(|(v, s, _)| v == venue && s == *symbol))
        {
            return Ok(i);
        }
        let i = self.position_count;
        let slot = self.positions.get_mut(i).ok_or(StateError::PositionTableFull)?;
        *slot = Some((venue, *symbol, SignedQty::ZERO));
        self.position_count += 1;
        Ok(i)
    }

    /// Reserves a position slot for a symbol before any order (so that a
    /// later fill can never fail on it).
    ///
    /// # Errors
    /// [`StateError::PositionTableFull`].
    pub fn reserve_position(&mut self, venue: Venue, symbol: &Symbol) -> Result<(), StateError> {
        self.position_slot(venue, symbol).map(|_| ())
    }

    fn insert(&mut self, order: &OrderRequest) -> Result<Applied, StateError> {
        if self.find(order.client_id).is_some() {
            return Err(StateError::DuplicateClientId);
        }
        let n = self.slots.len();
        let home = self.home(order.client_id);
        let step =
            (0..n).find(|&step| matches!(self.slots[(home + step) % n], Slot::Empty)).ok_or(StateError::TableFull)?;
        let free = (home + step) % n;
        // Reserve the position slot now so a later fill cannot fail on it.
        self.position_slot(order.venue, &order.symbol)?;
        self.max_displacement = self.max_displacement.max(step);
        self.slots[free] = Slot::Live(TrackedOrder {
            order: *order,
            venue_order_id: None,
            filled_qty: Qty::ZERO,
            rejection: None,
            done_ms: None,
            acked: false,
            cancelled: false,
            expired: false,
            amend_key: None,
            fill_count: 0,
        });
        Ok(Applied::Updated(OrderStatus::New))
    }

    /// Applies one event ([`Self::apply_at`] with time 0).
    ///
    /// # Errors
    /// As [`Self::apply_at`].
    pub fn apply(&mut self, event: &OrderEvent) -> Result<Applied, StateError> {
        self.apply_at(event, 0)
    }

    /// Applies one event learnt at `now_ms` (the caller's clock, used for
    /// [`TrackedOrder::done_ms`]).
    ///
    /// # Errors
    /// [`StateError`]; events for unknown orders are also counted in
    /// [`Anomalies::unknown_orders`].
    pub fn apply_at(&mut self, event: &OrderEvent, now_ms: i64) -> Result<Applied, StateError> {
        let id = match event {
            OrderEvent::Submitted { order, .. } => return self.insert(order),
            OrderEvent::Acked { client_id, .. }
            | OrderEvent::Cancelled { client_id, .. }
            | OrderEvent::Expired { client_id, .. }
            | OrderEvent::Rejected { client_id, .. }
            | OrderEvent::Amended { client_id, .. }
            | OrderEvent::ActionRejected { client_id, .. } => *client_id,
            OrderEvent::Filled(fill) => fill.client_id,
        };
        let Some(index) = self.find(id) else {
            self.anomalies.unknown_orders += 1;
            return Err(StateError::UnknownOrder);
        };
        if let OrderEvent::Filled(fill) = event {
            return self.apply_fill(index, fill, now_ms);
        }
        let Slot::Live(o) = &mut self.slots[index] else { return Err(StateError::UnknownOrder) };
        let before = (o.status(), o.venue_order_id, o.order.price, o.order.qty, o.rejection);
        match *event {
            OrderEvent::Acked { venue_order_id, .. } => {
                o.acked = true;
                o.venue_order_id.get_or_insert(venue_order_id);
            }
            OrderEvent::Cancelled { .. } => o.cancelled = true,
            OrderEvent::Expired { .. } => o.expired = true,
            OrderEvent::Rejected { reason, venue_code, .. } => {
                // Keep the first-by-value reason so duplicates in any order agree.
                let candidate = (reason, venue_code);
                o.rejection = Some(match o.rejection {
                    Some(existing) if (existing.1, existing.0 as u8) <= (candidate.1, candidate.0 as u8) => existing,
                    _ => candidate,
                });
            }
            OrderEvent::Amended { price, qty, ts_ms, .. } => {
                let key = (ts_ms, qty.0, price.0);
                if o.amend_key.is_none_or(|k| key > k) {
                    o.amend_key = Some(key);
                    o.order.price = price;
                    o.order.qty = qty;
                }
            }
            OrderEvent::ActionRejected { .. } => return Ok(Applied::NoChange),
            OrderEvent::Submitted { .. } | OrderEvent::Filled(_) => {}
        }
        let after = (o.status(), o.venue_order_id, o.order.price, o.order.qty, o.rejection);
        if after.0.is_terminal() && o.done_ms.is_none() {
            o.done_ms = Some(now_ms);
        }
        Ok(if after == before { Applied::Duplicate } else { Applied::Updated(after.0) })
    }

    fn apply_fill(&mut self, index: usize, fill: &Fill, now_ms: i64) -> Result<Applied, StateError> {
        let Slot::Live(o) = &mut self.slots[index] else { return Err(StateError::UnknownOrder) };
        let fee_reported = fill.fee_kind != FeeKind::NotReported;
        let key = FillKey { venue: fill.venue, client: fill.client_id, trade: fill.trade_id };
        if let Some(reported) = self.fills.get_mut(&key) {
            if !*reported && fee_reported {
                *reported = true;
                self.anomalies.fee_updates += 1;
                return Ok(Applied::FeeSupplied);
            }
            self.anomalies.duplicate_fills += 1;
            return Ok(Applied::Duplicate);
        }
        if o.status().is_terminal() {
            self.anomalies.fills_after_terminal += 1;
        }
        o.fill_count = o.fill_count.saturating_add(1);
        o.filled_qty = Qty(o.filled_qty.0.saturating_add(fill.qty.0));
        if o.filled_qty > o.order.qty {
            self.anomalies.overfills += 1;
        }
        let status = o.status();
        if status.is_terminal() && o.done_ms.is_none() {
            o.done_ms = Some(now_ms);
        }
        let (venue, symbol, side) = (o.order.venue, o.order.symbol, o.order.side);
        if self.fills.insert(key, fee_reported) {
            self.anomalies.dedup_evictions += 1;
        }
        let p = self.position_slot(venue, &symbol)?;
        if let Some((_, _, pos)) = &mut self.positions[p] {
            pos.0 = pos.0.saturating_add(side.sign() * fill.qty.0);
        }
        Ok(Applied::Updated(status))
    }

    /// Frees the slots of terminal orders for which `keep` returns false
    /// (e.g. terminal for longer than the venues' replay horizon). Returns
    /// how many were retired. A message about a retired order later counts
    /// as unknown; its fill keys stay in the key store until pushed out.
    pub fn retire_terminal(&mut self, mut keep: impl FnMut(&TrackedOrder) -> bool) -> usize {
        let mut retired = 0;
        for i in 0..self.slots.len() {
            // A deletion may move a later order into slot `i`: look again.
            // Orders only move towards their home, into slots this loop has
            // reached or will reach, so none is skipped (one moved across
            // the wrap may be looked at twice, which retires nothing twice).
            while let Slot::Live(o) = &self.slots[i]
                && o.status().is_terminal()
                && !keep(o)
            {
                self.remove_at(i);
                retired += 1;
            }
        }
        if retired > 0 {
            let n = self.slots.len();
            self.max_displacement = (0..n)
                .filter_map(|i| match &self.slots[i] {
                    Slot::Live(o) => Some(cyclic_distance(self.home(o.order.client_id), i, n)),
                    Slot::Empty => None,
                })
                .max()
                .unwrap_or(0);
        }
        retired
    }

    /// Empties slot `hole` and closes the gap in its probe run
    /// (backward-shift deletion, see the module docs): each later order in
    /// the run whose home is not cyclically within `(hole, j]` moves into
    /// the hole, which moves to where it was. The walk ends at an empty
    /// slot, or once it is further from the hole than any order is from
    /// its home (no order beyond could move into the hole): with client
    /// ids in sequence nearly every order sits at its home, so a deletion
    /// looks at one or two slots, not the whole run.
    fn remove_at(&mut self, mut hole: usize) {
        let n = self.slots.len();
        self.slots[hole] = Slot::Empty;
        let mut j = hole;
        loop {
            j = if j + 1 == n { 0 } else { j + 1 };
            if cyclic_distance(hole, j, n) > self.max_displacement {
                return;
            }
            let home = match &self.slots[j] {
                Slot::Empty => return,
                Slot::Live(o) => self.home(o.order.client_id),
            };
            // The order may move into the hole only if the hole is no
            // further from its home than it is.
            if cyclic_distance(home, hole, n) <= cyclic_distance(home, j, n) {
                self.slots[hole] = std::mem::replace(&mut self.slots[j], Slot::Empty);
                hole = j;
            }
        }
    }
}

/// Steps from slot `from` forward to slot `to` in a table of `n` slots.
#[inline]
fn cyclic_distance(from: usize, to: usize, n: usize) -> usize {
    if to >= from { to - from } else { to + n - from }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::{Notional, Price};
    use crate::order::{OrderKind, TimeInForce};
    use crate::side::Side;
    use proptest::prelude::*;

    fn sym() -> Symbol {
        Symbol::new(b"BTCUSDT").unwrap()
    }

    fn order(id: u64, side: Side, qty: i64) -> OrderRequest {
        OrderRequest {
            venue: Venue::BinanceUsdm,
            symbol: sym(),
            side,
            kind: OrderKind::Limit,
            tif: TimeInForce::Gtc,
            price: Price(6_000_000),
            qty: Qty(qty),
            reduce_only: false,
            client_id: ClientOrderId(id),
        }
    }

    fn fill(id: u64, side: Side, trade: u128, qty: i64, fee_kind: FeeKind) -> OrderEvent {
        OrderEvent::Filled(Fill {
            client_id: ClientOrderId(id),
            venue: Venue::BinanceUsdm,
            symbol: sym(),
            side,
            trade_id: TradeId(trade),
            price: Price(6_000_000),
            qty: Qty(qty),
            fee: Notional(100),
            fee_kind,
            is_maker: true,
            ts_ms: 1,
        })
    }

    fn submitted(id: u64, side: Side, qty: i64) -> OrderEvent {
        OrderEvent::Submitted { order: order(id, side, qty), ts_raw: 0 }
    }

    fn ack(id: u64) -> OrderEvent {
        OrderEvent::Acked { client_id: ClientOrderId(id), venue_order_id: VenueOrderId::from_u64(900 + id), ts_ms: 1 }
    }

    #[test]
    fn happy_path_and_fill_before_ack() {
        let mut t = OrderTable::new(8, 2);
        t.apply(&submitted(1, Side::Buy, 10)).unwrap();
        assert_eq!(
            t.apply(&fill(1, Side::Buy, 7, 4, FeeKind::Quote)),
            Ok(Applied::Updated(OrderStatus::PartiallyFilled))
        );
        assert_eq!(t.apply(&ack(1)), Ok(Applied::Updated(OrderStatus::PartiallyFilled)));
        assert_eq!(t.get(ClientOrderId(1)).unwrap().venue_order_id, Some(VenueOrderId::from_u64(901)));
        assert_eq!(t.apply(&fill(1, Side::Buy, 8, 6, FeeKind::Quote)), Ok(Applied::Updated(OrderStatus::Filled)));
        assert_eq!(t.position(Venue::BinanceUsdm, &sym()), SignedQty(10));
        // Cancel confirmation after the fill: tolerated, still filled.
        assert_eq!(t.apply(&OrderEvent::Cancelled { client_id: ClientOrderId(1), ts_ms: 2 }), Ok(Applied::Duplicate));
        assert_eq!(t.get(ClientOrderId(1)).unwrap().status(), OrderStatus::Filled);
    }

    /// A fill fetched over REST names the venue's order id (Binance
    /// `userTrades`): the ledger finds our order by the id its ack named,
    /// only on that venue, and nothing before the ack.
    #[test]
    fn orders_are_found_by_the_venue_order_id_their_ack_named() {
        let mut t = OrderTable::new(8, 2);
        t.apply(&submitted(1, Side::Buy, 10)).unwrap();
        t.apply(&submitted(2, Side::Sell, 10)).unwrap();
        let id_of_2 = VenueOrderId::from_u64(902);
        assert_eq!(t.client_by_venue_order_id(Venue::BinanceUsdm, &id_of_2), None, "not acked yet");
        t.apply(&ack(2)).unwrap();
        t.apply(&ack(1)).unwrap();
        assert_eq!(t.client_by_venue_order_id(Venue::BinanceUsdm, &id_of_2), Some(ClientOrderId(2)));
        assert_eq!(
            t.client_by_venue_order_id(Venue::BinanceUsdm, &VenueOrderId::from_u64(901)),
            Some(ClientOrderId(1))
        );
        assert_eq!(t.client_by_venue_order_id(Venue::BybitLinear, &id_of_2), None, "another venue's id space");
        assert_eq!(t.client_by_venue_order_id(Venue::BinanceUsdm, &VenueOrderId::from_u64(903)), None);
    }

    #[test]
    fn duplicates_and_fee_supplied_later() {
        let mut t = OrderTable::new(8, 2);
        t.apply(&submitted(1, Side::Sell, 10)).unwrap();
        t.apply(&fill(1, Side::Sell, 7, 4, FeeKind::NotReported)).unwrap();
        assert_eq!(t.apply(&fill(1, Side::Sell, 7, 4, FeeKind::Quote)), Ok(Applied::FeeSupplied));
        assert_eq!(t.apply(&fill(1, Side::Sell, 7, 4, FeeKind::Quote)), Ok(Applied::Duplicate));
        assert_eq!(t.position(Venue::BinanceUsdm, &sym()), SignedQty(-4));
        assert_eq!(t.anomalies().duplicate_fills, 1);
        assert_eq!(t.anomalies().fee_updates, 1);
        assert_eq!(t.apply(&ack(1)), Ok(Applied::Updated(OrderStatus::PartiallyFilled)));
        assert_eq!(t.apply(&ack(1)), Ok(Applied::Duplicate));
    }

    #[test]
    fn overfill_is_counted_not_fatal() {
        let mut t = OrderTable::new(8, 2);
        t.apply(&submitted(1, Side::Buy, 5)).unwrap();
        t.apply(&fill(1, Side::Buy, 1, 5, FeeKind::Quote)).unwrap();
        assert_eq!(t.apply(&fill(1, Side::Buy, 2, 3, FeeKind::Quote)), Ok(Applied::Updated(OrderStatus::Filled)));
        assert_eq!(t.anomalies().overfills, 1);
        assert_eq!(t.anomalies().fills_after_terminal, 1);
        assert_eq!(t.position(Venue::BinanceUsdm, &sym()), SignedQty(8), "the venue's fills are the truth");
    }

    #[test]
    fn terminal_states_and_precedence() {
        let mut t = OrderTable::new(8, 2);
        for id in 1..=4 {
            t.apply(&submitted(id, Side::Buy, 10)).unwrap();
        }
        t.apply(&OrderEvent::Rejected {
            client_id: ClientOrderId(1),
            reason: RejectReason::MinNotional,
            venue_code: -4164,
            ts_ms: 0,
        })
        .unwrap();
        t.apply(&OrderEvent::Expired { client_id: ClientOrderId(2), ts_ms: 0 }).unwrap();
        t.apply(&fill(3, Side::Buy, 1, 2, FeeKind::Quote)).unwrap();
        t.apply(&OrderEvent::Cancelled { client_id: ClientOrderId(3), ts_ms: 0 }).unwrap();
        t.apply(&OrderEvent::Amended { client_id: ClientOrderId(4), price: Price(5_000_000), qty: Qty(3), ts_ms: 9 })
            .unwrap();
        t.apply(&OrderEvent::Amended { client_id: ClientOrderId(4), price: Price(4_000_000), qty: Qty(4), ts_ms: 5 })
            .unwrap();
        let status = |id| t.get(ClientOrderId(id)).unwrap().status();
        assert_eq!(
            [status(1), status(2), status(3), status(4)],
            [OrderStatus::Rejected, OrderStatus::Expired, OrderStatus::Cancelled, OrderStatus::New]
        );
        assert_eq!(t.get(ClientOrderId(3)).unwrap().filled_qty, Qty(2));
        assert_eq!(t.get(ClientOrderId(4)).unwrap().order.qty, Qty(3), "latest amend by venue time wins");
        assert_eq!(
            t.apply(&OrderEvent::ActionRejected {
                client_id: ClientOrderId(4),
                action: crate::order::OrderAction::Cancel,
                reason: RejectReason::UnknownOrder,
                venue_code: -2011,
                ts_ms: 0
            }),
            Ok(Applied::NoChange)
        );
        assert_eq!(t.retire_terminal(|_| false), 3);
        assert_eq!(t.live_count(), 1);
        assert_eq!(t.apply(&ack(1)), Err(StateError::UnknownOrder));
    }

    #[test]
    fn capacity_errors() {
        // Two order slots, one symbol, three fill keys.
        let mut t = OrderTable::with_fill_keys(2, 1, 3);
        t.apply(&submitted(1, Side::Buy, 10)).unwrap();
        assert_eq!(t.apply(&submitted(1, Side::Buy, 10)), Err(StateError::DuplicateClientId));
        t.apply(&submitted(3, Side::Buy, 10)).unwrap();
        assert_eq!(t.apply(&submitted(5, Side::Buy, 10)), Err(StateError::TableFull));
        // A fill is never refused: the fourth key pushes the first out (counted).
        for trade in 1..=4 {
            t.apply(&fill(1, Side::Buy, trade, 1, FeeKind::Quote)).unwrap();
        }
        assert_eq!(t.position(Venue::BinanceUsdm, &sym()), SignedQty(4));
        assert_eq!(t.anomalies().dedup_evictions, 1);
        // Keys still held dedupe; the forgotten one would count again.
        assert_eq!(t.apply(&fill(1, Side::Buy, 4, 1, FeeKind::Quote)), Ok(Applied::Duplicate));
        assert_eq!(t.apply(&fill(1, Side::Buy, 2, 1, FeeKind::Quote)), Ok(Applied::Duplicate));
        assert_eq!(t.position(Venue::BinanceUsdm, &sym()), SignedQty(4));
        let mut other = order(7, Side::Buy, 1);
        other.symbol = Symbol::new(b"ETHUSDT").unwrap();
        t.retire_terminal(|_| false);
        let mut t2 = OrderTable::new(4, 1);
        t2.apply(&submitted(1, Side::Buy, 10)).unwrap();
        assert_eq!(t2.apply(&OrderEvent::Submitted { order: other, ts_raw: 0 }), Err(StateError::PositionTableFull));
        assert_eq!(t2.apply(&ack(99)), Err(StateError::UnknownOrder));
        assert_eq!(t2.anomalies().unknown_orders, 1);
    }

    #[test]
    fn fill_key_store_forgets_first_in_first_out_and_finds_the_rest() {
        // Many keys through a small store: every key still held is found,
        // every forgotten one is not, whatever the probe chains looked like.
        let mut keys = FillKeys::new(37);
        let key = |n: u64| FillKey {
            venue: Venue::BybitLinear,
            client: ClientOrderId(n % 5),
            trade: TradeId(u128::from(n) * 0x1_0000_0001),
        };
        for n in 0..1_000u64 {
            let evicted = keys.insert(key(n), n % 3 == 0);
            assert_eq!(evicted, n >= 37, "{n}");
            for m in n.saturating_sub(60)..=n {
                let held = m + 37 > n;
                assert_eq!(keys.find(&key(m)).is_some(), held, "key {m} after inserting {n}");
            }
        }
        assert_eq!(keys.get_mut(&key(999)).copied(), Some(true));
        assert_eq!(keys.get_mut(&key(998)).copied(), Some(false));
    }

    #[test]
    fn a_self_trade_moves_both_legs() {
        // Our buy and our sell matched each other: one venue trade id, two
        // orders; both fills count (the key includes the order).
        let mut t = OrderTable::new(8, 2);
        t.apply(&submitted(1, Side::Buy, 5)).unwrap();
        t.apply(&submitted(2, Side::Sell, 5)).unwrap();
        assert_eq!(t.apply(&fill(1, Side::Buy, 77, 5, FeeKind::Quote)), Ok(Applied::Updated(OrderStatus::Filled)));
        assert_eq!(t.apply(&fill(2, Side::Sell, 77, 5, FeeKind::Quote)), Ok(Applied::Updated(OrderStatus::Filled)));
        assert_eq!(t.position(Venue::BinanceUsdm, &sym()), SignedQty(0));
        assert_eq!(t.get(ClientOrderId(1)).unwrap().filled_qty, Qty(5));
    }

    /// A valid venue history for one order: ack, distinct fills summing to
    /// at most the quantity, maybe a terminal message.
    fn history(id: u64, side: Side, qty: i64, cuts: &[i64], terminal: u8, trade_base: u128) -> Vec<OrderEvent> {
        let mut events = vec![ack(id)];
        let mut left = qty;
        for (k, c) in cuts.iter().enumerate() {
            let q = (*c).min(left);
            if q <= 0 {
                break;
            }
            left -= q;
            let kind = if k % 2 == 0 { FeeKind::Quote } else { FeeKind::NotReported };
            events.push(fill(id, side, trade_base + k as u128, q, kind));
        }
        match terminal {
            0 => events.push(OrderEvent::Cancelled { client_id: ClientOrderId(id), ts_ms: 3 }),
            1 => events.push(OrderEvent::Expired { client_id: ClientOrderId(id), ts_ms: 3 }),
            2 => {
                events.push(OrderEvent::Amended {
                    client_id: ClientOrderId(id),
                    price: Price(5_999_980),
                    qty: Qty(qty + 5),
                    ts_ms: 1,
                });
                events.push(OrderEvent::Amended {
                    client_id: ClientOrderId(id),
                    price: Price(5_999_990),
                    qty: Qty(qty + 3),
                    ts_ms: 2,
                });
            }
            _ => {}
        }
        events
    }

    type Snapshot = Vec<(OrderStatus, Qty, Option<VenueOrderId>, Qty, Price)>;

    fn run(orders: &[(u64, Side, i64)], events: &[OrderEvent]) -> (Snapshot, SignedQty) {
        let mut t = OrderTable::new(16, 2);
        for (id, side, qty) in orders {
            t.apply(&submitted(*id, *side, *qty)).unwrap();
        }
        for e in events {
            t.apply(e).unwrap();
            // Invariant after every step: position = Σ distinct fills.
            let mut sum = 0i64;
            for (id, side, _) in orders {
                sum += side.sign() * t.get(ClientOrderId(*id)).unwrap().filled_qty.0;
            }
            assert_eq!(t.position(Venue::BinanceUsdm, &sym()).0, sum);
        }
        let snap = orders
            .iter()
            .map(|(id, _, _)| {
                let o = t.get(ClientOrderId(*id)).unwrap();
                (o.status(), o.filled_qty, o.venue_order_id, o.order.qty, o.order.price)
            })
            .collect();
        (snap, t.position(Venue::BinanceUsdm, &sym()))
    }

    /// Empty slots in the table (the rest hold orders).
    fn empty_slots(t: &OrderTable) -> usize {
        t.slots.iter().filter(|s| matches!(s, Slot::Empty)).count()
    }

    #[test]
    fn retiring_leaves_no_tombstone_after_many_times_the_capacity() {
        // 64 slots, 20 000 orders placed, expired and retired in a window of
        // 40: every retired slot is empty again, so a lookup that misses
        // stops at an empty slot instead of scanning the whole table.
        let mut t = OrderTable::new(64, 1);
        for id in 1..=20_000u64 {
            t.apply(&submitted(id, Side::Buy, 1)).unwrap();
            t.apply(&OrderEvent::Expired { client_id: ClientOrderId(id), ts_ms: 0 }).unwrap();
            t.retire_terminal(|o| o.order.client_id.0 + 40 > id);
            assert_eq!(t.live_count(), 40.min(id as usize));
            assert_eq!(empty_slots(&t), 64 - t.live_count(), "after order {id}");
        }
        for id in 19_961..=20_000 {
            assert!(t.get(ClientOrderId(id)).is_some(), "{id} still held");
        }
        assert!(t.get(ClientOrderId(19_960)).is_none() && t.get(ClientOrderId(1)).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Backward-shift deletion against a model: ids that collide on
        /// their home slot (`id % 16`, runs crossing the wrap), retired in
        /// any pattern; every held order is found, every retired one is
        /// gone, and every free slot is empty.
        #[test]
        fn retire_keeps_every_held_order_findable(
            ops in proptest::collection::vec((0u64..64, any::<bool>(), any::<u8>()), 1..200),
        ) {
            let mut t = OrderTable::new(16, 1);
            let mut held: std::collections::BTreeSet<u64> = std::collections::BTreeSet::new();
            for (id, retire, keep_mask) in ops {
                let id = id + 1;
                if held.contains(&id) || held.len() == 16 {
                    prop_assert!(t.apply(&submitted(id, Side::Buy, 1)).is_err());
                } else {
                    t.apply(&submitted(id, Side::Buy, 1)).unwrap();
                    t.apply(&OrderEvent::Expired { client_id: ClientOrderId(id), ts_ms: 0 }).unwrap();
                    held.insert(id);
                }
                if retire {
                    // Keep the ids whose bit in the mask is set.
                    let keep = |i: u64| keep_mask >> (i % 8) & 1 == 1;
                    let n = t.retire_terminal(|o| keep(o.order.client_id.0));
                    let before = held.len();
                    held.retain(|&i| keep(i));
                    prop_assert_eq!(n, before - held.len());
                }
                for i in 1..=65u64 {
                    prop_assert_eq!(t.get(ClientOrderId(i)).is_some(), held.contains(&i), "id {}", i);
                }
                prop_assert_eq!(empty_slots(&t), 16 - held.len());
            }
        }

        #[test]
        fn any_interleaving_with_duplicates_reaches_the_same_state(
            specs in proptest::collection::vec((any::<bool>(), 1i64..50, proptest::collection::vec(1i64..20, 0..6), 0u8..4), 1..5),
            seed in any::<u64>(),
            dup_mask in any::<u64>(),
        ) {
            let orders: Vec<(u64, Side, i64)> = specs.iter().enumerate()
                .map(|(i, (buy, qty, _, _))| (i as u64 + 1, if *buy { Side::Buy } else { Side::Sell }, *qty))
                .collect();
            let mut in_order = Vec::new();
            for (i, (_, _, cuts, terminal)) in specs.iter().enumerate() {
                in_order.extend(history(orders[i].0, orders[i].1, orders[i].2, cuts, *terminal, (i as u128 + 1) * 1000));
            }
            let (expected, expected_pos) = run(&orders, &in_order);
            // Shuffle (deterministic from the seed) and duplicate some messages.
            let mut shuffled = in_order.clone();
            for (k, e) in in_order.iter().enumerate() {
                if dup_mask >> (k % 64) & 1 == 1 {
                    shuffled.push(*e);
                }
            }
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let (got, got_pos) = run(&orders, &shuffled);
            prop_assert_eq!(got, expected);
            prop_assert_eq!(got_pos, expected_pos);
        }
    }
}
