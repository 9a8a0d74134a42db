//! The paper exchange of `scalpel run --dry-run`: intents are filled
//! locally by the backtest's fill model ([`SimExchange`], the same code the
//! backtest and `scalpel sim` use) against the live market, and its
//! answers come back into the core as the venue's own private messages.
//!
//! - The exchange keeps its own view of the market, built from copies of
//!   the same frames the core receives, decoded by its own decoders — as
//!   the backtest's exchange does — so resting orders fill from the live
//!   trade tape and market orders walk the live book
//!   ([`ExchangeBook::of_state`]).
//! - Its answers are rendered as the venue sends them (Binance
//!   `ORDER_TRADE_UPDATE` user-data events and WebSocket API error
//!   responses; Bybit `order` and `execution` topic pushes and trade
//!   WebSocket responses) and handed to the core through
//!   [`crate::core::Core::on_private_frame`] after `latency`, so the dry run
//!   drives the same parsers and ledger as a live session, and a flight
//!   recording of a dry run replays like any other.
//! - Orders pass the venue encoders' checks ([`prepare`]: tick and step
//!   rounding, min/max quantity, min notional) before reaching the paper
//!   book; a failed check is answered as the venue's rejection.
//! - Not simulated: funding payments, position reports, margin.
//!
//! Rendering writes into fixed slots (no allocation after construction);
//! a full queue drops the answer and counts it.

use crate::backtest::config::FillModel;
use crate::backtest::exchange::{ExchangeBook, ExchangeReport, SimExchange};
use crate::book::DEFAULT_LEVELS;
use crate::core::{FeedId, Intent, PrivateSource};
use crate::event::MarketEvent;
use crate::fixed::{DecimalText, E8, Price};
use crate::instrument::{Instrument, InstrumentId, InstrumentTable, Venue};
use crate::json::JsonScratch;
use crate::market::{Applied, MarketState};
use crate::order::prepare::prepare;
use crate::order::{ClientOrderId, Fill, OrderKind, RejectReason, TimeInForce};
use crate::side::Side;
use crate::venue::Decoder;
use crate::venue::wire_writer::{U64Text, WireWriter};

/// Bytes of one rendered answer.
const SLOT_BYTES: usize = 1024;
/// Answers waiting for delivery.
const QUEUE: usize = 512;
/// Live paper orders tracked for rendering.
const ORDERS: usize = 1024;

#[derive(Clone, Copy)]
struct Slot {
    due_ns: u64,
    source: PrivateSource,
    venue: Venue,
    len: usize,
    buf: [u8; SLOT_BYTES],
}

/// Counters of the paper exchange.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaperStats {
    /// Orders received.
    pub orders: u64,
    /// Cancels received.
    pub cancels: u64,
    /// Fills made.
    pub fills: u64,
    /// Orders refused (checks, no book, reduce-only with nothing to reduce).
    pub rejected: u64,
    /// Answers dropped because the queue was full.
    pub dropped: u64,
}

/// The paper exchange (module docs).
pub struct Paper {
    insts: Box<[Instrument]>,
    decoders: Vec<Decoder>,
    scratch: JsonScratch,
    market: MarketState<DEFAULT_LEVELS>,
    depth_ms: Box<[i64]>,
    exchange: SimExchange,
    copy: Vec<u8>,
    reports: Vec<ExchangeReport>,
    queue: Box<[Slot]>,
    head: usize,
    len: usize,
    latency_ns: u64,
    orders: Vec<PaperOrder>,
    stats: PaperStats,
}

/// What the renderer needs to know of a live paper order.
#[derive(Debug, Clone, Copy)]
struct PaperOrder {
    id: ClientOrderId,
    inst: u16,
    side: Side,
    post_only: bool,
    qty: i64,
    filled: i64,
}

impl std::fmt::Debug for Paper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paper").field("stats", &self.stats).finish_non_exhaustive()
    }
}

