//! PostgreSQL as an admin runs it: unreachable, or stopped and started again under a stream of
//! piped messages (every message stored once), and reached over TLS with each `sslmode`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::pg_server::PgServer;
use common::site::{code, run_with, text};
use mailgate::store::{Store, StoreOptions};

fn write_config(dir: &Path, url: &str, extra: &str) -> PathBuf {
    let file = dir.join("mailgate.toml");
    let text = format!(
        "[instance]\nsupport_addresses = [\"support@example.com\"]\n\n[database]\nurl = \"{url}\"\nbusy_timeout_ms = 1000\n{extra}"
    );
    std::fs::write(&file, text).unwrap();
    file
}

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: Customer {n} <c{n}@customer.test>\r\nTo: support@example.com\r\nSubject: Question {n}\r\n\
         Message-ID: <outage-{n}@customer.test>\r\n\r\nHello, question {n}.\r\n"
    )
    .into_bytes()
}

#[test]
fn pipe_exits_75_while_postgres_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::ports::free_port();
    let config =
        write_config(dir.path(), &format!("postgres://mailgate:mailgate@127.0.0.1:{port}/mailgate"), "");
    let out = run_with(&config, &["pipe"], &message(1));
    assert_eq!(code(&out), 75, "{}", text(&out));
    assert!(text(&out).contains("try again later"), "{}", text(&out));
}

