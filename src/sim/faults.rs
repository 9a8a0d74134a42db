//! Fault injection: what can go wrong between a venue and its client, on
//! purpose, seeded, and counted.
//!
//! # The `--faults` language
//!
//! ```text
//! SPEC  = "all" | "none" | RULE ("," RULE)*
//! RULE  = KIND (":" KEY "=" VALUE)*
//! KEY   = p       probability per opportunity (see each kind), 0..=1
//!       | nth     every N-th opportunity (deterministic), N ≥ 1
//!       | every   at every multiple of this time since the start (time kinds)
//!       | at      once, this long after the start (time kinds; for ban and
//!                 rate-limit: the first request at or after it)
//!       | for     how long (stall, ban, delay, lifetime; each has a default)
//!       | route   public | market | private | orders | rest (limit to one kind of connection)
//! ```
//!
//! | kind | opportunity | effect |
//! |---|---|---|
//! | `disconnect` | a connection, each 100 ms (time kind) | the socket is closed without a close frame |
//! | `stall` | a connection, each 100 ms (time kind) | market frames stop for `for` (default 10 s), then resume (a gap follows) |
//! | `gap` | a depth frame on a connection | that one frame is not sent: a real `pu` / `u` gap |
//! | `delay` | a private message | held back `for` (default 250 ms); later messages overtake it |
//! | `duplicate` | a private message | sent twice |
//! | `reorder` | a private message | swapped with the next private message on the connection |
//! | `listenkey-expire` | a live listenKey, each 100 ms (time kind) | `listenKeyExpired` is pushed, the key dies, its streams close |
//! | `rate-limit` | a request (REST or order WebSocket) | refused as over the limit (Binance HTTP 429 / −1003, Bybit 10006) |
//! | `ban` | a request | the IP is banned for `for` (default 5 s): Binance HTTP 418, Bybit HTTP 403 |
//! | `lifetime` | — | every connection is closed when it is `for` old (the 24 h limit, scaled) |
//! | `order-drop` | an order request on an order WebSocket | executed, then the socket is closed before the response |
//! | `fill-drop` | a fill's execution message on a private stream (Binance `TRADE_LITE` / `ORDER_TRADE_UPDATE`, Bybit `execution`) | the stream is closed right before it: that fill's messages are lost, as a venue loses what it sends while a client reconnects (the client must fetch them: `userTrades`, execution list) |
//!
//! "Private message" means WS API / trade-socket responses and user-data
//! events (Binance `/private`, Bybit `/v5/private`). For time kinds `p` is
//! the chance per 100 ms check, so `p=0.001` fires about once per 100 s per
//! connection.
//!
//! `all` turns every kind on at these documented rates:
//! `disconnect:p=0.0005, stall:p=0.0003:for=5s, gap:p=0.005, delay:p=0.02:for=250ms,
//! duplicate:p=0.02, reorder:p=0.02, listenkey-expire:p=0.0005, rate-limit:p=0.01,
//! ban:p=0.002:for=3s, lifetime:for=10m, order-drop:p=0.01, fill-drop:p=0.01`.
//!
//! # Invariants
//! - Every decision draws from one seeded SplitMix64 stream, so a run with
//!   the same seed and the same sequence of opportunities makes the same
//!   decisions. (Opportunities depend on client timing, so two runs are not
//!   byte-identical end to end.)
//! - Every fault injected is counted per kind and logged (time, kind,
//!   connection, detail) in a bounded log; nothing is injected silently.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::backtest::latency::SplitMix64;

use super::config::parse_duration;

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Close a connection without a close frame.
    Disconnect,
    /// Stop market frames on a connection for a while.
    Stall,
    /// Skip one depth update on a connection.
    Gap,
    /// Hold a private message back.
    Delay,
    /// Send a private message twice.
    Duplicate,
    /// Swap a private message with the next one.
    Reorder,
    /// Expire a listenKey.
    ListenKeyExpire,
    /// Answer a request as over the rate limit.
    RateLimit,
    /// Ban the IP for a while.
    Ban,
    /// Close connections at a (scaled) maximum age.
    Lifetime,
    /// Drop the order socket after executing an order, before answering.
    OrderDrop,
    /// Drop a private stream right before a fill's execution message: that
    /// fill's messages are lost (the venue does not send them again).
    FillDrop,
}

