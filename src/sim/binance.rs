//! Binance USDⓈ-M as the simulator speaks it: routed market streams,
//! the user-data stream, the WebSocket API and the REST endpoints a
//! trading client needs.
//!
//! Sources (Binance derivatives documentation):
//! - Market streams, routes, `SUBSCRIBE` / `UNSUBSCRIBE` / `LIST_SUBSCRIPTIONS`,
//!   10 messages per second, ping every 3 min / pong within 10 min, 24 h:
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams>,
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Important-WebSocket-Change-Notice>
//! - REST general info, signed endpoints, `X-MBX-USED-WEIGHT-1M` /
//!   `X-MBX-ORDER-COUNT-*`, HTTP 429 then 418:
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info>
//! - Orders: <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api>;
//!   WebSocket API: <https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-api-general-info>
//! - User data: listenKey (60 min validity, `-1125` for an unknown key),
//!   `ORDER_TRADE_UPDATE`, `TRADE_LITE`, `ACCOUNT_UPDATE`, `listenKeyExpired`:
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams>
//! - Error codes: <https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code>
//!
//! # What is simulated and what is not
//! - LIMIT (GTC, IOC, GTX) and MARKET orders in one-way mode; `order.modify`,
//!   conditional orders, FOK/GTD, hedge mode and `userTrades` answer with a
//!   loud "not simulated" error instead of pretending.
//! - Every diff-depth speed of a symbol is served from the one depth stream
//!   of the input; streams the input does not carry are acknowledged and
//!   stay silent (as a quiet market would).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, Response, StatusCode};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::backtest::latency::SplitMix64;
use crate::fixed::{E8, Price, Qty};
use crate::instrument::Instrument;
use crate::order::{OrderKind, TimeInForce};
use crate::side::Side;

use super::exchange::{AccountEvent, BalanceReason, Exec, NewOrder, OrderError, OrderRecord, OrderStatus};
use super::faults::{FaultCursor, FaultInjector, FaultKind, Route};
use super::feed::{BinanceRoute, FeedFrame, FrameClass, binance_stream_key};
use super::json::{Json, fixed, trimmed};
use super::request::{FixedWindow, ed25519_ok, hmac_ok, parse_params, strip_signature};
use super::server::{Body, Conn, ConnKind, Core, HttpCtx, Out, Shared, Stats, WsSetup, json_response, stamp_order};
use super::stamps::{OrderTransport, ShortText, unix_ms, unix_ns};

/// A listenKey is valid this long after its last keep-alive.
const LISTEN_KEY_VALIDITY: Duration = Duration::from_secs(3600);
/// Market-stream client messages allowed per second.
const MESSAGES_PER_SECOND: u32 = 10;

struct ListenKey {
    account: usize,
    expires: Instant,
    cursor: FaultCursor,
}

#[derive(Default)]
struct Inner {
    weight: HashMap<IpAddr, FixedWindow>,
    warned_window: HashMap<IpAddr, i64>,
    bans: HashMap<IpAddr, i64>,
    orders_10s: HashMap<usize, FixedWindow>,
    orders_1m: HashMap<usize, FixedWindow>,
    listen_keys: HashMap<String, ListenKey>,
    countdowns: HashMap<(usize, usize), i64>,
    rng: Option<SplitMix64>,
}

/// Binance state outside the exchange core: rate-limit windows, IP bans,
/// listenKeys, countdown cancels.
#[derive(Default)]
pub(crate) struct VenueState {
    inner: Mutex<Inner>,
}

impl VenueState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A venue error: HTTP status, code, message.
#[derive(Debug, Clone)]
struct Error {
    status: StatusCode,
    code: i64,
    msg: String,
    retry_after_s: Option<i64>,
}

impl Error {
    fn new(code: i64, msg: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code, msg: msg.into(), retry_after_s: None }
    }

    fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    fn mandatory(name: &str) -> Self {
        Self::new(-1102, format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."))
    }

    fn not_simulated(what: &str) -> Self {
        Self::new(-1020, format!("This operation is not supported. (scalpel sim does not simulate {what})"))
    }
}

fn order_error(e: OrderError, inst: &Instrument) -> Error {
    match e {
        OrderError::QtyNotPositive => Error::new(-4003, "Quantity less than or equal to zero."),
        OrderError::QtyOffStep => Error::new(-4023, "Quantity not increased by step size."),
        OrderError::QtyBelowMin => Error::new(-4004, "Quantity less than min quantity."),
        OrderError::QtyAboveMax => Error::new(-4005, "Quantity greater than max quantity."),
        OrderError::PriceNotPositive => Error::new(-4001, "Price less than 0."),
        OrderError::PriceOffTick => Error::new(-4014, "Price not increased by tick size."),
        OrderError::MinNotional => Error::new(
            -4164,
            format!(
                "Order's notional must be no smaller than {} (unless you choose reduce only).",
                trimmed(inst.min_notional.0, E8)
            ),
        ),
        OrderError::DuplicateClientId => Error::new(-4116, "ClientOrderId is duplicated."),
        OrderError::ReduceOnlyRejected => Error::new(-2022, "ReduceOnly Order is rejected."),
        OrderError::InsufficientMargin => Error::new(-2019, "Margin is insufficient."),
        OrderError::PostOnlyWouldTake => Error::new(
            -5022,
            "Due to the order could not be executed as maker, the Post Only order will be rejected. The order will not be recorded in the order history",
        ),
        OrderError::NoMarket => Error::new(-1000, "An unknown error occured while processing the request.")
            .status(StatusCode::SERVICE_UNAVAILABLE),
        OrderError::UnknownOrder => Error::new(-2011, "Unknown order sent."),
    }
}

/// Usage counters for the response headers / `rateLimits`.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    weight: u32,
    orders: Option<(u32, u32)>,
}

fn usage_headers(u: Usage) -> Vec<(&'static str, String)> {
    let mut h = vec![("X-MBX-USED-WEIGHT-1M", u.weight.to_string())];
    if let Some((o10, o1m)) = u.orders {
        h.push(("X-MBX-ORDER-COUNT-10S", o10.to_string()));
        h.push(("X-MBX-ORDER-COUNT-1M", o1m.to_string()));
    }
    h
}

fn rate_limits_json(shared: &Shared, u: Usage) -> String {
    let l = shared.cfg.limits;
    let mut j = Json::new();
    j.open_arr_value();
    j.open()
        .str("rateLimitType", "REQUEST_WEIGHT")
        .str("interval", "MINUTE")
        .int("intervalNum", 1)
        .uint("limit", u64::from(l.binance_weight_per_min))
        .uint("count", u64::from(u.weight))
        .close();
    if let Some((o10, o1m)) = u.orders {
        j.open()
            .str("rateLimitType", "ORDERS")
            .str("interval", "SECOND")
            .int("intervalNum", 10)
            .uint("limit", u64::from(l.binance_orders_per_10s))
            .uint("count", u64::from(o10))
            .close();
        j.open()
            .str("rateLimitType", "ORDERS")
            .str("interval", "MINUTE")
            .int("intervalNum", 1)
            .uint("limit", u64::from(l.binance_orders_per_min))
            .uint("count", u64::from(o1m))
            .close();
    }
    j.close_arr();
    j.finish()
}

/// Admits a request of `weight` from `ip` (and an order of `account`):
/// the real limits first, then injected rate-limit / ban faults.
fn admit(
    shared: &Shared,
    ip: IpAddr,
    weight: u32,
    order_of: Option<usize>,
    fault: impl Fn(FaultKind) -> Option<super::faults::FaultRule>,
) -> Result<Usage, Error> {
    let now = unix_ms();
    let limits = shared.cfg.limits;
    let mut inner = shared.binance.lock();
    if let Some(&until) = inner.bans.get(&ip) {
        if now < until {
            Stats::inc(&shared.stats.banned_requests);
            return Err(banned(until));
        }
        inner.bans.remove(&ip);
    }
    let window = inner.weight.entry(ip).or_insert_with(|| FixedWindow::new(60_000));
    let used = window.hit(now, weight);
    let reset = window.reset_ms();
    if used > limits.binance_weight_per_min {
        Stats::inc(&shared.stats.rate_limited);
        let window_start = reset - 60_000;
        if inner.warned_window.get(&ip) == Some(&window_start) {
            // Requests kept coming after a 429: an IP ban.
            let until = now + i64::try_from(limits.binance_ban.as_millis()).unwrap_or(i64::MAX / 2);
            inner.bans.insert(ip, until);
            return Err(banned(until));
        }
        inner.warned_window.insert(ip, window_start);
        let mut e = Error::new(
            -1003,
            format!(
                "Too many requests; current limit is {} requests per minute. Please use the websocket for live updates to avoid polling the API.",
                limits.binance_weight_per_min
            ),
        )
        .status(StatusCode::TOO_MANY_REQUESTS);
        e.retry_after_s = Some(((reset - now) / 1000).max(1));
        return Err(e);
    }
    let mut usage = Usage { weight: used, orders: None };
    if let Some(account) = order_of {
        let o10 = inner.orders_10s.entry(account).or_insert_with(|| FixedWindow::new(10_000)).hit(now, 1);
        let o1m = inner.orders_1m.entry(account).or_insert_with(|| FixedWindow::new(60_000)).hit(now, 1);
        usage.orders = Some((o10, o1m));
        if o10 > limits.binance_orders_per_10s || o1m > limits.binance_orders_per_min {
            Stats::inc(&shared.stats.rate_limited);
            let (limit, per) = if o10 > limits.binance_orders_per_10s {
                (limits.binance_orders_per_10s, "TEN_SECONDS")
            } else {
                (limits.binance_orders_per_min, "MINUTE")
            };
            return Err(Error::new(-1015, format!("Too many new orders; current limit is {limit} orders per {per}."))
                .status(StatusCode::TOO_MANY_REQUESTS));
        }
    }
    drop(inner);
    if let Some(rule) = fault(FaultKind::Ban) {
        let until = now + i64::try_from(rule.duration_or_default().as_millis()).unwrap_or(0);
        shared.binance.lock().bans.insert(ip, until);
        shared.faults.record(FaultKind::Ban, 0, format!("{ip} banned for {} ms", until - now));
        return Err(banned(until));
    }
    if fault(FaultKind::RateLimit).is_some() {
        shared.faults.record(FaultKind::RateLimit, 0, format!("request from {ip} answered 429"));
        let mut e = Error::new(
            -1003,
            format!(
                "Too many requests; current limit is {} requests per minute. Please use the websocket for live updates to avoid polling the API.",
                limits.binance_weight_per_min
            ),
        )
        .status(StatusCode::TOO_MANY_REQUESTS);
        e.retry_after_s = Some(1);
        return Err(e);
    }
    Ok(usage)
}

fn banned(until: i64) -> Error {
    let mut e = Error::new(
        -1003,
        format!(
            "Way too many requests; IP banned until {until}. Please use the websocket for live updates to avoid bans."
        ),
    )
    .status(StatusCode::IM_A_TEAPOT);
    e.retry_after_s = Some(((until - unix_ms()) / 1000).max(1));
    e
}

fn rest_error(shared: &Shared, e: &Error, usage: Usage) -> Response<Body> {
    shared.count_error(e.code);
    let mut j = Json::new();
    j.open().int("code", e.code).str("msg", &e.msg).close();
    let mut headers = usage_headers(usage);
    if let Some(s) = e.retry_after_s {
        headers.push(("Retry-After", s.to_string()));
    }
    json_response(e.status, j.finish(), &headers)
}

