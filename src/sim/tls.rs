//! TLS for the simulator: a private certificate authority made at start
//! (rcgen, ECDSA P-256), a server certificate it signs for `localhost`,
//! `127.0.0.1`, `::1` and the listen address, and a rustls server
//! configuration (the `ring` provider, HTTP/1.1 only).
//!
//! The CA certificate is written as PEM to a file whose path the simulator
//! prints: clients pass it as `--ca-file` (ours), `verify=` (Python
//! requests / ccxt) or add it to their trust store. The CA's private key
//! never leaves the process; each run makes a new one.
//!
//! # Invariants
//! - The CA is marked as a CA (basic constraints, `keyCertSign`); the leaf
//!   carries `serverAuth` and an authority key identifier, which strict
//!   verifiers (Python ≥ 3.13's `VERIFY_X509_STRICT`) require.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Why TLS material could not be made or written.
///
/// # Errors
/// Returned by [`TlsMaterial::generate`] and [`TlsMaterial::write_ca`].
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// Writing the CA file failed.
    #[error("writing the CA certificate to {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

/// The `ring` crypto provider (the design's choice: it needs only a C
/// compiler). rustls 0.23.48 deprecates it for lacking post-quantum key
/// exchange, which a loopback test server does not need.
#[allow(deprecated)]
fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The CA and server certificate of one simulator run.
pub struct TlsMaterial {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// The CA certificate, DER.
    pub ca_der: CertificateDer<'static>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Vec<u8>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsMaterial(<redacted>)")
    }
}

impl TlsMaterial {
    /// A fresh CA and a server certificate valid for the loopback names and
    /// `extra_ip` (the listen address, when it is not loopback).
    ///
    /// # Errors
    /// [`TlsError::Rcgen`].
    pub fn generate(extra_ip: Option<IpAddr>) -> Result<Self, TlsError> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "scalpel sim CA (one run, do not trust elsewhere)");
        ca_params.distinguished_name = dn;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
        if let Some(ip) = extra_ip.filter(|ip| !ip.is_loopback() && !ip.is_unspecified()) {
            names.push(ip.to_string());
        }
        let mut leaf_params = CertificateParams::new(names)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "scalpel sim");
        leaf_params.distinguished_name = dn;
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf_params.use_authority_key_identifier_extension = true;
        let leaf_key = KeyPair::generate()?;
        let leaf_cert = leaf_params.signed_by(&leaf_key, &issuer)?;

        Ok(Self {
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().clone(),
            server_chain: vec![leaf_cert.der().clone(), ca_cert.der().clone()],
            server_key: leaf_key.serialize_der(),
        })
    }

    /// Writes the CA certificate (PEM) to `path`, creating its directory.
    ///
    /// # Errors
    /// [`TlsError::Write`].
    pub fn write_ca(&self, path: &Path) -> Result<(), TlsError> {
        let wrap = |source| TlsError::Write { path: path.to_owned(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(wrap)?;
        }
        std::fs::write(path, self.ca_pem.as_bytes()).map_err(wrap)
    }

    /// The rustls server configuration (ring provider, HTTP/1.1 via ALPN).
    ///
    /// # Errors
    /// [`TlsError::Rustls`].
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = ring_provider();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.server_chain.clone(), key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// A rustls client configuration trusting only this CA (for tests and
    /// in-process clients).
    ///
    /// # Errors
    /// [`TlsError::Rustls`].
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        client_config_for(&self.ca_der)
    }
}

/// A rustls client configuration trusting only `ca` (ring provider).
///
/// # Errors
/// [`TlsError::Rustls`] when `ca` is not a usable trust anchor.
pub fn client_config_for(ca: &CertificateDer<'static>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone())?;
    let provider = ring_provider();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_a_ca_that_verifies_the_server_certificate() {
        let tls = TlsMaterial::generate(None).unwrap();
        assert!(tls.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let server = tls.server_config().unwrap();
        let client = tls.client_config().unwrap();
        // A full in-memory handshake: the client accepts the chain for 127.0.0.1.
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let mut c = rustls::ClientConnection::new(client, name).unwrap();
        let mut s = rustls::ServerConnection::new(server).unwrap();
        for _ in 0..10 {
            let mut buf = Vec::new();
            c.write_tls(&mut buf).unwrap();
            s.read_tls(&mut &buf[..]).unwrap();
            s.process_new_packets().unwrap();
            let mut buf = Vec::new();
            s.write_tls(&mut buf).unwrap();
            c.read_tls(&mut &buf[..]).unwrap();
            c.process_new_packets().unwrap();
            if !c.is_handshaking() && !s.is_handshaking() {
                return;
            }
        }
        panic!("handshake did not complete");
    }

    #[test]
    fn another_ca_is_refused() {
        let tls = TlsMaterial::generate(None).unwrap();
        let other = TlsMaterial::generate(None).unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut c = rustls::ClientConnection::new(other.client_config().unwrap(), name).unwrap();
        let mut s = rustls::ServerConnection::new(tls.server_config().unwrap()).unwrap();
        let mut failed = false;
        for _ in 0..10 {
            let mut buf = Vec::new();
            c.write_tls(&mut buf).unwrap();
            if s.read_tls(&mut &buf[..]).is_err() || s.process_new_packets().is_err() {
                failed = true;
                break;
            }
            let mut buf = Vec::new();
            s.write_tls(&mut buf).unwrap();
            c.read_tls(&mut &buf[..]).unwrap();
            if c.process_new_packets().is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed, "a client trusting another CA must refuse the server");
    }
}
