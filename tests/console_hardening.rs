//! The agent console under issue 12 §4 and §7 and issue 13 items 11 and 12, over real HTTP with a
//! signed-in agent, the outbox delivering to a real aiosmtpd (both backends): with `[auth]`
//! configured a reply written in the console is relayed (not held) and the page says so; the relay
//! answers a real Message-ID of the thread (never the `.invalid` id of a web reply, never an id that
//! would need encoded words), its Thread-Topic holds no control character; console notices come from
//! fixed codes only.

mod common;

use common::http::{agent_console, encode};
use common::ports::free_port;
use common::smtp::{SmtpSink, header, worker};
use common::{Backend, Harness, Mail, created};
use mailgate::auth::token::{Participant, Purpose};
use mailgate::core::ids::UserId;
use mailgate::store::inbound::Source;
use mailgate::workflow::Written;

on_both_backends!(
    a_console_reply_is_relayed_answering_a_real_message_id,
    console_notices_come_from_fixed_codes,
    our_mail_carries_no_encoded_message_id_and_no_control_character,
    a_mailed_response_answers_a_real_message_id,
);

const AUTH: &str = "[auth]\ntrusted_authserv_id = \"mx.example.com\"\n";

async fn ann(h: &Harness) -> UserId {
    UserId(
        h.read(|tx| tx.query_one("SELECT id FROM users WHERE email = 'ann@acme.com'", &[], |r| r.i64(0)))
            .await,
    )
}

async fn a_console_reply_is_relayed_answering_a_real_message_id(backend: Backend) {
    if !common::smtp::available() {
        return;
    }
    let Some((h, mut client)) = agent_console(backend, AUTH).await else { return };
    // Ann's first mail has a Message-ID that is not ASCII and a subject with a control character.
    let first = Mail::new("Ann <ann@acme.com>", "=?utf-8?q?Printer=07_on_fire?=", "It burns.")
        .id("<ünï-1@acme.com>")
        .header("Authentication-Results: mx.example.com; dmarc=pass header.from=acme.com");
    let (ticket, number) = created(&h.pipe(&first.build()).await);
    // Then she answers on her ticket page: that message's Message-ID is ours, `.invalid`.
    let written = Written {
        ticket,
        participant: Participant::User(ann(&h).await),
        epoch: 0,
        from: "ann@acme.com".into(),
        subject: format!("Re: [#{number}] Printer on fire"),
        text: "Still burning.".into(),
        files: Vec::new(),
    };
    h.workflows.write_as(written, Purpose::Reply, Source::Web).await.unwrap();

    let page = format!("/agent/t/{number}");
    let sent = client.submit(&page, &format!("{page}/reply"), "text=A+technician+is+on+his+way.").await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let kinds = h.strings("SELECT kind FROM entries ORDER BY id DESC LIMIT 1", "").await;
    assert_eq!(kinds, ["response"], "written in the console by a signed-in agent: not held");
    let shown = client.get(sent.location()).await;
    assert!(shown.body.contains("on its way to the customer"), "{}", shown.body);

    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), dir.path().join("Maildir"));
    worker(&h, sink.port).drain_once().await.unwrap();
    let delivered = sink.messages();
    let relay = relay_to_ann(&delivered);
    let parent = header(relay, "In-Reply-To").expect("the relay answers a message");
    assert!(parent.ends_with("@mg.mailgate.test>"), "a Message-ID Ann's client has seen (ours): {parent}");
    let references = header(relay, "References").expect("References");
    assert!(references.contains(&parent), "{references}");
    assert!(!references.contains("=?") && !references.contains(".invalid"), "{references}");
    assert!(!parent.contains("=?") && !parent.contains(".invalid"), "{parent}");
    let topic = header(relay, "Thread-Topic").expect("Thread-Topic");
    assert!(!topic.chars().any(char::is_control), "{topic:?}");
    drop(sink);
}

