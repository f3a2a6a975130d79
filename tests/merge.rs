//! Merging tickets (issue 18) on both backends, from each entry point: the workflow the command
//! line and the console share, an agent's `#merge` by mail, and the console's form. After a merge
//! the source's Message-IDs, subject tag, reply addresses, links and number lead to the target;
//! refusals (itself, unknown, merged, another customer) say why, by mail to the agent for `#merge`.

mod common;

use common::http::{Client, agent_console, encode, serve};
use common::{Backend, DAY_MS, Harness, Mail, T0, added, created};
use mailgate::auth::token::{Claims, Participant, Purpose};
use mailgate::core::ids::{AgentId, TicketId, UserId};
use mailgate::ingest::Report;
use mailgate::workflow::{ConsoleAction, ConsoleError};

on_both_backends!(
    a_merge_moves_everything_and_the_source_points_at_the_target,
    what_cannot_be_merged_is_refused_with_the_reason,
    an_agent_merges_by_mail_and_errors_come_back_to_them,
    the_console_merges_and_redirects_and_manages_collaborators,
    the_sources_link_opens_the_target,
    two_agents_merging_each_way_at_once_make_no_loop,
    a_revoked_link_stays_revoked_after_the_merge,
);

/// Two tickets of ann@acme.com: A (with collaborator carl@acme.com) and B.
async fn two_tickets(h: &Harness) -> ((TicketId, String), (TicketId, String)) {
    let a = Mail::new("Ann <ann@acme.com>", "Printer jams", "The printer jams on page 2.")
        .id("<ann-a@acme.com>")
        .cc("carl@acme.com");
    let a = created(&h.pipe(&a.build()).await);
    h.clock.advance_ms(60_000);
    let b = Mail::new("Ann <ann@acme.com>", "Printer broken", "Now it does not print at all.")
        .id("<ann-b@acme.com>");
    let b = created(&h.pipe(&b.build()).await);
    (a, b)
}

async fn change(h: &Harness, number: &str, action: ConsoleAction) -> Result<Vec<String>, ConsoleError> {
    h.workflows.console_change(&number.parse().unwrap(), action).await
}

fn merge(into: &str) -> ConsoleAction {
    ConsoleAction::Merge { into: into.parse().unwrap(), across_customers: false }
}

/// The first column of `sql` (text) for ticket `$1`.
async fn of_ticket(h: &Harness, sql: &'static str, ticket: TicketId) -> Vec<String> {
    h.read(move |tx| tx.query_all(sql, mailgate::params![ticket.0], |r| r.string(0))).await
}

/// A signed reply address of `participant` on `ticket` (epoch 0).
fn reply_address(h: &Harness, ticket: TicketId, participant: Participant) -> String {
    reply_address_at(h, ticket, participant, 0)
}

fn reply_address_at(h: &Harness, ticket: TicketId, participant: Participant, epoch: u64) -> String {
    let claims =
        Claims { purpose: Purpose::Reply, ticket, participant, expires_at_ms: T0 + 365 * DAY_MS, epoch };
    format!("support+{}@example.com", h.app.settings().keyring.address_token(&claims))
}

async fn user_id(h: &Harness, email: &str) -> i64 {
    let email = email.to_string();
    h.read(move |tx| {
        tx.query_one("SELECT id FROM users WHERE email = $1", mailgate::params![&email], |r| r.i64(0))
    })
    .await
}

async fn agent_id(h: &Harness, key: &'static str) -> i64 {
    h.read(move |tx| {
        tx.query_one("SELECT id FROM agents WHERE key = $1", mailgate::params![key], |r| r.i64(0))
    })
    .await
}

