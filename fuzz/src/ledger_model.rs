//! The ledger check the private-message targets share: venue parsers'
//! events go into scalpel's one ledger ([`OrderTable`]) exactly as the core
//! routes them, and an independent model built from the ledger's documented
//! rules (module docs of `scalpel::order::state`) follows the same events.
//! After each message the two must agree, and the ledger's facts must never
//! go backwards.
//!
//! The model: per order, monotone facts (acked, cancelled, expired,
//! rejected, the first venue order id) and the distinct fills by key
//! (venue, client id, trade id); amends by venue time, latest wins (ties by
//! quantity then price); status by the documented precedence; per symbol,
//! position = Σ ±qty over distinct fills (the order's side); fill keys
//! remembered first in first out in a store of fixed size; events about
//! client ids not in the table are unknown.

use std::collections::{HashMap, HashSet, VecDeque};

use scalpel::fixed::{Price, Qty};
use scalpel::instrument::{Symbol, Venue};
use scalpel::order::state::{Applied, OrderStatus, OrderTable, StateError, TrackedOrder};
use scalpel::order::{ClientOrderId, FeeKind, OrderEvent, OrderKind, OrderRequest, TimeInForce, VenueOrderId};
use scalpel::side::Side;
use scalpel::venue::private_event::PrivateEvent;

/// Orders the checks submit first: client ids 1 to 8 (as `scalpel-1` …
/// `scalpel-8` in the frames), BTCUSDT for odd ids, ETHUSDT for even.
pub const ORDERS: u64 = 8;
/// Fill keys the ledger remembers: small, so that forgetting is exercised.
pub const FILL_KEYS: usize = 12;

#[derive(Debug, Clone, Default)]
struct ModelOrder {
    qty: i128,
    side: i128,
    symbol: usize,
    acked: bool,
    cancelled: bool,
    expired: bool,
    rejected: bool,
    venue_id: Option<VenueOrderId>,
    amend_key: Option<(i64, i64, i64)>,
    filled: i128,
    fills: u32,
}

impl ModelOrder {
    fn status(&self) -> OrderStatus {
        if self.qty > 0 && self.filled >= self.qty {
            OrderStatus::Filled
        } else if self.rejected {
            OrderStatus::Rejected
        } else if self.cancelled {
            OrderStatus::Cancelled
        } else if self.expired {
            OrderStatus::Expired
        } else if self.filled > 0 {
            OrderStatus::PartiallyFilled
        } else if self.acked {
            OrderStatus::Acked
        } else {
            OrderStatus::New
        }
    }
}

/// The ledger under test and its model.
pub struct LedgerCheck {
    venue: Venue,
    symbols: [Symbol; 2],
    table: OrderTable,
    orders: HashMap<u64, ModelOrder>,
    /// Fill keys remembered, oldest first, with "fee reported".
    keys: VecDeque<((Venue, u64, u128), bool)>,
    positions: [i128; 2],
    unknown: u64,
    duplicates: u64,
    fee_updates: u64,
    overfills: u64,
    evictions: u64,
    /// A value left `i64` somewhere (the ledger saturates): exact
    /// comparison of quantities stops for that order or symbol.
    saturated_orders: HashSet<u64>,
    saturated_symbols: [bool; 2],
    /// The ledger's view after the last message, for monotonicity.
    before: HashMap<u64, TrackedOrder>,
    /// Orders whose quantity an amend changed in the current message.
    amended_now: HashSet<u64>,
}

fn in_i64(v: i128) -> bool {
    i64::try_from(v).is_ok()
}

impl LedgerCheck {
    /// A ledger for `venue` with the [`ORDERS`] submitted.
    ///
    /// # Panics
    /// If the ledger refuses the submissions (a bug found at once).
    #[must_use]
    pub fn new(venue: Venue) -> Self {
        let symbols = [Symbol::new(b"BTCUSDT").expect("symbol"), Symbol::new(b"ETHUSDT").expect("symbol")];
        let mut table = OrderTable::with_fill_keys(2 * ORDERS as usize, 4, FILL_KEYS);
        let mut orders = HashMap::new();
        for id in 1..=ORDERS {
            let symbol = usize::from(id % 2 == 0);
            let side = if id % 4 < 2 { Side::Buy } else { Side::Sell };
            let qty = 5 * id as i64;
            let order = OrderRequest {
                venue,
                symbol: symbols[symbol],
                side,
                kind: OrderKind::Limit,
                tif: TimeInForce::Gtc,
                price: Price(6_180_020),
                qty: Qty(qty),
                reduce_only: false,
                client_id: ClientOrderId(id),
            };
            let applied = table.apply(&OrderEvent::Submitted { order, ts_raw: 0 }).expect("submission");
            assert_eq!(applied, Applied::Updated(OrderStatus::New));
            orders.insert(
                id,
                ModelOrder { qty: i128::from(qty), side: i128::from(side.sign()), symbol, ..ModelOrder::default() },
            );
        }
        let mut check = Self {
            venue,
            symbols,
            table,
            orders,
            keys: VecDeque::new(),
            positions: [0; 2],
            unknown: 0,
            duplicates: 0,
            fee_updates: 0,
            overfills: 0,
            evictions: 0,
            saturated_orders: HashSet::new(),
            saturated_symbols: [false; 2],
            before: HashMap::new(),
            amended_now: HashSet::new(),
        };
        check.snapshot();
        check
    }

