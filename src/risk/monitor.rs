//! The risk thread's decision logic as a pure, deterministic state machine:
//! inputs and time in, verdict and commands out. No threads, no clock, no
//! I/O, so every limit is tested exactly at its threshold.
//!
//! # Accounting
//! - Position per instrument from the fills it is given. The monitor does
//!   not de-duplicate: it is fed only what the one ledger
//!   ([`crate::order::state::OrderTable`], applied by the trading core)
//!   reports as new — each fill once, and a fee reported later for a fill
//!   already counted as [`RiskInput::FeeSupplied`].
//! - Funding payments ([`RiskInput::Funding`]) are realised PnL, and count
//!   toward the round trip of the position they were paid on.
//! - Average-cost basis kept exactly as `Σ price × qty` mantissas (`i128`);
//!   a reducing fill realises `sign × (price × closed − cost × closed / |pos|)`.
//! - Fees are subtracted from realised PnL as they are charged.
//! - Unrealised PnL marks each position at the last mark/mid price.
//! - Equity = `initial_equity + realised + unrealised`.
//!
//! # Breakers (each triggers **at** its threshold: `≥` a limit, `≤` a loss)
//! | breaker | condition | effect |
//! |---|---|---|
//! | daily loss | equity − equity at 00:00 UTC ≤ −limit (the tighter of the USDT limit and `daily_loss_limit_pct` of the day's starting equity) | `Flatten` until the next UTC day |
//! | weekly loss | equity − equity at Monday 00:00 UTC ≤ −limit (USDT or `weekly_loss_limit_pct`) | `Flatten` until next Monday |
//! | daily profit | equity − equity at 00:00 UTC ≥ target (the lower of `daily_profit_halt_usdt` and `daily_profit_halt_pct`; off by default) | `Halt` until the next UTC day |
//! | consecutive losses | N round trips (flat → flat) in a row with net PnL < 0 (a trip whose fills' fees come later is judged when the last one arrives, or after [`FEE_WAIT_MS`]) | `Halt` for the cool-down, or with `consecutive_losses_action = "cut-size"` the opening size capped at `consecutive_losses_size_pct` until a round trip with net PnL ≥ 0 |
//! | drawdown | (peak − equity) / peak ≥ fraction | `Halt` for the pause; the peak then resets to equity |
//! | flash crash | a mark differs from any mark of the last window by ≥ fraction of that mark | `Flatten` for the halt time |
//! | margin | maintenance margin / margin balance ≥ reduce threshold | opening size capped |
//! | margin | … ≥ reduce-only threshold | `ReduceOnly` |
//! | position timeout | a position open for ≥ timeout | `Flatten{symbol}` command, repeated every retry interval |
//! | kill switch | file, signal or command | `Flatten`, then `Exit` once flat with no open order (or after the kill timeout) |
//!
//! The issue words the flash-crash guard as "> 5 %"; like every other
//! limit here it triggers at the threshold itself, so a move of exactly the
//! configured percentage trips it.
//!
//! Consecutive-loss, drawdown and flash-crash timers use `now_ms` (the
//! caller's clock: wall time live, replay time in a backtest). The
//! flash-crash window uses the marks' own timestamps so replays see the
//! same windows.

use std::collections::{HashMap, VecDeque};

use crate::fixed::{E8, Notional, Price, Rate, SignedQty, pow10};
use crate::instrument::{Instrument, Symbol};
use crate::order::{ClientOrderId, FeeKind, Fill, OrderEvent};
use crate::risk::config::{LossStreakAction, RiskConfig};
use crate::risk::verdict::{Cause, FULL_SIZE_PERMILLE, Mode, Verdict};
use crate::venue::Venue;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// What the hot thread tells the risk thread (over the lossless ring).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskInput {
    /// An order lifecycle event.
    Order(OrderEvent),
    /// A mark or mid price. The engine conflates these (at most one per
    /// symbol per 100 ms is plenty for a one-minute window).
    Mark {
        /// Venue.
        venue: Venue,
        /// Symbol.
        symbol: Symbol,
        /// Price at the instrument's scale.
        price: Price,
        /// Exchange time of the price, ms.
        ts_ms: i64,
    },
    /// A fill already given as [`OrderEvent::Filled`] without its fee
    /// (Binance `TRADE_LITE`), now reported with it: charge only the fee.
    FeeSupplied(Fill),
    /// A funding payment, received (negative: paid).
    Funding {
        /// Venue.
        venue: Venue,
        /// The position it was paid on, when the venue says.
        symbol: Option<Symbol>,
        /// Amount, USDT.
        amount: Notional,
        /// Exchange time, ms.
        ts_ms: i64,
    },
    /// The wallet balance the venue reports.
    Wallet {
        /// Venue.
        venue: Venue,
        /// Wallet balance, USDT.
        wallet_balance: Notional,
        /// Exchange time, ms.
        ts_ms: i64,
    },
    /// The venue's reported position disagreed with the ledger's
    /// (`ledger != reported`: the symbol is reduce-only until they agree),
    /// or agrees again (`ledger == reported`). Journaled; no risk effect here
    /// (the core enforces the reduce-only state).
    Reconcile {
        /// Venue.
        venue: Venue,
        /// Symbol.
        symbol: Symbol,
        /// The ledger's position.
        ledger: SignedQty,
        /// The venue's position.
        reported: SignedQty,
        /// Exchange time of the venue's report, ms.
        ts_ms: i64,
    },
    /// Account margin figures (from the venue's account stream).
    Account {
        /// Venue.
        venue: Venue,
        /// Margin balance (wallet balance plus unrealised PnL), USDT.
        margin_balance: Notional,
        /// Maintenance margin, USDT.
        maintenance_margin: Notional,
        /// Exchange time, ms.
        ts_ms: i64,
    },
    /// A book was resynchronised (journaled; no risk effect).
    Resync {
        /// Venue.
        venue: Venue,
        /// Symbol.
        symbol: Symbol,
        /// Exchange time, ms.
        ts_ms: i64,
    },
    /// Kill switch thrown by the engine or an operator command.
    Kill,
}

