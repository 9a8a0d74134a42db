//! Bybit v5 linear as the simulator speaks it: `/v5/public/linear`,
//! `/v5/private`, `/v5/trade` and the REST endpoints a trading client needs.
//!
//! Sources (Bybit v5 documentation):
//! - WebSocket connect, `ping` / pong shapes, `subscribe` responses, `auth`:
//!   <https://bybit-exchange.github.io/docs/v5/ws/connect>
//! - Order book snapshot on subscribe, deltas, `u` / `seq`:
//!   <https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook>
//! - Tickers snapshot then deltas: <https://bybit-exchange.github.io/docs/v5/websocket/public/ticker>
//! - Trade WebSocket (`reqId`, `header`, `order.create` / `order.cancel`,
//!   `X-Bapi-Limit*` in the response header, 20006 for a repeated reqId):
//!   <https://bybit-exchange.github.io/docs/v5/websocket/trade/guideline>
//! - Private topics `order`, `execution`, `position`, `wallet`:
//!   <https://bybit-exchange.github.io/docs/v5/websocket/private/order> (and siblings)
//! - REST authentication (`X-BAPI-*` headers, sign = HMAC(timestamp + key +
//!   recvWindow + query or body)), envelope, errors, rate limits:
//!   <https://bybit-exchange.github.io/docs/v5/guide>,
//!   <https://bybit-exchange.github.io/docs/v5/error>,
//!   <https://bybit-exchange.github.io/docs/v5/rate-limit>
//!
//! # What is simulated and what is not
//! - Limit (GTC, IOC, PostOnly) and Market orders, one-way mode. A PostOnly
//!   order that would take is accepted and then cancelled with
//!   `EC_PostOnlyWillTakeLiquidity`, as the venue does.
//! - Order books are served at the depth the input carries (the recordings
//!   and the synthetic sessions carry `orderbook.200`) as replayed, and at
//!   smaller depths (`orderbook.50`, `orderbook.1`) derived from the
//!   simulator's book ([`DerivedBook`]); deeper ones are refused with a
//!   "not simulated" subscribe error, not silently.
//! - `order.amend`, batch orders, conditional orders, spot/inverse/option
//!   categories (instrument lists answer empty) are not simulated.
//! - The wording of Bybit's parameter errors (10001) is ours where the
//!   documentation gives only the code.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use hyper::{Method, Response, StatusCode};

use crate::fixed::{E8, Price, Qty};
use crate::instrument::Instrument;
use crate::order::{OrderKind, TimeInForce};
use crate::side::Side;

use super::exchange::{AccountEvent, Exec, Expiry, NewOrder, OrderError, OrderRecord, OrderStatus};
use super::faults::{FaultKind, FaultRule, Route};
use super::feed::{FeedFrame, FrameClass};
use super::json::{Json, escape_into, fixed, trimmed};
use super::request::{FixedWindow, hmac_ok, parse_params};
use super::server::{Body, Conn, ConnKind, Core, HttpCtx, Out, Shared, Stats, WsSetup, json_response, stamp_order};
use super::stamps::{OrderTransport, ShortText, unix_ms, unix_ns};

#[derive(Default)]
struct Inner {
    /// Order endpoint windows per (account, endpoint).
    uid: HashMap<(usize, &'static str), FixedWindow>,
    ip: HashMap<IpAddr, FixedWindow>,
    bans: HashMap<IpAddr, i64>,
    /// Trade-socket reqIds seen per connection.
    req_ids: HashMap<u64, std::collections::HashSet<String>>,
    /// Disconnection protection: the window per account, ms.
    dcp_window: HashMap<usize, i64>,
    /// Accounts whose trade socket dropped: cancel-all due at this time, ms.
    dcp_due: HashMap<usize, i64>,
}

/// Bybit state outside the exchange core.
#[derive(Default)]
pub(crate) struct VenueState {
    inner: Mutex<Inner>,
}

impl VenueState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A `tickers` topic's merged state (fields in first-seen order), for the
/// snapshot a new subscriber gets.
#[derive(Debug, Clone, Default)]
pub(crate) struct TickerDoc {
    fields: Vec<(String, String)>,
    cs: u64,
    ts: i64,
}

/// The top-level members of a JSON object, in order, as raw JSON text.
fn ordered_members(text: &str) -> Option<Vec<(String, String)>> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, Box<serde_json::value::RawValue>>()? {
                out.push((k, v.get().to_owned()));
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    serde::Deserializer::deserialize_map(&mut de, V).ok()
}

impl TickerDoc {
    /// Folds one `tickers` push (its whole frame text) into the state: a
    /// snapshot replaces the fields, a delta updates or appends them.
    fn apply(&mut self, text: &str, snapshot: bool) {
        let Some(top) = ordered_members(text) else { return };
        if snapshot {
            self.fields.clear();
        }
        for (k, v) in &top {
            match k.as_str() {
                "data" => {
                    for (fk, fv) in ordered_members(v).unwrap_or_default() {
                        match self.fields.iter_mut().find(|(n, _)| *n == fk) {
                            Some(slot) => slot.1 = fv,
                            None => self.fields.push((fk, fv)),
                        }
                    }
                }
                "cs" => self.cs = v.parse().unwrap_or(self.cs),
                "ts" => self.ts = v.parse().unwrap_or(self.ts),
                _ => {}
            }
        }
    }
}

/// Folds a recorded `tickers` push into the topic's merged state.
pub(crate) fn merge_ticker(core: &mut Core, topic: &str, snapshot: bool, frame: &[u8]) {
    if let Ok(text) = std::str::from_utf8(frame) {
        core.bybit_tickers.entry(topic.to_owned()).or_default().apply(text, snapshot);
    }
}

fn ticker_snapshot(topic: &str, doc: &TickerDoc) -> String {
    let mut j = Json::new();
    j.open().str("topic", topic).str("type", "snapshot").open_obj("data");
    for (k, v) in &doc.fields {
        j.raw(k, v);
    }
    j.close().uint("cs", doc.cs).int("ts", doc.ts).close();
    j.finish()
}

/// An order book served at a smaller depth than the input's (`orderbook.1`
/// or `orderbook.50` from an `orderbook.200` input), kept as the venue keeps
/// it: after every change of the simulator's book, a delta with the levels
/// that changed within the top `depth` and the levels that left it (size
/// `0`), under its own consecutive `u`.
#[derive(Debug, Clone)]
pub(crate) struct DerivedBook {
    inst: usize,
    depth: usize,
    u: u64,
    bids: Vec<(i64, i64)>,
    asks: Vec<(i64, i64)>,
}

fn top(ladder: &crate::book::Ladder, depth: usize) -> Vec<(i64, i64)> {
    ladder.iter().take(depth).map(|(p, q)| (p.0, q.0)).collect()
}

/// Levels of `new` that differ from `old`, and `old` levels gone from `new` (size 0).
fn level_changes(old: &[(i64, i64)], new: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = new.iter().filter(|l| !old.contains(l)).copied().collect();
    out.extend(old.iter().filter(|(p, _)| !new.iter().any(|(n, _)| n == p)).map(|&(p, _)| (p, 0)));
    out
}

#[allow(clippy::too_many_arguments)]
fn book_message(
    topic: &str,
    kind: &str,
    i: &Instrument,
    bids: &[(i64, i64)],
    asks: &[(i64, i64)],
    u: u64,
    seq: u64,
    ts: i64,
    cts: i64,
) -> String {
    let mut j = Json::new();
    j.open().str("topic", topic).str("type", kind).int("ts", ts).open_obj("data").str("s", i.symbol.as_str());
    for (key, levels) in [("b", bids), ("a", asks)] {
        j.open_arr(key);
        for &(p, q) in levels {
            let qty = if q == 0 { "0".to_owned() } else { fixed(q, i.qty_scale) };
            j.open_arr_value().str_value(&fixed(p, i.price_scale)).str_value(&qty).close_arr();
        }
        j.close_arr();
    }
    j.uint("u", u).uint("seq", seq).close().int("cts", cts).close();
    j.finish()
}

/// After an input order book frame: remembers the input's depth and returns
/// the derived books' deltas as (topic, u, text).
pub(crate) fn after_book_frame(
    core: &mut Core,
    topic: &str,
    info: &super::exchange::FrameInfo,
) -> Vec<(String, u64, String)> {
    if let ["orderbook", depth, sym] = topic.split('.').collect::<Vec<_>>().as_slice() {
        if let Ok(d) = depth.parse::<usize>() {
            core.bybit_source_depth.insert((*sym).to_owned(), d);
        }
    }
    let Some(inst) = info.inst else { return Vec::new() };
    let mut derived = std::mem::take(&mut core.bybit_derived);
    let mut out = Vec::new();
    if let Some((book, ids)) = core.ex.book(inst) {
        let i = core.ex.instruments()[inst];
        for (t, db) in derived.iter_mut().filter(|(_, db)| db.inst == inst) {
            let (bids, asks) = (top(book.bids(), db.depth), top(book.asks(), db.depth));
            let (db_bids, db_asks) = (level_changes(&db.bids, &bids), level_changes(&db.asks, &asks));
            if db_bids.is_empty() && db_asks.is_empty() {
                continue;
            }
            db.u += 1;
            db.bids = bids;
            db.asks = asks;
            let ts = if info.event_ms > 0 { info.event_ms } else { unix_ms() };
            let text = book_message(t, "delta", &i, &db_bids, &db_asks, db.u, ids.seq, ts, ids.transact_ms.max(ts));
            out.push((t.clone(), db.u, text));
        }
    }
    core.bybit_derived = derived;
    out
}

fn book_snapshot(core: &Core, topic: &str, inst: usize, depth: usize) -> Option<String> {
    let (book, ids) = core.ex.book(inst)?;
    let i = core.ex.instruments()[inst];
    let mut j = Json::new();
    j.open().str("topic", topic).str("type", "snapshot").int("ts", unix_ms()).open_obj("data");
    j.str("s", i.symbol.as_str());
    for (key, ladder) in [("b", book.bids()), ("a", book.asks())] {
        j.open_arr(key);
        for (p, q) in ladder.iter().take(depth) {
            j.open_arr_value().str_value(&fixed(p.0, i.price_scale)).str_value(&fixed(q.0, i.qty_scale)).close_arr();
        }
        j.close_arr();
    }
    j.uint("u", ids.last_id).uint("seq", ids.seq).close().int("cts", ids.transact_ms.max(ids.event_ms)).close();
    Some(j.finish())
}

/// A venue error (`retCode`, `retMsg`) and the HTTP status it travels with.
#[derive(Debug, Clone)]
struct Error {
    status: StatusCode,
    code: i64,
    msg: String,
}

impl Error {
    fn new(code: i64, msg: impl Into<String>) -> Self {
        Self { status: StatusCode::OK, code, msg: msg.into() }
    }

