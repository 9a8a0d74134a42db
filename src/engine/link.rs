//! The live engine's side of the core's risk link ([`RiskLink`]), made
//! replayable.
//!
//! - **Out**: every [`RiskInput`] goes onto the lossless ring to the risk
//!   thread (waiting while it is full: nothing is dropped). If the risk
//!   thread is gone, the link says so ([`LiveLink::risk_gone`]) and the
//!   gate's verdict is forced to halt: no risk thread, no trading.
//! - **Back**: the risk thread publishes its verdict into its own cell and
//!   queues commands. The core's gate does **not** read the risk thread's
//!   cell: it reads a cell of the link that is updated only when the core
//!   polls the link ([`RiskLink::command`], at the start of every core call
//!   and after every send). Congestion of the ring is sampled at the same
//!   points. So every fact from the asynchronous risk thread reaches the
//!   core at a numbered poll, and each one is written down
//!   ([`Observation`], with its poll number) for the flight recorder: a
//!   replay hands the same facts to the core at the same polls and must
//!   make the same decisions ([`crate::engine::replay`]).
//! - Commands the engine itself raises (flatten a symbol whose market data
//!   went dark, cancel everything at shutdown) enter through the same
//!   polls ([`LiveLink::inject`]) and are written down the same way.
//! - **Equity** for sizing is computed here, deterministically, from what
//!   the core sends: initial equity plus realised PnL net of fees and
//!   funding (the risk thread's figure, which includes unrealised PnL at
//!   asynchronous marks, would make sizing depend on thread timing).
//!
//! - **Why each order was placed** ([`RiskLink::order_context`]: an
//!   entry's decision and signal vector, an exit's reason) goes onto a ring
//!   of its own to the journal thread ([`crate::journal::thread::OrderContext`]).
//!   It is lossy, so a stalled journal disk can never stall the hot thread
//!   (the lossless ring to the risk thread waits when full; this one must
//!   not make exits wait on research records): a context that finds the ring
//!   full is dropped and counted ([`LiveLink::contexts_dropped`], the
//!   engine's `ContextsDropped` counter, a `dropped` record of ring
//!   `contexts` in the journal). The replay's link hands each entry's
//!   context to its round-trip book, as the backtest does.
//!
//! Nothing here allocates after construction: the observation tape and the
//! local command queue are fixed; a full tape is counted (the recording is
//! then incomplete and says so).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::core::OrderCause;
use crate::fixed::{Notional, notional};
use crate::instrument::Instrument;
use crate::journal::record::{EntryRecord, ExitRecord, SignalBits};
use crate::journal::thread::OrderContext;
use crate::order::{FeeKind, Fill, OrderEvent, OrderRequest};
use crate::ring::{LosslessConsumer, LosslessProducer, LossyProducer};
use crate::risk::verdict::{Cause, Mode, Verdict, VerdictCell};
use crate::risk::{RiskCommand, RiskInput};

/// One fact from the risk side, as the core saw it at a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// The verdict changed to this word (sequence bits cleared).
    Verdict(u64),
    /// The ring to the risk thread became congested (or not).
    Congested(bool),
    /// This command was handed to the core.
    Command(RiskCommand),
}

/// Capacity of the observation tape between two drains.
pub const TAPE_CAPACITY: usize = 256;
/// Commands the engine may queue locally between two polls.
const LOCAL_CAPACITY: usize = 64;

/// Realised PnL per instrument from the fills the core reports.
#[derive(Debug, Clone)]
pub struct Pnl {
    insts: Box<[Instrument]>,
    /// Signed position (quantity mantissa) and its cost (notional, 1e-8 USDT).
    open: Box<[(i64, i128)]>,
    realised: i128,
    fees: i128,
    funding: i128,
}

impl Pnl {
    /// Flat on every instrument.
    #[must_use]
    pub fn new(insts: &[Instrument]) -> Self {
        Self {
            insts: insts.into(),
            open: vec![(0, 0); insts.len()].into_boxed_slice(),
            realised: 0,
            fees: 0,
            funding: 0,
        }
    }

