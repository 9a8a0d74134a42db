//! Round-trip trade records, built from the fills as the strategy learns
//! them, in exact integer money.
//!
//! A trade opens with the first entry fill on a flat instrument and closes
//! when exit fills bring the position back to zero. Gross PnL is
//! `side × (Σ exit price × qty − Σ entry price × qty)` computed on
//! mantissas and converted to USDT at 8 decimals (truncated toward zero);
//! net PnL subtracts every fee and adds funding received while it was open.
//!
//! A record carries what caused it: the strategy's [`EntryContext`] of
//! its entry order (the signal vector, votes, confidence, planned stop and
//! target, risk, leverage) and the stop and take-profit the position
//! opened with ([`TradeBook::note_levels`]), so that its R multiple is
//! known: `net ÷ (entry quantity × R)`, R the initial stop distance.

use std::collections::BTreeMap;

use crate::fixed::{Notional, Price, pow10};
use crate::instrument::Instrument;
use crate::order::{ClientOrderId, Fill};
use crate::side::Side;
use crate::strategy::{EntryContext, ExitReason, Position, Tier};

/// What an order was for (the core's [`crate::core::OrderRole`]).
pub use crate::core::OrderRole as Role;

/// One exit order's fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitLeg {
    /// Why.
    pub reason: ExitReason,
    /// Last fill time, ms.
    pub ts_ms: i64,
    /// Quantity closed (mantissa).
    pub qty: i64,
    /// Σ price × qty mantissas.
    pub value: i128,
}

/// A round trip.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeRecord {
    /// Sequence number, from 1.
    pub id: u32,
    /// Instrument.
    pub instrument: Instrument,
    /// `Buy` = long.
    pub side: Side,
    /// Tier.
    pub tier: Tier,
    /// Confidence at entry.
    pub confidence: u8,
    /// Entry by post-only limit order.
    pub post_only: bool,
    /// First entry fill, ms.
    pub entry_ms: i64,
    /// Last exit fill, ms (0 while open).
    pub exit_ms: i64,
    /// Entry quantity (mantissa).
    pub entry_qty: i64,
    /// Σ entry price × qty.
    pub entry_value: i128,
    /// Quantity closed so far.
    pub exit_qty: i64,
    /// Σ exit price × qty.
    pub exit_value: i128,
    /// Fees of entry fills, USDT e8.
    pub entry_fees: i64,
    /// Fees of exit fills, USDT e8.
    pub exit_fees: i64,
    /// Funding received (negative: paid), USDT e8.
    pub funding: i64,
    /// Exit orders, in order.
    pub exits: Vec<ExitLeg>,
    /// Entry fills that were maker fills.
    pub maker_entry_fills: u32,
    /// Entry fills.
    pub entry_fills: u32,
    /// What caused the entry (the decision's context), when known.
    pub context: Option<EntryContext>,
    /// The stop the position opened with.
    pub stop: Option<Price>,
    /// The take-profit the position opened with.
    pub target: Option<Price>,
    /// R: the initial stop distance, price mantissa.
    pub r_distance: Option<i64>,
}

impl TradeRecord {
    fn scale(&self) -> i128 {
        i128::from(pow10(self.instrument.price_scale)) * i128::from(pow10(self.instrument.qty_scale))
    }

    fn to_e8(&self, raw: i128) -> i64 {
        i64::try_from(raw * 100_000_000 / self.scale()).unwrap_or(if raw < 0 { i64::MIN } else { i64::MAX })
    }

    /// Gross PnL of the closed part, USDT e8.
    #[must_use]
    pub fn gross(&self) -> Notional {
        if self.entry_qty == 0 {
            return Notional::ZERO;
        }
        let cost = self.entry_value * i128::from(self.exit_qty) / i128::from(self.entry_qty);
        Notional(self.to_e8(i128::from(self.side.sign()) * (self.exit_value - cost)))
    }

    /// Fees, USDT e8.
    #[must_use]
    pub fn fees(&self) -> Notional {
        Notional(self.entry_fees + self.exit_fees)
    }

    /// Net PnL = gross − fees + funding.
    #[must_use]
    pub fn net(&self) -> Notional {
        Notional(self.gross().0 - self.fees().0 + self.funding)
    }

