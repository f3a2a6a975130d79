//! The crash test: 2,000 messages in a real Dovecot mailbox, `mailgate serve` killed with SIGKILL
//! several times while draining it and started again. At the end every message produced exactly one
//! inbound row and one ticket, INBOX is empty, and the Processed folder holds each message once.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Mail;
use common::imap::TestImap;

const MESSAGES: usize = 2000;
const KILLS: usize = 5;

fn count(db: &Path, sql: &str) -> i64 {
    let Ok(conn) = rusqlite::Connection::open(db) else { return 0 };
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    // Before the first start the schema does not exist yet.
    conn.query_row(sql, [], |r| r.get(0)).unwrap_or(0)
}

fn serve(config: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(["serve", "--config"])
        .arg(config)
        .env("MAILGATE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap())
        .spawn()
        .expect("start mailgate serve")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_draining_loses_and_duplicates_nothing() {
    let Some(imap) = TestImap::from_env() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mailgate.db");
    let config = dir.path().join("mailgate.toml");
    let log = dir.path().join("serve.log");
    let user = imap.fresh_user();
    std::fs::write(
        &config,
        format!(
            r#"
[instance]
support_addresses = ["support@example.com"]
message_id_domain = "mg.mailgate.test"

[database]
url = "sqlite://{db}"

[smtp]
host = "127.0.0.1"
port = {smtp}

[imap]
batch_size = 50

{mailbox}"#,
            db = db.display(),
            smtp = common::ports::free_port(),
            mailbox = imap.mailbox_toml(&user, true),
        ),
    )
    .unwrap();

    let mut sent: Vec<String> = (0..MESSAGES).map(|n| format!("<crash-{n}@example.org>")).collect();
    let raws: Vec<Vec<u8>> = sent
        .iter()
        .enumerate()
        .map(|(n, id)| {
            Mail::new(&format!("c{n}@example.org"), &format!("Crash {n}"), "body").id(id).build().into_bytes()
        })
        .collect();
    let mut client = imap.client(&user).await;
    client.append_many("INBOX", &raws).await;

    let inbound = || count(&db, "SELECT COUNT(*) FROM inbound");
    let started = Instant::now();
    for kill in 0..KILLS {
        let before = inbound();
        let mut daemon = serve(&config, &log);
        // Kill at a different point each time: after some progress, or a deadline.
        let progress = 100 + 60 * kill as i64;
        let deadline = Instant::now() + Duration::from_secs(10);
        while inbound() < before + progress && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5 + 7 * kill as u64)).await;
        }
        daemon.kill().unwrap(); // SIGKILL
        daemon.wait().unwrap();
        eprintln!("kill {}: {} of {MESSAGES} taken in", kill + 1, inbound());
    }
    let mut daemon = serve(&config, &log);
    let deadline = Instant::now() + Duration::from_secs(120);
    while (inbound() as usize) < MESSAGES || client.count("INBOX").await > 0 {
        assert!(Instant::now() < deadline, "not drained: {} stored\n{}", inbound(), read_log(&log));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status().unwrap();
    let status = daemon.wait().unwrap();
    assert!(status.success(), "clean shutdown on SIGTERM: {status:?}\n{}", read_log(&log));
    eprintln!("{MESSAGES} messages through {KILLS} SIGKILLs in {:?}", started.elapsed());

    assert_eq!(inbound() as usize, MESSAGES, "one inbound row per message");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM tickets") as usize, MESSAGES, "one ticket per message");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM entries") as usize, MESSAGES, "one entry per message");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM inbound WHERE outcome <> 'ticket'"), 0);
    assert_eq!(client.count("INBOX").await, 0);
    let mut processed = client.message_ids("Processed").await;
    processed.sort();
    sent.sort();
    assert_eq!(processed.len(), MESSAGES, "each message moved once");
    assert_eq!(processed, sent, "the Processed folder holds exactly the messages sent");
}

fn read_log(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}
