//! One small interface over the two SQL engines: `Value` parameters, `Row` access and a `Tx`
//! (transaction) that runs one SQL text on SQLite (rusqlite) or PostgreSQL (postgres). SQL is
//! written with `$N` placeholders; for SQLite they become `?N` (explicitly numbered) at prepare time.

use std::borrow::Cow;

use postgres::types::{IsNull, ToSql as PgToSql, Type, to_sql_checked};

use super::{Backend, StoreError};
use crate::core::ticket::TicketNumber;

/// A query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Int(i64::from(v))
    }
}
impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(v)
    }
}
impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(v)
    }
}
impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(v: &'a [u8]) -> Self {
        Value::Blob(v)
    }
}
impl From<Option<i64>> for Value<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Value::Null, Value::Int)
    }
}
impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Value::Null, Value::Text)
    }
}

/// `params![a, b]` -> `&[Value]`.
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => { &[$($crate::store::db::Value::from($v)),*] };
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match *self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(i),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl PgToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) if *ty == Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
            Value::Int(i) if *ty == Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
            Value::Int(i) => i.to_sql(ty, out),
            Value::Text(s) => s.to_sql(ty, out),
            Value::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        // Checked per value in `to_sql`, which delegates to the concrete type's encoder.
        true
    }

    to_sql_checked!();
}

/// One result row of either engine.
pub enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r postgres::Row),
}

/// A column of a result row: by position (`0`) or, where a row has more than a few columns, by
/// name (`"status"`).
pub trait Column: Copy + std::fmt::Display {
    fn position(self, row: &Row<'_>) -> Result<usize, StoreError>;
}

impl Column for usize {
    fn position(self, _row: &Row<'_>) -> Result<usize, StoreError> {
        Ok(self)
    }
}

impl Column for &str {
    fn position(self, row: &Row<'_>) -> Result<usize, StoreError> {
        match row {
            Row::Sqlite(row) => Ok(row.as_ref().column_index(self)?),
            Row::Postgres(row) => row
                .columns()
                .iter()
                .position(|column| column.name() == self)
                .ok_or_else(|| StoreError::decode(self, "no such column in the result")),
        }
    }
}

impl Row<'_> {
    pub fn i64(&self, column: impl Column) -> Result<i64, StoreError> {
        self.opt_i64(column)?.ok_or_else(|| StoreError::decode(column, "unexpected NULL"))
    }

    pub fn opt_i64(&self, column: impl Column) -> Result<Option<i64>, StoreError> {
        let idx = column.position(self)?;
        match self {
            Row::Sqlite(row) => Ok(row.get(idx)?),
            Row::Postgres(row) => {
                let ty = row.columns().get(idx).map(|c| c.type_().clone());
                match ty {
                    Some(Type::INT4) => Ok(row.try_get::<_, Option<i32>>(idx)?.map(i64::from)),
                    Some(Type::INT2) => Ok(row.try_get::<_, Option<i16>>(idx)?.map(i64::from)),
                    _ => Ok(row.try_get(idx)?),
                }
            }
        }
    }

    pub fn string(&self, column: impl Column) -> Result<String, StoreError> {
        self.opt_string(column)?.ok_or_else(|| StoreError::decode(column, "unexpected NULL"))
    }

    pub fn opt_string(&self, column: impl Column) -> Result<Option<String>, StoreError> {
        let idx = column.position(self)?;
        match self {
            Row::Sqlite(row) => Ok(row.get(idx)?),
            Row::Postgres(row) => Ok(row.try_get(idx)?),
        }
    }

    pub fn bytes(&self, column: impl Column) -> Result<Vec<u8>, StoreError> {
        let idx = column.position(self)?;
        match self {
            Row::Sqlite(row) => Ok(row.get(idx)?),
            Row::Postgres(row) => Ok(row.try_get(idx)?),
        }
    }

    pub fn bool(&self, column: impl Column) -> Result<bool, StoreError> {
        Ok(self.i64(column)? != 0)
    }

    pub fn ticket_number(&self, column: impl Column) -> Result<TicketNumber, StoreError> {
        self.string(column).map(TicketNumber::from_stored)
    }

    pub fn opt_ticket_number(&self, column: impl Column) -> Result<Option<TicketNumber>, StoreError> {
        Ok(self.opt_string(column)?.map(TicketNumber::from_stored))
    }

    /// A column holding one of a closed set of words (a status, a role, ...), decoded into its
    /// type: a word the type does not know is an error naming the table and column, never a
    /// default.
    pub fn word<T: Stored>(&self, column: impl Column) -> Result<T, StoreError> {
        let text = self.string(column)?;
        T::parse(&text).ok_or_else(|| StoreError::decode(T::COLUMN, format!("unknown value {text:?}")))
    }

