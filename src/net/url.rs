//! `ws://`, `wss://`, `http://` and `https://` URLs split into what a
//! connection needs. No percent-decoding, no user-info: endpoints are
//! configuration, not user input from the network.

use std::fmt;

/// A parsed endpoint URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// TLS (`wss`, `https`) or plain TCP.
    pub tls: bool,
    /// WebSocket (`ws`, `wss`) or HTTP.
    pub websocket: bool,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (the scheme's default when absent).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

/// Why a URL was refused.
///
/// # Errors
/// Returned by [`Url::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not ws://, wss://, http:// or https://.
    #[error("URL scheme must be ws, wss, http or https")]
    Scheme,
    /// No host.
    #[error("URL has no host")]
    NoHost,
    /// The port is not a number in 1..=65535.
    #[error("URL port is not a valid port number")]
    Port,
}

impl Url {
    /// Parses `scheme://host[:port][/path][?query]`.
    ///
    /// # Errors
    /// [`UrlError`].
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let (scheme, rest) = url.split_once("://").ok_or(UrlError::Scheme)?;
        let (tls, websocket) = match scheme.to_ascii_lowercase().as_str() {
            "ws" => (false, true),
            "wss" => (true, true),
            "http" => (false, false),
            "https" => (true, false),
            _ => return Err(UrlError::Scheme),
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let path = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or(UrlError::NoHost)?;
            (h, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(UrlError::NoHost);
        }
        let port = match port {
            Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0).ok_or(UrlError::Port)?,
            None if tls => 443,
            None => 80,
        };
        Ok(Self { tls, websocket, host: host.to_owned(), port, path })
    }

    /// The `Host` header value: the host, with `:port` when not the
    /// scheme's default.
    #[must_use]
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if (self.tls && self.port == 443) || (!self.tls && self.port == 80) {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// This URL with `suffix` appended to its path (a base URL plus a
    /// route: `wss://fstream.binance.com` + `/public/stream`).
    #[must_use]
    pub fn join(&self, suffix: &str) -> Self {
        let base = self.path.trim_end_matches('/');
        Self { path: format!("{base}{suffix}"), ..self.clone() }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match (self.websocket, self.tls) {
            (true, true) => "wss",
            (true, false) => "ws",
            (false, true) => "https",
            (false, false) => "http",
        };
        write!(f, "{scheme}://{}{}", self.host_header(), self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_venues_and_tests_use() {
        let u = Url::parse("wss://fstream.binance.com").unwrap();
        assert_eq!(
            (u.tls, u.websocket, u.host.as_str(), u.port, u.path.as_str()),
            (true, true, "fstream.binance.com", 443, "/")
        );
        assert_eq!(u.join("/public/stream").to_string(), "wss://fstream.binance.com/public/stream");
        let u = Url::parse("ws://127.0.0.1:9001/v5/public/linear?x=1").unwrap();
        assert_eq!(
            (u.tls, u.port, u.path.as_str(), u.host_header()),
            (false, 9001, "/v5/public/linear?x=1", "127.0.0.1:9001".to_owned())
        );
        let u = Url::parse("https://[::1]:8443").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.host_header()), ("::1", 8443, "[::1]:8443".to_owned()));
        assert_eq!(Url::parse("ftp://x"), Err(UrlError::Scheme));
        assert_eq!(Url::parse("wss://:443"), Err(UrlError::NoHost));
        assert_eq!(Url::parse("wss://h:0"), Err(UrlError::Port));
        assert_eq!(Url::parse("wss://h:99999"), Err(UrlError::Port));
    }
}
