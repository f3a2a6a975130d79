//! Running mailgate as a service: the systemd unit in `contrib/` passes `systemd-analyze verify`,
//! `serve` speaks the notify protocol (READY once it listens, WATCHDOG pings, STOPPING), and
//! `mailgate backup` copies a SQLite database consistently while pipes keep writing.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::site::{Site, code, run_with, text};
use common::{Backend, Harness, Mail, require};

const UNIT: &str = include_str!("../contrib/mailgate.service");

#[test]
fn the_service_unit_passes_systemd_analyze_verify() {
    let present =
        Command::new("systemd-analyze").arg("--version").output().is_ok_and(|out| out.status.success());
    if !require(present, "systemd-analyze", "apt-get install systemd") {
        return;
    }
    for directive in [
        "Type=notify",
        "WatchdogSec=",
        "User=mailgate",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "ReadWritePaths=/var/lib/mailgate",
        "ExecStart=/usr/bin/mailgate --config /etc/mailgate/mailgate.toml serve",
    ] {
        assert!(UNIT.lines().any(|line| line.starts_with(directive)), "the unit lacks {directive}");
    }
    // verify checks that ExecStart's program exists: point it at the binary under test, the only
    // change. Unknown keys and unparsable values are warnings with exit 0, so any output fails.
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("mailgate.service");
    std::fs::write(&unit, UNIT.replace("/usr/bin/mailgate", env!("CARGO_BIN_EXE_mailgate"))).unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&unit).output().unwrap();
    assert!(out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(), "{}", text(&out));

    // The check itself must be able to fail: a misspelt key is reported.
    std::fs::write(
        &unit,
        UNIT.replace("/usr/bin/mailgate", env!("CARGO_BIN_EXE_mailgate"))
            .replace("NoNewPrivileges=", "NoNewPrivilege="),
    )
    .unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&unit).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("NoNewPrivilege"), "{}", text(&out));
}

/// A config for `serve` on a fresh SQLite file: the web endpoint on a free port, SMTP nowhere
/// (nothing is sent), no mailboxes.
fn serve_site(dir: &Path, web_port: u16) -> PathBuf {
    serve_site_on(dir, &format!("sqlite://{}", dir.join("mailgate.db").display()), web_port)
}

fn serve_site_on(dir: &Path, url: &str, web_port: u16) -> PathBuf {
    let config = dir.join("mailgate.toml");
    std::fs::write(
        &config,
        format!(
            "[instance]\nsupport_addresses = [\"support@example.com\"]\n\n[database]\nurl = \"{url}\"\n\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {}\n\n[web]\nbind = \"127.0.0.1:{web_port}\"\n",
            common::ports::free_port()
        ),
    )
    .unwrap();
    config
}