    fn params(msg: &str) -> Self {
        Self::new(10001, format!("params error: {msg}"))
    }

    fn not_simulated(what: &str) -> Self {
        Self::new(10001, format!("scalpel sim does not simulate {what}"))
    }
}

fn order_error(e: OrderError, inst: &Instrument) -> Error {
    match e {
        OrderError::QtyNotPositive | OrderError::QtyOffStep | OrderError::QtyBelowMin | OrderError::QtyAboveMax => {
            Error::params("Qty invalid")
        }
        OrderError::PriceNotPositive | OrderError::PriceOffTick => Error::params("Price invalid"),
        OrderError::MinNotional => Error::new(
            110_094,
            format!("Order does not meet minimum order value {}USDT", trimmed(inst.min_notional.0, E8)),
        ),
        OrderError::DuplicateClientId => Error::new(110_072, "OrderLinkedID is duplicate"),
        OrderError::ReduceOnlyRejected => Error::new(110_017, "Reduce-only rule not satisfied"),
        OrderError::InsufficientMargin => Error::new(110_007, "ab not enough for new order"),
        OrderError::PostOnlyWouldTake | OrderError::NoMarket => Error::new(10016, "Server error."),
        OrderError::UnknownOrder => Error::new(110_001, "Order does not exist"),
    }
}

/// Rate-limit header values of one response.
#[derive(Debug, Clone, Copy)]
struct Limit {
    limit: u32,
    remaining: u32,
    reset_ms: i64,
}

fn limit_headers(l: Option<Limit>) -> Vec<(&'static str, String)> {
    let mut h = vec![("Timenow", unix_ms().to_string())];
    if let Some(l) = l {
        h.push(("X-Bapi-Limit", l.limit.to_string()));
        h.push(("X-Bapi-Limit-Status", l.remaining.to_string()));
        h.push(("X-Bapi-Limit-Reset-Timestamp", l.reset_ms.to_string()));
    }
    h
}

fn envelope(result: Result<String, Error>) -> (StatusCode, String, i64) {
    let mut j = Json::new();
    let (status, code) = match &result {
        Ok(_) => (StatusCode::OK, 0),
        Err(e) => (e.status, e.code),
    };
    j.open().int("retCode", code);
    match result {
        Ok(r) => {
            j.str("retMsg", "OK").raw("result", &r);
        }
        Err(e) => {
            j.str("retMsg", &e.msg).raw("result", "{}");
        }
    }
    j.raw("retExtInfo", "{}").int("time", unix_ms()).close();
    (status, j.finish(), code)
}

fn rest_reply(shared: &Shared, result: Result<String, Error>, limit: Option<Limit>) -> Response<Body> {
    let (status, body, code) = envelope(result);
    if code != 0 {
        shared.count_error(code);
    }
    json_response(status, body, &limit_headers(limit))
}

/// IP limit, bans and injected faults for a request from `ip`.
fn admit_ip(shared: &Shared, ip: IpAddr, fault: impl Fn(FaultKind) -> Option<FaultRule>) -> Result<(), Response<Body>> {
    let now = unix_ms();
    let limits = shared.cfg.limits;
    let forbidden = || {
        Response::builder()
            .status(StatusCode::FORBIDDEN)
            .body(http_body_util::Full::new(Bytes::from_static(b"403 Forbidden: access too frequent")))
            .unwrap_or_else(|_| Response::new(http_body_util::Full::new(Bytes::new())))
    };
    {
        let mut inner = shared.bybit.lock();
        if let Some(&until) = inner.bans.get(&ip) {
            if now < until {
                Stats::inc(&shared.stats.banned_requests);
                return Err(forbidden());
            }
            inner.bans.remove(&ip);
        }
        let used = inner.ip.entry(ip).or_insert_with(|| FixedWindow::new(5_000)).hit(now, 1);
        if used > limits.bybit_ip_per_5s {
            Stats::inc(&shared.stats.rate_limited);
            let until = now + i64::try_from(limits.bybit_ip_ban.as_millis()).unwrap_or(i64::MAX / 2);
            inner.bans.insert(ip, until);
            return Err(forbidden());
        }
    }
    if let Some(rule) = fault(FaultKind::Ban) {
        let until = now + i64::try_from(rule.duration_or_default().as_millis()).unwrap_or(0);
        shared.bybit.lock().bans.insert(ip, until);
        shared.faults.record(FaultKind::Ban, 0, format!("{ip} blocked (HTTP 403) for {} ms", until - now));
        return Err(forbidden());
    }
    Ok(())
}

/// The per-account endpoint window (order endpoints).
fn admit_uid(
    shared: &Shared,
    account: usize,
    endpoint: &'static str,
    fault: impl Fn(FaultKind) -> Option<FaultRule>,
) -> Result<Limit, (Error, Limit)> {
    let now = unix_ms();
    let limit = shared.cfg.limits.bybit_orders_per_s;
    let (used, reset) = {
        let mut inner = shared.bybit.lock();
        let w = inner.uid.entry((account, endpoint)).or_insert_with(|| FixedWindow::new(1_000));
        (w.hit(now, 1), w.reset_ms())
    };
    let l = Limit { limit, remaining: limit.saturating_sub(used), reset_ms: reset };
    if used > limit {
        Stats::inc(&shared.stats.rate_limited);
        return Err((Error::new(10006, "Too many visits. Exceeded the API Rate Limit."), l));
    }
    if fault(FaultKind::RateLimit).is_some() {
        shared.faults.record(FaultKind::RateLimit, 0, format!("{endpoint} answered 10006"));
        return Err((Error::new(10006, "Too many visits. Exceeded the API Rate Limit."), l));
    }
    Ok(l)
}

fn check_time(shared: &Shared, ts: Option<&str>, recv: Option<&str>) -> Result<(), Error> {
    let now = unix_ms();
    let ts_v: i64 = ts
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| Error::new(10002, "invalid request, please check your timestamp and recv_window param"))?;
    let rw: i64 = match recv {
        None => 5000,
        Some(r) => r.parse().map_err(|_| Error::params("recv_window invalid"))?,
    };
    if rw <= 0 || rw > i64::try_from(shared.cfg.limits.max_recv_window_ms).unwrap_or(i64::MAX) {
        return Err(Error::params("recv_window invalid"));
    }
    if ts_v > now + 1000 || now.saturating_sub(ts_v) > rw {
        Stats::inc(&shared.stats.bad_timestamps);
        return Err(Error::new(
            10002,
            format!(
                "invalid request, please check your server timestamp or recv_window param. req_timestamp[{ts_v}],server_timestamp[{now}],recv_window[{rw}]"
            ),
        ));
    }
    Ok(())
}

/// Authenticates a private REST request; returns the account.
fn authenticate(shared: &Shared, ctx: &HttpCtx) -> Result<usize, Error> {
    let key = ctx.header("x-bapi-api-key").ok_or_else(|| Error::new(10003, "API key is invalid."))?;
    let account =
        shared.core().ex.account_by_key(key.as_bytes()).ok_or_else(|| Error::new(10003, "API key is invalid."))?;
    let ts = ctx.header("x-bapi-timestamp").unwrap_or("");
    let recv = ctx.header("x-bapi-recv-window");
    let sign = ctx.header("x-bapi-sign").ok_or_else(|| Error::new(10004, "error sign! origin_string[]"))?;
    let payload: &[u8] = if ctx.method == Method::GET { ctx.query.as_bytes() } else { &ctx.body };
    let spec = shared.core().ex.account_spec(account).cloned();
    let recv_text = recv.unwrap_or("");
    let ok = spec
        .and_then(|s| s.hmac)
        .is_some_and(|c| hmac_ok(&c.secret, &[ts.as_bytes(), key.as_bytes(), recv_text.as_bytes(), payload], sign));
    if !ok {
        Stats::inc(&shared.stats.bad_signatures);
        let origin = format!("{ts}{key}{recv_text}{}", String::from_utf8_lossy(payload));
        let mut msg = String::from("error sign! origin_string[");
        escape_into(&mut msg, &origin);
        msg.push(']');
        return Err(Error::new(10004, msg));
    }
    check_time(shared, Some(ts), recv)?;
    Ok(account)
}

fn side_of(text: &str) -> Result<Side, Error> {
    match text {
        "Buy" => Ok(Side::Buy),
        "Sell" => Ok(Side::Sell),
        _ => Err(Error::params("side invalid")),
    }
}

fn decimal(text: &str, scale: u8, what: &str) -> Result<i64, Error> {
    crate::fixed::parse_decimal_trimmed(text.as_bytes(), scale, true).map_err(|_| Error::params(what))
}

/// A JSON object's fields as text (strings unquoted, other values raw).
fn fields(v: &serde_json::Value) -> HashMap<String, String> {
    v.as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect())
        .unwrap_or_default()
}

fn category_ok(f: &HashMap<String, String>) -> Result<(), Error> {
    match f.get("category").map(String::as_str) {
        Some("linear") => Ok(()),
        None => Err(Error::params("category invalid")),
        Some(other) => Err(Error::not_simulated(&format!("category {other}"))),
    }
}

