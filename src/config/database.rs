//! `[database]`: which database holds the tickets and how patiently we wait for it. Validation
//! checks the URL's form only; connecting is the store's job. [`Database::unusable_reason`] looks
//! at the file system for a SQLite file that can never be opened (for `check-config`, and so that
//! `pipe` says 78 instead of asking the MTA to retry forever).

use std::io::Read;
use std::path::{Path, PathBuf};

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

/// The first bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

impl Database {
    /// The SQLite database file as the URL names it (relative paths are relative to the working
    /// directory); `None` for PostgreSQL.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        let rest = self.url.strip_prefix("sqlite://").or_else(|| self.url.strip_prefix("sqlite:"))?;
        let file = rest.split('?').next().unwrap_or_default();
        (!file.is_empty()).then(|| PathBuf::from(file))
    }

    /// Why the SQLite file can never work as it is: its directory is missing, it is a directory,
    /// it is not a SQLite database, or it would be created in the root directory (where a command
    /// run by an MTA or a daemon with a relative path lands). `None` when it may work, and always
    /// for PostgreSQL: a server that is down may come back.
    pub fn unusable_reason(&self) -> Option<String> {
        let file = std::path::absolute(self.sqlite_file()?).ok()?;
        let shown = file.display();
        match std::fs::metadata(&file) {
            Ok(meta) if meta.is_dir() => {
                Some(format!("{shown} is a directory; name a database file in it, e.g. {shown}/mailgate.db"))
            }
            Ok(_) => (!starts_like_sqlite(&file)).then(|| format!("{shown} is not a SQLite database")),
            Err(_) => match file.parent() {
                Some(dir) if dir.parent().is_none() => Some(format!(
                    "{shown} does not exist and will not be created in the root directory; \
                     give an absolute path, e.g. sqlite:///var/lib/mailgate/mailgate.db"
                )),
                Some(dir) if !dir.is_dir() => Some(format!(
                    "the directory {} does not exist (SQLite creates the file, not its directory)",
                    dir.display()
                )),
                _ => None,
            },
        }
    }
}

/// An empty file becomes a database on first use; anything else must start with the header. A
/// file that cannot be read is left to the store to report.
fn starts_like_sqlite(file: &Path) -> bool {
    let Ok(handle) = std::fs::File::open(file) else { return true };
    let mut head = Vec::with_capacity(SQLITE_HEADER.len());
    match handle.take(SQLITE_HEADER.len() as u64).read_to_end(&mut head) {
        Ok(_) => head.is_empty() || head == SQLITE_HEADER,
        Err(_) => true,
    }
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
