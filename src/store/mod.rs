//! All SQL lives here: one function per query, each taking an executor (`&mut AnyConnection`), so a
//! workflow composes them inside one transaction. One SQL text serves SQLite and PostgreSQL through
//! sqlx's `Any` driver; only the DDL differs (migrations/sqlite vs migrations/postgres).

pub mod directory;
pub mod inbound;
pub mod tickets;
pub mod users;

use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Transaction};

pub type Conn = AnyConnection;
pub type Tx = Transaction<'static, Any>;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

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

#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub max_connections: u32,
    /// How long a SQLite writer waits for the write lock before the database counts as busy.
    pub busy_timeout: Duration,
    /// How long to wait for a pooled connection (and for PostgreSQL to answer a connect).
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            busy_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// A connection pool on one database, SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Store, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url).ok_or_else(|| {
            sqlx::Error::Configuration(format!("unsupported database url scheme: {url}").into())
        })?;
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let connect_options: AnyConnectOptions = url.parse()?;
        let busy_ms = options.busy_timeout.as_millis();
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // busy_timeout first: switching to WAL itself needs the lock.
                        for pragma in [
                            format!("PRAGMA busy_timeout = {busy_ms}"),
                            "PRAGMA journal_mode = WAL".to_string(),
                            "PRAGMA synchronous = NORMAL".to_string(),
                            "PRAGMA foreign_keys = ON".to_string(),
                        ] {
                            conn.execute(sqlx::AssertSqlSafe(pragma)).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(connect_options)
            .await?;
        Ok(Store { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await,
        }
    }

    /// A write transaction. On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`), so a busy
    /// database fails here, before any work, instead of deadlocking on a read-to-write upgrade.
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// A connection for reads outside any transaction.
    pub async fn read(&self) -> Result<PoolConnection<Any>, sqlx::Error> {
        self.pool.acquire().await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// True when the error means "the database cannot take this right now" (locked, busy, unreachable,
/// pool exhausted), so the caller should retry later rather than give up on the message.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            true
        }
        sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            // SQLite: 5 SQLITE_BUSY, 6 SQLITE_LOCKED (and their extended codes); PostgreSQL: class 08
            // (connection), 53 (resources), 57P0x (shutdown), 40001/40P01 (serialization, deadlock).
            let code = db.code().unwrap_or_default();
            let sqlite_busy = code.parse::<i64>().is_ok_and(|c| matches!(c & 0xff, 5 | 6));
            let pg_transient = code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P0")
                || code == "40001"
                || code == "40P01";
            let message = db.message();
            sqlite_busy
                || pg_transient
                || message.contains("database is locked")
                || message.contains("database is busy")
        }
        _ => false,
    }
}

/// True when the error is a unique-constraint violation (a concurrent writer got there first).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Checks the connection works; used by `check-config` and health checks.
pub async fn ping(conn: &mut Conn) -> Result<(), sqlx::Error> {
    conn.ping().await
}
