//! Binance USDⓈ-M REST requests the network layer sends besides orders,
//! sans-IO: request targets written into the caller's buffer, responses
//! parsed from bytes.
//!
//! Sources (Binance derivatives documentation, USDⓈ-M futures):
//! - Order book `GET /fapi/v1/depth` (limit 5, 10, 20, 50, 100, 500, 1000).
//! - Exchange information `GET /fapi/v1/exchangeInfo` (parsed by
//!   `InstrumentTable::add_binance_exchange_info`).
//! - User data streams: `POST /fapi/v1/listenKey` (create; returns
//!   `{"listenKey":"…"}`), `PUT` (keep alive, every < 60 min), `DELETE`
//!   (close), with the `X-MBX-APIKEY` header and no signature.
//! - Auto-cancel all open orders `POST /fapi/v1/countdownCancelAll`
//!   (`symbol`, `countdownTime` ms, signed; 0 cancels the countdown): the
//!   dead-man switch, refreshed from the loop (see
//!   `BinanceOrderEncoder::rest_countdown_cancel_all`).

use crate::instrument::Symbol;
use crate::venue::signed_request::HttpMethod;
use crate::venue::wire_writer::{BufferTooSmall, U64Text, WireWriter};

/// Order book snapshot.
pub const DEPTH_PATH: &str = "/fapi/v1/depth";
/// Exchange information (instruments).
pub const EXCHANGE_INFO_PATH: &str = "/fapi/v1/exchangeInfo";
/// User-data stream listen key.
pub const LISTEN_KEY_PATH: &str = "/fapi/v1/listenKey";
/// Auto-cancel countdown (dead-man switch).
pub const COUNTDOWN_CANCEL_ALL_PATH: &str = "/fapi/v1/countdownCancelAll";

/// Open interest of one symbol.
pub const OPEN_INTEREST_PATH: &str = "/fapi/v1/openInterest";

/// Depth limits the endpoint accepts.
pub const DEPTH_LIMITS: [u16; 7] = [5, 10, 20, 50, 100, 500, 1000];

/// Why a REST request or response was refused.
///
/// # Errors
/// Returned by this module's functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// The buffer is too small.
    #[error(transparent)]
    Buffer(#[from] BufferTooSmall),
    /// A depth limit the venue does not serve.
    #[error("depth limit must be one of 5, 10, 20, 50, 100, 500, 1000")]
    BadLimit,
    /// The response is not the expected JSON.
    #[error("unexpected response body")]
    BadResponse,
}

/// Writes `/fapi/v1/depth?symbol=S&limit=N` into `out`; returns its length.
///
/// # Errors
/// [`RestError::BadLimit`], [`RestError::Buffer`].
pub fn depth_target(symbol: &Symbol, limit: u16, out: &mut [u8]) -> Result<usize, RestError> {
    if !DEPTH_LIMITS.contains(&limit) {
        return Err(RestError::BadLimit);
    }
    let mut w = WireWriter::new(out);
    w.bytes(DEPTH_PATH.as_bytes())?;
    w.bytes(b"?symbol=")?;
    w.bytes(symbol.as_bytes())?;
    w.bytes(b"&limit=")?;
    w.bytes(U64Text::new(u64::from(limit)).as_bytes())?;
    Ok(w.len())
}

/// Writes `/fapi/v1/openInterest?symbol=S` into `out`; returns its length.
///
/// # Errors
/// [`RestError::Buffer`].
pub fn open_interest_target(symbol: &Symbol, out: &mut [u8]) -> Result<usize, RestError> {
    let mut w = WireWriter::new(out);
    w.bytes(OPEN_INTEREST_PATH.as_bytes())?;
    w.bytes(b"?symbol=")?;
    w.bytes(symbol.as_bytes())?;
    Ok(w.len())
}

/// An answer of `GET /fapi/v1/openInterest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenInterestAnswer {
    /// The symbol it is for.
    pub symbol: Symbol,
    /// Open interest, base quantity at the scale asked for.
    pub qty: crate::fixed::Qty,
    /// The venue's time of the figure, ms.
    pub time_ms: i64,
}

/// Parses the answer of `GET /fapi/v1/openInterest` with the quantity at
/// `qty_scale` decimals (the instrument's).
///
/// # Errors
/// [`RestError::BadResponse`] when a field is missing, not a string or
/// number as documented, negative, or has more decimals than `qty_scale`
/// (an error object `{"code":…,"msg":…}` included).
pub fn parse_open_interest(body: &[u8], qty_scale: u8) -> Result<OpenInterestAnswer, RestError> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| RestError::BadResponse)?;
    let text = v.get("openInterest").and_then(serde_json::Value::as_str).ok_or(RestError::BadResponse)?;
    let qty = crate::fixed::parse_decimal(text.as_bytes(), qty_scale, false).map_err(|_| RestError::BadResponse)?;
    let symbol = v
        .get("symbol")
        .and_then(serde_json::Value::as_str)
        .and_then(|s| Symbol::new(s.as_bytes()).ok())
        .ok_or(RestError::BadResponse)?;
    let time_ms = v.get("time").and_then(serde_json::Value::as_i64).filter(|t| *t > 0).ok_or(RestError::BadResponse)?;
    Ok(OpenInterestAnswer { symbol, qty: crate::fixed::Qty(qty), time_ms })
}

