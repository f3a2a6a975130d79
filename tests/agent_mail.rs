//! Agents working by email, through the whole ingest: a reply to an alert's reply address is a
//! response relayed to the customer side; the note address makes an internal note; anything that
//! cannot prove it comes from the agent is held (agents only) and the agent is told. Both backends.

mod common;

use common::{Backend, Harness, Mail, T0, added, created};
use mailgate::auth::token::{Claims, Participant, Purpose};
use mailgate::core::ids::{AgentId, TicketId};
use mailgate::ingest::{Outcome, Report};
use mailgate::store::links as link_store;

on_both_backends!(
    an_agent_reply_is_a_response_relayed_to_owner_and_collaborators,
    the_note_address_makes_an_internal_note_for_agents_only,
    mail_that_cannot_prove_it_is_the_agents_is_held,
    an_agent_writing_without_a_token_to_no_ticket_is_a_customer,
    with_a_trusted_mta_only_authenticated_agent_mail_acts,
);

const DAY: i64 = 24 * 60 * 60 * 1000;

/// A ticket of ann@acme.com: the org adds boss@acme.com as collaborator and assigns alice.
async fn acme_ticket(h: &Harness) -> TicketId {
    let mail = Mail::new("Ann <ann@acme.com>", "Printer on fire", "It is on fire.").id("<ann-1@acme.com>");
    created(&h.pipe(&mail.build()).await).0
}

async fn agent_id(h: &Harness, key: &'static str) -> AgentId {
    AgentId(
        h.read(move |tx| {
            tx.query_one("SELECT id FROM agents WHERE key = $1", mailgate::params![key], |r| r.i64(0))
        })
        .await,
    )
}

fn address(h: &Harness, purpose: Purpose, ticket: TicketId, agent: AgentId, epoch: u64) -> String {
    let claims = Claims {
        purpose,
        ticket,
        participant: Participant::Agent(agent),
        expires_at_ms: T0 + 365 * DAY,
        epoch,
    };
    format!("support+{}@example.com", h.app.settings().keyring.address_token(&claims))
}

/// A reply the way a mail client writes it: `Re:`, new text above the quoted alert.
fn reply(from: &str, to: &str, text: &str) -> Mail {
    let body = format!(
        "{text}\n\nOn Mon, 23 Nov 2026 at 10:00, Support wrote:\n> Ann wrote on ticket:\n> It is on fire.\n"
    );
    let mut mail = Mail::new(from, "Re: [#1] New message: Printer on fire", &body);
    mail.to = to.to_string();
    mail
}

/// `(template, recipient)` of the outbox rows after the first `skip`.
async fn outbox_after(h: &Harness, skip: usize) -> Vec<(String, String)> {
    let rows = h
        .read(|tx| {
            tx.query_all("SELECT template, recipient FROM outbox ORDER BY id", &[], |r| {
                Ok((r.string(0)?, r.string(1)?))
            })
        })
        .await;
    rows.into_iter().skip(skip).collect()
}

async fn outbox_len(h: &Harness) -> usize {
    h.scalar_i64("SELECT COUNT(*) FROM outbox").await as usize
}

/// The Message-ID of the new-ticket alert, as a mail client's reply to it names it.
async fn alert_id(h: &Harness) -> String {
    let id =
        h.strings("SELECT message_id FROM outbox WHERE template = $1", "new_ticket_alert").await.remove(0);
    if id.starts_with('<') { id } else { format!("<{id}>") }
}

fn trace(report: &Report) -> String {
    report.trace.to_string()
}

