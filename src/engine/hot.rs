//! The hot thread: one busy-polling loop over the [`NetLoop`] that drives
//! the trading core (see the module docs of [`super`]).
//!
//! Each turn: `poll` (zero timeout) → every event handed out (frames to the
//! core in place, answers to their jobs), the core's intents sent right
//! after the call that made them → merged market frames → paper answers
//! due (dry run) → REST jobs → every millisecond the housekeeping (core
//! timer, resync requests, listenKey, dead-man switches, order accounting,
//! dark feeds, stats, stop).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::config::{LiveConfig, OrderTransport};
use super::link::LiveLink;
use super::merge::Merge;
use super::paper::Paper;
use super::recorder::{FrameUse, RecordTap, Recorder};
use super::setup::{HotSetup, Role};
use super::status::{COUNTERS, ConnStats, Counter, EngineEvent, InstStats, SharedStats};
use super::venue::{Job, RestBuffers, Signer, VenueClock, binance_event_ms, is_listen_key_expired, server_time_ms};
use super::{EngineError, HotSummary, log_code};
use crate::core::{BindMode, Core, FeedId, FeedState, Intent, Intents, NoProbe, PrivateSource, StreamKind};
use crate::instrument::{Instrument, InstrumentId, LoadError, Venue};
use crate::journal::thread::Telemetry;
use crate::journal::{LogLevel, Stage};
use crate::net::endpoints::Endpoints;
use crate::net::{AppPing, ConnConfig, ConnId, ConnState, DownReason, NetEvent, NetLoop, UnixClock};
use crate::order::ClientOrderId;
use crate::order::ids::RequestTag;
use crate::ring::{LossyConsumer, LossyProducer};
use crate::risk::{RiskCommand, RiskInput};
use crate::signal::{LiveSignals, SignalConfig};
use crate::venue::binance::private::BinancePrivateParser;
use crate::venue::binance::rest::ListenKeyOp;
use crate::venue::bybit::private::BybitPrivateParser;
use crate::venue::private_event::{EMPTY_EVENT, PageCursor, PrivateEvent, PrivateParseError, SessionEvent};
use crate::venue::sync::SyncState;

const MS: u64 = 1_000_000;
/// Binance closes connections at 24 h: replace them before.
const BINANCE_MAX_AGE_MS: u64 = 23 * 3_600_000 + 30 * 60_000;
/// Queued REST jobs per connection.
const QUEUE_CAP: usize = 1024;
/// Intents waiting to be sent.
const OUTBOX_CAP: usize = 4096;

struct ConnInfo {
    venue: usize,
    role: Role,
    feed: Option<FeedId>,
    file: Option<u16>,
    state: ConnState,
    authed: bool,
    messages: u64,
    last_rx_ns: u64,
    downs: u64,
    auth_failures: u32,
    reconnect_at_ns: Option<u64>,
    last_resubscribe_ns: u64,
}

struct VenueRt {
    venue: Venue,
    signer: Option<Signer>,
    clock: VenueClock,
    endpoints: Endpoints,
    transport: OrderTransport,
    orders: Option<usize>,
    user: Option<usize>,
    rest_md: usize,
    rest_trade: Option<usize>,
    md_queue: VecDeque<Job>,
    trade_queue: VecDeque<Job>,
    md_inflight: Option<(Job, u64)>,
    trade_inflight: Option<(Job, u64)>,
    next_time_ns: u64,
    next_keepalive_ns: u64,
    next_countdown_ns: u64,
    listen_key: Option<String>,
    listen_key_expired: bool,
    /// No listenKey creation before this (a failed one backs off).
    listen_key_retry_ns: u64,
    protection_due: bool,
    rest_file: Option<u16>,
    paper_file: Option<u16>,
    merge: bool,
    recv_window_ns: u64,
    bin_auth: BinancePrivateParser,
    byb_auth: BybitPrivateParser,
    fills: FillFetch,
}

/// A venue's fill fetch after its private stream was down (module docs of
/// [`super`]: "Fills missed while a private stream was down").
struct FillFetch {
    /// Venue ms of the earliest private-stream drop no fetch covers yet.
    down_since_ms: Option<u64>,
    /// The stream is live again: fetch as soon as allowed (since when, ns).
    wanted_since_ns: Option<u64>,
    /// Pages queued, in flight or waiting for a retry.
    outstanding: u32,
    /// Figures of the fetch under way, for its event.
    rows: u32,
    recovered: u32,
    foreign: u32,
    failed: u32,
    /// Failed pages waiting for their retry time (room for every symbol,
    /// allocated once).
    retry: Vec<(Job, u64)>,
}

impl FillFetch {
    fn new(symbols: usize) -> Self {
        Self {
            down_since_ms: None,
            wanted_since_ns: None,
            outstanding: 0,
            rows: 0,
            recovered: 0,
            foreign: 0,
            failed: 0,
            retry: Vec::with_capacity(symbols.max(1)),
        }
    }
}

/// Tries of one fill-fetch page before its symbol is given up.
const FILL_FETCH_TRIES: u8 = 5;
/// Pages of one symbol's fetch at most (× [`super::venue::FILL_PAGE_LIMIT`] rows).
const FILL_FETCH_PAGES: u8 = 40;
/// Binance rows name the venue's order id, known from the order's answer:
/// the fetch waits for the answers of orders in flight, at most this long.
const FILL_FETCH_WAIT_NS: u64 = 15_000 * MS;

struct InstRt {
    venue: usize,
    feeds: Vec<FeedId>,
    book_feed: Option<FeedId>,
    book_conn: Option<usize>,
    want_snapshot: bool,
    /// Bybit: the book waits for a resubscription of its connection (a new
    /// snapshot); held until the once-a-second limit lets it through.
    want_resubscribe: bool,
    snapshot_busy: bool,
    snapshot_mark: u64,
    snapshot_retry_ns: u64,
    dark_flattened: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Sent,
    Unknown { query_at_ns: u64 },
    Querying { since_ns: u64 },
    Answered,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    intent: Intent,
    venue: usize,
    sent_ns: u64,
    ws: bool,
    attempt: u8,
    phase: Phase,
    unknown: bool,
}

/// What must wait until the network loop is free again.
#[derive(Clone)]
enum Deferred {
    Authenticated(ConnId),
    Reconnect(ConnId),
    SetPath(ConnId, String),
}

struct Stopping {
    flatten: bool,
    deadline_ns: u64,
}

struct State {
    cfg: LiveConfig,
    clock: quanta::Clock,
    unix: UnixClock,
    core: Core<LiveLink, LiveSignals, NoProbe>,
    intents: Intents,
    outbox: VecDeque<(u64, u64, Intent)>,
    conns: Vec<ConnInfo>,
    venues: Vec<VenueRt>,
    insts: Vec<InstRt>,
    instruments: Vec<Instrument>,
    feed_last_ns: Vec<u64>,
    pending: Vec<Pending>,
    merge: Merge,
    paper: Option<Paper>,
    rec: Option<RecordTap>,
    recorder: Option<Recorder>,
    deferred: Vec<Deferred>,
    seq: u64,
    intents_made: u64,
    rx_raw: u64,
    counters: [u64; COUNTERS],
    stats: Arc<SharedStats>,
    events: LossyProducer<EngineEvent>,
    telemetry: LossyProducer<Telemetry>,
    stop: Arc<AtomicBool>,
    rest_bufs: RestBuffers,
    order_buf: Box<[u8]>,
    next_timer_ns: u64,
    next_house_ns: u64,
    next_publish_ns: u64,
    next_scan_ns: u64,
    next_dark_ns: u64,
    stopping: Option<Stopping>,
    risk_gone_told: bool,
    exit_told: bool,
    kill_timeout_ns: u64,
    hooks: super::Hooks,
    /// Figures of the Binance open-interest poll (its own thread), when it runs.
    open_interest: Option<LossyConsumer<super::open_interest::OpenInterestUpdate>>,
}

/// The hot thread's loop.
struct Hot {
    net: NetLoop,
    st: State,
}

/// Pins the current thread to `core` (when configured) and says how it went.
fn pin(core: Option<usize>) -> Option<String> {
    let core = core?;
    let ids = core_affinity::get_core_ids().unwrap_or_default();
    let Some(id) = ids.into_iter().find(|c| c.id == core) else {
        return Some(format!("warning: CPU {core} does not exist here: the hot thread is not pinned"));
    };
    if !core_affinity::set_for_current(id) {
        return Some(format!("warning: pinning the hot thread to CPU {core} failed: it runs unpinned"));
    }
    let isolated = std::fs::read_to_string("/sys/devices/system/cpu/isolated").unwrap_or_default();
    if cpu_listed(isolated.trim(), core) {
        Some(format!("hot thread pinned to CPU {core} (isolated)"))
    } else {
        Some(format!(
            "hot thread pinned to CPU {core}; warning: CPU {core} is not isolated (isolcpus/nohz_full): other work may preempt it"
        ))
    }
}

/// Whether `cpu` is in a kernel CPU list (`2-3,5`).
fn cpu_listed(list: &str, cpu: usize) -> bool {
    list.split(',').filter(|s| !s.is_empty()).any(|part| match part.split_once('-') {
        Some((a, b)) => a.parse::<usize>().is_ok_and(|a| b.parse::<usize>().is_ok_and(|b| (a..=b).contains(&cpu))),
        None => part.parse::<usize>() == Ok(cpu),
    })
}

