//! All SQL lives here: one function per query, each taking the open transaction (`&mut Tx`), so a
//! workflow composes them atomically. The store is synchronous: a workflow hands one closure to
//! `Store::write` (or `read`), which runs the whole transaction on a blocking thread — one thread
//! hop per transaction, not per query. SQLite runs through rusqlite, PostgreSQL through postgres,
//! with one SQL text for both; only the DDL differs (migrations/sqlite vs migrations/postgres).

pub mod accounts;
pub mod backup;
pub mod console;
pub mod db;
pub mod directory;
pub mod due;
pub mod imap;
pub mod inbound;
pub mod lease;
pub mod lifecycle;
pub mod links;
pub mod migrate;
pub mod outbox;
pub mod pg_tls;
pub mod second_factor;
pub mod sessions;
pub mod tickets;
pub mod users;
pub mod web;
mod words;

use std::time::Duration;

pub use db::{Row, Tx, Value};
use r2d2_postgres::PostgresConnectionManager;
use r2d2_sqlite::SqliteConnectionManager;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// What went wrong in the database. The engine's error is part of the message, not a `source()`:
/// a chain printer (`{:#}`, anyhow) would otherwise say it twice.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
    #[error("postgres: {}", describe_postgres(.0))]
    Postgres(postgres::Error),
    #[error("no database connection available: {0}")]
    Pool(r2d2::Error),
    #[error("expected row not found")]
    NotFound,
    #[error("column {column}: {problem}")]
    Decode { column: String, problem: String },
    #[error("{0}")]
    Setup(String),
    #[error("database task failed: {0}")]
    Task(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::Sqlite(error)
    }
}

impl From<postgres::Error> for StoreError {
    fn from(error: postgres::Error) -> Self {
        StoreError::Postgres(error)
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(error: r2d2::Error) -> Self {
        StoreError::Pool(error)
    }
}

/// `postgres::Error` displays only "db error" for an error the server sent: the server's message,
/// SQLSTATE and detail are what an admin needs; other errors show their source chain.
fn describe_postgres(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            text.push_str(": ");
            text.push_str(detail);
        }
        return text;
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

impl StoreError {
    pub(crate) fn decode(column: impl std::fmt::Display, problem: impl Into<String>) -> StoreError {
        StoreError::Decode { column: column.to_string(), problem: problem.into() }
    }

    /// True when the database cannot take this right now (locked, busy, unreachable, out of
    /// connections): the caller should retry later rather than give up on the message.
    /// A full disk and every I/O error count too: they say nothing about the message, and
    /// space freed or a disk replaced lets the same message through.
    pub fn is_unavailable(&self) -> bool {
        use rusqlite::ErrorCode::{CannotOpen, DatabaseBusy, DatabaseLocked, DiskFull, SystemIoFailure};
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                matches!(e.code, DatabaseBusy | DatabaseLocked | CannotOpen | DiskFull | SystemIoFailure)
            }
            StoreError::Postgres(e) => match e.code() {
                // Class 08 connection, 53 resources (53100 disk full), 57P0x shutdown, 58 system
                // (I/O) errors, 40001/40P01 serialization/deadlock.
                Some(state) => {
                    let code = state.code();
                    code.starts_with("08")
                        || code.starts_with("53")
                        || code.starts_with("58")
                        || code.starts_with("57P0")
                        || code == "40001"
                        || code == "40P01"
                }
                // No SQLSTATE: the connection itself failed (refused, closed, I/O).
                None => true,
            },
            StoreError::Pool(_) => true,
            _ => false,
        }
    }

    /// True when a unique constraint was violated (a concurrent writer got there first).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::ConstraintViolation
                    && matches!(
                        e.extended_code,
                        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    )
            }
            StoreError::Postgres(e) => e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION),
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub max_connections: u32,
    /// How long a SQLite writer waits for the write lock before the database counts as busy.
    pub busy_timeout: Duration,
    /// How long to wait for a pooled connection (and for PostgreSQL to answer a connect).
    pub connect_timeout: Duration,
    /// The CA certificates trusted for PostgreSQL's TLS (`database.ca_file`); none = public roots.
    pub ca_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            busy_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            ca_roots: Vec::new(),
        }
    }
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(r2d2::Pool<SqliteConnectionManager>),
    Postgres(PgPool),
}

