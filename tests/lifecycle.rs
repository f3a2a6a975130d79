//! Agents' email commands and the ticket lifecycle: each command, all-or-nothing on an invalid one,
//! commands in quoted text ignored, a customer reply reopening, and autoclose with a fixed clock.
//! Both backends.

mod common;

use common::{Backend, DAY_MS, Harness, Mail, T0, added, created};
use mailgate::auth::token::{Claims, Participant, Purpose};
use mailgate::core::ids::{AgentId, TicketId};
use mailgate::ingest::Report;

on_both_backends!(
    commands_apply_and_leave_the_response,
    status_commands_and_the_closed_notice,
    an_invalid_command_applies_nothing_and_tells_the_agent,
    commands_in_quoted_text_are_ignored,
    a_customer_reply_reopens_pending_and_resolved_tickets,
    resolved_tickets_close_after_autoclose_days,
);

/// A ticket of ann@acme.com (collaborator boss@acme.com, assigned to alice) and alice's reply address.
async fn acme_ticket(h: &Harness) -> (TicketId, String) {
    let mail = Mail::new("Ann <ann@acme.com>", "Printer on fire", "It is on fire.").id("<ann-1@acme.com>");
    let ticket = created(&h.pipe(&mail.build()).await).0;
    let alice =
        h.read(|tx| tx.query_one("SELECT id FROM agents WHERE key = 'alice'", &[], |r| r.i64(0))).await;
    let claims = Claims {
        purpose: Purpose::Reply,
        ticket,
        participant: Participant::Agent(AgentId(alice)),
        expires_at_ms: T0 + 365 * DAY_MS,
        epoch: 0,
    };
    (ticket, format!("support+{}@example.com", h.app.settings().keyring.address_token(&claims)))
}

async fn alice_writes(h: &Harness, to: &str, text: &str) -> Report {
    let mut mail = Mail::new("Alice Agent <alice@example.com>", "Re: Printer on fire", text);
    mail.to = to.to_string();
    h.pipe(&mail.build()).await
}

async fn ticket_row(h: &Harness) -> (String, String, Option<i64>, Option<i64>) {
    h.read(|tx| {
        tx.query_one("SELECT status, priority, assignee_agent_id, assignee_team_id FROM tickets", &[], |r| {
            Ok((r.string(0)?, r.string(1)?, r.opt_i64(2)?, r.opt_i64(3)?))
        })
    })
    .await
}

async fn system_entries(h: &Harness) -> Vec<String> {
    h.strings("SELECT body_text FROM entries WHERE kind = $1 ORDER BY id", "system").await
}

async fn templates_to(h: &Harness, template: &str) -> Vec<String> {
    let rows = h
        .read(|tx| {
            tx.query_all("SELECT template, recipient FROM outbox ORDER BY id", &[], |r| {
                Ok((r.string(0)?, r.string(1)?))
            })
        })
        .await;
    rows.into_iter().filter(|(t, _)| t == template).map(|(_, to)| to).collect()
}

async fn commands_apply_and_leave_the_response(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, to) = acme_ticket(&h).await;
    let report = alice_writes(
        &h,
        &to,
        "#pending\n#priority urgent\n#assign billing\n#cc sam@example.org\n#uncc boss@acme.com\nWe are on it.",
    )
    .await;
    assert_eq!(added(&report).0, ticket, "{}", report.trace);
    let (status, priority, agent, team) = ticket_row(&h).await;
    assert_eq!(
        (status.as_str(), priority.as_str(), agent.is_some(), team.is_some()),
        ("pending", "urgent", false, true)
    );
    let response =
        h.strings("SELECT COALESCE(stripped_text, body_text) FROM entries WHERE kind = $1", "response").await;
    assert_eq!(response, ["We are on it."], "the commands are not part of the response");
    let stored = h.strings("SELECT body_text FROM entries WHERE kind = $1", "response").await;
    assert!(!stored[0].contains('#'), "nor of the stored text: {stored:?}");
    assert_eq!(
        system_entries(&h).await[1..],
        [
            "Priority set to urgent by agent alice",
            "Assigned to team billing by agent alice",
            "Collaborator sam@example.org added by agent alice",
            "Collaborator boss@acme.com removed by agent alice",
            "Status open -> pending by agent alice",
        ]
    );
    assert_eq!(
        templates_to(&h, "response_relay").await,
        ["ann@acme.com", "sam@example.org"],
        "sam is in, boss is out"
    );
    assert_eq!(templates_to(&h, "assignment_alert").await, ["bob@example.com"], "billing's member");
}