/// Runs the hot thread: builds its loop from `setup`, reports readiness,
/// polls until the session ends.
pub(super) fn run(
    setup: HotSetup,
    ready: std::sync::mpsc::Sender<Result<Option<String>, String>>,
) -> Result<HotSummary, EngineError> {
    let pinning = pin(setup.config.hot.core);
    let hot = match Hot::new(setup) {
        Ok(h) => h,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return Err(e);
        }
    };
    let _ = ready.send(Ok(pinning));
    hot.run()
}

impl Hot {
    fn new(setup: HotSetup) -> Result<Self, EngineError> {
        let HotSetup {
            config,
            profile,
            table,
            venues,
            plan,
            epoch,
            to_risk,
            from_risk,
            risk_cell,
            telemetry,
            contexts,
            stats,
            events,
            stop,
            recorder,
            hooks,
            open_interest,
        } = setup;
        let clock = quanta::Clock::new();
        let mut net = NetLoop::new(clock.clone(), 64 << 10)?;
        let insts_all: Vec<Instrument> = table.all().to_vec();
        let mut vrt: Vec<VenueRt> = Vec::with_capacity(venues.len());
        for v in &venues {
            let endpoints =
                crate::net::endpoints::Endpoints::load(config.endpoints_file.as_deref(), v.cfg.venue, config.network)?
                    .with_overrides(v.cfg.rest_url.as_deref(), v.cfg.ws_url.as_deref(), v.cfg.ws_api_url.as_deref())?;
            vrt.push(VenueRt {
                venue: v.cfg.venue,
                signer: v.signer.clone(),
                clock: v.clock.clone(),
                endpoints,
                transport: v.cfg.order_transport,
                orders: None,
                user: None,
                rest_md: usize::MAX,
                rest_trade: None,
                md_queue: VecDeque::with_capacity(QUEUE_CAP),
                trade_queue: VecDeque::with_capacity(QUEUE_CAP),
                md_inflight: None,
                trade_inflight: None,
                next_time_ns: 0,
                next_keepalive_ns: 0,
                next_countdown_ns: 0,
                listen_key: v.listen_key.clone(),
                listen_key_expired: false,
                listen_key_retry_ns: 0,
                protection_due: false,
                rest_file: v.rest_file,
                paper_file: v.paper_file,
                merge: false,
                recv_window_ns: v.cfg.recv_window.ms() as u64 * MS,
                bin_auth: BinancePrivateParser::new(),
                byb_auth: BybitPrivateParser::new(),
                fills: FillFetch::new(v.cfg.symbols.len()),
            });
        }
        let mut conns = Vec::with_capacity(plan.len());
        let mut market_conns_per_venue = vec![0usize; venues.len()];
        for (k, p) in plan.iter().enumerate() {
            let v = &venues[p.venue];
            let venue = v.cfg.venue;
            let tls = Some(Arc::clone(&v.tls));
            let mut cfg = ConnConfig::new(p.url.clone());
            let bybit_ping = || Some(AppPing { every_ms: 20_000, text: b"{\"op\":\"ping\"}".to_vec() });
            let id = match p.role {
                Role::Market => {
                    market_conns_per_venue[p.venue] += 1;
                    if v.cfg.stale_after_ms > 0 {
                        cfg.stale_after_ms = Some(v.cfg.stale_after_ms);
                    }
                    match venue {
                        Venue::BinanceUsdm => cfg.max_age_ms = Some(BINANCE_MAX_AGE_MS),
                        Venue::BybitLinear => cfg.ping = bybit_ping(),
                    }
                    net.add_websocket(cfg, tls, p.subs.clone(), None)?
                }
                Role::UserData => {
                    cfg.max_age_ms = Some(BINANCE_MAX_AGE_MS);
                    vrt[p.venue].user = Some(k);
                    net.add_websocket(cfg, tls, p.subs.clone(), None)?
                }
                Role::Private | Role::Orders => {
                    match venue {
                        Venue::BinanceUsdm => cfg.max_age_ms = Some(BINANCE_MAX_AGE_MS),
                        Venue::BybitLinear => cfg.ping = bybit_ping(),
                    }
                    if p.role == Role::Orders {
                        vrt[p.venue].orders = Some(k);
                    }
                    let auth = v.signer.as_ref().and_then(|s| s.ws_auth(&v.clock));
                    net.add_websocket(cfg, tls, p.subs.clone(), auth)?
                }
                Role::RestMarket => {
                    cfg.max_message = 8 << 20;
                    cfg.recv_capacity = 9 << 20;
                    vrt[p.venue].rest_md = k;
                    net.add_http(cfg, tls)?
                }
                Role::RestTrade => {
                    vrt[p.venue].rest_trade = Some(k);
                    net.add_http(cfg, tls)?
                }
            };
            if usize::from(id.0) != k {
                return Err(EngineError::Thread("connection ids out of plan order".into()));
            }
            conns.push(ConnInfo {
                venue: p.venue,
                role: p.role,
                feed: p.feed.map(FeedId),
                file: p.file,
                state: ConnState::Backoff,
                authed: false,
                messages: 0,
                last_rx_ns: 0,
                downs: 0,
                auth_failures: 0,
                reconnect_at_ns: None,
                last_resubscribe_ns: 0,
            });
        }
        for (vi, v) in vrt.iter_mut().enumerate() {
            // Book and trades on different Binance routes: merge them by exchange time.
            v.merge = v.venue == Venue::BinanceUsdm && market_conns_per_venue[vi] > 1;
        }
        let signals_cfg = SignalConfig::from_table(&profile.signals)?;
        let gate_cell = Arc::new(crate::risk::VerdictCell::new());
        let link = LiveLink::new(
            to_risk,
            from_risk,
            risk_cell,
            Arc::clone(&gate_cell),
            &insts_all,
            profile.risk.initial_equity,
        )
        .with_contexts(contexts);
        let mut core =
            Core::new(&profile, LiveSignals::new(&signals_cfg, &insts_all), link, NoProbe, epoch, gate_cell)?;
        let mut paper = config.dry_run.then(|| {
            Paper::new(&table, profile.backtest.fill_model, config.paper_latency_ms * MS, profile.core.mark_reset_ms)
        });
        let mut insts: Vec<InstRt> = (0..insts_all.len())
            .map(|i| InstRt {
                venue: venues.iter().position(|v| v.cfg.venue == insts_all[i].venue).unwrap_or(0),
                feeds: Vec::new(),
                book_feed: None,
                book_conn: None,
                want_snapshot: false,
                want_resubscribe: false,
                snapshot_busy: false,
                snapshot_mark: 0,
                snapshot_retry_ns: 0,
                dark_flattened: false,
            })
            .collect();
        let mut feeds = 0usize;
        for (k, p) in plan.iter().enumerate() {
            if p.role != Role::Market {
                continue;
            }
            let venue = venues[p.venue].cfg.venue;
            let feed = core.add_feed(venue, BindMode::Strict);
            if let Some(pp) = paper.as_mut() {
                pp.add_feed(venue, &table);
            }
            feeds += 1;
            for &(inst, kind) in &p.bindings {
                core.bind(feed, inst, kind).map_err(|e| LoadError::new("venue.streams", format!("{}: {e}", p.name)))?;
                let r = &mut insts[usize::from(inst.0)];
                if !r.feeds.contains(&feed) {
                    r.feeds.push(feed);
                }
                if matches!(kind, StreamKind::Book(_)) {
                    r.book_feed = Some(feed);
                    r.book_conn = Some(k);
                }
            }
        }
        let intents = Intents::with_capacity(core.intents_capacity());
        let (recorder, rec) = match recorder {
            Some((r, t)) => (Some(r), Some(t)),
            None => (None, None),
        };
        let unix = net.unix_clock();
        let order_capacity = profile.core.order_capacity;
        Ok(Self {
            net,
            st: State {
                cfg: config,
                clock,
                unix,
                core,
                intents,
                outbox: VecDeque::with_capacity(OUTBOX_CAP),
                conns,
                venues: vrt,
                insts,
                instruments: insts_all,
                feed_last_ns: vec![0; feeds],
                pending: Vec::with_capacity(order_capacity.max(64)),
                merge: Merge::new(),
                paper,
                rec,
                recorder,
                deferred: Vec::with_capacity(64),
                seq: 0,
                intents_made: 0,
                rx_raw: 0,
                counters: [0; COUNTERS],
                stats,
                events,
                telemetry,
                stop,
                rest_bufs: RestBuffers::default(),
                order_buf: vec![0; 4096].into_boxed_slice(),
                next_timer_ns: 0,
                next_house_ns: 0,
                next_publish_ns: 0,
                next_scan_ns: 0,
                next_dark_ns: 0,
                stopping: None,
                risk_gone_told: false,
                exit_told: false,
                kill_timeout_ns: u64::try_from(profile.risk.kill_flatten_timeout_ms).unwrap_or(0) * MS,
                hooks,
                open_interest,
            },
        })
    }

