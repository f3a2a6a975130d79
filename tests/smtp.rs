//! Outgoing mail through a real SMTP server (Debian's aiosmtpd): the delivered bytes, replies built
//! from them the way a mail client does, a server that is down and comes back, a 5xx answer, and two
//! auto-responders that must not mail each other forever.

mod common;

use common::smtp::{SmtpSink, available, free_port, header, mail_to, worker};
use common::{Backend, Harness, Mail, added, created};

on_both_backends!(
    delivered_mail_carries_threading_and_loop_headers,
    replies_to_delivered_mail_thread_by_token_references_and_tag,
    server_down_then_up_delivers_everything_once,
    permanent_refusal_fails_with_the_server_reply,
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
    // Nobody listens: every row is queued again with its error and a later attempt time.
    assert_eq!(w.drain_once().await.unwrap(), queued);
    assert!(statuses(&h).await.iter().all(|s| s == "queued"));
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM outbox WHERE last_error IS NULL").await, 0);
    assert_eq!(w.drain_once().await.unwrap(), 0, "nothing is due before the backoff");

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