/// r2d2_postgres's manager with errors that say why: tokio-postgres keeps the cause of a failed
/// connect (the TLS alert, the certificate problem) in `source()`, and r2d2 keeps only `Display`.
struct PgManager(PostgresConnectionManager<tokio_postgres_rustls::MakeRustlsConnect>);

impl std::fmt::Debug for PgManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgManager")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct PgConnectError(String);

impl From<postgres::Error> for PgConnectError {
    fn from(error: postgres::Error) -> Self {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            text = format!("{text}: {cause}");
            source = cause.source();
        }
        PgConnectError(text)
    }
}

impl r2d2::ManageConnection for PgManager {
    type Connection = postgres::Client;
    type Error = PgConnectError;

    fn connect(&self) -> std::result::Result<postgres::Client, PgConnectError> {
        Ok(self.0.connect()?)
    }

    fn is_valid(&self, conn: &mut postgres::Client) -> std::result::Result<(), PgConnectError> {
        Ok(self.0.is_valid(conn)?)
    }

    fn has_broken(&self, conn: &mut postgres::Client) -> bool {
        self.0.has_broken(conn)
    }
}

/// The PostgreSQL pool. The sync client closes its connection with a blocking call, which must not
/// happen on an async worker thread, so a handle dropped there is handed to a plain thread.
#[derive(Clone)]
struct PgPool(Option<r2d2::Pool<PgManager>>);

impl std::fmt::Debug for PgPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgPool")
    }
}

impl PgPool {
    fn get(&self) -> std::result::Result<r2d2::PooledConnection<PgManager>, r2d2::Error> {
        self.0.as_ref().expect("the pool lives until drop").get()
    }
}

impl Drop for PgPool {
    fn drop(&mut self) {
        if let Some(pool) = self.0.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            std::thread::spawn(move || drop(pool));
        }
    }
}

/// A connection pool on one database, SQLite or PostgreSQL. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// How to reach PostgreSQL, for connections outside the pool (the IMAP lease).
    postgres: Option<pg_tls::PgTarget>,
}

impl Store {
    /// Sets up the pool; connections are opened on first use (a bad URL or a down server shows up
    /// then, as an unavailable error).
    pub fn connect(url: &str, options: &StoreOptions) -> Result<Store> {
        let mut postgres = None;
        let pool = match Backend::of_url(url) {
            Some(Backend::Sqlite) => {
                let path = sqlite_path(url)?;
                let busy_ms = options.busy_timeout.as_millis();
                let manager = SqliteConnectionManager::file(path).with_init(move |conn| {
                    // One ingest runs ~30 distinct statements; rusqlite's default cache holds 16, so
                    // they evicted each other (6% of ingest time went to re-preparing).
                    conn.set_prepared_statement_cache_capacity(128);
                    // busy_timeout first: switching to WAL itself needs the lock. A larger checkpoint
                    // interval (8192 pages, 32 MiB of WAL) lets hot index pages coalesce: at the
                    // default 1000, checkpoints took ~18% of ingest time.
                    conn.execute_batch(&format!(
                        "PRAGMA busy_timeout = {busy_ms}; PRAGMA journal_mode = WAL; \
                         PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                         PRAGMA cache_size = -16384; PRAGMA wal_autocheckpoint = 8192;"
                    ))
                });
                Pool::Sqlite(pool_builder(options).build_unchecked(manager))
            }
            Some(Backend::Postgres) => {
                let target = pg_tls::PgTarget::new(url, &options.ca_roots)
                    .map_err(|e| StoreError::Setup(format!("database.url: {e}")))?;
                let mut config = postgres::Config::from(target.config.clone());
                config.connect_timeout(options.connect_timeout);
                let manager = PgManager(PostgresConnectionManager::new(config, target.tls.clone()));
                postgres = Some(target);
                Pool::Postgres(PgPool(Some(pool_builder(options).build_unchecked(manager))))
            }
            None => {
                return Err(StoreError::Setup(
                    "database.url: expected sqlite://PATH or postgres://...".into(),
                ));
            }
        };
        Ok(Store { pool, postgres })
    }

