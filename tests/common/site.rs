//! An installation as an admin has it: a config file on a fresh database (SQLite or PostgreSQL),
//! and the real `mailgate` binary run against it, one process per command.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mailgate::store::{Store, StoreOptions, Tx};

use super::{Backend, TestDb};

pub struct Site {
    pub dir: tempfile::TempDir,
    pub db: TestDb,
}

impl Site {
    /// `[instance]` with support@example.com and `[database]` on a fresh database; `extra` is
    /// appended verbatim. `None` when the backend is not available (see `common::require`).
    pub fn new(backend: Backend, extra: &str) -> Option<Site> {
        let db = TestDb::new_blocking(backend)?;
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "[instance]\nsupport_addresses = [\"support@example.com\"]\n\n[database]\nurl = \"{}\"\nbusy_timeout_ms = 300\n{extra}",
            db.url
        );
        std::fs::write(dir.path().join("mailgate.toml"), config).unwrap();
        Some(Site { dir, db })
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("mailgate.toml")
    }

    /// Runs `mailgate --config <ours> ARGS` with `stdin` and waits for it.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        run_with(&self.config(), args, stdin)
    }

    /// Runs `work` in a read transaction on the site's database (outside any async runtime).
    pub fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Tx<'_>) -> mailgate::store::Result<T> + Send + 'static,
    ) -> T {
        self.on_store(|store| async move { store.read(work).await })
    }

    /// Runs `work` in a write transaction on the site's database and commits it.
    pub fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Tx<'_>) -> mailgate::store::Result<T> + Send + 'static,
    ) -> T {
        self.on_store(|store| async move { store.write(work).await })
    }

    /// Runs what `run` starts on a fresh store of the site's database, outside any async runtime.
    fn on_store<T, F: std::future::Future<Output = mailgate::store::Result<T>>>(
        &self,
        run: impl FnOnce(Store) -> F,
    ) -> T {
        let store = Store::connect(&self.db.url, &StoreOptions::default()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run(store)).unwrap()
    }

    /// The first column of every row of `sql`, as text.
    pub fn strings(&self, sql: &'static str) -> Vec<String> {
        self.read(move |tx| tx.query_all(sql, &[], |r| r.string(0)))
    }

    pub fn scalar(&self, sql: &'static str) -> i64 {
        self.read(move |tx| tx.query_one(sql, &[], |r| r.i64(0)))
    }
}

/// Runs `mailgate --config CONFIG ARGS` with `stdin`.
pub fn run_with(config: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A process that refuses early closes its stdin; that is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// Both streams, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
