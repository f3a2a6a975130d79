//! A real Postfix (Debian's package, a private instance in a temp dir, smtpd on a loopback high
//! port) delivers to `mailgate pipe` exactly as docs/mta.md tells admins: the test writes the
//! doc's marked `main.cf` and `master.cf` blocks into the instance. Mail sent over SMTP becomes a
//! ticket, a reply to a signed `support+TOKEN@` envelope address threads, and while the SQLite
//! database is locked (or PostgreSQL is down) Postfix defers the message on exit 75 and delivers it,
//! once, afterwards.
//! Both documented variants run: the pipe transport for a relayed domain, and the virtual alias
//! for a domain this Postfix already delivers locally.
//!
//! Postfix's master runs as root; the pipe runs as `nobody`, which owns the database directory.

mod common;

use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::{Address, SmtpTransport, Transport};
use mailgate::auth::token::{Claims, Participant, Purpose};
use mailgate::core::ids::{TicketId, UserId};
use mailgate::store::{Store, StoreOptions};

const DOC: &str = include_str!("../docs/mta.md");
const POSTFIX: &str = "/usr/sbin/postfix";

/// The fenced block that follows `<!-- tests/postfix.rs: NAME -->` in docs/mta.md.
fn doc_block(name: &str) -> String {
    let marker = format!("<!-- tests/postfix.rs: {name} -->");
    let after = DOC.split_once(&marker).unwrap_or_else(|| panic!("docs/mta.md lost its {marker}")).1;
    let body = after.trim_start().strip_prefix("```\n").expect("a ``` block follows the marker");
    body.split_once("```").expect("the block ends").0.to_string()
}

/// `text` with `from` replaced, insisting that the doc still says `from`.
fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "docs/mta.md's block no longer contains {from:?}:\n{text}");
    text.replace(from, to)
}