    /// Unrealised PnL of the open part at `bid`/`ask` (closing prices), net of fees so far.
    #[must_use]
    pub fn open_net(&self, bid: Price, ask: Price) -> Notional {
        let open = self.entry_qty - self.exit_qty;
        let cost = self.entry_value * i128::from(open) / i128::from(self.entry_qty.max(1));
        let px = match self.side {
            Side::Buy => bid,
            Side::Sell => ask,
        };
        let unrealised = if open == 0 || px.0 <= 0 {
            0
        } else {
            self.to_e8(i128::from(self.side.sign()) * (i128::from(px.0) * i128::from(open) - cost))
        };
        Notional(self.gross().0 + unrealised - self.fees().0 + self.funding)
    }

    /// Average entry price as exact decimal text with up to 8 extra digits.
    #[must_use]
    pub fn avg_entry_text(&self) -> String {
        avg_text(self.entry_value, self.entry_qty, self.instrument.price_scale)
    }

    /// Average exit price text.
    #[must_use]
    pub fn avg_exit_text(&self) -> String {
        avg_text(self.exit_value, self.exit_qty, self.instrument.price_scale)
    }

    /// The last exit's reason.
    #[must_use]
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.exits.last().map(|l| l.reason)
    }

    /// `true` once closed.
    #[must_use]
    pub fn closed(&self) -> bool {
        self.entry_qty > 0 && self.exit_qty >= self.entry_qty
    }

    /// The loss at the initial stop, entry quantity × R (fees not
    /// included), USDT; `None` when R is unknown.
    #[must_use]
    pub fn initial_risk(&self) -> Option<Notional> {
        let r = self.r_distance?;
        crate::fixed::notional(
            Price(r),
            self.instrument.price_scale,
            crate::fixed::Qty(self.entry_qty),
            self.instrument.qty_scale,
        )
        .filter(|n| n.0 > 0)
    }

    /// Net PnL in units of the initial risk.
    #[must_use]
    pub fn r_multiple(&self) -> Option<f64> {
        let risk = self.initial_risk()?;
        Some(self.net().0 as f64 / risk.0 as f64)
    }
}

/// `value / qty` as a price at `scale` decimals plus 8 more, truncated, canonical text.
#[must_use]
pub fn avg_text(value: i128, qty: i64, price_scale: u8) -> String {
    if qty == 0 {
        return "0".into();
    }
    let extra = 100_000_000i128;
    let m = value * extra / i128::from(qty);
    crate::fixed::DecimalText::new(i64::try_from(m).unwrap_or(0), price_scale + 8).to_string()
}

/// All trades of a run.
#[derive(Debug, Clone, Default)]
pub struct TradeBook {
    roles: BTreeMap<u64, (usize, Role)>,
    contexts: BTreeMap<u64, EntryContext>,
    open: Vec<Option<TradeRecord>>,
    closed: Vec<TradeRecord>,
    next_id: u32,
    closed_net: i64,
    unattributed_funding: i64,
    unknown_fills: u64,
}

impl TradeBook {
    /// A book for `n` instruments.
    #[must_use]
    pub fn new(n: usize) -> Self {
        Self { open: vec![None; n], next_id: 1, ..Self::default() }
    }

    /// Remembers what order `id` on instrument `inst` is for.
    pub fn register(&mut self, id: ClientOrderId, inst: usize, role: Role) {
        self.roles.insert(id.0, (inst, role));
    }

    /// Remembers what caused entry order `id`.
    pub fn set_context(&mut self, id: ClientOrderId, context: EntryContext) {
        self.contexts.insert(id.0, context);
    }

    /// Forgets a finished order.
    pub fn forget(&mut self, id: ClientOrderId) {
        self.roles.remove(&id.0);
        self.contexts.remove(&id.0);
    }

    /// The position of instrument `inst` as the strategy opened it: its
    /// initial stop, take-profit and R join the open record (once).
    pub fn note_levels(&mut self, inst: usize, pos: &Position) {
        if let Some(Some(rec)) = self.open.get_mut(inst)
            && rec.stop.is_none()
            && rec.side == pos.side
        {
            rec.stop = Some(pos.initial_stop);
            rec.target = Some(pos.initial_take_profit);
            rec.r_distance = Some(pos.r_distance);
        }
    }

