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
//! - An [`Ed25519Key`] (RFC 8032, via `ring`) is loaded once from PKCS#8
//!   (PEM or DER); signing needs no allocation and its signature is the
//!   standard base64 text Binance expects (88 characters).

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

/// An Ed25519 private key (RFC 8032), for Binance Ed25519 API keys.
/// Cloning shares the one key pair.
#[derive(Clone)]
pub struct Ed25519Key {
    pair: std::sync::Arc<ring::signature::Ed25519KeyPair>,
}

impl fmt::Debug for Ed25519Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ed25519Key(<redacted>)")
    }
}

/// The text was not an Ed25519 PKCS#8 private key.
///
/// # Errors
/// Returned by [`Ed25519Key::from_pkcs8_pem`] and [`Ed25519Key::from_pkcs8_der`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "not an Ed25519 PKCS#8 private key (expected a PEM \"PRIVATE KEY\" block, e.g. from `openssl genpkey -algorithm ed25519`)"
)]
pub struct BadEd25519Key;

/// A base64 Ed25519 signature (64 bytes → 88 characters).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Base64Signature([u8; 88]);

impl Base64Signature {
    /// The 88 base64 characters (standard alphabet, padded).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 88] {
        &self.0
    }

    /// As text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Base64 output is ASCII.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Debug for Base64Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Ed25519Key {
    /// From a PKCS#8 DER document (v1 as OpenSSL writes it, or v2).
    ///
    /// # Errors
    /// [`BadEd25519Key`].
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, BadEd25519Key> {
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| BadEd25519Key)?;
        Ok(Self { pair: std::sync::Arc::new(pair) })
    }

    /// From PEM text holding a `PRIVATE KEY` block.
    ///
    /// # Errors
    /// [`BadEd25519Key`].
    pub fn from_pkcs8_pem(pem: &[u8]) -> Result<Self, BadEd25519Key> {
        use rustls_pki_types::PrivatePkcs8KeyDer;
        use rustls_pki_types::pem::PemObject as _;
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem).map_err(|_| BadEd25519Key)?;
        Self::from_pkcs8_der(der.secret_pkcs8_der())
    }

    /// From the 32-byte RFC 8032 seed.
    ///
    /// # Errors
    /// [`BadEd25519Key`] (never for 32 bytes).
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, BadEd25519Key> {
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| BadEd25519Key)?;
        Ok(Self { pair: std::sync::Arc::new(pair) })
    }

    /// The 32-byte public key (what is registered with the venue).
    #[must_use]
    pub fn public_key(&self) -> [u8; 32] {
        use ring::signature::KeyPair as _;
        let mut out = [0u8; 32];
        out.copy_from_slice(self.pair.public_key().as_ref());
        out
    }

    /// Signs `msg`; the raw 64-byte signature.
    #[must_use]
    pub fn sign_raw(&self, msg: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.pair.sign(msg).as_ref());
        out
    }

    /// Signs `msg`; the signature in standard base64.
    #[must_use]
    pub fn sign_base64(&self, msg: &[u8]) -> Base64Signature {
        use base64::Engine as _;
        let mut out = [0u8; 88];
        let n = base64::engine::general_purpose::STANDARD.encode_slice(self.sign_raw(msg), &mut out).unwrap_or(0);
        debug_assert_eq!(n, 88);
        Base64Signature(out)
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

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// PKCS#8 v1 document of an Ed25519 seed (RFC 8410 §7), as OpenSSL writes it.
    fn pkcs8_v1(seed: &[u8]) -> Vec<u8> {
        let mut der =
            vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
        der.extend_from_slice(seed);
        der
    }

    /// RFC 8032 §7.1 TEST 1 (empty message) and TEST 2 (one byte), loaded
    /// through PKCS#8 DER and PEM.
    #[test]
    fn rfc8032_vectors_through_pkcs8() {
        use base64::Engine as _;
        let cases = [
            (
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
            (
                "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
                "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
            ),
        ];
        for (seed, public, msg, sig) in cases {
            let der = pkcs8_v1(&hex(seed));
            let pem = format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                base64::engine::general_purpose::STANDARD.encode(&der)
            );
            for key in [Ed25519Key::from_pkcs8_der(&der).unwrap(), Ed25519Key::from_pkcs8_pem(pem.as_bytes()).unwrap()]
            {
                assert_eq!(key.public_key().to_vec(), hex(public));
                assert_eq!(key.sign_raw(&hex(msg)).to_vec(), hex(sig));
                assert_eq!(
                    key.sign_base64(&hex(msg)).as_str(),
                    base64::engine::general_purpose::STANDARD.encode(hex(sig))
                );
            }
            let seed: [u8; 32] = hex(seed).try_into().unwrap();
            assert_eq!(Ed25519Key::from_seed(&seed).unwrap().sign_raw(&hex(msg)).to_vec(), hex(sig));
        }
        assert_eq!(
            Ed25519Key::from_pkcs8_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").err(),
            Some(BadEd25519Key)
        );
        assert_eq!(Ed25519Key::from_pkcs8_der(b"nope").err(), Some(BadEd25519Key));
        assert_eq!(format!("{:?}", Ed25519Key::from_seed(&[7; 32]).unwrap()), "Ed25519Key(<redacted>)");
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
