//! Bybit v5 linear order encoding and signing, sans-IO.
//!
//! Sources (Bybit v5 documentation):
//! - Authentication: `X-BAPI-SIGN` = hex HMAC-SHA256 of
//!   `timestamp + apiKey + recvWindow + body` for POST requests, with
//!   `X-BAPI-API-KEY`, `X-BAPI-TIMESTAMP`, `X-BAPI-RECV-WINDOW`:
//!   <https://bybit-exchange.github.io/docs/v5/guide>
//! - Place order `POST /v5/order/create`:
//!   <https://bybit-exchange.github.io/docs/v5/order/create-order>
//! - Cancel order `POST /v5/order/cancel`:
//!   <https://bybit-exchange.github.io/docs/v5/order/cancel-order>
//! - Cancel all `POST /v5/order/cancel-all`:
//!   <https://bybit-exchange.github.io/docs/v5/order/cancel-all>
//! - Set leverage `POST /v5/position/set-leverage` (`category`, `symbol`,
//!   `buyLeverage`, `sellLeverage` as strings; one-way mode needs both
//!   equal; `retCode` 110043 "leverage not modified" means it already is):
//!   <https://bybit-exchange.github.io/docs/v5/position/leverage>
//! - Trade WebSocket (`/v5/trade`): `auth` op with
//!   `["<key>", <expires>, hex HMAC("GET/realtime" + expires)]`, then
//!   `{"reqId","header":{"X-BAPI-TIMESTAMP","X-BAPI-RECV-WINDOW"},"op":"order.create","args":[{…}]}`;
//!   `reqId` at most 36 characters and unique (error 20006 otherwise):
//!   <https://bybit-exchange.github.io/docs/v5/websocket/trade/guideline>,
//!   <https://bybit-exchange.github.io/docs/v5/ws/connect>
//!
//! # Invariants
//! - Every order passes [`prepare`] before a byte is signed.
//! - The REST signature covers exactly the body bytes returned, preceded by
//!   the timestamp, API key and receive window text sent in the headers.
//! - Values are JSON strings written from fixed-point mantissas (`"qty":"0.001"`);
//!   `reduceOnly` is a JSON boolean, sent only when true.
//! - `category` is always `linear`; one-way mode is assumed (`positionIdx`
//!   left at its default 0).
//! - Trade-WebSocket order requests carry no per-request signature: the
//!   connection is authenticated once with [`BybitOrderEncoder::ws_auth`]
//!   (and again after every reconnect, before any order).

use crate::fixed::{DecimalText, Price};
use crate::instrument::{Instrument, Symbol};
use crate::order::ids::RequestTag;
use crate::order::prepare::prepare;
use crate::order::{ClientOrderId, OrderKind, OrderRequest, TimeInForce};
use crate::venue::Venue;
use crate::venue::credentials::Credentials;
use crate::venue::signed_request::{EncodeError, Header, HttpMethod, RecvWindow, RestRequest, SignedOrder};
use crate::venue::wire_writer::{U64Text, WireWriter};

/// REST path of place order.
pub const CREATE_PATH: &str = "/v5/order/create";
/// REST path of cancel order.
pub const CANCEL_PATH: &str = "/v5/order/cancel";
/// REST path of cancel all.
pub const CANCEL_ALL_PATH: &str = "/v5/order/cancel-all";
/// REST path of the open and recent orders query.
pub const REALTIME_PATH: &str = "/v5/order/realtime";
/// REST path of disconnection protection (the dead-man switch of the trade
/// connection).
pub const DCP_PATH: &str = "/v5/order/disconnected-cancel-all";
/// REST path of the execution list (our fills, one symbol).
pub const EXECUTION_LIST_PATH: &str = "/v5/execution/list";
/// REST path of set leverage.
pub const SET_LEVERAGE_PATH: &str = "/v5/position/set-leverage";

/// The answer to `POST /v5/position/set-leverage`: `Ok(())` for `retCode`
/// 0, and for 110043 (the leverage already is that value).
///
/// # Errors
/// [`EncodeError::NotImplemented`] with the reason for any other answer.
pub fn parse_set_leverage_response(body: &[u8]) -> Result<(), EncodeError> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| EncodeError::NotImplemented("set-leverage answer: not JSON"))?;
    match v.get("retCode").and_then(serde_json::Value::as_i64) {
        Some(0 | 110_043) => Ok(()),
        Some(_) => Err(EncodeError::NotImplemented("set-leverage refused by the venue (retCode not 0)")),
        None => Err(EncodeError::NotImplemented("set-leverage answer: no retCode")),
    }
}