    fn run(mut self) -> Result<HotSummary, EngineError> {
        let wait =
            if self.st.cfg.hot.busy_poll { std::time::Duration::ZERO } else { std::time::Duration::from_millis(1) };
        let started_ns = self.st.now_ns();
        let mut trace = self.st.hooks.trace_allocations;
        loop {
            self.net.poll_wait(wait).map_err(EngineError::Poll)?;
            self.drain_net();
            let now = self.st.now_ns();
            self.st.flush_merge();
            self.st.deliver_paper(now);
            self.st.dispatch(&mut self.net, now);
            self.st.pump_rest(&mut self.net, now);
            if now >= self.st.next_house_ns {
                self.st.next_house_ns = now + MS;
                if let Some(t) = trace.filter(|t| now >= started_ns + u64::from(t.after_s) * 1_000 * MS) {
                    (t.arm)(t.count);
                    trace = None;
                }
                self.st.housekeeping(now);
                self.apply_deferred();
                self.st.dispatch(&mut self.net, now);
                if self.st.finished(now) {
                    break;
                }
            }
        }
        self.finish()
    }

    fn drain_net(&mut self) {
        loop {
            let Some(ev) = self.net.next_event() else { break };
            match ev {
                NetEvent::Frame { conn, rx_raw, data, .. } => self.st.on_frame(usize::from(conn.0), rx_raw, data),
                NetEvent::State { conn, state, reason } => self.st.on_state(usize::from(conn.0), state, reason),
                NetEvent::Response { conn, rx_raw, status, body } => {
                    self.st.on_response(usize::from(conn.0), rx_raw, status, body);
                }
                NetEvent::RequestFailed { conn } => self.st.on_request_failed(usize::from(conn.0)),
                NetEvent::Replaced { conn } => self.st.event(EngineEvent::Replaced { conn: conn.0 }),
            }
            self.apply_deferred();
            if !self.st.outbox.is_empty() {
                let now = self.st.now_ns();
                self.st.dispatch(&mut self.net, now);
            }
        }
    }

    fn apply_deferred(&mut self) {
        while let Some(d) = self.st.deferred.pop() {
            match d {
                Deferred::Authenticated(c) => self.net.authenticated(c),
                Deferred::Reconnect(c) => self.net.reconnect(c),
                Deferred::SetPath(c, path) => {
                    self.net.set_path(c, &path);
                    self.net.reconnect(c);
                }
            }
        }
    }

    /// The end of the session: cancel at the venues, settle what can be
    /// settled (queries), close everything, report.
    fn finish(mut self) -> Result<HotSummary, EngineError> {
        let now = self.st.now_ns();
        let mut longest_window = 0;
        if !self.st.cfg.dry_run {
            let st = &mut self.st;
            for i in 0..st.instruments.len() {
                let v = st.insts[i].venue;
                if st.venues[v].rest_trade.is_some() {
                    st.venues[v].trade_queue.push_back(Job::CancelAll(InstrumentId(i as u16)));
                }
            }
            // Whatever is still unanswered is asked about as soon as the
            // venue would refuse it if it arrived now.
            for p in &mut st.pending {
                let window = st.venues[p.venue].recv_window_ns;
                longest_window = longest_window.max(window);
                if p.phase == Phase::Sent {
                    p.phase = Phase::Unknown { query_at_ns: p.sent_ns + window + 500 * MS };
                }
            }
        }
        let deadline = now + longest_window + 3_000 * MS;
        loop {
            let now = self.st.now_ns();
            let busy = self.st.venues.iter().any(|v| {
                v.trade_queue.iter().any(|j| matches!(j, Job::CancelAll(_) | Job::Query { .. }))
                    || v.trade_inflight.is_some_and(|(j, _)| matches!(j, Job::CancelAll(_) | Job::Query { .. }))
            });
            let paper_due = self.st.paper.as_ref().and_then(Paper::next_due).is_some();
            if (!busy && self.st.pending.is_empty() && !paper_due) || now > deadline {
                break;
            }
            self.net.poll().map_err(EngineError::Poll)?;
            self.drain_net();
            self.st.flush_merge();
            self.st.deliver_paper(now);
            self.st.dispatch(&mut self.net, now);
            self.st.pump_rest(&mut self.net, now);
            if now >= self.st.next_scan_ns {
                self.st.next_scan_ns = now + 50 * MS;
                self.st.scan_pending(now);
            }
            self.apply_deferred();
        }
        for c in 0..self.st.conns.len() {
            self.net.close(ConnId(c as u16));
        }
        let st = &mut self.st;
        let now = st.now_ns();
        st.scan_pending(now);
        let lost: Vec<u64> = st
            .pending
            .iter()
            .filter(|p| matches!(p.intent, Intent::Place { .. }))
            .map(|p| p.intent.client_id().0)
            .collect();
        for &id in &lost {
            st.event(EngineEvent::OrderLost { client: ClientOrderId(id) });
            st.log(LogLevel::Error, log_code::ORDER_LOST, id as i64);
        }
        st.counters[Counter::Unsettled as usize] = lost.len() as u64;
        st.publish(now);
        let recording = match (st.rec.as_mut(), st.recorder.take()) {
            (Some(tap), Some(rec)) => {
                tap.close();
                Some(rec.join().map_err(EngineError::Recorder)?)
            }
            _ => None,
        };
        let core = format!("{:?}", st.core.stats());
        let g = st.core.strategy().gate_stats();
        let refusals = st.core.gate().refusals();
        let refused: Vec<String> = crate::risk::Refusal::ALL
            .iter()
            .filter(|r| refusals.get(**r) > 0)
            .map(|r| format!("{}={}", r.name(), refusals.get(*r)))
            .collect();
        let gates = format!(
            "strategy: {} candidates, {} passed, blocked by gate {:?}; risk gate: {} passed, refused [{}]",
            g.candidates,
            g.passed,
            g.blocked,
            st.core.gate().passed(),
            refused.join(", ")
        );
        Ok(HotSummary {
            gates,
            stats: st.stats.snapshot(),
            lost,
            core_calls: st.seq,
            intents: st.intents_made,
            core,
            recording,
            paper: st.paper.as_ref().map(Paper::stats),
        })
    }
}

impl State {
    #[inline]
    fn now_ns(&self) -> u64 {
        self.unix.unix_ns(self.clock.raw())
    }

    fn event(&mut self, e: EngineEvent) {
        if !self.events.push(e) {
            self.counters[Counter::EventsDropped as usize] += 1;
        }
    }

    fn log(&mut self, level: LogLevel, code: u16, value: i64) {
        let _ = self.telemetry.push(Telemetry::Log { level, code, value });
    }

    fn inc(&mut self, c: Counter) {
        self.counters[c as usize] += 1;
    }

    /// After every core call: its intents to the outbox (and the
    /// recorder), the link's observations to the recorder.
    fn after_call(&mut self, now_ns: u64) {
        let seq = self.seq;
        for intent in self.intents.drain() {
            self.intents_made += 1;
            if let Some(rec) = self.rec.as_mut() {
                rec.intent(seq, &intent, now_ns);
            }
            // Sized for any burst the core can make between two sends; never
            // dropped (past the capacity it would grow, which is counted).
            if self.outbox.len() == OUTBOX_CAP {
                self.counters[Counter::EventsDropped as usize] += 1;
            }
            self.outbox.push_back((seq, self.rx_raw, intent));
        }
        if let Some(rec) = self.rec.as_mut() {
            self.core.link_mut().drain_tape(|poll, o| rec.observation(poll, o, now_ns));
        } else {
            self.core.link_mut().drain_tape(|_, _| {});
        }
    }

    fn market(&mut self, conn: usize, feed: FeedId, data: &mut [u8], recv_ns: u64, rx_raw: u64) {
        self.seq += 1;
        self.rx_raw = rx_raw;
        if let (Some(rec), Some(file)) = (self.rec.as_mut(), self.conns[conn].file) {
            rec.frame(self.seq, file, FrameUse::Market, recv_ns, data);
        }
        if let Some(p) = self.paper.as_mut() {
            p.on_market(feed, data, recv_ns);
        }
        self.core.on_frame(feed, data, recv_ns, &mut self.intents);
        self.inc(Counter::MarketFrames);
        self.after_call(recv_ns);
    }

    fn private(&mut self, conn: usize, source: PrivateSource, data: &mut [u8], recv_ns: u64, rx_raw: u64) {
        self.seq += 1;
        self.rx_raw = rx_raw;
        if let (Some(rec), Some(file)) = (self.rec.as_mut(), self.conns[conn].file) {
            rec.frame(self.seq, file, FrameUse::Private(source), recv_ns, data);
        }
        if self.core.on_private_frame(source, data, recv_ns, &mut self.intents).is_err() {
            self.inc(Counter::DecodeErrors);
        }
        self.inc(Counter::PrivateFrames);
        self.after_call(recv_ns);
    }

    fn on_frame(&mut self, conn: usize, rx_raw: u64, data: &mut [u8]) {
        let recv_ns = self.unix.unix_ns(rx_raw);
        let Some(c) = self.conns.get_mut(conn) else { return };
        c.messages += 1;
        c.last_rx_ns = recv_ns;
        let (role, v, state) = (c.role, c.venue, c.state);
        match role {
            Role::Market => {
                let Some(feed) = c.feed else { return };
                if let Some(t) = self.feed_last_ns.get_mut(usize::from(feed.0)) {
                    *t = recv_ns;
                }
                if self.venues[v].merge {
                    if !self.merge_push(conn, feed, recv_ns, rx_raw, data) {
                        self.flush_merge();
                        if !self.merge_push(conn, feed, recv_ns, rx_raw, data) {
                            self.market(conn, feed, data, recv_ns, rx_raw);
                        }
                    }
                } else {
                    self.market(conn, feed, data, recv_ns, rx_raw);
                }
            }
            Role::UserData => {
                if is_listen_key_expired(data) {
                    self.venues[v].listen_key_expired = true;
                    self.inc(Counter::ListenKeyExpired);
                    self.log(LogLevel::Warn, log_code::LISTEN_KEY_EXPIRED, v as i64);
                }
                self.private(conn, PrivateSource::BinanceUserData, data, recv_ns, rx_raw);
            }
            Role::Orders | Role::Private => {
                if state == ConnState::Authenticating {
                    self.auth_frame(conn, data, recv_ns);
                } else {
                    let source = match self.venues[v].venue {
                        Venue::BinanceUsdm => PrivateSource::BinanceWsApi,
                        Venue::BybitLinear => PrivateSource::Bybit,
                    };
                    self.private(conn, source, data, recv_ns, rx_raw);
                }
            }
            Role::RestMarket | Role::RestTrade => {}
        }
    }

