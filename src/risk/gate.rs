//! The inline pre-trade risk gate, run on the hot thread before an order is
//! signed.
//!
//! Every check is O(1) over data held in the gate (slots are allocated at
//! construction, never after), nothing allocates, nothing reads a clock:
//! the caller passes `now_ns` (raw monotonic nanoseconds, e.g. `quanta`)
//! and the reference mid with its own timestamp on the same clock.
//!
//! # Checks, in order (the first failure is the refusal reason)
//! 1. the slot exists and names the order's venue and symbol;
//! 2. the hot → risk ring is not congested (events of orders already out
//!    must find room: see [`crate::ring`]);
//! 3. quantity positive, limit price positive;
//! 4. the risk thread's verdict ([`crate::risk::verdict`]): outside `Run`
//!    only orders that reduce the position pass; a `reduce_only` order must
//!    reduce in any mode;
//!    a symbol put in reduce-only ([`RiskGate::set_reduce_only`]) likewise
//!    passes only reducing orders;
//! 5. quantity ≤ the symbol's max order quantity; for opening orders also ≤
//!    the verdict's size cap (‰ of that maximum);
//! 6. a reference mid exists and is not older than `max_reference_age_ms`
//!    (a *reducing market* order without one skips 6–8: it can only lower
//!    the exposure, and an exit must never wait for a price);
//! 7. fat-finger band: a limit price within `price_band_bps` of the mid, on
//!    either side (like Binance's `PERCENT_PRICE` filter);
//! 8. order notional (limit price, or mid for market orders) ≤ max;
//! 9. for opening orders, the worst-case position (position plus every open
//!    order on the same side plus this one) ≤ the symbol's max position in
//!    quantity and, at the mid, in notional; and a symbol without position
//!    or open order may become engaged only while fewer than
//!    `max_concurrent_positions` symbols are;
//! 10. order-rate token buckets: Binance per account 300 / 10 s and
//!     1200 / min, Bybit per symbol 10 / s (configurable). All buckets must
//!     hold a token before any is taken.
//!
//! A passed order is recorded as open (its quantity counts toward the
//! position limits until [`RiskGate::on_fill`] or [`RiskGate::on_order_done`]
//! releases it). Every refusal is counted by [`Refusal`].
//!
//! # Token buckets and the venues' counters
//! A bucket of `n` tokens per `period` refills continuously at `n / period`;
//! it holds at most `n`. The venues count orders in their own windows, so a
//! bucket may disagree with them (an order sent by another session, or a
//! window boundary the bucket does not see). [`RiskGate::observe_usage`]
//! corrects a bucket from the counters the venue reports on each order
//! response (Binance `X-MBX-ORDER-COUNT-10S` / `-1M`, Bybit
//! `X-Bapi-Limit-Status`): the bucket is lowered to what the venue says is
//! left, never raised, so a stale header cannot grant extra orders.
//! Sources: <https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info#limits>,
//! <https://bybit-exchange.github.io/docs/v5/rate-limit>.

use std::sync::Arc;

use crate::fixed::{Notional, Price, Qty, SignedQty, notional};
use crate::instrument::{Instrument, LoadError, Symbol};
use crate::order::{OrderKind, OrderRequest};
use crate::risk::config::{RiskConfig, SymbolLimits};
use crate::risk::verdict::{FULL_SIZE_PERMILLE, Mode, Verdict, VerdictCell};
use crate::side::Side;
use crate::venue::Venue;

/// Why the gate refused an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Refusal {
    /// The slot is unknown or belongs to another venue/symbol.
    UnknownInstrument = 0,
    /// The hot → risk ring is above its high-water mark.
    Backpressure = 1,
    /// Quantity is zero or negative.
    InvalidQty = 2,
    /// Limit price is zero or negative.
    InvalidPrice = 3,
    /// Verdict is `Halt` and the order does not reduce.
    Halted = 4,
    /// Verdict is `ReduceOnly` and the order does not reduce.
    ReduceOnlyMode = 5,
    /// Verdict is `Flatten` and the order does not reduce.
    Flattening = 6,
    /// A `reduce_only` order would not reduce the position.
    NotReducing = 7,
    /// Quantity above the symbol's max order quantity.
    MaxOrderQty = 8,
    /// Opening quantity above the verdict's size cap.
    SizeCap = 9,
    /// No reference mid yet.
    NoReference = 10,
    /// Reference mid older than allowed.
    StaleReference = 11,
    /// Limit price outside the band around the mid.
    PriceBand = 12,
    /// Order notional above the maximum.
    MaxOrderNotional = 13,
    /// Worst-case position quantity above the maximum.
    MaxPosition = 14,
    /// Worst-case position notional above the maximum.
    MaxPositionNotional = 15,
    /// Too many symbols engaged at once.
    MaxConcurrentPositions = 16,
    /// Binance 10-second order bucket empty.
    RateLimit10s = 17,
    /// Binance 1-minute order bucket empty.
    RateLimitMinute = 18,
    /// Bybit per-symbol order bucket empty.
    RateLimitSymbol = 19,
    /// Arithmetic overflow computing a notional (absurd input).
    Overflow = 20,
    /// The symbol is reduce-only (its position disagrees with the venue's)
    /// and the order does not reduce.
    SymbolReduceOnly = 21,
}

impl Refusal {
    /// Number of reasons.
    pub const COUNT: usize = 22;

