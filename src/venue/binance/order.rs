//! Binance USDⓈ-M order encoding and signing, sans-IO.
//!
//! Sources (Binance derivatives documentation):
//! - Signed endpoint security, HMAC over "totalParams" = query string
//!   followed by body, `signature` sent last:
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info>
//! - New order `POST /fapi/v1/order`:
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api>
//! - Cancel `DELETE /fapi/v1/order`:
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Cancel-Order>
//! - Cancel all `DELETE /fapi/v1/allOpenOrders`:
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Cancel-All-Open-Orders>
//! - Change initial leverage `POST /fapi/v1/leverage` (`symbol`,
//!   `leverage` 1–125, signed; answer `{"leverage":…,"maxNotionalValue":…,"symbol":…}`):
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Change-Initial-Leverage>
//! - WebSocket API `order.place` / `order.cancel` / `order.modify`
//!   (`wss://ws-fapi.binance.com/ws-fapi/v1`), signature over every
//!   parameter except `signature`, sorted by name:
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-api-general-info>,
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/websocket-api>,
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/websocket-api/Cancel-Order>,
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/websocket-api/Modify-Order>
//!
//! # Invariants
//! - Every order passes [`prepare`] (tick/step rounding in the safe
//!   direction, min/max quantity, min notional) before a byte is signed.
//! - REST parameters all travel in the query string (the body stays empty),
//!   `signature` is the last parameter, and the MAC covers exactly the bytes
//!   before `&signature=`.
//! - WebSocket parameters are written in ascending name order and the MAC
//!   covers `name=value` pairs joined by `&` in that order, with the same
//!   value text that appears in the JSON (collected in a small stack buffer
//!   while the JSON is written, then signed in one update).
//! - No heap allocation: everything is written into the caller's buffer.
//! - One-way position mode is assumed (`positionSide` is not sent; Binance
//!   refuses `reduceOnly` in hedge mode).
//! - Two key types ([`BinanceSigner`]): HMAC-SHA256 (hex signature on every
//!   request) and Ed25519 (base64 signature, percent-encoded in a query
//!   string). With an Ed25519 key the WebSocket API connection can log on
//!   once with `session.logon` (signed payload `apiKey=…&recvWindow=…&timestamp=…`,
//!   sorted by name, as every WS API signature); after the venue accepted it
//!   ([`BinanceOrderEncoder::set_ws_session`]) `order.place`/`order.cancel`/
//!   `order.modify` carry neither `apiKey` nor `signature`. Binance documents
//!   `session.logon` for Ed25519 keys only:
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-api-general-info>
//!   ("Log in with API key", "SIGNED request example (Ed25519)").

use crate::fixed::{DecimalText, Price};
use crate::instrument::{Instrument, Symbol};
use crate::order::ids::RequestTag;
use crate::order::prepare::prepare;
use crate::order::{ClientOrderId, OrderKind, OrderRequest, TimeInForce};
use crate::venue::Venue;
use crate::venue::credentials::{ApiKey, Credentials, Ed25519Key};
use crate::venue::signed_request::{EncodeError, Header, HttpMethod, RecvWindow, RestRequest, SignedOrder};
use crate::venue::wire_writer::{U64Text, WireWriter};

/// REST path of new order and cancel.
pub const ORDER_PATH: &str = "/fapi/v1/order";
/// REST path of cancel-all.
pub const ALL_OPEN_ORDERS_PATH: &str = "/fapi/v1/allOpenOrders";
/// REST path of the initial-leverage change.
pub const LEVERAGE_PATH: &str = "/fapi/v1/leverage";
/// REST path of the account trade list (our fills, one symbol).
pub const USER_TRADES_PATH: &str = "/fapi/v1/userTrades";

/// Where a page of `GET /fapi/v1/userTrades` starts (the venue refuses
/// `fromId` together with `startTime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradesFrom {
    /// Trades at or after this venue time, ms (the first page).
    StartTime(u64),
    /// Trades with this trade id or a higher one (the next pages).
    FromId(u64),
}
/// Header carrying the API key.
pub const API_KEY_HEADER: &str = "X-MBX-APIKEY";

/// Binance spelling of a time in force.
#[must_use]
pub const fn tif_text(tif: TimeInForce) -> &'static [u8] {
    match tif {
        TimeInForce::Gtc => b"GTC",
        TimeInForce::Ioc => b"IOC",
        TimeInForce::PostOnly => b"GTX",
    }
}

const fn kind_text(kind: OrderKind) -> &'static [u8] {
    match kind {
        OrderKind::Limit => b"LIMIT",
        OrderKind::Market => b"MARKET",
    }
}

/// Which key type signs Binance requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinanceKeyKind {
    /// HMAC-SHA256 secret.
    Hmac,
    /// Ed25519 private key (enables WebSocket `session.logon`).
    Ed25519,
}

/// What signs Binance requests.
#[derive(Debug, Clone)]
pub enum BinanceSigner {
    /// HMAC-SHA256: lower-case hex over the payload.
    Hmac(Credentials),
    /// Ed25519: standard base64 over the payload.
    Ed25519 {
        /// The API key registered with the Ed25519 public key.
        api_key: ApiKey,
        /// The private key.
        key: Ed25519Key,
    },
}

/// A signature's text: 64 hex characters or 88 base64 characters.
struct SigText {
    buf: [u8; 88],
    len: usize,
}

impl SigText {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl BinanceSigner {
    fn api_key(&self) -> &ApiKey {
        match self {
            BinanceSigner::Hmac(c) => &c.api_key,
            BinanceSigner::Ed25519 { api_key, .. } => api_key,
        }
    }

    fn sign(&self, payload: &[u8]) -> SigText {
        let mut buf = [0u8; 88];
        match self {
            BinanceSigner::Hmac(c) => {
                buf[..64].copy_from_slice(c.secret.sign(&[payload]).as_bytes());
                SigText { buf, len: 64 }
            }
            BinanceSigner::Ed25519 { key, .. } => {
                buf.copy_from_slice(key.sign_base64(payload).as_bytes());
                SigText { buf, len: 88 }
            }
        }
    }