    /// The venue's answer to a log-on: parsed here (not given to the core),
    /// recorded as a skipped line.
    fn auth_frame(&mut self, conn: usize, data: &mut [u8], recv_ns: u64) {
        if let (Some(rec), Some(file)) = (self.rec.as_mut(), self.conns[conn].file) {
            rec.frame(self.seq, file, FrameUse::Skipped, recv_ns, data);
        }
        let v = self.conns[conn].venue;
        let mut events = [EMPTY_EVENT; 8];
        let table = self.core_table();
        let vr = &mut self.venues[v];
        let parsed = match vr.venue {
            Venue::BinanceUsdm => vr.bin_auth.ws_response(data, &table, &mut events),
            Venue::BybitLinear => vr.byb_auth.ws_frame(data, &table, &mut events),
        };
        let Ok(n) = parsed else { return };
        for e in &events[..n] {
            match *e {
                PrivateEvent::Session(SessionEvent::Authenticated) => {
                    let c = &mut self.conns[conn];
                    c.authed = true;
                    c.auth_failures = 0;
                    self.deferred.push(Deferred::Authenticated(ConnId(conn as u16)));
                    if c.role == Role::Orders {
                        if let Some(s) = self.venues[v].signer.as_mut() {
                            s.set_session(true);
                        }
                        // Bybit: (re)arm disconnection protection once logged on.
                        self.venues[v].protection_due = true;
                    }
                    self.inc(Counter::AuthOk);
                    self.event(EngineEvent::Authenticated { conn: conn as u16 });
                }
                PrivateEvent::Session(SessionEvent::AuthRejected { venue_code, .. }) => {
                    let c = &mut self.conns[conn];
                    c.auth_failures = c.auth_failures.saturating_add(1);
                    let wait = (1_000u64 << c.auth_failures.min(5)).min(30_000);
                    c.reconnect_at_ns = Some(recv_ns + wait * MS);
                    self.inc(Counter::AuthFailed);
                    self.event(EngineEvent::AuthRejected { conn: conn as u16, code: venue_code });
                    self.log(LogLevel::Error, log_code::AUTH_REJECTED, conn as i64);
                }
                _ => {}
            }
        }
    }

    fn core_table(&self) -> crate::instrument::InstrumentTable {
        // Authentication answers name no instrument; an empty table serves.
        crate::instrument::InstrumentTable::new()
    }

    fn feed_state(&mut self, feed: FeedId, up: bool, now_ns: u64) {
        self.seq += 1;
        if let Some(rec) = self.rec.as_mut() {
            rec.feed_state(self.seq, feed.0, up, now_ns);
        }
        let state = if up { FeedState::Subscribed } else { FeedState::Down };
        self.core.on_feed_state(feed, state, now_ns, &mut self.intents);
        self.after_call(now_ns);
        self.event(EngineEvent::Feed { feed, up });
    }

    fn on_state(&mut self, conn: usize, state: ConnState, reason: Option<DownReason>) {
        let now = self.now_ns();
        let Some(c) = self.conns.get_mut(conn) else { return };
        let prev = c.state;
        c.state = state;
        let (role, v, feed) = (c.role, c.venue, c.feed);
        match state {
            ConnState::Backoff => {
                c.authed = false;
                if reason.is_some() {
                    c.downs += 1;
                    self.inc(Counter::Disconnects);
                    self.log(LogLevel::Warn, log_code::CONN_DOWN, conn as i64);
                }
                match role {
                    Role::Market => {
                        if let Some(feed) = feed
                            && matches!(prev, ConnState::Live | ConnState::Subscribing)
                        {
                            self.feed_state(feed, false, now);
                        }
                    }
                    // The private stream is gone: what the venue sends
                    // until it is back is lost. Fetch from here once it is.
                    Role::UserData | Role::Private if prev == ConnState::Live => {
                        let vr = &mut self.venues[v];
                        let down_ms = vr.clock.venue_ms(now / MS);
                        vr.fills.down_since_ms.get_or_insert(down_ms);
                    }
                    Role::Orders => {
                        if let Some(s) = self.venues[v].signer.as_mut() {
                            s.set_session(false);
                        }
                        // Answers of orders sent on it are lost: query them
                        // once the venue would refuse them anyway.
                        let window = self.venues[v].recv_window_ns;
                        for p in &mut self.pending {
                            if p.venue == v && p.ws && p.phase == Phase::Sent {
                                p.phase = Phase::Unknown { query_at_ns: p.sent_ns + window + 500 * MS };
                            }
                        }
                    }
                    _ => {}
                }
                self.event(EngineEvent::Conn { conn: conn as u16, state, reason });
            }
            ConnState::Live => {
                self.inc(Counter::Connects);
                if role == Role::Market
                    && let Some(feed) = feed
                {
                    self.feed_state(feed, true, now);
                }
                if matches!(role, Role::UserData | Role::Private) {
                    let f = &mut self.venues[v].fills;
                    if f.down_since_ms.is_some() && f.wanted_since_ns.is_none() {
                        f.wanted_since_ns = Some(now);
                    }
                }
                self.event(EngineEvent::Conn { conn: conn as u16, state, reason: None });
            }
            _ => {}
        }
    }

    // ---- merging the routes' frames by exchange time ----

    fn merge_push(&mut self, conn: usize, feed: FeedId, recv_ns: u64, rx_raw: u64, data: &[u8]) -> bool {
        let ts = binance_event_ms(data).unwrap_or(i64::MIN);
        self.merge.push(conn as u16, feed, ts, (recv_ns, rx_raw), data)
    }

    /// Hands the held frames to the core in merge order ([`Merge`]).
    fn flush_merge(&mut self) {
        if self.merge.is_empty() {
            return;
        }
        let mut merge = std::mem::take(&mut self.merge);
        merge.drain(|conn, feed, (recv_ns, rx_raw), data| self.market(usize::from(conn), feed, data, recv_ns, rx_raw));
        self.merge = merge;
    }

    // ---- dry run ----

    fn deliver_paper(&mut self, now: u64) {
        loop {
            let Some(paper) = self.paper.as_mut() else { return };
            let Some((source, venue, data)) = paper.pop_due(now) else { return };
            self.seq += 1;
            let file = self.venues.iter().find(|v| v.venue == venue).and_then(|v| v.paper_file);
            if let (Some(rec), Some(file)) = (self.rec.as_mut(), file) {
                rec.frame(self.seq, file, FrameUse::Private(source), now, data);
            }
            if self.core.on_private_frame(source, data, now, &mut self.intents).is_err() {
                self.counters[Counter::DecodeErrors as usize] += 1;
            }
            self.counters[Counter::PrivateFrames as usize] += 1;
            self.after_call(now);
        }
    }

    // ---- sending ----

    fn send_failed(&mut self, intent: Intent, now: u64) {
        self.seq += 1;
        if let Some(rec) = self.rec.as_mut() {
            rec.send_failed(self.seq, &intent, now);
        }
        self.inc(Counter::SendFailures);
        self.event(EngineEvent::SendFailed { client: intent.client_id() });
        self.log(LogLevel::Warn, log_code::SEND_FAILED, intent.client_id().0 as i64);
        self.core.on_send_failed(&intent, now, &mut self.intents);
        self.after_call(now);
    }

    fn track(&mut self, intent: Intent, venue: usize, now: u64, ws: bool) -> u8 {
        let id = intent.client_id();
        let cancel = matches!(intent, Intent::Cancel { .. });
        let mut attempt = 0u8;
        if let Some(k) = self
            .pending
            .iter()
            .position(|p| p.intent.client_id() == id && matches!(p.intent, Intent::Cancel { .. }) == cancel)
        {
            attempt = self.pending[k].attempt.wrapping_add(1);
            self.pending.swap_remove(k);
        }
        if self.pending.len() < self.pending.capacity() {
            self.pending.push(Pending { intent, venue, sent_ns: now, ws, attempt, phase: Phase::Sent, unknown: false });
        }
        attempt
    }

    fn next_cancel_attempt(&self, id: ClientOrderId) -> u8 {
        self.pending
            .iter()
            .find(|p| p.intent.client_id() == id && matches!(p.intent, Intent::Cancel { .. }))
            .map_or(0, |p| p.attempt.wrapping_add(1))
    }

