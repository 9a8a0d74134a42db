//! Request plumbing both venues share: URL-encoded parameters, signature
//! checks (HMAC-SHA256 hex, Ed25519 base64), fixed rate-limit windows.
//!
//! Sources: Binance "SIGNED endpoint security" (HMAC over the query string
//! followed by the body; Ed25519 signatures base64, URL-encoded in REST)
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info>;
//! Bybit v5 authentication
//! <https://bybit-exchange.github.io/docs/v5/guide#authentication>.

use base64::Engine as _;

use crate::venue::credentials::HmacSha256Key;

/// Decodes `%XX` escapes and `+` (form encoding) in `text`; `None` for a
/// malformed escape or invalid UTF-8.
#[must_use]
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                out.push(v);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `name=value` pairs of a query string or form body, decoded, in order.
/// A pair that cannot be decoded is kept with an empty value so that a
/// required-parameter check reports it.
#[must_use]
pub fn parse_params(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k).unwrap_or_default(), percent_decode(v).unwrap_or_default())
        })
        .collect()
}

/// Removes the `signature=…` pair from a raw query string or body;
/// returns the text without it and the signature (still URL-encoded).
#[must_use]
pub fn strip_signature(raw: &str) -> (String, Option<String>) {
    let mut kept: Vec<&str> = Vec::new();
    let mut sig = None;
    for pair in raw.split('&') {
        match pair.strip_prefix("signature=") {
            Some(s) if sig.is_none() => sig = Some(s.to_owned()),
            _ => kept.push(pair),
        }
    }
    (kept.join("&"), sig)
}

/// Constant-time comparison of two byte strings.
#[must_use]
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `true` when `signature` (hex, either case) is the HMAC-SHA256 of the
/// concatenated `parts` under `key`.
#[must_use]
pub fn hmac_ok(key: &HmacSha256Key, parts: &[&[u8]], signature: &str) -> bool {
    let expected = key.sign(parts);
    ct_eq(expected.as_bytes(), signature.to_ascii_lowercase().as_bytes())
}

/// `true` when `signature_b64` (standard base64) is a valid Ed25519
/// signature of `payload` by `key`.
#[must_use]
pub fn ed25519_ok(key: &ed25519_dalek::VerifyingKey, payload: &[u8], signature_b64: &str) -> bool {
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(signature_b64.trim()) else { return false };
    let Ok(bytes) = <[u8; 64]>::try_from(raw.as_slice()) else { return false };
    let sig = ed25519_dalek::Signature::from_bytes(&bytes);
    key.verify_strict(payload, &sig).is_ok()
}

/// A fixed rate-limit window (counts reset at multiples of its length, as
/// the venues' interval limits do).
#[derive(Debug, Clone, Copy)]
pub struct FixedWindow {
    len_ms: i64,
    start_ms: i64,
    count: u32,
}

impl FixedWindow {
    /// A window of `len_ms`.
    #[must_use]
    pub fn new(len_ms: i64) -> Self {
        Self { len_ms: len_ms.max(1), start_ms: 0, count: 0 }
    }

    fn roll(&mut self, now_ms: i64) {
        let start = now_ms - now_ms.rem_euclid(self.len_ms);
        if start != self.start_ms {
            self.start_ms = start;
            self.count = 0;
        }
    }

    /// Adds `n` at `now_ms`; returns the count in the window after it.
    pub fn hit(&mut self, now_ms: i64, n: u32) -> u32 {
        self.roll(now_ms);
        self.count = self.count.saturating_add(n);
        self.count
    }

    /// The count in the window at `now_ms`.
    pub fn count(&mut self, now_ms: i64) -> u32 {
        self.roll(now_ms);
        self.count
    }

    /// When the current window ends, ms.
    #[must_use]
    pub fn reset_ms(&self) -> i64 {
        self.start_ms + self.len_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_and_signature_stripping() {
        assert_eq!(percent_decode("a%20b+c"), Some("a b c".into()));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(
            parse_params("symbol=BTCUSDT&newClientOrderId=x%3Ay&flag"),
            [
                ("symbol".into(), "BTCUSDT".into()),
                ("newClientOrderId".into(), "x:y".into()),
                ("flag".into(), String::new())
            ]
        );
        let (rest, sig) = strip_signature("a=1&b=2&signature=abc");
        assert_eq!((rest.as_str(), sig.as_deref()), ("a=1&b=2", Some("abc")));
        let (rest, sig) = strip_signature("signature=abc&a=1");
        assert_eq!((rest.as_str(), sig.as_deref()), ("a=1", Some("abc")));
        assert_eq!(strip_signature("a=1").1, None);
    }

    /// The Binance documentation's HMAC example, checked as the server does.
    #[test]
    fn hmac_check_accepts_the_documented_example() {
        let key = HmacSha256Key::new(b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j").unwrap();
        let query = b"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC";
        let body = b"quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        assert!(hmac_ok(&key, &[query, body], "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"));
        assert!(hmac_ok(&key, &[query, body], "0FD168B8DDB4876A0358A8D14D0C9F3DA0E9B20C5D52B2A00FCF7D1C602F9A77"));
        assert!(!hmac_ok(&key, &[query], "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"));
    }

    #[test]
    fn ed25519_check() {
        use ed25519_dalek::Signer;
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let sig = base64::engine::general_purpose::STANDARD.encode(sk.sign(b"apiKey=k&timestamp=1").to_bytes());
        assert!(ed25519_ok(&sk.verifying_key(), b"apiKey=k&timestamp=1", &sig));
        assert!(!ed25519_ok(&sk.verifying_key(), b"apiKey=k&timestamp=2", &sig));
        assert!(!ed25519_ok(&sk.verifying_key(), b"x", "not base64"));
    }

    #[test]
    fn windows_reset_at_boundaries() {
        let mut w = FixedWindow::new(60_000);
        assert_eq!(w.hit(120_500, 5), 5);
        assert_eq!(w.hit(179_999, 1), 6);
        assert_eq!(w.reset_ms(), 180_000);
        assert_eq!(w.hit(180_000, 1), 1);
    }
}
