//! One test per limit and breaker: just below does not trigger, at the
//! threshold it does.

use super::*;
use crate::fixed::Qty;
use crate::order::{OrderKind, OrderRequest, TimeInForce, VenueOrderId};
use crate::side::Side;
use proptest::prelude::*;
use std::collections::HashSet;

/// Monday 2024-01-01 00:00 UTC.
const MONDAY: i64 = 1_704_067_200_000;
const MIN: i64 = 60_000;
const USDT: i64 = 100_000_000;

fn btc() -> Instrument {
    crate::risk::test_support::btc(Venue::BinanceUsdm)
}

fn eth() -> Instrument {
    crate::risk::test_support::eth(Venue::BinanceUsdm)
}

/// Defaults, with the limits a test does not exercise moved out of reach.
fn cfg(table: &str) -> RiskConfig {
    RiskConfig::from_table_str(table).unwrap()
}

fn loose() -> &'static str {
    "daily_loss_limit_usdt = \"1000000\"\nweekly_loss_limit_usdt = \"1000000\"\ndrawdown_pause_pct = \"100\"\n\
     flash_crash_move_pct = \"100\"\nconsecutive_losses_halt = 1000\n\
     daily_loss_limit_pct = \"0\"\nweekly_loss_limit_pct = \"0\"\n"
}

/// The percent forms of the loss limits off (tests of the USDT forms).
const NO_PCT: &str = "daily_loss_limit_pct = \"0\"\nweekly_loss_limit_pct = \"0\"\n";

struct Rig {
    m: RiskMonitor,
    out: Vec<RiskOutput>,
    next_trade: u64,
    /// The one ledger: fills reach the monitor only through it, as in the
    /// trading core.
    ledger: crate::order::state::OrderTable,
}

impl Rig {
    fn new(table: &str, now: i64) -> Self {
        Self {
            m: RiskMonitor::new(cfg(table), &[btc(), eth()], now),
            out: Vec::new(),
            next_trade: 1,
            ledger: crate::order::state::OrderTable::new(4096, 4),
        }
    }

    /// A fill through the ledger: new fills and late fees reach the monitor.
    fn deliver(&mut self, fill: Fill, now: i64) {
        use crate::order::state::Applied;
        if self.ledger.get(fill.client_id).is_none() {
            let order = OrderRequest {
                venue: fill.venue,
                symbol: fill.symbol,
                side: fill.side,
                kind: OrderKind::Market,
                tif: TimeInForce::Gtc,
                price: Price::ZERO,
                qty: Qty(i64::MAX / 4),
                reduce_only: false,
                client_id: fill.client_id,
            };
            self.ledger.apply(&OrderEvent::Submitted { order, ts_raw: 0 }).unwrap();
        }
        match self.ledger.apply(&OrderEvent::Filled(fill)).unwrap() {
            Applied::Updated(_) => self.m.on_input(&RiskInput::Order(OrderEvent::Filled(fill)), now, &mut self.out),
            Applied::FeeSupplied => self.m.on_input(&RiskInput::FeeSupplied(fill), now, &mut self.out),
            Applied::Duplicate | Applied::NoChange => {}
        }
    }

    fn fill_sym(&mut self, sym: &[u8], side: Side, price: i64, qty: i64, fee: i64, now: i64) {
        let fill = Fill {
            client_id: ClientOrderId(self.next_trade),
            venue: Venue::BinanceUsdm,
            symbol: Symbol::new(sym).unwrap(),
            side,
            trade_id: crate::order::TradeId(u128::from(self.next_trade)),
            fee_kind: crate::order::FeeKind::Quote,
            price: Price(price),
            qty: Qty(qty),
            fee: Notional(fee),
            is_maker: false,
            ts_ms: now,
        };
        self.next_trade += 1;
        self.deliver(fill, now);
    }

    fn fill(&mut self, side: Side, price: i64, qty: i64, fee: i64, now: i64) {
        self.fill_sym(b"BTCUSDT", side, price, qty, fee, now);
    }

    fn mark(&mut self, price: i64, now: i64) {
        let input = RiskInput::Mark {
            venue: Venue::BinanceUsdm,
            symbol: Symbol::new(b"BTCUSDT").unwrap(),
            price: Price(price),
            ts_ms: now,
        };
        self.m.on_input(&input, now, &mut self.out);
    }

    fn tick(&mut self, now: i64) {
        self.m.on_tick(now, &mut self.out);
    }

    fn take(&mut self) -> Vec<RiskOutput> {
        std::mem::take(&mut self.out)
    }

    fn trips(&mut self) -> Vec<Cause> {
        self.take()
            .into_iter()
            .filter_map(|o| match o {
                RiskOutput::Trip { cause, .. } => Some(cause),
                _ => None,
            })
            .collect()
    }

