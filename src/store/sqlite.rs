//! SQLite connections: the settings each kind of process opens them with (`SqliteRole`), the
//! one-shot process's single connection, and a transaction on a connection.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use super::{Mode, Result, StoreError, Tx, finish};

/// How a process uses its SQLite connections, which decides when commits reach the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SqliteRole {
    /// Long-lived or many commits (`serve`, `import`, admin commands): `synchronous = NORMAL`, a
    /// commit survives a crash of the process; the last connection to close checkpoints the WAL.
    #[default]
    Daemon,
    /// One message, then exit (`pipe`): every commit is synced (`synchronous = FULL`, one fsync of
    /// the WAL), so exit 0 means the message is on disk even while `serve` holds the database
    /// open. Closing leaves the WAL to the next process instead of checkpointing it (that
    /// checkpoint, deleting the WAL and creating it again cost three more fsyncs per message);
    /// once the WAL holds [`ONE_SHOT_WAL_FRAMES`] frames a commit checkpoints and truncates it
    /// ([`truncate_long_wal`]).
    OneShot,
}

/// The one connection of a process that commits once and exits ([`SqliteRole::OneShot`]),
/// opened on first use by the thread that needs it. A pool opens connections on a thread of its
/// own: in a `pipe` that was a thread start, a second malloc arena for the connection's schema
/// and a hand-over, for one connection (docs/performance.md).
pub(super) struct OneShotConnection {
    path: PathBuf,
    busy_timeout: Duration,
    conn: Mutex<Option<rusqlite::Connection>>,
}

impl std::fmt::Debug for OneShotConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneShotConnection").field("path", &self.path).finish_non_exhaustive()
    }
}

impl OneShotConnection {
    /// Nothing is opened until the first use.
    pub(super) fn new(path: PathBuf, busy_timeout: Duration) -> OneShotConnection {
        OneShotConnection { path, busy_timeout, conn: Mutex::new(None) }
    }

    /// Runs `use_it` on the connection, opening it first if this is the first use.
    pub(super) fn with<T>(&self, use_it: impl FnOnce(&mut rusqlite::Connection) -> Result<T>) -> Result<T> {
        // A panic while the connection was held rolled its transaction back on the way out.
        let mut slot = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let conn = match &mut *slot {
            Some(conn) => conn,
            empty => {
                let mut conn = rusqlite::Connection::open(&self.path)?;
                configure_sqlite(&mut conn, self.busy_timeout, SqliteRole::OneShot)?;
                empty.insert(conn)
            }
        };
        use_it(conn)
    }
}

