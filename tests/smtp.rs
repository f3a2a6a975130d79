//! Outgoing mail through a real SMTP server (Debian's aiosmtpd): the delivered bytes, replies built
//! from them the way a mail client does, a server that is down and comes back, a server that refuses
//! our AUTH or has no STARTTLS, a 5xx answer, `mailgate outbox retry`, the notices as a mail client
//! shows them, and two auto-responders that must not mail each other forever.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::ports::free_port;
use common::smtp::{SmtpSink, available, header, mail_to, smtp_settings, worker, worker_with};
use common::{Backend, Harness, Mail, added, created};

on_both_backends!(
    delivered_mail_carries_threading_and_loop_headers,
    a_mail_queued_by_an_older_version_is_delivered_whole,
    replies_to_delivered_mail_thread_by_token_references_and_tag,
    server_down_then_up_delivers_everything_once,
    refused_auth_keeps_mail_queued_then_the_right_password_delivers_each_once,
    refused_starttls_keeps_mail_queued,
    permanent_refusal_fails_with_the_server_reply,
    outbox_retry_sends_a_queued_mail_now,
    outbox_retry_says_when_the_server_refuses_us,
    primary_contact_and_collaborator_notices_read_right,
    two_auto_responders_stop_within_the_governor_bound,
);

async fn statuses(h: &Harness) -> Vec<String> {
    h.strings("SELECT status FROM outbox ORDER BY id", "").await
}

async fn delivered_mail_carries_threading_and_loop_headers(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), dir.path().join("Maildir"));
    let (_, number) = created(
        &h.pipe(&Mail::new("Ann <ann@acme.com>", "Printer on fire", "Help!").id("<ann-1@acme.com>").build())
            .await,
    );
    let queued = h.scalar_i64("SELECT COUNT(*) FROM outbox").await;
    assert_eq!(worker(&h, sink.port).drain_once().await.unwrap() as i64, queued);
    assert!(statuses(&h).await.iter().all(|s| s == "sent"));

    let delivered = sink.messages();
    assert_eq!(delivered.len() as i64, queued, "one mail per recipient");
    let auto = mail_to(&delivered, "ann@acme.com");
    let ours =
        h.strings("SELECT message_id FROM outbox WHERE template = $1", "new_ticket_auto_response").await;
    assert_eq!(header(auto, "Message-ID").unwrap(), format!("<{}>", ours[0]));
    assert_eq!(header(auto, "In-Reply-To").unwrap(), "<ann-1@acme.com>");
    assert!(header(auto, "References").unwrap().contains("<ann-1@acme.com>"));
    assert!(header(auto, "Subject").unwrap().contains(&format!("[#{number}]")));
    assert_eq!(header(auto, "Auto-Submitted").unwrap(), "auto-replied");
    assert_eq!(header(auto, "X-Auto-Response-Suppress").unwrap(), "All");
    assert_eq!(header(auto, "X-Mailgate-Loop").unwrap(), "mg.mailgate.test");
    assert!(header(auto, "Thread-Index").is_some());
    assert_eq!(header(auto, "Thread-Topic").unwrap(), "Printer on fire");
    let reply_to = header(auto, "Reply-To").unwrap();
    let token = reply_to.split_once("support+").and_then(|(_, rest)| rest.split_once("@example.com"));
    let token = token.unwrap_or_else(|| panic!("a signed reply address: {reply_to}")).0;
    assert!(token.len() <= 46 && token.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    assert_ne!(
        header(alert_of(&delivered), "Reply-To").unwrap(),
        reply_to,
        "each recipient has their own reply address"
    );
    assert!(auto.contains("http://localhost:8080/t/"), "the auto-response links to the ticket: {auto}");
    assert!(auto.contains("Please type your reply above this line"), "{auto}");
    // The From is unverified: none of the requester's text beyond the subject (issue 13).
    assert!(
        !auto.contains("Help!") && !auto.contains("You wrote"),
        "the auto-response quotes nothing: {auto}"
    );
    assert_eq!(header(alert_of(&delivered), "Auto-Submitted").unwrap(), "auto-generated");
}

