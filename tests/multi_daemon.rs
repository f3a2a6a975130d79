//! Three `mailgate serve` processes on one PostgreSQL (issue 15 §4), with two Dovecot mailboxes,
//! one aiosmtpd sink and each daemon's web endpoint on its own loopback port, as behind a load
//! balancer. Each mailbox is drained by exactly one daemon (its advisory lock in `pg_locks` and the
//! daemons' logs agree); SIGKILL of a holder hands its mailboxes to another daemon within
//! `imap.takeover_seconds`; every outgoing mail reaches the sink once; an agent's session made
//! through one daemon works on the others; SIGHUP on one daemon disturbs neither the others nor
//! itself. The daemons are the real binary, configured alike but for `web.bind`. PostgreSQL only:
//! on SQLite there is no lease and one daemon per database file (docs/operations.md).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::http::{Client, encode};
use common::imap::{ImapClient, TestImap};
use common::ports::free_port;
use common::site::{code, run_with, text};
use common::smtp::{SmtpSink, header};
use common::{Backend, Mail, TestDb};
use mailgate::store::{Store, StoreOptions, Value};
use sha2::{Digest, Sha256};

/// The daemons' `imap.takeover_seconds`: the smallest value the configuration accepts.
const TAKEOVER: Duration = Duration::from_secs(5);
/// How long the daemons may take for anything before the test gives up (a loaded 2-core machine).
const PATIENCE: Duration = Duration::from_secs(30);
/// The mailboxes (name, support address); each reads the INBOX of a Dovecot user of its own.
const MAILBOXES: [(&str, &str); 2] = [("support", "support@example.com"), ("sales", "sales@example.com")];
const DAEMONS: [&str; 3] = ["A", "B", "C"];
/// Messages appended to each mailbox per round.
const PER_ROUND: usize = 12;
/// Inbound rows that came through IMAP (an agent's console reply is ingested too, as `console`).
const IMAP_ROWS: &str = "SELECT COUNT(*) FROM inbound WHERE source = 'imap'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_share_the_mailboxes_the_outbox_and_the_sessions() {
    let Some(mut cluster) = Cluster::start().await else { return };
    let started = Instant::now();

    // (1) Mail in both mailboxes: each message becomes one ticket, each mailbox has one drainer.
    cluster.append_round("before").await;
    cluster.wait_ingested().await;
    let mut holders = BTreeMap::new();
    for (mailbox, _) in MAILBOXES {
        let holder = cluster.holder(mailbox).await;
        eprintln!("mailbox {mailbox} is held by daemon {}", DAEMONS[holder]);
        holders.insert(mailbox, holder);
        for (index, daemon) in cluster.daemons.iter().enumerate() {
            let fetched = daemon.fetched(mailbox);
            let expected = if index == holder { PER_ROUND as u64 } else { 0 };
            assert_eq!(
                fetched,
                expected,
                "daemon {} fetched {fetched} from {mailbox}\n{}",
                daemon.name,
                cluster.logs()
            );
        }
    }

    // (4) A session made through one daemon is valid on the others (the load balancer may send
    // each request elsewhere): the sign-in form comes from A, is posted to B, the console is read
    // on C and A, a reply goes through C with the CSRF token of a page B rendered, and signing out
    // through A ends the session everywhere.
    cluster.sessions_are_shared().await;

    // (3) Every outgoing mail so far (auto-responses, the agent's reply) was sent exactly once.
    cluster.assert_each_mail_sent_once().await;

    // (2) SIGKILL the holder of `support`. The outbox is idle now (every row sent, none in flight),
    // so no mail is inside the duplicate window of docs/outbox.md: exactly once stays exact.
    let victim = holders["support"];
    let moved: Vec<&str> = MAILBOXES.iter().map(|(m, _)| *m).filter(|m| holders[m] == victim).collect();
    assert_eq!(cluster.scalar("SELECT COUNT(*) FROM outbox WHERE status = 'sending'").await, 0);
    let killed_at = Instant::now();
    cluster.daemons[victim].kill();
    // Mail keeps arriving while the mailbox has no holder.
    cluster.append_round("after").await;
    for mailbox in &moved {
        let took = cluster.wait_lock_taken(mailbox, killed_at).await;
        eprintln!(
            "takeover: mailbox {mailbox} locked by another daemon {} ms after SIGKILL",
            took.as_millis()
        );
        assert!(took < TAKEOVER + Duration::from_secs(5), "{mailbox} taken over only after {took:?}");
    }
    cluster.wait_ingested().await;
    eprintln!(
        "takeover: mail appended after SIGKILL all ingested {} ms after it",
        killed_at.elapsed().as_millis()
    );
    for (mailbox, _) in MAILBOXES {
        let holder = cluster.holder(mailbox).await;
        assert_ne!(holder, victim, "the killed daemon holds nothing");
        if !moved.contains(&mailbox) {
            assert_eq!(holder, holders[mailbox], "{mailbox} stayed where it was");
        }
        eprintln!("mailbox {mailbox} is now held by daemon {}", DAEMONS[holder]);
        let fetched: u64 = cluster.daemons.iter().map(|d| d.fetched(mailbox)).sum();
        assert_eq!(
            fetched,
            2 * PER_ROUND as u64,
            "each message of {mailbox} fetched once\n{}",
            cluster.logs()
        );
    }
    cluster.assert_each_mail_sent_once().await;
    cluster.assert_no_panic();
    eprintln!("three daemons: whole scenario in {} ms", started.elapsed().as_millis());
}