/// Where a kill switch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillSource {
    /// The kill file appeared.
    File,
    /// SIGTERM or SIGUSR1.
    Signal,
    /// [`RiskInput::Kill`].
    Command,
}

impl KillSource {
    fn cause(self) -> Cause {
        match self {
            KillSource::File => Cause::KillFile,
            KillSource::Signal => Cause::KillSignal,
            KillSource::Command => Cause::KillCommand,
        }
    }
}

/// What the risk thread asks the engine to do (over the command ring).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskCommand {
    /// Cancel every open order on every venue.
    CancelAll,
    /// Close every position with reduce-only market orders.
    FlattenAll,
    /// Close one position.
    Flatten {
        /// Venue.
        venue: Venue,
        /// Symbol.
        symbol: Symbol,
    },
    /// Stop the engine: the kill switch has finished (or timed out).
    Exit,
}

/// What the monitor decided, in order. The thread publishes verdicts,
/// sends commands, and journals all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskOutput {
    /// The verdict changed (sequence number not yet assigned).
    Verdict {
        /// When.
        ts_ms: i64,
        /// The new verdict.
        verdict: Verdict,
    },
    /// A breaker tripped; `value` is what it measured (PnL or equity in
    /// USDT at 8 decimals, a fraction at 8 decimals, a count).
    Trip {
        /// When.
        ts_ms: i64,
        /// Which breaker.
        cause: Cause,
        /// The measurement.
        value: i64,
    },
    /// A breaker's hold expired.
    Clear {
        /// When.
        ts_ms: i64,
        /// Which breaker.
        cause: Cause,
    },
    /// A command for the engine.
    Command {
        /// When.
        ts_ms: i64,
        /// The command.
        command: RiskCommand,
    },
}

/// What the risk thread hands to the journal: the inputs worth keeping
/// (orders, resyncs, account and funding updates, reconciliations; not
/// marks) and every decision. The journal converts these into its own
/// records (`impl From<RiskRecord> for JournalRecord`), so this module does
/// not depend on the journal's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskRecord {
    /// An input, as received.
    Input(RiskInput),
    /// A decision.
    Output(RiskOutput),
}

/// Counts of inputs that were accounted for but not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MonitorStats {
    /// Fills or marks for instruments the monitor does not know.
    pub unknown_instrument: u64,
    /// Marks older than the newest mark of their symbol.
    pub out_of_order_marks: u64,
    /// Position disagreements with the venue reported.
    pub reconcile_mismatches: u64,
    /// Round trips judged for the loss streak before every fee of theirs
    /// was reported ([`FEE_WAIT_MS`] passed, or the next trip closed first).
    pub trips_judged_without_fee: u64,
}

/// How long a closed round trip waits for the fees its fills did not carry
/// (Binance `TRADE_LITE` comes before the `ORDER_TRADE_UPDATE` with the fee)
/// before the loss streak judges it on what is known, ms.
pub const FEE_WAIT_MS: i64 = 5_000;

/// A round trip closed while fees of its fills were still unreported.
#[derive(Debug, Clone)]
struct HeldTrip {
    /// Net PnL so far, fees reported so far included.
    pnl: i64,
    /// Fills whose fee is still to come, per order.
    fees_owed: Vec<(ClientOrderId, u32)>,
    /// When it is judged anyway.
    due_ms: i64,
}

/// Takes one owed fee of `client_id` off `owed`; `false` when none was owed.
fn settle_owed(owed: &mut Vec<(ClientOrderId, u32)>, client_id: ClientOrderId) -> bool {
    let Some(k) = owed.iter().position(|(c, _)| *c == client_id) else { return false };
    owed[k].1 -= 1;
    if owed[k].1 == 0 {
        owed.swap_remove(k);
    }
    true
}

