//! What the venues say about our rate-limit usage, for the risk gate's
//! token buckets to correct themselves against (the buckets live in
//! `risk/`; this module only reads the venues' counters).
//!
//! Sources:
//! - Binance USDⓈ-M: every response carries `X-MBX-USED-WEIGHT-1M` (IP
//!   weight) and order endpoints `X-MBX-ORDER-COUNT-10S` / `X-MBX-ORDER-COUNT-1M`
//!   (account order counts); WebSocket API responses carry the same counters
//!   in a `rateLimits` array (`rateLimitType` `REQUEST_WEIGHT` / `ORDERS`,
//!   `interval` + `intervalNum`, `limit`, `count`):
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info>,
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-api-general-info>
//! - Bybit v5: `X-Bapi-Limit-Status` (requests left in the window),
//!   `X-Bapi-Limit` (the window's limit), `X-Bapi-Limit-Reset-Timestamp`
//!   (ms when it resets); the trade WebSocket echoes the same names in each
//!   response's `header` object:
//!   <https://bybit-exchange.github.io/docs/v5/rate-limit>
//!
//! # Invariants
//! - Header names compare case-insensitively; unknown headers are ignored.
//! - A malformed value of a known header is an error naming it, not a zero.

use crate::venue::Venue;

/// One counter as the venue reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsageCounter {
    /// Used in the current window.
    pub used: u32,
    /// The window's limit when the venue stated it (WS API `rateLimits`).
    pub limit: Option<u32>,
}

/// Bybit's per-endpoint window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BybitLimitStatus {
    /// Requests left in the window (`X-Bapi-Limit-Status`).
    pub remaining: Option<u32>,
    /// The window's limit (`X-Bapi-Limit`).
    pub limit: Option<u32>,
    /// When the window resets, ms since the epoch
    /// (`X-Bapi-Limit-Reset-Timestamp`).
    pub reset_ms: Option<i64>,
}

/// Usage observed in one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObservedUsage {
    /// Which venue reported it.
    pub venue: Venue,
    /// Binance orders in the last 10 s.
    pub orders_10s: Option<UsageCounter>,
    /// Binance orders in the last minute.
    pub orders_1m: Option<UsageCounter>,
    /// Binance request weight in the last minute.
    pub weight_1m: Option<UsageCounter>,
    /// Bybit's window for the endpoint just called.
    pub bybit: Option<BybitLimitStatus>,
}

/// A known rate-limit header had a malformed value.
///
/// # Errors
/// Returned by [`observed_usage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed rate-limit header {0}")]
pub struct BadRateLimitHeader(pub &'static str);

impl ObservedUsage {
    /// Nothing observed yet.
    #[must_use]
    pub const fn empty(venue: Venue) -> Self {
        Self { venue, orders_10s: None, orders_1m: None, weight_1m: None, bybit: None }
    }

    /// `true` when no counter was observed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.orders_10s.is_none() && self.orders_1m.is_none() && self.weight_1m.is_none() && self.bybit.is_none()
    }

    /// Records one Binance WS API `rateLimits` entry. Returns `false` (and
    /// records nothing) for a window this struct does not track.
    pub fn apply_binance_window(
        &mut self,
        kind: &str,
        interval: &str,
        interval_num: u64,
        limit: u32,
        count: u32,
    ) -> bool {
        let counter = Some(UsageCounter { used: count, limit: Some(limit) });
        match (kind, interval, interval_num) {
            ("ORDERS", "SECOND", 10) => self.orders_10s = counter,
            ("ORDERS", "MINUTE", 1) => self.orders_1m = counter,
            ("REQUEST_WEIGHT", "MINUTE", 1) => self.weight_1m = counter,
            _ => return false,
        }
        true
    }

    /// Records one Bybit limit field by its header name (case-insensitive).
    ///
    /// # Errors
    /// [`BadRateLimitHeader`] for a malformed value of a known name.
    pub fn apply_bybit_field(&mut self, name: &[u8], value: &[u8]) -> Result<bool, BadRateLimitHeader> {
        let status = self.bybit.get_or_insert_with(BybitLimitStatus::default);
        if name.eq_ignore_ascii_case(b"X-Bapi-Limit-Status") {
            status.remaining = Some(parse_u32(value).ok_or(BadRateLimitHeader("X-Bapi-Limit-Status"))?);
        } else if name.eq_ignore_ascii_case(b"X-Bapi-Limit") {
            status.limit = Some(parse_u32(value).ok_or(BadRateLimitHeader("X-Bapi-Limit"))?);
        } else if name.eq_ignore_ascii_case(b"X-Bapi-Limit-Reset-Timestamp") {
            let ms = parse_u64(value).and_then(|v| i64::try_from(v).ok());
            status.reset_ms = Some(ms.ok_or(BadRateLimitHeader("X-Bapi-Limit-Reset-Timestamp"))?);
        } else {
            if *status == BybitLimitStatus::default() {
                self.bybit = None;
            }
            return Ok(false);
        }
        Ok(true)
    }
}