fn new_order(core: &Core, f: &HashMap<String, String>) -> Result<NewOrder, Error> {
    category_ok(f)?;
    let symbol = f.get("symbol").ok_or_else(|| Error::params("symbol invalid"))?;
    let inst = core.ex.inst_of(symbol).ok_or_else(|| Error::params("symbol invalid"))?;
    let i = core.ex.instruments()[inst];
    let side = side_of(f.get("side").map_or("", String::as_str))?;
    let kind = match f.get("orderType").map(String::as_str) {
        Some("Limit") => OrderKind::Limit,
        Some("Market") => OrderKind::Market,
        _ => return Err(Error::params("orderType invalid")),
    };
    if f.get("triggerPrice").is_some_and(|t| !t.is_empty() && t != "0") {
        return Err(Error::not_simulated("conditional orders"));
    }
    if f.get("positionIdx").is_some_and(|p| p != "0") {
        return Err(Error::new(10001, "position idx not match position mode"));
    }
    let tif = match (kind, f.get("timeInForce").map(String::as_str)) {
        (OrderKind::Market, _) | (OrderKind::Limit, None | Some("GTC")) => TimeInForce::Gtc,
        (OrderKind::Limit, Some("IOC")) => TimeInForce::Ioc,
        (OrderKind::Limit, Some("PostOnly")) => TimeInForce::PostOnly,
        (OrderKind::Limit, Some("FOK" | "RPI")) => return Err(Error::not_simulated("FOK / RPI orders")),
        _ => return Err(Error::params("timeInForce invalid")),
    };
    let qty = Qty(decimal(f.get("qty").map_or("", String::as_str), i.qty_scale, "Qty invalid")?);
    let price = match kind {
        OrderKind::Limit => Price(decimal(f.get("price").map_or("", String::as_str), i.price_scale, "Price invalid")?),
        OrderKind::Market => Price::ZERO,
    };
    let reduce_only = match f.get("reduceOnly").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(Error::params("reduceOnly invalid")),
    };
    let client = match f.get("orderLinkId") {
        Some(c) if c.len() <= 36 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
            ShortText::new(c).unwrap_or_default()
        }
        Some(_) => return Err(Error::params("orderLinkId invalid")),
        None => ShortText::default(),
    };
    Ok(NewOrder { inst, side, kind, tif, price, qty, reduce_only, client })
}

/// Places an order; returns `{orderId, orderLinkId}` JSON.
fn place(shared: &Shared, account: usize, f: &HashMap<String, String>) -> Result<String, Error> {
    let mut core = shared.core();
    let order = new_order(&core, f)?;
    let inst = core.ex.instruments()[order.inst];
    let mut events = Vec::new();
    let placed = core.ex.place(account, order, unix_ns(), &mut events).map_err(|e| order_error(e, &inst))?;
    shared.deliver_events(&core, &mut events);
    Ok(id_pair(&core, &placed.order))
}

fn id_pair(core: &Core, o: &OrderRecord) -> String {
    let mut j = Json::new();
    j.open().str("orderId", &core.ex.uuid_of(o.id, 0)).str("orderLinkId", o.client.as_str()).close();
    j.finish()
}

fn find_order(core: &Core, account: usize, f: &HashMap<String, String>) -> Result<u64, Error> {
    let symbol = f.get("symbol").ok_or_else(|| Error::params("symbol invalid"))?;
    let inst = core.ex.inst_of(symbol).ok_or_else(|| Error::params("symbol invalid"))?;
    let found = if let Some(id) = f.get("orderId").filter(|s| !s.is_empty()) {
        core.ex.orders_of(account, Some(inst)).find(|o| core.ex.uuid_of(o.id, 0) == *id).map(|o| o.id)
    } else if let Some(c) = f.get("orderLinkId").filter(|s| !s.is_empty()) {
        core.ex.order_by_client(account, inst, c).map(|o| o.id)
    } else {
        return Err(Error::params("orderId or orderLinkId is required"));
    };
    found.ok_or_else(|| Error::new(110_001, "Order does not exist"))
}

fn cancel(shared: &Shared, account: usize, f: &HashMap<String, String>) -> Result<String, Error> {
    category_ok(f)?;
    let mut core = shared.core();
    let id = find_order(&core, account, f)?;
    let inst = core
        .ex
        .order(account, id)
        .map(|o| core.ex.instruments()[o.inst])
        .ok_or_else(|| Error::new(110_001, "Order does not exist"))?;
    let mut events = Vec::new();
    let o = core.ex.cancel(account, id, unix_ns(), &mut events).map_err(|e| order_error(e, &inst))?;
    shared.deliver_events(&core, &mut events);
    Ok(id_pair(&core, &o))
}

fn cancel_all(shared: &Shared, account: usize, f: &HashMap<String, String>) -> Result<String, Error> {
    category_ok(f)?;
    let mut core = shared.core();
    let inst = match f.get("symbol") {
        Some(s) => Some(core.ex.inst_of(s).ok_or_else(|| Error::params("symbol invalid"))?),
        None => None,
    };
    let mut events = Vec::new();
    let cancelled = core.ex.cancel_all(account, inst, unix_ns(), &mut events);
    shared.deliver_events(&core, &mut events);
    let mut j = Json::new();
    j.open().open_arr("list");
    for o in &cancelled {
        j.raw_value(&id_pair(&core, o));
    }
    j.close_arr().str("success", "1").close();
    Ok(j.finish())
}

fn status_text(o: &OrderRecord) -> &'static str {
    match o.status {
        OrderStatus::New => "New",
        OrderStatus::PartiallyFilled => "PartiallyFilled",
        OrderStatus::Filled => "Filled",
        OrderStatus::Canceled | OrderStatus::Expired if o.filled > 0 => "PartiallyFilledCanceled",
        OrderStatus::Canceled | OrderStatus::Expired => "Cancelled",
    }
}

fn tif_text(o: &OrderRecord) -> &'static str {
    match (o.kind, o.tif) {
        (OrderKind::Market, _) => "IOC",
        (_, TimeInForce::Gtc) => "GTC",
        (_, TimeInForce::Ioc) => "IOC",
        (_, TimeInForce::PostOnly) => "PostOnly",
    }
}

/// An order as the `order` topic and the order queries show it.
fn order_row(j: &mut Json, core: &Core, o: &OrderRecord) {
    let i = core.ex.instruments()[o.inst];
    let avg = o.avg_price_e8(&i);
    let leaves = o.leaves();
    let leaves_value = crate::fixed::notional(o.price, i.price_scale, Qty(leaves), i.qty_scale).map_or(0, |n| n.0);
    let (cancel_type, reject) = match (o.status, o.expiry) {
        (OrderStatus::Expired, Some(Expiry::PostOnlyWouldTake)) => ("UNKNOWN", "EC_PostOnlyWillTakeLiquidity"),
        (OrderStatus::Canceled, _) => ("CancelByUser", "EC_NoError"),
        _ => ("UNKNOWN", "EC_NoError"),
    };
    j.open()
        .str("category", "linear")
        .str("symbol", i.symbol.as_str())
        .str("orderId", &core.ex.uuid_of(o.id, 0))
        .str("orderLinkId", o.client.as_str())
        .str("blockTradeId", "")
        .str("side", o.side.title())
        .int("positionIdx", 0)
        .str("orderStatus", status_text(o))
        .str("cancelType", cancel_type)
        .str("rejectReason", reject)
        .str("avgPrice", &if avg > 0 { trimmed(avg, E8) } else { String::new() })
        .str("leavesQty", &trimmed(leaves, i.qty_scale))
        .str("leavesValue", &trimmed(leaves_value, E8))
        .str("cumExecQty", &trimmed(o.filled, i.qty_scale))
        .str("cumExecValue", &trimmed(o.filled_quote_e8(&i), E8))
        .str("cumExecFee", &trimmed(o.fees, E8))
        .str("timeInForce", tif_text(o))
        .str("orderType", if o.kind == OrderKind::Limit { "Limit" } else { "Market" })
        .str("stopOrderType", "")
        .str("orderIv", "")
        .str("triggerPrice", "")
        .str("takeProfit", "")
        .str("stopLoss", "")
        .str("tpTriggerBy", "")
        .str("slTriggerBy", "")
        .int("triggerDirection", 0)
        .str("triggerBy", "")
        .str("lastPriceOnCreated", "")
        .bool("reduceOnly", o.reduce_only)
        .bool("closeOnTrigger", false)
        .str("placeType", "")
        .str("smpType", "None")
        .int("smpGroup", 0)
        .str("smpOrderId", "")
        .str("createdTime", &o.created_ms.to_string())
        .str("updatedTime", &o.updated_ms.to_string())
        .str("price", &if o.kind == OrderKind::Limit { trimmed(o.price.0, i.price_scale) } else { "0".into() })
        .str("qty", &trimmed(o.qty.0, i.qty_scale))
        .str("feeCurrency", "")
        .close();
}

fn execution_row(j: &mut Json, core: &Core, o: &OrderRecord, x: &super::exchange::Execution) {
    let i = core.ex.instruments()[o.inst];
    let value = crate::fixed::notional(x.price, i.price_scale, x.qty, i.qty_scale).map_or(0, |n| n.0);
    let rate = if x.maker { i.fees.maker.0 } else { i.fees.taker.0 };
    j.open()
        .str("category", "linear")
        .str("symbol", i.symbol.as_str())
        .str("isLeverage", "0")
        .str("orderId", &core.ex.uuid_of(o.id, 0))
        .str("orderLinkId", o.client.as_str())
        .str("side", o.side.title())
        .str("orderPrice", &if o.kind == OrderKind::Limit { trimmed(o.price.0, i.price_scale) } else { "0".into() })
        .str("orderQty", &trimmed(o.qty.0, i.qty_scale))
        .str("leavesQty", &trimmed(o.leaves(), i.qty_scale))
        .str("createType", "CreateByUser")
        .str("orderType", if o.kind == OrderKind::Limit { "Limit" } else { "Market" })
        .str("stopOrderType", "")
        .str("execFee", &trimmed(x.fee.0, E8))
        .str("execId", &core.ex.uuid_of(x.trade_id, 1))
        .str("execPrice", &fixed(x.price.0, i.price_scale))
        .str("execQty", &trimmed(x.qty.0, i.qty_scale))
        .str("execType", "Trade")
        .str("execValue", &trimmed(value, E8))
        .str("execTime", &x.ts_ms.to_string())
        .bool("isMaker", x.maker)
        .str("feeRate", &trimmed(rate, E8))
        .str("tradeIv", "")
        .str("markIv", "")
        .str("markPrice", &trimmed(core.ex.mark_e8(o.inst), E8))
        .str("indexPrice", "")
        .str("underlyingPrice", "")
        .str("blockTradeId", "")
        .str("closedSize", "")
        .uint("seq", x.trade_id)
        .str("extraFees", "")
        .close();
}

