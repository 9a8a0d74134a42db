//! Strategy state-machine tests with hand-built snapshots.

use super::*;
use crate::fixed::Notional;
use crate::order::Fill;
use crate::signal::Regime;
use crate::venue::Venue;

fn btc() -> Instrument {
    crate::risk::test_support::btc(Venue::BinanceUsdm)
}

const LIMITS: SizeLimits = SizeLimits { max_qty: Qty(1_000_000), max_notional: Notional(1_000_000 * 100_000_000) };
const ACCOUNT: AccountView = AccountView::new(Notional(10_000 * 100_000_000));
const BID: Price = Price(6_000_000);
const ASK: Price = Price(6_000_010);

fn cfg() -> StrategyConfig {
    let mut c = StrategyConfig::default();
    c.entry.warmup_ms = 0;
    c
}

fn strategy(c: StrategyConfig, n: usize) -> Strategy {
    let insts = vec![btc(); n];
    Strategy::new(c, &insts, &vec![LIMITS; n], SignalFields::ALL)
}

use super::test_support::long_snapshot;

fn view(now_ms: i64, bid: i64, snapshot: SignalSnapshot) -> MarketView {
    MarketView { now_ms, bid: Price(bid), ask: Price(bid + 10), snapshot, entries_allowed: true }
}

fn fill(id: u64, side: Side, price: i64, qty: i64, maker: bool) -> Fill {
    let rate = if maker { 20_000 } else { 40_000 };
    let value = crate::fixed::notional(Price(price), 2, Qty(qty), 3).unwrap();
    let fee = Notional(value.0 * rate / 100_000_000);
    crate::order::quote_fill(&btc(), ClientOrderId(id), side, id, Price(price), Qty(qty), fee, maker, 0)
}

/// Enters long on instrument 0 at `BID` and returns the strategy with the position open.
fn opened() -> Strategy {
    let mut s = strategy(cfg(), 1);
    let a = s.on_market(0, &view(1_000, BID.0, long_snapshot()), &ACCOUNT).unwrap();
    assert!(matches!(a, Action::Enter { qty: Qty(8), .. }), "{a:?}");
    s.on_sent(0, ClientOrderId(1));
    s.on_fill(0, &fill(1, Side::Buy, BID.0, 8, true), 1_100);
    s
}

#[test]
fn a_trade_enters_post_only_at_the_bid_with_base_size() {
    let mut s = strategy(cfg(), 1);
    let a = s.on_market(0, &view(1_000, BID.0, long_snapshot()), &ACCOUNT).unwrap();
    // Confidence: 60 (5 of 5) + 25 × 0.5 (strength 2, cap 3) + 15 × mean(0.3/0.7, 1, 1) = 84.64 → base band.
    // Size: 5 % of 10 000 USDT at 60 000.00 = 0.00833 BTC → 0.008.
    assert_eq!(a, Action::Enter { side: Side::Buy, tier: Tier::A, qty: Qty(8), limit: Some(BID), confidence: 84 });
    assert_eq!(s.engaged(), 1);
    let g = s.gate_stats();
    assert_eq!((g.candidates, g.passed, g.by_tier), (1, 1, [1, 0, 0]));
    // While the entry is out, nothing else is proposed.
    assert_eq!(s.on_market(0, &view(1_001, BID.0, long_snapshot()), &ACCOUNT), None);
}

#[test]
fn fill_opens_and_take_profit_closes_then_cool_down() {
    let mut s = opened();
    let p = *s.position(0).unwrap();
    // A-trade levels: TP 15 bps = 90.00, SL 10 bps = 60.00.
    assert_eq!((p.entry, p.take_profit, p.stop, p.qty), (BID, Price(6_009_000), Price(5_994_000), Qty(8)));
    let neutral = SignalSnapshot { regime: Regime::Ranging, ..SignalSnapshot::default() };
    assert_eq!(s.on_market(0, &view(2_000, 6_008_990, neutral), &ACCOUNT), None);
    let a = s.on_market(0, &view(2_001, 6_009_000, neutral), &ACCOUNT).unwrap();
    assert_eq!(a, Action::Exit { side: Side::Sell, qty: Qty(8), reason: ExitReason::TakeProfit });
    s.on_sent(0, ClientOrderId(2));
    s.on_fill(0, &fill(2, Side::Sell, 6_009_000, 8, false), 2_050);
    assert!(s.is_flat(0));
    assert_eq!(s.engaged(), 0);
    // Net: 0.008 × 90.00 = 0.72 − fees 0.096 − 0.192288 > 0.
    assert_eq!(s.kelly_stats().wins, 1);
    // Cool-down (15 s): a perfect candidate is not even evaluated.
    let before = s.gate_stats().candidates;
    assert_eq!(s.on_market(0, &view(17_049, BID.0, long_snapshot()), &ACCOUNT), None);
    assert_eq!(s.gate_stats().candidates, before);
    assert!(s.on_market(0, &view(17_050, BID.0, long_snapshot()), &ACCOUNT).is_some());
}

