//! Shared test harness: a fresh database per test (SQLite in a temp dir, or a new database on the
//! PostgreSQL named by `MAILGATE_TEST_PG`), a config around it, and a builder for test messages.
#![allow(dead_code)]

pub mod browser;
pub mod http;
pub mod imap;
pub mod ldap_server;
pub mod oidc_provider;
pub mod pg_server;
pub mod ports;
pub mod site;
pub mod smtp;
pub mod test_ca;

use std::sync::Arc;

use mailgate::app::App;
use mailgate::clock::FixedClock;
use mailgate::config::{self, Config};
use mailgate::ingest::{Delivery, Ingestor, Outcome, Report};
use mailgate::store::inbound::Source;
use mailgate::workflow::Workflows;

/// Whether a missing test resource must fail the test: under `scripts/test.sh` (which sets
/// `MAILGATE_REQUIRE_ALL`) and whenever `CI=true`. A plain `cargo test` on a laptop may skip.
pub fn resources_required() -> bool {
    std::env::var_os("MAILGATE_REQUIRE_ALL").is_some() || std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The one door for "this test needs X": `true` when `available`; otherwise a failure naming what
/// is missing and how to get it when resources are required, else `false` with a "skipped" note.
pub fn require(available: bool, what: &str, how: &str) -> bool {
    require_if(resources_required(), available, what, how)
}

/// `require` with the policy given: `required` turns a missing resource into a failure.
pub fn require_if(required: bool, available: bool, what: &str, how: &str) -> bool {
    if available {
        return true;
    }
    assert!(!required, "missing test resource: {what} ({how})");
    eprintln!("skipped: {what} ({how})");
    false
}

/// The PostgreSQL server's admin URL (`MAILGATE_TEST_PG`), or `None` after `require` said skip.
pub fn test_pg_url() -> Option<String> {
    let url = std::env::var("MAILGATE_TEST_PG").ok();
    require(
        url.is_some(),
        "PostgreSQL: MAILGATE_TEST_PG is not set",
        "scripts/test.sh starts a throwaway server and sets it",
    )
    .then(|| url.expect("checked"))
}

/// 2026-11-23 00:00:00 UTC.
pub const T0: i64 = 1_795_392_000_000;
pub const DAY_MS: i64 = 86_400_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQL that makes every insert of an entry whose text contains `POISON` fail, as a fault of the
/// pipeline on one message would; [`cure`] removes it.
pub fn poison_entries(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "CREATE TRIGGER poison BEFORE INSERT ON entries WHEN NEW.body_text LIKE '%POISON%' \
             BEGIN SELECT RAISE(ABORT, 'poisoned entry'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.body_text LIKE '%POISON%' THEN RAISE EXCEPTION 'poisoned entry'; END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER poison BEFORE INSERT ON entries FOR EACH ROW EXECUTE FUNCTION poison();"
        }
    }
}

/// Undoes [`poison_entries`].
pub fn cure(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "DROP TRIGGER poison",
        Backend::Postgres => "DROP TRIGGER poison ON entries",
    }
}

/// A throwaway database; the temp dir (SQLite) lives as long as this value.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// `None` when the backend is not available here (PostgreSQL without `MAILGATE_TEST_PG`).
    pub async fn new(backend: Backend) -> Option<TestDb> {
        tokio::task::spawn_blocking(move || Self::new_blocking(backend))
            .await
            .expect("create a test database")
    }

    /// `new` for code outside an async runtime (the synchronous postgres client needs that).
    pub fn new_blocking(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("mailgate.db").display());
                Some(TestDb { url, _dir: Some(dir) })
            }
            Backend::Postgres => {
                let admin_url = test_pg_url()?;
                let name = format!("mg_test_{:016x}", rand::random::<u64>());
                let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls)
                    .expect("connect to MAILGATE_TEST_PG");
                admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create test database");
                let (base, _) = admin_url.rsplit_once('/').expect("database url has a path");
                // With the test server's CA at hand, every PostgreSQL test (the pool and the IMAP
                // lease alike) runs over TLS with the certificate checked, as across a network.
                let tls = match std::env::var("MG_PG_CA") {
                    Ok(ca) => format!("?sslmode=verify-full&sslrootcert={ca}"),
                    Err(_) => String::new(),
                };
                Some(TestDb { url: format!("{base}/{name}{tls}"), _dir: None })
            }
        }
    }
}