fn position_row(j: &mut Json, core: &Core, account: usize, inst: usize) {
    let i = core.ex.instruments()[inst];
    let p = core.ex.position(account, inst);
    let side = match p.qty.signum() {
        1 => "Buy",
        -1 => "Sell",
        _ => "",
    };
    let value = i128::from(p.entry_e8) * i128::from(p.qty.abs()) / 10i128.pow(u32::from(i.qty_scale));
    let value = i64::try_from(value).unwrap_or(0);
    j.open()
        .int("positionIdx", 0)
        .int("tradeMode", 0)
        .int("riskId", 1)
        .str("riskLimitValue", "2000000")
        .str("symbol", i.symbol.as_str())
        .str("side", side)
        .str("size", &trimmed(p.qty.abs(), i.qty_scale))
        .str("entryPrice", &if p.qty == 0 { "0".into() } else { trimmed(p.entry_e8, E8) })
        .str("sessionAvgPrice", "")
        .str("leverage", &core.ex.leverage_of(account, inst).to_string())
        .str("positionValue", &trimmed(value, E8))
        .str("positionBalance", "0")
        .str("markPrice", &trimmed(core.ex.mark_e8(inst), E8))
        .str("positionIM", &trimmed(value / core.ex.leverage_of(account, inst), E8))
        .str("positionMM", "0")
        .str("takeProfit", "0")
        .str("stopLoss", "0")
        .str("trailingStop", "0")
        .str("unrealisedPnl", &trimmed(core.ex.unrealized_e8(account, inst), E8))
        .str("curRealisedPnl", &trimmed(p.realized_e8, E8))
        .str("cumRealisedPnl", &trimmed(p.realized_e8, E8))
        .str("createdTime", &p.updated_ms.to_string())
        .str("updatedTime", &p.updated_ms.to_string())
        .str("tpslMode", "Full")
        .str("liqPrice", "")
        .str("bustPrice", "")
        .str("category", "linear")
        .str("positionStatus", "Normal")
        .int("adlRankIndicator", 0)
        .int("autoAddMargin", 0)
        .uint("seq", u64::try_from(p.updated_ms).unwrap_or(0))
        .bool("isReduceOnly", false)
        .close();
}

fn wallet_row(j: &mut Json, core: &Core, account: usize) {
    let wallet = core.ex.wallet(account);
    let upl: i64 = core.ex.venue_instruments().map(|(i, _)| core.ex.unrealized_e8(account, i)).sum();
    let avail = core.ex.available_e8(account);
    let pos_im = core.ex.position_margin_e8(account);
    let ord_im = core.ex.order_margin_e8(account);
    let equity = wallet + upl;
    j.open()
        .str("accountType", "UNIFIED")
        .str("accountIMRate", "0")
        .str("accountMMRate", "0")
        .str("accountLTV", "0")
        .str("totalEquity", &trimmed(equity, E8))
        .str("totalWalletBalance", &trimmed(wallet, E8))
        .str("totalMarginBalance", &trimmed(equity, E8))
        .str("totalAvailableBalance", &trimmed(avail, E8))
        .str("totalPerpUPL", &trimmed(upl, E8))
        .str("totalInitialMargin", &trimmed(pos_im + ord_im, E8))
        .str("totalMaintenanceMargin", "0");
    j.open_arr("coin");
    j.open()
        .str("coin", "USDT")
        .str("equity", &trimmed(equity, E8))
        .str("usdValue", &trimmed(equity, E8))
        .str("walletBalance", &trimmed(wallet, E8))
        .str("availableToWithdraw", &trimmed(avail.max(0), E8))
        .str("availableToBorrow", "")
        .str("borrowAmount", "0")
        .str("accruedInterest", "0")
        .str("totalOrderIM", &trimmed(ord_im, E8))
        .str("totalPositionIM", &trimmed(pos_im, E8))
        .str("totalPositionMM", "0")
        .str("unrealisedPnl", &trimmed(upl, E8))
        .str("cumRealisedPnl", "0")
        .str("bonus", "0")
        .bool("collateralSwitch", true)
        .bool("marginCollateral", true)
        .str("locked", "0")
        .str("spotHedgingQty", "0")
        .close();
    j.close_arr().close();
}

fn instruments_info(core: &Core, f: &HashMap<String, String>) -> Result<String, Error> {
    let category = f.get("category").map(String::as_str).unwrap_or("");
    let mut j = Json::new();
    j.open().str("category", category).open_arr("list");
    if category == "linear" {
        for (_, i) in core.ex.venue_instruments() {
            if f.get("symbol").is_some_and(|s| s != i.symbol.as_str()) {
                continue;
            }
            let base = i.symbol.as_str().strip_suffix("USDT").unwrap_or(i.symbol.as_str());
            j.open()
                .str("symbol", i.symbol.as_str())
                .str("contractType", "LinearPerpetual")
                .str("status", "Trading")
                .str("baseCoin", base)
                .str("quoteCoin", "USDT")
                .str("launchTime", "1584230400000")
                .str("deliveryTime", "0")
                .str("deliveryFeeRate", "")
                .str("priceScale", &i.price_scale.to_string());
            j.open_obj("leverageFilter")
                .str("minLeverage", "1")
                .str("maxLeverage", "100.00")
                .str("leverageStep", "0.01")
                .close();
            j.open_obj("priceFilter")
                .str("minPrice", &fixed(i.tick.0, i.price_scale))
                .str("maxPrice", &fixed(i.tick.0.saturating_mul(20_000_000), i.price_scale))
                .str("tickSize", &fixed(i.tick.0, i.price_scale))
                .close();
            j.open_obj("lotSizeFilter")
                .str("maxOrderQty", &fixed(i.max_qty.0, i.qty_scale))
                .str("minOrderQty", &fixed(i.min_qty.0, i.qty_scale))
                .str("qtyStep", &fixed(i.step.0, i.qty_scale))
                .str("postOnlyMaxOrderQty", &fixed(i.max_qty.0, i.qty_scale))
                .str("maxMktOrderQty", &fixed(i.max_market_qty.0, i.qty_scale))
                .str("minNotionalValue", &trimmed(i.min_notional.0, E8))
                .close();
            j.bool("unifiedMarginTrade", true)
                .int("fundingInterval", 480)
                .str("settleCoin", "USDT")
                .str("copyTrading", "both")
                .str("upperFundingRate", "0.005")
                .str("lowerFundingRate", "-0.005")
                .bool("isPreListing", false)
                .null("preListingInfo")
                .close();
        }
    } else if !matches!(category, "spot" | "inverse" | "option") {
        return Err(Error::params("category invalid"));
    }
    j.close_arr().str("nextPageCursor", "").close();
    Ok(j.finish())
}

fn orderbook(core: &Core, f: &HashMap<String, String>) -> Result<String, Error> {
    category_ok(f)?;
    let symbol = f.get("symbol").ok_or_else(|| Error::params("symbol invalid"))?;
    let inst = core.ex.inst_of(symbol).ok_or_else(|| Error::params("symbol invalid"))?;
    let limit: usize = f.get("limit").and_then(|l| l.parse().ok()).unwrap_or(25).clamp(1, 500);
    let i = core.ex.instruments()[inst];
    let (book, ids) = core.ex.book(inst).ok_or_else(|| Error::new(10016, "Server error."))?;
    let mut j = Json::new();
    j.open().str("s", symbol);
    for (key, ladder) in [("b", book.bids()), ("a", book.asks())] {
        j.open_arr(key);
        for (p, q) in ladder.iter().take(limit) {
            j.open_arr_value().str_value(&fixed(p.0, i.price_scale)).str_value(&fixed(q.0, i.qty_scale)).close_arr();
        }
        j.close_arr();
    }
    j.int("ts", unix_ms())
        .uint("u", ids.last_id)
        .uint("seq", ids.seq)
        .int("cts", ids.transact_ms.max(ids.event_ms))
        .close();
    Ok(j.finish())
}

fn tickers(core: &Core, f: &HashMap<String, String>) -> Result<String, Error> {
    category_ok(f)?;
    let mut j = Json::new();
    j.open().str("category", "linear").open_arr("list");
    for (inst, i) in core.ex.venue_instruments() {
        if f.get("symbol").is_some_and(|s| s != i.symbol.as_str()) {
            continue;
        }
        let st = core.ex.state(inst);
        let bbo = st.map(|s| s.bbo).unwrap_or_default();
        let last = st.map_or(0, |s| s.trades.last_price.0);
        let fund = st.map(|s| s.funding).unwrap_or_default();
        j.open()
            .str("symbol", i.symbol.as_str())
            .str("lastPrice", &fixed(last, i.price_scale))
            .str("indexPrice", &trimmed(fund.index.0, E8))
            .str("markPrice", &trimmed(core.ex.mark_e8(inst), E8))
            .str("bid1Price", &fixed(bbo.bid_px.0, i.price_scale))
            .str("bid1Size", &fixed(bbo.bid_qty.0, i.qty_scale))
            .str("ask1Price", &fixed(bbo.ask_px.0, i.price_scale))
            .str("ask1Size", &fixed(bbo.ask_qty.0, i.qty_scale))
            .str("fundingRate", &trimmed(fund.rate.0, E8))
            .str("nextFundingTime", &fund.next_funding_ms.to_string())
            .close();
    }
    j.close_arr().close();
    Ok(j.finish())
}

fn order_list(core: &Core, account: usize, f: &HashMap<String, String>, open_only: bool) -> Result<String, Error> {
    category_ok(f)?;
    let inst = match f.get("symbol") {
        Some(s) => Some(core.ex.inst_of(s).ok_or_else(|| Error::params("symbol invalid"))?),
        None => None,
    };
    let by_id = f.get("orderId").filter(|s| !s.is_empty());
    let by_link = f.get("orderLinkId").filter(|s| !s.is_empty());
    let limit: usize = f.get("limit").and_then(|l| l.parse().ok()).unwrap_or(20).clamp(1, 50);
    let mut rows: Vec<&OrderRecord> = core
        .ex
        .orders_of(account, inst)
        .filter(|o| by_id.is_none_or(|id| core.ex.uuid_of(o.id, 0) == *id))
        .filter(|o| by_link.is_none_or(|c| o.client.as_str() == c))
        .filter(|o| {
            let wanted = by_id.is_some() || by_link.is_some();
            if open_only { o.status.is_open() || wanted } else { !o.status.is_open() || wanted }
        })
        .collect();
    rows.reverse();
    rows.truncate(limit);
    let mut j = Json::new();
    j.open().open_arr("list");
    for o in rows {
        order_row(&mut j, core, o);
    }
    j.close_arr().str("nextPageCursor", "").str("category", "linear").close();
    Ok(j.finish())
}