/// A row as mailgate wrote it before typed contexts (`json!`: sorted keys, `null`s) must still go
/// out after an upgrade: quoted text, links, reply address and threading as for a new row.
async fn a_mail_queued_by_an_older_version_is_delivered_whole(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), dir.path().join("Maildir"));
    let (ticket, number) = created(
        &h.pipe(&Mail::new("Ann <ann@acme.com>", "Printer on fire", "Help!").id("<ann-1@acme.com>").build())
            .await,
    );
    let alert = h.strings("SELECT context FROM outbox WHERE template = $1", "new_ticket_alert").await;
    let entry = serde_json::from_str::<serde_json::Value>(&alert[0]).unwrap()["message"]["entry_id"].clone();
    let old = format!(
        r#"{{"bounce":null,"in_reply_to":"ann-1@acme.com","mail":"new_ticket_alert","message":{{"author_email":"ann@acme.com","author_name":"Ann","entry_id":{entry},"kind":"message"}},"owner":{{"email":"ann@acme.com","name":"Ann"}},"reason":null,"recipient":{{"email":"alice@example.com"}},"ticket":{{"id":{},"number":"{number}","status":"open","subject":"Printer on fire"}}}}"#,
        ticket.0
    );
    h.write(move |tx| {
        tx.execute(
            "UPDATE outbox SET context = $1 WHERE template = 'new_ticket_alert'",
            mailgate::params![&old],
        )
    })
    .await;
    worker(&h, sink.port).drain_once().await.unwrap();
    assert!(statuses(&h).await.iter().all(|s| s == "sent"), "{:?}", statuses(&h).await);
    let delivered = sink.messages();
    let alert = alert_of(&delivered);
    assert_eq!(header(alert, "Subject").unwrap(), format!("[#{number}] New ticket: Printer on fire"));
    assert!(alert.contains("from Ann <ann@acme.com>") && alert.contains("> Help!"), "{alert}");
    assert_eq!(header(alert, "In-Reply-To").unwrap(), "<ann-1@acme.com>");
    let reply_to = header(alert, "Reply-To").unwrap();
    assert!(reply_to.contains("support+"), "a signed reply address: {reply_to}");
    let auto = mail_to(&delivered, "ann@acme.com");
    assert_eq!(header(alert, "Thread-Index"), header(auto, "Thread-Index"), "the same ticket's thread");
}

fn alert_of(delivered: &[String]) -> &String {
    mail_to(delivered, "alice@example.com")
}

/// Which one threading clue a test reply keeps.
#[derive(Clone, Copy, PartialEq)]
enum Clue {
    /// Sent to the signed Reply-To; no threading headers, no ticket tag in the subject.
    Token,
    /// Sent to the plain support address with References only.
    References,
    /// Sent to the plain support address with the subject tag only.
    Tag,
}

/// A reply made from a delivered mail the way a client does (`Re:`, quoted body, threading
/// headers), with every clue but `clue` taken away.
fn client_reply(delivered: &str, from: &str, body: &str, clue: Clue) -> String {
    let subject = header(delivered, "Subject").unwrap();
    let subject = match clue {
        Clue::Token => subject.split("] ").last().unwrap().to_string(),
        Clue::References | Clue::Tag => subject,
    };
    let mut mail = Mail::new(
        from,
        &format!("Re: {subject}"),
        &format!("{body}\n\nOn Mon, Support wrote:\n> earlier text\n"),
    );
    mail.to = match clue {
        Clue::Token => header(delivered, "Reply-To").unwrap(),
        Clue::References | Clue::Tag => "support@example.com".to_string(),
    };
    if clue == Clue::References {
        let id = header(delivered, "Message-ID").unwrap();
        let refs = header(delivered, "References").map_or(id.clone(), |r| format!("{r} {id}"));
        mail = mail.references(&refs);
    }
    mail.build()
}

async fn replies_to_delivered_mail_thread_by_token_references_and_tag(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), dir.path().join("Maildir"));
    let (ticket, _) = created(&h.pipe(&Mail::new("jane@example.org", "VPN down", "No VPN").build()).await);
    worker(&h, sink.port).drain_once().await.unwrap();
    let delivered = sink.messages();
    let auto = mail_to(&delivered, "jane@example.org");

    for (clue, body, rule) in [
        (Clue::Token, "Still down.", "by reply token"),
        (Clue::References, "Now?", "by References"),
        (Clue::Tag, "And now?", "by subject tag"),
    ] {
        let report = h.pipe(&client_reply(auto, "jane@example.org", body, clue)).await;
        assert_eq!(added(&report).0, ticket, "{}", report.trace);
        assert!(report.trace.to_string().contains(rule), "{}", report.trace);
    }

    let stripped = h
        .strings(
            "SELECT COALESCE(stripped_text, body_text) FROM entries WHERE kind = 'message' ORDER BY id DESC",
            "",
        )
        .await;
    assert_eq!(stripped[..3], ["And now?", "Now?", "Still down."]);
}