    fn mode(&self) -> Mode {
        self.m.verdict().mode
    }
}

fn commands(out: &[RiskOutput]) -> Vec<RiskCommand> {
    out.iter()
        .filter_map(|o| match o {
            RiskOutput::Command { command, .. } => Some(*command),
            _ => None,
        })
        .collect()
}

#[test]
fn starts_running() {
    let r = Rig::new("", MONDAY);
    assert_eq!(r.m.verdict(), Verdict::RUN);
}

#[test]
fn realised_and_unrealised_pnl_with_fees() {
    let mut r = Rig::new(loose(), MONDAY);
    // Buy 1 BTC at 50 000, fee 20; mark 50 300: unrealised +300.
    r.fill(Side::Buy, 5_000_000, 1000, 20 * USDT, MONDAY);
    r.mark(5_030_000, MONDAY);
    let s = r.m.snapshot();
    assert_eq!(s.unrealised, Notional(300 * USDT));
    assert_eq!(s.realised, Notional(-20 * USDT));
    assert_eq!(s.equity, Notional(10_000 * USDT + 280 * USDT));
    // Sell 0.4 at 50 100 (fee 8): realises 0.4 × 100 = 40.
    r.fill(Side::Sell, 5_010_000, 400, 8 * USDT, MONDAY);
    let s = r.m.snapshot();
    assert_eq!(s.realised, Notional((40 - 28) * USDT));
    assert_eq!(s.fees, Notional(28 * USDT));
    assert_eq!(s.unrealised, Notional(180 * USDT)); // 0.6 × 300
    // Sell 1.0 at 49 900: closes 0.6 (−60) and opens 0.4 short at 49 900.
    r.fill(Side::Sell, 4_990_000, 1000, 0, MONDAY);
    assert_eq!(r.m.position(Venue::BinanceUsdm, &btc().symbol), Some(SignedQty(-400)));
    assert_eq!(r.m.snapshot().realised, Notional((40 - 60 - 28) * USDT));
    // Short 0.4 from 49 900 marked at 50 300: −160.
    assert_eq!(r.m.snapshot().unrealised, Notional(-160 * USDT));
}

#[test]
fn funding_is_realised_pnl_of_the_round_trip() {
    let mut r = Rig::new(loose(), MONDAY);
    r.fill(Side::Buy, 5_000_000, 1000, 0, MONDAY);
    let funding = |symbol: Option<Symbol>, amount: i64| RiskInput::Funding {
        venue: Venue::BinanceUsdm,
        symbol,
        amount: Notional(amount),
        ts_ms: MONDAY,
    };
    r.m.on_input(&funding(Some(btc().symbol), -3 * USDT), MONDAY, &mut r.out);
    r.m.on_input(&funding(None, USDT), MONDAY, &mut r.out);
    let s = r.m.snapshot();
    assert_eq!((s.funding, s.realised), (Notional(-2 * USDT), Notional(-2 * USDT)));
    // Closing flat: the trip is −3 (funding on it) and counts as a loss.
    r.fill(Side::Sell, 5_000_000, 1000, 0, MONDAY);
    assert_eq!(r.m.snapshot().consecutive_losses, 1);
    r.m.on_input(
        &RiskInput::Wallet { venue: Venue::BybitLinear, wallet_balance: Notional(9_000 * USDT), ts_ms: MONDAY },
        MONDAY,
        &mut r.out,
    );
    assert_eq!(r.m.snapshot().wallet_balance, Some(Notional(9_000 * USDT)));
}

#[test]
fn daily_loss_limit_at_threshold() {
    // Default daily limit 500 USDT. Long 1 BTC from 50 000.
    let mut r = Rig::new(NO_PCT, MONDAY + 1000);
    r.fill(Side::Buy, 5_000_000, 1000, 0, MONDAY + 1000);
    r.mark(4_950_001, MONDAY + 2000); // −499.99
    assert_eq!(r.trips(), vec![]);
    assert_eq!(r.mode(), Mode::Run);
    r.mark(4_950_000, MONDAY + 3000); // −500.00
    let out = r.take();
    assert!(out.contains(&RiskOutput::Trip { ts_ms: MONDAY + 3000, cause: Cause::DailyLoss, value: -500 * USDT }));
    assert_eq!(commands(&out), vec![RiskCommand::CancelAll, RiskCommand::FlattenAll]);
    assert_eq!(r.m.verdict().mode, Mode::Flatten);
    assert_eq!(r.m.verdict().cause, Cause::DailyLoss);
    // Held until the next UTC day, then trading resumes from a new baseline.
    r.tick(MONDAY + DAY_MS - 1);
    assert_eq!(r.mode(), Mode::Flatten);
    r.tick(MONDAY + DAY_MS);
    assert_eq!(r.mode(), Mode::Run);
    assert!(r.take().contains(&RiskOutput::Clear { ts_ms: MONDAY + DAY_MS, cause: Cause::DailyLoss }));
    assert_eq!(r.m.snapshot().daily_pnl, Notional(0));
}

