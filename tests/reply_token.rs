//! Threading rule (a) through the whole ingest: a signed reply address among the recipients
//! threads the message to its ticket before any header rule; the participant it was issued to,
//! its expiry and its epoch are checked against the database. Both backends.

mod common;

use common::{Backend, Harness, Mail, T0, added, created};
use mailgate::auth::token::{Claims, Participant, Purpose};
use mailgate::core::ids::{AgentId, TicketId, UserId};
use mailgate::ingest::{Delivery, Outcome};
use mailgate::store::inbound::Source;
use mailgate::store::links as link_store;

on_both_backends!(
    token_alone_threads_and_trusts_its_participant,
    token_from_someone_else_threads_but_is_not_trusted,
    token_in_envelope_recipient_threads,
    revoked_expired_and_forged_tokens_do_not_thread,
    agent_reply_address_threads_as_the_agent,
);

const DAY: i64 = 24 * 60 * 60 * 1000;

/// A ticket opened by jane@example.org, and her participant id.
async fn ticket_of_jane(h: &Harness) -> (TicketId, Participant) {
    let (ticket, _) = created(&h.pipe(&Mail::new("jane@example.org", "VPN down", "No VPN").build()).await);
    let user = h
        .read(move |tx| {
            tx.query_one(
                "SELECT u.id FROM users u JOIN participants p ON p.user_id = u.id
                  WHERE p.ticket_id = $1 AND u.email = 'jane@example.org'",
                mailgate::params![ticket.0],
                |r| r.i64(0),
            )
        })
        .await;
    (ticket, Participant::User(UserId(user)))
}

fn reply_address(h: &Harness, ticket: TicketId, participant: Participant, epoch: u64) -> String {
    let claims =
        Claims { purpose: Purpose::Reply, ticket, participant, expires_at_ms: T0 + 365 * DAY, epoch };
    format!("support+{}@example.com", h.app.settings().keyring.address_token(&claims))
}

/// A reply with no threading header and no tag: only the address can thread it.
fn bare_reply(from: &str, to: &str) -> String {
    let mut mail = Mail::new(from, "Re: something", "Here is more.");
    mail.to = to.to_string();
    mail.build()
}

async fn token_alone_threads_and_trusts_its_participant(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, jane) = ticket_of_jane(&h).await;
    let to = reply_address(&h, ticket, jane, 0);
    let report = h.pipe(&bare_reply("Jane <jane@example.org>", &to.to_ascii_uppercase())).await;
    assert_eq!(added(&report).0, ticket, "upper-cased by an MTA, still ours");
    let trace = report.trace.to_string();
    assert!(trace.contains("verified") && trace.contains("by reply token"), "{trace}");
}

async fn token_from_someone_else_threads_but_is_not_trusted(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, jane) = ticket_of_jane(&h).await;
    let report = h.pipe(&bare_reply("mallory@evil.example", &reply_address(&h, ticket, jane, 0))).await;
    assert_eq!(added(&report).0, ticket);
    let trace = report.trace.to_string();
    assert!(trace.contains("untrusted") && trace.contains("mallory@evil.example is not theirs"), "{trace}");
}

async fn token_in_envelope_recipient_threads(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, jane) = ticket_of_jane(&h).await;
    let address = reply_address(&h, ticket, jane, 0);

    // The MTA rewrote To (a list or an alias) but kept Delivered-To.
    let mail =
        Mail::new("jane@example.org", "Re: x", "via alias").header(&format!("Delivered-To: {address}"));
    assert_eq!(added(&h.pipe(&mail.build()).await).0, ticket);

    // `mailgate pipe --recipient` passes the envelope recipient.
    let mut delivery = Delivery::new(Source::Pipe);
    delivery.recipients.push(mailgate::core::address::EmailAddress::parse(&address).unwrap());
    let raw = Mail::new("jane@example.org", "Re: y", "via envelope").build();
    let report = h.ingestor.ingest(raw.as_bytes(), &delivery).await.unwrap();
    assert_eq!(added(&report).0, ticket, "{}", report.trace);
}

async fn revoked_expired_and_forged_tokens_do_not_thread(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, jane) = ticket_of_jane(&h).await;
    let old = reply_address(&h, ticket, jane, 0);
    assert!(h.write(move |tx| link_store::bump_epoch(tx, ticket, jane)).await);
    let report = h.pipe(&bare_reply("jane@example.org", &old)).await;
    assert!(matches!(report.outcome, Outcome::Created { .. }), "{}", report.trace);
    assert!(report.trace.to_string().contains("revoked"), "{}", report.trace);

    let current = reply_address(&h, ticket, jane, 1);
    assert_eq!(added(&h.pipe(&bare_reply("jane@example.org", &current)).await).0, ticket);

    let forged = format!("support+{}@example.com", "a".repeat(45));
    let report = h.pipe(&bare_reply("jane@example.org", &forged)).await;
    assert!(matches!(report.outcome, Outcome::Created { .. }), "{}", report.trace);
    assert!(report.trace.to_string().contains("refused"), "{}", report.trace);

    h.clock.advance_ms(366 * DAY);
    let report = h.pipe(&bare_reply("jane@example.org", &current)).await;
    assert!(matches!(report.outcome, Outcome::Created { .. }), "{}", report.trace);
    assert!(report.trace.to_string().contains("expired"), "{}", report.trace);
}

async fn agent_reply_address_threads_as_the_agent(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, _) = ticket_of_jane(&h).await;
    let alice =
        h.read(|tx| tx.query_one("SELECT id FROM agents WHERE key = 'alice'", &[], |r| r.i64(0))).await;
    let address = reply_address(&h, ticket, Participant::Agent(AgentId(alice)), 0);
    let report = h.pipe(&bare_reply("Alice <alice@example.com>", &address)).await;
    assert_eq!(added(&report).0, ticket);
    assert!(
        report.trace.to_string().contains(&format!("reply address of agent {alice}")),
        "{}",
        report.trace
    );
}