/// Bybit spelling of a time in force.
#[must_use]
pub const fn tif_text(tif: TimeInForce) -> &'static [u8] {
    match tif {
        TimeInForce::Gtc => b"GTC",
        TimeInForce::Ioc => b"IOC",
        TimeInForce::PostOnly => b"PostOnly",
    }
}

/// Encodes and signs Bybit v5 linear order requests.
#[derive(Debug, Clone)]
pub struct BybitOrderEncoder {
    creds: Credentials,
    recv_window: RecvWindow,
}

/// Writes `"name":"value"` members of a JSON object.
struct JsonObject<'w, 'b> {
    w: &'w mut WireWriter<'b>,
    first: bool,
}

impl JsonObject<'_, '_> {
    fn open<'w, 'b>(w: &'w mut WireWriter<'b>) -> Result<JsonObject<'w, 'b>, EncodeError> {
        w.byte(b'{')?;
        Ok(JsonObject { w, first: true })
    }

    fn member(&mut self, name: &[u8], value: &[u8], quoted: bool) -> Result<(), EncodeError> {
        if !self.first {
            self.w.byte(b',')?;
        }
        self.first = false;
        self.w.byte(b'"')?;
        self.w.bytes(name)?;
        self.w.bytes(if quoted { b"\":\"" } else { b"\":" })?;
        self.w.bytes(value)?;
        if quoted {
            self.w.byte(b'"')?;
        }
        Ok(())
    }

    fn close(self) -> Result<(), EncodeError> {
        self.w.byte(b'}')?;
        Ok(())
    }
}

/// The fields of a create-order object, shared by REST and WebSocket.
fn write_create_args(w: &mut WireWriter<'_>, o: &OrderRequest, instrument: &Instrument) -> Result<(), EncodeError> {
    let mut obj = JsonObject::open(w)?;
    obj.member(b"category", b"linear", true)?;
    obj.member(b"symbol", o.symbol.as_bytes(), true)?;
    obj.member(b"side", o.side.title().as_bytes(), true)?;
    match o.kind {
        OrderKind::Limit => {
            obj.member(b"orderType", b"Limit", true)?;
            obj.member(b"qty", DecimalText::new(o.qty.0, instrument.qty_scale).as_bytes(), true)?;
            obj.member(b"price", DecimalText::new(o.price.0, instrument.price_scale).as_bytes(), true)?;
            obj.member(b"timeInForce", tif_text(o.tif), true)?;
        }
        OrderKind::Market => {
            obj.member(b"orderType", b"Market", true)?;
            obj.member(b"qty", DecimalText::new(o.qty.0, instrument.qty_scale).as_bytes(), true)?;
        }
    }
    obj.member(b"orderLinkId", o.client_id.render().as_bytes(), true)?;
    if o.reduce_only {
        obj.member(b"reduceOnly", b"true", false)?;
    }
    obj.close()
}

fn write_cancel_args(
    w: &mut WireWriter<'_>,
    symbol: &Symbol,
    client_id: Option<ClientOrderId>,
) -> Result<(), EncodeError> {
    let mut obj = JsonObject::open(w)?;
    obj.member(b"category", b"linear", true)?;
    obj.member(b"symbol", symbol.as_bytes(), true)?;
    if let Some(id) = client_id {
        obj.member(b"orderLinkId", id.render().as_bytes(), true)?;
    }
    obj.close()
}

impl BybitOrderEncoder {
    /// An encoder signing with HMAC-SHA256 `creds`.
    #[must_use]
    pub fn new(creds: Credentials, recv_window: RecvWindow) -> Self {
        Self { creds, recv_window }
    }

    /// The receive window sent with every request.
    #[must_use]
    pub fn recv_window(&self) -> RecvWindow {
        self.recv_window
    }

    fn check_venue(order: &OrderRequest) -> Result<(), EncodeError> {
        if order.venue == Venue::BybitLinear { Ok(()) } else { Err(EncodeError::WrongVenue) }
    }

