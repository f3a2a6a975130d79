//! `mailgate backup`: a consistent copy of the SQLite database while daemons keep writing, through
//! SQLite's online backup API, checked by opening the copy. SQLite only: PostgreSQL has pg_dump.
//! The copy is written beside the target and moved into place only once it checked out, so a
//! failed backup never leaves a half-written file under the name asked for.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};

use super::{Pool, Store, StoreError};
use crate::clock::Stopwatch;

/// What a finished backup holds, read back from the copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupReport {
    pub file: PathBuf,
    pub bytes: u64,
    pub pages: i32,
    pub inbound: i64,
    pub tickets: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} exists; give --force to replace it")]
    Exists(PathBuf),
    #[error("{0} is the database itself (or one of its journal files); back up to another file")]
    IsSource(PathBuf),
    #[error("the backup command copies SQLite databases; for PostgreSQL use pg_dump (docs/operations.md)")]
    NotSqlite,
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("the copy in {path} failed its check: {problem}")]
    Verify { path: PathBuf, problem: String },
}

impl BackupError {
    /// The database was busy or unreachable: trying again later may work.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, BackupError::Store(error) if error.is_unavailable())
    }
}

/// Whether `target` names `database` or one of its `-wal`, `-shm` and `-journal` files, however
/// spelled (relative, through symbolic links).
fn is_database_file(database: &Path, target: &Path) -> bool {
    let Ok(database) = database.canonicalize() else { return false };
    let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else { return false };
    let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
    let Ok(parent) = parent.canonicalize() else { return false };
    let target = parent.join(name);
    let target = target.canonicalize().unwrap_or(target);
    ["", "-wal", "-shm", "-journal"].iter().any(|suffix| {
        let mut name = database.clone().into_os_string();
        name.push(suffix);
        name == target.as_os_str()
    })
}

impl Store {
    /// Copies the SQLite database to `target` in one read snapshot (writers go on meanwhile:
    /// WAL mode), switches the copy to a self-contained rollback journal, checks it
    /// (`integrity_check`, row counts) and only then moves it to `target`. An existing `target`
    /// is an error unless `overwrite`.
    pub async fn backup_sqlite(&self, target: &Path, overwrite: bool) -> Result<BackupReport, BackupError> {
        let Pool::Sqlite(pool) = &self.pool else { return Err(BackupError::NotSqlite) };
        // SQLite says only "unable to open", which reads as a busy database: name the real problem.
        let directory = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        if !directory.is_dir() {
            let error = std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory");
            return Err(BackupError::Io { path: directory.to_path_buf(), error });
        }
        let pool = pool.clone();
        let target = target.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let source = pool.get().map_err(StoreError::from)?;
            // Replacing the live file would leave the daemons writing to a deleted one.
            let database = source.path().filter(|path| !path.is_empty()).map(Path::new);
            if database.is_some_and(|database| is_database_file(database, &target)) {
                return Err(BackupError::IsSource(target.clone()));
            }
            if !overwrite && target.exists() {
                return Err(BackupError::Exists(target.clone()));
            }
            let busy_ms: i64 =
                source.query_row("PRAGMA busy_timeout", [], |row| row.get(0)).map_err(StoreError::from)?;
            let busy_for = Duration::from_millis(busy_ms.max(0) as u64);
            let partial = partial_name(&target);
            let _ = std::fs::remove_file(&partial);
            let result = copy_and_check(&source, &partial, busy_for).and_then(|report| {
                place(&partial, &target, overwrite)?;
                Ok(BackupReport { file: target.clone(), ..report })
            });
            if result.is_err() {
                let _ = std::fs::remove_file(&partial);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

/// `FILE` -> `FILE.partial` in the same directory (a rename there is atomic).
fn partial_name(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    target.with_file_name(name)
}

fn copy_and_check(
    source: &rusqlite::Connection,
    partial: &Path,
    busy_for: Duration,
) -> Result<BackupReport, BackupError> {
    let io = |error| BackupError::Io { path: partial.to_path_buf(), error };
    let mut copy = rusqlite::Connection::open(partial).map_err(StoreError::from)?;
    let pages = {
        let backup = Backup::new(source, &mut copy).map_err(StoreError::from)?;
        // All pages in one step: one read snapshot, so the copy is consistent. Copying in slices
        // would restart whenever another connection writes, which a busy daemon always does.
        let started = Stopwatch::start();
        loop {
            match backup.step(-1).map_err(StoreError::from)? {
                StepResult::Done => break,
                StepResult::Busy | StepResult::Locked | StepResult::More if started.elapsed() < busy_for => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    return Err(BackupError::Store(StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                        Some("the database stayed busy for the whole busy timeout".into()),
                    ))));
                }
            }
        }
        backup.progress().pagecount
    };
    // The source is in WAL mode and so is the copy's header; a backup is one file to carry.
    copy.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(())).map_err(StoreError::from)?;
    let check: String =
        copy.query_row("PRAGMA integrity_check", [], |row| row.get(0)).map_err(StoreError::from)?;
    let verify = |problem: String| BackupError::Verify { path: partial.to_path_buf(), problem };
    if check != "ok" {
        return Err(verify(check));
    }
    let count = |sql: &str| copy.query_row(sql, [], |row| row.get::<_, i64>(0));
    let inbound = count("SELECT COUNT(*) FROM inbound")
        .map_err(|e| verify(format!("no mailgate schema in it ({e})")))?;
    let tickets = count("SELECT COUNT(*) FROM tickets")
        .map_err(|e| verify(format!("no mailgate schema in it ({e})")))?;
    copy.close().map_err(|(_, error)| StoreError::from(error))?;
    let bytes = std::fs::metadata(partial).map_err(io)?.len();
    Ok(BackupReport { file: partial.to_path_buf(), bytes, pages, inbound, tickets })
}

/// Moves the checked copy to `target`. Without `overwrite` a hard link claims the name (it fails
/// if the name appeared meanwhile), where the file system has them.
fn place(partial: &Path, target: &Path, overwrite: bool) -> Result<(), BackupError> {
    let io = |error| BackupError::Io { path: target.to_path_buf(), error };
    if !overwrite {
        match std::fs::hard_link(partial, target) {
            Ok(()) => return std::fs::remove_file(partial).map_err(io),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(BackupError::Exists(target.to_path_buf()));
            }
            Err(_) if target.exists() => return Err(BackupError::Exists(target.to_path_buf())),
            Err(_) => {}
        }
    }
    std::fs::rename(partial, target).map_err(io)
}
