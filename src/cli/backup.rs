//! `mailgate backup FILE`: a consistent copy of the SQLite database, safe while `serve` and `pipe`
//! keep writing, checked before it is put in place. PostgreSQL is pg_dump's job: said plainly.

use std::path::Path;

use super::exit;
use crate::app;
use crate::config::Config;
use crate::store::backup::BackupError;

pub async fn run(config: &Config, target: &Path, force: bool) -> u8 {
    let Some(database) = config.database.sqlite_file() else {
        eprintln!(
            "mailgate: database.url is PostgreSQL; `mailgate backup` copies SQLite databases. Back \
             PostgreSQL up with pg_dump (restore with pg_restore); see docs/operations.md"
        );
        return exit::USAGE;
    };
    // Opening would create an empty database: a backup of nothing is a mistake worth naming.
    if !database.is_file() {
        eprintln!(
            "mailgate: database.url: there is no database at {}; nothing to back up",
            database.display()
        );
        return exit::NOINPUT;
    }
    let store = match app::connect(config) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("mailgate: {error}");
            return exit::CONFIG;
        }
    };
    match store.backup_sqlite(target, force).await {
        Ok(report) => {
            println!(
                "backed up {} to {}: {} bytes, {} pages, integrity ok, {} inbound messages, {} tickets",
                database.display(),
                report.file.display(),
                report.bytes,
                report.pages,
                report.inbound,
                report.tickets
            );
            exit::OK
        }
        Err(error) => {
            eprintln!("mailgate: backup: {error}");
            match error {
                BackupError::Exists(_) => exit::CANTCREAT,
                BackupError::IsSource(_) => exit::USAGE,
                BackupError::NotSqlite => exit::USAGE,
                BackupError::Io { .. } => exit::CANTCREAT,
                BackupError::Verify { .. } => exit::IOERR,
                error if error.is_unavailable() => exit::TEMPFAIL,
                BackupError::Store(_) => exit::SOFTWARE,
            }
        }
    }
}