impl Paper {
    /// A paper exchange for `table`'s instruments (index = [`InstrumentId`]),
    /// answering after `latency_ns`.
    #[must_use]
    pub fn new(table: &InstrumentTable, fill_model: FillModel, latency_ns: u64, mark_reset_ms: i64) -> Self {
        let mut market = MarketState::for_table(table);
        market.set_mark_reset_ms(mark_reset_ms);
        let empty =
            Slot { due_ns: 0, source: PrivateSource::Bybit, venue: Venue::BybitLinear, len: 0, buf: [0; SLOT_BYTES] };
        Self {
            insts: table.all().into(),
            decoders: Vec::new(),
            scratch: JsonScratch::default(),
            market,
            depth_ms: vec![i64::MIN; table.all().len()].into_boxed_slice(),
            exchange: SimExchange::new(table.all(), fill_model),
            copy: Vec::with_capacity(1 << 20),
            reports: Vec::with_capacity(64),
            queue: vec![empty; QUEUE].into_boxed_slice(),
            head: 0,
            len: 0,
            latency_ns,
            orders: Vec::with_capacity(ORDERS),
            stats: PaperStats::default(),
        }
    }

    /// Adds the decoder of a core feed (call in the core's feed order).
    pub fn add_feed(&mut self, venue: Venue, table: &InstrumentTable) {
        self.decoders.push(Decoder::new(venue, table));
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> PaperStats {
        self.stats
    }

    /// The market frame the core is about to receive on `feed`.
    pub fn on_market(&mut self, feed: FeedId, frame: &[u8], now_ns: u64) {
        let Some(decoder) = self.decoders.get(usize::from(feed.0)) else { return };
        self.copy.clear();
        self.copy.extend_from_slice(frame);
        let Self { scratch, market, depth_ms, exchange, reports, copy, .. } = self;
        decoder.decode_frame(scratch, copy, |event| {
            let Ok(event) = event else { return };
            apply(market, depth_ms, exchange, reports, &event, now_ns);
        });
        self.render_reports(now_ns);
    }

    /// A Binance REST depth snapshot the core is about to receive for `inst` on `feed`.
    pub fn on_snapshot(&mut self, feed: FeedId, inst: InstrumentId, body: &[u8], now_ns: u64) {
        let Some(decoder) = self.decoders.get_mut(usize::from(feed.0)) else { return };
        decoder.set_snapshot_instrument(Some(inst));
        self.copy.clear();
        self.copy.extend_from_slice(body);
        let Self { scratch, market, depth_ms, exchange, reports, copy, decoders, .. } = self;
        decoders[usize::from(feed.0)].decode_frame(scratch, copy, |event| {
            if let Ok(event @ MarketEvent::Snapshot(_)) = event {
                apply(market, depth_ms, exchange, reports, &event, now_ns);
            }
        });
        self.render_reports(now_ns);
    }

    /// An intent of the core, at `now_ns`.
    pub fn on_intent(&mut self, intent: &Intent, now_ns: u64) {
        match *intent {
            Intent::Place { inst, order, .. } => {
                self.stats.orders += 1;
                let i = usize::from(inst.0);
                let Some(instrument) = self.insts.get(i).copied() else { return };
                let state = self.market.get(inst);
                let reference = state.map_or(Price::ZERO, |s| {
                    let b = s.sync.book();
                    match (b.best_bid(), b.best_ask()) {
                        (Some((bid, _)), Some((ask, _))) => Price((bid.0 + ask.0) / 2),
                        _ => Price::ZERO,
                    }
                });
                if self.orders.len() < ORDERS {
                    self.orders.push(PaperOrder {
                        id: order.client_id,
                        inst: inst.0,
                        side: order.side,
                        post_only: order.kind == OrderKind::Limit && order.tif == TimeInForce::PostOnly,
                        qty: order.qty.0,
                        filled: 0,
                    });
                }
                match prepare(&order, &instrument, reference) {
                    Ok(order) => {
                        let book = state.and_then(|s| ExchangeBook::of_state(s, self.depth_ms[i]));
                        self.exchange.on_order(i, &order, book.as_ref(), now_ns, &mut self.reports);
                    }
                    Err(_) => {
                        self.reports.push(ExchangeReport::Rejected(order.client_id, RejectReason::InvalidPriceOrQty))
                    }
                }
            }
            Intent::Cancel { client_id, inst, .. } => {
                self.stats.cancels += 1;
                let before = self.reports.len();
                self.exchange.on_cancel(client_id, &mut self.reports);
                if self.reports.len() == before {
                    // Not resting (filled or gone): the venue refuses the cancel.
                    let venue = self.insts.get(usize::from(inst.0)).map_or(Venue::BinanceUsdm, |i| i.venue);
                    self.render_cancel_refused(venue, client_id, now_ns);
                }
            }
        }
        self.render_reports(now_ns);
    }

    /// The next answer due at `now_ns`: its parser and bytes (valid until
    /// the next call on the paper exchange).
    pub fn pop_due(&mut self, now_ns: u64) -> Option<(PrivateSource, Venue, &mut [u8])> {
        if self.len == 0 || self.queue[self.head].due_ns > now_ns {
            return None;
        }
        let k = self.head;
        self.head = (self.head + 1) % QUEUE;
        self.len -= 1;
        let slot = &mut self.queue[k];
        Some((slot.source, slot.venue, &mut slot.buf[..slot.len]))
    }

    /// When the next answer is due.
    #[must_use]
    pub fn next_due(&self) -> Option<u64> {
        (self.len > 0).then(|| self.queue[self.head].due_ns)
    }

    fn push(
        &mut self,
        venue: Venue,
        source: PrivateSource,
        now_ns: u64,
        render: impl FnOnce(&mut WireWriter<'_>) -> Option<()>,
    ) {
        if self.len == QUEUE {
            self.stats.dropped += 1;
            return;
        }
        let k = (self.head + self.len) % QUEUE;
        let slot = &mut self.queue[k];
        let mut w = WireWriter::new(&mut slot.buf);
        if render(&mut w).is_none() {
            self.stats.dropped += 1;
            return;
        }
        slot.len = w.len();
        slot.due_ns = now_ns + self.latency_ns;
        slot.source = source;
        slot.venue = venue;
        self.len += 1;
    }

    fn order_info(&self, id: ClientOrderId) -> Option<(Instrument, PaperOrder)> {
        let o = *self.orders.iter().find(|o| o.id == id)?;
        Some((*self.insts.get(usize::from(o.inst))?, o))
    }

    fn forget(&mut self, id: ClientOrderId) {
        if let Some(k) = self.orders.iter().position(|o| o.id == id) {
            self.orders.swap_remove(k);
        }
    }

    fn render_reports(&mut self, now_ns: u64) {
        let ts = now_ns / 1_000_000;
        let mut reports = std::mem::take(&mut self.reports);
        for r in reports.drain(..) {
            match r {
                ExchangeReport::Filled(fill) => {
                    self.stats.fills += 1;
                    let Some(inst) =
                        self.insts.iter().copied().find(|i| i.venue == fill.venue && i.symbol == fill.symbol)
                    else {
                        continue;
                    };
                    let done = match self.orders.iter_mut().find(|o| o.id == fill.client_id) {
                        Some(o) => {
                            o.filled += fill.qty.0;
                            o.filled >= o.qty
                        }
                        None => true,
                    };
                    match inst.venue {
                        Venue::BinanceUsdm => self.push(inst.venue, PrivateSource::BinanceUserData, now_ns, |w| {
                            binance_update(w, &inst, fill.client_id, fill.side.upper(), ts, |w| {
                                w.bytes(b"\"x\":\"TRADE\",\"X\":\"").ok()?;
                                w.bytes(if done { b"FILLED" } else { b"PARTIALLY_FILLED" }).ok()?;
                                w.bytes(b"\",\"t\":").ok()?;
                                w.u64(trade_u64(&fill)).ok()?;
                                w.bytes(b",\"L\":\"").ok()?;
                                w.bytes(DecimalText::new(fill.price.0, inst.price_scale).as_bytes()).ok()?;
                                w.bytes(b"\",\"l\":\"").ok()?;
                                w.bytes(DecimalText::new(fill.qty.0, inst.qty_scale).as_bytes()).ok()?;
                                w.bytes(b"\",\"n\":\"").ok()?;
                                w.bytes(DecimalText::new(fill.fee.0, E8).as_bytes()).ok()?;
                                w.bytes(b"\",\"N\":\"USDT\",\"m\":").ok()?;
                                w.bytes(if fill.is_maker { b"true" } else { b"false" }).ok()
                            })
                        }),
                        Venue::BybitLinear => self.push(inst.venue, PrivateSource::Bybit, now_ns, |w| {
                            w.bytes(b"{\"topic\":\"execution\",\"creationTime\":").ok()?;
                            w.u64(ts).ok()?;
                            w.bytes(b",\"data\":[{\"category\":\"linear\",\"symbol\":\"").ok()?;
                            w.bytes(inst.symbol.as_bytes()).ok()?;
                            w.bytes(b"\",\"execFee\":\"").ok()?;
                            w.bytes(DecimalText::new(fill.fee.0, E8).as_bytes()).ok()?;
                            w.bytes(b"\",\"execId\":\"").ok()?;
                            w.u64(trade_u64(&fill)).ok()?;
                            w.bytes(b"\",\"execPrice\":\"").ok()?;
                            w.bytes(DecimalText::new(fill.price.0, inst.price_scale).as_bytes()).ok()?;
                            w.bytes(b"\",\"execQty\":\"").ok()?;
                            w.bytes(DecimalText::new(fill.qty.0, inst.qty_scale).as_bytes()).ok()?;
                            w.bytes(b"\",\"execType\":\"Trade\",\"isMaker\":").ok()?;
                            w.bytes(if fill.is_maker { b"true" } else { b"false" }).ok()?;
                            w.bytes(b",\"orderLinkId\":\"").ok()?;
                            w.bytes(fill.client_id.render().as_bytes()).ok()?;
                            w.bytes(b"\",\"side\":\"").ok()?;
                            w.bytes(fill.side.title().as_bytes()).ok()?;
                            w.bytes(b"\",\"execTime\":\"").ok()?;
                            w.u64(ts).ok()?;
                            w.bytes(b"\"}]}").ok()
                        }),
                    }
                    if done {
                        self.forget(fill.client_id);
                    }
                }
                ExchangeReport::Acked(id) => self.render_state(id, State::New, now_ns),
                ExchangeReport::Cancelled(id, _) => {
                    self.render_state(id, State::Cancelled, now_ns);
                    self.forget(id);
                }
                ExchangeReport::Expired(id, _) => {
                    self.render_state(id, State::Expired, now_ns);
                    self.forget(id);
                }
                ExchangeReport::Rejected(id, reason) => {
                    self.stats.rejected += 1;
                    self.render_rejected(id, reason, now_ns);
                    self.forget(id);
                }
                ExchangeReport::Funding { .. } => {}
            }
        }
        self.reports = reports;
    }

    fn render_state(&mut self, id: ClientOrderId, state: State, now_ns: u64) {
        let Some((inst, order)) = self.order_info(id) else { return };
        let ts = now_ns / 1_000_000;
        match inst.venue {
            Venue::BinanceUsdm => self.push(inst.venue, PrivateSource::BinanceUserData, now_ns, |w| {
                binance_update(w, &inst, id, order.side.upper(), ts, |w| {
                    let x: &[u8] = match state {
                        State::New => b"\"x\":\"NEW\",\"X\":\"NEW\"",
                        State::Cancelled => b"\"x\":\"CANCELED\",\"X\":\"CANCELED\"",
                        State::Expired => b"\"x\":\"EXPIRED\",\"X\":\"EXPIRED\"",
                    };
                    w.bytes(x).ok()
                })
            }),
            Venue::BybitLinear => self.push(inst.venue, PrivateSource::Bybit, now_ns, |w| {
                bybit_order(w, &inst, id, order.side, ts, |w| match state {
                    State::New => w.bytes(b"\"orderStatus\":\"New\"").ok(),
                    State::Cancelled => {
                        w.bytes(b"\"orderStatus\":\"Cancelled\",\"rejectReason\":\"EC_PerCancelRequest\"").ok()
                    }
                    State::Expired if order.post_only => {
                        w.bytes(b"\"orderStatus\":\"Cancelled\",\"rejectReason\":\"EC_PostOnlyWillTakeLiquidity\"").ok()
                    }
                    State::Expired => w.bytes(b"\"orderStatus\":\"Cancelled\",\"timeInForce\":\"IOC\"").ok(),
                })
            }),
        }
    }

    fn render_rejected(&mut self, id: ClientOrderId, reason: RejectReason, now_ns: u64) {
        let Some((inst, order)) = self.order_info(id) else { return };
        let ts = now_ns / 1_000_000;
        match inst.venue {
            Venue::BinanceUsdm => {
                let (code, msg): (&[u8], &[u8]) = match reason {
                    RejectReason::ReduceOnlyRejected => (b"-2022", b"ReduceOnly Order is rejected."),
                    RejectReason::InvalidPriceOrQty => (b"-4014", b"Price not increased by tick size."),
                    _ => (b"-1000", b"An unknown error occured while processing the request."),
                };
                self.push(inst.venue, PrivateSource::BinanceWsApi, now_ns, |w| {
                    w.bytes(b"{\"id\":\"n-").ok()?;
                    w.u64(id.0).ok()?;
                    w.bytes(b"-0\",\"status\":400,\"error\":{\"code\":").ok()?;
                    w.bytes(code).ok()?;
                    w.bytes(b",\"msg\":\"").ok()?;
                    w.bytes(msg).ok()?;
                    w.bytes(b"\"}}").ok()
                });
            }
            Venue::BybitLinear => self.push(inst.venue, PrivateSource::Bybit, now_ns, |w| {
                bybit_order(w, &inst, id, order.side, ts, |w| {
                    w.bytes(b"\"orderStatus\":\"Rejected\",\"rejectReason\":\"").ok()?;
                    w.bytes(if reason == RejectReason::ReduceOnlyRejected {
                        b"EC_ReduceOnlyRejected"
                    } else {
                        b"EC_Others"
                    })
                    .ok()?;
                    w.bytes(b"\"").ok()
                })
            }),
        }
    }

    fn render_cancel_refused(&mut self, venue: Venue, id: ClientOrderId, now_ns: u64) {
        match venue {
            Venue::BinanceUsdm => self.push(venue, PrivateSource::BinanceWsApi, now_ns, |w| {
                w.bytes(b"{\"id\":\"c-").ok()?;
                w.u64(id.0).ok()?;
                w.bytes(b"-0\",\"status\":400,\"error\":{\"code\":-2011,\"msg\":\"Unknown order sent.\"}}").ok()
            }),
            Venue::BybitLinear => self.push(venue, PrivateSource::Bybit, now_ns, |w| {
                w.bytes(b"{\"reqId\":\"c-").ok()?;
                w.u64(id.0).ok()?;
                w.bytes(b"-0\",\"retCode\":110001,\"retMsg\":\"order not exists or too late to cancel\",\"op\":\"order.cancel\",\"data\":{}}").ok()
            }),
        }
    }
}

#[derive(Clone, Copy)]
enum State {
    New,
    Cancelled,
    Expired,
}

fn trade_u64(fill: &Fill) -> u64 {
    u64::try_from(fill.trade_id.0).unwrap_or(u64::MAX)
}

/// `{"e":"ORDER_TRADE_UPDATE","E":ts,"T":ts,"o":{"s":…,"c":…,"S":…,"o":"LIMIT","i":…,"T":ts,<fields>}}`.
fn binance_update(
    w: &mut WireWriter<'_>,
    inst: &Instrument,
    id: ClientOrderId,
    side: &str,
    ts: u64,
    fields: impl FnOnce(&mut WireWriter<'_>) -> Option<()>,
) -> Option<()> {
    let t = U64Text::new(ts);
    w.bytes(b"{\"e\":\"ORDER_TRADE_UPDATE\",\"E\":").ok()?;
    w.bytes(t.as_bytes()).ok()?;
    w.bytes(b",\"T\":").ok()?;
    w.bytes(t.as_bytes()).ok()?;
    w.bytes(b",\"o\":{\"s\":\"").ok()?;
    w.bytes(inst.symbol.as_bytes()).ok()?;
    w.bytes(b"\",\"c\":\"").ok()?;
    w.bytes(id.render().as_bytes()).ok()?;
    w.bytes(b"\",\"S\":\"").ok()?;
    w.bytes(side.as_bytes()).ok()?;
    w.bytes(b"\",\"i\":").ok()?;
    w.u64(id.0 & 0xFFFF_FFFF).ok()?;
    w.bytes(b",\"T\":").ok()?;
    w.bytes(t.as_bytes()).ok()?;
    w.byte(b',').ok()?;
    fields(w)?;
    w.bytes(b"}}").ok()
}

/// `{"topic":"order","creationTime":ts,"data":[{…,<fields>}]}`.
fn bybit_order(
    w: &mut WireWriter<'_>,
    inst: &Instrument,
    id: ClientOrderId,
    side: Side,
    ts: u64,
    fields: impl FnOnce(&mut WireWriter<'_>) -> Option<()>,
) -> Option<()> {
    w.bytes(b"{\"topic\":\"order\",\"creationTime\":").ok()?;
    w.u64(ts).ok()?;
    w.bytes(b",\"data\":[{\"category\":\"linear\",\"symbol\":\"").ok()?;
    w.bytes(inst.symbol.as_bytes()).ok()?;
    w.bytes(b"\",\"orderId\":\"paper-").ok()?;
    w.u64(id.0).ok()?;
    w.bytes(b"\",\"orderLinkId\":\"").ok()?;
    w.bytes(id.render().as_bytes()).ok()?;
    w.bytes(b"\",\"side\":\"").ok()?;
    w.bytes(side.title().as_bytes()).ok()?;
    w.bytes(b"\",\"updatedTime\":\"").ok()?;
    w.u64(ts).ok()?;
    w.bytes(b"\",").ok()?;
    fields(w)?;
    w.bytes(b"}]}").ok()
}

/// One decoded event at the paper exchange (as the backtest's exchange
/// applies it: each print once by the market's rule to the fill model).
fn apply(
    market: &mut MarketState<DEFAULT_LEVELS>,
    depth_ms: &mut [i64],
    exchange: &mut SimExchange,
    reports: &mut Vec<ExchangeReport>,
    event: &MarketEvent<'_>,
    now_ns: u64,
) {
    let applied = match *event {
        MarketEvent::Trades(batch) => {
            for trade in batch {
                let Ok(trade) = trade else { break };
                if market.on_trade(&trade).is_some_and(|a| a.is_new()) {
                    exchange.on_trade(usize::from(trade.inst.0), &trade, now_ns, reports);
                }
            }
            Applied::Other
        }
        _ => market.apply(event, |_, _, _| {}),
    };
    if let (Applied::Depth(inst, _), Some(t)) = (applied, crate::backtest::input::event_time_ms(event))
        && let Some(d) = depth_ms.get_mut(usize::from(inst.0))
    {
        *d = t;
    }
}
