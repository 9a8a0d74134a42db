//! The market path of the core: one decoded event → binding check → clock
//! bound → market state (one de-duplication rule) → signals → decision.
//!
//! Routing to the signals, in one place:
//! - **Depth**: a diff or partial message goes through the instrument's
//!   sync machine; each published book (in sync, uncrossed) is handed to
//!   the signals at the event's exchange time (`E`; Bybit `ts`), and
//!   becomes the executable top if it is newer than the venue's BBO. A
//!   snapshot first makes the next book a baseline. When the book is not
//!   in sync afterwards it is *lost*: the signals start afresh, the top is
//!   cleared (the fallbacks take over) and a resting entry is pulled.
//! - **BBO** (Binance `bookTicker`, Bybit `tickers` with prices): to the
//!   signals; the executable top while the book is in sync and the BBO is
//!   newer than the book.
//! - **Funding** (Binance `markPrice`; every Bybit `tickers` message, with
//!   the fields merged so far): to the signals.
//! - **Trades**: each admitted by the tape's one rule, then to the signals.
//! - **Liquidations**: to the signals.
//!
//! Then the strategy decides on that instrument (not after a control
//! message, an unknown instrument, or a batch with an undecodable element).

use crate::event::{DepthStream, MarketEvent, TradeSource};
use crate::instrument::InstrumentId;
use crate::market::Applied;
use crate::risk::RiskInput;
use crate::signal::SignalSource;
use crate::venue::sync::{SyncOutcome, SyncState};

use super::probe::{Observation, Probe, Stage};
use super::{BookKind, Intents, RiskLink, State, StreamKind};

impl<L: RiskLink, S: SignalSource, P: Probe> State<L, S, P> {
    /// One decoded market event of feed `f`; returns the instrument decided on.
    pub(super) fn on_event(&mut self, f: usize, event: &MarketEvent<'_>, out: &mut Intents) -> Option<InstrumentId> {
        self.clamped_now = false;
        let decided = self.route(f, event, out);
        if self.clamped_now {
            self.stats.clock_skew_clamped += 1;
        }
        decided
    }