fn rest_ok(body: String, usage: Usage) -> Response<Body> {
    json_response(StatusCode::OK, body, &usage_headers(usage))
}

/// Parsed, verified request parameters.
struct Params {
    list: Vec<(String, String)>,
}

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.list.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    fn req(&self, name: &str) -> Result<&str, Error> {
        self.get(name).ok_or_else(|| Error::mandatory(name))
    }
}

/// Checks `timestamp` / `recvWindow` against the server clock.
fn check_time(shared: &Shared, timestamp: Option<&str>, recv_window: Option<&str>) -> Result<(), Error> {
    let ts: i64 = timestamp.and_then(|t| t.parse().ok()).ok_or_else(|| Error::mandatory("timestamp"))?;
    let window: f64 = match recv_window {
        None => 5000.0,
        Some(w) => w.parse().map_err(|_| Error::mandatory("recvWindow"))?,
    };
    if window.is_nan() || window <= 0.0 || window > shared.cfg.limits.max_recv_window_ms as f64 {
        return Err(Error::new(
            -1131,
            format!("recvWindow must be less than {}", shared.cfg.limits.max_recv_window_ms),
        ));
    }
    let now = unix_ms();
    if ts > now + 1000 {
        Stats::inc(&shared.stats.bad_timestamps);
        return Err(Error::new(-1021, "Timestamp for this request was 1000ms ahead of the server's time."));
    }
    if now.saturating_sub(ts) as f64 > window {
        Stats::inc(&shared.stats.bad_timestamps);
        return Err(Error::new(-1021, "Timestamp for this request is outside of the recvWindow."));
    }
    Ok(())
}

/// Security level of a REST endpoint.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Security {
    None,
    /// API key only (listenKey endpoints).
    UserStream,
    /// API key, timestamp and signature.
    Signed,
}

/// Authenticates a REST request; returns the account and the parameters.
fn authenticate(shared: &Shared, ctx: &HttpCtx, security: Security) -> Result<(Option<usize>, Params), Error> {
    let body =
        std::str::from_utf8(&ctx.body).map_err(|_| Error::new(-1100, "Illegal characters found in a parameter."))?;
    let mut list = parse_params(&ctx.query);
    list.extend(parse_params(body));
    let params = Params { list };
    if security == Security::None {
        return Ok((None, params));
    }
    let key = ctx
        .header("x-mbx-apikey")
        .ok_or_else(|| Error::new(-2014, "API-key format invalid.").status(StatusCode::UNAUTHORIZED))?;
    let account = shared.core().ex.account_by_key(key.as_bytes()).ok_or_else(|| {
        Error::new(-2015, "Invalid API-key, IP, or permissions for action.").status(StatusCode::UNAUTHORIZED)
    })?;
    if security == Security::UserStream {
        return Ok((Some(account), params));
    }
    let (query_rest, sig_q) = strip_signature(&ctx.query);
    let (body_rest, sig_b) = strip_signature(body);
    let signature = sig_q.or(sig_b).ok_or_else(|| Error::mandatory("signature"))?;
    let signature = super::request::percent_decode(&signature).unwrap_or_default();
    let payload = [query_rest.as_bytes(), body_rest.as_bytes()];
    let spec = shared.core().ex.account_spec(account).cloned();
    let ok = spec.is_some_and(|s| {
        let hmac = s.hmac.as_ref().is_some_and(|c| hmac_ok(&c.secret, &payload, &signature));
        hmac || s.ed25519.as_ref().is_some_and(|k| ed25519_ok(k, &[payload[0], payload[1]].concat(), &signature))
    });
    if !ok {
        Stats::inc(&shared.stats.bad_signatures);
        return Err(Error::new(-1022, "Signature for this request is not valid."));
    }
    check_time(shared, params.get("timestamp"), params.get("recvWindow"))?;
    Ok((Some(account), params))
}

fn side_of(text: &str) -> Result<Side, Error> {
    match text {
        "BUY" => Ok(Side::Buy),
        "SELL" => Ok(Side::Sell),
        _ => Err(Error::new(-1117, "Invalid side.")),
    }
}

fn decimal(text: &str, scale: u8) -> Result<i64, Error> {
    crate::fixed::parse_decimal_trimmed(text.as_bytes(), scale, true).map_err(|e| match e {
        crate::fixed::FixedError::TooManyDecimals => {
            Error::new(-1111, "Precision is over the maximum defined for this asset.")
        }
        _ => Error::new(-1100, "Illegal characters found in a parameter."),
    })
}

fn valid_client_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 36
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'_' | b'-'))
}

fn instrument(shared: &Shared, symbol: &str) -> Result<(usize, Instrument), Error> {
    let core = shared.core();
    let inst = core.ex.inst_of(symbol).ok_or_else(|| Error::new(-1121, "Invalid symbol."))?;
    Ok((inst, core.ex.instruments()[inst]))
}

/// Parses a new-order request's parameters.
fn new_order(shared: &Shared, get: &dyn Fn(&str) -> Option<String>) -> Result<(NewOrder, Instrument, bool), Error> {
    let symbol = get("symbol").ok_or_else(|| Error::mandatory("symbol"))?;
    let (inst, i) = instrument(shared, &symbol)?;
    let side = side_of(&get("side").ok_or_else(|| Error::mandatory("side"))?)?;
    let kind = match get("type").ok_or_else(|| Error::mandatory("type"))?.as_str() {
        "LIMIT" => OrderKind::Limit,
        "MARKET" => OrderKind::Market,
        "STOP" | "STOP_MARKET" | "TAKE_PROFIT" | "TAKE_PROFIT_MARKET" | "TRAILING_STOP_MARKET" => {
            return Err(Error::not_simulated("conditional orders (LIMIT and MARKET only)"));
        }
        _ => return Err(Error::new(-1116, "Invalid orderType.")),
    };
    if let Some(ps) = get("positionSide") {
        if ps != "BOTH" {
            return Err(Error::new(-4061, "Order's position side does not match user's setting."));
        }
    }
    let tif = match (kind, get("timeInForce").as_deref()) {
        (OrderKind::Market, _) => TimeInForce::Gtc,
        (OrderKind::Limit, None) => return Err(Error::mandatory("timeInForce")),
        (OrderKind::Limit, Some("GTC")) => TimeInForce::Gtc,
        (OrderKind::Limit, Some("IOC")) => TimeInForce::Ioc,
        (OrderKind::Limit, Some("GTX")) => TimeInForce::PostOnly,
        (OrderKind::Limit, Some("FOK" | "GTD")) => return Err(Error::not_simulated("FOK and GTD orders")),
        (OrderKind::Limit, Some(_)) => return Err(Error::new(-1115, "Invalid timeInForce.")),
    };
    let qty = Qty(decimal(&get("quantity").ok_or_else(|| Error::mandatory("quantity"))?, i.qty_scale)?);
    let price = match kind {
        OrderKind::Limit => Price(decimal(&get("price").ok_or_else(|| Error::mandatory("price"))?, i.price_scale)?),
        OrderKind::Market => Price::ZERO,
    };
    let reduce_only = match get("reduceOnly").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(Error::new(-1100, "Illegal characters found in parameter 'reduceOnly'.")),
    };
    let client = match get("newClientOrderId") {
        Some(c) if valid_client_id(&c) => ShortText::new(&c).unwrap_or_default(),
        Some(_) => {
            return Err(Error::new(
                -1100,
                "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
            ));
        }
        None => ShortText::new(&generated_client_id(shared)).unwrap_or_default(),
    };
    let result = get("newOrderRespType").as_deref() == Some("RESULT");
    Ok((NewOrder { inst, side, kind, tif, price, qty, reduce_only, client }, i, result))
}

fn generated_client_id(shared: &Shared) -> String {
    let mut inner = shared.binance.lock();
    let rng = inner.rng.get_or_insert_with(|| SplitMix64::new(shared.cfg.fault_seed ^ 0xb1a5_ce00));
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..22).map(|_| ALNUM[rng.below(ALNUM.len())] as char).collect()
}

fn status_text(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::New => "NEW",
        OrderStatus::PartiallyFilled => "PARTIALLY_FILLED",
        OrderStatus::Filled => "FILLED",
        OrderStatus::Canceled => "CANCELED",
        OrderStatus::Expired => "EXPIRED",
    }
}

fn tif_text(o: &OrderRecord) -> &'static str {
    match o.tif {
        TimeInForce::Gtc => "GTC",
        TimeInForce::Ioc => "IOC",
        TimeInForce::PostOnly => "GTX",
    }
}

fn type_text(o: &OrderRecord) -> &'static str {
    match o.kind {
        OrderKind::Limit => "LIMIT",
        OrderKind::Market => "MARKET",
    }
}

/// The order object of REST and WS API responses.
fn order_object(j: &mut Json, o: &OrderRecord, i: &Instrument, query: bool) {
    let avg = o.avg_price_e8(i);
    j.open()
        .uint("orderId", o.id)
        .str("symbol", i.symbol.as_str())
        .str("status", status_text(o.status))
        .str("clientOrderId", o.client.as_str())
        .str("price", &fixed(o.price.0, i.price_scale))
        .str("avgPrice", &fixed(crate::fixed::rescale(avg, E8, i.price_scale + 3).unwrap_or(0), i.price_scale + 3))
        .str("origQty", &fixed(o.qty.0, i.qty_scale))
        .str("executedQty", &fixed(o.filled, i.qty_scale));
    if !query {
        j.str("cumQty", &fixed(o.filled, i.qty_scale));
    }
    j.str("cumQuote", &fixed(o.filled_quote_e8(i), 8))
        .str("timeInForce", tif_text(o))
        .str("type", type_text(o))
        .bool("reduceOnly", o.reduce_only)
        .bool("closePosition", false)
        .str("side", o.side.upper())
        .str("positionSide", "BOTH")
        .str("stopPrice", &fixed(0, i.price_scale))
        .str("workingType", "CONTRACT_PRICE")
        .bool("priceProtect", false)
        .str("origType", type_text(o))
        .str("priceMatch", "NONE")
        .str("selfTradePreventionMode", "EXPIRE_MAKER")
        .int("goodTillDate", 0);
    if query {
        j.int("time", o.created_ms);
    }
    j.int("updateTime", o.updated_ms).close();
}

fn order_json(o: &OrderRecord, i: &Instrument, query: bool) -> String {
    let mut j = Json::new();
    order_object(&mut j, o, i, query);
    j.finish()
}