    /// The key type.
    #[must_use]
    pub fn kind(&self) -> BinanceKeyKind {
        match self {
            BinanceSigner::Hmac(_) => BinanceKeyKind::Hmac,
            BinanceSigner::Ed25519 { .. } => BinanceKeyKind::Ed25519,
        }
    }
}

/// Encodes and signs Binance USDⓈ-M order requests.
#[derive(Debug, Clone)]
pub struct BinanceOrderEncoder {
    signer: BinanceSigner,
    recv_window: RecvWindow,
    /// The WS API connection is logged on (`session.logon` accepted):
    /// requests go without apiKey and signature.
    ws_session: bool,
}

/// Writes `name=value&…` query parameters.
struct Query<'w, 'b> {
    w: &'w mut WireWriter<'b>,
    first: bool,
}

impl Query<'_, '_> {
    fn param(&mut self, name: &[u8], value: &[u8]) -> Result<(), EncodeError> {
        if !self.first {
            self.w.byte(b'&')?;
        }
        self.first = false;
        self.w.bytes(name)?;
        self.w.byte(b'=')?;
        self.w.bytes(value)?;
        Ok(())
    }
}

/// Largest signing payload of a WebSocket request: an API key of at most
/// 128 bytes plus at most 11 short parameters fits well within this.
const WS_PAYLOAD_CAPACITY: usize = 640;

/// Writes sorted WebSocket API params as JSON and, alongside, the
/// `name=value&…` signing payload into a small stack buffer that is
/// signed with one MAC update (many tiny updates cost more than the copy).
struct WsParams<'w, 'b> {
    w: &'w mut WireWriter<'b>,
    payload: [u8; WS_PAYLOAD_CAPACITY],
    payload_len: usize,
    #[cfg(debug_assertions)]
    last: &'static [u8],
}

impl WsParams<'_, '_> {
    fn payload_push(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self.payload_len + bytes.len();
        let dst = self
            .payload
            .get_mut(self.payload_len..end)
            .ok_or(EncodeError::Buffer(crate::venue::wire_writer::BufferTooSmall { capacity: WS_PAYLOAD_CAPACITY }))?;
        crate::venue::wire_writer::copy_short(dst, bytes);
        self.payload_len = end;
        Ok(())
    }

    fn param(&mut self, name: &'static [u8], value: &[u8], quoted: bool) -> Result<(), EncodeError> {
        #[cfg(debug_assertions)]
        {
            debug_assert!(name > self.last, "WS params must be written in ascending name order");
            self.last = name;
        }
        if self.payload_len > 0 {
            self.w.byte(b',')?;
            self.payload_push(b"&")?;
        }
        self.w.byte(b'"')?;
        self.w.bytes(name)?;
        self.w.bytes(if quoted { b"\":\"" } else { b"\":" })?;
        self.w.bytes(value)?;
        if quoted {
            self.w.byte(b'"')?;
        }
        self.payload_push(name)?;
        self.payload_push(b"=")?;
        self.payload_push(value)?;
        Ok(())
    }

    /// Closes the request, signed unless the connection is logged on.
    fn finish(self, signer: &BinanceSigner, session: bool) -> Result<(), EncodeError> {
        if !session {
            let sig = signer.sign(&self.payload[..self.payload_len]);
            self.w.bytes(b",\"signature\":\"")?;
            self.w.bytes(sig.as_bytes())?;
            self.w.byte(b'"')?;
        }
        self.w.bytes(b"}}")?;
        Ok(())
    }
}

impl BinanceOrderEncoder {
    /// An encoder signing with HMAC-SHA256 `creds`.
    #[must_use]
    pub fn new(creds: Credentials, recv_window: RecvWindow) -> Self {
        Self::with_signer(BinanceSigner::Hmac(creds), recv_window)
    }

    /// An encoder signing with an Ed25519 key registered as `api_key`.
    #[must_use]
    pub fn with_ed25519(api_key: ApiKey, key: Ed25519Key, recv_window: RecvWindow) -> Self {
        Self::with_signer(BinanceSigner::Ed25519 { api_key, key }, recv_window)
    }

    /// An encoder with any signer.
    #[must_use]
    pub fn with_signer(signer: BinanceSigner, recv_window: RecvWindow) -> Self {
        Self { signer, recv_window, ws_session: false }
    }

    /// The API key (sent as `X-MBX-APIKEY`, e.g. for listenKey requests,
    /// which carry no signature).
    #[must_use]
    pub fn api_key(&self) -> &ApiKey {
        self.signer.api_key()
    }

    /// The key type.
    #[must_use]
    pub fn key_kind(&self) -> BinanceKeyKind {
        self.signer.kind()
    }

    /// Marks the WebSocket API connection as logged on (the venue accepted
    /// [`Self::ws_session_logon`]) or not (a new connection: log on again
    /// before sending anything). While logged on, WebSocket requests carry
    /// no apiKey and no signature.
    ///
    /// # Errors
    /// [`EncodeError::NotImplemented`] for an HMAC key: Binance USDⓈ-M
    /// documents `session.logon` for Ed25519 keys only.
    pub fn set_ws_session(&mut self, logged_on: bool) -> Result<(), EncodeError> {
        if logged_on && self.signer.kind() != BinanceKeyKind::Ed25519 {
            return Err(EncodeError::NotImplemented("session.logon with an HMAC key (Binance accepts Ed25519 only)"));
        }
        self.ws_session = logged_on;
        Ok(())
    }

    /// Whether WebSocket requests are sent as a logged-on session.
    #[must_use]
    pub fn ws_session(&self) -> bool {
        self.ws_session
    }

    /// The receive window sent with every request.
    #[must_use]
    pub fn recv_window(&self) -> RecvWindow {
        self.recv_window
    }

    fn check_venue(order: &OrderRequest) -> Result<(), EncodeError> {
        if order.venue == Venue::BinanceUsdm { Ok(()) } else { Err(EncodeError::WrongVenue) }
    }