    fn index(&self, fill: &Fill) -> Option<usize> {
        self.insts.iter().position(|i| i.venue == fill.venue && i.symbol == fill.symbol)
    }

    /// A new fill (each once: the ledger de-duplicates).
    pub fn on_fill(&mut self, fill: &Fill) {
        if fill.fee_kind == FeeKind::Quote {
            self.fees += i128::from(fill.fee.0);
        }
        let Some(i) = self.index(fill) else { return };
        let inst = self.insts[i];
        let value = i128::from(notional(fill.price, inst.price_scale, fill.qty, inst.qty_scale).map_or(0, |n| n.0));
        let (qty, cost) = &mut self.open[i];
        let signed = fill.side.sign() * fill.qty.0;
        if *qty == 0 || qty.signum() == signed.signum() {
            *qty += signed;
            *cost += value;
            return;
        }
        let closed = signed.abs().min(qty.abs());
        let closed_cost = *cost * i128::from(closed) / i128::from(qty.abs());
        let closed_value = value * i128::from(closed) / i128::from(fill.qty.0.max(1));
        // A long closed by a sell realises value − cost; a short the reverse.
        self.realised += if *qty > 0 { closed_value - closed_cost } else { closed_cost - closed_value };
        *cost -= closed_cost;
        *qty += signed;
        if *qty == 0 {
            *cost = 0;
        } else if qty.signum() == signed.signum() {
            // Reversed: the rest of the fill opens the new position.
            *cost = value - closed_value;
        }
    }

    /// Realised PnL net of fees and funding, 1e-8 USDT.
    #[must_use]
    pub fn net(&self) -> Notional {
        Notional(i64::try_from(self.realised - self.fees + self.funding).unwrap_or(i64::MAX))
    }

    /// Unrealised PnL of instrument `i` at `mark` (zero when flat or no mark).
    #[must_use]
    pub fn unrealised(&self, i: usize, mark: crate::fixed::Price) -> Notional {
        let (Some(inst), Some(&(qty, cost))) = (self.insts.get(i), self.open.get(i)) else { return Notional::ZERO };
        if qty == 0 || mark.0 <= 0 {
            return Notional::ZERO;
        }
        let value = i128::from(
            notional(mark, inst.price_scale, crate::fixed::Qty(qty.abs()), inst.qty_scale).map_or(0, |n| n.0),
        );
        let u = if qty > 0 { value - cost } else { cost - value };
        Notional(i64::try_from(u).unwrap_or(0))
    }

    fn on_input(&mut self, input: &RiskInput) {
        match *input {
            RiskInput::Order(OrderEvent::Filled(ref fill)) => self.on_fill(fill),
            RiskInput::FeeSupplied(ref fill) if fill.fee_kind == FeeKind::Quote => self.fees += i128::from(fill.fee.0),
            RiskInput::Funding { amount, .. } => self.funding += i128::from(amount.0),
            _ => {}
        }
    }
}

/// Order outcomes as the ledger reported them (each fact once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderCounts {
    /// Orders submitted (gate passed, in the ledger).
    pub submitted: u64,
    /// First acknowledgements.
    pub acked: u64,
    /// Fills (each distinct execution).
    pub fills: u64,
    /// Cancellations.
    pub cancelled: u64,
    /// Expiries (IOC remainders, post-only that would take).
    pub expired: u64,
    /// Rejections (venue, or not sent).
    pub rejected: u64,
    /// Refused cancels (and amends).
    pub action_rejected: u64,
}