    fn dispatch(&mut self, net: &mut NetLoop, now: u64) {
        while let Some((_seq, rx_raw, intent)) = self.outbox.pop_front() {
            let i = usize::from(intent.inst().0);
            let Some(&instrument) = self.instruments.get(i) else { continue };
            let v = self.insts[i].venue;
            if self.cfg.dry_run {
                if let Some(p) = self.paper.as_mut() {
                    p.on_intent(&intent, now);
                }
                match intent {
                    Intent::Place { order, .. } => {
                        self.inc(Counter::OrdersSent);
                        self.log(LogLevel::Info, log_code::WOULD_SEND, order.client_id.0 as i64);
                    }
                    Intent::Cancel { .. } => self.inc(Counter::CancelsSent),
                }
                self.tick_to_trade(rx_raw);
                continue;
            }
            let ws_conn = self.venues[v].orders.filter(|&c| {
                let ci = &self.conns[c];
                let needs_auth = self.venues[v].signer.as_ref().is_some_and(Signer::ws_logs_on);
                self.venues[v].transport == OrderTransport::Ws
                    && ci.state == ConnState::Live
                    && (ci.authed || !needs_auth)
            });
            let ts_ms = self.venues[v].clock.venue_ms(now / MS);
            if let Some(conn) = ws_conn {
                let attempt = match intent {
                    Intent::Cancel { client_id, .. } => self.next_cancel_attempt(client_id),
                    Intent::Place { .. } => 0,
                };
                let market_ref = self.core.prices(intent.inst()).mid;
                let Some(signer) = self.venues[v].signer.as_ref() else { continue };
                let encoded = match intent {
                    Intent::Place { order, .. } => {
                        signer.ws_place(&order, &instrument, market_ref, ts_ms, &mut self.order_buf)
                    }
                    Intent::Cancel { symbol, client_id, .. } => {
                        signer.ws_cancel(&symbol, client_id, attempt, ts_ms, &mut self.order_buf)
                    }
                };
                match encoded {
                    Ok(bytes) => {
                        if net.send_text(ConnId(conn as u16), bytes).is_ok() {
                            self.sent(intent, v, now, true, rx_raw);
                            continue;
                        }
                    }
                    Err(_) => {
                        // A check the venue's encoder refused: nothing can be sent.
                        self.send_failed(intent, now);
                        continue;
                    }
                }
            }
            // REST: the order socket is down (or REST is configured).
            let vr = &mut self.venues[v];
            if vr.rest_trade.is_some() && vr.trade_queue.len() < QUEUE_CAP {
                let job = match intent {
                    Intent::Place { .. } => Job::Place { intent, queued_ns: now },
                    Intent::Cancel { .. } => Job::Cancel { intent, queued_ns: now },
                };
                vr.trade_queue.push_back(job);
            } else {
                self.send_failed(intent, now);
            }
        }
    }

    fn sent(&mut self, intent: Intent, venue: usize, now: u64, ws: bool, rx_raw: u64) {
        match intent {
            Intent::Place { .. } => {
                self.inc(Counter::OrdersSent);
                self.inc(if ws { Counter::OrdersWs } else { Counter::OrdersRest });
            }
            Intent::Cancel { .. } => self.inc(Counter::CancelsSent),
        }
        self.track(intent, venue, now, ws);
        if ws {
            self.tick_to_trade(rx_raw);
        }
    }

    fn tick_to_trade(&mut self, rx_raw: u64) {
        if rx_raw != 0 {
            let ns = self.clock.delta_as_nanos(rx_raw, self.clock.raw());
            let _ = self.telemetry.push(Telemetry::Latency { stage: Stage::TickToTrade, ns });
        }
    }

    /// Sends queued REST jobs on ready connections.
    fn pump_rest(&mut self, net: &mut NetLoop, now: u64) {
        for v in 0..self.venues.len() {
            for trade in [false, true] {
                let conn = if trade { self.venues[v].rest_trade } else { Some(self.venues[v].rest_md) };
                let Some(conn) = conn.filter(|&c| c != usize::MAX) else { continue };
                let busy =
                    if trade { self.venues[v].trade_inflight.is_some() } else { self.venues[v].md_inflight.is_some() };
                if busy || !net.http_ready(ConnId(conn as u16)) {
                    continue;
                }
                loop {
                    let job = if trade {
                        self.venues[v].trade_queue.pop_front()
                    } else {
                        self.venues[v].md_queue.pop_front()
                    };
                    let Some(job) = job else { break };
                    if let Job::Place { intent, queued_ns } | Job::Cancel { intent, queued_ns } = job
                        && now.saturating_sub(queued_ns) > self.cfg.orders.queued_max_age_ms * MS
                    {
                        // Too late to send: the market moved on.
                        self.send_failed(intent, now);
                        continue;
                    }
                    let market_ref = match job {
                        Job::Place { intent, .. } => self.core.prices(intent.inst()).mid,
                        _ => crate::fixed::Price::ZERO,
                    };
                    let ts_ms = self.venues[v].clock.venue_ms(now / MS);
                    let (countdown, window) =
                        (self.cfg.deadman.binance_countdown_ms, self.cfg.deadman.bybit_window_secs);
                    let vr = &self.venues[v];
                    let sent = match self.rest_bufs.encode(
                        vr.venue,
                        vr.signer.as_ref(),
                        &self.instruments,
                        &job,
                        market_ref,
                        countdown,
                        window,
                        ts_ms,
                    ) {
                        Ok(req) => net
                            .http_request(ConnId(conn as u16), req.method, req.target, req.headers(), req.body)
                            .is_ok(),
                        Err(_) => {
                            if let Job::Place { intent, .. } | Job::Cancel { intent, .. } = job {
                                self.send_failed(intent, now);
                            }
                            if let Job::Fills { .. } = job {
                                // An encoding failure does not heal by itself.
                                self.inc(Counter::FillFetchesFailed);
                                self.fill_fetch_gave_up(v, job);
                            }
                            continue;
                        }
                    };
                    if !sent {
                        let vr = &mut self.venues[v];
                        if trade {
                            vr.trade_queue.push_front(job)
                        } else {
                            vr.md_queue.push_front(job)
                        }
                        break;
                    }
                    let vr = &mut self.venues[v];
                    if trade {
                        vr.trade_inflight = Some((job, now));
                    } else {
                        vr.md_inflight = Some((job, now));
                    }
                    if let Job::Place { intent, .. } | Job::Cancel { intent, .. } = job {
                        self.sent(intent, v, now, false, 0);
                    }
                    if let Job::Fills { .. } = job {
                        self.inc(Counter::FillFetches);
                    }
                    break;
                }
            }
        }
    }

    // ---- REST answers ----

    fn on_response(&mut self, conn: usize, rx_raw: u64, status: u16, body: &mut [u8]) {
        let recv_ns = self.unix.unix_ns(rx_raw);
        let Some(c) = self.conns.get_mut(conn) else { return };
        c.messages += 1;
        c.last_rx_ns = recv_ns;
        let (role, v) = (c.role, c.venue);
        let taken = match role {
            Role::RestMarket => self.venues[v].md_inflight.take(),
            Role::RestTrade => self.venues[v].trade_inflight.take(),
            _ => None,
        };
        let Some((job, sent_ns)) = taken else { return };
        let venue = self.venues[v].venue;
        match job {
            Job::Depth(inst) => {
                let r = &mut self.insts[usize::from(inst.0)];
                r.snapshot_busy = false;
                if status == 200 {
                    self.snapshot(inst, body, recv_ns);
                    self.inc(Counter::Snapshots);
                } else {
                    r.want_snapshot = true;
                    r.snapshot_retry_ns = recv_ns + if matches!(status, 418 | 429) { 5_000 } else { 1_000 } * MS;
                    self.inc(Counter::SnapshotFailures);
                    self.event(EngineEvent::SnapshotFailed { inst, status });
                }
            }
            Job::Time => {
                if status == 200
                    && let Some(t) = server_time_ms(venue, body)
                {
                    self.venues[v].clock.observe(t, (sent_ns / MS) as i64, (recv_ns / MS) as i64);
                }
            }
            Job::Place { .. } | Job::Cancel { .. } | Job::Query { .. } => {
                let Some(tag) = job.tag() else { return };
                if matches!(status, 418 | 429) {
                    self.inc(Counter::RateLimited);
                }
                let r = self.rest_answer(v, venue, status, tag, body, recv_ns);
                let id = tag.client_id;
                let window = self.venues[v].recv_window_ns;
                let retry = self.cfg.orders.query_retry_ms * MS;
                let is_query = matches!(job, Job::Query { .. });
                let is_cancel = matches!(job, Job::Cancel { .. });
                if let Some(p) = self.pending.iter_mut().find(|p| {
                    p.intent.client_id() == id && matches!(p.intent, Intent::Cancel { .. }) == is_cancel
                        || (is_query && p.intent.client_id() == id && matches!(p.phase, Phase::Querying { .. }))
                }) {
                    p.phase = match (is_query, r) {
                        (true, Ok(_)) => Phase::Answered,
                        (true, Err(_)) => Phase::Unknown { query_at_ns: recv_ns + retry },
                        (false, Err(PrivateParseError::ExecutionUnknown { .. })) => {
                            Phase::Unknown { query_at_ns: p.sent_ns + window + 500 * MS }
                        }
                        (false, _) => p.phase,
                    };
                    if !matches!(p.phase, Phase::Sent | Phase::Answered) && !p.unknown {
                        p.unknown = true;
                        self.counters[Counter::Unknown as usize] += 1;
                    }
                }
            }
            Job::Countdown(_) | Job::Protection => {
                if status == 200 && !body_has_error(venue, body) {
                    self.inc(Counter::DeadmanOk);
                } else {
                    self.inc(Counter::DeadmanFailed);
                    self.event(EngineEvent::DeadmanFailed { venue, status });
                    self.log(LogLevel::Error, log_code::DEADMAN_FAILED, i64::from(status));
                }
            }
            Job::ListenKey(op) => self.on_listen_key(v, op, status, body, recv_ns),
            Job::Fills { .. } => self.on_fills_answer(v, job, status, body, recv_ns),
            // Sent at start-up only (`setup.rs`), never queued on the hot thread.
            Job::CancelAll(_) | Job::SetLeverage { .. } => {}
        }
    }