async fn an_agent_reply_is_a_response_relayed_to_owner_and_collaborators(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let ticket = acme_ticket(&h).await;
    let alice = agent_id(&h, "alice").await;
    let before = outbox_len(&h).await;
    let to = address(&h, Purpose::Reply, ticket, alice, 0);
    let report =
        h.pipe(&reply("Alice Agent <alice@example.com>", &to, "We sent a technician.").build()).await;
    assert_eq!(added(&report).0, ticket);
    assert!(matches!(report.outcome, Outcome::Added { held: false, .. }), "{:?}", report.outcome);
    assert!(trace(&report).contains("response") && trace(&report).contains("verified"), "{}", trace(&report));

    let (kind, author, text) = h
        .read(|tx| {
            tx.query_one(
                "SELECT kind, author_agent_id, COALESCE(stripped_text, body_text) FROM entries ORDER BY id DESC LIMIT 1",
                &[],
                |r| Ok((r.string(0)?, r.opt_i64(1)?, r.string(2)?)),
            )
        })
        .await;
    assert_eq!((kind.as_str(), author), ("response", Some(alice.0)));
    assert_eq!(text.trim(), "We sent a technician.", "the quoted alert is not part of the response");
    let relayed = outbox_after(&h, before).await;
    let expected: Vec<(String, String)> =
        [("response_relay", "ann@acme.com"), ("response_relay", "boss@acme.com")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    assert_eq!(relayed, expected, "one mail per customer-side participant, none to the agent");
    let answers = h.strings("SELECT context FROM outbox WHERE template = $1", "response_relay").await;
    assert!(
        answers[0].contains("<ann-1@acme.com>") || answers[0].contains("ann-1@acme.com"),
        "answers Ann's mail: {}",
        answers[0]
    );
}

async fn the_note_address_makes_an_internal_note_for_agents_only(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let ticket = acme_ticket(&h).await;
    let (alice, bob) = (agent_id(&h, "alice").await, agent_id(&h, "bob").await);

    let before = outbox_len(&h).await;
    let to = address(&h, Purpose::Note, ticket, bob, 0);
    let report =
        h.pipe(&reply("bob.agent@example.com", &to, "Ann's printer is a known model.").build()).await;
    assert_eq!(added(&report).0, ticket);
    let kind = h.strings("SELECT kind FROM entries ORDER BY id DESC LIMIT 1", "").await;
    assert_eq!(kind, ["note"], "{}", trace(&report));
    let alerted = outbox_after(&h, before).await;
    assert_eq!(
        alerted,
        [("new_message_alert".to_string(), "alice@example.com".to_string())],
        "the assignee, nobody else"
    );
    let context = h.strings("SELECT context FROM outbox ORDER BY id DESC LIMIT 1", "").await;
    assert!(context[0].contains("\"kind\":\"note\""), "{}", context[0]);

    // The assignee's own note alerts nobody (she is the only agent on the ticket).
    let before = outbox_len(&h).await;
    let to = address(&h, Purpose::Note, ticket, alice, 0);
    added(&h.pipe(&reply("alice@example.com", &to, "Technician booked.").build()).await);
    assert_eq!(outbox_after(&h, before).await, Vec::<(String, String)>::new());
}

async fn mail_that_cannot_prove_it_is_the_agents_is_held(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let ticket = acme_ticket(&h).await;
    let alice = agent_id(&h, "alice").await;
    let valid = address(&h, Purpose::Reply, ticket, alice, 0);
    let mut flipped = valid.clone().into_bytes();
    let at = "support+".len() + 10;
    flipped[at] = if flipped[at] == b'a' { b'b' } else { b'a' };
    let flipped = String::from_utf8(flipped).unwrap();

    let forged_from =
        Mail::new("Alice Agent <alice@example.com>", "Re: Printer on fire", "Closing this, ignore.")
            .in_reply_to("<ann-1@acme.com>");
    let cases: Vec<(&str, Mail, &str)> = vec![
        ("forged From without a token", forged_from, "without the reply address"),
        (
            "alice's token from a stranger",
            reply("mallory@evil.example", &valid, "Send me your password."),
            "From is not one of the addresses",
        ),
        (
            "alice's token from bob",
            reply("bob@example.com", &valid, "Answering for Alice."),
            "reply address of another agent",
        ),
        (
            "one flipped character",
            reply("alice@example.com", &flipped, "Flipped.").in_reply_to(&alert_id(&h).await),
            "refused: signature does not match",
        ),
        (
            "an auto-reply from alice's mailbox",
            reply("alice@example.com", &valid, "I am on holiday.").header("Auto-Submitted: auto-replied"),
            "automatic mail",
        ),
    ];
    for (case, mail, why) in cases {
        let report = h.pipe(&mail.build()).await;
        assert_eq!(added(&report).0, ticket, "{case}: kept on the ticket");
        assert!(matches!(report.outcome, Outcome::Added { held: true, .. }), "{case}: {:?}", report.outcome);
        assert!(
            trace(&report).contains("held") && trace(&report).contains(why),
            "{case}: {}",
            trace(&report)
        );
        let notice = h.strings("SELECT recipient FROM outbox ORDER BY id DESC LIMIT 1", "").await;
        let template = h.strings("SELECT template FROM outbox ORDER BY id DESC LIMIT 1", "").await;
        assert_eq!(
            (template[0].as_str(), notice[0].as_str()),
            ("held_notice", "alice@example.com"),
            "{case}: alice is told"
        );
    }

    // A revoked token: alice's links on this ticket were renewed after it was issued.
    h.write(move |tx| link_store::bump_epoch(tx, ticket, Participant::Agent(alice)).map(drop)).await;
    let old = reply("alice@example.com", &valid, "Old alert.").in_reply_to(&alert_id(&h).await);
    let report = h.pipe(&old.build()).await;
    assert_eq!(added(&report).0, ticket);
    assert!(trace(&report).contains("held") && trace(&report).contains("revoked"), "{}", trace(&report));

    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM entries WHERE kind = 'held'").await, 6);
    assert_eq!(
        h.scalar_i64("SELECT COUNT(*) FROM outbox WHERE template = 'response_relay'").await,
        0,
        "nothing relayed"
    );
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM entries WHERE kind IN ('response', 'note')").await, 0);
}

async fn an_agent_writing_without_a_token_to_no_ticket_is_a_customer(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let report =
        h.pipe(&Mail::new("alice@example.com", "My own laptop is broken", "Help me too.").build()).await;
    let (ticket, _) = created(&report);
    let owner = h.strings("SELECT u.email FROM tickets t JOIN users u ON u.id = t.user_id", "").await;
    assert_eq!(owner, ["alice@example.com"]);
    // Her follow-up on her own ticket is a customer message, not held.
    let follow = Mail::new("alice@example.com", "Re: My own laptop is broken", "Still broken.")
        .in_reply_to(&h.strings("SELECT message_id FROM message_ids WHERE direction = 'in'", "").await[0]);
    let report = h.pipe(&follow.build()).await;
    assert_eq!(added(&report).0, ticket);
    assert!(trace(&report).contains("as-customer"), "{}", trace(&report));
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM entries WHERE kind = 'held'").await, 0);
}

async fn with_a_trusted_mta_only_authenticated_agent_mail_acts(backend: Backend) {
    let Some(h) = Harness::with_config(backend, "[auth]\ntrusted_authserv_id = \"mx.example.com\"\n").await
    else {
        return;
    };
    let ticket = acme_ticket(&h).await;
    let alice = agent_id(&h, "alice").await;
    let to = address(&h, Purpose::Reply, ticket, alice, 0);
    let cases = [
        ("Authentication-Results: mx.example.com; spf=pass; dmarc=pass header.from=example.com", "response"),
        ("Authentication-Results: mx.example.com; dkim=pass header.d=example.com header.s=k1", "response"),
        ("Authentication-Results: mx.example.com; dkim=fail header.d=example.com; dmarc=fail", "held"),
        ("Authentication-Results: evil.example; dmarc=pass header.from=example.com", "held"),
        ("X-Nothing: here", "held"),
    ];
    for (n, (header, kind)) in cases.into_iter().enumerate() {
        let mail = reply("alice@example.com", &to, &format!("Answer {n}.")).header(header);
        let report = h.pipe(&mail.build()).await;
        assert_eq!(added(&report).0, ticket);
        let stored = h.strings("SELECT kind FROM entries ORDER BY id DESC LIMIT 1", "").await;
        assert_eq!(stored, [kind], "{header}\n{}", trace(&report));
        if kind == "held" {
            assert!(trace(&report).contains("not authenticated"), "{}", trace(&report));
        }
    }
    // Ann's own mail carried no verdict, so it did not join acme (issue 13 item 13): no primary
    // contact on the ticket, the owner alone gets the answers.
    assert_eq!(
        h.scalar_i64("SELECT COUNT(*) FROM outbox WHERE template = 'response_relay'").await,
        2,
        "two answers, to the owner"
    );
}
