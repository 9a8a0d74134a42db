//! Text forms of the engine's own identifiers, rendered deterministically
//! into fixed arrays and parsed back strictly.
//!
//! - A [`ClientOrderId`] is sent as `scalpel-<decimal u64>` (the session
//!   epoch in the high 32 bits, the sequence in the low 32; at most 28
//!   characters) (Binance
//!   `newClientOrderId`, which must match `^[\.A-Z\:/a-z0-9_-]{1,36}$`,
//!   <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api>;
//!   Bybit `orderLinkId`, at most 36 letters, digits, `-` and `_`,
//!   <https://bybit-exchange.github.io/docs/v5/order/create-order>). The
//!   prefix tells our orders from manual ones and from the venues' own
//!   (`autoclose-…`, `adl_autoclose`), which parse as foreign.
//! - A [`RequestTag`] is the id of one WebSocket request (Binance WS API
//!   `id`, Bybit trade WS `reqId`, at most 36 characters and unique per
//!   connection, <https://bybit-exchange.github.io/docs/v5/websocket/trade/guideline>).
//!   It carries the operation, the order and a retry counter, so a response
//!   maps back to its order without a lookup table: `n-42-0` is the first
//!   attempt to place order 42, `c-42-1` the second attempt to cancel it,
//!   `q-42-0` a REST query of its state, `f-1-0` the first page of a fill
//!   fetch for instrument 1 (REST responses echo no id: the engine keeps
//!   the tag of the request in flight).
//!
//! # Invariants
//! - `parse(render(x)) == x` for every value (property-tested); parsing
//!   accepts only canonical text (no leading zeros, no sign, no spaces).

use super::ClientOrderId;

/// Prefix of every client order id this engine sends.
pub const CLIENT_ID_PREFIX: &[u8] = b"scalpel-";

/// Rendered text of an id (at most 36 bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IdText {
    buf: [u8; 36],
    len: u8,
}

impl IdText {
    fn new() -> Self {
        Self { buf: [0; 36], len: 0 }
    }

    fn push(&mut self, bytes: &[u8]) {
        // Callers never exceed 36 bytes: prefix 8 + 20 digits, or 1+1+20+1+3.
        let end = usize::from(self.len) + bytes.len();
        if let Some(dst) = self.buf.get_mut(usize::from(self.len)..end) {
            dst.copy_from_slice(bytes);
            self.len = end as u8;
        }
    }

    /// The text.
    #[inline]
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// The text as `&str`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl std::fmt::Debug for IdText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn digits(value: u64) -> crate::fixed::U64Text {
    crate::fixed::U64Text::new(value)
}

/// Parses canonical decimal digits (no leading zero unless `"0"`).
fn parse_canonical_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || (text.len() > 1 && text[0] == b'0') {
        return None;
    }
    let mut value: u64 = 0;
    for &b in text {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(value)
}

impl ClientOrderId {
    /// The text sent to the venue: `scalpel-<sequence>`.
    #[must_use]
    pub fn render(self) -> IdText {
        let mut text = IdText::new();
        text.push(CLIENT_ID_PREFIX);
        text.push(digits(self.0).as_bytes());
        text
    }

    /// Parses text the venue echoes back; `None` for ids this engine did
    /// not create (manual orders, liquidations, malformed text).
    #[must_use]
    pub fn parse(text: &[u8]) -> Option<Self> {
        text.strip_prefix(CLIENT_ID_PREFIX).and_then(parse_canonical_u64).map(Self)
    }
}

/// What a WebSocket request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestOp {
    /// Place a new order.
    Place,
    /// Cancel one order.
    Cancel,
    /// Modify (Binance) / amend (Bybit) one order.
    Amend,
    /// Cancel every open order of a symbol.
    CancelAll,
    /// Authenticate the connection (Bybit `auth`, Binance `session.logon`).
    Auth,
    /// Ask the venue for an order's state (REST order query), after its
    /// answer was lost: the response settles the order one way or the other.
    Query,
    /// Fetch the account's fills of one symbol over REST (Binance
    /// `userTrades`, Bybit execution list) after a private stream was down;
    /// the tag's client id is the instrument index and its attempt the page
    /// number (REST answers echo no id: the engine keeps the tag).
    Fills,
}

impl RequestOp {
    const fn letter(self) -> u8 {
        match self {
            RequestOp::Place => b'n',
            RequestOp::Cancel => b'c',
            RequestOp::Amend => b'm',
            RequestOp::CancelAll => b'a',
            RequestOp::Auth => b'l',
            RequestOp::Query => b'q',
            RequestOp::Fills => b'f',
        }
    }

    const fn from_letter(letter: u8) -> Option<Self> {
        match letter {
            b'n' => Some(RequestOp::Place),
            b'c' => Some(RequestOp::Cancel),
            b'm' => Some(RequestOp::Amend),
            b'a' => Some(RequestOp::CancelAll),
            b'l' => Some(RequestOp::Auth),
            b'q' => Some(RequestOp::Query),
            b'f' => Some(RequestOp::Fills),
            _ => None,
        }
    }
}