impl FaultKind {
    /// Every kind, in report order.
    pub const ALL: [FaultKind; 12] = [
        FaultKind::Disconnect,
        FaultKind::Stall,
        FaultKind::Gap,
        FaultKind::Delay,
        FaultKind::Duplicate,
        FaultKind::Reorder,
        FaultKind::ListenKeyExpire,
        FaultKind::RateLimit,
        FaultKind::Ban,
        FaultKind::Lifetime,
        FaultKind::OrderDrop,
        FaultKind::FillDrop,
    ];

    /// The spec name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            FaultKind::Disconnect => "disconnect",
            FaultKind::Stall => "stall",
            FaultKind::Gap => "gap",
            FaultKind::Delay => "delay",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Reorder => "reorder",
            FaultKind::ListenKeyExpire => "listenkey-expire",
            FaultKind::RateLimit => "rate-limit",
            FaultKind::Ban => "ban",
            FaultKind::Lifetime => "lifetime",
            FaultKind::OrderDrop => "order-drop",
            FaultKind::FillDrop => "fill-drop",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }

    /// Whether opportunities are timed checks (per 100 ms) rather than events.
    #[must_use]
    pub const fn is_timed(self) -> bool {
        matches!(self, FaultKind::Disconnect | FaultKind::Stall | FaultKind::ListenKeyExpire)
    }

    fn default_for(self) -> Option<Duration> {
        match self {
            FaultKind::Stall => Some(Duration::from_secs(10)),
            FaultKind::Delay => Some(Duration::from_millis(250)),
            FaultKind::Ban => Some(Duration::from_secs(5)),
            _ => None,
        }
    }
}

/// What kind of connection a fault may hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    /// Binance `/public` (and unrouted paths), Bybit `/v5/public/linear`.
    Public,
    /// Binance `/market`.
    Market,
    /// Binance `/private`, Bybit `/v5/private`.
    Private,
    /// Binance WS API, Bybit `/v5/trade`.
    Orders,
    /// REST requests.
    Rest,
}

impl Route {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "public" => Route::Public,
            "market" => Route::Market,
            "private" => Route::Private,
            "orders" => Route::Orders,
            "rest" => Route::Rest,
            _ => return None,
        })
    }
}

/// When a rule fires.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trigger {
    /// With this probability per opportunity.
    Probability(f64),
    /// On every N-th opportunity.
    Nth(u64),
    /// At every multiple of this time since the start (time kinds).
    Every(Duration),
    /// Once, this long after the start (time kinds).
    At(Duration),
    /// No trigger (`lifetime`: applies to every connection).
    Always,
}

/// One rule of a spec.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultRule {
    /// What.
    pub kind: FaultKind,
    /// When.
    pub trigger: Trigger,
    /// How long (stall, ban, delay, lifetime).
    pub duration: Option<Duration>,
    /// Only connections of this route.
    pub route: Option<Route>,
}

impl FaultRule {
    /// The rule's duration, or its kind's default.
    #[must_use]
    pub fn duration_or_default(&self) -> Duration {
        self.duration.or(self.kind.default_for()).unwrap_or(Duration::ZERO)
    }

    fn applies_to(&self, route: Route) -> bool {
        self.route.is_none_or(|r| r == route)
    }
}

/// A parsed `--faults` spec.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    /// The rules, in spec order.
    pub rules: Vec<FaultRule>,
}

/// The spec could not be parsed.
///
/// # Errors
/// Returned by [`FaultPlan::parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--faults: {0}")]
pub struct BadFaultSpec(pub String);

/// The documented rates of `--faults all`.
pub const ALL_SPEC: &str = "disconnect:p=0.0005,stall:p=0.0003:for=5s,gap:p=0.005,delay:p=0.02:for=250ms,\
duplicate:p=0.02,reorder:p=0.02,listenkey-expire:p=0.0005,rate-limit:p=0.01,ban:p=0.002:for=3s,\
lifetime:for=10m,order-drop:p=0.01,fill-drop:p=0.01";