/// Fails until `serve` handles SIGHUP (today its default action ends the process): the reload
/// branch makes it pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_on_one_daemon_does_not_disturb_the_others() {
    let Some(mut cluster) = Cluster::start().await else { return };
    let mut holders = BTreeMap::new();
    for (mailbox, _) in MAILBOXES {
        holders.insert(mailbox, (cluster.holder(mailbox).await, cluster.lock_pids(mailbox).await));
    }
    // With three daemons and two mailboxes one daemon holds none: the others must keep draining.
    let hup = (0..DAEMONS.len())
        .find(|index| holders.values().all(|(holder, _)| holder != index))
        .expect("three daemons, two mailboxes");
    let signalled = Command::new("kill").args(["-HUP", &cluster.daemons[hup].id().to_string()]).status();
    assert!(signalled.is_ok_and(|s| s.success()), "kill -HUP");
    // Let the signal take effect (a reload, or today the end of the process) before mail arrives.
    tokio::time::sleep(Duration::from_secs(1)).await;

    cluster.append_round("after-hup").await;
    cluster.wait_ingested().await;
    cluster.assert_each_mail_sent_once().await;
    for (mailbox, _) in MAILBOXES {
        let (holder, pids) = &holders[mailbox];
        assert_eq!(cluster.holder(mailbox).await, *holder, "{mailbox} kept its holder");
        assert_eq!(&cluster.lock_pids(mailbox).await, pids, "{mailbox}'s lease was never released");
        assert_eq!(cluster.daemons[*holder].fetched(mailbox), PER_ROUND as u64);
    }
    let daemon = &mut cluster.daemons[hup];
    let ended = daemon.child.try_wait().unwrap();
    assert!(
        ended.is_none(),
        "daemon {} ended on SIGHUP ({ended:?}); it must reload\n{}",
        daemon.name,
        daemon.log_text()
    );
    let address = daemon.web;
    wait_healthy(address).await;
    cluster.assert_no_panic();
}

/// Three daemons on one fresh PostgreSQL database, two mailboxes, one SMTP sink.
struct Cluster {
    /// Stopped (SIGKILL) on drop, before anything else goes.
    daemons: Vec<Daemon>,
    store: Store,
    sink: SmtpSink,
    /// One per mailbox, in the order of [`MAILBOXES`].
    clients: Vec<ImapClient>,
    /// Every message appended so far, per mailbox.
    appended: Vec<Vec<String>>,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// `None` when PostgreSQL, Dovecot or aiosmtpd is missing (see `common::require`).
    async fn start() -> Option<Cluster> {
        let db = TestDb::new(Backend::Postgres).await?;
        let imap = TestImap::from_env()?;
        if !common::smtp::available() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let sink = SmtpSink::start(free_port(), dir.path().join("Maildir"));
        let mut clients = Vec::new();
        let mut mailboxes = String::new();
        for (name, address) in MAILBOXES {
            let user = imap.fresh_user();
            mailboxes += &imap.named_mailbox_toml(name, address, &user);
            clients.push(imap.client(&user).await);
        }
        let mut configs = Vec::new();
        for name in DAEMONS {
            let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
            let config = dir.path().join(format!("{name}.toml"));
            std::fs::write(&config, site_config(&db.url, sink.port, web, &mailboxes)).unwrap();
            configs.push((name, config, web));
        }
        // The three start together on a fresh database: migrations and the directory sync are
        // serialised by advisory locks, so all three start.
        let daemons = configs
            .into_iter()
            .map(|(name, config, web)| {
                Daemon::spawn(name, &config, &dir.path().join(format!("{name}.log")), web)
            })
            .collect();
        let store = Store::connect(&db.url, &StoreOptions::default()).unwrap();
        let cluster = Cluster {
            daemons,
            store,
            sink,
            clients,
            appended: vec![Vec::new(); MAILBOXES.len()],
            _db: db,
            _dir: dir,
        };
        for daemon in &cluster.daemons {
            wait_healthy(daemon.web).await;
        }
        Some(cluster)
    }

