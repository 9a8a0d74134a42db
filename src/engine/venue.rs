//! One venue's order entry and REST requests for the live engine: the
//! signer, the encoding of intents for the order WebSocket or REST, the
//! authentication messages built at every connect, and the REST jobs
//! (depth snapshots, clock, listenKey, dead-man switches, order queries,
//! fill fetches after a private-stream outage, REST order fallback) with
//! their answers.
//!
//! Sources: the encoders' and parsers' module docs (`venue/binance/*`,
//! `venue/bybit/*`); Binance USDⓈ-M "User Data Streams" (listenKey: create
//! with `POST /fapi/v1/listenKey`, keep alive with `PUT` within 60 minutes,
//! `listenKeyExpired` when it lapses), "Auto-Cancel All Open Orders"
//! (`countdownCancelAll`), "Check Server Time" (`GET /fapi/v1/time`);
//! Bybit v5 "Set Disconnection Protection" (`POST
//! /v5/order/disconnected-cancel-all`, `timeWindow` 3–300 s), "Get Bybit
//! Server Time" (`GET /v5/market/time`), "Get Open & Closed Orders"
//! (`GET /v5/order/realtime`).
//!
//! # Invariants
//! - Keys are keyed once at start (HMAC state precomputed in
//!   [`crate::venue::credentials::HmacSha256Key`]); every request is
//!   written into buffers allocated once, and timestamps are the venue's
//!   clock as estimated from its own answers ([`VenueClock`]).
//! - Nothing here touches a socket: it returns bytes (or a request) for
//!   the loop to send.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::fixed::Price;
use crate::instrument::{Instrument, InstrumentId, Symbol, Venue};
use crate::order::ClientOrderId;
use crate::order::ids::{RequestOp, RequestTag};
use crate::venue::binance::order::{API_KEY_HEADER, BinanceOrderEncoder, TradesFrom};
use crate::venue::binance::rest::{LISTEN_KEY_PATH, ListenKeyOp};
use crate::venue::bybit::order::BybitOrderEncoder;
use crate::venue::signed_request::{EncodeError, Header, RecvWindow, RestRequest};
use crate::venue::wire_writer::WireWriter;

use super::config::VenueSecrets;

/// The venue's clock as seen from here: Unix ms + offset.
#[derive(Debug, Clone, Default)]
pub struct VenueClock {
    offset_ms: Arc<AtomicI64>,
}

impl VenueClock {
    /// The offset (venue − local), ms.
    #[must_use]
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Learns from a server time `server_ms` answered to a request sent at
    /// local `sent_ms` and received at `recv_ms` (the midpoint rule).
    pub fn observe(&self, server_ms: i64, sent_ms: i64, recv_ms: i64) {
        let mid = sent_ms + (recv_ms - sent_ms) / 2;
        self.offset_ms.store(server_ms - mid, Ordering::Relaxed);
    }

    /// The venue's time now, from local Unix ms.
    #[must_use]
    pub fn venue_ms(&self, local_ms: u64) -> u64 {
        u64::try_from(i64::try_from(local_ms).unwrap_or(i64::MAX).saturating_add(self.offset_ms())).unwrap_or(0)
    }
}

/// Wall-clock Unix milliseconds (for authentication messages, built at
/// connect time).
fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A venue's signer.
#[derive(Debug, Clone)]
pub enum Signer {
    /// Binance (HMAC or Ed25519).
    Binance(BinanceOrderEncoder),
    /// Bybit (HMAC).
    Bybit(BybitOrderEncoder),
}