#[test]
fn percent_loss_limits_at_threshold() {
    // Defaults: 2 % a day and 5 % a week of the starting equity (10 000):
    // 200 and 500 USDT, tighter than the 500 / 1500 USDT forms.
    let mut r = Rig::new("drawdown_pause_pct = \"100\"\nposition_timeout_secs = 2000000", MONDAY);
    r.fill(Side::Buy, 5_000_000, 1000, 0, MONDAY);
    r.mark(4_980_001, MONDAY + MIN); // −199.99
    assert_eq!(r.trips(), vec![]);
    r.mark(4_980_000, MONDAY + 2 * MIN); // −200.00
    assert_eq!(r.trips(), vec![Cause::DailyLoss]);
    // Weekly: 5 % of the week's starting 10 000.
    let mut w = Rig::new(
        "daily_loss_limit_pct = \"0\"\ndaily_loss_limit_usdt = \"1000\"\nweekly_loss_limit_usdt = \"1500\"\n\
         drawdown_pause_pct = \"100\"\nposition_timeout_secs = 2000000",
        MONDAY,
    );
    w.fill(Side::Buy, 5_000_000, 1000, 0, MONDAY);
    w.mark(4_950_001, MONDAY + MIN); // −499.99
    assert_eq!(w.trips(), vec![]);
    w.mark(4_950_000, MONDAY + 2 * MIN); // −500.00
    assert_eq!(w.trips(), vec![Cause::WeeklyLoss]);
    // The USDT form still applies when it is the tighter one.
    let mut u = Rig::new("daily_loss_limit_usdt = \"100\"\ndrawdown_pause_pct = \"100\"", MONDAY);
    u.fill(Side::Buy, 5_000_000, 1000, 0, MONDAY);
    u.mark(4_990_001, MONDAY + MIN);
    assert_eq!(u.trips(), vec![]);
    u.mark(4_990_000, MONDAY + 2 * MIN);
    assert_eq!(u.trips(), vec![Cause::DailyLoss]);
}

#[test]
fn daily_profit_halt_at_threshold() {
    // 3 % of 10 000 = 300 USDT, below the 400 USDT form: 300 applies.
    let mut r = Rig::new(
        "daily_profit_halt_usdt = \"400\"\ndaily_profit_halt_pct = \"3\"\nflash_crash_move_pct = \"100\"",
        MONDAY,
    );
    r.fill(Side::Buy, 5_000_000, 1000, 0, MONDAY);
    r.mark(5_029_999, MONDAY + MIN); // +299.99
    assert_eq!(r.trips(), vec![]);
    r.mark(5_030_000, MONDAY + 2 * MIN); // +300.00
    let out = r.take();
    assert!(out.contains(&RiskOutput::Trip { ts_ms: MONDAY + 2 * MIN, cause: Cause::DailyProfit, value: 300 * USDT }));
    // A halt: no new entries, positions keep their exits (no flatten).
    assert_eq!(commands(&out), vec![RiskCommand::CancelAll]);
    assert_eq!((r.mode(), r.m.verdict().cause), (Mode::Halt, Cause::DailyProfit));
    r.tick(MONDAY + DAY_MS - 1);
    assert_eq!(r.mode(), Mode::Halt);
    r.tick(MONDAY + DAY_MS);
    assert_eq!(r.mode(), Mode::Run);
    // Off by default.
    let mut d = Rig::new("flash_crash_move_pct = \"100\"", MONDAY);
    d.fill(Side::Buy, 5_000_000, 1000, 0, MONDAY);
    d.mark(5_200_000, MONDAY + MIN);
    assert_eq!(d.trips(), vec![]);
}

#[test]
fn loss_streak_cuts_size_instead_of_halting() {
    let table = "consecutive_losses_action = \"cut-size\"\nconsecutive_losses_size_pct = 40";
    let mut r = Rig::new(table, MONDAY);
    let trip = |r: &mut Rig, t: i64, exit: i64| {
        r.fill(Side::Buy, 5_000_000, 100, 0, t);
        r.fill(Side::Sell, exit, 100, 0, t);
    };
    trip(&mut r, MONDAY, 4_999_990);
    trip(&mut r, MONDAY, 4_999_990);
    assert_eq!(r.trips(), vec![]);
    assert_eq!(r.m.verdict().size_cap_permille, 1000);
    trip(&mut r, MONDAY + 1, 4_999_990); // the third loss
    assert_eq!(r.trips(), vec![Cause::LossStreakCut]);
    assert_eq!(r.m.verdict(), Verdict { mode: Mode::Run, cause: Cause::LossStreakCut, size_cap_permille: 400, seq: 0 });
    // A fourth loss changes nothing; a winning trade lifts the cut.
    trip(&mut r, MONDAY + 2, 4_999_990);
    assert_eq!(r.m.verdict().size_cap_permille, 400);
    trip(&mut r, MONDAY + 3, 5_000_010);
    assert_eq!(r.m.verdict(), Verdict::RUN);
    assert!(r.take().contains(&RiskOutput::Clear { ts_ms: MONDAY + 3, cause: Cause::LossStreakCut }));
}

