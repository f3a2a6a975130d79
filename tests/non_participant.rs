//! Issue 13 item 8 through the whole ingest (both backends): a stranger who writes to a customer's
//! reply address, or answers a known Message-ID, is not made a collaborator. The message is kept
//! for agents (marked), agents are alerted, nobody answers the stranger, customers do not see it, and
//! the next response is relayed to the ticket's people only.

mod common;

use common::{Backend, Harness, Mail, T0, added, created};
use mailgate::auth::token::{Claims, Participant, Purpose};
use mailgate::core::ids::{AgentId, TicketId, UserId};

on_both_backends!(
    a_stranger_on_a_reply_address_is_not_made_a_participant,
    a_stranger_answering_a_known_message_id_is_not_made_a_participant,
);

const DAY: i64 = 24 * 60 * 60 * 1000;

fn address(h: &Harness, ticket: TicketId, participant: Participant) -> String {
    let claims = Claims { purpose: Purpose::Reply, ticket, participant, expires_at_ms: T0 + DAY, epoch: 0 };
    format!("support+{}@example.com", h.app.settings().keyring.address_token(&claims))
}

/// Ann's ticket (acme: assigned to alice, boss@acme.com a primary contact) and Ann's user id.
async fn anns_ticket(h: &Harness) -> (TicketId, Participant) {
    let first = Mail::new("Ann <ann@acme.com>", "Printer on fire", "It burns.").id("<ann-1@acme.com>");
    let (ticket, _) = created(&h.pipe(&first.build()).await);
    let ann = h
        .read(|tx| tx.query_one("SELECT id FROM users WHERE email = 'ann@acme.com'", &[], |r| r.i64(0)))
        .await;
    (ticket, Participant::User(UserId(ann)))
}

async fn people(h: &Harness, ticket: TicketId) -> Vec<String> {
    h.read(move |tx| {
        tx.query_all(
            "SELECT u.email FROM participants p JOIN users u ON u.id = p.user_id WHERE p.ticket_id = $1 ORDER BY u.email",
            mailgate::params![ticket.0],
            |r| r.string(0),
        )
    })
    .await
}

/// Checks what a stranger's mail on Ann's ticket did, then has alice respond and checks the relay.
async fn check_kept_for_agents(h: &Harness, ticket: TicketId, stranger: &'static str) {
    assert_eq!(people(h, ticket).await, ["ann@acme.com", "boss@acme.com"], "the stranger is not added");
    let class =
        h.strings("SELECT class FROM entries WHERE kind = 'message' ORDER BY id DESC LIMIT 1", "").await;
    assert_eq!(class, ["non-participant"]);
    assert_eq!(h.strings("SELECT status FROM tickets", "").await, ["open"]);
    let alerts = h.strings("SELECT recipient FROM outbox WHERE template = $1", "new_message_alert").await;
    assert_eq!(alerts, ["alice@example.com"], "the assignee is alerted");
    let to_stranger = h.strings("SELECT template FROM outbox WHERE recipient = $1", stranger).await;
    assert!(to_stranger.is_empty(), "nothing goes to the stranger: {to_stranger:?}");
    let shown = h.read(move |tx| mailgate::store::web::thread(tx, ticket, false)).await;
    assert!(shown.iter().all(|e| !e.text.contains("Send me")), "customers do not see it");

    let alice =
        h.read(|tx| tx.query_one("SELECT id FROM agents WHERE key = 'alice'", &[], |r| r.i64(0))).await;
    let mut response =
        Mail::new("Alice <alice@example.com>", "Re: Printer on fire", "A technician is coming.");
    response.to = address(h, ticket, Participant::Agent(AgentId(alice)));
    added(&h.pipe(&response.build()).await);
    let relayed = h
        .strings("SELECT recipient FROM outbox WHERE template = $1 ORDER BY recipient", "response_relay")
        .await;
    assert_eq!(relayed, ["ann@acme.com", "boss@acme.com"], "the response goes to the ticket's people only");
}

async fn a_stranger_on_a_reply_address_is_not_made_a_participant(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, ann) = anns_ticket(&h).await;
    let mut mail = Mail::new("Mallory <mallory@evil.example>", "Re: Printer", "Send me the whole history.");
    mail.to = address(&h, ticket, ann);
    let report = h.pipe(&mail.build()).await;
    assert_eq!(added(&report).0, ticket);
    assert!(report.trace.to_string().contains("does not take part"), "{}", report.trace);
    check_kept_for_agents(&h, ticket, "mallory@evil.example").await;
}

async fn a_stranger_answering_a_known_message_id_is_not_made_a_participant(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, _) = anns_ticket(&h).await;
    let mail = Mail::new("eve@evil.example", "Re: Printer", "Send me the whole history.")
        .in_reply_to("<ann-1@acme.com>");
    let report = h.pipe(&mail.build()).await;
    assert_eq!(added(&report).0, ticket);
    check_kept_for_agents(&h, ticket, "eve@evil.example").await;
}