impl Signer {
    /// The signer for `secrets` on `venue`.
    #[must_use]
    pub fn new(venue: Venue, secrets: VenueSecrets, recv_window: RecvWindow) -> Option<Self> {
        match (venue, secrets) {
            (Venue::BinanceUsdm, VenueSecrets::Hmac(c)) => {
                Some(Signer::Binance(BinanceOrderEncoder::new(c, recv_window)))
            }
            (Venue::BinanceUsdm, VenueSecrets::Ed25519 { api_key, key }) => {
                Some(Signer::Binance(BinanceOrderEncoder::with_ed25519(api_key, key, recv_window)))
            }
            (Venue::BybitLinear, VenueSecrets::Hmac(c)) => Some(Signer::Bybit(BybitOrderEncoder::new(c, recv_window))),
            (Venue::BybitLinear, VenueSecrets::Ed25519 { .. }) => None,
        }
    }

    /// Whether the order WebSocket authenticates at connect (Binance with an
    /// Ed25519 key: `session.logon`; Bybit: `auth`).
    #[must_use]
    pub fn ws_logs_on(&self) -> bool {
        match self {
            Signer::Binance(e) => e.key_kind() == crate::venue::binance::order::BinanceKeyKind::Ed25519,
            Signer::Bybit(_) => true,
        }
    }

    /// The receive window.
    #[must_use]
    pub fn recv_window(&self) -> RecvWindow {
        match self {
            Signer::Binance(e) => e.recv_window(),
            Signer::Bybit(e) => e.recv_window(),
        }
    }

    /// Marks the order WebSocket as logged on (Binance Ed25519) or not.
    pub fn set_session(&mut self, on: bool) {
        if let Signer::Binance(e) = self {
            let _ = e.set_ws_session(on && e.key_kind() == crate::venue::binance::order::BinanceKeyKind::Ed25519);
        }
    }

    /// The authentication message builder for a WebSocket that must log on
    /// at every connect (`None` when it needs none).
    #[must_use]
    pub fn ws_auth(&self, clock: &VenueClock) -> Option<crate::net::AuthFn> {
        let clock = clock.clone();
        let mut n = 0u64;
        match self {
            Signer::Binance(e) if self.ws_logs_on() => {
                let e = e.clone();
                Some(Box::new(move || {
                    n += 1;
                    let mut buf = vec![0u8; 1024];
                    let tag = RequestTag::new(RequestOp::Auth, ClientOrderId(n));
                    let len = e.ws_session_logon(tag, clock.venue_ms(wall_ms()), &mut buf).unwrap_or(0);
                    buf.truncate(len);
                    buf
                }))
            }
            Signer::Binance(_) => None,
            Signer::Bybit(e) => {
                let e = e.clone();
                Some(Box::new(move || {
                    n += 1;
                    let mut buf = vec![0u8; 512];
                    let tag = RequestTag::new(RequestOp::Auth, ClientOrderId(n));
                    // The signature stays valid 10 s: long enough for the connect.
                    let expires = clock.venue_ms(wall_ms()) + 10_000;
                    let len = e.ws_auth(tag, expires, &mut buf).map_or(0, <[u8]>::len);
                    buf.truncate(len);
                    buf
                }))
            }
        }
    }

    /// An `order.place` / `order.create` for the order WebSocket.
    ///
    /// # Errors
    /// [`EncodeError`] (a failed check: nothing to send).
    pub fn ws_place<'a>(
        &self,
        order: &crate::order::OrderRequest,
        inst: &Instrument,
        market_ref: Price,
        ts_ms: u64,
        buf: &'a mut [u8],
    ) -> Result<&'a [u8], EncodeError> {
        let tag = RequestTag::new(RequestOp::Place, order.client_id);
        match self {
            Signer::Binance(e) => e.ws_place(order, inst, market_ref, tag, ts_ms, buf).map(|s| s.request),
            Signer::Bybit(e) => e.ws_create(order, inst, market_ref, tag, ts_ms, buf).map(|s| s.request),
        }
    }

    /// An `order.cancel` for the order WebSocket.
    ///
    /// # Errors
    /// [`EncodeError`].
    pub fn ws_cancel<'a>(
        &self,
        symbol: &Symbol,
        client_id: ClientOrderId,
        attempt: u8,
        ts_ms: u64,
        buf: &'a mut [u8],
    ) -> Result<&'a [u8], EncodeError> {
        let tag = RequestTag { op: RequestOp::Cancel, client_id, attempt };
        match self {
            Signer::Binance(e) => e.ws_cancel(symbol, client_id, tag, ts_ms, buf),
            Signer::Bybit(e) => e.ws_cancel(symbol, client_id, tag, ts_ms, buf),
        }
    }
}