    pub fn opt_word<T: Stored>(&self, column: impl Column) -> Result<Option<T>, StoreError> {
        match self.opt_string(column)? {
            None => Ok(None),
            Some(text) => T::parse(&text)
                .map(Some)
                .ok_or_else(|| StoreError::decode(T::COLUMN, format!("unknown value {text:?}"))),
        }
    }
}

/// A closed set of words stored in one column (`tickets.status`, `participants.role`, ...).
pub trait Stored: Copy + Sized {
    /// `table.column`, for errors.
    const COLUMN: &'static str;
    fn as_str(self) -> &'static str;
    fn parse(text: &str) -> Option<Self>;
}

/// An open transaction on either engine. Dropped without `commit`, it rolls back.
pub enum Tx<'c> {
    Sqlite(rusqlite::Transaction<'c>),
    Postgres(postgres::Transaction<'c>, &'c mut PgStatements),
}

/// The statements prepared on one PostgreSQL connection, by SQL text. Without them every query
/// was prepared anew: two round trips (parse, then bind and execute) instead of one, for each of
/// the ~40 statements of an ingest. Prepared statements outlive transactions, rolled back or not.
/// A statement that fails is dropped from the cache, so one invalidated by a schema change (another
/// daemon's migration: "cached plan must not change result type") is prepared again next time.
#[derive(Default)]
pub struct PgStatements(std::collections::HashMap<String, postgres::Statement>);

/// Distinct statements kept per connection; past it the cache starts again (the application has
/// fewer than this; SQL built with a varying number of parameters would otherwise grow it forever).
const PG_STATEMENTS: usize = 512;