#[test]
fn stop_loss_exit() {
    let mut s = opened();
    let a = s.on_market(0, &view(2_000, 5_994_000, long_snapshot()), &ACCOUNT).unwrap();
    assert_eq!(a, Action::Exit { side: Side::Sell, qty: Qty(8), reason: ExitReason::StopLoss });
    s.on_sent(0, ClientOrderId(2));
    s.on_fill(0, &fill(2, Side::Sell, 5_994_000, 8, false), 2_010);
    assert_eq!(s.kelly_stats().losses, 1);
}

#[test]
fn time_stop_exit() {
    let mut s = opened();
    let neutral = SignalSnapshot { regime: Regime::Ranging, ..SignalSnapshot::default() };
    // Opened at 1 100; A max hold 180 s.
    assert_eq!(s.on_market(0, &view(181_099, BID.0, neutral), &ACCOUNT), None);
    let a = s.on_market(0, &view(181_100, BID.0, neutral), &ACCOUNT).unwrap();
    assert!(matches!(a, Action::Exit { reason: ExitReason::TimeStop, .. }));
}

#[test]
fn b_trade_when_only_ofi_and_ou_agree_and_disabled_b_is_counted() {
    let scout = SignalSnapshot { vwap_dev_sigma: 0.0, acceleration_bps_s2: 0.0, funding_bias: 0.0, ..long_snapshot() };
    // With B enabled: a scout at the B fraction (2 % → 0.003 BTC). Confidence:
    // 50 (two of the two a B needs) + 0 + 12.5 + 12.14 = 74.6.
    let mut c = cfg();
    c.confidence.observe_from = 40.0;
    c.confidence.base_from = 45.0;
    c.confidence.large_from = 95.0;
    let mut s = strategy(c.clone(), 1);
    let a = s.on_market(0, &view(1_000, BID.0, scout), &ACCOUNT).unwrap();
    assert!(matches!(a, Action::Enter { tier: Tier::B, qty: Qty(3), .. }), "{a:?}");
    c.entry.b_trades = false;
    let mut s = strategy(c, 1);
    assert_eq!(s.on_market(0, &view(1_000, BID.0, scout), &ACCOUNT), None);
    let g = s.gate_stats();
    assert_eq!(g.blocked[GateKind::BTradesDisabled as usize], 1);
    assert_eq!((g.candidates, g.passed, g.by_tier), (1, 0, [0, 1, 0]));
}

#[test]
fn bands_observe_only_and_context_can_lift_it() {
    // Drop two confirmations: 60 + 12.5 + 15 × (0.43 + 0 + 0) / 3 = 74.6 → observe only.
    let weak = SignalSnapshot { volume_surge: 1.0, momentum_aligned: None, ..long_snapshot() };
    let mut s = strategy(cfg(), 1);
    assert_eq!(s.on_market(0, &view(1_000, BID.0, weak), &ACCOUNT), None);
    assert_eq!(s.gate_stats().blocked[GateKind::ObserveOnly as usize], 1);
    assert_eq!(s.gate_stats().observed, 1);
    // A bullish context component worth +10 (clamped) lifts it into the base band.
    let mut c = cfg();
    c.context.components.push(config::ContextComponent {
        name: "fear_greed".into(),
        weight: 1.0,
        center: 50.0,
        clamp: 10.0,
        directional: true,
        max_age_ms: 60_000,
    });
    let mut s = strategy(c, 1);
    s.context_mut().update(0, 75.0, 500);
    let a = s.on_market(0, &view(1_000, BID.0, weak), &ACCOUNT).unwrap();
    assert!(matches!(a, Action::Enter { confidence: 84, .. }), "{a:?}");
}