async fn server_down_then_up_delivers_everything_once(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    if !available() {
        return;
    }
    let port = free_port();
    for i in 0..5 {
        created(&h.pipe(&Mail::new(&format!("c{i}@example.org"), "Q", "x").build()).await);
    }
    let queued = h.scalar_i64("SELECT COUNT(*) FROM outbox").await as usize;
    let w = worker(&h, port);
    // Nobody listens: every row is queued again with its error and a later attempt time, and a
    // refused connection is not the mail's fault: it costs no attempt, however often it happens.
    for round in 0..5 {
        assert_eq!(w.drain_once().await.unwrap(), queued);
        assert!(statuses(&h).await.iter().all(|s| s == "queued"), "round {round}: {:?}", statuses(&h).await);
        assert_eq!(h.scalar_i64("SELECT MAX(attempts) FROM outbox").await, 0);
        let errors = h.strings("SELECT last_error FROM outbox", "").await;
        assert!(errors.iter().all(|e| e.starts_with("connect: cannot connect to 127.0.0.1:")), "{errors:?}");
        assert_eq!(w.drain_once().await.unwrap(), 0, "nothing is due before the backoff");
        h.clock.advance_ms(11 * 60 * 1000);
    }

    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(port, dir.path().join("Maildir"));
    h.clock.advance_ms(10 * 60 * 1000);
    assert_eq!(w.drain_once().await.unwrap(), queued);
    assert!(statuses(&h).await.iter().all(|s| s == "sent"));
    let delivered = sink.messages();
    assert_eq!(delivered.len(), queued, "nothing lost, nothing twice");
    let mut ids: Vec<String> = delivered.iter().filter_map(|m| header(m, "Message-ID")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), queued);
}

async fn permanent_refusal_fails_with_the_server_reply(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start_rejecting(free_port(), dir.path().join("Maildir"));
    created(&h.pipe(&Mail::new("jane@example.org", "Q", "x").build()).await);
    worker(&h, sink.port).drain_once().await.unwrap();
    assert!(statuses(&h).await.iter().all(|s| s == "failed"), "{:?}", statuses(&h).await);
    let errors = h.strings("SELECT last_error FROM outbox", "").await;
    assert!(errors.iter().all(|e| e.contains("554") || e.contains("rejected by test policy")), "{errors:?}");
}

/// SMTP settings logging in as `mailgate` with `password` (written to a file in `dir`).
fn logging_in(port: u16, dir: &Path, password: &str) -> mailgate::config::Smtp {
    let file = dir.join(format!("smtp-password-{password}"));
    std::fs::write(&file, format!("{password}\n")).unwrap();
    let mut smtp = smtp_settings(port);
    smtp.username = Some("mailgate".into());
    smtp.password_file = Some(file);
    smtp
}

async fn refused_auth_keeps_mail_queued_then_the_right_password_delivers_each_once(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start_requiring_auth(free_port(), dir.path().join("Maildir"), "mailgate", "right");
    for i in 0..3 {
        created(&h.pipe(&Mail::new(&format!("c{i}@example.org"), "Q", "x").build()).await);
    }
    let queued = h.scalar_i64("SELECT COUNT(*) FROM outbox").await as usize;
    // More rounds than max_attempts (3): a refused login never uses up a mail's attempts.
    for round in 0..5 {
        let wrong = worker_with(&h, &logging_in(sink.port, dir.path(), "wrong"));
        assert_eq!(wrong.drain_once().await.unwrap(), queued, "round {round}");
        assert!(statuses(&h).await.iter().all(|s| s == "queued"), "round {round}: {:?}", statuses(&h).await);
        assert_eq!(h.scalar_i64("SELECT MAX(attempts) FROM outbox").await, 0);
        let errors = h.strings("SELECT last_error FROM outbox", "").await;
        assert!(
            errors.iter().all(|e| e == "AUTH: 535 5.7.8 Authentication credentials invalid"),
            "the server's reply, as it said it: {errors:?}"
        );
        assert_eq!(wrong.drain_once().await.unwrap(), 0, "the mail waits out the pause");
        h.clock.advance_ms(11 * 60 * 1000);
    }
    assert!(sink.messages().is_empty());

    let right = worker_with(&h, &logging_in(sink.port, dir.path(), "right"));
    assert_eq!(right.drain_once().await.unwrap(), queued);
    assert!(statuses(&h).await.iter().all(|s| s == "sent"), "{:?}", statuses(&h).await);
    assert_eq!(h.scalar_i64("SELECT MAX(attempts) FROM outbox").await, 1);
    let delivered = sink.messages();
    assert_eq!(delivered.len(), queued, "every mail delivered once");
    let mut ids: Vec<String> = delivered.iter().filter_map(|m| header(m, "Message-ID")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), queued);
}