    /// A REST order answer (or query answer) into the core, recorded.
    fn rest_answer(
        &mut self,
        v: usize,
        venue: Venue,
        status: u16,
        tag: RequestTag,
        body: &mut [u8],
        recv_ns: u64,
    ) -> Result<usize, PrivateParseError> {
        self.seq += 1;
        if let (Some(rec), Some(file)) = (self.rec.as_mut(), self.venues[v].rest_file) {
            rec.rest(self.seq, file, venue, status, tag, recv_ns, body);
        }
        let r = self.core.on_rest_response(venue, status, body, tag, recv_ns, &mut self.intents);
        if r.is_err() {
            self.inc(Counter::DecodeErrors);
        }
        self.inc(Counter::PrivateFrames);
        self.after_call(recv_ns);
        r
    }

    fn snapshot(&mut self, inst: InstrumentId, body: &mut [u8], recv_ns: u64) {
        self.seq += 1;
        let r = &self.insts[usize::from(inst.0)];
        let file = r.book_conn.and_then(|c| self.conns[c].file);
        if let (Some(rec), Some(file)) = (self.rec.as_mut(), file) {
            rec.snapshot(self.seq, file, inst.0, recv_ns, body);
        }
        if let (Some(p), Some(feed)) = (self.paper.as_mut(), r.book_feed) {
            p.on_snapshot(feed, inst, body, recv_ns);
        }
        self.core.on_rest_snapshot(inst, body, recv_ns, &mut self.intents);
        self.after_call(recv_ns);
    }

    fn on_listen_key(&mut self, v: usize, op: ListenKeyOp, status: u16, body: &[u8], now: u64) {
        match op {
            ListenKeyOp::Create => {
                // Only a 200 is parsed: an error page (a 418 ban, a 429)
                // is not a key, and retrying at once would hammer a venue
                // that asked us to back off.
                let key = if status == 200 { crate::venue::binance::rest::parse_listen_key(body).ok() } else { None };
                let Some(key) = key else {
                    self.listen_key_failed(v, status, now);
                    return;
                };
                let vr = &mut self.venues[v];
                let changed = vr.listen_key.as_deref() != Some(key.as_str());
                let after_expiry = changed || vr.listen_key_expired;
                vr.listen_key = Some(key.as_str().to_owned());
                vr.next_keepalive_ns = now + self.cfg.listen_key_keepalive_ms * MS;
                if let Some(user) = vr.user {
                    let path = vr.endpoints.private_url(key.as_str()).path;
                    self.deferred.push(Deferred::SetPath(ConnId(user as u16), path));
                }
                self.inc(Counter::ListenKeys);
                self.event(EngineEvent::ListenKey { venue: self.venues[v].venue, after_expiry });
            }
            ListenKeyOp::KeepAlive => {
                if status != 200 {
                    // The key is gone (-1125): make a new one.
                    self.venues[v].listen_key_expired = true;
                }
            }
            ListenKeyOp::Close => {}
        }
    }

    /// A listenKey creation failed: counted, logged, tried again after
    /// 1 s, or 5 s after a 418 / 429 (as depth snapshots back off).
    fn listen_key_failed(&mut self, v: usize, status: u16, now: u64) {
        self.inc(Counter::ListenKeyFailed);
        self.log(LogLevel::Warn, log_code::LISTEN_KEY_FAILED, i64::from(status));
        let vr = &mut self.venues[v];
        vr.listen_key_expired = true;
        vr.listen_key_retry_ns = now + if matches!(status, 418 | 429) { 5_000 } else { 1_000 } * MS;
    }

    fn on_request_failed(&mut self, conn: usize) {
        let now = self.now_ns();
        let Some(c) = self.conns.get(conn) else { return };
        let (role, v) = (c.role, c.venue);
        let taken = match role {
            Role::RestMarket => self.venues[v].md_inflight.take(),
            Role::RestTrade => self.venues[v].trade_inflight.take(),
            _ => None,
        };
        let Some((job, _)) = taken else { return };
        match job {
            Job::Depth(inst) => {
                let r = &mut self.insts[usize::from(inst.0)];
                r.snapshot_busy = false;
                r.want_snapshot = true;
                r.snapshot_retry_ns = now + 200 * MS;
                self.inc(Counter::SnapshotFailures);
                self.event(EngineEvent::SnapshotFailed { inst, status: 0 });
            }
            Job::Place { intent, .. } | Job::Cancel { intent, .. } => {
                // Written, answer lost: the venue may have it.
                let window = self.venues[v].recv_window_ns;
                let id = intent.client_id();
                let cancel = matches!(intent, Intent::Cancel { .. });
                if let Some(p) = self
                    .pending
                    .iter_mut()
                    .find(|p| p.intent.client_id() == id && matches!(p.intent, Intent::Cancel { .. }) == cancel)
                {
                    p.phase = Phase::Unknown { query_at_ns: p.sent_ns + window + 500 * MS };
                }
            }
            Job::Query { client, .. } => {
                let retry = self.cfg.orders.query_retry_ms * MS;
                if let Some(p) = self
                    .pending
                    .iter_mut()
                    .find(|p| p.intent.client_id() == client && matches!(p.phase, Phase::Querying { .. }))
                {
                    p.phase = Phase::Unknown { query_at_ns: now + retry };
                }
            }
            Job::Countdown(_) => {
                self.inc(Counter::DeadmanFailed);
                self.event(EngineEvent::DeadmanFailed { venue: self.venues[v].venue, status: 0 });
            }
            Job::Protection => self.venues[v].protection_due = true,
            Job::ListenKey(ListenKeyOp::Create) => self.listen_key_failed(v, 0, now),
            Job::ListenKey(_) => self.venues[v].trade_queue.push_front(job),
            Job::Fills { .. } => self.fill_fetch_failed(v, job, now, false),
            Job::Time | Job::CancelAll(_) | Job::SetLeverage { .. } => {}
        }
    }

    // ---- housekeeping ----

    fn housekeeping(&mut self, now: u64) {
        if now >= self.next_timer_ns {
            self.next_timer_ns = now + self.cfg.hot.timer_ms * MS;
            self.seq += 1;
            if let Some(rec) = self.rec.as_mut() {
                rec.timer(self.seq, now);
            }
            self.core.on_timer(now, &mut self.intents);
            self.inc(Counter::Timers);
            self.rx_raw = 0;
            self.after_call(now);
        }
        self.open_interest(now);
        self.resyncs(now);
        self.venue_timers(now);
        self.fill_fetches(now);
        for c in 0..self.conns.len() {
            if let Some(at) = self.conns[c].reconnect_at_ns
                && now >= at
            {
                self.conns[c].reconnect_at_ns = None;
                self.deferred.push(Deferred::Reconnect(ConnId(c as u16)));
            }
        }
        if now >= self.next_scan_ns {
            self.next_scan_ns = now + 50 * MS;
            self.scan_pending(now);
        }
        if now >= self.next_dark_ns {
            self.next_dark_ns = now + 100 * MS;
            self.dark_feeds(now);
        }
        if now >= self.next_publish_ns {
            self.next_publish_ns = now + 100 * MS;
            self.publish(now);
            if let Some(rec) = self.rec.as_mut() {
                rec.flush_if_older(now, 20 * MS);
            }
        }
        self.check_stop(now);
    }

    fn resyncs(&mut self, now: u64) {
        for i in 0..self.insts.len() {
            let inst = InstrumentId(i as u16);
            if self.core.take_resync_request(inst) {
                self.inc(Counter::Resyncs);
                self.event(EngineEvent::Resync { inst });
                let v = self.insts[i].venue;
                match self.venues[v].venue {
                    Venue::BinanceUsdm => {
                        let mark = self.insts[i].book_conn.map_or(0, |c| self.conns[c].messages);
                        let r = &mut self.insts[i];
                        r.want_snapshot = true;
                        r.snapshot_mark = mark;
                    }
                    Venue::BybitLinear => {
                        // A new snapshot comes after a resubscription; a
                        // connection not live resubscribes when it is.
                        let live = self.insts[i].book_conn.is_some_and(|c| self.conns[c].state == ConnState::Live);
                        self.insts[i].want_resubscribe = live;
                    }
                }
            }
            // At most one resubscription a second per connection: a request
            // inside that second waits for it (it was dropped before, and
            // its book stayed out of sync until another book's resync).
            if self.insts[i].want_resubscribe
                && let Some(c) = self.insts[i].book_conn
                && now.saturating_sub(self.conns[c].last_resubscribe_ns) > 1_000 * MS
            {
                self.conns[c].last_resubscribe_ns = now;
                self.deferred.push(Deferred::Reconnect(ConnId(c as u16)));
                self.inc(Counter::Resubscribes);
                for r in self.insts.iter_mut().filter(|r| r.book_conn == Some(c)) {
                    r.want_resubscribe = false;
                }
            }
            let r = &self.insts[i];
            if r.want_snapshot && !r.snapshot_busy && now >= r.snapshot_retry_ns {
                // Ask once the stream has delivered a diff since the request,
                // so the snapshot is newer than the first buffered diff.
                let Some(c) = r.book_conn else { continue };
                if self.conns[c].state == ConnState::Live && self.conns[c].messages > r.snapshot_mark {
                    let v = r.venue;
                    if self.venues[v].md_queue.len() < QUEUE_CAP {
                        self.venues[v].md_queue.push_back(Job::Depth(inst));
                        let r = &mut self.insts[i];
                        r.want_snapshot = false;
                        r.snapshot_busy = true;
                    }
                }
            }
        }
    }

