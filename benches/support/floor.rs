//! The floor of `mailgate pipe`: what a process that only stores the message costs. It reads the
//! message from standard input, opens the same SQLite database with the settings `pipe` uses
//! (`mailgate::store::configure_sqlite` with `SqliteRole::OneShot`: WAL, `synchronous = FULL`, no
//! checkpoint on close), inserts the raw bytes in one durable transaction and exits. The pipe bench runs it as its own executable (`--floor DB`), so it is built in the
//! same profile as `mailgate` and ships with nothing.

use std::io::Read;

/// The table the floor writes, beside mailgate's own in the same database file.
pub const TABLE: &str = "CREATE TABLE IF NOT EXISTS bench_floor (id INTEGER PRIMARY KEY, raw BLOB NOT NULL)";

/// Opens `path` as `mailgate pipe` opens it.
pub fn open(path: &str) -> rusqlite::Connection {
    let mut conn = rusqlite::Connection::open(path).expect("open the database");
    let role = mailgate::store::SqliteRole::OneShot;
    mailgate::store::configure_sqlite(&mut conn, std::time::Duration::from_secs(5), role)
        .expect("the store's settings");
    conn
}

/// One message from standard input into `path`, committed; then the process exits.
pub fn run(path: &str) {
    let mut raw = Vec::with_capacity(64 * 1024);
    std::io::stdin().lock().read_to_end(&mut raw).expect("read standard input");
    let mut conn = open(path);
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).expect("begin");
    tx.execute("INSERT INTO bench_floor (raw) VALUES (?1)", [&raw]).expect("insert");
    tx.commit().expect("commit");
    conn.close().map_err(|(_, e)| e).expect("close");
}