    /// Signs a POST request whose JSON body is written so far.
    fn finish_rest<'a>(
        &'a self,
        w: WireWriter<'a>,
        path: &'static str,
        ts_ms: u64,
    ) -> Result<RestRequest<'a>, EncodeError> {
        self.finish_signed(w, HttpMethod::Post, path, ts_ms)
    }

    /// Signs a GET request whose query string is written so far.
    fn finish_get<'a>(
        &'a self,
        w: WireWriter<'a>,
        path: &'static str,
        ts_ms: u64,
    ) -> Result<RestRequest<'a>, EncodeError> {
        self.finish_signed(w, HttpMethod::Get, path, ts_ms)
    }

    /// Signs what is written so far (a POST's JSON body or a GET's query
    /// string): the signature covers timestamp + API key + receive window +
    /// those bytes. The timestamp, window and signature are laid out after
    /// them in the same buffer, and the headers point there.
    fn finish_signed<'a>(
        &'a self,
        mut w: WireWriter<'a>,
        method: HttpMethod,
        path: &'static str,
        ts_ms: u64,
    ) -> Result<RestRequest<'a>, EncodeError> {
        let signed_end = w.len();
        let ts = U64Text::new(ts_ms);
        let recv = U64Text::new(u64::from(self.recv_window.ms()));
        let signature =
            self.creds.secret.sign(&[ts.as_bytes(), self.creds.api_key.as_bytes(), recv.as_bytes(), w.written()]);
        w.bytes(ts.as_bytes())?;
        let ts_end = w.len();
        w.bytes(recv.as_bytes())?;
        let recv_end = w.len();
        w.bytes(signature.as_bytes())?;
        let sig_end = w.len();
        let (buf, _) = w.finish();
        let buf: &'a [u8] = buf;
        let headers = [
            Header { name: "Content-Type", value: b"application/json" },
            Header { name: "X-BAPI-API-KEY", value: self.creds.api_key.as_bytes() },
            Header { name: "X-BAPI-TIMESTAMP", value: &buf[signed_end..ts_end] },
            Header { name: "X-BAPI-RECV-WINDOW", value: &buf[ts_end..recv_end] },
            Header { name: "X-BAPI-SIGN", value: &buf[recv_end..sig_end] },
        ];
        let signed = &buf[..signed_end];
        Ok(match method {
            HttpMethod::Get => RestRequest::new(method, path, signed, &headers[1..], b""),
            _ => RestRequest::new(method, path, b"", &headers, signed),
        })
    }

    /// `GET /v5/order/realtime?category=linear&symbol=…&orderLinkId=…`: the
    /// order's state as the venue holds it (the engine asks when an answer
    /// was lost; parse the answer with `BybitPrivateParser::query_response`).
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
        w.bytes(b"category=linear&symbol=")?;
        w.bytes(symbol.as_bytes())?;
        w.bytes(b"&orderLinkId=")?;
        w.bytes(client_id.render().as_bytes())?;
        self.finish_get(w, REALTIME_PATH, ts_ms)
    }

    /// `GET /v5/execution/list?category=linear&symbol=…&startTime=…&limit=…`
    /// (and `&cursor=…` for the pages after the first): the account's
    /// executions of `symbol` from `start_ms` (venue time), newest first (the
    /// engine fetches the fills a private-stream outage may have lost; parse
    /// the answer with `BybitPrivateParser::execution_list`). `cursor` is
    /// the previous page's `nextPageCursor`, sent as the venue wrote it
    /// (already percent-encoded). Signed as every GET: timestamp + API key +
    /// receive window + the query string.
    ///
    /// # Errors
    /// [`EncodeError::Buffer`] when `buf` is too small.
    pub fn rest_execution_list<'a>(
        &'a self,
        symbol: &Symbol,
        start_ms: u64,
        limit: u16,
        cursor: &[u8],
        ts_ms: u64,
        buf: &'a mut [u8],
    ) -> Result<RestRequest<'a>, EncodeError> {
        let mut w = WireWriter::new(buf);
        w.bytes(b"category=linear&symbol=")?;
        w.bytes(symbol.as_bytes())?;
        w.bytes(b"&startTime=")?;
        w.bytes(U64Text::new(start_ms).as_bytes())?;
        w.bytes(b"&limit=")?;
        w.bytes(U64Text::new(u64::from(limit)).as_bytes())?;
        if !cursor.is_empty() {
            w.bytes(b"&cursor=")?;
            w.bytes(cursor)?;
        }
        self.finish_get(w, EXECUTION_LIST_PATH, ts_ms)
    }

    /// `POST /v5/order/disconnected-cancel-all` with `timeWindow` seconds
    /// (3–300): disconnection protection, the venue's dead-man switch for
    /// the trade connection (when it drops and is not re-authenticated
    /// within the window, the account's orders are cancelled).
    ///
    /// # Errors
    /// [`EncodeError::Buffer`] when `buf` is too small.
    pub fn rest_disconnect_protection<'a>(
        &'a self,
        window_secs: u32,
        ts_ms: u64,
        buf: &'a mut [u8],
    ) -> Result<RestRequest<'a>, EncodeError> {
        let mut w = WireWriter::new(buf);
        w.bytes(b"{\"timeWindow\":")?;
        w.u64(u64::from(window_secs))?;
        w.byte(b'}')?;
        self.finish_rest(w, DCP_PATH, ts_ms)
    }

    /// `POST /v5/order/create`. `market_ref` is the reference price for a
    /// market order's min-notional check.
    ///
    /// # Errors
    /// [`EncodeError`]: a failed check (nothing signed), a small buffer, or
    /// an order for another venue.
    pub fn rest_create<'a>(
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
        write_create_args(&mut w, &o, instrument)?;
        Ok(SignedOrder { order: o, request: self.finish_rest(w, CREATE_PATH, ts_ms)? })
    }

    /// `POST /v5/order/cancel` by our client order id (`orderLinkId`).
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
        write_cancel_args(&mut w, symbol, Some(client_id))?;
        self.finish_rest(w, CANCEL_PATH, ts_ms)
    }

    /// `POST /v5/order/cancel-all` for one symbol.
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
        write_cancel_args(&mut w, symbol, None)?;
        self.finish_rest(w, CANCEL_ALL_PATH, ts_ms)
    }

    /// `POST /v5/position/set-leverage` with the same leverage for both
    /// sides (one-way mode). The live engine sends it once per symbol at
    /// start with the profile's configured leverage (`[leverage]`, see
    /// [`crate::strategy::Strategy::venue_leverage`]); parse the answer with
    /// [`parse_set_leverage_response`].
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
        let lev = U64Text::new(u64::from(leverage));
        let mut w = WireWriter::new(buf);
        let mut obj = JsonObject::open(&mut w)?;
        obj.member(b"category", b"linear", true)?;
        obj.member(b"symbol", symbol.as_bytes(), true)?;
        obj.member(b"buyLeverage", lev.as_bytes(), true)?;
        obj.member(b"sellLeverage", lev.as_bytes(), true)?;
        obj.close()?;
        self.finish_rest(w, SET_LEVERAGE_PATH, ts_ms)
    }

    /// The trade WebSocket `auth` message; `expires_ms` is when the
    /// signature stops being accepted (a little after now).
    ///
    /// # Errors
    /// [`EncodeError::Buffer`] when `buf` is too small.
    pub fn ws_auth<'a>(&self, tag: RequestTag, expires_ms: u64, buf: &'a mut [u8]) -> Result<&'a [u8], EncodeError> {
        let expires = U64Text::new(expires_ms);
        let signature = self.creds.secret.sign(&[b"GET/realtime", expires.as_bytes()]);
        let mut w = WireWriter::new(buf);
        w.bytes(b"{\"reqId\":\"")?;
        w.bytes(tag.render().as_bytes())?;
        w.bytes(b"\",\"op\":\"auth\",\"args\":[\"")?;
        w.bytes(self.creds.api_key.as_bytes())?;
        w.bytes(b"\",")?;
        w.bytes(expires.as_bytes())?;
        w.bytes(b",\"")?;
        w.bytes(signature.as_bytes())?;
        w.bytes(b"\"]}")?;
        let (buf, len) = w.finish();
        Ok(&buf[..len])
    }

    fn ws_start(&self, w: &mut WireWriter<'_>, tag: RequestTag, op: &[u8], ts_ms: u64) -> Result<(), EncodeError> {
        w.bytes(b"{\"reqId\":\"")?;
        w.bytes(tag.render().as_bytes())?;
        w.bytes(b"\",\"header\":{\"X-BAPI-TIMESTAMP\":\"")?;
        w.u64(ts_ms)?;
        w.bytes(b"\",\"X-BAPI-RECV-WINDOW\":\"")?;
        w.u64(u64::from(self.recv_window.ms()))?;
        w.bytes(b"\"},\"op\":\"")?;
        w.bytes(op)?;
        w.bytes(b"\",\"args\":[")?;
        Ok(())
    }

    /// Trade WebSocket `order.create`.
    ///
    /// # Errors
    /// As [`Self::rest_create`].
    pub fn ws_create<'a>(
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
        self.ws_start(&mut w, tag, b"order.create", ts_ms)?;
        write_create_args(&mut w, &o, instrument)?;
        w.bytes(b"]}")?;
        let (buf, len) = w.finish();
        Ok(SignedOrder { order: o, request: &buf[..len] })
    }

    /// Trade WebSocket `order.cancel` by our client order id.
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
        self.ws_start(&mut w, tag, b"order.cancel", ts_ms)?;
        write_cancel_args(&mut w, symbol, Some(client_id))?;
        w.bytes(b"]}")?;
        let (buf, len) = w.finish();
        Ok(&buf[..len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::{Notional, Qty};
    use crate::instrument::FeeSchedule;
    use crate::order::ids::RequestOp;
    use crate::side::Side;

    fn creds() -> Credentials {
        Credentials::new(b"XXXXXXXXXX", b"test-secret-not-real").unwrap()
    }

    fn btc() -> Instrument {
        Instrument {
            venue: Venue::BybitLinear,
            symbol: Symbol::new(b"BTCUSDT").unwrap(),
            price_scale: 2,
            qty_scale: 3,
            tick: Price(10),
            step: Qty(1),
            min_qty: Qty(1),
            max_qty: Qty(1_500_000),
            max_market_qty: Qty(150_000),
            min_notional: Notional(5 * 100_000_000),
            fees: FeeSchedule::BYBIT_VIP0,
        }
    }

    fn order() -> OrderRequest {
        OrderRequest {
            venue: Venue::BybitLinear,
            symbol: Symbol::new(b"BTCUSDT").unwrap(),
            side: Side::Buy,
            kind: OrderKind::Limit,
            tif: TimeInForce::PostOnly,
            price: Price(6_000_000),
            qty: Qty(1),
            reduce_only: false,
            client_id: ClientOrderId(3),
        }
    }

    /// The documentation spells out the POST pre-sign string
    /// `1658385579423XXXXXXXXXX5000{"category": "option"}`; the header
    /// values and body we emit must concatenate the same way.
    #[test]
    fn rest_signature_follows_the_documented_concatenation() {
        let enc = BybitOrderEncoder::new(creds(), RecvWindow::DEFAULT);
        let mut buf = [0u8; 1024];
        let req = enc.rest_create(&order(), &btc(), Price::ZERO, 1_658_385_579_423, &mut buf).unwrap().request;
        assert_eq!(req.method, HttpMethod::Post);
        assert_eq!(req.path, "/v5/order/create");
        assert_eq!(
            std::str::from_utf8(req.body).unwrap(),
            r#"{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001","price":"60000","timeInForce":"PostOnly","orderLinkId":"scalpel-3"}"#
        );
        assert_eq!(req.header("X-BAPI-API-KEY"), Some(&b"XXXXXXXXXX"[..]));
        assert_eq!(req.header("X-BAPI-TIMESTAMP"), Some(&b"1658385579423"[..]));
        assert_eq!(req.header("X-BAPI-RECV-WINDOW"), Some(&b"5000"[..]));
        let mut pre_sign = b"1658385579423XXXXXXXXXX5000".to_vec();
        pre_sign.extend_from_slice(req.body);
        assert_eq!(req.header("X-BAPI-SIGN").unwrap(), creds().secret.sign(&[&pre_sign]).as_bytes());
    }

    /// GET requests sign timestamp + key + recvWindow + the query string
    /// (Bybit v5 "Integration Guidance", GET example); checked with an
    /// independent HMAC.
    #[test]
    fn order_query_and_disconnection_protection_are_signed() {
        let enc = BybitOrderEncoder::new(creds(), RecvWindow::DEFAULT);
        let mut buf = [0u8; 1024];
        let req =
            enc.rest_query_order(&"BTCUSDT".parse().unwrap(), ClientOrderId(7), 1_658_385_579_423, &mut buf).unwrap();
        assert_eq!((req.method, req.path), (HttpMethod::Get, REALTIME_PATH));
        assert_eq!(req.query, b"category=linear&symbol=BTCUSDT&orderLinkId=scalpel-7");
        assert!(req.body.is_empty());
        let pre_sign = b"1658385579423XXXXXXXXXX5000category=linear&symbol=BTCUSDT&orderLinkId=scalpel-7";
        let independent: String =
            hmac_sha256::HMAC::mac(pre_sign, b"test-secret-not-real").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(req.header("X-BAPI-SIGN").unwrap(), independent.as_bytes());
        assert_eq!(req.header("X-BAPI-TIMESTAMP"), Some(&b"1658385579423"[..]));
        assert_eq!(req.header("Content-Type"), None, "a GET has no body, so no content type");
        let mut buf = [0u8; 512];
        let req = enc.rest_disconnect_protection(10, 1_658_385_579_423, &mut buf).unwrap();
        assert_eq!((req.method, req.path, req.body), (HttpMethod::Post, DCP_PATH, &b"{\"timeWindow\":10}"[..]));
        let independent: String =
            hmac_sha256::HMAC::mac(b"1658385579423XXXXXXXXXX5000{\"timeWindow\":10}", b"test-secret-not-real")
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
        assert_eq!(req.header("X-BAPI-SIGN").unwrap(), independent.as_bytes());
    }

    #[test]
    fn execution_list_is_a_signed_get_over_the_exact_query() {
        let enc = BybitOrderEncoder::new(creds(), RecvWindow::DEFAULT);
        let mut buf = [0u8; 512];
        let btc: Symbol = "BTCUSDT".parse().unwrap();
        for (cursor, expected) in [
            (&b""[..], "category=linear&symbol=BTCUSDT&startTime=1658385570000&limit=50"),
            (
                &b"132766%3A2%2C132766%3A2"[..],
                "category=linear&symbol=BTCUSDT&startTime=1658385570000&limit=50&cursor=132766%3A2%2C132766%3A2",
            ),
        ] {
            let req =
                enc.rest_execution_list(&btc, 1_658_385_570_000, 50, cursor, 1_658_385_579_423, &mut buf).unwrap();
            assert_eq!((req.method, req.path, req.body), (HttpMethod::Get, "/v5/execution/list", &b""[..]));
            assert_eq!(std::str::from_utf8(req.query).unwrap(), expected);
            let pre_sign = format!("1658385579423XXXXXXXXXX5000{expected}");
            let independent: String = hmac_sha256::HMAC::mac(pre_sign.as_bytes(), b"test-secret-not-real")
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(req.header("X-BAPI-SIGN").unwrap(), independent.as_bytes());
            assert_eq!(req.header("X-BAPI-TIMESTAMP"), Some(&b"1658385579423"[..]));
        }
    }

    #[test]
    fn market_reduce_only_cancel_and_cancel_all_bodies() {
        let enc = BybitOrderEncoder::new(creds(), RecvWindow::DEFAULT);
        let mut buf = [0u8; 1024];
        let mut o = order();
        o.kind = OrderKind::Market;
        o.tif = TimeInForce::Ioc;
        o.side = Side::Sell;
        o.reduce_only = true;
        let req = enc.rest_create(&o, &btc(), Price(6_000_000), 1, &mut buf).unwrap().request;
        assert_eq!(
            std::str::from_utf8(req.body).unwrap(),
            r#"{"category":"linear","symbol":"BTCUSDT","side":"Sell","orderType":"Market","qty":"0.001","orderLinkId":"scalpel-3","reduceOnly":true}"#
        );
        let req = enc.rest_cancel(&o.symbol, o.client_id, 1, &mut buf).unwrap();
        assert_eq!(req.path, "/v5/order/cancel");
        assert_eq!(req.body, br#"{"category":"linear","symbol":"BTCUSDT","orderLinkId":"scalpel-3"}"#);
        let req = enc.rest_cancel_all(&o.symbol, 1, &mut buf).unwrap();
        assert_eq!(req.path, "/v5/order/cancel-all");
        assert_eq!(req.body, br#"{"category":"linear","symbol":"BTCUSDT"}"#);
    }

    #[test]
    fn set_leverage_body_signature_and_answers() {
        let enc = BybitOrderEncoder::new(creds(), RecvWindow::DEFAULT);
        let mut buf = [0u8; 1024];
        let btc: Symbol = "BTCUSDT".parse().unwrap();
        let req = enc.rest_set_leverage(&btc, 6, 1_658_385_579_423, &mut buf).unwrap();
        assert_eq!((req.method, req.path), (HttpMethod::Post, "/v5/position/set-leverage"));
        assert_eq!(req.body, br#"{"category":"linear","symbol":"BTCUSDT","buyLeverage":"6","sellLeverage":"6"}"#);
        let mut pre_sign = b"1658385579423XXXXXXXXXX5000".to_vec();
        pre_sign.extend_from_slice(req.body);
        assert_eq!(req.header("X-BAPI-SIGN").unwrap(), creds().secret.sign(&[&pre_sign]).as_bytes());
        assert!(matches!(enc.rest_set_leverage(&btc, 0, 1, &mut buf), Err(EncodeError::NotImplemented(_))));
        assert!(matches!(enc.rest_set_leverage(&btc, 126, 1, &mut buf), Err(EncodeError::NotImplemented(_))));
        assert_eq!(parse_set_leverage_response(br#"{"retCode":0,"retMsg":"OK","result":{},"time":1}"#), Ok(()));
        assert_eq!(
            parse_set_leverage_response(br#"{"retCode":110043,"retMsg":"Set leverage not modified","result":{}}"#),
            Ok(())
        );
        assert!(parse_set_leverage_response(br#"{"retCode":10001,"retMsg":"params error"}"#).is_err());
        assert!(parse_set_leverage_response(b"<html>").is_err());
    }

    #[test]
    fn websocket_auth_and_orders() {
        let enc = BybitOrderEncoder::new(creds(), RecvWindow::new(8000).unwrap());
        let mut buf = [0u8; 1024];
        let auth =
            enc.ws_auth(RequestTag::new(RequestOp::Auth, ClientOrderId(1)), 1_711_010_121_452, &mut buf).unwrap();
        let v: serde_json::Value = serde_json::from_slice(auth).unwrap();
        assert_eq!(v["op"], "auth");
        assert_eq!(v["args"][0], "XXXXXXXXXX");
        assert_eq!(v["args"][1], 1_711_010_121_452u64);
        assert_eq!(v["args"][2], creds().secret.sign(&[b"GET/realtime1711010121452"]).as_str());
        let tag = RequestTag::new(RequestOp::Place, ClientOrderId(3));
        let text = enc.ws_create(&order(), &btc(), Price::ZERO, tag, 1_711_001_595_207, &mut buf).unwrap().request;
        let v: serde_json::Value = serde_json::from_slice(text).unwrap();
        assert_eq!(v["reqId"], "n-3-0");
        assert_eq!(v["op"], "order.create");
        assert_eq!(v["header"]["X-BAPI-TIMESTAMP"], "1711001595207");
        assert_eq!(v["header"]["X-BAPI-RECV-WINDOW"], "8000");
        assert_eq!(v["args"][0]["orderLinkId"], "scalpel-3");
        assert_eq!(v["args"][0]["timeInForce"], "PostOnly");
        let tag = RequestTag::new(RequestOp::Cancel, ClientOrderId(3));
        let text = enc.ws_cancel(&order().symbol, ClientOrderId(3), tag, 1, &mut buf).unwrap();
        let v: serde_json::Value = serde_json::from_slice(text).unwrap();
        assert_eq!(v["op"], "order.cancel");
        assert_eq!(v["args"][0]["orderLinkId"], "scalpel-3");
        assert!(v["reqId"].as_str().unwrap().len() <= 36);
    }

    #[test]
    fn refuses_before_signing() {
        let enc = BybitOrderEncoder::new(creds(), RecvWindow::DEFAULT);
        let mut buf = [0u8; 1024];
        let mut o = order();
        o.price = Price(10_000); // 100.00 × 0.001 = 0.1 USDT < 5 USDT
        assert!(matches!(enc.rest_create(&o, &btc(), Price::ZERO, 1, &mut buf), Err(EncodeError::Check(_))));
        o.venue = Venue::BinanceUsdm;
        assert_eq!(enc.rest_create(&o, &btc(), Price::ZERO, 1, &mut buf).err(), Some(EncodeError::WrongVenue));
        let mut small = [0u8; 100];
        assert!(matches!(enc.rest_create(&order(), &btc(), Price::ZERO, 1, &mut small), Err(EncodeError::Buffer(_))));
    }
}