    /// Appends [`PER_ROUND`] messages from new customers to each mailbox.
    async fn append_round(&mut self, round: &str) {
        for (index, (mailbox, address)) in MAILBOXES.iter().enumerate() {
            let mut raws = Vec::new();
            for n in 0..PER_ROUND {
                let id = format!("<{round}-{mailbox}-{n}@customer.test>");
                let mut mail =
                    Mail::new(&format!("c-{round}-{mailbox}-{n}@example.org"), &format!("{round} {n}"), "Hi")
                        .id(&id);
                mail.to = format!("Support <{address}>");
                raws.push(mail.build().into_bytes());
                self.appended[index].push(id);
            }
            self.clients[index].append_many("INBOX", &raws).await;
        }
    }

    /// Waits until every message appended so far is on a ticket and out of the INBOXes, then
    /// checks each was taken in and moved exactly once.
    async fn wait_ingested(&mut self) {
        let total: usize = self.appended.iter().map(Vec::len).sum();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let inbound = self.scalar(IMAP_ROWS).await as usize;
            let mut left = 0;
            for client in &mut self.clients {
                left += client.count("INBOX").await;
            }
            if inbound >= total && left == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{inbound} of {total} ingested, {left} left\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(self.scalar(IMAP_ROWS).await as usize, total, "one inbound row per message");
        assert_eq!(
            self.scalar("SELECT COUNT(*) FROM tickets").await as usize,
            total,
            "one ticket per message"
        );
        assert_eq!(self.scalar("SELECT COUNT(*) FROM inbound WHERE outcome <> 'ticket'").await, 0);
        let per_mailbox = self
            .strings(
                "SELECT mailbox || ':' || COUNT(*) FROM inbound WHERE source = 'imap' \
                 GROUP BY mailbox ORDER BY mailbox",
            )
            .await;
        let mut expected: Vec<String> = MAILBOXES
            .iter()
            .zip(&self.appended)
            .map(|((name, _), ids)| format!("{name}:{}", ids.len()))
            .collect();
        expected.sort();
        assert_eq!(per_mailbox, expected, "each mailbox's messages, once");
        for (index, client) in self.clients.iter_mut().enumerate() {
            let mut processed = client.message_ids("Processed").await;
            processed.sort();
            let mut appended = self.appended[index].clone();
            appended.sort();
            assert_eq!(processed, appended, "{}: each message moved to Processed once", MAILBOXES[index].0);
        }
    }