/// A point-in-time view for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiskSnapshot {
    /// Current equity, USDT.
    pub equity: Notional,
    /// Realised PnL net of fees, USDT.
    pub realised: Notional,
    /// Unrealised PnL at the last marks, USDT.
    pub unrealised: Notional,
    /// Fees paid, USDT.
    pub fees: Notional,
    /// Funding received (negative: paid), USDT.
    pub funding: Notional,
    /// The last wallet balance a venue reported (summed over venues), USDT.
    pub wallet_balance: Option<Notional>,
    /// PnL since 00:00 UTC, USDT.
    pub daily_pnl: Notional,
    /// PnL since Monday 00:00 UTC, USDT.
    pub weekly_pnl: Notional,
    /// Highest equity seen since the last drawdown reset.
    pub peak_equity: Notional,
    /// Instruments with a non-zero position.
    pub open_positions: usize,
    /// Orders submitted and not yet closed.
    pub open_orders: usize,
    /// Losing round trips in a row.
    pub consecutive_losses: u32,
}

/// Min and max of a price series over a trailing time window, amortised
/// O(1) per point (monotonic deques).
#[derive(Debug, Clone, Default)]
struct PriceWindow {
    max: VecDeque<(i64, i64)>,
    min: VecDeque<(i64, i64)>,
    last_ts: i64,
}

impl PriceWindow {
    /// Adds a point and returns `(min, max)` over `[ts - window, ts]`.
    fn push(&mut self, ts: i64, price: i64, window_ms: i64) -> (i64, i64) {
        while self.max.back().is_some_and(|&(_, p)| p <= price) {
            self.max.pop_back();
        }
        self.max.push_back((ts, price));
        while self.min.back().is_some_and(|&(_, p)| p >= price) {
            self.min.pop_back();
        }
        self.min.push_back((ts, price));
        let oldest = ts - window_ms;
        while self.max.front().is_some_and(|&(t, _)| t < oldest) {
            self.max.pop_front();
        }
        while self.min.front().is_some_and(|&(t, _)| t < oldest) {
            self.min.pop_front();
        }
        self.last_ts = ts;
        (self.min.front().map_or(price, |&(_, p)| p), self.max.front().map_or(price, |&(_, p)| p))
    }
}

#[derive(Debug, Clone)]
struct Position {
    venue: Venue,
    symbol: Symbol,
    price_scale: u8,
    qty_scale: u8,
    /// Signed quantity mantissa.
    qty: i64,
    /// Σ price × qty mantissas of the open quantity (always ≥ 0).
    cost: i128,
    mark: Option<Price>,
    /// Net PnL (E8) of the current round trip, fees included.
    trip_pnl: i64,
    /// Next time the timeout fires for this position.
    timeout_at: Option<i64>,
    window: PriceWindow,
    /// Fills of the current round trip whose fee is still to come, per order.
    fees_owed: Vec<(ClientOrderId, u32)>,
    /// The last round trip, closed but waiting for its fees before the loss
    /// streak judges it.
    held: Option<HeldTrip>,
}

impl Position {
    /// `raw` at `price_scale + qty_scale` decimals, as USDT at 8 decimals
    /// (truncated toward zero).
    fn to_e8(&self, raw: i128) -> i64 {
        let scale = self.price_scale + self.qty_scale;
        let v = if scale >= E8 { raw / i128::from(pow10(scale - E8)) } else { raw * i128::from(pow10(E8 - scale)) };
        i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
    }

