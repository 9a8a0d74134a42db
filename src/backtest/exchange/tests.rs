//! Fill rules of the simulated exchange, on hand-built books and trades.

use super::*;
use crate::event::{InstrumentId, TradeSource};
use crate::fixed::RefPrice;
use crate::instrument::Symbol;
use crate::venue::Venue;

fn btc() -> Instrument {
    crate::risk::test_support::btc(Venue::BinanceUsdm)
}

/// Bids 61 800.00 × 0.5, 61 799.90 × 1.0; asks 61 800.10 × 0.2, 61 800.20 × 0.3, 61 800.50 × 2.
fn book() -> Book<DEFAULT_LEVELS> {
    let mut b = Book::new(Price(10));
    b.set(Side::Buy, Price(6_180_000), Qty(500)).unwrap();
    b.set(Side::Buy, Price(6_179_990), Qty(1_000)).unwrap();
    b.set(Side::Sell, Price(6_180_010), Qty(200)).unwrap();
    b.set(Side::Sell, Price(6_180_020), Qty(300)).unwrap();
    b.set(Side::Sell, Price(6_180_050), Qty(2_000)).unwrap();
    b
}

fn order(id: u64, side: Side, kind: OrderKind, tif: TimeInForce, price: i64, qty: i64) -> OrderRequest {
    OrderRequest {
        venue: Venue::BinanceUsdm,
        symbol: Symbol::new(b"BTCUSDT").unwrap(),
        side,
        kind,
        tif,
        price: Price(price),
        qty: Qty(qty),
        reduce_only: false,
        client_id: ClientOrderId(id),
    }
}

fn trade(id: u64, price: i64, qty: i64, taker: Side) -> Trade {
    Trade {
        inst: InstrumentId(0),
        id,
        trade_ms: 0,
        event_ms: 0,
        price: Price(price),
        qty: Qty(qty),
        taker_side: taker,
        source: TradeSource::Market,
    }
}

fn fills(out: &[ExchangeReport]) -> Vec<(i64, i64, bool)> {
    out.iter()
        .filter_map(|r| match r {
            ExchangeReport::Filled(f) => Some((f.price.0, f.qty.0, f.is_maker)),
            _ => None,
        })
        .collect()
}

#[test]
fn market_order_walks_the_book() {
    let mut x = SimExchange::new(&[btc()], FillModel::TradeThrough);
    let mut out = Vec::new();
    x.on_order(
        0,
        &order(1, Side::Buy, OrderKind::Market, TimeInForce::Gtc, 0, 600),
        Some(&ExchangeBook::depth_only(&book())),
        5_000_000,
        &mut out,
    );
    assert_eq!(fills(&out), vec![(6_180_010, 200, false), (6_180_020, 300, false), (6_180_050, 100, false)]);
    assert_eq!(x.position(0), 600);
    // Fees at taker 4 bps per fill, computed by hand:
    // 61 800.10 × 0.2 = 12 360.02 → 4.944008; 61 800.20 × 0.3 = 18 540.06 → 7.416024;
    // 61 800.50 × 0.1 = 6 180.05 → 2.47202.
    let fees: Vec<i64> =
        out.iter().filter_map(|r| if let ExchangeReport::Filled(f) = r { Some(f.fee.0) } else { None }).collect();
    assert_eq!(fees, vec![494_400_800, 741_602_400, 247_202_000]);
    if let ExchangeReport::Filled(f) = out[0] {
        assert_eq!(f.ts_ms, 5);
    }
    // Beyond the book: what cannot fill expires.
    let mut out = Vec::new();
    x.on_order(
        0,
        &order(2, Side::Sell, OrderKind::Market, TimeInForce::Gtc, 0, 2_000),
        Some(&ExchangeBook::depth_only(&book())),
        0,
        &mut out,
    );
    assert_eq!(fills(&out), vec![(6_180_000, 500, false), (6_179_990, 1_000, false)]);
    assert_eq!(out.last(), Some(&ExchangeReport::Expired(ClientOrderId(2), Qty(500))));
}

