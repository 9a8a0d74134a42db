//! The core's link to the risk side.
//!
//! The core emits [`RiskInput`] records — orders as submitted, every new
//! ledger fact (ack, fill, late fee, cancel, expiry, rejection), funding,
//! wallet and margin figures, position reconciliations, marks — and takes
//! back [`RiskCommand`]s (cancel all, flatten). The verdict word itself is
//! read by the gate from its [`crate::risk::VerdictCell`].
//!
//! - The live engine's link pushes onto the lossless ring to the risk
//!   thread (waiting when it is full: nothing is dropped) and pops the
//!   command ring.
//! - Why each order was placed (an entry's [`EntryContext`], an exit's
//!   reason) is handed to the link once per placed order
//!   ([`RiskLink::order_context`]); the live link journals it.
//! - The backtest's link runs [`crate::risk::RiskMonitor`] in process,
//!   synchronously, and publishes its verdicts into the cell, so a command
//!   comes back before the core's next decision, exactly as before the core
//!   existed.

use crate::fixed::Notional;
use crate::order::OrderRequest;
use crate::risk::{RiskCommand, RiskInput};
use crate::strategy::{EntryContext, ExitReason};

/// Why the core placed an order ([`RiskLink::order_context`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OrderCause<'a> {
    /// An entry, and the strategy's decision behind it.
    Entry(&'a EntryContext),
    /// An exit, and its reason.
    Exit(ExitReason),
}

/// See the module docs.
pub trait RiskLink {
    /// One record for the risk side, at the core's time `now_ns`. It must
    /// not be lost.
    fn send(&mut self, input: &RiskInput, now_ns: u64);

    /// A command from the risk side, if one is waiting. The core polls this
    /// after every [`RiskLink::send`] and at the start of every call.
    fn command(&mut self) -> Option<RiskCommand> {
        None
    }

    /// The link is congested (the lossless ring above its high-water mark):
    /// the gate then refuses new orders ([`crate::risk::Refusal::Backpressure`]).
    fn congested(&self) -> bool {
        false
    }

    /// The equity the strategy sizes from, USDT: the risk side's latest
    /// figure (the backtest: initial equity plus realised PnL).
    fn equity(&self) -> Notional;

    /// Why the core placed `order`: called once for every order the core
    /// places, just before its `Submitted` record is sent. The live link
    /// hands it to the journal (it must not block or allocate); the default
    /// ignores it (the backtest reads [`crate::strategy::Strategy::entry_context`]
    /// itself).
    fn order_context(&mut self, _order: &OrderRequest, _cause: OrderCause<'_>) {}
}