/// The live engine's [`RiskLink`] (module docs).
pub struct LiveLink {
    to_risk: LosslessProducer<RiskInput>,
    from_risk: LosslessConsumer<RiskCommand>,
    risk_cell: Arc<VerdictCell>,
    gate_cell: Arc<VerdictCell>,
    last_word: u64,
    congested: bool,
    local: VecDeque<RiskCommand>,
    local_dropped: u64,
    polls: u64,
    tape: Vec<(u64, Observation)>,
    tape_overflow: u64,
    pnl: Pnl,
    initial_equity: Notional,
    counts: OrderCounts,
    risk_gone: bool,
    /// A verdict word the engine imposes (shutdown: halt), ignoring the risk thread's.
    forced: Option<u64>,
    /// To the journal thread: why each order was placed.
    contexts: Option<LossyProducer<OrderContext>>,
    contexts_sent: u64,
}

impl std::fmt::Debug for LiveLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveLink").field("polls", &self.polls).field("counts", &self.counts).finish_non_exhaustive()
    }
}

/// Masks the sequence number out of a verdict word.
const DECISION_BITS: u64 = 0xFFFF_FFFF;

impl LiveLink {
    /// A link over the rings to and from the risk thread; the risk thread
    /// publishes into `risk_cell`, the core's gate reads `gate_cell`.
    #[must_use]
    pub fn new(
        to_risk: LosslessProducer<RiskInput>,
        from_risk: LosslessConsumer<RiskCommand>,
        risk_cell: Arc<VerdictCell>,
        gate_cell: Arc<VerdictCell>,
        insts: &[Instrument],
        initial_equity: Notional,
    ) -> Self {
        Self {
            to_risk,
            from_risk,
            risk_cell,
            last_word: gate_cell.load_word() & DECISION_BITS,
            gate_cell,
            congested: false,
            local: VecDeque::with_capacity(LOCAL_CAPACITY),
            local_dropped: 0,
            polls: 0,
            tape: Vec::with_capacity(TAPE_CAPACITY),
            tape_overflow: 0,
            pnl: Pnl::new(insts),
            initial_equity,
            counts: OrderCounts::default(),
            risk_gone: false,
            forced: None,
            contexts: None,
            contexts_sent: 0,
        }
    }

    /// Journals why each order was placed on `ring` (module docs).
    #[must_use]
    pub fn with_contexts(mut self, ring: LossyProducer<OrderContext>) -> Self {
        self.contexts = Some(ring);
        self
    }

    /// Order contexts handed to the journal's ring so far.
    #[must_use]
    pub fn contexts_sent(&self) -> u64 {
        self.contexts_sent
    }

    /// Order contexts dropped because their ring was full.
    #[must_use]
    pub fn contexts_dropped(&self) -> u64 {
        self.contexts.as_ref().map_or(0, LossyProducer::dropped)
    }

    /// From the next poll on, the gate sees a halt (no new entries; exits
    /// still pass), whatever the risk thread says: the engine is stopping.
    /// Written down like any verdict.
    pub fn halt_locally(&mut self) {
        let halt = Verdict { mode: Mode::Halt, cause: Cause::KillCommand, size_cap_permille: 0, seq: 0 };
        self.forced = Some(halt.pack() & DECISION_BITS);
    }

    /// Queues a command of the engine's own for the core's next poll.
    pub fn inject(&mut self, command: RiskCommand) {
        if self.local.len() < LOCAL_CAPACITY {
            self.local.push_back(command);
        } else {
            self.local_dropped += 1;
        }
    }

    /// Sends a record to the risk thread outside the core (the kill switch).
    pub fn send_direct(&mut self, input: &RiskInput) {
        if self.to_risk.push_spin(*input).is_err() {
            self.on_risk_gone();
        }
    }

    /// Moves the observations since the last call to `out` (in order).
    pub fn drain_tape(&mut self, mut out: impl FnMut(u64, Observation)) {
        for (poll, o) in self.tape.drain(..) {
            out(poll, o);
        }
    }

    /// Observations lost because the tape was full (the recording is incomplete).
    #[must_use]
    pub fn tape_overflow(&self) -> u64 {
        self.tape_overflow
    }

    /// Polls so far.
    #[must_use]
    pub fn polls(&self) -> u64 {
        self.polls
    }