/// `GET /v5/execution/list`: the account's executions from the
/// simulator's own record of our fills (rows as the `execution` topic sent
/// them, the same `execId`), newest first; `symbol`, `orderId`,
/// `orderLinkId`, `execType` filters; `startTime` / `endTime` (at most 7
/// days; one alone covers 7 days from or to it; neither: the last 7 days);
/// `limit` 1–100 (default 50); `nextPageCursor` is the offset of the next
/// page (`<offset>%3A<execId count>`), empty on the last one.
fn execution_list(core: &Core, account: usize, f: &HashMap<String, String>) -> Result<String, Error> {
    category_ok(f)?;
    let inst = match f.get("symbol") {
        Some(s) => Some(core.ex.inst_of(s).ok_or_else(|| Error::params("symbol invalid"))?),
        None => None,
    };
    let num = |name: &str| -> Result<Option<i64>, Error> {
        f.get(name).map(|v| v.parse::<i64>().map_err(|_| Error::params(&format!("{name} invalid")))).transpose()
    };
    const WEEK_MS: i64 = 7 * 24 * 3_600_000;
    let (lo, hi) = match (num("startTime")?, num("endTime")?) {
        (Some(s), Some(e)) if e < s || e - s > WEEK_MS => return Err(Error::params("startTime and endTime invalid")),
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, s + WEEK_MS),
        (None, Some(e)) => (e - WEEK_MS, e),
        (None, None) => (unix_ms() - WEEK_MS, i64::MAX),
    };
    let limit = match num("limit")? {
        None => 50,
        Some(l @ 1..=100) => l as usize,
        Some(_) => return Err(Error::params("limit invalid")),
    };
    let offset = match f.get("cursor").filter(|c| !c.is_empty()) {
        None => 0,
        // `<offset>:<total>`, percent-decoded or not.
        Some(c) => c
            .split([':', '%'])
            .next()
            .and_then(|o| o.parse::<usize>().ok())
            .ok_or_else(|| Error::params("cursor invalid"))?,
    };
    let by_id = f.get("orderId").filter(|s| !s.is_empty());
    let by_link = f.get("orderLinkId").filter(|s| !s.is_empty());
    let exec_type = f.get("execType").filter(|s| !s.is_empty());
    let mut rows: Vec<(&OrderRecord, &super::exchange::Execution)> = core
        .ex
        .fills_of(account, inst)
        .filter(|(_, x)| (lo..=hi).contains(&x.ts_ms))
        .filter(|(o, _)| by_id.is_none_or(|id| core.ex.uuid_of(o.id, 0) == *id))
        .filter(|(o, _)| by_link.is_none_or(|c| o.client.as_str() == c))
        .filter(|_| exec_type.is_none_or(|t| t == "Trade"))
        .collect();
    rows.sort_by_key(|(_, x)| std::cmp::Reverse((x.ts_ms, x.trade_id)));
    let total = rows.len();
    let page: Vec<_> = rows.into_iter().skip(offset).take(limit).collect();
    let next = offset + page.len();
    let mut j = Json::new();
    j.open().open_arr("list");
    for (o, x) in page {
        execution_row(&mut j, core, o, x);
    }
    let cursor = if next < total { format!("{next}%3A{total}") } else { String::new() };
    j.close_arr().str("nextPageCursor", &cursor).str("category", "linear").close();
    Ok(j.finish())
}

fn positions(core: &Core, account: usize, f: &HashMap<String, String>) -> Result<String, Error> {
    category_ok(f)?;
    let only = match f.get("symbol") {
        Some(s) => Some(core.ex.inst_of(s).ok_or_else(|| Error::params("symbol invalid"))?),
        None => None,
    };
    let mut j = Json::new();
    j.open().open_arr("list");
    for (inst, _) in core.ex.venue_instruments() {
        if only.is_none_or(|o| o == inst) && (only.is_some() || core.ex.position(account, inst).qty != 0) {
            position_row(&mut j, core, account, inst);
        }
    }
    j.close_arr().str("nextPageCursor", "").str("category", "linear").close();
    Ok(j.finish())
}

/// REST requests.
pub(crate) async fn http(shared: &Shared, ctx: HttpCtx) -> Response<Body> {
    let fault = |k| shared.rest_fault(k);
    if let Err(resp) = admit_ip(shared, ctx.peer.ip(), fault) {
        return resp;
    }
    let path = ctx.path.clone();
    let get_params: HashMap<String, String> = parse_params(&ctx.query).into_iter().collect();
    let body_fields = || -> Result<HashMap<String, String>, Error> {
        if ctx.body.is_empty() {
            return Ok(HashMap::new());
        }
        let v: serde_json::Value =
            serde_json::from_slice(&ctx.body).map_err(|_| Error::params("request body is not valid JSON"))?;
        Ok(fields(&v))
    };
    let public = |f: fn(&Core, &HashMap<String, String>) -> Result<String, Error>| {
        let core = shared.core();
        rest_reply(shared, f(&core, &get_params), None)
    };
    match (ctx.method.clone(), path.as_str()) {
        (Method::GET, "/v5/market/time") => {
            let ns = unix_ns();
            rest_reply(shared, Ok(format!("{{\"timeSecond\":\"{}\",\"timeNano\":\"{ns}\"}}", ns / 1_000_000_000)), None)
        }
        (Method::GET, "/v5/market/instruments-info") => public(instruments_info),
        (Method::GET, "/v5/market/orderbook") => public(orderbook),
        (Method::GET, "/v5/market/tickers") => public(tickers),
        (Method::POST, "/v5/order/disconnected-cancel-all") => {
            let account = match authenticate(shared, &ctx) {
                Ok(a) => a,
                Err(e) => return rest_reply(shared, Err(e), None),
            };
            let result = body_fields().and_then(|f| set_dcp(shared, account, &f));
            rest_reply(shared, result, None)
        }
        (Method::POST, "/v5/position/set-leverage") => {
            let account = match authenticate(shared, &ctx) {
                Ok(a) => a,
                Err(e) => return rest_reply(shared, Err(e), None),
            };
            let result = body_fields().and_then(|f| set_leverage(shared, account, &f));
            rest_reply(shared, result, None)
        }
        (Method::POST, p @ ("/v5/order/create" | "/v5/order/cancel" | "/v5/order/cancel-all")) => {
            let account = match authenticate(shared, &ctx) {
                Ok(a) => a,
                Err(e) => return rest_reply(shared, Err(e), None),
            };
            let endpoint: &'static str = match p {
                "/v5/order/create" => "create",
                "/v5/order/cancel" => "cancel",
                _ => "cancel-all",
            };
            let limit = match admit_uid(shared, account, endpoint, fault) {
                Ok(l) => l,
                Err((e, l)) => return rest_reply(shared, Err(e), Some(l)),
            };
            let f = match body_fields() {
                Ok(f) => f,
                Err(e) => return rest_reply(shared, Err(e), Some(limit)),
            };
            if endpoint == "create" {
                Stats::inc(&shared.stats.order_requests);
                stamp_order(
                    shared,
                    ctx.conn,
                    OrderTransport::Rest,
                    f.get("orderLinkId").map_or("", String::as_str),
                    ctx.read_ns,
                    ctx.query.len() + ctx.body.len(),
                );
            } else {
                Stats::inc(&shared.stats.cancel_requests);
            }
            tokio::time::sleep_until(tokio::time::Instant::from_std(ctx.read_at + shared.cfg.order_latency)).await;
            let result = match endpoint {
                "create" => place(shared, account, &f),
                "cancel" => cancel(shared, account, &f),
                _ => cancel_all(shared, account, &f),
            };
            rest_reply(shared, result, Some(limit))
        }
        (
            Method::GET,
            p @ ("/v5/order/realtime"
            | "/v5/execution/list"
            | "/v5/order/history"
            | "/v5/position/list"
            | "/v5/account/wallet-balance"
            | "/v5/account/info"
            | "/v5/user/query-api"
            | "/v5/asset/coin/query-info"),
        ) => {
            let account = match authenticate(shared, &ctx) {
                Ok(a) => a,
                Err(e) => return rest_reply(shared, Err(e), None),
            };
            let core = shared.core();
            let result = match p {
                "/v5/order/realtime" => order_list(&core, account, &get_params, true),
                "/v5/order/history" => order_list(&core, account, &get_params, false),
                "/v5/execution/list" => execution_list(&core, account, &get_params),
                "/v5/position/list" => positions(&core, account, &get_params),
                "/v5/account/wallet-balance" => {
                    let mut j = Json::new();
                    j.open().open_arr("list");
                    wallet_row(&mut j, &core, account);
                    j.close_arr().close();
                    Ok(j.finish())
                }
                "/v5/asset/coin/query-info" => {
                    // The asset list (ccxt reads it with its currencies): the
                    // served instruments' coins, no chains (no deposits here).
                    let mut coins: Vec<String> = vec!["USDT".into()];
                    for (_, i) in core.ex.venue_instruments() {
                        let base = i.symbol.as_str().strip_suffix("USDT").unwrap_or(i.symbol.as_str()).to_owned();
                        if !coins.contains(&base) {
                            coins.push(base);
                        }
                    }
                    let mut j = Json::new();
                    j.open().open_arr("rows");
                    for c in &coins {
                        j.open()
                            .str("name", c)
                            .str("coin", c)
                            .str("remainAmount", "0")
                            .open_arr("chains")
                            .close_arr()
                            .close();
                    }
                    j.close_arr().close();
                    Ok(j.finish())
                }
                "/v5/account/info" => Ok(format!(
                    "{{\"unifiedMarginStatus\":5,\"marginMode\":\"REGULAR_MARGIN\",\"isMasterTrader\":false,\"spotHedgingStatus\":\"OFF\",\"updatedTime\":\"{}\"}}",
                    unix_ms()
                )),
                _ => {
                    let key = core
                        .ex
                        .account_spec(account)
                        .map(|s| String::from_utf8_lossy(s.api_key.as_bytes()).into_owned())
                        .unwrap_or_default();
                    Ok(format!(
                        "{{\"id\":\"{account}\",\"note\":\"scalpel sim\",\"apiKey\":\"{key}\",\"readOnly\":0,\"secret\":\"\",\"permissions\":{{\"ContractTrade\":[\"Order\",\"Position\"],\"Spot\":[],\"Wallet\":[],\"Options\":[],\"Derivatives\":[],\"CopyTrading\":[],\"BlockTrade\":[],\"Exchange\":[],\"NFT\":[]}},\"ips\":[\"*\"],\"type\":1,\"deadlineDay\":-1,\"expiredAt\":\"\",\"createdAt\":\"\",\"unified\":0,\"uta\":1,\"userID\":{},\"inviterID\":0,\"vipLevel\":\"No VIP\",\"mktMakerLevel\":\"0\",\"affiliateID\":0,\"rsaPublicKey\":\"\",\"isMaster\":true,\"parentUid\":\"0\",\"kycLevel\":\"LEVEL_DEFAULT\",\"kycRegion\":\"\"}}",
                        100_000 + account
                    ))
                }
            };
            drop(core);
            rest_reply(shared, result, None)
        }
        (method, _) => {
            shared.note_unknown(format!("{method} {path}"));
            let e = Error {
                status: StatusCode::NOT_FOUND,
                code: 10017,
                msg: format!("scalpel sim: {method} {path} is not simulated"),
            };
            rest_reply(shared, Err(e), None)
        }
    }
}

