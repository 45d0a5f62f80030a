//! The hub's certificates. In: the host names and addresses agents will use. Out, at
//! `init`: a local CA (`tls/ca.pem`, handed to agents and pinned by them) and a server
//! certificate it signs (`tls/server.pem`), private keys owner-only; at `serve`: a
//! rustls server configuration (TLS 1.2 and 1.3, ring provider).

use crate::error::{HubError, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// File names inside `DIR/tls/`.
pub const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";
const SERVER_CERT: &str = "server.pem";
const SERVER_KEY: &str = "server.key";

/// Writes `contents` to `path`, readable by the owner only when `secret`.
fn write_file(path: &Path, contents: &str, secret: bool) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let _ = secret;
    let mut f = opts.open(path).map_err(|e| HubError::io(path, e))?;
    f.write_all(contents.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| HubError::io(path, e))
}

fn rc(e: rcgen::Error) -> HubError {
    HubError::Tls(e.to_string())
}

/// Creates the CA and the server certificate for `hosts` (names or IP addresses) in
/// `tls_dir`, which must not exist yet.
pub fn create(tls_dir: &Path, province_name: &str, hosts: &[String]) -> Result<()> {
    crate::private::dir(tls_dir)?;
    let ca_key = KeyPair::generate().map_err(rc)?;
    let mut ca = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("cchc hub CA — {province_name}"));
    dn.push(DnType::OrganizationName, "cchc");
    ca.distinguished_name = dn;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = rcgen::date_time_ymd(2025, 1, 1);
    ca.not_after = rcgen::date_time_ymd(2045, 1, 1);
    let ca_cert = ca.self_signed(&ca_key).map_err(rc)?;

    let server_key = KeyPair::generate().map_err(rc)?;
    let mut server = CertificateParams::new(Vec::<String>::new()).map_err(rc)?;
    for h in hosts {
        server
            .subject_alt_names
            .push(match h.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(h.clone().try_into().map_err(rc)?),
            });
    }
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("cchc hub — {province_name}"));
    server.distinguished_name = dn;
    server.not_before = rcgen::date_time_ymd(2025, 1, 1);
    server.not_after = rcgen::date_time_ymd(2045, 1, 1);
    let server_cert = server
        .signed_by(&server_key, &ca_cert, &ca_key)
        .map_err(rc)?;

    write_file(&tls_dir.join(CA_KEY), &ca_key.serialize_pem(), true)?;
    write_file(&tls_dir.join(CA_CERT), &ca_cert.pem(), false)?;
    write_file(&tls_dir.join(SERVER_KEY), &server_key.serialize_pem(), true)?;
    write_file(&tls_dir.join(SERVER_CERT), &server_cert.pem(), false)?;
    Ok(())
}

/// The rustls configuration for serving with the certificate made at `init`.
pub fn server_config(tls_dir: &Path) -> Result<Arc<rustls::ServerConfig>> {
    server_config_from(&tls_dir.join(SERVER_CERT), &tls_dir.join(SERVER_KEY))
}

/// The rustls configuration for serving with a certificate chain (PEM, the server's
/// certificate first) and its private key, e.g. from the province's own PKI. Refused
/// with the file named: unreadable, not PEM, no certificate, or a key that is not the
/// certificate's.
pub fn server_config_from(cert_path: &Path, key_path: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let certs = CertificateDer::pem_file_iter(cert_path)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| HubError::Tls(format!("{}: {e}", cert_path.display())))?;
    if certs.is_empty() {
        return Err(HubError::Tls(format!(
            "{}: no certificate in it (PEM, the server's certificate first)",
            cert_path.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| HubError::Tls(format!("{}: {e}", key_path.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| HubError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            HubError::Tls(format!(
                "{} with {}: {e} (is the key the certificate's own?)",
                cert_path.display(),
                key_path.display()
            ))
        })?;
    Ok(Arc::new(config))
}