/// REST requests.
pub(crate) async fn http(shared: &Shared, ctx: HttpCtx) -> Response<Body> {
    let ip = ctx.peer.ip();
    let path = ctx.path.clone();
    let method = ctx.method.clone();
    let no_usage = Usage::default();
    let rest_fault = |k| shared.rest_fault(k);
    macro_rules! admit {
        ($weight:expr, $order:expr) => {
            match admit(shared, ip, $weight, $order, rest_fault) {
                Ok(u) => u,
                Err(e) => return rest_error(shared, &e, no_usage),
            }
        };
    }
    macro_rules! auth {
        ($sec:expr, $usage:expr) => {
            match authenticate(shared, &ctx, $sec) {
                Ok(x) => x,
                Err(e) => return rest_error(shared, &e, $usage),
            }
        };
    }
    match (method.clone(), path.as_str()) {
        (Method::GET, "/fapi/v1/ping") => {
            let u = admit!(1, None);
            rest_ok("{}".into(), u)
        }
        (Method::GET, "/fapi/v1/time") => {
            let u = admit!(1, None);
            rest_ok(format!("{{\"serverTime\":{}}}", unix_ms()), u)
        }
        (Method::GET, "/fapi/v1/exchangeInfo") => {
            let u = admit!(1, None);
            rest_ok(exchange_info(shared), u)
        }
        (Method::GET, "/fapi/v1/depth") => {
            let (_, params) = auth!(Security::None, no_usage);
            let limit: usize = params.get("limit").and_then(|l| l.parse().ok()).unwrap_or(500);
            let limit = [5usize, 10, 20, 50, 100, 500, 1000].into_iter().find(|&v| v >= limit).unwrap_or(1000);
            let weight = match limit {
                0..=50 => 2,
                51..=100 => 5,
                101..=500 => 10,
                _ => 20,
            };
            let u = admit!(weight, None);
            let symbol = match params.req("symbol") {
                Ok(s) => s.to_owned(),
                Err(e) => return rest_error(shared, &e, u),
            };
            match depth(shared, &symbol, limit) {
                Ok(body) => rest_ok(body, u),
                Err(e) => rest_error(shared, &e, u),
            }
        }
        (Method::GET, "/fapi/v1/ticker/bookTicker") => {
            let (_, params) = auth!(Security::None, no_usage);
            let u = admit!(2, None);
            match book_ticker(shared, params.get("symbol")) {
                Ok(body) => rest_ok(body, u),
                Err(e) => rest_error(shared, &e, u),
            }
        }
        (Method::GET, "/fapi/v1/premiumIndex") => {
            let (_, params) = auth!(Security::None, no_usage);
            let u = admit!(1, None);
            match premium_index(shared, params.get("symbol")) {
                Ok(body) => rest_ok(body, u),
                Err(e) => rest_error(shared, &e, u),
            }
        }
        (Method::GET, "/fapi/v1/openInterest") => {
            let (_, params) = auth!(Security::None, no_usage);
            let u = admit!(1, None);
            let symbol = match params.req("symbol") {
                Ok(s) => s.to_owned(),
                Err(e) => return rest_error(shared, &e, u),
            };
            match open_interest(shared, &symbol) {
                Ok(body) => rest_ok(body, u),
                Err(e) => rest_error(shared, &e, u),
            }
        }
        (Method::POST | Method::PUT | Method::DELETE, "/fapi/v1/listenKey") => {
            let u = admit!(1, None);
            let (account, params) = auth!(Security::UserStream, u);
            let account = account.unwrap_or(0);
            match method {
                Method::POST => rest_ok(format!("{{\"listenKey\":\"{}\"}}", listen_key_start(shared, account)), u),
                Method::PUT => match listen_key_keepalive(shared, account, params.get("listenKey")) {
                    Ok(k) => rest_ok(format!("{{\"listenKey\":\"{k}\"}}"), u),
                    Err(e) => rest_error(shared, &e, u),
                },
                _ => {
                    listen_key_close(shared, account, params.get("listenKey"));
                    rest_ok("{}".into(), u)
                }
            }
        }
        (Method::POST, "/fapi/v1/order") => {
            let (account, params) = auth!(Security::Signed, no_usage);
            let account = account.unwrap_or(0);
            let u = admit!(0, Some(account));
            Stats::inc(&shared.stats.order_requests);
            let get = |k: &str| params.get(k).map(str::to_owned);
            stamp_order(
                shared,
                ctx.conn,
                OrderTransport::Rest,
                &get("newClientOrderId").unwrap_or_default(),
                ctx.read_ns,
                ctx.query.len() + ctx.body.len(),
            );
            let (order, inst, result) = match new_order(shared, &get) {
                Ok(x) => x,
                Err(e) => return rest_error(shared, &e, u),
            };
            tokio::time::sleep_until(tokio::time::Instant::from_std(ctx.read_at + shared.cfg.order_latency)).await;
            match place(shared, account, order) {
                Ok(placed) => rest_ok(order_json(if result { &placed.1 } else { &placed.0 }, &inst, false), u),
                Err(e) => rest_error(shared, &e, u),
            }
        }
        (Method::DELETE, "/fapi/v1/order") => {
            let (account, params) = auth!(Security::Signed, no_usage);
            let u = admit!(1, None);
            Stats::inc(&shared.stats.cancel_requests);
            let get = |k: &str| params.get(k).map(str::to_owned);
            tokio::time::sleep_until(tokio::time::Instant::from_std(ctx.read_at + shared.cfg.order_latency)).await;
            match cancel(shared, account.unwrap_or(0), &get) {
                Ok(body) => rest_ok(body, u),
                Err(e) => rest_error(shared, &e, u),
            }
        }
        (Method::GET, "/fapi/v1/order" | "/fapi/v1/openOrder") => {
            let (account, params) = auth!(Security::Signed, no_usage);
            let u = admit!(1, None);
            let get = |k: &str| params.get(k).map(str::to_owned);
            match query_order(shared, account.unwrap_or(0), &get, path == "/fapi/v1/openOrder") {
                Ok(body) => rest_ok(body, u),
                Err(e) => rest_error(shared, &e, u),
            }
        }
        (Method::GET, "/fapi/v1/userTrades") => {
            let (account, params) = auth!(Security::Signed, no_usage);
            let u = admit!(5, None);
            match user_trades(shared, account.unwrap_or(0), &params) {
                Ok(body) => rest_ok(body, u),
                Err(e) => rest_error(shared, &e, u),
            }
        }
        (Method::GET, "/fapi/v1/openOrders" | "/fapi/v1/allOrders") => {
            let (account, params) = auth!(Security::Signed, no_usage);
            let u = admit!(if params.get("symbol").is_some() { 1 } else { 40 }, None);
            match list_orders(shared, account.unwrap_or(0), params.get("symbol"), path == "/fapi/v1/openOrders") {
                Ok(body) => rest_ok(body, u),
                Err(e) => rest_error(shared, &e, u),
            }
        }
        (Method::DELETE, "/fapi/v1/allOpenOrders") => {
            let (account, params) = auth!(Security::Signed, no_usage);
            let u = admit!(1, None);
            let symbol = match params.req("symbol") {
                Ok(s) => s.to_owned(),
                Err(e) => return rest_error(shared, &e, u),
            };
            match cancel_all(shared, account.unwrap_or(0), &symbol) {
                Ok(()) => {
                    rest_ok("{\"code\":200,\"msg\":\"The operation of cancel all open order is done.\"}".into(), u)
                }
                Err(e) => rest_error(shared, &e, u),
            }
        }
        (Method::POST, "/fapi/v1/countdownCancelAll") => {
            let (account, params) = auth!(Security::Signed, no_usage);
            let u = admit!(10, None);
            match countdown(shared, account.unwrap_or(0), &params) {
                Ok(body) => rest_ok(body, u),
                Err(e) => rest_error(shared, &e, u),
            }
        }
        (Method::POST, "/fapi/v1/leverage") => {
            let (account, params) = auth!(Security::Signed, no_usage);
            let u = admit!(1, None);
            match set_leverage(shared, account.unwrap_or(0), &params) {
                Ok(body) => rest_ok(body, u),
                Err(e) => rest_error(shared, &e, u),
            }
        }
        (Method::GET, "/fapi/v2/positionRisk" | "/fapi/v3/positionRisk") => {
            let (account, params) = auth!(Security::Signed, no_usage);
            let u = admit!(5, None);
            match position_risk(shared, account.unwrap_or(0), params.get("symbol"), path.starts_with("/fapi/v3")) {
                Ok(body) => rest_ok(body, u),
                Err(e) => rest_error(shared, &e, u),
            }
        }
        (Method::GET, "/fapi/v2/balance" | "/fapi/v3/balance") => {
            let (account, _) = auth!(Security::Signed, no_usage);
            let u = admit!(5, None);
            rest_ok(balance(shared, account.unwrap_or(0)), u)
        }
        (Method::GET, "/fapi/v2/account" | "/fapi/v3/account") => {
            let (account, _) = auth!(Security::Signed, no_usage);
            let u = admit!(5, None);
            rest_ok(account_info(shared, account.unwrap_or(0), path.starts_with("/fapi/v3")), u)
        }
        (Method::GET, "/fapi/v1/positionSide/dual") => {
            let (_, _) = auth!(Security::Signed, no_usage);
            let u = admit!(30, None);
            rest_ok("{\"dualSidePosition\":false}".into(), u)
        }
        (Method::GET, "/fapi/v1/multiAssetsMargin") => {
            let (_, _) = auth!(Security::Signed, no_usage);
            let u = admit!(30, None);
            rest_ok("{\"multiAssetsMargin\":false}".into(), u)
        }
        (Method::GET, "/sapi/v1/capital/config/getall") => {
            // The spot wallet's coin list (ccxt asks for it when it has a key):
            // the assets of the served instruments, no deposit or withdrawal.
            let (account, _) = auth!(Security::Signed, no_usage);
            let u = admit!(10, None);
            rest_ok(coins(shared, account.unwrap_or(0)), u)
        }
        (Method::GET, "/sapi/v1/margin/allPairs" | "/sapi/v1/margin/isolated/allPairs") => {
            // Spot margin pairs: this venue has none (ccxt reads the lists
            // with its currencies).
            let (_, _) = auth!(Security::Signed, no_usage);
            let u = admit!(1, None);
            rest_ok("[]".into(), u)
        }
        _ => {
            shared.note_unknown(format!("{method} {path}"));
            let e = Error::new(-1000, format!("scalpel sim: {method} {path} is not simulated"))
                .status(StatusCode::NOT_FOUND);
            rest_error(shared, &e, no_usage)
        }
    }
}

fn exchange_info(shared: &Shared) -> String {
    exchange_info_json(&shared.core().ex, &shared.cfg.limits)
}