/// Which connection a WebSocket path opens.
pub(crate) fn ws_route(shared: &Shared, path: &str, _query: &str) -> Result<WsSetup, Response<Body>> {
    let (kind, route) = match path {
        "/v5/public/linear" => (ConnKind::BybitPublic, Route::Public),
        "/v5/private" => (ConnKind::BybitPrivate, Route::Private),
        "/v5/trade" => (ConnKind::BybitTrade, Route::Orders),
        _ => {
            shared.note_unknown(format!("WebSocket {path}"));
            return Err(json_response(
                StatusCode::NOT_FOUND,
                format!("{{\"retCode\":10017,\"retMsg\":\"scalpel sim: no WebSocket route {path}\"}}"),
                &[],
            ));
        }
    };
    Ok(WsSetup {
        kind,
        route,
        combined: false,
        binance_route: None,
        streams: Vec::new(),
        listen_keys: Vec::new(),
        account: None,
    })
}

/// The texts of `frame` a public connection should get.
pub(crate) fn frames_for(c: &Conn, frame: &FeedFrame) -> Vec<Bytes> {
    let FrameClass::BybitTopic { topic, .. } = &frame.class else { return Vec::new() };
    if c.subs.contains_key(topic) { vec![frame.bytes.clone()] } else { Vec::new() }
}

fn op_reply(success: bool, ret_msg: &str, conn_id: &str, req_id: Option<&str>, op: &str) -> String {
    let mut j = Json::new();
    j.open().bool("success", success).str("ret_msg", ret_msg).str("conn_id", conn_id);
    if let Some(r) = req_id {
        j.str("req_id", r);
    }
    j.str("op", op).close();
    j.finish()
}

/// Whether a public topic is served, and what to send right after the
/// subscribe response (order book and ticker snapshots).
fn public_topic(core: &Core, topic: &str) -> Result<Option<String>, String> {
    let parts: Vec<&str> = topic.split('.').collect();
    match parts.as_slice() {
        ["orderbook", depth, sym] => {
            let inst = core.ex.inst_of(sym).ok_or_else(|| format!("error:handler not found,topic:{topic}"))?;
            let d: usize = match *depth {
                "1" | "50" | "200" | "500" | "1000" => depth.parse().unwrap_or(0),
                _ => return Err(format!("error:handler not found,topic:{topic}")),
            };
            let source = core.bybit_source_depth.get(*sym).copied().unwrap_or(200);
            if d > source {
                return Err(format!(
                    "scalpel sim does not simulate {topic}: the input carries orderbook.{source}.{sym}, served at that depth or less"
                ));
            }
            Ok(if d == source { book_snapshot(core, topic, inst, d) } else { None })
        }
        ["tickers", sym] => {
            core.ex.inst_of(sym).ok_or_else(|| format!("error:handler not found,topic:{topic}"))?;
            Ok(core.bybit_tickers.get(topic).filter(|d| !d.fields.is_empty()).map(|d| ticker_snapshot(topic, d)))
        }
        ["publicTrade", sym] | ["kline", _, sym] | ["allLiquidation", sym] => {
            core.ex.inst_of(sym).ok_or_else(|| format!("error:handler not found,topic:{topic}"))?;
            Ok(None)
        }
        _ => Err(format!("error:handler not found,topic:{topic}")),
    }
}

/// The snapshot of a derived-depth book for a new subscriber (the book is
/// created on its first subscription, its `u` starting at the input book's).
fn derived_snapshot(core: &mut Core, topic: &str) -> Option<String> {
    let parts: Vec<&str> = topic.split('.').collect();
    let ["orderbook", depth, sym] = parts.as_slice() else { return None };
    let depth: usize = depth.parse().ok()?;
    if core.bybit_source_depth.get(*sym).copied().unwrap_or(200) == depth {
        return None;
    }
    let inst = core.ex.inst_of(sym)?;
    let i = core.ex.instruments()[inst];
    let (book, ids) = core.ex.book(inst)?;
    let (bids, asks) = (top(book.bids(), depth), top(book.asks(), depth));
    let db = core.bybit_derived.entry(topic.to_owned()).or_insert(DerivedBook {
        inst,
        depth,
        u: ids.last_id.max(2),
        bids: bids.clone(),
        asks: asks.clone(),
    });
    let ts = unix_ms();
    Some(book_message(topic, "snapshot", &i, &db.bids, &db.asks, db.u, ids.seq, ts, ts))
}

fn private_topic(topic: &str) -> bool {
    matches!(
        topic,
        "order" | "order.linear" | "execution" | "execution.linear" | "position" | "position.linear" | "wallet"
    )
}

#[derive(serde::Deserialize)]
struct OpRequest {
    op: Option<String>,
    #[serde(default)]
    args: Vec<serde_json::Value>,
    req_id: Option<String>,
    #[serde(rename = "reqId")]
    req_id_trade: Option<String>,
    #[serde(default)]
    header: HashMap<String, serde_json::Value>,
}

fn verify_ws_auth(shared: &Shared, args: &[serde_json::Value]) -> Result<usize, (i64, &'static str)> {
    let [key, expires, sign] = args else { return Err((10001, "Params Error")) };
    let key = key.as_str().ok_or((10001, "Params Error"))?;
    let expires_text = match expires {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        _ => return Err((10001, "Params Error")),
    };
    let sign = sign.as_str().ok_or((10001, "Params Error"))?;
    let account = shared.core().ex.account_by_key(key.as_bytes()).ok_or((10003, "Invalid apikey"))?;
    let spec = shared.core().ex.account_spec(account).cloned();
    let ok = spec
        .and_then(|s| s.hmac)
        .is_some_and(|c| hmac_ok(&c.secret, &[b"GET/realtime", expires_text.as_bytes()], sign));
    if !ok {
        Stats::inc(&shared.stats.bad_signatures);
        return Err((10004, "Invalid sign"));
    }
    let expires_ms: i64 = expires_text.parse().map_err(|_| (10001, "Params Error"))?;
    if expires_ms <= unix_ms() {
        Stats::inc(&shared.stats.bad_timestamps);
        return Err((10002, "Params Error: auth expired"));
    }
    Ok(account)
}

/// A client message on a Bybit WebSocket.
pub(crate) async fn on_text(shared: &Shared, conn: u64, kind: ConnKind, text: &[u8], read_ns: u64) {
    let (conn_id, session) = {
        let reg = shared.reg();
        let Some(c) = reg.conns.get(&conn) else { return };
        (c.conn_id_text.clone(), c.account)
    };
    let req: OpRequest = match serde_json::from_slice(text) {
        Ok(r) => r,
        Err(_) => {
            Stats::inc(&shared.stats.bad_client_messages);
            let reply = if kind == ConnKind::BybitTrade {
                format!("{{\"retCode\":10404,\"retMsg\":\"invalid request\",\"connId\":\"{conn_id}\"}}")
            } else {
                op_reply(false, "error:request not json", &conn_id, None, "")
            };
            shared.reply(conn, reply);
            return;
        }
    };
    let op = req.op.clone().unwrap_or_default();
    if kind == ConnKind::BybitTrade {
        trade_op(shared, conn, &conn_id, session, &req, &op, read_ns, text.len());
        return;
    }
    let req_id = req.req_id.as_deref();
    let topics: Vec<String> = req.args.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
    match op.as_str() {
        "ping" => {
            let reply = if kind == ConnKind::BybitPublic {
                op_reply(true, "pong", &conn_id, req_id, "ping")
            } else {
                let mut j = Json::new();
                j.open();
                if let Some(r) = req_id {
                    j.str("req_id", r);
                }
                j.str("op", "pong")
                    .open_arr("args")
                    .str_value(&unix_ms().to_string())
                    .close_arr()
                    .str("conn_id", &conn_id)
                    .close();
                j.finish()
            };
            shared.reply(conn, reply);
        }
        "auth" if kind == ConnKind::BybitPrivate => {
            let reply = match verify_ws_auth(shared, &req.args) {
                Ok(account) => {
                    if let Some(c) = shared.reg().conns.get_mut(&conn) {
                        c.account = Some(account);
                    }
                    op_reply(true, "", &conn_id, req_id, "auth")
                }
                Err((_, msg)) => op_reply(false, msg, &conn_id, req_id, "auth"),
            };
            shared.reply(conn, reply);
        }
        "subscribe" | "unsubscribe" => {
            if topics.is_empty() || topics.len() != req.args.len() {
                shared.reply(conn, op_reply(false, "error:args must be a list of topics", &conn_id, req_id, &op));
                return;
            }
            // Under the core lock: the snapshot and the registration are one step.
            let mut core = shared.core();
            let mut reg = shared.reg();
            let Some(c) = reg.conns.get_mut(&conn) else { return };
            let mut snapshots = Vec::new();
            let mut derived_topics = Vec::new();
            let mut error = None;
            for t in &topics {
                let checked = if kind == ConnKind::BybitPublic {
                    public_topic(&core, t)
                } else if c.account.is_none() {
                    Err("Request not authorized".to_owned())
                } else if private_topic(t) {
                    Ok(None)
                } else {
                    Err(format!("error:handler not found,topic:{t}"))
                };
                match checked {
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                    Ok(snap) => {
                        if op == "subscribe" {
                            if c.subs.contains_key(t) {
                                error = Some(format!("error:already subscribed,topic:{t}"));
                                break;
                            }
                            derived_topics.push(t.clone());
                            snapshots.extend(snap);
                        } else if c.subs.remove(t).is_none() {
                            error = Some(format!("error:not subscribed,topic:{t}"));
                            break;
                        }
                    }
                }
            }
            if let Some(e) = error {
                c.send(Out::Text(Bytes::from(op_reply(false, &e, &conn_id, req_id, &op))), &shared.stats);
                return;
            }
            if op == "subscribe" {
                for t in &topics {
                    c.subs.insert(t.clone(), vec![t.clone()]);
                }
                for t in derived_topics.iter().filter(|t| t.starts_with("orderbook.") && kind == ConnKind::BybitPublic)
                {
                    if let Some(snap) = derived_snapshot(&mut core, t) {
                        snapshots.push(snap);
                    }
                }
            }
            c.send(Out::Text(Bytes::from(op_reply(true, "", &conn_id, req_id, &op))), &shared.stats);
            // Snapshots made for this subscriber are not replayed frames: not stamped.
            for s in snapshots {
                c.send(Out::Text(Bytes::from(s)), &shared.stats);
            }
        }
        _ => {
            Stats::inc(&shared.stats.bad_client_messages);
            shared.reply(conn, op_reply(false, &format!("error:unknown op {op}"), &conn_id, req_id, &op));
        }
    }
}