    /// Order outcomes so far.
    #[must_use]
    pub fn counts(&self) -> OrderCounts {
        self.counts
    }

    /// Realised PnL (and positions' cost) from the fills so far.
    #[must_use]
    pub fn pnl(&self) -> &Pnl {
        &self.pnl
    }

    /// The risk thread has gone away: trading is halted.
    #[must_use]
    pub fn risk_gone(&self) -> bool {
        self.risk_gone
    }

    /// The risk thread's current verdict.
    #[must_use]
    pub fn risk_verdict(&self) -> Verdict {
        self.risk_cell.load()
    }

    fn record(&mut self, o: Observation) {
        if self.tape.len() < TAPE_CAPACITY {
            self.tape.push((self.polls, o));
        } else {
            self.tape_overflow += 1;
        }
    }

    fn on_risk_gone(&mut self) {
        if !self.risk_gone {
            self.risk_gone = true;
            let halt = Verdict { mode: Mode::Halt, cause: Cause::KillCommand, size_cap_permille: 0, seq: 0 };
            // Seen by the gate at the next poll, written down like any verdict.
            self.risk_cell.publish(halt);
        }
    }

    fn count(&mut self, input: &RiskInput) {
        let c = &mut self.counts;
        if let RiskInput::Order(event) = input {
            match event {
                OrderEvent::Submitted { .. } => c.submitted += 1,
                OrderEvent::Acked { .. } => c.acked += 1,
                OrderEvent::Filled(_) => c.fills += 1,
                OrderEvent::Cancelled { .. } => c.cancelled += 1,
                OrderEvent::Expired { .. } => c.expired += 1,
                OrderEvent::Rejected { .. } => c.rejected += 1,
                OrderEvent::ActionRejected { .. } => c.action_rejected += 1,
                OrderEvent::Amended { .. } => {}
            }
        }
    }
}

impl crate::core::RiskLink for LiveLink {
    fn send(&mut self, input: &RiskInput, _now_ns: u64) {
        self.pnl.on_input(input);
        self.count(input);
        if self.to_risk.push_spin(*input).is_err() {
            self.on_risk_gone();
        }
    }

    fn command(&mut self) -> Option<RiskCommand> {
        self.polls += 1;
        let word = self.forced.unwrap_or_else(|| self.risk_cell.load_word() & DECISION_BITS);
        if word != self.last_word {
            self.last_word = word;
            self.gate_cell.publish(Verdict::unpack(word));
            self.record(Observation::Verdict(word));
        }
        let congested = self.to_risk.is_congested();
        if congested != self.congested {
            self.congested = congested;
            self.record(Observation::Congested(congested));
        }
        let command = self.local.pop_front().or_else(|| self.from_risk.pop())?;
        self.record(Observation::Command(command));
        Some(command)
    }

    fn congested(&self) -> bool {
        self.congested
    }

    fn equity(&self) -> Notional {
        Notional(self.initial_equity.0.saturating_add(self.pnl.net().0))
    }

    fn order_context(&mut self, order: &OrderRequest, cause: OrderCause<'_>) {
        let Some(ring) = &self.contexts else { return };
        let context = match cause {
            OrderCause::Entry(c) => OrderContext::Entry(EntryRecord::of(order, c), SignalBits(c.snapshot)),
            OrderCause::Exit(reason) => OrderContext::Exit(ExitRecord::of(order, reason)),
        };
        if ring.push(context) {
            self.contexts_sent += 1;
        }
    }
}

/// The replay's side of the link: hands the core the recorded
/// observations at their recorded polls; collects what the core sends
/// (for the replay's own accounting) without any thread.
#[derive(Debug)]
pub struct ReplayLink {
    tape: VecDeque<(u64, Observation)>,
    gate_cell: Arc<VerdictCell>,
    congested: bool,
    polls: u64,
    pnl: Pnl,
    initial_equity: Notional,
    counts: OrderCounts,
    /// Observations whose poll had passed when reached (a divergence).
    pub late: u64,
    insts: Vec<Instrument>,
    /// Round trips from the recorded fills, as the backtest builds them
    /// (roles registered by the replay as the core places orders).
    pub trades: crate::backtest::trades::TradeBook,
    /// The first fill of each order: client id → the fill's venue time, ms.
    pub first_fills: std::collections::BTreeMap<u64, i64>,
}