/// The test directory: agents alice and bob, team billing (bob), org `acme` (acme.com, primary
/// contact boss@acme.com, assigned to alice, custom tier gold), org `globex` (globex.com, alerts
/// team billing).
pub const DIRECTORY: &str = r#"
[[agents]]
key = "alice"
name = "Alice Agent"
emails = ["alice@example.com"]

[[agents]]
key = "bob"
name = "Bob Agent"
emails = ["bob@example.com", "bob.agent@example.com"]

[[teams]]
key = "billing"
name = "Billing"
members = ["bob"]

[[orgs]]
key = "acme"
name = "ACME Corp"
domains = ["acme.com"]
primary_contacts = ["boss@acme.com"]
account_manager = "agent:alice"
manager_mode = "assign"
custom = { tier = "gold" }

[[orgs]]
key = "globex"
name = "Globex"
domains = ["globex.com"]
account_manager = "team:billing"
manager_mode = "alert"
"#;

/// The config used by tests: our address support@example.com, org `acme` (acme.com, primary contact
/// boss@acme.com, managed by agent alice), org `globex` (globex.com, alert to team billing), agents
/// alice and bob, team billing. `extra` is appended verbatim.
pub fn test_config(db: &TestDb, extra: &str) -> Config {
    let text = format!(
        r#"
[instance]
support_addresses = ["support@example.com"]
message_id_domain = "mg.mailgate.test"

[database]
url = "{url}"
busy_timeout_ms = 2000

{DIRECTORY}
{extra}
"#,
        url = db.url
    );
    config::from_toml(&text, "<test>").unwrap_or_else(|e| panic!("test config invalid:\n{e}"))
}

/// A database, a clock pinned at `T0`, and the app context, the mail pipeline and the ticket
/// workflows on them.
pub struct Harness {
    pub db: TestDb,
    pub config: Config,
    pub clock: FixedClock,
    pub app: App,
    pub ingestor: Ingestor,
    pub workflows: Workflows,
}

impl Harness {
    pub async fn new(backend: Backend) -> Option<Harness> {
        Self::with_config(backend, "").await
    }

    pub async fn with_config(backend: Backend, extra: &str) -> Option<Harness> {
        let db = TestDb::new(backend).await?;
        let config = test_config(&db, extra);
        Some(Harness::open(db, config, FixedClock::at(T0)).await)
    }

    /// Opens `config` (on `db`) with `clock`.
    pub async fn open(db: TestDb, config: Config, clock: FixedClock) -> Harness {
        let app = mailgate::app::open_with_clock(&config, Arc::new(clock.clone())).await.expect("open store");
        let (ingestor, workflows) = (Ingestor::new(app.clone()), Workflows::new(app.clone()));
        Harness { db, config, clock, app, ingestor, workflows }
    }

    pub async fn pipe(&self, raw: &str) -> Report {
        self.ingestor.ingest(raw.as_bytes(), &Delivery::new(Source::Pipe)).await.expect("ingest")
    }

    pub async fn scalar_i64(&self, sql: &'static str) -> i64 {
        self.read(move |tx| tx.query_one(sql, &[], |r| r.i64(0))).await
    }

    /// Every row's first column; `$1` (if the query has it) is bound to `bind`.
    pub async fn strings(&self, sql: &'static str, bind: &str) -> Vec<String> {
        let bind = bind.to_string();
        self.read(move |tx| {
            let params = if sql.contains("$1") { vec![mailgate::store::Value::Text(&bind)] } else { vec![] };
            tx.query_all(sql, &params, |r| r.string(0))
        })
        .await
    }

