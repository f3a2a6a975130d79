//! The full round trip through a real SMTP server (aiosmtpd): a customer's mail, the alert
//! delivered to the agent, the agent's reply built from that alert the way a mail client does, the
//! response delivered to the customer (threaded, without the agent's quoted text), the customer's
//! reply threading to the same ticket, and the agent closing it with `#close`.

mod common;

use common::ports::free_port;
use common::smtp::{SmtpSink, available, header, mail_to, worker};
use common::{Backend, Harness, Mail, added, created};

on_both_backends!(customer_agent_customer_and_close);

/// A reply to `delivered` as a mail client writes it: to its Reply-To, `Re:`, In-Reply-To and
/// References, the new text above the quoted original.
fn client_reply(delivered: &str, from: &str, text: &str) -> String {
    let id = header(delivered, "Message-ID").unwrap();
    let refs = header(delivered, "References").map_or(id.clone(), |r| format!("{r} {id}"));
    let quoted: Vec<String> = body(delivered).lines().map(|line| format!("> {line}")).collect();
    let mut mail = Mail::new(
        from,
        &format!("Re: {}", header(delivered, "Subject").unwrap()),
        &format!("{text}\n\nOn Mon, 23 Nov 2026 at 10:00, ACME Support wrote:\n{}\n", quoted.join("\n")),
    )
    .in_reply_to(&id)
    .references(&refs);
    mail.to = header(delivered, "Reply-To").unwrap();
    mail.build()
}

/// `raw` (a text/plain mail) as multipart/mixed with a text file attached, as a mail client sends it.
fn with_attachment(raw: &str, name: &str, content: &str) -> String {
    let (head, text) = raw.split_once("\r\n\r\n").unwrap();
    let head: Vec<&str> = head.lines().filter(|l| !l.starts_with("Content-Type:")).collect();
    format!(
        "{}\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\
         --b1\r\nContent-Type: text/plain; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\r\n{content}\r\n--b1--\r\n",
        head.join("\r\n")
    )
}

/// The text/plain part of a delivered mail, decoded when quoted-printable.
fn body(raw: &str) -> String {
    let raw = raw.replace("\r\n", "\n");
    let part = raw.split("Content-Type: text/plain").nth(1).unwrap_or(&raw);
    let part = part.split("\n\n").skip(1).collect::<Vec<_>>().join("\n\n");
    let part = part.split("\n--").next().unwrap_or_default();
    part.replace("=\n", "").replace("=3D", "=").replace("=20", " ")
}

async fn customer_agent_customer_and_close(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), dir.path().join("Maildir"));
    let worker = worker(&h, sink.port);

    // 1. Ann writes; alice (acme's account manager) is alerted.
    let first = Mail::new("Ann <ann@acme.com>", "Printer on fire", "Help, the printer in room 4 is on fire.")
        .id("<ann-1@acme.com>");
    let (ticket, number) = created(&h.pipe(&first.build()).await);
    worker.drain_once().await.unwrap();
    let alert = mail_to(&sink.messages(), "alice@example.com").clone();
    assert!(body(&alert).contains("for an internal note"), "the alert names the note address:\n{alert}");

    // 2. Alice answers the alert from her mail client.
    let answer =
        client_reply(&alert, "Alice Agent <alice@example.com>", "We sent a technician; he is on his way.");
    let answer = with_attachment(&answer, "visit.txt", "Technician: Bob, 14:00");
    let report = h.pipe(&answer).await;
    assert_eq!(added(&report).0, ticket, "{}", report.trace);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM attachments").await, 1, "{}\n{answer}", report.trace);
    worker.drain_once().await.unwrap();

    // 3. Ann receives the response, threaded under her own mail, without Alice's quoted alert.
    let delivered = sink.messages();
    let response = delivered
        .iter()
        .find(|m| {
            header(m, "To").is_some_and(|t| t.contains("ann@acme.com")) && body(m).contains("technician")
        })
        .expect("the response reached Ann");
    assert_eq!(header(response, "In-Reply-To").unwrap(), "<ann-1@acme.com>");
    assert!(header(response, "References").unwrap().contains("<ann-1@acme.com>"));
    assert!(header(response, "Subject").unwrap().contains(&format!("[#{number}]")));
    assert!(header(response, "Auto-Submitted").is_none(), "a person's answer, not automatic mail");
    assert!(header(response, "Reply-To").unwrap().contains("<support+"), "Ann's own reply address");
    assert!(
        response.contains("filename=\"visit.txt\"") || response.contains("filename=visit.txt"),
        "the agent's attachment goes along:\n{response}"
    );
    let text = body(response);
    assert!(text.contains("We sent a technician; he is on his way."), "{text}");
    assert!(!text.contains("wrote:") && !text.contains("room 4"), "no quoted alert in the response:\n{text}");
    assert!(
        delivered.iter().any(|m| header(m, "To").is_some_and(|t| t.contains("boss@acme.com"))
            && body(m).contains("technician")),
        "the collaborator gets it too"
    );

    // 4. Ann answers the response: same ticket.
    let report = h.pipe(&client_reply(response, "Ann <ann@acme.com>", "Thanks, he fixed it.")).await;
    assert_eq!(added(&report).0, ticket, "{}", report.trace);
    worker.drain_once().await.unwrap();

    // 5. Alice closes it from the new-message alert; Ann is told.
    let before = sink.messages().len();
    let delivered = sink.messages();
    let new_alert = delivered
        .iter()
        .rev()
        .find(|m| header(m, "To").is_some_and(|t| t.contains("alice@example.com")))
        .unwrap();
    let report = h.pipe(&client_reply(new_alert, "alice@example.com", "#close")).await;
    assert_eq!(added(&report).0, ticket, "{}", report.trace);
    assert_eq!(h.strings("SELECT status FROM tickets", "").await, ["closed"]);
    worker.drain_once().await.unwrap();
    let closed = &sink.messages()[before..];
    assert!(
        closed.iter().any(|m| header(m, "To").is_some_and(|t| t.contains("ann@acme.com"))
            && header(m, "Subject").unwrap().contains("Closed")),
        "Ann is told her ticket is closed"
    );
}
