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
//! - Ed25519 keys with `session.logon` are **not implemented**:
//!   [`BinanceOrderEncoder::ws_session_logon`] returns
//!   [`EncodeError::NotImplemented`]; only HMAC-SHA256 keys sign.

use crate::fixed::{DecimalText, Price};
use crate::instrument::{Instrument, Symbol};
use crate::order::ids::RequestTag;
use crate::order::prepare::prepare;
use crate::order::{ClientOrderId, OrderKind, OrderRequest, TimeInForce};
use crate::venue::Venue;
use crate::venue::credentials::Credentials;
use crate::venue::signed_request::{EncodeError, Header, HttpMethod, RecvWindow, RestRequest, SignedOrder};
use crate::venue::wire_writer::{U64Text, WireWriter};

/// REST path of new order and cancel.
pub const ORDER_PATH: &str = "/fapi/v1/order";
/// REST path of cancel-all.
pub const ALL_OPEN_ORDERS_PATH: &str = "/fapi/v1/allOpenOrders";
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
    /// HMAC-SHA256 secret (implemented).
    Hmac,
    /// Ed25519 private key with WebSocket `session.logon` (not implemented).
    Ed25519,
}

/// Encodes and signs Binance USDⓈ-M order requests.
#[derive(Debug, Clone)]
pub struct BinanceOrderEncoder {
    creds: Credentials,
    recv_window: RecvWindow,
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

    fn finish(self, creds: &Credentials) -> Result<(), EncodeError> {
        let sig = creds.secret.sign(&[&self.payload[..self.payload_len]]);
        self.w.bytes(b",\"signature\":\"")?;
        self.w.bytes(sig.as_bytes())?;
        self.w.bytes(b"\"}}")?;
        Ok(())
    }
}

impl BinanceOrderEncoder {
    /// An encoder signing with HMAC-SHA256 `creds`.
    #[must_use]
    pub fn new(creds: Credentials, recv_window: RecvWindow) -> Self {
        Self { creds, recv_window }
    }

    /// An encoder for a key type; only [`BinanceKeyKind::Hmac`] exists.
    ///
    /// # Errors
    /// [`EncodeError::NotImplemented`] for [`BinanceKeyKind::Ed25519`].
    pub fn with_key_kind(
        kind: BinanceKeyKind,
        creds: Credentials,
        recv_window: RecvWindow,
    ) -> Result<Self, EncodeError> {
        match kind {
            BinanceKeyKind::Hmac => Ok(Self::new(creds, recv_window)),
            BinanceKeyKind::Ed25519 => Err(EncodeError::NotImplemented("Binance Ed25519 keys (session.logon)")),
        }
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
        let signature = self.creds.secret.sign(&[w.written()]);
        w.bytes(b"&signature=")?;
        w.bytes(signature.as_bytes())?;
        let (buf, len) = w.finish();
        let query: &'a [u8] = &buf[..len];
        let headers = [Header { name: API_KEY_HEADER, value: self.creds.api_key.as_bytes() }];
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
        p.param(b"apiKey", self.creds.api_key.as_bytes(), true)?;
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
        p.finish(&self.creds)?;
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
        p.finish(&self.creds)?;
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
        p.finish(&self.creds)?;
        let (buf, len) = w.finish();
        Ok(SignedOrder { order: o, request: &buf[..len] })
    }

    /// WebSocket API `session.logon` (Ed25519 keys only).
    ///
    /// # Errors
    /// Always [`EncodeError::NotImplemented`]: this crate signs each request
    /// with HMAC-SHA256 and does not implement Ed25519 session logon.
    pub fn ws_session_logon(&self, _tag: RequestTag, _ts_ms: u64, _buf: &mut [u8]) -> Result<usize, EncodeError> {
        Err(EncodeError::NotImplemented("Binance WebSocket session.logon (Ed25519)"))
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
        assert!(matches!(
            BinanceOrderEncoder::with_key_kind(BinanceKeyKind::Ed25519, creds(), RecvWindow::DEFAULT),
            Err(EncodeError::NotImplemented(_))
        ));
        assert!(matches!(
            enc.ws_session_logon(RequestTag::new(RequestOp::Auth, ClientOrderId(1)), 1, &mut buf),
            Err(EncodeError::NotImplemented(_))
        ));
    }
}