    /// Appends `recvWindow`, `timestamp` and `signature` (last) to the query
    /// written so far and returns the request.
    fn finish_rest<'a>(
        &'a self,
        mut w: WireWriter<'a>,
        method: HttpMethod,
        path: &'static str,
        ts_ms: u64,
    ) -> Result<RestRequest<'a>, EncodeError> {
        {
            let mut q = Query { first: w.is_empty(), w: &mut w };
            q.param(b"recvWindow", U64Text::new(u64::from(self.recv_window.ms())).as_bytes())?;
            q.param(b"timestamp", U64Text::new(ts_ms).as_bytes())?;
        }
        let signature = self.signer.sign(w.written());
        w.bytes(b"&signature=")?;
        // Base64's '+', '/' and '=' must be percent-encoded in a query
        // string; hex needs nothing.
        for &b in signature.as_bytes() {
            match b {
                b'+' => w.bytes(b"%2B")?,
                b'/' => w.bytes(b"%2F")?,
                b'=' => w.bytes(b"%3D")?,
                _ => w.byte(b)?,
            }
        }
        let (buf, len) = w.finish();
        let query: &'a [u8] = &buf[..len];
        let headers = [Header { name: API_KEY_HEADER, value: self.signer.api_key().as_bytes() }];
        Ok(RestRequest::new(method, path, query, &headers, b""))
    }

    /// `POST /fapi/v1/order`. `market_ref` is the reference price for a
    /// market order's min-notional check.
    ///
    /// # Errors
    /// [`EncodeError`]: a failed check (nothing signed), a small buffer, or
    /// an order for another venue.
    pub fn rest_new_order<'a>(
        &'a self,
        order: &OrderRequest,
        instrument: &Instrument,
        market_ref: Price,
        ts_ms: u64,
        buf: &'a mut [u8],
    ) -> Result<SignedOrder<RestRequest<'a>>, EncodeError> {
        Self::check_venue(order)?;
        let o = prepare(order, instrument, market_ref)?;
        let mut w = WireWriter::new(buf);
        {
            let mut q = Query { w: &mut w, first: true };
            q.param(b"symbol", o.symbol.as_bytes())?;
            q.param(b"side", o.side.upper().as_bytes())?;
            q.param(b"type", kind_text(o.kind))?;
            if o.kind == OrderKind::Limit {
                q.param(b"timeInForce", tif_text(o.tif))?;
            }
            q.param(b"quantity", DecimalText::new(o.qty.0, instrument.qty_scale).as_bytes())?;
            if o.kind == OrderKind::Limit {
                q.param(b"price", DecimalText::new(o.price.0, instrument.price_scale).as_bytes())?;
            }
            if o.reduce_only {
                q.param(b"reduceOnly", b"true")?;
            }
            q.param(b"newClientOrderId", o.client_id.render().as_bytes())?;
        }
        let request = self.finish_rest(w, HttpMethod::Post, ORDER_PATH, ts_ms)?;
        Ok(SignedOrder { order: o, request })
    }

    /// `DELETE /fapi/v1/order` by our client order id.
    ///
    /// # Errors
    /// [`EncodeError::Buffer`] when `buf` is too small.
    pub fn rest_cancel<'a>(
        &'a self,
        symbol: &Symbol,
        client_id: ClientOrderId,
        ts_ms: u64,
        buf: &'a mut [u8],
    ) -> Result<RestRequest<'a>, EncodeError> {
        let mut w = WireWriter::new(buf);
        {
            let mut q = Query { w: &mut w, first: true };
            q.param(b"symbol", symbol.as_bytes())?;
            q.param(b"origClientOrderId", client_id.render().as_bytes())?;
        }
        self.finish_rest(w, HttpMethod::Delete, ORDER_PATH, ts_ms)
    }

    /// `DELETE /fapi/v1/allOpenOrders` for one symbol.
    ///
    /// # Errors
    /// [`EncodeError::Buffer`] when `buf` is too small.
    pub fn rest_cancel_all<'a>(
        &'a self,
        symbol: &Symbol,
        ts_ms: u64,
        buf: &'a mut [u8],
    ) -> Result<RestRequest<'a>, EncodeError> {
        let mut w = WireWriter::new(buf);
        Query { w: &mut w, first: true }.param(b"symbol", symbol.as_bytes())?;
        self.finish_rest(w, HttpMethod::Delete, ALL_OPEN_ORDERS_PATH, ts_ms)
    }

    /// `GET /fapi/v1/order` by our client order id: the order's state as
    /// the venue holds it (the engine asks when an answer was lost).
    ///
    /// # Errors
    /// [`EncodeError::Buffer`] when `buf` is too small.
    pub fn rest_query_order<'a>(
        &'a self,
        symbol: &Symbol,
        client_id: ClientOrderId,
        ts_ms: u64,
        buf: &'a mut [u8],
    ) -> Result<RestRequest<'a>, EncodeError> {
        let mut w = WireWriter::new(buf);
        {
            let mut q = Query { w: &mut w, first: true };
            q.param(b"symbol", symbol.as_bytes())?;
            q.param(b"origClientOrderId", client_id.render().as_bytes())?;
        }
        self.finish_rest(w, HttpMethod::Get, ORDER_PATH, ts_ms)
    }

    /// `GET /fapi/v1/userTrades`: at most `limit` of the account's trades of
    /// `symbol`, oldest first, from `from` (the engine fetches the fills a
    /// user-data stream outage may have lost; parse the answer with
    /// `BinancePrivateParser::user_trades`). Signed like every USER_DATA
    /// request: the query, then `recvWindow`, `timestamp`, `signature`.
    ///
    /// # Errors
    /// [`EncodeError::Buffer`] when `buf` is too small.
    pub fn rest_user_trades<'a>(
        &'a self,
        symbol: &Symbol,
        from: TradesFrom,
        limit: u16,
        ts_ms: u64,
        buf: &'a mut [u8],
    ) -> Result<RestRequest<'a>, EncodeError> {
        let mut w = WireWriter::new(buf);
        {
            let mut q = Query { w: &mut w, first: true };
            q.param(b"symbol", symbol.as_bytes())?;
            match from {
                TradesFrom::StartTime(ms) => q.param(b"startTime", U64Text::new(ms).as_bytes())?,
                TradesFrom::FromId(id) => q.param(b"fromId", U64Text::new(id).as_bytes())?,
            }
            q.param(b"limit", U64Text::new(u64::from(limit)).as_bytes())?;
        }
        self.finish_rest(w, HttpMethod::Get, USER_TRADES_PATH, ts_ms)
    }

    /// `POST /fapi/v1/countdownCancelAll`: cancel every open order of
    /// `symbol` unless this is sent again within `countdown_ms` (the venue's
    /// dead-man switch; refresh it from the loop, 0 disarms it).
    ///
    /// # Errors
    /// [`EncodeError::Buffer`] when `buf` is too small.
    pub fn rest_countdown_cancel_all<'a>(
        &'a self,
        symbol: &Symbol,
        countdown_ms: u64,
        ts_ms: u64,
        buf: &'a mut [u8],
    ) -> Result<RestRequest<'a>, EncodeError> {
        let mut w = WireWriter::new(buf);
        {
            let mut q = Query { w: &mut w, first: true };
            q.param(b"symbol", symbol.as_bytes())?;
            q.param(b"countdownTime", U64Text::new(countdown_ms).as_bytes())?;
        }
        self.finish_rest(w, HttpMethod::Post, crate::venue::binance::rest::COUNTDOWN_CANCEL_ALL_PATH, ts_ms)
    }

    /// `POST /fapi/v1/leverage`: the symbol's initial leverage (1–125;
    /// the venue refuses more than the symbol's bracket allows). The live
    /// engine sends it once per symbol at start with the profile's
    /// configured leverage (`[leverage]`, see
    /// [`crate::strategy::Strategy::venue_leverage`]); parse the answer with
    /// [`parse_leverage_response`].
    ///
    /// # Errors
    /// [`EncodeError::Buffer`] when `buf` is too small;
    /// [`EncodeError::NotImplemented`] for a leverage outside 1–125.
    pub fn rest_set_leverage<'a>(
        &'a self,
        symbol: &Symbol,
        leverage: u8,
        ts_ms: u64,
        buf: &'a mut [u8],
    ) -> Result<RestRequest<'a>, EncodeError> {
        if leverage == 0 || leverage > 125 {
            return Err(EncodeError::NotImplemented("leverage outside 1..=125"));
        }
        let mut w = WireWriter::new(buf);
        {
            let mut q = Query { w: &mut w, first: true };
            q.param(b"symbol", symbol.as_bytes())?;
            q.param(b"leverage", U64Text::new(u64::from(leverage)).as_bytes())?;
        }
        self.finish_rest(w, HttpMethod::Post, LEVERAGE_PATH, ts_ms)
    }

    fn ws_start<'w, 'b>(
        &self,
        w: &'w mut WireWriter<'b>,
        tag: RequestTag,
        method: &[u8],
    ) -> Result<WsParams<'w, 'b>, EncodeError> {
        w.bytes(b"{\"id\":\"")?;
        w.bytes(tag.render().as_bytes())?;
        w.bytes(b"\",\"method\":\"")?;
        w.bytes(method)?;
        w.bytes(b"\",\"params\":{")?;
        let mut p = WsParams {
            w,
            payload: [0; WS_PAYLOAD_CAPACITY],
            payload_len: 0,
            #[cfg(debug_assertions)]
            last: b"",
        };
        if !self.ws_session {
            p.param(b"apiKey", self.signer.api_key().as_bytes(), true)?;
        }
        Ok(p)
    }

    /// WebSocket API `order.place`.
    ///
    /// # Errors
    /// As [`Self::rest_new_order`].
    pub fn ws_place<'a>(
        &self,
        order: &OrderRequest,
        instrument: &Instrument,
        market_ref: Price,
        tag: RequestTag,
        ts_ms: u64,
        buf: &'a mut [u8],
    ) -> Result<SignedOrder<&'a [u8]>, EncodeError> {
        Self::check_venue(order)?;
        let o = prepare(order, instrument, market_ref)?;
        let mut w = WireWriter::new(buf);
        let mut p = self.ws_start(&mut w, tag, b"order.place")?;
        // Ascending name order: apiKey, newClientOrderId, price, quantity,
        // recvWindow, reduceOnly, side, symbol, timeInForce, timestamp, type.
        p.param(b"newClientOrderId", o.client_id.render().as_bytes(), true)?;
        if o.kind == OrderKind::Limit {
            p.param(b"price", DecimalText::new(o.price.0, instrument.price_scale).as_bytes(), true)?;
        }
        p.param(b"quantity", DecimalText::new(o.qty.0, instrument.qty_scale).as_bytes(), true)?;
        p.param(b"recvWindow", U64Text::new(u64::from(self.recv_window.ms())).as_bytes(), false)?;
        if o.reduce_only {
            p.param(b"reduceOnly", b"true", true)?;
        }
        p.param(b"side", o.side.upper().as_bytes(), true)?;
        p.param(b"symbol", o.symbol.as_bytes(), true)?;
        if o.kind == OrderKind::Limit {
            p.param(b"timeInForce", tif_text(o.tif), true)?;
        }
        p.param(b"timestamp", U64Text::new(ts_ms).as_bytes(), false)?;
        p.param(b"type", kind_text(o.kind), true)?;
        p.finish(&self.signer, self.ws_session)?;
        let (buf, len) = w.finish();
        Ok(SignedOrder { order: o, request: &buf[..len] })
    }

    /// WebSocket API `order.cancel` by our client order id.
    ///
    /// # Errors
    /// [`EncodeError::Buffer`] when `buf` is too small.
    pub fn ws_cancel<'a>(
        &self,
        symbol: &Symbol,
        client_id: ClientOrderId,
        tag: RequestTag,
        ts_ms: u64,
        buf: &'a mut [u8],
    ) -> Result<&'a [u8], EncodeError> {
        let mut w = WireWriter::new(buf);
        let mut p = self.ws_start(&mut w, tag, b"order.cancel")?;
        p.param(b"origClientOrderId", client_id.render().as_bytes(), true)?;
        p.param(b"recvWindow", U64Text::new(u64::from(self.recv_window.ms())).as_bytes(), false)?;
        p.param(b"symbol", symbol.as_bytes(), true)?;
        p.param(b"timestamp", U64Text::new(ts_ms).as_bytes(), false)?;
        p.finish(&self.signer, self.ws_session)?;
        let (buf, len) = w.finish();
        Ok(&buf[..len])
    }

    /// WebSocket API `order.modify` of a resting limit order: `order`
    /// carries the order's client id, side, and the new price and quantity
    /// (both are mandatory for USDⓈ-M), which pass the same checks as a new
    /// order.
    ///
    /// # Errors
    /// As [`Self::rest_new_order`]; a market order is refused as
    /// [`EncodeError::NotImplemented`] (Binance modifies limit orders only).
    pub fn ws_modify<'a>(
        &self,
        order: &OrderRequest,
        instrument: &Instrument,
        tag: RequestTag,
        ts_ms: u64,
        buf: &'a mut [u8],
    ) -> Result<SignedOrder<&'a [u8]>, EncodeError> {
        Self::check_venue(order)?;
        if order.kind != OrderKind::Limit {
            return Err(EncodeError::NotImplemented("order.modify of a non-limit order (Binance modifies LIMIT only)"));
        }
        let o = prepare(order, instrument, Price::ZERO)?;
        let mut w = WireWriter::new(buf);
        let mut p = self.ws_start(&mut w, tag, b"order.modify")?;
        p.param(b"origClientOrderId", o.client_id.render().as_bytes(), true)?;
        p.param(b"price", DecimalText::new(o.price.0, instrument.price_scale).as_bytes(), true)?;
        p.param(b"quantity", DecimalText::new(o.qty.0, instrument.qty_scale).as_bytes(), true)?;
        p.param(b"recvWindow", U64Text::new(u64::from(self.recv_window.ms())).as_bytes(), false)?;
        p.param(b"side", o.side.upper().as_bytes(), true)?;
        p.param(b"symbol", o.symbol.as_bytes(), true)?;
        p.param(b"timestamp", U64Text::new(ts_ms).as_bytes(), false)?;
        p.finish(&self.signer, self.ws_session)?;
        let (buf, len) = w.finish();
        Ok(SignedOrder { order: o, request: &buf[..len] })
    }

    /// WebSocket API `session.logon`: `apiKey`, `recvWindow`, `timestamp`
    /// and the Ed25519 signature of `apiKey=…&recvWindow=…&timestamp=…`.
    /// Returns the request's length in `buf`. Send it first on every new
    /// WS API connection; call [`Self::set_ws_session`] once the venue
    /// answers with status 200.
    ///
    /// # Errors
    /// [`EncodeError::NotImplemented`] for an HMAC key (Binance accepts
    /// Ed25519 only); [`EncodeError::Buffer`].
    pub fn ws_session_logon(&self, tag: RequestTag, ts_ms: u64, buf: &mut [u8]) -> Result<usize, EncodeError> {
        if self.signer.kind() != BinanceKeyKind::Ed25519 {
            return Err(EncodeError::NotImplemented("session.logon with an HMAC key (Binance accepts Ed25519 only)"));
        }
        let mut w = WireWriter::new(buf);
        w.bytes(b"{\"id\":\"")?;
        w.bytes(tag.render().as_bytes())?;
        w.bytes(b"\",\"method\":\"session.logon\",\"params\":{")?;
        let mut p = WsParams {
            w: &mut w,
            payload: [0; WS_PAYLOAD_CAPACITY],
            payload_len: 0,
            #[cfg(debug_assertions)]
            last: b"",
        };
        p.param(b"apiKey", self.signer.api_key().as_bytes(), true)?;
        p.param(b"recvWindow", U64Text::new(u64::from(self.recv_window.ms())).as_bytes(), false)?;
        p.param(b"timestamp", U64Text::new(ts_ms).as_bytes(), false)?;
        p.finish(&self.signer, false)?;
        Ok(w.len())
    }
}

