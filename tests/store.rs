//! The store's contract, on SQLite and (with MAILGATE_TEST_PG) PostgreSQL: error classification,
//! idempotent migrations, rollback of dry runs, and concurrent writers storing a message once.

mod common;

use std::sync::Arc;

use common::{Backend, Harness, Mail};
use mailgate::core::address::EmailAddress;
use mailgate::ingest::{Delivery, Outcome};
use mailgate::store::inbound::{self as inbound_store, NewInbound, Source};
use mailgate::store::{Store, StoreOptions, users as user_store};

on_both_backends!(
    migrations_are_idempotent,
    unique_violations_are_classified,
    rehearsal_rolls_back,
    concurrent_duplicates_are_stored_once,
    concurrent_first_contacts_create_one_user,
    an_unknown_word_in_a_column_is_an_error_naming_it,
    a_statement_a_schema_change_broke_is_prepared_again,
);

/// PostgreSQL keeps each connection's prepared statements: one whose result type a schema change
/// altered (another daemon's migration) fails once, is forgotten, and works when run again. On
/// SQLite the same steps simply work.
async fn a_statement_a_schema_change_broke_is_prepared_again(backend: Backend) {
    let Some(db) = common::TestDb::new(backend).await else { return };
    let options = StoreOptions { max_connections: 1, ..StoreOptions::default() };
    let store = Store::connect(&db.url, &options).unwrap();
    store.write(|tx| tx.batch("CREATE TABLE gauge (id BIGINT PRIMARY KEY, level INTEGER)")).await.unwrap();
    store.write(|tx| tx.execute("INSERT INTO gauge VALUES (1, 7)", &[])).await.unwrap();
    let read = || {
        store.read(|tx| {
            tx.query_one("SELECT * FROM gauge WHERE id = $1", mailgate::params![1i64], |r| r.i64(1))
        })
    };
    assert_eq!(read().await.unwrap(), 7);
    store.write(|tx| tx.batch("ALTER TABLE gauge ADD COLUMN note TEXT")).await.unwrap();
    let first = read().await;
    if backend == Backend::Postgres {
        let error = first.expect_err("the cached plan's result type changed");
        assert!(error.to_string().contains("cached plan must not change result type"), "{error}");
    }
    assert_eq!(read().await.unwrap(), 7, "prepared again");
}

/// A status this version does not know (written by a newer version, or by hand) is an error that
/// names the column, never read as some default: the ticket would otherwise be shown and treated
/// as open.
async fn an_unknown_word_in_a_column_is_an_error_naming_it(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let report = h.pipe(&Mail::new("ann@customer.test", "Printer", "It is on fire.").build()).await;
    let (ticket, number) = common::created(&report);
    h.write(move |tx| {
        tx.execute("UPDATE tickets SET status = 'escalated' WHERE id = $1", mailgate::params![ticket])
    })
    .await;
    let err = h
        .app
        .store()
        .read(move |tx| mailgate::store::tickets::find_ticket_state_by_number(tx, &number.parse().unwrap()))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "reading tickets: column tickets.status: unknown value \"escalated\"");
    h.write(move |tx| {
        tx.execute("UPDATE participants SET role = 'boss' WHERE ticket_id = $1", mailgate::params![ticket])
    })
    .await;
    let err = h
        .app
        .store()
        .read(move |tx| mailgate::store::tickets::list_participants(tx, ticket))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "reading participants: column participants.role: unknown value \"boss\"");
}

async fn migrations_are_idempotent(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    h.app.store().migrate().await.unwrap();
    h.app.store().migrate().await.unwrap();
    let shipped =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite")).unwrap().count();
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM schema_migrations").await, shipped as i64);
}

async fn unique_violations_are_classified(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let insert = |tx: &mut mailgate::store::Tx<'_>| {
        inbound_store::insert_inbound(
            tx,
            &NewInbound {
                dedupe_key: "k",
                source: Source::Pipe,
                mailbox: None,
                imap_uid: None,
                raw: b"x",
                received_at: 0,
            },
        )
    };
    h.write(insert).await;
    let err = h.app.store().write(insert).await.unwrap_err();
    assert!(err.is_unique_violation(), "{err}");
    assert!(!err.is_unavailable(), "{err}");
}

