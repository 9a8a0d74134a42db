//! Pre-signing checks: round an [`OrderRequest`] onto the instrument's grid
//! in the safe direction and refuse what the venue would refuse.
//!
//! Every encoder calls [`prepare`] before it writes or signs a byte, so an
//! order that breaks a venue filter never costs a request, a rate-limit
//! slot or a reject. The filters mirror Binance `PRICE_FILTER`, `LOT_SIZE`,
//! `MARKET_LOT_SIZE` and `MIN_NOTIONAL`
//! (<https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Exchange-Information>)
//! and Bybit `priceFilter` / `lotSizeFilter`
//! (<https://bybit-exchange.github.io/docs/v5/market/instrument>).
//!
//! # Invariants
//! - Price rounds *away from crossing*: a buy rounds down to the tick, a
//!   sell rounds up, so rounding never makes an order more aggressive.
//! - Quantity rounds *down* to the step, so rounding never increases risk.
//! - After rounding: `min_qty ≤ qty ≤ max_qty` (`max_market_qty` for market
//!   orders) and `price × qty ≥ min_notional`. Market orders have no price,
//!   so the notional check uses the caller's reference price (the opposite
//!   best quote or the mark); without one the order is refused, not waved
//!   through.
//! - Reduce-only orders are still held to the minimum notional; the venues
//!   exempt some reduce-only orders, but refusing locally is the safe side.

use crate::fixed::{Price, Qty, Round, notional, round_to_step};
use crate::instrument::Instrument;
use crate::side::Side;

use super::{OrderKind, OrderRequest, TimeInForce};

/// Why an order was refused before signing.
///
/// # Errors
/// Returned by [`prepare`]; each variant names the filter that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OrderCheckError {
    /// The instrument is for another venue or symbol than the order.
    #[error("order venue/symbol does not match the instrument")]
    InstrumentMismatch,
    /// A limit order without a positive price.
    #[error("limit price must be positive")]
    NonPositivePrice,
    /// A market order cannot be post-only.
    #[error("a market order cannot be post-only")]
    PostOnlyMarket,
    /// Quantity rounded down to the step is below the minimum.
    #[error("quantity {qty:?} (after rounding down to the step) is below min_qty {min:?}")]
    QtyBelowMin {
        /// Rounded quantity.
        qty: Qty,
        /// Instrument minimum.
        min: Qty,
    },
    /// Quantity above the maximum for the order type.
    #[error("quantity {qty:?} is above the maximum {max:?} for this order type")]
    QtyAboveMax {
        /// Rounded quantity.
        qty: Qty,
        /// Instrument maximum (`max_market_qty` for market orders).
        max: Qty,
    },
    /// Notional below the instrument's minimum.
    #[error("notional below the instrument's minimum")]
    NotionalBelowMin,
    /// A market order needs a reference price for the notional check.
    #[error("market order without a reference price for the min-notional check")]
    MissingReferencePrice,
    /// Arithmetic overflow while rounding or computing the notional.
    #[error("price or quantity overflows")]
    Overflow,
}

