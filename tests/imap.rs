//! IMAP intake against a real Dovecot (started by scripts/test-services.sh; `MAILGATE_TEST_IMAP`):
//! push and polling, TLS, checkpoints across restarts, corrupt mail, a wrong password, and two
//! pollers sharing one PostgreSQL. The crash test (SIGKILL) is in tests/imap_crash.rs.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::imap::TestImap;
use common::{Backend, Harness, Mail};
use mailgate::imap::{Poller, Status};
use mailgate::ingest::Ingestor;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A mailbox on a fresh Dovecot user, a database, and a way to run pollers on them.
struct Setup {
    imap: TestImap,
    user: String,
    h: Harness,
}

impl Setup {
    async fn new(backend: Backend, mailbox: &str) -> Option<Setup> {
        let imap = TestImap::from_env()?;
        let user = imap.fresh_user();
        // `mailbox` may set its own password, and may end with further tables.
        let section = imap.mailbox_toml(&user, !mailbox.contains("password"));
        let extra =
            format!("[imap]\ntakeover_seconds = 6\ncommand_timeout_seconds = 10\n\n{section}{mailbox}\n");
        let h = Harness::with_config(backend, &extra).await?;
        Some(Setup { imap, user, h })
    }

    /// Starts a poller with its own app context (as another daemon would have).
    async fn start(&self) -> Running {
        let app = mailgate::app::open(&self.h.config).await.expect("open store");
        let poller =
            Poller::new(self.h.config.mailboxes[0].clone(), self.h.config.imap.clone(), Ingestor::new(app));
        let status = poller.status();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(poller.run(stopped));
        Running { status, stop, task }
    }

    async fn inbound(&self) -> i64 {
        self.h.scalar_i64("SELECT COUNT(*) FROM inbound").await
    }