/// The answer to `POST /fapi/v1/leverage`: the leverage now in force for
/// `symbol`.
///
/// # Errors
/// [`EncodeError::NotImplemented`] (with the reason) when the body is not
/// the documented answer for `symbol` (an error object `{"code":…,"msg":…}`
/// included).
pub fn parse_leverage_response(body: &[u8], symbol: &Symbol) -> Result<u8, EncodeError> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| EncodeError::NotImplemented("leverage answer: not JSON"))?;
    let same = v.get("symbol").and_then(serde_json::Value::as_str).is_some_and(|s| s.as_bytes() == symbol.as_bytes());
    let lev = v.get("leverage").and_then(serde_json::Value::as_u64).and_then(|l| u8::try_from(l).ok());
    match (same, lev) {
        (true, Some(l)) if l > 0 => Ok(l),
        _ => Err(EncodeError::NotImplemented("leverage answer: not the documented shape for the symbol")),
    }
}

/// Signs Binance "totalParams": the query string followed directly by the
/// body (no separator), as the general-info page specifies.
#[must_use]
pub fn sign_total_params(creds: &Credentials, query: &[u8], body: &[u8]) -> crate::venue::credentials::HexSignature {
    creds.secret.sign(&[query, body])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::{Notional, Qty};
    use crate::instrument::FeeSchedule;
    use crate::order::ids::RequestOp;
    use crate::side::Side;

    const DOC_SECRET: &[u8] = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
    const DOC_KEY: &[u8] = b"vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";

    fn creds() -> Credentials {
        Credentials::new(DOC_KEY, DOC_SECRET).unwrap()
    }

    /// The Binance documentation's worked example (query string only).
    #[test]
    fn binance_documentation_vector() {
        let sig = sign_total_params(
            &creds(),
            b"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
            b"",
        );
        assert_eq!(sig.as_str(), "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71");
    }

    /// The documentation's mixed example: part of the parameters in the
    /// query, the rest in the body, concatenated without a separator.
    #[test]
    fn binance_documentation_vector_query_and_body() {
        let sig = sign_total_params(
            &creds(),
            b"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
            b"quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
        );
        assert_eq!(sig.as_str(), "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77");
    }

    fn ltcbtc() -> Instrument {
        Instrument {
            venue: Venue::BinanceUsdm,
            symbol: Symbol::new(b"LTCBTC").unwrap(),
            price_scale: 6,
            qty_scale: 2,
            tick: Price(1),
            step: Qty(1),
            min_qty: Qty(1),
            max_qty: Qty(1_000_000),
            max_market_qty: Qty(1_000_000),
            min_notional: Notional(0),
            fees: FeeSchedule::BINANCE_VIP0,
        }
    }

    fn ltc_order() -> OrderRequest {
        OrderRequest {
            venue: Venue::BinanceUsdm,
            symbol: Symbol::new(b"LTCBTC").unwrap(),
            side: Side::Buy,
            kind: OrderKind::Limit,
            tif: TimeInForce::Gtc,
            price: Price(100_000),
            qty: Qty(100),
            reduce_only: false,
            client_id: ClientOrderId(7),
        }
    }

    #[test]
    fn rest_new_order_layout_and_signature() {
        let enc = BinanceOrderEncoder::new(creds(), RecvWindow::DEFAULT);
        let mut buf = [0u8; 512];
        let signed = enc.rest_new_order(&ltc_order(), &ltcbtc(), Price::ZERO, 1_499_827_319_559, &mut buf).unwrap();
        let req = signed.request;
        assert_eq!(req.method, HttpMethod::Post);
        assert_eq!(req.path, "/fapi/v1/order");
        assert!(req.body.is_empty());
        assert_eq!(req.header("x-mbx-apikey"), Some(DOC_KEY));
        let query = std::str::from_utf8(req.query).unwrap();
        let (unsigned, sig) = query.split_once("&signature=").unwrap();
        assert_eq!(
            unsigned,
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&newClientOrderId=scalpel-7&recvWindow=5000&timestamp=1499827319559"
        );
        assert_eq!(sig, creds().secret.sign(&[unsigned.as_bytes()]).as_str());
        assert!(!sig.contains('&'), "signature is the last parameter");
    }

    #[test]
    fn market_reduce_only_omits_price_and_tif() {
        let enc = BinanceOrderEncoder::new(creds(), RecvWindow::DEFAULT);
        let mut o = ltc_order();
        o.kind = OrderKind::Market;
        o.reduce_only = true;
        o.side = Side::Sell;
        let mut buf = [0u8; 512];
        let req = enc.rest_new_order(&o, &ltcbtc(), Price(100_000), 1, &mut buf).unwrap().request;
        let query = std::str::from_utf8(req.query).unwrap();
        assert!(
            query.starts_with(
                "symbol=LTCBTC&side=SELL&type=MARKET&quantity=1&reduceOnly=true&newClientOrderId=scalpel-7&"
            )
        );
        assert!(!query.contains("price=") && !query.contains("timeInForce"));
    }

    #[test]
    fn cancel_and_cancel_all() {
        let enc = BinanceOrderEncoder::new(creds(), RecvWindow::new(3000).unwrap());
        let mut buf = [0u8; 512];
        let sym = Symbol::new(b"BTCUSDT").unwrap();
        let req = enc.rest_cancel(&sym, ClientOrderId(9), 5, &mut buf).unwrap();
        assert_eq!((req.method, req.path), (HttpMethod::Delete, "/fapi/v1/order"));
        assert!(
            req.query.starts_with(b"symbol=BTCUSDT&origClientOrderId=scalpel-9&recvWindow=3000&timestamp=5&signature=")
        );
        let req = enc.rest_cancel_all(&sym, 5, &mut buf).unwrap();
        assert_eq!((req.method, req.path), (HttpMethod::Delete, "/fapi/v1/allOpenOrders"));
        assert!(req.query.starts_with(b"symbol=BTCUSDT&recvWindow=3000&timestamp=5&signature="));
    }

    /// Splits the WS JSON params into (name, raw value) in written order.
    fn ws_params(text: &str) -> Vec<(String, String)> {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let start = text.find("\"params\":{").unwrap() + 10;
        let body = &text[start..text.len() - 2];
        let mut out = Vec::new();
        for pair in body.split(',') {
            let (k, val) = pair.split_once(':').unwrap();
            out.push((k.trim_matches('"').to_owned(), val.trim_matches('"').to_owned()));
        }
        assert_eq!(v["params"].as_object().unwrap().len(), out.len());
        out
    }

    fn check_ws_signature(text: &str) {
        let params = ws_params(text);
        let (last_name, sig) = params.last().unwrap();
        assert_eq!(last_name, "signature");
        let names: Vec<&str> = params[..params.len() - 1].iter().map(|(k, _)| k.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "params sorted by name");
        let payload: Vec<String> = params[..params.len() - 1].iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(sig, creds().secret.sign(&[payload.join("&").as_bytes()]).as_str());
    }

    #[test]
    fn ws_requests_are_sorted_and_signed() {
        let enc = BinanceOrderEncoder::new(creds(), RecvWindow::DEFAULT);
        let mut buf = [0u8; 1024];
        let tag = RequestTag::new(RequestOp::Place, ClientOrderId(7));
        let mut o = ltc_order();
        o.reduce_only = true;
        o.tif = TimeInForce::PostOnly;
        let text = std::str::from_utf8(
            enc.ws_place(&o, &ltcbtc(), Price::ZERO, tag, 1_499_827_319_559, &mut buf).unwrap().request,
        )
        .unwrap()
        .to_owned();
        assert!(text.starts_with("{\"id\":\"n-7-0\",\"method\":\"order.place\",\"params\":{\"apiKey\":\""));
        assert!(text.contains("\"timeInForce\":\"GTX\""));
        check_ws_signature(&text);
        let tag = RequestTag::new(RequestOp::Cancel, ClientOrderId(7));
        let text =
            std::str::from_utf8(enc.ws_cancel(&o.symbol, o.client_id, tag, 1, &mut buf).unwrap()).unwrap().to_owned();
        assert!(text.contains("\"method\":\"order.cancel\""));
        check_ws_signature(&text);
        let tag = RequestTag::new(RequestOp::Amend, ClientOrderId(7));
        let text = std::str::from_utf8(enc.ws_modify(&ltc_order(), &ltcbtc(), tag, 1, &mut buf).unwrap().request)
            .unwrap()
            .to_owned();
        assert!(text.contains("\"method\":\"order.modify\""));
        check_ws_signature(&text);
        let mut market = ltc_order();
        market.kind = OrderKind::Market;
        let text = std::str::from_utf8(enc.ws_place(&market, &ltcbtc(), Price(1), tag, 1, &mut buf).unwrap().request)
            .unwrap()
            .to_owned();
        check_ws_signature(&text);
    }

    #[test]
    fn errors_are_typed_and_nothing_is_signed_on_a_failed_check() {
        let enc = BinanceOrderEncoder::new(creds(), RecvWindow::DEFAULT);
        let mut small = [0u8; 40];
        assert!(matches!(
            enc.rest_new_order(&ltc_order(), &ltcbtc(), Price::ZERO, 1, &mut small),
            Err(EncodeError::Buffer(_))
        ));
        let mut buf = [0u8; 512];
        let mut tiny = ltc_order();
        tiny.qty = Qty(0);
        assert!(matches!(enc.rest_new_order(&tiny, &ltcbtc(), Price::ZERO, 1, &mut buf), Err(EncodeError::Check(_))));
        assert!(buf.iter().all(|&b| b == 0), "a refused order writes nothing");
        let mut bybit = ltc_order();
        bybit.venue = Venue::BybitLinear;
        assert_eq!(
            enc.rest_new_order(&bybit, &ltcbtc(), Price::ZERO, 1, &mut buf).err(),
            Some(EncodeError::WrongVenue)
        );
        // session.logon is Ed25519-only at Binance USDⓈ-M.
        assert!(matches!(
            enc.ws_session_logon(RequestTag::new(RequestOp::Auth, ClientOrderId(1)), 1, &mut buf),
            Err(EncodeError::NotImplemented(_))
        ));
        assert!(matches!(enc.clone().set_ws_session(true), Err(EncodeError::NotImplemented(_))));
    }

    #[test]
    fn countdown_cancel_all_is_signed_like_every_rest_request() {
        let enc = BinanceOrderEncoder::new(creds(), RecvWindow::DEFAULT);
        let mut buf = [0u8; 512];
        let req =
            enc.rest_countdown_cancel_all(&"BTCUSDT".parse().unwrap(), 120_000, 1_700_000_000_000, &mut buf).unwrap();
        assert_eq!((req.method, req.path), (HttpMethod::Post, "/fapi/v1/countdownCancelAll"));
        let query = std::str::from_utf8(req.query).unwrap();
        let (unsigned, sig) = query.split_once("&signature=").unwrap();
        assert_eq!(unsigned, "symbol=BTCUSDT&countdownTime=120000&recvWindow=5000&timestamp=1700000000000");
        let independent: String =
            hmac_sha256::HMAC::mac(unsigned.as_bytes(), DOC_SECRET).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sig, independent);
        assert_eq!(req.header(API_KEY_HEADER), Some(DOC_KEY));
    }

    #[test]
    fn order_query_is_a_signed_get_by_client_id() {
        let enc = BinanceOrderEncoder::new(creds(), RecvWindow::DEFAULT);
        let mut buf = [0u8; 512];
        let req =
            enc.rest_query_order(&"BTCUSDT".parse().unwrap(), ClientOrderId(42), 1_700_000_000_000, &mut buf).unwrap();
        assert_eq!((req.method, req.path), (HttpMethod::Get, ORDER_PATH));
        let query = std::str::from_utf8(req.query).unwrap();
        let (unsigned, sig) = query.split_once("&signature=").unwrap();
        assert_eq!(unsigned, "symbol=BTCUSDT&origClientOrderId=scalpel-42&recvWindow=5000&timestamp=1700000000000");
        let independent: String =
            hmac_sha256::HMAC::mac(unsigned.as_bytes(), DOC_SECRET).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sig, independent);
        assert_eq!(enc.api_key().as_bytes(), DOC_KEY);
    }

    #[test]
    fn user_trades_is_a_signed_get_over_the_exact_query() {
        let enc = BinanceOrderEncoder::new(creds(), RecvWindow::DEFAULT);
        let mut buf = [0u8; 512];
        let btc: Symbol = "BTCUSDT".parse().unwrap();
        for (from, expected) in [
            (
                TradesFrom::StartTime(1_699_999_990_000),
                "symbol=BTCUSDT&startTime=1699999990000&limit=50&recvWindow=5000&timestamp=1700000000000",
            ),
            (
                TradesFrom::FromId(109_100_867),
                "symbol=BTCUSDT&fromId=109100867&limit=50&recvWindow=5000&timestamp=1700000000000",
            ),
        ] {
            let req = enc.rest_user_trades(&btc, from, 50, 1_700_000_000_000, &mut buf).unwrap();
            assert_eq!((req.method, req.path), (HttpMethod::Get, "/fapi/v1/userTrades"));
            assert!(req.body.is_empty());
            assert_eq!(req.header(API_KEY_HEADER), Some(DOC_KEY));
            let query = std::str::from_utf8(req.query).unwrap();
            let (unsigned, sig) = query.split_once("&signature=").unwrap();
            assert_eq!(unsigned, expected);
            let independent: String =
                hmac_sha256::HMAC::mac(unsigned.as_bytes(), DOC_SECRET).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(sig, independent);
        }
        let mut small = [0u8; 40];
        assert!(matches!(
            enc.rest_user_trades(&btc, TradesFrom::FromId(1), 50, 1, &mut small),
            Err(EncodeError::Buffer(_))
        ));
    }

    #[test]
    fn set_leverage_is_signed_like_every_rest_request_and_its_answer_parses() {
        let enc = BinanceOrderEncoder::new(creds(), RecvWindow::DEFAULT);
        let mut buf = [0u8; 512];
        let btc: Symbol = "BTCUSDT".parse().unwrap();
        let req = enc.rest_set_leverage(&btc, 10, 1_700_000_000_000, &mut buf).unwrap();
        assert_eq!((req.method, req.path), (HttpMethod::Post, "/fapi/v1/leverage"));
        let query = std::str::from_utf8(req.query).unwrap();
        let (unsigned, sig) = query.split_once("&signature=").unwrap();
        assert_eq!(unsigned, "symbol=BTCUSDT&leverage=10&recvWindow=5000&timestamp=1700000000000");
        let independent: String =
            hmac_sha256::HMAC::mac(unsigned.as_bytes(), DOC_SECRET).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sig, independent);
        assert_eq!(req.header(API_KEY_HEADER), Some(DOC_KEY));
        assert!(req.body.is_empty());
        // The edges of the venue's range.
        assert!(enc.rest_set_leverage(&btc, 125, 1, &mut buf).is_ok());
        assert!(matches!(enc.rest_set_leverage(&btc, 0, 1, &mut buf), Err(EncodeError::NotImplemented(_))));
        assert!(matches!(enc.rest_set_leverage(&btc, 126, 1, &mut buf), Err(EncodeError::NotImplemented(_))));
        // The documentation's answer.
        assert_eq!(
            parse_leverage_response(br#"{"leverage":21,"maxNotionalValue":"1000000","symbol":"BTCUSDT"}"#, &btc),
            Ok(21)
        );
        assert!(parse_leverage_response(br#"{"code":-4028,"msg":"Leverage 200 is not valid"}"#, &btc).is_err());
        assert!(parse_leverage_response(br#"{"leverage":21,"symbol":"ETHUSDT"}"#, &btc).is_err());
    }

    /// RFC 8032 TEST 1's key, as the account's Ed25519 key.
    fn ed25519_encoder() -> BinanceOrderEncoder {
        let seed: [u8; 32] = (0..32)
            .map(|i| {
                u8::from_str_radix(
                    &"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"[2 * i..2 * i + 2],
                    16,
                )
                .unwrap()
            })
            .collect::<Vec<_>>()
            .try_into()
            .unwrap();
        BinanceOrderEncoder::with_ed25519(
            ApiKey::new(DOC_KEY).unwrap(),
            Ed25519Key::from_seed(&seed).unwrap(),
            RecvWindow::DEFAULT,
        )
    }

    fn verify_ed25519(enc: &BinanceOrderEncoder, payload: &[u8], sig_b64: &str) {
        use base64::Engine as _;
        let BinanceSigner::Ed25519 { key, .. } = &enc.signer else { panic!("not ed25519") };
        // An independent implementation (ed25519-dalek) verifies ring's signature.
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&key.public_key()).unwrap();
        let sig: [u8; 64] = base64::engine::general_purpose::STANDARD.decode(sig_b64).unwrap().try_into().unwrap();
        vk.verify_strict(payload, &ed25519_dalek::Signature::from_bytes(&sig)).expect("signature verifies");
    }

    #[test]
    fn ed25519_session_logon_is_signed_and_orders_after_it_are_not() {
        let mut enc = ed25519_encoder();
        let mut buf = [0u8; 1024];
        let n = enc
            .ws_session_logon(RequestTag::new(RequestOp::Auth, ClientOrderId(1)), 1_649_729_878_532, &mut buf)
            .unwrap();
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["method"], "session.logon");
        let p = &v["params"];
        assert_eq!(p["apiKey"], std::str::from_utf8(DOC_KEY).unwrap());
        assert_eq!(p["timestamp"], 1_649_729_878_532u64);
        assert_eq!(p["recvWindow"], 5000);
        let payload =
            format!("apiKey={}&recvWindow=5000&timestamp=1649729878532", std::str::from_utf8(DOC_KEY).unwrap());
        verify_ed25519(&enc, payload.as_bytes(), p["signature"].as_str().unwrap());

        // Before logon: every request signed with Ed25519.
        let signed = enc
            .ws_place(
                &ltc_order(),
                &ltcbtc(),
                Price::ZERO,
                RequestTag::new(RequestOp::Place, ClientOrderId(7)),
                1,
                &mut buf,
            )
            .unwrap()
            .request
            .to_vec();
        let text = std::str::from_utf8(&signed).unwrap();
        let params = ws_params(text);
        let payload: Vec<String> =
            params.iter().filter(|(k, _)| k != "signature").map(|(k, v)| format!("{k}={v}")).collect();
        let sig = &params.iter().find(|(k, _)| k == "signature").unwrap().1;
        verify_ed25519(&enc, payload.join("&").as_bytes(), sig);

        // After logon: no apiKey, no signature, same order fields.
        enc.set_ws_session(true).unwrap();
        let bare = enc
            .ws_place(
                &ltc_order(),
                &ltcbtc(),
                Price::ZERO,
                RequestTag::new(RequestOp::Place, ClientOrderId(7)),
                1,
                &mut buf,
            )
            .unwrap()
            .request
            .to_vec();
        let v: serde_json::Value = serde_json::from_slice(&bare).unwrap();
        assert!(v["params"].get("apiKey").is_none() && v["params"].get("signature").is_none(), "{v}");
        assert_eq!(v["params"]["symbol"], "LTCBTC");
        assert!(bare.len() < signed.len());
        let cancel = enc
            .ws_cancel(
                &"LTCBTC".parse().unwrap(),
                ClientOrderId(7),
                RequestTag::new(RequestOp::Cancel, ClientOrderId(7)),
                1,
                &mut buf,
            )
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(cancel).unwrap();
        assert!(v["params"].get("signature").is_none());
        assert!(v["params"].to_string().starts_with("{\"origClientOrderId\""), "{v}");
    }

    #[test]
    fn ed25519_rest_signature_is_percent_encoded_base64() {
        use base64::Engine as _;
        let enc = ed25519_encoder();
        let mut buf = [0u8; 1024];
        let req =
            enc.rest_new_order(&ltc_order(), &ltcbtc(), Price::ZERO, 1_499_827_319_559, &mut buf).unwrap().request;
        let query = std::str::from_utf8(req.query).unwrap();
        let (unsigned, sig) = query.split_once("&signature=").unwrap();
        assert!(!sig.contains(['+', '/', '=']), "{sig}");
        let decoded = sig.replace("%2B", "+").replace("%2F", "/").replace("%3D", "=");
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(&decoded).unwrap().len(), 64);
        verify_ed25519(&enc, unsigned.as_bytes(), &decoded);
    }
}
