//! What the order encoders produce: signed REST requests as views into the
//! caller's buffer, and the errors they can return.
//!
//! A [`RestRequest`] borrows everything it holds (query, header values,
//! body) from the caller's preallocated buffer or from the credentials, so
//! the network layer can write it to a socket with vectored I/O and nothing
//! is copied or allocated per order. WebSocket requests are simply the
//! frame's text: one `&[u8]` into the caller's buffer.

use std::fmt;

use crate::order::OrderRequest;
use crate::order::prepare::OrderCheckError;
use crate::venue::wire_writer::BufferTooSmall;

/// A signed order as sent: the order after rounding, and the request.
#[derive(Debug, Clone, Copy)]
pub struct SignedOrder<T> {
    /// The order exactly as encoded (rounded price and quantity).
    pub order: OrderRequest,
    /// The request: a [`RestRequest`] or WebSocket text.
    pub request: T,
}

/// HTTP method of a REST request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
}

impl From<OrderCheckError> for EncodeError {
    fn from(e: OrderCheckError) -> Self {
        // Not a `source`: the message already includes the check's text.
        EncodeError::Check(e)
    }
}

impl HttpMethod {
    /// The method token.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// One request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// Header name.
    pub name: &'static str,
    /// Header value bytes.
    pub value: &'a [u8],
}

/// Most headers any encoder sets.
pub const MAX_HEADERS: usize = 6;

/// A signed REST request, borrowing the caller's buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RestRequest<'a> {
    /// Method.
    pub method: HttpMethod,
    /// Path without the query (`/fapi/v1/order`).
    pub path: &'static str,
    /// Query string without the `?` (empty when none).
    pub query: &'a [u8],
    headers: [Header<'a>; MAX_HEADERS],
    header_count: u8,
    /// Body (empty when none).
    pub body: &'a [u8],
}

impl<'a> RestRequest<'a> {
    /// A request from its parts; at most [`MAX_HEADERS`] headers (extra ones
    /// are a programming error caught by the encoders' tests, and dropped).
    #[must_use]
    pub fn new(
        method: HttpMethod,
        path: &'static str,
        query: &'a [u8],
        headers: &[Header<'a>],
        body: &'a [u8],
    ) -> Self {
        let mut fixed = [Header { name: "", value: b"" }; MAX_HEADERS];
        let count = headers.len().min(MAX_HEADERS);
        fixed[..count].copy_from_slice(&headers[..count]);
        Self { method, path, query, headers: fixed, header_count: count as u8, body }
    }

    /// The headers.
    #[must_use]
    pub fn headers(&self) -> &[Header<'a>] {
        &self.headers[..usize::from(self.header_count)]
    }

    /// The value of header `name` (case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers().iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value)
    }
}

impl fmt::Debug for RestRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values include the API key: show names only.
        let names: [&str; MAX_HEADERS] = std::array::from_fn(|i| self.headers.get(i).map_or("", |h| h.name));
        f.debug_struct("RestRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query_len", &self.query.len())
            .field("headers", &&names[..usize::from(self.header_count)])
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A receive window in milliseconds, 1..=60000 (Binance refuses more than
/// 60000; Bybit documents 5000 as the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvWindow(u32);

/// The receive window is zero or above 60000 ms.
///
/// # Errors
/// Returned by [`RecvWindow::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("recv window must be 1..=60000 ms")]
pub struct BadRecvWindow;

impl RecvWindow {
    /// 5000 ms, both venues' default.
    pub const DEFAULT: Self = Self(5000);

    /// A window of `ms` milliseconds.
    ///
    /// # Errors
    /// [`BadRecvWindow`] outside 1..=60000.
    pub const fn new(ms: u32) -> Result<Self, BadRecvWindow> {
        if ms == 0 || ms > 60_000 { Err(BadRecvWindow) } else { Ok(Self(ms)) }
    }

    /// Milliseconds.
    #[must_use]
    pub const fn ms(self) -> u32 {
        self.0
    }
}

/// Why an order could not be encoded.
///
/// # Errors
/// Returned by every encoder in `venue::binance::order` and
/// `venue::bybit::order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The order failed a pre-signing check; nothing was signed.
    #[error("order refused before signing: {0}")]
    Check(OrderCheckError),
    /// The caller's buffer is too small.
    #[error(transparent)]
    Buffer(#[from] BufferTooSmall),
    /// The order is for another venue than this encoder's.
    #[error("order is for another venue")]
    WrongVenue,
    /// A documented venue feature this crate does not implement.
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
}
