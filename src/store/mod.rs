//! All SQL lives here: one function per query, each taking the open transaction (`&mut Tx`), so a
//! workflow composes them atomically. The store is synchronous: a workflow hands one closure to
//! `Store::write` (or `read`), which runs the whole transaction on a blocking thread — one thread
//! hop per transaction, not per query. SQLite runs through rusqlite, PostgreSQL through postgres,
//! with one SQL text for both; only the DDL differs (migrations/sqlite vs migrations/postgres).

pub mod account_source;
pub mod accounts;
pub mod audit;
pub mod backup;
pub mod console;
pub mod db;
pub mod directory;
pub mod due;
pub mod erase;
pub mod identities;
pub mod imap;
pub mod inbound;
pub mod lease;
pub mod lifecycle;
pub mod links;
pub mod merge;
pub mod migrate;
pub mod outbox;
pub mod pg_tls;
pub mod profile;
pub mod queues;
pub mod search;
pub mod second_factor;
pub mod sessions;
mod sqlite;
pub mod tickets;
pub mod users;
pub mod web;
mod words;

use std::sync::Arc;
use std::time::Duration;

pub use db::{Row, Tx, Value};
use r2d2_postgres::PostgresConnectionManager;
use r2d2_sqlite::SqliteConnectionManager;
pub use sqlite::{ONE_SHOT_WAL_FRAMES, SqliteRole, configure_sqlite};
use sqlite::{OneShotConnection, sqlite_path, sqlite_run};

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
    /// What the statement that failed was doing ("inserting into inbound"), around the error.
    #[error("{operation}: {error}")]
    During { operation: String, error: Box<StoreError> },
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

    /// This error, said to have happened while running `sql` (named by its verb and table).
    pub(crate) fn during(self, sql: &str) -> StoreError {
        match self {
            already @ StoreError::During { .. } => already,
            error => StoreError::During { operation: db::operation(sql), error: Box::new(error) },
        }
    }

    /// The error under the operation it happened in.
    pub fn cause(&self) -> &StoreError {
        match self {
            StoreError::During { error, .. } => error.cause(),
            error => error,
        }
    }

    /// True when the database cannot take this right now (locked, busy, unreachable, out of
    /// connections): the caller should retry later rather than give up on the message.
    /// A full disk, every I/O error and a read-only database count too: they say nothing about
    /// the message, and space freed, a disk replaced or the files' ownership mended lets the same
    /// message through. (Read-only also comes and goes: a `pipe` running as the MTA's user that
    /// opens the database while a root process is creating its WAL's shared memory, before SQLite
    /// hands the file to the database's owner.)
    pub fn is_unavailable(&self) -> bool {
        use rusqlite::ErrorCode::{
            CannotOpen, DatabaseBusy, DatabaseLocked, DiskFull, ReadOnly, SystemIoFailure,
        };
        match self.cause() {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                DatabaseBusy | DatabaseLocked | CannotOpen | DiskFull | SystemIoFailure | ReadOnly
            ),
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
        match self.cause() {
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
    /// SQLite for a process that commits once and exits (`pipe`): see [`SqliteRole::OneShot`].
    pub sqlite_role: SqliteRole,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            busy_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            ca_roots: Vec::new(),
            sqlite_role: SqliteRole::Daemon,
        }
    }
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(r2d2::Pool<SqliteConnectionManager>),
    SqliteOneShot(Arc<OneShotConnection>),
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
    type Connection = PgConnection;
    type Error = PgConnectError;

    fn connect(&self) -> std::result::Result<PgConnection, PgConnectError> {
        Ok(PgConnection { client: self.0.connect()?, statements: db::PgStatements::default() })
    }

    fn is_valid(&self, conn: &mut PgConnection) -> std::result::Result<(), PgConnectError> {
        Ok(self.0.is_valid(&mut conn.client)?)
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        self.0.has_broken(&mut conn.client)
    }
}

/// A pooled PostgreSQL connection and the statements prepared on it.
struct PgConnection {
    client: postgres::Client,
    statements: db::PgStatements,
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
                let (busy_timeout, role) = (options.busy_timeout, options.sqlite_role);
                if role == SqliteRole::OneShot {
                    let one = OneShotConnection::new(path.into(), busy_timeout);
                    return Ok(Store { pool: Pool::SqliteOneShot(Arc::new(one)), postgres });
                }
                let manager = SqliteConnectionManager::file(path)
                    .with_init(move |conn| configure_sqlite(conn, busy_timeout, role));
                // Opening a SQLite file is local and quick: one thread opens connections for the
                // pool (r2d2's default three are two threads more to start in every command).
                let opener = scheduled_thread_pool::ScheduledThreadPool::builder()
                    .num_threads(1)
                    .thread_name_pattern("sqlite-open-{}")
                    .build();
                Pool::Sqlite(
                    pool_builder(options).thread_pool(std::sync::Arc::new(opener)).build_unchecked(manager),
                )
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
            Pool::Sqlite(_) | Pool::SqliteOneShot(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies pending migrations (idempotent; several processes may race, one wins). Looks
    /// first in a read transaction: when nothing is pending, no write lock is taken.
    pub async fn migrate(&self) -> Result<()> {
        if self.read(migrate::up_to_date).await? {
            return Ok(());
        }
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

    /// Like `write`, but the commit is on disk when this returns, also on a daemon's connection
    /// (SQLite `synchronous = NORMAL` syncs the WAL only at checkpoints): this commit syncs the WAL.
    /// For work whose commit lets someone else forget the data: the IMAP drain moves or deletes
    /// the messages of a batch once it is committed. PostgreSQL commits are synced already.
    pub async fn write_synced<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        self.run(Mode::WriteSynced, work).await
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
        let in_place = !matches!(self.pool, Pool::Postgres(_));
        blocking(in_place, move || match &pool {
            Pool::Sqlite(pool) => sqlite_run(&mut *pool.get()?, mode, work),
            Pool::SqliteOneShot(one) => one.with(|conn| sqlite_run(conn, mode, work)),
            Pool::Postgres(pool) => {
                let mut conn = pool.get()?;
                let PgConnection { client, statements } = &mut *conn;
                let tx = client.build_transaction().read_only(mode == Mode::Read).start()?;
                finish(Tx::Postgres(tx, statements), mode, work)
            }
        })
        .await
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Write,
    /// A write transaction whose commit syncs the WAL whatever the connection's level.
    WriteSynced,
    /// A write transaction that is always rolled back.
    Rehearse,
    Read,
}

/// Runs `work` in `tx`; commits only in `Mode::Write` (dropping a transaction rolls it back).
pub(crate) fn finish<T>(
    mut tx: Tx<'_>,
    mode: Mode,
    work: impl FnOnce(&mut Tx<'_>) -> Result<T>,
) -> Result<T> {
    let value = work(&mut tx)?;
    if matches!(mode, Mode::Write | Mode::WriteSynced) {
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