fn serve(config: &Path, env: &[(&str, String)]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mailgate"));
    command
        // The unit's order: the global --config before the subcommand.
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .env("MAILGATE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().expect("start mailgate serve")
}

fn terminate(daemon: Child) -> String {
    Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status().unwrap();
    let out = daemon.wait_with_output().unwrap();
    assert!(out.status.success(), "clean exit on SIGTERM: {}", text(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The datagrams that arrive on `socket` until `until`.
fn messages_until(socket: &UnixDatagram, until: Instant) -> Vec<String> {
    let mut messages = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Some(left) = until.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
        socket.set_read_timeout(Some(left)).unwrap();
        match socket.recv(&mut buffer) {
            Ok(n) => messages.push(String::from_utf8_lossy(&buffer[..n]).into_owned()),
            Err(_) => break,
        }
    }
    messages
}

/// The first datagram on `socket`, waiting at most `within`.
fn first_message(socket: &UnixDatagram, within: Duration) -> String {
    let mut buffer = [0u8; 4096];
    socket.set_read_timeout(Some(within)).unwrap();
    let n = socket.recv(&mut buffer).expect("a notification from serve");
    String::from_utf8_lossy(&buffer[..n]).into_owned()
}

fn healthz(port: u16) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("the web endpoint listens");
    stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn serve_tells_the_service_manager_ready_then_pings_the_watchdog() {
    let dir = tempfile::tempdir().unwrap();
    let web_port = common::ports::free_port();
    let config = serve_site(dir.path(), web_port);
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let env = [
        ("NOTIFY_SOCKET", socket_path.display().to_string()),
        // 400 ms: a ping every 200 ms.
        ("WATCHDOG_USEC", "400000".to_string()),
    ];
    let daemon = serve(&config, &env);
    let ready = first_message(&socket, Duration::from_secs(30));
    assert!(ready.lines().any(|line| line == "READY=1"), "READY=1 comes first: {ready:?}");
    // READY means the web endpoint already listens.
    assert!(healthz(web_port).starts_with("HTTP/1.1 200") || healthz(web_port).starts_with("HTTP/1.0 200"));

    let window = Duration::from_millis(2000);
    let pings = messages_until(&socket, Instant::now() + window);
    let watchdog = watchdog_pings(&pings);
    // 2 s at one ping per 200 ms is ~10; a loaded machine may delay some, never double them.
    assert!((4..=12).contains(&watchdog), "{watchdog} WATCHDOG=1 pings in {window:?}: {pings:?}");

    let log = terminate(daemon);
    let last = messages_until(&socket, Instant::now() + Duration::from_millis(500));
    assert!(last.iter().any(|m| m.lines().any(|line| line == "STOPPING=1")), "{last:?}\n{log}");
}

#[test]
fn serve_without_a_watchdog_only_says_ready() {
    let dir = tempfile::tempdir().unwrap();
    let config = serve_site(dir.path(), common::ports::free_port());
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    // WATCHDOG_USEC=0 is no watchdog either.
    let env = [("NOTIFY_SOCKET", socket_path.display().to_string()), ("WATCHDOG_USEC", "0".to_string())];
    let daemon = serve(&config, &env);
    let ready = first_message(&socket, Duration::from_secs(30));
    assert!(ready.contains("READY=1"), "{ready:?}");
    let messages = messages_until(&socket, Instant::now() + Duration::from_secs(1));
    assert!(!messages.iter().any(|m| m.contains("WATCHDOG=1")), "no WATCHDOG_USEC, no pings: {messages:?}");
    terminate(daemon);
}

fn watchdog_pings(messages: &[String]) -> usize {
    messages.iter().filter(|m| m.lines().any(|line| line == "WATCHDOG=1")).count()
}

#[test]
fn the_watchdog_is_fed_only_while_the_database_answers() {
    let Some(db) = common::TestDb::new_blocking(Backend::Postgres) else { return };
    let name = db.url.split('?').next().unwrap().rsplit('/').next().unwrap().to_string();
    let admin_url = common::test_pg_url().unwrap();
    let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = serve_site_on(dir.path(), &db.url, common::ports::free_port());
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let env = [("NOTIFY_SOCKET", socket_path.display().to_string()), ("WATCHDOG_USEC", "400000".to_string())];
    let daemon = serve(&config, &env);
    let ready = first_message(&socket, Duration::from_secs(30));
    assert!(ready.contains("READY=1"), "{ready:?}");
    // Each probe has 200 ms; on a loaded machine one just after start-up may miss it (seen once
    // in the full suite: 1 ping in 1 s), so the healthy window spans ten of them.
    let healthy = messages_until(&socket, Instant::now() + Duration::from_secs(2));
    assert!(watchdog_pings(&healthy) >= 2, "pings while the database answers: {healthy:?}");

    // The database goes away: no new connections, the daemon's own ones ended.
    admin.batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .unwrap();
    // A ping already on its way may still land.
    messages_until(&socket, Instant::now() + Duration::from_millis(300));
    let down = messages_until(&socket, Instant::now() + Duration::from_millis(1500));
    assert_eq!(watchdog_pings(&down), 0, "no pings while the database is away: {down:?}");

    admin.batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).unwrap();
    let back = messages_until(&socket, Instant::now() + Duration::from_secs(5));
    assert!(watchdog_pings(&back) >= 1, "pings resume when the database is back: {back:?}");
    let log = terminate(daemon);
    assert!(log.contains("watchdog"), "a withheld ping is logged: {log}");
}

/// The binary's config for the harness's database.
fn site_config(dir: &Path, url: &str) -> PathBuf {
    let config = dir.join("mailgate.toml");
    std::fs::write(
        &config,
        format!(
            "[instance]\nsupport_addresses = [\"support@example.com\"]\n\n[database]\nurl = \"{url}\"\nbusy_timeout_ms = 5000\n"
        ),
    )
    .unwrap();
    config
}

fn message_ids(db: &Path) -> HashSet<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let mut statement = conn.prepare("SELECT dedupe_key FROM inbound").unwrap();
    statement.query_map([], |row| row.get(0)).unwrap().map(Result::unwrap).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_pipes_write_holds_every_message_stored_before_it() {
    let harness = Harness::new(Backend::Sqlite).await.expect("SQLite is always there");
    // Some megabytes, so the copy takes a while.
    let body = "A line of a longer message that makes the database grow.\n".repeat(60);
    for n in 0..1500 {
        harness.pipe(&Mail::new(&format!("c{n}@example.org"), &format!("Before {n}"), &body).build()).await;
    }
    let db = PathBuf::from(harness.db.url.strip_prefix("sqlite://").unwrap());
    let dir = tempfile::tempdir().unwrap();
    let config = site_config(dir.path(), &harness.db.url);

    let writing = Arc::new(AtomicBool::new(true));
    let written = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..2)
        .map(|writer| {
            let (writing, written, config) = (writing.clone(), written.clone(), config.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while writing.load(Ordering::SeqCst) {
                    let raw = Mail::new(&format!("w{writer}-{n}@example.org"), "During", "written meanwhile")
                        .build();
                    let out = run_with(&config, &["pipe"], raw.as_bytes());
                    assert_eq!(code(&out), 0, "pipe during the backup: {}", text(&out));
                    written.fetch_add(1, Ordering::SeqCst);
                    n += 1;
                }
            })
        })
        .collect();
    while written.load(Ordering::SeqCst) < 4 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = message_ids(&db);
    let written_before = written.load(Ordering::SeqCst);
    let target = dir.path().join("backup.db");
    let started = Instant::now();
    let out = run_with(&config, &["backup", target.to_str().unwrap()], b"");
    let took = started.elapsed();
    let written_during = written.load(Ordering::SeqCst) - written_before;
    writing.store(false, Ordering::SeqCst);
    for writer in writers {
        writer.join().unwrap();
    }
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("integrity ok"), "{}", text(&out));
    let bytes = std::fs::metadata(&target).unwrap().len();
    eprintln!(
        "backup of {bytes} bytes in {took:?} ({} messages before it, {written_during} piped meanwhile)",
        before.len()
    );

    let copy = rusqlite::Connection::open(&target).unwrap();
    let check: String = copy.query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(check, "ok");
    let mode: String = copy.query_row("PRAGMA journal_mode", [], |row| row.get(0)).unwrap();
    assert_eq!(mode, "delete", "the backup is one self-contained file");
    let copied = message_ids(&target);
    let missing: Vec<_> = before.difference(&copied).collect();
    assert!(missing.is_empty(), "{} messages stored before the backup are missing", missing.len());
    let tickets: i64 = copy.query_row("SELECT COUNT(*) FROM tickets", [], |row| row.get(0)).unwrap();
    let inbound: i64 = copy.query_row("SELECT COUNT(*) FROM inbound", [], |row| row.get(0)).unwrap();
    assert_eq!(tickets, inbound, "each message opened a ticket, in the copy too: it is consistent");
    assert!(!dir.path().join("backup.db.partial").exists());
}