async fn refused_starttls_keeps_mail_queued(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), dir.path().join("Maildir"));
    created(&h.pipe(&Mail::new("jane@example.org", "Q", "x").build()).await);
    let mut smtp = smtp_settings(sink.port);
    smtp.tls = mailgate::config::SmtpTls::Starttls;
    worker_with(&h, &smtp).drain_once().await.unwrap();
    assert!(statuses(&h).await.iter().all(|s| s == "queued"), "{:?}", statuses(&h).await);
    assert_eq!(h.scalar_i64("SELECT MAX(attempts) FROM outbox").await, 0);
    let errors = h.strings("SELECT last_error FROM outbox", "").await;
    assert!(errors.iter().all(|e| e.starts_with("STARTTLS: ") && e.contains("STARTTLS")), "{errors:?}");
    assert!(sink.messages().is_empty());
}

/// A config file for the `mailgate` binary on `h`'s database, sending to `smtp_port`.
fn cli_config(h: &Harness, dir: &Path, smtp_port: u16, login: Option<&str>) -> std::path::PathBuf {
    let login = login.map_or(String::new(), |password| {
        let file = dir.join("smtp-password");
        std::fs::write(&file, password).unwrap();
        format!("username = \"mailgate\"\npassword_file = \"{}\"\n", file.display())
    });
    let path = dir.join("mailgate.toml");
    std::fs::write(
        &path,
        format!(
            "[instance]\nsupport_addresses = [\"support@example.com\"]\nmessage_id_domain = \"mg.mailgate.test\"\n\n\
             [database]\nurl = \"{}\"\n\n[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\n{login}",
            h.db.url
        ),
    )
    .unwrap();
    path
}

fn mailgate(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("MAILGATE_LOG", "info")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A row's id, made queued and not due for a long time (as after transient failures).
async fn queued_not_due(h: &Harness, recipient: &'static str) -> String {
    h.write(move |tx| {
        tx.execute(
            "UPDATE outbox SET attempts = 2, next_attempt_at = 4102444800000, last_error = 'send: 451 later'
              WHERE recipient = $1",
            mailgate::params![recipient],
        )
    })
    .await;
    h.strings("SELECT CAST(id AS TEXT) FROM outbox WHERE recipient = $1", recipient).await.remove(0)
}

async fn outbox_retry_sends_a_queued_mail_now(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), dir.path().join("Maildir"));
    created(&h.pipe(&Mail::new("jane@example.org", "Printer", "x").build()).await);
    let id = queued_not_due(&h, "jane@example.org").await;
    let config = cli_config(&h, dir.path(), sink.port, None);

    let out = mailgate(&config, &["outbox", "retry", &id]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out), format!("#{id}: sent\n"));
    let delivered = sink.messages();
    assert_eq!(delivered.len(), 1, "only the named mail");
    assert!(header(&delivered[0], "To").unwrap().contains("jane@example.org"));
    let status = h.strings("SELECT status FROM outbox WHERE recipient = $1", "jane@example.org").await;
    assert_eq!(status, ["sent"]);

    // Another mail under a live lease: a running daemon is sending it.
    h.write(|tx| {
        tx.execute(
            "UPDATE outbox SET status = 'sending', next_attempt_at = 4102444800000 WHERE recipient = 'alice@example.com'",
            &[],
        )
    })
    .await;
    let leased =
        h.strings("SELECT CAST(id AS TEXT) FROM outbox WHERE recipient = 'alice@example.com'", "").await;
    let again = mailgate(&config, &["outbox", "retry", &id, &leased[0], "999999", &id]);
    assert_eq!(
        stdout(&again),
        format!(
            "#{id}: already sent; left as it is\n#{}: being sent by a running daemon; left as it is\n\
             #999999: no such mail\n",
            leased[0]
        )
    );
    assert_eq!(again.status.code(), Some(66));
    assert_eq!(sink.messages().len(), 1, "never twice");
}