/// Rounds and checks `order` against `instrument`; returns the order as it
/// will be sent. `market_ref` is the reference price for a market order's
/// notional check (ignored for limit orders; `Price::ZERO` for none).
///
/// # Errors
/// [`OrderCheckError`] naming the first filter that fails.
pub fn prepare(
    order: &OrderRequest,
    instrument: &Instrument,
    market_ref: Price,
) -> Result<OrderRequest, OrderCheckError> {
    if order.venue != instrument.venue || order.symbol != instrument.symbol {
        return Err(OrderCheckError::InstrumentMismatch);
    }
    let mut out = *order;
    out.qty = Qty(round_to_step(order.qty.0, instrument.step.0, Round::Down).ok_or(OrderCheckError::Overflow)?);
    if out.qty < instrument.min_qty || out.qty.0 <= 0 {
        return Err(OrderCheckError::QtyBelowMin { qty: out.qty, min: instrument.min_qty });
    }
    let (max, price_for_notional) = match order.kind {
        OrderKind::Limit => {
            if order.price.0 <= 0 {
                return Err(OrderCheckError::NonPositivePrice);
            }
            let dir = match order.side {
                Side::Buy => Round::Down,
                Side::Sell => Round::Up,
            };
            out.price = Price(round_to_step(order.price.0, instrument.tick.0, dir).ok_or(OrderCheckError::Overflow)?);
            if out.price.0 <= 0 {
                return Err(OrderCheckError::NonPositivePrice);
            }
            (instrument.max_qty, out.price)
        }
        OrderKind::Market => {
            if order.tif == TimeInForce::PostOnly {
                return Err(OrderCheckError::PostOnlyMarket);
            }
            if market_ref.0 <= 0 {
                return Err(OrderCheckError::MissingReferencePrice);
            }
            out.price = Price::ZERO;
            (instrument.max_market_qty, market_ref)
        }
    };
    if out.qty > max {
        return Err(OrderCheckError::QtyAboveMax { qty: out.qty, max });
    }
    let value = notional(price_for_notional, instrument.price_scale, out.qty, instrument.qty_scale)
        .ok_or(OrderCheckError::Overflow)?;
    if value < instrument.min_notional {
        return Err(OrderCheckError::NotionalBelowMin);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::Notional;
    use crate::instrument::Symbol;
    use crate::instrument::Venue;
    use crate::order::ClientOrderId;
    use proptest::prelude::*;

    pub(crate) fn btc() -> Instrument {
        Instrument::reference_btcusdt(Venue::BinanceUsdm)
    }

    fn order(side: Side, kind: OrderKind, price: i64, qty: i64) -> OrderRequest {
        OrderRequest {
            venue: Venue::BinanceUsdm,
            symbol: Symbol::new(b"BTCUSDT").unwrap(),
            side,
            kind,
            tif: TimeInForce::Gtc,
            price: Price(price),
            qty: Qty(qty),
            reduce_only: false,
            client_id: ClientOrderId(1),
        }
    }

    #[test]
    fn rounds_in_the_safe_direction() {
        let inst = btc();
        let buy = prepare(&order(Side::Buy, OrderKind::Limit, 6_180_027, 14), &inst, Price::ZERO).unwrap();
        assert_eq!(buy.price, Price(6_180_020));
        let sell = prepare(&order(Side::Sell, OrderKind::Limit, 6_180_021, 14), &inst, Price::ZERO).unwrap();
        assert_eq!(sell.price, Price(6_180_030));
        let on_grid = prepare(&order(Side::Sell, OrderKind::Limit, 6_180_020, 14), &inst, Price::ZERO).unwrap();
        assert_eq!(on_grid.price, Price(6_180_020));
    }

    #[test]
    fn quantity_rounds_down_and_limits_hold() {
        let mut inst = btc();
        inst.step = Qty(5);
        inst.min_qty = Qty(5);
        let o = prepare(&order(Side::Buy, OrderKind::Limit, 6_000_000, 14), &inst, Price::ZERO).unwrap();
        assert_eq!(o.qty, Qty(10));
        assert_eq!(
            prepare(&order(Side::Buy, OrderKind::Limit, 6_000_000, 4), &inst, Price::ZERO),
            Err(OrderCheckError::QtyBelowMin { qty: Qty(0), min: Qty(5) })
        );
        // Max qty for limit orders is max_qty, for market orders max_market_qty.
        let inst = btc();
        assert!(prepare(&order(Side::Buy, OrderKind::Limit, 6_000_000, 1_000_000), &inst, Price::ZERO).is_ok());
        assert_eq!(
            prepare(&order(Side::Buy, OrderKind::Limit, 6_000_000, 1_000_001), &inst, Price::ZERO),
            Err(OrderCheckError::QtyAboveMax { qty: Qty(1_000_001), max: Qty(1_000_000) })
        );
        assert!(prepare(&order(Side::Buy, OrderKind::Market, 0, 120_000), &inst, Price(6_000_000)).is_ok());
        assert_eq!(
            prepare(&order(Side::Buy, OrderKind::Market, 0, 120_001), &inst, Price(6_000_000)),
            Err(OrderCheckError::QtyAboveMax { qty: Qty(120_001), max: Qty(120_000) })
        );
    }

    #[test]
    fn min_notional_is_exact_at_the_threshold() {
        let inst = btc();
        // 100 USDT minimum at price 50000.00: 0.002 BTC = 100 USDT passes, 0.001 fails.
        assert!(prepare(&order(Side::Buy, OrderKind::Limit, 5_000_000, 2), &inst, Price::ZERO).is_ok());
        assert_eq!(
            prepare(&order(Side::Buy, OrderKind::Limit, 5_000_000, 1), &inst, Price::ZERO),
            Err(OrderCheckError::NotionalBelowMin)
        );
        // A buy rounded down below the threshold fails: 50000.05 → 50000.00 × 0.002 = 100 ok,
        // but 49999.99 → 49999.90 × 0.002 = 99.9998 fails.
        assert_eq!(
            prepare(&order(Side::Buy, OrderKind::Limit, 4_999_999, 2), &inst, Price::ZERO),
            Err(OrderCheckError::NotionalBelowMin)
        );
        assert_eq!(
            prepare(&order(Side::Buy, OrderKind::Market, 0, 2), &inst, Price::ZERO),
            Err(OrderCheckError::MissingReferencePrice)
        );
        assert_eq!(
            prepare(&order(Side::Buy, OrderKind::Market, 0, 1), &inst, Price(5_000_000)),
            Err(OrderCheckError::NotionalBelowMin)
        );
    }

    #[test]
    fn refuses_nonsense() {
        let inst = btc();
        assert_eq!(
            prepare(&order(Side::Buy, OrderKind::Limit, 0, 10), &inst, Price::ZERO),
            Err(OrderCheckError::NonPositivePrice)
        );
        // A buy below one tick rounds down to zero.
        assert_eq!(
            prepare(&order(Side::Buy, OrderKind::Limit, 5, 10), &inst, Price::ZERO),
            Err(OrderCheckError::NonPositivePrice)
        );
        let mut post_market = order(Side::Buy, OrderKind::Market, 0, 10);
        post_market.tif = TimeInForce::PostOnly;
        assert_eq!(prepare(&post_market, &inst, Price(5_000_000)), Err(OrderCheckError::PostOnlyMarket));
        let mut other = order(Side::Buy, OrderKind::Limit, 5_000_000, 10);
        other.venue = Venue::BybitLinear;
        assert_eq!(prepare(&other, &inst, Price::ZERO), Err(OrderCheckError::InstrumentMismatch));
        assert_eq!(
            prepare(&order(Side::Sell, OrderKind::Limit, i64::MAX, 10), &inst, Price::ZERO),
            Err(OrderCheckError::Overflow)
        );
    }

    proptest! {
        #[test]
        fn prepared_orders_are_on_grid_and_never_more_aggressive(
            price in 1i64..100_000_000, qty in 1i64..2_000_000, buy in any::<bool>(), tick in 1i64..1000, step in 1i64..100,
        ) {
            let mut inst = btc();
            inst.tick = Price(tick);
            inst.step = Qty(step);
            inst.min_qty = Qty(step);
            inst.max_qty = Qty(step * 10_000);
            inst.min_notional = Notional(0);
            let side = if buy { Side::Buy } else { Side::Sell };
            if let Ok(o) = prepare(&order(side, OrderKind::Limit, price, qty), &inst, Price::ZERO) {
                prop_assert_eq!(o.price.0 % tick, 0);
                prop_assert_eq!(o.qty.0 % step, 0);
                prop_assert!(o.qty.0 <= qty && qty - o.qty.0 < step);
                if buy { prop_assert!(o.price.0 <= price && price - o.price.0 < tick); }
                else { prop_assert!(o.price.0 >= price && o.price.0 - price < tick); }
                prop_assert!(o.qty >= inst.min_qty && o.qty <= inst.max_qty);
            }
        }
    }
}