fn exchange_info_json(ex: &super::exchange::Exchange, l: &super::config::Limits) -> String {
    let mut j = Json::new();
    j.open().str("timezone", "UTC").int("serverTime", unix_ms()).str("futuresType", "U_MARGINED");
    j.open_arr("rateLimits");
    j.open()
        .str("rateLimitType", "REQUEST_WEIGHT")
        .str("interval", "MINUTE")
        .int("intervalNum", 1)
        .uint("limit", u64::from(l.binance_weight_per_min))
        .close();
    j.open()
        .str("rateLimitType", "ORDERS")
        .str("interval", "MINUTE")
        .int("intervalNum", 1)
        .uint("limit", u64::from(l.binance_orders_per_min))
        .close();
    j.open()
        .str("rateLimitType", "ORDERS")
        .str("interval", "SECOND")
        .int("intervalNum", 10)
        .uint("limit", u64::from(l.binance_orders_per_10s))
        .close();
    j.close_arr();
    j.open_arr("exchangeFilters").close_arr();
    j.open_arr("assets");
    j.open().str("asset", "USDT").bool("marginAvailable", true).null("autoAssetExchange").close();
    j.close_arr();
    j.open_arr("symbols");
    for (_, i) in ex.venue_instruments() {
        let base = i.symbol.as_str().strip_suffix("USDT").unwrap_or(i.symbol.as_str());
        j.open()
            .str("symbol", i.symbol.as_str())
            .str("pair", i.symbol.as_str())
            .str("contractType", "PERPETUAL")
            .int("deliveryDate", 4_133_404_800_000)
            .int("onboardDate", 1_569_398_400_000)
            .str("status", "TRADING")
            .str("maintMarginPercent", "2.5000")
            .str("requiredMarginPercent", "5.0000")
            .str("baseAsset", base)
            .str("quoteAsset", "USDT")
            .str("marginAsset", "USDT")
            .uint("pricePrecision", u64::from(i.price_scale))
            .uint("quantityPrecision", u64::from(i.qty_scale))
            .int("baseAssetPrecision", 8)
            .int("quotePrecision", 8)
            .str("underlyingType", "COIN")
            .open_arr("underlyingSubType")
            .close_arr()
            .int("settlePlan", 0)
            .str("triggerProtect", "0.0500")
            .str("liquidationFee", "0.012500")
            .str("marketTakeBound", "0.05")
            .int("maxMoveOrderLimit", 10000);
        j.open_arr("filters");
        j.open()
            .str("filterType", "PRICE_FILTER")
            .str("minPrice", &trimmed(i.tick.0, i.price_scale))
            .str("maxPrice", &trimmed(i.tick.0.saturating_mul(100_000_000), i.price_scale))
            .str("tickSize", &trimmed(i.tick.0, i.price_scale))
            .close();
        j.open()
            .str("filterType", "LOT_SIZE")
            .str("stepSize", &trimmed(i.step.0, i.qty_scale))
            .str("maxQty", &trimmed(i.max_qty.0, i.qty_scale))
            .str("minQty", &trimmed(i.min_qty.0, i.qty_scale))
            .close();
        j.open()
            .str("filterType", "MARKET_LOT_SIZE")
            .str("stepSize", &trimmed(i.step.0, i.qty_scale))
            .str("maxQty", &trimmed(i.max_market_qty.0, i.qty_scale))
            .str("minQty", &trimmed(i.min_qty.0, i.qty_scale))
            .close();
        j.open().str("filterType", "MAX_NUM_ORDERS").int("limit", 200).close();
        j.open().str("filterType", "MIN_NOTIONAL").str("notional", &trimmed(i.min_notional.0, E8)).close();
        j.close_arr();
        j.open_arr("orderTypes").str_value("LIMIT").str_value("MARKET").close_arr();
        j.open_arr("timeInForce").str_value("GTC").str_value("IOC").str_value("GTX").close_arr();
        j.close();
    }
    j.close_arr();
    j.close();
    j.finish()
}

fn coins(shared: &Shared, account: usize) -> String {
    let core = shared.core();
    let mut assets: Vec<String> = vec!["USDT".into()];
    for (_, i) in core.ex.venue_instruments() {
        let base = i.symbol.as_str().strip_suffix("USDT").unwrap_or(i.symbol.as_str()).to_owned();
        if !assets.contains(&base) {
            assets.push(base);
        }
    }
    let mut j = Json::new();
    j.open_arr_value();
    for a in &assets {
        let free = if a == "USDT" { fixed(core.ex.wallet(account), E8) } else { "0".into() };
        j.open()
            .str("coin", a)
            .bool("depositAllEnable", false)
            .bool("withdrawAllEnable", false)
            .str("name", a)
            .str("free", &free)
            .str("locked", "0")
            .str("freeze", "0")
            .str("withdrawing", "0")
            .str("ipoing", "0")
            .str("ipoable", "0")
            .str("storage", "0")
            .bool("isLegalMoney", false)
            .bool("trading", true)
            .open_arr("networkList")
            .close_arr()
            .close();
    }
    j.close_arr();
    j.finish()
}

fn levels_json(j: &mut Json, key: &str, levels: impl Iterator<Item = (Price, Qty)>, i: &Instrument, limit: usize) {
    j.open_arr(key);
    for (p, q) in levels.take(limit) {
        j.open_arr_value().str_value(&fixed(p.0, i.price_scale)).str_value(&fixed(q.0, i.qty_scale)).close_arr();
    }
    j.close_arr();
}

fn depth(shared: &Shared, symbol: &str, limit: usize) -> Result<String, Error> {
    let core = shared.core();
    let inst = core.ex.inst_of(symbol).ok_or_else(|| Error::new(-1121, "Invalid symbol."))?;
    let i = core.ex.instruments()[inst];
    let Some((book, ids)) = core.ex.book(inst) else {
        return Err(Error::new(-1001, "Internal error; unable to process your request. Please try again.")
            .status(StatusCode::SERVICE_UNAVAILABLE));
    };
    let mut j = Json::new();
    j.open().uint("lastUpdateId", ids.last_id).int("E", unix_ms()).int("T", ids.transact_ms.max(ids.event_ms));
    levels_json(&mut j, "bids", book.bids().iter(), &i, limit);
    levels_json(&mut j, "asks", book.asks().iter(), &i, limit);
    j.close();
    Ok(j.finish())
}

fn book_ticker(shared: &Shared, symbol: Option<&str>) -> Result<String, Error> {
    let core = shared.core();
    let one = |j: &mut Json, inst: usize| {
        let i = core.ex.instruments()[inst];
        let bbo = core.ex.state(inst).map(|s| s.bbo).unwrap_or_default();
        j.open()
            .str("symbol", i.symbol.as_str())
            .str("bidPrice", &fixed(bbo.bid_px.0, i.price_scale))
            .str("bidQty", &fixed(bbo.bid_qty.0, i.qty_scale))
            .str("askPrice", &fixed(bbo.ask_px.0, i.price_scale))
            .str("askQty", &fixed(bbo.ask_qty.0, i.qty_scale))
            .int("time", bbo.ts_ms)
            .close();
    };
    let mut j = Json::new();
    match symbol {
        Some(s) => one(&mut j, core.ex.inst_of(s).ok_or_else(|| Error::new(-1121, "Invalid symbol."))?),
        None => {
            j.open_arr_value();
            for (inst, _) in core.ex.venue_instruments() {
                one(&mut j, inst);
            }
            j.close_arr();
        }
    }
    Ok(j.finish())
}

/// Open interest the simulator reports before its accounts trade, in base
/// units (a Binance recording carries no open interest to replay).
pub const BASE_OPEN_INTEREST: i64 = 80_000;

/// `GET /fapi/v1/openInterest`: a synthetic figure, [`BASE_OPEN_INTEREST`]
/// plus the accounts' gross positions (so the simulator's own trading
/// moves it), stamped now; the answer has Binance's shape.
fn open_interest(shared: &Shared, symbol: &str) -> Result<String, Error> {
    let core = shared.core();
    let inst = core.ex.inst_of(symbol).ok_or_else(|| Error::new(-1121, "Invalid symbol."))?;
    let i = core.ex.instruments()[inst];
    let gross: i64 = (0..core.ex.accounts()).map(|a| core.ex.position(a, inst).qty.abs()).sum();
    let qty = BASE_OPEN_INTEREST.saturating_mul(10i64.pow(u32::from(i.qty_scale))).saturating_add(gross);
    Ok(format!(
        "{{\"openInterest\":\"{}\",\"symbol\":\"{}\",\"time\":{}}}",
        fixed(qty, i.qty_scale),
        i.symbol.as_str(),
        unix_ms()
    ))
}

fn premium_index(shared: &Shared, symbol: Option<&str>) -> Result<String, Error> {
    let core = shared.core();
    let one = |j: &mut Json, inst: usize| {
        let i = core.ex.instruments()[inst];
        let f = core.ex.state(inst).map(|s| s.funding).unwrap_or_default();
        j.open()
            .str("symbol", i.symbol.as_str())
            .str("markPrice", &fixed(core.ex.mark_e8(inst), E8))
            .str("indexPrice", &fixed(f.index.0, E8))
            .str("estimatedSettlePrice", &fixed(f.index.0, E8))
            .str("lastFundingRate", &fixed(f.rate.0, E8))
            .str("interestRate", "0.00010000")
            .int("nextFundingTime", f.next_funding_ms)
            .int("time", unix_ms())
            .close();
    };
    let mut j = Json::new();
    match symbol {
        Some(s) => one(&mut j, core.ex.inst_of(s).ok_or_else(|| Error::new(-1121, "Invalid symbol."))?),
        None => {
            j.open_arr_value();
            for (inst, _) in core.ex.venue_instruments() {
                one(&mut j, inst);
            }
            j.close_arr();
        }
    }
    Ok(j.finish())
}

/// Places an order; returns (accepted, final) records.
fn place(shared: &Shared, account: usize, order: NewOrder) -> Result<(OrderRecord, OrderRecord), Error> {
    let mut core = shared.core();
    let inst = core.ex.instruments()[order.inst];
    let mut events = Vec::new();
    let placed = core.ex.place(account, order, unix_ns(), &mut events).map_err(|e| order_error(e, &inst))?;
    if placed.post_only_would_take {
        core.ex.forget(placed.order.id);
        let e = order_error(OrderError::PostOnlyWouldTake, &inst);
        shared.count_error(e.code);
        return Err(e);
    }
    shared.deliver_events(&core, &mut events);
    Ok((placed.accepted, placed.order))
}

fn find_order(core: &Core, account: usize, get: &dyn Fn(&str) -> Option<String>) -> Result<(u64, Instrument), Error> {
    let symbol = get("symbol").ok_or_else(|| Error::mandatory("symbol"))?;
    let inst = core.ex.inst_of(&symbol).ok_or_else(|| Error::new(-1121, "Invalid symbol."))?;
    let i = core.ex.instruments()[inst];
    let found = if let Some(id) = get("orderId") {
        let id: u64 = id.parse().map_err(|_| Error::mandatory("orderId"))?;
        core.ex.order(account, id).filter(|o| o.inst == inst).map(|o| o.id)
    } else if let Some(c) = get("origClientOrderId") {
        core.ex.order_by_client(account, inst, &c).map(|o| o.id)
    } else {
        return Err(Error::new(
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        ));
    };
    found.map(|id| (id, i)).ok_or_else(|| Error::new(-2013, "Order does not exist."))
}

fn cancel(shared: &Shared, account: usize, get: &dyn Fn(&str) -> Option<String>) -> Result<String, Error> {
    let mut core = shared.core();
    let (id, i) = find_order(&core, account, get)
        .map_err(|e| if e.code == -2013 { Error::new(-2011, "Unknown order sent.") } else { e })?;
    let mut events = Vec::new();
    let o = core.ex.cancel(account, id, unix_ns(), &mut events).map_err(|e| order_error(e, &i))?;
    shared.deliver_events(&core, &mut events);
    Ok(order_json(&o, &i, false))
}

fn cancel_all(shared: &Shared, account: usize, symbol: &str) -> Result<(), Error> {
    let mut core = shared.core();
    let inst = core.ex.inst_of(symbol).ok_or_else(|| Error::new(-1121, "Invalid symbol."))?;
    let mut events = Vec::new();
    core.ex.cancel_all(account, Some(inst), unix_ns(), &mut events);
    shared.deliver_events(&core, &mut events);
    Ok(())
}

fn query_order(
    shared: &Shared,
    account: usize,
    get: &dyn Fn(&str) -> Option<String>,
    open_only: bool,
) -> Result<String, Error> {
    let core = shared.core();
    let (id, i) = find_order(&core, account, get)?;
    let o = core.ex.order(account, id).ok_or_else(|| Error::new(-2013, "Order does not exist."))?;
    if open_only && !o.status.is_open() {
        return Err(Error::new(-2013, "Order does not exist."));
    }
    Ok(order_json(o, &i, true))
}