/// A REST job of the engine (one request in flight per connection).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Job {
    /// Binance depth snapshot for a book.
    Depth(InstrumentId),
    /// Server time.
    Time,
    /// An order sent over REST (the order WebSocket is down, or REST is configured).
    Place {
        /// The intent.
        intent: crate::core::Intent,
        /// When it was queued, ns.
        queued_ns: u64,
    },
    /// A cancel sent over REST.
    Cancel {
        /// The intent.
        intent: crate::core::Intent,
        /// When it was queued, ns.
        queued_ns: u64,
    },
    /// Order state query.
    Query {
        /// The order.
        client: ClientOrderId,
        /// Its instrument.
        inst: InstrumentId,
    },
    /// Binance `countdownCancelAll` refresh for a symbol.
    Countdown(InstrumentId),
    /// Binance listenKey create / keep-alive.
    ListenKey(ListenKeyOp),
    /// Bybit disconnection protection.
    Protection,
    /// Cancel every open order of a symbol (shutdown).
    CancelAll(InstrumentId),
    /// One page of a symbol's fills, fetched after a private stream was
    /// down (Binance `GET /fapi/v1/userTrades`, Bybit `GET
    /// /v5/execution/list`).
    Fills {
        /// The instrument.
        inst: InstrumentId,
        /// Venue time the fetch covers from, ms (the outage's start less a
        /// margin).
        since_ms: u64,
        /// Binance: this page starts at this trade id (0: the first page,
        /// from `since_ms`).
        from_id: u64,
        /// Bybit: this page's cursor (empty: the first page).
        cursor: crate::venue::private_event::PageCursor,
        /// Page number, 0 first.
        page: u8,
        /// Failed tries of this page so far.
        tries: u8,
    },
    /// Set the symbol's leverage on the venue (start-up: the profile's
    /// `[leverage]`, see [`crate::strategy::leverage::LeverageConfig::venue_leverage`]).
    SetLeverage {
        /// The instrument.
        inst: InstrumentId,
        /// The leverage, 1–125.
        leverage: u8,
    },
}

impl Job {
    /// The request tag of an order job (REST answers echo none).
    #[must_use]
    pub fn tag(&self) -> Option<RequestTag> {
        match *self {
            Job::Place { intent, .. } => Some(RequestTag::new(RequestOp::Place, intent.client_id())),
            Job::Cancel { intent, .. } => Some(RequestTag::new(RequestOp::Cancel, intent.client_id())),
            Job::Query { client, .. } => Some(RequestTag::new(RequestOp::Query, client)),
            Job::CancelAll(_) => Some(RequestTag::new(RequestOp::CancelAll, ClientOrderId(0))),
            Job::Fills { inst, page, .. } => {
                Some(RequestTag { op: RequestOp::Fills, client_id: ClientOrderId(u64::from(inst.0)), attempt: page })
            }
            _ => None,
        }
    }
}

/// Rows asked for per fill-fetch page: a page's fills must fit the core's
/// private event buffer (a fuller page is refused whole).
pub const FILL_PAGE_LIMIT: u16 = 50;
const _: () = assert!(FILL_PAGE_LIMIT as usize <= crate::core::PRIVATE_EVENTS_PER_FRAME);

/// A request ready for [`crate::net::NetLoop::http_request`].
pub struct HttpRequest<'a> {
    /// Method.
    pub method: &'static str,
    /// Path and query.
    pub target: &'a [u8],
    /// Headers (at most six).
    pub headers: [(&'static str, &'a [u8]); 6],
    /// How many headers.
    pub header_count: usize,
    /// Body.
    pub body: &'a [u8],
}