    /// Every reason, by code.
    pub const ALL: [Refusal; Self::COUNT] = [
        Refusal::UnknownInstrument,
        Refusal::Backpressure,
        Refusal::InvalidQty,
        Refusal::InvalidPrice,
        Refusal::Halted,
        Refusal::ReduceOnlyMode,
        Refusal::Flattening,
        Refusal::NotReducing,
        Refusal::MaxOrderQty,
        Refusal::SizeCap,
        Refusal::NoReference,
        Refusal::StaleReference,
        Refusal::PriceBand,
        Refusal::MaxOrderNotional,
        Refusal::MaxPosition,
        Refusal::MaxPositionNotional,
        Refusal::MaxConcurrentPositions,
        Refusal::RateLimit10s,
        Refusal::RateLimitMinute,
        Refusal::RateLimitSymbol,
        Refusal::Overflow,
        Refusal::SymbolReduceOnly,
    ];

    /// Decodes a code.
    #[must_use]
    pub fn from_u8(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// Lower-case name for output.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Refusal::UnknownInstrument => "unknown-instrument",
            Refusal::Backpressure => "backpressure",
            Refusal::InvalidQty => "invalid-qty",
            Refusal::InvalidPrice => "invalid-price",
            Refusal::Halted => "halted",
            Refusal::ReduceOnlyMode => "reduce-only-mode",
            Refusal::Flattening => "flattening",
            Refusal::NotReducing => "not-reducing",
            Refusal::MaxOrderQty => "max-order-qty",
            Refusal::SizeCap => "size-cap",
            Refusal::NoReference => "no-reference",
            Refusal::StaleReference => "stale-reference",
            Refusal::PriceBand => "price-band",
            Refusal::MaxOrderNotional => "max-order-notional",
            Refusal::MaxPosition => "max-position",
            Refusal::MaxPositionNotional => "max-position-notional",
            Refusal::MaxConcurrentPositions => "max-concurrent-positions",
            Refusal::RateLimit10s => "rate-limit-10s",
            Refusal::RateLimitMinute => "rate-limit-1m",
            Refusal::RateLimitSymbol => "rate-limit-symbol",
            Refusal::Overflow => "overflow",
            Refusal::SymbolReduceOnly => "symbol-reduce-only",
        }
    }
}

/// Refusals counted by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusalCounts {
    counts: [u64; Refusal::COUNT],
}

impl RefusalCounts {
    /// How often `reason` refused an order.
    #[must_use]
    pub fn get(&self, reason: Refusal) -> u64 {
        self.counts[reason as usize]
    }

    /// All refusals.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// `(reason, count)` for every reason with a non-zero count.
    pub fn nonzero(&self) -> impl Iterator<Item = (Refusal, u64)> + '_ {
        Refusal::ALL.iter().map(|&r| (r, self.get(r))).filter(|&(_, n)| n > 0)
    }
}

/// Index of an instrument in the gate, looked up once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GateSlot(pub u16);

/// What the caller knows at check time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckContext {
    /// Now, raw monotonic nanoseconds.
    pub now_ns: u64,
    /// Reference mid (zero when unknown).
    pub mid: Price,
    /// When the mid was last updated, same clock as `now_ns`.
    pub mid_ts_ns: u64,
    /// [`crate::ring::LosslessProducer::is_congested`] of the hot → risk ring.
    pub ring_congested: bool,
}

/// Order-rate usage reported by a venue on an order response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VenueUsage {
    /// Binance `X-MBX-ORDER-COUNT-10S` and `X-MBX-ORDER-COUNT-1M`: orders
    /// counted in the current windows (either header may be missing).
    Binance {
        /// Orders in the current 10-second window.
        order_count_10s: Option<u32>,
        /// Orders in the current minute.
        order_count_1m: Option<u32>,
    },
    /// Bybit `X-Bapi-Limit-Status`: requests left in the current window for
    /// the order endpoint, for one symbol.
    Bybit {
        /// The symbol's slot.
        slot: GateSlot,
        /// Requests left.
        remaining: u32,
    },
}

/// An integer token bucket: `capacity` tokens per `period_ns`, refilled
/// continuously. Levels are kept in units of `1 / period_ns` tokens so the
/// arithmetic is exact: one token is `period_ns` units, and each elapsed
/// nanosecond adds `capacity` units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    capacity: u64,
    period_ns: u64,
    level: u64,
    last_ns: u64,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilled over `period_ns`.
    #[must_use]
    pub fn new(capacity: u32, period_ns: u64, now_ns: u64) -> Self {
        let capacity = u64::from(capacity);
        let period_ns = period_ns.max(1);
        Self { capacity, period_ns, level: capacity.saturating_mul(period_ns), last_ns: now_ns }
    }

    fn refill(&mut self, now_ns: u64) {
        if now_ns > self.last_ns {
            // Capping the elapsed time at one period keeps the product in u64
            // and loses nothing: one period refills the whole bucket.
            let elapsed = (now_ns - self.last_ns).min(self.period_ns);
            let full = self.capacity.saturating_mul(self.period_ns);
            self.level = self.level.saturating_add(elapsed * self.capacity).min(full);
            self.last_ns = now_ns;
        }
    }

    /// `true` when a whole token is available at `now_ns`.
    pub fn has_token(&mut self, now_ns: u64) -> bool {
        self.refill(now_ns);
        self.level >= self.period_ns
    }

    /// Takes one token (call only after [`Self::has_token`] returned `true`).
    pub fn take(&mut self) {
        self.level = self.level.saturating_sub(self.period_ns);
    }

    /// Whole tokens available at `now_ns`.
    pub fn tokens(&mut self, now_ns: u64) -> u64 {
        self.refill(now_ns);
        self.level / self.period_ns
    }

    /// Lowers the level to at most `tokens` whole tokens (never raises it).
    pub fn clamp_to(&mut self, tokens: u64, now_ns: u64) {
        self.refill(now_ns);
        self.level = self.level.min(tokens.saturating_mul(self.period_ns));
    }
}

