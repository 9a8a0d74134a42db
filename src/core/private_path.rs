//! The private path of the core: venue private messages → the one ledger →
//! the gate, the strategy and the risk link, each told only what is new.
//!
//! - An order event about another session's order (its client id's epoch
//!   is not ours) is counted and dropped before the ledger.
//! - The ledger applies the event; a duplicate goes no further. A new fill
//!   moves the gate's position and the strategy's managed position and goes
//!   to the risk side; a late fee goes to the risk side alone; the first
//!   terminal state (cancelled, expired, rejected) releases the order's
//!   unfilled quantity in the gate and ends it in the strategy.
//! - A refused cancel makes the strategy propose it again.
//! - A venue position report is reconciled against the ledger: while they
//!   disagree the symbol is reduce-only (gate and strategy), and both the
//!   mismatch and its resolution go to the risk side (journaled).
//! - Funding payments and wallet / margin figures go to the risk side.
//! - Rate-limit counters correct the gate's token buckets.
//! - A fill fetch's page (after a private stream was down) takes this same
//!   path row by row: a fill the stream already delivered is a ledger
//!   duplicate and goes no further; a missed one is applied like a stream
//!   fill and counted as recovered. Binance rows name the venue's order id
//!   only: the ledger maps it to ours
//!   ([`crate::order::state::OrderTable::client_by_venue_order_id`]); a row
//!   it cannot map is foreign activity.

use crate::fixed::SignedQty;
use crate::instrument::{InstrumentId, Venue};
use crate::order::state::{Applied, StateError};
use crate::order::{OrderAction, OrderEvent, RejectReason};
use crate::risk::RiskInput;
use crate::risk::gate::{GateSlot, VenueUsage};
use crate::signal::SignalSource;
use crate::venue::private_event::{PrivateEvent, PrivateParseError};

use super::probe::Probe;
use super::{Intent, Intents, RiskLink, State};

/// What one page of a fill fetch did ([`super::Core::on_fills_response`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillsApplied {
    /// The page as parsed (rows, our fills, foreign and bad rows, where the
    /// next page starts).
    pub page: crate::venue::private_event::FillsPage,
    /// Of its fills, those the ledger had not seen: missed by the stream,
    /// now applied (position, gate, strategy, risk link, journal).
    pub recovered: u32,
}

/// Which private connection a frame came from (it decides the parser).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivateSource {
    /// Binance user-data stream (`ORDER_TRADE_UPDATE`, `TRADE_LITE`, `ACCOUNT_UPDATE`).
    BinanceUserData,
    /// Binance WebSocket API responses.
    BinanceWsApi,
    /// Bybit private stream or trade WebSocket (topics and op responses).
    Bybit,
}

impl<L: RiskLink, S: SignalSource, P: Probe> State<L, S, P> {
    pub(super) fn on_private_frame(
        &mut self,
        source: PrivateSource,
        frame: &mut [u8],
        out: &mut Intents,
    ) -> Result<usize, PrivateParseError> {
        let events = &mut self.private_events[..];
        let parsed = match source {
            PrivateSource::BinanceUserData => self.binance_private.user_data(frame, &self.table, events),
            PrivateSource::BinanceWsApi => self.binance_private.ws_response(frame, &self.table, events),
            PrivateSource::Bybit => self.bybit_private.ws_frame(frame, &self.table, events),
        };
        self.apply_parsed(parsed, out)
    }

    pub(super) fn on_rest_response(
        &mut self,
        venue: Venue,
        http_status: u16,
        body: &mut [u8],
        tag: crate::order::ids::RequestTag,
        out: &mut Intents,
    ) -> Result<usize, PrivateParseError> {
        if tag.op == crate::order::ids::RequestOp::Fills {
            return self.on_fills_response(venue, http_status, body, out).map(|a| a.page.rows as usize);
        }
        let events = &mut self.private_events[..];
        let parsed = match venue {
            Venue::BinanceUsdm => self.binance_private.rest_response(http_status, body, tag, &self.table, events),
            Venue::BybitLinear if tag.op == crate::order::ids::RequestOp::Query => {
                self.bybit_private.query_response(http_status, body, tag, &self.table, events)
            }
            Venue::BybitLinear => self.bybit_private.rest_response(http_status, body, tag, events),
        };
        self.apply_parsed(parsed, out)
    }