    /// `true` when instrument `inst` has an open record without levels yet.
    #[must_use]
    pub fn wants_levels(&self, inst: usize) -> bool {
        matches!(self.open.get(inst), Some(Some(rec)) if rec.stop.is_none())
    }

    /// Applies a fill of instrument `inst`.
    pub fn on_fill(&mut self, instrument: &Instrument, fill: &Fill) {
        let Some(&(inst, role)) = self.roles.get(&fill.client_id.0) else {
            self.unknown_fills += 1;
            return;
        };
        let Some(slot) = self.open.get_mut(inst) else { return };
        let value = i128::from(fill.price.0) * i128::from(fill.qty.0);
        match role {
            Role::Entry { tier, confidence, post_only } => {
                let contexts = &mut self.contexts;
                let rec = slot.get_or_insert_with(|| {
                    let id = self.next_id;
                    self.next_id += 1;
                    TradeRecord {
                        id,
                        instrument: *instrument,
                        side: fill.side,
                        tier,
                        confidence,
                        post_only,
                        entry_ms: fill.ts_ms,
                        exit_ms: 0,
                        entry_qty: 0,
                        entry_value: 0,
                        exit_qty: 0,
                        exit_value: 0,
                        entry_fees: 0,
                        exit_fees: 0,
                        funding: 0,
                        exits: Vec::new(),
                        maker_entry_fills: 0,
                        entry_fills: 0,
                        context: contexts.remove(&fill.client_id.0),
                        stop: None,
                        target: None,
                        r_distance: None,
                    }
                });
                rec.entry_qty += fill.qty.0;
                rec.entry_value += value;
                rec.entry_fees += fill.fee.0;
                rec.entry_fills += 1;
                rec.maker_entry_fills += u32::from(fill.is_maker);
            }
            Role::Exit(reason) => {
                let Some(rec) = slot.as_mut() else {
                    self.unknown_fills += 1;
                    return;
                };
                rec.exit_qty += fill.qty.0;
                rec.exit_value += value;
                rec.exit_fees += fill.fee.0;
                rec.exit_ms = fill.ts_ms;
                match rec.exits.last_mut() {
                    Some(leg) if leg.reason == reason && leg.ts_ms == fill.ts_ms => {
                        leg.qty += fill.qty.0;
                        leg.value += value;
                    }
                    _ => rec.exits.push(ExitLeg { reason, ts_ms: fill.ts_ms, qty: fill.qty.0, value }),
                }
                if rec.closed() {
                    if let Some(done) = slot.take() {
                        self.closed_net += done.net().0;
                        self.closed.push(done);
                    }
                }
            }
        }
    }

    /// The fee of a fill already applied without it (Binance `TRADE_LITE`
    /// first, `ORDER_TRADE_UPDATE` later: the core reports the second as
    /// [`crate::risk::RiskInput::FeeSupplied`]): charged to the round trip
    /// the fill belongs to, open or already closed. Fees in another asset
    /// than the quote are not charged (as the risk monitor does).
    pub fn on_fee_supplied(&mut self, fill: &Fill) {
        if fill.fee_kind != crate::order::FeeKind::Quote {
            return;
        }
        let Some(&(inst, role)) = self.roles.get(&fill.client_id.0) else {
            self.unknown_fills += 1;
            return;
        };
        let open = self.open.get_mut(inst).and_then(Option::as_mut);
        let rec = match open {
            Some(rec) => rec,
            None => match self
                .closed
                .iter_mut()
                .rev()
                .find(|t| t.instrument.symbol == fill.symbol && t.instrument.venue == fill.venue)
            {
                Some(rec) => {
                    self.closed_net -= fill.fee.0;
                    rec
                }
                None => {
                    self.unknown_fills += 1;
                    return;
                }
            },
        };
        match role {
            Role::Entry { .. } => rec.entry_fees += fill.fee.0,
            Role::Exit(_) => rec.exit_fees += fill.fee.0,
        }
    }

    /// Funding received (negative: paid) on instrument `inst`.
    pub fn on_funding(&mut self, inst: usize, amount: Notional) {
        match self.open.get_mut(inst).and_then(Option::as_mut) {
            Some(rec) => rec.funding += amount.0,
            None => self.unattributed_funding += amount.0,
        }
    }

    /// Net PnL of closed trades plus funding outside trades, USDT e8.
    #[must_use]
    pub fn realised(&self) -> Notional {
        Notional(self.closed_net + self.unattributed_funding)
    }