    /// PostgreSQL's connection settings (URL, TLS), for a connection of its own; `None` on SQLite.
    pub fn postgres_target(&self) -> Option<&pg_tls::PgTarget> {
        self.postgres.as_ref()
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies pending migrations (idempotent; several processes may race, one wins).
    pub async fn migrate(&self) -> Result<()> {
        self.write(migrate::run).await
    }

    /// Runs `work` in one write transaction on a blocking thread and commits it when `work` returns
    /// `Ok`. On SQLite the transaction takes the write lock up front (`BEGIN IMMEDIATE`), so a busy
    /// database fails here, before any work, instead of deadlocking on a read-to-write upgrade.
    pub async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        self.run(Mode::Write, work).await
    }

    /// Like `write`, but always rolls back: for dry runs.
    pub async fn rehearse<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        self.run(Mode::Rehearse, work).await
    }

    /// Runs read-only `work` in a transaction on a blocking thread (a consistent snapshot).
    pub async fn read<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        self.run(Mode::Read, work).await
    }

    async fn run<T, F>(&self, mode: Mode, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        // The synchronous postgres client drives its own runtime with `block_on`, which panics on a
        // thread that is already running async code: it always gets a blocking thread.
        let in_place = matches!(self.pool, Pool::Sqlite(_));
        blocking(in_place, move || match &pool {
            Pool::Sqlite(pool) => {
                let mut conn = pool.get()?;
                let behavior = match mode {
                    Mode::Read => rusqlite::TransactionBehavior::Deferred,
                    Mode::Write | Mode::Rehearse => rusqlite::TransactionBehavior::Immediate,
                };
                finish(Tx::Sqlite(conn.transaction_with_behavior(behavior)?), mode, work)
            }
            Pool::Postgres(pool) => {
                let mut conn = pool.get()?;
                let tx = conn.build_transaction().read_only(mode == Mode::Read).start()?;
                finish(Tx::Postgres(tx), mode, work)
            }
        })
        .await
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Write,
    /// A write transaction that is always rolled back.
    Rehearse,
    Read,
}

/// Runs `work` in `tx`; commits only in `Mode::Write` (dropping a transaction rolls it back).
fn finish<T>(mut tx: Tx<'_>, mode: Mode, work: impl FnOnce(&mut Tx<'_>) -> Result<T>) -> Result<T> {
    let value = work(&mut tx)?;
    if mode == Mode::Write {
        tx.commit()?;
    }
    Ok(value)
}

/// Connections are opened on demand (none up front: `pipe` runs once per message).
fn pool_builder<M: r2d2::ManageConnection>(options: &StoreOptions) -> r2d2::Builder<M> {
    r2d2::Pool::builder()
        .max_size(options.max_connections.max(1))
        .min_idle(Some(0))
        .connection_timeout(options.connect_timeout)
        .test_on_check_out(false)
        // Failures reach the caller as `StoreError::Pool`, which decides how loud to be.
        .error_handler(Box::new(r2d2::NopErrorHandler))
}

/// Runs blocking database work. On a multi-threaded runtime (the daemon) it goes to the blocking
/// pool so async tasks keep running; on a current-thread runtime (one-shot commands such as `pipe`)
/// there is nothing else to run, and the hand-off to another thread would only add a cross-CPU
/// wake-up per transaction, so work that may (`in_place`) runs right here.
async fn blocking<T: Send + 'static>(
    in_place: bool,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::CurrentThread) if in_place => work(),
        _ => tokio::task::spawn_blocking(work).await.map_err(|e| StoreError::Task(e.to_string()))?,
    }
}

/// `sqlite://relative/path`, `sqlite:///absolute/path` or `sqlite:path` -> the file path.
fn sqlite_path(url: &str) -> Result<String> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        return Err(StoreError::Setup(
            "database.url: give SQLite a file (sqlite://PATH); an in-memory database would be private to one connection".into(),
        ));
    }
    Ok(path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_a_file() {
        assert_eq!(sqlite_path("sqlite://mailgate.db").unwrap(), "mailgate.db");
        assert_eq!(
            sqlite_path("sqlite:///var/lib/mailgate/db.sqlite?mode=rwc").unwrap(),
            "/var/lib/mailgate/db.sqlite"
        );
        assert_eq!(sqlite_path("sqlite:data.db").unwrap(), "data.db");
        assert!(sqlite_path("sqlite::memory:").is_err());
    }
}