/// An MTA delivering `messages` over three connections, retrying each on exit 75, while the
/// database is stopped and started again: every message ends stored exactly once.
#[test]
fn postgres_stopped_mid_run_then_restarted_stores_every_message_once() {
    let Some(server) = PgServer::start(false) else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(write_config(dir.path(), &server.url("127.0.0.1", "sslmode=disable"), ""));
    assert_eq!(code(&run_with(&config, &["migrate"], b"")), 0);

    const MESSAGES: usize = 60;
    let next = Arc::new(AtomicUsize::new(0));
    let delivered = Arc::new(AtomicUsize::new(0));
    let deferred = Arc::new(AtomicUsize::new(0));
    let mta: Vec<_> = (0..3)
        .map(|_| {
            let (config, next, delivered, deferred) =
                (config.clone(), next.clone(), delivered.clone(), deferred.clone());
            std::thread::spawn(move || {
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= MESSAGES {
                        return;
                    }
                    for attempt in 0.. {
                        let out = run_with(&config, &["pipe"], &message(n));
                        match code(&out) {
                            0 => break,
                            75 if attempt < 200 => {
                                deferred.fetch_add(1, Ordering::SeqCst);
                                std::thread::sleep(Duration::from_millis(100));
                            }
                            _ => panic!("message {n}, attempt {attempt}: {}", text(&out)),
                        }
                    }
                    delivered.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();

    while delivered.load(Ordering::SeqCst) < 15 {
        std::thread::sleep(Duration::from_millis(10));
    }
    server.stop();
    std::thread::sleep(Duration::from_millis(1500));
    server.start_again();
    for thread in mta {
        thread.join().unwrap();
    }

    assert!(deferred.load(Ordering::SeqCst) > 0, "the outage deferred no delivery: the test proved nothing");
    let url = server.url("127.0.0.1", "sslmode=disable");
    let counts = block_on(async move {
        let store = Store::connect(&url, &StoreOptions::default()).unwrap();
        store
            .read(|tx| {
                tx.query_one(
                    "SELECT (SELECT COUNT(*) FROM inbound), (SELECT COUNT(DISTINCT dedupe_key) FROM inbound), \
                     (SELECT COUNT(*) FROM tickets), (SELECT COUNT(*) FROM entries)",
                    &[],
                    |r| Ok((r.i64(0)?, r.i64(1)?, r.i64(2)?, r.i64(3)?)),
                )
            })
            .await
            .unwrap()
    });
    let n = MESSAGES as i64;
    assert_eq!(counts, (n, n, n, n), "inbound rows, distinct keys, tickets, entries");
}

/// Whether the store's connection is encrypted, or the error it gets connecting.
fn connection_is_tls(url: &str, ca: Option<&Path>) -> Result<bool, String> {
    let ca_roots = match ca {
        Some(file) => rustls_pki_types::pem::PemObject::pem_file_iter(file)
            .unwrap()
            .collect::<Result<Vec<rustls_pki_types::CertificateDer<'static>>, _>>()
            .unwrap(),
        None => Vec::new(),
    };
    let options =
        StoreOptions { connect_timeout: Duration::from_secs(3), ca_roots, ..StoreOptions::default() };
    let store = Store::connect(url, &options).map_err(|e| e.to_string())?;
    block_on(async move {
        store
            .read(|tx| tx.query_one(
                "SELECT CAST(CASE WHEN ssl THEN 1 ELSE 0 END AS BIGINT) FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
                |r| r.bool(0),
            ))
            .await
            .map_err(|e| e.to_string())
    })
}

fn block_on<T>(work: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(work)
}

#[test]
fn each_sslmode_does_what_libpq_does() {
    let Some(server) = PgServer::start(true) else { return };
    let (ca, other) = (server.ca(), server.other_ca());
    // The certificate names `localhost` only.
    let at = |host: &str, mode: &str| server.url(host, &format!("sslmode={mode}"));

    assert_eq!(connection_is_tls(&at("127.0.0.1", "disable"), None), Ok(false));
    assert_eq!(
        connection_is_tls(&at("127.0.0.1", "prefer"), None),
        Ok(true),
        "prefer takes TLS when offered"
    );
    assert_eq!(
        connection_is_tls(&at("127.0.0.1", "require"), None),
        Ok(true),
        "require checks no certificate"
    );
    assert_eq!(connection_is_tls(&at("localhost", "verify-full"), Some(&ca)), Ok(true));
    assert_eq!(
        connection_is_tls(&at("127.0.0.1", "verify-ca"), Some(&ca)),
        Ok(true),
        "verify-ca ignores the name"
    );

    let wrong_name = connection_is_tls(&at("127.0.0.1", "verify-full"), Some(&ca)).unwrap_err();
    assert!(wrong_name.contains("certificate not valid for name \"127.0.0.1\""), "{wrong_name}");
    for mode in ["verify-full", "verify-ca", "require"] {
        let error = connection_is_tls(&at("localhost", mode), Some(&other)).unwrap_err();
        assert!(
            error.contains("invalid peer certificate") && error.contains("UnknownIssuer"),
            "{mode}: {error}"
        );
    }
    let no_ca = connection_is_tls(&at("localhost", "verify-full"), None).unwrap_err();
    assert!(no_ca.contains("UnknownIssuer"), "a private CA is not among the public roots: {no_ca}");
}

/// The binary, configured as the README says: `database.ca_file` or the URL's `sslrootcert`.
#[test]
fn commands_reach_postgres_over_verified_tls_and_refuse_a_wrong_ca() {
    let Some(server) = PgServer::start(true) else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("localhost", "sslmode=verify-full");
    let ca_file = format!("ca_file = \"{}\"\n", server.ca().display());
    let config = write_config(dir.path(), &url, &ca_file);
    let out = run_with(&config, &["pipe"], &message(1));
    assert_eq!(code(&out), 0, "{}", text(&out));
    let rootcert = format!("{url}&sslrootcert={}", server.ca().display());
    let config = write_config(dir.path(), &rootcert, "");
    let out = run_with(&config, &["ticket", "list"], b"");
    assert!(code(&out) == 0 && text(&out).contains("Question 1"), "{}", text(&out));

    let config = write_config(dir.path(), &url, &format!("ca_file = \"{}\"\n", server.other_ca().display()));
    let out = run_with(&config, &["pipe"], &message(2));
    assert_eq!(code(&out), 75, "{}", text(&out));
    assert!(text(&out).contains("invalid peer certificate: UnknownIssuer"), "{}", text(&out));

    let bad_mode = write_config(dir.path(), &server.url("localhost", "sslmode=verify"), "");
    let out = run_with(&bad_mode, &["check-config"], b"");
    assert_eq!(code(&out), 78, "{}", text(&out));
    assert!(text(&out).contains("sslmode=verify is not one of"), "{}", text(&out));
}

/// Several processes starting at once after the directory changed (daemons restarted together,
/// pipes arriving meanwhile) each sync it or find it synced: none fails on a unique index.
#[test]
fn concurrent_starts_after_a_directory_change_all_succeed() {
    let Some(site) = common::site::Site::new(common::Backend::Postgres, "") else { return };
    let base = std::fs::read_to_string(site.config()).unwrap();
    for round in 0..8 {
        // A new agent each round changes the fingerprint, so every round syncs again.
        let agents: String = (0..6 + round)
            .map(|n| format!("\n[[agents]]\nkey = \"agent{n}\"\nemails = [\"agent{n}@example.com\"]\n"))
            .collect();
        std::fs::write(site.config(), format!("{base}{agents}")).unwrap();
        let config = site.config();
        let outs: Vec<_> = std::thread::scope(|scope| {
            let starts: Vec<_> =
                (0..3).map(|_| scope.spawn(|| run_with(&config, &["migrate"], b""))).collect();
            starts.into_iter().map(|start| start.join().unwrap()).collect()
        });
        for out in outs {
            assert_eq!(code(&out), 0, "round {round}: {}", text(&out));
        }
        let active = site.scalar("SELECT COUNT(*) FROM agents WHERE active = 1");
        assert_eq!(active, 6 + round as i64, "round {round}");
    }
}

/// An error the server sends is shown with its message, not as "db error".
#[test]
fn a_postgres_error_names_what_the_server_said() {
    let Some(url) = common::test_pg_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let missing = match url.split_once('?') {
        Some((base, query)) => format!("{}/no_such_database?{query}", base.rsplit_once('/').unwrap().0),
        None => format!("{}/no_such_database", url.rsplit_once('/').unwrap().0),
    };
    let config = write_config(dir.path(), &missing, "");
    let out = run_with(&config, &["migrate"], b"");
    assert_ne!(code(&out), 0);
    assert!(text(&out).contains("\"no_such_database\" does not exist"), "{}", text(&out));
    assert!(!text(&out).contains("db error\n"), "{}", text(&out));
}