async fn a_merge_moves_everything_and_the_source_points_at_the_target(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let ((a, a_number), (b, b_number)) = two_tickets(&h).await;
    let ann = user_id(&h, "ann@acme.com").await;
    let done = h.workflows.console_change(&a_number.parse().unwrap(), merge(&b_number)).await.unwrap();
    assert_eq!(done, [format!("#{a_number} merged into #{b_number} by an admin")]);

    let (status, merged_into) = h
        .read(move |tx| {
            tx.query_one(
                "SELECT status, merged_into FROM tickets WHERE id = $1",
                mailgate::params![a.0],
                |r| Ok((r.string(0)?, r.opt_i64(1)?)),
            )
        })
        .await;
    assert_eq!((status.as_str(), merged_into), ("closed", Some(b.0)));
    let on_source = of_ticket(&h, "SELECT body_text FROM entries WHERE ticket_id = $1", a).await;
    assert_eq!(on_source, [format!("Merged into #{b_number} by an admin")], "only the pointer stays");
    let on_target = of_ticket(
        &h,
        "SELECT COALESCE(stripped_text, body_text) FROM entries WHERE ticket_id = $1 ORDER BY id",
        b,
    )
    .await;
    assert!(on_target.iter().any(|t| t.contains("jams on page 2")), "{on_target:?}");
    assert!(
        on_target
            .last()
            .unwrap()
            .starts_with(&format!("#{a_number} \"Printer jams\" merged into this ticket by an admin")),
        "{on_target:?}"
    );
    let people = of_ticket(
        &h,
        "SELECT u.email || ' ' || p.role FROM participants p JOIN users u ON u.id = p.user_id
          WHERE p.ticket_id = $1 ORDER BY u.email",
        b,
    )
    .await;
    assert_eq!(people, ["ann@acme.com owner", "boss@acme.com primary_contact", "carl@acme.com cc"]);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM message_ids WHERE ticket_id = (SELECT id FROM tickets WHERE merged_into IS NOT NULL)").await, 0);

    let unsent = of_ticket(&h, "SELECT template FROM outbox WHERE ticket_id = $1", a).await;
    assert!(unsent.is_empty(), "mail not sent yet goes out with B's reply addresses: {unsent:?}");
    let inbound = of_ticket(&h, "SELECT outcome FROM inbound WHERE ticket_id = $1", a).await;
    assert_eq!(inbound, ["ticket"], "the inbound row is history: A is where the mail went");

    // A reply to the source's first mail, its subject tag and its reply address all reach B.
    let reply =
        Mail::new("ann@acme.com", "Re: Printer jams", "Still jamming.").in_reply_to("<ann-a@acme.com>");
    assert_eq!(added(&h.pipe(&reply.build()).await).0, b);
    let tagged = Mail::new("ann@acme.com", &format!("Re: [#{a_number}] Printer jams"), "And again.");
    assert_eq!(added(&h.pipe(&tagged.build()).await).0, b);
    let mut by_token = Mail::new("ann@acme.com", "Re: Printer jams", "Once more.");
    by_token.to = reply_address(&h, a, Participant::User(UserId(ann)));
    let report = h.pipe(&by_token.build()).await;
    assert_eq!(added(&report).0, b, "{}", report.trace);
    assert!(report.trace.to_string().contains("merged into ticket"), "{}", report.trace);
    let status = h.strings("SELECT status FROM tickets WHERE merged_into IS NOT NULL", "").await;
    assert_eq!(status, ["closed"], "mail to the source never reopens it");

    // Search by the source's number finds the target.
    let query = a_number.clone();
    let found = h
        .read(move |tx| {
            mailgate::store::search::search(tx, &query, &mailgate::store::search::Filter::default(), 10)
        })
        .await;
    assert_eq!(found.iter().map(|t| t.id).collect::<Vec<_>>(), [b]);
}