fn list_orders(shared: &Shared, account: usize, symbol: Option<&str>, open_only: bool) -> Result<String, Error> {
    let core = shared.core();
    let inst = match symbol {
        Some(s) => Some(core.ex.inst_of(s).ok_or_else(|| Error::new(-1121, "Invalid symbol."))?),
        None if open_only => None,
        None => return Err(Error::mandatory("symbol")),
    };
    let mut j = Json::new();
    j.open_arr_value();
    for o in core.ex.orders_of(account, inst).filter(|o| !open_only || o.status.is_open()) {
        let i = core.ex.instruments()[o.inst];
        order_object(&mut j, o, &i, true);
    }
    j.close_arr();
    Ok(j.finish())
}

/// `GET /fapi/v1/userTrades`: the account's trades of one symbol from
/// its own record of our fills (the trade ids the user-data stream sent),
/// ascending by id: from `startTime` (to `endTime`, at most 7 days), or
/// from `fromId` (not with a time), else the most recent; `limit` 500 by
/// default, at most 1000.
fn user_trades(shared: &Shared, account: usize, params: &Params) -> Result<String, Error> {
    let symbol = params.req("symbol")?.to_owned();
    let (inst, i) = instrument(shared, &symbol)?;
    let num = |name: &str| -> Result<Option<i64>, Error> {
        params
            .get(name)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    Error::new(
                        -1100,
                        format!("Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."),
                    )
                })
            })
            .transpose()
    };
    let (start, end, from_id) = (num("startTime")?, num("endTime")?, num("fromId")?);
    if from_id.is_some() && (start.is_some() || end.is_some()) {
        return Err(Error::new(-1128, "Combination of optional parameters invalid."));
    }
    const WEEK_MS: i64 = 7 * 24 * 3_600_000;
    if let (Some(s), Some(e)) = (start, end)
        && (e < s || e - s > WEEK_MS)
    {
        return Err(Error::new(-1128, "Combination of optional parameters invalid."));
    }
    let limit = usize::try_from(num("limit")?.unwrap_or(500).clamp(1, 1000)).unwrap_or(500);
    let core = shared.core();
    let (lo, hi) = match (start, end) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, s + WEEK_MS),
        (None, Some(e)) => (e - WEEK_MS, e),
        (None, None) => (i64::MIN, i64::MAX),
    };
    let mut rows: Vec<(&OrderRecord, &super::exchange::Execution)> = core
        .ex
        .fills_of(account, Some(inst))
        .filter(|(_, x)| (lo..=hi).contains(&x.ts_ms))
        .filter(|(_, x)| from_id.is_none_or(|f| i64::try_from(x.trade_id).is_ok_and(|t| t >= f)))
        .collect();
    rows.sort_by_key(|(_, x)| x.trade_id);
    if start.is_none() && from_id.is_none() && rows.len() > limit {
        rows.drain(..rows.len() - limit);
    }
    rows.truncate(limit);
    let mut j = Json::new();
    j.open_arr_value();
    for (o, x) in rows {
        let quote = crate::fixed::notional(x.price, i.price_scale, x.qty, i.qty_scale).map_or(0, |n| n.0);
        j.open()
            .bool("buyer", o.side == Side::Buy)
            .str("commission", &fixed(x.fee.0, E8))
            .str("commissionAsset", "USDT")
            .uint("id", x.trade_id)
            .bool("maker", x.maker)
            .uint("orderId", o.id)
            .str("price", &fixed(x.price.0, i.price_scale))
            .str("qty", &fixed(x.qty.0, i.qty_scale))
            .str("quoteQty", &fixed(quote, E8))
            .str("realizedPnl", &fixed(x.realized.0, E8))
            .str("side", o.side.upper())
            .str("positionSide", "BOTH")
            .str("symbol", i.symbol.as_str())
            .int("time", x.ts_ms)
            .close();
    }
    j.close_arr();
    Ok(j.finish())
}

fn countdown(shared: &Shared, account: usize, params: &Params) -> Result<String, Error> {
    let symbol = params.req("symbol")?.to_owned();
    let ms: i64 = params.req("countdownTime")?.parse().map_err(|_| Error::mandatory("countdownTime"))?;
    let (inst, _) = instrument(shared, &symbol)?;
    let mut inner = shared.binance.lock();
    if ms <= 0 {
        inner.countdowns.remove(&(account, inst));
    } else {
        inner.countdowns.insert((account, inst), unix_ms() + ms);
    }
    Ok(format!("{{\"symbol\":\"{symbol}\",\"countdownTime\":\"{ms}\"}}"))
}

/// The most leverage the simulator accepts (Binance's largest bracket).
const MAX_LEVERAGE: i64 = 125;

/// `POST /fapi/v1/leverage`: the account's leverage on the symbol; the
/// answer is Binance's (`leverage`, `maxNotionalValue`, `symbol`).
fn set_leverage(shared: &Shared, account: usize, params: &Params) -> Result<String, Error> {
    let symbol = params.req("symbol")?.to_owned();
    let text = params.req("leverage")?;
    let leverage: i64 = text.parse().map_err(|_| Error::mandatory("leverage"))?;
    let (inst, _) = instrument(shared, &symbol)?;
    if !shared.core().ex.set_leverage(account, inst, leverage, MAX_LEVERAGE) {
        return Err(Error::new(-4028, format!("Leverage {leverage} is not valid")));
    }
    Ok(format!("{{\"leverage\":{leverage},\"maxNotionalValue\":\"1000000000\",\"symbol\":\"{symbol}\"}}"))
}

fn position_json(j: &mut Json, core: &Core, account: usize, inst: usize, v3: bool) {
    let i = core.ex.instruments()[inst];
    let p = core.ex.position(account, inst);
    let mark = core.ex.mark_e8(inst);
    let upl = core.ex.unrealized_e8(account, inst);
    let notional = i128::from(mark) * i128::from(p.qty) / 10i128.pow(u32::from(i.qty_scale));
    let notional = i64::try_from(notional).unwrap_or(0);
    j.open()
        .str("symbol", i.symbol.as_str())
        .str("positionSide", "BOTH")
        .str("positionAmt", &fixed(p.qty, i.qty_scale))
        .str("entryPrice", &fixed(p.entry_e8, E8))
        .str("breakEvenPrice", &fixed(p.entry_e8, E8))
        .str("markPrice", &fixed(mark, E8))
        .str("unRealizedProfit", &fixed(upl, E8))
        .str("liquidationPrice", "0")
        .str("isolatedMargin", "0")
        .str("notional", &fixed(notional, E8))
        .str("marginAsset", "USDT")
        .str("isolatedWallet", "0");
    if v3 {
        j.str("initialMargin", &fixed(notional.abs() / core.ex.leverage_of(account, inst), E8))
            .str("maintMargin", "0")
            .str("positionInitialMargin", &fixed(notional.abs() / core.ex.leverage_of(account, inst), E8))
            .str("openOrderInitialMargin", "0")
            .int("adl", 0)
            .str("bidNotional", "0")
            .str("askNotional", "0");
    } else {
        j.str("leverage", &core.ex.leverage_of(account, inst).to_string())
            .str("maxNotionalValue", "1000000000")
            .str("marginType", "cross")
            .str("isAutoAddMargin", "false");
    }
    j.int("updateTime", p.updated_ms).close();
}

fn position_risk(shared: &Shared, account: usize, symbol: Option<&str>, v3: bool) -> Result<String, Error> {
    let core = shared.core();
    let only = match symbol {
        Some(s) => Some(core.ex.inst_of(s).ok_or_else(|| Error::new(-1121, "Invalid symbol."))?),
        None => None,
    };
    let mut j = Json::new();
    j.open_arr_value();
    for (inst, _) in core.ex.venue_instruments() {
        if only.is_none_or(|o| o == inst) && (only.is_some() || !v3 || core.ex.position(account, inst).qty != 0) {
            position_json(&mut j, &core, account, inst, v3);
        }
    }
    j.close_arr();
    Ok(j.finish())
}

fn balances(core: &Core, account: usize) -> (i64, i64, i64) {
    let wallet = core.ex.wallet(account);
    let upl: i64 = core.ex.venue_instruments().map(|(i, _)| core.ex.unrealized_e8(account, i)).sum();
    (wallet, upl, core.ex.available_e8(account))
}

fn balance(shared: &Shared, account: usize) -> String {
    let core = shared.core();
    let (wallet, upl, avail) = balances(&core, account);
    let mut j = Json::new();
    j.open_arr_value();
    j.open()
        .str("accountAlias", "SimAcct")
        .str("asset", "USDT")
        .str("balance", &fixed(wallet, E8))
        .str("crossWalletBalance", &fixed(wallet, E8))
        .str("crossUnPnl", &fixed(upl, E8))
        .str("availableBalance", &fixed(avail, E8))
        .str("maxWithdrawAmount", &fixed(avail.max(0), E8))
        .bool("marginAvailable", true)
        .int("updateTime", unix_ms())
        .close();
    j.close_arr();
    j.finish()
}

fn account_info(shared: &Shared, account: usize, v3: bool) -> String {
    let core = shared.core();
    let (wallet, upl, avail) = balances(&core, account);
    let pos_margin = core.ex.position_margin_e8(account);
    let ord_margin = core.ex.order_margin_e8(account);
    let mut j = Json::new();
    j.open()
        .str("totalInitialMargin", &fixed(pos_margin + ord_margin, E8))
        .str("totalMaintMargin", "0.00000000")
        .str("totalWalletBalance", &fixed(wallet, E8))
        .str("totalUnrealizedProfit", &fixed(upl, E8))
        .str("totalMarginBalance", &fixed(wallet + upl, E8))
        .str("totalPositionInitialMargin", &fixed(pos_margin, E8))
        .str("totalOpenOrderInitialMargin", &fixed(ord_margin, E8))
        .str("totalCrossWalletBalance", &fixed(wallet, E8))
        .str("totalCrossUnPnl", &fixed(upl, E8))
        .str("availableBalance", &fixed(avail, E8))
        .str("maxWithdrawAmount", &fixed(avail.max(0), E8));
    j.open_arr("assets");
    j.open()
        .str("asset", "USDT")
        .str("walletBalance", &fixed(wallet, E8))
        .str("unrealizedProfit", &fixed(upl, E8))
        .str("marginBalance", &fixed(wallet + upl, E8))
        .str("maintMargin", "0.00000000")
        .str("initialMargin", &fixed(pos_margin + ord_margin, E8))
        .str("positionInitialMargin", &fixed(pos_margin, E8))
        .str("openOrderInitialMargin", &fixed(ord_margin, E8))
        .str("crossWalletBalance", &fixed(wallet, E8))
        .str("crossUnPnl", &fixed(upl, E8))
        .str("availableBalance", &fixed(avail, E8))
        .str("maxWithdrawAmount", &fixed(avail.max(0), E8))
        .int("updateTime", unix_ms())
        .close();
    j.close_arr();
    j.open_arr("positions");
    for (inst, _) in core.ex.venue_instruments() {
        if !v3 || core.ex.position(account, inst).qty != 0 {
            position_json(&mut j, &core, account, inst, v3);
        }
    }
    j.close_arr();
    j.close();
    j.finish()
}

fn new_listen_key(shared: &Shared, inner: &mut Inner) -> String {
    let rng = inner.rng.get_or_insert_with(|| SplitMix64::new(shared.cfg.fault_seed ^ 0xb1a5_ce00));
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..64).map(|_| ALNUM[rng.below(ALNUM.len())] as char).collect()
}

