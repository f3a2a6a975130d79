//! Health, metrics and logs of the real `mailgate serve`: messages through IMAP (a real Dovecot)
//! and `mailgate pipe`, auto-responses through a real SMTP sink, then `/metrics` scraped over HTTP
//! on its own port, `/healthz` read as JSON, and the JSON log followed from a message's inbound id to
//! its ticket to the outbox's "sent" line. `/healthz` turns 503 while the database is gone (SQLite:
//! its outbox table renamed away; PostgreSQL: a private server stopped) and 200 again after.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::imap::TestImap;
use common::ports::free_port;
use common::site::{Site, code, run_with, stdout, text};
use common::smtp::SmtpSink;
use common::{Backend, Mail};
use serde_json::Value;

/// A running `mailgate serve` whose standard error goes to a file.
struct Daemon {
    child: Option<Child>,
    log: PathBuf,
    web: u16,
    metrics: u16,
}

impl Daemon {
    /// Starts `serve` on `config` (which binds `web` and `metrics`) and waits until it answers.
    fn start(config: &Path, log: &Path, web: u16, metrics: u16) -> Daemon {
        let child = Command::new(env!("CARGO_BIN_EXE_mailgate"))
            .arg("--config")
            .arg(config)
            .arg("serve")
            // The configuration's [log] decides, not the caller's environment.
            .env_remove("MAILGATE_LOG")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("start mailgate serve");
        let daemon = Daemon { child: Some(child), log: log.to_path_buf(), web, metrics };
        let started =
            wait_until(Duration::from_secs(30), || try_get(web, "/livez").is_some_and(|a| a.status == 200));
        assert!(started, "serve answers /livez\n{}", daemon.log());
        daemon
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and a clean exit.
    fn stop(mut self) -> String {
        let mut child = self.child.take().unwrap();
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "clean exit on SIGTERM: {status:?}\n{}", self.log());
        self.log()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

fn try_get(port: u16, path: &str) -> Option<Answer> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let content_type = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    Some(Answer { status, content_type, body: body.to_string() })
}

fn get(port: u16, path: &str) -> Answer {
    try_get(port, path).unwrap_or_else(|| panic!("GET {path} on port {port}"))
}

/// Polls `check` every 50 ms until it holds or `limit` passes; whether it held.
fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of the sample `series` (name with its labels, as exposed) in a scrape.
fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Every line of a log written with `log.format = "json"`, parsed; a line that is not JSON fails.
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"))
        })
        .collect()
}

/// The first log line whose message is `message` and whose fields match `fields`.
fn find_line<'a>(lines: &'a [Value], message: &str, fields: &[(&str, &Value)]) -> Option<&'a Value> {
    lines.iter().find(|line| {
        line["fields"]["message"] == message
            && fields.iter().all(|(key, value)| &&line["fields"][*key] == value)
    })
}

/// The site's configuration after `[instance]` and `[database]`.
fn serve_config(smtp: u16, web: u16, metrics: u16, more: &str) -> String {
    format!(
        "\n[smtp]\nhost = \"127.0.0.1\"\nport = {smtp}\n\n[web]\nbind = \"127.0.0.1:{web}\"\n\
         base_url = \"http://127.0.0.1:{web}\"\n\n[metrics]\nbind = \"127.0.0.1:{metrics}\"\n\n\
         [log]\nformat = \"json\"\n\n{more}"
    )
}