#[test]
fn weekly_loss_limit_at_threshold() {
    let mut r = Rig::new(
        &format!(
            "{NO_PCT}daily_loss_limit_usdt = \"1000\"\nweekly_loss_limit_usdt = \"1500\"\nposition_timeout_secs = 2000000\ndrawdown_pause_pct = \"100\""
        ),
        MONDAY,
    );
    r.fill(Side::Buy, 5_000_000, 1000, 0, MONDAY);
    r.mark(4_910_000, MONDAY + MIN); // Monday: −900, under the daily limit
    r.tick(MONDAY + DAY_MS); // Tuesday: new daily baseline
    r.mark(4_850_001, MONDAY + DAY_MS + MIN); // week −1499.99, day −599.99
    assert_eq!(r.trips(), vec![]);
    r.mark(4_850_000, MONDAY + DAY_MS + 2 * MIN); // week −1500.00
    assert_eq!(r.trips(), vec![Cause::WeeklyLoss]);
    assert_eq!((r.m.verdict().mode, r.m.verdict().cause), (Mode::Flatten, Cause::WeeklyLoss));
    // Held through Sunday, released on the next Monday.
    r.tick(MONDAY + 7 * DAY_MS - 1);
    assert_eq!(r.mode(), Mode::Flatten);
    r.tick(MONDAY + 7 * DAY_MS);
    assert_eq!(r.mode(), Mode::Run);
}

#[test]
fn consecutive_losses_at_threshold_then_cool_down() {
    let table =
        "daily_loss_limit_usdt = \"100000\"\nweekly_loss_limit_usdt = \"100000\"\nconsecutive_loss_cooldown_secs = 600";
    let mut r = Rig::new(table, MONDAY);
    let lose = |r: &mut Rig, t: i64| {
        r.fill(Side::Buy, 5_000_000, 100, 0, t);
        r.fill(Side::Sell, 4_999_990, 100, 0, t); // −0.001 USDT
    };
    lose(&mut r, MONDAY);
    lose(&mut r, MONDAY);
    // A break-even round trip resets the count.
    r.fill(Side::Buy, 5_000_000, 100, 0, MONDAY);
    r.fill(Side::Sell, 5_000_000, 100, 0, MONDAY);
    lose(&mut r, MONDAY);
    lose(&mut r, MONDAY);
    assert_eq!(r.trips(), vec![]);
    assert_eq!(r.m.snapshot().consecutive_losses, 2);
    lose(&mut r, MONDAY + 5);
    let out = r.take();
    assert!(out.contains(&RiskOutput::Trip { ts_ms: MONDAY + 5, cause: Cause::ConsecutiveLosses, value: 3 }));
    assert_eq!(commands(&out), vec![RiskCommand::CancelAll]);
    assert_eq!((r.mode(), r.m.verdict().cause), (Mode::Halt, Cause::ConsecutiveLosses));
    r.tick(MONDAY + 5 + 600_000 - 1);
    assert_eq!(r.mode(), Mode::Halt);
    r.tick(MONDAY + 5 + 600_000);
    assert_eq!(r.mode(), Mode::Run);
    assert_eq!(r.m.snapshot().consecutive_losses, 0);
}

#[test]
fn a_loss_by_fees_alone_counts_as_a_loss() {
    let table = "consecutive_losses_halt = 1";
    let mut r = Rig::new(table, MONDAY);
    r.fill(Side::Buy, 5_000_000, 100, 1, MONDAY);
    r.fill(Side::Sell, 5_000_000, 100, 0, MONDAY);
    assert_eq!(r.trips(), vec![Cause::ConsecutiveLosses]);
}