async fn status_commands_and_the_closed_notice(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (_, to) = acme_ticket(&h).await;
    added(&alice_writes(&h, &to, "#resolve").await);
    assert_eq!(ticket_row(&h).await.0, "resolved");
    assert!(templates_to(&h, "response_relay").await.is_empty(), "commands alone relay nothing");
    added(&alice_writes(&h, &to, "#reopen").await);
    assert_eq!(ticket_row(&h).await.0, "open");
    added(&alice_writes(&h, &to, "#close\nFixed: the technician replaced the fuser.").await);
    assert_eq!(ticket_row(&h).await.0, "closed");
    assert_eq!(templates_to(&h, "closed_notice").await, ["ann@acme.com"], "the owner is told");
    let outbox = h.strings("SELECT template FROM outbox ORDER BY id", "").await;
    let (relay, closed) = (
        outbox.iter().position(|t| t == "response_relay").unwrap(),
        outbox.iter().position(|t| t == "closed_notice").unwrap(),
    );
    assert!(relay < closed, "the answer comes before the closed notice: {outbox:?}");
    // #note turns a reply into an internal note.
    added(&alice_writes(&h, &to, "#note\nCustomer was happy.").await);
    assert_eq!(h.strings("SELECT kind FROM entries ORDER BY id DESC LIMIT 1", "").await, ["note"]);
}

async fn an_invalid_command_applies_nothing_and_tells_the_agent(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (_, to) = acme_ticket(&h).await;
    let before = system_entries(&h).await.len();
    let report = alice_writes(&h, &to, "#close\n#assign zed\nDone here.").await;
    assert!(report.trace.to_string().contains("held"), "{}", report.trace);
    assert_eq!(ticket_row(&h).await.0, "open", "not closed: the other line was invalid");
    assert_eq!(system_entries(&h).await.len(), before);
    assert!(templates_to(&h, "response_relay").await.is_empty());
    assert_eq!(templates_to(&h, "held_notice").await, ["alice@example.com"]);
    let reason = h.strings("SELECT context FROM outbox WHERE template = $1", "held_notice").await;
    assert!(
        reason[0].contains("line 2 of its commands is invalid") && reason[0].contains("zed"),
        "{}",
        reason[0]
    );
}

async fn commands_in_quoted_text_are_ignored(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (_, to) = acme_ticket(&h).await;
    let text =
        "Thanks, looking into it.\n\nOn Mon, 23 Nov 2026 at 10:00, Bob wrote:\n> #close\n> #assign billing\n";
    added(&alice_writes(&h, &to, text).await);
    let (status, _, agent, _) = ticket_row(&h).await;
    assert_eq!((status.as_str(), agent.is_some()), ("open", true));
    assert_eq!(templates_to(&h, "response_relay").await.len(), 2);
}

async fn a_customer_reply_reopens_pending_and_resolved_tickets(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, to) = acme_ticket(&h).await;
    for (command, n) in [("#pending", 2), ("#resolve", 3)] {
        added(&alice_writes(&h, &to, command).await);
        let reply = Mail::new("ann@acme.com", "Re: Printer on fire", "Still smoking.")
            .in_reply_to("<ann-1@acme.com>");
        let reply = Mail { message_id: Some(format!("<ann-{n}@acme.com>")), ..reply };
        assert_eq!(added(&h.pipe(&reply.build()).await).0, ticket);
        assert_eq!(ticket_row(&h).await.0, "open", "after {command}");
    }
    let entries = system_entries(&h).await;
    assert!(entries.iter().any(|e| e == "Status pending -> open by customer reply"), "{entries:?}");
    assert!(entries.iter().any(|e| e == "Status resolved -> open by customer reply"), "{entries:?}");
}

async fn resolved_tickets_close_after_autoclose_days(backend: Backend) {
    let Some(h) = Harness::with_config(backend, "[tickets]\nautoclose_days = 3\n").await else { return };
    let (_, to) = acme_ticket(&h).await;
    added(&alice_writes(&h, &to, "#resolve\nShould be fine now.").await);
    h.clock.advance_ms(3 * DAY_MS - 1000);
    assert_eq!(h.workflows.autoclose().await.unwrap(), 0, "not yet");
    h.clock.advance_ms(2000);
    assert_eq!(h.workflows.autoclose().await.unwrap(), 1);
    assert_eq!(ticket_row(&h).await.0, "closed");
    assert_eq!(system_entries(&h).await.last().unwrap(), "Status resolved -> closed by the janitor");
    assert_eq!(templates_to(&h, "closed_notice").await, ["ann@acme.com"]);
    assert_eq!(h.workflows.autoclose().await.unwrap(), 0, "closed once");
}