    /// Runs `work` in a write transaction (test setup that no workflow provides yet).
    pub async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut mailgate::store::Tx<'_>) -> mailgate::store::Result<T> + Send + 'static,
    ) -> T {
        self.app.store().write(work).await.unwrap()
    }

    pub async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut mailgate::store::Tx<'_>) -> mailgate::store::Result<T> + Send + 'static,
    ) -> T {
        self.app.store().read(work).await.unwrap()
    }
}

/// Generates `<name>_sqlite` and `<name>_postgres` tests from `async fn name(backend: Backend)`;
/// the PostgreSQL one skips (or fails, see `require`) when `MAILGATE_TEST_PG` is unset.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::common::Backend::Sqlite).await; }
        )* }
        mod postgres { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if super::common::test_pg_url().is_none() {
                    return;
                }
                super::$name(super::common::Backend::Postgres).await;
            }
        )* }
    };
}

/// `on_both_backends!` for synchronous tests (`fn name(backend: Backend)`), such as those that
/// spawn the `mailgate` binary.
#[macro_export]
macro_rules! on_both_backends_blocking {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $(
            #[test]
            fn $name() { super::$name(super::common::Backend::Sqlite); }
        )* }
        mod postgres { $(
            #[test]
            fn $name() {
                if super::common::test_pg_url().is_none() {
                    return;
                }
                super::$name(super::common::Backend::Postgres);
            }
        )* }
    };
}

/// A test message. Every field has a sensible default; `build()` renders RFC 5322 with CRLF.
#[derive(Clone, Debug)]
pub struct Mail {
    pub from: String,
    pub to: String,
    pub cc: Option<String>,
    pub subject: String,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Option<String>,
    pub headers: Vec<String>,
    pub body: String,
}

impl Mail {
    pub fn new(from: &str, subject: &str, body: &str) -> Mail {
        Mail {
            from: from.to_string(),
            to: "Support <support@example.com>".to_string(),
            cc: None,
            subject: subject.to_string(),
            message_id: Some(format!("<{:016x}@client.test>", rand::random::<u64>())),
            in_reply_to: None,
            references: None,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    pub fn id(mut self, id: &str) -> Mail {
        self.message_id = Some(id.to_string());
        self
    }
    pub fn no_id(mut self) -> Mail {
        self.message_id = None;
        self
    }
    pub fn cc(mut self, cc: &str) -> Mail {
        self.cc = Some(cc.to_string());
        self
    }
    pub fn in_reply_to(mut self, id: &str) -> Mail {
        self.in_reply_to = Some(id.to_string());
        self
    }
    pub fn references(mut self, refs: &str) -> Mail {
        self.references = Some(refs.to_string());
        self
    }
    pub fn header(mut self, line: &str) -> Mail {
        self.headers.push(line.to_string());
        self
    }

    pub fn build(&self) -> String {
        let mut s = format!("From: {}\r\nTo: {}\r\n", self.from, self.to);
        if let Some(cc) = &self.cc {
            s += &format!("Cc: {cc}\r\n");
        }
        s += &format!("Subject: {}\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n", self.subject);
        if let Some(id) = &self.message_id {
            s += &format!("Message-ID: {id}\r\n");
        }
        if let Some(id) = &self.in_reply_to {
            s += &format!("In-Reply-To: {id}\r\n");
        }
        if let Some(refs) = &self.references {
            s += &format!("References: {refs}\r\n");
        }
        for h in &self.headers {
            s += &format!("{h}\r\n");
        }
        s += "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
        s += &self.body.replace('\n', "\r\n");
        s
    }
}

pub fn created(report: &Report) -> (mailgate::core::ids::TicketId, String) {
    match &report.outcome {
        Outcome::Created { ticket, number, .. } => (*ticket, number.to_string()),
        other => panic!("expected a new ticket, got {other:?}\n{}", report.trace),
    }
}

pub fn added(report: &Report) -> (mailgate::core::ids::TicketId, String) {
    match &report.outcome {
        Outcome::Added { ticket, number, .. } => (*ticket, number.to_string()),
        other => panic!("expected an addition to a ticket, got {other:?}\n{}", report.trace),
    }
}