#[test]
fn drawdown_pause_at_threshold_from_peak() {
    let table = format!("{NO_PCT}daily_loss_limit_usdt = \"100000\"\nweekly_loss_limit_usdt = \"100000\"");
    let mut r = Rig::new(&table, MONDAY);
    r.fill(Side::Buy, 5_000_000, 1000, 0, MONDAY);
    r.mark(5_100_000, MONDAY + 1); // equity 11 000: the peak
    // 15 % of 11 000 = 1650: equity 9 350 means mark 49 350 (moves stay
    // under the flash-crash threshold by stepping down over minutes).
    r.mark(4_960_000, MONDAY + 2 * MIN);
    r.mark(4_935_001, MONDAY + 4 * MIN); // drawdown 1649.99
    assert_eq!(r.trips(), vec![]);
    r.mark(4_935_000, MONDAY + 5 * MIN);
    let out = r.take();
    assert!(out.contains(&RiskOutput::Trip { ts_ms: MONDAY + 5 * MIN, cause: Cause::Drawdown, value: 15_000_000 }));
    assert_eq!((r.mode(), r.m.verdict().cause), (Mode::Halt, Cause::Drawdown));
    // Default pause 30 min, then the peak resets to the current equity.
    r.tick(MONDAY + 35 * MIN - 1);
    assert_eq!(r.mode(), Mode::Halt);
    r.tick(MONDAY + 35 * MIN);
    assert_eq!(r.mode(), Mode::Run);
    assert_eq!(r.m.snapshot().peak_equity, Notional(9_350 * USDT));
}

#[test]
fn flash_crash_at_threshold_within_window() {
    let mut r =
        Rig::new(loose().replace("flash_crash_move_pct = \"100\"", "flash_crash_move_pct = \"5\"").as_str(), MONDAY);
    r.mark(5_000_000, MONDAY);
    // 60 s later (still inside the 1-minute window): down 4.99998 %.
    r.mark(4_750_001, MONDAY + MIN);
    assert_eq!(r.trips(), vec![]);
    assert_eq!(r.mode(), Mode::Run);
    r.mark(4_750_000, MONDAY + MIN); // exactly 5 %
    let out = r.take();
    assert!(out.contains(&RiskOutput::Trip { ts_ms: MONDAY + MIN, cause: Cause::FlashCrash, value: 5_000_000 }));
    assert_eq!(commands(&out), vec![RiskCommand::CancelAll, RiskCommand::FlattenAll]);
    assert_eq!((r.mode(), r.m.verdict().cause), (Mode::Flatten, Cause::FlashCrash));
    // Default halt 30 min.
    r.tick(MONDAY + 31 * MIN - 1);
    assert_eq!(r.mode(), Mode::Flatten);
    r.tick(MONDAY + 31 * MIN);
    assert_eq!(r.mode(), Mode::Run);
}

#[test]
fn flash_crash_rise_and_window_edge() {
    let table = loose().replace("flash_crash_move_pct = \"100\"", "flash_crash_move_pct = \"5\"");
    let mut r = Rig::new(&table, MONDAY);
    r.mark(4_000_000, MONDAY);
    // One millisecond past the window: the old low no longer counts.
    r.mark(4_200_000, MONDAY + MIN + 1);
    assert_eq!(r.trips(), vec![]);
    // A 5 % rise from 42 000 within the window trips.
    r.mark(4_409_999, MONDAY + MIN + 2);
    assert_eq!(r.trips(), vec![]);
    r.mark(4_410_000, MONDAY + MIN + 3);
    assert_eq!(r.trips(), vec![Cause::FlashCrash]);
}

#[test]
fn margin_guard_at_thresholds() {
    let mut r = Rig::new("", MONDAY);
    let account = |r: &mut Rig, maint: i64| {
        let input = RiskInput::Account {
            venue: Venue::BinanceUsdm,
            margin_balance: Notional(1_000 * USDT),
            maintenance_margin: Notional(maint),
            ts_ms: MONDAY,
        };
        r.m.on_input(&input, MONDAY, &mut r.out);
    };
    account(&mut r, 500 * USDT - 1); // ratio 0.49999999
    assert_eq!(r.m.verdict(), Verdict::RUN);
    account(&mut r, 500 * USDT); // 0.5: cap at 50 %
    assert_eq!(r.m.verdict(), Verdict { mode: Mode::Run, cause: Cause::MarginReduce, size_cap_permille: 500, seq: 0 });
    account(&mut r, 800 * USDT - 1);
    assert_eq!(r.mode(), Mode::Run);
    account(&mut r, 800 * USDT); // 0.8: reduce-only
    assert_eq!((r.mode(), r.m.verdict().cause), (Mode::ReduceOnly, Cause::MarginReduceOnly));
    account(&mut r, 100 * USDT);
    assert_eq!(r.m.verdict(), Verdict::RUN);
}