fn id_of(flag: &str, user: &str) -> u32 {
    let out = Command::new("id").args([flag, user]).output().expect("run id");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or_else(|_| panic!("no user {user}"))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A private Postfix instance and the mailgate installation it delivers to; stopped on drop.
struct Instance {
    dir: tempfile::TempDir,
    port: u16,
    database_url: String,
}

impl Instance {
    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("etc")
    }
    fn mailgate_config(&self) -> PathBuf {
        self.dir.path().join("mailgate/mailgate.toml")
    }
    fn database(&self) -> PathBuf {
        self.dir.path().join("mailgate/mailgate.db")
    }

    /// An instance whose main.cf ends with docs/mta.md's block `main_block`; `mydestination` as
    /// given (the domains this Postfix delivers locally besides mailgate's); mailgate's database
    /// at `database_url`, else a SQLite file owned by the pipe's user.
    fn start(main_block: &str, mydestination: &str, database_url: Option<String>) -> Instance {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        // nobody must reach the database; Postfix wants its data directory.
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        for sub in ["etc", "queue", "data", "mailgate"] {
            std::fs::create_dir(root.join(sub)).unwrap();
        }
        chown(root.join("data"), Some(id_of("-u", "postfix")), Some(id_of("-g", "postfix"))).unwrap();
        let sqlite = root.join("mailgate/mailgate.db");
        let database_url = database_url.unwrap_or_else(|| format!("sqlite://{}", sqlite.display()));
        let instance = Instance { port: common::ports::free_port(), dir, database_url };

        std::fs::write(
            instance.mailgate_config(),
            format!(
                "[instance]\nsupport_addresses = [\"support@example.com\"]\n\n[database]\nurl = \"{}\"\nbusy_timeout_ms = 300\n",
                instance.database_url
            ),
        )
        .unwrap();
        let migrate = Command::new(env!("CARGO_BIN_EXE_mailgate"))
            .arg("--config")
            .arg(instance.mailgate_config())
            .arg("migrate")
            .output()
            .unwrap();
        assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
        let (nobody, nogroup) = (id_of("-u", "nobody"), id_of("-g", "nobody"));
        for path in [root.join("mailgate"), sqlite].iter().filter(|p| p.exists()) {
            chown(path, Some(nobody), Some(nogroup)).unwrap();
        }

        let main_cf = format!(
            "# A private test instance: its own directories, loopback only, no local delivery.\n\
             compatibility_level = 3.6\n\
             queue_directory = {root}/queue\n\
             data_directory = {root}/data\n\
             inet_interfaces = loopback-only\n\
             inet_protocols = ipv4\n\
             myhostname = postfix-test.localhost\n\
             mydestination = {mydestination}\n\
             alias_maps =\n\
             alias_database =\n\
             maillog_file_prefixes = {root}\n\
             maillog_file = {root}/maillog\n\
             # From docs/mta.md:\n{doc}",
            root = root.display(),
            doc = doc_block(main_block),
        );
        std::fs::write(root.join("etc/main.cf"), main_cf).unwrap();

        let mut service = doc_block("master.cf");
        service = replace(&service, "user=mailgate", "user=nobody");
        service = replace(&service, "/usr/local/bin/mailgate", env!("CARGO_BIN_EXE_mailgate"));
        service =
            replace(&service, "/etc/mailgate/mailgate.toml", instance.mailgate_config().to_str().unwrap());
        let master_cf = format!(
            "127.0.0.1:{port} inet n - n - - smtpd\n{MASTER_CF_BASE}# From docs/mta.md:\n{service}",
            port = instance.port
        );
        std::fs::write(root.join("etc/master.cf"), master_cf).unwrap();

        let out = instance.postfix(&["start"]);
        assert!(out.status.success(), "postfix start failed: {}\n{}", text(&out), instance.log());
        instance
    }

    fn postfix(&self, args: &[&str]) -> std::process::Output {
        Command::new(POSTFIX).arg("-c").arg(self.config_dir()).args(args).output().unwrap()
    }

    fn postqueue(&self, flag: &str) -> String {
        let out =
            Command::new("/usr/sbin/postqueue").arg("-c").arg(self.config_dir()).arg(flag).output().unwrap();
        text(&out)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// Sends `raw` over SMTP from jane@example.org to `to` (the envelope recipient).
    fn try_send(&self, to: &str, raw: &str) -> Result<(), lettre::transport::smtp::Error> {
        let envelope = Envelope::new(
            Some("jane@example.org".parse::<Address>().unwrap()),
            vec![to.parse::<Address>().unwrap()],
        )
        .unwrap();
        SmtpTransport::builder_dangerous("127.0.0.1")
            .port(self.port)
            .build()
            .send_raw(&envelope, raw.as_bytes())?;
        Ok(())
    }

    fn send(&self, to: &str, raw: &str) {
        self.try_send(to, raw)
            .unwrap_or_else(|e| panic!("Postfix refused the message for {to}: {e}\n{}", self.log()));
    }

    fn scalar(&self, sql: &'static str) -> i64 {
        let store = Store::connect(&self.database_url, &StoreOptions::default()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(store.read(move |tx| tx.query_one(sql, &[], |r| r.i64(0)))).unwrap()
    }

    /// Waits (up to 30 s) until `sql` returns `want`.
    fn wait_for(&self, sql: &'static str, want: i64) {
        let start = Instant::now();
        while self.scalar(sql) != want {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{sql} is {} after 30 s, want {want}\nqueue: {}\nlog:\n{}",
                self.scalar(sql),
                self.postqueue("-p"),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_for_empty_queue(&self) {
        let start = Instant::now();
        while !self.postqueue("-p").contains("Mail queue is empty") {
            assert!(start.elapsed() < Duration::from_secs(30), "still queued: {}", self.postqueue("-p"));
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_for_log(&self, needle: &str) {
        let start = Instant::now();
        while !self.log().contains(needle) {
            assert!(start.elapsed() < Duration::from_secs(30), "no {needle:?} in the log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.postfix(&["stop"]);
    }
}

/// Postfix's own services (Debian's master.cf without smtp on port 25, nothing chrooted).
const MASTER_CF_BASE: &str = "\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
";

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn mail(to: &str, subject: &str, id: &str) -> String {
    format!(
        "From: Jane <jane@example.org>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\r\nSent through Postfix.\r\n"
    )
}

/// A signed reply address for jane on `ticket`, minted with the installation's keyring.
fn reply_address(instance: &Instance, ticket: i64, jane: i64) -> String {
    let config = mailgate::config::load(Some(&instance.mailgate_config())).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let app = runtime.block_on(mailgate::app::open(&config)).unwrap();
    let claims = Claims {
        purpose: Purpose::Reply,
        ticket: TicketId(ticket),
        participant: Participant::User(UserId(jane)),
        expires_at_ms: mailgate::clock::Clock::now_ms(&mailgate::clock::SystemClock) + 86_400_000,
        epoch: 0,
    };
    format!("support+{}@example.com", app.keyring().address_token(&claims))
}

/// Whether this machine can run the tests (a failure under scripts/test.sh when not).
fn postfix_available() -> bool {
    common::require(
        Path::new(POSTFIX).exists() && is_root(),
        "Postfix: /usr/sbin/postfix, run as root (its master process needs root)",
        "scripts/test-services.sh install (Debian's postfix), run the tests as root",
    )
}

/// A new mail over SMTP becomes a ticket; a reply whose only link to it is the signed address in
/// the envelope (no threading header, `To:` the plain support address) threads into it:
/// `recipient_delimiter` routes `support+TOKEN@` and `${original_recipient}` hands mailgate the
/// token. Returns the ticket's id.
fn new_ticket_then_reply_by_address(postfix: &Instance) -> i64 {
    postfix
        .send("support@example.com", &mail("support@example.com", "Printer on fire", "pf-new@client.test"));
    postfix.wait_for("SELECT COUNT(*) FROM tickets", 1);
    let ticket = postfix.scalar("SELECT id FROM tickets");
    let jane = postfix.scalar("SELECT id FROM users WHERE email = 'jane@example.org'");

    let address = reply_address(postfix, ticket, jane);
    postfix.send(&address, &mail("support@example.com", "Something else", "pf-reply@client.test"));
    postfix.wait_for("SELECT COUNT(*) FROM inbound", 2);
    assert_eq!(postfix.scalar("SELECT COUNT(*) FROM tickets"), 1, "the reply opened a new ticket");
    assert_eq!(
        postfix.scalar("SELECT ticket_id FROM message_ids WHERE message_id = 'pf-reply@client.test'"),
        ticket
    );
    ticket
}

#[test]
fn postfix_pipe_transport_as_documented_threads_and_defers_while_locked() {
    if !postfix_available() {
        return;
    }
    let postfix = Instance::start("main.cf", "", None);
    new_ticket_then_reply_by_address(&postfix);

    // Any other address at the domain is refused at RCPT time.
    let refused = postfix.try_send("sales@example.com", &mail("sales@example.com", "Hi", "pf-sales@x.test"));
    let error = refused.expect_err("sales@example.com was accepted");
    assert!(error.is_permanent(), "{error}");

    // The database is locked: mailgate exits 75, Postfix defers; after the lock is gone a flush
    // delivers it, stored once.
    let holder = rusqlite::Connection::open(postfix.database()).unwrap();
    holder
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO meta (key, value) VALUES ('held', 'by test');")
        .unwrap();
    postfix
        .send("support@example.com", &mail("support@example.com", "While locked", "pf-locked@client.test"));
    postfix.wait_for_log("status=deferred");
    let log = postfix.log();
    let deferred = log.lines().find(|l| l.contains("status=deferred")).unwrap();
    assert!(deferred.contains("dsn=4.3.0") && deferred.contains("try again later"), "{deferred}");
    assert!(postfix.postqueue("-p").contains("support@example.com"), "deferred, still queued");
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    assert_eq!(postfix.scalar("SELECT COUNT(*) FROM inbound"), 2, "nothing stored while locked");

    // Flushed until delivered: the test's own connections run as root, and a pipe that opens the
    // database while one of them creates or removes the WAL's shared-memory file can be refused
    // once more (SQLite: "readonly database", exit 75; seen once under the full suite's load).
    // Deferring again is the documented answer to that; what must hold is one delivery.
    let start = Instant::now();
    while postfix.scalar("SELECT COUNT(*) FROM message_ids WHERE message_id = 'pf-locked@client.test'") == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not delivered after the lock:\n{}",
            postfix.log()
        );
        postfix.postqueue("-f");
        std::thread::sleep(Duration::from_secs(1));
    }
    postfix.wait_for_empty_queue();
    assert_eq!(postfix.scalar("SELECT COUNT(*) FROM inbound"), 3, "stored exactly once");
    assert_eq!(postfix.scalar("SELECT COUNT(*) FROM tickets"), 2);
    assert_eq!(postfix.log().matches("status=sent").count(), 3, "{}", postfix.log());
}

#[test]
fn postfix_virtual_alias_as_documented_threads_on_a_local_domain() {
    if !postfix_available() {
        return;
    }
    // example.com is delivered locally by this Postfix (its users have mailboxes here).
    let postfix = Instance::start("main.cf, virtual alias", "example.com", None);
    new_ticket_then_reply_by_address(&postfix);
    assert_eq!(postfix.log().matches("relay=mailgate").count(), 2, "{}", postfix.log());
}

#[test]
fn postfix_defers_while_postgresql_is_down_and_delivers_once_it_is_back() {
    if !postfix_available() {
        return;
    }
    let Some(server) = common::pg_server::PgServer::start(false) else { return };
    let postfix = Instance::start("main.cf", "", Some(server.url("127.0.0.1", "sslmode=disable")));
    postfix.send("support@example.com", &mail("support@example.com", "Before", "pf-before@client.test"));
    postfix.wait_for("SELECT COUNT(*) FROM inbound", 1);

    server.stop();
    postfix.send("support@example.com", &mail("support@example.com", "While down", "pf-down@client.test"));
    postfix.wait_for_log("status=deferred");
    let log = postfix.log();
    let deferred = log.lines().find(|l| l.contains("status=deferred")).unwrap();
    assert!(deferred.contains("dsn=4.3.0") && deferred.contains("try again later"), "{deferred}");

    server.start_again();
    postfix.postqueue("-f");
    postfix.wait_for("SELECT COUNT(*) FROM message_ids WHERE message_id = 'pf-down@client.test'", 1);
    postfix.wait_for_empty_queue();
    assert_eq!(postfix.scalar("SELECT COUNT(*) FROM inbound"), 2, "stored exactly once");
    assert_eq!(postfix.log().matches("status=sent").count(), 2, "{}", postfix.log());
}