impl FaultPlan {
    /// Parses a spec (see the module documentation).
    ///
    /// # Errors
    /// [`BadFaultSpec`] naming the part that is wrong.
    pub fn parse(spec: &str) -> Result<Self, BadFaultSpec> {
        let spec = spec.trim();
        if spec.is_empty() || spec == "none" {
            return Ok(Self::default());
        }
        if spec == "all" {
            return Self::parse(ALL_SPEC);
        }
        let mut rules = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut items = part.split(':');
            let name = items.next().unwrap_or("");
            let kind = FaultKind::ALL
                .into_iter()
                .find(|k| k.name() == name)
                .ok_or_else(|| BadFaultSpec(format!("unknown fault kind {name:?} in {part:?}")))?;
            let mut rule = FaultRule { kind, trigger: Trigger::Always, duration: None, route: None };
            let mut triggers = 0;
            for item in items {
                let (key, value) = item
                    .split_once('=')
                    .ok_or_else(|| BadFaultSpec(format!("{part:?}: expected KEY=VALUE, got {item:?}")))?;
                let bad = |what: &str| BadFaultSpec(format!("{part:?}: {key}: {what} (got {value:?})"));
                match key {
                    "p" => {
                        let p: f64 = value.parse().map_err(|_| bad("not a number"))?;
                        if !(0.0..=1.0).contains(&p) {
                            return Err(bad("must be between 0 and 1"));
                        }
                        rule.trigger = Trigger::Probability(p);
                        triggers += 1;
                    }
                    "nth" => {
                        let n: u64 = value.parse().map_err(|_| bad("not a whole number"))?;
                        if n == 0 {
                            return Err(bad("must be at least 1"));
                        }
                        rule.trigger = Trigger::Nth(n);
                        triggers += 1;
                    }
                    "every" | "at" => {
                        let request_at = key == "at" && matches!(kind, FaultKind::Ban | FaultKind::RateLimit);
                        if !kind.is_timed() && !request_at {
                            return Err(bad(
                                "only disconnect, stall and listenkey-expire are timed (ban and rate-limit take at=); use p or nth",
                            ));
                        }
                        let d = parse_duration(value).map_err(|e| BadFaultSpec(format!("{part:?}: {e}")))?;
                        if d.is_zero() {
                            return Err(bad("must be more than zero"));
                        }
                        rule.trigger = if key == "every" { Trigger::Every(d) } else { Trigger::At(d) };
                        triggers += 1;
                    }
                    "for" => {
                        rule.duration =
                            Some(parse_duration(value).map_err(|e| BadFaultSpec(format!("{part:?}: {e}")))?);
                    }
                    "route" => rule.route = Some(Route::parse(value).ok_or_else(|| bad("unknown route"))?),
                    _ => return Err(BadFaultSpec(format!("{part:?}: unknown key {key:?}"))),
                }
            }
            if triggers > 1 {
                return Err(BadFaultSpec(format!("{part:?}: give one of p, nth, every, at")));
            }
            match (kind, rule.trigger) {
                (FaultKind::Lifetime, Trigger::Always) if rule.duration.is_none_or(|d| d.is_zero()) => {
                    return Err(BadFaultSpec(format!("{part:?}: lifetime needs for=DURATION (> 0)")));
                }
                (FaultKind::Lifetime, Trigger::Always) => {}
                (FaultKind::Lifetime, _) => {
                    return Err(BadFaultSpec(format!("{part:?}: lifetime takes only for=DURATION")));
                }
                (_, Trigger::Always) => {
                    return Err(BadFaultSpec(format!("{part:?}: give a trigger (p, nth, every or at)")));
                }
                _ => {}
            }
            rules.push(rule);
        }
        Ok(Self { rules })
    }

    /// `true` when no fault is planned.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The smallest connection age limit the plan sets (`lifetime`).
    #[must_use]
    pub fn lifetime(&self, route: Route) -> Option<Duration> {
        self.rules
            .iter()
            .filter(|r| r.kind == FaultKind::Lifetime && r.applies_to(route))
            .filter_map(|r| r.duration)
            .min()
    }
}