#[test]
fn position_timeout_at_threshold_and_retry() {
    let mut r = Rig::new(loose(), MONDAY);
    r.fill(Side::Buy, 5_000_000, 10, 0, MONDAY);
    r.tick(MONDAY + 30 * MIN - 1);
    assert_eq!(commands(&r.take()), vec![]);
    r.tick(MONDAY + 30 * MIN);
    let flatten = RiskCommand::Flatten { venue: Venue::BinanceUsdm, symbol: btc().symbol };
    assert_eq!(commands(&r.take()), vec![flatten]);
    // Repeated every flatten_retry_secs (5 s) while the position lasts.
    r.tick(MONDAY + 30 * MIN + 4_999);
    assert_eq!(commands(&r.take()), vec![]);
    r.tick(MONDAY + 30 * MIN + 5_000);
    assert_eq!(commands(&r.take()), vec![flatten]);
    r.fill(Side::Sell, 5_000_000, 10, 0, MONDAY + 30 * MIN + 6_000);
    r.tick(MONDAY + 40 * MIN);
    assert_eq!(commands(&r.take()), vec![]);
}

#[test]
fn flatten_all_is_repeated_while_positions_remain() {
    let mut r = Rig::new("", MONDAY);
    r.fill(Side::Buy, 5_000_000, 1000, 0, MONDAY);
    r.mark(4_950_000, MONDAY); // daily loss: flatten
    assert_eq!(commands(&r.take()), vec![RiskCommand::CancelAll, RiskCommand::FlattenAll]);
    r.tick(MONDAY + 4_999);
    assert_eq!(commands(&r.take()), vec![]);
    r.tick(MONDAY + 5_000);
    assert_eq!(commands(&r.take()), vec![RiskCommand::FlattenAll]);
    r.fill(Side::Sell, 4_950_000, 1000, 0, MONDAY + 6_000);
    r.tick(MONDAY + 20_000);
    assert_eq!(commands(&r.take()), vec![]);
}

fn submitted(id: u64, side: Side, qty: i64) -> RiskInput {
    RiskInput::Order(OrderEvent::Submitted {
        order: OrderRequest {
            venue: Venue::BinanceUsdm,
            symbol: btc().symbol,
            side,
            kind: OrderKind::Limit,
            tif: TimeInForce::Gtc,
            price: Price(5_000_000),
            qty: Qty(qty),
            reduce_only: false,
            client_id: ClientOrderId(id),
        },
        ts_raw: 0,
    })
}

#[test]
fn kill_switch_cancels_flattens_then_exits() {
    let mut r = Rig::new(loose(), MONDAY);
    r.next_trade = 100;
    r.m.on_input(&submitted(1, Side::Buy, 500), MONDAY, &mut r.out);
    r.m.on_input(&submitted(2, Side::Buy, 500), MONDAY, &mut r.out);
    let ack = RiskInput::Order(OrderEvent::Acked {
        client_id: ClientOrderId(2),
        venue_order_id: VenueOrderId::from_u64(9),
        ts_ms: MONDAY,
    });
    r.m.on_input(&ack, MONDAY, &mut r.out);
    r.fill(Side::Buy, 5_000_000, 500, 0, MONDAY); // a position (trade 100, order 100: unknown order)
    r.take();
    r.m.kill(KillSource::Signal, MONDAY + 10, &mut r.out);
    let out = r.take();
    assert_eq!(commands(&out), vec![RiskCommand::CancelAll, RiskCommand::FlattenAll]);
    assert_eq!((r.mode(), r.m.verdict().cause), (Mode::Flatten, Cause::KillSignal));
    assert!(!r.m.finished());
    // The venue cancels both orders; still a position: no exit yet.
    for id in [1, 2] {
        let cancel = RiskInput::Order(OrderEvent::Cancelled { client_id: ClientOrderId(id), ts_ms: MONDAY + 20 });
        r.m.on_input(&cancel, MONDAY + 20, &mut r.out);
    }
    assert!(!r.m.finished());
    // The flatten order fills: flat, nothing open: exit.
    r.fill(Side::Sell, 5_000_000, 500, 0, MONDAY + 30);
    let out = r.take();
    assert_eq!(commands(&out), vec![RiskCommand::Exit]);
    assert!(r.m.finished());
    assert_eq!((r.mode(), r.m.verdict().cause), (Mode::Halt, Cause::KillSignal));
    // A second throw changes nothing.
    r.m.kill(KillSource::File, MONDAY + 40, &mut r.out);
    assert_eq!(commands(&r.take()), vec![]);
}

#[test]
fn kill_switch_exits_at_timeout_with_exposure_reported() {
    let mut r = Rig::new(loose(), MONDAY);
    r.fill(Side::Buy, 5_000_000, 500, 0, MONDAY);
    r.m.on_input(&RiskInput::Kill, MONDAY, &mut r.out);
    r.take();
    r.tick(MONDAY + 30_000 - 1); // default 30 s
    assert!(!r.m.finished());
    r.take();
    r.tick(MONDAY + 30_000);
    let out = r.take();
    assert!(r.m.finished());
    assert!(out.contains(&RiskOutput::Trip { ts_ms: MONDAY + 30_000, cause: Cause::KillCommand, value: 1 }));
    assert_eq!(commands(&out), vec![RiskCommand::Exit]);
}