#[test]
fn large_band_sizes_up() {
    let strong = SignalSnapshot {
        ofi: 2.0,
        vwap_dev_sigma: -4.0,
        acceleration_bps_s2: 2.0,
        funding_bias: 1.0,
        ou_zscore: -4.0,
        tob_imbalance: 1.0,
        ..long_snapshot()
    };
    let mut s = strategy(cfg(), 1);
    let a = s.on_market(0, &view(1_000, BID.0, strong), &ACCOUNT).unwrap();
    // 100 points; 5 % × 1.5 = 750 USDT → 0.0125 → 0.012 BTC.
    assert_eq!(a, Action::Enter { side: Side::Buy, tier: Tier::A, qty: Qty(12), limit: Some(BID), confidence: 100 });
}

#[test]
fn impossible_gate_blocks_and_counts() {
    let mut c = cfg();
    c.gates.spread.value = 0.0; // no spread is ever ≤ 0 ticks
    let mut s = strategy(c, 1);
    for t in 0..5 {
        assert_eq!(s.on_market(0, &view(1_000 + t, BID.0, long_snapshot()), &ACCOUNT), None);
    }
    let g = s.gate_stats();
    assert_eq!((g.candidates, g.passed, g.blocked[GateKind::Spread as usize]), (5, 0, 5));
}

#[test]
fn warm_up_gate_uses_time_and_the_warm_flag() {
    let mut c = cfg();
    c.entry.warmup_ms = 10_000;
    let mut s = strategy(c, 1);
    assert_eq!(s.on_market(0, &view(1_000, BID.0, long_snapshot()), &ACCOUNT), None);
    let cold = SignalSnapshot { warm: false, ..long_snapshot() };
    assert_eq!(s.on_market(0, &view(11_000, BID.0, cold), &ACCOUNT), None);
    assert_eq!(s.gate_stats().blocked[GateKind::Warmup as usize], 2);
    assert!(s.on_market(0, &view(11_000, BID.0, long_snapshot()), &ACCOUNT).is_some());
}

#[test]
fn entry_timeout_cancels_and_unfilled_entry_waits_to_retry() {
    let mut s = strategy(cfg(), 1);
    s.on_market(0, &view(1_000, BID.0, long_snapshot()), &ACCOUNT).unwrap();
    s.on_sent(0, ClientOrderId(7));
    assert_eq!(s.on_market(0, &view(3_999, BID.0, long_snapshot()), &ACCOUNT), None);
    assert_eq!(
        s.on_market(0, &view(4_000, BID.0, long_snapshot()), &ACCOUNT),
        Some(Action::Cancel { id: ClientOrderId(7) })
    );
    assert_eq!(s.on_market(0, &view(4_001, BID.0, long_snapshot()), &ACCOUNT), None);
    s.on_order_done(0, ClientOrderId(7), 4_010);
    assert!(s.is_flat(0));
    assert_eq!(s.counters().unfilled_entries, 1);
    // Retry after entry_retry_ms (1 s).
    assert_eq!(s.on_market(0, &view(5_009, BID.0, long_snapshot()), &ACCOUNT), None);
    assert!(s.on_market(0, &view(5_010, BID.0, long_snapshot()), &ACCOUNT).is_some());
}

#[test]
fn partial_entry_then_cancel_opens_the_filled_part() {
    let mut s = strategy(cfg(), 1);
    s.on_market(0, &view(1_000, BID.0, long_snapshot()), &ACCOUNT).unwrap();
    s.on_sent(0, ClientOrderId(7));
    s.on_fill(0, &fill(7, Side::Buy, BID.0, 3, true), 1_500);
    assert!(s.position(0).is_none());
    s.on_order_done(0, ClientOrderId(7), 4_010);
    assert_eq!(s.position(0).unwrap().qty, Qty(3));
    assert_eq!(s.counters().partial_entries, 1);
}