/// Runs `work` in a transaction of `mode` on a SQLite connection.
pub(super) fn sqlite_run<T>(
    conn: &mut rusqlite::Connection,
    mode: Mode,
    work: impl FnOnce(&mut Tx<'_>) -> Result<T>,
) -> Result<T> {
    let behavior = match mode {
        Mode::Read => rusqlite::TransactionBehavior::Deferred,
        Mode::Write | Mode::WriteSynced | Mode::Rehearse => rusqlite::TransactionBehavior::Immediate,
    };
    if mode != Mode::WriteSynced {
        return finish(Tx::Sqlite(conn.transaction_with_behavior(behavior)?), mode, work);
    }
    // The level cannot change inside a transaction: around it, and back whatever happens.
    let level: i64 = conn.query_row("PRAGMA synchronous", [], |row| row.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    let result = conn
        .transaction_with_behavior(behavior)
        .map_err(StoreError::from)
        .and_then(|tx| finish(Tx::Sqlite(tx), mode, work));
    if let Err(error) = conn.pragma_update(None, "synchronous", level) {
        // Only slower: every commit of this connection stays synced.
        tracing::warn!(%error, "cannot restore the connection's synchronous level");
    }
    result
}

/// Sets up a fresh SQLite connection for `role` (the pipe bench's floor opens its database with
/// this too). busy_timeout first: switching to WAL itself needs the lock. A larger checkpoint
/// interval for the daemon (8192 pages, 32 MiB of WAL) lets hot index pages coalesce: at the
/// default 1000, checkpoints took ~18% of ingest time.
pub fn configure_sqlite(
    conn: &mut rusqlite::Connection,
    busy_timeout: Duration,
    role: SqliteRole,
) -> rusqlite::Result<()> {
    // One ingest runs ~30 distinct statements; rusqlite's default cache holds 16, so they evicted
    // each other (6% of ingest time went to re-preparing).
    conn.set_prepared_statement_cache_capacity(128);
    // SQLite (3.47+) plans `LIMIT $n` with the value bound, so binding it again expires the
    // statement and the next run prepares it anew: the outbox claim, every console page and search
    // were prepared on every run. The stability guarantee plans once, whatever the values bound
    // (the queue pages name their index; no statistics are kept that bound values would consult).
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    let synchronous = match role {
        SqliteRole::Daemon => "NORMAL",
        SqliteRole::OneShot => "FULL",
    };
    conn.execute_batch(&format!(
        "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
         PRAGMA foreign_keys = ON; PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY;",
        busy_timeout.as_millis()
    ))?;
    match role {
        SqliteRole::Daemon => conn.execute_batch("PRAGMA wal_autocheckpoint = 8192;")?,
        SqliteRole::OneShot => {
            conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
            // Replaces the automatic checkpoint (the two are one SQLite setting).
            conn.wal_hook(Some(truncate_long_wal));
        }
    }
    Ok(())
}

/// The WAL length (frames of 4 KiB pages) at which a one-shot process checkpoints: ~1 MiB, about
/// eight piped messages.
pub const ONE_SHOT_WAL_FRAMES: std::ffi::c_int = 256;

/// A one-shot process's checkpoint, run after each of its commits (which is on disk by then):
/// once the WAL holds [`ONE_SHOT_WAL_FRAMES`] frames, copy them into the database and truncate
/// the WAL. A process that opens the database while no other has it open rebuilds the WAL's
/// index by reading every frame, and a passive checkpoint would leave the frames in the file:
/// each `pipe` then read them all, and copied them all again (measured: 700 frames, 4 fsyncs per
/// message). A checkpoint that cannot finish (a reader in `serve`) leaves the WAL to the next.
fn truncate_long_wal(wal: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    if frames >= ONE_SHOT_WAL_FRAMES
        && let Err(error) = wal.checkpoint_v2(rusqlite::hooks::CheckpointMode::TRUNCATE)
    {
        tracing::debug!(%error, frames, "WAL checkpoint left for a later process");
    }
    Ok(())
}

/// `sqlite://relative/path`, `sqlite:///absolute/path` or `sqlite:path` -> the file path.
pub(super) fn sqlite_path(url: &str) -> Result<String> {
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
    use crate::store::{Store, StoreError, StoreOptions, Tx};

    fn open_as(path: &std::path::Path, role: SqliteRole) -> rusqlite::Connection {
        let mut conn = rusqlite::Connection::open(path).unwrap();
        configure_sqlite(&mut conn, Duration::from_secs(5), role).unwrap();
        conn
    }

    /// `write_synced` commits at FULL on a daemon's NORMAL connection, and hands the connection
    /// back at NORMAL, also when its work fails.
    #[tokio::test(flavor = "current_thread")]
    async fn a_synced_write_raises_the_level_for_its_own_commit_only() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("synced.db").display());
        let options = StoreOptions { max_connections: 1, ..StoreOptions::default() };
        let store = Store::connect(&url, &options).unwrap();
        let level = |tx: &mut Tx<'_>| tx.query_one("PRAGMA synchronous", &[], |r| r.i64(0));
        assert_eq!(store.write(level).await.unwrap(), 1, "NORMAL");
        assert_eq!(store.write_synced(level).await.unwrap(), 2, "FULL inside");
        assert_eq!(store.write(level).await.unwrap(), 1, "NORMAL again");
        let failed = store.write_synced(|_| Err::<(), _>(StoreError::NotFound)).await;
        assert!(matches!(failed, Err(StoreError::NotFound)));
        assert_eq!(store.read(level).await.unwrap(), 1, "NORMAL after a failure too");
    }

    #[test]
    fn a_one_shot_process_syncs_its_commit_and_leaves_the_wal_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one-shot.db");
        let synchronous = |conn: &rusqlite::Connection| -> i64 {
            conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap()
        };
        let daemon = open_as(&path, SqliteRole::Daemon);
        assert_eq!(synchronous(&daemon), 1, "NORMAL");
        daemon.execute_batch("CREATE TABLE t (raw BLOB)").unwrap();
        drop(daemon);
        let one_shot = open_as(&path, SqliteRole::OneShot);
        assert_eq!(synchronous(&one_shot), 2, "FULL: the commit is on disk when it returns");
        one_shot.execute("INSERT INTO t VALUES (zeroblob(100))", []).unwrap();
        drop(one_shot);
        let wal = dir.path().join("one-shot.db-wal");
        assert!(wal.metadata().unwrap().len() > 0, "closing does not checkpoint the WAL away");
        let next = open_as(&path, SqliteRole::OneShot);
        assert_eq!(next.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0)).unwrap(), 1);
    }

    #[test]
    fn a_one_shot_process_truncates_a_long_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one-shot.db");
        let wal = dir.path().join("one-shot.db-wal");
        let conn = open_as(&path, SqliteRole::OneShot);
        conn.execute_batch("CREATE TABLE t (raw BLOB)").unwrap();
        let mut longest = 0;
        for _ in 0..ONE_SHOT_WAL_FRAMES {
            // Eight pages per commit: the WAL passes the limit within the loop.
            conn.execute("INSERT INTO t VALUES (zeroblob(30000))", []).unwrap();
            longest = longest.max(wal.metadata().unwrap().len());
        }
        let limit = u64::try_from(ONE_SHOT_WAL_FRAMES).unwrap() * (4096 + 24);
        assert!(longest < limit + 16 * 4120, "the WAL grew to {longest} bytes");
        let rows: i64 = conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, i64::from(ONE_SHOT_WAL_FRAMES));
    }

    #[test]
    fn a_statement_is_not_prepared_again_when_its_limit_is_bound_again() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_as(&dir.path().join("plans.db"), SqliteRole::Daemon);
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, at INTEGER); CREATE INDEX t_at ON t(at);",
        )
        .unwrap();
        let mut statement = conn.prepare("SELECT id FROM t WHERE at > ?1 ORDER BY at DESC LIMIT ?2").unwrap();
        for limit in [1i64, 50, 50, 7] {
            statement.query_map([0, limit], |r| r.get::<_, i64>(0)).unwrap().for_each(drop);
        }
        assert_eq!(statement.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }

    #[test]
    fn the_bundled_sqlite_keeps_no_memory_statistics() {
        // `.cargo/config.toml` passes the flag to libsqlite3-sys; a build that lost it would take
        // a global mutex around every allocation again (docs/store.md).
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let mut options = conn.prepare("SELECT compile_options FROM pragma_compile_options").unwrap();
        let options: Vec<String> =
            options.query_map([], |r| r.get(0)).unwrap().collect::<rusqlite::Result<_>>().unwrap();
        assert!(options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"), "{options:?}");
    }

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