async fn outbox_retry_says_when_the_server_refuses_us(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start_requiring_auth(free_port(), dir.path().join("Maildir"), "mailgate", "right");
    created(&h.pipe(&Mail::new("jane@example.org", "Printer", "x").build()).await);
    let id = queued_not_due(&h, "jane@example.org").await;
    let config = cli_config(&h, dir.path(), sink.port, Some("wrong"));

    let out = mailgate(&config, &["outbox", "retry", &id]);
    assert_eq!(out.status.code(), Some(75), "{}{}", stdout(&out), stderr(&out));
    let said = stdout(&out);
    assert!(
        said.starts_with(&format!(
            "#{id}: not sent, the server refused us (AUTH: 535 5.7.8 Authentication credentials invalid); \
             still queued, next try "
        )),
        "{said}"
    );
    let log = stderr(&out);
    let warning = log.lines().find(|l| l.contains("WARN")).unwrap_or_else(|| panic!("no WARN line: {log}"));
    assert!(warning.contains("AUTH: 535 5.7.8 Authentication credentials invalid"), "{log}");
    for debug in ["{ ", "Error {", "kind:", "Some(", "Kind::"] {
        assert!(!log.contains(debug) && !said.contains(debug), "a Debug struct ({debug}) in: {said}{log}");
    }
    assert!(!log.contains("wrong"), "the password is never logged: {log}");
    let row = h
        .strings(
            "SELECT status || ' ' || CAST(attempts AS TEXT) FROM outbox WHERE recipient = $1",
            "jane@example.org",
        )
        .await;
    assert_eq!(row, ["queued 2"], "still queued, its attempts untouched");

    let right = cli_config(&h, dir.path(), sink.port, Some("right"));
    let out = mailgate(&right, &["outbox", "retry", &id]);
    assert_eq!(stdout(&out), format!("#{id}: sent\n"), "{}", stderr(&out));
    assert_eq!(sink.messages().len(), 1);
}

/// The notices to a primary contact and to someone in copy, read as a mail client shows them.
async fn primary_contact_and_collaborator_notices_read_right(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), dir.path().join("Maildir"));
    let mail = Mail::new("Ann <ann@acme.com>", "Broken", "It broke.").cc("Carl <carl@acme.com>");
    created(&h.pipe(&mail.build()).await);
    worker(&h, sink.port).drain_once().await.unwrap();
    let delivered = sink.messages();
    let shown = |to: &str| {
        let raw = mail_to(&delivered, to);
        let parsed = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
        (parsed.body_text(0).unwrap().into_owned(), parsed.body_html(0).unwrap().into_owned())
    };
    let (text, html) = shown("boss@acme.com");
    assert!(
        text.contains("Ann <ann@acme.com> wrote to us, and we opened ticket #",)
            && text
                .contains("You were added to it as the contact of ACME Corp: you will receive our answers"),
        "{text}"
    );
    assert!(html.contains("as the contact of ACME Corp"), "{html}");
    assert!(!text.contains("in copy") && !html.contains("in copy"), "{text}");
    let (text, _) = shown("carl@acme.com");
    assert!(text.contains("Ann <ann@acme.com> wrote to us with you in copy, so we added you"), "{text}");
    assert!(!text.contains("contact of"), "{text}");
}

/// A vacation responder that answers every mail it gets with a new mail (no Auto-Submitted, no
/// threading headers: the worst kind), for 100 rounds.
async fn two_auto_responders_stop_within_the_governor_bound(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), dir.path().join("Maildir"));
    let w = worker(&h, sink.port);
    created(&h.pipe(&Mail::new("away@example.org", "Hello", "first").build()).await);
    let mut answered = 0;
    for round in 0..100 {
        w.drain_once().await.unwrap();
        let to_responder: Vec<String> = sink
            .messages()
            .into_iter()
            .filter(|m| header(m, "To").is_some_and(|t| t.contains("away@example.org")))
            .collect();
        for _ in answered..to_responder.len() {
            let reply =
                Mail::new("away@example.org", &format!("I am away (round {round})"), "Back next week.");
            h.pipe(&reply.build()).await;
        }
        answered = to_responder.len();
    }
    let to_responder = h.scalar_i64("SELECT COUNT(*) FROM outbox WHERE recipient = 'away@example.org'").await;
    assert_eq!(to_responder, 10, "max_automatic_per_address_per_hour stops the exchange");
    assert_eq!(answered, 10);
}