    fn snapshot(&mut self) {
        self.before = self.table.orders().map(|o| (o.order.client_id.0, *o)).collect();
        self.amended_now.clear();
    }

    /// Applies the events of one parsed message, as the core does: order
    /// events go to the ledger (a `Submitted` from a parser is not a venue
    /// fact and is dropped); the others do not touch it.
    pub fn apply(&mut self, events: &[PrivateEvent]) {
        for event in events {
            let PrivateEvent::Order(event) = event else { continue };
            if matches!(event, OrderEvent::Submitted { .. }) {
                continue;
            }
            let result = self.table.apply_at(event, 1);
            self.model(event, result);
        }
    }

    fn model(&mut self, event: &OrderEvent, result: Result<Applied, StateError>) {
        let id = match event {
            OrderEvent::Acked { client_id, .. }
            | OrderEvent::Cancelled { client_id, .. }
            | OrderEvent::Expired { client_id, .. }
            | OrderEvent::Rejected { client_id, .. }
            | OrderEvent::Amended { client_id, .. }
            | OrderEvent::ActionRejected { client_id, .. } => *client_id,
            OrderEvent::Filled(fill) => fill.client_id,
            OrderEvent::Submitted { .. } => return,
        };
        let Some(o) = self.orders.get_mut(&id.0) else {
            self.unknown += 1;
            assert_eq!(result, Err(StateError::UnknownOrder), "an event for {id:?}, not in the table");
            return;
        };
        let result =
            result.unwrap_or_else(|e| panic!("the ledger refused an event for a known order: {e} ({event:?})"));
        match *event {
            OrderEvent::Acked { venue_order_id, .. } => {
                o.acked = true;
                o.venue_id.get_or_insert(venue_order_id);
            }
            OrderEvent::Cancelled { .. } => o.cancelled = true,
            OrderEvent::Expired { .. } => o.expired = true,
            OrderEvent::Rejected { .. } => o.rejected = true,
            OrderEvent::Amended { price, qty, ts_ms, .. } => {
                let key = (ts_ms, qty.0, price.0);
                if o.amend_key.is_none_or(|k| key > k) {
                    o.amend_key = Some(key);
                    if o.qty != i128::from(qty.0) {
                        self.amended_now.insert(id.0);
                    }
                    o.qty = i128::from(qty.0);
                }
            }
            OrderEvent::ActionRejected { .. } => assert_eq!(result, Applied::NoChange),
            OrderEvent::Filled(fill) => {
                let key = (fill.venue, fill.client_id.0, fill.trade_id.0);
                let fee = fill.fee_kind != FeeKind::NotReported;
                if let Some(entry) = self.keys.iter_mut().find(|(k, _)| *k == key) {
                    if !entry.1 && fee {
                        entry.1 = true;
                        self.fee_updates += 1;
                        assert_eq!(result, Applied::FeeSupplied, "a late fee for {key:?}");
                    } else {
                        self.duplicates += 1;
                        assert_eq!(result, Applied::Duplicate, "a duplicate fill {key:?}");
                    }
                    return;
                }
                if self.keys.len() == FILL_KEYS {
                    self.keys.pop_front();
                    self.evictions += 1;
                }
                self.keys.push_back((key, fee));
                o.fills += 1;
                o.filled += i128::from(fill.qty.0);
                if !in_i64(o.filled) {
                    self.saturated_orders.insert(id.0);
                }
                if o.filled > o.qty {
                    self.overfills += 1;
                }
                let s = o.symbol;
                self.positions[s] += o.side * i128::from(fill.qty.0);
                if !in_i64(self.positions[s]) {
                    self.saturated_symbols[s] = true;
                }
                assert!(matches!(result, Applied::Updated(_)), "a new fill {key:?} gave {result:?}");
            }
            OrderEvent::Submitted { .. } => {}
        }
    }

    /// Frees terminal orders (as the core's timer does after the replay
    /// horizon); the model forgets them too.
    pub fn retire(&mut self) {
        let terminal: Vec<u64> =
            self.orders.iter().filter(|(_, o)| o.status().is_terminal()).map(|(id, _)| *id).collect();
        let retired = self.table.retire_terminal(|_| false);
        // Saturated quantities (beyond i64) may make the model's status
        // differ; then follow the ledger.
        if self.saturated_orders.is_empty() {
            assert_eq!(retired, terminal.len(), "retired orders differ from the terminal ones");
            for id in terminal {
                self.orders.remove(&id);
            }
        } else {
            let table = &self.table;
            self.orders.retain(|id, _| table.get(ClientOrderId(*id)).is_some());
        }
    }