async fn what_cannot_be_merged_is_refused_with_the_reason(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let ((_, a), (_, b)) = two_tickets(&h).await;
    let (_, other) = created(&h.pipe(&Mail::new("gus@globex.com", "VPN", "It is down.").build()).await);
    let refused = |result: Result<Vec<String>, ConsoleError>| match result {
        Err(ConsoleError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(refused(change(&h, &a, merge(&a)).await), format!("#{a} cannot be merged into itself"));
    assert_eq!(refused(change(&h, &a, merge("999999")).await), "no ticket #999999");
    let across = refused(change(&h, &a, merge(&other)).await);
    assert!(across.contains("different customers") && across.contains("--across-customers"), "{across}");
    assert!(matches!(change(&h, "424242", merge(&a)).await, Err(ConsoleError::NoTicket(_))));

    change(&h, &a, merge(&b)).await.unwrap();
    assert_eq!(refused(change(&h, &a, merge(&b)).await), format!("#{a} was already merged into #{b}"));
    assert_eq!(
        refused(change(&h, &other, merge(&a)).await),
        format!("#{a} was merged into #{b}: merge into #{b} instead"),
        "the pointer is named before the customers are compared"
    );
    // The admin may merge across customers; B then points at the new target, and A with it.
    let action = ConsoleAction::Merge { into: other.parse().unwrap(), across_customers: true };
    change(&h, &b, action).await.unwrap();
    let pointers = h
        .strings("SELECT t.number FROM tickets s JOIN tickets t ON t.id = s.merged_into ORDER BY s.id", "")
        .await;
    assert_eq!(pointers, [other.clone(), other.clone()], "pointers stay one hop long");
}

async fn alice_writes(h: &Harness, ticket: TicketId, text: &str) -> Report {
    let alice = agent_id(h, "alice").await;
    let mut mail = Mail::new("Alice Agent <alice@example.com>", "Re: Printer jams", text);
    mail.to = reply_address(h, ticket, Participant::Agent(AgentId(alice)));
    h.pipe(&mail.build()).await
}

async fn an_agent_merges_by_mail_and_errors_come_back_to_them(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let ((a, a_number), (b, b_number)) = two_tickets(&h).await;
    for (command, why) in [
        ("#merge 999999".to_string(), "no ticket #999999".to_string()),
        (format!("#merge {a_number}"), format!("#{a_number} cannot be merged into itself")),
        (format!("#merge {b_number}\n#close"), "#merge must be the last command".to_string()),
    ] {
        let report = alice_writes(&h, a, &format!("{command}\nDuplicate.")).await;
        assert!(
            matches!(report.outcome, mailgate::ingest::Outcome::Added { held: true, .. }),
            "{}",
            report.trace
        );
        let told = h
            .strings("SELECT context FROM outbox WHERE template = $1 ORDER BY id DESC LIMIT 1", "held_notice")
            .await;
        assert!(told[0].contains(&why), "{why} in {}", told[0]);
    }
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets WHERE merged_into IS NOT NULL").await, 0);

    let report = alice_writes(
        &h,
        a,
        &format!("#merge #{b_number}\nThis is the same printer; we answer on #{b_number}."),
    )
    .await;
    assert_eq!(added(&report).0, b, "the mail's outcome names the target\n{}", report.trace);
    let system = h.strings("SELECT body_text FROM entries WHERE kind = $1 ORDER BY id", "system").await;
    assert!(system.contains(&format!("Merged into #{b_number} by agent alice")), "{system:?}");
    assert!(
        system.iter().any(|s| s
            .starts_with(&format!("#{a_number} \"Printer jams\" merged into this ticket by agent alice"))),
        "{system:?}"
    );
    let response = h.strings("SELECT CAST(ticket_id AS TEXT) FROM entries WHERE kind = $1", "response").await;
    assert_eq!(response, [b.0.to_string()], "the response moved with the rest");
    let relayed = h
        .strings("SELECT recipient FROM outbox WHERE template = $1 ORDER BY recipient", "response_relay")
        .await;
    assert_eq!(
        relayed,
        ["ann@acme.com", "boss@acme.com", "carl@acme.com"],
        "the source's people got the answer"
    );
}

async fn the_console_merges_and_redirects_and_manages_collaborators(backend: Backend) {
    let Some((h, mut client)) = agent_console(backend, "").await else { return };
    let ((_, a), (_, b)) = two_tickets(&h).await;
    let page = client.get(&format!("/agent/t/{a}")).await;
    assert!(page.body.contains(&format!("action=\"/agent/t/{a}/merge\"")), "{}", page.body);
    let refused =
        client.submit(&format!("/agent/t/{a}"), &format!("/agent/t/{a}/merge"), &format!("into={a}")).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("cannot be merged into itself"), "{}", refused.body);

    let merged = client
        .submit(&format!("/agent/t/{a}"), &format!("/agent/t/{a}/merge"), &format!("into=%23{b}"))
        .await;
    assert_eq!(merged.location(), format!("/agent/t/{a}?done=merge"));
    let pointer = client.get(merged.location()).await;
    assert_eq!((pointer.status, pointer.location()), (303, format!("/agent/t/{b}?done=merge").as_str()));
    let target = client.get(pointer.location()).await;
    assert!(target.body.contains("The ticket was merged into this one."), "{}", target.body);
    assert!(target.body.contains("jams on page 2"), "A's message is on B");
    assert!(target.body.contains("merged into this ticket by agent alice"), "{}", target.body);

    // Collaborators: added and removed from the reply form's side panel.
    let path = format!("/agent/t/{b}");
    let added =
        client.submit(&path, &format!("{path}/cc"), &format!("address={}", encode("sam@example.org"))).await;
    assert_eq!(added.location(), format!("{path}?done=cc"));
    let page = client.get(&path).await;
    assert!(page.body.contains("sam@example.org"), "{}", page.body);
    assert!(page.body.contains("aria-label=\"Remove sam@example.org\""));
    let removed =
        client.submit(&path, &format!("{path}/uncc"), &format!("address={}", encode("carl@acme.com"))).await;
    assert_eq!(removed.location(), format!("{path}?done=uncc"));
    let people = h
        .strings("SELECT u.email FROM participants p JOIN users u ON u.id = p.user_id ORDER BY u.email", "")
        .await;
    assert_eq!(people, ["ann@acme.com", "boss@acme.com", "sam@example.org"]);
    let bad = client.submit(&path, &format!("{path}/cc"), "address=not-an-address").await;
    assert_eq!(bad.status, 400);
    let system = h.strings("SELECT body_text FROM entries WHERE kind = $1 ORDER BY id", "system").await;
    assert!(system.contains(&"Collaborator sam@example.org added by agent alice".to_string()), "{system:?}");
    assert!(system.contains(&"Collaborator carl@acme.com removed by agent alice".to_string()), "{system:?}");
}

async fn the_sources_link_opens_the_target(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let ((a, a_number), (_, b_number)) = two_tickets(&h).await;
    let ann = user_id(&h, "ann@acme.com").await;
    h.workflows.console_change(&a_number.parse().unwrap(), merge(&b_number)).await.unwrap();
    let claims = Claims {
        purpose: Purpose::View,
        ticket: a,
        participant: Participant::User(UserId(ann)),
        expires_at_ms: T0 + 30 * DAY_MS,
        epoch: 0,
    };
    let link = format!("/t/{}", h.app.settings().keyring.link(&claims));
    let mut client = Client::new(serve(&h).await);
    let page = client.get(&link).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&format!("#{b_number}")), "the target's page");
    assert!(page.body.contains("jams on page 2") && page.body.contains("does not print at all"));
    assert!(page.body.contains(&format!("Request #{a_number} was merged into this one")), "{}", page.body);
}