const NS_PER_SEC: u64 = 1_000_000_000;

/// One instrument's limits and live exposure.
#[derive(Debug, Clone, Copy)]
struct SlotState {
    venue: Venue,
    symbol: Symbol,
    price_scale: u8,
    qty_scale: u8,
    max_order_qty: i64,
    max_position_qty: i64,
    /// Signed position, quantity mantissa.
    position: i64,
    /// Quantity of open buy orders not yet filled.
    open_buy: i64,
    /// Quantity of open sell orders not yet filled.
    open_sell: i64,
    /// Bybit's per-symbol bucket (unused for Binance).
    bucket: TokenBucket,
    /// Only reducing orders pass ([`RiskGate::set_reduce_only`]).
    reduce_only: bool,
}

impl SlotState {
    fn engaged(&self) -> bool {
        self.position != 0 || self.open_buy != 0 || self.open_sell != 0
    }
}

/// The pre-trade gate. Owned by the hot thread (`&mut self` everywhere, no
/// atomics except the verdict load).
#[derive(Debug)]
pub struct RiskGate {
    slots: Box<[SlotState]>,
    verdict: Arc<VerdictCell>,
    binance_10s: TokenBucket,
    binance_1m: TokenBucket,
    binance_10s_limit: u32,
    binance_1m_limit: u32,
    max_order_notional: Notional,
    max_position_notional: Notional,
    price_band_bps: i128,
    max_reference_age_ns: u64,
    max_concurrent: u16,
    engaged: u16,
    refusals: RefusalCounts,
    passed: u64,
}

impl RiskGate {
    /// Builds a gate for `instruments` (slot `n` is `instruments[n]`) at
    /// time `now_ns`, with full rate buckets.
    ///
    /// # Errors
    /// A [`LoadError`] when a configured per-symbol limit does not fit the
    /// instrument's quantity scale, or there are more than 65 535 instruments.
    pub fn new(
        config: &RiskConfig,
        instruments: &[Instrument],
        verdict: Arc<VerdictCell>,
        now_ns: u64,
    ) -> Result<Self, LoadError> {
        if instruments.len() > usize::from(u16::MAX) {
            return Err(LoadError::new("instruments", "more than 65535 instruments"));
        }
        let mut slots = Vec::with_capacity(instruments.len());
        for inst in instruments {
            let configured = config.symbol_limits(inst.venue, &inst.symbol);
            let bound = SymbolLimits::bind(configured.map(|(_, l)| l), configured.map_or(0, |(n, _)| n), inst)?;
            slots.push(SlotState {
                venue: inst.venue,
                symbol: inst.symbol,
                price_scale: inst.price_scale,
                qty_scale: inst.qty_scale,
                max_order_qty: bound.max_order_qty.0,
                max_position_qty: bound.max_position_qty.0,
                position: 0,
                open_buy: 0,
                open_sell: 0,
                bucket: TokenBucket::new(config.bybit.orders_per_second_per_symbol, NS_PER_SEC, now_ns),
                reduce_only: false,
            });
        }
        Ok(Self {
            slots: slots.into_boxed_slice(),
            verdict,
            binance_10s: TokenBucket::new(config.binance.orders_per_10s, 10 * NS_PER_SEC, now_ns),
            binance_1m: TokenBucket::new(config.binance.orders_per_minute, 60 * NS_PER_SEC, now_ns),
            binance_10s_limit: config.binance.orders_per_10s,
            binance_1m_limit: config.binance.orders_per_minute,
            max_order_notional: config.max_order_notional,
            max_position_notional: config.max_position_notional,
            price_band_bps: i128::from(config.price_band_bps),
            max_reference_age_ns: u64::from(config.max_reference_age_ms) * 1_000_000,
            max_concurrent: config.max_concurrent_positions,
            engaged: 0,
            refusals: RefusalCounts { counts: [0; Refusal::COUNT] },
            passed: 0,
        })
    }

    /// The slot of an instrument (look it up once, at start).
    #[must_use]
    pub fn slot(&self, venue: Venue, symbol: &Symbol) -> Option<GateSlot> {
        self.slots
            .iter()
            .position(|s| s.venue == venue && s.symbol == *symbol)
            .and_then(|i| u16::try_from(i).ok())
            .map(GateSlot)
    }

    /// The risk thread's current verdict (one atomic load): the hot thread
    /// reads it every iteration to decide whether to cancel or flatten.
    #[inline]
    #[must_use]
    pub fn verdict(&self) -> Verdict {
        self.verdict.load()
    }