impl HttpRequest<'_> {
    /// The headers in use.
    #[must_use]
    pub fn headers(&self) -> &[(&'static str, &[u8])] {
        &self.headers[..self.header_count]
    }
}

/// Buffers for REST requests (allocated once).
pub struct RestBuffers {
    req: Box<[u8]>,
    target: Box<[u8]>,
}

impl Default for RestBuffers {
    fn default() -> Self {
        Self { req: vec![0; 8192].into_boxed_slice(), target: vec![0; 8192].into_boxed_slice() }
    }
}

impl std::fmt::Debug for RestBuffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RestBuffers")
    }
}

/// Why a job could not be turned into a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The encoder refused (a failed order check, a small buffer).
    #[error("{0}")]
    Encode(#[from] EncodeError),
    /// A signed job without keys, or a job of the other venue.
    #[error("no signer for this request")]
    NoSigner,
}

fn from_rest<'a>(req: RestRequest<'a>, target: &'a mut [u8]) -> Result<HttpRequest<'a>, JobError> {
    let mut w = WireWriter::new(target);
    w.bytes(req.path.as_bytes()).map_err(EncodeError::from)?;
    if !req.query.is_empty() {
        w.byte(b'?').map_err(EncodeError::from)?;
        w.bytes(req.query).map_err(EncodeError::from)?;
    }
    let (t, n) = w.finish();
    let mut headers: [(&'static str, &'a [u8]); 6] = [("", b""); 6];
    let hs: &[Header<'a>] = req.headers();
    for (slot, h) in headers.iter_mut().zip(hs) {
        *slot = (h.name, h.value);
    }
    Ok(HttpRequest {
        method: req.method.as_str(),
        target: &t[..n],
        headers,
        header_count: hs.len().min(6),
        body: req.body,
    })
}

fn plain<'a>(method: &'static str, target: &'a [u8]) -> HttpRequest<'a> {
    HttpRequest { method, target, headers: [("", b""); 6], header_count: 0, body: b"" }
}

impl RestBuffers {
    /// The request for `job` on `venue` at venue time `ts_ms`.
    ///
    /// # Errors
    /// [`JobError`].
    pub fn encode<'a>(
        &'a mut self,
        venue: Venue,
        signer: Option<&'a Signer>,
        insts: &[Instrument],
        job: &Job,
        market_ref: Price,
        deadman_countdown_ms: u64,
        dcp_window_secs: u32,
        ts_ms: u64,
    ) -> Result<HttpRequest<'a>, JobError> {
        let inst = |i: InstrumentId| insts.get(usize::from(i.0)).copied().ok_or(JobError::NoSigner);
        match (*job, venue) {
            (Job::Depth(i), Venue::BinanceUsdm) => {
                let n = crate::venue::binance::rest::depth_target(&inst(i)?.symbol, 1000, &mut self.target).map_err(
                    |_| {
                        JobError::Encode(EncodeError::Buffer(crate::venue::wire_writer::BufferTooSmall { capacity: 0 }))
                    },
                )?;
                Ok(plain("GET", &self.target[..n]))
            }
            (Job::Depth(_), Venue::BybitLinear) => Err(JobError::NoSigner),
            (Job::Time, Venue::BinanceUsdm) => Ok(plain("GET", b"/fapi/v1/time")),
            (Job::Time, Venue::BybitLinear) => Ok(plain("GET", b"/v5/market/time")),
            (Job::Place { intent: crate::core::Intent::Place { order, inst: i, .. }, .. }, _) => {
                let instrument = inst(i)?;
                match signer {
                    Some(Signer::Binance(e)) => {
                        let s = e.rest_new_order(&order, &instrument, market_ref, ts_ms, &mut self.req)?;
                        from_rest(s.request, &mut self.target)
                    }
                    Some(Signer::Bybit(e)) => {
                        let s = e.rest_create(&order, &instrument, market_ref, ts_ms, &mut self.req)?;
                        from_rest(s.request, &mut self.target)
                    }
                    None => Err(JobError::NoSigner),
                }
            }
            (Job::Cancel { intent: crate::core::Intent::Cancel { symbol, client_id, .. }, .. }, _) => match signer {
                Some(Signer::Binance(e)) => {
                    from_rest(e.rest_cancel(&symbol, client_id, ts_ms, &mut self.req)?, &mut self.target)
                }
                Some(Signer::Bybit(e)) => {
                    from_rest(e.rest_cancel(&symbol, client_id, ts_ms, &mut self.req)?, &mut self.target)
                }
                None => Err(JobError::NoSigner),
            },
            (Job::Place { .. } | Job::Cancel { .. }, _) => Err(JobError::NoSigner),
            (Job::Query { client, inst: i }, _) => {
                let symbol = inst(i)?.symbol;
                match signer {
                    Some(Signer::Binance(e)) => {
                        from_rest(e.rest_query_order(&symbol, client, ts_ms, &mut self.req)?, &mut self.target)
                    }
                    Some(Signer::Bybit(e)) => {
                        from_rest(e.rest_query_order(&symbol, client, ts_ms, &mut self.req)?, &mut self.target)
                    }
                    None => Err(JobError::NoSigner),
                }
            }
            (Job::Countdown(i), Venue::BinanceUsdm) => match signer {
                Some(Signer::Binance(e)) => from_rest(
                    e.rest_countdown_cancel_all(&inst(i)?.symbol, deadman_countdown_ms, ts_ms, &mut self.req)?,
                    &mut self.target,
                ),
                _ => Err(JobError::NoSigner),
            },
            (Job::ListenKey(op), Venue::BinanceUsdm) => match signer {
                Some(Signer::Binance(e)) => {
                    let key = e.api_key().as_bytes();
                    let n = key.len().min(self.req.len());
                    self.req[..n].copy_from_slice(&key[..n]);
                    let mut headers: [(&'static str, &[u8]); 6] = [("", b""); 6];
                    headers[0] = (API_KEY_HEADER, &self.req[..n]);
                    Ok(HttpRequest {
                        method: op.method().as_str(),
                        target: LISTEN_KEY_PATH.as_bytes(),
                        headers,
                        header_count: 1,
                        body: b"",
                    })
                }
                _ => Err(JobError::NoSigner),
            },
            (Job::Protection, Venue::BybitLinear) => match signer {
                Some(Signer::Bybit(e)) => {
                    from_rest(e.rest_disconnect_protection(dcp_window_secs, ts_ms, &mut self.req)?, &mut self.target)
                }
                _ => Err(JobError::NoSigner),
            },
            (Job::CancelAll(i), _) => {
                let symbol = inst(i)?.symbol;
                match signer {
                    Some(Signer::Binance(e)) => {
                        from_rest(e.rest_cancel_all(&symbol, ts_ms, &mut self.req)?, &mut self.target)
                    }
                    Some(Signer::Bybit(e)) => {
                        from_rest(e.rest_cancel_all(&symbol, ts_ms, &mut self.req)?, &mut self.target)
                    }
                    None => Err(JobError::NoSigner),
                }
            }
            (Job::Fills { inst: i, since_ms, from_id, cursor, .. }, _) => {
                let symbol = inst(i)?.symbol;
                match signer {
                    Some(Signer::Binance(e)) => {
                        let from =
                            if from_id > 0 { TradesFrom::FromId(from_id) } else { TradesFrom::StartTime(since_ms) };
                        from_rest(
                            e.rest_user_trades(&symbol, from, FILL_PAGE_LIMIT, ts_ms, &mut self.req)?,
                            &mut self.target,
                        )
                    }
                    Some(Signer::Bybit(e)) => from_rest(
                        e.rest_execution_list(
                            &symbol,
                            since_ms,
                            FILL_PAGE_LIMIT,
                            cursor.as_bytes(),
                            ts_ms,
                            &mut self.req,
                        )?,
                        &mut self.target,
                    ),
                    None => Err(JobError::NoSigner),
                }
            }
            (Job::SetLeverage { inst: i, leverage }, _) => {
                let symbol = inst(i)?.symbol;
                match signer {
                    Some(Signer::Binance(e)) => {
                        from_rest(e.rest_set_leverage(&symbol, leverage, ts_ms, &mut self.req)?, &mut self.target)
                    }
                    Some(Signer::Bybit(e)) => {
                        from_rest(e.rest_set_leverage(&symbol, leverage, ts_ms, &mut self.req)?, &mut self.target)
                    }
                    None => Err(JobError::NoSigner),
                }
            }
            (Job::Countdown(_) | Job::ListenKey(_), Venue::BybitLinear) | (Job::Protection, Venue::BinanceUsdm) => {
                Err(JobError::NoSigner)
            }
        }
    }
}

/// The server time in an answer to [`Job::Time`] (Binance `serverTime`,
/// Bybit `result.timeNano`), ms.
#[must_use]
pub fn server_time_ms(venue: Venue, body: &[u8]) -> Option<i64> {
    let (key, divisor): (&[u8], i64) = match venue {
        Venue::BinanceUsdm => (b"\"serverTime\":", 1),
        Venue::BybitLinear => (b"\"timeNano\":\"", 1_000_000),
    };
    let at = body.windows(key.len()).position(|w| w == key)? + key.len();
    let digits = body[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    let text = std::str::from_utf8(&body[at..at + digits]).ok()?;
    text.parse::<i64>().ok().map(|v| v / divisor)
}

/// `true` for a Binance user-data frame announcing the key expired.
#[must_use]
pub fn is_listen_key_expired(frame: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"listenKeyExpired";
    frame.len() < 512 && frame.windows(NEEDLE.len()).any(|w| w == NEEDLE)
}

/// The exchange time (`"E":`) of a Binance market frame, ms, for merging
/// the routes' frames (`None` for control messages).
#[must_use]
pub fn binance_event_ms(frame: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"\"E\":";
    let at = frame.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let mut v: i64 = 0;
    let mut n = 0;
    for &b in &frame[at..] {
        if !b.is_ascii_digit() || n > 18 {
            break;
        }
        v = v * 10 + i64::from(b - b'0');
        n += 1;
    }
    (n > 0).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_times_and_markers() {
        assert_eq!(server_time_ms(Venue::BinanceUsdm, br#"{"serverTime":1723161256313}"#), Some(1_723_161_256_313));
        assert_eq!(
            server_time_ms(
                Venue::BybitLinear,
                br#"{"retCode":0,"result":{"timeSecond":"1","timeNano":"1723161256313123456"}}"#
            ),
            Some(1_723_161_256_313)
        );
        assert_eq!(server_time_ms(Venue::BinanceUsdm, b"{}"), None);
        assert!(is_listen_key_expired(br#"{"e":"listenKeyExpired","E":1,"listenKey":"abc"}"#));
        assert!(!is_listen_key_expired(br#"{"e":"ORDER_TRADE_UPDATE"}"#));
        assert_eq!(
            binance_event_ms(br#"{"stream":"x@depth","data":{"e":"depthUpdate","E":17231612,"T":1}}"#),
            Some(17_231_612)
        );
        assert_eq!(binance_event_ms(br#"{"result":null,"id":1}"#), None);
        let clock = VenueClock::default();
        clock.observe(1_000_050, 1_000_000, 1_000_020);
        assert_eq!(clock.offset_ms(), 40);
        assert_eq!(clock.venue_ms(2_000), 2_040);
    }
}