fn trade_reply(
    req_id: Option<&str>,
    code: i64,
    msg: &str,
    op: &str,
    data: &str,
    limit: Option<Limit>,
    conn_id: &str,
) -> String {
    let mut j = Json::new();
    j.open();
    if let Some(r) = req_id {
        j.str("reqId", r);
    }
    j.int("retCode", code).str("retMsg", msg).str("op", op).raw("data", data).raw("retExtInfo", "{}");
    j.open_obj("header");
    if let Some(l) = limit {
        j.str("X-Bapi-Limit", &l.limit.to_string())
            .str("X-Bapi-Limit-Status", &l.remaining.to_string())
            .str("X-Bapi-Limit-Reset-Timestamp", &l.reset_ms.to_string());
    }
    j.str("Traceid", &format!("{:x}", unix_ns())).str("Timenow", &unix_ms().to_string()).close();
    j.str("connId", conn_id).close();
    j.finish()
}

#[allow(clippy::too_many_arguments)]
fn trade_op(
    shared: &Shared,
    conn: u64,
    conn_id: &str,
    session: Option<usize>,
    req: &OpRequest,
    op: &str,
    read_ns: u64,
    bytes: usize,
) {
    let req_id = req.req_id_trade.as_deref().or(req.req_id.as_deref());
    match op {
        "ping" => {
            let mut j = Json::new();
            j.open();
            if let Some(r) = req_id {
                j.str("reqId", r);
            }
            j.int("retCode", 0)
                .str("retMsg", "OK")
                .str("op", "pong")
                .open_arr("data")
                .str_value(&unix_ms().to_string())
                .close_arr();
            j.str("connId", conn_id).close();
            shared.reply(conn, j.finish());
            return;
        }
        "auth" => {
            let reply = match verify_ws_auth(shared, &req.args) {
                Ok(account) => {
                    if let Some(c) = shared.reg().conns.get_mut(&conn) {
                        c.account = Some(account);
                    }
                    shared.bybit.lock().dcp_due.remove(&account);
                    format!(
                        "{{\"reqId\":{},\"retCode\":0,\"retMsg\":\"OK\",\"op\":\"auth\",\"connId\":\"{conn_id}\"}}",
                        json_str(req_id.unwrap_or(""))
                    )
                }
                Err((code, msg)) => {
                    shared.count_error(code);
                    format!(
                        "{{\"reqId\":{},\"retCode\":{code},\"retMsg\":\"{msg}\",\"op\":\"auth\",\"connId\":\"{conn_id}\"}}",
                        json_str(req_id.unwrap_or(""))
                    )
                }
            };
            shared.reply_private(conn, reply);
            return;
        }
        _ => {}
    }
    let args = req.args.first().map(fields).unwrap_or_default();
    if op == "order.create" {
        Stats::inc(&shared.stats.order_requests);
        stamp_order(
            shared,
            conn,
            OrderTransport::WebSocket,
            args.get("orderLinkId").map_or("", String::as_str),
            read_ns,
            bytes,
        );
    } else if op == "order.cancel" {
        Stats::inc(&shared.stats.cancel_requests);
    }
    let fail = |code: i64, msg: &str, limit: Option<Limit>| {
        shared.count_error(code);
        shared.reply_private(conn, trade_reply(req_id, code, msg, op, "{}", limit, conn_id));
    };
    let Some(account) = session else {
        fail(10007, "User authentication failed.", None);
        return;
    };
    if let Some(r) = req_id {
        let fresh = shared.bybit.lock().req_ids.entry(conn).or_default().insert(r.to_owned());
        if !fresh {
            fail(20006, "reqId is duplicated", None);
            return;
        }
    }
    let header = |k: &str| req.header.get(k).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
    if let Err(e) = check_time(shared, header("X-BAPI-TIMESTAMP").as_deref(), header("X-BAPI-RECV-WINDOW").as_deref()) {
        fail(e.code, &e.msg, None);
        return;
    }
    let endpoint: &'static str = match op {
        "order.create" => "create",
        "order.cancel" => "cancel",
        "order.amend" | "order.create-batch" | "order.amend-batch" | "order.cancel-batch" => {
            fail(10404, &format!("scalpel sim does not simulate {op}"), None);
            return;
        }
        _ => {
            fail(10404, &format!("op type is not found: {op}"), None);
            return;
        }
    };
    let conn_fault = |k| {
        let mut reg = shared.reg();
        let c = reg.conns.get_mut(&conn)?;
        shared.faults.event(k, c.route, &mut c.cursor)
    };
    let limit = match admit_uid(shared, account, endpoint, conn_fault) {
        Ok(l) => l,
        Err((e, l)) => {
            fail(e.code, &e.msg, Some(l));
            return;
        }
    };
    let result = if endpoint == "create" { place(shared, account, &args) } else { cancel(shared, account, &args) };
    match result {
        Ok(data) => {
            if endpoint == "create" && conn_fault(FaultKind::OrderDrop).is_some() {
                shared.faults.record(
                    FaultKind::OrderDrop,
                    conn,
                    format!("order.create reqId {} executed, socket dropped before the response", req_id.unwrap_or("")),
                );
                shared.send_to(conn, Out::Drop);
                return;
            }
            shared.reply_private(conn, trade_reply(req_id, 0, "OK", op, &data, Some(limit), conn_id));
        }
        Err(e) => fail(e.code, &e.msg, Some(limit)),
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    escape_into(&mut out, s);
    out.push('"');
    out
}

/// A trade socket closed: forget its reqIds; with disconnection protection
/// on, the account's orders are cancelled after its window unless a trade
/// socket authenticates again first.
pub(crate) fn on_trade_socket_closed(shared: &Shared, c: &Conn) {
    let mut inner = shared.bybit.lock();
    inner.req_ids.remove(&c.id);
    if let Some(account) = c.account {
        if let Some(&window) = inner.dcp_window.get(&account) {
            inner.dcp_due.insert(account, unix_ms() + window);
        }
    }
}

/// `POST /v5/order/disconnected-cancel-all` (`timeWindow`, seconds, 3–300).
/// The most leverage the simulator accepts (its instruments' `leverageFilter`).
const MAX_LEVERAGE: i64 = 100;

/// `POST /v5/position/set-leverage` (one-way mode: buy and sell leverage
/// equal, whole numbers); 110043 when it already is that value, as the
/// venue answers.
fn set_leverage(shared: &Shared, account: usize, f: &HashMap<String, String>) -> Result<String, Error> {
    category_ok(f)?;
    let symbol = f.get("symbol").ok_or_else(|| Error::params("symbol invalid"))?;
    let buy = f.get("buyLeverage").ok_or_else(|| Error::params("buyLeverage invalid"))?;
    if f.get("sellLeverage") != Some(buy) {
        return Err(Error::params("buyLeverage and sellLeverage must be equal in one-way mode"));
    }
    let leverage: i64 = buy.parse().map_err(|_| Error::params("buyLeverage invalid"))?;
    let mut core = shared.core();
    let inst = core.ex.inst_of(symbol).ok_or_else(|| Error::params("symbol invalid"))?;
    if core.ex.leverage_of(account, inst) == leverage {
        return Err(Error::new(110_043, "Set leverage not modified"));
    }
    if !core.ex.set_leverage(account, inst, leverage, MAX_LEVERAGE) {
        return Err(Error::new(10001, format!("leverage invalid: {leverage} is outside 1..={MAX_LEVERAGE}")));
    }
    Ok("{}".into())
}

fn set_dcp(shared: &Shared, account: usize, f: &HashMap<String, String>) -> Result<String, Error> {
    let secs: i64 =
        f.get("timeWindow").and_then(|t| t.parse().ok()).ok_or_else(|| Error::params("timeWindow invalid"))?;
    if !(3..=300).contains(&secs) {
        return Err(Error::params("timeWindow must be between 3 and 300"));
    }
    shared.bybit.lock().dcp_window.insert(account, secs * 1000);
    Ok("{}".into())
}