async fn console_notices_come_from_fixed_codes(backend: Backend) {
    let Some((h, mut client)) = agent_console(backend, "").await else { return };
    created(&h.pipe(&Mail::new("Ann <ann@acme.com>", "Printer", "It burns.").build()).await);
    let id = ann(&h).await.0;
    let forged = client
        .get(&format!("/agent/users/{id}?error={}", encode("Your account is locked: call +1 555 0100")))
        .await;
    assert_eq!(forged.status, 200);
    // Not "555" alone: a token or a Message-ID on the page may contain those digits by chance.
    assert!(!forged.body.contains("Your account is locked"), "text from the URL is never shown");
    assert!(!forged.body.contains("555 0100"), "text from the URL is never shown");

    // A refused action shows the fixed text of its code (Ann is a guest: no reset link).
    let page = format!("/agent/users/{id}");
    let refused = client.submit(&page, &format!("{page}/reset"), "x=1").await;
    assert_eq!(refused.location(), format!("/agent/users/{id}?error=reset"));
    let shown = client.get(refused.location()).await;
    assert!(shown.body.contains("No reset link was sent"), "{}", shown.body);
}

/// Mails delivered for ticket work on `h` through a real aiosmtpd.
async fn deliver(h: &Harness) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), dir.path().join("Maildir"));
    worker(h, sink.port).drain_once().await.unwrap();
    sink.messages()
}

async fn our_mail_carries_no_encoded_message_id_and_no_control_character(backend: Backend) {
    if !common::smtp::available() {
        return;
    }
    let Some(h) = Harness::new(backend).await else { return };
    let first =
        Mail::new("Ann <ann@acme.com>", "=?utf-8?q?Printer=07_on_fire?=", "It burns.").id("<ünï-1@acme.com>");
    created(&h.pipe(&first.build()).await);
    let delivered = deliver(&h).await;
    let answer = delivered
        .iter()
        .find(|m| header(m, "To").is_some_and(|t| t.contains("ann@acme.com")))
        .unwrap_or_else(|| panic!("no auto-response among {} mails", delivered.len()));
    for name in ["In-Reply-To", "References"] {
        if let Some(value) = header(answer, name) {
            assert!(!value.contains("=?"), "{name}: {value}");
        }
    }
    let topic = header(answer, "Thread-Topic").expect("Thread-Topic");
    assert!(!topic.chars().any(char::is_control), "{topic:?}");
}

async fn a_mailed_response_answers_a_real_message_id(backend: Backend) {
    if !common::smtp::available() {
        return;
    }
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, number) = created(
        &h.pipe(&Mail::new("Ann <ann@acme.com>", "Printer", "It burns.").id("<ann-1@acme.com>").build())
            .await,
    );
    deliver(&h).await;
    let subject = format!("Re: [#{number}] Printer");
    let written = Written {
        ticket,
        participant: Participant::User(ann(&h).await),
        epoch: 0,
        from: "ann@acme.com".into(),
        subject: subject.clone(),
        text: "Still burning.".into(),
        files: Vec::new(),
    };
    h.workflows.write_as(written, Purpose::Reply, Source::Web).await.unwrap();
    h.workflows
        .console_write(
            &number.parse().unwrap(),
            "alice",
            Purpose::Reply,
            "A technician is on his way.",
            Vec::new(),
        )
        .await
        .unwrap();
    let delivered = deliver(&h).await;
    let relay = relay_to_ann(&delivered);
    let parent = header(relay, "In-Reply-To").expect("In-Reply-To");
    assert!(!parent.contains(".invalid"), "a Message-ID Ann's client has seen: {parent}");
    assert!(header(relay, "References").is_some_and(|r| r.contains(&parent)));
}

/// The console reply relayed to Ann, among `delivered` mails.
fn relay_to_ann(delivered: &[String]) -> &str {
    delivered
        .iter()
        .find(|m| {
            m.contains("A technician is on his way.")
                && header(m, "To").is_some_and(|t| t.contains("ann@acme.com"))
        })
        .unwrap_or_else(|| panic!("no relay to Ann among {} mails", delivered.len()))
}