    fn route(&mut self, f: usize, event: &MarketEvent<'_>, out: &mut Intents) -> Option<InstrumentId> {
        self.signals.on_event(event);
        let inst = match *event {
            MarketEvent::Depth(d) => {
                if !self.admit_book(f, d.inst, d.stream) {
                    return None;
                }
                let mut d = d;
                d.event_ms = self.bound_ms(d.event_ms);
                d.transact_ms = self.bound_ms(d.transact_ms);
                let ts_ms = if d.event_ms > 0 { d.event_ms } else { self.now_ms() };
                let inst = d.inst;
                let mut last = SyncOutcome::Stale;
                if let Some(st) = self.market.get_mut(inst) {
                    st.sync.on_diff(&d, |_, outcome| last = outcome);
                }
                self.probe.stage(Stage::BookApplied);
                if last.published() {
                    self.book_published(inst, ts_ms);
                }
                self.after_depth(inst);
                inst
            }
            MarketEvent::Snapshot(s) => {
                if !self.admit_book(f, s.inst, s.stream) {
                    return None;
                }
                let mut s = s;
                s.event_ms = self.bound_ms(s.event_ms);
                s.transact_ms = self.bound_ms(s.transact_ms);
                let ts_ms = if s.event_ms > 0 { s.event_ms } else { self.now_ms() };
                let inst = s.inst;
                // A Binance snapshot not newer than the live book is ignored
                // by the sync machine; only a snapshot that replaces the book
                // makes the next book a baseline.
                let stale = self.market.get(inst).is_some_and(|st| {
                    st.venue == crate::instrument::Venue::BinanceUsdm
                        && st.sync.state() == SyncState::Live
                        && s.last_id <= st.sync.last_id()
                });
                if !stale {
                    // A new snapshot: the next book is a baseline.
                    self.book_lost(inst);
                }
                // A snapshot may replay buffered diffs: every published
                // outcome goes to the signals, in order.
                let Self { market, signals, slots, probe, now_ns, .. } = self;
                let now_ns = *now_ns;
                if let Some(st) = market.get_mut(inst) {
                    st.sync.on_snapshot(&s, |book, outcome| {
                        if outcome.published() {
                            signals.on_book(inst, book, ts_ms);
                            let slot = &mut slots[usize::from(inst.0)];
                            slot.counts.book_updates += 1;
                            if ts_ms >= slot.top_src_ms {
                                slot.top = (
                                    book.best_bid().map_or(crate::fixed::Price::ZERO, |l| l.0),
                                    book.best_ask().map_or(crate::fixed::Price::ZERO, |l| l.0),
                                );
                                slot.top_src_ms = ts_ms;
                                slot.top_at_ns = now_ns;
                            }
                            if P::OBSERVES {
                                let snap = signals.snapshot(inst);
                                probe.observe(inst, &Observation::Book { ts_ms, book }, &snap);
                            }
                        }
                    });
                }
                self.probe.stage(Stage::BookApplied);
                self.after_depth(inst);
                inst
            }
            MarketEvent::BookTicker(t) => {
                if !self.admit(f, t.inst, StreamKind::Top) {
                    return None;
                }
                let mut t = t;
                t.event_ms = self.bound_ms(t.event_ms);
                t.transact_ms = self.bound_ms(t.transact_ms);
                let before = self.market.get(t.inst).map(|s| s.bbo);
                if self.market.on_book_ticker(&t) != Applied::Top(t.inst) {
                    return None;
                }
                self.probe.stage(Stage::BookApplied);
                self.top_updated(t.inst, before);
                t.inst
            }
            MarketEvent::Ticker(t) => {
                let top = t.bid_px.is_some() || t.ask_px.is_some() || t.bid_qty.is_some() || t.ask_qty.is_some();
                let admitted =
                    (top && self.try_admit(f, t.inst, StreamKind::Top)) || self.try_admit(f, t.inst, StreamKind::Mark);
                if !admitted {
                    self.stats.unbound_events += 1;
                    return None;
                }
                let mut t = t;
                t.ts_ms = self.bound_ms(t.ts_ms);
                let before = self.market.get(t.inst).map(|s| s.bbo);
                match self.market.apply(&MarketEvent::Ticker(t), |_, _, _| {}) {
                    Applied::Top(_) | Applied::Funding(_) => {}
                    _ => return None,
                }
                self.probe.stage(Stage::BookApplied);
                if top {
                    self.top_updated(t.inst, before);
                }
                if t.mark.is_some() {
                    self.slots[usize::from(t.inst.0)].mark_at_ns = self.now_ns;
                }
                self.funding_updated(t.inst);
                t.inst
            }
            MarketEvent::MarkPrice(m) => {
                if !self.admit(f, m.inst, StreamKind::Mark) {
                    return None;
                }
                let mut m = m;
                m.event_ms = self.bound_ms(m.event_ms);
                if self.market.apply(&MarketEvent::MarkPrice(m), |_, _, _| {}) != Applied::Funding(m.inst) {
                    return None;
                }
                self.probe.stage(Stage::BookApplied);
                self.slots[usize::from(m.inst.0)].mark_at_ns = self.now_ns;
                self.funding_updated(m.inst);
                m.inst
            }
            MarketEvent::Trades(batch) => {
                let mut inst = None;
                for trade in batch {
                    let Ok(mut trade) = trade else {
                        self.stats.malformed += 1;
                        return None;
                    };
                    let kind =
                        if trade.source == TradeSource::Aggregate { StreamKind::AggTrades } else { StreamKind::Trades };
                    if !self.admit(f, trade.inst, kind) {
                        return None;
                    }
                    trade.trade_ms = self.bound_ms(trade.trade_ms);
                    trade.event_ms = self.bound_ms(trade.event_ms);
                    let admit = self.market.on_trade(&trade)?;
                    inst = Some(trade.inst);
                    if admit.is_new() {
                        self.signals.on_trade(trade.inst, &trade);
                        if P::OBSERVES {
                            let snap = self.signals.snapshot(trade.inst);
                            self.probe.observe(trade.inst, &Observation::Trade(&trade), &snap);
                        }
                    }
                }
                self.probe.stage(Stage::BookApplied);
                self.probe.stage(Stage::SignalsUpdated);
                inst?
            }
            MarketEvent::Liquidations(batch) => {
                let mut inst = None;
                for liq in batch {
                    let Ok(mut liq) = liq else {
                        self.stats.malformed += 1;
                        return None;
                    };
                    if !self.admit(f, liq.inst, StreamKind::Liquidations) {
                        return None;
                    }
                    liq.ts_ms = self.bound_ms(liq.ts_ms);
                    if !self.market.on_liquidation(&liq) {
                        return None;
                    }
                    inst = Some(liq.inst);
                    self.signals.on_liquidation(liq.inst, &liq);
                    if P::OBSERVES {
                        let snap = self.signals.snapshot(liq.inst);
                        self.probe.observe(liq.inst, &Observation::Liquidation(&liq), &snap);
                    }
                }
                self.probe.stage(Stage::BookApplied);
                self.probe.stage(Stage::SignalsUpdated);
                inst?
            }
            MarketEvent::Control(control) => {
                match control {
                    crate::event::Control::VenueError { .. } => self.stats.venue_errors += 1,
                    _ => self.stats.control += 1,
                }
                return None;
            }
            MarketEvent::Ignored(_) => {
                self.stats.ignored += 1;
                return None;
            }
        };
        self.decide(inst, out);
        Some(inst)
    }