#[test]
fn week_boundaries_are_mondays() {
    assert_eq!(week_start_ms(week_of_day(MONDAY / DAY_MS)), MONDAY);
    assert_eq!(week_start_ms(week_of_day(MONDAY / DAY_MS + 6)), MONDAY);
    assert_eq!(week_start_ms(week_of_day(MONDAY / DAY_MS + 7)), MONDAY + 7 * DAY_MS);
    assert_eq!(week_start_ms(week_of_day(MONDAY / DAY_MS - 1)), MONDAY - 7 * DAY_MS);
}

proptest! {
    /// With any fills (duplicates included) passed through the ledger, the
    /// position is the sum of the distinct fills, and once flat the realised
    /// PnL is exactly the cash flow: proceeds − cost − fees.
    #[test]
    fn position_and_pnl_follow_distinct_fills(
        fills in proptest::collection::vec((any::<bool>(), 1i64..2_000, 4_000_000i64..6_000_000, 0i64..1_000_000, 0u64..40), 1..60)
    ) {
        let mut r = Rig::new(loose(), MONDAY);
        let mut seen = HashSet::new();
        let mut pos = 0i64;
        let mut cash: i128 = 0; // price × qty mantissas (scale 5)
        let mut fees = 0i64;
        for (buy, qty, price, fee, trade) in fills {
            let side = if buy { Side::Buy } else { Side::Sell };
            r.next_trade = trade;
            r.fill(side, price, qty, fee, MONDAY);
            if seen.insert(trade) {
                pos += side.sign() * qty;
                cash -= i128::from(side.sign()) * i128::from(price) * i128::from(qty);
                fees += fee;
            }
            prop_assert_eq!(r.m.position(Venue::BinanceUsdm, &btc().symbol), Some(SignedQty(pos)));
        }
        // Close at 50 000 with a fresh trade id.
        if pos != 0 {
            let side = if pos > 0 { Side::Sell } else { Side::Buy };
            r.next_trade = 1_000;
            r.fill(side, 5_000_000, pos.abs(), 0, MONDAY);
            cash += i128::from(pos) * 5_000_000;
        }
        prop_assert_eq!(r.m.position(Venue::BinanceUsdm, &btc().symbol), Some(SignedQty(0)));
        // Scale 5 → 8: × 1000.
        let expected = i64::try_from(cash * 1000).unwrap() - fees;
        prop_assert_eq!(r.m.snapshot().realised, Notional(expected));
    }
}

#[test]
fn risk_input_fits_the_ring_slot_budget() {
    // LOSSLESS_DEFAULT_CAPACITY's sizing note assumes ~128-byte inputs.
    let size = std::mem::size_of::<RiskInput>();
    assert!(size <= 128, "RiskInput is {size} bytes");
}

/// Binance sends `TRADE_LITE` (no fee) before `ORDER_TRADE_UPDATE` (with
/// the fee) for the same trade: the ledger passes the first as a fill and
/// the second as `FeeSupplied`; the position moves once, the fee is charged
/// once, a fee in another asset is not quote money.
#[test]
fn a_fee_reported_late_is_charged_once() {
    let mut rig = Rig::new(loose(), MONDAY);
    let fill = |fee: i64, fee_kind: crate::order::FeeKind| Fill {
        client_id: ClientOrderId(7),
        venue: Venue::BinanceUsdm,
        symbol: Symbol::new(b"BTCUSDT").unwrap(),
        side: Side::Buy,
        trade_id: crate::order::TradeId(4242),
        price: Price(5_000_000),
        qty: Qty(10),
        fee: Notional(fee),
        fee_kind,
        is_maker: false,
        ts_ms: MONDAY,
    };
    let send = |rig: &mut Rig, f: Fill| rig.m.on_input(&RiskInput::Order(OrderEvent::Filled(f)), MONDAY, &mut rig.out);
    send(&mut rig, fill(0, crate::order::FeeKind::NotReported));
    assert_eq!(rig.m.snapshot().fees, Notional(0));
    rig.m.on_input(&RiskInput::FeeSupplied(fill(2 * USDT, crate::order::FeeKind::Quote)), MONDAY, &mut rig.out);
    assert_eq!(rig.m.snapshot().fees, Notional(2 * USDT));
    assert_eq!(rig.m.position(Venue::BinanceUsdm, &btc().symbol), Some(SignedQty(10)), "the position moved once");
    assert_eq!(rig.m.snapshot().realised, Notional(-2 * USDT));
    // Another trade whose fee is in BNB: position moves, quote PnL does not.
    let mut bnb = fill(5 * USDT, crate::order::FeeKind::OtherAsset);
    bnb.trade_id = crate::order::TradeId(4243);
    send(&mut rig, bnb);
    assert_eq!(rig.m.snapshot().fees, Notional(2 * USDT));
    assert_eq!(rig.m.snapshot().open_positions, 1);
}