/// `POST /fapi/v1/listenKey`: the account's live key (extended), or a new one.
fn listen_key_start(shared: &Shared, account: usize) -> String {
    let mut inner = shared.binance.lock();
    let now = Instant::now();
    if let Some((k, lk)) = inner.listen_keys.iter_mut().find(|(_, lk)| lk.account == account && lk.expires > now) {
        lk.expires = now + LISTEN_KEY_VALIDITY;
        return k.clone();
    }
    let key = new_listen_key(shared, &mut inner);
    inner.listen_keys.insert(
        key.clone(),
        ListenKey { account, expires: now + LISTEN_KEY_VALIDITY, cursor: FaultCursor::starting_at(shared.elapsed()) },
    );
    key
}

fn listen_key_keepalive(shared: &Shared, account: usize, key: Option<&str>) -> Result<String, Error> {
    let mut inner = shared.binance.lock();
    let now = Instant::now();
    let found = match key {
        Some(k) => inner.listen_keys.get_mut(k).filter(|lk| lk.account == account).map(|lk| (k.to_owned(), lk)),
        None => inner.listen_keys.iter_mut().find(|(_, lk)| lk.account == account).map(|(k, lk)| (k.clone(), lk)),
    };
    match found {
        Some((k, lk)) if lk.expires > now => {
            lk.expires = now + LISTEN_KEY_VALIDITY;
            Ok(k)
        }
        _ => Err(Error::new(-1125, "This listenKey does not exist.")),
    }
}

fn listen_key_close(shared: &Shared, account: usize, key: Option<&str>) {
    let removed: Vec<String> = {
        let mut inner = shared.binance.lock();
        let keys: Vec<String> = inner
            .listen_keys
            .iter()
            .filter(|(k, lk)| lk.account == account && key.is_none_or(|x| x == k.as_str()))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &keys {
            inner.listen_keys.remove(k);
        }
        keys
    };
    let _core = shared.core();
    let mut reg = shared.reg();
    for c in reg.conns.values_mut() {
        if c.kind == ConnKind::BinancePrivate && c.listen_keys.iter().any(|k| removed.contains(k)) {
            c.send(Out::Close(1000, "listenKey closed"), &shared.stats);
            c.closing = true;
        }
    }
}

fn account_of_listen_key(shared: &Shared, key: &str) -> Option<usize> {
    let inner = shared.binance.lock();
    inner.listen_keys.get(key).filter(|lk| lk.expires > Instant::now()).map(|lk| lk.account)
}

/// Which connection a WebSocket path opens.
pub(crate) fn ws_route(shared: &Shared, path: &str, query: &str) -> Result<WsSetup, Response<Body>> {
    let params = parse_params(query);
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if path == "/ws-fapi/v1" {
        return Ok(WsSetup {
            kind: ConnKind::BinanceApi,
            route: Route::Orders,
            combined: false,
            binance_route: None,
            streams: Vec::new(),
            listen_keys: Vec::new(),
            account: None,
        });
    }
    let (route_name, rest) = match path.strip_prefix('/').and_then(|p| p.split_once('/')) {
        Some((r @ ("public" | "market" | "private"), rest)) => (Some(r), rest.to_owned()),
        _ => match path {
            "/public" | "/market" | "/private" => (Some(&path[1..]), String::new()),
            _ => (None, path.trim_start_matches('/').to_owned()),
        },
    };
    let (combined, in_path): (bool, Vec<String>) = if rest == "stream" || rest.is_empty() && param("streams").is_some()
    {
        (true, param("streams").map(|s| s.split('/').map(str::to_owned).collect()).unwrap_or_default())
    } else if rest == "ws" || rest.is_empty() {
        (false, Vec::new())
    } else if let Some(streams) = rest.strip_prefix("ws/") {
        (false, streams.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect())
    } else {
        shared.note_unknown(format!("WebSocket {path}"));
        return Err(json_response(
            StatusCode::NOT_FOUND,
            format!("{{\"code\":-1000,\"msg\":\"scalpel sim: no WebSocket route {path}\"}}"),
            &[],
        ));
    };
    if route_name == Some("private") {
        let mut keys: Vec<String> = in_path.iter().map(|s| s.split('@').next().unwrap_or("").to_owned()).collect();
        if let Some(k) = param("listenKey") {
            keys.extend(k.split('/').map(str::to_owned));
        }
        keys.retain(|k| !k.is_empty());
        let account = keys.iter().find_map(|k| account_of_listen_key(shared, k));
        if account.is_none() {
            Stats::inc(&shared.stats.unknown_listen_keys);
        }
        let events = param("events").map(|e| e.split('/').map(str::to_owned).collect()).unwrap_or_default();
        return Ok(WsSetup {
            kind: ConnKind::BinancePrivate,
            route: Route::Private,
            combined,
            binance_route: None,
            streams: events,
            listen_keys: keys,
            account,
        });
    }
    let binance_route = match route_name {
        Some("public") => Some(BinanceRoute::Public),
        Some("market") => Some(BinanceRoute::Market),
        _ => None,
    };
    Ok(WsSetup {
        kind: ConnKind::BinanceMarket,
        route: if binance_route == Some(BinanceRoute::Market) { Route::Market } else { Route::Public },
        combined,
        binance_route,
        streams: in_path,
        listen_keys: Vec::new(),
        account: None,
    })
}

/// The texts of `frame` a market connection should get.
pub(crate) fn frames_for(c: &Conn, frame: &FeedFrame) -> Vec<Bytes> {
    let FrameClass::BinanceStream { stream, key, route, data, combined } = &frame.class else { return Vec::new() };
    let served = match c.binance_route {
        Some(r) => r == *route,
        None => *route == BinanceRoute::Public,
    };
    if !served {
        return Vec::new();
    }
    let Some(names) = c.subs.get(key) else { return Vec::new() };
    names
        .iter()
        .map(|name| {
            if !c.combined {
                frame.bytes.slice(data.clone())
            } else if *combined && name == stream {
                frame.bytes.clone()
            } else {
                let mut v = Vec::with_capacity(data.len() + name.len() + 24);
                v.extend_from_slice(b"{\"stream\":\"");
                v.extend_from_slice(name.as_bytes());
                v.extend_from_slice(b"\",\"data\":");
                v.extend_from_slice(&frame.bytes[data.clone()]);
                v.push(b'}');
                Bytes::from(v)
            }
        })
        .collect()
}

fn stream_error(code: i64, msg: &str, id: &str) -> String {
    let mut j = Json::new();
    j.open().open_obj("error").int("code", code).str("msg", msg).close().raw("id", id).close();
    j.finish()
}

/// A client message on a Binance WebSocket.
pub(crate) async fn on_text(shared: &Shared, conn: u64, kind: ConnKind, text: &[u8], read_ns: u64) {
    if kind == ConnKind::BinanceApi {
        ws_api(shared, conn, text, read_ns);
        return;
    }
    // Market and private streams: subscription methods, 10 messages per second.
    let over = {
        let mut reg = shared.reg();
        let Some(c) = reg.conns.get_mut(&conn) else { return };
        c.msg_window.hit(unix_ms(), 1) > MESSAGES_PER_SECOND
    };
    if over {
        Stats::inc(&shared.stats.message_rate_closes);
        shared.send_to(conn, Out::Close(1008, "Too many requests"));
        return;
    }
    let req: Value = match serde_json::from_slice(text) {
        Ok(r) => r,
        Err(e) => {
            Stats::inc(&shared.stats.bad_client_messages);
            shared.reply(conn, stream_error(3, &format!("Invalid JSON: {e}"), "null"));
            return;
        }
    };
    let id = match req.get("id") {
        Some(v @ (Value::Number(_) | Value::String(_) | Value::Null)) => v.to_string(),
        _ => "null".to_owned(),
    };
    let method = req.get("method").and_then(Value::as_str);
    let params: &[Value] = req.get("params").and_then(Value::as_array).map_or(&[], Vec::as_slice);
    let params_ok = req.get("params").is_none_or(Value::is_array);
    let names: Vec<String> = params.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
    let reply = match method {
        _ if !params_ok => stream_error(2, "Invalid request: params must be a list", &id),
        Some("SUBSCRIBE" | "UNSUBSCRIBE") if names.len() != params.len() || names.is_empty() => {
            stream_error(2, "Invalid request: params must be a non-empty list of stream names", &id)
        }
        Some(m @ ("SUBSCRIBE" | "UNSUBSCRIBE")) => {
            // Under the core lock so a frame is published either before or after.
            let _core = shared.core();
            let mut reg = shared.reg();
            if let Some(c) = reg.conns.get_mut(&conn) {
                for name in &names {
                    if kind == ConnKind::BinancePrivate {
                        if m == "SUBSCRIBE" {
                            let key = name.split('@').next().unwrap_or("").to_owned();
                            if let Some(a) = account_of_listen_key(shared, &key) {
                                c.account = Some(a);
                                c.listen_keys.push(key);
                            }
                        }
                        continue;
                    }
                    let k = binance_stream_key(name);
                    if m == "SUBSCRIBE" {
                        let list = c.subs.entry(k).or_default();
                        if !list.contains(name) {
                            list.push(name.clone());
                        }
                    } else if let Some(list) = c.subs.get_mut(&k) {
                        list.retain(|n| n != name);
                        if list.is_empty() {
                            c.subs.remove(&k);
                        }
                    }
                }
            }
            format!("{{\"result\":null,\"id\":{id}}}")
        }
        Some("LIST_SUBSCRIPTIONS") => {
            let reg = shared.reg();
            let mut j = Json::new();
            j.open().open_arr("result");
            if let Some(c) = reg.conns.get(&conn) {
                let mut all: Vec<&String> = c.subs.values().flatten().collect();
                all.sort();
                for n in all {
                    j.str_value(n);
                }
            }
            j.close_arr().raw("id", &id).close();
            j.finish()
        }
        Some("SET_PROPERTY") => {
            let ok = matches!(params, [Value::String(p), Value::Bool(_)] if p == "combined");
            if ok {
                if let (Some(c), Some(v)) = (shared.reg().conns.get_mut(&conn), params[1].as_bool()) {
                    c.combined = v;
                }
                format!("{{\"result\":null,\"id\":{id}}}")
            } else {
                stream_error(0, "Unknown property", &id)
            }
        }
        Some("GET_PROPERTY") => {
            let combined = shared.reg().conns.get(&conn).is_some_and(|c| c.combined);
            format!("{{\"result\":{combined},\"id\":{id}}}")
        }
        _ => {
            Stats::inc(&shared.stats.bad_client_messages);
            stream_error(2, "Invalid request: unknown method", &id)
        }
    };
    shared.reply(conn, reply);
}

#[derive(serde::Deserialize)]
struct ApiRequest<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    method: Option<String>,
    #[serde(default, borrow)]
    params: Option<std::collections::BTreeMap<String, &'a RawValue>>,
}

fn raw_text(v: &RawValue) -> String {
    let s = v.get();
    if s.starts_with('"') { serde_json::from_str::<String>(s).unwrap_or_default() } else { s.to_owned() }
}

fn api_reply(shared: &Shared, id: &str, status: u16, result: Result<String, Error>, usage: Usage) -> String {
    let mut j = Json::new();
    j.open().raw("id", id);
    match result {
        Ok(r) => {
            j.int("status", i64::from(status)).raw("result", &r);
        }
        Err(e) => {
            shared.count_error(e.code);
            j.int("status", i64::from(e.status.as_u16()));
            j.open_obj("error").int("code", e.code).str("msg", &e.msg);
            if let Some(s) = e.retry_after_s {
                j.int("retryAfter", unix_ms() + s * 1000);
            }
            j.close();
        }
    }
    j.raw("rateLimits", &rate_limits_json(shared, usage)).close();
    j.finish()
}