#[test]
fn max_concurrent_positions_across_symbols() {
    let mut c = cfg();
    c.entry.max_concurrent_positions = 1;
    let mut s = strategy(c, 2);
    assert!(s.on_market(0, &view(1_000, BID.0, long_snapshot()), &ACCOUNT).is_some());
    assert_eq!(s.on_market(1, &view(1_000, BID.0, long_snapshot()), &ACCOUNT), None);
    assert_eq!(s.gate_stats().blocked[GateKind::MaxConcurrentPositions as usize], 1);
}

#[test]
fn refused_entry_backs_off() {
    let mut s = strategy(cfg(), 1);
    s.on_market(0, &view(1_000, BID.0, long_snapshot()), &ACCOUNT).unwrap();
    s.on_refused(0, 1_000);
    assert!(s.is_flat(0));
    assert_eq!(s.engaged(), 0);
    assert_eq!(s.on_market(0, &view(1_999, BID.0, long_snapshot()), &ACCOUNT), None);
    assert!(s.on_market(0, &view(2_000, BID.0, long_snapshot()), &ACCOUNT).is_some());
}

#[test]
fn risk_flatten_closes_the_position() {
    let mut s = opened();
    s.request_flatten(0, ExitReason::RiskFlatten);
    let a = s.on_market(0, &view(1_200, BID.0, long_snapshot()), &ACCOUNT).unwrap();
    assert_eq!(a, Action::Exit { side: Side::Sell, qty: Qty(8), reason: ExitReason::RiskFlatten });
}

#[test]
fn short_entry_mirrors() {
    let short = SignalSnapshot {
        tob_imbalance: -0.6,
        ofi: -1.0,
        vwap_dev_sigma: 2.0,
        acceleration_bps_s2: -1.0,
        funding_bias: -0.5,
        ou_zscore: 2.0,
        ou_drift: -1,
        momentum_short_bps: -2.0,
        momentum_aligned: Some(Side::Sell),
        ..long_snapshot()
    };
    let mut s = strategy(cfg(), 1);
    let a = s.on_market(0, &view(1_000, BID.0, short), &ACCOUNT).unwrap();
    assert_eq!(a, Action::Enter { side: Side::Sell, tier: Tier::A, qty: Qty(8), limit: Some(ASK), confidence: 84 });
}

#[test]
fn market_entries_when_post_only_is_off() {
    let mut c = cfg();
    c.entry.post_only = false;
    let mut s = strategy(c, 1);
    let a = s.on_market(0, &view(1_000, BID.0, long_snapshot()), &ACCOUNT).unwrap();
    assert!(matches!(a, Action::Enter { limit: None, .. }), "{a:?}");
}

#[test]
fn actions_become_orders() {
    let inst = btc();
    let enter = Action::Enter { side: Side::Buy, tier: Tier::A, qty: Qty(8), limit: Some(BID), confidence: 84 };
    let o = enter.to_order(&inst, ClientOrderId(5)).unwrap();
    assert_eq!(
        (o.kind, o.tif, o.price, o.qty, o.reduce_only, o.client_id),
        (OrderKind::Limit, TimeInForce::PostOnly, BID, Qty(8), false, ClientOrderId(5))
    );
    assert_eq!((o.venue, o.symbol), (inst.venue, inst.symbol));
    let market = Action::Enter { side: Side::Buy, tier: Tier::A, qty: Qty(8), limit: None, confidence: 84 }
        .to_order(&inst, ClientOrderId(6))
        .unwrap();
    assert_eq!((market.kind, market.price), (OrderKind::Market, Price::ZERO));
    let exit = Action::Exit { side: Side::Sell, qty: Qty(8), reason: ExitReason::TimeStop }
        .to_order(&inst, ClientOrderId(7))
        .unwrap();
    assert_eq!((exit.side, exit.kind, exit.reduce_only), (Side::Sell, OrderKind::Market, true));
    assert_eq!(Action::Cancel { id: ClientOrderId(5) }.to_order(&inst, ClientOrderId(8)), None);
}

// ---------------------------------------------------------------------------
// The plans' rules.