#[test]
fn post_only_that_would_take_expires_and_resting_fills_only_on_trade_through() {
    let mut x = SimExchange::new(&[btc()], FillModel::TradeThrough);
    let mut out = Vec::new();
    x.on_order(
        0,
        &order(1, Side::Buy, OrderKind::Limit, TimeInForce::PostOnly, 6_180_010, 10),
        Some(&ExchangeBook::depth_only(&book())),
        0,
        &mut out,
    );
    assert_eq!(out, vec![ExchangeReport::Expired(ClientOrderId(1), Qty(10))]);
    let mut out = Vec::new();
    x.on_order(
        0,
        &order(2, Side::Buy, OrderKind::Limit, TimeInForce::PostOnly, 6_180_000, 10),
        Some(&ExchangeBook::depth_only(&book())),
        0,
        &mut out,
    );
    assert_eq!(out, vec![ExchangeReport::Acked(ClientOrderId(2))]);
    // Trades at our price, even sells, do not fill us (the queue ahead is unknown).
    let mut out = Vec::new();
    x.on_trade(0, &trade(100, 6_180_000, 5_000, Side::Sell), 1, &mut out);
    x.on_trade(0, &trade(101, 6_180_010, 5_000, Side::Buy), 2, &mut out);
    assert!(out.is_empty());
    // A trade below our bid: we were filled, in full, at our price, as maker.
    x.on_trade(0, &trade(102, 6_179_990, 1, Side::Sell), 3, &mut out);
    assert_eq!(fills(&out), vec![(6_180_000, 10, true)]);
    // Maker fee 2 bps on 618.00 = 0.1236.
    assert!(matches!(out[0], ExchangeReport::Filled(Fill { fee: Notional(12_360_000), .. })));
    assert_eq!(x.resting(), 0);
    // Every print it is given counts: replays are the caller's to drop (by
    // the market's one rule). Bybit's prints of one sweep share an id and
    // each fills a resting order it trades through.
    x.on_order(
        0,
        &order(3, Side::Buy, OrderKind::Limit, TimeInForce::PostOnly, 6_180_000, 10),
        Some(&ExchangeBook::depth_only(&book())),
        0,
        &mut out,
    );
    let mut out = Vec::new();
    x.on_trade(0, &trade(102, 6_179_990, 1, Side::Sell), 4, &mut out);
    assert_eq!(fills(&out), vec![(6_180_000, 10, true)]);
}

#[test]
fn touch_model_fills_at_our_price_up_to_the_trade() {
    let mut x = SimExchange::new(&[btc()], FillModel::Touch);
    let mut out = Vec::new();
    x.on_order(
        0,
        &order(1, Side::Sell, OrderKind::Limit, TimeInForce::PostOnly, 6_180_010, 10),
        Some(&ExchangeBook::depth_only(&book())),
        0,
        &mut out,
    );
    out.clear();
    // A taker sell at our ask price does not touch a resting sell.
    x.on_trade(0, &trade(1, 6_180_010, 4, Side::Sell), 1, &mut out);
    assert!(out.is_empty());
    x.on_trade(0, &trade(2, 6_180_010, 4, Side::Buy), 2, &mut out);
    x.on_trade(0, &trade(3, 6_180_010, 4, Side::Buy), 3, &mut out);
    x.on_trade(0, &trade(4, 6_180_010, 4, Side::Buy), 4, &mut out);
    assert_eq!(fills(&out), vec![(6_180_010, 4, true), (6_180_010, 4, true), (6_180_010, 2, true)]);
    assert_eq!(x.position(0), -10);
}

#[test]
fn cancels_and_gtc_limits_that_cross() {
    let mut x = SimExchange::new(&[btc()], FillModel::TradeThrough);
    let mut out = Vec::new();
    // A GTC buy at 61 800.20 takes both cheaper asks (0.5) and rests the rest.
    x.on_order(
        0,
        &order(1, Side::Buy, OrderKind::Limit, TimeInForce::Gtc, 6_180_020, 700),
        Some(&ExchangeBook::depth_only(&book())),
        0,
        &mut out,
    );
    assert_eq!(fills(&out), vec![(6_180_010, 200, false), (6_180_020, 300, false)]);
    assert_eq!(out.last(), Some(&ExchangeReport::Acked(ClientOrderId(1))));
    let mut out = Vec::new();
    x.on_cancel(ClientOrderId(1), &mut out);
    assert_eq!(out, vec![ExchangeReport::Cancelled(ClientOrderId(1), Qty(200))]);
    x.on_cancel(ClientOrderId(1), &mut out);
    assert_eq!(x.stats().late_cancels, 1);
}