fn serve_reports_health_metrics_and_json_logs(backend: Backend) {
    if !common::smtp::available() {
        return;
    }
    let Some(imap) = TestImap::from_env() else { return };
    let (smtp_port, web, metrics) = (free_port(), free_port(), free_port());
    let scratch = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(smtp_port, scratch.path().join("maildir"));
    let user = imap.fresh_user();
    let mailbox = format!("[auth]\nmax_failed_logins = 2\n\n{}", imap.mailbox_toml(&user, true));
    let Some(site) = Site::new(backend, &serve_config(smtp_port, web, metrics, &mailbox)) else { return };

    let by_imap =
        Mail::new("ivy@example.org", "The printer is on fire", "Please help.").id("<fire@example.org>");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut client = imap.client(&user).await;
        client.append("INBOX", by_imap.build().as_bytes()).await;
        client.logout().await;
    });
    let daemon = Daemon::start(&site.config(), &scratch.path().join("serve.log"), web, metrics);

    // Piped by the MTA: another process, which logs the message's inbound id and ticket.
    let piped =
        Mail::new("ann@example.org", "Invoice question", "Where is my invoice?").id("<invoice@example.org>");
    let pipe = site.run(&["pipe"], piped.build().as_bytes());
    assert_eq!(code(&pipe), 0, "{}", text(&pipe));
    let said = stdout(&pipe);
    let number = said.split('#').nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap().to_string();
    let inbound: i64 =
        said.rsplit('#').next().and_then(|rest| rest.trim().trim_end_matches(')').parse().ok()).unwrap();

    // Both senders get an auto-response; the IMAP message became a ticket in serve itself.
    let answered = wait_until(Duration::from_secs(30), || sink.messages().len() >= 2);
    assert!(answered, "two auto-responses sent: {}\n{}", sink.messages().len(), daemon.log());

    // Web requests: a ticket page behind its token, a page that does not exist, a wrong password.
    let minted = site.run(&["link", "mint", &number, "ann@example.org"], b"");
    assert_eq!(code(&minted), 0, "{}", text(&minted));
    let url = stdout(&minted).trim().to_string();
    let path = url.strip_prefix(&format!("http://127.0.0.1:{web}")).unwrap().to_string();
    let token = path.strip_prefix("/t/").unwrap().to_string();
    assert_eq!(get(web, &path).status, 200);
    assert_eq!(get(web, "/nowhere").status, 404);
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], web));
    let refused: Vec<u16> = runtime.block_on(async {
        let mut client = common::http::Client::new(address);
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let form = "email=nobody%40example.org&password=not+it";
            statuses.push(client.submit("/login", "/login", form).await.status);
        }
        statuses
    });
    assert_eq!(refused[0], 401, "a wrong password, then the throttle (max_failed_logins = 2): {refused:?}");

    // /healthz: the database answered; the outbox and the mailbox are reported.
    let health = get(web, "/healthz");
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.content_type, "application/json");
    let health: Value = serde_json::from_str(&health.body).unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["database"], "ok", "{health}");
    for key in ["queued", "sending", "failed", "dead", "oldest_due_age_seconds"] {
        assert!(health["outbox"][key].is_u64(), "outbox.{key}: {health}");
    }
    let polled = wait_until(Duration::from_secs(10), || {
        let health: Value = serde_json::from_str(&get(web, "/healthz").body).unwrap();
        health["mailboxes"]["support"]["last_poll_age_seconds"].is_u64()
    });
    assert!(polled, "the mailbox's last poll is reported\n{}", daemon.log());
    let live = get(web, "/livez");
    assert_eq!((live.status, live.body.as_str()), (200, "ok\n"));

    // /metrics on its own port, never on the web one.
    assert_eq!(get(web, "/metrics").status, 404, "the web endpoint does not serve metrics");
    let scrape = get(metrics, "/metrics");
    assert_eq!(scrape.status, 200);
    assert!(scrape.content_type.starts_with("application/openmetrics-text"), "{}", scrape.content_type);
    let exposition = scrape.body;
    let count =
        |series: &str| sample(&exposition, series).unwrap_or_else(|| panic!("{series} in\n{exposition}"));
    assert_eq!(count(r#"mailgate_messages_total{source="imap",outcome="created",class="normal"}"#), 1.0);
    assert!(count("mailgate_ingest_duration_seconds_count") >= 1.0);
    assert!(count(r#"mailgate_sends_total{result="sent"}"#) >= 2.0);
    assert!(count(r#"mailgate_http_requests_total{route="/t/{token}",status="200"}"#) >= 1.0);
    assert!(count(r#"mailgate_http_requests_total{route="unmatched",status="404"}"#) >= 2.0);
    assert!(count(r#"mailgate_http_requests_total{route="/healthz",status="200"}"#) >= 2.0);
    assert_eq!(count(r#"mailgate_login_failures_total{realm="user",factor="password"}"#), 2.0);
    assert!(count(r#"mailgate_login_throttled_total{realm="user",factor="password"}"#) >= 1.0);
    assert_eq!(count("mailgate_database_up"), 1.0);
    assert!(count(r#"mailgate_outbox_mails{state="queued"}"#) >= 0.0);
    assert!(count("mailgate_outbox_oldest_due_age_seconds") >= 0.0);
    assert!(count(r#"mailgate_imap_poll_lag_seconds{mailbox="support"}"#) < 60.0);
    assert!(count(r#"mailgate_imap_last_poll_timestamp_seconds{mailbox="support"}"#) > 1.7e9);
    assert!(!exposition.contains(&token), "a token became a label:\n{exposition}");
    assert!(exposition.trim_end().ends_with("# EOF"));

    // The JSON logs: the pipe's line names the inbound id and the ticket; serve's "sent" line names
    // the same ticket and the outbox id of a row of that ticket.
    let piped_lines = json_lines(&String::from_utf8_lossy(&pipe.stderr));
    let ticket = Value::String(number.clone());
    let ingested = find_line(&piped_lines, "message ingested", &[("inbound_id", &Value::from(inbound))])
        .unwrap_or_else(|| panic!("an ingest line for inbound #{inbound}: {piped_lines:?}"));
    assert_eq!(ingested["level"], "INFO");
    assert_eq!(ingested["fields"]["ticket"], ticket);
    assert_eq!(ingested["fields"]["source"], "pipe");
    let log = daemon.stop();
    let lines = json_lines(&log);
    let sent = find_line(&lines, "outbox: sent", &[("ticket", &ticket)])
        .unwrap_or_else(|| panic!("a sent line for ticket #{number}:\n{log}"));
    assert_eq!(sent["level"], "INFO");
    let outbox_id = sent["fields"]["outbox_id"].as_i64().unwrap();
    let (of_ticket, status) = site.read(move |tx| {
        tx.query_one(
            "SELECT t.number, o.status FROM outbox o JOIN tickets t ON t.id = o.ticket_id WHERE o.id = $1",
            mailgate::params![outbox_id],
            |r| Ok((r.string(0)?, r.string(1)?)),
        )
    });
    assert_eq!((of_ticket, status.as_str()), (number.clone(), "sent"));
    let by_serve = find_line(&lines, "message ingested", &[("source", &Value::from("imap"))])
        .unwrap_or_else(|| panic!("serve's ingest line for the IMAP message:\n{log}"));
    assert_eq!(by_serve["fields"]["mailbox"], "support");
    assert!(by_serve["fields"]["inbound_id"].is_i64() && by_serve["fields"]["ticket"].is_string());
    for line in &lines {
        let message = line["fields"]["message"].as_str().unwrap_or_default();
        assert!(!message.contains("Some(") && !message.contains(" { "), "a Debug dump in the log: {line}");
    }
}

fn the_outbox_backlog_counts_rows_by_state(backend: Backend) {
    let Some(site) = Site::new(backend, "") else { return };
    let piped = Mail::new("ann@example.org", "Hello", "Anyone there?").id("<hello@example.org>");
    let pipe = site.run(&["pipe"], piped.build().as_bytes());
    assert_eq!(code(&pipe), 0, "{}", text(&pipe));
    let empty = site.read(mailgate::store::outbox::backlog);
    assert_eq!(empty.queued, 1, "the auto-response waits: {empty:?}");
    assert_eq!((empty.sending, empty.failed, empty.dead), (0, 0, 0));
    let queued_at = site.scalar("SELECT MIN(next_attempt_at) FROM outbox");
    assert_eq!(empty.earliest_attempt_at, Some(queued_at));
    let store = mailgate::store::Store::connect(&site.db.url, &Default::default()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(store.write(|tx| tx.execute("UPDATE outbox SET status = 'dead'", &[]))).unwrap();
    let dead = site.read(mailgate::store::outbox::backlog);
    assert_eq!((dead.queued, dead.dead, dead.earliest_attempt_at), (0, 1, None));
}

/// Two daemons on one PostgreSQL: one polls the mailbox, the other stands by, and each says so.
#[test]
fn a_standby_daemon_reports_the_mailbox_as_held_elsewhere() {
    let Some(imap) = TestImap::from_env() else { return };
    let user = imap.fresh_user();
    let mailbox = format!("[imap]\ntakeover_seconds = 6\n\n{}", imap.mailbox_toml(&user, true));
    let Some(site) = Site::new(Backend::Postgres, "") else { return };
    let scratch = tempfile::tempdir().unwrap();
    let mut daemons = Vec::new();
    for n in 0..2 {
        let (web, metrics) = (free_port(), free_port());
        let config = scratch.path().join(format!("daemon{n}.toml"));
        let own = std::fs::read_to_string(site.config()).unwrap();
        std::fs::write(&config, format!("{own}{}", serve_config(free_port(), web, metrics, &mailbox)))
            .unwrap();
        daemons.push(Daemon::start(&config, &scratch.path().join(format!("daemon{n}.log")), web, metrics));
    }
    let mailbox_of = |daemon: &Daemon| -> Value {
        let health: Value = serde_json::from_str(&get(daemon.web, "/healthz").body).unwrap();
        health["mailboxes"]["support"].clone()
    };
    let settled = wait_until(Duration::from_secs(20), || {
        let states: Vec<Value> = daemons.iter().map(mailbox_of).collect();
        let polling =
            states.iter().filter(|s| s["standby"] == false && s["last_poll_age_seconds"].is_u64()).count();
        let standing_by = states.iter().filter(|s| s["standby"] == true).count();
        (polling, standing_by) == (1, 1)
    });
    let logs: Vec<String> = daemons.iter().map(Daemon::log).collect();
    assert!(
        settled,
        "one polls, one stands by: {:?}\n{logs:?}",
        daemons.iter().map(mailbox_of).collect::<Vec<_>>()
    );
    for daemon in &daemons {
        let standby = mailbox_of(daemon)["standby"] == true;
        let exposition = get(daemon.metrics, "/metrics").body;
        let lag = sample(&exposition, r#"mailgate_imap_poll_lag_seconds{mailbox="support"}"#);
        assert_eq!(lag.is_none(), standby, "no lag from the daemon that stands by:\n{exposition}");
    }
    for daemon in daemons {
        daemon.stop();
    }
}

/// Waits until `/healthz` answers `status`; the last body.
fn health_turns(web: u16, status: u16) -> Option<Value> {
    let mut last = None;
    let turned = wait_until(Duration::from_secs(20), || {
        let answer = get(web, "/healthz");
        last = serde_json::from_str(&answer.body).ok();
        answer.status == status
    });
    turned.then_some(last).flatten()
}

/// What `/healthz`, `/livez` and the metrics say while the database is gone and after it is back;
/// `page`, a ticket page, says "try again" (503), never "not found".
fn check_outage(daemon: &Daemon, page: Option<&str>, lose: impl FnOnce(), restore: impl FnOnce()) {
    let healthy =
        health_turns(daemon.web, 200).unwrap_or_else(|| panic!("healthy at first\n{}", daemon.log()));
    assert_eq!(healthy["database"], "ok");
    lose();
    let down =
        health_turns(daemon.web, 503).unwrap_or_else(|| panic!("503 without a database\n{}", daemon.log()));
    assert_eq!(down["status"], "unavailable", "{down}");
    assert!(down["database"] == "unavailable" || down["database"] == "timeout", "{down}");
    assert!(down["outbox"].is_null(), "{down}");
    assert_eq!(get(daemon.web, "/livez").status, 200, "the process still serves HTTP");
    if let Some(page) = page {
        let answer = get(daemon.web, page);
        assert_eq!(answer.status, 503, "{}", answer.body);
        assert!(answer.body.contains("try again"), "{}", answer.body);
        assert!(!answer.body.to_lowercase().contains("not found"), "{}", answer.body);
    }
    let exposition = get(daemon.metrics, "/metrics").body;
    assert_eq!(sample(&exposition, "mailgate_database_up"), Some(0.0), "{exposition}");
    restore();
    let back = health_turns(daemon.web, 200).unwrap_or_else(|| panic!("healthy again\n{}", daemon.log()));
    assert_eq!(back["database"], "ok");
    let warned = daemon.log().contains("the database does not answer");
    assert!(warned, "the outage is logged at WARN with what to check\n{}", daemon.log());
}

#[test]
fn healthz_is_503_while_the_sqlite_database_fails() {
    let (web, metrics) = (free_port(), free_port());
    let site = Site::new(Backend::Sqlite, &serve_config(free_port(), web, metrics, "")).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&site.config(), &scratch.path().join("serve.log"), web, metrics);
    // Running as root, file permissions stop nothing and open connections keep a deleted file: a
    // table the probe reads going missing is the failure we can cause.
    let file = site.db.url.strip_prefix("sqlite://").unwrap().to_string();
    let rename = |from: &str, to: &str| {
        let conn = rusqlite::Connection::open(&file).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn.execute_batch(&format!("ALTER TABLE {from} RENAME TO {to}")).unwrap();
    };
    check_outage(&daemon, None, || rename("outbox", "outbox_away"), || rename("outbox_away", "outbox"));
    daemon.stop();
}

#[test]
fn healthz_is_503_while_the_postgres_server_is_down() {
    let Some(server) = common::pg_server::PgServer::start(false) else { return };
    let (web, metrics) = (free_port(), free_port());
    let scratch = tempfile::tempdir().unwrap();
    let config = scratch.path().join("mailgate.toml");
    std::fs::write(
        &config,
        format!(
            "[instance]\nsupport_addresses = [\"support@example.com\"]\n\n[database]\nurl = \"{}\"\n\
             busy_timeout_ms = 300\n{}",
            server.url("127.0.0.1", "sslmode=disable"),
            serve_config(free_port(), web, metrics, "")
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&config, &scratch.path().join("serve.log"), web, metrics);
    let mail = b"From: Ann <ann@customer.test>\r\nTo: support@example.com\r\nSubject: Printer\r\n\
                 Message-ID: <outage-page@customer.test>\r\n\r\nIt is on fire.\r\n";
    assert_eq!(code(&run_with(&config, &["pipe"], mail)), 0);
    let listed = stdout(&run_with(&config, &["ticket", "list"], b""));
    let number = listed.lines().nth(1).and_then(|line| line.split_whitespace().next()).unwrap().to_string();
    let link = stdout(&run_with(&config, &["link", "mint", &number, "ann@customer.test"], b""));
    let page = link.trim().split_once("/t/").map(|(_, token)| format!("/t/{token}")).unwrap();
    check_outage(&daemon, Some(&page), || server.stop(), || server.start_again());
    daemon.stop();
}

on_both_backends_blocking!(
    serve_reports_health_metrics_and_json_logs,
    the_outbox_backlog_counts_rows_by_state
);