/// A long snapshot in which exactly the `agree` votes are cast, each at the
/// strength cap (3× its threshold), with every confirmation full.
fn minimal(cfg: &StrategyConfig, agree: &[VoteKind]) -> SignalSnapshot {
    let v = &cfg.votes;
    let on = |k: VoteKind| agree.contains(&k);
    SignalSnapshot {
        ofi: if on(VoteKind::OrderFlow) { 3.0 * v.ofi_threshold } else { 0.0 },
        vwap_dev_sigma: if on(VoteKind::VwapDeviation) { -3.0 * v.vwap_sigma_threshold } else { 0.0 },
        acceleration_bps_s2: if on(VoteKind::Acceleration) { 3.0 * v.acceleration_threshold_bps_s2 } else { 0.0 },
        funding_bias: if on(VoteKind::FundingBias) { (3.0 * v.funding_bias_threshold).min(1.0) } else { 0.0 },
        ou_zscore: if on(VoteKind::Drift) { -3.0 * v.ou_zscore_threshold } else { 0.0 },
        ou_drift: if on(VoteKind::Drift) { 1 } else { 0 },
        tob_imbalance: 1.0,
        volume_surge: 2.0,
        momentum_aligned: Some(Side::Buy),
        ..long_snapshot()
    }
}

/// Issue 14, item 1: under the default weights — the code's and
/// `tuning/default.toml`'s — a 3-of-5 A candidate (OFI and OU drift among
/// them) and a 2-of-5 B candidate (OFI and OU drift) reach a band that
/// trades, and the strategy enters them. By construction: the vote points
/// are measured against the tier's own requirement, and loading refuses
/// weights with which a minimal candidate could not reach `base_from`.
#[test]
fn a_three_of_five_a_and_a_two_of_five_b_reach_a_trading_band_under_the_default_weights() {
    // tuning/default.toml's strategy tables (read here without the profile
    // loader, which sits above the strategy).
    let root: toml::Table = toml::from_str(include_str!("../../tuning/default.toml")).unwrap();
    let profile = config::RawStrategyTables::from_root(&root).unwrap().validate().unwrap();
    for (name, base) in [("code defaults", StrategyConfig::default()), ("tuning/default.toml", profile)] {
        let mut c = base.clone();
        c.entry.warmup_ms = 0;
        for (agree, tier) in [
            (&[VoteKind::OrderFlow, VoteKind::VwapDeviation, VoteKind::Drift][..], Tier::A),
            (&[VoteKind::OrderFlow, VoteKind::Drift][..], Tier::B),
        ] {
            let mut s = strategy(c.clone(), 1);
            let a = s.on_market(0, &view(1_000, BID.0, minimal(&c, agree)), &ACCOUNT);
            let Some(Action::Enter { tier: got, confidence, .. }) = a else {
                panic!("{name}: {tier:?} with {} votes made no entry: {:?}", agree.len(), s.gate_stats())
            };
            assert_eq!(got, tier, "{name}");
            let band = entry::band(&c.confidence, f64::from(confidence));
            assert!(matches!(band, Band::Base | Band::Large), "{name}: {tier:?} scored {confidence}");
            // The weights' own guarantee: votes + strength + confirmation ≥ base.
            let w = &c.confidence;
            assert!(w.votes_weight + w.strength_weight + w.confirmation_weight >= w.base_from, "{name}");
        }
    }
}

fn risk_cfg() -> StrategyConfig {
    let mut c = cfg();
    c.sizing.mode = config::SizingMode::Risk;
    c.sizing.a_risk = Rate(500_000); // 0.5 % of equity at risk
    c.sizing.risk_includes_fees = false;
    c
}

