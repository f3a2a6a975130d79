//! Reload on SIGHUP, against the real `mailgate serve` binary with a real Dovecot (intake), a real
//! SMTP sink (the auto-responses) and SQLite or PostgreSQL: a changed organization domain and email
//! template apply to the next message; a broken configuration (syntax, rule, template) changes
//! nothing and a fixed one then applies; a burst of mail with reloads in the middle is stored once
//! and answered once. The systemd protocol (RELOADING=1 with MONOTONIC_USEC, then READY=1) is read
//! from a notify socket.

mod common;

use std::collections::HashSet;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::imap::{ImapClient, TestImap};
use common::smtp::{SmtpSink, header};
use common::{Backend, Mail, TestDb};
use mailgate::store::{Store, StoreOptions, Tx};

const WAIT: Duration = Duration::from_secs(60);

/// A site: config file, email template overrides, database, Dovecot user, SMTP sink.
struct Site {
    dir: tempfile::TempDir,
    /// The web endpoint's port (every daemon has one; the default 8080 would collide).
    web_port: u16,
    db: TestDb,
    imap: TestImap,
    user: String,
    sink: SmtpSink,
    store: Store,
}

/// What a configuration version says: which org owns initech.com, the text of the auto-response
/// and of the web's "not found" page, whether `web.bind` moved (restart-only), and anything
/// appended (to break it).
struct Version<'a> {
    initech_owner: &'a str,
    marker: &'a str,
    web_moved: bool,
    extra: &'a str,
}

