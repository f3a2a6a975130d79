//! The trust anchors our TLS clients (IMAP, PostgreSQL) start from.

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;

/// `extra` (a configured CA file's certificates), plus the built-in web roots and the system's
/// when `with_public_roots`. Reading the system's roots reads files: build this once per client.
pub fn root_store(extra: &[CertificateDer<'static>], with_public_roots: bool) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    if with_public_roots {
        roots.roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    }
    roots.add_parsable_certificates(extra.iter().cloned());
    roots
}