    /// The open-interest poll's figures, to the core (no allocation here:
    /// the request and its parse ran on the poll's thread).
    fn open_interest(&mut self, now: u64) {
        while let Some(u) = self.open_interest.as_ref().and_then(LossyConsumer::pop) {
            let Some((qty, ts_ms)) = u.figure else {
                self.inc(Counter::OpenInterestFailed);
                continue;
            };
            self.seq += 1;
            if let Some(rec) = self.rec.as_mut() {
                rec.open_interest(self.seq, u.inst.0, qty.0, ts_ms, u.recv_ns);
            }
            // The core refuses (and counts) a figure for an unknown instrument.
            let taken = self.core.on_open_interest(u.inst, qty, ts_ms, u.recv_ns, &mut self.intents).is_some();
            self.inc(if taken { Counter::OpenInterest } else { Counter::OpenInterestFailed });
            self.rx_raw = 0;
            self.after_call(now);
        }
    }

    fn venue_timers(&mut self, now: u64) {
        let countdown = self.cfg.deadman.binance_countdown_ms;
        let refresh = self.cfg.deadman.binance_refresh_ms * MS;
        let window = self.cfg.deadman.bybit_window_secs;
        let keepalive = self.cfg.listen_key_keepalive_ms * MS;
        for v in 0..self.venues.len() {
            let vr = &mut self.venues[v];
            if now >= vr.next_time_ns {
                if vr.next_time_ns != 0 {
                    vr.md_queue.push_back(Job::Time);
                }
                vr.next_time_ns = now + 60_000 * MS;
            }
            if vr.signer.is_none() {
                continue;
            }
            match vr.venue {
                Venue::BinanceUsdm => {
                    if vr.listen_key_expired && now >= vr.listen_key_retry_ns {
                        vr.listen_key_expired = false;
                        vr.trade_queue.push_front(Job::ListenKey(ListenKeyOp::Create));
                    }
                    if vr.next_keepalive_ns == 0 {
                        vr.next_keepalive_ns = now + keepalive;
                    } else if now >= vr.next_keepalive_ns {
                        vr.next_keepalive_ns = now + keepalive;
                        vr.trade_queue.push_back(Job::ListenKey(ListenKeyOp::KeepAlive));
                    }
                    if countdown > 0 && now >= vr.next_countdown_ns {
                        vr.next_countdown_ns = now + refresh;
                        for i in 0..self.insts.len() {
                            if self.insts[i].venue == v && vr.trade_queue.len() < QUEUE_CAP {
                                vr.trade_queue.push_back(Job::Countdown(InstrumentId(i as u16)));
                            }
                        }
                    }
                }
                Venue::BybitLinear => {
                    if window > 0 && vr.protection_due {
                        vr.protection_due = false;
                        vr.trade_queue.push_back(Job::Protection);
                    }
                }
            }
        }
    }

    /// Fill fetches: retries that are due, and a new fetch for a venue
    /// whose private stream is live again after an outage — one job per
    /// symbol of the venue, from the outage's start less the margin, on
    /// the trade REST connection behind what is queued. Binance rows name
    /// the venue's order id, which the ledger learns from each order's
    /// answer: that fetch waits until no order of the venue is waiting for
    /// its answer (at most [`FILL_FETCH_WAIT_NS`]).
    fn fill_fetches(&mut self, now: u64) {
        let margin = self.cfg.orders.fill_fetch_margin_ms;
        let enabled = self.cfg.orders.fetch_missed_fills && !self.cfg.dry_run;
        for v in 0..self.venues.len() {
            let vr = &mut self.venues[v];
            let mut k = 0;
            while k < vr.fills.retry.len() {
                if now >= vr.fills.retry[k].1 && vr.trade_queue.len() < QUEUE_CAP {
                    let (job, _) = vr.fills.retry.swap_remove(k);
                    vr.trade_queue.push_back(job);
                } else {
                    k += 1;
                }
            }
            let Some(wanted_ns) = vr.fills.wanted_since_ns else { continue };
            if vr.fills.outstanding > 0 {
                continue;
            }
            if !enabled || vr.signer.is_none() || vr.rest_trade.is_none() {
                vr.fills.wanted_since_ns = None;
                vr.fills.down_since_ms = None;
                continue;
            }
            let answers_due = vr.venue == Venue::BinanceUsdm
                && self.pending.iter().any(|p| p.venue == v && matches!(p.intent, Intent::Place { .. }));
            if answers_due && now.saturating_sub(wanted_ns) < FILL_FETCH_WAIT_NS {
                continue;
            }
            let Some(down_ms) = vr.fills.down_since_ms.take() else {
                vr.fills.wanted_since_ns = None;
                continue;
            };
            vr.fills.wanted_since_ns = None;
            let since_ms = down_ms.saturating_sub(margin);
            let f = &mut vr.fills;
            (f.rows, f.recovered, f.foreign, f.failed) = (0, 0, 0, 0);
            for i in 0..self.insts.len() {
                if self.insts[i].venue != v || vr.trade_queue.len() >= QUEUE_CAP {
                    continue;
                }
                vr.trade_queue.push_back(Job::Fills {
                    inst: InstrumentId(i as u16),
                    since_ms,
                    from_id: 0,
                    cursor: PageCursor::NONE,
                    page: 0,
                    tries: 0,
                });
                vr.fills.outstanding += 1;
            }
        }
    }

    /// A fill-fetch page answered (recorded, then through the core).
    fn on_fills_answer(&mut self, v: usize, job: Job, status: u16, body: &mut [u8], recv_ns: u64) {
        let Some(tag) = job.tag() else { return };
        let Job::Fills { page, .. } = job else { return };
        let venue = self.venues[v].venue;
        if matches!(status, 418 | 429) {
            self.inc(Counter::RateLimited);
        }
        self.seq += 1;
        if let (Some(rec), Some(file)) = (self.rec.as_mut(), self.venues[v].rest_file) {
            rec.rest(self.seq, file, venue, status, tag, recv_ns, body);
        }
        let r = self.core.on_fills_response(venue, status, body, recv_ns, &mut self.intents);
        self.after_call(recv_ns);
        let a = match r {
            Ok(a) => a,
            Err(_) => {
                self.fill_fetch_failed(v, job, recv_ns, matches!(status, 418 | 429 | 403));
                return;
            }
        };
        self.inc(Counter::FillPages);
        self.counters[Counter::FillsRecovered as usize] += u64::from(a.recovered);
        let f = &mut self.venues[v].fills;
        f.rows += a.page.rows;
        f.recovered += a.recovered;
        f.foreign += a.page.foreign;
        let Job::Fills { inst, since_ms, from_id, cursor, .. } = job else { return };
        let next = |from_id, cursor| Job::Fills { inst, since_ms, from_id, cursor, page: page + 1, tries: 0 };
        let next = match venue {
            Venue::BinanceUsdm if a.page.rows >= u32::from(super::venue::FILL_PAGE_LIMIT) => {
                a.page.last_trade_id.map(|id| next(id + 1, cursor))
            }
            Venue::BybitLinear if !a.page.cursor.is_empty() => Some(next(from_id, a.page.cursor)),
            _ => None,
        };
        match next {
            Some(next) if page + 1 < FILL_FETCH_PAGES => self.venues[v].trade_queue.push_front(next),
            Some(_) => self.fill_fetch_gave_up(v, job),
            None if a.page.cursor_refused => self.fill_fetch_gave_up(v, job),
            None => self.fill_fetch_done(v),
        }
    }

    /// A fill-fetch page failed: tried again after a pause (longer after a
    /// rate limit or ban), or given up after [`FILL_FETCH_TRIES`].
    fn fill_fetch_failed(&mut self, v: usize, job: Job, now: u64, limited: bool) {
        self.inc(Counter::FillFetchesFailed);
        let Job::Fills { inst, since_ms, from_id, cursor, page, tries } = job else { return };
        if tries + 1 >= FILL_FETCH_TRIES {
            self.fill_fetch_gave_up(v, job);
            return;
        }
        let pause = if limited { 5_000 } else { 500u64 << tries } * MS;
        let again = Job::Fills { inst, since_ms, from_id, cursor, page, tries: tries + 1 };
        let f = &mut self.venues[v].fills;
        if f.retry.len() < f.retry.capacity() {
            f.retry.push((again, now + pause));
        } else {
            self.venues[v].trade_queue.push_back(again);
        }
    }