    /// Checks `order` for `slot`. On `Ok` the order counts as open; the
    /// caller sends it (or calls [`Self::on_order_done`] with its full
    /// quantity if sending fails).
    ///
    /// # Errors
    /// The first failing check (module docs), also counted.
    #[inline]
    pub fn check(&mut self, slot: GateSlot, order: &OrderRequest, ctx: &CheckContext) -> Result<(), Refusal> {
        match self.evaluate(slot, order, ctx) {
            Ok(()) => {
                self.passed += 1;
                Ok(())
            }
            Err(reason) => {
                self.refusals.counts[reason as usize] += 1;
                Err(reason)
            }
        }
    }

    #[inline]
    fn evaluate(&mut self, slot: GateSlot, order: &OrderRequest, ctx: &CheckContext) -> Result<(), Refusal> {
        let idx = usize::from(slot.0);
        let Some(s) = self.slots.get(idx).copied() else {
            return Err(Refusal::UnknownInstrument);
        };
        if s.venue != order.venue || s.symbol != order.symbol {
            return Err(Refusal::UnknownInstrument);
        }
        if ctx.ring_congested {
            return Err(Refusal::Backpressure);
        }
        let qty = order.qty.0;
        if qty <= 0 {
            return Err(Refusal::InvalidQty);
        }
        let is_limit = order.kind == OrderKind::Limit;
        if is_limit && order.price.0 <= 0 {
            return Err(Refusal::InvalidPrice);
        }

        // Does it reduce? Against the position net of reducing orders already out.
        let reducing = match order.side {
            Side::Sell => s.position > 0 && s.open_sell.saturating_add(qty) <= s.position,
            Side::Buy => s.position < 0 && s.open_buy.saturating_add(qty) <= -s.position,
        };
        let verdict = self.verdict.load();
        if !reducing {
            match verdict.mode {
                Mode::Run => {}
                Mode::ReduceOnly => return Err(Refusal::ReduceOnlyMode),
                Mode::Halt => return Err(Refusal::Halted),
                Mode::Flatten => return Err(Refusal::Flattening),
            }
            if order.reduce_only {
                return Err(Refusal::NotReducing);
            }
            if s.reduce_only {
                return Err(Refusal::SymbolReduceOnly);
            }
        }

        if qty > s.max_order_qty {
            return Err(Refusal::MaxOrderQty);
        }
        if !reducing && verdict.size_cap_permille < FULL_SIZE_PERMILLE {
            let cap = i128::from(s.max_order_qty) * i128::from(verdict.size_cap_permille);
            if i128::from(qty) * i128::from(FULL_SIZE_PERMILLE) > cap {
                return Err(Refusal::SizeCap);
            }
        }

        let mid = ctx.mid;
        let reference_ok = mid.0 > 0 && ctx.now_ns.saturating_sub(ctx.mid_ts_ns) <= self.max_reference_age_ns;
        if reducing && !is_limit && !reference_ok {
            // A reducing market order needs no reference: it can only
            // lower the exposure, and an exit (a time stop during a resync)
            // must never wait for a price.
        } else {
            if mid.0 <= 0 {
                return Err(Refusal::NoReference);
            }
            if !reference_ok {
                return Err(Refusal::StaleReference);
            }
            let price = if is_limit {
                // |price - mid| / mid <= band / 10000, in integers.
                let diff = (i128::from(order.price.0) - i128::from(mid.0)).abs();
                if diff * 10_000 > i128::from(mid.0) * self.price_band_bps {
                    return Err(Refusal::PriceBand);
                }
                order.price
            } else {
                mid
            };
            let order_notional = notional(price, s.price_scale, order.qty, s.qty_scale).ok_or(Refusal::Overflow)?;
            if order_notional > self.max_order_notional {
                return Err(Refusal::MaxOrderNotional);
            }
        }

        if !reducing {
            // Worst case: every open order on this side fills, plus this one.
            let worst = match order.side {
                Side::Buy => s.position.saturating_add(s.open_buy).saturating_add(qty),
                Side::Sell => s.position.saturating_sub(s.open_sell).saturating_sub(qty),
            }
            .saturating_abs();
            if worst > s.max_position_qty {
                return Err(Refusal::MaxPosition);
            }
            let worst_notional = notional(mid, s.price_scale, Qty(worst), s.qty_scale).ok_or(Refusal::Overflow)?;
            if worst_notional > self.max_position_notional {
                return Err(Refusal::MaxPositionNotional);
            }
            if !s.engaged() && self.engaged >= self.max_concurrent {
                return Err(Refusal::MaxConcurrentPositions);
            }
        }

        let now = ctx.now_ns;
        match s.venue {
            Venue::BinanceUsdm => {
                if !self.binance_10s.has_token(now) {
                    return Err(Refusal::RateLimit10s);
                }
                if !self.binance_1m.has_token(now) {
                    return Err(Refusal::RateLimitMinute);
                }
                self.binance_10s.take();
                self.binance_1m.take();
            }
            Venue::BybitLinear => {
                let bucket = &mut self.slots[idx].bucket;
                if !bucket.has_token(now) {
                    return Err(Refusal::RateLimitSymbol);
                }
                bucket.take();
            }
        }

        let was = s.engaged();
        let state = &mut self.slots[idx];
        match order.side {
            Side::Buy => state.open_buy = state.open_buy.saturating_add(qty),
            Side::Sell => state.open_sell = state.open_sell.saturating_add(qty),
        }
        self.update_engaged(idx, was);
        Ok(())
    }