impl ReplayLink {
    /// A link replaying `tape` (in poll order) into `gate_cell`.
    #[must_use]
    pub fn new(
        tape: Vec<(u64, Observation)>,
        gate_cell: Arc<VerdictCell>,
        insts: &[Instrument],
        initial_equity: Notional,
    ) -> Self {
        Self {
            tape: tape.into(),
            gate_cell,
            congested: false,
            polls: 0,
            pnl: Pnl::new(insts),
            initial_equity,
            counts: OrderCounts::default(),
            late: 0,
            insts: insts.to_vec(),
            trades: crate::backtest::trades::TradeBook::new(insts.len()),
            first_fills: std::collections::BTreeMap::new(),
        }
    }

    /// Order outcomes so far.
    #[must_use]
    pub fn counts(&self) -> OrderCounts {
        self.counts
    }

    /// Polls so far.
    #[must_use]
    pub fn polls(&self) -> u64 {
        self.polls
    }

    /// Observations not yet handed over.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.tape.len()
    }

    /// Realised PnL from the fills so far.
    #[must_use]
    pub fn pnl(&self) -> &Pnl {
        &self.pnl
    }
}

impl crate::core::RiskLink for ReplayLink {
    fn send(&mut self, input: &RiskInput, _now_ns: u64) {
        self.pnl.on_input(input);
        if let RiskInput::Order(OrderEvent::Filled(fill)) = input
            && let Some(inst) = self.insts.iter().find(|i| i.venue == fill.venue && i.symbol == fill.symbol)
        {
            self.trades.on_fill(inst, fill);
        }
        if let RiskInput::Order(OrderEvent::Filled(fill)) = input {
            self.first_fills.entry(fill.client_id.0).or_insert(fill.ts_ms);
        }
        if let RiskInput::FeeSupplied(fill) = input {
            self.trades.on_fee_supplied(fill);
        }
        let c = &mut self.counts;
        if let RiskInput::Order(event) = input {
            match event {
                OrderEvent::Submitted { .. } => c.submitted += 1,
                OrderEvent::Acked { .. } => c.acked += 1,
                OrderEvent::Filled(_) => c.fills += 1,
                OrderEvent::Cancelled { .. } => c.cancelled += 1,
                OrderEvent::Expired { .. } => c.expired += 1,
                OrderEvent::Rejected { .. } => c.rejected += 1,
                OrderEvent::ActionRejected { .. } => c.action_rejected += 1,
                OrderEvent::Amended { .. } => {}
            }
        }
    }

    fn command(&mut self) -> Option<RiskCommand> {
        self.polls += 1;
        while let Some(&(poll, o)) = self.tape.front() {
            if poll > self.polls {
                break;
            }
            self.tape.pop_front();
            if poll < self.polls {
                self.late += 1;
            }
            match o {
                Observation::Verdict(word) => {
                    self.gate_cell.publish(Verdict::unpack(word));
                }
                Observation::Congested(c) => self.congested = c,
                Observation::Command(command) => return Some(command),
            }
        }
        None
    }

    fn congested(&self) -> bool {
        self.congested
    }

    fn equity(&self) -> Notional {
        Notional(self.initial_equity.0.saturating_add(self.pnl.net().0))
    }