#[test]
fn risk_sizing_is_the_risk_budget_over_the_stop_distance() {
    // A-trade SL 10 bps of 60 000.00 = 60.00; 0.5 % of 10 000 = 50 USDT
    // at risk: 50 / 60 = 0.8333 BTC → 0.833. The caps do not bind: equity
    // × position share 1 × leverage 20 = 200 000 USDT of notional, and the
    // order limits (1 000 000 USDT).
    let mut c = risk_cfg();
    c.entry.post_only = true;
    let mut s = strategy(c.clone(), 1);
    let a = s.on_market(0, &view(1_000, BID.0, long_snapshot()), &ACCOUNT).unwrap();
    assert!(matches!(a, Action::Enter { qty: Qty(833), .. }), "{a:?}");
    let ctx = *s.entry_context(0).unwrap();
    assert_eq!((ctx.stop_distance, ctx.target_distance, ctx.qty), (Price(6_000), Price(9_000), Qty(833)));
    assert_eq!(ctx.risk, Notional(4_998 * 1_000_000)); // 0.833 × 60.00 = 49.98
    assert_eq!(ctx.leverage, 20);
    assert_eq!(ctx.snapshot, long_snapshot());
    // With the fees in the loss at the stop: 60.00 + 60 000 × (2 + 4 bps) = 96.00 per BTC → 0.520.
    c.sizing.risk_includes_fees = true;
    let mut s = strategy(c.clone(), 1);
    let a = s.on_market(0, &view(1_000, BID.0, long_snapshot()), &ACCOUNT).unwrap();
    assert!(matches!(a, Action::Enter { qty: Qty(520), .. }), "{a:?}");
    // Leverage binds: venue leverage 1, position share 5 % → 500 USDT → 0.008 BTC.
    c.leverage.default = 1;
    c.sizing.max_position_share = Rate(5_000_000);
    let mut s = strategy(c, 1);
    let a = s.on_market(0, &view(1_000, BID.0, long_snapshot()), &ACCOUNT).unwrap();
    assert!(matches!(a, Action::Enter { qty: Qty(8), .. }), "{a:?}");
}

#[test]
fn the_risk_sides_size_cap_and_the_schedule_scale_the_size() {
    let mut c = risk_cfg();
    c.entry.post_only = true;
    let half = AccountView { size_cap_permille: 500, ..ACCOUNT };
    let mut s = strategy(c.clone(), 1);
    let a = s.on_market(0, &view(1_000, BID.0, long_snapshot()), &half).unwrap();
    assert!(matches!(a, Action::Enter { qty: Qty(416), .. }), "{a:?}"); // 25 / 60 = 0.4166
    // Schedule: hour 0 (now 1 000 ms) at ×0.5, hour 1 not allowed.
    c.schedule = schedule::ScheduleConfig {
        enabled: true,
        allowed: {
            let mut a = [true; 24];
            a[1] = false;
            a
        },
        multiplier: {
            let mut m = [Rate(100_000_000); 24];
            m[0] = Rate(50_000_000);
            m
        },
    };
    let mut s = strategy(c.clone(), 1);
    let a = s.on_market(0, &view(1_000, BID.0, long_snapshot()), &ACCOUNT).unwrap();
    assert!(matches!(a, Action::Enter { qty: Qty(416), .. }), "{a:?}");
    let mut s = strategy(c, 1);
    assert_eq!(s.on_market(0, &view(3_600_000, BID.0, long_snapshot()), &ACCOUNT), None);
    assert_eq!(s.gate_stats().blocked[GateKind::Schedule as usize], 1);
}

