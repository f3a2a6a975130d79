//! How we reach PostgreSQL: the URL's libpq `sslmode` (`disable`, `prefer`, `require`, `verify-ca`,
//! `verify-full`) and CA over rustls (ring), for the pool and the IMAP lease connection alike.
//! tokio-postgres itself knows only disable/prefer/require and checks no certificate, so the URL's
//! `sslmode` and `sslrootcert` are read here and the certificate checks are ours; everything else
//! in the URL is tokio-postgres's.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::SslMode as WireMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`, with its meaning: whether TLS is required, and what of the server's
/// certificate is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, else plain; no certificate check (libpq's default).
    Prefer,
    /// TLS or nothing; the certificate is checked against the CA only when a CA file is given
    /// (as libpq does when `root.crt` exists).
    Require,
    /// TLS, and a certificate chain to a trusted CA; the host name is not compared.
    VerifyCa,
    /// TLS, a trusted chain, and a certificate for the host name we connected to.
    VerifyFull,
}

impl SslMode {
    pub const NAMES: &'static str = "disable, prefer, require, verify-ca or verify-full";

    pub fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            "prefer" | "allow" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// A PostgreSQL URL split into what tokio-postgres reads and what we read.
#[derive(Clone, Debug)]
pub struct PgUrl {
    /// The URL without `sslmode` and `sslrootcert`.
    pub rest: String,
    pub mode: SslMode,
    /// `sslrootcert=FILE`, if the URL names one.
    pub root_cert: Option<String>,
}

impl PgUrl {
    /// Splits `url`; an unknown `sslmode` is an error naming the accepted ones.
    pub fn parse(url: &str) -> Result<PgUrl, String> {
        let Some((base, query)) = url.split_once('?') else {
            return Ok(PgUrl { rest: url.to_string(), mode: SslMode::Prefer, root_cert: None });
        };
        let (mut mode, mut root_cert) = (SslMode::Prefer, None);
        let mut kept = form_urlencoded::Serializer::new(String::new());
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "sslmode" => {
                    mode = SslMode::parse(&value)
                        .ok_or_else(|| format!("sslmode={value} is not one of {}", SslMode::NAMES))?;
                }
                "sslrootcert" => root_cert = Some(value.into_owned()),
                _ => {
                    kept.append_pair(&key, &value);
                }
            }
        }
        let kept = kept.finish();
        let rest = if kept.is_empty() { base.to_string() } else { format!("{base}?{kept}") };
        Ok(PgUrl { rest, mode, root_cert })
    }
}

/// Everything needed to open a connection: tokio-postgres's config and our TLS connector.
#[derive(Clone)]
pub struct PgTarget {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustlsConnect,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // tokio_postgres::Config's Debug redacts the password.
        f.debug_struct("PgTarget").field("config", &self.config).finish_non_exhaustive()
    }
}

impl PgTarget {
    /// The connection settings of `url`, trusting `ca_roots` (the configured CA file's
    /// certificates) or, when there are none, the system's and the built-in web roots.
    pub fn new(url: &str, ca_roots: &[CertificateDer<'static>]) -> Result<PgTarget, String> {
        let url = PgUrl::parse(url)?;
        let mut config: tokio_postgres::Config = url.rest.parse().map_err(|e| format!("{e}"))?;
        config.ssl_mode(match url.mode {
            SslMode::Disable => WireMode::Disable,
            SslMode::Prefer => WireMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => WireMode::Require,
        });
        let from_url;
        let ca_roots = match (&url.root_cert, ca_roots.is_empty()) {
            (Some(file), true) => {
                from_url = read_pem_certificates(file)?;
                &from_url[..]
            }
            _ => ca_roots,
        };
        let tls = MakeRustlsConnect::new(client_config(url.mode, ca_roots));
        Ok(PgTarget { config, tls })
    }
}

/// The certificates of the URL's `sslrootcert` (the config checks the same file earlier, with
/// its key and line; this is for a store opened from a bare URL).
fn read_pem_certificates(file: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_file_iter(file)
        .and_then(|found| found.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("sslrootcert {file}: {e}"))
}

fn client_config(mode: SslMode, ca_roots: &[CertificateDer<'static>]) -> ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let checked = match mode {
        SslMode::Disable | SslMode::Prefer => false,
        SslMode::Require => !ca_roots.is_empty(),
        SslMode::VerifyCa | SslMode::VerifyFull => true,
    };
    let chain = checked.then(|| {
        let roots = Arc::new(crate::tls::root_store(ca_roots, ca_roots.is_empty()));
        WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .expect("the root store holds at least the built-in roots or the CA file's")
    });
    let verifier: Arc<dyn ServerCertVerifier> = match chain {
        Some(webpki) if mode == SslMode::VerifyFull => webpki,
        chain => Arc::new(Lenient { chain, algorithms: provider.signature_verification_algorithms }),
    };
    builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth()
}

/// The modes short of `verify-full`: with `chain` (verify-ca, or require with a CA file) the
/// chain must lead to a trusted CA but the name is not compared (webpki checks the chain first,
/// so a name error means the chain was good); without it (prefer, require) nothing is checked,
/// as in libpq: encryption against a passive listener only. The handshake's signatures are
/// verified either way (they prove the server holds the certificate's key).
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_root_cert_are_ours_the_rest_is_tokio_postgres() {
        let url = PgUrl::parse(
            "postgres://u:p@db.example/mg?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem",
        )
        .unwrap();
        assert_eq!(url.mode, SslMode::VerifyFull);
        assert_eq!(url.root_cert.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(url.rest, "postgres://u:p@db.example/mg?application_name=x");
        let plain = PgUrl::parse("postgres://u@h/mg").unwrap();
        assert_eq!((plain.mode, plain.rest.as_str()), (SslMode::Prefer, "postgres://u@h/mg"));
        assert_eq!(PgUrl::parse("postgres://u@h/mg?sslmode=disable").unwrap().rest, "postgres://u@h/mg");
        let error = PgUrl::parse("postgres://u@h/mg?sslmode=verify").unwrap_err();
        assert!(error.contains("sslmode=verify is not one of disable"), "{error}");
    }

    #[test]
    fn every_mode_builds_a_connector() {
        let wire = [
            ("disable", WireMode::Disable),
            ("prefer", WireMode::Prefer),
            ("require", WireMode::Require),
            ("verify-ca", WireMode::Require),
            ("verify-full", WireMode::Require),
        ];
        for (mode, expected) in wire {
            let target = PgTarget::new(&format!("postgres://u@127.0.0.1/mg?sslmode={mode}"), &[]).unwrap();
            assert_eq!(target.config.get_ssl_mode(), expected, "{mode}");
        }
    }
}
