//! API credentials: the key id sent in clear and the HMAC-SHA256 secret,
//! keyed once at start-up.
//!
//! Both venues sign with HMAC-SHA256 and send the MAC as lower-case hex:
//! - Binance USDⓈ-M, "SIGNED (TRADE and USER_DATA) Endpoint security"
//!   (<https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info>)
//! - Bybit v5, "Integration Guidance" / authentication
//!   (<https://bybit-exchange.github.io/docs/v5/guide>)
//!
//! # Invariants
//! - The secret is consumed by [`HmacSha256Key::new`] and only the keyed
//!   HMAC state (the inner and outer padded-key hash states) is kept. Every
//!   signature clones that state, so no per-order key schedule is computed
//!   and nothing is allocated.
//! - `Debug` of every type here redacts: neither the secret nor the API key
//!   can reach a log through `{:?}`.
//! - An [`ApiKey`] holds only `[A-Za-z0-9_-]`, so it can be written into a
//!   header, a query string or a JSON string without escaping.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// A lower-case hex HMAC-SHA256 signature in a fixed array.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HexSignature([u8; 64]);

impl HexSignature {
    /// The 64 hex characters.
    #[inline]
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    /// The 64 hex characters as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    fn from_mac(mac: &[u8]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (i, byte) in mac.iter().take(32).enumerate() {
            out[2 * i] = HEX[usize::from(byte >> 4)];
            out[2 * i + 1] = HEX[usize::from(byte & 0x0f)];
        }
        Self(out)
    }
}

impl fmt::Debug for HexSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexSignature({})", self.as_str())
    }
}

/// An HMAC-SHA256 key, keyed once; cloned per signature.
#[derive(Clone)]
pub struct HmacSha256Key {
    keyed: Hmac<Sha256>,
}

/// The secret was empty.
///
/// # Errors
/// Returned by [`HmacSha256Key::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("empty API secret")]
pub struct EmptySecret;

impl HmacSha256Key {
    /// Keys HMAC-SHA256 with `secret` (the venue's API secret text as
    /// bytes). The caller should drop or wipe its copy of the secret after.
    ///
    /// # Errors
    /// [`EmptySecret`] when `secret` is empty.
    pub fn new(secret: &[u8]) -> Result<Self, EmptySecret> {
        if secret.is_empty() {
            return Err(EmptySecret);
        }
        // HMAC accepts keys of any length (longer ones are hashed first).
        let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).map_err(|_| EmptySecret)?;
        Ok(Self { keyed })
    }

    /// A fresh signing state (a clone of the keyed state) to stream the
    /// message into.
    #[inline]
    #[must_use]
    pub fn start(&self) -> SigningState {
        SigningState { mac: self.keyed.clone() }
    }

    /// Hex HMAC of the concatenation of `parts`.
    #[inline]
    #[must_use]
    pub fn sign(&self, parts: &[&[u8]]) -> HexSignature {
        let mut state = self.start();
        for part in parts {
            state.update(part);
        }
        state.finish()
    }
}

impl fmt::Debug for HmacSha256Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacSha256Key(<redacted>)")
    }
}

/// An HMAC computation in progress.
pub struct SigningState {
    mac: Hmac<Sha256>,
}

impl SigningState {
    /// Feeds more message bytes.
    #[inline]
    pub fn update(&mut self, bytes: &[u8]) {
        self.mac.update(bytes);
    }

    /// The hex MAC of everything fed.
    #[inline]
    #[must_use]
    pub fn finish(self) -> HexSignature {
        HexSignature::from_mac(&self.mac.finalize().into_bytes())
    }
}

impl fmt::Debug for SigningState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningState(<redacted>)")
    }
}

/// The API key id, stored inline (up to 128 bytes of `[A-Za-z0-9_-]`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ApiKey {
    bytes: [u8; 128],
    len: u8,
}