fn parse_u64(text: &[u8]) -> Option<u64> {
    let text = text.trim_ascii();
    if text.is_empty() || text.len() > 19 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(text.iter().fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0')))
}

fn parse_u32(text: &[u8]) -> Option<u32> {
    parse_u64(text).and_then(|v| u32::try_from(v).ok())
}

/// Reads the rate-limit counters out of one HTTP response's headers
/// (`(name, value)` pairs as received).
///
/// # Errors
/// [`BadRateLimitHeader`] when a known header's value is not a number.
pub fn observed_usage<'h>(
    venue: Venue,
    headers: impl IntoIterator<Item = (&'h [u8], &'h [u8])>,
) -> Result<ObservedUsage, BadRateLimitHeader> {
    let mut usage = ObservedUsage::empty(venue);
    for (name, value) in headers {
        match venue {
            Venue::BinanceUsdm => {
                let slot = if name.eq_ignore_ascii_case(b"X-MBX-ORDER-COUNT-10S") {
                    (&mut usage.orders_10s, "X-MBX-ORDER-COUNT-10S")
                } else if name.eq_ignore_ascii_case(b"X-MBX-ORDER-COUNT-1M") {
                    (&mut usage.orders_1m, "X-MBX-ORDER-COUNT-1M")
                } else if name.eq_ignore_ascii_case(b"X-MBX-USED-WEIGHT-1M") {
                    (&mut usage.weight_1m, "X-MBX-USED-WEIGHT-1M")
                } else {
                    continue;
                };
                *slot.0 = Some(UsageCounter { used: parse_u32(value).ok_or(BadRateLimitHeader(slot.1))?, limit: None });
            }
            Venue::BybitLinear => {
                usage.apply_bybit_field(name, value)?;
            }
        }
    }
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_headers() {
        let headers: [(&[u8], &[u8]); 5] = [
            (b"Content-Type", b"application/json"),
            (b"x-mbx-used-weight-1m", b"17"),
            (b"X-MBX-ORDER-COUNT-10S", b"3"),
            (b"X-MBX-ORDER-COUNT-1M", b"41"),
            (b"X-MBX-USED-WEIGHT", b"999"),
        ];
        let u = observed_usage(Venue::BinanceUsdm, headers).unwrap();
        assert_eq!(u.weight_1m, Some(UsageCounter { used: 17, limit: None }));
        assert_eq!(u.orders_10s.map(|c| c.used), Some(3));
        assert_eq!(u.orders_1m.map(|c| c.used), Some(41));
        assert_eq!(u.bybit, None);
        let bad: [(&[u8], &[u8]); 1] = [(b"X-MBX-ORDER-COUNT-10S", b"3x")];
        assert_eq!(observed_usage(Venue::BinanceUsdm, bad), Err(BadRateLimitHeader("X-MBX-ORDER-COUNT-10S")));
        assert!(observed_usage(Venue::BinanceUsdm, [(&b"Date"[..], &b"x"[..])]).unwrap().is_empty());
    }

    #[test]
    fn bybit_headers() {
        let headers: [(&[u8], &[u8]); 4] = [
            (b"X-Bapi-Limit-Status", b"9"),
            (b"x-bapi-limit", b"10"),
            (b"X-Bapi-Limit-Reset-Timestamp", b"1711001595207"),
            (b"Traceid", b"abc"),
        ];
        let u = observed_usage(Venue::BybitLinear, headers).unwrap();
        assert_eq!(
            u.bybit,
            Some(BybitLimitStatus { remaining: Some(9), limit: Some(10), reset_ms: Some(1_711_001_595_207) })
        );
        let bad: [(&[u8], &[u8]); 1] = [(b"X-Bapi-Limit", b"-1")];
        assert_eq!(observed_usage(Venue::BybitLinear, bad), Err(BadRateLimitHeader("X-Bapi-Limit")));
        assert!(observed_usage(Venue::BybitLinear, [(&b"Traceid"[..], &b"x"[..])]).unwrap().is_empty());
    }

    #[test]
    fn binance_ws_windows() {
        let mut u = ObservedUsage::empty(Venue::BinanceUsdm);
        assert!(u.apply_binance_window("ORDERS", "SECOND", 10, 300, 12));
        assert!(u.apply_binance_window("ORDERS", "MINUTE", 1, 1200, 40));
        assert!(u.apply_binance_window("REQUEST_WEIGHT", "MINUTE", 1, 2400, 321));
        assert!(!u.apply_binance_window("ORDERS", "DAY", 1, 160_000, 4043));
        assert_eq!(u.orders_10s, Some(UsageCounter { used: 12, limit: Some(300) }));
        assert_eq!(u.weight_1m, Some(UsageCounter { used: 321, limit: Some(2400) }));
    }
}