impl PgStatements {
    fn prepared(
        &mut self,
        tx: &mut postgres::Transaction<'_>,
        sql: &str,
    ) -> Result<postgres::Statement, StoreError> {
        if let Some(statement) = self.0.get(sql) {
            return Ok(statement.clone());
        }
        let statement = tx.prepare(sql)?;
        if self.0.len() >= PG_STATEMENTS {
            self.0.clear();
        }
        self.0.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    /// Runs `run` with the prepared `sql`; forgets the statement when it fails.
    fn run<T>(
        &mut self,
        tx: &mut postgres::Transaction<'_>,
        sql: &str,
        run: impl FnOnce(&mut postgres::Transaction<'_>, &postgres::Statement) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let statement = self.prepared(tx, sql)?;
        run(tx, &statement).map_err(|error| {
            self.0.remove(sql);
            StoreError::from(error)
        })
    }
}

impl Tx<'_> {
    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(..) => Backend::Postgres,
        }
    }

    /// Runs a statement; returns the number of rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[Value<'_>]) -> Result<u64, StoreError> {
        self.execute_bare(sql, params).map_err(|e| e.during(sql))
    }

    fn execute_bare(&mut self, sql: &str, params: &[Value<'_>]) -> Result<u64, StoreError> {
        match self {
            Tx::Sqlite(tx) => {
                let mut stmt = tx.prepare_cached(&sqlite_sql(sql))?;
                Ok(stmt.execute(rusqlite::params_from_iter(params.iter()))? as u64)
            }
            Tx::Postgres(tx, statements) => {
                statements.run(tx, sql, |tx, statement| tx.execute(statement, &pg_params(params)))
            }
        }
    }

    /// The first row mapped by `map`, or `None`.
    pub fn query_opt<T>(
        &mut self,
        sql: &str,
        params: &[Value<'_>],
        map: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.query_opt_bare(sql, params, map).map_err(|e| e.during(sql))
    }

    fn query_opt_bare<T>(
        &mut self,
        sql: &str,
        params: &[Value<'_>],
        map: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        match self {
            Tx::Sqlite(tx) => {
                let mut stmt = tx.prepare_cached(&sqlite_sql(sql))?;
                let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
                match rows.next()? {
                    Some(row) => Ok(Some(map(&Row::Sqlite(row))?)),
                    None => Ok(None),
                }
            }
            Tx::Postgres(tx, statements) => {
                match statements.run(tx, sql, |tx, statement| tx.query_opt(statement, &pg_params(params)))? {
                    Some(row) => Ok(Some(map(&Row::Postgres(&row))?)),
                    None => Ok(None),
                }
            }
        }
    }

    /// Exactly one row (`StoreError::NotFound` otherwise).
    pub fn query_one<T>(
        &mut self,
        sql: &str,
        params: &[Value<'_>],
        map: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.query_opt(sql, params, map)?.ok_or_else(|| StoreError::NotFound.during(sql))
    }

    /// Every row, mapped.
    pub fn query_all<T>(
        &mut self,
        sql: &str,
        params: &[Value<'_>],
        map: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.query_all_bare(sql, params, map).map_err(|e| e.during(sql))
    }

    fn query_all_bare<T>(
        &mut self,
        sql: &str,
        params: &[Value<'_>],
        mut map: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        match self {
            Tx::Sqlite(tx) => {
                let mut stmt = tx.prepare_cached(&sqlite_sql(sql))?;
                let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
                let mut all = Vec::new();
                while let Some(row) = rows.next()? {
                    all.push(map(&Row::Sqlite(row))?);
                }
                Ok(all)
            }
            Tx::Postgres(tx, statements) => statements
                .run(tx, sql, |tx, statement| tx.query(statement, &pg_params(params)))?
                .iter()
                .map(|row| map(&Row::Postgres(row)))
                .collect(),
        }
    }

    /// Runs a script of several statements without parameters (migrations).
    pub fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => Ok(tx.execute_batch(sql)?),
            Tx::Postgres(tx, _) => Ok(tx.batch_execute(sql)?),
        }
    }

    pub fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => {
                index_noted_entries(&tx).map_err(|e| StoreError::from(e).during(INDEX_NOTED_ENTRIES))?;
                Ok(tx.commit()?)
            }
            Tx::Postgres(tx, _) => Ok(tx.commit()?),
        }
    }
}

/// The entries noted by the `entries` trigger in this transaction, into the search index in one
/// statement just before the commit (SQLite: migration 0020). The text indexed is what the
/// trigger indexed before: subject, text without quoted history, the author's name and address.
/// Public for the queue bench, which builds its data set straight through SQL.
pub const INDEX_NOTED_ENTRIES: &str = "INSERT INTO entry_search (rowid, subject, body, people)
     SELECT e.id, e.subject, COALESCE(e.stripped_text, e.body_text),
            COALESCE((SELECT COALESCE(u.name, '') || ' ' || u.email FROM users u WHERE u.id = e.author_user_id),
                     (SELECT a.name || ' ' || a.key FROM agents a WHERE a.id = e.author_agent_id), '')
       FROM entry_search_pending p JOIN entries e ON e.id = p.entry_id";

/// Runs [`INDEX_NOTED_ENTRIES`] and forgets the notes. A database without them (one that is not
/// migrated yet) has nothing to index: the check reads SQLite's in-memory schema, no statement.
fn index_noted_entries(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    if !tx.table_exists(Some("main"), "entry_search_pending")? {
        return Ok(());
    }
    tx.prepare_cached(INDEX_NOTED_ENTRIES)?.execute([])?;
    tx.prepare_cached("DELETE FROM entry_search_pending")?.execute([])?;
    Ok(())
}

/// What `sql` does, for error messages: "reading tickets", "inserting into inbound", "updating
/// outbox", "deleting from sessions"; the first word of anything else ("running PRAGMA").
pub(crate) fn operation(sql: &str) -> String {
    let words: Vec<&str> = sql.split_whitespace().collect();
    let upper = |w: &&str| w.to_ascii_uppercase();
    // The first table named after `keyword` (a subquery's parenthesis is not a table).
    let after = |keyword: &str| {
        words.windows(2).find(|pair| upper(&pair[0]) == keyword && !pair[1].starts_with('(')).map(|pair| {
            pair[1].trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).to_ascii_lowercase()
        })
    };
    let first = words.first().map(upper);
    let verb = if first.as_deref() == Some("WITH") {
        // A common table expression: the statement is what follows it (a write if there is one).
        let verbs = ["INSERT", "UPDATE", "DELETE"];
        Some(words.iter().map(upper).find(|w| verbs.contains(&w.as_str())).unwrap_or_else(|| "SELECT".into()))
    } else {
        first
    };
    let named = |what: &str, keyword: &str| match after(keyword) {
        Some(table) if !table.is_empty() => format!("{what} {table}"),
        _ => what.trim_end_matches(" from").trim_end_matches(" into").to_string(),
    };
    match verb.as_deref() {
        Some("SELECT") => named("reading", "FROM"),
        Some("INSERT") => named("inserting into", "INTO"),
        Some("UPDATE") => named("updating", "UPDATE"),
        Some("DELETE") => named("deleting from", "FROM"),
        Some(other) => format!("running {other}"),
        None => "running an empty statement".to_string(),
    }
}