/// One injected fault, as logged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FaultEvent {
    /// When, ms since the Unix epoch.
    pub at_ms: i64,
    /// What.
    pub kind: FaultKind,
    /// Which connection (0: not a connection, e.g. a listenKey or an IP).
    pub conn: u64,
    /// Details (stream, request, key).
    pub detail: String,
}

/// Per-opportunity-source counters of a rule's `nth` trigger and its last
/// timed check.
#[derive(Debug, Clone, Default)]
pub struct FaultCursor {
    seen: [u64; FaultKind::ALL.len()],
    last_check: Option<Duration>,
    /// Request kinds whose `at=` rule has fired on this cursor (bit per kind).
    at_fired: u32,
}

impl FaultCursor {
    /// A fresh cursor with no timed check yet (a `p` / `nth` opportunity
    /// source such as the REST endpoint).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A cursor for something created `elapsed` after the simulator
    /// started: `at=` / `every=` times before its creation do not fire for it.
    #[must_use]
    pub fn starting_at(elapsed: Duration) -> Self {
        Self { last_check: Some(elapsed), ..Self::default() }
    }
}

/// Makes fault decisions and counts what it injected.
pub struct FaultInjector {
    plan: FaultPlan,
    /// When the injector was made (the simulator's start): request kinds'
    /// `at=` counts from it.
    started: std::time::Instant,
    rng: Mutex<SplitMix64>,
    counts: [AtomicU64; FaultKind::ALL.len()],
    log: Mutex<std::collections::VecDeque<FaultEvent>>,
    log_dropped: AtomicU64,
}

impl std::fmt::Debug for FaultInjector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultInjector").field("plan", &self.plan).finish()
    }
}

const LOG_CAPACITY: usize = 100_000;

impl FaultInjector {
    /// An injector for `plan`, drawing from `seed`.
    #[must_use]
    pub fn new(plan: FaultPlan, seed: u64) -> Self {
        Self {
            plan,
            started: std::time::Instant::now(),
            rng: Mutex::new(SplitMix64::new(seed)),
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            log: Mutex::new(std::collections::VecDeque::new()),
            log_dropped: AtomicU64::new(0),
        }
    }

    /// The plan.
    #[must_use]
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// `true` when any rule of `kind` could apply to `route`.
    #[must_use]
    pub fn has(&self, kind: FaultKind, route: Route) -> bool {
        self.plan.rules.iter().any(|r| r.kind == kind && r.applies_to(route))
    }