async fn two_agents_merging_each_way_at_once_make_no_loop(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let ((_, a), (_, b)) = two_tickets(&h).await;
    let (one, other) = tokio::join!(change(&h, &a, merge(&b)), change(&h, &b, merge(&a)));
    let done = [one.is_ok(), other.is_ok()];
    assert_eq!(done.iter().filter(|ok| **ok).count(), 1, "exactly one wins: {one:?} {other:?}");
    let refused =
        if let Err(ConsoleError::Refused(why)) = one.and(other) { why } else { panic!("a refusal") };
    assert!(refused.contains("was merged into") || refused.contains("already merged"), "{refused}");
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets WHERE merged_into IS NOT NULL").await, 1);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets WHERE merged_into = id").await, 0);
}

async fn a_revoked_link_stays_revoked_after_the_merge(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let ((a, a_number), (b, b_number)) = two_tickets(&h).await;
    let ann = Participant::User(UserId(user_id(&h, "ann@acme.com").await));
    // Ann's links to A were renewed twice (a leaked link revoked); her links to B never were.
    for _ in 0..2 {
        assert!(h.write(move |tx| mailgate::store::links::bump_epoch(tx, a, ann)).await);
    }
    change(&h, &a_number, merge(&b_number)).await.unwrap();
    let epoch = h.read(move |tx| mailgate::store::links::current_epoch(tx, b, ann)).await;
    assert_eq!(epoch, Some(2), "the higher epoch wins");
    let mut old = Mail::new("ann@acme.com", "Re: Printer jams", "From the leaked link.");
    old.to = reply_address_at(&h, a, ann, 0);
    let report = h.pipe(&old.build()).await;
    assert!(report.trace.to_string().contains("revoked"), "{}", report.trace);
    let mut current = Mail::new("ann@acme.com", "Re: Printer jams", "From the current link.");
    current.to = reply_address_at(&h, a, ann, 2);
    let report = h.pipe(&current.build()).await;
    assert_eq!(added(&report).0, b, "{}", report.trace);
    assert!(report.trace.to_string().contains("verified"), "{}", report.trace);
}
