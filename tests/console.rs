//! The agent console over real HTTP with a real signed-in agent session, on both backends: queues
//! and their sort orders, the ticket page (notes included, customer text escaped), replies that
//! reach the customer through the outbox, changes recorded with the agent as actor, CSRF, the user
//! directory and organization pages.

mod common;

use common::http::{Client, agent_console, encode};
use common::{Backend, Mail, created};
use mailgate::workflow::ConsoleAction;

on_both_backends!(
    queues_show_the_right_tickets_in_order,
    the_ticket_page_replies_notes_and_changes,
    the_directory_and_organization_pages,
    search_finds_tickets_best_first,
);

/// The ticket numbers in a queue page, in order.
fn numbers(body: &str) -> Vec<String> {
    body.split("<td class=\"number\"><a href=\"/agent/t/")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_string())
        .collect()
}

async fn queues_show_the_right_tickets_in_order(backend: Backend) {
    let Some((h, mut client)) = agent_console(backend, "").await else { return };
    // acme.com is managed by alice (assigned), globex.com alerts team billing (unassigned).
    let (_, mine) = created(&h.pipe(&Mail::new("ann@acme.com", "Acme printer", "x").build()).await);
    h.clock.advance_ms(60_000);
    let (_, loose) = created(&h.pipe(&Mail::new("gus@globex.com", "Globex VPN", "x").build()).await);
    h.clock.advance_ms(60_000);
    let (_, urgent) = created(&h.pipe(&Mail::new("zoe@example.org", "Server down", "x").build()).await);
    h.workflows
        .console_change(
            &urgent.parse().unwrap(),
            ConsoleAction::Priority(mailgate::core::command::Priority::Urgent),
        )
        .await
        .unwrap();
    h.clock.advance_ms(60_000);
    let (_, team) = created(&h.pipe(&Mail::new("tom@example.org", "Invoice", "x").build()).await);
    h.workflows
        .console_change(&team.parse().unwrap(), ConsoleAction::Assign("billing".into()))
        .await
        .unwrap();
    h.clock.advance_ms(60_000);
    let (_, closed) = created(&h.pipe(&Mail::new("old@example.org", "Old", "x").build()).await);
    h.workflows
        .console_change(
            &closed.parse().unwrap(),
            ConsoleAction::Status(mailgate::core::ticket::Status::Closed),
        )
        .await
        .unwrap();

    let open = client.get("/agent?queue=open").await;
    assert_eq!(open.status, 200, "{}", open.body);
    assert_eq!(
        numbers(&open.body),
        [team.clone(), urgent.clone(), loose.clone(), mine.clone()],
        "newest first"
    );
    assert!(!open.body.contains(&format!("/agent/t/{closed}")), "closed tickets are in no open queue");
    let by_priority = client.get("/agent?queue=open&sort=priority").await;
    assert_eq!(numbers(&by_priority.body)[0], urgent, "urgent first");
    assert_eq!(numbers(&client.get("/agent?queue=mine").await.body), std::slice::from_ref(&mine));
    // bob is the only member of billing; alice is not.
    assert!(numbers(&client.get("/agent?queue=teams").await.body).is_empty());
    assert_eq!(numbers(&client.get("/agent?queue=unassigned").await.body), [urgent.clone(), loose.clone()]);
    assert!(open.body.contains("class=\"count\">4<"), "the open tab counts four");
    assert_eq!(
        numbers(&client.get("/agent?queue=closed").await.body),
        std::slice::from_ref(&closed),
        "resolved and closed"
    );
    let all = client.get("/agent?queue=all").await;
    assert_eq!(
        numbers(&all.body),
        [closed, team, urgent, loose, mine],
        "every ticket, newest activity first"
    );
    assert!(all.body.contains("All tickets <span class=\"count\">5<"), "{}", all.body);
}