#[test]
fn reduce_only_is_clamped_and_needs_a_position() {
    let mut x = SimExchange::new(&[btc()], FillModel::TradeThrough);
    let mut out = Vec::new();
    let mut ro = order(1, Side::Sell, OrderKind::Market, TimeInForce::Gtc, 0, 100);
    ro.reduce_only = true;
    x.on_order(0, &ro, Some(&ExchangeBook::depth_only(&book())), 0, &mut out);
    assert_eq!(out, vec![ExchangeReport::Rejected(ClientOrderId(1), RejectReason::ReduceOnlyRejected)]);
    x.on_order(
        0,
        &order(2, Side::Buy, OrderKind::Market, TimeInForce::Gtc, 0, 30),
        Some(&ExchangeBook::depth_only(&book())),
        0,
        &mut out,
    );
    let mut out = Vec::new();
    x.on_order(0, &ro, Some(&ExchangeBook::depth_only(&book())), 0, &mut out);
    assert_eq!(fills(&out), vec![(6_180_000, 30, false)]);
    assert_eq!(out.last(), Some(&ExchangeReport::Expired(ClientOrderId(1), Qty(70))));
    assert_eq!(x.position(0), 0);
    // No book: rejected.
    let mut out = Vec::new();
    x.on_order(0, &order(3, Side::Buy, OrderKind::Market, TimeInForce::Gtc, 0, 1), None, 0, &mut out);
    assert_eq!(out, vec![ExchangeReport::Rejected(ClientOrderId(3), RejectReason::Other)]);
}

#[test]
fn funding_is_charged_once_at_the_funding_time() {
    let mut x = SimExchange::new(&[btc()], FillModel::TradeThrough);
    let mut out = Vec::new();
    x.on_order(
        0,
        &order(1, Side::Buy, OrderKind::Market, TimeInForce::Gtc, 0, 200),
        Some(&ExchangeBook::depth_only(&book())),
        0,
        &mut out,
    );
    let funding = Funding {
        mark: RefPrice(6_180_000_000_000),
        rate: Rate(10_000), // 1 bp
        next_funding_ms: 28_800_000,
        ..Funding::default()
    };
    let mut out = Vec::new();
    x.on_clock(0, &funding, 28_799_999, &mut out);
    assert!(out.is_empty());
    x.on_clock(0, &funding, 28_800_000, &mut out);
    x.on_clock(0, &funding, 28_800_500, &mut out);
    // Long 0.2 BTC × 61 800 × 0.0001 = 1.236 USDT paid.
    assert_eq!(out, vec![ExchangeReport::Funding { inst: 0, amount: Notional(-123_600_000), ts_ms: 28_800_000 }]);
    // A short receives a positive rate.
    let mut out = Vec::new();
    x.on_order(
        0,
        &order(2, Side::Sell, OrderKind::Market, TimeInForce::Gtc, 0, 500),
        Some(&ExchangeBook::depth_only(&book())),
        0,
        &mut out,
    );
    let next = Funding { next_funding_ms: 57_600_000, ..funding };
    let mut out = Vec::new();
    x.on_clock(0, &next, 57_600_000, &mut out);
    assert_eq!(out, vec![ExchangeReport::Funding { inst: 0, amount: Notional(185_400_000), ts_ms: 57_600_000 }]);
}

#[test]
fn fee_rounds_half_away_from_zero() {
    assert_eq!(fee(Notional(125), Rate(40_000_000)), Notional(50)); // 125 × 0.4 = 50
    assert_eq!(fee(Notional(1), Rate(50_000_000)), Notional(1)); // 0.5 → 1
    assert_eq!(fee(Notional(-1), Rate(50_000_000)), Notional(-1));
    assert_eq!(fee(Notional(1), Rate(49_999_999)), Notional(0));
}

#[test]
fn a_newer_bbo_is_the_top_of_book() {
    let mut x = SimExchange::new(&[btc()], FillModel::TradeThrough);
    let depth = book();
    // The venue's BBO says the bid fell to 61 790.00 × 0.1 before the depth stream knew.
    let top = crate::market::Bbo {
        bid_px: Price(6_179_000),
        bid_qty: Qty(100),
        ask_px: Price(6_179_010),
        ask_qty: Qty(50),
        update_id: 9,
        ts_ms: 9,
    };
    let view = ExchangeBook { depth: &depth, top: Some(top) };
    let mut out = Vec::new();
    x.on_order(0, &order(1, Side::Sell, OrderKind::Market, TimeInForce::Gtc, 0, 300), Some(&view), 0, &mut out);
    // 0.1 at the BBO bid, then depth bids below it only (61 800.00 and 61 799.90 are stale).
    assert_eq!(fills(&out), vec![(6_179_000, 100, false)]);
    assert_eq!(out.last(), Some(&ExchangeReport::Expired(ClientOrderId(1), Qty(200))));
    // A post-only buy at 61 790.10 would now take.
    let mut out = Vec::new();
    x.on_order(
        0,
        &order(2, Side::Buy, OrderKind::Limit, TimeInForce::PostOnly, 6_179_010, 10),
        Some(&view),
        0,
        &mut out,
    );
    assert_eq!(out, vec![ExchangeReport::Expired(ClientOrderId(2), Qty(10))]);
}