    /// The invariants after a message.
    ///
    /// # Panics
    /// On the first one broken.
    pub fn check(&mut self) {
        for (id, m) in &self.orders {
            let t = self.table.get(ClientOrderId(*id)).unwrap_or_else(|| panic!("order {id} lost from the ledger"));
            let exact = !self.saturated_orders.contains(id);
            assert_eq!(t.fill_count(), m.fills, "order {id}: fill count differs from its distinct fills");
            if exact {
                assert_eq!(i128::from(t.filled_qty.0), m.filled, "order {id}: filled ≠ Σ distinct fills");
                assert_eq!(i128::from(t.order.qty.0), m.qty, "order {id}: quantity after amends");
                assert_eq!(t.status(), m.status(), "order {id}: status differs from its facts");
            }
            assert_eq!(t.venue_order_id, m.venue_id, "order {id}: venue order id");
            assert_eq!(t.rejection.is_some(), m.rejected, "order {id}: rejection");
            assert_eq!(
                t.done_ms.is_some(),
                t.status().is_terminal() || self.before.get(id).is_some_and(|b| b.done_ms.is_some())
            );
            if let Some(b) = self.before.get(id) {
                // Facts never go backwards.
                assert!(t.filled_qty >= b.filled_qty || !exact, "order {id}: filled quantity went down");
                assert!(t.fill_count() >= b.fill_count(), "order {id}: fill count went down");
                assert!(
                    b.venue_order_id.is_none() || t.venue_order_id == b.venue_order_id,
                    "order {id}: venue id changed"
                );
                assert!(b.rejection.is_none() || t.rejection.is_some(), "order {id}: rejection undone");
                assert!(b.done_ms.is_none() || t.done_ms == b.done_ms, "order {id}: done time changed");
                let undone = b.status().is_terminal() && !t.status().is_terminal();
                // Only a later amend raising the quantity above the fills
                // may reopen a filled order (the venue amended it first).
                assert!(
                    !undone || (b.status() == OrderStatus::Filled && self.amended_now.contains(id)),
                    "order {id}: {:?} went back to {:?}",
                    b.status(),
                    t.status()
                );
            }
        }
        for (s, symbol) in self.symbols.iter().enumerate() {
            if !self.saturated_symbols[s] {
                let p = self.table.position(self.venue, symbol);
                assert_eq!(i128::from(p.0), self.positions[s], "{symbol:?}: position ≠ Σ distinct fills");
            }
        }
        let a = self.table.anomalies();
        assert_eq!(a.unknown_orders, self.unknown, "unknown-order count");
        assert_eq!(a.duplicate_fills, self.duplicates, "duplicate-fill count");
        assert_eq!(a.fee_updates, self.fee_updates, "late-fee count");
        assert_eq!(a.dedup_evictions, self.evictions, "forgotten-key count");
        if self.saturated_orders.is_empty() {
            assert_eq!(a.overfills, self.overfills, "overfill count");
        }
        assert_eq!(self.table.live_count(), self.orders.len(), "orders in the table");
        self.snapshot();
    }
}

/// One private message of the ledger targets' input, decoded from its
/// header: which parser (`mode`, each target takes it modulo its parser
/// count), the REST status and the request it answers, and the frame.
pub struct Message<'a> {
    /// Picks the parser.
    pub mode: u8,
    /// A REST response's HTTP status.
    pub status: u16,
    /// The request a REST response answers.
    pub tag: scalpel::order::ids::RequestTag,
    /// The frame, copied (parsers work in place).
    pub frame: &'a mut [u8],
}

/// The ledger targets' whole input: messages separated by `\n`, each
/// `[mode, status_hi, status_lo, tag, frame…]`; mode 255 retires the
/// terminal orders (as the core's timer does). Each message goes through
/// `parse` (events into the slice it is given, their count back) and
/// then the ledger of `venue`, checked after every message. A message
/// that does not parse changes nothing (the core counts it).
pub fn run_messages<E>(
    venue: Venue,
    data: &[u8],
    mut parse: impl FnMut(Message<'_>, &mut [PrivateEvent]) -> Result<usize, E>,
) {
    use scalpel::order::ids::{RequestOp, RequestTag};
    let mut check = LedgerCheck::new(venue);
    let mut events = [scalpel::venue::private_event::EMPTY_EVENT; scalpel::core::PRIVATE_EVENTS_PER_FRAME];
    let mut buf = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        let [mode, hi, lo, tag_byte, frame @ ..] = line else { continue };
        if *mode == 255 {
            check.retire();
            check.check();
            continue;
        }
        let op = [RequestOp::Place, RequestOp::Cancel, RequestOp::Amend, RequestOp::CancelAll, RequestOp::Auth]
            [usize::from(*tag_byte) % 5];
        buf.clear();
        buf.extend_from_slice(frame);
        let message = Message {
            mode: *mode,
            status: u16::from_be_bytes([*hi, *lo]),
            tag: RequestTag::new(op, ClientOrderId(u64::from(*tag_byte >> 3))),
            frame: &mut buf,
        };
        if let Ok(n) = parse(message, &mut events) {
            assert!(n <= events.len());
            check.apply(&events[..n]);
        }
        check.check();
    }
}