async fn the_ticket_page_replies_notes_and_changes(backend: Backend) {
    let Some((h, mut client)) = agent_console(backend, "").await else { return };
    let (_, number) = created(
        &h.pipe(&Mail::new("Ann <ann@acme.com>", "<script>alert(1)</script>", "<b>hi</b>").build()).await,
    );
    let page = client.get(&format!("/agent/t/{number}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("&lt;script&gt;alert(1)") && !page.body.contains("<script>alert"), "escaped");
    assert!(page.body.contains("&lt;b&gt;hi"));
    let csrf = page.csrf();

    let path = format!("/agent/t/{number}/reply");
    let forged = client.post(&path, "text=Hello&csrf=wrong").await;
    assert_eq!(forged.status, 403);
    let relays = || h.strings("SELECT recipient FROM outbox WHERE template = $1", "response_relay");
    assert!(relays().await.is_empty(), "a forged POST sends nothing");
    let sent = client.post(&path, &format!("text={}&csrf={csrf}", encode("We are on it."))).await;
    assert_eq!(sent.location(), format!("/agent/t/{number}?done=reply"));
    assert_eq!(
        relays().await,
        ["ann@acme.com", "boss@acme.com"],
        "owner and org contact get the answer by mail"
    );

    let noted =
        client.post(&format!("/agent/t/{number}/note"), &format!("text=Internal+only&csrf={csrf}")).await;
    assert_eq!(noted.status, 303);
    let assigned = client.post(&format!("/agent/t/{number}/assign"), &format!("to=bob&csrf={csrf}")).await;
    assert_eq!(assigned.location(), format!("/agent/t/{number}?done=assign"));
    let status =
        client.post(&format!("/agent/t/{number}/status"), &format!("status=pending&csrf={csrf}")).await;
    assert_eq!(status.status, 303);
    let priority =
        client.post(&format!("/agent/t/{number}/priority"), &format!("priority=urgent&csrf={csrf}")).await;
    assert_eq!(priority.location(), format!("/agent/t/{number}?done=priority"));
    let unknown = client.post(&format!("/agent/t/{number}/delete"), &format!("csrf={csrf}")).await;
    assert_eq!(unknown.status, 404, "no such change");
    let bad =
        client.post(&format!("/agent/t/{number}/priority"), &format!("priority=asap&csrf={csrf}")).await;
    assert_eq!(bad.status, 400, "{}", bad.body);

    let page = client.get(&format!("/agent/t/{number}?done=assign")).await;
    assert!(page.body.contains("Internal only"), "notes show in the console");
    assert!(page.body.contains("We are on it."));
    let system = h.strings("SELECT body_text FROM entries WHERE kind = 'system' ORDER BY id", "").await;
    assert!(
        system.iter().any(|t| t.contains("alice") && t.contains("bob")),
        "the agent is the actor: {system:?}"
    );
    assert_eq!(h.strings("SELECT status FROM tickets", "").await, ["pending"]);
    assert_eq!(h.strings("SELECT priority FROM tickets", "").await, ["urgent"]);
    assert_eq!(client.get("/agent/t/999999").await.status, 404);
}

async fn the_directory_and_organization_pages(backend: Backend) {
    let Some((h, mut client)) = agent_console(backend, "").await else { return };
    h.pipe(&Mail::new("Ann Acme <ann@acme.com>", "Printer", "x").build()).await;
    h.pipe(&Mail::new("Zed <zed@example.org>", "Other", "x").build()).await;
    let found = client.get("/agent/users?q=acme").await;
    assert!(found.body.contains("ann@acme.com") && !found.body.contains("zed@example.org"), "{}", found.body);
    let by_email = client.get("/agent/users?sort=email").await;
    let (ann, zed) =
        (by_email.body.find("ann@acme.com").unwrap(), by_email.body.find("zed@example.org").unwrap());
    assert!(ann < zed);
    let id = h.scalar_i64("SELECT id FROM users WHERE email = 'ann@acme.com'").await;
    let record = client.get(&format!("/agent/users/{id}")).await;
    assert!(record.body.contains("ACME Corp") && record.body.contains("Printer"), "{}", record.body);
    let org = client.get("/agent/orgs/acme").await;
    assert_eq!(org.status, 200);
    for shown in ["acme.com", "boss@acme.com", "Alice Agent", "ann@acme.com", "Printer"] {
        assert!(org.body.contains(shown), "the org page shows {shown}: {}", org.body);
    }
    assert!(client.get("/agent/orgs").await.body.contains("Globex"));
    assert_eq!(Client::new(client.address).get("/agent/users").await.location(), "/agent/login");
}

/// The console's search: words in any ticket (closed ones too), a status filter, hostile input
/// shown escaped, nothing found said plainly.
async fn search_finds_tickets_best_first(backend: Backend) {
    let Some((h, mut client)) = agent_console(backend, "").await else { return };
    let (_, printer) =
        created(&h.pipe(&Mail::new("ann@acme.com", "Printer on fire", "The fuser smells.").build()).await);
    let (_, old) = created(&h.pipe(&Mail::new("old@example.org", "Old printer", "Gone.").build()).await);
    h.workflows
        .console_change(&old.parse().unwrap(), ConsoleAction::Status(mailgate::core::ticket::Status::Closed))
        .await
        .unwrap();

    let found = client.get("/agent/search?q=printer").await;
    assert_eq!(found.status, 200, "{}", found.body);
    let mut hits = numbers(&found.body);
    hits.sort();
    let mut both = vec![printer.clone(), old.clone()];
    both.sort();
    assert_eq!(hits, both, "closed tickets are found too");
    assert_eq!(numbers(&client.get("/agent/search?q=fuser").await.body), [printer]);
    assert_eq!(numbers(&client.get("/agent/search?q=printer&status=closed").await.body), [old]);
    let none = client.get(&format!("/agent/search?q={}", encode("<b>nothing\" OR x"))).await;
    assert_eq!(none.status, 200, "{}", none.body);
    assert!(none.body.contains("No ticket matches"), "{}", none.body);
    assert!(none.body.contains("&lt;b&gt;nothing") && !none.body.contains("<b>nothing"), "{}", none.body);
    let empty = client.get("/agent/search").await;
    assert_eq!(empty.status, 200);
    assert!(numbers(&empty.body).is_empty() && !empty.body.contains("No ticket matches"));
}