    /// Waits until `inbound` reaches `n`, up to `limit`; returns the time it took.
    async fn until_inbound(&self, n: i64, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let have = self.inbound().await;
            if have >= n {
                return start.elapsed();
            }
            assert!(start.elapsed() < limit, "{have} of {n} messages taken in after {limit:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

struct Running {
    status: Arc<Mutex<Status>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    fn status(&self) -> Status {
        self.status.lock().unwrap().clone()
    }

    /// Waits until the poller finished a first pass (connected, and idling when it can).
    async fn until_ready(&self) {
        let start = Instant::now();
        while self.status().passes == 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "no pass after 10 s: {:?}", self.status());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(15), self.task).await.expect("poller stops").unwrap();
    }
}

fn message(n: usize) -> Vec<u8> {
    Mail::new(&format!("customer{n}@example.org"), &format!("Question {n}"), "Hello, it broke.")
        .id(&format!("<imap-{n}@example.org>"))
        .build()
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appended_mail_becomes_a_ticket_with_idle() {
    let Some(s) = Setup::new(Backend::Sqlite, "idle = true").await else { return };
    let poller = s.start().await;
    poller.until_ready().await;
    assert!(poller.status().idling, "{:?}", poller.status());
    let mut client = s.imap.client(&s.user).await;
    client.append("INBOX", &message(1)).await;
    let took = s.until_inbound(1, Duration::from_secs(2)).await;
    eprintln!("APPEND -> stored with IDLE: {took:?}");
    assert_eq!(s.h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 1);
    poller.stop().await;
    assert_eq!(client.count("INBOX").await, 0, "moved out of INBOX after the commit");
    assert_eq!(client.message_ids("Processed").await, ["<imap-1@example.org>"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appended_mail_becomes_a_ticket_by_polling() {
    let Some(s) = Setup::new(Backend::Sqlite, "idle = false\npoll_interval_seconds = 1").await else {
        return;
    };
    let poller = s.start().await;
    poller.until_ready().await;
    assert!(!poller.status().idling);
    let mut client = s.imap.client(&s.user).await;
    client.append("INBOX", &message(1)).await;
    let took = s.until_inbound(1, Duration::from_secs(2)).await;
    eprintln!("APPEND -> stored by polling every 1 s: {took:?}");
    poller.stop().await;
    assert_eq!(client.count("INBOX").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_from_the_checkpoint() {
    let Some(s) = Setup::new(Backend::Sqlite, "after = \"flag\"").await else { return };
    let mut client = s.imap.client(&s.user).await;
    client.append_many("INBOX", &(1..=3).map(message).collect::<Vec<_>>()).await;
    let first = s.start().await;
    s.until_inbound(3, Duration::from_secs(10)).await;
    first.until_ready().await;
    assert_eq!(first.status().totals.fetched, 3);
    first.stop().await;
    let flags = client.flags("INBOX").await;
    assert!(flags.iter().all(|(_, f)| f.iter().any(|f| f == "\\Seen")), "flagged, left in place: {flags:?}");

    client.append("INBOX", &message(4)).await;
    let second = s.start().await;
    s.until_inbound(4, Duration::from_secs(10)).await;
    second.until_ready().await;
    let status = second.status();
    second.stop().await;
    assert_eq!(status.totals.fetched, 1, "only the new message is fetched: {status:?}");
    assert_eq!(s.h.scalar_i64("SELECT last_uid FROM imap_checkpoints WHERE mailbox = 'support'").await, 4);
    assert_eq!(s.h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_message_goes_to_the_error_folder_while_others_flow() {
    let Some(s) = Setup::new(Backend::Sqlite, "").await else { return };
    let mut client = s.imap.client(&s.user).await;
    let corrupt = b"\x00\x01\x02 this is not a mail message at all\r\n".to_vec();
    client.append_many("INBOX", &[message(1), corrupt, message(2), message(3)]).await;
    let poller = s.start().await;
    s.until_inbound(4, Duration::from_secs(10)).await;
    poller.until_ready().await;
    let status = poller.status();
    poller.stop().await;
    assert_eq!((status.totals.processed, status.totals.quarantined), (3, 1), "{status:?}");
    assert_eq!(s.h.scalar_i64("SELECT COUNT(*) FROM inbound WHERE outcome = 'quarantined'").await, 1);
    assert_eq!(s.h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 3);
    assert_eq!(client.count("INBOX").await, 0);
    assert_eq!(client.count("Quarantine").await, 1);
    assert_eq!(client.count("Processed").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_reported_and_retried_slowly() {
    let Some(s) = Setup::new(Backend::Sqlite, "password = \"not-the-password\"").await else { return };
    let poller = s.start().await;
    let start = Instant::now();
    while poller.status().failures == 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "no failure reported");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = poller.status();
    let error = status.last_error.clone().unwrap();
    assert!(error.contains("login as") && error.contains("refused"), "{error}");
    assert_eq!(status.retry_in, Some(Duration::from_secs(60)), "a refused login waits a minute");
    assert!(!poller.task.is_finished(), "the task keeps running");
    poller.stop().await;
}

/// Connects the way the daemon does, to the implicit-TLS port.
async fn connect_tls(s: &Setup, tls: &str, port: u16, trust: bool) -> Result<(), String> {
    let ca = if trust { format!("ca_file = \"{}\"\n", s.imap.ca.display()) } else { String::new() };
    let text = format!(
        "[[mailbox]]\nname = \"t\"\naddresses = [\"support@example.com\"]\nhost = \"localhost\"\nport = {port}\n\
         tls = \"{tls}\"\nusername = \"{}\"\npassword = \"{}\"\n{ca}",
        s.user, s.imap.password
    );
    let config = mailgate::config::from_toml(&text, "<test>").unwrap();
    let mailbox = &config.mailboxes[0];
    let tls = mailgate::imap::connect::tls_config(mailbox);
    match mailgate::imap::connect::connect(mailbox, &tls, Duration::from_secs(10)).await {
        Ok((mut session, _)) => {
            session.logout().await.unwrap();
            Ok(())
        }
        Err(error) => Err(error.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_starttls_verify_the_server() {
    let Some(s) = Setup::new(Backend::Sqlite, "").await else { return };
    connect_tls(&s, "tls", s.imap.tls_port, true).await.unwrap();
    connect_tls(&s, "starttls", s.imap.port, true).await.unwrap();
    for (mode, port) in [("tls", s.imap.tls_port), ("starttls", s.imap.port)] {
        let error = connect_tls(&s, mode, port, false).await.unwrap_err();
        assert!(error.contains("TLS with localhost") && error.contains("certificate"), "{mode}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_a_mailbox_and_hand_it_over() {
    if common::test_pg_url().is_none() {
        return;
    }
    let Some(s) = Setup::new(Backend::Postgres, "").await else { return };
    let mut client = s.imap.client(&s.user).await;
    client.append_many("INBOX", &(1..=100).map(message).collect::<Vec<_>>()).await;
    let (a, b) = (s.start().await, s.start().await);
    s.until_inbound(100, Duration::from_secs(30)).await;
    // Totals are updated when a pass ends, just after its last commit.
    let start = Instant::now();
    while a.status().totals.fetched + b.status().totals.fetched < 100 {
        assert!(start.elapsed() < Duration::from_secs(10), "{:?} {:?}", a.status(), b.status());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (sa, sb) = (a.status(), b.status());
    assert!(sa.connected != sb.connected, "exactly one instance polls: {sa:?} {sb:?}");
    assert_eq!(sa.totals.fetched + sb.totals.fetched, 100, "nothing fetched twice: {sa:?} {sb:?}");

    // The holder dies (its task and its lease connection vanish); the standby takes over.
    let (holder, standby) = if sa.connected { (a, b) } else { (b, a) };
    holder.task.abort();
    let died = Instant::now();
    client.append_many("INBOX", &(101..=150).map(message).collect::<Vec<_>>()).await;
    s.until_inbound(150, Duration::from_secs(30)).await;
    eprintln!("takeover and 50 messages after the holder died: {:?}", died.elapsed());
    assert!(standby.status().connected);
    standby.stop().await;
    assert_eq!(s.h.scalar_i64("SELECT COUNT(*) FROM inbound").await, 150);
    assert_eq!(client.count("INBOX").await, 0);
    assert_eq!(client.count("Processed").await, 150);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uidvalidity_change_rescans_without_duplicates() {
    let Some(s) = Setup::new(Backend::Sqlite, "after = \"flag\"").await else { return };
    let mut client = s.imap.client(&s.user).await;
    client.append_many("INBOX", &(1..=3).map(message).collect::<Vec<_>>()).await;
    let first = s.start().await;
    s.until_inbound(3, Duration::from_secs(10)).await;
    first.stop().await;
    // As if the folder had been recreated: the stored checkpoint names another UIDVALIDITY.
    s.h.write(|tx| tx.execute("UPDATE imap_checkpoints SET uid_validity = uid_validity + 1", &[]).map(drop))
        .await;
    let second = s.start().await;
    second.until_ready().await;
    let status = second.status();
    second.stop().await;
    assert_eq!(status.totals.fetched, 3, "the folder is read again: {status:?}");
    assert_eq!(s.inbound().await, 3, "and nothing is stored twice");
    assert_eq!(s.h.scalar_i64("SELECT COUNT(*) FROM entries").await, 3);
}

#[test]
fn mailbox_test_command_reports_what_the_server_offers() {
    let Some(imap) = TestImap::from_env() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mailgate.toml");
    let run = |ca: &str, name: &str| {
        std::fs::write(
            &config,
            format!(
                "[[mailbox]]\nname = \"support\"\naddresses = [\"support@example.com\"]\nhost = \"localhost\"\n\
                 port = {}\ntls = \"tls\"\nusername = \"{}\"\npassword = \"{}\"\n{ca}",
                imap.tls_port,
                imap.fresh_user(),
                imap.password
            ),
        )
        .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailgate"))
            .args(["mailbox", "test", name, "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code(), text)
    };
    let trusted = format!("ca_file = \"{}\"\n", imap.ca.display());
    let (code, text) = run(&trusted, "support");
    assert_eq!(code, Some(0), "{text}");
    for expected in ["logged in", "IDLE", "MOVE", "waiting for mail: IDLE (push)", "folder INBOX: 0 messages"]
    {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    assert!(text.contains("processed_folder Processed: missing; created on the first run"), "{text}");
    assert!(!text.contains(&imap.password), "the password is never printed:\n{text}");

    let (code, text) = run("", "support");
    assert_eq!(code, Some(69), "{text}");
    assert!(text.contains("TLS with localhost") && text.contains("ca_file"), "{text}");

    let (code, text) = run(&trusted, "sales");
    assert_eq!(code, Some(78), "{text}");
    assert!(text.contains("no [[mailbox]] named \"sales\"; configured: support"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_is_refused_from_its_header_and_kept_on_the_server() {
    let Some(s) = Setup::new(Backend::Sqlite, "[limits]\nmax_message_bytes = 4096").await else { return };
    let big =
        Mail::new("Jane <jane@example.org>", "Logs", &"log line\r\n".repeat(2000)).id("<big@example.org>");
    let mut client = s.imap.client(&s.user).await;
    client.append_many("INBOX", &[big.build().into_bytes(), message(1)]).await;
    let poller = s.start().await;
    s.until_inbound(2, Duration::from_secs(10)).await;
    poller.until_ready().await;
    let status = poller.status();
    poller.stop().await;
    assert_eq!((status.totals.processed, status.totals.quarantined), (1, 1), "{status:?}");
    let reason = s.h.strings("SELECT reason FROM inbound WHERE outcome = 'quarantined'", "").await;
    assert!(reason[0].contains("over limits.max_message_bytes (4096)"), "{reason:?}");
    let stored = s.h.scalar_i64("SELECT size FROM inbound WHERE outcome = 'quarantined'").await;
    assert!(stored < 4096, "only the header block was downloaded ({stored} bytes)");
    let notices = s.h.strings("SELECT recipient FROM outbox WHERE template = $1", "rejection_notice").await;
    assert_eq!(notices, ["jane@example.org"]);
    assert_eq!(client.message_ids("Quarantine").await, ["<big@example.org>"], "the whole message is kept");
}