    fn unrealised(&self) -> i64 {
        match self.mark {
            Some(mark) if self.qty != 0 => {
                let value = i128::from(mark.0) * i128::from(self.qty.abs());
                let raw = if self.qty > 0 { value - self.cost } else { self.cost - value };
                self.to_e8(raw)
            }
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct OpenOrder {
    leaves: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KillState {
    Off,
    Flattening { since_ms: i64, source: KillSource },
    Done { source: KillSource },
}

/// The risk decision state machine.
#[derive(Debug)]
pub struct RiskMonitor {
    cfg: RiskConfig,
    positions: Vec<Position>,
    index: HashMap<(Venue, Symbol), usize>,
    open_orders: HashMap<ClientOrderId, OpenOrder>,
    realised: i64,
    fees: i64,
    funding: i64,
    wallet: [Option<i64>; 2],
    peak_equity: i64,
    day: i64,
    day_start_equity: i64,
    week: i64,
    week_start_equity: i64,
    consecutive_losses: u32,
    daily_until: Option<i64>,
    weekly_until: Option<i64>,
    losses_until: Option<i64>,
    profit_until: Option<i64>,
    streak_cut: bool,
    drawdown_until: Option<i64>,
    flash_until: Option<i64>,
    margin_ratio: Option<Rate>,
    kill: KillState,
    last_flatten_ms: i64,
    current: Verdict,
    stats: MonitorStats,
}

/// The tighter of a USDT amount and a fraction of `base` (USDT e8).
fn tighter(usdt: i64, fraction: Option<Rate>, base: i64) -> i64 {
    match fraction {
        Some(f) => {
            let part = i128::from(base.max(0)) * i128::from(f.0) / i128::from(pow10(E8));
            usdt.min(i64::try_from(part).unwrap_or(i64::MAX))
        }
        None => usdt,
    }
}

fn week_of_day(day: i64) -> i64 {
    // 1970-01-01 was a Thursday: day 4 (1970-01-05) starts the first Monday week.
    (day + 3).div_euclid(7)
}

fn week_start_ms(week: i64) -> i64 {
    (week * 7 - 3) * DAY_MS
}

impl RiskMonitor {
    /// A monitor for `instruments`, starting at `now_ms` with no position.
    #[must_use]
    pub fn new(cfg: RiskConfig, instruments: &[Instrument], now_ms: i64) -> Self {
        let mut index = HashMap::with_capacity(instruments.len());
        let mut positions = Vec::with_capacity(instruments.len());
        for inst in instruments {
            if index.insert((inst.venue, inst.symbol), positions.len()).is_none() {
                positions.push(Position {
                    venue: inst.venue,
                    symbol: inst.symbol,
                    price_scale: inst.price_scale,
                    qty_scale: inst.qty_scale,
                    qty: 0,
                    cost: 0,
                    mark: None,
                    trip_pnl: 0,
                    timeout_at: None,
                    window: PriceWindow::default(),
                    fees_owed: Vec::new(),
                    held: None,
                });
            }
        }
        let equity = cfg.initial_equity.0;
        let day = now_ms.div_euclid(DAY_MS);
        let mut monitor = Self {
            cfg,
            positions,
            index,
            open_orders: HashMap::new(),
            realised: 0,
            fees: 0,
            funding: 0,
            wallet: [None; 2],
            peak_equity: equity,
            day,
            day_start_equity: equity,
            week: week_of_day(day),
            week_start_equity: equity,
            consecutive_losses: 0,
            daily_until: None,
            weekly_until: None,
            losses_until: None,
            profit_until: None,
            streak_cut: false,
            drawdown_until: None,
            flash_until: None,
            margin_ratio: None,
            kill: KillState::Off,
            last_flatten_ms: now_ms,
            current: Verdict::RUN,
            stats: MonitorStats::default(),
        };
        monitor.current = monitor.compute_verdict();
        monitor
    }

    /// The current verdict (sequence 0: the cell assigns sequences).
    #[must_use]
    pub fn verdict(&self) -> Verdict {
        self.current
    }

    /// `true` once the kill switch has finished: the thread should exit.
    #[must_use]
    pub fn finished(&self) -> bool {
        matches!(self.kill, KillState::Done { .. })
    }

    /// Where the kill switch came from, once thrown.
    #[must_use]
    pub fn kill_source(&self) -> Option<KillSource> {
        match self.kill {
            KillState::Off => None,
            KillState::Flattening { source, .. } | KillState::Done { source } => Some(source),
        }
    }

    /// Counters of inputs not applied.
    #[must_use]
    pub fn stats(&self) -> MonitorStats {
        self.stats
    }

    /// The position of an instrument.
    #[must_use]
    pub fn position(&self, venue: Venue, symbol: &Symbol) -> Option<SignedQty> {
        self.index.get(&(venue, *symbol)).map(|&i| SignedQty(self.positions[i].qty))
    }

    fn unrealised(&self) -> i64 {
        self.positions.iter().map(Position::unrealised).fold(0i64, i64::saturating_add)
    }

    fn equity(&self) -> i64 {
        self.cfg.initial_equity.0.saturating_add(self.realised).saturating_add(self.unrealised())
    }

    /// PnL and exposure now.
    #[must_use]
    pub fn snapshot(&self) -> RiskSnapshot {
        let equity = self.equity();
        RiskSnapshot {
            equity: Notional(equity),
            realised: Notional(self.realised),
            unrealised: Notional(self.unrealised()),
            fees: Notional(self.fees),
            funding: Notional(self.funding),
            wallet_balance: match self.wallet {
                [None, None] => None,
                [a, b] => Some(Notional(a.unwrap_or(0).saturating_add(b.unwrap_or(0)))),
            },
            daily_pnl: Notional(equity - self.day_start_equity),
            weekly_pnl: Notional(equity - self.week_start_equity),
            peak_equity: Notional(self.peak_equity),
            open_positions: self.positions.iter().filter(|p| p.qty != 0).count(),
            open_orders: self.open_orders.len(),
            consecutive_losses: self.consecutive_losses,
        }
    }

    /// Applies one input at `now_ms`, then re-evaluates every breaker.
    pub fn on_input(&mut self, input: &RiskInput, now_ms: i64, out: &mut Vec<RiskOutput>) {
        match *input {
            RiskInput::Order(ref event) => self.on_order(event, now_ms, out),
            RiskInput::Mark { venue, symbol, price, ts_ms } => self.on_mark(venue, symbol, price, ts_ms, now_ms, out),
            RiskInput::Account { margin_balance, maintenance_margin, .. } => {
                let ratio = if margin_balance.0 <= 0 {
                    Rate(i64::MAX)
                } else {
                    let r =
                        i128::from(maintenance_margin.0.max(0)) * i128::from(pow10(E8)) / i128::from(margin_balance.0);
                    Rate(i64::try_from(r).unwrap_or(i64::MAX))
                };
                self.margin_ratio = Some(ratio);
            }
            RiskInput::FeeSupplied(ref fill) => {
                if fill.fee_kind == FeeKind::Quote {
                    self.charge_late_fee(fill, now_ms, out);
                }
            }
            RiskInput::Funding { venue, symbol, amount, .. } => {
                self.funding = self.funding.saturating_add(amount.0);
                self.realised = self.realised.saturating_add(amount.0);
                if let Some(&idx) = symbol.and_then(|s| self.index.get(&(venue, s))) {
                    let p = &mut self.positions[idx];
                    p.trip_pnl = p.trip_pnl.saturating_add(amount.0);
                }
            }
            RiskInput::Wallet { venue, wallet_balance, .. } => {
                self.wallet[venue as usize] = Some(wallet_balance.0);
            }
            RiskInput::Reconcile { ledger, reported, .. } => {
                if ledger != reported {
                    self.stats.reconcile_mismatches += 1;
                }
            }
            RiskInput::Resync { .. } => {}
            RiskInput::Kill => self.kill(KillSource::Command, now_ms, out),
        }
        self.on_tick(now_ms, out);
    }

    /// Throws the kill switch (idempotent: a second throw changes nothing).
    pub fn kill(&mut self, source: KillSource, now_ms: i64, out: &mut Vec<RiskOutput>) {
        if self.kill == KillState::Off {
            self.kill = KillState::Flattening { since_ms: now_ms, source };
            out.push(RiskOutput::Trip { ts_ms: now_ms, cause: source.cause(), value: 0 });
        }
        self.on_tick(now_ms, out);
    }

    fn on_order(&mut self, event: &OrderEvent, now_ms: i64, out: &mut Vec<RiskOutput>) {
        match *event {
            OrderEvent::Submitted { order, .. } => {
                self.open_orders.insert(order.client_id, OpenOrder { leaves: order.qty.0 });
            }
            OrderEvent::Acked { .. } | OrderEvent::ActionRejected { .. } => {}
            OrderEvent::Amended { client_id, qty, .. } => {
                if let Some(order) = self.open_orders.get_mut(&client_id) {
                    order.leaves = qty.0;
                }
            }
            OrderEvent::Filled(fill) => self.on_fill(&fill, now_ms, out),
            OrderEvent::Cancelled { client_id, .. }
            | OrderEvent::Expired { client_id, .. }
            | OrderEvent::Rejected { client_id, .. } => {
                self.open_orders.remove(&client_id);
            }
        }
    }

    /// Charges a fill's quote-currency fee to realised PnL and to the round
    /// trip of its position. Fees in another asset (e.g. BNB) are not quote
    /// money and are left out of PnL; fees not yet reported are charged
    /// when the trade is reported again with them.
    fn charge_fee(&mut self, fill: &Fill) {
        self.fees = self.fees.saturating_add(fill.fee.0);
        self.realised = self.realised.saturating_sub(fill.fee.0);
        if let Some(&idx) = self.index.get(&(fill.venue, fill.symbol)) {
            let p = &mut self.positions[idx];
            p.trip_pnl = p.trip_pnl.saturating_sub(fill.fee.0);
        }
    }

    /// A fee reported after its fill: charged to the round trip the fill
    /// belonged to (a closed trip waiting for it is judged once nothing more
    /// is owed), else to the current one.
    fn charge_late_fee(&mut self, fill: &Fill, now_ms: i64, out: &mut Vec<RiskOutput>) {
        let Some(&idx) = self.index.get(&(fill.venue, fill.symbol)) else {
            self.charge_fee(fill);
            return;
        };
        let p = &mut self.positions[idx];
        let held_owes = p.held.as_mut().is_some_and(|h| settle_owed(&mut h.fees_owed, fill.client_id));
        if !held_owes {
            settle_owed(&mut p.fees_owed, fill.client_id);
            self.charge_fee(fill);
            return;
        }
        self.fees = self.fees.saturating_add(fill.fee.0);
        self.realised = self.realised.saturating_sub(fill.fee.0);
        let Some(h) = p.held.as_mut() else { return };
        h.pnl = h.pnl.saturating_sub(fill.fee.0);
        if h.fees_owed.is_empty() {
            let pnl = h.pnl;
            p.held = None;
            self.on_round_trip(pnl, now_ms, out);
        }
    }

    /// Judges the closed round trip of position `idx` that is still waiting
    /// for fees, on what is known (counted).
    fn judge_held(&mut self, idx: usize, now_ms: i64, out: &mut Vec<RiskOutput>) {
        if let Some(h) = self.positions[idx].held.take() {
            self.stats.trips_judged_without_fee += 1;
            self.on_round_trip(h.pnl, now_ms, out);
        }
    }

    fn on_fill(&mut self, fill: &Fill, now_ms: i64, out: &mut Vec<RiskOutput>) {
        let fee_known = fill.fee_kind == FeeKind::Quote;
        if let Some(order) = self.open_orders.get_mut(&fill.client_id) {
            order.leaves -= fill.qty.0;
            if order.leaves <= 0 {
                self.open_orders.remove(&fill.client_id);
            }
        }
        let Some(&idx) = self.index.get(&(fill.venue, fill.symbol)) else {
            self.stats.unknown_instrument += 1;
            return;
        };
        if fee_known {
            self.charge_fee(fill);
        } else if fill.fee_kind == FeeKind::NotReported {
            let owed = &mut self.positions[idx].fees_owed;
            match owed.iter_mut().find(|(c, _)| *c == fill.client_id) {
                Some((_, n)) => *n += 1,
                None => owed.push((fill.client_id, 1)),
            }
        }
        let timeout = self.cfg.position_timeout_ms;
        let p = &mut self.positions[idx];
        let qty = fill.qty.0;
        let price = i128::from(fill.price.0);
        let dir = fill.side.sign();
        if p.qty == 0 || p.qty.signum() == dir {
            if p.qty == 0 {
                p.timeout_at = Some(now_ms + timeout);
            }
            p.cost += price * i128::from(qty);
            p.qty += dir * qty;
            return;
        }
        // Reducing (and possibly flipping).
        let held = p.qty.abs();
        let closed = qty.min(held);
        let removed = p.cost * i128::from(closed) / i128::from(held);
        let raw = if p.qty > 0 { price * i128::from(closed) - removed } else { removed - price * i128::from(closed) };
        let pnl = p.to_e8(raw);
        p.cost -= removed;
        p.qty += dir * closed;
        p.trip_pnl = p.trip_pnl.saturating_add(pnl);
        self.realised = self.realised.saturating_add(pnl);
        if p.qty == 0 {
            let trip = p.trip_pnl;
            p.trip_pnl = 0;
            p.cost = 0;
            p.timeout_at = None;
            let rest = qty - closed;
            if rest > 0 {
                p.qty = dir * rest;
                p.cost = price * i128::from(rest);
                p.timeout_at = Some(now_ms + timeout);
            }
            let owed = std::mem::take(&mut p.fees_owed);
            // A trip still waiting is judged first: trips count in order.
            self.judge_held(idx, now_ms, out);
            if owed.is_empty() {
                self.on_round_trip(trip, now_ms, out);
            } else {
                self.positions[idx].held = Some(HeldTrip { pnl: trip, fees_owed: owed, due_ms: now_ms + FEE_WAIT_MS });
            }
        }
    }

    fn on_round_trip(&mut self, pnl: i64, now_ms: i64, out: &mut Vec<RiskOutput>) {
        if pnl >= 0 {
            self.consecutive_losses = 0;
            if self.streak_cut {
                self.streak_cut = false;
                out.push(RiskOutput::Clear { ts_ms: now_ms, cause: Cause::LossStreakCut });
            }
            return;
        }
        self.consecutive_losses += 1;
        if self.cfg.consecutive_losses_action == LossStreakAction::CutSize {
            if self.consecutive_losses >= self.cfg.consecutive_losses_halt && !self.streak_cut {
                self.streak_cut = true;
                out.push(RiskOutput::Trip {
                    ts_ms: now_ms,
                    cause: Cause::LossStreakCut,
                    value: i64::from(self.consecutive_losses),
                });
            }
            return;
        }
        if self.consecutive_losses >= self.cfg.consecutive_losses_halt && self.losses_until.is_none() {
            self.losses_until = Some(now_ms + self.cfg.consecutive_loss_cooldown_ms);
            out.push(RiskOutput::Trip {
                ts_ms: now_ms,
                cause: Cause::ConsecutiveLosses,
                value: i64::from(self.consecutive_losses),
            });
            self.consecutive_losses = 0;
        }
    }

    fn on_mark(
        &mut self,
        venue: Venue,
        symbol: Symbol,
        price: Price,
        ts_ms: i64,
        now_ms: i64,
        out: &mut Vec<RiskOutput>,
    ) {
        let Some(&idx) = self.index.get(&(venue, symbol)) else {
            self.stats.unknown_instrument += 1;
            return;
        };
        let p = &mut self.positions[idx];
        if price.0 <= 0 {
            return;
        }
        if p.mark.is_some() && ts_ms < p.window.last_ts {
            self.stats.out_of_order_marks += 1;
            return;
        }
        p.mark = Some(price);
        let (lo, hi) = p.window.push(ts_ms, price.0, self.cfg.flash_crash_window_ms);
        let frac = i128::from(self.cfg.flash_crash_move_fraction.0);
        let one = i128::from(pow10(E8));
        let (px, lo, hi) = (i128::from(price.0), i128::from(lo), i128::from(hi));
        // Drop from the window's high, or rise from its low, as a fraction
        // of the earlier price.
        let drop = (hi - px) * one >= hi * frac;
        let rise = (px - lo) * one >= lo * frac;
        if (drop || rise) && self.flash_until.is_none() {
            let moved = if drop { (hi - px) * one / hi } else { (px - lo) * one / lo };
            self.flash_until = Some(now_ms + self.cfg.flash_crash_halt_ms);
            out.push(RiskOutput::Trip {
                ts_ms: now_ms,
                cause: Cause::FlashCrash,
                value: i64::try_from(moved).unwrap_or(i64::MAX),
            });
        }
    }

    /// Re-evaluates timers and limits at `now_ms` (the thread calls this on
    /// every idle turn too, so holds expire without new input).
    pub fn on_tick(&mut self, now_ms: i64, out: &mut Vec<RiskOutput>) {
        for idx in 0..self.positions.len() {
            if self.positions[idx].held.as_ref().is_some_and(|h| now_ms >= h.due_ms) {
                self.judge_held(idx, now_ms, out);
            }
        }
        let equity = self.equity();

        // Day and week roll-over: new baselines, and the loss holds end.
        let day = now_ms.div_euclid(DAY_MS);
        if day != self.day {
            self.day = day;
            self.day_start_equity = equity;
        }
        let week = week_of_day(day);
        if week != self.week {
            self.week = week;
            self.week_start_equity = equity;
        }
        for (until, cause) in [
            (&mut self.daily_until, Cause::DailyLoss),
            (&mut self.weekly_until, Cause::WeeklyLoss),
            (&mut self.losses_until, Cause::ConsecutiveLosses),
            (&mut self.profit_until, Cause::DailyProfit),
            (&mut self.drawdown_until, Cause::Drawdown),
            (&mut self.flash_until, Cause::FlashCrash),
        ] {
            if until.is_some_and(|t| now_ms >= t) {
                *until = None;
                out.push(RiskOutput::Clear { ts_ms: now_ms, cause });
                if cause == Cause::Drawdown {
                    // Measure the next drawdown from here, not from the old peak.
                    self.peak_equity = equity;
                }
            }
        }

        let daily = equity - self.day_start_equity;
        let daily_limit = tighter(self.cfg.daily_loss_limit.0, self.cfg.daily_loss_fraction, self.day_start_equity);
        if self.daily_until.is_none() && daily <= -daily_limit {
            self.daily_until = Some((day + 1) * DAY_MS);
            out.push(RiskOutput::Trip { ts_ms: now_ms, cause: Cause::DailyLoss, value: daily });
        }
        let target = match (self.cfg.daily_profit_halt, self.cfg.daily_profit_halt_fraction) {
            (None, None) => None,
            (usdt, frac) => Some(tighter(usdt.map_or(i64::MAX, |n| n.0), frac, self.day_start_equity)),
        };
        if self.profit_until.is_none() && target.is_some_and(|t| daily >= t) {
            self.profit_until = Some((day + 1) * DAY_MS);
            out.push(RiskOutput::Trip { ts_ms: now_ms, cause: Cause::DailyProfit, value: daily });
        }
        let weekly = equity - self.week_start_equity;
        let weekly_limit = tighter(self.cfg.weekly_loss_limit.0, self.cfg.weekly_loss_fraction, self.week_start_equity);
        if self.weekly_until.is_none() && weekly <= -weekly_limit {
            self.weekly_until = Some(week_start_ms(week + 1));
            out.push(RiskOutput::Trip { ts_ms: now_ms, cause: Cause::WeeklyLoss, value: weekly });
        }

        self.peak_equity = self.peak_equity.max(equity);
        if self.drawdown_until.is_none() && self.peak_equity > 0 {
            let down = i128::from(self.peak_equity - equity) * i128::from(pow10(E8));
            let limit = i128::from(self.peak_equity) * i128::from(self.cfg.drawdown_pause_fraction.0);
            if down >= limit {
                self.drawdown_until = Some(now_ms + self.cfg.drawdown_pause_ms);
                let frac = down / i128::from(self.peak_equity);
                out.push(RiskOutput::Trip {
                    ts_ms: now_ms,
                    cause: Cause::Drawdown,
                    value: i64::try_from(frac).unwrap_or(i64::MAX),
                });
            }
        }

        // Position timeouts.
        let retry = self.cfg.flatten_retry_ms;
        for p in &mut self.positions {
            if p.qty != 0 && p.timeout_at.is_some_and(|t| now_ms >= t) {
                p.timeout_at = Some(now_ms + retry);
                out.push(RiskOutput::Trip { ts_ms: now_ms, cause: Cause::PositionTimeout, value: p.qty });
                out.push(RiskOutput::Command {
                    ts_ms: now_ms,
                    command: RiskCommand::Flatten { venue: p.venue, symbol: p.symbol },
                });
            }
        }

        // Kill switch: done once flat with nothing open, or out of time.
        if let KillState::Flattening { since_ms, source } = self.kill {
            let open_positions = self.positions.iter().filter(|p| p.qty != 0).count();
            let flat = open_positions == 0 && self.open_orders.is_empty();
            if flat || now_ms >= since_ms + self.cfg.kill_flatten_timeout_ms {
                self.kill = KillState::Done { source };
                if !flat {
                    // Exiting with exposure left: say so loudly in the journal.
                    out.push(RiskOutput::Trip {
                        ts_ms: now_ms,
                        cause: source.cause(),
                        value: i64::try_from(open_positions + self.open_orders.len()).unwrap_or(i64::MAX),
                    });
                }
                out.push(RiskOutput::Command { ts_ms: now_ms, command: RiskCommand::Exit });
            }
        }

        let next = self.compute_verdict();
        if !next.same_decision(&self.current) {
            let prev = self.current.mode;
            self.current = next;
            out.push(RiskOutput::Verdict { ts_ms: now_ms, verdict: next });
            if next.mode == Mode::Flatten && prev != Mode::Flatten {
                out.push(RiskOutput::Command { ts_ms: now_ms, command: RiskCommand::CancelAll });
                out.push(RiskOutput::Command { ts_ms: now_ms, command: RiskCommand::FlattenAll });
                self.last_flatten_ms = now_ms;
            } else if next.mode == Mode::Halt && prev < Mode::Halt {
                out.push(RiskOutput::Command { ts_ms: now_ms, command: RiskCommand::CancelAll });
            }
        } else if self.current.mode == Mode::Flatten
            && now_ms >= self.last_flatten_ms + retry
            && self.positions.iter().any(|p| p.qty != 0)
        {
            out.push(RiskOutput::Command { ts_ms: now_ms, command: RiskCommand::FlattenAll });
            self.last_flatten_ms = now_ms;
        }
    }

    fn compute_verdict(&self) -> Verdict {
        let margin = self.margin_ratio.map_or(0, |r| r.0);
        let mut cap = FULL_SIZE_PERMILLE;
        let mut cap_cause = Cause::None;
        if self.streak_cut {
            cap = self.cfg.consecutive_losses_size_permille;
            cap_cause = Cause::LossStreakCut;
        }
        if margin >= self.cfg.margin_reduce_fraction.0 {
            // The margin guard names the cap even when both apply: it also
            // cuts the strategy's leverage.
            cap = cap.min(self.cfg.margin_reduce_size_permille);
            cap_cause = Cause::MarginReduce;
        }
        // Most severe first; the first match at the highest mode names the cause.
        let candidates = [
            (
                match self.kill {
                    KillState::Off => None,
                    KillState::Flattening { .. } => Some(Mode::Flatten),
                    KillState::Done { .. } => Some(Mode::Halt),
                },
                match self.kill {
                    KillState::Flattening { source, .. } | KillState::Done { source } => source.cause(),
                    KillState::Off => Cause::None,
                },
            ),
            (self.flash_until.map(|_| Mode::Flatten), Cause::FlashCrash),
            (self.daily_until.map(|_| Mode::Flatten), Cause::DailyLoss),
            (self.weekly_until.map(|_| Mode::Flatten), Cause::WeeklyLoss),
            (self.losses_until.map(|_| Mode::Halt), Cause::ConsecutiveLosses),
            (self.profit_until.map(|_| Mode::Halt), Cause::DailyProfit),
            (self.drawdown_until.map(|_| Mode::Halt), Cause::Drawdown),
            ((margin >= self.cfg.margin_reduce_only_fraction.0).then_some(Mode::ReduceOnly), Cause::MarginReduceOnly),
        ];
        // A finished kill switch is final: halted, whatever else is true.
        if let KillState::Done { source } = self.kill {
            return Verdict { mode: Mode::Halt, cause: source.cause(), size_cap_permille: 0, seq: 0 };
        }
        let mut verdict = Verdict { size_cap_permille: cap, ..Verdict::RUN };
        if cap < FULL_SIZE_PERMILLE {
            verdict.cause = cap_cause;
        }
        for (mode, cause) in candidates {
            match mode {
                Some(mode) if mode > verdict.mode => {
                    verdict.mode = mode;
                    verdict.cause = cause;
                }
                _ => {}
            }
        }
        verdict
    }
}

#[cfg(test)]
mod tests;