fn conn_fault(shared: &Shared, conn: u64, kind: FaultKind) -> Option<super::faults::FaultRule> {
    let mut reg = shared.reg();
    let c = reg.conns.get_mut(&conn)?;
    shared.faults.event(kind, c.route, &mut c.cursor)
}

/// A WebSocket API request.
fn ws_api(shared: &Shared, conn: u64, text: &[u8], read_ns: u64) {
    let req: ApiRequest<'_> = match serde_json::from_slice(text) {
        Ok(r) => r,
        Err(_) => {
            Stats::inc(&shared.stats.bad_client_messages);
            let e = Error::new(-1000, "Invalid JSON request");
            shared.reply_private(conn, api_reply(shared, "null", 400, Err(e), Usage::default()));
            return;
        }
    };
    let id = req.id.map_or("null".to_owned(), |r| r.get().to_owned());
    let method = req.method.unwrap_or_default();
    let method = method.strip_prefix("v1/").or_else(|| method.strip_prefix("v2/")).unwrap_or(&method).to_owned();
    let params: Vec<(String, String)> =
        req.params.unwrap_or_default().into_iter().map(|(k, v)| (k, raw_text(v))).collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let (peer, session) = {
        let reg = shared.reg();
        let Some(c) = reg.conns.get(&conn) else { return };
        (c.peer.ip(), c.account)
    };
    let is_order = method == "order.place";
    if is_order {
        Stats::inc(&shared.stats.order_requests);
        stamp_order(
            shared,
            conn,
            OrderTransport::WebSocket,
            &get("newClientOrderId").unwrap_or_default(),
            read_ns,
            text.len(),
        );
    }
    if method == "order.cancel" {
        Stats::inc(&shared.stats.cancel_requests);
    }
    // Authentication: a signed request, or a logged-on session.
    let signed = matches!(
        method.as_str(),
        "order.place"
            | "order.cancel"
            | "order.status"
            | "order.modify"
            | "session.logon"
            | "account.status"
            | "account.balance"
            | "account.position"
    );
    let key_only = matches!(method.as_str(), "userDataStream.start" | "userDataStream.ping" | "userDataStream.stop");
    let mut account = None;
    let auth: Result<(), Error> = (|| {
        if !(signed || key_only) {
            return Ok(());
        }
        if method != "session.logon" && session.is_some() && get("signature").is_none() {
            account = session;
            if signed {
                check_time(shared, get("timestamp").as_deref(), get("recvWindow").as_deref())?;
            }
            return Ok(());
        }
        let key = get("apiKey").ok_or_else(|| Error::mandatory("apiKey"))?;
        let a = shared.core().ex.account_by_key(key.as_bytes()).ok_or_else(|| {
            Error::new(-2015, "Invalid API-key, IP, or permissions for action.").status(StatusCode::UNAUTHORIZED)
        })?;
        account = Some(a);
        if key_only {
            return Ok(());
        }
        let signature = get("signature").ok_or_else(|| Error::mandatory("signature"))?;
        let payload = params
            .iter()
            .filter(|(k, _)| k != "signature")
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let spec = shared.core().ex.account_spec(a).cloned();
        let ok = spec.is_some_and(|s| {
            let ed = s.ed25519.as_ref().is_some_and(|k| ed25519_ok(k, payload.as_bytes(), &signature));
            if method == "session.logon" {
                return ed;
            }
            ed || s.hmac.as_ref().is_some_and(|c| hmac_ok(&c.secret, &[payload.as_bytes()], &signature))
        });
        if !ok {
            Stats::inc(&shared.stats.bad_signatures);
            let has_ed = shared.core().ex.account_spec(a).is_some_and(|s| s.ed25519.is_some());
            if method == "session.logon" && !has_ed {
                return Err(Error::new(
                    -2015,
                    "Invalid API-key, IP, or permissions for action. (session.logon needs an Ed25519 key)",
                )
                .status(StatusCode::UNAUTHORIZED));
            }
            return Err(Error::new(-1022, "Signature for this request is not valid."));
        }
        check_time(shared, get("timestamp").as_deref(), get("recvWindow").as_deref())
    })();
    let weight = if method == "session.logon" { 2 } else { 1 };
    let usage = match auth.and_then(|()| {
        admit(shared, peer, if is_order { 0 } else { weight }, if is_order { account } else { None }, |k| {
            conn_fault(shared, conn, k)
        })
    }) {
        Ok(u) => u,
        Err(e) => {
            shared.reply_private(conn, api_reply(shared, &id, 400, Err(e), Usage::default()));
            return;
        }
    };
    let account_id = account.unwrap_or(0);
    let result: Result<String, Error> = match method.as_str() {
        "ping" => Ok("{}".into()),
        "time" => Ok(format!("{{\"serverTime\":{}}}", unix_ms())),
        "session.logon" => {
            let now = unix_ms();
            let opened = {
                let mut reg = shared.reg();
                reg.conns.get_mut(&conn).map(|c| {
                    c.account = account;
                    now - i64::try_from(c.opened.elapsed().as_millis()).unwrap_or(0)
                })
            };
            let key = get("apiKey").unwrap_or_default();
            Ok(format!(
                "{{\"apiKey\":\"{key}\",\"authorizedSince\":{now},\"connectedSince\":{},\"returnRateLimits\":true,\"serverTime\":{now}}}",
                opened.unwrap_or(now)
            ))
        }
        "session.status" => {
            let now = unix_ms();
            let key = session.and_then(|a| {
                shared.core().ex.account_spec(a).map(|s| String::from_utf8_lossy(s.api_key.as_bytes()).into_owned())
            });
            Ok(match key {
                Some(k) => format!(
                    "{{\"apiKey\":\"{k}\",\"authorizedSince\":{now},\"connectedSince\":{now},\"returnRateLimits\":true,\"serverTime\":{now}}}"
                ),
                None => format!(
                    "{{\"apiKey\":null,\"authorizedSince\":null,\"connectedSince\":{now},\"returnRateLimits\":true,\"serverTime\":{now}}}"
                ),
            })
        }
        "session.logout" => {
            if let Some(c) = shared.reg().conns.get_mut(&conn) {
                c.account = None;
            }
            let now = unix_ms();
            Ok(format!(
                "{{\"apiKey\":null,\"authorizedSince\":null,\"connectedSince\":{now},\"returnRateLimits\":true,\"serverTime\":{now}}}"
            ))
        }
        "userDataStream.start" => Ok(format!("{{\"listenKey\":\"{}\"}}", listen_key_start(shared, account_id))),
        "userDataStream.ping" => listen_key_keepalive(shared, account_id, get("listenKey").as_deref())
            .map(|k| format!("{{\"listenKey\":\"{k}\"}}")),
        "userDataStream.stop" => {
            listen_key_close(shared, account_id, get("listenKey").as_deref());
            Ok("{}".into())
        }
        "order.place" => new_order(shared, &get).and_then(|(order, inst, result)| {
            let placed = place(shared, account_id, order)?;
            Ok(order_json(if result { &placed.1 } else { &placed.0 }, &inst, false))
        }),
        "order.cancel" => cancel(shared, account_id, &get),
        "order.status" => query_order(shared, account_id, &get, false),
        "order.modify" => Err(Error::not_simulated("order.modify")),
        "account.status" | "account.balance" | "account.position" => Err(Error::not_simulated(&method)),
        _ => Err(Error::new(-1020, format!("This operation is not supported. (unknown method {method:?})"))),
    };
    if is_order && result.is_ok() {
        if let Some(rule) = conn_fault(shared, conn, FaultKind::OrderDrop) {
            let _ = rule;
            shared.faults.record(
                FaultKind::OrderDrop,
                conn,
                format!("order.place id {id} executed, socket dropped before the response"),
            );
            shared.send_to(conn, Out::Drop);
            return;
        }
    }
    shared.reply_private(conn, api_reply(shared, &id, 200, result, usage));
}

fn exec_text(e: &Exec) -> &'static str {
    match e {
        Exec::New => "NEW",
        Exec::Trade(_) => "TRADE",
        Exec::Canceled => "CANCELED",
        Exec::Expired => "EXPIRED",
    }
}

fn order_trade_update(o: &OrderRecord, exec: &Exec, i: &Instrument) -> String {
    let now = unix_ms();
    let mut j = Json::new();
    let t = match exec {
        Exec::Trade(x) => x.ts_ms,
        _ => o.updated_ms,
    };
    j.open().str("e", "ORDER_TRADE_UPDATE").int("E", now).int("T", t);
    j.open_obj("o")
        .str("s", i.symbol.as_str())
        .str("c", o.client.as_str())
        .str("S", o.side.upper())
        .str("o", type_text(o))
        .str("f", tif_text(o))
        .str("q", &fixed(o.qty.0, i.qty_scale))
        .str("p", &fixed(o.price.0, i.price_scale))
        .str("ap", &fixed(o.avg_price_e8(i), E8))
        .str("sp", "0")
        .str("x", exec_text(exec))
        .str("X", status_text(o.status))
        .uint("i", o.id);
    match exec {
        Exec::Trade(x) => {
            j.str("l", &fixed(x.qty.0, i.qty_scale))
                .str("z", &fixed(o.filled, i.qty_scale))
                .str("L", &fixed(x.price.0, i.price_scale))
                .str("N", "USDT")
                .str("n", &fixed(x.fee.0, E8))
                .int("T", x.ts_ms)
                .uint("t", x.trade_id);
        }
        _ => {
            j.str("l", &fixed(0, i.qty_scale))
                .str("z", &fixed(o.filled, i.qty_scale))
                .str("L", &fixed(0, i.price_scale))
                .int("T", o.updated_ms)
                .int("t", 0);
        }
    }
    let (maker, realized) = match exec {
        Exec::Trade(x) => (x.maker, x.realized.0),
        _ => (false, 0),
    };
    j.str("b", "0")
        .str("a", "0")
        .bool("m", maker)
        .bool("R", o.reduce_only)
        .str("wt", "CONTRACT_PRICE")
        .str("ot", type_text(o))
        .str("ps", "BOTH")
        .bool("cp", false)
        .str("rp", &fixed(realized, E8))
        .bool("pP", false)
        .int("si", 0)
        .int("ss", 0)
        .str("V", "EXPIRE_MAKER")
        .str("pm", "NONE")
        .int("gtd", 0)
        .close();
    j.close();
    j.finish()
}

fn trade_lite(o: &OrderRecord, x: &super::exchange::Execution, i: &Instrument) -> String {
    let mut j = Json::new();
    j.open()
        .str("e", "TRADE_LITE")
        .int("E", unix_ms())
        .int("T", x.ts_ms)
        .str("s", i.symbol.as_str())
        .str("q", &fixed(o.qty.0, i.qty_scale))
        .str("p", &fixed(o.price.0, i.price_scale))
        .bool("m", x.maker)
        .str("c", o.client.as_str())
        .str("S", o.side.upper())
        .str("L", &fixed(x.price.0, i.price_scale))
        .str("l", &fixed(x.qty.0, i.qty_scale))
        .uint("t", x.trade_id)
        .uint("i", o.id)
        .close();
    j.finish()
}

fn account_update(core: &Core, account: usize, inst: usize, reason: &str, ts_ms: i64) -> String {
    account_update_of(&core.ex, account, inst, reason, ts_ms)
}