/// Files in a Maildir (`new/` and `cur/`), without reading them.
fn maildir_count(maildir: &Path) -> usize {
    ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
        .map(Iterator::count)
        .sum()
}

const CRASH_MESSAGES: usize = 300;
const CRASH_KILLS: usize = 3;
const CRASH_POOL_SIZE: usize = 4;

/// A real `mailgate serve` SIGKILLed three times while draining ~900 mails into aiosmtpd, then
/// started again: every mail arrives, and each kill duplicates at most the mails in flight
/// (`smtp.pool_size`), because each is marked sent right after the server's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_sending_duplicates_at_most_the_mails_in_flight() {
    let Some(h) = Harness::new(Backend::Sqlite).await else { return };
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("Maildir");
    let sink = SmtpSink::start(free_port(), maildir.clone());
    for n in 0..CRASH_MESSAGES {
        created(
            &h.pipe(&Mail::new(&format!("c{n}@example.org"), &format!("Crash {n}"), "body").build()).await,
        );
    }
    let queued = h.scalar_i64("SELECT COUNT(*) FROM outbox").await as usize;
    let config = dir.path().join("mailgate.toml");
    std::fs::write(
        &config,
        format!(
            "[instance]\nsupport_addresses = [\"support@example.com\"]\nmessage_id_domain = \"mg.mailgate.test\"\n\n\
             [database]\nurl = \"{}\"\n\n[web]\nbind = \"\"\n\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {}\npool_size = {CRASH_POOL_SIZE}\ntimeout_ms = 1000\n",
            h.db.url, sink.port
        ),
    )
    .unwrap();
    let log = dir.path().join("serve.log");
    let serve = || {
        Command::new(env!("CARGO_BIN_EXE_mailgate"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("MAILGATE_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap())
            .spawn()
            .expect("start mailgate serve")
    };
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();

    let started = std::time::Instant::now();
    for kill in 0..CRASH_KILLS {
        let before = maildir_count(&maildir);
        let mut daemon = serve();
        // Kill mid-drain, at a different point each time.
        let progress = 40 + 70 * kill;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while maildir_count(&maildir) < before + progress {
            assert!(std::time::Instant::now() < deadline, "no progress:\n{}", read_log());
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        daemon.kill().unwrap(); // SIGKILL
        daemon.wait().unwrap();
        eprintln!("kill {}: {} of {queued} delivered", kill + 1, maildir_count(&maildir));
    }
    let mut daemon = serve();
    // The rows in flight at each kill are sent again after their lease (2 × 1 s + 30 s).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while h.scalar_i64("SELECT COUNT(*) FROM outbox WHERE status <> 'sent'").await > 0 {
        assert!(std::time::Instant::now() < deadline, "not drained:\n{}", read_log());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status().unwrap();
    assert!(daemon.wait().unwrap().success(), "clean shutdown on SIGTERM\n{}", read_log());

    let delivered = sink.messages();
    let mut ids: Vec<String> = delivered.iter().filter_map(|m| header(m, "Message-ID")).collect();
    assert_eq!(ids.len(), delivered.len(), "every delivered mail has a Message-ID");
    ids.sort();
    ids.dedup();
    let duplicates = delivered.len() - ids.len();
    eprintln!(
        "{queued} mails through {CRASH_KILLS} SIGKILLs in {:?}: {} delivered, {duplicates} duplicates",
        started.elapsed(),
        delivered.len()
    );
    assert_eq!(ids.len(), queued, "every mail delivered");
    assert!(
        duplicates <= CRASH_POOL_SIZE * CRASH_KILLS,
        "{duplicates} duplicates over {CRASH_KILLS} kills: more than the {CRASH_POOL_SIZE} in flight per kill"
    );
    assert!(!read_log().contains("panicked"), "{}", read_log());
}