/// A fill of `client` with a fee reported later (Binance `TRADE_LITE`), then
/// that fee (`ORDER_TRADE_UPDATE`), through the ledger as the core does.
fn lite_fill(client: u64, trade: u64, side: Side, price: i64) -> Fill {
    Fill {
        client_id: ClientOrderId(client),
        venue: Venue::BinanceUsdm,
        symbol: Symbol::new(b"BTCUSDT").unwrap(),
        side,
        trade_id: crate::order::TradeId(u128::from(trade)),
        fee_kind: crate::order::FeeKind::NotReported,
        price: Price(price),
        qty: Qty(100),
        fee: Notional(0),
        is_maker: false,
        ts_ms: MONDAY,
    }
}

fn with_fee(f: Fill, fee: i64) -> Fill {
    Fill { fee: Notional(fee), fee_kind: crate::order::FeeKind::Quote, ..f }
}

/// A round trip that wins before fees and loses after them, its fees
/// reported after its fills (as Binance does), is a loss for the streak;
/// judged when its last fee arrives, not at the closing fill. (Judged at
/// the closing fill, the live engine counted it a win, reset the streak and
/// never halted where the backtest, whose fills carry their fees, did.)
#[test]
fn a_round_trip_whose_fees_come_late_is_judged_with_them() {
    let mut r = Rig::new("consecutive_losses_halt = 2\nconsecutive_loss_cooldown_secs = 600", MONDAY);
    // The trip grosses +0.001 USDT; the opening fee (0.0001) leaves it
    // +0.0009 at the closing fill, the closing fee (0.01) makes it −0.0091.
    let (open_fee, close_fee) = (USDT / 10_000, USDT / 100);
    for k in 0..2u64 {
        let open = lite_fill(10 + 2 * k, 100 + 2 * k, Side::Buy, 5_000_000);
        let close = lite_fill(11 + 2 * k, 101 + 2 * k, Side::Sell, 5_000_010);
        r.deliver(open, MONDAY);
        r.deliver(with_fee(open, open_fee), MONDAY);
        r.deliver(close, MONDAY);
        assert_eq!(r.m.snapshot().consecutive_losses, k as u32, "not judged before the closing fee");
        assert_eq!(r.trips(), vec![]);
        r.deliver(with_fee(close, close_fee), MONDAY + 1);
    }
    assert_eq!(r.trips(), vec![Cause::ConsecutiveLosses], "two net losses in a row halt");
    assert_eq!(r.m.stats().trips_judged_without_fee, 0);
    assert_eq!(r.m.snapshot().fees, Notional(2 * (open_fee + close_fee)));
}

/// A closing fee that never comes: the trip is judged on what is known
/// after `FEE_WAIT_MS` (counted), and a fee arriving later is still charged.
#[test]
fn a_round_trip_waits_for_its_fees_only_so_long() {
    let mut r = Rig::new("consecutive_losses_halt = 1\nconsecutive_loss_cooldown_secs = 600", MONDAY);
    let open = lite_fill(10, 100, Side::Buy, 5_000_000);
    let close = lite_fill(11, 101, Side::Sell, 4_999_990);
    r.deliver(with_fee(open, 0), MONDAY);
    r.deliver(close, MONDAY);
    r.tick(MONDAY + FEE_WAIT_MS - 1);
    assert_eq!(r.trips(), vec![]);
    r.tick(MONDAY + FEE_WAIT_MS);
    assert_eq!(r.trips(), vec![Cause::ConsecutiveLosses], "−0.001 USDT before fees is a loss");
    assert_eq!(r.m.stats().trips_judged_without_fee, 1);
    r.deliver(with_fee(close, 7), MONDAY + FEE_WAIT_MS + 1);
    assert_eq!(r.m.snapshot().fees, Notional(7));
}

/// The next round trip closing first judges the one still waiting, in order.
#[test]
fn a_waiting_round_trip_is_judged_before_the_next_one() {
    let mut r = Rig::new("consecutive_losses_halt = 1000", MONDAY);
    r.deliver(lite_fill(10, 100, Side::Buy, 5_000_000), MONDAY);
    r.deliver(lite_fill(11, 101, Side::Sell, 4_999_990), MONDAY);
    r.fill(Side::Buy, 5_000_000, 100, 0, MONDAY);
    r.fill(Side::Sell, 4_999_990, 100, 0, MONDAY);
    assert_eq!(r.m.snapshot().consecutive_losses, 2);
    assert_eq!(r.m.stats().trips_judged_without_fee, 1);
}