    /// Admits a depth frame of `inst` on feed `f` whose stream name says
    /// `hint` (see [`super::feed`]: one book stream per instrument).
    fn admit_book(&mut self, f: usize, inst: InstrumentId, hint: DepthStream) -> bool {
        let i = usize::from(inst.0);
        let Some(slot) = self.slots.get(i) else {
            self.stats.unbound_events += 1;
            return false;
        };
        let named = match hint {
            DepthStream::Unnamed => None,
            DepthStream::Diff(levels) => Some(BookKind::Diff { levels }),
            DepthStream::Partial(levels) => Some(BookKind::Partial { levels }),
        };
        match slot.book {
            Some((bound_feed, kind)) => {
                let same = usize::from(bound_feed) == f && named.is_none_or(|n| n == kind);
                if same && self.feeds[f].is_bound(inst, StreamKind::Book(kind)) {
                    return true;
                }
                if same {
                    self.stats.unbound_events += 1;
                } else {
                    self.stats.second_book_stream += 1;
                }
                false
            }
            None => {
                let kind = named.unwrap_or(BookKind::Diff { levels: 0 });
                let auto = self.feeds.get(f).is_some_and(|feed| feed.mode == super::BindMode::Auto);
                if auto && self.bind(f, inst, StreamKind::Book(kind)).is_ok() {
                    return true;
                }
                self.stats.unbound_events += 1;
                false
            }
        }
    }

    /// A depth message was published: to the signals, maybe the top.
    fn book_published(&mut self, inst: InstrumentId, ts_ms: i64) {
        let i = usize::from(inst.0);
        let Some(st) = self.market.get(inst) else { return };
        let book = st.sync.book();
        self.signals.on_book(inst, book, ts_ms);
        let slot = &mut self.slots[i];
        slot.counts.book_updates += 1;
        if ts_ms >= slot.top_src_ms {
            slot.top = (
                book.best_bid().map_or(crate::fixed::Price::ZERO, |l| l.0),
                book.best_ask().map_or(crate::fixed::Price::ZERO, |l| l.0),
            );
            slot.top_src_ms = ts_ms;
            slot.top_at_ns = self.now_ns;
        }
        if P::OBSERVES {
            let snap = self.signals.snapshot(inst);
            self.probe.observe(inst, &Observation::Book { ts_ms, book }, &snap);
        }
        self.probe.stage(Stage::SignalsUpdated);
    }

    /// After a depth message: a book no longer in sync is lost, and its
    /// resync is reported to the risk side when the machine asks for one.
    fn after_depth(&mut self, inst: InstrumentId) {
        let Some(st) = self.market.get(inst) else { return };
        let live = st.sync.state() == SyncState::Live;
        let resyncs = st.sync.stats().resyncs;
        if !live {
            self.book_lost(inst);
        }
        let slot = &mut self.slots[usize::from(inst.0)];
        if resyncs > slot.resyncs_seen {
            slot.resyncs_seen = resyncs;
            let i = self.insts[usize::from(inst.0)];
            let ts_ms = self.now_ms();
            self.send(&RiskInput::Resync { venue: i.venue, symbol: i.symbol, ts_ms });
        }
    }

    /// The venue's BBO may have changed: to the signals; the executable top
    /// while the book is in sync and the BBO is the newer.
    fn top_updated(&mut self, inst: InstrumentId, before: Option<crate::market::Bbo>) {
        let i = usize::from(inst.0);
        let Some(st) = self.market.get(inst) else { return };
        let bbo = st.bbo;
        let live = st.sync.state() == SyncState::Live;
        if before != Some(bbo) {
            self.slots[i].bbo_at_ns = self.now_ns;
        }
        self.signals.on_top(inst, &bbo);
        let slot = &mut self.slots[i];
        if live && bbo.bid_px.0 > 0 && bbo.ask_px > bbo.bid_px && bbo.ts_ms >= slot.top_src_ms {
            slot.top = (bbo.bid_px, bbo.ask_px);
            slot.top_src_ms = bbo.ts_ms;
            slot.top_at_ns = self.now_ns;
        }
        self.probe.stage(Stage::SignalsUpdated);
    }

    /// Funding or reference prices changed: to the signals.
    fn funding_updated(&mut self, inst: InstrumentId) {
        let Some(st) = self.market.get(inst) else { return };
        let funding = st.funding;
        self.signals.on_funding(inst, &funding);
        if P::OBSERVES {
            let snap = self.signals.snapshot(inst);
            let what =
                Observation::Funding { ts_ms: funding.ts_ms, rate: funding.rate, next_ms: funding.next_funding_ms };
            self.probe.observe(inst, &what, &snap);
        }
        self.probe.stage(Stage::SignalsUpdated);
    }
}