    pub(super) fn on_fills_response(
        &mut self,
        venue: Venue,
        http_status: u16,
        body: &mut [u8],
        out: &mut Intents,
    ) -> Result<FillsApplied, PrivateParseError> {
        let events = &mut self.private_events[..];
        let parsed = match venue {
            Venue::BinanceUsdm => {
                let ledger = &self.ledger;
                let ours = |v: &crate::order::VenueOrderId| ledger.client_by_venue_order_id(Venue::BinanceUsdm, v);
                self.binance_private.user_trades(http_status, body, &self.table, ours, events)
            }
            Venue::BybitLinear => self.bybit_private.execution_list(http_status, body, &self.table, events),
        };
        let (n, page) = match parsed {
            Ok(x) => x,
            Err(e) => {
                self.stats.private_errors += 1;
                return Err(e);
            }
        };
        self.stats.fill_rows_bad += u64::from(page.bad_rows);
        let mut recovered = 0u32;
        for k in 0..n {
            let event = self.private_events[k];
            if self.on_private(&event, None, out) {
                recovered += 1;
            }
        }
        self.stats.fills_recovered += u64::from(recovered);
        Ok(FillsApplied { page, recovered })
    }

    fn apply_parsed(
        &mut self,
        parsed: Result<usize, PrivateParseError>,
        out: &mut Intents,
    ) -> Result<usize, PrivateParseError> {
        let n = match parsed {
            Ok(n) => n,
            Err(e) => {
                self.stats.private_errors += 1;
                return Err(e);
            }
        };
        // A Bybit rate-limit header names no symbol: it is about the order
        // the same response is about.
        let order_inst = self.private_events[..n].iter().find_map(|e| match e {
            PrivateEvent::Order(o) => {
                self.ledger.get(client_of(o)).and_then(|t| self.index_of(t.order.venue, &t.order.symbol))
            }
            _ => None,
        });
        for k in 0..n {
            let event = self.private_events[k];
            let _ = self.on_private(&event, order_inst.map(|i| InstrumentId(i as u16)), out);
        }
        Ok(n)
    }

    /// One private event; `context` is the instrument of the order events
    /// of the same message, if any. `true` when it was a fill the ledger had
    /// not seen (it moved the position).
    pub(super) fn on_private(
        &mut self,
        event: &PrivateEvent,
        context: Option<InstrumentId>,
        out: &mut Intents,
    ) -> bool {
        let _ = out;
        let now_ms = self.now_ms();
        match *event {
            PrivateEvent::Order(ref order) => return self.on_order(order),
            PrivateEvent::Position(p) => {
                let Some(i) = self.index_of(p.venue, &p.symbol) else { return false };
                self.reconcile(i, Some((p.qty, p.ts_ms)));
            }
            PrivateEvent::Funding(p) => {
                self.stats.funding_payments += 1;
                self.send(&RiskInput::Funding { venue: p.venue, symbol: p.symbol, amount: p.amount, ts_ms: p.ts_ms });
            }
            PrivateEvent::Account(a) => {
                self.send(&RiskInput::Wallet { venue: a.venue, wallet_balance: a.wallet_balance, ts_ms: a.ts_ms });
                if let (Some(margin_balance), Some(maintenance_margin)) = (a.margin_balance, a.maintenance_margin) {
                    self.send(&RiskInput::Account {
                        venue: a.venue,
                        margin_balance,
                        maintenance_margin,
                        ts_ms: a.ts_ms,
                    });
                }
            }
            PrivateEvent::Foreign(_) => self.stats.foreign_activity += 1,
            PrivateEvent::RateLimit(usage) => {
                let now_ns = self.now_ns;
                match usage.venue {
                    Venue::BinanceUsdm => self.gate.observe_usage(
                        VenueUsage::Binance {
                            order_count_10s: usage.orders_10s.map(|c| c.used),
                            order_count_1m: usage.orders_1m.map(|c| c.used),
                        },
                        now_ns,
                    ),
                    Venue::BybitLinear => {
                        if let (Some(inst), Some(remaining)) = (context, usage.bybit.and_then(|b| b.remaining)) {
                            self.gate.observe_usage(VenueUsage::Bybit { slot: GateSlot(inst.0), remaining }, now_ns);
                        }
                    }
                }
            }
            PrivateEvent::Session(_) => {}
        }
        let _ = now_ms;
        false
    }