fn account_update_of(ex: &super::exchange::Exchange, account: usize, inst: usize, reason: &str, ts_ms: i64) -> String {
    let i = ex.instruments()[inst];
    let p = ex.position(account, inst);
    let wallet = ex.wallet(account);
    let mut j = Json::new();
    j.open().str("e", "ACCOUNT_UPDATE").int("E", unix_ms()).int("T", ts_ms);
    j.open_obj("a").str("m", reason);
    j.open_arr("B");
    j.open().str("a", "USDT").str("wb", &fixed(wallet, E8)).str("cw", &fixed(wallet, E8)).str("bc", "0").close();
    j.close_arr();
    j.open_arr("P");
    j.open()
        .str("s", i.symbol.as_str())
        .str("pa", &fixed(p.qty, i.qty_scale))
        .str("ep", &fixed(p.entry_e8, E8))
        .str("bep", &fixed(p.entry_e8, E8))
        .str("cr", &fixed(p.realized_e8, E8))
        .str("up", &fixed(ex.unrealized_e8(account, inst), E8))
        .str("mt", "cross")
        .str("iw", "0")
        .str("ps", "BOTH")
        .close();
    j.close_arr();
    j.close().close();
    j.finish()
}

/// Delivers account events on the account's user-data streams.
pub(crate) fn deliver(shared: &Shared, core: &Core, events: &[AccountEvent]) {
    let mut reg = shared.reg();
    for ev in events {
        let account = ev.account();
        let mut fill: Option<u64> = None;
        let texts: Vec<(&str, String)> = match ev {
            AccountEvent::Order { order, exec } => {
                if let Exec::Trade(x) = exec {
                    fill = Some(x.trade_id);
                }
                let i = core.ex.instruments()[order.inst];
                let mut v = Vec::new();
                if let Exec::Trade(x) = exec {
                    v.push(("TRADE_LITE", trade_lite(order, x, &i)));
                }
                v.push(("ORDER_TRADE_UPDATE", order_trade_update(order, exec, &i)));
                v
            }
            AccountEvent::Position { inst, view, .. } => {
                vec![("ACCOUNT_UPDATE", account_update(core, account, *inst, "ORDER", view.updated_ms))]
            }
            AccountEvent::Balance { reason: BalanceReason::Funding, inst, ts_ms, .. } => {
                vec![("ACCOUNT_UPDATE", account_update(core, account, *inst, "FUNDING_FEE", *ts_ms))]
            }
            AccountEvent::Balance { reason: BalanceReason::Order, .. } => Vec::new(),
        };
        if texts.is_empty() {
            continue;
        }
        for c in reg.conns.values_mut() {
            if c.kind != ConnKind::BinancePrivate || c.account != Some(account) {
                continue;
            }
            let key = c.listen_keys.first().cloned().unwrap_or_default();
            let gets_fill =
                c.subs.is_empty() || ["TRADE_LITE", "ORDER_TRADE_UPDATE"].iter().any(|e| c.subs.contains_key(*e));
            if let Some(t) = fill
                && gets_fill
                && shared.fill_drop(c, &format!("the execution of trade {t}"))
            {
                continue;
            }
            for (event, text) in &texts {
                if !c.subs.is_empty() && !c.subs.contains_key(*event) {
                    continue;
                }
                let msg = if c.combined { format!("{{\"stream\":\"{key}\",\"data\":{text}}}") } else { text.clone() };
                shared.send_private(c, Bytes::from(msg));
            }
        }
    }
}

/// Periodic work: listenKey expiry (natural and injected), countdown cancels.
pub(crate) fn on_tick(shared: &Shared, elapsed: Duration) {
    let now = Instant::now();
    let now_ms = unix_ms();
    // (listenKey, expired by an injected fault) and (account, instrument) countdowns due.
    type Due = (Vec<(String, bool)>, Vec<(usize, usize)>);
    let (expired, due): Due = {
        let mut inner = shared.binance.lock();
        let mut expired = Vec::new();
        for (k, lk) in &mut inner.listen_keys {
            if lk.expires <= now {
                expired.push((k.clone(), false));
            } else if shared.faults.timed(FaultKind::ListenKeyExpire, Route::Private, elapsed, &mut lk.cursor).is_some()
            {
                expired.push((k.clone(), true));
            }
            FaultInjector::checked(&mut lk.cursor, elapsed);
        }
        for (k, _) in &expired {
            inner.listen_keys.remove(k);
        }
        let due: Vec<(usize, usize)> =
            inner.countdowns.iter().filter(|(_, t)| **t <= now_ms).map(|(k, _)| *k).collect();
        for k in &due {
            inner.countdowns.remove(k);
        }
        (expired, due)
    };
    if expired.is_empty() && due.is_empty() {
        return;
    }
    let mut core = shared.core();
    for (account, inst) in due {
        let mut events = Vec::new();
        core.ex.cancel_all(account, Some(inst), unix_ns(), &mut events);
        shared.deliver_events(&core, &mut events);
    }
    let mut reg = shared.reg();
    for (key, injected) in expired {
        if injected {
            shared.faults.record(FaultKind::ListenKeyExpire, 0, format!("listenKey {}…", &key[..8.min(key.len())]));
        }
        for c in reg.conns.values_mut() {
            if c.kind == ConnKind::BinancePrivate && c.listen_keys.contains(&key) {
                let text = format!("{{\"e\":\"listenKeyExpired\",\"E\":{now_ms},\"listenKey\":\"{key}\"}}");
                let msg = if c.combined { format!("{{\"stream\":\"{key}\",\"data\":{text}}}") } else { text };
                c.send(Out::Text(Bytes::from(msg)), &shared.stats);
                c.send(Out::Close(1000, "listenKey expired"), &shared.stats);
                c.closing = true;
            }
        }
    }
    drop(reg);
    drop(core);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::config::FillModel;
    use crate::fixed::Notional;
    use crate::instrument::{FeeSchedule, InstrumentTable};
    use crate::order::{ClientOrderId, FeeKind, OrderEvent, TradeId};
    use crate::sim::config::{AccountSpec, Limits};
    use crate::sim::exchange::Exchange;
    use crate::venue::Venue;
    use crate::venue::binance::private::BinancePrivateParser;
    use crate::venue::credentials::{ApiKey, Credentials};
    use crate::venue::private_event::{EMPTY_EVENT, PrivateEvent};

    fn table() -> InstrumentTable {
        InstrumentTable::from_toml_str(include_str!("../../tuning/instruments.toml")).unwrap()
    }

    fn exchange() -> Exchange {
        let account = AccountSpec {
            hmac: Some(Credentials::new(b"k", b"s").unwrap()),
            api_key: ApiKey::new(b"k").unwrap(),
            ed25519: None,
        };
        let mut ex = Exchange::new(
            Venue::BinanceUsdm,
            table(),
            &[account],
            FillModel::TradeThrough,
            Notional(10_000 * 100_000_000),
            20,
        );
        let btc = ex.inst_of("BTCUSDT").unwrap();
        let mut ev = Vec::new();
        let now = 1_723_161_256_000_000_000;
        ex.on_frame(br#"{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":9,"u":11,"pu":8,"b":[],"a":[]}}"#, None, now, &mut ev);
        ex.on_frame(
            br#"{"lastUpdateId":10,"E":1,"T":1,"bids":[["61800.20","2.000"]],"asks":[["61800.30","1.000"]]}"#,
            Some(btc),
            now,
            &mut ev,
        );
        assert!(ex.book(btc).is_some());
        ex
    }

    /// Our own exchangeInfo loader reads back exactly the served instruments.
    #[test]
    fn exchange_info_round_trips_through_our_loader() {
        let ex = exchange();
        let text = exchange_info_json(&ex, &Limits::VENUE);
        let mut loaded = InstrumentTable::new();
        assert_eq!(loaded.add_binance_exchange_info(&text, FeeSchedule::BINANCE_VIP0), Ok(2));
        for (_, i) in ex.venue_instruments() {
            assert_eq!(loaded.get(Venue::BinanceUsdm, &i.symbol), Some(i), "{}", i.symbol);
        }
    }

    /// The user-data events of a fill parse, with our parser, into exactly
    /// the fill the exchange made.
    #[test]
    fn user_data_events_parse_into_the_exact_fill() {
        let mut ex = exchange();
        let btc = ex.inst_of("BTCUSDT").unwrap();
        let i = ex.instruments()[btc];
        let mut events = Vec::new();
        let order = NewOrder {
            inst: btc,
            side: Side::Buy,
            kind: OrderKind::Market,
            tif: TimeInForce::Gtc,
            price: Price::ZERO,
            qty: Qty(5),
            reduce_only: false,
            client: ShortText::new("scalpel-3").unwrap(),
        };
        ex.place(0, order, 1_723_161_257_000_000_000, &mut events).unwrap();
        let mut parser = BinancePrivateParser::new();
        let parse = |parser: &mut BinancePrivateParser, text: String| {
            let mut out = [EMPTY_EVENT; 4];
            let mut bytes = text.clone().into_bytes();
            let n = parser.user_data(&mut bytes, &table(), &mut out).unwrap_or_else(|e| panic!("{e}: {text}"));
            out[..n].to_vec()
        };
        let mut fills = Vec::new();
        let mut saw_position = false;
        for ev in &events {
            match ev {
                AccountEvent::Order { order, exec: exec @ Exec::Trade(x) } => {
                    let lite = parse(&mut parser, trade_lite(order, x, &i));
                    let full = parse(&mut parser, order_trade_update(order, exec, &i));
                    let [PrivateEvent::Order(OrderEvent::Filled(l))] = lite[..] else { panic!("{lite:?}") };
                    let [PrivateEvent::Order(OrderEvent::Filled(f))] = full[..] else { panic!("{full:?}") };
                    assert_eq!(l.fee_kind, FeeKind::NotReported);
                    assert_eq!(
                        (f.trade_id, f.price, f.qty, f.fee, f.is_maker),
                        (TradeId(u128::from(x.trade_id)), x.price, x.qty, x.fee, x.maker)
                    );
                    assert_eq!((f.fee_kind, f.client_id), (FeeKind::Quote, ClientOrderId(3)));
                    assert_eq!(f.trade_id, l.trade_id, "TRADE_LITE and ORDER_TRADE_UPDATE name the same trade");
                    fills.push(f);
                }
                AccountEvent::Order { order, exec } => {
                    let got = parse(&mut parser, order_trade_update(order, exec, &i));
                    assert!(
                        matches!(got[..], [PrivateEvent::Order(OrderEvent::Acked { client_id: ClientOrderId(3), .. })]),
                        "{got:?}"
                    );
                }
                AccountEvent::Position { inst, view, .. } => {
                    let got = parse(&mut parser, account_update_of(&ex, 0, *inst, "ORDER", view.updated_ms));
                    // ACCOUNT_UPDATE carries the wallet balance and the position.
                    let [PrivateEvent::Account(a), PrivateEvent::Position(p)] = got[..] else { panic!("{got:?}") };
                    assert_eq!(a.wallet_balance.0, ex.wallet(0), "the simulator's wallet, exactly");
                    assert_eq!((p.qty.0, p.entry_price.0), (view.qty, view.entry_e8));
                    saw_position = true;
                }
                AccountEvent::Balance { .. } => {}
            }
        }
        assert_eq!(fills.iter().map(|f| f.qty.0).sum::<i64>(), 5);
        assert!(saw_position);
    }
}