#[test]
fn atr_and_swing_stops_set_r_and_the_target() {
    let mut c = risk_cfg();
    c.entry.post_only = true;
    c.exits.stop.method = config::StopMethod::Atr;
    c.exits.stop.atr_multiple_e2 = 150;
    c.exits.stop.take_profit_r_e2 = Some(200);
    // ATR 20.00 → stop 30.00 (5 bps: inside [2, 100] bps), target 60.00.
    let atr = SignalSnapshot {
        atr: 20.0,
        warm_mask: long_snapshot().warm_mask | crate::signal::warm::ATR,
        ..long_snapshot()
    };
    let mut s = strategy(c.clone(), 1);
    let a = s.on_market(0, &view(1_000, BID.0, atr), &ACCOUNT).unwrap();
    // 50 USDT / 30.00 = 1.666 BTC, capped at 20 × 10 000 = 200 000 USDT: 1.666.
    assert!(matches!(a, Action::Enter { qty: Qty(1_666), .. }), "{a:?}");
    let ctx = *s.entry_context(0).unwrap();
    assert_eq!((ctx.stop_distance, ctx.target_distance), (Price(3_000), Price(6_000)));
    s.on_sent(0, ClientOrderId(1));
    s.on_fill(0, &fill(1, Side::Buy, BID.0, 1_666, true), 1_100);
    let p = *s.position(0).unwrap();
    assert_eq!((p.stop, p.take_profit, p.r_distance), (Price(5_997_000), Price(6_006_000), 3_000));
    // ATR not warm: no entry, counted.
    let cold = SignalSnapshot { atr: 20.0, ..long_snapshot() };
    let mut s = strategy(c.clone(), 1);
    assert_eq!(s.on_market(0, &view(1_000, BID.0, cold), &ACCOUNT), None);
    assert_eq!(s.gate_stats().blocked[GateKind::StopUnavailable as usize], 1);
    // An ATR of 0.05 → 0.075: below the 2 bps minimum (12.00): clamped to it.
    let tiny = SignalSnapshot { atr: 0.05, ..atr };
    let mut s = strategy(c.clone(), 1);
    s.on_market(0, &view(1_000, BID.0, tiny), &ACCOUNT).unwrap();
    assert_eq!(s.entry_context(0).unwrap().stop_distance, Price(1_200));
    // Swing: low 59 980.00 and a 1 bp buffer (6.00) → 26.00 below the bid.
    c.exits.stop.method = config::StopMethod::Swing;
    let swing = SignalSnapshot { swing_low: 59_980.0, swing_high: 60_010.0, ..long_snapshot() };
    let mut s = strategy(c, 1);
    s.on_market(0, &view(1_000, BID.0, swing), &ACCOUNT).unwrap();
    assert_eq!(s.entry_context(0).unwrap().stop_distance, Price(2_600));
}

/// Two instruments, the second correlated with the first at ρ ≈ 1: a
/// second long is refused while the first is open; a short is not.
#[test]
fn the_correlation_guard_refuses_a_second_same_direction_position() {
    let mut c = cfg();
    c.entry.post_only = true;
    c.gates.correlation.min_samples = 10;
    let mut s = strategy(c, 2);
    let quiet = SignalSnapshot { regime: Regime::Ranging, ..SignalSnapshot::default() };
    let mut mid = 60_000.0;
    for k in 0..40 {
        mid *= if k % 3 == 0 { 1.0002 } else { 0.9999 };
        let snap = SignalSnapshot { mid, ..quiet };
        let t = 1_000 * k;
        s.on_market(0, &view(t, BID.0, snap), &ACCOUNT);
        s.on_market(1, &view(t + 1, BID.0, SignalSnapshot { mid: mid / 20.0, ..quiet }), &ACCOUNT);
    }
    assert!(s.correlation(0, 1).unwrap() > 0.99);
    let t = 41_000;
    assert!(s.on_market(0, &view(t, BID.0, long_snapshot()), &ACCOUNT).is_some());
    assert_eq!(s.on_market(1, &view(t, BID.0, long_snapshot()), &ACCOUNT), None);
    assert_eq!(s.gate_stats().blocked[GateKind::Correlation as usize], 1);
    let short = SignalSnapshot {
        tob_imbalance: -0.6,
        ofi: -1.0,
        vwap_dev_sigma: 2.0,
        acceleration_bps_s2: -1.0,
        funding_bias: -0.5,
        ou_zscore: 2.0,
        ou_drift: -1,
        momentum_short_bps: -2.0,
        momentum_aligned: Some(Side::Sell),
        ..long_snapshot()
    };
    assert!(s.on_market(1, &view(t + 1, BID.0, short), &ACCOUNT).is_some(), "{:?}", s.gate_stats());
}

fn liquidations(long_per_min: f64, short_per_min: f64) -> SignalSnapshot {
    SignalSnapshot { liq_long_per_min: long_per_min, liq_short_per_min: short_per_min, ..SignalSnapshot::default() }
}

