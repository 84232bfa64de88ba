//! rustls server configuration from a PEM certificate chain and private key, optionally requiring
//! client certificates signed by a given CA (MLLP mutual TLS).

use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read certificate chain {path}: {reason}")]
    Cert { path: String, reason: String },
    #[error("cannot read private key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("cannot use client CA file {path}: {reason}")]
    ClientCa { path: String, reason: String },
    #[error("invalid TLS configuration: {0}")]
    Config(String),
}

/// The MLLP acceptor; with `client_ca`, peers without a certificate signed by it fail the handshake.
pub fn acceptor(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let config = match client_ca {
        None => server_config(cert, key)?,
        Some(ca) => build(cert, key, Some(client_verifier(ca)?))?,
    };
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// TLS 1.2 and 1.3 only (rustls' safe defaults), ring provider, no client certificates. Also used
/// for HTTPS.
pub fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    build(cert, key, None)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no certificate in the file".into());
    }
    Ok(certs)
}

fn client_verifier(
    ca: &Path,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let err = |reason: String| TlsError::ClientCa {
        path: ca.display().to_string(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    for c in read_certs(ca).map_err(err)? {
        roots.add(c).map_err(|e| err(e.to_string()))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| err(e.to_string()))
}

fn build(
    cert: &Path,
    key: &Path,
    verifier: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
) -> Result<ServerConfig, TlsError> {
    let certs = read_certs(cert).map_err(|reason| TlsError::Cert {
        path: cert.display().to_string(),
        reason,
    })?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        reason: e.to_string(),
    })?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    builder
        .with_single_cert(certs, key_der)
        .map_err(|e| TlsError::Config(e.to_string()))
}