async fn rehearsal_rolls_back(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let email = EmailAddress::parse("ghost@example.org").unwrap();
    let created =
        h.app.store().rehearse(move |tx| user_store::ensure_user(tx, &email, None, None, 0)).await.unwrap();
    assert!(created.1);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM users WHERE email = 'ghost@example.org'").await, 0);
}

/// Two writers (two daemons on PostgreSQL) ingest the same message at once: one stores it, the other
/// sees a duplicate, whoever wins.
async fn concurrent_duplicates_are_stored_once(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let ingestor = Arc::new(h.ingestor);
    let mut outcomes = Vec::new();
    for round in 0..10 {
        let raw = Mail::new("jane@example.org", "race", "same message")
            .id(&format!("<race-{round}@client.test>"))
            .build();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (ingestor, raw) = (ingestor.clone(), raw.clone());
                tokio::spawn(async move {
                    ingestor.ingest(raw.as_bytes(), &Delivery::new(Source::Pipe)).await.unwrap()
                })
            })
            .collect();
        for task in tasks {
            outcomes.push(task.await.unwrap().outcome);
        }
    }
    let created = outcomes.iter().filter(|o| matches!(o, Outcome::Created { .. })).count();
    let duplicates = outcomes.iter().filter(|o| **o == Outcome::Duplicate).count();
    assert_eq!((created, duplicates), (10, 30), "{outcomes:?}");
    let store = ingestor.app().store().clone();
    let inbound =
        store.read(|tx| tx.query_one("SELECT COUNT(*) FROM inbound", &[], |r| r.i64(0))).await.unwrap();
    assert_eq!(inbound, 10);
}

/// Messages from a new sender racing each other create the user once.
async fn concurrent_first_contacts_create_one_user(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let ingestor = Arc::new(h.ingestor);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let ingestor = ingestor.clone();
            let raw = Mail::new("Newcomer <new@example.org>", &format!("question {i}"), "hello").build();
            tokio::spawn(async move {
                ingestor.ingest(raw.as_bytes(), &Delivery::new(Source::Pipe)).await.unwrap()
            })
        })
        .collect();
    for task in tasks {
        assert!(matches!(task.await.unwrap().outcome, Outcome::Created { .. }));
    }
    let store = ingestor.app().store().clone();
    let users = store
        .read(|tx| {
            tx.query_one("SELECT COUNT(*) FROM users WHERE email = 'new@example.org'", &[], |r| r.i64(0))
        })
        .await
        .unwrap();
    assert_eq!(users, 1);
}

#[tokio::test]
async fn an_unreachable_postgres_is_unavailable() {
    // Nothing listens on port 1 of loopback.
    let options =
        StoreOptions { connect_timeout: std::time::Duration::from_millis(500), ..StoreOptions::default() };
    let store = Store::connect("postgres://nobody:x@127.0.0.1:1/none", &options).unwrap();
    let err = store.read(|tx| tx.query_one("SELECT 1", &[], |r| r.i64(0))).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
}

#[tokio::test]
async fn a_locked_sqlite_database_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let options =
        StoreOptions { busy_timeout: std::time::Duration::from_millis(100), ..StoreOptions::default() };
    let store = Store::connect(&url, &options).unwrap();
    store.migrate().await.unwrap();
    let holder = rusqlite::Connection::open(dir.path().join("m.db")).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = store.write(|tx| tx.execute("DELETE FROM meta", &[])).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    // Said once, however it is printed: as itself, wrapped by the ingest, or as a whole chain.
    let ingest = mailgate::ingest::IngestError::from(err);
    let chain = format!("{:#}", anyhow::Error::from(ingest));
    assert_eq!(chain.matches("database is locked").count(), 1, "{chain}");
    assert!(chain.starts_with("database unavailable: sqlite: database is locked"), "{chain}");
    holder.execute_batch("ROLLBACK").unwrap();
    store.write(|tx| tx.execute("DELETE FROM meta", &[])).await.unwrap();
}