#[test]
fn cascade_trades_at_their_threshold_with_their_own_exits() {
    let mut c = cfg();
    c.cascade = config::CascadeTradeConfig { enabled: true, min_notional_per_min: 1_000_000.0, min_side_share: 0.7 };
    // Longs liquidated at 999 999 USDT/min: nothing; at 1 000 000: a short.
    let mut s = strategy(c.clone(), 1);
    let base = SignalSnapshot { warm: true, regime: Regime::Ranging, ..SignalSnapshot::default() };
    assert_eq!(s.on_market(0, &view(1_000, BID.0, SignalSnapshot { ..liquidations(999_999.0, 0.0) }), &ACCOUNT), None);
    let snap = SignalSnapshot { warm: true, ..liquidations(1_000_000.0, 0.0) };
    let a = s.on_market(0, &view(1_000, BID.0, snap), &ACCOUNT).unwrap();
    assert!(matches!(a, Action::Enter { side: Side::Sell, tier: Tier::Cascade, confidence: 0, .. }), "{a:?}");
    // 2 % of 10 000 = 200 USDT → 0.003 BTC.
    assert!(matches!(a, Action::Enter { qty: Qty(3), .. }), "{a:?}");
    s.on_sent(0, ClientOrderId(1));
    s.on_fill(0, &fill(1, Side::Sell, BID.0, 3, false), 1_100);
    let p = *s.position(0).unwrap();
    // [exits.cascade] defaults: TP 20 bps (120.00), SL 10 bps, 60 s.
    assert_eq!((p.tier, p.take_profit), (Tier::Cascade, Price(5_988_000)));
    assert_eq!(s.on_market(0, &view(61_099, 5_999_000, base), &ACCOUNT), None);
    assert!(matches!(
        s.on_market(0, &view(61_100, 5_999_000, base), &ACCOUNT),
        Some(Action::Exit { reason: ExitReason::TimeStop, .. })
    ));
    // The side must hold 70 % of the liquidated notional.
    let mut s = strategy(c, 1);
    let mixed = SignalSnapshot { warm: true, ..liquidations(1_000_000.0, 430_000.0) };
    assert_eq!(s.on_market(0, &view(1_000, BID.0, mixed), &ACCOUNT), None);
    let shorts = SignalSnapshot { warm: true, ..liquidations(0.0, 2_000_000.0) };
    assert!(matches!(
        s.on_market(0, &view(1_000, BID.0, shorts), &ACCOUNT),
        Some(Action::Enter { side: Side::Buy, tier: Tier::Cascade, .. })
    ));
}

#[test]
fn dynamic_leverage_caps_the_notional_and_is_recorded() {
    let mut c = risk_cfg();
    c.entry.post_only = true;
    c.sizing.max_position_share = Rate(1_000_000); // 1 % margin share: 100 USDT × leverage
    c.leverage.dynamic = true;
    c.leverage.base = 3;
    // 84.6 confidence (base band), volatility percentile 0 (low: +1) → 4×: 400 USDT → 0.006 BTC.
    let calm = SignalSnapshot { warm_mask: crate::signal::warm::REGIME, volatility_percentile: 0.0, ..long_snapshot() };
    let mut s = strategy(c.clone(), 1);
    let a = s.on_market(0, &view(1_000, BID.0, calm), &ACCOUNT).unwrap();
    assert!(matches!(a, Action::Enter { qty: Qty(6), .. }), "{a:?}");
    assert_eq!(s.entry_context(0).unwrap().leverage, 4);
    // The margin guard cuts it to margin_guard_max (2): 200 USDT → 0.003.
    let guarded = AccountView { margin_guard: true, ..ACCOUNT };
    let mut s = strategy(c, 1);
    let a = s.on_market(0, &view(1_000, BID.0, calm), &guarded).unwrap();
    assert!(matches!(a, Action::Enter { qty: Qty(3), .. }), "{a:?}");
    assert_eq!(s.entry_context(0).unwrap().leverage, 2);
}

#[test]
fn the_account_view_carries_the_verdicts_size_cap_and_margin_guard() {
    use crate::risk::{Cause, Mode, Verdict};
    let equity = Notional(5 * 100_000_000);
    let streak = Verdict { mode: Mode::Run, cause: Cause::LossStreakCut, size_cap_permille: 500, seq: 3 };
    assert_eq!(
        AccountView::with_verdict(equity, &streak),
        AccountView { equity, size_cap_permille: 500, margin_guard: false }
    );
    let margin = Verdict { cause: Cause::MarginReduce, ..streak };
    assert!(AccountView::with_verdict(equity, &margin).margin_guard);
    assert_eq!(AccountView::with_verdict(equity, &Verdict::RUN), AccountView::new(equity));
}