fn pg_params<'a>(params: &'a [Value<'a>]) -> Vec<&'a (dyn PgToSql + Sync)> {
    params.iter().map(|p| p as &(dyn PgToSql + Sync)).collect()
}

/// `$1` -> `?1`: SQLite reads `$1` as a *named* parameter numbered by first appearance, which
/// breaks statements that use `$2` before `$1`; `?N` is explicitly numbered. Text inside quotes
/// ('string literals', "identifiers") and `--` comments is copied as it is.
fn sqlite_sql(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    // Bytes, not chars: every delimiter is ASCII, and this runs for every statement of every
    // message (char by char it was 1.8% of in-process ingest).
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    // The byte that ends what we are inside of: a closing quote, or a comment's line feed.
    let mut inside: Option<u8> = None;
    for (at, &byte) in bytes.iter().enumerate() {
        match inside {
            Some(end) if byte == end => inside = None,
            Some(_) => {}
            None if byte == b'\'' || byte == b'"' => inside = Some(byte),
            None if byte == b'-' && bytes.get(at + 1) == Some(&b'-') => inside = Some(b'\n'),
            None if byte == b'$' && bytes.get(at + 1).is_some_and(u8::is_ascii_digit) => {
                out.push_str(&sql[copied..at]);
                out.push('?');
                copied = at + 1;
            }
            None => {}
        }
    }
    out.push_str(&sql[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_named_by_verb_and_table() {
        assert_eq!(operation("SELECT id FROM tickets WHERE number = $1"), "reading tickets");
        assert_eq!(operation("  insert into inbound (raw) VALUES ($1)"), "inserting into inbound");
        assert_eq!(operation("UPDATE outbox SET state = 'sent'"), "updating outbox");
        assert_eq!(operation("DELETE FROM sessions WHERE id = $1"), "deleting from sessions");
        assert_eq!(operation("SELECT 1"), "reading");
        assert_eq!(operation("PRAGMA user_version"), "running PRAGMA");
        assert_eq!(operation("SELECT x FROM (SELECT 1) s JOIN t ON 1 FROM tickets"), "reading tickets");
        assert_eq!(operation("WITH due AS (SELECT id FROM t) UPDATE outbox SET x = 1"), "updating outbox");
    }

    #[test]
    fn a_failed_statement_says_what_it_was_doing_once() {
        let error =
            StoreError::decode("status", "unknown value \"frozen\"").during("SELECT status FROM tickets");
        assert_eq!(error.to_string(), "reading tickets: column status: unknown value \"frozen\"");
        let twice = error.during("SELECT x FROM other");
        assert_eq!(twice.to_string(), "reading tickets: column status: unknown value \"frozen\"");
        assert!(StoreError::Pool(r2d2_unavailable()).during("SELECT 1").is_unavailable());
    }

    #[test]
    fn a_read_only_database_is_unavailable_not_a_bad_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        rusqlite::Connection::open(&path).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
        let reader =
            rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let error = reader.execute("INSERT INTO t VALUES (1)", []).expect_err("a read-only connection");
        let error = StoreError::from(error).during("INSERT INTO t VALUES (1)");
        assert!(error.is_unavailable(), "{error}");
        let syntax = reader.execute("INSERT INTO", []).expect_err("not SQL");
        assert!(!StoreError::from(syntax).is_unavailable(), "a bad statement is not");
    }

    fn r2d2_unavailable() -> r2d2::Error {
        let manager = r2d2_sqlite::SqliteConnectionManager::file("/nonexistent/dir/x.db");
        r2d2::Pool::builder()
            .connection_timeout(std::time::Duration::from_millis(10))
            .build(manager)
            .expect_err("no pool on a missing directory")
    }

    #[test]
    fn placeholders_become_numbered_for_sqlite() {
        assert_eq!(
            sqlite_sql("SELECT a FROM t WHERE b = $2 AND c = $1 OR d = $1"),
            "SELECT a FROM t WHERE b = ?2 AND c = ?1 OR d = ?1"
        );
        assert_eq!(sqlite_sql("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn quoted_text_and_comments_keep_their_dollars() {
        assert_eq!(
            sqlite_sql("SELECT '$1', \"a$2\" FROM t -- costs $3\nWHERE b = $1 AND c = 'it''s $2'"),
            "SELECT '$1', \"a$2\" FROM t -- costs $3\nWHERE b = ?1 AND c = 'it''s $2'"
        );
        assert_eq!(
            sqlite_sql("SELECT 'Grüße $1' || $1, $10 -- ü $2"),
            "SELECT 'Grüße $1' || ?1, ?10 -- ü $2"
        );
    }
}