impl Site {
    async fn new(backend: Backend) -> Option<Site> {
        let imap = TestImap::from_env()?;
        if !common::smtp::available() {
            return None;
        }
        let db = TestDb::new(backend).await?;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("email")).unwrap();
        std::fs::create_dir(dir.path().join("web")).unwrap();
        let sink = SmtpSink::start(common::ports::free_port(), dir.path().join("sent"));
        let store = Store::connect(&db.url, &StoreOptions::default()).unwrap();
        let user = imap.fresh_user();
        Some(Site { dir, web_port: common::ports::free_port(), db, imap, user, sink, store })
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("mailgate.toml")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("serve.log")
    }

    /// Writes the configuration and the auto-response override of `version`.
    fn write(&self, version: &Version<'_>) {
        let domains = |org: &str| {
            if version.initech_owner == org { r#"["{org}.com", "initech.com"]"# } else { r#"["{org}.com"]"# }
                .replace("{org}", org)
        };
        let text = format!(
            r#"
[instance]
support_addresses = ["support@example.com"]
message_id_domain = "mg.mailgate.test"

[database]
url = "{url}"
busy_timeout_ms = 5000

[smtp]
host = "127.0.0.1"
port = {smtp}

[templates]
dir = "{templates}"
web_dir = "{web_templates}"

[web]
bind = "127.0.0.1:{web_port}"

{mailbox}

[[orgs]]
key = "acme"
name = "ACME Corp"
domains = {acme}

[[orgs]]
key = "globex"
name = "Globex"
domains = {globex}
{extra}
"#,
            url = self.db.url,
            smtp = self.sink.port,
            templates = self.dir.path().join("email").display(),
            web_templates = self.dir.path().join("web").display(),
            web_port = if version.web_moved { common::ports::free_port() } else { self.web_port },
            mailbox = self.imap.mailbox_toml(&self.user, true),
            acme = domains("acme"),
            globex = domains("globex"),
            extra = version.extra,
        );
        write_atomically(&self.config_path(), &text);
        self.write_template(&format!(
            "{{{{ reply_marker }}}}\n\n{} for ticket {{{{ ticket.number }}}}.\n",
            version.marker
        ));
        let page = format!("<!doctype html><title>x</title><p>{} page</p>\n", version.marker);
        write_atomically(&self.dir.path().join("web/not_found.html.tera"), &page);
    }

    /// The body of the web endpoint's answer to a path that does not exist.
    fn not_found_page(&self) -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.web_port)).expect("web endpoint");
        stream.write_all(b"GET /no/such/page HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    fn write_template(&self, text: &str) {
        write_atomically(&self.dir.path().join("email/new_ticket_auto_response.txt.tera"), text);
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Tx<'_>) -> mailgate::store::Result<T> + Send + 'static,
    ) -> T {
        self.store.read(work).await.unwrap()
    }

    async fn count(&self, sql: &'static str) -> i64 {
        self.read(move |tx| tx.query_one(sql, &[], |r| r.i64(0))).await
    }

    /// The key of the organization of the ticket opened by `email`'s first message.
    async fn org_of_ticket_by(&self, email: &str) -> Option<String> {
        let email = email.to_string();
        self.read(move |tx| {
            tx.query_all(
                "SELECT o.key FROM tickets t JOIN users u ON u.id = t.user_id
                 LEFT JOIN orgs o ON o.id = t.org_id WHERE u.email = $1",
                &[mailgate::store::Value::Text(&email)],
                |r| r.opt_string(0),
            )
        })
        .await
        .into_iter()
        .next()
        .flatten()
    }

    /// Waits until a ticket by `email` exists, then returns its organization.
    async fn ticket_org(&self, email: &str, daemon: &mut Daemon) -> Option<String> {
        let deadline = Instant::now() + WAIT;
        let sql = "SELECT COUNT(*) FROM tickets t JOIN users u ON u.id = t.user_id WHERE u.email = $1";
        loop {
            let email_owned = email.to_string();
            let found = self
                .read(move |tx| {
                    tx.query_one(sql, &[mailgate::store::Value::Text(&email_owned)], |r| r.i64(0))
                })
                .await;
            if found > 0 {
                return self.org_of_ticket_by(email).await;
            }
            daemon.assert_alive(self);
            assert!(Instant::now() < deadline, "no ticket by {email}\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the auto-response to `email` and returns its raw text.
    async fn auto_response_to(&self, email: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let mails = self.sink.messages();
            if let Some(mail) = mails.iter().find(|m| header(m, "To").is_some_and(|to| to.contains(email))) {
                return mail.clone();
            }
            assert!(Instant::now() < deadline, "no mail to {email}\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The running daemon and the notify socket it reports to.
struct Daemon {
    child: Child,
    socket: UnixDatagram,
}

impl Daemon {
    fn start(site: &Site) -> Daemon {
        let socket_path = site.dir.path().join("notify.sock");
        let _ = std::fs::remove_file(&socket_path);
        let socket = UnixDatagram::bind(&socket_path).unwrap();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(site.log_path()).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mailgate"))
            .arg("--config")
            .arg(site.config_path())
            .arg("serve")
            .env("NOTIFY_SOCKET", &socket_path)
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env("MAILGATE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start mailgate serve");
        let mut daemon = Daemon { child, socket };
        let first = daemon.datagrams_until(|m| m.lines().any(|l| l == "READY=1"), site);
        assert!(first.last().is_some_and(|m| m.contains("READY=1")), "{first:?}");
        daemon
    }

    /// Datagrams until one satisfies `done` (that one included); fails after [`WAIT`].
    fn datagrams_until(&mut self, done: impl Fn(&str) -> bool, site: &Site) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let left = deadline.checked_duration_since(Instant::now()).unwrap_or_default();
            assert!(!left.is_zero(), "no such notification; got {seen:?}\n{}", site.log());
            self.assert_alive(site);
            self.socket.set_read_timeout(Some(left.min(Duration::from_millis(200)))).unwrap();
            if let Ok(n) = self.socket.recv(&mut buffer) {
                let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
                let finished = done(&message);
                seen.push(message);
                if finished {
                    return seen;
                }
            }
        }
    }

    /// Sends SIGHUP and waits for RELOADING=1 (with MONOTONIC_USEC) and then READY=1.
    fn reload(&mut self, site: &Site) {
        self.hangup();
        let reloading = self.datagrams_until(|m| m.lines().any(|l| l == "RELOADING=1"), site);
        let reloading = reloading.last().unwrap();
        assert!(reloading.lines().any(|l| l.starts_with("MONOTONIC_USEC=")), "{reloading:?}");
        self.datagrams_until(|m| m.lines().any(|l| l == "READY=1"), site);
        self.assert_alive(site);
    }

    fn hangup(&self) {
        let status = Command::new("kill").args(["-HUP", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    fn assert_alive(&mut self, site: &Site) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("mailgate serve ended: {status:?}\n{}", site.log());
        }
    }

    fn terminate(mut self, site: &Site) {
        self.assert_alive(site);
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "clean exit on SIGTERM: {status:?}\n{}", site.log());
    }
}

/// As an admin's tools should: a reader (a reload, a piped message) sees the old file or the new
/// one, never a half-written one (which could even be empty: the built-in defaults).
fn write_atomically(path: &std::path::Path, text: &str) {
    // Beside the directory: a stray file among the template overrides would be an error.
    let staged = path.parent().unwrap().with_extension("staged");
    std::fs::write(&staged, text).unwrap();
    std::fs::rename(&staged, path).unwrap();
}

async fn deliver(client: &mut ImapClient, from: &str) {
    let raw = Mail::new(from, &format!("Help for {from}"), "Our printer is on fire.").build();
    client.append("INBOX", raw.as_bytes()).await;
}

fn count_lines(log: &str, needle: &str) -> usize {
    log.lines().filter(|line| line.contains(needle)).count()
}

const ONE: Version<'static> =
    Version { initech_owner: "acme", marker: "Marker one", web_moved: false, extra: "" };
const TWO: Version<'static> =
    Version { initech_owner: "globex", marker: "Marker two", web_moved: false, extra: "" };

async fn a_changed_org_domain_and_template_apply_to_the_next_message(backend: Backend) {
    let Some(site) = Site::new(backend).await else { return };
    site.write(&ONE);
    let mut daemon = Daemon::start(&site);
    let mut client = site.imap.client(&site.user).await;

    deliver(&mut client, "first@initech.com").await;
    assert_eq!(site.ticket_org("first@initech.com", &mut daemon).await.as_deref(), Some("acme"));
    assert!(site.auto_response_to("first@initech.com").await.contains("Marker one"));
    assert!(site.not_found_page().contains("Marker one page"), "{}", site.not_found_page());

    site.write(&TWO);
    daemon.reload(&site);
    let log = site.log();
    assert_eq!(count_lines(&log, "configuration reloaded"), 1, "{log}");
    assert!(log.lines().any(|l| l.contains("configuration reloaded") && l.contains("orgs")), "{log}");
    assert!(!log.contains("restart to apply"), "nothing restart-only changed: {log}");

    deliver(&mut client, "second@initech.com").await;
    assert_eq!(site.ticket_org("second@initech.com", &mut daemon).await.as_deref(), Some("globex"));
    let response = site.auto_response_to("second@initech.com").await;
    assert!(response.contains("Marker two") && !response.contains("Marker one"), "{response}");
    assert!(site.not_found_page().contains("Marker two page"), "{}", site.not_found_page());

    // A piped message (its own process) is answered by the daemon's outbox: the new template too.
    let raw = Mail::new("third@initech.com", "Piped", "hello").build();
    let out = common::site::run_with(&site.config_path(), &["pipe"], raw.as_bytes());
    assert_eq!(common::site::code(&out), 0, "{}", common::site::text(&out));
    assert!(site.auto_response_to("third@initech.com").await.contains("Marker two"));

    // A restart-only key is named, and the rest still applies.
    site.write(&Version { web_moved: true, ..ONE });
    daemon.reload(&site);
    let log = site.log();
    assert!(
        log.lines().any(|l| l.contains("WARN") && l.contains("web.bind") && l.contains("restart to apply")),
        "{log}"
    );
    assert_eq!(count_lines(&log, "configuration reloaded"), 2, "{log}");
    deliver(&mut client, "fourth@initech.com").await;
    assert_eq!(site.ticket_org("fourth@initech.com", &mut daemon).await.as_deref(), Some("acme"));
    assert!(site.auto_response_to("fourth@initech.com").await.contains("Marker one"));
    assert!(site.not_found_page().contains("Marker one page"), "still listening where it was");
    daemon.terminate(&site);
}

async fn a_broken_configuration_changes_nothing(backend: Backend) {
    let Some(site) = Site::new(backend).await else { return };
    site.write(&ONE);
    let mut daemon = Daemon::start(&site);
    let mut client = site.imap.client(&site.user).await;

    // 1. Not TOML; 2. a rule broken (an unknown agent manages an org, an unknown key); 3. the
    // email template override does not parse. Each version also moves initech.com to globex.
    let broken = [
        ("syntax", Version { extra: "[[orgs]\nkey = \"x\"\n", ..TWO }, None),
        (
            "rule",
            Version {
                extra: "[tickets]\nreopen_day = 3\n[[orgs]]\nkey = \"initech\"\nname = \"I\"\naccount_manager = \"agent:nobody\"\n",
                ..TWO
            },
            None,
        ),
        ("template", TWO, Some("{{ reply_marker }}\nMarker broken {{ ticket.number ")),
    ];
    let mut refused = 0;
    for (what, version, template) in &broken {
        site.write(version);
        if let Some(template) = template {
            site.write_template(template);
        }
        daemon.reload(&site);
        refused += 1;
        let log = site.log();
        assert_eq!(count_lines(&log, "configuration not reloaded"), refused, "{what}: {log}");
        assert_eq!(count_lines(&log, "configuration reloaded"), 0, "{what}: {log}");
        let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
        match *what {
            "syntax" => {
                assert!(errors.iter().any(|l| l.contains("mailgate.toml:") && l.contains("column")), "{log}")
            }
            "rule" => {
                assert!(errors.iter().any(|l| l.contains("tickets.reopen_day")), "every problem: {log}");
                assert!(errors.iter().any(|l| l.contains("orgs[2]")), "every problem: {log}");
            }
            _ => assert!(
                errors.iter().any(|l| l.contains("templates.dir") && l.contains("new_ticket_auto_response")),
                "{log}"
            ),
        }

        // Still serving, on the old organization and the old template.
        let sender = format!("{what}@initech.com");
        deliver(&mut client, &sender).await;
        assert_eq!(site.ticket_org(&sender, &mut daemon).await.as_deref(), Some("acme"), "{what}");
        let response = site.auto_response_to(&sender).await;
        assert!(response.contains("Marker one"), "{what}: {response}");
    }

    site.write(&TWO);
    daemon.reload(&site);
    assert_eq!(count_lines(&site.log(), "configuration reloaded"), 1, "{}", site.log());
    deliver(&mut client, "fixed@initech.com").await;
    assert_eq!(site.ticket_org("fixed@initech.com", &mut daemon).await.as_deref(), Some("globex"));
    assert!(site.auto_response_to("fixed@initech.com").await.contains("Marker two"));
    daemon.terminate(&site);
}

const BURST_IMAP: usize = 150;
const BURST_PIPED: usize = 30;
const RELOADS: usize = 6;

async fn reloads_during_a_burst_store_and_answer_every_message_once(backend: Backend) {
    let Some(site) = Site::new(backend).await else { return };
    site.write(&ONE);
    let mut daemon = Daemon::start(&site);
    let mut client = site.imap.client(&site.user).await;

    let raws: Vec<Vec<u8>> = (0..BURST_IMAP)
        .map(|n| {
            Mail::new(&format!("imap{n}@example.org"), &format!("Burst {n}"), "body")
                .id(&format!("<burst-imap-{n}@example.org>"))
                .build()
                .into_bytes()
        })
        .collect();
    let config = site.config_path();
    let pipes = std::thread::spawn(move || {
        for n in 0..BURST_PIPED {
            let raw = Mail::new(&format!("pipe{n}@example.org"), &format!("Piped {n}"), "body")
                .id(&format!("<burst-pipe-{n}@example.org>"))
                .build();
            // As an MTA does: 75 (try again later) is retried.
            loop {
                let out = common::site::run_with(&config, &["pipe"], raw.as_bytes());
                match common::site::code(&out) {
                    0 => break,
                    75 => std::thread::sleep(Duration::from_millis(100)),
                    other => panic!("pipe exit {other}: {}", common::site::text(&out)),
                }
            }
        }
    });
    client.append_many("INBOX", &raws).await;
    for reload in 0..RELOADS {
        site.write(if reload % 2 == 0 { &TWO } else { &ONE });
        daemon.reload(&site);
    }
    pipes.join().expect("every piped message accepted");

    let total = (BURST_IMAP + BURST_PIPED) as i64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while site.count("SELECT COUNT(*) FROM inbound").await < total || client.count("INBOX").await > 0 {
        daemon.assert_alive(&site);
        if Instant::now() > deadline {
            let stored = site.count("SELECT COUNT(*) FROM inbound").await;
            panic!(
                "not drained: {stored} of {total} stored, {} in INBOX\n{}",
                client.count("INBOX").await,
                site.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every auto-response sent, then none more.
    let deadline = Instant::now() + WAIT;
    while site.sink.messages().len() < total as usize {
        assert!(Instant::now() < deadline, "{} auto-responses\n{}", site.sink.messages().len(), site.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count_lines(&site.log(), "configuration reloaded"), RELOADS, "{}", site.log());
    daemon.terminate(&site);

    assert_eq!(site.count("SELECT COUNT(*) FROM inbound").await, total, "one inbound row per message");
    assert_eq!(site.count("SELECT COUNT(*) FROM tickets").await, total, "one ticket per message");
    assert_eq!(site.count("SELECT COUNT(*) FROM inbound WHERE outcome <> 'ticket'").await, 0);
    assert_eq!(site.count("SELECT COUNT(*) FROM outbox WHERE status <> 'sent'").await, 0);
    let mails = site.sink.messages();
    let recipients: HashSet<String> = mails.iter().filter_map(|m| header(m, "To")).collect();
    assert_eq!(mails.len(), total as usize, "one auto-response per ticket");
    assert_eq!(recipients.len(), total as usize, "to every sender once");
    let processed: HashSet<String> = client.message_ids("Processed").await.into_iter().collect();
    assert_eq!(processed.len(), BURST_IMAP, "each IMAP message moved once");
    assert!(mails.iter().all(|m| m.contains("Marker one") || m.contains("Marker two")));
    if let Some(file) = site.db.url.strip_prefix("sqlite://") {
        // Reloads once dropped SQLite's locks (a check opened the file): the file was corrupted.
        let conn = rusqlite::Connection::open(file).unwrap();
        let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(verdict, "ok");
    }
}

on_both_backends!(
    a_changed_org_domain_and_template_apply_to_the_next_message,
    a_broken_configuration_changes_nothing,
    reloads_during_a_burst_store_and_answer_every_message_once,
);

/// `systemctl reload` sends SIGHUP (tests/operations.rs runs systemd-analyze verify on the unit).
#[test]
fn the_service_unit_reloads_with_sighup() {
    let unit = include_str!("../contrib/mailgate.service");
    assert!(unit.lines().any(|line| line == "ExecReload=/bin/kill -HUP $MAINPID"), "{unit}");
    assert!(unit.lines().any(|line| line == "Type=notify"), "{unit}");
}