/// The API key text is empty, longer than 128 bytes, or holds a byte other
/// than `[A-Za-z0-9_-]`.
///
/// # Errors
/// Returned by [`ApiKey::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid API key (1 to 128 bytes of A-Z a-z 0-9 _ -)")]
pub struct BadApiKey;

impl ApiKey {
    /// Maximum length in bytes.
    pub const MAX_LEN: usize = 128;

    /// A key from its text.
    ///
    /// # Errors
    /// [`BadApiKey`] as documented on that type.
    pub fn new(text: &[u8]) -> Result<Self, BadApiKey> {
        let valid = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-';
        if text.is_empty() || text.len() > Self::MAX_LEN || !text.iter().all(valid) {
            return Err(BadApiKey);
        }
        let mut bytes = [0u8; 128];
        bytes[..text.len()].copy_from_slice(text);
        Ok(Self { bytes, len: text.len() as u8 })
    }

    /// The key text.
    #[inline]
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey(<redacted, {} bytes>)", self.len)
    }
}

/// A venue account's credentials: key id and keyed secret.
#[derive(Clone)]
pub struct Credentials {
    /// Sent in clear (header, query or JSON) with every signed request.
    pub api_key: ApiKey,
    /// The keyed HMAC state.
    pub secret: HmacSha256Key,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("api_key", &self.api_key).field("secret", &self.secret).finish()
    }
}

/// Why credentials could not be built.
///
/// # Errors
/// Returned by [`Credentials::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// See [`BadApiKey`].
    #[error(transparent)]
    ApiKey(#[from] BadApiKey),
    /// See [`EmptySecret`].
    #[error(transparent)]
    Secret(#[from] EmptySecret),
}

impl Credentials {
    /// Credentials from the key text and the secret text.
    ///
    /// # Errors
    /// [`CredentialsError`] naming which part is bad (never echoing it).
    pub fn new(api_key: &[u8], secret: &[u8]) -> Result<Self, CredentialsError> {
        Ok(Self { api_key: ApiKey::new(api_key)?, secret: HmacSha256Key::new(secret)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 (key "Jefe").
    #[test]
    fn rfc4231_case_2() {
        let key = HmacSha256Key::new(b"Jefe").unwrap();
        let sig = key.sign(&[b"what do ya want ", b"for nothing?"]);
        assert_eq!(sig.as_str(), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    /// RFC 4231 test case 6: a key longer than the block size is hashed first.
    #[test]
    fn rfc4231_case_6_long_key() {
        let key = HmacSha256Key::new(&[0xaa; 131]).unwrap();
        let sig = key.sign(&[b"Test Using Larger Than Block-Size Key - Hash Key First"]);
        assert_eq!(sig.as_str(), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    #[test]
    fn keyed_state_is_reused_not_consumed() {
        let key = HmacSha256Key::new(b"secret").unwrap();
        let a = key.sign(&[b"message"]);
        let b = key.sign(&[b"mess", b"age"]);
        assert_eq!(a, b);
        assert_ne!(a, key.sign(&[b"message2"]));
    }

    #[test]
    fn debug_redacts_secrets_and_keys() {
        let creds = Credentials::new(b"MyApiKeyText123", b"TopSecretValue").unwrap();
        let text = format!("{creds:?}");
        assert!(!text.contains("MyApiKeyText123"), "{text}");
        assert!(!text.contains("TopSecretValue"), "{text}");
        assert!(text.contains("redacted"));
    }

    #[test]
    fn refuses_bad_keys() {
        assert_eq!(ApiKey::new(b""), Err(BadApiKey));
        assert_eq!(ApiKey::new(b"has space"), Err(BadApiKey));
        assert_eq!(ApiKey::new(b"quote\""), Err(BadApiKey));
        assert_eq!(ApiKey::new(&[b'a'; 129]), Err(BadApiKey));
        assert!(ApiKey::new(&[b'a'; 128]).is_ok());
        assert_eq!(HmacSha256Key::new(b"").err(), Some(EmptySecret));
    }
}