    fn uniform(&self) -> f64 {
        let bits = self.rng.lock().map_or(0, |mut r| r.next_u64());
        (bits >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An event opportunity (a frame, a message, a request) for `kind` on
    /// `route`: the rule that fires, if any. The caller injects it and then
    /// calls [`FaultInjector::record`].
    pub fn event(&self, kind: FaultKind, route: Route, cursor: &mut FaultCursor) -> Option<FaultRule> {
        let mut fired = None;
        let mut counted = false;
        for rule in self.plan.rules.iter().filter(|r| r.kind == kind && r.applies_to(route)) {
            if !counted {
                cursor.seen[kind.index()] += 1;
                counted = true;
            }
            let hit = match rule.trigger {
                Trigger::Probability(p) => self.uniform() < p,
                Trigger::Nth(n) => cursor.seen[kind.index()] % n == 0,
                // A request kind's `at=`: the first request at or after it.
                Trigger::At(at) => {
                    let bit = 1u32 << kind.index();
                    let due = cursor.at_fired & bit == 0 && self.started.elapsed() >= at;
                    if due {
                        cursor.at_fired |= bit;
                    }
                    due
                }
                Trigger::Every(_) | Trigger::Always => false,
            };
            if hit && fired.is_none() {
                fired = Some(*rule);
            }
        }
        fired
    }

    /// A timed check for `kind` on `route` at `elapsed` since the simulator
    /// started (the caller checks about every 100 ms).
    pub fn timed(
        &self,
        kind: FaultKind,
        route: Route,
        elapsed: Duration,
        cursor: &mut FaultCursor,
    ) -> Option<FaultRule> {
        // One cursor serves several kinds: the check time is recorded by
        // [`FaultInjector::checked`] after every kind has been evaluated.
        let last = cursor.last_check;
        let mut fired = None;
        for rule in self.plan.rules.iter().filter(|r| r.kind == kind && r.applies_to(route)) {
            let hit = match rule.trigger {
                Trigger::Probability(p) => self.uniform() < p,
                Trigger::Nth(n) => {
                    cursor.seen[kind.index()] += 1;
                    cursor.seen[kind.index()] % n == 0
                }
                Trigger::Every(d) => {
                    let now_k = elapsed.as_nanos() / d.as_nanos();
                    let last_k = last.map_or(0, |l| l.as_nanos() / d.as_nanos());
                    now_k > last_k
                }
                Trigger::At(d) => last.is_none_or(|l| l < d) && elapsed >= d,
                Trigger::Always => false,
            };
            if hit && fired.is_none() {
                fired = Some(*rule);
            }
        }
        fired
    }

    /// Marks the end of one round of timed checks on `cursor`.
    pub fn checked(cursor: &mut FaultCursor, elapsed: Duration) {
        cursor.last_check = Some(elapsed);
    }

    /// Counts and logs an injected fault.
    pub fn record(&self, kind: FaultKind, conn: u64, detail: impl Into<String>) {
        self.counts[kind.index()].fetch_add(1, Ordering::Relaxed);
        if let Ok(mut log) = self.log.lock() {
            if log.len() == LOG_CAPACITY {
                log.pop_front();
                self.log_dropped.fetch_add(1, Ordering::Relaxed);
            }
            log.push_back(FaultEvent { at_ms: super::stamps::unix_ms(), kind, conn, detail: detail.into() });
        }
    }

    /// Faults injected so far, per kind (every kind listed, zeros included).
    #[must_use]
    pub fn counts(&self) -> Vec<(FaultKind, u64)> {
        FaultKind::ALL.into_iter().map(|k| (k, self.counts[k.index()].load(Ordering::Relaxed))).collect()
    }

    /// Injected faults of one kind.
    #[must_use]
    pub fn count(&self, kind: FaultKind) -> u64 {
        self.counts[kind.index()].load(Ordering::Relaxed)
    }

    /// The fault log (oldest first) and how many entries fell off it.
    #[must_use]
    pub fn log(&self) -> (Vec<FaultEvent>, u64) {
        let log = self.log.lock().map(|l| l.iter().cloned().collect()).unwrap_or_default();
        (log, self.log_dropped.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules_and_all() {
        let plan = FaultPlan::parse("gap:nth=50, disconnect:at=2s:route=public,delay:p=0.5:for=10ms").unwrap();
        assert_eq!(plan.rules.len(), 3);
        assert_eq!(plan.rules[0].trigger, Trigger::Nth(50));
        assert_eq!(plan.rules[1].trigger, Trigger::At(Duration::from_secs(2)));
        assert_eq!(plan.rules[1].route, Some(Route::Public));
        assert_eq!(plan.rules[2].duration, Some(Duration::from_millis(10)));
        let all = FaultPlan::parse("all").unwrap();
        for kind in FaultKind::ALL {
            assert!(all.rules.iter().any(|r| r.kind == kind), "all covers {kind:?}");
        }
        assert_eq!(all.lifetime(Route::Public), Some(Duration::from_secs(600)));
        assert!(FaultPlan::parse("none").unwrap().is_empty());
    }

    #[test]
    fn refuses_bad_specs_with_the_part_named() {
        for (spec, needle) in [
            ("bogus:p=1", "unknown fault kind"),
            ("gap", "give a trigger"),
            ("gap:p=2", "between 0 and 1"),
            ("gap:every=1s", "only disconnect"),
            ("gap:nth=0", "at least 1"),
            ("stall:p=0.1:nth=3", "one of"),
            ("lifetime", "lifetime needs"),
            ("lifetime:for=1s:p=0.5", "only for"),
            ("delay:p=0.1:route=moon", "unknown route"),
            ("delay:p", "KEY=VALUE"),
        ] {
            let err = FaultPlan::parse(spec).unwrap_err().to_string();
            assert!(err.contains(needle), "{spec}: {err}");
        }
    }

    #[test]
    fn nth_and_probability_are_deterministic_and_counted() {
        let inj = FaultInjector::new(FaultPlan::parse("gap:nth=3").unwrap(), 7);
        let mut cur = FaultCursor::new();
        let fired: Vec<bool> = (0..9).map(|_| inj.event(FaultKind::Gap, Route::Public, &mut cur).is_some()).collect();
        assert_eq!(fired, [false, false, true, false, false, true, false, false, true]);
        assert!(inj.event(FaultKind::Delay, Route::Public, &mut cur).is_none(), "no delay rule");
        inj.record(FaultKind::Gap, 4, "btcusdt@depth");
        assert_eq!(inj.count(FaultKind::Gap), 1);
        assert_eq!(inj.log().0[0].conn, 4);

        let a = FaultInjector::new(FaultPlan::parse("delay:p=0.3").unwrap(), 42);
        let b = FaultInjector::new(FaultPlan::parse("delay:p=0.3").unwrap(), 42);
        let (mut ca, mut cb) = (FaultCursor::new(), FaultCursor::new());
        let da: Vec<bool> = (0..200).map(|_| a.event(FaultKind::Delay, Route::Private, &mut ca).is_some()).collect();
        let db: Vec<bool> = (0..200).map(|_| b.event(FaultKind::Delay, Route::Private, &mut cb).is_some()).collect();
        assert_eq!(da, db, "same seed, same decisions");
        let hits = da.iter().filter(|&&h| h).count();
        assert!((30..90).contains(&hits), "about 30% of 200, got {hits}");
    }

    /// `at=` on a request kind: the first request at or after the time,
    /// once per cursor.
    #[test]
    fn request_kinds_at_a_time() {
        let inj = FaultInjector::new(FaultPlan::parse("ban:at=80ms:for=1s").unwrap(), 1);
        let mut cur = FaultCursor::new();
        assert!(inj.event(FaultKind::Ban, Route::Rest, &mut cur).is_none(), "not before 80 ms");
        std::thread::sleep(Duration::from_millis(100));
        assert!(inj.event(FaultKind::Ban, Route::Rest, &mut cur).is_some(), "the first request after it");
        assert!(inj.event(FaultKind::Ban, Route::Rest, &mut cur).is_none(), "once");
        assert!(FaultPlan::parse("rate-limit:at=2s").is_ok());
        assert!(FaultPlan::parse("ban:every=2s").unwrap_err().0.contains("only disconnect"));
        assert!(FaultPlan::parse("gap:at=2s").unwrap_err().0.contains("ban and rate-limit take at="));
    }

    #[test]
    fn timed_triggers() {
        let inj = FaultInjector::new(FaultPlan::parse("disconnect:at=1s,stall:every=500ms").unwrap(), 1);
        let mut cur = FaultCursor::new();
        let mut at_fired = Vec::new();
        let mut every_fired = 0;
        for step in 1..=20u64 {
            let t = Duration::from_millis(step * 100);
            if inj.timed(FaultKind::Disconnect, Route::Public, t, &mut cur).is_some() {
                at_fired.push(step);
            }
            if inj.timed(FaultKind::Stall, Route::Public, t, &mut cur).is_some() {
                every_fired += 1;
            }
            FaultInjector::checked(&mut cur, t);
        }
        assert_eq!(at_fired, [10], "at=1s fires once, at 1 s");
        assert_eq!(every_fired, 4, "every=500ms fires at 0.5, 1.0, 1.5, 2.0 s");
        // Something created after 1 s is not hit by at=1s.
        let mut late = FaultCursor::starting_at(Duration::from_millis(1300));
        assert!(inj.timed(FaultKind::Disconnect, Route::Public, Duration::from_millis(1400), &mut late).is_none());
    }
}