    /// The one daemon holding `mailbox`: exactly one granted advisory lock in `pg_locks`, and
    /// exactly one running daemon whose log says it holds the lease. Waits for a holder.
    async fn holder(&mut self, mailbox: &str) -> usize {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let locks = self.lock_pids(mailbox).await;
            let claims: Vec<usize> = (0..self.daemons.len())
                .filter(|&i| self.daemons[i].running() && self.daemons[i].holds(mailbox))
                .collect();
            assert!(
                locks.len() <= 1 && claims.len() <= 1,
                "{mailbox}: locks {locks:?}, claims {claims:?}\n{}",
                self.logs()
            );
            if let ([_], [holder]) = (locks.as_slice(), claims.as_slice()) {
                return *holder;
            }
            assert!(Instant::now() < deadline, "no holder of {mailbox}\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The backend pids holding `mailbox`'s advisory lock in this database.
    async fn lock_pids(&self, mailbox: &str) -> Vec<i64> {
        let key = lock_key(mailbox);
        // A bigint advisory lock shows as classid (high half), objid (low half), objsubid 1.
        let (high, low) = (i64::from((key >> 32) as u32), i64::from(key as u32));
        self.store
            .read(move |tx| {
                tx.query_all(
                    "SELECT pid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted \
                     AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                     AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1",
                    &[Value::Int(high), Value::Int(low)],
                    |r| r.i64(0),
                )
            })
            .await
            .unwrap()
    }

    /// Polls `pg_locks` until `mailbox`'s lock is granted again; the time since `since`.
    async fn wait_lock_taken(&self, mailbox: &str, since: Instant) -> Duration {
        loop {
            if !self.lock_pids(mailbox).await.is_empty() {
                return since.elapsed();
            }
            assert!(since.elapsed() < PATIENCE, "nobody took {mailbox} over\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sign-in, console pages, a reply and sign-out, each through a different daemon.
    async fn sessions_are_shared(&self) {
        let (a, b, c) = (self.daemons[0].web, self.daemons[1].web, self.daemons[2].web);
        let config = self.daemons[0].config.clone();
        let out = run_with(&config, &["agent", "set-password", "alice"], b"blue velvet staircase\n");
        assert_eq!(code(&out), 0, "{}", text(&out));

        let mut client = Client::new(a);
        let form = client.get("/agent/login").await.csrf();
        client.address = b;
        let login = format!("login=alice&password=blue+velvet+staircase&csrf={}", encode(&form));
        let signed = client.post("/agent/login", &login).await;
        assert_eq!(signed.location(), "/agent", "a form from A signs in through B");
        let number = self.string("SELECT number FROM tickets ORDER BY id LIMIT 1").await;
        for address in [c, a] {
            client.address = address;
            let queue = client.get("/agent").await;
            assert_eq!(
                queue.status,
                200,
                "B's session on {address}: {:?} {}\n{}",
                queue.header("location"),
                queue.body,
                self.logs()
            );
            assert!(queue.body.contains(&format!("/agent/t/{number}")), "the queue lists the tickets");
        }
        client.address = b;
        let page = client.get(&format!("/agent/t/{number}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = page.csrf();
        client.address = c;
        let reply = format!("text={}&csrf={}", encode("Answered through another daemon."), encode(&csrf));
        let sent = client.post(&format!("/agent/t/{number}/reply"), &reply).await;
        assert_eq!(sent.location(), format!("/agent/t/{number}?done=reply"), "{}", sent.body);
        assert_eq!(self.scalar("SELECT COUNT(*) FROM outbox WHERE template = 'response_relay'").await, 1);

        let cookies = client.cookies.clone();
        client.address = a;
        let out = client.post("/agent/logout", &format!("csrf={}", encode(&csrf))).await;
        assert_eq!(out.location(), "/agent/login");
        for address in [b, c] {
            let mut stale = Client::new(address);
            stale.cookies = cookies.clone();
            assert_eq!(stale.get("/agent").await.location(), "/agent/login", "signed out on {address} too");
        }
    }

    /// Waits until the outbox is drained, then checks that the sink received every mail of the
    /// outbox exactly once (by Message-ID) and nothing else.
    async fn assert_each_mail_sent_once(&self) {
        let deadline = Instant::now() + PATIENCE;
        while self.scalar("SELECT COUNT(*) FROM outbox WHERE status <> 'sent'").await > 0 {
            let states = self
                .string(
                    "SELECT string_agg(status || ':' || n, ', ') FROM \
                     (SELECT status, COUNT(*) AS n FROM outbox GROUP BY status) s",
                )
                .await;
            assert!(Instant::now() < deadline, "outbox not drained: {states}\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let queued = self.strings("SELECT message_id FROM outbox").await;
        let tickets = self.scalar("SELECT COUNT(*) FROM tickets").await;
        let responses =
            self.scalar("SELECT COUNT(*) FROM outbox WHERE template = 'new_ticket_auto_response'").await;
        assert_eq!(responses, tickets, "an auto-response per ticket, among {} mails", queued.len());
        let mut received: BTreeMap<String, usize> = BTreeMap::new();
        for mail in self.sink.messages() {
            let id = header(&mail, "Message-ID").unwrap_or_else(|| panic!("no Message-ID in\n{mail}"));
            *received.entry(bare(&id)).or_default() += 1;
        }
        for id in &queued {
            let times = received.remove(&bare(id)).unwrap_or(0);
            assert_eq!(times, 1, "mail {id} received {times} times\n{}", self.logs());
        }
        assert!(received.is_empty(), "mail the outbox does not know: {received:?}");
    }

    fn assert_no_panic(&self) {
        assert!(!self.logs().contains("panicked"), "{}", self.logs());
    }

    async fn scalar(&self, sql: &'static str) -> i64 {
        self.store.read(move |tx| tx.query_one(sql, &[], |r| r.i64(0))).await.unwrap()
    }

    async fn string(&self, sql: &'static str) -> String {
        self.store.read(move |tx| tx.query_one(sql, &[], |r| r.string(0))).await.unwrap()
    }

    async fn strings(&self, sql: &'static str) -> Vec<String> {
        self.store.read(move |tx| tx.query_all(sql, &[], |r| r.string(0))).await.unwrap()
    }

    /// Every daemon's log, for failure messages.
    fn logs(&self) -> String {
        self.daemons.iter().map(|d| format!("--- daemon {}:\n{}", d.name, d.log_text())).collect()
    }
}

/// One `mailgate serve` process and its JSON log.
struct Daemon {
    name: &'static str,
    child: Child,
    config: PathBuf,
    log: PathBuf,
    web: SocketAddr,
}

impl Daemon {
    fn spawn(name: &'static str, config: &Path, log: &Path, web: SocketAddr) -> Daemon {
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mailgate"))
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env_remove("MAILGATE_LOG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start mailgate serve");
        Daemon { name, child, config: config.to_path_buf(), log: log.to_path_buf(), web }
    }

    fn id(&self) -> u32 {
        self.child.id()
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL, and reap the process.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Whether the log says this daemon holds `mailbox`'s lease now: its last lease event for it
    /// is "holding" (a failed or stopped intake drops the lease).
    fn holds(&self, mailbox: &str) -> bool {
        let mut holds = false;
        for (message, fields) in self.events() {
            if fields.get("mailbox").and_then(|m| m.as_str()) != Some(mailbox) {
                continue;
            }
            if message == "holding the mailbox lease" {
                holds = true;
            } else if message.starts_with("IMAP intake failed") || message == "IMAP intake stopped" {
                holds = false;
            }
        }
        holds
    }

    /// Messages this daemon fetched from `mailbox`, summed over its logged passes.
    fn fetched(&self, mailbox: &str) -> u64 {
        self.events()
            .filter(|(message, fields)| {
                message == "IMAP pass" && fields.get("mailbox").and_then(|m| m.as_str()) == Some(mailbox)
            })
            .map(|(_, fields)| fields.get("fetched").and_then(|n| n.as_u64()).unwrap_or(0))
            .sum()
    }

    /// (message, fields) of each JSON log line.
    fn events(&self) -> impl Iterator<Item = (String, serde_json::Value)> {
        self.log_text()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|event| {
                let fields = event.get("fields")?.clone();
                let message = fields.get("message")?.as_str()?.to_string();
                Some((message, fields))
            })
            .collect::<Vec<_>>()
            .into_iter()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The configuration every daemon shares, but for `web.bind`.
fn site_config(url: &str, smtp_port: u16, web: SocketAddr, mailboxes: &str) -> String {
    format!(
        r#"
[instance]
support_addresses = ["support@example.com", "sales@example.com"]
message_id_domain = "mg.mailgate.test"

[database]
url = "{url}"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
pool_size = 4
timeout_ms = 5000

[imap]
takeover_seconds = {takeover}

[web]
base_url = "http://help.example.com"
bind = "{web}"

[log]
format = "json"

[[agents]]
key = "alice"
name = "Alice Agent"
emails = ["alice@example.com"]

{mailboxes}"#,
        takeover = TAKEOVER.as_secs(),
    )
}

/// Waits until the web endpoint at `address` answers `/healthz`.
async fn wait_healthy(address: SocketAddr) {
    let deadline = Instant::now() + PATIENCE;
    while tokio::net::TcpStream::connect(address).await.is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {address}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = Client::new(address).get("/healthz").await;
    assert_eq!(page.status, 200, "{address}/healthz: {}", page.body);
    assert!(page.body.contains(r#""database":"ok""#), "{address}/healthz: {}", page.body);
}

/// The advisory lock id of `mailbox`, as `src/store/lease.rs` derives it.
fn lock_key(mailbox: &str) -> i64 {
    let digest = Sha256::digest(format!("mailgate imap mailbox {mailbox}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().unwrap())
}

/// A Message-ID without its angle brackets.
fn bare(id: &str) -> String {
    id.trim().trim_start_matches('<').trim_end_matches('>').to_string()
}