    /// One order event through the ledger (module docs); `true` for a fill
    /// the ledger had not seen.
    fn on_order(&mut self, event: &OrderEvent) -> bool {
        let id = client_of(event);
        if matches!(event, OrderEvent::Submitted { .. }) {
            // Only the core submits; a submission from outside is not a venue fact.
            self.stats.unknown_orders += 1;
            return false;
        }
        if id.epoch() != self.epoch {
            self.stats.other_session += 1;
            return false;
        }
        let now_ms = self.now_ms();
        let was_terminal = self.ledger.get(id).map(|o| o.status().is_terminal());
        let applied = match self.ledger.apply_at(event, now_ms) {
            Ok(applied) => applied,
            Err(StateError::UnknownOrder) => {
                self.stats.unknown_orders += 1;
                return false;
            }
            Err(_) => {
                self.stats.ledger_full += 1;
                return false;
            }
        };
        let Some(tracked) = self.ledger.get(id).copied() else { return false };
        let Some(i) = self.index_of(tracked.order.venue, &tracked.order.symbol) else { return false };
        let slot = GateSlot(i as u16);
        match (applied, event) {
            (Applied::Duplicate, _) => self.stats.duplicate_order_events += 1,
            (Applied::NoChange, OrderEvent::ActionRejected { action, .. }) => {
                if *action == OrderAction::Cancel {
                    self.strategy.on_cancel_failed(i, id);
                }
                self.send(&RiskInput::Order(*event));
            }
            (Applied::NoChange, _) => {}
            (Applied::FeeSupplied, OrderEvent::Filled(fill)) => self.send(&RiskInput::FeeSupplied(*fill)),
            (Applied::FeeSupplied, _) => {}
            (Applied::Updated(_), OrderEvent::Filled(fill)) => {
                self.gate.on_fill(slot, fill.side, fill.qty);
                self.strategy.on_fill(i, fill, now_ms);
                self.send(&RiskInput::Order(*event));
                self.reconcile(i, None);
                return true;
            }
            (
                Applied::Updated(status),
                OrderEvent::Cancelled { .. } | OrderEvent::Expired { .. } | OrderEvent::Rejected { .. },
            ) => {
                if status.is_terminal() && was_terminal == Some(false) {
                    let leaves = crate::fixed::Qty((tracked.order.qty.0 - tracked.filled_qty.0).max(0));
                    self.gate.on_order_done(slot, tracked.order.side, leaves);
                    self.strategy.on_order_done(i, id, now_ms);
                }
                self.send(&RiskInput::Order(*event));
            }
            (Applied::Updated(_), _) => self.send(&RiskInput::Order(*event)),
        }
        false
    }

    /// Compares the ledger's position of instrument `i` with the venue's
    /// last report (`report` when one just arrived).
    fn reconcile(&mut self, i: usize, report: Option<(SignedQty, i64)>) {
        let inst = self.insts[i];
        let ledger = self.ledger.position(inst.venue, &inst.symbol);
        let ts_ms = report.map_or_else(|| self.now_ms(), |(_, t)| t);
        let reported = match report {
            Some((qty, _)) => qty,
            None => match self.slots[i].mismatch {
                Some(qty) => qty,
                None => return,
            },
        };
        let slot = GateSlot(i as u16);
        if reported == ledger {
            if self.slots[i].mismatch.take().is_some() {
                self.stats.reconcile_resolved += 1;
                self.gate.set_reduce_only(slot, false);
                self.send(&RiskInput::Reconcile { venue: inst.venue, symbol: inst.symbol, ledger, reported, ts_ms });
            }
            return;
        }
        if self.slots[i].mismatch != Some(reported) {
            self.slots[i].mismatch = Some(reported);
            self.stats.reconcile_mismatches += 1;
            self.gate.set_reduce_only(slot, true);
            self.send(&RiskInput::Reconcile { venue: inst.venue, symbol: inst.symbol, ledger, reported, ts_ms });
        }
    }

    pub(super) fn send_failed(&mut self, intent: &Intent, out: &mut Intents) {
        self.stats.send_failures += 1;
        match *intent {
            Intent::Place { order, .. } => {
                let rejected = OrderEvent::Rejected {
                    client_id: order.client_id,
                    reason: RejectReason::NotSent,
                    venue_code: 0,
                    ts_ms: self.now_ms(),
                };
                let _ = self.on_private(&PrivateEvent::Order(rejected), None, out);
            }
            Intent::Cancel { inst, client_id, .. } => self.strategy.on_cancel_failed(usize::from(inst.0), client_id),
        }
    }
}

fn client_of(event: &OrderEvent) -> crate::order::ClientOrderId {
    match event {
        OrderEvent::Submitted { order, .. } => order.client_id,
        OrderEvent::Acked { client_id, .. }
        | OrderEvent::Cancelled { client_id, .. }
        | OrderEvent::Expired { client_id, .. }
        | OrderEvent::Rejected { client_id, .. }
        | OrderEvent::Amended { client_id, .. }
        | OrderEvent::ActionRejected { client_id, .. } => *client_id,
        OrderEvent::Filled(fill) => fill.client_id,
    }
}