    fn order_context(&mut self, order: &OrderRequest, cause: OrderCause<'_>) {
        if let OrderCause::Entry(context) = cause {
            self.trades.set_context(order.client_id, *context);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::RiskLink;
    use crate::fixed::{Price, Qty};
    use crate::order::{ClientOrderId, TradeId};
    use crate::side::Side;
    use crate::venue::Venue;

    fn fill(side: Side, price: i64, qty: i64, fee: i64) -> Fill {
        Fill {
            client_id: ClientOrderId(1),
            venue: Venue::BinanceUsdm,
            symbol: "BTCUSDT".parse().unwrap(),
            side,
            trade_id: TradeId(1),
            price: Price(price),
            qty: Qty(qty),
            fee: Notional(fee),
            fee_kind: FeeKind::Quote,
            is_maker: false,
            ts_ms: 0,
        }
    }

    #[test]
    fn pnl_round_trips_and_reversals() {
        let inst = Instrument::reference_btcusdt(Venue::BinanceUsdm);
        let mut p = Pnl::new(&[inst]);
        // Buy 0.010 at 60000.00, sell 0.010 at 60010.00: +0.1 USDT, fees 2 × 0.01.
        p.on_fill(&fill(Side::Buy, 6_000_000, 10, 1_000_000));
        p.on_fill(&fill(Side::Sell, 6_001_000, 10, 1_000_000));
        assert_eq!(p.net(), Notional(10_000_000 - 2_000_000));
        // Short 0.002 at 60000, then buy 0.004 at 59990: +0.02 realised, long 0.002 at 59990 left.
        let mut p = Pnl::new(&[inst]);
        p.on_fill(&fill(Side::Sell, 6_000_000, 2, 0));
        p.on_fill(&fill(Side::Buy, 5_999_000, 4, 0));
        assert_eq!(p.net(), Notional(2_000_000));
        assert_eq!(p.unrealised(0, Price(6_000_000)), Notional(2_000_000));
    }

    #[test]
    fn every_fact_reaches_the_core_at_a_numbered_poll_and_replays_there() {
        let inst = Instrument::reference_btcusdt(Venue::BinanceUsdm);
        let (to_risk, _risk_in) = crate::ring::lossless::<RiskInput>(16, 8);
        let (commands, from_risk) = crate::ring::lossless::<RiskCommand>(16, 16);
        let risk_cell = Arc::new(VerdictCell::new());
        let gate_cell = Arc::new(VerdictCell::new());
        let mut live =
            LiveLink::new(to_risk, from_risk, Arc::clone(&risk_cell), Arc::clone(&gate_cell), &[inst], Notional(1));
        assert_eq!(live.command(), None);
        risk_cell.publish(Verdict::RUN);
        // The gate sees the new verdict only at the next poll.
        assert_eq!(gate_cell.load().mode, Mode::Halt);
        commands.try_push(RiskCommand::CancelAll).unwrap();
        live.inject(RiskCommand::FlattenAll);
        assert_eq!(live.command(), Some(RiskCommand::FlattenAll));
        assert_eq!(gate_cell.load().mode, Mode::Run);
        assert_eq!(live.command(), Some(RiskCommand::CancelAll));
        assert_eq!(live.command(), None);
        let mut tape = Vec::new();
        live.drain_tape(|p, o| tape.push((p, o)));
        assert_eq!(
            tape,
            [
                (2, Observation::Verdict(Verdict::RUN.pack() & DECISION_BITS)),
                (2, Observation::Command(RiskCommand::FlattenAll)),
                (3, Observation::Command(RiskCommand::CancelAll)),
            ]
        );
        let replay_cell = Arc::new(VerdictCell::new());
        let mut replay = ReplayLink::new(tape, Arc::clone(&replay_cell), &[inst], Notional(1));
        assert_eq!(replay.command(), None);
        assert_eq!(replay_cell.load().mode, Mode::Halt);
        assert_eq!(replay.command(), Some(RiskCommand::FlattenAll));
        assert_eq!(replay_cell.load().mode, Mode::Run);
        assert_eq!(replay.command(), Some(RiskCommand::CancelAll));
        assert_eq!(replay.command(), None);
        assert_eq!((replay.pending(), replay.late), (0, 0));
    }
}