fn topic_message(topic: &str, rows: &str) -> String {
    let now = unix_ms();
    format!(
        "{{\"id\":\"{topic}-{now}-{:x}\",\"topic\":\"{topic}\",\"creationTime\":{now},\"data\":[{rows}]}}",
        unix_ns() & 0xffff_ffff
    )
}

/// Delivers account events on the account's private streams.
pub(crate) fn deliver(shared: &Shared, core: &Core, events: &[AccountEvent]) {
    let mut reg = shared.reg();
    for ev in events {
        let account = ev.account();
        let mut msgs: Vec<(&[&str], String)> = Vec::new();
        let mut fill: Option<u64> = None;
        match ev {
            AccountEvent::Order { order, exec } => {
                if let Exec::Trade(x) = exec {
                    fill = Some(x.trade_id);
                    let mut j = Json::new();
                    execution_row(&mut j, core, order, x);
                    msgs.push((&["execution", "execution.linear"], topic_message("execution", &j.finish())));
                }
                let mut j = Json::new();
                order_row(&mut j, core, order);
                msgs.push((&["order", "order.linear"], topic_message("order", &j.finish())));
            }
            AccountEvent::Position { inst, .. } => {
                let mut j = Json::new();
                position_row(&mut j, core, account, *inst);
                msgs.push((&["position", "position.linear"], topic_message("position", &j.finish())));
            }
            AccountEvent::Balance { .. } => {
                let mut j = Json::new();
                wallet_row(&mut j, core, account);
                msgs.push((&["wallet"], topic_message("wallet", &j.finish())));
            }
        }
        for c in reg.conns.values_mut() {
            if c.kind != ConnKind::BybitPrivate || c.account != Some(account) {
                continue;
            }
            let gets_fill = ["execution", "execution.linear"].iter().any(|t| c.subs.contains_key(*t));
            if let Some(t) = fill
                && gets_fill
                && shared.fill_drop(c, &format!("the execution of trade {t}"))
            {
                continue;
            }
            for (topics, text) in &msgs {
                if topics.iter().any(|t| c.subs.contains_key(*t)) {
                    shared.send_private(c, Bytes::from(text.clone()));
                }
            }
        }
    }
}

/// Periodic work: disconnection-protection cancels that are due.
pub(crate) fn on_tick(shared: &Shared, _elapsed: Duration) {
    let now = unix_ms();
    let due: Vec<usize> = {
        let mut inner = shared.bybit.lock();
        let due: Vec<usize> = inner.dcp_due.iter().filter(|(_, t)| **t <= now).map(|(a, _)| *a).collect();
        for a in &due {
            inner.dcp_due.remove(a);
        }
        due
    };
    if due.is_empty() {
        return;
    }
    let mut core = shared.core();
    for account in due {
        let mut events = Vec::new();
        core.ex.cancel_all(account, None, unix_ns(), &mut events);
        shared.deliver_events(&core, &mut events);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::config::FillModel;
    use crate::fixed::Notional;
    use crate::instrument::{FeeSchedule, InstrumentTable};
    use crate::order::{ClientOrderId, OrderEvent, TradeId, VenueOrderId};
    use crate::sim::config::AccountSpec;
    use crate::sim::exchange::Exchange;
    use crate::venue::Venue;
    use crate::venue::bybit::private::BybitPrivateParser;
    use crate::venue::credentials::{ApiKey, Credentials};
    use crate::venue::private_event::{EMPTY_EVENT, PrivateEvent};

    fn table() -> InstrumentTable {
        InstrumentTable::from_toml_str(include_str!("../../tuning/instruments.toml")).unwrap()
    }

    fn core() -> Core {
        let account = AccountSpec {
            hmac: Some(Credentials::new(b"k", b"s").unwrap()),
            api_key: ApiKey::new(b"k").unwrap(),
            ed25519: None,
        };
        let mut ex = Exchange::new(
            Venue::BybitLinear,
            table(),
            &[account],
            FillModel::TradeThrough,
            Notional(10_000 * 100_000_000),
            20,
        );
        let mut ev = Vec::new();
        let snap = br#"{"topic":"orderbook.200.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[["61800.20","2.000"]],"a":[["61800.30","1.000"]],"u":5,"seq":7},"cts":1}"#;
        ex.on_frame(snap, None, 1_723_161_256_000_000_000, &mut ev);
        Core {
            ex,
            bybit_tickers: HashMap::new(),
            source_depth_inst: Vec::new(),
            bybit_source_depth: HashMap::new(),
            bybit_derived: HashMap::new(),
            seq: 0,
        }
    }

    /// Our own instruments-info loader reads back exactly the served instruments.
    #[test]
    fn instruments_info_round_trips_through_our_loader() {
        let core = core();
        let f: HashMap<String, String> = [("category".to_owned(), "linear".to_owned())].into();
        let result = instruments_info(&core, &f).unwrap();
        let (_, text, _) = envelope(Ok(result));
        let mut loaded = InstrumentTable::new();
        assert_eq!(loaded.add_bybit_instruments_info(&text, FeeSchedule::BYBIT_VIP0), Ok(2));
        for (_, i) in core.ex.venue_instruments() {
            assert_eq!(loaded.get(Venue::BybitLinear, &i.symbol), Some(i), "{}", i.symbol);
        }
        let spot: HashMap<String, String> = [("category".to_owned(), "spot".to_owned())].into();
        assert!(instruments_info(&core, &spot).unwrap().contains("\"list\":[]"));
    }

    /// The private topics of a fill parse, with our parser, into exactly
    /// the fill and position the exchange made.
    #[test]
    fn private_topics_parse_into_the_exact_fill_and_position() {
        let mut core = core();
        let btc = core.ex.inst_of("BTCUSDT").unwrap();
        let order = NewOrder {
            inst: btc,
            side: Side::Sell,
            kind: OrderKind::Market,
            tif: TimeInForce::Gtc,
            price: Price::ZERO,
            qty: Qty(3),
            reduce_only: false,
            client: ShortText::new("scalpel-4").unwrap(),
        };
        let mut events = Vec::new();
        core.ex.place(0, order, 1_723_161_257_000_000_000, &mut events).unwrap();
        let mut parser = BybitPrivateParser::new();
        let mut parse = |topic: &str, row: String| {
            let text = topic_message(topic, &row);
            let mut out = [EMPTY_EVENT; 4];
            let mut bytes = text.clone().into_bytes();
            let n = parser.ws_frame(&mut bytes, &table(), &mut out).unwrap_or_else(|e| panic!("{e}: {text}"));
            out[..n].to_vec()
        };
        let mut filled = 0;
        for ev in &events {
            match ev {
                AccountEvent::Order { order, exec } => {
                    let mut j = Json::new();
                    order_row(&mut j, &core, order);
                    let got = parse("order", j.finish());
                    let id = VenueOrderId::new(core.ex.uuid_of(order.id, 0).as_bytes()).unwrap();
                    assert!(
                        matches!(got[..], [PrivateEvent::Order(OrderEvent::Acked { client_id: ClientOrderId(4), venue_order_id, .. })] if venue_order_id == id),
                        "{got:?}"
                    );
                    if let Exec::Trade(x) = exec {
                        let mut j = Json::new();
                        execution_row(&mut j, &core, order, x);
                        let got = parse("execution", j.finish());
                        let [PrivateEvent::Order(OrderEvent::Filled(f))] = got[..] else { panic!("{got:?}") };
                        let exec_id = TradeId::parse(core.ex.uuid_of(x.trade_id, 1).as_bytes()).unwrap();
                        assert_eq!(
                            (f.trade_id, f.price, f.qty, f.fee, f.is_maker),
                            (exec_id, x.price, x.qty, x.fee, x.maker)
                        );
                        filled += f.qty.0;
                    }
                }
                AccountEvent::Position { inst, view, .. } => {
                    let mut j = Json::new();
                    position_row(&mut j, &core, 0, *inst);
                    let got = parse("position", j.finish());
                    let [PrivateEvent::Position(p)] = got[..] else { panic!("{got:?}") };
                    assert_eq!((p.qty.0, p.entry_price.0), (view.qty, view.entry_e8));
                    assert_eq!(p.qty.0, -3);
                }
                AccountEvent::Balance { .. } => {
                    let mut j = Json::new();
                    wallet_row(&mut j, &core, 0);
                    let got = parse("wallet", j.finish());
                    let [PrivateEvent::Account(a)] = got[..] else { panic!("wallet push: {got:?}") };
                    assert_eq!(a.wallet_balance.0, core.ex.wallet(0), "the simulator's wallet, exactly");
                }
            }
        }
        assert_eq!(filled, 3);
    }

    #[test]
    fn derived_book_changes_name_new_changed_and_departed_levels() {
        let old = [(100, 5), (99, 2), (98, 1)];
        let new = [(101, 1), (100, 5), (99, 3)];
        // 101 is new, 99 changed, 98 left the top.
        assert_eq!(level_changes(&old, &new), [(101, 1), (99, 3), (98, 0)]);
        assert!(level_changes(&new, &new).is_empty());
    }

    #[test]
    fn ordered_members_keep_order_and_raw_values() {
        let m = ordered_members(r#"{"z":1,"a":"x","o":{"k":[1,2]}}"#).unwrap();
        assert_eq!(m, [("z".into(), "1".into()), ("a".into(), "\"x\"".into()), ("o".into(), "{\"k\":[1,2]}".into())]);
        assert!(ordered_members("[1]").is_none());
    }

    #[test]
    fn ticker_snapshot_merges_deltas_in_first_seen_order() {
        let mut doc = TickerDoc::default();
        let snap = r#"{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","bid1Price":"1.0","ask1Price":"2.0"},"cs":5,"ts":10}"#;
        let delta = r#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","ask1Price":"2.5","markPrice":"1.7"},"cs":6,"ts":11}"#;
        doc.apply(snap, true);
        doc.apply(delta, false);
        assert_eq!(
            ticker_snapshot("tickers.BTCUSDT", &doc),
            r#"{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","bid1Price":"1.0","ask1Price":"2.5","markPrice":"1.7"},"cs":6,"ts":11}"#
        );
        // A new snapshot replaces every field.
        doc.apply(snap, true);
        assert_eq!(doc.fields.len(), 3);
        assert_eq!(doc.cs, 5);
    }
}