#[test]
fn a_backup_refuses_to_overwrite_a_file_unless_forced() {
    let site = Site::new(Backend::Sqlite, "").unwrap();
    let raw = Mail::new("ann@example.org", "Hello", "body").build();
    assert_eq!(code(&site.run(&["pipe"], raw.as_bytes())), 0);
    let target = site.dir.path().join("existing.db");
    std::fs::write(&target, "keep me").unwrap();
    let out = site.run(&["backup", target.to_str().unwrap()], b"");
    assert_eq!(code(&out), 73, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me", "the file is untouched");

    let out = site.run(&["backup", "--force", target.to_str().unwrap()], b"");
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 inbound messages, 1 tickets"), "{}", text(&out));
    assert_eq!(message_ids(&target).len(), 1);

    let nowhere = site.dir.path().join("no/such/dir/copy.db");
    let out = site.run(&["backup", nowhere.to_str().unwrap()], b"");
    assert_eq!(code(&out), 73, "a missing directory is not a busy database: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such directory"), "{}", text(&out));

    // The live database, however named, is never a target: daemons would go on writing to the
    // replaced (deleted) file.
    let database = PathBuf::from(site.db.url.strip_prefix("sqlite://").unwrap());
    let relative = format!("./{}", database.file_name().unwrap().to_str().unwrap());
    let wal = format!("{}-wal", database.display());
    for target in [database.to_str().unwrap(), relative.as_str(), wal.as_str()] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mailgate"));
        command.current_dir(database.parent().unwrap());
        let out =
            command.arg("--config").arg(site.config()).args(["backup", "--force", target]).output().unwrap();
        assert_eq!(code(&out), 64, "{target}: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("the database itself"), "{}", text(&out));
    }
    assert_eq!(code(&site.run(&["ticket", "list"], b"")), 0, "the database is intact");
    assert_eq!(site.scalar("SELECT COUNT(*) FROM tickets"), 1);
}

#[test]
fn a_backup_of_a_database_that_does_not_exist_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = site_config(dir.path(), &format!("sqlite://{}", dir.path().join("none.db").display()));
    let out = run_with(&config, &["backup", dir.path().join("copy.db").to_str().unwrap()], b"");
    assert_eq!(code(&out), 66, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no database"), "{}", text(&out));
    assert!(!dir.path().join("none.db").exists(), "no empty database created");
    assert!(!dir.path().join("copy.db").exists());
}

#[test]
fn a_backup_on_postgresql_points_to_pg_dump() {
    let Some(site) = Site::new(Backend::Postgres, "") else { return };
    let target = site.dir.path().join("copy.db");
    let out = site.run(&["backup", target.to_str().unwrap()], b"");
    assert_eq!(code(&out), 64, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"), "{}", text(&out));
    assert!(!target.exists());
}