    /// Realised plus the open trades marked at `tops[inst]` (bid, ask).
    #[must_use]
    pub fn marked(&self, tops: &[(Price, Price)]) -> Notional {
        let open: i64 =
            self.open.iter().zip(tops).filter_map(|(r, &(bid, ask))| r.as_ref().map(|r| r.open_net(bid, ask).0)).sum();
        Notional(self.realised().0 + open)
    }

    /// Closed trades, in closing order.
    #[must_use]
    pub fn closed(&self) -> &[TradeRecord] {
        &self.closed
    }

    /// Trades still open.
    pub fn still_open(&self) -> impl Iterator<Item = &TradeRecord> {
        self.open.iter().flatten()
    }

    /// Funding outside any trade.
    #[must_use]
    pub fn unattributed_funding(&self) -> Notional {
        Notional(self.unattributed_funding)
    }

    /// Fills whose order was unknown.
    #[must_use]
    pub fn unknown_fills(&self) -> u64 {
        self.unknown_fills
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::Qty;
    use crate::risk::test_support::btc;
    use crate::venue::Venue;

    fn fill(id: u64, side: Side, price: i64, qty: i64, fee: i64, ts: i64) -> Fill {
        let i = btc(Venue::BinanceUsdm);
        crate::backtest::exchange::quote_fill(
            &i,
            ClientOrderId(id),
            side,
            id,
            Price(price),
            Qty(qty),
            Notional(fee),
            false,
            ts,
        )
    }

    #[test]
    fn round_trip_pnl_is_exact() {
        let inst = btc(Venue::BinanceUsdm);
        let mut b = TradeBook::new(1);
        b.register(ClientOrderId(1), 0, Role::Entry { tier: Tier::A, confidence: 85, post_only: true });
        b.register(ClientOrderId(2), 0, Role::Exit(ExitReason::TakeProfit));
        // Short 0.003 at 61 800.10 and 61 800.20 (avg 61 800.1333…), cover 0.003 at 61 790.00.
        b.on_fill(&inst, &fill(1, Side::Sell, 6_180_010, 2, 100, 1_000));
        b.on_fill(&inst, &fill(1, Side::Sell, 6_180_020, 1, 50, 1_001));
        assert_eq!(b.marked(&[(Price(6_178_990), Price(6_179_000))]), Notional(3_040_000 - 150));
        b.on_fill(&inst, &fill(2, Side::Buy, 6_179_000, 3, 200, 5_000));
        let t = &b.closed()[0];
        // Gross: 0.002 × 10.10 + 0.001 × 10.20 = 0.0304 USDT.
        assert_eq!(t.gross(), Notional(3_040_000));
        assert_eq!(t.net(), Notional(3_040_000 - 350));
        assert_eq!(t.avg_entry_text(), "61800.1333333333");
        assert_eq!(t.avg_exit_text(), "61790");
        assert_eq!(t.exit_reason(), Some(ExitReason::TakeProfit));
        assert_eq!((t.entry_ms, t.exit_ms), (1_000, 5_000));
        assert_eq!(b.realised(), Notional(3_040_000 - 350));
        assert_eq!(b.still_open().count(), 0);
    }

    #[test]
    fn a_fee_supplied_later_is_charged_to_its_round_trip_open_or_closed() {
        let inst = btc(Venue::BinanceUsdm);
        let mut b = TradeBook::new(1);
        b.register(ClientOrderId(1), 0, Role::Entry { tier: Tier::B, confidence: 40, post_only: false });
        b.register(ClientOrderId(2), 0, Role::Exit(ExitReason::TimeStop));
        // TRADE_LITE first (no fee), the fee later while the trade is open.
        b.on_fill(&inst, &fill(1, Side::Buy, 6_180_000, 2, 0, 1_000));
        b.on_fee_supplied(&fill(1, Side::Buy, 6_180_000, 2, 70, 1_000));
        // The exit's fee arrives after the trade closed.
        b.on_fill(&inst, &fill(2, Side::Sell, 6_180_100, 2, 0, 2_000));
        assert_eq!(b.realised(), Notional(200_000 - 70));
        b.on_fee_supplied(&fill(2, Side::Sell, 6_180_100, 2, 80, 2_000));
        let t = &b.closed()[0];
        assert_eq!((t.entry_fees, t.exit_fees), (70, 80));
        assert_eq!(t.net(), Notional(200_000 - 150));
        assert_eq!(b.realised(), Notional(200_000 - 150));
        // A fee in another asset is not charged; an unknown order is counted.
        let mut other = fill(2, Side::Sell, 6_180_100, 2, 5, 2_000);
        other.fee_kind = crate::order::FeeKind::OtherAsset;
        b.on_fee_supplied(&other);
        assert_eq!(b.realised(), Notional(200_000 - 150));
        b.on_fee_supplied(&fill(9, Side::Sell, 6_180_100, 2, 5, 2_000));
        assert_eq!(b.unknown_fills(), 1);
    }

    /// Two round trips with known R: +2R and −1R (no fees). Profit factor
    /// 2, expectancy the mean net, average R 0.5, recovery factor net ÷
    /// max drawdown; the records carry their levels.
    #[test]
    fn r_multiples_and_the_edge_statistics() {
        use crate::signal::Regime;
        use crate::strategy::config::ExitLevels;
        let inst = btc(Venue::BinanceUsdm);
        let mut b = TradeBook::new(1);
        let role = Role::Entry { tier: Tier::A, confidence: 85, post_only: false };
        // R = 10.00 on 0.010 BTC: 0.10 USDT at risk.
        let levels = ExitLevels { take_profit_bps_e2: 1_000, stop_loss_bps_e2: 500, max_hold_ms: 60_000 };
        let pos = |entry: i64| {
            Position::open_with(
                Side::Buy,
                Tier::A,
                85,
                Qty(10),
                Price(entry),
                0,
                Regime::Ranging,
                levels,
                (1_000, 2_000),
                crate::fixed::Rate(0),
                Price(10),
            )
        };
        b.register(ClientOrderId(1), 0, role);
        b.register(ClientOrderId(2), 0, Role::Exit(ExitReason::TakeProfit));
        b.on_fill(&inst, &fill(1, Side::Buy, 5_000_000, 10, 0, 1_000));
        assert!(b.wants_levels(0));
        b.note_levels(0, &pos(5_000_000));
        assert!(!b.wants_levels(0));
        b.on_fill(&inst, &fill(2, Side::Sell, 5_002_000, 10, 0, 2_000)); // +20.00 × 0.01 = +0.20
        b.register(ClientOrderId(3), 0, role);
        b.register(ClientOrderId(4), 0, Role::Exit(ExitReason::StopLoss));
        b.on_fill(&inst, &fill(3, Side::Buy, 5_000_000, 10, 0, 3_000));
        b.note_levels(0, &pos(5_000_000));
        b.on_fill(&inst, &fill(4, Side::Sell, 4_999_000, 10, 0, 4_000)); // −0.10
        let t = &b.closed()[0];
        assert_eq!((t.stop, t.target, t.r_distance), (Some(Price(4_999_000)), Some(Price(5_002_000)), Some(1_000)));
        assert_eq!(t.initial_risk(), Some(Notional(10_000_000)));
        assert_eq!(b.closed().iter().map(|t| t.r_multiple().unwrap()).collect::<Vec<_>>(), vec![2.0, -1.0]);
        let s = crate::backtest::report::summarize(
            b.closed(),
            Notional::ZERO,
            Notional(10_000 * 100_000_000),
            (Notional(5_000_000), 0.000_005),
            (0, 4_000),
        );
        use crate::backtest::report::Stat;
        assert_eq!(s.profit_factor, Stat::Value(2.0));
        assert_eq!(s.avg_r_multiple, Stat::Value(0.5));
        assert_eq!(s.trades_with_r, 2);
        assert_eq!(s.expectancy_usdt, Stat::Value(0.05));
        assert_eq!(s.recovery_factor, Stat::Value(2.0)); // 0.10 net over 0.05 drawdown
        // Without a loss there is no profit factor; without levels no R.
        let only_win = crate::backtest::report::summarize(
            &b.closed()[..1],
            Notional::ZERO,
            Notional(1),
            (Notional::ZERO, 0.0),
            (0, 1),
        );
        assert_eq!((only_win.profit_factor, only_win.recovery_factor), (Stat::Na, Stat::Na));
    }
}