    /// A symbol's fetch could not be completed: said loudly, and the outage
    /// stays uncovered (the next reconnect of the stream fetches from it).
    fn fill_fetch_gave_up(&mut self, v: usize, job: Job) {
        let Job::Fills { inst, since_ms, .. } = job else { return };
        let margin = self.cfg.orders.fill_fetch_margin_ms;
        let f = &mut self.venues[v].fills;
        f.failed += 1;
        let down = since_ms + margin;
        f.down_since_ms = Some(f.down_since_ms.map_or(down, |d| d.min(down)));
        self.log(LogLevel::Error, log_code::FILL_FETCH_FAILED, i64::from(inst.0));
        self.fill_fetch_done(v);
    }

    /// One symbol's fetch is over; the venue's fetch ends with the last.
    fn fill_fetch_done(&mut self, v: usize) {
        let f = &mut self.venues[v].fills;
        f.outstanding = f.outstanding.saturating_sub(1);
        if f.outstanding > 0 {
            return;
        }
        let (rows, recovered, foreign, failed) = (f.rows, f.recovered, f.foreign, f.failed);
        let venue = self.venues[v].venue;
        self.log(LogLevel::Warn, log_code::FILLS_FETCHED, i64::from(recovered));
        self.event(EngineEvent::FillsFetched { venue, rows, recovered, foreign, failed });
    }

    /// Order accounting: every order and cancel ends settled in the
    /// ledger, or is queried until it is.
    fn scan_pending(&mut self, now: u64) {
        let ack_timeout = self.cfg.orders.ack_timeout_ms * MS;
        let mut k = 0;
        while k < self.pending.len() {
            let p = self.pending[k];
            let id = p.intent.client_id();
            let status = self.core.ledger().get(id).map(crate::order::state::TrackedOrder::status);
            let settled = match (p.intent, status) {
                (_, None) => true,
                (Intent::Place { .. }, Some(s)) => s != crate::order::state::OrderStatus::New,
                (Intent::Cancel { .. }, Some(s)) => s.is_terminal(),
            };
            if settled {
                if p.unknown {
                    self.inc(Counter::Resolved);
                    self.event(EngineEvent::OrderResolved { client: id });
                    self.log(LogLevel::Info, log_code::ORDER_RESOLVED, id.0 as i64);
                }
                self.pending.swap_remove(k);
                continue;
            }
            let mut phase = p.phase;
            match phase {
                Phase::Sent if now.saturating_sub(p.sent_ns) > ack_timeout => {
                    phase = Phase::Unknown { query_at_ns: now };
                }
                Phase::Unknown { query_at_ns } if now >= query_at_ns => {
                    let v = p.venue;
                    let vr = &mut self.venues[v];
                    if vr.rest_trade.is_some() && vr.trade_queue.len() < QUEUE_CAP {
                        vr.trade_queue.push_back(Job::Query { client: id, inst: p.intent.inst() });
                        phase = Phase::Querying { since_ns: now };
                    }
                }
                Phase::Querying { since_ns } if now.saturating_sub(since_ns) > 10_000 * MS => {
                    phase = Phase::Unknown { query_at_ns: now };
                }
                Phase::Answered => {
                    // The venue answered but the order is still open: for a
                    // cancel, the cancel was lost (propose it again); for an
                    // order, ask again later.
                    if let Intent::Cancel { .. } = p.intent {
                        self.pending.swap_remove(k);
                        if p.unknown {
                            self.inc(Counter::Resolved);
                        }
                        self.send_failed(p.intent, now);
                        continue;
                    }
                    phase = Phase::Unknown { query_at_ns: now + self.cfg.orders.query_retry_ms * MS };
                }
                _ => {}
            }
            if phase != p.phase {
                if matches!(phase, Phase::Unknown { .. }) && !p.unknown {
                    self.pending[k].unknown = true;
                    self.inc(Counter::Unknown);
                    self.event(EngineEvent::OrderUnknown { client: id });
                    self.log(LogLevel::Warn, log_code::ORDER_UNKNOWN, id.0 as i64);
                }
                self.pending[k].phase = phase;
            }
            k += 1;
        }
        self.counters[Counter::Unsettled as usize] = self.pending.iter().filter(|p| p.unknown).count() as u64;
    }

    /// Flattens a position whose market data stayed dark.
    fn dark_feeds(&mut self, now: u64) {
        let limit = self.cfg.flatten.dark_after_ms * MS;
        if limit == 0 {
            return;
        }
        for i in 0..self.insts.len() {
            let inst = InstrumentId(i as u16);
            if self.core.position(inst).0 == 0 {
                self.insts[i].dark_flattened = false;
                continue;
            }
            let last = self.insts[i].feeds.iter().map(|f| self.feed_last_ns[usize::from(f.0)]).max().unwrap_or(0);
            let dark = last > 0 && now.saturating_sub(last) > limit;
            if !dark {
                self.insts[i].dark_flattened = false;
            } else if !self.insts[i].dark_flattened {
                self.insts[i].dark_flattened = true;
                let instrument = self.instruments[i];
                self.core
                    .link_mut()
                    .inject(RiskCommand::Flatten { venue: instrument.venue, symbol: instrument.symbol });
                self.inc(Counter::DarkFlattens);
                self.event(EngineEvent::DarkFlatten { inst });
                self.log(LogLevel::Error, log_code::DARK_FLATTEN, i as i64);
            }
        }
    }

    fn publish(&mut self, now: u64) {
        let link = self.core.link();
        let c = link.counts();
        self.counters[Counter::Acked as usize] = c.acked;
        self.counters[Counter::Fills as usize] = c.fills;
        self.counters[Counter::Cancelled as usize] = c.cancelled;
        self.counters[Counter::Expired as usize] = c.expired;
        self.counters[Counter::Rejected as usize] = c.rejected;
        let cs = self.core.stats();
        self.counters[Counter::Duplicates as usize] = cs.duplicate_order_events;
        self.counters[Counter::RecorderDropped as usize] = self.rec.as_ref().map_or(0, RecordTap::dropped);
        self.counters[Counter::OrderContexts as usize] = link.contexts_sent();
        self.counters[Counter::ContextsDropped as usize] = link.contexts_dropped();
        let decode = cs.decode_errors;
        if let Some(allocations) = self.hooks.thread_allocations {
            self.counters[Counter::HotAllocations as usize] = allocations();
        }
        let mut counters = self.counters;
        counters[Counter::DecodeErrors as usize] += decode;
        self.stats.set_counters(&counters);
        for (i, c) in self.conns.iter().enumerate() {
            self.stats.set_conn(
                i,
                ConnStats { state: c.state, messages: c.messages, last_rx_unix_ns: c.last_rx_ns, downs: c.downs },
            );
        }
        for i in 0..self.insts.len() {
            let inst = InstrumentId(i as u16);
            let mid = self.core.prices(inst).mid;
            let (resyncs, live) = self
                .core
                .market()
                .get(inst)
                .map_or((0, false), |s| (s.sync.stats().resyncs, s.sync.state() == SyncState::Live));
            self.stats.set_inst(
                i,
                InstStats {
                    position: self.core.position(inst).0,
                    unrealised_e8: self.core.link().pnl().unrealised(i, mid).0,
                    resyncs,
                    book_live: live,
                },
            );
        }
        self.stats.set_totals(self.core.link().pnl().net().0, now);
        if self.core.link().risk_gone() && !self.risk_gone_told {
            self.risk_gone_told = true;
            self.event(EngineEvent::RiskGone);
        }
    }

    fn check_stop(&mut self, now: u64) {
        if self.stopping.is_some() {
            return;
        }
        let exit = self.core.stats().exit_requested;
        if exit && !self.exit_told {
            self.exit_told = true;
            self.event(EngineEvent::ExitRequested);
        }
        if !(self.stop.load(Ordering::Acquire) || exit) {
            return;
        }
        let flatten = self.cfg.flatten.on_exit;
        self.event(EngineEvent::Stopping { flatten });
        self.log(LogLevel::Warn, log_code::STOPPING, i64::from(flatten));
        let mut wait = self.cfg.flatten.exit_timeout_ms * MS;
        if flatten && !exit {
            // The risk thread's kill switch cancels, flattens and says Exit.
            self.core.link_mut().send_direct(&RiskInput::Kill);
            wait = wait.max(self.kill_timeout_ns + 5_000 * MS);
        } else {
            self.core.link_mut().inject(RiskCommand::CancelAll);
        }
        self.core.link_mut().halt_locally();
        self.stopping = Some(Stopping { flatten: flatten && !exit, deadline_ns: now + wait });
    }

    fn finished(&self, now: u64) -> bool {
        let Some(s) = &self.stopping else { return false };
        if now > s.deadline_ns {
            return true;
        }
        let open = self.core.ledger().orders().filter(|o| !o.status().is_terminal()).count();
        let quiet = open == 0 && self.outbox.is_empty();
        if s.flatten { (self.core.stats().exit_requested || self.core.link().risk_gone()) && quiet } else { quiet }
    }
}

/// A 200 answer that still reports an error in its body (Bybit `retCode`).
fn body_has_error(venue: Venue, body: &[u8]) -> bool {
    venue == Venue::BybitLinear && !body.windows(12).any(|w| w == b"\"retCode\":0,")
}

#[cfg(test)]
mod tests {
    use super::cpu_listed;

    #[test]
    fn kernel_cpu_lists() {
        assert!(cpu_listed("2-3,5", 3));
        assert!(cpu_listed("2-3,5", 5));
        assert!(!cpu_listed("2-3,5", 4));
        assert!(!cpu_listed("", 0));
    }
}