/// What to do with the listen key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenKeyOp {
    /// Create (or get the current) key.
    Create,
    /// Extend its validity by 60 minutes.
    KeepAlive,
    /// Close the user-data stream.
    Close,
}

impl ListenKeyOp {
    /// The HTTP method (the path is [`LISTEN_KEY_PATH`], the only header
    /// `X-MBX-APIKEY`).
    #[must_use]
    pub const fn method(self) -> HttpMethod {
        match self {
            ListenKeyOp::Create => HttpMethod::Post,
            ListenKeyOp::KeepAlive => HttpMethod::Put,
            ListenKeyOp::Close => HttpMethod::Delete,
        }
    }
}

/// A listen key (Binance's are 60 characters), in a fixed array.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ListenKey {
    bytes: [u8; 96],
    len: u8,
}

impl ListenKey {
    /// The key text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl std::fmt::Debug for ListenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // It grants read access to the account's stream: not for logs.
        write!(f, "ListenKey(<redacted, {} chars>)", self.len)
    }
}

/// Parses `{"listenKey":"…"}` (create and keep-alive answers).
///
/// # Errors
/// [`RestError::BadResponse`] when the key is missing, empty, longer than
/// 96 characters or not alphanumeric.
pub fn parse_listen_key(body: &[u8]) -> Result<ListenKey, RestError> {
    // Borrowed from the body: parsing a good answer allocates nothing (a
    // key with escapes, never valid, fails to borrow and is refused).
    #[derive(serde::Deserialize)]
    struct Answer<'a> {
        #[serde(rename = "listenKey")]
        listen_key: &'a str,
    }
    let key = serde_json::from_slice::<Answer<'_>>(body).map_err(|_| RestError::BadResponse)?.listen_key;
    if key.is_empty() || key.len() > 96 || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(RestError::BadResponse);
    }
    let mut bytes = [0u8; 96];
    bytes[..key.len()].copy_from_slice(key.as_bytes());
    Ok(ListenKey { bytes, len: key.len() as u8 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_target_and_limits() {
        let mut out = [0u8; 64];
        let n = depth_target(&"BTCUSDT".parse().unwrap(), 1000, &mut out).unwrap();
        assert_eq!(&out[..n], b"/fapi/v1/depth?symbol=BTCUSDT&limit=1000");
        assert_eq!(depth_target(&"BTCUSDT".parse().unwrap(), 999, &mut out), Err(RestError::BadLimit));
        assert!(matches!(depth_target(&"BTCUSDT".parse().unwrap(), 5, &mut [0u8; 8]), Err(RestError::Buffer(_))));
    }

    /// The documentation's example answer.
    #[test]
    fn open_interest_target_and_answer() {
        let mut out = [0u8; 64];
        let n = open_interest_target(&"BTCUSDT".parse().unwrap(), &mut out).unwrap();
        assert_eq!(&out[..n], b"/fapi/v1/openInterest?symbol=BTCUSDT");
        let a =
            parse_open_interest(br#"{"openInterest":"10659.509","symbol":"BTCUSDT","time":1589437530011}"#, 3).unwrap();
        assert_eq!(
            (a.qty, a.time_ms, a.symbol.as_bytes()),
            (crate::fixed::Qty(10_659_509), 1_589_437_530_011, &b"BTCUSDT"[..])
        );
        for bad in [
            &br#"{"code":-1121,"msg":"Invalid symbol."}"#[..],
            br#"{"openInterest":"10659.5091","symbol":"BTCUSDT","time":1}"#,
            br#"{"openInterest":"-1","symbol":"BTCUSDT","time":1}"#,
            br#"{"openInterest":10659.509,"symbol":"BTCUSDT","time":1}"#,
            br#"{"openInterest":"1","symbol":"BTCUSDT"}"#,
            b"not json",
        ] {
            assert_eq!(parse_open_interest(bad, 3), Err(RestError::BadResponse), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn listen_key_parse_and_redaction() {
        let k =
            parse_listen_key(br#"{"listenKey":"pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"}"#)
                .unwrap();
        assert_eq!(k.as_str(), "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1");
        assert!(!format!("{k:?}").contains("pqia"));
        assert_eq!(
            parse_listen_key(br#"{"code":-1125,"msg":"This listenKey does not exist."}"#),
            Err(RestError::BadResponse)
        );
        assert_eq!(parse_listen_key(br#"{"listenKey":"a b"}"#), Err(RestError::BadResponse));
        assert_eq!(ListenKeyOp::KeepAlive.method(), HttpMethod::Put);
    }
}
