//! `[database]`: which database holds the tickets and how patiently we wait for it. Checks the URL's
//! form only; connecting is the store's job.

use std::path::PathBuf;

use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

use super::error::Problems;
use super::locate::KeyPath;
use super::mailbox::read_ca_file;
use super::rules::check_positive;
use crate::store::pg_tls::PgUrl;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Database {
    pub url: String,
    /// Derived from the URL's scheme.
    pub backend: Backend,
    pub max_connections: u32,
    pub busy_timeout_ms: u64,
    /// PostgreSQL: `ca_file` (or the URL's `sslrootcert`), trusted instead of the public roots.
    pub ca_file: Option<PathBuf>,
    #[serde(skip)]
    pub ca_roots: Vec<CertificateDer<'static>>,
}

#[derive(Debug, Deserialize)]
#[serde(default, expecting = "a [database] table")]
pub(super) struct RawDatabase {
    /// `sqlite:PATH` (relative to the working directory), `postgres://...` or
    /// `postgresql://...`. Default: `"sqlite://mailgate.db"`.
    pub url: String,
    /// Connection pool size. Default: `8`.
    pub max_connections: u32,
    /// How long a SQLite writer waits for the lock before `pipe` gives up with exit 75 (the MTA
    /// retries); 0 = give up at once. Default: `5000`.
    pub busy_timeout_ms: u64,
    /// PostgreSQL only: a PEM file of the CA(s) that signed the server's certificate, trusted
    /// instead of the public roots (the URL's `sslrootcert=FILE` does the same). TLS itself is
    /// chosen by the URL's `sslmode`: `disable`, `prefer` (the default), `require`, `verify-ca`,
    /// `verify-full`. Default: none.
    pub ca_file: Option<PathBuf>,
}

impl Default for RawDatabase {
    fn default() -> Self {
        Self {
            url: "sqlite://mailgate.db".to_string(),
            max_connections: 8,
            busy_timeout_ms: 5000,
            ca_file: None,
        }
    }
}

const ACCEPTED_URLS: &str =
    "use sqlite://PATH (relative to the working directory), postgres://... or postgresql://...";

pub(super) fn validate_database(raw: &RawDatabase, problems: &mut Problems<'_, '_>) -> Database {
    let path = KeyPath::top("database");
    let url = raw.url.trim();
    let backend = if let Some(file) = url.strip_prefix("sqlite:") {
        if file.trim_start_matches('/').is_empty() {
            problems.report(&path.key("url"), format!("names no database file; {ACCEPTED_URLS}"));
        }
        Backend::Sqlite
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Backend::Postgres
    } else {
        // Only the scheme is echoed: the rest of a URL may hold a password.
        let message = match url.split_once(':') {
            Some((scheme, _)) if !scheme.is_empty() && !scheme.contains('/') => {
                format!("unsupported scheme {:?}; {ACCEPTED_URLS}", format!("{scheme}:"))
            }
            _ => format!("is not a database URL; {ACCEPTED_URLS}"),
        };
        problems.report(&path.key("url"), message);
        Backend::Sqlite
    };
    check_positive(raw.max_connections.into(), &path.key("max_connections"), problems);
    let ca_file = match backend {
        Backend::Postgres => postgres_ca_file(url, raw, &path, problems),
        Backend::Sqlite => {
            if raw.ca_file.is_some() {
                problems.report(&path.key("ca_file"), "is for PostgreSQL's TLS; SQLite has no connection");
            }
            None
        }
    };
    let ca_roots = match &ca_file {
        Some(file) => read_ca_file(file, &path.key("ca_file"), problems),
        None => Vec::new(),
    };
    Database {
        url: url.to_string(),
        backend,
        max_connections: raw.max_connections,
        busy_timeout_ms: raw.busy_timeout_ms,
        ca_file,
        ca_roots,
    }
}

/// The CA file of a PostgreSQL URL: `ca_file` or the URL's `sslrootcert`, not both; the URL's
/// `sslmode` must be one libpq knows.
fn postgres_ca_file(
    url: &str,
    raw: &RawDatabase,
    path: &KeyPath,
    problems: &mut Problems<'_, '_>,
) -> Option<PathBuf> {
    let parsed = match PgUrl::parse(url) {
        Ok(parsed) => parsed,
        Err(error) => {
            problems.report(&path.key("url"), error);
            return raw.ca_file.clone();
        }
    };
    match (&raw.ca_file, parsed.root_cert) {
        (Some(_), Some(_)) => {
            problems.report(&path.key("ca_file"), "the URL's sslrootcert names a CA file too; keep one");
            raw.ca_file.clone()
        }
        (Some(file), None) => Some(file.clone()),
        (None, root_cert) => root_cert.map(PathBuf::from),
    }
}