/// Identifies one WebSocket request; echoed by the venue in its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestTag {
    /// What the request does.
    pub op: RequestOp,
    /// The order it is about (for `CancelAll` and `Auth`: the engine's
    /// sequence number of that request).
    pub client_id: ClientOrderId,
    /// Retry counter: a resend must use a new `reqId` on Bybit.
    pub attempt: u8,
}

impl RequestTag {
    /// First attempt of `op` on `client_id`.
    #[must_use]
    pub const fn new(op: RequestOp, client_id: ClientOrderId) -> Self {
        Self { op, client_id, attempt: 0 }
    }

    /// `<op>-<client sequence>-<attempt>`, e.g. `n-42-0`.
    #[must_use]
    pub fn render(self) -> IdText {
        let mut text = IdText::new();
        text.push(&[self.op.letter(), b'-']);
        text.push(digits(self.client_id.0).as_bytes());
        text.push(b"-");
        text.push(digits(u64::from(self.attempt)).as_bytes());
        text
    }

    /// Parses an echoed tag; `None` for anything not rendered by
    /// [`RequestTag::render`].
    #[must_use]
    pub fn parse(text: &[u8]) -> Option<Self> {
        let (&letter, rest) = text.split_first()?;
        let op = RequestOp::from_letter(letter)?;
        let rest = rest.strip_prefix(b"-")?;
        let dash = rest.iter().position(|&b| b == b'-')?;
        let client = parse_canonical_u64(&rest[..dash])?;
        let attempt = u8::try_from(parse_canonical_u64(&rest[dash + 1..])?).ok()?;
        Some(Self { op, client_id: ClientOrderId(client), attempt })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn renders_as_documented() {
        assert_eq!(ClientOrderId(42).render().as_str(), "scalpel-42");
        assert_eq!(ClientOrderId(u64::MAX).render().as_str(), "scalpel-18446744073709551615");
        assert!(ClientOrderId(u64::MAX).render().as_bytes().len() <= 36);
        let tag = RequestTag { op: RequestOp::Cancel, client_id: ClientOrderId(42), attempt: 1 };
        assert_eq!(tag.render().as_str(), "c-42-1");
        assert_eq!(super::super::VenueOrderId::from_u64(8_886_774).as_bytes(), b"8886774");
        assert_eq!(super::super::VenueOrderId::from_u64(0).as_bytes(), b"0");
        let max = RequestTag { op: RequestOp::Place, client_id: ClientOrderId(u64::MAX), attempt: 255 };
        assert!(max.render().as_bytes().len() <= 36);
    }

    #[test]
    fn foreign_and_malformed_ids_are_refused() {
        for bad in [
            &b"autoclose-123"[..],
            b"adl_autoclose",
            b"scalpel-",
            b"scalpel-01",
            b"scalpel-+1",
            b"scalpel-1 ",
            b"scalpel-18446744073709551616",
            b"web_abc",
        ] {
            assert_eq!(ClientOrderId::parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        for bad in [&b"x-1-0"[..], b"n-1", b"n-1-256", b"n--1-0", b"n-1-0-", b"", b"n-01-0"] {
            assert_eq!(RequestTag::parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn epochs_keep_sessions_apart_within_the_venues_limits() {
        use crate::order::SessionEpoch;
        // 2026-08-09: the epoch is the session's start second.
        let epoch = SessionEpoch::from_unix_ms(1_786_310_819_526);
        assert_eq!(epoch, SessionEpoch(1_786_310_819));
        let before = SessionEpoch::from_unix_ms(1_786_310_700_000);
        let (a, b) = (ClientOrderId::new(before, 5), ClientOrderId::new(epoch, 5));
        assert_ne!(a, b, "order 5 of the last session is not order 5 of this one");
        assert_eq!((b.epoch(), b.seq()), (epoch, 5));
        assert_eq!(ClientOrderId::parse(b.render().as_bytes()), Some(b));
        let widest = ClientOrderId::new(SessionEpoch(u32::MAX), u32::MAX).render();
        assert!(widest.as_bytes().len() <= 28, "{widest:?}");
        // Binance: ^[.A-Z:/a-z0-9_-]{1,36}$; Bybit: letters, digits, - and _.
        assert!(widest.as_bytes().iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-'));
        assert_eq!(SessionEpoch::from_unix_ms(-5), SessionEpoch(0));
    }

    proptest! {
        #[test]
        fn ids_round_trip(seq in any::<u64>(), attempt in any::<u8>(), op in 0usize..7) {
            let ops = [
                RequestOp::Place,
                RequestOp::Cancel,
                RequestOp::Amend,
                RequestOp::CancelAll,
                RequestOp::Auth,
                RequestOp::Query,
                RequestOp::Fills,
            ];
            let id = ClientOrderId(seq);
            prop_assert_eq!(ClientOrderId::parse(id.render().as_bytes()), Some(id));
            let tag = RequestTag { op: ops[op], client_id: id, attempt };
            prop_assert_eq!(RequestTag::parse(tag.render().as_bytes()), Some(tag));
        }
    }
}