    fn update_engaged(&mut self, idx: usize, was: bool) {
        let now = self.slots[idx].engaged();
        if now && !was {
            self.engaged += 1;
        } else if was && !now {
            self.engaged = self.engaged.saturating_sub(1);
        }
    }

    /// A fill of `qty` on an order of `side`: moves it from open to the
    /// position. Unknown slots are ignored (the caller counts them).
    #[inline]
    pub fn on_fill(&mut self, slot: GateSlot, side: Side, qty: Qty) {
        let idx = usize::from(slot.0);
        let Some(s) = self.slots.get_mut(idx) else { return };
        let was = s.engaged();
        match side {
            Side::Buy => {
                s.position = s.position.saturating_add(qty.0);
                s.open_buy = (s.open_buy - qty.0).max(0);
            }
            Side::Sell => {
                s.position = s.position.saturating_sub(qty.0);
                s.open_sell = (s.open_sell - qty.0).max(0);
            }
        }
        self.update_engaged(idx, was);
    }

    /// An order of `side` ended (cancelled, expired, rejected, or never
    /// sent) with `leaves` unfilled: releases that open quantity. Rate
    /// tokens are not refunded (the venue counted the request).
    #[inline]
    pub fn on_order_done(&mut self, slot: GateSlot, side: Side, leaves: Qty) {
        let idx = usize::from(slot.0);
        let Some(s) = self.slots.get_mut(idx) else { return };
        let was = s.engaged();
        match side {
            Side::Buy => s.open_buy = (s.open_buy - leaves.0).max(0),
            Side::Sell => s.open_sell = (s.open_sell - leaves.0).max(0),
        }
        self.update_engaged(idx, was);
    }

    /// Puts one symbol in (or out of) reduce-only: while on, only orders
    /// that reduce its position pass ([`Refusal::SymbolReduceOnly`]). The
    /// trading core sets it while the venue's reported position disagrees
    /// with the ledger's.
    pub fn set_reduce_only(&mut self, slot: GateSlot, on: bool) {
        if let Some(s) = self.slots.get_mut(usize::from(slot.0)) {
            s.reduce_only = on;
        }
    }

    /// Overwrites a position with the venue's own figure (after a
    /// reconnect or a position report).
    pub fn set_position(&mut self, slot: GateSlot, position: SignedQty) {
        let idx = usize::from(slot.0);
        let Some(s) = self.slots.get_mut(idx) else { return };
        let was = s.engaged();
        s.position = position.0;
        self.update_engaged(idx, was);
    }

    /// The gate's view of a position.
    #[must_use]
    pub fn position(&self, slot: GateSlot) -> Option<SignedQty> {
        self.slots.get(usize::from(slot.0)).map(|s| SignedQty(s.position))
    }

    /// Symbols with a position or an open order.
    #[must_use]
    pub fn engaged(&self) -> u16 {
        self.engaged
    }

    /// Corrects the rate buckets from the venue's own counters (module docs).
    #[inline]
    pub fn observe_usage(&mut self, usage: VenueUsage, now_ns: u64) {
        match usage {
            VenueUsage::Binance { order_count_10s, order_count_1m } => {
                if let Some(used) = order_count_10s {
                    let left = self.binance_10s_limit.saturating_sub(used);
                    self.binance_10s.clamp_to(u64::from(left), now_ns);
                }
                if let Some(used) = order_count_1m {
                    let left = self.binance_1m_limit.saturating_sub(used);
                    self.binance_1m.clamp_to(u64::from(left), now_ns);
                }
            }
            VenueUsage::Bybit { slot, remaining } => {
                if let Some(s) = self.slots.get_mut(usize::from(slot.0)) {
                    s.bucket.clamp_to(u64::from(remaining), now_ns);
                }
            }
        }
    }

    /// Refusals so far, by reason.
    #[must_use]
    pub fn refusals(&self) -> RefusalCounts {
        self.refusals
    }

    /// Orders passed so far.
    #[must_use]
    pub fn passed(&self) -> u64 {
        self.passed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{ClientOrderId, TimeInForce};
    use crate::risk::test_support::{btc, eth};
    use crate::risk::verdict::Cause;

    const SEC: u64 = NS_PER_SEC;

    /// Loose limits so each test isolates one check: max order 1 BTC
    /// (1000 mantissa), max position 2 BTC, notionals 1e6 USDT.
    fn config() -> RiskConfig {
        RiskConfig::from_table_str(
            "max_order_notional_usdt = \"1000000\"\nmax_position_notional_usdt = \"1000000\"\n\
             [[symbol]]\nvenue = \"binance-usdm\"\nsymbol = \"BTCUSDT\"\nmax_order_qty = \"1\"\nmax_position_qty = \"2\"\n\
             [[symbol]]\nvenue = \"bybit-linear\"\nsymbol = \"BTCUSDT\"\nmax_order_qty = \"1\"\nmax_position_qty = \"2\"\n\
             [[symbol]]\nvenue = \"binance-usdm\"\nsymbol = \"ETHUSDT\"\nmax_order_qty = \"1\"\nmax_position_qty = \"2\"",
        )
        .unwrap()
    }

    fn gate_with(config: &RiskConfig, verdict: Verdict) -> (RiskGate, Arc<VerdictCell>) {
        let cell = Arc::new(VerdictCell::new());
        cell.publish(verdict);
        let insts = [btc(Venue::BinanceUsdm), btc(Venue::BybitLinear), eth(Venue::BinanceUsdm)];
        (RiskGate::new(config, &insts, Arc::clone(&cell), 0).unwrap(), cell)
    }

    fn gate() -> RiskGate {
        gate_with(&config(), Verdict::RUN).0
    }

    const MID: Price = Price(5_000_000); // 50 000.00

    fn ctx(now_ns: u64) -> CheckContext {
        CheckContext { now_ns, mid: MID, mid_ts_ns: now_ns, ring_congested: false }
    }

    fn limit(venue: Venue, side: Side, price: i64, qty: i64) -> OrderRequest {
        OrderRequest {
            venue,
            symbol: Symbol::new(b"BTCUSDT").unwrap(),
            side,
            kind: OrderKind::Limit,
            tif: TimeInForce::Gtc,
            price: Price(price),
            qty: Qty(qty),
            reduce_only: false,
            client_id: ClientOrderId(1),
        }
    }

    fn buy(qty: i64) -> OrderRequest {
        limit(Venue::BinanceUsdm, Side::Buy, MID.0, qty)
    }

    const BN: GateSlot = GateSlot(0);
    const BY: GateSlot = GateSlot(1);
    const ETH: GateSlot = GateSlot(2);

    #[test]
    fn slot_must_match_order() {
        let mut g = gate();
        assert_eq!(g.slot(Venue::BybitLinear, &Symbol::new(b"BTCUSDT").unwrap()), Some(BY));
        assert_eq!(g.check(BY, &buy(1), &ctx(0)), Err(Refusal::UnknownInstrument));
        assert_eq!(g.check(GateSlot(9), &buy(1), &ctx(0)), Err(Refusal::UnknownInstrument));
        assert_eq!(g.refusals().get(Refusal::UnknownInstrument), 2);
    }

    #[test]
    fn max_order_qty_at_threshold() {
        let mut g = gate();
        assert_eq!(g.check(BN, &buy(1001), &ctx(0)), Err(Refusal::MaxOrderQty));
        assert_eq!(g.check(BN, &buy(1000), &ctx(0)), Ok(()));
        assert_eq!(g.refusals().get(Refusal::MaxOrderQty), 1);
    }

    #[test]
    fn max_order_notional_at_threshold() {
        // 50 000 × 0.1 = 5 000 USDT exactly.
        let mut c = config();
        c.max_order_notional = Notional(5_000 * 100_000_000);
        let (mut g, _) = gate_with(&c, Verdict::RUN);
        assert_eq!(g.check(BN, &buy(100), &ctx(0)), Ok(()));
        assert_eq!(g.check(BN, &buy(101), &ctx(0)), Err(Refusal::MaxOrderNotional));
        // Market orders are valued at the mid.
        let market = OrderRequest { kind: OrderKind::Market, price: Price::ZERO, ..buy(101) };
        assert_eq!(g.check(BN, &market, &ctx(0)), Err(Refusal::MaxOrderNotional));
        assert_eq!(g.refusals().get(Refusal::MaxOrderNotional), 2);
    }

    #[test]
    fn max_position_counts_open_orders_at_threshold() {
        let mut g = gate();
        assert_eq!(g.check(BN, &buy(1000), &ctx(0)), Ok(()));
        g.on_fill(BN, Side::Buy, Qty(1000));
        assert_eq!(g.check(BN, &buy(600), &ctx(0)), Ok(())); // open, not filled
        assert_eq!(g.check(BN, &buy(401), &ctx(0)), Err(Refusal::MaxPosition));
        assert_eq!(g.check(BN, &buy(400), &ctx(0)), Ok(())); // 1000 + 600 + 400 = 2000
        g.on_order_done(BN, Side::Buy, Qty(600));
        assert_eq!(g.check(BN, &buy(600), &ctx(0)), Ok(()));
        assert_eq!(g.refusals().get(Refusal::MaxPosition), 1);
    }

    #[test]
    fn max_position_notional_at_threshold() {
        let mut c = config();
        c.max_position_notional = Notional(50_000 * 100_000_000); // 1 BTC at the mid
        let (mut g, _) = gate_with(&c, Verdict::RUN);
        g.set_position(BN, SignedQty(-500));
        // Selling 0.5 more: worst case -1.0 BTC = 50 000 USDT: at the limit.
        let sell = |q| limit(Venue::BinanceUsdm, Side::Sell, MID.0, q);
        assert_eq!(g.check(BN, &sell(501), &ctx(0)), Err(Refusal::MaxPositionNotional));
        assert_eq!(g.check(BN, &sell(500), &ctx(0)), Ok(()));
    }

    #[test]
    fn price_band_at_threshold_both_sides() {
        // Default band 100 bps of 50 000.00 = 500.00 = 50 000 mantissa.
        let mut g = gate();
        let at = |side, p| limit(Venue::BinanceUsdm, side, p, 1);
        assert_eq!(g.check(BN, &at(Side::Buy, MID.0 + 50_000), &ctx(0)), Ok(()));
        assert_eq!(g.check(BN, &at(Side::Buy, MID.0 + 50_001), &ctx(0)), Err(Refusal::PriceBand));
        assert_eq!(g.check(BN, &at(Side::Sell, MID.0 - 50_000), &ctx(0)), Ok(()));
        assert_eq!(g.check(BN, &at(Side::Sell, MID.0 - 50_001), &ctx(0)), Err(Refusal::PriceBand));
        assert_eq!(g.check(BN, &at(Side::Buy, MID.0 - 50_001), &ctx(0)), Err(Refusal::PriceBand));
        assert_eq!(g.refusals().get(Refusal::PriceBand), 3);
    }

    #[test]
    fn reference_must_exist_and_be_fresh() {
        let mut g = gate();
        let no_mid = CheckContext { mid: Price::ZERO, ..ctx(0) };
        assert_eq!(g.check(BN, &buy(1), &no_mid), Err(Refusal::NoReference));
        // Default max age 2000 ms.
        let at_limit = CheckContext { now_ns: 2_000_000_000, mid_ts_ns: 0, ..ctx(0) };
        assert_eq!(g.check(BN, &buy(1), &at_limit), Ok(()));
        let over = CheckContext { now_ns: 2_000_000_001, mid_ts_ns: 0, ..ctx(0) };
        assert_eq!(g.check(BN, &buy(1), &over), Err(Refusal::StaleReference));
    }

    #[test]
    fn invalid_qty_and_price() {
        let mut g = gate();
        assert_eq!(g.check(BN, &buy(0), &ctx(0)), Err(Refusal::InvalidQty));
        assert_eq!(g.check(BN, &limit(Venue::BinanceUsdm, Side::Buy, 0, 1), &ctx(0)), Err(Refusal::InvalidPrice));
    }

    #[test]
    fn backpressure_refuses() {
        let mut g = gate();
        let c = CheckContext { ring_congested: true, ..ctx(0) };
        assert_eq!(g.check(BN, &buy(1), &c), Err(Refusal::Backpressure));
    }

    #[test]
    fn binance_10s_bucket_at_threshold_and_refill() {
        let mut g = gate();
        for i in 0..300 {
            assert_eq!(g.check(BN, &buy(1), &ctx(0)), Ok(()), "order {i}");
            g.on_order_done(BN, Side::Buy, Qty(1));
        }
        assert_eq!(g.check(BN, &buy(1), &ctx(0)), Err(Refusal::RateLimit10s));
        // One token every 10 s / 300 = 33 333 333.3 ns.
        assert_eq!(g.check(BN, &buy(1), &ctx(33_333_333)), Err(Refusal::RateLimit10s));
        assert_eq!(g.check(BN, &buy(1), &ctx(33_333_334)), Ok(()));
        assert_eq!(g.refusals().get(Refusal::RateLimit10s), 2);
    }

    #[test]
    fn binance_minute_bucket_at_threshold() {
        let mut c = config();
        c.binance.orders_per_10s = 10_000; // isolate the minute bucket
        let (mut g, _) = gate_with(&c, Verdict::RUN);
        for _ in 0..1200 {
            assert_eq!(g.check(BN, &buy(1), &ctx(0)), Ok(()));
            g.on_order_done(BN, Side::Buy, Qty(1));
        }
        assert_eq!(g.check(BN, &buy(1), &ctx(0)), Err(Refusal::RateLimitMinute));
        // 60 s / 1200 = 50 ms per token.
        assert_eq!(g.check(BN, &buy(1), &ctx(50_000_000 - 1)), Err(Refusal::RateLimitMinute));
        assert_eq!(g.check(BN, &buy(1), &ctx(50_000_000)), Ok(()));
    }

    #[test]
    fn bybit_bucket_is_per_symbol_at_threshold() {
        let mut c = config();
        c.symbols.clear();
        let cell = Arc::new(VerdictCell::new());
        cell.publish(Verdict::RUN);
        let insts = [btc(Venue::BybitLinear), eth(Venue::BybitLinear)];
        let mut g = RiskGate::new(&c, &insts, cell, 0).unwrap();
        let o = |sym: &[u8]| OrderRequest {
            symbol: Symbol::new(sym).unwrap(),
            ..limit(Venue::BybitLinear, Side::Buy, MID.0, 1)
        };
        for _ in 0..10 {
            assert_eq!(g.check(GateSlot(0), &o(b"BTCUSDT"), &ctx(0)), Ok(()));
            g.on_order_done(GateSlot(0), Side::Buy, Qty(1));
        }
        assert_eq!(g.check(GateSlot(0), &o(b"BTCUSDT"), &ctx(0)), Err(Refusal::RateLimitSymbol));
        assert_eq!(g.check(GateSlot(1), &o(b"ETHUSDT"), &ctx(0)), Ok(()));
        assert_eq!(g.check(GateSlot(0), &o(b"BTCUSDT"), &ctx(SEC / 10 - 1)), Err(Refusal::RateLimitSymbol));
        assert_eq!(g.check(GateSlot(0), &o(b"BTCUSDT"), &ctx(SEC / 10)), Ok(()));
    }

    #[test]
    fn observed_usage_lowers_buckets_never_raises() {
        let mut g = gate();
        g.observe_usage(VenueUsage::Binance { order_count_10s: Some(298), order_count_1m: None }, 0);
        assert_eq!(g.check(BN, &buy(1), &ctx(0)), Ok(()));
        assert_eq!(g.check(BN, &buy(1), &ctx(0)), Ok(()));
        assert_eq!(g.check(BN, &buy(1), &ctx(0)), Err(Refusal::RateLimit10s));
        // A stale, lower count does not grant tokens back.
        g.observe_usage(VenueUsage::Binance { order_count_10s: Some(0), order_count_1m: None }, 0);
        assert_eq!(g.check(BN, &buy(1), &ctx(0)), Err(Refusal::RateLimit10s));
        // Ten seconds later the 10-second bucket is full again, but the venue
        // says the minute is used up.
        g.observe_usage(VenueUsage::Binance { order_count_10s: None, order_count_1m: Some(1200) }, 10 * SEC);
        assert_eq!(g.check(BN, &buy(1), &ctx(10 * SEC)), Err(Refusal::RateLimitMinute));

        g.observe_usage(VenueUsage::Bybit { slot: BY, remaining: 1 }, 0);
        let by = limit(Venue::BybitLinear, Side::Buy, MID.0, 1);
        assert_eq!(g.check(BY, &by, &ctx(0)), Ok(()));
        assert_eq!(g.check(BY, &by, &ctx(0)), Err(Refusal::RateLimitSymbol));
    }

    #[test]
    fn max_concurrent_positions_at_threshold() {
        let mut c = config();
        c.max_concurrent_positions = 2;
        let (mut g, _) = gate_with(&c, Verdict::RUN);
        let by = limit(Venue::BybitLinear, Side::Buy, MID.0, 1);
        let eth = OrderRequest { symbol: Symbol::new(b"ETHUSDT").unwrap(), ..buy(1) };
        assert_eq!(g.check(BN, &buy(1), &ctx(0)), Ok(()));
        assert_eq!(g.check(BY, &by, &ctx(0)), Ok(()));
        assert_eq!(g.engaged(), 2);
        assert_eq!(g.check(ETH, &eth, &ctx(0)), Err(Refusal::MaxConcurrentPositions));
        // Adding to an engaged symbol is fine.
        assert_eq!(g.check(BN, &buy(1), &ctx(0)), Ok(()));
        // The Bybit order is cancelled: a slot frees up.
        g.on_order_done(BY, Side::Buy, Qty(1));
        assert_eq!(g.engaged(), 1);
        assert_eq!(g.check(ETH, &eth, &ctx(0)), Ok(()));
        // Filled then closed by a fill on the other side: disengaged.
        g.on_fill(ETH, Side::Buy, Qty(1));
        g.on_fill(ETH, Side::Sell, Qty(1));
        assert_eq!(g.engaged(), 1);
    }

    #[test]
    fn size_cap_at_threshold() {
        let (mut g, cell) = gate_with(&config(), Verdict { size_cap_permille: 500, ..Verdict::RUN });
        assert_eq!(g.check(BN, &buy(501), &ctx(0)), Err(Refusal::SizeCap));
        assert_eq!(g.check(BN, &buy(500), &ctx(0)), Ok(()));
        g.on_fill(BN, Side::Buy, Qty(500));
        // Reducing orders are not capped.
        let sell = limit(Venue::BinanceUsdm, Side::Sell, MID.0, 500);
        cell.publish(Verdict { size_cap_permille: 0, ..Verdict::RUN });
        assert_eq!(g.check(BN, &buy(1), &ctx(0)), Err(Refusal::SizeCap));
        assert_eq!(g.check(BN, &sell, &ctx(0)), Ok(()));
    }

    #[test]
    fn modes_let_only_reducing_orders_through() {
        let (mut g, cell) = gate_with(&config(), Verdict::RUN);
        g.set_position(BN, SignedQty(300));
        let sell = |q| OrderRequest { reduce_only: true, ..limit(Venue::BinanceUsdm, Side::Sell, MID.0, q) };
        for (mode, refusal) in [
            (Mode::ReduceOnly, Refusal::ReduceOnlyMode),
            (Mode::Halt, Refusal::Halted),
            (Mode::Flatten, Refusal::Flattening),
        ] {
            cell.publish(Verdict { mode, cause: Cause::DailyLoss, ..Verdict::RUN });
            assert_eq!(g.check(BN, &buy(1), &ctx(0)), Err(refusal), "{mode:?}");
            // More than the position would flip it: refused.
            assert_eq!(g.check(BN, &sell(301), &ctx(0)), Err(refusal), "{mode:?}");
        }
        assert_eq!(g.check(BN, &sell(200), &ctx(0)), Ok(()));
        // 200 already out to reduce: only 100 more reduces.
        assert_eq!(g.check(BN, &sell(101), &ctx(0)), Err(Refusal::Flattening));
        assert_eq!(g.check(BN, &sell(100), &ctx(0)), Ok(()));
        // Before the risk thread speaks, nothing opens.
        let fresh = Arc::new(VerdictCell::new());
        let mut g2 = RiskGate::new(&config(), &[btc(Venue::BinanceUsdm)], fresh, 0).unwrap();
        assert_eq!(g2.check(BN, &buy(1), &ctx(0)), Err(Refusal::Halted));
    }

    #[test]
    fn reduce_only_flag_must_reduce_in_run_mode() {
        let mut g = gate();
        let ro = OrderRequest { reduce_only: true, ..buy(1) };
        assert_eq!(g.check(BN, &ro, &ctx(0)), Err(Refusal::NotReducing));
        g.set_position(BN, SignedQty(-1));
        assert_eq!(g.check(BN, &ro, &ctx(0)), Ok(()));
    }

    #[test]
    fn refusal_codes_round_trip() {
        for (i, r) in Refusal::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            assert_eq!(Refusal::from_u8(i as u8), Some(*r));
        }
        assert_eq!(Refusal::from_u8(Refusal::COUNT as u8), None);
    }
}
